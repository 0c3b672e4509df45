//! The private store: file contents on disk, named by generated id, immutable once written.
//!
//! Every write goes to a temp file (`.tmp-*`) inside the store folder, so the final rename never
//! crosses a file system. The file is hashed in the same pass that writes it, fsynced, renamed
//! into place and the folder fsynced: after a crash a store file is either absent or complete.
//! Leftovers (temp files, and store files whose database row was never written) are removed by
//! [`Store::cleanup`], which runs when a server starts.
//!
//! Writers hold a shared lock on `store/.lock` from the first byte until their database row is
//! committed; cleanup takes the exclusive lock and skips its run if it cannot, so a server that
//! starts while the CLI is adding a file never deletes that file half-way.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};
use tempfile::TempPath;

use crate::ids;

/// How many leading bytes of each file are kept for content sniffing.
pub const SNIFF_LEN: usize = 8192;
const COPY_BUFFER: usize = 1 << 20;
const TEMP_PREFIX: &str = ".tmp-";
const LOCK_FILE: &str = ".lock";

/// The store folder of a data dir.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

/// A file written and hashed into a temp file, waiting to be committed under an id.
#[derive(Debug)]
pub struct StagedFile {
    temp: TempPath,
    /// Bytes written.
    pub size: u64,
    /// Lower-case hex SHA-256 of the bytes.
    pub sha256: String,
    /// The first bytes, for content sniffing.
    pub head: Vec<u8>,
}

/// Held by a writer from its first byte until its database row is committed.
#[derive(Debug)]
pub struct WriterLock(#[allow(dead_code)] File);

/// What [`Store::cleanup`] removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Cleanup {
    /// Temp files of writes that never finished.
    pub temp_files: usize,
    /// Store files without a database row.
    pub orphans: usize,
    /// Whether cleanup was skipped because a writer was busy.
    pub skipped: bool,
}

impl Store {
    /// The store in `dir` (which must exist).
    pub fn new(dir: PathBuf) -> Store {
        Store { dir }
    }

    /// Where the file with `id` lives. `id` must be a generated id: it is never user input.
    pub fn path_of(&self, id: &str) -> PathBuf {
        assert!(ids::is_valid(id), "store paths are built from generated ids only");
        self.dir.join(id)
    }

    /// Takes the shared writer lock (see the module doc).
    pub fn writer_lock(&self) -> io::Result<WriterLock> {
        let file = self.lock_file()?;
        file.lock_shared()?;
        Ok(WriterLock(file))
    }

    fn lock_file(&self) -> io::Result<File> {
        use std::os::unix::fs::OpenOptionsExt;
        File::options().create(true).truncate(false).write(true).mode(0o600).open(self.dir.join(LOCK_FILE))
    }

    fn temp_file(&self) -> io::Result<tempfile::NamedTempFile> {
        let temp = tempfile::Builder::new().prefix(TEMP_PREFIX).tempfile_in(&self.dir)?;
        temp.as_file().set_permissions(fs::Permissions::from_mode(0o600))?;
        Ok(temp)
    }

    /// Copies `source` into a temp file, hashing in the same pass. `progress` is called with the
    /// bytes copied so far after each chunk.
    pub fn stage_from(&self, source: &mut impl Read, progress: &mut dyn FnMut(u64)) -> io::Result<StagedFile> {
        let mut temp = self.temp_file()?;
        let mut hasher = Sha256::new();
        let mut buffer = vec![0u8; COPY_BUFFER];
        let mut head = Vec::new();
        let mut size = 0u64;
        loop {
            let n = match source.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let chunk = &buffer[..n];
            hasher.update(chunk);
            keep_head(&mut head, chunk);
            temp.write_all(chunk)?;
            size += n as u64;
            progress(size);
        }
        Ok(StagedFile { temp: temp.into_temp_path(), size, sha256: hex(&hasher.finalize()), head })
    }

    /// Starts an upload written chunk by chunk from async code.
    pub fn incoming(&self) -> io::Result<Incoming> {
        let temp = self.temp_file()?;
        let (file, path) = temp.into_parts();
        let writer = Writer { file, hasher: Sha256::new() };
        Ok(Incoming {
            writer: Some(writer),
            in_flight: None,
            path,
            buffer: Vec::with_capacity(INCOMING_BUFFER),
            size: 0,
            head: Vec::new(),
        })
    }

    /// Makes a staged file durable and moves it to its place under `id`. Blocking.
    pub fn commit(&self, staged: StagedFile, id: &str, created_at: i64) -> io::Result<()> {
        let dest = self.path_of(id);
        {
            let file = File::options().write(true).open(&staged.temp)?;
            let mtime = SystemTime::UNIX_EPOCH + Duration::from_secs(created_at.max(0) as u64);
            file.set_modified(mtime)?;
            file.sync_all()?;
        }
        staged.temp.persist_noclobber(&dest).map_err(|e| e.error)?;
        File::open(&self.dir)?.sync_all()
    }

    /// Reads the stored file with `id` through and returns its size and SHA-256 (for `verify`).
    pub fn hash_of(&self, id: &str) -> io::Result<(u64, String)> {
        let mut file = File::open(self.path_of(id))?;
        let mut hasher = Sha256::new();
        let mut buffer = vec![0u8; COPY_BUFFER];
        let mut size = 0u64;
        loop {
            match file.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => {
                    hasher.update(&buffer[..n]);
                    size += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok((size, hex(&hasher.finalize())))
    }

    /// Deletes the file with `id`; a file already gone is not an error.
    pub fn remove(&self, id: &str) -> io::Result<()> {
        match fs::remove_file(self.path_of(id)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Removes temp files and store files for which `has_row` is false. Skips (and says so) if a
    /// writer holds the lock.
    pub fn cleanup(&self, has_row: impl Fn(&str) -> bool) -> io::Result<Cleanup> {
        let lock = self.lock_file()?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Ok(Cleanup { skipped: true, ..Cleanup::default() }),
            Err(fs::TryLockError::Error(e)) => return Err(e),
        }
        let mut report = Cleanup::default();
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with(TEMP_PREFIX) {
                fs::remove_file(entry.path())?;
                report.temp_files += 1;
            } else if ids::is_valid(name) && !has_row(name) {
                fs::remove_file(entry.path())?;
                report.orphans += 1;
            }
        }
        Ok(report)
    }

    /// The store folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// How much of an upload gathers in memory before it is hashed and written: request bodies
/// arrive in small chunks, and each trip to the blocking pool costs a thread handoff.
const INCOMING_BUFFER: usize = 1 << 20;

/// An upload being written from async code; dropped before [`Incoming::finish`], its temp file
/// is deleted.
#[derive(Debug)]
pub struct Incoming {
    writer: Option<Writer>,
    /// The buffer being hashed and written while the next one fills.
    in_flight: Option<tokio::task::JoinHandle<(Writer, io::Result<()>)>>,
    path: TempPath,
    buffer: Vec<u8>,
    size: u64,
    head: Vec<u8>,
}

/// The file and the running hash, moved into the blocking pool and back for each buffer.
#[derive(Debug)]
struct Writer {
    file: File,
    hasher: Sha256,
}

impl Incoming {
    /// Appends a chunk; every full buffer is hashed and written off the async workers.
    pub async fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        keep_head(&mut self.head, chunk);
        self.buffer.extend_from_slice(chunk);
        self.size += chunk.len() as u64;
        if self.buffer.len() >= INCOMING_BUFFER {
            self.drain().await?;
        }
        Ok(())
    }

    /// Hands the full buffer to the blocking pool and returns while it is hashed and written, so
    /// the next buffer fills meanwhile (hashing is most of an upload's CPU time: BENCHMARKS.md).
    async fn drain(&mut self) -> io::Result<()> {
        self.settle().await?;
        let mut writer = self.writer.take().ok_or_else(|| io::Error::other("an earlier write failed"))?;
        let buffer = std::mem::replace(&mut self.buffer, Vec::with_capacity(INCOMING_BUFFER));
        self.in_flight = Some(tokio::task::spawn_blocking(move || {
            writer.hasher.update(&buffer);
            let result = writer.file.write_all(&buffer);
            (writer, result)
        }));
        Ok(())
    }

    /// Waits for the buffer in flight, if any.
    async fn settle(&mut self) -> io::Result<()> {
        if let Some(task) = self.in_flight.take() {
            let (writer, result) = task.await.map_err(io::Error::other)?;
            result?;
            self.writer = Some(writer);
        }
        Ok(())
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Writes what is left and hands the file over for [`Store::commit`].
    pub async fn finish(mut self) -> io::Result<StagedFile> {
        self.drain().await?;
        self.settle().await?;
        let writer = self.writer.take().ok_or_else(|| io::Error::other("an earlier write failed"))?;
        Ok(StagedFile { temp: self.path, size: self.size, sha256: hex(&writer.hasher.finalize()), head: self.head })
    }
}

fn keep_head(head: &mut Vec<u8>, chunk: &[u8]) {
    if head.len() < SNIFF_LEN {
        let take = (SNIFF_LEN - head.len()).min(chunk.len());
        head.extend_from_slice(&chunk[..take]);
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().to_path_buf());
        (dir, store)
    }

    #[test]
    fn stages_hashes_and_commits() {
        let (_dir, store) = store();
        let mut seen = 0;
        let staged = store.stage_from(&mut &b"hello"[..], &mut |n| seen = n).unwrap();
        assert_eq!(seen, 5);
        assert_eq!(staged.sha256, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
        let id = ids::generate();
        store.commit(staged, &id, 1_700_000_000).unwrap();
        let path = store.path_of(&id);
        assert_eq!(fs::read(&path).unwrap(), b"hello");
        let mtime = fs::metadata(&path).unwrap().modified().unwrap();
        assert_eq!(mtime, SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn dropped_staged_file_leaves_nothing() {
        let (dir, store) = store();
        drop(store.stage_from(&mut &b"partial"[..], &mut |_| {}).unwrap());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn cleanup_removes_temp_files_and_orphans_only() {
        let (dir, store) = store();
        let kept = ids::generate();
        let orphan = ids::generate();
        fs::write(dir.path().join(&kept), b"k").unwrap();
        fs::write(dir.path().join(&orphan), b"o").unwrap();
        fs::write(dir.path().join(".tmp-abc"), b"t").unwrap();
        let report = store.cleanup(|id| id == kept).unwrap();
        assert_eq!(report, Cleanup { temp_files: 1, orphans: 1, skipped: false });
        assert!(dir.path().join(&kept).exists());
        assert!(!dir.path().join(&orphan).exists());
    }

    #[test]
    fn cleanup_waits_for_writers() {
        let (dir, store) = store();
        fs::write(dir.path().join(".tmp-inflight"), b"t").unwrap();
        let lock = store.writer_lock().unwrap();
        assert!(store.cleanup(|_| false).unwrap().skipped);
        assert!(dir.path().join(".tmp-inflight").exists());
        drop(lock);
        assert_eq!(store.cleanup(|_| false).unwrap().temp_files, 1);
    }
}
