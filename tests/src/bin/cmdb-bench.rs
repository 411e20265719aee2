//! `cmdb-bench`: ingestion throughput and latency of the real `cmdb-server` (embedded
//! SurrealKV, TLS on loopback) under many concurrent simulated agents.
//!
//! Each simulated agent enrolls like a real one and pushes zstd-compressed reports built with
//! the wire types: a host with ~800 packages drawn from a pool shared by the fleet (as on real
//! estates, most hosts carry the same packages at the same versions). Bodies are prepared
//! before each phase so the client spends its CPU on TLS and HTTP only; client and server
//! share this machine's cores, which the figures include.
//!
//! Usage: cmdb-bench [--agents N] [--concurrency C] [--heartbeats N]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use cmdb_shared::hash::{delta, inventory_hashes};
use cmdb_shared::*;
use cmdb_tests::Server;

struct Args {
    agents: usize,
    concurrency: usize,
    heartbeats: usize,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        agents: 300,
        concurrency: 64,
        heartbeats: 30_000,
    };
    cmdb_tests::load::numeric_args(&mut [
        ("--agents", &mut a.agents),
        ("--concurrency", &mut a.concurrency),
        ("--heartbeats", &mut a.heartbeats),
    ])?;
    Ok(a)
}

fn inventory(i: usize, memory: u64) -> Inventory {
    // 800 packages out of a pool of 1,000: every host lacks a different 200, and 5 % of the
    // packages on a host are at a host-specific version.
    let packages: Vec<Package> = (0..1000)
        .filter(|p| !(p + i).is_multiple_of(5))
        .map(|p| Package {
            manager: "dpkg".into(),
            name: format!("package-{p:04}"),
            version: if (p * 7 + i).is_multiple_of(20) {
                format!("2.{p}.{i}-1")
            } else {
                format!("1.{}.{}-1+deb12u1", p % 13, p % 7)
            },
            architecture: Some(if p % 9 == 0 { "all" } else { "amd64" }.into()),
        })
        .collect();
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
                    used_bytes: 37 << 30,
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

fn report(
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

struct Phase {
    name: &'static str,
    count: usize,
    secs: f64,
    p50: Duration,
    p99: Duration,
    bytes: usize,
}

async fn run_phase(
    name: &'static str,
    client: &reqwest::Client,
    url: &str,
    jobs: Vec<(String, Vec<u8>)>,
    concurrency: usize,
) -> anyhow::Result<Phase> {
    let bytes = jobs.iter().map(|j| j.1.len()).sum::<usize>() / jobs.len().max(1);
    let shared = client.clone();
    let t =
        cmdb_tests::load::post_all(Arc::new(move || Ok(shared.clone())), url, jobs, concurrency)
            .await?;
    Ok(Phase {
        name,
        count: t.count,
        secs: t.secs,
        p50: t.p50,
        p99: t.p99,
        bytes,
    })
}

fn main() -> anyhow::Result<()> {
    let a = args()?;
    eprintln!("starting cmdb-server (SurrealKV, TLS) …");
    let mut server = Server::start()?;
    server.configure(cmdb_tests::seed::FLEET_ENROLLS)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let client = server.client()?;
    let url = format!("{}/api/v1/reports", server.url());
    let phases = rt.block_on(async {
        eprintln!("enrolling {} simulated agents …", a.agents);
        let names: Vec<String> = (0..a.agents).map(|i| format!("bench-{i:05}")).collect();
        let tokens =
            cmdb_tests::seed::enroll(&client, &server.url(), &server.init.enroll_token, &names)
                .await?;
        let mem = |round: u64| (64u64 << 30) + round * 4096;
        let invs: Vec<Inventory> = (0..a.agents).map(|i| inventory(i, mem(0))).collect();
        let mut phases = Vec::new();

        let jobs =
            |round: usize, kind: ReportKind, memory: u64, base: bool| -> Vec<(String, Vec<u8>)> {
                (0..a.agents)
                    .map(|i| {
                        let inv = inventory(i, memory);
                        let base_hashes =
                            base.then(|| inventory_hashes(&inventory(i, mem(round as u64 - 1))));
                        (
                            tokens[i].clone(),
                            report(format!("r{round}-{i}"), kind, &inv, base_hashes.as_ref()),
                        )
                    })
                    .collect()
            };
        let _ = &invs;
        eprintln!("phase: first full inventories …");
        phases.push(
            run_phase(
                "full inventory, new host (CI created)",
                &client,
                &url,
                jobs(1, ReportKind::Full, mem(0), false),
                a.concurrency,
            )
            .await?,
        );
        eprintln!("phase: repeated full inventories …");
        let mut all = Vec::new();
        for round in 2..12 {
            all.extend(jobs(round, ReportKind::Full, mem(0), false));
        }
        phases.push(
            run_phase(
                "full inventory, known host",
                &client,
                &url,
                all,
                a.concurrency,
            )
            .await?,
        );
        eprintln!("phase: unchanged deltas …");
        let per_agent = a.heartbeats.div_ceil(a.agents);
        let mut hb = Vec::new();
        for round in 0..per_agent {
            for i in 0..a.agents {
                let base = inventory_hashes(&invs[i]);
                hb.push((
                    tokens[i].clone(),
                    report(
                        format!("h{round}-{i}"),
                        ReportKind::Delta,
                        &invs[i],
                        Some(&base),
                    ),
                ));
            }
        }
        phases.push(
            run_phase(
                "delta, unchanged (heartbeat)",
                &client,
                &url,
                hb,
                a.concurrency,
            )
            .await?,
        );
        eprintln!("phase: deltas with one changed section …");
        let mut d = Vec::new();
        for round in 1..11u64 {
            for (i, token) in tokens.iter().enumerate() {
                let prev = inventory_hashes(&inventory(i, mem(round - 1)));
                d.push((
                    token.clone(),
                    report(
                        format!("d{round}-{i}"),
                        ReportKind::Delta,
                        &inventory(i, mem(round)),
                        Some(&prev),
                    ),
                ));
            }
        }
        phases.push(
            run_phase(
                "delta, one section changed",
                &client,
                &url,
                d,
                a.concurrency,
            )
            .await?,
        );
        anyhow::Ok(phases)
    })?;
    println!(
        "cmdb-server ingestion, {} simulated agents, {} concurrent requests, loopback TLS, 2 cores shared with the client",
        a.agents, a.concurrency
    );
    println!(
        "{:<40} {:>8} {:>8} {:>10} {:>8} {:>8} {:>10}",
        "phase", "reports", "secs", "reports/s", "p50 ms", "p99 ms", "body B"
    );
    for p in &phases {
        println!(
            "{:<40} {:>8} {:>8.2} {:>10.0} {:>8.1} {:>8.1} {:>10}",
            p.name,
            p.count,
            p.secs,
            p.count as f64 / p.secs,
            p.p50.as_secs_f64() * 1000.0,
            p.p99.as_secs_f64() * 1000.0,
            p.bytes
        );
    }
    Ok(())
}
