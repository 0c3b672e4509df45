//! Download counts of links without a limit, kept in memory and written in batches, with the
//! access history recorded meanwhile (see `history`).
//!
//! A link with a download limit claims each download in the database before the last byte goes
//! out: that is what makes a one-time link one-time. A link without a limit only needs its count
//! for the owner's view, and writing it per download would put a database write and a thread
//! handoff on every request (BENCHMARKS.md, small GETs). Those counts gather here and are written
//! a few times a second in one transaction, and once more when the server stops; a crash loses at
//! most the last fraction of a second of them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::history::PendingHistory;
use crate::Vault;

/// How often pending counts are written.
pub const FLUSH_EVERY: Duration = Duration::from_millis(250);

/// Counts waiting to be written.
#[derive(Debug, Default)]
pub struct PendingCounts {
    // A std Mutex: held for one map update, never across an await.
    pending: Mutex<HashMap<String, u64>>,
}

impl PendingCounts {
    /// Counts one download of `link_id`.
    pub fn count(&self, link_id: &str) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        match pending.get_mut(link_id) {
            Some(n) => *n += 1,
            None => {
                pending.insert(link_id.to_string(), 1);
            }
        }
    }

    /// Writes what is pending, with the access history recorded meanwhile, in one transaction.
    /// On failure both go back, to be tried again.
    pub fn flush(&self, vault: &Vault, history: &PendingHistory) {
        let batch: Vec<(String, u64)> =
            std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner())).into_iter().collect();
        let records = history.take();
        if batch.is_empty() && records.is_empty() {
            return;
        }
        if let Err(e) = vault.record_history(&batch, &records, crate::time::now()) {
            tracing::warn!("cannot write download counts and access history, will retry: {e}");
            history.put_back(records);
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            for (id, n) in batch {
                *pending.entry(id).or_default() += n;
            }
        }
    }
}

/// Writes pending counts (and the history) every [`FLUSH_EVERY`] until the returned handle is
/// dropped or aborted.
///
/// The writing runs on a thread of its own at a lower CPU priority: when the server is saturated
/// (a benchmark, a flood) the requests come first and the batch waits for a quiet moment, so
/// recording costs the hot path next to nothing (BENCHMARKS.md, "History cost"). On a server with
/// any room to spare it is written at once.
pub fn spawn_flusher(
    counts: Arc<PendingCounts>,
    history: Arc<PendingHistory>,
    vault: Arc<Vault>,
) -> tokio::task::JoinHandle<()> {
    // One tick waits at most: ticks missed while a write runs are not queued up.
    let (tick_tx, tick_rx) = std::sync::mpsc::sync_channel::<()>(1);
    let spawned = std::thread::Builder::new().name("sharelock-flush".into()).spawn(move || {
        lower_priority();
        // Ends when the ticking task is aborted (its sender dropped).
        while tick_rx.recv().is_ok() {
            counts.flush(&vault, &history);
        }
    });
    if let Err(e) = spawned {
        tracing::error!("cannot start the writer of download counts and history: {e}");
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(FLUSH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let _ = tick_tx.try_send(());
        }
    })
}

/// Lowers the calling thread's CPU priority (nice 10; on Linux, nice is per thread).
fn lower_priority() {
    // SAFETY: setpriority with PRIO_PROCESS and who = 0 changes the calling thread only, and
    // takes no pointers.
    let lowered = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 10) };
    if lowered != 0 {
        tracing::debug!("cannot lower the writer's priority: {}", std::io::Error::last_os_error());
    }
}
