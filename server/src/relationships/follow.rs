//! Following other instances' writes (several servers on one database): the graph index and
//! the discovery directory take storage's current state for what the change feed names. Every
//! step reads storage and sets the in-memory state to it, so an event seen twice, or one this
//! instance caused itself, changes nothing.

use std::collections::{BTreeSet, HashMap};

use cmdb_graph::RelKind;

use super::discover::load_row;
use super::{Relationships, node_attrs, rw_write};
use crate::storage::StorageError;

impl Relationships {
    /// Sets the index's multiplicity of each triple (from, to, kind) to storage's count of
    /// active relationships.
    pub async fn follow_edges(
        &self,
        triples: &[(String, String, String)],
    ) -> Result<(), StorageError> {
        if triples.is_empty() {
            return Ok(());
        }
        // Under the write lock: no local write lands between the read and the update.
        let _w = self.lock_write().await;
        let counts = self.store.active_edge_counts(triples).await?;
        let mut g = rw_write(&self.graph);
        for (f, t, k, n) in counts {
            if let Some(kind) = RelKind::parse(&k) {
                g.set_edge_count(&f, &t, kind, n);
            }
        }
        Ok(())
    }

    /// Takes storage's state of these CIs into the index (attributes, or the node's removal)
    /// and the directory (facts, services).
    pub async fn follow_cis(&self, keys: &[String]) -> Result<(), StorageError> {
        if keys.is_empty() {
            return Ok(());
        }
        let _w = self.lock_write().await;
        let nodes: HashMap<String, crate::storage::GraphNodeRow> = self
            .store
            .graph_nodes_of(keys)
            .await?
            .into_iter()
            .map(|n| (n.key.clone(), n))
            .collect();
        let rows = self.store.directory_rows_of(keys).await?;
        let names: HashMap<&str, &str> = rows
            .iter()
            .map(|r| (r.key.as_str(), r.name.as_str()))
            .collect();
        let declared: BTreeSet<&str> = self.config.core.iter().map(String::as_str).collect();
        {
            let mut g = rw_write(&self.graph);
            for k in keys {
                match nodes.get(k) {
                    Some(n) => {
                        let core = n.core.unwrap_or(false)
                            || declared.contains(k.as_str())
                            || names.get(k.as_str()).is_some_and(|x| declared.contains(x));
                        let attrs = node_attrs(&n.class, n.min_up, core);
                        if attrs != cmdb_graph::NodeAttrs::default() || g.node_id(k).is_some() {
                            g.upsert_node(k, attrs);
                        }
                    }
                    None => {
                        g.remove_node(k);
                    }
                }
            }
        }
        // Service CIs belong to their host's list: rebuild the lists of the hosts concerned.
        let mut hosts: BTreeSet<String> = BTreeSet::new();
        {
            let mut dir = self.directory.write().unwrap_or_else(|e| e.into_inner());
            let found: BTreeSet<&str> = rows.iter().map(|r| r.key.as_str()).collect();
            for k in keys {
                hosts.extend(dir.hosts_of_service(k));
                if !found.contains(k.as_str()) {
                    dir.remove(k);
                }
            }
            let mut ignored = HashMap::new();
            for r in rows {
                if r.class == "service" {
                    if let Some(h) = r
                        .service
                        .as_ref()
                        .and_then(|s| s.get("host"))
                        .and_then(|h| h.as_str())
                    {
                        hosts.insert(h.to_string());
                    }
                } else {
                    load_row(&mut dir, &mut ignored, r);
                }
            }
        }
        if !hosts.is_empty() {
            let hosts: Vec<String> = hosts.into_iter().collect();
            let services = self.store.service_rows_of(&hosts).await?;
            let mut lists = HashMap::new();
            let mut dir = self.directory.write().unwrap_or_else(|e| e.into_inner());
            for r in services {
                load_row(&mut dir, &mut lists, r);
            }
            for h in hosts {
                let list = lists.remove(&h).unwrap_or_default();
                dir.set_services(&h, list);
            }
        }
        Ok(())
    }
}
