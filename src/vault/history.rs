//! Access history: reading it (`sharelock log`, the API, the app), writing what the server
//! recorded in memory (one transaction with the download counts), the end-of-life notices of
//! links and slots, and the retention purge. The rules of grouping live here, next to the SQL.

use std::collections::HashMap;
use std::net::IpAddr;
use std::rc::Rc;

use rusqlite::{Connection, OptionalExtension, Row, params};
use smol_str::SmolStr;

use super::*;
use crate::history::{Access, DownloadState, Event, FeedEntry, GROUP_WINDOW, Happened, Kind, Query, Record, Retention};

/// Columns of a `history` row, in the order [`access_from_row`] reads them.
const COLUMNS: &str = "h.id, h.at, h.last_at, h.kind, h.state, h.link_id, h.file_id, h.slot_id, h.name, h.label, \
     h.client, h.user_agent, h.bytes, h.requests, h.status, h.reason, h.downloads";

/// How many rows `history` returns without a limit.
pub const DEFAULT_HISTORY_LIMIT: usize = 1000;

/// How long after a link's expiry its `link.expired` notice is still worth sending: links that
/// ended before history existed (or while no server ran for long) end silently, not in a burst.
const NOTICE_WINDOW: i64 = 86_400;

fn access_from_row(row: &Row<'_>, at: usize) -> rusqlite::Result<Access> {
    let kind: String = row.get(at + 3)?;
    let state: Option<String> = row.get(at + 4)?;
    let bad = |what: &str, value: &str| -> rusqlite::Error {
        rusqlite::types::FromSqlError::Other(format!("unknown history {what} {value:?}").into()).into()
    };
    Ok(Access {
        id: row.get(at)?,
        at: row.get(at + 1)?,
        last_at: row.get(at + 2)?,
        kind: Kind::named(&kind).ok_or_else(|| bad("kind", &kind))?,
        state: match state {
            Some(s) => Some(DownloadState::named(&s).ok_or_else(|| bad("state", &s))?),
            None => None,
        },
        link_id: row.get(at + 5)?,
        file_id: row.get(at + 6)?,
        slot_id: row.get(at + 7)?,
        name: row.get(at + 8)?,
        label: row.get(at + 9)?,
        client: row.get(at + 10)?,
        user_agent: row.get(at + 11)?,
        bytes: row.get(at + 12)?,
        requests: row.get(at + 13)?,
        status: row.get(at + 14)?,
        reason: row.get(at + 15)?,
        downloads: row.get(at + 16)?,
    })
}

impl Vault {
    /// History rows, newest first (by `last_at`, then id).
    pub fn history(&self, q: &Query) -> Result<Vec<Access>> {
        self.db.with(|c| query(c, q))
    }

    /// Feed entries after `after`, oldest first, at most `limit`.
    pub fn history_feed(&self, after: i64, limit: usize) -> Result<Vec<FeedEntry>> {
        self.db.with(|c| feed(c, after, limit))
    }

    /// The last feed entry's seq (0 if none): where a new follower starts.
    pub fn history_feed_end(&self) -> Result<i64> {
        self.db.with(|c| {
            Ok(c.prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM history_feed")?.query_row([], |r| r.get(0))?)
        })
    }

    /// How long history is kept (the `history` setting).
    pub fn history_retention(&self) -> Result<Retention> {
        self.db.with(|c| retention(c))
    }

    /// Sets the retention (the `history` setting); `off` also purges what was recorded.
    pub fn set_history_retention(&self, value: &str, now: i64) -> Result<Retention> {
        let retention = Retention::parse(value)?;
        self.write(|c| {
            let tx = write_transaction(c)?;
            settings::set(&tx, settings::HISTORY, value.trim())?;
            purge(&tx, retention, now)?;
            tx.commit()?;
            Ok(retention)
        })
    }

    /// Writes download counts (links without a limit) and what the server recorded, in one
    /// transaction: rows gathered by the grouping rules, feed entries, last-access times, and
    /// the notices of links that just ran out. With history off the records are dropped.
    pub fn record_history(&self, counts: &[(String, u64)], records: &[Record], now: i64) -> Result<()> {
        self.write(|c| {
            let tx = write_transaction(c)?;
            links::add_downloads(&tx, counts)?;
            if !records.is_empty() && retention(&tx)?.records() {
                let mut batch = Batch::default();
                for record in records {
                    write_record(&tx, &mut batch, record)?;
                }
                batch.finish(&tx)?;
                notice_ends(&tx, now)?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    /// Adds `link.expired`, `link.exhausted`, `slot.filled` and `slot.expired` entries for links
    /// and slots that ended since the last look, once each. Returns how many.
    pub fn notice_ends(&self, now: i64) -> Result<usize> {
        self.write(|c| {
            let tx = write_transaction(c)?;
            let noticed = if retention(&tx)?.records() { notice_ends(&tx, now)? } else { 0 };
            tx.commit()?;
            Ok(noticed)
        })
    }

    /// Purges rows older than the retention (all of them when history is off), with their
    /// feed entries. Returns how many rows went.
    pub fn purge_history(&self, now: i64) -> Result<usize> {
        self.write(|c| {
            let tx = write_transaction(c)?;
            let retention = retention(&tx)?;
            let purged = purge(&tx, retention, now)?;
            tx.commit()?;
            Ok(purged)
        })
    }
}

fn retention(conn: &Connection) -> Result<Retention> {
    Ok(Retention::from_setting(settings::get(conn, settings::HISTORY)?.as_deref()))
}

fn query(conn: &Connection, q: &Query) -> Result<Vec<Access>> {
    let limit = q.limit.unwrap_or(DEFAULT_HISTORY_LIMIT).min(i64::MAX as usize) as i64;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM history h
         WHERE (?1 IS NULL OR h.link_id = ?1) AND (?2 IS NULL OR h.file_id = ?2)
           AND (?3 IS NULL OR h.slot_id = ?3) AND (?4 IS NULL OR h.last_at >= ?4)
         ORDER BY h.last_at DESC, h.id DESC LIMIT ?5"
    ))?;
    let rows = stmt.query_map(params![q.link_id, q.file_id, q.slot_id, q.since, limit], |r| access_from_row(r, 0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn feed(conn: &Connection, after: i64, limit: usize) -> Result<Vec<FeedEntry>> {
    let limit = limit.min(i64::MAX as usize) as i64;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT f.seq, f.event, f.at, {COLUMNS} FROM history_feed f JOIN history h ON h.id = f.history_id
         WHERE f.seq > ?1 ORDER BY f.seq LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![after, limit], |r| {
        let event: String = r.get(1)?;
        Ok(FeedEntry {
            seq: r.get(0)?,
            event: Event::named(&event).ok_or_else(|| {
                rusqlite::Error::from(rusqlite::types::FromSqlError::Other(
                    format!("unknown history event {event:?}").into(),
                ))
            })?,
            at: r.get(2)?,
            access: access_from_row(r, 3)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Deletes rows past `retention` and their feed entries.
fn purge(conn: &Connection, retention: Retention, now: i64) -> Result<usize> {
    let before = match retention {
        Retention::Off => i64::MAX,
        Retention::Keep(secs) => now.saturating_sub(secs.min(i64::MAX as u64) as i64),
    };
    conn.prepare_cached("DELETE FROM history_feed WHERE history_id IN (SELECT id FROM history WHERE last_at < ?1)")?
        .execute([before])?;
    Ok(conn.prepare_cached("DELETE FROM history WHERE last_at < ?1")?.execute([before])?)
}

fn append_feed(conn: &Connection, history_id: i64, event: Event, at: i64) -> Result<()> {
    conn.prepare_cached("INSERT INTO history_feed (history_id, event, at) VALUES (?1, ?2, ?3)")?.execute(params![
        history_id,
        event.as_str(),
        at
    ])?;
    Ok(())
}

/// A new `history` row (the fields not given are null or zero).
#[derive(Default)]
struct NewRow<'a> {
    at: i64,
    kind: Option<Kind>,
    state: Option<DownloadState>,
    link_id: Option<&'a str>,
    file_id: Option<&'a str>,
    slot_id: Option<&'a str>,
    name: Option<&'a str>,
    label: Option<&'a str>,
    client: Option<&'a str>,
    user_agent: Option<&'a str>,
    bytes: u64,
    status: Option<u16>,
    reason: Option<&'a str>,
}

fn insert_row(conn: &Connection, row: &NewRow<'_>) -> Result<i64> {
    conn.prepare_cached(
        "INSERT INTO history (at, last_at, kind, state, link_id, file_id, slot_id, name, label, client, user_agent,
                              bytes, requests, status, reason, downloads)
         VALUES (?1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 1, ?12, ?13, ?14)",
    )?
    .execute(params![
        row.at,
        row.kind.map(Kind::as_str),
        row.state.map(DownloadState::as_str),
        row.link_id,
        row.file_id,
        row.slot_id,
        row.name,
        row.label,
        row.client,
        row.user_agent,
        row.bytes,
        row.status,
        row.reason,
        u64::from(row.state == Some(DownloadState::Completed)),
    ])?;
    Ok(conn.last_insert_rowid())
}

/// A client's newest rows of one kind on one link (or public file) or slot: the candidates a
/// request may join. The index `history_client` (see `db`) holds each client's rows in id order,
/// so this is one seek and a short backward walk.
const RECENT_ROWS: &str = "SELECT id, state, last_at, file_id, user_agent, status FROM history
     WHERE kind = ?1 AND link_id IS ?2 AND slot_id IS ?3 AND client IS ?4
     ORDER BY id DESC LIMIT ?5";

/// How many of a client's newest rows [`recent_rows`] looks at. Within the grouping window a
/// client has one or two rows on a link; the bound keeps a client with years of history, or
/// many browsers behind one address, from turning the look into a scan.
const CANDIDATES: i64 = 8;

/// A row a request may join, as last written.
#[derive(Debug, Clone, Copy)]
struct Joinable {
    id: i64,
    state: Option<DownloadState>,
    last_at: i64,
}

/// The rows of one client (same kind, link, file, slot, user agent and status as `row`) that
/// a request at `row.at` may join: the newest still open (a download not yet completed, or a
/// refusal), and the newest completed download. Each only if active within [`GROUP_WINDOW`].
#[derive(Debug, Clone, Copy, Default)]
struct Recent {
    open: Option<Joinable>,
    completed: Option<Joinable>,
}

impl Recent {
    /// Drops what went quiet for longer than the window before `at`.
    fn at(self, at: i64) -> Recent {
        let live = |j: Option<Joinable>| j.filter(|j| j.last_at >= at - GROUP_WINDOW);
        Recent { open: live(self.open), completed: live(self.completed) }
    }
}

fn recent_rows(conn: &Connection, row: &NewRow<'_>) -> Result<Recent> {
    // `IS` compares nulls as equal: a request without a User-Agent joins the others without one.
    let mut stmt = conn.prepare_cached(RECENT_ROWS)?;
    let mut rows = stmt.query(params![row.kind.map(Kind::as_str), row.link_id, row.slot_id, row.client, CANDIDATES])?;
    let mut recent = Recent::default();
    while let Some(r) = rows.next()? {
        let file_id: Option<String> = r.get(3)?;
        let user_agent: Option<String> = r.get(4)?;
        let status: Option<u16> = r.get(5)?;
        if file_id.as_deref() != row.file_id || user_agent.as_deref() != row.user_agent || status != row.status {
            continue;
        }
        let state = r.get::<_, Option<String>>(1)?.as_deref().and_then(DownloadState::named);
        let found = Joinable { id: r.get(0)?, state, last_at: r.get(2)? };
        let slot = if state == Some(DownloadState::Completed) { &mut recent.completed } else { &mut recent.open };
        if slot.is_none() {
            *slot = Some(found);
        }
        if recent.open.is_some() && recent.completed.is_some() {
            break;
        }
    }
    Ok(recent.at(row.at))
}

/// A refusal joins its client's open row (a flood is one row), or starts one with a feed entry.
fn join_or_insert(conn: &Connection, row: &NewRow<'_>, event: Event) -> Result<()> {
    match recent_rows(conn, row)?.open {
        Some(open) => join_row(conn, open.id, row.at, 0, None, 0),
        None => {
            let id = insert_row(conn, row)?;
            append_feed(conn, id, event, row.at)
        }
    }
}

/// Adds one request to an open row (`downloads`: 1 when it completes the download).
fn join_row(
    conn: &Connection,
    id: i64,
    at: i64,
    bytes: u64,
    state: Option<DownloadState>,
    downloads: u64,
) -> Result<()> {
    conn.prepare_cached(
        "UPDATE history SET last_at = MAX(last_at, ?2), bytes = bytes + ?3, requests = requests + 1,
                            state = COALESCE(?4, state), downloads = downloads + ?5
         WHERE id = ?1",
    )?
    .execute(params![id, at, bytes, state.map(DownloadState::as_str), downloads])?;
    Ok(())
}

/// Repeated complete downloads gathered into a completed row, written once per flush.
#[derive(Debug, Default, Clone, Copy)]
struct Repeats {
    last_at: i64,
    bytes: u64,
    downloads: u64,
}

/// The link's file id, file name and label, if the link exists.
fn link_names(conn: &Connection, link_id: &str) -> Result<Option<LinkNames>> {
    Ok(conn
        .prepare_cached("SELECT f.id, f.name, l.label FROM links l JOIN files f ON f.id = l.file_id WHERE l.id = ?1")?
        .query_row([link_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?)
}

fn file_name(conn: &Connection, file_id: &str) -> Result<Option<String>> {
    Ok(conn.prepare_cached("SELECT name FROM files WHERE id = ?1")?.query_row([file_id], |r| r.get(0)).optional()?)
}

/// The slot's label, if the slot exists (`Some(None)`: it has no label).
fn slot_label(conn: &Connection, slot_id: &str) -> Result<Option<Option<String>>> {
    Ok(conn.prepare_cached("SELECT label FROM slots WHERE id = ?1")?.query_row([slot_id], |r| r.get(0)).optional()?)
}

/// What one flush looks up once for all its records (a busy link has thousands in a batch),
/// and what it writes once at the end: last-access times and repeated downloads.
#[derive(Default)]
struct Batch {
    links: HashMap<String, Option<Rc<LinkNames>>>,
    files: HashMap<String, Option<String>>,
    link_accessed: HashMap<String, i64>,
    file_accessed: HashMap<String, i64>,
    /// The rows each client seen in this batch may join: a client fetching over and over costs
    /// one lookup per batch.
    recent: HashMap<ClientKey, Recent>,
    /// Completed rows that gathered more downloads, by row id.
    repeats: HashMap<i64, Repeats>,
    /// Client addresses as written, each formatted once a batch.
    clients: HashMap<IpAddr, Rc<str>>,
}

/// Whose downloads gather into one row: kind, link, file, client, user agent (shared with the
/// record, so a lookup allocates nothing).
type ClientKey = (Kind, Option<SmolStr>, SmolStr, Option<IpAddr>, Option<SmolStr>);

/// A link's file id, file name and label.
type LinkNames = (String, String, Option<String>);

impl Batch {
    fn link(&mut self, conn: &Connection, link_id: &str) -> Result<Option<Rc<LinkNames>>> {
        if let Some(found) = self.links.get(link_id) {
            return Ok(found.clone());
        }
        let found = link_names(conn, link_id)?.map(Rc::new);
        self.links.insert(link_id.to_string(), found.clone());
        Ok(found)
    }

    fn file(&mut self, conn: &Connection, file_id: &str) -> Result<Option<String>> {
        if let Some(found) = self.files.get(file_id) {
            return Ok(found.clone());
        }
        let found = file_name(conn, file_id)?;
        self.files.insert(file_id.to_string(), found.clone());
        Ok(found)
    }

    fn client(&mut self, ip: IpAddr) -> Rc<str> {
        self.clients.entry(ip).or_insert_with(|| ip.to_string().into()).clone()
    }

    fn accessed(&mut self, link_id: Option<&str>, file_id: &str, at: i64) {
        // Looked up before inserting: a busy link is seen thousands of times a batch, and an
        // `entry` would allocate its key each time.
        fn latest(map: &mut HashMap<String, i64>, id: &str, at: i64) {
            match map.get_mut(id) {
                Some(last) => *last = (*last).max(at),
                None => {
                    map.insert(id.to_string(), at);
                }
            }
        }
        if let Some(link_id) = link_id {
            latest(&mut self.link_accessed, link_id, at);
        }
        latest(&mut self.file_accessed, file_id, at);
    }

    /// Writes the repeated downloads, and the latest access of each link and file fetched, for
    /// the lists.
    fn finish(self, conn: &Connection) -> Result<()> {
        let mut repeats = conn.prepare_cached(
            "UPDATE history SET last_at = MAX(last_at, ?2), bytes = bytes + ?3, requests = requests + ?4,
                                downloads = downloads + ?4
             WHERE id = ?1",
        )?;
        for (id, r) in &self.repeats {
            repeats.execute(params![id, r.last_at, r.bytes, r.downloads])?;
        }
        let mut links = conn
            .prepare_cached("UPDATE links SET last_access_at = MAX(COALESCE(last_access_at, 0), ?2) WHERE id = ?1")?;
        for (id, at) in &self.link_accessed {
            links.execute(params![id, at])?;
        }
        let mut files = conn
            .prepare_cached("UPDATE files SET last_access_at = MAX(COALESCE(last_access_at, 0), ?2) WHERE id = ?1")?;
        for (id, at) in &self.file_accessed {
            files.execute(params![id, at])?;
        }
        Ok(())
    }
}

/// Writes one record by the grouping rules (see the contract in `crate::history`).
fn write_record(conn: &Connection, batch: &mut Batch, record: &Record) -> Result<()> {
    let at = record.at;
    let client = record.client.map(|ip| batch.client(ip));
    let client = client.as_deref();
    let user_agent = record.user_agent.as_deref();
    match &record.what {
        Happened::PageViewed { link_id } => {
            // Only pages of links that exist are shown at all; a link removed meanwhile is skipped.
            let Some(names) = batch.link(conn, link_id)? else { return Ok(()) };
            let (file_id, name, label) = &*names;
            let row = NewRow {
                at,
                kind: Some(Kind::PageViewed),
                link_id: Some(link_id),
                file_id: Some(file_id),
                name: Some(name),
                label: label.as_deref(),
                client,
                user_agent,
                ..NewRow::default()
            };
            let id = insert_row(conn, &row)?;
            append_feed(conn, id, Event::PageViewed, at)
        }
        Happened::Fetched { link_id, file_id, range, completed, bytes } => {
            let (kind, names) = match link_id {
                Some(link_id) => match batch.link(conn, link_id)? {
                    Some(names) => (Kind::Download, names),
                    None => return Ok(()),
                },
                None => match batch.file(conn, file_id)? {
                    Some(name) => (Kind::PublicFetched, Rc::new((file_id.to_string(), name, None))),
                    None => return Ok(()),
                },
            };
            let (_, name, label) = &*names;
            let state = if *completed {
                DownloadState::Completed
            } else if *range {
                DownloadState::Partial
            } else {
                DownloadState::Started
            };
            let key: ClientKey = (kind, link_id.clone(), file_id.clone(), record.client, record.user_agent.clone());
            let link_id = link_id.as_deref();
            let row = NewRow {
                at,
                kind: Some(kind),
                state: Some(state),
                link_id,
                file_id: Some(file_id),
                name: Some(name),
                label: label.as_deref(),
                client,
                user_agent,
                bytes: *bytes,
                ..NewRow::default()
            };
            let recent = match batch.recent.get(&key) {
                Some(known) => known.at(at),
                None => recent_rows(conn, &row)?,
            };
            let recent = match (recent.open, recent.completed) {
                // The download this request goes on with: a resume, or the rest of it.
                (Some(open), _) => {
                    let before = open.state.unwrap_or(state);
                    let after = before.max(state);
                    let completes = after == DownloadState::Completed && before != DownloadState::Completed;
                    join_row(conn, open.id, at, *bytes, Some(after), u64::from(completes))?;
                    if completes {
                        append_feed(conn, open.id, Event::DownloadCompleted, at)?;
                    }
                    let joined = Joinable { id: open.id, state: Some(after), last_at: at };
                    if completes {
                        Recent { open: None, completed: Some(joined) }
                    } else {
                        Recent { open: Some(joined), ..recent }
                    }
                }
                // The same client downloading the whole file again (a reload, a script in a
                // loop): one more download of its row, and no feed entry, so a loop costs the
                // writer one update a flush and tells webhooks and notifications once.
                (None, Some(done)) if state == DownloadState::Completed => {
                    let r = batch.repeats.entry(done.id).or_default();
                    r.last_at = r.last_at.max(at);
                    r.bytes += *bytes;
                    r.downloads += 1;
                    Recent { completed: Some(Joinable { last_at: at, ..done }), ..recent }
                }
                _ => {
                    let id = insert_row(conn, &row)?;
                    // A download complete by the time it is recorded has one entry, completed: a
                    // started entry would say nothing more.
                    let first = match (kind, state) {
                        (Kind::PublicFetched, _) => Event::PublicFetched,
                        (_, DownloadState::Completed) => Event::DownloadCompleted,
                        _ => Event::DownloadStarted,
                    };
                    append_feed(conn, id, first, at)?;
                    if kind == Kind::PublicFetched && state == DownloadState::Completed {
                        append_feed(conn, id, Event::DownloadCompleted, at)?;
                    }
                    let new = Joinable { id, state: Some(state), last_at: at };
                    if state == DownloadState::Completed {
                        Recent { open: None, completed: Some(new) }
                    } else {
                        Recent { open: Some(new), ..recent }
                    }
                }
            };
            batch.recent.insert(key, recent);
            batch.accessed(link_id, file_id, at);
            Ok(())
        }
        Happened::UploadReceived { slot_id, file_id, name, bytes } => {
            let label = slot_label(conn, slot_id)?.flatten();
            let row = NewRow {
                at,
                kind: Some(Kind::UploadReceived),
                file_id: Some(file_id),
                slot_id: Some(slot_id),
                name: Some(name),
                label: label.as_deref(),
                client,
                user_agent,
                bytes: *bytes,
                ..NewRow::default()
            };
            let id = insert_row(conn, &row)?;
            append_feed(conn, id, Event::UploadReceived, at)
        }
        Happened::UploadRefused { slot_id, name, status, reason } => {
            let Some(label) = slot_label(conn, slot_id)? else { return Ok(()) };
            let row = NewRow {
                at,
                kind: Some(Kind::UploadRefused),
                slot_id: Some(slot_id),
                name: name.as_deref(),
                label: label.as_deref(),
                client,
                user_agent,
                status: Some(*status),
                reason: Some(reason),
                ..NewRow::default()
            };
            join_or_insert(conn, &row, Event::UploadRefused)
        }
        Happened::Refused { link_id, file_id, status, reason } => {
            // Only for links and public files that exist: a scan of made-up ids leaves nothing.
            let (file_id, name, label) = match (link_id, file_id) {
                (Some(link_id), _) => match batch.link(conn, link_id)? {
                    Some(names) => (*names).clone(),
                    None => return Ok(()),
                },
                (None, Some(file_id)) => match batch.file(conn, file_id)? {
                    Some(name) => (file_id.to_string(), name, None),
                    None => return Ok(()),
                },
                (None, None) => return Ok(()),
            };
            let row = NewRow {
                at,
                kind: Some(Kind::AccessRefused),
                link_id: link_id.as_deref(),
                file_id: Some(&file_id),
                name: Some(&name),
                label: label.as_deref(),
                client,
                user_agent,
                status: Some(*status),
                reason: Some(reason),
                ..NewRow::default()
            };
            join_or_insert(conn, &row, Event::AccessRefused)
        }
    }
}

/// A link found ended and not yet noticed.
struct EndedLink {
    link_id: String,
    file_id: String,
    name: String,
    label: Option<String>,
    expires_at: Option<i64>,
    revoked: bool,
    used_up: bool,
}

/// Finds links and slots that ended and were not noticed yet, and notices each once (a row and
/// a feed entry), marking it `ended_noticed`. Revoked links and closed slots ended by the
/// owner's hand: they are marked without a notice.
fn notice_ends(conn: &Connection, now: i64) -> Result<usize> {
    let mut noticed = 0;
    let ended: Vec<EndedLink> = {
        let mut stmt = conn.prepare_cached(
            "SELECT l.id, f.id, f.name, l.label, l.expires_at, l.revoked_at IS NOT NULL,
                    l.max_downloads IS NOT NULL AND l.downloads >= l.max_downloads
             FROM links l JOIN files f ON f.id = l.file_id
             WHERE l.ended_noticed = 0 AND (l.revoked_at IS NOT NULL OR l.expires_at <= ?1
                   OR (l.max_downloads IS NOT NULL AND l.downloads >= l.max_downloads))",
        )?;
        let rows = stmt.query_map([now], |r| {
            Ok(EndedLink {
                link_id: r.get(0)?,
                file_id: r.get(1)?,
                name: r.get(2)?,
                label: r.get(3)?,
                expires_at: r.get(4)?,
                revoked: r.get(5)?,
                used_up: r.get(6)?,
            })
        })?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for EndedLink { link_id, file_id, name, label, expires_at, revoked, used_up } in ended {
        conn.prepare_cached("UPDATE links SET ended_noticed = 1 WHERE id = ?1")?.execute([&link_id])?;
        // What ended it first: a link used up before it expired is used up.
        let (kind, event, at) = if revoked {
            continue;
        } else if used_up {
            (Kind::LinkExhausted, Event::LinkExhausted, now)
        } else {
            let expired_at = expires_at.unwrap_or(now);
            if expired_at < now - NOTICE_WINDOW {
                continue;
            }
            (Kind::LinkExpired, Event::LinkExpired, expired_at)
        };
        let row = NewRow {
            at,
            kind: Some(kind),
            link_id: Some(&link_id),
            file_id: Some(&file_id),
            name: Some(&name),
            label: label.as_deref(),
            ..NewRow::default()
        };
        let id = insert_row(conn, &row)?;
        append_feed(conn, id, event, at)?;
        noticed += 1;
    }
    let ended: Vec<(String, Option<String>, i64, bool, bool)> = {
        let mut stmt = conn.prepare_cached(
            "SELECT s.id, s.label, s.expires_at, s.closed_at IS NOT NULL,
                    (SELECT COUNT(*) FROM files f WHERE f.slot_id = s.id) >= s.max_files
                    OR (s.max_total IS NOT NULL AND s.received_bytes >= s.max_total)
             FROM slots s
             WHERE s.ended_noticed = 0 AND (s.closed_at IS NOT NULL OR s.expires_at <= ?1
                   OR (SELECT COUNT(*) FROM files f WHERE f.slot_id = s.id) >= s.max_files
                   OR (s.max_total IS NOT NULL AND s.received_bytes >= s.max_total))",
        )?;
        let rows = stmt.query_map([now], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for (slot_id, label, expires_at, closed, full) in ended {
        conn.prepare_cached("UPDATE slots SET ended_noticed = 1 WHERE id = ?1")?.execute([&slot_id])?;
        let (kind, event, at) = if closed {
            continue;
        } else if full {
            (Kind::SlotFilled, Event::SlotFilled, now)
        } else {
            if expires_at < now - NOTICE_WINDOW {
                continue;
            }
            (Kind::SlotExpired, Event::SlotExpired, expires_at)
        };
        let row =
            NewRow { at, kind: Some(kind), slot_id: Some(&slot_id), label: label.as_deref(), ..NewRow::default() };
        let id = insert_row(conn, &row)?;
        append_feed(conn, id, event, at)?;
        noticed += 1;
    }
    Ok(noticed)
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;

    struct Fixture {
        _dir: tempfile::TempDir,
        vault: Vault,
        link_id: SmolStr,
        file_id: SmolStr,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let vault = Vault::open(&dir.path().join("data")).expect("open");
        let source = dir.path().join("contract.pdf");
        std::fs::write(&source, b"%PDF-1.4 hello").expect("write");
        let file = vault.add_file(&source, false, 1_000, &mut |_| {}).expect("add");
        let new = NewLink { label: Some("Dana".into()), ..NewLink::default() };
        let link = vault.create_link(&file.file.id, new, 1_000, None).expect("link");
        Fixture { _dir: dir, vault, link_id: link.link.id.as_str().into(), file_id: file.file.id.as_str().into() }
    }

    fn fetch(f: &Fixture, at: i64, client: &str, agent: &str, range: bool, completed: bool) -> Record {
        Record {
            at,
            client: Some(client.parse::<IpAddr>().expect("address")),
            user_agent: Some(agent.into()),
            what: Happened::Fetched {
                link_id: Some(f.link_id.clone()),
                file_id: f.file_id.clone(),
                range,
                completed,
                bytes: 10,
            },
        }
    }

    fn rows(f: &Fixture) -> Vec<Access> {
        f.vault.history(&Query::default()).expect("history")
    }

    fn events(f: &Fixture) -> Vec<Event> {
        f.vault.history_feed(0, 100).expect("feed").into_iter().map(|e| e.event).collect()
    }

    #[test]
    fn finding_a_clients_rows_seeks_its_index_in_order() {
        let f = fixture();
        let plan: Vec<String> = f
            .vault
            .db
            .with(|c| {
                let mut stmt = c.prepare(&format!("EXPLAIN QUERY PLAN {RECENT_ROWS}"))?;
                let rows = stmt
                    .query_map(params!["download", "l", None::<String>, "c", CANDIDATES], |r| r.get::<_, String>(3))?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .expect("plan");
        assert!(plan.iter().any(|step| step.contains("history_client")), "{plan:?}");
        assert!(!plan.iter().any(|step| step.contains("TEMP B-TREE")), "no sort: {plan:?}");
    }

    #[test]
    fn ranges_of_one_client_gather_into_one_row_that_a_completion_closes() {
        let f = fixture();
        let records =
            [fetch(&f, 2_000, "10.0.0.1", "curl", true, false), fetch(&f, 2_010, "10.0.0.1", "curl", true, false)];
        f.vault.record_history(&[], &records, 2_010).expect("record");
        let r = rows(&f);
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].state, r[0].requests, r[0].bytes), (Some(DownloadState::Partial), 2, 20));
        // A whole-file request joining moves it to started, the last byte to completed.
        f.vault.record_history(&[], &[fetch(&f, 2_020, "10.0.0.1", "curl", false, false)], 2_020).expect("record");
        assert_eq!(rows(&f)[0].state, Some(DownloadState::Started));
        f.vault.record_history(&[], &[fetch(&f, 2_030, "10.0.0.1", "curl", true, true)], 2_030).expect("record");
        let r = rows(&f);
        assert_eq!((r.len(), r[0].state, r[0].at, r[0].last_at), (1, Some(DownloadState::Completed), 2_000, 2_030));
        assert_eq!(r[0].downloads, 1);
        // Closed: a new partial request is a new download.
        f.vault.record_history(&[], &[fetch(&f, 2_040, "10.0.0.1", "curl", true, false)], 2_040).expect("record");
        assert_eq!(rows(&f).len(), 2);
        assert_eq!(events(&f), [Event::DownloadStarted, Event::DownloadCompleted, Event::DownloadStarted]);
    }

    #[test]
    fn a_client_downloading_again_and_again_is_one_row_counting_its_downloads() {
        let f = fixture();
        let flood: Vec<Record> = (0..500).map(|i| fetch(&f, 2_000 + i / 100, "10.0.0.1", "wrk", false, true)).collect();
        f.vault.record_history(&[], &flood, 2_005).expect("record");
        // A later flush, and a reload within the window, add to the same row.
        f.vault
            .record_history(&[], &[fetch(&f, 2_000 + GROUP_WINDOW, "10.0.0.1", "wrk", false, true)], 4_000)
            .expect("record");
        let r = rows(&f);
        assert_eq!(r.len(), 1, "{r:#?}");
        assert_eq!((r[0].downloads, r[0].requests, r[0].bytes), (501, 501, 5_010));
        assert_eq!((r[0].at, r[0].last_at, r[0].state), (2_000, 2_000 + GROUP_WINDOW, Some(DownloadState::Completed)));
        // Told once: followers (webhooks, notifications) are not flooded.
        assert_eq!(events(&f), [Event::DownloadCompleted]);
        // Another client is another row; the same client after a pause too.
        let others = [
            fetch(&f, 4_000, "10.0.0.2", "wrk", false, true),
            fetch(&f, 2_000 + 3 * GROUP_WINDOW, "10.0.0.1", "wrk", false, true),
        ];
        f.vault.record_history(&[], &others, 9_000).expect("record");
        let r = rows(&f);
        assert_eq!(r.len(), 3, "{r:#?}");
        assert!(r.iter().all(|a| a.state == Some(DownloadState::Completed)));
        assert_eq!(r.iter().map(|a| a.downloads).sum::<u64>(), 503);
        assert_eq!(events(&f).len(), 3);
    }

    #[test]
    fn another_client_another_agent_or_a_long_pause_is_another_row() {
        let f = fixture();
        let records = [
            fetch(&f, 2_000, "10.0.0.1", "curl", true, false),
            fetch(&f, 2_001, "10.0.0.2", "curl", true, false),
            fetch(&f, 2_002, "10.0.0.1", "Firefox", true, false),
            fetch(&f, 2_000 + GROUP_WINDOW + 1, "10.0.0.1", "curl", true, false),
        ];
        f.vault.record_history(&[], &records, 5_000).expect("record");
        assert_eq!(rows(&f).len(), 4);
        // Within the window of the row's last request, not of its first.
        let later = fetch(&f, 2_000 + 2 * GROUP_WINDOW, "10.0.0.1", "curl", true, false);
        f.vault.record_history(&[], &[later], 9_000).expect("record");
        assert_eq!(rows(&f).len(), 4);
    }

    #[test]
    fn a_flood_of_refusals_is_one_row_and_one_feed_entry_and_unknown_links_leave_nothing() {
        let f = fixture();
        let refused = |link_id: SmolStr, status: u16| Record {
            at: 2_000,
            client: Some("10.0.0.9".parse().expect("address")),
            user_agent: None,
            what: Happened::Refused {
                link_id: Some(link_id),
                file_id: None,
                status,
                reason: "invalid signature".into(),
            },
        };
        let mut records: Vec<Record> = (0..50).map(|_| refused(f.link_id.clone(), 403)).collect();
        records.push(refused(f.link_id.clone(), 429));
        records.push(refused("nosuchlink000000".into(), 403));
        f.vault.record_history(&[], &records, 2_000).expect("record");
        let r = rows(&f);
        assert_eq!(r.len(), 2, "{r:#?}");
        let forbidden = r.iter().find(|a| a.status == Some(403)).expect("403 row");
        assert_eq!((forbidden.requests, forbidden.name.as_deref()), (50, Some("contract.pdf")));
        assert_eq!(events(&f), [Event::AccessRefused, Event::AccessRefused]);
    }

    #[test]
    fn retention_purges_old_rows_with_their_feed_entries_and_off_purges_all() {
        let f = fixture();
        let records = [fetch(&f, 2_000, "10.0.0.1", "a", false, true), fetch(&f, 50_000, "10.0.0.2", "b", false, true)];
        f.vault.record_history(&[], &records, 50_000).expect("record");
        f.vault.set_history_retention("10h", 50_000).expect("set");
        assert_eq!(rows(&f).len(), 1);
        assert_eq!(events(&f).len(), 1);
        assert_eq!(f.vault.history_retention().expect("retention"), Retention::Keep(36_000));
        f.vault.set_history_retention("off", 50_000).expect("set");
        assert!(rows(&f).is_empty() && events(&f).is_empty());
        f.vault.record_history(&[], &records, 50_000).expect("record");
        assert!(rows(&f).is_empty(), "off records nothing");
    }
}
