use chrono::DateTime;

use super::interval::{self, Interval};
use super::*;

const DAY: i64 = 86_400;
const HOUR: i64 = 3_600;

fn ts(rfc3339: &str) -> i64 {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().timestamp()
}

fn span(start: i64, end: i64, state: State, source: Source) -> Span {
    Span::new(start, end, state, source)
}

fn up_with_downs(from: i64, to: i64, downs: &[(i64, i64, Source)]) -> Timeline {
    let downs: Vec<Span> = downs
        .iter()
        .map(|&(s, e, src)| span(s, e, State::Down, src))
        .collect();
    overlay(
        &Timeline::filled(from, to, State::Up, Source::Heartbeat),
        &downs,
    )
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

// ---- SLA figures ----

/// April 2026 (30 days), 24×7, target 99.9 %. Outage A: Mon 6th 10:00–11:00 (3600 s).
/// Outage B: Tue 21st 01:30–03:00 (5400 s), of which 02:00–03:00 falls in the maintenance
/// window 02:00–04:00. SLA time = 2 592 000 − 7 200 = 2 584 800 s; unplanned down = 3600 +
/// 1800 = 5400 s; planned down 3600 s.
#[test]
fn month_with_two_outages_and_a_maintenance_window() {
    let from = ts("2026-04-01T00:00:00Z");
    let to = from + 30 * DAY;
    let a = (ts("2026-04-06T10:00:00Z"), ts("2026-04-06T11:00:00Z"));
    let b = (ts("2026-04-21T01:30:00Z"), ts("2026-04-21T03:00:00Z"));
    let window = (ts("2026-04-21T02:00:00Z"), ts("2026-04-21T04:00:00Z"));
    let t = up_with_downs(
        from,
        to,
        &[(a.0, a.1, Source::Heartbeat), (b.0, b.1, Source::Probe)],
    );
    let agreed = Schedule::Always.agreed(from, to);
    let f = figures(&t, &agreed, &[window], Some(99.9));
    assert_eq!(f.agreed_secs, 2_592_000);
    assert_eq!(f.planned_secs, 7_200);
    assert_eq!(f.known_secs, 2_584_800);
    assert_eq!(f.unknown_secs, 0);
    assert_eq!(f.coverage_pct, Some(100.0));
    assert_eq!(f.unplanned_down_secs, 5_400);
    assert_eq!(f.planned_down_secs, 3_600);
    assert_eq!(f.up_secs, 2_579_400);
    assert_eq!(f.degraded_secs, 0);
    assert!(close(f.sli_pct.unwrap(), 2_579_400.0 / 2_584_800.0 * 100.0));
    assert!(close(f.sli_pct.unwrap(), 99.791_086_350_975));
    assert_eq!(f.outages, 2);
    assert_eq!(f.mtbf_secs, Some(1_289_700.0));
    assert_eq!(f.mtrs_secs, Some(2_700.0));
    assert!(close(f.error_budget_secs.unwrap(), 2_584.8));
    assert!(close(f.error_budget_left_secs.unwrap(), -2_815.2));
    assert_eq!(f.breached, Some(true));

    // A looser target: budget 12 924 s, 7 524 s left.
    let f = figures(&t, &agreed, &[window], Some(99.5));
    assert!(close(f.error_budget_secs.unwrap(), 12_924.0));
    assert!(close(f.error_budget_left_secs.unwrap(), 7_524.0));
    assert_eq!(f.breached, Some(false));

    // B is cut by the window into an unplanned and a planned outage.
    assert_eq!(
        outages(&t, &[window]),
        vec![
            Outage {
                start: a.0,
                end: a.1,
                duration: 3_600,
                cause: Source::Heartbeat,
                planned: false
            },
            Outage {
                start: b.0,
                end: window.0,
                duration: 1_800,
                cause: Source::Probe,
                planned: false
            },
            Outage {
                start: window.0,
                end: b.1,
                duration: 3_600,
                cause: Source::Probe,
                planned: true
            },
        ]
    );

    // Business hours in UTC: 22 weekdays × 10 h; A (Monday 10:00) counts, B (01:30) not.
    let hours = Schedule::parse("Mon-Fri 08:00-18:00 UTC").unwrap();
    let f = figures(&t, &hours.agreed(from, to), &[window], None);
    assert_eq!(f.agreed_secs, 22 * 36_000);
    assert_eq!(f.planned_secs, 0);
    assert_eq!(f.unplanned_down_secs, 3_600);
    assert_eq!(f.planned_down_secs, 0);
    assert_eq!(f.outages, 1);
    assert!(close(f.sli_pct.unwrap(), 788_400.0 / 792_000.0 * 100.0));
    assert_eq!(f.error_budget_secs, None);
    assert_eq!(f.breached, None);
}

#[test]
fn spending_the_budget_exactly_is_not_a_breach() {
    // 1000 s known, 99 % target: 10 s allowed, 10 s down.
    let t = up_with_downs(0, 1000, &[(100, 110, Source::Probe)]);
    let f = figures(&t, &[(0, 1000)], &[], Some(99.0));
    assert_eq!(f.sli_pct, Some(99.0));
    assert!(close(f.error_budget_left_secs.unwrap(), 0.0));
    assert_eq!(f.breached, Some(false));
    // Out-of-range targets are ignored.
    let f = figures(&t, &[(0, 1000)], &[], Some(100.5));
    assert_eq!((f.error_budget_secs, f.breached), (None, None));
}

#[test]
fn unknown_time_is_out_of_the_denominator() {
    let t = Timeline::from_spans(
        0,
        1000,
        Source::Heartbeat,
        [
            span(0, 600, State::Up, Source::Heartbeat),
            span(600, 800, State::Unknown, Source::Server),
            span(800, 900, State::Down, Source::Heartbeat),
            span(900, 1000, State::Up, Source::Heartbeat),
        ],
    );
    let f = figures(&t, &[(0, 1000)], &[], Some(90.0));
    assert_eq!(f.known_secs, 800);
    assert_eq!(f.unknown_secs, 200);
    assert_eq!(f.coverage_pct, Some(80.0));
    assert_eq!(f.sli_pct, Some(87.5));
    assert_eq!(f.outages, 1);
    assert_eq!(f.mtbf_secs, Some(700.0));
    assert_eq!(f.mtrs_secs, Some(100.0));
    assert!(close(f.error_budget_secs.unwrap(), 80.0));
    assert_eq!(f.breached, Some(true));

    // Agreed time the timeline does not cover is unknown too.
    // Known: 500–600 up, 800–900 down, 900–1000 up.
    let f = figures(&t, &[(500, 1500)], &[], None);
    assert_eq!((f.known_secs, f.unknown_secs), (300, 700));
    assert_eq!(f.coverage_pct, Some(30.0));

    // Nothing known: no SLI, no breach, no outages.
    let t = Timeline::filled(0, 1000, State::Unknown, Source::Server);
    let f = figures(&t, &[(0, 1000)], &[], Some(99.0));
    assert_eq!(
        (f.sli_pct, f.coverage_pct, f.breached),
        (None, Some(0.0), None)
    );
    assert_eq!((f.outages, f.mtbf_secs, f.mtrs_secs), (0, None, None));

    // No agreed time at all.
    let f = figures(&t, &[], &[], None);
    assert_eq!((f.agreed_secs, f.coverage_pct, f.sli_pct), (0, None, None));
}

#[test]
fn maintenance_windows_leave_the_sla_entirely() {
    // Up inside the window is not SLA time either; degraded counts as up.
    let t = Timeline::from_spans(
        0,
        1000,
        Source::Probe,
        [
            span(0, 100, State::Degraded, Source::Probe),
            span(100, 1000, State::Up, Source::Probe),
        ],
    );
    let f = figures(&t, &[(0, 1000)], &[(50, 250)], None);
    assert_eq!((f.planned_secs, f.known_secs), (200, 800));
    assert_eq!((f.up_secs, f.degraded_secs), (750, 50));
    assert_eq!(f.sli_pct, Some(100.0));
}

#[test]
fn outages_merge_sources_and_bridge_unknown_time() {
    let t = Timeline::from_spans(
        0,
        1000,
        Source::Heartbeat,
        [
            span(0, 100, State::Up, Source::Heartbeat),
            span(100, 150, State::Down, Source::Reboot),
            span(150, 200, State::Down, Source::Heartbeat),
            span(200, 300, State::Unknown, Source::Server),
            span(300, 350, State::Down, Source::Heartbeat),
            span(350, 500, State::Up, Source::Heartbeat),
            span(500, 520, State::Down, Source::Probe),
            span(520, 600, State::Unknown, Source::Server),
            span(600, 1000, State::Up, Source::Heartbeat),
        ],
    );
    let o = outages(&t, &[]);
    assert_eq!(
        o,
        vec![
            Outage {
                start: 100,
                end: 350,
                duration: 150,
                cause: Source::Reboot,
                planned: false
            },
            Outage {
                start: 500,
                end: 520,
                duration: 20,
                cause: Source::Probe,
                planned: false
            },
        ]
    );
    let f = figures(&t, &[(0, 1000)], &[], None);
    assert_eq!((f.outages, f.unplanned_down_secs), (2, 170));
    assert_eq!(f.mtrs_secs, Some(85.0));
    // Agreed time only from 400: the first outage does not count.
    let f = figures(&t, &[(400, 1000)], &[], None);
    assert_eq!((f.outages, f.unplanned_down_secs), (1, 20));
}

// ---- redundancy and the graph ----

#[test]
fn redundant_pair_counts_only_overlapping_outages() {
    let db1 = up_with_downs(0, 1000, &[(100, 200, Source::Heartbeat)]);
    let db2 = up_with_downs(0, 1000, &[(150, 250, Source::Heartbeat)]);
    let pair = at_least(&[&db1, &db2], 1);
    assert_eq!(
        pair.spans(),
        &[
            span(0, 100, State::Up, Source::Derived),
            span(100, 150, State::Degraded, Source::Derived),
            span(150, 200, State::Down, Source::Derived),
            span(200, 250, State::Degraded, Source::Derived),
            span(250, 1000, State::Up, Source::Derived),
        ]
    );
    let f = figures(&pair, &[(0, 1000)], &[], None);
    assert_eq!((f.unplanned_down_secs, f.degraded_secs), (50, 100));
    assert_eq!(f.sli_pct, Some(95.0));
    assert_eq!(f.outages, 1);

    let db2 = up_with_downs(0, 1000, &[(300, 400, Source::Heartbeat)]);
    let pair = at_least(&[&db1, &db2], 1);
    let f = figures(&pair, &[(0, 1000)], &[], None);
    assert_eq!(f.sli_pct, Some(100.0));
    assert_eq!((f.outages, f.degraded_secs), (0, 200));

    // Needing both: each outage counts.
    let both = at_least(&[&db1, &db2], 2);
    assert_eq!(figures(&both, &[(0, 1000)], &[], None).outages, 2);
}

#[test]
fn redundancy_with_unknown_members() {
    let up = Timeline::filled(0, 10, State::Up, Source::Heartbeat);
    let down = Timeline::filled(0, 10, State::Down, Source::Heartbeat);
    let unknown = Timeline::filled(0, 10, State::Unknown, Source::Server);
    let state = |t: &Timeline| {
        assert_eq!(t.spans().len(), 1);
        t.spans()[0].state
    };
    assert_eq!(state(&at_least(&[&unknown, &up], 1)), State::Up);
    assert_eq!(state(&at_least(&[&unknown, &down], 1)), State::Unknown);
    assert_eq!(state(&at_least(&[&unknown, &up], 2)), State::Unknown);
    assert_eq!(state(&at_least(&[&down, &down, &unknown], 2)), State::Down);
    assert_eq!(state(&at_least(&[&up, &down, &up], 2)), State::Degraded);
    assert_eq!(state(&at_least(&[&down], 0)), State::Degraded);
    assert_eq!(state(&at_least(&[&up], 2)), State::Down);
}

#[test]
fn service_through_the_graph() {
    // web → (db1 | db2): the service is down where web is, or where both dbs are.
    let web = up_with_downs(0, 1000, &[(900, 950, Source::Probe)]);
    let db1 = up_with_downs(0, 1000, &[(100, 200, Source::Heartbeat)]);
    let db2 = up_with_downs(0, 1000, &[(150, 250, Source::Reboot)]);
    let service = Expr::All(vec![
        Expr::Ci(0),
        Expr::AtLeast {
            min_up: 1,
            members: vec![Expr::Ci(1), Expr::Ci(2)],
        },
    ]);
    let t = eval(&service, &[web, db1, db2]);
    assert_eq!(
        t.spans(),
        &[
            span(0, 100, State::Up, Source::Heartbeat),
            span(100, 150, State::Degraded, Source::Derived),
            span(150, 200, State::Down, Source::Derived),
            span(200, 250, State::Degraded, Source::Derived),
            span(250, 900, State::Up, Source::Heartbeat),
            span(900, 950, State::Down, Source::Probe),
            span(950, 1000, State::Up, Source::Heartbeat),
        ]
    );
    let f = figures(&t, &[(0, 1000)], &[], Some(90.0));
    assert_eq!((f.unplanned_down_secs, f.outages), (100, 2));
    assert_eq!(f.sli_pct, Some(90.0));
    assert_eq!(f.breached, Some(false));

    // A missing leaf is Unknown throughout, not silently dropped.
    let t = eval(
        &Expr::All(vec![Expr::Ci(0), Expr::Ci(7)]),
        &[Timeline::filled(0, 10, State::Up, Source::Probe)],
    );
    assert_eq!(t.spans(), &[span(0, 10, State::Unknown, Source::Derived)]);
    assert!(eval(&Expr::All(vec![]), &[]).is_empty());
}

#[test]
fn worst_of_signals_and_all_of_dependencies() {
    let hb = Timeline::from_spans(
        0,
        100,
        Source::Heartbeat,
        [span(10, 100, State::Up, Source::Heartbeat)],
    );
    let probe = Timeline::from_spans(
        0,
        100,
        Source::Probe,
        [
            span(0, 50, State::Up, Source::Probe),
            span(50, 60, State::Down, Source::Probe),
            span(60, 70, State::Degraded, Source::Probe),
            span(90, 100, State::Up, Source::Probe),
        ],
    );
    assert_eq!(
        combine_worst(&[&hb, &probe]).spans(),
        &[
            span(0, 10, State::Up, Source::Probe),
            span(10, 50, State::Up, Source::Heartbeat),
            span(50, 60, State::Down, Source::Probe),
            span(60, 70, State::Degraded, Source::Probe),
            span(70, 100, State::Up, Source::Heartbeat),
        ]
    );
    // As dependencies, an unknown one makes the whole unknown unless another is down.
    assert_eq!(
        all_of(&[&hb, &probe]).spans(),
        &[
            span(0, 10, State::Unknown, Source::Heartbeat),
            span(10, 50, State::Up, Source::Heartbeat),
            span(50, 60, State::Down, Source::Probe),
            span(60, 70, State::Degraded, Source::Probe),
            span(70, 90, State::Unknown, Source::Probe),
            span(90, 100, State::Up, Source::Heartbeat),
        ]
    );
    // Everything unknown: the first input's unknown.
    let a = Timeline::filled(0, 10, State::Unknown, Source::Server);
    let b = Timeline::filled(0, 10, State::Unknown, Source::Probe);
    assert_eq!(
        combine_worst(&[&a, &b]).spans(),
        &[span(0, 10, State::Unknown, Source::Server)]
    );
    // Different ranges: outside its own an input is unknown.
    let c = Timeline::filled(5, 20, State::Down, Source::Snmp);
    assert_eq!(
        combine_worst(&[&a, &c]).spans(),
        &[
            span(0, 5, State::Unknown, Source::Server),
            span(5, 20, State::Down, Source::Snmp),
        ]
    );
}

#[test]
fn patch_replaces_whatever_was_there() {
    let t = up_with_downs(0, 100, &[(20, 40, Source::Heartbeat)]);
    let fixed = t.patch(&[span(20, 30, State::Up, Source::Manual)]);
    assert_eq!(
        fixed.spans(),
        &[
            span(0, 20, State::Up, Source::Heartbeat),
            span(20, 30, State::Up, Source::Manual),
            span(30, 40, State::Down, Source::Heartbeat),
            span(40, 100, State::Up, Source::Heartbeat),
        ]
    );
    assert_eq!(fixed.at(35).map(|s| s.state), Some(State::Down));
    assert_eq!(fixed.at(100), None);
    assert_eq!(fixed.clip(25, 45).spans().len(), 3);
}

// ---- heartbeats ----

const I: i64 = 60;
const MISSED: u32 = 3; // 180 s of silence tolerated
const ALWAYS: [Interval; 1] = [(-1_000_000, 1_000_000)];

fn beats(ranges: &[(i64, i64)]) -> Vec<i64> {
    ranges
        .iter()
        .flat_map(|&(a, b)| (a..=b).step_by(60))
        .collect()
}

#[test]
fn agent_stops_then_resumes() {
    let b = beats(&[(0, 600), (1500, 2400)]);
    let t = heartbeat_timeline(&b, I, MISSED, &ALWAYS, 0, 3000, 2400);
    assert_eq!(
        t.spans(),
        &[
            // The last beat (600) covers one interval; the outage starts when the next was due.
            span(0, 660, State::Up, Source::Heartbeat),
            span(660, 1500, State::Down, Source::Heartbeat),
            span(1500, 2400, State::Up, Source::Heartbeat),
            span(2400, 3000, State::Unknown, Source::Heartbeat),
        ]
    );
    let o = outages(&t, &[]);
    assert_eq!(o.len(), 1);
    assert_eq!((o[0].start, o[0].end, o[0].duration), (660, 1500, 840));

    // Two missed beats are within tolerance.
    let b = beats(&[(0, 600), (780, 1200)]);
    let t = heartbeat_timeline(&b, I, MISSED, &ALWAYS, 0, 1200, 1200);
    assert_eq!(t.spans(), &[span(0, 1200, State::Up, Source::Heartbeat)]);
}

#[test]
fn open_outage_is_detected_after_the_missed_intervals() {
    let b = beats(&[(0, 600)]);
    let at = |now| heartbeat_timeline(&b, I, MISSED, &ALWAYS, 0, 1000, now);
    // Still within tolerance at 780: up so far, the future unknown.
    assert_eq!(
        at(780).spans(),
        &[
            span(0, 780, State::Up, Source::Heartbeat),
            span(780, 1000, State::Unknown, Source::Heartbeat),
        ]
    );
    // One second later it is an outage, dated from the last heartbeat.
    assert_eq!(
        at(781).spans(),
        &[
            span(0, 660, State::Up, Source::Heartbeat),
            span(660, 781, State::Down, Source::Heartbeat),
            span(781, 1000, State::Unknown, Source::Heartbeat),
        ]
    );
    // The same outage closed later keeps its start.
    let mut b2 = b.clone();
    b2.push(900);
    let t = heartbeat_timeline(&b2, I, MISSED, &ALWAYS, 0, 1000, 1000);
    assert_eq!(t.spans()[1], span(660, 900, State::Down, Source::Heartbeat));
}

#[test]
fn server_away_while_agents_spool_is_not_down() {
    let listening = [(-1_000_000, 1000), (1600, 1_000_000)];
    let b = beats(&[(0, 3000)]);
    let t = heartbeat_timeline(&b, I, MISSED, &listening, 0, 3000, 3000);
    assert_eq!(t.spans(), &[span(0, 3000, State::Up, Source::Heartbeat)]);
}

#[test]
fn server_away_without_beats_is_unknown_not_down() {
    let listening = [(-1_000_000, 1000), (1600, 1_000_000)];
    let b = beats(&[(0, 960), (1620, 3000)]);
    let t = heartbeat_timeline(&b, I, MISSED, &listening, 0, 3000, 3000);
    assert_eq!(
        t.spans(),
        &[
            span(0, 1020, State::Up, Source::Heartbeat),
            span(1020, 1620, State::Unknown, Source::Server),
            span(1620, 3000, State::Up, Source::Heartbeat),
        ]
    );
    assert!(outages(&t, &[]).is_empty());

    // Still silent long after the server is back: down once the agents had their grace
    // (1600 + 180), unknown before.
    let b = beats(&[(0, 960), (3000, 3600)]);
    let t = heartbeat_timeline(&b, I, MISSED, &listening, 0, 3600, 3600);
    assert_eq!(
        t.spans(),
        &[
            span(0, 1020, State::Up, Source::Heartbeat),
            span(1020, 1780, State::Unknown, Source::Server),
            span(1780, 3000, State::Down, Source::Heartbeat),
            span(3000, 3600, State::Up, Source::Heartbeat),
        ]
    );
}

#[test]
fn heartbeat_edges() {
    // Before the first beat ever: unknown. The last beat before `from` carries in.
    let b = beats(&[(0, 600)]);
    let t = heartbeat_timeline(&b, I, MISSED, &ALWAYS, -600, 300, 300);
    assert_eq!(
        t.spans(),
        &[
            span(-600, 0, State::Unknown, Source::Heartbeat),
            span(0, 300, State::Up, Source::Heartbeat),
        ]
    );
    let t = heartbeat_timeline(&b, I, MISSED, &ALWAYS, 130, 300, 300);
    assert_eq!(t.spans(), &[span(130, 300, State::Up, Source::Heartbeat)]);
    // No beats: unknown. Unsorted and duplicate beats are fine.
    let t = heartbeat_timeline(&[], I, MISSED, &ALWAYS, 0, 300, 300);
    assert_eq!(
        t.spans(),
        &[span(0, 300, State::Unknown, Source::Heartbeat)]
    );
    let mut shuffled = beats(&[(0, 600), (1500, 2400)]);
    shuffled.reverse();
    shuffled.push(60);
    assert_eq!(
        heartbeat_timeline(&shuffled, I, MISSED, &ALWAYS, 0, 3000, 2400),
        heartbeat_timeline(
            &beats(&[(0, 600), (1500, 2400)]),
            I,
            MISSED,
            &ALWAYS,
            0,
            3000,
            2400
        )
    );
    assert!(heartbeat_timeline(&b, I, MISSED, &ALWAYS, 10, 10, 10).is_empty());
}

#[test]
fn probe_results_hold_then_go_unknown() {
    let results = [
        (0, State::Up),
        (60, State::Down),
        (120, State::Up),
        (120, State::Degraded),
        (500, State::Up),
    ];
    let listening = [(-1_000, 300), (400, 1_000)];
    let t = probe_timeline(&results, 60, 2, &listening, 0, 700, 600);
    assert_eq!(
        t.spans(),
        &[
            span(0, 60, State::Up, Source::Probe),
            span(60, 120, State::Down, Source::Probe),
            span(120, 240, State::Degraded, Source::Probe),
            span(240, 300, State::Unknown, Source::Probe),
            span(300, 400, State::Unknown, Source::Server),
            span(400, 500, State::Unknown, Source::Probe),
            span(500, 600, State::Up, Source::Probe),
            span(600, 700, State::Unknown, Source::Probe),
        ]
    );
    let t = snmp_timeline(&[(0, State::Down)], 60, 2, &listening, 0, 200, 200);
    assert_eq!(t.spans()[0], span(0, 120, State::Down, Source::Snmp));
}

// ---- reboots ----

#[test]
fn reboot_is_an_outage_of_the_boots_length() {
    let ticks = [(0, 1000), (60, 1060), (120, 1120), (180, 30), (240, 90)];
    // Booted at 180 − 30 = 150; last seen alive at the tick at 120.
    assert_eq!(reboots(&ticks, &[]), vec![(120, 150)]);
    // A heartbeat at 130 shows it was still alive then.
    assert_eq!(reboots(&ticks, &[0, 60, 125, 130, 200]), vec![(130, 150)]);

    let t = overlay(
        &Timeline::filled(0, 300, State::Up, Source::Heartbeat),
        &spans_of(&reboots(&ticks, &[]), State::Down, Source::Reboot),
    );
    assert_eq!(
        t.spans(),
        &[
            span(0, 120, State::Up, Source::Heartbeat),
            span(120, 150, State::Down, Source::Reboot),
            span(150, 300, State::Up, Source::Heartbeat),
        ]
    );
    assert_eq!(outages(&t, &[])[0].duration, 30);
}

#[test]
fn reboot_edge_cases() {
    // Uptime grew, but less than the time elapsed: rebooted during a long polling gap.
    assert_eq!(reboots(&[(0, 1000), (10_000, 500)], &[]), vec![(0, 9_500)]);
    // TimeTicks wrap after ≈ 497.1 days: not a reboot.
    assert!(reboots(&[(0, 42_949_600), (100, 27)], &[]).is_empty());
    // Jitter of the computed boot instant, right after a boot.
    assert!(reboots(&[(0, 1), (60, 59)], &[]).is_empty());
    assert!(reboots(&[(100, 5000), (160, 5061)], &[]).is_empty());
    // Unsorted readings.
    assert_eq!(
        reboots(&[(180, 30), (0, 1000), (120, 1120)], &[]),
        vec![(120, 150)]
    );
}

// ---- schedules ----

#[test]
fn business_hours_across_dst_changes() {
    let paris = Schedule::parse("Mon-Fri 08:00-18:00 Europe/Paris").unwrap();
    // Two weeks around Sunday 29 March 2026 (clocks go forward).
    let a = paris.agreed(ts("2026-03-22T00:00:00Z"), ts("2026-04-05T00:00:00Z"));
    assert_eq!(a.len(), 10);
    assert!(a.iter().all(|(s, e)| e - s == 10 * HOUR));
    assert_eq!(
        a[4],
        (ts("2026-03-27T07:00:00Z"), ts("2026-03-27T17:00:00Z"))
    );
    assert_eq!(
        a[5],
        (ts("2026-03-30T06:00:00Z"), ts("2026-03-30T16:00:00Z"))
    );
    // Around Sunday 25 October 2026 (clocks go back).
    let a = paris.agreed(ts("2026-10-18T00:00:00Z"), ts("2026-11-01T00:00:00Z"));
    assert_eq!(a.len(), 10);
    assert!(a.iter().all(|(s, e)| e - s == 10 * HOUR));
    assert_eq!(
        a[4],
        (ts("2026-10-23T06:00:00Z"), ts("2026-10-23T16:00:00Z"))
    );
    assert_eq!(
        a[5],
        (ts("2026-10-26T07:00:00Z"), ts("2026-10-26T17:00:00Z"))
    );
    // The whole of 2026 in Paris: 261 weekdays.
    let year = paris.agreed(ts("2025-12-31T23:00:00Z"), ts("2026-12-31T23:00:00Z"));
    assert_eq!(interval::total(&year), 261 * 10 * HOUR);
    // A period cutting a day keeps only its part.
    let a = paris.agreed(ts("2026-03-23T12:00:00Z"), ts("2026-03-23T13:30:00Z"));
    assert_eq!(
        a,
        vec![(ts("2026-03-23T12:00:00Z"), ts("2026-03-23T13:30:00Z"))]
    );
}

#[test]
fn ranges_containing_the_skipped_or_repeated_hour() {
    let agreed =
        |text: &str, from: &str, to: &str| Schedule::parse(text).unwrap().agreed(ts(from), ts(to));
    let spring = ("2026-03-28T12:00:00Z", "2026-03-30T12:00:00Z");
    let autumn = ("2026-10-24T12:00:00Z", "2026-10-26T12:00:00Z");
    // The whole Sunday: 23 h, then 25 h.
    assert_eq!(
        agreed("Sun 00:00-24:00 Europe/Paris", spring.0, spring.1),
        vec![(ts("2026-03-28T23:00:00Z"), ts("2026-03-29T22:00:00Z"))]
    );
    assert_eq!(
        agreed("Sun 00:00-24:00 Europe/Paris", autumn.0, autumn.1),
        vec![(ts("2026-10-24T22:00:00Z"), ts("2026-10-25T23:00:00Z"))]
    );
    // 01:00–04:00 contains 02:00–03:00: 2 h in spring, 4 h in autumn.
    assert_eq!(
        agreed("Sun 01:00-04:00 Europe/Paris", spring.0, spring.1),
        vec![(ts("2026-03-29T00:00:00Z"), ts("2026-03-29T02:00:00Z"))]
    );
    assert_eq!(
        agreed("Sun 01:00-04:00 Europe/Paris", autumn.0, autumn.1),
        vec![(ts("2026-10-24T23:00:00Z"), ts("2026-10-25T03:00:00Z"))]
    );
    // Starting at 02:30, which does not exist in spring: starts when the clock resumes.
    assert_eq!(
        agreed("Sun 02:30-04:00 Europe/Paris", spring.0, spring.1),
        vec![(ts("2026-03-29T01:00:00Z"), ts("2026-03-29T02:00:00Z"))]
    );
    // Ending at 02:30, which happens twice in autumn: both times the clock shows 00:00–02:30.
    assert_eq!(
        agreed("Sun 00:00-02:30 Europe/Paris", autumn.0, autumn.1),
        vec![
            (ts("2026-10-24T22:00:00Z"), ts("2026-10-25T00:30:00Z")),
            (ts("2026-10-25T01:00:00Z"), ts("2026-10-25T01:30:00Z")),
        ]
    );
    // Overnight from Saturday into the spring-forward Sunday: 7 h.
    assert_eq!(
        agreed("Sat 22:00-06:00 Europe/Paris", spring.0, spring.1),
        vec![(ts("2026-03-28T21:00:00Z"), ts("2026-03-29T04:00:00Z"))]
    );
    // A zone behind UTC, for the sign: New York's Sunday 8 March 2026 is 23 h.
    assert_eq!(
        interval::total(&agreed(
            "Sun 00:00-24:00 America/New_York",
            "2026-03-07T00:00:00Z",
            "2026-03-10T00:00:00Z"
        )),
        23 * HOUR
    );
}

#[test]
fn always_and_never() {
    assert_eq!(Schedule::Always.agreed(5, 10), vec![(5, 10)]);
    assert!(Schedule::Always.agreed(10, 10).is_empty());
    let never = Schedule::parse("never").unwrap();
    assert!(never.agreed(0, 30 * DAY).is_empty());
    assert_eq!(never.to_string(), "never");
}

#[test]
fn schedule_text_form() {
    for (text, canonical) in [
        ("24x7", "24x7"),
        ("24/7", "24x7"),
        ("ALWAYS", "24x7"),
        (
            "Mon-Fri 08:00-18:00 Europe/Paris",
            "Mon-Fri 08:00-18:00 Europe/Paris",
        ),
        (
            "mon-friday 8:00-18:00 europe/paris",
            "Mon-Fri 08:00-18:00 Europe/Paris",
        ),
        (
            "Mon-Fri 08:00-18:00, Sat 09:00-12:00 Europe/London",
            "Mon-Fri 08:00-18:00, Sat 09:00-12:00 Europe/London",
        ),
        (
            "Mon-Fri 08:00-12:00 13:30-17:00 UTC",
            "Mon-Fri 08:00-12:00 13:30-17:00 UTC",
        ),
        (
            "Sat-Mon 00:00-24:00 UTC",
            "Mon 00:00-24:00, Sat-Sun 00:00-24:00 UTC",
        ),
        (
            "daily 22:00-06:00 Asia/Tokyo",
            "Mon-Sun 22:00-06:00 Asia/Tokyo",
        ),
        ("Wed 09:00:30-10:00 UTC", "Wed 09:00:30-10:00 UTC"),
    ] {
        let s = Schedule::parse(text).unwrap();
        assert_eq!(s.to_string(), canonical, "{text}");
        assert_eq!(canonical.parse::<Schedule>().unwrap(), s, "{text}");
    }
    let s = Schedule::parse("Sat-Mon 09:00-10:00 UTC").unwrap();
    let Schedule::Weekly { days, .. } = &s else {
        panic!("weekly expected");
    };
    let used: Vec<bool> = days.iter().map(|d| !d.is_empty()).collect();
    assert_eq!(used, [true, false, false, false, false, true, true]);
}

#[test]
fn schedule_parser_errors() {
    use ScheduleError as E;
    for (text, err) in [
        ("", E::Empty),
        ("   ", E::Empty),
        ("Europe/Paris", E::Empty),
        ("Mon-Fri", E::MissingTimeZone),
        ("Mon-Fri 08:00-18:00", E::MissingTimeZone),
        ("Mon-Fri 8-18", E::MissingTimeZone),
        (
            "Mon-Fri 08:00-18:00 Europe/Pariss",
            E::UnknownTimeZone("Europe/Pariss".into()),
        ),
        ("Mon-Fry 08:00-18:00 UTC", E::UnknownDay("Fry".into())),
        ("Mon-Fri Europe/Paris", E::MissingHours("Mon-Fri".into())),
        (
            "08:00-18:00 Europe/Paris",
            E::MissingDays("08:00-18:00".into()),
        ),
        ("Mon-Fri 8-18 UTC", E::BadTime("8".into())),
        (
            "Mon-Fri 08:00-18:00 Sat 09:00-12:00 UTC",
            E::MissingComma("Sat".into()),
        ),
        ("Mon-Fri 08:00 UTC", E::BadRange("08:00".into())),
        ("Mon-Fri 25:00-26:00 UTC", E::BadTime("25:00".into())),
        ("Mon-Fri 08:60-18:00 UTC", E::BadTime("08:60".into())),
        ("Mon-Fri 08:0-18:00 UTC", E::BadTime("08:0".into())),
        ("Mon-Fri 24:00-08:00 UTC", E::BadTime("24:00".into())),
        ("Mon-Fri 08:00-24:30 UTC", E::BadTime("24:30".into())),
        (
            "Mon-Fri 08:00-08:00 UTC",
            E::EmptyRange("08:00-08:00".into()),
        ),
        (
            "Mon-Fri 00:00-00:00 UTC",
            E::EmptyRange("00:00-00:00".into()),
        ),
        ("Mon-Fri 08:00-18:00,, Sat 09:00-12:00 UTC", E::EmptyRule),
        ("Mon-Fri 08:00-18:00, UTC", E::EmptyRule),
    ] {
        assert_eq!(Schedule::parse(text), Err(err), "{text:?}");
    }
    // Messages name what is wrong.
    let msg = |text: &str| Schedule::parse(text).unwrap_err().to_string();
    assert!(msg("Mon-Fri 08:00-18:00 Europe/Pariss").contains("'Europe/Pariss'"));
    assert!(msg("Mon-Fry 08:00-18:00 UTC").contains("'Fry'"));
    assert!(msg("Mon-Fri 8-18 UTC").contains("'8'"));
    assert!(msg("Mon-Fri 08:00-18:00").contains("time zone"));
}

// ---- serde ----

#[test]
fn wire_names() {
    assert_eq!(
        serde_json::to_string(&State::Degraded).unwrap(),
        "\"degraded\""
    );
    assert_eq!(
        serde_json::to_string(&Source::Heartbeat).unwrap(),
        "\"heartbeat\""
    );
    assert_eq!(
        serde_json::to_string(&Source::Server).unwrap(),
        "\"server\""
    );
    let t = Timeline::filled(0, 10, State::Down, Source::Reboot);
    assert_eq!(
        serde_json::to_string(&t).unwrap(),
        r#"[{"start":0,"end":10,"state":"down","source":"reboot"}]"#
    );
    let s: Schedule = serde_json::from_str("\"Mon-Fri 08:00-18:00 Europe/Paris\"").unwrap();
    assert_eq!(
        serde_json::to_string(&s).unwrap(),
        "\"Mon-Fri 08:00-18:00 Europe/Paris\""
    );
    assert!(serde_json::from_str::<Schedule>("\"Mon-Fri\"").is_err());
    let e: Expr =
        serde_json::from_str(r#"{"at_least":{"min_up":1,"members":[{"ci":0}]}}"#).unwrap();
    assert_eq!(
        e,
        Expr::AtLeast {
            min_up: 1,
            members: vec![Expr::Ci(0)]
        }
    );
}

// ---- against brute force ----

/// A small deterministic generator (no dependency for randomness).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }

    fn intervals(&mut self, range: i64, count: u64) -> Vec<Interval> {
        (0..self.next(count) + 1)
            .map(|_| {
                let s = self.next(range as u64) as i64;
                (s, s + self.next(30) as i64)
            })
            .collect()
    }

    fn timeline(&mut self, range: i64) -> Timeline {
        const STATES: [State; 4] = [State::Up, State::Degraded, State::Down, State::Unknown];
        const SOURCES: [Source; 3] = [Source::Heartbeat, Source::Probe, Source::Reboot];
        let from = self.next(10) as i64;
        let to = range - self.next(10) as i64;
        let spans: Vec<Span> = (0..self.next(12))
            .map(|_| {
                let s = self.next(range as u64) as i64;
                span(
                    s,
                    s + 1 + self.next(40) as i64,
                    STATES[self.next(4) as usize],
                    SOURCES[self.next(3) as usize],
                )
            })
            .collect();
        Timeline::from_spans(from, to, Source::Server, spans)
    }
}

fn member(t: &Timeline, x: i64) -> (State, Source) {
    t.at(x)
        .map_or((State::Unknown, Source::Derived), |s| (s.state, s.source))
}

fn check_invariants(t: &Timeline) {
    for w in t.spans().windows(2) {
        assert_eq!(w[0].end, w[1].start);
        assert!((w[0].state, w[0].source) != (w[1].state, w[1].source));
    }
    assert!(t.spans().iter().all(|s| s.start < s.end));
}

#[test]
fn interval_algebra_matches_brute_force() {
    let mut rng = Lcg(7);
    let set = |v: &[Interval]| -> Vec<bool> {
        (0..150)
            .map(|x| v.iter().any(|&(s, e)| s <= x && x < e))
            .collect()
    };
    for _ in 0..500 {
        let a = interval::normalize(&rng.intervals(120, 6));
        let b = interval::normalize(&rng.intervals(120, 6));
        assert!(interval::is_normalized(&a));
        let (sa, sb) = (set(&a), set(&b));
        let expect = |f: fn(bool, bool) -> bool| -> Vec<bool> {
            sa.iter().zip(&sb).map(|(&x, &y)| f(x, y)).collect()
        };
        assert_eq!(set(&interval::union(&a, &b)), expect(|x, y| x || y));
        assert_eq!(set(&interval::intersect(&a, &b)), expect(|x, y| x && y));
        assert_eq!(set(&interval::subtract(&a, &b)), expect(|x, y| x && !y));
        assert!(interval::is_normalized(&interval::subtract(&a, &b)));
        assert!(interval::is_normalized(&interval::intersect(&a, &b)));
        assert_eq!(
            interval::total(&a),
            sa.iter().filter(|&&x| x).count() as i64
        );
        let pieces = interval::split(20, 100, &b);
        assert_eq!(pieces.first().map(|p| p.0), Some(20));
        assert_eq!(pieces.last().map(|p| p.1), Some(100));
        for p in &pieces {
            assert!((p.0..p.1).all(|x| sb[x as usize] == p.2));
        }
        for w in pieces.windows(2) {
            assert_eq!(w[0].1, w[1].0);
        }
    }
}

#[test]
fn sweeps_match_brute_force() {
    let mut rng = Lcg(42);
    let order = |s: State| match s {
        State::Down => 0,
        State::Degraded => 1,
        State::Up => 2,
        State::Unknown => 3,
    };
    for round in 0..300 {
        let n = 1 + rng.next(4) as usize;
        let ts: Vec<Timeline> = (0..n).map(|_| rng.timeline(100)).collect();
        let refs: Vec<&Timeline> = ts.iter().collect();
        let worst = combine_worst(&refs);
        let all = all_of(&refs);
        let min_up = rng.next(4) as usize;
        let group = at_least(&refs, min_up);
        for t in [&worst, &all, &group] {
            check_invariants(t);
        }
        let lo = ts.iter().filter_map(|t| t.start()).min();
        let hi = ts.iter().filter_map(|t| t.end()).max();
        let (Some(lo), Some(hi)) = (lo, hi) else {
            assert!(worst.is_empty() && all.is_empty() && group.is_empty());
            continue;
        };
        assert_eq!((worst.start(), worst.end()), (Some(lo), Some(hi)));
        for x in lo..hi {
            let m: Vec<(State, Source)> = ts.iter().map(|t| member(t, x)).collect();
            let pick = |rank: &dyn Fn(State) -> usize| {
                let best = m.iter().map(|p| rank(p.0)).min().unwrap();
                *m.iter().find(|p| rank(p.0) == best).unwrap()
            };
            assert_eq!(member(&worst, x), pick(&order), "round {round} x {x}");
            let strict = |s: State| match s {
                State::Down => 0,
                State::Unknown => 1,
                State::Degraded => 2,
                State::Up => 3,
            };
            assert_eq!(member(&all, x), pick(&strict), "round {round} x {x}");
            let count = |s: State| m.iter().filter(|p| p.0 == s).count();
            let up = count(State::Up) + count(State::Degraded);
            let expect = if up >= min_up {
                if count(State::Down) + count(State::Degraded) > 0 {
                    State::Degraded
                } else {
                    State::Up
                }
            } else if up + count(State::Unknown) >= min_up {
                State::Unknown
            } else {
                State::Down
            };
            assert_eq!(member(&group, x), (expect, Source::Derived));
        }
        // Overlay: the worse known state, the overlay on ties, never hidden by its unknown.
        let over: Vec<Span> = ts[0]
            .spans()
            .iter()
            .map(|s| span(s.start + 3, s.end + 3, s.state, s.source))
            .collect();
        let base = &ts[n - 1];
        let o = overlay(base, &over);
        check_invariants(&o);
        for x in base.start().unwrap_or(0)..base.end().unwrap_or(0) {
            let b = member(base, x);
            let v = over
                .iter()
                .find(|s| s.start <= x && x < s.end)
                .map(|s| (s.state, s.source));
            let expect = match v {
                Some(v) if v.0.severity().is_some() && v.0.severity() >= b.0.severity() => v,
                _ => b,
            };
            assert_eq!(member(&o, x), expect);
        }
    }
}

#[test]
fn figures_match_brute_force() {
    let mut rng = Lcg(99);
    for _ in 0..300 {
        let t = rng.timeline(200);
        let agreed = rng.intervals(200, 5);
        let planned = rng.intervals(200, 3);
        let f = figures(&t, &agreed, &planned, Some(99.0));
        let inside = |v: &[Interval], x: i64| v.iter().any(|&(s, e)| s <= x && x < e);
        let (mut up, mut deg, mut down, mut pdown, mut unk, mut agr, mut pl) =
            (0, 0, 0, 0, 0, 0, 0);
        for x in -10..230 {
            if !inside(&agreed, x) {
                continue;
            }
            agr += 1;
            let state = member(&t, x).0;
            if inside(&planned, x) {
                pl += 1;
                pdown += i64::from(state == State::Down);
                continue;
            }
            match state {
                State::Up => up += 1,
                State::Degraded => deg += 1,
                State::Down => down += 1,
                State::Unknown => unk += 1,
            }
        }
        assert_eq!(
            (
                f.agreed_secs,
                f.planned_secs,
                f.up_secs,
                f.degraded_secs,
                f.unplanned_down_secs,
                f.planned_down_secs,
                f.unknown_secs
            ),
            (agr, pl, up, deg, down, pdown, unk)
        );
        assert_eq!(f.known_secs, up + deg + down);
        if let (Some(sli), Some(left)) = (f.sli_pct, f.error_budget_left_secs) {
            assert_eq!(f.breached, Some(sli < 99.0 - 1e-9 && left < 0.0));
        }
        // Outages partition the Down time.
        let o = outages(&t, &planned);
        assert_eq!(
            o.iter().map(|o| o.duration).sum::<i64>(),
            t.secs(State::Down)
        );
    }
}

// ---- speed ----

/// A business service over 500 CIs for 30 days evaluates into one timeline covering the
/// period (its speed is measured by `cmdb-bench-series`, not here).
#[test]
fn a_service_over_500_cis_and_30_days_evaluates_whole() {
    let from = ts("2026-04-01T00:00:00Z");
    let to = from + 30 * DAY;
    let mut rng = Lcg(1);
    let leaves: Vec<Timeline> = (0..500)
        .map(|_| {
            // 120 events of up to 10 min each: 10 outages, 10 unknown, 100 degraded.
            let spans: Vec<Span> = (0..120)
                .map(|k| {
                    let s = from + rng.next((30 * DAY) as u64) as i64;
                    let state = match k % 12 {
                        0 => State::Down,
                        1 => State::Unknown,
                        _ => State::Degraded,
                    };
                    span(s, s + 60 + rng.next(540) as i64, state, Source::Heartbeat)
                })
                .collect();
            Timeline::filled(from, to, State::Up, Source::Heartbeat).patch(&spans)
        })
        .collect();
    let mut members: Vec<Expr> = (0..400).map(Expr::Ci).collect();
    members.extend((0..50).map(|g| Expr::AtLeast {
        min_up: 1,
        members: vec![Expr::Ci(400 + 2 * g), Expr::Ci(401 + 2 * g)],
    }));
    let service = Expr::All(members);
    let hours = Schedule::parse("Mon-Fri 08:00-18:00 Europe/Paris").unwrap();
    let t = eval(&service, &leaves);
    assert_eq!((t.start(), t.end()), (Some(from), Some(to)));
    let f = figures(&t, &hours.agreed(from, to), &[], Some(99.9));
    assert!(
        f.outages > 0 && f.sli_pct.is_some_and(|s| s < 100.0),
        "{f:?}"
    );

    // One agent's month of 60 s heartbeats is one span.
    let beats: Vec<i64> = (from..to).step_by(60).collect();
    let t = heartbeat_timeline(&beats, 60, 3, &[(from, to)], from, to, to);
    assert_eq!(t.spans().len(), 1);
}
