//! The package catalogue: every distinct (manager, name, version, architecture) the fleet
//! reports is one `package` record, kept in memory too, so a host's package list is stored as
//! keys and a report's packages are resolved without a read.

use std::collections::{BTreeSet, HashMap};
use std::sync::RwLock;

use cmdb_shared::Package;
use sha2::{Digest, Sha256};

use crate::storage::{NewPackage, StorageError, Store};

/// The key of a distinct package: SHA-256 over its four fields, 32 hex digits.
pub fn package_key(p: &Package) -> String {
    let mut h = Sha256::new();
    for part in [
        p.manager.as_str(),
        p.name.as_str(),
        p.version.as_str(),
        p.architecture.as_deref().unwrap_or(""),
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..16])
}

/// The packages the server has seen, and the one writer of new ones.
#[derive(Debug, Default)]
pub(super) struct Catalog {
    packages: RwLock<HashMap<String, Package>>,
    writer: tokio::sync::Mutex<()>,
}

impl Catalog {
    /// Loads the package catalogue from storage.
    pub(super) async fn warm(&self, store: &Store) -> Result<(), StorageError> {
        self.add(store.all_packages().await?);
        Ok(())
    }

    /// Adds stored packages.
    pub(super) fn add(&self, records: Vec<crate::storage::PackageRecord>) {
        let mut cat = self.packages.write().unwrap_or_else(|e| e.into_inner());
        for p in records {
            cat.insert(
                p.key,
                Package {
                    manager: p.manager,
                    name: p.name,
                    version: p.version,
                    architecture: p.architecture,
                },
            );
        }
    }

    /// The packages behind these keys (from the in-memory catalogue).
    pub fn packages_of(&self, keys: &[String]) -> Vec<Package> {
        let cat = self.packages.read().unwrap_or_else(|e| e.into_inner());
        keys.iter().filter_map(|k| cat.get(k).cloned()).collect()
    }

    /// Keys of `list` (deduplicated), and the packages the catalogue has not seen yet.
    pub(super) fn keys_of(&self, list: &[Package]) -> (Vec<String>, Vec<NewPackage>) {
        let cat = self.packages.read().unwrap_or_else(|e| e.into_inner());
        let mut keys = BTreeSet::new();
        let mut fresh = Vec::new();
        for p in list {
            let k = package_key(p);
            if keys.insert(k.clone()) && !cat.contains_key(&k) {
                fresh.push(NewPackage {
                    id: k,
                    manager: p.manager.clone(),
                    name: p.name.clone(),
                    version: p.version.clone(),
                    architecture: p.architecture.clone(),
                });
            }
        }
        (keys.into_iter().collect(), fresh)
    }

    /// Stores packages the catalogue has not seen, before the CI that lists them. Package
    /// records are shared and never change, so they are written on their own, one writer at a
    /// time (others bringing the same packages wait, then find them catalogued): inside each
    /// host's transaction, hundreds of new hosts bringing the same new packages would fail
    /// each other's commits. If the host's write then fails, the records remain, unreferenced
    /// and harmless. (Per-package claims instead of one writer were measured: no more
    /// throughput, and a worse p99.)
    pub(super) async fn ensure(
        &self,
        store: &Store,
        fresh: Vec<NewPackage>,
    ) -> Result<(), StorageError> {
        if fresh.is_empty() {
            return Ok(());
        }
        let _one_writer = self.writer.lock().await;
        let fresh: Vec<NewPackage> = {
            let cat = self.packages.read().unwrap_or_else(|e| e.into_inner());
            fresh
                .into_iter()
                .filter(|p| !cat.contains_key(&p.id))
                .collect()
        };
        if fresh.is_empty() {
            return Ok(());
        }
        store.insert_packages(&fresh).await?;
        let mut cat = self.packages.write().unwrap_or_else(|e| e.into_inner());
        for p in fresh {
            cat.insert(
                p.id.clone(),
                Package {
                    manager: p.manager.clone(),
                    name: p.name.clone(),
                    version: p.version.clone(),
                    architecture: p.architecture.clone(),
                },
            );
        }
        Ok(())
    }
}
