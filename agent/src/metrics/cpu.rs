//! CPU utilisation of the whole host from the `cpu` line of `/proc/stat`.
//!
//! The line holds cumulative jiffies: user nice system idle iowait irq softirq steal guest
//! guest_nice. `guest` and `guest_nice` are already counted in `user` and `nice`, so the
//! total is the first eight. Busy = total − idle − iowait (iowait is idle time with I/O
//! pending, as `top` and `mpstat` count it). Utilisation over an interval is Δbusy / Δtotal:
//! it needs two readings, so the first tick has no CPU point.

use crate::collect::{CollectError, Context};

/// Cumulative busy and total jiffies of all CPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Times {
    pub busy: u64,
    pub total: u64,
}

/// Reads `/proc/stat`.
pub fn read(ctx: &Context) -> Result<Times, CollectError> {
    let text = ctx
        .read("/proc/stat")
        .map_err(|e| CollectError::io("/proc/stat", e))?;
    parse(&text).ok_or_else(|| CollectError::Parse {
        what: "/proc/stat".into(),
        reason: "no well-formed \"cpu\" line".into(),
    })
}

/// The aggregate `cpu` line of `/proc/stat`.
pub fn parse(text: &str) -> Option<Times> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    // Kernels before 2.6.11 have fewer columns; missing ones are zero.
    if v.len() < 4 {
        return None;
    }
    let total: u64 = v.iter().sum();
    let idle = v[3] + v.get(4).copied().unwrap_or(0);
    Some(Times {
        busy: total - idle,
        total,
    })
}

/// Percent busy between two readings; `None` when the counters did not advance or went
/// backwards (they do not on a running kernel; a fixture swap or a bug should not make a
/// point).
pub fn utilisation(prev: Times, cur: Times) -> Option<f64> {
    let total = cur.total.checked_sub(prev.total)?;
    let busy = cur.busy.checked_sub(prev.busy)?;
    if total == 0 || busy > total {
        return None;
    }
    Some(busy as f64 * 100.0 / total as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_leaves_out_idle_and_iowait_and_guest_is_not_counted_twice() {
        let t = parse("cpu  100 5 50 1000 20 3 2 1 40 4\ncpu0 1 2 3 4\n").expect("cpu");
        assert_eq!(t.total, 100 + 5 + 50 + 1000 + 20 + 3 + 2 + 1);
        assert_eq!(t.busy, 100 + 5 + 50 + 3 + 2 + 1);
        assert_eq!(
            parse("cpu0 1 2 3 4\n"),
            None,
            "only the aggregate line counts"
        );
        assert_eq!(parse("cpu  1 2\n"), None);
    }

    #[test]
    fn utilisation_needs_progress() {
        let a = Times {
            busy: 100,
            total: 400,
        };
        let b = Times {
            busy: 150,
            total: 600,
        };
        assert_eq!(utilisation(a, b), Some(25.0));
        assert_eq!(utilisation(a, a), None);
        assert_eq!(utilisation(b, a), None);
    }
}
