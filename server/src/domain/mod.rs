//! Pure rules: identification (hosts and network devices), reconciliation, credentials. No axum, no SurrealDB.

pub mod auth;
pub mod device;
pub mod identify;
pub mod reconcile;
