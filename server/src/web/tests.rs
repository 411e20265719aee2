use super::*;
use crate::access::{NewToken, token_record};
use crate::config::Config;

async fn state(extra: &str) -> Arc<crate::AppState> {
    let config = Config::parse(
        &format!("data_dir = \"/nonexistent\"\n[tls]\nenabled = false\n{extra}"),
        std::path::Path::new("/nonexistent/server.toml"),
    )
    .expect("config");
    let store = Store::memory().await.expect("memory store");
    crate::AppState::new(config, store).await.expect("state")
}

async fn token(state: &crate::AppState, role: &str) -> (String, String) {
    let created = state
        .access
        .create_token(&NewToken {
            role: role.into(),
            ..Default::default()
        })
        .await
        .expect("token");
    (created.id, created.token)
}

#[tokio::test]
async fn a_user_signs_in_with_the_right_password_only_and_a_disabled_user_is_signed_out() {
    let s = state("").await;
    let user = s
        .web
        .create_user("alice", "correct horse battery", "editor")
        .await
        .expect("user");
    let cookie = s
        .web
        .sign_in_with_password("alice", "correct horse battery")
        .await
        .expect("sign in");
    let session = s.web.session(&cookie).await.expect("read").expect("alive");
    assert_eq!(session.role, Role::Editor);
    assert_eq!(session.source, "web_user:alice");
    assert_eq!(session.csrf.len(), 64);

    for (name, password) in [
        ("alice", "wrong password!!"),
        ("bob", "correct horse battery"),
    ] {
        let e = s
            .web
            .sign_in_with_password(name, password)
            .await
            .expect_err("refused");
        assert!(e.to_string().contains("wrong user name or password"), "{e}");
    }
    let e = s
        .web
        .create_user("alice", "another long password", "viewer")
        .await
        .expect_err("taken");
    assert!(matches!(e, ServiceError::Conflict(_)), "{e}");
    for (name, pw, role, field) in [
        ("bad name!", "long enough password", "viewer", "name"),
        ("carol", "short", "viewer", "password"),
        ("carol", "long enough password", "agent", "role"),
    ] {
        let e = s
            .web
            .create_user(name, pw, role)
            .await
            .expect_err("invalid");
        assert!(e.to_string().starts_with(field), "{e}");
    }

    s.web.set_disabled(&user.id, true).await.expect("disable");
    assert!(s.web.session(&cookie).await.expect("read").is_none());
    assert!(
        s.web
            .sign_in_with_password("alice", "correct horse battery")
            .await
            .is_err()
    );
    s.web.set_disabled(&user.id, false).await.expect("enable");
    let again = s
        .web
        .sign_in_with_password("alice", "correct horse battery")
        .await
        .expect("enabled again");
    s.web.sign_out(&again).await.expect("sign out");
    assert!(s.web.session(&again).await.expect("read").is_none());
    let users = s.web.users().await.expect("users");
    assert_eq!(users.len(), 1);
    assert!(!format!("{users:?}").contains("argon2"), "no hash listed");
}

#[tokio::test]
async fn a_token_session_ends_when_its_token_is_revoked_and_machine_tokens_cannot_sign_in() {
    let s = state("").await;
    let (id, viewer) = token(&s, "viewer").await;
    let cookie = s.web.sign_in_with_token(&viewer).await.expect("sign in");
    let session = s.web.session(&cookie).await.expect("read").expect("alive");
    assert_eq!(session.role, Role::Viewer);
    assert_eq!(session.source, format!("user:{id}"));
    assert!(session.require(Role::Editor).is_err());
    s.access.revoke(&id).await.expect("revoke");
    assert!(s.web.session(&cookie).await.expect("read").is_none());

    let (_, enroll) = token(&s, "enroll").await;
    let e = s.web.sign_in_with_token(&enroll).await.expect_err("enroll");
    assert!(matches!(e, ServiceError::Forbidden(_)), "{e}");
    let e = s
        .web
        .sign_in_with_token("cmdb_viewer_nonsense")
        .await
        .expect_err("unknown");
    assert!(matches!(e, ServiceError::Unauthenticated(_)), "{e}");
    // Cookie values that are not a session's.
    for bad in ["", "x", &"0".repeat(64), "../../etc/passwd"] {
        assert!(s.web.session(bad).await.expect("read").is_none());
    }
}

#[tokio::test]
async fn a_session_past_its_lifetime_or_its_tokens_expiry_is_over() {
    let s = state("[web]\nsession_ttl_secs = 60\n").await;
    let (rec, secret) = token_record(&NewToken {
        role: "admin".into(),
        expires_in_secs: Some(1),
        ..Default::default()
    })
    .expect("record");
    // The token expires within a second: its session with it.
    s.web.store.insert_token(&rec).await.expect("insert");
    let cookie = s.web.sign_in_with_token(&secret).await.expect("sign in");
    assert!(s.web.session(&cookie).await.expect("read").is_some());
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert!(s.web.session(&cookie).await.expect("read").is_none());
    assert_eq!(s.web.sweep().await.expect("sweep"), 0, "not past 60 s yet");
}

#[tokio::test]
async fn sign_in_attempts_are_rate_limited() {
    let s = state("[web]\nsign_in_per_minute = 2\n").await;
    for _ in 0..2 {
        let _ = s
            .web
            .sign_in_with_password("nobody", "whatever it is")
            .await;
    }
    let e = s
        .web
        .sign_in_with_password("nobody", "whatever it is")
        .await
        .expect_err("limited");
    assert!(matches!(e, ServiceError::RateLimited { .. }), "{e}");
}

#[test]
fn csrf_tokens_compare_in_constant_time_and_exactly() {
    assert!(same_token("abc", "abc"));
    assert!(!same_token("abc", "abd"));
    assert!(!same_token("abc", "abcd"));
    assert!(!same_token("", "a"));
}
