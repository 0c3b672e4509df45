//! Downloads in flight, so that taking a grant back takes effect on them too.
//!
//! A download checks its link once, when it starts. Without more, revoking the link, rotating
//! the secret or removing the file would stop new downloads but let every started one run to
//! the end (and count). Each streamed download registers here; a watcher re-checks the live ones
//! whenever the database changes (SQLite's `data_version`, so the CLI's changes count too) or
//! the secret is replaced, and aborts those whose grant is gone within [`CHECK_EVERY`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::Vault;
use crate::links::LinkStatus;
use crate::signing::Purpose;

/// How often live downloads are re-checked against the database and the secret.
pub const CHECK_EVERY: Duration = Duration::from_millis(250);

/// What a download was granted by.
#[derive(Debug, Clone)]
pub enum Grant {
    /// A signed link: dies with its signature (secret rotated), its revocation, or its file.
    Link {
        /// The link.
        id: String,
        /// The signature the request carried.
        sig: String,
    },
    /// A public file: dies when the file is removed or made private.
    Public {
        /// The file.
        file_id: String,
    },
    /// The owner's download through the API: dies with its token (revoked) or its file.
    Owner {
        /// The file.
        file_id: String,
        /// The token's id.
        token_id: String,
    },
}

/// One download in flight.
pub struct Transfer {
    grant: Grant,
    aborted: AtomicBool,
    /// Cuts the connection itself, so bytes already queued for a slow client stop too.
    on_abort: Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl Transfer {
    /// Whether the grant was taken back: the body must end with an error, and count nothing.
    pub fn aborted(&self) -> bool {
        self.aborted.load(Ordering::Acquire)
    }

    /// Runs `f` when the transfer is aborted (at once if it already was).
    pub fn on_abort(&self, f: impl FnOnce() + Send + 'static) {
        let mut slot = self.on_abort.lock().unwrap_or_else(|p| p.into_inner());
        if self.aborted() {
            drop(slot);
            f();
        } else {
            *slot = Some(Box::new(f));
        }
    }

    fn abort(&self) {
        self.aborted.store(true, Ordering::Release);
        if let Some(f) = self.on_abort.lock().unwrap_or_else(|p| p.into_inner()).take() {
            f();
        }
    }
}

impl std::fmt::Debug for Transfer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transfer").field("grant", &GrantKind(&self.grant)).field("aborted", &self.aborted()).finish()
    }
}

/// The downloads in flight.
#[derive(Debug, Default)]
pub struct Transfers {
    next: AtomicU64,
    // A std Mutex: held to insert, remove or copy out entries, never across a query or an await.
    live: Mutex<HashMap<u64, Arc<Transfer>>>,
}

/// Keeps a transfer registered until the response body is dropped.
#[derive(Debug)]
pub struct Registered {
    transfers: Arc<Transfers>,
    key: u64,
    /// The transfer, for its abort flag.
    pub transfer: Arc<Transfer>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.transfers.live.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.key);
    }
}

impl Transfers {
    /// Registers a download granted by `grant`.
    pub fn register(self: &Arc<Self>, grant: Grant) -> Registered {
        let key = self.next.fetch_add(1, Ordering::Relaxed);
        let transfer = Arc::new(Transfer { grant, aborted: AtomicBool::new(false), on_abort: Mutex::new(None) });
        self.live.lock().unwrap_or_else(|p| p.into_inner()).insert(key, transfer.clone());
        Registered { transfers: self.clone(), key, transfer }
    }

    fn snapshot(&self) -> Vec<Arc<Transfer>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner()).values().cloned().collect()
    }

    /// Re-checks every live transfer and aborts those whose grant is gone. Blocking (database).
    /// `database_changed` says whether rows must be read again; signatures are always re-checked
    /// (a stat and one HMAC each), as a rotated secret changes a file, not the database.
    pub fn recheck(&self, vault: &Vault, database_changed: bool) {
        for transfer in self.snapshot() {
            if transfer.aborted() {
                continue;
            }
            match still_granted(vault, &transfer.grant, database_changed) {
                Ok(true) => {}
                Ok(false) => {
                    tracing::info!("download aborted: its grant was taken back ({:?})", GrantKind(&transfer.grant));
                    transfer.abort();
                }
                Err(e) => tracing::warn!("cannot re-check a download in flight: {e}"),
            }
        }
    }
}

/// Logs which kind of grant without the signature.
struct GrantKind<'a>(&'a Grant);

impl std::fmt::Debug for GrantKind<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Grant::Link { id, .. } => write!(f, "link {id}"),
            Grant::Public { file_id } => write!(f, "public file {file_id}"),
            Grant::Owner { file_id, token_id } => write!(f, "file {file_id} for token {token_id}"),
        }
    }
}

fn still_granted(vault: &Vault, grant: &Grant, database_changed: bool) -> crate::Result<bool> {
    match grant {
        Grant::Link { id, sig } => {
            if !vault.signer().verify(Purpose::Link, id, sig) {
                return Ok(false);
            }
            if !database_changed {
                return Ok(true);
            }
            // Expiry and the limit are not re-checked: a download that started in time finishes,
            // and a limited one is settled by its claim at the last byte.
            Ok(match vault.resolve_link(id)? {
                Some((link, _)) => link.status(crate::time::now()) != LinkStatus::Revoked,
                None => false,
            })
        }
        Grant::Public { file_id } => Ok(!database_changed || vault.public_file(file_id)?.is_some()),
        Grant::Owner { file_id, token_id } => {
            if !database_changed {
                return Ok(true);
            }
            let token_works = vault.token(token_id).is_ok_and(|t| t.works(crate::time::now()));
            Ok(token_works && vault.file(file_id).is_ok())
        }
    }
}

/// Re-checks live downloads every [`CHECK_EVERY`] until the handle is aborted.
pub fn spawn_watcher(transfers: Arc<Transfers>, vault: Arc<Vault>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut watcher = match vault.watcher() {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!("downloads in flight will not notice revocations: {e}");
                return;
            }
        };
        let mut tick = tokio::time::interval(CHECK_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if transfers.live.lock().unwrap_or_else(|p| p.into_inner()).is_empty() {
                // Keep the watcher's view current, so the next download starts from here.
                let _ = watcher.changed();
                continue;
            }
            let (t, v) = (transfers.clone(), vault.clone());
            watcher = match tokio::task::spawn_blocking(move || {
                let changed = watcher.changed().unwrap_or(true);
                t.recheck(&v, changed);
                watcher
            })
            .await
            {
                Ok(w) => w,
                Err(_) => return,
            };
        }
    })
}
