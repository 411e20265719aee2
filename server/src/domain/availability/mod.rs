//! Availability maths: state timelines from raw signals, interval algebra through the
//! dependency graph, agreed service time, SLA figures. Pure: no I/O, no clock; times are
//! unix seconds (`i64`), intervals half-open `[start, end)`. Intervals are stored, never
//! percentages: every figure is computed from them.
//!
//! - [`interval`]: union, intersection, difference of sorted interval lists;
//! - [`timeline`]: [`State`], [`Source`], [`Span`], [`Timeline`]; [`combine_worst`] for
//!   signals about one CI, [`all_of`] / [`at_least`] / [`eval`] for dependencies,
//!   [`overlay`] and [`Timeline::patch`];
//! - [`signals`]: [`heartbeat_timeline`], [`probe_timeline`], [`snmp_timeline`],
//!   [`reboots`];
//! - [`schedule`]: [`Schedule`] (24×7 or weekly local hours), its text form and
//!   [`Schedule::agreed`];
//! - [`mod@figures`]: [`outages`] and [`figures()`] (SLI, coverage, MTBF, MTRS, error budget).
//!
//! Decisions:
//! - **Unknown is not down.** Unknown time (no signal; the server not listening, source
//!   Server) is left out of the SLI's denominator and reported as coverage. Merging signals
//!   about one CI, a known state beats Unknown ([`combine_worst`]). Through dependencies,
//!   Unknown is three-valued logic: a required dependency that is Unknown makes its dependent
//!   Unknown unless another is Down ([`all_of`]); a redundancy group is Down only when too
//!   few members could possibly be up ([`at_least`]). The server should leave CIs it never
//!   monitors out of the expression rather than give them empty timelines.
//! - **Heartbeats.** A beat at `t` is Up over `[t, t + interval)`, and up to the next beat
//!   when that comes within `interval × missed`. A longer silence is an outage dated from the
//!   last heartbeat: it starts at `last + interval`, when the first missing beat was due, the
//!   same whether the outage is still open or closed. It is Down only while the server was
//!   listening, and not during the first `interval × missed` after the server started
//!   listening again (agents need that long to reconnect and deliver their spool); elsewhere
//!   Unknown (Server). Spooled beats are ordinary beats, so a period they cover is Up
//!   whatever the server was doing. A silence not yet longer than the tolerance is Up until
//!   `now`; the future is Unknown.
//! - **Probes and SNMP.** A result holds until the next, for at most `interval × missed`;
//!   after that Unknown (a missing result says nothing about the target).
//! - **Reboots.** A reading's boot instant is `at − uptime`; a boot instant after the
//!   previous reading means a reboot, Down from the last sign of life (the previous reading,
//!   or a later heartbeat) to the boot instant. Jitter (≤ 5 s) and TimeTicks wraps are not
//!   reboots. Reboot spans are laid over a timeline with [`overlay`] (the worse state wins,
//!   the overlay on ties).
//! - **Planned is not unplanned.** Maintenance windows are taken out of the SLA time
//!   entirely (up or down inside them); Down inside them is reported apart as planned.
//! - **Outages.** Down spans that touch, or are separated only by Unknown time, are one
//!   outage (cause: the first span's source); planned windows cut an outage into planned
//!   and unplanned parts, each counted on its own. An outage counts when it has unplanned
//!   Down time within agreed time.
//! - **Manual entries** are spans with source Manual: merged like any signal
//!   ([`combine_worst`] over [`Timeline::from_spans`]), or written over the signals with
//!   [`Timeline::patch`] when they correct them (a false alarm marked Up).
//! - **SLA time** = agreed time − maintenance windows; coverage = known SLA time / SLA time.
//! - **SLI** = (known SLA time − unplanned down) / known SLA time, Degraded counting as up.
//!   MTBF = (up + degraded) / outages, MTRS = unplanned down / outages (`None` without
//!   outages). Error budget = known × (100 − target) / 100, so breached ⇔ SLI < target ⇔
//!   budget left < 0; spending it exactly is not a breach.
//! - **Agreed time** is wall-clock time in the schedule's zone: see [`schedule`].

pub mod figures;
pub mod interval;
pub mod schedule;
pub mod signals;
pub mod timeline;

pub use figures::{Figures, Outage, figures, outages};
pub use interval::Interval;
pub use schedule::{Schedule, ScheduleError};
pub use signals::{heartbeat_timeline, probe_timeline, reboots, snmp_timeline};
pub use timeline::{
    Expr, Source, Span, State, Timeline, all_of, at_least, combine_worst, eval, overlay, spans_of,
};

#[cfg(test)]
mod tests;
