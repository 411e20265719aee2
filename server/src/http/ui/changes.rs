//! Changes: the list, recording one (CIs and a window; editors) and a change's page with its
//! impact and the other changes it conflicts with.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use serde::Deserialize;

use super::{Signed, UiError, check_form, render};
use crate::AppState;
use crate::changes::{ChangeReport, ChangeSummary, NewChange};
use crate::domain::auth::Role;
use crate::error::ServiceError;
use crate::web::Session;

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/ui/changes", get(list).post(create))
        .route("/ui/changes/new", get(new))
        .route("/ui/changes/{id}", get(one))
}

#[derive(Template)]
#[template(path = "changes.html")]
struct ListPage<'a> {
    session: Option<&'a Session>,
    nav: &'static str,
    can_edit: bool,
    changes: Vec<ChangeSummary>,
}

async fn list(
    State(state): State<Arc<AppState>>,
    Signed(session): Signed,
) -> Result<Response, UiError> {
    let changes = state.changes.list(Some(200)).await?;
    Ok(render(&ListPage {
        session: Some(&session),
        nav: "changes",
        can_edit: session.can_edit(),
        changes,
    }))
}

#[derive(Template)]
#[template(path = "change_new.html")]
struct NewPage<'a> {
    session: Option<&'a Session>,
    nav: &'static str,
    csrf: &'a str,
    title: String,
    cis: String,
    start: String,
    end: String,
    error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct NewForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    cis: String,
    #[serde(default)]
    start: String,
    #[serde(default)]
    end: String,
}

async fn new(
    Signed(session): Signed,
    form: Result<Query<NewForm>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, UiError> {
    session.require(Role::Editor)?;
    let Query(f) =
        form.map_err(|e| UiError::bad_request(format!("query string: {}", e.body_text())))?;
    Ok(render(&NewPage {
        session: Some(&session),
        nav: "changes",
        csrf: &session.csrf,
        title: f.title,
        cis: f.cis,
        start: f.start,
        end: f.end,
        error: None,
    }))
}

#[derive(Debug, Deserialize)]
struct CreateForm {
    csrf: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    cis: String,
    #[serde(default)]
    start: String,
    #[serde(default)]
    end: String,
}

/// A `datetime-local` value (`YYYY-MM-DDTHH:MM`, UTC on this form) as RFC 3339; anything
/// else is passed on for the service to judge.
fn rfc3339(v: &str) -> String {
    let v = v.trim();
    if chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M").is_ok() {
        format!("{v}:00Z")
    } else {
        v.to_string()
    }
}

async fn create(
    State(state): State<Arc<AppState>>,
    Signed(session): Signed,
    form: Result<Form<CreateForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, UiError> {
    let Form(f) = form.map_err(super::form_error)?;
    check_form(&session, &f.csrf, Role::Editor)?;
    let cis: Vec<String> = f
        .cis
        .split([',', '\n'])
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let result = state
        .changes
        .create(
            NewChange {
                title: f.title.clone(),
                cis,
                start: rfc3339(&f.start),
                end: rfc3339(&f.end),
            },
            &session.source,
        )
        .await;
    match result {
        Ok(report) => Ok(Redirect::to(&format!("/ui/changes/{}", report.id)).into_response()),
        // Show the form again with what was typed and the reason.
        Err(e @ (ServiceError::Invalid(_) | ServiceError::NotFound(_))) => {
            let status = super::status_of(&e);
            let page = NewPage {
                session: Some(&session),
                nav: "changes",
                csrf: &session.csrf,
                title: f.title,
                cis: f.cis,
                start: f.start,
                end: f.end,
                error: Some(e.to_string()),
            };
            Ok((status, render(&page)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "change.html")]
struct OnePage<'a> {
    session: Option<&'a Session>,
    nav: &'static str,
    c: ChangeReport,
    cis: Vec<(String, String)>,
}

async fn one(
    State(state): State<Arc<AppState>>,
    Signed(session): Signed,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let c = state.changes.get(&id).await?;
    let names = state.inventory.names(&c.cis).await?;
    let cis = c
        .cis
        .iter()
        .map(|k| {
            (
                k.clone(),
                names.get(k).map_or_else(|| k.clone(), |(n, _)| n.clone()),
            )
        })
        .collect();
    Ok(render(&OnePage {
        session: Some(&session),
        nav: "changes",
        c,
        cis,
    }))
}
