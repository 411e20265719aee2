//! Timelines, outages and SLA figures of CIs and business services over a period.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use cmdb_graph::NodeId;
use serde::{Deserialize, Serialize};

use super::Availability;
use crate::domain::availability::{
    self as av, Expr, Figures, Interval, Outage, Schedule, Source, Timeline,
};
use crate::domain::signals::{self, Silence};
use crate::error::{ServiceError, check_id};
use crate::storage::{MaintenanceRecord, ManualStateRecord, SignalRecord, SlaRecord, now_str};

/// Longest period a report covers.
pub const MAX_PERIOD_SECS: i64 = 400 * 86_400;
/// Most CIs a derived service timeline walks through.
const MAX_SERVICE_NODES: usize = 20_000;

/// Which CIs an availability report covers, over which period.
#[derive(Debug, Clone, Default)]
pub struct AvailabilityQuery {
    pub from: i64,
    pub to: i64,
    pub ci: Option<Vec<String>>,
    pub class: Option<String>,
    /// A business service: it and every CI it depends on.
    pub service: Option<String>,
}

/// One CI's (or business service's) availability over a period.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CiAvailability {
    pub ci: String,
    pub name: String,
    pub class: String,
    pub from: i64,
    pub to: i64,
    /// Agreed service hours (`24x7` when no SLA is set).
    pub schedule: String,
    /// The SLA target, percent, when one is set.
    pub target_pct: Option<f64>,
    /// True when the timeline is derived through the relationship graph (a business service,
    /// or a CI with no signal of its own).
    pub derived: bool,
    /// Signals the CI's own timeline is made of (`heartbeat`, `probe`, `snmp`, `reboot`).
    pub signals: Vec<String>,
    #[schema(value_type = Object)]
    pub figures: Figures,
    #[schema(value_type = Vec<Object>)]
    pub outages: Vec<Outage>,
    /// Planned windows (maintenance and change records), `[start, end)`.
    pub planned: Vec<(i64, i64)>,
    /// The state intervals (only for one CI's report).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub timeline: Option<Timeline>,
}

/// A new SLA target.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSla {
    /// Percent of agreed time, e.g. 99.9.
    pub target_pct: f64,
    /// `24x7` (default) or a weekly schedule with its zone, e.g.
    /// `Mon-Fri 08:00-18:00 Europe/Paris`.
    #[serde(default)]
    pub schedule: Option<String>,
}

/// A new maintenance window.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMaintenance {
    /// CI id or unique name.
    pub ci: String,
    /// RFC 3339.
    pub start: String,
    pub end: String,
    #[serde(default)]
    pub reason: String,
}

/// What every report over a period needs, read once.
struct Period {
    from: i64,
    to: i64,
    now: i64,
    listening: Vec<Interval>,
    signals: HashMap<String, Vec<SignalRecord>>,
    planned: HashMap<String, Vec<Interval>>,
    slas: HashMap<String, SlaRecord>,
    manual: HashMap<String, Vec<av::Span>>,
}

fn clip_spans(spans: &[av::Span], from: i64, to: i64) -> Vec<av::Span> {
    spans
        .iter()
        .map(|s| av::Span::new(s.start.max(from), s.end.min(to), s.state, s.source))
        .filter(|s| s.start < s.end)
        .collect()
}

/// A state entered by hand.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewManualState {
    /// RFC 3339.
    pub start: String,
    pub end: String,
    /// `up`, `degraded` or `down`.
    pub state: String,
    pub reason: String,
}

/// The stored-time cutoff before which hosts and devices are retired.
pub fn retire_cutoff(retire_after_secs: u64, now: i64) -> String {
    let secs = i64::try_from(retire_after_secs).unwrap_or(i64::MAX / 2);
    chrono::DateTime::from_timestamp(now.saturating_sub(secs.min(100 * 365 * 86_400)), 0)
        .map(crate::storage::time_str)
        .unwrap_or_default()
}

fn parse_rfc3339(field: &str, v: &str) -> Result<i64, ServiceError> {
    chrono::DateTime::parse_from_rfc3339(v)
        .map(|t| t.timestamp())
        .map_err(|e| ServiceError::Invalid(format!("{field}: {v:?} is not RFC 3339 ({e})")))
}

impl Availability {
    /// When some server was alive to receive, from its runs: from each start to the last
    /// time it recorded itself alive (a crash's last seconds count as not listening, so they
    /// can only make time unknown, never down).
    async fn listening(&self, from: i64) -> Result<Vec<Interval>, ServiceError> {
        Ok(av::interval::normalize(
            &self
                .store
                .server_runs(from)
                .await?
                .into_iter()
                .map(|r| (r.start, r.alive))
                .collect::<Vec<_>>(),
        ))
    }

    async fn period(&self, from: i64, to: i64, now: i64) -> Result<Period, ServiceError> {
        if from >= to {
            return Err(ServiceError::Invalid("from: must be before to".into()));
        }
        if to - from > MAX_PERIOD_SECS {
            return Err(ServiceError::Invalid(format!(
                "from/to: a report covers at most {} days",
                MAX_PERIOD_SECS / 86_400
            )));
        }
        let mut signals: HashMap<String, Vec<SignalRecord>> = HashMap::new();
        for s in self.store.all_signals().await? {
            signals.entry(s.ci.clone()).or_default().push(s);
        }
        let mut planned: HashMap<String, Vec<Interval>> = HashMap::new();
        for m in self.store.maintenance(None, from, to).await? {
            planned.entry(m.ci).or_default().push((m.start, m.end));
        }
        let fmt = |t: i64| {
            chrono::DateTime::from_timestamp(t, 0)
                .map(crate::storage::time_str)
                .unwrap_or_default()
        };
        for c in self.store.changes_overlapping(&fmt(from), &fmt(to)).await? {
            let (Ok(s), Ok(e)) = (
                parse_rfc3339("start", &c.start),
                parse_rfc3339("end", &c.end),
            ) else {
                continue;
            };
            // The change's own CIs and everything its impact analysis found affected: their
            // downtime inside the window was planned.
            let mut touched: BTreeSet<&String> = c.cis.iter().collect();
            touched.extend(c.affected.iter());
            for ci in touched {
                planned.entry(ci.clone()).or_default().push((s, e));
            }
        }
        let slas = self
            .store
            .slas()
            .await?
            .into_iter()
            .map(|s| (s.ci.clone(), s))
            .collect();
        let mut manual: HashMap<String, Vec<av::Span>> = HashMap::new();
        for m in self.store.manual_states(None, from, to).await? {
            let state = match m.state.as_str() {
                "up" => av::State::Up,
                "degraded" => av::State::Degraded,
                _ => av::State::Down,
            };
            manual.entry(m.ci).or_default().push(av::Span::new(
                m.start,
                m.end,
                state,
                Source::Manual,
            ));
        }
        let tol = i64::from(self.config.availability.missed_intervals) * 86_400;
        Ok(Period {
            manual,
            from,
            to,
            now,
            listening: self.listening(from - tol).await?,
            signals,
            planned,
            slas,
        })
    }

    /// One CI's own timeline from its signals, with the states entered by hand written over
    /// it; `None` when it has neither.
    fn own_timeline(&self, p: &Period, ci: &str) -> Option<Timeline> {
        let manual = p.manual.get(ci);
        let Some(recs) = p.signals.get(ci) else {
            return manual.map(|m| {
                Timeline::from_spans(p.from, p.to, Source::Manual, [])
                    .patch(&clip_spans(m, p.from, p.to))
            });
        };
        let missed = self.config.availability.missed_intervals;
        let mut parts = Vec::new();
        let mut reboots = Vec::new();
        for r in recs {
            let (silence, source) = match r.source.as_str() {
                "heartbeat" => (Silence::Down, Source::Heartbeat),
                "probe" => (Silence::Unknown, Source::Probe),
                "snmp" => (Silence::Unknown, Source::Snmp),
                "reboot" => {
                    reboots.extend(r.spans.iter().map(|s| (s.0, s.1)));
                    continue;
                }
                _ => continue,
            };
            parts.push(signals::timeline(
                &r.spans,
                r.interval,
                missed,
                silence,
                source,
                &p.listening,
                p.from,
                p.to,
                p.now,
            ));
        }
        if parts.is_empty() && reboots.is_empty() {
            return None;
        }
        let refs: Vec<&Timeline> = parts.iter().collect();
        let mut t = if refs.is_empty() {
            Timeline::from_spans(p.from, p.to, Source::Reboot, [])
        } else {
            av::combine_worst(&refs)
        };
        if !reboots.is_empty() {
            let spans = av::spans_of(
                &av::interval::clip(&av::interval::normalize(&reboots), p.from, p.to),
                av::State::Down,
                Source::Reboot,
            );
            t = av::overlay(&t, &spans);
        }
        if let Some(m) = manual {
            t = t.patch(&clip_spans(m, p.from, p.to));
        }
        Some(t)
    }

    /// The dependency expression of `ci` over the graph, with the leaves it needs; `None`
    /// when nothing under it is monitored.
    fn expression(&self, p: &Period, ci: &str) -> (Option<Expr>, Vec<String>) {
        let g = self.relationships.graph();
        let mut leaves: Vec<String> = Vec::new();
        let mut leaf_of: HashMap<String, usize> = HashMap::new();
        let mut memo: HashMap<NodeId, Option<Expr>> = HashMap::new();
        let mut on_path: BTreeSet<NodeId> = BTreeSet::new();
        let mut budget = MAX_SERVICE_NODES;

        #[allow(clippy::too_many_arguments)]
        fn walk(
            g: &cmdb_graph::GraphIndex,
            p: &Period,
            n: NodeId,
            leaves: &mut Vec<String>,
            leaf_of: &mut HashMap<String, usize>,
            memo: &mut HashMap<NodeId, Option<Expr>>,
            on_path: &mut BTreeSet<NodeId>,
            budget: &mut usize,
        ) -> Option<Expr> {
            if let Some(e) = memo.get(&n) {
                return e.clone();
            }
            // A cycle adds nothing the path does not already require; a huge graph stops.
            if !on_path.insert(n) || *budget == 0 {
                return None;
            }
            *budget -= 1;
            let key = g.key(n).to_string();
            let mut parts = Vec::new();
            if p.signals.contains_key(&key) || p.manual.contains_key(&key) {
                let next = leaves.len();
                let i = *leaf_of.entry(key.clone()).or_insert(next);
                if i == next {
                    leaves.push(key.clone());
                }
                parts.push(Expr::Ci(i));
            }
            let (deps, members) = g.direct_requirements(n);
            for d in deps {
                if let Some(e) = walk(g, p, d, leaves, leaf_of, memo, on_path, budget) {
                    parts.push(e);
                }
            }
            if !members.is_empty() {
                let ms: Vec<Expr> = members
                    .into_iter()
                    .filter_map(|m| walk(g, p, m, leaves, leaf_of, memo, on_path, budget))
                    .collect();
                if !ms.is_empty() {
                    let declared = g.attrs(n).min_up.unwrap_or(1).max(1) as usize;
                    parts.push(Expr::AtLeast {
                        min_up: declared.min(ms.len()),
                        members: ms,
                    });
                }
            }
            on_path.remove(&n);
            let e = match parts.len() {
                0 => None,
                1 => parts.pop(),
                _ => Some(Expr::All(parts)),
            };
            memo.insert(n, e.clone());
            e
        }

        let e = g.node_id(ci).and_then(|n| {
            walk(
                &g,
                p,
                n,
                &mut leaves,
                &mut leaf_of,
                &mut memo,
                &mut on_path,
                &mut budget,
            )
        });
        (e, leaves)
    }

    fn evaluate(
        &self,
        p: &Period,
        ci: &str,
        name: &str,
        class: &str,
        with_timeline: bool,
    ) -> CiAvailability {
        let own = self.own_timeline(p, ci);
        let derive = class == "business_service" || own.is_none();
        let mut planned = p.planned.get(ci).cloned().unwrap_or_default();
        let (timeline, derived) = if derive {
            let (expr, leaves) = self.expression(p, ci);
            match expr {
                Some(expr) => {
                    let ts: Vec<Timeline> = leaves
                        .iter()
                        .map(|l| {
                            self.own_timeline(p, l).unwrap_or_else(|| {
                                Timeline::from_spans(p.from, p.to, Source::Derived, [])
                            })
                        })
                        .collect();
                    // Maintenance of anything the service needs is planned for the service.
                    for l in &leaves {
                        planned.extend(p.planned.get(l).into_iter().flatten().copied());
                    }
                    (av::eval(&expr, &ts), true)
                }
                None => (
                    own.unwrap_or_else(|| Timeline::from_spans(p.from, p.to, Source::Derived, [])),
                    false,
                ),
            }
        } else {
            (
                own.unwrap_or_else(|| Timeline::from_spans(p.from, p.to, Source::Derived, [])),
                false,
            )
        };
        let planned = av::interval::clip(&av::interval::normalize(&planned), p.from, p.to);
        let sla = p.slas.get(ci);
        let schedule = sla
            .and_then(|s| Schedule::parse(&s.schedule).ok())
            .unwrap_or(Schedule::Always);
        let agreed = schedule.agreed(p.from, p.to.min(p.now.max(p.from + 1)));
        let target = sla.map(|s| s.target_pct);
        let figures = av::figures(&timeline, &agreed, &planned, target);
        let outages = av::outages(&timeline, &planned);
        let mut sig: Vec<String> = p
            .signals
            .get(ci)
            .into_iter()
            .flatten()
            .map(|s| s.source.clone())
            .collect();
        sig.sort();
        sig.dedup();
        CiAvailability {
            ci: ci.to_string(),
            name: name.to_string(),
            class: class.to_string(),
            from: p.from,
            to: p.to,
            schedule: sla.map_or_else(|| "24x7".to_string(), |s| s.schedule.clone()),
            target_pct: target,
            derived,
            signals: sig,
            figures,
            outages,
            planned,
            timeline: with_timeline.then_some(timeline),
        }
    }

    /// One CI's availability over [from, to), with its timeline.
    pub async fn of_ci(
        &self,
        ci: &str,
        from: i64,
        to: i64,
        now: i64,
    ) -> Result<CiAvailability, ServiceError> {
        check_id("id", ci, "CI")?;
        let named = self.store.names_of(&[ci.to_string()]).await?;
        let Some((_, name, class)) = named.into_iter().next() else {
            return Err(ServiceError::NotFound(format!("no CI {ci}")));
        };
        let p = self.period(from, to, now).await?;
        Ok(self.evaluate(&p, ci, &name, &class, true))
    }

    /// The availability report over [from, to): every monitored CI and every CI with an SLA,
    /// or those the query names; a business service brings the CIs it depends on.
    pub async fn report(
        &self,
        q: &AvailabilityQuery,
        now: i64,
    ) -> Result<Vec<CiAvailability>, ServiceError> {
        let p = self.period(q.from, q.to, now).await?;
        let mut keys: BTreeSet<String> = match (&q.ci, &q.service) {
            (Some(cis), _) => cis.iter().cloned().collect(),
            (None, Some(_)) => BTreeSet::new(),
            (None, None) => p.signals.keys().chain(p.slas.keys()).cloned().collect(),
        };
        if let Some(s) = &q.service {
            let (_, leaves) = self.expression(&p, s);
            keys.insert(s.clone());
            keys.extend(leaves);
        }
        let keys: Vec<String> = keys.into_iter().collect();
        let retire = retire_cutoff(self.config.availability.retire_after_secs, now);
        let named: BTreeMap<String, (String, String)> = self
            .store
            .briefs_of(&keys)
            .await?
            .into_iter()
            // Retired hosts and devices are out of reports, unless asked for by id.
            .filter(|(k, _, c, seen)| {
                q.ci.is_some()
                    || crate::inventory::lifecycle(c, seen, "", &retire) != "retired"
                    || q.service.as_deref() == Some(k.as_str())
            })
            .map(|(k, n, c, _)| (k, (n, c)))
            .collect();
        let mut out = Vec::new();
        for (ci, (name, class)) in &named {
            if q.class.as_deref().is_some_and(|c| c != class) {
                continue;
            }
            out.push(self.evaluate(&p, ci, name, class, false));
        }
        // Worst first: breached, then lowest SLI; unknown SLI last.
        out.sort_by(|a, b| {
            let key = |x: &CiAvailability| {
                (
                    x.figures.breached != Some(true),
                    x.figures.sli_pct.map_or(f64::INFINITY, |v| v),
                )
            };
            let (ka, kb) = (key(a), key(b));
            ka.0.cmp(&kb.0)
                .then(ka.1.total_cmp(&kb.1))
                .then_with(|| a.name.cmp(&b.name))
        });
        Ok(out)
    }

    /// Sets the SLA target and agreed hours of a CI (or business service).
    pub async fn set_sla(&self, ci: &str, s: NewSla, by: &str) -> Result<SlaRecord, ServiceError> {
        check_id("id", ci, "CI")?;
        if self.store.existing_cis(&[ci.to_string()]).await?.is_empty() {
            return Err(ServiceError::NotFound(format!("no CI {ci}")));
        }
        if !(s.target_pct.is_finite() && s.target_pct > 0.0 && s.target_pct <= 100.0) {
            return Err(ServiceError::Invalid(format!(
                "target_pct: must be a percentage in (0, 100], got {}",
                s.target_pct
            )));
        }
        let schedule = s.schedule.unwrap_or_else(|| "24x7".into());
        Schedule::parse(&schedule).map_err(|e| ServiceError::Invalid(format!("schedule: {e}")))?;
        let rec = SlaRecord {
            ci: ci.to_string(),
            target_pct: s.target_pct,
            schedule,
            updated_at: now_str(),
            updated_by: by.to_string(),
        };
        self.store.put_sla(&rec).await?;
        Ok(rec)
    }

    /// The SLA of a CI.
    pub async fn sla(&self, ci: &str) -> Result<SlaRecord, ServiceError> {
        check_id("id", ci, "CI")?;
        self.store
            .sla(ci)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("CI {ci} has no SLA")))
    }

    /// Removes the SLA of a CI.
    pub async fn delete_sla(&self, ci: &str) -> Result<(), ServiceError> {
        check_id("id", ci, "CI")?;
        if self.store.delete_sla(ci).await? {
            Ok(())
        } else {
            Err(ServiceError::NotFound(format!("CI {ci} has no SLA")))
        }
    }

    /// Records a maintenance window.
    pub async fn add_maintenance(
        &self,
        m: NewMaintenance,
        by: &str,
    ) -> Result<MaintenanceRecord, ServiceError> {
        let start = parse_rfc3339("start", &m.start)?;
        let end = parse_rfc3339("end", &m.end)?;
        if start >= end {
            return Err(ServiceError::Invalid("end: must be after start".into()));
        }
        if end - start > MAX_PERIOD_SECS {
            return Err(ServiceError::Invalid(
                "end: a maintenance window lasts at most 400 days".into(),
            ));
        }
        if m.reason.len() > 1000 {
            return Err(ServiceError::Invalid(
                "reason: at most 1000 characters".into(),
            ));
        }
        let ci = self
            .impact
            .resolve(std::slice::from_ref(&m.ci), "ci")
            .await?;
        let rec = MaintenanceRecord {
            key: uuid::Uuid::new_v4().simple().to_string(),
            ci: ci.into_iter().next().unwrap_or_default(),
            start,
            end,
            reason: m.reason,
            created_by: by.to_string(),
        };
        self.store.insert_maintenance(&rec).await?;
        Ok(rec)
    }

    /// Maintenance windows overlapping [from, to).
    pub async fn maintenance(
        &self,
        ci: Option<&str>,
        from: i64,
        to: i64,
    ) -> Result<Vec<MaintenanceRecord>, ServiceError> {
        let cis = match ci {
            Some(c) => {
                check_id("ci", c, "CI")?;
                Some(vec![c.to_string()])
            }
            None => None,
        };
        Ok(self.store.maintenance(cis.as_deref(), from, to).await?)
    }

    /// Records a state entered by hand over a period of a CI: it replaces what the signals
    /// said there (an outage no monitor saw, or a false alarm).
    pub async fn add_manual(
        &self,
        ci: &str,
        m: NewManualState,
        by: &str,
    ) -> Result<ManualStateRecord, ServiceError> {
        check_id("id", ci, "CI")?;
        if self.store.existing_cis(&[ci.to_string()]).await?.is_empty() {
            return Err(ServiceError::NotFound(format!("no CI {ci}")));
        }
        let start = parse_rfc3339("start", &m.start)?;
        let end = parse_rfc3339("end", &m.end)?;
        if start >= end {
            return Err(ServiceError::Invalid("end: must be after start".into()));
        }
        if end - start > MAX_PERIOD_SECS {
            return Err(ServiceError::Invalid(
                "end: at most 400 days after start".into(),
            ));
        }
        if !["up", "degraded", "down"].contains(&m.state.as_str()) {
            return Err(ServiceError::Invalid(format!(
                "state: {:?} must be up, degraded or down",
                m.state
            )));
        }
        if m.reason.trim().is_empty() || m.reason.len() > 1000 {
            return Err(ServiceError::Invalid(
                "reason: say why, in 1 to 1000 characters".into(),
            ));
        }
        if let Some(o) = self
            .store
            .manual_states(Some(ci), start, end)
            .await?
            .first()
        {
            return Err(ServiceError::Invalid(format!(
                "start/end: overlaps manual entry {} ({}..{}); delete it first",
                o.key, o.start, o.end
            )));
        }
        let rec = ManualStateRecord {
            key: uuid::Uuid::new_v4().simple().to_string(),
            ci: ci.to_string(),
            start,
            end,
            state: m.state,
            reason: m.reason,
            created_by: by.to_string(),
        };
        self.store.insert_manual_state(&rec).await?;
        Ok(rec)
    }

    /// Removes a state entered by hand.
    pub async fn delete_manual(&self, id: &str) -> Result<(), ServiceError> {
        check_id("id", id, "manual entry")?;
        if self.store.delete_manual_state(id).await? {
            Ok(())
        } else {
            Err(ServiceError::NotFound(format!("no manual entry {id}")))
        }
    }

    /// Removes a maintenance window.
    pub async fn delete_maintenance(&self, id: &str) -> Result<(), ServiceError> {
        check_id("id", id, "maintenance window")?;
        if self.store.delete_maintenance(id).await? {
            Ok(())
        } else {
            Err(ServiceError::NotFound(format!(
                "no maintenance window {id}"
            )))
        }
    }
}
