//! Cron expressions in words: "At 02:30, Monday to Friday".
//!
//! The words are made from the sets croner itself parsed (which minutes,
//! hours, days, months and weekdays match), not from the text, so they say
//! what the scheduler will do. Whatever this does not know how to say
//! truthfully (`W`, years, seconds beside ranges of minutes, `L` mixed with
//! other days) gets no description: callers show the raw expression rather
//! than a sentence that might lie.

use std::str::FromStr;

use croner::{Cron, CronPattern};

const WEEKDAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
/// Up to this many times of day are spelled out one by one.
const MAX_LISTED_TIMES: usize = 6;

/// A cron expression in words, or `None` when it cannot be said truthfully
/// (or does not parse): show the expression itself then.
pub fn describe(expression: &str) -> Option<String> {
    let cron = Cron::from_str(expression.trim()).ok()?;
    let p = &cron.pattern;
    let years = p.years.values().len();
    if years != usize::from(p.years.max - p.years.min) + 1 {
        return None;
    }
    let (time, fixed) = time_phrase(p)?;
    let fields: Vec<&str> = p.as_str().split_whitespace().collect();
    let (dom_text, dow_text) = match fields.len() {
        5 => (fields[2], fields[4]),
        _ => (*fields.get(3)?, *fields.get(5)?),
    };
    let mut parts = vec![time];
    let months = p.months.values();
    let days = p.days.values();
    let every_month = months.len() == 12;
    if p.is_dow_wildcard()
        && !p.is_dom_wildcard()
        && !p.days.has_modifiers()
        && days.len() == 1
        && months.len() == 1
    {
        // "on 1 January" reads better than "on day 1 of the month, in January".
        parts.push(format!(
            "on {} {}",
            days[0],
            MONTHS[usize::from(months[0]) - 1]
        ));
        return Some(sentence(&parts));
    }
    match day_phrase(p, dom_text, dow_text)? {
        Some(days) => parts.push(days),
        None if fixed => parts.push("every day".into()),
        None => {}
    }
    if !every_month {
        parts.push(month_phrase(&months));
    }
    Some(sentence(&parts))
}

fn sentence(parts: &[String]) -> String {
    let text = parts.join(", ");
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => text,
    }
}

/// How a field's values are laid out.
#[derive(Debug, PartialEq, Eq)]
enum Shape {
    /// Every value the field can take.
    All,
    /// `first`, `first + step`, … `last` (three or more).
    Step { step: u16, first: u16, last: u16 },
    /// Runs of consecutive values, `(from, to)` inclusive.
    Runs(Vec<(u16, u16)>),
}

fn shape(values: &[u16], lo: u16, hi: u16) -> Shape {
    if values.len() == usize::from(hi - lo) + 1 {
        return Shape::All;
    }
    if values.len() >= 3 {
        let step = values[1] - values[0];
        if step >= 2 && values.windows(2).all(|w| w[1] - w[0] == step) {
            return Shape::Step {
                step,
                first: values[0],
                last: values[values.len() - 1],
            };
        }
    }
    Shape::Runs(runs(values))
}

fn runs(values: &[u16]) -> Vec<(u16, u16)> {
    let mut out: Vec<(u16, u16)> = Vec::new();
    for &v in values {
        match out.last_mut() {
            Some((_, to)) if *to + 1 == v => *to = v,
            _ => out.push((v, v)),
        }
    }
    out
}

/// `a`, `a and b`, `a, b and c` (or `or` for the last).
fn list(items: &[String], last: &str) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., end] => format!("{} {last} {end}", init.join(", ")),
    }
}

/// Runs as words: singles and pairs listed, longer runs as `a<joiner>b`.
fn runs_text(
    runs: &[(u16, u16)],
    name: impl Fn(u16) -> String,
    joiner: &str,
    last: &str,
) -> String {
    let mut items = Vec::new();
    for &(from, to) in runs {
        match to - from {
            0 => items.push(name(from)),
            1 => items.extend([name(from), name(to)]),
            _ => items.push(format!("{}{joiner}{}", name(from), name(to))),
        }
    }
    list(&items, last)
}

fn ordinal(n: u16) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

fn numbers(runs: &[(u16, u16)]) -> String {
    runs_text(runs, |v| v.to_string(), " through ", "and")
}

/// What the minutes field says, and how it may combine with hours.
enum Minutes {
    /// "every minute", "every 5 minutes": a rhythm through the hour.
    Rhythm(String),
    /// One minute of the hour.
    One(u16),
    /// Any other set of minutes, already in words; `per_hour` when it needs
    /// "past every hour" to read right.
    Other { text: String, per_hour: bool },
}

/// The time of day, and whether it is a list of fixed times.
fn time_phrase(p: &CronPattern) -> Option<(String, bool)> {
    let secs = p.seconds.values();
    let mins = p.minutes.values();
    let hours = p.hours.values();
    if secs.len() == 1 && mins.len() * hours.len() <= MAX_LISTED_TIMES {
        let times: Vec<String> = hours
            .iter()
            .flat_map(|h| mins.iter().map(move |m| (*h, *m)))
            .map(|(h, m)| match secs[0] {
                0 => format!("{h:02}:{m:02}"),
                s => format!("{h:02}:{m:02}:{s:02}"),
            })
            .collect();
        return Some((format!("at {}", list(&times, "and")), true));
    }
    if secs != [0] {
        // Seconds are only put in words when they are the whole rhythm.
        if mins.len() != 60 || hours.len() != 24 {
            return None;
        }
        return match shape(&secs, 0, 59) {
            Shape::All => Some(("every second".into(), false)),
            Shape::Step { step, first: 0, .. } if 60 % step == 0 => {
                Some((format!("every {step} seconds"), false))
            }
            _ => None,
        };
    }
    let minutes = match shape(&mins, 0, 59) {
        Shape::All => Minutes::Rhythm("every minute".into()),
        Shape::Step { step, first: 0, .. } if 60 % step == 0 => {
            Minutes::Rhythm(format!("every {step} minutes"))
        }
        Shape::Step {
            step,
            first: 0,
            last,
        } if last + step > 59 => Minutes::Other {
            text: format!("at every {} minute", ordinal(step)),
            per_hour: false,
        },
        Shape::Step { step, first, last } => Minutes::Other {
            text: format!(
                "at every {} minute from {first} through {last}",
                ordinal(step)
            ),
            per_hour: false,
        },
        Shape::Runs(r) if r.len() == 1 && r[0].0 == r[0].1 => Minutes::One(r[0].0),
        Shape::Runs(r) if r.len() == 1 => Minutes::Other {
            text: format!("at every minute from {} through {}", r[0].0, r[0].1),
            per_hour: false,
        },
        Shape::Runs(r) => Minutes::Other {
            text: format!("at minutes {}", numbers(&r)),
            per_hour: true,
        },
    };
    let text = match (minutes, shape(&hours, 0, 23)) {
        (Minutes::Rhythm(text), Shape::All) => text,
        (Minutes::Rhythm(text), Shape::Runs(r)) if r.len() == 1 => {
            let (first, last) = (mins[0], mins[mins.len() - 1]);
            format!(
                "{text} from {:02}:{first:02} to {:02}:{last:02}",
                r[0].0, r[0].1
            )
        }
        (Minutes::One(m), Shape::Runs(r)) if r.len() == 1 => {
            format!(
                "every hour from {:02}:{m:02} to {:02}:{m:02}",
                r[0].0, r[0].1
            )
        }
        (Minutes::One(m), Shape::All) => format!("at minute {m} past every hour"),
        (Minutes::Other { text, per_hour }, Shape::All) => {
            if per_hour {
                format!("{text} past every hour")
            } else {
                text
            }
        }
        (minutes, hours) => {
            let text = match minutes {
                Minutes::Rhythm(text) | Minutes::Other { text, .. } => text,
                Minutes::One(m) => format!("at minute {m}"),
            };
            format!("{text} {}", hours_phrase(&hours))
        }
    };
    Some((text, false))
}

/// "past hour 9", "past hours 2 and 14", "past every 2nd hour".
fn hours_phrase(hours: &Shape) -> String {
    match hours {
        Shape::All => "past every hour".into(),
        Shape::Step {
            step,
            first: 0,
            last,
        } if last + step > 23 => {
            format!("past every {} hour", ordinal(*step))
        }
        Shape::Step { step, first, last } => {
            format!(
                "past every {} hour from {first} through {last}",
                ordinal(*step)
            )
        }
        Shape::Runs(r) if r.len() == 1 && r[0].0 == r[0].1 => format!("past hour {}", r[0].0),
        Shape::Runs(r) => format!("past hours {}", numbers(r)),
    }
}

/// The days the expression fires on; `Some(None)` for every day, `None`
/// when it cannot be said truthfully.
fn day_phrase(p: &CronPattern, dom_text: &str, dow_text: &str) -> Option<Option<String>> {
    let dom_star = p.is_dom_wildcard();
    let dow_star = p.is_dow_wildcard();
    if p.days.has_modifiers() || p.days_of_week.has_modifiers() {
        // `L` and `#` only when they are the field's whole story.
        return match (dom_star, dow_star) {
            (false, true) if dom_text == "L" => Some(Some("on the last day of the month".into())),
            (true, false) => nth_weekday(dow_text.trim_start_matches('+')).map(Some),
            _ => None,
        };
    }
    let dom = || dom_phrase(&p.days.values());
    let dow = |joiner: &str| weekdays(&p.days_of_week.values(), joiner);
    Some(match (dom_star, dow_star) {
        (true, true) => None,
        (true, false) => {
            let days = dow("and");
            Some(if days.contains(" to ") && !days.contains(" and ") {
                days
            } else {
                format!("on {days}")
            })
        }
        (false, true) => Some(dom()),
        (false, false) if p.matches_dom_and_dow() => {
            Some(format!("{} if it falls on {}", dom(), dow("or")))
        }
        // Vixie cron's rule: with both fields set, either one matching fires.
        (false, false) => Some(format!("{} and on {}", dom(), dow("and"))),
    })
}

fn dom_phrase(days: &[u16]) -> String {
    match shape(days, 1, 31) {
        Shape::All => "on every day of the month".into(),
        Shape::Step {
            step,
            first: 1,
            last,
        } if last + step > 31 => {
            format!("on every {} day of the month", ordinal(step))
        }
        Shape::Step { step, first, last } => {
            format!(
                "on every {} day of the month from {first} through {last}",
                ordinal(step)
            )
        }
        Shape::Runs(r) if r.len() == 1 && r[0].0 == r[0].1 => {
            format!("on day {} of the month", r[0].0)
        }
        Shape::Runs(r) => format!("on days {} of the month", numbers(&r)),
    }
}

/// Weekdays Monday first: "Monday to Friday", "Saturday and Sunday".
fn weekdays(days: &[u16], last: &str) -> String {
    // Monday is 1 … Saturday 6, Sunday 7, so a week reads as people say it.
    let mut keys: Vec<u16> = days.iter().map(|d| if *d == 0 { 7 } else { *d }).collect();
    keys.sort_unstable();
    keys.dedup();
    if keys.len() == 7 {
        return "every day of the week".into();
    }
    runs_text(
        &runs(&keys),
        |k| WEEKDAYS[usize::from(k % 7)].into(),
        " to ",
        last,
    )
}

/// `5L`, `5#L` (the last Friday) and `1#2` (the second Monday).
fn nth_weekday(text: &str) -> Option<String> {
    let (day, which) = if let Some(day) = text.strip_suffix("#L") {
        (day, "last".to_string())
    } else if let Some(day) = text.strip_suffix('L') {
        (day, "last".to_string())
    } else {
        let (day, nth) = text.split_once('#')?;
        let nth = match nth {
            "1" => "first",
            "2" => "second",
            "3" => "third",
            "4" => "fourth",
            "5" => "fifth",
            _ => return None,
        };
        (day, nth.to_string())
    };
    let day: usize = day.parse().ok()?;
    let name = WEEKDAYS.get(day % 7)?;
    (day <= 7).then(|| format!("on the {which} {name} of the month"))
}

fn month_phrase(months: &[u16]) -> String {
    let name = |m: u16| MONTHS[usize::from(m) - 1].to_string();
    let runs = runs(months);
    match runs.as_slice() {
        [(from, to)] if to - from >= 2 => format!("from {} to {}", name(*from), name(*to)),
        _ => format!("in {}", runs_text(&runs, name, " to ", "and")),
    }
}

#[cfg(test)]
#[path = "describe_tests.rs"]
mod tests;
