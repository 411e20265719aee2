//! Interface traffic from `/proc/net/dev`, and link speed from
//! `/sys/class/net/<if>/speed` (Mbit/s; absent, unreadable or −1 while the link is down or
//! for virtual devices, and then there is no `net.util`).
//!
//! Every interface but loopback is sampled. Columns after `name:`: receive bytes, packets,
//! errs, drop, fifo, frame, compressed, multicast; transmit bytes, packets, errs, drop, …

use std::collections::BTreeMap;

use crate::collect::{CollectError, Context};

/// Cumulative counters of one interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_drops: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_drops: u64,
}

/// `/proc/net/dev` by interface, loopback left out.
pub fn parse(text: &str) -> BTreeMap<String, Counters> {
    text.lines()
        .filter_map(|line| {
            let (name, rest) = line.split_once(':')?;
            let name = name.trim();
            if name.is_empty() || name == "lo" {
                return None;
            }
            let v: Vec<u64> = rest
                .split_whitespace()
                .map(|f| f.parse().ok())
                .collect::<Option<_>>()?;
            if v.len() < 12 {
                return None;
            }
            Some((
                name.to_string(),
                Counters {
                    rx_bytes: v[0],
                    rx_packets: v[1],
                    rx_errors: v[2],
                    rx_drops: v[3],
                    tx_bytes: v[8],
                    tx_packets: v[9],
                    tx_errors: v[10],
                    tx_drops: v[11],
                },
            ))
        })
        .collect()
}

pub fn read(ctx: &Context) -> Result<BTreeMap<String, Counters>, CollectError> {
    let text = ctx
        .read("/proc/net/dev")
        .map_err(|e| CollectError::io("/proc/net/dev", e))?;
    Ok(parse(&text))
}

/// The link speed in Mbit/s, when known.
pub fn speed_mbps(ctx: &Context, interface: &str) -> Option<u64> {
    ctx.read_trimmed(&format!("/sys/class/net/{interface}/speed"))?
        .parse::<i64>()
        .ok()
        .and_then(|s| u64::try_from(s).ok())
        .filter(|s| *s > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lines_and_loopback_are_skipped() {
        let text = "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo: 551275349  361191    0    0    0     0          0         0 551275349  361191    0    0    0     0       0          0\n  eth0: 329864615   13529    1    2    0     0          0         0   798373    7814    3    4    0     0       0          0\n";
        let n = parse(text);
        assert_eq!(n.keys().collect::<Vec<_>>(), ["eth0"]);
        assert_eq!(
            n["eth0"],
            Counters {
                rx_bytes: 329864615,
                rx_packets: 13529,
                rx_errors: 1,
                rx_drops: 2,
                tx_bytes: 798373,
                tx_packets: 7814,
                tx_errors: 3,
                tx_drops: 4
            }
        );
    }
}
