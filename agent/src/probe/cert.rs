//! The expiry (`notAfter`) of an X.509 certificate, read from its DER encoding.
//!
//! A probe needs exactly one field of the peer certificate, so this walks the few DER
//! elements in front of it (RFC 5280 §4.1) instead of linking a general X.509 parser:
//! `Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL,
//! serialNumber, signature, issuer, validity SEQUENCE { notBefore, notAfter }, … }, … }`.
//! Times are UTCTime (`YYMMDDHHMMSSZ`, years 1950–2049) or GeneralizedTime
//! (`YYYYMMDDHHMMSSZ`), always in UTC for certificates (§4.1.2.5).

use chrono::{DateTime, NaiveDate, Utc};

const SEQUENCE: u8 = 0x30;
const VERSION: u8 = 0xA0;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;

/// One DER element: its tag, its contents and what follows it.
fn element(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        // Long form: the low bits say how many length bytes follow (at most 4 here: no
        // certificate is 4 GiB).
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// The contents of an element that must have `tag`.
fn tagged(der: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (t, content, rest) = element(der)?;
    (t == tag).then_some((content, rest))
}

/// The certificate's `notAfter`, or `None` when `der` is not a certificate.
pub fn not_after(der: &[u8]) -> Option<DateTime<Utc>> {
    let (cert, _) = tagged(der, SEQUENCE)?;
    let (tbs, _) = tagged(cert, SEQUENCE)?;
    let mut rest = tbs;
    if rest.first() == Some(&VERSION) {
        rest = element(rest)?.2;
    }
    // serialNumber, signature, issuer.
    for _ in 0..3 {
        rest = element(rest)?.2;
    }
    let (validity, _) = tagged(rest, SEQUENCE)?;
    let (_, _, after_not_before) = element(validity)?;
    let (tag, time, _) = element(after_not_before)?;
    parse_time(tag, time)
}

fn parse_time(tag: u8, text: &[u8]) -> Option<DateTime<Utc>> {
    let text = std::str::from_utf8(text).ok()?.strip_suffix('Z')?;
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let num = |range: std::ops::Range<usize>| text.get(range)?.parse::<u32>().ok();
    let (year, rest) = match (tag, text.len()) {
        (UTC_TIME, 12) => {
            let yy = num(0..2)?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, 2)
        }
        (GENERALIZED_TIME, 14) => (num(0..4)?, 4),
        _ => return None,
    };
    let at = |i: usize| num(rest + i..rest + i + 2);
    NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, at(0)?, at(2)?)?
        .and_hms_opt(at(4)?, at(6)?, at(8)?)
        .map(|t| t.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;

    fn der(name: &str) -> Vec<u8> {
        let path = format!("{}/fixtures/probe/{name}", env!("CARGO_MANIFEST_DIR"));
        CertificateDer::from_pem_file(&path)
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .to_vec()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().expect("timestamp")
    }

    #[test]
    fn a_utc_time_expiry_is_read() {
        // `openssl x509 -noout -enddate`: notAfter=Jun  4 11:04:38 2035 GMT
        assert_eq!(
            not_after(&der("isrg-root-x1.pem")),
            Some(utc("2035-06-04T11:04:38Z"))
        );
    }

    #[test]
    fn a_generalized_time_expiry_is_read() {
        // notAfter=Dec  9 06:41:02 2052 GMT (years from 2050 are GeneralizedTime).
        assert_eq!(
            not_after(&der("localhost.pem")),
            Some(utc("2052-12-09T06:41:02Z"))
        );
    }

    #[test]
    fn utc_time_years_pivot_at_1950() {
        assert_eq!(
            parse_time(UTC_TIME, b"491231235959Z"),
            Some(utc("2049-12-31T23:59:59Z"))
        );
        assert_eq!(
            parse_time(UTC_TIME, b"500101000000Z"),
            Some(utc("1950-01-01T00:00:00Z"))
        );
        assert_eq!(parse_time(UTC_TIME, b"500101000000"), None, "no Z");
        assert_eq!(parse_time(GENERALIZED_TIME, b"20501301000000Z"), None);
    }

    #[test]
    fn anything_else_is_none() {
        let cert = der("isrg-root-x1.pem");
        for cut in [0, 1, 2, 10, 200] {
            assert_eq!(not_after(&cert[..cut]), None, "truncated at {cut}");
        }
        assert_eq!(not_after(b"not a certificate"), None);
    }
}
