use super::*;
use cmdb_graph::RelKind;
use cmdb_shared::device::DeviceInventory;
use cmdb_shared::device::{DeviceInterface, ForwardingEntry, LldpNeighbor};
use cmdb_shared::{Connection, Guest, IpAddress, ListeningSocket};
use cmdb_shared::{NetworkInterface, Sockets, Virtualization};
use serde_json::json;

fn iface(index: u32, name: &str) -> DeviceInterface {
    DeviceInterface {
        index,
        name: name.into(),
        ..Default::default()
    }
}

fn switch(name: &str, chassis: &str, ports: &[(u32, &str)]) -> DeviceInventory {
    DeviceInventory {
        target: "192.0.2.1".into(),
        system: cmdb_shared::device::SystemGroup {
            name: Some(name.into()),
            ..Default::default()
        },
        base_bridge_mac: Some(chassis.into()),
        interfaces: ports.iter().map(|(i, n)| iface(*i, n)).collect(),
        ..Default::default()
    }
}

fn lldp(local: &str, chassis: &str, port_subtype: &str, port: &str) -> LldpNeighbor {
    LldpNeighbor {
        local_port_num: 1,
        local_port: Some(local.into()),
        chassis_id_subtype: "macAddress".into(),
        chassis_id: chassis.into(),
        port_id_subtype: port_subtype.into(),
        port_id: port.into(),
        ..Default::default()
    }
}

fn with_switches() -> (Directory, DeviceInventory, DeviceInventory) {
    let mut a = switch(
        "sw-a",
        "00:00:00:00:0a:00",
        &[(10, "xe-0/0/1"), (11, "ge-0/0/2")],
    );
    let mut b = switch(
        "sw-b",
        "00:00:00:00:0b:00",
        &[(628, "xe-1/2/0"), (5, "ge-0/0/9")],
    );
    // a sees b's ifIndex 628 (a Juniper "local" port id); b sees a's port by name.
    a.lldp_neighbors = vec![lldp("xe-0/0/1", "00:00:00:00:0b:00", "local", "628")];
    b.lldp_neighbors = vec![lldp(
        "xe-1/2/0",
        "00:00:00:00:0a:00",
        "interfaceName",
        "xe-0/0/1",
    )];
    let mut dir = Directory::default();
    for (k, inv) in [("a", &a), ("b", &b)] {
        let chassis = vec![inv.base_bridge_mac.clone().unwrap_or_default()];
        dir.set(
            k,
            device_facts(
                &inv.system.name.clone().unwrap_or_default(),
                inv,
                &[],
                &chassis,
            ),
        );
    }
    (dir, a, b)
}

#[test]
fn a_link_seen_from_both_ends_is_one_edge_with_both_canonical_port_names() {
    let (dir, a, b) = with_switches();
    let from_a = derive_device(&dir, "a", &a, 64);
    let from_b = derive_device(&dir, "b", &b, 64);
    assert_eq!(from_a.len(), 1);
    assert_eq!(from_a, from_b);
    assert_eq!((from_a[0].from.as_str(), from_a[0].to.as_str()), ("a", "b"));
    assert_eq!(
        from_a[0].evidence,
        json!({"from_port": "xe-0/0/1", "to_port": "xe-1/2/0"})
    );
}

#[test]
fn an_unknown_neighbour_makes_no_edge_and_its_port_is_an_uplink() {
    let (mut dir, mut a, _) = with_switches();
    a.lldp_neighbors = vec![lldp("ge-0/0/2", "00:00:00:00:ee:ee", "local", "1")];
    // A host whose NIC is learned on that port: not attached, the port leads elsewhere.
    dir.set(
        "h",
        Facts {
            class: "host".into(),
            macs: vec!["52:54:00:00:00:01".into()],
            ..Default::default()
        },
    );
    a.forwarding = vec![ForwardingEntry {
        mac: "52:54:00:00:00:01".into(),
        bridge_port: 2,
        if_index: Some(11),
        status: Some("learned".into()),
        vlan: None,
    }];
    assert!(derive_device(&dir, "a", &a, 64).is_empty());
}

#[test]
fn a_host_nic_learned_on_an_access_port_is_linked_but_not_on_a_trunk() {
    let (mut dir, mut a, _) = with_switches();
    a.lldp_neighbors.clear();
    let host = HostView {
        key: "h".into(),
        name: "web01".into(),
        network: vec![NetworkInterface {
            name: "eno1".into(),
            mac: Some("52:54:00:00:00:01".into()),
            physical: true,
            ..Default::default()
        }],
        ..Default::default()
    };
    dir.set("h", host_facts(&host, None, &[]));
    a.forwarding = vec![ForwardingEntry {
        mac: "52-54-00-00-00-01".into(),
        bridge_port: 2,
        if_index: Some(11),
        status: Some("learned".into()),
        vlan: Some(10),
    }];
    let edges = derive_device(&dir, "a", &a, 64);
    assert_eq!(edges.len(), 1);
    assert_eq!(edges[0].discovered_by, "fdb");
    // Sorted ends: "a" (the switch) before "h".
    assert_eq!(
        edges[0].evidence,
        json!({"from_port": "ge-0/0/2", "to_port": "eno1", "mac": "52:54:00:00:00:01"})
    );
    // The same port with more MACs than an access port has: a trunk, no link.
    for i in 2..=3 {
        a.forwarding.push(ForwardingEntry {
            mac: format!("52:54:00:00:01:0{i}"),
            bridge_port: 2,
            if_index: Some(11),
            status: None,
            vlan: None,
        });
    }
    assert!(derive_device(&dir, "a", &a, 2).is_empty());
}

fn sockets(listening: &[(&str, u16)], connections: Vec<Connection>) -> Sockets {
    Sockets {
        listening: listening
            .iter()
            .map(|(p, port)| ListeningSocket {
                protocol: "tcp".into(),
                address: "0.0.0.0".into(),
                port: *port,
                process: Some(p.to_string()),
                pid: None,
            })
            .collect(),
        connections,
    }
}

fn host(key: &str, addr: &str, s: Sockets) -> HostView {
    HostView {
        key: key.into(),
        name: key.into(),
        network: vec![NetworkInterface {
            name: "eth0".into(),
            addresses: vec![IpAddress {
                address: addr.into(),
                prefix_len: 24,
                family: "inet".into(),
            }],
            ..Default::default()
        }],
        sockets: Some(s),
        ..Default::default()
    }
}

fn register(dir: &mut Directory, h: &HostView, addr: &str) {
    dir.set(&h.key, host_facts(h, None, &[addr.to_string()]));
    let s = listening_services(&h.key, h.sockets.as_ref().expect("sockets"), 500);
    dir.set_services(&h.key, s);
}

#[test]
fn connections_become_depends_on_from_either_end_with_the_port() {
    let out = |remote: &str, port: u16, process: &str| Connection {
        protocol: "tcp".into(),
        local_address: "10.0.0.1".into(),
        remote_address: remote.into(),
        remote_port: port,
        inbound: false,
        local_port: None,
        process: Some(process.into()),
    };
    let app = host(
        "app",
        "10.0.0.1",
        sockets(
            &[("java", 8080)],
            vec![
                out("10.0.0.2", 5432, "java"),
                out("127.0.0.1", 6379, "curl"),
            ],
        ),
    );
    let db = host(
        "db",
        "10.0.0.2",
        sockets(
            &[("postgres", 5432)],
            vec![Connection {
                protocol: "tcp".into(),
                local_address: "10.0.0.2".into(),
                remote_address: "10.0.0.1".into(),
                remote_port: 0,
                inbound: true,
                local_port: Some(5432),
                process: Some("postgres".into()),
            }],
        ),
    );
    let mut dir = Directory::default();
    register(&mut dir, &app, "10.0.0.1");
    register(&mut dir, &db, "10.0.0.2");
    let java = service_key("app", "java");
    let pg = service_key("db", "postgres");
    let from_app = derive_host(&dir, &app);
    let dep: Vec<&DiscoveredEdge> = from_app
        .iter()
        .filter(|d| d.kind == RelKind::DependsOn)
        .collect();
    // The client process is a service itself: java → postgres. The loopback connection
    // to an unknown local port makes nothing.
    assert_eq!(dep.len(), 1);
    assert_eq!(
        (dep[0].from.as_str(), dep[0].to.as_str()),
        (java.as_str(), pg.as_str())
    );
    assert_eq!(dep[0].evidence, json!({"ports": [5432]}));
    // The server sees the inbound connection: the client host (its process is unknown
    // there) → postgres.
    let from_db = derive_host(&dir, &db);
    let dep: Vec<&DiscoveredEdge> = from_db
        .iter()
        .filter(|d| d.kind == RelKind::DependsOn)
        .collect();
    assert_eq!(
        (dep[0].from.as_str(), dep[0].to.as_str()),
        ("app", pg.as_str())
    );
    let runs: Vec<&DiscoveredEdge> = from_db
        .iter()
        .filter(|d| d.kind == RelKind::RunsOn)
        .collect();
    assert_eq!(
        (runs[0].from.as_str(), runs[0].to.as_str()),
        (pg.as_str(), "db")
    );
}

#[test]
fn a_guest_uuid_relates_vm_and_hypervisor_whichever_reports_first() {
    let mut dir = Directory::default();
    let vm = HostView {
        key: "vm".into(),
        name: "vm".into(),
        hardware_uuid: Some("6F1C2A4E-52B6-4C0B-9E1D-1B0F6C3D2A11".into()),
        ..Default::default()
    };
    let hv = HostView {
        key: "hv".into(),
        name: "hv".into(),
        virtualization: Some(Virtualization {
            guests: vec![Guest {
                name: "vm".into(),
                uuid: "6f1c2a4e-52b6-4c0b-9e1d-1b0f6c3d2a11".into(),
                hypervisor: "kvm".into(),
            }],
            ..Default::default()
        }),
        ..Default::default()
    };
    dir.set("vm", host_facts(&vm, None, &[]));
    dir.set("hv", host_facts(&hv, None, &[]));
    let a = derive_host(&dir, &vm);
    let b = derive_host(&dir, &hv);
    assert_eq!(a.len(), 1);
    assert_eq!(a, b);
    assert_eq!(
        (a[0].from.as_str(), a[0].to.as_str(), a[0].kind),
        ("vm", "hv", RelKind::HostedOn)
    );
}

#[test]
fn an_address_two_cis_claim_identifies_neither() {
    let mut dir = Directory::default();
    for k in ["x", "y"] {
        dir.set(
            k,
            Facts {
                class: "host".into(),
                addresses: vec!["172.17.0.1".parse().expect("ip")],
                ..Default::default()
            },
        );
    }
    assert_eq!(dir.by_address(&"172.17.0.1".parse().expect("ip")), None);
    dir.remove("y");
    assert_eq!(
        dir.by_address(&"172.17.0.1".parse().expect("ip")),
        Some("x")
    );
    assert_eq!(dir.by_address(&"127.0.0.1".parse().expect("ip")), None);
}

#[test]
fn a_neighbour_named_with_a_serial_suffix_is_found_by_name_or_serial() {
    let mut dir = Directory::default();
    dir.set(
        "nx",
        Facts {
            class: "network_device".into(),
            names: vec!["NWPU-CA-5548-01.example.net".into()],
            serial: Some("SSI183706KP".into()),
            ..Default::default()
        },
    );
    assert_eq!(
        dir.neighbour(Some("NWPU-CA-5548-01(SSI183706KP)"), None, None, None),
        Some("nx")
    );
    assert_eq!(
        dir.neighbour(Some("other(SSI183706KP)"), None, None, None),
        Some("nx")
    );
    assert_eq!(dir.neighbour(Some("nope"), None, None, None), None);
}

#[test]
fn a_report_speaks_only_for_its_own_agents_cis() {
    // "db" (agent B) claims an inbound connection from "app" (agent A's host) and lists the
    // UUID of "vm" (agent A's too) among its guests: neither gives an edge from A's CIs.
    let mut app = host("app", "10.0.0.1", sockets(&[], vec![]));
    app.agent = Some("agent-a".into());
    app.hardware_uuid = Some("6f1c2a4e-52b6-4c0b-9e1d-1b0f6c3d2a11".into());
    let mut db = host(
        "db",
        "10.0.0.2",
        sockets(
            &[("postgres", 5432)],
            vec![Connection {
                protocol: "tcp".into(),
                local_address: "10.0.0.2".into(),
                remote_address: "10.0.0.1".into(),
                remote_port: 0,
                inbound: true,
                local_port: Some(5432),
                process: Some("postgres".into()),
            }],
        ),
    );
    db.agent = Some("agent-b".into());
    db.virtualization = Some(Virtualization {
        guests: vec![Guest {
            name: "app".into(),
            uuid: "6f1c2a4e-52b6-4c0b-9e1d-1b0f6c3d2a11".into(),
            hypervisor: "kvm".into(),
        }],
        ..Default::default()
    });
    let mut dir = Directory::default();
    register(&mut dir, &app, "10.0.0.1");
    register(&mut dir, &db, "10.0.0.2");
    let edges = derive_host(&dir, &db);
    assert!(
        edges.iter().all(|e| e.from != "app"),
        "an edge from another agent's CI: {edges:?}"
    );
    // "app"'s own next report is to re-derive (its outbound view, its hypervisor).
    assert_eq!(named_foreign_cis(&dir, &db), vec!["app".to_string()]);
    // Without an agent bound to it (an imported host, say), the observation is all there is.
    app.agent = None;
    register(&mut dir, &app, "10.0.0.1");
    let edges = derive_host(&dir, &db);
    let from_app: Vec<RelKind> = edges
        .iter()
        .filter(|e| e.from == "app")
        .map(|e| e.kind)
        .collect();
    assert_eq!(from_app, vec![RelKind::DependsOn, RelKind::HostedOn]);
    assert!(named_foreign_cis(&dir, &db).is_empty());
}

#[test]
fn a_hosts_services_are_bounded_to_the_first_by_process_name() {
    let listening: Vec<(String, u16)> =
        (0..50u16).map(|i| (format!("p{i:02}"), 1000 + i)).collect();
    let refs: Vec<(&str, u16)> = listening.iter().map(|(p, n)| (p.as_str(), *n)).collect();
    let s = listening_services("h", &sockets(&refs, vec![]), 10);
    assert_eq!(s.len(), 10);
    assert_eq!(s[0].process, "p00");
    assert_eq!(s[9].process, "p09");
}
