//! Wire types and pure helpers shared by `cmdb-agent` and `cmdb-server`.
//!
//! Layout:
//! - [`inventory`]: the host inventory, one struct per collector section;
//! - [`device`]: the inventory of a network device discovered over SNMP;
//! - [`metrics`]: metric batches (samples, heartbeats, probe results) an agent pushes every tick;
//! - [`report`]: the envelope an agent pushes (full or delta), and the server's answers;
//! - [`hash`]: section hashing that ignores volatile values, so "unchanged" means the same to both sides;
//! - [`ident`]: normalisation of identifying values (hardware UUIDs, serials, MACs);
//!
//! This crate has no I/O and no async runtime: it compiles into the agent without SurrealDB,
//! axum or reqwest.

pub mod device;
pub mod hash;
pub mod ident;
pub mod inventory;
pub mod metrics;
pub mod report;

pub use inventory::*;
pub use report::*;
