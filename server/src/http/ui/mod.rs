//! The web UI's handlers: server-rendered HTML (askama templates, checked at compile time,
//! every value HTML-escaped), forms that post and links that navigate, so every page works
//! with JavaScript off; a vendored htmx only makes some of them nicer. Each page module has
//! its `router()`; this one holds the session extractors, the CSRF check, the error page and
//! the static assets.

pub mod admin;
pub mod changes;
pub mod cis;
pub mod dashboard;
pub mod edit;
pub mod impact;
pub mod reports;
pub mod session;

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum_extra::extract::CookieJar;

use crate::AppState;
use crate::domain::auth::Role;
use crate::error::ServiceError;
use crate::web::Session;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "cmdb_session";

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/") }))
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/assets/{name}", get(asset))
        .merge(session::router())
        .merge(dashboard::router())
        .merge(cis::router())
        .merge(changes::router())
        .merge(admin::router())
        .merge(edit::router())
        .merge(reports::router())
        .merge(impact::router())
        .layer(axum::middleware::map_response(page_headers))
}

/// Headers on every UI answer: scripts, styles and images from this server only (no inline
/// script can run, even if a string escaped escaping), no framing, no MIME sniffing, no
/// referrer beyond this site, and no caching of pages that show the CMDB.
async fn page_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// A page's failure, shown as an HTML page with its status.
#[derive(Debug)]
pub struct UiError {
    status: StatusCode,
    message: String,
    /// Not signed in (or the session ended): back to the sign-in page.
    sign_in: Option<String>,
}

impl UiError {
    /// What went wrong, as the error page says it.
    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            sign_in: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

/// The HTTP status a service error is shown with.
pub fn status_of(e: &ServiceError) -> StatusCode {
    match e {
        ServiceError::Invalid(_) => StatusCode::BAD_REQUEST,
        ServiceError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        ServiceError::Forbidden(_) => StatusCode::FORBIDDEN,
        ServiceError::NotFound(_) => StatusCode::NOT_FOUND,
        ServiceError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
        ServiceError::NotYet(_) | ServiceError::Conflict(_) => StatusCode::CONFLICT,
        ServiceError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        ServiceError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        ServiceError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<ServiceError> for UiError {
    fn from(e: ServiceError) -> Self {
        if let ServiceError::Storage(_) = &e {
            tracing::error!(error = %e, source = ?std::error::Error::source(&e), "page failed");
            return Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
        }
        Self::new(status_of(&e), e.to_string())
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    session: Option<&'a Session>,
    nav: &'static str,
    status: String,
    message: &'a str,
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        if let Some(next) = self.sign_in {
            let to = format!("/ui/sign-in?next={}", urlencode(&next));
            return Redirect::to(&to).into_response();
        }
        let page = ErrorPage {
            session: None,
            nav: "",
            status: format!(
                "{} {}",
                self.status.as_u16(),
                self.status.canonical_reason().unwrap_or("")
            ),
            message: &self.message,
        };
        let mut resp = (self.status, render(&page)).into_response();
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
        }
        resp
    }
}

/// A template as an HTML response (a 500 if it cannot render, which askama's compile-time
/// checks make a bug, not an input).
pub fn render<T: Template>(t: &T) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// Percent-encodes a query-string value.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The signed-in user of a page request; without a live session, a redirect to the sign-in
/// page that comes back here.
pub struct Signed(pub Session);

impl FromRequestParts<Arc<AppState>> for Signed {
    type Rejection = UiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_headers(&parts.headers);
        let session = match jar.get(SESSION_COOKIE) {
            Some(c) => state.web.session(c.value()).await?,
            None => None,
        };
        match session {
            Some(s) => Ok(Self(s)),
            None => {
                let here = parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_else(|| "/ui/".into());
                // A form posted with an expired session comes back to its page, not to the
                // form's action.
                let next = if parts.method == axum::http::Method::GET {
                    here
                } else {
                    "/ui/".into()
                };
                Err(UiError {
                    status: StatusCode::SEE_OTHER,
                    message: String::new(),
                    sign_in: Some(next),
                })
            }
        }
    }
}

/// Checks a posted form's CSRF token against the session's, and the role.
pub fn check_form(session: &Session, csrf: &str, role: Role) -> Result<(), UiError> {
    if !crate::web::same_token(csrf, &session.csrf) {
        return Err(UiError::new(
            StatusCode::FORBIDDEN,
            "the form's CSRF token does not match your session: reload the page and try again",
        ));
    }
    session.require(role)?;
    Ok(())
}

/// A 400 page for a form that does not parse.
/// A form that is only a button (revoke, delete): its CSRF token, and where to go back to.
#[derive(serde::Deserialize)]
pub struct CsrfOnly {
    pub csrf: String,
    #[serde(default)]
    pub back: String,
}

pub fn form_error(e: axum::extract::rejection::FormRejection) -> UiError {
    UiError::bad_request(format!("form: {}", e.body_text()))
}

/// A refusal a form page shows beside what was typed; storage failures stay errors.
pub fn shown(e: ServiceError) -> Result<ServiceError, UiError> {
    match e {
        ServiceError::Storage(_) | ServiceError::Unavailable(_) => Err(e.into()),
        other => Ok(other),
    }
}

/// A `next` target that stays on this site's UI (no open redirect).
pub fn safe_next(next: &str) -> String {
    if next.starts_with("/ui/") && !next.starts_with("//") && !next.contains('\\') {
        next.to_string()
    } else {
        "/ui/".into()
    }
}

/// The UI's static files, compiled in: no CDN, nothing to install.
async fn asset(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    let (body, kind): (&'static [u8], &str) = match name.as_str() {
        "app.css" => (
            include_bytes!("../../../assets/app.css"),
            "text/css; charset=utf-8",
        ),
        "htmx.min.js" => (
            include_bytes!("../../../assets/htmx.min.js"),
            "text/javascript; charset=utf-8",
        ),
        _ => return UiError::new(StatusCode::NOT_FOUND, "no such asset").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}
