//! `cmdb-agent`: inventories a Linux host and pushes it to cmdb-server.
//!
//! Layout:
//! - [`collect`]: one collector per inventory section, reading under a root path;
//! - [`snmp`]: network devices over SNMP (inventory, polling, metrics polls, discovery sweeps);
//! - [`metrics`]: host metrics sampled every tick, metric batches and the daemon's metrics
//!   loop; [`probe`]: TCP, HTTP(S) and ICMP availability probes;
//! - [`config`]: the TOML configuration, validated;
//! - [`state`]: credential, pinned CA and delivery baseline in the state directory;
//! - [`spool`]: the durable, bounded on-disk queue of reports and metric batches;
//! - [`tls`], [`client`]: pinned rustls and the HTTP calls;
//! - [`daemon`]: collect → spool → deliver, once or forever, beside the metrics loop;
//! - [`cli`]: the command line and its subcommands (the only `anyhow` code); `main.rs` only
//!   tunes the allocator, sets up logging and maps the result to an exit code.

pub mod cli;
pub mod client;
pub mod collect;
pub mod config;
pub mod daemon;
pub mod metrics;
pub mod probe;
pub mod snmp;
pub mod spool;
pub mod state;
#[cfg(test)]
mod testing;
pub mod tls;
