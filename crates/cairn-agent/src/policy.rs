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
    /// Whether `rclone:` repositories may be used. rclone is a program with
    /// options of its own that a repository URL reaches, so it is off unless
    /// the host asks for it.
    pub allow_rclone: bool,
    /// The repositories this host may use, as URL prefixes (user info in the
    /// URL aside); empty means any URL that passes the checks.
    pub repositories: Vec<String>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            backup_roots: Vec::new(),
            restore_roots: Vec::new(),
            allow_destructive: true,
            hooks: BTreeMap::new(),
            allow_rclone: false,
            repositories: Vec::new(),
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
    /// The repository URL fails its backend's checks.
    #[error("{0}")]
    BadRepository(cairn_restic::ArgError),
    /// An `rclone:` repository on a host that does not allow rclone.
    #[error(
        "this host does not allow rclone: repositories (allow_rclone = false in its agent.toml)"
    )]
    RcloneNotAllowed,
    /// A repository outside the host's pins. The URL is not quoted: it can
    /// carry credentials.
    #[error("the repository is not one this host may use (repositories in its agent.toml: {pins})")]
    NotPinned { pins: String },
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

/// A `rest:` or `s3:` URL without the user info of its `http(s)://user:pw@`
/// part, so a pin need not carry the credential. (An `sftp:` user stays: it
/// chooses whose account on the server the host logs into.)
fn without_userinfo(url: &str) -> String {
    let start = match url.find("://") {
        Some(i) if url.starts_with("rest:") || url.starts_with("s3:") => i + 3,
        _ => return url.to_string(),
    };
    let end = url[start..].find('/').map_or(url.len(), |i| start + i);
    match url[start..end].rfind('@') {
        Some(at) => format!("{}{}", &url[..start], &url[start + at + 1..]),
        None => url.to_string(),
    }
}

/// Whether `url` lies under `pin`: equal, or `pin` followed by a `/` (or
/// `pin` itself ends in `/` or `:`), so `/srv/restic` never admits
/// `/srv/restic-evil`. A `..` segment could climb out of a pinned path, so a
/// URL holding one is never under any pin.
fn pinned(url: &str, pin: &str) -> bool {
    if pin.is_empty() || url.split('/').any(|segment| segment == "..") {
        return false;
    }
    match url.strip_prefix(pin) {
        Some("") => true,
        Some(rest) => pin.ends_with(['/', ':']) || rest.starts_with('/'),
        None => false,
    }
}

impl Policy {
    /// Checks a repository URL: its backend's rules, rclone, and the pins.
    pub fn check_repository(&self, url: &str) -> Result<(), PolicyError> {
        let backend =
            cairn_restic::check_repository_url(url).map_err(PolicyError::BadRepository)?;
        if backend == cairn_restic::Backend::Rclone && !self.allow_rclone {
            return Err(PolicyError::RcloneNotAllowed);
        }
        let bare = without_userinfo(url);
        if !self.repositories.is_empty() && !self.repositories.iter().any(|p| pinned(&bare, p)) {
            return Err(PolicyError::NotPinned {
                pins: self.repositories.join(", "),
            });
        }
        Ok(())
    }

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
    fn repository_pins_match_at_a_path_boundary_only() {
        let policy = Policy {
            repositories: vec![
                "/srv/restic".into(),
                "rest:https://backup.example/".into(),
                "sftp:backup@nas:/srv/".into(),
                "sftp://nas//srv/".into(),
            ],
            ..Policy::default()
        };
        for ok in [
            "/srv/restic",
            "/srv/restic/web1",
            "rest:https://backup.example/web1/",
            "rest:https://web1:s3cret@backup.example/web1/",
            "sftp:backup@nas:/srv/web1",
        ] {
            assert_eq!(policy.check_repository(ok), Ok(()), "{ok}");
        }
        for outside in [
            "/srv/restic-evil",
            "/srv/resticx/repo",
            "/srv/other",
            "rest:https://backup.example.evil.net/",
            "rest:https://backup.example:8443/",
            "sftp:root@nas:/srv/web1",
            "sftp://root@nas//srv/web1",
        ] {
            assert!(
                matches!(
                    policy.check_repository(outside),
                    Err(PolicyError::NotPinned { .. })
                ),
                "{outside}"
            );
        }
        // URLs that climb out of a pin, or that Go would read as another
        // host than the one a pin names, never pass (refused as URLs).
        for disguised in [
            "/srv/restic/../etc",
            "sftp:backup@nas:/srv/../root",
            "sftp://nas//srv/%2e%2e/etc",
            "rest:https://attacker.net?@backup.example/",
            "rest:https://attacker.net#@backup.example/",
        ] {
            assert!(policy.check_repository(disguised).is_err(), "{disguised}");
        }
        let err = policy
            .check_repository("rest:https://u:hunter2@elsewhere/")
            .expect_err("outside");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert_eq!(
            Policy::default().check_repository("/anywhere/at/all"),
            Ok(())
        );
    }

    #[test]
    fn rclone_needs_the_host_to_allow_it_and_hostile_urls_never_pass() {
        assert_eq!(
            Policy::default().check_repository("rclone:remote:path"),
            Err(PolicyError::RcloneNotAllowed)
        );
        let allowing = Policy {
            allow_rclone: true,
            ..Policy::default()
        };
        assert_eq!(allowing.check_repository("rclone:remote:path"), Ok(()));
        for hostile in ["rclone:--log-file=/tmp/x:foo", "sftp:-oProxyCommand=x:/p"] {
            assert!(
                matches!(
                    allowing.check_repository(hostile),
                    Err(PolicyError::BadRepository(_))
                ),
                "{hostile}"
            );
        }
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
