//! No peer can grow the server without bound by announcing new identities:
//! they are capped per client address and in total while pending, and a
//! pending host's stream does not stay open forever.

use std::time::Duration;

use cairn_proto::v1 as pb;
use cairn_proto::v1::host_service_client::HostServiceClient;
use cairn_store::{Role, Scope};
use cairn_testkit::TestServer;
use cairn_testkit::agents::{RawSession, hello, new_identity, open};
use tonic::Code;

use crate::with_token;

const WAIT: Duration = Duration::from_secs(60);

/// Announces `identity`; returns the session and the welcome, or the status
/// that refused it.
async fn announce(
    server: &TestServer,
    identity: &str,
) -> Result<(RawSession, pb::Welcome), tonic::Status> {
    let mut session = open(&server.url, hello(identity, "flood")).await?;
    match session.next(WAIT).await? {
        Some(pb::ServerMessage {
            body: Some(pb::server_message::Body::Welcome(welcome)),
        }) => Ok((session, welcome)),
        other => panic!("expected a welcome, got {other:?}"),
    }
}

async fn pending_count(server: &TestServer) -> u64 {
    server
        .store()
        .await
        .pending_host_count()
        .await
        .expect("count")
}

#[tokio::test]
async fn new_identities_are_capped_per_client_address_known_ones_are_not() {
    let server = TestServer::start_with(|c| c.max_announces_per_address = 3).await;
    let first = new_identity();
    let (session, _) = announce(&server, &first).await.expect("1st");
    drop(session);
    for n in 2..=3 {
        announce(&server, &new_identity())
            .await
            .unwrap_or_else(|e| panic!("new identity {n}: {e:?}"));
    }
    let refused = announce(&server, &new_identity())
        .await
        .expect_err("4th is refused");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert_eq!(
        pending_count(&server).await,
        3,
        "nothing stored for the refused one"
    );

    // An identity the server knows is never limited: it comes back.
    let (_session, welcome) = announce(&server, &first).await.expect("a known identity");
    assert_eq!(welcome.status, pb::WelcomeStatus::PendingApproval as i32);
}

#[tokio::test]
async fn a_rollout_with_an_enrollment_token_is_not_held_by_the_caps() {
    let server = TestServer::start_with(|c| {
        c.max_announces_per_address = 1;
        c.max_pending_hosts = 1;
    })
    .await;
    let admin = server.token_for("root", Role::Admin, Scope::Admin).await;
    let secret =
        cairn_proto::v1::admin_service_client::AdminServiceClient::new(server.channel().await)
            .create_enrollment_token(with_token(
                pb::CreateEnrollmentTokenRequest {
                    name: "rack4".into(),
                    ttl_seconds: 3600,
                    max_uses: 10,
                    labels: Default::default(),
                },
                &admin,
            ))
            .await
            .expect("enrollment token")
            .into_inner()
            .secret;
    announce(&server, &new_identity())
        .await
        .expect("the one pending host");
    for n in 0..3 {
        let mut message = hello(&new_identity(), "rack4");
        if let Some(pb::agent_message::Body::Hello(h)) = message.body.as_mut() {
            h.enroll_token = secret.clone();
        }
        let mut session = open(&server.url, message).await.expect("open");
        match session.next(WAIT).await {
            Ok(Some(pb::ServerMessage {
                body: Some(pb::server_message::Body::Welcome(w)),
            })) => assert_eq!(w.status, pb::WelcomeStatus::Approved as i32, "host {n}"),
            other => panic!("enrolled host {n} was refused: {other:?}"),
        }
    }
}

#[tokio::test]
async fn the_approval_queue_is_capped_and_frees_up_when_hosts_are_handled() {
    let server = TestServer::start_with(|c| {
        c.max_pending_hosts = 2;
        c.max_announces_per_address = 100;
    })
    .await;
    let admin = server.token_for("root", Role::Admin, Scope::Admin).await;
    let (_a, first) = announce(&server, &new_identity()).await.expect("1st");
    let (_b, _) = announce(&server, &new_identity()).await.expect("2nd");
    let refused = announce(&server, &new_identity())
        .await
        .expect_err("queue full");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");

    HostServiceClient::new(server.channel().await)
        .reject_host(with_token(
            pb::RejectHostRequest {
                host_id: first.host_id,
                reason: "not ours".into(),
            },
            &admin,
        ))
        .await
        .expect("reject");
    announce(&server, &new_identity())
        .await
        .expect("room again once a pending host is handled");
    assert_eq!(pending_count(&server).await, 2);
}

#[tokio::test]
async fn a_pending_session_times_out_an_approved_one_does_not() {
    let (server, clock) = TestServer::start_manual(cairn_store::now_millis(), |c| {
        c.pending_session_timeout = Duration::from_secs(600);
        c.agent_offline_after = Duration::from_secs(24 * 3600);
    })
    .await;
    let admin = server.token_for("root", Role::Admin, Scope::Admin).await;
    let (mut waiting, _) = announce(&server, &new_identity()).await.expect("pending");
    let (mut approved, welcome) = announce(&server, &new_identity()).await.expect("pending");
    HostServiceClient::new(server.channel().await)
        .approve_host(with_token(
            pb::ApproveHostRequest {
                host_id: welcome.host_id,
                expected_fingerprint: String::new(),
            },
            &admin,
        ))
        .await
        .expect("approve");
    // The approved session hears its welcome (and what follows it).
    match approved.next(WAIT).await {
        Ok(Some(pb::ServerMessage {
            body: Some(pb::server_message::Body::Welcome(w)),
        })) => assert_eq!(w.status, pb::WelcomeStatus::Approved as i32),
        other => panic!("expected the approval, got {other:?}"),
    }

    clock.advance(Duration::from_secs(601));
    let ended = loop {
        match waiting.next(WAIT).await {
            Ok(Some(_)) => continue,
            other => break other,
        }
    };
    let status = ended.expect_err("closed with a status");
    assert_eq!(status.code(), Code::Unavailable);
    assert!(
        status.message().contains("waiting for approval"),
        "{status:?}"
    );

    // The approved host's stream is still open: it still gets its messages.
    let online = HostServiceClient::new(server.channel().await)
        .get_host(with_token(
            pb::GetHostRequest {
                host_id: welcome.host_id,
            },
            &admin,
        ))
        .await
        .expect("host")
        .into_inner()
        .host
        .expect("host")
        .online;
    assert!(online, "the approved session was closed too");
}
