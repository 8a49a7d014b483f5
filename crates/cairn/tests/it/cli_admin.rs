//! The `cairn ctl` lines the console shows are true: settings, status,
//! changing an operator, listing jobs and hosts with the console's
//! filters, and a check run now.

use std::process::Output;

use cairn_store::{Role, Scope};
use cairn_testkit::TestServer;

use crate::cli::cairn;

pub(crate) async fn ctl(server: &TestServer, token: &str, args: &[&str]) -> Output {
    let mut command = cairn();
    command
        .args(["ctl", "--server", &server.url])
        .args(args)
        .env("CAIRN_TOKEN", token);
    tokio::task::spawn_blocking(move || command.output().expect("run cairn"))
        .await
        .expect("ctl ran")
}

pub(crate) fn out(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn the_admin_commands_the_console_names_work() {
    let server = TestServer::start().await;
    let token = server.token_for("root", Role::Admin, Scope::Admin).await;

    let shown = out(&ctl(&server, &token, &["settings", "get"]).await);
    assert!(shown.contains("job_log_retention_days = "), "{shown}");
    let set = ["settings", "set", "--job-log-retention-days", "12"];
    assert!(out(&ctl(&server, &token, &set).await).contains("job_log_retention_days = 12"));
    let refused = ctl(
        &server,
        &token,
        &["settings", "set", "--job-log-retention-days", "0"],
    )
    .await;
    assert!(!refused.status.success(), "a value out of range is refused");
    assert!(
        out(&ctl(&server, &token, &["settings", "get"]).await).contains("= 12"),
        "kept"
    );

    let status = out(&ctl(&server, &token, &["status"]).await);
    assert!(
        status.contains("database: ok") && status.contains("worker "),
        "{status}"
    );

    server.create_user("ops", Role::Operator).await;
    let users = out(&ctl(&server, &token, &["users", "list"]).await);
    let id = users
        .lines()
        .find(|l| l.contains(" ops "))
        .and_then(|l| l.split_whitespace().next())
        .expect("ops listed")
        .to_string();
    let changed = out(&ctl(
        &server,
        &token,
        &["users", "update", &id, "--role", "viewer", "--disable"],
    )
    .await);
    assert!(changed.contains("ops is viewer and disabled"), "{changed}");
    let nothing = ctl(&server, &token, &["users", "update", &id]).await;
    assert!(
        !nothing.status.success(),
        "an update that changes nothing says so"
    );

    let host = server.stored_host("db01.example.com").await;
    let hosts = out(&ctl(&server, &token, &["hosts", "list", "--search", "DB01"]).await);
    assert!(hosts.contains("db01.example.com"), "{hosts}");
    let none = out(&ctl(
        &server,
        &token,
        &["hosts", "list", "--search", "web", "--online", "no"],
    )
    .await);
    assert!(!none.contains("db01"), "{none}");

    server
        .stored_job(host, cairn_domain::JobSpec::Check(Default::default()))
        .await;
    let jobs = out(&ctl(
        &server,
        &token,
        &["jobs", "list", "--kind", "check", "--trigger", "api"],
    )
    .await);
    assert!(jobs.contains("check"), "{jobs}");
    let jobs = out(&ctl(&server, &token, &["jobs", "list", "--trigger", "schedule"]).await);
    assert!(!jobs.contains("check"), "{jobs}");
    let bad = ctl(&server, &token, &["jobs", "list", "--trigger", "whenever"]).await;
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown trigger"));

    // A check on a host with no such repository is refused with a reason.
    let check = ctl(
        &server,
        &token,
        &["check", "--host", &host.0.to_string(), "--repo", "999"],
    )
    .await;
    assert!(!check.status.success());
}
