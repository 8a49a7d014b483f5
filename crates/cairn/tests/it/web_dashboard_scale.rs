//! The overview of a fleet larger than one page of hosts: it ranks every
//! host, not the first ones read, and shows the worst in a bounded table
//! (benchmark B4 found a 3 MB page at 1,000 hosts, and hosts past the
//! 500th never considered).

use cairn_domain::JobStatus;
use cairn_server::clock::Clock;
use cairn_store::{DAY_MS, Millis, Role};
use cairn_testkit::TestServer;
use reqwest::StatusCode;

use crate::web_live::{approve, backup_ended, fleet_table};
use crate::{get_page, signed_in};

const NOON: Millis = 20_500 * DAY_MS + DAY_MS / 2;

#[tokio::test]
async fn a_fleet_of_600_shows_its_worst_100_wherever_they_are_and_says_how_many_more() {
    let (clock, _manual) = Clock::manual(NOON);
    let server = TestServer::start_with_clock(clock, |_| {}).await;
    let cookie = signed_in(&server, "ann", Role::Viewer).await;
    let mut hosts = Vec::new();
    for n in 0..600 {
        let host = server.stored_host(&format!("host-{n:03}")).await;
        approve(&server, host).await;
        hosts.push(host);
    }
    // Every host backed up fine today but the very last one read, whose
    // last backup failed: it comes after the first page of 500.
    for (n, host) in hosts.iter().enumerate() {
        let status = if n == 599 {
            JobStatus::Failed
        } else {
            JobStatus::Succeeded
        };
        backup_ended(&server, *host, 1, status, NOON - 3_600_000).await;
    }
    let (status, page) = get_page(&server, &cookie, "/").await;
    assert_eq!(status, StatusCode::OK);
    let table = fleet_table(&page);
    let first_row = table.find("<tr class=\"fleet-").expect("a row");
    assert!(
        table[first_row..].starts_with("<tr class=\"fleet-failing\""),
        "the failing host leads: {}",
        &table[first_row..first_row + 200]
    );
    assert!(table.contains("host-599"));
    assert_eq!(
        table.matches("<tr class=\"fleet-").count(),
        100,
        "a bounded table"
    );
    assert_eq!(table.matches("class=\"day day-").count(), 100 * 30);
    assert!(
        page.contains("The 100 worst hosts of 600; the other 500 are no worse."),
        "the page says what it left out"
    );
    assert!(
        page.contains("/static/favicon-bad.svg"),
        "the whole fleet's state"
    );
    // Offline hosts (none connected) fill "needs attention": capped, counted.
    assert_eq!(page.matches("class=\"attention-offline\"").count(), 100);
    assert!(page.contains("And 500 more:"), "the rest is counted");
    assert!(
        page.contains("data-attention=\"600\""),
        "the tab title counts them all"
    );
}
