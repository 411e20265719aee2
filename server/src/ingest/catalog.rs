//! The package catalogue: every distinct (manager, name, version, architecture) the fleet
//! reports is one `package` record, kept in memory too, so a host's package list is stored as
//! keys and a report's packages are resolved without a read.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::RwLock;

use cmdb_shared::Package;
use sha2::{Digest, Sha256};

use crate::domain::reconcile::{AttributeChange, diff, package_attributes};
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

/// What [`package_attributes`] groups versions by: manager, name and architecture.
fn name_of(p: &Package) -> (&str, &str, Option<&str>) {
    (&p.manager, &p.name, p.architecture.as_deref())
}

/// The sorted, deduplicated keys of `keyed`, and its packages not in `cat`.
fn keys_and_fresh(
    keyed: &[(String, &Package)],
    cat: &HashMap<String, Package>,
) -> (Vec<String>, Vec<NewPackage>) {
    let mut keys = BTreeSet::new();
    let mut fresh = Vec::new();
    for (k, p) in keyed {
        if keys.insert(k.as_str()) && !cat.contains_key(k) {
            fresh.push(NewPackage {
                id: k.clone(),
                manager: p.manager.clone(),
                name: p.name.clone(),
                version: p.version.clone(),
                architecture: p.architecture.clone(),
            });
        }
    }
    (keys.into_iter().map(str::to_string).collect(), fresh)
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
        let keyed: Vec<(String, &Package)> = list.iter().map(|p| (package_key(p), p)).collect();
        let cat = self.packages.read().unwrap_or_else(|e| e.into_inner());
        keys_and_fresh(&keyed, &cat)
    }

    /// What a host's new package `list` changes from the packages behind its `old` keys:
    /// the new keys, the packages the catalogue has not seen yet, and the history changes
    /// (one per package name whose versions differ, as [`package_attributes`] groups them).
    ///
    /// Only the packages whose key is on one side alone are compared, with the other
    /// versions of their names: a name none of whose keys changed has the same versions on
    /// both sides. An upgrade of 30 of 800 packages so compares 30 names, not 800.
    pub(super) fn changes_from(
        &self,
        old: &[String],
        list: &[Package],
    ) -> (Vec<String>, Vec<NewPackage>, Vec<AttributeChange>) {
        let keyed: Vec<(String, &Package)> = list.iter().map(|p| (package_key(p), p)).collect();
        let cat = self.packages.read().unwrap_or_else(|e| e.into_inner());
        let (keys, fresh) = keys_and_fresh(&keyed, &cat);
        let old_set: HashSet<&str> = old.iter().map(String::as_str).collect();
        let new_set: HashSet<&str> = keyed.iter().map(|(k, _)| k.as_str()).collect();
        let mut touched: HashSet<(&str, &str, Option<&str>)> = keyed
            .iter()
            .filter(|(k, _)| !old_set.contains(k.as_str()))
            .map(|(_, p)| name_of(p))
            .collect();
        touched.extend(
            old.iter()
                .filter(|k| !new_set.contains(k.as_str()))
                .filter_map(|k| cat.get(k))
                .map(name_of),
        );
        if touched.is_empty() {
            return (keys, fresh, Vec::new());
        }
        let before = old
            .iter()
            .filter_map(|k| cat.get(k))
            .filter(|p| touched.contains(&name_of(p)));
        let after = list.iter().filter(|p| touched.contains(&name_of(p)));
        let changes = diff(&package_attributes(before), &package_attributes(after));
        (keys, fresh, changes)
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pkg(name: u8, version: u8, arch: bool) -> Package {
        Package {
            manager: "dpkg".into(),
            name: format!("p{name}"),
            version: format!("1.{version}"),
            architecture: arch.then(|| "amd64".into()),
        }
    }

    fn list() -> impl Strategy<Value = Vec<Package>> {
        // Few names and versions, so lists share, repeat and hold several versions of a name.
        proptest::collection::vec(
            (0u8..6, 0u8..3, any::<bool>()).prop_map(|(n, v, a)| pkg(n, v, a)),
            0..12,
        )
    }

    proptest! {
        /// Comparing only the names whose keys changed gives exactly the changes of
        /// comparing the whole lists.
        #[test]
        fn changes_from_equals_the_diff_of_the_whole_lists(old in list(), new in list()) {
            let cat = Catalog::default();
            let (old_keys, fresh) = cat.keys_of(&old);
            cat.add(fresh.into_iter().map(|p| crate::storage::PackageRecord {
                key: p.id,
                manager: p.manager,
                name: p.name,
                version: p.version,
                architecture: p.architecture,
            }).collect());
            let (keys, fresh, changes) = cat.changes_from(&old_keys, &new);
            let whole = diff(&package_attributes(&old), &package_attributes(&new));
            prop_assert_eq!(changes, whole);
            let (keys_alone, fresh_alone) = cat.keys_of(&new);
            prop_assert_eq!(keys, keys_alone);
            prop_assert_eq!(
                fresh.iter().map(|p| &p.id).collect::<Vec<_>>(),
                fresh_alone.iter().map(|p| &p.id).collect::<Vec<_>>()
            );
        }
    }
}
