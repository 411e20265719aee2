//! Credentials (`token`): human API tokens, fleet enrollment tokens and agent tokens.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{StorageError, Store, rid, to_doc};

/// A credential: human API token, fleet enrollment token or agent token.
#[derive(Debug, Clone, Serialize, Deserialize)]
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

    /// All credentials except agents' (there is one per agent; see the agents list).
    pub async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StorageError> {
        self.query_rows(
            "SELECT *, record::id(id) AS key FROM token WHERE role != 'agent' ORDER BY created_at",
            Value::Null,
        )
        .await
    }

    /// Marks a credential revoked; returns its hash if it existed.
    pub async fn revoke_token(&self, key: &str) -> Result<Option<String>, StorageError> {
        let sql = format!(
            "UPDATE {} SET revoked = true RETURN AFTER",
            rid("token", key)?
        );
        let row: Option<Value> = self.query_one(&sql, Value::Null).await?;
        Ok(row
            .as_ref()
            .and_then(|r| r.get("hash"))
            .and_then(Value::as_str)
            .map(str::to_string))
    }
}
