//! Enrolled agents (`agent`), each enrolled together with its credential.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{StorageError, Store, TokenRecord, rid, to_doc};

/// An enrolled agent.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AgentRecord {
    #[serde(default)]
    pub key: String,
    pub hostname: String,
    pub agent_version: String,
    pub enrolled_at: String,
    #[serde(default)]
    pub last_seen: Option<String>,
    /// The host CI this agent reports for, once identified.
    #[serde(default)]
    pub ci: Option<String>,
    /// Reports the agent's spool dropped to stay within its bounds, ever (as the agent last
    /// said): reports the server never got.
    #[serde(default)]
    pub spool_dropped: u64,
}

impl Store {
    /// Stores a newly enrolled agent and its credential, atomically.
    pub async fn insert_agent(&self, a: &AgentRecord, t: &TokenRecord) -> Result<(), StorageError> {
        let sql = format!(
            "BEGIN TRANSACTION; CREATE {} CONTENT $agent_doc; CREATE {} CONTENT $token_doc; COMMIT TRANSACTION;",
            rid("agent", &a.key)?,
            rid("token", &t.key)?
        );
        self.run(
            &sql,
            json!({ "agent_doc": to_doc(a)?, "token_doc": to_doc(t)? }),
        )
        .await?;
        Ok(())
    }

    /// One agent.
    pub async fn agent(&self, key: &str) -> Result<Option<AgentRecord>, StorageError> {
        let sql = format!(
            "SELECT *, record::id(id) AS key FROM {}",
            rid("agent", key)?
        );
        self.query_one(&sql, Value::Null).await
    }

    /// All agents, by host name.
    pub async fn list_agents(&self) -> Result<Vec<AgentRecord>, StorageError> {
        self.query_rows(
            "SELECT *, record::id(id) AS key FROM agent ORDER BY hostname",
            Value::Null,
        )
        .await
    }
}
