//! `GET /api/v1/events`: Server-Sent Events of what changes.
//!
//! One task per server ([`spawn_watcher`]) asks the database whether anyone committed a change
//! (`PRAGMA data_version`, so the CLI and the app on the same data dir are seen too), and when
//! someone did, or every [`RESNAPSHOT`] for what time alone changes (expiry), diffs a snapshot
//! against the last one ([`crate::vault::Snapshot`]) and broadcasts the changes. One diff for all
//! subscribers; a subscriber too slow to keep up gets a `resync` event (read everything again)
//! instead of the changes it missed.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use tokio::sync::{broadcast, watch};

use super::{ApiError, Caller};
use crate::http::AppState;
use crate::tokens::Scope;
use crate::vault::Change;
use crate::{Vault, time};

/// How often the database is asked whether it changed.
const POLL: Duration = Duration::from_millis(250);
/// How often a snapshot is taken even without a change: statuses change with time.
const RESNAPSHOT: Duration = Duration::from_secs(30);
/// Changes kept for a slow subscriber before it must resync.
const BACKLOG: usize = 1024;
/// The keep-alive comment's interval.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The server's event feed: where changes are broadcast, and the signal that ends every
/// subscription at shutdown (an open stream would otherwise hold graceful shutdown up).
#[derive(Debug)]
pub struct Feed {
    changes: broadcast::Sender<Arc<Change>>,
    stopping: watch::Sender<bool>,
}

impl Default for Feed {
    fn default() -> Self {
        Feed { changes: broadcast::channel(BACKLOG).0, stopping: watch::channel(false).0 }
    }
}

impl Feed {
    /// Ends every subscription.
    pub fn stop(&self) {
        self.stopping.send_replace(true);
    }
}

/// Watches the database and broadcasts its changes until aborted.
pub fn spawn_watcher(feed: Arc<Feed>, vault: Arc<Vault>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let v = vault.clone();
        let first =
            tokio::task::spawn_blocking(move || Ok::<_, crate::Error>((v.watcher()?, v.snapshot(time::now())?)));
        let (mut watcher, mut last) = match first.await {
            Ok(Ok(started)) => started,
            Ok(Err(e)) => return tracing::error!("the event feed cannot watch the database: {e}"),
            Err(e) => return tracing::error!("the event feed cannot watch the database: {e}"),
        };
        let mut taken = Instant::now();
        loop {
            tokio::time::sleep(POLL).await;
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
                Err(e) => return tracing::error!("the event feed stopped: {e}"),
            };
            if let Some(next) = next {
                taken = Instant::now();
                for change in last.changes(&next) {
                    // No subscriber is not an error: the change is simply not told.
                    let _ = feed.changes.send(Arc::new(change));
                }
                last = next;
            }
        }
    })
}

/// `GET /events`.
pub(super) async fn events(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    caller.require(Scope::Read)?;
    let changes = app.feed.changes.subscribe();
    let stopping = app.feed.stopping.subscribe();
    let stream = futures_util::stream::unfold((changes, stopping), |(mut changes, mut stopping)| async move {
        if *stopping.borrow() {
            return None;
        }
        let event = tokio::select! {
            received = changes.recv() => match received {
                Ok(change) => {
                    let data = serde_json::to_string(&*change).unwrap_or_else(|_| "{}".into());
                    Event::default().event(change.kind()).data(data)
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    Event::default().event("resync").data(format!("{{\"missed\":{missed}}}"))
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            },
            _ = stopping.changed() => return None,
        };
        Some((Ok(event), (changes, stopping)))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive")))
}
