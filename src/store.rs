//! The private store: file contents on disk, named by generated id, immutable once written.
//!
//! Every write goes to a temp file (`.tmp-*`) inside the store folder, so the final rename never
//! crosses a file system. The file is hashed in the same pass that writes it, fsynced, renamed
//! into place and the folder fsynced: after a crash a store file is either absent or complete.
//!
//! [`Store::cleanup`] runs when a server starts. It removes temp files (a write that never
//! finished) and moves store files the database has no record of into the quarantine folder. It
//! never deletes such a file: "no record" is also what a damaged record or an older
//! `sharelock.db` put back from a backup look like, and then the file is the user's only copy.
//! `sharelock verify` lists the quarantine and `sharelock verify --adopt` adds its files back.
//!
//! Writers hold a shared lock on `store/.lock` from the first byte until their database row is
//! committed; cleanup takes the exclusive lock (and only then reads which records exist) and
//! skips its run if it cannot, so a server that starts while the CLI is adding a file never
//! moves that file half-way.

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
/// How many files [`Store::place_all`] makes durable at once (8 was as fast as 16 here).
const PLACE_IN_FLIGHT: usize = 8;

/// The store folder of a data dir, and its quarantine.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
    quarantine: PathBuf,
}

/// A file written and hashed into a temp file, waiting to be committed under an id.
#[derive(Debug)]
pub struct StagedFile {
    temp: TempPath,
    /// Bytes written.
    pub size: u64,
    /// Lower-case hex SHA-256 of the bytes.
    pub sha256: String,
    /// CRC-32 of the bytes, computed in the same pass (a zip entry needs it ahead of the bytes).
    pub crc32: u32,
    /// The first bytes, for content sniffing.
    pub head: Vec<u8>,
}

/// Held by a writer from its first byte until its database row is committed.
#[derive(Debug)]
pub struct WriterLock(#[allow(dead_code)] File);

/// Held by cleanup: no writer is between its first byte and its committed row.
#[derive(Debug)]
pub struct SweepLock(#[allow(dead_code)] File);

/// What [`Store::cleanup`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Cleanup {
    /// Temp files of writes that never finished, removed.
    pub temp_files: usize,
    /// Store files without a database row, moved to [`Cleanup::quarantine`].
    pub orphans: usize,
    /// The quarantine folder.
    pub quarantine: PathBuf,
    /// Whether cleanup was skipped because a writer was busy.
    pub skipped: bool,
}

/// A file read through: its size, SHA-256, first bytes and modification time.
#[derive(Debug, Clone)]
pub struct Inspected {
    /// Bytes.
    pub size: u64,
    /// Lower-case hex SHA-256.
    pub sha256: String,
    /// CRC-32.
    pub crc32: u32,
    /// The first bytes, for content sniffing.
    pub head: Vec<u8>,
    /// Last modification.
    pub modified: SystemTime,
}

impl Store {
    /// The store in `dir` (which must exist), with its quarantine folder (made when needed, on
    /// the same file system so that moving a file there is a rename).
    pub fn new(dir: PathBuf, quarantine: PathBuf) -> Store {
        Store { dir, quarantine }
    }

    /// Where the file with `id` lives. `id` must be a generated id or come from a record, which
    /// is checked as it is read (see [`crate::files`]); anything else is a bug, not damage.
    pub fn path_of(&self, id: &str) -> PathBuf {
        assert!(ids::is_valid(id), "store paths are built from generated ids only");
        self.dir.join(id)
    }

    /// Where the file with `id` lives, for ids that may come from anywhere: an error for
    /// anything that is not an id.
    fn checked_path(&self, id: &str) -> io::Result<PathBuf> {
        if ids::is_valid(id) {
            Ok(self.dir.join(id))
        } else {
            Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{id:?} is not a Sharelock id")))
        }
    }

    /// The quarantine folder.
    pub fn quarantine(&self) -> &Path {
        &self.quarantine
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
        let (file, temp) = self.temp_file()?.into_parts();
        let mut writer = Writer::new(file);
        let mut buffer = vec![0u8; COPY_BUFFER];
        loop {
            let n = match source.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            writer.take(&buffer[..n])?;
            progress(writer.written.size);
        }
        Ok(writer.staged(temp))
    }

    /// Starts an upload written chunk by chunk from async code.
    pub fn incoming(&self) -> io::Result<Incoming> {
        let (file, path) = self.temp_file()?.into_parts();
        Ok(Incoming {
            writer: Some(Writer::new(file)),
            in_flight: None,
            path,
            buffer: Vec::with_capacity(INCOMING_BUFFER),
            spare: None,
            size: 0,
        })
    }

    /// Makes a staged file durable and moves it to its place under `id`. Blocking.
    pub fn commit(&self, staged: StagedFile, id: &str, created_at: i64) -> io::Result<()> {
        self.place(staged, id, created_at)?;
        self.sync_folder()
    }

    /// Makes a staged file's bytes durable and renames it to its place under `id`; the rename
    /// is durable only after [`Store::sync_folder`], which one call can do for many files.
    /// Blocking.
    pub fn place(&self, staged: StagedFile, id: &str, created_at: i64) -> io::Result<()> {
        let dest = self.checked_path(id)?;
        {
            let file = File::options().write(true).open(&staged.temp)?;
            file.set_modified(committed_mtime(created_at))?;
            file.sync_all()?;
        }
        staged.temp.persist_noclobber(&dest).map_err(|e| e.error)
    }

    /// [`Store::place`]s each of `files` (staged file, id, creation time), several at once, and
    /// returns each one's outcome in their order. Blocking.
    ///
    /// A file's fsync mostly waits for the disk. With several in flight the disk (and a virtual
    /// disk's queue) takes them together, where one after another each pays the whole round
    /// trip: 1,000 small files took 250 ms one at a time and 75 ms eight at a time here. Each
    /// file is still durable before any row names it.
    pub fn place_all(&self, files: Vec<(StagedFile, String, i64)>) -> Vec<io::Result<()>> {
        let count = files.len();
        let workers = PLACE_IN_FLIGHT.min(count);
        if workers <= 1 {
            return files.into_iter().map(|(staged, id, at)| self.place(staged, &id, at)).collect();
        }
        let queue = std::sync::Mutex::new(files.into_iter().enumerate());
        let next = || queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner).next();
        let mut outcomes: Vec<(usize, io::Result<()>)> = std::thread::scope(|scope| {
            let placing: Vec<_> = (0..workers)
                .map(|_| {
                    scope.spawn(|| {
                        let mut done = Vec::new();
                        while let Some((index, (staged, id, at))) = next() {
                            done.push((index, self.place(staged, &id, at)));
                        }
                        done
                    })
                })
                .collect();
            placing
                .into_iter()
                .flat_map(|worker| worker.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
                .collect()
        });
        outcomes.sort_unstable_by_key(|(index, _)| *index);
        outcomes.into_iter().map(|(_, outcome)| outcome).collect()
    }

    /// Makes the renames into the store durable (an fsync of its folder). Blocking.
    pub fn sync_folder(&self) -> io::Result<()> {
        File::open(&self.dir)?.sync_all()
    }

    /// Reads the stored file with `id` through and returns its size and SHA-256 (for `verify`).
    pub fn hash_of(&self, id: &str) -> io::Result<(u64, String)> {
        let found = inspect(&self.checked_path(id)?)?;
        Ok((found.size, found.sha256))
    }

    /// Deletes the file with `id`; a file already gone is not an error, and neither is an id no
    /// store file can have (a damaged record's).
    pub fn remove(&self, id: &str) -> io::Result<()> {
        let Ok(path) = self.checked_path(id) else { return Ok(()) };
        match fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Takes the exclusive lock that [`Store::cleanup`] needs; `None` while a writer is busy.
    pub fn sweep_lock(&self) -> io::Result<Option<SweepLock>> {
        let lock = self.lock_file()?;
        match lock.try_lock() {
            Ok(()) => Ok(Some(SweepLock(lock))),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(e)) => Err(e),
        }
    }

    /// Removes temp files and moves store files for which `has_row` is false to the quarantine.
    /// The caller reads which rows exist after taking `_lock`, so no writer can commit a file
    /// between that read and this sweep.
    pub fn cleanup(&self, _lock: &SweepLock, has_row: impl Fn(&str) -> bool) -> io::Result<Cleanup> {
        let mut report = Cleanup { quarantine: self.quarantine.clone(), ..Cleanup::default() };
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with(TEMP_PREFIX) {
                fs::remove_file(entry.path())?;
                report.temp_files += 1;
            } else if ids::is_valid(name) && !has_row(name) {
                self.to_quarantine(&entry.path(), name)?;
                report.orphans += 1;
            }
        }
        if report.orphans > 0 {
            File::open(&self.quarantine)?.sync_all()?;
            File::open(&self.dir)?.sync_all()?;
        }
        Ok(report)
    }

    /// Moves a store file to the quarantine under its own name, or its name with `.1`, `.2`… if
    /// a different file already has it there (two copies of one file become one).
    fn to_quarantine(&self, path: &Path, name: &str) -> io::Result<PathBuf> {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt};
        fs::DirBuilder::new().recursive(true).mode(0o700).create(&self.quarantine)?;
        let moved = fs::metadata(path)?;
        for n in 0u32.. {
            let dest = match n {
                0 => self.quarantine.join(name),
                n => self.quarantine.join(format!("{name}.{n}")),
            };
            match rename_noclobber(path, &dest) {
                Ok(()) => return Ok(dest),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    let there = fs::symlink_metadata(&dest)?;
                    if there.dev() == moved.dev() && there.ino() == moved.ino() {
                        fs::remove_file(path)?;
                        return Ok(dest);
                    }
                }
                Err(e) => return Err(e),
            }
        }
        unreachable!("a name is free before u32 runs out")
    }

    /// Store files that have no database row (by `has_row`), not yet moved to the quarantine.
    /// Without the sweep lock a file being added right now may be listed too: for reports only.
    pub fn unrecorded(&self, has_row: impl Fn(&str) -> bool) -> io::Result<Vec<PathBuf>> {
        let mut found = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            if name.to_str().is_some_and(|n| ids::is_valid(n) && !has_row(n)) && entry.file_type()?.is_file() {
                found.push(entry.path());
            }
        }
        found.sort();
        Ok(found)
    }

    /// The regular files in the quarantine, by name.
    pub fn quarantined(&self) -> io::Result<Vec<PathBuf>> {
        let entries = match fs::read_dir(&self.quarantine) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut found = Vec::new();
        for entry in entries {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                found.push(entry.path());
            }
        }
        found.sort();
        Ok(found)
    }

    /// Moves a quarantined file into the store under `id`, with `created_at` as its
    /// modification time (what downloads check). Hold the writer lock from here until the
    /// file's row is committed; if it never is, [`Store::release`] puts the file back.
    pub fn take_in(&self, quarantined: &Path, id: &str, created_at: i64) -> io::Result<()> {
        let dest = self.checked_path(id)?;
        rename_noclobber(quarantined, &dest)?;
        let placed = (|| {
            fs::set_permissions(&dest, fs::Permissions::from_mode(0o600))?;
            let file = File::options().write(true).open(&dest)?;
            file.set_modified(committed_mtime(created_at))?;
            file.sync_all()?;
            File::open(&self.dir)?.sync_all()
        })();
        if let Err(e) = placed {
            let _ = rename_noclobber(&dest, quarantined);
            return Err(e);
        }
        Ok(())
    }

    /// Puts a file [`Store::take_in`] moved back where it was in the quarantine.
    pub fn release(&self, id: &str, quarantined: &Path) -> io::Result<()> {
        rename_noclobber(&self.checked_path(id)?, quarantined)
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
    /// The buffer being hashed and written while the next one fills; it comes back with the
    /// writer.
    in_flight: Option<tokio::task::JoinHandle<Written>>,
    path: TempPath,
    buffer: Vec<u8>,
    /// The buffer last written, kept for the next: a fresh megabyte each time costs its page
    /// faults again (glibc maps allocations this large afresh).
    spare: Option<Vec<u8>>,
    /// Bytes received, the buffered ones included (what the upload's limits count).
    size: u64,
}

/// What comes back from writing a buffer: the writer, the buffer (for the next) and the outcome.
type Written = (Writer, Vec<u8>, io::Result<()>);

/// What one pass over a file's bytes learns: its size, SHA-256, CRC-32 and first bytes. Every
/// whole-file pass (publishing, an upload, re-reading a stored file) takes its bytes through one.
#[derive(Debug)]
struct Fingerprint {
    size: u64,
    hasher: Sha256,
    crc: crc32fast::Hasher,
    head: Vec<u8>,
}

impl Fingerprint {
    fn new() -> Fingerprint {
        Fingerprint { size: 0, hasher: Sha256::new(), crc: crc32fast::Hasher::new(), head: Vec::new() }
    }

    fn update(&mut self, chunk: &[u8]) {
        self.hasher.update(chunk);
        self.crc.update(chunk);
        if self.head.len() < SNIFF_LEN {
            let take = (SNIFF_LEN - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
        }
        self.size += chunk.len() as u64;
    }

    /// Size, hex SHA-256, CRC-32 and first bytes.
    fn finish(self) -> (u64, String, u32, Vec<u8>) {
        (self.size, hex(&self.hasher.finalize()), self.crc.finalize(), self.head)
    }
}

/// A temp file being written and fingerprinted in one pass; an upload moves it into the blocking
/// pool and back for each buffer.
#[derive(Debug)]
struct Writer {
    file: File,
    /// What was written so far.
    written: Fingerprint,
}

impl Writer {
    fn new(file: File) -> Writer {
        Writer { file, written: Fingerprint::new() }
    }

    /// Fingerprints and writes one buffer, and starts the disk writing it out.
    fn take(&mut self, buffer: &[u8]) -> io::Result<()> {
        let offset = self.written.size;
        self.written.update(buffer);
        self.file.write_all(buffer)?;
        start_writeback(&self.file, offset, buffer.len() as u64);
        Ok(())
    }

    /// The written file, `temp`, for [`Store::commit`].
    fn staged(self, temp: TempPath) -> StagedFile {
        let (size, sha256, crc32, head) = self.written.finish();
        StagedFile { temp, size, sha256, crc32, head }
    }
}

/// Asks the kernel to start writing `len` bytes at `offset` out to the disk now, without waiting
/// for them. An upload is made durable by one fsync at its end; without this, the disk starts on
/// the bytes only when the kernel's background writeback gets to them, and that fsync waits for
/// most of the file. Started as each buffer is written, the disk works while the next buffers
/// arrive and are hashed, and the fsync waits only for the last few (BENCHMARKS.md, upload).
/// `sync_file_range` is Linux's; neither `std` nor `rustix` offers it. A failure only loses the
/// head start: the fsync still makes the file durable.
fn start_writeback(file: &File, offset: u64, len: u64) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: the descriptor is open for as long as `file` is borrowed; the call reads no memory.
        unsafe {
            libc::sync_file_range(file.as_raw_fd(), offset as i64, len as i64, libc::SYNC_FILE_RANGE_WRITE);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, offset, len);
}

impl Incoming {
    /// Appends a chunk; every full buffer is hashed and written off the async workers.
    pub async fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
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
        let next = self.spare.take().unwrap_or_else(|| Vec::with_capacity(INCOMING_BUFFER));
        let buffer = std::mem::replace(&mut self.buffer, next);
        self.in_flight = Some(tokio::task::spawn_blocking(move || {
            let result = writer.take(&buffer);
            (writer, buffer, result)
        }));
        Ok(())
    }

    /// Waits for the buffer in flight, if any.
    async fn settle(&mut self) -> io::Result<()> {
        if let Some(task) = self.in_flight.take() {
            let (writer, mut buffer, result) = task.await.map_err(io::Error::other)?;
            result?;
            self.writer = Some(writer);
            buffer.clear();
            self.spare = Some(buffer);
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
        Ok(writer.staged(self.path))
    }
}

/// The modification time a stored file is committed with: its record's `created_at`, to the
/// second (see [`Store::place`] and [`Store::take_in`]).
pub fn committed_mtime(created_at: i64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(created_at.max(0) as u64)
}

/// Whether a stored file still has the size and modification time it was committed with; if
/// either changed, someone edited it behind Sharelock's back.
pub fn unchanged(size: u64, modified: SystemTime, committed_size: u64, created_at: i64) -> bool {
    size == committed_size && modified == committed_mtime(created_at)
}

/// Reads the file at `path` through: size, SHA-256, first bytes and modification time.
pub fn inspect(path: &Path) -> io::Result<Inspected> {
    let mut file = File::open(path)?;
    let modified = file.metadata()?.modified()?;
    let mut read = Fingerprint::new();
    let mut buffer = vec![0u8; COPY_BUFFER];
    loop {
        match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => read.update(&buffer[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let (size, sha256, crc32, head) = read.finish();
    Ok(Inspected { size, sha256, crc32, head, modified })
}

/// Renames `from` to `to` unless `to` exists (then `AlreadyExists`): atomically where the file
/// system can (`renameat2` with `RENAME_NOREPLACE`), else with a check first, which is enough
/// as every caller holds a store lock that keeps other movers out.
fn rename_noclobber(from: &Path, to: &Path) -> io::Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    match renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => {
            if fs::symlink_metadata(to).is_ok() {
                return Err(io::Error::new(io::ErrorKind::AlreadyExists, format!("{} exists", to.display())));
            }
            fs::rename(from, to)
        }
        Err(e) => Err(e.into()),
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
        let store = Store::new(dir.path().to_path_buf(), dir.path().join("quarantine"));
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
    fn places_many_at_once_each_with_its_own_outcome_in_order() {
        let (dir, store) = store();
        let ids: Vec<String> = (0..20).map(|_| ids::generate()).collect();
        // The 8th file's place is taken already: a rename that must not clobber it fails.
        fs::write(store.path_of(&ids[7]), b"already here").unwrap();
        let files = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let staged = store.stage_from(&mut format!("file {i}").as_bytes(), &mut |_| {}).unwrap();
                (staged, id.clone(), 1_700_000_000 + i as i64)
            })
            .collect();
        let outcomes = store.place_all(files);
        assert_eq!(outcomes.len(), 20);
        for (i, (outcome, id)) in outcomes.iter().zip(&ids).enumerate() {
            let path = store.path_of(id);
            if i == 7 {
                assert_eq!(outcome.as_ref().unwrap_err().kind(), io::ErrorKind::AlreadyExists);
                assert_eq!(fs::read(&path).unwrap(), b"already here", "the file in the way is untouched");
                continue;
            }
            outcome.as_ref().unwrap();
            assert_eq!(fs::read_to_string(&path).unwrap(), format!("file {i}"), "file {i} is under its own id");
            let mtime = fs::metadata(&path).unwrap().modified().unwrap();
            assert_eq!(mtime, SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + i as u64));
        }
        // The failed file's temp copy is gone with it: only the 20 files are left.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 20);
    }

    #[test]
    fn dropped_staged_file_leaves_nothing() {
        let (dir, store) = store();
        drop(store.stage_from(&mut &b"partial"[..], &mut |_| {}).unwrap());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn cleanup_removes_temp_files_and_quarantines_orphans() {
        let (dir, store) = store();
        let kept = ids::generate();
        let orphan = ids::generate();
        fs::write(dir.path().join(&kept), b"k").unwrap();
        fs::write(dir.path().join(&orphan), b"o").unwrap();
        fs::write(dir.path().join(".tmp-abc"), b"t").unwrap();
        let lock = store.sweep_lock().unwrap().unwrap();
        let report = store.cleanup(&lock, |id| id == kept).unwrap();
        let quarantine = dir.path().join("quarantine");
        assert_eq!(report, Cleanup { temp_files: 1, orphans: 1, quarantine: quarantine.clone(), skipped: false });
        assert!(dir.path().join(&kept).exists());
        assert!(!dir.path().join(&orphan).exists());
        assert_eq!(fs::read(quarantine.join(&orphan)).unwrap(), b"o");
        assert_eq!(fs::metadata(&quarantine).unwrap().permissions().mode() & 0o777, 0o700);
        assert!(!dir.path().join(".tmp-abc").exists());
    }

    #[test]
    fn quarantine_never_overwrites() {
        let (dir, store) = store();
        let id = ids::generate();
        let lock = store.sweep_lock().unwrap().unwrap();
        for content in [&b"first"[..], b"second", b"third"] {
            fs::write(dir.path().join(&id), content).unwrap();
            store.cleanup(&lock, |_| false).unwrap();
        }
        let q = dir.path().join("quarantine");
        assert_eq!(fs::read(q.join(&id)).unwrap(), b"first");
        assert_eq!(fs::read(q.join(format!("{id}.1"))).unwrap(), b"second");
        assert_eq!(fs::read(q.join(format!("{id}.2"))).unwrap(), b"third");
        // The same file under both names (a move cut short) ends up once.
        fs::hard_link(q.join(&id), dir.path().join(&id)).unwrap();
        store.cleanup(&lock, |_| false).unwrap();
        assert_eq!(store.quarantined().unwrap().len(), 3);
    }

    #[test]
    fn cleanup_waits_for_writers() {
        let (dir, store) = store();
        fs::write(dir.path().join(".tmp-inflight"), b"t").unwrap();
        let lock = store.writer_lock().unwrap();
        assert!(store.sweep_lock().unwrap().is_none());
        assert!(dir.path().join(".tmp-inflight").exists());
        drop(lock);
        let sweep = store.sweep_lock().unwrap().unwrap();
        assert_eq!(store.cleanup(&sweep, |_| false).unwrap().temp_files, 1);
    }

    #[test]
    fn ids_that_are_not_ids_reach_no_path() {
        let (_dir, store) = store();
        assert!(store.hash_of("../../etc/passwd").is_err());
        assert!(store.remove("../../etc/passwd").is_ok());
        let staged = store.stage_from(&mut &b"x"[..], &mut |_| {}).unwrap();
        assert!(store.commit(staged, "../x", 0).is_err());
    }
}
