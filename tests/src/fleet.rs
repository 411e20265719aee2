//! The simulated fleet the load generators push: a host as its agent reports it (with the
//! package churn of a fleet's updates) and reports built with the wire types as agents build
//! them.

use std::collections::BTreeMap;

use cmdb_shared::hash::{delta, inventory_hashes};
use cmdb_shared::*;

/// The fleet's package churn: which hosts upgrade which packages in which round.
#[derive(Debug, Clone, Copy)]
pub struct Churn {
    /// Share of the hosts that upgrade in a round, in percent.
    pub pct: usize,
    /// Packages each of them upgrades.
    pub upgrades: usize,
}

impl Churn {
    /// Host `i` upgrades packages in `round`.
    pub fn upgrades_in(self, i: usize, round: usize) -> bool {
        round > 0 && (i * 31 + round * 17) % 100 < self.pct
    }

    /// The last round up to `round` in which host `i` upgraded package `p`, if any.
    pub fn last_upgrade(self, i: usize, p: usize, round: usize) -> Option<usize> {
        (1..=round).rev().find(|&r| {
            let first = (i * 13 + r * 29) % 1000;
            self.upgrades_in(i, r) && (p + 1000 - first) % 1000 < self.upgrades * 5 / 4
        })
    }
}

/// Package `p`'s version after its upgrade in round `r` (the same on every host).
fn upgraded_version(p: usize, r: usize) -> String {
    format!("1.{}.{}-1+deb12u{}", p % 13, p % 7, r + 1)
}

/// Host `i`'s `inv` after it upgrades the packages it has of the `upgrades * 5 / 4` that
/// [`Churn`] picks for it in `round` (a fifth of the pool is missing on each host, so about
/// `upgrades` of them), whether or not the fleet's churn upgrades it that round.
pub fn upgrade(inv: &mut Inventory, i: usize, round: usize, upgrades: usize) {
    let first = (i * 13 + round * 29) % 1000;
    for pk in inv.packages.iter_mut().flatten() {
        let Some(p) = pk
            .name
            .strip_prefix("package-")
            .and_then(|n| n.parse::<usize>().ok())
        else {
            continue;
        };
        if (p + 1000 - first) % 1000 < upgrades * 5 / 4 {
            pk.version = upgraded_version(p, round);
        }
    }
}

/// Host `i` as its agent sees it in `round`: filesystem usage moves every round, and the
/// packages upgraded so far (see [`Churn`]) carry their new versions.
pub fn inventory(i: usize, round: usize, churn: Churn) -> Inventory {
    // 800 packages out of a pool of 1,000: every host lacks a different 200, and 5 % of the
    // packages on a host are at a host-specific version.
    let packages: Vec<Package> = (0..1000)
        .filter(|p| !(p + i).is_multiple_of(5))
        .map(|p| Package {
            manager: "dpkg".into(),
            name: format!("package-{p:04}"),
            version: match (
                churn.last_upgrade(i, p, round),
                (p * 7 + i).is_multiple_of(20),
            ) {
                (Some(r), _) => upgraded_version(p, r),
                (None, true) => format!("2.{p}.{i}-1"),
                (None, false) => format!("1.{}.{}-1+deb12u1", p % 13, p % 7),
            },
            architecture: Some(if p % 9 == 0 { "all" } else { "amd64" }.into()),
        })
        .collect();
    let memory: u64 = 64 << 30;
    let mac = format!(
        "b4:96:91:{:02x}:{:02x}:{:02x}",
        (i >> 16) & 0xff,
        (i >> 8) & 0xff,
        i & 0xff
    );
    Inventory {
        identity: Some(Identity {
            hostname: format!("bench-{i:05}"),
            fqdn: Some(format!("bench-{i:05}.example.com")),
            machine_id: Some(format!("{:032x}", 0x5eed_0000_0000_u128 + i as u128)),
            hardware_uuid: Some(format!("4c4c4544-{:04x}-3510-8052-{:012x}", i & 0xffff, i)),
            vendor: Some("Dell Inc.".into()),
            model: Some("PowerEdge R650".into()),
            serial: Some(format!("BENCH{i:06}")),
            chassis_type: Some("rack mount chassis".into()),
        }),
        os: Some(Os {
            id: Some("debian".into()),
            name: Some("Debian GNU/Linux".into()),
            version_id: Some("12".into()),
            pretty_name: Some("Debian GNU/Linux 12 (bookworm)".into()),
            kernel_release: Some("6.1.0-26-amd64".into()),
            kernel_version: Some("#1 SMP PREEMPT_DYNAMIC Debian 6.1.112-1".into()),
            architecture: Some("x86_64".into()),
            boot_time: None,
            timezone: Some("Europe/Paris".into()),
        }),
        cpu: Some(Cpu {
            model: Some("Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz".into()),
            vendor: Some("GenuineIntel".into()),
            sockets: 2,
            cores: 64,
            threads: 128,
            mhz: Some(3200.0),
        }),
        memory: Some(Memory {
            total_bytes: memory,
            swap_total_bytes: 8 << 30,
        }),
        disks: Some(vec![Disk {
            name: "nvme0n1".into(),
            size_bytes: 960 << 30,
            model: Some("Dell Ent NVMe AGN MU U.2 960GB".into()),
            serial: Some(format!("S6EUNA0T{i:06}")),
            rotational: Some(false),
            kind: "disk".into(),
        }]),
        filesystems: Some(
            ["/", "/boot", "/var", "/srv"]
                .iter()
                .enumerate()
                .map(|(n, m)| Filesystem {
                    mount_point: (*m).into(),
                    device: format!("/dev/nvme0n1p{}", n + 1),
                    fs_type: "ext4".into(),
                    size_bytes: 100 << 30,
                    used_bytes: (37 << 30) + (round as u64) * 4096 * (n as u64 + 1),
                })
                .collect(),
        ),
        network: Some(vec![NetworkInterface {
            name: "eno1".into(),
            mac: Some(mac),
            permanent_mac: None,
            addresses: vec![IpAddress {
                address: format!("10.{}.{}.{}", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff),
                prefix_len: 16,
                family: "inet".into(),
            }],
            mtu: Some(1500),
            speed_mbps: Some(25_000),
            state: "up".into(),
            physical: true,
        }]),
        packages: Some(packages),
        services: Some(
            (0..60)
                .map(|s| Service {
                    name: format!("service-{s:02}.service"),
                    description: Some(format!("Service number {s}")),
                    enabled: Some("enabled".into()),
                    active: Some("active".into()),
                    sub: Some("running".into()),
                })
                .collect(),
        ),
        sockets: Some(Sockets {
            listening: vec![ListeningSocket {
                protocol: "tcp".into(),
                address: "0.0.0.0".into(),
                port: 22,
                process: Some("sshd".into()),
                pid: Some(812),
            }],
            connections: vec![],
        }),
        virtualization: Some(Virtualization::default()),
    }
}

/// Each agent's full inventory of `round` (report id `f<round>-<i>`), with its token: what
/// a round of full inventories sends.
pub fn full_round(tokens: &[String], round: usize, churn: Churn) -> Vec<(String, Vec<u8>)> {
    tokens
        .iter()
        .enumerate()
        .map(|(i, token)| {
            let inv = inventory(i, round, churn);
            let id = format!("f{round}-{i}");
            (token.clone(), report(id, ReportKind::Full, &inv, None))
        })
        .collect()
}

pub fn report(
    id: String,
    kind: ReportKind,
    inv: &Inventory,
    base: Option<&BTreeMap<String, String>>,
) -> Vec<u8> {
    let hashes = inventory_hashes(inv);
    let sent = match base {
        Some(base) => delta(inv.clone(), &hashes, base),
        None => inv.clone(),
    };
    let r = Report {
        schema_version: SCHEMA_VERSION,
        report_id: id,
        kind,
        agent_version: "bench".into(),
        collected_at: chrono::Utc::now(),
        section_hashes: hashes,
        inventory: sent,
        errors: vec![],
    };
    zstd::bulk::compress(&serde_json::to_vec(&r).unwrap_or_default(), 3).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upgrade_changes_about_the_packages_asked_for_and_no_others() {
        let churn = Churn {
            pct: 10,
            upgrades: 30,
        };
        for i in 0..200 {
            let before = inventory(i, 10, churn);
            let mut after = before.clone();
            upgrade(&mut after, i, 11, 30);
            let (b, a) = (before.packages.unwrap(), after.packages.unwrap());
            assert_eq!(b.len(), a.len());
            let changed = b.iter().zip(&a).filter(|(x, y)| x != y).count();
            assert!((22..=37).contains(&changed), "host {i}: {changed} upgraded");
            assert!(b.iter().zip(&a).all(|(x, y)| x.name == y.name));
        }
    }
}
