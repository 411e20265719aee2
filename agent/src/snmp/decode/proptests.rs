//! Property tests of the decoding of what SNMP agents send, with generated inputs: no input
//! makes a decoder panic, every decoder is deterministic, and what comes out is what the
//! rest of the agent and the server rely on (trimmed text, canonical MACs, addresses that
//! parse, identifiers without control characters). `PROPTEST_CASES` sets the number of
//! cases (256 by default).

use proptest::prelude::*;

use super::*;

/// Bytes as devices send them: anything, or text in a few encodings with NUL padding,
/// whitespace and a cut-off tail.
fn octets() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..40),
        (any::<String>(), 0usize..4, 0usize..3).prop_map(|(s, nuls, cut)| {
            let mut b = s.into_bytes();
            b.truncate(b.len().saturating_sub(cut));
            b.extend(std::iter::repeat_n(0, nuls));
            b
        }),
        "[ \t\r\n]{0,3}[0-9a-fA-F:.-]{0,20}[ \t\r\n\0]{0,3}".prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 6..=6),
    ]
}

fn is_canonical_mac(m: &str) -> bool {
    m.len() == 17
        && m.split(':').count() == 6
        && m.split(':').all(|p| {
            p.len() == 2
                && p.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

proptest! {
    #[test]
    fn text_is_trimmed_deterministic_and_exact_for_utf8(b in octets()) {
        let t = text(&b);
        prop_assert_eq!(&t, &text(&b));
        prop_assert_eq!(t.trim(), t.as_str());
        let end = b.iter().rposition(|c| *c != 0).map_or(0, |i| i + 1);
        if let Ok(s) = std::str::from_utf8(&b[..end]) {
            prop_assert_eq!(t.as_str(), s.trim());
        }
        prop_assert_eq!(opt_text(&b).is_none(), t.is_empty());
    }

    #[test]
    fn identifiers_are_never_empty_nor_control_characters(b in octets()) {
        let id = identifier(&b);
        prop_assert_eq!(&id, &identifier(&b));
        if let Some(s) = id {
            prop_assert!(!s.is_empty());
            prop_assert!(!s.chars().any(char::is_control), "{s:?}");
        }
        let p = printable_or_hex(&b);
        prop_assert!(!p.chars().any(char::is_control), "{p:?}");
    }

    #[test]
    fn macs_are_canonical_unicast(b in octets()) {
        if let Some(m) = mac(&b) {
            prop_assert!(is_canonical_mac(&m), "{m:?}");
            prop_assert_eq!(cmdb_shared::ident::normalize_mac(&m), Some(m.clone()));
            let first = u8::from_str_radix(&m[..2], 16).unwrap_or(1);
            prop_assert_eq!(first & 1, 0, "multicast {}", m);
        }
    }

    #[test]
    fn hex_colons_round_trips(b in proptest::collection::vec(any::<u8>(), 0..40)) {
        let h = hex_colons(&b);
        prop_assert_eq!(h.len(), (3 * b.len()).saturating_sub(1));
        prop_assert_eq!(hex::decode(h.replace(':', "")).ok(), Some(b));
    }

    #[test]
    fn addresses_parse_back(kind in prop_oneof![Just(1i64), Just(2), Just(3), Just(4), any::<i64>()],
                            b in proptest::collection::vec(any::<u8>(), 0..24)) {
        for a in [family_address(&b), inet_address(kind, &b)].into_iter().flatten() {
            prop_assert!(a.parse::<std::net::IpAddr>().is_ok(), "{a:?}");
        }
    }

    #[test]
    fn lldp_ids_decode_without_control_characters(
        chassis in any::<bool>(),
        subtype in prop_oneof![0i64..10, any::<i64>()],
        b in octets(),
    ) {
        let which = if chassis { LldpId::Chassis } else { LldpId::Port };
        let (name, value) = lldp_id(which, subtype, &b);
        let again = lldp_id(which, subtype, &b);
        prop_assert_eq!((name, &value), (again.0, &again.1));
        prop_assert!(!value.chars().any(char::is_control), "{name} {value:?}");
        if name == "networkAddress" && value.parse::<std::net::IpAddr>().is_err() {
            // Not an address: printable text or hex, as for any other subtype.
            prop_assert_eq!(value, printable_or_hex(&b));
        }
    }
}
