//! The gRPC API: bearer authentication, scopes, health and reflection.

use cairn_proto::v1 as pb;
use cairn_proto::v1::admin_service_client::AdminServiceClient;
use cairn_store::{Role, Scope};
use cairn_testkit::TestServer;
use tokio_stream::StreamExt;
use tonic::{Code, Request};

use crate::with_token;

#[tokio::test]
async fn calls_without_a_valid_token_are_unauthenticated() {
    let server = TestServer::start().await;
    let mut client = AdminServiceClient::new(server.channel().await);

    let none = client
        .who_am_i(pb::WhoAmIRequest {})
        .await
        .expect_err("no token");
    assert_eq!(none.code(), Code::Unauthenticated);
    let garbage = client
        .who_am_i(with_token(
            pb::WhoAmIRequest {},
            "cairn_pat_not-a-real-token",
        ))
        .await
        .expect_err("unknown token");
    assert_eq!(garbage.code(), Code::Unauthenticated);

    let mut raw = Request::new(pb::WhoAmIRequest {});
    raw.metadata_mut().insert(
        "authorization",
        "Basic dXNlcjpwYXNz".parse().expect("value"),
    );
    let basic = client.who_am_i(raw).await.expect_err("not bearer");
    assert_eq!(basic.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn a_read_token_reads_but_may_not_operate_or_administer() {
    let server = TestServer::start().await;
    // An admin's token with read scope: the scope, not the role, limits it.
    let token = server.token_for("ann", Role::Admin, Scope::Read).await;
    let mut client = AdminServiceClient::new(server.channel().await);

    let who = client
        .who_am_i(with_token(pb::WhoAmIRequest {}, &token))
        .await
        .expect("whoami with read scope")
        .into_inner();
    assert_eq!(who.user.map(|u| u.username), Some("ann".to_string()));
    assert_eq!(who.effective_scope, pb::Scope::Read as i32);

    let list_users = client
        .list_users(with_token(pb::ListUsersRequest { page: None }, &token))
        .await
        .expect_err("admin rpc");
    assert_eq!(list_users.code(), Code::PermissionDenied);
    let create = client
        .create_api_token(with_token(
            pb::CreateApiTokenRequest {
                name: "more".into(),
                scope: pb::Scope::Admin as i32,
                ttl_seconds: 0,
                user_id: 0,
            },
            &token,
        ))
        .await
        .expect_err("admin rpc");
    assert_eq!(create.code(), Code::PermissionDenied);
    assert!(create.message().contains("admin"), "{}", create.message());
}

#[tokio::test]
async fn an_operator_cannot_mint_tokens_beyond_their_role() {
    let server = TestServer::start().await;
    let admin = server.token_for("root", Role::Admin, Scope::Admin).await;
    server.create_user("olga", Role::Operator).await;
    let olga = server
        .api
        .admin
        .user_by_username("olga")
        .await
        .expect("olga");
    let mut client = AdminServiceClient::new(server.channel().await);
    let refused = client
        .create_api_token(with_token(
            pb::CreateApiTokenRequest {
                name: "too much".into(),
                scope: pb::Scope::Admin as i32,
                ttl_seconds: 0,
                user_id: olga.id.0,
            },
            &admin,
        ))
        .await
        .expect_err("scope above role");
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(refused.message().contains("scope"), "{}", refused.message());
}

#[tokio::test]
async fn tokens_are_created_used_listed_and_revoked() {
    let server = TestServer::start().await;
    let admin = server.token_for("root", Role::Admin, Scope::Admin).await;
    let mut client = AdminServiceClient::new(server.channel().await);

    let created = client
        .create_api_token(with_token(
            pb::CreateApiTokenRequest {
                name: "nightly script".into(),
                scope: pb::Scope::Operate as i32,
                ttl_seconds: 3600,
                user_id: 0,
            },
            &admin,
        ))
        .await
        .expect("create")
        .into_inner();
    let secret = created.secret.clone();
    let record = created.token.expect("record");
    assert!(
        secret.starts_with(&record.prefix),
        "the prefix identifies the token"
    );
    assert!(record.expires_at.is_some());

    let who = client
        .who_am_i(with_token(pb::WhoAmIRequest {}, &secret))
        .await
        .expect("new token works")
        .into_inner();
    assert_eq!(who.effective_scope, pb::Scope::Operate as i32);

    let listed = client
        .list_api_tokens(with_token(
            pb::ListApiTokensRequest {
                all_users: false,
                include_inactive: false,
                page: None,
            },
            &admin,
        ))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.tokens.len(), 2);
    assert!(
        listed
            .tokens
            .iter()
            .all(|t| !format!("{t:?}").contains(&secret)),
        "secrets are never listed"
    );

    client
        .revoke_api_token(with_token(
            pb::RevokeApiTokenRequest {
                token_id: record.id,
            },
            &admin,
        ))
        .await
        .expect("revoke");
    let dead = client
        .who_am_i(with_token(pb::WhoAmIRequest {}, &secret))
        .await
        .expect_err("revoked");
    assert_eq!(dead.code(), Code::Unauthenticated);
    assert!(dead.message().contains("revoked"));
}

#[tokio::test]
async fn bad_page_tokens_and_missing_rows_have_clear_codes() {
    let server = TestServer::start().await;
    let admin = server.token_for("root", Role::Admin, Scope::Admin).await;
    let mut client = AdminServiceClient::new(server.channel().await);
    let bad_page = client
        .list_users(with_token(
            pb::ListUsersRequest {
                page: Some(pb::PageRequest {
                    page_size: 5,
                    page_token: "bogus".into(),
                }),
            },
            &admin,
        ))
        .await
        .expect_err("bad page token");
    assert_eq!(bad_page.code(), Code::InvalidArgument);
    assert!(bad_page.message().contains("page_token"));
    let missing = client
        .revoke_api_token(with_token(
            pb::RevokeApiTokenRequest { token_id: 9999 },
            &admin,
        ))
        .await
        .expect_err("missing");
    assert_eq!(missing.code(), Code::NotFound);
}

#[tokio::test]
async fn health_and_reflection_answer_a_generic_client() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let server = TestServer::start().await;
    let channel = server.channel().await;

    let mut health = HealthClient::new(channel.clone());
    for service in ["", "cairn.v1.AdminService"] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .expect("health check")
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "service {service:?}");
    }

    let mut reflection = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("reflection")
        .into_inner();
    let response = responses.next().await.expect("one response").expect("ok");
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection answer: {response:?}");
    };
    let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
    for expected in ["cairn.v1.AdminService", "grpc.health.v1.Health"] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }
}

#[tokio::test]
async fn shutdown_ends_open_streams_within_the_grace_period() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;

    let server =
        TestServer::start_with(|c| c.shutdown_grace = std::time::Duration::from_millis(500)).await;
    let mut health = HealthClient::new(server.channel().await);
    let mut watch = health
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("watch")
        .into_inner();
    let first = watch.next().await.expect("first status").expect("ok");
    assert_eq!(
        first.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );

    server
        .stop()
        .await
        .expect("clean stop despite an open stream");
    // The stream reports NOT_SERVING and/or ends; it never hangs.
    while let Some(item) = watch.next().await {
        if item.is_err() {
            break;
        }
    }
}
