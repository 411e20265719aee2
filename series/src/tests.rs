#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use crate::*;

#[path = "sample.rs"]
mod sample;

use sample::Rng;

/// Points compared bit for bit, so NaN and −0.0 count.
fn bits(points: &[Point]) -> Vec<(i64, u64)> {
    points.iter().map(|&(t, v)| (t, v.to_bits())).collect()
}

fn rollup_bits(rollups: &[Rollup]) -> Vec<[u64; 6]> {
    rollups
        .iter()
        .map(|r| {
            [
                r.start as u64,
                u64::from(r.count),
                r.min.to_bits(),
                r.max.to_bits(),
                r.mean.to_bits(),
                r.p95.to_bits(),
            ]
        })
        .collect()
}

fn assert_points_round_trip(points: &[Point]) -> Vec<u8> {
    let bytes = encode_points(points);
    let back = decode_points(&bytes).unwrap();
    assert_eq!(bits(&back), bits(points));
    bytes
}

fn assert_rollups_round_trip(rollups: &[Rollup]) -> Vec<u8> {
    let bytes = encode_rollups(rollups);
    let back = decode_rollups(&bytes).unwrap();
    assert_eq!(rollup_bits(&back), rollup_bits(rollups));
    bytes
}

/// A random series of `n` points: sorted times with a random cadence, values of a random
/// kind (decimals, whole numbers, arbitrary floats).
fn random_series(rng: &mut Rng, n: usize) -> Vec<Point> {
    let mut t = (rng.next_u64() % 4_000_000_000) as i64 - 2_000_000_000;
    let step = 1 + (rng.next_u64() % 120) as i64;
    let kind = rng.next_u64() % 4;
    (0..n)
        .map(|_| {
            t += step
                + if rng.chance(0.1) {
                    (rng.next_u64() % 1000) as i64
                } else {
                    0
                };
            let v = match kind {
                0 => (rng.normal() * 1000.0).round() / 100.0,
                1 => (rng.unit() * 1e12).round(),
                2 => rng.normal() * 1e3,
                _ => f64::from_bits(rng.next_u64()),
            };
            (t, v)
        })
        .collect()
}

// --- points blocks -----------------------------------------------------------------------------

#[test]
fn points_round_trip_small_and_odd() {
    let cases: Vec<Vec<Point>> = vec![
        vec![],
        vec![(0, 0.0)],
        vec![(1_700_000_000, 42.5)],
        vec![(-5, -1.25), (-4, -0.0), (7, 0.0)],
        vec![
            (i64::MIN, f64::MIN),
            (0, f64::MIN_POSITIVE),
            (i64::MAX, f64::MAX),
        ],
        // Not finite: the server rejects these, the codec must still not panic.
        vec![
            (1, f64::NAN),
            (2, f64::INFINITY),
            (3, f64::NEG_INFINITY),
            (4, -f64::NAN),
        ],
        // Not decimal at any resolution the codec handles.
        vec![(10, 0.1 + 0.2), (20, 1.0 / 3.0), (30, 5e-324)],
        // Unsorted and repeated times still encode.
        vec![(30, 1.0), (10, 2.0), (10, 3.0), (20, 4.0)],
    ];
    for points in cases {
        assert_points_round_trip(&points);
    }
}

#[test]
fn points_round_trip_random() {
    let mut rng = Rng::new(7);
    for n in [2, 3, 15, 16, 17, 255, 256, 257, 1440, 3000] {
        for _ in 0..4 {
            assert_points_round_trip(&random_series(&mut rng, n));
        }
    }
}

#[test]
fn points_round_trip_sample_series() {
    for (i, kind) in sample::KINDS.iter().enumerate() {
        assert_points_round_trip(&(kind.generate)(&mut Rng::new(i as u64 + 1)));
    }
}

#[test]
fn regular_cadence_costs_almost_nothing() {
    let points: Vec<Point> = (0..1440).map(|i| (sample::DAY + 60 * i, 12.5)).collect();
    let bytes = assert_points_round_trip(&points);
    assert!(bytes.len() <= 24, "{} bytes", bytes.len());
}

#[test]
fn decimals_become_small_integers() {
    // 0.01 % resolution CPU: a whole day of noise must stay far below 8 bytes per value.
    let mut rng = Rng::new(3);
    let points: Vec<Point> = (0..1440)
        .map(|i| (60 * i, ((20.0 + rng.normal()) * 100.0).round() / 100.0))
        .collect();
    let bytes = assert_points_round_trip(&points);
    assert!(bytes.len() < 1440 * 2, "{} bytes", bytes.len());
}

// --- merge -------------------------------------------------------------------------------------

#[test]
fn merge_orders_and_dedupes() {
    let existing = [(10, 1.0), (20, 2.0), (30, 3.0)];
    let new = [(25, 2.5), (20, 20.0), (5, 0.5), (40, 4.0), (40, 44.0)];
    assert_eq!(
        merge(&existing, &new),
        vec![
            (5, 0.5),
            (10, 1.0),
            (20, 20.0),
            (25, 2.5),
            (30, 3.0),
            (40, 44.0)
        ]
    );
}

#[test]
fn merge_redelivery_is_idempotent() {
    let batch = [(60, 1.0), (120, 2.0), (180, 3.0)];
    let once = merge(&[], &batch);
    assert_eq!(merge(&once, &batch), once);
    assert_eq!(merge(&once, &[]), once);
    assert_eq!(merge(&[], &[]), vec![]);
    // An unsorted block is put in order too.
    assert_eq!(
        merge(&[(2, 2.0), (1, 1.0), (2, 3.0)], &[]),
        vec![(1, 1.0), (2, 3.0)]
    );
}

// --- levels ------------------------------------------------------------------------------------

#[test]
fn levels() {
    assert_eq!(Level::ALL.map(Level::seconds), [300, 3_600, 86_400]);
    for level in Level::ALL {
        assert_eq!(Level::from_name(level.name()), Some(level));
        assert_eq!(level.to_string(), level.name());
    }
    assert_eq!(Level::ALL.map(Level::name), ["5m", "1h", "1d"]);
    assert_eq!(Level::from_name("1w"), None);

    assert_eq!(Level::FiveMin.window_start(299), 0);
    assert_eq!(Level::FiveMin.window_start(300), 300);
    assert_eq!(Level::FiveMin.window_start(-1), -300);
    assert_eq!(Level::FiveMin.window_start(-300), -300);
    assert_eq!(Level::Hour.window_start(sample::DAY + 3_599), sample::DAY);
    assert_eq!(day_start(sample::DAY + 86_399), sample::DAY);
    assert_eq!(day_start(sample::DAY + 86_400), sample::DAY + 86_400);
    assert_eq!(day_start(-1), -86_400);
    // The lowest window has no multiple of the width to start at: it saturates.
    assert_eq!(day_start(i64::MIN + 5), i64::MIN);
    assert_eq!(day_start(i64::MAX), i64::MAX - i64::MAX.rem_euclid(86_400));
    let extreme = [(i64::MIN, 1.0), (i64::MIN + 1, 2.0), (i64::MAX, 3.0)];
    for level in Level::ALL {
        let r = rollup(&extreme, level);
        assert_eq!(r.iter().map(|r| r.count).collect::<Vec<_>>(), [2, 1]);
        assert_rollups_round_trip(&r);
    }
}

#[test]
fn level_for_step_picks_coarsest_not_wider_than_step() {
    for (step, level) in [
        (i64::MIN, None),
        (0, None),
        (60, None),
        (299, None),
        (300, Some(Level::FiveMin)),
        (900, Some(Level::FiveMin)),
        (3_599, Some(Level::FiveMin)),
        (3_600, Some(Level::Hour)),
        (86_399, Some(Level::Hour)),
        (86_400, Some(Level::Day)),
        (i64::MAX, Some(Level::Day)),
    ] {
        assert_eq!(level_for_step(step), level, "step {step}");
    }
}

// --- rollups -----------------------------------------------------------------------------------

#[test]
fn p95_is_nearest_rank() {
    for n in 1..=200usize {
        // Values n, n-1, …, 1: unsorted input, p95 must be the ceil(0.95 n)-th smallest.
        let points: Vec<Point> = (0..n).map(|i| (i as i64, (n - i) as f64)).collect();
        let r = rollup(&points, Level::Day);
        assert_eq!(r.len(), 1);
        let rank = (1..=n).find(|&k| k as f64 >= 0.95 * n as f64).unwrap();
        assert_eq!(r[0].p95, rank as f64, "n = {n}");
        if n <= 19 {
            assert_eq!(r[0].p95, r[0].max);
        }
    }
    let r = rollup(
        &(1..=20).map(|i| (i, i as f64)).collect::<Vec<_>>(),
        Level::Day,
    );
    assert_eq!(r[0].p95, 19.0);
}

/// The rollups of `points`, computed the slow and obvious way.
fn brute_force(points: &[Point], level: Level) -> Vec<(i64, u32, f64, f64, f64, f64)> {
    let w = level.seconds();
    let mut windows: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    for &(t, v) in points {
        windows.entry(t.div_euclid(w) * w).or_default().push(v);
    }
    windows
        .into_iter()
        .map(|(start, mut values)| {
            values.sort_by(|a, b| a.partial_cmp(b).unwrap());
            let n = values.len();
            let rank = (1..=n).find(|&k| k * 100 >= 95 * n).unwrap();
            let mean = values.iter().sum::<f64>() / n as f64;
            (
                start,
                n as u32,
                values[0],
                values[n - 1],
                mean,
                values[rank - 1],
            )
        })
        .collect()
}

fn assert_matches_brute_force(points: &[Point]) {
    for level in Level::ALL {
        let got = rollup(points, level);
        let want = brute_force(points, level);
        assert_eq!(got.len(), want.len(), "{level}");
        for (g, w) in got.iter().zip(&want) {
            let (start, count, min, max, mean, p95) = *w;
            assert_eq!(
                (g.start, g.count, g.min, g.max, g.p95),
                (start, count, min, max, p95)
            );
            let tolerance = 1e-12 * mean.abs().max(1.0);
            assert!(
                (g.mean - mean).abs() <= tolerance,
                "{level} mean {} vs {mean}",
                g.mean
            );
        }
        assert_eq!(
            got.iter().map(|r| r.count as usize).sum::<usize>(),
            points.len()
        );
        // Any input order gives the same rollups.
        let mut reversed = points.to_vec();
        reversed.reverse();
        let got_reversed = rollup(&reversed, level);
        let key = |r: &[Rollup]| {
            r.iter()
                .map(|r| (r.start, r.count, r.min, r.max, r.p95))
                .collect::<Vec<_>>()
        };
        assert_eq!(key(&got_reversed), key(&got));
    }
}

#[test]
fn rollups_match_brute_force() {
    let mut rng = Rng::new(11);
    for round in 0..40 {
        let n = 1 + (rng.next_u64() % 2_000) as usize;
        // Around the epoch, so windows straddle negative and positive times.
        let mut points: Vec<Point> = (0..n)
            .map(|_| {
                let t = (rng.next_u64() % 400_000) as i64 - 200_000;
                let v = if round % 2 == 0 {
                    (rng.normal() * 5_000.0).round() / 100.0
                } else {
                    rng.normal() * 1e6
                };
                (t, v)
            })
            .collect();
        // Points exactly on window boundaries, of every level.
        for k in -3..3 {
            points.push((k * 300, rng.normal()));
            points.push((k * 3_600, rng.normal()));
            points.push((k * 86_400, rng.normal()));
            points.push((k * 86_400 - 1, rng.normal()));
        }
        assert_matches_brute_force(&merge(&[], &points));
    }
}

#[test]
fn rollup_mean_of_decimals_is_exact() {
    // 0.1 + 0.2 + 0.3 summed as floats is 0.6000000000000001; the mean must not carry that.
    let points = [(0, 0.1), (1, 0.2), (2, 0.3)];
    assert_eq!(rollup(&points, Level::FiveMin)[0].mean, 0.2);
    let points = [(0, 0.1), (1, 0.2), (2, 0.3), (3, 0.4)];
    assert_eq!(rollup(&points, Level::FiveMin)[0].mean, 0.25);
}

#[test]
fn rollups_of_nothing() {
    for level in Level::ALL {
        assert!(rollup(&[], level).is_empty());
    }
    assert_rollups_round_trip(&[]);
}

#[test]
fn rollups_round_trip() {
    let mut rng = Rng::new(5);
    for (i, kind) in sample::KINDS.iter().enumerate() {
        let series = (kind.generate)(&mut Rng::new(i as u64 + 1));
        for level in Level::ALL {
            assert_rollups_round_trip(&rollup(&series, level));
        }
    }
    for n in [1, 2, 16, 17, 300, 1500] {
        for _ in 0..4 {
            let series = random_series(&mut rng, n);
            for level in Level::ALL {
                assert_rollups_round_trip(&rollup(&series, level));
            }
        }
    }
}

#[test]
fn rollups_round_trip_odd_values() {
    let r = |count, min, max, mean, p95| Rollup {
        start: 0,
        count,
        min,
        max,
        mean,
        p95,
    };
    let odd = [
        // Nothing rollup() makes, but the codec must keep them anyway.
        r(0, 1.0, 2.0, 1.5, 2.0),
        r(3, 2.0, 1.0, 7.0, -4.0),
        r(1, 0.5, 0.5, f64::NAN, 0.5),
        r(u32::MAX, 1e300, 1e300, 1e300, 1e300),
        r(2, -0.0, 0.0, -0.0, 0.0),
        r(5, 0.1, 0.3, 0.2000000000000001, 0.3),
        r(7, f64::NEG_INFINITY, f64::INFINITY, f64::NAN, f64::MAX),
    ];
    for one in &odd {
        assert_rollups_round_trip(std::slice::from_ref(one));
    }
    assert_rollups_round_trip(&odd);
    let mut many: Vec<Rollup> = (0..40)
        .map(|i| r(5, f64::from(i), f64::from(i) + 1.0, 0.0, 1.0))
        .collect();
    for (i, one) in many.iter_mut().enumerate() {
        one.start = i as i64 * 300;
        one.mean = one.min + 0.37;
    }
    assert_rollups_round_trip(&many);
}

// --- corrupt input -----------------------------------------------------------------------------

fn valid_blocks() -> Vec<Vec<u8>> {
    let mut rng = Rng::new(9);
    let mut blocks = Vec::new();
    for (i, kind) in sample::KINDS.iter().enumerate().take(4) {
        let series = (kind.generate)(&mut Rng::new(i as u64 + 1));
        blocks.push(encode_points(&series));
        blocks.push(encode_rollups(&rollup(&series, Level::FiveMin)));
        blocks.push(encode_rollups(&rollup(&series, Level::Day)));
    }
    for n in [1, 5, 40] {
        let series = random_series(&mut rng, n);
        blocks.push(encode_points(&series));
        blocks.push(encode_rollups(&rollup(&series, Level::FiveMin)));
    }
    blocks
}

/// Both decoders on `bytes`; reaching the end without a panic is the point.
fn decode_both(bytes: &[u8]) -> (bool, bool) {
    (decode_points(bytes).is_ok(), decode_rollups(bytes).is_ok())
}

#[test]
fn truncated_blocks_are_errors() {
    for block in valid_blocks() {
        for len in 0..block.len() {
            let (points, rollups) = decode_both(&block[..len]);
            assert!(
                !points && !rollups,
                "prefix of {len} of {} bytes decoded",
                block.len()
            );
        }
    }
}

#[test]
fn mutated_blocks_do_not_panic() {
    let mut rng = Rng::new(13);
    for block in valid_blocks() {
        // Every byte with a few values, then random multi-byte damage.
        for i in 0..block.len() {
            for value in [0x00, 0xff, block[i] ^ 0x01, block[i] ^ 0x80] {
                let mut bad = block.clone();
                bad[i] = value;
                decode_both(&bad);
            }
        }
        for _ in 0..200 {
            let mut bad = block.clone();
            for _ in 0..1 + rng.next_u64() % 4 {
                let i = (rng.next_u64() as usize) % bad.len();
                bad[i] = rng.next_u64() as u8;
            }
            decode_both(&bad);
        }
    }
}

#[test]
fn random_bytes_do_not_panic() {
    let mut rng = Rng::new(17);
    for _ in 0..5_000 {
        let len = (rng.next_u64() % 64) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        decode_both(&bytes);
        // With a plausible header, so the column decoders see the garbage too.
        if !bytes.is_empty() {
            bytes[0] = 1 + (rng.next_u64() % 2) as u8;
            if bytes.len() > 1 {
                bytes[1] %= 0x80;
            }
            decode_both(&bytes);
        }
    }
}

#[test]
fn errors_say_what_is_wrong() {
    let points = encode_points(&[(60, 1.0), (120, 2.0)]);
    let rollups = encode_rollups(&rollup(&[(60, 1.0)], Level::Hour));

    assert_eq!(
        decode_points(&[]),
        Err(SeriesError::Truncated {
            what: "block header"
        })
    );
    assert_eq!(
        decode_points(&rollups),
        Err(SeriesError::UnknownFormat {
            expected: "points",
            found: 2
        })
    );
    assert_eq!(
        decode_rollups(&points),
        Err(SeriesError::UnknownFormat {
            expected: "rollups",
            found: 1
        })
    );
    let mut trailing = points.clone();
    trailing.push(0);
    assert_eq!(
        decode_points(&trailing),
        Err(SeriesError::TrailingBytes { count: 1 })
    );
    // A count far beyond any real block.
    let mut huge = vec![1];
    codec::put_varint(&mut huge, u64::MAX);
    assert_eq!(
        decode_points(&huge),
        Err(SeriesError::TooLong { count: u64::MAX })
    );

    let err = decode_points(&points[..points.len() - 1]).unwrap_err();
    assert!(err.to_string().contains("values"), "{err}");
    assert_eq!(
        SeriesError::Truncated { what: "timestamps" }.to_string(),
        "block truncated: it ends inside the timestamps"
    );
}

// --- size --------------------------------------------------------------------------------------

/// Bytes per sample of one series: its raw block and its rollups at every level.
fn bytes_per_sample(series: &[Point]) -> f64 {
    let raw = encode_points(series).len();
    let rollups: usize = Level::ALL
        .iter()
        .map(|&l| encode_rollups(&rollup(series, l)).len())
        .sum();
    (raw + rollups) as f64 / series.len() as f64
}

#[test]
fn host_mix_fits_the_size_budget() {
    let (mut bytes, mut samples) = (0.0, 0.0);
    for (i, kind) in sample::KINDS.iter().enumerate() {
        let series = (kind.generate)(&mut Rng::new(i as u64 + 1));
        let per_sample = bytes_per_sample(&series);
        println!("{:<28} {per_sample:.3} B/sample", kind.name);
        bytes += kind.per_host * per_sample * series.len() as f64;
        samples += kind.per_host * series.len() as f64;
    }
    let mix = bytes / samples;
    println!("host mix {mix:.3} B/sample");
    assert!(mix <= 1.5, "host mix takes {mix:.3} B/sample");
}

#[test]
fn quiet_series_cost_next_to_nothing() {
    for generate in [sample::zero, sample::fs_used_pct] {
        let per_sample = bytes_per_sample(&generate(&mut Rng::new(1)));
        assert!(per_sample < 0.2, "{per_sample:.3} B/sample");
    }
}
