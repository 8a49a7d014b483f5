//! Two agents presenting one identity (a cloned VM, a copied state dir):
//! while the first holds its session, every attempt of the second is refused
//! the same way (`AlreadyExists`) and audited, the second is never welcomed
//! and never handed a job, the host's record keeps the first's facts, and
//! the first runs every job it is given exactly once.

use std::time::Duration;

use cairn_proto::v1 as pb;
use cairn_proto::v1::server_message::Body as ServerBody;
use cairn_store::{AuditFilter, HostId, Page};
use cairn_testkit::agents;
use cairn_testkit::fleet::Fleet;
use tokio::sync::watch;
use tonic::Code;

const PASSWORD: &str = "duplicate identity repository password";
const BACKUPS: usize = 4;
/// The clone's knocks at most (all audited, all read back in one page).
const MAX_KNOCKS: usize = 200;

/// What the clone saw over all its attempts.
#[derive(Debug, Default)]
struct CloneLog {
    attempts: usize,
    refused_already_exists: usize,
    other_refusals: Vec<String>,
    /// Any server message the clone was sent (a welcome, a job): none may be.
    messages: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloned_identity_is_refused_every_time_and_never_handed_a_job() {
    let mut fleet = Fleet::start().await;
    let (identity, _) =
        cairn_agent::Identity::load_or_create(&fleet.agent_state_dir()).expect("the identity");
    let before = host(&fleet).await;
    let dir = tempfile::tempdir().expect("dir");
    let repository = fleet
        .repository(&dir.path().join("repo").display().to_string(), PASSWORD)
        .await;
    let init = pb::run_maintenance_request::Spec::Init(pb::InitSpec::default());
    assert_eq!(
        fleet.maintenance(repository, init).await.status,
        pb::JobStatus::Succeeded as i32
    );

    // The clone knocks again and again, all the while jobs are handed out.
    let (stop, stopped) = watch::channel(false);
    let clone = tokio::spawn(clone_knocks(
        fleet.server.url.clone(),
        identity.token().to_string(),
        stopped,
    ));
    let source = dir.path().join("source");
    std::fs::create_dir(&source).expect("source");
    std::fs::write(source.join("a"), cairn_testkit::noise(3, 64 * 1024)).expect("file");
    let mut snapshots = Vec::new();
    for _ in 0..BACKUPS {
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
        snapshots.push(done.snapshot_id);
    }
    let _ = stop.send(true);
    let seen = clone.await.expect("the clone's task");

    println!(
        "duplicate identity: {} attempts, {} refused AlreadyExists, {} other refusals, {} messages to the clone, {BACKUPS} jobs run by the original",
        seen.attempts,
        seen.refused_already_exists,
        seen.other_refusals.len(),
        seen.messages.len()
    );
    assert!(
        seen.attempts >= 3,
        "the clone tried while jobs ran: {seen:?}"
    );
    assert_eq!(seen.refused_already_exists, seen.attempts, "{seen:?}");
    assert!(
        seen.messages.is_empty(),
        "the clone was sent: {:?}",
        seen.messages
    );

    // Each job ran once, on the original: one snapshot each, all distinct.
    let listed = cairn_restic::parse_snapshots(&cairn_testkit::jobs::restic(
        &dir.path().join("repo"),
        PASSWORD,
        &["snapshots", "--json"],
    ))
    .expect("restic's snapshot list");
    assert_eq!(listed.len(), BACKUPS, "one snapshot per job");
    for id in &snapshots {
        assert!(listed.iter().any(|s| &s.id == id), "snapshot {id} is there");
    }

    // The clone's claims changed nothing about the host, and each knock is
    // in the audit log.
    let after = host(&fleet).await;
    assert_eq!(
        after.facts.hostname, before.facts.hostname,
        "the clone's hostname was not taken"
    );
    assert_eq!(after.last_addr, before.last_addr);
    let audit = fleet
        .server
        .store()
        .await
        .list_audit(
            AuditFilter {
                action_prefix: Some("host.duplicate".into()),
                ..AuditFilter::default()
            },
            Page::first(500),
        )
        .await
        .expect("audit");
    assert_eq!(audit.items.len(), seen.attempts, "every refusal is audited");
    fleet.agent.stop().await.expect("the agent stops cleanly");
}

/// Opens sessions under the cloned identity until told to stop, each with a
/// hostname of its own, and records how each one ended.
async fn clone_knocks(url: String, token: String, mut stop: watch::Receiver<bool>) -> CloneLog {
    let mut log = CloneLog::default();
    while !*stop.borrow() && log.attempts < MAX_KNOCKS {
        log.attempts += 1;
        let hello = agents::hello(&token, &format!("clone-{}", log.attempts));
        let status = match agents::open(&url, hello).await {
            Err(status) => status,
            Ok(mut session) => loop {
                match session.next(Duration::from_secs(30)).await {
                    Err(status) => break status,
                    Ok(None) => break tonic::Status::unknown("the stream ended without a status"),
                    Ok(Some(message)) => log.messages.push(describe(&message)),
                }
            },
        };
        if status.code() == Code::AlreadyExists {
            log.refused_already_exists += 1;
        } else {
            log.other_refusals
                .push(format!("{:?}: {}", status.code(), status.message()));
        }
        tokio::select! {
            _ = stop.changed() => {}
            () = cairn_testkit::poll_pause() => {}
        }
    }
    log
}

fn describe(message: &pb::ServerMessage) -> String {
    match &message.body {
        Some(ServerBody::RunJob(run)) => format!("RunJob {}", run.job_id),
        Some(ServerBody::Welcome(welcome)) => format!("Welcome {:?}", welcome.status),
        other => format!("{other:?}"),
    }
}

async fn host(fleet: &Fleet) -> cairn_store::Host {
    fleet
        .server
        .store()
        .await
        .host(HostId(fleet.host_id))
        .await
        .expect("read the host")
}
