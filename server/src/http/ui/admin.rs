//! Agents (everyone reads; admins revoke a credential) and administration (admins): users
//! and API/enrollment tokens. Every action is a form post with the session's CSRF token.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::{CsrfOnly, Signed, UiError, check_form, form_error, render, shown};
use crate::AppState;
use crate::access::{CreatedToken, NewToken, TokenInfo};
use crate::domain::auth::Role;
use crate::error::ServiceError;
use crate::web::{MIN_PASSWORD_CHARS, Session, UserInfo};

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/ui/agents", get(agents))
        .route("/ui/agents/{id}/revoke", post(revoke_agent))
        .route("/ui/admin", get(admin))
        .route("/ui/admin/users", post(create_user))
        .route("/ui/admin/users/{id}", post(set_user))
        .route("/ui/admin/tokens", post(create_token))
        .route("/ui/admin/tokens/{id}/revoke", post(revoke_token))
}

/// An agent as the page shows it.
pub struct AgentRow {
    pub id: String,
    pub hostname: String,
    pub version: String,
    pub enrolled_at: String,
    pub last_seen: String,
    pub ci: Option<String>,
    /// (badge class, text)
    pub health: Vec<(&'static str, String)>,
    pub credential: String,
    pub revocable: bool,
}

#[derive(Template)]
#[template(path = "agents.html")]
struct AgentsPage<'a> {
    session: Option<&'a Session>,
    nav: &'static str,
    admin: bool,
    csrf: &'a str,
    silent: usize,
    agents: Vec<AgentRow>,
}

async fn agents(
    State(state): State<Arc<AppState>>,
    Signed(session): Signed,
) -> Result<Response, UiError> {
    let (_, silent) = state
        .access
        .silent_agents(state.config.lifecycle.stale_after_secs)
        .await?;
    let silent_ids: std::collections::HashSet<String> =
        silent.into_iter().map(|a| a.agent.key).collect();
    let mut rows: Vec<AgentRow> = state
        .access
        .agents()
        .await?
        .into_iter()
        .map(|a| {
            let mut health = Vec::new();
            if silent_ids.contains(&a.agent.key) {
                health.push(("warn", "not reporting".to_string()));
            } else {
                health.push(("ok", "reporting".to_string()));
            }
            if a.agent.spool_dropped > 0 {
                health.push((
                    "bad",
                    format!(
                        "{} reports dropped from a full spool",
                        a.agent.spool_dropped
                    ),
                ));
            }
            let (credential, revocable) = match &a.credential {
                None => ("none".to_string(), false),
                Some(c) if c.revoked => ("revoked".to_string(), false),
                Some(c) if c.expired => ("expired".to_string(), false),
                Some(c) => (
                    c.expires_at
                        .as_ref()
                        .map_or_else(|| "valid".to_string(), |e| format!("valid until {e}")),
                    true,
                ),
            };
            AgentRow {
                id: a.agent.key,
                hostname: a.agent.hostname,
                version: a.agent.agent_version,
                enrolled_at: a.agent.enrolled_at,
                last_seen: a.agent.last_seen.unwrap_or_else(|| "never".into()),
                ci: a.agent.ci,
                health,
                credential,
                revocable,
            }
        })
        .collect();
    rows.sort_by(|a, b| a.hostname.cmp(&b.hostname));
    Ok(render(&AgentsPage {
        session: Some(&session),
        nav: "agents",
        admin: session.is_admin(),
        csrf: &session.csrf,
        silent: silent_ids.len(),
        agents: rows,
    }))
}

async fn revoke_agent(
    State(state): State<Arc<AppState>>,
    Signed(session): Signed,
    Path(id): Path<String>,
    form: Result<Form<CsrfOnly>, axum::extract::rejection::FormRejection>,
) -> Result<Response, UiError> {
    let Form(f) = form.map_err(form_error)?;
    check_form(&session, &f.csrf, Role::Admin)?;
    state.access.revoke_agent(&id).await?;
    Ok(Redirect::to("/ui/agents").into_response())
}

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage<'a> {
    session: Option<&'a Session>,
    nav: &'static str,
    csrf: &'a str,
    users: Vec<UserInfo>,
    tokens: Vec<TokenInfo>,
    created: Option<CreatedToken>,
    error: Option<String>,
    min_password: usize,
}

async fn admin_page(
    state: &AppState,
    session: &Session,
    created: Option<CreatedToken>,
    error: Option<ServiceError>,
) -> Result<Response, UiError> {
    session.require(Role::Admin)?;
    let status = error.as_ref().map_or(StatusCode::OK, super::status_of);
    let page = AdminPage {
        session: Some(session),
        nav: "admin",
        csrf: &session.csrf,
        users: state.web.users().await?,
        tokens: state.access.tokens().await?,
        created,
        error: error.map(|e| e.to_string()),
        min_password: MIN_PASSWORD_CHARS,
    };
    Ok((status, render(&page)).into_response())
}

async fn admin(
    State(state): State<Arc<AppState>>,
    Signed(session): Signed,
) -> Result<Response, UiError> {
    admin_page(&state, &session, None, None).await
}

#[derive(Deserialize)]
struct NewUserForm {
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    role: String,
}

async fn create_user(
    State(state): State<Arc<AppState>>,
    Signed(session): Signed,
    form: Result<Form<NewUserForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, UiError> {
    let Form(f) = form.map_err(form_error)?;
    check_form(&session, &f.csrf, Role::Admin)?;
    match state.web.create_user(&f.name, &f.password, &f.role).await {
        Ok(_) => Ok(Redirect::to("/ui/admin").into_response()),
        Err(e) => admin_page(&state, &session, None, Some(shown(e)?)).await,
    }
}

#[derive(Deserialize)]
struct SetUserForm {
    csrf: String,
    disabled: String,
}

async fn set_user(
    State(state): State<Arc<AppState>>,
    Signed(session): Signed,
    Path(id): Path<String>,
    form: Result<Form<SetUserForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, UiError> {
    let Form(f) = form.map_err(form_error)?;
    check_form(&session, &f.csrf, Role::Admin)?;
    let disabled = match f.disabled.as_str() {
        "true" => true,
        "false" => false,
        other => {
            return Err(UiError::bad_request(format!(
                "disabled: expected true or false, got {other:?}"
            )));
        }
    };
    state.web.set_disabled(&id, disabled).await?;
    Ok(Redirect::to("/ui/admin").into_response())
}

#[derive(Deserialize)]
struct NewTokenForm {
    csrf: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    expires_in_days: String,
    #[serde(default)]
    max_uses: String,
}

/// An optional whole number from a form field.
fn number(field: &str, v: &str) -> Result<Option<u64>, ServiceError> {
    let v = v.trim();
    if v.is_empty() {
        return Ok(None);
    }
    v.parse()
        .map(Some)
        .map_err(|_| ServiceError::Invalid(format!("{field}: expected a whole number, got {v:?}")))
}

async fn create_token(
    State(state): State<Arc<AppState>>,
    Signed(session): Signed,
    form: Result<Form<NewTokenForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, UiError> {
    let Form(f) = form.map_err(form_error)?;
    check_form(&session, &f.csrf, Role::Admin)?;
    let made = async {
        let days = number("expires_in_days", &f.expires_in_days)?;
        let req = NewToken {
            role: f.role.clone(),
            description: f.description.clone(),
            expires_in_secs: days
                .map(|d| {
                    d.checked_mul(86_400)
                        .ok_or_else(|| ServiceError::Invalid("expires_in_days: too large".into()))
                })
                .transpose()?,
            max_uses: number("max_uses", &f.max_uses)?,
            ..Default::default()
        };
        state.access.create_token(&req).await
    }
    .await;
    match made {
        // The secret is shown once, on this answer (not a redirect, which would lose it).
        Ok(created) => admin_page(&state, &session, Some(created), None).await,
        Err(e) => admin_page(&state, &session, None, Some(shown(e)?)).await,
    }
}

async fn revoke_token(
    State(state): State<Arc<AppState>>,
    Signed(session): Signed,
    Path(id): Path<String>,
    form: Result<Form<CsrfOnly>, axum::extract::rejection::FormRejection>,
) -> Result<Response, UiError> {
    let Form(f) = form.map_err(form_error)?;
    check_form(&session, &f.csrf, Role::Admin)?;
    match state.access.revoke(&id).await {
        Ok(()) => Ok(Redirect::to("/ui/admin").into_response()),
        Err(e) => admin_page(&state, &session, None, Some(shown(e)?)).await,
    }
}
