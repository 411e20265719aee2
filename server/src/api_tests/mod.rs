//! The whole HTTP stack in process: the router from [`crate::app`] over a real in-memory
//! SurrealDB, requests sent with `oneshot`.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::AppState;
use crate::config::Config;
use crate::domain::auth::{Role, hash_token, new_token};
use crate::storage::now_str;
use crate::storage::{AgentRecord, Store, TokenRecord};

struct App {
    state: Arc<AppState>,
    /// The same storage, for fixtures.
    store: Store,
    agent_token: String,
    viewer_token: String,
}

async fn app() -> App {
    app_with("").await
}

/// [`app`] with more configuration (TOML appended to the minimal file).
async fn app_with(extra: &str) -> App {
    let config = Config::parse(
        &format!("data_dir = \"/nonexistent\"\n[tls]\nenabled = false\n{extra}"),
        std::path::Path::new("/nonexistent/server.toml"),
    )
    .expect("config");
    let store = Store::memory().await.expect("memory store");
    let agent_token = new_token(Role::Agent);
    store
        .insert_agent(
            &AgentRecord {
                key: "a1".into(),
                hostname: "poller01".into(),
                agent_version: "test".into(),
                enrolled_at: now_str(),
                last_seen: None,
                ci: None,
                spool_dropped: 0,
            },
            &TokenRecord {
                key: "ta1".into(),
                hash: hash_token(&agent_token),
                role: "agent".into(),
                description: String::new(),
                created_at: now_str(),
                revoked: false,
                agent: Some("a1".into()),
                ..Default::default()
            },
        )
        .await
        .expect("agent");
    let viewer_token = new_token(Role::Viewer);
    store
        .insert_token(&TokenRecord {
            key: "tv".into(),
            hash: hash_token(&viewer_token),
            role: "viewer".into(),
            description: String::new(),
            created_at: now_str(),
            revoked: false,
            agent: None,
            ..Default::default()
        })
        .await
        .expect("viewer");
    App {
        state: AppState::new(config, store.clone()).await.expect("state"),
        store,
        agent_token,
        viewer_token,
    }
}

impl App {
    async fn send(
        &self,
        method: &str,
        uri: &str,
        token: &str,
        body: Option<String>,
    ) -> (StatusCode, Value) {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(body.map(Body::from).unwrap_or_else(Body::empty))
            .expect("request");
        let res = crate::app(self.state.clone())
            .oneshot(req)
            .await
            .expect("response");
        let status = res.status();
        let bytes = res.into_body().collect().await.expect("body").to_bytes();
        let json = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        (status, json)
    }

    async fn post_device(&self, report: &Value) -> (StatusCode, Value) {
        self.send(
            "POST",
            "/api/v1/device-reports",
            &self.agent_token,
            Some(report.to_string()),
        )
        .await
    }

    async fn ci_count(&self) -> u64 {
        self.state.inventory.counts().await.expect("counts")["cis"]
    }

    /// The CI catalogue agrees with what storage holds (every write read back).
    async fn assert_catalogue(&self) {
        let diff = self.store.catalogue_differences().await.expect("catalogue");
        assert!(diff.is_empty(), "catalogue: {diff:#?}");
    }
}

/// A device report as an agent sends it.
fn device_report() -> Value {
    json!({
        "schema_version": cmdb_shared::SCHEMA_VERSION,
        "report_id": "dev-0001",
        "agent_version": "0.1.0",
        "collected_at": now_str(),
        "source": "config",
        "inventory": {
            "target": "10.0.0.1",
            "system": {"descr": "Cisco IOS", "object_id": "1.3.6.1.4.1.9.1.1208", "name": "core-sw1",
                       "contact": null, "location": "DC1", "services": 6},
            "enterprise": 9, "vendor": "Cisco", "model": "WS-C2960X-48TS-L", "firmware": "15.2(4)E",
            "serial": "FOC1234X0AB", "base_bridge_mac": "00:1a:2b:3c:4d:5e",
            "interfaces": [
                {"index": 1, "name": "Gi1/0/1", "alias": "uplink", "description": null, "if_type": 6,
                 "mac": "00:1a:2b:3c:4d:01", "admin_status": "up", "oper_status": "up", "speed_mbps": 1000, "mtu": 1500}
            ],
            "addresses": [{"address": "10.0.0.1", "prefix_len": 24, "if_index": 1}],
            "lldp_local": {"chassis_id_subtype": "macAddress", "chassis_id": "00:1a:2b:3c:4d:5e", "system_name": "core-sw1"},
            "lldp_neighbors": [{"local_port_num": 1, "local_port": "Gi1/0/1", "chassis_id_subtype": "macAddress",
                "chassis_id": "00:05:86:71:e2:c0", "port_id_subtype": "interfaceName", "port_id": "xe-0/0/0",
                "port_description": null, "system_name": "dist1", "system_description": null,
                "management_address": "10.0.0.2"}],
            "forwarding": [{"vlan": 10, "mac": "b4:96:91:00:00:01", "bridge_port": 1, "if_index": 1, "status": "learned"}],
            "arp": [{"if_index": 1, "ip": "10.0.0.20", "mac": "b4:96:91:00:00:01"}]
        },
        "metrics": {"at": now_str(), "uptime_ticks": 8640000,
                    "interfaces": [{"index": 1, "in_octets": 10, "out_octets": 20, "in_errors": 0, "out_errors": 0,
                                    "in_discards": 0, "out_discards": 0, "high_capacity": true}]}
    })
}

#[tokio::test]
async fn a_device_report_makes_a_network_device_ci_the_api_shows_whole() {
    let app = app().await;
    let (status, ack) = app.post_device(&device_report()).await;
    assert_eq!(status, StatusCode::OK, "{ack}");
    assert_eq!(ack["report_id"], "dev-0001");
    assert_eq!(ack["identified_by"], "new");
    assert_eq!(ack["changes"], 1);
    let id = ack["ci_id"].as_str().expect("ci id").to_string();

    // Redelivered: the same CI, nothing recorded.
    let (status, again) = app.post_device(&device_report()).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(
        (again["ci_id"].as_str(), again["changes"].as_u64()),
        (Some(id.as_str()), Some(0))
    );

    let (status, ci) = app
        .send("GET", &format!("/api/v1/cis/{id}"), &app.viewer_token, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{ci}");
    assert_eq!(ci["class"], "network_device");
    assert_eq!(ci["name"], "core-sw1");
    assert_eq!(ci["agent"], Value::Null);
    assert_eq!(ci["poller"], "a1");
    assert_eq!(ci["serial"], "FOC1234X0AB");
    let section = &ci["sections"]["device"];
    assert_eq!(section["firmware"], "15.2(4)E");
    assert_eq!(
        section["interfaces"][0]["oper_status"], "up",
        "volatile values overlaid"
    );
    assert!(
        section.get("forwarding").is_none(),
        "topology is not in the section"
    );
    let device = &ci["device"];
    assert_eq!(device["poller"], "a1");
    assert_eq!(device["target"], "10.0.0.1");
    assert_eq!(device["source"], "config");
    assert_eq!(device["metrics"]["uptime_ticks"], 8_640_000);
    assert_eq!(device["forwarding"][0]["mac"], "b4:96:91:00:00:01");
    assert_eq!(device["arp"][0]["ip"], "10.0.0.20");
    assert_eq!(device["lldp_neighbors"][0]["system_name"], "dist1");
    assert!(ci["measured_at"].is_string());

    let (status, page) = app
        .send(
            "GET",
            "/api/v1/cis?class=network_device&q=00-1A-2B-3C-4D-5E",
            &app.viewer_token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["total"], 1);
    assert_eq!(page["items"][0]["vendor"], "Cisco");

    let (status, history) = app
        .send(
            "GET",
            &format!("/api/v1/cis/{id}/history"),
            &app.viewer_token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(history.as_array().map(Vec::len), Some(1));

    let (_, metrics) = app.send("GET", "/metrics", &app.viewer_token, None).await;
    let text = metrics.as_str().expect("text exposition");
    assert!(
        text.contains("cmdb_device_reports_total{outcome=\"changed\"} 1"),
        "{text}"
    );
    assert!(text.contains("cmdb_device_reports_total{outcome=\"unchanged\"} 1"));
    app.assert_catalogue().await;
}

#[tokio::test]
async fn bad_device_reports_get_a_4xx_naming_the_field_and_change_nothing() {
    let app = app().await;
    let mut bad_mac = device_report();
    bad_mac["inventory"]["forwarding"][0]["mac"] = json!("b4:96:91:00:00");
    let mut unknown = device_report();
    unknown["inventory"]["interfaces"][0]["duplex"] = json!("full");
    let mut newer = device_report();
    newer["schema_version"] = json!(cmdb_shared::SCHEMA_VERSION + 1);
    newer["inventory"]["new_field"] = json!(true);
    let mut bad_ip = device_report();
    bad_ip["inventory"]["addresses"][0]["address"] = json!("10.0.0.256");
    for (report, status, starts) in [
        (
            bad_mac,
            StatusCode::BAD_REQUEST,
            "inventory.forwarding[0].mac: ",
        ),
        (
            unknown,
            StatusCode::BAD_REQUEST,
            "malformed JSON at inventory.interfaces[0].duplex: unknown field `duplex`",
        ),
        (
            newer,
            StatusCode::UNPROCESSABLE_ENTITY,
            "unsupported schema_version",
        ),
        (
            bad_ip,
            StatusCode::BAD_REQUEST,
            "inventory.addresses[0].address: ",
        ),
    ] {
        let (got, body) = app.post_device(&report).await;
        assert_eq!(got, status, "{body}");
        let error = body["error"].as_str().expect("error");
        assert!(error.starts_with(starts), "{error}");
    }
    assert_eq!(app.ci_count().await, 0);

    // Only agents post device reports.
    let (got, _) = app
        .send(
            "POST",
            "/api/v1/device-reports",
            &app.viewer_token,
            Some(device_report().to_string()),
        )
        .await;
    assert_eq!(got, StatusCode::FORBIDDEN);
    assert_eq!(app.ci_count().await, 0);
}

#[test]
fn the_openapi_document_has_the_device_report_endpoint() {
    let doc = serde_json::to_value(crate::http::ops::openapi_doc()).expect("json");
    assert!(doc["paths"]["/api/v1/device-reports"]["post"].is_object());
    let schemas = &doc["components"]["schemas"];
    for s in ["DeviceReport", "DeviceDetail", "DeviceKeys"] {
        assert!(schemas[s].is_object(), "{s} missing");
    }
}

impl App {
    async fn editor(&self) -> String {
        self.stored_token("te", Role::Editor, None).await
    }

    async fn manual(&self, editor: &str, class: &str, name: &str, extra: Value) -> String {
        let mut body = json!({"class": class, "name": name});
        if let (Value::Object(b), Value::Object(x)) = (&mut body, extra) {
            b.extend(x);
        }
        let (status, ci) = self
            .send("POST", "/api/v1/cis", editor, Some(body.to_string()))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{ci}");
        ci["id"].as_str().expect("id").to_string()
    }

    async fn relate(&self, editor: &str, from: &str, kind: &str, to: &str) -> (StatusCode, Value) {
        self.send(
            "POST",
            "/api/v1/relationships",
            editor,
            Some(json!({"from": from, "kind": kind, "to": to}).to_string()),
        )
        .await
    }
}

#[tokio::test]
async fn manual_cis_and_relationships_answer_impact_with_redundancy_and_exports() {
    let app = app().await;
    let ed = app.editor().await;
    let bs = app
        .manual(&ed, "business_service", "Payments", json!({}))
        .await;
    let group = app
        .manual(&ed, "redundancy_group", "pay-cluster", json!({"min_up": 2}))
        .await;
    let nodes: Vec<String> = [
        app.manual(&ed, "application", "pay-1", json!({})).await,
        app.manual(&ed, "application", "pay-2", json!({})).await,
        app.manual(&ed, "application", "pay-3", json!({})).await,
    ]
    .to_vec();
    assert_eq!(
        app.relate(&ed, &bs, "depends_on", &group).await.0,
        StatusCode::CREATED
    );
    for n in &nodes {
        assert_eq!(
            app.relate(&ed, n, "member_of", &group).await.0,
            StatusCode::CREATED
        );
    }
    let impact = |cis: Vec<&str>| {
        let body = json!({"cis": cis}).to_string();
        let app = &app;
        async move {
            app.send("POST", "/api/v1/impact", &app.viewer_token, Some(body))
                .await
        }
    };
    // One of three down: the group (2 of 3 needed) and the service are degraded.
    let (status, one) = impact(vec!["pay-1"]).await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(
        (one["down"].as_u64(), one["degraded"].as_u64()),
        (Some(1), Some(2)),
        "{one}"
    );
    assert_eq!(one["business_services"][0]["state"], "degraded");
    // Two of three down: the group and the service are down, with paths from a failed CI.
    let (_, two) = impact(vec![nodes[0].as_str(), "pay-2"]).await;
    assert_eq!(two["business_services"][0]["state"], "down", "{two}");
    let path = two["business_services"][0]["path"]
        .as_array()
        .expect("path");
    assert_eq!(path.last(), Some(&json!(bs)));
    assert!(nodes[..2].iter().any(|n| path.first() == Some(&json!(n))));
    // The same as CSV and DOT.
    let (_, csv) = app
        .send(
            "POST",
            "/api/v1/impact",
            &app.viewer_token,
            Some(json!({"cis": ["pay-1", "pay-2"], "format": "csv"}).to_string()),
        )
        .await;
    let csv = csv.as_str().expect("csv text");
    assert!(
        csv.starts_with("id,name,class,state,cause,depth,via,path\n"),
        "{csv}"
    );
    assert_eq!(
        csv.lines().count(),
        1 + two["affected"].as_array().expect("rows").len()
    );
    let (_, dot) = app
        .send(
            "GET",
            &format!("/api/v1/cis/{group}/impact?format=dot"),
            &app.viewer_token,
            None,
        )
        .await;
    assert!(dot.as_str().expect("dot").starts_with("digraph"), "{dot}");
    // What the service depends on: the group and its three members.
    let (_, deps) = app
        .send(
            "GET",
            &format!("/api/v1/cis/{bs}/dependencies"),
            &app.viewer_token,
            None,
        )
        .await;
    assert_eq!(
        deps["dependencies"].as_array().expect("deps").len(),
        4,
        "{deps}"
    );
    // The index agrees with storage.
    let (_, check) = app.send("GET", "/api/v1/graph/check", &ed, None).await;
    assert_eq!(check["consistent"], true, "{check}");
    app.assert_catalogue().await;
}

#[tokio::test]
async fn bad_relationship_and_impact_requests_name_the_problem_and_change_nothing() {
    let app = app().await;
    let ed = app.editor().await;
    let a = app.manual(&ed, "application", "a", json!({})).await;
    let (status, e) = app.relate(&ed, &a, "likes", &a).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        e["error"].as_str().expect("error").starts_with("kind:"),
        "{e}"
    );
    let (status, e) = app.relate(&ed, &a, "depends_on", "0123abcd").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        e["error"]
            .as_str()
            .expect("error")
            .contains("no CI with id 0123abcd"),
        "{e}"
    );
    let (status, _) = app.relate(&app.viewer_token, &a, "depends_on", &a).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, e) = app
        .send(
            "POST",
            "/api/v1/cis",
            &ed,
            Some(json!({"class": "host", "name": "x"}).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    let (status, e) = app
        .send(
            "POST",
            "/api/v1/cis",
            &ed,
            Some(json!({"class": "redundancy_group", "name": "g", "min_up": 0}).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        e["error"].as_str().expect("error").starts_with("min_up"),
        "{e}"
    );
    let (status, e) = app
        .send(
            "POST",
            "/api/v1/impact",
            &app.viewer_token,
            Some(json!({"cis": ["nope"]}).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        e["error"].as_str().expect("error").contains("\"nope\""),
        "{e}"
    );
    let (_, list) = app
        .send("GET", "/api/v1/relationships", &app.viewer_token, None)
        .await;
    assert_eq!(list["total"], 0, "{list}");
}

#[tokio::test]
async fn two_switches_that_see_each_other_over_lldp_make_one_link() {
    let app = app().await;
    let mut a = device_report();
    let mut b = device_report();
    b["report_id"] = json!("dev-0002");
    b["inventory"]["target"] = json!("10.0.0.2");
    b["inventory"]["system"]["name"] = json!("core-sw2");
    b["inventory"]["serial"] = json!("FOC9999X0ZZ");
    b["inventory"]["base_bridge_mac"] = json!("00:05:86:71:e2:c0");
    b["inventory"]["lldp_local"]["chassis_id"] = json!("00:05:86:71:e2:c0");
    b["inventory"]["lldp_local"]["system_name"] = json!("core-sw2");
    b["inventory"]["interfaces"][0]["name"] = json!("xe-0/0/0");
    b["inventory"]["interfaces"][0]["mac"] = json!("00:05:86:71:e2:01");
    b["inventory"]["addresses"][0]["address"] = json!("10.0.0.2");
    b["inventory"]["forwarding"] = json!([]);
    b["inventory"]["arp"] = json!([]);
    b["inventory"]["cdp_neighbors"] = json!([]);
    b["inventory"]["lldp_neighbors"] = json!([{"local_port_num": 1, "local_port": "xe-0/0/0",
        "chassis_id_subtype": "macAddress", "chassis_id": "00:1a:2b:3c:4d:5e",
        "port_id_subtype": "interfaceName", "port_id": "Gi1/0/1", "port_description": null,
        "system_name": "core-sw1", "system_description": null, "management_address": null}]);
    a["inventory"]["cdp_neighbors"] = json!([]);
    let (s, ack_a) = app.post_device(&a).await;
    assert_eq!(s, StatusCode::OK, "{ack_a}");
    let (s, ack_b) = app.post_device(&b).await;
    assert_eq!(s, StatusCode::OK, "{ack_b}");
    // a polled again now that b is known: the same link, not a second edge.
    a["report_id"] = json!("dev-0003");
    let (s, _) = app.post_device(&a).await;
    assert_eq!(s, StatusCode::OK);
    let (_, list) = app
        .send(
            "GET",
            "/api/v1/relationships?kind=connected_to",
            &app.viewer_token,
            None,
        )
        .await;
    assert_eq!(list["total"], 1, "{list}");
    let e = &list["items"][0];
    let (ca, cb) = (
        ack_a["ci_id"].as_str().expect("a"),
        ack_b["ci_id"].as_str().expect("b"),
    );
    let ports: std::collections::BTreeMap<&str, &str> = [
        (
            e["from"].as_str().expect("from"),
            e["evidence"]["from_port"].as_str().expect("p"),
        ),
        (
            e["to"].as_str().expect("to"),
            e["evidence"]["to_port"].as_str().expect("p"),
        ),
    ]
    .into();
    assert_eq!(ports, [(ca, "Gi1/0/1"), (cb, "xe-0/0/0")].into(), "{e}");
    assert_eq!(e["discovered_by"], json!(["lldp"]));
    app.assert_catalogue().await;
}

mod availability;

/// A request with a raw Authorization header; the status and the Retry-After header.
async fn raw(app: &App, uri: &str, authorization: &str) -> (StatusCode, Option<String>) {
    let req = Request::builder()
        .method("GET")
        .uri(uri)
        .header("authorization", authorization)
        .body(Body::empty())
        .expect("request");
    let res = crate::app(app.state.clone())
        .oneshot(req)
        .await
        .expect("response");
    let retry = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (res.status(), retry)
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive_and_a_credential_over_its_rate_gets_429() {
    let app = app_with("[http]\nrate_per_credential = 1\nrate_burst = 3\n").await;
    let t = app.viewer_token.clone();
    for auth in [
        format!("Bearer {t}"),
        format!("bearer {t}"),
        format!("BEARER  {t}"),
    ] {
        assert_eq!(
            raw(&app, "/api/v1/agents", &auth).await.0,
            StatusCode::OK,
            "{auth}"
        );
    }
    // The burst is spent: 429, with how long to wait.
    let (status, retry) = raw(&app, "/api/v1/agents", &format!("Bearer {t}")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        retry
            .as_deref()
            .and_then(|r| r.parse::<u64>().ok())
            .is_some_and(|s| s >= 1),
        "{retry:?}"
    );
    // Another credential is not held back by this one.
    let (status, _) = raw(&app, "/api/v1/cis", &format!("Bearer {}", app.agent_token)).await;
    assert_ne!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        raw(&app, "/api/v1/agents", "Basic abc").await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn metrics_need_a_credential_unless_configured_open() {
    let app = app().await;
    assert_eq!(raw(&app, "/metrics", "").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        raw(&app, "/metrics", &format!("Bearer {}", app.agent_token))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        raw(&app, "/metrics", &format!("Bearer {}", app.viewer_token))
            .await
            .0,
        StatusCode::OK
    );
    let open = app_with("[http]\nmetrics_open = true\n").await;
    assert_eq!(raw(&open, "/metrics", "").await.0, StatusCode::OK);
}

mod credentials;
mod document;
mod matrix;
mod ui;
mod ui_edit;
mod ui_impact;
mod ui_reports;

#[tokio::test]
async fn impact_pages_join_into_the_whole_answer_with_whole_counts_and_services() {
    let app = app_with("").await;
    let ed = app.editor().await;
    // A switch with 7 hosts, each running 2 apps; one business service on every app.
    let mut cis = vec![json!({"class": "switch", "name": "sw"})];
    cis.push(json!({"class": "business_service", "name": "Shop"}));
    let mut rels = Vec::new();
    for h in 0..7 {
        cis.push(json!({"class": "server", "name": format!("h{h}")}));
        rels.push(json!({"from": format!("server/h{h}"), "kind": "depends_on", "to": "switch/sw"}));
        for a in 0..2 {
            cis.push(json!({"class": "application", "name": format!("a{h}-{a}")}));
            rels.push(json!({"from": format!("application/a{h}-{a}"), "kind": "runs_on", "to": format!("server/h{h}")}));
            rels.push(json!({"from": "business_service/Shop", "kind": "depends_on", "to": format!("application/a{h}-{a}")}));
        }
    }
    let (status, v) = app
        .send(
            "POST",
            "/api/v1/import",
            &ed,
            Some(json!({"cis": cis, "relationships": rels}).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        v["relationships_created"].as_array().map(Vec::len),
        Some(35),
        "{v}"
    );
    let (_, found) = app
        .send(
            "GET",
            "/api/v1/cis?q=sw&class=switch",
            &app.viewer_token,
            None,
        )
        .await;
    let sw = found["items"][0]["key"]
        .as_str()
        .expect("switch")
        .to_string();
    let (status, whole) = app
        .send(
            "GET",
            &format!("/api/v1/cis/{sw}/impact"),
            &app.viewer_token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{whole}");
    assert_eq!(
        whole["affected"].as_array().map(Vec::len),
        Some(23),
        "{whole}"
    );
    assert_eq!(whole["truncated"], json!(false));
    assert_eq!(whole["next_offset"], Value::Null);
    // Pages of 5 in turn: the same rows in the same order, every page with whole counts and
    // the business service.
    let mut joined = Vec::new();
    let mut offset = Some(0);
    while let Some(o) = offset {
        let (status, page) = app
            .send(
                "GET",
                &format!("/api/v1/cis/{sw}/impact?limit=5&offset={o}"),
                &app.viewer_token,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(page["offset"], json!(o));
        assert_eq!(page["down"], whole["down"]);
        assert_eq!(page["business_services"], whole["business_services"]);
        assert_eq!(page["truncated"], json!(true));
        let rows = page["affected"].as_array().expect("rows").clone();
        assert!(rows.len() <= 5 && !rows.is_empty(), "{page}");
        joined.extend(rows);
        offset = page["next_offset"].as_u64();
    }
    let ids = |rows: &[Value]| -> Vec<(u64, String)> {
        rows.iter()
            .map(|r| {
                (
                    r["depth"].as_u64().unwrap_or(0),
                    r["id"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    };
    let whole_ids = ids(whole["affected"].as_array().expect("rows"));
    assert_eq!(ids(&joined), whole_ids);
    let mut sorted = whole_ids.clone();
    sorted.sort();
    assert_eq!(whole_ids, sorted, "by depth, then id");
    // The same through POST, and a page past the end is empty.
    let (status, page) = app
        .send(
            "POST",
            "/api/v1/impact",
            &app.viewer_token,
            Some(json!({"cis": [sw], "offset": 20, "limit": 5}).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(
        ids(page["affected"].as_array().expect("rows")),
        whole_ids[20..].to_vec()
    );
    assert_eq!(page["next_offset"], Value::Null);
    let (_, past) = app
        .send(
            "GET",
            &format!("/api/v1/cis/{sw}/impact?offset=100"),
            &app.viewer_token,
            None,
        )
        .await;
    assert_eq!(past["affected"], json!([]));
    assert_eq!(past["down"], whole["down"]);
    // A bad page is refused, naming the parameter.
    let (status, bad) = app
        .send(
            "GET",
            &format!("/api/v1/cis/{sw}/impact?limit=-1"),
            &app.viewer_token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    assert!(bad.to_string().contains("limit"), "{bad}");
    app.assert_catalogue().await;
}

#[tokio::test]
async fn a_truncated_impact_still_lists_every_business_service_and_change_conflicts_see_all() {
    let app = app_with("[relationships]\nmax_impact_items = 2\nmax_path_elements = 2\n").await;
    let ed = app.editor().await;
    // pdu ← a1 ← a2 ← a3 ← Shop: four hops from the PDU to the service.
    let pdu = app.manual(&ed, "pdu", "pdu-a", json!({})).await;
    let apps: Vec<String> = [
        app.manual(&ed, "application", "a1", json!({})).await,
        app.manual(&ed, "application", "a2", json!({})).await,
        app.manual(&ed, "application", "a3", json!({})).await,
    ]
    .to_vec();
    let shop = app.manual(&ed, "business_service", "Shop", json!({})).await;
    assert_eq!(
        app.relate(&ed, &apps[0], "powered_by", &pdu).await.0,
        StatusCode::CREATED
    );
    assert_eq!(
        app.relate(&ed, &apps[1], "depends_on", &apps[0]).await.0,
        StatusCode::CREATED
    );
    assert_eq!(
        app.relate(&ed, &apps[2], "depends_on", &apps[1]).await.0,
        StatusCode::CREATED
    );
    assert_eq!(
        app.relate(&ed, &shop, "depends_on", &apps[2]).await.0,
        StatusCode::CREATED
    );
    let (status, v) = app
        .send(
            "POST",
            "/api/v1/impact",
            &app.viewer_token,
            Some(json!({"cis": [pdu]}).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["truncated"], json!(true), "{v}");
    assert_eq!(v["affected"].as_array().map(Vec::len), Some(2), "{v}");
    assert_eq!(v["down"], json!(5), "counts stay exact: {v}");
    assert_eq!(v["business_services"][0]["id"], json!(shop), "{v}");
    assert_eq!(v["business_services"][0]["name"], json!("Shop"), "{v}");
    assert_eq!(v["business_services"][0]["depth"], json!(4), "{v}");
    // Paths within their budget, nearest first; the service keeps its whole path.
    assert_eq!(v["paths_truncated"], json!(true), "{v}");
    assert_eq!(v["affected"][0]["path"], json!([pdu]), "{v}");
    assert_eq!(v["affected"][1]["path"], json!([]), "{v}");
    assert_eq!(
        v["business_services"][0]["path"].as_array().map(Vec::len),
        Some(5),
        "{v}"
    );

    // A change on the PDU and another on a3 (beyond the truncated list) at the same time.
    let change = |cis: Vec<&String>| {
        json!({"title": "work", "cis": cis, "start": "2030-01-01T00:00:00Z", "end": "2030-01-01T02:00:00Z"})
            .to_string()
    };
    let (status, first) = app
        .send("POST", "/api/v1/changes", &ed, Some(change(vec![&pdu])))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let (status, second) = app
        .send("POST", "/api/v1/changes", &ed, Some(change(vec![&apps[2]])))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    assert_eq!(
        second["conflicts"].as_array().map(Vec::len),
        Some(1),
        "the second change touches a CI the first affects: {second}"
    );
}

#[tokio::test]
async fn an_agents_spool_drop_count_is_shown_per_agent_and_a_bad_one_refused() {
    let app = app().await;
    let batch = json!({
        "schema_version": cmdb_shared::SCHEMA_VERSION,
        "batch_id": "b1",
        "agent_version": "test",
        "interval_secs": 60,
    })
    .to_string();
    let post = |dropped: &'static str| {
        let req = Request::builder()
            .method("POST")
            .uri("/api/v1/device-reports")
            .header("authorization", format!("Bearer {}", app.agent_token))
            .header("content-type", "application/json")
            .header("x-cmdb-spool-dropped", dropped)
            .body(Body::from(batch.clone()))
            .expect("request");
        let state = app.state.clone();
        async move {
            crate::app(state)
                .oneshot(req)
                .await
                .expect("response")
                .status()
        }
    };
    // The count is taken before the body is looked at (a malformed poll still says it).
    assert_eq!(post("many").await, StatusCode::BAD_REQUEST);
    post("7").await;
    app.state.ingest.flush_last_seen().await;
    let (status, agents) = app
        .send("GET", "/api/v1/agents", &app.viewer_token, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        agents.to_string().contains("\"spool_dropped\":7"),
        "{agents}"
    );
}

#[tokio::test]
async fn a_text_search_pages_and_sorts_like_any_list_and_counts_every_match() {
    let app = app().await;
    let ed = app.editor().await;
    for (class, name) in [
        ("application", "web-c"),
        ("business_service", "web-a"),
        ("application", "web-b"),
        ("application", "db-1"),
        ("redundancy_group", "WEB-D"),
    ] {
        app.manual(&ed, class, name, json!({})).await;
    }
    let names = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|c| c["name"].as_str().expect("name").to_string())
            .collect()
    };
    let get = async |q: &str| {
        let (s, v) = app
            .send("GET", &format!("/api/v1/cis?{q}"), &app.viewer_token, None)
            .await;
        assert_eq!(s, StatusCode::OK, "{q}: {v}");
        v
    };
    // Case-insensitive, sorted by name (the default), paged, the total counting every match.
    let p1 = get("q=web&limit=2").await;
    assert_eq!(names(&p1), ["WEB-D", "web-a"], "{p1}");
    assert_eq!(p1["total"], 4);
    let p2 = get("q=web&limit=2&offset=2").await;
    assert_eq!(names(&p2), ["web-b", "web-c"], "{p2}");
    assert_eq!(p2["total"], 4);
    let past = get("q=web&limit=2&offset=4").await;
    assert!(names(&past).is_empty());
    assert_eq!(past["total"], 4);
    // Another order, and a filter with the search.
    let by_class = get("q=web&sort=class").await;
    assert_eq!(
        names(&by_class),
        ["web-b", "web-c", "web-a", "WEB-D"],
        "application, business_service, redundancy_group"
    );
    let apps = get("q=web&class=application").await;
    assert_eq!(names(&apps), ["web-b", "web-c"]);
    assert_eq!(apps["total"], 2);
    app.assert_catalogue().await;
}
