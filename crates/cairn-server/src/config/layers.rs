//! The raw values of every key, merged layer by layer (defaults < file < env
//! < flags), each with where it came from, and parsed on request by the key
//! table. Secret values are read here from their `_file` / `_FILE` form.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::keys::{KEYS, is_secret, spec};
use super::table::KeySpec;
use super::{ConfigError, ConfigWarning, Source};

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

/// The merged raw values, each with where it came from. No `Debug`: it holds
/// secrets as plain text until they are parsed into `Secret`s.
pub(super) struct Layers {
    values: BTreeMap<&'static str, (String, Source)>,
}

impl Layers {
    pub(super) fn defaults() -> Layers {
        let values = KEYS
            .iter()
            .filter_map(|k| {
                k.default
                    .map(|d| (k.name, (d.to_string(), Source::Default)))
            })
            .collect();
        Layers { values }
    }

    pub(super) fn set(&mut self, name: &'static str, value: String, source: Source) {
        self.values.insert(name, (value, source));
    }

    pub(super) fn apply_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let file_err = |reason: String| ConfigError::File {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| file_err(e.to_string()))?;
        self.apply_text(path, &text)
    }

    /// Applies a configuration file's text, read from `path`.
    pub(super) fn apply_text(&mut self, path: &Path, text: &str) -> Result<(), ConfigError> {
        let file_err = |reason: String| ConfigError::File {
            path: path.to_path_buf(),
            reason,
        };
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

    pub(super) fn apply_env(
        &mut self,
        env: &BTreeMap<String, String>,
        warnings: &mut Vec<ConfigWarning>,
    ) -> Result<(), ConfigError> {
        for (var, value) in env.range("CAIRN_".to_string()..) {
            if !var.starts_with("CAIRN_") {
                break;
            }
            let direct = KEYS.iter().find(|k| k.env == var);
            let as_file = KEYS
                .iter()
                .find(|k| k.env_file().is_some_and(|f| f == *var));
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

    /// Where the value of `name` came from.
    pub(super) fn source_of(&self, name: &str) -> Source {
        self.values
            .get(name)
            .map(|(_, s)| s.clone())
            .unwrap_or(Source::Default)
    }

    /// Parses the value of a key that always has one (it has a default).
    pub(super) fn required<T>(
        &self,
        name: &'static str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        self.optional(name, parse)?
            .ok_or_else(|| ConfigError::Invalid {
                key: name,
                from: Source::Default,
                value: None,
                reason: "missing".into(),
            })
    }

    /// Parses the value of `name`, if it has one, naming the key and its
    /// source on error (and the value, unless it is a secret).
    pub(super) fn optional<T>(
        &self,
        name: &'static str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        let Some((value, source)) = self.values.get(name) else {
            return Ok(None);
        };
        parse(value.trim())
            .map(Some)
            .map_err(|reason| ConfigError::Invalid {
                key: name,
                from: source.clone(),
                value: (!is_secret(name)).then(|| value.clone()),
                reason,
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
