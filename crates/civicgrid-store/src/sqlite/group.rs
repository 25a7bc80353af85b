//! Group commit: SQLite has one writer at a time and every commit waits for
//! the disk, so the writes that come most often — position batches and new
//! calls — queue for one task that takes every request waiting and commits
//! them together in one transaction: one fsync for many. The calls are
//! filed together too, a few statements for all of them; one refused (a
//! reused idempotency key) leaves the others, and should the database
//! refuse the batch, each is filed again alone in a savepoint of its own.
//! Nobody is answered before the commit, so an acknowledged write is as
//! durable as one committed alone.

use super::LocalFeed;
use super::cases::{Filing, calls_in};
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

/// Where a call's answer goes.
type CallReply = oneshot::Sender<Result<Added<CallRecord>>>;

pub(crate) enum Job {
    Positions(Vec<PositionFix>, oneshot::Sender<Result<()>>),
    Call(Box<CallJob>, CallReply),
}

/// A job with the pool to write it through: the writer holds no pool of
/// its own while idle, so a dropped store closes its database at once.
pub(crate) type Queued = (SqlitePool, Job);

/// The writer's queue. The writer runs on a thread of its own: it is the
/// one serial step of every write, and among the request handlers on the
/// shared runtime each of its steps would wait its turn behind theirs. It
/// ends when the last sender is dropped.
pub(crate) fn start(feed: Arc<LocalFeed>) -> mpsc::Sender<Queued> {
    let (tx, mut rx) = mpsc::channel::<Queued>(4 * GROUP);
    let writer = async move {
        let mut checkpoint = Checkpoints::default();
        while let Some((pool, first)) = rx.recv().await {
            let mut jobs = vec![first];
            while jobs.len() < GROUP {
                match rx.try_recv() {
                    Ok((_, job)) => jobs.push(job),
                    Err(_) => break,
                }
            }
            write(&pool, &feed, jobs).await;
            checkpoint.after_commit(&pool);
        }
    };
    let spawned = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .and_then(|rt| std::thread::Builder::new().name("civicgrid-writer".into()).spawn(move || rt.block_on(writer)));
    if let Err(e) = spawned {
        // Every write is then answered "the database writer has stopped".
        tracing::error!(error = %e, "the database writer could not start");
    }
    tx
}

/// Folds the write-ahead log back into the database beside the writer, not
/// in its way: left to itself, SQLite checkpoints inside the commit that
/// fills the log past `wal_autocheckpoint` pages, and every write queued
/// behind that commit waits for it. A passive checkpoint runs on another
/// connection while the writer goes on, at most one at a time and once per
/// [`Checkpoints::EVERY`]; the automatic checkpoint stays as a backstop.
#[derive(Debug, Default)]
struct Checkpoints {
    last: Option<std::time::Instant>,
    running: Arc<std::sync::atomic::AtomicBool>,
}

impl Checkpoints {
    const EVERY: std::time::Duration = std::time::Duration::from_millis(100);

    fn after_commit(&mut self, pool: &SqlitePool) {
        use std::sync::atomic::Ordering;
        if self.last.is_some_and(|t| t.elapsed() < Self::EVERY) || self.running.swap(true, Ordering::AcqRel) {
            return;
        }
        self.last = Some(std::time::Instant::now());
        let (pool, running) = (pool.clone(), self.running.clone());
        // On the writer's own runtime: it runs while the writer waits for
        // the database, and ends with the writer.
        tokio::spawn(async move {
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&pool).await {
                tracing::warn!(error = %e, "a checkpoint of the write-ahead log failed");
            }
            running.store(false, Ordering::Release);
        });
    }
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
    let mut calls = Vec::new();
    for job in jobs {
        match job {
            Job::Positions(f, reply) => {
                fixes.extend(f);
                moved.push(reply);
            }
            Job::Call(j, reply) => calls.push((j, reply)),
        }
    }
    let (filed, changes) = match file_calls(&mut tx, &calls).await {
        Ok(done) => done,
        Err(e) => return fail_all(moved, calls.into_iter().map(|(_, reply)| reply), &e),
    };
    let filed: Vec<Filed> = calls.into_iter().map(|(_, reply)| reply).zip(filed).collect();
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
            Err(e) => return fail_all(moved, filed.into_iter().map(|(reply, _)| reply), &e.into()),
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
        return fail_all(moved, filed.into_iter().map(|(reply, _)| reply), &e);
    }
    for reply in moved {
        reply.send(positions.as_ref().map(|_| ()).map_err(failed)).ok();
    }
    for (reply, result) in filed {
        reply.send(result).ok();
    }
}

/// Files the calls of a group together in a savepoint; should the
/// database refuse the batch, each alone in a savepoint of its own, so one
/// bad call fails only itself. An answer per call, and the notices.
async fn file_calls(
    tx: &mut sqlx::Transaction<'_, Sqlite>,
    calls: &[(Box<CallJob>, CallReply)],
) -> Result<(Vec<Result<Added<CallRecord>>>, Vec<crate::CaseChange>)> {
    if calls.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let all: Vec<_> = calls
        .iter()
        .map(|(j, _)| {
            let f = Filing { new: &j.case, events: &j.events, summary: &j.summary, key: j.key.as_deref(), by: &j.by };
            (&j.call, f)
        })
        .collect();
    let mut sp = tx.begin().await?;
    match calls_in(&mut sp, &all).await {
        Ok(done) => {
            sp.commit().await?;
            return Ok(done);
        }
        Err(e) => {
            tracing::warn!(error = %e, calls = calls.len(), "a group of calls was refused; filing each alone");
            sp.rollback().await?;
        }
    }
    let mut out = Vec::with_capacity(calls.len());
    let mut changes = Vec::new();
    for one in &all {
        let mut sp = tx.begin().await?;
        match calls_in(&mut sp, std::slice::from_ref(one)).await {
            Ok((mut filed, c)) => {
                sp.commit().await?;
                changes.extend(c);
                out.push(filed.pop().unwrap_or_else(|| Err(StoreError::Write("not filed".into()))));
            }
            Err(e) => {
                sp.rollback().await?;
                out.push(Err(e));
            }
        }
    }
    Ok((out, changes))
}

type Filed = (CallReply, Result<Added<CallRecord>>);

fn fail_all(moved: Vec<oneshot::Sender<Result<()>>>, calls: impl Iterator<Item = CallReply>, e: &StoreError) {
    for reply in moved {
        reply.send(Err(failed(e))).ok();
    }
    for reply in calls {
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
