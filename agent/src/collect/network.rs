//! `network` collector: every interface in `/sys/class/net` with its link facts and addresses.
//!
//! Link facts come from sysfs. Addresses come from `getifaddrs` on the live system, so they match
//! what `ip addr` lists. Under a fixture root there is no syscall to ask, so IPv6 addresses are
//! read from `/proc/net/if_inet6` and IPv4 ones are reconstructed from `/proc/net/fib_trie` (the
//! only procfs file listing local IPv4 addresses) plus `/proc/net/route` to find the interface.
//! That reconstruction has two known gaps, both documented on [`ipv4_addresses`]: an address
//! whose interface is administratively down has no routes and is missing, and a `/32` address
//! inside another address's subnet is reported with that subnet's prefix.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use cmdb_shared::{Inventory, IpAddress, NetworkInterface};

use super::{CollectError, Collector, Context};

const SYS_CLASS_NET: &str = "/sys/class/net";

/// `RTF_GATEWAY` in `/proc/net/route` flags: the route goes through a router, so it says nothing
/// about which interface owns an address.
const RTF_GATEWAY: u32 = 0x2;

/// The loopback interface. The kernel puts loopback subnets (127.0.0.0/8) in the Local table as
/// LOCAL routes rather than in the Main table, so `/proc/net/route` never names it.
const LOOPBACK: &str = "lo";

/// Collects the `network` section.
pub struct NetworkCollector;

impl Collector for NetworkCollector {
    fn name(&self) -> &'static str {
        "network"
    }

    fn collect(&self, ctx: &Context, inv: &mut Inventory) -> Result<(), CollectError> {
        let mut interfaces = read_interfaces(ctx)?;
        let addresses = if ctx.is_live() {
            live_addresses()?
        } else {
            proc_addresses(ctx)?
        };
        attach_addresses(&mut interfaces, addresses);
        inv.network = Some(interfaces);
        Ok(())
    }
}

/// Every interface directory in `/sys/class/net`, sorted by name, without addresses yet.
fn read_interfaces(ctx: &Context) -> Result<Vec<NetworkInterface>, CollectError> {
    let dir = ctx.path(SYS_CLASS_NET);
    let entries = std::fs::read_dir(&dir).map_err(|e| CollectError::io(SYS_CLASS_NET, e))?;
    let mut interfaces = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| CollectError::io(SYS_CLASS_NET, e))?;
        // `bonding_masters` is a plain file in the same directory; interfaces are directories
        // (symlinks to them on a live system, hence `is_dir` which follows links).
        if !entry.path().is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        interfaces.push(read_interface(ctx, &name));
    }
    interfaces.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(interfaces)
}

/// One interface's sysfs attributes. Every attribute is optional: virtual devices lack some and
/// reading `speed` fails with EINVAL while the link is down.
fn read_interface(ctx: &Context, name: &str) -> NetworkInterface {
    let attr = |file: &str| ctx.read_trimmed(&format!("{SYS_CLASS_NET}/{name}/{file}"));
    let mac = attr("address").and_then(|a| parse_mac(&a, attr("addr_len").as_deref()));
    let permanent_mac = attr("bonding_slave/perm_hwaddr")
        .and_then(|a| parse_mac(&a, None))
        .filter(|perm| Some(perm) != mac.as_ref());
    // `device` is a symlink to the bus device; a fixture may hold it dangling, so do not follow.
    let physical =
        std::fs::symlink_metadata(ctx.path(&format!("{SYS_CLASS_NET}/{name}/device"))).is_ok();
    NetworkInterface {
        name: name.to_string(),
        mac,
        permanent_mac,
        addresses: Vec::new(),
        mtu: attr("mtu").and_then(|m| m.parse().ok()),
        speed_mbps: attr("speed").as_deref().and_then(parse_speed),
        state: attr("operstate").unwrap_or_else(|| "unknown".to_string()),
        physical,
    }
}

/// A sysfs `address` as a lowercase MAC; `None` when the interface has no hardware address
/// (`addr_len` 0, e.g. tun) or an all-zero one (lo).
pub fn parse_mac(address: &str, addr_len: Option<&str>) -> Option<String> {
    if addr_len.map(str::trim) == Some("0") {
        return None;
    }
    let address = address.trim();
    let all_zero = address.chars().all(|c| c == '0' || c == ':');
    (!all_zero).then(|| address.to_ascii_lowercase())
}

/// A sysfs `speed` in Mbit/s; drivers without a link speed report -1 (`SPEED_UNKNOWN`).
pub fn parse_speed(speed: &str) -> Option<u64> {
    speed.trim().parse().ok()
}

/// Puts each `(interface, address)` on its interface and sorts the addresses. An IPv4 label such
/// as `eth0:1` (what `getifaddrs` reports for labelled aliases) goes to its base interface;
/// addresses of interfaces not in sysfs are dropped.
pub fn attach_addresses(interfaces: &mut [NetworkInterface], addresses: Vec<(String, IpAddress)>) {
    for (name, address) in addresses {
        let base = name.split_once(':').map(|(base, _)| base);
        let target = interfaces
            .iter()
            .position(|i| i.name == name)
            .or_else(|| base.and_then(|b| interfaces.iter().position(|i| i.name == b)));
        match target {
            Some(i) => interfaces[i].addresses.push(address),
            None => tracing::debug!(interface = %name, "address of an unknown interface ignored"),
        }
    }
    for interface in interfaces.iter_mut() {
        sort_addresses(&mut interface.addresses);
    }
}

/// IPv4 before IPv6, then numerically (not textually, so 10.0.0.9 comes before 10.0.0.10): the
/// order is the same whichever source (getifaddrs or procfs) listed the addresses.
pub fn sort_addresses(addresses: &mut Vec<IpAddress>) {
    addresses.sort_by_key(|a| {
        (
            a.family.clone(),
            a.address.parse::<IpAddr>().ok(),
            a.prefix_len,
            a.address.clone(),
        )
    });
    addresses.dedup();
}

/// Addresses of the live system from `getifaddrs`, the same netlink dump `ip addr` shows.
fn live_addresses() -> Result<Vec<(String, IpAddress)>, CollectError> {
    let addrs = nix::ifaddrs::getifaddrs()
        .map_err(|e| CollectError::io("getifaddrs", std::io::Error::from(e)))?;
    let mut out = Vec::new();
    for ifa in addrs {
        let (Some(address), netmask) = (ifa.address, ifa.netmask) else {
            continue;
        };
        if let Some(sin) = address.as_sockaddr_in() {
            let prefix = netmask
                .as_ref()
                .and_then(|m| m.as_sockaddr_in())
                .map_or(32, |m| prefix_len(u32::from(m.ip()).count_ones()));
            out.push((ifa.interface_name, inet(sin.ip().to_string(), prefix)));
        } else if let Some(sin6) = address.as_sockaddr_in6() {
            // `SockaddrIn6::ip` is the bare address: the zone (`%eth0`) lives in scope_id.
            let prefix = netmask
                .as_ref()
                .and_then(|m| m.as_sockaddr_in6())
                .map_or(128, |m| prefix_len(u128::from(m.ip()).count_ones()));
            out.push((ifa.interface_name, inet6(sin6.ip(), prefix)));
        }
        // AF_PACKET entries carry the MAC, which sysfs already gave us.
    }
    Ok(out)
}

/// Addresses under a fixture root, from procfs. A missing file means no addresses of that
/// family (an IPv6-less kernel has no `if_inet6`).
fn proc_addresses(ctx: &Context) -> Result<Vec<(String, IpAddress)>, CollectError> {
    let read = |path: &str| match ctx.read(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(CollectError::io(path, e)),
    };
    let fib = parse_fib_trie(&read("/proc/net/fib_trie")?);
    let routes = parse_route(&read("/proc/net/route")?);
    let mut out = ipv4_addresses(&fib, &routes);
    out.extend(parse_if_inet6(&read("/proc/net/if_inet6")?));
    Ok(out)
}

fn prefix_len(ones: u32) -> u8 {
    u8::try_from(ones).unwrap_or(u8::MAX)
}

fn inet(address: String, prefix_len: u8) -> IpAddress {
    IpAddress {
        address,
        prefix_len,
        family: "inet".to_string(),
    }
}

fn inet6(address: Ipv6Addr, prefix_len: u8) -> IpAddress {
    IpAddress {
        address: address.to_string(),
        prefix_len,
        family: "inet6".to_string(),
    }
}

/// `/proc/net/if_inet6`: one line per IPv6 address, `ADDR IFINDEX PREFIX SCOPE FLAGS NAME` with
/// the address as 32 hex digits in network order and the numbers in hex.
pub fn parse_if_inet6(text: &str) -> Vec<(String, IpAddress)> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [addr, _index, prefix, _scope, _flags, name] = fields.as_slice() else {
                return None;
            };
            let addr = Ipv6Addr::from(u128::from_str_radix(addr, 16).ok()?);
            let prefix = u8::from_str_radix(prefix, 16).ok()?;
            Some((name.to_string(), inet6(addr, prefix)))
        })
        .collect()
}

/// One route entry (a "leaf alias") of `/proc/net/fib_trie`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FibEntry {
    /// "Main", "Local", or "Id N" for other tables.
    pub table: String,
    pub network: Ipv4Addr,
    pub prefix_len: u8,
    /// "host", "link", "universe", …
    pub scope: String,
    /// "LOCAL", "UNICAST", "BROADCAST", …
    pub kind: String,
}

/// `/proc/net/fib_trie`. Only leaves matter: a `|-- ADDR` line names a key and each following
/// `/LEN SCOPE TYPE` line is one route with that key. Table headers are unindented `Name:` lines;
/// the `+--` internal trie nodes carry nothing we need.
pub fn parse_fib_trie(text: &str) -> Vec<FibEntry> {
    let mut out = Vec::new();
    let mut table = String::new();
    let mut leaf: Option<Ipv4Addr> = None;
    for line in text.lines() {
        if !line.starts_with(char::is_whitespace) {
            if let Some(name) = line.trim_end().strip_suffix(':') {
                table = name.to_string();
                leaf = None;
            }
            continue;
        }
        let line = line.trim();
        if let Some(addr) = line.strip_prefix("|-- ") {
            leaf = addr.trim().parse().ok();
        } else if let Some(route) = line.strip_prefix('/') {
            let mut fields = route.split_whitespace();
            let (Some(network), Some(len), Some(scope), Some(kind)) =
                (leaf, fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            let Ok(prefix_len) = len.parse() else {
                continue;
            };
            out.push(FibEntry {
                table: table.clone(),
                network,
                prefix_len,
                scope: scope.to_string(),
                kind: kind.to_string(),
            });
        }
    }
    out
}

/// One line of `/proc/net/route` (the Main table, IPv4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub interface: String,
    pub destination: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: bool,
}

/// `/proc/net/route`: `Iface Destination Gateway Flags RefCnt Use Metric Mask …` with addresses
/// as the kernel's in-memory 32-bit words printed in hex, i.e. in host byte order.
pub fn parse_route(text: &str) -> Vec<Route> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (iface, dest, flags, mask) = (
                fields.first()?,
                fields.get(1)?,
                fields.get(3)?,
                fields.get(7)?,
            );
            let mask = hex_ipv4(mask)?;
            Some(Route {
                interface: iface.to_string(),
                destination: hex_ipv4(dest)?,
                prefix_len: prefix_len(u32::from(mask).count_ones()),
                gateway: u32::from_str_radix(flags, 16).ok()? & RTF_GATEWAY != 0,
            })
        })
        .collect()
}

/// A procfs hex IPv4 word: the kernel prints the network-order `__be32` as a host integer.
pub(crate) fn hex_ipv4(hex: &str) -> Option<Ipv4Addr> {
    Some(Ipv4Addr::from(
        u32::from_str_radix(hex, 16).ok()?.to_ne_bytes(),
    ))
}

fn contains(network: Ipv4Addr, prefix_len: u8, addr: Ipv4Addr) -> bool {
    let mask = u32::MAX
        .checked_shl(32 - u32::from(prefix_len.min(32)))
        .unwrap_or(0);
    u32::from(network) & mask == u32::from(addr) & mask
}

/// The IPv4 addresses of this host with their interface, reconstructed from the routing tables.
///
/// Every local address is a `/32 host LOCAL` route in the Local table. Its prefix is that of the
/// most specific subnet containing it: a `link UNICAST` route in the Main table (the prefix route
/// the kernel adds with each address) or, for loopback subnets, a LOCAL route shorter than /32 in
/// the Local table. The interface is the one `/proc/net/route` gives for that subnet; loopback
/// subnets belong to `lo`.
///
/// Known gaps, because procfs does not record which address created which route: an address
/// whose interface is administratively down has no routes at all and is missing; a `/32` address
/// inside another address's subnet gets that subnet's prefix; and a `/32` address in no subnet
/// has no interface and is left out. The live path (`getifaddrs`) has none of these.
pub fn ipv4_addresses(fib: &[FibEntry], routes: &[Route]) -> Vec<(String, IpAddress)> {
    let mut locals: Vec<Ipv4Addr> = fib
        .iter()
        .filter(|e| e.table == "Local" && e.kind == "LOCAL" && e.prefix_len == 32)
        .map(|e| e.network)
        .collect();
    locals.sort();
    locals.dedup();

    let mut out = Vec::new();
    for addr in locals {
        let subnet = fib
            .iter()
            .filter(|e| e.prefix_len < 32 && contains(e.network, e.prefix_len, addr))
            .filter(|e| {
                (e.table == "Main" && e.kind == "UNICAST" && e.scope == "link")
                    || (e.table == "Local" && e.kind == "LOCAL")
            })
            .max_by_key(|e| e.prefix_len);
        let Some(subnet) = subnet else {
            tracing::debug!(%addr, "IPv4 address without a subnet route: interface unknown");
            continue;
        };
        let interface = if subnet.kind == "LOCAL" {
            Some(LOOPBACK.to_string())
        } else {
            routes
                .iter()
                .find(|r| {
                    !r.gateway
                        && r.destination == subnet.network
                        && r.prefix_len == subnet.prefix_len
                })
                .map(|r| r.interface.clone())
        };
        match interface {
            Some(interface) => out.push((interface, inet(addr.to_string(), subnet.prefix_len))),
            None => tracing::debug!(%addr, "IPv4 subnet not in /proc/net/route: interface unknown"),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    fn by_interface(addresses: &[(String, IpAddress)]) -> BTreeMap<String, Vec<String>> {
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, a) in addresses {
            map.entry(name.clone())
                .or_default()
                .push(format!("{}/{}", a.address, a.prefix_len));
        }
        map
    }

    fn fixture(machine: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/network")
            .join(machine)
    }

    fn read_fixture(machine: &str, path: &str) -> String {
        let full = fixture(machine).join(path.trim_start_matches('/'));
        std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
    }

    fn collect(machine: &str) -> Vec<NetworkInterface> {
        let mut inv = Inventory::default();
        NetworkCollector
            .collect(&Context::new(fixture(machine)), &mut inv)
            .unwrap();
        inv.network.unwrap()
    }

    fn find<'a>(interfaces: &'a [NetworkInterface], name: &str) -> &'a NetworkInterface {
        interfaces.iter().find(|i| i.name == name).unwrap()
    }

    fn addrs(interface: &NetworkInterface) -> Vec<String> {
        interface
            .addresses
            .iter()
            .map(|a| format!("{}/{}", a.address, a.prefix_len))
            .collect()
    }

    /// `ip -j addr` captured with the fixture, as `name -> addresses` in our sort order.
    fn ip_addr_json(machine: &str) -> BTreeMap<String, Vec<IpAddress>> {
        let path = fixture(machine).with_extension("ip-addr.json");
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let mut map = BTreeMap::new();
        for link in json.as_array().unwrap() {
            let mut list: Vec<IpAddress> = link["addr_info"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| IpAddress {
                    address: a["local"].as_str().unwrap().to_string(),
                    prefix_len: u8::try_from(a["prefixlen"].as_u64().unwrap()).unwrap(),
                    family: a["family"].as_str().unwrap().to_string(),
                })
                .collect();
            sort_addresses(&mut list);
            map.insert(link["ifname"].as_str().unwrap().to_string(), list);
        }
        map
    }

    fn collected_addresses(interfaces: &[NetworkInterface]) -> BTreeMap<String, Vec<IpAddress>> {
        interfaces
            .iter()
            .map(|i| (i.name.clone(), i.addresses.clone()))
            .collect()
    }

    #[test]
    fn mac_is_lowercased_and_absent_when_all_zero_or_zero_length() {
        assert_eq!(
            parse_mac("02:FC:00:00:00:01", Some("6")).as_deref(),
            Some("02:fc:00:00:00:01")
        );
        assert_eq!(parse_mac("00:00:00:00:00:00", Some("6")), None);
        assert_eq!(parse_mac("", Some("0")), None);
        assert_eq!(parse_mac("00:11", Some("0")), None);
    }

    #[test]
    fn speed_of_minus_one_or_garbage_is_unknown() {
        assert_eq!(parse_speed("10000"), Some(10000));
        assert_eq!(parse_speed("-1"), None);
        assert_eq!(parse_speed(""), None);
    }

    #[test]
    fn if_inet6_lines_become_addresses_without_zone() {
        let parsed = parse_if_inet6(&read_fixture("debian12", "/proc/net/if_inet6"));
        assert_eq!(
            by_interface(&parsed),
            BTreeMap::from([
                (
                    "eth0".to_string(),
                    vec!["fd00::2/64".to_string(), "fe80::fc:ff:fe00:1/64".into()]
                ),
                ("lo".to_string(), vec!["::1/128".to_string()]),
            ])
        );
        assert!(parsed.iter().all(|(_, a)| a.family == "inet6"));
    }

    #[test]
    fn fib_trie_leaves_are_read_per_table() {
        let fib = parse_fib_trie(&read_fixture("debian12", "/proc/net/fib_trie"));
        // Without policy routing the kernel merges Local into Main and prints the trie twice.
        assert_eq!(fib.len(), 14);
        assert_eq!(fib.iter().filter(|e| e.table == "Local").count(), 7);
        assert!(fib.contains(&FibEntry {
            table: "Local".into(),
            network: Ipv4Addr::new(192, 0, 2, 2),
            prefix_len: 32,
            scope: "host".into(),
            kind: "LOCAL".into(),
        }));
        assert!(fib.contains(&FibEntry {
            table: "Main".into(),
            network: Ipv4Addr::new(192, 0, 2, 0),
            prefix_len: 24,
            scope: "link".into(),
            kind: "UNICAST".into(),
        }));
    }

    #[test]
    fn route_words_are_decoded_and_gateway_routes_flagged() {
        let routes = parse_route(&read_fixture("debian12", "/proc/net/route"));
        assert_eq!(
            routes,
            vec![
                Route {
                    interface: "eth0".into(),
                    destination: Ipv4Addr::UNSPECIFIED,
                    prefix_len: 0,
                    gateway: true
                },
                Route {
                    interface: "eth0".into(),
                    destination: Ipv4Addr::new(192, 0, 2, 0),
                    prefix_len: 24,
                    gateway: false
                },
            ]
        );
    }

    #[test]
    fn ipv4_addresses_of_a_simple_host_match_ip_addr() {
        let fib = parse_fib_trie(&read_fixture("debian12", "/proc/net/fib_trie"));
        let routes = parse_route(&read_fixture("debian12", "/proc/net/route"));
        assert_eq!(
            by_interface(&ipv4_addresses(&fib, &routes)),
            BTreeMap::from([
                ("eth0".to_string(), vec!["192.0.2.2/24".to_string()]),
                ("lo".to_string(), vec!["127.0.0.1/8".to_string()]),
            ])
        );
    }

    #[test]
    fn ipv4_addresses_follow_separate_main_and_local_tables() {
        // Policy routing unmerges the tables: Main holds only the subnets, Local the addresses.
        let fib = parse_fib_trie(&read_fixture("bonded-server", "/proc/net/fib_trie"));
        let routes = parse_route(&read_fixture("bonded-server", "/proc/net/route"));
        assert_eq!(
            by_interface(&ipv4_addresses(&fib, &routes)),
            BTreeMap::from([
                ("bond0".to_string(), vec!["10.0.5.21/24".to_string()]),
                (
                    "bond0.120".to_string(),
                    vec!["192.168.120.21/24".to_string()]
                ),
                ("lo".to_string(), vec!["127.0.0.1/8".to_string()]),
            ])
        );
    }

    #[test]
    fn ipv4_addresses_of_bridge_veth_and_tun_match_ip_addr_except_the_documented_gap() {
        let machine = "netns-bridge-veth-tun";
        let fib = parse_fib_trie(&read_fixture(machine, "/proc/net/fib_trie"));
        let routes = parse_route(&read_fixture(machine, "/proc/net/route"));
        let got = by_interface(&ipv4_addresses(&fib, &routes));
        assert_eq!(got["docker0"], ["172.17.0.1/16"]);
        assert_eq!(got["tun0"], ["10.8.0.2/24"]);
        assert_eq!(got["veth1"], ["10.30.0.2/30"]);
        assert_eq!(got["lo"], ["127.0.0.1/8"]);
        // `ip addr` says 10.20.0.100/32: procfs cannot tell it from the /24 siblings.
        assert_eq!(
            got["br0"],
            ["10.20.0.15/24", "10.20.0.16/24", "10.20.0.100/24"]
        );
        assert!(!got.contains_key("veth0"));
    }

    #[test]
    fn collect_on_debian12_lists_every_interface_with_ip_addr_addresses() {
        let interfaces = collect("debian12");
        let names: Vec<&str> = interfaces.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["eth0", "ifb0", "ifb1", "lo"]);

        let eth0 = find(&interfaces, "eth0");
        assert_eq!(eth0.mac.as_deref(), Some("02:fc:00:00:00:01"));
        assert_eq!(eth0.mtu, Some(1400));
        assert_eq!(eth0.speed_mbps, None, "virtio reports speed -1");
        assert_eq!(eth0.state, "up");
        assert!(eth0.physical);

        let lo = find(&interfaces, "lo");
        assert_eq!(
            (lo.mac.as_deref(), lo.physical, lo.state.as_str()),
            (None, false, "unknown")
        );
        let ifb0 = find(&interfaces, "ifb0");
        assert_eq!(
            (ifb0.speed_mbps, ifb0.physical, ifb0.state.as_str()),
            (None, false, "down")
        );

        assert_eq!(collected_addresses(&interfaces), ip_addr_json("debian12"));
    }

    #[test]
    fn collect_on_a_bridge_veth_tun_namespace_tells_virtual_devices_apart() {
        let interfaces = collect("netns-bridge-veth-tun");
        assert!(interfaces.iter().all(|i| !i.physical));
        let tun0 = find(&interfaces, "tun0");
        assert_eq!((tun0.mac.as_deref(), tun0.state.as_str()), (None, "down"));
        assert_eq!(find(&interfaces, "veth0").speed_mbps, Some(10000));
        assert_eq!(find(&interfaces, "docker0").speed_mbps, None);

        // Everything but the documented /32 gap agrees with `ip -j addr` from the same moment.
        let mut want = ip_addr_json("netns-bridge-veth-tun");
        let br0 = want.get_mut("br0").unwrap();
        let vip = br0.iter_mut().find(|a| a.address == "10.20.0.100").unwrap();
        assert_eq!(vip.prefix_len, 32);
        vip.prefix_len = 24;
        assert_eq!(collected_addresses(&interfaces), want);
    }

    #[test]
    fn collect_on_a_bonded_server_reports_the_slaves_burned_in_mac() {
        let interfaces = collect("bonded-server");
        let names: Vec<&str> = interfaces.iter().map(|i| i.name.as_str()).collect();
        // `bonding_masters` is a file in /sys/class/net, not an interface.
        assert_eq!(names, ["bond0", "bond0.120", "eno1", "eno2", "eno3", "lo"]);

        let eno1 = find(&interfaces, "eno1");
        assert_eq!(eno1.mac.as_deref(), Some("3c:ec:ef:1a:2b:3c"));
        assert_eq!(eno1.permanent_mac, None, "same as the current MAC");
        let eno2 = find(&interfaces, "eno2");
        assert_eq!(eno2.mac.as_deref(), Some("3c:ec:ef:1a:2b:3c"));
        assert_eq!(eno2.permanent_mac.as_deref(), Some("3c:ec:ef:1a:2b:3d"));
        assert!(eno1.physical && eno2.physical);

        let eno3 = find(&interfaces, "eno3");
        assert_eq!(
            (eno3.speed_mbps, eno3.state.as_str(), eno3.physical),
            (None, "down", true)
        );

        let bond0 = find(&interfaces, "bond0");
        assert_eq!(
            (bond0.speed_mbps, bond0.physical, bond0.mtu),
            (Some(20000), false, Some(9000))
        );
        assert_eq!(
            addrs(bond0),
            ["10.0.5.21/24", "fe80::3eec:efff:fe1a:2b3c/64"]
        );
        assert_eq!(addrs(find(&interfaces, "eno1")), Vec::<String>::new());
    }

    #[test]
    fn labelled_ipv4_aliases_go_to_their_interface() {
        let mut interfaces = [NetworkInterface {
            name: "br0".into(),
            ..Default::default()
        }];
        attach_addresses(
            &mut interfaces,
            vec![
                ("br0:vip".into(), inet("10.20.0.16".into(), 24)),
                ("br0".into(), inet("10.20.0.15".into(), 24)),
                ("nosuch".into(), inet("10.9.9.9".into(), 24)),
            ],
        );
        assert_eq!(addrs(&interfaces[0]), ["10.20.0.15/24", "10.20.0.16/24"]);
    }

    #[test]
    fn addresses_sort_ipv4_first_then_numerically() {
        let mut interfaces = [NetworkInterface {
            name: "eth0".into(),
            ..Default::default()
        }];
        let ip6: Ipv6Addr = "fe80::1".parse().unwrap();
        attach_addresses(
            &mut interfaces,
            vec![
                ("eth0".into(), inet6(ip6, 64)),
                ("eth0".into(), inet("10.0.0.10".into(), 8)),
                ("eth0".into(), inet("10.0.0.9".into(), 8)),
            ],
        );
        assert_eq!(
            addrs(&interfaces[0]),
            ["10.0.0.9/8", "10.0.0.10/8", "fe80::1/64"]
        );
    }
}
