//! `cmdb-agent` command line: argument parsing, logging, exit codes.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use cmdb_agent::config::Config;
use cmdb_agent::daemon::{AGENT_VERSION, Agent, collect_inventory};
use cmdb_agent::state::{Credential, StateDir};
use cmdb_agent::{client, tls};

const DEFAULT_CONFIG: &str = "/etc/cmdb-agent/agent.toml";

#[derive(Parser)]
#[command(
    name = "cmdb-agent",
    version,
    about = "Inventories this host and pushes it to cmdb-server"
)]
struct Cli {
    /// Config file (missing default file = all defaults).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print one full inventory as JSON (no server needed).
    Inventory {
        /// Read under this root instead of the configured one (fixture trees).
        #[arg(long)]
        root: Option<PathBuf>,
        /// Print on one line.
        #[arg(long)]
        compact: bool,
    },
    /// Exchange a fleet enrollment token for this agent's own credential.
    Enroll {
        /// Server URL, e.g. https://cmdb.example.com:8443
        #[arg(long)]
        server: String,
        /// Fleet enrollment token.
        #[arg(long)]
        token: String,
        /// Pin the server's CA from this PEM file.
        #[arg(long, conflicts_with = "ca_fingerprint")]
        ca_cert: Option<PathBuf>,
        /// Pin the server's CA by the SHA-256 fingerprint of its certificate.
        #[arg(long)]
        ca_fingerprint: Option<String>,
    },
    /// Run: report on a schedule, deliver the spool, retry with backoff.
    Run {
        /// One cycle (collect, spool, deliver), then exit; non-zero if reports stay pending.
        #[arg(long)]
        once: bool,
    },
    /// Validate the config file and the state directory, then exit.
    CheckConfig,
    /// Network devices over SNMP.
    Snmp {
        #[command(subcommand)]
        command: SnmpCommand,
    },
}

#[derive(Subcommand)]
enum SnmpCommand {
    /// Print one device's inventory (and the metrics sampled with it) as JSON.
    Inventory {
        /// HOST or HOST:PORT (port 161 by default; [IPv6]:PORT).
        target: String,
        #[command(flatten)]
        access: SnmpAccess,
    },
    /// Print the OID subtrees a device inventory reads, one per line (what a device's SNMP
    /// view must include).
    Subtrees,
    /// Poll every device of the configuration ([snmp] targets, and the responders of its
    /// discovery ranges) once, and print how each went. Nothing is sent to the server.
    Poll {
        /// Print every device's inventory and metrics as JSON instead of a summary.
        #[arg(long)]
        json: bool,
    },
    /// Probe every address of one or more ranges (sysObjectID, sysName, sysDescr) and list
    /// the devices that answer.
    Discover {
        /// Ranges such as 10.0.0.0/24 (at most 65,536 addresses each) or single addresses.
        #[arg(required = true)]
        ranges: Vec<String>,
        /// UDP port to probe.
        #[arg(long, default_value_t = 161)]
        port: u16,
        /// Addresses probed at the same time.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Print the responders as JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        access: SnmpAccess,
    },
}

#[derive(clap::Args)]
struct SnmpAccess {
    /// SNMPv1/v2c community.
    #[arg(long, conflicts_with = "v3_user")]
    community: Option<String>,
    /// Use SNMPv1 instead of v2c with --community.
    #[arg(long, requires = "community")]
    v1: bool,
    /// SNMPv3 user name.
    #[arg(long)]
    v3_user: Option<String>,
    /// SNMPv3 authentication protocol: md5, sha, sha224, sha256, sha384, sha512.
    #[arg(long, requires = "v3_user", requires = "auth_key")]
    auth_protocol: Option<String>,
    /// SNMPv3 authentication pass phrase.
    #[arg(long, requires = "v3_user")]
    auth_key: Option<String>,
    /// SNMPv3 privacy protocol: des, aes (aes128), aes192, aes256, aes192c, aes256c
    /// (the "c" forms use Cisco's key extension).
    #[arg(long, requires = "priv_key", requires = "auth_key")]
    priv_protocol: Option<String>,
    /// SNMPv3 privacy pass phrase.
    #[arg(long, requires = "v3_user")]
    priv_key: Option<String>,
    /// SNMPv3 context name.
    #[arg(long, default_value = "", requires = "v3_user")]
    context: String,
    /// Seconds to wait for each answer.
    #[arg(long, default_value_t = 2.0)]
    timeout: f64,
    /// Retries after a timeout.
    #[arg(long, default_value_t = 2)]
    retries: u32,
    /// GETBULK max-repetitions.
    #[arg(long, default_value_t = 25)]
    max_repetitions: u32,
}

impl SnmpAccess {
    fn credentials(&self) -> anyhow::Result<cmdb_agent::snmp::client::Credentials> {
        use cmdb_agent::snmp::client::{Credentials, V3Spec};
        if let Some(community) = &self.community {
            if community.is_empty() || community.len() > 255 {
                bail!("--community: must be 1-255 characters");
            }
            return Ok(if self.v1 {
                Credentials::V1 {
                    community: community.clone(),
                }
            } else {
                Credentials::V2c {
                    community: community.clone(),
                }
            });
        }
        let Some(user) = &self.v3_user else {
            bail!("give --community (SNMPv1/v2c) or --v3-user (SNMPv3)");
        };
        V3Spec {
            user: user.clone(),
            auth_protocol: self.auth_protocol.clone(),
            auth_key: self.auth_key.clone(),
            priv_protocol: self.priv_protocol.clone(),
            priv_key: self.priv_key.clone(),
            context: self.context.clone(),
        }
        .credentials(true)
        .map_err(anyhow::Error::msg)
    }

    fn options(&self) -> anyhow::Result<cmdb_agent::snmp::client::Options> {
        if !(0.05..=60.0).contains(&self.timeout) {
            bail!("--timeout: must be between 0.05 and 60 seconds");
        }
        if self.retries > 10 {
            bail!("--retries: at most 10");
        }
        if !(1..=1000).contains(&self.max_repetitions) {
            bail!("--max-repetitions: must be from 1 to 1000");
        }
        Ok(cmdb_agent::snmp::client::Options {
            timeout: Duration::from_secs_f64(self.timeout),
            retries: self.retries,
            max_repetitions: self.max_repetitions,
            ..Default::default()
        })
    }
}

/// Makes glibc serve allocations of 32 KiB and more with `mmap` instead of from the heap.
///
/// Every SNMP session (snmp2) allocates two 64 KiB buffers with `calloc` and touches only the
/// few KiB an SNMP message uses. From fresh `mmap` pages the untouched rest costs nothing and
/// is returned on free; from the heap, glibc zeroes a reused chunk in full. Measured with 200
/// devices polled at once: 41 MB peak RSS before, 32 MB after (see README, SNMP benchmarks).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn tune_allocator() {
    // SAFETY: mallopt only sets an allocator parameter; it is called first thing in main,
    // before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 * 1024);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}

fn main() -> ExitCode {
    tune_allocator();
    // CMDB_LOG is a level (error, warn, info, debug, trace); the agent has no per-module filters.
    let level = std::env::var("CMDB_LOG")
        .ok()
        .and_then(|l| l.parse::<tracing::level_filters::LevelFilter>().ok())
        .unwrap_or(tracing::level_filters::LevelFilter::INFO);
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(path: Option<PathBuf>) -> anyhow::Result<Config> {
    match path {
        Some(p) => Ok(Config::load(&p)?),
        None if std::path::Path::new(DEFAULT_CONFIG).exists() => {
            Ok(Config::load(std::path::Path::new(DEFAULT_CONFIG))?)
        }
        None => Ok(Config::default()),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    // One thread: the agent does one thing at a time and must stay small.
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut cfg = load_config(cli.config)?;
    match cli.command {
        Command::Inventory { root, compact } => {
            if let Some(r) = root {
                if !r.is_absolute() {
                    bail!("--root: must be an absolute path");
                }
                cfg.root = r;
            }
            let (inv, _errors) = collect_inventory(&cfg);
            let out = if compact {
                serde_json::to_string(&inv)?
            } else {
                serde_json::to_string_pretty(&inv)?
            };
            println!("{out}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Snmp {
            command: SnmpCommand::Inventory { target, access },
        } => {
            let address = cmdb_agent::snmp::target_address(&target).map_err(anyhow::Error::msg)?;
            let mut client = cmdb_agent::snmp::client::Client::new(
                address,
                access.credentials()?,
                access.options()?,
            );
            let (inventory, metrics) =
                runtime()?.block_on(cmdb_agent::snmp::inventory(&mut client))?;
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "inventory": inventory,
                    "metrics": metrics,
                }))?
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Snmp {
            command:
                SnmpCommand::Discover {
                    ranges,
                    port,
                    concurrency,
                    json,
                    access,
                },
        } => {
            use cmdb_agent::snmp::discover;
            if port == 0 {
                bail!("--port: must be from 1 to 65535");
            }
            if !(1..=1024).contains(&concurrency) {
                bail!("--concurrency: must be from 1 to 1024");
            }
            let nets = ranges
                .iter()
                .map(|r| discover::parse_range(r).map(|n| (n, port)))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| anyhow::anyhow!("range {e}"))?;
            let credential = ("command line".to_string(), access.credentials()?);
            let options = access.options()?;
            // Drawn only when stderr is a terminal.
            let bar = indicatif::ProgressBar::with_draw_target(
                None,
                indicatif::ProgressDrawTarget::stderr(),
            );
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} addresses, {msg} ({eta} left)",
            ) {
                bar.set_style(style);
            }
            let mut total = 0;
            let responders = runtime()?.block_on(discover::sweep(
                &nets,
                std::slice::from_ref(&credential),
                options,
                concurrency,
                |p| {
                    total = p.total;
                    bar.set_length(p.total);
                    bar.set_position(p.done);
                    bar.set_message(format!("{} responder(s)", p.found));
                },
            ));
            bar.finish_and_clear();
            if json {
                println!("{}", serde_json::to_string_pretty(&responders)?);
            } else {
                println!(
                    "{:<24} {:<20} {:<24} {:<28} DESCRIPTION",
                    "ADDRESS", "VENDOR", "NAME", "SYSOBJECTID"
                );
                for r in &responders {
                    println!(
                        "{:<24} {:<20} {:<24} {:<28} {}",
                        r.address,
                        r.vendor.as_deref().unwrap_or("-"),
                        r.name.as_deref().unwrap_or("-"),
                        r.object_id.as_deref().unwrap_or("-"),
                        r.description.as_deref().unwrap_or("-"),
                    );
                }
                eprintln!("{} responder(s) in {total} address(es)", responders.len());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Snmp {
            command: SnmpCommand::Subtrees,
        } => {
            for s in cmdb_agent::snmp::mib::SUBTREES {
                println!("{s}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Snmp {
            command: SnmpCommand::Poll { json },
        } => {
            let state = StateDir::new(&cfg.state_dir);
            let Some(mut poller) = cmdb_agent::snmp::poller::Poller::new(
                &cfg.snmp,
                state.dir().join("snmp-discovered.json"),
            )?
            else {
                bail!("the configuration has no [[snmp.targets]] and no [[snmp.discovery]] ranges");
            };
            let started = std::time::Instant::now();
            let round = runtime()?.block_on(poller.round(true));
            let wall = started.elapsed();
            let failed = round.polled.iter().filter(|p| p.1.is_err()).count();
            if json {
                let out: Vec<serde_json::Value> = round
                    .polled
                    .iter()
                    .map(|(t, r, took)| {
                        let mut v = serde_json::json!({
                            "target": t.address,
                            "credential": t.credential,
                            "source": t.source,
                            "millis": took.as_millis() as u64,
                        });
                        match r {
                            Ok((inventory, metrics)) => {
                                v["inventory"] = serde_json::json!(inventory);
                                v["metrics"] = serde_json::json!(metrics);
                            }
                            Err(e) => v["error"] = serde_json::json!(e.to_string()),
                        }
                        v
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                for (t, r, took) in &round.polled {
                    match r {
                        Ok((inv, _)) => println!(
                            "ok    {:<24} {:>6} ms  {} ({} interfaces, {} neighbours, {} forwarding entries)",
                            t.address,
                            took.as_millis(),
                            inv.system.name.as_deref().unwrap_or("-"),
                            inv.interfaces.len(),
                            inv.lldp_neighbors.len() + inv.cdp_neighbors.len(),
                            inv.forwarding.len(),
                        ),
                        Err(e) => {
                            println!("error {:<24} {:>6} ms  {e}", t.address, took.as_millis())
                        }
                    }
                }
            }
            eprintln!(
                "{} device(s) polled in {:.2} s, {failed} failed; {} range(s) swept",
                round.polled.len(),
                wall.as_secs_f64(),
                round.swept
            );
            Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            })
        }
        Command::CheckConfig => {
            let state = StateDir::new(&cfg.state_dir);
            match state.credential() {
                Ok(c) => println!(
                    "config ok; enrolled as agent {} with {}",
                    c.agent_id, c.server
                ),
                Err(e) => println!("config ok; {e}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Enroll {
            server,
            token,
            ca_cert,
            ca_fingerprint,
        } => {
            let url = reqwest::Url::parse(&server)
                .with_context(|| format!("--server: {server:?} is not a URL"))?;
            let plain = url.scheme() == "http";
            if plain
                && !url
                    .host_str()
                    .is_some_and(|h| h == "localhost" || h == "127.0.0.1" || h == "[::1]")
            {
                bail!("--server: plain http is allowed only on loopback; use https");
            }
            if !plain && url.scheme() != "https" {
                bail!("--server: expected an https:// URL");
            }
            let timeout = Duration::from_secs(cfg.delivery.timeout_secs);
            let (tls_cfg, verifier, ca_pem) = match (&ca_cert, &ca_fingerprint, plain) {
                (_, _, true) => (None, None, None),
                (Some(p), None, false) => {
                    let pem = std::fs::read(p)
                        .with_context(|| format!("--ca-cert: cannot read {}", p.display()))?;
                    let c = tls::pinned_ca(&pem).context("--ca-cert")?;
                    (
                        Some(c),
                        None,
                        Some(String::from_utf8_lossy(&pem).to_string()),
                    )
                }
                (None, Some(fp), false) => {
                    let v = tls::FingerprintVerifier::new(tls::parse_fingerprint(fp)?);
                    (Some(v.client_config()?), Some(v), None)
                }
                _ => bail!("pin the server's CA: pass --ca-cert PATH or --ca-fingerprint SHA256"),
            };
            let http = client::build(tls_cfg, timeout)?;
            let hostname = std::fs::read_to_string(cfg.root.join("proc/sys/kernel/hostname"))
                .map(|h| h.trim().to_string())
                .unwrap_or_else(|_| "unknown".into());
            let req = cmdb_shared::EnrollRequest {
                hostname,
                agent_version: AGENT_VERSION.into(),
            };
            let base = server.trim_end_matches('/').to_string();
            let resp = runtime()?
                .block_on(client::enroll(&http, &base, &token, &req))
                .map_err(|e| anyhow::anyhow!(client::error_chain(&e)))
                .context("enrollment failed")?;
            let ca_pem = ca_pem.or_else(|| verifier.and_then(|v| v.found_ca_pem()));
            let state = StateDir::new(&cfg.state_dir);
            state.save_enrollment(
                &Credential {
                    server: base,
                    agent_id: resp.agent_id.clone(),
                    token: resp.token,
                },
                ca_pem.as_deref(),
            )?;
            println!(
                "enrolled as agent {}; credential in {}",
                resp.agent_id,
                state.credential_path().display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Run { once } => {
            let rt = runtime()?;
            let mut agent = Agent::new(cfg)?;
            if once {
                let devices = rt.block_on(agent.poll_devices(true))?;
                if devices != Default::default() {
                    println!(
                        "devices: {} polled, {} failed, {} range(s) swept",
                        devices.spooled, devices.failed, devices.swept
                    );
                }
                let out = rt.block_on(agent.cycle())?;
                println!(
                    "delivered {} report(s), {} pending{}",
                    out.delivered,
                    out.pending,
                    out.stopped
                        .as_deref()
                        .map(|s| format!(" ({s})"))
                        .unwrap_or_default()
                );
                return Ok(if out.pending == 0 {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(3)
                });
            }
            rt.block_on(agent.run(shutdown_signal()))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {},
                _ = tokio::signal::ctrl_c() => {},
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    tracing::info!("shutting down");
}
