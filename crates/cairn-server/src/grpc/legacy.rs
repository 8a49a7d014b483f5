//! Cairn 0.1 stored job specs, progress, summaries and maintenance policies
//! as base64 protobuf. At start, each such value is decoded here (the one
//! place that still reads those bytes) and written back in the store's JSON.
//! A value that does not decode is left as it is and logged with its row;
//! reading that row then fails with an error that names it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use cairn_proto::convert::{
    check_subset_from_pb, max_unused_from_pb, progress_from_pb, retention_from_pb, spec_from_pb,
    summary_from_pb,
};
use cairn_proto::v1 as pb;
use cairn_store::codec::encode;
use cairn_store::{LegacyValue, Store, StoreResult, TYPED_COLUMNS};
use prost::Message;

/// The JSON of one legacy value: `Some(None)` for a value that meant "not
/// set", `None` when it does not decode.
fn convert(value: &LegacyValue) -> Option<Option<String>> {
    let bytes = STANDARD.decode(&value.text).ok()?;
    let bytes = bytes.as_slice();
    Some(match (value.table, value.column) {
        ("jobs", "spec") => Some(encode(&spec_from_pb(&pb::JobSpec::decode(bytes).ok()?)?)),
        ("jobs", "progress") => Some(encode(&progress_from_pb(
            &pb::JobProgress::decode(bytes).ok()?,
        ))),
        ("jobs", "summary") => Some(encode(&summary_from_pb(
            &pb::BackupSummary::decode(bytes).ok()?,
        ))),
        ("host_repo_maintenance", "retention") => Some(encode(&retention_from_pb(
            &pb::RetentionPolicy::decode(bytes).ok()?,
        ))),
        ("host_repo_maintenance", "prune_max_unused") => {
            max_unused_from_pb(&pb::MaxUnused::decode(bytes).ok()?).map(|m| encode(&m))
        }
        ("host_repo_maintenance", "check_read_data_subset") => {
            check_subset_from_pb(&pb::ReadDataSubset::decode(bytes).ok()?).map(|s| encode(&s))
        }
        _ => return None,
    })
}

/// Upgrades every legacy value, column by column and page by page; returns
/// how many were rewritten. Each value that does not decode is logged once.
pub(crate) async fn upgrade(store: &Store) -> StoreResult<usize> {
    let mut total = 0;
    for &column in TYPED_COLUMNS {
        let mut after = 0;
        loop {
            let values = store.legacy_values(column, after).await?;
            let Some(last) = values.last() else { break };
            after = last.row;
            let mut batch = Vec::new();
            for value in values {
                match convert(&value) {
                    Some(json) => batch.push((value, json)),
                    None => tracing::error!(
                        table = value.table,
                        row = value.row,
                        column = value.column,
                        "a stored value from Cairn 0.1 does not decode: left as it is"
                    ),
                }
            }
            total += store.upgrade_values(batch).await?;
        }
    }
    if total > 0 {
        tracing::info!(
            values = total,
            "stored values from Cairn 0.1 upgraded to the store's JSON"
        );
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn legacy(column: &'static str, message: &impl Message) -> LegacyValue {
        LegacyValue {
            table: if column == "retention" {
                "host_repo_maintenance"
            } else {
                "jobs"
            },
            row: 1,
            column,
            text: STANDARD.encode(message.encode_to_vec()),
        }
    }

    #[test]
    fn a_legacy_spec_becomes_the_stores_json_of_the_same_spec() {
        let wire = pb::JobSpec {
            spec: Some(pb::job_spec::Spec::Backup(pb::BackupSpec {
                paths: vec!["/srv".into()],
                ..Default::default()
            })),
        };
        let json = convert(&legacy("spec", &wire)).flatten().expect("converts");
        let back: cairn_domain::JobSpec =
            cairn_store::codec::decode("jobs", 1, "spec", &json).expect("decodes");
        assert_eq!(Some(back), spec_from_pb(&wire));
    }

    #[test]
    fn garbage_is_left_alone() {
        let bad = LegacyValue {
            table: "jobs",
            row: 1,
            column: "spec",
            text: "not base64 at all!".into(),
        };
        assert_eq!(convert(&bad), None);
        let policy = pb::RetentionPolicy {
            keep_daily: 7,
            ..Default::default()
        };
        assert!(convert(&legacy("retention", &policy)).flatten().is_some());
    }
}
