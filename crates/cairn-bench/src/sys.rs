//! What the benchmarks read from the machine: a process's resident memory
//! and CPU time from `/proc`, the file-descriptor limit, and a description
//! of the machine for the results.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;

/// Resident memory of a process, in KiB (`VmRSS`).
pub fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    status_field(&status, "VmRSS:").with_context(|| format!("no VmRSS for process {pid}"))
}

fn status_field(status: &str, name: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

/// CPU time (user + system) a process has used so far.
pub fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    stat_seconds(pid, 14, 15)
}

/// CPU time (user + system) of a process's children that have ended and
/// been waited for (`cutime` + `cstime`).
pub fn children_cpu_time(pid: u32) -> anyhow::Result<Duration> {
    stat_seconds(pid, 16, 17)
}

/// The sum of two clock-tick fields of `/proc/PID/stat` (numbered as in
/// proc(5)), as a duration.
fn stat_seconds(pid: u32, first: usize, second: usize) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // The command name (field 2) is in parentheses and may hold spaces;
    // the state, field 3, follows it.
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("malformed /proc stat")?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |index: usize| -> anyhow::Result<i64> {
        fields
            .get(index - 3)
            .context("short /proc stat")?
            .parse::<i64>()
            .context("malformed /proc stat tick count")
    };
    let total = (ticks(first)? + ticks(second)?).max(0);
    Ok(Duration::from_secs_f64(
        total as f64 / clock_ticks_per_second(),
    ))
}

/// The processes whose parent is `pid` (read from every `/proc/N/stat`).
pub fn children(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| {
            std::fs::read_to_string(format!("/proc/{child}/stat"))
                .ok()
                .and_then(|stat| {
                    // After the name: state (field 3), then the parent (4).
                    let (_, rest) = stat.rsplit_once(')')?;
                    rest.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(pid)
        })
        .collect()
}

fn clock_ticks_per_second() -> f64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .map(|t| t as f64)
        .unwrap_or(100.0)
}

/// CPU use of a process over `window`, in percent of one core.
pub async fn cpu_percent_over(pid: u32, window: Duration) -> anyhow::Result<f64> {
    let before = cpu_time(pid)?;
    tokio::time::sleep(window).await;
    let after = cpu_time(pid)?;
    Ok(100.0 * (after.saturating_sub(before)).as_secs_f64() / window.as_secs_f64())
}

/// Raises this process's open-file limit towards `wanted` (children
/// inherit it). Returns the soft limit now in force; it is below `wanted`
/// when the machine does not allow more.
pub fn raise_open_files(wanted: u64) -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return 1024;
    };
    if soft >= wanted {
        return soft;
    }
    // Root may raise the hard limit as well; anyone may go up to it.
    if hard < wanted && setrlimit(Resource::RLIMIT_NOFILE, wanted, wanted).is_ok() {
        return wanted;
    }
    let target = wanted.min(hard);
    match setrlimit(Resource::RLIMIT_NOFILE, target, hard) {
        Ok(()) => target,
        Err(_) => soft,
    }
}

/// One line about the machine the run happened on.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_gib =
        status_field(&meminfo, "MemTotal:").map_or(0.0, |kib| kib as f64 / 1_048_576.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let os = os_name(Path::new("/etc/os-release"));
    format!(
        "{cores} × {model}, {memory_gib:.0} GiB RAM, {os}, Linux {}",
        kernel.trim()
    )
}

fn os_name(path: &Path) -> String {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_string())
        })
        .unwrap_or_else(|| "unknown OS".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_its_own_memory_and_cpu() {
        let pid = std::process::id();
        assert!(rss_kib(pid).expect("rss") > 100);
        cpu_time(pid).expect("cpu");
        assert!(machine().contains("RAM"), "{}", machine());
    }
}
