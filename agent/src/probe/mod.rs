//! Availability probes (`[[probes]]`): TCP connects, HTTP(S) GETs and ICMP echoes of things
//! this host reaches, each a signal for a CI (the server's availability of that CI).
//!
//! Each probe runs on its own interval; the probes that are due run concurrently, each
//! bounded by its timeout (shorter than its interval, see `Config::validate`), so a round of
//! probes never outlasts the longest timeout. A result is up, degraded (an answer slower
//! than `degraded_ms`, or an HTTPS certificate expiring within `cert_warn_days`) or down (no
//! answer, or an HTTP status not expected: 200–399 unless `expect_status` says otherwise).
//! Each result also yields points of `probe.latency_ms` and, over HTTPS, `probe.cert_days`.
//!
//! A probe that cannot run at all on this host (an ICMP probe where the process may open no
//! ICMP socket) is a configuration problem: it is reported when the agent starts and by
//! `check-config`, and never produces results, so the server does not see a false "down".

pub mod cert;
pub mod http;
pub mod icmp;
pub mod tcp;

use std::time::Duration;

use chrono::{DateTime, Utc};
use cmdb_shared::metrics::{ProbeKind, ProbeResult, ProbeState};
use tokio::time::Instant;

use crate::config::{self, Config};

/// Checks a probe's `target` for its kind; the reason when it is not usable.
pub fn check_target(kind: ProbeKind, target: &str) -> Result<(), String> {
    let t = target.trim();
    if t.is_empty() || t != target {
        return Err("must not be empty nor start or end with spaces".into());
    }
    match kind {
        ProbeKind::Tcp => {
            if t.parse::<std::net::SocketAddr>().is_ok() {
                return Ok(());
            }
            match t.rsplit_once(':') {
                Some((host, port)) if !host.is_empty() && !host.contains(':') => {
                    match port.parse::<u16>() {
                        Ok(p) if p > 0 => check_host(host),
                        _ => Err(format!("{t}: port must be a number from 1 to 65535")),
                    }
                }
                _ => Err(format!(
                    "{t}: expected host:port (write IPv6 addresses as [addr]:port)"
                )),
            }
        }
        ProbeKind::Http => {
            let url = reqwest::Url::parse(t).map_err(|e| format!("{t}: not a URL: {e}"))?;
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                return Err(format!("{t}: expected an http:// or https:// URL"));
            }
            Ok(())
        }
        ProbeKind::Icmp => {
            if t.parse::<std::net::IpAddr>().is_ok() {
                Ok(())
            } else {
                check_host(t)
            }
        }
    }
}

fn check_host(host: &str) -> Result<(), String> {
    let ok = host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    if ok && !host.starts_with(['-', '.']) {
        Ok(())
    } else {
        Err(format!("{host:?} is not a host name or address"))
    }
}

/// A probe and when it next runs.
struct Scheduled {
    cfg: config::Probe,
    interval: Duration,
    next: Instant,
}

/// The configured probes and their schedule.
pub struct Probes {
    scheduled: Vec<Scheduled>,
    /// Why some configured probes cannot run (they are left out of `scheduled`).
    problems: Vec<String>,
    /// HTTP clients, built only when an HTTP probe needs one: verifying, and insecure.
    verified: Option<reqwest::Client>,
    insecure: Option<reqwest::Client>,
}

impl std::fmt::Debug for Probes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probes")
            .field("scheduled", &self.scheduled.len())
            .field("problems", &self.problems)
            .finish_non_exhaustive()
    }
}

impl Probes {
    /// The probes of a validated configuration, all due at once. ICMP probes this process
    /// cannot run are left out, each with a problem saying why (see [`Probes::problems`]).
    pub fn new(cfg: &Config) -> Self {
        let now = Instant::now();
        let mut out = Probes {
            scheduled: Vec::new(),
            problems: Vec::new(),
            verified: None,
            insecure: None,
        };
        for p in &cfg.probes {
            if p.kind == ProbeKind::Icmp {
                let v6 = p
                    .target
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|a| a.is_ipv6());
                if let Err(e) = icmp::check(v6) {
                    out.problems
                        .push(format!("ICMP probe {:?} cannot run: {e}", p.name));
                    continue;
                }
            }
            if p.kind == ProbeKind::Http {
                let slot = if p.insecure {
                    &mut out.insecure
                } else {
                    &mut out.verified
                };
                if slot.is_none() {
                    match http::client(p.insecure) {
                        Ok(c) => *slot = Some(c),
                        Err(e) => {
                            out.problems.push(format!(
                                "HTTP probe {:?} cannot run: {}",
                                p.name,
                                crate::client::error_chain(&e)
                            ));
                            continue;
                        }
                    }
                }
            }
            out.scheduled.push(Scheduled {
                cfg: p.clone(),
                interval: Duration::from_secs(p.interval_secs(&cfg.metrics)),
                next: now,
            });
        }
        out
    }

    /// Why configured probes cannot run on this host (none when all can).
    pub fn problems(&self) -> &[String] {
        &self.problems
    }

    /// How many probes run.
    pub fn len(&self) -> usize {
        self.scheduled.len()
    }

    /// True when no probe runs.
    pub fn is_empty(&self) -> bool {
        self.scheduled.is_empty()
    }

    /// When the next probe is due, if any probe runs.
    pub fn next_due(&self) -> Option<Instant> {
        self.scheduled.iter().map(|s| s.next).min()
    }

    /// Runs the probes due at `now` (all of them when `all`) concurrently; results in
    /// configuration order.
    pub async fn run_due(&mut self, now: Instant, all: bool) -> Vec<ProbeResult> {
        let due: Vec<usize> = (0..self.scheduled.len())
            .filter(|i| all || self.scheduled[*i].next <= now)
            .collect();
        for i in &due {
            let s = &mut self.scheduled[*i];
            // On the probe's own cadence; a late round does not make the next one early.
            s.next = (s.next + s.interval).max(now + s.interval / 2);
        }
        let runs = due.iter().map(|i| {
            let p = &self.scheduled[*i].cfg;
            let client = if p.insecure {
                self.insecure.as_ref()
            } else {
                self.verified.as_ref()
            };
            run(p, client)
        });
        futures_util::future::join_all(runs)
            .await
            .into_iter()
            .flatten()
            .collect()
    }
}

/// What one run observed, before judging.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub latency: Option<Duration>,
    pub status: Option<u16>,
    pub cert_not_after: Option<DateTime<Utc>>,
    /// Why there was no (usable) answer.
    pub failure: Option<String>,
}

/// Runs one probe now; `None` when it could not run for a reason of this host, not of the
/// target (logged).
pub async fn run(p: &config::Probe, http_client: Option<&reqwest::Client>) -> Option<ProbeResult> {
    let at = Utc::now();
    let timeout = Duration::from_millis(p.timeout_ms);
    let failed = |failure: String| Observation {
        latency: None,
        status: None,
        cert_not_after: None,
        failure: Some(failure),
    };
    let obs = match p.kind {
        ProbeKind::Tcp => match tcp::connect(&p.target, timeout).await {
            Ok(latency) => Observation {
                latency: Some(latency),
                status: None,
                cert_not_after: None,
                failure: None,
            },
            Err(e) => failed(e),
        },
        ProbeKind::Http => {
            let client = http_client?;
            match http::get(client, &p.target, timeout).await {
                Ok(a) => Observation {
                    latency: Some(a.latency),
                    status: Some(a.status),
                    cert_not_after: a.cert_not_after,
                    failure: None,
                },
                Err(e) => failed(e),
            }
        }
        ProbeKind::Icmp => {
            let started = std::time::Instant::now();
            let addr = match p.target.parse::<std::net::IpAddr>() {
                Ok(a) => Ok(a),
                Err(_) => {
                    let lookup = tokio::net::lookup_host((p.target.as_str(), 0));
                    match tokio::time::timeout(timeout, lookup).await {
                        Ok(Ok(mut addrs)) => addrs
                            .next()
                            .map(|a| a.ip())
                            .ok_or_else(|| format!("cannot resolve {}: no address", p.target)),
                        Ok(Err(e)) => Err(format!("cannot resolve {}: {e}", p.target)),
                        Err(_) => Err(format!(
                            "cannot resolve {} within {} ms",
                            p.target, p.timeout_ms
                        )),
                    }
                }
            };
            match addr {
                Err(e) => failed(e),
                Ok(addr) => {
                    let left = timeout.saturating_sub(started.elapsed());
                    match icmp::ping(addr, left).await {
                        Ok(Some(rtt)) => Observation {
                            latency: Some(rtt),
                            status: None,
                            cert_not_after: None,
                            failure: None,
                        },
                        Ok(None) => failed(format!(
                            "no echo reply from {addr} within {} ms",
                            p.timeout_ms
                        )),
                        Err(e) => {
                            tracing::error!(probe = %p.name, error = %e, "ICMP probe cannot run; no result recorded");
                            return None;
                        }
                    }
                }
            }
        }
    };
    Some(judge(p, at, obs))
}

/// `2026-03-11 12:00 UTC` (by hand: chrono's `format` would link its strftime engine).
fn utc_minute(t: DateTime<Utc>) -> String {
    use chrono::{Datelike, Timelike};
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute()
    )
}

/// The verdict on an observation, under the probe's thresholds.
pub fn judge(p: &config::Probe, at: DateTime<Utc>, obs: Observation) -> ProbeResult {
    let latency_ms = obs
        .latency
        .map(|d| crate::metrics::round(d.as_secs_f64() * 1000.0, 3));
    let mut state = ProbeState::Up;
    let mut why: Vec<String> = Vec::new();
    if let Some(f) = obs.failure {
        state = ProbeState::Down;
        why.push(f);
    }
    if let Some(status) = obs.status {
        let expected = match &p.expect_status {
            Some(codes) => codes.contains(&status),
            None => (200..=399).contains(&status),
        };
        if !expected {
            state = ProbeState::Down;
            let wanted = match &p.expect_status {
                Some(codes) => codes
                    .iter()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                None => "200-399".into(),
            };
            why.push(if status >= 500 {
                format!("server error: HTTP {status} (expected {wanted})")
            } else {
                format!("unexpected status: HTTP {status} (expected {wanted})")
            });
        }
    }
    let mut degrade = |reason: String| {
        if state == ProbeState::Up {
            state = ProbeState::Degraded;
        }
        why.push(reason);
    };
    if let (Some(ms), Some(limit)) = (latency_ms, p.degraded_ms)
        && ms > limit as f64
    {
        degrade(format!("slow: {ms:.0} ms, above degraded_ms = {limit}"));
    }
    if let Some(not_after) = obs.cert_not_after {
        let warn = i64::from(p.cert_warn_days.unwrap_or(config::DEFAULT_CERT_WARN_DAYS));
        let left = not_after - at;
        let date = utc_minute(not_after);
        if left < chrono::TimeDelta::zero() {
            degrade(format!(
                "certificate expired on {date} ({} days ago)",
                -left.num_days()
            ));
        } else if left < chrono::TimeDelta::days(warn) {
            degrade(format!(
                "certificate expires on {date}, in {} days (cert_warn_days = {warn})",
                left.num_days()
            ));
        }
    }
    ProbeResult {
        name: p.name.clone(),
        kind: p.kind,
        target: p.target.clone(),
        ci: p.ci.clone(),
        at,
        state,
        latency_ms,
        status: obs.status,
        cert_not_after: obs.cert_not_after,
        error: (!why.is_empty()).then(|| why.join("; ")),
    }
}

#[cfg(test)]
mod tests;
