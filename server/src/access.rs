//! The access service: credentials and who holds them. API tokens (create, list, revoke),
//! agent enrollment (a fleet token exchanged for a per-agent credential), the fleet's agents
//! and their credentials, and authentication of a bearer token through a small in-memory
//! cache.
//!
//! Tokens are random, shown once and stored only as SHA-256 hashes. Any token may expire;
//! an enrollment token may also be limited to a number of uses, counted in storage in the
//! enrollment transaction itself. A revoked token leaves the cache at once, and the ingest
//! service forgets what it cached for the agent behind it.
//!
//! The cache trusts a checked credential for `auth.cache_ttl_secs`: a revocation through
//! this server is seen at once, one through another server on the same database within
//! that time. A lookup that raced a revocation (read the token before the revocation was
//! written, finished after it) does not put the old answer back into the cache: every
//! revocation bumps a generation counter, and a lookup caches its answer only if the
//! generation it started with is still current.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use cmdb_shared::{EnrollRequest, EnrollResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::config::AuthConfig;
use crate::domain::auth::{
    Role, expiry, has_expired, hash_token, looks_like_token, new_token, refusal,
};
use crate::error::{ServiceError, check_id};
use crate::ingest::Ingestor;
use crate::storage::{Revoked, Store, TokenRecord, now_str, time_str};
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

/// A token to create.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// "admin", "editor", "viewer" or "enroll" (fleet enrollment).
    pub role: String,
    /// What it is for.
    #[serde(default)]
    pub description: String,
    /// Lifetime in seconds (1 to ten years); not with `expires_at`. Neither: never expires.
    #[serde(default)]
    pub expires_in_secs: Option<u64>,
    /// Expiry time, RFC 3339; not with `expires_in_secs`.
    #[serde(default)]
    pub expires_at: Option<String>,
    /// Enrollment tokens only: how many agents may enroll with it (at least 1). Absent: any
    /// number.
    #[serde(default)]
    pub max_uses: Option<u64>,
    /// Enrollment tokens only: the credentials of agents enrolled with it expire this many
    /// seconds after enrollment. Absent (the default): agent credentials do not expire,
    /// since an agent cannot enroll again unattended (it would need a new enrollment token).
    #[serde(default)]
    pub agent_expires_in_secs: Option<u64>,
}

/// A checked request's token record and its secret (the record keeps only the hash): the
/// same rules for the API and the command line.
pub fn token_record(req: &NewToken) -> Result<(TokenRecord, String), ServiceError> {
    let role = match Role::parse(&req.role) {
        Some(r @ (Role::Admin | Role::Editor | Role::Viewer | Role::Enroll)) => r,
        _ => {
            return Err(ServiceError::Invalid(format!(
                "role: expected admin, editor, viewer or enroll, got {:?}",
                req.role
            )));
        }
    };
    if req.description.len() > 256 {
        return Err(ServiceError::Invalid(
            "description: at most 256 characters".into(),
        ));
    }
    let expires = expiry(Utc::now(), req.expires_in_secs, req.expires_at.as_deref())
        .map_err(ServiceError::Invalid)?;
    if role != Role::Enroll {
        for (field, given) in [
            ("max_uses", req.max_uses.is_some()),
            ("agent_expires_in_secs", req.agent_expires_in_secs.is_some()),
        ] {
            if given {
                return Err(ServiceError::Invalid(format!(
                    "{field}: applies to enrollment tokens (role \"enroll\") only"
                )));
            }
        }
    }
    if req.max_uses == Some(0) {
        return Err(ServiceError::Invalid(
            "max_uses: must be at least 1 (leave it out for no limit)".into(),
        ));
    }
    if let Some(s) = req.agent_expires_in_secs
        && (s == 0 || s > crate::domain::auth::MAX_LIFETIME_SECS)
    {
        return Err(ServiceError::Invalid(format!(
            "agent_expires_in_secs: must be between 1 and {} (ten years), got {s}",
            crate::domain::auth::MAX_LIFETIME_SECS
        )));
    }
    let (mut rec, token) = make_token(role, &req.description);
    rec.expires_at = expires.map(time_str);
    rec.max_uses = req.max_uses;
    rec.agent_ttl_secs = req.agent_expires_in_secs;
    Ok((rec, token))
}

/// A created token; the secret is shown only here.
#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    pub id: String,
    pub role: String,
    pub token: String,
    pub expires_at: Option<String>,
    pub max_uses: Option<u64>,
}

impl std::fmt::Debug for CreatedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedToken")
            .field("id", &self.id)
            .field("role", &self.role)
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .field("max_uses", &self.max_uses)
            .finish()
    }
}

/// A token as listed (no secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenInfo {
    pub id: String,
    pub role: String,
    pub description: String,
    pub created_at: String,
    pub revoked: bool,
    /// When it stops being accepted; `null`: never.
    pub expires_at: Option<String>,
    /// Whether `expires_at` has passed.
    pub expired: bool,
    /// Enrollment tokens: how many enrollments it allows (`null`: any number) and how many
    /// it has had.
    pub max_uses: Option<u64>,
    pub uses: u64,
    /// Enrollment tokens: lifetime of the agent credentials issued with it.
    pub agent_expires_in_secs: Option<u64>,
}

/// An agent's credential, as listed with the agent (no secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentCredential {
    /// The token id (`DELETE /api/v1/tokens/{id}` revokes it too).
    pub token_id: String,
    pub created_at: String,
    pub revoked: bool,
    /// `null`: never expires.
    pub expires_at: Option<String>,
    pub expired: bool,
    /// Its last use, as far as known cheaply: the agent's last contact (host reports and
    /// heartbeats), which the agent list already tracks.
    pub last_used: Option<String>,
}

/// An enrolled agent with its credential.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentInfo {
    #[serde(flatten)]
    pub agent: AgentRecord,
    /// `null` only for an agent whose credential record is gone.
    pub credential: Option<AgentCredential>,
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
            expires_at: None,
            max_uses: None,
            uses: 0,
            agent_ttl_secs: None,
        },
        token,
    )
}

fn invalid_credential() -> ServiceError {
    ServiceError::Unauthenticated("invalid credential".into())
}

/// A credential as the cache holds it.
#[derive(Debug, Clone)]
struct Cached {
    principal: Principal,
    checked: Instant,
    expires_at: Option<String>,
}

#[derive(Debug, Default)]
struct AuthCache {
    entries: HashMap<String, Cached>,
    /// Bumped by every revocation (see the module documentation).
    generation: u64,
}

/// The access service.
#[derive(Debug)]
pub struct Access {
    store: Store,
    ingest: Arc<Ingestor>,
    telemetry: Arc<Telemetry>,
    cache: Mutex<AuthCache>,
    ttl: Duration,
    /// The `/enroll` rate limit.
    enroll: crate::bucket::PerMinute,
}

impl Access {
    pub fn new(
        store: Store,
        ingest: Arc<Ingestor>,
        telemetry: Arc<Telemetry>,
        config: &AuthConfig,
    ) -> Self {
        Self {
            store,
            ingest,
            telemetry,
            cache: Mutex::default(),
            ttl: Duration::from_secs(config.cache_ttl_secs),
            enroll: crate::bucket::PerMinute::new(config.enroll_per_minute),
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, AuthCache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The principal behind a bearer token, or why there is none.
    pub async fn authenticate(&self, token: &str) -> Result<Principal, ServiceError> {
        if !looks_like_token(token) {
            return Err(invalid_credential());
        }
        let hash = hash_token(token);
        let generation = match self.cached(&hash, Utc::now()) {
            Ok(p) => return Ok(p),
            Err(generation) => generation,
        };
        let (p, expires_at) = self.look_up(&hash).await?;
        self.remember(hash, &p, expires_at, generation);
        Ok(p)
    }

    /// The cached principal for a token hash while its entry is fresh (younger than the TTL,
    /// not expired); otherwise the cache generation a lookup starts from.
    pub(crate) fn cached(&self, hash: &str, now: DateTime<Utc>) -> Result<Principal, u64> {
        let mut c = self.cache();
        if let Some(e) = c.entries.get(hash) {
            if e.checked.elapsed() < self.ttl && !has_expired(e.expires_at.as_deref(), now) {
                return Ok(e.principal.clone());
            }
            c.entries.remove(hash);
        }
        Err(c.generation)
    }

    /// The principal behind a token hash from storage, with its expiry, or why it is refused.
    pub(crate) async fn look_up(
        &self,
        hash: &str,
    ) -> Result<(Principal, Option<String>), ServiceError> {
        let rec = self
            .store
            .token_by_hash(hash)
            .await?
            .ok_or_else(invalid_credential)?;
        if let Some(why) = refusal(
            rec.revoked,
            rec.expires_at.as_deref(),
            rec.max_uses,
            rec.uses,
            Utc::now(),
        ) {
            return Err(ServiceError::Unauthenticated(why.message()));
        }
        let role = Role::parse(&rec.role).ok_or_else(invalid_credential)?;
        Ok((
            Principal {
                token: rec.key,
                role,
                agent: rec.agent,
            },
            rec.expires_at,
        ))
    }

    /// Caches a looked-up principal, unless a revocation happened since the lookup began
    /// (`generation` from [`Self::cached`]): its answer may predate the revocation and would
    /// bring the token back. Enrollment tokens are never cached: their use count changes with
    /// every enrollment, and enrollments are rare. Whether it was cached.
    pub(crate) fn remember(
        &self,
        hash: String,
        p: &Principal,
        expires_at: Option<String>,
        generation: u64,
    ) -> bool {
        if p.role == Role::Enroll {
            return false;
        }
        let mut c = self.cache();
        if c.generation != generation {
            return false;
        }
        if c.entries.len() >= AUTH_CACHE_MAX {
            c.entries.clear();
        }
        c.entries.insert(
            hash,
            Cached {
                principal: p.clone(),
                checked: Instant::now(),
                expires_at,
            },
        );
        true
    }

    /// Takes one request from the `/enroll` rate limit, or says when to come back.
    pub fn enroll_permit(&self) -> Result<(), ServiceError> {
        let wait = match self.enroll.take() {
            Ok(()) => return Ok(()),
            Err(wait) => wait,
        };
        Err(ServiceError::RateLimited {
            message: format!(
                "too many enrollment requests: at most {} per minute (auth.enroll_per_minute); retry in {wait} s",
                self.enroll.per_minute()
            ),
            retry_after_secs: wait,
        })
    }

    /// Exchanges a fleet enrollment token (the principal's) for a per-agent credential,
    /// taking one of its uses.
    pub async fn enroll(
        &self,
        principal: &Principal,
        req: EnrollRequest,
    ) -> Result<EnrollResponse, ServiceError> {
        principal.require(Role::Enroll)?;
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
        let gone = || ServiceError::Unauthenticated("enrollment token no longer exists".into());
        let fleet = self.store.token(&principal.token).await?.ok_or_else(gone)?;
        let now = Utc::now();
        let agent_key = uuid::Uuid::new_v4().simple().to_string();
        let token = new_token(Role::Agent);
        let agent = AgentRecord {
            key: agent_key.clone(),
            hostname: req.hostname,
            agent_version: req.agent_version,
            enrolled_at: time_str(now),
            last_seen: None,
            ci: None,
            spool_dropped: 0,
        };
        let cred = TokenRecord {
            key: uuid::Uuid::new_v4().simple().to_string(),
            hash: hash_token(&token),
            role: Role::Agent.as_str().into(),
            description: format!("agent {}", agent.hostname),
            created_at: time_str(now),
            revoked: false,
            agent: Some(agent_key.clone()),
            expires_at: fleet
                .agent_ttl_secs
                .map(|s| time_str(now + chrono::Duration::seconds(s as i64))),
            max_uses: None,
            uses: 0,
            agent_ttl_secs: None,
        };
        if !self
            .store
            .enroll_agent(&fleet.key, &time_str(now), &agent, &cred)
            .await?
        {
            // Refused in the transaction: say why from the token as it is now.
            let fleet = self.store.token(&principal.token).await?.ok_or_else(gone)?;
            let why = refusal(
                fleet.revoked,
                fleet.expires_at.as_deref(),
                fleet.max_uses,
                fleet.uses,
                Utc::now(),
            )
            .map_or_else(
                || "enrollment token is no longer usable".to_string(),
                |r| r.message(),
            );
            return Err(ServiceError::Unauthenticated(why));
        }
        self.telemetry.enrollments.inc();
        tracing::info!(agent = %agent_key, hostname = %agent.hostname, "agent enrolled");
        Ok(EnrollResponse {
            agent_id: agent_key,
            token,
        })
    }

    /// Every enrolled agent with its version, last contact, host CI and credential.
    pub async fn agents(&self) -> Result<Vec<AgentInfo>, ServiceError> {
        let mut creds: HashMap<String, TokenRecord> = HashMap::new();
        for t in self.store.list_agent_tokens().await? {
            if let Some(a) = t.agent.clone() {
                // Oldest first: the newest credential of an agent wins.
                creds.insert(a, t);
            }
        }
        let now = Utc::now();
        let mut agents = self.store.list_agents().await?;
        for a in &mut agents {
            // Heartbeats are coalesced in memory between flushes; show the freshest.
            if let Some(t) = self.ingest.pending_last_seen(&a.key) {
                a.last_seen = Some(t);
            }
        }
        Ok(agents
            .into_iter()
            .map(|agent| {
                let credential = creds.remove(&agent.key).map(|t| AgentCredential {
                    expired: has_expired(t.expires_at.as_deref(), now),
                    token_id: t.key,
                    created_at: t.created_at,
                    revoked: t.revoked,
                    expires_at: t.expires_at,
                    last_used: agent.last_seen.clone(),
                });
                AgentInfo { agent, credential }
            })
            .collect())
    }

    /// How many agents there are, and those that have not reported for `stale_after_secs`
    /// (or never), the longest silent first.
    pub async fn silent_agents(
        &self,
        stale_after_secs: u64,
    ) -> Result<(usize, Vec<AgentInfo>), ServiceError> {
        let cutoff = time_str(
            Utc::now()
                - chrono::Duration::seconds(
                    i64::try_from(stale_after_secs.min(100 * 365 * 86_400)).unwrap_or(0),
                ),
        );
        let all = self.agents().await?;
        let count = all.len();
        let mut silent: Vec<AgentInfo> = all
            .into_iter()
            .filter(|a| {
                a.agent
                    .last_seen
                    .as_deref()
                    .is_none_or(|t| t < cutoff.as_str())
            })
            .collect();
        silent.sort_by(|a, b| a.agent.last_seen.cmp(&b.agent.last_seen));
        Ok((count, silent))
    }

    /// Creates an API token (not an agent's: agents enroll).
    pub async fn create_token(&self, req: &NewToken) -> Result<CreatedToken, ServiceError> {
        let (rec, token) = token_record(req)?;
        self.store.insert_token(&rec).await?;
        Ok(CreatedToken {
            id: rec.key,
            role: rec.role,
            token,
            expires_at: rec.expires_at,
            max_uses: rec.max_uses,
        })
    }

    /// Every token (agents' credentials are listed as agents).
    pub async fn tokens(&self) -> Result<Vec<TokenInfo>, ServiceError> {
        let now = Utc::now();
        Ok(self
            .store
            .list_tokens()
            .await?
            .into_iter()
            .map(|t| TokenInfo {
                expired: has_expired(t.expires_at.as_deref(), now),
                id: t.key,
                role: t.role,
                description: t.description,
                created_at: t.created_at,
                revoked: t.revoked,
                expires_at: t.expires_at,
                max_uses: t.max_uses,
                uses: t.uses,
                agent_expires_in_secs: t.agent_ttl_secs,
            })
            .collect())
    }

    /// Revokes a token; it is refused from the next request on. The last usable admin
    /// token cannot be revoked: nobody could manage tokens any more.
    pub async fn revoke(&self, id: &str) -> Result<(), ServiceError> {
        check_id("id", id, "token")?;
        match self.store.revoke_token(id, &now_str()).await? {
            Revoked::Done { hash, agent } => {
                self.forget(&[hash], agent.as_deref());
                Ok(())
            }
            Revoked::Missing => Err(ServiceError::NotFound(format!("no token with id {id}"))),
            Revoked::LastAdmin => Err(ServiceError::Conflict(format!(
                "token {id} is the last admin token that is neither revoked nor expired; create another admin token first"
            ))),
        }
    }

    /// Revokes an agent's credential: its next report gets 401. The agent stays listed,
    /// with its credential shown revoked; it can enroll again with an enrollment token.
    pub async fn revoke_agent(&self, id: &str) -> Result<(), ServiceError> {
        check_id("id", id, "agent")?;
        if self.store.agent(id).await?.is_none() {
            return Err(ServiceError::NotFound(format!("no agent with id {id}")));
        }
        let hashes = self.store.revoke_agent_tokens(id).await?;
        self.forget(&hashes, Some(id));
        tracing::info!(agent = %id, credentials = hashes.len(), "agent credential revoked");
        Ok(())
    }

    /// Another instance changed credentials: the whole cache goes (revocations are rare),
    /// and lookups in flight do not put their answers back.
    pub fn forget_all(&self) {
        let mut c = self.cache();
        c.generation += 1;
        c.entries.clear();
    }

    /// Drops revoked credentials from the cache (and keeps lookups in flight from putting
    /// them back), and what the ingest service holds for their agent.
    fn forget(&self, hashes: &[String], agent: Option<&str>) {
        let mut agents: Vec<String> = agent.map(str::to_string).into_iter().collect();
        {
            let mut c = self.cache();
            c.generation += 1;
            for h in hashes {
                if let Some(p) = c.entries.remove(h).and_then(|e| e.principal.agent) {
                    agents.push(p);
                }
            }
        }
        agents.sort();
        agents.dedup();
        for a in &agents {
            self.ingest.forget(a);
        }
    }
}
