//! Cases in the store: filed once however often the client retries, events
//! appended in order and never rewritten, one escalation per deadline, and
//! the lists the inboxes and the clock ask for.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

mod common;

use civicgrid_store::{AuditQuery, CaseEventRecord, CaseQuery, CaseSummary, NewCase, StoreError};
use common::{TestDb, code, tester};
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

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
        note: format!("{kind} note"),
        photos: vec![],
        lat: Some(34.005),
        lon: Some(107.005),
    }
}

fn summary(state: &str, deadline: Option<Timestamp>) -> CaseSummary {
    CaseSummary {
        state: state.into(),
        category: None,
        handler_unit: Some("610304003001001".into()),
        step_deadline: deadline,
        escalate_at: deadline,
        escalation: None,
        supervision: false,
        duplicate_of: None,
        merged_into: None,
        closed_at: None,
    }
}

fn new_case(title: &str, lat: f64) -> NewCase {
    NewCase {
        source: "resident_report".into(),
        category: "0101".into(),
        title: title.into(),
        description: "井盖缺失".into(),
        lat,
        lon: 107.005,
        grid: code("610304003001001"),
        reporter_id: None,
    }
}

async fn a_case_is_filed_once_and_its_history_only_grows(db: TestDb) {
    let store = db.loaded().await;
    let t0: Timestamp = "2026-03-02T01:00:00Z".parse().unwrap();
    let deadline = t0 + SignedDuration::from_hours(4);
    let first = event(1, "report", t0);
    let filed = store
        .file_case(&new_case("井盖缺失", 34.005), &first, &summary("reported", Some(deadline)), Some("k1"), &tester())
        .await
        .unwrap();
    assert!(filed.created);
    let case = filed.item;
    assert_eq!(case.number, "610304-20260302-000001");
    assert_eq!(case.grid, "610304003001001");
    assert_eq!(case.summary.step_deadline, Some(deadline));
    // The same request again (a retry) is the same case.
    let retry = store
        .file_case(&new_case("井盖缺失", 34.005), &first, &summary("reported", None), Some("k1"), &tester())
        .await
        .unwrap();
    assert!(!retry.created);
    assert_eq!(retry.item.id, case.id);
    let reused =
        store.file_case(&new_case("别的", 34.005), &first, &summary("reported", None), Some("k1"), &tester()).await;
    assert!(matches!(reused, Err(StoreError::Conflict(_))));
    let second = store
        .file_case(&new_case("路灯不亮", 34.006), &first, &summary("reported", None), None, &tester())
        .await
        .unwrap();
    assert_eq!(second.item.number, "610304-20260302-000002");

    let after = store
        .append_case_event(case.id, &event(2, "file", t0), &summary("filed", None), None, &tester())
        .await
        .unwrap();
    assert_eq!((after.events, after.summary.state.as_str()), (2, "filed"));
    // Two people act on the same version: the second is told to reload.
    let stale =
        store.append_case_event(case.id, &event(2, "void", t0), &summary("voided", None), None, &tester()).await;
    assert!(matches!(stale, Err(StoreError::Conflict(m)) if m.contains("changed meanwhile")));
    let skipped = store.append_case_event(case.id, &event(4, "x", t0), &summary("x", None), None, &tester()).await;
    assert!(matches!(skipped, Err(StoreError::Conflict(_))));
    let history = store.case_events(case.id).await.unwrap();
    assert_eq!(history.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(), ["report", "file"]);
    assert_eq!(history[0].note, "report note");
    // Filing and every event are in the audit log; the chain holds.
    let log = store
        .audit_log(&AuditQuery { target: Some(format!("case:{}", case.id)), limit: 10, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(log.total, 2);
    assert!(matches!(store.verify_audit().await.unwrap(), civicgrid_store::ChainCheck::Intact { .. }));
}

async fn the_clock_escalates_each_deadline_once(db: TestDb) {
    let store = db.loaded().await;
    let t0: Timestamp = "2026-03-02T01:00:00Z".parse().unwrap();
    let deadline = t0 + SignedDuration::from_hours(2);
    let case = store
        .file_case(
            &new_case("占道经营", 34.005),
            &event(1, "report", t0),
            &summary("dispatched", Some(deadline)),
            None,
            &tester(),
        )
        .await
        .unwrap()
        .item;
    let later = deadline + SignedDuration::from_mins(1);
    assert!(store.due_escalations(deadline - SignedDuration::from_mins(1), 10).await.unwrap().is_empty());
    let due = store.due_escalations(later, 10).await.unwrap();
    assert_eq!(due.iter().map(|c| c.id).collect::<Vec<_>>(), [case.id]);
    let mut escalated = summary("dispatched", Some(deadline));
    escalated.escalation = Some("community".into());
    escalated.supervision = true;
    let e = event(2, "escalate", later);
    store.append_case_event(case.id, &e, &escalated, Some((deadline, "community")), &tester()).await.unwrap();
    assert!(store.due_escalations(later, 10).await.unwrap().is_empty(), "not due again for the same deadline");
    // A second node racing for the same deadline is refused.
    let again = store
        .append_case_event(case.id, &event(3, "escalate", later), &escalated, Some((deadline, "community")), &tester())
        .await;
    assert!(matches!(again, Err(StoreError::Conflict(m)) if m.contains("already escalated")));
    // A new deadline can escalate again, one level up.
    let next = later + SignedDuration::from_hours(8);
    store
        .append_case_event(case.id, &event(3, "extend", later), &summary("dispatched", Some(next)), None, &tester())
        .await
        .unwrap();
    let due = store.due_escalations(next + SignedDuration::from_secs(1), 10).await.unwrap();
    assert_eq!(due.len(), 1);
    let c = store.case(case.id).await.unwrap().unwrap();
    assert_eq!(c.events, 3);
}

async fn inboxes_filter_by_unit_state_overdue_and_distance(db: TestDb) {
    let store = db.loaded().await;
    let t0: Timestamp = "2026-03-02T01:00:00Z".parse().unwrap();
    for (i, (state, lat)) in [("filed", 34.005), ("dispatched", 34.0051), ("closed", 34.0052)].iter().enumerate() {
        let mut s = summary(state, Some(t0 + SignedDuration::from_hours(i as i64)));
        if *state == "closed" {
            s.closed_at = Some(t0);
        }
        store
            .file_case(&new_case(&format!("案{i}"), *lat), &event(1, "report", t0), &s, None, &tester())
            .await
            .unwrap();
    }
    let q = |f: fn(&mut CaseQuery)| {
        let mut q = CaseQuery { limit: 50, ..Default::default() };
        f(&mut q);
        q
    };
    assert_eq!(store.cases(&q(|q| q.within = Some(code("610304003001")))).await.unwrap().total, 3);
    assert_eq!(store.cases(&q(|q| q.within = Some(code("610304003002")))).await.unwrap().total, 0);
    assert_eq!(store.cases(&q(|q| q.states = vec!["filed".into(), "dispatched".into()])).await.unwrap().total, 2);
    let overdue = store.cases(&q(|q| q.overdue_at = Some("2026-03-02T01:30:00Z".parse().unwrap()))).await.unwrap();
    assert_eq!(overdue.items.iter().map(|c| c.title.as_str()).collect::<Vec<_>>(), ["案0"]);
    let near = store
        .cases(&q(|q| {
            q.near = Some((34.005, 107.005, 15.0));
            q.open_only = true;
        }))
        .await
        .unwrap();
    assert_eq!(near.items.len(), 2, "within 15 m and still open: 案0 and 案1, not the closed 案2");
}

/// The indicators page through a unit's histories: every case once, in id
/// order, each with all its events in seq order, and only those created
/// before the end of the period.
async fn histories_come_a_page_of_cases_at_a_time(db: TestDb) {
    let store = db.loaded().await;
    let t0: Timestamp = "2026-03-02T01:00:00Z".parse().unwrap();
    let mut ids = Vec::new();
    for i in 0..5_i64 {
        let at = t0 + SignedDuration::from_hours(i);
        let (new, first, by) = (new_case(&format!("案{i}"), 34.005), event(1, "report", at), tester());
        let c = store.file_case(&new, &first, &summary("filed", None), None, &by).await.unwrap().item;
        for seq in 2..=(i + 1) {
            let e = event(seq, "note", at + SignedDuration::from_mins(seq));
            store.append_case_event(c.id, &e, &summary("filed", None), None, &tester()).await.unwrap();
        }
        ids.push(c.id);
    }
    let street = code("610304003");
    let before = t0 + SignedDuration::from_hours(4); // the fifth case is later
    let mut seen = Vec::new();
    let mut after = 0;
    loop {
        let page = store.case_histories(&street, before, after, 2).await.unwrap();
        assert!(page.len() <= 2);
        let Some((last, _)) = page.last() else { break };
        after = *last;
        for (id, events) in page {
            let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
            let n = ids.iter().position(|i| *i == id).unwrap() as i64 + 1;
            assert_eq!(seqs, (1..=n).collect::<Vec<_>>(), "case {id}");
            seen.push(id);
        }
    }
    assert_eq!(seen, ids[..4]);
    assert!(store.case_histories(&code("610304003002"), before, 0, 10).await.unwrap().is_empty(), "another community");
}

/// Two nodes on one database act at the same moment: filings get numbers of
/// their own, a retried filing reaches one case, of two steps on the same
/// version one lands and the other is told to reload, and the audit chain
/// holds through writes racing for its head.
async fn two_nodes_acting_at_once_never_write_over_each_other(db: TestDb) {
    let a = db.loaded().await;
    let b = db.open().await;
    let by = tester();
    let t0: Timestamp = "2026-03-02T01:00:00Z".parse().unwrap();
    let first = event(1, "report", t0);
    let reported = summary("reported", None);
    let (manhole, light) = (new_case("井盖缺失", 34.005), new_case("路灯不亮", 34.006));
    let (x, y) = tokio::join!(
        a.file_case(&manhole, &first, &reported, None, &by),
        b.file_case(&light, &first, &reported, None, &by),
    );
    let (x, y) = (x.unwrap().item, y.unwrap().item);
    let mut numbers = [x.number.as_str(), y.number.as_str()];
    numbers.sort();
    assert_eq!(numbers, ["610304-20260302-000001", "610304-20260302-000002"]);

    let stall = new_case("占道经营", 34.007);
    let (r, s) = tokio::join!(
        a.file_case(&stall, &first, &reported, Some("retry"), &by),
        b.file_case(&stall, &first, &reported, Some("retry"), &by),
    );
    let (r, s) = (r.unwrap(), s.unwrap());
    assert_eq!(r.item.id, s.item.id, "a request sent to both nodes is one case");
    assert!(r.created != s.created, "created once");

    let (file, void) = (event(2, "file", t0), event(2, "void", t0));
    let (filed, voided) = (summary("filed", None), summary("voided", None));
    let (p, q) = tokio::join!(
        a.append_case_event(x.id, &file, &filed, None, &by),
        b.append_case_event(x.id, &void, &voided, None, &by),
    );
    let landed: Vec<&str> =
        [(&p, "filed"), (&q, "voided")].iter().filter(|(r, _)| r.is_ok()).map(|(_, s)| *s).collect();
    assert_eq!(landed.len(), 1, "one step lands: {p:?} {q:?}");
    for r in [&p, &q] {
        if let Err(e) = r {
            assert!(matches!(e, StoreError::Conflict(m) if m.contains("changed meanwhile")), "{e:?}");
        }
    }
    let case = b.case(x.id).await.unwrap().unwrap();
    assert_eq!((case.events, case.summary.state.as_str()), (2, landed[0]));
    assert_eq!(a.case_events(x.id).await.unwrap().len(), 2);

    let mut writes = tokio::task::JoinSet::new();
    for i in 0..8 {
        let node = if i % 2 == 0 { a.clone() } else { b.clone() };
        writes.spawn(async move { node.set_setting(&format!("k{i}"), "v", &tester()).await });
    }
    while let Some(done) = writes.join_next().await {
        done.unwrap().unwrap();
    }
    // The import, three filings, one step and eight settings.
    assert_eq!(a.verify_audit().await.unwrap(), civicgrid_store::ChainCheck::Intact { entries: 13 });
}

on_each_backend!(
    a_case_is_filed_once_and_its_history_only_grows,
    the_clock_escalates_each_deadline_once,
    inboxes_filter_by_unit_state_overdue_and_distance,
    histories_come_a_page_of_cases_at_a_time,
    two_nodes_acting_at_once_never_write_over_each_other,
);
