//! "Run now" on a host's page: a backup (paths, excludes, tags), an
//! integrity check, or initialising a repository, submitted through
//! `Jobs::submit` as the signed-in operator, then followed on the job's
//! page. The form shows the `cairn ctl` line that does the same.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use cairn_domain::{BackupSpec, CheckSpec, InitSpec, JobSpec, Trigger};
use cairn_server::ServiceError;
use cairn_server::jobs::JobRequest;
use cairn_store::{HostId, RepositoryId};
use serde::Deserialize;

use crate::Web;
use crate::command::CtlCommand;
use crate::csrf::token_matches;
use crate::host_page::{Feedback, render_host};
use crate::pages::csrf_refused;
use crate::reply::{error_page, status_of};
use crate::session::SignedIn;

/// What the operator typed into the run form; shown again as typed when it
/// is refused, so nothing is lost.
#[derive(Debug, Default, Clone, Deserialize)]
pub(crate) struct RunForm {
    #[serde(default)]
    pub(crate) _csrf: String,
    /// `backup`, `check` or `init`.
    #[serde(default)]
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) repository: String,
    /// One path per line.
    #[serde(default)]
    pub(crate) paths: String,
    /// One pattern per line.
    #[serde(default)]
    pub(crate) excludes: String,
    /// Separated by commas.
    #[serde(default)]
    pub(crate) tags: String,
    /// For a check: read every pack file back.
    #[serde(default)]
    pub(crate) read_all_data: String,
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

fn tags(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(String::from)
        .collect()
}

/// The job the form asks for; a missing or malformed field is an error that
/// names it.
fn request_of(host: HostId, form: &RunForm) -> Result<JobRequest, ServiceError> {
    let repository =
        form.repository.trim().parse::<i64>().map_err(|_| {
            ServiceError::invalid("repository", "choose the repository to run it on")
        })?;
    let spec = match form.kind.as_str() {
        "backup" => {
            let paths = lines(&form.paths);
            if paths.is_empty() {
                return Err(ServiceError::invalid(
                    "paths",
                    "give at least one path to back up, one per line",
                ));
            }
            JobSpec::Backup(BackupSpec {
                paths,
                excludes: lines(&form.excludes),
                tags: tags(&form.tags),
                ..Default::default()
            })
        }
        "check" => JobSpec::Check(CheckSpec {
            read_all_data: form.read_all_data == "yes",
            read_data_subset: None,
        }),
        "init" => JobSpec::Init(InitSpec::default()),
        other => {
            return Err(ServiceError::invalid(
                "kind",
                format!("a host can run a backup, a check or an init now, not {other:?}"),
            ));
        }
    };
    Ok(JobRequest {
        host,
        repository: RepositoryId(repository),
        spec,
        trigger: Trigger::Manual,
    })
}

/// The `cairn ctl` line that runs what the form asks (placeholders where it
/// is not filled in yet).
pub(crate) fn ctl_line(host: i64, form: &RunForm) -> String {
    let host = host.to_string();
    let target = |words: &[&str]| {
        CtlCommand::new(words).flag("host", &host, "").flag(
            "repo",
            &form.repository,
            "REPOSITORY_ID",
        )
    };
    let command = match form.kind.as_str() {
        "check" => target(&["check"]).switch("read-all-data", form.read_all_data == "yes"),
        "init" => target(&["init"]),
        _ => {
            let paths = lines(&form.paths);
            let command = if paths.is_empty() {
                target(&["backup"]).flag("path", "", "PATH")
            } else {
                target(&["backup"]).flag_each("path", &paths)
            };
            command
                .flag_each("exclude", &lines(&form.excludes))
                .flag_each("tag", &tags(&form.tags))
        }
    };
    command.switch("wait", true).to_string()
}

/// `POST /hosts/{id}/run`.
pub(crate) async fn run(
    State(web): State<Web>,
    SignedIn(p): SignedIn,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(form): Form<RunForm>,
) -> Response {
    if !token_matches(&p, &headers, Some(&form._csrf)) {
        return csrf_refused();
    }
    let host = HostId(id);
    let submitted = match request_of(host, &form) {
        Ok(request) => web.api.jobs.submit(&p, request).await,
        Err(err) => Err(err),
    };
    match submitted {
        Ok(job) => Redirect::to(&format!("/jobs/{}", job.id.0)).into_response(),
        // A refusal the operator can fix is shown on the form, as typed
        // (an unknown host shows its own error page from there).
        Err(err)
            if matches!(
                status_of(&err),
                StatusCode::BAD_REQUEST | StatusCode::CONFLICT | StatusCode::NOT_FOUND
            ) =>
        {
            let feedback = Feedback {
                error: Some((status_of(&err), err.to_string())),
                run: form,
            };
            render_host(&web, &p, host, feedback).await
        }
        Err(err) => error_page(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_quoted_for_a_shell() {
        let form = RunForm {
            kind: "backup".into(),
            repository: "4".into(),
            paths: "/etc\n\n /home/ann's files \n".into(),
            tags: "daily, web".into(),
            ..Default::default()
        };
        assert_eq!(
            ctl_line(3, &form),
            "cairn ctl backup --host 3 --repo 4 --path /etc --path '/home/ann'\\''s files' --tag daily --tag web --wait"
        );
        let empty = RunForm::default();
        assert_eq!(
            ctl_line(3, &empty),
            "cairn ctl backup --host 3 --repo REPOSITORY_ID --path PATH --wait"
        );
    }

    #[test]
    fn a_form_without_paths_or_repository_names_the_field() {
        let form = RunForm {
            kind: "backup".into(),
            repository: "4".into(),
            ..Default::default()
        };
        let err = request_of(HostId(1), &form).expect_err("no paths");
        assert!(err.to_string().contains("paths"), "{err}");
        let form = RunForm {
            kind: "backup".into(),
            paths: "/etc".into(),
            ..Default::default()
        };
        let err = request_of(HostId(1), &form).expect_err("no repository");
        assert!(err.to_string().contains("repository"), "{err}");
    }
}
