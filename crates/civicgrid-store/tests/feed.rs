//! The live feed of case changes: every filing and appended event told once,
//! in the order of commits, with ids a receiver can resume from; on
//! PostgreSQL to every node, the writing one included, and nothing lost when
//! a node's listening connection drops. And the clock's side of escalation:
//! a stale clock cannot escalate a case that moved on, and an escalation time
//! the clock may do nothing about can be dropped.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

mod common;

use civicgrid_store::{AuditQuery, CaseChange, CaseEventRecord, CaseFeed, CaseSummary, NewCase, StoreError};
use common::{TestDb, code, tester};
use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use std::time::Duration;
use tokio::sync::broadcast::error::TryRecvError;

fn event(seq: i64, kind: &str, at: Timestamp) -> CaseEventRecord {
    CaseEventRecord {
        seq,
        at,
        actor_id: None,
        actor: "李网格".into(),
        role: "grid_worker".into(),
        unit: "610304003001001".into(),
        kind: kind.into(),
        data: json!({ "kind": kind }),
        note: String::new(),
        photos: vec![],
        lat: None,
        lon: None,
    }
}

fn summary(state: &str, escalate_at: Option<Timestamp>) -> CaseSummary {
    CaseSummary {
        state: state.into(),
        category: None,
        handler_unit: None,
        step_deadline: escalate_at,
        escalate_at,
        escalation: None,
        supervision: false,
        duplicate_of: None,
        merged_into: None,
        closed_at: None,
    }
}

fn new_case(title: &str, grid: &str) -> NewCase {
    NewCase {
        source: "resident_report".into(),
        category: "0101".into(),
        title: title.into(),
        description: String::new(),
        lat: 34.005,
        lon: 107.005,
        grid: code(grid),
        reporter_id: None,
    }
}

fn t0() -> Timestamp {
    "2026-03-02T01:00:00Z".parse().unwrap()
}

/// The next `n` notices, waiting up to ten seconds for each.
async fn next(feed: &mut CaseFeed, n: usize) -> Vec<CaseChange> {
    let mut got = Vec::new();
    for _ in 0..n {
        let c = tokio::time::timeout(Duration::from_secs(10), feed.recv()).await;
        got.push(c.unwrap_or_else(|_| panic!("only {} notices of {n} arrived: {got:?}", got.len())).unwrap());
    }
    got
}

/// Nothing more arrives for a while.
async fn quiet(feed: &mut CaseFeed) {
    tokio::time::sleep(Duration::from_millis(300)).await;
    match feed.try_recv() {
        Err(TryRecvError::Empty) => {}
        other => panic!("a notice too many: {other:?}"),
    }
}

fn kinds(changes: &[CaseChange]) -> Vec<(i64, &str, Option<&str>)> {
    changes.iter().map(|c| (c.seq, c.kind.as_str(), c.state.as_deref())).collect()
}

async fn every_event_is_told_once_in_order_and_can_be_read_again(db: TestDb) {
    let store = db.loaded().await;
    let mut feed = store.watch_cases().await.unwrap();
    let filed = store
        .file_case(
            &new_case("井盖缺失", "610304003001001"),
            &event(1, "report", t0()),
            &summary("reported", None),
            Some("k"),
            &tester(),
        )
        .await
        .unwrap()
        .item;
    // A retried filing is the same case: nothing new to tell.
    store
        .file_case(
            &new_case("井盖缺失", "610304003001001"),
            &event(1, "report", t0()),
            &summary("reported", None),
            Some("k"),
            &tester(),
        )
        .await
        .unwrap();
    store.append_case_event(filed.id, &event(2, "file", t0()), &summary("filed", None), None, &tester()).await.unwrap();
    // A refused append tells nothing.
    let stale =
        store.append_case_event(filed.id, &event(2, "void", t0()), &summary("voided", None), None, &tester()).await;
    assert!(matches!(stale, Err(StoreError::Conflict(_))));
    let got = next(&mut feed, 2).await;
    quiet(&mut feed).await;
    assert_eq!(kinds(&got), [(1, "report", Some("reported")), (2, "file", Some("filed"))]);
    for c in &got {
        assert_eq!(
            (c.case_id, c.number.as_str(), c.grid.as_str()),
            (filed.id, filed.number.as_str(), "610304003001001")
        );
        assert_eq!(c.at, t0());
    }
    assert!(got[0].id < got[1].id, "ids increase: {got:?}");

    // What a receiver missed is read from the log by id.
    assert_eq!(store.case_changes(0, 10).await.unwrap(), got);
    assert_eq!(store.case_changes(got[0].id, 10).await.unwrap(), got[1..]);
    assert_eq!(store.case_changes(got[0].id - 1, 1).await.unwrap(), got[..1]);
    assert!(store.case_changes(got[1].id, 10).await.unwrap().is_empty());

    // Writers at once: the notices come in the order of their ids, each once.
    let mut writes = tokio::task::JoinSet::new();
    for i in 0..6 {
        let s = store.clone();
        writes.spawn(async move {
            let new = new_case(&format!("并发{i}"), "610304003002001");
            s.file_case(&new, &event(1, "report", t0()), &summary("reported", None), None, &tester()).await
        });
    }
    while let Some(done) = writes.join_next().await {
        done.unwrap().unwrap();
    }
    let got = next(&mut feed, 6).await;
    quiet(&mut feed).await;
    assert!(got.windows(2).all(|w| w[0].id < w[1].id), "in id order: {got:?}");
    assert_eq!(store.case_changes(got[0].id - 1, 100).await.unwrap(), got);
}

/// Two nodes on one PostgreSQL database: each hears every event, its own
/// included, exactly once; a node whose listening connection is cut reads
/// what it missed from the log when it is back.
#[cfg_attr(not(civicgrid_test_postgres), allow(dead_code, reason = "PostgreSQL only"))]
async fn every_node_hears_every_event_once(db: TestDb) {
    let a = db.loaded().await;
    let b = db.open().await;
    let (mut on_a, mut on_b) = (a.watch_cases().await.unwrap(), b.watch_cases().await.unwrap());
    let case = a
        .file_case(
            &new_case("路灯不亮", "610304003001002"),
            &event(1, "report", t0()),
            &summary("reported", None),
            None,
            &tester(),
        )
        .await
        .unwrap()
        .item;
    b.append_case_event(case.id, &event(2, "file", t0()), &summary("filed", None), None, &tester()).await.unwrap();
    let (got_a, got_b) = (next(&mut on_a, 2).await, next(&mut on_b, 2).await);
    quiet(&mut on_a).await;
    quiet(&mut on_b).await;
    assert_eq!(got_a, got_b);
    assert_eq!(kinds(&got_a), [(1, "report", Some("reported")), (2, "file", Some("filed"))]);

    // Cut both nodes' listening connections and write meanwhile.
    let cut = db
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND query LIKE 'LISTEN%'",
        )
        .await
        .unwrap();
    assert_eq!(cut, 2, "each node listens on one connection");
    for seq in 3..6 {
        let s = if seq % 2 == 0 { &a } else { &b };
        s.append_case_event(case.id, &event(seq, "comment", t0()), &summary("filed", None), None, &tester())
            .await
            .unwrap();
    }
    let (got_a, got_b) = (next(&mut on_a, 3).await, next(&mut on_b, 3).await);
    quiet(&mut on_a).await;
    quiet(&mut on_b).await;
    assert_eq!(got_a, got_b);
    assert_eq!(got_a.iter().map(|c| c.seq).collect::<Vec<_>>(), [3, 4, 5]);
}

/// The clock read a case, then someone acted on it: the escalation for the
/// time it read is refused, whichever node's clock it is, and an escalation
/// time the clock may do nothing about is dropped once, audited.
async fn escalation_is_claimed_only_for_the_time_the_case_is_due(db: TestDb) {
    let store = db.loaded().await;
    let due = t0() + SignedDuration::from_hours(2);
    let case = store
        .file_case(
            &new_case("占道经营", "610304003001001"),
            &event(1, "report", t0()),
            &summary("filed", Some(due)),
            None,
            &tester(),
        )
        .await
        .unwrap()
        .item;
    let read = store.due_escalations(due + SignedDuration::from_mins(1), 10).await.unwrap();
    assert_eq!(read.len(), 1);
    // Meanwhile a person dispatches the case: its next deadline is later.
    let later = due + SignedDuration::from_hours(8);
    store
        .append_case_event(case.id, &event(2, "dispatch", t0()), &summary("dispatched", Some(later)), None, &tester())
        .await
        .unwrap();
    let stale = store
        .append_case_event(
            case.id,
            &event(3, "escalated", due),
            &summary("dispatched", Some(later)),
            Some((due, "community")),
            &tester(),
        )
        .await;
    assert!(matches!(&stale, Err(StoreError::Conflict(m)) if m.contains("no longer due")), "{stale:?}");
    assert_eq!(store.case(case.id).await.unwrap().unwrap().events, 2);

    // Dropping an escalation time that is no longer the case's, or on a case
    // that has moved on since the clock read it, changes nothing.
    assert!(!store.drop_escalation(case.id, 2, due, &tester()).await.unwrap());
    assert!(!store.drop_escalation(case.id, 1, later, &tester()).await.unwrap());
    assert!(store.drop_escalation(case.id, 2, later, &tester()).await.unwrap());
    assert!(!store.drop_escalation(case.id, 2, later, &tester()).await.unwrap(), "once");
    let c = store.case(case.id).await.unwrap().unwrap();
    assert_eq!((c.summary.escalate_at, c.summary.step_deadline), (None, Some(later)), "the deadline stays");
    assert!(store.due_escalations(later + SignedDuration::from_hours(100), 10).await.unwrap().is_empty());
    let log = store
        .audit_log(&AuditQuery { target: Some(format!("case:{}", case.id)), limit: 10, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(log.items.iter().filter(|e| e.action == "drop_escalation").count(), 1);
    assert!(matches!(store.verify_audit().await.unwrap(), civicgrid_store::ChainCheck::Intact { .. }));
}

on_each_backend!(
    every_event_is_told_once_in_order_and_can_be_read_again,
    escalation_is_claimed_only_for_the_time_the_case_is_due
);

/// Only PostgreSQL has other nodes: one process serves a SQLite file.
#[cfg(civicgrid_test_postgres)]
#[tokio::test]
async fn postgres_every_node_hears_every_event_once() {
    every_node_hears_every_event_once(TestDb::postgres().await).await
}
