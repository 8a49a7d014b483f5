//! What a benchmark reports: a row per measure, with p50 / p99 / max, the
//! reference run's figures beside it, their ratio, and the goal from
//! DESIGN §17 with whether it was met. The same rows print as a table on the
//! terminal and as Markdown for the book's performance chapter.

use std::fmt::Write as _;

/// p50 / p99 / max of a set of samples (nearest rank), and how many.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub n: usize,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

impl Summary {
    /// The summary of `samples`; `None` when there are none.
    pub fn of(samples: &[f64]) -> Option<Summary> {
        let mut sorted: Vec<f64> = samples.iter().copied().filter(|v| v.is_finite()).collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_by(f64::total_cmp);
        let rank = |q: f64| {
            let index = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
            sorted[index]
        };
        Some(Summary {
            n: sorted.len(),
            p50: rank(0.50),
            p99: rank(0.99),
            max: sorted[sorted.len() - 1],
        })
    }

    /// One measured value (a size, a rate over the whole run).
    pub fn single(value: f64) -> Summary {
        Summary {
            n: 1,
            p50: value,
            p99: value,
            max: value,
        }
    }

    /// The figure a goal and a ratio look at: p99 of a distribution, or the
    /// value itself.
    fn headline(&self) -> f64 {
        if self.n == 1 { self.p50 } else { self.p99 }
    }
}

/// Which figure a goal bounds, and which way.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Goal {
    /// The headline (p99, or the single value) is at most this.
    AtMost(f64),
    /// The headline is at least this: for single values (a rate, a share),
    /// since a distribution's headline is its p99, its high end.
    AtLeast(f64),
}

impl Goal {
    fn met(&self, summary: &Summary) -> bool {
        match self {
            Goal::AtMost(limit) => summary.headline() <= *limit,
            Goal::AtLeast(floor) => summary.headline() >= *floor,
        }
    }

    fn text(&self, unit: &str) -> String {
        match self {
            Goal::AtMost(limit) => format!("≤ {} {unit}", number(*limit)),
            Goal::AtLeast(floor) => format!("≥ {} {unit}", number(*floor)),
        }
    }
}

/// One measured row.
#[derive(Debug, Clone)]
pub struct Row {
    /// `B0` … `B9`.
    pub bench: &'static str,
    /// What was measured, with its scale ("push latency, 10,000 agents").
    pub what: String,
    /// ms, KB, MB, rows/s, %…
    pub unit: &'static str,
    /// Cairn's figures.
    pub cairn: Summary,
    /// The reference run in the same job: its name and its figures.
    pub reference: Option<(String, Summary)>,
    /// The goal, when DESIGN §17 sets one.
    pub goal: Option<Goal>,
    /// Anything the reader needs to read the row right.
    pub note: String,
}

impl Row {
    /// A row with no reference, goal or note yet.
    pub fn new(
        bench: &'static str,
        what: impl Into<String>,
        unit: &'static str,
        cairn: Summary,
    ) -> Row {
        Row {
            bench,
            what: what.into(),
            unit,
            cairn,
            reference: None,
            goal: None,
            note: String::new(),
        }
    }

    /// Sets the reference run beside this row.
    pub fn reference(mut self, name: impl Into<String>, summary: Summary) -> Row {
        self.reference = Some((name.into(), summary));
        self
    }

    /// Sets the goal.
    pub fn goal(mut self, goal: Goal) -> Row {
        self.goal = Some(goal);
        self
    }

    /// Sets the note.
    pub fn note(mut self, note: impl Into<String>) -> Row {
        self.note = note.into();
        self
    }

    /// Cairn's headline over the reference's.
    pub fn ratio(&self) -> Option<f64> {
        let (_, reference) = self.reference.as_ref()?;
        let base = reference.headline();
        (base != 0.0).then(|| self.cairn.headline() / base)
    }

    /// `met`, `MISSED`, or empty without a goal.
    pub fn verdict(&self) -> &'static str {
        match self.goal {
            Some(goal) if goal.met(&self.cairn) => "met",
            Some(_) => "MISSED",
            None => "",
        }
    }
}

/// Everything one run measured, plus what went wrong.
#[derive(Debug, Default)]
pub struct Results {
    pub rows: Vec<Row>,
    /// Benchmarks that could not run, and why.
    pub failures: Vec<(String, String)>,
    /// Remarks printed under the table (fd limits raised or not, fallbacks).
    pub remarks: Vec<String>,
}

impl Results {
    /// Adds a row and prints it at once, so a long run shows its progress.
    pub fn push(&mut self, row: Row) {
        println!("  {}", one_line(&row));
        self.rows.push(row);
    }

    /// Adds a remark.
    pub fn remark(&mut self, text: impl Into<String>) {
        let text = text.into();
        println!("  note: {text}");
        self.remarks.push(text);
    }

    /// The table as Markdown.
    pub fn markdown(&self) -> String {
        let mut out = String::from(
            "| bench | measure | unit | p50 | p99 | max | reference (p50 / p99) | ratio | goal | |\n|---|---|---|---:|---:|---:|---|---:|---|---|\n",
        );
        for row in &self.rows {
            let reference = match &row.reference {
                Some((name, s)) if s.n == 1 => format!("{name}: {}", number(s.p50)),
                Some((name, s)) => format!("{name}: {} / {}", number(s.p50), number(s.p99)),
                None => String::new(),
            };
            let (p50, p99, max) = figures(&row.cairn);
            let _ = writeln!(
                out,
                "| {} | {}{} | {} | {p50} | {p99} | {max} | {reference} | {} | {} | {} |",
                row.bench,
                row.what,
                if row.note.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", row.note)
                },
                row.unit,
                row.ratio().map(|r| format!("{r:.2}×")).unwrap_or_default(),
                row.goal.map(|g| g.text(row.unit)).unwrap_or_default(),
                row.verdict(),
            );
        }
        for (bench, why) in &self.failures {
            let _ = writeln!(out, "| {bench} | did not run: {why} | | | | | | | | |");
        }
        out
    }

    /// The table for a terminal: fixed-width columns.
    pub fn terminal(&self) -> String {
        let mut out = format!(
            "{:<4} {:<52} {:>9} {:>9} {:>9} {:<7} {:>22} {:>7} {:>14} {}\n",
            "", "measure", "p50", "p99", "max", "unit", "reference p50/p99", "ratio", "goal", ""
        );
        for row in &self.rows {
            let _ = writeln!(out, "{}", one_line(row));
        }
        for (bench, why) in &self.failures {
            let _ = writeln!(out, "{bench:<4} did not run: {why}");
        }
        out
    }
}

fn figures(s: &Summary) -> (String, String, String) {
    if s.n == 1 {
        (number(s.p50), String::new(), String::new())
    } else {
        (number(s.p50), number(s.p99), number(s.max))
    }
}

fn one_line(row: &Row) -> String {
    let (p50, p99, max) = figures(&row.cairn);
    let reference = match &row.reference {
        Some((_, s)) if s.n == 1 => number(s.p50),
        Some((_, s)) => format!("{} / {}", number(s.p50), number(s.p99)),
        None => String::new(),
    };
    let mut what = row.what.clone();
    if what.chars().count() > 52 {
        what = what.chars().take(51).collect::<String>() + "…";
    }
    format!(
        "{:<4} {:<52} {:>9} {:>9} {:>9} {:<7} {:>22} {:>7} {:>14} {}",
        row.bench,
        what,
        p50,
        p99,
        max,
        row.unit,
        reference,
        row.ratio().map(|r| format!("{r:.2}×")).unwrap_or_default(),
        row.goal.map(|g| g.text(row.unit)).unwrap_or_default(),
        row.verdict(),
    )
}

/// A figure with sensible precision: 3 significant digits below 100,
/// thousands separated above.
pub fn number(value: f64) -> String {
    if !value.is_finite() {
        return "-".into();
    }
    let magnitude = value.abs();
    if magnitude >= 100.0 {
        let whole = value.round() as i64;
        let digits = whole.abs().to_string();
        let mut grouped = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(c);
        }
        if whole < 0 {
            format!("-{grouped}")
        } else {
            grouped
        }
    } else if magnitude >= 10.0 {
        format!("{value:.1}")
    } else if magnitude >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles_of_a_hundred_samples() {
        let samples: Vec<f64> = (1..=100).map(f64::from).collect();
        let s = Summary::of(&samples).expect("samples");
        assert_eq!((s.n, s.p50, s.p99, s.max), (100, 50.0, 99.0, 100.0));
        assert_eq!(Summary::of(&[]), None);
        assert_eq!(Summary::of(&[f64::NAN, 3.0]).map(|s| s.n), Some(1));
    }

    #[test]
    fn a_row_gives_its_ratio_to_the_reference_and_whether_it_met_the_goal() {
        let row = Row::new(
            "B1",
            "push",
            "ms",
            Summary::of(&[1.0, 2.0, 40.0]).expect("s"),
        )
        .reference("echo", Summary::of(&[1.0, 1.0, 20.0]).expect("s"))
        .goal(Goal::AtMost(50.0));
        assert_eq!(row.ratio(), Some(2.0));
        assert_eq!(row.verdict(), "met");
        let slow = Row::new("B6", "size", "MB", Summary::single(30.0)).goal(Goal::AtMost(15.0));
        assert_eq!(slow.verdict(), "MISSED");
        let rate = |value| Row::new("B2", "rows", "rows/s", Summary::single(value));
        assert_eq!(
            rate(25_000.0).goal(Goal::AtLeast(20_000.0)).verdict(),
            "met"
        );
        assert_eq!(
            rate(9_000.0).goal(Goal::AtLeast(20_000.0)).verdict(),
            "MISSED"
        );
        let table = Results {
            rows: vec![row, slow],
            ..Results::default()
        }
        .markdown();
        assert!(table.contains("| B1 | push | ms | 2.00 | 40.0 | 40.0 | echo: 1.00 / 20.0 | 2.00× | ≤ 50.0 ms | met |"), "{table}");
    }

    #[test]
    fn numbers_read_well_at_every_size() {
        assert_eq!(number(12_345.6), "12,346");
        assert_eq!(number(42.26), "42.3");
        assert_eq!(number(1.234), "1.23");
        assert_eq!(number(0.01234), "0.012");
    }
}
