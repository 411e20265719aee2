//! Credentials: roles, token generation and hashing.
//!
//! Tokens are 256 random bits, shown once and stored only as SHA-256 hashes. A slow password
//! hash (argon2) buys nothing for secrets of that entropy and would cap report ingestion.
//! The prefix names the kind, so a leaked token is recognisable in logs and scanners.

use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What a credential may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read everything.
    Viewer,
    /// Read and edit CIs (later: relationships, imports).
    Editor,
    /// Everything, including tokens.
    Admin,
    /// Exchange for an agent credential (`POST /api/v1/enroll`), nothing else.
    Enroll,
    /// Push reports for its own host (`POST /api/v1/reports`), nothing else.
    Agent,
}

impl Role {
    /// Whether this role satisfies a route that requires `needed` (a human role).
    pub fn allows(self, needed: Role) -> bool {
        match (self, needed) {
            (Role::Agent, Role::Agent) | (Role::Enroll, Role::Enroll) => true,
            (Role::Agent | Role::Enroll, _) | (_, Role::Agent | Role::Enroll) => false,
            (have, need) => have >= need,
        }
    }

    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
            Role::Enroll => "enroll",
            Role::Agent => "agent",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Role> {
        [
            Role::Viewer,
            Role::Editor,
            Role::Admin,
            Role::Enroll,
            Role::Agent,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// A new random token for `role`: `cmdb_<role>_<64 hex>`.
pub fn new_token(role: Role) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("cmdb_{}_{}", role.as_str(), hex::encode(bytes))
}

/// The stored form of a token.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Cheap shape check before any lookup, so garbage never reaches storage.
pub fn looks_like_token(token: &str) -> bool {
    token.len() <= 128
        && token.starts_with("cmdb_")
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Longest lifetime a token may be given: ten years.
pub const MAX_LIFETIME_SECS: u64 = 10 * 365 * 86_400;

/// When a new token expires, from what its creator asked: a lifetime in seconds or a time
/// (RFC 3339), not both; neither: never. The error names the field.
pub fn expiry(
    now: DateTime<Utc>,
    expires_in_secs: Option<u64>,
    expires_at: Option<&str>,
) -> Result<Option<DateTime<Utc>>, String> {
    match (expires_in_secs, expires_at) {
        (Some(_), Some(_)) => Err("expires_in_secs, expires_at: give one, not both".into()),
        (None, None) => Ok(None),
        (Some(secs), None) => {
            if secs == 0 || secs > MAX_LIFETIME_SECS {
                return Err(format!(
                    "expires_in_secs: must be between 1 and {MAX_LIFETIME_SECS} (ten years), got {secs}"
                ));
            }
            Ok(Some(now + chrono::Duration::seconds(secs as i64)))
        }
        (None, Some(at)) => {
            let t = DateTime::parse_from_rfc3339(at)
                .map_err(|e| format!("expires_at: {at:?} is not an RFC 3339 time ({e})"))?
                .with_timezone(&Utc);
            if t <= now {
                return Err(format!("expires_at: {at} is not in the future"));
            }
            if t > now + chrono::Duration::seconds(MAX_LIFETIME_SECS as i64) {
                return Err(format!("expires_at: {at} is more than ten years away"));
            }
            Ok(Some(t))
        }
    }
}

/// Whether a stored expiry time has passed. An unreadable one counts as passed: a
/// credential whose lifetime cannot be read is not trusted.
pub fn has_expired(expires_at: Option<&str>, now: DateTime<Utc>) -> bool {
    match expires_at {
        None => false,
        Some(s) => DateTime::parse_from_rfc3339(s).map_or(true, |t| t.with_timezone(&Utc) <= now),
    }
}

/// Why a stored credential is refused, if it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Revoked,
    Expired(String),
    /// An enrollment token that reached its maximum number of uses.
    UsedUp(u64),
}

impl Refusal {
    /// The message the caller gets (401).
    pub fn message(&self) -> String {
        match self {
            Refusal::Revoked => "credential has been revoked".into(),
            Refusal::Expired(at) => format!("credential expired at {at}"),
            Refusal::UsedUp(n) => {
                format!("enrollment token is used up: it allowed {n} enrollment(s), all taken")
            }
        }
    }
}

/// Whether a credential may be used now: not revoked, not expired and, for an enrollment
/// token, not used up.
pub fn refusal(
    revoked: bool,
    expires_at: Option<&str>,
    max_uses: Option<u64>,
    uses: u64,
    now: DateTime<Utc>,
) -> Option<Refusal> {
    if revoked {
        return Some(Refusal::Revoked);
    }
    if has_expired(expires_at, now) {
        return Some(Refusal::Expired(expires_at.unwrap_or_default().to_string()));
    }
    match max_uses {
        Some(max) if uses >= max => Some(Refusal::UsedUp(max)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_roles_are_ordered_and_machine_roles_are_separate() {
        assert!(Role::Admin.allows(Role::Viewer));
        assert!(Role::Editor.allows(Role::Editor));
        assert!(!Role::Viewer.allows(Role::Editor));
        assert!(!Role::Agent.allows(Role::Viewer));
        assert!(!Role::Admin.allows(Role::Agent));
        assert!(Role::Enroll.allows(Role::Enroll));
    }

    #[test]
    fn tokens_are_unique_and_hashes_stable() {
        let a = new_token(Role::Admin);
        assert!(a.starts_with("cmdb_admin_"));
        assert!(looks_like_token(&a));
        assert_ne!(a, new_token(Role::Admin));
        assert_eq!(hash_token(&a), hash_token(&a));
        assert!(!looks_like_token("Bearer x y"));
    }

    #[test]
    fn expiry_takes_one_of_lifetime_or_time_and_names_the_field() {
        let now = Utc::now();
        assert_eq!(expiry(now, None, None), Ok(None));
        assert_eq!(
            expiry(now, Some(60), None),
            Ok(Some(now + chrono::Duration::seconds(60)))
        );
        assert!(
            expiry(now, Some(0), None)
                .unwrap_err()
                .starts_with("expires_in_secs:")
        );
        assert!(
            expiry(now, Some(MAX_LIFETIME_SECS + 1), None)
                .unwrap_err()
                .starts_with("expires_in_secs:")
        );
        assert!(expiry(now, Some(1), Some("2999-01-01T00:00:00Z")).is_err());
        assert!(
            expiry(now, None, Some("tomorrow"))
                .unwrap_err()
                .starts_with("expires_at:")
        );
        assert!(
            expiry(now, None, Some("2000-01-01T00:00:00Z"))
                .unwrap_err()
                .contains("not in the future")
        );
        let at = (now + chrono::Duration::hours(1)).to_rfc3339();
        assert!(expiry(now, None, Some(&at)).expect("valid").is_some());
    }

    #[test]
    fn refusals_name_revoked_expired_and_used_up() {
        let now = Utc::now();
        let past = (now - chrono::Duration::seconds(1)).to_rfc3339();
        let future = (now + chrono::Duration::seconds(60)).to_rfc3339();
        assert_eq!(refusal(false, None, None, 0, now), None);
        assert_eq!(refusal(false, Some(&future), Some(2), 1, now), None);
        assert_eq!(refusal(true, None, None, 0, now), Some(Refusal::Revoked));
        assert!(matches!(
            refusal(false, Some(&past), None, 0, now),
            Some(Refusal::Expired(_))
        ));
        assert_eq!(
            refusal(false, None, Some(2), 2, now),
            Some(Refusal::UsedUp(2))
        );
        assert!(has_expired(Some("garbage"), now));
        assert!(Refusal::UsedUp(1).message().contains("used up"));
        assert!(Refusal::Expired(past).message().contains("expired"));
    }
}
