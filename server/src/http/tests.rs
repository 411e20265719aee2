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
use crate::ingest::now_str;
use crate::storage::{AgentRecord, Store, TokenRecord};

struct App {
    state: Arc<AppState>,
    agent_token: String,
    viewer_token: String,
}

async fn app() -> App {
    let config = Config::parse(
        "data_dir = \"/nonexistent\"\n[tls]\nenabled = false\n",
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
            },
            &TokenRecord {
                key: "ta1".into(),
                hash: hash_token(&agent_token),
                role: "agent".into(),
                description: String::new(),
                created_at: now_str(),
                revoked: false,
                agent: Some("a1".into()),
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
        })
        .await
        .expect("viewer");
    App {
        state: AppState::new(config, store).await.expect("state"),
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
        self.state.store.counts().await.expect("counts")["cis"]
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
    let doc = serde_json::to_value(super::ops::openapi_doc()).expect("json");
    assert!(doc["paths"]["/api/v1/device-reports"]["post"].is_object());
    let schemas = &doc["components"]["schemas"];
    for s in ["DeviceReport", "DeviceDetail", "DeviceKeys"] {
        assert!(schemas[s].is_object(), "{s} missing");
    }
}
