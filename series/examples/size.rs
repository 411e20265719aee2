//! Bytes per sample of realistic one-day host series, stored as the server does: one raw
//! block per series per UTC day plus that day's 5 min, 1 h and 1 d rollup blocks.
//!
//! `cargo run -p cmdb-series --example size`

#[path = "../src/sample.rs"]
mod sample;

use cmdb_series::{Level, encode_points, encode_rollups, rollup};

fn main() {
    println!(
        "{:<28} {:>6} {:>7} {:>7} {:>7} {:>7} {:>9}",
        "series", "points", "raw B", "5m B", "1h B", "1d B", "B/sample"
    );
    let (mut bytes, mut points) = (0.0, 0.0);
    for (i, kind) in sample::KINDS.iter().enumerate() {
        let series = (kind.generate)(&mut sample::Rng::new(i as u64 + 1));
        let raw = encode_points(&series).len();
        let levels = Level::ALL.map(|l| encode_rollups(&rollup(&series, l)).len());
        let total = raw + levels.iter().sum::<usize>();
        println!(
            "{:<28} {:>6} {:>7} {:>7} {:>7} {:>7} {:>9.3}",
            kind.name,
            series.len(),
            raw,
            levels[0],
            levels[1],
            levels[2],
            total as f64 / series.len() as f64
        );
        bytes += kind.per_host * total as f64;
        points += kind.per_host * series.len() as f64;
    }
    println!(
        "host mix (per-host counts in src/sample.rs): {:.3} B/sample",
        bytes / points
    );
}
