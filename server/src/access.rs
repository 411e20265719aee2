//! The access service: credentials and who holds them. API tokens (create, list, revoke),
//! agent enrollment (a fleet token exchanged for a per-agent credential), the fleet's agents,
//! and authentication of a bearer token through a small in-memory cache.
//!
//! Tokens are random, shown once and stored only as SHA-256 hashes. A revoked token leaves
//! the cache at once, and the ingest service forgets what it cached for the agent behind it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cmdb_shared::{EnrollRequest, EnrollResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::auth::{Role, hash_token, looks_like_token, new_token};
use crate::error::{ServiceError, check_id};
use crate::ingest::Ingestor;
use crate::storage::{Store, TokenRecord, now_str};
use crate::telemetry::Telemetry;

pub use crate::storage::AgentRecord;

/// Most credentials kept in the in-memory auth cache before it is cleared.
const AUTH_CACHE_MAX: usize = 200_000;

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    /// Key of the token record.
    pub token: String,
    pub role: Role,
    /// For agent credentials: the agent key.
    pub agent: Option<String>,
}

impl Principal {
    /// Fails unless this principal's role allows `needed`.
    pub fn require(&self, needed: Role) -> Result<(), ServiceError> {
        if self.role.allows(needed) {
            Ok(())
        } else {
            Err(ServiceError::Forbidden(format!(
                "this operation needs the {} role; the credential has {}",
                needed.as_str(),
                self.role.as_str()
            )))
        }
    }

    /// How history records name this caller.
    pub fn source(&self) -> String {
        format!("user:{}", self.token)
    }
}

/// A created token; the secret is shown only here.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    pub id: String,
    pub role: String,
    pub token: String,
}

/// A token as listed (no secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenInfo {
    pub id: String,
    pub role: String,
    pub description: String,
    pub created_at: String,
    pub revoked: bool,
}

/// Creates a credential record and its secret; shared by the API, `init` and `token create`.
pub fn make_token(role: Role, description: &str) -> (TokenRecord, String) {
    let token = new_token(role);
    (
        TokenRecord {
            key: uuid::Uuid::new_v4().simple().to_string(),
            hash: hash_token(&token),
            role: role.as_str().into(),
            description: description.into(),
            created_at: now_str(),
            revoked: false,
            agent: None,
        },
        token,
    )
}

/// The access service.
#[derive(Debug)]
pub struct Access {
    store: Store,
    ingest: Arc<Ingestor>,
    telemetry: Arc<Telemetry>,
    cache: Mutex<HashMap<String, Principal>>,
}

impl Access {
    pub fn new(store: Store, ingest: Arc<Ingestor>, telemetry: Arc<Telemetry>) -> Self {
        Self {
            store,
            ingest,
            telemetry,
            cache: Mutex::default(),
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, Principal>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The principal behind a bearer token, or why there is none.
    pub async fn authenticate(&self, token: &str) -> Result<Principal, ServiceError> {
        let invalid = || ServiceError::Unauthenticated("invalid credential".into());
        if !looks_like_token(token) {
            return Err(invalid());
        }
        let hash = hash_token(token);
        if let Some(p) = self.cache().get(&hash).cloned() {
            return Ok(p);
        }
        let rec = self
            .store
            .token_by_hash(&hash)
            .await?
            .filter(|t| !t.revoked)
            .ok_or_else(invalid)?;
        let role = Role::parse(&rec.role).ok_or_else(invalid)?;
        let p = Principal {
            token: rec.key,
            role,
            agent: rec.agent,
        };
        let mut c = self.cache();
        if c.len() >= AUTH_CACHE_MAX {
            c.clear();
        }
        c.insert(hash, p.clone());
        Ok(p)
    }

    /// Exchanges a fleet enrollment token for a per-agent credential.
    pub async fn enroll(&self, req: EnrollRequest) -> Result<EnrollResponse, ServiceError> {
        if req.hostname.is_empty() || req.hostname.len() > 253 {
            return Err(ServiceError::Invalid(
                "hostname: must be 1-253 characters".into(),
            ));
        }
        if req.agent_version.is_empty() || req.agent_version.len() > 64 {
            return Err(ServiceError::Invalid(
                "agent_version: must be 1-64 characters".into(),
            ));
        }
        let agent_key = uuid::Uuid::new_v4().simple().to_string();
        let token = new_token(Role::Agent);
        let now = now_str();
        let agent = AgentRecord {
            key: agent_key.clone(),
            hostname: req.hostname,
            agent_version: req.agent_version,
            enrolled_at: now.clone(),
            last_seen: None,
            ci: None,
        };
        let cred = TokenRecord {
            key: uuid::Uuid::new_v4().simple().to_string(),
            hash: hash_token(&token),
            role: Role::Agent.as_str().into(),
            description: format!("agent {}", agent.hostname),
            created_at: now,
            revoked: false,
            agent: Some(agent_key.clone()),
        };
        self.store.insert_agent(&agent, &cred).await?;
        self.telemetry.enrollments.inc();
        tracing::info!(agent = %agent_key, hostname = %agent.hostname, "agent enrolled");
        Ok(EnrollResponse {
            agent_id: agent_key,
            token,
        })
    }

    /// Every enrolled agent with its version, last contact and host CI.
    pub async fn agents(&self) -> Result<Vec<AgentRecord>, ServiceError> {
        let mut agents = self.store.list_agents().await?;
        for a in &mut agents {
            // Heartbeats are coalesced in memory between flushes; show the freshest.
            if let Some(t) = self.ingest.pending_last_seen(&a.key) {
                a.last_seen = Some(t);
            }
        }
        Ok(agents)
    }

    /// Creates an API token (not an agent's: agents enroll).
    pub async fn create_token(
        &self,
        role: &str,
        description: &str,
    ) -> Result<CreatedToken, ServiceError> {
        let role = match Role::parse(role) {
            Some(r @ (Role::Admin | Role::Editor | Role::Viewer | Role::Enroll)) => r,
            _ => {
                return Err(ServiceError::Invalid(format!(
                    "role: expected admin, editor, viewer or enroll, got {role:?}"
                )));
            }
        };
        if description.len() > 256 {
            return Err(ServiceError::Invalid(
                "description: at most 256 characters".into(),
            ));
        }
        let (rec, token) = make_token(role, description);
        self.store.insert_token(&rec).await?;
        Ok(CreatedToken {
            id: rec.key,
            role: rec.role,
            token,
        })
    }

    /// Every token (agents' credentials are listed as agents).
    pub async fn tokens(&self) -> Result<Vec<TokenInfo>, ServiceError> {
        Ok(self
            .store
            .list_tokens()
            .await?
            .into_iter()
            .map(|t| TokenInfo {
                id: t.key,
                role: t.role,
                description: t.description,
                created_at: t.created_at,
                revoked: t.revoked,
            })
            .collect())
    }

    /// Revokes a token; it is refused from the next request on.
    pub async fn revoke(&self, id: &str) -> Result<(), ServiceError> {
        check_id("id", id, "token")?;
        let hash = self
            .store
            .revoke_token(id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("no token with id {id}")))?;
        let removed = self.cache().remove(&hash);
        if let Some(agent) = removed.and_then(|p| p.agent) {
            self.ingest.forget(&agent);
        }
        Ok(())
    }
}
