//! Impact analysis over the index: [`GraphIndex::impact`], [`GraphIndex::dependencies`] and the
//! benchmark floor [`GraphIndex::plain_bfs`].
//!
//! Every query runs in a `Scratch` taken from the index's pool (`scratch.rs`): per-node bitsets
//! and arrays sized to the index, which a query touches only at the CIs it reaches and clears
//! (or outdates by a generation stamp) afterwards, so a small query on a large estate stays
//! small. Affected CIs are appended to per-depth lists, each sorted by id before it is expanded:
//! ids follow the paths failure travels (see [`GraphIndex::build`]), so a big query sweeps the
//! adjacency arrays forwards. On a million-CI estate the cost is memory latency, and these
//! choices are what keep the whole-estate query within a small factor of a bare breadth-first
//! search.
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
//! 2. Degraded: seeds recorded during phase 1 (groups that lost a member but not their quorum),
//!    then a breadth-first propagation over reverse dependency edges and `member_of` edges among
//!    CIs that are not down. The live network neighbours of down CIs, also recorded in phase 1,
//!    are at risk unless this phase finds them degraded; they propagate nothing.
//! 3. At risk, counted: every business service above an at-risk CI (over reverse dependency
//!    edges and `member_of`) learns how many at-risk CIs it depends on, by one upward sweep from
//!    the at-risk set and then one downward walk from each business service it reached.
//!
//! The unit tests are in `impact/tests.rs`.

use crate::index::GraphIndex;
use crate::network::NetMeta;
use crate::scratch::{Buckets, Rec, Scratch};
use crate::{K_CONNECTED, K_MEMBER, NONE, NodeId, RelKind, is_dep_byte};

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
    /// Working with reduced capacity (a group that lost members but kept its quorum), or
    /// depending on something that is.
    Degraded,
    /// Fully working but with redundancy lost: a network CI that lost a link and still reaches
    /// the core. Nothing above it inherits this state; business services above it count it
    /// instead ([`ImpactResult::services_at_risk`]).
    AtRisk,
}

impl State {
    /// The wire name: `down` / `degraded` / `at_risk`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Down => "down",
            State::Degraded => "degraded",
            State::AtRisk => "at_risk",
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
    /// Still reachable but a connected_to neighbour (`via`) is down (at risk).
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
    /// Down, degraded or at risk.
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
    at_risk_below: Vec<(NodeId, u32)>,
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

    /// Business services with at-risk CIs below them (over dependency and `member_of` edges),
    /// with how many: whatever their own state, by node id. An at-risk CI counts once per
    /// business service however many paths lead to it.
    pub fn services_at_risk(&self) -> &[(NodeId, u32)] {
        &self.at_risk_below
    }

    /// Number of affected CIs in `state`.
    pub fn count(&self, state: State) -> usize {
        self.affected.iter().filter(|a| a.state == state).count()
    }
}

// Flags of network CIs in a query (bits 32..40 of a scratch tag).
/// In the reachability candidate list.
const F_CAND: u8 = 1;
/// In a cut-off segment but deeper than the horizon: neither down nor searchable.
const F_BEYOND: u8 = 2;

// Cause codes; relationship kinds use their own code (0..=5).
const C_FAILED: u8 = 6;
const C_GROUP: u8 = 7;
const C_CUTOFF: u8 = 8;
const C_LOSTLINK: u8 = 9;

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
        let mut result = collect(self, s);
        s.end_impact();
        result.at_risk_below = count_at_risk(self, s, &result.affected);
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
        if s.plain_seen.words() < n.div_ceil(64) {
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
        if reached > seen.words() {
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
    s.ensure_counted(grp, || g.group_size(grp));
    let slack = &mut s.slack[grp as usize];
    *slack -= 1;
    let below = *slack < 0;
    if s.down.get(grp) {
        return;
    }
    if below {
        s.mark_down(meta, grp, d1, m, C_GROUP);
    } else {
        s.seed(grp, d1, m, C_GROUP, false);
    }
}

/// Network neighbour `c` of `m`, down at depth `d1 - 1`: a reachability candidate, and at risk
/// (lost link) unless it goes down or is degraded by something else.
#[inline]
fn lost_link(s: &mut Scratch, c: NodeId, m: NodeId, d1: u32) {
    if s.down.get(c) {
        return;
    }
    if s.flags(c) & F_CAND == 0 {
        s.cands.push(c);
        s.set_flags(c, F_CAND);
    }
    s.seed(c, d1, m, C_LOSTLINK, true);
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
        let mut q = Buckets::new(&mut buckets);
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
/// Lost-link seeds are set aside as at risk; the ones this phase degrades anyway are dropped at
/// the end (degraded wins).
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
                if sd.cause == C_LOSTLINK {
                    s.at_risk.push(sd);
                } else {
                    s.mark_degraded(sd.node, sd.depth, sd.via, sd.cause);
                }
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
    let mut at_risk = std::mem::take(&mut s.at_risk);
    at_risk.retain(|sd| !s.degraded.get(sd.node));
    at_risk.sort_unstable_by_key(|sd| (sd.depth, sd.node));
    s.at_risk = at_risk;
}

/// Phase 3: for every business service above an at-risk CI, how many at-risk CIs it depends on
/// (`affected` is the collected result, which holds the at-risk CIs).
///
/// The upward sweep marks the CIs above some at-risk CI (`plain_seen`); every CI on a path from
/// a service down to an at-risk CI is among them, so each service's downward walk stays inside
/// that set instead of walking the service's whole dependency closure (which on a large estate
/// holds shared clusters of tens of thousands of instances).
fn count_at_risk(g: &GraphIndex, s: &mut Scratch, affected: &[Affected]) -> Vec<(NodeId, u32)> {
    let mut risky: Vec<NodeId> = affected
        .iter()
        .filter(|a| a.state == State::AtRisk)
        .map(|a| a.node)
        .collect();
    if risky.is_empty() {
        return Vec::new();
    }
    risky.sort_unstable();
    let n = g.id_bound();
    if s.plain_seen.words() < n.div_ceil(64) {
        s.plain_seen.resize(n);
    }
    let mut above = std::mem::take(&mut s.visited);
    above.clear();
    for &r in &risky {
        s.plain_seen.set(r);
        above.push(r);
    }
    let mut services = Vec::new();
    let mut i = 0;
    while i < above.len() {
        let m = above[i];
        i += 1;
        if g.is_business(m) {
            services.push(m);
        }
        let marked = &mut s.plain_seen;
        let mut up = |x: NodeId| {
            if !marked.get(x) {
                marked.set(x);
                above.push(x);
            }
        };
        g.for_each_in(m, |x, k| {
            if is_dep_byte(k) {
                up(x);
            }
        });
        g.for_each_out(m, |x, k| {
            if k == K_MEMBER {
                up(x);
            }
        });
    }
    services.sort_unstable();
    let mut out = Vec::with_capacity(services.len());
    let mut queue = std::mem::take(&mut s.queue);
    for &b in &services {
        let stamp = s.begin_seen(n);
        queue.clear();
        s.seen[b as usize] = stamp;
        queue.push(b);
        let mut count = 0u32;
        let mut i = 0;
        while i < queue.len() {
            let m = queue[i];
            i += 1;
            if risky.binary_search(&m).is_ok() {
                count += 1;
            }
            let (seen, marked) = (&mut s.seen, &s.plain_seen);
            let mut down = |x: NodeId| {
                if marked.get(x) && seen[x as usize] != stamp {
                    seen[x as usize] = stamp;
                    queue.push(x);
                }
            };
            g.for_each_out(m, |x, k| {
                if is_dep_byte(k) {
                    down(x);
                }
            });
            g.for_each_in(m, |x, k| {
                if k == K_MEMBER {
                    down(x);
                }
            });
        }
        out.push((b, count));
    }
    queue.clear();
    s.queue = queue;
    for &x in &above {
        s.plain_seen.clear(x);
    }
    above.clear();
    s.visited = above;
    out
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
            s.ensure_counted(grp, || g.group_size(grp));
            s.mark_degraded(grp, d1, m, C_GROUP);
        }
    });
}

/// Builds the result from the level lists, sorted by (depth, node).
fn collect(g: &GraphIndex, s: &mut Scratch) -> ImpactResult {
    let depths = s.nlevels.max(s.ndlevels);
    let at_risk = std::mem::take(&mut s.at_risk);
    let depths = depths.max(at_risk.last().map_or(0, |sd| sd.depth as usize + 1));
    let total: usize = s.levels[..s.nlevels].iter().map(Vec::len).sum::<usize>()
        + s.dlevels[..s.ndlevels].iter().map(Vec::len).sum::<usize>()
        + at_risk.len();
    let mut ai = 0;
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
        let from = ai;
        while ai < at_risk.len() && at_risk[ai].depth as usize == t {
            let sd = at_risk[ai];
            level.push(Rec {
                node: sd.node,
                via: sd.via,
                cause: sd.cause,
                down: false,
            });
            ai += 1;
        }
        if ai > from {
            level.sort_unstable_by_key(|r| r.node);
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
                state: if r.down {
                    State::Down
                } else if r.cause == C_LOSTLINK {
                    State::AtRisk
                } else {
                    State::Degraded
                },
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
    let mut at_risk = at_risk;
    at_risk.clear();
    s.at_risk = at_risk;
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
        at_risk_below: Vec::new(),
    }
}

#[cfg(test)]
pub(crate) mod tests;
