//! Agreed service time: 24×7, or weekly local hours in a time zone.
//!
//! Local time is wall-clock time: an instant is agreed when the zone's clock shows a time
//! inside one of that day's ranges. So Mon–Fri 08:00–18:00 Europe/Paris is 10 h every
//! weekday, DST or not; on a day the clock skips an hour, a range containing the skipped hour
//! is an hour shorter (the skipped times never happen) and one starting inside it starts when
//! the clock resumes; on a day the clock repeats an hour, a range containing the repeated
//! hour is an hour longer (those times happen twice). No special cases: the period is cut
//! where the zone's offset changes and each piece is mapped with its own offset.
//!
//! Text form (parsed case-insensitively, printed canonically):
//! `24x7` (also `24/7`, `always`), `never`, or rules then an IANA time zone, e.g.
//! `Mon-Fri 08:00-18:00, Sat 09:00-12:00 Europe/London`. A rule is a day (`Mon`…`Sun` or
//! full names) or a day range (`Mon-Fri`; `Sat-Mon` wraps through Sunday; `daily`), then one
//! or more `HH:MM-HH:MM` ranges. `24:00` may end a range; a range ending at or before its
//! start runs into the next day (`22:00-06:00`), `00:00-24:00` is the whole day.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveTime, Offset, TimeZone, Timelike};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::interval::{self, Interval};

const DAY: i64 = 86_400;
const DAY_NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const FULL_DAY_NAMES: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
/// chrono's representable range, well inside: instants beyond are clamped.
const MAX_SECS: i64 = 1 << 42;

/// When the service is agreed to be available.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// 24×7.
    Always,
    /// Local ranges per weekday, Monday first; a range whose end is at or before its start
    /// runs into the next day.
    Weekly {
        tz: Tz,
        days: [Vec<(NaiveTime, NaiveTime)>; 7],
    },
}

/// What is wrong with a schedule's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduleError {
    Empty,
    MissingTimeZone,
    UnknownTimeZone(String),
    /// Nothing between two commas.
    EmptyRule,
    UnknownDay(String),
    /// A rule starting with hours instead of days.
    MissingDays(String),
    /// A rule with days but no hours.
    MissingHours(String),
    /// Days where hours were expected: a new rule without its comma.
    MissingComma(String),
    /// Not `START-END`.
    BadRange(String),
    BadTime(String),
    /// Start equals end (other than `00:00-24:00`).
    EmptyRange(String),
}

impl fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScheduleError::Empty => write!(
                f,
                "empty schedule: give 24x7 or hours and a time zone, e.g. \
                 'Mon-Fri 08:00-18:00 Europe/Paris'"
            ),
            ScheduleError::MissingTimeZone => write!(
                f,
                "no time zone: end the schedule with an IANA zone, e.g. Europe/Paris or UTC"
            ),
            ScheduleError::UnknownTimeZone(z) => write!(
                f,
                "unknown time zone '{z}': use an IANA name, e.g. Europe/Paris or UTC"
            ),
            ScheduleError::EmptyRule => write!(f, "empty rule between commas"),
            ScheduleError::UnknownDay(d) => write!(
                f,
                "unknown day '{d}': use Mon, Tue, Wed, Thu, Fri, Sat, Sun, a range such as \
                 Mon-Fri, or daily"
            ),
            ScheduleError::MissingDays(r) => write!(
                f,
                "rule '{r}' has no days: start it with a day or days, e.g. Mon-Fri"
            ),
            ScheduleError::MissingHours(r) => {
                write!(f, "rule '{r}' has no hours: add ranges such as 08:00-18:00")
            }
            ScheduleError::MissingComma(d) => write!(
                f,
                "'{d}' starts a new rule: separate rules with a comma, e.g. \
                 'Mon-Fri 08:00-18:00, Sat 09:00-12:00 Europe/Paris'"
            ),
            ScheduleError::BadRange(r) => {
                write!(
                    f,
                    "'{r}' is not a time range: write START-END, e.g. 08:00-18:00"
                )
            }
            ScheduleError::BadTime(t) => write!(
                f,
                "'{t}' is not a time: write HH:MM from 00:00 to 23:59 (24:00 only to end a \
                 range)"
            ),
            ScheduleError::EmptyRange(r) => write!(
                f,
                "range '{r}' starts where it ends: for the whole day write 00:00-24:00"
            ),
        }
    }
}

impl std::error::Error for ScheduleError {}

impl Schedule {
    /// Agreed time within `[from, to)`, normalized. Cost is linear in the number of days.
    pub fn agreed(&self, from: i64, to: i64) -> Vec<Interval> {
        let (from, to) = (
            from.clamp(-MAX_SECS, MAX_SECS),
            to.clamp(-MAX_SECS, MAX_SECS),
        );
        if from >= to {
            return Vec::new();
        }
        let (tz, days) = match self {
            Schedule::Always => return vec![(from, to)],
            Schedule::Weekly { tz, days } => (tz, days),
        };
        let mut out = Vec::new();
        for (a, b, off) in offset_pieces(tz, from, to) {
            // Local days whose ranges may reach into [a, b): from the day before (ranges
            // running past midnight) to the last one.
            let first = (a + off).div_euclid(DAY) - 1;
            let last = (b - 1 + off).div_euclid(DAY);
            for day in first..=last {
                // Day 0 (1970-01-01) was a Thursday; index 0 is Monday.
                let weekday = usize::try_from((day + 3).rem_euclid(7)).unwrap_or_default();
                for &(s, e) in &days[weekday] {
                    let ls = day * DAY + secs_of(s);
                    let mut le = day * DAY + secs_of(e);
                    if le <= ls {
                        le += DAY;
                    }
                    let (u0, u1) = ((ls - off).max(a), (le - off).min(b));
                    if u0 < u1 {
                        out.push((u0, u1));
                    }
                }
            }
        }
        interval::normalize(&out)
    }

    /// Parses the text form (see the module docs).
    pub fn parse(text: &str) -> Result<Self, ScheduleError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(ScheduleError::Empty);
        }
        if ["24x7", "24/7", "always"]
            .iter()
            .any(|w| text.eq_ignore_ascii_case(w))
        {
            return Ok(Schedule::Always);
        }
        if text.eq_ignore_ascii_case("never") {
            return Ok(Schedule::Weekly {
                tz: Tz::UTC,
                days: Default::default(),
            });
        }
        let Some((body, zone)) = text.rsplit_once(char::is_whitespace) else {
            // One word: a zone alone says nothing; anything else lacks its zone.
            return Err(if looks_like_zone(text) {
                ScheduleError::Empty
            } else {
                ScheduleError::MissingTimeZone
            });
        };
        let tz = if looks_like_zone(zone) {
            parse_zone(zone)?
        } else {
            return Err(ScheduleError::MissingTimeZone);
        };
        let mut days: [Vec<(NaiveTime, NaiveTime)>; 7] = Default::default();
        for rule in body.split(',') {
            let rule = rule.trim();
            let mut words = rule.split_whitespace();
            let Some(day_spec) = words.next() else {
                return Err(ScheduleError::EmptyRule);
            };
            if day_spec.contains(':') {
                return Err(ScheduleError::MissingDays(rule.to_owned()));
            }
            let which = parse_days(day_spec)?;
            let mut ranges = Vec::new();
            for word in words {
                if parse_days(word).is_ok() {
                    return Err(ScheduleError::MissingComma(word.to_owned()));
                }
                ranges.push(parse_range(word)?);
            }
            if ranges.is_empty() {
                return Err(ScheduleError::MissingHours(rule.to_owned()));
            }
            for d in which {
                days[d].extend_from_slice(&ranges);
            }
        }
        Ok(Schedule::Weekly { tz, days })
    }
}

/// A zone, not hours or days: has letters, no colon, and is not a day spec.
fn looks_like_zone(word: &str) -> bool {
    word.bytes().any(|c| c.is_ascii_alphabetic())
        && !word.contains(':')
        && parse_days(word).is_err()
}

fn parse_zone(word: &str) -> Result<Tz, ScheduleError> {
    word.parse::<Tz>()
        .ok()
        .or_else(|| {
            chrono_tz::TZ_VARIANTS
                .iter()
                .find(|z| z.name().eq_ignore_ascii_case(word))
                .copied()
        })
        .ok_or_else(|| ScheduleError::UnknownTimeZone(word.to_owned()))
}

fn parse_day(word: &str) -> Result<usize, ScheduleError> {
    DAY_NAMES
        .iter()
        .zip(FULL_DAY_NAMES)
        .position(|(short, full)| {
            word.eq_ignore_ascii_case(short) || word.eq_ignore_ascii_case(full)
        })
        .ok_or_else(|| ScheduleError::UnknownDay(word.to_owned()))
}

/// Weekday indices (Monday 0) of `Mon`, `Mon-Fri`, `Sat-Mon` (wrapping) or `daily`.
fn parse_days(word: &str) -> Result<Vec<usize>, ScheduleError> {
    if word.eq_ignore_ascii_case("daily") {
        return Ok((0..7).collect());
    }
    match word.split_once('-') {
        None => Ok(vec![parse_day(word)?]),
        Some((a, b)) => {
            let (a, b) = (parse_day(a)?, parse_day(b)?);
            let len = (b + 7 - a) % 7 + 1;
            Ok((0..len).map(|i| (a + i) % 7).collect())
        }
    }
}

fn parse_range(word: &str) -> Result<(NaiveTime, NaiveTime), ScheduleError> {
    let (a, b) = word
        .split_once('-')
        .ok_or_else(|| ScheduleError::BadRange(word.to_owned()))?;
    let start = parse_time(a, false)?;
    let end = parse_time(b, true)?;
    if start == end && !(start == NaiveTime::MIN && b.starts_with("24")) {
        return Err(ScheduleError::EmptyRange(word.to_owned()));
    }
    Ok((start, end))
}

/// `H:MM`, `HH:MM` or `HH:MM:SS`; `24:00` (as midnight) only when `end`.
fn parse_time(word: &str, end: bool) -> Result<NaiveTime, ScheduleError> {
    let bad = || ScheduleError::BadTime(word.to_owned());
    let parts: Vec<&str> = word.split(':').collect();
    if !(2..=3).contains(&parts.len())
        || parts
            .iter()
            .any(|p| p.is_empty() || p.len() > 2 || !p.bytes().all(|c| c.is_ascii_digit()))
        || parts[1..].iter().any(|p| p.len() != 2)
    {
        return Err(bad());
    }
    let n: Vec<u32> = parts
        .iter()
        .map(|p| p.parse().unwrap_or(u32::MAX))
        .collect();
    let sec = n.get(2).copied().unwrap_or(0);
    if end && n[0] == 24 && n[1] == 0 && sec == 0 {
        return Ok(NaiveTime::MIN);
    }
    NaiveTime::from_hms_opt(n[0], n[1], sec).ok_or_else(bad)
}

fn secs_of(t: NaiveTime) -> i64 {
    i64::from(t.num_seconds_from_midnight())
}

/// `zone`'s offset from UTC at instant `u`, in seconds.
fn offset_at(tz: &Tz, u: i64) -> i64 {
    DateTime::from_timestamp(u, 0).map_or(0, |d| {
        i64::from(
            tz.offset_from_utc_datetime(&d.naive_utc())
                .fix()
                .local_minus_utc(),
        )
    })
}

/// `[from, to)` cut where `tz`'s offset changes: `(start, end, offset)`. Probes once a day and
/// bisects to the second where it changed (zones change at most once a day).
fn offset_pieces(tz: &Tz, from: i64, to: i64) -> Vec<(i64, i64, i64)> {
    let mut pieces = Vec::new();
    let last = to - 1;
    let (mut start, mut off) = (from, offset_at(tz, from));
    let mut probe = from;
    while probe < last {
        let next = (probe + DAY).min(last);
        if offset_at(tz, next) == off {
            probe = next;
            continue;
        }
        // The offset is `off` at `lo` and not at `hi`: find the first second it is not.
        let (mut lo, mut hi) = (probe, next);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if offset_at(tz, mid) == off {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        pieces.push((start, hi, off));
        (start, off, probe) = (hi, offset_at(tz, hi), hi);
    }
    pieces.push((start, to, off));
    pieces
}

fn fmt_time(t: NaiveTime, end: bool) -> String {
    if end && t == NaiveTime::MIN {
        return "24:00".to_owned();
    }
    if t.second() == 0 {
        format!("{:02}:{:02}", t.hour(), t.minute())
    } else {
        format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second())
    }
}

/// The canonical text form: consecutive days with the same ranges grouped.
impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (tz, days) = match self {
            Schedule::Always => return write!(f, "24x7"),
            Schedule::Weekly { tz, days } => (tz, days),
        };
        if days.iter().all(Vec::is_empty) {
            return write!(f, "never");
        }
        let mut rules = Vec::new();
        let mut i = 0;
        while i < 7 {
            let mut j = i;
            while j + 1 < 7 && days[j + 1] == days[i] {
                j += 1;
            }
            if !days[i].is_empty() {
                let day_spec = if i == j {
                    DAY_NAMES[i].to_owned()
                } else {
                    format!("{}-{}", DAY_NAMES[i], DAY_NAMES[j])
                };
                let ranges: Vec<String> = days[i]
                    .iter()
                    .map(|&(s, e)| format!("{}-{}", fmt_time(s, false), fmt_time(e, true)))
                    .collect();
                rules.push(format!("{day_spec} {}", ranges.join(" ")));
            }
            i = j + 1;
        }
        write!(f, "{} {}", rules.join(", "), tz.name())
    }
}

impl FromStr for Schedule {
    type Err = ScheduleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Schedule::parse(s)
    }
}

/// As its text form, so it is stored and exchanged the way users write it.
impl Serialize for Schedule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Schedule {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Schedule::parse(&text).map_err(serde::de::Error::custom)
    }
}
