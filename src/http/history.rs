//! Recording the access history on the request path: handlers push plain [`Record`]s into an
//! in-memory batch (a push under a std mutex, no database), written with the download counts a
//! few times a second in one transaction (see `counts` and `Vault::record_history`).
//!
//! A task started with the server keeps the rest: whether history is on (the `history`
//! setting, read every few seconds, so `sharelock settings history off` stops recording without
//! a restart), the end-of-life notices of links and slots, and the hourly retention purge.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::FromRequestParts;
use http::request::Parts;
use http::{HeaderMap, header};
use smol_str::SmolStr;

use super::AppState;
use super::limit::Peer;
use crate::Vault;
use crate::history::{Happened, Record};

/// The most records held between two flushes: a flood beyond it (more than a few hundred
/// thousand requests a second) is not recorded rather than held in memory.
const MAX_PENDING: usize = 100_000;

/// How often the server looks for links and slots that ended, and rereads the setting.
pub const NOTICE_EVERY: Duration = Duration::from_secs(5);

/// How often rows past the retention are purged.
pub const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// Records waiting to be written.
#[derive(Debug)]
pub struct PendingHistory {
    // Off until the setting is read at start-up: nothing is recorded against the owner's choice.
    enabled: AtomicBool,
    // A std Mutex: held for one push, never across an await.
    pending: Mutex<Vec<Record>>,
}

impl Default for PendingHistory {
    fn default() -> Self {
        PendingHistory { enabled: AtomicBool::new(false), pending: Mutex::new(Vec::new()) }
    }
}

impl PendingHistory {
    /// Whether history is recorded (the `history` setting is not `off`).
    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Turns recording on or off.
    pub fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::Relaxed);
    }

    /// Adds a record to the batch.
    pub fn push(&self, record: Record) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if pending.len() < MAX_PENDING {
            pending.push(record);
        }
    }

    /// Takes what is pending, leaving room for as many: a busy server's batch does not grow
    /// from nothing again, reallocation after reallocation, on the request path.
    pub fn take(&self) -> Vec<Record> {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let room = pending.len();
        std::mem::replace(&mut *pending, Vec::with_capacity(room))
    }

    /// Puts records back after a failed write, ahead of newer ones.
    pub fn put_back(&self, mut records: Vec<Record>) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        records.append(&mut pending);
        records.truncate(MAX_PENDING);
        *pending = records;
    }
}

/// Who sent a request, for the history: its address (as `--trusted-proxy` decides it) and its
/// `User-Agent`. Read only when history is on.
#[derive(Debug, Clone, Default)]
pub struct Client {
    address: Option<IpAddr>,
    user_agent: Option<SmolStr>,
}

impl Client {
    /// The client of a request with these `headers` from `peer`.
    pub fn of(app: &AppState, peer: Option<Peer>, headers: &HeaderMap) -> Client {
        if !app.history.enabled() {
            return Client::default();
        }
        let user_agent =
            headers.get(header::USER_AGENT).map(|v| crate::history::user_agent(&String::from_utf8_lossy(v.as_bytes())));
        Client { address: Some(app.bad_signatures.client(peer, headers)), user_agent }
    }

    /// Records that this client did `what`, now (when history is on).
    pub fn record(&self, app: &AppState, what: Happened) {
        self.record_into(&app.history, what);
    }

    /// Records into `history` that this client did `what`, now (when history is on).
    pub fn record_into(&self, history: &PendingHistory, what: Happened) {
        if history.enabled() {
            let record =
                Record { at: crate::time::now(), client: self.address, user_agent: self.user_agent.clone(), what };
            history.push(record);
        }
    }

    /// Records a refusal of a link (or, without one, of a public file), when it is one the owner
    /// hears of: 403, 410, 429, or a wrong password (never the password itself).
    pub fn refused(&self, app: &AppState, link_id: Option<&str>, file_id: Option<&str>, error: &super::HttpError) {
        if !app.history.enabled() {
            return;
        }
        let (status, reason) = error.summary();
        if matches!(status, 403 | 410 | 429) || matches!(error, super::HttpError::WrongPassword) {
            let what = Happened::Refused {
                link_id: link_id.map(SmolStr::new),
                file_id: file_id.map(SmolStr::new),
                status,
                reason,
            };
            self.record(app, what);
        }
    }
}

impl FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Client::of(app, parts.extensions.get::<Peer>().copied(), &parts.headers))
    }
}

/// Reads the setting, notices ended links and slots every [`NOTICE_EVERY`], and purges old rows
/// at start and every [`PURGE_EVERY`], until the returned handle is aborted.
pub fn spawn_keeper(history: Arc<PendingHistory>, vault: Arc<Vault>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(NOTICE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_purge: Option<tokio::time::Instant> = None;
        loop {
            tick.tick().await;
            let purge = last_purge.is_none_or(|at| at.elapsed() >= PURGE_EVERY);
            if purge {
                last_purge = Some(tokio::time::Instant::now());
            }
            let (history, vault) = (history.clone(), vault.clone());
            let _ = tokio::task::spawn_blocking(move || keep(&history, &vault, purge)).await;
        }
    })
}

/// One round of [`spawn_keeper`].
fn keep(history: &PendingHistory, vault: &Vault, purge: bool) {
    let now = crate::time::now();
    match vault.history_retention() {
        Ok(retention) => history.set_enabled(retention.records()),
        Err(e) => tracing::warn!("cannot read the history setting: {e}"),
    }
    if purge {
        match vault.purge_history(now) {
            Ok(0) => {}
            Ok(n) => tracing::info!("purged {n} access history row(s) past the retention"),
            Err(e) => tracing::warn!("cannot purge the access history: {e}"),
        }
    }
    if let Err(e) = vault.notice_ends(now) {
        tracing::warn!("cannot notice ended links and slots: {e}");
    }
}
