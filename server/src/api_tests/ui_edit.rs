//! The UI's forms that change things: manual CIs and relationships, CSV imports with their
//! dry run, changes with their impact and conflicts, users and tokens; a viewer sees none of
//! the controls and is refused if it posts anyway.

use super::ui::{Page, fetch, hostile_host, post_sign_in, send_page, sign_in};
use super::*;

/// The id a 303 answer points at: `/ui/<what>/<id>`.
fn created_id(p: &Page, prefix: &str) -> String {
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    p.location()
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("{} is not under {prefix}", p.location()))
        .to_string()
}

async fn session_for(app: &App, key: &str, role: Role) -> (String, String) {
    let token = app.stored_token(key, role, None).await;
    let session = sign_in(app, &token).await;
    let page = fetch(app, "GET", "/ui/", &[("cmdb_session", &session)], None).await;
    (session, page.csrf())
}

#[tokio::test]
async fn a_viewer_sees_no_edit_controls_and_is_refused_if_it_posts_anyway() {
    let app = app().await;
    let ci = hostile_host(&app).await;
    let (viewer, csrf) = session_for(&app, "tv2", Role::Viewer).await;
    let c = [("cmdb_session", viewer.as_str())];
    let page = fetch(&app, "GET", &format!("/ui/cis/{ci}"), &c, None).await;
    assert_eq!(page.status, StatusCode::OK);
    for control in ["Add relationship", "/edit\"", "Delete this CI"] {
        assert!(!page.body.contains(control), "a viewer sees {control}");
    }
    let list = fetch(&app, "GET", "/ui/cis", &c, None).await;
    assert!(!list.body.contains("/ui/cis/new"));
    for path in ["/ui/cis/new", "/ui/import", "/ui/admin", "/ui/changes/new"] {
        let p = fetch(&app, "GET", path, &c, None).await;
        assert_eq!(p.status, StatusCode::FORBIDDEN, "{path}");
    }
    let before = app.ci_count().await;
    for (path, form) in [
        (
            "/ui/cis/new",
            format!("csrf={csrf}&class=business_service&name=x"),
        ),
        (
            "/ui/changes",
            format!("csrf={csrf}&title=t&cis={ci}&start=2030-01-01T00:00&end=2030-01-01T01:00"),
        ),
        ("/ui/admin/tokens", format!("csrf={csrf}&role=admin")),
        (
            "/ui/import",
            format!("csrf={csrf}&what=cis&apply=true&csv=class,name%0Aapplication,a"),
        ),
    ] {
        let p = fetch(&app, "POST", path, &c, Some(&form)).await;
        assert_eq!(p.status, StatusCode::FORBIDDEN, "{path}: {}", p.body);
    }
    assert_eq!(app.ci_count().await, before, "nothing written");
    assert!(
        app.state
            .changes
            .list(None)
            .await
            .expect("changes")
            .is_empty()
    );
}

#[tokio::test]
async fn an_editor_creates_relates_edits_and_deletes_a_manual_ci() {
    let app = app().await;
    let ci = hostile_host(&app).await;
    let (editor, csrf) = session_for(&app, "te", Role::Editor).await;
    let c = [("cmdb_session", editor.as_str())];

    // A bad form is shown again with the reason and what was typed.
    let bad = fetch(
        &app,
        "POST",
        "/ui/cis/new",
        &c,
        Some(&format!(
            "csrf={csrf}&class=business_service&name=payroll&min_up=two"
        )),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.body.contains("min_up: expected a whole number"),
        "{}",
        bad.body
    );
    assert!(bad.body.contains("value=\"payroll\""));

    let made = fetch(
        &app,
        "POST",
        "/ui/cis/new",
        &c,
        Some(&format!(
            "csrf={csrf}&class=business_service&name=payroll&owner=hr&core=true"
        )),
    )
    .await;
    let svc = created_id(&made, "/ui/cis/");
    let rel = fetch(
        &app,
        "POST",
        "/ui/relationships",
        &c,
        Some(&format!(
            "csrf={csrf}&from={svc}&kind=depends_on&to={ci}&note=payroll+runs+here"
        )),
    )
    .await;
    assert_eq!(rel.status, StatusCode::SEE_OTHER, "{}", rel.body);
    let page = fetch(&app, "GET", &format!("/ui/cis/{svc}"), &c, None).await;
    assert!(page.body.contains("depends_on"), "{}", page.body);
    assert!(page.body.contains("Remove"));
    assert!(page.body.contains("Delete this CI"));

    let edited = fetch(
        &app,
        "POST",
        &format!("/ui/cis/{svc}/edit"),
        &c,
        Some(&format!(
            "csrf={csrf}&name=payroll&owner=finance&description=monthly"
        )),
    )
    .await;
    assert_eq!(edited.status, StatusCode::SEE_OTHER, "{}", edited.body);
    let page = fetch(&app, "GET", &format!("/ui/cis/{svc}"), &c, None).await;
    assert!(page.body.contains("finance"), "history shows the new owner");
    let form = fetch(&app, "GET", &format!("/ui/cis/{svc}/edit"), &c, None).await;
    assert!(form.body.contains("value=\"finance\""));

    let rels = app
        .state
        .relationships
        .relationships_of(&svc)
        .await
        .expect("rels");
    let gone = fetch(
        &app,
        "POST",
        &format!("/ui/relationships/{}/delete", rels[0].key),
        &c,
        Some(&format!("csrf={csrf}&back=/ui/cis/{svc}")),
    )
    .await;
    assert_eq!(gone.location(), format!("/ui/cis/{svc}"));
    let deleted = fetch(
        &app,
        "POST",
        &format!("/ui/cis/{svc}/delete"),
        &c,
        Some(&format!("csrf={csrf}")),
    )
    .await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    let missing = fetch(&app, "GET", &format!("/ui/cis/{svc}"), &c, None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    // A discovered CI cannot be deleted.
    let refused = fetch(
        &app,
        "POST",
        &format!("/ui/cis/{ci}/delete"),
        &c,
        Some(&format!("csrf={csrf}")),
    )
    .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_csv_import_is_shown_by_a_dry_run_before_it_is_applied() {
    let app = app().await;
    let (editor, csrf) = session_for(&app, "te", Role::Editor).await;
    let c = [("cmdb_session", editor.as_str())];
    let csv = "class,name,owner%0Aapplication,billing,finance%0Aapplication,crm,sales";
    let before = app.ci_count().await;
    let dry = fetch(
        &app,
        "POST",
        "/ui/import",
        &c,
        Some(&format!("csrf={csrf}&what=cis&csv={csv}")),
    )
    .await;
    assert_eq!(dry.status, StatusCode::OK, "{}", dry.body);
    assert!(dry.body.contains("nothing written yet"));
    assert!(dry.body.contains("application/billing"));
    assert!(dry.body.contains("Apply this import"));
    assert_eq!(app.ci_count().await, before);
    let applied = fetch(
        &app,
        "POST",
        "/ui/import",
        &c,
        Some(&format!("csrf={csrf}&what=cis&apply=true&csv={csv}")),
    )
    .await;
    assert_eq!(applied.status, StatusCode::OK);
    assert!(applied.body.contains("Imported"));
    assert_eq!(app.ci_count().await, before + 2);
    let bad = fetch(
        &app,
        "POST",
        "/ui/import",
        &c,
        Some(&format!("csrf={csrf}&what=cis&csv=class,name%0Ahost,x")),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    assert!(bad.body.contains("role=\"alert\""));
}

#[tokio::test]
async fn a_change_is_recorded_with_its_impact_and_an_overlapping_one_conflicts() {
    let app = app().await;
    let ci = hostile_host(&app).await;
    let (editor, csrf) = session_for(&app, "te", Role::Editor).await;
    let c = [("cmdb_session", editor.as_str())];
    let form = fetch(&app, "GET", &format!("/ui/changes/new?cis={ci}"), &c, None).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains(&ci), "the CIs given are filled in");
    let bad = fetch(
        &app,
        "POST",
        "/ui/changes",
        &c,
        Some(&format!(
            "csrf={csrf}&title=Reboot&cis={ci}&start=2030-01-01T02:00&end=2030-01-01T01:00"
        )),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    assert!(
        bad.body.contains("value=\"Reboot\""),
        "the form keeps what was typed"
    );
    let first = fetch(
        &app,
        "POST",
        "/ui/changes",
        &c,
        Some(&format!(
            "csrf={csrf}&title=Reboot&cis={ci}&start=2030-01-01T00:00&end=2030-01-01T02:00"
        )),
    )
    .await;
    let first = created_id(&first, "/ui/changes/");
    let second = fetch(
        &app,
        "POST",
        "/ui/changes",
        &c,
        Some(&format!(
            "csrf={csrf}&title=Patch&cis={ci}&start=2030-01-01T01:00&end=2030-01-01T03:00"
        )),
    )
    .await;
    let second = created_id(&second, "/ui/changes/");
    let page = fetch(&app, "GET", &format!("/ui/changes/{second}"), &c, None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Conflict"), "{}", page.body);
    assert!(page.body.contains(&format!("/ui/changes/{first}")));
    let list = fetch(&app, "GET", "/ui/changes", &c, None).await;
    assert!(list.body.contains("Reboot") && list.body.contains("Patch"));
}

#[tokio::test]
async fn an_admin_makes_a_user_who_signs_in_with_a_password_and_a_token_shown_once() {
    let app = app().await;
    let (admin, csrf) = session_for(&app, "ta", Role::Admin).await;
    let c = [("cmdb_session", admin.as_str())];
    let short = fetch(
        &app,
        "POST",
        "/ui/admin/users",
        &c,
        Some(&format!(
            "csrf={csrf}&name=carol&password=short&role=editor"
        )),
    )
    .await;
    assert_eq!(short.status, StatusCode::BAD_REQUEST);
    assert!(short.body.contains("password: at least"));
    let made = fetch(
        &app,
        "POST",
        "/ui/admin/users",
        &c,
        Some(&format!(
            "csrf={csrf}&name=carol&password=a+long+enough+password&role=editor"
        )),
    )
    .await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.body);

    // Carol signs in through the form.
    let (_, signed) = post_sign_in(
        &app,
        "method=password&name=carol&password=a+long+enough+password",
    )
    .await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.body);
    let (carol, _) = signed.cookie("cmdb_session").expect("session");
    let page = fetch(&app, "GET", "/ui/cis", &[("cmdb_session", &carol)], None).await;
    assert!(page.body.contains("carol"));
    assert!(
        page.body.contains("/ui/cis/new"),
        "an editor sees the editing links"
    );

    let token = fetch(
        &app,
        "POST",
        "/ui/admin/tokens",
        &c,
        Some(&format!(
            "csrf={csrf}&role=enroll&description=fleet&expires_in_days=1&max_uses=5"
        )),
    )
    .await;
    assert_eq!(token.status, StatusCode::OK, "{}", token.body);
    assert!(token.body.contains("shown only once"));
    assert!(token.body.contains("cmdb_enroll_"), "the secret is shown");
    let again = fetch(&app, "GET", "/ui/admin", &c, None).await;
    assert!(!again.body.contains("cmdb_enroll_"), "and never again");
    assert!(again.body.contains("0 of 5"));
}

/// A multipart form body as a browser sends a file input: `(name, filename, content)`.
fn multipart(parts: &[(&str, Option<&str>, &str)]) -> (String, String) {
    let boundary = "----cmdbtestboundary7MA4YWxk";
    let mut body = String::new();
    for (name, filename, content) in parts {
        body.push_str(&format!("--{boundary}\r\n"));
        match filename {
            Some(f) => body.push_str(&format!(
                "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: text/csv\r\n\r\n"
            )),
            None => body.push_str(&format!(
                "Content-Disposition: form-data; name=\"{name}\"\r\n\r\n"
            )),
        }
        body.push_str(content);
        body.push_str("\r\n");
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn post_multipart(app: &App, session: &str, content_type: &str, body: String) -> Page {
    let req = Request::builder()
        .method("POST")
        .uri("/ui/import")
        .header("cookie", format!("cmdb_session={session}"))
        .header("content-type", content_type)
        .body(Body::from(body))
        .expect("request");
    send_page(app, req).await
}

#[tokio::test]
async fn a_csv_file_chosen_in_the_import_form_is_dry_run_then_applied() {
    let app = app().await;
    let (editor, csrf) = session_for(&app, "te", Role::Editor).await;
    let before = app.ci_count().await;
    let file = "class,name,owner\r\napplication,billing,finance\r\napplication,crm,sales\r\n";
    let (ct, body) = multipart(&[
        ("csrf", None, &csrf),
        ("what", None, "cis"),
        ("file", Some("apps.csv"), file),
        ("csv", None, ""),
    ]);
    let dry = post_multipart(&app, &editor, &ct, body).await;
    assert_eq!(dry.status, StatusCode::OK, "{}", dry.body);
    assert!(dry.body.contains("nothing written yet"), "{}", dry.body);
    assert!(dry.body.contains("application/crm"));
    // The file's text comes back in the form, so applying it posts the same CSV.
    assert!(dry.body.contains("application,billing,finance"));
    assert_eq!(app.ci_count().await, before, "a dry run writes nothing");

    // Without the CSRF token, or with nothing to import: refused, nothing written.
    let (ct, body) = multipart(&[
        ("csrf", None, "wrong"),
        ("what", None, "cis"),
        ("file", Some("apps.csv"), file),
    ]);
    assert_eq!(
        post_multipart(&app, &editor, &ct, body).await.status,
        StatusCode::FORBIDDEN
    );
    let (ct, body) = multipart(&[
        ("csrf", None, &csrf),
        ("what", None, "cis"),
        ("file", Some(""), ""),
        ("csv", None, " "),
    ]);
    let empty = post_multipart(&app, &editor, &ct, body).await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST, "{}", empty.body);
    assert!(
        empty.body.contains("paste the CSV or choose a file"),
        "{}",
        empty.body
    );
    let (ct, body) = multipart(&[("csrf", None, &csrf), ("sneaky", None, "x")]);
    let unknown = post_multipart(&app, &editor, &ct, body).await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(unknown.body.contains("unknown field"), "{}", unknown.body);
    assert_eq!(app.ci_count().await, before);

    let (ct, body) = multipart(&[
        ("csrf", None, &csrf),
        ("what", None, "cis"),
        ("apply", None, "true"),
        ("file", Some("apps.csv"), file),
    ]);
    let applied = post_multipart(&app, &editor, &ct, body).await;
    assert_eq!(applied.status, StatusCode::OK, "{}", applied.body);
    assert!(applied.body.contains("Imported"));
    assert_eq!(app.ci_count().await, before + 2);
}
