//! What people create, edit and delete: manual CIs (business services, applications,
//! redundancy groups with `min_up`, clusters, PDUs… — what discovery cannot see), the manual
//! attributes of any CI, and manual relationships.
//!
//! Discovered CIs accept only the manual attributes (`description`, `owner`, `core`,
//! `min_up`, `attributes`); their name is discovery's. Discovered relationships cannot be
//! deleted (discovery would bring them back); they go stale when no longer observed. Every
//! change is history on the CIs concerned.

use cmdb_graph::RelKind;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use super::{IndexEffects, Relationships, history_rows, node_attrs};
use crate::error::{ServiceError, check_id};
use crate::storage::{GraphWrite, HistoryRecord, NewCi, RelFilter, RelationshipRecord, now_str};

/// Classes only discovery creates.
pub const DISCOVERED_CLASSES: [&str; 3] = ["host", "network_device", "service"];

/// Which relationships to list.
#[derive(Debug, Default)]
pub struct RelationshipQuery {
    /// depends_on, runs_on, hosted_on, connected_to, powered_by, member_of.
    pub kind: Option<String>,
    /// discovered or manual.
    pub source: Option<String>,
    /// true: only stale edges; false: only live ones.
    pub stale: Option<bool>,
    /// 1–1000 (default 100).
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

/// A page of relationships.
#[derive(Debug, Serialize, ToSchema)]
pub struct RelationshipPage {
    pub items: Vec<RelationshipRecord>,
    pub total: u64,
    pub limit: u32,
    pub offset: u32,
}

pub(crate) fn parse_kind(field: &str, k: &str) -> Result<RelKind, ServiceError> {
    RelKind::parse(k).ok_or_else(|| {
        ServiceError::Invalid(format!(
            "{field}: {k:?} is not a relationship type (depends_on, runs_on, hosted_on, connected_to, powered_by, member_of)"
        ))
    })
}

/// A manual relationship.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRelationship {
    /// Source CI id (the one that depends, runs, is hosted, is a member…).
    pub from: String,
    /// Target CI id.
    pub to: String,
    pub kind: String,
    #[serde(default)]
    pub note: Option<String>,
    /// Free-form evidence (an object).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub evidence: Option<Value>,
}

pub(crate) fn check_note(field: &str, note: &Option<String>) -> Result<(), ServiceError> {
    if note.as_ref().is_some_and(|n| n.len() > 4096) {
        return Err(ServiceError::Invalid(format!(
            "{field}: at most 4096 characters"
        )));
    }
    Ok(())
}

pub(crate) fn check_evidence(field: &str, e: &Option<Value>) -> Result<(), ServiceError> {
    match e {
        None | Some(Value::Object(_)) => {}
        Some(_) => return Err(ServiceError::Invalid(format!("{field}: must be an object"))),
    }
    if e.as_ref().is_some_and(|v| v.to_string().len() > 16_384) {
        return Err(ServiceError::Invalid(format!("{field}: at most 16 KiB")));
    }
    Ok(())
}

/// The record a manual relationship makes (validated by the caller).
pub(crate) fn manual_record(
    from: &str,
    to: &str,
    kind: RelKind,
    note: Option<String>,
    evidence: Option<Value>,
    now: &str,
) -> RelationshipRecord {
    RelationshipRecord {
        key: uuid::Uuid::new_v4().simple().to_string(),
        from: from.into(),
        to: to.into(),
        kind: kind.as_str().into(),
        source: "manual".into(),
        discovered_by: Vec::new(),
        first_seen: now.into(),
        last_seen: now.into(),
        evidence: evidence.unwrap_or_else(|| json!({})),
        stale: false,
        stale_since: None,
        note: note.filter(|n| !n.trim().is_empty()),
    }
}

/// A manual relationship as the service answers it: whether it was created now, or existed.
#[derive(Debug)]
pub struct Upserted {
    pub created: bool,
    pub relationship: RelationshipRecord,
}

/// Editable fields of a relationship.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RelationshipPatch {
    #[serde(default)]
    pub note: Option<String>,
    /// Manual relationships only.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub evidence: Option<Value>,
}

/// A manual CI, or the manual attributes of any CI.
#[derive(Debug, Default, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CiInput {
    /// business_service, application, redundancy_group, cluster, database, pdu, ups,
    /// storage_array, … (lowercase letters and underscores; not host, network_device or
    /// service, which discovery creates). Required to create; cannot be changed.
    #[serde(default)]
    pub class: Option<String>,
    /// Required to create. Discovered CIs keep discovery's name.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub owner: Option<String>,
    /// Redundancy groups: the group fails only when fewer members than this are up.
    /// `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<u32>)]
    pub min_up: Option<Option<u32>>,
    /// A core or gateway CI of the network (reachability is measured to these).
    #[serde(default)]
    pub core: Option<bool>,
    /// Free-form attributes (an object of strings, numbers, booleans).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub attributes: Option<Value>,
}

fn double_option<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<u32>>, D::Error> {
    Option::<u32>::deserialize(d).map(Some)
}

fn text(field: &str, v: &Option<String>, max: usize, required: bool) -> Result<(), ServiceError> {
    match v {
        None if required => Err(ServiceError::Invalid(format!("{field}: required"))),
        Some(s) if s.trim().is_empty() && required => {
            Err(ServiceError::Invalid(format!("{field}: must not be empty")))
        }
        Some(s) if s.len() > max => Err(ServiceError::Invalid(format!(
            "{field}: at most {max} characters"
        ))),
        Some(s) if s.chars().any(char::is_control) => Err(ServiceError::Invalid(format!(
            "{field}: control characters are not allowed"
        ))),
        _ => Ok(()),
    }
}

/// Validates a CI input; `creating` requires class and name. Errors are prefixed by `at`.
pub(crate) fn validate_ci(at: &str, c: &CiInput, creating: bool) -> Result<(), ServiceError> {
    let f = |name: &str| {
        if at.is_empty() {
            name.to_string()
        } else {
            format!("{at}.{name}")
        }
    };
    if creating {
        let class = c.class.as_deref().unwrap_or("");
        if class.is_empty()
            || class.len() > 32
            || !class.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        {
            return Err(ServiceError::Invalid(format!(
                "{}: expected 1 to 32 lowercase letters or underscores, got {class:?}",
                f("class")
            )));
        }
        if DISCOVERED_CLASSES.contains(&class) {
            return Err(ServiceError::Invalid(format!(
                "{}: {class:?} CIs are created by discovery",
                f("class")
            )));
        }
    }
    text(&f("name"), &c.name, 255, creating)?;
    text(&f("description"), &c.description, 4096, false)?;
    text(&f("owner"), &c.owner, 255, false)?;
    if let Some(Some(0)) = c.min_up {
        return Err(ServiceError::Invalid(format!(
            "{}: must be at least 1",
            f("min_up")
        )));
    }
    match &c.attributes {
        None => {}
        Some(Value::Object(m)) => {
            if m.len() > 100 || Value::Object(m.clone()).to_string().len() > 16_384 {
                return Err(ServiceError::Invalid(format!(
                    "{}: at most 100 attributes and 16 KiB",
                    f("attributes")
                )));
            }
            for (k, v) in m {
                if k.is_empty()
                    || k.len() > 64
                    || !(v.is_string() || v.is_number() || v.is_boolean() || v.is_null())
                {
                    return Err(ServiceError::Invalid(format!(
                        "{}.{k}: names of 1 to 64 characters with string, number or boolean values",
                        f("attributes")
                    )));
                }
            }
        }
        Some(_) => {
            return Err(ServiceError::Invalid(format!(
                "{}: must be an object",
                f("attributes")
            )));
        }
    }
    Ok(())
}

/// The document of a new manual CI.
pub(crate) fn manual_ci_doc(c: &CiInput, now: &str) -> NewCi {
    NewCi::manual(
        c.class.clone().unwrap_or_default(),
        c.name
            .as_deref()
            .map(str::trim)
            .unwrap_or_default()
            .to_string(),
        now,
        c.description.clone(),
        c.owner.clone(),
        c.min_up.flatten(),
        c.core.unwrap_or(false),
        c.attributes.clone().unwrap_or_else(|| json!({})),
    )
}

/// The manual fields a patch changes on `current` (a CI document), with their history.
pub(crate) fn ci_changes(
    current: &Value,
    c: &CiInput,
    discovered: bool,
) -> Result<Map<String, Value>, ServiceError> {
    let mut out = Map::new();
    let mut set = |field: &str, v: Value| {
        if current.get(field).unwrap_or(&Value::Null) != &v {
            out.insert(field.to_string(), v);
        }
    };
    if let Some(n) = &c.name {
        if discovered {
            if current.get("name").and_then(Value::as_str) != Some(n.trim()) {
                return Err(ServiceError::Invalid(
                    "name: a discovered CI keeps the name discovery gives it".into(),
                ));
            }
        } else {
            set("name", json!(n.trim()));
        }
    }
    if let Some(d) = &c.description {
        set("description", json!(d));
    }
    if let Some(o) = &c.owner {
        set("owner", json!(o));
    }
    if let Some(m) = c.min_up {
        set("min_up", json!(m));
    }
    if let Some(core) = c.core {
        set("core", json!(core));
    }
    if let Some(a) = &c.attributes {
        set("attributes", a.clone());
    }
    Ok(out)
}

pub(crate) fn ci_history(
    ci: &str,
    current: &Value,
    changes: &Map<String, Value>,
    now: &str,
    source: &str,
) -> Vec<HistoryRecord> {
    changes
        .iter()
        .map(|(field, new)| HistoryRecord {
            ci: ci.to_string(),
            at: now.to_string(),
            source: source.to_string(),
            attribute: field.clone(),
            old: current.get(field).cloned().unwrap_or(Value::Null),
            new: new.clone(),
        })
        .collect()
}

/// A manual CI as created, or a CI as edited.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedCi {
    pub id: String,
    #[schema(value_type = Object)]
    pub ci: Value,
}

/// Index attributes of a CI document.
pub(crate) fn attrs_of(doc: &Value) -> cmdb_graph::NodeAttrs {
    node_attrs(
        doc.get("class").and_then(Value::as_str).unwrap_or(""),
        doc.get("min_up")
            .and_then(Value::as_u64)
            .and_then(|m| u32::try_from(m).ok()),
        doc.get("core").and_then(Value::as_bool).unwrap_or(false),
    )
}

impl Relationships {
    /// A page of relationships.
    pub async fn list_relationships(
        &self,
        q: RelationshipQuery,
    ) -> Result<RelationshipPage, ServiceError> {
        if let Some(k) = &q.kind {
            parse_kind("kind", k)?;
        }
        if let Some(s) = &q.source
            && s != "discovered"
            && s != "manual"
        {
            return Err(ServiceError::Invalid(format!(
                "source: expected \"discovered\" or \"manual\", got {s:?}"
            )));
        }
        let limit = q.limit.unwrap_or(100);
        if !(1..=1000).contains(&limit) {
            return Err(ServiceError::Invalid(
                "limit: must be between 1 and 1000".into(),
            ));
        }
        let f = RelFilter {
            kind: q.kind,
            source: q.source,
            stale: q.stale,
            limit,
            offset: q.offset.unwrap_or(0),
        };
        let (items, total) = self.store.list_relationships(&f).await?;
        Ok(RelationshipPage {
            items,
            total,
            limit,
            offset: f.offset,
        })
    }

    /// One relationship.
    pub async fn relationship(&self, id: &str) -> Result<RelationshipRecord, ServiceError> {
        check_id("id", id, "relationship")?;
        self.stored_relationship(id).await
    }

    /// The stored relationship `id`, or 404.
    async fn stored_relationship(&self, id: &str) -> Result<RelationshipRecord, ServiceError> {
        self.store
            .relationship(id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("no relationship with id {id}")))
    }

    /// The manual fields (and class, name, rule) of CI `id`, or 404.
    async fn manual_fields(&self, id: &str) -> Result<Value, ServiceError> {
        check_id("id", id, "CI")?;
        self.store
            .ci_manual_fields(id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("no CI with id {id}")))
    }

    /// A CI's manual attributes (class, name, identified_by, description, owner, min_up,
    /// core, attributes), for an edit form.
    pub async fn manual_fields_of(&self, id: &str) -> Result<Value, ServiceError> {
        self.manual_fields(id).await
    }

    /// Every relationship of a CI, both directions, stale ones included.
    pub async fn relationships_of(
        &self,
        id: &str,
    ) -> Result<Vec<RelationshipRecord>, ServiceError> {
        self.must_exist(id).await?;
        Ok(self.store.relationships_of(id).await?)
    }

    /// A 400 for a malformed id, a 404 for an unknown CI; reads nothing but the key.
    pub async fn must_exist(&self, id: &str) -> Result<(), ServiceError> {
        check_id("id", id, "CI")?;
        if self
            .store
            .existing_cis(std::slice::from_ref(&id.to_string()))
            .await?
            .is_empty()
        {
            return Err(ServiceError::NotFound(format!("no CI with id {id}")));
        }
        Ok(())
    }

    /// Creates a manual relationship; there is one per (from, kind, to), so creating one that
    /// exists answers the one there is. `who` is the history source.
    pub async fn create_relationship(
        &self,
        n: NewRelationship,
        who: &str,
    ) -> Result<Upserted, ServiceError> {
        check_id("from", &n.from, "CI")?;
        check_id("to", &n.to, "CI")?;
        let kind = parse_kind("kind", &n.kind)?;
        if n.from == n.to {
            return Err(ServiceError::Invalid(
                "to: a CI cannot be related to itself".into(),
            ));
        }
        check_note("note", &n.note)?;
        check_evidence("evidence", &n.evidence)?;
        let exists = self
            .store
            .existing_cis(&[n.from.clone(), n.to.clone()])
            .await?;
        for (field, id) in [("from", &n.from), ("to", &n.to)] {
            if !exists.contains(id) {
                return Err(ServiceError::Invalid(format!(
                    "{field}: no CI with id {id}"
                )));
            }
        }
        self.exclusive(|| async {
            if let Some(existing) = self
                .store
                .manual_relationship(&n.from, &n.to, kind.as_str())
                .await?
            {
                return Ok(Upserted {
                    created: false,
                    relationship: existing,
                });
            }
            let now = now_str();
            let r = manual_record(&n.from, &n.to, kind, n.note, n.evidence, &now);
            self.store
                .apply_relationships(&GraphWrite {
                    upserts: vec![r.clone()],
                    history: history_rows(None, Some(&r), &now, who),
                    ..Default::default()
                })
                .await?;
            self.apply_effects(IndexEffects {
                add: vec![(r.from.clone(), r.to.clone(), kind)],
                ..Default::default()
            });
            Ok(Upserted {
                created: true,
                relationship: r,
            })
        })
        .await
    }

    /// Edits a relationship's note (any) or evidence (manual ones).
    pub async fn edit_relationship(
        &self,
        id: &str,
        p: RelationshipPatch,
        who: &str,
    ) -> Result<RelationshipRecord, ServiceError> {
        check_id("id", id, "relationship")?;
        check_note("note", &p.note)?;
        check_evidence("evidence", &p.evidence)?;
        self.exclusive(|| async {
            let before = self.stored_relationship(id).await?;
            let mut after = before.clone();
            if let Some(n) = p.note {
                after.note = Some(n).filter(|n| !n.trim().is_empty());
            }
            if let Some(e) = p.evidence {
                if before.source != "manual" {
                    return Err(ServiceError::Invalid(
                        "evidence: a discovered relationship's evidence is discovery's".into(),
                    ));
                }
                after.evidence = e;
            }
            if after != before {
                let now = now_str();
                self.store
                    .apply_relationships(&GraphWrite {
                        upserts: vec![after.clone()],
                        history: history_rows(Some(&before), Some(&after), &now, who),
                        ..Default::default()
                    })
                    .await?;
            }
            Ok(after)
        })
        .await
    }

    /// Deletes a manual relationship. Discovered ones are refused: discovery would recreate
    /// them; they go stale when no longer observed.
    pub async fn delete_relationship(&self, id: &str, who: &str) -> Result<(), ServiceError> {
        check_id("id", id, "relationship")?;
        self.exclusive(|| async {
            let before = self.stored_relationship(id).await?;
            if before.source != "manual" {
                return Err(ServiceError::Invalid(format!(
                    "id: relationship {id} was discovered; discovery would bring it back (it goes stale when no longer observed)"
                )));
            }
            let now = now_str();
            self.store
                .apply_relationships(&GraphWrite {
                    deletes: vec![id.to_string()],
                    history: history_rows(Some(&before), None, &now, who),
                    ..Default::default()
                })
                .await?;
            if !before.stale
                && let Some(k) = RelKind::parse(&before.kind)
            {
                self.apply_effects(IndexEffects {
                    remove: vec![(before.from, before.to, k)],
                    ..Default::default()
                });
            }
            Ok(())
        })
        .await
    }

    /// Creates a manual CI.
    pub async fn create_ci(&self, c: CiInput, who: &str) -> Result<CreatedCi, ServiceError> {
        validate_ci("", &c, true)?;
        let now = now_str();
        let key = uuid::Uuid::new_v4().simple().to_string();
        let doc = manual_ci_doc(&c, &now);
        let shown = serde_json::to_value(&doc).map_err(crate::storage::StorageError::from)?;
        let w = GraphWrite {
            cis: vec![(key.clone(), doc)],
            history: vec![HistoryRecord {
                ci: key.clone(),
                at: now.clone(),
                source: who.to_string(),
                attribute: "ci".into(),
                old: Value::Null,
                new: json!("created"),
            }],
            ..Default::default()
        };
        let attrs = node_attrs(
            c.class.as_deref().unwrap_or(""),
            c.min_up.flatten(),
            c.core.unwrap_or(false),
        );
        self.write_manual(
            w,
            IndexEffects {
                nodes: vec![(key.clone(), attrs)],
                ..Default::default()
            },
        )
        .await?;
        Ok(CreatedCi { id: key, ci: shown })
    }

    /// Changes a CI's manual attributes; a manual CI's name too.
    pub async fn edit_ci(
        &self,
        id: &str,
        c: CiInput,
        who: &str,
    ) -> Result<CreatedCi, ServiceError> {
        check_id("id", id, "CI")?;
        if c.class.is_some() {
            return Err(ServiceError::Invalid("class: cannot be changed".into()));
        }
        validate_ci("", &c, false)?;
        self.exclusive(|| async {
            let current = self.manual_fields(id).await?;
            let discovered = current.get("identified_by").and_then(Value::as_str) != Some("manual");
            let changes = ci_changes(&current, &c, discovered)?;
            let mut after = current.clone();
            if let Value::Object(m) = &mut after {
                m.extend(changes.clone());
            }
            if !changes.is_empty() {
                let now = now_str();
                self.store
                    .apply_relationships(&GraphWrite {
                        ci_updates: vec![(id.to_string(), Value::Object(changes.clone()))],
                        history: ci_history(id, &current, &changes, &now, who),
                        ..Default::default()
                    })
                    .await?;
                self.apply_effects(IndexEffects {
                    nodes: vec![(id.to_string(), attrs_of(&after))],
                    ..Default::default()
                });
            }
            Ok(CreatedCi {
                id: id.to_string(),
                ci: after,
            })
        })
        .await
    }

    /// Deletes a manual CI and its relationships. Discovered CIs are refused: they are
    /// marked stale and retired when no longer seen.
    pub async fn delete_ci(&self, id: &str, who: &str) -> Result<(), ServiceError> {
        check_id("id", id, "CI")?;
        self.exclusive(|| async {
            let current = self.manual_fields(id).await?;
            if current.get("identified_by").and_then(Value::as_str) != Some("manual") {
                return Err(ServiceError::Invalid(format!(
                    "id: CI {id} was discovered; it is marked stale when no longer seen"
                )));
            }
            let rels = self.store.relationships_of(id).await?;
            let now = now_str();
            let mut w = GraphWrite {
                deletes: rels.iter().map(|r| r.key.clone()).collect(),
                ci_deletes: vec![id.to_string()],
                ..Default::default()
            };
            let mut effects = IndexEffects {
                drop_nodes: vec![id.to_string()],
                ..Default::default()
            };
            for r in &rels {
                // The history of the other end says the edge went away.
                w.history.extend(
                    history_rows(Some(r), None, &now, who)
                        .into_iter()
                        .filter(|h| h.ci != id),
                );
                if !r.stale
                    && let Some(k) = RelKind::parse(&r.kind)
                {
                    effects.remove.push((r.from.clone(), r.to.clone(), k));
                }
            }
            self.store.apply_relationships(&w).await?;
            self.apply_effects(effects);
            Ok(())
        })
        .await
    }
}
