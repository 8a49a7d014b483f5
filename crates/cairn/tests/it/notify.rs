//! Notification channels end to end: the SSRF guard at save and at send,
//! signed webhooks, mail at a real SMTP server (aiosmtpd), each chat kind's
//! shape at a real HTTP receiver, routing, retries on the manual clock,
//! healthchecks pings, secrets kept out of the database, Debug and answers.

use std::time::Duration;

use cairn_domain::{AlertKind, JobSpec, JobStatus, Severity};
use cairn_notify::{Route, Secrets, Settings, SmtpTls};
use cairn_server::auth::{Operator, Principal, Via};
use cairn_server::jobs::{Event, JobEvent};
use cairn_server::notice::{AlertNotice, NoticeSink, Transition};
use cairn_server::notifications::{ChannelUpdate, NewChannel};
use cairn_server::{ServiceError, ServiceResult};
use cairn_store::{AuditFilter, ChannelFields, Page, Role, ScheduleId, UserId};
use cairn_testkit::receivers::{Answer, HttpReceiver, SmtpReceiver};
use cairn_testkit::{TestServer, eventually};

const WAIT: Duration = Duration::from_secs(60);

/// Waits until `check` holds, polling (no fixed sleep).
async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        cairn_testkit::poll_pause().await;
    }
}

fn admin() -> Principal {
    Principal::local_cli()
}

fn viewer() -> Principal {
    Principal {
        user: Operator {
            id: UserId(0),
            username: "vera".into(),
            role: Role::Viewer,
        },
        via: Via::Cli,
        source: None,
    }
}

fn webhook(name: &str, url: &str) -> NewChannel {
    NewChannel {
        name: name.into(),
        enabled: true,
        settings: Settings::Webhook { url: url.into() },
        secrets: Secrets::default(),
        route: Route::default(),
    }
}

fn notice(kind: AlertKind, severity: Severity, transition: Transition) -> AlertNotice {
    AlertNotice {
        alert_id: 42,
        kind,
        severity,
        transition,
        subject: "host:1".into(),
        host: Some("web-1".into()),
        host_id: Some(1),
        message: "the backup of web-1 failed: <script>alert(1)</script>".into(),
        fired_at: 1_000,
        at: 1_000,
    }
}

async fn private_server() -> TestServer {
    TestServer::start_with(|c| c.allow_private_notification_targets = true).await
}

/// As [`private_server`], on a manual clock the test moves.
async fn manual_private_server() -> (TestServer, cairn_server::clock::ManualClock) {
    TestServer::start_manual(1_800_000_000_000, |c| {
        c.allow_private_notification_targets = true;
    })
    .await
}

fn invalid_reason(result: ServiceResult<impl std::fmt::Debug>) -> String {
    match result {
        Err(ServiceError::InvalidArgument { reason, .. }) => reason,
        other => panic!("expected an invalid argument, got {other:?}"),
    }
}

const REFUSED: &[(&str, &str)] = &[
    ("http://127.0.0.1/hook", "127.0.0.1 is a loopback address"),
    ("http://127.1/hook", "127.0.0.1 is a loopback address"),
    ("http://0x7f000001/hook", "127.0.0.1 is a loopback address"),
    ("http://2130706433/hook", "127.0.0.1 is a loopback address"),
    ("http://[::1]/hook", "::1 is a loopback address"),
    ("http://[::ffff:127.0.0.1]/hook", "is a loopback address"),
    (
        "http://169.254.169.254/latest",
        "169.254.169.254 is a cloud metadata address",
    ),
    ("http://10.0.0.1/hook", "10.0.0.1 is a private address"),
    (
        "http://100.64.0.1/hook",
        "100.64.0.1 is a carrier-grade NAT",
    ),
    ("http://localhost:9/hook", "localhost resolves to"),
];

#[tokio::test]
async fn notify_ssrf_every_spelling_is_refused_at_save_with_its_reason() {
    let server = TestServer::start().await;
    let api = &server.api.notifications;
    for (url, why) in REFUSED {
        let reason = invalid_reason(api.create(&admin(), webhook("hook", url)).await);
        assert!(reason.contains(why), "{url}: {reason}");
        assert!(
            reason.contains("allow_private_notification_targets"),
            "{reason}"
        );
    }
    assert!(
        api.list(&admin()).await.expect("list").is_empty(),
        "nothing stored"
    );
    // With private targets allowed, each is accepted.
    let open = private_server().await;
    for (i, (url, _)) in REFUSED.iter().enumerate() {
        open.api
            .notifications
            .create(&admin(), webhook(&format!("hook {i}"), url))
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
    }
}

#[tokio::test]
async fn notify_ssrf_is_checked_again_at_send_and_redirects_are_not_followed() {
    let server = TestServer::start().await;
    let store = server.store().await;
    // Channels saved before the policy changed (straight in the store).
    for (i, (url, why)) in REFUSED.iter().enumerate() {
        let settings = Settings::Webhook {
            url: url.to_string(),
        };
        let fields = ChannelFields {
            name: format!("old {i}"),
            kind: "webhook".into(),
            config: serde_json::to_string(&settings).expect("json"),
            route: serde_json::to_string(&Route::default()).expect("json"),
            enabled: true,
        };
        let channel = store
            .create_channel(fields, 0, |_| Ok(Vec::new()))
            .await
            .expect("stored");
        let outcome = server
            .api
            .notifications
            .test(&admin(), channel.id)
            .await
            .expect("tested");
        assert!(
            !outcome.ok && outcome.detail.contains(why),
            "{url}: {outcome:?}"
        );
        let view = server
            .api
            .notifications
            .get(&admin(), channel.id)
            .await
            .expect("get");
        assert_eq!(view.last_error.as_deref(), Some(outcome.detail.as_str()));
    }

    let open = private_server().await;
    let receiver = HttpReceiver::start().await;
    receiver.script([Answer::Redirect(receiver.url("/inner"))]);
    let channel = open
        .api
        .notifications
        .create(&admin(), webhook("hook", &receiver.url("/outer")))
        .await
        .expect("created");
    let outcome = open
        .api
        .notifications
        .test(&admin(), channel.id)
        .await
        .expect("tested");
    assert!(!outcome.ok, "{outcome:?}");
    assert!(
        outcome
            .detail
            .contains("answered 302 redirecting to http://127.0.0.1")
            && outcome.detail.contains("redirects are not followed"),
        "{}",
        outcome.detail
    );
    let paths: Vec<String> = receiver.received().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/outer"], "the redirect was not followed");
}

#[tokio::test]
async fn notify_webhook_arrives_signed_and_alerts_are_routed_by_kind_and_severity() {
    let server = private_server().await;
    let receiver = HttpReceiver::start().await;
    let api = &server.api.notifications;
    let mut signed = webhook("signed", &receiver.url("/jobs"));
    signed.secrets.signing_secret = Some("s3cret-signing-key".into());
    signed.secrets.headers = [(
        "Authorization".to_string(),
        "Bearer hook-token-xyz".to_string(),
    )]
    .into();
    signed.route = Route {
        kinds: vec![AlertKind::JobFailed],
        min_severity: Severity::Warning,
        send_resolved: false,
    };
    let signed = api.create(&admin(), signed).await.expect("created");
    let mut offline = webhook("offline", &receiver.url("/offline"));
    offline.route.kinds = vec![AlertKind::HostOffline];
    api.create(&admin(), offline).await.expect("created");

    let sink: &dyn NoticeSink = api;
    sink.alert_changed(notice(
        AlertKind::JobFailed,
        Severity::Info,
        Transition::Fired,
    ))
    .await;
    sink.alert_changed(notice(
        AlertKind::JobFailed,
        Severity::Critical,
        Transition::Fired,
    ))
    .await;
    sink.alert_changed(notice(
        AlertKind::JobFailed,
        Severity::Critical,
        Transition::Resolved,
    ))
    .await;
    eventually(WAIT, "the critical job failure arrives", || {
        !receiver.received().is_empty()
    })
    .await;
    let deliveries = api
        .deliveries(&admin(), None, 50)
        .await
        .expect("deliveries");
    assert_eq!(
        deliveries.len(),
        1,
        "only the routed notice was queued: {deliveries:?}"
    );
    assert_eq!(deliveries[0].delivery.channel_id, signed.id);

    let got = &receiver.received()[0];
    assert_eq!((got.method.as_str(), got.path.as_str()), ("POST", "/jobs"));
    assert_eq!(got.header("authorization"), Some("Bearer hook-token-xyz"));
    let ts: i64 = got
        .header("x-cairn-timestamp")
        .expect("timestamp")
        .parse()
        .expect("a number");
    let sig = got.header("x-cairn-signature").expect("signature");
    assert!(
        cairn_notify::sign::verify(b"s3cret-signing-key", ts, &got.body, sig),
        "{sig}"
    );
    assert!(!cairn_notify::sign::verify(b"wrong", ts, &got.body, sig));
    let body = got.json();
    assert_eq!(body["version"], 1);
    assert_eq!(body["event"], "alert.fired");
    assert_eq!(body["kind"], "job_failed");
    assert_eq!(body["severity"], "critical");
    assert_eq!(body["alert_id"], 42);
    until("the delivery is marked delivered", || async {
        api.deliveries(&admin(), None, 5)
            .await
            .is_ok_and(|d| d[0].delivery.state == "delivered" && d[0].attempts.len() == 1)
    })
    .await;
    let view = api.get(&admin(), signed.id).await.expect("get");
    assert!(
        view.last_sent_at.is_some() && view.last_error.is_none(),
        "{view:?}"
    );
}

#[tokio::test]
async fn notify_email_arrives_at_a_real_smtp_server() {
    let server = private_server().await;
    let smtp = SmtpReceiver::start().await;
    let api = &server.api.notifications;
    let channel = NewChannel {
        name: "ops mail".into(),
        enabled: true,
        settings: Settings::Smtp {
            host: "127.0.0.1".into(),
            port: smtp.port,
            tls: SmtpTls::None,
            username: String::new(),
            from: "Cairn <cairn@example.com>".into(),
            to: vec!["ops@example.com".into(), "oncall@example.com".into()],
        },
        secrets: Secrets::default(),
        route: Route::default(),
    };
    let channel = api.create(&admin(), channel).await.expect("created");
    let outcome = api.test(&admin(), channel.id).await.expect("tested");
    assert!(outcome.ok, "{outcome:?}");
    api.route(notice(
        AlertKind::JobFailed,
        Severity::Critical,
        Transition::Fired,
    ))
    .await
    .expect("routed");
    eventually(WAIT, "two mails arrive", || smtp.messages().len() >= 2).await;
    let mails = smtp.messages().join("\n----\n");
    assert!(
        mails.contains("Subject: [TEST] Cairn: notification on test"),
        "{mails}"
    );
    assert!(
        mails.contains("Subject: [CRITICAL] Cairn: job_failed on web-1"),
        "{mails}"
    );
    assert!(
        mails.contains("ops@example.com") && mails.contains("oncall@example.com"),
        "{mails}"
    );
}

#[tokio::test]
async fn notify_chat_kinds_arrive_in_their_shapes() {
    let server = private_server().await;
    let receiver = HttpReceiver::start().await;
    let api = &server.api.notifications;
    let kinds = [
        (
            "ntfy",
            Settings::Ntfy {
                server_url: receiver.url("/ntfy"),
                topic: "backups".into(),
                priority: 4,
            },
            Secrets {
                token: Some("tk_ntfy".into()),
                ..Secrets::default()
            },
        ),
        (
            "gotify",
            Settings::Gotify {
                server_url: receiver.url("/gotify"),
                priority: 8,
            },
            Secrets {
                token: Some("gotify-app".into()),
                ..Secrets::default()
            },
        ),
        (
            "slack",
            Settings::Slack {},
            Secrets {
                webhook_url: Some(receiver.url("/slack/T0/B0/xyz")),
                ..Secrets::default()
            },
        ),
        (
            "discord",
            Settings::Discord {},
            Secrets {
                webhook_url: Some(receiver.url("/discord/1/abc")),
                ..Secrets::default()
            },
        ),
    ];
    for (name, settings, secrets) in kinds {
        let channel = NewChannel {
            name: name.into(),
            enabled: true,
            settings,
            secrets,
            route: Route::default(),
        };
        api.create(&admin(), channel).await.expect(name);
    }
    api.route(notice(
        AlertKind::HostOffline,
        Severity::Warning,
        Transition::Fired,
    ))
    .await
    .expect("routed");
    eventually(WAIT, "four posts arrive", || receiver.received().len() >= 4).await;
    let by_path = |prefix: &str| {
        receiver
            .received()
            .into_iter()
            .find(|r| r.path.starts_with(prefix))
            .unwrap_or_else(|| panic!("nothing at {prefix}"))
    };
    let ntfy = by_path("/ntfy");
    assert_eq!(ntfy.header("authorization"), Some("Bearer tk_ntfy"));
    assert_eq!(ntfy.json()["topic"], "backups");
    assert_eq!(ntfy.json()["priority"], 4);
    let gotify = by_path("/gotify");
    assert_eq!(gotify.path, "/gotify/message");
    assert_eq!(gotify.header("x-gotify-key"), Some("gotify-app"));
    assert_eq!(gotify.json()["priority"], 8);
    assert!(
        by_path("/slack").json()["text"]
            .as_str()
            .is_some_and(|t| t.contains("host_offline"))
    );
    let discord = by_path("/discord").json();
    assert_eq!(
        discord["embeds"][0]["title"],
        "[WARNING] Cairn: host_offline on web-1"
    );
}

#[tokio::test]
async fn notify_retries_back_off_on_the_clock_and_every_attempt_is_recorded() {
    let (server, hand) = manual_private_server().await;
    let receiver = HttpReceiver::start().await;
    receiver.script([Answer::Status(500), Answer::Status(503)]);
    let api = &server.api.notifications;
    let channel = api
        .create(&admin(), webhook("flaky", &receiver.url("/hook")))
        .await
        .expect("created");
    api.route(notice(
        AlertKind::JobFailed,
        Severity::Critical,
        Transition::Fired,
    ))
    .await
    .expect("routed");
    let attempts = |n: usize| {
        let api = api.clone();
        move || {
            let api = api.clone();
            async move {
                api.deliveries(&admin(), None, 5)
                    .await
                    .is_ok_and(|d| d.first().is_some_and(|d| d.attempts.len() >= n))
            }
        }
    };
    until("the first attempt", attempts(1)).await;
    assert_eq!(receiver.received().len(), 1);
    // Not before its time: 29 s later nothing more is tried.
    hand.advance(Duration::from_secs(29));
    hand.advance(Duration::from_secs(1));
    until("the second attempt, 30 s later", attempts(2)).await;
    hand.advance(Duration::from_secs(59));
    let d = api.deliveries(&admin(), None, 5).await.expect("deliveries");
    assert_eq!(d[0].attempts.len(), 2, "the third waits 60 s");
    hand.advance(Duration::from_secs(1));
    until("the third attempt, 60 s after the second", attempts(3)).await;
    let d = api.deliveries(&admin(), None, 5).await.expect("deliveries");
    let d = &d[0];
    assert_eq!(d.delivery.state, "delivered");
    assert_eq!(d.delivery.attempts, 3);
    let oks: Vec<bool> = d.attempts.iter().map(|a| a.ok).collect();
    assert_eq!(oks, [false, false, true]);
    assert!(
        d.attempts[0].detail.contains("answered 500"),
        "{:?}",
        d.attempts[0]
    );
    assert!(
        d.attempts[1].detail.contains("answered 503"),
        "{:?}",
        d.attempts[1]
    );
    assert_eq!(receiver.received().len(), 3);
    let view = api.get(&admin(), channel.id).await.expect("get");
    assert!(view.last_error.is_none() && view.last_sent_at.is_some());
}

#[tokio::test]
async fn notify_secrets_stay_sealed_redacted_and_unreturned() {
    let server = private_server().await;
    let api = &server.api.notifications;
    let mut new = webhook("secretive", "http://127.0.0.1:9/hook");
    new.secrets.signing_secret = Some("hunter2-signing".into());
    new.secrets.headers = [("X-Token".to_string(), "hunter2-header".to_string())].into();
    assert!(!format!("{new:?}").contains("hunter2"));
    let made = api.create(&admin(), new).await.expect("created");
    let slack = NewChannel {
        name: "chat".into(),
        enabled: true,
        settings: Settings::Slack {},
        secrets: Secrets {
            webhook_url: Some("http://127.0.0.1:9/services/hunter2-slack".into()),
            ..Secrets::default()
        },
        route: Route::default(),
    };
    api.create(&admin(), slack).await.expect("created");
    let listed = format!("{:?}", api.list(&admin()).await.expect("list"));
    assert!(!listed.contains("hunter2"), "{listed}");
    assert!(
        listed.contains("X-Token") && listed.contains("has_signing_secret: true"),
        "{listed}"
    );
    // An update that leaves the secret empty keeps it.
    let update = ChannelUpdate {
        name: Some("renamed".into()),
        ..ChannelUpdate::default()
    };
    let view = api
        .update(&admin(), made.id, update)
        .await
        .expect("updated");
    assert!(view.secrets.has_signing_secret);
    let db = std::fs::read(server.data_dir().join("cairn.db")).expect("db");
    let wal = std::fs::read(server.data_dir().join("cairn.db-wal")).unwrap_or_default();
    for file in [&db, &wal] {
        let text = String::from_utf8_lossy(file);
        assert!(
            !text.contains("hunter2"),
            "a secret is in the database in plain text"
        );
    }
}

#[tokio::test]
async fn notify_bad_input_is_refused_clearly_and_nothing_is_stored() {
    let server = private_server().await;
    let api = &server.api.notifications;
    let reason = invalid_reason(api.create(&admin(), webhook("bad", "not a url")).await);
    assert!(reason.contains("not a usable URL"), "{reason}");
    let reason = invalid_reason(
        api.create(&admin(), webhook("bad", "ftp://example.com/"))
            .await,
    );
    assert!(reason.contains("not http or https"), "{reason}");
    let mail = NewChannel {
        name: "mail".into(),
        enabled: true,
        settings: Settings::Smtp {
            host: "127.0.0.1".into(),
            port: 25,
            tls: SmtpTls::Starttls,
            username: String::new(),
            from: "cairn@example.com".into(),
            to: Vec::new(),
        },
        secrets: Secrets::default(),
        route: Route::default(),
    };
    let reason = invalid_reason(api.create(&admin(), mail).await);
    assert!(reason.contains("at least one recipient"), "{reason}");
    assert!(api.list(&admin()).await.expect("list").is_empty());
    let made = api
        .create(&admin(), webhook("good", "http://127.0.0.1:9/"))
        .await
        .expect("created");
    let change_kind = ChannelUpdate {
        settings: Some(Settings::Discord {}),
        ..ChannelUpdate::default()
    };
    let reason = invalid_reason(api.update(&admin(), made.id, change_kind).await);
    assert!(reason.contains("kind cannot change"), "{reason}");
    let still = api.get(&admin(), made.id).await.expect("get");
    assert_eq!(
        still.settings,
        Settings::Webhook {
            url: "http://127.0.0.1:9/".into()
        }
    );
}

#[tokio::test]
async fn notify_roles_are_enforced_and_each_change_is_audited_once() {
    let server = private_server().await;
    let receiver = HttpReceiver::start().await;
    let api = &server.api.notifications;
    assert!(matches!(
        api.create(&viewer(), webhook("x", &receiver.url("/")))
            .await,
        Err(ServiceError::PermissionDenied { .. })
    ));
    assert!(matches!(api.list(&viewer()).await, Ok(list) if list.is_empty()));
    let made = api
        .create(&admin(), webhook("x", &receiver.url("/")))
        .await
        .expect("created");
    assert!(matches!(
        api.test(&viewer(), made.id).await,
        Err(ServiceError::PermissionDenied { .. })
    ));
    api.update(
        &admin(),
        made.id,
        ChannelUpdate {
            enabled: Some(false),
            ..ChannelUpdate::default()
        },
    )
    .await
    .expect("updated");
    assert!(
        api.test(&admin(), made.id).await.expect("tested").ok,
        "a test sends even when off"
    );
    api.delete(&admin(), made.id).await.expect("deleted");
    let store = server.store().await;
    let filter = AuditFilter {
        action_prefix: Some("channel.".into()),
        outcome: None,

        ..AuditFilter::default()
    };
    let rows = store
        .list_audit(filter, Page::first(100))
        .await
        .expect("audit");
    let mut actions: Vec<(String, String)> = rows
        .items
        .iter()
        .map(|r| (r.entry.action.clone(), r.entry.outcome.as_str().to_string()))
        .collect();
    actions.sort();
    assert_eq!(
        actions,
        [
            ("channel.create", "denied"),
            ("channel.create", "success"),
            ("channel.delete", "success"),
            ("channel.test", "denied"),
            ("channel.test", "success"),
            ("channel.update", "success"),
        ]
        .map(|(a, o)| (a.to_string(), o.to_string()))
    );
}

#[tokio::test]
async fn notify_healthchecks_pings_start_success_and_fail_per_schedule() {
    let server = private_server().await;
    let receiver = HttpReceiver::start().await;
    let api = &server.api.notifications;
    let channel = NewChannel {
        name: "hc".into(),
        enabled: true,
        settings: Settings::Healthchecks { ping_start: true },
        secrets: Secrets {
            ping_urls: [(7, receiver.url("/ping/uuid-7"))].into(),
            ..Secrets::default()
        },
        route: Route::default(),
    };
    api.create(&admin(), channel).await.expect("created");
    let host = server.stored_host("web-1").await;
    let id = server
        .stored_job(host, JobSpec::Backup(Default::default()))
        .await;
    let mut job = server.store().await.job(id).await.expect("job");
    job.schedule = Some((ScheduleId(7), 0));
    for status in [JobStatus::Succeeded, JobStatus::Failed] {
        job.status = status;
        let event = JobEvent {
            job: job.id,
            at: 0,
            event: Event::Finished(job.clone()),
        };
        assert_eq!(api.job_changed(&event).await.expect("queued"), 1);
    }
    // A job of no schedule with a ping URL pings nothing.
    job.schedule = Some((ScheduleId(8), 0));
    let event = JobEvent {
        job: job.id,
        at: 0,
        event: Event::Finished(job.clone()),
    };
    assert_eq!(api.job_changed(&event).await.expect("nothing"), 0);
    eventually(WAIT, "two pings", || receiver.received().len() >= 2).await;
    let mut paths: Vec<String> = receiver.received().into_iter().map(|r| r.path).collect();
    paths.sort();
    assert_eq!(paths, ["/ping/uuid-7", "/ping/uuid-7/fail"]);
    let body = String::from_utf8_lossy(&receiver.received()[0].body).to_string();
    assert!(body.contains("web-1"), "{body}");
}

#[tokio::test]
async fn notify_a_channel_moved_elsewhere_keeps_no_secret_unless_given_again() {
    let server = private_server().await;
    let receiver = HttpReceiver::start().await;
    let api = &server.api.notifications;
    let mut hook = webhook("moving", &receiver.url("/old"));
    hook.secrets.signing_secret = Some("moving-signing-key".into());
    hook.secrets.headers = [("Authorization".to_string(), "Bearer keep-me".to_string())].into();
    let made = api.create(&admin(), hook).await.expect("created");

    // Renamed only: the secrets stay.
    let renamed = ChannelUpdate {
        name: Some("renamed".into()),
        ..ChannelUpdate::default()
    };
    let view = api
        .update(&admin(), made.id, renamed)
        .await
        .expect("renamed");
    assert!(view.secrets.has_signing_secret, "{view:?}");
    assert_eq!(view.secrets.header_names, ["Authorization"]);

    // Pointed at another URL: nothing stored goes along.
    let moved = ChannelUpdate {
        settings: Some(Settings::Webhook {
            url: receiver.url("/new"),
        }),
        ..ChannelUpdate::default()
    };
    let view = api.update(&admin(), made.id, moved).await.expect("moved");
    assert!(!view.secrets.has_signing_secret, "{view:?}");
    assert!(view.secrets.header_names.is_empty(), "{view:?}");
    let outcome = api.test(&admin(), made.id).await.expect("tested");
    assert!(outcome.ok, "{outcome:?}");
    let got = receiver.received();
    let sent = got.last().expect("a request");
    assert_eq!(sent.path, "/new");
    assert_eq!(
        sent.header("authorization"),
        None,
        "the token stayed behind"
    );
    assert_eq!(sent.header("x-cairn-signature"), None);

    let rows = server
        .store()
        .await
        .list_audit(
            AuditFilter {
                action_prefix: Some("channel.update".into()),
                ..AuditFilter::default()
            },
            Page::first(10),
        )
        .await
        .expect("audit");
    let detail = rows.items[0].entry.detail.clone().unwrap_or_default();
    assert!(detail.contains("destination"), "{detail}");
}

/// A private CA and a certificate it issued for 127.0.0.1, written to `dir`:
/// (the CA's PEM, the certificate's path, its key's path).
fn smtp_certificate(dir: &std::path::Path) -> (Vec<u8>, std::path::PathBuf, std::path::PathBuf) {
    let ca_key = rcgen::KeyPair::generate().expect("ca key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Test mail CA");
    let ca_cert = ca_params.self_signed(&ca_key).expect("ca cert");
    let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
    let leaf_key = rcgen::KeyPair::generate().expect("leaf key");
    let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .expect("leaf params")
        .signed_by(&leaf_key, &issuer)
        .expect("leaf cert");
    let (cert, key) = (dir.join("mail.pem"), dir.join("mail.key"));
    std::fs::write(&cert, leaf.pem()).expect("write cert");
    std::fs::write(&key, leaf_key.serialize_pem()).expect("write key");
    (ca_cert.pem().into_bytes(), cert, key)
}

#[tokio::test]
async fn notify_email_goes_over_starttls_and_implicit_tls_to_a_real_smtp_server() {
    use cairn_testkit::receivers::SmtpTlsMode;
    let dir = tempfile::tempdir().expect("dir");
    let (ca, cert, key) = smtp_certificate(dir.path());
    let notice = cairn_notify::Outgoing::Notice(cairn_notify::Notice {
        event: "alert.fired".into(),
        alert_id: Some(7),
        kind: Some("job_failed".into()),
        severity: Severity::Critical,
        subject: "host:1".into(),
        host: Some("web-1".into()),
        message: "the backup of web-1 failed".into(),
        fired_at: Some(1_000),
        at: 1_000,
        link: None,
    });
    let modes = [
        (
            SmtpTls::Starttls,
            SmtpTlsMode::StartTls {
                cert: cert.clone(),
                key: key.clone(),
            },
        ),
        (SmtpTls::Implicit, SmtpTlsMode::Implicit { cert, key }),
    ];
    for (tls, mode) in modes {
        let smtp = SmtpReceiver::start_with(mode).await;
        let settings = Settings::Smtp {
            host: "127.0.0.1".into(),
            port: smtp.port,
            tls,
            username: String::new(),
            from: "Cairn <cairn@example.com>".into(),
            to: vec!["ops@example.com".into()],
        };
        // Without the private CA, the relay's certificate is not trusted.
        let untrusting = cairn_notify::Sender {
            policy: cairn_notify::Policy {
                allow_private: true,
            },
            smtp_roots: Vec::new(),
        };
        let refused = untrusting
            .send(&settings, &Secrets::default(), &notice, 1)
            .await;
        assert!(refused.is_err(), "{tls:?}: an unknown CA is refused");
        let trusting = cairn_notify::Sender {
            policy: cairn_notify::Policy {
                allow_private: true,
            },
            smtp_roots: vec![ca.clone()],
        };
        trusting
            .send(&settings, &Secrets::default(), &notice, 1)
            .await
            .unwrap_or_else(|e| panic!("{tls:?}: {e}"));
        eventually(WAIT, "the mail arrives over TLS", || {
            !smtp.messages().is_empty()
        })
        .await;
        assert!(
            smtp.messages()[0].contains("Subject: [CRITICAL] Cairn: job_failed on web-1"),
            "{tls:?}"
        );
    }
}

#[tokio::test]
async fn notify_ended_deliveries_and_their_attempts_go_with_the_job_log_retention() {
    let (server, hand) = manual_private_server().await;
    let receiver = HttpReceiver::start().await;
    let api = &server.api.notifications;
    let channel = api
        .create(&admin(), webhook("kept a while", &receiver.url("/hook")))
        .await
        .expect("created");
    api.test(&admin(), channel.id).await.expect("tested");
    api.route(notice(
        AlertKind::JobFailed,
        Severity::Critical,
        Transition::Fired,
    ))
    .await
    .expect("routed");
    until("the delivery is made", || async {
        api.deliveries(&admin(), None, 5)
            .await
            .is_ok_and(|d| d.first().is_some_and(|d| d.delivery.state == "delivered"))
    })
    .await;
    // Within the retention (30 days by default) nothing goes.
    hand.advance(Duration::from_secs(29 * 86_400));
    assert_eq!(
        server.api.admin.sweep_notifications().await.expect("sweep"),
        0
    );
    hand.advance(Duration::from_secs(2 * 86_400));
    let gone = server.api.admin.sweep_notifications().await.expect("sweep");
    assert_eq!(gone, 3, "the delivery, its attempt and the test's attempt");
    let left = api.deliveries(&admin(), None, 5).await.expect("deliveries");
    assert!(left.is_empty(), "{left:?}");
    let view = api
        .get(&admin(), channel.id)
        .await
        .expect("the channel stays");
    assert!(view.last_sent_at.is_some());
}
