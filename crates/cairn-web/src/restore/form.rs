//! The restore form's text in and out: the posted fields (a repeated
//! `select`, so not axum's `Form`), the service's request they make (or the
//! input that is wrong), a refusal in the operator's words, and the
//! equivalent `cairn ctl restore` line.

use std::collections::BTreeSet;

use cairn_domain::RestoreOverwrite;
use cairn_server::ServiceError;
use cairn_server::jobs::RestoreRequest;
use cairn_store::{CachedSnapshot, HostId, Repository};

use super::RestoreFields;
use crate::browse::clean_path;
use crate::quote::shell_word;

/// A posted restore form.
pub(super) struct Posted {
    pub(super) csrf: String,
    pub(super) step: String,
    /// The directory the operator was looking at.
    pub(super) at: String,
    /// The hostname typed to confirm a restore in place.
    pub(super) confirm_host: String,
    pub(super) fields: RestoreFields,
}

pub(super) fn parse(body: &[u8]) -> Posted {
    let mut posted = Posted {
        csrf: String::new(),
        step: String::new(),
        at: "/".into(),
        confirm_host: String::new(),
        fields: RestoreFields::default(),
    };
    // A field repeated (the ticked paths) is why this is not `Form`.
    for (key, value) in form_urlencoded::parse(body) {
        let value = value.into_owned();
        match key.as_ref() {
            "_csrf" => posted.csrf = value,
            "step" => posted.step = value,
            "at" => posted.at = value,
            "confirm_host" => posted.confirm_host = value,
            "select" => {
                posted.fields.selected.insert(value);
            }
            "host" => posted.fields.host = value,
            "target" => posted.fields.target = value,
            "verify" => posted.fields.verify = value == "yes",
            "limit" => posted.fields.limit = value,
            "overwrite" => posted.fields.overwrite = value,
            _ => {}
        }
    }
    posted
}

/// restic's `--include` takes patterns; a name holding `*`, `?`, `[` or
/// `\` must match only itself.
fn include_pattern(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if matches!(c, '*' | '?' | '[' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The ticked paths without those inside another ticked folder.
fn outermost(selected: &BTreeSet<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for path in selected {
        let inside = out.iter().any(|o| {
            o == "/"
                || path
                    .strip_prefix(o.as_str())
                    .is_some_and(|r| r.starts_with('/'))
        });
        if !inside {
            out.push(path.clone());
        }
    }
    out
}

/// The request the form asks for, or which input is wrong and why.
pub(super) fn request(
    repo: &Repository,
    snap: &CachedSnapshot,
    f: &RestoreFields,
) -> Result<(RestoreRequest, Vec<String>), (&'static str, String)> {
    let mut paths = BTreeSet::new();
    for s in &f.selected {
        paths.insert(clean_path(s).map_err(|reason| ("select", reason))?);
    }
    if paths.is_empty() {
        return Err((
            "select",
            "tick at least one file or folder to restore (or everything in this snapshot)".into(),
        ));
    }
    let paths = outermost(&paths);
    let host = f
        .host
        .trim()
        .parse::<i64>()
        .map_err(|_| ("host", "pick the host that writes the files".to_string()))?;
    let target = f.target.trim();
    if target.is_empty() {
        return Err((
            "target",
            "say where to restore to: a directory on that host, under its agent's restore roots"
                .into(),
        ));
    }
    let limit = match f.limit.trim() {
        "" => 0,
        l => l.parse::<u32>().map_err(|_| {
            (
                "limit",
                format!("the download limit is a whole number of KiB/s, not {l:?}"),
            )
        })?,
    };
    let overwrite = match f.overwrite.as_str() {
        "" => RestoreOverwrite::Always,
        o => RestoreOverwrite::parse(o).ok_or_else(|| {
            (
                "overwrite",
                "pick what to do with files already there".to_string(),
            )
        })?,
    };
    let includes = if paths.iter().any(|p| p == "/") {
        Vec::new()
    } else {
        paths.iter().map(|p| include_pattern(p)).collect()
    };
    let request = RestoreRequest {
        repository: repo.id,
        snapshot_id: snap.snapshot_id.clone(),
        path: String::new(),
        includes,
        excludes: Vec::new(),
        target_host: HostId(host),
        target_path: target.to_string(),
        verify: f.verify,
        limit_download_kib: limit,
        overwrite,
    };
    Ok((request, paths))
}

/// Which input a refusal from the service is about, in the operator's words.
pub(super) fn refusal(err: &ServiceError, host: i64) -> (&'static str, String) {
    match err {
        ServiceError::InvalidArgument { field: "target_path", reason } => {
            ("target", format!("the target directory {reason}"))
        }
        ServiceError::InvalidArgument { field: "overwrite", reason } => {
            ("overwrite", reason.clone())
        }
        ServiceError::NotFound("host") => (
            "host",
            format!("there is no host {host}: pick one of the approved hosts listed"),
        ),
        // Viewers never get this far: this is a restore onto a host the
        // repository is not assigned to.
        ServiceError::PermissionDenied { .. } => (
            "host",
            "restoring onto a host the repository is not assigned to hands that host the repository's credentials: only an admin may; pick a host that uses the repository".into(),
        ),
        ServiceError::FailedPrecondition(text) => ("host", text.clone()),
        other => ("", other.to_string()),
    }
}

/// The equivalent command line.
pub(super) fn ctl_line(r: &RestoreRequest) -> String {
    let mut line = format!(
        "cairn ctl restore --repo {} --snapshot {} --host {} --target {}",
        r.repository.0,
        shell_word(&r.snapshot_id),
        r.target_host.0,
        shell_word(&r.target_path)
    );
    for include in &r.includes {
        line.push_str(&format!(" --include {}", shell_word(include)));
    }
    if r.verify {
        line.push_str(" --verify");
    }
    if r.limit_download_kib > 0 {
        line.push_str(&format!(" --limit-download {}", r.limit_download_kib));
    }
    if r.overwrite != RestoreOverwrite::Always {
        line.push_str(&format!(" --overwrite {}", r.overwrite));
    }
    line.push_str(" --wait");
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_pattern_characters_match_only_themselves() {
        assert_eq!(include_pattern("/srv/a.txt"), "/srv/a.txt");
        assert_eq!(include_pattern("/srv/star*"), r"/srv/star\*");
        assert_eq!(include_pattern(r"/x/[a]?\b"), r"/x/\[a]\?\\b");
    }

    #[test]
    fn a_folder_covers_what_is_inside_it() {
        let set: BTreeSet<String> = ["/srv", "/srv/a", "/srvx", "/etc/x"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(outermost(&set), vec!["/etc/x", "/srv", "/srvx"]);
        let all: BTreeSet<String> = ["/", "/srv"].iter().map(|s| s.to_string()).collect();
        assert_eq!(outermost(&all), vec!["/"]);
    }

    #[test]
    fn repeated_fields_are_all_kept() {
        let posted = parse(
            b"_csrf=t&select=%2Fa&select=%2Fb+c&host=3&target=%2Fr&verify=yes&overwrite=if-newer&step=review",
        );
        assert_eq!(posted.fields.selected.len(), 2);
        assert!(posted.fields.selected.contains("/b c"));
        assert!(posted.fields.verify);
        assert_eq!(posted.fields.overwrite, "if-newer");
        assert_eq!(posted.step, "review");
        let checked: Vec<&str> = posted
            .fields
            .overwrite_choices()
            .iter()
            .filter(|c| c.checked)
            .map(|c| c.value)
            .collect();
        assert_eq!(checked, ["if-newer"]);
        let none = RestoreFields::default();
        assert!(none.overwrite_choices()[0].checked, "always by default");
    }

    #[test]
    fn the_overwrite_mode_reaches_the_request_and_the_command_line() {
        let repo = Repository {
            id: cairn_store::RepositoryId(4),
            name: "r".into(),
            url_redacted: "/srv/r".into(),
            env_keys: vec![],
            host_ids: vec![],
            created_at: 0,
            updated_at: 0,
        };
        let snap = CachedSnapshot {
            repository_id: repo.id,
            snapshot_id: "ab".repeat(32),
            short_id: "abababab".into(),
            time: 0,
            hostname: "web".into(),
            host_id: None,
            paths: vec!["/srv".into()],
            tags: vec![],
            parent: None,
            tree: None,
            seen_at: 0,
            summary: None,
        };
        let fields = |overwrite: &str| RestoreFields {
            selected: ["/srv/a".to_string()].into(),
            host: "3".into(),
            target: "/r".into(),
            overwrite: overwrite.into(),
            ..Default::default()
        };
        let (always, _) = request(&repo, &snap, &fields("")).expect("the default");
        assert_eq!(always.overwrite, RestoreOverwrite::Always);
        assert!(
            !ctl_line(&always).contains("--overwrite"),
            "ctl's default is left out"
        );
        let (never, _) = request(&repo, &snap, &fields("never")).expect("never");
        assert_eq!(never.overwrite, RestoreOverwrite::Never);
        assert!(
            ctl_line(&never).ends_with(" --overwrite never --wait"),
            "{}",
            ctl_line(&never)
        );
        let Err((bad, text)) = request(&repo, &snap, &fields("<b>sometimes</b>")) else {
            panic!("an unknown mode is refused")
        };
        assert_eq!(bad, "overwrite");
        assert!(!text.contains("<b>"), "{text}");
    }
}
