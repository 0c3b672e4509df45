//! The vault: one data dir opened (database, store, signer) and every operation the CLI, the
//! HTTP server and the desktop app share. Blocking: async callers use `spawn_blocking`.

use std::collections::HashSet;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::atomic::{self, Existing};
use crate::datadir::DataDir;
use crate::db::{Db, Mode};
use crate::files::{self, FileRecord};
use crate::links::{self, Link, LinkStatus};
use crate::signing::{self, Purpose, Signer};
use crate::slots::{self, AcceptList, Slot, SlotStatus};
use crate::store::{self, Cleanup, Inspected, StagedFile, Store, WriterLock};
use crate::units::Lifetime;
use crate::urls;
use crate::{Error, Result, ids, names, settings};

/// Where links point when no base URL was ever set and no server has run.
pub const DEFAULT_BASE_URL: &str = "http://127.0.0.1:7420";

/// An open data dir.
#[derive(Debug)]
pub struct Vault {
    dir: DataDir,
    db: Db,
    store: Store,
    signer: Signer,
}

/// A file as listed: its record, its public URL when public, and its link totals.
#[derive(Debug, Clone, Serialize)]
pub struct FileInfo {
    /// The record.
    #[serde(flatten)]
    pub file: FileRecord,
    /// Where it is served without a token, when public.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// How many links it has.
    pub links: u64,
    /// Complete downloads through all its links.
    pub downloads: u64,
}

/// A link with its URLs and status.
#[derive(Debug, Clone, Serialize)]
pub struct LinkInfo {
    /// The record.
    #[serde(flatten)]
    pub link: Link,
    /// Direct download, for browsers, curl and wget.
    pub url: String,
    /// Landing page with the file's details and a Download button.
    pub page_url: String,
    /// Status now.
    pub status: LinkStatus,
}

/// A slot with its URL, status and what it received.
#[derive(Debug, Clone, Serialize)]
pub struct SlotInfo {
    /// The record.
    #[serde(flatten)]
    pub slot: Slot,
    /// The upload URL (page for browsers, POST and PUT target).
    pub url: String,
    /// Status now.
    pub status: SlotStatus,
    /// Files stored through it.
    pub received: u64,
}

/// A link nginx checks alone: no id, no count, no revocation, just a URL until it expires.
#[derive(Debug, Clone, Serialize)]
pub struct NginxLinkInfo {
    /// The file.
    pub file_id: String,
    /// The URL, in nginx's `secure_link` format.
    pub url: String,
    /// When nginx stops accepting it.
    #[serde(serialize_with = "crate::time::serialize")]
    pub expires_at: i64,
    /// Always `nginx`: this link is not in Sharelock's database.
    pub checked_by: &'static str,
}

/// What `verify` found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    /// File records checked.
    pub checked: usize,
    /// Files that are not as stored, and damaged file records.
    pub problems: Vec<VerifyProblem>,
    /// Damage SQLite's integrity check found in the database file itself.
    pub database: Vec<String>,
    /// Files in the quarantine: moved out of the store because no record named them.
    pub quarantined: Vec<LooseFile>,
    /// Files in the store that no record names, not yet moved to the quarantine (the server
    /// moves them when it starts).
    pub unrecorded: Vec<LooseFile>,
}

impl VerifyReport {
    /// What is wrong and what to do about it, in a sentence or two; `None` when clean.
    pub fn summary(&self, quarantine: &Path) -> Option<String> {
        let mut parts = Vec::new();
        if !self.database.is_empty() {
            parts.push(format!(
                "the database is damaged ({} problem(s) found by SQLite's integrity check): put back a backup of \
                 sharelock.db, then run `sharelock verify` again",
                self.database.len()
            ));
        }
        let damaged = self.problems.iter().filter(|p| p.damaged_record).count();
        if damaged > 0 {
            parts.push(format!(
                "{damaged} file record(s) are damaged: put back a backup of sharelock.db, or remove them with \
                 `sharelock rm ID`"
            ));
        }
        if self.problems.len() > damaged {
            parts.push(format!("{} stored file(s) are not as they were stored", self.problems.len() - damaged));
        }
        if !self.quarantined.is_empty() {
            parts.push(format!(
                "{} file(s) without a record are kept in {}",
                self.quarantined.len(),
                quarantine.display()
            ));
        }
        if !self.unrecorded.is_empty() {
            parts.push(format!("{} file(s) in the store have no record", self.unrecorded.len()));
        }
        if !self.quarantined.is_empty() || !self.unrecorded.is_empty() {
            parts.push("`sharelock verify --adopt` adds them back as files".into());
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// A file in the store folders that no record names.
#[derive(Debug, Clone, Serialize)]
pub struct LooseFile {
    /// Its file name (the id it was stored under, for files from the store).
    pub file: String,
    /// Where it is.
    pub path: PathBuf,
    /// Bytes.
    pub size: u64,
    /// Lower-case hex SHA-256.
    pub sha256: String,
    /// Its modification time: when it was added, for files from the store.
    #[serde(serialize_with = "crate::time::serialize")]
    pub modified: i64,
}

/// A file `verify --adopt` took back from the quarantine.
#[derive(Debug, Clone, Serialize)]
pub struct Adopted {
    /// Its record now.
    #[serde(flatten)]
    pub file: FileRecord,
    /// Where it was in the quarantine.
    pub from: PathBuf,
    /// Whether it went back under a record that was waiting for exactly these bytes (its name
    /// and links kept), rather than under a new record.
    pub restored: bool,
}

/// One stored file that is not as it was stored.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyProblem {
    /// The file.
    pub id: String,
    /// Its name.
    pub name: String,
    /// What is wrong, in a few words.
    pub problem: String,
    /// Whether the record itself is damaged (rather than its file).
    #[serde(skip)]
    pub damaged_record: bool,
}

/// What a new link allows.
#[derive(Debug, Clone, Default)]
pub struct NewLink {
    /// How long it works; `None` takes the default (7 days).
    pub lifetime: Option<Lifetime>,
    /// Complete downloads allowed.
    pub max_downloads: Option<u64>,
    /// A note for the owner.
    pub label: Option<String>,
}

/// Changes to a link; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct LinkEdit {
    /// New lifetime, counted from now.
    pub lifetime: Option<Lifetime>,
    /// New limit; `Some(None)` removes the limit.
    pub max_downloads: Option<Option<u64>>,
}

/// What a new slot accepts.
#[derive(Debug, Clone)]
pub struct NewSlot {
    /// How long it accepts files.
    pub lifetime: Lifetime,
    /// Largest file, in bytes.
    pub max_size: u64,
    /// How many files.
    pub max_files: u64,
    /// Largest total, in bytes.
    pub max_total: Option<u64>,
    /// Accepted types.
    pub accept: Option<AcceptList>,
    /// A note, shown to uploaders too.
    pub label: Option<String>,
}

impl Default for NewSlot {
    fn default() -> Self {
        NewSlot {
            lifetime: Lifetime::For(std::time::Duration::from_secs(7 * 86_400)),
            max_size: 1 << 30,
            max_files: 10,
            max_total: None,
            accept: None,
            label: None,
        }
    }
}

/// A file received through a slot, staged and waiting to be stored.
#[derive(Debug)]
pub struct Received {
    /// The bytes, hashed.
    pub staged: StagedFile,
    /// Its sanitised name.
    pub name: String,
}

/// Who sent received files, as they said.
#[derive(Debug, Clone, Default)]
pub struct Uploader {
    /// Their name.
    pub name: Option<String>,
    /// Their message.
    pub message: Option<String>,
}

/// How long a link works when its creator does not say.
pub const DEFAULT_LINK_LIFETIME: Lifetime = Lifetime::For(std::time::Duration::from_secs(7 * 86_400));
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
        Ok(Vault { dir, db, store, signer })
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

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The signer.
    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    // ---- files ----

    /// Copies the file at `path` into the store (hashing in the same pass) and records it.
    /// `progress` gets the bytes copied so far.
    pub fn add_file(&self, path: &Path, public: bool, now: i64, progress: &mut dyn FnMut(u64)) -> Result<FileInfo> {
        let ctx = |e| Error::io(format!("cannot read {}", path.display()), e);
        let mut source = File::open(path).map_err(ctx)?;
        let meta = source.metadata().map_err(ctx)?;
        if !meta.is_file() {
            return Err(Error::InvalidInput(format!("{} is not a regular file", path.display())));
        }
        let raw_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let name = names::sanitize(&raw_name);
        let _lock = self.writer_lock()?;
        let before = Version::of(&meta);
        // Exactly the bytes there were at open: a file growing meanwhile is noticed by the read
        // past them below, not copied on and on.
        let staged = self.store.stage_from(&mut (&mut source).take(meta.len()), progress).map_err(|e| {
            let what =
                if crate::error::is_disk_full(&e) { "the store's disk is full" } else { "cannot copy into the store" };
            Error::io(format!("{what} while adding {}", path.display()), e)
        })?;
        // A file written to during the copy would be stored as a mix of old and new bytes that
        // never existed together. Its size, times and inode tell; the staged copy is dropped
        // (and its temp file deleted) on the way out.
        let changed =
            || Error::InvalidInput(format!("{} changed while it was being added; nothing was stored", path.display()));
        let mut past_end = [0u8; 1];
        let grew = loop {
            match source.read(&mut past_end) {
                Ok(n) => break n > 0,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(ctx(e)),
            }
        };
        let after = Version::of(&source.metadata().map_err(ctx)?);
        // The path too: a file replaced by a rename leaves the open one unchanged.
        let at_path = std::fs::metadata(path).map(|m| Version::of(&m)).map_err(|_| changed())?;
        if grew || staged.size != meta.len() || after != before || at_path != before {
            return Err(changed());
        }
        let record = FileRecord {
            id: ids::generate(),
            content_type: content_type_of(&name),
            name,
            size: staged.size,
            sha256: staged.sha256.clone(),
            created_at: now,
            public,
            slot_id: None,
            uploader_name: None,
            uploader_message: None,
        };
        let mut stored = self.commit_files(vec![(staged, record)], |_| Ok(true))?.unwrap_or_default();
        let file = stored.pop().expect("one file committed");
        self.file_info(file, 0, 0, None)
    }

    /// Every file, received ones included, newest first.
    pub fn files(&self) -> Result<Vec<FileInfo>> {
        let (list, counts, base) =
            self.db.with(|c| Ok((files::list(c)?, links::counts_by_file(c)?, base_url(c, None)?)))?;
        list.into_iter()
            .map(|f| {
                let (links, downloads) = counts.get(&f.id).copied().unwrap_or_default();
                self.file_info(f, links, downloads, Some(&base))
            })
            .collect()
    }

    /// One file.
    pub fn file(&self, id: &str) -> Result<FileInfo> {
        let (file, counts) = self.db.with(|c| Ok((files::get(c, id)?, links::counts_by_file(c)?)))?;
        let file = file.ok_or_else(|| not_found("file", id))?;
        let (links, downloads) = counts.get(&file.id).copied().unwrap_or_default();
        self.file_info(file, links, downloads, None)
    }

    /// Removes a file: its row and links first (so nothing serves it), then its bytes.
    pub fn remove_file(&self, id: &str) -> Result<()> {
        if !self.write(|c| files::delete(c, id))? {
            return Err(not_found("file", id));
        }
        self.store.remove(id).map_err(|e| Error::io("cannot delete the stored file", e))
    }

    /// Files received through slots, newest first.
    pub fn inbox(&self) -> Result<Vec<FileInfo>> {
        Ok(self.files()?.into_iter().filter(|f| f.file.slot_id.is_some()).collect())
    }

    /// Copies a stored file to `dest` (a "Save as…" export): written beside `dest` and renamed
    /// into place, so `dest` is either untouched or complete.
    pub fn export_file(&self, id: &str, dest: &Path) -> Result<()> {
        self.file(id)?;
        let mut source = File::open(self.store.path_of(id)).map_err(|e| Error::io("the stored file is missing", e))?;
        atomic::write(dest, false, Existing::Replace, |f| std::io::copy(&mut source, f).map(drop))
            .map_err(|e| Error::io(format!("cannot save to {}", dest.display()), e))
    }

    /// Where a stored file lives on disk (for "Show in folder").
    pub fn stored_path(&self, id: &str) -> Result<std::path::PathBuf> {
        self.file(id)?;
        Ok(self.store.path_of(id))
    }

    /// A watcher that tells when anyone changed the database (see [`crate::db::ChangeWatcher`]).
    pub fn watcher(&self) -> Result<crate::db::ChangeWatcher> {
        self.db.watcher()
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

    /// Makes a file public (served without a token) or private.
    pub fn set_public(&self, id: &str, public: bool) -> Result<FileInfo> {
        if !self.write(|c| files::set_public(c, id, public))? {
            return Err(not_found("file", id));
        }
        self.file(id)
    }

    /// A public file by id; `None` if there is none or it is private.
    pub fn public_file(&self, id: &str) -> Result<Option<FileRecord>> {
        Ok(self.db.with(|c| files::get(c, id))?.filter(|f| f.public))
    }

    fn file_info(&self, file: FileRecord, links: u64, downloads: u64, base: Option<&str>) -> Result<FileInfo> {
        let public_url = if file.public {
            let base = match base {
                Some(b) => b.to_string(),
                None => self.base_url(None)?,
            };
            Some(public_url(&base, &file))
        } else {
            None
        };
        Ok(FileInfo { file, public_url, links, downloads })
    }

    // ---- links ----

    /// Creates a link to a file.
    pub fn create_link(&self, file_id: &str, new: NewLink, now: i64, base: Option<&str>) -> Result<LinkInfo> {
        let label = clean_label(new.label)?;
        if new.max_downloads == Some(0) {
            return Err(Error::InvalidInput("the download limit must be at least 1".into()));
        }
        let link = Link {
            id: ids::generate(),
            file_id: file_id.to_string(),
            created_at: now,
            expires_at: new.lifetime.unwrap_or(DEFAULT_LINK_LIFETIME).expires_at(now),
            max_downloads: new.max_downloads,
            downloads: 0,
            revoked_at: None,
            label,
            undelivered: 0,
        };
        let (file, base) = self.write(|c| {
            let tx = write_transaction(c)?;
            let file = files::get(&tx, file_id)?.ok_or_else(|| not_found("file", file_id))?;
            links::insert(&tx, &link)?;
            let base = base_url(&tx, base)?;
            tx.commit()?;
            Ok((file, base))
        })?;
        Ok(self.link_info(link, &file, &base, now))
    }

    /// Links of one file (which must exist), or all links.
    pub fn links(&self, file_id: Option<&str>, now: i64) -> Result<Vec<LinkInfo>> {
        let (list, files, base) = self.db.with(|c| {
            if let Some(id) = file_id
                && !files::exists(c, id)?
            {
                return Err(not_found("file", id));
            }
            Ok((links::list(c, file_id)?, files::list(c)?, base_url(c, None)?))
        })?;
        let by_id: std::collections::HashMap<&str, &FileRecord> = files.iter().map(|f| (f.id.as_str(), f)).collect();
        Ok(list
            .into_iter()
            .filter_map(|l| {
                let file = *by_id.get(l.file_id.as_str())?;
                Some(self.link_info(l, file, &base, now))
            })
            .collect())
    }

    /// Changes a link's expiry or limit; its URL stays the same.
    pub fn edit_link(&self, id: &str, edit: LinkEdit, now: i64) -> Result<LinkInfo> {
        if edit.max_downloads == Some(Some(0)) {
            return Err(Error::InvalidInput("the download limit must be at least 1".into()));
        }
        self.write(|c| {
            let tx = write_transaction(c)?;
            if links::get(&tx, id)?.is_none() {
                return Err(not_found("link", id));
            }
            if let Some(lifetime) = edit.lifetime {
                links::set_expiry(&tx, id, lifetime.expires_at(now))?;
            }
            if let Some(max) = edit.max_downloads {
                links::set_max_downloads(&tx, id, max)?;
            }
            tx.commit()?;
            Ok(())
        })?;
        self.link(id, now)
    }

    /// Revokes a link: its URL answers 410 from now on.
    pub fn revoke_link(&self, id: &str, now: i64) -> Result<LinkInfo> {
        if !self.write(|c| links::revoke(c, id, now))? {
            return Err(not_found("link", id));
        }
        self.link(id, now)
    }

    /// Removes a link that no longer works (revoked, expired or used up) from the list. An active
    /// link is refused: it still works for whoever has it, so it must be revoked first, on
    /// purpose. Its URL keeps failing afterwards, now as an unknown link.
    pub fn delete_link(&self, id: &str, now: i64) -> Result<()> {
        self.write(|c| {
            let tx = write_transaction(c)?;
            let link = links::get(&tx, id)?.ok_or_else(|| not_found("link", id))?;
            if link.status(now) == LinkStatus::Active {
                return Err(Error::InvalidInput("this link still works: revoke it before removing it".into()));
            }
            links::delete(&tx, id)?;
            tx.commit()?;
            Ok(())
        })
    }

    /// Removes every link of a file (which must exist) that no longer works; active links stay.
    /// Returns how many went.
    pub fn delete_inactive_links(&self, file_id: &str, now: i64) -> Result<usize> {
        self.write(|c| {
            let tx = write_transaction(c)?;
            if !files::exists(&tx, file_id)? {
                return Err(not_found("file", file_id));
            }
            let mut removed = 0;
            for link in links::list(&tx, Some(file_id))? {
                if link.status(now) != LinkStatus::Active && links::delete(&tx, &link.id)? {
                    removed += 1;
                }
            }
            tx.commit()?;
            Ok(removed)
        })
    }

    /// One link.
    pub fn link(&self, id: &str, now: i64) -> Result<LinkInfo> {
        let (link, file) = self.resolve_link(id)?.ok_or_else(|| not_found("link", id))?;
        let base = self.base_url(None)?;
        Ok(self.link_info(link, &file, &base, now))
    }

    /// A link and its file, for serving; `None` if there is no such link (or its file is gone).
    pub fn resolve_link(&self, id: &str) -> Result<Option<(Link, FileRecord)>> {
        self.db.with(|c| links::get_with_file(c, id))
    }

    /// Counts one complete download if the link's limit allows it (see [`links::claim_download`]).
    pub fn claim_download(&self, link_id: &str) -> Result<bool> {
        self.write(|c| links::claim_download(c, link_id))
    }

    /// Gives back what a response of a limited link took when its bytes did not reach the
    /// client; true when given back whole (see [`links::give_back`]).
    pub fn give_back_response(&self, link_id: &str, claimed: bool, reserved: u64, unsent: u64) -> Result<bool> {
        self.write(|c| links::give_back(c, link_id, claimed, reserved, unsent))
    }

    /// Reserves `len` bytes of a limited link's byte budget before sending them; false when the
    /// budget is spent (see [`links::byte_budget`]).
    pub fn reserve_link_bytes(&self, link: &Link, size: u64, len: u64) -> Result<bool> {
        let budget = links::byte_budget(link.max_downloads.unwrap_or(u64::MAX), size);
        self.write(|c| links::reserve_bytes(c, &link.id, len, budget))
    }

    /// Gives back reserved bytes that were never delivered.
    pub fn refund_link_bytes(&self, link_id: &str, len: u64) -> Result<()> {
        self.write(|c| links::refund_bytes(c, link_id, len))
    }

    /// Adds downloads counted in memory, all in one transaction.
    pub fn add_downloads(&self, counts: &[(String, u64)]) -> Result<()> {
        self.write(|c| {
            let tx = write_transaction(c)?;
            links::add_downloads(&tx, counts)?;
            tx.commit()?;
            Ok(())
        })
    }

    fn link_info(&self, link: Link, file: &FileRecord, base: &str, now: i64) -> LinkInfo {
        let sig = self.signer.sign(Purpose::Link, &link.id);
        let url = urls::link_file(base, &link.id, &sig, &file.name);
        let page_url = urls::landing(base, &link.id, &sig);
        let status = link.status(now);
        LinkInfo { link, url, page_url, status }
    }

    /// A link nginx checks alone (`secure_link`): see [`crate::nginx`]. It must expire.
    pub fn nginx_link(&self, file_id: &str, lifetime: Lifetime, now: i64, base: Option<&str>) -> Result<NginxLinkInfo> {
        let expires_at = lifetime.expires_at(now).ok_or_else(|| {
            Error::InvalidInput("an nginx-checked link must expire: give a duration such as 7d".into())
        })?;
        let (file, base) = self.db.with(|c| {
            let file = files::get(c, file_id)?.ok_or_else(|| not_found("file", file_id))?;
            Ok((file, base_url(c, base)?))
        })?;
        let secret = crate::nginx::NginxSecret::open(&self.dir.nginx_secret())?;
        let (uri, path) = crate::nginx::link_paths(&file);
        let md5 = crate::nginx::secure_link_hash(expires_at, &uri, &secret);
        Ok(NginxLinkInfo {
            file_id: file.id,
            url: format!("{base}{path}?md5={md5}&expires={expires_at}"),
            expires_at,
            checked_by: "nginx",
        })
    }

    /// The nginx secret (created on first use).
    pub fn nginx_secret(&self) -> Result<crate::nginx::NginxSecret> {
        crate::nginx::NginxSecret::open(&self.dir.nginx_secret())
    }

    // ---- slots ----

    /// Creates an upload slot.
    pub fn create_slot(&self, new: NewSlot, now: i64, base: Option<&str>) -> Result<SlotInfo> {
        if new.max_size == 0 || new.max_files == 0 || new.max_total == Some(0) {
            return Err(Error::InvalidInput("slot limits must be at least 1".into()));
        }
        let expires_at = new
            .lifetime
            .expires_at(now)
            .ok_or_else(|| Error::InvalidInput("an upload slot must expire: give a duration such as 7d".into()))?;
        let slot = Slot {
            id: ids::generate(),
            created_at: now,
            expires_at,
            max_size: new.max_size,
            max_files: new.max_files,
            max_total: new.max_total,
            accept: new.accept,
            label: clean_label(new.label)?,
            closed_at: None,
            claimed_files: 0,
            received_bytes: 0,
        };
        let base = self.write(|c| {
            slots::insert(c, &slot)?;
            base_url(c, base)
        })?;
        Ok(self.slot_info(slot, 0, &base, now))
    }

    /// Every slot, newest first.
    pub fn slots(&self, now: i64) -> Result<Vec<SlotInfo>> {
        let (list, base) = self.db.with(|c| Ok((slots::list(c)?, base_url(c, None)?)))?;
        Ok(list.into_iter().map(|(s, received)| self.slot_info(s, received, &base, now)).collect())
    }

    /// One slot.
    pub fn slot(&self, id: &str, now: i64) -> Result<SlotInfo> {
        self.slots(now)?.into_iter().find(|s| s.slot.id == id).ok_or_else(|| not_found("slot", id))
    }

    /// A slot's record, for the upload page.
    pub fn slot_record(&self, id: &str) -> Result<Option<Slot>> {
        self.db.with(|c| slots::get(c, id))
    }

    /// Closes a slot: it accepts nothing more.
    pub fn close_slot(&self, id: &str, now: i64) -> Result<SlotInfo> {
        if !self.write(|c| slots::close(c, id, now))? {
            return Err(not_found("slot", id));
        }
        self.slot(id, now)
    }

    /// Claims room for one file in a slot (see [`slots::claim_file`]).
    pub fn claim_slot_file(&self, id: &str, now: i64) -> Result<std::result::Result<Slot, SlotStatus>> {
        self.write(|c| slots::claim_file(c, id, now))
    }

    /// Gives back `count` claims whose uploads failed.
    pub fn release_slot_files(&self, id: &str, count: usize) -> Result<()> {
        self.write(|c| (0..count).try_for_each(|_| slots::release_file(c, id)))
    }

    /// Stores files received through a slot, all or none. `None` when the slot's total limit
    /// would be crossed (nothing is stored then).
    pub fn store_received(
        &self,
        slot_id: &str,
        received: Vec<Received>,
        uploader: &Uploader,
        now: i64,
    ) -> Result<Option<Vec<FileRecord>>> {
        let total: u64 = received.iter().map(|r| r.staged.size).sum();
        let items = received
            .into_iter()
            .map(|r| {
                let record = FileRecord {
                    id: ids::generate(),
                    content_type: content_type_of(&r.name),
                    name: r.name,
                    size: r.staged.size,
                    sha256: r.staged.sha256.clone(),
                    created_at: now,
                    public: false,
                    slot_id: Some(slot_id.to_string()),
                    uploader_name: uploader.name.clone(),
                    uploader_message: uploader.message.clone(),
                };
                (r.staged, record)
            })
            .collect();
        self.commit_files(items, |tx| slots::reserve_bytes(tx, slot_id, total))
    }

    fn slot_info(&self, slot: Slot, received: u64, base: &str, now: i64) -> SlotInfo {
        let sig = self.signer.sign(Purpose::Slot, &slot.id);
        let url = urls::slot(base, &slot.id, &sig);
        let status = slot.status(now);
        SlotInfo { slot, url, status, received }
    }

    // ---- store, settings, secret ----

    /// Takes the store's writer lock, held from the first byte written until rows are committed.
    pub fn writer_lock(&self) -> Result<WriterLock> {
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
        let mut records = Vec::with_capacity(items.len());
        let mut placed = Vec::with_capacity(items.len());
        let mut outcome = Ok(());
        for (staged, record) in items {
            if outcome.is_ok() {
                outcome = self.store.commit(staged, &record.id, record.created_at).map_err(|e| {
                    let what = if crate::error::is_disk_full(&e) {
                        "the store's disk is full"
                    } else {
                        "cannot store the file"
                    };
                    Error::io(what, e)
                });
                if outcome.is_ok() {
                    placed.push(record.id.clone());
                }
            }
            records.push(record);
        }
        let outcome = outcome.and_then(|()| {
            self.write(|c| {
                let tx = write_transaction(c)?;
                if !check(&tx)? {
                    return Ok(false);
                }
                for record in &records {
                    files::insert(&tx, record)?;
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

    /// Checks the database (SQLite's integrity check) and every stored file against its record
    /// (present, same size, same SHA-256), and lists files that no record names (in the
    /// quarantine, or still in the store). Reads every byte, so it takes as long as reading the
    /// store once. Changes nothing: it runs on a read-only data dir too.
    pub fn verify(&self) -> Result<VerifyReport> {
        let mut report = VerifyReport::default();
        match self.db.with(integrity_check) {
            Ok(damage) => report.database = damage,
            Err(e) => report.database.push(e.to_string()),
        }
        let records = match self.db.with(|c| files::audit(c)) {
            Ok(records) => Some(records),
            Err(e) => {
                report.database.push(format!("cannot read the file records: {e}"));
                None
            }
        };
        for record in records.iter().flatten() {
            let problem = match &record.expected {
                Err(damage) => Some(format!("damaged record: {damage}")),
                Ok((size, sha256)) => match self.store.hash_of(&record.id) {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some("missing".to_string()),
                    Err(e) => Some(format!("unreadable: {e}")),
                    Ok((found, _)) if found != *size => Some(format!("size changed: {found} bytes, stored as {size}")),
                    Ok((_, found)) if found != *sha256 => Some("contents changed: the SHA-256 differs".to_string()),
                    Ok(_) => None,
                },
            };
            if let Some(problem) = problem {
                report.problems.push(VerifyProblem {
                    id: record.id.clone(),
                    name: record.name.clone(),
                    problem,
                    damaged_record: record.expected.is_err(),
                });
            }
        }
        report.checked = records.as_ref().map_or(0, Vec::len);
        let ctx = |e| Error::io("cannot read the store", e);
        report.quarantined =
            self.store.quarantined().map_err(ctx)?.iter().map(|p| loose_file(p)).collect::<Result<_>>()?;
        // Without the records, every stored file would look unrecorded: say nothing rather than that.
        if let Some(records) = &records {
            let known: HashSet<&str> = records.iter().map(|r| r.id.as_str()).collect();
            report.unrecorded = self
                .store
                .unrecorded(|id| known.contains(id))
                .map_err(ctx)?
                .iter()
                .map(|p| loose_file(p))
                .collect::<Result<_>>()?;
        }
        Ok(report)
    }

    /// Adds the files of the quarantine back (store files without a record are moved there
    /// first, as a starting server would). A file goes back under a record that is waiting for
    /// exactly its bytes (same size and SHA-256, its own file missing) when there is one, keeping
    /// that record's name and links; otherwise under a new record named `recovered-ID` (with the
    /// extension its first bytes suggest), its content type sniffed from those bytes, its id the
    /// one it was stored under when that is free, and its modification time as when it was added.
    pub fn adopt(&self, now: i64) -> Result<Vec<Adopted>> {
        self.cleanup()?;
        let quarantined = self.store.quarantined().map_err(|e| Error::io("cannot read the quarantine", e))?;
        let mut adopted = Vec::with_capacity(quarantined.len());
        for path in quarantined {
            let found = store::inspect(&path).map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
            adopted.push(self.adopt_file(&path, &found, now)?);
        }
        Ok(adopted)
    }

    fn adopt_file(&self, path: &Path, found: &Inspected, now: i64) -> Result<Adopted> {
        let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let own_id = ids::is_valid(&file_name).then_some(file_name);
        let moved = |e| Error::io(format!("cannot move {} into the store", path.display()), e);
        // As any writer: no cleanup may take the file between its move and its committed row.
        let _lock = self.writer_lock()?;
        self.write(|c| {
            let tx = write_transaction(c)?;
            let mut waiting = own_id.iter().cloned().collect::<Vec<_>>();
            waiting.extend(files::ids_with_contents(&tx, found.size, &found.sha256)?);
            for id in waiting {
                // A damaged record is no home for the file; it gets a new one below.
                let Ok(Some(record)) = files::get(&tx, &id) else { continue };
                if record.size == found.size && record.sha256 == found.sha256 && !self.store.path_of(&id).exists() {
                    self.store.take_in(path, &id, record.created_at).map_err(moved)?;
                    return Ok(Adopted { file: record, from: path.to_path_buf(), restored: true });
                }
            }
            let id = match own_id {
                Some(id) if !files::exists(&tx, &id)? && !self.store.path_of(&id).exists() => id,
                _ => ids::generate(),
            };
            let sniffed = slots::sniff(&found.head);
            let record = FileRecord {
                name: match sniffed {
                    Some((_, ext)) => format!("recovered-{id}.{ext}"),
                    None => format!("recovered-{id}"),
                },
                content_type: sniffed.map_or("application/octet-stream", |(mime, _)| mime).to_string(),
                size: found.size,
                sha256: found.sha256.clone(),
                created_at: found
                    .modified
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(now, |d| i64::try_from(d.as_secs()).unwrap_or(now)),
                public: false,
                slot_id: None,
                uploader_name: None,
                uploader_message: None,
                id,
            };
            self.store.take_in(path, &record.id, record.created_at).map_err(moved)?;
            let committed = files::insert(&tx, &record).and_then(|()| Ok(tx.commit()?));
            if let Err(e) = committed {
                if let Err(back) = self.store.release(&record.id, path) {
                    tracing::warn!("cannot put {} back into the quarantine: {back}", record.id);
                }
                return Err(e);
            }
            Ok(Adopted { file: record, from: path.to_path_buf(), restored: false })
        })
    }

    /// Removes leftovers of interrupted writes and moves store files without a record to the
    /// quarantine (see [`Store::cleanup`]).
    pub fn cleanup(&self) -> Result<Cleanup> {
        self.check_writable()?;
        let ctx = |e| Error::io("cannot clean the store", e);
        let Some(lock) = self.store.sweep_lock().map_err(ctx)? else {
            return Ok(Cleanup {
                skipped: true,
                quarantine: self.store.quarantine().to_path_buf(),
                ..Cleanup::default()
            });
        };
        // Read under the lock: a file committed before it has its row, none can be committed after.
        let known = self.db.with(|c| files::ids(c))?;
        self.store.cleanup(&lock, |id| known.contains(id)).map_err(ctx)
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

/// The files to add for `paths`: files as they are, folders as every regular file inside them
/// (recursively, in name order; symbolic links are not followed into other folders).
pub fn expand_paths(paths: &[std::path::PathBuf]) -> Result<Vec<std::path::PathBuf>> {
    fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> Result<()> {
        let ctx = |e| Error::io(format!("cannot read the folder {}", dir.display()), e);
        let mut entries: Vec<_> = std::fs::read_dir(dir).map_err(ctx)?.collect::<std::io::Result<_>>().map_err(ctx)?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let kind = entry.file_type().map_err(ctx)?;
            if kind.is_dir() {
                walk(&entry.path(), out)?;
            } else if kind.is_file() || (kind.is_symlink() && entry.path().is_file()) {
                out.push(entry.path());
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
        if meta.is_dir() {
            walk(path, &mut out)?;
        } else if meta.is_file() {
            out.push(path.clone());
        } else {
            return Err(Error::InvalidInput(format!("{} is not a regular file", path.display())));
        }
    }
    Ok(out)
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
        Err(Error::InvalidInput(format!("invalid base URL {url:?}: use http://HOST[:PORT][/PATH] or https://…")))
    }
}

/// Where a public file is served without a token.
pub fn public_url(base: &str, file: &FileRecord) -> String {
    urls::public_file(base, &file.id, &file.name)
}

fn content_type_of(name: &str) -> String {
    mime_guess::from_path(name).first_or_octet_stream().essence_str().to_string()
}

fn clean_label(label: Option<String>) -> Result<Option<String>> {
    let Some(label) = label else { return Ok(None) };
    let label: String = label.chars().filter(|c| !c.is_control()).collect::<String>().trim().to_string();
    if label.chars().count() > MAX_LABEL_CHARS {
        return Err(Error::InvalidInput(format!("a label may have at most {MAX_LABEL_CHARS} characters")));
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

/// What SQLite's integrity check finds wrong with the database; empty when nothing is.
fn integrity_check(conn: &mut rusqlite::Connection) -> Result<Vec<String>> {
    let mut stmt = conn.prepare("PRAGMA integrity_check")?;
    let lines = stmt.query_map([], |r| r.get::<_, String>(0))?.collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(lines.into_iter().filter(|l| l != "ok").collect())
}

/// A file no record names, read through.
fn loose_file(path: &Path) -> Result<LooseFile> {
    let found = store::inspect(path).map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
    Ok(LooseFile {
        file: path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        path: path.to_path_buf(),
        size: found.size,
        sha256: found.sha256,
        modified: found.modified.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64),
    })
}

/// What identifies one version of a file being added: if any of it differs after the copy,
/// the file changed meanwhile.
#[derive(Debug, PartialEq, Eq)]
struct Version {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl Version {
    fn of(meta: &std::fs::Metadata) -> Version {
        use std::os::unix::fs::MetadataExt;
        Version {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            ctime_ns: i128::from(meta.ctime()) * 1_000_000_000 + i128::from(meta.ctime_nsec()),
        }
    }
}

fn not_found(kind: &'static str, id: &str) -> Error {
    Error::NotFound { kind, id: id.to_string() }
}
