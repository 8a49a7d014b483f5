//! The secret scan: every secret Cairn is given or makes (a repository's
//! password and the credentials in its URL, an operator's password and
//! session, an API token, an enrollment token, an agent's identity, a
//! channel's signing secret and SMTP password), each random, is looked for
//! in every place it must not be, on a real server and a real agent, both
//! logging at `debug`, while a real restic backs up:
//!
//! - the command line of every process on the machine, while restic runs;
//! - the server's log and the agent's log;
//! - the HTML of every page the console serves (every GET route of the
//!   inventory, with real ids), and the audit export;
//! - the server's data dir (the database, its WAL and shared memory), while
//!   the server runs and after a `kill -9`, and a backup of the database.
//!
//! Each is scanned for the secret as is and base64-encoded. The figure is
//! the hits, which must be 0. So that a scan that finds nothing means
//! something, the same scanner must find the repository password where it
//! has to be: in restic's own environment.

use std::path::Path;
use std::process::{Command, Stdio};

use base64::Engine;
use cairn_proto::v1 as pb;
use cairn_proto::v1::admin_service_client::AdminServiceClient;
use cairn_proto::v1::host_service_client::HostServiceClient;
use cairn_proto::v1::job_service_client::JobServiceClient;
use cairn_proto::v1::notification_service_client::NotificationServiceClient;
use cairn_proto::v1::schedule_service_client::ScheduleServiceClient;
use cairn_testkit::fleet::{self, authorized};
use cairn_testkit::jobs::{status_in, wait_job};
use cairn_testkit::rest::RestServer;
use cairn_testkit::{ChildGuard, Reachable, ServerProcess, TEST_PASSWORD};

use crate::chaos::{admin_token, integrity_check};
use crate::inventory_web::ROUTES;
use crate::netns::{host, the_one_host};

/// A secret, by what it is.
struct Secret {
    what: &'static str,
    value: String,
}

/// Where bytes were read from, and the bytes.
struct Place {
    name: String,
    bytes: Vec<u8>,
}

/// Every `(place, secret)` whose value (as is, or base64) is in the place.
fn hits(places: &[Place], secrets: &[Secret]) -> Vec<String> {
    let mut found = Vec::new();
    for secret in secrets {
        let forms = [
            secret.value.clone(),
            base64::engine::general_purpose::STANDARD.encode(&secret.value),
        ];
        for place in places {
            for form in &forms {
                if contains(&place.bytes, form.as_bytes()) {
                    found.push(format!("the {} in {}", secret.what, place.name));
                }
            }
        }
    }
    found
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// A random secret that reads as what it is, for the report.
fn random(prefix: &str) -> String {
    let token = cairn_testkit::agents::new_identity();
    let clean: String = token.chars().filter(char::is_ascii_alphanumeric).collect();
    format!("{prefix}-{clean}")
}

/// The server's data dir, file by file (the key file aside: it is the key
/// the sealed values are sealed with, and holds none of them).
fn data_files(data: &Path, when: &str) -> Vec<Place> {
    let mut places = Vec::new();
    for entry in std::fs::read_dir(data).expect("the data dir").flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_file() && !name.ends_with(".key") && name != "key" {
            places.push(Place {
                name: format!("{name} ({when})"),
                bytes: std::fs::read(&path).unwrap_or_default(),
            });
        }
    }
    places
}

/// Every process's command line, now.
fn command_lines(when: &str) -> Vec<Place> {
    cairn_testkit::command_lines()
        .into_iter()
        .map(|(pid, line)| Place {
            name: format!("the argv of process {pid} ({when})"),
            bytes: line.into_bytes(),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_is_in_any_argv_log_page_database_or_backup() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let api_token = admin_token(&data);
    let binary = env!("CARGO_BIN_EXE_cairn");
    let mut server = ServerProcess::new(binary.as_ref(), &data, &[]);
    let server_log = dir.path().join("server.log");
    server.log_to(&server_log);
    server.start().await;
    let rest = RestServer::start().await;
    let repo_password = random("repo-password");
    let signing_secret = random("signing-secret");
    let smtp_password = random("smtp-password");

    // An agent process that enrolls with a token, logging at debug.
    let enroll_token = AdminServiceClient::new(server.channel().await)
        .create_enrollment_token(authorized(
            pb::CreateEnrollmentTokenRequest {
                name: "scan".into(),
                ttl_seconds: 3_600,
                max_uses: 1,
                ..Default::default()
            },
            &api_token,
        ))
        .await
        .expect("an enrollment token")
        .into_inner()
        .secret;
    let source = dir.path().join("scan-source");
    std::fs::create_dir(&source).expect("mkdir");
    std::fs::write(
        source.join("big.bin"),
        cairn_testkit::noise(7, 4 * 1024 * 1024),
    )
    .expect("noise");
    let state = dir.path().join("agent-state");
    let agent_log = dir.path().join("agent.log");
    let mut agent = ChildGuard::spawn(
        "cairn agent",
        Command::new(binary)
            .args(["agent", "--allow-plaintext", "--log-level", "debug"])
            .args(["--server", server.grpc_url(), "--state-dir"])
            .arg(&state)
            .arg("--backup-root")
            .arg(dir.path())
            .env("CAIRN_ENROLL_TOKEN", &enroll_token)
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&agent_log).expect("agent log")),
    );
    let mut hosts = HostServiceClient::new(server.channel().await);
    let host_id = the_one_host(&mut hosts, &api_token).await;
    crate::netns::wait_for(&mut hosts, &api_token, host_id, true, "online").await;
    assert_eq!(
        host(&mut hosts, &api_token, host_id).await.status,
        pb::HostStatus::Approved as i32,
        "the enrollment token approves the host"
    );
    let identity = std::fs::read_to_string(state.join("identity")).expect("the identity");

    // A repository behind credentials, and channels with secrets.
    let repository = fleet::repository(
        &server,
        &api_token,
        "scanned",
        &rest.url_with_credentials,
        &repo_password,
        &[host_id],
    )
    .await;
    fleet::init(&server, &api_token, host_id, repository).await;
    let mut notifications = NotificationServiceClient::new(server.channel().await);
    let mut channel = 0;
    for config in [
        pb::channel_config::Config::Webhook(pb::WebhookChannelConfig {
            url: "https://hooks.example.com/cairn".into(),
            signing_secret: signing_secret.clone(),
            ..Default::default()
        }),
        pb::channel_config::Config::Smtp(pb::SmtpChannelConfig {
            host: "smtp.example.com".into(),
            port: 587,
            username: "cairn".into(),
            password: smtp_password.clone(),
            from_address: "cairn@example.com".into(),
            to_addresses: vec!["ops@example.com".into()],
            ..Default::default()
        }),
    ] {
        channel = notifications
            .create_channel(authorized(
                pb::CreateChannelRequest {
                    name: format!("scan {}", notifications_count(&config)),
                    config: Some(pb::ChannelConfig {
                        config: Some(config),
                    }),
                    ..Default::default()
                },
                &api_token,
            ))
            .await
            .expect("a channel with a secret")
            .into_inner()
            .channel
            .expect("the channel")
            .id;
    }

    // A backup that runs long enough to be looked at (its upload is held
    // to 32 KiB/s), then one that finishes, for the snapshot pages.
    let mut places = Vec::new();
    let mut jobs = JobServiceClient::new(server.channel().await);
    let slow = submit(&mut jobs, &api_token, host_id, repository, &source, 32).await;
    let marker = source.display().to_string();
    cairn_testkit::eventually(
        std::time::Duration::from_secs(120),
        "restic backing up",
        || cairn_testkit::restic_running_on(&marker),
    )
    .await;
    places.extend(command_lines("while restic backs up"));
    let restic = cairn_testkit::restic_pid_on(&marker).expect("restic's pid");
    let environ = std::fs::read(format!("/proc/{restic}/environ")).expect("restic's environment");
    jobs.cancel_job(authorized(
        pb::CancelJobRequest {
            job_id: slow,
            reason: "scanned".into(),
        },
        &api_token,
    ))
    .await
    .expect("cancel");
    wait_job(
        &server,
        &api_token,
        slow,
        "cancelled",
        status_in(&[pb::JobStatus::Cancelled]),
    )
    .await;
    std::fs::remove_file(source.join("big.bin")).expect("rm");
    std::fs::write(source.join("small.txt"), "hello").expect("write");
    let done = submit(&mut jobs, &api_token, host_id, repository, &source, 0).await;
    let finished = wait_job(
        &server,
        &api_token,
        done,
        "the backup",
        cairn_testkit::jobs::ended,
    )
    .await;
    assert_eq!(
        finished.status,
        pb::JobStatus::Succeeded as i32,
        "{}",
        finished.error
    );

    // Every page, as an admin signed in through the login form.
    let web = Browser::sign_in(server.grpc_url(), "ops", TEST_PASSWORD).await;
    let session = web.session_token();
    let ids = Ids {
        host: host_id,
        repository,
        job: done,
        schedule: schedule(&server, &api_token, host_id, repository, &source).await,
        channel,
        snapshot: finished.snapshot_id.clone(),
    };
    for (method, route, example, _) in ROUTES {
        // The event streams never end; what they carry is on the job page.
        if *method != "GET" || route.contains("events") {
            continue;
        }
        let path = match ids.fill(example) {
            export if export == "/audit/export" => format!("{export}?format=jsonl"),
            path => path,
        };
        // Each as a page, and as the part HTMX asks for.
        for partial in [false, true] {
            places.push(Place {
                bytes: web.get(&path, partial).await.into_bytes(),
                name: format!("the page {path}{}", if partial { " (partial)" } else { "" }),
            });
        }
    }
    let page = |path: &str| {
        places
            .iter()
            .find(|p| p.name == format!("the page {path} (partial)"))
            .map(|p| String::from_utf8_lossy(&p.bytes).into_owned())
            .unwrap_or_default()
    };
    // The pages were real: the tree came from restic on the host, the
    // export holds the audit log.
    let tree = web
        .get(
            &format!(
                "/snapshots/{repository}/{}/tree?path={}",
                ids.snapshot,
                source.display()
            ),
            true,
        )
        .await;
    assert!(tree.contains("small.txt"), "the snapshot's tree: {tree}");
    assert!(page("/audit/export?format=jsonl").contains("repository.create"));
    places.push(Place {
        name: "the snapshot's tree".into(),
        bytes: tree.into_bytes(),
    });

    places.extend(data_files(&data, "while the server runs"));
    places.extend(command_lines("after the jobs"));

    // Stopped hard, as a crash would: the WAL is left as it was.
    agent.kill();
    server.kill();
    places.extend(data_files(&data, "after kill -9"));
    assert_eq!(integrity_check(&data.join("cairn.db")), "ok");
    let backup = dir.path().join("backup.db");
    rusqlite::Connection::open(data.join("cairn.db"))
        .expect("open the database")
        .execute("VACUUM INTO ?1", [backup.display().to_string()])
        .expect("a backup of the database");
    places.push(Place {
        name: "a backup of the database".into(),
        bytes: std::fs::read(&backup).expect("the backup"),
    });
    for (name, path) in [
        ("the server's log", &server_log),
        ("the agent's log", &agent_log),
    ] {
        places.push(Place {
            name: name.into(),
            bytes: std::fs::read(path).expect("a log"),
        });
    }

    let secrets = vec![
        Secret {
            what: "repository password",
            value: repo_password.clone(),
        },
        Secret {
            what: "password in the repository URL",
            value: "rest-secret".into(),
        },
        Secret {
            what: "operator's password",
            value: TEST_PASSWORD.into(),
        },
        Secret {
            what: "operator's session",
            value: session,
        },
        Secret {
            what: "API token",
            value: api_token.clone(),
        },
        Secret {
            what: "enrollment token",
            value: enroll_token,
        },
        Secret {
            what: "agent's identity token",
            value: identity,
        },
        Secret {
            what: "webhook signing secret",
            value: signing_secret,
        },
        Secret {
            what: "SMTP password",
            value: smtp_password,
        },
    ];
    let bytes: usize = places.iter().map(|p| p.bytes.len()).sum();
    let found = hits(&places, &secrets);

    println!(
        "secret scan: {} secrets, {} places, {:.1} MiB scanned, {} hits",
        secrets.len(),
        places.len(),
        bytes as f64 / 1_048_576.0,
        found.len()
    );
    assert!(
        contains(&environ, repo_password.as_bytes()),
        "the scanner must find the password where it belongs, in restic's environment"
    );
    assert!(
        std::fs::metadata(&agent_log).map(|m| m.len()).unwrap_or(0) > 0
            && std::fs::metadata(&server_log).map(|m| m.len()).unwrap_or(0) > 0,
        "both logs were written"
    );
    assert!(found.is_empty(), "secrets found: {found:#?}");
}

fn notifications_count(config: &pb::channel_config::Config) -> &'static str {
    match config {
        pb::channel_config::Config::Webhook(_) => "webhook",
        _ => "mail",
    }
}

/// A schedule for the schedule pages; returns its id.
async fn schedule(
    server: &ServerProcess,
    token: &str,
    host_id: i64,
    repository_id: i64,
    source: &Path,
) -> i64 {
    ScheduleServiceClient::new(server.channel().await)
        .create_schedule(authorized(
            pb::CreateScheduleRequest {
                host_id,
                repository_id,
                name: "scanned nightly".into(),
                cron: "30 2 * * *".into(),
                paths: vec![source.display().to_string()],
                ..Default::default()
            },
            token,
        ))
        .await
        .expect("a schedule")
        .into_inner()
        .schedule
        .expect("the schedule")
        .id
}

/// Submits a backup of `source`; returns the job's id.
async fn submit(
    jobs: &mut JobServiceClient<tonic::transport::Channel>,
    token: &str,
    host_id: i64,
    repository_id: i64,
    source: &Path,
    limit_upload_kib: u32,
) -> i64 {
    jobs.run_backup(authorized(
        pb::RunBackupRequest {
            schedule_id: 0,
            host_id,
            repository_id,
            spec: Some(pb::BackupSpec {
                paths: vec![source.display().to_string()],
                limit_upload_kib,
                ..Default::default()
            }),
        },
        token,
    ))
    .await
    .expect("submit a backup")
    .into_inner()
    .job
    .expect("the job")
    .id
}

/// A signed-in admin's browser, as far as the scan needs one.
struct Browser {
    http: reqwest::Client,
    base: String,
    cookie: String,
}

impl Browser {
    /// Signs in through the login form.
    async fn sign_in(base: &str, username: &str, password: &str) -> Browser {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a client");
        let answer = http
            .post(format!("{base}/login"))
            .header("origin", base)
            .form(&[("username", username), ("password", password)])
            .send()
            .await
            .expect("sign in");
        let cookie = answer
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .find(|v| v.starts_with("cairn_session="))
            .expect("a session cookie")
            .to_string();
        Browser {
            http,
            base: base.to_string(),
            cookie,
        }
    }

    /// The session cookie's value: a secret of its own.
    fn session_token(&self) -> String {
        self.cookie.trim_start_matches("cairn_session=").to_string()
    }

    /// A page's body. An admin is refused none and none fails; the sign-in
    /// and setup pages, of no use to a signed-in admin after setup, send
    /// them on or say they are gone.
    async fn get(&self, path: &str, partial: bool) -> String {
        let mut request = self
            .http
            .get(format!("{}{path}", self.base))
            .header(reqwest::header::COOKIE, &self.cookie);
        if partial {
            request = request.header("hx-request", "true");
        }
        let answer = request.send().await.expect("a page");
        assert!(
            !answer.status().is_server_error() && ![403, 404].contains(&answer.status().as_u16()),
            "{path}: {}",
            answer.status()
        );
        answer.text().await.expect("a body")
    }
}

/// The rows the pages are asked about.
struct Ids {
    host: i64,
    repository: i64,
    job: i64,
    schedule: i64,
    channel: i64,
    snapshot: String,
}

impl Ids {
    /// The inventory's example path with its ids (always 9 there, and
    /// `aaaaaaaa`/`bbbbbbbb` for snapshots) made the real ones.
    fn fill(&self, example: &str) -> String {
        let id = if example.starts_with("/hosts/") {
            self.host
        } else if example.starts_with("/repositories/") || example.starts_with("/snapshots/") {
            self.repository
        } else if example.starts_with("/jobs/") {
            self.job
        } else if example.starts_with("/schedules/") {
            self.schedule
        } else if example.starts_with("/notifications/") {
            self.channel
        } else {
            9
        };
        example
            .replace("/9", &format!("/{id}"))
            .replace("repo=9", &format!("repo={}", self.repository))
            .replace("aaaaaaaa", &self.snapshot)
            .replace("bbbbbbbb", &self.snapshot)
    }
}
