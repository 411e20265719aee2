use super::*;
use crate::config::RelationshipsConfig;
use crate::domain::discovery::edge_key;
use crate::storage::NewCi;

fn desired(key: &str, evidence: Value) -> DiscoveredEdge {
    DiscoveredEdge {
        key: key.into(),
        from: "a".into(),
        to: "b".into(),
        kind: RelKind::ConnectedTo,
        discovered_by: "lldp",
        evidence,
    }
}

const T0: &str = "2026-11-01T00:00:00.000Z";
const T1: &str = "2026-11-01T00:30:00.000Z";
const T2: &str = "2026-11-01T02:00:00.000Z";

#[test]
fn a_new_edge_is_created_with_history_on_both_ends_and_enters_the_index() {
    let plan = plan_discovered(
        &HashMap::new(),
        &[desired("k", json!({"from_port": "ge-0/0/1"}))],
        T0,
        T0,
    );
    assert_eq!(plan.upserts.len(), 1);
    assert_eq!(plan.upserts[0].first_seen, T0);
    let ends: Vec<&str> = plan.history.iter().map(|h| h.ci.as_str()).collect();
    assert_eq!(ends, vec!["a", "b"]);
    assert_eq!(
        plan.index_add,
        vec![("a".to_string(), "b".to_string(), RelKind::ConnectedTo)]
    );
}

#[test]
fn an_unchanged_edge_is_refreshed_only_when_its_last_seen_is_old() {
    let first = plan_discovered(&HashMap::new(), &[desired("k", json!({}))], T0, T0);
    let existing: HashMap<_, _> = first
        .upserts
        .into_iter()
        .map(|r| (r.key.clone(), r))
        .collect();
    // Seen again 30 min later with a 1 h refresh: nothing to write.
    let again = plan_discovered(&existing, &[desired("k", json!({}))], T1, T0);
    assert_eq!(again, Plan::default());
    // Two hours later: last_seen moves, no history, no index change.
    let later = plan_discovered(&existing, &[desired("k", json!({}))], T2, T1);
    assert_eq!(later.upserts.len(), 1);
    assert_eq!(later.upserts[0].last_seen, T2);
    assert_eq!(later.upserts[0].first_seen, T0);
    assert!(later.history.is_empty() && later.index_add.is_empty());
}

#[test]
fn changed_evidence_is_history_and_a_stale_edge_comes_back_into_the_index() {
    let first = plan_discovered(&HashMap::new(), &[desired("k", json!({"p": 1}))], T0, T0);
    let mut existing: HashMap<_, _> = first
        .upserts
        .into_iter()
        .map(|r| (r.key.clone(), r))
        .collect();
    let moved = plan_discovered(&existing, &[desired("k", json!({"p": 2}))], T1, T0);
    assert_eq!(moved.history.len(), 2);
    assert!(moved.index_add.is_empty());
    if let Some(e) = existing.get_mut("k") {
        e.stale = true;
        e.stale_since = Some(T1.into());
    }
    let back = plan_discovered(&existing, &[desired("k", json!({"p": 1}))], T2, T1);
    assert_eq!(back.index_add.len(), 1);
    assert!(!back.upserts[0].stale);
    assert_eq!(back.history[0].old["stale"], json!(true));
}

#[test]
fn a_second_protocol_seeing_the_same_link_adds_to_discovered_by_without_history() {
    let first = plan_discovered(&HashMap::new(), &[desired("k", json!({}))], T0, T0);
    let existing: HashMap<_, _> = first
        .upserts
        .into_iter()
        .map(|r| (r.key.clone(), r))
        .collect();
    let mut cdp = desired("k", json!({}));
    cdp.discovered_by = "cdp";
    let plan = plan_discovered(&existing, &[cdp], T1, T0);
    assert_eq!(plan.upserts[0].discovered_by, vec!["cdp", "lldp"]);
    assert!(plan.history.is_empty());
}

#[test]
fn a_link_in_both_the_lldp_and_cdp_tables_of_one_poll_is_one_edge_discovered_by_both() {
    let mut cdp = desired("k", json!({}));
    cdp.discovered_by = "cdp";
    let plan = plan_discovered(&HashMap::new(), &[desired("k", json!({})), cdp], T0, T0);
    assert_eq!(plan.upserts.len(), 1);
    assert_eq!(plan.upserts[0].discovered_by, vec!["cdp", "lldp"]);
    assert_eq!(plan.history.len(), 2);
}

#[test]
fn edge_keys_depend_on_every_part_and_on_the_kind() {
    let a = edge_key(RelKind::DependsOn, &["x", "y"]);
    assert_eq!(a.len(), 32);
    assert_ne!(a, edge_key(RelKind::RunsOn, &["x", "y"]));
    assert_ne!(a, edge_key(RelKind::DependsOn, &["xy"]));
    assert_eq!(a, edge_key(RelKind::DependsOn, &["x", "y"]));
}

async fn store_with(cis: &[&str]) -> Store {
    let store = Store::memory().await.expect("memory");
    let w = GraphWrite {
        cis: cis
            .iter()
            .map(|k| {
                (
                    k.to_string(),
                    NewCi::service(k.to_string(), T0, Vec::new(), json!({})),
                )
            })
            .collect(),
        ..Default::default()
    };
    store.apply_relationships(&w).await.expect("cis");
    store
}

#[tokio::test]
async fn an_edge_not_observed_for_stale_after_goes_stale_and_leaves_the_index_but_manual_ones_stay()
{
    let store = store_with(&["a", "b", "c"]).await;
    let rels = loaded(&store).await;
    rels.upsert_discovered(GraphWrite::default(), &[desired("k", json!({}))])
        .await
        .expect("discovered");
    let manual = crate::storage::RelationshipRecord {
        key: "m".into(),
        from: "c".into(),
        to: "a".into(),
        kind: "depends_on".into(),
        source: "manual".into(),
        discovered_by: vec![],
        first_seen: T0.into(),
        last_seen: T0.into(),
        evidence: json!({}),
        stale: false,
        stale_since: None,
        note: None,
    };
    rels.write_manual(
        GraphWrite {
            upserts: vec![manual],
            ..Default::default()
        },
        IndexEffects {
            add: vec![("c".into(), "a".into(), RelKind::DependsOn)],
            ..Default::default()
        },
    )
    .await
    .expect("manual");
    assert_eq!(rels.graph().edge_count(), 2);
    assert_eq!(rels.sweep().await.expect("sweep"), 0, "seen just now");
    // Back-date the discovered edge's last observation past stale_after_secs.
    let mut old = store.relationship("k").await.expect("read").expect("edge");
    old.last_seen = T0.into();
    store
        .apply_relationships(&GraphWrite {
            upserts: vec![old],
            ..Default::default()
        })
        .await
        .expect("backdate");
    assert_eq!(rels.sweep().await.expect("sweep"), 1);
    let k = store.relationship("k").await.expect("read").expect("kept");
    assert!(k.stale && k.stale_since.is_some());
    assert_eq!(
        rels.graph().edges().len(),
        1,
        "only the manual edge carries impact"
    );
    assert!(rels.check().await.expect("check").consistent);
    let h = store.history("a", None, None, 10).await.expect("history");
    assert!(
        h.iter()
            .any(|r| r.attribute == "relationship" && r.new["stale"] == json!(true))
    );
    // Seen again: back in the index, not stale.
    rels.upsert_discovered(GraphWrite::default(), &[desired("k", json!({}))])
        .await
        .expect("again");
    assert_eq!(rels.graph().edge_count(), 2);
    assert!(
        !store
            .relationship("k")
            .await
            .expect("read")
            .expect("edge")
            .stale
    );
}

/// The service loaded from `store` with the default configuration.
async fn loaded(store: &Store) -> Relationships {
    Relationships::load(
        store.clone(),
        RelationshipsConfig::default(),
        Arc::default(),
    )
    .await
    .expect("load")
}

#[tokio::test]
async fn the_check_reports_an_index_that_drifted_from_storage() {
    let store = store_with(&["a", "b"]).await;
    let rels = loaded(&store).await;
    rels.upsert_discovered(GraphWrite::default(), &[desired("k", json!({}))])
        .await
        .expect("discovered");
    assert!(rels.check().await.expect("check").consistent);
    rels.apply_effects(IndexEffects {
        remove: vec![("a".into(), "b".into(), RelKind::ConnectedTo)],
        add: vec![("b".into(), "a".into(), RelKind::DependsOn)],
        ..Default::default()
    });
    let r = rels.check().await.expect("check");
    assert!(!r.consistent);
    assert_eq!(
        r.missing_from_index,
        vec!["a -connected_to-> b ×1".to_string()]
    );
    assert_eq!(r.extra_in_index, vec!["b -depends_on-> a ×1".to_string()]);
    // A restart reloads what storage holds.
    let again = Relationships::load(
        store.clone(),
        RelationshipsConfig::default(),
        Arc::default(),
    )
    .await
    .expect("reload");
    assert!(again.check().await.expect("check").consistent);
}

#[tokio::test]
async fn the_check_reads_differences_again_under_the_lock_and_keeps_only_real_ones() {
    let store = store_with(&["a", "b"]).await;
    let rels = loaded(&store).await;
    rels.upsert_discovered(GraphWrite::default(), &[desired("k", json!({}))])
        .await
        .expect("discovered");
    // The index lost an edge storage holds (a real drift) ...
    rels.apply_effects(IndexEffects {
        remove: vec![("a".into(), "b".into(), RelKind::ConnectedTo)],
        ..Default::default()
    });
    // ... and a read made while a write landed saw an edge and a core CI that are not there
    // (what a write racing the unlocked read looks like).
    let mut diff = IndexDiff {
        edges: vec![
            ("a".into(), "b".into(), RelKind::ConnectedTo, 1, 0),
            ("b".into(), "a".into(), RelKind::DependsOn, 1, 0),
        ],
        attrs: vec!["a".into()],
        ..Default::default()
    };
    rels.confirm(&mut diff).await.expect("confirm");
    assert_eq!(
        diff.edges,
        vec![("a".into(), "b".into(), RelKind::ConnectedTo, 1, 0)]
    );
    assert!(diff.attrs.is_empty(), "{:?}", diff.attrs);
    let r = diff.report();
    assert!(!r.consistent);
    assert_eq!(
        r.missing_from_index,
        vec!["a -connected_to-> b ×1".to_string()]
    );
    assert!(r.extra_in_index.is_empty());
}

#[tokio::test]
async fn imports_planned_at_once_outside_the_lock_create_a_ci_once() {
    let store = store_with(&["a"]).await;
    let rels = loaded(&store).await;
    let bundle: super::import::Bundle = serde_json::from_value(json!({
        "cis": [{"class": "business_service", "name": "payroll", "owner": "hr"}],
        "relationships": [{"from": "business_service/payroll", "to": "a", "kind": "depends_on"}]
    }))
    .expect("bundle");
    // Both plan before either writes; the second finds the lock taken since it planned and
    // plans again, seeing the first one's CI and edge.
    let (one, two) = tokio::join!(
        rels.import(&bundle, false, 100, "user:t"),
        rels.import(&bundle, false, 100, "user:t")
    );
    let (one, two) = (one.expect("first"), two.expect("second"));
    assert_eq!(one.cis_created.len() + two.cis_created.len(), 1);
    assert_eq!(
        one.relationships_created.len() + two.relationships_created.len(),
        1
    );
    let keys = store
        .ci_keys_named("payroll", Some("business_service"), true, None)
        .await
        .expect("lookup");
    assert_eq!(keys.len(), 1);
    assert_eq!(rels.graph().edge_count(), 1);
    // A dry run takes no lock and writes nothing.
    let dry = rels
        .import(&bundle, true, 100, "user:t")
        .await
        .expect("dry");
    assert!(
        dry.cis_created.is_empty() && dry.cis_unchanged == 1,
        "{dry:?}"
    );
}
