//! Metric batches: what an agent pushes every metrics tick (60 s by default) to
//! `POST /api/v1/metrics`.
//!
//! A batch is spooled like an inventory report and may be delivered long after it was taken,
//! so everything in it carries its own timestamp. Its ticks are the host's heartbeats: the
//! server derives the host's availability from them (a gap of several intervals while the
//! server was listening is an outage; a gap while the server was away is unknown until the
//! spooled ticks arrive). Counters are already turned into rates by the agent (per second,
//! resets and wraps handled), so every value is a gauge.
//!
//! Series names are dotted lower-case words (`cpu.util`, `fs.used_pct`); the instance tells
//! apart the series of one name on one CI (a mount point, an interface, a probe's name).
//! [`names`] lists the ones this build sends; the server accepts any well-formed name.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// Where an agent pushes metric batches.
pub const METRICS_PATH: &str = "/api/v1/metrics";

/// Longest series name, bytes.
pub const MAX_NAME_LEN: usize = 64;
/// Longest instance, bytes.
pub const MAX_INSTANCE_LEN: usize = 256;

/// One push of metrics, heartbeats and probe results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MetricBatch {
    /// Must equal [`crate::SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Unique per batch (the agent's spool file name); a redelivery carries the same id.
    pub batch_id: String,
    pub agent_version: String,
    /// The agent's metrics interval, seconds: the cadence its heartbeats promise.
    pub interval_secs: u32,
    /// The ticks this batch covers, oldest first: one heartbeat of the agent's host each.
    #[serde(default)]
    pub ticks: Vec<Tick>,
    /// Series of the agent's own host.
    #[serde(default)]
    pub series: Vec<Series>,
    /// Series of network devices this agent polls, by poll target address.
    #[serde(default)]
    pub devices: Vec<DeviceSeries>,
    /// Results of the availability probes this agent runs.
    #[serde(default)]
    pub probes: Vec<ProbeResult>,
}

/// One heartbeat: the host was up at `at`, and had been up for `uptime_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Tick {
    pub at: DateTime<Utc>,
    /// Seconds since boot (`/proc/uptime`); going backwards between ticks is a reboot.
    /// Absent when it could not be read (no reboot can be told from such a tick).
    #[serde(default)]
    pub uptime_secs: Option<u64>,
}

/// Samples of one series: one name and instance on one CI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Series {
    pub name: String,
    /// Tells apart the series of one name (mount point, interface, disk); empty when unique.
    #[serde(default)]
    pub instance: String,
    /// `[unix seconds, value]` pairs, oldest first.
    pub points: Vec<Point>,
}

/// A sample: unix time in seconds and a finite value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Point(pub i64, pub f64);

/// Series of one polled network device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeviceSeries {
    /// The poll target's address, as in the agent's device reports.
    pub address: String,
    /// Polls of this device: `true` where it answered, `false` where it did not (SNMP
    /// reachability, an availability signal for the device).
    #[serde(default)]
    pub polls: Vec<PollResult>,
    /// sysUpTime readings, for reboots (a reset is an outage of the boot's length).
    #[serde(default)]
    pub uptime: Vec<Point>,
    #[serde(default)]
    pub series: Vec<Series>,
}

/// Whether a device answered a poll at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PollResult {
    pub at: DateTime<Utc>,
    pub answered: bool,
}

/// What kind of probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ProbeKind {
    Tcp,
    Http,
    Icmp,
}

/// One run of one probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ProbeResult {
    /// The probe's name in the agent's configuration (unique per agent).
    pub name: String,
    pub kind: ProbeKind,
    /// What was probed: `host:port`, a URL, or an address.
    pub target: String,
    /// The CI the probe is a signal for, as configured: a CI id, a name or an address.
    pub ci: String,
    pub at: DateTime<Utc>,
    /// Up, degraded or down, as the probe judged it (see [`ProbeState`]).
    pub state: ProbeState,
    /// Round-trip or response time, milliseconds, when there was an answer.
    #[serde(default)]
    pub latency_ms: Option<f64>,
    /// HTTP status, for HTTP probes that got an answer.
    #[serde(default)]
    pub status: Option<u16>,
    /// Expiry of the server certificate, for HTTPS probes.
    #[serde(default)]
    pub cert_not_after: Option<DateTime<Utc>>,
    /// Why the probe failed or judged the target degraded.
    #[serde(default)]
    pub error: Option<String>,
}

/// A probe's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ProbeState {
    Up,
    /// Answered, but slower than the probe's `degraded_ms`, or with a certificate about to
    /// expire.
    Degraded,
    Down,
}

/// The server's answer to an accepted batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct MetricAck {
    pub batch_id: String,
    /// Samples stored (0 for a redelivered batch already held).
    pub samples: u64,
}

/// The series names this build of the agent sends (units in the comments).
pub mod names {
    /// CPU busy time over the interval, percent of all CPUs.
    pub const CPU_UTIL: &str = "cpu.util";
    pub const LOAD_1: &str = "load.1";
    pub const LOAD_5: &str = "load.5";
    pub const LOAD_15: &str = "load.15";
    /// Bytes.
    pub const MEM_USED: &str = "mem.used";
    /// Bytes.
    pub const MEM_AVAILABLE: &str = "mem.available";
    /// Percent of total (used = total − available).
    pub const MEM_USED_PCT: &str = "mem.used_pct";
    /// Bytes.
    pub const SWAP_USED: &str = "swap.used";
    /// Percent of total swap.
    pub const SWAP_USED_PCT: &str = "swap.used_pct";
    /// Bytes; instance = mount point.
    pub const FS_USED: &str = "fs.used";
    /// Bytes available to unprivileged users; instance = mount point.
    pub const FS_FREE: &str = "fs.free";
    /// Percent (used / (used + available), as `df` shows it); instance = mount point.
    pub const FS_USED_PCT: &str = "fs.used_pct";
    pub const FS_INODES_USED: &str = "fs.inodes_used";
    pub const FS_INODES_FREE: &str = "fs.inodes_free";
    /// Bytes per second; instance = disk.
    pub const DISK_READ_BYTES: &str = "disk.read_bytes";
    pub const DISK_WRITE_BYTES: &str = "disk.write_bytes";
    /// Operations per second; instance = disk.
    pub const DISK_READ_OPS: &str = "disk.read_ops";
    pub const DISK_WRITE_OPS: &str = "disk.write_ops";
    /// Per second; instance = interface.
    pub const NET_RX_BYTES: &str = "net.rx_bytes";
    pub const NET_TX_BYTES: &str = "net.tx_bytes";
    pub const NET_RX_PACKETS: &str = "net.rx_packets";
    pub const NET_TX_PACKETS: &str = "net.tx_packets";
    pub const NET_RX_ERRORS: &str = "net.rx_errors";
    pub const NET_TX_ERRORS: &str = "net.tx_errors";
    pub const NET_RX_DROPS: &str = "net.rx_drops";
    pub const NET_TX_DROPS: &str = "net.tx_drops";
    /// Percent of link speed, the busier direction; instance = interface (when the speed is known).
    pub const NET_UTIL: &str = "net.util";
    pub const PROC_COUNT: &str = "proc.count";
    /// Seconds since boot.
    pub const UPTIME: &str = "uptime";
    /// Device interface utilisation, percent of ifHighSpeed; instance = ifName (or ifDescr).
    pub const IF_IN_UTIL: &str = "if.in_util";
    pub const IF_OUT_UTIL: &str = "if.out_util";
    /// Per second; instance = interface.
    pub const IF_IN_ERRORS: &str = "if.in_errors";
    pub const IF_OUT_ERRORS: &str = "if.out_errors";
    pub const IF_IN_DISCARDS: &str = "if.in_discards";
    pub const IF_OUT_DISCARDS: &str = "if.out_discards";
    /// HOST-RESOURCES average processor load, percent.
    pub const HR_CPU: &str = "hr.cpu";
    /// HOST-RESOURCES storage used, percent; instance = hrStorageDescr.
    pub const HR_STORAGE_USED_PCT: &str = "hr.storage_used_pct";
    /// Probe response time, milliseconds; instance = probe name.
    pub const PROBE_LATENCY_MS: &str = "probe.latency_ms";
    /// Days until the probed server's certificate expires; instance = probe name.
    pub const PROBE_CERT_DAYS: &str = "probe.cert_days";
}

/// Why a series name or instance is not acceptable, if it is not.
pub fn check_series_key(name: &str, instance: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(format!(
            "series name must be 1 to {MAX_NAME_LEN} bytes, got {}",
            name.len()
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_')
        || name.starts_with('.')
        || name.ends_with('.')
    {
        return Err(format!(
            "series name {name:?} must be dotted lower-case words (a-z, 0-9, '_', '.')"
        ));
    }
    if instance.len() > MAX_INSTANCE_LEN {
        return Err(format!(
            "series instance is {} bytes, longer than {MAX_INSTANCE_LEN}",
            instance.len()
        ));
    }
    if instance.chars().any(char::is_control) {
        return Err(format!(
            "series instance {instance:?} holds control characters"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_round_trips_with_points_as_pairs() {
        let b = MetricBatch {
            schema_version: crate::SCHEMA_VERSION,
            batch_id: "m-1".into(),
            agent_version: "0.1.0".into(),
            interval_secs: 60,
            ticks: vec![],
            series: vec![Series {
                name: names::CPU_UTIL.into(),
                instance: String::new(),
                points: vec![Point(1_700_000_000, 12.5)],
            }],
            devices: vec![],
            probes: vec![],
        };
        let json = serde_json::to_string(&b).expect("encode");
        assert!(json.contains("[1700000000,12.5]"), "{json}");
        let back: MetricBatch = serde_json::from_str(&json).expect("decode");
        assert_eq!(back, b);
    }

    #[test]
    fn series_keys_are_checked() {
        assert!(check_series_key("fs.used_pct", "/var").is_ok());
        assert!(check_series_key("", "").is_err());
        assert!(check_series_key("CPU", "").is_err());
        assert!(check_series_key("cpu.", "").is_err());
        assert!(check_series_key("a b", "").is_err());
        assert!(check_series_key("cpu", "a\nb").is_err());
        assert!(check_series_key("cpu", &"x".repeat(300)).is_err());
    }
}
