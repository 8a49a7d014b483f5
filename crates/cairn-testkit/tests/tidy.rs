//! Rules about the source tree itself, checked as ordinary tests (in the
//! manner of rust-analyzer's `tidy.rs`), so `cargo test` keeps them.

use std::path::{Path, PathBuf};

/// A source file outside tests may be at most this long.
const MAX_LINES: usize = 600;

/// Where the wire protocol may be spoken inside cairn-server: the gRPC
/// edge, the composition root that wires it to a listener, and the fuzzers'
/// entry points, which feed the edge raw wire bytes. (`lib.rs` is core but
/// for its one `mod grpc;` line.)
const SERVER_EDGE: &[&str] = &[
    "crates/cairn-server/src/grpc/",
    "crates/cairn-server/src/fuzz.rs",
    "crates/cairn-server/src/serve.rs",
    "crates/cairn-server/src/startup.rs",
];

/// Crates that are core through and through: no file of theirs may name
/// the wire protocol.
const CORE_CRATES: &[&str] = &[
    "crates/cairn-domain/",
    "crates/cairn-store/",
    "crates/cairn-web/",
    "crates/cairn-clock/",
];

/// What names the wire layer in a core module: the gRPC module, the
/// generated types, the protobuf runtime, the gRPC runtime.
const WIRE: &[&str] = &[
    "grpc::",
    "cairn_proto",
    "prost",
    "prost_types",
    "tonic",
    "tonic_health",
    "tonic_reflection",
];

/// The wire crates, by package name, that core crates may not depend on.
const WIRE_PACKAGES: &[&str] = &[
    "tonic",
    "tonic-health",
    "tonic-reflection",
    "prost",
    "prost-types",
    "cairn-proto",
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
fn no_core_crate_depends_on_the_wire_protocol() {
    for krate in ["cairn-store", "cairn-domain", "cairn-clock"] {
        let deps = dependencies(&workspace().join("crates").join(krate).join("Cargo.toml"));
        let wire: Vec<&String> = deps
            .iter()
            .filter(|d| WIRE_PACKAGES.contains(&d.as_str()))
            .collect();
        assert!(
            wire.is_empty(),
            "crates/{krate}/Cargo.toml depends on {wire:?}"
        );
    }
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

/// Whether a workspace-relative source file is core: the store, the domain,
/// the web UI, and cairn-server outside its gRPC edge.
fn is_core(name: &str) -> bool {
    CORE_CRATES.iter().any(|c| name.starts_with(c))
        || (name.starts_with("crates/cairn-server/src/")
            && !SERVER_EDGE.iter().any(|edge| name.starts_with(edge)))
}

#[test]
fn no_core_module_names_the_grpc_module_or_a_wire_type() {
    let sources = sources(&workspace());
    let core: Vec<&(String, PathBuf)> = sources.iter().filter(|(n, _)| is_core(n)).collect();
    assert!(
        core.iter()
            .any(|(n, _)| n == "crates/cairn-server/src/fleet/session.rs"),
        "the agent session is core"
    );
    let mut offences = Vec::new();
    for (name, path) in core {
        let text = std::fs::read_to_string(path).expect("a readable source file");
        for (number, line) in text.lines().enumerate() {
            // Comments may name the edge they point to; code may not.
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            if name == "crates/cairn-server/src/lib.rs" && code == "mod grpc;" {
                continue;
            }
            if let Some(word) = WIRE.iter().find(|w| mentions(line, w)) {
                offences.push(format!(
                    "{name}:{}: names `{word}`: {}",
                    number + 1,
                    line.trim()
                ));
            }
        }
    }
    assert!(
        offences.is_empty(),
        "core modules speak the core's types; protobuf stops at the edge \
         (convert in cairn-proto::convert, decode and encode in grpc/):\n{}",
        offences.join("\n")
    );
}

/// Whether `line` names `word` as a path or crate (not inside another word,
/// e.g. `prost` in `prosthetic`; a word ending in `::` is a path segment and
/// may be followed by anything).
fn mentions(line: &str, word: &str) -> bool {
    let boundary = |c: Option<char>| !c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    line.match_indices(word).any(|(at, _)| {
        let before = line[..at].chars().next_back();
        let after = line[at + word.len()..].chars().next();
        boundary(before) && (word.ends_with("::") || boundary(after))
    })
}

#[test]
fn the_core_rule_sees_what_it_must() {
    assert!(is_core("crates/cairn-server/src/jobs/hub.rs"));
    assert!(is_core("crates/cairn-store/src/jobs.rs"));
    assert!(!is_core("crates/cairn-server/src/grpc/jobs.rs"));
    assert!(!is_core("crates/cairn-agent/src/session.rs"));
    assert!(mentions("use cairn_proto::v1 as pb;", "cairn_proto"));
    assert!(mentions("    let s: tonic::Status = x;", "tonic"));
    assert!(mentions("crate::grpc::timestamp(now)", "grpc::"));
    assert!(mentions("use crate::{Api, grpc::job_to_pb};", "grpc::"));
    assert!(mentions("    grpc::timestamp,", "grpc::"));
    assert!(mentions("let t: prost_types::Timestamp;", "prost_types"));
    assert!(!mentions("// a prosthetic limb", "prost"));
    assert!(is_core("crates/cairn-server/src/lib.rs"));
}
