//! Synthetic but realistic one-day host series at the agent's 60 s cadence, for the size test
//! and the size example (which includes this file by path, so it uses only `std`).
//!
//! Every generator is deterministic (xorshift seeded per series) and rounds values the way
//! the agent does: percentages and load to 2 decimals, bytes and rates to whole numbers.

/// Start of the generated day (2024-01-01T00:00:00Z).
pub const DAY: i64 = 1_704_067_200;

/// Tiny deterministic PRNG (xorshift64*), so no `rand` dependency and stable figures.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u = self.unit().max(f64::MIN_POSITIVE);
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
}

/// The sample times of one day: 60 s apart at a fixed offset into the minute, 1 % of them a
/// second late (the timer crossed a second boundary), and a 10 min gap (agent restart).
pub fn times(rng: &mut Rng) -> Vec<i64> {
    let offset = 17;
    (0..1440)
        .filter(|i| !(600..610).contains(i))
        .map(|i| DAY + offset + 60 * i + i64::from(rng.chance(0.01)))
        .collect()
}

fn round_to(v: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (v * scale).round() / scale
}

/// Fraction of the day at `t`, for daily cycles.
fn day_phase(t: i64) -> f64 {
    (t - DAY) as f64 / 86_400.0
}

/// Daily load curve: low at night, peak mid-afternoon, 0..1.
fn daily(t: i64) -> f64 {
    0.5 - 0.5 * (std::f64::consts::TAU * (day_phase(t) - 0.1)).cos()
}

/// `cpu.util` of a busy server: 10–60 % over the day, noisy (σ 4 points), 2 decimals.
pub fn cpu_busy(rng: &mut Rng) -> Vec<(i64, f64)> {
    let mut level = 0.0;
    times(rng)
        .into_iter()
        .map(|t| {
            level = 0.95 * level + rng.normal();
            let v = 10.0 + 50.0 * daily(t) + level + 4.0 * rng.normal();
            (t, round_to(v.clamp(0.0, 100.0), 2))
        })
        .collect()
}

/// `cpu.util` of a mostly idle server: about 2 % (σ 0.4), an hourly cron spike, 2 decimals.
pub fn cpu_idle(rng: &mut Rng) -> Vec<(i64, f64)> {
    times(rng)
        .into_iter()
        .map(|t| {
            let cron = if (t - DAY) % 3600 < 60 { 25.0 } else { 0.0 };
            let v = 2.0 + cron + 0.4 * rng.normal();
            (t, round_to(v.clamp(0.0, 100.0), 2))
        })
        .collect()
}

/// `load.1`: an exponentially damped run queue as the kernel computes it, 2 decimals.
pub fn load1(rng: &mut Rng) -> Vec<(i64, f64)> {
    let mut load = 1.0f64;
    times(rng)
        .into_iter()
        .map(|t| {
            // Twelve 5 s kernel updates per minute, each with e^(-5/60) decay.
            for _ in 0..12 {
                let running = (0.5 + 3.0 * daily(t) + 1.2 * rng.normal()).max(0.0).round();
                load = load * (-5.0f64 / 60.0).exp() + running * (1.0 - (-5.0f64 / 60.0).exp());
            }
            (t, round_to(load, 2))
        })
        .collect()
}

/// `load.15`: the same run queue damped over 15 min, 2 decimals.
pub fn load15(rng: &mut Rng) -> Vec<(i64, f64)> {
    let mut load = 1.0f64;
    let decay = (-5.0f64 / 900.0).exp();
    times(rng)
        .into_iter()
        .map(|t| {
            for _ in 0..12 {
                let running = (0.5 + 3.0 * daily(t) + 1.2 * rng.normal()).max(0.0).round();
                load = load * decay + running * (1.0 - decay);
            }
            (t, round_to(load, 2))
        })
        .collect()
}

/// `mem.used` bytes: ~6 GiB drifting by tens of pages a minute, occasional 50–500 MB jumps
/// (a process starting or exiting); whole 4 KiB pages.
pub fn mem_used(rng: &mut Rng) -> Vec<(i64, f64)> {
    let mut pages: i64 = 6 << 18;
    times(rng)
        .into_iter()
        .map(|t| {
            pages += (40.0 * rng.normal()) as i64;
            if rng.chance(0.005) {
                let jump = (12_800.0 + 115_000.0 * rng.unit()) as i64;
                pages += if rng.chance(0.5) { jump } else { -jump };
            }
            (t, (pages * 4096) as f64)
        })
        .collect()
}

/// `fs.used` bytes of a busy filesystem: logs growing by a few blocks most minutes, a
/// nightly rotation freeing 2 GB; whole 4 KiB blocks.
pub fn fs_used(rng: &mut Rng) -> Vec<(i64, f64)> {
    let mut blocks: i64 = 50_000_000;
    times(rng)
        .into_iter()
        .map(|t| {
            if rng.chance(0.6) {
                blocks += (rng.unit() * 8.0) as i64;
            }
            if t - DAY == 3 * 3600 + 17 {
                blocks -= 500_000;
            }
            (t, (blocks * 4096) as f64)
        })
        .collect()
}

/// `fs.used_pct` of that filesystem: moves by 0.01 now and then, 2 decimals.
pub fn fs_used_pct(rng: &mut Rng) -> Vec<(i64, f64)> {
    fs_used(rng)
        .into_iter()
        .map(|(t, bytes)| (t, round_to(bytes / 500e9 * 100.0, 2)))
        .collect()
}

/// `net.rx_bytes` per second: a lognormal background of ~2 KB/s, 2 % of minutes a transfer
/// of 1–50 MB/s; whole bytes per second.
pub fn net_rx(rng: &mut Rng) -> Vec<(i64, f64)> {
    times(rng)
        .into_iter()
        .map(|t| {
            let mut v = 2_000.0 * (0.5 * rng.normal()).exp() * (0.5 + daily(t));
            if rng.chance(0.02) {
                v += 1e6 + 49e6 * rng.unit();
            }
            (t, v.round())
        })
        .collect()
}

/// `mem.used_pct` of a 16 GiB host with that memory use, 2 decimals.
pub fn mem_used_pct(rng: &mut Rng) -> Vec<(i64, f64)> {
    mem_used(rng)
        .into_iter()
        .map(|(t, bytes)| (t, round_to(bytes / (16u64 << 30) as f64 * 100.0, 2)))
        .collect()
}

/// `net.rx_bytes` as an agent that does not round would send it: byte count over 60 s.
pub fn net_rx_unrounded(rng: &mut Rng) -> Vec<(i64, f64)> {
    net_rx(rng)
        .into_iter()
        .map(|(t, v)| (t, (v * 60.0 + (t % 60) as f64) / 60.0))
        .collect()
}

/// `net.rx_errors` (per second) and the like: zero all day.
pub fn zero(rng: &mut Rng) -> Vec<(i64, f64)> {
    times(rng).into_iter().map(|t| (t, 0.0)).collect()
}

/// A series kind: its name, its generator, and how many series of it a typical Linux host
/// sends.
pub struct Kind {
    pub name: &'static str,
    pub generate: fn(&mut Rng) -> Vec<(i64, f64)>,
    pub per_host: f64,
}

/// The kinds, with per-host counts taken from the agent's series names for a host with
/// 3 mounts, 2 interfaces and 1 disk (46 series), each counted as the kind it resembles:
/// - cpu.util: a fleet of one busy host in four;
/// - load.1, load.5 (as load.1), load.15;
/// - mem.used, mem.available (as mem.used), mem.used_pct;
/// - fs.used and fs.free (as fs.used) per mount: 6;
/// - fs.used_pct, fs.inodes_used and fs.inodes_free (as fs.used_pct) per mount: 9;
/// - net.rx/tx bytes and packets per interface, disk read/write bytes and ops (all as
///   net.rx_bytes): 12;
/// - net errors and drops per interface, swap.used, swap.used_pct (zero): 10.
///
/// The unrounded rate is not in the mix: it shows what not rounding costs.
pub const KINDS: [Kind; 11] = [
    Kind {
        name: "cpu.util (busy)",
        generate: cpu_busy,
        per_host: 0.25,
    },
    Kind {
        name: "cpu.util (idle)",
        generate: cpu_idle,
        per_host: 0.75,
    },
    Kind {
        name: "load.1",
        generate: load1,
        per_host: 2.0,
    },
    Kind {
        name: "load.15",
        generate: load15,
        per_host: 1.0,
    },
    Kind {
        name: "mem.used",
        generate: mem_used,
        per_host: 2.0,
    },
    Kind {
        name: "mem.used_pct",
        generate: mem_used_pct,
        per_host: 1.0,
    },
    Kind {
        name: "fs.used",
        generate: fs_used,
        per_host: 6.0,
    },
    Kind {
        name: "fs.used_pct",
        generate: fs_used_pct,
        per_host: 9.0,
    },
    Kind {
        name: "net.rx_bytes",
        generate: net_rx,
        per_host: 12.0,
    },
    Kind {
        name: "zero (errors, drops, swap)",
        generate: zero,
        per_host: 10.0,
    },
    Kind {
        name: "net.rx_bytes, not rounded",
        generate: net_rx_unrounded,
        per_host: 0.0,
    },
];
