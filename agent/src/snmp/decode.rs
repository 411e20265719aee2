//! Decoding what real SNMP agents return: text in whatever encoding the device uses, padded
//! or truncated; MAC addresses as bytes or as text; LLDP identifiers whose meaning depends on
//! a subtype.

use std::net::{Ipv4Addr, Ipv6Addr};

use cmdb_shared::ident::normalize_mac;

/// An OCTET STRING as text: trailing NULs and surrounding whitespace removed; UTF-8 when it
/// is (a multi-byte character cut off at the end by a length limit is dropped), else GBK
/// (Chinese vendors' default), else Latin-1, which maps every byte. Never fails.
pub fn text(bytes: &[u8]) -> String {
    let end = bytes.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
    let b = &bytes[..end];
    let s = match std::str::from_utf8(b) {
        Ok(s) => s.to_string(),
        // UTF-8 text (it has multi-byte characters) cut inside its last character by a length
        // limit: keep what was sent whole. A lone high byte after plain ASCII is more likely
        // Latin-1, and is left to the fallbacks.
        Err(e) if e.error_len().is_none() && !b[..e.valid_up_to()].is_ascii() => {
            String::from_utf8_lossy(&b[..e.valid_up_to()]).into_owned()
        }
        Err(_) => encoding_rs::GBK
            .decode_without_bom_handling_and_without_replacement(b)
            .map(|c| c.into_owned())
            .unwrap_or_else(|| b.iter().map(|&c| char::from(c)).collect()),
    };
    s.trim().to_string()
}

/// [`text`], or `None` when empty.
pub fn opt_text(bytes: &[u8]) -> Option<String> {
    Some(text(bytes)).filter(|s| !s.is_empty())
}

/// An identifier that is usually text but sometimes raw bytes (CDP device ids and ports:
/// some devices send their MAC as 6 bytes): [`text`] when that has no control characters,
/// else colon-separated hex (a MAC's usual form for 6 bytes).
pub fn identifier(bytes: &[u8]) -> Option<String> {
    let t = text(bytes);
    if t.chars().any(char::is_control) {
        return Some(hex_colons(bytes));
    }
    Some(t).filter(|s| !s.is_empty())
}

/// A MAC address from 6 raw bytes or from its text forms (`00:1c:0f:b2:a1:c0`,
/// `001c.0fb2.a1c0`, `00-1C-0F-B2-A1-C0`); `None` when it is not a usable unicast address.
pub fn mac(bytes: &[u8]) -> Option<String> {
    if bytes.len() == 6 {
        return normalize_mac(&hex::encode(bytes));
    }
    normalize_mac(std::str::from_utf8(bytes).ok()?)
}

/// Formats raw bytes as colon-separated hex (identifiers that are not addresses).
pub fn hex_colons(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// An address from an IANA address-family-prefixed octet string (LLDP `networkAddress`
/// subtype: family 1 = IPv4, 2 = IPv6).
pub fn family_address(bytes: &[u8]) -> Option<String> {
    match bytes {
        [1, a, b, c, d] => Some(Ipv4Addr::new(*a, *b, *c, *d).to_string()),
        [2, rest @ ..] if rest.len() == 16 => {
            let arr: [u8; 16] = rest.try_into().ok()?;
            Some(Ipv6Addr::from(arr).to_string())
        }
        _ => None,
    }
}

/// An `InetAddress` of a given `InetAddressType` (1 ipv4, 2 ipv6, 3 ipv4z, 4 ipv6z: the zone
/// index that follows is dropped).
pub fn inet_address(kind: i64, bytes: &[u8]) -> Option<String> {
    match (kind, bytes.len()) {
        (1, 4) | (3, 8) => Some(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]).to_string()),
        (2, 16) | (4, 20) => {
            let arr: [u8; 16] = bytes[..16].try_into().ok()?;
            Some(Ipv6Addr::from(arr).to_string())
        }
        _ => None,
    }
}

/// How an LLDP chassis or port identifier is to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LldpId {
    Chassis,
    Port,
}

/// Decodes an LLDP chassis id (`LldpChassisIdSubtype`) or port id (`LldpPortIdSubtype`):
/// MAC addresses as MACs, network addresses as IP addresses, names and aliases as text,
/// anything else as text if printable, else hex. Returns the subtype's name too.
pub fn lldp_id(which: LldpId, subtype: i64, bytes: &[u8]) -> (&'static str, String) {
    let name = match (which, subtype) {
        (LldpId::Chassis, 1) => "chassisComponent",
        (LldpId::Chassis, 2) | (LldpId::Port, 1) => "interfaceAlias",
        (LldpId::Chassis, 3) | (LldpId::Port, 2) => "portComponent",
        (LldpId::Chassis, 4) | (LldpId::Port, 3) => "macAddress",
        (LldpId::Chassis, 5) | (LldpId::Port, 4) => "networkAddress",
        (LldpId::Chassis, 6) | (LldpId::Port, 5) => "interfaceName",
        (LldpId::Port, 6) => "agentCircuitId",
        (LldpId::Chassis, 7) | (LldpId::Port, 7) => "local",
        _ => "unknown",
    };
    let value = match name {
        "macAddress" => bytes
            .len()
            .eq(&6)
            .then(|| hex_colons(bytes))
            .or_else(|| mac(bytes)),
        "networkAddress" => family_address(bytes),
        _ => None,
    }
    .unwrap_or_else(|| printable_or_hex(bytes));
    (name, value)
}

/// Text if the bytes are printable text, else colon-separated hex.
pub fn printable_or_hex(bytes: &[u8]) -> String {
    let end = bytes.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
    match std::str::from_utf8(&bytes[..end]) {
        Ok(s) if !s.chars().any(char::is_control) => s.trim().to_string(),
        _ => hex_colons(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_survives_what_devices_send() {
        assert_eq!(text(b"C3560-24PS\0\0\0\0"), "C3560-24PS");
        assert_eq!(text(b"  core-sw1 \n"), "core-sw1");
        // "交换机" (switch) in GBK, as Huawei and H3C devices send it.
        assert_eq!(text(&[0xbd, 0xbb, 0xbb, 0xbb, 0xbb, 0xfa]), "交换机");
        // UTF-8 text cut inside a multi-byte character by a length limit keeps whole characters.
        assert_eq!(text(&[b'Z', 0xc3, 0xbc, b'r', 0xc3]), "Zür");
        // Latin-1 "Café" that is neither UTF-8 nor GBK.
        assert_eq!(text(&[b'C', b'a', b'f', 0xe9]), "Café");
        assert_eq!(opt_text(b"\0\0"), None);
    }

    #[test]
    fn macs_come_as_bytes_or_text() {
        assert_eq!(
            mac(&[0x00, 0x1c, 0x0f, 0xb2, 0xa1, 0xc0]).as_deref(),
            Some("00:1c:0f:b2:a1:c0")
        );
        assert_eq!(mac(b"001c.0fb2.a1c0").as_deref(), Some("00:1c:0f:b2:a1:c0"));
        assert_eq!(mac(&[0; 6]), None);
        assert_eq!(mac(b"short"), None);
    }

    #[test]
    fn identifiers_sent_as_raw_bytes_become_hex() {
        // cdpCacheDeviceId of a ProCurve's neighbours (snmpsim-data hpe-procurve-516733-b21).
        assert_eq!(
            identifier(&[0xe8, 0x39, 0x35, 0x1a, 0xca, 0x99]).as_deref(),
            Some("e8:39:35:1a:ca:99")
        );
        assert_eq!(
            identifier(&[0x8c, 0x60, 0x4f, 0x19, 0x16, 0x3a]).as_deref(),
            Some("8c:60:4f:19:16:3a")
        );
        assert_eq!(
            identifier(b"NWPU-CA-5548-01(SSI183706KP)").as_deref(),
            Some("NWPU-CA-5548-01(SSI183706KP)")
        );
        assert_eq!(identifier(b"\0\0"), None);
    }

    #[test]
    fn lldp_ids_are_decoded_by_subtype() {
        let mac = [0x00, 0x05, 0x86, 0x71, 0xe2, 0xc0];
        assert_eq!(
            lldp_id(LldpId::Chassis, 4, &mac),
            ("macAddress", "00:05:86:71:e2:c0".to_string())
        );
        assert_eq!(
            lldp_id(LldpId::Port, 5, b"xe-0/0/0"),
            ("interfaceName", "xe-0/0/0".to_string())
        );
        assert_eq!(
            lldp_id(LldpId::Chassis, 5, &[1, 192, 0, 2, 7]),
            ("networkAddress", "192.0.2.7".to_string())
        );
        assert_eq!(
            lldp_id(LldpId::Port, 7, &[0x00, 0x00, 0x02, 0x0c]),
            ("local", "00:00:02:0c".to_string())
        );
        assert_eq!(
            lldp_id(LldpId::Port, 7, b"531"),
            ("local", "531".to_string())
        );
    }

    #[test]
    fn inet_addresses_by_type() {
        assert_eq!(inet_address(1, &[10, 1, 2, 3]).as_deref(), Some("10.1.2.3"));
        let mut v6 = [0u8; 16];
        v6[0] = 0xfe;
        v6[1] = 0x80;
        v6[15] = 1;
        assert_eq!(inet_address(2, &v6).as_deref(), Some("fe80::1"));
        assert_eq!(inet_address(1, &[10, 1, 2]), None);
    }
}

#[cfg(test)]
mod proptests;
