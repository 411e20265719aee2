//! Outages and SLA figures, computed from a timeline, the agreed service time and the
//! planned maintenance windows.

use serde::{Deserialize, Serialize};

use super::interval::{self, Interval};
use super::timeline::{Source, State, Timeline};

/// Budgets this close to zero are spent, not overspent (float noise on exact targets).
const BUDGET_EPSILON_SECS: f64 = 1e-6;

/// One outage: Down time from `start` to `end`, entirely inside or entirely outside planned
/// maintenance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outage {
    pub start: i64,
    pub end: i64,
    /// Seconds Down within `[start, end)`: less than `end − start` when Unknown time was
    /// bridged.
    pub duration: i64,
    /// Source of the first Down span.
    pub cause: Source,
    /// Inside a maintenance window: shown, not counted against the SLA.
    pub planned: bool,
}

/// An outage with the Down intervals it is made of.
struct Piece {
    outage: Outage,
    down: Vec<Interval>,
}

/// Down runs: consecutive Down spans (whatever their sources) and Down spans separated only
/// by Unknown time (nothing showed a recovery in between) form one outage, cut where planned
/// windows begin and end.
fn pieces(t: &Timeline, planned: &[Interval]) -> Vec<Piece> {
    let planned = interval::normalize(planned);
    let mut runs: Vec<Vec<(i64, i64, Source)>> = Vec::new();
    let mut open = false;
    for s in t.spans() {
        match s.state {
            State::Down if open => {
                if let Some(run) = runs.last_mut() {
                    run.push((s.start, s.end, s.source));
                }
            }
            State::Down => {
                runs.push(vec![(s.start, s.end, s.source)]);
                open = true;
            }
            State::Unknown => {}
            State::Up | State::Degraded => open = false,
        }
    }
    let mut out = Vec::new();
    for run in runs {
        let (Some(first), Some(last)) = (run.first(), run.last()) else {
            continue;
        };
        for (a, z, inside) in interval::split(first.0, last.1, &planned) {
            let parts: Vec<(i64, i64, Source)> = run
                .iter()
                .filter(|d| d.0 < z && d.1 > a)
                .map(|d| (d.0.max(a), d.1.min(z), d.2))
                .collect();
            let (Some(p0), Some(pn)) = (parts.first(), parts.last()) else {
                continue;
            };
            // Spans from different sources touch: merged for the interval algebra.
            let down = interval::normalize(&parts.iter().map(|d| (d.0, d.1)).collect::<Vec<_>>());
            out.push(Piece {
                outage: Outage {
                    start: p0.0,
                    end: pn.1,
                    duration: interval::total(&down),
                    cause: p0.2,
                    planned: inside,
                },
                down,
            });
        }
    }
    out
}

/// The outages of `t`: see [`Outage`]. An outage overlapping a maintenance window is split
/// into its planned and unplanned parts, each an outage of its own.
pub fn outages(t: &Timeline, planned: &[Interval]) -> Vec<Outage> {
    pieces(t, planned).into_iter().map(|p| p.outage).collect()
}

/// SLA figures for one period. The SLA time is the agreed time outside maintenance windows;
/// every duration below is counted within agreed time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// Agreed service time in the period.
    pub agreed_secs: i64,
    /// Agreed time inside maintenance windows: out of the SLA.
    pub planned_secs: i64,
    /// SLA time with a known state: the SLI's denominator.
    pub known_secs: i64,
    /// SLA time with no known state.
    pub unknown_secs: i64,
    /// Known SLA time / SLA time; `None` when there is no SLA time.
    pub coverage_pct: Option<f64>,
    pub up_secs: i64,
    /// Counted as up, reported apart.
    pub degraded_secs: i64,
    pub unplanned_down_secs: i64,
    /// Down inside maintenance windows (and agreed time): shown apart.
    pub planned_down_secs: i64,
    /// (known − unplanned down) / known; `None` when nothing is known.
    pub sli_pct: Option<f64>,
    /// Unplanned outages with Down time in the SLA time.
    pub outages: u32,
    /// (up + degraded) / outages; `None` without outages.
    pub mtbf_secs: Option<f64>,
    /// Unplanned down / outages; `None` without outages.
    pub mtrs_secs: Option<f64>,
    /// Down time the target allows: known × (100 − target) / 100.
    pub error_budget_secs: Option<f64>,
    /// Budget − unplanned down; negative when overspent.
    pub error_budget_left_secs: Option<f64>,
    /// SLI below target (budget overspent); `None` without a target or without known time.
    pub breached: Option<bool>,
}

/// The figures of `t` over the `agreed` time minus the `planned` windows, against
/// `target_pct` (ignored unless within 0–100). Time `t` does not cover counts as Unknown.
pub fn figures(
    t: &Timeline,
    agreed: &[Interval],
    planned: &[Interval],
    target_pct: Option<f64>,
) -> Figures {
    let agreed = interval::normalize(agreed);
    let planned = interval::normalize(planned);
    let sla = interval::subtract(&agreed, &planned);
    let in_sla = |state: State| interval::total(&interval::intersect(&t.intervals(state), &sla));
    let (up, degraded, down) = (
        in_sla(State::Up),
        in_sla(State::Degraded),
        in_sla(State::Down),
    );
    let agreed_planned = interval::intersect(&agreed, &planned);
    let planned_down = interval::total(&interval::intersect(
        &t.intervals(State::Down),
        &agreed_planned,
    ));
    let sla_secs = interval::total(&sla);
    let known = up + degraded + down;
    let outages = pieces(t, &planned)
        .iter()
        .filter(|p| !p.outage.planned && !interval::intersect(&p.down, &sla).is_empty())
        .count();
    let outages = u32::try_from(outages).unwrap_or(u32::MAX);
    let pct = |part: i64, whole: i64| (whole > 0).then(|| part as f64 * 100.0 / whole as f64);
    let per_outage = |secs: i64| (outages > 0).then(|| secs as f64 / f64::from(outages));
    let target = target_pct.filter(|p| (0.0..=100.0).contains(p));
    let budget = target.map(|p| known as f64 * (100.0 - p) / 100.0);
    let left = budget.map(|b| b - down as f64);
    Figures {
        agreed_secs: interval::total(&agreed),
        planned_secs: interval::total(&agreed_planned),
        known_secs: known,
        unknown_secs: sla_secs - known,
        coverage_pct: pct(known, sla_secs),
        up_secs: up,
        degraded_secs: degraded,
        unplanned_down_secs: down,
        planned_down_secs: planned_down,
        sli_pct: pct(known - down, known),
        outages,
        mtbf_secs: per_outage(up + degraded),
        mtrs_secs: per_outage(down),
        error_budget_secs: budget,
        error_budget_left_secs: left,
        breached: left.filter(|_| known > 0).map(|l| l < -BUDGET_EPSILON_SECS),
    }
}
