//! Stored files: adding, listing, exporting and removing them, and making them public.

use super::*;

/// A file as listed: its record, its public URL when public, and its link totals.
#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct FileInfo {
    /// What the database holds about the file.
    #[serde(flatten)]
    pub file: FileRecord,
    /// Where it is served without a token, when public.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// How many links it has.
    pub links: u64,
    /// Complete downloads through all its links.
    pub downloads: u64,
    /// When it was last fetched, through a link or publicly (from the access history).
    #[serde(default, with = "crate::time::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_access_at: Option<i64>,
}

/// The most files [`Vault::add_files`] commits in one transaction, and the most bytes: a crash
/// mid-way loses at most one chunk's work (its files are quarantined, never deleted), and the
/// files of each chunk are listed as soon as it is committed.
const ADD_CHUNK_FILES: usize = 1_000;
const ADD_CHUNK_BYTES: u64 = 256 * 1024 * 1024;

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

/// An owner adding files through the API: the store's writer lock held from the first byte
/// received until the rows are committed (so the start-up cleanup never takes a file being
/// received for a leftover). Dropped before [`Adding::commit`], nothing is stored.
#[derive(Debug)]
pub struct Adding {
    vault: Arc<Vault>,
    token_id: Option<String>,
    _lock: WriterLock,
}

impl Vault {
    /// Starts adding files sent by the token `token_id` (kept with each file: the `upload`
    /// scope may link the files its own token added). Blocking.
    pub fn begin_adding(self: &Arc<Self>, token_id: Option<&str>) -> Result<Adding> {
        let lock = self.writer_lock()?;
        Ok(Adding { vault: self.clone(), token_id: token_id.map(str::to_string), _lock: lock })
    }
}

impl Adding {
    /// The store files are staged in.
    pub fn store(&self) -> &Store {
        &self.vault.store
    }

    /// Stores the staged files under their (sanitised) names, all or none. Blocking.
    pub fn commit(self, files: Vec<(StagedFile, String)>, public: bool, now: i64) -> Result<Vec<FileInfo>> {
        let items = files
            .into_iter()
            .map(|(staged, raw_name)| {
                let name = names::sanitize(&raw_name);
                let record = owned_record(name, &staged, public, now);
                (staged, record)
            })
            .collect::<Vec<_>>();
        let ids: Vec<String> = items.iter().map(|(_, r)| r.id.clone()).collect();
        let token_id = self.token_id.clone();
        let stored = self.vault.commit_files(items, |tx| {
            if let Some(token) = &token_id {
                for id in &ids {
                    crate::tokens::set_uploader(tx, id, token)?;
                }
            }
            Ok(true)
        })?;
        let base = self.vault.base_url(None)?;
        stored.unwrap_or_default().into_iter().map(|f| self.vault.file_info(f, 0, 0, Some(&base))).collect()
    }
}

impl Vault {
    /// Copies the file at `path` into the store (hashing in the same pass) and records it.
    /// `progress` gets the bytes copied so far.
    pub fn add_file(&self, path: &Path, public: bool, now: i64, progress: &mut dyn FnMut(u64)) -> Result<FileInfo> {
        let mut added = None;
        self.add_files(&[path.to_path_buf()], public, now, &mut |_, done| progress(done), &mut |f| added = Some(f))?;
        Ok(added.expect("one file added"))
    }

    /// Copies the files at `paths` into the store, in order, and records them a chunk at a
    /// time: one transaction and one fsync of the store's folder for up to [`ADD_CHUNK_FILES`]
    /// files, where adding them one by one paid both per file (each file's own bytes are still
    /// fsynced before its row exists). `progress` gets the index of the file being copied and
    /// its bytes copied so far; `added` gets each file once its chunk is committed. The first
    /// file that cannot be added stops the rest: the files before it are stored (the chunk
    /// staged so far is committed), and its error is returned.
    pub fn add_files(
        &self,
        paths: &[PathBuf],
        public: bool,
        now: i64,
        progress: &mut dyn FnMut(usize, u64),
        added: &mut dyn FnMut(FileInfo),
    ) -> Result<()> {
        let _lock = self.writer_lock()?;
        // Public files' URLs are built on the base URL: read once, not once per file.
        let base = if public { Some(self.base_url(None)?) } else { None };
        let mut chunk = Vec::new();
        let mut chunk_bytes = 0u64;
        let mut commit = |chunk: Vec<(StagedFile, FileRecord)>| -> Result<()> {
            for file in self.commit_files(chunk, |_| Ok(true))?.unwrap_or_default() {
                added(self.file_info(file, 0, 0, base.as_deref())?);
            }
            Ok(())
        };
        for (index, path) in paths.iter().enumerate() {
            let staged = match self.stage_path(path, &mut |done| progress(index, done)) {
                Ok(staged) => staged,
                Err(e) => {
                    // What was staged before the failure is stored, as if added one by one.
                    commit(chunk)?;
                    return Err(e);
                }
            };
            let raw_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            chunk_bytes += staged.size;
            let record = owned_record(names::sanitize(&raw_name), &staged, public, now);
            chunk.push((staged, record));
            if chunk.len() >= ADD_CHUNK_FILES || chunk_bytes >= ADD_CHUNK_BYTES {
                commit(std::mem::take(&mut chunk))?;
                chunk_bytes = 0;
            }
        }
        commit(chunk)
    }

    /// Copies the file at `path` into a staged file, checking that it did not change during
    /// the copy. Blocking; the caller holds the writer lock.
    fn stage_path(&self, path: &Path, progress: &mut dyn FnMut(u64)) -> Result<StagedFile> {
        let ctx = |e| Error::io(format!("cannot read {}", path.display()), e);
        let mut source = File::open(path).map_err(ctx)?;
        let meta = source.metadata().map_err(ctx)?;
        if !meta.is_file() {
            return Err(Error::InvalidInput(format!("{} is not a regular file", path.display())));
        }
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
        Ok(staged)
    }

    /// Every file, received ones included, newest first.
    pub fn files(&self) -> Result<Vec<FileInfo>> {
        self.listed(files::list)
    }

    /// The files of `list`, with their link totals, last access and public URL.
    fn listed(&self, list: fn(&rusqlite::Connection) -> Result<Vec<FileRecord>>) -> Result<Vec<FileInfo>> {
        let (list, counts, accessed, base) = self
            .db
            .with(|c| Ok((list(c)?, links::counts_by_file(c)?, files::last_accesses(c)?, base_url(c, None)?)))?;
        list.into_iter()
            .map(|f| {
                let (links, downloads) = counts.get(&f.id).copied().unwrap_or_default();
                let last_access_at = accessed.get(&f.id).copied();
                let mut info = self.file_info(f, links, downloads, Some(&base))?;
                info.last_access_at = last_access_at;
                Ok(info)
            })
            .collect()
    }

    /// One file.
    pub fn file(&self, id: &str) -> Result<FileInfo> {
        let (file, counts, last_access_at) =
            self.db.with(|c| Ok((files::get(c, id)?, links::counts_by_file(c)?, files::last_access(c, id)?)))?;
        let file = file.ok_or_else(|| not_found("file", id))?;
        let (links, downloads) = counts.get(&file.id).copied().unwrap_or_default();
        let mut info = self.file_info(file, links, downloads, None)?;
        info.last_access_at = last_access_at;
        Ok(info)
    }

    /// One file's record, without its link totals (cheaper than [`Vault::file`]).
    pub fn file_record(&self, id: &str) -> Result<FileRecord> {
        self.db.with(|c| files::get(c, id))?.ok_or_else(|| not_found("file", id))
    }

    /// Removes a file: its row and links first (so nothing serves it), then its bytes.
    pub fn remove_file(&self, id: &str) -> Result<()> {
        let deleted = self.write(|c| {
            let tx = write_transaction(c)?;
            crate::links::delete_shares_of(&tx, id)?;
            let deleted = files::delete(&tx, id)?;
            tx.commit()?;
            Ok(deleted)
        })?;
        if !deleted {
            return Err(not_found("file", id));
        }
        // A thumbnail left behind is harmless (the start-up cleanup sweeps it): a warning only.
        if let Err(e) = crate::thumbnails::forget(&self.thumbnails_dir(), id) {
            tracing::warn!("cannot remove the thumbnail of {id}: {e}");
        }
        self.store.remove(id).map_err(|e| Error::io("cannot delete the stored file", e))
    }

    /// Files received through slots, newest first.
    pub fn inbox(&self) -> Result<Vec<FileInfo>> {
        self.listed(files::received)
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
        Ok(FileInfo { file, public_url, links, downloads, last_access_at: None })
    }
}

/// The record of a file its owner stores (not received through a slot), named `name`.
fn owned_record(name: String, staged: &StagedFile, public: bool, now: i64) -> FileRecord {
    FileRecord {
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
        upload_id: None,
        crc32: Some(staged.crc32),
        path: None,
    }
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

/// Where a public file is served without a token.
pub fn public_url(base: &str, file: &FileRecord) -> String {
    urls::public_file(base, &file.id, &file.name)
}
