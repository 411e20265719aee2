//! `cmdb-server`: the central CMDB.
//!
//! Layout:
//! - [`config`]: the TOML configuration, validated;
//! - [`pki`]: the CA and server certificate `init` makes, rustls configuration;
//! - [`domain`]: pure rules (identification, reconciliation, credentials);
//! - [`storage`]: the only module that speaks SurrealDB;
//! - [`ingest`]: report ingestion, hosts and polled network devices (validate → identify →
//!   reconcile → write);
//! - [`http`]: axum handlers, one module per resource;
//! - [`discovery`] (pure) and [`relate`]: relationships derived from reports;
//! - [`relations`]: relationship writes and the in-memory graph index impact analysis runs on;
//! - [`setup`]: `init` and `quickstart` (data directory, first tokens).
//!
//! [`app`] builds the router (tests call it with `oneshot`); [`run`] serves it on a listener
//! until a shutdown future resolves.

pub mod config;
pub mod discovery;
pub mod domain;
pub mod http;
pub mod ingest;
pub mod metrics;
pub mod pki;
pub mod relate;
pub mod relations;
pub mod setup;
pub mod storage;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;

use crate::config::Config;
use crate::http::Principal;
use crate::ingest::Ingestor;
use crate::metrics::Metrics;
use crate::storage::Store;

/// Shared state of a running server.
#[derive(Debug)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Store,
    pub ingestor: Ingestor,
    pub metrics: Metrics,
    /// Relationship writes and the in-memory graph index.
    pub relations: relations::Relations,
    /// What relationship discovery matches reports against.
    pub directory: discovery::SharedDirectory,
    pub(crate) throttle: relate::Throttle,
    auth_cache: Mutex<HashMap<String, Principal>>,
}

/// Most credentials kept in the in-memory auth cache before it is cleared.
const AUTH_CACHE_MAX: usize = 200_000;

impl AppState {
    /// State over an open store; warms the package catalogue.
    pub async fn new(config: Config, store: Store) -> Result<Arc<Self>, storage::StorageError> {
        let ingestor = Ingestor::default();
        ingestor.warm(&store).await?;
        let relations = relations::Relations::load(&store, config.relationships.clone()).await?;
        let directory = discovery::SharedDirectory::new(relate::load_directory(&store).await?);
        Ok(Arc::new(Self {
            config: Arc::new(config),
            store,
            ingestor,
            metrics: Metrics::default(),
            relations,
            directory,
            throttle: relate::Throttle::default(),
            auth_cache: Mutex::new(HashMap::new()),
        }))
    }

    pub(crate) fn auth_cache_get(&self, hash: &str) -> Option<Principal> {
        self.auth_cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(hash)
            .cloned()
    }

    pub(crate) fn auth_cache_put(&self, hash: String, p: Principal) {
        let mut c = self.auth_cache.lock().unwrap_or_else(|e| e.into_inner());
        if c.len() >= AUTH_CACHE_MAX {
            c.clear();
        }
        c.insert(hash, p);
    }

    pub(crate) fn auth_cache_remove(&self, hash: &str) {
        let removed = self
            .auth_cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(hash);
        if let Some(agent) = removed.and_then(|p| p.agent) {
            self.ingestor.forget(&agent);
        }
    }

    /// Writes coalesced heartbeats; on failure they are kept for the next attempt.
    pub async fn flush_last_seen(&self) {
        let items = self.ingestor.take_heartbeats();
        if !items.is_empty()
            && let Err(e) = self.store.flush_last_seen(&items).await
        {
            self.metrics.last_seen_flush_failures.inc();
            tracing::warn!(error = %e, count = items.len(), "cannot write last-seen times; will retry");
            self.ingestor.restore_heartbeats(items);
        }
        let devices = self.ingestor.take_device_seen();
        if devices.is_empty() {
            return;
        }
        if let Err(e) = self.store.flush_ci_seen(&devices).await {
            self.metrics.last_seen_flush_failures.inc();
            tracing::warn!(error = %e, count = devices.len(), "cannot write device last-seen times; will retry");
            self.ingestor.restore_device_seen(devices);
        }
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
                state.flush_last_seen().await;
            }
        })
    };
    let sweeper = {
        let state = state.clone();
        let every = Duration::from_secs(config.relationships.sweep_secs);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                if let Err(e) = state.relations.sweep(&state.store).await {
                    tracing::warn!(error = %e, "stale relationship sweep failed; will retry");
                }
            }
        })
    };
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let router = app(state.clone());
    if config.tls.enabled {
        let tls = pki::server_config(
            &config.resolve(&config.tls.cert),
            &config.resolve(&config.tls.key),
        )?;
        let handle = axum_server::Handle::new();
        let h = handle.clone();
        tokio::spawn(async move {
            shutdown.await;
            h.graceful_shutdown(Some(Duration::from_secs(10)));
        });
        tracing::info!(%addr, "listening (https)");
        axum_server::from_tcp_rustls(
            listener,
            axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(tls)),
        )?
        .handle(handle)
        .serve(router.into_make_service())
        .await?;
    } else {
        tracing::info!(%addr, "listening (plain http, loopback only)");
        let listener = tokio::net::TcpListener::from_std(listener)?;
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await?;
    }
    flusher.abort();
    sweeper.abort();
    state.flush_last_seen().await;
    tracing::info!("stopped");
    Ok(())
}
