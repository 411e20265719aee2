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
mod tests {
    use super::*;

    fn collect(machine: &str) -> Identity {
        let root = format!("{}/fixtures/identity/{machine}", env!("CARGO_MANIFEST_DIR"));
        let mut inv = Inventory::default();
        IdentityCollector
            .collect(&Context::new(root), &mut inv)
            .expect("collects");
        inv.identity.expect("section")
    }

    #[test]
    fn the_firecracker_vm_has_a_machine_id_but_no_dmi_at_all() {
        assert_eq!(
            collect("debian12-firecracker"),
            Identity {
                hostname: "vm".into(),
                fqdn: None,
                machine_id: Some("3d1219c7c4c5404aaa1f6d2a48adfda4".into()),
                ..Identity::default()
            }
        );
    }

    #[test]
    fn a_dell_server_reports_its_service_tag_and_rack_chassis() {
        assert_eq!(
            collect("dell-poweredge-r640"),
            Identity {
                hostname: "db01".into(),
                fqdn: None,
                machine_id: Some("b7c1e3a9f2d84c0e9a6b5d4c3e2f1a09".into()),
                hardware_uuid: Some("4c4c4544-0058-4b10-8032-b7c04f4d3533".into()),
                vendor: Some("Dell Inc.".into()),
                model: Some("PowerEdge R640".into()),
                serial: Some("7XK2M53".into()),
                chassis_type: Some("rack mount chassis".into()),
            }
        );
    }

    #[test]
    fn a_supermicro_without_etc_machine_id_falls_back_to_the_dbus_copy() {
        let id = collect("supermicro-x11");
        assert_eq!(
            id.machine_id.as_deref(),
            Some("0f4e2d7c9b8a41f3a5c6d7e8f9012345")
        );
        // The board's placeholder serial is kept as read: the server knows to ignore it.
        assert_eq!(id.serial.as_deref(), Some("0123456789"));
        assert_eq!(id.chassis_type.as_deref(), Some("main server chassis"));
        assert_eq!(
            id.hardware_uuid.as_deref(),
            Some("00000000-0000-0000-0000-ac1f6b4c2d1e")
        );
    }

    #[test]
    fn a_vmware_vm_reports_the_vmware_serial_and_uuid() {
        let id = collect("vmware-vm");
        assert_eq!(id.vendor.as_deref(), Some("VMware, Inc."));
        assert_eq!(id.model.as_deref(), Some("VMware7,1"));
        assert_eq!(
            id.serial.as_deref(),
            Some("VMware-42 1c 9f 8e 3a 5b 6c 7d-1e 2f 3a 4b 5c 6d 7e 8f")
        );
        assert_eq!(
            id.hardware_uuid.as_deref(),
            Some("8e9f1c42-5b3a-7d6c-1e2f-3a4b5c6d7e8f")
        );
        assert_eq!(id.chassis_type.as_deref(), Some("other"));
    }

    #[test]
    fn a_hyperv_vm_with_an_uninitialized_machine_id_has_none() {
        let id = collect("hyperv-vm");
        // A golden image on first boot: /etc/machine-id says "uninitialized".
        assert_eq!(id.machine_id, None);
        assert_eq!(id.vendor.as_deref(), Some("Microsoft Corporation"));
        assert_eq!(id.model.as_deref(), Some("Virtual Machine"));
        assert_eq!(
            id.serial.as_deref(),
            Some("2241-6693-0542-4571-8120-3709-71")
        );
        assert_eq!(id.chassis_type.as_deref(), Some("desktop"));
    }

    #[test]
    fn blank_dmi_values_are_none() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dmi = dir.path().join("sys/class/dmi/id");
        std::fs::create_dir_all(&dmi).expect("mkdir");
        std::fs::create_dir_all(dir.path().join("proc/sys/kernel")).expect("mkdir");
        std::fs::write(dir.path().join("proc/sys/kernel/hostname"), "box\n").expect("write");
        std::fs::write(dmi.join("product_serial"), "        \n").expect("write");
        std::fs::write(dmi.join("sys_vendor"), "\n").expect("write");
        std::fs::write(dmi.join("product_name"), "  Z790 AORUS  \n").expect("write");
        let mut inv = Inventory::default();
        IdentityCollector
            .collect(&Context::new(dir.path()), &mut inv)
            .expect("collects");
        let id = inv.identity.expect("section");
        assert_eq!((id.serial, id.vendor), (None, None));
        assert_eq!(id.model.as_deref(), Some("Z790 AORUS"));
    }

    #[test]
    fn chassis_numbers_map_to_smbios_names() {
        assert_eq!(parse_chassis_type("1").as_deref(), Some("other"));
        assert_eq!(parse_chassis_type("3\n").as_deref(), Some("desktop"));
        assert_eq!(parse_chassis_type("9").as_deref(), Some("laptop"));
        assert_eq!(parse_chassis_type("10").as_deref(), Some("notebook"));
        assert_eq!(
            parse_chassis_type("17").as_deref(),
            Some("main server chassis")
        );
        assert_eq!(
            parse_chassis_type("23").as_deref(),
            Some("rack mount chassis")
        );
        assert_eq!(parse_chassis_type("36").as_deref(), Some("stick pc"));
    }

    #[test]
    fn unknown_or_out_of_range_chassis_numbers_are_none() {
        assert_eq!(parse_chassis_type("2"), None);
        assert_eq!(parse_chassis_type("0"), None);
        assert_eq!(parse_chassis_type("37"), None);
        assert_eq!(parse_chassis_type("rack"), None);
    }

    #[test]
    fn machine_ids_must_be_32_hex_digits() {
        assert_eq!(
            parse_machine_id("3D1219C7C4C5404AAA1F6D2A48ADFDA4\n").as_deref(),
            Some("3d1219c7c4c5404aaa1f6d2a48adfda4")
        );
        assert_eq!(parse_machine_id("uninitialized"), None);
        assert_eq!(parse_machine_id("3d1219c7c4c5404aaa1f6d2a48adfda"), None);
        assert_eq!(
            parse_machine_id("3d1219c7-c4c5-404a-aa1f-6d2a48adfda4"),
            None
        );
    }

    #[test]
    fn fqdns_need_a_domain_and_must_not_be_loopback_names_or_addresses() {
        assert_eq!(
            accept_fqdn("db01.corp.example.com.").as_deref(),
            Some("db01.corp.example.com")
        );
        assert_eq!(
            accept_fqdn("DB01.Corp.Example.com").as_deref(),
            Some("db01.corp.example.com")
        );
        assert_eq!(accept_fqdn("db01"), None);
        assert_eq!(accept_fqdn("localhost"), None);
        assert_eq!(accept_fqdn("localhost.localdomain"), None);
        assert_eq!(accept_fqdn("localhost6.localdomain6"), None);
        assert_eq!(accept_fqdn("ip6-localhost.example"), None);
        assert_eq!(accept_fqdn("10.0.0.5"), None);
        assert_eq!(accept_fqdn("fe80::1"), None);
    }
}
