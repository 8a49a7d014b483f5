//! The server's settings, in layers with one documented winner:
//! defaults < TOML file < `CAIRN_*` environment < command-line flags.
//!
//! Every key has one name in each layer (`listen`, `CAIRN_LISTEN`,
//! `--listen`). Secrets also take a `_FILE` form (`setup_token_file`,
//! `CAIRN_SETUP_TOKEN_FILE`) that names a file readable by its owner only.
//! Parsing reads the environment through a plain iterator, so tests never
//! touch the process environment. A bad value is an error that names the key
//! and where it came from, and never echoes a secret.
//!
//! Each key is declared once, in `keys.rs`; [`ServerConfig`], its `Debug`,
//! [`KEYS`] (which the binary turns into flags) and [`example_toml`] are all
//! made from that declaration.

mod keys;
mod layers;
mod networks;
mod parse;
mod table;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

pub use self::keys::{KEYS, ServerConfig};
pub use self::networks::Networks;
pub use self::parse::parse_duration;
pub use self::table::{FlagSpec, KeySpec};
pub use crate::auth::Secret;

use self::layers::Layers;

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
        match keys::build(&layers) {
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
/// process environment; `flags` the flags given, by key name. A key without
/// a flag (a secret) cannot be given as one.
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
        let (spec, flag) = keys::spec(key)
            .and_then(|spec| Some((spec, spec.flag_text()?)))
            .ok_or_else(|| ConfigError::UnknownKey {
                key: (*key).to_string(),
                file: PathBuf::from("<flags>"),
            })?;
        layers.set(spec.name, value.clone(), Source::Flag(flag));
    }
    Ok((keys::build(&layers)?, warnings))
}

/// A configuration file's text alone, as `load` would take it (for the
/// fuzzers: `crate::fuzz`).
pub(crate) fn from_text(text: &str) -> Result<ServerConfig, ConfigError> {
    let mut layers = Layers::defaults();
    layers.apply_text(Path::new("<text>"), text)?;
    keys::build(&layers)
}

/// The example configuration file: every key with its default and help.
pub fn example_toml() -> String {
    let mut out = String::from(
        "# Cairn server configuration. Every key is optional; shown are the defaults.\n\
         # Precedence: defaults < this file < CAIRN_* environment < flags.\n",
    );
    for key in KEYS {
        out.push_str(&format!("\n# {}\n", key.help));
        match key.flag_text() {
            None => out.push_str(&format!(
                "# env: {env} or {env}_FILE (no flag: argv is visible to every user)\n\
                 # secret: or `{name}_file = \"/path\"` naming a file of mode 0600\n",
                env = key.env,
                name = key.name
            )),
            Some(flag) => out.push_str(&format!("# env: {}  flag: {flag}\n", key.env)),
        }
        match key.default {
            Some(default) => out.push_str(&format!("#{} = {:?}\n", key.name, default)),
            None => out.push_str(&format!("#{} = \"\"\n", key.name)),
        }
    }
    out
}
