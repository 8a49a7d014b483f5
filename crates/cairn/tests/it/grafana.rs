//! The Grafana dashboard (`packaging/grafana/cairn-dashboard.json`) asks only
//! for metrics the server serves, and shows every one: each `cairn_*` name in
//! its queries is a family of the metrics reference (which `metrics.rs`
//! checks against a real scrape, both ways) or one of a histogram's series.

use std::collections::BTreeSet;

const DASHBOARD: &str = include_str!("../../../../packaging/grafana/cairn-dashboard.json");

/// Every `expr` of every panel, rows' nested panels too.
fn queries(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner) {
                    ("expr", serde_json::Value::String(expr)) => out.push(expr.clone()),
                    _ => queries(inner, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|item| queries(item, out)),
        _ => {}
    }
}

/// The `cairn_…` names a PromQL expression reads.
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(start) = rest.find("cairn_") {
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.push(tail[..end].to_string());
        rest = &tail[end..];
    }
    names
}

#[test]
fn the_grafana_dashboard_queries_only_and_every_metric_the_server_serves() {
    let dashboard: serde_json::Value = serde_json::from_str(DASHBOARD).expect("valid JSON");
    assert_eq!(dashboard["uid"], "cairn-overview");
    let panels = dashboard["panels"].as_array().expect("panels");
    for panel in panels.iter().filter(|p| p["type"] != "row") {
        assert_eq!(
            panel["datasource"]["uid"], "${datasource}",
            "{}: queries the dashboard's chosen Prometheus",
            panel["title"]
        );
        assert!(panel["gridPos"]["w"].is_u64(), "{}: placed", panel["title"]);
    }
    let mut exprs = Vec::new();
    queries(&dashboard, &mut exprs);
    assert!(exprs.len() >= 10, "{exprs:?}");

    let families = super::metrics::documented();
    let mut shown = BTreeSet::new();
    for expr in &exprs {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "a query reads no Cairn metric: {expr}");
        for name in names {
            let family = families.iter().find(|(family, kind)| {
                *family == name
                    || (kind == "histogram"
                        && ["_bucket", "_sum", "_count"]
                            .iter()
                            .any(|suffix| name == format!("{family}{suffix}")))
            });
            let Some((family, _)) = family else {
                panic!("{name} (in {expr}) is not a metric /metrics serves");
            };
            shown.insert(family.clone());
        }
    }
    let unshown: Vec<_> = families
        .iter()
        .map(|(family, _)| family)
        .filter(|family| !shown.contains(*family))
        .collect();
    assert!(unshown.is_empty(), "no panel shows {unshown:?}");
}
