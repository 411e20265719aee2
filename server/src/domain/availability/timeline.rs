//! State timelines and their algebra: worst-of for signals about one CI, all-of and
//! at-least-k for dependencies, overlays, and the dependency expression a business service is
//! evaluated from. Every combination is one sweep over the inputs' span boundaries,
//! O(n log n) in the total number of spans.

use std::borrow::Cow;
use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::interval::{self, Interval};

/// What a CI was doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Up,
    /// Serving, but impaired (slow, partly failing, redundancy lost): counts as up.
    Degraded,
    Down,
    /// No evidence either way: left out of every denominator.
    Unknown,
}

impl State {
    /// How bad a known state is: Up 0, Degraded 1, Down 2; `None` for Unknown.
    pub fn severity(self) -> Option<u8> {
        match self {
            State::Up => Some(0),
            State::Degraded => Some(1),
            State::Down => Some(2),
            State::Unknown => None,
        }
    }

    /// Up or Degraded: serving.
    pub fn is_up(self) -> bool {
        matches!(self, State::Up | State::Degraded)
    }

    fn index(self) -> usize {
        match self {
            State::Up => 0,
            State::Degraded => 1,
            State::Down => 2,
            State::Unknown => 3,
        }
    }
}

/// Where a span's state comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Agent heartbeats (their presence, or their absence past the allowed misses).
    Heartbeat,
    /// A probe's results (TCP, HTTP, ICMP).
    Probe,
    /// SNMP reachability.
    Snmp,
    /// A restart seen as the uptime counter going back.
    Reboot,
    /// Entered by a person.
    Manual,
    /// Computed from other timelines (redundancy groups, out-of-range filler).
    Derived,
    /// Unknown because the server was not listening.
    Server,
}

/// `[start, end)` in one state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    pub start: i64,
    pub end: i64,
    pub state: State,
    pub source: Source,
}

impl Span {
    pub fn new(start: i64, end: i64, state: State, source: Source) -> Self {
        Span {
            start,
            end,
            state,
            source,
        }
    }

    pub fn secs(&self) -> i64 {
        self.end - self.start
    }
}

/// Intervals as spans of one state and source.
pub fn spans_of(intervals: &[Interval], state: State, source: Source) -> Vec<Span> {
    intervals
        .iter()
        .map(|&(s, e)| Span::new(s, e, state, source))
        .collect()
}

/// Spans covering `[start(), end())` completely: sorted, contiguous, none empty, and no two
/// neighbours with the same state and source. Empty when the range is. Built only through
/// the constructors here, so the invariant holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Timeline(Vec<Span>);

/// Appends contiguous spans, dropping empty ones and coalescing equal neighbours.
#[derive(Default)]
struct Builder(Vec<Span>);

impl Builder {
    fn push(&mut self, start: i64, end: i64, state: State, source: Source) {
        if start >= end {
            return;
        }
        if let Some(last) = self.0.last_mut() {
            debug_assert_eq!(last.end, start, "spans must be contiguous");
            if last.state == state && last.source == source {
                last.end = end;
                return;
            }
        }
        self.0.push(Span::new(start, end, state, source));
    }

    fn finish(self) -> Timeline {
        Timeline(self.0)
    }
}

impl Timeline {
    /// `[from, to)` in one state.
    pub fn filled(from: i64, to: i64, state: State, source: Source) -> Self {
        let mut b = Builder::default();
        b.push(from, to, state, source);
        b.finish()
    }

    /// `[from, to)` from any spans: clipped to the range, sorted by start; where spans
    /// overlap the one starting first (or given first, at equal starts) wins; gaps are
    /// Unknown with source `gap`.
    pub fn from_spans(
        from: i64,
        to: i64,
        gap: Source,
        spans: impl IntoIterator<Item = Span>,
    ) -> Self {
        if from >= to {
            return Timeline::default();
        }
        let mut v: Vec<Span> = spans
            .into_iter()
            .map(|s| Span::new(s.start.max(from), s.end.min(to), s.state, s.source))
            .filter(|s| s.start < s.end)
            .collect();
        v.sort_by_key(|s| s.start);
        let mut b = Builder::default();
        let mut cur = from;
        for s in v {
            if s.end <= cur {
                continue;
            }
            let start = s.start.max(cur);
            b.push(cur, start, State::Unknown, gap);
            b.push(start, s.end, s.state, s.source);
            cur = s.end;
        }
        b.push(cur, to, State::Unknown, gap);
        b.finish()
    }

    pub fn spans(&self) -> &[Span] {
        &self.0
    }

    pub fn into_spans(self) -> Vec<Span> {
        self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Start of the covered range (`None` when empty).
    pub fn start(&self) -> Option<i64> {
        self.0.first().map(|s| s.start)
    }

    /// End of the covered range (`None` when empty).
    pub fn end(&self) -> Option<i64> {
        self.0.last().map(|s| s.end)
    }

    /// The span holding instant `t`, if covered.
    pub fn at(&self, t: i64) -> Option<&Span> {
        let i = self.0.partition_point(|s| s.end <= t);
        self.0.get(i).filter(|s| s.start <= t)
    }

    /// Where the state is `state`, normalized.
    pub fn intervals(&self, state: State) -> Vec<Interval> {
        let mut out: Vec<Interval> = Vec::new();
        for s in self.0.iter().filter(|s| s.state == state) {
            match out.last_mut() {
                // Same state from another source right after: one interval.
                Some(last) if last.1 == s.start => last.1 = s.end,
                _ => out.push((s.start, s.end)),
            }
        }
        out
    }

    /// Seconds in `state`.
    pub fn secs(&self, state: State) -> i64 {
        self.0
            .iter()
            .filter(|s| s.state == state)
            .map(Span::secs)
            .sum()
    }

    /// The part within `[from, to)`.
    pub fn clip(&self, from: i64, to: i64) -> Timeline {
        let mut b = Builder::default();
        let first = self.0.partition_point(|s| s.end <= from);
        for s in &self.0[first..] {
            if s.start >= to {
                break;
            }
            b.push(s.start.max(from), s.end.min(to), s.state, s.source);
        }
        b.finish()
    }

    /// This timeline with `spans` written over it (a manual correction replaces what the
    /// signals said, whatever the states). `spans` may overlap each other: the one starting
    /// first wins. The range stays this timeline's.
    pub fn patch(&self, spans: &[Span]) -> Timeline {
        let (Some(from), Some(to)) = (self.start(), self.end()) else {
            return Timeline::default();
        };
        let covered = interval::normalize(
            &spans
                .iter()
                .map(|s| (s.start, s.end))
                .collect::<Vec<Interval>>(),
        );
        let mut all: Vec<Span> = spans.to_vec();
        for s in &self.0 {
            for (a, z) in interval::subtract(&[(s.start, s.end)], &covered) {
                all.push(Span::new(a, z, s.state, s.source));
            }
        }
        Timeline::from_spans(from, to, Source::Derived, all)
    }
}

/// Each input's current state during a sweep, and who is in which state.
struct Tally {
    members: Vec<(State, Source)>,
    by_state: [BTreeSet<usize>; 4],
}

impl Tally {
    fn count(&self, state: State) -> usize {
        self.by_state[state.index()].len()
    }

    /// The first input (lowest index) in `state`, with its source.
    fn first(&self, state: State) -> Option<(usize, Source)> {
        self.by_state[state.index()]
            .first()
            .map(|&i| (i, self.members[i].1))
    }

    fn set(&mut self, i: usize, state: State, source: Source) {
        let old = self.members[i].0;
        if old != state {
            self.by_state[old.index()].remove(&i);
            self.by_state[state.index()].insert(i);
        }
        self.members[i] = (state, source);
    }
}

/// Sweeps the inputs' boundaries over the union of their ranges; outside its own range an
/// input counts as Unknown (source Derived). `decide` gives the result between boundaries.
fn sweep(inputs: &[&Timeline], mut decide: impl FnMut(&Tally) -> (State, Source)) -> Timeline {
    let lo = inputs.iter().filter_map(|t| t.start()).min();
    let hi = inputs.iter().filter_map(|t| t.end()).max();
    let (Some(lo), Some(hi)) = (lo, hi) else {
        return Timeline::default();
    };
    let mut events: Vec<(i64, usize, State, Source)> =
        Vec::with_capacity(inputs.iter().map(|t| t.0.len() + 1).sum());
    for (i, t) in inputs.iter().enumerate() {
        events.extend(t.0.iter().map(|s| (s.start, i, s.state, s.source)));
        if let Some(end) = t.end().filter(|&e| e < hi) {
            events.push((end, i, State::Unknown, Source::Derived));
        }
    }
    // An input has at most one event per instant, so their order within one is irrelevant.
    events.sort_unstable_by_key(|e| e.0);
    let mut tally = Tally {
        members: vec![(State::Unknown, Source::Derived); inputs.len()],
        by_state: Default::default(),
    };
    tally.by_state[State::Unknown.index()] = (0..inputs.len()).collect();
    let mut b = Builder::default();
    let mut t = lo;
    let mut k = 0;
    while k < events.len() {
        let time = events[k].0;
        if time > t {
            let (state, source) = decide(&tally);
            b.push(t, time, state, source);
            t = time;
        }
        while k < events.len() && events[k].0 == time {
            let (_, i, state, source) = events[k];
            tally.set(i, state, source);
            k += 1;
        }
    }
    if t < hi {
        let (state, source) = decide(&tally);
        b.push(t, hi, state, source);
    }
    b.finish()
}

/// The first state in `order` some input is in, with the source of the first such input.
fn first_of(tally: &Tally, order: [State; 4]) -> (State, Source) {
    order
        .into_iter()
        .find_map(|s| tally.first(s).map(|(_, source)| (s, source)))
        .unwrap_or((State::Unknown, Source::Derived))
}

/// Signals about one CI merged: per instant the worst known state (Down > Degraded > Up);
/// Unknown only where every input is (a known signal beats an unknown one). The source is
/// that of the input that decided, the first one given on ties.
pub fn combine_worst(timelines: &[&Timeline]) -> Timeline {
    sweep(timelines, |t| {
        first_of(t, [State::Down, State::Degraded, State::Up, State::Unknown])
    })
}

/// Required dependencies (a node and everything it needs): Down where any input is Down;
/// otherwise Unknown where any is Unknown (it might be down); otherwise Degraded where any is
/// Degraded; otherwise Up. The same as [`at_least`] with every member required, but keeping
/// the deciding input's source (so a service outage shows the CI's cause).
pub fn all_of(timelines: &[&Timeline]) -> Timeline {
    sweep(timelines, |t| {
        first_of(t, [State::Down, State::Unknown, State::Degraded, State::Up])
    })
}

/// A redundancy group needing `min_up` serving members (Up or Degraded). With `up` members
/// known serving and `unknown` members unknown, per instant:
/// - `up ≥ min_up`: the group serves: Degraded if some member is Down or Degraded, else Up;
/// - `up < min_up ≤ up + unknown`: Unknown (the unknown members decide);
/// - `up + unknown < min_up`: Down, certainly.
///
/// `min_up` 0 is never down; `min_up` above the member count is always down. Source Derived.
pub fn at_least(timelines: &[&Timeline], min_up: usize) -> Timeline {
    sweep(timelines, |t| {
        let up = t.count(State::Up) + t.count(State::Degraded);
        let state = if up >= min_up {
            if t.count(State::Down) + t.count(State::Degraded) > 0 {
                State::Degraded
            } else {
                State::Up
            }
        } else if up + t.count(State::Unknown) >= min_up {
            State::Unknown
        } else {
            State::Down
        };
        (state, Source::Derived)
    })
}

/// `spans` laid over `t` (within `t`'s range), keeping per instant the worse known state;
/// on equal states the overlay's span wins (it is the more specific explanation, e.g. a
/// reboot within a heartbeat gap). An overlay's Unknown never hides `t`.
pub fn overlay(t: &Timeline, spans: &[Span]) -> Timeline {
    let (Some(from), Some(to)) = (t.start(), t.end()) else {
        return Timeline::default();
    };
    let over = Timeline::from_spans(from, to, Source::Derived, spans.iter().copied());
    sweep(&[&over, t], |tally| {
        let (o, b) = (tally.members[0], tally.members[1]);
        match (o.0.severity(), b.0.severity()) {
            (Some(so), Some(sb)) if so >= sb => o,
            (Some(_), None) => o,
            _ => b,
        }
    })
}

/// How a business service depends on CIs; leaves index the `leaves` given to [`eval`]. The
/// server builds it from the relationship graph (depends_on / runs_on / hosted_on chains,
/// redundancy groups).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expr {
    /// One CI's own timeline.
    Ci(usize),
    /// Everything required: see [`all_of`].
    All(Vec<Expr>),
    /// A redundancy group: see [`at_least`].
    AtLeast { min_up: usize, members: Vec<Expr> },
}

/// The timeline of `expr`. A leaf index without a timeline counts as an empty timeline
/// (Unknown throughout, so it shows rather than vanishes); an empty `All` or `AtLeast` is an
/// empty timeline.
pub fn eval(expr: &Expr, leaves: &[Timeline]) -> Timeline {
    eval_cow(expr, leaves).into_owned()
}

fn eval_cow<'a>(expr: &Expr, leaves: &'a [Timeline]) -> Cow<'a, Timeline> {
    let parts = |members: &[Expr]| -> Vec<Cow<'a, Timeline>> {
        members.iter().map(|m| eval_cow(m, leaves)).collect()
    };
    match expr {
        Expr::Ci(i) => leaves
            .get(*i)
            .map_or_else(|| Cow::Owned(Timeline::default()), Cow::Borrowed),
        Expr::All(members) => {
            let mut parts = parts(members);
            if parts.len() == 1 {
                // The only requirement is itself: no sweep, no copy of a leaf.
                return parts.pop().unwrap_or_default();
            }
            let refs: Vec<&Timeline> = parts.iter().map(|p| p.as_ref()).collect();
            Cow::Owned(all_of(&refs))
        }
        Expr::AtLeast { min_up, members } => {
            let parts = parts(members);
            let refs: Vec<&Timeline> = parts.iter().map(|p| p.as_ref()).collect();
            Cow::Owned(at_least(&refs, *min_up))
        }
    }
}
