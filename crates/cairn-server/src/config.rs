//! The server's settings, in layers with one documented winner:
//! defaults < TOML file < `CAIRN_*` environment < command-line flags.
//!
//! Every key has one name in each layer (`listen`, `CAIRN_LISTEN`,
//! `--listen`). Secrets also take a `_FILE` form (`setup_token_file`,
//! `CAIRN_SETUP_TOKEN_FILE`) that names a file readable by its owner only.
//! Parsing reads the environment through a plain iterator, so tests never
//! touch the process environment. A bad value is an error that names the key
//! and where it came from, and never echoes a secret.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One setting: its names in each layer and whether it is a secret.
#[derive(Debug, Clone, Copy)]
pub struct KeySpec {
    /// The TOML key.
    pub name: &'static str,
    /// Whether the value is a secret (never printed; also takes `_FILE`).
    pub secret: bool,
    /// The default, as text; `None` when unset by default.
    pub default: Option<&'static str>,
    /// One line for the reference docs and `--help`.
    pub help: &'static str,
}

impl KeySpec {
    /// The environment variable, e.g. `CAIRN_LISTEN`.
    pub fn env(&self) -> String {
        format!("CAIRN_{}", self.name.to_ascii_uppercase())
    }

    /// The flag, e.g. `--listen`.
    pub fn flag(&self) -> String {
        format!("--{}", self.name.replace('_', "-"))
    }
}

/// Every server setting. The example config, the flags and the docs are all
/// derived from this table (a test checks they agree).
pub const KEYS: &[KeySpec] = &[
    KeySpec {
        name: "listen",
        secret: false,
        default: Some("127.0.0.1:8080"),
        help: "Address for gRPC, the web UI, /healthz and /readyz (one port)",
    },
    KeySpec {
        name: "data_dir",
        secret: false,
        default: Some("./cairn-data"),
        help: "Directory for the database and the sealing key",
    },
    KeySpec {
        name: "tls_cert",
        secret: false,
        default: None,
        help: "TLS certificate chain (PEM); without it and tls_key the server makes a self-signed one in data_dir",
    },
    KeySpec {
        name: "tls_key",
        secret: false,
        default: None,
        help: "TLS private key (PEM, mode 0600) for tls_cert",
    },
    KeySpec {
        name: "plaintext",
        secret: false,
        default: Some("false"),
        help: "Serve without TLS (only behind a TLS-terminating proxy or on a trusted network)",
    },
    KeySpec {
        name: "public_url",
        secret: false,
        default: None,
        help: "URL operators use to reach the server (default: http://<listen>); https:// makes cookies Secure and __Host- prefixed",
    },
    KeySpec {
        name: "log_format",
        secret: false,
        default: Some("text"),
        help: "Log format: text or json",
    },
    KeySpec {
        name: "log_level",
        secret: false,
        default: Some("info"),
        help: "Log filter, e.g. info or cairn_server=debug,info",
    },
    KeySpec {
        name: "session_idle_timeout",
        secret: false,
        default: Some("12h"),
        help: "A browser session ends after this long without a request",
    },
    KeySpec {
        name: "session_max_age",
        secret: false,
        default: Some("7d"),
        help: "A browser session ends this long after sign-in, however active",
    },
    KeySpec {
        name: "login_max_failures",
        secret: false,
        default: Some("5"),
        help: "Failed sign-ins allowed per account within login_window before further attempts are refused",
    },
    KeySpec {
        name: "login_max_failures_per_client",
        secret: false,
        default: Some("20"),
        help: "Failed sign-ins allowed per client address within login_window",
    },
    KeySpec {
        name: "login_window",
        secret: false,
        default: Some("15m"),
        help: "The window over which failed sign-ins are counted",
    },
    KeySpec {
        name: "shutdown_grace",
        secret: false,
        default: Some("10s"),
        help: "How long open requests and streams get to finish at shutdown",
    },
    KeySpec {
        name: "http2_keepalive_interval",
        secret: false,
        default: Some("30s"),
        help: "HTTP/2 PING interval on every connection, to notice dead peers",
    },
    KeySpec {
        name: "http2_keepalive_timeout",
        secret: false,
        default: Some("20s"),
        help: "A connection whose PING is not answered within this is closed",
    },
    KeySpec {
        name: "max_concurrent_streams",
        secret: false,
        default: Some("256"),
        help: "HTTP/2 streams allowed at once on one connection",
    },
    KeySpec {
        name: "max_message_size",
        secret: false,
        default: Some("4194304"),
        help: "Largest gRPC message accepted or sent, in bytes",
    },
    KeySpec {
        name: "agent_heartbeat_interval",
        secret: false,
        default: Some("15s"),
        help: "How often agents send a heartbeat (told to them in Welcome)",
    },
    KeySpec {
        name: "agent_offline_after",
        secret: false,
        default: Some("90s"),
        help: "A host is offline, and its stream closed, this long after its last sign of life",
    },
    KeySpec {
        name: "job_lease",
        secret: false,
        default: Some("10m"),
        help: "A dispatched or running job whose agent says nothing of it for this long is marked lost",
    },
    KeySpec {
        name: "schedule_grace",
        secret: false,
        default: Some("2m"),
        help: "A schedule firing with no job this long after its time is recorded as a missed run",
    },
    KeySpec {
        name: "job_timeout",
        secret: false,
        default: Some("24h"),
        help: "The agent stops a job that runs longer than this (hooks included); 0 means no limit",
    },
    KeySpec {
        name: "max_log_lines_per_job",
        secret: false,
        default: Some("100000"),
        help: "Log lines kept per job; later lines are dropped, after one line saying so",
    },
    KeySpec {
        name: "max_pending_hosts",
        secret: false,
        default: Some("1000"),
        help: "New identities kept waiting for approval at most; announces beyond are refused",
    },
    KeySpec {
        name: "max_announces_per_address",
        secret: false,
        default: Some("20"),
        help: "New identities one client address may announce per announce_window",
    },
    KeySpec {
        name: "announce_window",
        secret: false,
        default: Some("1h"),
        help: "The window max_announces_per_address counts in",
    },
    KeySpec {
        name: "pending_session_timeout",
        secret: false,
        default: Some("10m"),
        help: "A pending host's stream is closed after this long without approval (the agent reconnects later)",
    },
    KeySpec {
        name: "maintenance_tick",
        secret: false,
        default: Some("60s"),
        help: "How often maintenance plans are checked for forget, prune and check that are due",
    },
    KeySpec {
        name: "setup_token",
        secret: true,
        default: None,
        help: "Preset one-time setup token (default: a random one, logged at start while no admin exists)",
    },
];

/// Environment variables other Cairn commands read; not warned about.
const KNOWN_ELSEWHERE: &[&str] = &[
    "CAIRN_CONFIG",
    "CAIRN_SERVER",
    "CAIRN_TOKEN",
    "CAIRN_TOKEN_FILE",
    "CAIRN_AGENT_STATE_DIR",
    "CAIRN_ENROLL_TOKEN",
    "CAIRN_ENROLL_TOKEN_FILE",
    "CAIRN_SERVER_FINGERPRINT",
    "CAIRN_CA_FILE",
    "CAIRN_ALLOW_PLAINTEXT",
    "CAIRN_AGENT_CONFIG",
    "CAIRN_RESTIC",
];

/// Where a value came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The built-in default.
    Default,
    /// The TOML file.
    File(PathBuf),
    /// An environment variable.
    Env(String),
    /// A command-line flag.
    Flag(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("the default"),
            Source::File(path) => write!(f, "{}", path.display()),
            Source::Env(var) => f.write_str(var),
            Source::Flag(flag) => f.write_str(flag),
        }
    }
}

/// A configuration the server cannot start with. Its message names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A key the server does not know.
    #[error("unknown configuration key `{key}` in {file}")]
    UnknownKey { key: String, file: PathBuf },
    /// A value that does not parse. `value` is `None` for secrets.
    #[error("invalid value{} for `{key}` (from {from}): {reason}", .value.as_ref().map(|v| format!(" {v:?}")).unwrap_or_default())]
    Invalid {
        key: &'static str,
        from: Source,
        value: Option<String>,
        reason: String,
    },
    /// The config file cannot be read or is not TOML.
    #[error("cannot read config file {path}: {reason}")]
    File { path: PathBuf, reason: String },
    /// Both a secret and its `_FILE` form were given.
    #[error("`{key}` is given both directly and as a file (from {from}): give one")]
    Ambiguous { key: &'static str, from: Source },
}

impl ConfigError {
    /// The exit status for a bad configuration (EX_USAGE).
    pub const EXIT_CODE: i32 = 64;
}

/// The server's settings, parsed and checked. Its `Debug` redacts secrets.
#[derive(Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// How the one port is secured.
    pub tls: TlsMode,
    /// Without a trailing slash.
    pub public_url: String,
    pub log_format: LogFormat,
    pub log_level: String,
    pub session_idle_timeout: Duration,
    pub session_max_age: Duration,
    pub login_max_failures: u32,
    pub login_max_failures_per_client: u32,
    pub login_window: Duration,
    pub shutdown_grace: Duration,
    pub http2_keepalive_interval: Duration,
    pub http2_keepalive_timeout: Duration,
    pub max_concurrent_streams: u32,
    pub max_message_size: usize,
    pub agent_heartbeat_interval: Duration,
    pub agent_offline_after: Duration,
    pub job_lease: Duration,
    pub schedule_grace: Duration,
    pub maintenance_tick: Duration,
    pub job_timeout: Duration,
    pub max_log_lines_per_job: u32,
    pub max_pending_hosts: u32,
    pub max_announces_per_address: u32,
    pub announce_window: Duration,
    pub pending_session_timeout: Duration,
    pub setup_token: Option<String>,
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("tls", &self.tls)
            .field("public_url", &self.public_url)
            .field("log_format", &self.log_format)
            .field("log_level", &self.log_level)
            .field("session_idle_timeout", &self.session_idle_timeout)
            .field("session_max_age", &self.session_max_age)
            .field("login_max_failures", &self.login_max_failures)
            .field(
                "login_max_failures_per_client",
                &self.login_max_failures_per_client,
            )
            .field("login_window", &self.login_window)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("http2_keepalive_interval", &self.http2_keepalive_interval)
            .field("http2_keepalive_timeout", &self.http2_keepalive_timeout)
            .field("max_concurrent_streams", &self.max_concurrent_streams)
            .field("max_message_size", &self.max_message_size)
            .field("agent_heartbeat_interval", &self.agent_heartbeat_interval)
            .field("agent_offline_after", &self.agent_offline_after)
            .field("job_lease", &self.job_lease)
            .field("schedule_grace", &self.schedule_grace)
            .field("maintenance_tick", &self.maintenance_tick)
            .field("job_timeout", &self.job_timeout)
            .field("max_log_lines_per_job", &self.max_log_lines_per_job)
            .field("max_pending_hosts", &self.max_pending_hosts)
            .field("max_announces_per_address", &self.max_announces_per_address)
            .field("announce_window", &self.announce_window)
            .field("pending_session_timeout", &self.pending_session_timeout)
            .field(
                "setup_token",
                &self.setup_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// How the server secures its port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsMode {
    /// A self-signed certificate kept in the data dir (the default).
    SelfSigned,
    /// The operator's certificate and key.
    Files { cert: PathBuf, key: PathBuf },
    /// No TLS, as explicitly asked for.
    Plaintext,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl ServerConfig {
    /// Whether operators reach the server over HTTPS (cookies then get the
    /// `Secure` attribute and the `__Host-` prefix).
    pub fn serves_https(&self) -> bool {
        self.public_url.starts_with("https://")
    }

    /// The database file.
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("cairn.db")
    }

    /// The sealing key file.
    pub fn key_path(&self) -> PathBuf {
        self.data_dir.join("seal.key")
    }

    /// The defaults alone, rooted at `data_dir`: what tests start from.
    pub fn for_data_dir(data_dir: &Path) -> ServerConfig {
        let mut layers = Layers::defaults();
        layers.set("data_dir", data_dir.display().to_string(), Source::Default);
        // The defaults always parse; `Layers::defaults` is covered by tests.
        match layers.build() {
            Ok(config) => config,
            Err(err) => unreachable_config(err),
        }
    }
}

#[cold]
fn unreachable_config(err: ConfigError) -> ! {
    panic!("built-in defaults do not parse: {err}")
}

/// A warning to log once logging is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning(pub String);

/// Loads the configuration from its layers.
///
/// `config_file` is the `--config` flag (or `CAIRN_CONFIG`); `env` the
/// process environment; `flags` the flags given, by key name.
pub fn load(
    config_file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
    flags: &[(&'static str, String)],
) -> Result<(ServerConfig, Vec<ConfigWarning>), ConfigError> {
    let env: BTreeMap<String, String> = env.into_iter().collect();
    let mut layers = Layers::defaults();
    let mut warnings = Vec::new();

    let config_file = config_file
        .map(Path::to_path_buf)
        .or_else(|| env.get("CAIRN_CONFIG").map(PathBuf::from));
    if let Some(path) = &config_file {
        layers.apply_file(path)?;
    }
    layers.apply_env(&env, &mut warnings)?;
    for (key, value) in flags {
        let spec = spec(key).ok_or_else(|| ConfigError::UnknownKey {
            key: (*key).to_string(),
            file: PathBuf::from("<flags>"),
        })?;
        layers.set(spec.name, value.clone(), Source::Flag(spec.flag()));
    }
    Ok((layers.build()?, warnings))
}

fn spec(name: &str) -> Option<&'static KeySpec> {
    KEYS.iter().find(|k| k.name == name)
}

/// The merged raw values, each with where it came from.
struct Layers {
    values: BTreeMap<&'static str, (String, Source)>,
}

impl Layers {
    fn defaults() -> Layers {
        let values = KEYS
            .iter()
            .filter_map(|k| {
                k.default
                    .map(|d| (k.name, (d.to_string(), Source::Default)))
            })
            .collect();
        Layers { values }
    }

    fn set(&mut self, name: &'static str, value: String, source: Source) {
        self.values.insert(name, (value, source));
    }

    fn apply_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let file_err = |reason: String| ConfigError::File {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| file_err(e.to_string()))?;
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| file_err(e.to_string()))?;
        let source = Source::File(path.to_path_buf());
        for (key, value) in table {
            let (spec, is_file) = match key.strip_suffix("_file").and_then(spec) {
                Some(spec) if spec.secret => (spec, true),
                _ => match spec(&key) {
                    Some(spec) => (spec, false),
                    None => {
                        return Err(ConfigError::UnknownKey {
                            key,
                            file: path.to_path_buf(),
                        });
                    }
                },
            };
            let text = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                toml::Value::Float(f) => f.to_string(),
                other => {
                    return Err(ConfigError::Invalid {
                        key: spec.name,
                        from: source,
                        value: None,
                        reason: format!("expected a string or number, found {}", other.type_str()),
                    });
                }
            };
            let text = if is_file {
                read_secret_file(spec, &source, Path::new(&text))?
            } else {
                text
            };
            if spec.secret
                && self
                    .values
                    .get(spec.name)
                    .is_some_and(|(_, s)| *s == source)
            {
                return Err(ConfigError::Ambiguous {
                    key: spec.name,
                    from: source,
                });
            }
            self.set(spec.name, text, source.clone());
        }
        Ok(())
    }

    fn apply_env(
        &mut self,
        env: &BTreeMap<String, String>,
        warnings: &mut Vec<ConfigWarning>,
    ) -> Result<(), ConfigError> {
        for (var, value) in env.range("CAIRN_".to_string()..) {
            if !var.starts_with("CAIRN_") {
                break;
            }
            let direct = KEYS.iter().find(|k| k.env() == *var);
            let as_file = KEYS
                .iter()
                .find(|k| k.secret && format!("{}_FILE", k.env()) == *var);
            match (direct, as_file) {
                (Some(spec), _) => {
                    if spec.secret && env.contains_key(&format!("{var}_FILE")) {
                        return Err(ConfigError::Ambiguous {
                            key: spec.name,
                            from: Source::Env(var.clone()),
                        });
                    }
                    self.set(spec.name, value.clone(), Source::Env(var.clone()));
                }
                (None, Some(spec)) => {
                    let source = Source::Env(var.clone());
                    let secret = read_secret_file(spec, &source, Path::new(value))?;
                    self.set(spec.name, secret, source);
                }
                (None, None) if KNOWN_ELSEWHERE.contains(&var.as_str()) => {}
                (None, None) => warnings.push(ConfigWarning(format!(
                    "ignoring unknown environment variable {var}: no such setting"
                ))),
            }
        }
        Ok(())
    }

    fn build(self) -> Result<ServerConfig, ConfigError> {
        let listen: SocketAddr = self.parse("listen", |v| {
            v.parse().map_err(|_| {
                "not a socket address (expected host:port, e.g. 127.0.0.1:8080)".into()
            })
        })?;
        let plaintext = self.parse("plaintext", parse_bool)?;
        let tls_cert = self
            .values
            .get("tls_cert")
            .map(|(v, _)| PathBuf::from(v.trim()));
        let tls_key = self
            .values
            .get("tls_key")
            .map(|(v, _)| PathBuf::from(v.trim()));
        let tls = match (plaintext, tls_cert, tls_key) {
            (true, None, None) => TlsMode::Plaintext,
            (true, _, _) => {
                return Err(ConfigError::Invalid {
                    key: "plaintext",
                    from: self.source_of("plaintext"),
                    value: Some("true".into()),
                    reason: "plaintext cannot be combined with tls_cert / tls_key".into(),
                });
            }
            (false, Some(cert), Some(key)) => TlsMode::Files { cert, key },
            (false, None, None) => TlsMode::SelfSigned,
            (false, cert, _) => {
                let missing = if cert.is_some() {
                    "tls_key"
                } else {
                    "tls_cert"
                };
                return Err(ConfigError::Invalid {
                    key: missing,
                    from: self.source_of(if cert.is_some() {
                        "tls_cert"
                    } else {
                        "tls_key"
                    }),
                    value: None,
                    reason: "tls_cert and tls_key go together: give both or neither".into(),
                });
            }
        };
        let scheme = if tls == TlsMode::Plaintext {
            "http"
        } else {
            "https"
        };
        let public_url = match self.values.get("public_url") {
            Some(_) => self.parse("public_url", parse_public_url)?,
            None => format!("{scheme}://{listen}"),
        };
        let log_format = self.parse("log_format", |v| match v {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err("expected text or json".into()),
        })?;
        let config = ServerConfig {
            listen,
            tls,
            data_dir: self.parse("data_dir", |v| {
                if v.is_empty() {
                    Err("must not be empty".into())
                } else {
                    Ok(PathBuf::from(v))
                }
            })?,
            public_url,
            log_format,
            log_level: self.parse("log_level", |v| Ok(v.to_string()))?,
            session_idle_timeout: self.parse("session_idle_timeout", parse_duration)?,
            session_max_age: self.parse("session_max_age", parse_duration)?,
            login_max_failures: self.parse("login_max_failures", parse_positive)?,
            login_max_failures_per_client: self
                .parse("login_max_failures_per_client", parse_positive)?,
            login_window: self.parse("login_window", parse_duration)?,
            shutdown_grace: self.parse("shutdown_grace", parse_duration)?,
            http2_keepalive_interval: self.parse("http2_keepalive_interval", parse_duration)?,
            http2_keepalive_timeout: self.parse("http2_keepalive_timeout", parse_duration)?,
            max_concurrent_streams: self.parse("max_concurrent_streams", parse_positive)?,
            max_message_size: self.parse("max_message_size", |v| {
                let n: u32 = parse_positive(v)?;
                if n < 64 * 1024 {
                    return Err("must be at least 65536 bytes".into());
                }
                Ok(n as usize)
            })?,
            agent_heartbeat_interval: self.parse("agent_heartbeat_interval", parse_duration)?,
            agent_offline_after: self.parse("agent_offline_after", parse_duration)?,
            job_lease: self.parse("job_lease", parse_duration)?,
            schedule_grace: self.parse("schedule_grace", parse_duration)?,
            maintenance_tick: self.parse("maintenance_tick", |v| {
                let d = parse_duration(v)?;
                if d.is_zero() {
                    Err("must be more than 0".into())
                } else {
                    Ok(d)
                }
            })?,
            job_timeout: self.parse("job_timeout", |v| {
                // The agent counts whole seconds: 0 is "no limit", so a
                // sub-second value would silently mean none.
                let d = parse_duration(v)?;
                if !d.is_zero() && d < Duration::from_secs(1) {
                    Err("must be 0 (no limit) or at least 1s".into())
                } else {
                    Ok(d)
                }
            })?,
            max_log_lines_per_job: self.parse("max_log_lines_per_job", parse_positive)?,
            max_pending_hosts: self.parse("max_pending_hosts", parse_positive)?,
            max_announces_per_address: self.parse("max_announces_per_address", parse_positive)?,
            announce_window: self.parse("announce_window", at_least_a_second)?,
            pending_session_timeout: self.parse("pending_session_timeout", at_least_a_second)?,
            setup_token: match self.values.get("setup_token") {
                Some(_) => Some(self.parse("setup_token", |v| {
                    if v.len() < 16 {
                        Err("must be at least 16 characters".into())
                    } else {
                        Ok(v.to_string())
                    }
                })?),
                None => None,
            },
        };
        Ok(config)
    }

    fn source_of(&self, name: &str) -> Source {
        self.values
            .get(name)
            .map(|(_, s)| s.clone())
            .unwrap_or(Source::Default)
    }

    /// Parses the value of `name`, naming the key and its source on error.
    fn parse<T>(
        &self,
        name: &'static str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        let Some((value, source)) = self.values.get(name) else {
            return Err(ConfigError::Invalid {
                key: name,
                from: Source::Default,
                value: None,
                reason: "missing".into(),
            });
        };
        parse(value.trim()).map_err(|reason| {
            let secret = spec(name).is_some_and(|s| s.secret);
            ConfigError::Invalid {
                key: name,
                from: source.clone(),
                value: (!secret).then(|| value.clone()),
                reason,
            }
        })
    }
}

/// Reads a secret from a file that only its owner may read.
fn read_secret_file(spec: &KeySpec, source: &Source, path: &Path) -> Result<String, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid {
        key: spec.name,
        from: source.clone(),
        value: None,
        reason,
    };
    let meta = std::fs::metadata(path)
        .map_err(|e| invalid(format!("cannot read {}: {e}", path.display())))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(invalid(format!(
            "secret file {} has mode {mode:04o}: it must be readable by its owner only (chmod 600)",
            path.display()
        )));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| invalid(format!("cannot read {}: {e}", path.display())))?;
    Ok(text.trim_end_matches(['\n', '\r']).to_string())
}

fn parse_bool(v: &str) -> Result<bool, String> {
    match v {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

fn parse_positive(v: &str) -> Result<u32, String> {
    match v.parse::<u32>() {
        Ok(0) => Err("must be greater than 0".into()),
        Ok(n) => Ok(n),
        Err(_) => Err("expected a whole number".into()),
    }
}

fn parse_public_url(v: &str) -> Result<String, String> {
    let rest = v
        .strip_prefix("https://")
        .or_else(|| v.strip_prefix("http://"))
        .ok_or("must start with http:// or https://")?;
    if rest.is_empty() || rest.starts_with('/') || v.contains(['?', '#', ' ']) {
        return Err("expected a URL like https://cairn.example.com".into());
    }
    Ok(v.trim_end_matches('/').to_string())
}

/// A duration of at least one second (a zero window or timeout would turn a
/// limit off, or close every session at once).
fn at_least_a_second(v: &str) -> Result<Duration, String> {
    let d = parse_duration(v)?;
    if d < Duration::from_secs(1) {
        Err("must be at least 1s".into())
    } else {
        Ok(d)
    }
}

/// Parses `90`, `90s`, `15m`, `12h` or `7d` (seconds when there is no unit).
pub fn parse_duration(v: &str) -> Result<Duration, String> {
    let (number, unit) = match v.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => v.split_at(i),
        None => (v, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("expected a duration like 30s, 15m, 12h or 7d, found {v:?}"))?;
    let seconds = match unit {
        "ms" => return Ok(Duration::from_millis(n)),
        "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        "d" => n.saturating_mul(86_400),
        _ => return Err(format!("unknown unit {unit:?}: use ms, s, m, h or d")),
    };
    Ok(Duration::from_secs(seconds))
}

/// The example configuration file: every key with its default and help.
pub fn example_toml() -> String {
    let mut out = String::from(
        "# Cairn server configuration. Every key is optional; shown are the defaults.\n\
         # Precedence: defaults < this file < CAIRN_* environment < flags.\n",
    );
    for key in KEYS {
        out.push_str(&format!("\n# {}\n", key.help));
        if key.secret {
            out.push_str(&format!(
                "# env: {env} or {env}_FILE (no flag: argv is visible to every user)\n\
                 # secret: or `{name}_file = \"/path\"` naming a file of mode 0600\n",
                env = key.env(),
                name = key.name
            ));
        } else {
            out.push_str(&format!("# env: {}  flag: {}\n", key.env(), key.flag()));
        }
        match key.default {
            Some(default) => out.push_str(&format!("#{} = {:?}\n", key.name, default)),
            None => out.push_str(&format!("#{} = \"\"\n", key.name)),
        }
    }
    out
}

/// The server's command-line flags, one per key, all optional strings (the
/// config layer parses them, so errors read the same whatever the source).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServerFlags {
    /// Configuration file (TOML); also CAIRN_CONFIG.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address for gRPC, the web UI, /healthz and /readyz [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Directory for the database and the sealing key [default: ./cairn-data].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<String>,
    /// TLS certificate chain (PEM) [default: a self-signed one in the data dir].
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<String>,
    /// TLS private key (PEM, mode 0600).
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<String>,
    /// Serve without TLS (behind a TLS-terminating proxy, or a trusted network).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub plaintext: Option<String>,
    /// URL operators use to reach the server [default: https://<listen>].
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// Log format: text or json [default: text].
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// Log filter [default: info].
    #[arg(long, value_name = "FILTER")]
    pub log_level: Option<String>,
    /// Browser session idle timeout [default: 12h].
    #[arg(long, value_name = "DURATION")]
    pub session_idle_timeout: Option<String>,
    /// Browser session absolute lifetime [default: 7d].
    #[arg(long, value_name = "DURATION")]
    pub session_max_age: Option<String>,
    /// Failed sign-ins per account per window [default: 5].
    #[arg(long, value_name = "N")]
    pub login_max_failures: Option<String>,
    /// Failed sign-ins per client address per window [default: 20].
    #[arg(long, value_name = "N")]
    pub login_max_failures_per_client: Option<String>,
    /// Window for counting failed sign-ins [default: 15m].
    #[arg(long, value_name = "DURATION")]
    pub login_window: Option<String>,
    /// Grace period for open requests at shutdown [default: 10s].
    #[arg(long, value_name = "DURATION")]
    pub shutdown_grace: Option<String>,
    /// HTTP/2 keepalive PING interval [default: 30s].
    #[arg(long, value_name = "DURATION")]
    pub http2_keepalive_interval: Option<String>,
    /// HTTP/2 keepalive PING timeout [default: 20s].
    #[arg(long, value_name = "DURATION")]
    pub http2_keepalive_timeout: Option<String>,
    /// HTTP/2 concurrent streams per connection [default: 256].
    #[arg(long, value_name = "N")]
    pub max_concurrent_streams: Option<String>,
    /// Largest gRPC message in bytes [default: 4194304].
    #[arg(long, value_name = "BYTES")]
    pub max_message_size: Option<String>,
    /// How often agents send a heartbeat [default: 15s].
    #[arg(long, value_name = "DURATION")]
    pub agent_heartbeat_interval: Option<String>,
    /// Offline (and stream closed) this long after the last sign of life [default: 90s].
    #[arg(long, value_name = "DURATION")]
    pub agent_offline_after: Option<String>,
    /// A job with no word from its agent for this long is lost [default: 10m].
    #[arg(long, value_name = "DURATION")]
    pub job_lease: Option<String>,
    /// A firing with no job this long after its time is missed [default: 2m].
    #[arg(long, value_name = "DURATION")]
    pub schedule_grace: Option<String>,
    /// How often maintenance plans are checked [default: 60s].
    #[arg(long, value_name = "DURATION")]
    pub maintenance_tick: Option<String>,
    /// Stop a job that runs longer than this; 0 for no limit [default: 24h]
    #[arg(long, value_name = "DURATION")]
    pub job_timeout: Option<String>,
    /// Log lines kept per job [default: 100000]
    #[arg(long, value_name = "N")]
    pub max_log_lines_per_job: Option<String>,
    /// Pending hosts kept at most [default: 1000]
    #[arg(long, value_name = "N")]
    pub max_pending_hosts: Option<String>,
    /// New identities per client address per window [default: 20]
    #[arg(long, value_name = "N")]
    pub max_announces_per_address: Option<String>,
    /// Window of the per-address announce cap [default: 1h]
    #[arg(long, value_name = "DURATION")]
    pub announce_window: Option<String>,
    /// Close a pending host's stream after this long [default: 10m]
    #[arg(long, value_name = "DURATION")]
    pub pending_session_timeout: Option<String>,
    /// Print the example configuration file and exit.
    #[arg(long)]
    pub print_example_config: bool,
}

impl ServerFlags {
    /// The flags that were given, by key name. Secrets have no flag (a flag
    /// would put them in argv, visible to every user of the machine).
    pub fn given(&self) -> Vec<(&'static str, String)> {
        let all = [
            ("listen", &self.listen),
            ("data_dir", &self.data_dir),
            ("tls_cert", &self.tls_cert),
            ("tls_key", &self.tls_key),
            ("plaintext", &self.plaintext),
            ("public_url", &self.public_url),
            ("log_format", &self.log_format),
            ("log_level", &self.log_level),
            ("session_idle_timeout", &self.session_idle_timeout),
            ("session_max_age", &self.session_max_age),
            ("login_max_failures", &self.login_max_failures),
            (
                "login_max_failures_per_client",
                &self.login_max_failures_per_client,
            ),
            ("login_window", &self.login_window),
            ("shutdown_grace", &self.shutdown_grace),
            ("http2_keepalive_interval", &self.http2_keepalive_interval),
            ("http2_keepalive_timeout", &self.http2_keepalive_timeout),
            ("max_concurrent_streams", &self.max_concurrent_streams),
            ("max_message_size", &self.max_message_size),
            ("agent_heartbeat_interval", &self.agent_heartbeat_interval),
            ("agent_offline_after", &self.agent_offline_after),
            ("job_lease", &self.job_lease),
            ("schedule_grace", &self.schedule_grace),
            ("maintenance_tick", &self.maintenance_tick),
            ("job_timeout", &self.job_timeout),
            ("max_log_lines_per_job", &self.max_log_lines_per_job),
            ("max_pending_hosts", &self.max_pending_hosts),
            ("max_announces_per_address", &self.max_announces_per_address),
            ("announce_window", &self.announce_window),
            ("pending_session_timeout", &self.pending_session_timeout),
        ];
        all.into_iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (k, v.clone())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn write(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        path
    }

    #[test]
    fn defaults_serve_a_first_run() {
        let (config, warnings) = load(None, env(&[]), &[]).expect("defaults");
        assert_eq!(config.listen, "127.0.0.1:8080".parse().expect("addr"));
        assert_eq!(config.data_dir, PathBuf::from("./cairn-data"));
        assert_eq!(config.public_url, "https://127.0.0.1:8080");
        assert_eq!(config.tls, TlsMode::SelfSigned);
        assert_eq!(config.session_idle_timeout, Duration::from_secs(12 * 3600));
        assert!(config.serves_https());
        let (plain, _) = load(None, env(&[]), &[("plaintext", "true".into())]).expect("plaintext");
        assert_eq!(plain.tls, TlsMode::Plaintext);
        assert_eq!(plain.public_url, "http://127.0.0.1:8080");
        let half =
            load(None, env(&[]), &[("tls_cert", "/etc/cert.pem".into())]).expect_err("needs a key");
        assert!(half.to_string().contains("tls_key"), "{half}");
        assert!(warnings.is_empty());
    }

    #[test]
    fn later_layers_win_defaults_file_env_flags() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = write(
            dir.path(),
            "cairn.toml",
            "listen = \"127.0.0.1:1000\"\nlogin_max_failures = 7\nlog_format = \"json\"\nlogin_window = \"1h\"\n",
            0o644,
        );
        let (config, _) = load(
            Some(&file),
            env(&[
                ("CAIRN_LISTEN", "127.0.0.1:2000"),
                ("CAIRN_LOGIN_MAX_FAILURES", "8"),
            ]),
            &[("listen", "127.0.0.1:3000".into())],
        )
        .expect("load");
        assert_eq!(config.listen.port(), 3000, "flag beats env and file");
        assert_eq!(config.login_max_failures, 8, "env beats file");
        assert_eq!(config.log_format, LogFormat::Json, "file beats default");
        assert_eq!(config.login_window, Duration::from_secs(3600));
    }

    #[test]
    fn config_file_can_come_from_the_environment() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = write(dir.path(), "c.toml", "max_concurrent_streams = 9\n", 0o644);
        let (config, _) = load(
            None,
            env(&[("CAIRN_CONFIG", &file.display().to_string())]),
            &[],
        )
        .expect("load");
        assert_eq!(config.max_concurrent_streams, 9);
    }

    #[test]
    fn unknown_environment_variables_warn_known_ones_from_other_commands_do_not() {
        let (_, warnings) = load(
            None,
            env(&[
                ("CAIRN_LISTN", "x"),
                ("CAIRN_TOKEN", "t"),
                ("HOME", "/root"),
            ]),
            &[],
        )
        .expect("load");
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].0.contains("CAIRN_LISTN"));
    }

    #[test]
    fn errors_name_the_key_and_its_source() {
        let err = load(None, env(&[("CAIRN_SHUTDOWN_GRACE", "soon")]), &[]).expect_err("bad");
        let text = err.to_string();
        assert!(
            text.contains("`shutdown_grace`") && text.contains("CAIRN_SHUTDOWN_GRACE"),
            "{text}"
        );

        let err = load(None, env(&[]), &[("max_concurrent_streams", "0".into())]).expect_err("bad");
        assert!(
            err.to_string().contains("--max-concurrent-streams"),
            "{err}"
        );

        // Values that would silently turn a limit off are refused.
        for (key, value) in [
            ("job_timeout", "500ms"),
            ("pending_session_timeout", "0"),
            ("announce_window", "0s"),
        ] {
            let err = load(None, env(&[]), &[(key, value.into())]).expect_err(key);
            assert!(err.to_string().contains(&format!("`{key}`")), "{err}");
        }
        assert!(
            load(None, env(&[]), &[("job_timeout", "0".into())]).is_ok(),
            "0 is no limit"
        );

        let dir = tempfile::tempdir().expect("tempdir");
        let file = write(dir.path(), "bad.toml", "public_url = \"ftp://x\"\n", 0o644);
        let err = load(Some(&file), env(&[]), &[]).expect_err("bad");
        assert!(
            err.to_string().contains("`public_url`") && err.to_string().contains("bad.toml"),
            "{err}"
        );

        let file = write(dir.path(), "broken.toml", "listen = \n", 0o644);
        assert!(matches!(
            load(Some(&file), env(&[]), &[]),
            Err(ConfigError::File { .. })
        ));
    }

    #[test]
    fn secrets_come_from_files_readable_by_the_owner_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let good = write(dir.path(), "token", "a-long-enough-setup-token\n", 0o600);
        let (config, _) = load(
            None,
            env(&[("CAIRN_SETUP_TOKEN_FILE", &good.display().to_string())]),
            &[],
        )
        .expect("load");
        assert_eq!(
            config.setup_token.as_deref(),
            Some("a-long-enough-setup-token")
        );

        let open = write(dir.path(), "open", "a-long-enough-setup-token\n", 0o644);
        let err = load(
            None,
            env(&[("CAIRN_SETUP_TOKEN_FILE", &open.display().to_string())]),
            &[],
        )
        .expect_err("too open");
        assert!(err.to_string().contains("0644"), "{err}");

        let toml = write(
            dir.path(),
            "c.toml",
            &format!("setup_token_file = {:?}\n", good.display().to_string()),
            0o644,
        );
        let (config, _) = load(Some(&toml), env(&[]), &[]).expect("file form in toml");
        assert!(config.setup_token.is_some());

        let both = env(&[
            ("CAIRN_SETUP_TOKEN", "another-long-token-value"),
            ("CAIRN_SETUP_TOKEN_FILE", &good.display().to_string()),
        ]);
        assert!(matches!(
            load(None, both, &[]),
            Err(ConfigError::Ambiguous { .. })
        ));
    }

    #[test]
    fn debug_redacts_secrets() {
        let (config, _) = load(
            None,
            env(&[("CAIRN_SETUP_TOKEN", "super-secret-setup-token")]),
            &[],
        )
        .expect("load");
        let shown = format!("{config:?}");
        assert!(!shown.contains("super-secret-setup-token"));
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("1w").is_err());
        assert!(parse_duration("").is_err());
    }

    /// The example config, the flags and the key table must agree: every
    /// non-secret key has a flag, and the example parses back to the defaults.
    #[test]
    fn example_config_and_flags_match_the_key_table() {
        let dir = tempfile::tempdir().expect("tempdir");
        let uncommented: String = example_toml()
            .lines()
            .filter_map(|l| l.strip_prefix('#'))
            .filter(|l| {
                l.split_once(" = ").is_some_and(|(key, value)| {
                    key.chars().all(|c| c.is_ascii_lowercase() || c == '_') && value != "\"\""
                })
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let file = write(dir.path(), "example.toml", &uncommented, 0o644);
        let (from_example, _) = load(Some(&file), env(&[]), &[]).expect("example parses");
        let (defaults, _) = load(None, env(&[]), &[]).expect("defaults");
        assert_eq!(format!("{from_example:?}"), format!("{defaults:?}"));

        use clap::{Args, Command};
        let command = ServerFlags::augment_args(Command::new("server"));
        for key in KEYS {
            let has_flag = command
                .get_arguments()
                .any(|a| a.get_long() == Some(&key.flag()[2..]));
            assert_eq!(has_flag, !key.secret, "flag for {}", key.name);
        }
        let every_flag = ServerFlags {
            listen: Some("127.0.0.1:1".into()),
            data_dir: Some("d".into()),
            tls_cert: Some("c".into()),
            tls_key: Some("k".into()),
            plaintext: Some("false".into()),
            public_url: Some("http://x".into()),
            log_format: Some("text".into()),
            log_level: Some("info".into()),
            session_idle_timeout: Some("1s".into()),
            session_max_age: Some("1s".into()),
            login_max_failures: Some("1".into()),
            login_max_failures_per_client: Some("1".into()),
            login_window: Some("1s".into()),
            shutdown_grace: Some("1s".into()),
            http2_keepalive_interval: Some("1s".into()),
            http2_keepalive_timeout: Some("1s".into()),
            max_concurrent_streams: Some("1".into()),
            max_message_size: Some("65536".into()),
            agent_heartbeat_interval: Some("1s".into()),
            agent_offline_after: Some("1s".into()),
            job_lease: Some("1s".into()),
            schedule_grace: Some("1s".into()),
            maintenance_tick: Some("1s".into()),
            job_timeout: Some("1s".into()),
            max_log_lines_per_job: Some("1".into()),
            max_pending_hosts: Some("1".into()),
            max_announces_per_address: Some("1".into()),
            announce_window: Some("1s".into()),
            pending_session_timeout: Some("1s".into()),
            ..ServerFlags::default()
        };
        assert_eq!(
            every_flag.given().len(),
            KEYS.iter().filter(|k| !k.secret).count()
        );
    }
}
