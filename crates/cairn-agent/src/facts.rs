//! What the agent reports about its host.

use std::time::Duration;

use cairn_proto::v1 as pb;

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// `PRETTY_NAME` from `/etc/os-release`, e.g. `Debian GNU/Linux 12 (bookworm)`.
fn os_version() -> String {
    read_trimmed("/etc/os-release")
        .lines()
        .find_map(|line| line.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_default()
}

/// The version of the restic the agent runs (`restic`: a path, or a name
/// looked up in PATH); `None` if it is missing, broken or says something
/// that is not a version.
pub(crate) async fn restic_version(restic: &str) -> Option<cairn_restic::ResticVersion> {
    let run = tokio::process::Command::new(restic)
        .arg("version")
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(Duration::from_secs(10), run).await {
        Ok(Ok(output)) if output.status.success() => {
            cairn_restic::ResticVersion::parse(&String::from_utf8_lossy(&output.stdout)).ok()
        }
        _ => None,
    }
}

/// Gathers the host's facts; `restic` is the program the agent runs.
pub async fn collect_facts(restic: &str) -> pb::HostFacts {
    let hostname = match read_trimmed("/proc/sys/kernel/hostname") {
        name if !name.is_empty() => name,
        _ => read_trimmed("/etc/hostname"),
    };
    pb::HostFacts {
        hostname,
        os: std::env::consts::OS.to_string(),
        os_version: os_version(),
        arch: std::env::consts::ARCH.to_string(),
        kernel: read_trimmed("/proc/sys/kernel/osrelease"),
        agent_version: env!("CARGO_PKG_VERSION").to_string(),
        restic_version: restic_version(restic)
            .await
            .map(|v| v.to_string())
            .unwrap_or_default(),
    }
}
