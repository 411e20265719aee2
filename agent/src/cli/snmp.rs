//! `cmdb-agent snmp …`: one device's inventory, the subtrees it reads, a poll of the
//! configured devices, and discovery sweeps; [`SnmpAccess`] turns the access flags into
//! SNMP credentials and client options.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use clap::Subcommand;

use super::{read_secret, runtime};
use crate::config::Config;
use crate::snmp::client::{Credentials, Options, V3Spec};
use crate::state::StateDir;

#[derive(Subcommand)]
pub(super) enum SnmpCommand {
    /// Print one device's inventory (and the metrics sampled with it) as JSON.
    Inventory {
        /// HOST or HOST:PORT (port 161 by default; [IPv6]:PORT).
        target: String,
        #[command(flatten)]
        access: SnmpAccess,
    },
    /// Poll one device's metrics twice, SECS apart, and print the device series a metric
    /// batch would carry for it, as JSON.
    Metrics {
        /// HOST or HOST:PORT (port 161 by default; [IPv6]:PORT).
        target: String,
        /// Seconds between the two polls.
        #[arg(long, default_value_t = 10.0)]
        over: f64,
        #[command(flatten)]
        access: SnmpAccess,
    },
    /// Print the OID subtrees a device inventory reads, one per line (what a device's SNMP
    /// view must include).
    Subtrees {
        /// Print exactly what an inventory walks instead: one line per walk, the OIDs walked
        /// side by side in it (the columns of ifTable and ifXTable, else the subtree)
        /// separated by spaces.
        #[arg(long)]
        columns: bool,
    },
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
pub(super) struct SnmpAccess {
    /// SNMPv1/v2c: read the community from this file (or set CMDB_SNMP_COMMUNITY). Never
    /// on the command line: every user of the host can read a command line.
    #[arg(long)]
    community_file: Option<PathBuf>,
    /// Use SNMPv1 instead of v2c with a community.
    #[arg(long)]
    v1: bool,
    /// SNMPv3 user name.
    #[arg(long)]
    v3_user: Option<String>,
    /// SNMPv3 authentication protocol: md5, sha, sha224, sha256, sha384, sha512.
    #[arg(long, requires = "v3_user")]
    auth_protocol: Option<String>,
    /// SNMPv3 authentication pass phrase: read from this file (or set CMDB_SNMP_AUTH_KEY).
    #[arg(long, requires = "v3_user")]
    auth_key_file: Option<PathBuf>,
    /// SNMPv3 privacy protocol: des, aes (aes128), aes192, aes256, aes192c, aes256c
    /// (the "c" forms use Cisco's key extension).
    #[arg(long, requires = "v3_user")]
    priv_protocol: Option<String>,
    /// SNMPv3 privacy pass phrase: read from this file (or set CMDB_SNMP_PRIV_KEY).
    #[arg(long, requires = "v3_user")]
    priv_key_file: Option<PathBuf>,
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
    /// No longer accepted (secrets on the command line are visible to every user).
    #[arg(long, hide = true)]
    community: Option<String>,
    /// No longer accepted.
    #[arg(long, hide = true)]
    auth_key: Option<String>,
    /// No longer accepted.
    #[arg(long, hide = true)]
    priv_key: Option<String>,
}

/// The environment variables the SNMP secrets may come from.
const COMMUNITY_ENV: &str = "CMDB_SNMP_COMMUNITY";
const AUTH_KEY_ENV: &str = "CMDB_SNMP_AUTH_KEY";
const PRIV_KEY_ENV: &str = "CMDB_SNMP_PRIV_KEY";

impl SnmpAccess {
    fn credentials(&self) -> anyhow::Result<Credentials> {
        for (flag, given, file, env) in [
            (
                "--community",
                self.community.is_some(),
                "--community-file",
                COMMUNITY_ENV,
            ),
            (
                "--auth-key",
                self.auth_key.is_some(),
                "--auth-key-file",
                AUTH_KEY_ENV,
            ),
            (
                "--priv-key",
                self.priv_key.is_some(),
                "--priv-key-file",
                PRIV_KEY_ENV,
            ),
        ] {
            if given {
                bail!(
                    "{flag}: secrets are no longer accepted on the command line (every user of the host can read it); use {file} PATH or the {env} environment variable"
                );
            }
        }
        let community = if self.v3_user.is_some() {
            if self.community_file.is_some() {
                bail!("--community-file: not used with --v3-user (SNMPv3)");
            }
            None
        } else {
            read_secret(
                self.community_file.as_deref(),
                "--community-file",
                COMMUNITY_ENV,
            )?
        };
        if let Some(community) = community {
            if community.is_empty() || community.len() > 255 {
                bail!("--community-file / {COMMUNITY_ENV}: the community must be 1-255 characters");
            }
            return Ok(if self.v1 {
                Credentials::V1 { community }
            } else {
                Credentials::V2c { community }
            });
        }
        if self.v1 {
            bail!("--v1: needs a community (--community-file or {COMMUNITY_ENV})");
        }
        let Some(user) = &self.v3_user else {
            bail!(
                "give a community (--community-file PATH or {COMMUNITY_ENV}, SNMPv1/v2c) or --v3-user (SNMPv3)"
            );
        };
        V3Spec {
            user: user.clone(),
            auth_protocol: self.auth_protocol.clone(),
            auth_key: read_secret(
                self.auth_key_file.as_deref(),
                "--auth-key-file",
                AUTH_KEY_ENV,
            )?,
            priv_protocol: self.priv_protocol.clone(),
            priv_key: read_secret(
                self.priv_key_file.as_deref(),
                "--priv-key-file",
                PRIV_KEY_ENV,
            )?,
            context: self.context.clone(),
        }
        .credentials(true)
        .map_err(|e| {
            // The checks name the old flags; name where the secret now comes from.
            anyhow::Error::msg(
                e.replace("--auth-key:", &format!("--auth-key-file / {AUTH_KEY_ENV}:"))
                    .replace("--priv-key:", &format!("--priv-key-file / {PRIV_KEY_ENV}:"))
                    .replace("without --auth-key", "without an auth key")
                    .replace("without --priv-key", "without a priv key")
                    .replace("(--auth-key too)", "(an auth key too)"),
            )
        })
    }

    fn options(&self) -> anyhow::Result<Options> {
        if !(0.05..=60.0).contains(&self.timeout) {
            bail!("--timeout: must be between 0.05 and 60 seconds");
        }
        if self.retries > 10 {
            bail!("--retries: at most 10");
        }
        if !(1..=1000).contains(&self.max_repetitions) {
            bail!("--max-repetitions: must be from 1 to 1000");
        }
        Ok(Options {
            timeout: Duration::from_secs_f64(self.timeout),
            retries: self.retries,
            max_repetitions: self.max_repetitions,
            ..Default::default()
        })
    }
}

/// Carries out one `snmp` subcommand.
pub(super) fn run(cfg: &Config, command: SnmpCommand) -> anyhow::Result<ExitCode> {
    match command {
        SnmpCommand::Inventory { target, access } => inventory(&target, &access),
        SnmpCommand::Metrics {
            target,
            over,
            access,
        } => metrics(&target, over, &access),
        SnmpCommand::Subtrees { columns } => subtrees(columns),
        SnmpCommand::Poll { json } => poll(cfg, json),
        SnmpCommand::Discover {
            ranges,
            port,
            concurrency,
            json,
            access,
        } => discover(&ranges, port, concurrency, json, &access),
    }
}

/// `cmdb-agent snmp inventory`: one device's inventory and metrics as JSON.
fn inventory(target: &str, access: &SnmpAccess) -> anyhow::Result<ExitCode> {
    let address = crate::snmp::target_address(target).map_err(anyhow::Error::msg)?;
    let mut client =
        crate::snmp::client::Client::new(address, access.credentials()?, access.options()?);
    let (inventory, metrics) = runtime()?.block_on(crate::snmp::inventory(&mut client))?;
    out!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({
            "inventory": inventory,
            "metrics": metrics,
        }))?
    );
    Ok(ExitCode::SUCCESS)
}

/// `cmdb-agent snmp metrics`: two metrics polls of one device and the series they give.
fn metrics(target: &str, over: f64, access: &SnmpAccess) -> anyhow::Result<ExitCode> {
    use crate::snmp::metrics::{DeviceFeed, poll};
    use crate::snmp::mib::interfaces;
    if !(0.0..=3600.0).contains(&over) {
        bail!("--over: must be between 0 and 3600 seconds");
    }
    let address = crate::snmp::target_address(target).map_err(anyhow::Error::msg)?;
    let t = crate::snmp::poller::Target {
        address: address.clone(),
        credential: "command line".into(),
        credentials: access.credentials()?,
        source: cmdb_shared::device::TargetSource::Config,
        interval: Duration::from_secs(900),
    };
    let mut client =
        crate::snmp::client::Client::new(address, t.credentials.clone(), access.options()?);
    let rt = runtime()?;
    // The names an inventory would give the interfaces: ifName, else ifDescr.
    let mut names = crate::snmp::oid::Walk::default();
    let columns = [
        crate::oid!(interfaces::IF_ENTRY).child(&[2]),
        crate::oid!(interfaces::IF_X_ENTRY).child(&[1]),
    ];
    rt.block_on(client.walk_side_by_side(&columns, &mut names))?;
    let mut inv = cmdb_shared::device::DeviceInventory::default();
    interfaces::apply(&names, &mut inv);
    let mut feed = DeviceFeed::new(Duration::from_secs_f64(over.max(1.0)));
    feed.set_names(
        &t,
        inv.interfaces
            .into_iter()
            .map(|i| (i.index, i.name))
            .collect(),
    );
    for i in 0..2 {
        if i == 1 {
            std::thread::sleep(Duration::from_secs_f64(over));
        }
        let walk = rt.block_on(poll(&mut client))?;
        feed.record_poll(
            &t,
            chrono::Utc::now(),
            Ok(&walk),
            tokio::time::Instant::now(),
        );
    }
    out!("{}", serde_json::to_string_pretty(&feed.take_pending())?);
    Ok(ExitCode::SUCCESS)
}

/// `cmdb-agent snmp subtrees [--columns]`: the OID subtrees a device inventory reads, or
/// its walks.
fn subtrees(columns: bool) -> anyhow::Result<ExitCode> {
    for line in subtree_lines(columns) {
        out!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The lines `snmp subtrees` prints: the subtrees, or (`columns`) one line per walk of
/// [`crate::snmp::mib::walk_plan`], its OIDs separated by spaces.
fn subtree_lines(columns: bool) -> Vec<String> {
    if !columns {
        return crate::snmp::mib::SUBTREES
            .iter()
            .map(|s| s.to_string())
            .collect();
    }
    crate::snmp::mib::walk_plan()
        .iter()
        .map(|roots| {
            roots
                .iter()
                .map(|o| o.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// `cmdb-agent snmp poll`: one round over the configured devices, reported on stdout (exit
/// status 3 if any device failed); nothing is sent to the server.
fn poll(cfg: &Config, json: bool) -> anyhow::Result<ExitCode> {
    let state = StateDir::new(&cfg.state_dir);
    let Some(mut poller) =
        crate::snmp::poller::Poller::new(&cfg.snmp, state.dir().join("snmp-discovered.json"))?
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
        out!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        for (t, r, took) in &round.polled {
            match r {
                Ok((inv, _)) => out!(
                    "ok    {:<24} {:>6} ms  {} ({} interfaces, {} neighbours, {} forwarding entries)",
                    t.address,
                    took.as_millis(),
                    inv.system.name.as_deref().unwrap_or("-"),
                    inv.interfaces.len(),
                    inv.lldp_neighbors.len() + inv.cdp_neighbors.len(),
                    inv.forwarding.len(),
                ),
                Err(e) => {
                    out!("error {:<24} {:>6} ms  {e}", t.address, took.as_millis())
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

/// `cmdb-agent snmp discover`: sweeps the ranges and lists the responders as a table (or
/// JSON), with a progress bar on a terminal.
fn discover(
    ranges: &[String],
    port: u16,
    concurrency: usize,
    json: bool,
    access: &SnmpAccess,
) -> anyhow::Result<ExitCode> {
    use crate::snmp::discover::{parse_range, sweep};
    if port == 0 {
        bail!("--port: must be from 1 to 65535");
    }
    if !(1..=1024).contains(&concurrency) {
        bail!("--concurrency: must be from 1 to 1024");
    }
    let nets = ranges
        .iter()
        .map(|r| parse_range(r).map(|n| (n, port)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("range {e}"))?;
    let credential = ("command line".to_string(), access.credentials()?);
    let options = access.options()?;
    // Drawn only when stderr is a terminal.
    let bar =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{bar:40} {pos}/{len} addresses, {msg} ({eta} left)",
    ) {
        bar.set_style(style);
    }
    let mut total = 0;
    let responders = runtime()?.block_on(sweep(
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
        out!("{}", serde_json::to_string_pretty(&responders)?);
    } else {
        out!(
            "{:<24} {:<20} {:<24} {:<28} DESCRIPTION",
            "ADDRESS",
            "VENDOR",
            "NAME",
            "SYSOBJECTID"
        );
        for r in &responders {
            out!(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtrees_columns_prints_each_walk_of_the_inventory() {
        let subtrees = subtree_lines(false);
        let walks = subtree_lines(true);
        assert_eq!(subtrees.len(), crate::snmp::mib::SUBTREES.len());
        assert_eq!(walks.len(), subtrees.len(), "one walk per subtree");
        // ifTable and ifXTable by the columns the parsers read, the others whole.
        assert_eq!(
            walks[1],
            [1, 2, 3, 4, 5, 6, 7, 8, 10, 13, 14, 16, 19, 20]
                .map(|c| format!("1.3.6.1.2.1.2.2.1.{c}"))
                .join(" ")
        );
        assert_eq!(
            walks[2],
            "1.3.6.1.2.1.31.1.1.1.1 1.3.6.1.2.1.31.1.1.1.6 1.3.6.1.2.1.31.1.1.1.10 \
             1.3.6.1.2.1.31.1.1.1.15 1.3.6.1.2.1.31.1.1.1.18"
        );
        for (i, (walk, subtree)) in walks.iter().zip(&subtrees).enumerate() {
            if i != 1 && i != 2 {
                assert_eq!(walk, subtree);
            }
            for oid in walk.split(' ') {
                assert!(
                    oid.starts_with(&format!("{subtree}.")) || oid == subtree,
                    "{oid}"
                );
            }
        }
        let oids: usize = walks.iter().map(|w| w.split(' ').count()).sum();
        assert_eq!(oids, 15 + 14 + 5);
    }
}
