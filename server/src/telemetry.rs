//! The server's own metrics, in Prometheus/OpenMetrics text.

use std::collections::BTreeMap;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

/// Counters and gauges; cheap to update from any request.
pub struct Telemetry {
    registry: Registry,
    reports: Family<OutcomeLabel, Counter>,
    report_seconds: Histogram,
    device_reports: Family<OutcomeLabel, Counter>,
    device_report_seconds: Histogram,
    pub enrollments: Counter,
    pub last_seen_flush_failures: Counter,
    pub discovery_failures: Counter,
    pub impact_queries: Counter,
    pub metric_samples: Counter,
    pub metric_samples_skipped: Counter,
    pub compactions: Counter,
    pub compaction_failures: Counter,
    /// Other instances' changes applied from the feed.
    pub cluster_events: Counter,
    /// Seconds from a change's write to its application here (the newest of each page).
    pub cluster_lag_seconds: Histogram,
    pub cluster_follow_failures: Counter,
    /// Discovered relationships this instance's sweeps marked stale.
    pub stale_marked: Counter,
    records: Family<KindLabel, Gauge>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Telemetry")
    }
}

impl Default for Telemetry {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("cmdb");
        let reports = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "reports",
            "Agent reports by outcome (changed, unchanged, resync, rejected, error)",
            reports.clone(),
        );
        let report_seconds = Histogram::new(exponential_buckets(0.0005, 2.0, 14));
        registry.register(
            "report_duration_seconds",
            "Time to validate and apply one report",
            report_seconds.clone(),
        );
        let device_reports = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "device_reports",
            "Device reports (SNMP polls) by outcome (changed, unchanged, rejected, error)",
            device_reports.clone(),
        );
        let device_report_seconds = Histogram::new(exponential_buckets(0.0005, 2.0, 14));
        registry.register(
            "device_report_duration_seconds",
            "Time to validate and apply one device report",
            device_report_seconds.clone(),
        );
        let enrollments = Counter::default();
        registry.register("enrollments", "Agents enrolled", enrollments.clone());
        let last_seen_flush_failures = Counter::default();
        registry.register(
            "last_seen_flush_failures",
            "Failed writes of coalesced last-seen times (retried)",
            last_seen_flush_failures.clone(),
        );
        let discovery_failures = Counter::default();
        registry.register(
            "discovery_failures",
            "Relationship derivations that failed after a report (retried by the next one)",
            discovery_failures.clone(),
        );
        let impact_queries = Counter::default();
        registry.register(
            "impact_queries",
            "Impact analyses answered",
            impact_queries.clone(),
        );
        let metric_samples = Counter::default();
        registry.register(
            "metric_samples",
            "Metric samples accepted from agents",
            metric_samples.clone(),
        );
        let metric_samples_skipped = Counter::default();
        registry.register(
            "metric_samples_skipped",
            "Metric samples of devices not identified yet, skipped",
            metric_samples_skipped.clone(),
        );
        let compactions = Counter::default();
        registry.register(
            "series_compactions",
            "CI days of metric samples compacted into blocks and rollups",
            compactions.clone(),
        );
        let compaction_failures = Counter::default();
        registry.register(
            "series_compaction_failures",
            "Compaction passes that failed (retried at the next pass)",
            compaction_failures.clone(),
        );
        let cluster_events = Counter::default();
        registry.register(
            "cluster_events",
            "Changes read from the change feed of the instances sharing the database",
            cluster_events.clone(),
        );
        let cluster_lag_seconds = Histogram::new(exponential_buckets(0.01, 2.0, 12));
        registry.register(
            "cluster_lag_seconds",
            "Time from a change's write (by any instance) to its application here",
            cluster_lag_seconds.clone(),
        );
        let cluster_follow_failures = Counter::default();
        registry.register(
            "cluster_follow_failures",
            "Reads of the change feed that failed (retried)",
            cluster_follow_failures.clone(),
        );
        let stale_marked = Counter::default();
        registry.register(
            "relationships_marked_stale",
            "Discovered relationships this instance's sweeps marked stale",
            stale_marked.clone(),
        );
        let records = Family::<KindLabel, Gauge>::default();
        registry.register("records", "Stored records by kind", records.clone());
        Self {
            registry,
            reports,
            report_seconds,
            device_reports,
            device_report_seconds,
            enrollments,
            last_seen_flush_failures,
            discovery_failures,
            impact_queries,
            metric_samples,
            metric_samples_skipped,
            compactions,
            compaction_failures,
            cluster_events,
            cluster_lag_seconds,
            cluster_follow_failures,
            stale_marked,
            records,
        }
    }
}

impl Telemetry {
    /// Counts one report.
    pub fn observe_report(&self, outcome: &str, seconds: f64) {
        self.reports
            .get_or_create(&OutcomeLabel {
                outcome: outcome.to_string(),
            })
            .inc();
        self.report_seconds.observe(seconds);
    }

    /// Counts one device report.
    pub fn observe_device_report(&self, outcome: &str, seconds: f64) {
        self.device_reports
            .get_or_create(&OutcomeLabel {
                outcome: outcome.to_string(),
            })
            .inc();
        self.device_report_seconds.observe(seconds);
    }

    /// Updates the record gauges.
    pub fn set_counts(&self, counts: &BTreeMap<String, u64>) {
        for (k, v) in counts {
            self.records
                .get_or_create(&KindLabel { kind: k.clone() })
                .set(i64::try_from(*v).unwrap_or(i64::MAX));
        }
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
