//! The poller role of `cmdb-agent run`: which devices are polled when.
//!
//! Targets come from the configuration and from discovery sweeps of configured ranges. Each
//! target is polled on its own interval; polls and probes run `snmp.concurrency` at a time
//! on the agent's one thread (SNMP is waiting, not computing). Responders of the last sweep
//! are kept in the state directory, so a restarted agent polls them without sweeping again.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use cmdb_shared::device::{DeviceInventory, DeviceMetrics, TargetSource};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::client::{Client, Credentials, Options, SnmpError};
use super::discover::{self, Responder};
use crate::config::{ConfigError, Snmp};

/// A device to poll.
#[derive(Debug, Clone)]
pub struct Target {
    /// `host:port`.
    pub address: String,
    /// The credential's name, for logs.
    pub credential: String,
    pub credentials: Credentials,
    pub source: TargetSource,
    pub interval: Duration,
}

impl Target {
    /// What tells two targets apart in the schedule: the same address may be polled with
    /// several contexts (one per VLAN or virtual device) or credentials.
    pub fn key(&self) -> String {
        let context = match &self.credentials {
            Credentials::V3 { context, .. } => context.as_str(),
            _ => "",
        };
        format!("{}|{}|{context}", self.address, self.credential)
    }
}

/// One poll's outcome.
pub type Polled = Result<(DeviceInventory, DeviceMetrics), SnmpError>;

/// Polls the targets, `concurrency` at a time; results (with how long each took) in the
/// targets' order.
pub async fn poll_many(
    targets: &[Target],
    options: Options,
    concurrency: usize,
) -> Vec<(Polled, Duration)> {
    let mut out: Vec<(usize, Polled, Duration)> =
        futures_util::stream::iter(targets.iter().enumerate())
            .map(|(i, t)| async move {
                let started = std::time::Instant::now();
                let mut client = Client::new(t.address.clone(), t.credentials.clone(), options);
                let r = super::inventory(&mut client).await;
                (i, r, started.elapsed())
            })
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
    out.sort_by_key(|(i, _, _)| *i);
    out.into_iter().map(|(_, r, d)| (r, d)).collect()
}

/// What the poller keeps in the state directory.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Saved {
    /// Responders of the last sweep of each range (by `cidr:port`).
    #[serde(default)]
    responders: BTreeMap<String, Vec<Responder>>,
    /// When each range was last swept (unix seconds).
    #[serde(default)]
    swept_unix: BTreeMap<String, i64>,
}

struct Sweep {
    key: String,
    net: ipnet::IpNet,
    port: u16,
    credentials: Vec<(String, Credentials)>,
    interval: Duration,
}

/// The poller's schedule.
pub struct Poller {
    cfg: Snmp,
    configured: Vec<Target>,
    sweeps: Vec<Sweep>,
    saved: Saved,
    path: PathBuf,
    /// Next poll of each target, by [`Target::key`].
    due: BTreeMap<String, Instant>,
}

impl std::fmt::Debug for Poller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poller")
            .field("configured", &self.configured.len())
            .field("sweeps", &self.sweeps.len())
            .finish_non_exhaustive()
    }
}

/// Work that came due.
#[derive(Debug, Default)]
pub struct Round {
    pub swept: usize,
    /// Each target polled, its outcome and how long it took.
    pub polled: Vec<(Target, Polled, Duration)>,
}

impl Poller {
    /// The schedule of a validated configuration, or `None` when it names no device.
    pub fn new(cfg: &Snmp, state_file: PathBuf) -> Result<Option<Self>, ConfigError> {
        if cfg.targets.is_empty() && cfg.discovery.is_empty() {
            return Ok(None);
        }
        let secs = |s: u64| Duration::from_secs(s);
        let configured = cfg
            .targets
            .iter()
            .map(|t| {
                Ok(Target {
                    address: super::target_address(&t.address).map_err(|reason| {
                        ConfigError::Invalid {
                            field: "snmp.targets.address".into(),
                            reason,
                        }
                    })?,
                    credential: t.credential.clone(),
                    credentials: cfg.credential(
                        &t.credential,
                        t.context.as_deref(),
                        "snmp.targets.credential",
                    )?,
                    source: TargetSource::Config,
                    interval: secs(t.interval_secs.unwrap_or(cfg.interval_secs)),
                })
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        let sweeps = cfg
            .discovery
            .iter()
            .map(|d| {
                let net =
                    discover::parse_range(&d.cidr).map_err(|reason| ConfigError::Invalid {
                        field: "snmp.discovery.cidr".into(),
                        reason,
                    })?;
                Ok(Sweep {
                    key: format!("{net}:{}", d.port),
                    net,
                    port: d.port,
                    credentials: d
                        .credentials
                        .iter()
                        .map(|c| {
                            Ok((
                                c.clone(),
                                cfg.credential(c, None, "snmp.discovery.credentials")?,
                            ))
                        })
                        .collect::<Result<_, ConfigError>>()?,
                    interval: secs(d.interval_secs),
                })
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        // A missing or unreadable file only means sweeping again.
        let saved: Saved = std::fs::read(&state_file)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Ok(Some(Self {
            cfg: cfg.clone(),
            configured,
            sweeps,
            saved,
            path: state_file,
            due: BTreeMap::new(),
        }))
    }

    /// Client options from the configuration.
    pub fn options(&self) -> Options {
        Options {
            timeout: Duration::from_secs_f64(self.cfg.timeout_secs),
            retries: self.cfg.retries,
            max_repetitions: self.cfg.max_repetitions,
            ..Default::default()
        }
    }

    /// Every target: configured ones first; a discovered device that is also configured is
    /// polled once, with its configured credential.
    pub fn targets(&self) -> Vec<Target> {
        let mut out = self.configured.clone();
        let discovery_interval = Duration::from_secs(self.cfg.interval_secs);
        for (key, responders) in &self.saved.responders {
            let Some(sweep) = self.sweeps.iter().find(|s| &s.key == key) else {
                continue; // a range no longer configured
            };
            for r in responders {
                if out.iter().any(|t| t.address == r.address) {
                    // Already configured: polled with the configured credential.
                    continue;
                }
                let Some((name, creds)) =
                    sweep.credentials.iter().find(|(n, _)| *n == r.credential)
                else {
                    continue;
                };
                out.push(Target {
                    address: r.address.clone(),
                    credential: name.clone(),
                    credentials: creds.clone(),
                    source: TargetSource::Discovery,
                    interval: discovery_interval,
                });
            }
        }
        out
    }

    fn sweep_due(&self, s: &Sweep, now_unix: i64) -> bool {
        self.saved
            .swept_unix
            .get(&s.key)
            .is_none_or(|t| now_unix - t >= s.interval.as_secs() as i64)
    }

    /// When the poller next has work: `now` when something is due already.
    pub fn next_due(&self, now: Instant) -> Instant {
        let now_unix = chrono::Utc::now().timestamp();
        if self.sweeps.iter().any(|s| self.sweep_due(s, now_unix)) {
            return now;
        }
        let mut next =
            self.sweeps
                .iter()
                .filter_map(|s| self.saved.swept_unix.get(&s.key).map(|t| (s, *t)))
                .map(|(s, t)| {
                    now + Duration::from_secs(
                        (t + s.interval.as_secs() as i64 - now_unix).max(0) as u64
                    )
                })
                .min()
                .unwrap_or(now + Duration::from_secs(86_400));
        for t in self.targets() {
            next = next.min(self.due.get(&t.key()).copied().unwrap_or(now));
        }
        next
    }

    /// Sweeps the ranges that are due, then polls every target that is due (all of them
    /// when `all`).
    pub async fn round(&mut self, all: bool) -> Round {
        let mut round = Round::default();
        let now_unix = chrono::Utc::now().timestamp();
        let options = self.options();
        let discovery_options = Options {
            // A sweep mostly waits on addresses where nothing answers.
            retries: options.retries.min(1),
            ..options
        };
        let due_sweeps: Vec<usize> = (0..self.sweeps.len())
            .filter(|i| all || self.sweep_due(&self.sweeps[*i], now_unix))
            .collect();
        for i in due_sweeps {
            let s = &self.sweeps[i];
            let started = std::time::Instant::now();
            let found = discover::sweep(
                &[(s.net, s.port)],
                &s.credentials,
                discovery_options,
                self.cfg.concurrency,
                |_| {},
            )
            .await;
            tracing::info!(range = %s.key, responders = found.len(), secs = started.elapsed().as_secs_f64(), "discovery sweep done");
            let key = s.key.clone();
            self.saved.responders.insert(key.clone(), found);
            self.saved.swept_unix.insert(key, now_unix);
            round.swept += 1;
        }
        if round.swept > 0 {
            self.save();
        }
        let now = Instant::now();
        let due: Vec<Target> = self
            .targets()
            .into_iter()
            .filter(|t| all || self.due.get(&t.key()).is_none_or(|d| *d <= now))
            .collect();
        if due.is_empty() {
            return round;
        }
        let results = poll_many(&due, options, self.cfg.concurrency).await;
        let now = Instant::now();
        for (t, (r, took)) in due.into_iter().zip(results) {
            self.due.insert(t.key(), now + t.interval);
            round.polled.push((t, r, took));
        }
        round
    }

    fn save(&self) {
        let result = serde_json::to_vec_pretty(&self.saved)
            .map_err(std::io::Error::other)
            .and_then(|b| crate::spool::write_atomic(&self.path, &b, 0o600));
        if let Err(e) = result {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot keep the discovery results; the next start sweeps again");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snmp(text: &str) -> Snmp {
        crate::config::Config::parse(text, std::path::Path::new("agent.toml"))
            .expect("config")
            .snmp
    }

    const ONE_TARGET: &str = "[snmp]\n[snmp.credentials.ro]\nversion = \"2c\"\ncommunity = \"public\"\n[[snmp.targets]]\naddress = \"192.0.2.1\"\ncredential = \"ro\"\n";

    #[test]
    fn a_target_never_polled_is_due_at_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = Poller::new(&snmp(ONE_TARGET), dir.path().join("s.json"))
            .expect("poller")
            .expect("has work");
        let now = Instant::now();
        assert_eq!(p.next_due(now), now);
        assert_eq!(p.targets()[0].address, "192.0.2.1:161");
    }

    #[test]
    fn a_polled_target_is_due_after_its_interval_and_a_swept_range_after_its_own() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = format!(
            "{ONE_TARGET}[[snmp.discovery]]\ncidr = \"192.0.2.0/30\"\ncredentials = [\"ro\"]\ninterval_secs = 3600\n"
        );
        let mut p = Poller::new(&snmp(&text), dir.path().join("s.json"))
            .expect("poller")
            .expect("has work");
        let now = Instant::now();
        assert_eq!(p.next_due(now), now, "the range was never swept");
        p.saved
            .swept_unix
            .insert("192.0.2.0/30:161".into(), chrono::Utc::now().timestamp());
        let target = p.targets()[0].key();
        p.due.insert(target, now + Duration::from_secs(900));
        let next = p.next_due(now);
        assert!(next > now + Duration::from_secs(899) && next <= now + Duration::from_secs(900));
        assert!(
            Poller::new(&snmp("[snmp]\n"), dir.path().join("s.json"))
                .expect("poller")
                .is_none()
        );
    }
}
