//! Small stored files kept in memory, each checked against its file on disk at every use.
//!
//! A download of a small file answered from disk costs an open, a status, reads and a close;
//! answered from here it costs one `stat` of its name in the store's folder, which is kept open
//! so that only the last component is looked up (BENCHMARKS.md, small GETs). Stored files
//! never change, but one changed or removed behind Sharelock's back must still answer 410 at
//! once, as it does from disk: the bytes are served only while the file's identity (device,
//! inode, size, modification and change times) is what it was when they were read. Any write,
//! truncation or replacement of the file changes its change time or its inode, which no one
//! can set back.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use quick_cache::Weighter;
use quick_cache::sync::Cache;

/// How much the kept files may weigh together.
const CAPACITY_BYTES: u64 = 8 << 20;
/// About how many files that is, for the cache's sizing (a guess: 4 KiB each).
const CAPACITY_FILES: usize = (CAPACITY_BYTES / 4096) as usize;
/// What an entry costs beyond its bytes: its key, identity and the map's slot.
const ENTRY_OVERHEAD: u64 = 128;

/// The kept files, by name in the store's folder.
pub struct SmallFiles {
    /// The store's folder.
    path: PathBuf,
    /// The same, opened at the first read: a name is looked up in it alone, where a whole path
    /// is walked from the root at every `stat`.
    folder: OnceLock<fs::File>,
    cache: Cache<Box<str>, Kept, ByBytes>,
}

/// A file's bytes and the identity of the file they were read from.
#[derive(Clone)]
struct Kept {
    bytes: Bytes,
    identity: Identity,
}

/// What changes when a file is written, truncated, replaced or removed and put back.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Identity {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Identity {
    fn of(stat: &rustix::fs::Stat) -> Identity {
        Identity {
            dev: stat.st_dev,
            ino: stat.st_ino,
            size: stat.st_size as u64,
            mtime: (stat.st_mtime, stat.st_mtime_nsec as i64),
            ctime: (stat.st_ctime, stat.st_ctime_nsec as i64),
        }
    }

    /// The modification time, as `fs::Metadata::modified` gives it.
    fn modified(&self) -> SystemTime {
        let (secs, nanos) = self.mtime;
        let nanos = Duration::from_nanos(nanos as u64);
        match u64::try_from(secs) {
            Ok(secs) => SystemTime::UNIX_EPOCH + Duration::from_secs(secs) + nanos,
            Err(_) => SystemTime::UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs()) + nanos,
        }
    }
}

#[derive(Clone)]
struct ByBytes;

impl Weighter<Box<str>, Kept> for ByBytes {
    fn weight(&self, key: &Box<str>, kept: &Kept) -> u64 {
        kept.bytes.len() as u64 + key.len() as u64 + ENTRY_OVERHEAD
    }
}

impl SmallFiles {
    /// Small files of the store's folder at `path`, which is opened at the first read.
    pub fn new(path: &Path) -> SmallFiles {
        SmallFiles {
            path: path.to_path_buf(),
            folder: OnceLock::new(),
            cache: Cache::with_weighter(CAPACITY_FILES, CAPACITY_BYTES, ByBytes),
        }
    }

    /// The whole file `name` in the folder, with its modification time: from memory while the
    /// file is the one read before, else read now (and kept). Blocking, but one `stat` when
    /// kept.
    pub fn read(&self, name: &str) -> io::Result<(Bytes, SystemTime)> {
        // Only a store file's name, never a path out of the folder (a damaged record's id).
        if !crate::ids::is_valid(name) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a stored file's name"));
        }
        let folder = self.folder()?;
        let found = Identity::of(&rustix::fs::statat(folder, name, rustix::fs::AtFlags::empty())?);
        if let Some(kept) = self.cache.get(name)
            && kept.identity == found
        {
            return Ok((kept.bytes, found.modified()));
        }
        let flags = rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC;
        let mut file = fs::File::from(rustix::fs::openat(folder, name, flags, rustix::fs::Mode::empty())?);
        // The identity of the file opened, which may have been replaced since the `stat` above.
        let identity = Identity::of(&rustix::fs::fstat(&file)?);
        // One more byte than the size asks for, so that a file grown since reads as longer.
        let mut bytes = Vec::with_capacity(identity.size as usize + 1);
        file.read_to_end(&mut bytes)?;
        let bytes = Bytes::from(bytes);
        if bytes.len() as u64 == identity.size {
            self.cache.insert(name.into(), Kept { bytes: bytes.clone(), identity });
        }
        Ok((bytes, identity.modified()))
    }

    fn folder(&self) -> io::Result<&fs::File> {
        if let Some(folder) = self.folder.get() {
            return Ok(folder);
        }
        let _ = self.folder.set(fs::File::open(&self.path)?);
        Ok(self.folder.get().expect("set just now"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stored file's name: an id.
    const NAME: &str = "abcdefghjkmnpqrs";

    fn modified(path: &Path) -> SystemTime {
        fs::metadata(path).unwrap().modified().unwrap()
    }

    #[test]
    fn a_kept_file_is_read_again_once_it_changes_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(NAME);
        fs::write(&path, b"first").unwrap();
        let when = modified(&path);
        let files = SmallFiles::new(dir.path());
        assert_eq!(files.read(NAME).unwrap(), (Bytes::from_static(b"first"), when));
        // Same size, and the modification time put back as it was: the change time still moves
        // (kernels before multigrain timestamps, 6.13, keep it at a clock tick of a few ms).
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(&path, b"other").unwrap();
        fs::File::options().write(true).open(&path).unwrap().set_modified(when).unwrap();
        assert_eq!(files.read(NAME).unwrap(), (Bytes::from_static(b"other"), when));
        // Replaced by another file.
        let other = dir.path().join("g");
        fs::write(&other, b"third").unwrap();
        fs::rename(&other, &path).unwrap();
        assert_eq!(files.read(NAME).unwrap().0, Bytes::from_static(b"third"));
    }

    #[test]
    fn a_removed_file_is_not_found_even_when_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(NAME);
        fs::write(&path, b"bytes").unwrap();
        let files = SmallFiles::new(dir.path());
        files.read(NAME).unwrap();
        fs::remove_file(&path).unwrap();
        assert_eq!(files.read(NAME).unwrap_err().kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn only_a_stored_files_name_is_looked_up() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("store")).unwrap();
        fs::write(dir.path().join("secret"), b"not a stored file").unwrap();
        let files = SmallFiles::new(&dir.path().join("store"));
        for name in ["../secret", "", ".", "..", "abcdefghjkmnpqr/"] {
            let err = files.read(name).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{name:?}");
        }
    }

    #[test]
    fn an_unchanged_file_is_served_from_memory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(NAME);
        fs::write(&path, b"bytes").unwrap();
        let files = SmallFiles::new(dir.path());
        let first = files.read(NAME).unwrap().0;
        let second = files.read(NAME).unwrap().0;
        // The very same buffer: no read happened.
        assert_eq!(first.as_ptr(), second.as_ptr());
    }
}
