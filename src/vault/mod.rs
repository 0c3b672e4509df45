//! The vault: one data dir opened (database, store, signer) and every operation the CLI, the
//! HTTP server and the desktop app share. Blocking: async callers use `spawn_blocking`.
//!
//! One `impl Vault` block per noun, each in its own file: `stored.rs` (files), `sharing.rs`
//! (links), `receiving.rs` (slots), `access.rs` (API tokens), `history.rs` (access history),
//! `webhooks.rs` (webhooks and their outbox) and `recovery.rs` (`verify`, `adopt`, the start-up
//! cleanup); `changes.rs` tells what changed between two snapshots (the API's events).
//! Opening, settings and the secret are here.

use std::collections::HashSet;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use serde::Serialize;

use crate::atomic::{self, Existing};
use crate::datadir::DataDir;
use crate::db::{Db, Mode};
use crate::files::{self, FileRecord};
use crate::links::{self, Link, LinkStatus};
use crate::signing::{self, Purpose, Signer};
use crate::slots::{self, AcceptList, Slot, SlotStatus};
use crate::store::{self, Cleanup, Inspected, StagedFile, Store, WriterLock};
use crate::units::{Lifetime, format_size};
use crate::urls;
use crate::{Error, Result, ids, names, settings};

mod access;
mod changes;
mod history;
mod intake;
mod link_rows;
mod receiving;
mod recovery;
mod sharing;
mod stored;
mod webhooks;

pub use changes::{Change, Snapshot};
pub use history::DEFAULT_HISTORY_LIMIT;
pub use intake::{FileLimit, Refusal, Upload};
pub use receiving::{NewSlot, Received, SlotInfo, Uploader};
pub use recovery::{Adopted, LooseFile, VerifyProblem, VerifyReport};
pub use sharing::{
    DEFAULT_LINK_LIFETIME, DEFAULT_SHARE_NAME, LinkEdit, LinkInfo, MAX_SHARE_FILES, NewLink, NginxLinkInfo, ShareFile,
    check_download_limit,
};
pub use stored::{Adding, FileInfo, expand_paths, public_url};

/// What stops working while no server serves this data dir: links that still open, and upload
/// links that still accept files. The desktop app asks before it stops serving them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Active {
    /// Active links.
    pub links: usize,
    /// Upload links that accept files.
    pub slots: usize,
}

impl Active {
    /// Whether anything would stop working.
    pub fn any(&self) -> bool {
        self.links + self.slots > 0
    }
}

impl Vault {
    /// The links and upload links that work at `now`.
    pub fn active(&self, now: i64) -> Result<Active> {
        let links = self.links(None, now)?.iter().filter(|l| l.status == LinkStatus::Active).count();
        let slots = self.slots(now)?.iter().filter(|s| s.status == SlotStatus::Active).count();
        Ok(Active { links, slots })
    }
}

/// Where links point when no base URL was ever set and no server has run.
pub const DEFAULT_BASE_URL: &str = "http://127.0.0.1:7420";

/// An open data dir.
#[derive(Debug)]
pub struct Vault {
    dir: DataDir,
    db: Db,
    store: Store,
    signer: Signer,
    /// Links kept for the download path, made at the first download (see `link_rows`); none
    /// for a read-only data dir.
    link_rows: OnceLock<Option<link_rows::LinkRows>>,
}

const MAX_LABEL_CHARS: usize = 200;

impl Vault {
    /// Opens the data dir at `path`, creating it if needed; one this process cannot write is
    /// opened read-only (see [`crate::datadir`]).
    pub fn open(path: &Path) -> Result<Vault> {
        let dir = DataDir::open(path)?;
        // The secret is made with a new data dir only, and before its database: a first run cut
        // short between the two finds a secret and no database next time, and is still new.
        let signer = if dir.is_new() { Signer::create(&dir.secret())? } else { Signer::open(&dir.secret())? };
        let mode = if dir.read_only() { Mode::ReadOnly } else { Mode::ReadWrite };
        let db = Db::open(&dir.database(), mode)?;
        let store = Store::new(dir.store(), dir.quarantine());
        Ok(Vault { dir, db, store, signer, link_rows: OnceLock::new() })
    }

    /// Makes a new signing secret for the data dir at `path`, which need not have one: the way
    /// back from a lost `secret.key`. Every URL issued before stops working.
    pub fn replace_secret(path: &Path) -> Result<()> {
        let dir = DataDir::open(path)?;
        if dir.read_only() {
            return Err(Error::read_only(dir.root()));
        }
        signing::write_new_secret(&dir.secret())
    }

    /// An error if the data dir is read-only: for commands about to change it.
    pub fn check_writable(&self) -> Result<()> {
        if self.dir.read_only() { Err(Error::read_only(self.dir.root())) } else { Ok(()) }
    }

    /// Runs a database write, after checking the data dir may be written.
    fn write<T>(&self, f: impl FnOnce(&mut rusqlite::Connection) -> Result<T>) -> Result<T> {
        self.check_writable()?;
        self.db.with(f)
    }

    /// The data dir.
    pub fn data_dir(&self) -> &Path {
        self.dir.root()
    }

    /// The stored files' folder: paths by id, staged writes and the writer lock.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The folder of kept thumbnails (see [`crate::thumbnails`]).
    pub fn thumbnails_dir(&self) -> PathBuf {
        self.dir.thumbnails()
    }

    /// Signs and checks link and slot URLs with this data dir's secret.
    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    /// A watcher that tells when anyone changed the database (see [`crate::db::ChangeWatcher`]).
    pub fn watcher(&self) -> Result<crate::db::ChangeWatcher> {
        self.db.watcher()
    }

    /// The desktop app's listen scope and port, as saved (the background service binds the same).
    pub fn app_listen(&self) -> Result<(settings::ListenScope, u16)> {
        self.db.with(|c| settings::app_listen(c))
    }

    /// A setting's value, if set.
    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        self.db.with(|c| settings::get(c, key))
    }

    /// Sets a setting, or removes it with `None`.
    pub fn set_setting(&self, key: &str, value: Option<&str>) -> Result<()> {
        self.write(|c| match value {
            Some(v) => settings::set(c, key, v),
            None => settings::unset(c, key),
        })
    }

    /// Takes the store's writer lock, held from the first byte written until rows are committed.
    fn writer_lock(&self) -> Result<WriterLock> {
        self.check_writable()?;
        self.store.writer_lock().map_err(|e| Error::io("cannot lock the store", e))
    }

    /// Moves staged files into the store, then writes their rows in one transaction after
    /// `check` (run inside it) agrees. On refusal or failure the moved files are deleted again,
    /// so either all files are stored and listed or none is.
    fn commit_files(
        &self,
        items: Vec<(StagedFile, FileRecord)>,
        check: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<bool>,
    ) -> Result<Option<Vec<FileRecord>>> {
        let (files, records): (Vec<_>, Vec<_>) =
            items.into_iter().map(|(staged, record)| ((staged, record.id.clone(), record.created_at), record)).unzip();
        let mut placed = Vec::with_capacity(records.len());
        let mut outcome = Ok(());
        for (record, placing) in records.iter().zip(self.store.place_all(files)) {
            match placing {
                Ok(()) => placed.push(record.id.clone()),
                Err(e) if outcome.is_ok() => {
                    let what = if crate::error::is_disk_full(&e) {
                        "the store's disk is full"
                    } else {
                        "cannot store the file"
                    };
                    outcome = Err(Error::io(what, e));
                }
                Err(_) => {}
            }
        }
        // One fsync of the store's folder makes every rename above durable, before any row
        // names the files: a batch pays it once, not once per file.
        let outcome = outcome.and_then(|()| {
            self.store.sync_folder().map_err(|e| Error::io("cannot store the file", e))?;
            self.write(|c| {
                let tx = write_transaction(c)?;
                for record in &records {
                    files::insert(&tx, record)?;
                }
                // After the rows, so a check may also write beside them; a refusal rolls
                // everything back.
                if !check(&tx)? {
                    return Ok(false);
                }
                tx.commit()?;
                Ok(true)
            })
        });
        match outcome {
            Ok(true) => Ok(Some(records)),
            other => {
                for id in &placed {
                    if let Err(e) = self.store.remove(id) {
                        tracing::warn!("cannot remove {id} after a failed commit: {e}");
                    }
                }
                other.map(|_| None)
            }
        }
    }

    /// The base URL links are built with: `explicit` if given, else the stored setting, else
    /// the address the server last listened on, else [`DEFAULT_BASE_URL`].
    pub fn base_url(&self, explicit: Option<&str>) -> Result<String> {
        self.db.with(|c| base_url(c, explicit))
    }

    /// Stores the base URL setting (after checking it is an http(s) URL).
    pub fn set_base_url(&self, url: &str) -> Result<String> {
        let url = normalise_base_url(url)?;
        self.write(|c| settings::set(c, settings::BASE_URL, &url))?;
        Ok(url)
    }

    /// Records the address the server listens on (the fallback base URL).
    pub fn set_listen_url(&self, url: &str) -> Result<()> {
        self.write(|c| settings::set(c, settings::LISTEN_URL, url))
    }

    /// Replaces the signing secret: every link and slot URL issued so far stops working.
    pub fn rotate_secret(&self) -> Result<()> {
        self.check_writable()?;
        self.signer.rotate()
    }
}

fn base_url(conn: &rusqlite::Connection, explicit: Option<&str>) -> Result<String> {
    if let Some(url) = explicit {
        return normalise_base_url(url);
    }
    for key in [settings::BASE_URL, settings::LISTEN_URL] {
        if let Some(url) = settings::get(conn, key)? {
            return Ok(url);
        }
    }
    Ok(DEFAULT_BASE_URL.to_string())
}

/// Checks a base URL: `http://` or `https://`, a host, no query or fragment; trailing `/` removed.
pub fn normalise_base_url(url: &str) -> Result<String> {
    let trimmed = url.trim().trim_end_matches('/');
    let rest = trimmed.strip_prefix("http://").or_else(|| trimmed.strip_prefix("https://"));
    let valid = rest.is_some_and(|r| {
        let host = r.split('/').next().unwrap_or("");
        !host.is_empty() && !r.contains(['?', '#', ' ', '"', '<', '>', '\\']) && !r.chars().any(char::is_control)
    });
    if valid {
        Ok(trimmed.to_string())
    } else {
        Err(Error::invalid_field(
            "base_url",
            format!("invalid base URL {url:?}: use http://HOST[:PORT][/PATH] or https://…"),
        ))
    }
}

fn content_type_of(name: &str) -> String {
    mime_guess::from_path(name).first_or_octet_stream().essence_str().to_string()
}

fn clean_label(label: Option<String>) -> Result<Option<String>> {
    let Some(label) = label else { return Ok(None) };
    let label: String = label.chars().filter(|c| !c.is_control()).collect::<String>().trim().to_string();
    if label.chars().count() > MAX_LABEL_CHARS {
        return Err(Error::invalid_field("label", format!("a label may have at most {MAX_LABEL_CHARS} characters")));
    }
    Ok((!label.is_empty()).then_some(label))
}

/// Starts a transaction that reads, then writes. It takes the write lock at once (IMMEDIATE): a
/// deferred transaction that read first cannot upgrade once another process (the server
/// counting a download, the CLI editing a link) has committed meanwhile, and SQLite then fails
/// with "database is locked" at once instead of waiting out the busy timeout.
fn write_transaction(conn: &mut rusqlite::Connection) -> rusqlite::Result<rusqlite::Transaction<'_>> {
    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
}

fn not_found(kind: &'static str, id: &str) -> Error {
    Error::NotFound { kind, id: id.to_string() }
}
