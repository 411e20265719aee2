//! Metadata of the `connected_to` network, computed lazily from the index.
//!
//! Reachability questions ("is this switch still connected to a core?") only concern the
//! `connected_to` edges, so after any change to them (or to the declared core set) the index drops
//! this metadata and the next query rebuilds it in one O(nodes + links) pass: an undirected,
//! deduplicated adjacency array of the network, its components, the effective core set (declared
//! or the default centre, see the crate documentation) and every network CI's distance to the
//! nearest core in the intact network, which steers the reachability search of impact analysis
//! towards the core.
//!
//! The metadata is built from a plain list of links ([`NetMeta::from_links`]): `index.rs` feeds
//! it the index's `connected_to` triples (and, while numbering a bulk load, the raw rows), so this
//! module does not depend on the index.

use std::collections::VecDeque;

use crate::{NONE, NodeId};

/// Network metadata for the ids below `n`; ids created later have no network edges (adding one
/// resets the metadata).
pub(crate) struct NetMeta {
    n: usize,
    off: Vec<u32>,
    adj: Vec<NodeId>,
    /// Component id per node; `NONE` off the network.
    comp: Vec<u32>,
    /// One bit per node: on the network. Impact asks this for every CI it marks, so it is a
    /// bitset that stays in cache rather than a read of `comp`.
    net_bits: Vec<u64>,
    /// Hops to the nearest core in the intact network; `NONE` off the network.
    pub(crate) dist: Vec<u32>,
    /// The effective core set, ascending.
    pub(crate) cores: Vec<NodeId>,
}

/// Calls its argument once per `connected_to` triple (source, target).
pub(crate) type Links<'a> = &'a dyn Fn(&mut dyn FnMut(NodeId, NodeId));

impl NetMeta {
    /// The metadata of the network on ids `0..n` given by `links`, with `key` for the tie rule
    /// and the declared core CIs (ascending).
    pub(crate) fn from_links<'k>(
        n: usize,
        links: Links<'_>,
        key: &dyn Fn(NodeId) -> &'k str,
        declared: &[NodeId],
    ) -> NetMeta {
        // Undirected adjacency: count, fill, then sort and deduplicate each group (a link may be
        // recorded in both directions).
        let mut deg = vec![0u32; n + 1];
        links(&mut |s, d| {
            deg[s as usize + 1] += 1;
            deg[d as usize + 1] += 1;
        });
        for i in 0..n {
            deg[i + 1] += deg[i];
        }
        let mut fill: Vec<u32> = deg[..n].to_vec();
        let mut raw = vec![0 as NodeId; deg[n] as usize];
        links(&mut |s, d| {
            raw[fill[s as usize] as usize] = d;
            fill[s as usize] += 1;
            raw[fill[d as usize] as usize] = s;
            fill[d as usize] += 1;
        });
        drop(fill);
        let mut off = Vec::with_capacity(n + 1);
        off.push(0u32);
        let mut adj = Vec::with_capacity(raw.len());
        for i in 0..n {
            let group = &mut raw[deg[i] as usize..deg[i + 1] as usize];
            group.sort_unstable();
            let mut last = NONE;
            for &x in group.iter() {
                if x != last {
                    adj.push(x);
                    last = x;
                }
            }
            off.push(adj.len() as u32);
        }
        drop(raw);
        drop(deg);

        let mut meta = NetMeta {
            n,
            off,
            adj,
            comp: vec![NONE; n],
            net_bits: vec![0; n.div_ceil(64)],
            dist: vec![NONE; n],
            cores: Vec::new(),
        };

        // Ties in the default-core sweeps go by key, not id: ids depend on the order the index
        // was loaded and written in, and a restart must not move the core.
        let mut by_key: Vec<NodeId> = (0..n as NodeId)
            .filter(|&s| !meta.neighbours(s).is_empty())
            .collect();
        by_key.sort_unstable_by(|&a, &b| key(a).cmp(key(b)));
        let mut rank = vec![NONE; n];
        for (r, &s) in by_key.iter().enumerate() {
            rank[s as usize] = r as u32;
        }

        // Components, each discovered from its smallest key.
        let mut order: Vec<NodeId> = Vec::new();
        let mut comp_start: Vec<usize> = Vec::new();
        for &s in &by_key {
            if meta.comp[s as usize] != NONE {
                continue;
            }
            let c = comp_start.len() as u32;
            comp_start.push(order.len());
            meta.comp[s as usize] = c;
            order.push(s);
            let mut i = order.len() - 1;
            while i < order.len() {
                let x = order[i];
                i += 1;
                for i in meta.off[x as usize] as usize..meta.off[x as usize + 1] as usize {
                    let y = meta.adj[i] as usize;
                    if meta.comp[y] == NONE {
                        meta.comp[y] = c;
                        order.push(y as NodeId);
                    }
                }
            }
        }
        comp_start.push(order.len());
        for &x in &order {
            meta.net_bits[x as usize >> 6] |= 1 << (x & 63);
        }

        let mut declared_in = vec![false; comp_start.len() - 1];
        for &id in declared {
            meta.cores.push(id);
            let c = meta.comp[id as usize];
            if c != NONE {
                declared_in[c as usize] = true;
            }
        }
        let mut du = vec![NONE; n];
        let mut dv = vec![NONE; n];
        let mut queue = VecDeque::new();
        for (c, declared) in declared_in.iter().enumerate() {
            if *declared {
                continue;
            }
            let members = &order[comp_start[c]..comp_start[c + 1]];
            meta.default_core(members, &rank, &mut du, &mut dv, &mut queue);
        }
        meta.cores.sort_unstable();
        meta.cores.dedup();

        // Distance to the nearest core: one multi-source breadth-first search.
        queue.clear();
        for &c in &meta.cores {
            if meta.is_net(c) {
                meta.dist[c as usize] = 0;
                queue.push_back(c);
            }
        }
        while let Some(x) = queue.pop_front() {
            let d = meta.dist[x as usize] + 1;
            for i in meta.off[x as usize] as usize..meta.off[x as usize + 1] as usize {
                let y = meta.adj[i] as usize;
                if meta.dist[y] == NONE {
                    meta.dist[y] = d;
                    queue.push_back(y as NodeId);
                }
            }
        }
        meta
    }

    /// Appends the centre of one component (given with its smallest key first) to `cores`.
    fn default_core(
        &mut self,
        members: &[NodeId],
        rank: &[u32],
        du: &mut [u32],
        dv: &mut [u32],
        queue: &mut VecDeque<NodeId>,
    ) {
        let Some(&start) = members.first() else {
            return;
        };
        let u = self.sweep(start, rank, du, queue);
        for &m in members {
            du[m as usize] = NONE;
        }
        let v = self.sweep(u, rank, du, queue);
        let diameter = du[v as usize];
        self.sweep(v, rank, dv, queue);
        for &m in members {
            let (a, b) = (du[m as usize], dv[m as usize]);
            if a + b == diameter && a.abs_diff(b) <= 1 {
                self.cores.push(m);
            }
            du[m as usize] = NONE;
            dv[m as usize] = NONE;
        }
    }

    /// Breadth-first distances from `start` into `dist`; returns the farthest node, the one with
    /// the smallest key (lowest `rank`) among ties.
    fn sweep(
        &self,
        start: NodeId,
        rank: &[u32],
        dist: &mut [u32],
        queue: &mut VecDeque<NodeId>,
    ) -> NodeId {
        queue.clear();
        dist[start as usize] = 0;
        queue.push_back(start);
        let mut far = (0u32, start);
        while let Some(x) = queue.pop_front() {
            let d = dist[x as usize];
            if d > far.0 || (d == far.0 && rank[x as usize] < rank[far.1 as usize]) {
                far = (d, x);
            }
            for &y in self.neighbours(x) {
                if dist[y as usize] == NONE {
                    dist[y as usize] = d + 1;
                    queue.push_back(y);
                }
            }
        }
        far.1
    }

    /// `connected_to` neighbours of `n` (both directions, deduplicated).
    #[inline]
    pub(crate) fn neighbours(&self, n: NodeId) -> &[NodeId] {
        let i = n as usize;
        if i < self.n {
            &self.adj[self.off[i] as usize..self.off[i + 1] as usize]
        } else {
            &[]
        }
    }

    /// True when `n` has at least one `connected_to` edge.
    #[inline]
    pub(crate) fn is_net(&self, n: NodeId) -> bool {
        self.net_bits
            .get(n as usize >> 6)
            .is_some_and(|w| (w >> (n & 63)) & 1 != 0)
    }

    /// Intact distance of a network node to the nearest core.
    #[inline]
    pub(crate) fn dist(&self, n: NodeId) -> u32 {
        self.dist.get(n as usize).copied().unwrap_or(NONE)
    }

    pub(crate) fn memory_bytes(&self) -> usize {
        (self.off.capacity()
            + self.adj.capacity()
            + self.comp.capacity()
            + self.dist.capacity()
            + self.cores.capacity())
            * 4
            + self.net_bits.capacity() * 8
    }
}

#[cfg(test)]
mod tests {
    use crate::{GraphIndex, NodeAttrs, RelKind};

    fn net(links: &[(&str, &str)]) -> GraphIndex {
        GraphIndex::build(
            [],
            links
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string(), RelKind::ConnectedTo)),
        )
    }

    fn core_keys(g: &GraphIndex) -> Vec<String> {
        let mut k: Vec<String> = g
            .core_nodes()
            .iter()
            .map(|&n| g.key(n).to_string())
            .collect();
        k.sort();
        k
    }

    #[test]
    fn default_core_of_a_ring_of_four_is_its_two_middle_nodes() {
        let g = net(&[("a", "b"), ("b", "c"), ("c", "d"), ("d", "a")]);
        // From a (smallest key) the farthest is c; from c it is a; the middle is b and d.
        assert_eq!(core_keys(&g), ["b", "d"]);
    }

    #[test]
    fn default_core_of_a_path_is_its_middle() {
        assert_eq!(core_keys(&net(&[("a", "b"), ("b", "c")])), ["b"]);
        assert_eq!(
            core_keys(&net(&[("a", "b"), ("b", "c"), ("c", "d")])),
            ["b", "c"]
        );
        assert_eq!(core_keys(&net(&[("a", "b")])), ["a", "b"]);
    }

    #[test]
    fn default_core_of_a_data_centre_is_the_core_switch_pair() {
        let mut links = vec![("core1", "core2")];
        for agg in ["agg1", "agg2", "agg3", "agg4"] {
            links.push((agg, "core1"));
            links.push((agg, "core2"));
        }
        let mut owned = Vec::new();
        for (tor, aggs) in [("tor1", ["agg1", "agg2"]), ("tor2", ["agg3", "agg4"])] {
            for agg in aggs {
                owned.push((tor.to_string(), agg.to_string()));
            }
            for h in 0..3 {
                owned.push((format!("{tor}-hv{h}"), tor.to_string()));
            }
        }
        let all: Vec<(&str, &str)> = links
            .into_iter()
            .chain(owned.iter().map(|(a, b)| (a.as_str(), b.as_str())))
            .collect();
        assert_eq!(core_keys(&net(&all)), ["core1", "core2"]);
    }

    #[test]
    fn a_declared_core_replaces_the_default_of_its_component_only() {
        let mut g = net(&[("a", "b"), ("b", "c"), ("x", "y"), ("y", "z")]);
        assert_eq!(core_keys(&g), ["b", "y"]);
        g.upsert_node(
            "a",
            NodeAttrs {
                core: true,
                ..NodeAttrs::default()
            },
        );
        assert_eq!(core_keys(&g), ["a", "y"]);
        // A declared core off the network is still reported.
        g.upsert_node(
            "lonely",
            NodeAttrs {
                core: true,
                ..NodeAttrs::default()
            },
        );
        assert_eq!(core_keys(&g), ["a", "lonely", "y"]);
    }

    #[test]
    fn the_default_core_does_not_depend_on_load_order() {
        // A ring of six: each of the three diameters has its own middle pair, so only the tie
        // rule picks one, and it must pick the same one whatever order the keys arrived in.
        let ring = [
            ("a", "b"),
            ("b", "c"),
            ("c", "d"),
            ("d", "e"),
            ("e", "f"),
            ("f", "a"),
        ];
        let want = core_keys(&net(&ring));
        let mut reversed = ring;
        reversed.reverse();
        assert_eq!(core_keys(&net(&reversed)), want);
        let mut g = GraphIndex::new();
        for (a, b) in [
            ("f", "a"),
            ("d", "e"),
            ("b", "c"),
            ("e", "f"),
            ("a", "b"),
            ("c", "d"),
        ] {
            g.add_edge(b, a, RelKind::ConnectedTo);
        }
        assert_eq!(core_keys(&g), want);
    }

    #[test]
    fn distances_are_hops_to_the_nearest_core() {
        let g = net(&[("a", "b"), ("b", "c"), ("c", "d"), ("d", "e")]);
        let m = g.meta();
        let d = |k: &str| m.dist(g.node_id(k).expect("key"));
        assert_eq!([d("a"), d("b"), d("c"), d("d"), d("e")], [2, 1, 0, 1, 2]);
    }
}
