//! Presence: when each agent and each polled device was last heard from.
//!
//! A report that changes nothing costs no write: its "last seen" time is coalesced here, in
//! memory, and written in batches by [`super::Ingestor::flush_last_seen`] every
//! `lifecycle.last_seen_flush_secs` and at shutdown. A failed flush puts the times back for
//! the next attempt, unless newer ones arrived meanwhile.
//!
//! The agent's own record takes every flush. Its CI's record is written only when its time
//! has moved `lifecycle.ci_last_seen_secs` (300 s) past the time last written there: a CI
//! record holds every package key of its host, so rewriting it for each metric batch (every
//! 60 s an agent) was most of a steady fleet's database writes, and filled SurrealKV's
//! memtables fast enough to stall requests on their flushes. The CI list and a CI's page show
//! the latest time all the same (the catalogue takes every flush); a stopping server writes
//! the times it held back, a crash loses at most that much of a CI's last-seen time.

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
    /// By CI key: the last-seen time last written to the CI's record, and a later one held
    /// back (bounded: emptied past [`MAX_CI_SEEN`], which costs one write a CI).
    ci_seen: Mutex<HashMap<String, CiSeen>>,
}

/// Most CIs [`Presence`] remembers the written last-seen time of.
const MAX_CI_SEEN: usize = 2_000_000;

/// A CI's last-seen times (see [`Presence`]).
#[derive(Debug)]
struct CiSeen {
    /// When the time written last was, in seconds.
    written: i64,
    /// A later time not written yet.
    held: Option<String>,
}

/// Where in an interval of `every` seconds CI `ci`'s first write falls: 0 to `every - 1`,
/// spread by its key.
fn phase(ci: &str, every: i64) -> i64 {
    use std::hash::{BuildHasher, BuildHasherDefault};
    let h = BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(ci);
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
                write_ci: true,
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

    /// The pending last-seen time of an agent.
    pub(super) fn pending(&self, agent: &str) -> Option<String> {
        lock_or_recover(&self.agents)
            .get(agent)
            .map(|l| l.at.clone())
    }

    /// Records that a report's write gave CI `ci` the last-seen time `at`.
    pub(super) fn ci_written(&self, ci: &str, at: &str) {
        let t = secs(at);
        let mut seen = lock_or_recover(&self.ci_seen);
        let s = seen.entry(ci.to_string()).or_insert(CiSeen {
            written: t,
            held: None,
        });
        s.written = s.written.max(t);
    }

    /// Drains the agents' pending times (for the flusher).
    pub(super) fn take_agents(&self) -> Vec<LastSeen> {
        lock_or_recover(&self.agents)
            .drain()
            .map(|(_, v)| v)
            .collect()
    }

    /// Decides which of `items`' CI records a flush writes (`write_ci`): those whose time
    /// moved `every_secs` past the one written last (all of them with `all`, or `every_secs`
    /// 0). The others' times are held back. With `all`, also the held-back times of CIs
    /// whose agents were not heard since: `(ci, time)`, for the flush to write.
    pub(super) fn plan_ci_writes(
        &self,
        items: &mut [LastSeen],
        every_secs: u64,
        all: bool,
    ) -> Vec<(String, String)> {
        let mut seen = lock_or_recover(&self.ci_seen);
        if seen.len() > MAX_CI_SEEN {
            seen.clear();
        }
        let every = i64::try_from(every_secs).unwrap_or(i64::MAX);
        for it in items.iter_mut() {
            let Some(ci) = &it.ci_key else { continue };
            let t = secs(&it.at);
            if every == 0 || all {
                it.write_ci = true;
                continue;
            }
            // A CI first heard of since the start counts as written at a time of its own
            // within the last interval, so the CIs of a restarted server's fleet are written
            // over one interval, not all in the first minute.
            let s = seen.entry(ci.clone()).or_insert_with(|| CiSeen {
                written: t - phase(ci, every),
                held: None,
            });
            it.write_ci = t - s.written >= every;
            if !it.write_ci && s.held.as_ref().is_none_or(|h| *h < it.at) {
                s.held = Some(it.at.clone());
            }
        }
        if !all {
            return Vec::new();
        }
        let flushed: std::collections::HashSet<&str> =
            items.iter().filter_map(|it| it.ci_key.as_deref()).collect();
        seen.iter()
            .filter(|(ci, _)| !flushed.contains(ci.as_str()))
            .filter_map(|(ci, s)| Some((ci.clone(), s.held.clone()?)))
            .collect()
    }

    /// Records the CI times a flush wrote: `items`' with `write_ci`, and `extra`.
    pub(super) fn cis_written(&self, items: &[LastSeen], extra: &[(String, String)]) {
        let mut seen = lock_or_recover(&self.ci_seen);
        let written = items
            .iter()
            .filter(|it| it.write_ci)
            .filter_map(|it| Some((it.ci_key.as_ref()?, &it.at)))
            .chain(extra.iter().map(|(ci, at)| (ci, at)));
        for (ci, at) in written {
            let t = secs(at);
            match seen.entry(ci.clone()) {
                Entry::Occupied(mut e) => {
                    let s = e.get_mut();
                    s.written = s.written.max(t);
                    if s.held.as_ref().is_some_and(|h| h <= at) {
                        s.held = None;
                    }
                }
                Entry::Vacant(e) => {
                    e.insert(CiSeen {
                        written: t,
                        held: None,
                    });
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

    fn seen(p: &Presence, agent: &str, ci: &str, at: &str) {
        p.agent_seen(agent, Some(ci), "1", at);
    }

    /// Each agent flushed with whether its CI is written; the held-back CI times written.
    type Planned = (Vec<(String, bool)>, Vec<(String, String)>);

    fn plan(p: &Presence, every: u64, all: bool) -> Planned {
        let mut items = p.take_agents();
        items.sort_by(|a, b| a.agent_key.cmp(&b.agent_key));
        let held = p.plan_ci_writes(&mut items, every, all);
        p.cis_written(&items, &held);
        (
            items
                .iter()
                .map(|i| (i.agent_key.clone(), i.write_ci))
                .collect(),
            held,
        )
    }

    #[test]
    fn ci_times_are_written_once_they_moved_far_enough_and_all_of_them_at_a_stop() {
        let p = Presence::default();
        // Written by reports at 10:00.
        p.ci_written("c1", "2026-12-01T10:00:00.000Z");
        p.ci_written("c2", "2026-12-01T10:00:00.000Z");
        // 299 s later: held back; 300 s: written.
        seen(&p, "g1", "c1", "2026-12-01T10:04:59.000Z");
        seen(&p, "g2", "c2", "2026-12-01T10:05:00.000Z");
        assert_eq!(
            plan(&p, 300, false),
            (vec![("g1".into(), false), ("g2".into(), true)], vec![])
        );
        // Still held (measured from the time written, not the one held) …
        seen(&p, "g1", "c1", "2026-12-01T10:04:59.500Z");
        assert_eq!(plan(&p, 300, false).0, vec![("g1".into(), false)]);
        // … until a stop writes every CI time held back, heard again or not.
        seen(&p, "g2", "c2", "2026-12-01T10:06:00.000Z");
        assert_eq!(
            plan(&p, 300, true),
            (
                vec![("g2".into(), true)],
                vec![("c1".into(), "2026-12-01T10:04:59.500Z".into())]
            )
        );
        // Written: nothing is held any more.
        assert_eq!(plan(&p, 300, true), (vec![], vec![]));
        // 0: every flush writes.
        seen(&p, "g1", "c1", "2026-12-01T10:07:00.000Z");
        assert_eq!(plan(&p, 0, false).0, vec![("g1".into(), true)]);
    }

    #[test]
    fn cis_first_heard_of_since_the_start_are_written_over_one_interval() {
        let p = Presence::default();
        let at = |s: i64| {
            crate::storage::time_str(
                chrono::DateTime::from_timestamp(1_764_583_200 + s, 0).expect("time"),
            )
        };
        let written = |p: &Presence, s: i64| {
            for i in 0..1_000 {
                seen(p, &format!("g{i}"), &format!("c{i}"), &at(s));
            }
            plan(p, 300, false).0.iter().filter(|w| w.1).count()
        };
        // None at first sight, about half in the first half of the interval, the rest by
        // its end.
        assert_eq!(written(&p, 0), 0);
        let half = written(&p, 150);
        assert!((400..600).contains(&half), "{half}");
        assert_eq!(half + written(&p, 300), 1_000);
    }

    #[test]
    fn an_agent_without_a_ci_has_no_ci_time_to_write() {
        let p = Presence::default();
        p.agent_seen("g1", None, "1", "2026-12-01T10:00:00.000Z");
        let mut items = p.take_agents();
        assert!(p.plan_ci_writes(&mut items, 300, true).is_empty());
        p.cis_written(&items, &[]);
        assert!(lock_or_recover(&p.ci_seen).is_empty());
    }
}
