//! The inventory of a network device discovered over SNMP (switch, router, firewall, storage,
//! power). The agent's poller builds it from standard MIBs; the server identifies the device
//! (chassis serial, then LLDP chassis id / base bridge MAC, then sysName + management
//! address) and keeps neighbours, forwarding and ARP entries for the topology work.
//!
//! As in the host inventory, what a device does not expose is `None` or an empty list, never
//! a guess. Counters and uptime are metrics ([`DeviceMetrics`]), not inventory.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// One poll of one device, pushed by an agent in its poller role to
/// `POST /api/v1/device-reports` (zstd- or gzip-compressed JSON, the agent's own credential).
/// Always complete: the server compares it with what it holds and records the differences.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeviceReport {
    /// Must equal [`crate::SCHEMA_VERSION`]; anything else is answered 422.
    pub schema_version: u32,
    /// Unique per report (the agent's spool file name); a redelivery carries the same id.
    pub report_id: String,
    pub agent_version: String,
    pub collected_at: DateTime<Utc>,
    /// How the poller came to poll this device.
    pub source: TargetSource,
    pub inventory: DeviceInventory,
    pub metrics: DeviceMetrics,
}

/// Where a polled target came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum TargetSource {
    /// Listed in the agent's configuration.
    Config,
    /// Found by a discovery sweep of a configured range.
    Discovery,
}

/// One device's inventory.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeviceInventory {
    /// The address the poller used (`host` or `host:port`).
    pub target: String,
    pub system: SystemGroup,
    /// IANA private enterprise number from sysObjectID.
    pub enterprise: Option<u32>,
    pub vendor: Option<String>,
    /// From ENTITY-MIB (the chassis), else parsed from sysDescr.
    pub model: Option<String>,
    pub firmware: Option<String>,
    pub serial: Option<String>,
    /// dot1dBaseBridgeAddress.
    pub base_bridge_mac: Option<String>,
    /// Physical entities other than the chassis: modules, power supplies, fans, transceivers.
    #[serde(default)]
    pub components: Vec<Component>,
    #[serde(default)]
    pub interfaces: Vec<DeviceInterface>,
    #[serde(default)]
    pub addresses: Vec<DeviceAddress>,
    pub lldp_local: Option<LldpLocal>,
    #[serde(default)]
    pub lldp_neighbors: Vec<LldpNeighbor>,
    #[serde(default)]
    pub cdp_neighbors: Vec<CdpNeighbor>,
    /// MAC address → port (BRIDGE-MIB and Q-BRIDGE-MIB).
    #[serde(default)]
    pub forwarding: Vec<ForwardingEntry>,
    /// IP → MAC (ipNetToPhysical and ipNetToMedia).
    #[serde(default)]
    pub arp: Vec<ArpEntry>,
    /// HOST-RESOURCES-MIB, where the device has it.
    #[serde(default)]
    pub storage: Vec<StorageArea>,
    #[serde(default)]
    pub processors: Vec<Processor>,
}

/// SNMPv2-MIB system group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SystemGroup {
    pub descr: Option<String>,
    pub object_id: Option<String>,
    pub name: Option<String>,
    pub contact: Option<String>,
    pub location: Option<String>,
    /// sysServices bit field (layers 1–7).
    pub services: Option<u32>,
}

/// A physical entity (ENTITY-MIB entPhysicalTable).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Component {
    pub index: u32,
    /// chassis, module, powerSupply, fan, sensor, port, container, stack, backplane, cpu, …
    pub class: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub hardware_rev: Option<String>,
    pub firmware_rev: Option<String>,
    pub software_rev: Option<String>,
    /// Index of the containing entity.
    pub contained_in: Option<u32>,
    /// True for a pluggable transceiver (a port-class or module entity that is field
    /// replaceable and named like an SFP/XFP/QSFP).
    #[serde(default)]
    pub transceiver: bool,
}

/// An interface (IF-MIB ifTable + ifXTable).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeviceInterface {
    pub index: u32,
    /// ifName, else ifDescr.
    pub name: String,
    pub alias: Option<String>,
    pub description: Option<String>,
    /// IANAifType number (6 ethernetCsmacd, 24 softwareLoopback, 53 propVirtual, 161 ieee8023adLag, …).
    pub if_type: Option<u32>,
    pub mac: Option<String>,
    /// up, down, testing.
    pub admin_status: Option<String>,
    /// up, down, testing, unknown, dormant, notPresent, lowerLayerDown.
    pub oper_status: Option<String>,
    /// ifHighSpeed, else ifSpeed / 10⁶.
    pub speed_mbps: Option<u64>,
    pub mtu: Option<u32>,
}

/// An IP address of the device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeviceAddress {
    pub address: String,
    pub prefix_len: Option<u8>,
    pub if_index: Option<u32>,
}

/// LLDP local system (lldpLocChassisId).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LldpLocal {
    pub chassis_id_subtype: String,
    pub chassis_id: String,
    pub system_name: Option<String>,
}

/// A neighbour seen by LLDP (lldpRemTable).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LldpNeighbor {
    /// lldpLocalPortNum and the local port's name (lldpLocPortId / ifName).
    pub local_port_num: u32,
    pub local_port: Option<String>,
    pub chassis_id_subtype: String,
    pub chassis_id: String,
    pub port_id_subtype: String,
    pub port_id: String,
    pub port_description: Option<String>,
    pub system_name: Option<String>,
    pub system_description: Option<String>,
    pub management_address: Option<String>,
}

/// A neighbour seen by CDP (cdpCacheTable).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CdpNeighbor {
    pub local_if_index: u32,
    pub local_port: Option<String>,
    pub device_id: String,
    pub address: Option<String>,
    pub port: Option<String>,
    pub platform: Option<String>,
}

/// A learned MAC address and the port it was seen on.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ForwardingEntry {
    pub vlan: Option<u32>,
    pub mac: String,
    pub bridge_port: u32,
    pub if_index: Option<u32>,
    /// learned, self, mgmt, other, invalid.
    pub status: Option<String>,
}

/// An IP-to-MAC mapping.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ArpEntry {
    pub if_index: u32,
    pub ip: String,
    pub mac: String,
}

/// hrStorageTable row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StorageArea {
    pub index: u32,
    pub description: String,
    /// ram, virtualMemory, fixedDisk, removableDisk, floppyDisk, compactDisc, ramDisk,
    /// flashMemory, networkDisk, other.
    pub kind: String,
    pub size_bytes: u64,
    pub used_bytes: u64,
}

/// hrProcessorTable row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Processor {
    pub index: u32,
    /// Average load over the last minute, percent.
    pub load_percent: u8,
}

/// Samples taken with an inventory: uptime and per-interface counters, each with its time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeviceMetrics {
    pub at: Option<DateTime<Utc>>,
    /// sysUpTime in hundredths of a second.
    pub uptime_ticks: Option<u32>,
    #[serde(default)]
    pub interfaces: Vec<InterfaceCounters>,
}

/// Counters of one interface (64-bit HC counters where the device has them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct InterfaceCounters {
    pub index: u32,
    pub in_octets: Option<u64>,
    pub out_octets: Option<u64>,
    pub in_errors: Option<u64>,
    pub out_errors: Option<u64>,
    pub in_discards: Option<u64>,
    pub out_discards: Option<u64>,
    /// True when the octet counters are the 64-bit ifHC ones (no wrap to care about).
    #[serde(default)]
    pub high_capacity: bool,
}
