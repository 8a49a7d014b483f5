//! What a cron means, as the schedule form is typed: its words and its next
//! firings in the schedule's zone, computed by the server (the same parser
//! the agents fire by) and swapped into the form by HTMX. A plain request
//! for the same URL gets the whole form, filled in as the query says.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use cairn_server::ServiceError;
use cairn_server::auth::Principal;

use crate::Web;
use crate::schedule_forms::{ScheduleForm, command_of, render_form};
use crate::session::SignedIn;

/// Firings shown ahead.
pub(crate) const AHEAD: usize = 5;

/// A cron read in a zone, or why it cannot be.
pub(crate) struct PreviewView {
    pub(crate) description: String,
    pub(crate) timezone: String,
    pub(crate) firings: Vec<String>,
    pub(crate) error: Option<String>,
    /// `cron` or `timezone` when that is what is wrong.
    pub(crate) field: &'static str,
}

impl PreviewView {
    fn refused(error: String, field: &'static str) -> PreviewView {
        PreviewView {
            description: String::new(),
            timezone: String::new(),
            firings: Vec::new(),
            error: Some(error),
            field,
        }
    }
}

/// What `cron` in `timezone` means, by the service's reading.
pub(crate) fn preview(web: &Web, p: &Principal, cron: &str, timezone: &str) -> PreviewView {
    if cron.trim().is_empty() {
        return PreviewView::refused(
            "Type a cron expression, such as 30 2 * * 1-5 (02:30, Monday to Friday).".into(),
            "cron",
        );
    }
    match web.api.schedules.preview(p, cron, timezone, AHEAD) {
        Ok(preview) => PreviewView {
            description: preview.description,
            timezone: preview.timezone,
            firings: preview
                .firings
                .into_iter()
                .map(|(_, local)| local)
                .collect(),
            error: None,
            field: "",
        },
        Err(ServiceError::InvalidArgument { field, reason }) => PreviewView::refused(reason, field),
        Err(err) => PreviewView::refused(err.to_string(), ""),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "schedule_preview.html")]
struct PreviewPart {
    preview: PreviewView,
    command: String,
    /// The command's element is swapped out of band, beside the preview.
    oob: bool,
}

/// `GET /schedules/preview?cron=…&timezone=…` (with the rest of the form).
pub(crate) async fn page(
    State(web): State<Web>,
    SignedIn(p): SignedIn,
    headers: HeaderMap,
    Query(form): Query<ScheduleForm>,
) -> Response {
    let vary = [(header::VARY, "HX-Request")];
    if headers.get("hx-request").is_none() {
        let editing = form.schedule_id.trim().parse::<i64>().ok();
        return (vary, render_form(&web, &p, editing, form, None).await).into_response();
    }
    let editing = form.schedule_id.trim().parse::<i64>().ok();
    let part = PreviewPart {
        preview: preview(&web, &p, &form.cron, &form.timezone),
        command: command_of(&form, editing),
        oob: true,
    };
    (vary, part).into_response()
}
