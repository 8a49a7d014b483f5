//! Every relative link in the book, the README and the other front-door
//! files resolves: to a file that exists and, where it names one, to a
//! heading in it (mdBook's anchors). `{{#include}}`s too, and every chapter
//! SUMMARY.md lists.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

fn markdown_files(root: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = [
        "README.md",
        "SECURITY.md",
        "CONTRIBUTING.md",
        "CODE_OF_CONDUCT.md",
        ".gitea/PULL_REQUEST_TEMPLATE.md",
    ]
    .iter()
    .map(|name| root.join(name))
    .collect();
    for dir in ["docs", "docs/book/src", "docs/book/src/reference"] {
        let entries = std::fs::read_dir(root.join(dir)).expect("docs directory");
        for entry in entries {
            let path = entry.expect("dir entry").path();
            if path.extension().is_some_and(|ext| ext == "md") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The targets of `[text](target)` links, outside code blocks and spans.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut in_fence = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        // Drop inline code so `a](b)` inside backticks is not a link.
        let prose: String = line.split('`').step_by(2).collect::<Vec<_>>().join("");
        let mut rest = prose.as_str();
        while let Some(start) = rest.find("](") {
            let after = &rest[start + 2..];
            let Some(end) = after.find(')') else { break };
            targets.push(after[..end].to_string());
            rest = &after[end..];
        }
        if let Some(include) = line.trim().strip_prefix("{{#include ") {
            targets.push(include.trim_end_matches("}}").trim().to_string());
        }
    }
    targets
}

/// mdBook's anchor for a heading: lower case, spaces to dashes, other
/// punctuation dropped.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn anchors(text: &str) -> BTreeSet<String> {
    let mut in_fence = false;
    let mut found = BTreeSet::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
        } else if !in_fence && line.starts_with('#') {
            found.insert(anchor(line.trim_start_matches('#')));
        }
    }
    found
}

#[test]
fn every_relative_link_resolves() {
    let root = root();
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in markdown_files(&root) {
        let text = std::fs::read_to_string(&file).expect("read markdown");
        let dir = file.parent().expect("file has a directory");
        for target in link_targets(&text) {
            if target.contains("://") || target.starts_with("mailto:") || target.is_empty() {
                continue;
            }
            checked += 1;
            let (path, fragment) = match target.split_once('#') {
                Some((path, fragment)) => (path, Some(fragment)),
                None => (target.as_str(), None),
            };
            let resolved = if path.is_empty() {
                file.clone()
            } else {
                dir.join(path)
            };
            let shown = format!(
                "{}: {target}",
                file.strip_prefix(&root).unwrap_or(&file).display()
            );
            if !resolved.exists() {
                broken.push(format!("{shown} (no such file)"));
                continue;
            }
            if let Some(fragment) = fragment {
                let linked = std::fs::read_to_string(&resolved).unwrap_or_default();
                if !anchors(&linked).contains(fragment) {
                    broken.push(format!("{shown} (no heading #{fragment})"));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
    assert!(checked > 50, "only {checked} links were checked");
}

#[test]
fn every_chapter_is_in_the_summary_and_every_summary_entry_exists() {
    let src = root().join("docs/book/src");
    let summary = std::fs::read_to_string(src.join("SUMMARY.md")).expect("SUMMARY.md");
    let listed: BTreeSet<String> = link_targets(&summary).into_iter().collect();
    for entry in &listed {
        assert!(
            src.join(entry).exists(),
            "SUMMARY.md lists {entry}, which does not exist"
        );
    }
    for dir in ["", "reference"] {
        for entry in std::fs::read_dir(src.join(dir)).expect("book src") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|ext| ext == "md") {
                let name = path
                    .strip_prefix(&src)
                    .expect("under src")
                    .display()
                    .to_string();
                assert!(
                    name == "SUMMARY.md" || listed.contains(&name),
                    "{name} is not in SUMMARY.md, so mdBook would not build it"
                );
            }
        }
    }
}
