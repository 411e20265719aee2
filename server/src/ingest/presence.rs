//! Presence: when each agent and each polled device was last heard from.
//!
//! A report that changes nothing costs no write: its "last seen" time is coalesced here, in
//! memory, and written in batches by [`super::Ingestor::flush_last_seen`] every
//! `lifecycle.last_seen_flush_secs` and at shutdown. A failed flush puts the times back for
//! the next attempt, unless newer ones arrived meanwhile.
//!
//! An agent's record and its CI's take a new time only once it has moved
//! `lifecycle.last_seen_write_secs` (300 s) past the time last written there; later times
//! are held here meanwhile. Every metric batch (every 60 s an agent) is a sign of life, and a
//! CI record holds every package key of its host: rewriting both for each one was most of a
//! steady fleet's database writes, took seconds of every flush at 20,000 agents, and filled
//! SurrealKV's memtables fast enough to stall requests on their flushes. What the API shows
//! is the latest time all the same: the CI catalogue takes every flush, and the agent list
//! asks [`Presence::latest`]. A stopping server writes the times held back; a crash loses at
//! most that much of a last-seen time.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Mutex;

use super::lock_or_recover;
use crate::storage::LastSeen;

/// Coalesced last-seen times, not yet written.
#[derive(Debug, Default)]
pub(super) struct Presence {
    /// By agent key.
    agents: Mutex<HashMap<String, LastSeen>>,
    /// Device CIs (they have no agent of their own): CI key → time.
    devices: Mutex<HashMap<String, String>>,
    /// Reports each agent's spool has dropped, as it last said (bounded: by agent key).
    dropped: Mutex<HashMap<String, u64>>,
    /// By agent key: when its last-seen time was last written, and a later one held back
    /// (bounded: emptied past [`MAX_WRITTEN`], which costs one write an agent).
    written: Mutex<HashMap<String, Written>>,
}

/// Most agents [`Presence`] remembers the written last-seen time of.
const MAX_WRITTEN: usize = 2_000_000;

/// An agent's written and held-back last-seen times (see [`Presence`]).
#[derive(Debug)]
struct Written {
    /// When the time written last was, in seconds.
    at: i64,
    /// A later time not written yet.
    held: Option<LastSeen>,
}

/// Where in an interval of `every` seconds the first write of agent `agent` falls: 0 to
/// `every - 1`, spread by its key.
fn phase(agent: &str, every: i64) -> i64 {
    use std::hash::{BuildHasher, BuildHasherDefault};
    let h =
        BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(agent);
    i64::try_from(h % u64::try_from(every.max(1)).unwrap_or(1)).unwrap_or(0)
}

fn secs(t: &str) -> i64 {
    crate::domain::catalogue::seen_micros(t).div_euclid(1_000_000)
}

impl Presence {
    /// Records that `agent` (bound to `ci`) was heard from at `now`.
    pub(super) fn agent_seen(&self, agent: &str, ci: Option<&str>, version: &str, now: &str) {
        lock_or_recover(&self.agents).insert(
            agent.to_string(),
            LastSeen {
                agent_key: agent.to_string(),
                ci_key: ci.map(str::to_string),
                at: now.to_string(),
                agent_version: version.to_string(),
                write: true,
            },
        );
    }

    /// Records how many reports `agent`'s spool has dropped, ever (written with the next
    /// flush when it changed).
    pub(super) fn spool_dropped(&self, agent: &str, n: u64) {
        lock_or_recover(&self.dropped).insert(agent.to_string(), n);
    }

    /// Drains the dropped counts (for the flusher).
    pub(super) fn take_dropped(&self) -> Vec<(String, u64)> {
        lock_or_recover(&self.dropped).drain().collect()
    }

    /// Drops `agent`'s pending time (its CI write carried a fresher one).
    pub(super) fn agent_written(&self, agent: &str) {
        lock_or_recover(&self.agents).remove(agent);
    }

    /// Records that device CI `ci` was polled at `now`.
    pub(super) fn device_seen(&self, ci: &str, now: &str) {
        lock_or_recover(&self.devices).insert(ci.to_string(), now.to_string());
    }

    /// Drops device `ci`'s pending time (its CI write carried a fresher one).
    pub(super) fn device_written(&self, ci: &str) {
        lock_or_recover(&self.devices).remove(ci);
    }

    /// The latest last-seen time of an agent not written yet (pending or held back).
    pub(super) fn latest(&self, agent: &str) -> Option<String> {
        if let Some(l) = lock_or_recover(&self.agents).get(agent) {
            return Some(l.at.clone());
        }
        lock_or_recover(&self.written)
            .get(agent)
            .and_then(|w| w.held.as_ref())
            .map(|l| l.at.clone())
    }

    /// Records that a report's write gave `agent`'s records the last-seen time `at`.
    pub(super) fn report_written(&self, agent: &str, at: &str) {
        let t = secs(at);
        let mut written = lock_or_recover(&self.written);
        let w = written
            .entry(agent.to_string())
            .or_insert(Written { at: t, held: None });
        w.at = w.at.max(t);
    }

    /// Drains the agents' pending times (for the flusher).
    pub(super) fn take_agents(&self) -> Vec<LastSeen> {
        lock_or_recover(&self.agents)
            .drain()
            .map(|(_, v)| v)
            .collect()
    }

    /// Decides which of `items` a flush writes to storage (`write`): those whose time moved
    /// `every_secs` past the one written last (all, with `all` or `every_secs` 0); the others
    /// are held back (the catalogue still takes them). With `all`, the times held back for
    /// agents not heard since are added to `items`.
    pub(super) fn plan_writes(&self, items: &mut Vec<LastSeen>, every_secs: u64, all: bool) {
        let mut written = lock_or_recover(&self.written);
        if written.len() > MAX_WRITTEN {
            written.clear();
        }
        let every = i64::try_from(every_secs).unwrap_or(i64::MAX);
        for it in items.iter_mut() {
            if every == 0 || all {
                it.write = true;
                continue;
            }
            // An agent first heard of since the start counts as written at a time of its own
            // within the last interval, so a restarted server's fleet is written over one
            // interval, not all in the first minute.
            let t = secs(&it.at);
            let w = written
                .entry(it.agent_key.clone())
                .or_insert_with(|| Written {
                    at: t - phase(&it.agent_key, every),
                    held: None,
                });
            it.write = t - w.at >= every;
            if !it.write && w.held.as_ref().is_none_or(|h| h.at < it.at) {
                w.held = Some(it.clone());
            }
        }
        if all {
            let flushed: std::collections::HashSet<String> =
                items.iter().map(|it| it.agent_key.clone()).collect();
            for w in written.values_mut() {
                // An agent heard again is in `items` with a later time already.
                if let Some(mut h) = w.held.take()
                    && !flushed.contains(&h.agent_key)
                {
                    h.write = true;
                    items.push(h);
                }
            }
        }
    }

    /// Records the times a flush wrote (`items` with `write`).
    pub(super) fn flushed(&self, items: &[LastSeen]) {
        let mut written = lock_or_recover(&self.written);
        for it in items.iter().filter(|it| it.write) {
            let t = secs(&it.at);
            match written.entry(it.agent_key.clone()) {
                Entry::Occupied(mut e) => {
                    let w = e.get_mut();
                    w.at = w.at.max(t);
                    if w.held.as_ref().is_some_and(|h| h.at <= it.at) {
                        w.held = None;
                    }
                }
                Entry::Vacant(e) => {
                    e.insert(Written { at: t, held: None });
                }
            }
        }
    }

    /// Puts agents' times back after a failed flush, unless newer ones arrived.
    pub(super) fn restore_agents(&self, items: Vec<LastSeen>) {
        let mut hb = lock_or_recover(&self.agents);
        for it in items {
            hb.entry(it.agent_key.clone()).or_insert(it);
        }
    }

    /// Drains the devices' pending times (for the flusher): `(ci, time)`.
    pub(super) fn take_devices(&self) -> Vec<(String, String)> {
        lock_or_recover(&self.devices).drain().collect()
    }

    /// Puts device times back after a failed flush, unless newer ones arrived.
    pub(super) fn restore_devices(&self, items: Vec<(String, String)>) {
        let mut seen = lock_or_recover(&self.devices);
        for (ci, at) in items {
            seen.entry(ci).or_insert(at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(p: &Presence, agent: &str, at: &str) {
        p.agent_seen(agent, Some(&format!("c-{agent}")), "1", at);
    }

    /// Each agent flushed with whether it is written, by agent.
    fn plan(p: &Presence, every: u64, all: bool) -> Vec<(String, bool, String)> {
        let mut items = p.take_agents();
        p.plan_writes(&mut items, every, all);
        p.flushed(&items);
        items.sort_by(|a, b| a.agent_key.cmp(&b.agent_key));
        items
            .into_iter()
            .map(|i| (i.agent_key, i.write, i.at))
            .collect()
    }

    fn w(agent: &str, write: bool, at: &str) -> (String, bool, String) {
        (agent.into(), write, at.into())
    }

    #[test]
    fn times_are_written_once_they_moved_far_enough_and_all_of_them_at_a_stop() {
        let p = Presence::default();
        // Written by reports at 10:00.
        p.report_written("g1", "2026-12-01T10:00:00.000Z");
        p.report_written("g2", "2026-12-01T10:00:00.000Z");
        // 299 s later: held back (and still the latest shown); 300 s: written.
        seen(&p, "g1", "2026-12-01T10:04:59.000Z");
        seen(&p, "g2", "2026-12-01T10:05:00.000Z");
        assert_eq!(
            plan(&p, 300, false),
            vec![
                w("g1", false, "2026-12-01T10:04:59.000Z"),
                w("g2", true, "2026-12-01T10:05:00.000Z")
            ]
        );
        assert_eq!(p.latest("g1").as_deref(), Some("2026-12-01T10:04:59.000Z"));
        assert_eq!(p.latest("g2"), None);
        // Still held (measured from the time written, not the one held) …
        seen(&p, "g1", "2026-12-01T10:04:59.500Z");
        assert_eq!(
            plan(&p, 300, false),
            vec![w("g1", false, "2026-12-01T10:04:59.500Z")]
        );
        // … until a stop writes every time held back, heard again or not.
        seen(&p, "g2", "2026-12-01T10:06:00.000Z");
        assert_eq!(
            plan(&p, 300, true),
            vec![
                w("g1", true, "2026-12-01T10:04:59.500Z"),
                w("g2", true, "2026-12-01T10:06:00.000Z")
            ]
        );
        // Written: nothing is held any more.
        assert_eq!(plan(&p, 300, true), vec![]);
        assert_eq!(p.latest("g1"), None);
        // 0: every flush writes.
        seen(&p, "g1", "2026-12-01T10:07:00.000Z");
        assert_eq!(
            plan(&p, 0, false),
            vec![w("g1", true, "2026-12-01T10:07:00.000Z")]
        );
    }

    #[test]
    fn agents_first_heard_of_since_the_start_are_written_over_one_interval() {
        let p = Presence::default();
        let at = |s: i64| {
            crate::storage::time_str(
                chrono::DateTime::from_timestamp(1_764_583_200 + s, 0).expect("time"),
            )
        };
        let written = |p: &Presence, s: i64| {
            for i in 0..1_000 {
                seen(p, &format!("g{i}"), &at(s));
            }
            plan(p, 300, false).iter().filter(|w| w.1).count()
        };
        // None at first sight, about half in the first half of the interval, the rest by
        // its end.
        assert_eq!(written(&p, 0), 0);
        let half = written(&p, 150);
        assert!((400..600).contains(&half), "{half}");
        assert_eq!(half + written(&p, 300), 1_000);
    }
}
