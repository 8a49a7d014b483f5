//! Cairn's web UI: axum handlers and askama views over the service layer.
//!
//! This crate never opens the database: every page calls [`cairn_server::Api`],
//! the same functions the gRPC API calls, as the signed-in operator. So the UI
//! can do nothing the API cannot, and both enforce the same roles.
//!
//! Defences that live here: session cookies (`HttpOnly`, `SameSite=Lax`,
//! `Secure` and `__Host-` over HTTPS), CSRF (Origin / `Sec-Fetch-Site` on
//! every state change plus a per-session token), and a strict set of response
//! headers (CSP without inline script, no framing, no sniffing, no referrer).
//! Templates escape everything they print.

#![forbid(unsafe_code)]

mod admin_pages;
mod alert_rules;
mod alerts;
mod assets;
mod audit_page;
mod browse;
mod command;
mod csrf;
mod dashboard;
mod diff;
mod enroll;
mod fleet_view;
mod format;
mod headers;
mod host_page;
mod host_run;
mod host_snapshots;
mod hosts;
mod job_events;
mod job_log_file;
mod jobs;
mod least;
mod live;
mod notification_forms;
mod notifications;
mod pages;
mod quote;
mod reply;
mod repo_forms;
mod repos;
mod restore;
mod schedule_forms;
mod schedule_preview;
mod schedules;
mod session;
mod snapshots;
mod stall;
mod users;

use axum::Router;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, post};
use cairn_server::Api;

/// Shared state of every handler.
#[derive(Debug, Clone)]
pub(crate) struct Web {
    api: Api,
    /// The live streams each session holds.
    slots: std::sync::Arc<live::Slots>,
}

/// The UI's routes, ready to merge into the server's router.
pub fn router(api: Api) -> Router {
    let web = Web {
        api,
        slots: Default::default(),
    };
    // The least role of a route that needs more than a viewer (see `least`).
    let operators = || from_fn_with_state(web.clone(), least::operators);
    let admins = || from_fn_with_state(web.clone(), least::admins);
    Router::new()
        .route("/", get(dashboard::page))
        .route("/account", get(pages::account))
        .route("/login", get(pages::login_form).post(pages::login))
        .route("/logout", post(pages::logout))
        .route("/setup", get(pages::setup_form).post(pages::setup))
        .route("/tokens", post(pages::create_token))
        .route("/tokens/{id}/revoke", post(pages::revoke_token))
        .route("/hosts", get(hosts::list))
        .route(
            "/hosts/add",
            get(enroll::form)
                .layer(operators())
                .merge(post(enroll::create_token).layer(admins())),
        )
        .route("/hosts/{id}", get(host_page::detail))
        .route("/hosts/{id}/run", post(host_run::run).layer(operators()))
        .route(
            "/hosts/{id}/{action}",
            post(host_page::act).layer(operators()),
        )
        .route(
            "/repositories",
            get(repos::list).merge(post(repo_forms::create).layer(admins())),
        )
        .route(
            "/repositories/{id}",
            post(repo_forms::update).layer(admins()),
        )
        .route(
            "/repositories/{id}/edit",
            get(repo_forms::edit_form).layer(admins()),
        )
        .route(
            "/repositories/{id}/test",
            post(repos::test).layer(operators()),
        )
        .route(
            "/repositories/{id}/{action}",
            post(repo_forms::act).layer(operators()),
        )
        .route(
            "/schedules",
            get(schedules::list).merge(post(schedule_forms::create).layer(operators())),
        )
        .route(
            "/schedules/new",
            get(schedule_forms::new_form).layer(operators()),
        )
        .route(
            "/schedules/preview",
            get(schedule_preview::page).layer(operators()),
        )
        .route(
            "/schedules/{id}",
            post(schedule_forms::update).layer(operators()),
        )
        .route(
            "/schedules/{id}/edit",
            get(schedule_forms::edit_form).layer(operators()),
        )
        .route(
            "/schedules/{id}/{action}",
            post(schedule_forms::act).layer(operators()),
        )
        .route(
            "/users",
            get(users::list).post(users::create).layer(admins()),
        )
        .route("/users/{id}", post(users::update).layer(admins()))
        .route(
            "/audit",
            // The service refuses first, and audits it as `audit.read`.
            get(audit_page::audit),
        )
        .route("/audit/export", get(audit_page::export).layer(admins()))
        .route(
            "/settings",
            get(admin_pages::settings)
                .post(admin_pages::save_settings)
                .layer(admins()),
        )
        .route("/alerts", get(alerts::list))
        .route("/alerts/rules", get(alert_rules::page))
        .route(
            "/alerts/rules/{id}",
            post(alert_rules::update).layer(admins()),
        )
        .route(
            "/alerts/overrides/{action}",
            post(alert_rules::override_act).layer(admins()),
        )
        .route(
            "/alerts/silences",
            post(alert_rules::silence).layer(operators()),
        )
        .route(
            "/alerts/silences/{id}/delete",
            post(alert_rules::end_silence).layer(operators()),
        )
        .route(
            "/alerts/{id}/{action}",
            post(alerts::act).layer(operators()),
        )
        .route("/notifications", get(notifications::page))
        .route(
            "/notifications/new",
            get(notification_forms::new_form)
                .post(notification_forms::create)
                .layer(admins()),
        )
        .route(
            "/notifications/{id}",
            post(notification_forms::update).layer(admins()),
        )
        .route(
            "/notifications/{id}/edit",
            get(notification_forms::edit_form).layer(admins()),
        )
        .route(
            "/notifications/{id}/test",
            post(notifications::test).layer(operators()),
        )
        .route(
            "/notifications/{id}/delete",
            post(notification_forms::delete).layer(admins()),
        )
        .route("/jobs", get(jobs::list))
        .route("/jobs/{id}", get(jobs::detail))
        .route("/jobs/{id}/cancel", post(jobs::cancel).layer(operators()))
        .route("/jobs/{id}/events", get(job_events::events))
        .route("/jobs/{id}/log", get(job_log_file::download))
        .route("/events/fleet", get(live::fleet))
        .route("/hosts/{id}/snapshots", get(host_snapshots::for_host))
        .route("/snapshots", get(snapshots::list))
        .route(
            "/snapshots/refresh",
            post(snapshots::refresh).layer(operators()),
        )
        .route(
            "/snapshots/diff",
            get(diff::page)
                .layer(operators())
                .layer(from_fn(csrf::not_sent_from_elsewhere)),
        )
        .route(
            "/snapshots/{repo}/{snapshot}",
            get(browse::page)
                .layer(operators())
                .layer(from_fn(csrf::not_sent_from_elsewhere)),
        )
        .route(
            "/snapshots/{repo}/{snapshot}/tree",
            get(browse::children)
                .layer(operators())
                .layer(from_fn(csrf::not_sent_from_elsewhere)),
        )
        .route(
            "/snapshots/{repo}/{snapshot}/restore",
            post(restore::restore).layer(operators()),
        )
        .route("/static/{name}", get(assets::asset))
        .layer(from_fn_with_state(
            csrf::PublicOrigin::of(&web.api.public_url),
            csrf::same_origin_only,
        ))
        .layer(from_fn(headers::security_headers))
        .with_state(web)
}
