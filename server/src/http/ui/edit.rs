//! Editing for editors: manual CIs (business services, applications, redundancy groups with
//! `min_up`, …) created, edited and deleted; manual relationships added and removed from a
//! CI's page; CSV imports checked by a dry run before they are applied. Every form carries
//! the session's CSRF token and the role is checked again on every post.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use serde_json::Value;

use super::{CsrfOnly, Signed, UiError, check_form, form_error, render, safe_next, shown};
use crate::AppState;
use crate::domain::auth::Role;
use crate::error::ServiceError;
use crate::relationships::import::{ImportReport, parse_csv};
use crate::relationships::manual::{CiInput, NewRelationship};
use crate::web::Session;

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/ui/cis/new", get(new_ci).post(create_ci))
        .route("/ui/cis/{id}/edit", get(edit_form).post(edit_ci))
        .route("/ui/cis/{id}/delete", post(delete_ci))
        .route("/ui/relationships", post(create_relationship))
        .route("/ui/relationships/{id}/delete", post(delete_relationship))
        .route("/ui/import", get(import_form).post(import))
}

/// The CI form's fields, as typed.
#[derive(Debug, Default)]
pub struct CiFields {
    pub class: String,
    pub name: String,
    pub description: String,
    pub owner: String,
    pub min_up: String,
    pub core: bool,
}

#[derive(Template)]
#[template(path = "ci_form.html")]
struct CiFormPage<'a> {
    session: Option<&'a Session>,
    nav: &'static str,
    csrf: &'a str,
    heading: String,
    action: String,
    cancel: String,
    creating: bool,
    name_editable: bool,
    f: CiFields,
    error: Option<String>,
}

/// The typed fields as the service's input; empty optional fields are left out on create
/// and cleared on edit.
fn ci_input(f: &CiFields, creating: bool) -> Result<CiInput, ServiceError> {
    let opt = |s: &str| {
        let s = s.trim();
        (!s.is_empty()).then(|| s.to_string())
    };
    let min_up = match f.min_up.trim() {
        "" if creating => None,
        "" => Some(None),
        v => Some(Some(v.parse::<u32>().map_err(|_| {
            ServiceError::Invalid(format!("min_up: expected a whole number, got {v:?}"))
        })?)),
    };
    Ok(CiInput {
        class: creating.then(|| f.class.trim().to_string()),
        name: opt(&f.name),
        description: if creating {
            opt(&f.description)
        } else {
            Some(f.description.trim().to_string())
        },
        owner: if creating {
            opt(&f.owner)
        } else {
            Some(f.owner.trim().to_string())
        },
        min_up,
        core: Some(f.core),
        ..Default::default()
    })
}

async fn new_ci(Signed(session): Signed) -> Result<Response, UiError> {
    session.require(Role::Editor)?;
    Ok(render(&CiFormPage {
        session: Some(&session),
        nav: "cis",
        csrf: &session.csrf,
        heading: "New CI".into(),
        action: "/ui/cis/new".into(),
        cancel: "/ui/cis".into(),
        creating: true,
        name_editable: true,
        f: CiFields::default(),
        error: None,
    }))
}

/// The CI form as posted (no `#[serde(flatten)]`: form values are all strings, and a
/// flattened bool would not parse).
#[derive(Deserialize)]
struct CiPostRaw {
    csrf: String,
    #[serde(default)]
    class: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    owner: String,
    #[serde(default)]
    min_up: String,
    /// A checkbox: "true", or absent.
    #[serde(default)]
    core: Option<String>,
}

struct CiPost {
    csrf: String,
    f: CiFields,
}

impl From<CiPostRaw> for CiPost {
    fn from(r: CiPostRaw) -> Self {
        Self {
            csrf: r.csrf,
            f: CiFields {
                class: r.class,
                name: r.name,
                description: r.description,
                owner: r.owner,
                min_up: r.min_up,
                core: r.core.as_deref() == Some("true"),
            },
        }
    }
}

async fn create_ci(
    State(state): State<Arc<AppState>>,
    Signed(session): Signed,
    form: Result<Form<CiPostRaw>, axum::extract::rejection::FormRejection>,
) -> Result<Response, UiError> {
    let p = CiPost::from(form.map_err(form_error)?.0);
    check_form(&session, &p.csrf, Role::Editor)?;
    let result = match ci_input(&p.f, true) {
        Ok(input) => state.relationships.create_ci(input, &session.source).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(created) => Ok(Redirect::to(&format!("/ui/cis/{}", created.id)).into_response()),
        Err(e) => {
            let e = shown(e)?;
            let page = CiFormPage {
                session: Some(&session),
                nav: "cis",
                csrf: &session.csrf,
                heading: "New CI".into(),
                action: "/ui/cis/new".into(),
                cancel: "/ui/cis".into(),
                creating: true,
                name_editable: true,
                error: Some(e.to_string()),
                f: p.f,
            };
            Ok((super::status_of(&e), render(&page)).into_response())
        }
    }
}

async fn edit_form(
    State(state): State<Arc<AppState>>,
    Signed(session): Signed,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    session.require(Role::Editor)?;
    let ci = state.relationships.manual_fields_of(&id).await?;
    let s = |k: &str| ci.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let manual = s("identified_by") == "manual";
    let f = CiFields {
        class: s("class"),
        name: s("name"),
        description: s("description"),
        owner: s("owner"),
        min_up: ci
            .get("min_up")
            .and_then(Value::as_u64)
            .map(|n| n.to_string())
            .unwrap_or_default(),
        core: ci.get("core").and_then(Value::as_bool).unwrap_or(false),
    };
    Ok(render(&CiFormPage {
        session: Some(&session),
        nav: "cis",
        csrf: &session.csrf,
        heading: format!("Edit {}", f.name),
        action: format!("/ui/cis/{id}/edit"),
        cancel: format!("/ui/cis/{id}"),
        creating: false,
        name_editable: manual,
        f,
        error: None,
    }))
}

async fn edit_ci(
    State(state): State<Arc<AppState>>,
    Signed(session): Signed,
    Path(id): Path<String>,
    form: Result<Form<CiPostRaw>, axum::extract::rejection::FormRejection>,
) -> Result<Response, UiError> {
    let p = CiPost::from(form.map_err(form_error)?.0);
    check_form(&session, &p.csrf, Role::Editor)?;
    let result = match ci_input(&p.f, false) {
        Ok(input) => {
            state
                .relationships
                .edit_ci(&id, input, &session.source)
                .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/ui/cis/{id}")).into_response()),
        Err(e) => {
            let e = shown(e)?;
            let page = CiFormPage {
                session: Some(&session),
                nav: "cis",
                csrf: &session.csrf,
                heading: "Edit CI".into(),
                action: format!("/ui/cis/{id}/edit"),
                cancel: format!("/ui/cis/{id}"),
                creating: false,
                name_editable: !p.f.name.is_empty(),
                error: Some(e.to_string()),
                f: p.f,
            };
            Ok((super::status_of(&e), render(&page)).into_response())
        }
    }
}

async fn delete_ci(
    State(state): State<Arc<AppState>>,
    Signed(session): Signed,
    Path(id): Path<String>,
    form: Result<Form<CsrfOnly>, axum::extract::rejection::FormRejection>,
) -> Result<Response, UiError> {
    let Form(f) = form.map_err(form_error)?;
    check_form(&session, &f.csrf, Role::Editor)?;
    state.relationships.delete_ci(&id, &session.source).await?;
    Ok(Redirect::to("/ui/cis").into_response())
}

#[derive(Deserialize)]
struct RelPost {
    csrf: String,
    from: String,
    kind: String,
    /// A CI id, or a name the impact service resolves.
    to: String,
    #[serde(default)]
    note: String,
}

async fn create_relationship(
    State(state): State<Arc<AppState>>,
    Signed(session): Signed,
    form: Result<Form<RelPost>, axum::extract::rejection::FormRejection>,
) -> Result<Response, UiError> {
    let Form(f) = form.map_err(form_error)?;
    check_form(&session, &f.csrf, Role::Editor)?;
    let to = state
        .impact
        .resolve(std::slice::from_ref(&f.to), "to")
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| UiError::bad_request("to: give a CI"))?;
    let note = f.note.trim();
    state
        .relationships
        .create_relationship(
            NewRelationship {
                from: f.from.clone(),
                to,
                kind: f.kind,
                note: (!note.is_empty()).then(|| note.to_string()),
                evidence: None,
            },
            &session.source,
        )
        .await?;
    Ok(Redirect::to(&format!("/ui/cis/{}", super::urlencode(&f.from))).into_response())
}

async fn delete_relationship(
    State(state): State<Arc<AppState>>,
    Signed(session): Signed,
    Path(id): Path<String>,
    form: Result<Form<CsrfOnly>, axum::extract::rejection::FormRejection>,
) -> Result<Response, UiError> {
    let Form(f) = form.map_err(form_error)?;
    check_form(&session, &f.csrf, Role::Editor)?;
    state
        .relationships
        .delete_relationship(&id, &session.source)
        .await?;
    Ok(Redirect::to(&safe_next(&f.back)).into_response())
}

#[derive(Template)]
#[template(path = "import.html")]
struct ImportPage<'a> {
    session: Option<&'a Session>,
    nav: &'static str,
    csrf: &'a str,
    what: String,
    csv: String,
    report: Option<ImportReport>,
    error: Option<String>,
}

async fn import_form(Signed(session): Signed) -> Result<Response, UiError> {
    session.require(Role::Editor)?;
    Ok(render(&ImportPage {
        session: Some(&session),
        nav: "cis",
        csrf: &session.csrf,
        what: "cis".into(),
        csv: String::new(),
        report: None,
        error: None,
    }))
}

#[derive(Deserialize, Default)]
struct ImportPost {
    csrf: String,
    what: String,
    /// Pasted text; a chosen file (multipart form) takes its place.
    #[serde(default)]
    csv: String,
    /// Absent: a dry run; "true": apply.
    #[serde(default)]
    apply: Option<String>,
}

/// The import form as posted: urlencoded (the "apply" form, or the form with JavaScript's
/// help), or multipart when a file was chosen. A file's text replaces the pasted text.
async fn import_post(req: axum::extract::Request) -> Result<ImportPost, UiError> {
    use axum::extract::FromRequest;
    let multipart = req
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if !multipart {
        let Form(f) = Form::<ImportPost>::from_request(req, &())
            .await
            .map_err(form_error)?;
        return Ok(f);
    }
    let bad = |m: String| UiError::bad_request(m);
    let mut parts = axum_extra::extract::Multipart::from_request(req, &())
        .await
        .map_err(|e| bad(format!("form: {}", e.body_text())))?;
    let mut f = ImportPost::default();
    let mut file: Option<String> = None;
    while let Some(field) = parts
        .next_field()
        .await
        .map_err(|e| bad(format!("form: {}", e.body_text())))?
    {
        let name = field.name().unwrap_or_default().to_string();
        let bytes = field
            .bytes()
            .await
            .map_err(|e| bad(format!("{name}: {}", e.body_text())))?;
        let text = || {
            String::from_utf8(bytes.to_vec()).map_err(|_| bad(format!("{name}: not UTF-8 text")))
        };
        match name.as_str() {
            "csrf" => f.csrf = text()?,
            "what" => f.what = text()?,
            "csv" => f.csv = text()?,
            "apply" => f.apply = Some(text()?),
            // A file input left empty still sends its part, with no bytes.
            "file" if !bytes.is_empty() => file = Some(text()?),
            "file" => {}
            other => return Err(bad(format!("form: unknown field {other:?}"))),
        }
    }
    if let Some(text) = file {
        f.csv = text;
    }
    Ok(f)
}

async fn import(
    State(state): State<Arc<AppState>>,
    Signed(session): Signed,
    req: axum::extract::Request,
) -> Result<Response, UiError> {
    // The role before the body is read.
    session.require(Role::Editor)?;
    let f = import_post(req).await?;
    check_form(&session, &f.csrf, Role::Editor)?;
    if f.csv.trim().is_empty() {
        return Err(UiError::bad_request(
            "csv: paste the CSV or choose a file".to_string(),
        ));
    }
    let apply = f.apply.as_deref() == Some("true");
    let result = match parse_csv(f.csv.as_bytes(), &f.what) {
        Ok(bundle) => {
            state
                .relationships
                .import(
                    &bundle,
                    !apply,
                    state.config.limits.max_list_items,
                    &session.source,
                )
                .await
        }
        Err(e) => Err(e),
    };
    let (report, error, status) = match result {
        Ok(r) => (Some(r), None, axum::http::StatusCode::OK),
        Err(e) => {
            let e = shown(e)?;
            (None, Some(e.to_string()), super::status_of(&e))
        }
    };
    let page = ImportPage {
        session: Some(&session),
        nav: "cis",
        csrf: &session.csrf,
        what: f.what,
        csv: f.csv,
        report,
        error,
    };
    Ok((status, render(&page)).into_response())
}
