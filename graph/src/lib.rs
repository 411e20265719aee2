//! In-memory relationship graph index and impact analysis of the CMDB.
//!
//! The CMDB stores typed, directed relationships between configuration items (CIs) in SurrealDB,
//! which stays the source of truth. Impact analysis ("if these CIs fail, what fails and what
//! degrades?") needs traversals that the database answers in seconds, so the server keeps this
//! index: compact adjacency arrays keyed by CI, loaded from storage at start and updated on every
//! relationship write. The crate is pure: no I/O, no async runtime, no serialisation.
//!
//! Layout (the code of each module imports only from the modules listed before it and from this
//! root; unit tests may use any of them):
//! - `network.rs`: metadata of the `connected_to` network (components, effective core set,
//!   distance to the core), built from a list of links; the index computes it lazily on the first
//!   query after a network change.
//! - `scratch.rs`: the reusable scratch buffers the queries run in, and the pool of them the
//!   index keeps.
//! - `index.rs`: [`GraphIndex`], node keys and attributes, forward and reverse adjacency arrays
//!   (CSR) plus a small overlay of the writes since the last compaction.
//! - `impact.rs`: [`GraphIndex::impact`], [`GraphIndex::dependencies`] and
//!   [`GraphIndex::plain_bfs`]; its unit tests are in `impact/tests.rs`.
//!
//! Test support, compiled only for this crate's unit tests or with the cargo feature `testing`
//! (the benchmark and other crates' tests enable it; production builds leave it out):
//! - `reference`: a brute-force implementation of the same semantics.
//! - `synth`: a synthetic data-centre estate and the small PRNG the randomised tests use.
//!
//! # Impact semantics
//!
//! An edge `a -kind-> b` means "a depends on b in this way". Given a failed set F, every CI is up,
//! at risk, degraded or down. Down is the least fixed point of:
//! - the CI is in F;
//! - it has a `depends_on`, `runs_on`, `hosted_on` or `powered_by` edge to a down CI;
//! - it is a redundancy group (the target of `member_of` edges) with fewer than `min_up` members
//!   not down. `min_up` defaults to 1 and is clamped to the number of members, so a group
//!   declaring more than it has needs all of them, and a group without members never fails by
//!   this rule (an empty failed set affects nothing);
//! - it is cut off: it has a `connected_to` edge (the network is undirected for reachability)
//!   and no path of `connected_to` edges through CIs that are not down leads to a core CI. Every
//!   network component has a core (declared or default, below), so every network CI can be cut
//!   off.
//!
//! Degraded (working, with reduced capacity; only for CIs not down) is then the least fixed
//! point of:
//! - it is a group with some member down or degraded (it kept its quorum, with fewer members);
//! - it has a `depends_on`, `runs_on`, `hosted_on` or `powered_by` edge to a degraded CI.
//!
//! At risk (fully working, redundancy lost) is a CI neither down nor degraded with a
//! `connected_to` neighbour down: it lost a link and still reaches the core. At risk does not
//! spread: a VM on a dual-homed hypervisor that lost one uplink is not affected at all. Instead
//! every business service with at-risk CIs below it (over dependency and `member_of` edges) is
//! told how many ([`ImpactResult::services_at_risk`]), so one top-of-rack switch failing reads
//! "no outage; these hypervisors lost redundancy, under these services", not every service
//! painted degraded.
//!
//! Every affected CI carries a cause and a `via` CI that justifies it; following `via` leads back
//! to F ([`ImpactResult::path`]). Depth is the length of that path: F is at depth 0, every other CI
//! one more than its `via`. The search is breadth-first, so depths are short, but when several
//! justifications exist the one found first is kept. A network segment that is cut off is entered
//! one step after the failure that completed the cut (the last link lost: `via` of the segment's
//! CIs next to it) and spreads one hop per step inside the segment.
//!
//! A group's cause reports `up`, its members not down when the query ends, and the effective
//! `min_up`; a down group has `up < min_up`, a degraded one `up >= min_up`.
//!
//! `max_depth = Some(d)` is a horizon: the propagation stops at depth d. CIs at depth d are
//! reported but propagate nothing (their dependents, groups and network neighbours would be at
//! depth d + 1), and CIs that would be reached deeper are neither reported nor counted as down.
//! So a group counts as up every member that is deeper than d or exactly at d, and a horizon
//! never cuts anything off that a deeper failure would have cut. The part of a cut-off segment
//! deeper than d is not reported. With a horizon the answer is a subset of the full answer (a
//! CI may show as degraded where the full answer says down); once d reaches the deepest CI of
//! the full answer the two are equal.
//!
//! # Default core
//!
//! Reachability needs a core: the CIs that are "the network" for everything hanging off it. An
//! operator declares them ([`NodeAttrs::core`]); a `connected_to` component without a declared core
//! gets its centre by two breadth-first sweeps. From the component's CI with the smallest key,
//! find the farthest CI u; from u, the farthest v (distance D); then the core is every CI n with
//! `d(u,n) + d(n,v) == D` and `|d(u,n) - d(n,v)| <= 1`: the middle of the diameter paths (both core
//! switches of a data centre, the two middle CIs of a ring of four). Ties go to the smallest key
//! (byte order), so the choice depends only on the keys and links, not on the order the index was
//! loaded in: a restart keeps the same core.

mod impact;
mod index;
mod network;
#[cfg(any(test, feature = "testing"))]
pub mod reference;
mod scratch;
#[cfg(any(test, feature = "testing"))]
pub mod synth;

use std::fmt;

pub use impact::{Affected, Cause, ImpactOptions, ImpactResult, Reached, State};
pub use index::{Builder as GraphBuilder, GraphIndex};

/// Dense id of a CI inside one [`GraphIndex`]. [`GraphIndex::build`] numbers CIs in its own
/// (locality) order; later writes keep ids stable, and the id of a removed CI may be reused by a
/// later one. At most 2^28 CIs.
pub type NodeId = u32;

/// "No node" in u32 arrays (ids stop below it).
pub(crate) const NONE: u32 = u32::MAX;

/// Relationship types, lowercase on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum RelKind {
    /// Source needs target (application → service, client → database).
    DependsOn = 0,
    /// A service or process runs on a host.
    RunsOn = 1,
    /// A virtual machine or container is hosted on a hypervisor or node.
    HostedOn = 2,
    /// A network link; undirected for reachability.
    ConnectedTo = 3,
    /// A device draws power from a PDU or feed.
    PoweredBy = 4,
    /// A CI is a member of a redundancy group or cluster.
    MemberOf = 5,
}

impl RelKind {
    /// Every kind, in wire order.
    pub const ALL: [RelKind; 6] = [
        RelKind::DependsOn,
        RelKind::RunsOn,
        RelKind::HostedOn,
        RelKind::ConnectedTo,
        RelKind::PoweredBy,
        RelKind::MemberOf,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            RelKind::DependsOn => "depends_on",
            RelKind::RunsOn => "runs_on",
            RelKind::HostedOn => "hosted_on",
            RelKind::ConnectedTo => "connected_to",
            RelKind::PoweredBy => "powered_by",
            RelKind::MemberOf => "member_of",
        }
    }

    /// Parses a wire name; `None` for anything else.
    pub fn parse(s: &str) -> Option<RelKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// True for the kinds along which failure flows from target to source (`depends_on`,
    /// `runs_on`, `hosted_on`, `powered_by`).
    pub fn is_dependency(self) -> bool {
        is_dep_byte(self as u8)
    }

    pub(crate) fn from_byte(b: u8) -> Option<RelKind> {
        Self::ALL.get(usize::from(b)).copied()
    }
}

impl fmt::Display for RelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Kind byte of `connected_to` in the adjacency arrays.
pub(crate) const K_CONNECTED: u8 = RelKind::ConnectedTo as u8;
/// Kind byte of `member_of` in the adjacency arrays.
pub(crate) const K_MEMBER: u8 = RelKind::MemberOf as u8;

/// True when the kind bits are a live dependency kind. Tombstoned entries (bit 3 set) are
/// rejected by the range check, which is why the hot loops need no separate liveness test.
#[inline]
pub(crate) fn is_dep_byte(k: u8) -> bool {
    const MASK: u8 = (1 << RelKind::DependsOn as u8)
        | (1 << RelKind::RunsOn as u8)
        | (1 << RelKind::HostedOn as u8)
        | (1 << RelKind::PoweredBy as u8);
    k < 8 && (MASK >> k) & 1 != 0
}

/// What impact analysis needs to know about a CI.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeAttrs {
    /// Class "business_service": reported separately in impact results.
    pub business_service: bool,
    /// A redundancy group / cluster: fails only when fewer than `min_up` members are up. A CI that
    /// is the target of member_of edges but has `min_up: None` behaves as min_up = 1. The value is
    /// clamped to the number of members.
    pub min_up: Option<u32>,
    /// Declared core/gateway CI of the network (explicitly, by an operator).
    pub core: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rel_kind_round_trips_through_its_wire_name() {
        for k in RelKind::ALL {
            assert_eq!(RelKind::parse(k.as_str()), Some(k));
            assert_eq!(k.to_string(), k.as_str());
            assert_eq!(RelKind::from_byte(k as u8), Some(k));
        }
        assert_eq!(RelKind::parse("Depends_On"), None);
        assert_eq!(RelKind::parse(""), None);
        assert_eq!(RelKind::from_byte(6), None);
    }

    #[test]
    fn dependency_kinds_are_the_four_that_propagate_failure() {
        let deps: Vec<_> = RelKind::ALL
            .into_iter()
            .filter(|k| k.is_dependency())
            .collect();
        assert_eq!(
            deps,
            [
                RelKind::DependsOn,
                RelKind::RunsOn,
                RelKind::HostedOn,
                RelKind::PoweredBy
            ]
        );
        // A tombstoned byte is never a dependency.
        assert!(!is_dep_byte(RelKind::DependsOn as u8 | crate::index::DEAD));
    }
}
