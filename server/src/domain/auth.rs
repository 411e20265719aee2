//! Credentials: roles, token generation and hashing.
//!
//! Tokens are 256 random bits, shown once and stored only as SHA-256 hashes. A slow password
//! hash (argon2) buys nothing for secrets of that entropy and would cap report ingestion.
//! The prefix names the kind, so a leaked token is recognisable in logs and scanners.

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
}
