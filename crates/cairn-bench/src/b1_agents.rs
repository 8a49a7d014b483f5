//! B1, agents held: a fleet of simulated agents (each its own TLS
//! connection and `Session` stream) grown in steps, 2,500 → 5,000 → 10,000.
//! At each step: the server's memory per agent, its idle CPU, and
//! command push (run now → `RunJob` at the agent). At the top step the
//! server is killed with `kill -9` and restarted, and every agent's way back
//! (the real agent's jittered backoff, the accept queue, the TLS
//! handshakes) is timed. The same generator runs against the reference, a
//! bare tonic stream server (`reference_gateway.rs`), in the same job.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use cairn_proto::v1::job_service_client::JobServiceClient;

use crate::Ctx;
use crate::api;
use crate::fixture::{Authed, BenchServer, ServerOptions};
use crate::reference_gateway::ReferenceGateway;
use crate::report::{Goal, Results, Row, Summary};
use crate::sim::{self, Dialer, OnJob, SimAgent, Tally};
use crate::sse::now_micros;

/// Agents started at once while the fleet grows (the reconnect storm is
/// the test of everyone at once).
const STARTING_AT_ONCE: usize = 200;
/// Cairn's default heartbeat interval (and the reference's).
const HEARTBEAT: Duration = Duration::from_secs(15);
/// After a step has grown, before it is measured.
const SETTLE: Duration = Duration::from_secs(5);
/// How long the storm's agents are waited for.
const STORM_DEADLINE: Duration = Duration::from_secs(120);
/// The storm's goal: this share back within this long.
const BACK_WITHIN: Duration = Duration::from_secs(45);

/// What one server measured.
#[derive(Debug, Default)]
struct Held {
    steps: Vec<Step>,
    /// Seconds from restart to each agent's welcome (the missing ones
    /// counted at the deadline).
    back: Vec<f64>,
    /// How many were back within `BACK_WITHIN`.
    back_in_time: usize,
}

#[derive(Debug)]
struct Step {
    agents: usize,
    kib_per_agent: f64,
    cpu_percent: f64,
    push_ms: Vec<f64>,
}

/// The server under the fleet: Cairn, or the reference.
enum Target {
    Cairn {
        server: BenchServer,
        jobs: JobServiceClient<Authed>,
        work: std::path::PathBuf,
    },
    Reference(ReferenceGateway),
}

impl Target {
    fn pid(&self) -> anyhow::Result<u32> {
        match self {
            Target::Cairn { server, .. } => server.pid(),
            Target::Reference(gateway) => gateway.pid(),
        }
    }

    fn kill9(&mut self) {
        match self {
            Target::Cairn { server, .. } => server.kill9(),
            Target::Reference(gateway) => gateway.kill9(),
        }
    }

    fn spawn(&mut self) -> anyhow::Result<Instant> {
        match self {
            Target::Cairn { server, .. } => server.spawn(),
            Target::Reference(gateway) => gateway.spawn(),
        }
    }

    /// Times one push to each of `hosts`, from the request to the agent
    /// reading its `RunJob`, in ms.
    async fn pushes(&mut self, hosts: &[i64], tally: &Tally) -> anyhow::Result<Vec<f64>> {
        let repository = match self {
            Target::Cairn { server, work, .. } => {
                let name = format!("b1-{}", hosts.first().copied().unwrap_or(0));
                Some(api::assigned_repository(server, work, &name, hosts).await?)
            }
            Target::Reference(_) => None,
        };
        let mut samples = Vec::with_capacity(hosts.len());
        for (n, &host) in hosts.iter().enumerate() {
            tally.take_receipts();
            let sent = now_micros();
            let job = match (&mut *self, repository) {
                (Target::Cairn { jobs, .. }, Some(repository)) => {
                    api::run_backup(jobs, host, repository, "/srv").await?
                }
                (Target::Reference(gateway), _) => {
                    let job = n as i64 + 1;
                    gateway.push(host, job).await?;
                    job
                }
                (Target::Cairn { .. }, None) => bail!("no repository to back up to"),
            };
            let arrived = receipt(tally, job).await?;
            samples.push(arrived.saturating_sub(sent) as f64 / 1000.0);
        }
        Ok(samples)
    }
}

/// Waits (generously) for `job`'s `RunJob` to reach its agent; when it did,
/// in µs.
async fn receipt(tally: &Tally, job: i64) -> anyhow::Result<u64> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let found = tally
            .receipts
            .lock()
            .ok()
            .and_then(|r| r.iter().find(|(id, _)| *id == job).map(|(_, at)| *at));
        if let Some(at) = found {
            return Ok(at);
        }
        if Instant::now() > deadline {
            bail!("job {job} never reached its agent");
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

pub async fn run(ctx: &Ctx, results: &mut Results) -> anyhow::Result<()> {
    let steps: Vec<usize> = ctx.scale(vec![2_500, 5_000, 10_000], vec![250, 500, 1_000]);
    let pushes = ctx.scale(200, 50);
    let top = steps.iter().copied().max().unwrap_or(0);
    // Each side of a connection is a descriptor, and the servers are this
    // process's children: they inherit the limit.
    let wanted = top as u64 + 4_096;
    let limit = crate::sys::raise_open_files(wanted);
    if limit < wanted {
        results.remark(format!(
            "B1 wanted {wanted} open files and the machine allows {limit}: the top step may fail to connect every agent"
        ));
    }

    let reference = {
        let gateway = ReferenceGateway::start(&ctx.work.join("b1-reference")).await?;
        let dialer = Dialer::new(&gateway.url, Some(&gateway.fingerprint))?;
        hold(Target::Reference(gateway), &dialer, "", &steps, pushes).await?
    };
    let cairn = {
        let server = BenchServer::start(ctx, ServerOptions::default()).await?;
        let enroll = api::enrollment_token(&server, &[]).await?;
        let dialer = server.dialer()?;
        let jobs = JobServiceClient::new(server.api().await?);
        let target = Target::Cairn {
            server,
            jobs,
            work: ctx.work.clone(),
        };
        hold(target, &dialer, &enroll, &steps, pushes).await?
    };

    const REFERENCE: &str = "bare tonic stream server";
    for (ours, theirs) in cairn.steps.iter().zip(&reference.steps) {
        let n = ours.agents;
        results.push(
            Row::new(
                "B1",
                format!("server memory per agent, {n} agents"),
                "KiB",
                Summary::single(ours.kib_per_agent),
            )
            .reference(REFERENCE, Summary::single(theirs.kib_per_agent))
            .goal(Goal::AtMost(64.0)),
        );
        results.push(
            Row::new(
                "B1",
                format!("idle server CPU, {n} agents"),
                "% core",
                Summary::single(ours.cpu_percent),
            )
            .reference(REFERENCE, Summary::single(theirs.cpu_percent))
            .note("over one heartbeat interval, 15 s"),
        );
        if let (Some(ours_push), Some(theirs_push)) =
            (Summary::of(&ours.push_ms), Summary::of(&theirs.push_ms))
        {
            results.push(
                Row::new("B1", format!("command push, {n} agents"), "ms", ours_push)
                    .reference(REFERENCE, theirs_push)
                    .goal(Goal::AtMost(50.0))
                    .note(format!(
                        "{} run-now requests → RunJob read by the agent",
                        ours.push_ms.len()
                    )),
            );
        }
    }
    if let (Some(ours), Some(theirs)) = (Summary::of(&cairn.back), Summary::of(&reference.back)) {
        results.push(
            Row::new(
                "B1",
                format!("back after kill -9 and restart, {top} agents"),
                "s",
                ours,
            )
            .reference(REFERENCE, theirs)
            .note("each agent's time from the restart to its welcome"),
        );
        let share = |held: &Held| 100.0 * held.back_in_time as f64 / top.max(1) as f64;
        results.push(
            Row::new(
                "B1",
                format!(
                    "agents back within {} s of the restart, {top} agents",
                    BACK_WITHIN.as_secs()
                ),
                "%",
                Summary::single(share(&cairn)),
            )
            .reference(REFERENCE, Summary::single(share(&reference)))
            .goal(Goal::AtLeast(99.0)),
        );
    }
    Ok(())
}

/// Grows a fleet against `target` step by step, measuring at each, then
/// kills and restarts it under the whole fleet.
async fn hold(
    mut target: Target,
    dialer: &Dialer,
    enroll: &str,
    steps: &[usize],
    pushes: usize,
) -> anyhow::Result<Held> {
    let name = match target {
        Target::Cairn { .. } => "cairn",
        Target::Reference(_) => "reference",
    };
    let pid = target.pid()?;
    let idle_kib = crate::sys::rss_kib(pid)?;
    let tally = Arc::new(Tally::default());
    let mut agents: Vec<SimAgent> = Vec::new();
    let mut held = Held::default();
    for &count in steps {
        let began = Instant::now();
        let grown_from = agents.len();
        let range = agents.len()..count;
        agents.extend(
            sim::fleet(
                dialer,
                "b1-host",
                range,
                enroll,
                OnJob::Finish,
                &tally,
                STARTING_AT_ONCE,
            )
            .await?,
        );
        println!(
            "  {name}: {count} agents online ({:.0} s to grow)",
            began.elapsed().as_secs_f64()
        );
        // Idle is after enrollment's writes are done; the window is one
        // heartbeat interval, so every agent's heartbeat falls in it once.
        tokio::time::sleep(SETTLE).await;
        let cpu_percent = crate::sys::cpu_percent_over(pid, HEARTBEAT).await?;
        let kib = crate::sys::rss_kib(pid)?.saturating_sub(idle_kib);
        // Hosts this step added (so none is pushed to twice), spread out.
        let added = &agents[grown_from..];
        let stride = (added.len() / pushes.max(1)).max(1);
        let hosts: Vec<i64> = added
            .iter()
            .step_by(stride)
            .take(pushes)
            .map(|a| a.host_id)
            .collect();
        let push_ms = target.pushes(&hosts, &tally).await?;
        held.steps.push(Step {
            agents: count,
            kib_per_agent: kib as f64 / count as f64,
            cpu_percent,
            push_ms,
        });
    }

    // The storm: every agent loses its server at once, and comes back.
    let count = agents.len();
    target.kill9();
    wait_for(|| tally.online() == 0, Duration::from_secs(60))
        .await
        .context("agents did not notice the server was gone")?;
    tally.take_welcomed();
    let restarted = target.spawn()?;
    let everyone = wait_for(|| tally.online() >= count, STORM_DEADLINE).await;
    // Each agent's first welcome after the restart (one welcomed twice,
    // after a session that did not last, counts once).
    let mut first: HashMap<usize, Instant> = HashMap::new();
    for (agent, at) in tally.take_welcomed() {
        first.entry(agent).or_insert(at);
    }
    held.back = first
        .values()
        .map(|at| at.saturating_duration_since(restarted).as_secs_f64())
        .collect();
    held.back_in_time = held
        .back
        .iter()
        .filter(|s| **s <= BACK_WITHIN.as_secs_f64())
        .count();
    let missing = count.saturating_sub(held.back.len());
    held.back
        .extend(std::iter::repeat_n(STORM_DEADLINE.as_secs_f64(), missing));
    println!(
        "  {name}: {} of {count} back after the restart{}",
        count - missing,
        if everyone.is_ok() { "" } else { " (deadline)" }
    );
    drop(agents);
    target.kill9();
    Ok(held)
}

/// Polls `done` every 20 ms until it holds, or fails after `deadline`.
async fn wait_for(done: impl Fn() -> bool, deadline: Duration) -> anyhow::Result<()> {
    let began = Instant::now();
    while !done() {
        if began.elapsed() > deadline {
            bail!("not within {deadline:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}
