//! `cairn completions SHELL` and `cairn man DIR`: shell completions and man
//! pages made from the same command-line definitions the binary parses, so
//! neither can fall behind a flag. Packages install their output.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, CommandFactory};
use clap_complete::Shell;

#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell to print completions for.
    #[arg(value_enum)]
    shell: Shell,
}

#[derive(Debug, Args)]
pub(crate) struct ManArgs {
    /// Directory to write the pages into (made if missing): cairn.1,
    /// cairn-server.1, cairn-ctl-hosts-approve.1 and so on.
    #[arg(value_name = "DIR")]
    out_dir: PathBuf,
}

pub(crate) fn completions(args: CompletionsArgs) -> ExitCode {
    let mut command = crate::Cli::command();
    clap_complete::generate(args.shell, &mut command, "cairn", &mut std::io::stdout());
    ExitCode::SUCCESS
}

pub(crate) fn man(args: ManArgs) -> ExitCode {
    match write_pages(&args.out_dir) {
        Ok(count) => {
            println!("wrote {count} man pages to {}", args.out_dir.display());
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!(
                "error: cannot write man pages to {}: {err}",
                args.out_dir.display()
            );
            ExitCode::FAILURE
        }
    }
}

/// One page per command and subcommand, each named for its path.
fn write_pages(dir: &Path) -> std::io::Result<usize> {
    std::fs::create_dir_all(dir)?;
    let mut command = crate::Cli::command();
    // Subcommands learn their full names from the build.
    command.build();
    write_tree(dir, &command)
}

fn write_tree(dir: &Path, command: &clap::Command) -> std::io::Result<usize> {
    // After build(), a subcommand's display name is its path: "cairn-ctl-hosts".
    let name = command.get_display_name().unwrap_or(command.get_name());
    let mut rendered = Vec::new();
    clap_mangen::Man::new(command.clone()).render(&mut rendered)?;
    std::fs::write(dir.join(format!("{name}.1")), rendered)?;
    let mut count = 1;
    for sub in command
        .get_subcommands()
        .filter(|sub| sub.get_name() != "help")
    {
        count += write_tree(dir, sub)?;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every command and argument says what it is: the reference page, the
    /// man pages and `--help` would otherwise list it bare.
    #[test]
    fn every_command_and_argument_has_help() {
        let mut bare = Vec::new();
        walk(&crate::Cli::command(), "cairn", &mut bare);
        assert!(bare.is_empty(), "write a doc comment for each: {bare:#?}");
    }

    fn walk(command: &clap::Command, path: &str, bare: &mut Vec<String>) {
        if command.get_about().is_none() && command.get_long_about().is_none() {
            bare.push(path.to_string());
        }
        for arg in command.get_arguments() {
            let generated = matches!(arg.get_id().as_str(), "help" | "version");
            if !generated
                && !arg.is_hide_set()
                && arg.get_help().is_none()
                && arg.get_long_help().is_none()
            {
                bare.push(format!("{path} {}", arg.get_id()));
            }
        }
        for sub in command.get_subcommands() {
            walk(sub, &format!("{path} {}", sub.get_name()), bare);
        }
    }
}
