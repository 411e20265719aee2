use super::*;

/// A store with the feed on, reading its own writes as another instance's (they carry its
/// writer tag, which this handle does not skip).
async fn store() -> Store {
    let mut s = Store::memory().await.expect("store");
    s.enable_cluster_feed().await.expect("feed");
    s.writer = None;
    s
}

#[tokio::test]
async fn an_instance_skips_its_own_writes_and_reads_the_others() {
    let mut s = Store::memory().await.expect("store");
    s.enable_cluster_feed().await.expect("feed");
    let at = s.feed_position("a").await.expect("position");
    s.raw(
        "CREATE ci:mine SET class = 'host', name = 'mine';
         CREATE agent:a1 SET ci = NONE;",
    )
    .await
    .expect("own writes");
    // Another instance's writes carry its own tag (set here for one query).
    s.raw(
        "LET $cmdb_writer = 'other-instance';
         CREATE ci:theirs SET class = 'host', name = 'theirs';
         UPDATE agent:a1 SET ci = ci:theirs;",
    )
    .await
    .expect("their writes");
    // A writer that sets no tag (an operator's script) is read too.
    s.raw("LET $cmdb_writer = NONE; CREATE token:t1 SET role = 'viewer';")
        .await
        .expect("untagged write");
    let mut got = s.cluster_events_since(at).await.expect("feed").events;
    got.sort();
    assert_eq!(
        got,
        vec![
            ClusterEvent::Ci("theirs".into()),
            ClusterEvent::Token("t1".into()),
            ClusterEvent::Agent("a1".into()),
        ]
    );
}

#[tokio::test]
async fn the_feed_reports_what_instances_keep_in_memory_and_nothing_else() {
    let s = store().await;
    let at = s.feed_position("a").await.expect("position");
    s.raw(
        "CREATE ci:h1 SET class = 'host', name = 'h1', last_seen = '1';
         CREATE ci:h2 SET class = 'host', name = 'h2';
         RELATE ci:h1->rel:r1->ci:h2 SET kind = 'depends_on', stale = false;
         CREATE token:t1 SET role = 'viewer';
         CREATE agent:a1 SET ci = NONE;
         INSERT IGNORE INTO package [{ id: 'p1', manager: 'dpkg', name: 'x', version: '1' }];",
    )
    .await
    .expect("writes");
    let page = s.cluster_events_since(at).await.expect("feed");
    let mut got = page.events.clone();
    got.sort();
    assert_eq!(
        got,
        vec![
            ClusterEvent::Ci("h1".into()),
            ClusterEvent::Ci("h2".into()),
            ClusterEvent::Rel("h1".into(), "h2".into(), "depends_on".into()),
            ClusterEvent::Token("t1".into()),
            ClusterEvent::Agent("a1".into()),
            ClusterEvent::Package("p1".into()),
        ]
    );
    assert!(page.newest_at.is_some());
    assert!(!page.more);
    // A last-seen flush and an agent's version fire nothing; a rename, a stale mark, a
    // revocation, a new CI binding and deletions do.
    let at = page.next;
    s.raw(
        "UPDATE ci:h1 SET last_seen = '2'; UPDATE agent:a1 SET last_seen = '2', agent_version = '1.1';
         UPDATE rel:r1 SET last_seen = '2';",
    )
    .await
    .expect("quiet writes");
    let quiet = s.cluster_events_since(at).await.expect("feed");
    assert_eq!(quiet.events, vec![], "quiet writes fire nothing");
    assert_eq!(quiet.next, at, "an empty page leaves the cursor");
    s.raw(
        "UPDATE ci:h2 SET name = 'h2b'; UPDATE rel:r1 SET stale = true; UPDATE token:t1 SET revoked = true;
         UPDATE agent:a1 SET ci = ci:h1; DELETE ci:h1;",
    )
    .await
    .expect("writes");
    let mut got = s.cluster_events_since(at).await.expect("feed").events;
    got.sort();
    got.dedup();
    assert_eq!(
        got,
        vec![
            ClusterEvent::Ci("h1".into()),
            ClusterEvent::Ci("h2".into()),
            ClusterEvent::Rel("h1".into(), "h2".into(), "depends_on".into()),
            ClusterEvent::Token("t1".into()),
            ClusterEvent::Agent("a1".into()),
        ]
    );
}

#[tokio::test]
async fn the_position_is_the_end_of_the_feed() {
    let s = store().await;
    s.raw("CREATE ci:x SET class = 'host', name = 'x';")
        .await
        .expect("w");
    let at = s.feed_position("a").await.expect("position");
    assert_eq!(
        s.cluster_events_since(at).await.expect("feed").events,
        vec![]
    );
    s.raw("CREATE ci:y SET class = 'host', name = 'y';")
        .await
        .expect("w");
    assert_eq!(
        s.cluster_events_since(at).await.expect("feed").events,
        vec![ClusterEvent::Ci("y".into())]
    );
}

#[tokio::test]
async fn a_lease_has_one_holder_until_it_expires() {
    let s = store().await;
    assert!(s.try_lease("sweep", "a", 60).await.expect("lease"));
    assert!(!s.try_lease("sweep", "b", 60).await.expect("lease"));
    assert!(s.try_lease("sweep", "a", 60).await.expect("renew"));
    assert_eq!(
        s.lease_holder("sweep").await.expect("holder").as_deref(),
        Some("a")
    );
    assert!(
        s.try_lease("compaction", "b", 60)
            .await
            .expect("another job")
    );
    // Expired: the next instance takes it over.
    s.raw("UPDATE lease:sweep SET until = time::now() - 1s;")
        .await
        .expect("expire");
    assert_eq!(s.lease_holder("sweep").await.expect("holder"), None);
    assert!(s.try_lease("sweep", "b", 60).await.expect("take over"));
    assert!(!s.try_lease("sweep", "a", 60).await.expect("lost"));
    // Given up by its holder (an instance stopping): free at once; not by another.
    s.release_leases("a").await.expect("not a's");
    assert_eq!(
        s.lease_holder("sweep").await.expect("holder").as_deref(),
        Some("b")
    );
    s.release_leases("b").await.expect("release");
    assert!(s.try_lease("sweep", "c", 60).await.expect("free"));
    assert!(s.try_lease("compaction", "c", 60).await.expect("free too"));
}

#[tokio::test]
async fn a_job_is_due_once_per_period_whoever_holds_its_lease() {
    let s = store().await;
    assert!(s.try_lease("sweep", "a", 60).await.expect("lease"));
    assert!(s.lease_due("sweep", 3600).await.expect("due"), "never ran");
    s.mark_lease_run("sweep", "a").await.expect("ran");
    assert!(!s.lease_due("sweep", 3600).await.expect("due"));
    assert!(s.lease_due("sweep", 0).await.expect("due"));
    // Another holder carries on the schedule.
    s.release_leases("a").await.expect("release");
    assert!(s.try_lease("sweep", "b", 60).await.expect("lease"));
    assert!(!s.lease_due("sweep", 3600).await.expect("due"), "a ran it");
    s.mark_lease_run("sweep", "b").await.expect("ran");
    s.mark_lease_run("sweep", "a")
        .await
        .expect("not a's to mark");
    assert!(!s.lease_due("sweep", 3600).await.expect("due"));
}

#[tokio::test]
async fn identification_locks_are_all_or_nothing_and_expire() {
    let s = store().await;
    let k = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert!(
        s.lock_keys(&k(&["uuid:1", "mac:aa"]), "a", 30)
            .await
            .expect("lock")
    );
    assert!(
        !s.lock_keys(&k(&["mac:aa", "uuid:2"]), "b", 30)
            .await
            .expect("held")
    );
    // Nothing of the failed attempt was taken.
    assert!(s.lock_keys(&k(&["uuid:2"]), "c", 30).await.expect("free"));
    s.unlock_keys(&k(&["uuid:1", "mac:aa"]), "a")
        .await
        .expect("unlock");
    assert!(
        s.lock_keys(&k(&["mac:aa"]), "b", 30)
            .await
            .expect("released")
    );
    s.raw("UPDATE ident_lock SET until = time::now() - 1s;")
        .await
        .expect("expire");
    assert!(
        s.lock_keys(&k(&["mac:aa", "uuid:2"]), "d", 30)
            .await
            .expect("expired")
    );
    // Another holder's unlock leaves them.
    s.unlock_keys(&k(&["mac:aa"]), "b").await.expect("unlock");
    assert!(
        !s.lock_keys(&k(&["mac:aa"]), "e", 30)
            .await
            .expect("still d's")
    );
}

#[tokio::test]
async fn edge_counts_and_rows_are_read_for_the_keys_asked() {
    let s = store().await;
    s.raw(
        "CREATE ci:a SET class = 'host', name = 'a'; CREATE ci:b SET class = 'business_service', name = 'b', min_up = 2;
         RELATE ci:a->rel:r1->ci:b SET kind = 'depends_on', stale = false;
         RELATE ci:a->rel:r2->ci:b SET kind = 'depends_on', stale = false;
         RELATE ci:a->rel:r3->ci:b SET kind = 'runs_on', stale = true;",
    )
    .await
    .expect("writes");
    let mut got = s
        .active_edge_counts(&[
            ("a".into(), "b".into(), "depends_on".into()),
            ("a".into(), "b".into(), "runs_on".into()),
            ("b".into(), "a".into(), "depends_on".into()),
        ])
        .await
        .expect("counts");
    got.sort();
    assert_eq!(
        got,
        vec![
            ("a".into(), "b".into(), "depends_on".into(), 2),
            ("a".into(), "b".into(), "runs_on".into(), 0),
            ("b".into(), "a".into(), "depends_on".into(), 0),
        ]
    );
    let nodes = s
        .graph_nodes_of(&["b".into(), "gone".into()])
        .await
        .expect("nodes");
    assert_eq!(nodes.len(), 1);
    assert_eq!((nodes[0].key.as_str(), nodes[0].min_up), ("b", Some(2)));
    let rows = s
        .directory_rows_of(&["a".into(), "gone".into()])
        .await
        .expect("rows");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].name, "a");
}
