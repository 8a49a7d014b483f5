//! Password spraying from one client that claims to be many: the login
//! limits count the connection's own address, and no header a client sends
//! (`X-Forwarded-For`, `X-Real-IP`, `Forwarded`) changes whose attempts
//! they are. The server reads none of them.

use cairn_store::Role;
use cairn_testkit::TestServer;
use reqwest::StatusCode;

/// A login for `username` with a wrong password, claiming to come from
/// `claimed` in every header a proxy might set.
async fn spray(server: &TestServer, username: &str, claimed: &str) -> StatusCode {
    server
        .http()
        .post(format!("{}/login", server.url))
        .header("sec-fetch-site", "same-origin")
        .header("x-forwarded-for", claimed)
        .header("x-real-ip", claimed)
        .header("forwarded", format!("for={claimed}"))
        .form(&[("username", username), ("password", "not the password")])
        .send()
        .await
        .expect("login request")
        .status()
}

#[tokio::test]
async fn rotating_forwarded_addresses_do_not_reset_the_per_client_limit() {
    const PER_CLIENT: u32 = 5;
    let server = TestServer::start_with(|c| {
        c.login_max_failures_per_client = PER_CLIENT;
        // Each account is tried once: only the per-client limit can stop it.
        c.login_max_failures = 100;
    })
    .await;
    let accounts: Vec<String> = (0..PER_CLIENT + 3).map(|i| format!("user{i}")).collect();
    for account in &accounts {
        server.create_user(account, Role::Viewer).await;
    }
    let mut statuses = Vec::new();
    for (i, account) in accounts.iter().enumerate() {
        let claimed = format!("203.0.113.{}", i + 1);
        statuses.push(spray(&server, account, &claimed).await);
    }
    let (tried, stopped) = statuses.split_at(PER_CLIENT as usize);
    assert!(
        tried.iter().all(|s| *s == StatusCode::UNAUTHORIZED),
        "the first {PER_CLIENT} are checked and refused: {tried:?}"
    );
    assert!(
        stopped.iter().all(|s| *s == StatusCode::TOO_MANY_REQUESTS),
        "past the limit, a new claimed address changes nothing: {stopped:?}"
    );
    // And the right password from the same client is refused too, whatever
    // address it claims.
    let response = server
        .http()
        .post(format!("{}/login", server.url))
        .header("sec-fetch-site", "same-origin")
        .header("x-forwarded-for", "198.51.100.7")
        .form(&[
            ("username", accounts[0].as_str()),
            ("password", cairn_testkit::TEST_PASSWORD),
        ])
        .send()
        .await
        .expect("login request");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
}
