//! Compressed time-series blocks and rollups for cmdb-server. Pure: no I/O, no SurrealDB.
//!
//! The server receives metric samples (gauges sampled every 60 s by agents) and stores one
//! record per received batch; a background compaction then turns them into one *block* per
//! series per UTC day ([`encode_points`]) plus *rollups* at three levels ([`rollup`],
//! [`encode_rollups`]). This crate is that compaction's pure part.
//!
//! - [`merge`] folds newly received points into a block's points (a redelivered batch must
//!   not duplicate samples).
//! - [`encode_points`] / [`decode_points`]: a lossless block of points. Timestamps are coded
//!   as differences of differences (a regular 60 s cadence costs a few bytes a day), values
//!   as integers when they are decimals of a fixed resolution (as agents round them: 0.01 %,
//!   whole bytes), entropy-coded with [pco](https://docs.rs/pco).
//! - [`rollup`] computes count, min, max, mean and 95th percentile per UTC-aligned window of
//!   a [`Level`]; [`encode_rollups`] / [`decode_rollups`] store them losslessly.
//! - [`level_for_step`] picks the level a query with a given step should read.
//!
//! Values are expected to be finite: the server rejects the rest before they get here. The
//! codecs still round-trip any `f64` bit for bit and never panic on one; rollups of
//! non-finite values are unspecified.
//!
//! Decoding treats its input as untrusted: corrupt or truncated bytes give a
//! [`SeriesError`], never a panic.
//!
//! Block layout (integers are LEB128 varints): a format byte (1 = points, 2 = rollups; a
//! new layout gets a new byte), the entry count, then for a non-empty block pco's 2-byte
//! format header and one column per field, each led by a tag byte naming its encoding (see
//! `codec.rs`). Points have a timestamp and a value column; rollups a start and a count
//! column, a layout byte and the value columns (see [`encode_rollups`]).
//!
//! Size, from the size example (`cargo run -p cmdb-series --example size`): on realistic
//! one-day host series at 60 s, raw block plus all three rollup levels take 0.1–0.5 B/sample
//! for quiet series (zeros, percentages that rarely move), about 1 for slowly moving ones
//! (filesystem bytes, load.15) and 1.7–3 for noisy ones (CPU, memory bytes, network rates);
//! the agent's series set for a typical host averages about 1.3 B/sample. Values the agent
//! does not round cost about 1.7 times as much.
//!
//! ```
//! use cmdb_series::{Level, decode_points, decode_rollups, encode_points, encode_rollups};
//! use cmdb_series::{merge, rollup};
//!
//! // A redelivered batch replaces its samples rather than adding to them.
//! let day = merge(&[(1_704_067_260, 12.5)], &[(1_704_067_200, 12.25), (1_704_067_260, 12.5)]);
//! assert_eq!(day, [(1_704_067_200, 12.25), (1_704_067_260, 12.5)]);
//! assert_eq!(decode_points(&encode_points(&day))?, day);
//!
//! let hourly = rollup(&day, Level::Hour);
//! assert_eq!((hourly[0].count, hourly[0].mean, hourly[0].p95), (2, 12.375, 12.5));
//! assert_eq!(decode_rollups(&encode_rollups(&hourly))?, hourly);
//! # Ok::<(), cmdb_series::SeriesError>(())
//! ```

mod codec;
mod points;
mod rollups;

pub use points::{decode_points, encode_points, merge};
pub use rollups::{
    Level, Rollup, day_start, decode_rollups, encode_rollups, level_for_step, rollup,
};

/// A sample: unix seconds and a finite value.
pub type Point = (i64, f64);

/// Most entries a block may declare. Decoding refuses more, so a corrupt count cannot make
/// it allocate without bound; a day at one sample per second is 86 400 points. Encoding more
/// gives a block that will not decode: split longer series by day first.
pub const MAX_BLOCK_LEN: usize = 1 << 20;

/// Why bytes do not decode as a block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SeriesError {
    /// The bytes end before the block does.
    #[error("block truncated: it ends inside the {what}")]
    Truncated { what: &'static str },
    /// The first byte names no block format this build reads.
    #[error("not a {expected} block: format byte {found:#04x}")]
    UnknownFormat { expected: &'static str, found: u8 },
    /// The header declares more entries than [`MAX_BLOCK_LEN`].
    #[error("block declares {count} entries, more than the {MAX_BLOCK_LEN} a block may hold")]
    TooLong { count: u64 },
    /// A part of the block holds something its encoding cannot.
    #[error("corrupt {what}: {detail}")]
    Corrupt { what: &'static str, detail: String },
    /// The block ends before the bytes do.
    #[error("{count} bytes after the end of the block")]
    TrailingBytes { count: usize },
}

/// Reads a block's header: its format byte and entry count.
fn read_header(
    r: &mut codec::Reader<'_>,
    format: u8,
    expected: &'static str,
) -> Result<usize, SeriesError> {
    let found = r.byte("block header")?;
    if found != format {
        return Err(SeriesError::UnknownFormat { expected, found });
    }
    let count = r.varint("entry count")?;
    match usize::try_from(count) {
        Ok(n) if n <= MAX_BLOCK_LEN => Ok(n),
        _ => Err(SeriesError::TooLong { count }),
    }
}

fn expect_end(r: &codec::Reader<'_>) -> Result<(), SeriesError> {
    match r.remaining() {
        0 => Ok(()),
        count => Err(SeriesError::TrailingBytes { count }),
    }
}

#[cfg(test)]
mod tests;
