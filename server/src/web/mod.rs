//! The web UI's service: accounts, sign-in and sessions, and the CSRF token of each session.
//! Pages are rendered by `http::ui`; what they show comes from the other services.
//!
//! A session opens with an API token (any human role) or a user account (name and password,
//! hashed with argon2id). Its cookie value is a random secret; storage keeps only its SHA-256
//! and links the session to its user or token, so disabling the user or revoking the token
//! ends the session at once. Every form carries the session's CSRF token.

pub mod charts;
pub mod graph_svg;

use std::sync::Arc;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use chrono::Utc;
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::access::Access;
use crate::bucket::PerMinute;
use crate::config::WebConfig;
use crate::domain::auth::Role;
use crate::error::ServiceError;
use crate::storage::{NewSession, Store, UserRecord, now_str, time_str};

/// Shortest password accepted for a new account.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// A signed-in web user, as the pages see it.
#[derive(Debug, Clone)]
pub struct Session {
    /// Shown in the header: the user name, or the API token's description.
    pub name: String,
    pub role: Role,
    /// The token every form of this session carries.
    pub csrf: String,
    /// How history records name this user.
    pub source: String,
}

impl Session {
    /// Fails unless the session's role allows `needed`.
    pub fn require(&self, needed: Role) -> Result<(), ServiceError> {
        if self.role.allows(needed) {
            Ok(())
        } else {
            Err(ServiceError::Forbidden(format!(
                "this needs the {} role; you are signed in as {}",
                needed.as_str(),
                self.role.as_str()
            )))
        }
    }

    pub fn can_edit(&self) -> bool {
        self.role.allows(Role::Editor)
    }

    pub fn is_admin(&self) -> bool {
        self.role.allows(Role::Admin)
    }
}

/// A user account as listed (no hash).
#[derive(Debug, Clone, Serialize)]
pub struct UserInfo {
    pub id: String,
    pub name: String,
    pub role: String,
    pub disabled: bool,
    pub created_at: String,
}

/// The web service.
#[derive(Debug)]
pub struct Web {
    store: Store,
    access: Arc<Access>,
    config: WebConfig,
    sign_in: PerMinute,
}

/// SHA-256 of a cookie value, hex: the session's record key.
fn session_key(cookie: &str) -> String {
    hex::encode(Sha256::digest(cookie.as_bytes()))
}

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// Constant-time comparison of two CSRF tokens.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Argon2id of a password, PHC string format.
fn hash_password(password: &str) -> Result<String, ServiceError> {
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ServiceError::Invalid(format!("password: cannot hash it: {e}")))
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A hash nobody's password matches, verified when the user does not exist, so a wrong
/// name takes as long as a wrong password.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password(&random_hex(16)).unwrap_or_default())
}

impl Web {
    pub fn new(store: Store, access: Arc<Access>, config: WebConfig) -> Self {
        Self {
            sign_in: PerMinute::new(config.sign_in_per_minute),
            store,
            access,
            config,
        }
    }

    fn permit(&self) -> Result<(), ServiceError> {
        self.sign_in.take().map_err(|wait| ServiceError::RateLimited {
            message: format!(
                "too many sign-in attempts: at most {} per minute (web.sign_in_per_minute); retry in {wait} s",
                self.sign_in.per_minute()
            ),
            retry_after_secs: wait,
        })
    }

    /// Opens a session for an API token of a human role; returns the cookie value.
    pub async fn sign_in_with_token(&self, token: &str) -> Result<String, ServiceError> {
        self.permit()?;
        let principal = self
            .access
            .authenticate(token.trim())
            .await
            .map_err(|_| ServiceError::Unauthenticated("that token is not valid".into()))?;
        if !matches!(principal.role, Role::Viewer | Role::Editor | Role::Admin) {
            return Err(ServiceError::Forbidden(
                "agent and enrollment tokens cannot sign in to the web UI".into(),
            ));
        }
        let name = format!("{} token {}", principal.role.as_str(), principal.token);
        self.open(None, Some(principal.token.clone()), name, principal.role)
            .await
    }

    /// Opens a session for a user account; returns the cookie value. A wrong name and a
    /// wrong password get the same answer, in the same time.
    pub async fn sign_in_with_password(
        &self,
        name: &str,
        password: &str,
    ) -> Result<String, ServiceError> {
        self.permit()?;
        let user = self.store.user_by_name(name.trim()).await?;
        let hash = user
            .as_ref()
            .map_or_else(|| decoy_hash().to_string(), |u| u.password_hash.clone());
        let password = password.to_string();
        let matches = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
            .await
            .unwrap_or(false);
        let refused = || ServiceError::Unauthenticated("wrong user name or password".into());
        let Some(user) = user.filter(|_| matches) else {
            return Err(refused());
        };
        if user.disabled {
            return Err(refused());
        }
        let role = Role::parse(&user.role).ok_or_else(refused)?;
        self.open(Some(user.key.clone()), None, user.name.clone(), role)
            .await
    }

    async fn open(
        &self,
        user: Option<String>,
        token: Option<String>,
        name: String,
        role: Role,
    ) -> Result<String, ServiceError> {
        let cookie = random_hex(32);
        let now = Utc::now();
        let ttl = chrono::Duration::seconds(
            i64::try_from(self.config.session_ttl_secs).unwrap_or(i64::MAX / 2),
        );
        self.store
            .insert_session(&NewSession {
                hash: session_key(&cookie),
                user,
                token,
                name,
                role: role.as_str().into(),
                csrf: random_hex(32),
                created_at: time_str(now),
                expires_at: time_str(now + ttl),
            })
            .await?;
        Ok(cookie)
    }

    /// The session behind a cookie value, if it is alive.
    pub async fn session(&self, cookie: &str) -> Result<Option<Session>, ServiceError> {
        if cookie.len() != 64 || !cookie.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let key = session_key(cookie);
        let Some(row) = self.store.session(&key).await? else {
            return Ok(None);
        };
        let now = now_str();
        let expired = row.expires_at < now
            || row
                .token_expires_at
                .as_deref()
                .is_some_and(|t| t < now.as_str());
        if expired
            || !row.linked
            || row.user_disabled == Some(true)
            || row.token_revoked == Some(true)
        {
            return Ok(None);
        }
        // A user's role is read at each request: a change applies at once.
        let role = row.user_role.as_deref().unwrap_or(&row.role);
        let Some(role) = Role::parse(role) else {
            return Ok(None);
        };
        let source = match &row.token_key {
            Some(token) => format!("user:{token}"),
            None => format!("web_user:{}", row.name),
        };
        Ok(Some(Session {
            name: row.name,
            role,
            csrf: row.csrf,
            source,
        }))
    }

    /// Ends a session.
    pub async fn sign_out(&self, cookie: &str) -> Result<(), ServiceError> {
        if cookie.len() == 64 && cookie.bytes().all(|b| b.is_ascii_hexdigit()) {
            self.store.delete_session(&session_key(cookie)).await?;
        }
        Ok(())
    }

    /// Drops expired sessions (run now and then).
    pub async fn sweep(&self) -> Result<usize, ServiceError> {
        Ok(self.store.delete_expired_sessions(&now_str()).await?)
    }

    /// Creates a user account (admins).
    pub async fn create_user(
        &self,
        name: &str,
        password: &str,
        role: &str,
    ) -> Result<UserInfo, ServiceError> {
        let name = name.trim();
        if name.is_empty()
            || name.chars().count() > 64
            || !name
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
        {
            return Err(ServiceError::Invalid(
                "name: 1 to 64 letters, digits, '.', '_', '-' or '@'".into(),
            ));
        }
        let role = match Role::parse(role) {
            Some(r @ (Role::Viewer | Role::Editor | Role::Admin)) => r,
            _ => {
                return Err(ServiceError::Invalid(format!(
                    "role: expected viewer, editor or admin, got {role:?}"
                )));
            }
        };
        if password.chars().count() < MIN_PASSWORD_CHARS || password.len() > 1024 {
            return Err(ServiceError::Invalid(format!(
                "password: at least {MIN_PASSWORD_CHARS} characters (at most 1024 bytes)"
            )));
        }
        let password = password.to_string();
        let hash = tokio::task::spawn_blocking(move || hash_password(&password))
            .await
            .map_err(|e| ServiceError::Invalid(format!("password: {e}")))??;
        let rec = UserRecord {
            key: uuid::Uuid::new_v4().simple().to_string(),
            name: name.to_string(),
            role: role.as_str().into(),
            password_hash: hash,
            disabled: false,
            created_at: now_str(),
        };
        if !self.store.insert_user(&rec).await? {
            return Err(ServiceError::Conflict(format!(
                "a user named {name:?} exists already"
            )));
        }
        Ok(UserInfo {
            id: rec.key,
            name: rec.name,
            role: rec.role,
            disabled: false,
            created_at: rec.created_at,
        })
    }

    /// Every user account.
    pub async fn users(&self) -> Result<Vec<UserInfo>, ServiceError> {
        Ok(self
            .store
            .users()
            .await?
            .into_iter()
            .map(|u| UserInfo {
                id: u.key,
                name: u.name,
                role: u.role,
                disabled: u.disabled,
                created_at: u.created_at,
            })
            .collect())
    }

    /// Disables (ending its sessions) or enables a user account.
    pub async fn set_disabled(&self, id: &str, disabled: bool) -> Result<(), ServiceError> {
        if !crate::storage::valid_key(id) {
            return Err(ServiceError::Invalid(format!("{id:?} is not a user id")));
        }
        if self.store.set_user_disabled(id, disabled).await? {
            Ok(())
        } else {
            Err(ServiceError::NotFound(format!("no user with id {id}")))
        }
    }
}

#[cfg(test)]
mod tests;
