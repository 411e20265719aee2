//! The impact pages over the in-process router: a switch, two servers behind it, a service
//! on one of them and a business service on the service; the impact page, its exports, the
//! relationship map, hostile names, sessions and bad input.

use super::ui::{Page, fetch as ui, sign_in};
use super::*;

/// The estate's CI ids.
struct Estate {
    /// An editor token.
    ed: String,
    switch: String,
    host_a: String,
    host_b: String,
    service: String,
    business: String,
}

const HOSTILE: &str = "\"><svg onload=alert(1)>";

async fn estate(app: &App) -> Estate {
    let ed = app.editor().await;
    let switch = app.manual(&ed, "switch", "core-switch", json!({})).await;
    let host_a = app.manual(&ed, "server", "app-host-a", json!({})).await;
    let host_b = app.manual(&ed, "server", "app-host-b", json!({})).await;
    let service = app.manual(&ed, "application", "shop-api", json!({})).await;
    let business = app
        .manual(&ed, "business_service", "Online shop", json!({}))
        .await;
    for (from, kind, to) in [
        (&host_a, "depends_on", &switch),
        (&host_b, "depends_on", &switch),
        (&service, "runs_on", &host_a),
        (&business, "depends_on", &service),
    ] {
        let (s, v) = app.relate(&ed, from, kind, to).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
    }
    Estate {
        ed,
        switch,
        host_a,
        host_b,
        service,
        business,
    }
}

async fn get(app: &App, session: &str, uri: &str) -> Page {
    ui(app, "GET", uri, &[("cmdb_session", session)], None).await
}

/// One top-of-rack switch of a pair under a dual-homed hypervisor: no outage, the hypervisor
/// at risk, and the business service above it counted, in the API and on the page.
#[tokio::test]
async fn a_lost_uplink_reads_no_outage_with_the_services_above_counted() {
    let app = app().await;
    let ed = app.editor().await;
    let core = app
        .manual(&ed, "switch", "core", json!({"core": true}))
        .await;
    let tor_a = app.manual(&ed, "switch", "tor-a", json!({})).await;
    let tor_b = app.manual(&ed, "switch", "tor-b", json!({})).await;
    let hv = app.manual(&ed, "server", "hv-1", json!({})).await;
    let vm = app.manual(&ed, "virtual_machine", "vm-1", json!({})).await;
    let shop = app
        .manual(&ed, "business_service", "Online shop", json!({}))
        .await;
    for (from, kind, to) in [
        (&tor_a, "connected_to", &core),
        (&tor_b, "connected_to", &core),
        (&hv, "connected_to", &tor_a),
        (&hv, "connected_to", &tor_b),
        (&vm, "hosted_on", &hv),
        (&shop, "depends_on", &vm),
    ] {
        let (s, v) = app.relate(&ed, from, kind, to).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
    }
    let body = json!({"cis": [tor_a]}).to_string();
    let (status, r) = app
        .send("POST", "/api/v1/impact", &app.viewer_token, Some(body))
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!((&r["down"], &r["degraded"]), (&json!(1), &json!(0)), "{r}");
    // hv-1 and the core each lost a link.
    assert_eq!(r["at_risk"], json!(2), "{r}");
    assert_eq!(r["business_services"], json!([]), "{r}");
    assert_eq!(
        r["services_at_risk"],
        json!([{"id": shop, "name": "Online shop", "state": "up", "at_risk_below": 1}]),
        "{r}"
    );
    let session = sign_in(&app, &app.viewer_token).await;
    let p = get(&app, &session, &format!("/ui/impact?cis={tor_a}")).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    let b = &p.body;
    assert!(
        b.contains("<strong>No outage.</strong> 2 CIs lost redundancy"),
        "{b}"
    );
    assert!(
        b.contains("Online shop</a>: 1 CIs below it lost redundancy"),
        "{b}"
    );
    assert!(b.contains("1 CIs down, 0 degraded, 2 at risk"), "{b}");
    assert!(b.contains("△ at risk"), "the graph marks it");
    assert!(!b.contains("vm-1"), "at risk does not spread to the VM");
    // Both switches: the hypervisor is cut off and the service is down.
    let p = get(&app, &session, &format!("/ui/impact?cis={tor_a},{tor_b}")).await;
    assert!(p.body.contains("Takes down"), "{}", p.body);
    assert!(!p.body.contains("No outage"));
}

#[tokio::test]
async fn the_impact_of_a_switch_shows_the_business_service_taken_down_first() {
    let app = app().await;
    let e = estate(&app).await;
    let session = sign_in(&app, &app.viewer_token).await;

    // The blank form.
    let p = get(&app, &session, "/ui/impact").await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(p.body.contains("hx-get=\"/ui/impact/suggest\""));
    assert!(p.body.contains("aria-current=\"page\">Impact"));

    // By name, as typed.
    let p = get(&app, &session, "/ui/impact?cis=core-switch").await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    let b = &p.body;
    let takes_down = b.find("Takes down").expect("the business service is hit");
    let service_at = b.find("Online shop").expect("named");
    let table_at = b.find("Affected CIs").expect("the table");
    assert!(
        takes_down < table_at && service_at < table_at,
        "listed first"
    );
    for name in ["app-host-a", "app-host-b", "shop-api", "core-switch"] {
        assert!(b.contains(name), "{name} in the page");
    }
    assert!(b.contains("5 CIs down, 0 degraded, 0 at risk"), "{b}");
    assert!(b.contains("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(b.contains("role=\"img\""));
    assert!(b.contains("✖ failed") && b.contains("★ taken down"));
    assert!(b.contains("class=\"edge hit\""), "the path is highlighted");
    assert!(!b.contains("style="), "no inline style (CSP)");
    assert!(b.contains(&format!("/ui/impact.svg?cis={}", e.switch)));
    assert!(b.contains(&format!("/ui/impact.csv?cis={}", e.switch)));
    assert!(b.contains(&format!("/ui/impact.dot?cis={}", e.switch)));

    // The SVG export: a node per affected CI, each linked to its page.
    let svg = get(&app, &session, &format!("/ui/impact.svg?cis={}", e.switch)).await;
    assert_eq!(svg.status, StatusCode::OK, "{}", svg.body);
    assert_eq!(svg.headers["content-type"], "image/svg+xml");
    assert!(
        svg.headers["content-disposition"]
            .to_str()
            .expect("cd")
            .starts_with("attachment"),
    );
    assert_eq!(svg.body.matches("<a href=\"/ui/cis/").count(), 5);
    for id in [&e.switch, &e.host_a, &e.host_b, &e.service, &e.business] {
        assert!(
            svg.body.contains(&format!("<a href=\"/ui/cis/{id}\"")),
            "{id}"
        );
    }
    // The other exports reuse the API's renderers.
    let csv = get(&app, &session, &format!("/ui/impact.csv?cis={}", e.switch)).await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(
        csv.body
            .starts_with("id,name,class,state,cause,depth,via,path\n")
    );
    assert_eq!(csv.body.lines().count(), 6);
    let dot = get(&app, &session, &format!("/ui/impact.dot?cis={}", e.switch)).await;
    assert!(dot.body.starts_with("digraph"), "{}", dot.body);

    // A horizon: one hop reaches the hosts, not the service.
    let p = get(
        &app,
        &session,
        &format!("/ui/impact?cis={}&max_depth=1", e.switch),
    )
    .await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.body.contains("app-host-a") && !p.body.contains("shop-api"));
    assert!(p.body.contains("No business service is hit"));

    // A change window links to a new change.
    let p = get(
        &app,
        &session,
        &format!(
            "/ui/impact?cis={}&start=2026-12-10T22%3A00&end=2026-12-10T23%3A30",
            e.switch
        ),
    )
    .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(
        p.body.contains(&format!(
            "/ui/changes/new?cis={}&#38;start=2026-12-10T22%3A00&#38;end=2026-12-10T23%3A30",
            e.switch
        )),
        "{}",
        p.body
    );

    // Suggestions as one types (an HTML fragment), and the link they offer.
    let s = get(&app, &session, "/ui/impact/suggest?cis=shop-api%2C%20core").await;
    assert_eq!(s.status, StatusCode::OK);
    assert!(!s.body.contains("<html"), "a fragment");
    assert!(
        s.body
            .contains(&format!("/ui/impact?cis=shop-api%2C{}", e.switch)),
        "{}",
        s.body
    );

    // The benchmark hook renders the same page.
    let (status, html) = crate::http::ui::impact::impact_page_html(
        &app.state,
        crate::http::ui::impact::ImpactForm {
            cis: e.switch.clone(),
            ..Default::default()
        },
    )
    .await
    .expect("page");
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Takes down"));
}

#[tokio::test]
async fn the_map_shows_both_directions_with_a_table_and_a_depth_selector() {
    let app = app().await;
    let e = estate(&app).await;
    let session = sign_in(&app, &app.viewer_token).await;
    let p = get(&app, &session, &format!("/ui/cis/{}/map", e.host_a)).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    // Two hops: switch and service (1), the other host and the business service (2).
    for name in [
        "core-switch",
        "shop-api",
        "app-host-b",
        "Online shop",
        "◎ this CI",
    ] {
        assert!(p.body.contains(name), "{name}: {}", p.body);
    }
    assert_eq!(p.body.matches("<polyline").count(), 4);
    assert!(p.body.contains("<option value=\"2\" selected>"));
    assert!(p.body.contains(&format!("/ui/impact?cis={}", e.host_a)));
    let one = get(&app, &session, &format!("/ui/cis/{}/map?depth=1", e.host_a)).await;
    assert_eq!(one.status, StatusCode::OK);
    assert!(one.body.contains("core-switch") && !one.body.contains("app-host-b"));
    assert_eq!(one.body.matches("<polyline").count(), 2);
    let bad = get(&app, &session, &format!("/ui/cis/{}/map?depth=9", e.host_a)).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("depth"), "{}", bad.body);
    let unknown = get(&app, &session, "/ui/cis/0123abcd/map").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.body);
}

#[tokio::test]
async fn hostile_names_are_escaped_in_the_page_and_in_the_svg() {
    let app = app().await;
    let e = estate(&app).await;
    let ed = e.ed.clone();
    let evil = app.manual(&ed, "server", HOSTILE, json!({})).await;
    let evil_svc = app
        .manual(&ed, "application", "<script>alert(2)</script>", json!({}))
        .await;
    assert_eq!(
        app.relate(&ed, &evil, "depends_on", &e.switch).await.0,
        StatusCode::CREATED
    );
    assert_eq!(
        app.relate(&ed, &evil_svc, "runs_on", &evil).await.0,
        StatusCode::CREATED
    );
    let session = sign_in(&app, &app.viewer_token).await;
    for path in [
        format!("/ui/impact?cis={}", e.switch),
        format!("/ui/impact.svg?cis={}", e.switch),
        format!("/ui/cis/{evil}/map"),
        "/ui/impact/suggest?cis=svg".to_string(),
        "/ui/impact?cis=%22%3E%3Csvg".to_string(),
    ] {
        let p = get(&app, &session, &path).await;
        assert!(
            p.status.is_success() || p.status == StatusCode::BAD_REQUEST,
            "{path}: {}",
            p.status
        );
        assert!(!p.body.contains("<svg onload"), "{path}: raw svg tag");
        assert!(!p.body.contains("<script>alert"), "{path}: raw script tag");
        assert!(!p.body.contains("style="), "{path}: inline style");
    }
    let p = get(&app, &session, &format!("/ui/impact?cis={}", e.switch)).await;
    // Escaped by askama in the table, by xml_escape inside the SVG.
    assert!(
        p.body.contains("&#34;&#62;&#60;svg onload=alert(1)&#62;"),
        "{}",
        p.body
    );
    assert!(
        p.body.contains("&quot;&gt;&lt;svg onload=alert(1)&gt;"),
        "{}",
        p.body
    );
    let svg = get(&app, &session, &format!("/ui/impact.svg?cis={}", e.switch)).await;
    assert!(svg.body.contains("&quot;&gt;&lt;svg onload=alert(1)&gt;"));
    assert!(svg.body.contains("&lt;script&gt;alert(2)&lt;/script&gt;"));
    assert_eq!(svg.body.matches("<a href=\"/ui/cis/").count(), 7);
}

#[tokio::test]
async fn impact_pages_need_a_session_and_name_bad_input() {
    let app = app().await;
    let e = estate(&app).await;
    for path in [
        "/ui/impact".to_string(),
        format!("/ui/impact?cis={}", e.switch),
        format!("/ui/impact.svg?cis={}", e.switch),
        "/ui/impact/suggest?cis=core".to_string(),
        format!("/ui/cis/{}/map", e.switch),
    ] {
        let p = ui(&app, "GET", &path, &[], None).await;
        assert_eq!(p.status, StatusCode::SEE_OTHER, "{path}");
        assert!(p.location().starts_with("/ui/sign-in?next="), "{path}");
    }
    let session = sign_in(&app, &app.viewer_token).await;
    // An unknown CI: a 400 page naming it.
    let p = get(&app, &session, "/ui/impact?cis=nope").await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(
        p.headers["content-type"]
            .to_str()
            .expect("ct")
            .starts_with("text/html")
    );
    assert!(
        p.body.contains("no CI with id or name &#34;nope&#34;"),
        "{}",
        p.body
    );
    assert!(p.body.contains("Which CI do you mean by “nope”"));
    // Out-of-range depth.
    for bad in ["0", "99", "x"] {
        let p = get(
            &app,
            &session,
            &format!("/ui/impact?cis={}&max_depth={bad}", e.switch),
        )
        .await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(
            p.body
                .contains("max_depth: expected a whole number from 1 to 32"),
            "{}",
            p.body
        );
    }
    // A window that ends before it starts.
    let p = get(
        &app,
        &session,
        &format!(
            "/ui/impact?cis={}&start=2026-12-10T22:00&end=2026-12-10T21:00",
            e.switch
        ),
    )
    .await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(
        p.body
            .contains("end: the change window must end after it starts")
    );
    // An export of an unknown CI is an error page too.
    let p = get(&app, &session, "/ui/impact.svg?cis=nope").await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(p.body.contains("nope"));
    // An ambiguous name: both CIs offered.
    let ed = e.ed.clone();
    let d1 = app.manual(&ed, "application", "twin", json!({})).await;
    let d2 = app.manual(&ed, "application", "twin", json!({})).await;
    let p = get(&app, &session, "/ui/impact?cis=twin").await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(p.body.contains("2 CIs are named"), "{}", p.body);
    for d in [&d1, &d2] {
        assert!(
            p.body.contains(&format!("/ui/impact?cis={d}")),
            "{}",
            p.body
        );
    }
}
