//! Property tests of the `.snmprec` reader, with generated recordings: no text makes it
//! panic, a bad line is reported with its own number, and every walk written out as a
//! recording reads back as the same walk. `PROPTEST_CASES` sets the number of cases (256 by
//! default).

use proptest::prelude::*;

use super::*;

fn oid() -> impl Strategy<Value = Oid> {
    proptest::collection::vec(prop_oneof![4 => 0u32..10, 1 => any::<u32>()], 1..12).prop_map(Oid)
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::Integer),
        proptest::collection::vec(any::<u8>(), 0..32).prop_map(Value::OctetString),
        oid().prop_map(Value::ObjectId),
        any::<[u8; 4]>().prop_map(Value::IpAddress),
        any::<u32>().prop_map(Value::Counter32),
        any::<u32>().prop_map(Value::Gauge32),
        any::<u32>().prop_map(Value::TimeTicks),
        any::<u64>().prop_map(Value::Counter64),
        proptest::collection::vec(any::<u8>(), 0..32).prop_map(Value::Opaque),
        Just(Value::Null),
    ]
}

/// One recording line of a varbind, as snmpsim writes it; `hex` picks the hex form where
/// both exist.
fn line(o: &Oid, v: &Value, hex: bool) -> String {
    let body = match v {
        Value::Integer(i) => format!("2|{i}"),
        Value::OctetString(b) => match std::str::from_utf8(b) {
            Ok(s) if !hex && !s.contains(['\n', '\r']) => format!("4|{s}"),
            _ => format!("4x|{}", hex::encode(b)),
        },
        Value::ObjectId(id) => format!("6|{id}"),
        Value::IpAddress(a) if hex => format!("64x|{}", hex::encode(a)),
        Value::IpAddress(a) => format!("64|{}", std::net::Ipv4Addr::from(*a)),
        Value::Counter32(n) => format!("65|{n}"),
        Value::Gauge32(n) => format!("66|{n}"),
        Value::TimeTicks(n) => format!("67|{n}"),
        Value::Counter64(n) => format!("70|{n}"),
        Value::Opaque(b) => format!("68x|{}", hex::encode(b)),
        Value::Null => "5|".to_string(),
    };
    format!("{o}|{body}")
}

/// Lines that look like recordings: the right shape, with any part wrong.
fn hostile_line() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9.]{0,12}\\|[0-9x:a-z]{0,4}\\|[^\n]{0,20}",
        (
            "[ .]?[0-9]{1,12}(\\.[0-9]{1,11}){0,6}",
            prop_oneof![
                Just("2"),
                Just("4"),
                Just("4x"),
                Just("5"),
                Just("6"),
                Just("64"),
                Just("64x"),
                Just("65"),
                Just("66"),
                Just("67"),
                Just("68"),
                Just("68x"),
                Just("70"),
                Just("70x"),
                Just("x"),
                Just(""),
                Just("2:numeric"),
                Just("99"),
            ],
            prop_oneof![
                "-?[0-9]{0,25}",
                "[0-9a-fA-F]{0,17}",
                "[0-9.]{0,20}",
                "[^\n]{0,20}",
            ],
        )
            .prop_map(|(o, t, v)| format!("{o}|{t}|{v}")),
    ]
}

proptest! {
    #[test]
    fn any_text_is_read_or_refused_with_a_line_number(
        lines in proptest::collection::vec(hostile_line(), 0..20),
        crlf in any::<bool>(),
    ) {
        let text = lines.join(if crlf { "\r\n" } else { "\n" });
        if let Err(e) = parse(&text) {
            prop_assert!(e.line >= 1 && e.line <= text.lines().count(), "{e}");
            prop_assert_eq!(e.to_string(), format!("line {}: {}", e.line, e.reason));
        }
    }

    #[test]
    fn a_walk_written_as_a_recording_reads_back(
        varbinds in proptest::collection::vec((oid(), value(), any::<bool>()), 0..30),
        crlf in any::<bool>(),
    ) {
        let walk = Walk(varbinds.iter().map(|(o, v, _)| (o.clone(), v.clone())).collect());
        // Varbinds in any order, the one kept for a repeated OID written last, and comments.
        let mut text = String::from("# a recording\n");
        for (o, v, hex) in varbinds.iter().rev() {
            text.push_str(&line(o, walk.get(o).unwrap_or(v), *hex));
            text.push_str(if crlf { "\r\n" } else { "\n" });
        }
        prop_assert_eq!(parse(&text), Ok(walk));
    }

    #[test]
    fn a_bad_line_is_named_by_its_number(
        good in proptest::collection::vec((oid(), value(), any::<bool>()), 0..10),
        at in any::<proptest::sample::Index>(),
        bad in prop_oneof![
            Just("1.3.6.1|65|4294967296".to_string()),
            Just("1.3.6.1|2|x".to_string()),
            Just("1.3.6.1|4x|abc".to_string()),
            Just("1.3.6.1|64x|0a0000".to_string()),
            Just("no pipes".to_string()),
            Just("1.3..6|4|x".to_string()),
            Just("1.3.6|41|x".to_string()),
            Just("1.3.6|6|".to_string()),
            Just("1.3.6|4x|zz".to_string()),
        ],
    ) {
        let mut lines: Vec<String> = good.iter().map(|(o, v, h)| line(o, v, *h)).collect();
        let n = at.index(lines.len() + 1);
        lines.insert(n, bad);
        let e = parse(&lines.join("\n")).expect_err("a bad line");
        prop_assert_eq!(e.line, n + 1);
    }
}
