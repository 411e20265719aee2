//! Credentials with a lifecycle through the HTTP API: enrollment tokens that expire and run
//! out of uses (also under concurrent enrollments), expiring human tokens, revoking an
//! agent's credential, the last admin token, the `/enroll` rate limit and the auth cache's
//! time to live.

use super::*;

fn enroll_body(hostname: &str) -> String {
    json!({"hostname": hostname, "agent_version": "test"}).to_string()
}

fn error_of(v: &Value) -> &str {
    v["error"].as_str().unwrap_or_default()
}

impl App {
    async fn enroll(&self, token: &str, hostname: &str) -> (StatusCode, Value) {
        self.send("POST", "/api/v1/enroll", token, Some(enroll_body(hostname)))
            .await
    }

    /// Creates a token through the API as `admin`; the whole answer.
    async fn create_token(&self, admin: &str, body: Value) -> (StatusCode, Value) {
        self.send("POST", "/api/v1/tokens", admin, Some(body.to_string()))
            .await
    }

    async fn token_list(&self, admin: &str) -> Vec<Value> {
        let (status, v) = self.send("GET", "/api/v1/tokens", admin, None).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        v.as_array().cloned().expect("array")
    }

    async fn agent_list(&self) -> Vec<Value> {
        let (status, v) = self
            .send("GET", "/api/v1/agents", &self.viewer_token, None)
            .await;
        assert_eq!(status, StatusCode::OK, "{v}");
        v.as_array().cloned().expect("array")
    }

    /// Stores a token directly (to give it a time already past, which the API refuses).
    pub(super) async fn stored_token(
        &self,
        key: &str,
        role: Role,
        expires_at: Option<String>,
    ) -> String {
        let token = new_token(role);
        self.store
            .insert_token(&TokenRecord {
                key: key.into(),
                hash: hash_token(&token),
                role: role.as_str().into(),
                description: String::new(),
                created_at: now_str(),
                expires_at,
                ..Default::default()
            })
            .await
            .expect("token");
        token
    }
}

/// An enrollment that borrows nothing, to run in its own task.
async fn enroll_on(state: Arc<AppState>, token: String, host: String) -> (StatusCode, Value) {
    let req = Request::builder()
        .method("POST")
        .uri("/api/v1/enroll")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from(enroll_body(&host)))
        .expect("request");
    let res = crate::app(state).oneshot(req).await.expect("response");
    let status = res.status();
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn past() -> String {
    crate::storage::time_str(chrono::Utc::now() - chrono::Duration::seconds(5))
}

#[tokio::test]
async fn an_enrollment_token_allows_max_uses_enrollments_then_says_it_is_used_up() {
    let app = app().await;
    let admin = app.admin().await;
    let (status, created) = app
        .create_token(
            &admin,
            json!({"role": "enroll", "max_uses": 2, "expires_in_secs": 3600}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["max_uses"], 2);
    assert!(created["expires_at"].is_string(), "{created}");
    let token = created["token"].as_str().expect("token").to_string();

    for host in ["web01", "web02"] {
        let (status, v) = app.enroll(&token, host).await;
        assert_eq!(status, StatusCode::OK, "{host}: {v}");
    }
    let (status, v) = app.enroll(&token, "web03").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{v}");
    assert!(error_of(&v).contains("used up"), "{v}");

    let listed = app.token_list(&admin).await;
    let t = listed
        .iter()
        .find(|t| t["id"] == created["id"])
        .expect("listed");
    assert_eq!(
        (t["uses"].as_u64(), t["max_uses"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(t["expired"], false);
    assert_eq!(t["expires_at"], created["expires_at"]);
    let hosts: Vec<String> = app
        .agent_list()
        .await
        .iter()
        .filter_map(|a| a["hostname"].as_str())
        .filter(|h| h.starts_with("web"))
        .map(str::to_string)
        .collect();
    assert_eq!(
        hosts,
        ["web01", "web02"],
        "the refused enrollment stored nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_concurrent_enrollments_with_a_single_use_token_make_exactly_one_agent() {
    let app = app().await;
    let admin = app.admin().await;
    for round in 0..5 {
        let (status, created) = app
            .create_token(&admin, json!({"role": "enroll", "max_uses": 1}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let token = created["token"].as_str().expect("token").to_string();
        // Two tasks, so the two enrollments run in parallel on the worker threads.
        let race = |host: String| tokio::spawn(enroll_on(app.state.clone(), token.clone(), host));
        let (a, b) = (race(format!("race{round}a")), race(format!("race{round}b")));
        let (a, b) = (a.await.expect("task"), b.await.expect("task"));
        let ok = [&a, &b]
            .iter()
            .filter(|(s, _)| *s == StatusCode::OK)
            .count();
        assert_eq!(ok, 1, "round {round}: exactly one enrolls: {a:?} {b:?}");
        let refused = if a.0 == StatusCode::OK { &b } else { &a };
        assert_eq!(refused.0, StatusCode::UNAUTHORIZED, "{refused:?}");
        assert!(error_of(&refused.1).contains("used up"), "{refused:?}");
        let listed = app.token_list(&admin).await;
        let t = listed
            .iter()
            .find(|t| t["id"] == created["id"])
            .expect("listed");
        assert_eq!(
            t["uses"], 1,
            "round {round}: the use count never exceeds max_uses"
        );
    }
    let racers = app
        .agent_list()
        .await
        .iter()
        .filter(|a| {
            a["hostname"]
                .as_str()
                .is_some_and(|h| h.starts_with("race"))
        })
        .count();
    assert_eq!(racers, 5, "one agent per round");
}

#[tokio::test]
async fn expired_or_revoked_enrollment_tokens_are_refused_saying_why() {
    let app = app().await;
    let admin = app.admin().await;
    let expired = app
        .stored_token("tenrollold", Role::Enroll, Some(past()))
        .await;
    let (status, v) = app.enroll(&expired, "late01").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{v}");
    assert!(error_of(&v).contains("expired"), "{v}");

    let (_, created) = app.create_token(&admin, json!({"role": "enroll"})).await;
    let token = created["token"].as_str().expect("token").to_string();
    let id = created["id"].as_str().expect("id");
    let (status, _) = app
        .send("DELETE", &format!("/api/v1/tokens/{id}"), &admin, None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, v) = app.enroll(&token, "late02").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{v}");
    assert!(error_of(&v).contains("revoked"), "{v}");
    assert_eq!(app.agent_list().await.len(), 1, "only the fixture agent");
}

#[tokio::test]
async fn bad_token_requests_name_the_field_and_create_nothing() {
    let app = app().await;
    let admin = app.admin().await;
    let before = app.token_list(&admin).await.len();
    for (body, field) in [
        (json!({"role": "viewer", "max_uses": 3}), "max_uses"),
        (json!({"role": "enroll", "max_uses": 0}), "max_uses"),
        (json!({"role": "enroll", "max_uses": -1}), "max_uses"),
        (
            json!({"role": "viewer", "expires_in_secs": 0}),
            "expires_in_secs",
        ),
        (
            json!({"role": "viewer", "expires_in_secs": 60, "expires_at": "2999-01-01T00:00:00Z"}),
            "expires_in_secs, expires_at",
        ),
        (
            json!({"role": "viewer", "expires_at": "soon"}),
            "expires_at",
        ),
        (
            json!({"role": "viewer", "expires_at": "2001-01-01T00:00:00Z"}),
            "expires_at",
        ),
        (
            json!({"role": "admin", "agent_expires_in_secs": 60}),
            "agent_expires_in_secs",
        ),
        (json!({"role": "agent"}), "role"),
    ] {
        let (status, v) = app.create_token(&admin, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert!(error_of(&v).contains(field), "{body}: {v}");
    }
    assert_eq!(
        app.token_list(&admin).await.len(),
        before,
        "nothing created"
    );
}

#[tokio::test]
async fn an_expired_human_token_is_refused_saying_it_expired_even_when_cached() {
    let app = app().await;
    let admin = app.admin().await;
    let old = app
        .stored_token("tviewerold", Role::Viewer, Some(past()))
        .await;
    let (status, v) = app.send("GET", "/api/v1/cis", &old, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{v}");
    assert!(error_of(&v).contains("expired"), "{v}");

    // One that expires while it sits in the auth cache.
    let (status, created) = app
        .create_token(&admin, json!({"role": "viewer", "expires_in_secs": 1}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let token = created["token"].as_str().expect("token").to_string();
    let (status, v) = app.send("GET", "/api/v1/cis", &token, None).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let (status, v) = app.send("GET", "/api/v1/cis", &token, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{v}");
    assert!(error_of(&v).contains("expired"), "{v}");
    let listed = app.token_list(&admin).await;
    let t = listed
        .iter()
        .find(|t| t["id"] == created["id"])
        .expect("listed");
    assert_eq!(t["expired"], true, "{t}");
}

#[tokio::test]
async fn revoking_an_agent_refuses_its_next_report_and_the_list_shows_it() {
    let app = app().await;
    let admin = app.admin().await;
    // Reported once: the credential is in the auth cache.
    let (status, v) = app.post_device(&device_report()).await;
    assert_eq!(status, StatusCode::OK, "{v}");

    let agents = app.agent_list().await;
    let a1 = agents.iter().find(|a| a["key"] == "a1").expect("a1");
    let cred = &a1["credential"];
    assert_eq!(cred["token_id"], "ta1", "{a1}");
    assert_eq!(cred["revoked"], false);
    assert_eq!(
        cred["expires_at"],
        Value::Null,
        "agent credentials do not expire"
    );
    assert_eq!(cred["expired"], false);
    assert!(cred["created_at"].is_string(), "{a1}");
    assert!(cred.get("last_used").is_some(), "{a1}");

    // Who may revoke, and what: nothing changes on a refusal.
    let (status, _) = app
        .send("DELETE", "/api/v1/agents/a1", &app.viewer_token, None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, v) = app
        .send("DELETE", "/api/v1/agents/nosuchagent", &admin, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    let (status, v) = app
        .send("DELETE", "/api/v1/agents/A%20B", &admin, None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    let (status, v) = app.post_device(&device_report()).await;
    assert_eq!(status, StatusCode::OK, "still valid: {v}");

    let (status, v) = app.send("DELETE", "/api/v1/agents/a1", &admin, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{v}");
    let (status, v) = app.post_device(&device_report()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{v}");
    assert!(error_of(&v).contains("revoked"), "{v}");

    let agents = app.agent_list().await;
    let a1 = agents
        .iter()
        .find(|a| a["key"] == "a1")
        .expect("still listed");
    assert_eq!(a1["credential"]["revoked"], true, "{a1}");
}

#[tokio::test]
async fn the_last_admin_token_cannot_be_revoked() {
    let app = app().await;
    let first = app.admin().await;
    // An expired admin token does not count as a way back in.
    app.stored_token("tadminold", Role::Admin, Some(past()))
        .await;
    let (status, v) = app
        .send("DELETE", "/api/v1/tokens/tadmin", &first, None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    assert!(error_of(&v).contains("last admin token"), "{v}");

    let (status, created) = app.create_token(&first, json!({"role": "admin"})).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let second = created["token"].as_str().expect("token").to_string();
    let second_id = created["id"].as_str().expect("id").to_string();
    let (status, v) = app
        .send("DELETE", "/api/v1/tokens/tadmin", &second, None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{v}");
    let (status, _) = app.send("GET", "/api/v1/tokens", &first, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "revoked at once");
    let (status, v) = app
        .send(
            "DELETE",
            &format!("/api/v1/tokens/{second_id}"),
            &second,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    let (status, _) = app.send("GET", "/api/v1/tokens", &second, None).await;
    assert_eq!(status, StatusCode::OK, "the last admin token still works");
    // Other tokens are revoked as before; unknown ones are 404.
    let (status, _) = app.send("DELETE", "/api/v1/tokens/tv", &second, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app
        .send("DELETE", "/api/v1/tokens/nosuchtoken", &second, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn enroll_is_rate_limited_with_retry_after() {
    let app = app_with("[auth]\nenroll_per_minute = 2\n").await;
    let admin = app.admin().await;
    let (_, created) = app.create_token(&admin, json!({"role": "enroll"})).await;
    let token = created["token"].as_str().expect("token").to_string();
    for host in ["rl01", "rl02"] {
        let (status, v) = app.enroll(&token, host).await;
        assert_eq!(status, StatusCode::OK, "{v}");
    }
    let req = Request::builder()
        .method("POST")
        .uri("/api/v1/enroll")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from(enroll_body("rl03")))
        .expect("request");
    let res = crate::app(app.state.clone())
        .oneshot(req)
        .await
        .expect("response");
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=30).contains(&retry), "{retry}");
    // Other endpoints are not limited.
    let (status, _) = app
        .send("GET", "/api/v1/agents", &app.viewer_token, None)
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_revocation_written_by_another_server_is_seen_within_the_cache_ttl() {
    let app = app_with("[auth]\ncache_ttl_secs = 1\n").await;
    let (status, _) = app
        .send("GET", "/api/v1/cis", &app.viewer_token, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    // Another server on the same database revokes it: this one's cache does not know.
    app.store
        .revoke_token("tv", &now_str())
        .await
        .expect("revoke in storage");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, v) = app
        .send("GET", "/api/v1/cis", &app.viewer_token, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{v}");
}

#[tokio::test]
async fn a_lookup_that_raced_a_revocation_does_not_put_the_token_back_in_the_cache() {
    let app = app().await;
    let access = &app.state.access;
    let hash = hash_token(&app.viewer_token);
    // A request's lookup starts and reads storage before the revocation…
    let generation = access
        .cached(&hash, chrono::Utc::now())
        .expect_err("not cached yet");
    let (principal, expires_at) = access.look_up(&hash).await.expect("valid until revoked");
    // …the revocation is written and the cache cleared…
    access.revoke("tv").await.expect("revoke");
    // …and the lookup finishes after it: its answer must not be cached.
    assert!(
        !access.remember(hash, &principal, expires_at, generation),
        "a stale answer was cached"
    );
    let (status, v) = app
        .send("GET", "/api/v1/cis", &app.viewer_token, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{v}");
}

#[test]
fn the_openapi_document_has_the_credential_routes() {
    let doc = serde_json::to_value(crate::http::ops::openapi_doc()).expect("json");
    let paths = &doc["paths"];
    assert!(paths["/api/v1/agents/{id}"]["delete"]["responses"]["204"].is_object());
    assert!(paths["/api/v1/tokens/{id}"]["delete"]["responses"]["409"].is_object());
    assert!(paths["/api/v1/enroll"]["post"]["responses"]["429"].is_object());
    let schemas = &doc["components"]["schemas"];
    for s in ["NewToken", "TokenInfo", "AgentInfo", "AgentCredential"] {
        assert!(schemas[s].is_object(), "{s} missing");
    }
    assert!(schemas["NewToken"]["properties"]["max_uses"].is_object());
}
