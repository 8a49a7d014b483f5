//! `/metrics`: Prometheus text after a real backup; every metric served is
//! listed in the book (`metrics_access.rs` has who may read it).

use cairn_proto::v1 as pb;
use cairn_testkit::fleet::Fleet;
use prometheus_parse::{Scrape, Value};

const PASSWORD: &str = "metrics-repo-password";
const REFERENCE: &str = include_str!("../../../../docs/book/src/reference/metrics.md");
/// Families with no series until their first event, which this test does not
/// cause.
const SERVED_ONLY_AFTER_AN_EVENT: &[&str] = &["cairn_notification_deliveries_total"];

pub(super) async fn scrape(url: &str) -> (reqwest::StatusCode, String) {
    let response = reqwest::get(format!("{url}/metrics"))
        .await
        .expect("GET /metrics");
    let status = response.status();
    (status, response.text().await.expect("body"))
}

/// Checks every line against the text format's grammar (the parser crate
/// skips what it does not understand), then parses.
pub(super) fn parse_strictly(text: &str) -> Scrape {
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut words = rest.splitn(3, ' ');
            let (kind, name) = (words.next(), words.next());
            assert!(
                matches!(kind, Some("HELP" | "TYPE")) && name.is_some_and(valid_name),
                "a bad comment line: {line}"
            );
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("series and value");
        let name = series.split('{').next().unwrap_or_default();
        assert!(valid_name(name), "a bad metric name: {line}");
        if let Some(labels) = series.strip_prefix(name) {
            assert!(
                labels.is_empty() || (labels.starts_with('{') && labels.ends_with('}')),
                "bad labels: {line}"
            );
        }
        assert!(
            value.parse::<f64>().is_ok() || matches!(value, "+Inf" | "-Inf" | "NaN"),
            "a bad value: {line}"
        );
    }
    Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("parse")
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

pub(super) fn value_of(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .find_map(|s| match s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => Some(v),
            _ => None,
        })
}

/// The families a scrape declares (`# TYPE name type`), with their types.
fn families(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .map(|(name, kind)| (name.to_string(), kind.trim().to_string()))
        .collect()
}

/// The metrics reference's table: `| \`name\` | type | …` rows.
pub(super) fn documented() -> Vec<(String, String)> {
    REFERENCE
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| {
            let (name, rest) = l.split_once('`')?;
            let kind = rest.trim_start_matches(" |").split('|').next()?.trim();
            Some((name.to_string(), kind.to_string()))
        })
        .collect()
}

#[tokio::test]
async fn after_a_real_backup_metrics_parse_and_carry_the_job_counters_and_histogram() {
    let mut fleet = Fleet::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let source = dir.path().join("source");
    std::fs::create_dir_all(&source).expect("mkdir");
    std::fs::write(source.join("a.bin"), vec![3u8; 50_000]).expect("write");
    let repository = fleet
        .repository(&dir.path().join("repo").display().to_string(), PASSWORD)
        .await;
    let init = fleet
        .maintenance(
            repository,
            pb::run_maintenance_request::Spec::Init(pb::InitSpec::default()),
        )
        .await;
    assert_eq!(
        init.status,
        pb::JobStatus::Succeeded as i32,
        "{}",
        init.error
    );
    let job = fleet
        .backup(repository, vec![source.display().to_string()])
        .await
        .expect("submit");
    let done = fleet.finish(job.id).await;
    assert_eq!(
        done.status,
        pb::JobStatus::Succeeded as i32,
        "{}",
        done.error
    );

    // The test's client is on loopback: no credentials needed.
    let (status, text) = scrape(&fleet.server.url).await;
    assert_eq!(status, 200);
    let metrics = parse_strictly(&text);
    let succeeded = [("kind", "backup"), ("status", "succeeded")];
    assert_eq!(
        value_of(&metrics, "cairn_jobs_finished_total", &succeeded),
        Some(1.0),
        "{text}"
    );
    let histogram = metrics
        .samples
        .iter()
        .find(|s| {
            s.metric == "cairn_job_duration_seconds" && s.labels.get("kind") == Some("backup")
        })
        .expect("a duration histogram for backups");
    let Value::Histogram(buckets) = &histogram.value else {
        panic!("not a histogram: {histogram:?}");
    };
    let inf = buckets
        .iter()
        .find(|b| b.less_than.is_infinite())
        .expect("+Inf bucket");
    assert_eq!(inf.count, 1.0, "one backup timed");
    assert_eq!(
        value_of(
            &metrics,
            "cairn_job_duration_seconds_count",
            &[("kind", "backup")]
        ),
        Some(1.0)
    );
    let added = value_of(&metrics, "cairn_backup_added_bytes_total", &[]).expect("bytes added");
    assert!(added > 0.0, "bytes added: {added}");
    assert_eq!(value_of(&metrics, "cairn_agents_connected", &[]), Some(1.0));
    assert_eq!(
        value_of(&metrics, "cairn_hosts", &[("status", "approved")]),
        Some(1.0)
    );
    let last = value_of(
        &metrics,
        "cairn_last_successful_backup_timestamp_seconds",
        &[("repository", &done.repository_name)],
    )
    .expect("last backup time");
    assert!(last > 1.0e9, "unix seconds: {last}");
    assert!(
        metrics
            .samples
            .iter()
            .any(|s| s.metric == "cairn_grpc_requests_total"
                && s.labels.get("method") == Some("/cairn.v1.JobService/RunBackup")),
        "gRPC calls are counted by method: {text}"
    );
    assert!(value_of(&metrics, "cairn_store_commits_total", &[]).is_some_and(|n| n > 0.0));
    assert!(value_of(&metrics, "cairn_store_writes_total", &[]).is_some_and(|n| n > 0.0));

    // The reference lists every family served, with its type, and serves
    // every family it lists.
    let served = families(&text);
    let listed = documented();
    for family in &served {
        assert!(
            listed.contains(family),
            "{family:?} is not listed, with that type, in the book's reference/metrics.md"
        );
    }
    // Raw paths never become labels.
    let (_, _) = scrape(&format!("{}/no/such/page", fleet.server.url)).await;
    let (_, text) = scrape(&fleet.server.url).await;
    assert!(!text.contains("/no/such/page"), "a raw path became a label");
    // A request is counted once answered, so the earlier scrapes show now.
    let later = parse_strictly(&text);
    for route in ["/metrics", "unmatched"] {
        assert!(
            later
                .samples
                .iter()
                .any(|s| s.metric == "cairn_http_requests_total"
                    && s.labels.get("route") == Some(route)),
            "HTTP requests are counted by route: {route}"
        );
    }
    // By now every HTTP family has a series too.
    let served = families(&text);
    for family in &listed {
        assert!(
            served.contains(family) || SERVED_ONLY_AFTER_AN_EVENT.contains(&family.0.as_str()),
            "reference/metrics.md lists {family:?}, which /metrics does not serve: {text}"
        );
    }
    assert!(!text.contains(PASSWORD));
}
