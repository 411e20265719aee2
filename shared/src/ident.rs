//! Normalisation of identifying values: hardware UUIDs, serial numbers, MAC addresses.
//!
//! Firmware lies in well-known ways. SMBIOS 2.6 changed the byte order of the first three
//! UUID fields, so the same board is reported as `44454c4c-…` by one tool and `4c4c4544-…`
//! by another; OEMs ship placeholder UUIDs and serials ("03000200-0400-0500-0006-000700080009",
//! "To Be Filled By O.E.M.") on thousands of machines. Identification must use neither a
//! placeholder nor a byte order as a key. These functions return `None` for values that
//! identify nothing.

/// Canonical key of a hardware UUID: lowercase, hyphenated, and the smaller of the UUID and
/// its SMBIOS byte-swapped form, so both orders give the same key. `None` for malformed or
/// known-bogus values.
pub fn canonical_hardware_uuid(raw: &str) -> Option<String> {
    let hex: String = raw
        .trim()
        .chars()
        .filter(|c| *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    if is_bogus_uuid_hex(&hex) {
        return None;
    }
    let swapped = swap_uuid_hex(&hex);
    if is_bogus_uuid_hex(&swapped) {
        return None;
    }
    Some(hyphenate(std::cmp::min(&hex, &swapped)))
}

/// Byte-swaps the first three fields (4, 2 and 2 bytes) of a 32-digit hex UUID.
fn swap_uuid_hex(hex: &str) -> String {
    let b = hex.as_bytes();
    let mut out = String::with_capacity(32);
    for (start, len) in [(0usize, 4usize), (8, 2), (12, 2)] {
        for i in (0..len).rev() {
            let p = start + 2 * i;
            out.push(b[p] as char);
            out.push(b[p + 1] as char);
        }
    }
    out.push_str(&hex[16..]);
    out
}

fn hyphenate(hex: &str) -> String {
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// UUIDs shipped on many machines at once (values seen in the wild, from fleet inventories and
/// the lists kept by GLPI/FusionInventory and osquery users).
const BOGUS_UUIDS: &[&str] = &[
    "03000200040005000006000700080009",
    "00000000000000000000000000000001",
    "12345678123456781234567812345678",
    "4c4c4544000000000000000000000000",
    "fefefefefefefefefefefefefefefefe",
];

fn is_bogus_uuid_hex(hex: &str) -> bool {
    let first = hex.as_bytes()[0];
    // All one digit (all zeros, all f's, …).
    if hex.bytes().all(|b| b == first) {
        return true;
    }
    BOGUS_UUIDS.contains(&hex)
}

/// Serial numbers that identify nothing: vendor placeholders, blanks and repeated characters.
const PLACEHOLDER_SERIALS: &[&str] = &[
    "to be filled by o.e.m.",
    "to be filled by oem",
    "default string",
    "system serial number",
    "chassis serial number",
    "base board serial number",
    "serial number",
    "serialnumber",
    "not specified",
    "not applicable",
    "not available",
    "none",
    "null",
    "n/a",
    "na",
    "invalid",
    "unknown",
    "o.e.m.",
    "oem",
    "0123456789",
    "1234567890",
    "123456789",
    "empty",
    "default",
    "sn",
    "x",
];

/// The serial as an identification key (trimmed, uppercase), or `None` for placeholders.
pub fn usable_serial(raw: &str) -> Option<String> {
    let s = raw.trim().trim_matches('\0').trim();
    if s.len() < 3 {
        return None;
    }
    let lower = s.to_ascii_lowercase();
    if PLACEHOLDER_SERIALS.contains(&lower.as_str()) {
        return None;
    }
    let first = lower.as_bytes()[0];
    if lower.bytes().all(|b| b == first || b == b' ' || b == b'-') {
        return None;
    }
    // VMware and some OEMs prefix real serials with vendor text; keep them as read.
    Some(s.to_ascii_uppercase())
}

/// Normalises a MAC to lowercase colon form; `None` for malformed, all-zero, broadcast or
/// multicast addresses.
pub fn normalize_mac(raw: &str) -> Option<String> {
    let hex: String = raw
        .trim()
        .chars()
        .filter(|c| !matches!(c, ':' | '-' | '.'))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if hex.len() != 12 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let first = u8::from_str_radix(&hex[0..2], 16).ok()?;
    if hex.bytes().all(|b| b == b'0') || hex.bytes().all(|b| b == b'f') || first & 0x01 == 1 {
        return None;
    }
    let parts: Vec<&str> = (0..6).map(|i| &hex[2 * i..2 * i + 2]).collect();
    Some(parts.join(":"))
}

/// A MAC usable as a host identifier: valid, unicast and globally administered (a locally
/// administered bit means the address was made up by software: VMs, bridges, bonds).
pub fn permanent_mac(raw: &str) -> Option<String> {
    let mac = normalize_mac(raw)?;
    let first = u8::from_str_radix(&mac[0..2], 16).ok()?;
    (first & 0x02 == 0).then_some(mac)
}

/// Lowercase FQDN with a trailing dot removed; `None` unless it has a domain part.
pub fn usable_fqdn(raw: &str) -> Option<String> {
    let f = raw.trim().trim_end_matches('.').to_ascii_lowercase();
    if !f.contains('.') || f.starts_with("localhost") || f.ends_with(".localdomain") {
        return None;
    }
    Some(f)
}

/// `/etc/machine-id` as a key: 32 lowercase hex digits, not all zeros.
pub fn usable_machine_id(raw: &str) -> Option<String> {
    let m = raw.trim().to_ascii_lowercase();
    (m.len() == 32 && m.bytes().all(|b| b.is_ascii_hexdigit()) && m.bytes().any(|b| b != b'0'))
        .then_some(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_swapped_uuids_have_the_same_key() {
        let dell = "4c4c4544-0044-3510-8052-b4c04f4e5331";
        let swapped = "44454c4c-4400-1035-8052-b4c04f4e5331";
        assert_eq!(
            canonical_hardware_uuid(dell),
            canonical_hardware_uuid(swapped)
        );
        assert!(canonical_hardware_uuid(dell).is_some());
    }

    #[test]
    fn uuid_key_is_case_and_hyphen_insensitive() {
        assert_eq!(
            canonical_hardware_uuid("EC2A1B2C-3D4E-5F60-7182-93A4B5C6D7E8"),
            canonical_hardware_uuid("ec2a1b2c3d4e5f60718293a4b5c6d7e8")
        );
    }

    #[test]
    fn bogus_uuids_identify_nothing() {
        for u in [
            "00000000-0000-0000-0000-000000000000",
            "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF",
            "03000200-0400-0500-0006-000700080009",
            "00020003-0004-0005-0006-000700080009",
            "not-a-uuid",
            "",
        ] {
            assert_eq!(canonical_hardware_uuid(u), None, "{u}");
        }
    }

    #[test]
    fn placeholder_serials_identify_nothing() {
        for s in [
            "To Be Filled By O.E.M.",
            "Default string",
            "System Serial Number",
            "0000000000",
            "  ",
            "N/A",
            "Not Specified",
            "0123456789",
            "XXXXXXXX",
        ] {
            assert_eq!(usable_serial(s), None, "{s}");
        }
        assert_eq!(usable_serial(" cz1234abcd "), Some("CZ1234ABCD".into()));
        assert_eq!(
            usable_serial("VMware-42 1a 2b 3c"),
            Some("VMWARE-42 1A 2B 3C".into())
        );
    }

    #[test]
    fn macs_are_normalised_and_locally_administered_ones_are_not_permanent() {
        assert_eq!(
            normalize_mac("00-1A-2B-3C-4D-5E"),
            Some("00:1a:2b:3c:4d:5e".into())
        );
        assert_eq!(
            normalize_mac("001a.2b3c.4d5e"),
            Some("00:1a:2b:3c:4d:5e".into())
        );
        assert_eq!(normalize_mac("00:00:00:00:00:00"), None);
        assert_eq!(normalize_mac("01:00:5e:00:00:01"), None);
        assert_eq!(permanent_mac("02:42:ac:11:00:02"), None);
        // QEMU's 52:54:00 prefix has the locally administered bit set: not a hardware identity.
        assert_eq!(permanent_mac("52:54:00:12:34:56"), None);
        assert_eq!(
            permanent_mac("B4:96:91:12:34:56"),
            Some("b4:96:91:12:34:56".into())
        );
    }

    #[test]
    fn fqdn_and_machine_id_keys() {
        assert_eq!(
            usable_fqdn("Web01.Example.COM."),
            Some("web01.example.com".into())
        );
        assert_eq!(usable_fqdn("web01"), None);
        assert_eq!(usable_fqdn("localhost.localdomain"), None);
        assert_eq!(
            usable_machine_id("3D1219C7C4C5404AAA1F6D2A48ADFDA4\n"),
            Some("3d1219c7c4c5404aaa1f6d2a48adfda4".into())
        );
        assert_eq!(usable_machine_id("0000000000000000000000000000000"), None);
    }
}
