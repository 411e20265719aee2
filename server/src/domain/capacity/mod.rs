//! Capacity forecasts: robust trends and threshold-crossing dates.
//!
//! Pure arithmetic over daily aggregates; the caller reads rollups and passes one value per
//! UTC day. Every resource is a percentage (CPU, memory, a filesystem's used space, an
//! interface's utilisation, a device's storage), so thresholds, headroom and the restart
//! drop are all in percentage points.
//!
//! # Method
//!
//! 1. **Aggregate daily.** The input is one peak value per day: the daily p95 for CPU,
//!    memory and interfaces, the daily max for filesystems and storage ([`daily`] builds
//!    either from finer rollups). Raw samples are never fitted: least squares over them
//!    follows every log rotation and clean-up, which is why Prometheus `predict_linear`
//!    alerts flap.
//! 2. **Window.** Only the last [`Settings::window_days`] UTC days up to `now` (default 90).
//! 3. **Restart after a level shift.** A resize or a clean-up that stays lowers the level for
//!    good; fitting across it would pull the trend down (or make it negative) for months.
//!    A drop at day `i` is a level shift when the median of the [`Settings::shift_days`]
//!    days after it is lower than the median of the `shift_days` days before it by more than
//!    [`Settings::restart_drop`] (default 10 points over 7 days). A weekly clean-up
//!    sawtooth does not qualify: each 7-day window spans a whole cycle, so both medians sit
//!    mid-cycle and differ only by the growth. A drop fewer than `shift_days` days ago is
//!    taken as a shift only if every day since is lower than the *lowest* of the 7 days
//!    before by more than `restart_drop`: the day after an ordinary clean-up is back at
//!    the previous trough, not far below it. The fit starts at the last shift; if that
//!    leaves fewer than [`Settings::min_days`] days the answer is "not enough data since"
//!    the shift.
//! 4. **Theil–Sen slope.** The slope is the median of the slopes of all pairs of days; it
//!    ignores up to ~29 % of wild points and is not dragged by the sawtooth the way least
//!    squares is. `O(n²)` pairs is 4,005 for 90 days; medians use `select_nth_unstable`.
//! 5. **Upper envelope.** The Theil–Sen intercept (median of `y − slope·x`) puts the line
//!    through the middle of the data, but a filesystem fills when its *peaks* (the day
//!    before the weekly clean-up) reach the threshold. The forecast line is therefore
//!    shifted to the [`Settings::envelope_quantile`] (default 0.9) of the residuals: on a
//!    sawtooth that is the line through the peaks, on noisy data the level that 1 day in
//!    10 already exceeds. Set it to 0.5 for the plain median line.
//! 6. **Range from Sen's confidence interval.** The early–late range comes from the
//!    confidence interval of the slope (Gilbert 1987, via the variance of Kendall's `S`,
//!    with the correction for tied values; default 90 %), the lines with the low and high
//!    slopes pivoting on the data's centre (median day), where the level is best known.
//!    We use this rather than percentiles of the pairwise slopes because those measure the
//!    day-to-day scatter (on a sawtooth the within-week slopes are 4× the trend) and do
//!    not narrow with more data; the interval does, and a noise-free trend gives
//!    early = expected = late. Dependence between days (a sawtooth) makes it optimistic;
//!    it is a guide, not a guarantee.
//! 7. **Answers.** Per threshold (warning 80 %, critical 90 % unless the caller passes
//!    others): [`Crossing::AlreadyCrossed`] when the current value (or, without one, the
//!    last day) is at or above it; [`Crossing::NotEnoughData`] with fewer than `min_days`
//!    days in the fit (as days are distinct, they then also cover at least `min_days`
//!    days); [`Crossing::WillNotCross`] when the slope is not positive or the expected
//!    crossing is beyond [`Settings::horizon_days`] (default 3 years);
//!    [`Crossing::Between`] otherwise. A crossing the envelope has already passed (peaks at
//!    the threshold, current value in a trough) is due now. `late` is `None` when the
//!    slow end of the interval does not cross within the horizon.
//! 8. **Ranking.** [`rank`] orders a fleet: warning already crossed first, then by the
//!    expected warning date (then critical), then "will not cross", then "not enough
//!    data", which cannot be placed.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// Seconds in a UTC day (Unix time has no leap seconds).
pub const DAY: i64 = 86_400;

/// Tuning of the forecast. Every field has a default, so a partial configuration parses.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Days (UTC, ending today) the fit looks back over.
    pub window_days: u32,
    /// Fewest daily points a fit needs; below it the answer is "not enough data".
    pub min_days: u32,
    /// Crossings further out than this many days count as "will not cross".
    pub horizon_days: u32,
    /// Drop (percentage points) in the median level that counts as a level shift.
    pub restart_drop: f64,
    /// Days compared before and after a drop; should cover a clean-up cycle.
    pub shift_days: u32,
    /// Quantile of the residuals the forecast line is shifted to (0.5 = median line).
    pub envelope_quantile: f64,
    /// Confidence of the slope interval that gives the early–late range.
    pub confidence: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            window_days: 90,
            min_days: 7,
            horizon_days: 1095,
            restart_drop: 10.0,
            shift_days: 7,
            envelope_quantile: 0.9,
            confidence: 0.9,
        }
    }
}

impl Settings {
    /// The settings with nonsensical values replaced: a fit needs two points, windows at
    /// least one day, quantiles and confidences inside `(0, 1)`.
    fn sane(&self) -> Self {
        let d = Self::default();
        Self {
            window_days: self.window_days.max(1),
            min_days: self.min_days.max(2),
            horizon_days: self.horizon_days,
            restart_drop: if self.restart_drop.is_finite() && self.restart_drop > 0.0 {
                self.restart_drop
            } else {
                d.restart_drop
            },
            shift_days: self.shift_days.max(1),
            envelope_quantile: if (0.0..=1.0).contains(&self.envelope_quantile) {
                self.envelope_quantile
            } else {
                d.envelope_quantile
            },
            confidence: if self.confidence > 0.0 && self.confidence < 1.0 {
                self.confidence
            } else {
                d.confidence
            },
        }
    }
}

/// Warning and critical levels, in the resource's unit (percent).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Thresholds {
    pub warning: f64,
    pub critical: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            warning: 80.0,
            critical: 90.0,
        }
    }
}

/// A Theil–Sen fit `y = intercept + slope·x`, with the slope's confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Fit {
    /// Median of the pairwise slopes.
    pub slope: f64,
    /// Median of `y − slope·x`.
    pub intercept: f64,
    /// Lower end of Sen's confidence interval of the slope.
    pub slope_low: f64,
    /// Upper end of Sen's confidence interval of the slope.
    pub slope_high: f64,
}

/// How [`daily`] reduces a day's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Daily {
    /// 95th percentile (linear interpolation) of the day's values.
    P95,
    /// Largest of the day's values.
    Max,
}

/// Why a threshold will not be crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoCross {
    /// The trend is flat or falling.
    NotRising,
    /// Rising, but the expected crossing is beyond the horizon.
    BeyondHorizon,
}

/// When a threshold is crossed. Serialised with a `status` tag, e.g.
/// `{"status":"between","early":…,"expected":…,"late":null}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Crossing {
    /// The current value is at or above the threshold; `since` is the first day of the
    /// unbroken run of days at or above it (`None` when only the current value is).
    AlreadyCrossed { since: Option<i64> },
    /// Expected crossing (Unix seconds) with its range; `late` is `None` when the slow
    /// end of the range does not cross within the horizon.
    Between {
        early: i64,
        expected: i64,
        late: Option<i64>,
    },
    /// Not rising, or not within the horizon.
    WillNotCross { reason: NoCross },
    /// Fewer than `needed` daily points in the fit; `since` is the first of them (the
    /// level shift the fit restarted at, if any).
    NotEnoughData {
        since: Option<i64>,
        days: u32,
        needed: u32,
    },
}

/// The forecast of one resource at `as_of`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Forecast {
    /// The `now` the forecast was made for (Unix seconds).
    pub as_of: i64,
    /// The current value, or the last daily value when none was given.
    pub current: Option<f64>,
    /// `warning − current`, negative once crossed.
    pub headroom_warning: Option<f64>,
    /// `critical − current`, negative once crossed.
    pub headroom_critical: Option<f64>,
    /// Theil–Sen slope, units per day.
    pub trend_per_day: Option<f64>,
    /// Low end of the slope's confidence interval, units per day.
    pub trend_low_per_day: Option<f64>,
    /// High end of the slope's confidence interval, units per day.
    pub trend_high_per_day: Option<f64>,
    /// The upper-envelope line's value at `as_of`: the level the peaks have reached.
    pub peak_level: Option<f64>,
    /// First day in the fit.
    pub fit_from: Option<i64>,
    /// Daily points in the fit.
    pub fit_days: u32,
    /// The level shift the fit restarted at, if any.
    pub level_shift: Option<i64>,
    pub warning: Crossing,
    pub critical: Crossing,
    /// Days from `as_of` to the expected warning crossing (0 once crossed).
    pub days_to_warning: Option<f64>,
    /// Days from `as_of` to the expected critical crossing (0 once crossed).
    pub days_to_critical: Option<f64>,
}

/// Reduces `(unix seconds, value)` samples to one value per UTC day, keyed by the day's
/// start and sorted. Non-finite values are skipped.
///
/// Feed it the rollup that matches `how`: per-interval maxima for [`Daily::Max`]; for
/// [`Daily::P95`] raw samples or 5-minute means give the day's p95 of those, while hourly
/// p95s give a slightly high approximation (a p95 of p95s), which errs on the safe side.
#[must_use]
pub fn daily<I: IntoIterator<Item = (i64, f64)>>(points: I, how: Daily) -> Vec<(i64, f64)> {
    let mut all: Vec<(i64, f64)> = points
        .into_iter()
        .filter(|p| p.1.is_finite())
        .map(|(t, v)| (day_start(t), v))
        .collect();
    all.sort_by_key(|p| p.0);
    let mut out = Vec::new();
    let mut values = Vec::new();
    for (i, &(day, v)) in all.iter().enumerate() {
        values.push(v);
        if all.get(i + 1).is_none_or(|next| next.0 != day) {
            let reduced = match how {
                Daily::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                Daily::P95 => quantile(&mut values, 0.95),
            };
            out.push((day, reduced));
            values.clear();
        }
    }
    out
}

/// Theil–Sen fit of `points` with Sen's `confidence` interval of the slope (e.g. 0.9).
///
/// Pairs with equal `x` are skipped; `None` when no pair remains or a value is not
/// finite. The interval's variance assumes distinct `x` (one point per day).
#[must_use]
pub fn theil_sen(points: &[(f64, f64)], confidence: f64) -> Option<Fit> {
    if points.iter().any(|p| !p.0.is_finite() || !p.1.is_finite()) {
        return None;
    }
    let mut slopes = Vec::with_capacity(points.len() * points.len().saturating_sub(1) / 2);
    for (i, a) in points.iter().enumerate() {
        for b in &points[i + 1..] {
            let dx = b.0 - a.0;
            if dx != 0.0 {
                slopes.push((b.1 - a.1) / dx);
            }
        }
    }
    if slopes.is_empty() {
        return None;
    }
    let slope = quantile(&mut slopes, 0.5);

    // Sen's interval: C = z·√Var(S), ranks (N ∓ C)/2 of the ordered slopes.
    let n = points.len() as f64;
    let mut var_s = n * (n - 1.0) * (2.0 * n + 5.0);
    let mut ys: Vec<f64> = points.iter().map(|p| p.1).collect();
    ys.sort_by(f64::total_cmp);
    for run in ys.chunk_by(|a, b| a == b) {
        let t = run.len() as f64;
        var_s -= t * (t - 1.0) * (2.0 * t + 5.0);
    }
    let c = probit(0.5 + confidence.clamp(0.0, 0.999_999) / 2.0) * (var_s.max(0.0) / 18.0).sqrt();
    let count = slopes.len();
    let lo_rank = (((count as f64 - c) / 2.0 - 1.0).round().max(0.0) as usize).min(count - 1);
    // Symmetric ranks; lo_rank ≤ (count − 1)/2 keeps slope_low ≤ slope ≤ slope_high.
    let hi_rank = count - 1 - lo_rank;
    let slope_low = *slopes.select_nth_unstable_by(lo_rank, f64::total_cmp).1;
    let slope_high = *slopes.select_nth_unstable_by(hi_rank, f64::total_cmp).1;

    let mut offsets: Vec<f64> = points.iter().map(|p| p.1 - slope * p.0).collect();
    let intercept = quantile(&mut offsets, 0.5);
    Some(Fit {
        slope,
        intercept,
        slope_low: slope_low.min(slope),
        slope_high: slope_high.max(slope),
    })
}

/// Index in `daily` (sorted, one point per day) where the fit starts: just after the last
/// level shift, or 0. See the module docs for the rule.
#[must_use]
pub fn restart_index(daily: &[(i64, f64)], s: &Settings) -> usize {
    let s = s.sane();
    let k = s.shift_days as usize;
    let n = daily.len();
    let ys: Vec<f64> = daily.iter().map(|p| p.1).collect();

    // A recent drop, not yet followed by k days: only if far below the previous trough.
    for i in (k.max(n.saturating_sub(k) + 1)..n).rev() {
        let before_min = ys[i - k..i].iter().copied().fold(f64::INFINITY, f64::min);
        let after_max = ys[i..].iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if after_max < before_min - s.restart_drop {
            return i;
        }
    }

    // The last run of days whose k-day medians before and after differ by the drop.
    let mut run: Option<(usize, usize)> = None;
    let mut buf = Vec::with_capacity(k);
    for i in (k..=n.saturating_sub(k)).rev() {
        buf.clear();
        buf.extend_from_slice(&ys[i - k..i]);
        let before = quantile(&mut buf, 0.5);
        buf.clear();
        buf.extend_from_slice(&ys[i..i + k]);
        let after = quantile(&mut buf, 0.5);
        let shifted = before - after > s.restart_drop;
        match (shifted, run) {
            (true, None) => run = Some((i, i)),
            (true, Some((_, end))) => run = Some((i, end)),
            (false, Some(_)) => break,
            (false, None) => {}
        }
    }
    let Some((start, end)) = run else {
        return 0;
    };
    // A clean step shows up as a run about k days wide centred on it; the step itself is
    // the day with the largest one-day fall near the run (the run may be cut by the end).
    let from = start.saturating_sub(k / 2).max(1);
    let to = (end + k / 2).min(n - 1);
    let mut best = from;
    for i in from..=to {
        if ys[i - 1] - ys[i] > ys[best - 1] - ys[best] {
            best = i;
        }
    }
    best
}

/// Forecasts one resource from its daily peaks (`(day start, value)`, any order; several
/// values on one UTC day are reduced to their max), its `current` value and thresholds.
#[must_use]
pub fn forecast(
    daily: &[(i64, f64)],
    current: Option<f64>,
    now: i64,
    th: &Thresholds,
    s: &Settings,
) -> Forecast {
    let s = s.sane();
    let all = normalise(daily, now);
    let current = current
        .filter(|v| v.is_finite())
        .or_else(|| all.last().map(|p| p.1));
    let window_start = day_start(now) - (i64::from(s.window_days) - 1) * DAY;
    let window = &all[all.partition_point(|p| p.0 < window_start)..];
    let restart = restart_index(window, &s);
    let used = &window[restart..];

    let mut out = Forecast {
        as_of: now,
        current,
        headroom_warning: current.map(|c| th.warning - c),
        headroom_critical: current.map(|c| th.critical - c),
        trend_per_day: None,
        trend_low_per_day: None,
        trend_high_per_day: None,
        peak_level: None,
        fit_from: used.first().map(|p| p.0),
        fit_days: u32::try_from(used.len()).unwrap_or(u32::MAX),
        level_shift: (restart > 0).then(|| used.first().map(|p| p.0)).flatten(),
        warning: Crossing::WillNotCross {
            reason: NoCross::NotRising,
        },
        critical: Crossing::WillNotCross {
            reason: NoCross::NotRising,
        },
        days_to_warning: None,
        days_to_critical: None,
    };

    // x in days relative to now, so the intercept is the level now.
    let points: Vec<(f64, f64)> = used
        .iter()
        .map(|&(t, v)| ((t - now) as f64 / DAY as f64, v))
        .collect();
    let fit = if used.len() >= s.min_days as usize {
        theil_sen(&points, s.confidence)
    } else {
        None
    };
    let line = fit.map(|fit| {
        let mut offsets: Vec<f64> = points.iter().map(|p| p.1 - fit.slope * p.0).collect();
        let peak_now = quantile(&mut offsets, s.envelope_quantile);
        let mut xs: Vec<f64> = points.iter().map(|p| p.0).collect();
        let centre = quantile(&mut xs, 0.5);
        Envelope {
            fit,
            centre,
            level_at_centre: peak_now + fit.slope * centre,
        }
    });
    if let Some(l) = &line {
        out.trend_per_day = Some(l.fit.slope);
        out.trend_low_per_day = Some(l.fit.slope_low);
        out.trend_high_per_day = Some(l.fit.slope_high);
        out.peak_level = Some(l.now(l.fit.slope));
    }

    let fit_days = out.fit_days;
    let crossing = |threshold: f64| -> Crossing {
        if current.is_some_and(|c| c >= threshold) {
            let run = all.iter().rev().take_while(|p| p.1 >= threshold).last();
            return Crossing::AlreadyCrossed {
                since: run.map(|p| p.0),
            };
        }
        let Some(l) = &line else {
            return Crossing::NotEnoughData {
                since: used.first().map(|p| p.0),
                days: fit_days,
                needed: s.min_days,
            };
        };
        if l.fit.slope <= 0.0 {
            return Crossing::WillNotCross {
                reason: NoCross::NotRising,
            };
        }
        let at = |slope: f64| {
            l.days_to(slope, threshold, s.horizon_days)
                .map(|d| now + to_secs(d))
        };
        match (at(l.fit.slope_high), at(l.fit.slope)) {
            (Some(early), Some(expected)) => Crossing::Between {
                early,
                expected,
                late: at(l.fit.slope_low),
            },
            _ => Crossing::WillNotCross {
                reason: NoCross::BeyondHorizon,
            },
        }
    };
    out.warning = crossing(th.warning);
    out.critical = crossing(th.critical);
    out.days_to_warning = days_to(&out.warning, now);
    out.days_to_critical = days_to(&out.critical, now);
    out
}

/// Fleet order, most urgent first: by the warning crossing, then the critical one
/// (already crossed, then the soonest expected and early date, then "will not cross",
/// then "not enough data"), then by the smallest critical headroom.
#[must_use]
pub fn rank_order(a: &Forecast, b: &Forecast) -> Ordering {
    let headroom = |f: &Forecast| f.headroom_critical.unwrap_or(f64::INFINITY);
    rank_key(&a.warning)
        .cmp(&rank_key(&b.warning))
        .then_with(|| rank_key(&a.critical).cmp(&rank_key(&b.critical)))
        .then_with(|| headroom(a).total_cmp(&headroom(b)))
}

/// Indices of `forecasts` in [`rank_order`], most urgent first (stable for ties).
#[must_use]
pub fn rank(forecasts: &[Forecast]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..forecasts.len()).collect();
    order.sort_by(|&a, &b| rank_order(&forecasts[a], &forecasts[b]));
    order
}

/// The forecast line: the Theil–Sen slope through the upper envelope, pivoting on the
/// centre of the fitted days for the interval's slopes.
struct Envelope {
    fit: Fit,
    /// Median day of the fit, relative to now (≤ 0).
    centre: f64,
    level_at_centre: f64,
}

impl Envelope {
    /// Level now of the line with `slope` through the centre.
    fn now(&self, slope: f64) -> f64 {
        self.level_at_centre - slope * self.centre
    }

    /// Days from now until the line with `slope` reaches `threshold`: 0 if it already
    /// has, `None` if it never does within `horizon` days.
    fn days_to(&self, slope: f64, threshold: f64, horizon: u32) -> Option<f64> {
        let level = self.now(slope);
        if level >= threshold {
            return Some(0.0);
        }
        if slope <= 0.0 {
            return None;
        }
        let days = (threshold - level) / slope;
        (days <= f64::from(horizon)).then_some(days)
    }
}

fn rank_key(c: &Crossing) -> (u8, i64, i64) {
    match *c {
        Crossing::AlreadyCrossed { .. } => (0, 0, 0),
        Crossing::Between {
            early, expected, ..
        } => (1, expected, early),
        Crossing::WillNotCross { .. } => (2, 0, 0),
        Crossing::NotEnoughData { .. } => (3, 0, 0),
    }
}

fn days_to(c: &Crossing, now: i64) -> Option<f64> {
    match *c {
        Crossing::AlreadyCrossed { .. } => Some(0.0),
        Crossing::Between { expected, .. } => Some((expected - now) as f64 / DAY as f64),
        _ => None,
    }
}

/// Finite points at or before `now`, one per UTC day (the max), sorted.
fn normalise(points: &[(i64, f64)], now: i64) -> Vec<(i64, f64)> {
    daily(points.iter().copied().filter(|p| p.0 <= now), Daily::Max)
}

fn day_start(t: i64) -> i64 {
    t.div_euclid(DAY) * DAY
}

/// Days to whole seconds; callers bound `days` by the horizon, so it fits.
fn to_secs(days: f64) -> i64 {
    (days * DAY as f64).round() as i64
}

/// The `q` quantile of `values` (linear interpolation between order statistics),
/// reordering them; NaN for an empty slice.
fn quantile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let pos = q.clamp(0.0, 1.0) * (values.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let frac = pos - lo as f64;
    let (_, &mut low, above) = values.select_nth_unstable_by(lo, f64::total_cmp);
    if frac == 0.0 || above.is_empty() {
        return low;
    }
    let high = above.iter().copied().fold(f64::INFINITY, f64::min);
    low + frac * (high - low)
}

/// Inverse of the standard normal CDF (Acklam's rational approximation, relative error
/// below 1.2e-9), for the interval's `z`.
fn probit(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const P_LOW: f64 = 0.024_25;
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p <= 0.0 {
        f64::NEG_INFINITY
    } else if p < P_LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p <= 1.0 - P_LOW {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else if p < 1.0 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        f64::INFINITY
    }
}

#[cfg(test)]
mod tests;
