//! `GET /api/v1/events`: Server-Sent Events of what changes.
//!
//! One task per server, while anyone subscribes ([`Feed::subscribe_to`]), asks the database
//! whether anyone committed a change (`PRAGMA data_version`, so the CLI and the app on the same
//! data dir are seen too), and when someone did, or every [`RESNAPSHOT`] for what time alone
//! changes (expiry), diffs a snapshot against the last one ([`crate::vault::Snapshot`]) and
//! broadcasts the changes. One diff for all subscribers; a subscriber too slow to keep up gets a
//! `resync` event (read everything again) instead of the changes it missed. With no subscriber
//! the task ends, and costs neither a connection nor a snapshot per change.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::{Stream, StreamExt};
use tokio::sync::{Mutex, broadcast, watch};

use super::error::ErrorBody;
use super::{ApiError, Caller};
use crate::http::AppState;
use crate::tokens::Scope;
use crate::vault::{Change, Snapshot};
use crate::{Vault, time};

/// How often the database is asked whether it changed.
const POLL: Duration = Duration::from_millis(250);
/// How often a snapshot is taken even without a change: statuses change with time.
const RESNAPSHOT: Duration = Duration::from_secs(30);
/// Changes kept for a slow subscriber before it must resync.
const BACKLOG: usize = 1024;
/// The keep-alive comment's interval.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The server's event feed: where changes are broadcast, the task that diffs them while anyone
/// listens, and the signal that ends every subscription at shutdown (an open stream would
/// otherwise hold graceful shutdown up).
#[derive(Debug)]
pub struct Feed {
    changes: broadcast::Sender<Arc<Change>>,
    stopping: watch::Sender<bool>,
    /// The watching task, while there are subscribers. Starting it, subscribing and its decision
    /// to end all happen under this lock, so no subscriber joins a task that is ending.
    watching: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Default for Feed {
    fn default() -> Self {
        Feed::with_backlog(BACKLOG)
    }
}

/// What a subscriber is told.
#[derive(Debug, Clone)]
enum Told {
    /// A change.
    Change(Arc<Change>),
    /// It fell behind and missed this many changes: read everything again.
    Resync(u64),
}

impl Feed {
    fn with_backlog(backlog: usize) -> Self {
        Feed { changes: broadcast::channel(backlog).0, stopping: watch::channel(false).0, watching: Mutex::default() }
    }

    /// Subscribes to the changes of `vault`, starting the watching task if none runs. The task's
    /// first snapshot is taken before this returns: every change committed after it is told.
    async fn subscribe_to(self: &Arc<Self>, vault: &Arc<Vault>) -> crate::Result<impl Stream<Item = Told> + use<>> {
        let mut watching = self.watching.lock().await;
        if watching.is_none() {
            let v = vault.clone();
            let started =
                tokio::task::spawn_blocking(move || Ok::<_, crate::Error>((v.watcher()?, v.snapshot(time::now())?)))
                    .await
                    .map_err(|e| crate::Error::io("cannot start the event feed", std::io::Error::other(e)))??;
            *watching = Some(tokio::spawn(watch_changes(self.clone(), vault.clone(), started)));
        }
        Ok(self.subscribe())
    }

    /// What a new subscriber is told from now on, until the server stops.
    fn subscribe(&self) -> impl Stream<Item = Told> + use<> {
        let changes = self.changes.subscribe();
        let stopping = self.stopping.subscribe();
        futures_util::stream::unfold((changes, stopping), |(mut changes, mut stopping)| async move {
            if *stopping.borrow() {
                return None;
            }
            let told = tokio::select! {
                received = changes.recv() => match received {
                    Ok(change) => Told::Change(change),
                    Err(broadcast::error::RecvError::Lagged(missed)) => Told::Resync(missed),
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                _ = stopping.changed() => return None,
            };
            Some((told, (changes, stopping)))
        })
    }

    /// Ends every subscription and the watching task.
    pub fn stop(&self) {
        self.stopping.send_replace(true);
        if let Ok(mut watching) = self.watching.try_lock()
            && let Some(task) = watching.take()
        {
            task.abort();
        }
    }

    /// Whether the task may end: no one listens. Decided under the lock (see `watching`).
    async fn unwatched(&self) -> bool {
        let mut watching = self.watching.lock().await;
        if self.changes.receiver_count() == 0 {
            *watching = None;
            return true;
        }
        false
    }
}

/// Watches the database from the snapshot `started` and broadcasts its changes, until no one
/// listens.
async fn watch_changes(feed: Arc<Feed>, vault: Arc<Vault>, started: (crate::db::ChangeWatcher, Snapshot)) {
    let (mut watcher, mut last) = started;
    let mut taken = Instant::now();
    loop {
        tokio::time::sleep(POLL).await;
        if feed.changes.receiver_count() == 0 && feed.unwatched().await {
            return;
        }
        let due = taken.elapsed() >= RESNAPSHOT;
        let v = vault.clone();
        let looked = tokio::task::spawn_blocking(move || {
            let next = watcher.changed().and_then(|changed| match changed || due {
                true => v.snapshot(time::now()).map(Some),
                false => Ok(None),
            });
            (watcher, next)
        })
        .await;
        let next = match looked {
            Ok((w, next)) => {
                watcher = w;
                match next {
                    Ok(next) => next,
                    Err(e) => {
                        // A busy or briefly unreadable database: try again on the next poll.
                        tracing::warn!("the event feed cannot read the database: {e}");
                        continue;
                    }
                }
            }
            Err(e) => {
                tracing::error!("the event feed stopped: {e}");
                feed.watching.lock().await.take();
                return;
            }
        };
        if let Some(next) = next {
            taken = Instant::now();
            for change in last.changes(&next) {
                // A subscriber gone meanwhile is not an error: the change is simply not told.
                let _ = feed.changes.send(Arc::new(change));
            }
            last = next;
        }
    }
}

/// `GET /events`.
#[utoipa::path(get, path = "/events", responses((status = 200, description = "Server-Sent Events: file.added, upload.received, file.removed, download.counted, link.changed, link.removed, slot.changed, resync", content_type = "text/event-stream"), (status = 401, description = "no usable token", body = ErrorBody), (status = 403, description = "the token lacks the scope", body = ErrorBody)), security(("token" = ["read"])))]
pub(super) async fn events(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    caller.require(Scope::Read)?;
    let stream = app.feed.subscribe_to(&app.vault).await?.map(|told| {
        Ok(match told {
            Told::Change(change) => {
                let data = serde_json::to_string(&*change).unwrap_or_else(|_| "{}".into());
                Event::default().event(change.kind()).data(data)
            }
            Told::Resync(missed) => Event::default().event("resync").data(format!("{{\"missed\":{missed}}}")),
        })
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_subscriber_that_falls_behind_is_told_to_resync_and_goes_on() {
        let feed = Feed::with_backlog(2);
        let mut told = Box::pin(feed.subscribe());
        for n in 0..5 {
            feed.changes.send(Arc::new(Change::FileRemoved { id: format!("f{n}") })).unwrap();
        }
        assert!(matches!(told.next().await, Some(Told::Resync(3))));
        for n in 3..5 {
            let Some(Told::Change(change)) = told.next().await else { panic!("a change") };
            assert!(matches!(&*change, Change::FileRemoved { id } if *id == format!("f{n}")));
        }
        feed.stop();
        assert!(told.next().await.is_none(), "a stopping server ends every subscription");
    }
}
