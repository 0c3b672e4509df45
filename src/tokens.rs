//! API tokens: what the database keeps of them and the rules of checking one.
//!
//! A token reads `slk_<id>_<secret>`: the id names its row (and is what `token ls` shows), the
//! secret is 32 random bytes in base64url without padding. Only the SHA-256 of the secret is
//! kept: the secret is high-entropy, so a fast hash is enough (no password stretching), and a
//! copy of the database hands out no working token. The hash is compared in constant time.
//!
//! `last_used_at` is written at most once a minute per token ([`LAST_USED_EVERY`]): a script
//! making a request a second must not cost a database write a second.

use std::fmt;

use base64::Engine;
use rand::RngCore;
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{Error, Result, ids};

/// Every token starts so: easy to spot in a config file, and for secret scanners.
pub const PREFIX: &str = "slk_";
/// How often `last_used_at` may be written for one token, in seconds.
pub const LAST_USED_EVERY: i64 = 60;
/// Random bytes in a token's secret.
const SECRET_BYTES: usize = 32;
const MAX_NAME_CHARS: usize = 100;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Every GET: list and read files, links, slots, events.
    Read,
    /// Add files, and make links to the files this same token added.
    Upload,
    /// Every change to files, links and slots.
    Write,
    /// Tokens and the signing secret.
    Admin,
}

impl Scope {
    /// Every scope, in order.
    pub const ALL: [Scope; 4] = [Scope::Read, Scope::Upload, Scope::Write, Scope::Admin];

    /// The scope's name, as typed and as sent.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Upload => "upload",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Scope {
    type Err = Error;

    fn from_str(text: &str) -> Result<Scope> {
        let text = text.trim();
        Scope::ALL.into_iter().find(|s| s.name().eq_ignore_ascii_case(text)).ok_or_else(|| {
            Error::invalid_field("scopes", format!("unknown scope {text:?}: use read, upload, write or admin"))
        })
    }
}

/// A set of scopes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Scopes(u8);

impl Scopes {
    /// What a token gets when its creator does not say: `read,upload,write`.
    pub const DEFAULT: Scopes = Scopes(1 | 2 | 4);

    /// The set of `scopes`.
    pub fn of(scopes: impl IntoIterator<Item = Scope>) -> Scopes {
        Scopes(scopes.into_iter().fold(0, |bits, s| bits | s.bit()))
    }

    /// Parses `read,upload` (commas or spaces between names); at least one scope.
    pub fn parse(text: &str) -> Result<Scopes> {
        let scopes =
            text.split([',', ' ']).filter(|s| !s.trim().is_empty()).map(str::parse).collect::<Result<Vec<Scope>>>()?;
        if scopes.is_empty() {
            return Err(Error::invalid_field("scopes", "give at least one scope: read, upload, write or admin"));
        }
        Ok(Scopes::of(scopes))
    }

    /// Whether `scope` is in the set.
    pub fn has(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The scopes in the set, in order.
    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.has(*s))
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Scope::name).collect();
        f.write_str(&names.join(","))
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scopes({self})")
    }
}

/// Sent and read as a list of names: `["read","upload"]`.
impl Serialize for Scopes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_seq(self.iter().map(Scope::name))
    }
}

/// Read from a list of names or from one comma-separated string.
impl<'de> Deserialize<'de> for Scopes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Scopes, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Given {
            List(Vec<String>),
            Text(String),
        }
        let text = match Given::deserialize(d)? {
            Given::List(list) => list.join(","),
            Given::Text(text) => text,
        };
        Scopes::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A token as the database keeps it, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenInfo {
    /// Generated id: the middle part of the token.
    pub id: String,
    /// A note saying what it is for.
    pub name: Option<String>,
    /// What it may do: `read`, `upload`, `write`, `admin`.
    #[schema(value_type = Vec<String>)]
    pub scopes: Scopes,
    /// When it was made.
    #[serde(with = "crate::time")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
    /// When it was last used, to the minute.
    #[serde(with = "crate::time::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<i64>,
    /// When it stops working; `null`: never.
    #[serde(with = "crate::time::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<i64>,
    /// When it was revoked.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::time::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<i64>,
}

impl TokenInfo {
    /// Whether it works at `now`: neither revoked nor expired.
    pub fn works(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| now < at)
    }
}

/// A token just made: the only time its clear text exists.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    /// Its id.
    pub id: String,
    /// Its note.
    pub name: Option<String>,
    /// What it may do.
    #[schema(value_type = Vec<String>)]
    pub scopes: Scopes,
    /// The token itself, `slk_<id>_<secret>`: shown once, never stored.
    pub token: String,
    /// When it stops working.
    #[serde(with = "crate::time::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<i64>,
}

/// A token as presented, split into its id and secret; `None` if it does not have the shape.
pub fn split(token: &str) -> Option<(&str, &str)> {
    let (id, secret) = token.strip_prefix(PREFIX)?.split_once('_')?;
    (ids::is_valid(id) && !secret.is_empty() && secret.len() <= 128).then_some((id, secret))
}

fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Cleans a token's name: control characters dropped, trimmed, bounded; empty is none.
pub fn clean_name(name: Option<String>) -> Result<Option<String>> {
    let Some(name) = name else { return Ok(None) };
    let name: String = name.chars().filter(|c| !c.is_control()).collect::<String>().trim().to_string();
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(Error::invalid_field("name", format!("a token name may have at most {MAX_NAME_CHARS} characters")));
    }
    Ok((!name.is_empty()).then_some(name))
}

const COLUMNS: &str = "id, name, scopes, created_at, last_used_at, expires_at, revoked_at";

fn from_row(row: &Row<'_>) -> rusqlite::Result<TokenInfo> {
    let scopes: i64 = row.get(2)?;
    Ok(TokenInfo {
        id: row.get(0)?,
        name: row.get(1)?,
        scopes: Scopes(scopes as u8),
        created_at: row.get(3)?,
        last_used_at: row.get(4)?,
        expires_at: row.get(5)?,
        revoked_at: row.get(6)?,
    })
}

/// Makes a token and keeps its hash; the clear token is in the answer only.
pub fn create(
    conn: &Connection,
    name: Option<String>,
    scopes: Scopes,
    expires_at: Option<i64>,
    now: i64,
) -> Result<CreatedToken> {
    if scopes.is_empty() {
        return Err(Error::invalid_field("scopes", "give at least one scope: read, upload, write or admin"));
    }
    let name = clean_name(name)?;
    let mut bytes = [0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let id = ids::generate();
    conn.execute(
        "INSERT INTO tokens (id, name, scopes, secret_sha256, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![id, name, scopes.0 as i64, hash(&secret), now, expires_at],
    )?;
    Ok(CreatedToken { token: format!("{PREFIX}{id}_{secret}"), id, name, scopes, expires_at })
}

/// Every token, newest first, revoked ones included.
pub fn list(conn: &Connection) -> Result<Vec<TokenInfo>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM tokens ORDER BY created_at DESC, id"))?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// One token.
pub fn get(conn: &Connection, id: &str) -> Result<Option<TokenInfo>> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM tokens WHERE id = ?1"))?
        .query_row([id], from_row)
        .optional()?)
}

/// Revokes a token (kept in the list, refused from now on); false if there is none. Revoking
/// twice keeps the first date.
pub fn revoke(conn: &Connection, id: &str, now: i64) -> Result<bool> {
    Ok(conn.execute("UPDATE tokens SET revoked_at = coalesce(revoked_at, ?2) WHERE id = ?1", params![id, now])? > 0)
}

/// The token `token` presents if it is known, its secret matches and it works at `now`; its
/// `last_used_at` is brought up to date when the last write is a minute old.
pub fn verify(conn: &Connection, token: &str, now: i64) -> Result<Option<TokenInfo>> {
    let Some((id, secret)) = split(token) else { return Ok(None) };
    let found = conn
        .prepare_cached(&format!("SELECT {COLUMNS}, secret_sha256 FROM tokens WHERE id = ?1"))?
        .query_row([id], |row| Ok((from_row(row)?, row.get::<_, Vec<u8>>(7)?)))
        .optional()?;
    let Some((mut info, stored)) = found else { return Ok(None) };
    if !bool::from(hash(secret).ct_eq(&stored)) || !info.works(now) {
        return Ok(None);
    }
    if info.last_used_at.is_none_or(|at| now - at >= LAST_USED_EVERY) {
        // Guarded in SQL too: several requests in the same second write once.
        conn.execute(
            "UPDATE tokens SET last_used_at = ?2 WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at <= ?3)",
            params![info.id, now, now - LAST_USED_EVERY],
        )?;
        info.last_used_at = Some(now);
    }
    Ok(Some(info))
}

/// Records that the file `file_id` was added with the token `token_id` (the `upload` scope
/// may link it).
pub fn set_uploader(conn: &Connection, file_id: &str, token_id: &str) -> Result<()> {
    conn.execute("UPDATE files SET token_id = ?2 WHERE id = ?1", params![file_id, token_id])?;
    Ok(())
}

/// The token that added the file, if one did.
pub fn uploader_of(conn: &Connection, file_id: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT token_id FROM files WHERE id = ?1")?
        .query_row([file_id], |r| r.get::<_, Option<String>>(0))
        .optional()?
        .flatten())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{Db, Mode};

    fn db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db"), Mode::ReadWrite).unwrap();
        (dir, db)
    }

    #[test]
    fn scopes_parse_and_display() {
        assert_eq!(Scopes::parse("read,upload,write").unwrap(), Scopes::DEFAULT);
        assert_eq!(Scopes::parse("admin read").unwrap().to_string(), "read,admin");
        assert!(Scopes::parse("").is_err());
        let err = Scopes::parse("read,root").unwrap_err();
        assert!(matches!(err, Error::InvalidField { field: "scopes", .. }), "{err}");
        assert_eq!(serde_json::to_value(Scopes::DEFAULT).unwrap(), serde_json::json!(["read", "upload", "write"]));
        let back: Scopes = serde_json::from_value(serde_json::json!(["admin"])).unwrap();
        assert!(back.has(Scope::Admin) && !back.has(Scope::Read));
    }

    #[test]
    fn only_the_hash_is_stored_and_the_token_verifies() {
        let (_dir, db) = db();
        let made = db.with(|c| create(c, Some("ci".into()), Scopes::DEFAULT, None, 1000)).unwrap();
        assert!(made.token.starts_with(&format!("slk_{}_", made.id)));
        let (_, secret) = split(&made.token).unwrap();
        assert_eq!(secret.len(), 43);
        let stored: Vec<u8> =
            db.with(|c| Ok(c.query_row("SELECT secret_sha256 FROM tokens", [], |r| r.get(0))?)).unwrap();
        assert_eq!(stored, Sha256::digest(secret.as_bytes()).to_vec());
        let info = db.with(|c| verify(c, &made.token, 1001)).unwrap().unwrap();
        assert_eq!(info.id, made.id);
        assert_eq!(info.name.as_deref(), Some("ci"));
    }

    #[test]
    fn wrong_expired_and_revoked_tokens_are_refused() {
        let (_dir, db) = db();
        let made = db.with(|c| create(c, None, Scopes::DEFAULT, Some(2000), 1000)).unwrap();
        let mut wrong = made.token.clone();
        // The last character changed (the secret's alphabet has `-` and `_` too).
        let last = wrong.pop().unwrap();
        wrong.push(if last == 'A' { 'B' } else { 'A' });
        for bad in [wrong.as_str(), "", "slk_", "Bearer x", "slk_aaaaaaaaaaaaaaaa_secret"] {
            assert!(db.with(|c| verify(c, bad, 1001)).unwrap().is_none(), "{bad}");
        }
        assert!(db.with(|c| verify(c, &made.token, 1999)).unwrap().is_some());
        assert!(db.with(|c| verify(c, &made.token, 2000)).unwrap().is_none(), "expired");
        assert!(db.with(|c| revoke(c, &made.id, 1500)).unwrap());
        assert!(db.with(|c| verify(c, &made.token, 1501)).unwrap().is_none(), "revoked");
        assert!(!db.with(|c| revoke(c, "bbbbbbbbbbbbbbbb", 1500)).unwrap());
    }

    #[test]
    fn last_use_is_written_at_most_once_a_minute() {
        let (_dir, db) = db();
        let made = db.with(|c| create(c, None, Scopes::DEFAULT, None, 1000)).unwrap();
        let last = || db.with(|c| get(c, &made.id)).unwrap().unwrap().last_used_at;
        db.with(|c| verify(c, &made.token, 1000)).unwrap();
        assert_eq!(last(), Some(1000));
        db.with(|c| verify(c, &made.token, 1059)).unwrap();
        assert_eq!(last(), Some(1000));
        db.with(|c| verify(c, &made.token, 1060)).unwrap();
        assert_eq!(last(), Some(1060));
    }
}
