//! SNMP discovery of network devices.
//!
//! Layers, each testable on its own:
//! - [`oid`]: object identifiers, the values SNMP returns, and a walked subtree as a sorted
//!   map (whatever order the device answered in);
//! - [`snmprec`]: reads snmpsim recordings (`OID|type|value`), the format of the fixtures
//!   captured from real devices;
//! - [`decode`]: what real agents put in strings (NUL padding, non-UTF-8, MACs as text or
//!   bytes) and LLDP identifiers by subtype;
//! - [`enterprise`]: vendor names from IANA private enterprise numbers;
//! - [`poller`]: which devices are polled when; [`metrics`]: the light metrics polls between
//!   inventories and the device series of metric batches.

pub mod client;
pub mod decode;
pub mod discover;
pub mod enterprise;
pub mod metrics;
pub mod mib;
pub mod oid;
pub mod poller;
pub mod snmprec;

use cmdb_shared::device::{DeviceInventory, DeviceMetrics};

/// Inventories one device: walks every subtree of [`mib::SUBTREES`] (tables a device lacks
/// simply come back empty) and builds its inventory and the metrics sampled with it.
pub async fn inventory(
    client: &mut client::Client,
) -> Result<(DeviceInventory, DeviceMetrics), client::SnmpError> {
    let mut walk = oid::Walk::default();
    for roots in mib::walk_plan() {
        client.walk_side_by_side(&roots, &mut walk).await?;
    }
    let at = chrono::Utc::now();
    let inv = mib::inventory(client.target(), &walk);
    let metrics = DeviceMetrics {
        at: Some(at),
        uptime_ticks: mib::system::uptime(&walk),
        interfaces: mib::interfaces::counters(&walk),
    };
    Ok((inv, metrics))
}

/// A target as `host` or `host:port` (`[v6]:port` for IPv6), port 161 by default.
pub fn target_address(target: &str) -> Result<String, String> {
    let t = target.trim();
    if t.is_empty() {
        return Err("empty SNMP target".into());
    }
    if let Ok(sa) = t.parse::<std::net::SocketAddr>() {
        if sa.port() == 0 {
            return Err(format!("{target}: port must be a number from 1 to 65535"));
        }
        return Ok(sa.to_string());
    }
    if let Ok(ip) = t.parse::<std::net::IpAddr>() {
        return Ok(std::net::SocketAddr::new(ip, 161).to_string());
    }
    match t.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => {
            let port: u16 = port
                .parse()
                .map_err(|_| format!("{target}: port must be a number from 1 to 65535"))?;
            if port == 0 {
                return Err(format!("{target}: port must be a number from 1 to 65535"));
            }
            Ok(format!("{host}:{port}"))
        }
        Some(_) => Err(format!("{target}: write IPv6 addresses as [addr]:port")),
        None => Ok(format!("{t}:161")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_get_the_default_port() {
        assert_eq!(target_address("10.0.0.1").as_deref(), Ok("10.0.0.1:161"));
        assert_eq!(
            target_address("sw1.example.com").as_deref(),
            Ok("sw1.example.com:161")
        );
        assert_eq!(
            target_address("127.0.0.1:1161").as_deref(),
            Ok("127.0.0.1:1161")
        );
        assert_eq!(target_address("[::1]:1161").as_deref(), Ok("[::1]:1161"));
        assert_eq!(target_address("::1").as_deref(), Ok("[::1]:161"));
        assert!(target_address("sw1:99999").is_err());
        assert!(target_address("sw1:0").is_err());
        assert!(target_address("10.0.0.1:0").is_err());
        assert!(target_address(" ").is_err());
    }
}
