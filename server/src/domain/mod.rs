//! Pure rules: identification, reconciliation, credentials. No axum, no SurrealDB.

pub mod auth;
pub mod identify;
pub mod reconcile;
