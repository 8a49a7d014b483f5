use chrono::{Datelike, TimeZone, Utc, Weekday};

use super::describe;
use crate::CronSpec;

#[test]
fn common_expressions_read_as_people_say_them() {
    for (cron, words) in [
        ("* * * * *", "Every minute"),
        ("*/5 * * * *", "Every 5 minutes"),
        ("*/7 * * * *", "At every 7th minute"),
        ("5-59/10 * * * *", "At every 10th minute from 5 through 55"),
        ("0 * * * *", "At minute 0 past every hour"),
        ("15,45 * * * *", "At minutes 15 and 45 past every hour"),
        ("0-29 * * * *", "At every minute from 0 through 29"),
        ("30 2 * * *", "At 02:30, every day"),
        ("30 2 * * 1-5", "At 02:30, Monday to Friday"),
        ("30 2 * * MON-FRI", "At 02:30, Monday to Friday"),
        (
            "0 9-17 * * 1-5",
            "Every hour from 09:00 to 17:00, Monday to Friday",
        ),
        ("*/15 9-17 * * *", "Every 15 minutes from 09:00 to 17:45"),
        ("* 3 * * *", "Every minute from 03:00 to 03:59"),
        ("0 */6 * * *", "At 00:00, 06:00, 12:00 and 18:00, every day"),
        ("0 */2 * * *", "At minute 0 past every 2nd hour"),
        (
            "0 1-23/2 * * *",
            "At minute 0 past every 2nd hour from 1 through 23",
        ),
        ("*/10 2,14 * * *", "Every 10 minutes past hours 2 and 14"),
        ("0,30 9 * * *", "At 09:00 and 09:30, every day"),
        (
            "0 8-18/2 * * *",
            "At 08:00, 10:00, 12:00, 14:00, 16:00 and 18:00, every day",
        ),
        ("0 0 1 * *", "At 00:00, on day 1 of the month"),
        ("0 0 1,15 * *", "At 00:00, on days 1 and 15 of the month"),
        ("0 0 1-7 * *", "At 00:00, on days 1 through 7 of the month"),
        ("0 0 */2 * *", "At 00:00, on every 2nd day of the month"),
        (
            "0 0 1 */3 *",
            "At 00:00, on day 1 of the month, in January, April, July and October",
        ),
        ("0 0 * 1-3 *", "At 00:00, every day, from January to March"),
        (
            "0 0 * JUN,DEC *",
            "At 00:00, every day, in June and December",
        ),
        ("0 12 * * 6,0", "At 12:00, on Saturday and Sunday"),
        ("0 12 * * SAT,SUN", "At 12:00, on Saturday and Sunday"),
        ("0 12 * * 7", "At 12:00, on Sunday"),
        (
            "0 12 * * MON,WED,FRI",
            "At 12:00, on Monday, Wednesday and Friday",
        ),
        (
            "0 12 * * 1-3,5",
            "At 12:00, on Monday to Wednesday and Friday",
        ),
        ("0 0 25 12 *", "At 00:00, on 25 December"),
        // Vixie cron: with both day fields set, either one fires.
        (
            "0 0 1 * MON",
            "At 00:00, on day 1 of the month and on Monday",
        ),
        (
            "0 0 1-7 * +MON",
            "At 00:00, on days 1 through 7 of the month if it falls on Monday",
        ),
        ("0 0 L * *", "At 00:00, on the last day of the month"),
        ("0 22 * * 5L", "At 22:00, on the last Friday of the month"),
        (
            "0 22 * * FRI#L",
            "At 22:00, on the last Friday of the month",
        ),
        ("0 9 * * 1#1", "At 09:00, on the first Monday of the month"),
        (
            "0 9 * * MON#2",
            "At 09:00, on the second Monday of the month",
        ),
        ("15 30 2 * * *", "At 02:30:15, every day"),
        ("* * * * * *", "Every second"),
        ("*/10 * * * * *", "Every 10 seconds"),
        ("  30 2 * * *  ", "At 02:30, every day"),
        ("0 0 ? * 1", "At 00:00, on Monday"),
    ] {
        assert_eq!(describe(cron).as_deref(), Some(words), "{cron:?}");
    }
}

#[test]
fn macros_are_described_like_what_they_stand_for() {
    for (cron, words) in [
        ("@yearly", "At 00:00, on 1 January"),
        ("@annually", "At 00:00, on 1 January"),
        ("@monthly", "At 00:00, on day 1 of the month"),
        ("@weekly", "At 00:00, on Sunday"),
        ("@daily", "At 00:00, every day"),
        ("@hourly", "At minute 0 past every hour"),
        ("@DAILY", "At 00:00, every day"),
    ] {
        assert_eq!(describe(cron).as_deref(), Some(words), "{cron:?}");
    }
}

#[test]
fn what_cannot_be_said_truthfully_is_not_described() {
    for cron in [
        "0 0 15W * *",
        "0 0 LW * *",
        "0 0 1,L * *",
        "0 0 L * MON",
        "0 0 1 * 5L",
        "0 0 0 1 1 * 2030",
        "*/10 * 9 * * *",
        "15 */5 * * * *",
        "not cron",
        "61 * * * *",
        "",
    ] {
        assert_eq!(describe(cron), None, "{cron:?}");
    }
}

#[test]
fn a_spec_falls_back_to_its_expression() {
    assert!(
        CronSpec::parse("0 0 0 1 1 * 2030", "UTC").is_ok(),
        "years parse"
    );
    let spec = CronSpec::parse("0 0 15W * *", "UTC").expect("parse");
    assert_eq!(spec.describe(), "0 0 15W * *");
    let spec = CronSpec::parse("30 2 * * 1-5", "Europe/Berlin").expect("parse");
    assert_eq!(spec.describe(), "At 02:30, Monday to Friday");
}

/// The firings of `cron` in UTC over the next months, as dates.
fn firing_dates(cron: &str, n: usize) -> Vec<chrono::DateTime<Utc>> {
    let spec = CronSpec::parse(cron, "UTC").expect("parse");
    spec.firings_between(1_767_225_600_000, i64::MAX, n)
        .into_iter()
        .map(|at| Utc.timestamp_millis_opt(at).single().expect("a time"))
        .collect()
}

fn days_in_month(at: &chrono::DateTime<Utc>) -> u32 {
    let (y, m) = (at.year(), at.month());
    let next = if m == 12 {
        Utc.with_ymd_and_hms(y + 1, 1, 1, 0, 0, 0)
    } else {
        Utc.with_ymd_and_hms(y, m + 1, 1, 0, 0, 0)
    };
    (next.single().expect("a date") - chrono::Duration::days(1)).day()
}

#[test]
fn the_words_for_modifiers_match_when_croner_fires() {
    // If croner ever read these differently, the words above would lie.
    for at in firing_dates("0 22 * * 5L", 12) {
        assert_eq!(at.weekday(), Weekday::Fri, "{at}");
        assert!(at.day() + 7 > days_in_month(&at), "the last Friday: {at}");
    }
    for at in firing_dates("0 9 * * 1#2", 12) {
        assert_eq!(at.weekday(), Weekday::Mon, "{at}");
        assert!((8..=14).contains(&at.day()), "the second Monday: {at}");
    }
    for at in firing_dates("0 0 L * *", 12) {
        assert_eq!(at.day(), days_in_month(&at), "the last day: {at}");
    }
    let either = firing_dates("0 0 1 * MON", 20);
    assert!(
        either
            .iter()
            .all(|at| at.day() == 1 || at.weekday() == Weekday::Mon)
    );
    assert!(
        either.iter().any(|at| at.day() != 1),
        "Mondays too: {either:?}"
    );
    for at in firing_dates("0 0 1-7 * +MON", 6) {
        assert!(at.day() <= 7 && at.weekday() == Weekday::Mon, "{at}");
    }
}
