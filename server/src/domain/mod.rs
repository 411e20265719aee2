//! Pure rules: no axum, no SurrealDB, no I/O. Everything here is a function of its arguments,
//! unit-tested next to the code.
//!
//! - [`identify`]: which existing CI a report describes (hosts, network devices);
//! - [`reconcile`]: a report's sections flattened into attributes and diffed into history;
//! - [`device_report`]: a network device's poll in canonical form, split into configuration,
//!   state and observations;
//! - [`discovery`]: the relationships what hosts and devices report imply, matched through
//!   the directory;
//! - [`software`]: package version ordering (dpkg, rpm, apk);
//! - [`auth`]: roles and token hashing;
//! - [`availability`]: state timelines, interval algebra through the graph, SLA figures;
//! - [`signals`]: availability observations merged into stored spans;
//! - [`capacity`]: robust trends and threshold forecasts;
//! - [`layout`]: layered graph layout for the impact graph and the relationship map;
//! - [`catalogue`]: every CI's class, name and searched text in memory, for the CI list.

pub mod auth;
pub mod availability;
pub mod capacity;
pub mod catalogue;
pub mod device_report;
pub mod discovery;
pub mod identify;
pub mod layout;
pub mod reconcile;
pub mod signals;
pub mod software;
