//! Signing in and out. The sign-in form carries a login CSRF token in a cookie of its own
//! (double submit: there is no session yet); the session cookie is HttpOnly, SameSite=Strict
//! and, under TLS, Secure.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use serde::Deserialize;

use super::{SESSION_COOKIE, UiError, render, safe_next};
use crate::AppState;
use crate::error::ServiceError;
use crate::web::Session;

/// The login CSRF cookie.
const LOGIN_COOKIE: &str = "cmdb_login";

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/ui/sign-in", get(page).post(sign_in))
        .route("/ui/sign-out", post(sign_out))
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage<'a> {
    session: Option<&'a Session>,
    nav: &'static str,
    csrf: String,
    next: String,
    error: Option<String>,
}

#[derive(Deserialize)]
struct NextParam {
    next: Option<String>,
}

fn cookie(state: &AppState, name: &'static str, value: String) -> Cookie<'static> {
    let mut c = Cookie::new(name, value);
    c.set_http_only(true);
    c.set_same_site(SameSite::Strict);
    c.set_secure(state.config.tls.enabled);
    c.set_path("/");
    c
}

fn login_token() -> String {
    let mut b = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut b);
    hex::encode(b)
}

fn form_page(
    state: &AppState,
    jar: CookieJar,
    next: String,
    error: Option<String>,
    status: axum::http::StatusCode,
) -> Response {
    let csrf = login_token();
    let jar = jar.add(cookie(state, LOGIN_COOKIE, csrf.clone()));
    let page = SignInPage {
        session: None,
        nav: "",
        csrf,
        next,
        error,
    };
    (status, jar, render(&page)).into_response()
}

async fn page(
    State(state): State<Arc<AppState>>,
    jar: CookieJar,
    Query(p): Query<NextParam>,
) -> Response {
    let next = safe_next(p.next.as_deref().unwrap_or("/ui/"));
    form_page(&state, jar, next, None, axum::http::StatusCode::OK)
}

#[derive(Deserialize)]
struct SignInForm {
    csrf: String,
    #[serde(default)]
    next: String,
    method: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    token: String,
}

async fn sign_in(
    State(state): State<Arc<AppState>>,
    jar: CookieJar,
    form: Result<Form<SignInForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(f)) = form else {
        return UiError::bad_request("the sign-in form is incomplete").into_response();
    };
    let next = safe_next(&f.next);
    let expected = jar.get(LOGIN_COOKIE).map(|c| c.value().to_string());
    if !expected.is_some_and(|e| crate::web::same_token(&e, &f.csrf)) {
        return form_page(
            &state,
            jar,
            next,
            Some("The form expired: sign in again.".into()),
            axum::http::StatusCode::FORBIDDEN,
        );
    }
    let opened = match f.method.as_str() {
        "password" => state.web.sign_in_with_password(&f.name, &f.password).await,
        "token" => state.web.sign_in_with_token(&f.token).await,
        _ => Err(ServiceError::Invalid(
            "method: expected password or token".into(),
        )),
    };
    match opened {
        Ok(value) => {
            let jar = jar
                .remove(Cookie::build(LOGIN_COOKIE).path("/"))
                .add(cookie(&state, SESSION_COOKIE, value));
            (jar, Redirect::to(&next)).into_response()
        }
        Err(e @ (ServiceError::Storage(_) | ServiceError::Unavailable(_))) => {
            UiError::from(e).into_response()
        }
        Err(e) => {
            let status = super::status_of(&e);
            form_page(&state, jar, next, Some(e.to_string()), status)
        }
    }
}

#[derive(Deserialize)]
struct SignOutForm {
    csrf: String,
}

async fn sign_out(
    State(state): State<Arc<AppState>>,
    jar: CookieJar,
    super::Signed(session): super::Signed,
    form: Result<Form<SignOutForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, UiError> {
    let Ok(Form(f)) = form else {
        return Err(UiError::bad_request("the form is incomplete"));
    };
    super::check_form(&session, &f.csrf, crate::domain::auth::Role::Viewer)?;
    if let Some(c) = jar.get(SESSION_COOKIE) {
        state.web.sign_out(c.value()).await?;
    }
    let jar = jar.remove(Cookie::build(SESSION_COOKIE).path("/"));
    Ok((jar, Redirect::to("/ui/sign-in")).into_response())
}
