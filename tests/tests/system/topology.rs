//! Network topology end to end: the real `cmdb-agent` polls six devices that snmpsim serves
//! from recordings (the four Juniper MX960s of an LLDP ring, a Cisco Nexus 5548 and the HPE
//! ProCurve blade switch cabled to it), pushes the polls twice, and the real `cmdb-server`
//! derives `connected_to` edges from their LLDP and CDP neighbour tables.
//!
//! The expected links come from Net-SNMP, not from the agent or the server: `snmpbulkwalk`
//! of each recording's lldpRemTable, lldpLocPortTable, cdpCacheTable and interface names,
//! resolved here with a deliberately small rule (a neighbour is a polled device when its
//! chassis id is that device's lldpLocChassisId or base bridge MAC, or its name, without a
//! "(serial)" suffix, is that device's lldpLocSysName or sysName; a port is an interface
//! named by the port id, by the ifIndex a numeric port id gives, or by the port
//! description). The API must give exactly those links, one edge each, with both port names.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use cmdb_tests::snmp::{Snmpsim, Walk, bytes, hex_colons, opt_text, text};
use cmdb_tests::{Agent, Server};
use serde_json::Value;

use crate::common::{
    CDP_CACHE_ENTRY, IF_ENTRY, IF_NAME, IF_X_ENTRY, LLDP_LOC_CHASSIS_ID, LLDP_LOC_PORT_ENTRY,
    LLDP_LOC_SYS_NAME, LLDP_REM_ENTRY, MX960, N5000, PROCURVE, SYS_NAME, walk,
};

/// Every polled device, in the order of the agent's targets.
const DEVICES: [&str; 6] = [MX960[0], MX960[1], MX960[2], MX960[3], N5000, PROCURVE];
/// One snmpsim work directory (and warm index) for every test of this module.
const SIM: &str = "topology";

const DOT1D_BASE_BRIDGE_ADDRESS: &str = "1.3.6.1.2.1.17.1.1.0";
const IF_DESCR: &str = "1.3.6.1.2.1.2.2.1.2";

// ---- the reference: links as Net-SNMP's walks show them ----------------------------------

/// One end of a link: a polled device (its recording name) and the name of its interface.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct End {
    device: String,
    port: String,
}

impl fmt::Display for End {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.device, self.port)
    }
}

/// A link: its two ends, sorted, so that it does not matter which end saw it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Link(End, End);

impl Link {
    fn new(a: End, b: End) -> Self {
        if a <= b { Self(a, b) } else { Self(b, a) }
    }

    fn touches(&self, devices: &[&str]) -> bool {
        [&self.0, &self.1]
            .iter()
            .any(|e| devices.contains(&e.device.as_str()))
    }
}

impl fmt::Display for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} <-> {}", self.0, self.1)
    }
}

/// A chassis id as the test compares them: six bytes as `aa:bb:…`, anything else as
/// trimmed lower-case text (the n5000 gives its MAC as text).
fn chassis_key(b: &[u8]) -> String {
    if b.len() == 6 {
        hex_colons(b)
    } else {
        String::from_utf8_lossy(b).trim().to_lowercase()
    }
}

/// A system name as the test compares them: without a "(serial)" suffix (CDP device ids),
/// trimmed, lower case.
fn name_key(name: &str) -> String {
    name.split('(').next().unwrap_or("").trim().to_lowercase()
}

/// What the walks of one recording say of the device.
#[derive(Debug)]
struct Device {
    recording: &'static str,
    /// sysName: the name of the device's CI.
    sys_name: String,
    /// lldpLocChassisId and dot1dBaseBridgeAddress, as [`chassis_key`].
    chassis: BTreeSet<String>,
    /// lldpLocSysName and sysName, as [`name_key`].
    names: BTreeSet<String>,
    /// ifIndex → ifName (ifDescr where ifName is empty).
    interfaces: BTreeMap<u32, String>,
    /// ifDescr → ifIndex.
    descr: BTreeMap<String, u32>,
    /// lldpLocPortNum → (lldpLocPortId, lldpLocPortDesc).
    local_ports: BTreeMap<u32, (Option<String>, Option<String>)>,
    rem: Walk,
    cdp: Walk,
}

impl Device {
    fn read(sim: &Snmpsim, recording: &'static str) -> Self {
        let r = sim.v2c(recording);
        let scalars = r
            .get(&[
                SYS_NAME,
                LLDP_LOC_CHASSIS_ID,
                LLDP_LOC_SYS_NAME,
                DOT1D_BASE_BRIDGE_ADDRESS,
            ])
            .unwrap_or_else(|e| panic!("{recording}: snmpget: {e:#}"));
        let sys_name = scalars
            .get(SYS_NAME)
            .and_then(opt_text)
            .unwrap_or_else(|| panic!("{recording}: no sysName"));
        let chassis: BTreeSet<String> = [LLDP_LOC_CHASSIS_ID, DOT1D_BASE_BRIDGE_ADDRESS]
            .iter()
            .filter_map(|o| scalars.get(o).and_then(bytes))
            .filter(|b| !b.is_empty())
            .map(|b| chassis_key(&b))
            .collect();
        let names: BTreeSet<String> = [LLDP_LOC_SYS_NAME, SYS_NAME]
            .iter()
            .filter_map(|o| scalars.get(o).and_then(opt_text))
            .map(|n| name_key(&n))
            .collect();

        let mut ifs = walk(&r, IF_DESCR);
        ifs.extend(walk(&r, IF_NAME));
        let if_names = ifs.table(IF_X_ENTRY);
        let mut interfaces = BTreeMap::new();
        let mut descr = BTreeMap::new();
        for (idx, row) in ifs.table(IF_ENTRY) {
            let [i] = idx.as_slice() else { continue };
            let d = row.get(&2).and_then(|v| opt_text(v));
            let name = if_names
                .get(&idx)
                .and_then(|r| r.get(&1))
                .and_then(|v| opt_text(v))
                .or_else(|| d.clone());
            if let Some(n) = name {
                interfaces.insert(*i, n);
            }
            if let Some(d) = d {
                descr.entry(d).or_insert(*i);
            }
        }
        assert!(!interfaces.is_empty(), "{recording}: no interfaces");

        let local_ports = walk(&r, LLDP_LOC_PORT_ENTRY)
            .table(LLDP_LOC_PORT_ENTRY)
            .into_iter()
            .filter_map(|(idx, row)| {
                let [port] = idx.as_slice() else { return None };
                let t = |c: u32| row.get(&c).and_then(|v| opt_text(v));
                Some((*port, (t(3), t(4))))
            })
            .collect();
        Self {
            recording,
            sys_name,
            chassis,
            names,
            interfaces,
            descr,
            local_ports,
            rem: walk(&r, LLDP_REM_ENTRY),
            cdp: walk(&r, CDP_CACHE_ENTRY),
        }
    }

    /// The interface a port id (and description) names: an interface of that name, the
    /// ifIndex of a numeric id, or the interface the description names (by ifName or ifDescr).
    fn port(&self, id: Option<&str>, description: Option<&str>) -> Option<String> {
        let by_name = |n: &str| self.interfaces.values().find(|i| *i == n).cloned();
        let by_index = |n: &str| {
            n.parse::<u32>()
                .ok()
                .and_then(|i| self.interfaces.get(&i).cloned())
        };
        let by_descr = |n: &str| {
            self.descr
                .get(n)
                .and_then(|i| self.interfaces.get(i))
                .cloned()
        };
        id.and_then(|id| by_name(id).or_else(|| by_index(id)))
            .or_else(|| description.and_then(|d| by_name(d).or_else(|| by_descr(d))))
    }

    /// The name of the local LLDP port `num`: by its lldpLocPortTable row, else the ifIndex
    /// of the same number.
    fn local_lldp_port(&self, num: u32) -> String {
        let (id, desc) = self.local_ports.get(&num).cloned().unwrap_or_default();
        self.port(id.as_deref(), desc.as_deref())
            .or_else(|| self.interfaces.get(&num).cloned())
            .unwrap_or_else(|| format!("<lldpLocPortNum {num}>"))
    }
}

/// The polled device a neighbour is: by chassis id, else by name.
fn resolve(devices: &[Device], chassis: Option<&[u8]>, names: &[Option<String>]) -> Option<usize> {
    chassis
        .filter(|c| !c.is_empty())
        .and_then(|c| {
            let key = chassis_key(c);
            devices.iter().position(|d| d.chassis.contains(&key))
        })
        .or_else(|| {
            names
                .iter()
                .flatten()
                .map(|n| name_key(n))
                .filter(|n| !n.is_empty())
                .find_map(|n| devices.iter().position(|d| d.names.contains(&n)))
        })
}

/// Who showed a link: the protocols and the table rows.
#[derive(Debug, Default)]
struct Seen {
    protocols: BTreeSet<&'static str>,
    rows: Vec<String>,
}

/// The links among `devices` that their lldpRemTable and cdpCacheTable rows show.
fn reference_links(devices: &[Device]) -> BTreeMap<Link, Seen> {
    let mut links: BTreeMap<Link, Seen> = BTreeMap::new();
    for (me, d) in devices.iter().enumerate() {
        let mut add = |peer: usize, local: String, remote: String, by, row: String| {
            if peer == me {
                return;
            }
            let link = Link::new(
                End {
                    device: d.recording.into(),
                    port: local,
                },
                End {
                    device: devices[peer].recording.into(),
                    port: remote,
                },
            );
            let seen = links.entry(link).or_default();
            seen.protocols.insert(by);
            seen.rows.push(row);
        };
        // lldpRemTable: index timeMark.localPortNum.remIndex; 5 chassis id, 7 port id,
        // 8 port description, 9 system name.
        for (idx, row) in d.rem.table(LLDP_REM_ENTRY) {
            let [_, local_num, _] = idx.as_slice() else {
                continue;
            };
            let chassis = row.get(&5).and_then(|v| bytes(v));
            let names = [
                row.get(&9).and_then(|v| text(v)),
                row.get(&5).and_then(|v| text(v)),
            ];
            let Some(peer) = resolve(devices, chassis.as_deref(), &names) else {
                continue;
            };
            let t = |c: u32| row.get(&c).and_then(|v| opt_text(v));
            let remote = devices[peer]
                .port(t(7).as_deref(), t(8).as_deref())
                .unwrap_or_else(|| format!("<port id {:?}>", t(7)));
            let at = idx.iter().map(u32::to_string).collect::<Vec<_>>().join(".");
            add(
                peer,
                d.local_lldp_port(*local_num),
                remote,
                "lldp",
                format!("{} lldpRemTable {at}", d.recording),
            );
        }
        // cdpCacheTable: index ifIndex.deviceIndex; 6 device id, 7 device port.
        for (idx, row) in d.cdp.table(CDP_CACHE_ENTRY) {
            let [if_index, _] = idx.as_slice() else {
                continue;
            };
            let id = row.get(&6).and_then(|v| bytes(v));
            let names = [row.get(&6).and_then(|v| text(v))];
            let Some(peer) = resolve(devices, id.as_deref(), &names) else {
                continue;
            };
            let port = row.get(&7).and_then(|v| opt_text(v));
            let remote = devices[peer]
                .port(port.as_deref(), None)
                .unwrap_or_else(|| format!("<device port {port:?}>"));
            let local = d
                .interfaces
                .get(if_index)
                .cloned()
                .unwrap_or_else(|| format!("<ifIndex {if_index}>"));
            let at = idx.iter().map(u32::to_string).collect::<Vec<_>>().join(".");
            add(
                peer,
                local,
                remote,
                "cdp",
                format!("{} cdpCacheTable {at}", d.recording),
            );
        }
    }
    links
}

// ---- the system under test ----------------------------------------------------------------

/// A `connected_to` edge as the API gives it, its ends named like the reference's.
#[derive(Debug, Clone)]
struct Edge {
    link: Link,
    raw: Value,
}

impl Edge {
    fn key(&self) -> &str {
        self.raw["key"].as_str().unwrap_or("")
    }

    fn discovered_by(&self) -> BTreeSet<String> {
        self.raw["discovered_by"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|b| b.as_str().map(str::to_string))
            .collect()
    }
}

/// snmpsim with the six recordings, a server, and an agent that polls all of them.
struct Topology {
    /// Serves the recordings while the test lasts.
    _sim: Snmpsim,
    server: Server,
    agent: Agent,
    devices: Vec<Device>,
    /// The links the walks show.
    reference: BTreeMap<Link, Seen>,
    /// CI key → recording.
    cis: BTreeMap<String, &'static str>,
}

impl Topology {
    /// Starts everything and gets every device's poll to the server twice (a link appears
    /// once both of its devices are known, so the second round sees every one).
    fn discover() -> Self {
        let sim = Snmpsim::start(SIM, &DEVICES).expect("snmpsim");
        let server = Server::start().expect("server");
        let agent = Agent::new(Path::new("/"), 3600).expect("agent");
        let mut cfg = std::fs::read_to_string(&agent.config).expect("agent config");
        cfg.push_str("\n[snmp]\ntimeout_secs = 2.0\nretries = 1\n");
        for rec in DEVICES {
            cfg.push_str(&format!(
                "[snmp.credentials.\"{rec}\"]\nversion = \"2c\"\ncommunity = \"{rec}\"\n"
            ));
        }
        for rec in DEVICES {
            cfg.push_str(&format!(
                "[[snmp.targets]]\naddress = \"{}\"\ncredential = \"{rec}\"\n",
                sim.target()
            ));
        }
        std::fs::write(&agent.config, cfg).expect("write agent config");
        agent.enroll(&server).expect("enroll");
        let devices: Vec<Device> = DEVICES.iter().map(|r| Device::read(&sim, r)).collect();
        let mut t = Self {
            reference: reference_links(&devices),
            devices,
            _sim: sim,
            server,
            agent,
            cis: BTreeMap::new(),
        };
        t.poll_round();
        t.poll_round();
        t.cis = t.device_cis();
        t
    }

    /// `run --once`: every device polled and delivered.
    fn poll_round(&self) {
        let out = self.agent.run_once().expect("run --once");
        assert!(
            out.contains(&format!("devices: {} polled, 0 failed", DEVICES.len())),
            "{out}"
        );
        let log = self.server.logs();
        assert!(
            !log.contains("relationship discovery failed"),
            "the server logged a discovery failure:\n{log}"
        );
    }

    /// Every network device CI, by the recording whose sysName it carries: one each.
    fn device_cis(&self) -> BTreeMap<String, &'static str> {
        let (status, page) = self
            .server
            .get("/api/v1/cis?class=network_device&limit=100")
            .expect("list devices");
        assert_eq!(status, 200, "{page}");
        let mut cis = BTreeMap::new();
        for item in page["items"].as_array().expect("items") {
            let key = item["key"].as_str().expect("key").to_string();
            let (status, ci) = self
                .server
                .get(&format!("/api/v1/cis/{key}"))
                .expect("get CI");
            assert_eq!(status, 200, "{ci}");
            let name = ci["name"].as_str().unwrap_or_default();
            let d = self
                .devices
                .iter()
                .find(|d| d.sys_name == name)
                .unwrap_or_else(|| panic!("CI {key} named {name:?} is none of the polled devices"));
            cis.insert(key, d.recording);
        }
        let polled: BTreeSet<&str> = cis.values().copied().collect();
        assert_eq!(
            (cis.len(), polled),
            (DEVICES.len(), DEVICES.into_iter().collect()),
            "one CI per polled device: {cis:?}"
        );
        cis
    }

    /// The name the test gives a CI: its recording, or `ci:KEY` for any other CI.
    fn device_of(&self, ci: &str) -> String {
        self.cis
            .get(ci)
            .map(|r| r.to_string())
            .unwrap_or_else(|| format!("ci:{ci}"))
    }

    /// Every `connected_to` edge the API lists.
    fn edges(&self) -> Vec<Edge> {
        let (status, page) = self
            .server
            .get("/api/v1/relationships?kind=connected_to&limit=1000")
            .expect("list relationships");
        assert_eq!(status, 200, "{page}");
        let items = page["items"].as_array().expect("items");
        assert_eq!(
            page["total"].as_u64(),
            Some(items.len() as u64),
            "every edge on one page: {page}"
        );
        items
            .iter()
            .map(|e| {
                let end = |ci: &str, port: &str| End {
                    device: self.device_of(e[ci].as_str().unwrap_or_default()),
                    port: e["evidence"][port]
                        .as_str()
                        .unwrap_or_else(|| panic!("edge without evidence.{port}: {e}"))
                        .to_string(),
                };
                Edge {
                    link: Link::new(end("from", "from_port"), end("to", "to_port")),
                    raw: e.clone(),
                }
            })
            .collect()
    }

    /// `GET /api/v1/graph/check` (editor role; the harness uses the admin token).
    fn assert_graph_consistent(&self) {
        let (status, check) = self.server.get("/api/v1/graph/check").expect("graph check");
        assert_eq!(status, 200, "{check}");
        assert_eq!(check["consistent"], true, "graph index vs storage: {check}");
    }

    /// Relationship history rows of a CI.
    fn relationship_history(&self, ci: &str) -> usize {
        self.server
            .history(ci)
            .expect("history")
            .iter()
            .filter(|h| h["attribute"] == "relationship")
            .count()
    }

    /// The API's edges touching `group` are exactly the reference's links touching it: one
    /// discovered, live edge per link, with both port names. Returns those links.
    fn assert_links(&self, group: &[&str]) -> BTreeMap<Link, Edge> {
        let want: BTreeMap<&Link, &Seen> = self
            .reference
            .iter()
            .filter(|(l, _)| l.touches(group))
            .collect();
        // An edge to a CI that is none of the polled devices is extra in every group.
        let got: Vec<Edge> = self
            .edges()
            .into_iter()
            .filter(|e| e.link.touches(group) || !e.link.touches(&DEVICES))
            .collect();

        let mut by_link: BTreeMap<Link, Vec<&Edge>> = BTreeMap::new();
        for e in &got {
            by_link.entry(e.link.clone()).or_default().push(e);
        }
        let dup: Vec<String> = by_link
            .iter()
            .filter(|(_, es)| es.len() > 1)
            .map(|(l, es)| {
                let keys: Vec<&str> = es.iter().map(|e| e.key()).collect();
                format!("  {l}: {} edges {keys:?}", es.len())
            })
            .collect();
        let missing: Vec<String> = want
            .iter()
            .filter(|(l, _)| !by_link.contains_key(**l))
            .map(|(l, s)| format!("  {l}   ({:?}; {})", s.protocols, s.rows.join(", ")))
            .collect();
        let extra: Vec<String> = by_link
            .iter()
            .filter(|(l, _)| !want.contains_key(l))
            .flat_map(|(l, es)| es.iter().map(move |e| format!("  {l}   {}", e.raw)))
            .collect();
        assert!(
            dup.is_empty() && missing.is_empty() && extra.is_empty(),
            "connected_to edges of {group:?} vs the links the LLDP/CDP walks show\n\
             missing (the walks show it, the API has no edge):\n{}\n\
             extra (an edge the walks do not show):\n{}\n\
             more than one edge for one link:\n{}\n\
             expected:\n{}",
            missing.join("\n"),
            extra.join("\n"),
            dup.join("\n"),
            want.keys()
                .map(|l| format!("  {l}"))
                .collect::<Vec<_>>()
                .join("\n"),
        );

        let mut out = BTreeMap::new();
        for link in want.keys() {
            let e = by_link[*link][0];
            assert_eq!(e.raw["source"], "discovered", "{link}: {}", e.raw);
            assert_eq!(e.raw["stale"], false, "{link}: {}", e.raw);
            out.insert((*link).clone(), e.clone());
        }
        out
    }

    /// Each edge is discovered by exactly the protocols whose tables show its link: LLDP,
    /// CDP, or both.
    fn assert_discovered_by(&self, links: &BTreeMap<Link, Edge>) {
        let wrong: Vec<String> = links
            .iter()
            .filter_map(|(link, e)| {
                let seen = &self.reference[link];
                let by = e.discovered_by();
                let want: BTreeSet<String> =
                    seen.protocols.iter().map(|p| p.to_string()).collect();
                (by != want).then(|| {
                    format!(
                        "  {link}: discovered_by {by:?}, the walks show it in {want:?} ({})\n    {}",
                        seen.rows.join(", "),
                        e.raw
                    )
                })
            })
            .collect();
        assert!(
            wrong.is_empty(),
            "discovered_by vs the tables that show each link:\n{}",
            wrong.join("\n")
        );
    }
}

/// The MX960 by lldpLocSysName (the sysNames of the recordings are anonymised).
fn mx(name: &str) -> &'static str {
    match name {
        "YT-CORE-1" => MX960[0],
        "CA-CORE-1" => MX960[1],
        "CA-CORE-2" => MX960[2],
        "YT-CORE-2" => MX960[3],
        _ => panic!("no MX960 {name}"),
    }
}

fn end(device: &str, port: &str) -> End {
    End {
        device: device.into(),
        port: port.into(),
    }
}

#[test]
fn lldp_ring_of_four_mx960s_gives_exactly_the_links_both_ends_report() {
    let t = Topology::discover();
    let links = t.assert_links(&MX960);

    // What the walks show is the ring YT-CORE-1 – CA-CORE-1 – CA-CORE-2 – YT-CORE-2 –
    // YT-CORE-1 (scripts/snmpsim/README.md), each link seen from both ends: a check of the
    // reference itself, with the port names an operator would read off the routers.
    let ring: BTreeSet<Link> = [
        (("YT-CORE-1", "xe-1/2/0"), ("CA-CORE-1", "xe-1/2/0")),
        (("YT-CORE-1", "xe-0/2/0"), ("YT-CORE-2", "xe-0/2/0")),
        (("CA-CORE-1", "xe-0/2/0"), ("CA-CORE-2", "xe-3/0/0")),
        (("CA-CORE-2", "xe-3/1/1"), ("YT-CORE-2", "xe-1/2/0")),
    ]
    .into_iter()
    .map(|((a, ap), (b, bp))| Link::new(end(mx(a), ap), end(mx(b), bp)))
    .collect();
    assert_eq!(
        links.keys().cloned().collect::<BTreeSet<_>>(),
        ring,
        "the ring"
    );
    for link in &ring {
        let seen = &t.reference[link];
        let ends: BTreeSet<&str> = seen
            .rows
            .iter()
            .filter_map(|r| r.split(' ').next())
            .collect();
        assert_eq!(
            ends,
            BTreeSet::from([link.0.device.as_str(), link.1.device.as_str()]),
            "{link} is in both ends' lldpRemTable: {:?}",
            seen.rows
        );
    }
    // Junos speaks LLDP only.
    t.assert_discovered_by(&links);
}

#[test]
fn nexus_and_procurve_are_one_link_with_both_port_names() {
    let t = Topology::discover();
    let links = t.assert_links(&[N5000, PROCURVE]);

    // NX-OS sees the ProCurve's port as local id "17" (its ifName); the ProCurve sees the
    // Nexus four times on its port 17 (LLDP and CDP, once under the port's MAC with port
    // "Eth1/19", once under "NWPU-CA-5548-01(SSI183706KP)" with "Ethernet1/19"). One link.
    let link = Link::new(end(N5000, "Ethernet1/19"), end(PROCURVE, "17"));
    assert_eq!(
        links.keys().collect::<Vec<_>>(),
        vec![&link],
        "one link between the Nexus and the ProCurve"
    );
    let e = &links[&link];
    let port_of = |device: &str| {
        let side = if t.device_of(e.raw["from"].as_str().unwrap_or_default()) == device {
            "from_port"
        } else {
            "to_port"
        };
        e.raw["evidence"][side].as_str().map(str::to_string)
    };
    assert_eq!(port_of(N5000).as_deref(), Some("Ethernet1/19"), "{}", e.raw);
    assert_eq!(port_of(PROCURVE).as_deref(), Some("17"), "{}", e.raw);
    assert_eq!(
        t.reference[&link].protocols,
        BTreeSet::from(["cdp", "lldp"]),
        "the walks show the link in LLDP and CDP"
    );

    // The CI's own relationship list has that edge, once.
    let nexus = t
        .cis
        .iter()
        .find(|(_, r)| **r == N5000)
        .map(|(k, _)| k.clone())
        .expect("the Nexus CI");
    let (status, rels) = t
        .server
        .get(&format!("/api/v1/cis/{nexus}/relationships"))
        .expect("CI relationships");
    assert_eq!(status, 200, "{rels}");
    let keys: Vec<&str> = rels
        .as_array()
        .expect("array")
        .iter()
        .filter(|r| r["kind"] == "connected_to")
        .filter_map(|r| r["key"].as_str())
        .collect();
    assert_eq!(keys, vec![e.key()], "{rels}");

    // Seen by LLDP from both ends and by the ProCurve's CDP: discovered by both.
    t.assert_discovered_by(&links);
}

#[test]
fn a_third_round_of_polls_adds_no_edges_and_no_relationship_history() {
    let t = Topology::discover();
    let links = t.assert_links(&DEVICES);
    assert_eq!(
        links.len(),
        5,
        "four ring links and the Nexus–ProCurve link"
    );
    t.assert_graph_consistent();

    // Each device CI's relationship history is the creation of its edges, nothing more:
    // seeing a link again, from either end, is no change.
    let edges_of = |ci: &str| {
        links
            .values()
            .filter(|e| e.raw["from"] == ci || e.raw["to"] == ci)
            .count()
    };
    let history: BTreeMap<String, usize> = t
        .cis
        .keys()
        .map(|ci| (ci.clone(), t.relationship_history(ci)))
        .collect();
    let created: BTreeMap<String, usize> =
        t.cis.keys().map(|ci| (ci.clone(), edges_of(ci))).collect();
    assert_eq!(
        history, created,
        "relationship history rows per CI vs its edges"
    );
    // Every CI's own list holds its connected_to edges.
    for (ci, rec) in &t.cis {
        let (status, rels) = t
            .server
            .get(&format!("/api/v1/cis/{ci}/relationships"))
            .expect("CI relationships");
        assert_eq!(status, 200, "{rels}");
        let keys: BTreeSet<&str> = rels
            .as_array()
            .expect("array")
            .iter()
            .filter(|r| r["kind"] == "connected_to")
            .filter_map(|r| r["key"].as_str())
            .collect();
        let want: BTreeSet<&str> = links
            .values()
            .filter(|e| e.raw["from"] == ci.as_str() || e.raw["to"] == ci.as_str())
            .map(Edge::key)
            .collect();
        assert_eq!(keys, want, "{rec}: /cis/{ci}/relationships");
    }

    let before: BTreeMap<String, Value> = t
        .edges()
        .into_iter()
        .map(|e| (e.key().to_string(), e.raw))
        .collect();
    t.poll_round();
    let after: BTreeMap<String, Value> = t
        .edges()
        .into_iter()
        .map(|e| (e.key().to_string(), e.raw))
        .collect();
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>(),
        "the same edges after a third round"
    );
    for (key, a) in &after {
        let b = &before[key];
        for field in [
            "from",
            "to",
            "first_seen",
            "evidence",
            "discovered_by",
            "stale",
        ] {
            assert_eq!(a[field], b[field], "{key}.{field}: {b} then {a}");
        }
    }
    let again: BTreeMap<String, usize> = t
        .cis
        .keys()
        .map(|ci| (ci.clone(), t.relationship_history(ci)))
        .collect();
    assert_eq!(again, history, "no relationship history from a third round");
    assert_eq!(t.device_cis(), t.cis, "still one CI per device");
    t.assert_graph_consistent();
}
