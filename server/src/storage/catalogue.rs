//! The CI catalogue ([`crate::domain::catalogue`]) kept in step with the `ci` table.
//!
//! - **Load.** The start's pass over every CI (the directory and graph index read it,
//!   [`Store::directory_rows`]) fills it too: no second pass over a million records.
//! - **Writes.** Every storage function that writes what the catalogue holds (class, name,
//!   keys, addresses, serial, chassis ids, the duplicate flag), or creates or deletes a CI,
//!   reads those CIs back once it has committed and sets the catalogue to what it read
//!   ([`Store::catalogue_touch`]). One gate serialises these read-and-set steps, so the last
//!   step after the last commit leaves the catalogue as storage is.
//! - **Last-seen times** change on every report and heartbeat flush, which write the time
//!   and nothing else the catalogue holds: those writes move the catalogue's time forward
//!   once committed, without a read-back ([`Store::catalogue_seen`], under the same gate).
//!   Other instances' flushes fire no cluster event, so on a remote database the CI list
//!   reads the stale filter and the last-seen order from storage.
//! - **Other instances' writes** (several servers on one database) reach it the same way,
//!   from the cluster follower.
//!
//! Until it is loaded (or if a read-back failed), the CI list answers by scanning, as it
//! did without a catalogue.

use std::sync::atomic::{AtomicU8, Ordering};

use serde::Deserialize;
use serde_json::json;

use super::directory::DirectoryRow;
use super::{StorageError, Store};
use crate::domain::catalogue::{Catalogue, CatalogueRow};

/// Not loaded (or dropped after a failed read-back): the CI list scans.
const EMPTY: u8 = 0;
/// The start's pass is filling it: writes wait for the pass to end.
const LOADING: u8 = 1;
const LOADED: u8 = 2;

/// The catalogue and its state, shared by every clone of a [`Store`].
#[derive(Debug, Default)]
pub(super) struct CatalogueCell {
    cat: std::sync::RwLock<Catalogue>,
    state: AtomicU8,
    /// Held by each read-back-and-set and by the load.
    gate: tokio::sync::Mutex<()>,
}

/// The fields of a CI the catalogue is made from.
pub(super) const CATALOGUE_FIELDS: &str = "record::id(id) AS key, class, name, keys.fqdn AS fqdn, keys.hardware_uuid AS uuid, keys.machine_id AS machine_id, keys.vendor_serial AS vendor_serial, addresses, chassis_ids, serial, array::len(suspected_duplicates ?? []) > 0 AS duplicate, last_seen";

/// Top-level CI fields the catalogue holds something of.
pub(super) const CATALOGUED: [&str; 7] = [
    "class",
    "name",
    "keys",
    "addresses",
    "serial",
    "chassis_ids",
    "suspected_duplicates",
];

#[derive(Debug, Deserialize)]
struct Fields {
    key: String,
    class: String,
    name: String,
    #[serde(default)]
    fqdn: Option<String>,
    #[serde(default)]
    uuid: Option<String>,
    #[serde(default)]
    machine_id: Option<String>,
    #[serde(default)]
    vendor_serial: Option<String>,
    #[serde(default)]
    addresses: Option<Vec<String>>,
    #[serde(default)]
    chassis_ids: Option<Vec<String>>,
    #[serde(default)]
    serial: Option<String>,
    #[serde(default)]
    duplicate: bool,
    #[serde(default)]
    last_seen: Option<String>,
}

/// A catalogue row from the fields read: the same for the load (a [`DirectoryRow`]) and the
/// read-backs ([`Fields`]), which name the fields alike.
macro_rules! catalogue_row {
    ($f:expr) => {{
        let f = $f;
        let mut terms: Vec<String> = [&f.fqdn, &f.uuid, &f.machine_id, &f.vendor_serial, &f.serial]
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        terms.extend(
            [&f.addresses, &f.chassis_ids]
                .into_iter()
                .flatten()
                .flatten()
                .cloned(),
        );
        CatalogueRow {
            key: f.key.clone(),
            class: f.class.clone(),
            name: f.name.clone(),
            terms,
            duplicate: f.duplicate,
            last_seen: f.last_seen.clone().unwrap_or_default(),
        }
    }};
}

impl From<&Fields> for CatalogueRow {
    fn from(f: &Fields) -> Self {
        catalogue_row!(f)
    }
}

impl From<&DirectoryRow> for CatalogueRow {
    fn from(f: &DirectoryRow) -> Self {
        catalogue_row!(f)
    }
}

/// Whether a CI write changes what the catalogue holds of the CI written: a new CI, or
/// fields it keeps.
pub(super) fn touches_catalogue(doc: &super::CiDoc) -> bool {
    match doc {
        super::CiDoc::New(_) => true,
        super::CiDoc::Update(fields) => CATALOGUED.iter().any(|f| fields.contains_key(*f)),
    }
}

/// The last-seen time a CI write sets without changing anything else the catalogue holds
/// (a report's update of a known CI), to move the catalogue's time forward.
pub(super) fn seen_only(doc: &super::CiDoc) -> Option<&str> {
    match doc {
        super::CiDoc::Update(fields) if !touches_catalogue(doc) => {
            fields.get("last_seen").and_then(serde_json::Value::as_str)
        }
        _ => None,
    }
}

/// A load under way: writes wait for it (they hold the gate to read back).
pub(super) struct CatalogueLoad<'a> {
    _gate: tokio::sync::MutexGuard<'a, ()>,
    cat: Catalogue,
    started: std::time::Instant,
}

impl CatalogueLoad<'_> {
    pub(super) fn add(&mut self, page: &[DirectoryRow]) {
        for r in page {
            self.cat.upsert(&CatalogueRow::from(r));
        }
    }
}

/// CIs read back per query.
const READ_BACK_PAGE: usize = 2_000;

impl Store {
    /// Read access to the catalogue, if it is loaded.
    pub(super) fn catalogue(&self) -> Option<std::sync::RwLockReadGuard<'_, Catalogue>> {
        (self.catalogue.state.load(Ordering::Acquire) == LOADED)
            .then(|| self.catalogue.cat.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Moves `last_seen` (CI `key`'s stored time) forward to the catalogue's, when that is
    /// later: the catalogue takes every last-seen flush, the CI record only every
    /// `lifecycle.last_seen_write_secs` (see `ingest::presence`).
    pub(super) fn freshen_seen(&self, key: &str, last_seen: &mut String) {
        let Some(micros) = self.catalogue().and_then(|c| c.seen_of(key)) else {
            return;
        };
        if micros > crate::domain::catalogue::seen_micros(last_seen)
            && let Some(t) = chrono::DateTime::from_timestamp_micros(micros)
        {
            *last_seen = super::time_str(t);
        }
    }

    /// Starts filling the catalogue from the start's pass over every CI, if it is not loaded
    /// nor being loaded: the pass hands each page to [`CatalogueLoad::add`], then
    /// [`Store::catalogue_loaded`]. Later passes leave it alone.
    pub(super) async fn catalogue_load(&self) -> Option<CatalogueLoad<'_>> {
        let cell = &self.catalogue;
        cell.state
            .compare_exchange(EMPTY, LOADING, Ordering::AcqRel, Ordering::Acquire)
            .ok()?;
        Some(CatalogueLoad {
            _gate: cell.gate.lock().await,
            cat: Catalogue::new(),
            started: std::time::Instant::now(),
        })
    }

    /// Ends a load: the catalogue is in use if the pass read every page.
    pub(super) fn catalogue_loaded(&self, load: CatalogueLoad<'_>, complete: bool) {
        let cell = &self.catalogue;
        if !complete {
            cell.state.store(EMPTY, Ordering::Release);
            return;
        }
        tracing::info!(
            cis = load.cat.len(),
            mib = load.cat.memory_bytes() as f64 / (1 << 20) as f64,
            secs = load.started.elapsed().as_secs_f64(),
            "CI catalogue loaded"
        );
        *cell.cat.write().unwrap_or_else(|e| e.into_inner()) = load.cat;
        cell.state.store(LOADED, Ordering::Release);
    }

    /// Sets the catalogue's entries of `keys` to what storage holds of them now (the CIs
    /// written by a committed transaction: created, changed or deleted). A failed read
    /// drops the catalogue (the CI list scans until the next start) rather than leave it
    /// wrong; the write itself stands.
    pub async fn catalogue_touch<'a>(&self, keys: impl IntoIterator<Item = &'a String>) {
        let cell = &self.catalogue;
        if cell.state.load(Ordering::Acquire) == EMPTY {
            return;
        }
        let mut keys: Vec<&String> = keys.into_iter().collect();
        if keys.is_empty() {
            return;
        }
        keys.sort();
        keys.dedup();
        let _g = cell.gate.lock().await;
        if cell.state.load(Ordering::Acquire) != LOADED {
            return;
        }
        for chunk in keys.chunks(READ_BACK_PAGE) {
            let read: Result<Vec<Fields>, StorageError> = self
                .query_rows(
                    &format!(
                        "SELECT {CATALOGUE_FIELDS} FROM $ids.map(|$k| type::record('ci', $k))"
                    ),
                    json!({ "ids": chunk }),
                )
                .await;
            let rows = match read {
                Ok(rows) => rows,
                Err(e) => {
                    cell.state.store(EMPTY, Ordering::Release);
                    tracing::warn!(
                        error = %e,
                        "could not read back written CIs: the CI catalogue is dropped until the next start (the CI list scans the table meanwhile)"
                    );
                    return;
                }
            };
            let mut cat = cell.cat.write().unwrap_or_else(|e| e.into_inner());
            let found: std::collections::HashSet<&str> =
                rows.iter().map(|r| r.key.as_str()).collect();
            for k in chunk {
                if !found.contains(k.as_str()) {
                    cat.remove(k);
                }
            }
            for r in &rows {
                cat.upsert(&CatalogueRow::from(r));
            }
        }
    }

    /// Moves the catalogue's last-seen times of these CIs forward, after a committed write of
    /// `(key, time)`s that changed nothing else it holds. Under the gate, so a load or a
    /// read-back under way (which may have read an older time) ends first.
    pub(super) async fn catalogue_seen<'a>(
        &self,
        seen: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) {
        let cell = &self.catalogue;
        if cell.state.load(Ordering::Acquire) == EMPTY {
            return;
        }
        let seen: Vec<(&str, &str)> = seen.into_iter().collect();
        if seen.is_empty() {
            return;
        }
        let _g = cell.gate.lock().await;
        if cell.state.load(Ordering::Acquire) != LOADED {
            return;
        }
        let mut cat = cell.cat.write().unwrap_or_else(|e| e.into_inner());
        for (key, t) in seen {
            cat.seen(key, t);
        }
    }

    /// Differences between the catalogue and a fresh one read from storage (tests): empty
    /// when they agree, or when the catalogue is not loaded.
    #[cfg(test)]
    pub async fn catalogue_differences(&self) -> Result<Vec<String>, StorageError> {
        use crate::domain::catalogue::{Order, Query};
        let mut fresh = Catalogue::new();
        let rows: Vec<Fields> = self
            .query_rows(
                &format!("SELECT {CATALOGUE_FIELDS} FROM ci"),
                serde_json::Value::Null,
            )
            .await?;
        for r in &rows {
            fresh.upsert(&CatalogueRow::from(r));
        }
        let Some(held) = self.catalogue() else {
            return Ok(Vec::new());
        };
        let all = |c: &Catalogue, duplicates_only| {
            c.search(&Query {
                class: None,
                text: &[],
                duplicates_only,
                seen: None,
                order: Order::Class,
                offset: 0,
                limit: usize::MAX,
            })
        };
        let mut out = Vec::new();
        if all(&held, false) != all(&fresh, false) {
            out.push(format!(
                "CIs: held {:?}, stored {:?}",
                all(&held, false),
                all(&fresh, false)
            ));
        }
        if all(&held, true) != all(&fresh, true) {
            out.push(format!(
                "duplicates: held {:?}, stored {:?}",
                all(&held, true),
                all(&fresh, true)
            ));
        }
        let by_seen = |c: &Catalogue| {
            c.search(&Query {
                class: None,
                text: &[],
                duplicates_only: false,
                seen: None,
                order: Order::LastSeen,
                offset: 0,
                limit: usize::MAX,
            })
        };
        if by_seen(&held) != by_seen(&fresh) {
            out.push(format!(
                "last seen: held {:?}, stored {:?}",
                by_seen(&held),
                by_seen(&fresh)
            ));
        }
        if held.class_counts() != fresh.class_counts() {
            out.push(format!(
                "classes: held {:?}, stored {:?}",
                held.class_counts(),
                fresh.class_counts()
            ));
        }
        // Each CI's searched text: its whole name finds it in both, and so does each term.
        for r in &rows {
            let row = CatalogueRow::from(r);
            for t in std::iter::once(&row.name).chain(&row.terms) {
                let t = t.to_lowercase();
                let q = Query {
                    class: Some(&row.class),
                    text: &[&t],
                    duplicates_only: false,
                    seen: None,
                    order: Order::Name,
                    offset: 0,
                    limit: usize::MAX,
                };
                if !held.search(&q).0.contains(&row.key) {
                    out.push(format!("{}: `{t}` does not find it", row.key));
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
impl Store {
    /// Whether the CI list uses the catalogue (tests: compare it with the scan).
    pub(crate) fn catalogue_in_use(&self, on: bool) {
        let state = if on { LOADED } else { EMPTY };
        self.catalogue.state.store(state, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{CiFilter, CiSort};

    /// CIs written straight into the table (no catalogue read-back): a CI of each kind of
    /// searched field, last seen at different times (two at the same).
    const CIS: &str = "
        CREATE ci:⟨a1⟩ SET last_seen = '2026-12-01T09:00:00.000Z', class = 'host', name = 'Web-01', keys = { fqdn: 'web-01.Example.org', hardware_uuid: '4c4c4544-0042', machine_id: 'f00dcafe' }, addresses = ['10.0.0.1'], suspected_duplicates = ['a2'];
        CREATE ci:⟨a2⟩ SET last_seen = '2026-12-01T12:00:00.000Z', class = 'host', name = 'web-02', keys = { vendor_serial: 'SN-77X' }, addresses = ['10.0.0.2', 'fe80::1'], suspected_duplicates = ['a1'];
        CREATE ci:⟨a3⟩ SET last_seen = '2026-12-01T10:00:00.000Z', class = 'network_device', name = 'core-1', serial = 'FOC1234', chassis_ids = ['00:11:22:33:44:55'], addresses = [], suspected_duplicates = [];
        CREATE ci:⟨a4⟩ SET last_seen = '2026-12-01T10:00:00.000Z', class = 'vm', name = 'db-01', keys = {}, addresses = [], suspected_duplicates = [];
        CREATE ci:⟨a5⟩ SET last_seen = '2026-12-01T08:00:00.000Z', class = 'application', name = 'webshop', addresses = [], suspected_duplicates = [];
    ";

    async fn store() -> Store {
        let store = Store::memory().await.expect("store");
        store.raw(&CIS.replace("SET ", "SET identified_by = 'admin', first_seen = '2026-12-01T00:00:00.000Z', package_count = 0, "))
            .await
            .expect("CIs");
        store
    }

    fn filter(q: Option<&str>, class: Option<&str>, sort: CiSort) -> CiFilter {
        CiFilter {
            class: class.map(str::to_string),
            q: q.map(str::to_string),
            sort,
            limit: 100,
            stale_cutoff: "2026-12-01T10:00:00.000Z".into(),
            ..Default::default()
        }
    }

    fn listed(page: (Vec<crate::storage::CiSummary>, u64)) -> (Vec<String>, u64) {
        (page.0.into_iter().map(|c| c.key).collect(), page.1)
    }

    #[tokio::test]
    async fn writes_outside_storage_functions_show_as_differences_until_read_back() {
        let store = store().await;
        let diff = store.catalogue_differences().await.expect("check");
        assert!(!diff.is_empty(), "raw writes bypass the catalogue");
        let keys: Vec<String> = (1..=5).map(|i| format!("a{i}")).collect();
        store.catalogue_touch(&keys).await;
        assert_eq!(
            store.catalogue_differences().await.expect("check"),
            Vec::<String>::new()
        );
        // A deletion, read back, leaves the catalogue too.
        store.raw("DELETE ci:⟨a5⟩;").await.expect("delete");
        store.catalogue_touch(&keys).await;
        assert_eq!(
            store.catalogue_differences().await.expect("check"),
            Vec::<String>::new()
        );
        assert_eq!(store.class_counts().await.expect("counts").len(), 3);
    }

    #[tokio::test]
    async fn the_catalogue_answers_as_the_scan_does() {
        let store = store().await;
        let keys: Vec<String> = (1..=5).map(|i| format!("a{i}")).collect();
        store.catalogue_touch(&keys).await;
        let mut filters = Vec::new();
        for q in [
            "web",
            "WEB-0",
            "example.ORG",
            "4c4c",
            "f00dcafe",
            "sn-77",
            "10.0.0",
            "fe80",
            "foc12",
            "0011.2233.4455",
            "00-11-22-33-44-55",
            "33:44",
            "nothing",
            "",
        ] {
            for sort in [CiSort::Name, CiSort::Class, CiSort::LastSeen] {
                filters.push(filter(Some(q), None, sort));
            }
            filters.push(filter(Some(q), Some("host"), CiSort::Name));
        }
        // Stale and fresh CIs (the cutoff is two CIs' time: those are fresh), in every order,
        // and the last-seen order alone.
        for stale in [Some(true), Some(false), None] {
            for sort in [CiSort::Name, CiSort::Class, CiSort::LastSeen] {
                let mut f = filter(None, None, sort);
                f.stale = stale;
                filters.push(f);
            }
        }
        let mut stale_hosts = filter(Some("web"), Some("host"), CiSort::LastSeen);
        stale_hosts.stale = Some(true);
        filters.push(stale_hosts);
        let mut dups = filter(None, None, CiSort::Name);
        dups.duplicates = true;
        filters.push(dups);
        let mut paged = filter(Some("0"), None, CiSort::Class);
        (paged.offset, paged.limit) = (1, 2);
        filters.push(paged);
        for f in &filters {
            let held = listed(store.list_cis(f).await.expect("catalogue"));
            store.catalogue_in_use(false);
            let scanned = listed(store.list_cis(f).await.expect("scan"));
            store.catalogue_in_use(true);
            assert_eq!(held, scanned, "{f:?}");
        }
        // What the last-seen parts found, so they are not compared empty either.
        let mut stale = filter(None, None, CiSort::LastSeen);
        stale.stale = Some(true);
        assert_eq!(
            listed(store.list_cis(&stale).await.expect("stale")),
            (vec!["a1".into(), "a5".into()], 2)
        );
        let newest = filter(None, None, CiSort::LastSeen);
        assert_eq!(
            listed(store.list_cis(&newest).await.expect("newest")).0,
            vec!["a2", "a3", "a4", "a1", "a5"]
        );
        // What the fragments found, so the comparison is not of two empty answers.
        let found = |q: &str| {
            let f = filter(Some(q), None, CiSort::Name);
            let store = store.clone();
            async move { store.list_cis(&f).await.expect("list").1 }
        };
        assert_eq!(found("web").await, 3);
        assert_eq!(found("0011.2233.4455").await, 1);
        assert_eq!(found("fe80").await, 1);
        // A class's total without a search comes from the catalogue.
        let (_, n) = store
            .list_cis(&filter(None, Some("host"), CiSort::Name))
            .await
            .expect("class");
        assert_eq!(n, 2);
    }

    #[test]
    fn the_cataloged_fields_are_what_the_catalogue_reads() {
        for f in CATALOGUED {
            let read = if f == "suspected_duplicates" {
                "suspected_duplicates ?? []"
            } else {
                f
            };
            assert!(CATALOGUE_FIELDS.contains(read), "{f}");
        }
    }

    #[tokio::test]
    async fn a_flush_that_leaves_the_records_still_moves_what_the_api_shows() {
        let store = store().await;
        let all: Vec<String> = (1..=5).map(|i| format!("a{i}")).collect();
        store.catalogue_touch(&all).await;
        store
            .raw("CREATE agent:⟨g1⟩ SET ci = 'a1';")
            .await
            .expect("agent");
        store
            .flush_last_seen(&[crate::storage::LastSeen {
                agent_key: "g1".into(),
                ci_key: Some("a1".into()),
                at: "2026-12-01T13:00:00.000Z".into(),
                agent_version: "1".into(),
                write: false,
            }])
            .await
            .expect("flush");
        // The catalogue moved; neither record did.
        let agent: Vec<serde_json::Value> = store
            .query_rows("SELECT last_seen FROM agent:⟨g1⟩", serde_json::Value::Null)
            .await
            .expect("agent row");
        assert_eq!(agent[0]["last_seen"], serde_json::Value::Null);
        let stored: Vec<serde_json::Value> = store
            .query_rows("SELECT last_seen FROM ci:⟨a1⟩", serde_json::Value::Null)
            .await
            .expect("ci row");
        assert_eq!(stored[0]["last_seen"], "2026-12-01T09:00:00.000Z");
        // What the API reads shows the later time: the list, its summaries, the CI itself.
        let newest = filter(None, None, CiSort::LastSeen);
        let (page, _) = store.list_cis(&newest).await.expect("newest");
        assert_eq!(page[0].key, "a1");
        assert_eq!(page[0].last_seen, "2026-12-01T13:00:00.000Z");
        let ci = store.ci("a1").await.expect("read").expect("a1");
        assert_eq!(ci.last_seen, "2026-12-01T13:00:00.000Z");
        // An older time in the catalogue never moves a record's time back.
        let ci = store.ci("a2").await.expect("read").expect("a2");
        assert_eq!(ci.last_seen, "2026-12-01T12:00:00.000Z");
    }

    #[tokio::test]
    async fn last_seen_flushes_and_updates_move_the_catalogue_without_a_read_back() {
        let store = store().await;
        let all: Vec<String> = (1..=5).map(|i| format!("a{i}")).collect();
        store.catalogue_touch(&all).await;
        // A heartbeat flush (with an agent) and a polled device's time.
        store
            .raw("CREATE agent:⟨g1⟩ SET ci = 'a5';")
            .await
            .expect("agent");
        store
            .flush_last_seen(&[crate::storage::LastSeen {
                agent_key: "g1".into(),
                ci_key: Some("a5".into()),
                at: "2026-12-01T13:00:00.000Z".into(),
                agent_version: "1".into(),
                write: true,
            }])
            .await
            .expect("flush");
        store
            .flush_ci_seen(&[("a1".into(), "2026-12-01T11:00:00.000Z".into())])
            .await
            .expect("device");
        assert_eq!(
            store.catalogue_differences().await.expect("check"),
            Vec::<String>::new()
        );
        let newest = filter(None, None, CiSort::LastSeen);
        assert_eq!(
            listed(store.list_cis(&newest).await.expect("newest")).0,
            vec!["a5", "a2", "a1", "a3", "a4"]
        );
        let mut stale = filter(None, None, CiSort::Name);
        stale.stale = Some(true);
        assert_eq!(listed(store.list_cis(&stale).await.expect("stale")).1, 0);
        // A time written around the storage functions is what the check catches.
        store
            .raw("UPDATE ci:⟨a3⟩ SET last_seen = '2026-12-01T14:00:00.000Z';")
            .await
            .expect("raw");
        assert!(
            !store
                .catalogue_differences()
                .await
                .expect("check")
                .is_empty()
        );
    }

    #[tokio::test]
    async fn a_ci_without_a_last_seen_time_is_catalogued_as_seen_longest_ago() {
        let store = store().await;
        store
            .raw("CREATE ci:⟨a6⟩ SET class = 'host', name = 'no-time';")
            .await
            .expect("CI");
        let all: Vec<String> = (1..=6).map(|i| format!("a{i}")).collect();
        store.catalogue_touch(&all).await;
        assert!(
            store.catalogue().is_some(),
            "the read-back kept the catalogue"
        );
        assert_eq!(
            store.catalogue_differences().await.expect("check"),
            Vec::<String>::new()
        );
        let cat = store.catalogue().expect("loaded");
        let (order, _) = cat.search(&crate::domain::catalogue::Query {
            class: None,
            text: &[],
            duplicates_only: false,
            seen: None,
            order: crate::domain::catalogue::Order::LastSeen,
            offset: 0,
            limit: 10,
        });
        assert_eq!(order.last().map(String::as_str), Some("a6"));
    }
}
