//! Whole-table reads, by pages, of every CI that the in-memory directory (relationship discovery) and
//! graph index are loaded from at start: only the fields they need, no inventory.

use serde::Deserialize;
use serde_json::Value;

use super::{StorageError, Store};

/// What relationship discovery's directory reads of a CI.
#[derive(Debug, Clone, Deserialize)]
pub struct DirectoryRow {
    pub key: String,
    pub class: String,
    pub name: String,
    #[serde(default)]
    pub fqdn: Option<String>,
    #[serde(default)]
    pub uuid: Option<String>,
    #[serde(default)]
    pub addresses: Option<Vec<String>>,
    #[serde(default)]
    pub chassis_ids: Option<Vec<String>>,
    #[serde(default)]
    pub serial: Option<String>,
    #[serde(default)]
    pub network: Option<Value>,
    #[serde(default)]
    pub virtualization: Option<Value>,
    #[serde(default)]
    pub interfaces: Option<Value>,
    /// Service CIs: `{host, process, ports}`.
    #[serde(default)]
    pub service: Option<Value>,
    /// Hosts: the agent bound to the CI.
    #[serde(default)]
    pub agent: Option<String>,
    /// What the CI catalogue reads too (keys the directory does not use, the duplicate
    /// flag, the last-seen time).
    #[serde(default)]
    pub machine_id: Option<String>,
    #[serde(default)]
    pub vendor_serial: Option<String>,
    #[serde(default)]
    pub duplicate: bool,
    #[serde(default)]
    pub last_seen: Option<String>,
    /// What the graph index reads too (start reads the CIs once for both).
    #[serde(default)]
    pub min_up: Option<u32>,
    #[serde(default)]
    pub core: Option<bool>,
}

/// What the graph index needs of a CI.
#[derive(Debug, Clone, Deserialize)]
pub struct GraphNodeRow {
    pub key: String,
    pub class: String,
    pub name: String,
    #[serde(default)]
    pub min_up: Option<u32>,
    #[serde(default)]
    pub core: Option<bool>,
}

/// The projection of a CI [`DirectoryRow`] is read with.
pub(super) const DIRECTORY_FIELDS: &str = "SELECT record::id(id) AS key, class, name, keys.fqdn AS fqdn, keys.hardware_uuid AS uuid, addresses, chassis_ids, serial, keys.machine_id AS machine_id, keys.vendor_serial AS vendor_serial, array::len(suspected_duplicates ?? []) > 0 AS duplicate, sections.network AS network, sections.virtualization AS virtualization, sections.device.interfaces AS interfaces, service, agent, min_up, core, last_seen";

/// The projection of a CI [`GraphNodeRow`] is read with.
pub(super) const GRAPH_NODE_FIELDS: &str = "record::id(id) AS key, class, name, min_up, core";

impl Store {
    /// What relationship discovery's directory needs of every CI, by pages. The first such
    /// pass fills the CI catalogue too (`catalogue.rs`).
    pub async fn directory_rows(
        &self,
        f: impl FnMut(Vec<DirectoryRow>),
    ) -> Result<(), StorageError> {
        let fields = DIRECTORY_FIELDS.trim_start_matches("SELECT ");
        // The first pass (the start's) fills the CI catalogue too.
        let Some(mut load) = self.catalogue_load().await else {
            return self.scan_pages("ci", fields, f).await;
        };
        let mut f = f;
        let result = self
            .scan_pages("ci", fields, |page: Vec<DirectoryRow>| {
                load.add(&page);
                f(page)
            })
            .await;
        self.catalogue_loaded(load, result.is_ok());
        result
    }

    /// What the graph index needs of every CI, by pages.
    pub async fn graph_nodes(&self, f: impl FnMut(Vec<GraphNodeRow>)) -> Result<(), StorageError> {
        self.scan_pages("ci", GRAPH_NODE_FIELDS, f).await
    }
}
