//! The live feed on PostgreSQL: every case write notifies
//! `civicgrid_case_events` inside its transaction (PostgreSQL delivers the
//! notification on commit, to every session listening, in commit order), and
//! each node keeps one listening connection that relays what it hears to the
//! node's receivers. The writing node hears its own events that way too:
//! there is one path for all of them, so nothing is told twice. When the
//! listening connection drops, the relay connects again and reads what it
//! missed from the log by id.

use super::cases::changes_after;
use crate::feed::CHANNEL;
use crate::{CaseChange, CaseFeed, Result};
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use std::time::Duration;
use tokio::sync::broadcast::Sender;
use tokio::task::JoinHandle;

/// The relay of one store, started by its first receiver and stopped when
/// the store is dropped.
#[derive(Debug)]
pub(crate) struct PgFeed {
    sender: Sender<CaseChange>,
    relay: tokio::sync::Mutex<Option<JoinHandle<()>>>,
}

impl Drop for PgFeed {
    fn drop(&mut self) {
        if let Some(relay) = self.relay.get_mut().take() {
            relay.abort();
        }
    }
}

impl PgFeed {
    pub(crate) fn new() -> Self {
        PgFeed { sender: crate::feed::channel(), relay: tokio::sync::Mutex::new(None) }
    }

    /// A receiver of every change committed from now on. The first one
    /// starts the relay and returns once it listens, so nothing committed
    /// after this returns is missed.
    pub(crate) async fn subscribe(&self, pool: &PgPool) -> Result<CaseFeed> {
        let mut relay = self.relay.lock().await;
        let receiver = self.sender.subscribe();
        if relay.as_ref().is_none_or(JoinHandle::is_finished) {
            // Whatever commits between reading the last id and listening is
            // read from the log first thing.
            let last = last_id(pool).await?;
            let listener = listen(pool).await?;
            *relay = Some(tokio::spawn(run(listener, pool.clone(), self.sender.clone(), last)));
        }
        Ok(receiver)
    }
}

async fn listen(pool: &PgPool) -> Result<PgListener> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

async fn last_id(pool: &PgPool) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM case_events").fetch_one(pool).await?)
}

/// How long to wait before trying the database again, after `failures` in a row.
fn backoff(failures: u32) -> Duration {
    Duration::from_millis(200u64.saturating_mul(1 << failures.min(6)))
}

/// Relays notifications to the node's receivers, in order, each once; after
/// a lost connection, listens again and reads from the log what came
/// meanwhile. `last` is the id of the last change relayed.
async fn run(mut listener: PgListener, pool: PgPool, sender: Sender<CaseChange>, mut last: i64) {
    catch_up(&pool, &sender, &mut last).await;
    loop {
        match listener.try_recv().await {
            Ok(Some(n)) => match serde_json::from_str::<CaseChange>(n.payload()) {
                Ok(change) if change.id > last => {
                    last = change.id;
                    // Nobody listening is fine.
                    sender.send(change).ok();
                }
                // Already read from the log after a reconnection.
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "a case notification does not parse; ignored"),
            },
            // The connection dropped and the listener has connected and
            // listens again: what was committed meanwhile is in the log.
            Ok(None) => catch_up(&pool, &sender, &mut last).await,
            Err(e) => {
                tracing::warn!(error = %e, "the case feed lost its database connection; reconnecting");
                let mut failures = 0;
                listener = loop {
                    tokio::time::sleep(backoff(failures)).await;
                    match listen(&pool).await {
                        Ok(l) => break l,
                        Err(e) => {
                            failures += 1;
                            tracing::warn!(error = %e, "the case feed cannot listen yet");
                        }
                    }
                };
                catch_up(&pool, &sender, &mut last).await;
            }
        }
    }
}

/// Relays the changes after `last` from the log, retrying until the
/// database answers.
async fn catch_up(pool: &PgPool, sender: &Sender<CaseChange>, last: &mut i64) {
    const PAGE: u32 = 1000;
    let mut failures = 0;
    loop {
        match changes_after(pool, *last, PAGE).await {
            Ok(changes) => {
                let full = changes.len() == PAGE as usize;
                for change in changes {
                    *last = change.id;
                    sender.send(change).ok();
                }
                if !full {
                    return;
                }
                failures = 0;
            }
            Err(e) => {
                tracing::warn!(error = %e, "the case feed cannot read what it missed yet");
                tokio::time::sleep(backoff(failures)).await;
                failures += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn backoff_grows_to_a_bound() {
        assert_eq!(super::backoff(0).as_millis(), 200);
        assert_eq!(super::backoff(1).as_millis(), 400);
        assert_eq!(super::backoff(6), super::backoff(60));
        assert!(super::backoff(60).as_secs() <= 13);
    }
}
