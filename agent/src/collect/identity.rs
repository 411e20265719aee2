//! `identity` collector: who the host is. The kernel host name, the resolver's fully qualified
//! name, systemd's machine-id and the DMI/SMBIOS system identity (UUID, vendor, model, serial
//! number, chassis type).
//!
//! DMI files are missing on machines without SMBIOS (Firecracker microVMs, most ARM boards)
//! and `product_serial`/`product_uuid` are readable by root only (mode 0400); in every such
//! case the field is `None` rather than a guess.

use std::net::IpAddr;

use super::{CollectError, Collector, Context};
use cmdb_shared::{Identity, Inventory};

/// Collects the `identity` section.
pub struct IdentityCollector;

impl Collector for IdentityCollector {
    fn name(&self) -> &'static str {
        "identity"
    }

    fn collect(&self, ctx: &Context, inv: &mut Inventory) -> Result<(), CollectError> {
        // /etc/hostname is only the boot-time wish; the kernel's name is the one in use, so it
        // is read first and the file is the fallback for trees without /proc.
        let hostname = ctx
            .read_trimmed("/proc/sys/kernel/hostname")
            .or_else(|| ctx.read_trimmed("/etc/hostname"))
            .ok_or_else(|| CollectError::Parse {
                what: "/proc/sys/kernel/hostname".into(),
                reason: "missing or empty".into(),
            })?;
        // The resolver answers for the running host, never for a fixture tree.
        let fqdn = if ctx.is_live() {
            resolve_fqdn(&hostname)
        } else {
            None
        };
        let machine_id = ["/etc/machine-id", "/var/lib/dbus/machine-id"]
            .iter()
            .find_map(|p| ctx.read_trimmed(p).and_then(|s| parse_machine_id(&s)));
        let dmi = |file: &str| ctx.read_trimmed(&format!("/sys/class/dmi/id/{file}"));

        inv.identity = Some(Identity {
            hostname,
            fqdn,
            machine_id,
            hardware_uuid: dmi("product_uuid").map(|u| u.to_ascii_lowercase()),
            vendor: dmi("sys_vendor"),
            model: dmi("product_name"),
            serial: dmi("product_serial"),
            chassis_type: dmi("chassis_type").and_then(|t| parse_chassis_type(&t)),
        });
        Ok(())
    }
}

/// The resolver's canonical name for `hostname` (what `hostname --fqdn` prints), if usable.
fn resolve_fqdn(hostname: &str) -> Option<String> {
    let hints = dns_lookup::AddrInfoHints {
        flags: nix::libc::AI_CANONNAME,
        ..Default::default()
    };
    let mut answers = match dns_lookup::getaddrinfo(Some(hostname), None, Some(hints)) {
        Ok(answers) => answers,
        Err(e) => {
            tracing::debug!(hostname, error = ?e, "no canonical name for the host name");
            return None;
        }
    };
    // glibc puts the canonical name on the first answer only.
    let canonical = answers.next()?.ok()?.canonname?;
    accept_fqdn(&canonical)
}

/// Keeps a resolver answer only if it is a real domain name for this host: it has a domain
/// part, is not an address literal and is not a loopback alias from `/etc/hosts`.
pub fn accept_fqdn(name: &str) -> Option<String> {
    let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
    if !name.contains('.') || name.parse::<IpAddr>().is_ok() {
        return None;
    }
    let first_label = name.split('.').next().unwrap_or_default();
    let loopback = first_label.starts_with("localhost")
        || first_label == "ip6-localhost"
        || first_label == "ip6-loopback";
    (!loopback).then_some(name)
}

/// Validates a machine-id: exactly 32 hexadecimal digits (returned lowercase). Anything else,
/// such as "uninitialized" during first boot, is no identity.
pub fn parse_machine_id(text: &str) -> Option<String> {
    let id = text.trim();
    (id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())).then(|| id.to_ascii_lowercase())
}

/// SMBIOS 3.x chassis types (DSP0134 §7.4.1), indexed from 1.
const CHASSIS_TYPES: [&str; 36] = [
    "other",
    "unknown",
    "desktop",
    "low profile desktop",
    "pizza box",
    "mini tower",
    "tower",
    "portable",
    "laptop",
    "notebook",
    "hand held",
    "docking station",
    "all in one",
    "sub notebook",
    "space-saving",
    "lunch box",
    "main server chassis",
    "expansion chassis",
    "subchassis",
    "bus expansion chassis",
    "peripheral chassis",
    "raid chassis",
    "rack mount chassis",
    "sealed-case pc",
    "multi-system chassis",
    "compact pci",
    "advanced tca",
    "blade",
    "blade enclosure",
    "tablet",
    "convertible",
    "detachable",
    "iot gateway",
    "embedded pc",
    "mini pc",
    "stick pc",
];

/// The SMBIOS chassis type name for the number in `/sys/class/dmi/id/chassis_type`.
/// 2 ("unknown") and numbers outside the table give `None`: the firmware does not know either.
pub fn parse_chassis_type(text: &str) -> Option<String> {
    let n: usize = text.trim().parse().ok()?;
    if n == 2 {
        return None;
    }
    CHASSIS_TYPES.get(n.checked_sub(1)?).map(|s| s.to_string())
}

#[cfg(test)]
mod tests;
