//! The backend environment a repository may set. A repository's variables
//! come from the server, so each name is one restic (or the SDK under it)
//! reads as a credential or a region, never one that makes a client read a
//! file of the host, run a program or talk to a process: a compromised server
//! could otherwise point `AWS_SHARED_CREDENTIALS_FILE` at another secret,
//! `AWS_CREDENTIAL_PROCESS`-style settings at a command, or `RCLONE_*` and
//! `SSH_*` at rclone's and ssh's own configuration.
//!
//! The rule is an allowlist of exact names; the denylist in front of it only
//! gives a refused name a precise reason.

use crate::arg::ArgError;

/// Names a repository may set, by backend. Taken from what restic 0.14 to
/// 0.18 and its SDKs read for credentials and regions.
const ALLOWED: &[&str] = &[
    // S3 (restic, minio-go's environment provider).
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_ACCESS_KEY",
    "AWS_SECRET_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    // B2.
    "B2_ACCOUNT_ID",
    "B2_ACCOUNT_KEY",
    // Azure (account key or SAS; a service principal by secret).
    "AZURE_ACCOUNT_NAME",
    "AZURE_ACCOUNT_KEY",
    "AZURE_ACCOUNT_SAS",
    "AZURE_ENDPOINT_SUFFIX",
    "AZURE_CLIENT_ID",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_SECRET",
    // Google Cloud Storage (a token, not a credentials file).
    "GOOGLE_PROJECT_ID",
    "GOOGLE_ACCESS_TOKEN",
    // OpenStack Swift, as restic's swift backend reads them.
    "OS_AUTH_URL",
    "OS_REGION_NAME",
    "OS_USERNAME",
    "OS_USER_ID",
    "OS_PASSWORD",
    "OS_TENANT_ID",
    "OS_TENANT_NAME",
    "OS_USER_DOMAIN_NAME",
    "OS_USER_DOMAIN_ID",
    "OS_PROJECT_NAME",
    "OS_PROJECT_DOMAIN_NAME",
    "OS_PROJECT_DOMAIN_ID",
    "OS_TRUST_ID",
    "OS_APPLICATION_CREDENTIAL_ID",
    "OS_APPLICATION_CREDENTIAL_NAME",
    "OS_APPLICATION_CREDENTIAL_SECRET",
    "OS_STORAGE_URL",
    "OS_AUTH_TOKEN",
    "ST_AUTH",
    "ST_USER",
    "ST_KEY",
    "SWIFT_DEFAULT_CONTAINER_POLICY",
    // The REST server's credentials (restic 0.17+), and repository tuning.
    "RESTIC_REST_USERNAME",
    "RESTIC_REST_PASSWORD",
    "RESTIC_COMPRESSION",
    "RESTIC_PACK_SIZE",
];

const READS_A_FILE: &str = "it makes a client read a file on the host";
const RUNS_A_PROGRAM: &str = "it makes a client run a program or fetch credentials elsewhere";
const CONFIGURES_A_TOOL: &str =
    "it configures rclone or ssh, which the repository cannot do (set it in the host's own config)";
const NOT_A_BACKEND: &str = "only backend credentials and regions are allowed (AWS_ACCESS_KEY_ID, B2_ACCOUNT_KEY, AZURE_ACCOUNT_KEY, GOOGLE_ACCESS_TOKEN, OS_PASSWORD, RESTIC_REST_PASSWORD, …)";

/// Why a name is refused, for the names that are refused for a reason more
/// precise than "not on the list".
fn refusal(name: &str) -> Option<&'static str> {
    const FILE_WORDS: &[&str] = &["FILE", "CONFIG", "PATH", "CERT", "BUNDLE", "DIR", "PROFILE"];
    const PROGRAM_WORDS: &[&str] = &["PROCESS", "COMMAND", "_CLI_", "URI", "EXEC", "PROGRAM"];
    if name.starts_with("RCLONE_") || name.starts_with("SSH_") || name.starts_with("SFTP_") {
        return Some(CONFIGURES_A_TOOL);
    }
    if name == "GOOGLE_APPLICATION_CREDENTIALS" || FILE_WORDS.iter().any(|w| name.contains(w)) {
        return Some(READS_A_FILE);
    }
    if PROGRAM_WORDS.iter().any(|w| name.contains(w)) {
        return Some(RUNS_A_PROGRAM);
    }
    None
}

/// Checks a backend variable's name and value.
pub fn check_env(name: &str, value: &str) -> Result<(), ArgError> {
    let forbidden = |reason| ArgError::ForbiddenEnv {
        name: name.chars().take(64).collect(),
        reason,
    };
    if let Some(reason) = refusal(name) {
        return Err(forbidden(reason));
    }
    if !ALLOWED.contains(&name) {
        return Err(forbidden(NOT_A_BACKEND));
    }
    if value.contains(['\n', '\r', '\0']) {
        return Err(ArgError::ControlCharacter {
            field: "environment value",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(name: &str) -> &'static str {
        match check_env(name, "x") {
            Err(ArgError::ForbiddenEnv { reason, .. }) => reason,
            other => panic!("{name} must be refused, got {other:?}"),
        }
    }

    #[test]
    fn what_real_repositories_need_is_allowed() {
        for name in ALLOWED {
            assert_eq!(check_env(name, "value"), Ok(()), "{name}");
            assert_eq!(refusal(name), None, "{name} is both allowed and refused");
        }
    }

    #[test]
    fn names_that_read_files_are_refused() {
        for name in [
            "AWS_SHARED_CREDENTIALS_FILE",
            "AWS_CONFIG_FILE",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_CA_BUNDLE",
            "AWS_PROFILE",
            "GOOGLE_APPLICATION_CREDENTIALS",
            "AZURE_CLIENT_CERTIFICATE_PATH",
            "AZURE_FEDERATED_TOKEN_FILE",
            "OS_CACERT",
            "RESTIC_PASSWORD_FILE",
            "RESTIC_REPOSITORY_FILE",
            "RESTIC_CACHE_DIR",
            "B2_ACCOUNT_KEY_FILE",
        ] {
            assert_eq!(reason(name), READS_A_FILE, "{name}");
        }
    }

    #[test]
    fn names_that_run_programs_or_configure_tools_are_refused() {
        for name in [
            "AWS_CREDENTIAL_PROCESS",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "AZURE_FORCE_CLI_CREDENTIAL",
            "RESTIC_PASSWORD_COMMAND",
        ] {
            assert_eq!(reason(name), RUNS_A_PROGRAM, "{name}");
        }
        for name in ["RCLONE_LOG_FILE", "RCLONE_CONFIG_PASS", "SSH_AUTH_SOCK"] {
            assert_eq!(reason(name), CONFIGURES_A_TOOL, "{name}");
        }
        for name in [
            "LD_PRELOAD",
            "HOME",
            "HTTPS_PROXY",
            "aws_access_key_id",
            "RESTIC_PASSWORD",
        ] {
            assert_eq!(reason(name), NOT_A_BACKEND, "{name}");
        }
    }

    #[test]
    fn the_error_names_the_variable_and_why() {
        let err = check_env("AWS_CONFIG_FILE", "/root/.aws/config").expect_err("refused");
        let text = err.to_string();
        assert!(
            text.contains("AWS_CONFIG_FILE") && text.contains("read a file"),
            "{text}"
        );
        assert!(!text.contains("/root"), "the value is not echoed: {text}");
        assert!(check_env("AWS_ACCESS_KEY_ID", "a\nb").is_err());
    }
}
