//! Host-local policy, from the agent's own configuration: which paths may be
//! backed up, where restores may write, whether snapshots may be deleted, and
//! the named hooks a schedule may ask for. The server can only name a hook,
//! never send a command.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

/// What this host allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Backups may only read below these; empty means anywhere.
    pub backup_roots: Vec<PathBuf>,
    /// Restores may only write below these; empty means no restore at all.
    pub restore_roots: Vec<PathBuf>,
    /// Whether `forget` and `prune` may run (they delete snapshots and data).
    /// Turning it off keeps a compromised control plane from deleting this
    /// host's backups.
    pub allow_destructive: bool,
    /// Commands a backup may run before and after restic, by name.
    pub hooks: BTreeMap<String, Hook>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            backup_roots: Vec::new(),
            restore_roots: Vec::new(),
            allow_destructive: true,
            hooks: BTreeMap::new(),
        }
    }
}

/// What to do when a hook fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// The job fails (for a pre hook: restic does not run).
    #[default]
    Fail,
    /// Log it and go on.
    Continue,
    /// Run it once more; fail if it fails again.
    Retry,
}

/// A named pre/post hook: commands run directly (no shell), with a cleared
/// environment and no secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    /// Runs before restic (e.g. a database dump); argv, first element the program.
    pub pre: Vec<String>,
    /// Runs after restic, whatever its outcome.
    pub post: Vec<String>,
    pub on_error: OnError,
    pub timeout: Duration,
}

/// Why a path is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// Relative paths are ambiguous.
    #[error("{0} is not an absolute path")]
    NotAbsolute(String),
    /// `..` could climb out of a root.
    #[error("{0} contains '..'")]
    ParentComponent(String),
    /// Outside every allowed root (after resolving symlinks).
    #[error("{path} is outside the allowed {what} roots ({roots}) of this host's agent.toml")]
    OutsideRoots {
        path: String,
        what: &'static str,
        roots: String,
    },
    /// No restore root is configured.
    #[error("this host allows no restores: set restore_roots in its agent.toml")]
    NoRestoreRoots,
}

/// `path` with symlinks resolved as far as it exists, then the rest appended
/// (a restore target may not exist yet).
fn resolve(path: &Path) -> PathBuf {
    let mut existing = path.to_path_buf();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                existing = parent.to_path_buf();
            }
            _ => break,
        }
    }
    let mut resolved = existing.canonicalize().unwrap_or(existing);
    for name in rest.into_iter().rev() {
        resolved.push(name);
    }
    resolved
}

fn check(path: &str, roots: &[PathBuf], what: &'static str) -> Result<PathBuf, PolicyError> {
    let candidate = Path::new(path);
    if !candidate.is_absolute() {
        return Err(PolicyError::NotAbsolute(path.to_string()));
    }
    if candidate.components().any(|c| c == Component::ParentDir) {
        return Err(PolicyError::ParentComponent(path.to_string()));
    }
    let resolved = resolve(candidate);
    if roots.iter().any(|root| resolved.starts_with(resolve(root))) {
        Ok(resolved)
    } else {
        Err(PolicyError::OutsideRoots {
            path: path.to_string(),
            what,
            roots: roots
                .iter()
                .map(|r| r.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
    }
}

impl Policy {
    /// Checks a backup path.
    pub fn check_backup(&self, path: &str) -> Result<(), PolicyError> {
        if self.backup_roots.is_empty() {
            return Ok(());
        }
        check(path, &self.backup_roots, "backup").map(|_| ())
    }

    /// Checks a restore target and returns it with symlinks resolved (what
    /// restic is told to write to).
    pub fn check_restore(&self, target: &str) -> Result<PathBuf, PolicyError> {
        if self.restore_roots.is_empty() {
            return Err(PolicyError::NoRestoreRoots);
        }
        check(target, &self.restore_roots, "restore")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_targets_must_stay_under_a_root_even_through_symlinks() {
        let dir = tempfile::tempdir().expect("dir");
        let root = dir.path().join("restores");
        std::fs::create_dir(&root).expect("mkdir");
        let outside = dir.path().join("etc");
        std::fs::create_dir(&outside).expect("mkdir");
        std::os::unix::fs::symlink(&outside, root.join("escape")).expect("symlink");
        let policy = Policy {
            restore_roots: vec![root.clone()],
            ..Policy::default()
        };

        assert!(
            policy
                .check_restore(&root.join("new/dir").display().to_string())
                .is_ok()
        );
        assert!(matches!(
            policy.check_restore(&format!("{}/../etc", root.display())),
            Err(PolicyError::ParentComponent(_))
        ));
        assert!(matches!(
            policy.check_restore(&root.join("escape/x").display().to_string()),
            Err(PolicyError::OutsideRoots { .. })
        ));
        assert!(matches!(
            policy.check_restore("/etc"),
            Err(PolicyError::OutsideRoots { .. })
        ));
        assert!(matches!(
            policy.check_restore("relative"),
            Err(PolicyError::NotAbsolute(_))
        ));
        assert_eq!(
            Policy::default().check_restore("/tmp"),
            Err(PolicyError::NoRestoreRoots)
        );
    }

    #[test]
    fn backup_roots_limit_sources_when_set() {
        assert!(Policy::default().check_backup("/anything").is_ok());
        let policy = Policy {
            backup_roots: vec![PathBuf::from("/srv")],
            ..Policy::default()
        };
        assert!(policy.check_backup("/srv/data").is_ok());
        assert!(policy.check_backup("/etc/shadow").is_err());
    }
}
