//! `cmdb-server` configuration: one TOML file, every field documented, validated on load.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The whole server configuration file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address and port to listen on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Data directory: database (embedded engine), certificates.
    pub data_dir: PathBuf,
    /// TLS settings.
    #[serde(default)]
    pub tls: TlsConfig,
    /// Storage engine settings.
    #[serde(default)]
    pub storage: StorageConfig,
    /// Request and ingest limits.
    #[serde(default)]
    pub limits: Limits,
    /// CI lifecycle.
    #[serde(default)]
    pub lifecycle: Lifecycle,
    /// Relationships: discovery timers and impact analysis.
    #[serde(default)]
    pub relationships: RelationshipsConfig,
    /// Metric time series: compaction and retention.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// Availability: when silence is an outage.
    #[serde(default)]
    pub availability: AvailabilityConfig,
    /// Capacity forecasts: window and thresholds.
    #[serde(default)]
    pub capacity: CapacityConfig,
    /// The HTTP server: timeouts, concurrency and rate limits.
    #[serde(default)]
    pub http: HttpConfig,
    /// Credentials: the authentication cache and enrollment rate limit.
    #[serde(default)]
    pub auth: AuthConfig,
    /// The web UI.
    #[serde(default)]
    pub web: WebConfig,
    /// Several instances on one remote database.
    #[serde(default)]
    pub cluster: ClusterConfig,
}

/// Several server instances on one remote database (behind a load balancer). On an embedded
/// database, which one process opens, none of it runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// This instance's name in `/healthz`, leases and locks; empty: host name and port.
    #[serde(default)]
    pub instance: String,
    /// How often the change feed of the other instances' writes is read, in milliseconds.
    #[serde(default = "default_follow_ms")]
    pub follow_ms: u64,
    /// How long a background job's lease lasts without renewal: the holder renews it at
    /// every run, and another instance takes the job over this long after the holder went.
    #[serde(default = "default_lease_secs")]
    pub lease_secs: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            instance: String::new(),
            follow_ms: default_follow_ms(),
            lease_secs: default_lease_secs(),
        }
    }
}

fn default_follow_ms() -> u64 {
    500
}

fn default_lease_secs() -> u64 {
    120
}

/// The HTTP server's defences: slow or stuck clients, floods, one credential hogging it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// A client must send its request headers within this (slow-loris), seconds.
    #[serde(default = "default_header_read_timeout_secs")]
    pub header_read_timeout_secs: u64,
    /// A client must send its request body within this, seconds (408 otherwise).
    #[serde(default = "default_body_timeout_secs")]
    pub body_timeout_secs: u64,
    /// Longest a request may take as a whole, seconds (408 otherwise).
    #[serde(default = "default_request_timeout_secs")]
    pub request_timeout_secs: u64,
    /// Requests served at once; more are answered 503 with `Retry-After` at once, not queued.
    #[serde(default = "default_max_concurrent_requests")]
    pub max_concurrent_requests: usize,
    /// Requests per second one credential may make on average (429 with `Retry-After`
    /// beyond), and how many it may make in a burst.
    #[serde(default = "default_rate_per_credential")]
    pub rate_per_credential: u32,
    #[serde(default = "default_rate_burst")]
    pub rate_burst: u32,
    /// `/metrics` (Prometheus) without a credential; otherwise it needs a viewer token.
    #[serde(default)]
    pub metrics_open: bool,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            header_read_timeout_secs: default_header_read_timeout_secs(),
            body_timeout_secs: default_body_timeout_secs(),
            request_timeout_secs: default_request_timeout_secs(),
            max_concurrent_requests: default_max_concurrent_requests(),
            rate_per_credential: default_rate_per_credential(),
            rate_burst: default_rate_burst(),
            metrics_open: false,
        }
    }
}

/// Credentials.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// How long a checked credential is trusted from memory before storage is asked again.
    /// A revocation through this server takes effect at once; one made through another
    /// server on the same database (or an expiry changed in storage) is seen within this.
    #[serde(default = "default_auth_cache_ttl_secs")]
    pub cache_ttl_secs: u64,
    /// Most `POST /api/v1/enroll` requests per minute, all callers together (a token
    /// bucket: up to this many at once, then one every 60/N seconds); more get 429 with
    /// `Retry-After`.
    #[serde(default = "default_enroll_per_minute")]
    pub enroll_per_minute: u32,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            cache_ttl_secs: default_auth_cache_ttl_secs(),
            enroll_per_minute: default_enroll_per_minute(),
        }
    }
}

/// The web UI's sign-in and sessions.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    /// How long a web session lasts from its sign-in (it ends sooner when its user is
    /// disabled, or its API token revoked or expired).
    #[serde(default = "default_session_ttl_secs")]
    pub session_ttl_secs: u64,
    /// Most sign-in attempts per minute, all callers together (password hashing is costly
    /// on purpose); more are refused with 429 and `Retry-After`.
    #[serde(default = "default_sign_in_per_minute")]
    pub sign_in_per_minute: u32,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            session_ttl_secs: default_session_ttl_secs(),
            sign_in_per_minute: default_sign_in_per_minute(),
        }
    }
}

fn default_session_ttl_secs() -> u64 {
    8 * 3600
}
fn default_sign_in_per_minute() -> u32 {
    30
}

fn default_header_read_timeout_secs() -> u64 {
    10
}
fn default_body_timeout_secs() -> u64 {
    60
}
fn default_request_timeout_secs() -> u64 {
    300
}
fn default_max_concurrent_requests() -> usize {
    1024
}
fn default_rate_per_credential() -> u32 {
    50
}
fn default_rate_burst() -> u32 {
    500
}
fn default_auth_cache_ttl_secs() -> u64 {
    30
}
fn default_enroll_per_minute() -> u32 {
    60
}

/// Metric time series.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// How often the compaction looks for closed days to turn into blocks and rollups.
    #[serde(default = "default_compact_secs")]
    pub compact_secs: u64,
    /// A UTC day is compacted this long after it ends, so batches still in flight land first
    /// (later ones are merged into the day's blocks by the next compaction).
    #[serde(default = "default_compact_grace_secs")]
    pub compact_grace_secs: u64,
    /// Days raw samples are kept.
    #[serde(default = "default_raw_days")]
    pub raw_retention_days: u32,
    /// Days 5-minute and hourly rollups are kept. Daily rollups are kept for ever.
    #[serde(default = "default_rollup_days")]
    pub rollup_retention_days: u32,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            compact_secs: default_compact_secs(),
            compact_grace_secs: default_compact_grace_secs(),
            raw_retention_days: default_raw_days(),
            rollup_retention_days: default_rollup_days(),
        }
    }
}

fn default_compact_secs() -> u64 {
    300
}
fn default_compact_grace_secs() -> u64 {
    600
}
fn default_raw_days() -> u32 {
    30
}
fn default_rollup_days() -> u32 {
    365
}

/// Availability.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AvailabilityConfig {
    /// Heartbeats (or probe results) missed in a row before a CI counts as down, dated from
    /// the last one received.
    #[serde(default = "default_missed")]
    pub missed_intervals: u32,
    /// How often this server records that it is alive (and listening): time no server was
    /// alive is unknown, not down.
    #[serde(default = "default_alive_secs")]
    pub alive_secs: u64,
    /// A CI unseen this long is retired: kept and listed, out of impact and reports, back if
    /// it reports again (stale comes first, after `lifecycle.stale_after_secs`).
    #[serde(default = "default_retire_secs")]
    pub retire_after_secs: u64,
}

impl Default for AvailabilityConfig {
    fn default() -> Self {
        Self {
            missed_intervals: default_missed(),
            alive_secs: default_alive_secs(),
            retire_after_secs: default_retire_secs(),
        }
    }
}

fn default_missed() -> u32 {
    3
}
fn default_alive_secs() -> u64 {
    30
}
fn default_retire_secs() -> u64 {
    30 * 86_400
}

/// Capacity forecasts.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapacityConfig {
    /// Days of daily values the trend is fitted over.
    #[serde(default = "default_window_days")]
    pub window_days: u32,
    /// Fewer daily values than this: "not enough data".
    #[serde(default = "default_min_days")]
    pub min_days: u32,
    /// Crossings further away than this many days: "will not cross".
    #[serde(default = "default_horizon_days")]
    pub horizon_days: u32,
    /// Default thresholds, percent.
    #[serde(default = "default_warning")]
    pub warning_pct: f64,
    #[serde(default = "default_critical")]
    pub critical_pct: f64,
    /// Thresholds per CI class (`host`, `network_device`, …), e.g.
    /// `[capacity.class.network_device] warning_pct = 70`.
    #[serde(default)]
    pub class: std::collections::BTreeMap<String, Thresholds>,
    /// Thresholds per CI key.
    #[serde(default)]
    pub ci: std::collections::BTreeMap<String, Thresholds>,
}

/// Warning and critical thresholds, percent; a missing one falls back to the default.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    pub warning_pct: Option<f64>,
    pub critical_pct: Option<f64>,
}

impl Default for CapacityConfig {
    fn default() -> Self {
        Self {
            window_days: default_window_days(),
            min_days: default_min_days(),
            horizon_days: default_horizon_days(),
            warning_pct: default_warning(),
            critical_pct: default_critical(),
            class: Default::default(),
            ci: Default::default(),
        }
    }
}

impl CapacityConfig {
    /// The thresholds for a CI of `class`: its own, else its class's, else the defaults.
    pub fn thresholds_for(&self, ci: &str, class: &str) -> (f64, f64) {
        let own = self.ci.get(ci);
        let cls = self.class.get(class);
        let warning = own
            .and_then(|t| t.warning_pct)
            .or(cls.and_then(|t| t.warning_pct))
            .unwrap_or(self.warning_pct);
        let critical = own
            .and_then(|t| t.critical_pct)
            .or(cls.and_then(|t| t.critical_pct))
            .unwrap_or(self.critical_pct);
        (warning, critical)
    }
}

fn default_window_days() -> u32 {
    90
}
fn default_min_days() -> u32 {
    7
}
fn default_horizon_days() -> u32 {
    1095
}
fn default_warning() -> f64 {
    80.0
}
fn default_critical() -> f64 {
    90.0
}

/// Relationship discovery and impact analysis.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelationshipsConfig {
    /// A discovered relationship not observed for this long is marked stale: kept, listed,
    /// but no longer carrying impact. Manual relationships never go stale.
    #[serde(default = "default_rel_stale_after_secs")]
    pub stale_after_secs: u64,
    /// How often an unchanged observation refreshes an edge's `last_seen` in storage (and
    /// how often an unchanged inventory is re-derived). Must be well below `stale_after_secs`.
    #[serde(default = "default_rel_refresh_secs")]
    pub refresh_secs: u64,
    /// How often the stale sweep runs.
    #[serde(default = "default_rel_sweep_secs")]
    pub sweep_secs: u64,
    /// Switch ports that learned more distinct MACs than this are treated as trunks: their
    /// forwarding entries do not make host-to-switch links.
    #[serde(default = "default_max_macs_per_access_port")]
    pub max_macs_per_access_port: usize,
    /// Most CI ids the paths of one impact answer list in all (each affected CI's path from a
    /// failed CI); past it, farther CIs come without their path.
    #[serde(default = "default_max_path_elements")]
    pub max_path_elements: usize,
    /// Most service CIs one host's listening processes make (the first by process name);
    /// the rest are left out.
    #[serde(default = "default_max_services_per_host")]
    pub max_services_per_host: usize,
    /// Core or gateway CIs of the network (keys or names): a CI is cut off when no path over
    /// `connected_to` to one of them survives. CIs can also be marked `core` through the
    /// API. Empty: the centre of each network is used (see the README).
    #[serde(default)]
    pub core: Vec<String>,
    /// Largest impact result returned with paths; bigger ones are truncated (counts stay
    /// exact).
    #[serde(default = "default_max_impact_items")]
    pub max_impact_items: usize,
}

impl Default for RelationshipsConfig {
    fn default() -> Self {
        Self {
            stale_after_secs: default_rel_stale_after_secs(),
            refresh_secs: default_rel_refresh_secs(),
            sweep_secs: default_rel_sweep_secs(),
            max_macs_per_access_port: default_max_macs_per_access_port(),
            max_services_per_host: default_max_services_per_host(),
            max_path_elements: default_max_path_elements(),
            core: Vec::new(),
            max_impact_items: default_max_impact_items(),
        }
    }
}

fn default_rel_stale_after_secs() -> u64 {
    3 * 24 * 3600
}
fn default_rel_refresh_secs() -> u64 {
    3600
}
fn default_rel_sweep_secs() -> u64 {
    300
}
fn default_max_macs_per_access_port() -> usize {
    64
}
fn default_max_impact_items() -> usize {
    100_000
}
fn default_max_path_elements() -> usize {
    200_000
}

/// TLS.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Serve HTTPS. `false` is accepted only with a loopback `listen` address.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Server certificate chain (PEM); relative paths are under `data_dir`.
    #[serde(default = "default_cert")]
    pub cert: PathBuf,
    /// Server private key (PEM); relative paths are under `data_dir`.
    #[serde(default = "default_key")]
    pub key: PathBuf,
    /// Resume clients' TLS sessions with stateless tickets (an agent reconnecting every few
    /// minutes skips the certificate exchange).
    #[serde(default = "default_true")]
    pub session_tickets: bool,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            cert: default_cert(),
            key: default_key(),
            session_tickets: true,
        }
    }
}

/// Which SurrealDB to use. Its `Debug` form hides the password.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// `surrealkv` (embedded, under `data_dir/db`), `memory` (tests; nothing persists) or a
    /// remote `ws://host:port` / `wss://host:port` SurrealDB.
    #[serde(default = "default_engine")]
    pub engine: String,
    /// Namespace and database inside SurrealDB.
    #[serde(default = "default_ns")]
    pub namespace: String,
    #[serde(default = "default_ns")]
    pub database: String,
    /// User for a remote SurrealDB (ignored by embedded engines).
    #[serde(default)]
    pub username: Option<String>,
    /// Where that user is defined in SurrealDB: `root` (the default, as before this setting
    /// existed), `namespace` (a user of `namespace`) or `database` (a user of `namespace` /
    /// `database`, the least privilege: `DEFINE USER … ON DATABASE … ROLES EDITOR`).
    #[serde(default = "default_auth_level")]
    pub auth_level: String,
    /// Password for a remote SurrealDB; prefer the `CMDB_SURREAL_PASSWORD` environment variable.
    #[serde(default)]
    pub password: Option<String>,
    /// Remote engines: a query waits this long for the database, then the request is
    /// answered 503 with `Retry-After` (the connection is re-established by itself).
    #[serde(default = "default_query_timeout_secs")]
    pub query_timeout_secs: u64,
    /// Embedded SurrealKV: its block cache, in MiB. Left to itself SurrealKV takes half the
    /// machine's memory less 1 GiB; a CMDB shares its host, so the server sets this.
    #[serde(default = "default_cache_mib")]
    pub cache_mib: u64,
    /// Embedded SurrealKV: the size of one memtable, in MiB (one is filled while up to two
    /// more are written out, so up to three times this; a start after a crash replays up to
    /// one from the write-ahead log).
    #[serde(default = "default_memtable_mib")]
    pub memtable_mib: u64,
}

fn default_query_timeout_secs() -> u64 {
    30
}

fn default_cache_mib() -> u64 {
    512
}

fn default_memtable_mib() -> u64 {
    256
}

/// The range `storage.cache_mib` accepts (16 MiB to 1 TiB).
pub const CACHE_MIB: std::ops::RangeInclusive<u64> = 16..=1 << 20;
/// The range `storage.memtable_mib` accepts, SurrealKV's own smallest and largest defaults
/// (128 MiB, 4 GiB). A transaction must fit one memtable (an import of
/// `limits.max_list_items` items is one). Any size keeps a committed transaction across a
/// crash only with the patched SurrealKV the workspace builds (`vendor/README.md`).
pub const MEMTABLE_MIB: std::ops::RangeInclusive<u64> = 128..=4096;

fn default_auth_level() -> String {
    "root".into()
}

/// The values `storage.auth_level` accepts.
pub const AUTH_LEVELS: [&str; 3] = ["root", "namespace", "database"];

impl std::fmt::Debug for StorageConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageConfig")
            .field("engine", &self.engine)
            .field("namespace", &self.namespace)
            .field("database", &self.database)
            .field("username", &self.username)
            .field("auth_level", &self.auth_level)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("query_timeout_secs", &self.query_timeout_secs)
            .field("cache_mib", &self.cache_mib)
            .field("memtable_mib", &self.memtable_mib)
            .finish()
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            engine: default_engine(),
            namespace: default_ns(),
            database: default_ns(),
            username: None,
            auth_level: default_auth_level(),
            password: None,
            query_timeout_secs: default_query_timeout_secs(),
            cache_mib: default_cache_mib(),
            memtable_mib: default_memtable_mib(),
        }
    }
}

/// The most `limits.max_concurrent_report_writes` accepts.
pub const MAX_REPORT_WRITERS: usize = 4096;

/// Limits on what clients may send, and on how many of their reports are written at once.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Largest request body after decompression, in bytes.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// Largest request body as sent, before decompression, in bytes. Bounds what a
    /// compressed body may make the server read for a small output (zstd skippable frames,
    /// padding); an uncompressed body meets the lower of the two limits.
    #[serde(default = "default_max_body_bytes")]
    pub max_raw_body_bytes: usize,
    /// Most packages one report may list.
    #[serde(default = "default_max_packages")]
    pub max_packages: usize,
    /// Most elements any other list section may have (a network device's interfaces,
    /// components, addresses, neighbours too).
    #[serde(default = "default_max_list_items")]
    pub max_list_items: usize,
    /// Most forwarding (MAC → port) or ARP entries one device report may list. A core
    /// switch's FDB can hold 100,000 MACs (about 9 MB of JSON, within `max_body_bytes`).
    #[serde(default = "default_max_device_table_items")]
    pub max_device_table_items: usize,
    /// Most host CIs one agent may create (normally one: its own host; more when a strong
    /// key contradicts its CI, as after a motherboard swap). Past it, its reports are refused.
    #[serde(default = "default_max_hosts_per_agent")]
    pub max_hosts_per_agent: u64,
    /// Most network-device CIs one agent may create (polls of devices it is assigned to go
    /// on). Past it, polls of new devices are refused.
    #[serde(default = "default_max_devices_per_agent")]
    pub max_devices_per_agent: u64,
    /// Most host and device reports that write at once; the others wait their turn in
    /// arrival order (heartbeats that change nothing do not wait). 0: twice the CPU cores.
    /// Unbounded, a burst of reports shares the cores among all of them, so each takes as
    /// long as the whole burst and the costly ones (package upgrades) longest of all.
    #[serde(default)]
    pub max_concurrent_report_writes: usize,
}

impl Limits {
    /// `max_concurrent_report_writes`, with 0 resolved to twice the CPU cores.
    pub fn report_writers(&self) -> usize {
        match self.max_concurrent_report_writes {
            0 => 2 * std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: default_max_body_bytes(),
            max_raw_body_bytes: default_max_body_bytes(),
            max_packages: default_max_packages(),
            max_list_items: default_max_list_items(),
            max_device_table_items: default_max_device_table_items(),
            max_hosts_per_agent: default_max_hosts_per_agent(),
            max_devices_per_agent: default_max_devices_per_agent(),
            max_concurrent_report_writes: 0,
        }
    }
}

/// CI lifecycle timers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lifecycle {
    /// A CI not seen for this long is listed as stale.
    #[serde(default = "default_stale_after_secs")]
    pub stale_after_secs: u64,
    /// How often agent and CI "last seen" times are written to storage. Heartbeats are
    /// coalesced in memory in between, so thousands of unchanged reports per second cost no
    /// writes; at most this much last-seen precision is lost if the server crashes.
    #[serde(default = "default_last_seen_flush_secs")]
    pub last_seen_flush_secs: u64,
    /// An agent's record and its CI's have their "last seen" time written again only once
    /// it has moved this far (the API shows the latest time regardless: agent list, CI list,
    /// CI pages). A CI record holds every package of its host: rewriting it for each metric
    /// batch was most of a fleet's writes. 0: every flush. A crash loses at most this much
    /// of a last-seen time; a stop loses none.
    #[serde(default = "default_last_seen_write_secs")]
    pub last_seen_write_secs: u64,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self {
            stale_after_secs: default_stale_after_secs(),
            last_seen_flush_secs: default_last_seen_flush_secs(),
            last_seen_write_secs: default_last_seen_write_secs(),
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8443))
}
fn default_true() -> bool {
    true
}
fn default_cert() -> PathBuf {
    PathBuf::from("tls/server.pem")
}
fn default_key() -> PathBuf {
    PathBuf::from("tls/server.key")
}
fn default_engine() -> String {
    "surrealkv".into()
}
fn default_ns() -> String {
    "cmdb".into()
}
fn default_max_body_bytes() -> usize {
    16 * 1024 * 1024
}
fn default_max_packages() -> usize {
    50_000
}
fn default_max_list_items() -> usize {
    20_000
}
fn default_max_device_table_items() -> usize {
    200_000
}
fn default_max_hosts_per_agent() -> u64 {
    10
}
fn default_max_devices_per_agent() -> u64 {
    20_000
}
fn default_max_services_per_host() -> usize {
    500
}
fn default_stale_after_secs() -> u64 {
    7 * 24 * 3600
}
fn default_last_seen_flush_secs() -> u64 {
    10
}
fn default_last_seen_write_secs() -> u64 {
    300
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
    Invalid { field: &'static str, reason: String },
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and validates config text; `path` is for messages and relative `data_dir`.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let mut cfg: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        if cfg.data_dir.is_relative()
            && let Some(dir) = path.parent()
        {
            cfg.data_dir = dir.join(&cfg.data_dir);
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks values serde cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let name = &self.cluster.instance;
        if name.len() > 100
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
        {
            return Err(ConfigError::Invalid {
                field: "cluster.instance",
                reason: format!(
                    "expected at most 100 letters, digits, '-', '_', '.' or ':', not {name:?}"
                ),
            });
        }
        if !self.tls.enabled && !self.listen.ip().is_loopback() {
            return Err(ConfigError::Invalid {
                field: "tls.enabled",
                reason: format!(
                    "plain HTTP is allowed only on a loopback address, not {}",
                    self.listen
                ),
            });
        }
        let e = self.storage.engine.as_str();
        if !(e == "surrealkv" || e == "memory" || e.starts_with("ws://") || e.starts_with("wss://"))
        {
            return Err(ConfigError::Invalid {
                field: "storage.engine",
                reason: format!(
                    "expected \"surrealkv\", \"memory\", \"ws://HOST:PORT\" or \"wss://HOST:PORT\", got {e:?}"
                ),
            });
        }
        // Unencrypted only to this machine: the database password and every CI would cross
        // the network in clear text.
        if let Some(rest) = e.strip_prefix("ws://") {
            let host = rest
                .split('/')
                .next()
                .unwrap_or("")
                .rsplit_once(':')
                .map_or(rest, |(h, _)| h)
                .trim_start_matches('[')
                .trim_end_matches(']');
            let loopback = host == "localhost"
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if !loopback {
                return Err(ConfigError::Invalid {
                    field: "storage.engine",
                    reason: format!(
                        "ws:// sends the database password and data in clear text: use wss://{rest} (ws:// only to a loopback address)"
                    ),
                });
            }
        }
        for (field, value, range) in [
            ("storage.cache_mib", self.storage.cache_mib, CACHE_MIB),
            (
                "storage.memtable_mib",
                self.storage.memtable_mib,
                MEMTABLE_MIB,
            ),
        ] {
            if !range.contains(&value) {
                return Err(ConfigError::Invalid {
                    field,
                    reason: format!(
                        "expected {} to {} (MiB), got {value}",
                        range.start(),
                        range.end()
                    ),
                });
            }
        }
        if !AUTH_LEVELS.contains(&self.storage.auth_level.as_str()) {
            return Err(ConfigError::Invalid {
                field: "storage.auth_level",
                reason: format!(
                    "expected \"root\", \"namespace\" or \"database\" (where the SurrealDB user is defined), got {:?}",
                    self.storage.auth_level
                ),
            });
        }
        for (field, v) in [
            ("storage.namespace", &self.storage.namespace),
            ("storage.database", &self.storage.database),
        ] {
            if v.is_empty() || !v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(ConfigError::Invalid {
                    field,
                    reason: format!("must be letters, digits and underscores, got {v:?}"),
                });
            }
        }
        for (field, v) in [
            ("limits.max_body_bytes", self.limits.max_body_bytes),
            ("limits.max_raw_body_bytes", self.limits.max_raw_body_bytes),
        ] {
            if v < 1024 {
                return Err(ConfigError::Invalid {
                    field,
                    reason: "must be at least 1024".into(),
                });
            }
        }
        let r = &self.relationships;
        if r.refresh_secs == 0 || r.refresh_secs.saturating_mul(2) > r.stale_after_secs {
            return Err(ConfigError::Invalid {
                field: "relationships.refresh_secs",
                reason: format!(
                    "must be at least 1 and at most half of relationships.stale_after_secs ({})",
                    r.stale_after_secs
                ),
            });
        }
        if r.sweep_secs == 0 || r.sweep_secs > 86_400 {
            return Err(ConfigError::Invalid {
                field: "relationships.sweep_secs",
                reason: "must be between 1 and 86400".into(),
            });
        }
        let h = &self.http;
        for (field, v) in [
            ("http.header_read_timeout_secs", h.header_read_timeout_secs),
            ("http.body_timeout_secs", h.body_timeout_secs),
            ("http.request_timeout_secs", h.request_timeout_secs),
            (
                "http.max_concurrent_requests",
                h.max_concurrent_requests as u64,
            ),
            ("http.rate_per_credential", u64::from(h.rate_per_credential)),
            ("http.rate_burst", u64::from(h.rate_burst)),
        ] {
            if v == 0 || v > 1_000_000 {
                return Err(ConfigError::Invalid {
                    field,
                    reason: "must be between 1 and 1000000".into(),
                });
            }
        }
        for (field, v) in [
            (
                "limits.max_hosts_per_agent",
                self.limits.max_hosts_per_agent,
            ),
            (
                "limits.max_devices_per_agent",
                self.limits.max_devices_per_agent,
            ),
            (
                "relationships.max_services_per_host",
                r.max_services_per_host as u64,
            ),
        ] {
            if v == 0 {
                return Err(ConfigError::Invalid {
                    field,
                    reason: "must be at least 1".into(),
                });
            }
        }
        if self.limits.max_concurrent_report_writes > MAX_REPORT_WRITERS {
            return Err(ConfigError::Invalid {
                field: "limits.max_concurrent_report_writes",
                reason: format!(
                    "must be at most {MAX_REPORT_WRITERS} (0: twice the CPU cores), got {}",
                    self.limits.max_concurrent_report_writes
                ),
            });
        }
        if r.max_macs_per_access_port == 0 {
            return Err(ConfigError::Invalid {
                field: "relationships.max_macs_per_access_port",
                reason: "must be at least 1".into(),
            });
        }
        if r.max_impact_items == 0 {
            return Err(ConfigError::Invalid {
                field: "relationships.max_impact_items",
                reason: "must be at least 1".into(),
            });
        }
        if let Some(c) = r.core.iter().find(|c| c.trim().is_empty() || c.len() > 255) {
            return Err(ConfigError::Invalid {
                field: "relationships.core",
                reason: format!(
                    "entries must be CI keys or names of 1 to 255 characters, got {c:?}"
                ),
            });
        }
        let m = &self.metrics;
        for (field, v, lo, hi) in [
            ("metrics.compact_secs", m.compact_secs, 1, 86_400),
            (
                "metrics.compact_grace_secs",
                m.compact_grace_secs,
                0,
                86_400,
            ),
            (
                "metrics.raw_retention_days",
                u64::from(m.raw_retention_days),
                2,
                3650,
            ),
            (
                "metrics.rollup_retention_days",
                u64::from(m.rollup_retention_days),
                2,
                36_500,
            ),
            (
                "availability.missed_intervals",
                u64::from(self.availability.missed_intervals),
                1,
                1000,
            ),
            (
                "availability.alive_secs",
                self.availability.alive_secs,
                1,
                3600,
            ),
            (
                "availability.retire_after_secs",
                self.availability.retire_after_secs,
                1,
                u64::MAX,
            ),
            (
                "capacity.window_days",
                u64::from(self.capacity.window_days),
                2,
                3650,
            ),
            (
                "capacity.min_days",
                u64::from(self.capacity.min_days),
                2,
                3650,
            ),
            ("auth.cache_ttl_secs", self.auth.cache_ttl_secs, 1, 3600),
            ("cluster.follow_ms", self.cluster.follow_ms, 50, 60_000),
            ("cluster.lease_secs", self.cluster.lease_secs, 5, 86_400),
            (
                "web.session_ttl_secs",
                self.web.session_ttl_secs,
                60,
                30 * 86_400,
            ),
            (
                "web.sign_in_per_minute",
                u64::from(self.web.sign_in_per_minute),
                1,
                100_000,
            ),
            (
                "auth.enroll_per_minute",
                u64::from(self.auth.enroll_per_minute),
                1,
                100_000,
            ),
            (
                "capacity.horizon_days",
                u64::from(self.capacity.horizon_days),
                1,
                36_500,
            ),
        ] {
            if v < lo || v > hi {
                return Err(ConfigError::Invalid {
                    field,
                    reason: format!("must be between {lo} and {hi}, got {v}"),
                });
            }
        }
        if m.rollup_retention_days < m.raw_retention_days {
            return Err(ConfigError::Invalid {
                field: "metrics.rollup_retention_days",
                reason: format!(
                    "must be at least metrics.raw_retention_days ({})",
                    m.raw_retention_days
                ),
            });
        }
        if self.availability.retire_after_secs <= self.lifecycle.stale_after_secs {
            return Err(ConfigError::Invalid {
                field: "availability.retire_after_secs",
                reason: format!(
                    "must be longer than lifecycle.stale_after_secs ({})",
                    self.lifecycle.stale_after_secs
                ),
            });
        }
        let c = &self.capacity;
        let pct_ok = |v: f64| v.is_finite() && v > 0.0 && v <= 100.0;
        let mut all = vec![(
            "capacity".to_string(),
            Some(c.warning_pct),
            Some(c.critical_pct),
        )];
        all.extend(
            c.class
                .iter()
                .map(|(k, t)| (format!("capacity.class.{k}"), t.warning_pct, t.critical_pct)),
        );
        all.extend(
            c.ci.iter()
                .map(|(k, t)| (format!("capacity.ci.{k}"), t.warning_pct, t.critical_pct)),
        );
        for (at, w, cr) in all {
            if let Some(bad) = [w, cr].into_iter().flatten().find(|v| !pct_ok(*v)) {
                return Err(ConfigError::Invalid {
                    field: "capacity",
                    reason: format!("{at}: thresholds must be percentages in (0, 100], got {bad}"),
                });
            }
        }
        if c.warning_pct > c.critical_pct {
            return Err(ConfigError::Invalid {
                field: "capacity.warning_pct",
                reason: format!("must not exceed capacity.critical_pct ({})", c.critical_pct),
            });
        }
        if self.lifecycle.last_seen_flush_secs == 0 || self.lifecycle.last_seen_flush_secs > 3600 {
            return Err(ConfigError::Invalid {
                field: "lifecycle.last_seen_flush_secs",
                reason: "must be between 1 and 3600".into(),
            });
        }
        // Half the stale threshold at most: a CI whose agent reports must never look stale.
        if self.lifecycle.last_seen_write_secs.saturating_mul(2) > self.lifecycle.stale_after_secs {
            return Err(ConfigError::Invalid {
                field: "lifecycle.last_seen_write_secs",
                reason: format!(
                    "must be at most half of lifecycle.stale_after_secs ({})",
                    self.lifecycle.stale_after_secs
                ),
            });
        }
        Ok(())
    }

    /// A path from the config, resolved against `data_dir` when relative.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_relative() {
            self.data_dir.join(p)
        } else {
            p.to_path_buf()
        }
    }

    /// The SurrealDB endpoint string for `surrealdb::engine::any::connect`.
    pub fn storage_endpoint(&self) -> String {
        match self.storage.engine.as_str() {
            "surrealkv" => format!("surrealkv://{}", self.data_dir.join("db").display()),
            "memory" => "memory".into(),
            remote => remote.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_packaged_example_config_parses() {
        let text = include_str!("../../packaging/server.toml");
        let cfg = Config::parse(text, Path::new("/etc/cmdb-server/server.toml"))
            .expect("packaging/server.toml must stay valid");
        assert_eq!(cfg.storage.engine, "surrealkv");
    }

    #[test]
    fn unencrypted_remote_storage_is_refused_off_loopback() {
        let parse = |engine: &str| {
            Config::parse(
                &format!("data_dir = \"/tmp/x\"\n[storage]\nengine = \"{engine}\"\n"),
                Path::new("x.toml"),
            )
        };
        for ok in [
            "ws://127.0.0.1:8000",
            "ws://localhost:8000",
            "ws://[::1]:8000",
            "wss://db.example.net:8000",
        ] {
            assert!(parse(ok).is_ok(), "{ok}: {:?}", parse(ok).err());
        }
        let err = parse("ws://10.0.0.5:8000").expect_err("clear text off the machine");
        assert!(err.to_string().contains("wss://10.0.0.5:8000"), "{err}");
    }

    #[test]
    fn plain_http_off_loopback_is_rejected_naming_the_field() {
        let err = Config::parse(
            "listen = \"0.0.0.0:8080\"\ndata_dir = \"/tmp/x\"\n[tls]\nenabled = false\n",
            Path::new("x.toml"),
        )
        .expect_err("must be rejected");
        assert!(err.to_string().starts_with("tls.enabled:"), "{err}");
    }

    #[test]
    fn unknown_fields_and_bad_engines_are_rejected() {
        let err = Config::parse("data_dir = \"/x\"\nlisten_port = 3\n", Path::new("x.toml"))
            .expect_err("unknown field");
        assert!(err.to_string().contains("listen_port"), "{err}");
        let err = Config::parse(
            "data_dir = \"/x\"\n[storage]\nengine = \"rocks\"\n",
            Path::new("x.toml"),
        )
        .expect_err("bad engine");
        assert!(err.to_string().starts_with("storage.engine:"), "{err}");
    }

    #[test]
    fn the_storage_auth_level_defaults_to_root_and_a_bad_one_is_rejected_naming_the_field() {
        let parse = |extra: &str| {
            Config::parse(
                &format!("data_dir = \"/x\"\n[storage]\n{extra}"),
                Path::new("x.toml"),
            )
        };
        assert_eq!(parse("").expect("default").storage.auth_level, "root");
        for ok in AUTH_LEVELS {
            let cfg = parse(&format!("auth_level = \"{ok}\"\n")).expect(ok);
            assert_eq!(cfg.storage.auth_level, ok);
        }
        let err = parse("auth_level = \"scope\"\n").expect_err("unknown level");
        assert!(err.to_string().starts_with("storage.auth_level:"), "{err}");
        assert!(err.to_string().contains("\"database\""), "{err}");
    }

    #[test]
    fn concurrent_report_writes_default_to_twice_the_cores_and_are_bounded() {
        let parse = |extra: &str| {
            Config::parse(
                &format!("data_dir = \"/x\"\n[limits]\n{extra}"),
                Path::new("x.toml"),
            )
        };
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        assert_eq!(
            parse("").expect("default").limits.report_writers(),
            2 * cores
        );
        let cfg = parse("max_concurrent_report_writes = 3\n").expect("set");
        assert_eq!(cfg.limits.report_writers(), 3);
        let err = parse("max_concurrent_report_writes = 5000\n").expect_err("too many");
        assert!(
            err.to_string()
                .starts_with("limits.max_concurrent_report_writes:"),
            "{err}"
        );
        let err = parse("max_concurrent_report_writes = -1\n").expect_err("negative");
        assert!(
            err.to_string().contains("max_concurrent_report_writes"),
            "{err}"
        );
    }

    #[test]
    fn the_last_seen_write_interval_defaults_to_five_minutes_and_stays_below_stale() {
        let parse = |extra: &str| {
            Config::parse(
                &format!("data_dir = \"/x\"\n[lifecycle]\n{extra}"),
                Path::new("x.toml"),
            )
        };
        assert_eq!(
            parse("").expect("default").lifecycle.last_seen_write_secs,
            300
        );
        let cfg = parse("last_seen_write_secs = 0\n").expect("every flush");
        assert_eq!(cfg.lifecycle.last_seen_write_secs, 0);
        let err =
            parse("stale_after_secs = 600\nlast_seen_write_secs = 301\n").expect_err("too long");
        assert!(
            err.to_string()
                .starts_with("lifecycle.last_seen_write_secs:"),
            "{err}"
        );
        assert!(err.to_string().contains("(600)"), "{err}");
    }

    #[test]
    fn the_embedded_cache_and_memtable_sizes_default_and_are_bounded() {
        let parse = |extra: &str| {
            Config::parse(
                &format!("data_dir = \"/x\"\n[storage]\n{extra}"),
                Path::new("x.toml"),
            )
        };
        let cfg = parse("").expect("default");
        assert_eq!(
            (cfg.storage.cache_mib, cfg.storage.memtable_mib),
            (512, 256)
        );
        let cfg = parse("cache_mib = 64\nmemtable_mib = 2048\n").expect("set");
        assert_eq!(
            (cfg.storage.cache_mib, cfg.storage.memtable_mib),
            (64, 2048)
        );
        for (extra, field) in [
            ("cache_mib = 8\n", "storage.cache_mib:"),
            ("memtable_mib = 64\n", "storage.memtable_mib:"),
            ("memtable_mib = 5000\n", "storage.memtable_mib:"),
        ] {
            let err = parse(extra).expect_err(extra);
            assert!(err.to_string().starts_with(field), "{err}");
        }
    }
}
