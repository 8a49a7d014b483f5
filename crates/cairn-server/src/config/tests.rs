//! The configuration's unit tests: layering, errors, secrets, and that the
//! key table, the example file, the flags and the book agree.
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn write(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    path
}

#[test]
fn defaults_serve_a_first_run() {
    let (config, warnings) = load(None, env(&[]), &[]).expect("defaults");
    assert_eq!(config.listen, "127.0.0.1:8080".parse().expect("addr"));
    assert_eq!(config.data_dir, PathBuf::from("./cairn-data"));
    assert_eq!(config.public_url, "https://127.0.0.1:8080");
    assert_eq!(config.tls, TlsMode::SelfSigned);
    assert_eq!(config.session_idle_timeout, Duration::from_secs(12 * 3600));
    assert!(config.serves_https());
    let (plain, _) = load(None, env(&[]), &[("plaintext", "true".into())]).expect("plaintext");
    assert_eq!(plain.tls, TlsMode::Plaintext);
    assert_eq!(plain.public_url, "http://127.0.0.1:8080");
    let half =
        load(None, env(&[]), &[("tls_cert", "/etc/cert.pem".into())]).expect_err("needs a key");
    assert!(half.to_string().contains("tls_key"), "{half}");
    assert!(warnings.is_empty());
}

#[test]
fn later_layers_win_defaults_file_env_flags() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(
        dir.path(),
        "cairn.toml",
        "listen = \"127.0.0.1:1000\"\nlogin_max_failures = 7\nlog_format = \"json\"\nlogin_window = \"1h\"\n",
        0o644,
    );
    let (config, _) = load(
        Some(&file),
        env(&[
            ("CAIRN_LISTEN", "127.0.0.1:2000"),
            ("CAIRN_LOGIN_MAX_FAILURES", "8"),
        ]),
        &[("listen", "127.0.0.1:3000".into())],
    )
    .expect("load");
    assert_eq!(config.listen.port(), 3000, "flag beats env and file");
    assert_eq!(config.login_max_failures, 8, "env beats file");
    assert_eq!(config.log_format, LogFormat::Json, "file beats default");
    assert_eq!(config.login_window, Duration::from_secs(3600));
}

#[test]
fn config_file_can_come_from_the_environment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "c.toml", "max_concurrent_streams = 9\n", 0o644);
    let (config, _) = load(
        None,
        env(&[("CAIRN_CONFIG", &file.display().to_string())]),
        &[],
    )
    .expect("load");
    assert_eq!(config.max_concurrent_streams, 9);
}

#[test]
fn unknown_environment_variables_warn_known_ones_from_other_commands_do_not() {
    let (_, warnings) = load(
        None,
        env(&[
            ("CAIRN_LISTN", "x"),
            ("CAIRN_TOKEN", "t"),
            ("HOME", "/root"),
        ]),
        &[],
    )
    .expect("load");
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].0.contains("CAIRN_LISTN"));
}

#[test]
fn errors_name_the_key_and_its_source() {
    let err = load(None, env(&[("CAIRN_SHUTDOWN_GRACE", "soon")]), &[]).expect_err("bad");
    let text = err.to_string();
    assert!(
        text.contains("`shutdown_grace`") && text.contains("CAIRN_SHUTDOWN_GRACE"),
        "{text}"
    );

    let err = load(None, env(&[]), &[("max_concurrent_streams", "0".into())]).expect_err("bad");
    assert!(
        err.to_string().contains("--max-concurrent-streams"),
        "{err}"
    );

    // Values that would silently turn a limit off are refused.
    for (key, value) in [
        ("job_timeout", "500ms"),
        ("pending_session_timeout", "0"),
        ("announce_window", "0s"),
    ] {
        let err = load(None, env(&[]), &[(key, value.into())]).expect_err(key);
        assert!(err.to_string().contains(&format!("`{key}`")), "{err}");
    }
    assert!(
        load(None, env(&[]), &[("job_timeout", "0".into())]).is_ok(),
        "0 is no limit"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "bad.toml", "public_url = \"ftp://x\"\n", 0o644);
    let err = load(Some(&file), env(&[]), &[]).expect_err("bad");
    assert!(
        err.to_string().contains("`public_url`") && err.to_string().contains("bad.toml"),
        "{err}"
    );

    let file = write(dir.path(), "broken.toml", "listen = \n", 0o644);
    assert!(matches!(
        load(Some(&file), env(&[]), &[]),
        Err(ConfigError::File { .. })
    ));
}

#[test]
fn secrets_come_from_files_readable_by_the_owner_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = write(dir.path(), "token", "a-long-enough-setup-token\n", 0o600);
    let (config, _) = load(
        None,
        env(&[("CAIRN_SETUP_TOKEN_FILE", &good.display().to_string())]),
        &[],
    )
    .expect("load");
    assert_eq!(
        config.setup_token.as_ref().map(Secret::expose),
        Some("a-long-enough-setup-token")
    );

    let open = write(dir.path(), "open", "a-long-enough-setup-token\n", 0o644);
    let err = load(
        None,
        env(&[("CAIRN_SETUP_TOKEN_FILE", &open.display().to_string())]),
        &[],
    )
    .expect_err("too open");
    assert!(err.to_string().contains("0644"), "{err}");

    let toml = write(
        dir.path(),
        "c.toml",
        &format!("setup_token_file = {:?}\n", good.display().to_string()),
        0o644,
    );
    let (config, _) = load(Some(&toml), env(&[]), &[]).expect("file form in toml");
    assert!(config.setup_token.is_some());

    let both = env(&[
        ("CAIRN_SETUP_TOKEN", "another-long-token-value"),
        ("CAIRN_SETUP_TOKEN_FILE", &good.display().to_string()),
    ]);
    assert!(matches!(
        load(None, both, &[]),
        Err(ConfigError::Ambiguous { .. })
    ));
}

#[test]
fn debug_redacts_secrets() {
    let (config, _) = load(
        None,
        env(&[("CAIRN_SETUP_TOKEN", "super-secret-setup-token")]),
        &[],
    )
    .expect("load");
    let shown = format!("{config:?}");
    assert!(!shown.contains("super-secret-setup-token"));
    assert!(shown.contains("<redacted>"));
}

#[test]
fn durations_parse_with_units() {
    assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
    assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
    assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
    assert!(parse_duration("1w").is_err());
    assert!(parse_duration("").is_err());
}

/// The example config, the flags and the key table must agree: every
/// non-secret key has a flag, and the example parses back to the defaults.
#[test]
fn example_config_and_flags_match_the_key_table() {
    let dir = tempfile::tempdir().expect("tempdir");
    let uncommented: String = example_toml()
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .filter(|l| {
            l.split_once(" = ").is_some_and(|(key, value)| {
                key.chars().all(|c| c.is_ascii_lowercase() || c == '_') && value != "\"\""
            })
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let file = write(dir.path(), "example.toml", &uncommented, 0o644);
    let (from_example, _) = load(Some(&file), env(&[]), &[]).expect("example parses");
    let (defaults, _) = load(None, env(&[]), &[]).expect("defaults");
    assert_eq!(format!("{from_example:?}"), format!("{defaults:?}"));

    // The binary makes one flag per key with a flag; its own tests check
    // `cairn server --help`. Here: exactly the secrets have none.
    for key in KEYS {
        assert_eq!(key.flag.is_none(), key.secret, "flag for {}", key.name);
    }
}

/// What each key is set to in the round trip: a valid value other than its
/// default, with any key it needs (a certificate needs its key).
fn sample(name: &'static str) -> Vec<(&'static str, &'static str)> {
    let value = match name {
        "listen" => "127.0.0.1:9000",
        "metrics_listen" => "127.0.0.1:9464",
        "metrics_trusted" => "10.0.0.0/8, fd00::/8",
        "data_dir" => "/srv/cairn",
        "tls_cert" | "tls_key" => {
            return vec![
                ("tls_cert", "/etc/cairn/c.pem"),
                ("tls_key", "/etc/cairn/k.pem"),
            ];
        }
        "plaintext" | "allow_private_notification_targets" => "true",
        "public_url" => "https://cairn.example.com",
        "log_format" => "json",
        "log_level" => "cairn_server=debug,info",
        "login_max_failures" | "login_max_failures_per_client" | "max_concurrent_streams" => "7",
        "max_log_lines_per_job" | "max_pending_hosts" | "max_announces_per_address" => "7",
        "max_message_size" => "65536",
        "job_timeout" => "0",
        "session_idle_timeout" | "session_max_age" | "login_window" | "shutdown_grace" => "3h",
        "http2_keepalive_interval" | "http2_keepalive_timeout" | "agent_heartbeat_interval" => "3h",
        "agent_offline_after" | "job_lease" | "schedule_grace" | "announce_window" => "3h",
        "pending_session_timeout" | "maintenance_tick" | "alert_evaluate_every" => "3h",
        "setup_token" => "a-long-enough-setup-token",
        "metrics_token" => "a-long-enough-metrics-token",
        other => panic!("add a sample value for the new key `{other}`"),
    };
    vec![(name, value)]
}

/// The secrets a config holds, shown, to compare them (Debug hides them).
fn exposed_secrets(config: &ServerConfig) -> Vec<Option<String>> {
    for key in KEYS.iter().filter(|k| k.secret) {
        assert!(
            ["setup_token", "metrics_token"].contains(&key.name),
            "expose the new secret `{}` here",
            key.name
        );
    }
    [&config.setup_token, &config.metrics_token]
        .iter()
        .map(|s| s.as_ref().map(|s| s.expose().to_string()))
        .collect()
}

/// Every key, set alone through the file, the environment and the flags,
/// builds the same configuration, and one that differs from the defaults.
#[test]
fn every_key_round_trips_through_file_env_and_flag() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (defaults, _) = load(None, env(&[]), &[]).expect("defaults");
    for key in KEYS {
        let pairs = sample(key.name);
        let toml: String = pairs
            .iter()
            .map(|(k, v)| format!("{k} = {v:?}\n"))
            .collect();
        let file = write(dir.path(), &format!("{}.toml", key.name), &toml, 0o644);
        let (from_file, _) = load(Some(&file), env(&[]), &[]).expect(key.name);
        let vars: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| {
                let spec = KEYS.iter().find(|s| s.name == *k).expect("key");
                (spec.env.to_string(), v.to_string())
            })
            .collect();
        let (from_env, _) = load(None, vars, &[]).expect(key.name);

        let shown = format!("{from_file:?}");
        assert_ne!(shown, format!("{defaults:?}"), "{} had no effect", key.name);
        assert_eq!(shown, format!("{from_env:?}"), "{}: file and env", key.name);
        assert_eq!(exposed_secrets(&from_file), exposed_secrets(&from_env));
        if key.secret {
            assert_ne!(exposed_secrets(&from_file), exposed_secrets(&defaults));
            continue;
        }
        let flags: Vec<(&'static str, String)> =
            pairs.iter().map(|(k, v)| (*k, v.to_string())).collect();
        let (from_flags, _) = load(None, env(&[]), &flags).expect(key.name);
        assert_eq!(
            shown,
            format!("{from_flags:?}"),
            "{}: file and flag",
            key.name
        );
    }
}

/// The names follow the key's own (`data_dir`, `CAIRN_DATA_DIR`,
/// `--data-dir`), are unique, and each key is in the example file.
#[test]
fn every_key_has_its_env_flag_help_and_example_line() {
    let example = example_toml();
    let mut names = std::collections::BTreeSet::new();
    for key in KEYS {
        assert!(names.insert(key.name), "`{}` declared twice", key.name);
        assert_eq!(key.env, format!("CAIRN_{}", key.name.to_ascii_uppercase()));
        assert!(
            !key.help.is_empty() && !key.help.starts_with(' '),
            "{}",
            key.name
        );
        assert!(
            example.contains(&format!("\n#{} = ", key.name)),
            "{}",
            key.name
        );
        assert!(
            example.contains(&format!("# env: {}", key.env)),
            "{}",
            key.name
        );
        assert!(
            example.contains(&format!("# {}\n", key.help)),
            "{}",
            key.name
        );
        match key.flag {
            Some(flag) => {
                assert_eq!(flag.long, key.name.replace('_', "-"));
                assert!(example.contains(&format!("flag: --{}\n", flag.long)));
            }
            None => {
                assert!(key.secret, "`{}` has no flag", key.name);
                assert!(example.contains(&format!("{}_FILE", key.env)));
            }
        }
    }
    // The binary's own flags must not be taken by a key.
    assert!(!names.contains("config") && !names.contains("print_example_config"));
}

/// The book's reference table has a row for every key, with its names and
/// default, so the docs cannot fall behind the table.
#[test]
fn the_configuration_chapter_lists_every_key() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/book/src/configuration.md");
    let book = std::fs::read_to_string(&path).expect("read the configuration chapter");
    for key in KEYS {
        let row_start = format!("| `{}` | `{}`", key.name, key.env);
        let row = book
            .lines()
            .find(|l| l.starts_with(&row_start))
            .unwrap_or_else(|| panic!("no row for `{}` in {}", key.name, path.display()));
        let flag = key
            .flag_text()
            .map_or("—".to_string(), |f| format!("`{f}`"));
        assert!(row.contains(&format!("| {flag} |")), "{row}");
        if let Some(default) = key.default {
            assert!(row.contains(&format!("| `{default}` |")), "{row}");
        }
    }
}

/// A secret never shows in `Debug`, however it was given, and cannot be given
/// as a flag (argv is visible to every user of the machine).
#[test]
fn a_secret_given_any_way_is_redacted_in_debug() {
    let dir = tempfile::tempdir().expect("tempdir");
    let value = "a-long-enough-setup-token";
    let secret_file = write(dir.path(), "token", value, 0o600);
    let secret_path = secret_file.display().to_string();
    let direct = write(
        dir.path(),
        "a.toml",
        &format!("setup_token = {value:?}\n"),
        0o644,
    );
    let as_file = write(
        dir.path(),
        "b.toml",
        &format!("setup_token_file = {secret_path:?}\n"),
        0o644,
    );
    let loads = [
        load(Some(&direct), env(&[]), &[]),
        load(Some(&as_file), env(&[]), &[]),
        load(None, env(&[("CAIRN_SETUP_TOKEN", value)]), &[]),
        load(None, env(&[("CAIRN_SETUP_TOKEN_FILE", &secret_path)]), &[]),
    ];
    for loaded in loads {
        let (config, _) = loaded.expect("load");
        assert_eq!(config.setup_token.as_ref().map(Secret::expose), Some(value));
        let shown = format!("{config:?}");
        assert!(!shown.contains(value), "{shown}");
        assert!(
            shown.contains("setup_token: Some(Secret(<redacted>))"),
            "{shown}"
        );
    }
    let err = load(None, env(&[]), &[("setup_token", value.into())]).expect_err("no flag");
    assert!(!err.to_string().contains(value), "{err}");
    assert!(err.to_string().contains("setup_token"), "{err}");
}
