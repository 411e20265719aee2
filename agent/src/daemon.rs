//! The agent's cycle: collect → build a full or delta report → spool (durably) → deliver
//! everything pending, oldest first → delete what the server acknowledged.
//!
//! A delta carries the sections whose stable hash differs from the newest spooled report's,
//! plus the hashes of all sections, so the server can check the baseline and ask for a full
//! inventory (409) when the two pictures have drifted apart.
//!
//! The daemon ([`Agent::run`]) runs three loops side by side on its one thread: this cycle
//! with the devices' inventory polls, the metrics role's ticks ([`crate::metrics::role`]),
//! and the devices' metrics polls ([`crate::snmp::metrics`]). Each waits on its own
//! schedule, so a long device sweep or a slow server never delays a heartbeat. The metrics
//! loop delivers the metric batches; this one delivers everything else.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cmdb_shared::hash::{delta, inventory_hashes};
use cmdb_shared::{CollectorError, Inventory, Report, ReportKind, SCHEMA_VERSION};
use rand::Rng;

use crate::client::{self, Delivery};
use crate::collect::{self, Context};
use crate::config::Config;
use crate::metrics::batch::{self, Resume};
use crate::metrics::role::{MetricsRole, Spooled};
use crate::snmp::metrics::{DeviceFeed, SharedFeed, lock};
use crate::snmp::poller::Poller;
use crate::spool::{Kind, Spool, SpoolError};
use crate::state::{Credential, DeliveryState, StateDir, StateError};

/// Agent version on the wire.
pub const AGENT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Runs every enabled collector. A failing collector drops its own section only.
pub fn collect_inventory(cfg: &Config) -> (Inventory, Vec<CollectorError>) {
    let ctx = Context::new(&cfg.root);
    let mut inv = Inventory::default();
    let mut errors = Vec::new();
    for c in collect::all() {
        if cfg.collectors.disabled.iter().any(|d| d == c.name()) {
            continue;
        }
        if let Err(e) = c.collect(&ctx, &mut inv) {
            let msg = client::error_chain(&e);
            tracing::warn!(collector = c.name(), error = %msg, "collector failed, section skipped");
            errors.push(CollectorError {
                collector: c.name().to_string(),
                error: msg,
            });
        }
    }
    (inv, errors)
}

/// Exponential backoff with full jitter: uniform in [1 s, min(max, 2^attempt s)].
pub fn backoff(attempt: u32, max: Duration, rng: &mut impl Rng) -> Duration {
    let cap = Duration::from_secs(1u64 << attempt.min(20)).min(max);
    let ms = rng.random_range(1000..=cap.as_millis().max(1000) as u64);
    Duration::from_millis(ms)
}

/// Agent errors that stop a cycle.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Spool(#[from] SpoolError),
    #[error("TLS")]
    Tls(#[from] crate::tls::TlsError),
    #[error(transparent)]
    Client(#[from] client::ClientError),
    #[error("cannot encode the report")]
    Encode(#[source] std::io::Error),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(
        "the credential's server {0} is https but the state directory holds no pinned CA: enroll again with --ca-cert or --ca-fingerprint"
    )]
    NoPinnedCa(String),
}

/// What delivering the spool achieved.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct DeliveryOutcome {
    pub delivered: usize,
    pub pending: usize,
    /// The server asked for a full inventory.
    pub resync: bool,
    /// Why delivery stopped early, if it did.
    pub stopped: Option<String>,
    /// The server asked to wait this long before the next attempt (`Retry-After`).
    pub retry_after: Option<Duration>,
}

/// A configured, enrolled agent.
#[derive(Debug)]
pub struct Agent {
    cfg: Config,
    state: StateDir,
    cred: Credential,
    spool: Spool,
    http: reqwest::Client,
    /// The SNMP poller role, when the configuration names devices or ranges.
    poller: Option<Poller>,
    /// The metrics role, unless `[metrics] enabled = false` (taken out while `run` runs it).
    metrics: Option<MetricsRole>,
    /// Device samples and series, shared by device polls and the metrics role (with metrics
    /// on and devices to poll).
    feed: Option<SharedFeed>,
    /// Where delivering metric batches from `cycle` got to.
    metrics_resume: Resume,
    /// While `run` runs the metrics loop, which delivers the metric batches itself.
    metrics_loop_running: bool,
}

/// What a round of device polls achieved.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct DevicesOutcome {
    pub swept: usize,
    pub spooled: usize,
    pub failed: usize,
}

impl Agent {
    /// Loads the credential and opens the spool.
    pub fn new(cfg: Config) -> Result<Self, AgentError> {
        let state = StateDir::new(&cfg.state_dir);
        let cred = state.credential()?;
        // An https server is trusted only through the CA pinned at enrollment; no system
        // trust store is a fallback.
        let tls = match state.ca_pem()? {
            Some(pem) => Some(crate::tls::pinned_ca(&pem)?),
            None if cred.server.starts_with("https://") => {
                return Err(AgentError::NoPinnedCa(cred.server.clone()));
            }
            None => None,
        };
        let http = client::build(tls, Duration::from_secs(cfg.delivery.timeout_secs))?;
        let spool = Spool::open(
            &state.spool_dir(),
            cfg.delivery.spool_max_bytes,
            cfg.delivery.spool_max_reports,
        )?;
        let poller = Poller::new(&cfg.snmp, state.dir().join("snmp-discovered.json"))?;
        let feed = match &poller {
            Some(p) if cfg.metrics.enabled => {
                let mut f = DeviceFeed::new(Duration::from_secs(cfg.snmp.metrics_interval_secs()));
                f.set_targets(p.targets(), tokio::time::Instant::now());
                Some(Arc::new(Mutex::new(f)))
            }
            _ => None,
        };
        let metrics = if cfg.metrics.enabled {
            Some(MetricsRole::new(&cfg, &state.spool_dir(), feed.clone())?)
        } else {
            None
        };
        Ok(Self {
            cfg,
            state,
            cred,
            spool,
            http,
            poller,
            metrics,
            feed,
            metrics_resume: Resume::default(),
            metrics_loop_running: false,
        })
    }

    /// One metrics tick now (`run --once`): the host's sample, every probe, the device series
    /// of the polls so far, spooled as one batch. `None` with metrics off.
    pub async fn spool_metrics(&mut self) -> Result<Option<Spooled>, AgentError> {
        match self.metrics.as_mut() {
            Some(m) => m.tick(true).await.map(Some),
            None => Ok(None),
        }
    }

    /// Sweeps the discovery ranges and polls the devices that are due (all of them when
    /// `all`), spooling one report per device that answered.
    pub async fn poll_devices(&mut self, all: bool) -> Result<DevicesOutcome, AgentError> {
        let Some(poller) = self.poller.as_mut() else {
            return Ok(DevicesOutcome::default());
        };
        let round = poller.round(all).await;
        if let Some(f) = &self.feed {
            // Sweeps change the targets; every poll is a sample for the devices' metrics.
            let now = tokio::time::Instant::now();
            let mut f = lock(f);
            f.set_targets(poller.targets(), now);
            for (target, result, _) in &round.polled {
                f.record_inventory(target, result.as_ref().map(|(i, m)| (i, m)), now);
            }
        }
        self.spool_devices(round)
    }

    /// Spools one report per device that answered.
    fn spool_devices(
        &mut self,
        round: crate::snmp::poller::Round,
    ) -> Result<DevicesOutcome, AgentError> {
        let mut out = DevicesOutcome {
            swept: round.swept,
            ..Default::default()
        };
        for (target, result, _took) in round.polled {
            let (inventory, metrics) = match result {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(target = %target.address, credential = %target.credential, error = %e, "device poll failed");
                    out.failed += 1;
                    continue;
                }
            };
            let id = self.spool.next_id(Kind::Device);
            let report = cmdb_shared::device::DeviceReport {
                schema_version: SCHEMA_VERSION,
                report_id: id.clone(),
                agent_version: AGENT_VERSION.to_string(),
                collected_at: metrics.at.unwrap_or_else(chrono::Utc::now),
                source: target.source,
                inventory,
                metrics,
            };
            let bytes = self.spool_json(&id, &report)?;
            tracing::info!(report = %id, target = %target.address, bytes, "device report spooled");
            out.spooled += 1;
        }
        Ok(out)
    }

    /// Collects and spools one report: full when due (or when there is no baseline), else a
    /// delta against the newest spooled report.
    pub fn spool_report(&mut self, force_full: bool) -> Result<ReportKind, AgentError> {
        let mut st = self.state.delivery();
        let now = chrono::Utc::now();
        let full_due = now.timestamp() - st.last_full_unix >= self.full_interval().as_secs() as i64;
        let kind = if force_full || full_due || st.base_hashes.is_empty() {
            ReportKind::Full
        } else {
            ReportKind::Delta
        };
        let (inv, errors) = collect_inventory(&self.cfg);
        let hashes = inventory_hashes(&inv);
        let inventory = match kind {
            ReportKind::Full => inv,
            ReportKind::Delta => delta(inv, &hashes, &st.base_hashes),
        };
        let id = self.spool.next_id(match kind {
            ReportKind::Full => Kind::Full,
            ReportKind::Delta => Kind::Delta,
        });
        let report = Report {
            schema_version: SCHEMA_VERSION,
            report_id: id.clone(),
            kind,
            agent_version: AGENT_VERSION.to_string(),
            collected_at: now,
            section_hashes: hashes.clone(),
            inventory,
            errors,
        };
        // If the spool drops older reports to make room, the next delta's baseline is still
        // right (it is the newest spooled report); the server will ask for a full inventory
        // if the dropped ones leave a gap.
        let bytes = self.spool_json(&id, &report)?;
        st.base_hashes = hashes;
        if kind == ReportKind::Full {
            st.last_full_unix = now.timestamp();
        }
        self.state.save_delivery(&st)?;
        tracing::info!(report = %id, kind = ?kind, bytes, "report spooled");
        Ok(kind)
    }

    /// Encodes, compresses and spools a report durably; returns its compressed size.
    fn spool_json(
        &mut self,
        id: &str,
        report: &impl serde::Serialize,
    ) -> Result<usize, AgentError> {
        let json = serde_json::to_vec(report).map_err(|e| AgentError::Encode(e.into()))?;
        let compressed = zstd::bulk::compress(&json, 3).map_err(AgentError::Encode)?;
        let dropped = self.spool.push(id, &compressed)?;
        if !dropped.is_empty() {
            tracing::warn!(
                count = dropped.len(),
                "spool full: oldest undelivered reports dropped"
            );
        }
        Ok(compressed.len())
    }

    /// Full-inventory interval with ±10 % jitter.
    fn full_interval(&self) -> Duration {
        let base = self.cfg.delivery.full_interval_secs as f64;
        let j = rand::rng().random_range(-0.1..=0.1);
        Duration::from_secs_f64((base * (1.0 + j)).max(1.0))
    }

    /// Sends every spooled report, oldest first, until one cannot be delivered. Metric
    /// batches are not reports: see [`Agent::deliver_metrics`].
    pub async fn deliver_all(&mut self) -> Result<DeliveryOutcome, AgentError> {
        let mut out = DeliveryOutcome::default();
        let entries: Vec<_> = self
            .spool
            .entries()?
            .into_iter()
            .filter(|e| e.kind != Kind::Metrics)
            .collect();
        let total = entries.len();
        for (i, e) in entries.iter().enumerate() {
            let bytes = self.spool.read(e)?;
            let path = match e.kind {
                Kind::Device => client::DEVICE_REPORTS_PATH,
                Kind::Full | Kind::Delta => client::REPORTS_PATH,
                Kind::Metrics => cmdb_shared::metrics::METRICS_PATH,
            };
            let answer = client::deliver(
                &self.http,
                &self.cred.server,
                path,
                &self.cred.token,
                bytes,
                self.spool.dropped(),
            )
            .await;
            match answer {
                Delivery::Acked => {
                    self.spool.remove(e)?;
                    out.delivered += 1;
                }
                Delivery::Resync if e.kind == Kind::Device => {
                    // Device polls are complete: there is no baseline to resynchronise.
                    tracing::error!(report = %e.id, "server asked a device poll for a resync; moved to spool/rejected");
                    self.spool.reject(e)?;
                }
                Delivery::Resync => {
                    tracing::info!(report = %e.id, "server asked for a full inventory");
                    // Every pending delta was built on the baseline the server refused.
                    for later in &entries[i..] {
                        if later.kind == Kind::Delta {
                            self.spool.remove(later)?;
                        }
                    }
                    self.state.save_delivery(&DeliveryState::default())?;
                    out.resync = true;
                    out.pending = self.spool.entries()?.len();
                    return Ok(out);
                }
                Delivery::Rejected(why) => {
                    tracing::error!(report = %e.id, reason = %why, "server rejected a report; moved to spool/rejected");
                    self.spool.reject(e)?;
                    if e.kind != Kind::Device {
                        // The next report must not be a delta on top of a picture the server
                        // never took.
                        self.state.save_delivery(&DeliveryState::default())?;
                    }
                }
                Delivery::Unauthorized(why) => {
                    tracing::error!(reason = %why, "server refused the agent credential; re-enroll the agent");
                    out.pending = total - i;
                    out.stopped = Some(why);
                    return Ok(out);
                }
                Delivery::Retry(why) => {
                    tracing::warn!(report = %e.id, reason = %why, pending = total - i, "delivery failed; will retry");
                    out.pending = total - i;
                    out.stopped = Some(why);
                    return Ok(out);
                }
                Delivery::Later(why, after) => {
                    tracing::warn!(report = %e.id, reason = %why, pending = total - i, retry_after_secs = after.as_secs(), "server busy; will retry when it said");
                    out.pending = total - i;
                    out.stopped = Some(why);
                    out.retry_after = Some(after);
                    return Ok(out);
                }
            }
        }
        Ok(out)
    }

    /// Sends the pending metric batches (merged when several are pending), as the metrics
    /// loop does while the daemon runs.
    pub async fn deliver_metrics(&mut self) -> Result<DeliveryOutcome, AgentError> {
        batch::deliver(
            &self.spool,
            &self.http,
            &self.cred,
            None,
            &mut self.metrics_resume,
        )
        .await
    }

    /// One cycle: spool a report and deliver. A resync answer is handled at once with a full
    /// inventory. Unless the metrics loop runs (`run --once`, or metrics turned off with
    /// batches left in the spool), the metric batches are delivered too.
    pub async fn cycle(&mut self) -> Result<DeliveryOutcome, AgentError> {
        self.spool_report(false)?;
        let mut out = self.deliver_all().await?;
        if out.resync {
            self.spool_report(true)?;
            let again = self.deliver_all().await?;
            out.delivered += again.delivered;
            out.pending = again.pending;
            out.stopped = again.stopped;
            out.retry_after = again.retry_after;
        }
        if !self.metrics_loop_running {
            let m = self.deliver_metrics().await?;
            out.delivered += m.delivered;
            out.pending += m.pending;
            out.stopped = out.stopped.or(m.stopped);
            out.retry_after = out.retry_after.max(m.retry_after);
        }
        Ok(out)
    }

    /// The daemon: the inventory loop (a cycle every `interval_secs`, device polls, retries
    /// of pending reports with exponential backoff and jitter), the metrics loop and the
    /// devices' metrics polls, side by side. Returns when `shutdown` resolves.
    pub async fn run(
        &mut self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), AgentError> {
        tokio::pin!(shutdown);
        let mut metrics = self.metrics.take();
        self.metrics_loop_running = metrics.is_some();
        let http = self.http.clone();
        let cred = self.cred.clone();
        let device_metrics = match (&self.feed, &self.poller) {
            (Some(f), Some(p)) => Some(crate::snmp::metrics::run(
                f.clone(),
                p.options(),
                self.cfg.snmp.concurrency,
            )),
            _ => None,
        };
        {
            let metrics_loop = async {
                match metrics.as_mut() {
                    Some(m) => m.run(&http, &cred).await,
                    None => std::future::pending().await,
                }
            };
            let device_loop = async {
                match device_metrics {
                    Some(d) => d.await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = &mut shutdown => {}
                _ = self.inventory_loop() => {}
                _ = metrics_loop => {}
                _ = device_loop => {}
            }
        }
        self.metrics = metrics;
        self.metrics_loop_running = false;
        Ok(())
    }

    /// Cycles, device polls and report deliveries, forever.
    async fn inventory_loop(&mut self) {
        let interval = Duration::from_secs(self.cfg.delivery.interval_secs);
        let max_backoff = Duration::from_secs(self.cfg.delivery.backoff_max_secs);
        let mut next_cycle = tokio::time::Instant::now();
        let mut attempt = 0u32;
        loop {
            let now = tokio::time::Instant::now();
            if self.poller.as_ref().is_some_and(|p| p.next_due(now) <= now)
                && let Err(e) = self.poll_devices(false).await
            {
                tracing::error!(error = %client::error_chain(&e), "device polls failed");
            }
            let outcome = if now >= next_cycle {
                next_cycle = now + interval;
                self.cycle().await
            } else {
                self.deliver_all().await
            };
            // The next thing to do: a cycle, or a device poll or sweep.
            let next_work = match &self.poller {
                Some(p) => next_cycle.min(p.next_due(tokio::time::Instant::now())),
                None => next_cycle,
            };
            let wait = match outcome {
                Ok(o) if o.stopped.is_none() => {
                    attempt = 0;
                    next_work.saturating_duration_since(tokio::time::Instant::now())
                }
                Ok(o) => {
                    attempt = attempt.saturating_add(1);
                    backoff(attempt, max_backoff, &mut rand::rng())
                        .min(
                            next_work
                                .saturating_duration_since(tokio::time::Instant::now())
                                .max(Duration::from_secs(1)),
                        )
                        // A busy server's Retry-After comes first.
                        .max(o.retry_after.unwrap_or_default())
                }
                Err(e) => {
                    tracing::error!(error = %client::error_chain(&e), "agent cycle failed");
                    attempt = attempt.saturating_add(1);
                    backoff(attempt, max_backoff, &mut rand::rng())
                }
            };
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn an_https_credential_without_its_pinned_ca_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join("state");
        StateDir::new(&state)
            .save_enrollment(
                &Credential {
                    server: "https://cmdb.example.net:8443".into(),
                    agent_id: "a1".into(),
                    token: "t".into(),
                },
                None,
            )
            .expect("enrolled");
        let text = format!("state_dir = {state:?}\n");
        let cfg = Config::parse(&text, std::path::Path::new("agent.toml")).expect("config");
        let err = Agent::new(cfg).expect_err("no CA, no https");
        assert!(matches!(err, AgentError::NoPinnedCa(_)), "{err}");
        assert!(err.to_string().contains("--ca-cert"), "{err}");
    }

    #[tokio::test]
    async fn the_daemon_ticks_metrics_beside_its_inventory_cycle() {
        let (url, seen) = crate::testing::server(vec![]).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join("state");
        StateDir::new(&state)
            .save_enrollment(
                &Credential {
                    server: url,
                    agent_id: "a1".into(),
                    token: "t".into(),
                },
                None,
            )
            .expect("enrolled");
        let root = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/metrics/debian12-firecracker/t2"
        );
        let text =
            format!("state_dir = {state:?}\nroot = {root:?}\n[metrics]\ninterval_secs = 1\n");
        let cfg = Config::parse(&text, std::path::Path::new("agent.toml")).expect("config");
        let mut agent = Agent::new(cfg).expect("agent");
        agent
            .run(tokio::time::sleep(Duration::from_millis(2500)))
            .await
            .expect("run");
        let seen = seen.lock().expect("lock");
        let count = |path: &str| seen.iter().filter(|(p, _)| p == path).count();
        assert_eq!(count(client::REPORTS_PATH), 1, "one cycle in 2.5 s");
        let ticks = count(cmdb_shared::metrics::METRICS_PATH);
        assert!((2..=3).contains(&ticks), "a tick a second: {ticks}");
        let first: cmdb_shared::metrics::MetricBatch = serde_json::from_slice(
            &seen
                .iter()
                .find(|(p, _)| p == cmdb_shared::metrics::METRICS_PATH)
                .expect("a batch")
                .1,
        )
        .expect("batch");
        assert_eq!(first.interval_secs, 1);
        assert_eq!(first.ticks[0].uptime_secs, Some(9088));
        assert!(agent.metrics.is_some(), "the role is back after run");
        assert!(
            agent
                .spool
                .entries()
                .expect("entries")
                .iter()
                .all(|e| e.kind == Kind::Metrics),
            "reports delivered; at most a tick spooled as run stopped"
        );
    }

    #[test]
    fn backoff_grows_to_the_cap_and_stays_jittered() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let max = Duration::from_secs(300);
        for attempt in 0..30 {
            let d = backoff(attempt, max, &mut rng);
            assert!(d >= Duration::from_secs(1), "{d:?}");
            assert!(
                d <= Duration::from_secs(1u64 << attempt.min(20))
                    .min(max)
                    .max(Duration::from_secs(1))
            );
        }
        let samples: std::collections::BTreeSet<_> =
            (0..20).map(|_| backoff(10, max, &mut rng)).collect();
        assert!(samples.len() > 10, "jitter must spread retries");
    }
}
