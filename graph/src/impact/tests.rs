//! Unit tests of impact analysis (`impact.rs`): hand-built cases for each rule, randomised
//! graphs against the brute-force reference, horizons, and scratch reuse. The checks the tests of
//! `index.rs` and `synth.rs` share (`assert_same_impacts`, `check_against_reference`) live here
//! too.

use std::collections::BTreeMap;

use super::*;
use crate::synth::Rng;
use crate::{NodeAttrs, reference};

/// Checks that two indexes answer the same impact queries (by key) on random failed sets.
pub(crate) fn assert_same_impacts(a: &GraphIndex, b: &GraphIndex, rng: &mut Rng, queries: usize) {
    let nodes = a.nodes();
    if nodes.is_empty() {
        return;
    }
    assert_eq!(
        keys(a, &a.core_nodes()),
        keys(b, &b.core_nodes()),
        "core sets differ"
    );
    for _ in 0..queries {
        let failed: Vec<&str> = (0..1 + rng.below(3))
            .map(|_| nodes[rng.below(nodes.len())].0.as_str())
            .collect();
        // Justifications may differ (ties go by id), states and depths may not.
        let state_depth = |g: &GraphIndex| -> BTreeMap<String, (State, u32)> {
            by_key(g, &failed, None)
                .into_iter()
                .map(|(k, v)| (k, (v.0, v.3)))
                .collect()
        };
        assert_eq!(state_depth(a), state_depth(b), "failed {failed:?}");
        for g in [a, b] {
            let ids: Vec<NodeId> = failed.iter().filter_map(|k| g.node_id(k)).collect();
            assert_valid(g, &ids, &g.impact(&ids, &ImpactOptions::default()));
        }
    }
}

fn keys(g: &GraphIndex, ids: &[NodeId]) -> Vec<String> {
    let mut k: Vec<String> = ids.iter().map(|&n| g.key(n).to_string()).collect();
    k.sort();
    k
}

/// Impact as a map key → (state, cause, via key, depth).
fn by_key(
    g: &GraphIndex,
    failed: &[&str],
    max_depth: Option<u32>,
) -> BTreeMap<String, (State, &'static str, String, u32)> {
    let ids: Vec<NodeId> = failed.iter().filter_map(|k| g.node_id(k)).collect();
    let r = g.impact(&ids, &ImpactOptions { max_depth });
    r.affected()
        .iter()
        .map(|a| {
            (
                g.key(a.node).to_string(),
                (
                    a.state,
                    a.cause.as_str(),
                    a.via.map_or(String::new(), |v| g.key(v).to_string()),
                    a.depth,
                ),
            )
        })
        .collect()
}

/// Impact as a map key → state.
fn states(g: &GraphIndex, failed: &[&str], max_depth: Option<u32>) -> BTreeMap<String, State> {
    by_key(g, failed, max_depth)
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect()
}

fn expect(pairs: &[(&str, State)]) -> BTreeMap<String, State> {
    pairs.iter().map(|(k, s)| (k.to_string(), *s)).collect()
}

use State::{AtRisk as A, Degraded as G, Down as D};

fn e(a: &str, b: &str, k: RelKind) -> (String, String, RelKind) {
    (a.to_string(), b.to_string(), k)
}

fn group(key: &str, min_up: Option<u32>) -> (String, NodeAttrs) {
    (
        key.to_string(),
        NodeAttrs {
            min_up,
            ..NodeAttrs::default()
        },
    )
}

fn core(key: &str) -> (String, NodeAttrs) {
    (
        key.to_string(),
        NodeAttrs {
            core: true,
            ..NodeAttrs::default()
        },
    )
}

use RelKind::{ConnectedTo as C, DependsOn as Dep, HostedOn as H, MemberOf as M, RunsOn as R};

/// Checks every rule a justification must satisfy, and the ordering of the result.
pub(crate) fn assert_valid(g: &GraphIndex, failed: &[NodeId], r: &ImpactResult) {
    let meta = g.meta();
    let has_edge = |a: NodeId, b: NodeId, kind: u8| {
        let mut found = false;
        g.for_each_out(a, |x, k| found |= x == b && k == kind);
        found
    };
    let aff = r.affected();
    assert!(
        aff.windows(2)
            .all(|w| (w[0].depth, w[0].node) < (w[1].depth, w[1].node)),
        "sorted by (depth, node), no duplicates"
    );
    for a in aff {
        assert_eq!(r.get(a.node), Some(a));
        let path = r.path(a.node);
        assert_eq!(path.last(), Some(&a.node));
        assert!(failed.contains(&path[0]), "path starts in the failed set");
        assert_eq!(path.len() as u32, a.depth + 1);
        let Some(v) = a.via else {
            assert_eq!(a.cause, Cause::Failed);
            assert_eq!(a.depth, 0);
            assert!(failed.contains(&a.node));
            continue;
        };
        let via = r.get(v).expect("via is affected");
        assert_eq!(a.depth, via.depth + 1, "{a:?} via {via:?}");
        match a.cause {
            Cause::Failed => panic!("failed CI with a via: {a:?}"),
            Cause::Dependency(k) => {
                assert!(k.is_dependency());
                assert!(has_edge(a.node, v, k as u8), "{a:?}");
                assert_eq!(a.state, via.state, "dependency inherits the state: {a:?}");
            }
            Cause::Group { up, min_up } => {
                assert!(has_edge(v, a.node, K_MEMBER), "{a:?}");
                let members = {
                    let mut m = 0;
                    g.for_each_in(a.node, |_, k| m += u32::from(k == K_MEMBER));
                    m
                };
                let want_min = g.attrs(a.node).min_up.unwrap_or(1).min(members);
                assert_eq!(min_up, want_min);
                match a.state {
                    State::Down => assert!(up < min_up, "{a:?}"),
                    State::Degraded => assert!(up >= min_up, "{a:?}"),
                    State::AtRisk => panic!("a group is never at risk: {a:?}"),
                }
            }
            Cause::CutOff => {
                assert!(meta.neighbours(a.node).contains(&v), "{a:?}");
                assert_eq!(a.state, State::Down);
                assert_eq!(via.state, State::Down);
            }
            Cause::LostLink => {
                assert!(meta.neighbours(a.node).contains(&v), "{a:?}");
                assert_eq!(a.state, State::AtRisk);
                assert_eq!(via.state, State::Down);
            }
        }
    }
    let biz: Vec<NodeId> = aff
        .iter()
        .filter(|a| g.attrs(a.node).business_service)
        .map(|a| a.node)
        .collect();
    assert_eq!(r.business_services(), biz);
    assert_eq!(
        r.count(State::Down) + r.count(State::Degraded) + r.count(State::AtRisk),
        aff.len()
    );
    assert_eq!(
        r.services_at_risk(),
        brute_services_at_risk(g, r).as_slice()
    );
}

/// Every business service with at-risk CIs in its dependency closure, with how many, by walking
/// down from every business service of the index.
fn brute_services_at_risk(g: &GraphIndex, r: &ImpactResult) -> Vec<(NodeId, u32)> {
    let mut out = Vec::new();
    for b in 0..g.id_bound() as NodeId {
        if !g.contains(b) || !g.attrs(b).business_service {
            continue;
        }
        let mut seen = std::collections::HashSet::from([b]);
        let mut stack = vec![b];
        let mut count = 0;
        while let Some(m) = stack.pop() {
            count += u32::from(r.get(m).is_some_and(|a| a.state == State::AtRisk));
            let mut next = Vec::new();
            g.for_each_out(m, |x, k| {
                if crate::is_dep_byte(k) {
                    next.push(x);
                }
            });
            g.for_each_in(m, |x, k| {
                if k == K_MEMBER {
                    next.push(x);
                }
            });
            for x in next {
                if seen.insert(x) {
                    stack.push(x);
                }
            }
        }
        if count > 0 {
            out.push((b, count));
        }
    }
    out
}

/// Compares the index against the reference on one failed set, and validates the paths.
pub(crate) fn check_against_reference(
    g: &GraphIndex,
    nodes: &[(String, NodeAttrs)],
    edges: &[(String, String, RelKind)],
    failed: &[String],
) {
    let core: Vec<String> = g
        .core_nodes()
        .iter()
        .map(|&n| g.key(n).to_string())
        .collect();
    let want = reference::impact(nodes, edges, &core, failed);
    let ids: Vec<NodeId> = failed.iter().filter_map(|k| g.node_id(k)).collect();
    let r = g.impact(&ids, &ImpactOptions::default());
    let got: BTreeMap<String, State> = r
        .affected()
        .iter()
        .map(|a| (g.key(a.node).to_string(), a.state))
        .collect();
    assert_eq!(got, want, "failed {failed:?}");
    assert_valid(g, &ids, &r);
    // The plain search reaches at least everything impact reports.
    assert!(g.plain_bfs(&ids) >= r.affected().len());
}

#[test]
fn a_chain_fails_link_by_link() {
    let g = GraphIndex::build(
        [],
        [e("app", "svc", Dep), e("svc", "vm", R), e("vm", "hv", H)],
    );
    let r = by_key(&g, &["hv"], None);
    assert_eq!(
        r.into_iter().collect::<Vec<_>>(),
        vec![
            ("app".into(), (D, "depends_on", "svc".into(), 3)),
            ("hv".into(), (D, "failed", String::new(), 0)),
            ("svc".into(), (D, "runs_on", "vm".into(), 2)),
            ("vm".into(), (D, "hosted_on", "hv".into(), 1)),
        ]
    );
    let hv = g.node_id("hv").expect("hv");
    let app = g.node_id("app").expect("app");
    let res = g.impact(&[hv], &ImpactOptions::default());
    let path: Vec<&str> = res.path(app).iter().map(|&n| g.key(n)).collect();
    assert_eq!(path, ["hv", "vm", "svc", "app"]);
    assert!(res.path(99).is_empty());
    assert_eq!(states(&g, &["app"], None), expect(&[("app", D)]));
    assert!(states(&g, &[], None).is_empty());
}

#[test]
fn a_redundancy_pair_degrades_on_one_loss_and_fails_on_two() {
    let g = GraphIndex::build(
        [group("cluster", None)],
        [
            e("db1", "cluster", M),
            e("db2", "cluster", M),
            e("app", "cluster", Dep),
        ],
    );
    assert_eq!(
        states(&g, &["db1"], None),
        expect(&[("db1", D), ("cluster", G), ("app", G)])
    );
    assert_eq!(
        states(&g, &["db1", "db2"], None),
        expect(&[("db1", D), ("db2", D), ("cluster", D), ("app", D)])
    );
    let r = by_key(&g, &["db1", "db2"], None);
    assert_eq!(r["cluster"].1, "redundancy");
    let ids = [
        g.node_id("db1").expect("db1"),
        g.node_id("db2").expect("db2"),
    ];
    let res = g.impact(&ids, &ImpactOptions::default());
    let c = res.get(g.node_id("cluster").expect("c")).expect("affected");
    assert_eq!(c.cause, Cause::Group { up: 0, min_up: 1 });
}

#[test]
fn two_of_three_needs_two_members_up() {
    let g = GraphIndex::build(
        [group("quorum", Some(2))],
        [
            e("n1", "quorum", M),
            e("n2", "quorum", M),
            e("n3", "quorum", M),
            e("svc", "quorum", Dep),
        ],
    );
    assert_eq!(
        states(&g, &["n1"], None),
        expect(&[("n1", D), ("quorum", G), ("svc", G)])
    );
    assert_eq!(
        states(&g, &["n1", "n3"], None),
        expect(&[("n1", D), ("n3", D), ("quorum", D), ("svc", D)])
    );
    let ids: Vec<NodeId> = ["n1", "n3"].iter().filter_map(|k| g.node_id(k)).collect();
    let res = g.impact(&ids, &ImpactOptions::default());
    let q = res.get(g.node_id("quorum").expect("q")).expect("affected");
    assert_eq!(q.cause, Cause::Group { up: 1, min_up: 2 });
}

#[test]
fn min_up_is_clamped_to_the_members_and_empty_groups_never_fail() {
    let g = GraphIndex::build(
        [group("greedy", Some(5)), group("empty", Some(1))],
        [
            e("a", "greedy", M),
            e("b", "greedy", M),
            e("x", "empty", Dep),
        ],
    );
    assert!(states(&g, &[], None).is_empty());
    assert_eq!(states(&g, &["a"], None), expect(&[("a", D), ("greedy", D)]));
    assert_eq!(states(&g, &["x"], None), expect(&[("x", D)]));
}

/// Core pair, two access switches, a dual-homed host and a single-homed one.
fn small_network() -> GraphIndex {
    GraphIndex::build(
        [core("core")],
        [
            e("sw1", "core", C),
            e("sw2", "core", C),
            e("dual", "sw1", C),
            e("dual", "sw2", C),
            e("single", "sw1", C),
            e("vm", "dual", H),
            e("vm2", "single", H),
        ],
    )
}

#[test]
fn a_dual_homed_host_survives_one_switch_and_fails_with_both() {
    let g = small_network();
    let r = by_key(&g, &["sw2"], None);
    assert_eq!(r["dual"], (A, "lost_link", "sw2".into(), 1));
    assert!(!r.contains_key("vm"), "at risk does not spread");
    assert_eq!(
        r.get("core").map(|x| x.1),
        Some("lost_link"),
        "the core lost a link too"
    );
    assert_eq!(r.len(), 3);
    let r = by_key(&g, &["sw1", "sw2"], None);
    assert_eq!(r["dual"].0, D);
    assert_eq!(r["dual"].1, "cut_off");
    assert_eq!(r["vm"].0, D);
    assert_eq!(r["single"].0, D);
    assert_eq!(r["vm2"].0, D);
    assert_eq!(r["core"].0, A);
}

/// A top-of-rack pair under two dual-homed hypervisors in a cluster, VMs on the cluster, an
/// application on the VMs and a business service on the application; a second service sits on
/// a single-homed host of its own.
fn rack() -> GraphIndex {
    let biz = |k: &str| {
        (
            k.to_string(),
            NodeAttrs {
                business_service: true,
                ..NodeAttrs::default()
            },
        )
    };
    GraphIndex::build(
        [
            core("core"),
            group("cluster", Some(1)),
            biz("shop"),
            biz("mail"),
        ],
        [
            e("torA", "core", C),
            e("torB", "core", C),
            e("hv1", "torA", C),
            e("hv1", "torB", C),
            e("hv2", "torA", C),
            e("hv2", "torB", C),
            e("hv1", "cluster", M),
            e("hv2", "cluster", M),
            e("vm1", "cluster", H),
            e("vm2", "cluster", H),
            e("app", "vm1", R),
            e("app", "vm2", R),
            e("shop", "app", Dep),
            e("mx", "torA", C),
            e("mail", "mx", R),
        ],
    )
}

#[test]
fn one_tor_failing_puts_hypervisors_at_risk_and_counts_them_on_the_services_above() {
    let g = rack();
    let r = g.impact(&[g.node_id("torB").unwrap()], &ImpactOptions::default());
    let got: BTreeMap<String, State> = r
        .affected()
        .iter()
        .map(|a| (g.key(a.node).to_string(), a.state))
        .collect();
    // No outage: the hypervisors and the core lost a link each, nothing above them is touched.
    assert_eq!(
        got,
        expect(&[("torB", D), ("hv1", A), ("hv2", A), ("core", A)])
    );
    assert!(r.business_services().is_empty());
    let shop = g.node_id("shop").unwrap();
    assert_eq!(r.services_at_risk(), &[(shop, 2)]);
    // Losing the hypervisor's twin link as well is an outage: torA takes mx and mail with it.
    let r = g.impact(
        &[g.node_id("torA").unwrap(), g.node_id("torB").unwrap()],
        &ImpactOptions::default(),
    );
    assert_eq!(r.get(shop).map(|a| a.state), Some(D));
    assert_eq!(r.get(g.node_id("mail").unwrap()).map(|a| a.state), Some(D));
    assert_eq!(r.services_at_risk(), &[], "nothing is left merely at risk");
    // A hypervisor down leaves the cluster degraded (one member carries the load), and the
    // VMs, the application and the service with it.
    let r = g.impact(&[g.node_id("hv1").unwrap()], &ImpactOptions::default());
    assert_eq!(r.get(shop).map(|a| a.state), Some(G));
    assert_eq!(r.get(g.node_id("torA").unwrap()).map(|a| a.state), Some(A));
    assert_valid(&g, &[g.node_id("hv1").unwrap()], &r);
}

#[test]
fn a_cut_off_access_switch_takes_its_single_homed_hosts_down() {
    let g = small_network();
    let r = by_key(&g, &["sw1"], None);
    assert_eq!(r["single"], (D, "cut_off", "sw1".into(), 1));
    assert_eq!(r["vm2"], (D, "hosted_on", "single".into(), 2));
    assert_eq!(r["dual"], (A, "lost_link", "sw1".into(), 1));
    assert!(!r.contains_key("vm"));
    assert!(!r.contains_key("sw2"));
}

#[test]
fn a_segment_behind_a_failed_uplink_is_cut_off_hop_by_hop() {
    let g = GraphIndex::build(
        [core("core")],
        [
            e("a", "core", C),
            e("b", "a", C),
            e("c", "b", C),
            e("d", "c", C),
        ],
    );
    let r = by_key(&g, &["a"], None);
    assert_eq!(r["b"], (D, "cut_off", "a".into(), 1));
    assert_eq!(r["c"], (D, "cut_off", "b".into(), 2));
    assert_eq!(r["d"], (D, "cut_off", "c".into(), 3));
    assert_eq!(r["core"], (A, "lost_link", "a".into(), 1));
    // A horizon of 2 reports b and c only.
    let r = states(&g, &["a"], Some(2));
    assert_eq!(r, expect(&[("a", D), ("b", D), ("c", D), ("core", A)]));
}

#[test]
fn a_ring_of_four_survives_one_node() {
    let g = GraphIndex::build(
        [],
        [
            e("a", "b", C),
            e("b", "c", C),
            e("c", "d", C),
            e("d", "a", C),
        ],
    );
    // Default core: b and d.
    assert_eq!(
        keys(&g, &g.core_nodes()),
        ["b".to_string(), "d".to_string()]
    );
    assert_eq!(
        states(&g, &["a"], None),
        expect(&[("a", D), ("b", A), ("d", A)])
    );
    // Both cores down: a and c have no core left to reach.
    assert_eq!(
        states(&g, &["b", "d"], None),
        expect(&[("a", D), ("b", D), ("c", D), ("d", D)])
    );
}

#[test]
fn a_declared_core_overrides_the_default() {
    let edges = [
        e("a", "b", C),
        e("b", "c", C),
        e("c", "d", C),
        e("d", "e", C),
    ];
    let g = GraphIndex::build([], edges.clone());
    // Default core: c, the middle. Losing b cuts a off.
    assert_eq!(keys(&g, &g.core_nodes()), ["c".to_string()]);
    assert_eq!(
        states(&g, &["b"], None),
        expect(&[("a", D), ("b", D), ("c", A)])
    );
    // With a declared core at a, losing b cuts off c, d and e instead.
    let g = GraphIndex::build([core("a")], edges);
    assert_eq!(
        states(&g, &["b"], None),
        expect(&[("a", A), ("b", D), ("c", D), ("d", D), ("e", D)])
    );
}

#[test]
fn max_depth_is_a_horizon_on_chains_and_trees() {
    let g = GraphIndex::build(
        [],
        [
            e("l1", "root", Dep),
            e("r1", "root", Dep),
            e("l2", "l1", Dep),
            e("r2", "r1", Dep),
            e("l3", "l2", Dep),
        ],
    );
    let depth = |d| {
        states(&g, &["root"], Some(d))
            .into_keys()
            .collect::<Vec<_>>()
    };
    assert_eq!(depth(0), ["root"]);
    assert_eq!(depth(1), ["l1", "r1", "root"]);
    assert_eq!(depth(2), ["l1", "l2", "r1", "r2", "root"]);
    assert_eq!(depth(3).len(), 6);
    assert_eq!(depth(99).len(), 6);
}

#[test]
fn max_depth_counts_unreached_members_as_up() {
    // m2 fails at depth 2, beyond a horizon of 1: the group only sees m1 down.
    let g = GraphIndex::build(
        [group("grp", Some(1))],
        [
            e("m1", "grp", M),
            e("m2", "grp", M),
            e("m2", "x", Dep),
            e("x", "root", Dep),
            e("m1", "root", Dep),
        ],
    );
    let r = by_key(&g, &["root"], Some(2));
    assert_eq!(r["grp"].0, G, "m2 is at depth 2 and does not propagate");
    let r = by_key(&g, &["root"], None);
    assert_eq!(r["grp"], (D, "redundancy", "m2".into(), 3));
}

#[test]
fn failed_ids_that_are_not_live_are_ignored() {
    let mut g = small_network();
    let vm = g.node_id("vm").expect("vm");
    g.remove_node("vm");
    let r = g.impact(&[vm, 12345], &ImpactOptions::default());
    assert!(r.affected().is_empty());
    assert_eq!(g.plain_bfs(&[vm]), 0);
}

#[test]
fn dependencies_walk_down_the_stack_and_towards_the_core() {
    let mut g = small_network();
    g.add_edge("app", "vm", RelKind::RunsOn);
    g.add_edge("app", "grp", RelKind::DependsOn);
    g.add_edge("m1", "grp", RelKind::MemberOf);
    g.add_edge("m1", "pdu", RelKind::PoweredBy);
    let app = g.node_id("app").expect("app");
    let got: Vec<(String, String, RelKind, u32)> = g
        .dependencies(app, None)
        .iter()
        .map(|r| (g.key(r.node).into(), g.key(r.via).into(), r.kind, r.depth))
        .collect();
    let mut want = vec![
        ("vm".to_string(), "app".to_string(), RelKind::RunsOn, 1),
        ("grp".into(), "app".into(), RelKind::DependsOn, 1),
        ("dual".into(), "vm".into(), RelKind::HostedOn, 2),
        ("m1".into(), "grp".into(), RelKind::MemberOf, 2),
        ("sw1".into(), "dual".into(), RelKind::ConnectedTo, 3),
        ("sw2".into(), "dual".into(), RelKind::ConnectedTo, 3),
        ("pdu".into(), "m1".into(), RelKind::PoweredBy, 3),
        ("core".into(), "sw1".into(), RelKind::ConnectedTo, 4),
    ];
    // Sorted by (depth, node id), so compare as sets per depth.
    let norm = |v: &mut Vec<(String, String, RelKind, u32)>| {
        v.sort_by(|a, b| (a.3, &a.0).cmp(&(b.3, &b.0)));
    };
    let mut got_sorted = got.clone();
    norm(&mut got_sorted);
    norm(&mut want);
    assert_eq!(got_sorted, want);
    assert!(got.windows(2).all(|w| w[0].3 <= w[1].3));
    assert_eq!(g.dependencies(app, Some(1)).len(), 2);
    assert!(g.dependencies(NONE, None).is_empty());
}

#[test]
fn plain_bfs_floods_the_reverse_edges_and_the_network() {
    let g = small_network();
    let vm = g.node_id("vm").expect("vm");
    assert_eq!(g.plain_bfs(&[vm]), 1);
    let sw1 = g.node_id("sw1").expect("sw1");
    // The whole network plus both VMs.
    assert_eq!(g.plain_bfs(&[sw1]), 7);
}

#[test]
fn overlay_edges_take_part_in_impact() {
    let mut g = small_network();
    g.add_edge("lb", "vm", RelKind::DependsOn);
    g.add_edge("tor3", "core", RelKind::ConnectedTo);
    g.add_edge("h3", "tor3", RelKind::ConnectedTo);
    assert!(g.pending_writes() > 0);
    let r = by_key(&g, &["tor3", "sw1", "sw2"], None);
    assert_eq!(r["h3"].0, D);
    assert_eq!(r["lb"].0, D);
}

type Graph = (Vec<(String, NodeAttrs)>, Vec<(String, String, RelKind)>);

fn key_of(i: usize) -> String {
    format!("n{i:02}")
}

/// A random small graph over the keys `key_of(0..n)`, biased towards links and groups.
fn random_graph(rng: &mut Rng, n: usize) -> Graph {
    let mut nodes: Vec<(String, NodeAttrs)> = Vec::new();
    for i in 0..n {
        if rng.below(3) == 0 {
            continue;
        }
        let min_up = (rng.below(3) == 0).then(|| rng.below(4) as u32);
        nodes.push((
            key_of(i),
            NodeAttrs {
                business_service: rng.below(5) == 0,
                min_up,
                core: rng.below(10) == 0,
            },
        ));
    }
    let n_edges = rng.below(n * 3);
    let edges = (0..n_edges)
        .map(|_| {
            let kind = match rng.below(10) {
                0..=2 => RelKind::ConnectedTo,
                3..=4 => RelKind::MemberOf,
                x => RelKind::ALL[x % 6],
            };
            (key_of(rng.below(n)), key_of(rng.below(n)), kind)
        })
        .collect();
    (nodes, edges)
}

/// Random small graphs and failed sets: the index agrees with the reference on states, and
/// every justification is valid.
#[test]
fn random_graphs_agree_with_the_reference() {
    for seed in 0..600u64 {
        let mut rng = Rng::new(seed);
        let n = 3 + rng.below(if seed % 5 == 0 { 40 } else { 12 });
        let (nodes, edges) = random_graph(&mut rng, n);
        let mut g = GraphIndex::build(nodes.clone(), edges.clone());
        if seed % 3 == 0 {
            // Exercise the overlay: rebuild half of the edges through writes.
            let mut h = GraphIndex::build(nodes.clone(), edges[..edges.len() / 2].to_vec());
            for (a, b, k) in &edges[edges.len() / 2..] {
                h.add_edge(a, b, *k);
            }
            assert_eq!(h.edges(), g.edges());
            g = h;
        }
        for _ in 0..6 {
            let failed: Vec<String> = (0..rng.below(4)).map(|_| key_of(rng.below(n))).collect();
            check_against_reference(&g, &nodes, &edges, &failed);
        }
    }
}

/// A horizon reports a valid subset of the full answer, nothing deeper than itself, and the
/// full answer once it reaches the deepest CI.
#[test]
fn a_horizon_reports_a_consistent_subset() {
    for seed in 0..300u64 {
        let mut rng = Rng::new(1000 + seed);
        let n = 3 + rng.below(30);
        let (nodes, edges) = random_graph(&mut rng, n);
        let g = GraphIndex::build(nodes, edges);
        for _ in 0..4 {
            let ids: Vec<NodeId> = (0..1 + rng.below(3))
                .filter_map(|_| g.node_id(&key_of(rng.below(n))))
                .collect();
            let view = |r: &ImpactResult| -> BTreeMap<NodeId, (State, u32)> {
                r.affected()
                    .iter()
                    .map(|a| (a.node, (a.state, a.depth)))
                    .collect()
            };
            let full = view(&g.impact(&ids, &ImpactOptions::default()));
            let deepest = full.values().map(|v| v.1).max().unwrap_or(0);
            for d in 0..=deepest + 1 {
                let r = g.impact(&ids, &ImpactOptions { max_depth: Some(d) });
                assert_valid(&g, &ids, &r);
                let h = view(&r);
                assert!(h.values().all(|v| v.1 <= d), "seed {seed} depth {d}");
                assert!(
                    h.keys().all(|k| full.contains_key(k)),
                    "seed {seed} depth {d}"
                );
                if d >= deepest {
                    assert_eq!(h, full, "seed {seed} depth {d}");
                }
            }
        }
    }
}

#[test]
fn stamps_wrap_without_leaking_state() {
    let g = small_network();
    let sw = [
        g.node_id("sw1").expect("sw1"),
        g.node_id("sw2").expect("sw2"),
    ];
    let want = g.impact(&sw, &ImpactOptions::default()).affected().to_vec();
    let reach = g.plain_bfs(&sw);
    let deps = g.dependencies(g.node_id("vm").expect("vm"), None);
    g.pool.age_stamps();
    for _ in 0..3 {
        assert_eq!(g.impact(&sw, &ImpactOptions::default()).affected(), want);
        assert_eq!(g.plain_bfs(&sw), reach);
        assert_eq!(g.dependencies(g.node_id("vm").expect("vm"), None), deps);
    }
}

#[test]
fn repeated_queries_reuse_scratch_without_leaking_state() {
    let g = small_network();
    let sw = [
        g.node_id("sw1").expect("sw1"),
        g.node_id("sw2").expect("sw2"),
    ];
    let vm = g.node_id("vm").expect("vm");
    let big = g.impact(&sw, &ImpactOptions::default()).affected().to_vec();
    for _ in 0..3 {
        let small = g.impact(&[vm], &ImpactOptions::default());
        assert_eq!(small.affected().len(), 1);
        assert_eq!(g.impact(&sw, &ImpactOptions::default()).affected(), big);
    }
}
