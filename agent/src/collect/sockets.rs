//! `sockets` collector: listening TCP/UDP sockets and established TCP connections, with the
//! owning process name.
//!
//! Sockets come from `/proc/net/{tcp,tcp6,udp,udp6}` (this network namespace only). Owners come
//! from scanning `/proc/PID/fd/*` for `socket:[INODE]` links; the owner's name is
//! `/proc/PID/comm`, never its command line or environment, which may hold secrets. A socket
//! shared by several processes (a forking server's listener) is attributed to the lowest pid,
//! normally the parent. Processes the agent may not inspect leave `process` and `pid` `None`.
//!
//! Addresses are written as the kernel holds them: a socket in the IPv6 tables keeps an IPv6
//! address even when it is IPv4-mapped, in the RFC 5952 text form `::ffff:192.0.2.1` (what `ss`
//! prints too).
//!
//! To keep the section stable, ephemeral ports are dropped from connections: an outbound
//! connection keeps only the remote address and port, an inbound one (towards one of our
//! listening ports) keeps the local service port and the client address with `remote_port` 0,
//! the client's port being as ephemeral as ours. Equal entries are then merged, so a pool of
//! connections to one database is one entry.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv6Addr};

use cmdb_shared::{Connection, Inventory, ListeningSocket, Sockets};

use super::network::hex_ipv4;
use super::{CollectError, Collector, Context};

/// `TCP_ESTABLISHED` in the `st` column.
const TCP_ESTABLISHED: u8 = 0x01;
/// `TCP_LISTEN`.
const TCP_LISTEN: u8 = 0x0A;
/// `TCP_CLOSE`: what an unconnected UDP socket reports.
const UDP_UNCONNECTED: u8 = 0x07;

/// Collects the `sockets` section.
pub struct SocketsCollector;

impl Collector for SocketsCollector {
    fn name(&self) -> &'static str {
        "sockets"
    }

    fn collect(&self, ctx: &Context, inv: &mut Inventory) -> Result<(), CollectError> {
        let mut tcp = read_table(ctx, "/proc/net/tcp")?;
        tcp.extend(read_table(ctx, "/proc/net/tcp6")?);
        let mut udp = read_table(ctx, "/proc/net/udp")?;
        udp.extend(read_table(ctx, "/proc/net/udp6")?);
        let wanted: BTreeSet<u64> = tcp
            .iter()
            .chain(&udp)
            .map(|e| e.inode)
            .filter(|&i| i != 0)
            .collect();
        let owners = socket_owners(ctx, &wanted);
        inv.sockets = Some(build_sockets(&tcp, &udp, &owners));
        Ok(())
    }
}

/// A `/proc/net` socket table; a missing one (IPv6 disabled) is empty.
fn read_table(ctx: &Context, path: &str) -> Result<Vec<SocketEntry>, CollectError> {
    match ctx.read(path) {
        Ok(text) => Ok(parse_proc_net(&text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(CollectError::io(path, e)),
    }
}

/// One socket line of `/proc/net/{tcp,tcp6,udp,udp6}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketEntry {
    pub local: IpAddr,
    pub local_port: u16,
    pub remote: IpAddr,
    pub remote_port: u16,
    /// Kernel TCP state number (`st`), also used for UDP.
    pub state: u8,
    pub inode: u64,
}

/// `/proc/net/{tcp,tcp6,udp,udp6}`: after a header line, `sl: LOCAL REMOTE st … inode …` with
/// addresses as `ADDR:PORT` in hex. IPv4 addresses are one 32-bit word and IPv6 ones four, each
/// word printed as a host-order integer; ports are plain hex numbers.
pub fn parse_proc_net(text: &str) -> Vec<SocketEntry> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (local, local_port) = parse_endpoint(fields.get(1)?)?;
            let (remote, remote_port) = parse_endpoint(fields.get(2)?)?;
            Some(SocketEntry {
                local,
                local_port,
                remote,
                remote_port,
                state: u8::from_str_radix(fields.get(3)?, 16).ok()?,
                inode: fields.get(9)?.parse().ok()?,
            })
        })
        .collect()
}

/// `0100007F:1F90` → 127.0.0.1:8080; 32 hex digits for IPv6.
fn parse_endpoint(text: &str) -> Option<(IpAddr, u16)> {
    let (addr, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let addr = match addr.len() {
        8 => IpAddr::V4(hex_ipv4(addr)?),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_exact_mut(4).enumerate() {
                let word = u32::from_str_radix(addr.get(i * 8..i * 8 + 8)?, 16).ok()?;
                chunk.copy_from_slice(&word.to_ne_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some((addr, port))
}

/// The inode of a `/proc/PID/fd/N` link target `socket:[INODE]`.
pub fn parse_socket_link(target: &str) -> Option<u64> {
    target
        .strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// Who owns a socket: the lowest pid holding it, and that process's `comm` when readable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub pid: u32,
    pub process: Option<String>,
}

/// Maps the `wanted` socket inodes to their owners by scanning `/proc/*/fd`. Processes that vanish
/// or may not be inspected are skipped: their sockets stay unattributed.
fn socket_owners(ctx: &Context, wanted: &BTreeSet<u64>) -> BTreeMap<u64, Owner> {
    let mut owners: BTreeMap<u64, Owner> = BTreeMap::new();
    let Ok(procs) = std::fs::read_dir(ctx.path("/proc")) else {
        return owners;
    };
    let mut pids: Vec<u32> = procs
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
        .collect();
    // Ascending, so the first holder seen is the lowest pid.
    pids.sort_unstable();
    for pid in pids {
        let Ok(fds) = std::fs::read_dir(ctx.path(&format!("/proc/{pid}/fd"))) else {
            continue;
        };
        let inodes: Vec<u64> = fds
            .filter_map(Result::ok)
            .filter_map(|fd| std::fs::read_link(fd.path()).ok())
            .filter_map(|target| parse_socket_link(&target.to_string_lossy()))
            .filter(|inode| wanted.contains(inode) && !owners.contains_key(inode))
            .collect();
        if inodes.is_empty() {
            continue;
        }
        let process = ctx.read_trimmed(&format!("/proc/{pid}/comm"));
        for inode in inodes {
            owners.insert(
                inode,
                Owner {
                    pid,
                    process: process.clone(),
                },
            );
        }
    }
    owners
}

/// Listening sockets and connections from the parsed tables and socket owners, deduplicated
/// and sorted.
pub fn build_sockets(
    tcp: &[SocketEntry],
    udp: &[SocketEntry],
    owners: &BTreeMap<u64, Owner>,
) -> Sockets {
    let owner = |inode: u64| owners.get(&inode);
    let listening_socket = |protocol: &str, e: &SocketEntry| ListeningSocket {
        protocol: protocol.to_string(),
        address: e.local.to_string(),
        port: e.local_port,
        process: owner(e.inode).and_then(|o| o.process.clone()),
        pid: owner(e.inode).map(|o| o.pid),
    };

    let tcp_listeners: Vec<&SocketEntry> = tcp.iter().filter(|e| e.state == TCP_LISTEN).collect();
    // A bound, unconnected UDP socket receives from anyone: UDP's notion of listening.
    let udp_listeners = udp
        .iter()
        .filter(|e| e.state == UDP_UNCONNECTED && e.remote.is_unspecified() && e.remote_port == 0);
    let mut listening: Vec<ListeningSocket> = tcp_listeners
        .iter()
        .map(|e| listening_socket("tcp", e))
        .chain(udp_listeners.map(|e| listening_socket("udp", e)))
        .collect();
    // SO_REUSEPORT groups of one process are one service.
    listening.sort();
    listening.dedup();

    let mut connections: Vec<Connection> = tcp
        .iter()
        .filter(|e| e.state == TCP_ESTABLISHED)
        .map(|e| {
            // A wildcard listener takes connections of its own family only; IPv4 clients of a
            // dual-stack `::` listener show up in tcp6 with IPv4-mapped addresses, so they match.
            let inbound = tcp_listeners.iter().any(|l| {
                l.local_port == e.local_port
                    && (l.local == e.local
                        || (l.local.is_unspecified() && l.local.is_ipv4() == e.local.is_ipv4()))
            });
            Connection {
                protocol: "tcp".to_string(),
                local_address: e.local.to_string(),
                remote_address: e.remote.to_string(),
                remote_port: if inbound { 0 } else { e.remote_port },
                inbound,
                local_port: inbound.then_some(e.local_port),
                process: owner(e.inode).and_then(|o| o.process.clone()),
            }
        })
        .collect();
    connections.sort();
    connections.dedup();
    Sockets {
        listening,
        connections,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use std::path::PathBuf;

    fn fixture() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/sockets/debian12")
    }

    fn read(path: &str) -> String {
        std::fs::read_to_string(fixture().join(path.trim_start_matches('/'))).unwrap()
    }

    fn collect() -> Sockets {
        let mut inv = Inventory::default();
        SocketsCollector
            .collect(&Context::new(fixture()), &mut inv)
            .unwrap();
        inv.sockets.unwrap()
    }

    fn listening(
        protocol: &str,
        address: &str,
        port: u16,
        owner: Option<(&str, u32)>,
    ) -> ListeningSocket {
        ListeningSocket {
            protocol: protocol.into(),
            address: address.into(),
            port,
            process: owner.map(|(p, _)| p.to_string()),
            pid: owner.map(|(_, pid)| pid),
        }
    }

    #[test]
    fn tcp_lines_decode_host_order_words_and_hex_ports() {
        let entries = parse_proc_net(&read("/proc/net/tcp"));
        assert_eq!(entries.len(), 16);
        assert_eq!(
            entries[2],
            SocketEntry {
                local: IpAddr::V4(Ipv4Addr::LOCALHOST),
                local_port: 46209,
                remote: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                remote_port: 0,
                state: TCP_LISTEN,
                inode: 23861,
            }
        );
    }

    #[test]
    fn tcp6_lines_decode_mapped_and_loopback_addresses() {
        let entries = parse_proc_net(&read("/proc/net/tcp6"));
        let addrs: Vec<String> = entries.iter().map(|e| e.local.to_string()).collect();
        assert_eq!(addrs, ["::", "::ffff:127.0.0.1", "::1", "::1"]);
        assert_eq!(entries[0].local_port, 39113);
    }

    #[test]
    fn udp_lines_with_wide_slot_numbers_parse() {
        let entries = parse_proc_net(&read("/proc/net/udp"));
        assert_eq!(entries.len(), 2);
        assert_eq!(
            (entries[0].local_port, entries[0].state),
            (36610, UDP_UNCONNECTED)
        );
        assert_eq!(
            (entries[1].remote_port, entries[1].state),
            (9, TCP_ESTABLISHED)
        );
    }

    #[test]
    fn socket_links_give_inodes_and_other_links_nothing() {
        assert_eq!(parse_socket_link("socket:[23861]"), Some(23861));
        assert_eq!(parse_socket_link("pipe:[23861]"), None);
        assert_eq!(parse_socket_link("/dev/null"), None);
    }

    #[test]
    fn collect_lists_each_listening_socket_once_with_its_lowest_pid_owner() {
        // `ss -ltnup` from the capture: 7 sockets, the SO_REUSEPORT pair on :45643 counted
        // twice; the listener on :2024 belongs to a process outside the captured /proc.
        let python = Some(("python3", 14068));
        assert_eq!(
            collect().listening,
            [
                listening("tcp", "0.0.0.0", 2024, None),
                listening("tcp", "0.0.0.0", 45643, python),
                listening("tcp", "127.0.0.1", 46209, python),
                listening("tcp", "::", 39113, python),
                listening("udp", "0.0.0.0", 36610, python),
                listening("udp", "::1", 38417, python),
            ]
        );
    }

    #[test]
    fn collect_merges_connections_that_differ_only_in_ephemeral_ports() {
        let conn = |local: &str,
                    remote: &str,
                    remote_port: u16,
                    local_port: Option<u16>,
                    process: Option<&str>| {
            Connection {
                protocol: "tcp".into(),
                local_address: local.into(),
                remote_address: remote.into(),
                remote_port,
                inbound: local_port.is_some(),
                local_port,
                process: process.map(Into::into),
            }
        };
        let py = Some("python3");
        assert_eq!(
            collect().connections,
            [
                // Two client connections to 127.0.0.1:46209 and the two accepted ends of them.
                conn("127.0.0.1", "127.0.0.1", 0, Some(46209), py),
                conn("127.0.0.1", "127.0.0.1", 39113, None, py),
                conn("127.0.0.1", "127.0.0.1", 46209, None, py),
                // Seven HTTPS connections of build tools outside the captured /proc.
                conn("192.0.2.2", "203.0.113.80", 443, None, None),
                conn("::1", "::1", 0, Some(39113), py),
                conn("::1", "::1", 39113, None, py),
                // An IPv4 client accepted by the dual-stack listener on [::]:39113.
                conn("::ffff:127.0.0.1", "::ffff:127.0.0.1", 0, Some(39113), py),
            ]
        );
    }

    #[test]
    fn connected_udp_sockets_are_not_listening() {
        let udp = parse_proc_net(&read("/proc/net/udp"));
        let sockets = build_sockets(&[], &udp, &BTreeMap::new());
        assert_eq!(
            sockets.listening,
            [listening("udp", "0.0.0.0", 36610, None)]
        );
        assert!(
            sockets.connections.is_empty(),
            "only TCP connections are reported"
        );
    }

    #[test]
    fn a_connection_from_a_listening_port_on_another_address_is_outbound() {
        let entry = |local: [u8; 4], local_port, remote: [u8; 4], remote_port, state| SocketEntry {
            local: IpAddr::from(local),
            local_port,
            remote: IpAddr::from(remote),
            remote_port,
            state,
            inode: 0,
        };
        let tcp = [
            entry([127, 0, 0, 1], 8080, [0, 0, 0, 0], 0, TCP_LISTEN),
            entry(
                [192, 0, 2, 2],
                8080,
                [198, 51, 100, 7],
                443,
                TCP_ESTABLISHED,
            ),
        ];
        let sockets = build_sockets(&tcp, &[], &BTreeMap::new());
        assert!(!sockets.connections[0].inbound);
        assert_eq!(sockets.connections[0].remote_port, 443);
        assert_eq!(sockets.connections[0].local_port, None);
    }
}
