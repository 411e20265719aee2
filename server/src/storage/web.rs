//! Web UI accounts (`web_user`) and sessions (`web_session`). A session is keyed by the SHA-256 of
//! its cookie and links to the user or to the API token it was opened with; reading it
//! follows the link in the same query, so a disabled user or a revoked or expired token ends
//! its sessions at once, on every server sharing the database.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{StorageError, Store, rid};

/// A web UI account.
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct UserRecord {
    #[serde(default)]
    pub key: String,
    pub name: String,
    pub role: String,
    /// Argon2id, PHC string format.
    pub password_hash: String,
    #[serde(default)]
    pub disabled: bool,
    pub created_at: String,
}

impl std::fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRecord")
            .field("key", &self.key)
            .field("name", &self.name)
            .field("role", &self.role)
            .field("password_hash", &"<redacted>")
            .field("disabled", &self.disabled)
            .finish()
    }
}

/// A new session: who opened it and how.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// SHA-256 of the cookie value.
    pub hash: String,
    /// The user key, for a password sign-in.
    pub user: Option<String>,
    /// The API token key, for a token sign-in.
    pub token: Option<String>,
    /// Shown in the page header.
    pub name: String,
    pub role: String,
    /// The CSRF token every form of this session carries.
    pub csrf: String,
    pub created_at: String,
    pub expires_at: String,
}

/// A session as read back, with the state of what it links to.
#[derive(Debug, Clone, Deserialize)]
pub struct SessionRow {
    pub name: String,
    pub role: String,
    pub csrf: String,
    pub expires_at: String,
    /// The user's current role (it may have changed since the sign-in).
    #[serde(default)]
    pub user_role: Option<String>,
    #[serde(default)]
    pub user_disabled: Option<bool>,
    #[serde(default)]
    pub token_revoked: Option<bool>,
    #[serde(default)]
    pub token_expires_at: Option<String>,
    /// The API token's key, for a token sign-in.
    #[serde(default)]
    pub token_key: Option<String>,
    /// Whether the linked user or token still exists.
    pub linked: bool,
}

impl Store {
    /// Creates a user; `Ok(false)` when the name is taken.
    pub async fn insert_user(&self, u: &UserRecord) -> Result<bool, StorageError> {
        let sql = format!(
            "BEGIN TRANSACTION;
             IF count(SELECT id FROM web_user WHERE name = $name) > 0 {{ THROW 'cmdb-refused: name taken' }};
             CREATE {} CONTENT {{ name: $name, role: $role, password_hash: $hash, disabled: false, created_at: $at }};
             COMMIT TRANSACTION;",
            rid("web_user", &u.key)?
        );
        let res = self
            .run(
                &sql,
                json!({"name": u.name, "role": u.role, "hash": u.password_hash, "at": u.created_at}),
            )
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(StorageError::Db(e)) if e.to_string().contains("cmdb-refused") => Ok(false),
            // The unique index, if two servers raced past the check.
            Err(StorageError::Db(e)) if e.to_string().contains("already contains") => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Every user, by name.
    pub async fn users(&self) -> Result<Vec<UserRecord>, StorageError> {
        self.query_rows(
            "SELECT *, record::id(id) AS key FROM web_user ORDER BY name",
            serde_json::Value::Null,
        )
        .await
    }

    /// The user with this name.
    pub async fn user_by_name(&self, name: &str) -> Result<Option<UserRecord>, StorageError> {
        self.query_one(
            "SELECT *, record::id(id) AS key FROM web_user WHERE name = $name LIMIT 1",
            json!({ "name": name }),
        )
        .await
    }

    /// Enables or disables a user; a disabled user's sessions end. `Ok(false)`: no such user.
    pub async fn set_user_disabled(&self, key: &str, disabled: bool) -> Result<bool, StorageError> {
        let id = rid("web_user", key)?;
        let sql = format!(
            "BEGIN TRANSACTION;
             LET $u = (UPDATE {id} SET disabled = $disabled RETURN id);
             DELETE web_session WHERE user = {id} AND $disabled;
             COMMIT TRANSACTION;
             RETURN $u;"
        );
        let mut res = self.run(&sql, json!({ "disabled": disabled })).await?;
        let last = res.num_statements() - 1;
        let rows: Vec<serde_json::Value> = res.take(last)?;
        Ok(!rows.is_empty())
    }

    /// Stores a session.
    pub async fn insert_session(&self, s: &NewSession) -> Result<(), StorageError> {
        let sql = format!(
            "CREATE {} SET user = IF $user_key THEN type::record('web_user', $user_key) ELSE NONE END,
                 token = IF $token_key THEN type::record('token', $token_key) ELSE NONE END,
                 name = $name, role = $role, csrf = $csrf, created_at = $created, expires_at = $expires",
            rid("web_session", &s.hash)?
        );
        self.run(
            &sql,
            json!({
                "user_key": s.user, "token_key": s.token, "name": s.name, "role": s.role, "csrf": s.csrf,
                "created": s.created_at, "expires": s.expires_at,
            }),
        )
        .await?;
        Ok(())
    }

    /// The session with this cookie hash, following its links.
    pub async fn session(&self, hash: &str) -> Result<Option<SessionRow>, StorageError> {
        let sql = format!(
            "SELECT name, role, csrf, expires_at,
                    user.role AS user_role, user.disabled AS user_disabled,
                    token.revoked AS token_revoked, token.expires_at AS token_expires_at,
                    IF token THEN record::id(token) ELSE NONE END AS token_key,
                    (user.id ?? token.id) != NONE AS linked
             FROM {}",
            rid("web_session", hash)?
        );
        self.query_one(&sql, serde_json::Value::Null).await
    }

    /// Ends a session.
    pub async fn delete_session(&self, hash: &str) -> Result<(), StorageError> {
        self.run(
            &format!("DELETE {}", rid("web_session", hash)?),
            serde_json::Value::Null,
        )
        .await?;
        Ok(())
    }

    /// Drops sessions past their expiry; how many.
    pub async fn delete_expired_sessions(&self, now: &str) -> Result<usize, StorageError> {
        let rows: Vec<serde_json::Value> = self
            .query_rows(
                "DELETE web_session WHERE expires_at < $now RETURN BEFORE",
                json!({ "now": now }),
            )
            .await?;
        Ok(rows.len())
    }
}
