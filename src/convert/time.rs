//! Times: domain milliseconds ↔ protobuf timestamps and durations.

use cairn_domain::Millis;
use prost_types::{Duration, Timestamp};

/// Milliseconds since the epoch as a timestamp (negative times too).
pub fn timestamp(ms: Millis) -> Timestamp {
    Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    }
}

/// A timestamp as milliseconds; `None` when it does not fit or its nanos are
/// out of range. Whether the time is plausible is the caller's to judge.
pub fn millis(t: &Timestamp) -> Option<Millis> {
    if !(0..1_000_000_000).contains(&t.nanos) {
        return None;
    }
    t.seconds
        .checked_mul(1000)?
        .checked_add(i64::from(t.nanos) / 1_000_000)
}

/// A protobuf duration as milliseconds (negative or overflowing: 0).
pub fn duration_ms(d: &Duration) -> u64 {
    let ms = d
        .seconds
        .checked_mul(1000)
        .and_then(|s| s.checked_add(i64::from(d.nanos) / 1_000_000));
    ms.and_then(|ms| u64::try_from(ms).ok()).unwrap_or(0)
}

/// Milliseconds as a protobuf duration.
pub(crate) fn duration(ms: u64) -> Duration {
    Duration {
        seconds: i64::try_from(ms / 1000).unwrap_or(i64::MAX),
        nanos: ((ms % 1000) * 1_000_000) as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_including_negative_millis() {
        for ms in [0, 1, 999, 1_767_225_600_005, -1, -1001] {
            assert_eq!(millis(&timestamp(ms)), Some(ms), "{ms}");
        }
        assert_eq!(
            timestamp(-1),
            Timestamp {
                seconds: -1,
                nanos: 999_000_000
            }
        );
    }

    #[test]
    fn overflowing_timestamps_are_none_not_a_panic() {
        let huge = Timestamp {
            seconds: i64::MAX,
            nanos: 0,
        };
        assert_eq!(millis(&huge), None);
        let bad_nanos = Timestamp {
            seconds: 1,
            nanos: -1,
        };
        assert_eq!(millis(&bad_nanos), None);
    }

    #[test]
    fn durations_convert_and_clamp() {
        assert_eq!(duration_ms(&duration(61_500)), 61_500);
        let negative = Duration {
            seconds: -5,
            nanos: 0,
        };
        assert_eq!(duration_ms(&negative), 0);
    }
}
