//! One-click calls in the store, on each backend: responders registered,
//! linked and moved; a call filed with its case in one transaction and
//! idempotently; each step of a call all or nothing; exactly one owner when
//! responders race to accept, from one store or from two (two nodes); and
//! the calls whose offers lapsed found by the dispatcher.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

mod common;

use civicgrid_store::{
    CallQuery, CallUpdate, CaseEventRecord, CaseSummary, NewCall, NewCase, NewOffer, NewResponder, PositionFix, Store,
    StoreError,
};
use common::{TestDb, code, tester};
use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use std::sync::Arc;

fn event(seq: i64, kind: &str, at: Timestamp) -> CaseEventRecord {
    CaseEventRecord {
        seq,
        at,
        actor_id: None,
        actor: "system:dispatcher".into(),
        role: "operator".into(),
        unit: "610304".into(),
        kind: kind.into(),
        data: json!({ "type": kind }),
        note: String::new(),
        photos: vec![],
        lat: None,
        lon: None,
    }
}

fn summary(state: &str) -> CaseSummary {
    CaseSummary {
        state: state.into(),
        category: Some("1702".into()),
        handler_unit: Some("610304003002001".into()),
        step_deadline: None,
        escalate_at: None,
        escalation: None,
        supervision: false,
        duplicate_of: None,
        merged_into: None,
        closed_at: None,
    }
}

fn new_case() -> NewCase {
    NewCase {
        source: "one_click_call".into(),
        category: "1702".into(),
        title: "一键呼叫：跌倒求助".into(),
        description: String::new(),
        lat: 34.015,
        lon: 107.005,
        grid: code("610304003002001"),
        reporter_id: None,
    }
}

async fn with_responders(db: &TestDb) -> Arc<dyn Store> {
    let store = db.loaded().await;
    let rs = [
        NewResponder {
            id: 1,
            team: "grid_worker".into(),
            skills: vec!["first_aid".into(), "elderly_care".into()],
            grid: code("610304003002001"),
            on_duty: false,
        },
        NewResponder {
            id: 2,
            team: "street_rider".into(),
            skills: vec![],
            grid: code("610304003002002"),
            on_duty: false,
        },
    ];
    assert_eq!(store.add_responders(&rs, &tester()).await.unwrap(), 2);
    store
}

async fn open(store: &dyn Store, key: &str) -> civicgrid_store::CallRecord {
    let at = Timestamp::now();
    let events = [
        (event(1, "report", at), "reported".into()),
        (event(2, "file", at), "filed".into()),
        (event(3, "dispatch", at), "dispatched".into()),
    ];
    let call = NewCall {
        kind: "fall".into(),
        device: None,
        located_by: "position".into(),
        address: None,
        give_up_at: at + SignedDuration::from_secs(180),
        offers: vec![],
    };
    store.open_call(&call, &new_case(), &events, &summary("dispatched"), Some(key), &tester()).await.unwrap().item
}

fn offer(responder_id: i64, secs: i64) -> NewOffer {
    NewOffer {
        responder_id,
        distance_m: 100 * responder_id,
        walk_s: 80 * responder_id,
        expires_at: Timestamp::now() + SignedDuration::from_secs(secs),
    }
}

/// The offers of a first round, with their case events.
fn first_round(call: &civicgrid_store::CallRecord, secs: i64) -> CallUpdate {
    let at = Timestamp::now();
    CallUpdate {
        call_id: call.id,
        round: Some((0, 1)),
        offers: vec![offer(1, secs), offer(2, secs)],
        events: vec![(event(4, "respond", at), "dispatched".into()), (event(5, "respond", at), "dispatched".into())],
        summary: Some(summary("dispatched")),
        ..CallUpdate::default()
    }
}

fn accept(call_id: i64, responder: i64, seq: i64) -> CallUpdate {
    let at = Timestamp::now();
    CallUpdate {
        call_id,
        from: vec!["dispatching".into(), "alarmed".into()],
        state: Some("accepted".into()),
        claim: Some(responder),
        answers: vec![(responder, "accepted".into())],
        close_others: Some("withdrawn".into()),
        events: vec![(event(seq, "accept", at), "handling".into())],
        summary: Some(summary("handling")),
        ..CallUpdate::default()
    }
}

async fn responders_are_registered_linked_and_moved(db: TestDb) {
    let store = with_responders(&db).await;
    let all = store.responders(None).await.unwrap();
    assert_eq!(
        all.iter().map(|r| (r.id, r.name.as_str(), r.team.as_str())).collect::<Vec<_>>(),
        [(1, "李网格", "grid_worker"), (2, "王骑手", "street_rider")]
    );
    assert_eq!(all[0].skills, ["first_aid", "elderly_care"]);
    assert!(!all[0].on_duty && all[0].lat.is_none());
    let before = Timestamp::now();
    assert!(store.set_duty(2, true, &tester()).await.unwrap());
    assert!(!store.set_duty(99, true, &tester()).await.unwrap(), "no such responder");
    let at = Timestamp::now();
    store
        .record_positions(&[
            PositionFix { responder_id: 1, lat: 34.015, lon: 107.005, at },
            PositionFix { responder_id: 2, lat: 34.016, lon: 107.006, at },
        ])
        .await
        .unwrap();
    let changed = store.responders(Some(before)).await.unwrap();
    assert_eq!(changed.len(), 2, "both changed since");
    assert_eq!((changed[1].lat, changed[1].lon, changed[1].on_duty), (Some(34.016), Some(107.006), true));
    assert_eq!(changed[1].located_at.map(|t| t.as_millisecond()), Some(at.as_millisecond()));
    let user = store.user_by_name("admin").await.unwrap().map(|u| u.id);
    if let Some(user) = user {
        assert!(store.link_responder(1, Some(user), &tester()).await.unwrap());
        assert_eq!(store.responder_of_user(user).await.unwrap().unwrap().id, 1);
    }
    // A reopened store reads the same: positions are durable.
    drop(store);
    let again = db.open().await;
    assert_eq!(again.responders(None).await.unwrap()[1].lat, Some(34.016));
}

async fn a_call_is_filed_with_its_case_once_per_key(db: TestDb) {
    let store = with_responders(&db).await;
    let call = open(store.as_ref(), "press").await;
    assert_eq!((call.state.as_str(), call.round, call.kind.as_str()), ("dispatching", 0, "fall"));
    let case = store.case(call.case_id).await.unwrap().unwrap();
    assert_eq!((case.source.as_str(), case.summary.state.as_str(), case.events), ("one_click_call", "dispatched", 3));
    let again = open(store.as_ref(), "press").await;
    assert_eq!(again.id, call.id, "the same key makes one call");
    assert_eq!(store.calls(&CallQuery { open_only: true, ..CallQuery::default() }).await.unwrap().len(), 1);
    // Another case's key is not a call's.
    let first = event(1, "report", Timestamp::now());
    store.file_case(&new_case(), &first, &summary("reported"), Some("case-key"), &tester()).await.unwrap();
    let call = NewCall {
        kind: "fall".into(),
        device: None,
        located_by: "position".into(),
        address: None,
        give_up_at: Timestamp::now(),
        offers: vec![],
    };
    let events = [(first, "reported".to_owned())];
    let e = store.open_call(&call, &new_case(), &events, &summary("reported"), Some("case-key"), &tester()).await;
    assert!(matches!(e, Err(StoreError::Conflict(_))), "{e:?}");
}

async fn calls_at_once_are_each_filed_once(db: TestDb) {
    let store = with_responders(&db).await;
    // Many presses at once: those with one key make one call, the others one
    // each; a key sent with two different calls (every fourth press) files
    // the first and refuses the other, leaving the presses beside it alone.
    let presses = (0..48).map(|i| {
        let store = store.clone();
        let key = match i {
            40.. => "mixed".to_owned(),
            _ if i % 2 == 0 => "same".to_owned(),
            _ => format!("own-{i}"),
        };
        tokio::spawn(async move {
            let at = Timestamp::now();
            let events = [(event(1, "report", at), "reported".to_owned())];
            let call = NewCall {
                kind: "fall".into(),
                device: None,
                located_by: "position".into(),
                address: None,
                give_up_at: at,
                offers: vec![offer(1, 45)],
            };
            let mut case = new_case();
            case.description = if i >= 40 && i % 2 == 1 { "另一个呼叫".into() } else { String::new() };
            let added = store.open_call(&call, &case, &events, &summary("reported"), Some(&key), &tester()).await;
            (key, case.description, added)
        })
    });
    let mut same = Vec::new();
    let mut created = 0;
    let mut mixed = Vec::new();
    for p in presses {
        let (key, description, added) = p.await.unwrap();
        if key == "mixed" {
            mixed.push((description, added));
            continue;
        }
        let added = added.unwrap();
        created += usize::from(added.created);
        if key == "same" {
            same.push(added.item.id);
        }
        assert_eq!(added.item.offers.len(), 1, "filed with its first offer");
        assert_eq!(added.item.round, 1);
    }
    assert_eq!(created, 21, "20 own keys and one shared");
    same.dedup();
    assert_eq!(same.len(), 1, "one call for the shared key: {same:?}");
    let winner = mixed.iter().find(|(_, a)| a.as_ref().is_ok_and(|a| a.created)).map(|(d, _)| d.clone());
    let winner = winner.expect("one of the mixed presses filed its call");
    let mut ids = std::collections::BTreeSet::new();
    for (description, added) in &mixed {
        match added {
            Ok(a) => {
                assert_eq!(*description, winner, "only the first request's twins are answered");
                ids.insert(a.item.id);
            }
            Err(e) => {
                assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
                assert_ne!(*description, winner);
            }
        }
    }
    assert_eq!(ids.len(), 1, "one call for the mixed key");
    let all = store.calls(&CallQuery { open_only: true, ..CallQuery::default() }).await.unwrap();
    assert_eq!(all.len(), 22);
    let numbers: std::collections::BTreeSet<i64> = all.iter().map(|c| c.case_id).collect();
    assert_eq!(numbers.len(), 22);
    // Positions sent at once all land, the latest of each responder kept.
    let t0 = Timestamp::now();
    let moves = (0..20).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            let at = t0 + SignedDuration::from_millis(i);
            let fix = |id| PositionFix { responder_id: id, lat: 34.011 + i as f64 * 1e-5, lon: 107.005, at };
            store.record_positions(&[fix(1), fix(2)]).await.unwrap();
        })
    });
    for m in moves {
        m.await.unwrap();
    }
    for r in store.responders(None).await.unwrap() {
        assert_eq!(
            r.located_at.map(|t| t.as_millisecond()),
            Some((t0 + SignedDuration::from_millis(19)).as_millisecond())
        );
    }
}

async fn a_step_is_all_or_nothing(db: TestDb) {
    let store = with_responders(&db).await;
    let call = open(store.as_ref(), "k").await;
    let after = store.update_call(&first_round(&call, 45), &tester()).await.unwrap();
    assert_eq!(after.round, 1);
    assert_eq!(
        after.offers.iter().map(|o| (o.responder_id, o.state.as_str())).collect::<Vec<_>>(),
        [(1, "offered"), (2, "offered")]
    );
    // The same round again (another node read round 0 too) is refused whole.
    let e = store.update_call(&first_round(&call, 45), &tester()).await;
    assert!(matches!(e, Err(StoreError::Conflict(_))), "{e:?}");
    assert_eq!(store.case(call.case_id).await.unwrap().unwrap().events, 5, "no event of the refused step");
    // An answer for an offer that is not out is refused, with its events.
    let bad = CallUpdate {
        call_id: call.id,
        answers: vec![(3, "declined".into())],
        events: vec![(event(6, "respond", Timestamp::now()), "dispatched".into())],
        summary: Some(summary("dispatched")),
        ..CallUpdate::default()
    };
    assert!(matches!(store.update_call(&bad, &tester()).await, Err(StoreError::Conflict(_))));
    assert_eq!(store.case(call.case_id).await.unwrap().unwrap().events, 5);
    // Events out of sequence are refused, with the call's rows.
    let mut late = accept(call.id, 1, 9);
    late.events[0].0.seq = 9;
    assert!(matches!(store.update_call(&late, &tester()).await, Err(StoreError::Conflict(_))));
    assert_eq!(store.call(call.id).await.unwrap().unwrap().owner, None);
}

async fn exactly_one_of_many_racing_accepts_owns_the_call(db: TestDb) {
    let store = with_responders(&db).await;
    // Two nodes on PostgreSQL; one store on SQLite (one server per file).
    let other = if db.is_postgres() { db.open().await } else { store.clone() };
    for round in 0..5 {
        let call = open(store.as_ref(), &format!("race-{round}")).await;
        store.update_call(&first_round(&call, 45), &tester()).await.unwrap();
        let (a, b) = (accept(call.id, 1, 6), accept(call.id, 2, 6));
        let by = tester();
        let (ra, rb) = tokio::join!(store.update_call(&a, &by), other.update_call(&b, &by));
        assert_eq!(ra.is_ok() as u8 + rb.is_ok() as u8, 1, "round {round}: {ra:?} {rb:?}");
        let now = store.call(call.id).await.unwrap().unwrap();
        let owner = now.owner.unwrap();
        assert_eq!(
            now.offers.iter().filter(|o| o.state == "accepted").map(|o| o.responder_id).collect::<Vec<_>>(),
            [owner]
        );
        assert!(now.offers.iter().all(|o| o.state != "offered"));
        let case = store.case(call.case_id).await.unwrap().unwrap();
        assert_eq!((case.events, case.summary.state.as_str()), (6, "handling"));
        // Done frees the owner for the next round.
        let done = CallUpdate {
            call_id: call.id,
            from: vec!["accepted".into()],
            state: Some("done".into()),
            release: true,
            ..CallUpdate::default()
        };
        store.update_call(&done, &tester()).await.unwrap();
        let busy = store.responders(None).await.unwrap().iter().filter(|r| r.call_id.is_some()).count();
        assert_eq!(busy, 0);
    }
    // A responder on one call cannot take a second.
    let one = open(store.as_ref(), "one").await;
    let two = open(store.as_ref(), "two").await;
    store.update_call(&first_round(&one, 45), &tester()).await.unwrap();
    store.update_call(&first_round(&two, 45), &tester()).await.unwrap();
    store.update_call(&accept(one.id, 1, 6), &tester()).await.unwrap();
    let e = store.update_call(&accept(two.id, 1, 6), &tester()).await;
    assert!(matches!(e, Err(StoreError::Conflict(_))), "{e:?}");
    assert_eq!(store.call(two.id).await.unwrap().unwrap().owner, None, "nothing of the refused step stays");
}

async fn lapsed_offers_make_a_call_due(db: TestDb) {
    let store = with_responders(&db).await;
    let call = open(store.as_ref(), "due").await;
    let due = |t: Timestamp| {
        let store = store.clone();
        async move { store.calls(&CallQuery { due_at: Some(t), ..CallQuery::default() }).await.unwrap().len() }
    };
    let now = Timestamp::now();
    assert_eq!(due(now).await, 0, "a new call's first round belongs to the request that filed it");
    assert_eq!(due(now + SignedDuration::from_secs(10)).await, 1, "…unless it never made one");
    store.update_call(&first_round(&call, 30), &tester()).await.unwrap();
    assert_eq!(due(now + SignedDuration::from_secs(10)).await, 0, "offers are running");
    assert_eq!(due(now + SignedDuration::from_secs(31)).await, 1, "every offer lapsed");
    let offered = store.calls(&CallQuery { offered_to: Some(2), ..CallQuery::default() }).await.unwrap();
    assert_eq!(offered.len(), 1);
}

on_each_backend!(
    responders_are_registered_linked_and_moved,
    a_call_is_filed_with_its_case_once_per_key,
    calls_at_once_are_each_filed_once,
    a_step_is_all_or_nothing,
    exactly_one_of_many_racing_accepts_owns_the_call,
    lapsed_offers_make_a_call_due,
);
