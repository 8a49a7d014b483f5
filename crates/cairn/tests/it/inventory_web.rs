//! The console's route inventory: every route `cairn-web`'s router declares
//! is requested anonymously, as a viewer, as an operator and as an admin,
//! and must let in exactly the roles the table below says; every POST is
//! also sent cross-site with an admin's session and its CSRF token, and must
//! be refused. A refusal is a 403 (or, with no session, a way to the login
//! page), never the page itself. A route added to the router without a line
//! here fails the test.

use std::collections::BTreeSet;

use cairn_store::{AuditFilter, Outcome, Page, Role};
use cairn_testkit::TestServer;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION};

use crate::{form_value, get_page, signed_in};

/// The least role a route lets in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Least {
    /// Anyone, signed in or not.
    Public,
    Viewer,
    Operator,
    Admin,
}
use Least::{Admin, Operator, Public, Viewer};

/// `(method, route as the router spells it, a path to request, least role)`.
/// Ids name rows that need not exist: a refusal must come before the lookup.
#[rustfmt::skip]
pub(crate) const ROUTES: &[(&str, &str, &str, Least)] = &[
    ("GET", "/", "/", Viewer),
    ("GET", "/account", "/account", Viewer),
    ("GET", "/login", "/login", Public),
    ("POST", "/login", "/login", Public),
    ("POST", "/logout", "/logout", Viewer),
    ("GET", "/setup", "/setup", Public),
    ("POST", "/setup", "/setup", Public),
    ("POST", "/tokens", "/tokens", Viewer),
    // Someone else's token (or none): only an admin may revoke it. Revoking
    // one's own is `web.rs`'s business.
    ("POST", "/tokens/{id}/revoke", "/tokens/9/revoke", Admin),
    ("GET", "/hosts", "/hosts", Viewer),
    // The command to run on a host; the token in it is an admin's to make.
    ("GET", "/hosts/add", "/hosts/add", Operator),
    ("POST", "/hosts/add", "/hosts/add", Admin),
    ("GET", "/hosts/{id}", "/hosts/9", Viewer),
    ("POST", "/hosts/{id}/run", "/hosts/9/run", Operator),
    ("POST", "/hosts/{id}/{action}", "/hosts/9/labels", Operator),
    ("GET", "/hosts/{id}/snapshots", "/hosts/9/snapshots", Viewer),
    ("GET", "/repositories", "/repositories", Viewer),
    ("POST", "/repositories", "/repositories", Admin),
    ("POST", "/repositories/{id}", "/repositories/9", Admin),
    ("GET", "/repositories/{id}/edit", "/repositories/9/edit", Admin),
    ("POST", "/repositories/{id}/test", "/repositories/9/test", Operator),
    // Unassigning is an operator's; assigning and deleting an admin's,
    // refused by the service (the gRPC inventory holds those).
    ("POST", "/repositories/{id}/{action}", "/repositories/9/unassign", Operator),
    ("GET", "/schedules", "/schedules", Viewer),
    ("POST", "/schedules", "/schedules", Operator),
    ("GET", "/schedules/new", "/schedules/new", Operator),
    ("GET", "/schedules/preview", "/schedules/preview", Operator),
    ("POST", "/schedules/{id}", "/schedules/9", Operator),
    ("GET", "/schedules/{id}/edit", "/schedules/9/edit", Operator),
    ("POST", "/schedules/{id}/{action}", "/schedules/9/disable", Operator),
    ("GET", "/users", "/users", Admin),
    ("POST", "/users", "/users", Admin),
    ("POST", "/users/{id}", "/users/9", Admin),
    ("GET", "/audit", "/audit", Admin),
    ("GET", "/audit/export", "/audit/export", Admin),
    ("GET", "/settings", "/settings", Admin),
    ("POST", "/settings", "/settings", Admin),
    ("GET", "/alerts", "/alerts", Viewer),
    ("GET", "/alerts/rules", "/alerts/rules", Viewer),
    ("POST", "/alerts/rules/{id}", "/alerts/rules/9", Admin),
    ("POST", "/alerts/overrides/{action}", "/alerts/overrides/clear", Admin),
    ("POST", "/alerts/silences", "/alerts/silences", Operator),
    ("POST", "/alerts/silences/{id}/delete", "/alerts/silences/9/delete", Operator),
    ("POST", "/alerts/{id}/{action}", "/alerts/9/ack", Operator),
    ("GET", "/notifications", "/notifications", Viewer),
    ("GET", "/notifications/new", "/notifications/new", Admin),
    ("POST", "/notifications/new", "/notifications/new", Admin),
    ("POST", "/notifications/{id}", "/notifications/9", Admin),
    ("GET", "/notifications/{id}/edit", "/notifications/9/edit", Admin),
    ("POST", "/notifications/{id}/test", "/notifications/9/test", Operator),
    ("POST", "/notifications/{id}/delete", "/notifications/9/delete", Admin),
    ("GET", "/jobs", "/jobs", Viewer),
    ("GET", "/jobs/{id}", "/jobs/9", Viewer),
    ("POST", "/jobs/{id}/cancel", "/jobs/9/cancel", Operator),
    ("GET", "/jobs/{id}/events", "/jobs/9/events", Viewer),
    ("GET", "/jobs/{id}/log", "/jobs/9/log", Viewer),
    ("GET", "/events/fleet", "/events/fleet", Viewer),
    ("GET", "/snapshots", "/snapshots", Viewer),
    ("POST", "/snapshots/refresh", "/snapshots/refresh", Operator),
    // Browsing and comparing run restic on a host: an operator's.
    ("GET", "/snapshots/diff", "/snapshots/diff?repo=9&a=aaaaaaaa&b=bbbbbbbb", Operator),
    ("GET", "/snapshots/{repo}/{snapshot}", "/snapshots/9/aaaaaaaa", Operator),
    ("GET", "/snapshots/{repo}/{snapshot}/tree", "/snapshots/9/aaaaaaaa/tree", Operator),
    ("POST", "/snapshots/{repo}/{snapshot}/restore", "/snapshots/9/aaaaaaaa/restore", Operator),
    ("GET", "/static/{name}", "/static/app.css", Public),
];

/// `(method, route)` for every route `cairn-web`'s router declares, read
/// from its source: a `.route("…", get(…).post(…))` call each.
fn declared_routes() -> BTreeSet<(String, String)> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../cairn-web/src/lib.rs");
    let source = std::fs::read_to_string(path).expect("cairn-web's lib.rs");
    // Routes declared any other way would escape the inventory.
    for other in [".nest(", ".route_service(", ".nest_service(", ".fallback("] {
        assert!(
            !source.contains(other),
            "the router uses {other}: teach the inventory to read it"
        );
    }
    let mut routes = BTreeSet::new();
    for call in source.split(".route(").skip(1) {
        // The call ends where its parentheses close.
        let mut depth = 1;
        let end = call
            .char_indices()
            .find(|&(_, c)| {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                depth == 0
            })
            .map_or(call.len(), |(i, _)| i);
        let call = &call[..end];
        let Some(route) = call.split('"').nth(1) else {
            continue;
        };
        for marker in ["put(", "delete(", "patch(", "any(", "on("] {
            assert!(
                !call.contains(&format!(" {marker}")) && !call.contains(&format!("({marker}")),
                "{route} uses {marker}: teach the inventory that method"
            );
        }
        let before = routes.len();
        for (method, marker) in [("GET", "get("), ("POST", "post(")] {
            let called = call.match_indices(marker).any(|(i, _)| {
                !call[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':')
            });
            if called {
                routes.insert((method.to_string(), route.to_string()));
            }
        }
        assert!(
            routes.len() > before,
            "{route}: no method the inventory knows"
        );
    }
    routes
}

/// Who asks: a session cookie and its CSRF token, or nobody.
struct Caller {
    role: Option<Role>,
    cookie: Option<String>,
    csrf: String,
}

async fn caller(server: &TestServer, name: &str, role: Role) -> Caller {
    let cookie = signed_in(server, name, role).await;
    let (_, page) = get_page(server, &cookie, "/account").await;
    let csrf = form_value(&page, "_csrf").expect("a CSRF token on the account page");
    Caller {
        role: Some(role),
        cookie: Some(cookie),
        csrf,
    }
}

fn least_of(role: Option<Role>) -> Least {
    match role {
        None => Public,
        Some(Role::Viewer) => Viewer,
        Some(Role::Operator) => Operator,
        Some(Role::Admin) => Admin,
    }
}

/// The response's status and where it sends the browser, if anywhere.
async fn request(
    server: &TestServer,
    method: &str,
    path: &str,
    caller: &Caller,
    site: &str,
) -> (StatusCode, String) {
    let url = format!("{}{path}", server.url);
    let mut request = match method {
        "POST" => server.http().post(url).form(&[
            ("_csrf", caller.csrf.as_str()),
            ("confirm", "yes"),
            ("reason", "inventory"),
        ]),
        _ => server.http().get(url),
    }
    .header("sec-fetch-site", site);
    if let Some(cookie) = &caller.cookie {
        request = request.header(COOKIE, cookie);
    }
    let response = request.send().await.expect("a response");
    let location = response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (response.status(), location)
}

fn refused(status: StatusCode, location: &str, signed_in: bool) -> bool {
    status == StatusCode::FORBIDDEN
        || (!signed_in
            && (status == StatusCode::UNAUTHORIZED
                || (status.is_redirection() && location.starts_with("/login"))))
}

#[tokio::test]
async fn every_route_lets_in_exactly_the_roles_its_line_names_and_no_other_site() {
    let declared = declared_routes();
    let listed: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, r, _, _)| (m.to_string(), r.to_string()))
        .collect();
    let unlisted: Vec<_> = declared.difference(&listed).collect();
    let gone: Vec<_> = listed.difference(&declared).collect();
    assert!(
        unlisted.is_empty() && gone.is_empty(),
        "the inventory and cairn-web's router disagree: add {unlisted:?} (with the least role each lets in), drop {gone:?}"
    );
    assert!(declared.len() > 50, "the router's source was not read");

    let server = TestServer::start().await;
    let callers = [
        Caller {
            role: None,
            cookie: None,
            csrf: String::new(),
        },
        caller(&server, "vera", Role::Viewer).await,
        caller(&server, "otto", Role::Operator).await,
        caller(&server, "ada", Role::Admin).await,
    ];
    let mut wrong = Vec::new();
    // Signing out goes last: it ends the session the others use.
    let mut routes: Vec<_> = ROUTES.iter().collect();
    routes.sort_by_key(|(_, route, _, _)| *route == "/logout");
    for caller in &callers {
        let who = least_of(caller.role);
        for &&(method, route, path, least) in &routes {
            let (status, location) = request(&server, method, path, caller, "same-origin").await;
            let is_refused = refused(status, &location, caller.cookie.is_some());
            match (who >= least, is_refused) {
                (true, true) => wrong.push(format!(
                    "{method} {route} refused {who:?} ({status}): the table says {least:?} may"
                )),
                (false, false) => wrong.push(format!(
                    "{method} {route} gave {who:?} {status} {location}: it needs {least:?}, and must refuse first"
                )),
                _ => {}
            }
        }
    }
    // Another site, with an admin's session and even its token.
    let admin = caller(&server, "alan", Role::Admin).await;
    for &&(method, route, path, _) in routes.iter().filter(|r| r.0 == "POST") {
        let (status, _) = request(&server, method, path, &admin, "cross-site").await;
        if status != StatusCode::FORBIDDEN {
            wrong.push(format!(
                "{method} {route} sent from another site gave {status}"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );

    // A refusal at the gate is audited: who, which route, on which path.
    let refused = server
        .store()
        .await
        .list_audit(
            AuditFilter {
                action_prefix: Some("web:POST /hosts/{id}/run".into()),
                target: Some("/hosts/9/run".into()),
                outcome: Some(Outcome::Denied),
                ..AuditFilter::default()
            },
            Page::first(10),
        )
        .await
        .expect("audit");
    let actors: Vec<_> = refused
        .items
        .iter()
        .map(|r| r.entry.actor_name.as_str())
        .collect();
    assert_eq!(actors, ["vera"], "the viewer's refused run, audited once");
}
