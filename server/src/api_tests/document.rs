//! The OpenAPI document against the code, so neither can drift (Schemathesis, in
//! `scripts/schemathesis.sh`, holds the server to the document; these hold the document to
//! the router and to the credential model):
//!
//! - every route the router registers (read from the `.route(…)` calls of the HTTP modules)
//!   is in the document with the same methods, and the document has nothing the router lacks;
//! - every operation that takes a bearer credential documents 401 (no, bad or revoked
//!   credential) and 429 (over `http.rate_per_credential`), and every one that checks a role
//!   documents 403;
//! - every operation that reads a body or a query string documents 400.

use std::collections::BTreeSet;

use serde_json::Value;

/// Routes served outside the API document, each for a reason: the liveness probe and the
/// Prometheus scrape are for machines that do not read OpenAPI, and the document itself.
const UNDOCUMENTED: [&str; 3] = ["GET /healthz", "GET /metrics", "GET /api/v1/openapi.json"];

const SOURCES: [&str; 17] = [
    include_str!("../http/agents.rs"),
    include_str!("../http/auth.rs"),
    include_str!("../http/availability.rs"),
    include_str!("../http/capacity.rs"),
    include_str!("../http/changes.rs"),
    include_str!("../http/cis.rs"),
    include_str!("../http/impact.rs"),
    include_str!("../http/limits.rs"),
    include_str!("../http/metrics.rs"),
    include_str!("../http/mod.rs"),
    include_str!("../http/ops.rs"),
    include_str!("../http/relationships.rs"),
    include_str!("../http/render.rs"),
    include_str!("../http/reports.rs"),
    include_str!("../http/software.rs"),
    include_str!("../http/tokens.rs"),
    include_str!("../http/transfer.rs"),
];

/// `METHOD /path` for every `.route("/path", get(…).post(…))` in `source`.
fn routes_in(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find(".route(") {
        rest = &rest[at + ".route(".len()..];
        let body = rest.trim_start();
        let Some(body) = body.strip_prefix('"') else {
            continue;
        };
        let end = body.find('"').expect("closing quote of a route path");
        let path = &body[..end];
        // The method router: up to the parenthesis that closes `.route(`.
        let after = &body[end + 1..];
        let mut depth = 0usize;
        let mut close = after.len();
        for (i, c) in after.char_indices() {
            match c {
                '(' => depth += 1,
                ')' if depth == 0 => {
                    close = i;
                    break;
                }
                ')' => depth -= 1,
                _ => {}
            }
        }
        let methods = &after[..close];
        // Method calls at the top level of the method router: `get(`, `.post(`,
        // `axum::routing::put(`; a handler's own arguments are one level deeper.
        let mut depth = 0usize;
        let mut word = String::new();
        for c in methods.chars() {
            match c {
                '(' => {
                    if depth == 0
                        && ["get", "post", "put", "patch", "delete"].contains(&word.as_str())
                    {
                        out.push(format!("{} {path}", word.to_uppercase()));
                    }
                    depth += 1;
                    word.clear();
                }
                ')' => {
                    depth = depth.saturating_sub(1);
                    word.clear();
                }
                c if c.is_alphanumeric() || c == '_' => word.push(c),
                _ => word.clear(),
            }
        }
    }
    out
}

fn document() -> Value {
    serde_json::to_value(crate::http::ops::openapi_doc()).expect("doc")
}

/// (`METHOD /path`, operation) for every operation in the document.
fn operations(doc: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        for (method, op) in ops.as_object().expect("operations") {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                out.push((format!("{} {path}", method.to_uppercase()), op.clone()));
            }
        }
    }
    out
}

#[test]
fn the_route_parser_reads_every_form_the_modules_use() {
    let src = r#"Router::new()
        .route("/a", get(list).post(create))
        .route(
            "/a/{id}",
            get(detail).patch(edit).delete(remove),
        )
        .route("/b", axum::routing::put(bind))
        .route("/c", post(handler_with(get_thing())))"#;
    assert_eq!(
        routes_in(src),
        [
            "GET /a",
            "POST /a",
            "GET /a/{id}",
            "PATCH /a/{id}",
            "DELETE /a/{id}",
            "PUT /b",
            "POST /c"
        ]
    );
}

#[test]
fn the_document_lists_exactly_the_routes_of_the_router() {
    let routed: BTreeSet<String> = SOURCES.iter().flat_map(|s| routes_in(s)).collect();
    assert!(routed.len() >= 50, "only {} routes found", routed.len());
    let documented: BTreeSet<String> = operations(&document()).into_iter().map(|o| o.0).collect();
    let undocumented: Vec<&String> = routed
        .iter()
        .filter(|r| !documented.contains(*r) && !UNDOCUMENTED.contains(&r.as_str()))
        .collect();
    let unrouted: Vec<&String> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from the OpenAPI document (add them to `paths(…)` in http/ops.rs): {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "documented operations the router does not serve: {unrouted:?}"
    );
}

#[test]
fn every_operation_documents_the_refusals_it_can_answer() {
    let doc = document();
    let mut problems = Vec::new();
    for (what, op) in operations(&doc) {
        let responses = op["responses"].as_object().expect("responses");
        let has = |code: &str| responses.contains_key(code);
        let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
        if secured {
            // Every credential is authenticated, then rate-limited, then its role checked.
            for code in ["401", "403", "429"] {
                if !has(code) {
                    problems.push(format!("{what}: takes a credential, no {code}"));
                }
            }
        }
        let takes_input = op.get("requestBody").is_some()
            || op["parameters"]
                .as_array()
                .is_some_and(|p| p.iter().any(|p| p["in"] == "query" || p["in"] == "path"));
        if takes_input && !has("400") {
            problems.push(format!("{what}: reads a body, a query or a path, no 400"));
        }
        if op.get("requestBody").is_some() && !has("413") {
            problems.push(format!("{what}: reads a body, no 413"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
