//! `cairn demo`: the whole product on one machine, in one command — a
//! server, a local agent (approved), a local restic repository, and a first
//! backup that runs at once. Everything goes through the same service layer
//! the API uses, acting as the local CLI.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use cairn_agent::{Agent, AgentConfig, AgentEvent, Policy};
use cairn_domain::{BackupSpec, InitSpec, JobSpec, Trigger};
use cairn_proto::v1 as pb;
use cairn_server::auth::Principal;
use cairn_server::config::TlsMode;
use cairn_server::jobs::{Event, JobRequest};
use cairn_server::repos::NewRepository;
use cairn_server::{Server, ServerConfig};
use cairn_store::{HostId, JobId, JobStatus, Page, RepositoryId};
use clap::Args;
use tokio::net::TcpListener;

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Where the demo keeps everything (server data, agent state, repository).
    #[arg(long, default_value = "./cairn-data")]
    data_dir: PathBuf,
    /// Address of the demo server (plaintext: the demo listens on loopback).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// Stop after the first backup instead of running until Ctrl-C (for
    /// tests and scripted checks).
    #[arg(long)]
    exit_after_backup: bool,
}

pub(crate) async fn run(args: DemoArgs) -> ExitCode {
    if let Err(err) =
        crate::logging::init(&crate::logging::cli_filter(), crate::logging::Format::Text)
    {
        eprintln!("error: invalid CAIRN_LOG_LEVEL: {err}");
        return ExitCode::from(crate::EXIT_USAGE);
    }
    match demo(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn demo(args: DemoArgs) -> anyhow::Result<()> {
    let data_dir = std::path::absolute(&args.data_dir)?;
    let listener = TcpListener::bind(&args.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
    let addr = listener.local_addr()?;
    let mut config = ServerConfig::for_data_dir(&data_dir.join("server"));
    config.listen = addr;
    config.tls = TlsMode::Plaintext;
    config.public_url = format!("http://{addr}");
    let server = Server::open(config).await?;
    let api = server.api();
    let setup_link = server.setup_link().map(str::to_string);
    let ui = cairn_web::router(server.api());
    let (stop_server, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve(listener, ui, async {
        let _ = stopped.await;
    }));

    // The local agent, allowed to restore below the demo's own directory.
    let restores = data_dir.join("restores");
    std::fs::create_dir_all(&restores)?;
    let mut agent_config = AgentConfig::new(format!("http://{addr}"), data_dir.join("agent"));
    agent_config.allow_plaintext = true;
    agent_config.policy = Policy {
        restore_roots: vec![restores.clone()],
        ..Policy::default()
    };
    let mut agent = Agent::open(agent_config)?;
    let mut events = agent.subscribe();
    let (stop_agent, agent_stopped) = tokio::sync::oneshot::channel::<()>();
    let agent_task = tokio::spawn(agent.run(async {
        let _ = agent_stopped.await;
    }));

    let cli = Principal::local_cli();
    let host = loop {
        match tokio::time::timeout(Duration::from_secs(30), events.recv()).await {
            Ok(Some(AgentEvent::Welcomed {
                host_id, status, ..
            })) => {
                if status == pb::WelcomeStatus::PendingApproval {
                    api.fleet.approve(&cli, HostId(host_id), None).await?;
                }
                break HostId(host_id);
            }
            Ok(Some(_)) => continue,
            _ => anyhow::bail!("the demo agent did not reach the demo server"),
        }
    };

    // A local repository with a random password, sealed on the server.
    let existing = api.repos.list(&cli, None, Page::first(100)).await?;
    let repository = match existing.items.iter().find(|r| r.name == "demo") {
        Some(repo) => repo.id,
        None => {
            let password =
                cairn_server::auth::SecretToken::generate(cairn_server::auth::TokenKind::Session);
            let repo = api
                .repos
                .create(
                    &cli,
                    NewRepository {
                        name: "demo".into(),
                        url: data_dir.join("repository").display().to_string(),
                        password: password.expose().to_string(),
                        env: Default::default(),
                    },
                )
                .await?;
            api.repos.assign(&cli, repo.id, host).await?;
            let init = run_job(
                &api,
                &cli,
                host,
                repo.id,
                JobSpec::Init(InitSpec::default()),
            )
            .await?;
            anyhow::ensure!(
                init == JobStatus::Succeeded,
                "initialising the demo repository {init:?}"
            );
            repo.id
        }
    };

    // Something to back up: the demo's own sample files.
    let source = data_dir.join("sample");
    std::fs::create_dir_all(&source)?;
    std::fs::write(source.join("hello.txt"), "Backed up by Cairn.\n")?;
    let backup = JobSpec::Backup(BackupSpec {
        paths: vec![source.display().to_string()],
        tags: vec!["demo".into()],
        ..Default::default()
    });
    let status = run_job(&api, &cli, host, repository, backup).await?;
    println!("demo backup of {}: {}", source.display(), status.as_str());
    anyhow::ensure!(
        status == JobStatus::Succeeded,
        "the demo backup did not succeed"
    );

    println!();
    println!("Cairn demo running at http://{addr} (Ctrl-C stops it)");
    match &setup_link {
        Some(link) => println!("  create your admin account: {link}"),
        None => println!("  sign in at http://{addr}/login"),
    }
    println!(
        "  host {host} (this machine) is approved; repository {repository} is at {}",
        data_dir.join("repository").display()
    );
    println!(
        "  run another backup once you have a token (cairn admin --data-dir {} create-token --user <you> --scope operate):",
        data_dir.join("server").display()
    );
    println!(
        "    CAIRN_TOKEN=… cairn ctl --server http://{addr} backup --host {host} --repo {repository} --path {} --wait",
        source.display()
    );
    println!("  restores may write below {}", restores.display());

    if !args.exit_after_backup {
        crate::server_cmd::shutdown_signal().await;
    }
    let _ = stop_agent.send(());
    let _ = agent_task.await;
    let _ = stop_server.send(());
    let _ = serving.await;
    Ok(())
}

/// Submits a job and waits for its end.
async fn run_job(
    api: &cairn_server::Api,
    cli: &Principal,
    host: HostId,
    repository: RepositoryId,
    spec: JobSpec,
) -> anyhow::Result<JobStatus> {
    let job = api
        .jobs
        .submit(
            cli,
            JobRequest {
                host,
                repository,
                spec,
                trigger: Trigger::Manual,
            },
        )
        .await?;
    wait(api, cli, job.id).await
}

/// Follows a job through the same watch the API's `WatchJob` serves, until
/// its final record (or five minutes).
async fn wait(api: &cairn_server::Api, cli: &Principal, id: JobId) -> anyhow::Result<JobStatus> {
    let mut watch = api.jobs.watch(cli, id).await?;
    let followed = tokio::time::timeout(Duration::from_secs(300), async {
        while let Some(event) = watch.next().await {
            if let Event::Finished(job) = event.event {
                return Some(job);
            }
        }
        None
    });
    let job = followed
        .await
        .map_err(|_| anyhow::anyhow!("job {id} did not finish in time"))?
        .ok_or_else(|| anyhow::anyhow!("the server stopped before job {id} finished"))?;
    if let Some(error) = job.error.filter(|e| !e.is_empty()) {
        eprintln!("job {id}: {error}");
    }
    Ok(job.status)
}
