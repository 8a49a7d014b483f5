//! restic 0.17's `restore --overwrite` modes end to end, on this machine's
//! restic 0.14 (Debian 12's), which has no such flag and always overwrites:
//! the default restores as before; another mode is refused by the service
//! before anything is queued when the host reported an older restic, and by
//! the agent itself when the server is bypassed; the console offers the
//! modes, keeps the form on a refusal, and its summary and `cairn ctl` line
//! carry the mode.

use cairn_domain::{JobKind, JobSpec, RestoreOverwrite, RestoreSpec, Trigger};
use cairn_proto::v1 as pb;
use cairn_proto::v1::host_service_client::HostServiceClient;
use cairn_proto::v1::snapshot_service_client::SnapshotServiceClient;
use cairn_store::{HostId, JobFilter, NewJob, Page, RepositoryId, Role};
use cairn_testkit::TestServer;
use cairn_testkit::fleet::{Fleet, authorized};
use reqwest::StatusCode;
use tonic::Code;

use crate::cli::cairn;
use crate::web_snapshots::{
    backed_up, cached_ids, element, fleet_with_repo, post, run_ctl, unescape,
};
use crate::{form_value, get_page, signed_in};

/// The restic this machine runs, as its agent reports it.
async fn reported_restic(server: &TestServer, host: i64) -> cairn_restic::ResticVersion {
    let host = server.store().await.host(HostId(host)).await.expect("host");
    let version = cairn_restic::ResticVersion::parse(&host.facts.restic_version)
        .unwrap_or_else(|e| panic!("the agent reports its restic: {e}"));
    assert!(
        !version.restore_has_overwrite(),
        "these tests expect a restic without --overwrite (Debian 12's 0.14), not {version}"
    );
    version
}

/// How many restore jobs there are (a page that shows a folder makes
/// browse jobs of its own).
async fn restores(server: &TestServer) -> usize {
    let filter = JobFilter {
        kind: Some(JobKind::Restore),
        ..Default::default()
    };
    server
        .store()
        .await
        .list_jobs(filter, Page::first(200))
        .await
        .expect("jobs")
        .items
        .len()
}

/// A fleet whose repository holds one backup of `<dir>/source` (one file,
/// `a.txt`, "alpha"); the snapshot's id.
async fn backed_up_fleet() -> (tempfile::TempDir, Fleet, i64, String) {
    let dir = tempfile::tempdir().expect("dir");
    let source = dir.path().join("source");
    std::fs::create_dir_all(&source).expect("mkdir");
    std::fs::write(source.join("a.txt"), "alpha").expect("write");
    let (mut fleet, repo) = fleet_with_repo(dir.path()).await;
    backed_up(&mut fleet, repo, &source).await;
    let id = cached_ids(&fleet.server, repo).await.remove(0);
    (dir, fleet, repo, id)
}

fn succeeded(job: &pb::Job) {
    assert_eq!(job.status, pb::JobStatus::Succeeded as i32, "{}", job.error);
}

#[tokio::test]
async fn a_mode_the_hosts_restic_lacks_is_refused_by_the_service_and_by_the_agent() {
    let (dir, mut fleet, repo, id) = backed_up_fleet().await;
    let source = dir.path().join("source");
    let old = reported_restic(&fleet.server, fleet.host_id).await;
    let target = fleet.restore_root().join("over");
    let landed = target
        .join(source.strip_prefix("/").expect("absolute"))
        .join("a.txt");
    let snapshots = SnapshotServiceClient::new(fleet.server.channel().await);
    // A restore of the snapshot onto the host, in `overwrite` mode (a wire
    // value, so an unknown one can be sent too).
    let (host, token) = (fleet.host_id, fleet.token.clone());
    let ask = |overwrite: i32| {
        let request = pb::RestoreSnapshotRequest {
            repository_id: repo,
            snapshot_id: id.clone(),
            target_host_id: host,
            target_path: target.display().to_string(),
            overwrite,
            ..Default::default()
        };
        let (mut snapshots, token) = (snapshots.clone(), token.clone());
        async move {
            snapshots
                .restore_snapshot(authorized(request, &token))
                .await
                .map(|r| r.into_inner().job.expect("job"))
        }
    };

    // (a) Always, said or left unset, restores as before: over what is there.
    for overwrite in [0, pb::RestoreOverwrite::Always as i32] {
        let job = ask(overwrite).await.expect("always");
        succeeded(&fleet.finish(job.id).await);
        assert_eq!(std::fs::read_to_string(&landed).expect("restored"), "alpha");
        std::fs::write(&landed, "changed since").expect("write");
    }

    // (b) Never, onto a host that reported restic 0.14: refused before
    // anything is queued, naming the field and both versions; so is a mode
    // this build does not know.
    std::fs::write(&landed, "keep me").expect("write");
    let before = restores(&fleet.server).await;
    let status = ask(pb::RestoreOverwrite::Never as i32)
        .await
        .expect_err("never on restic 0.14");
    assert_eq!(status.code(), Code::InvalidArgument);
    let said = status.message();
    assert!(
        said.contains("overwrite")
            && said.contains(&format!("restic {old}"))
            && said.contains("0.17.0"),
        "{said}"
    );
    let status = ask(42).await.expect_err("an unknown mode");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("unknown mode 42"), "{status:?}");
    // ctl says the same, through the same service.
    let output = tokio::process::Command::new(cairn().get_program())
        .args(["ctl", "--server", &fleet.server.url, "restore", "--repo"])
        .arg(repo.to_string())
        .args([
            "--snapshot",
            &id,
            "--host",
            &fleet.host_id.to_string(),
            "--target",
        ])
        .arg(&target)
        .args(["--overwrite", "never"])
        .env("CAIRN_TOKEN", &fleet.token)
        .output()
        .await
        .expect("run ctl");
    assert!(
        !output.status.success(),
        "ctl restored with --overwrite never"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("0.17.0"), "{stderr}");
    assert_eq!(restores(&fleet.server).await, before, "nothing was queued");

    // (c) The server bypassed (a job written straight into its store, as a
    // compromised server could send): the agent asks its own restic and
    // refuses, before restic runs.
    let job = fleet
        .server
        .store()
        .await
        .create_job(
            NewJob {
                host_id: HostId(fleet.host_id),
                repository_id: Some(RepositoryId(repo)),
                trigger: Trigger::Api,
                spec: JobSpec::Restore(RestoreSpec {
                    snapshot_id: id.clone(),
                    target_path: target.display().to_string(),
                    target_host_id: fleet.host_id,
                    overwrite: RestoreOverwrite::Never,
                    ..Default::default()
                }),
                created_by: None,
            },
            0,
        )
        .await
        .expect("stored job");
    let done = fleet.finish(job.0).await;
    assert_eq!(done.status, pb::JobStatus::Failed as i32, "{done:?}");
    assert!(
        done.error.starts_with("refused: ")
            && done.error.contains(&format!("restic {old}"))
            && done.error.contains("--overwrite never")
            && done.error.contains("0.17.0"),
        "{}",
        done.error
    );
    assert_eq!(
        std::fs::read_to_string(&landed).expect("still there"),
        "keep me",
        "restic did not run"
    );
}

#[tokio::test]
async fn the_console_offers_the_modes_keeps_the_form_on_a_refusal_and_states_the_mode() {
    let (dir, mut fleet, repo, id) = backed_up_fleet().await;
    let source = dir.path().join("source");
    reported_restic(&fleet.server, fleet.host_id).await;
    let server = &fleet.server;
    let cookie = signed_in(server, "olga", Role::Operator).await;
    let base = format!("/snapshots/{repo}/{id}");
    let (status, page) = get_page(server, &cookie, &base).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    for mode in RestoreOverwrite::ALL {
        assert!(
            page.contains(&format!("value=\"{mode}\" id=\"overwrite-{mode}\"")),
            "{mode} offered"
        );
    }
    assert!(page.contains("value=\"always\" id=\"overwrite-always\" checked"));
    assert!(page.contains("keep what is there"));
    assert!(!page.contains("not offered"));
    let csrf = form_value(&page, "_csrf").expect("csrf");
    let a = format!("{}/a.txt", source.display());
    let target = fleet.restore_root().join("web").display().to_string();
    let form = |host: &str, step: &str| {
        vec![
            ("_csrf", csrf.clone()),
            ("at", "/".to_string()),
            ("select", a.clone()),
            ("host", host.to_string()),
            ("target", target.clone()),
            ("limit", "300".to_string()),
            ("overwrite", "never".to_string()),
            ("step", step.to_string()),
        ]
    };
    let send = |fields: Vec<(&'static str, String)>| {
        let cookie = cookie.clone();
        let path = format!("{base}/restore");
        async move {
            let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post(server, &cookie, &path, &pairs).await
        }
    };

    // Onto the host with restic 0.14: refused at review and at confirm,
    // saying why, with every tick and field kept.
    let host = fleet.host_id.to_string();
    let before = restores(server).await;
    for step in ["review", "confirm"] {
        let (status, _, refused) = send(form(&host, step)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{step}: {refused}");
        let error = unescape(element(&refused, "restore-error", "p"));
        assert!(
            error.contains("0.17.0") && error.contains("never"),
            "{error}"
        );
        assert!(refused.contains("value=\"never\" id=\"overwrite-never\" checked"));
        assert!(!refused.contains("id=\"overwrite-always\" checked"));
        assert!(refused.contains(&format!("name=\"select\" value=\"{a}\" checked")));
        assert!(refused.contains(&format!("value=\"{target}\"")));
        assert!(refused.contains("value=\"300\""));
        assert!(refused.contains("aria-invalid=\"true\""));
    }
    assert_eq!(restores(server).await, before, "nothing was queued");

    // A host that reported restic 0.17 may be asked: the summary states the
    // mode and its command line carries it.
    let newer = server
        .stored_host_with(cairn_store::HostFacts {
            hostname: "newer".into(),
            restic_version: "0.17.3".into(),
            ..Default::default()
        })
        .await;
    HostServiceClient::new(server.channel().await)
        .approve_host(authorized(
            pb::ApproveHostRequest {
                host_id: newer.0,
                expected_fingerprint: String::new(),
            },
            &fleet.token,
        ))
        .await
        .expect("approve");
    fleet
        .repos
        .assign_repository(authorized(
            pb::AssignRepositoryRequest {
                repository_id: repo,
                host_id: newer.0,
            },
            &fleet.token,
        ))
        .await
        .expect("assign");
    let (status, _, summary) = send(form(&newer.0.to_string(), "review")).await;
    assert_eq!(status, StatusCode::OK, "{summary}");
    let mode = unescape(element(&summary, "restore-overwrite-mode", "dd"));
    assert!(
        mode.contains("never") && mode.contains("keep what is there"),
        "{mode}"
    );
    assert!(
        summary.contains("name=\"overwrite\" value=\"never\""),
        "carried to confirm"
    );
    let ctl = unescape(
        element(&summary, "restore-ctl", "code").trim_start_matches("id=\"restore-ctl\">"),
    );
    assert!(
        ctl.starts_with(&format!(
            "cairn ctl restore --repo {repo} --snapshot {id} --host {} --target {target}",
            newer.0
        )) && ctl.ends_with(" --limit-download 300 --overwrite never --wait"),
        "{ctl}"
    );
    // The line is true: run as shown, it queues the same restore (without
    // `--wait`: that host never connects, so its job stays queued).
    run_ctl(server, &fleet.token, ctl.trim_end_matches(" --wait")).await;
    let queued = server
        .store()
        .await
        .list_jobs(
            JobFilter {
                host: Some(newer),
                ..Default::default()
            },
            Page::first(10),
        )
        .await
        .expect("jobs")
        .items;
    let [job] = &queued[..] else {
        panic!("one job for the newer host: {queued:?}")
    };
    let JobSpec::Restore(spec) = &job.spec else {
        panic!("not a restore: {:?}", job.spec)
    };
    assert_eq!(spec.overwrite, RestoreOverwrite::Never);
    assert_eq!(spec.limit_download_kib, 300);
}

#[test]
fn a_restore_spec_stored_before_the_mode_existed_decodes_as_always() {
    let stored = r#"{"v":1,"data":{"restore":{"snapshot_id":"latest","path":"","includes":["/srv"],"excludes":[],"target_path":"/var/restores/x","target_host_id":3,"verify":false,"limit_download_kib":0}}}"#;
    let spec: JobSpec = cairn_store::codec::decode("jobs", 1, "spec", stored).expect("decodes");
    let JobSpec::Restore(restore) = spec else {
        panic!("a restore")
    };
    assert_eq!(restore.overwrite, RestoreOverwrite::Always);
    assert_eq!(restore.includes, ["/srv"]);
}
