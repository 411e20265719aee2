//! Memory and swap use from `/proc/meminfo` ("kB" there are KiB).
//!
//! Used memory is `MemTotal − MemAvailable`: what applications hold, leaving out the caches
//! the kernel would give back (`free`'s "used" since procps 3.3.10 is close to this).
//! Kernels before 3.14 have no `MemAvailable`; there it is estimated as
//! `MemFree + Buffers + Cached + SReclaimable`. Swap used is `SwapTotal − SwapFree`.

use crate::collect::{CollectError, Context};

/// Bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    pub total: u64,
    pub available: u64,
    pub swap_total: u64,
    pub swap_free: u64,
}

pub fn read(ctx: &Context) -> Result<Memory, CollectError> {
    let text = ctx
        .read("/proc/meminfo")
        .map_err(|e| CollectError::io("/proc/meminfo", e))?;
    parse(&text).ok_or_else(|| CollectError::Parse {
        what: "/proc/meminfo".into(),
        reason: "no MemTotal".into(),
    })
}

pub fn parse(text: &str) -> Option<Memory> {
    let kib = |key: &str| {
        text.lines().find_map(|line| {
            let (k, rest) = line.split_once(':')?;
            (k == key).then_some(())?;
            rest.split_whitespace()
                .next()?
                .parse::<u64>()
                .ok()?
                .checked_mul(1024)
        })
    };
    let total = kib("MemTotal")?;
    let available = kib("MemAvailable").unwrap_or_else(|| {
        ["MemFree", "Buffers", "Cached", "SReclaimable"]
            .iter()
            .filter_map(|k| kib(k))
            .sum()
    });
    Some(Memory {
        total,
        available: available.min(total),
        swap_total: kib("SwapTotal").unwrap_or(0),
        swap_free: kib("SwapFree").unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn available_is_estimated_on_old_kernels() {
        let m = parse("MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 200 kB\nSReclaimable: 10 kB\nSwapTotal: 64 kB\nSwapFree: 16 kB\n")
            .expect("meminfo");
        assert_eq!(m.available, 360 * 1024);
        assert_eq!((m.swap_total, m.swap_free), (64 * 1024, 16 * 1024));
        assert_eq!(parse("MemFree: 1 kB\n"), None);
    }
}
