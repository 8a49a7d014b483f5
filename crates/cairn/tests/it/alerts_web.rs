//! The console's alert pages: the inbox and its tabs, acknowledging with a
//! note, the rules page, the dashboard's firing alerts; viewers see no
//! button and are refused anyway; hostile host names render inert.

use cairn_server::auth::Principal;
use cairn_store::{AlertFilter, AlertState, Page, Role};
use cairn_testkit::TestServer;

use crate::alerts::{NOON, host, recorded, set};
use crate::{form_value, get_page, post_form, signed_in};

const HOSTILE: &str = "<script>alert(1)</script>";

async fn first_alert(server: &TestServer) -> cairn_store::Alert {
    server
        .api
        .alerts
        .list(
            &Principal::local_cli(),
            AlertFilter::default(),
            Page::first(1),
        )
        .await
        .expect("list")
        .items
        .remove(0)
}

#[tokio::test]
async fn the_inbox_acknowledges_with_a_note_and_a_viewer_sees_no_button_and_is_refused() {
    let (server, hand, notices) = recorded().await;
    let _h = host(&server, HOSTILE, NOON).await;
    set(&server, &hand, NOON + 120_000);
    server.api.alerts.evaluate().await.expect("sweep");
    let alert = first_alert(&server).await;

    let viewer = signed_in(&server, "viv", Role::Viewer).await;
    let (status, page) = get_page(&server, &viewer, "/alerts").await;
    assert_eq!(status, 200);
    assert!(page.contains("host_offline"), "{page}");
    assert!(!page.contains(HOSTILE), "a hostile host name is escaped");
    assert!(page.contains("alert(1)"), "and shown");
    assert!(
        !page.contains("Acknowledge</button>"),
        "a viewer sees no button"
    );
    let csrf = form_value(&page, "_csrf").unwrap_or_default();
    let path = format!("/alerts/{}/ack", alert.id);
    let (status, _) = post_form(&server, &viewer, &path, &[("_csrf", &csrf), ("note", "x")]).await;
    assert_eq!(status, 403, "the service refuses a viewer anyway");
    assert_eq!(first_alert(&server).await.state, AlertState::Firing);

    let (_, dashboard) = get_page(&server, &viewer, "/").await;
    assert!(
        dashboard.contains("Firing alerts") && dashboard.contains("firing-alerts"),
        "{dashboard}"
    );
    assert!(!dashboard.contains(HOSTILE));

    let ops = signed_in(&server, "ops", Role::Operator).await;
    let (_, page) = get_page(&server, &ops, "/alerts?tab=firing").await;
    assert!(page.contains("Acknowledge</button>"));
    assert!(
        page.contains(&format!("cairn ctl alerts ack {} --note NOTE", alert.id)),
        "the ctl line"
    );
    let csrf = form_value(&page, "_csrf").expect("csrf");
    let (status, _) = post_form(
        &server,
        &ops,
        &path,
        &[("_csrf", &csrf), ("note", "on it <b>now</b>")],
    )
    .await;
    assert!(status.is_redirection() || status.is_success(), "{status}");
    let acked = first_alert(&server).await;
    assert_eq!(acked.state, AlertState::Acknowledged);
    let (_, page) = get_page(&server, &ops, "/alerts?tab=acknowledged").await;
    assert!(
        page.contains("on it &#60;b&#62;now") && !page.contains("<b>now</b>"),
        "the note, escaped"
    );
    assert!(page.contains("Un-acknowledge</button>"));
    let (_, firing) = get_page(&server, &ops, "/alerts?tab=firing").await;
    assert!(firing.contains("No firing alert"), "an empty state");
    let (status, _) = get_page(&server, &ops, "/alerts?tab=bogus").await;
    assert_eq!(status, 400, "a bad tab is refused");
    assert_eq!(notices.seen().len(), 1, "only the firing was told");
}

#[tokio::test]
async fn the_rules_page_changes_rules_and_windows_for_whom_may() {
    let (server, _hand, _notices) = recorded().await;
    let h = host(&server, "ops1", NOON).await;
    let viewer = signed_in(&server, "viv", Role::Viewer).await;
    let (status, page) = get_page(&server, &viewer, "/alerts/rules").await;
    assert_eq!(status, 200);
    assert!(page.contains("repo_unreachable") && page.contains("No window is open"));
    assert!(
        !page.contains("<button type=\"submit\">Save</button>"),
        "no rule form for a viewer"
    );
    assert!(!page.contains("Open window"), "no window form for a viewer");

    let ops = signed_in(&server, "ops", Role::Operator).await;
    let (_, page) = get_page(&server, &ops, "/alerts/rules").await;
    assert!(
        page.contains("Open window") && !page.contains(">Save</button>"),
        "operators open windows, admins change rules"
    );
    let csrf = form_value(&page, "_csrf").expect("csrf");
    let hid = h.to_string();
    let (status, _) = post_form(
        &server,
        &ops,
        "/alerts/silences",
        &[
            ("_csrf", &csrf),
            ("host", &hid),
            ("length", "2h"),
            ("note", "patching"),
        ],
    )
    .await;
    assert!(status.is_redirection() || status.is_success(), "{status}");
    let (_, page) = get_page(&server, &ops, "/alerts/rules").await;
    assert!(page.contains("patching"));

    let admin = signed_in(&server, "ada", Role::Admin).await;
    let (_, page) = get_page(&server, &admin, "/alerts/rules").await;
    let csrf = form_value(&page, "_csrf").expect("csrf");
    let rules = server
        .api
        .alerts
        .rules(&Principal::local_cli())
        .await
        .expect("rules");
    let anomaly = rules
        .iter()
        .find(|r| r.kind == cairn_store::AlertKind::Anomaly)
        .expect("rule");
    let path = format!("/alerts/rules/{}", anomaly.id);
    let (status, _) = post_form(
        &server,
        &admin,
        &path,
        &[
            ("_csrf", &csrf),
            ("severity", "warning"),
            ("threshold", "0.5"),
        ],
    )
    .await;
    assert_eq!(status, 400, "a bad factor is refused");
    let after = server
        .api
        .alerts
        .rules(&Principal::local_cli())
        .await
        .expect("rules");
    assert_eq!(after, rules, "and changes nothing");
    let (status, _) = post_form(
        &server,
        &admin,
        &path,
        &[
            ("_csrf", &csrf),
            ("enabled", "on"),
            ("severity", "critical"),
            ("threshold", "20"),
            ("repeat_every", "4h"),
        ],
    )
    .await;
    assert!(status.is_redirection() || status.is_success(), "{status}");
    let changed = server
        .api
        .alerts
        .rules(&Principal::local_cli())
        .await
        .expect("rules");
    let anomaly = changed
        .iter()
        .find(|r| r.kind == cairn_store::AlertKind::Anomaly)
        .expect("rule");
    assert_eq!(anomaly.threshold, Some(20.0));
    assert_eq!(anomaly.repeat_every_seconds, Some(4 * 3600));
    assert_eq!(anomaly.severity, cairn_store::Severity::Critical);
}
