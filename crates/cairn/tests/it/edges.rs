//! The binary's edges: what it writes to a log that is not a terminal, and
//! where `cairn ctl` refuses to send a token.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use cairn_testkit::ChildGuard;

use crate::cli::cairn;

#[test]
fn a_log_that_is_not_a_terminal_gets_no_colour_codes() {
    let dir = tempfile::tempdir().expect("dir");
    let mut server = ChildGuard::spawn(
        "cairn server",
        cairn()
            .args([
                "server",
                "--listen",
                "127.0.0.1:0",
                "--log-level",
                "info",
                "--data-dir",
            ])
            .arg(dir.path().join("data"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    );
    let stderr = server.take_stderr().expect("stderr");
    // Read until the server says it serves (or the deadline passes); the
    // reader runs on its own thread so a silent server cannot hang the test.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut seen = String::new();
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            seen.push_str(&line);
            seen.push('\n');
            if line.contains("serving gRPC") {
                break;
            }
        }
        let _ = tx.send(seen);
    });
    let seen = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("the server logged that it serves");
    server.kill();
    assert!(seen.contains("serving gRPC"), "{seen}");
    assert!(
        !seen.contains('\u{1b}'),
        "ANSI escape in a piped log: {seen:?}"
    );
}

#[test]
fn ctl_refuses_to_send_a_token_in_plaintext_off_this_machine() {
    // 0.0.0.0 is not loopback by name, yet connecting to it stays on this
    // machine: nothing leaves it, whichever way the check goes.
    let refused = cairn()
        .args(["ctl", "--server", "http://0.0.0.0:1", "whoami"])
        .env("CAIRN_TOKEN", "cairn_pat_not_a_real_token_at_all")
        .output()
        .expect("run ctl");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("refusing to send the API token in plaintext"),
        "{stderr}"
    );

    // With the flag it tries (and finds nothing listening); on loopback it
    // needs no flag.
    for args in [
        &[
            "ctl",
            "--allow-plaintext",
            "--server",
            "http://0.0.0.0:1",
            "whoami",
        ][..],
        &["ctl", "--server", "http://127.0.0.1:1", "whoami"][..],
        &["ctl", "--server", "http://[::1]:1", "whoami"][..],
        &["ctl", "--server", "http://localhost:1", "whoami"][..],
    ] {
        let tried = cairn()
            .args(args)
            .env("CAIRN_TOKEN", "cairn_pat_not_a_real_token_at_all")
            .output()
            .expect("run ctl");
        let stderr = String::from_utf8_lossy(&tried.stderr);
        assert!(!tried.status.success());
        assert!(stderr.contains("cannot reach"), "{args:?}: {stderr}");
    }
}
