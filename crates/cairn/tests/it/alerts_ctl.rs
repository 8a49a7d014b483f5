//! `cairn ctl alerts` against a real server: the inbox, acknowledging, the
//! rules and windows, each mutation audited once, viewers refused.

use cairn_server::auth::Principal;
use cairn_store::{AuditFilter, Outcome, Page, Role, Scope};
use cairn_testkit::TestServer;

use crate::alerts::{NOON, host, recorded, set};
use crate::cli::cairn;

fn ctl(server: &TestServer, token: &str, args: &[&str]) -> std::process::Output {
    cairn()
        .args(["ctl", "--server", &server.url])
        .args(args)
        .env("CAIRN_TOKEN", token)
        .output()
        .expect("run cairn")
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

async fn audited(server: &TestServer, action: &str) -> usize {
    let filter = AuditFilter {
        action_prefix: Some(action.into()),
        outcome: Some(Outcome::Success),

        ..AuditFilter::default()
    };
    let page = server
        .store()
        .await
        .list_audit(filter, Page::first(100))
        .await
        .expect("audit");
    page.items
        .iter()
        .filter(|r| r.entry.action == action)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctl_lists_acknowledges_and_tunes_alerts_and_a_viewer_cannot_change_them() {
    let (server, hand, _notices) = recorded().await;
    let admin = server.token_for("ops", Role::Admin, Scope::Admin).await;
    let viewer = server.token_for("viv", Role::Viewer, Scope::Read).await;
    let h = host(&server, "ops1", NOON).await;
    set(&server, &hand, NOON + 120_000);
    server.api.alerts.evaluate().await.expect("sweep");

    let list = ctl(&server, &viewer, &["alerts", "list"]);
    assert!(list.status.success(), "{}", text(&list));
    assert!(
        text(&list).contains("host_offline") && text(&list).contains("ops1"),
        "{}",
        text(&list)
    );
    let id = server
        .api
        .alerts
        .list(&Principal::local_cli(), Default::default(), Page::first(1))
        .await
        .expect("list")
        .items[0]
        .id
        .to_string();

    let denied = ctl(&server, &viewer, &["alerts", "ack", &id]);
    assert!(!denied.status.success());
    assert!(
        text(&denied).contains("permission denied"),
        "{}",
        text(&denied)
    );

    let ack = ctl(
        &server,
        &admin,
        &["alerts", "ack", &id, "--note", "rebooting it"],
    );
    assert!(ack.status.success(), "{}", text(&ack));
    let show = ctl(&server, &admin, &["alerts", "show", &id]);
    assert!(
        text(&show).contains("acknowledged") && text(&show).contains("rebooting it"),
        "{}",
        text(&show)
    );
    assert_eq!(audited(&server, "alert.acknowledge").await, 1);
    let unack = ctl(&server, &admin, &["alerts", "unack", &id]);
    assert!(unack.status.success(), "{}", text(&unack));
    assert_eq!(audited(&server, "alert.unacknowledge").await, 1);

    let bad = ctl(
        &server,
        &admin,
        &["alerts", "rule-set", "anomaly", "--threshold", "0.5"],
    );
    assert!(!bad.status.success());
    assert!(text(&bad).contains("threshold"), "{}", text(&bad));
    let unknown = ctl(&server, &admin, &["alerts", "ack", "424242"]);
    assert!(text(&unknown).contains("not found"), "{}", text(&unknown));
    let set_rule = ctl(
        &server,
        &admin,
        &[
            "alerts",
            "rule-set",
            "host_offline",
            "--threshold",
            "600",
            "--severity",
            "critical",
            "--repeat-every",
            "4h",
        ],
    );
    assert!(set_rule.status.success(), "{}", text(&set_rule));
    let rules = ctl(&server, &admin, &["alerts", "rules"]);
    assert!(
        text(&rules).contains("repo_unreachable"),
        "{}",
        text(&rules)
    );
    assert!(text(&rules).contains("14400 s"), "{}", text(&rules));
    assert_eq!(audited(&server, "alert_rule.update").await, 1);

    let hid = h.to_string();
    let o = ctl(
        &server,
        &admin,
        &[
            "alerts",
            "override",
            "set",
            "host_offline",
            "--host",
            &hid,
            "--threshold",
            "7200",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&ctl(&server, &admin, &["alerts", "override", "list"])).contains("7200"));
    let o = ctl(
        &server,
        &admin,
        &[
            "alerts",
            "override",
            "clear",
            "host_offline",
            "--host",
            &hid,
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(audited(&server, "alert_override.set").await, 1);
    assert_eq!(audited(&server, "alert_override.clear").await, 1);

    let s = ctl(
        &server,
        &admin,
        &[
            "alerts", "silence", "add", "--host", &hid, "--for", "2h", "--note", "patching",
        ],
    );
    assert!(s.status.success(), "{}", text(&s));
    let listed = ctl(&server, &viewer, &["alerts", "silence", "list"]);
    assert!(text(&listed).contains("patching"), "{}", text(&listed));
    let sid = server
        .api
        .alerts
        .silences(&Principal::local_cli())
        .await
        .expect("windows")[0]
        .id
        .to_string();
    let d = ctl(&server, &admin, &["alerts", "silence", "delete", &sid]);
    assert!(d.status.success(), "{}", text(&d));
    assert_eq!(audited(&server, "silence.create").await, 1);
    assert_eq!(audited(&server, "silence.delete").await, 1);
}
