//! The UI's static files, embedded in the binary: no CDN, works offline.
//! HTMX is vendored from npm by `scripts/vendor-assets`; the test below
//! checks it against the digest that script recorded.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Name, content type, bytes.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../static/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../static/app.js"),
    ),
    // Linked from every page, so browsers do not ask for a /favicon.ico
    // that is not there (a failed request on every page); the dashboard's
    // shows the fleet's state.
    (
        "favicon.svg",
        "image/svg+xml",
        include_bytes!("../static/favicon.svg"),
    ),
    (
        "favicon-ok.svg",
        "image/svg+xml",
        include_bytes!("../static/favicon-ok.svg"),
    ),
    (
        "favicon-warn.svg",
        "image/svg+xml",
        include_bytes!("../static/favicon-warn.svg"),
    ),
    (
        "favicon-bad.svg",
        "image/svg+xml",
        include_bytes!("../static/favicon-bad.svg"),
    ),
    (
        "htmx.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../static/vendor/htmx.min.js"),
    ),
];

/// `GET /static/{name}`.
pub(crate) async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, kind, body)) => (
            [
                (header::CONTENT_TYPE, *kind),
                (header::CACHE_CONTROL, "public, max-age=3600"),
            ],
            *body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "not found\n").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    /// Every `/static/…` the page shell links is served: a missing one is a
    /// failed request on every page (the browser tests catch it too, later).
    #[test]
    fn every_static_file_the_page_shell_links_is_embedded() {
        let shell = include_str!("../../../templates/base.html");
        let linked: Vec<&str> = shell
            .split("\"/static/")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .collect();
        assert!(linked.contains(&"favicon.svg"), "{linked:?}");
        for name in linked {
            assert!(
                super::ASSETS.iter().any(|(n, _, _)| *n == name),
                "base.html links /static/{name}, which is not embedded"
            );
        }
    }

    #[test]
    fn vendored_files_are_what_the_vendor_script_recorded() {
        let manifest = include_str!("../static/vendor/VENDORED");
        let line = manifest
            .lines()
            .find(|l| l.starts_with("htmx.min.js "))
            .expect("htmx is recorded");
        let recorded = line.rsplit("sha256:").next().expect("a digest");
        let actual = hex::encode(Sha256::digest(include_bytes!(
            "../static/vendor/htmx.min.js"
        )));
        assert_eq!(
            actual, recorded,
            "run scripts/vendor-assets, do not edit by hand"
        );
    }
}
