//! `cairn-bench`: Cairn's benchmark suite (DESIGN §17, issue #12). Every
//! figure is printed beside a reference run in the same job, as a ratio,
//! because the machines it runs on are shared and noisy.
//!
//! `make bench` runs the whole suite; `make bench-quick` a smaller one in a
//! few minutes. Neither is part of `make test`: benchmarks never gate CI.

mod agent;
mod api;
mod b0_calibration;
mod b1_agents;
mod b2_ingest;
mod b3_fanout;
mod b4_pages;
mod b6_footprint;
mod b7_overhead;
mod b8_latency;
mod b9_agent;
mod dataset;
mod dialer;
mod fixture;
mod reference_gateway;
mod reference_pipeline;
mod report;
mod said;
mod seed;
mod shim;
mod sim;
mod sse;
mod sys;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;
use clap::Parser;

use report::Results;

/// Cairn's benchmarks: each row beside a reference run in the same job.
#[derive(Debug, Parser)]
#[command(name = "cairn-bench")]
struct Args {
    /// The smaller suite (a few minutes) instead of the full one.
    #[arg(long)]
    quick: bool,
    /// Run only these benchmarks (`B0,B1,…`).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// The `cairn` binary to measure (default: beside this one).
    #[arg(long)]
    cairn: Option<PathBuf>,
    /// The restic binary (default: `restic` in PATH).
    #[arg(long, default_value = "restic")]
    restic: PathBuf,
    /// Scratch directory (emptied first; default target/bench/work).
    #[arg(long)]
    work: Option<PathBuf>,
    /// Write the results table into this book chapter, between its
    /// `<!-- bench:begin -->` and `<!-- bench:end -->` markers.
    #[arg(long)]
    book: Option<PathBuf>,
    /// B2's sustained window, in seconds (default 30, or 20 in the quick
    /// suite; DESIGN §17 asks 300, which takes the full suite past 20 minutes).
    #[arg(long, value_name = "SECONDS")]
    ingest_seconds: Option<u64>,
    /// Internal: serve B1's reference gateway with the certificate in this
    /// directory (the benchmark starts this binary so).
    #[arg(long, hide = true, requires = "listen")]
    reference_gateway: Option<PathBuf>,
    /// Internal: where the reference gateway listens.
    #[arg(long, hide = true)]
    listen: Option<std::net::SocketAddr>,
}

/// What every benchmark gets.
#[derive(Debug)]
pub struct Ctx {
    /// The smaller suite.
    pub quick: bool,
    /// The `cairn` binary under test.
    pub cairn: PathBuf,
    /// The restic binary.
    pub restic: PathBuf,
    /// Scratch space on a real disk.
    pub work: PathBuf,
    /// B2's sustained window, when given.
    pub ingest_window: Option<std::time::Duration>,
}

impl Ctx {
    /// `full` in the full suite, `quick` in the quick one.
    pub fn scale<T>(&self, full: T, quick: T) -> T {
        if self.quick { quick } else { full }
    }
}

type Bench = for<'a> fn(
    &'a Ctx,
    &'a mut Results,
) -> std::pin::Pin<Box<dyn Future<Output = anyhow::Result<()>> + 'a>>;

/// The suite, in the order it runs.
fn suite() -> Vec<(&'static str, &'static str, Bench)> {
    vec![
        (
            "B0",
            "calibration: fdatasync, loopback round trip, raw SQLite inserts",
            |ctx, results| Box::pin(b0_calibration::run(ctx, results)),
        ),
        (
            "B1",
            "agents held: 2,500 → 5,000 → 10,000 agents, memory, idle CPU, command push, reconnect after kill -9",
            |ctx, results| Box::pin(b1_agents::run(ctx, results)),
        ),
        (
            "B2",
            "ingest: 1,000 jobs' progress and log lines, sustained, then a 100,000 reports/s burst",
            |ctx, results| Box::pin(b2_ingest::run(ctx, results)),
        ),
        (
            "B3",
            "live fan-out: 1,000 and 5,000 subscribers of one job's progress, SSE and gRPC, with stalled ones",
            |ctx, results| Box::pin(b3_fanout::run(ctx, results)),
        ),
        (
            "B4",
            "pages: the dashboard and paged lists of a seeded fleet, 20 clients at once",
            |ctx, results| Box::pin(b4_pages::run(ctx, results)),
        ),
        (
            "B6",
            "footprint: start → ready (empty and large database), idle RSS and CPU, binary size",
            |ctx, results| Box::pin(b6_footprint::run(ctx, results)),
        ),
        (
            "B7",
            "wrapper overhead: a fixed dataset backed up through the agent and by hand, interleaved",
            |ctx, results| Box::pin(b7_overhead::run(ctx, results)),
        ),
        (
            "B8",
            "control-plane latency: run now → restic spawned → first progress at a subscriber, a real agent and restic",
            |ctx, results| Box::pin(b8_latency::run(ctx, results)),
        ),
    ]
}

fn main() -> ExitCode {
    // An agent started this binary as its restic (B8's timing shim).
    if let Some(code) = shim::run_if_shim() {
        return code;
    }
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    if let (Some(dir), Some(listen)) = (&args.reference_gateway, args.listen) {
        return match runtime.block_on(reference_gateway::serve(dir, listen)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("error: {err:#}");
                ExitCode::FAILURE
            }
        };
    }
    match runtime.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the suite; `Ok(false)` when a benchmark could not run.
async fn run(args: Args) -> anyhow::Result<bool> {
    let cairn = match args.cairn {
        Some(path) => path,
        None => std::env::current_exe()
            .context("locating this binary")?
            .with_file_name("cairn"),
    };
    anyhow::ensure!(
        cairn.is_file(),
        "no cairn binary at {} (build it, or pass --cairn)",
        cairn.display()
    );
    let work = args
        .work
        .unwrap_or_else(|| PathBuf::from("target/bench/work"));
    if work.exists() {
        std::fs::remove_dir_all(&work).with_context(|| format!("emptying {}", work.display()))?;
    }
    std::fs::create_dir_all(&work).with_context(|| format!("making {}", work.display()))?;
    let ctx = Ctx {
        quick: args.quick,
        cairn: std::fs::canonicalize(&cairn)?,
        restic: args.restic,
        work: std::fs::canonicalize(&work)?,
        ingest_window: args.ingest_seconds.map(std::time::Duration::from_secs),
    };
    let machine = sys::machine();
    let mode = if ctx.quick { "quick" } else { "full" };
    println!("cairn-bench ({mode} suite) on {machine}");
    println!("measuring {}", ctx.cairn.display());
    let mut results = Results::default();
    let started = Instant::now();
    let chosen =
        |name: &str| args.only.is_empty() || args.only.iter().any(|o| o.eq_ignore_ascii_case(name));
    // B9's idle agent is watched while the others run (see b9_agent.rs).
    let idle = if chosen("B9") {
        println!("\nB9: an idle agent, watched while the other benchmarks run");
        match b9_agent::Idle::start(&ctx).await {
            Ok(idle) => Some(idle),
            Err(err) => {
                println!("  B9 did not start: {err:#}");
                results.failures.push(("B9".into(), format!("{err:#}")));
                None
            }
        }
    } else {
        None
    };
    for (name, title, bench) in suite() {
        if !chosen(name) {
            continue;
        }
        println!("\n{name}: {title}");
        let began = Instant::now();
        if let Err(err) = bench(&ctx, &mut results).await {
            println!("  {name} did not finish: {err:#}");
            results
                .failures
                .push((name.to_string(), format!("{err:#}")));
        }
        println!("  ({:.0} s)", began.elapsed().as_secs_f64());
    }
    if let Some(idle) = idle {
        println!("\nB9: agent footprint, idle and during a backup, beside restic");
        let began = Instant::now();
        if let Err(err) = b9_agent::finish(&ctx, &mut results, idle).await {
            println!("  B9 did not finish: {err:#}");
            results.failures.push(("B9".into(), format!("{err:#}")));
        }
        println!("  ({:.0} s)", began.elapsed().as_secs_f64());
    }
    println!("\n{}", results.terminal());
    for remark in &results.remarks {
        println!("note: {remark}");
    }
    println!("whole run: {:.0} s", started.elapsed().as_secs_f64());
    let markdown = format!(
        "Measured {} with `make bench{}` on {machine}.\n\n{}{}",
        today(),
        if ctx.quick { "-quick" } else { "" },
        results.markdown(),
        results
            .remarks
            .iter()
            .map(|r| format!("\n- {r}"))
            .collect::<String>()
    );
    let out = PathBuf::from("target/bench/results.md");
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("making {}", dir.display()))?;
    }
    std::fs::write(&out, &markdown).with_context(|| format!("writing {}", out.display()))?;
    println!("results written to {}", out.display());
    if let Some(book) = args.book {
        write_into_book(&book, &markdown)?;
        println!("and into {}", book.display());
    }
    Ok(results.failures.is_empty())
}

/// Replaces what lies between the chapter's markers with `table`.
fn write_into_book(chapter: &std::path::Path, table: &str) -> anyhow::Result<()> {
    const BEGIN: &str = "<!-- bench:begin -->";
    const END: &str = "<!-- bench:end -->";
    let text = std::fs::read_to_string(chapter)
        .with_context(|| format!("reading {}", chapter.display()))?;
    let (head, rest) = text
        .split_once(BEGIN)
        .with_context(|| format!("{} has no {BEGIN} marker", chapter.display()))?;
    let (_, tail) = rest
        .split_once(END)
        .with_context(|| format!("{} has no {END} marker", chapter.display()))?;
    let updated = format!("{head}{BEGIN}\n{table}\n{END}{tail}");
    std::fs::write(chapter, updated).with_context(|| format!("writing {}", chapter.display()))
}

/// Today's date, UTC, as YYYY-MM-DD.
fn today() -> String {
    chrono::Utc::now().format("%Y-%m-%d").to_string()
}
