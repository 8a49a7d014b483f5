//! `GET /jobs/{id}/log?format=txt|ndjson`: a job's whole log as a download
//! (the page shows only its tail).

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use cairn_server::jobs::LogFormat;
use cairn_store::JobId;
use serde::Deserialize;

use crate::Web;
use crate::reply::error_page;
use crate::session::SignedIn;

#[derive(Debug, Deserialize)]
pub(crate) struct LogQuery {
    #[serde(default = "text")]
    format: String,
}

fn text() -> String {
    "txt".into()
}

pub(crate) async fn download(
    State(web): State<Web>,
    SignedIn(p): SignedIn,
    Path(id): Path<i64>,
    Query(q): Query<LogQuery>,
) -> Response {
    let format = match q.format.parse::<LogFormat>() {
        Ok(format) => format,
        Err(reason) => return (StatusCode::BAD_REQUEST, format!("{reason}\n")).into_response(),
    };
    match web.api.jobs.log_export(&p, JobId(id), format).await {
        Ok(body) => (
            [
                (header::CONTENT_TYPE, format.content_type().to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!(
                        "attachment; filename=\"cairn-job-{id}.{}\"",
                        format.extension()
                    ),
                ),
            ],
            body,
        )
            .into_response(),
        Err(err) => error_page(err),
    }
}
