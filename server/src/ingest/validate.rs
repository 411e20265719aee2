//! What a report must satisfy before anything is looked up or written: identifiers, hashes,
//! sizes and every field an SNMP agent could send malformed. A failure names the field.

use chrono::{DateTime, Utc};
use cmdb_shared::device::DeviceReport;
use cmdb_shared::{Report, SECTIONS};

use super::IngestError;
use crate::config::Limits;
use crate::domain::device_report as device;
use crate::storage::time_str;

/// Most bytes of any text field of a device report. SNMP DisplayStrings have at most 255
/// octets, but decoded from GBK or Latin-1 they grow, and some agents ignore the limit.
const MAX_TEXT_BYTES: usize = 1024;

/// Most bytes of a target (`host`, `host:port` or `[v6]:port`; a DNS name has at most 253).
const MAX_TARGET_BYTES: usize = 300;

/// Checks the fields every report (host or device) carries.
pub(super) fn validate_envelope(report_id: &str, agent_version: &str) -> Result<(), IngestError> {
    if report_id.is_empty()
        || report_id.len() > 128
        || !report_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(IngestError::Invalid(
            "report_id: must be 1-128 letters, digits, '-', '_' or '.'".into(),
        ));
    }
    if agent_version.is_empty() || agent_version.len() > 64 {
        return Err(IngestError::Invalid(
            "agent_version: must be 1-64 characters".into(),
        ));
    }
    Ok(())
}

/// Checks a report before anything is looked up or written.
pub fn validate_host(report: &Report, limits: &Limits) -> Result<(), IngestError> {
    let bad = |m: String| Err(IngestError::Invalid(m));
    validate_envelope(&report.report_id, &report.agent_version)?;
    for (s, h) in &report.section_hashes {
        if !SECTIONS.contains(&s.as_str()) {
            return bad(format!("section_hashes: unknown section {s:?}"));
        }
        if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return bad(format!("section_hashes.{s}: not a SHA-256 hex digest"));
        }
    }
    let inv = &report.inventory;
    for s in SECTIONS {
        if inv.has(s) && !report.section_hashes.contains_key(s) {
            return bad(format!("section_hashes: missing the hash of section {s}"));
        }
    }
    if let Some(id) = &inv.identity
        && (id.hostname.is_empty() || id.hostname.len() > 253)
    {
        return bad("inventory.identity.hostname: must be 1-253 characters".into());
    }
    // Names become CI names, history keys and lines of CSV exports: no control characters
    // (a newline or an escape sequence in a hostname is an attack on whoever reads them).
    let control = |s: &str| s.chars().any(char::is_control);
    if let Some(id) = &inv.identity {
        for (f, v) in [
            ("hostname", Some(&id.hostname)),
            ("fqdn", id.fqdn.as_ref()),
            ("machine_id", id.machine_id.as_ref()),
            ("serial", id.serial.as_ref()),
        ] {
            if v.is_some_and(|v| control(v)) {
                return bad(format!(
                    "inventory.identity.{f}: control characters are not allowed"
                ));
            }
        }
    }
    for (i, n) in inv.network.iter().flatten().enumerate() {
        if control(&n.name) {
            return bad(format!(
                "inventory.network[{i}].name: control characters are not allowed"
            ));
        }
    }
    for (i, l) in inv
        .sockets
        .iter()
        .flat_map(|s| s.listening.iter())
        .enumerate()
    {
        if l.process.as_deref().is_some_and(control) {
            return bad(format!(
                "inventory.sockets.listening[{i}].process: control characters are not allowed"
            ));
        }
    }
    if let Some(p) = &inv.packages {
        if p.len() > limits.max_packages {
            return bad(format!(
                "inventory.packages: {} packages, more than the limit of {}",
                p.len(),
                limits.max_packages
            ));
        }
        if let Some((i, _)) = p
            .iter()
            .enumerate()
            .find(|(_, p)| p.name.is_empty() || p.version.is_empty() || p.manager.is_empty())
        {
            return bad(format!(
                "inventory.packages[{i}]: name, version and manager must not be empty"
            ));
        }
        if let Some((i, _)) = p.iter().enumerate().find(|(_, p)| {
            [&p.name, &p.version, &p.manager]
                .iter()
                .any(|s| s.chars().any(char::is_control))
        }) {
            return bad(format!(
                "inventory.packages[{i}]: control characters are not allowed in name, version or manager"
            ));
        }
    }
    let lists = [
        ("disks", inv.disks.as_ref().map(Vec::len)),
        ("filesystems", inv.filesystems.as_ref().map(Vec::len)),
        ("network", inv.network.as_ref().map(Vec::len)),
        ("services", inv.services.as_ref().map(Vec::len)),
        (
            "sockets.listening",
            inv.sockets.as_ref().map(|s| s.listening.len()),
        ),
        (
            "sockets.connections",
            inv.sockets.as_ref().map(|s| s.connections.len()),
        ),
    ];
    for (name, len) in lists {
        if let Some(n) = len
            && n > limits.max_list_items
        {
            return bad(format!(
                "inventory.{name}: {n} items, more than the limit of {}",
                limits.max_list_items
            ));
        }
    }
    Ok(())
}

/// A bad field: `path: reason`.
fn field(r: Result<(), String>, path: impl FnOnce() -> String) -> Result<(), IngestError> {
    r.map_err(|reason| IngestError::Invalid(format!("{}: {reason}", path())))
}

/// A value as shown in an error: quoted, cut to a readable length.
fn shown(s: &str) -> String {
    let cut: String = s.chars().take(64).collect();
    if cut.len() < s.len() {
        format!("{cut:?}…")
    } else {
        format!("{cut:?}")
    }
}

fn text(s: &str) -> Result<(), String> {
    if s.len() > MAX_TEXT_BYTES {
        Err(format!("longer than {MAX_TEXT_BYTES} bytes"))
    } else {
        Ok(())
    }
}

fn opt_text(s: &Option<String>) -> Result<(), String> {
    s.as_deref().map_or(Ok(()), text)
}

fn mac(s: &str) -> Result<(), String> {
    match device::canonical_mac(s) {
        Some(_) => Ok(()),
        None => Err(format!("{} is not a MAC address", shown(s))),
    }
}

fn ip(s: &str) -> Result<(), String> {
    match s.parse::<std::net::IpAddr>() {
        Ok(_) => Ok(()),
        Err(_) => Err(format!("{} is not an IP address", shown(s))),
    }
}

fn opt_ip(s: &Option<String>) -> Result<(), String> {
    s.as_deref().map_or(Ok(()), ip)
}

fn count(len: usize, max: usize) -> Result<(), String> {
    if len > max {
        Err(format!("{len} items, more than the limit of {max}"))
    } else {
        Ok(())
    }
}

fn target(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > MAX_TARGET_BYTES {
        return Err(format!("must be 1-{MAX_TARGET_BYTES} bytes"));
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) || device::target_host(s).is_empty() {
        return Err(format!(
            "{} is not \"host\", \"host:port\" or \"[ipv6]:port\"",
            shown(s)
        ));
    }
    Ok(())
}

fn object_id(s: &Option<String>) -> Result<(), String> {
    match s.as_deref() {
        Some(o)
            if o.len() > MAX_TEXT_BYTES
                || o.is_empty()
                || !o
                    .split('.')
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())) =>
        {
            Err(format!("{} is not a dotted OID", shown(o)))
        }
        _ => Ok(()),
    }
}

/// Checks a device report before anything is looked up or written: every string bounded,
/// every list within the limits, MACs and IP addresses well-formed. The error names the field.
pub fn validate_device(report: &DeviceReport, limits: &Limits) -> Result<(), IngestError> {
    validate_envelope(&report.report_id, &report.agent_version)?;
    let inv = &report.inventory;
    let list = limits.max_list_items;
    let table = limits.max_device_table_items;
    field(target(&inv.target), || "inventory.target".into())?;
    let sys = &inv.system;
    field(object_id(&sys.object_id), || {
        "inventory.system.object_id".into()
    })?;
    for (name, v) in [
        ("descr", &sys.descr),
        ("name", &sys.name),
        ("contact", &sys.contact),
        ("location", &sys.location),
    ] {
        field(opt_text(v), || format!("inventory.system.{name}"))?;
    }
    for (name, v) in [
        ("vendor", &inv.vendor),
        ("model", &inv.model),
        ("firmware", &inv.firmware),
        ("serial", &inv.serial),
    ] {
        field(opt_text(v), || format!("inventory.{name}"))?;
    }
    if let Some(m) = &inv.base_bridge_mac {
        field(mac(m), || "inventory.base_bridge_mac".into())?;
    }

    field(count(inv.components.len(), list), || {
        "inventory.components".into()
    })?;
    for (i, c) in inv.components.iter().enumerate() {
        field(text(&c.class), || {
            format!("inventory.components[{i}].class")
        })?;
        for (name, v) in [
            ("name", &c.name),
            ("description", &c.description),
            ("model", &c.model),
            ("serial", &c.serial),
            ("hardware_rev", &c.hardware_rev),
            ("firmware_rev", &c.firmware_rev),
            ("software_rev", &c.software_rev),
        ] {
            field(opt_text(v), || format!("inventory.components[{i}].{name}"))?;
        }
    }

    field(count(inv.interfaces.len(), list), || {
        "inventory.interfaces".into()
    })?;
    for (i, it) in inv.interfaces.iter().enumerate() {
        field(text(&it.name), || format!("inventory.interfaces[{i}].name"))?;
        for (name, v) in [
            ("alias", &it.alias),
            ("description", &it.description),
            ("admin_status", &it.admin_status),
            ("oper_status", &it.oper_status),
        ] {
            field(opt_text(v), || format!("inventory.interfaces[{i}].{name}"))?;
        }
        if let Some(m) = &it.mac {
            field(mac(m), || format!("inventory.interfaces[{i}].mac"))?;
        }
    }

    field(count(inv.addresses.len(), list), || {
        "inventory.addresses".into()
    })?;
    for (i, a) in inv.addresses.iter().enumerate() {
        field(ip(&a.address), || {
            format!("inventory.addresses[{i}].address")
        })?;
        let max_prefix = if a.address.contains(':') { 128 } else { 32 };
        if let Some(p) = a.prefix_len {
            field(
                if p > max_prefix {
                    Err(format!("{p} is more than {max_prefix}"))
                } else {
                    Ok(())
                },
                || format!("inventory.addresses[{i}].prefix_len"),
            )?;
        }
    }

    if let Some(l) = &inv.lldp_local {
        field(text(&l.chassis_id_subtype), || {
            "inventory.lldp_local.chassis_id_subtype".into()
        })?;
        field(text(&l.chassis_id), || {
            "inventory.lldp_local.chassis_id".into()
        })?;
        field(opt_text(&l.system_name), || {
            "inventory.lldp_local.system_name".into()
        })?;
    }

    field(count(inv.lldp_neighbors.len(), list), || {
        "inventory.lldp_neighbors".into()
    })?;
    for (i, n) in inv.lldp_neighbors.iter().enumerate() {
        for (name, v) in [
            ("chassis_id_subtype", &n.chassis_id_subtype),
            ("chassis_id", &n.chassis_id),
            ("port_id_subtype", &n.port_id_subtype),
            ("port_id", &n.port_id),
        ] {
            field(text(v), || format!("inventory.lldp_neighbors[{i}].{name}"))?;
        }
        for (name, v) in [
            ("local_port", &n.local_port),
            ("port_description", &n.port_description),
            ("system_name", &n.system_name),
            ("system_description", &n.system_description),
        ] {
            field(opt_text(v), || {
                format!("inventory.lldp_neighbors[{i}].{name}")
            })?;
        }
        field(opt_ip(&n.management_address), || {
            format!("inventory.lldp_neighbors[{i}].management_address")
        })?;
    }

    field(count(inv.cdp_neighbors.len(), list), || {
        "inventory.cdp_neighbors".into()
    })?;
    for (i, n) in inv.cdp_neighbors.iter().enumerate() {
        field(text(&n.device_id), || {
            format!("inventory.cdp_neighbors[{i}].device_id")
        })?;
        for (name, v) in [
            ("local_port", &n.local_port),
            ("port", &n.port),
            ("platform", &n.platform),
        ] {
            field(opt_text(v), || {
                format!("inventory.cdp_neighbors[{i}].{name}")
            })?;
        }
        field(opt_ip(&n.address), || {
            format!("inventory.cdp_neighbors[{i}].address")
        })?;
    }

    field(count(inv.forwarding.len(), table), || {
        "inventory.forwarding".into()
    })?;
    for (i, f) in inv.forwarding.iter().enumerate() {
        field(mac(&f.mac), || format!("inventory.forwarding[{i}].mac"))?;
        field(opt_text(&f.status), || {
            format!("inventory.forwarding[{i}].status")
        })?;
    }

    field(count(inv.arp.len(), table), || "inventory.arp".into())?;
    for (i, a) in inv.arp.iter().enumerate() {
        field(ip(&a.ip), || format!("inventory.arp[{i}].ip"))?;
        field(mac(&a.mac), || format!("inventory.arp[{i}].mac"))?;
    }

    field(count(inv.storage.len(), list), || {
        "inventory.storage".into()
    })?;
    for (i, s) in inv.storage.iter().enumerate() {
        field(text(&s.description), || {
            format!("inventory.storage[{i}].description")
        })?;
        field(text(&s.kind), || format!("inventory.storage[{i}].kind"))?;
    }
    field(count(inv.processors.len(), list), || {
        "inventory.processors".into()
    })?;
    field(count(report.metrics.interfaces.len(), list), || {
        "metrics.interfaces".into()
    })?;
    for (i, c) in report.metrics.interfaces.iter().enumerate() {
        for (name, v) in [
            ("in_octets", c.in_octets),
            ("out_octets", c.out_octets),
            ("in_errors", c.in_errors),
            ("out_errors", c.out_errors),
            ("in_discards", c.in_discards),
            ("out_discards", c.out_discards),
        ] {
            field(storable(v), || format!("metrics.interfaces[{i}].{name}"))?;
        }
    }
    for (i, s) in inv.storage.iter().enumerate() {
        field(storable(Some(s.size_bytes)), || {
            format!("inventory.storage[{i}].size_bytes")
        })?;
        field(storable(Some(s.used_bytes)), || {
            format!("inventory.storage[{i}].used_bytes")
        })?;
    }
    for (i, f) in inv.interfaces.iter().enumerate() {
        field(storable(f.speed_mbps), || {
            format!("inventory.interfaces[{i}].speed_mbps")
        })?;
    }
    for (i, p) in inv.processors.iter().enumerate() {
        field(
            if p.load_percent > 100 {
                Err(format!("{} is more than 100", p.load_percent))
            } else {
                Ok(())
            },
            || format!("inventory.processors[{i}].load_percent"),
        )?;
    }
    // Volatile values are matched to their rows by index: an index twice is ambiguous.
    unique(
        inv.interfaces.iter().map(|f| f.index),
        "inventory.interfaces",
    )?;
    unique(inv.storage.iter().map(|s| s.index), "inventory.storage")?;
    unique(
        inv.processors.iter().map(|p| p.index),
        "inventory.processors",
    )?;
    unique(
        report.metrics.interfaces.iter().map(|c| c.index),
        "metrics.interfaces",
    )?;
    // A clock before 2000 is a poller whose clock was never set; such times would also
    // break the arithmetic of uptime resets.
    let floor = DateTime::<Utc>::from_timestamp(946_684_800, 0).unwrap_or_default();
    for (name, at) in [
        ("collected_at", Some(report.collected_at)),
        ("metrics.at", report.metrics.at),
    ] {
        field(
            match at {
                Some(t) if t < floor => Err(format!(
                    "{} is before 2000-01-01: the poller's clock is wrong",
                    time_str(t)
                )),
                _ => Ok(()),
            },
            || name.into(),
        )?;
    }
    Ok(())
}

/// SurrealDB stores signed 64-bit integers; a larger value would come back as a float.
fn storable(v: Option<u64>) -> Result<(), String> {
    match v {
        Some(n) if i64::try_from(n).is_err() => Err(format!(
            "{n} is larger than {}, the largest integer stored",
            i64::MAX
        )),
        _ => Ok(()),
    }
}

/// Each row's `index` at most once.
fn unique(indexes: impl Iterator<Item = u32>, path: &str) -> Result<(), IngestError> {
    let mut seen = std::collections::BTreeSet::new();
    for (i, index) in indexes.enumerate() {
        if !seen.insert(index) {
            return Err(IngestError::Invalid(format!(
                "{path}[{i}].index: {index} appears twice"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod proptests;
