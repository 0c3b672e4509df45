//! Upload slots: signed, time-boxed URLs through which someone sends files back.
//!
//! A slot's file count is claimed atomically before any byte is stored, so concurrent uploads
//! into a one-file slot store exactly one file. The total-bytes limit is checked while bytes
//! stream and reserved atomically when a file is committed.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// One upload slot.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Slot {
    /// Generated id.
    pub id: String,
    /// When it was created (unix seconds).
    #[serde(with = "crate::time")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
    /// When it stops accepting files.
    #[serde(with = "crate::time")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: i64,
    /// Largest accepted file, in bytes.
    pub max_size: u64,
    /// How many files it accepts.
    pub max_files: u64,
    /// Largest total of all files, in bytes, if limited.
    pub max_total: Option<u64>,
    /// Accepted types, if limited.
    #[schema(value_type = Option<Vec<String>>)]
    pub accept: Option<AcceptList>,
    /// A note for the owner (also shown to uploaders).
    pub label: Option<String>,
    /// When it was closed, if it was.
    #[serde(with = "crate::time::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub closed_at: Option<i64>,
    /// Files claimed so far (stored, or being uploaded now).
    #[serde(skip, default)]
    pub claimed_files: u64,
    /// Bytes stored so far.
    pub received_bytes: u64,
}

/// Whether a slot accepts files now, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SlotStatus {
    /// Accepts files.
    Active,
    /// Past its expiry.
    Expired,
    /// Closed by its owner.
    Closed,
    /// Its file count is used up.
    Full,
}

impl SlotStatus {
    /// The word used in listings and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            SlotStatus::Active => "active",
            SlotStatus::Expired => "expired",
            SlotStatus::Closed => "closed",
            SlotStatus::Full => "full",
        }
    }
}

impl Slot {
    /// The slot's status at `now`.
    pub fn status(&self, now: i64) -> SlotStatus {
        if self.closed_at.is_some() {
            SlotStatus::Closed
        } else if self.expires_at <= now {
            SlotStatus::Expired
        } else if self.claimed_files >= self.max_files {
            SlotStatus::Full
        } else {
            SlotStatus::Active
        }
    }

    /// Bytes still allowed under the total limit, if limited.
    pub fn total_left(&self) -> Option<u64> {
        self.max_total.map(|max| max.saturating_sub(self.received_bytes))
    }

    /// Files it can still take (claims in flight count as taken).
    pub fn files_left(&self) -> u64 {
        self.max_files.saturating_sub(self.claimed_files)
    }

    /// The most bytes it can still take: a full-size file for each file left, within the total
    /// limit.
    pub fn room(&self) -> u64 {
        let files = self.files_left().saturating_mul(self.max_size);
        self.total_left().map_or(files, |left| left.min(files))
    }

    fn from_row(row: &Row<'_>) -> rusqlite::Result<Slot> {
        let accept: Option<String> = row.get(6)?;
        Ok(Slot {
            id: row.get(0)?,
            created_at: row.get(1)?,
            expires_at: row.get(2)?,
            max_size: row.get(3)?,
            max_files: row.get(4)?,
            max_total: row.get(5)?,
            accept: accept.map(|a| AcceptList::parse(&a).unwrap_or_default()),
            label: row.get(7)?,
            closed_at: row.get(8)?,
            claimed_files: row.get(9)?,
            received_bytes: row.get(10)?,
        })
    }
}

const COLUMNS: &str = "id, created_at, expires_at, max_size, max_files, max_total, accept, label, closed_at, claimed_files, received_bytes";

/// Inserts a new slot.
pub fn insert(conn: &Connection, slot: &Slot) -> Result<()> {
    conn.prepare_cached(&format!(
        "INSERT INTO slots ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
    ))?
    .execute(params![
        slot.id,
        slot.created_at,
        slot.expires_at,
        slot.max_size,
        slot.max_files,
        slot.max_total,
        slot.accept.as_ref().map(AcceptList::to_string),
        slot.label,
        slot.closed_at,
        slot.claimed_files,
        slot.received_bytes
    ])?;
    Ok(())
}

/// The slot with `id`, if any.
pub fn get(conn: &Connection, id: &str) -> Result<Option<Slot>> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM slots WHERE id = ?1"))?
        .query_row([id], Slot::from_row)
        .optional()?)
}

/// Every slot with the number of files it has stored, newest first.
pub fn list(conn: &Connection) -> Result<Vec<(Slot, u64)>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS}, (SELECT COUNT(*) FROM files f WHERE f.slot_id = slots.id)
         FROM slots ORDER BY created_at DESC, rowid DESC"
    ))?;
    let rows = stmt.query_map([], |r| Ok((Slot::from_row(r)?, r.get(11)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Closes the slot (keeping the first closing time); false if there is no such slot.
pub fn close(conn: &Connection, id: &str, now: i64) -> Result<bool> {
    Ok(conn
        .prepare_cached("UPDATE slots SET closed_at = COALESCE(closed_at, ?2) WHERE id = ?1")?
        .execute(params![id, now])?
        == 1)
}

/// Claims room for one more file, atomically. Returns the slot as it was after the claim, or
/// the status that refused it.
pub fn claim_file(conn: &Connection, id: &str, now: i64) -> Result<Result<Slot, SlotStatus>, Error> {
    let claimed = conn
        .prepare_cached(
            "UPDATE slots SET claimed_files = claimed_files + 1
             WHERE id = ?1 AND closed_at IS NULL AND expires_at > ?2 AND claimed_files < max_files",
        )?
        .execute(params![id, now])?
        == 1;
    let slot = get(conn, id)?.ok_or_else(|| Error::NotFound { kind: "slot", id: id.to_string() })?;
    if claimed {
        Ok(Ok(slot))
    } else {
        let status = slot.status(now);
        // Between the UPDATE and the SELECT nothing can make an active slot refuse, except
        // another claim filling it.
        Ok(Err(if status == SlotStatus::Active { SlotStatus::Full } else { status }))
    }
}

/// Gives back a claim whose upload failed.
pub fn release_file(conn: &Connection, id: &str) -> Result<()> {
    conn.prepare_cached("UPDATE slots SET claimed_files = MAX(claimed_files - 1, 0) WHERE id = ?1")?.execute([id])?;
    Ok(())
}

/// Adds `bytes` to the slot's received total if the total limit allows it; false if not.
pub fn reserve_bytes(conn: &Connection, id: &str, bytes: u64) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "UPDATE slots SET received_bytes = received_bytes + ?2
             WHERE id = ?1 AND (max_total IS NULL OR received_bytes + ?2 <= max_total)",
        )?
        .execute(params![id, bytes])?
        == 1)
}

/// The types a slot accepts: extensions (`.pdf`, `pdf`), MIME types (`application/pdf`) and
/// MIME wildcards (`image/*`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AcceptList {
    entries: Vec<String>,
}

impl Serialize for AcceptList {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.entries.serialize(s)
    }
}

impl<'de> Deserialize<'de> for AcceptList {
    /// Reads the list as it is written out: entries already normalised, checked again all the same.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let entries = Vec::<String>::deserialize(d)?;
        AcceptList::parse(&entries.join(",")).map_err(serde::de::Error::custom)
    }
}

impl std::fmt::Display for AcceptList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.entries.join(","))
    }
}

impl AcceptList {
    /// Parses a comma-separated list. Extensions are normalised to `.ext`, everything lower case.
    pub fn parse(text: &str) -> Result<AcceptList> {
        let mut entries = Vec::new();
        for raw in text.split(',') {
            let entry = raw.trim().to_ascii_lowercase();
            if entry.is_empty() {
                continue;
            }
            let valid_chars = entry.chars().all(|c| c.is_ascii_alphanumeric() || "./*+-_".contains(c));
            let entry = if entry.contains('/') {
                let (top, sub) = entry.split_once('/').unwrap_or_default();
                if top.is_empty()
                    || sub.is_empty()
                    || top.contains('*')
                    || sub.contains('/')
                    || (sub.contains('*') && sub != "*")
                {
                    return Err(Error::InvalidInput(format!("invalid type {raw:?} in the accept list")));
                }
                entry
            } else {
                let ext = entry.trim_start_matches('.');
                if ext.is_empty() || ext.contains(['.', '*']) {
                    return Err(Error::InvalidInput(format!("invalid extension {raw:?} in the accept list")));
                }
                format!(".{ext}")
            };
            if !valid_chars {
                return Err(Error::InvalidInput(format!("invalid entry {raw:?} in the accept list")));
            }
            entries.push(entry);
        }
        if entries.is_empty() {
            return Err(Error::InvalidInput("the accept list is empty".into()));
        }
        Ok(AcceptList { entries })
    }

    /// The entries, normalised.
    pub fn entries(&self) -> &[String] {
        &self.entries
    }

    /// Whether a file named `name` (MIME type `name_mime` by its extension) is accepted by name.
    pub fn accepts_name(&self, name: &str, name_mime: &str) -> bool {
        let ext = extension(name);
        self.entries.iter().any(|e| Some(e.as_str()) == ext.as_deref() || mime_matches(e, name_mime))
    }

    /// Whether the bytes of a file named `name` bear its type out. `sniffed` is the type
    /// recognised from its first bytes ([`sniff`]: MIME type and usual extension).
    ///
    /// Bytes with a recognised signature must be of an accepted type. Bytes with none pass only
    /// when the name is of a type that has no signature either (plain text, CSV, JSON, SVG…):
    /// then the name decides alone. A file named `.pdf`, `.png` or `.zip` must start like one.
    pub fn accepts_content(&self, name: &str, sniffed: Option<(&str, &str)>) -> bool {
        let Some((mime, ext)) = sniffed else { return !has_signature(name) };
        let ext = format!(".{ext}");
        self.entries.iter().any(|e| *e == ext || mime_matches(e, mime) || extension_means(e, mime))
            // A zip container is the honest signature of many formats (docx, xlsx, epub, jar,
            // odt): accept it when the list names any of those.
            || (mime == "application/zip" && self.entries.iter().any(|e| ZIP_BASED.contains(&e.as_str())))
    }
}

/// Whether an extension entry (`.jpeg`) names the MIME type `mime` (`image/jpeg`, which the
/// bytes show with their usual extension, `jpg`).
fn extension_means(entry: &str, mime: &str) -> bool {
    entry.strip_prefix('.').is_some_and(|ext| mime_guess::from_ext(ext).iter().any(|m| m.essence_str() == mime))
}

/// The types `infer` recognises by their text rather than by a signature (its
/// `MatcherType::Text`): any text file may look like them, so they count as text.
const TEXT_SNIFFS: &[&str] = &["html", "xml", "sh"];

/// Whether files named like `name` start with a signature that [`sniff`] recognises: a type
/// `infer` knows (pdf, png, jpeg, gif, webp, zip and the formats built on it, gzip, mp3, mp4…),
/// and not a text format.
pub fn has_signature(name: &str) -> bool {
    let Some(ext) = extension(name) else { return false };
    let ext = &ext[1..];
    let mimes: Vec<_> = mime_guess::from_ext(ext).iter().collect();
    if TEXT_SNIFFS.contains(&ext) || mimes.iter().any(|m| m.type_() == mime_guess::mime::TEXT) {
        return false;
    }
    infer::is_supported(ext)
        || mimes.iter().any(|m| infer::is_mime_supported(m.essence_str()))
        // Zip-based formats infer does not name (jar, apk) still start as a zip.
        || ZIP_BASED.contains(&format!(".{ext}").as_str())
}

const ZIP_BASED: &[&str] = &[
    ".docx",
    ".xlsx",
    ".pptx",
    ".odt",
    ".ods",
    ".odp",
    ".epub",
    ".jar",
    ".apk",
    ".zip",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/epub+zip",
];

fn extension(name: &str) -> Option<String> {
    let (_, ext) = name.rsplit_once('.')?;
    (!ext.is_empty()).then(|| format!(".{}", ext.to_ascii_lowercase()))
}

fn mime_matches(entry: &str, mime: &str) -> bool {
    if !entry.contains('/') {
        return false;
    }
    match entry.strip_suffix("/*") {
        Some(top) => mime.split('/').next() == Some(top),
        None => entry == mime,
    }
}

/// The type recognised from a file's first bytes by its signature, if any: MIME type and usual
/// extension. What `infer` recognises by text (HTML, XML, shell scripts) is no signature.
pub fn sniff(head: &[u8]) -> Option<(&'static str, &'static str)> {
    infer::get(head).filter(|t| t.matcher_type() != infer::MatcherType::Text).map(|t| (t.mime_type(), t.extension()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalises() {
        let list = AcceptList::parse(" PDF, .png ,image/*,text/plain").unwrap();
        assert_eq!(list.entries(), [".pdf", ".png", "image/*", "text/plain"]);
        assert_eq!(AcceptList::parse(&list.to_string()).unwrap(), list);
        for bad in ["", ",", "*/*", "/x", "a/", "a/b/c", "im*ge/png", "..", "a b", "<script>"] {
            assert!(AcceptList::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn checks_names() {
        let list = AcceptList::parse(".pdf,image/*").unwrap();
        assert!(list.accepts_name("a.PDF", "application/pdf"));
        assert!(list.accepts_name("cat.jpg", "image/jpeg"));
        assert!(!list.accepts_name("run.exe", "application/x-msdownload"));
        assert!(!list.accepts_name("pdf", "application/octet-stream"));
    }

    /// The smallest files of each kind that their readers open.
    const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n";
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";
    const JPEG: &[u8] = b"\xff\xd8\xff\xe0\0\x10JFIF\0\x01\x01\0\0\x01\0\x01\0\0";
    const ZIP: &[u8] = b"PK\x03\x04\x14\0\0\0\0\0";
    const GZIP: &[u8] = b"\x1f\x8b\x08\0\0\0\0\0\0\x03";
    const EXE: &[u8] = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff";
    const SVG: &[u8] = b"<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"/>";

    #[test]
    fn checks_bytes() {
        let list = AcceptList::parse(".pdf,.txt").unwrap();
        assert!(list.accepts_content("a.pdf", sniff(PDF)));
        assert!(list.accepts_content("a.txt", sniff(b"just some text")));
        // An executable renamed to .pdf is refused by its bytes.
        assert!(!list.accepts_content("a.pdf", sniff(EXE)));
        assert!(!list.accepts_content("a.pdf", sniff(PNG)));
        let images = AcceptList::parse("image/*").unwrap();
        assert!(images.accepts_content("a.png", sniff(PNG)));
    }

    #[test]
    fn signatures_must_be_there_not_merely_not_contradicted() {
        let list = AcceptList::parse(".pdf,.png,.txt").unwrap();
        // Text, random bytes and SVG carry no signature: not enough for a type that has one.
        assert!(!list.accepts_content("report.pdf", sniff(b"just some text, no PDF at all")));
        assert!(!list.accepts_content("photo.png", sniff(&[0x42, 0x13, 0x99, 0x07, 0xd1, 0x5e, 0x00, 0x8a])));
        assert!(!list.accepts_content("photo.png", sniff(SVG)));
        assert!(!list.accepts_content("empty.pdf", sniff(b"")));
        assert!(list.accepts_content("notes.txt", sniff(b"plain text")));
        assert!(list.accepts_content("notes.txt", sniff(b"")));
        // Extensions spelt differently from infer's (.jpeg for jpg) and zip-based formats.
        assert!(AcceptList::parse(".jpeg").unwrap().accepts_content("a.jpeg", sniff(JPEG)));
        assert!(!AcceptList::parse(".jpeg").unwrap().accepts_content("a.jpeg", sniff(b"text")));
        assert!(AcceptList::parse(".docx").unwrap().accepts_content("a.docx", sniff(ZIP)));
        assert!(!AcceptList::parse(".docx").unwrap().accepts_content("a.docx", sniff(b"text")));
        assert!(AcceptList::parse(".gz").unwrap().accepts_content("a.tar.gz", sniff(GZIP)));
        // Types without a signature go by name, and what infer recognises as text is text.
        let by_name = AcceptList::parse(".svg,.csv,.md,.json,.html,.xml").unwrap();
        for name in ["a.svg", "a.csv", "a.md", "a.json", "a.html", "a.xml"] {
            assert!(by_name.accepts_content(name, sniff(SVG)), "{name}");
            assert!(by_name.accepts_content(name, sniff(b"<html><body>hi</body></html>")), "{name}");
        }
    }

    #[test]
    fn which_names_carry_a_signature() {
        for name in [
            "a.pdf", "a.PNG", "a.jpg", "a.jpeg", "a.gif", "a.webp", "a.zip", "a.docx", "a.xlsx", "a.epub", "a.gz",
            "a.mp3", "a.mp4", "a.exe",
        ] {
            assert!(has_signature(name), "{name}");
        }
        for name in ["a.txt", "a.csv", "a.md", "a.json", "a.svg", "a.html", "a.xml", "a.sh", "README", "a."] {
            assert!(!has_signature(name), "{name}");
        }
        // What infer recognises by its text is what TEXT_SNIFFS names.
        for (sample, ext) in
            [(&b"<!DOCTYPE html><html>"[..], "html"), (b"<?xml version=\"1.0\"?>", "xml"), (b"#!/bin/sh\n", "sh")]
        {
            let found = infer::get(sample).unwrap();
            assert_eq!((found.extension(), found.matcher_type()), (ext, infer::MatcherType::Text));
            assert!(TEXT_SNIFFS.contains(&ext));
        }
    }

    #[test]
    fn status() {
        let mut slot = Slot {
            id: "s".into(),
            created_at: 0,
            expires_at: 100,
            max_size: 10,
            max_files: 1,
            max_total: None,
            accept: None,
            label: None,
            closed_at: None,
            claimed_files: 0,
            received_bytes: 0,
        };
        assert_eq!(slot.status(50), SlotStatus::Active);
        assert_eq!(slot.status(100), SlotStatus::Expired);
        slot.claimed_files = 1;
        assert_eq!(slot.status(50), SlotStatus::Full);
        slot.closed_at = Some(1);
        assert_eq!(slot.status(50), SlotStatus::Closed);
    }
}
