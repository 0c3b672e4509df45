//! Which commit the database is at, told by one read of shared memory: the header of SQLite's
//! own WAL index (the `-shm` file every connection to a WAL database maps), which every writer
//! rewrites as it commits, whoever it is: this process, the CLI, the app, the `sqlite3` shell.
//! Whatever was read from the database while the header stayed the same is still what the
//! database holds, so a cache of rows can be trusted for as long as the header does not move.
//!
//! Written by hand because SQLite offers nothing cheaper for it: `PRAGMA data_version` opens a
//! read transaction, and a read transaction (its locks and two `fcntl`) was a fifth of a small
//! signed GET's cost (BENCHMARKS.md). The header's layout is documented ("WAL-mode File Format",
//! <https://sqlite.org/walformat.html>, the wal-index header) and has kept its version,
//! 3007000, since WAL came. It is read through SQLite's own mapping of the index (`xShmMap` of
//! a connection kept open for it), never through a descriptor of ours: closing any descriptor
//! of the `-shm` file would drop the locks SQLite holds on it (fcntl(2)).

use std::ffi::{c_int, c_void};
use std::ptr::{self, NonNull};
use std::sync::Mutex;
use std::sync::atomic::{Ordering, fence};

use rusqlite::{Connection, ffi};

use super::HeaderShare;

/// The WAL index's version in its header (`WALINDEX_MAX_VERSION` in SQLite).
const WAL_INDEX_VERSION: u32 = 3_007_000;
/// The size of the WAL index's regions, as SQLite maps them (`WALINDEX_PGSZ`).
const REGION_SIZE: c_int = 32 * 1024;
/// The header's length in 32-bit words (`sizeof(WalIndexHdr)`, 48 bytes).
const HEADER_WORDS: usize = 12;

/// Where the database is: the first copy of the WAL index header, as it was when read. Two
/// equal marks mean no commit came between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark([u32; HEADER_WORDS]);

/// Reads the [`Mark`] of one database.
pub struct Commits {
    header: Header,
    /// The connection whose mapping `header` points into: SQLite unmaps the index when the
    /// connection closes, so it lives exactly as long as the pointer is used.
    _conn: Mutex<Connection>,
    /// Its database's header descriptor, kept while the connection is open (see `Db`).
    _share: Option<HeaderShare>,
}

impl std::fmt::Debug for Commits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Commits").field("mark", &self.mark()).finish()
    }
}

/// The start of the mapped WAL index.
struct Header(NonNull<u32>);

// SAFETY: the pointer is into a shared mapping that stays mapped while `Commits` holds its
// connection, and it is only ever read, with volatile loads of aligned words, which is how
// SQLite's own readers in other processes read it while a writer changes it.
unsafe impl Send for Header {}
unsafe impl Sync for Header {}

impl Commits {
    /// Maps the WAL index of the database `conn` is open on. `None` when the database is not
    /// in WAL mode or its index is not one this layout describes: callers then read the
    /// database every time.
    pub(super) fn open(conn: Connection, share: Option<HeaderShare>) -> Option<Commits> {
        // A first read has the connection open the write-ahead log and map its index.
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(())).ok()?;
        let mode: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).ok()?;
        if mode != "wal" {
            return None;
        }
        let header = map_index(&conn)?;
        let commits = Commits { header, _conn: Mutex::new(conn), _share: share };
        let Mark(words) = commits.mark();
        let is_init = words[3] & 0xff; // `isInit`, the first byte after `iChange`.
        (words[0] == WAL_INDEX_VERSION && is_init == 1).then_some(commits)
    }

    /// Where the database is now.
    pub fn mark(&self) -> Mark {
        let mut words = [0u32; HEADER_WORDS];
        for (i, word) in words.iter_mut().enumerate() {
            // SAFETY: the first region is at least 32 KiB, mapped, and aligned to a page (see
            // `Header`); another process may be writing it, hence volatile.
            *word = unsafe { ptr::read_volatile(self.header.0.as_ptr().add(i)) };
        }
        // What the caller reads from the database after this is at least as new as the mark.
        fence(Ordering::Acquire);
        Mark(words)
    }
}

/// SQLite's mapping of the first region of the WAL index of `conn`'s main database.
fn map_index(conn: &Connection) -> Option<Header> {
    // SAFETY: the file pointer and its methods belong to the open connection, which outlives
    // this call; `xShmMap` with `bExtend` 0 maps the existing region only, as SQLite's own WAL
    // code does for a reader, and hands back a pointer valid until the connection unmaps it.
    unsafe {
        let mut file: *mut ffi::sqlite3_file = ptr::null_mut();
        let rc = ffi::sqlite3_file_control(
            conn.handle(),
            c"main".as_ptr(),
            ffi::SQLITE_FCNTL_FILE_POINTER,
            (&raw mut file).cast::<c_void>(),
        );
        if rc != ffi::SQLITE_OK || file.is_null() || (*file).pMethods.is_null() {
            return None;
        }
        let methods = &*(*file).pMethods;
        if methods.iVersion < 2 {
            return None;
        }
        let shm_map = methods.xShmMap?;
        let mut region: *mut c_void = ptr::null_mut();
        let rc = shm_map(file, 0, REGION_SIZE, 0, (&raw mut region).cast());
        if rc != ffi::SQLITE_OK {
            return None;
        }
        NonNull::new(region.cast::<u32>()).map(Header)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Db, Mode};

    #[test]
    fn a_commit_by_another_connection_moves_the_mark_and_a_read_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let db = Db::open(&path, Mode::ReadWrite).unwrap();
        let commits = db.commits().expect("a read-write database is in WAL mode");
        let before = commits.mark();
        db.with(|c| Ok(c.query_row("SELECT count(*) FROM settings", [], |r| r.get::<_, i64>(0))?)).unwrap();
        assert_eq!(commits.mark(), before, "a read is not a commit");

        // Another process's commit, as the CLI's would be: its own connection, not this pool.
        let other = rusqlite::Connection::open(&path).unwrap();
        other.execute("INSERT INTO settings VALUES ('k', 'v')", []).unwrap();
        let after = commits.mark();
        assert_ne!(after, before);
        // A transaction that changes nothing leaves no trace.
        other.execute_batch("BEGIN IMMEDIATE; COMMIT;").unwrap();
        assert_eq!(commits.mark(), after);
        other.execute("UPDATE settings SET value = 'w'", []).unwrap();
        assert_ne!(commits.mark(), after);
    }

    #[test]
    fn checkpoints_and_a_restarted_log_still_move_the_mark() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let db = Db::open(&path, Mode::ReadWrite).unwrap();
        let commits = db.commits().unwrap();
        let other = rusqlite::Connection::open(&path).unwrap();
        let mut seen = vec![commits.mark()];
        for i in 0..20 {
            other.execute("INSERT INTO settings VALUES (?1, 'v')", [format!("k{i}")]).unwrap();
            if i % 5 == 4 {
                // Empties the log, so the next commit starts it again from its first frame.
                other.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
            }
            let mark = commits.mark();
            assert!(!seen.contains(&mark), "commit {i} left a mark seen before");
            seen.push(mark);
        }
    }
}
