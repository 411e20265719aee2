//! Attacks with one agent's credential, against the real server: a report that names another
//! host's weak identification keys (FQDN, MACs, machine-id) must not move that host's CI, nor
//! touch its sections, history or agent binding; it gets a CI of its own, flagged as a
//! suspected duplicate. A second agent on the same host (same machine-id, no DMI UUID) must
//! not make the CI flip between the two. Only an admin's decision moves a CI.

use std::path::Path;

use cmdb_shared::hash::inventory_hashes;
use cmdb_shared::{
    Connection, Guest, Identity, Inventory, IpAddress, ListeningSocket, NetworkInterface, Report,
    ReportKind, SCHEMA_VERSION, Sockets, Virtualization,
};
use cmdb_tests::{Agent, Server};
use serde_json::{Value, json};

const VICTIM_UUID: &str = "6f1c2a4e-52b6-4c0b-9e1d-1b0f6c3d2a11";
const VICTIM_ADDRESS: &str = "192.0.2.11";

/// Enrolls through the API, as anyone holding the fleet token can: the attacker's credential.
fn enroll(server: &Server, hostname: &str) -> String {
    server.enroll_via_api(hostname).expect("enroll")
}

/// A full report with only the given identity and interfaces.
fn report(id: &str, identity: Identity, network: Vec<NetworkInterface>) -> Vec<u8> {
    report_with(id, identity, network, None, None)
}

fn report_with(
    id: &str,
    identity: Identity,
    network: Vec<NetworkInterface>,
    sockets: Option<Sockets>,
    virtualization: Option<Virtualization>,
) -> Vec<u8> {
    let inventory = Inventory {
        identity: Some(identity),
        network: Some(network),
        sockets,
        virtualization,
        ..Default::default()
    };
    serde_json::to_vec(&Report {
        schema_version: SCHEMA_VERSION,
        report_id: id.into(),
        kind: ReportKind::Full,
        agent_version: "attacker".into(),
        collected_at: chrono::Utc::now(),
        section_hashes: inventory_hashes(&inventory),
        inventory,
        errors: vec![],
    })
    .expect("report json")
}

fn ci(server: &Server, id: &str) -> Value {
    let (status, v) = server.get(&format!("/api/v1/cis/{id}")).expect("ci");
    assert_eq!(status, 200, "{v}");
    v
}

/// What must not change on the victim: its binding, sections, keys and history.
fn fingerprint(server: &Server, id: &str) -> (Value, Value, Value, usize) {
    let v = ci(server, id);
    let history = server.history(id).expect("history").len();
    (
        v["agent"].clone(),
        v["sections"].clone(),
        v["keys"].clone(),
        history,
    )
}

fn agent_of_ci(server: &Server, ci: &str) -> String {
    let (status, agents) = server.get("/api/v1/agents").expect("agents");
    assert_eq!(status, 200, "{agents}");
    agents
        .as_array()
        .expect("agents")
        .iter()
        .find(|a| a["ci"] == ci)
        .and_then(|a| a["key"].as_str())
        .unwrap_or_else(|| panic!("no agent bound to {ci}: {agents}"))
        .to_string()
}

#[test]
fn a_stolen_agent_credential_cannot_take_another_hosts_ci_by_a_weak_key() {
    let server = Server::start().expect("server");
    // The victim: a VM with no DMI UUID or serial, so its keys are all weak (FQDN, MAC,
    // machine-id), reporting with its own credential.
    let victim_token = enroll(&server, "db01");
    let victim_identity = Identity {
        hostname: "db01".into(),
        fqdn: Some("db01.example.com".into()),
        machine_id: Some("9f00d1b2c3e4f5a6b7c8d9e0f1a2b3c4".into()),
        hardware_uuid: Some(VICTIM_UUID.into()),
        ..Default::default()
    };
    let victim_nic = NetworkInterface {
        name: "ens18".into(),
        mac: Some("bc:24:11:5e:00:0b".into()),
        physical: true,
        state: "up".into(),
        addresses: vec![IpAddress {
            address: VICTIM_ADDRESS.into(),
            prefix_len: 24,
            family: "inet".into(),
        }],
        ..Default::default()
    };
    let (status, ack) = server
        .request(
            "POST",
            "/api/v1/reports",
            &victim_token,
            Some(report(
                "victim-1",
                victim_identity.clone(),
                vec![victim_nic.clone()],
            )),
            &[],
        )
        .expect("victim report");
    assert_eq!(status, 200, "{ack}");
    let b = ack["ci_id"].as_str().expect("ci_id").to_string();
    let keys = ci(&server, &b)["keys"].clone();
    assert_eq!(
        (
            keys["fqdn"].is_string(),
            keys["macs"].as_array().map(Vec::len)
        ),
        (true, Some(1)),
        "{keys}"
    );
    let before = fingerprint(&server, &b);
    let victim_agent = agent_of_ci(&server, &b);

    let token = enroll(&server, "attacker");
    let mut attacks: Vec<(&str, Identity, Vec<NetworkInterface>)> = Vec::new();
    if let Some(fqdn) = keys["fqdn"].as_str() {
        attacks.push((
            "fqdn",
            Identity {
                hostname: "attacker".into(),
                fqdn: Some(fqdn.into()),
                ..Default::default()
            },
            vec![],
        ));
    }
    if let Some(mac) = keys["macs"].as_array().and_then(|m| m.first()) {
        attacks.push((
            "mac",
            Identity {
                hostname: "attacker".into(),
                ..Default::default()
            },
            vec![NetworkInterface {
                name: "eth0".into(),
                mac: mac.as_str().map(str::to_string),
                permanent_mac: mac.as_str().map(str::to_string),
                physical: true,
                state: "up".into(),
                ..Default::default()
            }],
        ));
    }
    let machine_id = keys["machine_id"]
        .as_str()
        .expect("this host has a machine-id");
    attacks.push((
        "machine-id",
        Identity {
            hostname: "attacker".into(),
            machine_id: Some(machine_id.into()),
            ..Default::default()
        },
        vec![],
    ));
    assert_eq!(attacks.len(), 3);
    let mut attacker_cis = Vec::new();
    for (n, (what, identity, network)) in attacks.into_iter().enumerate() {
        let (status, ack) = server
            .request(
                "POST",
                "/api/v1/reports",
                &token,
                Some(report(&format!("attack-{n}"), identity, network)),
                &[],
            )
            .expect("report");
        assert_eq!(status, 200, "{what}: {ack}");
        let mine = ack["ci_id"].as_str().expect("ci_id").to_string();
        assert_ne!(
            mine, b,
            "{what}: the attacker's report took the victim's CI"
        );
        assert_eq!(
            fingerprint(&server, &b),
            before,
            "{what}: the victim's CI changed"
        );
        let flagged = ci(&server, &mine)["suspected_duplicates"].clone();
        assert!(
            flagged.as_array().is_some_and(|f| f.contains(&json!(b))),
            "{what}: the attacker's CI is not flagged as a suspected duplicate of the victim's: {flagged}"
        );
        attacker_cis.push(mine);
    }
    // One CI for the attacker throughout (its own, rewritten), not one per attempt.
    attacker_cis.dedup();
    assert_eq!(attacker_cis.len(), 1, "{attacker_cis:?}");
    let attacker = attacker_cis[0].clone();

    // Fake inbound connections from the victim's address to a service of the attacker, and
    // a guest list naming the victim's UUID: no edge from the victim's CI, nothing of the
    // victim in the attacker's impact, nothing of the attacker in the victim's dependencies.
    let sockets = Sockets {
        listening: vec![ListeningSocket {
            protocol: "tcp".into(),
            address: "0.0.0.0".into(),
            port: 443,
            process: Some("nginx".into()),
            pid: None,
        }],
        connections: vec![Connection {
            protocol: "tcp".into(),
            local_address: "192.0.2.66".into(),
            remote_address: VICTIM_ADDRESS.into(),
            remote_port: 0,
            inbound: true,
            local_port: Some(443),
            process: Some("nginx".into()),
        }],
    };
    let guests = Virtualization {
        guests: vec![Guest {
            name: "db01".into(),
            uuid: VICTIM_UUID.into(),
            hypervisor: "kvm".into(),
        }],
        ..Default::default()
    };
    let (status, ack) = server
        .request(
            "POST",
            "/api/v1/reports",
            &token,
            Some(report_with(
                "attack-edges",
                Identity {
                    hostname: "attacker".into(),
                    ..Default::default()
                },
                vec![NetworkInterface {
                    name: "eth0".into(),
                    state: "up".into(),
                    addresses: vec![IpAddress {
                        address: "192.0.2.66".into(),
                        prefix_len: 24,
                        family: "inet".into(),
                    }],
                    ..Default::default()
                }],
                Some(sockets),
                Some(guests),
            )),
            &[],
        )
        .expect("report");
    assert_eq!(
        (status, ack["ci_id"].as_str()),
        (200, Some(attacker.as_str())),
        "{ack}"
    );
    let (status, rels) = server
        .get(&format!("/api/v1/cis/{b}/relationships"))
        .expect("relationships");
    assert_eq!(status, 200, "{rels}");
    assert!(
        !rels.to_string().contains(&format!("\"from\":\"{b}\"")),
        "an edge from the victim's CI: {rels}"
    );
    let (_, impact) = server
        .get(&format!("/api/v1/cis/{attacker}/impact"))
        .expect("impact");
    assert!(
        !impact.to_string().contains(&b),
        "the victim is affected when the attacker's host fails: {impact}"
    );
    let (_, deps) = server
        .get(&format!("/api/v1/cis/{b}/dependencies"))
        .expect("dependencies");
    assert_eq!(deps["dependencies"], json!([]), "{deps}");
    assert_eq!(fingerprint(&server, &b), before, "the victim's CI changed");
    assert_eq!(agent_of_ci(&server, &b), victim_agent);
    // The victim still reports into its CI.
    let (status, ack) = server
        .request(
            "POST",
            "/api/v1/reports",
            &victim_token,
            Some(report("victim-2", victim_identity, vec![victim_nic])),
            &[],
        )
        .expect("victim report");
    assert_eq!(
        (status, ack["ci_id"].as_str()),
        (200, Some(b.as_str())),
        "{ack}"
    );
    assert_eq!(ci(&server, &b)["agent"], json!(victim_agent));
}

#[test]
fn a_second_agent_on_the_same_host_does_not_flip_the_ci_and_an_admin_decides() {
    let server = Server::start().expect("server");
    let first = Agent::new(Path::new("/"), 300).expect("agent");
    first.enroll(&server).expect("enroll");
    first.run_once().expect("first reports");
    let b = server.only_host().expect("first CI");
    let first_agent = agent_of_ci(&server, &b);
    // A second agent installed on the same host (same machine-id, MACs, FQDN).
    let second = Agent::new(Path::new("/"), 300).expect("agent");
    second.enroll(&server).expect("enroll");
    for _ in 0..2 {
        second.run_once().expect("second reports");
        first.run_once().expect("first reports");
    }
    let (_, page) = server.get("/api/v1/cis?class=host").expect("list");
    let hosts: Vec<String> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|c| c["key"].as_str().expect("key").to_string())
        .collect();
    assert_eq!(hosts.len(), 2, "{page}");
    let c = hosts.iter().find(|k| **k != b).expect("second CI").clone();
    assert_eq!(ci(&server, &b)["agent"], json!(first_agent));
    let moves = |id: &str| {
        server
            .history(id)
            .expect("history")
            .iter()
            .filter(|h| h["attribute"] == "agent")
            .count()
    };
    assert_eq!(moves(&b), 0, "the CI flipped between the agents");
    assert_eq!(ci(&server, &c)["suspected_duplicates"], json!([b]));
    let second_agent = agent_of_ci(&server, &c);

    // Only an admin may move it.
    let viewer = server.create_token("viewer", "v").expect("token").1;
    let body = json!({"agent": second_agent}).to_string().into_bytes();
    let put = |token: &str, body: Vec<u8>| {
        server
            .request(
                "PUT",
                &format!("/api/v1/cis/{b}/agent"),
                token,
                Some(body),
                &[],
            )
            .expect("bind")
    };
    assert_eq!(put(&viewer, body.clone()).0, 403);
    let (status, v) = put(
        &server.init.admin_token,
        json!({"agent": "nope"}).to_string().into_bytes(),
    );
    assert_eq!(status, 404, "{v}");
    let (status, v) = put(&server.init.admin_token, body);
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["previous_agent"].clone(), v["previous_ci"].clone()),
        (json!(first_agent), json!(c))
    );
    assert_eq!(moves(&b), 1, "the admin's move is in the history");
    // The second agent now reports into it; the first one's next report finds the CI the
    // second left unbound (no agent holds it, so a weak key may take it), still flagged.
    second.run_once().expect("second reports");
    assert_eq!(ci(&server, &b)["agent"], json!(second_agent));
    first.run_once().expect("first reports");
    assert_eq!(ci(&server, &b)["agent"], json!(second_agent));
    assert_eq!(ci(&server, &c)["agent"], json!(first_agent));
    assert_eq!(ci(&server, &c)["suspected_duplicates"], json!([b]));
    let (_, page) = server.get("/api/v1/cis?class=host").expect("list");
    assert_eq!(page["items"].as_array().map(Vec::len), Some(2), "{page}");

    // Two CIs an admin says are distinct: the flag goes, once.
    let path = format!("/api/v1/cis/{c}/suspected_duplicates/{b}");
    let del = || {
        server
            .request("DELETE", &path, &server.init.admin_token, None, &[])
            .expect("dismiss")
            .0
    };
    let flagged = || {
        let (_, page) = server.get("/api/v1/cis?duplicates=true").expect("flagged");
        page["total"].clone()
    };
    assert_eq!(flagged(), json!(1), "c is flagged");
    assert_eq!(del(), 204);
    assert_eq!(ci(&server, &c)["suspected_duplicates"], json!([]));
    // The CI list's filter (the catalogue, in memory) follows at once.
    assert_eq!(flagged(), json!(0));
    assert_eq!(del(), 404);
}

fn device_poll(id: &str, serial: &str, location: &str) -> Vec<u8> {
    use cmdb_shared::device::{
        DeviceInventory, DeviceMetrics, DeviceReport, SystemGroup, TargetSource,
    };
    let now = chrono::Utc::now();
    serde_json::to_vec(&DeviceReport {
        schema_version: SCHEMA_VERSION,
        report_id: id.into(),
        agent_version: "test".into(),
        collected_at: now,
        source: TargetSource::Config,
        inventory: DeviceInventory {
            target: "192.0.2.1".into(),
            system: SystemGroup {
                descr: Some("Cisco IOS Software, C2960X".into()),
                name: Some("core-sw1".into()),
                location: Some(location.into()),
                ..Default::default()
            },
            vendor: Some("Cisco".into()),
            serial: Some(serial.into()),
            ..Default::default()
        },
        metrics: DeviceMetrics {
            at: Some(now),
            uptime_ticks: Some(8_640_000),
            interfaces: vec![],
        },
    })
    .expect("device report json")
}

#[test]
fn a_poller_not_assigned_to_a_device_cannot_write_it_until_an_admin_assigns_it() {
    let server = Server::start().expect("server");
    let first = enroll(&server, "poller-1");
    let intruder = enroll(&server, "poller-2");
    let post = |token: &str, body: Vec<u8>| {
        server
            .request("POST", "/api/v1/device-reports", token, Some(body), &[])
            .expect("device report")
    };
    let (status, ack) = post(&first, device_poll("d1", "FOC1234X0AB", "DC1 R12"));
    assert_eq!(status, 200, "{ack}");
    let dev = ack["ci_id"].as_str().expect("ci_id").to_string();
    let before = fingerprint(&server, &dev);
    // Another agent's poll of the same unit (same serial), rewriting its location.
    let (status, v) = post(
        &intruder,
        device_poll("d2", "FOC1234X0AB", "attacker was here"),
    );
    assert_eq!(status, 403, "{v}");
    assert!(
        v["error"].as_str().is_some_and(|e| e.contains("assigned")),
        "{v}"
    );
    assert_eq!(fingerprint(&server, &dev), before, "the device changed");
    assert_eq!(
        ci(&server, &dev)["pollers"].as_array().map(Vec::len),
        Some(1)
    );

    // An admin assigns the second poller beside the first: its polls are written.
    let (_, agents) = server.get("/api/v1/agents").expect("agents");
    let second = agents
        .as_array()
        .expect("agents")
        .iter()
        .find(|a| a["hostname"] == "poller-2")
        .and_then(|a| a["key"].as_str())
        .expect("poller-2")
        .to_string();
    let (status, v) = server
        .request(
            "PUT",
            &format!("/api/v1/cis/{dev}/agent"),
            &server.init.admin_token,
            Some(
                json!({"agent": second, "add": true})
                    .to_string()
                    .into_bytes(),
            ),
            &[],
        )
        .expect("assign");
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["pollers"].as_array().map(Vec::len), Some(2), "{v}");
    let (status, v) = post(&intruder, device_poll("d3", "FOC1234X0AB", "DC1 R13"));
    assert_eq!(
        (status, v["ci_id"].as_str()),
        (200, Some(dev.as_str())),
        "{v}"
    );
}
