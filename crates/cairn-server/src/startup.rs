//! Opening the server: the data dir, the key file, the store, the services.

use std::future::Future;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::PathBuf;

mod key_check;

use cairn_seal::{KeyFileError, Sealer, load_or_create_key_file};
use cairn_store::{Store, StoreError};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::Api;
use crate::admin::Admin;
use crate::audit::Auditor;
use crate::auth::{Auth, AuthSettings};
use crate::clock::Clock;
use crate::config::{ServerConfig, TlsMode};
use crate::fleet::{Fleet, FleetSettings};
use crate::jobs::Jobs;
use crate::maintenance::Maintenance;
use crate::notifications::Notifications;
use crate::repos::Repos;
use crate::schedules::Schedules;
use crate::worker::Workers;
use cairn_tls::ServerIdentity;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data directory cannot be created or used.
    #[error("data directory {path}: {reason}")]
    DataDir { path: PathBuf, reason: String },
    /// The key file is missing, malformed or too open.
    #[error(transparent)]
    KeyFile(#[from] KeyFileError),
    /// The key file is gone, and the database holds secrets sealed with it.
    #[error(
        "the key file {path} is missing, and this database's secrets were sealed with it: restore it from your backup of the key (a new key cannot open them, so none was made)"
    )]
    KeyMissing { path: PathBuf },
    /// The key file is not the one this database was sealed with.
    #[error(
        "the key file {path} does not match this database: its secrets were sealed with another key. Restore the original key file"
    )]
    WrongKey { path: PathBuf },
    /// The database cannot be opened or migrated.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Serving failed.
    #[error("serving: {0}")]
    Io(#[from] std::io::Error),
    /// The TLS certificate or key cannot be used.
    #[error("TLS: {0}")]
    Tls(#[from] cairn_tls::TlsError),
    /// A service failed during start.
    #[error("starting services: {0}")]
    Service(#[from] crate::ServiceError),
}

/// An opened server, ready to serve.
#[derive(Debug)]
pub struct Server {
    config: ServerConfig,
    api: Api,
    sealer: Sealer,
    setup_link: Option<String>,
    tls: Option<ServerIdentity>,
    dispatch_wake: crate::fleet::DispatchWakes,
    shutdown_tx: watch::Sender<bool>,
}

impl Server {
    /// Opens the data dir, key file and database, and arms first-run setup if
    /// no operator exists yet.
    pub async fn open(config: ServerConfig) -> Result<Server, StartError> {
        Self::open_with_clock(config, Clock::system()).await
    }

    /// As [`Server::open`], with a given clock (tests move it by hand).
    pub async fn open_with_clock(config: ServerConfig, clock: Clock) -> Result<Server, StartError> {
        prepare_data_dir(&config)?;
        key_check::refuse_a_missing_key(&config).await?;
        let (sealer, _created) = load_or_create_key_file(&config.key_path())?;
        let tls = server_identity(&config)?;
        let store = Store::open(&config.database_path()).await?;
        key_check::check_key_matches(&store, &sealer, &config, &clock).await?;
        // Before anything reads a job row: values Cairn 0.1 wrote become JSON.
        crate::grpc::legacy::upgrade(&store).await?;

        let auditor = Auditor::new(store.clone(), clock.clone());
        let auth = Auth::new(
            store.clone(),
            clock.clone(),
            auditor.clone(),
            AuthSettings {
                session_idle_timeout: config.session_idle_timeout,
                session_max_age: config.session_max_age,
                login_max_failures: config.login_max_failures,
                login_max_failures_per_client: config.login_max_failures_per_client,
                login_window: config.login_window,
            },
        );
        let admin = Admin::new(
            store.clone(),
            clock.clone(),
            auditor.clone(),
            config.allow_private_notification_targets,
            auth.revocations().clone(),
        );
        let metrics = crate::metrics::Metrics::new();
        let (fleet, dispatch_wake) = Fleet::new(
            store.clone(),
            clock.clone(),
            auditor.clone(),
            metrics.clone(),
            FleetSettings {
                heartbeat_interval: config.agent_heartbeat_interval,
                offline_after: config.agent_offline_after,
                job_lease: config.job_lease,
                schedule_grace: config.schedule_grace,
                job_timeout: config.job_timeout,
                max_message_size: config.max_message_size,
                max_log_lines_per_job: config.max_log_lines_per_job,
                max_pending_hosts: config.max_pending_hosts,
                max_announces_per_address: config.max_announces_per_address,
                announce_window: config.announce_window,
                pending_session_timeout: config.pending_session_timeout,
            },
        );
        let repos = Repos::new(
            store.clone(),
            clock.clone(),
            auditor.clone(),
            sealer.clone(),
            fleet.clone(),
        );
        let schedules =
            Schedules::new(store.clone(), clock.clone(), auditor.clone(), fleet.clone());
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let jobs = Jobs::new(
            store.clone(),
            clock.clone(),
            auditor.clone(),
            repos.clone(),
            fleet.clone(),
            config.job_lease,
            shutdown_rx.clone(),
        );
        let maintenance =
            Maintenance::new(store.clone(), clock.clone(), auditor.clone(), jobs.clone());
        // Alerts and their notifications may use the disk-space reserve: a
        // full disk refuses everything else, not the alert saying so.
        let notifications = Notifications::new(
            store.reserved(),
            clock.clone(),
            auditor.clone(),
            sealer.clone(),
            cairn_notify::Sender {
                policy: cairn_notify::Policy {
                    allow_private: config.allow_private_notification_targets,
                },
                smtp_roots: Vec::new(),
            },
            config.public_url.clone(),
            metrics.clone(),
        );
        // The alert engine tells the channels; they route and deliver.
        let notices: crate::notice::Notices = std::sync::Arc::new(notifications.clone());
        let alerts = crate::alerts::Alerts::new(
            store.reserved(),
            clock.clone(),
            auditor.clone(),
            fleet.clone(),
            notices,
            config.agent_offline_after,
        );
        let workers = Workers::new(clock.clone(), shutdown_rx.clone());
        let api = Api {
            auth,
            admin,
            fleet,
            repos,
            jobs,
            schedules,
            maintenance,
            alerts,
            notifications,
            secure_cookies: config.serves_https(),
            public_url: config.public_url.clone(),
            tls_fingerprint: tls.as_ref().map(|t| t.fingerprint().to_string()),
            workers,
            metrics,
            store,
            auditor: auditor.clone(),
            shutdown: shutdown_rx,
        };
        let setup_link = api
            .auth
            .arm_setup(config.setup_token.clone())
            .await?
            .map(|token| format!("{}/setup?token={}", config.public_url, token.expose()));
        Ok(Server {
            config,
            api,
            sealer,
            setup_link,
            tls,
            dispatch_wake,
            shutdown_tx,
        })
    }

    /// The service layer, for the web UI and in-process callers.
    /// Sends the alert engine's notices to `notices` (the channels' sink;
    /// a recorder in tests) instead of dropping them. Call before `serve`.
    pub fn with_notices(mut self, notices: crate::notice::Notices) -> Server {
        self.api.alerts = self.api.alerts.with_notices(notices);
        self
    }

    pub fn api(&self) -> Api {
        self.api.clone()
    }

    /// The configuration the server runs with.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The sealer for secrets at rest.
    pub fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    /// The SHA-256 fingerprint of the server's TLS certificate (what agents
    /// pin), or `None` when serving plaintext.
    pub fn tls_fingerprint(&self) -> Option<&str> {
        self.tls.as_ref().map(ServerIdentity::fingerprint)
    }

    /// The command that runs an agent against this server, ready to paste.
    pub fn agent_command(&self) -> String {
        self.api.agent_command()
    }

    /// The one-time setup link, while the server awaits its first admin.
    pub fn setup_link(&self) -> Option<&str> {
        self.setup_link.as_deref()
    }

    /// Serves `/metrics` alone, under `metrics_trusted` and `metrics_token`, on `listener` (bound
    /// from `metrics_listen`) until `shutdown` resolves. Call it before
    /// [`Server::serve`], which consumes the server.
    pub fn serve_metrics(
        &self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = std::io::Result<()>> + Send + 'static {
        let access = crate::metrics::MetricsAccess::from_config(
            &self.config,
            crate::metrics::MetricsListener::OwnListener,
        );
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(address = %addr, access = %access.describe(), "serving /metrics");
        }
        let router = crate::metrics::metrics_router(self.api.clone(), access)
            .into_make_service_with_connect_info::<std::net::SocketAddr>();
        async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
        }
    }

    /// Serves gRPC, `ui` and the probes on `listener` until `shutdown`
    /// resolves, then drains open requests within the configured grace.
    pub async fn serve(
        self,
        listener: TcpListener,
        ui: axum::Router,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), StartError> {
        let acceptor = match &self.tls {
            Some(identity) => {
                tracing::info!(
                    fingerprint = %identity.fingerprint(),
                    self_signed = identity.is_self_signed(),
                    "serving TLS; agents pin this fingerprint: {}",
                    self.agent_command()
                );
                Some(identity.acceptor()?)
            }
            None => {
                tracing::warn!(
                    "serving PLAINTEXT as configured: credentials and tokens cross the network unencrypted unless a TLS proxy fronts this port"
                );
                None
            }
        };
        if let Some(link) = &self.setup_link {
            tracing::info!(
                "no operator exists yet: open this one-time link to create the first admin: {link}"
            );
        }
        crate::serve::serve(
            self.config,
            self.api,
            crate::serve::Signals {
                shutdown_tx: self.shutdown_tx,
                dispatch_wake: self.dispatch_wake,
            },
            listener,
            acceptor,
            ui,
            shutdown,
        )
        .await
    }
}

/// The certificate to serve: the operator's, or the self-signed one kept in
/// the data dir (made on first start for the names the server answers to).
fn server_identity(config: &ServerConfig) -> Result<Option<ServerIdentity>, StartError> {
    match &config.tls {
        TlsMode::Plaintext => Ok(None),
        TlsMode::Files { cert, key } => Ok(Some(ServerIdentity::load(cert, key)?)),
        TlsMode::SelfSigned => {
            let mut names = vec![
                "localhost".to_string(),
                "127.0.0.1".to_string(),
                "::1".to_string(),
            ];
            if !config.listen.ip().is_unspecified() {
                names.push(config.listen.ip().to_string());
            }
            let host = config
                .public_url
                .split("://")
                .nth(1)
                .and_then(|rest| rest.split(['/', ':']).next())
                .filter(|h| !h.is_empty() && !h.starts_with('['));
            if let Some(host) = host {
                names.push(host.to_string());
            }
            names.sort();
            names.dedup();
            let (identity, created) =
                ServerIdentity::load_or_create_self_signed(&config.data_dir, &names)?;
            if created {
                tracing::info!(fingerprint = %identity.fingerprint(), "made a self-signed TLS certificate");
            }
            Ok(Some(identity))
        }
    }
}

fn prepare_data_dir(config: &ServerConfig) -> Result<(), StartError> {
    let dir = &config.data_dir;
    let err = |reason: String| StartError::DataDir {
        path: dir.clone(),
        reason,
    };
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| err(e.to_string()))?;
    }
    let meta = std::fs::metadata(dir).map_err(|e| err(e.to_string()))?;
    if !meta.is_dir() {
        return Err(err("not a directory".into()));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o002 != 0 {
        return Err(err(format!(
            "mode {mode:04o} lets anyone write to it: run `chmod 700 {}`",
            dir.display()
        )));
    }
    Ok(())
}
