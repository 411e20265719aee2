use super::*;

/// A UTC midnight (2023-11-15).
const T0: i64 = 1_700_006_400;

/// Daily points `f(d)` for days `0..days` from `T0`.
fn series(days: i64, mut f: impl FnMut(i64) -> f64) -> Vec<(i64, f64)> {
    (0..days).map(|d| (T0 + d * DAY, f(d))).collect()
}

/// Noon of day `d`.
fn noon(d: i64) -> i64 {
    T0 + d * DAY + DAY / 2
}

/// Deterministic uniform noise (64-bit LCG, top 53 bits).
struct Rng(u64);

impl Rng {
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        lo + (hi - lo) * ((self.0 >> 11) as f64 / (1u64 << 53) as f64)
    }
}

fn defaults(daily: &[(i64, f64)], current: Option<f64>, now: i64) -> Forecast {
    forecast(
        daily,
        current,
        now,
        &Thresholds::default(),
        &Settings::default(),
    )
}

fn between(c: &Crossing) -> (i64, i64, Option<i64>) {
    match *c {
        Crossing::Between {
            early,
            expected,
            late,
        } => (early, expected, late),
        ref other => panic!("expected a crossing range, got {other:?}"),
    }
}

/// Ordinary least squares `(slope, intercept)`, for comparison.
fn ols(points: &[(f64, f64)]) -> (f64, f64) {
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = points.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
    let slope = sxy / sxx;
    (slope, my - slope * mx)
}

#[test]
fn linear_growth_gives_exact_dates() {
    // 50 % + 0.5 %/day: 80 % on day 60, 90 % on day 80.
    let data = series(60, |d| 50.0 + 0.5 * d as f64);
    let f = defaults(&data, Some(79.5), noon(59));
    assert_eq!(
        f.warning,
        Crossing::Between {
            early: T0 + 60 * DAY,
            expected: T0 + 60 * DAY,
            late: Some(T0 + 60 * DAY),
        }
    );
    assert_eq!(
        f.critical,
        Crossing::Between {
            early: T0 + 80 * DAY,
            expected: T0 + 80 * DAY,
            late: Some(T0 + 80 * DAY),
        }
    );
    assert_eq!(f.trend_per_day, Some(0.5));
    assert_eq!(f.headroom_warning, Some(0.5));
    assert_eq!(f.headroom_critical, Some(10.5));
    assert_eq!(f.days_to_warning, Some(0.5));
    assert_eq!(f.days_to_critical, Some(20.5));
    assert_eq!(f.fit_from, Some(T0));
    assert_eq!(f.fit_days, 60);
    assert_eq!(f.level_shift, None);
}

#[test]
fn sawtooth_forecasts_when_the_peaks_cross() {
    // Hourly samples: +0.5 %/day growth plus 1.5 %/day filling that a weekly clean-up
    // removes (a 9-point drop every 7 days).
    let (base, growth, fill) = (30.0, 0.5, 1.5);
    let value = |h: i64| {
        let day = h as f64 / 24.0;
        base + growth * day + fill * (day % 7.0)
    };
    let hours = 60 * 24;
    let hourly: Vec<(i64, f64)> = (0..hours).map(|h| (T0 + h * 3600, value(h))).collect();
    let peaks = daily(hourly.iter().copied(), Daily::Max);
    assert_eq!(peaks.len(), 60);
    let now = T0 + hours * 3600 - 1800;
    let current = value(hours - 1);

    // The peaks (23:00 on the day before each clean-up) lie on
    // base + fill·(6 + 23/24) + growth·(day + 23/24); they reach a level on day:
    let peak_day = |level: f64| (level - base - fill * (6.0 + 23.0 / 24.0)) / growth - 23.0 / 24.0;
    let error = |c: &Crossing, level: f64| {
        let (early, expected, late) = between(c);
        assert!(early <= expected && late.is_some_and(|l| l >= expected));
        ((expected - T0) as f64 / DAY as f64 - peak_day(level)).abs()
    };

    let f = defaults(&peaks, Some(current), now);
    assert_eq!(
        f.level_shift, None,
        "a clean-up sawtooth is not a level shift"
    );
    assert!(
        peak_day(80.0) > 75.0,
        "the crossing is ahead, about 19 days out"
    );
    let ours = error(&f.warning, 80.0);
    assert!(
        ours <= 1.0,
        "Theil–Sen envelope is {ours:.2} days off for 80 %"
    );
    let critical = error(&f.critical, 90.0);
    assert!(
        critical <= 1.0,
        "Theil–Sen envelope is {critical:.2} days off for 90 %"
    );
    let peak_day = peak_day(80.0);

    // Least squares over the raw samples fits the mean, about half a cycle below the
    // peaks: its date is more than a week late.
    let x = |t: i64| (t - T0) as f64 / DAY as f64;
    let raw: Vec<(f64, f64)> = hourly.iter().map(|&(t, v)| (x(t), v)).collect();
    let (slope, intercept) = ols(&raw);
    let ols_all = ((80.0 - intercept) / slope - peak_day).abs();
    // `predict_linear` over the last day sees only the fill rate: days too early.
    let (slope, intercept) = ols(&raw[raw.len() - 24..]);
    let ols_day = ((80.0 - intercept) / slope - peak_day).abs();
    // Least squares over the daily peaks still fits their middle.
    let daily_points: Vec<(f64, f64)> = peaks.iter().map(|&(t, v)| (x(t), v)).collect();
    let (slope, intercept) = ols(&daily_points);
    let ols_daily = ((80.0 - intercept) / slope - peak_day).abs();
    for (name, err) in [
        ("raw", ols_all),
        ("last day", ols_day),
        ("daily", ols_daily),
    ] {
        assert!(
            err > 5.0 && err > 3.0 * ours,
            "OLS over {name} is only {err:.2} days off (ours {ours:.2})"
        );
    }
}

#[test]
fn a_resize_restarts_the_fit() {
    // 40 days near 85 %, resized to 40 %, then 20 days of +0.25 %/day.
    let data = series(60, |d| {
        if d < 40 {
            84.0 + 0.025 * d as f64
        } else {
            40.0 + 0.25 * (d - 40) as f64
        }
    });
    assert_eq!(restart_index(&data, &Settings::default()), 40);
    let now = noon(59);
    let f = defaults(&data, None, now);
    assert_eq!(f.level_shift, Some(T0 + 40 * DAY));
    assert_eq!(f.fit_from, Some(T0 + 40 * DAY));
    assert_eq!(f.fit_days, 20);
    assert_eq!(f.current, Some(44.75));
    assert_eq!(f.trend_per_day, Some(0.25));
    // 40 + 0.25·(d − 40) = 80 on day 200.
    assert_eq!(
        f.warning,
        Crossing::Between {
            early: T0 + 200 * DAY,
            expected: T0 + 200 * DAY,
            late: Some(T0 + 200 * DAY),
        }
    );
}

#[test]
fn a_recent_resize_is_not_enough_data_since_the_resize() {
    let data = series(43, |d| if d < 40 { 85.0 } else { 40.0 });
    let f = defaults(&data, Some(40.0), noon(42));
    let expected = Crossing::NotEnoughData {
        since: Some(T0 + 40 * DAY),
        days: 3,
        needed: 7,
    };
    assert_eq!(f.warning, expected);
    assert_eq!(f.critical, expected);
    assert_eq!(f.level_shift, Some(T0 + 40 * DAY));
    assert_eq!(f.trend_per_day, None);
}

#[test]
fn a_drop_that_recovers_within_a_week_is_kept() {
    // A one-off clean-up on day 30 refilled by day 33.
    let data = series(60, |d| match d {
        30 => 45.0,
        31 => 55.0,
        32 => 65.0,
        _ => 60.0 + 0.2 * d as f64,
    });
    assert_eq!(restart_index(&data, &Settings::default()), 0);
    // Day 59: the same drop yesterday is pending, but not below the last trough by 10.
    let mut recent = series(58, |d| 60.0 + 0.2 * d as f64);
    recent.push((T0 + 58 * DAY, 55.0));
    recent.push((T0 + 59 * DAY, 62.0));
    assert_eq!(restart_index(&recent, &Settings::default()), 0);
}

#[test]
fn flat_and_falling_data_will_not_cross() {
    for seed in 0..20 {
        let mut rng = Rng(seed);
        let flat = series(90, |_| 50.0 + rng.uniform(-2.0, 2.0));
        let f = defaults(&flat, None, noon(89));
        for c in [&f.warning, &f.critical] {
            assert!(
                matches!(c, Crossing::WillNotCross { .. }),
                "seed {seed}: {c:?}"
            );
        }
        let mut rng = Rng(seed);
        let falling = series(90, |d| 75.0 - 0.2 * d as f64 + rng.uniform(-2.0, 2.0));
        let f = defaults(&falling, None, noon(89));
        let not_rising = Crossing::WillNotCross {
            reason: NoCross::NotRising,
        };
        assert_eq!(f.warning, not_rising, "seed {seed}");
        assert_eq!(f.critical, not_rising, "seed {seed}");
    }
    let exactly_flat = defaults(&series(30, |_| 50.0), None, noon(29));
    assert_eq!(exactly_flat.trend_per_day, Some(0.0));
    assert_eq!(
        exactly_flat.warning,
        Crossing::WillNotCross {
            reason: NoCross::NotRising
        }
    );
}

#[test]
fn slow_growth_beyond_the_horizon_will_not_cross() {
    // +0.02 %/day from 50 %: 80 % in about 4 years.
    let f = defaults(&series(90, |d| 50.0 + 0.02 * d as f64), None, noon(89));
    assert_eq!(
        f.warning,
        Crossing::WillNotCross {
            reason: NoCross::BeyondHorizon
        }
    );
    let longer = Settings {
        horizon_days: 2000,
        ..Settings::default()
    };
    let f = forecast(
        &series(90, |d| 50.0 + 0.02 * d as f64),
        None,
        noon(89),
        &Thresholds::default(),
        &longer,
    );
    assert!(matches!(f.warning, Crossing::Between { .. }));
}

#[test]
fn two_days_is_not_enough_data() {
    let data = series(2, |d| 50.0 + d as f64);
    let f = defaults(&data, Some(51.0), noon(1));
    let expected = Crossing::NotEnoughData {
        since: Some(T0),
        days: 2,
        needed: 7,
    };
    assert_eq!(f.warning, expected);
    assert_eq!(f.critical, expected);
    assert_eq!(f.headroom_warning, Some(29.0));
    assert_eq!(f.days_to_warning, None);

    let none = defaults(&[], None, noon(1));
    assert_eq!(
        none.warning,
        Crossing::NotEnoughData {
            since: None,
            days: 0,
            needed: 7,
        }
    );
    assert_eq!(none.current, None);
    assert_eq!(none.headroom_warning, None);
}

#[test]
fn days_outside_the_window_or_in_the_future_are_ignored() {
    // 200 days; the window keeps the last 90. Future points are dropped.
    let mut data = series(200, |d| 10.0 + 0.25 * d as f64);
    data.push((T0 + 250 * DAY, 99.0));
    let f = defaults(&data, None, noon(199));
    assert_eq!(f.fit_from, Some(T0 + 110 * DAY));
    assert_eq!(f.fit_days, 90);
    assert_eq!(f.current, Some(59.75));
    let short = Settings {
        window_days: 5,
        ..Settings::default()
    };
    let f = forecast(&data, None, noon(199), &Thresholds::default(), &short);
    assert_eq!(
        f.warning,
        Crossing::NotEnoughData {
            since: Some(T0 + 195 * DAY),
            days: 5,
            needed: 7,
        }
    );
}

#[test]
fn above_critical_has_already_crossed() {
    // 85 % + 0.125 %/day: at or above 90 % from day 40.
    let data = series(60, |d| 85.0 + 0.125 * d as f64);
    let f = defaults(&data, Some(92.5), noon(59));
    assert_eq!(f.warning, Crossing::AlreadyCrossed { since: Some(T0) });
    assert_eq!(
        f.critical,
        Crossing::AlreadyCrossed {
            since: Some(T0 + 40 * DAY)
        }
    );
    assert_eq!(f.headroom_critical, Some(-2.5));
    assert_eq!(f.days_to_critical, Some(0.0));

    // Only the current value is above: crossed, since unknown.
    let f = defaults(&series(30, |_| 50.0), Some(95.0), noon(29));
    assert_eq!(f.critical, Crossing::AlreadyCrossed { since: None });
    // Already crossed needs no history.
    let f = defaults(&[], Some(95.0), noon(0));
    assert_eq!(f.critical, Crossing::AlreadyCrossed { since: None });
}

#[test]
fn peaks_already_at_the_threshold_are_due_now() {
    // Sawtooth whose peaks passed 80 % while the current value is in a trough.
    let data = series(60, |d| 50.0 + 0.5 * d as f64 + 2.0 * (d % 7) as f64);
    let now = noon(59);
    let f = defaults(&data, Some(70.0), now);
    assert_eq!(
        f.warning,
        Crossing::Between {
            early: now,
            expected: now,
            late: Some(now),
        }
    );
    assert_eq!(f.days_to_warning, Some(0.0));
}

#[test]
fn noisy_growth_range_contains_the_true_date() {
    // 50 % + 0.3 %/day with uniform ±2 noise: 1 day in 10 exceeds the line by 1.6, so the
    // peaks reach 80 % on day (80 − 51.6) / 0.3 ≈ 94.7.
    let truth = T0 as f64 + (80.0 - 51.6) / 0.3 * DAY as f64;
    let runs = 200;
    let mut covered = 0;
    for seed in 0..runs {
        let mut rng = Rng(seed);
        let data = series(60, |d| 50.0 + 0.3 * d as f64 + rng.uniform(-2.0, 2.0));
        let f = defaults(&data, None, noon(59));
        let (early, expected, late) = between(&f.warning);
        let late = late.expect("a significant trend has a late date");
        assert!(early <= expected && expected <= late, "seed {seed}");
        assert!(early < late, "seed {seed}: noise must widen the range");
        if (early as f64) <= truth && truth <= late as f64 {
            covered += 1;
        }
    }
    // A 90 % interval of the slope; the level's own error costs a few percent.
    assert!(covered * 100 >= runs * 80, "covered {covered} of {runs}");
}

#[test]
fn an_uncertain_trend_has_no_late_date() {
    // Noise so large the slope's interval reaches zero.
    let mut rng = Rng(7);
    let data = series(10, |d| 60.0 + 0.5 * d as f64 + rng.uniform(-8.0, 8.0));
    let f = defaults(&data, Some(60.0), noon(9));
    let low = f.trend_low_per_day.expect("fitted");
    assert!(low <= 0.0, "slope interval low end {low}");
    match f.warning {
        Crossing::Between { late, .. } => assert_eq!(late, None),
        Crossing::WillNotCross { .. } => {}
        ref other => panic!("{other:?}"),
    }
}

#[test]
fn ranking_puts_the_most_urgent_first() {
    let now = noon(59);
    let growing = |rate: f64| series(60, move |d| 40.0 + rate * d as f64);
    let over = defaults(&growing(0.5), Some(85.0), now); // warning crossed
    let critical_over = defaults(&growing(0.5), Some(95.0), now); // both crossed
    let soon = defaults(&growing(0.5), None, now); // 80 % on day 80
    let later = defaults(&growing(0.3), None, now); // 80 % on day 133
    let flat = defaults(&series(60, |_| 40.0), None, now);
    let unknown = defaults(&series(3, |_| 40.0), None, now);
    let fleet = vec![
        unknown.clone(),
        later.clone(),
        flat.clone(),
        soon.clone(),
        over.clone(),
        critical_over.clone(),
    ];
    let order: Vec<Forecast> = rank(&fleet).into_iter().map(|i| fleet[i].clone()).collect();
    assert_eq!(
        order,
        vec![critical_over, over, soon, later, flat, unknown],
        "critical crossed, warning crossed, soonest, later, will not cross, unknown"
    );
}

#[test]
fn crossings_serialise_with_a_status_tag() {
    let json = |c: &Crossing| serde_json::to_string(c).expect("serialises");
    assert_eq!(
        json(&Crossing::Between {
            early: 1,
            expected: 2,
            late: None
        }),
        r#"{"status":"between","early":1,"expected":2,"late":null}"#
    );
    assert_eq!(
        json(&Crossing::AlreadyCrossed { since: Some(5) }),
        r#"{"status":"already_crossed","since":5}"#
    );
    assert_eq!(
        json(&Crossing::WillNotCross {
            reason: NoCross::BeyondHorizon
        }),
        r#"{"status":"will_not_cross","reason":"beyond_horizon"}"#
    );
    assert_eq!(
        json(&Crossing::NotEnoughData {
            since: None,
            days: 2,
            needed: 7
        }),
        r#"{"status":"not_enough_data","since":null,"days":2,"needed":7}"#
    );
    let f = defaults(&series(30, |d| 50.0 + 0.3 * d as f64), None, noon(29));
    let text = serde_json::to_string(&f).expect("serialises");
    assert!(text.contains(r#""warning":{"status":"between","early":"#));
    // serde_json's default float parsing may differ in the last bit; the rest is exact.
    let back: Forecast = serde_json::from_str(&text).expect("reads back");
    assert_eq!((back.warning, back.critical), (f.warning, f.critical));
    assert_eq!((back.fit_from, back.fit_days), (f.fit_from, f.fit_days));

    let settings: Settings =
        serde_json::from_str(r#"{"window_days": 30}"#).expect("partial settings parse");
    assert_eq!(settings.window_days, 30);
    assert_eq!(settings.min_days, 7);
}

#[test]
fn theil_sen_ignores_outliers() {
    let mut points: Vec<(f64, f64)> = (0..20).map(|i| (i as f64, 1.0 + 2.0 * i as f64)).collect();
    points[5].1 = 500.0;
    points[12].1 = -300.0;
    let fit = theil_sen(&points, 0.9).expect("fits");
    assert_eq!(fit.slope, 2.0);
    assert_eq!(fit.intercept, 1.0);
    assert!(fit.slope_low <= 2.0 && fit.slope_high >= 2.0);
    let (ols_slope, _) = ols(&points);
    assert!((ols_slope - 2.0).abs() > 1.0, "OLS slope {ols_slope}");

    assert_eq!(theil_sen(&[(1.0, 1.0), (1.0, 2.0)], 0.9), None);
    assert_eq!(theil_sen(&[(1.0, 1.0)], 0.9), None);
    assert_eq!(theil_sen(&[(0.0, 1.0), (1.0, f64::NAN)], 0.9), None);
    let two = theil_sen(&[(0.0, 1.0), (2.0, 2.0)], 0.9).expect("fits");
    assert_eq!((two.slope, two.slope_low, two.slope_high), (0.5, 0.5, 0.5));
}

#[test]
fn theil_sen_interval_narrows_with_more_data() {
    let width = |n: i64| {
        let mut rng = Rng(3);
        let points: Vec<(f64, f64)> = (0..n)
            .map(|i| (i as f64, 0.5 * i as f64 + rng.uniform(-2.0, 2.0)))
            .collect();
        let fit = theil_sen(&points, 0.9).expect("fits");
        assert!(fit.slope_low <= fit.slope && fit.slope <= fit.slope_high);
        fit.slope_high - fit.slope_low
    };
    assert!(width(90) < width(30) && width(30) < width(10));
}

#[test]
fn daily_reduces_to_utc_days() {
    // Two days of hourly values 0..23 (+100 on the second), unsorted, with a NaN.
    let mut points: Vec<(i64, f64)> = (0..48)
        .map(|h| {
            (
                T0 + h * 3600,
                (h % 24) as f64 + if h >= 24 { 100.0 } else { 0.0 },
            )
        })
        .collect();
    points.reverse();
    points.push((T0 + 3600, f64::NAN));
    assert_eq!(
        daily(points.iter().copied(), Daily::Max),
        vec![(T0, 23.0), (T0 + DAY, 123.0)]
    );
    // p95 of 0..23 by linear interpolation: 0.95 · 23 = 21.85.
    let p95 = daily(points.iter().copied(), Daily::P95);
    assert_eq!(p95.len(), 2);
    assert!((p95[0].1 - 21.85).abs() < 1e-9);
    assert_eq!(p95[0].0, T0);
    // Before 1970 days still start at midnight.
    assert_eq!(daily([(-1, 1.0)], Daily::Max), vec![(-DAY, 1.0)]);
}

#[test]
fn probit_matches_known_quantiles() {
    assert!((probit(0.95) - 1.644_853_626_951).abs() < 1e-8);
    assert!((probit(0.975) - 1.959_963_984_540).abs() < 1e-8);
    assert!((probit(0.5)).abs() < 1e-12);
    assert!((probit(0.01) + 2.326_347_874_041).abs() < 1e-8);
}

#[test]
fn a_thousand_resources_forecast_quickly() {
    // Budget: 1,000 resources × 90 days well under 200 ms in an optimised build; debug
    // builds are several times slower, so this only guards against a blow-up.
    let mut rng = Rng(11);
    let fleet: Vec<Vec<(i64, f64)>> = (0..1000)
        .map(|_| series(90, |d| 40.0 + 0.2 * d as f64 + rng.uniform(-3.0, 3.0)))
        .collect();
    let started = std::time::Instant::now();
    let forecasts: Vec<Forecast> = fleet.iter().map(|d| defaults(d, None, noon(89))).collect();
    let order = rank(&forecasts);
    let elapsed = started.elapsed();
    assert_eq!(order.len(), 1000);
    assert!(elapsed.as_secs() < 5, "took {elapsed:?}");
}
