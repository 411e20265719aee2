//! Software: the distinct packages (`package`) shared by every host that has them, and each
//! host's package keys (`ci_software`).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{StorageError, Store, rid, to_doc};

/// A distinct package (manager, name, version, architecture), shared by every host that has it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PackageRecord {
    #[serde(default)]
    pub key: String,
    pub manager: String,
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub architecture: Option<String>,
}

/// A package to insert (the key travels as `id`).
#[derive(Debug, Clone, Serialize)]
pub struct NewPackage {
    pub id: String,
    pub manager: String,
    pub name: String,
    pub version: String,
    pub architecture: Option<String>,
}

/// A host matched by a software search.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SoftwareHostRow {
    pub key: String,
    pub name: String,
    pub last_seen: String,
    #[serde(default)]
    pub matched: Vec<String>,
}

/// The package keys in the rows of a `SELECT packages FROM ci_software:…` (none when the CI
/// has no `ci_software` record).
pub(super) fn package_keys(rows: Vec<Value>) -> Result<Vec<String>, StorageError> {
    Ok(
        match rows
            .into_iter()
            .next()
            .and_then(|r| r.get("packages").cloned())
        {
            Some(v) => serde_json::from_value(v)?,
            None => Vec::new(),
        },
    )
}

impl Store {
    /// Adds distinct packages (those already present are left alone).
    pub async fn insert_packages(&self, packages: &[NewPackage]) -> Result<(), StorageError> {
        for chunk in packages.chunks(500) {
            self.run_write(
                "INSERT IGNORE INTO package $packages;",
                json!({ "packages": to_doc(&chunk)? }),
            )
            .await?;
        }
        Ok(())
    }

    /// Every distinct package known (to warm the in-memory catalogue at start).
    pub async fn all_packages(&self) -> Result<Vec<PackageRecord>, StorageError> {
        self.query_rows("SELECT *, record::id(id) AS key FROM package", Value::Null)
            .await
    }

    /// Package records with this exact name.
    pub async fn packages_named(&self, name: &str) -> Result<Vec<PackageRecord>, StorageError> {
        self.query_rows(
            "SELECT *, record::id(id) AS key FROM package WHERE name = $name",
            json!({ "name": name }),
        )
        .await
    }

    /// The package keys of one CI.
    pub async fn ci_package_keys(&self, key: &str) -> Result<Vec<String>, StorageError> {
        let sql = format!("SELECT packages FROM {};", rid("ci_software", key)?);
        package_keys(self.query_rows(&sql, Value::Null).await?)
    }

    /// Hosts having any of these package keys, with the matching keys.
    pub async fn hosts_with_packages(
        &self,
        keys: &[String],
    ) -> Result<Vec<SoftwareHostRow>, StorageError> {
        self.query_rows(
            "SELECT record::id(ci) AS key, ci.name AS name, ci.last_seen AS last_seen, array::intersect(packages, $keys) AS matched FROM ci_software WHERE packages CONTAINSANY $keys ORDER BY name",
            json!({ "keys": keys }),
        )
        .await
    }
}
