//! The flags of `cairn server`, made from the server's key table
//! ([`cairn_server::config::KEYS`]): one flag per key that has one (secrets
//! have none), with the key's help and default, so a new key gets its flag
//! and its `--help` line with nothing to write here.
//!
//! Values stay text: the config layer parses them, so an error reads the same
//! whichever layer the value came from.

use std::path::PathBuf;

use cairn_server::config::{FlagSpec, KEYS, KeySpec};
use clap::{Arg, ArgAction, ArgMatches, Args, Command, FromArgMatches};

/// Arg ids of the flags that are not configuration keys.
const CONFIG: &str = "config";
const PRINT_EXAMPLE: &str = "print_example_config";

/// `cairn server`'s command line.
#[derive(Debug, Clone, Default)]
pub(crate) struct ServerArgs {
    /// The configuration file (TOML); `CAIRN_CONFIG` otherwise.
    pub(crate) config: Option<PathBuf>,
    /// Print the example configuration file and exit.
    pub(crate) print_example_config: bool,
    /// The key flags given, by key name, as typed.
    pub(crate) given: Vec<(&'static str, String)>,
}

impl Args for ServerArgs {
    fn augment_args(cmd: Command) -> Command {
        let cmd = cmd.arg(
            Arg::new(CONFIG)
                .long("config")
                .value_name("FILE")
                .value_parser(clap::value_parser!(PathBuf))
                .help("Configuration file (TOML); also CAIRN_CONFIG"),
        );
        let cmd = KEYS.iter().fold(cmd, |cmd, key| match key.flag {
            Some(flag) => cmd.arg(key_arg(key, flag)),
            None => cmd,
        });
        cmd.arg(
            Arg::new(PRINT_EXAMPLE)
                .long("print-example-config")
                .action(ArgAction::SetTrue)
                .help("Print the example configuration file and exit"),
        )
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

/// The flag of one key: `--data-dir <DIR>  Directory for … [default: …]`.
fn key_arg(key: &'static KeySpec, flag: FlagSpec) -> Arg {
    // The default is only shown, never set here: an unset flag must leave the
    // file and the environment to decide.
    let help = match key.default {
        Some(default) => format!("{} [default: {default}]", key.help),
        None => key.help.to_string(),
    };
    let arg = Arg::new(key.name)
        .long(flag.long)
        .value_name(flag.value_name)
        .help(help);
    if flag.bare_means_true {
        arg.num_args(0..=1).default_missing_value("true")
    } else {
        arg
    }
}

impl FromArgMatches for ServerArgs {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        Self::from_arg_matches_mut(&mut matches.clone())
    }

    fn from_arg_matches_mut(matches: &mut ArgMatches) -> Result<Self, clap::Error> {
        let given = KEYS
            .iter()
            .filter(|key| key.flag.is_some())
            .filter_map(|key| {
                let value = matches.remove_one::<String>(key.name)?;
                Some((key.name, value))
            })
            .collect();
        Ok(ServerArgs {
            config: matches.remove_one::<PathBuf>(CONFIG),
            print_example_config: matches.get_flag(PRINT_EXAMPLE),
            given,
        })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command() -> Command {
        ServerArgs::augment_args(Command::new("server"))
    }

    fn parse(args: &[&str]) -> ServerArgs {
        let matches = command()
            .try_get_matches_from(std::iter::once("server").chain(args.iter().copied()))
            .expect("parses");
        ServerArgs::from_arg_matches(&matches).expect("args")
    }

    /// Every key but the secrets has a flag, listed in `--help` with its help
    /// text; secrets have none (argv is visible to every user).
    #[test]
    fn help_lists_a_flag_for_every_key_that_is_not_a_secret() {
        let help = command().render_long_help().to_string();
        for key in KEYS {
            let long = key.name.replace('_', "-");
            let listed = help.contains(&format!("--{long} "));
            assert_eq!(listed, !key.secret, "--{long} in:\n{help}");
            if !key.secret {
                assert!(help.contains(key.help), "help of {}:\n{help}", key.name);
            }
        }
        assert!(help.contains("--config <FILE>") && help.contains("--print-example-config"));
        assert!(help.contains("[default: 127.0.0.1:8080]"), "{help}");
    }

    /// Each flag hands its value, as typed, to the config layer under its key.
    #[test]
    fn every_flag_is_given_under_its_key() {
        for key in KEYS {
            let Some(flag) = key.flag else { continue };
            let args = parse(&[&format!("--{}", flag.long), "some value"]);
            assert_eq!(args.given, vec![(key.name, "some value".to_string())]);
        }
        assert!(parse(&[]).given.is_empty());
    }

    #[test]
    fn a_bare_switch_means_true_and_the_command_flags_are_read() {
        let args = parse(&[
            "--plaintext",
            "--config",
            "c.toml",
            "--print-example-config",
        ]);
        assert_eq!(args.given, vec![("plaintext", "true".to_string())]);
        assert_eq!(args.config, Some(PathBuf::from("c.toml")));
        assert!(args.print_example_config);
        let args = parse(&["--plaintext", "false"]);
        assert_eq!(args.given, vec![("plaintext", "false".to_string())]);
    }

    #[test]
    fn the_setup_token_has_no_flag() {
        let refused = command().try_get_matches_from(["server", "--setup-token", "x"]);
        assert!(refused.is_err());
    }
}
