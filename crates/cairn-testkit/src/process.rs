//! Processes a test starts: killed when the test ends, pass or fail, so a
//! failed assertion never leaves an agent or a REST server running after the
//! suite. And the machine's processes as `/proc` lists them, to see that a
//! restic is gone and that no secret is in any argv.

use std::process::{Child, Command};

/// A child process killed (SIGKILL) and reaped when dropped.
#[derive(Debug)]
pub struct ChildGuard {
    child: Option<Child>,
    name: String,
}

impl ChildGuard {
    /// Spawns `command`; panics with `name` if it cannot start.
    pub fn spawn(name: &str, command: &mut Command) -> ChildGuard {
        let child = command
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {name}: {err}"));
        ChildGuard {
            child: Some(child),
            name: name.to_string(),
        }
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// The child's standard output, if it was piped (once).
    pub fn take_stdout(&mut self) -> Option<std::process::ChildStdout> {
        self.child.as_mut().and_then(|child| child.stdout.take())
    }

    /// The child's standard error, if it was piped (once).
    pub fn take_stderr(&mut self) -> Option<std::process::ChildStderr> {
        self.child.as_mut().and_then(|child| child.stderr.take())
    }

    /// Kills the process now (as `kill -9` would) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Err(err) = child.kill() {
                tracing::debug!(name = %self.name, error = %err, "kill: already gone");
            }
            let _ = child.wait();
        }
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The command lines of every process on the machine.
pub fn command_lines() -> Vec<(u32, String)> {
    std::fs::read_dir("/proc")
        .expect("proc")
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter_map(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .ok()
                .map(|raw| (pid, String::from_utf8_lossy(&raw).replace('\0', " ")))
        })
        .collect()
}

/// Whether a restic whose command line holds `marker` (say, the path it
/// backs up) is running.
pub fn restic_running_on(marker: &str) -> bool {
    restic_pid_on(marker).is_some()
}

/// The process id of a restic whose command line holds `marker`, if one runs.
pub fn restic_pid_on(marker: &str) -> Option<u32> {
    command_lines()
        .into_iter()
        .find(|(_, cmd)| cmd.contains("restic") && cmd.contains(marker))
        .map(|(pid, _)| pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_guard_kills_its_process() {
        let mut guard = ChildGuard::spawn("sleep", Command::new("sleep").arg("600"));
        let pid = guard.id();
        assert!(guard.running());
        drop(guard);
        // Killed and reaped: no process, not even a zombie, is left.
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "the process outlived its guard"
        );
    }
}
