//! The SQLite database: schema migrations, connection settings and a small connection pool.
//!
//! The CLI and a running server open the same database at the same time. WAL mode lets readers
//! go on while one writer writes, and a busy timeout makes a writer wait for a lock that clears
//! instead of failing. Whatever one process commits the other sees on its next query: the one
//! cache above the database, the download path's links, trusts a row only until the next commit
//! by anyone (see [`Commits`]).
//!
//! A read-only data dir (a backup mounted read-only) is opened with read-only connections, and
//! nothing in it is changed: no WAL switch, no migration, no chmod. SQLite reads a WAL database
//! there through its existing `-wal` and `-shm` files; when a clean shutdown removed them, the
//! file is opened `immutable`, which needs neither.
//!
//! A `sharelock.db` that is not SQLite, or whose pages are damaged, fails with a message that
//! names the file and the way out (a backup, `sharelock verify`), never a panic.

use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags};
use rusqlite_migration::{M, Migrations};

use crate::{Error, Result};

mod commits;

pub use commits::{Commits, Mark};

/// How long a statement waits for another process's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections kept open for reuse; more are opened under load and closed when returned.
const POOL_SIZE: usize = 8;

/// The schema, one migration per version. Append; never edit a migration that has shipped.
const MIGRATIONS: &[M<'static>] = &[
    M::up(
        r#"
    CREATE TABLE slots (
        id             TEXT PRIMARY KEY,
        created_at     INTEGER NOT NULL,
        expires_at     INTEGER NOT NULL,
        max_size       INTEGER NOT NULL,
        max_files      INTEGER NOT NULL,
        max_total      INTEGER,
        accept         TEXT,
        label          TEXT,
        closed_at      INTEGER,
        -- Files claimed so far, counting uploads in flight; claims are atomic.
        claimed_files  INTEGER NOT NULL DEFAULT 0,
        -- Bytes of files stored so far, for the total limit.
        received_bytes INTEGER NOT NULL DEFAULT 0
    ) STRICT;

    CREATE TABLE files (
        id               TEXT PRIMARY KEY,
        name             TEXT NOT NULL,
        size             INTEGER NOT NULL,
        sha256           TEXT NOT NULL,
        content_type     TEXT NOT NULL,
        created_at       INTEGER NOT NULL,
        public           INTEGER NOT NULL DEFAULT 0,
        slot_id          TEXT REFERENCES slots(id),
        uploader_name    TEXT,
        uploader_message TEXT
    ) STRICT;
    CREATE INDEX files_by_slot ON files(slot_id) WHERE slot_id IS NOT NULL;

    CREATE TABLE links (
        id            TEXT PRIMARY KEY,
        file_id       TEXT NOT NULL REFERENCES files(id) ON DELETE CASCADE,
        created_at    INTEGER NOT NULL,
        expires_at    INTEGER,
        max_downloads INTEGER,
        downloads     INTEGER NOT NULL DEFAULT 0,
        revoked_at    INTEGER,
        label         TEXT
    ) STRICT;
    CREATE INDEX links_by_file ON links(file_id);

    CREATE TABLE settings (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) STRICT;
    "#,
    ),
    // Bytes a limited link has delivered, across all its requests, so that ranges cannot hand
    // out a one-time link's file many times over without ever completing a download (see
    // `links::byte_budget`).
    M::up("ALTER TABLE links ADD COLUMN bytes_served INTEGER NOT NULL DEFAULT 0;"),
    // Downloads a limited link gave back because the client did not get the bytes (see
    // `links::give_back`).
    M::up("ALTER TABLE links ADD COLUMN undelivered INTEGER NOT NULL DEFAULT 0;"),
    // Which received files came in the same upload (one form, one PUT), so the inbox can show
    // them together under their one sender and message. Files received before have none.
    M::up("ALTER TABLE files ADD COLUMN upload_id TEXT;"),
    // API tokens, kept as the SHA-256 of their secret (see `tokens`), and which token added a
    // file: the `upload` scope may link the files its own token added, no others.
    M::up(
        r#"
    CREATE TABLE tokens (
        id            TEXT PRIMARY KEY,
        name          TEXT,
        scopes        INTEGER NOT NULL,
        secret_sha256 BLOB NOT NULL,
        created_at    INTEGER NOT NULL,
        last_used_at  INTEGER,
        expires_at    INTEGER,
        revoked_at    INTEGER
    ) STRICT;
    ALTER TABLE files ADD COLUMN token_id TEXT;
    "#,
    ),
    // Access history (see `history`): one row per access as the owner reads it (a download resumed
    // over many Range requests is one row, updated as it goes), and an append-only feed of what
    // happened (`download.completed`, `link.expired`, …) that webhooks and desktop notifications
    // follow by `seq`. Links and slots remember whether their end was already noticed, links
    // whether their downloads notify the owner, and files and links their last access.
    M::up(
        r#"
    CREATE TABLE history (
        id          INTEGER PRIMARY KEY,
        at          INTEGER NOT NULL,
        last_at     INTEGER NOT NULL,
        kind        TEXT NOT NULL,
        state       TEXT,
        link_id     TEXT,
        file_id     TEXT,
        slot_id     TEXT,
        name        TEXT,
        label       TEXT,
        client      TEXT,
        user_agent  TEXT,
        bytes       INTEGER NOT NULL DEFAULT 0,
        requests    INTEGER NOT NULL DEFAULT 1,
        status      INTEGER,
        reason      TEXT
    ) STRICT;
    CREATE INDEX history_link ON history(link_id, id);
    CREATE INDEX history_file ON history(file_id, id);
    CREATE INDEX history_slot ON history(slot_id, id) WHERE slot_id IS NOT NULL;
    CREATE INDEX history_open ON history(kind, link_id, slot_id, client) WHERE state IS NOT 'completed';
    CREATE TABLE history_feed (
        seq         INTEGER PRIMARY KEY,
        history_id  INTEGER NOT NULL,
        event       TEXT NOT NULL,
        at          INTEGER NOT NULL
    ) STRICT;
    ALTER TABLE links ADD COLUMN notify INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE links ADD COLUMN ended_noticed INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE links ADD COLUMN last_access_at INTEGER;
    ALTER TABLE slots ADD COLUMN ended_noticed INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE files ADD COLUMN last_access_at INTEGER;
    "#,
    ),
    // Webhooks (see `webhooks`) and their outbox: each feed event a webhook asked for is queued
    // here in the transaction that reads the feed, so a restart loses nothing, and is delivered
    // in the background with retries.
    M::up(
        r#"
    CREATE TABLE webhooks (
        id              TEXT PRIMARY KEY,
        url             TEXT NOT NULL,
        format          TEXT NOT NULL,
        events          TEXT NOT NULL,
        secret          TEXT NOT NULL,
        created_at      INTEGER NOT NULL,
        last_attempt_at INTEGER,
        last_status     INTEGER,
        last_error      TEXT,
        delivered       INTEGER NOT NULL DEFAULT 0,
        failed          INTEGER NOT NULL DEFAULT 0
    ) STRICT;
    CREATE TABLE webhook_outbox (
        id          INTEGER PRIMARY KEY,
        webhook_id  TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
        seq         INTEGER NOT NULL,
        event       TEXT NOT NULL,
        body        TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        attempts    INTEGER NOT NULL DEFAULT 0,
        next_at     INTEGER NOT NULL,
        last_error  TEXT
    ) STRICT;
    CREATE INDEX webhook_outbox_next ON webhook_outbox(next_at);
    "#,
    ),
    // Shares of several files, received folders, passwords. A link to several files lists them
    // in `link_files` in the order given (its `file_id` is the first; a link to one file has no
    // rows there) and may carry a `name` (its zip's name). Files keep the CRC-32 of their content
    // once known, for the entries of a streamed zip, and a file received with a folder path keeps
    // it (`path`, the name included: "sub/dir/name"). A password link keeps the Argon2id hash of
    // its password (a PHC string), never the password.
    M::up(
        r#"
    CREATE TABLE link_files (
        link_id   TEXT NOT NULL REFERENCES links(id) ON DELETE CASCADE,
        position  INTEGER NOT NULL,
        file_id   TEXT NOT NULL REFERENCES files(id) ON DELETE CASCADE,
        PRIMARY KEY (link_id, position)
    ) STRICT;
    CREATE INDEX link_files_by_file ON link_files(file_id);
    ALTER TABLE links ADD COLUMN name TEXT;
    ALTER TABLE links ADD COLUMN password_hash TEXT;
    ALTER TABLE files ADD COLUMN crc32 INTEGER;
    ALTER TABLE files ADD COLUMN path TEXT;
    "#,
    ),
    // A client downloading the same link again within the grouping window adds to its row
    // (`downloads`, the complete downloads a row gathers) instead of writing a row and a feed
    // entry per download: a script fetching a link in a loop is one row, not thousands a second
    // for the writer and for every webhook. The rows a request may join are found by one index
    // of each client's rows, newest last, instead of a partial index of open rows only.
    M::up(
        r#"
    ALTER TABLE history ADD COLUMN downloads INTEGER NOT NULL DEFAULT 0;
    UPDATE history SET downloads = 1 WHERE state = 'completed';
    DROP INDEX history_open;
    CREATE INDEX history_client ON history(kind, link_id, slot_id, client);
    "#,
    ),
    // Previews on the landing page can be turned off per link (`link --no-preview`): a link made
    // before previews existed shows them, as every new link does by default.
    M::up("ALTER TABLE links ADD COLUMN preview INTEGER NOT NULL DEFAULT 1;"),
];

/// How a database is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Created if needed, migrated, written.
    ReadWrite,
    /// Read only, changed in no way (see the module doc).
    ReadOnly,
}

/// Where connections go: the file, or for a read-only data dir a `file:` URI with its mode.
#[derive(Debug, Clone)]
enum Target {
    File(PathBuf),
    ReadOnlyUri(String),
}

/// The database of one data dir, with a pool of open connections.
#[derive(Debug)]
pub struct Db {
    path: PathBuf,
    target: Target,
    idle: Mutex<Vec<Connection>>,
    /// The descriptor the header was read through (see [`header_reader`]); declared last, so it
    /// closes after this handle's connections.
    header: Option<HeaderShare>,
}

impl Db {
    /// Opens the database at `path`. Read-write, it is created if needed and migrated to the
    /// latest schema; read-only, it must exist and be up to date.
    pub fn open(path: &Path, mode: Mode) -> Result<Db> {
        let damaged = |e| damaged(path, e);
        let header = header_reader(path);
        if let Some(share) = &header {
            check_length(path, share.file())?;
        }
        let (target, conn) = match mode {
            Mode::ReadWrite => {
                let target = Target::File(path.to_path_buf());
                let mut conn = connect(&target).map_err(damaged)?;
                // WAL is a property of the database file: set once, kept by every later connection.
                conn.pragma_update(None, "journal_mode", "WAL").map_err(damaged)?;
                Migrations::from_slice(MIGRATIONS).to_latest(&mut conn).map_err(|e| match e {
                    rusqlite_migration::Error::RusqliteError { err, .. } => damaged(err),
                    other => other.into(),
                })?;
                for suffix in ["", "-wal", "-shm"] {
                    let file = PathBuf::from(format!("{}{suffix}", path.display()));
                    if file.exists() {
                        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                            .map_err(|e| Error::io(format!("cannot set permissions on {}", file.display()), e))?;
                    }
                }
                (target, conn)
            }
            Mode::ReadOnly => open_read_only(path)?,
        };
        // A database made just now had no file to read before: its descriptor is taken now, so
        // that a later handle on it never closes the only one.
        let header = header.or_else(|| header_reader(path));
        Ok(Db { path: path.to_path_buf(), target, idle: Mutex::new(vec![conn]), header })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` with a pooled connection. Blocking: async callers use `spawn_blocking`.
    pub fn with<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        // A std Mutex is right here: it is held only to push or pop a Vec entry, never across
        // a query or an await.
        let pooled = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut conn = match pooled {
            Some(conn) => conn,
            None => connect(&self.target).map_err(|e| damaged(&self.path, e))?,
        };
        let result = f(&mut conn).map_err(|e| match e {
            Error::Db(e) => damaged(&self.path, e),
            other => other,
        });
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < POOL_SIZE {
            idle.push(conn);
        }
        result
    }
}

/// Tells when any other connection (this process's pool, the CLI, a server) has committed a
/// change, by polling SQLite's `data_version` on a connection of its own: one cheap pragma per
/// poll, no triggers, no file watching.
#[derive(Debug)]
pub struct ChangeWatcher {
    conn: Connection,
    last: i64,
    /// Its database's header descriptor, kept while this connection is open (see [`Db`]).
    _header: Option<HeaderShare>,
}

impl ChangeWatcher {
    /// Whether something was committed since the last call (or since the watcher was made).
    pub fn changed(&mut self) -> Result<bool> {
        let now: i64 = self.conn.query_row("PRAGMA data_version", [], |r| r.get(0))?;
        let changed = now != self.last;
        self.last = now;
        Ok(changed)
    }
}

impl Db {
    /// A watcher for changes made by anyone else from now on.
    pub fn watcher(&self) -> Result<ChangeWatcher> {
        let conn = connect(&self.target).map_err(|e| damaged(&self.path, e))?;
        let last = conn.query_row("PRAGMA data_version", [], |r| r.get(0))?;
        Ok(ChangeWatcher { conn, last, _header: self.header.clone() })
    }
}

impl Db {
    /// What tells, by one read of memory, whether anyone committed since (see [`Commits`]).
    /// `None` for a read-only data dir, whose reads stay as they are.
    pub fn commits(&self) -> Option<Commits> {
        let Target::File(_) = self.target else { return None };
        let conn = connect(&self.target).ok()?;
        Commits::open(conn, self.header.clone())
    }
}

/// Opens a read-only data dir's database (see the module doc) and checks its schema is the one
/// this version reads, since it cannot be migrated.
fn open_read_only(path: &Path) -> Result<(Target, Connection)> {
    let uri = |query: &str| {
        let encoded = percent_encoding::utf8_percent_encode(&path.to_string_lossy(), URI_PATH).to_string();
        Target::ReadOnlyUri(format!("file:{encoded}?{query}"))
    };
    let first = |target: &Target| -> rusqlite::Result<Connection> {
        let conn = connect(target)?;
        // Opening is lazy: the first read is what finds a WAL it cannot use, or damage.
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))?;
        Ok(conn)
    };
    let target = uri("mode=ro");
    let (target, conn) = match first(&target) {
        Ok(conn) => (target, conn),
        Err(e) if e.sqlite_error_code() == Some(ErrorCode::CannotOpen) => {
            // No `-shm` to share and no right to make one. Without a WAL holding transactions
            // the main file is complete, and `immutable` reads it with no `-shm` at all.
            let wal = PathBuf::from(format!("{}-wal", path.display()));
            if std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0) {
                return Err(Error::InvalidInput(format!(
                    "cannot read {} on a read-only file system: its write-ahead log ({}) needs the \
                     -shm file beside it; copy the data dir somewhere writable",
                    path.display(),
                    wal.display()
                )));
            }
            let target = uri("immutable=1");
            let conn = first(&target).map_err(|e| damaged(path, e))?;
            (target, conn)
        }
        Err(e) => return Err(damaged(path, e)),
    };
    let version: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(|e| damaged(path, e))?;
    if version != MIGRATIONS.len() {
        return Err(Error::InvalidInput(format!(
            "{} has schema version {version} and this Sharelock reads version {}; a read-only data \
             dir cannot be upgraded: open it once where it is writable, with the matching Sharelock",
            path.display(),
            MIGRATIONS.len()
        )));
    }
    Ok((target, conn))
}

/// Refuses a database file shorter than its own header says (cut off by a failed copy or a full
/// disk): SQLite reads such a file as long as a query touches only the pages still there, so
/// which commands fail would depend on where each table's pages happen to lie.
fn check_length(path: &Path, file: &File) -> Result<()> {
    use std::os::unix::fs::FileExt;
    let mut header = [0u8; 100];
    if file.read_exact_at(&mut header, 0).is_err() || !header.starts_with(b"SQLite format 3\0") {
        // Missing, empty or not SQLite at all: SQLite's own open says which.
        return Ok(());
    }
    let be32 = |at: usize| u32::from_be_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]]);
    let page_size = match u16::from_be_bytes([header[16], header[17]]) {
        1 => 65_536,
        n => u64::from(n),
    };
    let pages = u64::from(be32(28));
    // The page count is valid only when the change counter matches (SQLite file format, 1.3.7).
    let valid = pages > 0 && be32(24) == be32(92);
    let len = file.metadata().map(|m| m.len()).unwrap_or(u64::MAX);
    if valid && len < pages * page_size {
        let message = format!(
            "{} is damaged or is not a Sharelock database (it is {len} bytes long and its header says {}): \
             put back a backup of it, then run `sharelock verify`",
            path.display(),
            pages * page_size
        );
        let code = rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT);
        return Err(Error::Db(rusqlite::Error::SqliteFailure(code, Some(message))));
    }
    Ok(())
}

/// The database file at `path`, opened to read its header, and shared by every handle of this
/// process on the same file: it closes when the last of them goes, after their connections.
///
/// Closing any descriptor of a file drops every POSIX lock this process holds on it (fcntl(2)),
/// SQLite's own included. A header read through a descriptor opened and closed at each open, by
/// a process whose connections to the file were already open, left those connections without
/// their shared lock: another process closing its last connection then took itself for the last
/// one anywhere, checkpointed and removed the write-ahead log, and this process read frames that
/// were gone ("disk I/O error", SQLite's short read) or could have written into a deleted log
/// ("How To Corrupt An SQLite Database File", 2.2). Kept for the life of the process instead, it
/// would hold a read-only backup's mount busy after its data dir was closed.
fn header_reader(path: &Path) -> Option<HeaderShare> {
    use std::os::unix::fs::MetadataExt;
    let mut open = OPEN_HEADERS.lock().unwrap_or_else(|p| p.into_inner());
    // Looked up by path first (stat opens nothing): a file some handle holds is not opened again.
    let known = std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()));
    if let Some(file) = open.iter().filter(|(key, _)| Some(*key) == known).find_map(|(_, file)| file.upgrade()) {
        return Some(HeaderShare(Some(file)));
    }
    open.retain(|(_, file)| file.strong_count() > 0);
    let file = Arc::new(File::open(path).ok()?);
    let key = file.metadata().map(|m| (m.dev(), m.ino())).ok()?;
    open.push((key, Arc::downgrade(&file)));
    Some(HeaderShare(Some(file)))
}

/// A file's device and inode: the same file whatever path reached it.
type FileKey = (u64, u64);

/// The header descriptors open in this process (see [`header_reader`]).
static OPEN_HEADERS: Mutex<Vec<(FileKey, Weak<File>)>> = Mutex::new(Vec::new());

/// One handle's share of a header descriptor. The last share closes the descriptor while holding
/// [`OPEN_HEADERS`]: another handle cannot find the count at zero, open the file and take its
/// locks in the moment before that close, which would drop them.
#[derive(Debug, Clone)]
struct HeaderShare(Option<Arc<File>>);

impl HeaderShare {
    fn file(&self) -> &File {
        self.0.as_deref().expect("a share holds its descriptor until it is dropped")
    }
}

impl Drop for HeaderShare {
    fn drop(&mut self) {
        let _open = OPEN_HEADERS.lock().unwrap_or_else(|p| p.into_inner());
        self.0.take();
    }
}

/// Characters of a path kept as they are in a `file:` URI; everything else is percent-encoded
/// (`?`, `#` and `%` would otherwise change its meaning).
const URI_PATH: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'/').remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// A clear error for a database file that is not SQLite or has damaged pages; other errors as
/// they are.
fn damaged(path: &Path, e: rusqlite::Error) -> Error {
    match e.sqlite_error_code() {
        Some(code @ (ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt)) => {
            let message = format!(
                "{} is damaged or is not a Sharelock database ({e}): put back a backup of it, then \
                 run `sharelock verify`",
                path.display()
            );
            let code = match code {
                ErrorCode::NotADatabase => rusqlite::ffi::SQLITE_NOTADB,
                _ => rusqlite::ffi::SQLITE_CORRUPT,
            };
            Error::Db(rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), Some(message)))
        }
        _ => Error::Db(e),
    }
}

fn connect(target: &Target) -> rusqlite::Result<Connection> {
    let conn = match target {
        Target::File(path) => Connection::open(path)?,
        Target::ReadOnlyUri(uri) => Connection::open_with_flags(
            uri,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?,
    };
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // In WAL mode NORMAL is durable against application crashes; only a power cut may lose the
    // last transactions, never corrupt the database.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // Read pages through a memory map instead of a read call each: a lookup in a store of
    // 100,000 files touches pages beyond SQLite's own small cache (BENCHMARKS.md, scale).
    conn.pragma_update(None, "mmap_size", 256 * 1024 * 1024)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watcher_sees_commits_from_other_connections() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db"), Mode::ReadWrite).unwrap();
        let mut watcher = db.watcher().unwrap();
        assert!(!watcher.changed().unwrap());
        db.with(|c| Ok(c.execute("INSERT INTO settings VALUES ('k', 'v')", [])?)).unwrap();
        assert!(watcher.changed().unwrap());
        assert!(!watcher.changed().unwrap());
    }

    #[test]
    fn migrations_are_valid() {
        Migrations::from_slice(MIGRATIONS).validate().unwrap();
    }

    #[test]
    fn files_received_before_upload_ids_have_none_and_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        // A database as the version before upload ids left it, with a received file in it.
        let mut old = Connection::open(&path).unwrap();
        Migrations::from_slice(&MIGRATIONS[..3]).to_latest(&mut old).unwrap();
        old.execute_batch(
            "INSERT INTO slots (id, created_at, expires_at, max_size, max_files) VALUES ('aaaaaaaaaaaaaaaa', 1, 2, 3, 4);
             INSERT INTO files (id, name, size, sha256, content_type, created_at, slot_id, uploader_name)
             VALUES ('bbbbbbbbbbbbbbbb', 'old.pdf', 1, printf('%064d', 0), 'application/pdf', 1, 'aaaaaaaaaaaaaaaa', 'Ann');",
        )
        .unwrap();
        drop(old);
        let db = Db::open(&path, Mode::ReadWrite).unwrap();
        let files = db.with(|c| crate::files::list(c)).unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].uploader_name.as_deref(), Some("Ann"));
        assert_eq!(files[0].upload_id, None);
    }

    #[test]
    fn opens_twice_and_sees_the_other_connections_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let a = Db::open(&path, Mode::ReadWrite).unwrap();
        let b = Db::open(&path, Mode::ReadWrite).unwrap();
        a.with(|c| Ok(c.execute("INSERT INTO settings VALUES ('k', 'v')", [])?)).unwrap();
        let v: String =
            b.with(|c| Ok(c.query_row("SELECT value FROM settings WHERE key = 'k'", [], |r| r.get(0))?)).unwrap();
        assert_eq!(v, "v");
        let mode: String = b.with(|c| Ok(c.query_row("PRAGMA journal_mode", [], |r| r.get(0))?)).unwrap();
        assert_eq!(mode, "wal");
    }
}
