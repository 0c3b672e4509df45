//! Access history: what happened to what the owner shared, kept in the database.
//!
//! Two tables (see the migration in `db`):
//! - `history`: one row per access as the owner reads it. A download resumed over many Range
//!   requests by one client is one row, updated as the requests arrive; so is a flood of refused
//!   requests from one client, and so are one client's repeated complete downloads of a link
//!   (counted in `downloads`). This is what `sharelock log` and the app's link history show.
//! - `history_feed`: an append-only list of what happened ([`Event`]), each entry pointing at its
//!   `history` row. Webhooks and desktop notifications follow it by `seq`, so each of them sees
//!   `download.completed` once, however the row moved on after.
//!
//! Both are purged after the retention setting ([`Retention`]); with history off nothing is
//! recorded at all, since client addresses are personal data.

use serde::{Deserialize, Serialize};
use smol_str::SmolStr;

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
    /// For downloads: how many complete downloads the row gathers. One, unless the same client
    /// downloaded the file again within [`GROUP_WINDOW`] (a reload, a script in a loop).
    #[serde(default)]
    pub downloads: u64,
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

/// How long rows of one client on one link or public file are gathered into one row: a
/// resume, a retry or a flood within this long of the row's last request is the same access.
pub const GROUP_WINDOW: i64 = 30 * 60;

impl Retention {
    /// Reads the `history` setting: `off`, or a lifetime such as `90d`, `12h` or `1y`.
    pub fn parse(text: &str) -> crate::Result<Retention> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("off") {
            return Ok(Retention::Off);
        }
        let bad = || {
            crate::Error::invalid_field(
                "history",
                format!("invalid history setting {text:?}: use `off` or a duration such as 90d, 4w, 12h or 1y"),
            )
        };
        // Years are not a link lifetime, but a natural way to say how long to keep history.
        if let Some(years) = text.strip_suffix('y') {
            let years: u64 = years.parse().map_err(|_| bad())?;
            return match years {
                1..=100 => Ok(Retention::Keep(years * 365 * 86_400)),
                _ => Err(bad()),
            };
        }
        match text.parse::<crate::units::Lifetime>().map_err(|_| bad())? {
            crate::units::Lifetime::For(d) => Ok(Retention::Keep(d.as_secs())),
            crate::units::Lifetime::Never => Err(bad()),
        }
    }

    /// The retention a `history` setting value means: unset is [`DEFAULT_RETENTION`], and a
    /// value that no longer reads (edited by hand) keeps the default rather than everything.
    pub fn from_setting(value: Option<&str>) -> Retention {
        value.and_then(|v| Retention::parse(v).ok()).unwrap_or(DEFAULT_RETENTION)
    }

    /// Whether anything is recorded.
    pub fn records(self) -> bool {
        self != Retention::Off
    }
}

/// What one request did, as the server records it in memory on the request path (no database
/// access there): plain ids and numbers, gathered into `history` rows when the batch is flushed
/// (see `Vault::record_history`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// When (unix seconds).
    pub at: i64,
    /// The client's address, as `--trusted-proxy` decides it.
    pub client: Option<std::net::IpAddr>,
    /// The client's `User-Agent`, capped (see [`MAX_USER_AGENT`]).
    pub user_agent: Option<SmolStr>,
    /// What happened.
    pub what: Happened,
}

/// The longest `User-Agent` kept: enough to tell browsers and tools apart, and a bound on what
/// a client can make the server store.
pub const MAX_USER_AGENT: usize = 256;

/// A `User-Agent` as kept: control characters dropped, at most [`MAX_USER_AGENT`] bytes (cut
/// at a character boundary).
pub fn user_agent(raw: &str) -> SmolStr {
    let mut end = raw.len().min(MAX_USER_AGENT);
    while !raw.is_char_boundary(end) {
        end -= 1;
    }
    let cut = &raw[..end];
    if cut.chars().any(char::is_control) {
        cut.chars().filter(|c| !c.is_control()).collect::<String>().into()
    } else {
        cut.into()
    }
}

/// The access a [`Record`] is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Happened {
    /// A link's landing page was shown.
    PageViewed {
        /// The link.
        link_id: SmolStr,
    },
    /// A response with the file's bytes, through a link or as a public file.
    Fetched {
        /// The link, or `None` for a public file.
        link_id: Option<SmolStr>,
        /// The file.
        file_id: SmolStr,
        /// Whether it answered a Range request.
        range: bool,
        /// Whether the last byte was delivered and the download counted.
        completed: bool,
        /// Bytes sent.
        bytes: u64,
    },
    /// A slot stored a file.
    UploadReceived {
        /// The slot.
        slot_id: SmolStr,
        /// The stored file.
        file_id: String,
        /// Its name.
        name: String,
        /// Its size.
        bytes: u64,
    },
    /// A slot refused an upload.
    UploadRefused {
        /// The slot.
        slot_id: SmolStr,
        /// The file's name, when the refusal is about one file.
        name: Option<String>,
        /// The HTTP status answered.
        status: u16,
        /// Why, in a few words.
        reason: std::borrow::Cow<'static, str>,
    },
    /// A link or public file refused a request (403, 410, 429).
    Refused {
        /// The link, or `None` for a public file.
        link_id: Option<SmolStr>,
        /// The public file, for public refusals.
        file_id: Option<SmolStr>,
        /// The HTTP status answered.
        status: u16,
        /// Why, in a few words.
        reason: std::borrow::Cow<'static, str>,
    },
}

/// The one human sentence for a feed entry: what desktop notifications and ntfy webhooks say.
pub fn describe(entry: &FeedEntry) -> String {
    let a = &entry.access;
    let name = a.name.as_deref().unwrap_or("a file");
    let for_label = a.label.as_deref().map(|l| format!(" (for {l})")).unwrap_or_default();
    let slot =
        a.label.as_deref().map(|l| format!("The upload link \"{l}\"")).unwrap_or_else(|| "An upload link".into());
    let refusal = match (a.status, a.reason.as_deref()) {
        (Some(status), Some(reason)) => format!(" ({status}: {reason})"),
        (Some(status), None) => format!(" ({status})"),
        (None, Some(reason)) => format!(" ({reason})"),
        (None, None) => String::new(),
    };
    match entry.event {
        Event::DownloadCompleted if a.kind == Kind::PublicFetched => format!("{name} was downloaded (public file)"),
        Event::DownloadCompleted => format!("{name} was downloaded{for_label}"),
        Event::DownloadStarted => format!("{name}: download started{for_label}"),
        Event::PageViewed => format!("Someone opened the page for {name}{for_label}"),
        Event::PublicFetched => format!("{name} was fetched (public file)"),
        Event::UploadReceived => match a.label.as_deref() {
            Some(l) => format!("{name} was received (in \"{l}\")"),
            None => format!("{name} was received"),
        },
        Event::UploadRefused => {
            let what = a.name.as_deref().map(|n| format!("An upload of {n}")).unwrap_or_else(|| "An upload".into());
            let place = a.label.as_deref().map(|l| format!(" to \"{l}\"")).unwrap_or_default();
            format!("{what}{place} was refused{refusal}")
        }
        Event::AccessRefused if a.link_id.is_none() => {
            format!("A request for {name} (public file) was refused{refusal}")
        }
        Event::AccessRefused => format!("A request for {name}{for_label} was refused{refusal}"),
        Event::LinkExpired => format!("The link to {name}{for_label} expired"),
        Event::LinkExhausted => format!("The link to {name}{for_label} is used up"),
        Event::SlotFilled => format!("{slot} is full"),
        Event::SlotExpired => format!("{slot} expired"),
    }
}

impl Kind {
    /// The name kept in the database (the same as in JSON).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::PageViewed => "page.viewed",
            Kind::Download => "download",
            Kind::PublicFetched => "public.fetched",
            Kind::UploadReceived => "upload.received",
            Kind::UploadRefused => "upload.refused",
            Kind::AccessRefused => "access.refused",
            Kind::LinkExpired => "link.expired",
            Kind::LinkExhausted => "link.exhausted",
            Kind::SlotFilled => "slot.filled",
            Kind::SlotExpired => "slot.expired",
        }
    }

    /// The kind a database name names.
    pub fn named(text: &str) -> Option<Kind> {
        ALL_KINDS.iter().copied().find(|k| k.as_str() == text)
    }
}

const ALL_KINDS: [Kind; 10] = [
    Kind::PageViewed,
    Kind::Download,
    Kind::PublicFetched,
    Kind::UploadReceived,
    Kind::UploadRefused,
    Kind::AccessRefused,
    Kind::LinkExpired,
    Kind::LinkExhausted,
    Kind::SlotFilled,
    Kind::SlotExpired,
];

impl DownloadState {
    /// The name kept in the database (the same as in JSON).
    pub fn as_str(self) -> &'static str {
        match self {
            DownloadState::Started => "started",
            DownloadState::Partial => "partial",
            DownloadState::Completed => "completed",
        }
    }

    /// The state a database name names.
    pub fn named(text: &str) -> Option<DownloadState> {
        [DownloadState::Started, DownloadState::Partial, DownloadState::Completed]
            .into_iter()
            .find(|s| s.as_str() == text)
    }

    /// How far it got: a row only moves up (partial, then started once a whole-file request
    /// came, then completed).
    fn rank(self) -> u8 {
        match self {
            DownloadState::Partial => 0,
            DownloadState::Started => 1,
            DownloadState::Completed => 2,
        }
    }

    /// The further of two states.
    pub fn max(self, other: DownloadState) -> DownloadState {
        if other.rank() > self.rank() { other } else { self }
    }
}

impl Event {
    /// Every event, in the order they are documented.
    pub const ALL: [Event; 11] = [
        Event::PageViewed,
        Event::DownloadStarted,
        Event::DownloadCompleted,
        Event::PublicFetched,
        Event::UploadReceived,
        Event::UploadRefused,
        Event::AccessRefused,
        Event::LinkExpired,
        Event::LinkExhausted,
        Event::SlotFilled,
        Event::SlotExpired,
    ];

    /// The dotted name (the same as in JSON).
    pub fn as_str(self) -> &'static str {
        match self {
            Event::PageViewed => "page.viewed",
            Event::DownloadStarted => "download.started",
            Event::DownloadCompleted => "download.completed",
            Event::PublicFetched => "public.fetched",
            Event::UploadReceived => "upload.received",
            Event::UploadRefused => "upload.refused",
            Event::AccessRefused => "access.refused",
            Event::LinkExpired => "link.expired",
            Event::LinkExhausted => "link.exhausted",
            Event::SlotFilled => "slot.filled",
            Event::SlotExpired => "slot.expired",
        }
    }

    /// The event a dotted name names.
    pub fn named(text: &str) -> Option<Event> {
        Event::ALL.iter().copied().find(|e| e.as_str() == text)
    }
}

/// Reads a `--since` (or the API's `since=`): a duration back from `now` (`7d`, `12h`) or an
/// RFC 3339 time; unix seconds.
pub fn parse_since(text: &str, now: i64) -> crate::Result<i64> {
    let text = text.trim();
    if let Ok(at) = crate::time::parse_rfc3339(text) {
        return Ok(at);
    }
    match text.parse::<crate::units::Lifetime>() {
        Ok(crate::units::Lifetime::For(d)) => Ok(now.saturating_sub(d.as_secs() as i64)),
        _ => Err(crate::Error::invalid_field(
            "since",
            format!("invalid time {text:?}: use a duration back from now (90m, 7d) or an RFC 3339 time"),
        )),
    }
}
