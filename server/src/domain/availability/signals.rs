//! Timelines from raw signals: agent heartbeats, timestamped results (probes, SNMP
//! reachability), and reboots read off uptime counters.

use std::borrow::Cow;

use super::interval::{self, Interval};
use super::timeline::{Source, Span, State, Timeline};

/// A TimeTicks counter (sysUpTime, hrSystemUptime: 32-bit hundredths of a second) wraps
/// after 2³² cs ≈ 497.1 days.
const TIMETICKS_WRAP_CS: i64 = 1 << 32;

/// How far two readings of the same boot instant may disagree (poll latency, rounding).
const BOOT_JITTER_SECS: i64 = 5;

fn sorted_dedup(v: &[i64]) -> Cow<'_, [i64]> {
    if v.windows(2).all(|w| w[0] < w[1]) {
        Cow::Borrowed(v)
    } else {
        let mut v = v.to_vec();
        v.sort_unstable();
        v.dedup();
        Cow::Owned(v)
    }
}

/// `interval × missed`, both at least 1: how long silence is tolerated.
fn tolerance(interval: i64, missed: u32) -> (i64, i64) {
    let interval = interval.max(1);
    (interval, interval.saturating_mul(i64::from(missed.max(1))))
}

/// An agent's heartbeat timeline over `[from, to)`.
///
/// - `beats`: the agent's own timestamps of its beats, whenever they arrived (beats spooled
///   while the server was away are beats like any other). Include the last beat before
///   `from`, else the start is Unknown until the first beat. Beats after `now` are ignored.
/// - `interval`: the agent's beat interval; `missed`: how many may be missed before the host
///   is down, so silence of up to `interval × missed` is tolerated (both at least 1).
/// - `listening`: when the server was up and able to receive, with their true starts (not
///   clipped to the period: a start counts as the server coming back).
///
/// Rules:
/// - A beat at `t` means Up over `[t, t + interval)`, and up to the next beat when it comes
///   within `interval × missed`.
/// - A longer silence is an outage dated from the last heartbeat: from `last + interval`, when
///   the first missing beat was due, to the next beat. It is Down only where the server could
///   judge: while it was listening, except the first `interval × missed` after it started
///   listening (agents need that long to reconnect and deliver their spool, and an agent that
///   cannot spool must not look down for it). Elsewhere it is Unknown (source Server).
/// - After the last beat: Up until `now` while the silence is within tolerance; once it is
///   longer, the open outage is dated as above (so an outage keeps its start when it closes).
/// - Before the first beat and from `now` on: Unknown (source Heartbeat).
pub fn heartbeat_timeline(
    beats: &[i64],
    interval: i64,
    missed: u32,
    listening: &[Interval],
    from: i64,
    to: i64,
    now: i64,
) -> Timeline {
    if from >= to {
        return Timeline::default();
    }
    let (interval, late) = tolerance(interval, missed);
    let beats = sorted_dedup(beats);
    let judgeable: Vec<Interval> = interval::normalize(listening)
        .into_iter()
        .map(|(s, e)| (s.saturating_add(late), e))
        .filter(|(s, e)| s < e)
        .collect();
    // From the last beat before `from` to the last one up to `now`.
    let lo = beats.partition_point(|&b| b < from).saturating_sub(1);
    let hi = beats.partition_point(|&b| b <= now);
    let beats = beats.get(lo..hi).unwrap_or_default();
    let mut spans = Vec::new();
    let silence = |start: i64, end: i64, spans: &mut Vec<Span>| {
        for (s, e, judged) in interval::split(start, end, &judgeable) {
            spans.push(if judged {
                Span::new(s, e, State::Down, Source::Heartbeat)
            } else {
                Span::new(s, e, State::Unknown, Source::Server)
            });
        }
    };
    for (i, &b) in beats.iter().enumerate() {
        if b >= to {
            break;
        }
        let next = beats.get(i + 1).copied();
        let until = next.unwrap_or(now);
        if until - b <= late {
            spans.push(Span::new(b, until, State::Up, Source::Heartbeat));
        } else {
            spans.push(Span::new(b, b + interval, State::Up, Source::Heartbeat));
            silence(b + interval, until, &mut spans);
        }
    }
    Timeline::from_spans(from, to, Source::Heartbeat, spans)
}

/// Timestamped results (`Up`/`Degraded`/`Down`, or `Unknown` when the check itself failed)
/// as a timeline over `[from, to)`: see [`probe_timeline`].
#[allow(
    clippy::too_many_arguments,
    reason = "private: the public wrappers fix the source"
)]
fn results_timeline(
    results: &[(i64, State)],
    source: Source,
    interval: i64,
    missed: u32,
    listening: &[Interval],
    from: i64,
    to: i64,
    now: i64,
) -> Timeline {
    if from >= to {
        return Timeline::default();
    }
    let (_, hold) = tolerance(interval, missed);
    let listening = interval::normalize(listening);
    let mut results: Vec<(i64, State)> = results.to_vec();
    results.sort_by_key(|r| r.0);
    results.dedup_by(|later, kept| {
        if later.0 != kept.0 {
            return false;
        }
        if later.1.severity() > kept.1.severity() {
            kept.1 = later.1;
        }
        true
    });
    let lo = results.partition_point(|r| r.0 < from).saturating_sub(1);
    let hi = results.partition_point(|r| r.0 <= now);
    let results = results.get(lo..hi).unwrap_or_default();
    let mut spans = Vec::new();
    for (i, &(t, state)) in results.iter().enumerate() {
        if t >= to {
            break;
        }
        let until = results.get(i + 1).map_or(now, |r| r.0);
        let held = until.min(t.saturating_add(hold));
        spans.push(Span::new(t, held, state, source));
        for (s, e, listened) in interval::split(held, until, &listening) {
            if !listened {
                spans.push(Span::new(s, e, State::Unknown, Source::Server));
            }
        }
    }
    Timeline::from_spans(from, to, source, spans)
}

/// A probe's timeline (TCP, HTTP, ICMP) from its results: source Probe. Each result holds
/// until the next one, for at most `interval × missed` and never past `now`; beyond that
/// nothing is known (a missing result says nothing about the target): Unknown, with source
/// Server where the server was not listening. At one instant the worst result counts.
/// Include the last result before `from`.
pub fn probe_timeline(
    results: &[(i64, State)],
    interval: i64,
    missed: u32,
    listening: &[Interval],
    from: i64,
    to: i64,
    now: i64,
) -> Timeline {
    results_timeline(
        results,
        Source::Probe,
        interval,
        missed,
        listening,
        from,
        to,
        now,
    )
}

/// SNMP reachability (poll answered: Up, not answered: Down) as a timeline: source Snmp,
/// otherwise as [`probe_timeline`].
pub fn snmp_timeline(
    results: &[(i64, State)],
    interval: i64,
    missed: u32,
    listening: &[Interval],
    from: i64,
    to: i64,
    now: i64,
) -> Timeline {
    results_timeline(
        results,
        Source::Snmp,
        interval,
        missed,
        listening,
        from,
        to,
        now,
    )
}

/// Reboots read off uptime readings `(at, uptime_secs)` (hrSystemUptime where available:
/// sysUpTime restarts with the SNMP agent too). Each reading dates its boot at
/// `at − uptime`. Between consecutive readings the host rebooted when the new boot instant
/// lies after the previous reading (uptime went back, or grew less than the time elapsed).
/// It was down from its last sign of life before the boot instant (the previous reading, or
/// a later instant of `seen`, e.g. heartbeats, sorted) to the boot instant: an outage of the
/// boot's length. Not reboots: boot instants moving by up to 5 s (jitter), or by one
/// TimeTicks wrap (≈ 497.1 days) within 5 s. Returns normalized intervals; overlay them as
/// Down with source Reboot ([`super::overlay`], [`super::spans_of`]).
pub fn reboots(ticks: &[(i64, u64)], seen: &[i64]) -> Vec<Interval> {
    let mut ticks = ticks.to_vec();
    ticks.sort_by_key(|t| t.0);
    let seen = sorted_dedup(seen);
    let boot = |(at, up): (i64, u64)| at.saturating_sub(i64::try_from(up).unwrap_or(i64::MAX));
    let mut out = Vec::new();
    for w in ticks.windows(2) {
        let (prev, cur) = (w[0], w[1]);
        let (b0, b1) = (boot(prev), boot(cur));
        let moved = b1.saturating_sub(b0);
        let wrapped = moved.saturating_mul(100).abs_diff(TIMETICKS_WRAP_CS)
            <= BOOT_JITTER_SECS.unsigned_abs() * 100;
        if cur.0 <= prev.0 || b1 <= prev.0 || moved <= BOOT_JITTER_SECS || wrapped {
            continue;
        }
        let alive = seen[..seen.partition_point(|&s| s < b1)]
            .last()
            .map_or(prev.0, |&s| s.max(prev.0));
        out.push((alive, b1));
    }
    interval::normalize(&out)
}
