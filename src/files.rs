//! File records: what the database knows about each stored file.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

use crate::Result;

/// One stored file.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
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
    #[serde(serialize_with = "crate::time::serialize")]
    pub created_at: i64,
    /// Whether it is served without a token.
    pub public: bool,
    /// For received files: the slot it came through.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slot_id: Option<String>,
    /// For received files: the name the uploader gave, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uploader_name: Option<String>,
    /// For received files: the uploader's message, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uploader_message: Option<String>,
}

const COLUMNS: &str =
    "id, name, size, sha256, content_type, created_at, public, slot_id, uploader_name, uploader_message";

impl FileRecord {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<FileRecord> {
        Ok(FileRecord {
            id: row.get(0)?,
            name: row.get(1)?,
            size: row.get(2)?,
            sha256: row.get(3)?,
            content_type: row.get(4)?,
            created_at: row.get(5)?,
            public: row.get(6)?,
            slot_id: row.get(7)?,
            uploader_name: row.get(8)?,
            uploader_message: row.get(9)?,
        })
    }

    /// The HTTP entity tag: strong, since stored files never change.
    pub fn etag(&self) -> String {
        format!("\"{}\"", &self.sha256[..32.min(self.sha256.len())])
    }
}

/// Inserts a new file row.
pub fn insert(conn: &Connection, file: &FileRecord) -> Result<()> {
    conn.prepare_cached(&format!("INSERT INTO files ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"))?
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
            file.uploader_message
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

/// Whether a row exists for `id`.
pub fn exists(conn: &Connection, id: &str) -> Result<bool> {
    Ok(conn.prepare_cached("SELECT 1 FROM files WHERE id = ?1")?.exists([id])?)
}

/// Sets the public flag; false if there is no such file.
pub fn set_public(conn: &Connection, id: &str, public: bool) -> Result<bool> {
    Ok(conn.prepare_cached("UPDATE files SET public = ?2 WHERE id = ?1")?.execute(params![id, public])? == 1)
}

/// Deletes the row (its links go with it); false if there is no such file.
pub fn delete(conn: &Connection, id: &str) -> Result<bool> {
    Ok(conn.prepare_cached("DELETE FROM files WHERE id = ?1")?.execute([id])? == 1)
}
