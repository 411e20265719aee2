//! Relationship discovery: what hosts and network devices report becomes edges.
//!
//! - `connected_to` between network devices from LLDP and CDP (the neighbour matched to a
//!   known CI by chassis id, system name, management address or interface MAC), with both
//!   port names, one edge per link whichever end saw it;
//! - `connected_to` host NIC → switch port from forwarding tables (a host's NIC MAC learned on
//!   an access port) and from LLDP/CDP where hosts appear;
//! - service CIs for listening TCP applications (one per host and process) `runs_on` their host;
//! - `depends_on` client → service from established connections, seen from either end;
//! - `hosted_on` VM → hypervisor, when a hypervisor's agent lists its libvirt guests and a
//!   host's hardware UUID is one of them.
//!
//! Matching goes through a [`Directory`]: an in-memory lookup of every CI's names, addresses,
//! MACs, chassis ids, ports and services, loaded from storage at start and updated on each
//! ingest. It is a cache, rebuilt from storage on restart; the derivation itself
//! ([`derive_host`], [`derive_device`]) is pure.

mod device;
mod directory;
mod edge;
mod host;

pub use device::{derive_device, device_facts, device_ports};
pub use directory::{Directory, Facts, ServiceFacts};
pub use edge::{DiscoveredEdge, Port, edge_key, link, port_name};
pub use host::{
    HostView, derive_host, host_addresses, host_facts, host_ports, listening_services,
    named_foreign_cis, service_key,
};

#[cfg(test)]
mod tests;
