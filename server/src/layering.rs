//! Keeps the layering true: `http/` never names `storage` (handlers call services), and
//! `domain/` names neither axum nor SurrealDB (pure rules). Reads the source files, so a
//! violation fails the tests with the file and line that broke the rule.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Lines of the files under `src/<dir>` that contain any of `forbidden`, as `file:line: text`.
fn offending(dir: &str, forbidden: &[&str]) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(dir);
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    assert!(!files.is_empty(), "no sources under {}", root.display());
    let mut found = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if forbidden.iter().any(|w| code.contains(w)) {
                found.push(format!("{}:{}: {}", f.display(), i + 1, line.trim()));
            }
        }
    }
    found
}

#[test]
fn http_handlers_never_name_storage() {
    let found = offending("http", &["storage::", "crate::storage", "surrealdb"]);
    assert!(
        found.is_empty(),
        "http/ must call services, not storage:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_domain_names_neither_axum_nor_surrealdb_nor_storage() {
    let found = offending(
        "domain",
        &[
            "axum",
            "surrealdb",
            "crate::storage",
            "tokio::",
            "crate::http",
        ],
    );
    assert!(
        found.is_empty(),
        "domain/ must stay pure:\n{}",
        found.join("\n")
    );
}

#[test]
fn only_storage_names_surrealdb() {
    let mut found = Vec::new();
    for dir in ["http", "domain", "ingest", "relationships"] {
        found.extend(offending(dir, &["surrealdb"]));
    }
    for file in [
        "access.rs",
        "changes.rs",
        "impact.rs",
        "inventory.rs",
        "lib.rs",
        "cli.rs",
    ] {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(file);
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        for (i, line) in text.lines().enumerate() {
            if line.split("//").next().unwrap_or("").contains("surrealdb") {
                found.push(format!("{}:{}: {}", p.display(), i + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "only storage/ may name SurrealDB:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_check_sees_a_violation() {
    // The scanner itself: a forbidden word in a file under the scanned folder is reported.
    let found = offending("storage", &["surrealdb"]);
    assert!(
        !found.is_empty(),
        "storage/ names SurrealDB; the scan must see it"
    );
}
