//! Bulk import and export of manual CIs and relationships (JSON bundles, or CSV of one list).
//!
//! Import upserts by a stable key: a CI by its `key` when given (any CI; only its manual
//! attributes change), else by class + name among manual CIs; a relationship by (from, kind,
//! to) among manual relationships. CIs are referenced by id or as `class/name`, including CIs
//! created by the same import. Everything is validated first: one error and nothing is
//! written (the answer lists up to 100 errors). `dry_run=true` reports what would change and
//! writes nothing.

use std::collections::{BTreeSet, HashMap, HashSet};

use cmdb_graph::RelKind;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::manual::{
    CiInput, attrs_of, check_note, ci_changes, ci_history, manual_ci_doc, manual_record,
    parse_kind, validate_ci,
};
use super::{IndexEffects, Relationships, history_rows, node_attrs};
use crate::error::ServiceError;
use crate::storage::{GraphWrite, HistoryRecord, RelationshipRecord, Store, now_str, valid_key};

/// A relationship to import.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RelInput {
    /// CI id or `class/name`.
    pub from: String,
    pub kind: String,
    /// CI id or `class/name`.
    pub to: String,
    #[serde(default)]
    pub note: Option<String>,
    /// Exported rows carry it: rows of discovered relationships are skipped.
    #[serde(default)]
    pub source: Option<String>,
    /// Export fields, accepted and ignored so that an export imports back as it is.
    #[serde(default, skip_serializing)]
    #[schema(value_type = Option<Object>)]
    pub key: Option<Value>,
    #[serde(default, skip_serializing)]
    #[schema(value_type = Option<Object>)]
    pub discovered_by: Option<Value>,
    #[serde(default, skip_serializing)]
    #[schema(value_type = Option<Object>)]
    pub first_seen: Option<Value>,
    #[serde(default, skip_serializing)]
    #[schema(value_type = Option<Object>)]
    pub last_seen: Option<Value>,
    #[serde(default, skip_serializing)]
    #[schema(value_type = Option<Object>)]
    pub evidence: Option<Value>,
    #[serde(default, skip_serializing)]
    #[schema(value_type = Option<Object>)]
    pub stale: Option<Value>,
    #[serde(default, skip_serializing)]
    #[schema(value_type = Option<Object>)]
    pub stale_since: Option<Value>,
}

/// A CI to import: the manual CI fields plus an optional key.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CiImport {
    /// An existing CI's id: its manual attributes are updated.
    #[serde(default)]
    pub key: Option<String>,
    /// Export fields, accepted and ignored so that an export imports back as it is.
    #[serde(default, skip_serializing)]
    #[schema(value_type = Option<String>)]
    pub first_seen: Option<Value>,
    #[serde(default, skip_serializing)]
    #[schema(value_type = Option<String>)]
    pub last_seen: Option<Value>,
    #[serde(flatten)]
    pub ci: CiInput,
}

/// A JSON import (or export).
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    #[serde(default)]
    pub cis: Vec<CiImport>,
    #[serde(default)]
    pub relationships: Vec<RelInput>,
}

/// What an import did (or would do).
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct ImportReport {
    pub dry_run: bool,
    pub cis_created: Vec<String>,
    pub cis_updated: Vec<String>,
    pub cis_unchanged: usize,
    pub relationships_created: Vec<String>,
    pub relationships_updated: Vec<String>,
    pub relationships_unchanged: usize,
    /// Rows of discovered relationships (discovery owns them).
    pub relationships_skipped: usize,
}

fn csv_field<'a>(
    headers: &'a csv::StringRecord,
    row: &'a csv::StringRecord,
    name: &str,
) -> Option<&'a str> {
    headers
        .iter()
        .position(|h| h.trim() == name)
        .and_then(|i| row.get(i))
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// The line a CSV record starts on. The reader's position is where it began reading the
/// record, before the blank lines it skips, which are counted here.
fn record_line(body: &[u8], p: &csv::Position) -> u64 {
    let skipped = body
        .get(usize::try_from(p.byte()).unwrap_or(usize::MAX)..)
        .unwrap_or_default()
        .iter()
        .take_while(|b| matches!(b, b'\n' | b'\r'))
        .filter(|b| **b == b'\n')
        .count();
    p.line() + u64::try_from(skipped).unwrap_or(0)
}

/// Parses a CSV body into a bundle; columns by header name.
pub fn parse_csv(body: &[u8], what: &str) -> Result<Bundle, ServiceError> {
    let mut r = csv::ReaderBuilder::new().flexible(false).from_reader(body);
    let headers = r
        .headers()
        .map_err(|e| ServiceError::Invalid(format!("csv: {e}")))?
        .clone();
    let known: &[&str] = match what {
        "cis" => &[
            "key",
            "class",
            "name",
            "description",
            "owner",
            "min_up",
            "core",
        ],
        "relationships" => &[
            "key",
            "from",
            "kind",
            "to",
            "note",
            "source",
            "stale",
            "first_seen",
            "last_seen",
        ],
        other => {
            return Err(ServiceError::Invalid(format!(
                "what: expected \"cis\" or \"relationships\" for a CSV body, got {other:?}"
            )));
        }
    };
    if let Some(h) = headers.iter().find(|h| !known.contains(&h.trim())) {
        return Err(ServiceError::Invalid(format!(
            "csv: unknown column {h:?} (expected some of {})",
            known.join(", ")
        )));
    }
    let mut b = Bundle::default();
    for row in r.records() {
        // Lines as an editor numbers them: the reader skips blank lines, and a quoted cell
        // may hold line breaks, so the record count is not the line.
        let row = row.map_err(|e| match e.position() {
            Some(p) => ServiceError::Invalid(format!("csv line {}: {e}", record_line(body, p))),
            None => ServiceError::Invalid(format!("csv: {e}")),
        })?;
        let line = row.position().map_or(0, |p| record_line(body, p));
        let f = |n: &str| csv_field(&headers, &row, n).map(str::to_string);
        if what == "cis" {
            let min_up = match f("min_up") {
                None => None,
                Some(v) => Some(Some(v.parse::<u32>().map_err(|_| {
                    ServiceError::Invalid(format!(
                        "csv line {line}: min_up: {v:?} is not a whole number"
                    ))
                })?)),
            };
            let core = match f("core").as_deref() {
                None => None,
                Some("true") | Some("yes") | Some("1") => Some(true),
                Some("false") | Some("no") | Some("0") => Some(false),
                Some(v) => {
                    return Err(ServiceError::Invalid(format!(
                        "csv line {line}: core: {v:?} is not true or false"
                    )));
                }
            };
            b.cis.push(CiImport {
                key: f("key"),
                first_seen: None,
                last_seen: None,
                ci: CiInput {
                    class: f("class"),
                    name: f("name"),
                    description: f("description"),
                    owner: f("owner"),
                    min_up,
                    core,
                    attributes: None,
                },
            });
        } else {
            b.relationships.push(RelInput {
                from: f("from").unwrap_or_default(),
                kind: f("kind").unwrap_or_default(),
                to: f("to").unwrap_or_default(),
                note: f("note"),
                source: f("source"),
                ..Default::default()
            });
        }
    }
    Ok(b)
}

/// What storage holds of the CIs a bundle names, read in a few batched queries before
/// planning: one query per item made an import of 100,000s of items take hours.
#[derive(Debug, Default)]
struct Known {
    /// (class, name) → (key, manual) of the existing CIs with the names the bundle uses.
    named: HashMap<(String, String), Vec<(String, bool)>>,
    /// Manual fields of the CIs the bundle names by key (those that exist).
    fields: HashMap<String, Value>,
    /// CIs referenced by id that exist.
    ids: HashSet<String>,
}

impl Known {
    async fn read(store: &Store, b: &Bundle) -> Result<Self, ServiceError> {
        let mut names: BTreeSet<String> = BTreeSet::new();
        let mut keys: BTreeSet<String> = BTreeSet::new();
        let mut ids: BTreeSet<String> = BTreeSet::new();
        // CIs to import by class and name: an existing manual one is updated.
        let mut by_name: Vec<(String, String)> = Vec::new();
        for item in &b.cis {
            match (&item.key, &item.ci.name) {
                (Some(k), _) if valid_key(k) => {
                    keys.insert(k.clone());
                }
                (None, Some(n)) => {
                    names.insert(n.trim().to_string());
                    if let Some(c) = &item.ci.class {
                        by_name.push((c.clone(), n.trim().to_string()));
                    }
                }
                _ => {}
            }
        }
        for r in &b.relationships {
            for reference in [&r.from, &r.to] {
                let reference = reference.trim();
                match reference.split_once('/') {
                    Some((_, name)) => names.insert(name.to_string()),
                    None if valid_key(reference) => ids.insert(reference.to_string()),
                    None => false,
                };
            }
        }
        let mut known = Known::default();
        let names: Vec<String> = names.into_iter().collect();
        for (key, class, name, manual) in store.cis_named(&names).await? {
            known
                .named
                .entry((class, name))
                .or_default()
                .push((key, manual));
        }
        for list in known.named.values_mut() {
            list.sort();
        }
        for pair in by_name {
            for (key, manual) in known.named.get(&pair).into_iter().flatten() {
                if *manual {
                    keys.insert(key.clone());
                }
            }
        }
        let keys: Vec<String> = keys.into_iter().collect();
        known.fields = store.cis_manual_fields(&keys).await?.into_iter().collect();
        let ids: Vec<String> = ids.into_iter().collect();
        known.ids = store.existing_cis(&ids).await?.into_iter().collect();
        Ok(known)
    }

    /// Keys of the CIs `class/name` (manual ones only if asked).
    fn named(&self, class: &str, name: &str, manual_only: bool) -> Vec<String> {
        self.named
            .get(&(class.to_string(), name.to_string()))
            .into_iter()
            .flatten()
            .filter(|(_, manual)| *manual || !manual_only)
            .map(|(k, _)| k.clone())
            .collect()
    }
}

/// A relationship of the bundle, validated and resolved to CI keys.
struct Resolved<'a> {
    from: String,
    to: String,
    kind: RelKind,
    input: &'a RelInput,
}

async fn plan(
    rels: &Relationships,
    b: &Bundle,
    dry_run: bool,
    who: &str,
) -> Result<(ImportReport, GraphWrite, IndexEffects), ServiceError> {
    let store = &rels.store;
    let known = Known::read(store, b).await?;
    let now = now_str();
    let mut errors: Vec<String> = Vec::new();
    let mut report = ImportReport {
        dry_run,
        ..Default::default()
    };
    let mut w = GraphWrite::default();
    let mut fx = IndexEffects::default();
    // class/name → key, for references (existing manual CIs and those created here).
    let mut planned: HashMap<(String, String), String> = HashMap::new();
    for (i, item) in b.cis.iter().enumerate() {
        let at = format!("cis[{i}]");
        let creating = item.key.is_none();
        if let Err(ServiceError::Invalid(e)) = validate_ci(&at, &item.ci, false) {
            errors.push(e);
            continue;
        }
        let existing_key = match &item.key {
            Some(k) if !valid_key(k) => {
                errors.push(format!("{at}.key: {k:?} is not a CI id"));
                continue;
            }
            Some(k) => Some(k.clone()),
            None => {
                let (Some(class), Some(name)) = (item.ci.class.as_deref(), item.ci.name.as_deref())
                else {
                    errors.push(format!("{at}: give a key, or a class and a name"));
                    continue;
                };
                if let Some(k) = planned.get(&(class.to_string(), name.trim().to_string())) {
                    errors.push(format!("{at}: {class}/{name} appears twice (first as {k})"));
                    continue;
                }
                match known.named(class, name.trim(), true).as_slice() {
                    [] => None,
                    [one] => Some(one.clone()),
                    many => {
                        errors.push(format!(
                            "{at}: {} manual CIs are {class}/{name}; give a key",
                            many.len()
                        ));
                        continue;
                    }
                }
            }
        };
        match existing_key {
            None => {
                if creating && let Err(ServiceError::Invalid(e)) = validate_ci(&at, &item.ci, true)
                {
                    errors.push(e);
                    continue;
                }
                let key = uuid::Uuid::new_v4().simple().to_string();
                let class = item.ci.class.clone().unwrap_or_default();
                let name = item.ci.name.clone().unwrap_or_default().trim().to_string();
                planned.insert((class.clone(), name.clone()), key.clone());
                report.cis_created.push(format!("{class}/{name}"));
                w.new_cis.push((key.clone(), manual_ci_doc(&item.ci, &now)));
                w.history.push(HistoryRecord {
                    ci: key.clone(),
                    at: now.clone(),
                    source: who.to_string(),
                    attribute: "ci".into(),
                    old: Value::Null,
                    new: json!("created"),
                });
                fx.nodes.push((
                    key,
                    node_attrs(
                        &class,
                        item.ci.min_up.flatten(),
                        item.ci.core.unwrap_or(false),
                    ),
                ));
            }
            Some(key) => {
                let Some(current) = known.fields.get(&key) else {
                    errors.push(format!("{at}.key: no CI with id {key}"));
                    continue;
                };
                if let Some(class) = &item.ci.class
                    && current.get("class").and_then(Value::as_str) != Some(class.as_str())
                {
                    errors.push(format!("{at}.class: CI {key} is not a {class}"));
                    continue;
                }
                let discovered =
                    current.get("identified_by").and_then(Value::as_str) != Some("manual");
                let mut input = item.ci.clone();
                input.class = None;
                let changes = match ci_changes(current, &input, discovered) {
                    Ok(c) => c,
                    Err(ServiceError::Invalid(e)) => {
                        errors.push(format!("{at}.{e}"));
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                if let (Some(c), Some(n)) = (
                    current.get("class").and_then(Value::as_str),
                    current.get("name").and_then(Value::as_str),
                ) {
                    planned.insert((c.to_string(), n.to_string()), key.clone());
                }
                if changes.is_empty() {
                    report.cis_unchanged += 1;
                    continue;
                }
                report.cis_updated.push(key.clone());
                let mut after = current.clone();
                if let Value::Object(m) = &mut after {
                    m.extend(changes.clone());
                }
                w.history
                    .extend(ci_history(&key, current, &changes, &now, who));
                w.ci_updates.push((key.clone(), Value::Object(changes)));
                fx.nodes.push((key, attrs_of(&after)));
            }
        }
    }
    let mut seen_triples: HashMap<(String, String, RelKind), usize> = HashMap::new();
    let mut resolved: Vec<Resolved> = Vec::new();
    for (i, r) in b.relationships.iter().enumerate() {
        let at = format!("relationships[{i}]");
        if r.source.as_deref() == Some("discovered") {
            report.relationships_skipped += 1;
            continue;
        }
        let kind = match parse_kind(&format!("{at}.kind"), &r.kind) {
            Ok(k) => k,
            Err(ServiceError::Invalid(e)) => {
                errors.push(e);
                continue;
            }
            Err(e) => return Err(e),
        };
        if let Err(ServiceError::Invalid(e)) = check_note(&format!("{at}.note"), &r.note) {
            errors.push(e);
            continue;
        }
        let mut ends = Vec::new();
        for (field, reference) in [("from", &r.from), ("to", &r.to)] {
            match reference_key(&known, &planned, reference) {
                Ok(k) => ends.push(k),
                Err(e) => errors.push(format!("{at}.{field}: {e}")),
            }
        }
        let [from, to] = ends.as_slice() else {
            continue;
        };
        if from == to {
            errors.push(format!("{at}.to: a CI cannot be related to itself"));
            continue;
        }
        if let Some(first) = seen_triples.insert((from.clone(), to.clone(), kind), i) {
            errors.push(format!("{at}: same relationship as relationships[{first}]"));
            continue;
        }
        resolved.push(Resolved {
            from: from.clone(),
            to: to.clone(),
            kind,
            input: r,
        });
    }
    if !errors.is_empty() {
        let n = errors.len();
        errors.truncate(100);
        return Err(ServiceError::Invalid(format!(
            "{n} error{} (nothing imported): {}",
            if n == 1 { "" } else { "s" },
            errors.join("; ")
        )));
    }
    // A manual relationship always carries impact, so on one instance the index knows every
    // triple that may have one: only those are read. Several instances read them all (another
    // may have written one the index has not heard of yet).
    let froms: Vec<String> = {
        let g = rels.graph();
        let mut froms: BTreeSet<&str> = BTreeSet::new();
        for r in &resolved {
            if store.is_remote() || g.multiplicity(&r.from, &r.to, r.kind) > 0 {
                froms.insert(&r.from);
            }
        }
        froms.into_iter().map(str::to_string).collect()
    };
    let mut existing: HashMap<(String, String, String), RelationshipRecord> = HashMap::new();
    for e in store.manual_relationships_from(&froms).await? {
        existing.insert((e.from.clone(), e.to.clone(), e.kind.clone()), e);
    }
    for Resolved {
        from,
        to,
        kind,
        input: r,
    } in resolved
    {
        let label = format!("{from} -{}-> {to}", kind.as_str());
        match existing.remove(&(from.clone(), to.clone(), kind.as_str().to_string())) {
            None => {
                let rec = manual_record(&from, &to, kind, r.note.clone(), None, &now);
                w.history.extend(history_rows(None, Some(&rec), &now, who));
                fx.add.push((from, to, kind));
                w.new_rels.push(rec);
                report.relationships_created.push(label);
            }
            Some(e) => {
                let note = r.note.clone().filter(|n| !n.trim().is_empty());
                if note == e.note || r.note.is_none() {
                    report.relationships_unchanged += 1;
                } else {
                    let mut after: RelationshipRecord = e.clone();
                    after.note = note;
                    w.history
                        .extend(history_rows(Some(&e), Some(&after), &now, who));
                    w.upserts.push(after);
                    report.relationships_updated.push(label);
                }
            }
        }
    }
    Ok((report, w, fx))
}

/// A CI reference: an id, or `class/name` (a manual CI, one created by this import, or any
/// CI of that class with that unique name).
fn reference_key(
    known: &Known,
    planned: &HashMap<(String, String), String>,
    r: &str,
) -> Result<String, String> {
    let r = r.trim();
    if r.is_empty() || r.len() > 300 {
        return Err("expected a CI id or class/name".into());
    }
    if let Some((class, name)) = r.split_once('/') {
        if let Some(k) = planned.get(&(class.to_string(), name.to_string())) {
            return Ok(k.clone());
        }
        return match known.named(class, name, false).as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(format!("no CI {class}/{name}")),
            many => Err(format!("{} CIs are {class}/{name}; use an id", many.len())),
        };
    }
    if valid_key(r) && known.ids.contains(r) {
        return Ok(r.to_string());
    }
    Err(format!("no CI with id {r:?} (use an id or class/name)"))
}

/// What an export holds: manual CIs (as stored) and relationships.
#[derive(Debug, Default)]
pub struct Export {
    pub cis: Vec<Value>,
    pub relationships: Vec<RelationshipRecord>,
}

impl Relationships {
    /// Imports a bundle: validated whole, then written in one transaction, or (with
    /// `dry_run`) only reported. `max_items` bounds CIs and relationships together.
    pub async fn import(
        &self,
        bundle: &Bundle,
        dry_run: bool,
        max_items: usize,
        who: &str,
    ) -> Result<ImportReport, ServiceError> {
        if bundle.cis.len() + bundle.relationships.len() > max_items {
            return Err(ServiceError::Invalid(format!(
                "body: at most {max_items} CIs and relationships per import (limits.max_list_items)"
            )));
        }
        // Planned outside the write lock (a dry run needs no lock at all), so a large import
        // does not hold up manual edits and discovery while it looks CIs up. If anything was
        // written meanwhile, the plan is made again under the lock.
        if dry_run {
            return Ok(plan(self, bundle, true, who).await?.0);
        }
        let seen = self.write_generation().await;
        let first = plan(self, bundle, false, who).await?;
        let mut lock = self.write.lock().await;
        let current = *lock == seen;
        *lock += 1;
        let (report, write, effects) = if current {
            first
        } else {
            plan(self, bundle, false, who).await?
        };
        if !write.is_empty() {
            self.store.apply_relationships(&write).await?;
            self.apply_effects(effects);
        }
        drop(lock);
        Ok(report)
    }

    /// Manual CIs and relationships for an export; `what` is `cis`, `relationships` or both
    /// (None).
    pub async fn export(&self, what: Option<&str>) -> Result<Export, ServiceError> {
        if !matches!(what, None | Some("cis") | Some("relationships")) {
            return Err(ServiceError::Invalid(
                "what: expected \"cis\" or \"relationships\"".into(),
            ));
        }
        let cis = if what != Some("relationships") {
            self.store.manual_cis().await?
        } else {
            Vec::new()
        };
        let relationships = if what != Some("cis") {
            self.store.all_relationships().await?
        } else {
            Vec::new()
        };
        Ok(Export { cis, relationships })
    }
}

#[cfg(test)]
mod proptests;
