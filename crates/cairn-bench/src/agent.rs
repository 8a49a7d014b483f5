//! A real `cairn agent` as a child process, enrolled into a benchmark's
//! server the way an operator enrolls one: a token file, the server's
//! fingerprint pinned, the paths it may back up, and the restic it runs
//! (the real one, or the timing shim in front of it, `shim.rs`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use cairn_proto::v1 as pb;
use cairn_proto::v1::host_service_client::HostServiceClient;

use crate::fixture::BenchServer;

/// A running `cairn agent`, approved.
#[derive(Debug)]
pub struct BenchAgent {
    child: Option<Child>,
    /// The host the server knows it as.
    pub host_id: i64,
    /// Its log (stdout and stderr).
    pub log: PathBuf,
}

impl BenchAgent {
    /// Enrolls an agent named `name` (its state and log under `dir`) that
    /// may back up below `backup_root` with `restic`, and waits until the
    /// server has it online.
    pub async fn start(
        cairn: &Path,
        server: &BenchServer,
        dir: &Path,
        name: &str,
        restic: &Path,
        backup_root: &Path,
    ) -> anyhow::Result<BenchAgent> {
        std::fs::create_dir_all(dir).with_context(|| format!("making {}", dir.display()))?;
        let token = crate::api::enrollment_token(server, &[("bench", name)]).await?;
        let token_file = dir.join("enroll-token");
        std::fs::write(&token_file, token).context("writing the enrollment token")?;
        let log = dir.join("agent.log");
        let out = std::fs::File::create(&log).context("creating the agent's log")?;
        let cache = dir.join("cache");
        let mut command = Command::new(cairn);
        command
            .arg("agent")
            .arg("--server")
            .arg(&server.url)
            .arg("--state-dir")
            .arg(dir.join("state"))
            .arg("--enroll-token-file")
            .arg(&token_file)
            .arg("--backup-root")
            .arg(backup_root)
            .arg("--restic")
            .arg(restic)
            .env("CAIRN_LOG_LEVEL", "warn")
            // restic's cache, kept with the agent's other state.
            .env("XDG_CACHE_HOME", &cache)
            .stdin(Stdio::null())
            .stdout(out.try_clone().context("log")?)
            .stderr(out);
        if let Some(fingerprint) = &server.fingerprint {
            command.arg("--server-fingerprint").arg(fingerprint);
        }
        let child = command
            .spawn()
            .with_context(|| format!("starting {} agent", cairn.display()))?;
        // Owned by the value from here, so a failure below stops it.
        let mut agent = BenchAgent {
            child: Some(child),
            host_id: 0,
            log,
        };
        agent.host_id = online_host(server, name, &mut agent)
            .await
            .with_context(|| format!("see {}", agent.log.display()))?;
        Ok(agent)
    }

    /// The agent's process id.
    pub fn pid(&self) -> anyhow::Result<u32> {
        self.child
            .as_ref()
            .map(Child::id)
            .context("the agent is not running")
    }
}

impl Drop for BenchAgent {
    fn drop(&mut self) {
        crate::fixture::kill9(&mut self.child);
    }
}

/// Waits until the host enrolled with the `bench = name` label is online.
async fn online_host(
    server: &BenchServer,
    name: &str,
    agent: &mut BenchAgent,
) -> anyhow::Result<i64> {
    let mut hosts = HostServiceClient::new(server.api().await?);
    let began = Instant::now();
    loop {
        if let Some(child) = agent.child.as_mut()
            && let Some(status) = child.try_wait().context("waiting on the agent")?
        {
            bail!("the agent exited with {status}");
        }
        let listed = hosts
            .list_hosts(pb::ListHostsRequest {
                label_selector: [("bench".to_string(), name.to_string())].into(),
                online: Some(true),
                ..Default::default()
            })
            .await
            .context("listing hosts")?
            .into_inner();
        if let Some(host) = listed.hosts.first() {
            return Ok(host.id);
        }
        if began.elapsed() > Duration::from_secs(60) {
            bail!("the agent was not online within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Initialises a restic repository at `path` with `password` (by hand, as
/// an operator would before adding it to Cairn).
pub fn init_repository(restic: &Path, path: &Path, password: &str) -> anyhow::Result<()> {
    let output = Command::new(restic)
        .arg("init")
        .arg("--repo")
        .arg(path)
        .env("RESTIC_PASSWORD", password)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {} init", restic.display()))?;
    if !output.status.success() {
        bail!(
            "restic init failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}
