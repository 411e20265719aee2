//! The web UI over the in-process router: sign-in and its cookies, CSRF, sessions ending,
//! roles, and hostile strings from agents escaped on every page.

use super::*;

/// A UI response: status, headers and body text.
pub(super) struct Page {
    pub(super) status: StatusCode,
    pub(super) headers: axum::http::HeaderMap,
    pub(super) body: String,
}

impl Page {
    pub(super) fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The value a `Set-Cookie` gives `name`, with the whole header.
    pub(super) fn cookie(&self, name: &str) -> Option<(String, String)> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(|v| {
                let value = v[name.len() + 1..]
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .to_string();
                (value, v.to_string())
            })
    }

    /// The value of the hidden `csrf` input of the page's first form.
    pub(super) fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"csrf\" value=\"")
            .expect("a csrf field");
        let rest = &self.body[at + "name=\"csrf\" value=\"".len()..];
        rest[..rest.find('"').expect("end")].to_string()
    }
}

pub(super) async fn fetch(
    app: &App,
    method: &str,
    uri: &str,
    cookies: &[(&str, &str)],
    form: Option<&str>,
) -> Page {
    let mut req = Request::builder().method(method).uri(uri);
    let cookie = cookies
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    if !cookie.is_empty() {
        req = req.header("cookie", cookie);
    }
    if form.is_some() {
        req = req.header("content-type", "application/x-www-form-urlencoded");
    }
    let req = req
        .body(
            form.map(|f| Body::from(f.to_string()))
                .unwrap_or_else(Body::empty),
        )
        .expect("request");
    send_page(app, req).await
}

/// Sends a request built by hand to the UI; its answer as a [`Page`].
pub(super) async fn send_page(app: &App, req: Request<Body>) -> Page {
    let res = crate::app(app.state.clone())
        .oneshot(req)
        .await
        .expect("response");
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    Page {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into(),
    }
}

/// Opens the sign-in form and posts it with `fields` after its CSRF token: the form page
/// and the answer.
pub(super) async fn post_sign_in(app: &App, fields: &str) -> (Page, Page) {
    let form = fetch(app, "GET", "/ui/sign-in", &[], None).await;
    let (login, _) = form.cookie("cmdb_login").expect("login cookie");
    let done = fetch(
        app,
        "POST",
        "/ui/sign-in",
        &[("cmdb_login", &login)],
        Some(&format!("csrf={}&{fields}", form.csrf())),
    )
    .await;
    (form, done)
}

/// Signs in with an API token through the form; the session cookie's value.
pub(super) async fn sign_in(app: &App, token: &str) -> String {
    let (_, done) = post_sign_in(
        app,
        &format!(
            "next=%2Fui%2Fcis&method=token&token={}",
            crate::http::ui::urlencode(token)
        ),
    )
    .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.location(), "/ui/cis");
    done.cookie("cmdb_session").expect("session cookie").0
}

#[tokio::test]
async fn pages_need_a_session_and_the_sign_in_sets_a_strict_http_only_cookie() {
    let app = app().await;
    let p = fetch(&app, "GET", "/ui/cis?q=x", &[], None).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert_eq!(p.location(), "/ui/sign-in?next=/ui/cis%3Fq%3Dx");
    let root = fetch(&app, "GET", "/", &[], None).await;
    assert_eq!(root.location(), "/ui/");

    let form = fetch(
        &app,
        "GET",
        "/ui/sign-in?next=https://evil.example/",
        &[],
        None,
    )
    .await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(
        form.body.contains("name=\"next\" value=\"/ui/\""),
        "no open redirect"
    );
    let (_, login_header) = form.cookie("cmdb_login").expect("login cookie");
    assert!(login_header.contains("HttpOnly") && login_header.contains("SameSite=Strict"));
    let csp = form.headers["content-security-policy"]
        .to_str()
        .expect("csp");
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));

    let session = sign_in(&app, &app.viewer_token).await;
    let p = fetch(&app, "GET", "/ui/cis", &[("cmdb_session", &session)], None).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(p.body.contains("Configuration items"));
    assert_eq!(p.headers["cache-control"], "no-store");

    // The cookie's flags, from a fresh sign-in.
    let (_, done) = post_sign_in(&app, &format!("method=token&token={}", app.viewer_token)).await;
    let (_, header) = done.cookie("cmdb_session").expect("session");
    assert!(header.contains("HttpOnly"), "{header}");
    assert!(header.contains("SameSite=Strict"), "{header}");
    assert!(header.contains("Path=/"), "{header}");
    assert!(
        !header.contains("Secure"),
        "plain HTTP in this test: {header}"
    );
}

#[tokio::test]
async fn under_tls_the_session_cookie_is_secure() {
    let app = app().await;
    let mut config = (*app.state.config).clone();
    config.tls.enabled = true;
    let state = AppState::new(config, app.store.clone())
        .await
        .expect("state");
    let tls_app = App {
        state,
        store: app.store.clone(),
        agent_token: app.agent_token.clone(),
        viewer_token: app.viewer_token.clone(),
    };
    let (form, done) = post_sign_in(
        &tls_app,
        &format!("method=token&token={}", app.viewer_token),
    )
    .await;
    let (_, header) = form.cookie("cmdb_login").expect("login");
    assert!(header.contains("Secure"), "{header}");
    let (_, header) = done.cookie("cmdb_session").expect("session");
    assert!(header.contains("Secure"), "{header}");
}

#[tokio::test]
async fn forms_without_the_right_csrf_token_are_refused_and_change_nothing() {
    let app = app().await;
    // Sign-in: the login cookie and the form must agree.
    let form = fetch(&app, "GET", "/ui/sign-in", &[], None).await;
    let (login, _) = form.cookie("cmdb_login").expect("login");
    let refused = fetch(
        &app,
        "POST",
        "/ui/sign-in",
        &[("cmdb_login", &login)],
        Some(&format!(
            "csrf=forged&method=token&token={}",
            app.viewer_token
        )),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.cookie("cmdb_session").is_none());
    let refused = fetch(
        &app,
        "POST",
        "/ui/sign-in",
        &[],
        Some(&format!(
            "csrf={}&method=token&token={}",
            form.csrf(),
            app.viewer_token
        )),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "no login cookie");

    // Sign-out: a forged form leaves the session alive.
    let session = sign_in(&app, &app.viewer_token).await;
    let refused = fetch(
        &app,
        "POST",
        "/ui/sign-out",
        &[("cmdb_session", &session)],
        Some("csrf=forged"),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    let page = fetch(&app, "GET", "/ui/", &[("cmdb_session", &session)], None).await;
    assert_eq!(page.status, StatusCode::OK);
    let out = fetch(
        &app,
        "POST",
        "/ui/sign-out",
        &[("cmdb_session", &session)],
        Some(&format!("csrf={}", page.csrf())),
    )
    .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let after = fetch(&app, "GET", "/ui/", &[("cmdb_session", &session)], None).await;
    assert_eq!(after.status, StatusCode::SEE_OTHER, "signed out");
}

#[tokio::test]
async fn a_wrong_token_or_an_agent_token_does_not_sign_in() {
    let app = app().await;
    for (token, want) in [
        ("cmdb_viewer_wrong", StatusCode::UNAUTHORIZED),
        (app.agent_token.as_str(), StatusCode::FORBIDDEN),
    ] {
        let (_, p) = post_sign_in(&app, &format!("method=token&token={token}")).await;
        assert_eq!(p.status, want, "{}", p.body);
        assert!(p.cookie("cmdb_session").is_none());
        assert!(p.body.contains("role=\"alert\""), "the reason is shown");
    }
}

/// A host report whose hostname and package carry markup.
pub(super) fn hostile_report() -> Value {
    let inventory = json!({
        "identity": {"hostname": "<script>alert(1)</script>", "machine_id": "0123456789abcdef0123456789abcdef"},
        "os": {"id": "debian", "name": "\"><svg onload=alert(2)>", "version_id": "12"},
    });
    let hashes = cmdb_shared::hash::inventory_hashes(
        &serde_json::from_value(inventory.clone()).expect("inventory"),
    );
    json!({
        "schema_version": cmdb_shared::SCHEMA_VERSION,
        "report_id": "0000000000000001-000000-ui",
        "kind": "full",
        "agent_version": "test",
        "collected_at": "2026-12-01T00:00:00Z",
        "section_hashes": hashes,
        "inventory": inventory,
        "errors": [],
    })
}

/// The test agent's host, reported with [`hostile_report`]; its CI id.
pub(super) async fn hostile_host(app: &App) -> String {
    let (s, v) = app
        .send(
            "POST",
            "/api/v1/reports",
            &app.agent_token,
            Some(hostile_report().to_string()),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["ci_id"].as_str().expect("ci").to_string()
}

#[tokio::test]
async fn markup_reported_by_an_agent_is_escaped_on_every_page() {
    let app = app().await;
    let ci = hostile_host(&app).await;
    let session = sign_in(&app, &app.viewer_token).await;
    for path in [
        "/ui/".to_string(),
        "/ui/cis".to_string(),
        "/ui/cis?q=script".to_string(),
        format!("/ui/cis/{ci}"),
    ] {
        let p = fetch(&app, "GET", &path, &[("cmdb_session", &session)], None).await;
        assert_eq!(p.status, StatusCode::OK, "{path}: {}", p.body);
        assert!(!p.body.contains("<script>alert"), "{path}: raw script tag");
        assert!(!p.body.contains("<svg onload"), "{path}: raw svg tag");
        if path != "/ui/" {
            assert!(
                p.body.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
                "{path}: the name is shown, escaped: {}",
                p.body
            );
        }
    }
}

#[tokio::test]
async fn a_device_page_shows_its_interfaces_and_neighbours_with_their_markup_escaped() {
    let app = app().await;
    let mut report = device_report();
    let inv = &mut report["inventory"];
    inv["system"]["descr"] = json!("<script>alert(3)</script>");
    inv["interfaces"][0]["alias"] = json!("<b onmouseover=alert(4)>uplink</b>");
    inv["lldp_neighbors"][0]["system_name"] = json!("\"><svg onload=alert(5)>");
    inv["lldp_neighbors"][0]["port_description"] = json!("'><img src=x onerror=alert(6)>");
    let (status, ack) = app.post_device(&report).await;
    assert_eq!(status, StatusCode::OK, "{ack}");
    let ci = ack["ci_id"].as_str().expect("ci").to_string();
    let session = sign_in(&app, &app.viewer_token).await;
    let p = fetch(
        &app,
        "GET",
        &format!("/ui/cis/{ci}"),
        &[("cmdb_session", &session)],
        None,
    )
    .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    let device = &p.body[p.body.find("id=\"h-device\"").expect("device section")..];
    assert!(
        device.contains("1 interfaces, 1 neighbours, 1 forwarding entries, 1 ARP entries"),
        "{device}"
    );
    assert!(device.contains("<td>Gi1/0/1</td>"), "the interface row");
    for raw in [
        "<script>alert",
        "<svg onload",
        "<b onmouseover",
        "<img src=x",
        "'><img",
    ] {
        assert!(!p.body.contains(raw), "raw {raw:?} on the device page");
    }
    for escaped in [
        "&#34;&#62;&#60;svg onload=alert(5)&#62;",
        "&#39;&#62;&#60;img src=x onerror=alert(6)&#62;",
        "&#60;b onmouseover=alert(4)&#62;uplink&#60;/b&#62;",
        "&#60;script&#62;alert(3)&#60;/script&#62;",
    ] {
        assert!(p.body.contains(escaped), "{escaped} shown escaped");
    }
    // The interfaces are a table, not hundreds of attribute rows.
    assert!(!p.body.contains("device.interfaces"), "{}", p.body);
}

#[tokio::test]
async fn a_report_that_fails_leaves_the_rest_of_the_dashboard_readable() {
    let app = app().await;
    hostile_host(&app).await;
    // A daily rollup block that does not decode: the capacity report fails on it.
    app.store
        .raw(
            "CREATE series_daily SET ci = 'nope', n = 'cpu.util', i = '', d = <bytes>'not a block'",
        )
        .await
        .expect("corrupt block");
    let (status, _) = app
        .send("GET", "/api/v1/reports/capacity", &app.viewer_token, None)
        .await;
    assert_eq!(
        status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "the report itself fails"
    );
    let session = sign_in(&app, &app.viewer_token).await;
    let p = fetch(&app, "GET", "/ui/", &[("cmdb_session", &session)], None).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(
        p.body.contains("The capacity report could not be made"),
        "the section says why it is empty: {}",
        p.body
    );
    for section in ["h-classes", "h-stale", "h-changes", "h-sla"] {
        assert!(
            p.body.contains(&format!("id=\"{section}\"")),
            "{section} shown"
        );
    }
    assert!(
        p.body.contains("Every SLA met"),
        "the availability section stands"
    );
}
