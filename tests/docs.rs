//! The documents a clone carries: every relative link of README.md and docs/ leads to a file
//! of the repository, and docs/API.md covers every path and error code of the OpenAPI
//! document (static/openapi.json), so the two references cannot drift apart silently.

use std::path::{Component, Path, PathBuf};

use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// README.md and every Markdown file under docs/.
fn markdown_files() -> Vec<PathBuf> {
    let mut files = vec![root().join("README.md")];
    let docs = std::fs::read_dir(root().join("docs")).expect("docs/");
    files.extend(
        docs.flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "md")),
    );
    files
}

/// The targets of `[text](target)` links, without their `#fragment`.
fn link_targets(markdown: &str) -> Vec<String> {
    markdown
        .split("](")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .map(|target| target.split('#').next().unwrap_or_default().to_string())
        .collect()
}

/// `path` with `.` and `..` resolved textually (no file system access).
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[test]
fn relative_links_of_the_docs_lead_to_files_of_the_repository() {
    for file in markdown_files() {
        let text = read(&file);
        let dir = file.parent().expect("a file has a folder");
        for target in link_targets(&text) {
            if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let resolved = normalise(&dir.join(&target));
            assert!(
                resolved.starts_with(root()) && resolved.exists(),
                "{}: link to {target} does not lead to a file of the repository",
                file.display()
            );
        }
        assert!(
            !text.contains("../shared"),
            "{} points outside the repository (../shared)",
            file.display()
        );
    }
}

#[test]
fn api_reference_covers_every_path_and_error_code_of_the_openapi_document() {
    let api = read(&root().join("docs/API.md"));
    let doc: Value =
        serde_json::from_str(&read(&root().join("static/openapi.json"))).expect("JSON document");
    let paths = doc["paths"].as_object().expect("paths");
    assert!(!paths.is_empty());
    for path in paths.keys() {
        assert!(
            api.contains(&format!("{path}`")) || api.contains(&format!("{path}?")),
            "docs/API.md does not document {path}"
        );
    }
    let codes = doc["components"]["schemas"]["Error"]["properties"]["error"]["enum"]
        .as_array()
        .expect("Error.error lists the codes");
    assert!(!codes.is_empty());
    for code in codes {
        let code = code.as_str().expect("a code is a string");
        assert!(
            api.contains(&format!("| `{code}` |")),
            "docs/API.md's error table lacks {code}"
        );
    }
}
