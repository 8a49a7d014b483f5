//! `cairn ctl notifications` against a real server and a real receiver:
//! add (secret from a file), list (no secret shown), update, test, the
//! deliveries, a refused destination, remove.

use std::process::Output;

use cairn_store::{Role, Scope};
use cairn_testkit::TestServer;
use cairn_testkit::receivers::HttpReceiver;

use crate::cli::cairn;

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

// Two workers: the blocking `cairn` call holds one, the server needs one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_ctl_adds_lists_tests_and_removes_a_signed_webhook() {
    let server = TestServer::start_with(|c| c.allow_private_notification_targets = true).await;
    let receiver = HttpReceiver::start().await;
    let token = server.token_for("ops", Role::Admin, Scope::Admin).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = dir.path().join("signing");
    std::fs::write(&secret, "ctl-signing-secret-123\n").expect("write");
    let ctl = |args: &[&str]| {
        let out = cairn()
            .args(["ctl", "--server", &server.url])
            .args(args)
            .env("CAIRN_TOKEN", &token)
            .output()
            .expect("run cairn");
        (out.status.success(), text(&out))
    };
    let url = receiver.url("/ctl");
    let secret_arg = secret.to_string_lossy().to_string();
    let (ok, (out, err)) = ctl(&[
        "notifications",
        "add",
        "webhook",
        "--name",
        "ops hook",
        "--url",
        &url,
        "--secret-file",
        &secret_arg,
        "--kinds",
        "job_failed,host_offline",
        "--min-severity",
        "warning",
    ]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("added webhook channel"), "{out}");
    let (ok, (out, err)) = ctl(&["notifications", "list"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("ops hook") && out.contains("job_failed,host_offline >=warning"),
        "{out}"
    );
    assert!(!out.contains("ctl-signing-secret"), "{out}");
    let id = out
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().next())
        .expect("an id")
        .to_string();
    let (ok, (out, err)) = ctl(&["notifications", "update", &id, "--send-resolved", "false"]);
    assert!(ok, "{out}{err}");
    let (ok, (out, err)) = ctl(&["notifications", "test", &id]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("was accepted"), "{out}");
    let got = &receiver.received()[0];
    let ts: i64 = got
        .header("x-cairn-timestamp")
        .expect("ts")
        .parse()
        .expect("number");
    let sig = got.header("x-cairn-signature").expect("sig");
    assert!(
        cairn_notify::sign::verify(b"ctl-signing-secret-123", ts, &got.body, sig),
        "the secret from the file (without its newline) signs, and survived the update"
    );
    let (ok, (out, _)) = ctl(&["notifications", "deliveries"]);
    assert!(ok, "{out}");
    // A refused destination: a clear error, nothing stored.
    let strict = TestServer::start().await;
    let strict_token = strict.token_for("ops", Role::Admin, Scope::Admin).await;
    let out = cairn()
        .args([
            "ctl",
            "--server",
            &strict.url,
            "notifications",
            "add",
            "webhook",
        ])
        .args(["--name", "bad", "--url", "http://0x7f000001/x"])
        .env("CAIRN_TOKEN", &strict_token)
        .output()
        .expect("run cairn");
    let (_, err) = text(&out);
    assert!(!out.status.success());
    assert!(err.contains("127.0.0.1 is a loopback address"), "{err}");
    let (ok, (out, err)) = ctl(&["notifications", "remove", &id]);
    assert!(ok && out.contains("removed channel"), "{out}{err}");
}
