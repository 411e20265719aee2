//! Impact analysis through the whole system. A synthetic data centre (business services,
//! applications, VMs, hypervisors on a dual-homed switch fabric, storage arrays, power, and
//! redundancy groups) is imported through the API; the server's answers are compared with the
//! brute-force reference of `cmdb_graph::reference` for many failure sets. Then the exports
//! and the CLI, the index rebuilt on restart, import validation and round trips, change
//! conflicts, relationship history, and refused requests.
//!
//! The reference is fed from what the server stores (its JSON export, checked first against
//! the bundle that was imported), so a disagreement points at the index or at the query, not
//! at the test's own idea of the estate.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use cmdb_graph::{NodeAttrs, RelKind, State, reference};
use cmdb_tests::{Agent, Server, bin};
use serde_json::{Value, json};

// ---- API client ------------------------------------------------------------------------------

/// One keep-alive HTTPS client with a token: the comparisons make hundreds of requests and the
/// harness builds a client per request.
struct Api {
    rt: tokio::runtime::Runtime,
    client: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    fn new(server: &Server) -> Self {
        Self::with_token(server, &server.init.admin_token)
    }

    fn with_token(server: &Server, token: &str) -> Self {
        Self {
            rt: cmdb_tests::rt(),
            client: server.client().expect("http client"),
            base: server.url(),
            token: token.to_string(),
        }
    }

    /// Any request; returns (status, body text).
    fn send(&self, method: &str, path: &str, body: Option<(&str, Vec<u8>)>) -> (u16, String) {
        let method: reqwest::Method = method.parse().expect("method");
        let url = format!("{}{path}", self.base);
        self.rt.block_on(async {
            let mut req = self.client.request(method, &url).bearer_auth(&self.token);
            if let Some((content_type, bytes)) = body {
                req = req.header("content-type", content_type).body(bytes);
            }
            let resp = req.send().await.unwrap_or_else(|e| panic!("{url}: {e}"));
            let status = resp.status().as_u16();
            (status, resp.text().await.expect("response body"))
        })
    }

    /// A JSON request; returns (status, the JSON body, or its text as a string).
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let body = body.map(|b| ("application/json", b.to_string().into_bytes()));
        let (status, text) = self.send(method, path, body);
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, v)
    }

    /// A JSON request that must succeed.
    fn ok(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let (status, v) = self.call(method, path, body);
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {v}"
        );
        v
    }

    fn get(&self, path: &str) -> Value {
        self.ok("GET", path, None)
    }

    /// A request that must be refused with `status`; returns the error text.
    fn refused(&self, status: u16, method: &str, path: &str, body: Option<&Value>) -> String {
        let (got, v) = self.call(method, path, body);
        assert_eq!(got, status, "{method} {path} {body:?}: {v}");
        v["error"].as_str().unwrap_or_default().to_string()
    }
}

/// Runs `cmdb-server <args> --config <server's config>` with the admin token in CMDB_TOKEN.
fn cli(server: &Server, args: &[&str]) -> Output {
    Command::new(bin("cmdb-server"))
        .args(args)
        .arg("--config")
        .arg(&server.init.config)
        .env("CMDB_TOKEN", &server.init.admin_token)
        .env("CMDB_LOG", "warn")
        .output()
        .expect("run cmdb-server")
}

// ---- the synthetic data centre ---------------------------------------------------------------

#[derive(Debug, Clone)]
struct CiSpec {
    class: &'static str,
    name: String,
    min_up: Option<u32>,
    core: bool,
}

/// CIs and relationships by name (names are unique across classes here).
#[derive(Debug, Default)]
struct Estate {
    cis: Vec<CiSpec>,
    rels: Vec<(String, RelKind, String)>,
}

const RACKS: usize = 8;
const HYPERVISORS_PER_RACK: usize = 4;
const VMS_PER_HYPERVISOR: usize = 4;
const APPS: usize = 60;
/// A CI with no relationship at all: not in the graph index, down alone when it fails.
const ORPHAN: &str = "spare-appliance";

/// The hypervisor wired to its rack's first ToR only.
fn single_homed(rack: usize, hv: usize) -> bool {
    hv == HYPERVISORS_PER_RACK && rack.is_multiple_of(2)
}

impl Estate {
    fn ci(&mut self, class: &'static str, name: &str) {
        self.cis.push(CiSpec {
            class,
            name: name.to_string(),
            min_up: None,
            core: false,
        });
    }

    fn rel(&mut self, from: &str, kind: RelKind, to: &str) {
        self.rels.push((from.to_string(), kind, to.to_string()));
    }

    /// Two core switches (declared core) on two power feeds; an aggregation pair under them;
    /// two storage arrays on the aggregation; per rack two PDUs, two ToR switches each on one
    /// PDU, four hypervisors dual-homed to both ToRs (the last one of even racks single-homed),
    /// each on one PDU and one array, four VMs each; applications on VMs, some depending on
    /// others; a web cluster (min_up 2 of 3) depending on a database pair (min_up 1 of 2);
    /// business services on top.
    fn data_centre() -> Self {
        use RelKind::*;
        let mut e = Estate::default();
        e.ci("pdu", "pdu-core-a");
        e.ci("pdu", "pdu-core-b");
        for core in ["core-1", "core-2"] {
            e.cis.push(CiSpec {
                class: "switch",
                name: core.to_string(),
                min_up: None,
                core: true,
            });
        }
        e.rel("core-1", ConnectedTo, "core-2");
        e.rel("core-1", PoweredBy, "pdu-core-a");
        e.rel("core-2", PoweredBy, "pdu-core-b");
        for agg in ["agg-1", "agg-2"] {
            e.ci("switch", agg);
            e.rel(agg, ConnectedTo, "core-1");
            e.rel(agg, ConnectedTo, "core-2");
        }
        e.rel("agg-1", ConnectedTo, "agg-2");
        for (san, pdu) in [("san-1", "pdu-core-a"), ("san-2", "pdu-core-b")] {
            e.ci("storage_array", san);
            e.rel(san, ConnectedTo, "agg-1");
            e.rel(san, ConnectedTo, "agg-2");
            e.rel(san, PoweredBy, pdu);
        }
        for r in 1..=RACKS {
            let (pa, pb) = (format!("pdu-r{r}a"), format!("pdu-r{r}b"));
            let (ta, tb) = (format!("tor-r{r}a"), format!("tor-r{r}b"));
            for (tor, pdu) in [(&ta, &pa), (&tb, &pb)] {
                e.ci("pdu", pdu);
                e.ci("switch", tor);
                e.rel(tor, ConnectedTo, "agg-1");
                e.rel(tor, ConnectedTo, "agg-2");
                e.rel(tor, PoweredBy, pdu);
            }
            for h in 1..=HYPERVISORS_PER_RACK {
                let hv = format!("hv-r{r}-{h}");
                e.ci("hypervisor", &hv);
                e.rel(&hv, ConnectedTo, &ta);
                if !single_homed(r, h) {
                    e.rel(&hv, ConnectedTo, &tb);
                }
                e.rel(&hv, PoweredBy, if h % 2 == 1 { &pa } else { &pb });
                let san = if (r + h).is_multiple_of(2) {
                    "san-1"
                } else {
                    "san-2"
                };
                e.rel(&hv, DependsOn, san);
                for v in 1..=VMS_PER_HYPERVISOR {
                    let vm = format!("vm-r{r}-{h}-{v}");
                    e.ci("vm", &vm);
                    e.rel(&vm, HostedOn, &hv);
                }
            }
        }
        let vms = RACKS * HYPERVISORS_PER_RACK * VMS_PER_HYPERVISOR;
        let vm_name = |k: usize| {
            let per_rack = HYPERVISORS_PER_RACK * VMS_PER_HYPERVISOR;
            format!(
                "vm-r{}-{}-{}",
                k / per_rack + 1,
                (k / VMS_PER_HYPERVISOR) % HYPERVISORS_PER_RACK + 1,
                k % VMS_PER_HYPERVISOR + 1
            )
        };
        for i in 1..=APPS {
            let app = format!("app-{i}");
            e.ci("application", &app);
            e.rel(&app, RunsOn, &vm_name((i * 37) % vms));
        }
        for i in (5..=APPS).step_by(5) {
            if i + 7 <= APPS {
                e.rel(&format!("app-{i}"), DependsOn, &format!("app-{}", i + 7));
            }
        }
        e.cis.push(CiSpec {
            class: "redundancy_group",
            name: "web-cluster".into(),
            min_up: Some(2),
            core: false,
        });
        e.cis.push(CiSpec {
            class: "redundancy_group",
            name: "db-pair".into(),
            min_up: Some(1),
            core: false,
        });
        for (db, rack) in [("db-1", 5), ("db-2", 6)] {
            e.ci("application", db);
            e.rel(db, MemberOf, "db-pair");
            e.rel(db, RunsOn, &format!("vm-r{rack}-1-1"));
        }
        for k in 1..=3 {
            let web = format!("web-{k}");
            e.ci("application", &web);
            e.rel(&web, MemberOf, "web-cluster");
            e.rel(&web, RunsOn, &format!("vm-r{k}-2-2"));
            e.rel(&web, DependsOn, "db-pair");
        }
        e.ci("business_service", "bs-shop");
        e.rel("bs-shop", DependsOn, "web-cluster");
        e.rel("bs-shop", DependsOn, "app-1");
        e.ci("business_service", "bs-payments");
        e.rel("bs-payments", DependsOn, "db-pair");
        e.rel("bs-payments", DependsOn, "app-2");
        for j in 1..=6 {
            let bs = format!("bs-line-{j}");
            e.ci("business_service", &bs);
            for a in 0..3 {
                e.rel(&bs, DependsOn, &format!("app-{}", j * 9 + a));
            }
        }
        e.ci("application", ORPHAN);
        e
    }

    fn class_of(&self, name: &str) -> &'static str {
        self.cis
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.class)
            .unwrap_or_else(|| panic!("no CI {name} in the estate"))
    }

    /// The import bundle: CIs by class + name, relationships referencing `class/name`.
    fn bundle(&self) -> Value {
        let cis: Vec<Value> = self
            .cis
            .iter()
            .map(|c| {
                let mut v = json!({"class": c.class, "name": c.name});
                if let Some(m) = c.min_up {
                    v["min_up"] = json!(m);
                }
                if c.core {
                    v["core"] = json!(true);
                }
                v
            })
            .collect();
        let rels: Vec<Value> = self
            .rels
            .iter()
            .map(|(from, kind, to)| {
                json!({
                    "from": format!("{}/{from}", self.class_of(from)),
                    "kind": kind.as_str(),
                    "to": format!("{}/{to}", self.class_of(to)),
                })
            })
            .collect();
        json!({"cis": cis, "relationships": rels})
    }
}

/// Imports the data centre into a fresh server; returns the estate and the model of what the
/// server stores.
fn import_data_centre(api: &Api) -> (Estate, Model) {
    let estate = Estate::data_centre();
    let report = api.ok("POST", "/api/v1/import", Some(&estate.bundle()));
    assert_eq!(
        report["cis_created"].as_array().map(Vec::len),
        Some(estate.cis.len()),
        "{report}"
    );
    assert_eq!(
        report["relationships_created"].as_array().map(Vec::len),
        Some(estate.rels.len()),
        "{report}"
    );
    let model = Model::load(api);
    (estate, model)
}

// ---- what the server stores, and the reference over it -------------------------------------

/// CIs and active relationships as the server exports them, by id.
struct Model {
    nodes: Vec<(String, NodeAttrs)>,
    edges: Vec<(String, String, RelKind)>,
    names: HashMap<String, String>,
    ids: HashMap<String, String>,
    classes: HashMap<String, String>,
}

impl Model {
    fn load(api: &Api) -> Self {
        let export = api.get("/api/v1/export?format=json");
        let mut m = Model {
            nodes: Vec::new(),
            edges: Vec::new(),
            names: HashMap::new(),
            ids: HashMap::new(),
            classes: HashMap::new(),
        };
        for c in export["cis"].as_array().expect("export cis") {
            let key = c["key"].as_str().expect("key").to_string();
            let name = c["name"].as_str().expect("name").to_string();
            let class = c["class"].as_str().expect("class").to_string();
            let attrs = NodeAttrs {
                business_service: class == "business_service",
                min_up: c["min_up"]
                    .as_u64()
                    .map(|m| u32::try_from(m).expect("min_up")),
                core: c["core"].as_bool().unwrap_or(false),
            };
            m.nodes.push((key.clone(), attrs));
            assert!(
                m.ids.insert(name.clone(), key.clone()).is_none(),
                "two CIs named {name}"
            );
            m.names.insert(key.clone(), name);
            m.classes.insert(key, class);
        }
        for r in export["relationships"]
            .as_array()
            .expect("export relationships")
        {
            if r["stale"].as_bool() == Some(true) {
                continue;
            }
            let kind = RelKind::parse(r["kind"].as_str().expect("kind")).expect("known kind");
            m.edges.push((
                r["from"].as_str().expect("from").to_string(),
                r["to"].as_str().expect("to").to_string(),
                kind,
            ));
        }
        m
    }

    fn id(&self, name: &str) -> String {
        self.ids
            .get(name)
            .unwrap_or_else(|| panic!("no CI named {name} in the export"))
            .clone()
    }

    fn ids(&self, names: &[&str]) -> Vec<String> {
        names.iter().map(|n| self.id(n)).collect()
    }

    fn name<'a>(&'a self, id: &'a str) -> &'a str {
        self.names.get(id).map(String::as_str).unwrap_or(id)
    }

    /// The relationships as (from name, kind, to name), for comparing with the estate.
    fn named_edges(&self) -> BTreeSet<(String, RelKind, String)> {
        self.edges
            .iter()
            .map(|(f, t, k)| (self.name(f).to_string(), *k, self.name(t).to_string()))
            .collect()
    }

    fn has_edge(&self, from: &str, to: &str, kind: RelKind) -> bool {
        self.edges
            .iter()
            .any(|(f, t, k)| f == from && t == to && *k == kind)
    }

    fn linked(&self, a: &str, b: &str) -> bool {
        self.edges
            .iter()
            .any(|(f, t, _)| (f == a && t == b) || (f == b && t == a))
    }

    fn reference(&self, core: &[String], failed: &[String]) -> BTreeMap<String, State> {
        reference::impact(&self.nodes, &self.edges, core, failed)
    }
}

/// The effective core set of the index (`GET /api/v1/graph`).
fn core_of(api: &Api) -> Vec<String> {
    let g = api.get("/api/v1/graph");
    g["core"]
        .as_array()
        .expect("core")
        .iter()
        .map(|c| c.as_str().expect("core id").to_string())
        .collect()
}

fn rows(report: &Value) -> &Vec<Value> {
    report["affected"].as_array().expect("affected")
}

/// (state, cause) of a CI in an impact report; `None` when unaffected.
fn state_of(report: &Value, id: &str) -> Option<(String, String)> {
    rows(report).iter().find(|r| r["id"] == id).map(|r| {
        (
            r["state"].as_str().unwrap_or_default().to_string(),
            r["cause"].as_str().unwrap_or_default().to_string(),
        )
    })
}

/// Asks the server what failing `failed` (ids) does and compares it with the reference over
/// the stored model: every CI's state, the counts, the business services, and each row's
/// path (from the failed set to the CI, each step a stored relationship that justifies the
/// cause). Returns the server's report.
fn compare_with_reference(api: &Api, m: &Model, core: &[String], failed: &[String]) -> Value {
    let report = api.ok("POST", "/api/v1/impact", Some(&json!({ "cis": failed })));
    let failed_names: Vec<&str> = failed.iter().map(|f| m.name(f)).collect();
    let want: BTreeMap<String, &str> = m
        .reference(core, failed)
        .into_iter()
        .map(|(k, s)| (k, s.as_str()))
        .collect();
    let got: BTreeMap<String, &str> = rows(&report)
        .iter()
        .map(|r| {
            (
                r["id"].as_str().expect("id").to_string(),
                r["state"].as_str().expect("state"),
            )
        })
        .collect();
    assert_eq!(
        got.len(),
        rows(&report).len(),
        "failing {failed_names:?}: a CI listed twice"
    );
    if got != want {
        let ids: BTreeSet<&String> = got.keys().chain(want.keys()).collect();
        let diff: Vec<String> = ids
            .into_iter()
            .filter(|id| got.get(*id) != want.get(*id))
            .map(|id| {
                format!(
                    "  {}: server {:?}, reference {:?}",
                    m.name(id),
                    got.get(id),
                    want.get(id)
                )
            })
            .collect();
        panic!(
            "failing {failed_names:?}: the server and the reference differ on {} CIs:\n{}",
            diff.len(),
            diff.join("\n")
        );
    }
    let count = |s: &str| want.values().filter(|v| **v == s).count();
    assert_eq!(
        report["down"],
        json!(count("down")),
        "failing {failed_names:?}: down count"
    );
    assert_eq!(
        report["degraded"],
        json!(count("degraded")),
        "failing {failed_names:?}: degraded count"
    );
    assert_eq!(
        report["at_risk"],
        json!(count("at_risk")),
        "failing {failed_names:?}: at-risk count"
    );
    assert_eq!(report["truncated"], json!(false));
    let mut sorted = failed.to_vec();
    sorted.sort();
    sorted.dedup();
    assert_eq!(report["failed"], json!(sorted), "failed set echoed as ids");

    let bs_got: BTreeMap<&str, &str> = report["business_services"]
        .as_array()
        .expect("business_services")
        .iter()
        .map(|r| {
            (
                r["id"].as_str().expect("id"),
                r["state"].as_str().expect("state"),
            )
        })
        .collect();
    let bs_want: BTreeMap<&str, &str> = want
        .iter()
        .filter(|(id, _)| m.classes.get(*id).map(String::as_str) == Some("business_service"))
        .map(|(id, s)| (id.as_str(), *s))
        .collect();
    assert_eq!(
        bs_got, bs_want,
        "failing {failed_names:?}: business services"
    );

    for r in rows(&report) {
        check_path(m, failed, &failed_names, r);
    }
    report
}

/// A row's path starts in the failed set and ends at the CI, one hop per depth; `via` is the
/// hop before; each hop is a stored relationship of the kind the cause names.
fn check_path(m: &Model, failed: &[String], failed_names: &[&str], r: &Value) {
    let id = r["id"].as_str().expect("id");
    let what = format!("failing {failed_names:?}, row of {}: {r}", m.name(id));
    let path: Vec<&str> = r["path"]
        .as_array()
        .expect("path")
        .iter()
        .map(|p| p.as_str().expect("path id"))
        .collect();
    let depth = r["depth"].as_u64().expect("depth") as usize;
    assert_eq!(path.len(), depth + 1, "{what}: path length is depth + 1");
    assert!(
        failed.iter().any(|f| f == path[0]),
        "{what}: path starts outside the failed set"
    );
    assert_eq!(
        path.last().copied(),
        Some(id),
        "{what}: path ends at the CI"
    );
    let cause = r["cause"].as_str().expect("cause");
    if depth == 0 {
        assert_eq!(cause, "failed", "{what}");
        assert!(r["via"].is_null(), "{what}");
        return;
    }
    assert_eq!(
        r["via"],
        json!(path[depth - 1]),
        "{what}: via is the hop before"
    );
    for w in path.windows(2) {
        assert!(
            m.linked(w[0], w[1]),
            "{what}: {} and {} are not related in storage",
            m.name(w[0]),
            m.name(w[1])
        );
    }
    let via = path[depth - 1];
    let justified = match cause {
        "cut_off" | "lost_link" => {
            m.has_edge(id, via, RelKind::ConnectedTo) || m.has_edge(via, id, RelKind::ConnectedTo)
        }
        "redundancy" | "member_of" => m.has_edge(via, id, RelKind::MemberOf),
        kind => {
            let k = RelKind::parse(kind).unwrap_or_else(|| panic!("{what}: unknown cause"));
            k.is_dependency() && m.has_edge(id, via, k)
        }
    };
    assert!(
        justified,
        "{what}: no stored relationship justifies {cause}"
    );
}

/// A small deterministic generator (xorshift64*), so random failure sets are the same every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }
}

fn assert_state(report: &Value, m: &Model, name: &str, want: Option<(&str, Option<&str>)>) {
    let got = state_of(report, &m.id(name));
    let failed: Vec<&str> = report["failed"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter_map(Value::as_str)
                .map(|id| m.name(id))
                .collect()
        })
        .unwrap_or_default();
    match (want, &got) {
        (None, None) => {}
        (Some((state, cause)), Some((s, c))) if state == s && cause.is_none_or(|x| x == c) => {}
        _ => panic!("failing {failed:?}: {name} is {got:?}, expected {want:?}"),
    }
}

// ---- tests -----------------------------------------------------------------------------------

#[test]
fn a_synthetic_data_centre_matches_the_brute_force_reference() {
    let server = Server::start().expect("server");
    let api = Api::new(&server);
    let (estate, m) = import_data_centre(&api);

    // What the server stores is what was imported.
    let want_edges: BTreeSet<(String, RelKind, String)> = estate.rels.iter().cloned().collect();
    assert_eq!(m.named_edges(), want_edges, "stored relationships");
    assert_eq!(m.nodes.len(), estate.cis.len(), "stored CIs");
    for c in &estate.cis {
        let attrs = m
            .nodes
            .iter()
            .find(|(k, _)| *k == m.id(&c.name))
            .map(|(_, a)| a.clone());
        assert_eq!(
            attrs,
            Some(NodeAttrs {
                business_service: c.class == "business_service",
                min_up: c.min_up,
                core: c.core,
            }),
            "attributes of {}",
            c.name
        );
    }
    let core = core_of(&api);
    let mut declared = m.ids(&["core-1", "core-2"]);
    declared.sort();
    assert_eq!(core, declared, "the effective core is the declared one");
    let graph = api.get("/api/v1/graph");
    assert_eq!(graph["edges"], json!(estate.rels.len()), "{graph}");
    // Every CI but the orphan has a relationship.
    assert_eq!(graph["nodes"], json!(estate.cis.len() - 1), "{graph}");

    let check = |names: &[&str]| compare_with_reference(&api, &m, &core, &m.ids(names));

    // One member of the web cluster (2 of 3 needed) down: the cluster and the shop are
    // degraded, not down; a second one takes both down.
    let r = check(&["web-1"]);
    assert_state(&r, &m, "web-cluster", Some(("degraded", None)));
    assert_state(&r, &m, "bs-shop", Some(("degraded", Some("depends_on"))));
    assert_state(&r, &m, "web-2", None);
    let r = check(&["web-1", "web-2"]);
    assert_state(&r, &m, "web-cluster", Some(("down", Some("redundancy"))));
    assert_state(&r, &m, "bs-shop", Some(("down", Some("depends_on"))));
    assert_state(&r, &m, "web-3", None);
    // One of the database pair (1 of 2 needed): the pair, the web tier above it and both
    // business services are degraded; both: everything above is down.
    let r = check(&["db-1"]);
    assert_state(&r, &m, "db-pair", Some(("degraded", None)));
    assert_state(&r, &m, "bs-payments", Some(("degraded", None)));
    assert_state(&r, &m, "web-cluster", Some(("degraded", None)));
    assert_state(&r, &m, "bs-shop", Some(("degraded", None)));
    let r = check(&["db-1", "db-2"]);
    for name in [
        "db-pair",
        "web-1",
        "web-2",
        "web-3",
        "web-cluster",
        "bs-shop",
        "bs-payments",
    ] {
        assert_state(&r, &m, name, Some(("down", None)));
    }
    // A dual-homed hypervisor survives one ToR switch (a lost link: at risk), not both. At
    // risk does not spread: its VMs are untouched, no business service is hit, and the
    // services above it count it instead.
    let r = check(&["tor-r1a"]);
    assert_state(&r, &m, "hv-r1-1", Some(("at_risk", Some("lost_link"))));
    assert_state(&r, &m, "vm-r1-1-1", None);
    assert_state(&r, &m, "tor-r1b", None);
    assert_eq!(r["business_services"], json!([]), "no outage: {r}");
    let exposed = r["services_at_risk"].as_array().expect("services_at_risk");
    assert!(!exposed.is_empty(), "{r}");
    for s in exposed {
        assert_eq!(s["state"], "up", "{s}");
        assert!(s["at_risk_below"].as_u64() >= Some(1), "{s}");
        assert!(
            s["name"].as_str().is_some_and(|n| n.starts_with("bs-")),
            "{s}"
        );
    }
    let r = check(&["tor-r1b"]);
    assert_state(&r, &m, "hv-r1-1", Some(("at_risk", Some("lost_link"))));
    let r = check(&["tor-r1a", "tor-r1b"]);
    assert_state(&r, &m, "hv-r1-1", Some(("down", Some("cut_off"))));
    assert_state(&r, &m, "vm-r1-1-1", Some(("down", Some("hosted_on"))));
    assert_state(&r, &m, "hv-r2-1", None);
    // A single-homed one does not survive its ToR.
    let r = check(&["tor-r2a"]);
    assert_state(&r, &m, "hv-r2-4", Some(("down", Some("cut_off"))));
    assert_state(&r, &m, "hv-r2-3", Some(("at_risk", Some("lost_link"))));
    // A PDU takes down what it powers; a rack's ToR on it too, which cuts the rack's
    // single-homed hypervisor off.
    let r = check(&["pdu-r2a"]);
    assert_state(&r, &m, "tor-r2a", Some(("down", Some("powered_by"))));
    assert_state(&r, &m, "hv-r2-1", Some(("down", Some("powered_by"))));
    assert_state(&r, &m, "hv-r2-4", Some(("down", Some("cut_off"))));
    assert_state(&r, &m, "hv-r2-2", Some(("at_risk", Some("lost_link"))));
    // A horizon of one hop: the same rows as without it, up to that depth.
    let r = check(&["tor-r1a", "tor-r1b"]);
    let both = m.ids(&["tor-r1a", "tor-r1b"]);
    let near = api.ok(
        "POST",
        "/api/v1/impact",
        Some(&json!({"cis": both, "max_depth": 1})),
    );
    let within = |report: &Value, depth: u64| -> BTreeMap<String, String> {
        rows(report)
            .iter()
            .filter(|r| r["depth"].as_u64().expect("depth") <= depth)
            .map(|r| (r["id"].to_string(), r["state"].to_string()))
            .collect()
    };
    assert_eq!(within(&near, u64::MAX).len(), rows(&near).len());
    assert_eq!(within(&near, 1), within(&r, 1), "max_depth 1: {near}");
    assert!(within(&r, u64::MAX).len() > within(&near, 1).len());
    // Both cores: the whole network is cut off, and every business service is down.
    let r = check(&["core-1", "core-2"]);
    for name in ["agg-1", "tor-r8b", "hv-r5-3", "san-2"] {
        assert_state(&r, &m, name, Some(("down", Some("cut_off"))));
    }
    assert_eq!(
        r["business_services"].as_array().map(Vec::len),
        Some(8),
        "{}",
        r["business_services"]
    );
    // A failed CI without relationships is down alone, and counted.
    let r = check(&[ORPHAN]);
    assert_eq!(
        (r["down"].clone(), r["degraded"].clone()),
        (json!(1), json!(0))
    );
    check(&[ORPHAN, "core-1", "core-2"]);
    check(&[ORPHAN, "web-1", "web-2"]);

    // Every CI alone.
    for c in &estate.cis {
        check(&[&c.name]);
    }
    // Redundant pairs and whole tiers.
    for r in 1..=RACKS {
        check(&[&format!("tor-r{r}a"), &format!("tor-r{r}b")]);
        check(&[&format!("pdu-r{r}a"), &format!("pdu-r{r}b")]);
    }
    for pair in [
        ["agg-1", "agg-2"],
        ["san-1", "san-2"],
        ["pdu-core-a", "pdu-core-b"],
        ["agg-1", "core-2"],
        ["web-1", "db-1"],
        ["tor-r3a", "pdu-r3b"],
    ] {
        check(&pair);
    }
    // Random sets, the same every run.
    let mut rng = Rng(0x5eed_cafe_f00d_0001);
    for _ in 0..80 {
        let n = 1 + rng.below(6);
        let names: Vec<&str> = (0..n)
            .map(|_| estate.cis[rng.below(estate.cis.len())].name.as_str())
            .collect();
        check(&names);
    }
}

#[test]
fn impact_exports_and_the_cli_print_the_same_answer_as_json() {
    let server = Server::start().expect("server");
    let api = Api::new(&server);
    let (_, m) = import_data_centre(&api);
    let tor = m.id("tor-r2a");
    let report = api.ok("POST", "/api/v1/impact", Some(&json!({"cis": ["tor-r2a"]})));
    let affected = rows(&report);
    assert!(affected.len() > 10, "{report}");

    // CSV: one row per affected CI, the same fields.
    let (status, csv_text) = api.send(
        "POST",
        "/api/v1/impact",
        Some((
            "application/json",
            json!({"cis": ["tor-r2a"], "format": "csv"})
                .to_string()
                .into_bytes(),
        )),
    );
    assert_eq!(status, 200, "{csv_text}");
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let headers = reader.headers().expect("csv header").clone();
    assert_eq!(
        headers.iter().collect::<Vec<_>>(),
        [
            "id", "name", "class", "state", "cause", "depth", "via", "path"
        ]
    );
    let csv_rows: Vec<csv::StringRecord> = reader
        .records()
        .collect::<Result<_, _>>()
        .expect("csv rows");
    assert_eq!(
        csv_rows.len(),
        affected.len(),
        "one CSV row per affected CI"
    );
    for (row, json_row) in csv_rows.iter().zip(affected) {
        let path: Vec<&str> = json_row["path"]
            .as_array()
            .expect("path")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let want = [
            json_row["id"].as_str().unwrap_or_default().to_string(),
            json_row["name"].as_str().unwrap_or_default().to_string(),
            json_row["class"].as_str().unwrap_or_default().to_string(),
            json_row["state"].as_str().unwrap_or_default().to_string(),
            json_row["cause"].as_str().unwrap_or_default().to_string(),
            json_row["depth"].to_string(),
            json_row["via"].as_str().unwrap_or_default().to_string(),
            path.join(" > "),
        ];
        assert_eq!(
            row.iter().collect::<Vec<_>>(),
            want,
            "CSV row of {json_row}"
        );
    }

    // DOT: a digraph naming every affected CI, an arrow per propagation step.
    let (status, dot) = api.send(
        "POST",
        "/api/v1/impact",
        Some((
            "application/json",
            json!({"cis": [tor], "format": "dot"})
                .to_string()
                .into_bytes(),
        )),
    );
    assert_eq!(status, 200, "{dot}");
    assert!(dot.starts_with("digraph "), "{dot}");
    assert!(dot.trim_end().ends_with('}'), "{dot}");
    for r in affected {
        let id = r["id"].as_str().expect("id");
        let name = r["name"].as_str().expect("name");
        let node = dot
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("\"{id}\" [")))
            .unwrap_or_else(|| panic!("no DOT node for {name}:\n{dot}"));
        assert!(node.contains(name), "{node}");
        if let Some(via) = r["via"].as_str() {
            let arrow = format!("\"{via}\" -> \"{id}\"");
            assert!(dot.contains(&arrow), "no DOT edge {arrow}");
        }
    }
    let arrows = dot.lines().filter(|l| l.contains(" -> ")).count();
    assert_eq!(
        arrows,
        affected.iter().filter(|r| !r["via"].is_null()).count()
    );

    // The per-CI endpoint answers the same.
    let (status, csv_ci) = api.send("GET", &format!("/api/v1/cis/{tor}/impact?format=csv"), None);
    assert_eq!(status, 200);
    assert_eq!(csv_ci, csv_text, "GET /cis/{{id}}/impact?format=csv");

    // The CLI, by name, with --config, and with --url/--ca.
    let out = cli(&server, &["impact", "tor-r2a", "--format", "csv"]);
    assert!(
        out.status.success(),
        "cmdb-server impact: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), csv_text);
    let out = Command::new(bin("cmdb-server"))
        .args(["impact", "tor-r2a", "--format", "json", "--url"])
        .arg(server.url())
        .arg("--ca")
        .arg(&server.init.ca_cert)
        .env("CMDB_TOKEN", &server.init.admin_token)
        .output()
        .expect("run cmdb-server");
    assert!(
        out.status.success(),
        "cmdb-server impact --url: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cli_json: Value = serde_json::from_slice(&out.stdout).expect("CLI JSON");
    let strip = |v: &Value| {
        let mut v = v.clone();
        v["elapsed_ms"] = Value::Null;
        v
    };
    assert_eq!(strip(&cli_json), strip(&report));
    // The CLI pages as the API does: the second CI onwards, two at a time.
    let out = cli(
        &server,
        &["impact", "tor-r2a", "--offset", "1", "--limit", "2"],
    );
    assert!(
        out.status.success(),
        "cmdb-server impact --offset --limit: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page: Value = serde_json::from_slice(&out.stdout).expect("CLI JSON page");
    let whole = report["affected"].as_array().expect("affected");
    assert!(whole.len() >= 3, "{report}");
    assert_eq!(page["affected"].as_array().expect("page"), &whole[1..3]);
    assert_eq!(page["offset"], 1);
    assert_eq!(page["next_offset"], 3);
    // An unknown CI: the CLI fails with the server's reason.
    let out = cli(&server, &["impact", "no-such-switch", "--format", "csv"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no-such-switch") && err.contains("400"),
        "{err}"
    );
}

/// An impact report without what depends on timing or on the index's internal numbering,
/// which a rebuild changes: rows of one depth come in node-id order, and where several CIs
/// justify a state equally (a hypervisor cut off by losing both its switches) the one
/// reached first is `via`. So: no time, rows sorted by CI id, no `via` and `path` (they are
/// checked against storage separately).
fn stable(report: &Value) -> Value {
    let mut v = report.clone();
    v["elapsed_ms"] = Value::Null;
    for list in ["affected", "business_services"] {
        if let Some(rows) = v[list].as_array_mut() {
            rows.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
            for r in rows {
                r["via"] = Value::Null;
                r["path"] = Value::Null;
            }
        }
    }
    v
}

/// `GET /api/v1/graph/check` is consistent, and so says `cmdb-server graph-check`.
fn assert_consistent(api: &Api, server: &Server, when: &str) {
    let check = api.get("/api/v1/graph/check");
    assert_eq!(check["consistent"], json!(true), "{when}: {check}");
    assert_eq!(
        check["storage_edges"], check["index_edges"],
        "{when}: {check}"
    );
    let out = cli(server, &["graph-check"]);
    assert!(
        out.status.success(),
        "{when}: cmdb-server graph-check: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn restarting_the_server_rebuilds_the_same_index() {
    let mut server = Server::start().expect("server");
    let api = Api::new(&server);
    let (_, m) = import_data_centre(&api);

    // Manual edits on top of the import: a new application and business service with their
    // relationships, a relationship and an application deleted, the web cluster's quorum
    // raised, a CI created and deleted again.
    let created = api.ok(
        "POST",
        "/api/v1/cis",
        Some(&json!({"class": "application", "name": "billing-api", "owner": "billing"})),
    );
    let billing = created["id"].as_str().expect("id").to_string();
    let created = api.ok(
        "POST",
        "/api/v1/cis",
        Some(&json!({"class": "business_service", "name": "bs-billing"})),
    );
    let bs_billing = created["id"].as_str().expect("id").to_string();
    for (from, kind, to) in [
        (billing.as_str(), "runs_on", m.id("vm-r3-2-1")),
        (billing.as_str(), "depends_on", m.id("db-pair")),
        (bs_billing.as_str(), "depends_on", billing.clone()),
    ] {
        api.ok(
            "POST",
            "/api/v1/relationships",
            Some(&json!({"from": from, "kind": kind, "to": to})),
        );
    }
    let app10 = m.id("app-10");
    let rels = api.get(&format!("/api/v1/cis/{app10}/relationships"));
    let runs_on = rels
        .as_array()
        .expect("relationships")
        .iter()
        .find(|r| r["kind"] == "runs_on" && r["from"] == app10)
        .expect("app-10 runs_on")["key"]
        .as_str()
        .expect("key")
        .to_string();
    let (status, _) = api.call("DELETE", &format!("/api/v1/relationships/{runs_on}"), None);
    assert_eq!(status, 204);
    let (status, _) = api.call("DELETE", &format!("/api/v1/cis/{}", m.id("app-20")), None);
    assert_eq!(status, 204);
    api.ok(
        "PATCH",
        &format!("/api/v1/cis/{}", m.id("web-cluster")),
        Some(&json!({"min_up": 3})),
    );
    let temp = api.ok(
        "POST",
        "/api/v1/cis",
        Some(&json!({"class": "pdu", "name": "pdu-temporary"})),
    )["id"]
        .as_str()
        .expect("id")
        .to_string();
    api.ok(
        "POST",
        "/api/v1/relationships",
        Some(&json!({"from": m.id("hv-r4-1"), "kind": "powered_by", "to": temp})),
    );
    let (status, _) = api.call("DELETE", &format!("/api/v1/cis/{temp}"), None);
    assert_eq!(status, 204);

    // The edited index still answers as the reference over what is stored.
    let m = Model::load(&api);
    let core = core_of(&api);
    let sets: Vec<Vec<String>> = [
        vec!["web-1"],
        vec!["tor-r3a", "tor-r3b"],
        vec!["san-2"],
        vec!["db-1", "pdu-r5a"],
        vec!["core-1"],
        vec!["hv-r4-1"],
        vec!["vm-r3-2-1"],
    ]
    .iter()
    .map(|names| m.ids(names))
    .collect();
    let mut before = Vec::new();
    for failed in &sets {
        before.push(stable(&compare_with_reference(&api, &m, &core, failed)));
    }
    // min_up 3 of 3: one web server down is the cluster down.
    assert_state(
        &before[0],
        &m,
        "web-cluster",
        Some(("down", Some("redundancy"))),
    );
    assert_state(
        &before[6],
        &m,
        "bs-billing",
        Some(("down", Some("depends_on"))),
    );
    assert_state(
        &before[5],
        &m,
        "vm-r4-1-1",
        Some(("down", Some("hosted_on"))),
    );
    assert_consistent(&api, &server, "before the restart");
    let graph = api.get("/api/v1/graph");
    let export = api.get("/api/v1/export?format=json");

    server.stop().expect("stop");
    server.resume().expect("resume");
    let api = Api::new(&server);

    assert_consistent(&api, &server, "after the restart");
    // The same index: nodes, edges and core. Its size may only shrink: the running index
    // carries an overlay of the writes since its last compaction, a rebuilt one has none.
    let mut graph_after = api.get("/api/v1/graph");
    let memory = |g: &Value| g["memory_bytes"].as_u64().expect("memory_bytes");
    assert!(
        memory(&graph_after) <= memory(&graph),
        "a rebuilt index is larger: {graph_after} after, {graph} before"
    );
    graph_after["memory_bytes"] = graph["memory_bytes"].clone();
    assert_eq!(graph_after, graph, "GET /api/v1/graph");
    assert_eq!(api.get("/api/v1/export?format=json"), export, "JSON export");
    let m_after = Model::load(&api);
    assert_eq!(m_after.named_edges(), m.named_edges());
    let core_after = core_of(&api);
    assert_eq!(core_after, core);
    for (failed, want) in sets.iter().zip(&before) {
        let got = stable(&compare_with_reference(&api, &m_after, &core_after, failed));
        let names: Vec<&str> = failed.iter().map(|f| m.name(f)).collect();
        assert_eq!(&got, want, "impact of {names:?} after the restart");
    }
}

/// A fixture root for the agent: a small host with one TCP listener whose owner it cannot
/// see, so discovery makes a `tcp/8080` service that `runs_on` it (a discovered relationship).
fn listener_host_root(dir: &Path) {
    let w = |p: &str, s: &str| {
        let path = dir.join(p);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, s).expect("write fixture");
    };
    w("proc/sys/kernel/hostname", "import-test-host\n");
    w("proc/sys/kernel/osrelease", "6.1.0-26-amd64\n");
    w("etc/machine-id", "1f2e3d4c5b6a79889786a5b4c3d2e1f0\n");
    w(
        "etc/os-release",
        "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n",
    );
    w(
        "sys/class/dmi/id/product_uuid",
        "4c4c4544-0044-3510-8052-b4c04f4e5399\n",
    );
    w(
        "proc/meminfo",
        "MemTotal:       16318412 kB\nMemFree:         1234567 kB\n",
    );
    w(
        "proc/net/tcp",
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0\n",
    );
}

fn import(api: &Api, query: &str, bundle: &Value) -> (u16, Value) {
    api.call("POST", &format!("/api/v1/import{query}"), Some(bundle))
}

fn len(v: &Value) -> usize {
    v.as_array().map_or(usize::MAX, Vec::len)
}

#[test]
fn import_dry_runs_report_what_a_run_does_bad_bundles_write_nothing_and_csv_round_trips() {
    let server = Server::start().expect("server");
    let api = Api::new(&server);
    let estate = Estate::data_centre();
    let bundle = estate.bundle();
    let empty = api.get("/api/v1/export?format=json");

    // A dry run reports and writes nothing; the real run then does what it reported.
    let (status, dry) = import(&api, "?dry_run=true", &bundle);
    assert_eq!(status, 200, "{dry}");
    assert_eq!(dry["dry_run"], json!(true));
    assert_eq!(len(&dry["cis_created"]), estate.cis.len(), "{dry}");
    assert_eq!(len(&dry["relationships_created"]), estate.rels.len());
    assert_eq!(
        api.get("/api/v1/export?format=json"),
        empty,
        "a dry run wrote"
    );
    assert_eq!(api.get("/api/v1/graph")["edges"], json!(0));
    let (status, real) = import(&api, "?dry_run=false", &bundle);
    assert_eq!(status, 200, "{real}");
    assert_eq!(real["dry_run"], json!(false));
    assert_eq!(real["cis_created"], dry["cis_created"]);
    // Labels name CI ids, and a dry run's new CIs have ids that are never written: compare
    // the kinds, in order.
    let kinds = |r: &Value| -> Vec<String> {
        r["relationships_created"]
            .as_array()
            .expect("created")
            .iter()
            .map(|l| {
                // "<from> -<kind>-> <to>"
                let l = l.as_str().expect("label");
                l.split(' ').nth(1).unwrap_or_default().to_string()
            })
            .collect()
    };
    assert_eq!(kinds(&real), kinds(&dry));
    for k in ["cis_updated", "relationships_updated"] {
        assert_eq!(len(&real[k]), 0, "{k}: {real}");
    }
    let m = Model::load(&api);
    assert_eq!(m.named_edges().len(), estate.rels.len());

    // The same bundle again: nothing changes.
    let stored = api.get("/api/v1/export?format=json");
    let (status, again) = import(&api, "", &bundle);
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        (
            len(&again["cis_created"]),
            len(&again["cis_updated"]),
            again["cis_unchanged"].clone(),
            len(&again["relationships_created"]),
            len(&again["relationships_updated"]),
            again["relationships_unchanged"].clone(),
        ),
        (
            0,
            0,
            json!(estate.cis.len()),
            0,
            0,
            json!(estate.rels.len())
        ),
        "{again}"
    );
    assert_eq!(api.get("/api/v1/export?format=json"), stored);

    // A change of quorum and of a note: the dry run and the run report the same updates.
    let mut edited = bundle.clone();
    let cis = edited["cis"].as_array_mut().expect("cis");
    let web = cis
        .iter_mut()
        .find(|c| c["name"] == "web-cluster")
        .expect("web-cluster");
    web["min_up"] = json!(3);
    edited["relationships"][0]["note"] = json!("uplink pair, cabled 2024");
    let (_, dry) = import(&api, "?dry_run=true", &edited);
    let (status, real) = import(&api, "", &edited);
    assert_eq!(status, 200, "{real}");
    assert_eq!(real["cis_updated"], json!([m.id("web-cluster")]));
    assert_eq!(len(&real["relationships_updated"]), 1, "{real}");
    for k in [
        "cis_created",
        "cis_updated",
        "cis_unchanged",
        "relationships_created",
        "relationships_updated",
        "relationships_unchanged",
    ] {
        assert_eq!(real[k], dry[k], "{k}: dry run {dry}, run {real}");
    }
    let after = Model::load(&api);
    let web_attrs = after
        .nodes
        .iter()
        .find(|(k, _)| *k == m.id("web-cluster"))
        .map(|(_, a)| a.min_up);
    assert_eq!(web_attrs, Some(Some(3)));
    assert_eq!(api.get("/api/v1/graph/check")["consistent"], json!(true));

    // One bad row refuses the whole bundle, naming the row; nothing is written.
    let stored = api.get("/api/v1/export?format=json");
    let graph = api.get("/api/v1/graph");
    let new_app = json!({"class": "application", "name": "new-app"});
    let new_rel = json!({"from": "application/new-app", "kind": "runs_on", "to": "vm/vm-r1-1-1"});
    let bad_bundles = [
        (
            json!({"cis": [new_app], "relationships": [new_rel, {"from": "application/new-app", "kind": "feeds", "to": "application/app-1"}]}),
            ["relationships[1].kind", "feeds"],
        ),
        (
            json!({"cis": [new_app], "relationships": [new_rel, {"from": "application/new-app", "kind": "depends_on", "to": "application/no-such-app"}]}),
            ["relationships[1].to", "no-such-app"],
        ),
        (
            json!({"cis": [new_app, {"class": "redundancy_group", "name": "bad-group", "min_up": 0}], "relationships": [new_rel]}),
            ["cis[1].min_up", "at least 1"],
        ),
    ];
    for (bad, words) in &bad_bundles {
        for query in ["", "?dry_run=true"] {
            let (status, err) = import(&api, query, bad);
            assert_eq!(status, 400, "{bad}: {err}");
            let text = err["error"].as_str().unwrap_or_default();
            for w in words {
                assert!(text.contains(w), "{w:?} not in {text:?}");
            }
        }
    }
    assert_eq!(
        api.get("/api/v1/export?format=json"),
        stored,
        "a refused import wrote"
    );
    assert_eq!(api.get("/api/v1/graph"), graph);

    // A discovered relationship: an agent's host with a listener makes a service that
    // runs_on it.
    let root = tempfile::tempdir().expect("root");
    listener_host_root(root.path());
    let agent = Agent::new(root.path(), 300).expect("agent");
    agent.enroll(&server).expect("enroll");
    agent.run_once().expect("run once");
    let discovered = api.get("/api/v1/relationships?source=discovered");
    assert_eq!(discovered["total"], json!(1), "{discovered}");
    assert_eq!(discovered["items"][0]["kind"], json!("runs_on"));

    // CSV round trip: relationships (the discovered row skipped) and manual CIs.
    let stored = api.get("/api/v1/export?format=json");
    let (status, rel_csv) = api.send("GET", "/api/v1/export?format=csv&what=relationships", None);
    assert_eq!(status, 200, "{rel_csv}");
    assert_eq!(
        rel_csv.lines().count(),
        1 + estate.rels.len() + 1,
        "{rel_csv}"
    );
    let (status, text) = api.send(
        "POST",
        "/api/v1/import?what=relationships",
        Some(("text/csv", rel_csv.into_bytes())),
    );
    assert_eq!(status, 200, "{text}");
    let report: Value = serde_json::from_str(&text).expect("report");
    assert_eq!(
        report["relationships_unchanged"],
        json!(estate.rels.len()),
        "{report}"
    );
    assert_eq!(report["relationships_skipped"], json!(1), "{report}");
    assert_eq!(len(&report["relationships_created"]), 0, "{report}");
    assert_eq!(len(&report["relationships_updated"]), 0, "{report}");
    let (status, ci_csv) = api.send("GET", "/api/v1/export?format=csv&what=cis", None);
    assert_eq!(status, 200, "{ci_csv}");
    let (status, text) = api.send(
        "POST",
        "/api/v1/import?what=cis",
        Some(("text/csv", ci_csv.into_bytes())),
    );
    assert_eq!(status, 200, "{text}");
    let report: Value = serde_json::from_str(&text).expect("report");
    assert_eq!(report["cis_unchanged"], json!(estate.cis.len()), "{report}");
    assert_eq!(len(&report["cis_created"]), 0, "{report}");
    assert_eq!(len(&report["cis_updated"]), 0, "{report}");
    assert_eq!(
        api.get("/api/v1/export?format=json"),
        stored,
        "a round trip wrote"
    );
}

fn change(api: &Api, title: &str, cis: &[String], start: &str, end: &str) -> Value {
    let (status, v) = api.call(
        "POST",
        "/api/v1/changes",
        Some(&json!({"title": title, "cis": cis, "start": start, "end": end})),
    );
    assert_eq!(status, 201, "{title}: {v}");
    v
}

fn conflict_ids(change: &Value) -> Vec<&str> {
    change["conflicts"]
        .as_array()
        .expect("conflicts")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect()
}

/// CIs a change touches or affects.
fn touched(change: &Value) -> BTreeSet<String> {
    let cis = change["cis"].as_array().expect("cis").iter();
    let affected = rows(&change["impact"]).iter().map(|r| &r["id"]);
    cis.chain(affected)
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

#[test]
fn changes_in_overlapping_windows_on_related_cis_conflict() {
    let server = Server::start().expect("server");
    let api = Api::new(&server);
    let (_, m) = import_data_centre(&api);
    let tor = m.id("tor-r1a");
    let hv = m.id("hv-r1-1");

    let a = change(
        &api,
        "replace tor-r1a",
        &["tor-r1a".to_string()],
        "2031-03-01T10:00:00Z",
        "2031-03-01T12:00:00Z",
    );
    assert_eq!(a["cis"], json!([tor]));
    assert!(conflict_ids(&a).is_empty(), "{a}");
    // The hypervisor is under the switch (it loses a link: at risk): same window, a conflict.
    let b = change(
        &api,
        "patch hv-r1-1",
        std::slice::from_ref(&hv),
        "2031-03-01T11:00:00+00:00",
        "2031-03-01T13:00:00Z",
    );
    assert_eq!(conflict_ids(&b), [a["id"].as_str().expect("id")], "{b}");
    let shared: BTreeSet<String> = b["conflicts"][0]["shared"]
        .as_array()
        .expect("shared")
        .iter()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect();
    assert!(shared.contains(&hv), "{b}");
    let both: BTreeSet<String> = touched(&a).intersection(&touched(&b)).cloned().collect();
    assert_eq!(
        shared, both,
        "shared CIs are those both changes touch or affect"
    );
    assert_eq!(b["conflicts"][0]["title"], json!("replace tor-r1a"));
    // The same switch again right after B's window: windows that only touch do not overlap.
    let c = change(
        &api,
        "reboot tor-r1a",
        std::slice::from_ref(&tor),
        "2031-03-01T13:00:00Z",
        "2031-03-01T14:00:00Z",
    );
    assert!(conflict_ids(&c).is_empty(), "{c}");
    // An unrelated CI in an overlapping window: no conflict.
    let d = change(
        &api,
        "move the spare",
        &[m.id(ORPHAN)],
        "2031-03-01T10:30:00Z",
        "2031-03-01T11:30:00Z",
    );
    assert!(conflict_ids(&d).is_empty(), "{d}");

    // The stored impact is what was analysed then, even after the estate changes: make the
    // hypervisor single-homed, so failing the switch now takes it down.

    let rels = api.get(&format!("/api/v1/cis/{hv}/relationships"));
    let link = rels
        .as_array()
        .expect("relationships")
        .iter()
        .find(|r| r["kind"] == "connected_to" && r["to"] == m.id("tor-r1b"))
        .expect("link to tor-r1b")["key"]
        .as_str()
        .expect("key")
        .to_string();
    let (status, _) = api.call("DELETE", &format!("/api/v1/relationships/{link}"), None);
    assert_eq!(status, 204);
    let now = api.ok("POST", "/api/v1/impact", Some(&json!({"cis": [tor]})));
    assert_eq!(state_of(&now, &hv).map(|s| s.0).as_deref(), Some("down"));
    let a_id = a["id"].as_str().expect("id");
    let stored = api.get(&format!("/api/v1/changes/{a_id}"));
    assert_eq!(stored["impact"], a["impact"], "the stored impact");
    assert_eq!(
        state_of(&stored["impact"], &hv).map(|s| s.0).as_deref(),
        Some("at_risk")
    );
    // Its conflicts as of now: B, recorded later.
    assert_eq!(conflict_ids(&stored), [b["id"].as_str().expect("id")]);
    for k in ["title", "cis", "start", "end", "created_at"] {
        assert_eq!(stored[k], a[k], "{k}");
    }

    // The list: latest window first, with the number of affected CIs.
    let list = api.get("/api/v1/changes");
    let titles: Vec<&str> = list
        .as_array()
        .expect("changes")
        .iter()
        .filter_map(|c| c["title"].as_str())
        .collect();
    assert_eq!(
        titles,
        [
            "reboot tor-r1a",
            "patch hv-r1-1",
            "move the spare",
            "replace tor-r1a"
        ]
    );
    let listed_a = list
        .as_array()
        .expect("changes")
        .iter()
        .find(|c| c["id"] == a["id"])
        .expect("A listed");
    assert_eq!(listed_a["affected"], json!(rows(&a["impact"]).len()));
    // A window that ends before it starts is refused.
    let err = api.refused(
        400,
        "POST",
        "/api/v1/changes",
        Some(&json!({"title": "backwards", "cis": [tor], "start": "2031-03-01T12:00:00Z", "end": "2031-03-01T10:00:00Z"})),
    );
    assert!(err.contains("end"), "{err}");
}

fn millis_now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A moment strictly after the previous write and strictly before the next (history times
/// are in milliseconds).
fn instant_between() -> String {
    std::thread::sleep(Duration::from_millis(20));
    let t = millis_now();
    std::thread::sleep(Duration::from_millis(20));
    t
}

fn relationship_rows(api: &Api, ci: &str, query: &str) -> Vec<Value> {
    api.get(&format!("/api/v1/cis/{ci}/history{query}"))
        .as_array()
        .expect("history")
        .iter()
        .filter(|h| h["attribute"] == "relationship")
        .cloned()
        .collect()
}

fn diff_entry(api: &Api, ci: &str, from: &str, to: &str, attribute: &str) -> Option<Value> {
    let diff = api.get(&format!("/api/v1/cis/{ci}/diff?from={from}&to={to}"));
    diff["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["attribute"] == attribute)
        .cloned()
}

#[test]
fn a_manual_relationship_created_then_deleted_is_history_on_both_ends_and_in_the_diff() {
    let server = Server::start().expect("server");
    let api = Api::new(&server);
    let mut ids = Vec::new();
    for (class, name) in [("application", "orders"), ("database", "orders-db")] {
        let v = api.ok(
            "POST",
            "/api/v1/cis",
            Some(&json!({"class": class, "name": name})),
        );
        ids.push(v["id"].as_str().expect("id").to_string());
    }
    let (app, db) = (&ids[0], &ids[1]);

    let t0 = instant_between();
    let rel = api.ok(
        "POST",
        "/api/v1/relationships",
        Some(&json!({"from": app, "kind": "depends_on", "to": db, "note": "orders schema"})),
    );
    let rel_id = rel["key"].as_str().expect("key").to_string();
    assert_eq!(
        (
            rel["from"].clone(),
            rel["to"].clone(),
            rel["source"].clone()
        ),
        (json!(app), json!(db), json!("manual"))
    );
    assert_eq!(api.get(&format!("/api/v1/relationships/{rel_id}")), rel);
    let t1 = instant_between();
    let (status, _) = api.call("DELETE", &format!("/api/v1/relationships/{rel_id}"), None);
    assert_eq!(status, 204);
    let t2 = instant_between();
    let (status, _) = api.call("GET", &format!("/api/v1/relationships/{rel_id}"), None);
    assert_eq!(status, 404);

    let attribute = format!("relationship:{rel_id}");
    for ci in [app, db] {
        let h = relationship_rows(&api, ci, "");
        assert_eq!(h.len(), 2, "history of {ci}: {h:?}");
        assert!(h[0]["old"].is_null(), "{}", h[0]);
        assert_eq!(h[0]["new"]["rel"], json!(rel_id));
        assert_eq!(h[0]["new"]["kind"], json!("depends_on"));
        assert_eq!(h[0]["new"]["from"], json!(app));
        assert_eq!(h[0]["new"]["to"], json!(db));
        assert_eq!(h[0]["new"]["source"], json!("manual"));
        assert_eq!(h[1]["old"]["rel"], json!(rel_id));
        assert!(h[1]["new"].is_null(), "{}", h[1]);
        assert!(h[0]["at"].as_str() <= h[1]["at"].as_str());
        // The window from t1 holds only the deletion.
        let later = relationship_rows(&api, ci, &format!("?from={t1}"));
        assert_eq!(later.len(), 1, "{later:?}");
        assert!(later[0]["new"].is_null());

        // Before and after the creation: the edge appears.
        let e = diff_entry(&api, ci, &t0, &t1, &attribute)
            .unwrap_or_else(|| panic!("no {attribute} in the diff of {ci} from {t0} to {t1}"));
        assert!(e["before"].is_null(), "{e}");
        assert_eq!(e["after"]["rel"], json!(rel_id), "{e}");
        assert_eq!(e["changes"], json!(1));
        // After the creation to after the deletion: it goes.
        let e = diff_entry(&api, ci, &t1, &t2, &attribute).expect("deletion in the diff");
        assert_eq!(e["before"]["rel"], json!(rel_id), "{e}");
        assert!(e["after"].is_null(), "{e}");
        // Across both: it came and went, so no difference.
        assert_eq!(diff_entry(&api, ci, &t0, &t2, &attribute), None);
    }

    // Deleting a manual CI deletes its relationships: the other end's history says so.
    let rel = api.ok(
        "POST",
        "/api/v1/relationships",
        Some(&json!({"from": app, "kind": "depends_on", "to": db})),
    );
    let rel_id = rel["key"].as_str().expect("key");
    let (status, _) = api.call("DELETE", &format!("/api/v1/cis/{db}"), None);
    assert_eq!(status, 204);
    let h = relationship_rows(&api, app, "");
    assert_eq!(h.len(), 4, "{h:?}");
    assert_eq!(h[3]["old"]["rel"], json!(rel_id), "{}", h[3]);
    assert!(h[3]["new"].is_null(), "{}", h[3]);
    let (status, _) = api.call("GET", &format!("/api/v1/relationships/{rel_id}"), None);
    assert_eq!(status, 404);
    assert_eq!(
        api.get(&format!("/api/v1/cis/{app}/relationships")),
        json!([])
    );
    assert_eq!(api.get("/api/v1/graph/check")["consistent"], json!(true));
}

#[test]
fn bad_impact_and_relationship_requests_are_refused_with_the_reason() {
    let server = Server::start().expect("server");
    let api = Api::new(&server);
    let mut ids = Vec::new();
    for (class, name) in [
        ("application", "twin"),
        ("database", "twin"),
        ("application", "solo"),
    ] {
        let v = api.ok(
            "POST",
            "/api/v1/cis",
            Some(&json!({"class": class, "name": name})),
        );
        ids.push(v["id"].as_str().expect("id").to_string());
    }

    let err = api.refused(
        400,
        "POST",
        "/api/v1/impact",
        Some(&json!({"cis": ["solo", "no-such-ci"]})),
    );
    assert!(
        err.contains("no-such-ci") && err.contains("cis[1]"),
        "{err}"
    );
    let err = api.refused(
        400,
        "POST",
        "/api/v1/impact",
        Some(&json!({"cis": ["twin"]})),
    );
    assert!(
        err.contains("twin") && err.contains(&ids[0]) && err.contains(&ids[1]),
        "{err}"
    );
    api.refused(400, "POST", "/api/v1/impact", Some(&json!({"cis": []})));
    api.refused(
        400,
        "POST",
        "/api/v1/impact",
        Some(&json!({"cis": ["solo"], "format": "pdf"})),
    );
    let r = api.ok("POST", "/api/v1/impact", Some(&json!({"cis": ["solo"]})));
    assert_eq!(
        (r["down"].clone(), len(&r["affected"])),
        (json!(1), 1),
        "{r}"
    );
    api.refused(
        404,
        "GET",
        "/api/v1/cis/0123456789abcdef0123456789abcdef/impact",
        None,
    );

    let rel = |kind: &str, from: &str, to: &str| json!({"from": from, "kind": kind, "to": to});
    let err = api.refused(
        400,
        "POST",
        "/api/v1/relationships",
        Some(&rel("feeds", &ids[0], &ids[2])),
    );
    assert!(err.contains("feeds") && err.contains("kind"), "{err}");
    let err = api.refused(
        400,
        "POST",
        "/api/v1/relationships",
        Some(&rel("depends_on", &ids[0], &ids[0])),
    );
    assert!(err.contains("itself"), "{err}");
    let err = api.refused(
        400,
        "POST",
        "/api/v1/relationships",
        Some(&rel(
            "depends_on",
            &ids[0],
            "0123456789abcdef0123456789abcdef",
        )),
    );
    assert!(err.contains("to"), "{err}");
    let err = api.refused(
        400,
        "POST",
        "/api/v1/cis",
        Some(&json!({"class": "host", "name": "fake"})),
    );
    assert!(err.contains("discovery"), "{err}");
    let err = api.refused(
        400,
        "POST",
        "/api/v1/cis",
        Some(&json!({"class": "redundancy_group", "name": "g", "min_up": 0})),
    );
    assert!(err.contains("min_up"), "{err}");

    // A viewer may ask, not write.
    let stored = api.get("/api/v1/export?format=json");
    let (_, viewer_token) = server
        .create_token("viewer", "impact reader")
        .expect("token");
    let viewer = Api::with_token(&server, &viewer_token);
    viewer.ok("POST", "/api/v1/impact", Some(&json!({"cis": ["solo"]})));
    viewer.get(&format!("/api/v1/cis/{}/dependencies", ids[2]));
    viewer.refused(
        403,
        "POST",
        "/api/v1/cis",
        Some(&json!({"class": "application", "name": "sneaky"})),
    );
    viewer.refused(
        403,
        "POST",
        "/api/v1/relationships",
        Some(&rel("depends_on", &ids[0], &ids[2])),
    );
    viewer.refused(
        403,
        "POST",
        "/api/v1/import",
        Some(&json!({"cis": [{"class": "application", "name": "sneaky"}]})),
    );
    viewer.refused(
        403,
        "PATCH",
        &format!("/api/v1/cis/{}", ids[2]),
        Some(&json!({"owner": "me"})),
    );
    viewer.refused(403, "DELETE", &format!("/api/v1/cis/{}", ids[2]), None);
    viewer.refused(
        403,
        "POST",
        "/api/v1/changes",
        Some(&json!({"title": "t", "cis": ["solo"], "start": "2031-01-01T00:00:00Z", "end": "2031-01-01T01:00:00Z"})),
    );
    viewer.refused(403, "GET", "/api/v1/graph/check", None);
    assert_eq!(
        api.get("/api/v1/export?format=json"),
        stored,
        "a refused request wrote"
    );
}

#[test]
fn a_json_export_imports_back_unchanged() {
    let server = Server::start().expect("server");
    let api = Api::new(&server);
    let (estate, m) = import_data_centre(&api);
    api.ok(
        "PATCH",
        &format!("/api/v1/cis/{}", m.id("bs-shop")),
        Some(&json!({"owner": "e-commerce", "description": "the web shop", "attributes": {"tier": 1}})),
    );
    // The export documents that its output imports back as it is.
    let export = api.get("/api/v1/export?format=json");
    for query in ["?dry_run=true", ""] {
        let (status, report) = import(&api, query, &export);
        assert_eq!(status, 200, "importing the JSON export{query}: {report}");
        assert_eq!(report["cis_unchanged"], json!(estate.cis.len()), "{report}");
        assert_eq!(
            report["relationships_unchanged"],
            json!(estate.rels.len()),
            "{report}"
        );
        for k in [
            "cis_created",
            "cis_updated",
            "relationships_created",
            "relationships_updated",
        ] {
            assert_eq!(len(&report[k]), 0, "{k}: {report}");
        }
    }
    assert_eq!(api.get("/api/v1/export?format=json"), export);
}

#[test]
fn posting_the_same_manual_relationship_twice_keeps_one_edge() {
    let server = Server::start().expect("server");
    let api = Api::new(&server);
    let mut ids = Vec::new();
    for (class, name) in [("application", "checkout"), ("database", "checkout-db")] {
        let v = api.ok(
            "POST",
            "/api/v1/cis",
            Some(&json!({"class": class, "name": name})),
        );
        ids.push(v["id"].as_str().expect("id").to_string());
    }
    let body = json!({"from": ids[0], "kind": "depends_on", "to": ids[1]});
    let first = api.ok("POST", "/api/v1/relationships", Some(&body));
    // Refused, or answered with the same edge: either way one edge, as an import of the same
    // triple (an upsert by from, kind and to) would leave it.
    let (status, second) = api.call("POST", "/api/v1/relationships", Some(&body));
    assert!(
        status >= 400 || second["key"] == first["key"],
        "{status} {second}"
    );
    let rels = api.get(&format!("/api/v1/cis/{}/relationships", ids[0]));
    assert_eq!(
        len(&rels),
        1,
        "one depends_on from checkout to checkout-db: {rels}"
    );
    // And the CSV export still imports back.
    let (_, csv_text) = api.send("GET", "/api/v1/export?format=csv&what=relationships", None);
    let (status, text) = api.send(
        "POST",
        "/api/v1/import?what=relationships&dry_run=true",
        Some(("text/csv", csv_text.into_bytes())),
    );
    assert_eq!(status, 200, "{text}");
}
