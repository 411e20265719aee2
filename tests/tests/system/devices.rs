//! Network devices end to end: the real `cmdb-agent` polls devices that snmpsim serves from
//! recordings of real devices (configured targets, and a discovery sweep), spools the polls
//! while the server is away, and pushes them; the real `cmdb-server` identifies each unit
//! once and serves it through the API.
//!
//! What each device's inventory must contain is checked against Net-SNMP in the `snmp`
//! module; here the API must give back exactly what the agent read (compared with
//! `cmdb-agent snmp inventory` of the same device), and two captures of one unit must be one
//! CI.

use std::path::Path;
use std::time::Duration;

use cmdb_tests::snmp::{Snmpsim, V3_AUTH_KEY, V3_PRIV_KEY, V3_USER, community, poll, v3_args};
use cmdb_tests::{Agent, Server};
use serde_json::Value;

use crate::common::{BDCOM, C3560, LINUX};

const LIMIT: Duration = Duration::from_secs(60);

fn devices(server: &Server) -> Vec<Value> {
    let (status, page) = server
        .get("/api/v1/cis?class=network_device&limit=100")
        .expect("list devices");
    assert_eq!(status, 200, "{page}");
    page["items"].as_array().cloned().unwrap_or_default()
}

fn ci(server: &Server, key: &str) -> Value {
    let (status, ci) = server.get(&format!("/api/v1/cis/{key}")).expect("get CI");
    assert_eq!(status, 200, "{ci}");
    ci
}

/// The one device CI whose sysDescr starts with `descr`.
fn device_by_descr(server: &Server, list: &[Value], descr: &str) -> Value {
    let found: Vec<Value> = list
        .iter()
        .map(|d| ci(server, d["key"].as_str().expect("key")))
        .filter(|c| {
            c["sections"]["device"]["system"]["descr"]
                .as_str()
                .is_some_and(|d| d.starts_with(descr))
        })
        .collect();
    assert_eq!(found.len(), 1, "one CI for {descr:?}: {list:?}");
    found.into_iter().next().expect("one")
}

#[test]
fn polled_and_discovered_devices_become_one_ci_per_unit_and_nothing_is_lost() {
    let sim = Snmpsim::start("devices-e2e", &[C3560, BDCOM, LINUX]).expect("snmpsim");
    let mut server = Server::start().expect("server");
    let agent = Agent::new(Path::new("/"), 1).expect("agent");
    // The C3560 twice (v2c and v3: two captures of one unit), the Linux recording, and a
    // sweep of 127.0.0.1 whose first credential gets no answer and whose second finds the
    // BDCOM. Targets are named `localhost` so that the swept address is not a configured
    // one (a configured address is polled once, with its configured credential).
    let port = sim.port;
    let mut cfg = std::fs::read_to_string(&agent.config).expect("config");
    cfg.push_str(&format!(
        r#"
[snmp]
interval_secs = 1
timeout_secs = 1.0
retries = 1
[snmp.credentials.c3560]
version = "2c"
community = "{C3560}"
[snmp.credentials.linux]
version = "2c"
community = "{LINUX}"
[snmp.credentials.nobody]
version = "2c"
community = "no-such-community"
[snmp.credentials.bdcom]
version = "2c"
community = "{BDCOM}"
[snmp.credentials.v3]
version = "3"
user = "{V3_USER}"
auth_protocol = "sha"
auth_key = "{V3_AUTH_KEY}"
priv_protocol = "aes"
priv_key = "{V3_PRIV_KEY}"
[[snmp.targets]]
address = "localhost:{port}"
credential = "c3560"
[[snmp.targets]]
address = "localhost:{port}"
credential = "v3"
context = "{C3560}"
[[snmp.targets]]
address = "localhost:{port}"
credential = "linux"
[[snmp.discovery]]
cidr = "127.0.0.1/32"
port = {port}
credentials = ["nobody", "bdcom"]
interval_secs = 1
"#
    ));
    std::fs::write(&agent.config, cfg).expect("write config");
    agent.enroll(&server).expect("enroll");

    // Server away: the host report, the four device polls and a metric batch wait in the
    // spool.
    server.stop().expect("stop server");
    let (ok, out) = agent.cmd(&["run", "--once"]).expect("run");
    assert!(!ok, "nothing can be delivered: {out}");
    assert!(
        out.contains("devices: 4 polled, 0 failed, 1 range(s) swept"),
        "{out}"
    );
    assert_eq!(agent.spooled(), 6, "{out}");

    server.resume().expect("resume server");
    let out = agent.run_once().expect("deliver");
    assert_eq!(agent.spooled(), 0, "{out}");

    // One CI per unit: the two C3560 captures are one.
    let list = devices(&server);
    assert_eq!(list.len(), 3, "{list:?}");
    let c3560 = device_by_descr(&server, &list, "Cisco IOS Software, C3560");
    let bdcom = device_by_descr(&server, &list, "BDCOM");
    let linux = device_by_descr(&server, &list, "Linux");

    // The API gives back what the agent read, over v2c and v3 alike.
    let direct = poll(&sim.target(), &[community(C3560)], LIMIT).expect("c3560 direct");
    let v3 = poll(
        &sim.target(),
        &v3_args(V3_AUTH_KEY, V3_PRIV_KEY, Some(C3560)),
        LIMIT,
    )
    .expect("c3560 v3 direct");
    assert_eq!(direct.inventory, v3.inventory, "v2c and v3 read the same");
    let inv = &direct.inventory;
    let serial = inv.serial.clone().expect("the C3560 has a chassis serial");
    assert_eq!(c3560["serial"].as_str(), Some(serial.as_str()));
    assert_eq!(c3560["class"], "network_device");
    assert_eq!(
        c3560["sections"]["device"]["model"].as_str(),
        inv.model.as_deref()
    );
    assert_eq!(
        c3560["sections"]["device"]["firmware"].as_str(),
        inv.firmware.as_deref()
    );
    assert_eq!(
        c3560["sections"]["device"]["interfaces"]
            .as_array()
            .map(Vec::len),
        Some(inv.interfaces.len())
    );
    assert_eq!(
        c3560["device"]["cdp_neighbors"],
        serde_json::to_value(&inv.cdp_neighbors).expect("json"),
        "CDP neighbours as polled"
    );
    assert_eq!(
        c3560["device"]["arp"],
        serde_json::to_value(&inv.arp).expect("json"),
        "ARP as polled"
    );
    assert!(
        c3560["device"]["metrics"]["interfaces"]
            .as_array()
            .is_some_and(|c| !c.is_empty()),
        "interface counters: {}",
        c3560["device"]
    );
    assert_eq!(c3560["device"]["source"], "config");

    let direct = poll(&sim.target(), &[community(BDCOM)], LIMIT).expect("bdcom direct");
    assert_eq!(
        bdcom["device"]["forwarding"],
        serde_json::to_value(&direct.inventory.forwarding).expect("json"),
        "the BDCOM's forwarding table as polled"
    );
    assert!(direct.inventory.forwarding.len() > 700);
    assert_eq!(bdcom["device"]["source"], "discovery");
    assert_eq!(bdcom["vendor"], "BDCOM");

    let direct = poll(&sim.target(), &[community(LINUX)], LIMIT).expect("linux direct");
    assert_eq!(
        linux["sections"]["device"]["storage"]
            .as_array()
            .map(Vec::len),
        Some(direct.inventory.storage.len())
    );
    assert_eq!(
        linux["name"].as_str(),
        direct.inventory.system.name.as_deref()
    );

    // Search finds a device by its serial, and the agent stays bound to its own host.
    let (status, found) = server
        .get(&format!("/api/v1/cis?q={}", serial.to_lowercase()))
        .expect("search");
    assert_eq!(status, 200);
    let keys: Vec<&str> = found["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["key"].as_str())
        .collect();
    assert_eq!(keys, vec![c3560["key"].as_str().expect("key")]);
    let host = server.only_host().expect("the agent's own host CI");
    let (_, agents) = server.get("/api/v1/agents").expect("agents");
    assert_eq!(agents[0]["ci"].as_str(), Some(host.as_str()), "{agents}");

    // Polling again changes nothing: no history beyond each CI's creation.
    let before: Vec<usize> = [&c3560, &bdcom, &linux]
        .iter()
        .map(|c| {
            server
                .history(c["key"].as_str().expect("key"))
                .expect("history")
                .len()
        })
        .collect();
    assert_eq!(before, vec![1, 1, 1], "one creation record each");
    let out = agent.run_once().expect("second round");
    assert!(out.contains("devices: 4 polled"), "{out}");
    assert_eq!(devices(&server).len(), 3);
    let after: Vec<usize> = [&c3560, &bdcom, &linux]
        .iter()
        .map(|c| {
            server
                .history(c["key"].as_str().expect("key"))
                .expect("history")
                .len()
        })
        .collect();
    assert_eq!(after, before, "an unchanged device writes no history");

    // The daemon polls configured and discovered devices on their own interval (1 s here)
    // and pushes them: each device's latest poll time moves on.
    let polled_at = |c: &Value| {
        ci(&server, c["key"].as_str().expect("key"))["device"]["polled_at"]
            .as_str()
            .map(str::to_string)
    };
    let (c_before, b_before) = (polled_at(&c3560), polled_at(&bdcom));
    assert!(c_before.is_some() && b_before.is_some());
    let mut agent = agent;
    agent.start_daemon().expect("daemon");
    cmdb_tests::wait_for(Duration::from_secs(60), || {
        (polled_at(&c3560) != c_before && polled_at(&bdcom) != b_before).then_some(())
    })
    .unwrap_or_else(|e| panic!("the daemon polled nothing new: {e}\n{}", agent.logs()));
    assert_eq!(devices(&server).len(), 3, "still one CI per unit");
}
