//! What more than one area uses: the names of the snmpsim recordings (a recording's name is
//! its SNMP community and SNMPv3 context), the OIDs that both `snmp` and `topology` walk
//! with Net-SNMP, and a walk that fails the test naming the subtree.

use cmdb_tests::snmp::{NetSnmp, Walk};

pub const C3560: &str = "cisco-c3560";
pub const N5000: &str = "cisco-n5000";
pub const PROCURVE: &str = "hpe-procurve-516733-b21";
pub const BDCOM: &str = "bdcom-s5612";
pub const LINUX: &str = "linux-unknown-006";
pub const MX960: [&str; 4] = [
    "juniper-mx960-12-3r6-6",
    "juniper-mx960-13-3r9-13",
    "juniper-mx960-16-1r6-7-a",
    "juniper-mx960-16-1r6-7-b",
];

pub const SYS_NAME: &str = "1.3.6.1.2.1.1.5.0";
pub const IF_ENTRY: &str = "1.3.6.1.2.1.2.2.1";
pub const IF_X_ENTRY: &str = "1.3.6.1.2.1.31.1.1.1";
pub const IF_NAME: &str = "1.3.6.1.2.1.31.1.1.1.1";
pub const CDP_CACHE_ENTRY: &str = "1.3.6.1.4.1.9.9.23.1.2.1.1";
pub const LLDP_LOC_CHASSIS_ID: &str = "1.0.8802.1.1.2.1.3.2.0";
pub const LLDP_LOC_SYS_NAME: &str = "1.0.8802.1.1.2.1.3.3.0";
pub const LLDP_LOC_PORT_ENTRY: &str = "1.0.8802.1.1.2.1.3.7.1";
pub const LLDP_REM_ENTRY: &str = "1.0.8802.1.1.2.1.4.1.1";

/// `snmpbulkwalk` of `subtree`; panics with the subtree and the error.
pub fn walk(r: &NetSnmp, subtree: &str) -> Walk {
    r.walk(subtree)
        .unwrap_or_else(|e| panic!("snmpbulkwalk {subtree}: {e:#}"))
}
