//! End-to-end tests of the Cairn binary's pieces: a real server on a loopback
//! port, the web UI over HTTP, the gRPC API, and the `cairn` executable.

mod agents;
mod alerts;
mod alerts_ctl;
mod alerts_e2e;
mod alerts_web;
mod api_truth;
mod audit;
mod backup_database;
mod backups;
mod book_links;
mod brute_force;
mod chaos;
mod chaos_clock_skew;
mod chaos_disk_full;
mod chaos_duplicate_identity;
mod chaos_link_cut;
mod chaos_restic_kill;
mod chaos_server_kill;
mod chaos_silent_drop;
mod cli;
mod cli_admin;
mod edges;
mod grafana;
mod grpc;
mod grpc_reference;
mod h2_raw;
mod hostile;
mod hostile_grpc;
mod hostile_h2;
mod hostile_probe;
mod inventory_grpc;
mod inventory_web;
mod isolation;
mod key_file;
mod leases;
mod limits;
mod lookalike_ids;
mod maintenance;
mod metrics;
mod metrics_access;
mod netns;
mod notify;
mod notify_ctl;
mod notify_web;
mod packaging;
mod paging;
mod protocol;
mod proxies;
mod reference;
mod restore_overwrite;
mod revocation;
mod schedules;
mod secret_scan;
mod secrets;
mod services;
mod specs;
mod ssrf_channels;
mod tls;
mod upgrade;
mod watch;
mod web;
mod web_admin;
mod web_audit;
mod web_config;
mod web_dashboard_scale;
mod web_fleet;
mod web_hosts;
mod web_jobs;
mod web_live;
mod web_restore_in_place;
mod web_snapshots;
mod wire;
mod workers;

/// The value of `name="<field>" value="…"` in a page.
pub fn form_value(html: &str, field: &str) -> Option<String> {
    let marker = format!("name=\"{field}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_string())
}

/// The session cookie from a response's `Set-Cookie`, as `name=value`.
pub fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.contains("cairn_session="))
        .and_then(|v| v.split(';').next())
        .map(str::to_string)
}

/// A request carrying `authorization: Bearer <token>`.
pub fn with_token<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    let value = format!("Bearer {token}").parse().expect("header value");
    request.metadata_mut().insert("authorization", value);
    request
}

/// Signs `username` (made with `role`) in through the login form; returns
/// the session cookie.
pub async fn signed_in(
    server: &cairn_testkit::TestServer,
    username: &str,
    role: cairn_store::Role,
) -> String {
    server.create_user(username, role).await;
    sign_in(server, username).await
}

/// Signs an existing `username` in through the login form; returns the
/// session cookie.
pub async fn sign_in(server: &cairn_testkit::TestServer, username: &str) -> String {
    let response = server
        .http()
        .post(format!("{}/login", server.url))
        .header("sec-fetch-site", "same-origin")
        .form(&[
            ("username", username),
            ("password", cairn_testkit::TEST_PASSWORD),
        ])
        .send()
        .await
        .expect("login");
    session_cookie(&response).expect("signed in")
}

/// A page, as the signed-in browser with `cookie` gets it.
pub async fn get_page(
    server: &cairn_testkit::TestServer,
    cookie: &str,
    path: &str,
) -> (reqwest::StatusCode, String) {
    let response = server
        .http()
        .get(format!("{}{path}", server.url))
        .header(reqwest::header::COOKIE, cookie)
        .send()
        .await
        .expect("request");
    let status = response.status();
    (status, response.text().await.expect("body"))
}

/// A form posted from one of the server's own pages.
pub async fn post_form(
    server: &cairn_testkit::TestServer,
    cookie: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> (reqwest::StatusCode, String) {
    let response = post_response(server, cookie, path, fields).await;
    let status = response.status();
    (status, response.text().await.expect("body"))
}

/// A form posted from one of the server's own pages; the whole response
/// (for its redirect).
pub async fn post_response(
    server: &cairn_testkit::TestServer,
    cookie: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    server
        .http()
        .post(format!("{}{path}", server.url))
        .header(reqwest::header::COOKIE, cookie)
        .header("sec-fetch-site", "same-origin")
        .form(fields)
        .send()
        .await
        .expect("request")
}
