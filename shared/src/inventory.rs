//! The host inventory: one struct per collector section.
//!
//! Section name = collector file name = config table = the field name here. Every field a
//! machine may not expose is an `Option`: an honest `null` beats a guess. Units are in the names.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// One full host inventory. In a delta report only the changed sections are `Some`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<Identity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<Os>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Cpu>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Memory>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disks: Option<Vec<Disk>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filesystems: Option<Vec<Filesystem>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Vec<NetworkInterface>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packages: Option<Vec<Package>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<Vec<Service>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sockets: Option<Sockets>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtualization: Option<Virtualization>,
}

impl Inventory {
    /// Whether section `name` is present.
    pub fn has(&self, name: &str) -> bool {
        match name {
            "identity" => self.identity.is_some(),
            "os" => self.os.is_some(),
            "cpu" => self.cpu.is_some(),
            "memory" => self.memory.is_some(),
            "disks" => self.disks.is_some(),
            "filesystems" => self.filesystems.is_some(),
            "network" => self.network.is_some(),
            "packages" => self.packages.is_some(),
            "services" => self.services.is_some(),
            "sockets" => self.sockets.is_some(),
            "virtualization" => self.virtualization.is_some(),
            _ => false,
        }
    }

    /// Drops section `name` (unknown names are ignored).
    pub fn remove(&mut self, name: &str) {
        match name {
            "identity" => self.identity = None,
            "os" => self.os = None,
            "cpu" => self.cpu = None,
            "memory" => self.memory = None,
            "disks" => self.disks = None,
            "filesystems" => self.filesystems = None,
            "network" => self.network = None,
            "packages" => self.packages = None,
            "services" => self.services = None,
            "sockets" => self.sockets = None,
            "virtualization" => self.virtualization = None,
            _ => {}
        }
    }

    /// The present sections in JSON form, in wire order.
    /// One section as JSON, if present.
    pub fn section_value(&self, name: &str) -> Option<serde_json::Value> {
        let v = match name {
            "identity" => serde_json::to_value(self.identity.as_ref()?),
            "os" => serde_json::to_value(self.os.as_ref()?),
            "cpu" => serde_json::to_value(self.cpu.as_ref()?),
            "memory" => serde_json::to_value(self.memory.as_ref()?),
            "disks" => serde_json::to_value(self.disks.as_ref()?),
            "filesystems" => serde_json::to_value(self.filesystems.as_ref()?),
            "network" => serde_json::to_value(self.network.as_ref()?),
            "packages" => serde_json::to_value(self.packages.as_ref()?),
            "services" => serde_json::to_value(self.services.as_ref()?),
            "sockets" => serde_json::to_value(self.sockets.as_ref()?),
            "virtualization" => serde_json::to_value(self.virtualization.as_ref()?),
            _ => return None,
        };
        v.ok()
    }

    pub fn section_values(&self) -> Vec<(&'static str, serde_json::Value)> {
        let serde_json::Value::Object(mut map) =
            serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
        else {
            return Vec::new();
        };
        SECTIONS
            .iter()
            .filter_map(|s| map.remove(*s).map(|v| (*s, v)))
            .collect()
    }
}

/// The names of all sections, in wire order.
pub const SECTIONS: [&str; 11] = [
    "identity",
    "os",
    "cpu",
    "memory",
    "disks",
    "filesystems",
    "network",
    "packages",
    "services",
    "sockets",
    "virtualization",
];

/// Who the host is: the facts identification rules use.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Identity {
    /// Kernel host name (`/proc/sys/kernel/hostname`).
    pub hostname: String,
    /// Fully qualified name from the resolver, when it has a domain part.
    pub fqdn: Option<String>,
    /// `/etc/machine-id` (32 lowercase hex digits).
    pub machine_id: Option<String>,
    /// DMI/SMBIOS product UUID, lowercase, as the firmware reports it.
    pub hardware_uuid: Option<String>,
    /// DMI system vendor.
    pub vendor: Option<String>,
    /// DMI product name.
    pub model: Option<String>,
    /// DMI product serial number (placeholders such as "To Be Filled By O.E.M." kept as read;
    /// the server ignores them for identification).
    pub serial: Option<String>,
    /// SMBIOS chassis type as a name ("desktop", "rack mount chassis", …).
    pub chassis_type: Option<String>,
}

/// Operating system and kernel.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Os {
    /// `ID` from os-release ("debian").
    pub id: Option<String>,
    /// `NAME` from os-release.
    pub name: Option<String>,
    /// `VERSION_ID` from os-release.
    pub version_id: Option<String>,
    /// `PRETTY_NAME` from os-release.
    pub pretty_name: Option<String>,
    /// Kernel release (`uname -r`).
    pub kernel_release: Option<String>,
    /// Kernel build string (`uname -v`).
    pub kernel_version: Option<String>,
    /// Machine architecture (`uname -m`).
    pub architecture: Option<String>,
    /// When the kernel booted (volatile: changes on every reboot, never history).
    pub boot_time: Option<DateTime<Utc>>,
    /// IANA time zone name.
    pub timezone: Option<String>,
}

/// Processors.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Cpu {
    pub model: Option<String>,
    pub vendor: Option<String>,
    /// Physical packages.
    pub sockets: u32,
    /// Physical cores over all sockets.
    pub cores: u32,
    /// Logical processors (hardware threads).
    pub threads: u32,
    /// Maximum frequency where the kernel knows it, else the current one (volatile).
    pub mhz: Option<f64>,
}

/// Memory sizes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Memory {
    pub total_bytes: u64,
    pub swap_total_bytes: u64,
}

/// A block device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Disk {
    /// Kernel name ("sda", "nvme0n1").
    pub name: String,
    pub size_bytes: u64,
    pub model: Option<String>,
    pub serial: Option<String>,
    /// Spinning disk (`queue/rotational`); `None` when the kernel does not say.
    pub rotational: Option<bool>,
    /// "disk", "loop", "ram", "zram", "md", "dm".
    pub kind: String,
}

/// A mounted, real (non-pseudo) filesystem.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Filesystem {
    pub mount_point: String,
    pub device: String,
    pub fs_type: String,
    pub size_bytes: u64,
    /// Volatile: a metric, never history.
    pub used_bytes: u64,
}

/// A network interface.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NetworkInterface {
    pub name: String,
    /// Lowercase colon-separated MAC; `None` for interfaces without one.
    pub mac: Option<String>,
    /// The burned-in MAC when the kernel exposes it and it differs (bonding).
    pub permanent_mac: Option<String>,
    pub addresses: Vec<IpAddress>,
    pub mtu: Option<u32>,
    /// Link speed in Mbit/s when the link is up and the driver reports it.
    pub speed_mbps: Option<u64>,
    /// `operstate`: "up", "down", "unknown", …
    pub state: String,
    /// Backed by a device (PCI, virtio, …) rather than purely virtual (bridge, veth, tun, lo).
    pub physical: bool,
}

/// An address configured on an interface.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct IpAddress {
    /// Textual address without prefix ("192.0.2.10", "fe80::1").
    pub address: String,
    pub prefix_len: u8,
    /// "inet" or "inet6".
    pub family: String,
}

/// An installed software package.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Package {
    /// "dpkg", "rpm" or "apk".
    pub manager: String,
    pub name: String,
    pub version: String,
    pub architecture: Option<String>,
}

/// A systemd unit of type service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// Unit name ("ssh.service").
    pub name: String,
    pub description: Option<String>,
    /// Unit file state: "enabled", "disabled", "static", "masked", …
    pub enabled: Option<String>,
    /// Active state when systemd runs: "active", "inactive", "failed"; `None` when unknown.
    pub active: Option<String>,
    /// Sub state ("running", "exited", "dead").
    pub sub: Option<String>,
}

/// Listening sockets and established outbound connections.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Sockets {
    pub listening: Vec<ListeningSocket>,
    /// Established TCP connections, deduplicated on (process, remote address, remote port):
    /// ephemeral local ports are dropped so the section is stable.
    pub connections: Vec<Connection>,
}

/// A socket accepting connections (TCP LISTEN) or bound for datagrams (UDP).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ListeningSocket {
    /// "tcp" or "udp" (IPv6 sockets have an IPv6 address).
    pub protocol: String,
    pub address: String,
    pub port: u16,
    /// Owning process name (`comm`), when the agent may see it.
    pub process: Option<String>,
    /// Owning process id (volatile).
    pub pid: Option<u32>,
}

/// An established TCP connection, seen from this host.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Connection {
    pub protocol: String,
    pub local_address: String,
    pub remote_address: String,
    /// The server's port for outbound connections; 0 for inbound ones, whose client port is
    /// ephemeral (keeping it would make every client connection a new entry).
    pub remote_port: u16,
    /// The connection is towards one of this host's own listening ports (we are the server side).
    pub inbound: bool,
    /// Local port when inbound (the service port); `None` for outbound (ephemeral, dropped).
    pub local_port: Option<u16>,
    pub process: Option<String>,
}

/// Virtualisation and containers, decided from the signals `systemd-detect-virt` uses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Virtualization {
    /// Hypervisor this host runs under ("kvm", "vmware", "microsoft", "xen", …); `None` on bare metal.
    pub vm: Option<String>,
    /// Container runtime this host runs in ("docker", "podman", "lxc", …); `None` when not.
    pub container: Option<String>,
    /// Which signals decided, for the operator ("cpuid", "dmi", "cgroup", …).
    pub evidence: Vec<String>,
    /// Virtual machines this host runs, where it is a libvirt hypervisor (running domains).
    /// A guest's UUID is the hardware UUID its own agent reports, which is how the server
    /// relates the VM to this host.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guests: Vec<Guest>,
}

/// A virtual machine run by this host.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Guest {
    /// Domain name.
    pub name: String,
    /// Domain UUID, lowercase (the guest's SMBIOS system UUID).
    pub uuid: String,
    /// Domain type ("kvm", "qemu", "xen", …).
    pub hypervisor: String,
}
