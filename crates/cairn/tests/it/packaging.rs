//! The systemd units in `packaging/systemd/` start the binary the way it is
//! actually called, and stay hardened: systemd's own exposure score is held
//! under a ceiling, and the one capability the agent gets is the one the
//! book explains.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::cli::cairn;

fn unit_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../packaging/systemd")
        .join(name)
}

fn unit(name: &str) -> String {
    std::fs::read_to_string(unit_path(name)).expect("unit file")
}

/// The values of `KEY=` lines, in order, comments left out.
fn values<'a>(text: &'a str, key: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.strip_prefix(key)?.strip_prefix('='))
        .collect()
}

/// Every flag in ExecStart and every `CAIRN_*` variable in Environment is
/// one the subcommand's `--help` names: a renamed flag fails here, not at
/// an operator's first boot.
fn assert_binary_accepts(text: &str, subcommand: &str) {
    let exec = values(text, "ExecStart");
    assert_eq!(exec.len(), 1, "one ExecStart: {exec:?}");
    let words: Vec<&str> = exec[0].split_whitespace().collect();
    assert_eq!(&words[..2], ["/usr/bin/cairn", subcommand], "{exec:?}");
    let help = cairn()
        .args([subcommand, "--help"])
        .output()
        .expect("run cairn");
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in words.iter().filter(|w| w.starts_with("--")) {
        assert!(help.contains(flag), "`cairn {subcommand}` has no {flag}");
    }
    for assignment in values(text, "Environment") {
        let (name, _) = assignment.split_once('=').expect("NAME=value");
        if name.starts_with("CAIRN_") {
            assert!(
                help.contains(&format!("{name}=")) || server_key_env(name),
                "`cairn {subcommand}` reads no {name}"
            );
        }
    }
}

fn server_key_env(name: &str) -> bool {
    cairn_server::config::KEYS.iter().any(|key| key.env == name)
}

/// systemd's exposure score for the unit, offline, must stay at or under
/// `ceiling` (0 is locked down, 100 is a unit with no sandbox at all).
fn assert_exposure_at_most(name: &str, ceiling: u32) {
    let status = Command::new("systemd-analyze")
        .args(["security", "--offline=yes"])
        .arg(format!("--threshold={ceiling}"))
        .arg(unit_path(name))
        .output()
        .expect("systemd-analyze (scripts/install-deps installs systemd)");
    assert!(
        status.status.success(),
        "{name} is exposed above {ceiling}:\n{}",
        String::from_utf8_lossy(&status.stdout)
    );
}

#[test]
fn the_server_unit_runs_as_its_own_user_with_no_capability() {
    let text = unit("cairn-server.service");
    assert_binary_accepts(&text, "server");
    assert_eq!(values(&text, "User"), ["cairn"]);
    assert_eq!(values(&text, "CapabilityBoundingSet"), [""]);
    for (key, value) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("StateDirectoryMode", "0700"),
    ] {
        assert_eq!(values(&text, key), [value], "{key}");
    }
    assert_exposure_at_most("cairn-server.service", 20);
}

#[test]
fn the_agent_unit_gets_read_access_and_nothing_more() {
    let text = unit("cairn-agent.service");
    assert_binary_accepts(&text, "agent");
    assert_eq!(values(&text, "User"), ["cairn-agent"]);
    assert_eq!(
        values(&text, "CapabilityBoundingSet"),
        ["CAP_DAC_READ_SEARCH"]
    );
    assert_eq!(
        values(&text, "AmbientCapabilities"),
        ["CAP_DAC_READ_SEARCH"]
    );
    for (key, value) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "read-only"),
        ("StateDirectoryMode", "0700"),
    ] {
        assert_eq!(values(&text, key), [value], "{key}");
    }
    assert_exposure_at_most("cairn-agent.service", 30);
}
