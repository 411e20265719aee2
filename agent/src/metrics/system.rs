//! Load averages (`/proc/loadavg`), uptime (`/proc/uptime`) and the process count.
//!
//! The process count is the number of numeric directories in `/proc`: one per process
//! (thread group), what `ps -e` lists. `/proc/loadavg`'s "running/total" counts scheduling
//! entities, threads included, and `procs_running` in `/proc/stat` only the runnable ones,
//! so neither is a process count.

use crate::collect::{CollectError, Context};

/// The 1, 5 and 15 minute load averages.
pub fn load(ctx: &Context) -> Result<[f64; 3], CollectError> {
    let text = ctx
        .read("/proc/loadavg")
        .map_err(|e| CollectError::io("/proc/loadavg", e))?;
    parse_loadavg(&text).ok_or_else(|| CollectError::Parse {
        what: "/proc/loadavg".into(),
        reason: format!("expected three numbers, got {:?}", text.trim()),
    })
}

pub fn parse_loadavg(text: &str) -> Option<[f64; 3]> {
    let mut f = text.split_whitespace().map(|w| w.parse::<f64>().ok());
    Some([f.next()??, f.next()??, f.next()??])
}

/// Seconds since boot.
pub fn uptime(ctx: &Context) -> Result<f64, CollectError> {
    let text = ctx
        .read("/proc/uptime")
        .map_err(|e| CollectError::io("/proc/uptime", e))?;
    parse_uptime(&text).ok_or_else(|| CollectError::Parse {
        what: "/proc/uptime".into(),
        reason: format!("expected seconds, got {:?}", text.trim()),
    })
}

pub fn parse_uptime(text: &str) -> Option<f64> {
    text.split_whitespace()
        .next()?
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
}

/// The number of processes.
pub fn processes(ctx: &Context) -> Result<u64, CollectError> {
    let dir = std::fs::read_dir(ctx.path("/proc")).map_err(|e| CollectError::io("/proc", e))?;
    Ok(dir
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let b = name.as_encoded_bytes();
            !b.is_empty() && b.iter().all(u8::is_ascii_digit)
        })
        .count() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loadavg_and_uptime_parse() {
        assert_eq!(
            parse_loadavg("0.90 0.90 0.99 4/131 28048\n"),
            Some([0.9, 0.9, 0.99])
        );
        assert_eq!(parse_loadavg("0.90 x 0.99\n"), None);
        assert_eq!(parse_uptime("9078.48 5305.18\n"), Some(9078.48));
        assert_eq!(parse_uptime("-1 0\n"), None);
    }
}
