//! File records: what the database knows about each stored file.
//!
//! A record is checked as it is read: its id names a file in the store, its size and SHA-256
//! check the bytes served and its date becomes an HTTP date, so a damaged database (a record
//! edited or corrupted behind Sharelock's back) gives an error naming the record instead of a
//! path built from garbage or a panic. [`audit`] reads every record without trusting it, for
//! `verify`.

use std::collections::HashSet;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use crate::{Result, ids};

/// One stored file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct FileRecord {
    /// Generated id; also the name of the file in the store.
    pub id: String,
    /// The original base name, control characters stripped.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Lower-case hex SHA-256 of the contents.
    pub sha256: String,
    /// MIME type, from the name's extension.
    pub content_type: String,
    /// When it was stored (unix seconds).
    #[serde(with = "crate::time")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
    /// Whether it is served without a token.
    pub public: bool,
    /// For received files: the slot it came through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot_id: Option<String>,
    /// For received files: the name the uploader gave, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uploader_name: Option<String>,
    /// For received files: the uploader's message, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uploader_message: Option<String>,
    /// For received files: the upload they came in, the same for every file of one request
    /// (one multipart form, one PUT). Files received before Sharelock kept it have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_id: Option<String>,
    /// CRC-32 of the contents, for its entry in a share's zip (`zip`): kept at add time, and
    /// computed once and stored for files added before Sharelock kept it (see [`set_crc32`]).
    #[serde(skip)]
    pub crc32: Option<u32>,
    /// For files received from a folder: where the file was in it, `sub/dir/name` (the name
    /// included, each part sanitised: `names::ReceivedPath`); `null` for a file sent alone.
    #[serde(default)]
    pub path: Option<String>,
}

/// The columns of a record, in the order [`FileRecord::from_row_at`] reads them.
pub(crate) const COLUMNS: &str = "id, name, size, sha256, content_type, created_at, public, slot_id, uploader_name, uploader_message, upload_id, crc32, path";

impl FileRecord {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<FileRecord> {
        FileRecord::from_row_at(row, 0)
    }

    /// The record in the columns from `at` on (in [`COLUMNS`] order), checked (see the module doc).
    pub(crate) fn from_row_at(row: &Row<'_>, at: usize) -> rusqlite::Result<FileRecord> {
        let id: String = row.get(at)?;
        let size: i64 = row.get(at + 2)?;
        let sha256: String = row.get(at + 3)?;
        let created_at: i64 = row.get(at + 5)?;
        if let Some(damage) = damage(&id, size, &sha256, created_at) {
            // Shown as the inner error alone: the message names the record and the way out.
            return Err(rusqlite::types::FromSqlError::Other(Box::new(DamagedRecord { id, damage })).into());
        }
        Ok(FileRecord {
            id,
            name: row.get(at + 1)?,
            size: size as u64,
            sha256,
            content_type: row.get(at + 4)?,
            created_at,
            public: row.get(at + 6)?,
            slot_id: row.get(at + 7)?,
            uploader_name: row.get(at + 8)?,
            uploader_message: row.get(at + 9)?,
            upload_id: row.get(at + 10)?,
            crc32: row.get(at + 11)?,
            path: row.get(at + 12)?,
        })
    }

    /// The HTTP entity tag: strong, since stored files never change.
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.sha256.get(..32).unwrap_or(&self.sha256))
    }
}

/// One line of a list of files shown by folder (see [`by_folder`]).
#[derive(Debug, PartialEq, Eq)]
pub enum Listed<'a, T> {
    /// A file outside any received folder.
    File(&'a T),
    /// A received folder: the files of one upload whose paths start with the same folder,
    /// sorted by path.
    Folder {
        /// The folder's name, the first part of its files' paths.
        name: &'a str,
        /// Its files, by path.
        files: Vec<&'a T>,
        /// Their total size, in bytes.
        size: u64,
    },
}

/// `files` in the order given, except that each received folder (the files of one upload whose
/// paths share their first part) is gathered where its first file was, sorted by path: what
/// `sharelock ls` shows. The same folder name sent in two uploads is two folders.
pub fn by_folder<T>(files: &[T], record: impl Fn(&T) -> &FileRecord) -> Vec<Listed<'_, T>> {
    let mut listed: Vec<Listed<'_, T>> = Vec::new();
    let mut folders: std::collections::HashMap<(&str, &str), usize> = std::collections::HashMap::new();
    for file in files {
        let r = record(file);
        let top = r.path.as_deref().and_then(|p| p.split_once('/')).map(|(top, _)| top);
        let Some(top) = top else {
            listed.push(Listed::File(file));
            continue;
        };
        let key = (r.upload_id.as_deref().unwrap_or(r.id.as_str()), top);
        match folders.get(&key) {
            Some(&at) => {
                if let Listed::Folder { files, size, .. } = &mut listed[at] {
                    files.push(file);
                    *size += r.size;
                }
            }
            None => {
                folders.insert(key, listed.len());
                listed.push(Listed::Folder { name: top, files: vec![file], size: r.size });
            }
        }
    }
    for line in &mut listed {
        if let Listed::Folder { files, .. } = line {
            files.sort_by(|a, b| record(a).path.cmp(&record(b).path));
        }
    }
    listed
}

/// A file record that failed its check as it was read.
#[derive(Debug)]
struct DamagedRecord {
    id: String,
    damage: &'static str,
}

impl std::fmt::Display for DamagedRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the file record {:?} is damaged ({}): `sharelock verify` lists the damage", self.id, self.damage)
    }
}

impl std::error::Error for DamagedRecord {}

/// The first second of the year 10000: HTTP dates (and the `httpdate` crate) end before it.
const DATES_END: i64 = 253_402_300_800;

/// What is wrong with a record's id, size, SHA-256 and date, if anything.
fn damage(id: &str, size: i64, sha256: &str, created_at: i64) -> Option<&'static str> {
    if !ids::is_valid(id) {
        Some("its id is not a Sharelock id")
    } else if size < 0 {
        Some("its size is negative")
    } else if sha256.len() != 64 || !sha256.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Some("its SHA-256 is not 64 hex digits")
    } else if !(0..DATES_END).contains(&created_at) {
        Some("its date is out of range")
    } else {
        None
    }
}

/// One file record as `verify` reads it: trusting nothing.
#[derive(Debug, Clone)]
pub struct Audited {
    /// The id as stored (made printable).
    pub id: String,
    /// The name as stored (made printable).
    pub name: String,
    /// The size and SHA-256 the stored file must have, or what is wrong with the record.
    pub expected: std::result::Result<(u64, String), &'static str>,
}

/// Every file record, damaged ones included, in the order they were written.
pub fn audit(conn: &Connection) -> Result<Vec<Audited>> {
    fn text(v: ValueRef<'_>) -> Option<String> {
        match v {
            ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
            _ => None,
        }
    }
    fn printable(text: String) -> String {
        text.chars().map(|c| if c.is_control() { '?' } else { c }).collect()
    }
    let mut stmt = conn.prepare("SELECT id, name, size, sha256, created_at FROM files ORDER BY rowid")?;
    let rows = stmt.query_map([], |r| {
        let id = text(r.get_ref(0)?);
        let name = text(r.get_ref(1)?).unwrap_or_default();
        let size = match r.get_ref(2)? {
            ValueRef::Integer(n) => Some(n),
            _ => None,
        };
        let sha256 = text(r.get_ref(3)?);
        let created_at = match r.get_ref(4)? {
            ValueRef::Integer(n) => Some(n),
            _ => None,
        };
        let expected = match (&id, size, sha256, created_at) {
            (None, ..) => Err("its id is not text"),
            (_, None, ..) => Err("its size is not a whole number"),
            (_, _, None, _) => Err("its SHA-256 is not text"),
            (.., None) => Err("its date is not a whole number"),
            (Some(id), Some(size), Some(sha256), Some(created_at)) => match damage(id, size, &sha256, created_at) {
                Some(damage) => Err(damage),
                None => Ok((size as u64, sha256)),
            },
        };
        Ok(Audited { id: printable(id.unwrap_or_default()), name: printable(name), expected })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The ids of every file record, read without trusting the rest of the record: what the store
/// sweep must keep.
pub fn ids(conn: &Connection) -> Result<HashSet<String>> {
    let mut stmt = conn.prepare("SELECT id FROM files")?;
    let rows = stmt.query_map([], |r| {
        Ok(match r.get_ref(0)? {
            ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
            _ => None,
        })
    })?;
    Ok(rows.filter_map(|r| r.transpose()).collect::<rusqlite::Result<_>>()?)
}

/// Ids of records (valid ones only) whose file has this size and SHA-256, oldest first.
pub fn ids_with_contents(conn: &Connection, size: u64, sha256: &str) -> Result<Vec<String>> {
    let mut stmt =
        conn.prepare_cached("SELECT id FROM files WHERE size = ?1 AND sha256 = ?2 ORDER BY created_at, rowid")?;
    let rows = stmt.query_map(params![size, sha256], |r| r.get::<_, String>(0))?;
    let found: Vec<String> = rows.collect::<rusqlite::Result<_>>()?;
    Ok(found.into_iter().filter(|id| ids::is_valid(id)).collect())
}

/// Inserts a new file row.
pub fn insert(conn: &Connection, file: &FileRecord) -> Result<()> {
    conn.prepare_cached(&format!(
        "INSERT INTO files ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
    ))?
    .execute(params![
        file.id,
        file.name,
        file.size,
        file.sha256,
        file.content_type,
        file.created_at,
        file.public,
        file.slot_id,
        file.uploader_name,
        file.uploader_message,
        file.upload_id,
        file.crc32,
        file.path
    ])?;
    Ok(())
}

/// The file with `id`, if any.
pub fn get(conn: &Connection, id: &str) -> Result<Option<FileRecord>> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM files WHERE id = ?1"))?
        .query_row([id], FileRecord::from_row)
        .optional()?)
}

/// Every file, newest first.
pub fn list(conn: &Connection) -> Result<Vec<FileRecord>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM files ORDER BY created_at DESC, rowid DESC"))?;
    let rows = stmt.query_map([], FileRecord::from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The files received through slots, newest first.
pub fn received(conn: &Connection) -> Result<Vec<FileRecord>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM files WHERE slot_id IS NOT NULL ORDER BY created_at DESC, rowid DESC"
    ))?;
    let rows = stmt.query_map([], FileRecord::from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Whether a row exists for `id`.
pub fn exists(conn: &Connection, id: &str) -> Result<bool> {
    Ok(conn.prepare_cached("SELECT 1 FROM files WHERE id = ?1")?.exists([id])?)
}

/// When each file that was ever fetched was last fetched (`last_access_at`, kept by the history).
pub fn last_accesses(conn: &Connection) -> Result<std::collections::HashMap<String, i64>> {
    let mut stmt = conn.prepare_cached("SELECT id, last_access_at FROM files WHERE last_access_at IS NOT NULL")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// When the file `id` was last fetched, if ever (or if there is no such file: `None`).
pub fn last_access(conn: &Connection, id: &str) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT last_access_at FROM files WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?
        .flatten())
}

/// Stores a file's CRC-32, computed late for a file added before Sharelock kept it.
pub fn set_crc32(conn: &Connection, id: &str, crc32: u32) -> Result<()> {
    conn.prepare_cached("UPDATE files SET crc32 = ?2 WHERE id = ?1")?.execute(params![id, crc32])?;
    Ok(())
}

/// Sets the public flag; false if there is no such file.
pub fn set_public(conn: &Connection, id: &str, public: bool) -> Result<bool> {
    Ok(conn.prepare_cached("UPDATE files SET public = ?2 WHERE id = ?1")?.execute(params![id, public])? == 1)
}

/// Deletes the row (its links go with it); false if there is no such file.
pub fn delete(conn: &Connection, id: &str) -> Result<bool> {
    Ok(conn.prepare_cached("DELETE FROM files WHERE id = ?1")?.execute([id])? == 1)
}
