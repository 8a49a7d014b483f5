//! restic's version, read from `restic version`, which prints e.g.
//! `restic 0.14.0 compiled with go1.19.8 on linux/amd64`, or from what an
//! agent reports of it (`0.14.0`).

use std::fmt;

use cairn_domain::RestoreOverwrite;

/// The oldest restic Cairn drives (Debian 12's).
pub const MIN_SUPPORTED: ResticVersion = ResticVersion {
    major: 0,
    minor: 14,
    patch: 0,
};

/// The first restic whose `restore` takes `--overwrite`.
pub const RESTORE_OVERWRITE_SINCE: ResticVersion = ResticVersion {
    major: 0,
    minor: 17,
    patch: 0,
};

/// A restore asks for an overwrite mode this restic does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "restic {have} cannot restore with --overwrite {mode}: that needs restic {RESTORE_OVERWRITE_SINCE} or later (older restic always writes over files of the same name); choose always, restore into an empty directory, or upgrade restic on the host"
)]
pub struct OverwriteUnsupported {
    pub have: ResticVersion,
    pub mode: RestoreOverwrite,
}

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
        let number = match output
            .split_whitespace()
            .skip_while(|word| *word != "restic")
            .nth(1)
        {
            Some(number) => number,
            // What an agent reports: the number alone, nothing else.
            None => match output.split_whitespace().collect::<Vec<_>>()[..] {
                [number] => number,
                _ => return Err(err()),
            },
        };
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

    /// Whether `restore` takes `--overwrite` (restic 0.17 and later).
    pub fn restore_has_overwrite(&self) -> bool {
        *self >= RESTORE_OVERWRITE_SINCE
    }

    /// Whether this restic can restore with `mode`: `Always` is what every
    /// restic does; the others need 0.17.
    pub fn check_overwrite(&self, mode: RestoreOverwrite) -> Result<(), OverwriteUnsupported> {
        if mode == RestoreOverwrite::Always || self.restore_has_overwrite() {
            Ok(())
        } else {
            Err(OverwriteUnsupported { have: *self, mode })
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
    fn reads_what_an_agent_reports_and_knows_which_restic_has_overwrite() {
        let reported = ResticVersion::parse("0.17.3").expect("reported");
        assert_eq!(reported.to_string(), "0.17.3");
        assert!(reported.restore_has_overwrite());
        assert_eq!(reported.check_overwrite(RestoreOverwrite::Never), Ok(()));
        let old = ResticVersion::parse("restic 0.14.0 compiled with go1.19.8 on linux/amd64")
            .expect("0.14");
        assert!(!old.restore_has_overwrite());
        assert_eq!(old.check_overwrite(RestoreOverwrite::Always), Ok(()));
        let err = old
            .check_overwrite(RestoreOverwrite::IfNewer)
            .expect_err("0.14 has no --overwrite");
        let text = err.to_string();
        assert!(
            text.contains("restic 0.14.0") && text.contains("if-newer") && text.contains("0.17.0"),
            "{text}"
        );
        assert!(
            ResticVersion::parse("0.16.5")
                .expect("0.16")
                .check_overwrite(RestoreOverwrite::Never)
                .is_err()
        );
        assert!(
            ResticVersion::parse("0.17")
                .expect("short")
                .restore_has_overwrite()
        );
        for garbage in [
            "restic",
            "0.17.3 extra",
            "seventeen",
            "0.17.x",
            "1.2.3.4",
            " \n",
        ] {
            assert!(ResticVersion::parse(garbage).is_err(), "{garbage:?}");
        }
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
