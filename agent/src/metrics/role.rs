//! The metrics role of the daemon: a tick every `[metrics] interval_secs`, on a schedule of
//! its own so inventories, device polls and deliveries never delay the host's heartbeat.
//!
//! A tick samples the host, runs the probes that are due, and spools one metric batch with
//! the tick, the host's series, the probe results gathered since the last tick (probes may
//! run more often than ticks) and the device series the SNMP polls gathered; then it
//! delivers the pending metric batches, stopping when the next tick comes due. A tick that
//! comes late (the machine was suspended) is taken once, not once per missed interval.
//!
//! The role has its own [`Spool`] handle on the agent's spool directory: it writes only
//! `metrics` files, and the inventory loop leaves those to it.

use std::path::Path;
use std::time::Duration;

use cmdb_shared::metrics::ProbeResult;
use tokio::time::Instant;

use super::Sampler;
use super::batch::{self, Resume};
use crate::collect::Context;
use crate::config::Config;
use crate::daemon::{AgentError, DeliveryOutcome};
use crate::probe::Probes;
use crate::snmp::metrics::{SharedFeed, lock};
use crate::spool::{Kind, Spool, SpoolError};
use crate::state::Credential;

/// What a tick spooled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spooled {
    pub batch_id: String,
    /// Compressed bytes.
    pub bytes: usize,
    pub series: usize,
    pub probes: usize,
    pub devices: usize,
}

/// Host metrics, probes and device series, batched per tick.
#[derive(Debug)]
pub struct MetricsRole {
    ctx: Context,
    interval_secs: u64,
    sampler: Sampler,
    probes: Probes,
    devices: Option<SharedFeed>,
    spool: Spool,
    /// Probe results since the last tick.
    pending_probes: Vec<ProbeResult>,
    resume: Resume,
}

impl MetricsRole {
    /// The role of a validated configuration, spooling into `spool_dir`. Probes that cannot
    /// run here are logged as errors (and listed by [`MetricsRole::problems`]).
    pub fn new(
        cfg: &Config,
        spool_dir: &Path,
        devices: Option<SharedFeed>,
    ) -> Result<Self, SpoolError> {
        let spool = Spool::open(
            spool_dir,
            cfg.delivery.spool_max_bytes,
            cfg.delivery.spool_max_reports,
        )?;
        let probes = Probes::new(cfg);
        for p in probes.problems() {
            tracing::error!("{p}");
        }
        Ok(Self {
            ctx: Context::new(&cfg.root),
            interval_secs: cfg.metrics.interval_secs,
            sampler: Sampler::new(),
            probes,
            devices,
            spool,
            pending_probes: Vec::new(),
            resume: Resume::default(),
        })
    }

    /// Why configured probes cannot run on this host.
    pub fn problems(&self) -> &[String] {
        self.probes.problems()
    }

    /// One tick: sample, run the due probes (all of them when `all_probes`), spool.
    pub async fn tick(&mut self, all_probes: bool) -> Result<Spooled, AgentError> {
        let sample = self.sampler.sample(&self.ctx);
        if all_probes || self.probes.next_due().is_some_and(|d| d <= Instant::now()) {
            let results = self.probes.run_due(Instant::now(), all_probes).await;
            self.pending_probes.extend(results);
        }
        let probes = std::mem::take(&mut self.pending_probes);
        let devices = self
            .devices
            .as_ref()
            .map(|f| lock(f).take_pending())
            .unwrap_or_default();
        let id = self.spool.next_id(Kind::Metrics);
        let b = batch::tick_batch(id.clone(), self.interval_secs, sample, probes, devices);
        let (series, probes, devices) = (b.series.len(), b.probes.len(), b.devices.len());
        let json = serde_json::to_vec(&b).map_err(|e| AgentError::Encode(e.into()))?;
        let compressed = zstd::bulk::compress(&json, 3).map_err(AgentError::Encode)?;
        let dropped = self.spool.push(&id, &compressed)?;
        if !dropped.is_empty() {
            tracing::warn!(
                count = dropped.len(),
                "spool full: oldest undelivered metric batches dropped"
            );
        }
        tracing::debug!(batch = %id, bytes = compressed.len(), series, probes, devices, "metric batch spooled");
        Ok(Spooled {
            batch_id: id,
            bytes: compressed.len(),
            series,
            probes,
            devices,
        })
    }

    /// Delivers the pending metric batches (merged) until one fails or `deadline`.
    pub async fn deliver(
        &mut self,
        http: &reqwest::Client,
        cred: &Credential,
        deadline: Option<Instant>,
    ) -> Result<DeliveryOutcome, AgentError> {
        batch::deliver(
            &self.spool,
            http,
            cred,
            deadline.map(Instant::into_std),
            &mut self.resume,
        )
        .await
    }

    /// The metrics loop: ticks and probe rounds, forever.
    pub async fn run(&mut self, http: &reqwest::Client, cred: &Credential) {
        let interval = Duration::from_secs(self.interval_secs);
        let mut next_tick = Instant::now();
        loop {
            let now = Instant::now();
            if now >= next_tick {
                // Keep the phase; skip the ticks a stall made us miss.
                while next_tick <= now {
                    next_tick += interval;
                }
                match self.tick(false).await {
                    Ok(s) => tracing::debug!(batch = %s.batch_id, "metrics tick"),
                    Err(e) => {
                        tracing::error!(error = %crate::client::error_chain(&e), "metrics tick failed")
                    }
                }
                // A slow server must not hold up the next tick: the attempt is abandoned then
                // (and its group resent under the same id).
                tokio::select! {
                    r = self.deliver(http, cred, Some(next_tick)) => {
                        if let Err(e) = r {
                            tracing::error!(error = %crate::client::error_chain(&e), "metrics delivery failed");
                        }
                    }
                    _ = tokio::time::sleep_until(next_tick) => {
                        tracing::warn!("metrics delivery still running when the next tick came; resumed after it");
                    }
                }
            } else if self.probes.next_due().is_some_and(|d| d <= now) {
                let results = self.probes.run_due(now, false).await;
                self.pending_probes.extend(results);
            }
            let wake = self
                .probes
                .next_due()
                .map_or(next_tick, |d| d.min(next_tick));
            tokio::time::sleep_until(wake).await;
        }
    }
}
