//! Opening the server: the data dir, the key file, the store, the services.

use std::future::Future;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::PathBuf;

use cairn_seal::{KeyFileError, SealContext, SealError, Sealer, load_or_create_key_file};
use cairn_store::{SettingKey, Store, StoreError};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::Api;
use crate::admin::Admin;
use crate::audit::Auditor;
use crate::auth::{Auth, AuthSettings};
use crate::clock::Clock;
use crate::config::ServerConfig;
use crate::fleet::{Fleet, FleetSettings};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data directory cannot be created or used.
    #[error("data directory {path}: {reason}")]
    DataDir { path: PathBuf, reason: String },
    /// The key file is missing, malformed or too open.
    #[error(transparent)]
    KeyFile(#[from] KeyFileError),
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
    /// A service failed during start.
    #[error("starting services: {0}")]
    Service(#[from] crate::ServiceError),
}

/// The value sealed under the key when a database is created. Opening it at
/// every start tells the right key file from a wrong one before anything
/// else is decrypted.
const SEAL_CHECK: &[u8] = b"cairn seal check v1";
fn seal_check_context() -> SealContext<'static> {
    SealContext::new("settings", 0, "seal_check")
}

/// An opened server, ready to serve.
#[derive(Debug)]
pub struct Server {
    config: ServerConfig,
    api: Api,
    sealer: Sealer,
    setup_link: Option<String>,
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
        let (sealer, _created) = load_or_create_key_file(&config.key_path())?;
        let store = Store::open(&config.database_path()).await?;
        check_key_matches(&store, &sealer, &config, &clock).await?;

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
        let admin = Admin::new(store.clone(), clock.clone(), auditor.clone());
        let fleet = Fleet::new(
            store.clone(),
            clock.clone(),
            auditor,
            FleetSettings {
                heartbeat_interval: config.agent_heartbeat_interval,
                offline_after: config.agent_offline_after,
            },
        );
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let api = Api {
            auth,
            admin,
            fleet,
            secure_cookies: config.serves_https(),
            public_url: config.public_url.clone(),
            store,
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
            shutdown_tx,
        })
    }

    /// The service layer, for the web UI and in-process callers.
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

    /// The one-time setup link, while the server awaits its first admin.
    pub fn setup_link(&self) -> Option<&str> {
        self.setup_link.as_deref()
    }

    /// Serves gRPC, `ui` and the probes on `listener` until `shutdown`
    /// resolves, then drains open requests within the configured grace.
    pub async fn serve(
        self,
        listener: TcpListener,
        ui: axum::Router,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), StartError> {
        if let Some(link) = &self.setup_link {
            tracing::info!(
                "no operator exists yet: open this one-time link to create the first admin: {link}"
            );
        }
        crate::serve::serve(
            self.config,
            self.api,
            self.shutdown_tx,
            listener,
            ui,
            shutdown,
        )
        .await
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

async fn check_key_matches(
    store: &Store,
    sealer: &Sealer,
    config: &ServerConfig,
    clock: &Clock,
) -> Result<(), StartError> {
    match store.setting(SettingKey::SealCheck).await? {
        Some(sealed) => match sealer.open(seal_check_context(), &sealed) {
            Ok(plain) if plain == SEAL_CHECK => Ok(()),
            Ok(_) | Err(SealError::Rejected | SealError::Malformed | SealError::TooLarge) => {
                Err(StartError::WrongKey {
                    path: config.key_path(),
                })
            }
        },
        None => {
            let sealed =
                sealer
                    .seal(seal_check_context(), SEAL_CHECK)
                    .map_err(|e| StartError::DataDir {
                        path: config.data_dir.clone(),
                        reason: e.to_string(),
                    })?;
            store
                .put_setting_if_absent(SettingKey::SealCheck, sealed, clock.now())
                .await?;
            Ok(())
        }
    }
}
