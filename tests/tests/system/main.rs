//! Whole-system tests: the real `cmdb-server` and `cmdb-agent` processes, started by the
//! harness in `cmdb_tests` (`tests/src/lib.rs`), one module per area.
//!
//! They are one test binary rather than one per area, so a change to the harness or to a
//! dependency links one executable instead of eight. nextest still runs each test in its
//! own process, and `.config/nextest.toml` runs them one at a time: a server started by
//! one test is a listening socket in another test's host inventory.

mod attack;
mod browser;
mod cluster;
mod common;

mod credentials;
mod dependencies;
mod devices;
mod e2e;
mod faults;
mod impact;
mod metrics;
mod packaging;
mod remote_storage;
mod snmp;
mod topology;
