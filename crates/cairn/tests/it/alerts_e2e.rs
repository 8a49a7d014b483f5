//! Being told, end to end, with nothing faked: a real agent runs a real
//! restic backup that fails, the alert engine fires, and the mail arrives at
//! a real SMTP server (aiosmtpd) while the webhook arrives at a real HTTP
//! receiver with a valid signature. The backup is fixed, and the alert
//! resolves and says so through both channels. And real backups, usual
//! ones then a ransomware-like burst of changed files, raise an anomaly
//! only for the burst.

use std::time::Duration;

use cairn_domain::{AlertKind, AlertState};
use cairn_notify::{Route, Secrets, Settings, SmtpTls};
use cairn_proto::v1 as pb;
use cairn_server::auth::Principal;
use cairn_server::notifications::NewChannel;
use cairn_store::{AlertFilter, Page};
use cairn_testkit::eventually;
use cairn_testkit::fleet::Fleet;
use cairn_testkit::receivers::{HttpReceiver, Received, SmtpReceiver};

const WAIT: Duration = Duration::from_secs(120);
const SIGNING_KEY: &str = "e2e-signing-key";

fn init() -> pb::run_maintenance_request::Spec {
    pb::run_maintenance_request::Spec::Init(pb::InitSpec::default())
}

/// A server that may send to the loopback receivers, with one approved agent.
async fn fleet() -> Fleet {
    Fleet::start_with(|c| c.allow_private_notification_targets = true).await
}

/// The fleet's alerts of `kind`, in any state.
async fn alerts_of(fleet: &Fleet, kind: AlertKind) -> Vec<cairn_store::Alert> {
    let filter = AlertFilter {
        kind: Some(kind),
        ..AlertFilter::default()
    };
    fleet
        .server
        .api
        .alerts
        .list(&Principal::local_cli(), filter, Page::first(50))
        .await
        .expect("alerts")
        .items
}

/// The webhook deliveries whose body says `event`, each signature checked.
fn signed_events(receiver: &HttpReceiver, event: &str) -> Vec<serde_json::Value> {
    receiver
        .received()
        .iter()
        .filter(|r| r.path == "/hook")
        .map(|r: &Received| {
            let ts: i64 = r
                .header("x-cairn-timestamp")
                .expect("a timestamp header")
                .parse()
                .expect("a number");
            let sig = r.header("x-cairn-signature").expect("a signature header");
            assert!(
                cairn_notify::sign::verify(SIGNING_KEY.as_bytes(), ts, &r.body, sig),
                "the webhook's signature verifies: {sig}"
            );
            r.json()
        })
        .filter(|body| body["event"] == event)
        .collect()
}

#[tokio::test]
async fn a_failing_backup_mails_and_signs_a_webhook_and_its_fix_resolves_through_both() {
    let mut fleet = fleet().await;
    let smtp = SmtpReceiver::start().await;
    let receiver = HttpReceiver::start().await;
    let admin = Principal::local_cli();
    let channels = &fleet.server.api.notifications;
    // Every kind, every severity, resolutions too.
    let every_kind = Route::default();
    let mail = NewChannel {
        name: "ops mail".into(),
        enabled: true,
        settings: Settings::Smtp {
            host: "127.0.0.1".into(),
            port: smtp.port,
            tls: SmtpTls::None,
            username: String::new(),
            from: "Cairn <cairn@example.com>".into(),
            to: vec!["ops@example.com".into()],
        },
        secrets: Secrets::default(),
        route: every_kind.clone(),
    };
    channels.create(&admin, mail).await.expect("mail channel");
    let hook = NewChannel {
        name: "ops hook".into(),
        enabled: true,
        settings: Settings::Webhook {
            url: receiver.url("/hook"),
        },
        secrets: Secrets {
            signing_secret: Some(SIGNING_KEY.into()),
            ..Secrets::default()
        },
        route: every_kind,
    };
    channels
        .create(&admin, hook)
        .await
        .expect("webhook channel");

    // A repository, and a backup of a directory that is not there yet.
    let dir = tempfile::tempdir().expect("dir");
    let repo = fleet
        .repository(&dir.path().join("repo").display().to_string(), "pw-e2e")
        .await;
    assert_eq!(
        fleet.maintenance(repo, init()).await.status,
        pb::JobStatus::Succeeded as i32
    );
    let source = dir.path().join("source");
    let paths = vec![source.display().to_string()];
    let job = fleet.backup(repo, paths.clone()).await.expect("submit");
    let failed = fleet.finish(job.id).await;
    assert_eq!(failed.status, pb::JobStatus::Failed as i32, "{failed:?}");

    eventually(WAIT, "the failure's mail and webhook arrive", || {
        !signed_events(&receiver, "alert.fired").is_empty()
            && smtp
                .messages()
                .iter()
                .any(|m| m.contains("Subject: [CRITICAL] Cairn: job_failed"))
    })
    .await;
    let alerts = alerts_of(&fleet, AlertKind::JobFailed).await;
    assert_eq!(alerts.len(), 1, "one alert for one failure: {alerts:?}");
    assert_eq!(alerts[0].state, AlertState::Firing);
    let fired = &signed_events(&receiver, "alert.fired")[0];
    assert_eq!(fired["kind"], "job_failed");
    assert_eq!(fired["alert_id"], alerts[0].id);

    // Fixed: the directory exists, the next backup succeeds.
    std::fs::create_dir_all(&source).expect("source");
    std::fs::write(source.join("a.txt"), "now there is something").expect("file");
    let job = fleet.backup(repo, paths).await.expect("submit");
    let done = fleet.finish(job.id).await;
    assert_eq!(done.status, pb::JobStatus::Succeeded as i32, "{done:?}");

    eventually(WAIT, "the resolution's mail and webhook arrive", || {
        !signed_events(&receiver, "alert.resolved").is_empty()
            && smtp.messages().iter().any(|m| m.contains("RESOLVED"))
    })
    .await;
    let alerts = alerts_of(&fleet, AlertKind::JobFailed).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].state, AlertState::Resolved);
    assert_eq!(
        signed_events(&receiver, "alert.fired").len(),
        1,
        "the failure was told once"
    );
    fleet.agent.stop().await.expect("stop");
}

/// Writes `count` files into `dir`, each saying `round` (so a rewrite is a
/// change restic sees: new content, new size, new mtime).
fn write_files(dir: &std::path::Path, prefix: &str, count: usize, round: usize) {
    std::fs::create_dir_all(dir).expect("dir");
    for i in 0..count {
        let body = format!("round {round} of file {i}{}", "!".repeat(round));
        std::fs::write(dir.join(format!("{prefix}-{i}.txt")), body).expect("file");
    }
}

#[tokio::test]
async fn real_backups_changing_fifty_times_the_usual_files_raise_an_anomaly_and_usual_ones_do_not()
{
    let mut fleet = fleet().await;
    let dir = tempfile::tempdir().expect("dir");
    let repo = fleet
        .repository(&dir.path().join("repo").display().to_string(), "pw-e2e")
        .await;
    assert_eq!(
        fleet.maintenance(repo, init()).await.status,
        pb::JobStatus::Succeeded as i32
    );
    let source = dir.path().join("source");
    let paths = vec![source.display().to_string()];
    // Usual: the same 12 files change every run (the first run adds them).
    for round in 0..6 {
        write_files(&source, "usual", 12, round);
        let job = fleet.backup(repo, paths.clone()).await.expect("submit");
        let done = fleet.finish(job.id).await;
        assert_eq!(done.status, pb::JobStatus::Succeeded as i32, "{done:?}");
    }
    // Every job's end starts a sweep; one more, to be sure the last ran.
    fleet.server.api.alerts.evaluate().await.expect("sweep");
    assert!(
        alerts_of(&fleet, AlertKind::Anomaly).await.is_empty(),
        "usual runs raise nothing"
    );

    // A burst, ransomware-like: 50 times the usual changed files.
    write_files(&source, "burst", 12 * 50, 0);
    let job = fleet.backup(repo, paths).await.expect("submit");
    let done = fleet.finish(job.id).await;
    assert_eq!(done.status, pb::JobStatus::Succeeded as i32, "{done:?}");
    fleet.server.api.alerts.evaluate().await.expect("sweep");
    let found = alerts_of(&fleet, AlertKind::Anomaly).await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].state, AlertState::Firing);
    assert!(found[0].message.contains("files"), "{}", found[0].message);
    fleet.agent.stop().await.expect("stop");
}
