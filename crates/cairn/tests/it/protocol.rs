//! Protocol versions: an agent outside the server's window is turned away
//! with a reason naming the side to upgrade, recorded on its host (the
//! console shows it) and in the audit log; an agent from before the field,
//! and the real agent, are taken.

use std::time::Duration;

use cairn_agent::AgentEvent;
use cairn_domain::protocol::{OLDEST_AGENT_PROTOCOL, PROTOCOL_VERSION};
use cairn_proto::v1 as pb;
use cairn_proto::v1::host_service_client::HostServiceClient;
use cairn_store::{AuditFilter, HostId, Outcome, Page, Role, Scope};
use cairn_testkit::TestServer;
use cairn_testkit::agents::{self, RunningAgent};
use cairn_testkit::fleet::authorized;

use crate::{get_page, signed_in};

const WITHIN: Duration = Duration::from_secs(60);

/// The host as a script reads it over gRPC.
async fn host_over_grpc(server: &TestServer, token: &str, host_id: i64) -> pb::Host {
    HostServiceClient::new(server.channel().await)
        .get_host(authorized(pb::GetHostRequest { host_id }, token))
        .await
        .expect("get host")
        .into_inner()
        .host
        .expect("a host")
}

/// A raw session's Hello announcing `version`; the server's Welcome.
async fn announce(
    server: &TestServer,
    hostname: &str,
    version: u32,
) -> (pb::Welcome, agents::RawSession) {
    let mut hello = agents::hello(&agents::new_identity(), hostname);
    if let Some(pb::agent_message::Body::Hello(h)) = hello.body.as_mut() {
        h.protocol_version = version;
    }
    let mut session = agents::open(&server.url, hello).await.expect("open");
    let message = session
        .next(WITHIN)
        .await
        .expect("a message")
        .expect("not the end");
    let Some(pb::server_message::Body::Welcome(welcome)) = message.body else {
        panic!("not a Welcome: {message:?}");
    };
    (welcome, session)
}

#[tokio::test]
async fn an_agent_newer_than_the_server_is_turned_away_and_the_console_says_why() {
    let server = TestServer::start().await;
    let too_new = PROTOCOL_VERSION + 1;
    let (welcome, mut session) = announce(&server, "future01", too_new).await;
    assert_eq!(welcome.status, pb::WelcomeStatus::Incompatible as i32);
    assert!(
        welcome.reason.contains(&format!("protocol {too_new}"))
            && welcome.reason.contains("upgrade the server"),
        "{}",
        welcome.reason
    );
    assert_eq!(welcome.protocol_version, PROTOCOL_VERSION);
    assert_eq!(welcome.oldest_agent_protocol, OLDEST_AGENT_PROTOCOL);
    // The stream ends: nothing else is said to it.
    assert!(matches!(session.next(WITHIN).await, Ok(None) | Err(_)));
    assert!(!server.api.fleet.is_online(HostId(welcome.host_id)));

    // Its host is on record with the version it spoke, and the console says
    // why it is turned away.
    let host = server
        .store()
        .await
        .host(HostId(welcome.host_id))
        .await
        .expect("host");
    assert_eq!(host.facts.protocol_version, too_new);
    let cookie = signed_in(&server, "ann", Role::Viewer).await;
    let (_, page) = get_page(&server, &cookie, &format!("/hosts/{}", welcome.host_id)).await;
    assert!(page.contains("id=\"host-incompatible\""), "{page}");
    assert!(page.contains("upgrade the server"));
    let (_, list) = get_page(&server, &cookie, "/hosts").await;
    assert!(list.contains(">incompatible</span>"), "{list}");
    // And so does the API.
    let token = server.token_for("script", Role::Viewer, Scope::Read).await;
    let shown = host_over_grpc(&server, &token, welcome.host_id).await;
    assert_eq!(shown.agent_protocol_version, too_new);
    assert!(
        shown.protocol_incompatible.contains("upgrade the server"),
        "{}",
        shown.protocol_incompatible
    );

    let audit = server
        .store()
        .await
        .list_audit(
            AuditFilter {
                action_prefix: Some("host.connect".into()),
                ..AuditFilter::default()
            },
            Page::first(10),
        )
        .await
        .expect("audit");
    assert!(
        audit
            .items
            .iter()
            .any(|r| r.entry.outcome == Outcome::Denied
                && r.entry
                    .detail
                    .as_deref()
                    .is_some_and(|d| d.contains("upgrade the server"))),
        "{:?}",
        audit.items
    );
}

#[tokio::test]
async fn an_agent_from_before_versions_and_the_real_agent_are_taken() {
    let server = TestServer::start().await;
    let (welcome, _session) = announce(&server, "legacy01", 0).await;
    assert_eq!(
        welcome.status,
        pb::WelcomeStatus::PendingApproval as i32,
        "{}",
        welcome.reason
    );

    let state = tempfile::tempdir().expect("state");
    let mut agent = RunningAgent::start(agents::config(&server.url, state.path()));
    let AgentEvent::Welcomed { host_id, .. } =
        agent.welcomed(pb::WelcomeStatus::PendingApproval).await
    else {
        panic!("not welcomed");
    };
    let host = server
        .store()
        .await
        .host(HostId(host_id))
        .await
        .expect("host");
    assert_eq!(
        host.facts.protocol_version, PROTOCOL_VERSION,
        "the agent says its version"
    );
    let cookie = signed_in(&server, "ann", Role::Viewer).await;
    let (_, page) = get_page(&server, &cookie, &format!("/hosts/{host_id}")).await;
    assert!(!page.contains("id=\"host-incompatible\""));
    let token = server.token_for("script", Role::Viewer, Scope::Read).await;
    let shown = host_over_grpc(&server, &token, host_id).await;
    assert_eq!(shown.agent_protocol_version, PROTOCOL_VERSION);
    assert_eq!(shown.protocol_incompatible, "");
    let legacy = host_over_grpc(&server, &token, welcome.host_id).await;
    assert_eq!(
        (
            legacy.agent_protocol_version,
            legacy.protocol_incompatible.as_str()
        ),
        (0, ""),
        "an agent from before versions is within the window"
    );
    agent.stop().await.expect("stop");
}
