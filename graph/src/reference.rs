//! Brute-force reference of impact analysis, written independently of the index.
//!
//! Plain vectors and maps over the edge list, a naive fixed-point iteration until nothing
//! changes, and a full reachability search from the core set in every iteration. It is slow on
//! purpose: its only job is to be obviously right, so the index and the integration tests of the
//! whole system can be compared against it. It takes the effective core set explicitly (from
//! [`crate::GraphIndex::core_nodes`], or declared by the caller) instead of re-implementing the
//! default-core heuristic.
//!
//! Test support: compiled for this crate's unit tests, and with the cargo feature `testing` for
//! other crates' tests; production builds leave it out.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::{NodeAttrs, RelKind, State};

/// States of every affected CI (up CIs are absent) when `failed` fail; see the crate
/// documentation for the rules. Keys in `failed` that name no CI are ignored.
pub fn impact(
    nodes: &[(String, NodeAttrs)],
    edges: &[(String, String, RelKind)],
    core: &[String],
    failed: &[String],
) -> BTreeMap<String, State> {
    // Index every key named by a node or an edge; self-loops name nothing.
    let mut attrs: Vec<NodeAttrs> = Vec::new();
    let mut key_ids: HashMap<String, usize> = HashMap::new();
    let mut intern = |k: &str, attrs: &mut Vec<NodeAttrs>| -> usize {
        if let Some(&i) = key_ids.get(k) {
            return i;
        }
        key_ids.insert(k.to_string(), attrs.len());
        attrs.push(NodeAttrs::default());
        attrs.len() - 1
    };
    for (k, a) in nodes {
        let i = intern(k, &mut attrs);
        attrs[i] = a.clone();
    }
    let mut triples: BTreeSet<(usize, usize, RelKind)> = BTreeSet::new();
    for (a, b, k) in edges {
        if a != b {
            let a = intern(a, &mut attrs);
            let b = intern(b, &mut attrs);
            triples.insert((a, b, *k));
        }
    }
    let n = attrs.len();
    let mut key_of = vec![String::new(); n];
    for (k, &i) in &key_ids {
        key_of[i] = k.clone();
    }

    let deps: Vec<(usize, usize)> = triples
        .iter()
        .filter(|t| t.2.is_dependency())
        .map(|t| (t.0, t.1))
        .collect();
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut links: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &(a, b, k) in &triples {
        match k {
            RelKind::MemberOf => members[b].push(a),
            RelKind::ConnectedTo => {
                links[a].push(b);
                links[b].push(a);
            }
            _ => {}
        }
    }
    let is_core: Vec<bool> = (0..n)
        .map(|i| core.iter().any(|c| *c == key_of[i]))
        .collect();
    // Intact components of the network, and which of them hold a core.
    let mut comp = vec![usize::MAX; n];
    let mut comp_has_core = Vec::new();
    for s in 0..n {
        if comp[s] != usize::MAX || links[s].is_empty() {
            continue;
        }
        let c = comp_has_core.len();
        let mut has_core = false;
        let mut stack = vec![s];
        comp[s] = c;
        while let Some(x) = stack.pop() {
            has_core |= is_core[x];
            for &y in &links[x] {
                if comp[y] == usize::MAX {
                    comp[y] = c;
                    stack.push(y);
                }
            }
        }
        comp_has_core.push(has_core);
    }
    let need = |g: usize| -> usize {
        attrs[g]
            .min_up
            .map_or(1, |m| m as usize)
            .min(members[g].len())
    };

    let mut down = vec![false; n];
    for f in failed {
        if let Some(&i) = key_ids.get(f.as_str()) {
            down[i] = true;
        }
    }
    loop {
        let mut changed = false;
        for &(a, b) in &deps {
            if down[b] && !down[a] {
                down[a] = true;
                changed = true;
            }
        }
        for g in 0..n {
            if !down[g] && members[g].iter().filter(|&&m| !down[m]).count() < need(g) {
                down[g] = true;
                changed = true;
            }
        }
        // Reachable from a core that is not down, over CIs that are not down.
        let mut reach = vec![false; n];
        let mut stack: Vec<usize> = (0..n).filter(|&i| is_core[i] && !down[i]).collect();
        for &i in &stack {
            reach[i] = true;
        }
        while let Some(x) = stack.pop() {
            for &y in &links[x] {
                if !down[y] && !reach[y] {
                    reach[y] = true;
                    stack.push(y);
                }
            }
        }
        for i in 0..n {
            if !down[i] && !links[i].is_empty() && comp_has_core[comp[i]] && !reach[i] {
                down[i] = true;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }

    let mut degraded = vec![false; n];
    loop {
        let mut changed = false;
        for i in 0..n {
            if down[i] || degraded[i] {
                continue;
            }
            let group_hit = members[i].iter().any(|&m| down[m] || degraded[m]);
            if group_hit {
                degraded[i] = true;
                changed = true;
            }
        }
        for &(a, b) in &deps {
            if degraded[b] && !down[a] && !degraded[a] {
                degraded[a] = true;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }

    (0..n)
        .filter_map(|i| {
            let state = if down[i] {
                State::Down
            } else if degraded[i] {
                State::Degraded
            } else if links[i].iter().any(|&y| down[y]) {
                State::AtRisk
            } else {
                return None;
            };
            Some((key_of[i].clone(), state))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> String {
        x.to_string()
    }

    #[test]
    fn reference_handles_each_rule() {
        let nodes = vec![(
            s("grp"),
            NodeAttrs {
                min_up: Some(1),
                ..NodeAttrs::default()
            },
        )];
        let edges = vec![
            (s("m1"), s("grp"), RelKind::MemberOf),
            (s("m2"), s("grp"), RelKind::MemberOf),
            (s("app"), s("grp"), RelKind::DependsOn),
            (s("sw"), s("core"), RelKind::ConnectedTo),
            (s("host"), s("sw"), RelKind::ConnectedTo),
            (s("m1"), s("host"), RelKind::RunsOn),
        ];
        let got = impact(&nodes, &edges, &[s("core")], &[s("sw")]);
        let want: BTreeMap<String, State> = [
            ("sw", State::Down),
            ("host", State::Down),
            ("m1", State::Down),
            ("core", State::AtRisk),
            ("grp", State::Degraded),
            ("app", State::Degraded),
        ]
        .into_iter()
        .map(|(k, v)| (s(k), v))
        .collect();
        assert_eq!(got, want);
        // Without a core in the component nothing is ever cut off.
        let got = impact(&nodes, &edges, &[], &[s("sw")]);
        assert_eq!(got.get("host"), Some(&State::AtRisk));
        assert!(impact(&nodes, &edges, &[s("core")], &[s("nope")]).is_empty());
    }
}
