//! Scratch memory of the queries in `impact.rs`: the reusable per-node buffers that
//! [`GraphIndex::impact`](crate::GraphIndex::impact), `dependencies` and `plain_bfs` run in, and
//! the pool the index keeps them in.
//!
//! A `Scratch` holds bitsets and arrays sized to the index (down, degraded, group counts,
//! generation-stamped tags of network CIs, visited stamps) plus the per-depth lists a query
//! appends affected CIs to. A query touches them only at the CIs it reaches and clears them (or
//! outdates them by a stamp) afterwards, so a small query on a large estate stays small. The
//! index owns a `ScratchPool`; a query takes a scratch from it and the guard puts it back. This
//! module knows the network metadata (network CIs record their depth) but not the index or the
//! query algorithms, so `index.rs` can own the pool without depending on `impact.rs`.

use std::sync::{Mutex, PoisonError};

use crate::NodeId;
use crate::network::NetMeta;

/// A tag is `generation << 40 | flags << 32 | depth`.
const GEN_SHIFT: u32 = 40;
const MAX_GEN: u64 = (1 << (64 - GEN_SHIFT)) - 1;

/// One affected CI in a level list; its depth is the list's.
#[derive(Clone, Copy)]
pub(crate) struct Rec {
    pub(crate) node: NodeId,
    pub(crate) via: NodeId,
    /// A cause code of `impact.rs`, or the kind byte of the relationship followed.
    pub(crate) cause: u8,
    pub(crate) down: bool,
}

/// A degraded candidate found during the down phase.
#[derive(Clone, Copy)]
pub(crate) struct Seed {
    pub(crate) depth: u32,
    pub(crate) node: NodeId,
    pub(crate) via: NodeId,
    pub(crate) cause: u8,
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
pub(crate) struct Bits(Vec<u64>);

impl Bits {
    #[inline]
    pub(crate) fn get(&self, n: NodeId) -> bool {
        (self.0[n as usize >> 6] >> (n & 63)) & 1 != 0
    }

    #[inline]
    pub(crate) fn set(&mut self, n: NodeId) {
        self.0[n as usize >> 6] |= 1 << (n & 63);
    }

    #[inline]
    pub(crate) fn clear(&mut self, n: NodeId) {
        self.0[n as usize >> 6] &= !(1 << (n & 63));
    }

    pub(crate) fn resize(&mut self, n: usize) {
        grow(&mut self.0, n.div_ceil(64));
    }

    pub(crate) fn zero(&mut self) {
        self.0.fill(0);
    }

    /// Words in use: the bitset covers `64 * words()` nodes.
    #[inline]
    pub(crate) fn words(&self) -> usize {
        self.0.len()
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
    pub(crate) down: Bits,
    pub(crate) degraded: Bits,
    /// `slack` holds the group's count.
    counted: Bits,
    /// A degraded seed was recorded (the first is the shallowest).
    seeded: Bits,
    /// A lost-link seed was recorded: kept apart, so a group that also lost a member still
    /// gets its (degraded) seed.
    seeded_link: Bits,
    counted_list: Vec<NodeId>,
    /// Groups: members not down minus the quorum; the group is down below zero.
    pub(crate) slack: Vec<i32>,
    generation: u64,
    /// Network CIs: `generation << 40 | flags << 32 | depth`.
    tags: Vec<u64>,
    /// Reachability search stamps (see `check_reachability` in `impact.rs`).
    pub(crate) net_stamp: u32,
    pub(crate) net_mark: Vec<u32>,
    /// Visited set of `plain_bfs`, cleared from its queue after each search.
    pub(crate) plain_seen: Bits,
    /// Visited stamps of `dependencies`.
    seen_gen: u32,
    pub(crate) seen: Vec<u32>,
    /// Down CIs by depth; `nlevels` are in use.
    pub(crate) levels: Vec<Vec<Rec>>,
    pub(crate) nlevels: usize,
    /// Degraded CIs by depth; `ndlevels` are in use.
    pub(crate) dlevels: Vec<Vec<Rec>>,
    pub(crate) ndlevels: usize,
    pub(crate) seeds: Vec<Seed>,
    /// Lost-link seeds neither down nor degraded, by (depth, node) once the degraded phase ends.
    pub(crate) at_risk: Vec<Seed>,
    pub(crate) cands: Vec<NodeId>,
    pub(crate) visited: Vec<NodeId>,
    pub(crate) buckets: Vec<Vec<NodeId>>,
    pub(crate) queue: Vec<NodeId>,
    pub(crate) sorted: Vec<Rec>,
}

impl Scratch {
    pub(crate) fn begin_impact(&mut self, n: usize) {
        if self.tags.len() < n {
            grow(&mut self.tags, n);
            grow(&mut self.slack, n);
            grow(&mut self.net_mark, n);
            for b in [
                &mut self.down,
                &mut self.degraded,
                &mut self.counted,
                &mut self.seeded,
                &mut self.seeded_link,
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
                &mut self.seeded_link,
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
    pub(crate) fn end_impact(&mut self) {
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
                &mut self.seeded_link,
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
                self.seeded_link.clear(s.node);
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
        self.at_risk.clear();
        self.cands.clear();
        self.counted_list.clear();
    }

    pub(crate) fn begin_seen(&mut self, n: usize) -> u32 {
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
    pub(crate) fn flags(&self, n: NodeId) -> u8 {
        (self.tag(n) >> 32) as u8
    }

    /// Depth of a network CI that is down or beyond the horizon.
    #[inline]
    pub(crate) fn depth(&self, n: NodeId) -> u32 {
        self.tags[n as usize] as u32
    }

    #[inline]
    pub(crate) fn set_flags(&mut self, n: NodeId, f: u8) {
        let t = self.tag(n);
        self.tags[n as usize] = t | (u64::from(f) << 32);
    }

    #[inline]
    pub(crate) fn clear_flags(&mut self, n: NodeId, f: u8) {
        let t = self.tag(n);
        self.tags[n as usize] = t & !(u64::from(f) << 32);
    }

    /// Records the depth of network CI `n`.
    #[inline]
    pub(crate) fn set_depth(&mut self, n: NodeId, depth: u32) {
        let t = self.tag(n);
        self.tags[n as usize] = (t & !0xFFFF_FFFF) | u64::from(depth);
    }

    /// Marks `n` down at `depth` because of `via`.
    #[inline]
    pub(crate) fn mark_down(
        &mut self,
        meta: &NetMeta,
        n: NodeId,
        depth: u32,
        via: NodeId,
        cause: u8,
    ) {
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
    pub(crate) fn mark_degraded(&mut self, n: NodeId, depth: u32, via: NodeId, cause: u8) {
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

    /// Loads the count of `grp` on first touch; `size` gives its (members, quorum).
    #[inline]
    pub(crate) fn ensure_counted(&mut self, grp: NodeId, size: impl FnOnce() -> (u32, u32)) {
        if !self.counted.get(grp) {
            let (members, quorum) = size();
            self.slack[grp as usize] = (members - quorum) as i32;
            self.counted.set(grp);
            self.counted_list.push(grp);
        }
    }

    /// Records a seed unless `n` has one of its sort (the first is the shallowest); `link` sorts
    /// lost-link seeds apart from degraded ones.
    #[inline]
    pub(crate) fn seed(&mut self, n: NodeId, depth: u32, via: NodeId, cause: u8, link: bool) {
        let bits = if link {
            &mut self.seeded_link
        } else {
            &mut self.seeded
        };
        if !bits.get(n) {
            bits.set(n);
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
    pub(crate) fn take(&self) -> PoolGuard<'_> {
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
pub(crate) struct PoolGuard<'a> {
    pool: &'a ScratchPool,
    pub(crate) scratch: Scratch,
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
pub(crate) struct Buckets<'a> {
    b: &'a mut Vec<Vec<NodeId>>,
    lo: usize,
    hi: usize,
}

impl<'a> Buckets<'a> {
    /// An empty queue over the (cleared) bucket lists `b`.
    #[inline]
    pub(crate) fn new(b: &'a mut Vec<Vec<NodeId>>) -> Self {
        Buckets { b, lo: 0, hi: 0 }
    }

    #[inline]
    pub(crate) fn push(&mut self, key: u32, n: NodeId) {
        let k = key as usize;
        if self.b.len() <= k {
            self.b.resize_with(k + 1, Vec::new);
        }
        self.b[k].push(n);
        self.lo = self.lo.min(k);
        self.hi = self.hi.max(k + 1);
    }

    #[inline]
    pub(crate) fn pop(&mut self) -> Option<NodeId> {
        while self.lo < self.hi {
            if let Some(n) = self.b[self.lo].pop() {
                return Some(n);
            }
            self.lo += 1;
        }
        None
    }

    pub(crate) fn clear(&mut self) {
        for l in &mut self.b[..self.hi] {
            l.clear();
        }
        self.lo = 0;
        self.hi = 0;
    }
}

#[cfg(test)]
impl ScratchPool {
    /// Moves the generation and both stamps of the first pooled scratch to the edge of
    /// wrapping around, so the next queries exercise the wrap (a test hook).
    pub(crate) fn age_stamps(&self) {
        let mut free = self.free.lock().expect("pool");
        let s = free.first_mut().expect("a pooled scratch");
        s.generation = MAX_GEN;
        s.net_stamp = u32::MAX - 1;
        s.seen_gen = u32::MAX;
    }
}
