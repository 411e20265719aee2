//! Every documented operation × every kind of caller, generated from the OpenAPI document (so
//! a new route cannot be missed): no credential, an enrollment token, an agent credential,
//! viewer, editor and admin. What must hold for each:
//!
//! - every operation that declares a bearer credential answers 401 without one;
//! - machine credentials reach only their own operations (an agent: reports, device polls,
//!   metric batches; an enrollment token: `/enroll`), 403 everywhere else;
//! - a viewer never changes anything: every operation but GETs (and the impact query, a read
//!   sent as POST) answers it 403;
//! - roles are ordered: what a viewer may do an editor may, what an editor may an admin may;
//! - nothing answers 5xx, and nothing answers the router's bare 404 (an undocumented or
//!   missing route): a 404 must carry the API's error body.

use axum::http::StatusCode;
use serde_json::Value;

use super::{App, app};
use crate::domain::auth::Role;

/// A CI-like id for every path parameter: well-formed, naming nothing.
const ID: &str = "0123456789abcdef0123456789abcdef";

const AGENT_OPS: [(&str, &str); 3] = [
    ("POST", "/api/v1/reports"),
    ("POST", "/api/v1/device-reports"),
    ("POST", "/api/v1/metrics"),
];

/// Queries sent as POST because they carry a body: reading, so open to viewers.
const READ_POSTS: [&str; 1] = ["/api/v1/impact"];

async fn token(app: &App, key: &str, role: Role) -> String {
    app.stored_token(key, role, None).await
}

/// Sends one operation with `token`; answers its status and whether the body is the API's
/// error JSON (`{"error": …}`) or a success body.
async fn call(app: &App, method: &str, path: &str, token: &str) -> (StatusCode, Value) {
    let body = (method != "GET" && method != "DELETE").then(|| "{}".to_string());
    app.send(method, path, token, body).await
}

#[tokio::test]
async fn every_operation_answers_every_role_as_the_role_model_says() {
    let app = app().await;
    let enroll = token(&app, "tenroll", Role::Enroll).await;
    let editor = token(&app, "teditor", Role::Editor).await;
    let admin = token(&app, "tadmin2", Role::Admin).await;
    let doc = serde_json::to_value(crate::http::ops::openapi_doc()).expect("doc");
    let paths = doc["paths"].as_object().expect("paths");
    let mut checked = 0;
    let mut problems: Vec<String> = Vec::new();
    for (template, ops) in paths {
        let path = template
            .split('/')
            .map(|seg| {
                if seg.starts_with('{') {
                    ID.to_string()
                } else {
                    seg.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for (method, op) in ops.as_object().expect("operations") {
            let method = method.to_uppercase();
            if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method.as_str()) {
                continue;
            }
            checked += 1;
            let what = format!("{method} {template}");
            let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
            let is_agent_op = AGENT_OPS.contains(&(method.as_str(), template.as_str()));
            let is_enroll_op = template == "/api/v1/enroll";
            let mut allowed = Vec::new();
            for (who, tok) in [
                ("none", ""),
                ("enroll", enroll.as_str()),
                ("agent", app.agent_token.as_str()),
                ("viewer", app.viewer_token.as_str()),
                ("editor", editor.as_str()),
                ("admin", admin.as_str()),
            ] {
                let (status, body) = call(&app, &method, &path, tok).await;
                if status.is_server_error() {
                    problems.push(format!("{what} as {who}: {status} {body}"));
                }
                if status == StatusCode::NOT_FOUND && body.get("error").is_none() {
                    problems.push(format!("{what} as {who}: the router has no such route"));
                }
                let refused = matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN);
                if who == "none" && secured && status != StatusCode::UNAUTHORIZED {
                    problems.push(format!("{what} without a credential: {status}, not 401"));
                }
                if who == "agent" && !is_agent_op && !refused {
                    problems.push(format!("{what} as an agent: {status}, not 401/403"));
                }
                if who == "enroll" && !is_enroll_op && !refused {
                    problems.push(format!("{what} with an enrollment token: {status}"));
                }
                let reads = method == "GET" || READ_POSTS.contains(&template.as_str());
                if who == "viewer" && !reads && !refused {
                    problems.push(format!("{what} as a viewer changes things: {status}"));
                }
                allowed.push((who, !refused));
            }
            // Human roles are ordered.
            let ok = |w: &str| allowed.iter().any(|(x, a)| *x == w && *a);
            if (ok("viewer") && !ok("editor")) || (ok("editor") && !ok("admin")) {
                problems.push(format!("{what}: roles not ordered: {allowed:?}"));
            }
            // Every human operation is open to an admin, every machine one to its machine.
            if is_agent_op && !ok("agent") {
                problems.push(format!("{what}: refused to the agent"));
            }
            if is_enroll_op && !ok("enroll") {
                problems.push(format!("{what}: refused to an enrollment token"));
            }
            if !is_agent_op && !is_enroll_op && !ok("admin") {
                problems.push(format!("{what}: refused to an admin"));
            }
        }
    }
    assert!(checked >= 45, "only {checked} operations in the document");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
