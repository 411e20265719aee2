//! The graph index: node keys and attributes, and the adjacency arrays impact analysis walks.
//!
//! Edges live in two layers. The base is a pair of CSR arrays (forward grouped by source, reverse
//! grouped by target; each group sorted by (other end, kind) so a triple is found by binary
//! search) rebuilt in one pass by [`GraphIndex::build`] and [`GraphIndex::compact`]; an entry
//! packs the other end's id with the kind in one u32. Removing a base triple sets a tombstone bit
//! in its entry on both sides instead of moving the arrays, and re-adding it clears the bit.
//! Triples that are not in the base go to the overlay: small per-node lists behind a per-node
//! slot. When overlay triples plus tombstones pass a fraction of the base, the next write folds
//! everything into a fresh base, so the amortised cost of a write stays constant and queries
//! keep scanning mostly contiguous memory.
//!
//! `build` numbers the CIs breadth-first along the paths failure travels, starting at the
//! effective core: the order a large impact query visits them in. That one choice is worth a
//! factor of five on a million-CI estate whose rows arrive in storage order.

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

use crate::network::NetMeta;
use crate::scratch::ScratchPool;
use crate::{K_CONNECTED, K_MEMBER, NONE, NodeAttrs, NodeId, RelKind, is_dep_byte};

/// Tombstone bit of an adjacency entry's kind bits: kind tests never match a tombstone.
pub(crate) const DEAD: u8 = 0x8;
/// The kind in an adjacency entry's low bits.
const KIND_MASK: u8 = 0x7;
/// Compaction starts once the overlay and tombstones hold this many triples, or an eighth of
/// the base, whichever is larger: small enough that queries rarely chase overlay lists, large
/// enough that a burst of writes to a big estate does not rebuild it every few hundred writes.
const COMPACT_MIN: usize = 1024;

static DEFAULT_ATTRS: NodeAttrs = NodeAttrs {
    business_service: false,
    min_up: None,
    core: false,
};

/// The in-memory graph index; see the crate documentation.
pub struct GraphIndex {
    /// Key by id; empty for free ids.
    keys: Vec<Box<str>>,
    attrs: Vec<NodeAttrs>,
    live: Vec<bool>,
    /// Per node: live `member_of` triples pointing at it, and its quorum (`min_up`, default 1,
    /// clamped to that count). A group's size without scanning its reverse list, which for a
    /// popular cluster also holds every client's `depends_on`.
    groups: Vec<[u32; 2]>,
    /// One bit per node: attrs say business_service (a bitset, because every affected CI of a
    /// query is tested).
    business: Vec<u64>,
    by_key: HashMap<Box<str>, NodeId>,
    free: Vec<NodeId>,
    live_nodes: usize,
    pub(crate) base: Base,
    pub(crate) overlay: Overlay,
    /// Network metadata; reset by every write that changes the network or the declared core.
    meta: OnceLock<NetMeta>,
    pub(crate) pool: ScratchPool,
}

/// Compact adjacency arrays (CSR) of the edges present at the last build or compaction.
///
/// An entry is `other end << 4 | dead << 3 | kind`: one u32 stream per list instead of an id
/// array plus a kind array, because on a large estate a query is bound by the cache lines it
/// touches. That caps ids at 2^28.
#[derive(Default)]
pub(crate) struct Base {
    /// Ids covered (`off.len() == n + 1`).
    n: usize,
    /// Per node: start of its forward group, start of its reverse group (the next node's pair
    /// ends them), side by side so one cache line serves both.
    off: Vec<[u32; 2]>,
    fwd: Vec<u32>,
    /// Occurrences of the triple in storage; 0 when tombstoned.
    fwd_mult: Vec<u32>,
    rev: Vec<u32>,
    live: usize,
    dead: usize,
}

/// Triples added since the last compaction that are not in the base.
#[derive(Default)]
pub(crate) struct Overlay {
    /// Index into `lists` by node id; `NONE` when the node has no overlay triples.
    slot: Vec<u32>,
    lists: Vec<OvAdj>,
    free_slots: Vec<u32>,
    /// Live overlay triples.
    edges: usize,
}

/// Overlay triples of one node.
#[derive(Default)]
pub(crate) struct OvAdj {
    /// (target, kind, multiplicity).
    out: Vec<(NodeId, u8, u32)>,
    /// (source, kind).
    inc: Vec<(NodeId, u8)>,
}

/// Bits of an adjacency entry below the id.
const ENTRY_SHIFT: u32 = 4;
/// Ids stop below this (see [`Base`]).
pub(crate) const MAX_NODES: usize = 1 << (32 - ENTRY_SHIFT);

#[inline]
fn entry(other: NodeId, kind: u8) -> u32 {
    (other << ENTRY_SHIFT) | u32::from(kind & KIND_MASK)
}

#[inline]
fn sort_key(other: NodeId, kind: u8) -> u64 {
    (u64::from(other) << 8) | u64::from(kind & KIND_MASK)
}

/// Converts a count to u32, the width of every offset in the index.
fn narrow(x: usize, what: &str, max: usize) -> u32 {
    // Ids and offsets are u32 to halve the memory of the arrays: a quarter of a billion CIs or
    // four billion relationships is far beyond one server's memory anyway.
    assert!(x < max, "graph index holds at most {} {what}", max - 1);
    x as u32
}

/// A breadth-first numbering of the nodes along the edges failure travels (target to source
/// for dependencies, member to group, both ways for links): the declared `seeds` first, then
/// every node not yet reached, in input order. An impact query then walks the arrays almost in
/// order. Returns the new id of each input id.
fn locality_order(n: usize, src: &[NodeId], key: &[u64], seeds: &[NodeId]) -> Vec<NodeId> {
    let arcs = |f: &mut dyn FnMut(NodeId, NodeId)| {
        for (&s, &k) in src.iter().zip(key) {
            let d = (k >> 8) as NodeId;
            let kind = k as u8;
            if is_dep_byte(kind) {
                f(d, s);
            } else if kind == K_MEMBER {
                f(s, d);
            } else {
                f(s, d);
                f(d, s);
            }
        }
    };
    let mut off = vec![0u32; n + 1];
    arcs(&mut |a, _| off[a as usize + 1] += 1);
    for i in 0..n {
        off[i + 1] += off[i];
    }
    let mut fill: Vec<u32> = off[..n].to_vec();
    let mut adj = vec![0 as NodeId; off[n] as usize];
    arcs(&mut |a, b| {
        adj[fill[a as usize] as usize] = b;
        fill[a as usize] += 1;
    });
    drop(fill);
    let mut new_id = vec![NONE; n];
    let mut order: Vec<NodeId> = Vec::with_capacity(n);
    for s in seeds.iter().copied().chain(0..n as NodeId) {
        if new_id[s as usize] != NONE {
            continue;
        }
        new_id[s as usize] = order.len() as NodeId;
        order.push(s);
        let mut i = order.len() - 1;
        while i < order.len() {
            let x = order[i] as usize;
            i += 1;
            for &y in &adj[off[x] as usize..off[x + 1] as usize] {
                if new_id[y as usize] == NONE {
                    new_id[y as usize] = order.len() as NodeId;
                    order.push(y);
                }
            }
        }
    }
    new_id
}

impl Base {
    /// Builds the arrays from triples in any order; repeated triples are merged and their
    /// multiplicities added.
    fn from_edges(n: usize, src: &[NodeId], key: &[u64], mult: &[u32]) -> Base {
        let e = src.len();
        narrow(e, "relationships", NONE as usize);
        // Counting sort by source, then a small sort of each source's group.
        let mut start = vec![0u32; n + 1];
        for &s in src {
            start[s as usize + 1] += 1;
        }
        for i in 0..n {
            start[i + 1] += start[i];
        }
        let mut cursor: Vec<u32> = start[..n].to_vec();
        let mut tmp: Vec<(u64, u32)> = vec![(0, 0); e];
        for ((&s, &k), &m) in src.iter().zip(key).zip(mult) {
            let c = &mut cursor[s as usize];
            tmp[*c as usize] = (k, m);
            *c += 1;
        }
        drop(cursor);
        let mut b = Base {
            n,
            fwd: Vec::with_capacity(e),
            fwd_mult: Vec::with_capacity(e),
            ..Base::default()
        };
        let mut fwd_off = Vec::with_capacity(n + 1);
        fwd_off.push(0u32);
        for s in 0..n {
            let group = &mut tmp[start[s] as usize..start[s + 1] as usize];
            group.sort_unstable_by_key(|p| p.0);
            let mut i = 0;
            while i < group.len() {
                let k = group[i].0;
                let mut m = 0u32;
                while i < group.len() && group[i].0 == k {
                    m = m.saturating_add(group[i].1);
                    i += 1;
                }
                if m == 0 {
                    continue;
                }
                b.fwd.push(entry((k >> 8) as NodeId, k as u8));
                b.fwd_mult.push(m);
            }
            fwd_off.push(b.fwd.len() as u32);
        }
        drop(tmp);
        drop(start);
        b.live = b.fwd.len();
        // Scattering the forward arrays in order leaves every reverse group sorted by
        // (source, kind) without a second sort.
        let mut rstart = vec![0u32; n + 1];
        for &e in &b.fwd {
            rstart[(e >> ENTRY_SHIFT) as usize + 1] += 1;
        }
        for i in 0..n {
            rstart[i + 1] += rstart[i];
        }
        let mut cursor: Vec<u32> = rstart[..n].to_vec();
        b.rev = vec![0; b.live];
        for s in 0..n {
            for &e in &b.fwd[fwd_off[s] as usize..fwd_off[s + 1] as usize] {
                let c = &mut cursor[(e >> ENTRY_SHIFT) as usize];
                b.rev[*c as usize] = entry(s as NodeId, e as u8);
                *c += 1;
            }
        }
        b.off = fwd_off
            .into_iter()
            .zip(rstart)
            .map(|(f, r)| [f, r])
            .collect();
        b
    }

    /// Targets of the live triples of one kind (used once, at build).
    fn fwd_dst_of_kind(&self, kind: u8) -> Vec<NodeId> {
        self.fwd
            .iter()
            .filter(|&&e| e as u8 & (KIND_MASK | DEAD) == kind)
            .map(|&e| e >> ENTRY_SHIFT)
            .collect()
    }

    /// Forward group of `n`: packed entries, tombstones included.
    #[inline]
    pub(crate) fn out(&self, n: NodeId) -> &[u32] {
        let n = n as usize;
        if n < self.n {
            &self.fwd[self.off[n][0] as usize..self.off[n + 1][0] as usize]
        } else {
            &[]
        }
    }

    /// Reverse group of `n`: packed entries, tombstones included.
    #[inline]
    pub(crate) fn inc(&self, n: NodeId) -> &[u32] {
        let n = n as usize;
        if n < self.n {
            &self.rev[self.off[n][1] as usize..self.off[n + 1][1] as usize]
        } else {
            &[]
        }
    }

    /// Position of (other, kind) in one group of `list`, tombstoned or not.
    fn find(&self, list: &[u32], side: usize, n: NodeId, other: NodeId, kind: u8) -> Option<usize> {
        let n = n as usize;
        if n >= self.n {
            return None;
        }
        let (lo, hi) = (self.off[n][side] as usize, self.off[n + 1][side] as usize);
        let want = entry(other, kind);
        let mask = !u32::from(DEAD);
        let pos = lo + list[lo..hi].partition_point(|&e| e & mask < want);
        (pos < hi && list[pos] & mask == want).then_some(pos)
    }

    fn find_fwd(&self, src: NodeId, dst: NodeId, kind: u8) -> Option<usize> {
        self.find(&self.fwd, 0, src, dst, kind)
    }

    fn find_rev(&self, dst: NodeId, src: NodeId, kind: u8) -> Option<usize> {
        self.find(&self.rev, 1, dst, src, kind)
    }

    /// Sets or clears the tombstone bit of a base triple on both sides.
    fn set_dead(&mut self, i: usize, src: NodeId, dead: bool) {
        let dst = self.fwd[i] >> ENTRY_SHIFT;
        let kind = self.fwd[i] as u8 & KIND_MASK;
        let j = self.find_rev(dst, src, kind);
        let flag = u32::from(DEAD);
        if dead {
            self.fwd[i] |= flag;
            if let Some(j) = j {
                self.rev[j] |= flag;
            }
            self.live -= 1;
            self.dead += 1;
        } else {
            self.fwd[i] &= !flag;
            if let Some(j) = j {
                self.rev[j] &= !flag;
            }
            self.live += 1;
            self.dead -= 1;
        }
    }

    fn memory_bytes(&self) -> usize {
        self.off.capacity() * 8
            + (self.fwd.capacity() + self.fwd_mult.capacity() + self.rev.capacity()) * 4
    }
}

impl Overlay {
    #[inline]
    pub(crate) fn get(&self, n: NodeId) -> Option<&OvAdj> {
        if self.edges == 0 {
            return None;
        }
        match self.slot.get(n as usize) {
            Some(&s) if s != NONE => self.lists.get(s as usize),
            _ => None,
        }
    }

    fn get_mut(&mut self, n: NodeId) -> Option<&mut OvAdj> {
        match self.slot.get(n as usize) {
            Some(&s) if s != NONE => self.lists.get_mut(s as usize),
            _ => None,
        }
    }

    fn entry(&mut self, n: NodeId) -> &mut OvAdj {
        let s = self.slot[n as usize];
        let s = if s != NONE {
            s
        } else {
            let s = match self.free_slots.pop() {
                Some(s) => s,
                None => {
                    self.lists.push(OvAdj::default());
                    narrow(self.lists.len() - 1, "overlay lists", NONE as usize)
                }
            };
            self.slot[n as usize] = s;
            s
        };
        &mut self.lists[s as usize]
    }

    /// Returns the slot of `n` to the free list once it holds nothing.
    fn release_if_empty(&mut self, n: NodeId) {
        let s = self.slot[n as usize];
        if s != NONE {
            let l = &mut self.lists[s as usize];
            if l.out.is_empty() && l.inc.is_empty() {
                // Keep the capacity: the slot is likely to be reused by the next write.
                self.slot[n as usize] = NONE;
                self.free_slots.push(s);
            }
        }
    }

    fn memory_bytes(&self) -> usize {
        self.slot.capacity() * 4
            + self.free_slots.capacity() * 4
            + self.lists.capacity() * std::mem::size_of::<OvAdj>()
            + self
                .lists
                .iter()
                .map(|l| l.out.capacity() * 12 + l.inc.capacity() * 8)
                .sum::<usize>()
    }
}

impl Default for GraphIndex {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for GraphIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GraphIndex")
            .field("nodes", &self.live_nodes)
            .field("edges", &self.edge_count())
            .field("overlay_edges", &self.overlay.edges)
            .field("tombstones", &self.base.dead)
            .field("network_metadata_ready", &self.meta.get().is_some())
            .finish()
    }
}

impl GraphIndex {
    /// An empty index.
    pub fn new() -> Self {
        GraphIndex {
            keys: Vec::new(),
            attrs: Vec::new(),
            live: Vec::new(),
            groups: Vec::new(),
            business: Vec::new(),
            by_key: HashMap::new(),
            free: Vec::new(),
            live_nodes: 0,
            base: Base::default(),
            overlay: Overlay::default(),
            meta: OnceLock::new(),
            pool: ScratchPool::default(),
        }
    }

    /// Bulk load. Edges naming a key not among `nodes` create that node with default attrs.
    /// Duplicate (src, dst, kind) triples are counted (multiplicity, see [`Self::add_edge`]);
    /// self-loops are ignored. A key repeated in `nodes` keeps its last attrs.
    ///
    /// Ids are assigned breadth-first along the paths failure travels (target to source for
    /// dependencies, member to group, both ways for links), starting from the effective core
    /// (declared, or the default centre), so CIs that fail together sit together in memory and
    /// an impact query walks the arrays nearly in order whatever order storage returned the rows
    /// in (on a million-CI estate this is worth a factor of five). Later writes and compactions
    /// keep ids stable; new CIs take freed or new ids.
    pub fn build(
        nodes: impl IntoIterator<Item = (String, NodeAttrs)>,
        edges: impl IntoIterator<Item = (String, String, RelKind)>,
    ) -> Self {
        let mut b = Builder::default();
        let nodes = nodes.into_iter();
        b.g.by_key.reserve(nodes.size_hint().0);
        for (key, attrs) in nodes {
            b.node(key, attrs);
        }
        let edges = edges.into_iter();
        let (lower, _) = edges.size_hint();
        b.src.reserve(lower);
        b.key.reserve(lower);
        for (s, d, kind) in edges {
            b.edge(&s, &d, kind);
        }
        b.finish()
    }

    /// Numbers the nodes and lays the edges out (see [`Self::build`]).
    fn from_parts(mut g: GraphIndex, mut src: Vec<NodeId>, mut key: Vec<u64>) -> Self {
        let n = g.keys.len();
        // Number from the effective core (declared, or the default centre), where the biggest
        // queries start; the metadata on these provisional ids is thrown away.
        let declared: Vec<NodeId> = (0..n as NodeId)
            .filter(|&i| g.attrs[i as usize].core)
            .collect();
        let links = |f: &mut dyn FnMut(NodeId, NodeId)| {
            for (&s, &k) in src.iter().zip(&key) {
                if k as u8 == K_CONNECTED {
                    f(s, (k >> 8) as NodeId);
                }
            }
        };
        let seeds = NetMeta::from_links(n, &links, &|i| g.key(i), &declared).cores;
        let new_id = locality_order(n, &src, &key, &seeds);
        g.permute(&new_id);
        for (s, k) in src.iter_mut().zip(key.iter_mut()) {
            *s = new_id[*s as usize];
            *k = sort_key(new_id[(*k >> 8) as usize], *k as u8);
        }
        let mult = vec![1u32; src.len()];
        g.base = Base::from_edges(n, &src, &key, &mult);
        g.groups = vec![[0, 0]; n];
        for &d in &g.base.fwd_dst_of_kind(K_MEMBER) {
            g.groups[d as usize][0] += 1;
        }
        for i in 0..n as NodeId {
            g.requorum(i);
        }
        g.meta = OnceLock::new();
        g
    }

    /// Renumbers the nodes of a freshly interned index (no edges, no free ids yet).
    fn permute(&mut self, new_id: &[NodeId]) {
        let n = self.keys.len();
        let mut keys: Vec<Box<str>> = vec![Box::from(""); n];
        let mut attrs = vec![NodeAttrs::default(); n];
        for (i, (k, a)) in self.keys.drain(..).zip(self.attrs.drain(..)).enumerate() {
            let j = new_id[i] as usize;
            keys[j] = k;
            attrs[j] = a;
        }
        self.keys = keys;
        self.attrs = attrs;
        for i in 0..n as NodeId {
            self.set_business(i);
        }
        for v in self.by_key.values_mut() {
            *v = new_id[*v as usize];
        }
    }

    /// Live nodes.
    pub fn node_count(&self) -> usize {
        self.live_nodes
    }

    /// Distinct live (src, dst, kind) triples.
    pub fn edge_count(&self) -> usize {
        self.base.live + self.overlay.edges
    }

    /// The id of a live key.
    pub fn node_id(&self, key: &str) -> Option<NodeId> {
        self.by_key.get(key).copied()
    }

    /// The key of `id`; empty for an id that is not live.
    pub fn key(&self, id: NodeId) -> &str {
        self.keys.get(id as usize).map_or("", |k| k)
    }

    /// The attrs of `id`; defaults for an id that is not live.
    pub fn attrs(&self, id: NodeId) -> &NodeAttrs {
        self.attrs.get(id as usize).unwrap_or(&DEFAULT_ATTRS)
    }

    /// True when `id` names a live node.
    pub fn contains(&self, id: NodeId) -> bool {
        self.live.get(id as usize).copied().unwrap_or(false)
    }

    /// One more than the largest id ever handed out: the length of per-node arrays.
    pub fn id_bound(&self) -> usize {
        self.keys.len()
    }

    /// Inserts or updates a node; returns its id.
    pub fn upsert_node(&mut self, key: &str, attrs: NodeAttrs) -> NodeId {
        match self.by_key.get(key) {
            Some(&id) => {
                let old = &mut self.attrs[id as usize];
                if old.core != attrs.core {
                    self.meta = OnceLock::new();
                }
                *old = attrs;
                self.requorum(id);
                self.set_business(id);
                id
            }
            None => self.create(key.into(), attrs),
        }
    }

    /// Removes a node and every edge touching it. False if unknown.
    pub fn remove_node(&mut self, key: &str) -> bool {
        let Some(id) = self.node_id(key) else {
            return false;
        };
        let mut touches_network = self.attrs[id as usize].core;
        let mut out = Vec::new();
        let mut inc = Vec::new();
        self.for_each_out(id, |d, k| {
            if k & DEAD == 0 {
                out.push((d, k));
            }
        });
        self.for_each_in(id, |s, k| {
            if k & DEAD == 0 {
                inc.push((s, k));
            }
        });
        for &(d, k) in &out {
            touches_network |= k == K_CONNECTED;
            self.drop_triple(id, d, k);
        }
        for &(s, k) in &inc {
            touches_network |= k == K_CONNECTED;
            self.drop_triple(s, id, k);
        }
        if touches_network {
            self.meta = OnceLock::new();
        }
        let i = id as usize;
        self.by_key.remove(key);
        self.keys[i] = Box::from("");
        self.attrs[i] = NodeAttrs::default();
        self.set_business(id);
        self.live[i] = false;
        self.free.push(id);
        self.live_nodes -= 1;
        self.maybe_compact();
        true
    }

    /// Adds one occurrence of (src, dst, kind), creating unknown nodes with default attrs. Storage
    /// may hold several edges with the same triple (two cables between the same two switches); the
    /// index keeps the triple once with a count, so removing one of two leaves the triple in place.
    /// Returns true when the triple is new. Self-loops (src == dst) are ignored (return false).
    pub fn add_edge(&mut self, src: &str, dst: &str, kind: RelKind) -> bool {
        if src == dst {
            return false;
        }
        let s = self.intern(src);
        let d = self.intern(dst);
        let k = kind as u8;
        if let Some(i) = self.base.find_fwd(s, d, k) {
            if self.base.fwd_mult[i] > 0 {
                self.base.fwd_mult[i] = self.base.fwd_mult[i].saturating_add(1);
                return false;
            }
            self.base.fwd_mult[i] = 1;
            self.base.set_dead(i, s, false);
        } else {
            let adj = self.overlay.entry(s);
            if let Some(e) = adj.out.iter_mut().find(|e| e.0 == d && e.1 == k) {
                e.2 = e.2.saturating_add(1);
                return false;
            }
            adj.out.push((d, k, 1));
            self.overlay.entry(d).inc.push((s, k));
            self.overlay.edges += 1;
        }
        if kind == RelKind::MemberOf {
            self.groups[d as usize][0] += 1;
            self.requorum(d);
        }
        if kind == RelKind::ConnectedTo {
            self.meta = OnceLock::new();
        }
        self.maybe_compact();
        true
    }

    /// How many occurrences of (src, dst, kind) the index holds (0 when absent).
    pub fn multiplicity(&self, src: &str, dst: &str, kind: RelKind) -> u32 {
        let (Some(s), Some(d)) = (self.node_id(src), self.node_id(dst)) else {
            return 0;
        };
        let k = kind as u8;
        if let Some(i) = self.base.find_fwd(s, d, k) {
            return self.base.fwd_mult[i];
        }
        self.overlay
            .get(s)
            .and_then(|a| a.out.iter().find(|e| e.0 == d && e.1 == k))
            .map_or(0, |e| e.2)
    }

    /// Sets the occurrences of (src, dst, kind) to `n` (what storage holds for it), adding or
    /// removing as needed. Idempotent: another server's write is applied by reading storage's
    /// count for the triple, whoever made it and however often it is seen.
    pub fn set_edge_count(&mut self, src: &str, dst: &str, kind: RelKind, n: u32) {
        if src == dst {
            return;
        }
        let mut have = self.multiplicity(src, dst, kind);
        while have < n {
            self.add_edge(src, dst, kind);
            have += 1;
        }
        while have > n {
            self.remove_edge(src, dst, kind);
            have -= 1;
        }
    }

    /// Removes one occurrence; returns true when the triple disappeared. False if absent.
    pub fn remove_edge(&mut self, src: &str, dst: &str, kind: RelKind) -> bool {
        let (Some(s), Some(d)) = (self.node_id(src), self.node_id(dst)) else {
            return false;
        };
        let k = kind as u8;
        if let Some(i) = self.base.find_fwd(s, d, k) {
            match self.base.fwd_mult[i] {
                0 => return false,
                1 => {}
                m => {
                    self.base.fwd_mult[i] = m - 1;
                    return false;
                }
            }
        } else {
            match self.overlay.get_mut(s).and_then(|a| {
                a.out
                    .iter_mut()
                    .find(|e| e.0 == d && e.1 == k)
                    .map(|e| &mut e.2)
            }) {
                None => return false,
                Some(m) if *m > 1 => {
                    *m -= 1;
                    return false;
                }
                Some(_) => {}
            }
        }
        self.drop_triple(s, d, k);
        if kind == RelKind::ConnectedTo {
            self.meta = OnceLock::new();
        }
        self.maybe_compact();
        true
    }

    /// Removes a live triple whatever its multiplicity.
    fn drop_triple(&mut self, s: NodeId, d: NodeId, k: u8) {
        if let Some(i) = self.base.find_fwd(s, d, k) {
            if self.base.fwd_mult[i] > 0 {
                self.base.fwd_mult[i] = 0;
                self.base.set_dead(i, s, true);
                if k == K_MEMBER {
                    self.groups[d as usize][0] -= 1;
                    self.requorum(d);
                }
            }
            return;
        }
        let mut removed = false;
        if let Some(a) = self.overlay.get_mut(s)
            && let Some(p) = a.out.iter().position(|e| e.0 == d && e.1 == k)
        {
            a.out.swap_remove(p);
            removed = true;
        }
        if let Some(a) = self.overlay.get_mut(d)
            && let Some(p) = a.inc.iter().position(|e| e.0 == s && e.1 == k)
        {
            a.inc.swap_remove(p);
        }
        if removed {
            self.overlay.edges -= 1;
            if k == K_MEMBER {
                self.groups[d as usize][0] -= 1;
                self.requorum(d);
            }
        }
        self.overlay.release_if_empty(s);
        self.overlay.release_if_empty(d);
    }

    /// Every live triple with its multiplicity, sorted by (src key, dst key, kind): used by the
    /// consistency check against storage and by the restart test.
    pub fn edges(&self) -> Vec<(String, String, RelKind, u32)> {
        let mut out = Vec::with_capacity(self.edge_count());
        for s in 0..self.keys.len() as NodeId {
            self.for_each_out_mult(s, |d, kind, m| {
                out.push((self.key(s).to_string(), self.key(d).to_string(), kind, m));
            });
        }
        out.sort_unstable();
        out
    }

    /// Every live node with attrs, sorted by key.
    pub fn nodes(&self) -> Vec<(String, NodeAttrs)> {
        let mut out: Vec<(String, NodeAttrs)> = (0..self.keys.len())
            .filter(|&i| self.live[i])
            .map(|i| (self.keys[i].to_string(), self.attrs[i].clone()))
            .collect();
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Approximate heap bytes held by the index (arrays, keys, the key map, network metadata and
    /// the pooled query buffers).
    pub fn memory_bytes(&self) -> usize {
        // Each key is allocated twice (by id and in the map); a small allocation costs its
        // length plus the allocator's header, rounded up to 16 bytes, at least 32 (glibc).
        let key_bytes: usize = self
            .keys
            .iter()
            .filter(|k| !k.is_empty())
            .map(|k| ((k.len() + 8).div_ceil(16) * 16).max(32))
            .sum();
        // The map costs its slots plus a control byte per bucket.
        let map = self.by_key.capacity() * (std::mem::size_of::<(Box<str>, NodeId)>() + 1);
        self.keys.capacity() * std::mem::size_of::<Box<str>>()
            + 2 * key_bytes
            + map
            + self.business.capacity() * 8
            + self.attrs.capacity() * std::mem::size_of::<NodeAttrs>()
            + self.live.capacity()
            + self.groups.capacity() * 8
            + self.free.capacity() * 4
            + self.base.memory_bytes()
            + self.overlay.memory_bytes()
            + self.meta.get().map_or(0, NetMeta::memory_bytes)
            + self.pool.memory_bytes()
    }

    /// Folds pending insertions/removals into the compact arrays (also done automatically when the
    /// overlay grows past a fraction of the base).
    pub fn compact(&mut self) {
        let n = self.keys.len();
        let e = self.edge_count();
        let mut src = Vec::with_capacity(e);
        let mut key = Vec::with_capacity(e);
        let mut mult = Vec::with_capacity(e);
        for s in 0..n as NodeId {
            self.for_each_out_mult(s, |d, kind, m| {
                src.push(s);
                key.push(sort_key(d, kind as u8));
                mult.push(m);
            });
        }
        self.base = Base::from_edges(n, &src, &key, &mult);
        self.overlay = Overlay {
            slot: vec![NONE; n],
            ..Overlay::default()
        };
    }

    fn maybe_compact(&mut self) {
        let pending = self.overlay.edges + self.base.dead;
        if pending > COMPACT_MIN.max(self.base.live / 8) {
            self.compact();
        }
    }

    /// Pending overlay triples plus tombstones (what the next compaction folds in).
    pub fn pending_writes(&self) -> usize {
        self.overlay.edges + self.base.dead
    }

    fn intern(&mut self, key: &str) -> NodeId {
        match self.by_key.get(key) {
            Some(&id) => id,
            None => self.create(key.into(), NodeAttrs::default()),
        }
    }

    fn create(&mut self, key: Box<str>, attrs: NodeAttrs) -> NodeId {
        if attrs.core {
            self.meta = OnceLock::new();
        }
        let id = match self.free.pop() {
            Some(id) => {
                let i = id as usize;
                self.keys[i] = key.clone();
                self.attrs[i] = attrs;
                self.live[i] = true;
                self.groups[i] = [0, 0];
                self.set_business(id);
                id
            }
            None => {
                let id = narrow(self.keys.len(), "nodes", MAX_NODES);
                self.keys.push(key.clone());
                self.attrs.push(attrs);
                self.live.push(true);
                self.groups.push([0, 0]);
                self.overlay.slot.push(NONE);
                if self.business.len() * 64 < self.keys.len() {
                    self.business.push(0);
                }
                self.set_business(id);
                id
            }
        };
        self.by_key.insert(key, id);
        self.live_nodes += 1;
        id
    }

    /// Calls `f(target, kind bits)` for every forward entry of `n`, tombstones included (their
    /// kind bits have [`DEAD`] set, which no kind comparison matches).
    #[inline]
    pub(crate) fn for_each_out(&self, n: NodeId, mut f: impl FnMut(NodeId, u8)) {
        for &e in self.base.out(n) {
            f(e >> ENTRY_SHIFT, e as u8 & (KIND_MASK | DEAD));
        }
        if let Some(a) = self.overlay.get(n) {
            for &(x, kk, _) in &a.out {
                f(x, kk);
            }
        }
    }

    /// Calls `f(source, kind bits)` for every reverse entry of `n`, tombstones included.
    #[inline]
    pub(crate) fn for_each_in(&self, n: NodeId, mut f: impl FnMut(NodeId, u8)) {
        for &e in self.base.inc(n) {
            f(e >> ENTRY_SHIFT, e as u8 & (KIND_MASK | DEAD));
        }
        if let Some(a) = self.overlay.get(n) {
            for &(x, kk) in &a.inc {
                f(x, kk);
            }
        }
    }

    /// What `n` needs directly, for availability derived through the graph: the targets of
    /// its live dependency edges (`depends_on`, `runs_on`, `hosted_on`, `powered_by`) and, when
    /// it is a redundancy group, its members (the sources of live `member_of` edges to it).
    /// Each list sorted and without repeats.
    pub fn direct_requirements(&self, n: NodeId) -> (Vec<NodeId>, Vec<NodeId>) {
        let (mut deps, mut members) = (Vec::new(), Vec::new());
        if !self.contains(n) {
            return (deps, members);
        }
        self.for_each_out(n, |x, k| {
            if crate::is_dep_byte(k) {
                deps.push(x);
            }
        });
        self.for_each_in(n, |x, k| {
            if k == crate::K_MEMBER {
                members.push(x);
            }
        });
        // Overlay entries may repeat base ones and tombstones may hide others: keep the live.
        deps.retain(|&x| self.contains(x));
        members.retain(|&x| self.contains(x));
        deps.sort_unstable();
        deps.dedup();
        members.sort_unstable();
        members.dedup();
        (deps, members)
    }

    /// Calls `f(target, kind, multiplicity)` for every live forward triple of `n`.
    fn for_each_out_mult(&self, n: NodeId, mut f: impl FnMut(NodeId, RelKind, u32)) {
        let i = n as usize;
        if i < self.base.n {
            let lo = self.base.off[i][0] as usize;
            for (j, &e) in self.base.out(n).iter().enumerate() {
                let m = self.base.fwd_mult[lo + j];
                if let (true, Some(kind)) = (m > 0, RelKind::from_byte(e as u8 & KIND_MASK)) {
                    f(e >> ENTRY_SHIFT, kind, m);
                }
            }
        }
        if let Some(a) = self.overlay.get(n) {
            for &(d, k, m) in &a.out {
                if let Some(kind) = RelKind::from_byte(k) {
                    f(d, kind, m);
                }
            }
        }
    }

    /// (members, quorum) of `n` as a group: live `member_of` triples pointing at it, and its
    /// effective min_up (declared, default 1, clamped to the members).
    #[inline]
    pub(crate) fn group_size(&self, n: NodeId) -> (u32, u32) {
        self.groups.get(n as usize).map_or((0, 0), |g| (g[0], g[1]))
    }

    /// True when `n`'s attrs say business_service.
    #[inline]
    pub(crate) fn is_business(&self, n: NodeId) -> bool {
        self.business
            .get(n as usize >> 6)
            .is_some_and(|w| (w >> (n & 63)) & 1 != 0)
    }

    fn set_business(&mut self, n: NodeId) {
        let (w, b) = (n as usize >> 6, 1u64 << (n & 63));
        if self.attrs[n as usize].business_service {
            self.business[w] |= b;
        } else {
            self.business[w] &= !b;
        }
    }

    fn requorum(&mut self, n: NodeId) {
        let i = n as usize;
        let members = self.groups[i][0];
        self.groups[i][1] = self.attrs[i].min_up.unwrap_or(1).min(members);
    }

    /// The network metadata, computed on first use after a change.
    pub(crate) fn meta(&self) -> &NetMeta {
        self.meta.get_or_init(|| self.compute_meta())
    }

    /// The network metadata of the current `connected_to` triples and declared core.
    fn compute_meta(&self) -> NetMeta {
        let n = self.id_bound();
        let links = |f: &mut dyn FnMut(NodeId, NodeId)| {
            for s in 0..n as NodeId {
                self.for_each_out(s, |d, k| {
                    if k == K_CONNECTED {
                        f(s, d);
                    }
                });
            }
        };
        let declared: Vec<NodeId> = (0..n as NodeId)
            .filter(|&id| self.contains(id) && self.attrs(id).core)
            .collect();
        NetMeta::from_links(n, &links, &|id| self.key(id), &declared)
    }

    /// True when the network metadata is computed (a test hook for laziness).
    #[cfg(test)]
    pub(crate) fn meta_ready(&self) -> bool {
        self.meta.get().is_some()
    }

    /// The effective core set: declared core nodes, and for each connected_to component without a
    /// declared one, the default (see the crate documentation). Sorted by id.
    pub fn core_nodes(&self) -> Vec<NodeId> {
        self.meta().cores.clone()
    }
}

/// Builds a [`GraphIndex`] a few rows at a time, so a caller reading nodes and edges from
/// storage by pages holds one page of rows, not all of them, next to the index.
#[derive(Debug, Default)]
pub struct Builder {
    g: GraphIndex,
    src: Vec<NodeId>,
    key: Vec<u64>,
}

impl Builder {
    /// A node and its attributes (the last given wins).
    pub fn node(&mut self, key: String, attrs: NodeAttrs) {
        match self.g.by_key.get(key.as_str()) {
            Some(&id) => self.g.attrs[id as usize] = attrs,
            None => {
                self.g.create(key.into_boxed_str(), attrs);
            }
        }
    }

    /// An active edge (one per stored relationship; a self-loop is ignored).
    pub fn edge(&mut self, src: &str, dst: &str, kind: RelKind) {
        if src == dst {
            return;
        }
        let s = self.g.intern(src);
        let d = self.g.intern(dst);
        self.src.push(s);
        self.key.push(sort_key(d, kind as u8));
    }

    /// Edges given so far.
    pub fn edge_count(&self) -> usize {
        self.src.len()
    }

    pub fn finish(self) -> GraphIndex {
        GraphIndex::from_parts(self.g, self.src, self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ImpactOptions;
    use crate::synth::Rng;

    fn s(x: &str) -> String {
        x.to_string()
    }

    fn dep(a: &str, b: &str) -> (String, String, RelKind) {
        (s(a), s(b), RelKind::DependsOn)
    }

    #[test]
    fn build_creates_nodes_named_by_edges_and_counts_duplicates() {
        let g = GraphIndex::build(
            [(s("a"), NodeAttrs::default())],
            [
                dep("a", "b"),
                dep("a", "b"),
                (s("a"), s("b"), RelKind::RunsOn),
                dep("c", "c"),
            ],
        );
        assert_eq!(g.node_count(), 2, "self-loops create nothing");
        assert_eq!(g.edge_count(), 2);
        assert_eq!(
            g.edges(),
            vec![
                (s("a"), s("b"), RelKind::DependsOn, 2),
                (s("a"), s("b"), RelKind::RunsOn, 1),
            ]
        );
        assert_eq!(
            g.nodes(),
            vec![
                (s("a"), NodeAttrs::default()),
                (s("b"), NodeAttrs::default())
            ]
        );
        let a = g.node_id("a").expect("a");
        assert_eq!(g.key(a), "a");
        assert_eq!(g.node_id("c"), None);
        assert_eq!(g.key(999), "");
        assert_eq!(g.attrs(999), &NodeAttrs::default());
    }

    #[test]
    fn multiplicity_keeps_a_triple_until_its_last_occurrence_goes() {
        let mut g = GraphIndex::new();
        assert!(g.add_edge("sw1", "sw2", RelKind::ConnectedTo));
        assert!(!g.add_edge("sw1", "sw2", RelKind::ConnectedTo));
        assert!(!g.remove_edge("sw1", "sw2", RelKind::ConnectedTo));
        assert_eq!(g.edge_count(), 1);
        assert!(g.remove_edge("sw1", "sw2", RelKind::ConnectedTo));
        assert_eq!(g.edge_count(), 0);
        assert!(!g.remove_edge("sw1", "sw2", RelKind::ConnectedTo));
        assert!(!g.remove_edge("nope", "sw2", RelKind::ConnectedTo));
        assert!(!g.add_edge("x", "x", RelKind::DependsOn));
        assert_eq!(g.node_id("x"), None);
    }

    #[test]
    fn base_triples_are_tombstoned_and_revived() {
        let mut g = GraphIndex::build([], [dep("a", "b"), dep("a", "b"), dep("b", "c")]);
        assert!(!g.remove_edge("a", "b", RelKind::DependsOn));
        assert!(g.remove_edge("a", "b", RelKind::DependsOn));
        assert_eq!(g.edge_count(), 1);
        assert_eq!(g.pending_writes(), 1);
        let a = g.node_id("a").expect("a");
        let c = g.node_id("c").expect("c");
        let r = g.impact(&[c], &ImpactOptions::default());
        assert!(r.get(a).is_none(), "a tombstoned edge does not propagate");
        assert!(g.add_edge("a", "b", RelKind::DependsOn));
        assert_eq!(
            g.pending_writes(),
            0,
            "revived in place, not in the overlay"
        );
        let r = g.impact(&[c], &ImpactOptions::default());
        assert!(r.get(a).is_some());
    }

    #[test]
    fn remove_node_drops_its_edges_and_reuses_the_id() {
        let mut g = GraphIndex::build(
            [],
            [
                dep("app", "db"),
                dep("db", "vm"),
                (s("vm"), s("hv"), RelKind::HostedOn),
            ],
        );
        g.add_edge("web", "db", RelKind::DependsOn);
        let db = g.node_id("db").expect("db");
        assert!(g.remove_node("db"));
        assert!(!g.remove_node("db"));
        assert_eq!(g.node_count(), 4);
        assert_eq!(g.edges(), vec![(s("vm"), s("hv"), RelKind::HostedOn, 1)]);
        assert!(!g.contains(db));
        let again = g.upsert_node("cache", NodeAttrs::default());
        assert_eq!(again, db, "freed ids are reused");
        g.add_edge("cache", "vm", RelKind::RunsOn);
        let vm = g.node_id("vm").expect("vm");
        let r = g.impact(&[vm], &ImpactOptions::default());
        let hit: Vec<&str> = r.affected().iter().map(|a| g.key(a.node)).collect();
        assert_eq!(hit, ["vm", "cache"]);
    }

    #[test]
    fn upsert_updates_attrs_in_place() {
        let mut g = GraphIndex::new();
        let a = g.upsert_node("a", NodeAttrs::default());
        let attrs = NodeAttrs {
            min_up: Some(2),
            ..NodeAttrs::default()
        };
        assert_eq!(g.upsert_node("a", attrs.clone()), a);
        assert_eq!(g.attrs(a), &attrs);
        assert_eq!(g.node_count(), 1);
    }

    #[test]
    fn network_metadata_is_recomputed_only_after_network_writes() {
        let mut g = GraphIndex::build([], [(s("a"), s("b"), RelKind::ConnectedTo), dep("x", "a")]);
        assert!(!g.meta_ready());
        let _ = g.core_nodes();
        assert!(g.meta_ready());
        g.add_edge("y", "a", RelKind::DependsOn);
        g.remove_edge("x", "a", RelKind::DependsOn);
        assert!(
            g.meta_ready(),
            "dependency writes keep the network metadata"
        );
        g.add_edge("b", "c", RelKind::ConnectedTo);
        assert!(!g.meta_ready());
        let _ = g.core_nodes();
        g.upsert_node(
            "c",
            NodeAttrs {
                core: true,
                ..NodeAttrs::default()
            },
        );
        assert!(!g.meta_ready(), "declaring a core changes the core set");
        let c = g.node_id("c").expect("c");
        assert_eq!(g.core_nodes(), [c]);
    }

    #[test]
    fn writes_compact_automatically_past_the_threshold() {
        let mut g = GraphIndex::new();
        for i in 0..(COMPACT_MIN + 10) {
            g.add_edge(&format!("n{i}"), &format!("n{}", i + 1), RelKind::DependsOn);
        }
        assert!(g.pending_writes() < COMPACT_MIN, "{}", g.pending_writes());
        assert_eq!(g.edge_count(), COMPACT_MIN + 10);
    }

    /// Applies random writes to one index and checks that it equals an index rebuilt from a
    /// model after every batch: same edges, same nodes, same impact results.
    #[test]
    fn random_writes_match_a_rebuilt_index() {
        use std::collections::BTreeMap;
        for seed in 0..40u64 {
            let mut rng = Rng::new(seed);
            let n_keys = 4 + rng.below(20);
            let key = |i: usize| format!("k{i}");
            let mut model: BTreeMap<(String, String, RelKind), u32> = BTreeMap::new();
            let mut attrs: BTreeMap<String, NodeAttrs> = BTreeMap::new();
            let mut g = GraphIndex::new();
            for round in 0..30 {
                for _ in 0..(1 + rng.below(12)) {
                    let a = key(rng.below(n_keys));
                    let b = key(rng.below(n_keys));
                    let kind = RelKind::ALL[rng.below(6)];
                    match rng.below(10) {
                        0..=4 => {
                            let new = g.add_edge(&a, &b, kind);
                            if a != b {
                                let m = model.entry((a.clone(), b.clone(), kind)).or_insert(0);
                                assert_eq!(new, *m == 0);
                                *m += 1;
                                attrs.entry(a).or_default();
                                attrs.entry(b).or_default();
                            } else {
                                assert!(!new);
                            }
                        }
                        5..=7 => {
                            let gone = g.remove_edge(&a, &b, kind);
                            let k = (a, b, kind);
                            let expect = match model.get_mut(&k) {
                                Some(m) if *m == 1 => {
                                    model.remove(&k);
                                    true
                                }
                                Some(m) => {
                                    *m -= 1;
                                    false
                                }
                                None => false,
                            };
                            assert_eq!(gone, expect);
                        }
                        8 if rng.below(3) == 0 => {
                            // What following another server's writes does: storage's count.
                            let n = rng.below(3) as u32;
                            g.set_edge_count(&a, &b, kind, n);
                            if a != b {
                                let k = (a.clone(), b.clone(), kind);
                                if n == 0 {
                                    model.remove(&k);
                                } else {
                                    model.insert(k, n);
                                    attrs.entry(a.clone()).or_default();
                                    attrs.entry(b.clone()).or_default();
                                }
                                assert_eq!(g.multiplicity(&a, &b, kind), n);
                            }
                        }
                        8 => {
                            let at = NodeAttrs {
                                business_service: rng.below(4) == 0,
                                min_up: (rng.below(3) == 0).then(|| rng.below(3) as u32),
                                core: rng.below(8) == 0,
                            };
                            g.upsert_node(&a, at.clone());
                            attrs.insert(a, at);
                        }
                        _ => {
                            let known = attrs.remove(&a).is_some();
                            assert_eq!(g.remove_node(&a), known);
                            model.retain(|(x, y, _), _| *x != a && *y != a);
                        }
                    }
                }
                if round % 7 == 3 {
                    g.compact();
                    assert_eq!(g.pending_writes(), 0);
                }
                let want: Vec<_> = model
                    .iter()
                    .map(|((a, b, k), m)| (a.clone(), b.clone(), *k, *m))
                    .collect();
                assert_eq!(g.edges(), want, "seed {seed} round {round}");
                let want_nodes: Vec<_> =
                    attrs.iter().map(|(k, a)| (k.clone(), a.clone())).collect();
                assert_eq!(g.nodes(), want_nodes, "seed {seed} round {round}");
                assert_eq!(g.node_count(), attrs.len());
                assert_eq!(g.edge_count(), model.len());
                let rebuilt = GraphIndex::build(
                    want_nodes,
                    model.iter().flat_map(|((a, b, k), m)| {
                        std::iter::repeat_n((a.clone(), b.clone(), *k), *m as usize)
                    }),
                );
                assert_eq!(rebuilt.edges(), g.edges());
                crate::impact::tests::assert_same_impacts(&g, &rebuilt, &mut rng, 4);
            }
        }
    }

    #[test]
    fn graph_index_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<GraphIndex>();
    }

    #[test]
    fn debug_is_a_summary() {
        let g = GraphIndex::build([], [dep("a", "b")]);
        let d = format!("{g:?}");
        assert!(d.contains("nodes: 2") && d.contains("edges: 1"), "{d}");
    }
}
