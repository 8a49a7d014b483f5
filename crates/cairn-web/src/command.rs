//! The `cairn ctl` command a form stands for, so what was done in the
//! browser can be scripted. Values are shell-quoted. A secret never appears:
//! ctl reads those from a file or standard input, and the command says so.

/// A `cairn ctl` command line being put together.
pub(crate) struct CtlCommand(Vec<String>);

impl CtlCommand {
    /// `cairn ctl` and the subcommand's words (`repos create`).
    pub(crate) fn new(words: &[&str]) -> CtlCommand {
        let mut all = vec!["cairn".to_string(), "ctl".to_string()];
        all.extend(words.iter().map(|w| w.to_string()));
        CtlCommand(all)
    }

    /// A positional argument (an id).
    pub(crate) fn arg(mut self, value: impl std::fmt::Display) -> CtlCommand {
        self.0.push(shell_word(&value.to_string()));
        self
    }

    /// `--flag value`; `placeholder` stands in for an empty value, written
    /// as is (so `NAME` reads as something to fill in).
    pub(crate) fn flag(mut self, flag: &str, value: &str, placeholder: &str) -> CtlCommand {
        self.0.push(format!("--{flag}"));
        self.0.push(if value.trim().is_empty() {
            placeholder.to_string()
        } else {
            shell_word(value)
        });
        self
    }

    /// `--flag value` when there is a value, nothing otherwise.
    pub(crate) fn flag_if(self, flag: &str, value: &str) -> CtlCommand {
        if value.trim().is_empty() {
            self
        } else {
            self.flag(flag, value, "")
        }
    }

    /// `--flag value` once per value.
    pub(crate) fn flag_each(self, flag: &str, values: &[String]) -> CtlCommand {
        values
            .iter()
            .fold(self, |command, value| command.flag_if(flag, value))
    }

    /// `--flag` alone, when `on`.
    pub(crate) fn switch(mut self, flag: &str, on: bool) -> CtlCommand {
        if on {
            self.0.push(format!("--{flag}"));
        }
        self
    }

    /// `--flag FILE` for a value ctl reads from a file (never the value).
    pub(crate) fn file(mut self, flag: &str, file: &str) -> CtlCommand {
        self.0.push(format!("--{flag}"));
        self.0.push(file.to_string());
        self
    }
}

impl std::fmt::Display for CtlCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

/// One shell word: as is when plain, else in single quotes (a quote inside
/// written `'\''`), so pasting it runs what the page says.
pub(crate) fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@=,+%".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_only_when_the_shell_would_read_them_otherwise() {
        assert_eq!(shell_word("offsite"), "offsite");
        assert_eq!(shell_word("rest:https://h:8000/r"), "rest:https://h:8000/r");
        assert_eq!(shell_word("30 2 * * *"), "'30 2 * * *'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word("$(rm -rf /)"), "'$(rm -rf /)'");
        assert_eq!(shell_word(""), "''");
    }

    #[test]
    fn a_command_fills_placeholders_and_skips_what_is_empty() {
        let command = CtlCommand::new(&["schedules", "create"])
            .flag("name", "", "NAME")
            .flag("cron", "0 2 * * *", "CRON")
            .flag_each("path", &["/srv".into(), "/my docs".into()])
            .flag_if("limit-upload-kib", "")
            .switch("disabled", true)
            .file("password-file", "-");
        assert_eq!(
            command.to_string(),
            "cairn ctl schedules create --name NAME --cron '0 2 * * *' --path /srv \
             --path '/my docs' --disabled --password-file -"
        );
    }
}
