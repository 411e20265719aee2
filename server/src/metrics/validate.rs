//! Checks of a metric batch before anything of it is stored: a batch is taken whole or
//! refused whole, with an error naming the offending field.

use std::collections::HashSet;

use cmdb_shared::metrics::{MetricBatch, Series, check_series_key};

use crate::error::ServiceError;

/// Most series in one batch (host, devices and probes together).
pub const MAX_SERIES: usize = 20_000;
/// Most points in one batch: a day of 60 s ticks for ~140 series.
pub const MAX_POINTS: usize = 200_000;
/// Most ticks in one batch (a spooled day at 10 s would be 8,640).
pub const MAX_TICKS: usize = 20_000;
/// Most devices and probe results in one batch.
pub const MAX_DEVICES: usize = 5_000;
pub const MAX_PROBES: usize = 50_000;
/// Longest batch id, probe name, target or CI reference.
pub const MAX_TEXT: usize = 255;

fn invalid(msg: String) -> ServiceError {
    ServiceError::Invalid(msg)
}

/// Validates `b` against the clock: samples must lie within `[oldest, newest]` (unix
/// seconds), i.e. not older than raw retention and not from the future.
pub fn validate(b: &MetricBatch, oldest: i64, newest: i64) -> Result<(), ServiceError> {
    let text = |field: &str, v: &str| -> Result<(), ServiceError> {
        if v.is_empty() || v.len() > MAX_TEXT || v.chars().any(char::is_control) {
            Err(invalid(format!(
                "{field}: must be 1 to {MAX_TEXT} printable characters"
            )))
        } else {
            Ok(())
        }
    };
    text("batch_id", &b.batch_id)?;
    if b.agent_version.len() > MAX_TEXT {
        return Err(invalid(format!(
            "agent_version: longer than {MAX_TEXT} bytes"
        )));
    }
    if !(1..=86_400).contains(&b.interval_secs) {
        return Err(invalid(format!(
            "interval_secs: must be between 1 and 86400, got {}",
            b.interval_secs
        )));
    }
    if b.ticks.len() > MAX_TICKS {
        return Err(invalid(format!(
            "ticks: {} ticks, more than {MAX_TICKS}",
            b.ticks.len()
        )));
    }
    if b.devices.len() > MAX_DEVICES {
        return Err(invalid(format!(
            "devices: {} devices, more than {MAX_DEVICES}",
            b.devices.len()
        )));
    }
    if b.probes.len() > MAX_PROBES {
        return Err(invalid(format!(
            "probes: {} results, more than {MAX_PROBES}",
            b.probes.len()
        )));
    }
    let when = |field: String, t: i64| -> Result<(), ServiceError> {
        if t < oldest || t > newest {
            Err(invalid(format!(
                "{field}: time {t} is outside the accepted range {oldest}..={newest} (older than raw retention, or in the future)"
            )))
        } else {
            Ok(())
        }
    };
    for (i, t) in b.ticks.iter().enumerate() {
        when(format!("ticks[{i}].at"), t.at.timestamp())?;
    }
    let mut series = 0usize;
    let mut points = 0usize;
    let mut check_series = |field: &str, list: &[Series]| -> Result<(), ServiceError> {
        let mut seen = HashSet::new();
        for (i, s) in list.iter().enumerate() {
            check_series_key(&s.name, &s.instance)
                .map_err(|e| invalid(format!("{field}[{i}]: {e}")))?;
            if !seen.insert((s.name.as_str(), s.instance.as_str())) {
                return Err(invalid(format!(
                    "{field}[{i}]: series {:?} instance {:?} appears twice",
                    s.name, s.instance
                )));
            }
            for (j, p) in s.points.iter().enumerate() {
                if !p.1.is_finite() {
                    return Err(invalid(format!(
                        "{field}[{i}].points[{j}]: value must be a finite number"
                    )));
                }
                when(format!("{field}[{i}].points[{j}]"), p.0)?;
            }
            series += 1;
            points += s.points.len();
        }
        Ok(())
    };
    check_series("series", &b.series)?;
    let mut addresses = HashSet::new();
    for (d, dev) in b.devices.iter().enumerate() {
        text(&format!("devices[{d}].address"), &dev.address)?;
        if !addresses.insert(dev.address.as_str()) {
            return Err(invalid(format!(
                "devices[{d}].address: {:?} appears twice",
                dev.address
            )));
        }
        check_series(&format!("devices[{d}].series"), &dev.series)?;
        for (i, p) in dev.polls.iter().enumerate() {
            when(format!("devices[{d}].polls[{i}].at"), p.at.timestamp())?;
        }
        for (i, p) in dev.uptime.iter().enumerate() {
            if !p.1.is_finite() || p.1 < 0.0 {
                return Err(invalid(format!(
                    "devices[{d}].uptime[{i}]: must be a finite number of seconds ≥ 0"
                )));
            }
            when(format!("devices[{d}].uptime[{i}]"), p.0)?;
        }
        if dev.polls.len() + dev.uptime.len() > MAX_TICKS * 2 {
            return Err(invalid(format!(
                "devices[{d}]: more than {} polls and uptime readings",
                MAX_TICKS * 2
            )));
        }
    }
    if series > MAX_SERIES {
        return Err(invalid(format!(
            "{series} series in one batch, more than {MAX_SERIES}"
        )));
    }
    if points > MAX_POINTS {
        return Err(invalid(format!(
            "{points} points in one batch, more than {MAX_POINTS}"
        )));
    }
    for (i, p) in b.probes.iter().enumerate() {
        text(&format!("probes[{i}].name"), &p.name)?;
        text(&format!("probes[{i}].target"), &p.target)?;
        text(&format!("probes[{i}].ci"), &p.ci)?;
        when(format!("probes[{i}].at"), p.at.timestamp())?;
        if p.latency_ms.is_some_and(|l| !l.is_finite() || l < 0.0) {
            return Err(invalid(format!(
                "probes[{i}].latency_ms: must be a finite number ≥ 0"
            )));
        }
        if p.error.as_ref().is_some_and(|e| e.len() > 4096) {
            return Err(invalid(format!(
                "probes[{i}].error: longer than 4096 bytes"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use cmdb_shared::metrics::{Point, Tick};

    fn batch() -> MetricBatch {
        MetricBatch {
            schema_version: cmdb_shared::SCHEMA_VERSION,
            batch_id: "b-1".into(),
            agent_version: "0.1.0".into(),
            interval_secs: 60,
            ticks: vec![Tick {
                at: Utc.timestamp_opt(1_000, 0).single().expect("time"),
                uptime_secs: Some(10),
            }],
            series: vec![Series {
                name: "cpu.util".into(),
                instance: String::new(),
                points: vec![Point(1_000, 1.5)],
            }],
            devices: vec![],
            probes: vec![],
        }
    }

    fn err(b: &MetricBatch) -> String {
        validate(b, 0, 2_000)
            .expect_err("must be refused")
            .to_string()
    }

    #[test]
    fn a_good_batch_passes_and_bad_ones_name_the_field() {
        assert!(validate(&batch(), 0, 2_000).is_ok());
        let mut b = batch();
        b.series[0].points[0].1 = f64::NAN;
        assert!(err(&b).contains("series[0].points[0]"), "{}", err(&b));
        let mut b = batch();
        b.series[0].points[0].0 = 5_000;
        assert!(err(&b).contains("outside the accepted range"));
        let mut b = batch();
        b.series.push(b.series[0].clone());
        assert!(err(&b).contains("appears twice"));
        let mut b = batch();
        b.series[0].name = "CPU".into();
        assert!(err(&b).contains("series[0]"));
        let mut b = batch();
        b.interval_secs = 0;
        assert!(err(&b).contains("interval_secs"));
        let mut b = batch();
        b.batch_id = String::new();
        assert!(err(&b).contains("batch_id"));
    }
}
