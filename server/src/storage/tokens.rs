//! Credentials (`token`): human API tokens, fleet enrollment tokens and agent tokens.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{StorageError, Store, rid, to_doc};

/// A credential: human API token, fleet enrollment token or agent token.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TokenRecord {
    #[serde(default)]
    pub key: String,
    /// SHA-256 of the token.
    pub hash: String,
    pub role: String,
    pub description: String,
    pub created_at: String,
    #[serde(default)]
    pub revoked: bool,
    /// For agent tokens: the agent key.
    #[serde(default)]
    pub agent: Option<String>,
    /// When it stops being accepted (a stored time); `None`: never.
    #[serde(default)]
    pub expires_at: Option<String>,
    /// Enrollment tokens: how many agents may enroll with it; `None`: any number.
    #[serde(default)]
    pub max_uses: Option<u64>,
    /// Enrollment tokens: how many agents have enrolled with it.
    #[serde(default)]
    pub uses: u64,
    /// Enrollment tokens: credentials issued with it expire this many seconds after
    /// enrollment; `None`: they do not expire.
    #[serde(default)]
    pub agent_ttl_secs: Option<u64>,
}

/// What a revocation did.
#[derive(Debug, PartialEq, Eq)]
pub enum Revoked {
    /// Revoked now (or already); its hash, to drop it from caches, and its agent if it is
    /// an agent's.
    Done { hash: String, agent: Option<String> },
    /// No such credential.
    Missing,
    /// It is the last admin token that is neither revoked nor expired.
    LastAdmin,
}

/// The marker a refused transaction throws (rolled back; nothing written).
const REFUSED: &str = "cmdb-refused";

fn thrown(e: &StorageError) -> bool {
    matches!(e, StorageError::Db(db) if db.to_string().contains(REFUSED))
}

impl Store {
    /// Stores a new credential.
    pub async fn insert_token(&self, t: &TokenRecord) -> Result<(), StorageError> {
        let sql = format!("CREATE {} CONTENT $doc", rid("token", &t.key)?);
        self.run(&sql, json!({ "doc": to_doc(t)? })).await?;
        Ok(())
    }

    /// The credential with this hash, revoked or not.
    pub async fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>, StorageError> {
        self.query_one(
            "SELECT *, record::id(id) AS key FROM token WHERE hash = $hash LIMIT 1",
            json!({ "hash": hash }),
        )
        .await
    }

    /// One credential.
    pub async fn token(&self, key: &str) -> Result<Option<TokenRecord>, StorageError> {
        let sql = format!(
            "SELECT *, record::id(id) AS key FROM {}",
            rid("token", key)?
        );
        self.query_one(&sql, Value::Null).await
    }

    /// All credentials except agents' (there is one per agent; see the agents list).
    pub async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StorageError> {
        self.query_rows(
            "SELECT *, record::id(id) AS key FROM token WHERE role != 'agent' ORDER BY created_at",
            Value::Null,
        )
        .await
    }

    /// The agents' credentials.
    pub async fn list_agent_tokens(&self) -> Result<Vec<TokenRecord>, StorageError> {
        self.query_rows(
            "SELECT *, record::id(id) AS key FROM token WHERE role = 'agent' ORDER BY created_at",
            Value::Null,
        )
        .await
    }

    /// Marks a credential revoked, in one transaction with the check that an admin token is
    /// not the last usable one (`now` decides which admin tokens have expired).
    pub async fn revoke_token(&self, key: &str, now: &str) -> Result<Revoked, StorageError> {
        let id = rid("token", key)?;
        let sql = format!(
            "BEGIN TRANSACTION;
             LET $t = (SELECT role, revoked FROM ONLY {id});
             IF $t != NONE AND $t.role = 'admin' AND !$t.revoked AND count(
                 SELECT id FROM token WHERE role = 'admin' AND revoked = false
                     AND (expires_at ?? '9999') > $now AND id != {id}) = 0
                 {{ THROW '{REFUSED}: last admin token' }};
             UPDATE {id} SET revoked = true RETURN hash, agent;
             COMMIT TRANSACTION;"
        );
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.run(&sql, json!({ "now": now })).await {
                Ok(mut res) => {
                    // The UPDATE's rows: the last statement that returned any (BEGIN and
                    // COMMIT may count as statements).
                    let mut row = None;
                    for i in (0..res.num_statements()).rev() {
                        let rows: Vec<Value> = res.take(i).unwrap_or_default();
                        if let Some(r) = rows.into_iter().find(|r| r.get("hash").is_some()) {
                            row = Some(r);
                            break;
                        }
                    }
                    let Some(row) = row else {
                        return Ok(Revoked::Missing);
                    };
                    let field = |k: &str| row.get(k).and_then(Value::as_str).map(str::to_string);
                    return Ok(match field("hash") {
                        Some(hash) => Revoked::Done {
                            hash,
                            agent: field("agent"),
                        },
                        None => Revoked::Missing,
                    });
                }
                Err(e) if thrown(&e) => return Ok(Revoked::LastAdmin),
                Err(StorageError::Db(e)) if attempt < 6 && super::is_conflict(&e) => {
                    tokio::time::sleep(std::time::Duration::from_millis(rand::random_range(
                        1..=5u64 << attempt,
                    )))
                    .await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Revokes every credential of an agent; the hashes of those it had (none: no such
    /// agent credential).
    pub async fn revoke_agent_tokens(&self, agent: &str) -> Result<Vec<String>, StorageError> {
        let rows: Vec<Value> = self
            .query_rows(
                "UPDATE token SET revoked = true WHERE role = 'agent' AND agent = $agent RETURN hash",
                json!({ "agent": agent }),
            )
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| r.get("hash").and_then(Value::as_str).map(str::to_string))
            .collect())
    }

    /// Takes one use of an enrollment token and stores the agent and its credential, in one
    /// transaction: the use is counted only if the token is, at that moment, unrevoked,
    /// unexpired (`now`) and not used up, so concurrent enrollments cannot exceed its
    /// `max_uses`. `false`: the token was not usable; nothing was written.
    pub async fn enroll_agent(
        &self,
        enroll_token: &str,
        now: &str,
        a: &super::AgentRecord,
        t: &TokenRecord,
    ) -> Result<bool, StorageError> {
        let sql = format!(
            "BEGIN TRANSACTION;
             LET $taken = (UPDATE {e} SET uses = (uses ?? 0) + 1
                 WHERE role = 'enroll' AND revoked = false AND (expires_at ?? '9999') > $now
                     AND (uses ?? 0) < (max_uses ?? 9223372036854775807)
                 RETURN uses);
             IF array::len($taken) = 0 {{ THROW '{REFUSED}: enrollment token not usable' }};
             CREATE {agent} CONTENT $agent_doc;
             CREATE {token} CONTENT $token_doc;
             COMMIT TRANSACTION;",
            e = rid("token", enroll_token)?,
            agent = rid("agent", &a.key)?,
            token = rid("token", &t.key)?,
        );
        let vars = json!({ "now": now, "agent_doc": to_doc(a)?, "token_doc": to_doc(t)? });
        match self.run_write(&sql, vars).await {
            Ok(()) => Ok(true),
            Err(e) if thrown(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }
}
