//! Group commit: SQLite has one writer at a time and every commit waits for
//! the disk, so the writes that come most often — position batches and new
//! calls — queue for one task that takes every request waiting and commits
//! them together in one transaction: one fsync for many. Each call is filed
//! in a savepoint of its own, so one refused (a reused idempotency key)
//! leaves the others; nobody is answered before the commit, so an
//! acknowledged write is as durable as one committed alone.

use super::LocalFeed;
use super::cases::call_in;
use crate::{
    Actor, Added, CallRecord, CaseEventRecord, CaseSummary, NewCall, NewCase, PositionFix, Result, StoreError,
};
use sqlx::{Acquire, Sqlite, SqlitePool};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Requests taken into one transaction, at most.
const GROUP: usize = 256;

/// A new call and everything filed with it.
pub(crate) struct CallJob {
    pub call: NewCall,
    pub case: NewCase,
    pub events: Vec<(CaseEventRecord, String)>,
    pub summary: CaseSummary,
    pub key: Option<String>,
    pub by: Actor,
}

pub(crate) enum Job {
    Positions(Vec<PositionFix>, oneshot::Sender<Result<()>>),
    Call(Box<CallJob>, oneshot::Sender<Result<Added<CallRecord>>>),
}

/// A job with the pool to write it through: the writer holds no pool of
/// its own while idle, so a dropped store closes its database at once.
pub(crate) type Queued = (SqlitePool, Job);

/// The writer's queue; the task ends when the last sender is dropped.
pub(crate) fn start(feed: Arc<LocalFeed>) -> mpsc::Sender<Queued> {
    let (tx, mut rx) = mpsc::channel::<Queued>(4 * GROUP);
    tokio::spawn(async move {
        while let Some((pool, first)) = rx.recv().await {
            let mut jobs = vec![first];
            while jobs.len() < GROUP {
                match rx.try_recv() {
                    Ok((_, job)) => jobs.push(job),
                    Err(_) => break,
                }
            }
            write(&pool, &feed, jobs).await;
        }
    });
    tx
}

/// An error for every request of a group whose transaction failed.
fn failed(e: &StoreError) -> StoreError {
    StoreError::Write(e.to_string())
}

async fn write(pool: &SqlitePool, feed: &LocalFeed, jobs: Vec<Job>) {
    let mut tx = match pool.begin_with("BEGIN IMMEDIATE").await {
        Ok(tx) => tx,
        Err(e) => {
            let e = StoreError::from(e);
            for job in jobs {
                match job {
                    Job::Positions(_, reply) => reply.send(Err(failed(&e))).ok(),
                    Job::Call(_, reply) => reply.send(Err(failed(&e))).ok(),
                };
            }
            return;
        }
    };
    let mut fixes = Vec::new();
    let mut moved = Vec::new();
    let mut filed = Vec::new();
    let mut changes = Vec::new();
    for job in jobs {
        match job {
            Job::Positions(f, reply) => {
                fixes.extend(f);
                moved.push(reply);
            }
            Job::Call(j, reply) => {
                let result = async {
                    let mut sp = tx.begin().await?;
                    let done =
                        call_in(&mut sp, &j.call, &j.case, &j.events, &j.summary, j.key.as_deref(), &j.by).await?;
                    sp.commit().await?;
                    Ok(done)
                }
                .await;
                filed.push((
                    reply,
                    result.map(|(added, c)| {
                        changes.extend(c);
                        added
                    }),
                ));
            }
        }
    }
    // Several batches may move one responder: the latest fix wins.
    fixes.sort_by_key(|f| (f.responder_id, f.at));
    fixes.dedup_by(|later, earlier| {
        let same = later.responder_id == earlier.responder_id;
        if same {
            *earlier = *later;
        }
        same
    });
    let positions = if fixes.is_empty() {
        Ok(())
    } else {
        let mut sp = match tx.begin().await {
            Ok(sp) => sp,
            Err(e) => return fail_all(moved, filed, &e.into()),
        };
        match crate::calls::write_positions::<Sqlite>(&mut sp, &fixes).await {
            Ok(()) => sp.commit().await.map_err(StoreError::from),
            Err(e) => {
                sp.rollback().await.ok();
                Err(e)
            }
        }
    };
    if let Err(e) = feed.commit(tx, changes).await {
        return fail_all(moved, filed, &e);
    }
    for reply in moved {
        reply.send(positions.as_ref().map(|_| ()).map_err(failed)).ok();
    }
    for (reply, result) in filed {
        reply.send(result).ok();
    }
}

type Filed = (oneshot::Sender<Result<Added<CallRecord>>>, Result<Added<CallRecord>>);

fn fail_all(moved: Vec<oneshot::Sender<Result<()>>>, filed: Vec<Filed>, e: &StoreError) {
    for reply in moved {
        reply.send(Err(failed(e))).ok();
    }
    for (reply, _) in filed {
        reply.send(Err(failed(e))).ok();
    }
}

/// Sends a job and waits for its answer.
pub(crate) async fn run<T>(
    queue: &mpsc::Sender<Queued>,
    pool: &SqlitePool,
    job: impl FnOnce(oneshot::Sender<Result<T>>) -> Job,
) -> Result<T> {
    let (reply, answer) = oneshot::channel();
    queue
        .send((pool.clone(), job(reply)))
        .await
        .map_err(|_| StoreError::Write("the database writer has stopped".into()))?;
    answer.await.map_err(|_| StoreError::Write("the database writer has stopped".into()))?
}
