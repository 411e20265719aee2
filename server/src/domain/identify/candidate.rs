//! What every identification shares, hosts and network devices alike: a candidate CI found by
//! a lookup key, the outcome, and the rule that the oldest of several matches wins (the others
//! are flagged as suspected duplicates).

/// An existing CI that shares at least one key with the incoming host (or, with
/// `DeviceKeys`, network device).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate<K> {
    pub ci_id: String,
    pub keys: K,
    /// When the CI was first seen (RFC 3339); the oldest wins among equals.
    pub first_seen: String,
    /// The agent the CI is bound to (hosts: the agent on it), if any.
    pub owner: Option<String>,
}

/// The outcome of identification, by host (or device) rules `R`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identification<R> {
    /// Matched an existing CI by `rule`; `duplicates` are other CIs the same rule matched,
    /// to be flagged as suspected duplicates.
    Existing {
        ci_id: String,
        rule: R,
        duplicates: Vec<String>,
    },
    /// No candidate survived: a new CI.
    New,
}

/// The CIs one rule matched, if any: the oldest wins, the others are suspected duplicates.
pub fn oldest_of<K, R>(rule: R, mut matched: Vec<&Candidate<K>>) -> Option<Identification<R>> {
    matched.sort_by(|a, b| a.first_seen.cmp(&b.first_seen).then(a.ci_id.cmp(&b.ci_id)));
    let (first, rest) = matched.split_first()?;
    Some(Identification::Existing {
        ci_id: first.ci_id.clone(),
        rule,
        duplicates: rest.iter().map(|c| c.ci_id.clone()).collect(),
    })
}
