//! The `cairn` executable: configuration errors, key-file checks, and the
//! `admin` and `ctl` commands against a running server.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output, Stdio};

use cairn_store::{Role, Scope};
use cairn_testkit::{ChildGuard, TEST_PASSWORD, TestServer};

pub(crate) fn cairn() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cairn"));
    // The tests' own environment must not leak settings into the child.
    for (key, _) in std::env::vars() {
        if key.starts_with("CAIRN_") {
            command.env_remove(key);
        }
    }
    command
}

fn run(command: &mut Command) -> Output {
    command.output().expect("run cairn")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_bad_flag_value_exits_64_naming_the_key_before_touching_anything() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let output = run(cairn()
        .args(["server", "--listen", "not-an-address", "--data-dir"])
        .arg(&data));
    assert_eq!(output.status.code(), Some(64), "{}", stderr(&output));
    assert!(stderr(&output).contains("`listen`"), "{}", stderr(&output));
    assert!(stderr(&output).contains("--listen"), "{}", stderr(&output));
    assert!(!data.exists(), "nothing is created for a bad configuration");
}

#[test]
fn a_bad_environment_value_exits_64_naming_the_variable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = run(cairn()
        .args(["server", "--data-dir"])
        .arg(dir.path().join("data"))
        .env("CAIRN_LOGIN_MAX_FAILURES", "lots"));
    assert_eq!(output.status.code(), Some(64));
    let err = stderr(&output);
    assert!(
        err.contains("login_max_failures") && err.contains("CAIRN_LOGIN_MAX_FAILURES"),
        "{err}"
    );
}

#[test]
fn an_unknown_key_in_the_config_file_exits_64_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("cairn.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:0\"\nlisten_adress = \"typo\"\n",
    )
    .expect("write");
    let output = run(cairn().args(["server", "--config"]).arg(&file));
    assert_eq!(output.status.code(), Some(64));
    assert!(
        stderr(&output).contains("listen_adress"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_secret_is_never_echoed_in_a_config_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = run(cairn()
        .args(["server", "--data-dir"])
        .arg(dir.path().join("data"))
        .env("CAIRN_SETUP_TOKEN", "short-secret"));
    assert_eq!(output.status.code(), Some(64));
    let err = stderr(&output);
    assert!(err.contains("setup_token"), "{err}");
    assert!(!err.contains("short-secret"), "the secret leaked: {err}");
}

#[test]
fn unknown_flags_are_usage_errors() {
    let output = run(cairn().args(["server", "--no-such-flag"]));
    assert_eq!(output.status.code(), Some(64));
}

#[test]
fn a_group_readable_key_file_stops_the_server_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    std::fs::create_dir(&data).expect("mkdir");
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).expect("chmod dir");
    let key = data.join("seal.key");
    std::fs::write(&key, [7u8; 32]).expect("write key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod key");

    let output = run(cairn()
        .args(["server", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data));
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(
        err.contains("mode 0644") && err.contains("chmod 600"),
        "{err}"
    );
    assert!(
        !data.join("cairn.db").exists(),
        "the database is not opened with an unsafe key"
    );
}

#[test]
fn example_config_is_printable() {
    let output = run(cairn().args(["server", "--print-example-config"]));
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("#listen = \"127.0.0.1:8080\""), "{text}");
    assert!(text.contains("CAIRN_SETUP_TOKEN_FILE"), "{text}");
}

// Multi-threaded: the test blocks on child processes while the in-process
// server answers them from the runtime's worker threads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_provisions_and_ctl_uses_the_api() {
    let server = TestServer::start().await;
    let data = server.data_dir();

    // Provision an admin with the password on stdin, as config management would.
    let mut child = cairn()
        .args(["admin", "--data-dir"])
        .arg(&data)
        .args([
            "create-user",
            "--username",
            "ops",
            "--role",
            "admin",
            "--password-file",
            "-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{TEST_PASSWORD}\n").as_bytes())
        .expect("write password");
    let created = child.wait_with_output().expect("wait");
    assert!(created.status.success(), "{}", stderr(&created));
    assert!(String::from_utf8_lossy(&created.stdout).contains("created admin ops"));

    let minted = run(cairn().args(["admin", "--data-dir"]).arg(&data).args([
        "create-token",
        "--user",
        "ops",
        "--name",
        "ci",
        "--scope",
        "admin",
    ]));
    assert!(minted.status.success(), "{}", stderr(&minted));
    let token = String::from_utf8_lossy(&minted.stdout).trim().to_string();
    assert!(
        token.starts_with("cairn_pat_"),
        "stdout holds only the token: {token}"
    );

    let whoami = run(cairn()
        .args(["ctl", "--server", &server.url, "whoami"])
        .env("CAIRN_TOKEN", &token));
    assert!(whoami.status.success(), "{}", stderr(&whoami));
    let out = String::from_utf8_lossy(&whoami.stdout);
    assert!(out.contains("ops") && out.contains("admin"), "{out}");

    let more = run(cairn()
        .args([
            "ctl",
            "--server",
            &server.url,
            "tokens",
            "create",
            "--name",
            "reader",
            "--scope",
            "read",
        ])
        .env("CAIRN_TOKEN", &token));
    assert!(more.status.success(), "{}", stderr(&more));
    let listed = run(cairn()
        .args(["ctl", "--server", &server.url, "tokens", "list"])
        .env("CAIRN_TOKEN", &token));
    let table = String::from_utf8_lossy(&listed.stdout);
    assert!(table.contains("reader") && table.contains("ci"), "{table}");

    // The token file form works too, and revocation takes effect.
    let dir = tempfile::tempdir().expect("tempdir");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{token}\n")).expect("write token");
    let reader_id = table
        .lines()
        .find(|l| l.contains("reader"))
        .and_then(|l| l.split_whitespace().next())
        .expect("reader id")
        .to_string();
    let revoked = run(cairn()
        .args(["ctl", "--server", &server.url, "--token-file"])
        .arg(&token_file)
        .args(["tokens", "revoke", &reader_id]));
    assert!(revoked.status.success(), "{}", stderr(&revoked));

    // Both CLI actions are in the audit log as the local CLI.
    let store = cairn_store::Store::open(&data.join("cairn.db"))
        .await
        .expect("store");
    let audit = store
        .list_audit(
            cairn_store::AuditFilter::default(),
            cairn_store::Page::first(100),
        )
        .await
        .expect("audit");
    assert!(
        audit.items.iter().any(|r| r.entry.action == "user.create"
            && r.entry.actor_kind == cairn_store::ActorKind::Cli)
    );
    assert!(
        audit
            .items
            .iter()
            .any(|r| r.entry.action == "api_token.revoke")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctl_reports_missing_and_insufficient_tokens_clearly() {
    let server = TestServer::start().await;
    let missing = run(cairn().args(["ctl", "--server", &server.url, "whoami"]));
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stderr(&missing).contains("CAIRN_TOKEN"),
        "{}",
        stderr(&missing)
    );

    let reader = server.token_for("viv", Role::Viewer, Scope::Read).await;
    let denied = run(cairn()
        .args(["ctl", "--server", &server.url, "users", "list"])
        .env("CAIRN_TOKEN", &reader));
    assert_eq!(denied.status.code(), Some(1));
    assert!(
        stderr(&denied).contains("permission denied"),
        "{}",
        stderr(&denied)
    );
}

/// A real `cairn agent` process announces itself; `cairn ctl` sees it pending
/// with the fingerprint the agent printed, approves it, and it goes live.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_agent_process_is_approved_with_ctl() {
    use std::io::BufRead;

    let server = TestServer::start().await;
    let token = server.token_for("ops", Role::Admin, Scope::Admin).await;
    let state = tempfile::tempdir().expect("state");
    let mut agent = ChildGuard::spawn(
        "cairn agent",
        cairn()
            .args([
                "agent",
                "--server",
                &server.url,
                "--allow-plaintext",
                "--state-dir",
            ])
            .arg(state.path().join("agent"))
            .args(["--log-level", "warn"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let mut stdout = std::io::BufReader::new(agent.take_stdout().expect("stdout"));
    let mut first = String::new();
    stdout.read_line(&mut first).expect("fingerprint line");
    let fingerprint = first
        .trim()
        .rsplit(' ')
        .next()
        .expect("fingerprint")
        .to_string();
    let mut second = String::new();
    stdout.read_line(&mut second).expect("welcome line");
    assert!(second.contains("PENDING_APPROVAL"), "{second}");

    let ctl = |args: &[&str]| {
        run(cairn()
            .args(["ctl", "--server", &server.url])
            .args(args)
            .env("CAIRN_TOKEN", &token))
    };
    let listed = ctl(&["hosts", "list", "--status", "pending"]);
    let table = String::from_utf8_lossy(&listed.stdout).to_string();
    let row = table
        .lines()
        .find(|l| l.contains(&fingerprint))
        .unwrap_or_else(|| panic!("{fingerprint} not in {table}"));
    let id = row.split_whitespace().next().expect("id").to_string();

    let approved = ctl(&["hosts", "approve", &id, "--fingerprint", &fingerprint]);
    assert!(approved.status.success(), "{}", stderr(&approved));
    let mut third = String::new();
    stdout.read_line(&mut third).expect("approved line");
    assert!(third.contains("APPROVED"), "{third}");
    let listed = ctl(&["hosts", "list", "--status", "approved"]);
    assert!(String::from_utf8_lossy(&listed.stdout).contains("online"));

    let labelled = ctl(&["hosts", "label", &id, "env=prod", "rack=r4"]);
    assert!(String::from_utf8_lossy(&labelled.stdout).contains("env=prod,rack=r4"));
    let bad_label = ctl(&["hosts", "label", &id, "no-equals-sign"]);
    assert_eq!(bad_label.status.code(), Some(1));

    let revoked = ctl(&["hosts", "revoke", &id, "--reason", "retired"]);
    assert!(revoked.status.success(), "{}", stderr(&revoked));
    let mut fourth = String::new();
    stdout.read_line(&mut fourth).expect("refused line");
    assert!(
        fourth.contains("REJECTED") && fourth.contains("retired"),
        "{fourth}"
    );
    agent.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrollment_tokens_from_ctl_enroll_a_real_agent() {
    use std::io::BufRead;

    let server = TestServer::start().await;
    let token = server.token_for("ops", Role::Admin, Scope::Admin).await;
    let created = run(cairn()
        .args([
            "ctl",
            "--server",
            &server.url,
            "enroll-tokens",
            "create",
            "--name",
            "rack4",
            "--ttl-hours",
            "1",
            "--label",
            "rack=r4",
        ])
        .env("CAIRN_TOKEN", &token));
    assert!(created.status.success(), "{}", stderr(&created));
    let enroll = String::from_utf8_lossy(&created.stdout).trim().to_string();
    assert!(enroll.starts_with("cairn_enroll_"));

    let state = tempfile::tempdir().expect("state");
    let token_file = state.path().join("enroll");
    std::fs::write(&token_file, &enroll).expect("write");
    let mut agent = ChildGuard::spawn(
        "cairn agent",
        cairn()
            .args([
                "agent",
                "--server",
                &server.url,
                "--allow-plaintext",
                "--state-dir",
            ])
            .arg(state.path().join("agent"))
            .arg("--enroll-token-file")
            .arg(&token_file)
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let mut stdout = std::io::BufReader::new(agent.take_stdout().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("fingerprint");
    line.clear();
    stdout.read_line(&mut line).expect("welcome");
    assert!(line.contains("APPROVED"), "{line}");
    let listed = run(cairn()
        .args([
            "ctl",
            "--server",
            &server.url,
            "enroll-tokens",
            "list",
            "--include-inactive",
        ])
        .env("CAIRN_TOKEN", &token));
    assert!(
        String::from_utf8_lossy(&listed.stdout).contains("1/1"),
        "{}",
        String::from_utf8_lossy(&listed.stdout)
    );
    agent.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_reads_its_config_file_and_refuses_unknown_keys() {
    use std::io::BufRead;

    let server = TestServer::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "server = {:?}\nallow_plaintext = true\nstate_dir = {:?}\nlog_level = \"warn\"\n",
            server.url,
            dir.path().join("state").display().to_string()
        ),
    )
    .expect("write config");
    let mut agent = ChildGuard::spawn(
        "cairn agent",
        cairn()
            .args(["agent", "--config"])
            .arg(&config)
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let mut stdout = std::io::BufReader::new(agent.take_stdout().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("fingerprint");
    line.clear();
    stdout.read_line(&mut line).expect("welcome");
    assert!(line.contains("PENDING_APPROVAL"), "{line}");
    assert!(dir.path().join("state").join("identity").exists());
    agent.kill();

    std::fs::write(
        &config,
        "server = \"https://x\"\nserver_fingerprnt = \"typo\"\n",
    )
    .expect("write");
    let output = run(cairn().args(["agent", "--config"]).arg(&config));
    assert_eq!(output.status.code(), Some(64));
    assert!(
        stderr(&output).contains("server_fingerprnt"),
        "{}",
        stderr(&output)
    );
}

/// The whole backup loop from the command line, against a TLS server with a
/// pinned fingerprint: repository, init, backup, snapshots, restore, jobs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctl_drives_a_backup_and_a_restore_over_tls() {
    use std::io::BufRead;

    let server = TestServer::start_with(|c| {
        c.tls = cairn_server::config::TlsMode::SelfSigned;
        c.public_url = format!("https://127.0.0.1:{}", c.listen.port());
    })
    .await;
    let fingerprint = server.tls_fingerprint.clone().expect("fingerprint");
    let token = server.token_for("ops", Role::Admin, Scope::Admin).await;
    let dir = tempfile::tempdir().expect("dir");
    let restores = dir.path().join("restores");
    std::fs::create_dir(&restores).expect("mkdir");
    let mut agent = ChildGuard::spawn(
        "cairn agent",
        cairn()
            .args([
                "agent",
                "--server",
                &server.url,
                "--server-fingerprint",
                &fingerprint,
                "--log-level",
                "warn",
                "--state-dir",
            ])
            .arg(dir.path().join("state"))
            .arg("--restore-root")
            .arg(&restores)
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let mut stdout = std::io::BufReader::new(agent.take_stdout().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("fingerprint line");
    line.clear();
    stdout.read_line(&mut line).expect("welcome line");
    assert!(line.contains("PENDING_APPROVAL"), "{line}");

    let ctl = |args: &[&str]| {
        let output = run(cairn()
            .args([
                "ctl",
                "--server",
                &server.url,
                "--server-fingerprint",
                &fingerprint,
            ])
            .args(args)
            .env("CAIRN_TOKEN", &token));
        assert!(output.status.success(), "ctl {args:?}: {}", stderr(&output));
        String::from_utf8_lossy(&output.stdout).to_string()
    };
    let hosts = ctl(&["hosts", "list"]);
    let host = hosts
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().next())
        .expect("host id")
        .to_string();
    ctl(&["hosts", "approve", &host]);

    let password = dir.path().join("password");
    std::fs::write(&password, "ctl-repo-password\n").expect("write");
    let created = ctl(&[
        "repos",
        "create",
        "--name",
        "local",
        "--url",
        &dir.path().join("repo").display().to_string(),
        "--password-file",
        &password.display().to_string(),
    ]);
    let repo = created
        .split_whitespace()
        .nth(2)
        .expect("repo id")
        .to_string();
    ctl(&["repos", "assign", &repo, "--host", &host]);
    ctl(&["init", "--host", &host, "--repo", &repo, "--wait"]);

    let source = dir.path().join("source");
    std::fs::create_dir(&source).expect("mkdir");
    std::fs::write(source.join("note.txt"), "from the command line").expect("write");
    let backup = ctl(&[
        "backup",
        "--host",
        &host,
        "--repo",
        &repo,
        "--path",
        &source.display().to_string(),
        "--tag",
        "ctl",
        "--wait",
    ]);
    assert!(
        backup.contains("succeeded") && backup.contains("1 new"),
        "{backup}"
    );

    let snapshots = ctl(&["snapshots", "list", "--repo", &repo]);
    let short_id = snapshots
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().next())
        .expect("snapshot")
        .to_string();
    assert!(snapshots.contains("ctl"), "{snapshots}");
    let target = restores.join("back");
    ctl(&[
        "restore",
        "--repo",
        &repo,
        "--snapshot",
        &short_id,
        "--host",
        &host,
        "--target",
        &target.display().to_string(),
        "--wait",
    ]);
    let restored = std::fs::read_to_string(
        target
            .join(source.strip_prefix("/").expect("absolute"))
            .join("note.txt"),
    )
    .expect("restored");
    assert_eq!(restored, "from the command line");
    let jobs = ctl(&["jobs", "list"]);
    assert_eq!(
        jobs.lines().filter(|l| l.contains("succeeded")).count(),
        3,
        "{jobs}"
    );

    // A bad path is refused with the field named, and exit status 1.
    let refused = run(cairn()
        .args([
            "ctl",
            "--server",
            &server.url,
            "--server-fingerprint",
            &fingerprint,
        ])
        .args([
            "backup",
            "--host",
            &host,
            "--repo",
            &repo,
            // `=` so the value reaches the server instead of clap.
            "--path=--password-command=id",
        ])
        .env("CAIRN_TOKEN", &token));
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("invalid argument"),
        "{}",
        stderr(&refused)
    );
    agent.kill();
}

/// What `make demo` runs: one command, and a backup runs and succeeds; a
/// second run reuses everything.
#[test]
fn the_demo_runs_a_backup_in_one_command_and_again() {
    let dir = tempfile::tempdir().expect("dir");
    for round in 0..2 {
        let output = run(cairn()
            .args([
                "demo",
                "--listen",
                "127.0.0.1:0",
                "--exit-after-backup",
                "--data-dir",
            ])
            .arg(dir.path().join("demo")));
        assert!(
            output.status.success(),
            "round {round}: {}",
            stderr(&output)
        );
        let out = String::from_utf8_lossy(&output.stdout);
        assert!(
            out.contains("demo backup of") && out.contains(": succeeded"),
            "{out}"
        );
        assert!(out.contains("create your admin account: http://"), "{out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctl_manages_schedules_and_maintenance_plans() {
    use cairn_server::auth::Principal;

    let server = TestServer::start().await;
    let token = server.token_for("ops", Role::Admin, Scope::Admin).await;
    // A host (a raw announce, approved) with a repository assigned.
    let identity = cairn_testkit::agents::new_identity();
    let mut session =
        cairn_testkit::agents::open(&server.url, cairn_testkit::agents::hello(&identity, "db01"))
            .await
            .expect("announce");
    session
        .next(std::time::Duration::from_secs(60))
        .await
        .expect("welcome");
    let cli = Principal::local_cli();
    let host = server
        .api
        .fleet
        .list_hosts(&cli, &Default::default(), cairn_store::Page::first(10))
        .await
        .expect("hosts")
        .items[0]
        .host
        .id;
    server
        .api
        .fleet
        .approve(&cli, host, None)
        .await
        .expect("approve");
    let repo = server
        .api
        .repos
        .create(
            &cli,
            cairn_server::repos::NewRepository {
                name: "r".into(),
                url: "/srv/restic".into(),
                password: "pw".into(),
                env: Default::default(),
            },
        )
        .await
        .expect("repo");
    server
        .api
        .repos
        .assign(&cli, repo.id, host)
        .await
        .expect("assign");
    let (host, repo) = (host.to_string(), repo.id.to_string());

    let ctl = |args: &[&str]| {
        run(cairn()
            .args(["ctl", "--server", &server.url])
            .args(args)
            .env("CAIRN_TOKEN", &token))
    };
    let bad = ctl(&[
        "schedules",
        "create",
        "--host",
        &host,
        "--repo",
        &repo,
        "--name",
        "n",
        "--cron",
        "0 25 * * *",
        "--path",
        "/srv",
    ]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("invalid cron"), "{}", stderr(&bad));

    let made = ctl(&[
        "schedules",
        "create",
        "--host",
        &host,
        "--repo",
        &repo,
        "--name",
        "nightly",
        "--cron",
        "30 2 * * *",
        "--timezone",
        "Europe/Berlin",
        "--path",
        "/srv",
        "--catch-up",
        "all",
    ]);
    assert!(made.status.success(), "{}", stderr(&made));
    let listed = String::from_utf8_lossy(&ctl(&["schedules", "list"]).stdout).to_string();
    assert!(
        listed.contains("nightly") && listed.contains("Europe/Berlin") && listed.contains(" on "),
        "{listed}"
    );
    let id = listed
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().next())
        .expect("id")
        .to_string();
    assert!(String::from_utf8_lossy(&ctl(&["schedules", "disable", &id]).stdout).contains(" off "));
    assert!(
        ctl(&["schedules", "missed", "--schedule", &id])
            .status
            .success()
    );

    let plan = ctl(&[
        "maintenance",
        "set",
        "--host",
        &host,
        "--repo",
        &repo,
        "--keep-daily",
        "7",
        "--forget-every",
        "1d",
        "--prune-every",
        "7d",
        "--max-unused-percent",
        "10",
    ]);
    assert!(plan.status.success(), "{}", stderr(&plan));
    let plans = String::from_utf8_lossy(&ctl(&["maintenance", "list"]).stdout).to_string();
    assert_eq!(plans.lines().count(), 2, "{plans}");
    let empty_policy = ctl(&[
        "maintenance",
        "set",
        "--host",
        &host,
        "--repo",
        &repo,
        "--forget-every",
        "1d",
    ]);
    assert_eq!(empty_policy.status.code(), Some(1));
    assert!(
        stderr(&empty_policy).contains("retention"),
        "{}",
        stderr(&empty_policy)
    );
    drop(session);
}
