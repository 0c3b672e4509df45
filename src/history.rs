//! Access history: what happened to what the owner shared, kept in the database.
//!
//! Two tables (see the migration in `db`):
//! - `history`: one row per access as the owner reads it. A download resumed over many Range
//!   requests by one client is one row, updated as the requests arrive; so is a flood of refused
//!   requests from one client. This is what `sharelock log` and the app's link history show.
//! - `history_feed`: an append-only list of what happened ([`Event`]), each entry pointing at its
//!   `history` row. Webhooks and desktop notifications follow it by `seq`, so each of them sees
//!   `download.completed` once, however the row moved on after.
//!
//! Both are purged after the retention setting ([`Retention`]); with history off nothing is
//! recorded at all, since client addresses are personal data.

use serde::{Deserialize, Serialize};

/// What a `history` row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Kind {
    /// A link's landing page was shown.
    #[serde(rename = "page.viewed")]
    PageViewed,
    /// A file was fetched through a link (see [`DownloadState`]).
    #[serde(rename = "download")]
    Download,
    /// A public file was fetched.
    #[serde(rename = "public.fetched")]
    PublicFetched,
    /// A slot accepted an upload.
    #[serde(rename = "upload.received")]
    UploadReceived,
    /// A slot refused an upload.
    #[serde(rename = "upload.refused")]
    UploadRefused,
    /// A link or public file refused a request (403, 410, 429).
    #[serde(rename = "access.refused")]
    AccessRefused,
    /// A link passed its expiry.
    #[serde(rename = "link.expired")]
    LinkExpired,
    /// A link's last allowed download completed.
    #[serde(rename = "link.exhausted")]
    LinkExhausted,
    /// A slot reached its file count or total size.
    #[serde(rename = "slot.filled")]
    SlotFilled,
    /// A slot passed its expiry.
    #[serde(rename = "slot.expired")]
    SlotExpired,
}

/// How far a download row got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DownloadState {
    /// Whole-file requests that have not delivered the last byte (yet, or ever).
    Started,
    /// Only Range requests so far (a segmented client, a resume, a video seek), not complete.
    Partial,
    /// The last byte was delivered and counted: what the link's download count counts.
    Completed,
}

/// What happened, as the feed, webhooks and notifications name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Event {
    /// A landing page was shown.
    #[serde(rename = "page.viewed")]
    PageViewed,
    /// A new download row: the first request of a client on a link.
    #[serde(rename = "download.started")]
    DownloadStarted,
    /// A download row reached [`DownloadState::Completed`].
    #[serde(rename = "download.completed")]
    DownloadCompleted,
    /// A public file was fetched.
    #[serde(rename = "public.fetched")]
    PublicFetched,
    /// A slot accepted an upload.
    #[serde(rename = "upload.received")]
    UploadReceived,
    /// A slot refused an upload.
    #[serde(rename = "upload.refused")]
    UploadRefused,
    /// A request was refused.
    #[serde(rename = "access.refused")]
    AccessRefused,
    /// A link passed its expiry.
    #[serde(rename = "link.expired")]
    LinkExpired,
    /// A link's last allowed download completed.
    #[serde(rename = "link.exhausted")]
    LinkExhausted,
    /// A slot is full.
    #[serde(rename = "slot.filled")]
    SlotFilled,
    /// A slot passed its expiry.
    #[serde(rename = "slot.expired")]
    SlotExpired,
}

/// One row of the history, as `sharelock log --json` prints it and the API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Access {
    /// Row id.
    pub id: i64,
    /// When it began.
    #[serde(with = "crate::time")]
    #[schema(value_type = String, format = DateTime)]
    pub at: i64,
    /// Its last request (a resumed download's last Range request).
    #[serde(with = "crate::time")]
    #[schema(value_type = String, format = DateTime)]
    pub last_at: i64,
    /// What it is.
    pub kind: Kind,
    /// For downloads: how far it got.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<DownloadState>,
    /// The link, for link accesses and link notices.
    pub link_id: Option<String>,
    /// The file fetched or received.
    pub file_id: Option<String>,
    /// The slot, for uploads and slot notices.
    pub slot_id: Option<String>,
    /// The file's name at the time.
    pub name: Option<String>,
    /// The link's or slot's label at the time ("for Dana").
    pub label: Option<String>,
    /// The client's address, as `--trusted-proxy` decides it.
    pub client: Option<String>,
    /// The client's `User-Agent`.
    pub user_agent: Option<String>,
    /// Bytes sent (downloads) or received (uploads).
    pub bytes: u64,
    /// How many requests the row gathers.
    pub requests: u64,
    /// The HTTP status of a refusal.
    pub status: Option<u16>,
    /// Why it was refused, in a few words.
    pub reason: Option<String>,
}

/// One entry of the feed: an [`Event`] and the row as it was read with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FeedEntry {
    /// Position in the feed, increasing.
    pub seq: i64,
    /// What happened.
    pub event: Event,
    /// When.
    #[serde(with = "crate::time")]
    #[schema(value_type = String, format = DateTime)]
    pub at: i64,
    /// The row it is about.
    pub access: Access,
}

/// Which rows to read, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Query {
    /// Only this link's.
    pub link_id: Option<String>,
    /// Only this file's (its links', its public fetches, its upload).
    pub file_id: Option<String>,
    /// Only this slot's.
    pub slot_id: Option<String>,
    /// Only rows active at or after this time (unix seconds).
    pub since: Option<i64>,
    /// At most this many.
    pub limit: Option<usize>,
}

/// How long history is kept: the `history` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    /// Nothing is recorded (and what was is purged).
    Off,
    /// Rows whose last activity is older than this many seconds are purged.
    Keep(u64),
}

/// The retention when the setting is unset: 90 days.
pub const DEFAULT_RETENTION: Retention = Retention::Keep(90 * 86_400);
