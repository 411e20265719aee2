//! Rollups: per-window summaries of raw points at fixed, UTC-aligned levels, and their blocks.

use std::cmp::Ordering;
use std::fmt;

use crate::codec::{self, Reader};
use crate::{Point, SeriesError, expect_end, read_header};

/// Format byte of a rollups block, layout 1.
const FORMAT: u8 = 2;

/// Value layout of a rollups block whose min, max and p95 are all decimals of one
/// resolution: five integer columns (see [`to_row`]).
const VALUES_DECIMAL: u8 = 0;
/// Value layout for anything else: min, max, p95 and mean as float columns.
const VALUES_FLOAT: u8 = 1;

/// A rollup level: the width of its windows. Windows are aligned to the Unix epoch, so to
/// UTC midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    FiveMin,
    Hour,
    Day,
}

impl Level {
    /// Every level, finest first.
    pub const ALL: [Level; 3] = [Level::FiveMin, Level::Hour, Level::Day];

    /// Window width in seconds.
    pub const fn seconds(self) -> i64 {
        match self {
            Level::FiveMin => 300,
            Level::Hour => 3_600,
            Level::Day => 86_400,
        }
    }

    /// Stable name for storage and APIs: `5m`, `1h`, `1d`.
    pub const fn name(self) -> &'static str {
        match self {
            Level::FiveMin => "5m",
            Level::Hour => "1h",
            Level::Day => "1d",
        }
    }

    /// The level named `name` (see [`Level::name`]).
    pub fn from_name(name: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.name() == name)
    }

    /// Start of the window holding `t`: the greatest multiple of the width not after `t`
    /// (also for negative `t`; saturating at `i64::MIN`, the one window with no such
    /// multiple).
    pub const fn window_start(self, t: i64) -> i64 {
        t.saturating_sub(t.rem_euclid(self.seconds()))
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Start of the UTC day holding `t`: the key of the day's block.
pub const fn day_start(t: i64) -> i64 {
    Level::Day.window_start(t)
}

/// The level a query stepping `step_secs` between results should read: the coarsest whose
/// width is at most the step (a 15 min step reads 5 min rollups, a 2 h step hourly ones).
/// `None` means raw points: the step is finer than every level.
pub fn level_for_step(step_secs: i64) -> Option<Level> {
    Level::ALL
        .into_iter()
        .rev()
        .find(|l| l.seconds() <= step_secs)
}

/// Summary of the points of one window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rollup {
    /// Window start, unix seconds (see [`Level::window_start`]).
    pub start: i64,
    /// Points in the window; at least 1 in what [`rollup`] makes.
    pub count: u32,
    pub min: f64,
    pub max: f64,
    /// Sum of the values divided by `count`. When the values are decimals of a fixed
    /// resolution (as agents round them) this is the exact mean, correctly rounded;
    /// otherwise the float sum in time order divided by `count`.
    pub mean: f64,
    /// 95th percentile by nearest rank: the `ceil(0.95 × count)`-th smallest value. It is
    /// always one of the window's values; for up to 19 points it is the max.
    pub p95: f64,
}

/// One [`Rollup`] per window of `level` holding any of `points`, in time order.
///
/// `points` need not be sorted; duplicates count as separate points (use [`crate::merge`]
/// first). Computed from raw points at every level, so p95 is exact rather than an estimate
/// from finer rollups.
pub fn rollup(points: &[Point], level: Level) -> Vec<Rollup> {
    let mut sorted = points.to_vec();
    // Stable, so the sum runs in input order among equal timestamps and is reproducible.
    sorted.sort_by_key(|p| p.0);
    sorted
        .chunk_by(|a, b| level.window_start(a.0) == level.window_start(b.0))
        .map(|window| summarise(level.window_start(window[0].0), window))
        .collect()
}

/// The rollup of one non-empty window.
fn summarise(start: i64, window: &[Point]) -> Rollup {
    let n = window.len();
    let mut values: Vec<f64> = window.iter().map(|p| p.1).collect();
    let mean = exact_mean(&values).unwrap_or_else(|| values.iter().sum::<f64>() / n as f64);
    values.sort_by(f64::total_cmp);
    // ceil(0.95 n) in integers, 1-based; n ≥ 1 so the rank is too.
    let rank = (n * 95).div_ceil(100);
    Rollup {
        start,
        count: u32::try_from(n).unwrap_or(u32::MAX),
        min: values[0],
        max: values[n - 1],
        mean,
        p95: values[rank - 1],
    }
}

/// The exact mean of the decimal numbers `values` stand for (see `codec::to_decimal`),
/// correctly rounded: their integer sum over `count × 10^d` in one division, when both are
/// exact in `f64`. It is also what
/// [`encode_rollups`] predicts from the sum it stores, so the mean costs nothing beyond it.
fn exact_mean(values: &[f64]) -> Option<f64> {
    let d = codec::decimals(values)?;
    let mut sum = 0i64;
    for &v in values {
        sum = sum.checked_add(codec::to_decimal(v, d)?)?;
    }
    let exact = |x: f64| x.abs() < codec::EXACT_INT;
    (exact(sum as f64) && exact(values.len() as f64 * codec::pow10(d)))
        .then(|| predicted_mean(sum, values.len() as f64, d))
}

/// A lossless block of rollups (every field round-trips bit for bit), for one series and
/// one level, column by column.
///
/// When min, max and p95 are decimals of one resolution `d` (they are raw values, so they
/// are when the agent rounded them), each rollup is stored as integers that are small and
/// centred, so pco codes them near their entropy: min, max − min, max − p95 (zero up to 19
/// points), the sum `round(mean × count × 10^d)` less count × midrange, and how many floats
/// the mean lies from the one that sum gives back (zero for every mean [`rollup`] computes
/// from decimals). Otherwise they are stored as four float columns.
pub fn encode_rollups(rollups: &[Rollup]) -> Vec<u8> {
    let mut out = vec![FORMAT];
    codec::put_varint(&mut out, rollups.len() as u64);
    if rollups.is_empty() {
        return out;
    }
    codec::put_pco_header(&mut out);
    let starts: Vec<i64> = rollups.iter().map(|r| r.start).collect();
    let counts: Vec<i64> = rollups.iter().map(|r| i64::from(r.count)).collect();
    codec::put_ints(&mut out, &starts);
    codec::put_ints(&mut out, &counts);
    match decimal_columns(rollups) {
        Some((d, columns)) => {
            out.push(VALUES_DECIMAL);
            out.push(d as u8);
            for column in &columns {
                codec::put_ints(&mut out, column);
            }
        }
        None => {
            out.push(VALUES_FLOAT);
            let fields: [fn(&Rollup) -> f64; 4] = [|r| r.min, |r| r.max, |r| r.p95, |r| r.mean];
            for field in fields {
                let column: Vec<f64> = rollups.iter().map(field).collect();
                codec::put_floats(&mut out, &column);
            }
        }
    }
    out
}

/// Largest scaled sum the decimal layout stores, so that it converts to `i64` exactly.
const MAX_SUM: f64 = 4_611_686_018_427_387_904.0; // 2^62

/// The decimal resolution and the five integer columns of the decimal layout, if every
/// rollup fits it exactly.
fn decimal_columns(rollups: &[Rollup]) -> Option<(usize, [Vec<i64>; 5])> {
    let values: Vec<f64> = rollups.iter().flat_map(|r| [r.min, r.max, r.p95]).collect();
    let d = codec::decimals(&values)?;
    let mut columns: [Vec<i64>; 5] = Default::default();
    for r in rollups {
        let row = to_row(r, d)?;
        // Checking the way back makes the layout lossless for any input, odd ones included.
        let (min, max, p95, mean) = from_row(row, r.count, d)?;
        if [min, max, p95, mean].map(f64::to_bits)
            != [r.min, r.max, r.p95, r.mean].map(f64::to_bits)
        {
            return None;
        }
        for (column, v) in columns.iter_mut().zip(row) {
            column.push(v);
        }
    }
    Some((d, columns))
}

/// One rollup's values as the integers of the decimal layout, at `d` decimals:
/// - min;
/// - spread = max − min;
/// - p95 gap = max − p95 (zero up to 19 points);
/// - sum excess = sum − count × min − ⌊count × spread / 2⌋, the integer sum relative to
///   count × midrange, where sum = round(mean × count × 10^d);
/// - mean residue: how many floats the mean lies from the one the sum gives back (see
///   `predicted_mean`); zero for every mean [`rollup`] computes from decimals.
fn to_row(r: &Rollup, d: usize) -> Option<[i64; 5]> {
    let count = i64::from(r.count);
    let min = codec::to_decimal(r.min, d)?;
    let max = codec::to_decimal(r.max, d)?;
    let p95 = codec::to_decimal(r.p95, d)?;
    let scaled_sum = r.mean * f64::from(r.count) * codec::pow10(d);
    // Also rejects NaN and infinities.
    if scaled_sum.abs().partial_cmp(&MAX_SUM) != Some(Ordering::Less) {
        return None;
    }
    let sum = scaled_sum.round() as i64;
    let spread = max.checked_sub(min)?;
    let excess = sum
        .checked_sub(count.checked_mul(min)?)?
        .checked_sub(count.checked_mul(spread)? / 2)?;
    let predicted = predicted_mean(sum, f64::from(r.count), d);
    let residue = codec::ordered_key(r.mean).wrapping_sub(codec::ordered_key(predicted));
    Some([min, spread, max.checked_sub(p95)?, excess, residue])
}

/// Min, max, p95 and mean from a row of [`to_row`]; `None` where the integers overflow,
/// which only corrupt input does.
fn from_row(row: [i64; 5], count: u32, d: usize) -> Option<(f64, f64, f64, f64)> {
    let [min, spread, gap, excess, residue] = row;
    let n = i64::from(count);
    let max = min.checked_add(spread)?;
    let p95 = max.checked_sub(gap)?;
    let sum = excess
        .checked_add(n.checked_mul(min)?)?
        .checked_add(n.checked_mul(spread)? / 2)?;
    let predicted = predicted_mean(sum, f64::from(count), d);
    let mean = codec::from_ordered_key(codec::ordered_key(predicted).wrapping_add(residue));
    Some((
        codec::from_decimal(min, d),
        codec::from_decimal(max, d),
        codec::from_decimal(p95, d),
        mean,
    ))
}

/// The mean an integer sum of decimals at `d` stands for: one correctly rounded division
/// whenever `sum` and `count × 10^d` are exact (below 2^53), so the same float at every `d`.
fn predicted_mean(sum: i64, count: f64, d: usize) -> f64 {
    sum as f64 / (count * codec::pow10(d))
}

/// The rollups of a block made by [`encode_rollups`].
pub fn decode_rollups(bytes: &[u8]) -> Result<Vec<Rollup>, SeriesError> {
    let mut r = Reader::new(bytes);
    let n = read_header(&mut r, FORMAT, "rollups")?;
    if n == 0 {
        expect_end(&r)?;
        return Ok(Vec::new());
    }
    let fd = codec::read_pco_header(&mut r)?;
    let starts = codec::read_ints(&mut r, &fd, n, "rollup starts")?;
    let counts = codec::read_ints(&mut r, &fd, n, "rollup counts")?
        .into_iter()
        .map(|c| u32::try_from(c).map_err(|_| corrupt("rollup counts", format!("count {c}"))))
        .collect::<Result<Vec<u32>, _>>()?;
    let values: Vec<(f64, f64, f64, f64)> = match r.byte("rollup value layout")? {
        VALUES_DECIMAL => {
            let d = usize::from(r.byte("rollup decimals")?);
            if d > codec::MAX_DECIMALS {
                return Err(corrupt("rollup decimals", format!("{d} decimals")));
            }
            let mut columns: [Vec<i64>; 5] = Default::default();
            for (column, what) in columns.iter_mut().zip(DECIMAL_COLUMNS) {
                *column = codec::read_ints(&mut r, &fd, n, what)?;
            }
            (0..n)
                .map(|i| {
                    from_row(columns.each_ref().map(|c| c[i]), counts[i], d)
                        .ok_or_else(|| corrupt("rollup values", format!("row {i} overflows")))
                })
                .collect::<Result<_, _>>()?
        }
        VALUES_FLOAT => {
            let mut columns: [Vec<f64>; 4] = Default::default();
            for (column, what) in columns.iter_mut().zip(FLOAT_COLUMNS) {
                *column = codec::read_floats(&mut r, &fd, n, what)?;
            }
            let [mins, maxes, p95s, means] = columns;
            (0..n)
                .map(|i| (mins[i], maxes[i], p95s[i], means[i]))
                .collect()
        }
        layout => {
            return Err(corrupt("rollup value layout", format!("{layout:#04x}")));
        }
    };
    expect_end(&r)?;
    Ok((0..n)
        .map(|i| {
            let (min, max, p95, mean) = values[i];
            Rollup {
                start: starts[i],
                count: counts[i],
                min,
                max,
                mean,
                p95,
            }
        })
        .collect())
}

/// Names of the decimal layout's columns, for errors.
const DECIMAL_COLUMNS: [&str; 5] = [
    "rollup mins",
    "rollup spreads",
    "rollup p95 gaps",
    "rollup sum excesses",
    "rollup mean residues",
];
const FLOAT_COLUMNS: [&str; 4] = ["rollup mins", "rollup maxes", "rollup p95s", "rollup means"];

fn corrupt(what: &'static str, detail: String) -> SeriesError {
    SeriesError::Corrupt { what, detail }
}
