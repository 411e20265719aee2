//! Blocks of raw points, and merging points into them.

use crate::codec::{self, Reader};
use crate::{Point, SeriesError, expect_end, read_header};

/// Format byte of a points block, layout 1.
const FORMAT: u8 = 1;

/// `existing` and `new` as one series: sorted by time, one point per timestamp. Where both
/// hold a timestamp the point from `new` wins (and within one input, the later one), so a
/// redelivered or corrected batch replaces its samples instead of duplicating them.
pub fn merge(existing: &[Point], new: &[Point]) -> Vec<Point> {
    let mut all: Vec<Point> = existing.iter().chain(new).copied().collect();
    // Stable, so among equal timestamps the input order (existing, then new) survives.
    all.sort_by_key(|p| p.0);
    let mut out: Vec<Point> = Vec::with_capacity(all.len());
    for p in all {
        match out.last_mut() {
            Some(last) if last.0 == p.0 => *last = p,
            _ => out.push(p),
        }
    }
    out
}

/// A lossless block of `points` (timestamps and value bits round-trip exactly).
///
/// Meant for the sorted, deduplicated output of [`merge`]; any order encodes, only larger.
/// Values should be finite (the server rejects others); any `f64` still round-trips.
/// More than [`crate::MAX_BLOCK_LEN`] points give a block [`decode_points`] rejects.
pub fn encode_points(points: &[Point]) -> Vec<u8> {
    let mut out = vec![FORMAT];
    codec::put_varint(&mut out, points.len() as u64);
    if points.is_empty() {
        return out;
    }
    codec::put_pco_header(&mut out);
    let times: Vec<i64> = points.iter().map(|p| p.0).collect();
    let values: Vec<f64> = points.iter().map(|p| p.1).collect();
    codec::put_ints(&mut out, &times);
    codec::put_floats(&mut out, &values);
    out
}

/// The points of a block made by [`encode_points`].
pub fn decode_points(bytes: &[u8]) -> Result<Vec<Point>, SeriesError> {
    let mut r = Reader::new(bytes);
    let n = read_header(&mut r, FORMAT, "points")?;
    if n == 0 {
        expect_end(&r)?;
        return Ok(Vec::new());
    }
    let fd = codec::read_pco_header(&mut r)?;
    let times = codec::read_ints(&mut r, &fd, n, "timestamps")?;
    let values = codec::read_floats(&mut r, &fd, n, "values")?;
    expect_end(&r)?;
    Ok(times.into_iter().zip(values).collect())
}
