//! The key table: every server setting, declared once (see `table.rs` for
//! the syntax). [`KEYS`], the parsing, [`ServerConfig`] and its `Debug`, the
//! example file and the binary's flags all come from here.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::layers::Layers;
use super::parse;
use super::table::{FlagSpec, KeySpec, SecretValue, config_table};
use super::{ConfigError, LogFormat, Networks, TlsMode};
use crate::auth::Secret;

config_table! {
    derived {
        /// How the one port is secured (from `plaintext`, `tls_cert`, `tls_key`).
        tls: TlsMode,
        /// Without a trailing slash (`public_url`, or made from `listen`).
        public_url: String,
    }
    keys {
        /// Address for gRPC, the web UI, /healthz and /readyz (one port)
        field listen: SocketAddr = "127.0.0.1:8080",
            env "CAIRN_LISTEN", flag "listen" "ADDR", parse parse::socket_addr;
        /// Address for /metrics alone (unset: /metrics is served on listen); see metrics_trusted and metrics_token for who may read it
        field metrics_listen: SocketAddr = unset,
            env "CAIRN_METRICS_LISTEN", flag "metrics-listen" "ADDR", parse parse::socket_addr;
        /// Networks whose peers read /metrics with no credential, comma-separated, e.g. 10.0.0.0/8, ::1 ("" for none; unset: loopback, or everyone on metrics_listen when no metrics_token is set)
        field metrics_trusted: Networks = unset,
            env "CAIRN_METRICS_TRUSTED", flag "metrics-trusted" "NETWORKS", parse parse::networks;
        /// Directory for the database and the sealing key
        field data_dir: PathBuf = "./cairn-data",
            env "CAIRN_DATA_DIR", flag "data-dir" "DIR", parse parse::non_empty_path;
        /// TLS certificate chain (PEM); without it and tls_key the server makes a self-signed one in data_dir
        input tls_cert: PathBuf = unset,
            env "CAIRN_TLS_CERT", flag "tls-cert" "FILE", parse parse::path;
        /// TLS private key (PEM, mode 0600) for tls_cert
        input tls_key: PathBuf = unset,
            env "CAIRN_TLS_KEY", flag "tls-key" "FILE", parse parse::path;
        /// Serve without TLS (only behind a TLS-terminating proxy or on a trusted network)
        input plaintext: bool = "false",
            env "CAIRN_PLAINTEXT", switch "plaintext" "BOOL", parse parse::boolean;
        /// URL operators use to reach the server (default: https://<listen>, or http:// with plaintext); https:// makes cookies Secure and __Host- prefixed
        input public_url: String = unset,
            env "CAIRN_PUBLIC_URL", flag "public-url" "URL", parse parse::public_url;
        /// Log format: text or json
        field log_format: LogFormat = "text",
            env "CAIRN_LOG_FORMAT", flag "log-format" "FORMAT", parse parse::log_format;
        /// Log filter, e.g. info or cairn_server=debug,info
        field log_level: String = "info",
            env "CAIRN_LOG_LEVEL", flag "log-level" "FILTER", parse parse::text;
        /// A browser session ends after this long without a request
        field session_idle_timeout: Duration = "12h",
            env "CAIRN_SESSION_IDLE_TIMEOUT", flag "session-idle-timeout" "DURATION",
            parse parse::parse_duration;
        /// A browser session ends this long after sign-in, however active
        field session_max_age: Duration = "7d",
            env "CAIRN_SESSION_MAX_AGE", flag "session-max-age" "DURATION",
            parse parse::parse_duration;
        /// Failed sign-ins allowed per account within login_window before further attempts are refused
        field login_max_failures: u32 = "5",
            env "CAIRN_LOGIN_MAX_FAILURES", flag "login-max-failures" "N",
            parse parse::positive;
        /// Failed sign-ins allowed per client address within login_window
        field login_max_failures_per_client: u32 = "20",
            env "CAIRN_LOGIN_MAX_FAILURES_PER_CLIENT", flag "login-max-failures-per-client" "N",
            parse parse::positive;
        /// The window over which failed sign-ins are counted
        field login_window: Duration = "15m",
            env "CAIRN_LOGIN_WINDOW", flag "login-window" "DURATION",
            parse parse::parse_duration;
        /// How long open requests and streams get to finish at shutdown
        field shutdown_grace: Duration = "10s",
            env "CAIRN_SHUTDOWN_GRACE", flag "shutdown-grace" "DURATION",
            parse parse::parse_duration;
        /// HTTP/2 PING interval on every connection, to notice dead peers
        /// (with the timeout, a silently dropped link is noticed in 35 s)
        field http2_keepalive_interval: Duration = "15s",
            env "CAIRN_HTTP2_KEEPALIVE_INTERVAL", flag "http2-keepalive-interval" "DURATION",
            parse parse::parse_duration;
        /// A connection whose PING is not answered within this is closed
        field http2_keepalive_timeout: Duration = "20s",
            env "CAIRN_HTTP2_KEEPALIVE_TIMEOUT", flag "http2-keepalive-timeout" "DURATION",
            parse parse::parse_duration;
        /// HTTP/2 streams allowed at once on one connection
        field max_concurrent_streams: u32 = "256",
            env "CAIRN_MAX_CONCURRENT_STREAMS", flag "max-concurrent-streams" "N",
            parse parse::positive;
        /// Largest gRPC message accepted or sent, in bytes
        field max_message_size: usize = "4194304",
            env "CAIRN_MAX_MESSAGE_SIZE", flag "max-message-size" "BYTES",
            parse parse::message_size;
        /// How often agents send a heartbeat (told to them in Welcome)
        field agent_heartbeat_interval: Duration = "15s",
            env "CAIRN_AGENT_HEARTBEAT_INTERVAL", flag "agent-heartbeat-interval" "DURATION",
            parse parse::parse_duration;
        /// A host is offline, and its stream closed, this long after its last sign of life
        field agent_offline_after: Duration = "90s",
            env "CAIRN_AGENT_OFFLINE_AFTER", flag "agent-offline-after" "DURATION",
            parse parse::parse_duration;
        /// A dispatched or running job whose agent says nothing of it for this long is marked lost
        field job_lease: Duration = "10m",
            env "CAIRN_JOB_LEASE", flag "job-lease" "DURATION", parse parse::parse_duration;
        /// A schedule firing with no job this long after its time is recorded as a missed run
        field schedule_grace: Duration = "2m",
            env "CAIRN_SCHEDULE_GRACE", flag "schedule-grace" "DURATION",
            parse parse::parse_duration;
        /// The agent stops a job that runs longer than this (hooks included); 0 means no limit
        field job_timeout: Duration = "24h",
            env "CAIRN_JOB_TIMEOUT", flag "job-timeout" "DURATION", parse parse::job_timeout;
        /// Log lines kept per job; later lines are dropped, after one line saying so
        field max_log_lines_per_job: u32 = "100000",
            env "CAIRN_MAX_LOG_LINES_PER_JOB", flag "max-log-lines-per-job" "N",
            parse parse::positive;
        /// New identities kept waiting for approval at most; announces beyond are refused
        field max_pending_hosts: u32 = "1000",
            env "CAIRN_MAX_PENDING_HOSTS", flag "max-pending-hosts" "N", parse parse::positive;
        /// New identities one client address may announce per announce_window
        field max_announces_per_address: u32 = "20",
            env "CAIRN_MAX_ANNOUNCES_PER_ADDRESS", flag "max-announces-per-address" "N",
            parse parse::positive;
        /// The window max_announces_per_address counts in
        field announce_window: Duration = "1h",
            env "CAIRN_ANNOUNCE_WINDOW", flag "announce-window" "DURATION",
            parse parse::at_least_a_second;
        /// A pending host's stream is closed after this long without approval (the agent reconnects later)
        field pending_session_timeout: Duration = "10m",
            env "CAIRN_PENDING_SESSION_TIMEOUT", flag "pending-session-timeout" "DURATION",
            parse parse::at_least_a_second;
        /// How often maintenance plans are checked for forget, prune and check that are due
        field maintenance_tick: Duration = "60s",
            env "CAIRN_MAINTENANCE_TICK", flag "maintenance-tick" "DURATION",
            parse parse::more_than_zero;
        /// How often the alert engine checks its rules (it also checks whenever a job ends)
        field alert_evaluate_every: Duration = "15s",
            env "CAIRN_ALERT_EVALUATE_EVERY", flag "alert-evaluate-every" "DURATION",
            parse parse::more_than_zero;
        /// Let notification channels send to loopback, private, link-local, CGNAT and metadata addresses (refused by default: SSRF guard)
        field allow_private_notification_targets: bool = "false",
            env "CAIRN_ALLOW_PRIVATE_NOTIFICATION_TARGETS", switch "allow-private-notification-targets" "BOOL",
            parse parse::boolean;
        /// A bearer token (16 characters or more) that reads /metrics from any address, for a Prometheus outside metrics_trusted
        field metrics_token: Secret = unset,
            env "CAIRN_METRICS_TOKEN", secret, parse parse::long_secret;
        /// Preset one-time setup token (default: a random one, logged at start while no admin exists)
        field setup_token: Secret = unset,
            env "CAIRN_SETUP_TOKEN", secret, parse parse::long_secret;
    }
}

/// Parses every key and builds the configuration.
pub(super) fn build(layers: &Layers) -> Result<ServerConfig, ConfigError> {
    let keys = Keys::from_layers(layers)?;
    let derived = derive(&keys, layers)?;
    Ok(assemble(keys, derived))
}

/// The fields that depend on more than one key.
fn derive(keys: &Keys, layers: &Layers) -> Result<Derived, ConfigError> {
    let tls = match (keys.plaintext, &keys.tls_cert, &keys.tls_key) {
        (true, None, None) => TlsMode::Plaintext,
        (true, _, _) => {
            return Err(ConfigError::Invalid {
                key: "plaintext",
                from: layers.source_of("plaintext"),
                value: Some("true".into()),
                reason: "plaintext cannot be combined with tls_cert / tls_key".into(),
            });
        }
        (false, Some(cert), Some(key)) => TlsMode::Files {
            cert: cert.clone(),
            key: key.clone(),
        },
        (false, None, None) => TlsMode::SelfSigned,
        (false, cert, _) => {
            let (missing, given) = if cert.is_some() {
                ("tls_key", "tls_cert")
            } else {
                ("tls_cert", "tls_key")
            };
            return Err(ConfigError::Invalid {
                key: missing,
                from: layers.source_of(given),
                value: None,
                reason: "tls_cert and tls_key go together: give both or neither".into(),
            });
        }
    };
    let public_url = match &keys.public_url {
        Some(url) => url.clone(),
        None => {
            let scheme = if tls == TlsMode::Plaintext {
                "http"
            } else {
                "https"
            };
            format!("{scheme}://{}", keys.listen)
        }
    };
    Ok(Derived { tls, public_url })
}

/// The key named `name`.
pub(super) fn spec(name: &str) -> Option<&'static KeySpec> {
    KEYS.iter().find(|k| k.name == name)
}

/// Whether a value of `name` must never be shown.
pub(super) fn is_secret(name: &str) -> bool {
    spec(name).is_some_and(|k| k.secret)
}
