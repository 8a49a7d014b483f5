//! Values that go on restic's command line: paths, excludes, tags, hostnames.
//!
//! A value that begins with `-` could be read as a flag (`--password-command=…`,
//! `-o sftp.command=…`), and one with a newline or NUL could split a line in a
//! file restic reads; both are refused outright rather than escaped.

use std::fmt;

/// Why a value cannot be passed to restic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgError {
    /// The value is empty.
    #[error("{field} is empty")]
    Empty { field: &'static str },
    /// The value begins with `-` and could be taken for a flag.
    #[error("{field} {value:?} begins with '-': values that could be read as flags are refused")]
    LeadingDash { field: &'static str, value: String },
    /// The value holds a newline, carriage return or NUL.
    #[error("{field} holds a line break or NUL character, which is refused")]
    ControlCharacter { field: &'static str },
    /// The value does not have the required form.
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    /// An environment variable a repository may not set.
    #[error("environment variable {name} is not allowed for a repository: {reason}")]
    ForbiddenEnv { name: String, reason: &'static str },
    /// A repository URL with a part that could reach a program as an option,
    /// or that Cairn does not know. The URL itself is never quoted: it can
    /// carry credentials.
    #[error("repository URL ({backend}): the {part} {problem}")]
    BadUrl {
        backend: &'static str,
        part: &'static str,
        problem: &'static str,
    },
    /// The value is longer than any path restic would accept.
    #[error("{field} is longer than {max} bytes")]
    TooLong { field: &'static str, max: usize },
}

/// A value checked to be safe on restic's command line.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SafeArg(String);

impl fmt::Debug for SafeArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for SafeArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl SafeArg {
    /// The longest value accepted (Linux's PATH_MAX).
    pub const MAX_LEN: usize = 4096;

    /// Checks `value`, naming `field` in the error (e.g. `"path"`, `"tag"`).
    pub fn new(field: &'static str, value: &str) -> Result<SafeArg, ArgError> {
        if value.is_empty() {
            return Err(ArgError::Empty { field });
        }
        if value.starts_with('-') {
            return Err(ArgError::LeadingDash {
                field,
                value: value.chars().take(64).collect(),
            });
        }
        if value.contains(['\n', '\r', '\0']) {
            return Err(ArgError::ControlCharacter { field });
        }
        if value.len() > Self::MAX_LEN {
            return Err(ArgError::TooLong {
                field,
                max: Self::MAX_LEN,
            });
        }
        Ok(SafeArg(value.to_string()))
    }

    /// The value.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_values_pass() {
        for ok in [
            "/srv/data",
            "relative/dir",
            "*.tmp",
            "tag:nightly",
            "a-b",
            "/with space",
        ] {
            assert_eq!(
                SafeArg::new("path", ok).map(|a| a.as_str().to_string()),
                Ok(ok.to_string())
            );
        }
    }

    #[test]
    fn flag_injection_is_refused() {
        for bad in [
            "--password-command=sh -c id",
            "-o",
            "-osftp.command=x",
            "--repo=/tmp/x",
            "--insecure-tls",
        ] {
            assert!(
                matches!(SafeArg::new("path", bad), Err(ArgError::LeadingDash { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn line_breaks_and_nul_are_refused() {
        for bad in ["/a\n--password-command=x", "/a\r", "/a\0b"] {
            assert_eq!(
                SafeArg::new("exclude", bad),
                Err(ArgError::ControlCharacter { field: "exclude" })
            );
        }
        assert_eq!(
            SafeArg::new("tag", ""),
            Err(ArgError::Empty { field: "tag" })
        );
        assert!(matches!(
            SafeArg::new("path", &"a".repeat(5000)),
            Err(ArgError::TooLong { .. })
        ));
    }

    #[test]
    fn errors_say_which_field() {
        let err = SafeArg::new("exclude", "-x").expect_err("refused");
        assert!(err.to_string().starts_with("exclude "), "{err}");
    }
}
