//! `cmdb-agent` configuration: one TOML file, every field documented, validated on load.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The whole agent configuration file. Every field has a default, so an empty file is valid.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Directory for the credential (mode 0600), the pinned CA, the spool and delivery state.
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    /// Root the collectors read under: `/` in production; a fixture tree in tests.
    #[serde(default = "default_root")]
    pub root: PathBuf,
    /// When and how reports are delivered.
    #[serde(default)]
    pub delivery: Delivery,
    /// Which collectors run.
    #[serde(default)]
    pub collectors: Collectors,
    /// The SNMP poller role: network devices to inventory (none by default).
    #[serde(default)]
    pub snmp: Snmp,
    /// Host metrics and heartbeats.
    #[serde(default)]
    pub metrics: Metrics,
    /// Availability probes, e.g. `[[probes]]` (none by default).
    #[serde(default)]
    pub probes: Vec<Probe>,
}

/// Host metrics: every tick the agent samples this host (CPU, load, memory, filesystems,
/// disks, interfaces, processes, uptime), runs the probes that are due and spools one metric
/// batch, whose tick is also the host's heartbeat.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    /// Whether metrics, heartbeats, probes and SNMP device metrics run at all.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Seconds between two ticks.
    #[serde(default = "default_metrics_interval_secs")]
    pub interval_secs: u64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            enabled: true,
            interval_secs: default_metrics_interval_secs(),
        }
    }
}

/// An availability probe of something this host can reach, a signal for a CI.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Probe {
    /// Unique among the probes; the instance of its `probe.*` series.
    pub name: String,
    /// `tcp` (connect), `http` (GET; https too) or `icmp` (echo).
    pub kind: cmdb_shared::metrics::ProbeKind,
    /// `host:port` (tcp), a URL (http), or a host name or address (icmp).
    pub target: String,
    /// The CI the probe is a signal for: a CI id, a name or an address.
    pub ci: String,
    /// Seconds between two runs; `[metrics] interval_secs` by default.
    pub interval_secs: Option<u64>,
    /// Milliseconds before the probe gives up (and the target is down); shorter than the
    /// probe's interval and the metrics interval.
    #[serde(default = "default_probe_timeout_ms")]
    pub timeout_ms: u64,
    /// Milliseconds of latency above which the target is degraded rather than up.
    pub degraded_ms: Option<u64>,
    /// HTTP only: the statuses that mean up (200 to 399 when not given).
    pub expect_status: Option<Vec<u16>>,
    /// HTTP only: a server certificate expiring within this many days makes the target
    /// degraded (14 when not given).
    pub cert_warn_days: Option<u32>,
    /// HTTP only: do not verify the server certificate (its expiry is still reported).
    #[serde(default)]
    pub insecure: bool,
}

impl Probe {
    /// The probe's interval given the metrics interval.
    pub fn interval_secs(&self, metrics: &Metrics) -> u64 {
        self.interval_secs.unwrap_or(metrics.interval_secs)
    }
}

/// The SNMP poller: credentials (stored once, referenced by name), configured targets and
/// discovery ranges.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snmp {
    /// Seconds between two polls of a device (a target may set its own).
    #[serde(default = "default_snmp_interval_secs")]
    pub interval_secs: u64,
    /// Seconds between two metrics polls of a device (interface counters, uptime, processor
    /// and storage use), between its inventory polls: 300, or `interval_secs` when that is
    /// shorter. A device inventoried more often is not polled for metrics in between.
    pub metrics_interval_secs: Option<u64>,
    /// Most devices polled (or addresses probed) at the same time.
    #[serde(default = "default_snmp_concurrency")]
    pub concurrency: usize,
    /// Seconds to wait for each answer.
    #[serde(default = "default_snmp_timeout_secs")]
    pub timeout_secs: f64,
    /// Retries after a timeout.
    #[serde(default = "default_snmp_retries")]
    pub retries: u32,
    /// GETBULK max-repetitions.
    #[serde(default = "default_snmp_max_repetitions")]
    pub max_repetitions: u32,
    /// Named credentials, e.g. `[snmp.credentials.core-ro]`.
    #[serde(default)]
    pub credentials: BTreeMap<String, SnmpCredential>,
    /// Devices to poll, e.g. `[[snmp.targets]]`.
    #[serde(default)]
    pub targets: Vec<SnmpTarget>,
    /// Address ranges to sweep for devices, e.g. `[[snmp.discovery]]`.
    #[serde(default)]
    pub discovery: Vec<SnmpDiscovery>,
}

impl Default for Snmp {
    fn default() -> Self {
        Self {
            interval_secs: default_snmp_interval_secs(),
            metrics_interval_secs: None,
            concurrency: default_snmp_concurrency(),
            timeout_secs: default_snmp_timeout_secs(),
            retries: default_snmp_retries(),
            max_repetitions: default_snmp_max_repetitions(),
            credentials: BTreeMap::new(),
            targets: Vec::new(),
            discovery: Vec::new(),
        }
    }
}

/// One credential. `version = "1"`, `"2c"` (with `community`) or `"3"` (with `user`, and
/// `auth_key`/`priv_key` for authNoPriv/authPriv). Its `Debug` form hides the secrets.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnmpCredential {
    pub version: String,
    pub community: Option<String>,
    pub user: Option<String>,
    /// md5, sha (default), sha224, sha256, sha384, sha512.
    pub auth_protocol: Option<String>,
    pub auth_key: Option<String>,
    /// des, aes (default; AES-128), aes192, aes256, aes192c, aes256c (Cisco key extension).
    pub priv_protocol: Option<String>,
    pub priv_key: Option<String>,
    /// SNMPv3 context name (a target may set its own).
    pub context: Option<String>,
}

impl std::fmt::Debug for SnmpCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |s: &Option<String>| s.as_ref().map(|_| "<hidden>");
        f.debug_struct("SnmpCredential")
            .field("version", &self.version)
            .field("community", &hidden(&self.community))
            .field("user", &self.user)
            .field("auth_protocol", &self.auth_protocol)
            .field("auth_key", &hidden(&self.auth_key))
            .field("priv_protocol", &self.priv_protocol)
            .field("priv_key", &hidden(&self.priv_key))
            .field("context", &self.context)
            .finish()
    }
}

/// A configured device.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnmpTarget {
    /// `host`, `host:port` or `[v6]:port` (port 161 by default).
    pub address: String,
    /// Name of an entry of `[snmp.credentials]`.
    pub credential: String,
    /// SNMPv3 context for this device, instead of the credential's.
    pub context: Option<String>,
    /// Seconds between polls, instead of `snmp.interval_secs`.
    pub interval_secs: Option<u64>,
}

/// A range swept for devices: every address is probed (sysObjectID) with each credential in
/// turn; responders are polled like configured targets.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnmpDiscovery {
    /// An IPv4 or IPv6 network, e.g. `10.0.0.0/24` (at most 65,536 addresses).
    pub cidr: String,
    #[serde(default = "default_snmp_port")]
    pub port: u16,
    /// Credential names, tried in order.
    pub credentials: Vec<String>,
    /// Seconds between sweeps.
    #[serde(default = "default_snmp_sweep_secs")]
    pub interval_secs: u64,
}

/// Delivery schedule and spool bounds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delivery {
    /// Seconds between reports. Each carries only the sections that changed (an empty one is
    /// a heartbeat).
    #[serde(default = "default_interval_secs")]
    pub interval_secs: u64,
    /// Seconds between full inventories (±10 % jitter, so a fleet restarted together spreads out).
    #[serde(default = "default_full_interval_secs")]
    pub full_interval_secs: u64,
    /// Most bytes the spool may hold (compressed reports); the oldest are dropped beyond it.
    #[serde(default = "default_spool_max_bytes")]
    pub spool_max_bytes: u64,
    /// Most reports the spool may hold.
    #[serde(default = "default_spool_max_reports")]
    pub spool_max_reports: usize,
    /// Timeout of one HTTP request, in seconds.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// Longest wait between delivery retries, in seconds (backoff is exponential with full jitter).
    #[serde(default = "default_backoff_max_secs")]
    pub backoff_max_secs: u64,
}

impl Default for Delivery {
    fn default() -> Self {
        Self {
            interval_secs: default_interval_secs(),
            full_interval_secs: default_full_interval_secs(),
            spool_max_bytes: default_spool_max_bytes(),
            spool_max_reports: default_spool_max_reports(),
            timeout_secs: default_timeout_secs(),
            backoff_max_secs: default_backoff_max_secs(),
        }
    }
}

/// Collector selection.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Collectors {
    /// Collectors not to run, by name (e.g. `["sockets"]`). `identity` cannot be disabled.
    #[serde(default)]
    pub disabled: Vec<String>,
}

fn default_snmp_interval_secs() -> u64 {
    900
}
fn default_snmp_metrics_interval_secs() -> u64 {
    300
}
fn default_true() -> bool {
    true
}
fn default_metrics_interval_secs() -> u64 {
    60
}
fn default_probe_timeout_ms() -> u64 {
    5000
}
/// Days before a probed server certificate's expiry at which the probe says degraded.
pub const DEFAULT_CERT_WARN_DAYS: u32 = 14;
fn default_snmp_concurrency() -> usize {
    32
}
fn default_snmp_timeout_secs() -> f64 {
    2.0
}
fn default_snmp_retries() -> u32 {
    2
}
fn default_snmp_max_repetitions() -> u32 {
    25
}
fn default_snmp_port() -> u16 {
    161
}
fn default_snmp_sweep_secs() -> u64 {
    86_400
}
fn default_state_dir() -> PathBuf {
    PathBuf::from("/var/lib/cmdb-agent")
}
fn default_root() -> PathBuf {
    PathBuf::from("/")
}
fn default_interval_secs() -> u64 {
    300
}
fn default_full_interval_secs() -> u64 {
    6 * 3600
}
// A day away holds: 1,440 metric ticks, 288 host reports, and 25 devices polled every 5 min
// (7,200 polls) — 8,928 files of a few KB each.
fn default_spool_max_bytes() -> u64 {
    128 * 1024 * 1024
}
fn default_spool_max_reports() -> usize {
    10_000
}
fn default_timeout_secs() -> u64 {
    30
}
fn default_backoff_max_secs() -> u64 {
    300
}

impl Default for Config {
    fn default() -> Self {
        Self {
            state_dir: default_state_dir(),
            root: default_root(),
            delivery: Delivery::default(),
            collectors: Collectors::default(),
            snmp: Snmp::default(),
            metrics: Metrics::default(),
            probes: Vec::new(),
        }
    }
}

/// A configuration problem, naming the field.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
}

/// The collector names the agent knows.
pub const COLLECTOR_NAMES: [&str; 11] = cmdb_shared::SECTIONS;

impl Config {
    /// Reads and validates a config file; a missing default file means all defaults.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and validates config text.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks values serde cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let d = &self.delivery;
        if !(10..=86_400).contains(&d.interval_secs) && d.interval_secs != 1 {
            // 1 s is allowed for tests and demos; anything else below 10 s floods a fleet's server.
            return Err(ConfigError::Invalid {
                field: "delivery.interval_secs".into(),
                reason: format!(
                    "must be between 10 and 86400 (or 1 for tests), got {}",
                    d.interval_secs
                ),
            });
        }
        if d.full_interval_secs < d.interval_secs {
            return Err(ConfigError::Invalid {
                field: "delivery.full_interval_secs".into(),
                reason: "must not be shorter than delivery.interval_secs".into(),
            });
        }
        if d.spool_max_reports == 0 || d.spool_max_bytes < 1024 * 1024 {
            return Err(ConfigError::Invalid {
                field: "delivery.spool_max_bytes".into(),
                reason: "the spool needs at least 1 MiB and 1 report".into(),
            });
        }
        if d.timeout_secs == 0 || d.timeout_secs > 600 {
            return Err(ConfigError::Invalid {
                field: "delivery.timeout_secs".into(),
                reason: "must be between 1 and 600".into(),
            });
        }
        if d.backoff_max_secs == 0 {
            return Err(ConfigError::Invalid {
                field: "delivery.backoff_max_secs".into(),
                reason: "must be at least 1".into(),
            });
        }
        for name in &self.collectors.disabled {
            if !COLLECTOR_NAMES.contains(&name.as_str()) {
                return Err(ConfigError::Invalid {
                    field: "collectors.disabled".into(),
                    reason: format!(
                        "unknown collector {name:?}; known: {}",
                        COLLECTOR_NAMES.join(", ")
                    ),
                });
            }
            if name == "identity" {
                return Err(ConfigError::Invalid {
                    field: "collectors.disabled".into(),
                    reason: "identity cannot be disabled: the server identifies the host by it"
                        .into(),
                });
            }
        }
        if !self.root.is_absolute() {
            return Err(ConfigError::Invalid {
                field: "root".into(),
                reason: "must be an absolute path".into(),
            });
        }
        self.snmp.validate()?;
        self.validate_metrics()
    }

    fn validate_metrics(&self) -> Result<(), ConfigError> {
        let m = &self.metrics;
        if !(10..=3600).contains(&m.interval_secs) && m.interval_secs != 1 {
            return Err(invalid(
                "metrics.interval_secs",
                format!(
                    "must be between 10 and 3600 (or 1 for tests), got {}",
                    m.interval_secs
                ),
            ));
        }
        if !self.probes.is_empty() && !m.enabled {
            return Err(invalid(
                "probes",
                "probes need [metrics] enabled = true: their results travel in metric batches",
            ));
        }
        for (i, p) in self.probes.iter().enumerate() {
            let at = |f: &str| format!("probes[{i}].{f}");
            if p.name.trim().is_empty() {
                return Err(invalid(at("name"), "must not be empty"));
            }
            cmdb_shared::metrics::check_series_key(
                cmdb_shared::metrics::names::PROBE_LATENCY_MS,
                &p.name,
            )
            .map_err(|e| invalid(at("name"), e))?;
            if self.probes[..i].iter().any(|q| q.name == p.name) {
                return Err(invalid(
                    at("name"),
                    format!(
                        "{:?} is the name of an earlier probe; names must be unique",
                        p.name
                    ),
                ));
            }
            if p.ci.trim().is_empty() {
                return Err(invalid(
                    at("ci"),
                    "name the CI the probe is a signal for (its id, name or address)",
                ));
            }
            crate::probe::check_target(p.kind, &p.target).map_err(|e| invalid(at("target"), e))?;
            let interval = p.interval_secs(m);
            if !(10..=86_400).contains(&interval) && interval != 1 {
                return Err(invalid(
                    at("interval_secs"),
                    format!("must be between 10 and 86400 (or 1 for tests), got {interval}"),
                ));
            }
            // A probe that may outlast its interval would pile runs up; one that may outlast
            // a tick would hold up the next heartbeat.
            let limit = interval.min(m.interval_secs) * 1000;
            if p.timeout_ms == 0 || p.timeout_ms >= limit || p.timeout_ms > 60_000 {
                return Err(invalid(
                    at("timeout_ms"),
                    format!(
                        "must be from 1 to 60000 and shorter than the probe's interval and the metrics interval ({} s), got {}",
                        limit / 1000,
                        p.timeout_ms
                    ),
                ));
            }
            if let Some(d) = p.degraded_ms
                && (d == 0 || d >= p.timeout_ms)
            {
                return Err(invalid(
                    at("degraded_ms"),
                    format!(
                        "must be from 1 to timeout_ms - 1 ({}), got {d}",
                        p.timeout_ms - 1
                    ),
                ));
            }
            let http = p.kind == cmdb_shared::metrics::ProbeKind::Http;
            for (field, set) in [
                ("expect_status", p.expect_status.is_some()),
                ("cert_warn_days", p.cert_warn_days.is_some()),
                ("insecure", p.insecure),
            ] {
                if set && !http {
                    return Err(invalid(at(field), "only for kind = \"http\""));
                }
            }
            if let Some(codes) = &p.expect_status {
                if codes.is_empty() {
                    return Err(invalid(at("expect_status"), "list at least one status"));
                }
                if let Some(c) = codes.iter().find(|c| !(100..=599).contains(*c)) {
                    return Err(invalid(
                        at("expect_status"),
                        format!("{c} is not an HTTP status (100 to 599)"),
                    ));
                }
            }
            if p.cert_warn_days.is_some_and(|d| d > 3650) {
                return Err(invalid(at("cert_warn_days"), "at most 3650"));
            }
        }
        Ok(())
    }
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

fn check_interval(field: String, secs: u64) -> Result<(), ConfigError> {
    if (60..=7 * 86_400).contains(&secs) || secs == 1 {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!("must be between 60 and 604800 seconds (or 1 for tests), got {secs}"),
        ))
    }
}

impl Snmp {
    /// Seconds between two metrics polls of a device.
    pub fn metrics_interval_secs(&self) -> u64 {
        self.metrics_interval_secs
            .unwrap_or_else(|| default_snmp_metrics_interval_secs().min(self.interval_secs))
    }

    /// Checks values serde cannot, naming the field (`snmp.targets[2].credential`, …).
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_interval("snmp.interval_secs".into(), self.interval_secs)?;
        if let Some(secs) = self.metrics_interval_secs
            && secs != 1
            && !(10..=self.interval_secs).contains(&secs)
        {
            return Err(invalid(
                "snmp.metrics_interval_secs",
                format!(
                    "must be between 10 and snmp.interval_secs ({}) (or 1 for tests), got {secs}",
                    self.interval_secs
                ),
            ));
        }
        if !(1..=1024).contains(&self.concurrency) {
            return Err(invalid("snmp.concurrency", "must be from 1 to 1024"));
        }
        if !(0.05..=60.0).contains(&self.timeout_secs) {
            return Err(invalid(
                "snmp.timeout_secs",
                "must be between 0.05 and 60 seconds",
            ));
        }
        if self.retries > 10 {
            return Err(invalid("snmp.retries", "at most 10"));
        }
        if !(1..=1000).contains(&self.max_repetitions) {
            return Err(invalid("snmp.max_repetitions", "must be from 1 to 1000"));
        }
        for name in self.credentials.keys() {
            self.credential(name, None, "snmp.credentials")?;
        }
        for (i, t) in self.targets.iter().enumerate() {
            let at = |f: &str| format!("snmp.targets[{i}].{f}");
            crate::snmp::target_address(&t.address).map_err(|e| invalid(at("address"), e))?;
            self.credential(&t.credential, t.context.as_deref(), &at("credential"))?;
            if let Some(secs) = t.interval_secs {
                check_interval(at("interval_secs"), secs)?;
            }
        }
        for (i, d) in self.discovery.iter().enumerate() {
            let at = |f: &str| format!("snmp.discovery[{i}].{f}");
            crate::snmp::discover::parse_range(&d.cidr).map_err(|e| invalid(at("cidr"), e))?;
            if d.port == 0 {
                return Err(invalid(at("port"), "must be from 1 to 65535"));
            }
            if d.credentials.is_empty() {
                return Err(invalid(at("credentials"), "name at least one credential"));
            }
            for c in &d.credentials {
                self.credential(c, None, &at("credentials"))?;
            }
            if d.interval_secs != 1 && !(300..=30 * 86_400).contains(&d.interval_secs) {
                return Err(invalid(
                    at("interval_secs"),
                    "must be between 300 and 2592000 seconds (or 1 for tests)",
                ));
            }
        }
        Ok(())
    }

    /// The client credentials of a named entry, with an optional context override. An
    /// unknown name is an error of `referenced_by`, the field that named it.
    pub fn credential(
        &self,
        name: &str,
        context: Option<&str>,
        referenced_by: &str,
    ) -> Result<crate::snmp::client::Credentials, ConfigError> {
        use crate::snmp::client::{Credentials, V3Spec};
        let Some(c) = self.credentials.get(name) else {
            let known: Vec<&str> = self.credentials.keys().map(String::as_str).collect();
            return Err(invalid(
                referenced_by,
                format!(
                    "no credential named {name:?} in [snmp.credentials] (known: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            ));
        };
        let at = |f: &str| format!("snmp.credentials.{name}.{f}");
        let community = || -> Result<String, ConfigError> {
            match &c.community {
                Some(s) if !s.is_empty() && s.len() <= 255 => Ok(s.clone()),
                Some(_) => Err(invalid(at("community"), "must be 1-255 characters")),
                None => Err(invalid(
                    at("community"),
                    format!("required with version {:?}", c.version),
                )),
            }
        };
        let v3_only = [
            ("user", c.user.is_some()),
            ("auth_protocol", c.auth_protocol.is_some()),
            ("auth_key", c.auth_key.is_some()),
            ("priv_protocol", c.priv_protocol.is_some()),
            ("priv_key", c.priv_key.is_some()),
            ("context", c.context.is_some()),
        ];
        match c.version.as_str() {
            "1" | "2c" => {
                if let Some((f, _)) = v3_only.iter().find(|(_, set)| *set) {
                    return Err(invalid(at(f), "only for version \"3\""));
                }
                let community = community()?;
                Ok(if c.version == "1" {
                    Credentials::V1 { community }
                } else {
                    Credentials::V2c { community }
                })
            }
            "3" => {
                if c.community.is_some() {
                    return Err(invalid(at("community"), "not used by version \"3\""));
                }
                let spec = V3Spec {
                    user: c
                        .user
                        .clone()
                        .ok_or_else(|| invalid(at("user"), "required with version \"3\""))?,
                    auth_protocol: c.auth_protocol.clone(),
                    auth_key: c.auth_key.clone(),
                    priv_protocol: c.priv_protocol.clone(),
                    priv_key: c.priv_key.clone(),
                    context: context
                        .map(str::to_string)
                        .or_else(|| c.context.clone())
                        .unwrap_or_default(),
                };
                spec.credentials(false).map_err(|e| {
                    let (field, reason) = e.split_once(": ").unwrap_or(("", e.as_str()));
                    invalid(at(if field == "v3_user" { "user" } else { field }), reason)
                })
            }
            other => Err(invalid(
                at("version"),
                format!("unknown SNMP version {other:?} (\"1\", \"2c\" or \"3\")"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_packaged_example_config_parses() {
        let text = include_str!("../../packaging/agent.toml");
        let cfg = Config::parse(text, Path::new("agent.toml"))
            .expect("packaging/agent.toml must stay valid");
        assert_eq!(cfg.state_dir, PathBuf::from("/var/lib/cmdb-agent"));
    }

    #[test]
    fn an_empty_file_means_defaults() {
        let cfg = Config::parse("", Path::new("x")).expect("defaults");
        assert_eq!(cfg.delivery.interval_secs, 300);
    }

    const SNMP: &str = r#"
[snmp]
interval_secs = 300
[snmp.credentials.ro]
version = "2c"
community = "public"
[snmp.credentials.v3]
version = "3"
user = "cmdb"
auth_protocol = "sha256"
auth_key = "auth-pass-1"
priv_protocol = "aes256"
priv_key = "priv-pass-1"
[[snmp.targets]]
address = "10.0.0.1"
credential = "v3"
context = "vlan-10"
[[snmp.targets]]
address = "[2001:db8::1]:1161"
credential = "ro"
interval_secs = 120
[[snmp.discovery]]
cidr = "10.0.10.0/24"
credentials = ["ro", "v3"]
"#;

    #[test]
    fn snmp_targets_reference_named_credentials() {
        use crate::snmp::client::{Credentials, PrivProtocol};
        let cfg = Config::parse(SNMP, Path::new("x")).expect("valid");
        match cfg.snmp.credential("v3", Some("vlan-10"), "t").expect("v3") {
            Credentials::V3 {
                user,
                privacy: Some((PrivProtocol::Aes256, _)),
                context,
                ..
            } => assert_eq!((user.as_str(), context.as_str()), ("cmdb", "vlan-10")),
            other => panic!("{other:?}"),
        }
        assert_eq!(cfg.snmp.discovery[0].port, 161);
        assert_eq!(cfg.snmp.discovery[0].interval_secs, 86_400);
    }

    #[test]
    fn snmp_mistakes_name_the_field() {
        for (from, to, field) in [
            (
                "credential = \"v3\"",
                "credential = \"v4\"",
                "snmp.targets[0].credential",
            ),
            (
                "auth_key = \"auth-pass-1\"",
                "auth_key = \"short\"",
                "snmp.credentials.v3.auth_key",
            ),
            (
                "priv_protocol = \"aes256\"",
                "priv_protocol = \"rot13\"",
                "snmp.credentials.v3.priv_protocol",
            ),
            (
                "community = \"public\"",
                "user = \"x\"",
                "snmp.credentials.ro.user",
            ),
            (
                "version = \"2c\"",
                "version = \"2\"",
                "snmp.credentials.ro.version",
            ),
            (
                "address = \"10.0.0.1\"",
                "address = \"10.0.0.1:0\"",
                "snmp.targets[0].address",
            ),
            (
                "cidr = \"10.0.10.0/24\"",
                "cidr = \"10.0.0.0/8\"",
                "snmp.discovery[0].cidr",
            ),
            (
                "credentials = [\"ro\", \"v3\"]",
                "credentials = []",
                "snmp.discovery[0].credentials",
            ),
            (
                "credentials = [\"ro\", \"v3\"]",
                "credentials = [\"ro\", \"nope\"]",
                "snmp.discovery[0].credentials",
            ),
            (
                "interval_secs = 120",
                "interval_secs = 5",
                "snmp.targets[1].interval_secs",
            ),
        ] {
            assert!(SNMP.contains(from), "{from}");
            let text = SNMP.replacen(from, to, 1);
            let err = Config::parse(&text, Path::new("x")).expect_err(to);
            assert!(err.to_string().starts_with(field), "{to}: {err}");
        }
    }

    const PROBES: &str = r#"
[metrics]
interval_secs = 60
[[probes]]
name = "shop"
kind = "http"
target = "https://shop.example.com/health"
ci = "shop-web"
timeout_ms = 3000
degraded_ms = 800
expect_status = [200, 204]
cert_warn_days = 21
[[probes]]
name = "db"
kind = "tcp"
target = "db1.example.com:5432"
ci = "db1"
interval_secs = 30
[[probes]]
name = "gw"
kind = "icmp"
target = "10.0.0.1"
ci = "10.0.0.1"
"#;

    #[test]
    fn metrics_are_on_by_default_and_probes_parse() {
        let cfg = Config::parse("", Path::new("x")).expect("defaults");
        assert!(cfg.metrics.enabled);
        assert_eq!(cfg.metrics.interval_secs, 60);
        assert_eq!(cfg.snmp.metrics_interval_secs(), 300);
        let cfg = Config::parse("[snmp]\ninterval_secs = 120\n", Path::new("x")).expect("ok");
        assert_eq!(
            cfg.snmp.metrics_interval_secs(),
            120,
            "never after the inventory"
        );
        let cfg = Config::parse(PROBES, Path::new("x")).expect("probes");
        assert_eq!(cfg.probes.len(), 3);
        assert_eq!(cfg.probes[0].kind, cmdb_shared::metrics::ProbeKind::Http);
        assert_eq!(cfg.probes[1].interval_secs(&cfg.metrics), 30);
        assert_eq!(cfg.probes[2].interval_secs(&cfg.metrics), 60);
        assert_eq!(cfg.probes[2].timeout_ms, 5000);
    }

    #[test]
    fn metrics_and_probe_mistakes_name_the_field() {
        for (from, to, field) in [
            (
                "interval_secs = 60",
                "interval_secs = 5",
                "metrics.interval_secs",
            ),
            ("name = \"db\"", "name = \"shop\"", "probes[1].name"),
            ("name = \"db\"", "name = \"a\\nb\"", "probes[1].name"),
            ("ci = \"db1\"", "ci = \"\"", "probes[1].ci"),
            (
                "target = \"db1.example.com:5432\"",
                "target = \"db1.example.com\"",
                "probes[1].target",
            ),
            (
                "target = \"https://shop.example.com/health\"",
                "target = \"shop.example.com\"",
                "probes[0].target",
            ),
            (
                "target = \"10.0.0.1\"",
                "target = \"10.0.0.1:7\"",
                "probes[2].target",
            ),
            (
                "interval_secs = 30",
                "interval_secs = 3",
                "probes[1].interval_secs",
            ),
            (
                "timeout_ms = 3000",
                "timeout_ms = 60000",
                "probes[0].timeout_ms",
            ),
            (
                "degraded_ms = 800",
                "degraded_ms = 3000",
                "probes[0].degraded_ms",
            ),
            (
                "expect_status = [200, 204]",
                "expect_status = [42]",
                "probes[0].expect_status",
            ),
            (
                "expect_status = [200, 204]",
                "expect_status = []",
                "probes[0].expect_status",
            ),
            (
                "interval_secs = 30",
                "insecure = true",
                "probes[1].insecure",
            ),
            ("kind = \"tcp\"", "kind = \"udp\"", "x: "),
        ] {
            assert!(PROBES.contains(from), "{from}");
            let text = PROBES.replacen(from, to, 1);
            let err = Config::parse(&text, Path::new("x")).expect_err(to);
            assert!(err.to_string().starts_with(field), "{to}: {err}");
        }
        // A probe may not outlast a tick, whatever its own interval.
        let slow = PROBES
            .replacen("interval_secs = 60", "interval_secs = 10", 1)
            .replacen(
                "timeout_ms = 3000",
                "timeout_ms = 10000\ninterval_secs = 600",
                1,
            );
        let err = Config::parse(&slow, Path::new("x")).expect_err("longer than a tick");
        assert!(err.to_string().starts_with("probes[0].timeout_ms"), "{err}");
        let off = PROBES.replacen("interval_secs = 60", "enabled = false", 1);
        let err = Config::parse(&off, Path::new("x")).expect_err("probes without metrics");
        assert!(err.to_string().starts_with("probes: "), "{err}");
        for (text, field) in [
            (
                "[snmp]\ninterval_secs = 300\nmetrics_interval_secs = 600\n",
                "snmp.metrics_interval_secs",
            ),
            (
                "[snmp]\nmetrics_interval_secs = 5\n",
                "snmp.metrics_interval_secs",
            ),
        ] {
            let err = Config::parse(text, Path::new("x")).expect_err(text);
            assert!(err.to_string().starts_with(field), "{err}");
        }
    }

    #[test]
    fn bad_values_name_the_field() {
        for (text, field) in [
            ("[delivery]\ninterval_secs = 2\n", "delivery.interval_secs"),
            (
                "[collectors]\ndisabled = [\"nope\"]\n",
                "collectors.disabled",
            ),
            (
                "[collectors]\ndisabled = [\"identity\"]\n",
                "collectors.disabled",
            ),
            ("root = \"relative\"\n", "root"),
        ] {
            let err = Config::parse(text, Path::new("x")).expect_err(text);
            assert!(err.to_string().starts_with(field), "{err}");
        }
        let err = Config::parse("colectors = 1\n", Path::new("a.toml")).expect_err("typo");
        assert!(err.to_string().contains("colectors"), "{err}");
    }
}
