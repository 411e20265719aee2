//! Impact analysis over the index: [`GraphIndex::impact`], [`GraphIndex::dependencies`] and the
//! benchmark floor [`GraphIndex::plain_bfs`].
//!
//! Every query runs in a `Scratch` taken from a pool: per-node bitsets and arrays sized to the
//! index, which a query touches only at the CIs it reaches and clears (or outdates by a
//! generation stamp) afterwards, so a small query on a large estate stays small. Affected CIs are
//! appended to per-depth lists, each sorted by id before it is expanded: ids follow the paths
//! failure travels (see [`GraphIndex::build`]), so a big query sweeps the adjacency arrays
//! forwards. On a million-CI estate the cost is memory latency, and these choices are what keep
//! the whole-estate query within a small factor of a bare breadth-first search.
//!
//! `impact` runs in two phases (the semantics are in the crate documentation):
//! 1. Down: a breadth-first propagation level by level. Expanding a down CI marks its dependents
//!    (reverse dependency edges) down, decrements the up-count of its groups (marking a group down
//!    when it falls below `min_up`), and makes its live network neighbours reachability
//!    candidates. After each level, each candidate not yet classified starts a best-first search
//!    over the network minus the down CIs, ordered by intact distance to the core, which stops at
//!    a core or at a CI already proven safe in this round: everything it visited is then safe. If
//!    the search exhausts its segment, the whole segment is cut off; its CIs get depths by a
//!    breadth-first walk from the failure that completed the cut, and join the propagation.
//!    Safety is relative to the down set, so every round starts a fresh stamp.
//! 2. Degraded: seeds recorded during phase 1 (live network neighbours of down CIs, groups that
//!    lost a member but not their quorum), then a breadth-first propagation over reverse
//!    dependency edges and `member_of` edges among CIs that are not down.

use std::sync::{Mutex, PoisonError};

use crate::index::{GraphIndex, NONE};
use crate::network::NetMeta;
use crate::{K_CONNECTED, K_MEMBER, NodeId, RelKind, is_dep_byte};

/// Options of an impact query.
#[derive(Debug, Clone, Default)]
pub struct ImpactOptions {
    /// Horizon: report nothing deeper than this (see the crate documentation).
    pub max_depth: Option<u32>,
}

/// State of an affected CI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    /// Not working.
    Down,
    /// Working with reduced redundancy or capacity.
    Degraded,
}

impl State {
    /// The wire name: `down` / `degraded`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Down => "down",
            State::Degraded => "degraded",
        }
    }
}

/// Why a CI is affected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// In the failed set given.
    Failed,
    /// Has an edge of this kind to `via`, which is down or degraded (the state is inherited).
    Dependency(RelKind),
    /// A redundancy group with fewer than min_up members up (down) / with some member down or
    /// degraded but at least min_up up (degraded). `up` counts members not down; `min_up` is the
    /// effective value (clamped to the number of members).
    Group {
        /// Members not down.
        up: u32,
        /// Effective quorum.
        min_up: u32,
    },
    /// No path to a core CI survives over connected_to (down); `via` is the down neighbour, or the
    /// neighbour inside the cut-off part it was reached through.
    CutOff,
    /// Still reachable but a connected_to neighbour (`via`) is down (degraded).
    LostLink,
}

impl Cause {
    /// The wire name: `failed`, the relationship kind (`depends_on`, ...), `redundancy`,
    /// `cut_off` or `lost_link`.
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Failed => "failed",
            Cause::Dependency(k) => k.as_str(),
            Cause::Group { .. } => "redundancy",
            Cause::CutOff => "cut_off",
            Cause::LostLink => "lost_link",
        }
    }
}

/// One affected CI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Affected {
    /// The CI.
    pub node: NodeId,
    /// Down or degraded.
    pub state: State,
    /// Why.
    pub cause: Cause,
    /// The CI that justifies `cause`; `None` for failed CIs.
    pub via: Option<NodeId>,
    /// Steps from the failed set (0 for failed CIs).
    pub depth: u32,
}

/// One CI reached by [`GraphIndex::dependencies`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reached {
    /// The CI reached.
    pub node: NodeId,
    /// The CI it was reached from.
    pub via: NodeId,
    /// The relationship followed (`member_of` from a group to a member, `connected_to` towards
    /// the core, otherwise from source to target).
    pub kind: RelKind,
    /// Steps from the queried CI (1 for its direct dependencies).
    pub depth: u32,
}

/// The answer of [`GraphIndex::impact`].
#[derive(Debug, Clone)]
pub struct ImpactResult {
    affected: Vec<Affected>,
    lookup: Lookup,
    business: Vec<NodeId>,
}

/// Position of each affected CI in `affected`: a dense array when the result is a sizeable part
/// of the estate, a sorted list otherwise (so small results stay small).
#[derive(Debug, Clone)]
enum Lookup {
    Dense(Vec<u32>),
    Sparse(Vec<(NodeId, u32)>),
}

impl ImpactResult {
    /// Every affected CI (failed ones included, cause Failed, depth 0), sorted by (depth, node).
    pub fn affected(&self) -> &[Affected] {
        &self.affected
    }

    /// The entry of `node`, if affected.
    pub fn get(&self, node: NodeId) -> Option<&Affected> {
        let i = match &self.lookup {
            Lookup::Dense(pos) => *pos.get(node as usize)?,
            Lookup::Sparse(pairs) => {
                let j = pairs.binary_search_by_key(&node, |p| p.0).ok()?;
                pairs[j].1
            }
        };
        self.affected.get(i as usize)
    }

    /// Node ids from a failed CI to `node`, following `via` (first element is in the failed set,
    /// last is `node`); empty when `node` is not affected.
    pub fn path(&self, node: NodeId) -> Vec<NodeId> {
        let mut out = Vec::new();
        let mut cur = self.get(node);
        while let Some(a) = cur {
            out.push(a.node);
            // Depth strictly decreases along `via`, so the walk ends; the bound is a guard.
            if out.len() > self.affected.len() {
                break;
            }
            cur = a.via.and_then(|v| self.get(v));
        }
        out.reverse();
        out
    }

    /// Affected CIs whose attrs say business_service, in the order of [`Self::affected`].
    pub fn business_services(&self) -> Vec<NodeId> {
        self.business.clone()
    }

    /// Number of affected CIs in `state`.
    pub fn count(&self, state: State) -> usize {
        self.affected.iter().filter(|a| a.state == state).count()
    }
}

// Flags of network CIs in a query (bits 32..40 of the tag).
/// In the reachability candidate list.
const F_CAND: u8 = 1;
/// In a cut-off segment but deeper than the horizon: neither down nor searchable.
const F_BEYOND: u8 = 2;

// Cause codes; relationship kinds use their own code (0..=5).
const C_FAILED: u8 = 6;
const C_GROUP: u8 = 7;
const C_CUTOFF: u8 = 8;
const C_LOSTLINK: u8 = 9;

/// A tag is `generation << 40 | flags << 32 | depth`.
const GEN_SHIFT: u32 = 40;
const MAX_GEN: u64 = (1 << (64 - GEN_SHIFT)) - 1;

/// One affected CI in a level list; its depth is the list's.
#[derive(Clone, Copy)]
struct Rec {
    node: NodeId,
    via: NodeId,
    cause: u8,
    down: bool,
}

/// A degraded candidate found during the down phase.
#[derive(Clone, Copy)]
struct Seed {
    depth: u32,
    node: NodeId,
    via: NodeId,
    cause: u8,
}

/// Grows a per-node array with zeros. A fresh array comes zeroed from the allocator, which for
/// large sizes means pages the OS zeroes on first touch: a scratch made for one extra concurrent
/// small query costs the pages it touches, not the size of the estate.
fn grow<T: Copy + Default>(v: &mut Vec<T>, n: usize)
where
    Vec<T>: FromZeroed,
{
    if v.is_empty() {
        *v = Vec::<T>::zeroed(n);
    } else {
        v.resize(n, T::default());
    }
}

/// `vec![0; n]` for the integer types of the scratch (the standard library allocates those
/// zeroed).
trait FromZeroed {
    fn zeroed(n: usize) -> Self;
}

macro_rules! from_zeroed {
    ($($t:ty),*) => {$(
        impl FromZeroed for Vec<$t> {
            fn zeroed(n: usize) -> Self {
                vec![0; n]
            }
        }
    )*};
}

from_zeroed!(u32, i32, u64);

/// One bit per node.
#[derive(Default)]
struct Bits(Vec<u64>);

impl Bits {
    #[inline]
    fn get(&self, n: NodeId) -> bool {
        (self.0[n as usize >> 6] >> (n & 63)) & 1 != 0
    }

    #[inline]
    fn set(&mut self, n: NodeId) {
        self.0[n as usize >> 6] |= 1 << (n & 63);
    }

    #[inline]
    fn clear(&mut self, n: NodeId) {
        self.0[n as usize >> 6] &= !(1 << (n & 63));
    }

    fn resize(&mut self, n: usize) {
        grow(&mut self.0, n.div_ceil(64));
    }

    fn zero(&mut self) {
        self.0.fill(0);
    }
}

/// Reusable buffers of one query at a time.
///
/// On a large estate a query is bound by memory latency: "is this CI already down?" is asked
/// once per edge scanned, at random places. So those questions are answered by bitsets (128 KiB
/// for a million CIs, which stay in cache), and everything an affected CI needs for the answer
/// is appended to the level lists in order. Bitsets cannot carry a generation stamp, so a query
/// clears exactly the bits it set, from its own lists: the cost stays proportional to the
/// result. The rarer facts about network CIs (depth, candidate, beyond the horizon) live in
/// generation-stamped tags.
#[derive(Default)]
pub(crate) struct Scratch {
    /// Bits set by a query that has not cleared them (it panicked): zero everything first.
    dirty: bool,
    down: Bits,
    degraded: Bits,
    /// `slack` holds the group's count.
    counted: Bits,
    /// A degraded seed was recorded (the first is the shallowest).
    seeded: Bits,
    counted_list: Vec<NodeId>,
    /// Groups: members not down minus the quorum; the group is down below zero.
    slack: Vec<i32>,
    generation: u64,
    /// Network CIs: `generation << 40 | flags << 32 | depth`.
    tags: Vec<u64>,
    /// Reachability search stamps (see `check_reachability`).
    net_stamp: u32,
    net_mark: Vec<u32>,
    /// Visited set of `plain_bfs`, cleared from its queue after each search.
    plain_seen: Bits,
    /// Visited stamps of `dependencies`.
    seen_gen: u32,
    seen: Vec<u32>,
    /// Down CIs by depth; `nlevels` are in use.
    levels: Vec<Vec<Rec>>,
    nlevels: usize,
    /// Degraded CIs by depth; `ndlevels` are in use.
    dlevels: Vec<Vec<Rec>>,
    ndlevels: usize,
    seeds: Vec<Seed>,
    cands: Vec<NodeId>,
    visited: Vec<NodeId>,
    buckets: Vec<Vec<NodeId>>,
    queue: Vec<NodeId>,
    sorted: Vec<Rec>,
}

impl Scratch {
    fn begin_impact(&mut self, n: usize) {
        if self.tags.len() < n {
            grow(&mut self.tags, n);
            grow(&mut self.slack, n);
            grow(&mut self.net_mark, n);
            for b in [
                &mut self.down,
                &mut self.degraded,
                &mut self.counted,
                &mut self.seeded,
            ] {
                b.resize(n);
            }
        }
        if self.dirty {
            for b in [
                &mut self.down,
                &mut self.degraded,
                &mut self.counted,
                &mut self.seeded,
            ] {
                b.zero();
            }
        }
        self.dirty = true;
        self.generation += 1;
        if self.generation > MAX_GEN {
            self.tags.fill(0);
            self.generation = 1;
        }
        self.forget_lists();
    }

    /// Clears the bits the last query set, then its lists.
    fn end_impact(&mut self) {
        let touched: usize = self.levels[..self.nlevels]
            .iter()
            .chain(&self.dlevels[..self.ndlevels])
            .map(Vec::len)
            .sum::<usize>()
            + self.counted_list.len()
            + self.seeds.len();
        if touched > self.down.0.len() {
            // Cheaper to zero whole words than to visit that many nodes.
            for b in [
                &mut self.down,
                &mut self.degraded,
                &mut self.counted,
                &mut self.seeded,
            ] {
                b.zero();
            }
        } else {
            for r in self.levels[..self.nlevels].iter().flatten() {
                self.down.clear(r.node);
            }
            for r in self.dlevels[..self.ndlevels].iter().flatten() {
                self.degraded.clear(r.node);
            }
            for &g in &self.counted_list {
                self.counted.clear(g);
            }
            for s in &self.seeds {
                self.seeded.clear(s.node);
            }
        }
        self.forget_lists();
        self.dirty = false;
    }

    fn forget_lists(&mut self) {
        for l in &mut self.levels[..self.nlevels] {
            l.clear();
        }
        for l in &mut self.dlevels[..self.ndlevels] {
            l.clear();
        }
        self.nlevels = 0;
        self.ndlevels = 0;
        self.seeds.clear();
        self.cands.clear();
        self.counted_list.clear();
    }

    fn begin_seen(&mut self, n: usize) -> u32 {
        if self.seen.len() < n {
            grow(&mut self.seen, n);
        }
        self.seen_gen = self.seen_gen.wrapping_add(1);
        if self.seen_gen == 0 {
            self.seen.fill(0);
            self.seen_gen = 1;
        }
        self.queue.clear();
        self.seen_gen
    }

    /// The tag of network CI `n` if touched in this query, else the generation with no flags.
    #[inline]
    fn tag(&self, n: NodeId) -> u64 {
        let t = self.tags[n as usize];
        if t >> GEN_SHIFT == self.generation {
            t
        } else {
            self.generation << GEN_SHIFT
        }
    }

    /// Network flags of `n` in this query; 0 when untouched.
    #[inline]
    fn flags(&self, n: NodeId) -> u8 {
        (self.tag(n) >> 32) as u8
    }

    /// Depth of a network CI that is down or beyond the horizon.
    #[inline]
    fn depth(&self, n: NodeId) -> u32 {
        self.tags[n as usize] as u32
    }

    #[inline]
    fn set_flags(&mut self, n: NodeId, f: u8) {
        let t = self.tag(n);
        self.tags[n as usize] = t | (u64::from(f) << 32);
    }

    #[inline]
    fn clear_flags(&mut self, n: NodeId, f: u8) {
        let t = self.tag(n);
        self.tags[n as usize] = t & !(u64::from(f) << 32);
    }

    /// Records the depth of network CI `n`.
    #[inline]
    fn set_depth(&mut self, n: NodeId, depth: u32) {
        let t = self.tag(n);
        self.tags[n as usize] = (t & !0xFFFF_FFFF) | u64::from(depth);
    }

    /// Marks `n` down at `depth` because of `via`.
    #[inline]
    fn mark_down(&mut self, meta: &NetMeta, n: NodeId, depth: u32, via: NodeId, cause: u8) {
        self.down.set(n);
        if meta.is_net(n) {
            // Only network CIs need their depth looked up later (by the cut-off walk).
            self.set_depth(n, depth);
        }
        let d = depth as usize;
        if self.levels.len() <= d {
            self.levels.resize_with(d + 1, Vec::new);
        }
        self.nlevels = self.nlevels.max(d + 1);
        self.levels[d].push(Rec {
            node: n,
            via,
            cause,
            down: true,
        });
    }

    /// Marks `n` degraded at `depth` because of `via`.
    #[inline]
    fn mark_degraded(&mut self, n: NodeId, depth: u32, via: NodeId, cause: u8) {
        self.degraded.set(n);
        let d = depth as usize;
        if self.dlevels.len() <= d {
            self.dlevels.resize_with(d + 1, Vec::new);
        }
        self.ndlevels = self.ndlevels.max(d + 1);
        self.dlevels[d].push(Rec {
            node: n,
            via,
            cause,
            down: false,
        });
    }

    /// Loads the count of `grp` on first touch.
    #[inline]
    fn ensure_counted(&mut self, g: &GraphIndex, grp: NodeId) {
        if !self.counted.get(grp) {
            let (members, quorum) = g.group_size(grp);
            self.slack[grp as usize] = (members - quorum) as i32;
            self.counted.set(grp);
            self.counted_list.push(grp);
        }
    }

    /// Records a degraded seed unless `n` has one (the first is the shallowest).
    #[inline]
    fn seed(&mut self, n: NodeId, depth: u32, via: NodeId, cause: u8) {
        if !self.seeded.get(n) {
            self.seeded.set(n);
            self.seeds.push(Seed {
                depth,
                node: n,
                via,
                cause,
            });
        }
    }

    fn memory_bytes(&self) -> usize {
        fn lists<T>(v: &[Vec<T>]) -> usize {
            std::mem::size_of_val(v)
                + v.iter()
                    .map(|l| l.capacity() * std::mem::size_of::<T>())
                    .sum::<usize>()
        }
        (self.down.0.capacity()
            + self.degraded.0.capacity()
            + self.counted.0.capacity()
            + self.seeded.0.capacity()
            + self.plain_seen.0.capacity()
            + self.tags.capacity())
            * 8
            + (self.slack.capacity()
                + self.net_mark.capacity()
                + self.seen.capacity()
                + self.counted_list.capacity())
                * 4
            + lists(&self.levels)
            + lists(&self.dlevels)
            + lists(&self.buckets)
            + self.seeds.capacity() * std::mem::size_of::<Seed>()
            + (self.cands.capacity() + self.visited.capacity() + self.queue.capacity()) * 4
            + self.sorted.capacity() * std::mem::size_of::<Rec>()
    }
}

/// Scratch buffers shared by concurrent queries.
#[derive(Default)]
pub(crate) struct ScratchPool {
    free: Mutex<Vec<Scratch>>,
}

/// Scratches kept for reuse; more concurrent queries allocate and drop their own (cheaply, see
/// `grow`).
const POOL_KEEP: usize = 2;

impl ScratchPool {
    fn take(&self) -> PoolGuard<'_> {
        let s = self
            .free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .unwrap_or_default();
        PoolGuard {
            pool: self,
            scratch: s,
        }
    }

    pub(crate) fn memory_bytes(&self) -> usize {
        self.free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(Scratch::memory_bytes)
            .sum()
    }
}

/// Returns its scratch to the pool when dropped.
struct PoolGuard<'a> {
    pool: &'a ScratchPool,
    scratch: Scratch,
}

impl Drop for PoolGuard<'_> {
    fn drop(&mut self) {
        let mut free = self
            .pool
            .free
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if free.len() < POOL_KEEP {
            free.push(std::mem::take(&mut self.scratch));
        }
    }
}

/// A bucket queue keyed by intact distance to the core: the reachability search pops the CI
/// closest to the core first.
struct Buckets<'a> {
    b: &'a mut Vec<Vec<NodeId>>,
    lo: usize,
    hi: usize,
}

impl Buckets<'_> {
    #[inline]
    fn push(&mut self, key: u32, n: NodeId) {
        let k = key as usize;
        if self.b.len() <= k {
            self.b.resize_with(k + 1, Vec::new);
        }
        self.b[k].push(n);
        self.lo = self.lo.min(k);
        self.hi = self.hi.max(k + 1);
    }

    #[inline]
    fn pop(&mut self) -> Option<NodeId> {
        while self.lo < self.hi {
            if let Some(n) = self.b[self.lo].pop() {
                return Some(n);
            }
            self.lo += 1;
        }
        None
    }

    fn clear(&mut self) {
        for l in &mut self.b[..self.hi] {
            l.clear();
        }
        self.lo = 0;
        self.hi = 0;
    }
}

const KINDS: [RelKind; 6] = RelKind::ALL;

impl GraphIndex {
    /// What fails and what degrades when `failed` fail; see the crate documentation for the
    /// rules. Ids that are not live are ignored.
    pub fn impact(&self, failed: &[NodeId], opts: &ImpactOptions) -> ImpactResult {
        let meta = self.meta();
        let mut guard = self.pool.take();
        let s = &mut guard.scratch;
        s.begin_impact(self.id_bound());
        let horizon = opts.max_depth.unwrap_or(u32::MAX);
        down_phase(self, meta, s, failed, horizon);
        degraded_phase(self, s, horizon);
        let result = collect(self, s);
        s.end_impact();
        result
    }

    /// What `node` depends on (the reverse question): transitive closure of everything whose
    /// failure could impact it: depends_on / runs_on / hosted_on / powered_by followed forward
    /// (src → dst), member_of followed backward (group → its members), connected_to followed only
    /// towards the core (to neighbours strictly closer to the core in the intact network). Returns
    /// reached nodes with via/depth/kind, excluding `node` itself, sorted by (depth, node).
    pub fn dependencies(&self, node: NodeId, max_depth: Option<u32>) -> Vec<Reached> {
        if !self.contains(node) {
            return Vec::new();
        }
        let meta = self.meta();
        let mut guard = self.pool.take();
        let s = &mut guard.scratch;
        let stamp = s.begin_seen(self.id_bound());
        let limit = max_depth.unwrap_or(u32::MAX);
        let mut out = Vec::new();
        let mut queue = std::mem::take(&mut s.queue);
        s.seen[node as usize] = stamp;
        queue.push(node);
        let (mut start, mut depth) = (0, 0u32);
        while start < queue.len() && depth < limit {
            let end = queue.len();
            depth += 1;
            for i in start..end {
                let m = queue[i];
                let mut visit = |x: NodeId, kind: RelKind| {
                    if s.seen[x as usize] != stamp {
                        s.seen[x as usize] = stamp;
                        queue.push(x);
                        out.push(Reached {
                            node: x,
                            via: m,
                            kind,
                            depth,
                        });
                    }
                };
                self.for_each_out(m, |x, k| {
                    if is_dep_byte(k) {
                        visit(x, KINDS[k as usize]);
                    }
                });
                self.for_each_in(m, |x, k| {
                    if k == K_MEMBER {
                        visit(x, RelKind::MemberOf);
                    }
                });
                let dm = meta.dist(m);
                for &c in meta.neighbours(m) {
                    if meta.dist(c) < dm {
                        visit(c, RelKind::ConnectedTo);
                    }
                }
            }
            start = end;
        }
        s.queue = queue;
        out.sort_unstable_by_key(|r| (r.depth, r.node));
        out
    }

    /// The floor the benchmark compares against: a plain breadth-first search from `failed` over
    /// the reverse impact edges (for each reached m: every n with n
    /// -depends_on/runs_on/hosted_on/powered_by-> m, every group g with m -member_of-> g, every
    /// connected_to neighbour), over the same adjacency arrays, with no states, paths, redundancy
    /// or reachability; returns the number of nodes reached (`failed` included).
    pub fn plain_bfs(&self, failed: &[NodeId]) -> usize {
        let mut guard = self.pool.take();
        let s = &mut guard.scratch;
        // The same visited structure as `impact`: a bitset cleared from the queue afterwards.
        let n = self.id_bound();
        if s.plain_seen.0.len() < n.div_ceil(64) {
            s.plain_seen.resize(n);
        }
        let mut queue = std::mem::take(&mut s.queue);
        queue.clear();
        let seen = &mut s.plain_seen;
        for &f in failed {
            if self.contains(f) && !seen.get(f) {
                seen.set(f);
                queue.push(f);
            }
        }
        let mut i = 0;
        while i < queue.len() {
            let m = queue[i];
            i += 1;
            // Network neighbours from the same two scans, as in `impact`.
            self.for_each_in(m, |x, k| {
                if (is_dep_byte(k) || k == K_CONNECTED) && !seen.get(x) {
                    seen.set(x);
                    queue.push(x);
                }
            });
            self.for_each_out(m, |x, k| {
                if (k == K_MEMBER || k == K_CONNECTED) && !seen.get(x) {
                    seen.set(x);
                    queue.push(x);
                }
            });
        }
        let reached = queue.len();
        if reached > seen.0.len() {
            seen.zero();
        } else {
            for &x in &queue {
                seen.clear(x);
            }
        }
        queue.clear();
        s.queue = queue;
        reached
    }
}

/// Phase 1: the down set, level by level, interleaved with reachability checks.
fn down_phase(g: &GraphIndex, meta: &NetMeta, s: &mut Scratch, failed: &[NodeId], horizon: u32) {
    for &f in failed {
        if g.contains(f) && !s.down.get(f) {
            s.mark_down(meta, f, 0, NONE, C_FAILED);
        }
    }
    let mut t = 0usize;
    while t < s.nlevels {
        // In id order: ids follow the paths failure travels (see `GraphIndex::build`), so the
        // scans below then sweep the adjacency arrays forwards instead of jumping around, which
        // on a large estate is most of the cost. The result wants this order anyway.
        let mut cur = std::mem::take(&mut s.levels[t]);
        cur.sort_unstable_by_key(|r| r.node);
        if (t as u32) < horizon {
            for r in &cur {
                expand_down(g, meta, s, r.node, t as u32);
            }
        }
        s.levels[t] = cur;
        if !s.cands.is_empty() {
            check_reachability(meta, s, horizon, t as u32);
        }
        t += 1;
    }
}

/// Propagates the failure of `m` (at depth `t`) one step. Network neighbours come from the same
/// two scans as everything else (a link is stored once, in one direction), which saves a random
/// read of the network arrays for every CI that is not on the network.
#[inline]
fn expand_down(g: &GraphIndex, meta: &NetMeta, s: &mut Scratch, m: NodeId, t: u32) {
    let d1 = t + 1;
    g.for_each_in(m, |x, k| {
        if is_dep_byte(k) {
            if !s.down.get(x) {
                s.mark_down(meta, x, d1, m, k);
            }
        } else if k == K_CONNECTED {
            lost_link(s, x, m, d1);
        }
    });
    g.for_each_out(m, |x, k| {
        if k == K_MEMBER {
            group_lost_member(g, meta, s, x, m, d1);
        } else if k == K_CONNECTED {
            lost_link(s, x, m, d1);
        }
    });
}

/// `grp` lost member `m`, down at depth `d1 - 1`.
#[inline]
fn group_lost_member(
    g: &GraphIndex,
    meta: &NetMeta,
    s: &mut Scratch,
    grp: NodeId,
    m: NodeId,
    d1: u32,
) {
    s.ensure_counted(g, grp);
    let slack = &mut s.slack[grp as usize];
    *slack -= 1;
    let below = *slack < 0;
    if s.down.get(grp) {
        return;
    }
    if below {
        s.mark_down(meta, grp, d1, m, C_GROUP);
    } else {
        s.seed(grp, d1, m, C_GROUP);
    }
}

/// Network neighbour `c` of `m`, down at depth `d1 - 1`: a reachability candidate, and degraded
/// (lost link) unless it goes down too.
#[inline]
fn lost_link(s: &mut Scratch, c: NodeId, m: NodeId, d1: u32) {
    if s.down.get(c) {
        return;
    }
    if s.flags(c) & F_CAND == 0 {
        s.cands.push(c);
        s.set_flags(c, F_CAND);
    }
    s.seed(c, d1, m, C_LOSTLINK);
}

/// Down or beyond the horizon: a dead end for the reachability search.
#[inline]
fn blocked(s: &Scratch, n: NodeId) -> bool {
    s.down.get(n) || s.flags(n) & F_BEYOND != 0
}

/// Classifies the reachability candidates against the current down set: safe, or cut off (then
/// marked down with their depths). `t` is the level just expanded.
fn check_reachability(meta: &NetMeta, s: &mut Scratch, horizon: u32, t: u32) {
    let mut cands = std::mem::take(&mut s.cands);
    // Stamps above `round` mark CIs visited in this round: safe unless down or beyond the horizon
    // (a failed search marks all it visited as one or the other).
    let needed = u32::try_from(cands.len() + 2).unwrap_or(u32::MAX);
    if s.net_stamp > u32::MAX - needed {
        s.net_mark.fill(0);
        s.net_stamp = 0;
    }
    let round = s.net_stamp;
    let mut buckets = std::mem::take(&mut s.buckets);
    for &c in &cands {
        s.clear_flags(c, F_CAND);
        if blocked(s, c) || s.net_mark[c as usize] > round {
            continue;
        }
        s.net_stamp += 1;
        let stamp = s.net_stamp;
        let mut q = Buckets {
            b: &mut buckets,
            lo: 0,
            hi: 0,
        };
        let safe = search(meta, s, &mut q, c, stamp, round);
        q.clear();
        if !safe {
            cut_off(meta, s, stamp, horizon, t);
        }
    }
    cands.clear();
    s.cands = cands;
    s.buckets = buckets;
}

/// Best-first search from `c` towards a core over CIs not down; true when it reaches a core or a
/// CI already proven safe this round. Visited CIs are stamped and listed in `s.visited`.
fn search(
    meta: &NetMeta,
    s: &mut Scratch,
    q: &mut Buckets<'_>,
    c: NodeId,
    stamp: u32,
    round: u32,
) -> bool {
    s.visited.clear();
    s.net_mark[c as usize] = stamp;
    s.visited.push(c);
    let dc = meta.dist(c);
    // A component without a core (impossible with the effective core set) is never cut off.
    if dc == 0 || dc == NONE {
        return true;
    }
    q.push(dc, c);
    while let Some(x) = q.pop() {
        for &y in meta.neighbours(x) {
            let mark = s.net_mark[y as usize];
            if mark == stamp || blocked(s, y) {
                continue;
            }
            let dy = meta.dist(y);
            if mark > round || dy == 0 {
                return true;
            }
            s.net_mark[y as usize] = stamp;
            s.visited.push(y);
            q.push(dy, y);
        }
    }
    false
}

/// Marks the segment in `s.visited` (a whole component of the network minus the down CIs, with
/// no core) as cut off. Depths run from the failure that completed the cut, the deepest down
/// neighbour of the segment, one hop per step inside it.
fn cut_off(meta: &NetMeta, s: &mut Scratch, stamp: u32, horizon: u32, t: u32) {
    let region = std::mem::take(&mut s.visited);
    let mut last = 0u32;
    for &x in &region {
        for &y in meta.neighbours(x) {
            if s.down.get(y) {
                last = last.max(s.depth(y));
            }
        }
    }
    // The cut was completed by a CI marked while expanding level `t`, or earlier in a level
    // whose check did not reach this segment; either way the segment starts after level `t`, so
    // the level-ordered propagation stays monotone.
    debug_assert!(
        last >= t,
        "cut completed at depth {last} found after level {t}"
    );
    let mut queue = std::mem::take(&mut s.queue);
    queue.clear();
    let assign = |s: &mut Scratch, x: NodeId, depth: u32, via: NodeId| {
        if depth <= horizon {
            s.mark_down(meta, x, depth, via, C_CUTOFF);
        } else {
            s.set_flags(x, F_BEYOND);
            s.set_depth(x, depth);
        }
    };
    for &x in &region {
        let via = meta
            .neighbours(x)
            .iter()
            .copied()
            .find(|&y| s.down.get(y) && s.depth(y) == last);
        if let Some(y) = via {
            assign(s, x, last + 1, y);
            queue.push(x);
        }
    }
    let mut i = 0;
    while i < queue.len() {
        let x = queue[i];
        i += 1;
        let dx = s.depth(x);
        for &y in meta.neighbours(x) {
            if s.net_mark[y as usize] == stamp && !blocked(s, y) {
                assign(s, y, dx + 1, x);
                queue.push(y);
            }
        }
    }
    s.queue = queue;
    s.visited = region;
}

/// Phase 2: degraded CIs, from the seeds of phase 1 (shallowest first) and then breadth-first.
fn degraded_phase(g: &GraphIndex, s: &mut Scratch, horizon: u32) {
    let seeds = std::mem::take(&mut s.seeds);
    debug_assert!(seeds.windows(2).all(|w| w[0].depth <= w[1].depth));
    let Some(first) = seeds.first() else {
        s.seeds = seeds;
        return;
    };
    let mut t = first.depth as usize;
    let mut si = 0;
    loop {
        while si < seeds.len() && seeds[si].depth as usize == t {
            let sd = seeds[si];
            si += 1;
            if !s.down.get(sd.node) && !s.degraded.get(sd.node) {
                s.mark_degraded(sd.node, sd.depth, sd.via, sd.cause);
            }
        }
        if t < s.ndlevels {
            let mut cur = std::mem::take(&mut s.dlevels[t]);
            cur.sort_unstable_by_key(|r| r.node);
            if (t as u32) < horizon {
                for r in &cur {
                    expand_degraded(g, s, r.node, t as u32);
                }
            }
            s.dlevels[t] = cur;
        }
        t += 1;
        if si >= seeds.len() && t >= s.ndlevels {
            break;
        }
    }
    s.seeds = seeds;
}

/// Propagates the degradation of `m` (at depth `t`) one step.
#[inline]
fn expand_degraded(g: &GraphIndex, s: &mut Scratch, m: NodeId, t: u32) {
    let d1 = t + 1;
    g.for_each_in(m, |x, k| {
        if is_dep_byte(k) && !s.down.get(x) && !s.degraded.get(x) {
            s.mark_degraded(x, d1, m, k);
        }
    });
    g.for_each_out(m, |grp, k| {
        if k == K_MEMBER && !s.down.get(grp) && !s.degraded.get(grp) {
            s.ensure_counted(g, grp);
            s.mark_degraded(grp, d1, m, C_GROUP);
        }
    });
}

/// Builds the result from the level lists, sorted by (depth, node).
fn collect(g: &GraphIndex, s: &mut Scratch) -> ImpactResult {
    let depths = s.nlevels.max(s.ndlevels);
    let total: usize = s.levels[..s.nlevels].iter().map(Vec::len).sum::<usize>()
        + s.dlevels[..s.ndlevels].iter().map(Vec::len).sum::<usize>();
    let mut affected = Vec::with_capacity(total);
    let mut business = Vec::new();
    let mut level = std::mem::take(&mut s.sorted);
    for t in 0..depths {
        // Both lists are sorted by node (the phases sort each level before expanding it).
        level.clear();
        let down: &[Rec] = s
            .levels
            .get(t)
            .filter(|_| t < s.nlevels)
            .map_or(&[], Vec::as_slice);
        let degraded: &[Rec] = s
            .dlevels
            .get(t)
            .filter(|_| t < s.ndlevels)
            .map_or(&[], Vec::as_slice);
        let (mut i, mut j) = (0, 0);
        while i < down.len() || j < degraded.len() {
            if j == degraded.len() || (i < down.len() && down[i].node < degraded[j].node) {
                level.push(down[i]);
                i += 1;
            } else {
                level.push(degraded[j]);
                j += 1;
            }
        }
        for r in &level {
            let cause = match r.cause {
                C_FAILED => Cause::Failed,
                C_GROUP => {
                    let (_, quorum) = g.group_size(r.node);
                    let up = i64::from(quorum) + i64::from(s.slack[r.node as usize]);
                    Cause::Group {
                        up: up.max(0) as u32,
                        min_up: quorum,
                    }
                }
                C_CUTOFF => Cause::CutOff,
                C_LOSTLINK => Cause::LostLink,
                k => Cause::Dependency(KINDS[usize::from(k) % KINDS.len()]),
            };
            affected.push(Affected {
                node: r.node,
                state: if r.down { State::Down } else { State::Degraded },
                cause,
                via: (r.via != NONE).then_some(r.via),
                depth: t as u32,
            });
            if g.is_business(r.node) {
                business.push(r.node);
            }
        }
    }
    level.clear();
    s.sorted = level;
    let n = g.id_bound();
    let lookup = if total >= n / 64 {
        let mut pos = vec![NONE; n];
        for (i, a) in affected.iter().enumerate() {
            pos[a.node as usize] = i as u32;
        }
        Lookup::Dense(pos)
    } else {
        let mut pairs: Vec<(NodeId, u32)> = affected
            .iter()
            .enumerate()
            .map(|(i, a)| (a.node, i as u32))
            .collect();
        pairs.sort_unstable();
        Lookup::Sparse(pairs)
    };
    ImpactResult {
        affected,
        lookup,
        business,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::synth::Rng;
    use crate::{NodeAttrs, reference};

    /// Checks that two indexes answer the same impact queries (by key) on random failed sets.
    pub(crate) fn assert_same_impacts(
        a: &GraphIndex,
        b: &GraphIndex,
        rng: &mut Rng,
        queries: usize,
    ) {
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

    use State::{Degraded as G, Down as D};

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
                    }
                }
                Cause::CutOff => {
                    assert!(meta.neighbours(a.node).contains(&v), "{a:?}");
                    assert_eq!(a.state, State::Down);
                    assert_eq!(via.state, State::Down);
                }
                Cause::LostLink => {
                    assert!(meta.neighbours(a.node).contains(&v), "{a:?}");
                    assert_eq!(a.state, State::Degraded);
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
        assert_eq!(r.count(State::Down) + r.count(State::Degraded), aff.len());
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
        assert_eq!(r["dual"], (G, "lost_link", "sw2".into(), 1));
        assert_eq!(r["vm"], (G, "hosted_on", "dual".into(), 2));
        assert_eq!(
            r.get("core").map(|x| x.1),
            Some("lost_link"),
            "the core lost a link too"
        );
        assert_eq!(r.len(), 4);
        let r = by_key(&g, &["sw1", "sw2"], None);
        assert_eq!(r["dual"].0, D);
        assert_eq!(r["dual"].1, "cut_off");
        assert_eq!(r["vm"].0, D);
        assert_eq!(r["single"].0, D);
        assert_eq!(r["vm2"].0, D);
        assert_eq!(r["core"].0, G);
    }

    #[test]
    fn a_cut_off_access_switch_takes_its_single_homed_hosts_down() {
        let g = small_network();
        let r = by_key(&g, &["sw1"], None);
        assert_eq!(r["single"], (D, "cut_off", "sw1".into(), 1));
        assert_eq!(r["vm2"], (D, "hosted_on", "single".into(), 2));
        assert_eq!(r["dual"], (G, "lost_link", "sw1".into(), 1));
        assert_eq!(r["vm"], (G, "hosted_on", "dual".into(), 2));
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
        assert_eq!(r["core"], (G, "lost_link", "a".into(), 1));
        // A horizon of 2 reports b and c only.
        let r = states(&g, &["a"], Some(2));
        assert_eq!(r, expect(&[("a", D), ("b", D), ("c", D), ("core", G)]));
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
            expect(&[("a", D), ("b", G), ("d", G)])
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
            expect(&[("a", D), ("b", D), ("c", G)])
        );
        // With a declared core at a, losing b cuts off c, d and e instead.
        let g = GraphIndex::build([core("a")], edges);
        assert_eq!(
            states(&g, &["b"], None),
            expect(&[("a", G), ("b", D), ("c", D), ("d", D), ("e", D)])
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
        {
            let mut free = g.pool.free.lock().expect("pool");
            let s = free.first_mut().expect("a pooled scratch");
            s.generation = MAX_GEN;
            s.net_stamp = u32::MAX - 1;
            s.seen_gen = u32::MAX;
        }
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
}
