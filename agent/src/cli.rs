//! The `cmdb-agent` command line: the clap definition ([`Cli`]) and [`run`], which loads the
//! configuration and carries out one subcommand; the `snmp` subcommands are in `cli/snmp.rs`.
//!
//! This is the start-up glue, the one place in the crate where errors are `anyhow`: `main.rs`
//! prints them as `error: …` and exits with status 1. Subcommands that succeed but have work
//! left over (reports still pending, devices that failed) return exit status 3.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::daemon::{AGENT_VERSION, Agent, collect_inventory};
use crate::state::{Credential, StateDir};
use crate::{client, tls};

/// `println!` that returns its error: a closed standard output (`cmdb-agent snmp subtrees |
/// head`) ends the command quietly (see `main.rs`) instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*).map_err($crate::cli::stdout_error)?
    }};
}

/// Standard output was closed by its reader: the command stops, and `main` exits quietly.
#[derive(Debug, thiserror::Error)]
#[error("standard output closed")]
pub struct StdoutClosed;

/// A failed write to standard output: [`StdoutClosed`] for a broken pipe.
pub(crate) fn stdout_error(e: std::io::Error) -> anyhow::Error {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        StdoutClosed.into()
    } else {
        anyhow::Error::new(e).context("writing to standard output")
    }
}

mod snmp;

const DEFAULT_CONFIG: &str = "/etc/cmdb-agent/agent.toml";

/// The `cmdb-agent` command line.
#[derive(Parser)]
#[command(
    name = "cmdb-agent",
    version,
    about = "Inventories this host and pushes it to cmdb-server"
)]
pub struct Cli {
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
        /// Read the fleet enrollment token from this file (`-`: standard input). Without it,
        /// the CMDB_ENROLL_TOKEN environment variable. Never on the command line: every user
        /// of the host can read a command line.
        #[arg(long)]
        token_file: Option<PathBuf>,
        /// No longer accepted (see --token-file).
        #[arg(long, hide = true)]
        token: Option<String>,
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
    /// Validate the config file and the state directory, and check that every probe can run
    /// on this host, then exit.
    CheckConfig,
    /// Print one metric batch of this host as JSON (no server needed): two samples SECS
    /// apart, so rates and CPU utilisation exist, and one run of every probe.
    Metrics {
        /// Read under this root instead of the configured one (fixture trees).
        #[arg(long)]
        root: Option<PathBuf>,
        /// Seconds between the two samples.
        #[arg(long, default_value_t = 1.0)]
        over: f64,
        /// Do not run the configured probes.
        #[arg(long)]
        no_probes: bool,
        /// Print on one line.
        #[arg(long)]
        compact: bool,
    },
    /// Measure the CPU cost of metrics ticks: run TICKS ticks in-process (sample, batch,
    /// compress, spool to a temporary directory, then discard) and print the CPU time per tick.
    #[command(hide = true)]
    BenchMetrics {
        #[arg(long, default_value_t = 1000)]
        ticks: u32,
    },
    /// Network devices over SNMP.
    Snmp {
        #[command(subcommand)]
        command: snmp::SnmpCommand,
    },
}

/// Loads the configuration and carries out the subcommand; the exit code is 3 when
/// `run --once` leaves reports pending or `snmp poll` has failed devices.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let cfg = load_config(cli.config)?;
    match cli.command {
        Command::Inventory { root, compact } => inventory(cfg, root, compact),
        Command::Enroll {
            server,
            token_file,
            token,
            ca_cert,
            ca_fingerprint,
        } => {
            if token.is_some() {
                bail!(
                    "--token: the enrollment token is no longer accepted on the command line (every user of the host can read it); use --token-file PATH, --token-file - (standard input) or the {ENROLL_TOKEN_ENV} environment variable"
                );
            }
            let token = enroll_token(token_file.as_deref())?;
            enroll(
                &cfg,
                &server,
                &token,
                ca_cert.as_deref(),
                ca_fingerprint.as_deref(),
            )
        }
        Command::Run { once } => run_agent(cfg, once),
        Command::CheckConfig => check_config(&cfg),
        Command::Metrics {
            root,
            over,
            no_probes,
            compact,
        } => metrics(cfg, root, over, no_probes, compact),
        Command::BenchMetrics { ticks } => bench_metrics(cfg, ticks),
        Command::Snmp { command } => snmp::run(&cfg, command),
    }
}

/// Where the enrollment token comes from when no --token-file is given.
const ENROLL_TOKEN_ENV: &str = "CMDB_ENROLL_TOKEN";

/// The enrollment token: from `file` (`-`: standard input), else from the environment.
fn enroll_token(file: Option<&Path>) -> anyhow::Result<String> {
    let token = if file == Some(Path::new("-")) {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .context("--token-file -: cannot read standard input")?;
        s.trim().to_string()
    } else {
        read_secret(file, "--token-file", ENROLL_TOKEN_ENV)?
            .with_context(|| {
                format!("give the enrollment token with --token-file PATH, --token-file - (standard input) or {ENROLL_TOKEN_ENV}")
            })?
            .trim()
            .to_string()
    };
    let from = match file {
        Some(p) => format!("--token-file {}", p.display()),
        None => ENROLL_TOKEN_ENV.to_string(),
    };
    if token.is_empty() {
        bail!("{from}: the enrollment token is empty");
    }
    if token.len() > 128 || token.chars().any(char::is_whitespace) {
        bail!("{from}: expected one enrollment token (cmdb_enroll_…), found other text");
    }
    Ok(token)
}

/// A secret from `file`, else from the environment variable `env`, else `None`. One
/// trailing line break is not part of it.
pub(crate) fn read_secret(
    file: Option<&Path>,
    flag: &str,
    env: &str,
) -> anyhow::Result<Option<String>> {
    let raw = match file {
        Some(p) => std::fs::read_to_string(p)
            .with_context(|| format!("{flag}: cannot read {}", p.display()))?,
        None => match std::env::var(env) {
            Ok(v) => v,
            Err(std::env::VarError::NotPresent) => return Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => bail!("{env}: not valid UTF-8"),
        },
    };
    let s = raw.strip_suffix('\n').unwrap_or(&raw);
    let s = s.strip_suffix('\r').unwrap_or(s);
    Ok(Some(s.to_string()))
}

fn load_config(path: Option<PathBuf>) -> anyhow::Result<Config> {
    match path {
        Some(p) => Ok(Config::load(&p)?),
        None if Path::new(DEFAULT_CONFIG).exists() => Ok(Config::load(Path::new(DEFAULT_CONFIG))?),
        None => Ok(Config::default()),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    // One thread: the agent does one thing at a time and must stay small.
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// `cmdb-agent inventory`: one inventory of this host (or of `root`) as JSON on stdout.
fn inventory(mut cfg: Config, root: Option<PathBuf>, compact: bool) -> anyhow::Result<ExitCode> {
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
    out!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// `cmdb-agent enroll`: trades the fleet token for this agent's credential, pinning the
/// server's CA from a PEM file or by fingerprint (plain http only on loopback).
fn enroll(
    cfg: &Config,
    server: &str,
    token: &str,
    ca_cert: Option<&Path>,
    ca_fingerprint: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let url = reqwest::Url::parse(server)
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
    let (tls_cfg, verifier, ca_pem) = match (ca_cert, ca_fingerprint, plain) {
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
        .block_on(client::enroll(&http, &base, token, &req))
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
    out!(
        "enrolled as agent {}; credential in {}",
        resp.agent_id,
        state.credential_path().display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `cmdb-agent run`: the daemon until SIGTERM or Ctrl-C, or with `once` a single cycle
/// (exit status 3 if reports stay pending).
fn run_agent(cfg: Config, once: bool) -> anyhow::Result<ExitCode> {
    let rt = runtime()?;
    let mut agent = Agent::new(cfg)?;
    if once {
        let devices = rt.block_on(agent.poll_devices(true))?;
        if devices != Default::default() {
            out!(
                "devices: {} polled, {} failed, {} range(s) swept",
                devices.spooled,
                devices.failed,
                devices.swept
            );
        }
        if let Some(m) = rt.block_on(agent.spool_metrics())? {
            out!(
                "metrics: batch {} spooled ({} series, {} probe results, {} devices)",
                m.batch_id,
                m.series,
                m.probes,
                m.devices
            );
        }
        let out = rt.block_on(agent.cycle())?;
        out!(
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

/// `cmdb-agent check-config`: the configuration loaded and every probe can run here; says
/// whether this agent is enrolled.
fn check_config(cfg: &Config) -> anyhow::Result<ExitCode> {
    if cfg.metrics.enabled {
        let probes = crate::probe::Probes::new(cfg);
        if !probes.problems().is_empty() {
            bail!("{}", probes.problems().join("\n"));
        }
    }
    let state = StateDir::new(&cfg.state_dir);
    match state.credential() {
        Ok(c) => out!(
            "config ok; enrolled as agent {} with {}",
            c.agent_id,
            c.server
        ),
        Err(e) => out!("config ok; {e}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// `cmdb-agent metrics`: one metric batch of this host (or of `root`) as JSON on stdout.
fn metrics(
    mut cfg: Config,
    root: Option<PathBuf>,
    over: f64,
    no_probes: bool,
    compact: bool,
) -> anyhow::Result<ExitCode> {
    if let Some(r) = root {
        if !r.is_absolute() {
            bail!("--root: must be an absolute path");
        }
        cfg.root = r;
    }
    if !(0.0..=3600.0).contains(&over) {
        bail!("--over: must be between 0 and 3600 seconds");
    }
    if no_probes {
        cfg.probes.clear();
    }
    let rt = runtime()?;
    let ctx = crate::collect::Context::new(&cfg.root);
    let mut sampler = crate::metrics::Sampler::new();
    sampler.sample(&ctx);
    std::thread::sleep(Duration::from_secs_f64(over));
    let sample = sampler.sample(&ctx);
    let mut probes = crate::probe::Probes::new(&cfg);
    for p in probes.problems() {
        eprintln!("warning: {p}");
    }
    let results = rt.block_on(probes.run_due(tokio::time::Instant::now(), true));
    let batch = crate::metrics::batch::tick_batch(
        "cli".into(),
        cfg.metrics.interval_secs,
        sample,
        results,
        Vec::new(),
    );
    let out = if compact {
        serde_json::to_string(&batch)?
    } else {
        serde_json::to_string_pretty(&batch)?
    };
    out!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// `cmdb-agent bench-metrics`: the CPU time of the daemon's metrics tick, probes aside.
fn bench_metrics(mut cfg: Config, ticks: u32) -> anyhow::Result<ExitCode> {
    use nix::sys::resource::{UsageWho, getrusage};
    if ticks == 0 {
        bail!("--ticks: at least 1");
    }
    cfg.probes.clear();
    let dir = std::env::temp_dir().join(format!("cmdb-agent-bench-{}", std::process::id()));
    let result = (|| -> anyhow::Result<()> {
        let spool_dir = dir.join("spool");
        let rt = runtime()?;
        let mut role = crate::metrics::role::MetricsRole::new(&cfg, &spool_dir, None)?;
        let spool = crate::spool::Spool::open(&spool_dir, u64::MAX, usize::MAX)?;
        // The first tick has no previous counters, hence no rates: not a steady-state tick.
        rt.block_on(role.tick(false))?;
        let cpu = || -> anyhow::Result<Duration> {
            let u = getrusage(UsageWho::RUSAGE_SELF)?;
            let t = |tv: nix::sys::time::TimeVal| {
                Duration::new(tv.tv_sec() as u64, tv.tv_usec() as u32 * 1000)
            };
            Ok(t(u.user_time()) + t(u.system_time()))
        };
        let (mut series, mut bytes) = (0, 0);
        let started = std::time::Instant::now();
        let before = cpu()?;
        for _ in 0..ticks {
            let s = rt.block_on(role.tick(false))?;
            series += s.series;
            bytes += s.bytes;
            // As an acknowledged delivery would, so the spool stays at its usual size.
            for e in spool.entries()? {
                spool.remove(&e)?;
            }
        }
        let spent = cpu()? - before;
        let wall = started.elapsed();
        let max_rss_kib = getrusage(UsageWho::RUSAGE_SELF)?.max_rss();
        let n = f64::from(ticks);
        out!(
            "{ticks} metrics ticks: CPU {:.3} ms per tick (wall {:.3} ms), {:.0} series and {:.0} compressed bytes per batch, peak RSS {:.1} MB",
            spent.as_secs_f64() * 1000.0 / n,
            wall.as_secs_f64() * 1000.0 / n,
            series as f64 / n,
            bytes as f64 / n,
            max_rss_kib as f64 / 1024.0
        );
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result?;
    Ok(ExitCode::SUCCESS)
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
