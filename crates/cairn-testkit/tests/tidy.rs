//! Rules about the source tree itself, checked as ordinary tests (in the
//! manner of rust-analyzer's `tidy.rs`), so `cargo test` keeps them.

use std::path::{Path, PathBuf};

/// A source file outside tests may be at most this long.
const MAX_LINES: usize = 600;

/// Files over the limit that are being split in #9 (workspace-relative).
const TOO_LONG_FOR_NOW: &[&str] = &[
    "crates/cairn-server/src/config.rs",
    "crates/cairn-server/src/fleet/session.rs",
];

/// What the web UI may not depend on: it calls the service layer in process
/// and never speaks the wire protocol.
const NOT_FOR_THE_WEB_UI: &[&str] = &["tonic", "prost", "prost-types", "cairn-proto"];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root")
}

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Tests are exempt: anything under a `tests` directory, `tests.rs` and
/// `*_tests.rs`.
fn is_test(relative: &Path) -> bool {
    let name = relative
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    name == "tests.rs"
        || name.ends_with("_tests.rs")
        || relative.components().any(|c| c.as_os_str() == "tests")
}

/// The workspace's source files outside tests, workspace-relative with `/`.
fn sources(root: &Path) -> Vec<(String, PathBuf)> {
    let mut dirs = vec![root.join("src")];
    for krate in std::fs::read_dir(root.join("crates")).expect("crates/") {
        dirs.push(krate.expect("a crate").path().join("src"));
    }
    let mut files = Vec::new();
    for dir in dirs {
        rust_files(&dir, &mut files);
    }
    let mut sources: Vec<(String, PathBuf)> = files
        .into_iter()
        .filter_map(|path| {
            let relative = path.strip_prefix(root).ok()?.to_path_buf();
            let name = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            (!is_test(&relative)).then_some((name, path))
        })
        .collect();
    sources.sort();
    sources
}

#[test]
fn no_source_file_outside_tests_passes_600_lines() {
    let root = workspace();
    let sources = sources(&root);
    assert!(
        sources
            .iter()
            .any(|(name, _)| name == "crates/cairn-testkit/src/lib.rs"),
        "the walk found the workspace's sources"
    );
    let too_long: Vec<String> = sources
        .iter()
        .filter(|(name, _)| !TOO_LONG_FOR_NOW.contains(&name.as_str()))
        .filter_map(|(name, path)| {
            let text = std::fs::read_to_string(path).expect("a readable source file");
            let lines = text.lines().count();
            (lines > MAX_LINES).then(|| format!("{name}: {lines} lines"))
        })
        .collect();
    assert!(
        too_long.is_empty(),
        "source files over {MAX_LINES} lines (split them along their seams):\n{}",
        too_long.join("\n")
    );
}

#[test]
fn the_exempt_files_are_only_tests() {
    for test in [
        "crates/cairn/tests/it/backups.rs",
        "crates/cairn-agent/src/runner/tests.rs",
        "crates/cairn-restic/src/url_tests.rs",
    ] {
        assert!(is_test(Path::new(test)), "{test}");
    }
    for source in [
        "crates/cairn/src/ctl/jobs.rs",
        "src/lib.rs",
        "crates/x/src/contests.rs",
    ] {
        assert!(!is_test(Path::new(source)), "{source}");
    }
}

/// The names of every dependency a manifest declares, in any table
/// (normal, dev, build, and per target), renames resolved to the package.
fn dependencies(manifest: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(manifest).expect("the manifest");
    let doc: toml::Table = text.parse().expect("a valid manifest");
    let mut owners: Vec<&toml::Table> = vec![&doc];
    if let Some(targets) = doc.get("target").and_then(toml::Value::as_table) {
        owners.extend(targets.values().filter_map(toml::Value::as_table));
    }
    let tables = owners.into_iter().flat_map(|owner| {
        ["dependencies", "dev-dependencies", "build-dependencies"]
            .into_iter()
            .filter_map(|kind| owner.get(kind).and_then(toml::Value::as_table))
    });
    tables
        .into_iter()
        .flat_map(|deps| {
            deps.iter().map(|(name, spec)| {
                spec.get("package")
                    .and_then(toml::Value::as_str)
                    .unwrap_or(name)
                    .to_string()
            })
        })
        .collect()
}

#[test]
fn the_web_ui_does_not_depend_on_the_wire_protocol() {
    let manifest = workspace().join("crates/cairn-web/Cargo.toml");
    let deps = dependencies(&manifest);
    assert!(
        deps.iter().any(|d| d == "cairn-server"),
        "the manifest was read: {deps:?}"
    );
    let wire: Vec<&String> = deps
        .iter()
        .filter(|d| NOT_FOR_THE_WEB_UI.contains(&d.as_str()))
        .collect();
    assert!(
        wire.is_empty(),
        "crates/cairn-web/Cargo.toml depends on {wire:?}"
    );
}
