//! Availability signals as stored: observations merged into spans.
//!
//! A signal (a host's heartbeats, one probe, a device's SNMP reachability) is kept as sorted,
//! non-overlapping spans `[start, end, state]`. An observation at `t` in state `s` covers
//! `[t, t + interval)`; it joins a neighbouring span of the same state when the gap between
//! them is at most `tolerance` (the missed intervals that still count as continuous), so a
//! healthy host's heartbeats make one span however many arrive, and a spooled backlog that
//! arrives late fills the gap it belongs to. What a gap *means* (down while the server
//! listened, unknown while it did not) is decided when the timeline is read, not here.

use super::availability::interval::{self, Interval};
use super::availability::{Source, Span, State, Timeline};

/// State codes as stored.
pub const UP: u8 = 0;
pub const DEGRADED: u8 = 1;
pub const DOWN: u8 = 2;

/// Spans older than this many seconds before the newest observation are dropped, so a
/// signal record stays bounded (longer than any report period users ask for).
pub const KEEP_SECS: i64 = 400 * 86_400;

/// Merges observations `(t, state)` into `spans`.
pub fn merge(spans: &mut Vec<(i64, i64, u8)>, obs: &[(i64, u8)], interval: i64, tolerance: i64) {
    let interval = interval.max(1);
    let tolerance = tolerance.max(interval);
    for &(t, s) in obs {
        spans.push((t, t + interval, s));
    }
    spans.sort_by_key(|&(a, b, s)| (a, b, s));
    let mut out: Vec<(i64, i64, u8)> = Vec::with_capacity(spans.len());
    for &(a, b, s) in spans.iter() {
        match out.last_mut() {
            // Same state, within tolerance: one continuous observation.
            Some(last) if last.2 == s && a <= last.1 + tolerance - interval => {
                last.1 = last.1.max(b);
            }
            // A different state overlapping the previous span: the newer observation wins
            // from its own start.
            // (a late result inside a span splits it).
            Some(last) if a < last.1 => {
                let (end, was) = (last.1, last.2);
                last.1 = a;
                if last.1 <= last.0 {
                    out.pop();
                }
                out.push((a, b, s));
                if end > b {
                    out.push((b, end, was));
                }
            }
            _ => out.push((a, b, s)),
        }
    }
    if let Some(newest) = out.iter().map(|s| s.1).max() {
        out.retain(|s| s.1 >= newest - KEEP_SECS);
    }
    *spans = out;
}

/// Reboots seen in heartbeats: each tick's boot instant (`at − uptime`) compared with the
/// previous one's; a later boot than before means the host restarted, and it was down from
/// its last observation before that boot to the boot instant. `slack` absorbs clock jitter in
/// the boot estimate. Returns the down spans and the newest boot instant.
pub fn reboots(
    last_boot: Option<i64>,
    last_seen_before: impl Fn(i64) -> Option<i64>,
    ticks: &[(i64, u64)],
    slack: i64,
) -> (Vec<(i64, i64)>, Option<i64>) {
    let mut boot = last_boot;
    let mut out = Vec::new();
    let mut sorted: Vec<(i64, u64)> = ticks.to_vec();
    sorted.sort_unstable();
    let mut prev_tick: Option<i64> = None;
    for (at, up) in sorted {
        let b = at - i64::try_from(up).unwrap_or(i64::MAX / 2).min(at);
        if let Some(old) = boot
            && b > old + slack
        {
            // Down from the last sign of life before this boot (a tick in this batch, or a
            // stored span's end), to the boot itself.
            let from = prev_tick
                .filter(|p| *p < b)
                .or_else(|| last_seen_before(b))
                .unwrap_or(b);
            if from < b {
                out.push((from, b));
            }
        }
        if boot.is_none_or(|old| b > old + slack) {
            boot = Some(b);
        }
        prev_tick = Some(at);
    }
    (out, boot)
}

/// The end of the last span that ends at or before `t` (a sign of life before `t`).
pub fn last_seen_before(spans: &[(i64, i64, u8)], interval: i64, t: i64) -> Option<i64> {
    spans
        .iter()
        .filter(|s| s.2 != DOWN && s.0 <= t)
        .map(|s| (s.1 - interval).clamp(s.0, t))
        .max()
}

/// How silence is read for a kind of signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Silence {
    /// A host's own heartbeats: silence past the tolerance is the host being down (while a
    /// server listened), dated from the last heartbeat.
    Down,
    /// A monitor's results (probes, polls): silence says nothing about the target.
    Unknown,
}

fn state_of(code: u8) -> State {
    match code {
        UP => State::Up,
        DEGRADED => State::Degraded,
        _ => State::Down,
    }
}

/// The timeline over `[from, to)` of one stored signal (see the module docs for how spans are
/// kept). `listening`: when a server was alive to receive. The rules are those of
/// `availability::heartbeat_timeline` and `probe_timeline`, applied to merged spans instead
/// of every observation: a span's own time is its state; a silence of up to the missed
/// intervals continues the previous state; a longer one is, for heartbeats, down from the end
/// of the last span where a server could judge (listening, after the agents' reconnection
/// grace) and unknown elsewhere; for monitors, unknown. The future (after `now`) is unknown.
#[allow(clippy::too_many_arguments)]
pub fn timeline(
    spans: &[(i64, i64, u8)],
    interval: i64,
    missed: u32,
    silence: Silence,
    source: Source,
    listening: &[Interval],
    from: i64,
    to: i64,
    now: i64,
) -> Timeline {
    let interval = interval.max(1);
    let tol = interval.saturating_mul(i64::from(missed.max(1)));
    let grace = tol - interval;
    let judgeable: Vec<Interval> = interval::normalize(listening)
        .into_iter()
        .map(|(s, e)| (s.saturating_add(tol), e))
        .filter(|(s, e)| s < e)
        .collect();
    let mut out: Vec<Span> = Vec::with_capacity(spans.len() * 2 + 2);
    let end_all = to.min(now);
    for (i, &(a, b, st)) in spans.iter().enumerate() {
        if a >= end_all {
            break;
        }
        out.push(Span::new(a, b.min(end_all), state_of(st), source));
        let next = spans.get(i + 1).map_or(end_all, |n| n.0.min(end_all));
        if next <= b {
            continue;
        }
        // The silence after this span, up to the next one (or now).
        let trailing = i + 1 == spans.len();
        match silence {
            Silence::Down if trailing && now - b <= grace => {
                out.push(Span::new(b, next, state_of(st), source));
            }
            Silence::Down => {
                let gap = [(b, next)];
                for (s, e) in interval::intersect(&gap, &judgeable) {
                    out.push(Span::new(s, e, State::Down, source));
                }
                for (s, e) in interval::subtract(&gap, &judgeable) {
                    out.push(Span::new(s, e, State::Unknown, Source::Server));
                }
            }
            Silence::Unknown => {
                let held = (b + grace).min(next);
                out.push(Span::new(b, held, state_of(st), source));
                // Nothing is left when the next result came within the grace (an empty
                // interval is not a set `subtract` takes).
                if held < next {
                    let rest = [(held, next)];
                    for (s, e) in interval::subtract(&rest, &interval::normalize(listening)) {
                        out.push(Span::new(s, e, State::Unknown, Source::Server));
                    }
                }
            }
        }
    }
    Timeline::from_spans(from, to, source, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn states(t: &Timeline) -> Vec<(i64, i64, State)> {
        t.spans()
            .iter()
            .map(|s| (s.start, s.end, s.state))
            .collect()
    }

    #[test]
    fn a_silent_host_is_down_from_its_last_heartbeat_while_a_server_listened() {
        // Heartbeats 0..600 and 1200..1800, server listening all along (since -1000).
        let spans = [(0, 600, UP), (1200, 1800, UP)];
        let t = timeline(
            &spans,
            60,
            3,
            Silence::Down,
            Source::Heartbeat,
            &[(-1000, 5000)],
            0,
            1800,
            1800,
        );
        assert_eq!(
            states(&t),
            vec![
                (0, 600, State::Up),
                (600, 1200, State::Down),
                (1200, 1800, State::Up)
            ]
        );
        // The same silence while no server was alive is unknown, not down.
        let t = timeline(
            &spans,
            60,
            3,
            Silence::Down,
            Source::Heartbeat,
            &[(-1000, 500), (1300, 5000)],
            0,
            1800,
            1800,
        );
        assert_eq!(
            states(&t),
            vec![
                (0, 600, State::Up),
                (600, 1200, State::Unknown),
                (1200, 1800, State::Up)
            ]
        );
        // An open outage: silent since 600, now 1000.
        let t = timeline(
            &[(0, 600, UP)],
            60,
            3,
            Silence::Down,
            Source::Heartbeat,
            &[(-1000, 5000)],
            0,
            2000,
            1000,
        );
        assert_eq!(
            states(&t),
            vec![
                (0, 600, State::Up),
                (600, 1000, State::Down),
                (1000, 2000, State::Unknown)
            ]
        );
        // Within tolerance of now: still up.
        let t = timeline(
            &[(0, 600, UP)],
            60,
            3,
            Silence::Down,
            Source::Heartbeat,
            &[(-1000, 5000)],
            0,
            700,
            700,
        );
        assert_eq!(states(&t), vec![(0, 700, State::Up)]);
    }

    #[test]
    fn a_monitor_result_within_the_grace_holds_the_state_up_to_it() {
        // Polls every 60 s, the next 30 s after the last one ended: nothing unknown between
        // them. (This panicked in debug builds: an empty interval reached `subtract`; a
        // browser test opening the availability report of a polled switch found it.)
        let spans = [(0, 60, UP), (90, 150, UP)];
        let t = timeline(
            &spans,
            60,
            3,
            Silence::Unknown,
            Source::Snmp,
            &[(-1000, 5000)],
            0,
            150,
            150,
        );
        assert_eq!(states(&t), vec![(0, 150, State::Up)]);
    }

    #[test]
    fn a_silent_monitor_says_nothing() {
        let spans = [(0, 600, DOWN), (1200, 1800, UP)];
        let t = timeline(
            &spans,
            60,
            3,
            Silence::Unknown,
            Source::Probe,
            &[(-1000, 5000)],
            0,
            1800,
            1800,
        );
        assert_eq!(
            states(&t),
            vec![
                (0, 720, State::Down),
                (720, 1200, State::Unknown),
                (1200, 1800, State::Up)
            ]
        );
    }

    #[test]
    fn heartbeats_make_one_span_and_late_ones_fill_their_gap() {
        let mut spans = Vec::new();
        merge(&mut spans, &[(0, UP), (60, UP), (120, UP)], 60, 180);
        assert_eq!(spans, vec![(0, 180, UP)]);
        // A gap of ten minutes...
        merge(&mut spans, &[(780, UP), (840, UP)], 60, 180);
        assert_eq!(spans, vec![(0, 180, UP), (780, 900, UP)]);
        // ...filled by the spooled heartbeats that arrive later.
        let late: Vec<(i64, u8)> = (3..13).map(|i| (i * 60, UP)).collect();
        merge(&mut spans, &late, 60, 180);
        assert_eq!(spans, vec![(0, 900, UP)]);
        // Redelivery changes nothing.
        merge(&mut spans, &late, 60, 180);
        assert_eq!(spans, vec![(0, 900, UP)]);
    }

    #[test]
    fn a_gap_within_tolerance_is_continuous_and_beyond_it_is_not() {
        let mut spans = Vec::new();
        // Two missed ticks with a tolerance of three intervals: still one span.
        merge(&mut spans, &[(0, UP), (180, UP)], 60, 180);
        assert_eq!(spans, vec![(0, 240, UP)]);
        merge(&mut spans, &[(500, UP)], 60, 180);
        assert_eq!(spans, vec![(0, 240, UP), (500, 560, UP)]);
    }

    #[test]
    fn a_late_result_splits_the_span_it_falls_in() {
        let mut spans = vec![(0, 600, UP)];
        merge(&mut spans, &[(300, DOWN)], 60, 180);
        assert_eq!(spans, vec![(0, 300, UP), (300, 360, DOWN), (360, 600, UP)]);
    }

    #[test]
    fn state_changes_split_spans() {
        let mut spans = Vec::new();
        merge(
            &mut spans,
            &[(0, UP), (60, UP), (120, DOWN), (180, DOWN), (240, UP)],
            60,
            180,
        );
        assert_eq!(spans, vec![(0, 120, UP), (120, 240, DOWN), (240, 300, UP)]);
    }

    #[test]
    fn uptime_going_backwards_is_a_reboot_of_the_boots_length() {
        // Booted at 1000; ticks every 60 s; last tick before the reboot at 1600; back up
        // (booted) at 1700, first tick at 1720 with 20 s uptime.
        let (downs, boot) = reboots(
            None,
            |_| None,
            &[(1540, 540), (1600, 600), (1720, 20), (1780, 80)],
            5,
        );
        assert_eq!(downs, vec![(1600, 1700)]);
        assert_eq!(boot, Some(1700));
        // The same ticks again (a redelivery) find no new reboot.
        let (downs, _) = reboots(Some(1700), |_| None, &[(1720, 20)], 5);
        assert!(downs.is_empty());
        // A reboot between batches dates from the stored last sign of life.
        let (downs, _) = reboots(Some(1700), |_| Some(2000), &[(2130, 10)], 5);
        assert_eq!(downs, vec![(2000, 2120)]);
    }
}
