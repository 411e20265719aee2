//! Byte-level building blocks shared by the point and rollup blocks: varints, a bounds-checked
//! reader, and self-describing columns of `i64` or `f64`.
//!
//! A column is `n` numbers whose count the block header already holds, so a column stores no
//! count of its own. Each column starts with a tag byte naming its encoding; the encoder tries
//! every encoding that can represent the column and keeps the smallest (compaction runs in the
//! background, so spending ~1 ms per series-day on trying is cheap next to the bytes saved).
//! Columns are decoded in order from one reader, so none needs a length prefix.
//!
//! Encodings of an `i64` column:
//! - k-th order deltas (k = 0, 1, 2) as runs of zeros and zigzag varints: best on short
//!   columns (pco's metadata costs tens of bytes) and on regular ones; 60 s timestamps with
//!   no jitter cost a dozen bytes a day;
//! - pco (wrapped format: chunk metadata and one page), entropy-coded, with each of a few
//!   delta choices (see `pco_delta_specs`); as `i32` when the numbers fit, which also allows
//!   pco's linear-prediction delta; best on long noisy columns;
//! - the greatest common divisor, then one of the above on the quotients: bytes that come in
//!   whole 4 KiB pages or blocks.
//!
//! Encodings of an `f64` column:
//! - decimal: every value is exactly `i / 10^d` (bit for bit, as an agent's rounding to `d`
//!   decimals produces) for one `d`, so the column is the `i64` column of the `i`; this turns
//!   noisy floats into small integers that pco codes near their entropy;
//! - pco on the floats themselves (it finds float multipliers and quantisation on its own);
//! - plain little-endian bytes, for a handful of values.
//!
//! Everything decodes bit-exactly. Decoding never trusts the input: every length is checked
//! against what is left, every arithmetic step on decoded numbers wraps or is checked, and
//! nesting (a divisor inside a decimal column) is bounded.

use pco::PagingSpec;
use pco::data_types::Number;
use pco::wrapped::{FileCompressor, FileDecompressor};
use pco::{ChunkConfig, DeltaSpec};

use crate::SeriesError;

/// Powers of ten exactly representable as `f64` that the decimal encoding may divide by.
const POW10: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];
/// Most decimals the decimal encoding handles.
pub(crate) const MAX_DECIMALS: usize = POW10.len() - 1;
/// Integers of magnitude below this are exact in `f64`, so `i as f64` loses nothing.
pub(crate) const EXACT_INT: f64 = 9_007_199_254_740_992.0; // 2^53

/// pco on the numbers as `i64`.
const INT_PCO: u8 = 0;
/// pco on the numbers as `i32`, when they all fit (pco's `Conv1` takes no wider type).
const INT_PCO32: u8 = 4;
/// `varint g`, then a column of the numbers divided by `g`.
const INT_GCD: u8 = 5;
/// Shorter columns never come out smaller with pco.
const MIN_PCO_LEN: usize = 16;
/// `INT_DELTA + k`: k-th order deltas, zero runs and zigzag varints (k = 0, 1, 2).
const INT_DELTA: u8 = 1;
const MAX_DELTA_ORDER: u8 = 2;
const INT_DELTA_LAST: u8 = INT_DELTA + MAX_DELTA_ORDER;

/// Float tags 0..=15 are the decimal encoding with `d` = the tag.
const FLOAT_PCO: u8 = 0x40;
const FLOAT_PLAIN: u8 = 0x41;

/// pco's level 8 is its default; higher levels measured no smaller on our series.
const PCO_LEVEL: usize = 8;

// ---------------------------------------------------------------------------------------------
// Varints and the reader.

pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// A cursor over a block that reports what it was reading when the bytes run out.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.rest.len()
    }

    pub(crate) fn byte(&mut self, what: &'static str) -> Result<u8, SeriesError> {
        let (&b, rest) = self
            .rest
            .split_first()
            .ok_or(SeriesError::Truncated { what })?;
        self.rest = rest;
        Ok(b)
    }

    fn bytes<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], SeriesError> {
        let (head, rest) = self
            .rest
            .split_first_chunk::<N>()
            .ok_or(SeriesError::Truncated { what })?;
        self.rest = rest;
        Ok(*head)
    }

    pub(crate) fn varint(&mut self, what: &'static str) -> Result<u64, SeriesError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte(what)?;
            let bits = u64::from(b & 0x7f);
            // The tenth byte may only carry the top bit of a u64.
            if shift == 63 && bits > 1 {
                break;
            }
            v |= bits << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(SeriesError::Corrupt {
            what,
            detail: "varint longer than 64 bits".into(),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// pco, wrapped: the caller writes pco's 2-byte format header once per block, and each column
// is one chunk of one page whose count the block header gives.

pub(crate) fn put_pco_header(out: &mut Vec<u8>) {
    // Writing into a Vec cannot fail; without the header decoding reports it as truncated.
    let _ = FileCompressor::default().write_header(&mut *out);
}

pub(crate) fn read_pco_header(r: &mut Reader<'_>) -> Result<FileDecompressor, SeriesError> {
    let (fd, rest) = FileDecompressor::new(r.rest).map_err(|e| pco_error("pco header", &e))?;
    r.rest = rest;
    Ok(fd)
}

fn pco_error(what: &'static str, e: &pco::errors::PcoError) -> SeriesError {
    SeriesError::Corrupt {
        what,
        detail: e.to_string(),
    }
}

/// pco bytes of `nums`, or `None` where pco declines (it should not for non-empty input;
/// the caller then keeps another encoding rather than panic).
fn pco_compress<T: Number>(nums: &[T], delta: DeltaSpec) -> Option<Vec<u8>> {
    let config = ChunkConfig::default()
        .with_compression_level(PCO_LEVEL)
        .with_delta_spec(delta)
        .with_paging_spec(PagingSpec::Exact(vec![nums.len()]));
    let mut cc = FileCompressor::default()
        .chunk_compressor(nums, &config)
        .ok()?;
    let mut out = Vec::new();
    cc.write_meta(&mut out).ok()?;
    cc.write_page(0, &mut out).ok()?;
    Some(out)
}

fn pco_decompress<T: Number + Default>(
    fd: &FileDecompressor,
    r: &mut Reader<'_>,
    n: usize,
    what: &'static str,
) -> Result<Vec<T>, SeriesError> {
    let (mut cd, rest) = fd
        .chunk_decompressor::<T, _>(r.rest)
        .map_err(|e| pco_error(what, &e))?;
    let mut pd = cd
        .page_decompressor(rest, n)
        .map_err(|e| pco_error(what, &e))?;
    let mut nums = vec![T::default(); n];
    let progress = pd.read(&mut nums).map_err(|e| pco_error(what, &e))?;
    if progress.n_processed != n || !progress.finished {
        return Err(SeriesError::Corrupt {
            what,
            detail: format!("pco page held {} of {n} numbers", progress.n_processed),
        });
    }
    r.rest = pd.into_src();
    Ok(nums)
}

// ---------------------------------------------------------------------------------------------
// i64 columns.

/// k-th order wrapping differences: the first k numbers stay as they are (each the first of
/// one lower order), the rest are differences of differences.
fn deltas(nums: &[i64], order: u8) -> Vec<i64> {
    let mut d = nums.to_vec();
    for k in 0..usize::from(order) {
        for i in (k + 1..d.len()).rev() {
            d[i] = d[i].wrapping_sub(d[i - 1]);
        }
    }
    d
}

fn undeltas(d: &mut [i64], order: u8) {
    for k in (0..usize::from(order)).rev() {
        for i in k + 1..d.len() {
            d[i] = d[i].wrapping_add(d[i - 1]);
        }
    }
}

/// Runs of zeros and the non-zero numbers between them: `run, value, run, value, …, [run]`.
/// A regular series has all-zero second differences, so it costs a few bytes in all.
fn put_runs(out: &mut Vec<u8>, nums: &[i64]) {
    let mut run = 0u64;
    for &v in nums {
        if v == 0 {
            run += 1;
        } else {
            put_varint(out, run);
            put_varint(out, zigzag(v));
            run = 0;
        }
    }
    if run > 0 {
        put_varint(out, run);
    }
}

fn read_runs(r: &mut Reader<'_>, n: usize, what: &'static str) -> Result<Vec<i64>, SeriesError> {
    let mut nums = Vec::with_capacity(n);
    while nums.len() < n {
        let run = r.varint(what)?;
        let room = (n - nums.len()) as u64;
        if run > room {
            return Err(SeriesError::Corrupt {
                what,
                detail: format!("run of {run} zeros where {room} numbers are left"),
            });
        }
        nums.resize(nums.len() + run as usize, 0);
        if nums.len() < n {
            nums.push(unzigzag(r.varint(what)?));
        }
    }
    Ok(nums)
}

/// Greatest common divisor of the magnitudes (0 for all zeros).
fn gcd(nums: &[i64]) -> u64 {
    nums.iter().fold(0u64, |mut a, &v| {
        let mut b = v.unsigned_abs();
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    })
}

/// The delta choices tried with pco. Its `Auto` misjudges noisy series with a trend (a busy
/// CPU's daily curve) by 10–15 %, so first differences are tried explicitly too.
fn pco_delta_specs(narrow: bool) -> Vec<DeltaSpec> {
    let mut specs = vec![
        DeltaSpec::Auto,
        DeltaSpec::NoOp,
        DeltaSpec::TryConsecutive(1),
    ];
    // A linear predictor over the last few values follows a drifting level better than a
    // single difference; pco offers it for 32-bit numbers only.
    if narrow {
        specs.push(DeltaSpec::TryConv1(2));
    }
    specs
}

/// Appends the smallest encoding of an `i64` column.
pub(crate) fn put_ints(out: &mut Vec<u8>, nums: &[i64]) {
    let best = int_candidates(nums, true);
    out.extend_from_slice(&best);
}

fn int_candidates(nums: &[i64], try_gcd: bool) -> Vec<u8> {
    let mut best: Vec<u8> = Vec::new();
    let mut keep = |candidate: Vec<u8>| {
        if best.is_empty() || candidate.len() < best.len() {
            best = candidate;
        }
    };
    for order in 0..=MAX_DELTA_ORDER {
        let mut c = vec![INT_DELTA + order];
        put_runs(&mut c, &deltas(nums, order));
        keep(c);
    }
    // pco's metadata alone outweighs a short column.
    if nums.len() >= MIN_PCO_LEN {
        let narrow: Option<Vec<i32>> = nums.iter().map(|&v| i32::try_from(v).ok()).collect();
        for spec in pco_delta_specs(narrow.is_some()) {
            let p = match &narrow {
                Some(narrow) => pco_compress(narrow, spec).map(|p| (INT_PCO32, p)),
                None => pco_compress(nums, spec).map(|p| (INT_PCO, p)),
            };
            if let Some((tag, p)) = p {
                let mut c = Vec::with_capacity(p.len() + 1);
                c.push(tag);
                c.extend_from_slice(&p);
                keep(c);
            }
        }
    }
    // Bytes in whole pages or blocks: pco finds such multipliers itself only at some cost.
    let g = gcd(nums);
    if try_gcd && g > 1 && g <= i64::MAX as u64 {
        let divisor = g as i64;
        let quotients: Vec<i64> = nums.iter().map(|&v| v / divisor).collect();
        let mut c = vec![INT_GCD];
        put_varint(&mut c, g);
        c.extend_from_slice(&int_candidates(&quotients, false));
        keep(c);
    }
    best
}

pub(crate) fn read_ints(
    r: &mut Reader<'_>,
    fd: &FileDecompressor,
    n: usize,
    what: &'static str,
) -> Result<Vec<i64>, SeriesError> {
    match r.byte(what)? {
        INT_PCO => pco_decompress(fd, r, n, what),
        INT_PCO32 => Ok(pco_decompress::<i32>(fd, r, n, what)?
            .into_iter()
            .map(i64::from)
            .collect()),
        tag @ INT_DELTA..=INT_DELTA_LAST => {
            let mut nums = read_runs(r, n, what)?;
            undeltas(&mut nums, tag - INT_DELTA);
            Ok(nums)
        }
        INT_GCD => {
            let g = r.varint(what)?;
            let divisor = i64::try_from(g).map_err(|_| corrupt(what, format!("divisor {g}")))?;
            if r.rest.first() == Some(&INT_GCD) {
                return Err(corrupt(what, "nested divisors".into()));
            }
            read_ints(r, fd, n, what)?
                .into_iter()
                .map(|q| {
                    q.checked_mul(divisor)
                        .ok_or_else(|| corrupt(what, format!("{q} × {divisor} overflows")))
                })
                .collect()
        }
        tag => Err(corrupt(
            what,
            format!("unknown integer column encoding {tag:#04x}"),
        )),
    }
}

fn corrupt(what: &'static str, detail: String) -> SeriesError {
    SeriesError::Corrupt { what, detail }
}

// ---------------------------------------------------------------------------------------------
// f64 columns.

/// `i` such that `i / 10^d` is exactly `v`, if there is one small enough to be exact.
pub(crate) fn to_decimal(v: f64, d: usize) -> Option<i64> {
    let scaled = (v * POW10[d]).round();
    // Also rejects NaN and infinities.
    if scaled.abs().partial_cmp(&EXACT_INT) != Some(std::cmp::Ordering::Less) {
        return None;
    }
    let i = scaled as i64;
    (from_decimal(i, d).to_bits() == v.to_bits()).then_some(i)
}

/// `10^d`, exactly; `d` at most [`MAX_DECIMALS`].
pub(crate) fn pow10(d: usize) -> f64 {
    POW10[d]
}

/// The value an `i` of the decimal encoding stands for.
pub(crate) fn from_decimal(i: i64, d: usize) -> f64 {
    i as f64 / POW10[d]
}

/// The fewest decimals `d` at which every value is exactly decimal (see [`to_decimal`]).
pub(crate) fn decimals(values: &[f64]) -> Option<usize> {
    (0..POW10.len()).find(|&d| values.iter().all(|&v| to_decimal(v, d).is_some()))
}

/// Appends the smallest encoding of an `f64` column.
pub(crate) fn put_floats(out: &mut Vec<u8>, values: &[f64]) {
    let mut best = Vec::with_capacity(1 + 8 * values.len());
    best.push(FLOAT_PLAIN);
    for v in values {
        best.extend_from_slice(&v.to_le_bytes());
    }
    if let Some(d) = decimals(values) {
        let ints: Vec<i64> = values.iter().filter_map(|&v| to_decimal(v, d)).collect();
        let mut c = vec![d as u8];
        put_ints(&mut c, &ints);
        if c.len() < best.len() {
            best = c;
        }
    }
    if values.len() >= MIN_PCO_LEN
        && let Some(p) = pco_compress(values, DeltaSpec::Auto)
        && p.len() + 1 < best.len()
    {
        best.clear();
        best.push(FLOAT_PCO);
        best.extend_from_slice(&p);
    }
    out.extend_from_slice(&best);
}

pub(crate) fn read_floats(
    r: &mut Reader<'_>,
    fd: &FileDecompressor,
    n: usize,
    what: &'static str,
) -> Result<Vec<f64>, SeriesError> {
    match r.byte(what)? {
        FLOAT_PCO => pco_decompress(fd, r, n, what),
        FLOAT_PLAIN => (0..n)
            .map(|_| r.bytes::<8>(what).map(f64::from_le_bytes))
            .collect(),
        d if usize::from(d) < POW10.len() => Ok(read_ints(r, fd, n, what)?
            .into_iter()
            .map(|i| from_decimal(i, usize::from(d)))
            .collect()),
        tag => Err(SeriesError::Corrupt {
            what,
            detail: format!("unknown float column encoding {tag:#04x}"),
        }),
    }
}

/// A key whose integer order is the total order of `f64` ([`f64::total_cmp`]), so the
/// difference of two keys counts the floats between them.
pub(crate) fn ordered_key(v: f64) -> i64 {
    let b = v.to_bits() as i64;
    b ^ (((b >> 63) as u64) >> 1) as i64
}

pub(crate) fn from_ordered_key(k: i64) -> f64 {
    // The map flips the 63 low bits of negative numbers, so it is its own inverse.
    f64::from_bits(ordered_key(f64::from_bits(k as u64)).cast_unsigned())
}
