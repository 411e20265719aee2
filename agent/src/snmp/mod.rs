//! SNMP discovery of network devices.
//!
//! Layers, each testable on its own:
//! - [`oid`]: object identifiers, the values SNMP returns, and a walked subtree as a sorted
//!   map (whatever order the device answered in);
//! - [`snmprec`]: reads snmpsim recordings (`OID|type|value`), the format of the fixtures
//!   captured from real devices;
//! - [`decode`]: what real agents put in strings (NUL padding, non-UTF-8, MACs as text or
//!   bytes) and LLDP identifiers by subtype;
//! - [`enterprise`]: vendor names from IANA private enterprise numbers.

pub mod decode;
pub mod enterprise;
pub mod mib;
pub mod oid;
pub mod snmprec;
