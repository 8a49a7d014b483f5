//! The JSON the store keeps for typed values (job specs, progress, backup
//! summaries, maintenance policies): `{"v":1,"data":…}`, documented in
//! `docs/store.md`. The version lets a later Cairn read older rows; a row
//! that does not decode is an error that names its table, row and column.

use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// The version written today.
pub const CODEC_VERSION: u32 = 1;

#[derive(Serialize)]
struct Out<'a, T> {
    v: u32,
    data: &'a T,
}

/// What is read first: the version, then the data as it stands, so a row
/// of another version is named as such whatever its shape.
#[derive(Deserialize)]
struct In {
    v: u32,
    data: serde_json::Value,
}

/// A stored value that did not decode, boxed inside rusqlite's conversion
/// error and surfaced as [`crate::StoreError::Corrupt`].
#[derive(Debug, thiserror::Error)]
#[error("{table} row {row}: {column} does not decode: {reason}")]
pub struct Undecodable {
    pub table: &'static str,
    pub row: i64,
    pub column: &'static str,
    pub reason: String,
}

/// Encodes a value for a column.
pub fn encode<T: Serialize>(value: &T) -> String {
    // The domain's types are plain data (no maps with non-string keys, no
    // custom serializers): serializing them to a string cannot fail.
    serde_json::to_string(&Out {
        v: CODEC_VERSION,
        data: value,
    })
    .expect("the domain's plain data serializes to JSON")
}

/// Decodes a column's value, naming the row when it does not decode
/// (another version, another encoding, damage).
pub fn decode<T: DeserializeOwned>(
    table: &'static str,
    row: i64,
    column: &'static str,
    text: &str,
) -> Result<T, Undecodable> {
    let undecodable = |reason: String| Undecodable {
        table,
        row,
        column,
        reason,
    };
    let stored: In = serde_json::from_str(text).map_err(|e| {
        if text.starts_with('{') {
            undecodable(e.to_string())
        } else {
            undecodable("not the store's JSON (a row from before 0.2 not yet upgraded?)".into())
        }
    })?;
    if stored.v != CODEC_VERSION {
        return Err(undecodable(format!(
            "version {} (this build reads {CODEC_VERSION})",
            stored.v
        )));
    }
    serde_json::from_value(stored.data).map_err(|e| undecodable(e.to_string()))
}

/// Decodes inside a row mapper: the error rusqlite carries out of it.
pub(crate) fn column<T: DeserializeOwned>(
    table: &'static str,
    row: i64,
    (index, column): (usize, &'static str),
    text: &str,
) -> rusqlite::Result<T> {
    decode(table, row, column, text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, Box::new(e))
    })
}

/// Parses a vocabulary column (a kind, a status) inside a row mapper; an
/// unknown spelling is named like any other undecodable value.
pub(crate) fn spelling<T>(
    table: &'static str,
    row: i64,
    (index, column): (usize, &'static str),
    text: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> rusqlite::Result<T> {
    parse(text).ok_or_else(|| {
        let bad = Undecodable {
            table,
            row,
            column,
            reason: format!("unknown value {text:?}"),
        };
        rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, Box::new(bad))
    })
}

/// Whether a stored text is in the store's JSON (rather than the base64
/// protobuf that Cairn 0.1 wrote).
pub fn is_current(text: &str) -> bool {
    text.starts_with('{')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_bad_rows_are_named() {
        let text = encode(&vec![1u32, 2]);
        assert_eq!(text, r#"{"v":1,"data":[1,2]}"#);
        assert_eq!(
            decode::<Vec<u32>>("jobs", 7, "spec", &text).ok(),
            Some(vec![1, 2])
        );
        let err = decode::<Vec<u32>>("jobs", 7, "spec", "CgQKAi9z").expect_err("legacy");
        assert!(
            err.to_string()
                .starts_with("jobs row 7: spec does not decode"),
            "{err}"
        );
        // Another version is named as such, whatever its data looks like.
        let err =
            decode::<Vec<u32>>("jobs", 8, "spec", r#"{"v":9,"data":{"new":1}}"#).expect_err("v9");
        assert!(err.to_string().contains("version 9"), "{err}");
    }
}
