//! restic's version, read from `restic version`, which prints e.g.
//! `restic 0.14.0 compiled with go1.19.8 on linux/amd64`.

use std::fmt;

/// The oldest restic Cairn drives (Debian 12's).
pub const MIN_SUPPORTED: ResticVersion = ResticVersion {
    major: 0,
    minor: 14,
    patch: 0,
};

/// A restic release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResticVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

/// `restic version` printed something else.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unrecognised `restic version` output: {0:?}")]
pub struct VersionError(pub String);

impl ResticVersion {
    /// Parses the first line of `restic version`.
    pub fn parse(output: &str) -> Result<ResticVersion, VersionError> {
        let err = || {
            VersionError(
                output
                    .lines()
                    .next()
                    .unwrap_or("")
                    .chars()
                    .take(120)
                    .collect(),
            )
        };
        let number = output
            .split_whitespace()
            .skip_while(|word| *word != "restic")
            .nth(1)
            .ok_or_else(err)?;
        // Development builds print e.g. `0.18.0-dev`.
        let number = number.split(['-', '+']).next().unwrap_or(number);
        let mut parts = number.split('.').map(str::parse::<u32>);
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(Ok(major)), Some(Ok(minor)), patch, None) => Ok(ResticVersion {
                major,
                minor,
                patch: match patch {
                    Some(Ok(p)) => p,
                    None => 0,
                    Some(Err(_)) => return Err(err()),
                },
            }),
            _ => Err(err()),
        }
    }

    /// Whether Cairn supports driving this version.
    pub fn is_supported(&self) -> bool {
        *self >= MIN_SUPPORTED
    }

    /// Whether `restore` reports JSON progress (restic 0.16 and later).
    pub fn restore_has_json_progress(&self) -> bool {
        *self
            >= ResticVersion {
                major: 0,
                minor: 16,
                patch: 0,
            }
    }
}

impl fmt::Display for ResticVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_release_and_dev_builds() {
        let v = ResticVersion::parse("restic 0.14.0 compiled with go1.19.8 on linux/amd64\n")
            .expect("0.14");
        assert_eq!(
            v,
            ResticVersion {
                major: 0,
                minor: 14,
                patch: 0
            }
        );
        assert!(v.is_supported() && !v.restore_has_json_progress());
        let dev = ResticVersion::parse(
            "restic 0.18.1-dev (compiled manually) compiled with go1.24.4 on linux/amd64",
        )
        .expect("dev");
        assert_eq!(dev.to_string(), "0.18.1");
        assert!(dev.restore_has_json_progress());
    }

    #[test]
    fn refuses_what_is_not_a_version() {
        assert!(ResticVersion::parse("").is_err());
        assert!(ResticVersion::parse("bash: restic: command not found").is_err());
        assert!(ResticVersion::parse("restic x.y.z").is_err());
        assert!(
            !ResticVersion::parse("restic 0.13.1 compiled")
                .expect("old")
                .is_supported()
        );
    }
}
