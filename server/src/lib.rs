//! `cmdb-server`: the central CMDB.
//!
//! # Layout
//!
//! Three layers; data flows one way, down, and nothing imports upward:
//!
//! ```text
//! http/            handlers only: extract → call one service → render
//!   │
//!   ▼
//! services         one per capability, each owning its locks and caches:
//!   access           credentials, enrollment, agents, authentication (with its cache)
//!   ingest/          agent reports → CIs (validate, identify, reconcile, write), then discovery
//!   relationships/   the only writer of relationships and manual CIs; the graph index;
//!                    discovery from reports, manual edits, import/export
//!   impact           impact analysis over the index
//!   changes          change records with their impact and conflicts
//!   inventory        reading the CMDB: CI lists, details, history, diffs, software search
//!   metrics/         metric batches in (durable per batch), compaction into blocks and
//!                    rollups, retention, series reads
//!   availability/    heartbeats, probes and polls merged into signals; timelines through
//!                    the graph; outages, SLA figures, maintenance windows
//!   capacity/        daily peak trends and threshold forecasts, ranked
//!   web/             the web UI's accounts, sign-in, sessions and CSRF tokens (its pages,
//!                    in `http::ui`, show what the other services answer)
//!   │
//!   ▼
//! domain/          pure rules: identification, reconciliation, discovery, device polls,
//!                  version ordering, credentials. No axum, no SurrealDB, no I/O.
//! storage/         the only module that names SurrealDB, one file per table family.
//! ```
//!
//! Services may call `domain` and `storage`, and services they are built over (ingest runs
//! discovery through relationships; impact reads the relationships index; changes use impact;
//! access and inventory read what ingest holds in memory). `http` never names `storage`, and
//! `domain` names neither axum nor SurrealDB; the `layering` test fails the test run when
//! either rule is broken. Beside the layers: [`config`] (the TOML file, validated), [`pki`]
//! (the CA and server certificate), [`telemetry`] (the server's own metrics, for Prometheus), [`setup`] (`init`,
//! `quickstart`), [`cli`] (the subcommands), [`error`] (what services answer).
//!
//! [`app`] builds the router (tests call it with `oneshot`); [`run`] serves it on a listener
//! until a shutdown future resolves. `docs/architecture.md` tells the whole design.

pub mod access;
pub mod availability;
pub mod bucket;
pub mod capacity;
pub mod changes;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod domain;
pub mod error;
pub mod http;
pub mod impact;
pub mod ingest;
pub mod inventory;
pub mod locks;
pub mod metrics;
pub mod pki;
pub mod relationships;
pub mod setup;
pub mod storage;
pub mod telemetry;
pub mod web;

#[cfg(test)]
mod api_tests;
#[cfg(test)]
mod layering;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;

use crate::access::Access;
use crate::availability::Availability;
use crate::capacity::Capacity;
use crate::changes::Changes;
use crate::config::Config;
use crate::impact::Impact;
use crate::ingest::Ingestor;
use crate::inventory::Inventory;
use crate::metrics::Metrics;
use crate::relationships::Relationships;
use crate::storage::Store;
use crate::telemetry::Telemetry;

/// A running server: its configuration, metrics and services.
#[derive(Debug)]
pub struct AppState {
    pub config: Arc<Config>,
    pub telemetry: Arc<Telemetry>,
    pub access: Arc<Access>,
    pub web: web::Web,
    pub ingest: Arc<Ingestor>,
    pub inventory: Inventory,
    pub relationships: Arc<Relationships>,
    pub impact: Arc<Impact>,
    pub changes: Changes,
    pub metrics: Arc<Metrics>,
    pub availability: Arc<Availability>,
    pub capacity: Capacity,
    /// Per-credential request rates.
    pub rate: http::limits::RateLimit,
    /// Several instances on one database: following their writes, background-job leases.
    pub cluster: Arc<cluster::Cluster>,
    /// The store the services share, closed when the server stops.
    store: Store,
}

impl AppState {
    /// The services over an open store; loads the package catalogue, the relationship index
    /// and the discovery directory.
    pub async fn new(config: Config, mut store: Store) -> Result<Arc<Self>, storage::StorageError> {
        let config = Arc::new(config);
        let telemetry = Arc::new(Telemetry::default());
        // Several instances may share a remote database: the feed of their writes is read
        // from here on, so what is written while the index loads is not missed.
        let cursor = if store.is_remote() {
            store.enable_cluster_feed().await?;
            store
                .feed_position(&cluster::instance_name(&config))
                .await?
        } else {
            0
        };
        let relationships = Arc::new(
            Relationships::load(
                store.clone(),
                config.relationships.clone(),
                telemetry.clone(),
            )
            .await?,
        );
        let ingest = Arc::new(
            Ingestor::new(
                store.clone(),
                config.limits.clone(),
                relationships.clone(),
                telemetry.clone(),
            )
            .await?
            .with_last_seen_write_secs(config.lifecycle.last_seen_write_secs),
        );
        let impact = Arc::new(Impact::new(
            store.clone(),
            relationships.clone(),
            telemetry.clone(),
            config.availability.retire_after_secs,
        ));
        let availability = Arc::new(Availability::new(
            store.clone(),
            config.clone(),
            relationships.clone(),
            impact.clone(),
        ));
        let metrics = Arc::new(Metrics::new(
            store.clone(),
            config.clone(),
            ingest.clone(),
            relationships.clone(),
            availability.clone(),
            telemetry.clone(),
        ));
        let access = Arc::new(Access::new(
            store.clone(),
            ingest.clone(),
            telemetry.clone(),
            &config.auth,
        ));
        let cluster = Arc::new(cluster::Cluster::new(
            store.clone(),
            &config,
            cursor,
            relationships.clone(),
            access.clone(),
            ingest.clone(),
            telemetry.clone(),
        ));
        Ok(Arc::new(Self {
            store: store.clone(),
            rate: http::limits::RateLimit::new(
                config.http.rate_per_credential,
                config.http.rate_burst,
            ),
            capacity: Capacity::new(store.clone(), config.clone(), metrics.clone()),
            cluster,
            metrics,
            availability,
            access: access.clone(),
            web: web::Web::new(store.clone(), access, config.web.clone()),
            inventory: Inventory::new(store.clone(), config.clone(), ingest.clone()),
            changes: Changes::new(store, impact.clone()),
            config,
            telemetry,
            ingest,
            relationships,
            impact,
        }))
    }
}

/// The HTTP application.
pub fn app(state: Arc<AppState>) -> Router {
    http::router(state)
}

/// Errors that stop the server.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("storage")]
    Storage(#[from] storage::StorageError),
    #[error("TLS")]
    Tls(#[from] pki::PkiError),
    #[error("serving HTTP")]
    Io(#[from] std::io::Error),
}

/// Serves the API on `listener` until `shutdown` resolves, then drains connections and
/// writes pending last-seen times.
pub async fn run(
    config: Config,
    listener: std::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    let store = Store::open(&config).await?;
    let state = AppState::new(config, store).await?;
    serve(state, listener, shutdown).await
}

/// A background job that took a second or more says so in the log: while it runs it shares
/// the cores (and some of it the locks) with the requests, so a stall in request latency can
/// be matched to it.
fn log_slow_job(job: &str, started: std::time::Instant) {
    let took = started.elapsed();
    if took >= Duration::from_secs(1) {
        tracing::info!(job, ms = took.as_millis() as u64, "slow background job");
    }
}

/// Serves an already built state (used by `run` and by `quickstart`).
pub async fn serve(
    state: Arc<AppState>,
    listener: std::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    let config = state.config.clone();
    let flusher = {
        let state = state.clone();
        let every = Duration::from_secs(config.lifecycle.last_seen_flush_secs);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let t = std::time::Instant::now();
                state.ingest.flush_last_seen().await;
                log_slow_job("last-seen flush", t);
            }
        })
    };
    let sweeper = {
        let state = state.clone();
        let every = Duration::from_secs(config.relationships.sweep_secs);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(state.cluster.tick(every));
            loop {
                tick.tick().await;
                // Once per period in the cluster: on the instance holding the job's lease.
                if !state.cluster.should_run("sweep", every).await {
                    continue;
                }
                let t = std::time::Instant::now();
                let swept = state.relationships.sweep().await;
                log_slow_job("stale relationship sweep", t);
                match swept {
                    Ok(n) => {
                        state.telemetry.stale_marked.inc_by(n as u64);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "stale relationship sweep failed; will retry");
                    }
                }
            }
        })
    };
    let compactor = {
        let state = state.clone();
        let every = Duration::from_secs(config.metrics.compact_secs);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(state.cluster.tick(every));
            loop {
                tick.tick().await;
                if !state.cluster.should_run("compaction", every).await {
                    continue;
                }
                let now = chrono::Utc::now().timestamp();
                let t = std::time::Instant::now();
                let compacted = state.metrics.compact(now).await;
                log_slow_job("metric compaction", t);
                match compacted {
                    Ok(s) => {
                        state.telemetry.compactions.inc_by(s.days as u64);
                        if s.days > 0 {
                            tracing::info!(
                                days = s.days,
                                series = s.series,
                                samples = s.samples,
                                "metric samples compacted"
                            );
                        }
                    }
                    Err(e) => {
                        state.telemetry.compaction_failures.inc();
                        tracing::warn!(error = %e, "metric compaction failed; will retry");
                    }
                }
                let t = std::time::Instant::now();
                let expired = state.metrics.expire(now).await;
                log_slow_job("metric retention", t);
                if let Err(e) = expired {
                    tracing::warn!(error = %e, "metric retention failed; will retry");
                }
            }
        })
    };
    let heart = {
        let state = state.clone();
        let every = Duration::from_secs(config.availability.alive_secs);
        let run = uuid::Uuid::new_v4().simple().to_string();
        let started = chrono::Utc::now().timestamp();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let now = chrono::Utc::now().timestamp();
                if let Err(e) = state.availability.alive(&run, started, now).await {
                    tracing::warn!(error = %e, "cannot record that the server is alive; will retry");
                }
            }
        })
    };
    let follower = {
        let state = state.clone();
        let every = Duration::from_millis(config.cluster.follow_ms);
        tokio::spawn(async move {
            if !state.cluster.is_shared() {
                return;
            }
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = state.cluster.follow().await {
                    state.telemetry.cluster_follow_failures.inc();
                    tracing::warn!(error = %e, "cannot follow the other instances' writes; will retry");
                }
            }
        })
    };
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let router = app(state.clone());
    if config.tls.enabled {
        let mut tls = pki::server_config(
            &config.resolve(&config.tls.cert),
            &config.resolve(&config.tls.key),
        )?;
        if config.tls.session_tickets {
            pki::enable_session_tickets(&mut tls)?;
        }
        let handle = axum_server::Handle::new();
        let h = handle.clone();
        tokio::spawn(async move {
            shutdown.await;
            h.graceful_shutdown(Some(Duration::from_secs(10)));
        });
        tracing::info!(%addr, "listening (https)");
        // TCP_NODELAY on every accepted connection: without it, the handshake's small
        // writes meet the client's delayed ACK and every new connection (one per agent
        // delivery) waits 40 ms.
        let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(
            axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(tls)),
        )
        .acceptor(axum_server::accept::NoDelayAcceptor::new());
        let mut server = axum_server::from_tcp(listener)?
            .acceptor(acceptor)
            .handle(handle);
        // hyper applies its header-read timeout only with a timer; without one a client that
        // never finishes its headers holds a connection for ever (slow-loris).
        server
            .http_builder()
            .http1()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(Duration::from_secs(config.http.header_read_timeout_secs));
        server.serve(router.into_make_service()).await?;
    } else {
        tracing::info!(%addr, "listening (plain http, loopback only)");
        let listener = tokio::net::TcpListener::from_std(listener)?;
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await?;
    }
    flusher.abort();
    follower.abort();
    sweeper.abort();
    compactor.abort();
    heart.abort();
    state.cluster.release_leases().await;
    state.ingest.flush_all_last_seen().await;
    // Last: the embedded datastore writes its memtables out, so the next start does not
    // replay them from the log (seconds and up to `storage.memtable_mib` of memory).
    let closing = std::time::Instant::now();
    match state.store.close().await {
        Ok(()) => tracing::info!(secs = closing.elapsed().as_secs_f64(), "storage closed"),
        Err(e) => {
            tracing::warn!(error = %e, "storage did not close cleanly; the next start replays its log")
        }
    }
    tracing::info!("stopped");
    Ok(())
}
