//! Who may read `/metrics`: trusted networks with no credential, anyone
//! else with the metrics token or a read-scope API token, on the main
//! listener and on one of its own.

use std::net::SocketAddr;

use axum::body::Body;
use cairn_server::ClientAddr;
use cairn_server::config::{Networks, Secret};
use cairn_server::metrics::{MetricsAccess, MetricsListener, metrics_router};
use cairn_store::{Role, Scope};
use cairn_testkit::TestServer;
use tower::ServiceExt;

use crate::metrics::{parse_strictly, scrape, value_of};

const METRICS_TOKEN: &str = "scrape-me-with-this-token-0123";

/// The status `/metrics` answers a peer at `peer` bringing `auth`.
async fn call(
    api: &cairn_server::Api,
    access: &MetricsAccess,
    peer: &str,
    auth: Option<&str>,
) -> http::StatusCode {
    let mut request = http::Request::get("/metrics");
    if let Some(token) = auth {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let mut request = request.body(Body::empty()).expect("request");
    let peer: SocketAddr = peer.parse().expect("addr");
    request.extensions_mut().insert(ClientAddr(peer));
    metrics_router(api.clone(), access.clone())
        .oneshot(request)
        .await
        .expect("answer")
        .status()
}

async fn scrape_with(url: &str, token: Option<&str>) -> reqwest::StatusCode {
    let mut request = reqwest::Client::new().get(format!("{url}/metrics"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("GET /metrics").status()
}

#[tokio::test]
async fn by_default_the_main_listener_lets_loopback_in_and_asks_anyone_else_for_read_scope() {
    let server = TestServer::start().await;
    let viewer = server.token_for("viewer", Role::Viewer, Scope::Read).await;
    let api = &server.api;
    let access = MetricsAccess::from_config(server.config(), MetricsListener::Main);
    assert_eq!(call(api, &access, "127.0.0.1:5000", None).await, 200);
    assert_eq!(call(api, &access, "[::1]:5000", None).await, 200);
    assert_eq!(
        call(api, &access, "[::ffff:127.0.0.1]:5000", None).await,
        200
    );
    assert_eq!(call(api, &access, "10.1.2.3:5000", None).await, 401);
    let not_a_token = Some("cairn_not-a-token");
    assert_eq!(call(api, &access, "10.1.2.3:5000", not_a_token).await, 401);
    assert_eq!(
        call(api, &access, "192.0.2.7:5000", Some(&viewer)).await,
        200
    );
}

#[tokio::test]
async fn trusted_networks_and_the_metrics_token_are_the_operators_to_choose() {
    let server = TestServer::start().await;
    let viewer = server.token_for("viewer", Role::Viewer, Scope::Read).await;
    let api = &server.api;
    let trusted = Networks::parse("10.0.0.0/8, 2001:db8::/32").expect("networks");

    // Trusted networks alone: in by address, loopback no longer special.
    let access = MetricsAccess {
        trusted: trusted.clone(),
        token: None,
    };
    assert_eq!(call(api, &access, "10.9.8.7:5000", None).await, 200);
    assert_eq!(call(api, &access, "[2001:db8::5]:5000", None).await, 200);
    assert_eq!(call(api, &access, "127.0.0.1:5000", None).await, 401);
    assert_eq!(call(api, &access, "192.0.2.7:5000", None).await, 401);
    let metrics_token = Some(METRICS_TOKEN);
    assert_eq!(
        call(api, &access, "192.0.2.7:5000", metrics_token).await,
        401,
        "no token set"
    );

    // The token alone (nobody trusted by address): it, or read scope.
    let access = MetricsAccess {
        trusted: Networks::parse("").expect("none"),
        token: Some(Secret::new(METRICS_TOKEN.into())),
    };
    assert_eq!(call(api, &access, "127.0.0.1:5000", None).await, 401);
    assert_eq!(
        call(api, &access, "192.0.2.7:5000", metrics_token).await,
        200
    );
    let wrong = Some("scrape-me-with-this-token-0124");
    assert_eq!(call(api, &access, "192.0.2.7:5000", wrong).await, 401);
    assert_eq!(
        call(api, &access, "192.0.2.7:5000", Some(&viewer)).await,
        200
    );

    // Both: the network, or the token.
    let access = MetricsAccess {
        trusted,
        token: Some(Secret::new(METRICS_TOKEN.into())),
    };
    assert_eq!(call(api, &access, "10.0.0.1:5000", None).await, 200);
    assert_eq!(call(api, &access, "192.0.2.7:5000", None).await, 401);
    assert_eq!(
        call(api, &access, "192.0.2.7:5000", metrics_token).await,
        200
    );
}

#[tokio::test]
async fn metrics_can_move_to_a_listener_of_their_own() {
    let server = TestServer::start_with(|c| {
        c.metrics_listen = Some("127.0.0.1:0".parse().expect("addr"));
    })
    .await;
    let addr = server.metrics_addr.expect("a metrics listener");
    let (status, text) = scrape(&format!("http://{addr}")).await;
    assert_eq!(status, 200, "open to whoever reaches it, by default");
    let metrics = parse_strictly(&text);
    assert_eq!(value_of(&metrics, "cairn_agents_connected", &[]), Some(0.0));
    // Moved, not copied: the main listener no longer serves it.
    let (status, _) = scrape(&server.url).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_listener_of_its_own_with_a_token_or_networks_asks_for_them() {
    // A token set: the listener is no longer open, loopback aside.
    let server = TestServer::start_with(|c| {
        c.metrics_listen = Some("127.0.0.1:0".parse().expect("addr"));
        c.metrics_token = Some(Secret::new(METRICS_TOKEN.into()));
        c.metrics_trusted = Some(Networks::parse("192.0.2.0/24").expect("networks"));
    })
    .await;
    let url = format!(
        "http://{}",
        server.metrics_addr.expect("a metrics listener")
    );
    // The peer is 127.0.0.1, outside 192.0.2.0/24: the real listener reads
    // the peer's address, not a header.
    assert_eq!(scrape_with(&url, None).await, 401);
    assert_eq!(
        scrape_with(&url, Some("wrong-token-of-some-length")).await,
        401
    );
    assert_eq!(scrape_with(&url, Some(METRICS_TOKEN)).await, 200);
    let viewer = server.token_for("viewer", Role::Viewer, Scope::Read).await;
    assert_eq!(scrape_with(&url, Some(&viewer)).await, 200);

    // Loopback trusted again by name: in with nothing.
    let server = TestServer::start_with(|c| {
        c.metrics_listen = Some("127.0.0.1:0".parse().expect("addr"));
        c.metrics_token = Some(Secret::new(METRICS_TOKEN.into()));
    })
    .await;
    let url = format!(
        "http://{}",
        server.metrics_addr.expect("a metrics listener")
    );
    assert_eq!(
        scrape_with(&url, None).await,
        200,
        "with a token, loopback stays trusted"
    );
}
