//! Links: signed, server-side-limited grants to download one file, or a share of several files
//! (in `link_files`, in order) downloaded one by one or all at once as a zip (`zip`).
//!
//! The URL carries only the link id and its signature; expiry, download limit and revocation
//! live in the database, so a link can be extended, shortened or revoked without a new URL.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::files::FileRecord;

/// One link.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Link {
    /// Generated id.
    pub id: String,
    /// The file it grants; for a share of several files, the first of them.
    pub file_id: String,
    /// When it was created (unix seconds).
    #[serde(with = "crate::time")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
    /// When it stops working, if ever.
    #[serde(with = "crate::time::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<i64>,
    /// How many complete downloads it allows, if limited.
    pub max_downloads: Option<u64>,
    /// Complete downloads so far.
    pub downloads: u64,
    /// Downloads given back because their bytes did not reach the client (see
    /// [`give_back`]): shown to the owner, as each is a fetch of the file that did not
    /// count.
    pub undelivered: u64,
    /// When it was revoked, if it was.
    #[serde(with = "crate::time::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<i64>,
    /// A note for the owner.
    pub label: Option<String>,
    /// Whether its completed downloads notify the owner (the desktop app, with the global
    /// `notify_downloads` setting on). Links read from JSON made before it existed notify.
    #[serde(default = "notify_default")]
    pub notify: bool,
    /// When it was last used to fetch its file (the latest download row of its history).
    #[serde(default, with = "crate::time::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_access_at: Option<i64>,
    /// A share of several files: its name, shown to recipients and given to its zip. Set for such
    /// a share, and only for one (a link to one file has none): what tells the two apart.
    #[serde(default)]
    pub name: Option<String>,
    /// Whether it asks for a password (see `passwords`).
    #[serde(default)]
    pub password: bool,
    /// The password's Argon2id hash (a PHC string): never serialised, never shown.
    #[serde(skip)]
    pub password_hash: Option<String>,
    /// Whether its landing page shows previews and thumbnails of its files (`link --no-preview`
    /// turns them off). Links read from JSON made before it existed show them.
    #[serde(default = "notify_default")]
    pub preview: bool,
}

/// The default of the switches that are on unless turned off (`notify`, `preview`).
fn notify_default() -> bool {
    true
}

/// Whether a link works now, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LinkStatus {
    /// Works: not revoked, not expired, downloads left.
    Active,
    /// Past its expiry.
    Expired,
    /// Revoked by its owner.
    Revoked,
    /// Its download limit is reached.
    UsedUp,
}

impl LinkStatus {
    /// The word used in listings and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkStatus::Active => "active",
            LinkStatus::Expired => "expired",
            LinkStatus::Revoked => "revoked",
            LinkStatus::UsedUp => "used_up",
        }
    }
}

impl Link {
    /// The link's status at `now`. Revocation wins over expiry, expiry over the limit.
    pub fn status(&self, now: i64) -> LinkStatus {
        if self.revoked_at.is_some() {
            LinkStatus::Revoked
        } else if self.expires_at.is_some_and(|t| t <= now) {
            LinkStatus::Expired
        } else if self.max_downloads.is_some_and(|max| self.downloads >= max) {
            LinkStatus::UsedUp
        } else {
            LinkStatus::Active
        }
    }

    /// Downloads left before the limit, if limited.
    pub fn downloads_left(&self) -> Option<u64> {
        self.max_downloads.map(|max| max.saturating_sub(self.downloads))
    }

    fn from_row(row: &Row<'_>, at: usize) -> rusqlite::Result<Link> {
        Ok(Link {
            id: row.get(at)?,
            file_id: row.get(at + 1)?,
            created_at: row.get(at + 2)?,
            expires_at: row.get(at + 3)?,
            max_downloads: row.get(at + 4)?,
            downloads: row.get(at + 5)?,
            revoked_at: row.get(at + 6)?,
            label: row.get(at + 7)?,
            undelivered: row.get(at + 8)?,
            notify: row.get(at + 9)?,
            last_access_at: row.get(at + 10)?,
            name: row.get(at + 11)?,
            password: row.get::<_, Option<String>>(at + 12)?.is_some(),
            password_hash: row.get(at + 12)?,
            preview: row.get(at + 13)?,
        })
    }

    /// Whether it shares several files (see [`Link::name`]).
    pub fn is_share(&self) -> bool {
        self.name.is_some()
    }
}

/// How many columns [`COLUMNS`] names: where the file's columns start in a joined row.
const COLUMN_COUNT: usize = 14;
const COLUMNS: &str = "l.id, l.file_id, l.created_at, l.expires_at, l.max_downloads, l.downloads, l.revoked_at, \
     l.label, l.undelivered, l.notify, l.last_access_at, l.name, l.password_hash, l.preview";

/// Inserts a new link.
pub fn insert(conn: &Connection, link: &Link) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO links (id, file_id, created_at, expires_at, max_downloads, downloads, revoked_at, label, notify, name,
                            password_hash, preview)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        link.id,
        link.file_id,
        link.created_at,
        link.expires_at,
        link.max_downloads,
        link.downloads,
        link.revoked_at,
        link.label,
        link.notify,
        link.name,
        link.password_hash,
        link.preview
    ])?;
    Ok(())
}

/// Records the files of a share, in order (the first is also the link's `file_id`).
pub fn insert_files(conn: &Connection, link_id: &str, file_ids: &[String]) -> Result<()> {
    let mut stmt = conn.prepare_cached("INSERT INTO link_files (link_id, position, file_id) VALUES (?1, ?2, ?3)")?;
    for (position, file_id) in file_ids.iter().enumerate() {
        stmt.execute(params![link_id, position as i64, file_id])?;
    }
    Ok(())
}

/// The files of a share, in order; none for a link to one file.
pub fn files_of(conn: &Connection, link_id: &str) -> Result<Vec<FileRecord>> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let file_columns = crate::files::COLUMNS.split(", ").map(|c| format!("f.{c}")).collect::<Vec<_>>().join(", ");
        format!(
            "SELECT {file_columns} FROM link_files lf JOIN files f ON f.id = lf.file_id \
             WHERE lf.link_id = ?1 ORDER BY lf.position"
        )
    });
    let mut stmt = conn.prepare_cached(&SQL)?;
    let rows = stmt.query_map([link_id], |r| FileRecord::from_row_at(r, 0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The file ids of every share, in order, by link id.
pub fn all_files(conn: &Connection) -> Result<std::collections::HashMap<String, Vec<String>>> {
    let mut stmt = conn.prepare_cached("SELECT link_id, file_id FROM link_files ORDER BY link_id, position")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    let mut by_link: std::collections::HashMap<String, Vec<String>> = std::collections::HashMap::new();
    for row in rows {
        let (link, file) = row?;
        by_link.entry(link).or_default().push(file);
    }
    Ok(by_link)
}

/// Deletes the shares that include `file_id`: a share is the set of files its owner chose, so it
/// goes whole with any of them rather than quietly lose one (a link to one file goes with its
/// file by the schema's cascade).
pub fn delete_shares_of(conn: &Connection, file_id: &str) -> Result<usize> {
    Ok(conn
        .prepare_cached("DELETE FROM links WHERE id IN (SELECT link_id FROM link_files WHERE file_id = ?1)")?
        .execute([file_id])?)
}

/// The link with `id`, if any.
pub fn get(conn: &Connection, id: &str) -> Result<Option<Link>> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM links l WHERE l.id = ?1"))?
        .query_row([id], |r| Link::from_row(r, 0))
        .optional()?)
}

/// The link with `id` and its file, in one query: the download hot path.
pub fn get_with_file(conn: &Connection, id: &str) -> Result<Option<(Link, FileRecord)>> {
    // Built once: this runs on every download.
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let file_columns = crate::files::COLUMNS.split(", ").map(|c| format!("f.{c}")).collect::<Vec<_>>().join(", ");
        format!("SELECT {COLUMNS}, {file_columns} FROM links l JOIN files f ON f.id = l.file_id WHERE l.id = ?1")
    });
    Ok(conn
        .prepare_cached(&SQL)?
        .query_row([id], |r| {
            let link = Link::from_row(r, 0)?;
            let file = FileRecord::from_row_at(r, COLUMN_COUNT)?;
            Ok((link, file))
        })
        .optional()?)
}

/// Links of one file (shares that include it too), or all links, newest first.
pub fn list(conn: &Connection, file_id: Option<&str>) -> Result<Vec<Link>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM links l WHERE ?1 IS NULL OR l.file_id = ?1
           OR EXISTS (SELECT 1 FROM link_files lf WHERE lf.link_id = l.id AND lf.file_id = ?1)
         ORDER BY l.created_at DESC, l.rowid DESC"
    ))?;
    let rows = stmt.query_map([file_id], |r| Link::from_row(r, 0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Sets the expiry; false if there is no such link.
pub fn set_expiry(conn: &Connection, id: &str, expires_at: Option<i64>) -> Result<bool> {
    Ok(conn.prepare_cached("UPDATE links SET expires_at = ?2 WHERE id = ?1")?.execute(params![id, expires_at])? == 1)
}

/// Sets the download limit; false if there is no such link.
pub fn set_max_downloads(conn: &Connection, id: &str, max: Option<u64>) -> Result<bool> {
    Ok(conn.prepare_cached("UPDATE links SET max_downloads = ?2 WHERE id = ?1")?.execute(params![id, max])? == 1)
}

/// Sets whether the link's downloads notify the owner; false if there is no such link.
pub fn set_notify(conn: &Connection, id: &str, notify: bool) -> Result<bool> {
    Ok(conn.prepare_cached("UPDATE links SET notify = ?2 WHERE id = ?1")?.execute(params![id, notify])? == 1)
}

/// Sets whether the link's landing page shows previews; false if there is no such link.
pub fn set_preview(conn: &Connection, id: &str, preview: bool) -> Result<bool> {
    Ok(conn.prepare_cached("UPDATE links SET preview = ?2 WHERE id = ?1")?.execute(params![id, preview])? == 1)
}

/// Forgets that the link's end was noticed (see `Vault::notice_ends`).
pub fn reset_ended_noticed(conn: &Connection, id: &str) -> Result<()> {
    conn.prepare_cached("UPDATE links SET ended_noticed = 0 WHERE id = ?1")?.execute([id])?;
    Ok(())
}

/// Revokes the link (keeping the first revocation time); false if there is no such link.
pub fn revoke(conn: &Connection, id: &str, now: i64) -> Result<bool> {
    Ok(conn
        .prepare_cached("UPDATE links SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1")?
        .execute(params![id, now])?
        == 1)
}

/// Deletes the link's record; false if there is no such link. Callers decide whether it may go
/// (see `Vault::delete_link`): this only removes the row.
pub fn delete(conn: &Connection, id: &str) -> Result<bool> {
    Ok(conn.prepare_cached("DELETE FROM links WHERE id = ?1")?.execute([id])? == 1)
}

/// Counts one complete download, atomically and only while the limit allows it. False means the
/// limit was reached by someone else meanwhile (or the link is gone): the download must not
/// complete.
pub fn claim_download(conn: &Connection, id: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "UPDATE links SET downloads = downloads + 1
             WHERE id = ?1 AND (max_downloads IS NULL OR downloads < max_downloads)",
        )?
        .execute([id])?
        == 1)
}

/// How many bytes a link with a limit may deliver in all, across all its requests: its downloads
/// times the file's size, plus a quarter of the file as slack for honest resumes (the bytes a
/// broken connection had sent that the client never kept). Ranges that never reach the last
/// byte never count a download, so without this bound two clients could each fetch all but the
/// last byte of a one-time link; with it, everyone together gets at most `max × size + size/4`.
/// Bytes that were never written to the client, or that its TCP stack never acknowledged, are
/// given back (see `http::body`), so an interrupted download costs only what really left.
/// For a share of several files, `size` is its zip's, and its files fetched one by one draw on the
/// same budget.
pub fn byte_budget(max_downloads: u64, size: u64) -> u64 {
    max_downloads.saturating_mul(size).saturating_add(size / 4)
}

/// Reserves `len` bytes of a limited link's [`byte_budget`] before they are sent. False when the
/// budget (`budget`, computed by the caller from the link it read) has too little left: the
/// request must be refused.
pub fn reserve_bytes(conn: &Connection, id: &str, len: u64, budget: u64) -> Result<bool> {
    Ok(conn
        .prepare_cached("UPDATE links SET bytes_served = bytes_served + ?2 WHERE id = ?1 AND bytes_served + ?2 <= ?3")?
        .execute(params![id, len, budget])?
        == 1)
}

/// Gives back reserved bytes that were never delivered.
pub fn refund_bytes(conn: &Connection, id: &str, len: u64) -> Result<()> {
    conn.prepare_cached("UPDATE links SET bytes_served = MAX(0, bytes_served - ?2) WHERE id = ?1")?
        .execute(params![id, len])?;
    Ok(())
}

/// How many responses of one link may be given back as not delivered. A client that resets the
/// connection is judged not to have read what it was sent, and neither a bot that hangs up early
/// nor a download broken by the network must use a link up or eat its byte budget; but a client
/// can also read everything and then reset on purpose. Past this many, only the bytes never sent
/// are given back and a claim stands once the bytes are handed over, so no trick fetches a
/// limited link's file more than `max_downloads` plus this many times.
pub const MAX_UNDELIVERED: u64 = 3;

/// Gives back what a response of a limited link took, once it is known that its bytes did not
/// reach the client (it reset the connection, never acknowledged them, or the connection failed:
/// see `http::delivery`): its download if it `claimed` one, and the `reserved` bytes it took from
/// the [`byte_budget`]. Past [`MAX_UNDELIVERED`] such responses, only the `unsent` bytes are given
/// back and the download stands. True when the response was given back whole.
pub fn give_back(conn: &Connection, id: &str, claimed: bool, reserved: u64, unsent: u64) -> Result<bool> {
    let forgiven = conn
        .prepare_cached(
            "UPDATE links SET downloads = MAX(0, downloads - ?2), bytes_served = MAX(0, bytes_served - ?3),
                              undelivered = undelivered + 1
             WHERE id = ?1 AND undelivered < ?4",
        )?
        .execute(params![id, claimed as u64, reserved, MAX_UNDELIVERED])?
        == 1;
    if !forgiven {
        refund_bytes(conn, id, unsent)?;
    }
    Ok(forgiven)
}

/// Adds downloads counted in memory (links without a limit, see `http::counts`).
pub fn add_downloads(conn: &Connection, counts: &[(String, u64)]) -> Result<()> {
    let mut stmt = conn.prepare_cached("UPDATE links SET downloads = downloads + ?2 WHERE id = ?1")?;
    for (id, n) in counts {
        stmt.execute(params![id, n])?;
    }
    Ok(())
}

/// Number of links of each file and their total downloads.
pub fn counts_by_file(conn: &Connection) -> Result<std::collections::HashMap<String, (u64, u64)>> {
    let mut stmt = conn.prepare_cached("SELECT file_id, COUNT(*), SUM(downloads) FROM links GROUP BY file_id")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, (r.get(1)?, r.get(2)?))))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Sets or removes the link's password hash; false if there is no such link. A new hash ends
/// every unlock cookie issued before (see `passwords`).
pub fn set_password_hash(conn: &Connection, id: &str, hash: Option<&str>) -> Result<bool> {
    Ok(conn.prepare_cached("UPDATE links SET password_hash = ?2 WHERE id = ?1")?.execute(params![id, hash])? == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link() -> Link {
        Link {
            id: "l".into(),
            file_id: "f".into(),
            created_at: 0,
            expires_at: Some(100),
            max_downloads: Some(2),
            downloads: 0,
            revoked_at: None,
            label: None,
            undelivered: 0,
            notify: true,
            last_access_at: None,
            name: None,
            password: false,
            password_hash: None,
            preview: true,
        }
    }

    #[test]
    fn byte_budget_allows_the_downloads_and_a_quarter() {
        assert_eq!(byte_budget(1, 5_000_000), 6_250_000);
        assert_eq!(byte_budget(3, 100), 325);
        assert_eq!(byte_budget(u64::MAX, u64::MAX), u64::MAX);
    }

    #[test]
    fn status_order() {
        let mut l = link();
        assert_eq!(l.status(50), LinkStatus::Active);
        assert_eq!(l.status(100), LinkStatus::Expired);
        l.downloads = 2;
        assert_eq!(l.status(50), LinkStatus::UsedUp);
        l.revoked_at = Some(10);
        assert_eq!(l.status(50), LinkStatus::Revoked);
        assert_eq!(l.status(500), LinkStatus::Revoked);
    }
}
