//! Property tests of report validation, with generated reports: host and device reports
//! go the way an HTTP body does (bytes, JSON parse naming the bad field, then
//! [`validate_host`] / [`validate_device`]), starting from arbitrary bytes, from valid
//! reports with bytes flipped, and from valid reports with hostile values put anywhere in
//! their JSON (huge, empty, Unicode and control-character strings, numbers past every
//! limit, wrong types, deep nesting, unknown keys). Nothing may panic, and a rejected
//! report's error starts with the path of the field at fault. `PROPTEST_CASES` sets the
//! number of cases (256 by default).

use chrono::{DateTime, Utc};
use cmdb_shared::device::{
    ArpEntry, CdpNeighbor, Component, DeviceAddress, DeviceInterface, DeviceInventory,
    DeviceMetrics, DeviceReport, ForwardingEntry, InterfaceCounters, LldpLocal, LldpNeighbor,
    Processor, StorageArea, SystemGroup, TargetSource,
};
use cmdb_shared::hash::inventory_hashes;
use cmdb_shared::{
    Disk, Filesystem, Identity, Inventory, ListeningSocket, NetworkInterface, Package, Report,
    ReportKind, Service, Sockets,
};
use proptest::prelude::*;
use proptest::sample::Index;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::*;

fn at() -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default()
}

/// A valid host report with every section, each list holding one item.
fn host_report() -> Report {
    let inventory = Inventory {
        identity: Some(Identity {
            hostname: "db01".into(),
            machine_id: Some("3d1219c7c4c5404aaa1f6d2a48adfda4".into()),
            ..Default::default()
        }),
        os: Some(Default::default()),
        cpu: Some(Default::default()),
        memory: Some(Default::default()),
        disks: Some(vec![Disk::default()]),
        filesystems: Some(vec![Filesystem::default()]),
        network: Some(vec![NetworkInterface {
            name: "eno1".into(),
            mac: Some("00:1a:2b:3c:4d:5e".into()),
            ..Default::default()
        }]),
        packages: Some(vec![Package {
            manager: "dpkg".into(),
            name: "openssl".into(),
            version: "3.0.11-1~deb12u2".into(),
            architecture: Some("amd64".into()),
        }]),
        services: Some(vec![Service::default()]),
        sockets: Some(Sockets {
            listening: vec![ListeningSocket::default()],
            connections: vec![Default::default()],
        }),
        virtualization: Some(Default::default()),
    };
    Report {
        schema_version: cmdb_shared::SCHEMA_VERSION,
        report_id: "r-1".into(),
        kind: ReportKind::Full,
        agent_version: "0.1.0".into(),
        collected_at: at(),
        section_hashes: inventory_hashes(&inventory),
        inventory,
        errors: vec![],
    }
}

/// A valid device report with one row in every table.
fn device_report() -> DeviceReport {
    let mac = "00:1a:2b:3c:4d:5e".to_string();
    let inventory = DeviceInventory {
        target: "10.0.0.1".into(),
        system: SystemGroup {
            descr: Some("Cisco IOS Software, C2960X".into()),
            object_id: Some("1.3.6.1.4.1.9.1.1208".into()),
            name: Some("core-sw1".into()),
            contact: Some("noc".into()),
            location: Some("DC1".into()),
            services: Some(6),
        },
        enterprise: Some(9),
        vendor: Some("Cisco".into()),
        model: Some("WS-C2960X".into()),
        firmware: Some("15.2(4)E".into()),
        serial: Some("FOC1234X0AB".into()),
        base_bridge_mac: Some(mac.clone()),
        components: vec![Component {
            index: 1,
            class: "chassis".into(),
            name: Some("1".into()),
            ..Default::default()
        }],
        interfaces: vec![DeviceInterface {
            index: 1,
            name: "Gi1/0/1".into(),
            mac: Some(mac.clone()),
            speed_mbps: Some(1000),
            ..Default::default()
        }],
        addresses: vec![DeviceAddress {
            address: "10.0.0.1".into(),
            prefix_len: Some(24),
            if_index: Some(1),
        }],
        lldp_local: Some(LldpLocal {
            chassis_id_subtype: "macAddress".into(),
            chassis_id: mac.clone(),
            system_name: Some("core-sw1".into()),
        }),
        lldp_neighbors: vec![LldpNeighbor {
            local_port_num: 1,
            chassis_id_subtype: "macAddress".into(),
            chassis_id: "00:1a:2b:3c:4d:5f".into(),
            port_id_subtype: "interfaceName".into(),
            port_id: "xe-0/0/0".into(),
            management_address: Some("10.0.0.2".into()),
            ..Default::default()
        }],
        cdp_neighbors: vec![CdpNeighbor {
            local_if_index: 1,
            device_id: "sw2".into(),
            address: Some("10.0.0.3".into()),
            ..Default::default()
        }],
        forwarding: vec![ForwardingEntry {
            vlan: Some(10),
            mac: "b4:96:91:00:00:01".into(),
            bridge_port: 1,
            if_index: Some(1),
            status: Some("learned".into()),
        }],
        arp: vec![ArpEntry {
            if_index: 1,
            ip: "10.0.0.20".into(),
            mac: "b4:96:91:00:00:01".into(),
        }],
        storage: vec![StorageArea {
            index: 1,
            description: "flash".into(),
            kind: "flashMemory".into(),
            size_bytes: 1 << 20,
            used_bytes: 1 << 10,
        }],
        processors: vec![Processor {
            index: 1,
            load_percent: 5,
        }],
    };
    DeviceReport {
        schema_version: cmdb_shared::SCHEMA_VERSION,
        report_id: "d-1".into(),
        agent_version: "0.1.0".into(),
        collected_at: at(),
        source: TargetSource::Config,
        inventory,
        metrics: DeviceMetrics {
            at: Some(at()),
            uptime_ticks: Some(100),
            interfaces: vec![InterfaceCounters {
                index: 1,
                in_octets: Some(1),
                ..Default::default()
            }],
        },
    }
}

/// Strings no field expects.
fn hostile_string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("a".repeat(1025)),
        Just("é".repeat(513)),
        Just("x".repeat(70_000)),
        Just("\0\u{1}\n\r\t\u{7f}".into()),
        Just("\u{202e}\u{feff}\u{200b}".into()),
        Just(" ".into()),
        Just("[::1]:161".into()),
        Just("[".into()),
        Just("[]:".into()),
        Just(":161".into()),
        Just("host:".into()),
        Just("00:1A:2B:3C:4D:5E".into()),
        Just("001a.2b3c.4d5e".into()),
        Just("ff:ff:ff:ff:ff:ff".into()),
        Just("0:1:2:3:4:5".into()),
        Just("10.0.0.300".into()),
        Just("::ffff:1.2.3.4".into()),
        Just("fe80::1%eth0".into()),
        Just("1.3.6..1".into()),
        Just(".1.3".into()),
        Just("1970-01-01T00:00:00Z".into()),
        Just("+262142-12-31T23:59:59Z".into()),
        Just("-262143-01-01T00:00:00Z".into()),
        Just("identity".into()),
        Just("0".repeat(64)),
        "[0-9a-fA-F:.\\-\\[\\] ]{0,20}",
        any::<String>(),
        "\\PC{0,300}",
    ]
}

fn hostile_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!(0)),
        Just(json!(-1)),
        Just(json!(101)),
        Just(json!(255)),
        Just(json!(256)),
        Just(json!(u32::MAX)),
        Just(json!(u64::from(u32::MAX) + 1)),
        Just(json!(i64::MAX)),
        Just(json!(i64::MAX as u64 + 1)),
        Just(json!(u64::MAX)),
        Just(json!(i64::MIN)),
        Just(json!(1.5)),
        Just(json!(-0.0)),
        Just(json!(1e300)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<i64>().prop_map(|n| json!(n)),
    ]
}

/// Any JSON value, nested a few levels.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        hostile_number(),
        hostile_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z_]{0,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// One change to a JSON document, applied at the node `at` (in document order).
#[derive(Debug, Clone)]
struct Mutation {
    at: Index,
    /// Below 7: a change of the node's own type; else `replacement` whatever it was.
    choice: u8,
    string: String,
    number: Value,
    replacement: Value,
    times: usize,
    key: Index,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    (
        any::<Index>(),
        0u8..10,
        hostile_string(),
        hostile_number(),
        any_json(),
        prop_oneof![Just(0usize), 1usize..4, Just(40)],
        any::<Index>(),
    )
        .prop_map(
            |(at, choice, string, number, replacement, times, key)| Mutation {
                at,
                choice,
                string,
                number,
                replacement,
                times,
                key,
            },
        )
}

/// The JSON pointer of every node of `v`.
fn pointers(v: &Value, here: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                pointers(
                    c,
                    format!("{here}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                pointers(c, format!("{here}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(here);
}

fn mutate(doc: &mut Value, m: &Mutation) {
    let mut all = Vec::new();
    pointers(doc, String::new(), &mut all);
    let Some(node) = doc.pointer_mut(&all[m.at.index(all.len())]) else {
        return;
    };
    if m.choice >= 7 {
        *node = m.replacement.clone();
        return;
    }
    match node {
        Value::String(_) | Value::Null if m.choice < 5 => *node = Value::String(m.string.clone()),
        Value::Null | Value::Number(_) => *node = m.number.clone(),
        Value::Array(a) if m.times == 0 => a.clear(),
        Value::Array(a) => {
            if let Some(first) = a.first().cloned() {
                a.extend(std::iter::repeat_n(first, m.times));
            }
        }
        Value::Object(o) if m.choice.is_multiple_of(2) && !o.is_empty() => {
            let k = o
                .keys()
                .nth(m.key.index(o.len()))
                .cloned()
                .unwrap_or_default();
            o.remove(&k);
        }
        Value::Object(o) => {
            o.insert(m.string.clone(), m.replacement.clone());
        }
        other => *other = Value::String(m.string.clone()),
    }
}

/// Bytes of a document: often deeply nested, to try the parser's recursion.
fn nested(depth: usize, open: &str, close: &str, inner: &str) -> Vec<u8> {
    format!("{}{inner}{}", open.repeat(depth), close.repeat(depth)).into_bytes()
}

fn limits() -> impl Strategy<Value = Limits> {
    prop_oneof![
        Just(Limits::default()),
        (0usize..3, 0usize..3, 0usize..3).prop_map(|(p, l, t)| Limits {
            max_packages: p,
            max_list_items: l,
            max_device_table_items: t,
            ..Limits::default()
        }),
    ]
}

/// An error names a field: `path: reason`, the path one of the report's own.
fn names_a_field(e: &IngestError) -> Result<(), TestCaseError> {
    let IngestError::Invalid(msg) = e else {
        return Err(TestCaseError::fail(format!("not a 400: {e:?}")));
    };
    let Some((path, reason)) = msg.split_once(": ") else {
        return Err(TestCaseError::fail(format!("no field in {msg:?}")));
    };
    let root = path.split(['.', '[']).next().unwrap_or_default();
    prop_assert!(
        [
            "report_id",
            "agent_version",
            "section_hashes",
            "collected_at",
            "inventory",
            "metrics",
        ]
        .contains(&root),
        "{msg:?}"
    );
    prop_assert!(!path.contains(char::is_whitespace), "{msg:?}");
    prop_assert!(!reason.is_empty(), "{msg:?}");
    Ok(())
}

/// What the HTTP handlers do with a body (`parse_json`): parse naming the bad field.
fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(de) {
        Ok(t) => Some(t),
        Err(e) => {
            // Formatting the error must not panic either.
            let _ = format!("{}: {}", e.path(), e.inner());
            None
        }
    }
}

fn check_host(bytes: &[u8], limits: &Limits) -> Result<(), TestCaseError> {
    if let Some(r) = parse::<Report>(bytes)
        && let Err(e) = validate_host(&r, limits)
    {
        names_a_field(&e)?;
    }
    Ok(())
}

fn check_device(bytes: &[u8], limits: &Limits) -> Result<(), TestCaseError> {
    if let Some(r) = parse::<DeviceReport>(bytes)
        && let Err(e) = validate_device(&r, limits)
    {
        names_a_field(&e)?;
    }
    Ok(())
}

fn bytes_of(v: &impl serde::Serialize) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

#[test]
fn the_starting_reports_are_valid() {
    let limits = Limits::default();
    assert!(validate_host(&host_report(), &limits).is_ok());
    assert!(validate_device(&device_report(), &limits).is_ok());
    let host: Report = parse(&bytes_of(&host_report())).expect("host report parses");
    assert_eq!(host, host_report());
    let device: DeviceReport = parse(&bytes_of(&device_report())).expect("device report parses");
    assert_eq!(device, device_report());
}

proptest! {
    #[test]
    fn arbitrary_bytes_are_refused_or_validated(
        bytes in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..200),
            any::<String>().prop_map(String::into_bytes),
            (1usize..5000).prop_map(|d| nested(d, "[", "]", "")),
            (1usize..5000).prop_map(|d| nested(d, "{\"inventory\":", "}", "null")),
            Just(b"{\"schema_version\":1e999}".to_vec()),
        ],
        limits in limits(),
    ) {
        check_host(&bytes, &limits)?;
        check_device(&bytes, &limits)?;
    }

    #[test]
    fn valid_reports_with_flipped_bytes_are_refused_or_validated(
        device in any::<bool>(),
        edits in proptest::collection::vec((any::<Index>(), any::<u8>(), 0u8..3), 1..8),
        limits in limits(),
    ) {
        let mut b = if device { bytes_of(&device_report()) } else { bytes_of(&host_report()) };
        for (at, byte, op) in edits {
            let i = at.index(b.len());
            match op {
                0 => b[i] = byte,
                1 => b.insert(i, byte),
                _ => b.truncate(i),
            }
            if b.is_empty() {
                break;
            }
        }
        check_host(&b, &limits)?;
        check_device(&b, &limits)?;
    }

    #[test]
    fn host_reports_with_hostile_values_are_refused_naming_the_field(
        mutations in proptest::collection::vec(mutation(), 1..5),
        limits in limits(),
    ) {
        let mut doc = serde_json::to_value(host_report()).unwrap_or_default();
        for m in &mutations {
            mutate(&mut doc, m);
        }
        check_host(&bytes_of(&doc), &limits)?;
    }

    #[test]
    fn device_reports_with_hostile_values_are_refused_naming_the_field(
        mutations in proptest::collection::vec(mutation(), 1..5),
        limits in limits(),
    ) {
        let mut doc = serde_json::to_value(device_report()).unwrap_or_default();
        for m in &mutations {
            mutate(&mut doc, m);
        }
        check_device(&bytes_of(&doc), &limits)?;
    }
}
