//! What a repository may be: the server refuses a URL or environment that
//! could make restic, rclone or ssh do more than the job (the agent checks
//! again on its side, see cairn-agent's runner tests), and the agent's
//! printed example configuration is a valid, locked-down policy.

use cairn_proto::v1 as pb;
use cairn_proto::v1::repository_service_client::RepositoryServiceClient;
use cairn_store::{Role, Scope};
use cairn_testkit::TestServer;
use tonic::Code;

use crate::with_token;

#[tokio::test]
async fn the_server_refuses_hostile_repository_urls_and_environment_naming_the_part() {
    let server = TestServer::start().await;
    let token = server.token_for("ops", Role::Admin, Scope::Admin).await;
    let mut repos = RepositoryServiceClient::new(server.channel().await);
    let create = |url: &str, env: &[(&str, &str)]| pb::CreateRepositoryRequest {
        name: format!("r{}", url.len()),
        url: url.into(),
        password: "pw".into(),
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    for (url, part) in [
        ("rclone:--log-file=/tmp/x:foo", "remote"),
        ("sftp:-oProxyCommand=touch /tmp/x:/p", "host"),
        ("sftp:user@-oProxyCommand=x:/p", "host"),
        ("s3:https://-evil/bucket", "host"),
        ("ftp://host/repo", "scheme"),
    ] {
        let status = repos
            .create_repository(with_token(create(url, &[]), &token))
            .await
            .expect_err(url);
        assert_eq!(status.code(), Code::InvalidArgument, "{url}");
        assert!(
            status.message().contains(part),
            "{url}: {}",
            status.message()
        );
    }
    let status = repos
        .create_repository(with_token(
            create(
                "/srv/restic",
                &[("AWS_SHARED_CREDENTIALS_FILE", "/root/.aws/x")],
            ),
            &token,
        ))
        .await
        .expect_err("file-reading env");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("AWS_SHARED_CREDENTIALS_FILE"),
        "{status:?}"
    );

    // An update is held to the same rules.
    let repo = repos
        .create_repository(with_token(create("/srv/restic", &[]), &token))
        .await
        .expect("a plain local repository")
        .into_inner()
        .repository
        .expect("repository");
    let status = repos
        .update_repository(with_token(
            pb::UpdateRepositoryRequest {
                repository_id: repo.id,
                url: Some("sftp://-oProxyCommand=x//p".into()),
                ..Default::default()
            },
            &token,
        ))
        .await
        .expect_err("hostile update");
    assert_eq!(status.code(), Code::InvalidArgument);
    let status = repos
        .update_repository(with_token(
            pb::UpdateRepositoryRequest {
                repository_id: repo.id,
                set_env: [("RCLONE_CONFIG".to_string(), "/etc/passwd".to_string())].into(),
                ..Default::default()
            },
            &token,
        ))
        .await
        .expect_err("rclone env");
    assert_eq!(status.code(), Code::InvalidArgument);
}

#[test]
fn the_printed_example_agent_config_loads_as_a_locked_down_policy() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["agent", "--print-example-config"])
        .output()
        .expect("run cairn");
    assert!(output.status.success(), "{output:?}");
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("agent.toml");
    std::fs::write(&path, &output.stdout).expect("write");
    let file = cairn_agent::AgentFile::load(&path).expect("the example loads");
    let policy = file.policy().expect("the example is a valid policy");
    assert!(!policy.allow_destructive && !policy.allow_rclone);
    assert!(!policy.repositories.is_empty() && !policy.restore_roots.is_empty());
    assert!(
        policy
            .check_repository("rest:https://backup.example.com.evil.net/")
            .is_err()
    );
}
