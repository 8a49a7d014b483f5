//! The agent's own configuration file (`agent.toml`). Everything in it can
//! also be given as a flag or `CAIRN_*` variable, which win over the file.
//! Host-local policy (allowed backup and restore roots, named hooks) lives
//! here too as it lands: the server can never change it.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// `agent.toml`, as written. Unknown keys are errors, so a typo is caught.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentFile {
    /// The server's URL.
    pub server: Option<String>,
    /// Where the identity and spool live.
    pub state_dir: Option<PathBuf>,
    /// Pin the server's certificate by fingerprint.
    pub server_fingerprint: Option<String>,
    /// Trust server certificates from the CAs in this PEM file.
    pub ca_file: Option<PathBuf>,
    /// Allow an `http://` server.
    pub allow_plaintext: Option<bool>,
    /// A file holding an enrollment token.
    pub enroll_token_file: Option<PathBuf>,
    /// Log filter.
    pub log_level: Option<String>,
    /// Backups may only read below these (default: anywhere).
    #[serde(default)]
    pub backup_roots: Vec<PathBuf>,
    /// Restores may only write below these (default: no restores).
    #[serde(default)]
    pub restore_roots: Vec<PathBuf>,
    /// The restic program (default: `restic` from PATH).
    pub restic: Option<String>,
    /// Whether forget and prune may run (default: true).
    pub allow_destructive: Option<bool>,
    /// Named hooks: `[hooks.NAME]` with `pre`, `post`, `on_error`, `timeout_seconds`.
    #[serde(default)]
    pub hooks: std::collections::BTreeMap<String, HookFile>,
    /// Whether `rclone:` repositories may be used (default: false).
    pub allow_rclone: Option<bool>,
    /// The repositories this host may use, as URL prefixes (default: any).
    #[serde(default)]
    pub repositories: Vec<String>,
}

/// A locked-down `agent.toml`, commented, as `cairn agent
/// --print-example-config` prints it.
pub const EXAMPLE_CONFIG: &str = include_str!("../agent.example.toml");

/// A hook as written in `agent.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookFile {
    /// Command before restic, as an argv list.
    #[serde(default)]
    pub pre: Vec<String>,
    /// Command after restic, as an argv list.
    #[serde(default)]
    pub post: Vec<String>,
    /// `fail` (default), `continue` or `retry`.
    #[serde(default)]
    pub on_error: crate::policy::OnError,
    /// Seconds before the command is killed (default 600).
    pub timeout_seconds: Option<u64>,
}

impl AgentFile {
    /// The policy this file sets (hooks checked: absolute programs only).
    pub fn policy(&self) -> Result<crate::Policy, AgentFileError> {
        let mut hooks = std::collections::BTreeMap::new();
        for (name, hook) in &self.hooks {
            for argv in [&hook.pre, &hook.post] {
                if let Some(program) = argv.first()
                    && !Path::new(program).is_absolute()
                {
                    return Err(AgentFileError::Invalid {
                        path: PathBuf::from("agent.toml"),
                        reason: format!(
                            "hook {name:?}: the program {program:?} must be an absolute path"
                        ),
                    });
                }
            }
            hooks.insert(
                name.clone(),
                crate::policy::Hook {
                    pre: hook.pre.clone(),
                    post: hook.post.clone(),
                    on_error: hook.on_error,
                    timeout: std::time::Duration::from_secs(hook.timeout_seconds.unwrap_or(600)),
                },
            );
        }
        for pin in &self.repositories {
            // A pin is matched as a prefix, so it must at least be a URL that
            // could be used (user info aside), and not an empty match-all.
            if pin.is_empty() || pin.split('/').any(|s| s == "..") {
                return Err(AgentFileError::Invalid {
                    path: PathBuf::from("agent.toml"),
                    reason: format!("repositories: {pin:?} is not a repository URL prefix"),
                });
            }
        }
        Ok(crate::Policy {
            backup_roots: self.backup_roots.clone(),
            restore_roots: self.restore_roots.clone(),
            allow_destructive: self.allow_destructive.unwrap_or(true),
            hooks,
            allow_rclone: self.allow_rclone.unwrap_or(false),
            repositories: self.repositories.clone(),
        })
    }
}

/// Why `agent.toml` could not be used.
#[derive(Debug, thiserror::Error)]
pub enum AgentFileError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid (bad TOML, an unknown key, a wrong type).
    #[error("invalid {path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

impl AgentFile {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<AgentFile, AgentFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| AgentFileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|e: toml::de::Error| AgentFileError::Invalid {
            path: path.to_path_buf(),
            reason: e.message().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_known_keys_and_names_an_unknown_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let good = dir.path().join("agent.toml");
        std::fs::write(&good, "server = \"https://cairn:8080\"\nallow_plaintext = false\nstate_dir = \"/var/lib/x\"\n").expect("write");
        let file = AgentFile::load(&good).expect("load");
        assert_eq!(file.server.as_deref(), Some("https://cairn:8080"));
        assert_eq!(file.state_dir, Some(PathBuf::from("/var/lib/x")));

        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "sever = \"typo\"\n").expect("write");
        let err = AgentFile::load(&bad).expect_err("unknown key");
        assert!(err.to_string().contains("sever"), "{err}");
    }

    #[test]
    fn the_printed_example_is_a_valid_locked_down_policy() {
        let file: AgentFile = toml::from_str(EXAMPLE_CONFIG).expect("the example parses");
        let policy = file.policy().expect("the example is a valid policy");
        assert!(!policy.allow_destructive, "the example deletes nothing");
        assert!(!policy.allow_rclone);
        assert!(!policy.backup_roots.is_empty() && !policy.restore_roots.is_empty());
        assert!(
            !policy.repositories.is_empty(),
            "the example pins its repositories"
        );
        assert_eq!(file.allow_plaintext, Some(false));
        for pin in &policy.repositories {
            assert_eq!(policy.check_repository(pin), Ok(()), "{pin}");
        }
        assert!(
            policy.check_repository("/srv/restic-evil").is_err(),
            "a pin is a path prefix, not a string prefix"
        );
    }
}
