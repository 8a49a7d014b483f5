//! The restic timing shim: B8 points an agent's `--restic` at a
//! symlink named `restic` to this binary, in a directory that also holds
//! `shim.conf` (the real restic's path, then the log's). Started so, it
//! notes when it was spawned, runs the real restic with the same arguments
//! and environment, passes its stdout through line by line (noting when the
//! first status line went by), and when restic ends appends one line to the
//! log: `spawned-µs first-status-µs lines subcommand` (first-status-µs is 0
//! when there was none). The agent cannot tell it from restic, and the
//! benchmark learns the hops it could not see from outside: when restic
//! started, and when its first progress left it. Its own start-up (an exec
//! of this binary) counts as Cairn's, which overstates Cairn's part.

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use anyhow::{Context as _, bail};

use crate::sse::now_micros;

/// The configuration file beside the symlink.
const CONF: &str = "shim.conf";

/// A shim set up in `dir` for `restic`; returns the path to give the agent.
pub fn install(dir: &Path, restic: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir).with_context(|| format!("making {}", dir.display()))?;
    let real = which(restic)?;
    let log = dir.join("spawns.log");
    std::fs::write(
        dir.join(CONF),
        format!("{}\n{}\n", real.display(), log.display()),
    )
    .context("writing the shim's configuration")?;
    let link = dir.join("restic");
    let _ = std::fs::remove_file(&link);
    let me = std::env::current_exe().context("locating this binary")?;
    std::os::unix::fs::symlink(&me, &link).context("linking the shim")?;
    Ok((link, log))
}

/// What one restic run through the shim said.
#[derive(Debug, Clone, PartialEq)]
pub struct Spawn {
    /// When the shim started, µs since the epoch.
    pub spawned: u64,
    /// When restic's first status line passed, if one did.
    pub first_status: Option<u64>,
    /// Lines restic wrote to stdout.
    pub lines: u64,
    /// restic's subcommand (`backup`, `snapshots`, `version`…).
    pub subcommand: String,
}

/// Every run logged so far.
pub fn spawns(log: &Path) -> Vec<Spawn> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines().filter_map(parse).collect()
}

fn parse(line: &str) -> Option<Spawn> {
    let mut fields = line.split_whitespace();
    let spawned = fields.next()?.parse().ok()?;
    let first_status = fields.next()?.parse().ok().filter(|t| *t != 0);
    let lines = fields.next()?.parse().ok()?;
    let subcommand = fields.next().unwrap_or("").to_string();
    Some(Spawn {
        spawned,
        first_status,
        lines,
        subcommand,
    })
}

/// When this process was started as the shim (argv[0] is a `restic` beside
/// a `shim.conf`), its whole life; `None` otherwise.
pub fn run_if_shim() -> Option<ExitCode> {
    let spawned = now_micros();
    let argv0 = PathBuf::from(std::env::args_os().next()?);
    if argv0.file_name()? != "restic" {
        return None;
    }
    let conf = argv0.parent()?.join(CONF);
    let text = std::fs::read_to_string(&conf).ok()?;
    Some(match shim(&text, spawned) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("restic shim: {err:#}");
            ExitCode::from(1)
        }
    })
}

fn shim(conf: &str, spawned: u64) -> anyhow::Result<ExitCode> {
    let mut lines = conf.lines();
    let (Some(real), Some(log)) = (lines.next(), lines.next()) else {
        bail!("{CONF} needs the real restic's path, then the log's");
    };
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    let subcommand = args
        .iter()
        .filter_map(|a| a.to_str())
        .find(|a| !a.starts_with('-'))
        .unwrap_or("")
        .to_string();
    let mut child = Command::new(real)
        .args(&args)
        .stdin(Stdio::inherit())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {real}"))?;
    let stdout = child.stdout.take().context("restic's stdout")?;
    let mut reader = BufReader::new(stdout);
    let mut out = std::io::stdout().lock();
    let mut line = Vec::new();
    let mut count = 0u64;
    let mut first_status = 0u64;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        count += 1;
        if first_status == 0 && is_status(&line) {
            first_status = now_micros();
        }
        // Restic's reader (the agent) may have gone; keep draining so restic
        // itself is not stopped by a broken pipe before it ends.
        let _ = out.write_all(&line).and_then(|()| out.flush());
    }
    let status = child.wait().context("waiting for restic")?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("opening {log}"))?;
    writeln!(file, "{spawned} {first_status} {count} {subcommand}")?;
    Ok(match status.code() {
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::from(1),
    })
}

fn is_status(line: &[u8]) -> bool {
    let needle = b"\"message_type\":\"status\"";
    line.windows(needle.len()).any(|w| w == needle)
}

/// `program` as a path: itself when it has a slash, else found in PATH.
pub fn which(program: &Path) -> anyhow::Result<PathBuf> {
    if program.components().count() > 1 {
        return Ok(program.to_path_buf());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
        .with_context(|| format!("{} is not in PATH", program.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_read_back() {
        assert_eq!(
            parse("1700000000000000 1700000000200000 42 backup"),
            Some(Spawn {
                spawned: 1_700_000_000_000_000,
                first_status: Some(1_700_000_000_200_000),
                lines: 42,
                subcommand: "backup".into(),
            })
        );
        assert_eq!(parse("17 0 1 version").and_then(|s| s.first_status), None);
        assert_eq!(parse("garbage"), None);
    }

    #[test]
    fn status_lines_are_told_from_others() {
        assert!(is_status(
            br#"{"message_type":"status","percent_done":0.5}"#
        ));
        assert!(!is_status(br#"{"message_type":"summary"}"#));
    }
}
