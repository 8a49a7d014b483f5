//! Cairn's server: the gRPC services, operator authentication, the core
//! workers, and [`Server::serve`], which runs everything on one listener.
//!
//! The server renders no HTML: the web UI (cairn-web) is handed in as an axum
//! router and calls the same service layer ([`Api`]) the gRPC API does, so
//! the UI can do nothing the API cannot.
//!
//! ```text
//! main ─ config::load ─ Server::open(config) ─ Server::serve(listener, ui, shutdown)
//!                          │                       │
//!                          ├ data dir, key, store  ├ gRPC routes + UI + /healthz /readyz
//!                          └ Api { auth, admin }   └ hyper-util accept loop, graceful drain
//! ```

#![forbid(unsafe_code)]

pub mod admin;
pub mod alerts;
pub mod audit;
pub mod audit_export;
pub mod auth;
pub mod clock;
pub mod config;
pub mod error;
pub mod fleet;
#[doc(hidden)]
pub mod fuzz;
mod grpc;
pub mod health;
pub mod jobs;
pub mod maintenance;
pub mod metrics;
pub mod notice;
pub mod notifications;
pub mod pulse;
pub mod repos;
mod retention;
pub mod schedules;
mod serve;
mod startup;
mod worker;

use cairn_store::Store;
use tokio::sync::watch;

pub use config::ServerConfig;
pub use error::{ServiceError, ServiceResult};
pub use health::HealthReport;
pub use serve::{ACCEPT_BACKLOG, ClientAddr, ConnectionCloser, listen};
pub use startup::{Server, StartError};
pub use worker::{WorkerState, WorkerStatus, Workers};

/// The service layer, shared by the gRPC services, the web UI and the CLI.
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct Api {
    /// Setup, login, sessions, API-token authentication.
    pub auth: auth::Auth,
    /// Operators and API tokens.
    pub admin: admin::Admin,
    /// Hosts, their agents' sessions, enrollment tokens.
    pub fleet: fleet::Fleet,
    /// Repositories and their sealed secrets.
    pub repos: repos::Repos,
    /// Jobs: submit, follow, cancel; the dispatcher.
    pub jobs: jobs::Jobs,
    /// Backup schedules.
    pub schedules: schedules::Schedules,
    /// Forget, prune and check cadences.
    pub maintenance: maintenance::Maintenance,
    /// Alerts, their rules, overrides and maintenance windows.
    pub alerts: alerts::Alerts,
    /// Notification channels, their deliveries, and the alert notice sink.
    pub notifications: notifications::Notifications,
    /// Whether cookies must be `Secure` (the server is reached over HTTPS).
    pub secure_cookies: bool,
    /// The URL operators reach the server at.
    pub public_url: String,
    /// The SHA-256 fingerprint of the server's TLS certificate (what agents
    /// pin), or `None` when serving plaintext.
    pub tls_fingerprint: Option<String>,
    /// The background workers and what became of each.
    pub workers: Workers,
    /// The Prometheus metrics (`/metrics`); the notification code counts
    /// its delivery attempts here.
    pub metrics: metrics::Metrics,
    store: Store,
    auditor: audit::Auditor,
    shutdown: watch::Receiver<bool>,
}

impl Api {
    /// Refuses `p` unless its scope is at least `need`, auditing the refusal
    /// of `action` (a route or an rpc) on `target`: the edges' first check, before a
    /// request's fields are read or any row looked up, so a refusal neither
    /// depends on nor tells anything but the caller's scope. The services
    /// check again, with their own action names.
    pub async fn at_least(
        &self,
        p: &auth::Principal,
        need: cairn_store::Scope,
        action: &str,
        target: Option<String>,
    ) -> ServiceResult<()> {
        self.auditor.authorize(p, need, action, target).await
    }

    /// Whether the server can answer requests (the database responds).
    pub async fn ready(&self) -> bool {
        self.store.ping().await.is_ok()
    }

    /// The server's health: the database and every background worker.
    pub async fn health(&self) -> HealthReport {
        HealthReport {
            database: self.ready().await,
            storage: self.store.storage_fault(),
            workers: self.workers.status(),
        }
    }

    /// The server's health for an operator (admins only: a panic's
    /// message may name the server's internals).
    pub async fn server_status(&self, p: &auth::Principal) -> ServiceResult<HealthReport> {
        p.require(cairn_store::Scope::Admin)?;
        Ok(self.health().await)
    }

    /// The command that runs an agent against this server, ready to paste.
    pub fn agent_command(&self) -> String {
        match &self.tls_fingerprint {
            Some(fp) => format!(
                "cairn agent --server {} --server-fingerprint {fp}",
                self.public_url
            ),
            None => format!("cairn agent --server {} --allow-plaintext", self.public_url),
        }
    }

    /// Resolves when the server begins shutting down. Long-lived streams
    /// (SSE, gRPC server streams) select on it so that shutdown never waits
    /// on them.
    pub async fn shutting_down(&self) {
        let mut rx = self.shutdown.clone();
        // An error means the sender is gone: the server is gone too.
        let _ = rx.wait_for(|down| *down).await;
    }
}
