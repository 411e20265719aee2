//! Discovery sweeps: every address of a range is probed (a GET of sysObjectID, sysName and
//! sysDescr) with each credential in turn, a bounded number at a time; the addresses that
//! answer are the responders, polled afterwards like configured targets.

use std::net::{IpAddr, SocketAddr};

use futures_util::StreamExt;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::client::{Client, Credentials, Options, SnmpError};
use super::oid::Value;
use super::{decode, enterprise};

/// The largest range one sweep entry may cover: a /16 of IPv4 (or its IPv6 equivalent), so
/// a typo such as `/8` cannot start a sweep of 16 million addresses.
pub const MAX_ADDRESSES: u128 = 65_536;

const SYS_DESCR: &str = "1.3.6.1.2.1.1.1.0";
const SYS_OBJECT_ID: &str = "1.3.6.1.2.1.1.2.0";
const SYS_NAME: &str = "1.3.6.1.2.1.1.5.0";

/// Parses `10.0.0.0/24`, `2001:db8::/120` or a single address.
pub fn parse_range(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    let net = match s.parse::<IpNet>() {
        Ok(n) => n.trunc(),
        Err(_) => match s.parse::<IpAddr>() {
            Ok(ip) => IpNet::from(ip),
            Err(_) => {
                return Err(format!(
                    "{s:?} is not a network such as 10.0.0.0/24 or an address"
                ));
            }
        },
    };
    let bits = net.max_prefix_len() - net.prefix_len();
    if bits >= 128 || (1u128 << bits) > MAX_ADDRESSES {
        return Err(format!(
            "{s}: more than {MAX_ADDRESSES} addresses; split it into ranges of /16 (IPv4) or /112 (IPv6) at most"
        ));
    }
    Ok(net)
}

/// The addresses of a range worth probing: all of a /31, /32, /127 or /128, otherwise
/// without the network and (IPv4) broadcast addresses.
pub fn addresses(net: &IpNet) -> impl Iterator<Item = IpAddr> + '_ {
    net.hosts()
}

/// A device that answered a probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Responder {
    /// `ip:port`.
    pub address: String,
    /// The name of the credential it answered to.
    pub credential: String,
    pub object_id: Option<String>,
    pub vendor: Option<String>,
    pub name: Option<String>,
    /// The first line of sysDescr.
    pub description: Option<String>,
}

/// Probes one address with one credential: `Ok(None)` when it does not answer.
pub async fn probe(
    address: &str,
    credential: &(String, Credentials),
    options: Options,
) -> Result<Option<Responder>, SnmpError> {
    let mut client = Client::new(address, credential.1.clone(), options);
    let oids = [
        crate::oid!(SYS_DESCR),
        crate::oid!(SYS_OBJECT_ID),
        crate::oid!(SYS_NAME),
    ];
    let walk = match client.get(&oids).await {
        Ok(w) => w,
        Err(SnmpError::Timeout { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let text = |o: &super::oid::Oid| {
        walk.get(o)
            .and_then(Value::as_bytes)
            .and_then(decode::opt_text)
    };
    let object_id = match walk.get(&oids[1]) {
        Some(Value::ObjectId(o)) => Some(o.clone()),
        _ => None,
    };
    if walk.is_empty() {
        return Ok(None);
    }
    Ok(Some(Responder {
        address: address.to_string(),
        credential: credential.0.clone(),
        vendor: object_id
            .as_ref()
            .and_then(enterprise::number)
            .and_then(enterprise::vendor)
            .map(str::to_string),
        object_id: object_id.map(|o| o.to_string()),
        name: text(&oids[2]),
        description: text(&oids[0]).and_then(|d| d.lines().next().map(|l| l.trim().to_string())),
    }))
}

/// Probes one address with each credential in turn; the first that answers wins. An
/// authentication failure moves on to the next credential.
async fn probe_all(
    address: String,
    credentials: &[(String, Credentials)],
    options: Options,
) -> Option<Responder> {
    for c in credentials {
        match probe(&address, c, options).await {
            Ok(Some(r)) => return Some(r),
            Ok(None) => {}
            Err(e) => tracing::debug!(address, credential = %c.0, error = %e, "probe failed"),
        }
    }
    None
}

/// What a sweep has done so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
    pub found: u64,
}

/// Sweeps the ranges, `concurrency` addresses at a time, calling `progress` after each
/// address. Responders come back sorted by address.
pub async fn sweep(
    ranges: &[(IpNet, u16)],
    credentials: &[(String, Credentials)],
    options: Options,
    concurrency: usize,
    mut progress: impl FnMut(Progress),
) -> Vec<Responder> {
    let total: u64 = ranges.iter().map(|(n, _)| n.hosts().count() as u64).sum();
    let targets = ranges.iter().flat_map(|(net, port)| {
        addresses(net).map(move |ip| SocketAddr::new(ip, *port).to_string())
    });
    let mut found = Vec::new();
    let mut done = 0u64;
    let mut stream = futures_util::stream::iter(targets)
        .map(|address| probe_all(address, credentials, options))
        .buffer_unordered(concurrency.max(1));
    while let Some(r) = stream.next().await {
        done += 1;
        if let Some(r) = r {
            found.push(r);
        }
        progress(Progress {
            done,
            total,
            found: found.len() as u64,
        });
    }
    found.sort_by_key(|r| {
        r.address
            .parse::<SocketAddr>()
            .map(|a| (a.ip(), a.port()))
            .ok()
    });
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_parsed_and_bounded() {
        let n = parse_range("10.0.0.7/30").expect("range");
        assert_eq!(n.to_string(), "10.0.0.4/30");
        let hosts: Vec<String> = addresses(&n).map(|a| a.to_string()).collect();
        assert_eq!(hosts, ["10.0.0.5", "10.0.0.6"]);
        let one = parse_range("192.0.2.1").expect("address");
        assert_eq!(addresses(&one).count(), 1);
        assert_eq!(
            addresses(&parse_range("10.1.0.0/16").expect("/16")).count(),
            65_534
        );
        assert!(parse_range("10.0.0.0/15").is_err());
        assert!(parse_range("2001:db8::/64").is_err());
        assert!(parse_range("2001:db8::/112").is_ok());
        assert!(parse_range("10.0.0.0/33").is_err());
        assert!(parse_range("switches").is_err());
    }
}
