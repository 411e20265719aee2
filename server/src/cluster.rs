//! The cluster service: several server instances on one remote database, behind a load
//! balancer.
//!
//! - Each instance follows the others' writes: it reads the database's change feed of what
//!   instances hold in memory (see `storage/cluster.rs`) every `cluster.follow_ms` and applies
//!   it: the graph index and the discovery directory take storage's state of the CIs and
//!   relationship triples named, the auth cache is emptied on any credential or agent change,
//!   the CI catalogue (the CI list's search) reads the changed CIs again, the ingest views
//!   of changed CIs and agents are dropped (the next report reads storage),
//!   and new packages join the catalogue.
//! - Background jobs that must run once per cluster (the stale-relationship sweep, metric
//!   compaction and retention) run on the instance holding the job's lease.
//!
//! On the embedded database, which one process opens, following is off and every lease is
//! this instance's.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::access::Access;
use crate::config::Config;
use crate::ingest::Ingestor;
use crate::relationships::Relationships;
use crate::storage::{ClusterEvent, StorageError, Store};
use crate::telemetry::Telemetry;

/// The cluster service.
#[derive(Debug)]
pub struct Cluster {
    store: Store,
    instance: String,
    lease_secs: u64,
    relationships: Arc<Relationships>,
    access: Arc<Access>,
    ingest: Arc<Ingestor>,
    telemetry: Arc<Telemetry>,
    /// Where the next read of the feed starts, and where it stood at the last re-read.
    cursor: tokio::sync::Mutex<FollowState>,
    /// The jobs whose lease this instance holds, and until when (by its own clock).
    held: Mutex<BTreeMap<String, Instant>>,
}

/// How far back the feed is read again, and how often: a transaction may become visible
/// after a later one whose change the follower has already passed (its versionstamp is
/// below the cursor); reading the last few seconds again, every few seconds, catches it.
/// Applying an event twice changes nothing.
const REREAD: Duration = Duration::from_secs(5);

#[derive(Debug)]
struct FollowState {
    at: u64,
    /// When the last re-read started, and the cursor then: the next re-read starts there.
    checkpoint: (Instant, u64),
}

/// This instance's name: `cluster.instance`, else the host name and the listening port.
pub fn instance_name(config: &Config) -> String {
    if !config.cluster.instance.is_empty() {
        return config.cluster.instance.clone();
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "cmdb-server".into());
    format!("{host}:{}", config.listen.port())
}

impl Cluster {
    /// The service, following the feed from `cursor` (taken before the in-memory structures
    /// were loaded; 0 on an embedded database, where nothing is followed).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Store,
        config: &Config,
        cursor: u64,
        relationships: Arc<Relationships>,
        access: Arc<Access>,
        ingest: Arc<Ingestor>,
        telemetry: Arc<Telemetry>,
    ) -> Self {
        Self {
            store,
            instance: instance_name(config),
            lease_secs: config.cluster.lease_secs,
            relationships,
            access,
            ingest,
            telemetry,
            cursor: tokio::sync::Mutex::new(FollowState {
                at: cursor,
                checkpoint: (Instant::now(), cursor),
            }),
            held: Mutex::default(),
        }
    }

    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// True when other instances may share the database.
    pub fn is_shared(&self) -> bool {
        self.store.is_remote()
    }

    /// Reads the feed to its end and applies what it names; returns how many changes.
    pub async fn follow(&self) -> Result<usize, StorageError> {
        if !self.is_shared() {
            return Ok(0);
        }
        let mut state = self.cursor.lock().await;
        let mut cursor = if state.checkpoint.0.elapsed() >= REREAD {
            let from = state.checkpoint.1;
            state.checkpoint = (Instant::now(), state.at);
            from
        } else {
            state.at
        };
        let mut applied = 0;
        loop {
            let page = self.store.cluster_events_since(cursor).await?;
            let n = page.events.len();
            self.apply(page.events).await?;
            applied += n;
            cursor = page.next;
            state.at = state.at.max(cursor);
            if let Some(at) = page
                .newest_at
                .as_deref()
                .and_then(|a| chrono::DateTime::parse_from_rfc3339(a).ok())
            {
                let lag = (chrono::Utc::now() - at.with_timezone(&chrono::Utc))
                    .num_microseconds()
                    .unwrap_or(0);
                self.telemetry
                    .cluster_lag_seconds
                    .observe(lag.max(0) as f64 / 1e6);
            }
            if !page.more {
                break;
            }
        }
        self.telemetry.cluster_events.inc_by(applied as u64);
        Ok(applied)
    }

    /// Applies one page of changes: CIs before relationships, so a new CI's attributes are
    /// in the index before its edges.
    async fn apply(&self, events: Vec<ClusterEvent>) -> Result<(), StorageError> {
        let mut cis = BTreeSet::new();
        let mut triples = BTreeSet::new();
        let mut agents = BTreeSet::new();
        let mut packages = BTreeSet::new();
        let mut credentials = false;
        for e in events {
            match e {
                ClusterEvent::Ci(k) => {
                    cis.insert(k);
                }
                ClusterEvent::Rel(f, t, k) => {
                    triples.insert((f, t, k));
                }
                ClusterEvent::Token(_) => credentials = true,
                ClusterEvent::Agent(a) => {
                    agents.insert(a);
                }
                ClusterEvent::Package(p) => {
                    packages.insert(p);
                }
            }
        }
        let cis: Vec<String> = cis.into_iter().collect();
        self.relationships.follow_cis(&cis).await?;
        self.store.catalogue_touch(&cis).await;
        self.ingest.forget_cis(&cis);
        let triples: Vec<(String, String, String)> = triples.into_iter().collect();
        self.relationships.follow_edges(&triples).await?;
        // Credentials live in the token table alone: an agent's new report or CI binding
        // changes what the ingest service holds for it, not who may authenticate. (Clearing
        // the auth cache on agent events emptied it on every instance at every full
        // inventory, so each report paid a token lookup in storage.)
        if credentials {
            self.access.forget_all();
        }
        for a in &agents {
            self.ingest.forget(a);
        }
        let packages: Vec<String> = packages.into_iter().collect();
        self.ingest.follow_packages(&packages).await?;
        Ok(())
    }

    /// How often a job loop of `period` wakes: every period on an embedded database; on a
    /// shared one often enough to renew the job's lease (a third of `cluster.lease_secs`).
    pub fn tick(&self, period: Duration) -> Duration {
        if self.is_shared() {
            period.min(Duration::from_secs((self.lease_secs / 3).max(1)))
        } else {
            period
        }
    }

    /// Whether this instance runs `job`, which runs every `period`, at this wake-up: always
    /// on an embedded database; on a shared one when it holds (has taken or renewed) the
    /// job's lease and the job last ran, on whichever instance, a period ago or more. Then
    /// the run is recorded. A failure to ask is a no.
    pub async fn should_run(&self, job: &str, period: Duration) -> bool {
        if !self.is_shared() {
            return true;
        }
        let holds = match self
            .store
            .try_lease(job, &self.instance, self.lease_secs)
            .await
        {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(job, error = %e, "cannot take the job's lease; skipping this run");
                false
            }
        };
        {
            let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
            if holds {
                // A little short of the database's view: the request took some time.
                held.insert(
                    job.to_string(),
                    Instant::now() + Duration::from_secs(self.lease_secs.saturating_sub(1)),
                );
            } else {
                held.remove(job);
            }
        }
        if !holds {
            return false;
        }
        match self.store.lease_due(job, period.as_secs()).await {
            Ok(false) => false,
            Ok(true) => match self.store.mark_lease_run(job, &self.instance).await {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!(job, error = %e, "cannot record the job's run; skipping it");
                    false
                }
            },
            Err(e) => {
                tracing::warn!(job, error = %e, "cannot read the job's schedule; skipping this run");
                false
            }
        }
    }

    /// Gives up the leases this instance holds (it is stopping): other instances take the
    /// jobs over at their next run.
    pub async fn release_leases(&self) {
        if !self.is_shared() {
            return;
        }
        self.held.lock().unwrap_or_else(|e| e.into_inner()).clear();
        if let Err(e) = self.store.release_leases(&self.instance).await {
            tracing::warn!(error = %e, "cannot give the leases up; they lapse");
        }
    }

    /// The jobs whose lease this instance holds now.
    pub fn leases(&self) -> Vec<String> {
        let now = Instant::now();
        self.held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(_, until)| **until > now)
            .map(|(job, _)| job.clone())
            .collect()
    }
}
