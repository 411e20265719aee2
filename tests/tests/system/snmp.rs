//! The real `cmdb-agent snmp inventory` against snmpsim serving recordings of real devices
//! and against a private Net-SNMP `snmpd`, checked against what Net-SNMP's own
//! `snmpbulkwalk`/`snmpget` read from the same agents at test time.
//!
//! Expected values are never taken from the agent's code or from earlier output: each test
//! walks the tables it checks with Net-SNMP and decodes them with the small decoders of
//! `cmdb_tests::snmp`. Where the agent's decoding makes a choice a walk cannot settle (text
//! in GBK, LLDP identifiers that are neither a MAC, an address nor plain text), only the
//! unambiguous values are compared. The simulators' work directories are kept under
//! `$TMPDIR/cmdb-snmpsim/<test>` so that snmpsim's index survives between runs.

use std::collections::{BTreeMap, BTreeSet};
use std::net::UdpSocket;
use std::time::{Duration, Instant};

use cmdb_shared::device::{DeviceInventory, LldpNeighbor};
use cmdb_tests::snmp::{
    NetSnmp, Polled, Snmpd, Snmpsim, V3_AUTH_KEY, V3_PRIV_KEY, V3_USER, Walk, agent_snmp, bytes,
    community, hex_colons, index_bytes, int, ip, opt_text, parse_oid, poll, text, unicast_mac,
    v3_args,
};

use crate::common::{
    BDCOM, C3560, CDP_CACHE_ENTRY, IF_ENTRY, IF_NAME, IF_X_ENTRY, LINUX, LLDP_LOC_CHASSIS_ID,
    LLDP_LOC_PORT_ENTRY, LLDP_LOC_SYS_NAME, LLDP_REM_ENTRY, MX960, N5000, PROCURVE, SYS_NAME, walk,
};

/// How long one `snmp inventory` may take. Every recording here is inventoried in a few
/// seconds; a walk that loops or stalls is cut off well before the test's own timeout.
const LIMIT: Duration = Duration::from_secs(45);

const SYS_DESCR: &str = "1.3.6.1.2.1.1.1.0";
const SYS_OBJECT_ID: &str = "1.3.6.1.2.1.1.2.0";
const ENT_PHYSICAL_ENTRY: &str = "1.3.6.1.2.1.47.1.1.1.1";
const IP_NET_TO_MEDIA_ENTRY: &str = "1.3.6.1.2.1.4.22.1";
const IP_NET_TO_PHYSICAL_ENTRY: &str = "1.3.6.1.2.1.4.35.1";
const LLDP_LOC_CHASSIS_ID_SUBTYPE: &str = "1.0.8802.1.1.2.1.3.1.0";
const DOT1D_BASE_PORT_IF_INDEX: &str = "1.3.6.1.2.1.17.1.4.1.2";
const DOT1D_TP_FDB_ENTRY: &str = "1.3.6.1.2.1.17.4.3.1";
const DOT1Q_TP_FDB_ENTRY: &str = "1.3.6.1.2.1.17.7.1.2.2.1";
const HR_STORAGE_ENTRY: &str = "1.3.6.1.2.1.25.2.3.1";
const HR_STORAGE_TYPES: &str = "1.3.6.1.2.1.25.2.1";
const HR_PROCESSOR_LOAD: &str = "1.3.6.1.2.1.25.3.3.1.2";
const IF_HC_IN_OCTETS: &str = "1.3.6.1.2.1.31.1.1.1.6";

fn poll_v2c(sim: &Snmpsim, recording: &str) -> Polled {
    poll(&sim.target(), &[community(recording)], LIMIT)
        .unwrap_or_else(|e| panic!("{recording}: {e:#}"))
}

fn get(r: &NetSnmp, oids: &[&str]) -> Walk {
    r.get(oids).unwrap_or_else(|e| panic!("snmpget: {e:#}"))
}

/// The text of a string value that must be UTF-8 (for values the test itself relies on).
fn must_text(value: Option<&str>, what: &str) -> String {
    value
        .and_then(text)
        .unwrap_or_else(|| panic!("{what}: no UTF-8 text in the walk ({value:?})"))
}

// ---- checks shared by several devices ----------------------------------------------------

/// sysDescr, sysObjectID and sysName as `snmpget` reads them.
fn assert_system_group(r: &NetSnmp, inv: &DeviceInventory) {
    let sys = get(r, &[SYS_DESCR, SYS_OBJECT_ID, SYS_NAME]);
    assert_eq!(
        inv.system.descr,
        sys.get(SYS_DESCR).and_then(opt_text),
        "sysDescr"
    );
    assert_eq!(
        inv.system.object_id.as_deref(),
        sys.get(SYS_OBJECT_ID).map(|o| o.trim_start_matches('.')),
        "sysObjectID"
    );
    assert_eq!(
        inv.system.name,
        sys.get(SYS_NAME).and_then(opt_text),
        "sysName"
    );
}

/// The interfaces: exactly the ifIndex values of ifTable, named by ifName where the device
/// has it (else ifDescr).
fn assert_interfaces(r: &NetSnmp, inv: &DeviceInventory) {
    let mut ref_walk = walk(r, IF_ENTRY);
    ref_walk.extend(walk(r, IF_NAME));
    let if_index: BTreeSet<u32> = ref_walk
        .table(IF_ENTRY)
        .values()
        .filter_map(|row| row.get(&1).and_then(|v| int(v)))
        .map(|i| u32::try_from(i).expect("ifIndex"))
        .collect();
    assert!(!if_index.is_empty(), "the walk found no ifIndex");
    let ours: BTreeMap<u32, &str> = inv
        .interfaces
        .iter()
        .map(|i| (i.index, i.name.as_str()))
        .collect();
    assert_eq!(
        ours.keys().copied().collect::<BTreeSet<_>>(),
        if_index,
        "interfaces vs the ifIndex column of ifTable"
    );
    let names = interface_names(&ref_walk);
    let ours_named: BTreeMap<u32, String> = ours
        .iter()
        .filter(|(i, _)| names.contains_key(i))
        .map(|(i, n)| (*i, n.to_string()))
        .collect();
    assert_eq!(ours_named, names, "interface names vs ifName / ifDescr");
}

/// ifIndex → ifName where it is UTF-8 text and not empty, else ifDescr (under the same
/// rule), from a walk holding ifEntry and ifName.
fn interface_names(w: &Walk) -> BTreeMap<u32, String> {
    let descr = w.table(IF_ENTRY);
    let name = w.table(IF_X_ENTRY);
    let mut out = BTreeMap::new();
    for (idx, row) in &descr {
        let [i] = idx.as_slice() else { continue };
        let n = name
            .get(idx)
            .and_then(|r| r.get(&1))
            .and_then(|v| opt_text(v))
            .or_else(|| row.get(&2).and_then(|v| opt_text(v)));
        if let Some(n) = n {
            out.insert(*i, n);
        }
    }
    out
}

/// LLDP-MIB's names of `LldpChassisIdSubtype` and `LldpPortIdSubtype` values.
fn lldp_subtype_name(port: bool, subtype: i64) -> &'static str {
    let chassis = [
        "chassisComponent",
        "interfaceAlias",
        "portComponent",
        "macAddress",
        "networkAddress",
        "interfaceName",
        "local",
    ];
    let ports = [
        "interfaceAlias",
        "portComponent",
        "macAddress",
        "networkAddress",
        "interfaceName",
        "agentCircuitId",
        "local",
    ];
    let names = if port { &ports } else { &chassis };
    usize::try_from(subtype - 1)
        .ok()
        .and_then(|i| names.get(i).copied())
        .unwrap_or("unknown")
}

/// An LLDP chassis or port id where its text form is unambiguous: a MAC subtype as six
/// bytes (lower-case `aa:bb:…`) or as lower-case MAC text, a network address of family
/// IPv4 (`[1, a, b, c, d]`), or, for the other subtypes, printable ASCII (NUL padding and
/// surrounding spaces dropped). `None` for anything else (binary identifiers, non-ASCII
/// text, other address forms), which the tests do not compare.
fn lldp_id(port: bool, subtype: i64, b: &[u8]) -> Option<String> {
    let (mac, net) = if port { (3, 4) } else { (4, 5) };
    if subtype == mac {
        let mac_text = b.len() == 17
            && b.iter().enumerate().all(|(i, c)| {
                if i % 3 == 2 {
                    *c == b':'
                } else {
                    c.is_ascii_digit() || (b'a'..=b'f').contains(c)
                }
            });
        return match b.len() {
            6 => Some(hex_colons(b)),
            _ if mac_text => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        };
    }
    if subtype == net {
        return match b {
            [1, a, b2, c, d] => Some(format!("{a}.{b2}.{c}.{d}")),
            _ => None,
        };
    }
    let end = b.iter().rposition(|c| *c != 0).map_or(0, |i| i + 1);
    b[..end]
        .iter()
        .all(|c| (0x20..0x7f).contains(c))
        .then(|| String::from_utf8_lossy(&b[..end]).trim().to_string())
}

/// One lldpRemTable row as the test can state it: `None` where the value is not compared.
#[derive(Debug, Clone)]
struct WantNeighbour {
    index: Vec<u32>,
    local_port_num: u32,
    chassis: (&'static str, Option<String>),
    port: (&'static str, Option<String>),
    /// `None`: not compared (not UTF-8); `Some(None)`: empty or absent.
    system_name: Option<Option<String>>,
}

impl WantNeighbour {
    fn wildcards(&self) -> usize {
        usize::from(self.chassis.1.is_none())
            + usize::from(self.port.1.is_none())
            + usize::from(self.system_name.is_none())
    }

    fn matches(&self, n: &LldpNeighbor) -> bool {
        n.local_port_num == self.local_port_num
            && n.chassis_id_subtype == self.chassis.0
            && n.port_id_subtype == self.port.0
            && self.chassis.1.as_ref().is_none_or(|c| *c == n.chassis_id)
            && self.port.1.as_ref().is_none_or(|p| *p == n.port_id)
            && self
                .system_name
                .as_ref()
                .is_none_or(|s| *s == n.system_name)
    }
}

/// lldpRemTable (index timeMark.localPortNum.remIndex; columns 4–7 chassis and port id
/// with their subtypes, 9 sysName). Rows without a chassis id are no neighbour (the
/// inventory leaves them out too).
fn lldp_neighbours_from(w: &Walk) -> Vec<WantNeighbour> {
    let mut out = Vec::new();
    for (index, row) in w.table(LLDP_REM_ENTRY) {
        let [_time_mark, local_port, _rem] = index.as_slice() else {
            continue;
        };
        let col_bytes = |c| row.get(&c).and_then(|v| bytes(v)).unwrap_or_default();
        let col_int = |c| row.get(&c).and_then(|v| int(v)).unwrap_or(0);
        let chassis = col_bytes(5);
        if chassis.iter().all(|b| *b == 0) {
            continue;
        }
        let (cs, ps) = (col_int(4), col_int(6));
        out.push(WantNeighbour {
            local_port_num: *local_port,
            chassis: (lldp_subtype_name(false, cs), lldp_id(false, cs, &chassis)),
            port: (
                lldp_subtype_name(true, ps),
                lldp_id(true, ps, &col_bytes(7)),
            ),
            system_name: match row.get(&9) {
                None => Some(None),
                Some(v) => text(v).map(|s| Some(s).filter(|s| !s.is_empty())),
            },
            index,
        });
    }
    out
}

/// The inventory's LLDP neighbours are the rows of lldpRemTable: the same number on each
/// local port, each row matched by one neighbour on its compared fields. Returns how many
/// rows were compared on every field.
fn assert_lldp_neighbours(recording: &str, want: &[WantNeighbour], got: &[LldpNeighbor]) -> usize {
    let per_port = |ports: Vec<u32>| {
        ports.into_iter().fold(BTreeMap::new(), |mut m, p| {
            *m.entry(p).or_insert(0usize) += 1;
            m
        })
    };
    assert_eq!(
        per_port(got.iter().map(|n| n.local_port_num).collect()),
        per_port(want.iter().map(|n| n.local_port_num).collect()),
        "{recording}: LLDP neighbours per local port vs lldpRemTable"
    );
    // Most specific rows first, so that a row with wildcards cannot take another's match.
    let mut order: Vec<&WantNeighbour> = want.iter().collect();
    order.sort_by_key(|w| w.wildcards());
    let mut used = vec![false; got.len()];
    let mut unmatched = Vec::new();
    for w in order {
        match (0..got.len()).find(|&i| !used[i] && w.matches(&got[i])) {
            Some(i) => used[i] = true,
            None => unmatched.push(w),
        }
    }
    let unmatched: Vec<String> = unmatched
        .iter()
        .map(|w| format!("index {:?}: {w:?}", w.index))
        .collect();
    assert!(
        unmatched.is_empty(),
        "{recording}: lldpRemTable rows (index timeMark.localPort.remIndex) without a matching neighbour:\n{}\nours:\n{got:#?}",
        unmatched.join("\n")
    );
    want.iter().filter(|w| w.wildcards() == 0).count()
}

/// lldpLocChassisId (decoded by its subtype) and lldpLocSysName.
fn assert_lldp_local(recording: &str, r: &NetSnmp, inv: &DeviceInventory) -> (Vec<u8>, String) {
    let loc = get(
        r,
        &[
            LLDP_LOC_CHASSIS_ID_SUBTYPE,
            LLDP_LOC_CHASSIS_ID,
            LLDP_LOC_SYS_NAME,
        ],
    );
    let subtype = loc
        .get(LLDP_LOC_CHASSIS_ID_SUBTYPE)
        .and_then(int)
        .expect("lldpLocChassisIdSubtype");
    let id = loc
        .get(LLDP_LOC_CHASSIS_ID)
        .and_then(bytes)
        .expect("lldpLocChassisId");
    let name = must_text(loc.get(LLDP_LOC_SYS_NAME), "lldpLocSysName");
    let want_id = lldp_id(false, subtype, &id)
        .unwrap_or_else(|| panic!("{recording}: lldpLocChassisId {id:02x?} is not simple"));
    let local = inv
        .lldp_local
        .as_ref()
        .unwrap_or_else(|| panic!("{recording}: no lldp_local"));
    assert_eq!(
        (
            local.chassis_id_subtype.as_str(),
            local.chassis_id.as_str(),
            local.system_name.as_deref()
        ),
        (
            lldp_subtype_name(false, subtype),
            want_id.as_str(),
            Some(name.as_str())
        ),
        "{recording}: lldp_local vs lldpLocChassisIdSubtype, lldpLocChassisId, lldpLocSysName"
    );
    (id, name)
}

/// One forwarding entry as compared: (vlan, mac, bridge port, ifIndex, status).
type Fdb = (Option<u32>, String, u32, Option<u32>, Option<String>);

/// The forwarding database from dot1qTpFdbTable (index fdbId.mac; column 2 port, 3
/// status), or from dot1dTpFdbTable (index mac) when Q-BRIDGE has no entry, as
/// agent/src/snmp/mib/bridge.rs reads them: rows on port 0 or with status invalid(2) are
/// not forwarding entries, MACs that are not unicast addresses are left out, and the port's
/// ifIndex comes from dot1dBasePortIfIndex. Returns the entries and how many rows were left
/// out for their MAC.
fn forwarding_from(r: &NetSnmp) -> (BTreeSet<Fdb>, usize) {
    const STATUS: [&str; 5] = ["other", "invalid", "learned", "self", "mgmt"];
    let ports: BTreeMap<u32, u32> = walk(r, DOT1D_BASE_PORT_IF_INDEX)
        .0
        .iter()
        .filter_map(|(o, v)| Some((*o.last()?, u32::try_from(int(v)?).ok()?)))
        .collect();
    let status_name = |v: Option<i64>| {
        v.and_then(|s| usize::try_from(s - 1).ok())
            .and_then(|i| STATUS.get(i))
            .map(|s| s.to_string())
    };
    let mut skipped_macs = 0;
    let mut rows = |entry: &str, vlan_in_index: bool| {
        let mut out = BTreeSet::new();
        for (idx, row) in walk(r, entry).table(entry) {
            let (vlan, mac) = match (vlan_in_index, idx.as_slice()) {
                (true, [fdb, mac @ ..]) if mac.len() == 6 => (Some(*fdb), mac),
                (false, mac) if mac.len() == 6 => (None, mac),
                _ => continue,
            };
            let port = row.get(&2).and_then(|v| int(v)).unwrap_or(0);
            let status = row.get(&3).and_then(|v| int(v));
            if port <= 0 || status == Some(2) {
                continue;
            }
            let Some(mac) = index_bytes(mac).and_then(|b| unicast_mac(&b)) else {
                skipped_macs += 1;
                continue;
            };
            let port = u32::try_from(port).expect("bridge port");
            out.insert((
                vlan,
                mac,
                port,
                ports.get(&port).copied(),
                status_name(status),
            ));
        }
        out
    };
    let mut entries = rows(DOT1Q_TP_FDB_ENTRY, true);
    if entries.is_empty() {
        entries = rows(DOT1D_TP_FDB_ENTRY, false);
    }
    (entries, skipped_macs)
}

fn forwarding_of(inv: &DeviceInventory) -> BTreeSet<Fdb> {
    inv.forwarding
        .iter()
        .map(|f| {
            (
                f.vlan,
                f.mac.clone(),
                f.bridge_port,
                f.if_index,
                f.status.clone(),
            )
        })
        .collect()
}

// ---- tests -------------------------------------------------------------------------------

#[test]
fn cisco_c3560_inventory_matches_net_snmp_walks() {
    let sim = Snmpsim::start("cisco-c3560", &[C3560]).expect("snmpsim");
    let r = sim.v2c(C3560);
    let inv = poll_v2c(&sim, C3560).inventory;

    assert_system_group(&r, &inv);
    // Enterprise 9 is Cisco's IANA private enterprise number.
    let object_id = parse_oid(inv.system.object_id.as_deref().expect("sysObjectID"));
    assert_eq!(
        inv.enterprise,
        object_id
            .strip_prefix(&[1, 3, 6, 1, 4, 1][..])
            .map(|r| r[0])
    );
    assert_eq!(inv.enterprise, Some(9));
    assert_eq!(inv.vendor.as_deref(), Some("Cisco"));

    assert_interfaces(&r, &inv);

    // The chassis: agent/src/snmp/mib/entity.rs takes the first entity of class chassis(3)
    // in index order, so the one with the lowest index. This recording has one.
    let ent = walk(&r, ENT_PHYSICAL_ENTRY);
    let ent = ent.table(ENT_PHYSICAL_ENTRY);
    let chassis: Vec<_> = ent
        .iter()
        .filter(|(_, row)| row.get(&5).and_then(|v| int(v)) == Some(3))
        .collect();
    let (_, chassis) = chassis.first().expect("an entity of class chassis(3)");
    assert_eq!(
        inv.serial,
        chassis.get(&11).and_then(|v| opt_text(v)),
        "serial vs entPhysicalSerialNum"
    );
    assert_eq!(
        inv.model,
        chassis.get(&13).and_then(|v| opt_text(v)),
        "model vs entPhysicalModelName"
    );
    assert!(inv.serial.is_some() && inv.model.is_some());

    // CDP neighbours: every cdpCacheTable row (index ifIndex.deviceIndex; 3 address type,
    // 4 address, 6 device id, 7 device port, 8 platform), several on one port.
    let mut names = walk(&r, IF_ENTRY);
    names.extend(walk(&r, IF_NAME));
    let names = interface_names(&names);
    type Cdp = (
        u32,
        Option<String>,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let mut want: Vec<Cdp> = walk(&r, CDP_CACHE_ENTRY)
        .table(CDP_CACHE_ENTRY)
        .into_iter()
        .map(|(idx, row)| {
            let if_index = idx[0];
            let address = match (
                row.get(&3).and_then(|v| int(v)),
                row.get(&4).and_then(|v| bytes(v)),
            ) {
                (Some(1), Some(a)) if a.len() == 4 => ip(&a),
                _ => None,
            };
            (
                if_index,
                names.get(&if_index).cloned(),
                must_text(row.get(&6).copied(), "cdpCacheDeviceId"),
                address,
                row.get(&7).and_then(|v| opt_text(v)),
                row.get(&8).and_then(|v| opt_text(v)),
            )
        })
        .collect();
    let mut got: Vec<Cdp> = inv
        .cdp_neighbors
        .iter()
        .map(|n| {
            (
                n.local_if_index,
                n.local_port.clone(),
                n.device_id.clone(),
                n.address.clone(),
                n.port.clone(),
                n.platform.clone(),
            )
        })
        .collect();
    want.sort();
    got.sort();
    assert!(!want.is_empty(), "the recording has CDP neighbours");
    assert_eq!(got, want, "CDP neighbours vs cdpCacheTable");

    // ARP: ipNetToMediaTable (index ifIndex.a.b.c.d; 2 MAC, 4 type) and ipNetToPhysicalTable
    // (index ifIndex.addressType.length.address; 4 MAC, 6 type). agent/src/snmp/mib/ip.rs
    // drops rows of type invalid(2) and MACs that are not unicast addresses.
    let mut want = BTreeSet::new();
    for (idx, row) in walk(&r, IP_NET_TO_MEDIA_ENTRY).table(IP_NET_TO_MEDIA_ENTRY) {
        let [if_index, addr @ ..] = idx.as_slice() else {
            continue;
        };
        let mac = row
            .get(&2)
            .and_then(|v| bytes(v))
            .and_then(|b| unicast_mac(&b));
        let addr = index_bytes(addr).and_then(|b| ip(&b));
        let invalid = row.get(&4).and_then(|v| int(v)) == Some(2);
        if let (Some(mac), Some(addr), false) = (mac, addr, invalid) {
            want.insert((*if_index, addr, mac));
        }
    }
    for (idx, row) in walk(&r, IP_NET_TO_PHYSICAL_ENTRY).table(IP_NET_TO_PHYSICAL_ENTRY) {
        let [if_index, kind, len, addr @ ..] = idx.as_slice() else {
            continue;
        };
        assert!(
            matches!((kind, len), (1, 4) | (2, 16)) && addr.len() == *len as usize,
            "ipNetToPhysical index {idx:?}: only plain IPv4/IPv6 are handled here"
        );
        let mac = row
            .get(&4)
            .and_then(|v| bytes(v))
            .and_then(|b| unicast_mac(&b));
        let addr = index_bytes(addr).and_then(|b| ip(&b));
        let invalid = row.get(&6).and_then(|v| int(v)) == Some(2);
        if let (Some(mac), Some(addr), false) = (mac, addr, invalid) {
            want.insert((*if_index, addr, mac));
        }
    }
    let got: BTreeSet<_> = inv
        .arp
        .iter()
        .map(|a| (a.if_index, a.ip.clone(), a.mac.clone()))
        .collect();
    assert!(!want.is_empty(), "the recording has ARP entries");
    assert_eq!(got, want, "ARP vs ipNetToMediaTable + ipNetToPhysicalTable");
}

#[test]
fn cisco_c3560_over_snmpv3_authpriv_gives_the_same_inventory_as_v2c() {
    let sim = Snmpsim::start("cisco-c3560-v3", &[C3560]).expect("snmpsim");
    let v2c = poll_v2c(&sim, C3560).inventory;
    let v3 = poll(
        &sim.target(),
        &v3_args(V3_AUTH_KEY, V3_PRIV_KEY, Some(C3560)),
        LIMIT,
    )
    .expect("SNMPv3 inventory")
    .inventory;
    // Net-SNMP over SNMPv3 with the same context reads the same device.
    let sys = get(&sim.v3(C3560), &[SYS_NAME]);
    assert_eq!(v3.system.name, sys.get(SYS_NAME).and_then(opt_text));
    assert!(!v3.interfaces.is_empty() && !v3.cdp_neighbors.is_empty());
    assert_eq!(v3, v2c, "SNMPv3 authPriv inventory vs SNMPv2c");
}

#[test]
fn juniper_mx960_ring_lldp_and_forwarding_match_net_snmp_walks() {
    let sim = Snmpsim::start("juniper-mx960", &MX960).expect("snmpsim");
    let mut local_names = BTreeMap::new();
    let mut remote_names: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut invs = BTreeMap::new();
    for rec in MX960 {
        let r = sim.v2c(rec);
        let inv = poll_v2c(&sim, rec).inventory;

        let (_, name) = assert_lldp_local(rec, &r, &inv);
        local_names.insert(rec, name);

        let rem = walk(&r, LLDP_REM_ENTRY);
        let want = lldp_neighbours_from(&rem);
        assert!(!want.is_empty(), "{rec}: the recording has LLDP neighbours");
        let exact = assert_lldp_neighbours(rec, &want, &inv.lldp_neighbors);
        assert!(
            exact > 0,
            "{rec}: no lldpRemTable row compared on every field"
        );
        // lldpRemSysName of every row, where it is text.
        remote_names.insert(
            rec,
            rem.table(LLDP_REM_ENTRY)
                .values()
                .filter_map(|row| row.get(&9).and_then(|v| opt_text(v)))
                .collect(),
        );

        let (want, _) = forwarding_from(&r);
        assert!(
            !want.is_empty(),
            "{rec}: the recording has forwarding entries"
        );
        assert_eq!(
            forwarding_of(&inv),
            want,
            "{rec}: forwarding vs dot1qTpFdbTable"
        );
        invs.insert(rec, inv);
    }

    // The ring: A sees B when one of A's lldpRemSysName values is B's lldpLocSysName.
    let mut walk_pairs = BTreeSet::new();
    let mut our_pairs = BTreeSet::new();
    for a in MX960 {
        for b in MX960.iter().copied().filter(|b| *b != a) {
            let b_name = &local_names[b];
            if remote_names[a].contains(b_name) {
                walk_pairs.insert((a, b));
            }
            if invs[a]
                .lldp_neighbors
                .iter()
                .any(|n| n.system_name.as_ref() == Some(b_name))
            {
                our_pairs.insert((a, b));
            }
        }
    }
    assert_eq!(our_pairs, walk_pairs, "who sees whom: inventory vs walks");
    // Each link is seen from both ends; four links, every router on two of them: a cycle
    // through all four.
    for (a, b) in &walk_pairs {
        assert!(walk_pairs.contains(&(*b, *a)), "{a} sees {b} but not back");
    }
    assert_eq!(walk_pairs.len(), 8, "four links seen from both ends");
    for rec in MX960 {
        let degree = walk_pairs.iter().filter(|(a, _)| *a == rec).count();
        assert_eq!(degree, 2, "{rec} has two ring neighbours");
    }
}

#[test]
fn cisco_n5000_and_hpe_procurve_see_each_other_over_lldp_and_cdp() {
    let sim = Snmpsim::start("n5000-procurve", &[N5000, PROCURVE]).expect("snmpsim");
    let (nx, hp) = (sim.v2c(N5000), sim.v2c(PROCURVE));
    let (nx_inv, hp_inv) = (
        poll_v2c(&sim, N5000).inventory,
        poll_v2c(&sim, PROCURVE).inventory,
    );
    // n5000 gives its chassis id as MAC text, the ProCurve as six bytes.
    let (_, nx_name) = assert_lldp_local(N5000, &nx, &nx_inv);
    let (hp_chassis, hp_name) = assert_lldp_local(PROCURVE, &hp, &hp_inv);
    let (nx_rem, hp_rem) = (walk(&nx, LLDP_REM_ENTRY), walk(&hp, LLDP_REM_ENTRY));
    let (nx_loc, hp_loc) = (
        walk(&nx, LLDP_LOC_PORT_ENTRY),
        walk(&hp, LLDP_LOC_PORT_ENTRY),
    );
    let (nx_loc_ports, hp_loc_ports) = (
        nx_loc.table(LLDP_LOC_PORT_ENTRY),
        hp_loc.table(LLDP_LOC_PORT_ENTRY),
    );
    for (rec, rem, inv) in [(N5000, &nx_rem, &nx_inv), (PROCURVE, &hp_rem, &hp_inv)] {
        assert_lldp_neighbours(rec, &lldp_neighbours_from(rem), &inv.lldp_neighbors);
    }

    // n5000 → ProCurve: the lldpRemTable row whose chassis id is the ProCurve's own.
    let rows = nx_rem.table(LLDP_REM_ENTRY);
    let seen: Vec<_> = rows
        .iter()
        .filter(|(_, row)| row.get(&5).and_then(|v| bytes(v)).as_ref() == Some(&hp_chassis))
        .collect();
    assert_eq!(seen.len(), 1, "n5000 sees the ProCurve's chassis id once");
    let (idx, row) = seen[0];
    let nx_port = idx[1];
    // The ProCurve port facing the n5000: where its lldpRemSysName is n5000's own name.
    let hp_ports: BTreeSet<u32> = hp_rem
        .table(LLDP_REM_ENTRY)
        .iter()
        .filter(|(_, r)| r.get(&9).and_then(|v| text(v)).as_ref() == Some(&nx_name))
        .map(|(i, _)| i[1])
        .collect();
    assert_eq!(hp_ports.len(), 1, "the ProCurve sees {nx_name} on one port");
    let hp_port = *hp_ports.first().expect("one port");
    // n5000's view of the ProCurve's port id is the ProCurve's own lldpLocPortId of that port.
    let id_of = |r: &BTreeMap<u32, &str>, sub: u32, id: u32| {
        let subtype = r.get(&sub).and_then(|v| int(v)).expect("port id subtype");
        lldp_id(
            true,
            subtype,
            &r.get(&id).and_then(|v| bytes(v)).expect("port id"),
        )
    };
    let hp_loc_port_id = id_of(&hp_loc_ports[&vec![hp_port]], 2, 3).expect("simple port id");
    assert_eq!(
        id_of(row, 6, 7).as_ref(),
        Some(&hp_loc_port_id),
        "the walks agree on the ProCurve's port id"
    );
    let procurve_from_n5000: Vec<_> = nx_inv
        .lldp_neighbors
        .iter()
        .filter(|n| n.local_port_num == nx_port)
        .collect();
    assert!(
        procurve_from_n5000.iter().any(|n| Some(&n.chassis_id)
            == hp_inv.lldp_local.as_ref().map(|l| &l.chassis_id)
            && n.port_id == hp_loc_port_id
            && n.system_name.as_ref() == Some(&hp_name)),
        "n5000 sees the ProCurve (chassis id, port {hp_loc_port_id}, {hp_name}) on port {nx_port}: {procurve_from_n5000:#?}"
    );

    // ProCurve → n5000. NX-OS advertises the port's MAC as its chassis id, which n5000's
    // lldpLocPortId (subtype macAddress, as text) of the port facing the ProCurve holds.
    let nx_port_mac = id_of(&nx_loc_ports[&vec![nx_port]], 2, 3).expect("simple port id");
    let hp_row = hp_rem
        .table(LLDP_REM_ENTRY)
        .into_iter()
        .find(|(i, r)| {
            i[1] == hp_port && r.get(&9).and_then(|v| text(v)).as_ref() == Some(&nx_name)
        })
        .expect("the ProCurve's row for the n5000");
    let hp_row_chassis = {
        let sub = hp_row.1.get(&4).and_then(|v| int(v)).expect("subtype");
        lldp_id(
            false,
            sub,
            &hp_row.1.get(&5).and_then(|v| bytes(v)).expect("id"),
        )
    };
    assert_eq!(
        hp_row_chassis.as_ref(),
        Some(&nx_port_mac),
        "the walks agree on the n5000's chassis id"
    );
    let hp_row_port = id_of(&hp_row.1, 6, 7).expect("simple port id");
    let n5000_from_procurve: Vec<_> = hp_inv
        .lldp_neighbors
        .iter()
        .filter(|n| n.local_port_num == hp_port)
        .collect();
    assert!(
        n5000_from_procurve
            .iter()
            .any(|n| n.chassis_id == nx_port_mac
                && n.system_name.as_ref() == Some(&nx_name)
                && n.port_id == hp_row_port),
        "the ProCurve sees {nx_name} ({nx_port_mac}, port {hp_row_port}) on port {hp_port}: {n5000_from_procurve:#?}"
    );
    // The n5000's port by its full name: ifName of the port facing the ProCurve, as the
    // ProCurve's other row for it (learnt by CDP, chassis subtype local) gives it.
    let mut nx_if = walk(&nx, IF_ENTRY);
    nx_if.extend(walk(&nx, IF_NAME));
    let nx_if_name = interface_names(&nx_if)
        .remove(&nx_port)
        .expect("ifName of the port facing the ProCurve");
    let by_full_name = hp_rem
        .table(LLDP_REM_ENTRY)
        .iter()
        .filter(|(i, r)| i[1] == hp_port && id_of(r, 6, 7).as_ref() == Some(&nx_if_name))
        .count();
    assert!(
        by_full_name > 0,
        "the walk names {nx_if_name} on the ProCurve"
    );
    assert_eq!(
        n5000_from_procurve
            .iter()
            .filter(|n| n.port_id == nx_if_name)
            .count(),
        by_full_name,
        "ProCurve neighbours on port {hp_port} with port id {nx_if_name}"
    );

    // ProCurve's CDP cache: the n5000 under its CDP device id (its name and serial).
    let cdp = walk(&hp, CDP_CACHE_ENTRY);
    let want: Vec<_> = cdp
        .table(CDP_CACHE_ENTRY)
        .into_iter()
        .filter_map(|(idx, row)| {
            let id = row.get(&6).and_then(|v| text(v))?;
            id.starts_with(&format!("{nx_name}(")).then(|| {
                (
                    idx[0],
                    id,
                    row.get(&7).and_then(|v| opt_text(v)),
                    row.get(&8).and_then(|v| opt_text(v)),
                )
            })
        })
        .collect();
    assert_eq!(
        want.len(),
        1,
        "the ProCurve's CDP cache names {nx_name} once"
    );
    assert_eq!(want[0].0, hp_port, "on the port LLDP sees it on");
    assert_eq!(
        want[0].2.as_ref(),
        Some(&nx_if_name),
        "CDP gives n5000's port by its ifName"
    );
    let got: Vec<_> = hp_inv
        .cdp_neighbors
        .iter()
        .filter(|n| n.device_id.starts_with(&format!("{nx_name}(")))
        .map(|n| {
            (
                n.local_if_index,
                n.device_id.clone(),
                n.port.clone(),
                n.platform.clone(),
            )
        })
        .collect();
    assert_eq!(got, want, "the ProCurve's CDP neighbour {nx_name}");
    // Every CDP row is a neighbour (rows with a binary device id included).
    assert_eq!(
        hp_inv.cdp_neighbors.len(),
        cdp.table(CDP_CACHE_ENTRY).len(),
        "CDP neighbours vs cdpCacheTable rows"
    );
    // Device ids sent as 6 raw bytes (a MAC) are given as hex, not as control characters.
    let raw: Vec<String> = cdp
        .table(CDP_CACHE_ENTRY)
        .values()
        .filter_map(|row| row.get(&6).and_then(|v| bytes(v)))
        .filter(|b| {
            b.len() == 6 && std::str::from_utf8(b).map_or(true, |t| t.chars().any(char::is_control))
        })
        .map(|b| hex_colons(&b))
        .collect();
    assert!(!raw.is_empty(), "the recording has binary CDP device ids");
    for id in &raw {
        assert!(
            hp_inv.cdp_neighbors.iter().any(|n| &n.device_id == id),
            "binary CDP device id {id} as hex in {:?}",
            hp_inv.cdp_neighbors
        );
    }
    // n5000 identifies some local ports by a MAC (lldpLocPortIdSubtype 3, given as text cut
    // to 16 bytes) and describes them by their ifAlias ("h3c big data"). Its lldpLocPortNum
    // is the ifIndex: such a port is named by that interface's ifName, not its description.
    let if_names = walk(&nx, "1.3.6.1.2.1.31.1.1.1.1");
    let if_aliases = walk(&nx, "1.3.6.1.2.1.31.1.1.1.18");
    let mut checked = 0;
    for (idx, row) in &nx_loc_ports {
        if row.get(&2).and_then(|v| int(v)) != Some(3) {
            continue;
        }
        let port = idx[0];
        let of = |w: &Walk| {
            w.0.iter()
                .find(|(o, _)| o.last() == Some(&port))
                .and_then(|(_, v)| text(v))
        };
        let (Some(name), Some(alias), Some(desc)) = (
            of(&if_names),
            of(&if_aliases),
            row.get(&4).and_then(|v| text(v)),
        ) else {
            continue;
        };
        if alias != desc {
            continue;
        }
        for n in nx_inv
            .lldp_neighbors
            .iter()
            .filter(|n| n.local_port_num == port)
        {
            assert_eq!(
                n.local_port.as_ref(),
                Some(&name),
                "local port {port} ({desc})"
            );
            checked += 1;
        }
    }
    assert!(
        checked > 0,
        "no n5000 neighbour on a port identified by MAC and described by its alias"
    );
}

#[test]
fn bdcom_s5612_out_of_order_forwarding_table_is_walked_completely_and_in_bounded_time() {
    let sim = Snmpsim::start("bdcom-s5612", &[BDCOM]).expect("snmpsim");
    let r = sim.v2c(BDCOM);
    // snmpsim answers in file order, which steps backwards inside dot1qTpFdbTable. A walk
    // that followed a backwards step into a loop would run into --timeout × retries per
    // request and into LIMIT overall.
    let started = Instant::now();
    let out = poll(
        &sim.target(),
        &[&community(BDCOM), "--timeout", "2", "--retries", "1"],
        LIMIT,
    )
    .expect("bdcom inventory within the limit");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(30), "the walk took {took:?}");

    let (want, _) = forwarding_from(&r);
    assert!(!want.is_empty(), "snmpbulkwalk -Cc finds the table");
    let got = forwarding_of(&out.inventory);
    assert_eq!(
        got.len(),
        want.len(),
        "forwarding entries vs dot1qTpFdbTable rows"
    );
    assert_eq!(got, want, "forwarding vs dot1qTpFdbTable");
}

#[test]
fn linux_host_resources_storage_and_processors_match_net_snmp_walks() {
    let sim = Snmpsim::start("linux-unknown-006", &[LINUX]).expect("snmpsim");
    let r = sim.v2c(LINUX);
    let inv = poll_v2c(&sim, LINUX).inventory;
    assert_system_group(&r, &inv);
    assert_interfaces(&r, &inv);

    // `snmp discover` over 127.0.0.0/30 finds exactly the simulator (bound to 127.0.0.1),
    // with the sysObjectID and sysName snmpget reads.
    let port = sim.port.to_string();
    let out = agent_snmp(
        &[
            "discover",
            "127.0.0.0/30",
            "--port",
            &port,
            &community(LINUX),
            "--json",
            "--timeout",
            "0.5",
            "--retries",
            "0",
        ],
        LIMIT,
    )
    .expect("discover");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let found: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("JSON");
    let sys = get(&r, &[SYS_OBJECT_ID, SYS_NAME]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["address"], format!("127.0.0.1:{port}"));
    assert_eq!(
        found[0]["object_id"].as_str(),
        sys.get(SYS_OBJECT_ID).map(|o| o.trim_start_matches('.'))
    );
    assert_eq!(
        found[0]["name"].as_str().map(str::to_string),
        sys.get(SYS_NAME).and_then(opt_text)
    );

    // hrStorageTable: 2 type (hrStorageTypes.N, HOST-RESOURCES-TYPES' order), 3 descr,
    // 4 allocation units, 5 size and 6 used in those units.
    const KINDS: [&str; 10] = [
        "other",
        "ram",
        "virtualMemory",
        "fixedDisk",
        "removableDisk",
        "floppyDisk",
        "compactDisc",
        "ramDisk",
        "flashMemory",
        "networkDisk",
    ];
    let types = parse_oid(HR_STORAGE_TYPES);
    let want: Vec<(u32, String, String, u64, u64)> = walk(&r, HR_STORAGE_ENTRY)
        .table(HR_STORAGE_ENTRY)
        .into_iter()
        .map(|(idx, row)| {
            let n = |c| {
                row.get(&c)
                    .and_then(|v| int(v))
                    .and_then(|n| u64::try_from(n).ok())
                    .expect("a non-negative number")
            };
            let kind = row
                .get(&2)
                .map(|t| parse_oid(t))
                .and_then(|t| t.strip_prefix(types.as_slice()).map(<[u32]>::to_vec))
                .and_then(|t| {
                    let n = usize::try_from(*t.first()?).ok()?;
                    KINDS.get(n.checked_sub(1)?).copied()
                })
                .unwrap_or("other");
            (
                idx[0],
                must_text(row.get(&3).copied(), "hrStorageDescr"),
                kind.to_string(),
                n(5) * n(4),
                n(6) * n(4),
            )
        })
        .collect();
    let got: Vec<_> = inv
        .storage
        .iter()
        .map(|s| {
            (
                s.index,
                s.description.clone(),
                s.kind.clone(),
                s.size_bytes,
                s.used_bytes,
            )
        })
        .collect();
    assert!(!want.is_empty(), "the recording has hrStorageTable");
    assert_eq!(got, want, "storage vs hrStorageTable");

    let want: Vec<(u32, u8)> = walk(&r, HR_PROCESSOR_LOAD)
        .0
        .iter()
        .map(|(o, v)| {
            let load = int(v).expect("hrProcessorLoad");
            (
                *o.last().expect("index"),
                u8::try_from(load).expect("0–100"),
            )
        })
        .collect();
    let got: Vec<_> = inv
        .processors
        .iter()
        .map(|p| (p.index, p.load_percent))
        .collect();
    assert!(!want.is_empty(), "the recording has hrProcessorLoad");
    assert_eq!(got, want, "processors vs hrProcessorLoad");
}

#[test]
fn snmpd_over_snmpv3_authpriv_matches_its_own_walks() {
    let snmpd = Snmpd::start().expect("snmpd");
    let r = snmpd.v3();
    let inv = poll(
        &snmpd.target(),
        &v3_args(V3_AUTH_KEY, V3_PRIV_KEY, None),
        LIMIT,
    )
    .expect("SNMPv3 inventory")
    .inventory;
    // scripts/snmpsim/snmpd.sh sets the name.
    assert_eq!(inv.system.name.as_deref(), Some("cmdb-test-snmpd"));
    assert_system_group(&r, &inv);
    assert_interfaces(&r, &inv);
}

#[test]
fn snmpd_over_every_v3_security_level_and_protocol_family_matches_its_own_walks() {
    let snmpd = Snmpd::start().expect("snmpd");
    // scripts/snmpsim/snmpd.sh creates these users beside the SHA/AES one.
    for (suffix, net_auth, net_priv, auth, privacy) in [
        ("sha256", "SHA-256", "AES-256", "sha256", "aes256"),
        ("md5", "MD5", "DES", "md5", "des"),
    ] {
        let user = format!("{V3_USER}-{suffix}");
        let r = NetSnmp::v3_as(&snmpd.target(), &user, net_auth, net_priv);
        let inv = poll(
            &snmpd.target(),
            &[
                "--v3-user",
                &user,
                "--auth-protocol",
                auth,
                &format!("CMDB_SNMP_AUTH_KEY={V3_AUTH_KEY}"),
                "--priv-protocol",
                privacy,
                &format!("CMDB_SNMP_PRIV_KEY={V3_PRIV_KEY}"),
            ],
            LIMIT,
        )
        .unwrap_or_else(|e| panic!("{net_auth}/{net_priv}: {e}"))
        .inventory;
        assert_eq!(inv.system.name.as_deref(), Some("cmdb-test-snmpd"));
        assert_system_group(&r, &inv);
        assert_interfaces(&r, &inv);
    }
    // The lower security levels: authNoPriv and noAuthNoPriv.
    for (suffix, auth) in [("auth", true), ("none", false)] {
        let user = format!("{V3_USER}-{suffix}");
        let r = NetSnmp::v3_level(&snmpd.target(), &user, auth);
        let auth_key = format!("CMDB_SNMP_AUTH_KEY={V3_AUTH_KEY}");
        let mut args = vec!["--v3-user", user.as_str()];
        if auth {
            args.extend(["--auth-protocol", "sha", auth_key.as_str()]);
        }
        let inv = poll(&snmpd.target(), &args, LIMIT)
            .unwrap_or_else(|e| panic!("{user}: {e}"))
            .inventory;
        assert_system_group(&r, &inv);
        assert_interfaces(&r, &inv);
    }
}

#[test]
fn snmpd_refuses_a_wrong_auth_key_with_an_authentication_error() {
    let snmpd = Snmpd::start().expect("snmpd");
    let target = snmpd.target();
    let access = v3_args("not-the-auth-pass", V3_PRIV_KEY, None);
    let mut args = vec!["inventory", target.as_str()];
    args.extend(access.iter().map(String::as_str));
    args.extend(["--timeout", "2", "--retries", "0"]);
    let out = agent_snmp(&args, LIMIT).expect("run cmdb-agent");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a wrong auth key must fail: {stderr}"
    );
    assert!(out.stdout.is_empty(), "no inventory on failure");
    assert!(
        stderr.contains("error:") && stderr.to_lowercase().contains("authentication"),
        "stderr names authentication: {stderr}"
    );
}

#[test]
fn snmpd_ignores_a_wrong_priv_key_and_the_timeout_names_the_privacy_key() {
    let snmpd = Snmpd::start().expect("snmpd");
    let target = snmpd.target();
    let access = v3_args(V3_AUTH_KEY, "not-the-priv-pass", None);
    let mut args = vec!["inventory", target.as_str()];
    args.extend(access.iter().map(String::as_str));
    args.extend(["--timeout", "1", "--retries", "1"]);
    let started = Instant::now();
    let out = agent_snmp(&args, LIMIT).expect("run cmdb-agent");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a wrong priv key must fail: {stderr}"
    );
    assert!(out.stdout.is_empty(), "no inventory on failure");
    // snmpd drops what it cannot decrypt, so this is a timeout (2 attempts of 1 s).
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(
        stderr.contains("error:") && stderr.contains("privacy key"),
        "stderr names the privacy key as a likely cause: {stderr}"
    );
}

#[test]
fn snmpd_interface_counters_move_between_polls() {
    let snmpd = Snmpd::start().expect("snmpd");
    let r = snmpd.v3();
    let access = v3_args(V3_AUTH_KEY, V3_PRIV_KEY, None);
    // The loopback interface: ifType softwareLoopback(24).
    let lo = walk(&r, IF_ENTRY)
        .table(IF_ENTRY)
        .into_iter()
        .find(|(_, row)| row.get(&3).and_then(|v| int(v)) == Some(24))
        .map(|(idx, _)| idx[0])
        .expect("a softwareLoopback interface");
    let hc_in = format!("{IF_HC_IN_OCTETS}.{lo}");
    let reference = || -> u64 {
        get(&r, &[&hc_in])
            .get(&hc_in)
            .and_then(int)
            .and_then(|n| u64::try_from(n).ok())
            .expect("ifHCInOctets of lo")
    };
    let in_octets = |p: &Polled| -> u64 {
        let c = p
            .metrics
            .interfaces
            .iter()
            .find(|c| c.index == lo)
            .expect("counters of lo");
        assert!(c.high_capacity, "snmpd has ifHCInOctets");
        c.in_octets.expect("in_octets of lo")
    };
    // A counter only grows, so a poll lies between two readings by snmpget.
    let before = reference();
    let first = poll(&snmpd.target(), &access, LIMIT).expect("first poll");
    let after = reference();
    let first_in = in_octets(&first);
    assert!(
        (before..=after).contains(&first_in),
        "lo in_octets {first_in} not within snmpget's {before}..={after}"
    );

    // Traffic on lo, then poll about once a second until snmpd's interface cache (a few
    // seconds) shows it.
    let sink = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let source = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let payload = [0x5a_u8; 1200];
    for _ in 0..200 {
        source
            .send_to(&payload, sink.local_addr().expect("addr"))
            .expect("send on lo");
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let second_in = loop {
        std::thread::sleep(Duration::from_secs(1));
        let second = poll(&snmpd.target(), &access, LIMIT).expect("second poll");
        let n = in_octets(&second);
        if n >= first_in + 200 * 1200 || Instant::now() > deadline {
            break n;
        }
    };
    assert!(
        second_in >= first_in + 200 * 1200,
        "lo in_octets went from {first_in} to {second_in} with 240 kB sent in between"
    );
}

#[test]
fn subtrees_into_a_closed_pipe_ends_quietly() {
    // `cmdb-agent snmp subtrees | head -0`: the reader is gone before the first line. The
    // agent used to panic ("failed printing to stdout") and exit 101.
    let mut child = std::process::Command::new(cmdb_tests::bin("cmdb-agent"))
        .args(["snmp", "subtrees", "--columns"])
        .env("CMDB_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("cmdb-agent");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("cmdb-agent ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status);
    assert!(stderr.is_empty(), "nothing on stderr: {stderr}");
}
