//! ICMP echo ("ping") probes, IPv4 and IPv6.
//!
//! Linux offers two sockets for this: the unprivileged ICMP datagram socket
//! (`socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP)`, allowed when the process's group is in
//! `net.ipv4.ping_group_range`; the kernel then sets the echo identifier and passes back only
//! this socket's replies) and the raw socket (needs `CAP_NET_RAW`; it sees every ICMP message
//! the host receives, IPv4 ones with their IP header, so replies are matched here by source,
//! identifier, sequence and payload). The datagram socket is tried first.
//!
//! Where neither may be opened the probe cannot run at all: that is a configuration problem
//! reported when the agent starts ([`check`]), never a "down" result.
//!
//! One run sends up to three echo requests, a third of the timeout apart, and takes the
//! first matching reply: a single lost packet does not make a host down. The latency is that
//! request's round trip.
//!
//! The socket is driven through tokio's `UdpSocket`, which is only a safe asynchronous
//! wrapper of `sendto`/`recvfrom` on a datagram-like descriptor: exactly what these sockets
//! take (the port of the addresses is unused).

use std::net::{IpAddr, SocketAddr};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use nix::sys::socket::{AddressFamily, SockFlag, SockProtocol, SockType, socket};

/// Why an ICMP probe cannot run.
#[derive(Debug, thiserror::Error)]
pub enum IcmpError {
    #[error(
        "this process may not open {family} ICMP sockets (add its group to net.ipv4.ping_group_range or grant CAP_NET_RAW): {source}"
    )]
    NotPermitted {
        family: &'static str,
        #[source]
        source: nix::Error,
    },
    #[error("ICMP socket: {0}")]
    Io(#[from] std::io::Error),
}

/// Which socket [`open`] got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketKind {
    /// Unprivileged ICMP datagram socket.
    Datagram,
    /// Raw socket (`CAP_NET_RAW`).
    Raw,
}

const PAYLOAD: &[u8; 16] = b"cmdb-agent-probe";
const ECHO_REQUEST_V4: u8 = 8;
const ECHO_REPLY_V4: u8 = 0;
const ECHO_REQUEST_V6: u8 = 128;
const ECHO_REPLY_V6: u8 = 129;
const ATTEMPTS: u16 = 3;

fn family_name(v6: bool) -> &'static str {
    if v6 { "IPv6" } else { "IPv4" }
}

/// Opens a non-blocking ICMP socket of the address family, datagram if allowed, else raw.
pub fn open(v6: bool) -> Result<(OwnedFd, SocketKind), IcmpError> {
    let (family, proto) = if v6 {
        (AddressFamily::Inet6, SockProtocol::IcmpV6)
    } else {
        (AddressFamily::Inet, SockProtocol::Icmp)
    };
    let flags = SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC;
    match socket(family, SockType::Datagram, flags, proto) {
        Ok(fd) => Ok((fd, SocketKind::Datagram)),
        Err(_) => socket(family, SockType::Raw, flags, proto)
            .map(|fd| (fd, SocketKind::Raw))
            .map_err(|source| IcmpError::NotPermitted {
                family: family_name(v6),
                source,
            }),
    }
}

/// Whether this process may send ICMP echoes of the family (what [`open`] would get).
pub fn check(v6: bool) -> Result<SocketKind, IcmpError> {
    open(v6).map(|(_, kind)| kind)
}

/// The Internet checksum (RFC 1071) of an ICMPv4 message.
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An echo request: type, code, checksum, identifier, sequence, payload.
fn echo_request(v6: bool, id: u16, seq: u16) -> Vec<u8> {
    let mut m = Vec::with_capacity(8 + PAYLOAD.len());
    m.push(if v6 { ECHO_REQUEST_V6 } else { ECHO_REQUEST_V4 });
    m.push(0);
    m.extend_from_slice(&[0, 0]);
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(PAYLOAD);
    // The kernel computes ICMPv6 checksums itself (they cover a pseudo-header).
    if !v6 {
        let c = checksum(&m);
        m[2..4].copy_from_slice(&c.to_be_bytes());
    }
    m
}

/// The sequence number of an echo reply to us in `packet`, if it is one. `raw_v4`: the
/// packet starts with its IPv4 header. `id`: the identifier to match (`None` on datagram
/// sockets, where the kernel chose it and filters replies itself).
fn reply_seq(packet: &[u8], v6: bool, raw_v4: bool, id: Option<u16>) -> Option<u16> {
    let icmp = if raw_v4 {
        let ihl = usize::from(packet.first()? & 0x0f) * 4;
        packet.get(ihl..)?
    } else {
        packet
    };
    let want = if v6 { ECHO_REPLY_V6 } else { ECHO_REPLY_V4 };
    if icmp.len() < 8 + PAYLOAD.len() || icmp[0] != want || icmp[1] != 0 {
        return None;
    }
    if id.is_some_and(|id| icmp[4..6] != id.to_be_bytes()) {
        return None;
    }
    (&icmp[8..8 + PAYLOAD.len()] == PAYLOAD).then(|| u16::from_be_bytes([icmp[6], icmp[7]]))
}

/// Pings `addr`: the round trip of the first answered echo, `None` when none was answered
/// within `timeout`.
pub async fn ping(addr: IpAddr, timeout: Duration) -> Result<Option<Duration>, IcmpError> {
    let v6 = addr.is_ipv6();
    let (fd, kind) = open(v6)?;
    let sock = tokio::net::UdpSocket::from_std(std::net::UdpSocket::from(fd))?;
    let id: u16 = rand::random();
    let dest = SocketAddr::new(addr, 0);
    let match_id = (kind == SocketKind::Raw).then_some(id);
    let raw_v4 = kind == SocketKind::Raw && !v6;
    let started = Instant::now();
    let deadline = started + timeout;
    let spacing = timeout / u32::from(ATTEMPTS);
    let mut sent: Vec<Instant> = Vec::new();
    let mut buf = [0u8; 1500];
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        let next_send = started + spacing * sent.len() as u32;
        if sent.len() < usize::from(ATTEMPTS) && now >= next_send {
            let msg = echo_request(v6, id, sent.len() as u16);
            // A full send buffer or an unreachable network is one lost echo, not an error.
            if let Err(e) = sock.try_send_to(&msg, dest) {
                tracing::debug!(%addr, error = %e, "echo request not sent");
            }
            sent.push(Instant::now());
            continue;
        }
        let wake = if sent.len() < usize::from(ATTEMPTS) {
            next_send.min(deadline)
        } else {
            deadline
        };
        let received = tokio::time::timeout_at(
            tokio::time::Instant::from_std(wake),
            sock.recv_from(&mut buf),
        )
        .await;
        let Ok(received) = received else { continue };
        // On a raw socket most of what arrives is other ICMP traffic of the host.
        let (n, from) = received?;
        if from.ip() != addr {
            continue;
        }
        if let Some(seq) = reply_seq(&buf[..n], v6, raw_v4, match_id)
            && let Some(at) = sent.get(usize::from(seq))
        {
            return Ok(Some(at.elapsed()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checksum_is_rfc_1071s() {
        // RFC 1071 §3's example: words 0001 f203 f4f5 f6f7 sum to ddf2; the checksum is its
        // complement.
        assert_eq!(
            checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            !0xddf2
        );
        // A message with its checksum in place sums to zero.
        let m = echo_request(false, 0x1234, 7);
        assert_eq!(checksum(&m), 0);
    }

    #[test]
    fn replies_are_matched_by_type_identifier_and_payload() {
        let mut reply = echo_request(false, 0x1234, 2);
        reply[0] = ECHO_REPLY_V4;
        assert_eq!(reply_seq(&reply, false, false, None), Some(2));
        assert_eq!(reply_seq(&reply, false, false, Some(0x1234)), Some(2));
        assert_eq!(reply_seq(&reply, false, false, Some(0x4321)), None);
        // On a raw IPv4 socket the reply comes after a 20-byte IP header.
        let mut with_header = vec![0x45; 1];
        with_header.extend_from_slice(&[0; 19]);
        with_header.extend_from_slice(&reply);
        assert_eq!(reply_seq(&with_header, false, true, Some(0x1234)), Some(2));
        // Our own request, looped back on a raw socket, is not a reply.
        let request = echo_request(false, 0x1234, 2);
        assert_eq!(reply_seq(&request, false, false, Some(0x1234)), None);
        let mut v6 = echo_request(true, 9, 1);
        v6[0] = ECHO_REPLY_V6;
        assert_eq!(reply_seq(&v6, true, false, Some(9)), Some(1));
    }

    #[test]
    fn the_permission_error_says_how_to_allow_icmp() {
        let e = IcmpError::NotPermitted {
            family: "IPv4",
            source: nix::Error::EACCES,
        };
        let text = e.to_string();
        assert!(text.contains("may not open IPv4 ICMP sockets"), "{text}");
        assert!(text.contains("net.ipv4.ping_group_range"), "{text}");
        assert!(text.contains("CAP_NET_RAW"), "{text}");
    }

    #[tokio::test]
    async fn localhost_answers_where_icmp_sockets_are_allowed() {
        match check(false) {
            Err(e) => {
                // The sandbox forbids both sockets: the probe must say so, not report down.
                println!("skipped: ICMP sockets are not allowed here: {e}");
                assert!(e.to_string().contains("ping_group_range"));
            }
            Ok(kind) => {
                let rtt = ping("127.0.0.1".parse().expect("ip"), Duration::from_secs(2))
                    .await
                    .expect("ping")
                    .unwrap_or_else(|| panic!("127.0.0.1 did not answer ({kind:?} socket)"));
                assert!(rtt < Duration::from_secs(2));
            }
        }
    }
}
