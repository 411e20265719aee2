//! Reader of snmpsim recordings (`.snmprec`): one `OID|TYPE|VALUE` per line, where TYPE is
//! the BER tag in decimal (`2` INTEGER, `4` OCTET STRING, `5` NULL, `6` OBJECT IDENTIFIER,
//! `64` IpAddress, `65` Counter32, `66` Gauge32, `67` TimeTicks, `68` Opaque, `70` Counter64)
//! followed by `x` when VALUE is hex-encoded. Lines may come in any order (some recordings
//! were captured from agents that answered out of order). The fixtures of the MIB parsers are
//! excerpts of recordings of real devices in this format.

use super::oid::{Oid, Value, Walk};

/// A line that could not be read, with its number (1-based) and why.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("line {line}: {reason}")]
pub struct BadLine {
    pub line: usize,
    pub reason: String,
}

/// Reads a recording. Lines with snmpsim variation modules (`TYPE:module`) are skipped:
/// their values are computed by the simulator, not recorded.
pub fn parse(text: &str) -> Result<Walk, BadLine> {
    let mut walk = Walk::default();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |reason: String| BadLine {
            line: n + 1,
            reason,
        };
        let mut parts = line.splitn(3, '|');
        let (Some(oid), Some(tag), Some(value)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("expected OID|TYPE|VALUE".into()));
        };
        if tag.contains(':') {
            continue;
        }
        let oid: Oid = oid.parse().map_err(|e| bad(format!("{e}")))?;
        let (tag, hex) = match tag.strip_suffix('x') {
            Some(t) => (t, true),
            None => (tag, false),
        };
        let bytes = || -> Result<Vec<u8>, BadLine> {
            if hex {
                hex::decode(value).map_err(|e| bad(format!("bad hex value: {e}")))
            } else {
                Ok(value.as_bytes().to_vec())
            }
        };
        let text = || -> Result<String, BadLine> {
            String::from_utf8(bytes()?).map_err(|_| bad("value is not text".into()))
        };
        let number = |t: String| -> Result<u64, BadLine> {
            t.trim()
                .parse::<u64>()
                .map_err(|_| bad(format!("bad number {t:?}")))
        };
        let v = match tag {
            "2" => Value::Integer(
                text()?
                    .trim()
                    .parse()
                    .map_err(|_| bad(format!("bad integer {value:?}")))?,
            ),
            "4" => Value::OctetString(bytes()?),
            "5" => Value::Null,
            "6" => Value::ObjectId(text()?.parse().map_err(|e| bad(format!("{e}")))?),
            "64" => {
                let b = bytes()?;
                let octets: [u8; 4] = if hex {
                    b.try_into()
                        .map_err(|_| bad("IpAddress must be 4 bytes".into()))?
                } else {
                    let ip: std::net::Ipv4Addr = text()?
                        .trim()
                        .parse()
                        .map_err(|_| bad(format!("bad IpAddress {value:?}")))?;
                    ip.octets()
                };
                Value::IpAddress(octets)
            }
            "65" => Value::Counter32(u32_of(number(text()?)?).map_err(bad)?),
            "66" => Value::Gauge32(u32_of(number(text()?)?).map_err(bad)?),
            "67" => Value::TimeTicks(u32_of(number(text()?)?).map_err(bad)?),
            "68" => Value::Opaque(bytes()?),
            "70" => Value::Counter64(number(text()?)?),
            other => return Err(bad(format!("unknown type tag {other:?}"))),
        };
        walk.insert(oid, v);
    }
    Ok(walk)
}

fn u32_of(n: u64) -> Result<u32, String> {
    u32::try_from(n).map_err(|_| format!("{n} does not fit in 32 bits"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oid;

    #[test]
    fn every_type_of_a_recording_is_read() {
        let w = parse(
            "1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.9.1.516\n\
             1.3.6.1.2.1.1.1.0|4|Cisco IOS Software, C3560 Software\n\
             1.3.6.1.2.1.1.3.0|67|148081866\n\
             1.3.6.1.2.1.2.2.1.6.1|4x|001c0fb2a1c0\n\
             1.3.6.1.2.1.2.2.1.10.1|65|4294967295\n\
             1.3.6.1.2.1.31.1.1.1.6.1|70|18446744073709551615\n\
             1.3.6.1.2.1.4.20.1.1.10.0.0.1|64|10.0.0.1\n\
             1.3.6.1.2.1.4.20.1.1.10.0.0.2|64x|0a000002\n\
             1.3.6.1.2.1.2.2.1.8.1|2|-1\n\
             1.3.6.1.2.1.99.1.0|2:numeric|min=1,max=2\n",
        )
        .expect("recording");
        assert_eq!(w.len(), 9, "the variation line is skipped");
        assert_eq!(
            w.get(&oid!("1.3.6.1.2.1.2.2.1.6.1")),
            Some(&Value::OctetString(vec![
                0x00, 0x1c, 0x0f, 0xb2, 0xa1, 0xc0
            ]))
        );
        assert_eq!(
            w.get(&oid!("1.3.6.1.2.1.4.20.1.1.10.0.0.2")),
            Some(&Value::IpAddress([10, 0, 0, 2]))
        );
        assert_eq!(
            w.get(&oid!("1.3.6.1.2.1.31.1.1.1.6.1"))
                .and_then(Value::as_u64),
            Some(u64::MAX)
        );
        assert_eq!(
            w.get(&oid!("1.3.6.1.2.1.1.2.0")),
            Some(&Value::ObjectId(oid!("1.3.6.1.4.1.9.1.516")))
        );
    }

    #[test]
    fn a_malformed_line_is_named() {
        let e = parse("1.3.6.1.2.1.1.1.0|4|ok\n1.3.6.1.2.1.1.3.0|67|soon\n").expect_err("bad");
        assert_eq!(e.line, 2);
        assert!(e.reason.contains("soon"), "{e}");
        assert!(
            parse("1.3.6|65|4294967296\n").is_err(),
            "Counter32 overflow"
        );
        assert!(parse("no pipes here\n").is_err());
    }
}

#[cfg(test)]
mod proptests;
