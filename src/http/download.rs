//! Downloads: through a signed link (`/d/…`), its landing page (`/l/…`), and public files
//! (`/p/…`). A share of several files answers `/d/…` with the zip of them all, and each of its
//! files at `/f/…`; both go through the same [`serve`] as a single file, so the zip has the same
//! Range, If-Range, ETag and HEAD answers and is counted and budgeted the same way.
//!
//! The HTTP semantics are decided here, once for every kind of answer: entity tags
//! (If-None-Match, If-Range), dates (If-Modified-Since, If-Unmodified-Since), HEAD, and Range
//! (see `range`; several ranges are served whole, as RFC 9110 allows). The bytes come from
//! memory for small files and from `file_body` for the rest.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::response::{Html, IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use http_body_util::BodyExt;
use serde::Deserialize;
use smol_str::SmolStr;

use std::sync::Arc;

use super::body::{Budgeted, Counted, Counting, Metered, Watched};
use super::connection::ConnectionHandle;
use super::delivery::{Check, Socket};
use super::error::HttpError;
use super::file_body::FileBody;
use super::heads::Head;
use super::history::Client;
use super::limit::Peer;
use super::range::Requested;
use super::signed::{SignedLink, plain_segment};
use super::transfers::Grant;
use super::{AppState, pages};
use crate::files::FileRecord;
use crate::history::Happened;
use crate::links::Link;
use crate::urls::{self, pattern};
use crate::{store, time};

/// Files up to this size are answered from memory instead of a stream (see [`stored_bytes`]).
const SMALL_FILE: u64 = 64 * 1024;

/// `GET|HEAD /d/{link}/{sig}[/{name}]`: the file itself, or a share's zip.
pub(super) async fn link_download(
    State(app): State<AppState>,
    SignedLink { link, file, sig }: SignedLink,
    client: Client,
    req: Request,
) -> Result<Response, HttpError> {
    // Before anything else, even a crawler's preview: a password link shows nothing without it.
    super::unlock::admit(&app, &link, req.headers(), req.extensions().get::<Peer>().copied(), &client).await?;
    let share = match link.is_share() {
        true => Some(Share::load(&app, &link).await?),
        false => None,
    };
    if link.max_downloads.is_some() && req.method() == Method::GET && is_link_preview(req.headers()) {
        // A chat app's crawler unfurling a pasted link: it gets the landing page's preview, not
        // the bytes, so it can neither use up nor eat into a limited link.
        let assets = urls::assets_from(req.uri().path());
        let href = req.uri().path().rsplit('/').next().unwrap_or_default().to_string();
        let html = match &share {
            Some(share) => pages::share_landing(&share.files, &link, &href, &[], &[], &assets, time::now()),
            None => pages::landing(&file, &link, &href, None, &assets, time::now()),
        };
        return Ok(page(html));
    }
    let limited = link.max_downloads.is_some();
    let counting = (req.method() == Method::GET).then(|| match link.max_downloads {
        Some(_) => Counting::Claim { vault: app.vault.clone(), link_id: link.id.clone(), claimed: Arc::default() },
        None => Counting::Tally { counts: app.counts.clone(), link_id: link.id.clone() },
    });
    let recording = Recording { client, link_id: Some(SmolStr::new(&link.id)) };
    let zip = share.as_ref().map(Share::zip);
    let size = zip.as_ref().map_or(file.size, |z| z.layout.len());
    let delivery = Delivery {
        grant: Grant::Link { id: link.id.clone(), sig },
        counting,
        budget: limited.then_some(Budget { link: &link, size }),
        recording: Some(recording),
    };
    serve(&app, req, &file, zip.as_ref(), delivery).await
}

/// A share's files (with their CRC-32s) and the layout of its zip.
struct Share {
    files: Vec<FileRecord>,
    layout: crate::zip::Layout,
    name: String,
}

impl Share {
    /// Reads a share's files; the first fetch of a file added before Sharelock kept CRC-32s
    /// reads it through once (see `Vault::share_files`).
    async fn load(app: &AppState, link: &Link) -> Result<Share, HttpError> {
        let id = link.id.clone();
        let (files, layout) = app
            .blocking(move |v| {
                let files = v.share_files(&id)?;
                let layout = v.share_zip(&files);
                Ok((files, layout))
            })
            .await?;
        if files.is_empty() {
            return Err(HttpError::Gone("this file was removed"));
        }
        Ok(Share { files, layout, name: urls::zip_name(link.name.as_deref().unwrap_or_default()) })
    }

    fn zip(&self) -> Zip<'_> {
        let created_at = self.files.iter().map(|f| f.created_at).max().unwrap_or_default();
        Zip { layout: &self.layout, name: &self.name, created_at }
    }
}

/// What a share's zip answer needs: its layout, the name it is saved under, and its date (the
/// newest of its files').
struct Zip<'a> {
    layout: &'a crate::zip::Layout,
    name: &'a str,
    created_at: i64,
}

/// The path of one file of a share.
#[derive(Deserialize)]
pub(super) struct ShareFilePath {
    file: String,
}

/// `GET|HEAD /f/{link}/{sig}/{file}[/{name}]`: one file of a share, signed by its link.
///
/// How it counts: a share's download is its zip, counted like a single file's when its last
/// byte goes out. A file fetched on its own is not a download of the share and counts none, but
/// on a limited link it draws on the same byte budget as the zip (`links::byte_budget` of the
/// zip's size): all files one by one cost what the zip costs, so a one-time share delivers its
/// files about once, whichever way they are fetched.
pub(super) async fn share_file(
    State(app): State<AppState>,
    SignedLink { link, sig, .. }: SignedLink,
    Path(ShareFilePath { file: file_id }): Path<ShareFilePath>,
    client: Client,
    req: Request,
) -> Result<Response, HttpError> {
    if !link.is_share() || !crate::ids::is_valid(&file_id) {
        return Err(HttpError::NotFound);
    }
    super::unlock::admit(&app, &link, req.headers(), req.extensions().get::<Peer>().copied(), &client).await?;
    let share = Share::load(&app, &link).await?;
    let file = share.files.iter().find(|f| f.id == file_id).ok_or(HttpError::NotFound)?;
    let recording = Recording { client, link_id: Some(SmolStr::new(&link.id)) };
    let delivery = Delivery {
        grant: Grant::Link { id: link.id.clone(), sig },
        counting: None,
        budget: link.max_downloads.is_some().then_some(Budget { link: &link, size: share.layout.len() }),
        recording: Some(recording),
    };
    serve(&app, req, file, None, delivery).await
}

/// User agents of the link-preview crawlers of chat and social apps (Slack, Discord, WhatsApp,
/// Telegram, Facebook and Messenger, Twitter/X, LinkedIn, Microsoft Teams and Skype, iMessage,
/// which sends Facebook's and Twitter's names). They fetch a pasted URL to draw a card, and for
/// a direct download URL that would spend a limited link on a robot.
const LINK_PREVIEW_AGENTS: &[&str] = &[
    "slackbot",
    "slack-imgproxy",
    "discordbot",
    "whatsapp",
    "telegrambot",
    "facebookexternalhit",
    "facebot",
    "twitterbot",
    "linkedinbot",
    "skypeuripreview",
    "microsoftpreview",
    "teamsbot",
    "applebot",
    "redditbot",
    "mattermost",
    "mastodon",
    "signal",
];

/// Whether the request comes from a known link-preview crawler.
pub(super) fn is_link_preview(headers: &HeaderMap) -> bool {
    let Some(agent) = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()) else { return false };
    let agent = agent.to_ascii_lowercase();
    LINK_PREVIEW_AGENTS.iter().any(|bot| agent.contains(bot))
}

/// How a download is accounted for: what grants it (so taking the grant back stops it), how a
/// complete download is counted, and, for a limited link, the byte budget it draws on.
struct Delivery<'a> {
    grant: Grant,
    counting: Option<Counting>,
    budget: Option<Budget<'a>>,
    /// Who to record the download for in the access history (not the owner's own downloads).
    recording: Option<Recording>,
}

/// A limited link's byte budget: the link, and the size its budget is counted in (the file's, or
/// a share's zip's).
#[derive(Clone, Copy)]
struct Budget<'a> {
    link: &'a Link,
    size: u64,
}

/// A download to record: its client, and its link (none for a public file).
struct Recording {
    client: Client,
    link_id: Option<SmolStr>,
}

impl Recording {
    /// Records a refusal of this download (403, 410, 429).
    fn refused(&self, app: &AppState, file: &FileRecord, error: &HttpError) {
        let file_id = if self.link_id.is_none() { Some(file.id.as_str()) } else { None };
        self.client.refused(app, self.link_id.as_deref(), file_id, error);
    }
}

/// `GET /l/{link}/{sig}`: the landing page.
pub(super) async fn landing(
    State(app): State<AppState>,
    SignedLink { link, file, sig }: SignedLink,
    client: Client,
    headers: HeaderMap,
    peer: Option<axum::Extension<Peer>>,
) -> Result<Response, HttpError> {
    if let Some(ask) = super::unlock::landing_gate(&app, &link, &headers, peer.map(|p| p.0), &client).await {
        return Ok(ask);
    }
    client.record(&app, Happened::PageViewed { link_id: SmolStr::new(&link.id) });
    let assets = urls::assets_from(pattern::LANDING);
    if link.is_share() {
        let share = Share::load(&app, &link).await?;
        let zip_href = urls::link_file_from_landing(&link.id, &sig, &share.name);
        let hrefs: Vec<String> =
            share.files.iter().map(|f| urls::share_file_from_landing(&link.id, &sig, &f.id, &f.name)).collect();
        let extras = super::preview::landing_extras(&app, &link, &sig, &share.files, &headers).await?;
        let html = pages::share_landing(&share.files, &link, &zip_href, &hrefs, &extras, &assets, time::now());
        return Ok(page(html));
    }
    let href = urls::link_file_from_landing(&link.id, &sig, &file.name);
    let extras = super::preview::landing_extras(&app, &link, &sig, std::slice::from_ref(&file), &headers).await?;
    // The preview, or for an image too large for one, its thumbnail standing in.
    let preview = extras.into_iter().next().and_then(|e| {
        e.preview.or(e.thumbnail.map(|href| pages::PreviewLink {
            kind: crate::previews::Kind::Image,
            href,
            cut: false,
        }))
    });
    Ok(page(pages::landing(&file, &link, &href, preview.as_ref(), &assets, time::now())))
}

/// `GET|HEAD /p/{file}[/{name}]`: a public file, no token. Private or unknown: 404.
#[derive(Deserialize)]
pub(super) struct PublicPath {
    file: String,
    name: Option<String>,
}

pub(super) async fn public(
    State(app): State<AppState>,
    Path(p): Path<PublicPath>,
    client: Client,
    req: Request,
) -> Result<Response, HttpError> {
    plain_segment(p.name.as_deref())?;
    let id = p.file;
    // Only an exact id reaches the database or the store: `..`, encoded slashes, backslashes
    // and NUL can never name another file because the path is built from the id alone.
    if !crate::ids::is_valid(&id) {
        return Err(HttpError::NotFound);
    }
    // Inline, as a link's lookup is (see `signed`).
    let file = app.vault.public_file(&id)?.ok_or(HttpError::NotFound)?;
    let recording = Recording { client, link_id: None };
    let delivery = Delivery {
        grant: Grant::Public { file_id: file.id.clone() },
        counting: None,
        budget: None,
        recording: Some(recording),
    };
    serve(&app, req, &file, None, delivery).await
}

/// `GET|HEAD /api/v1/files/{id}/content`: the owner's download, with every HTTP semantic of the
/// others (Range, If-Range, ETag, HEAD) and never counted against a link.
pub(super) async fn owner(
    app: &AppState,
    req: Request,
    file: &FileRecord,
    token_id: String,
) -> Result<Response, HttpError> {
    let delivery = Delivery {
        grant: Grant::Owner { file_id: file.id.clone(), token_id },
        counting: None,
        budget: None,
        recording: None,
    };
    serve(app, req, file, None, delivery).await
}

/// Serves a stored file, or a share's `zip` (then `file` is the share's first file, which the
/// history records it under), with all the HTTP semantics, accounted for as `delivery` says; a
/// GET is recorded in the access history when its response is done, a refusal at once.
async fn serve(
    app: &AppState,
    req: Request,
    file: &FileRecord,
    zip: Option<&Zip<'_>>,
    mut delivery: Delivery<'_>,
) -> Result<Response, HttpError> {
    // HEAD and conditional answers without the file's bytes record nothing; with history off
    // nothing is even prepared.
    let recording = delivery.recording.take().filter(|_| req.method() == Method::GET && app.history.enabled());
    let served = serve_file(app, req, file, zip, delivery, recording.as_ref()).await;
    if let (Err(refusal), Some(recording)) = (&served, &recording) {
        recording.refused(app, file, refusal);
    }
    match (served, recording) {
        (Ok((response, Some(length))), Some(Recording { client, link_id })) if response.status().is_success() => {
            let file_id = SmolStr::new(&file.id);
            let history = app.history.clone();
            // Recorded when the response is done: complete when the last byte of a response
            // reaching the file's end went out (for a link: the download was counted, since the
            // frame with the last byte passes only once it is).
            let record = move |sent: u64| {
                let completed = length.reaches_end && sent >= length.len;
                let fetched = Happened::Fetched { link_id, file_id, range: length.range, completed, bytes: sent };
                client.record_into(&history, fetched);
            };
            Ok(response.map(|body| Body::new(Metered::new(body, record))))
        }
        (served, _) => served.map(|(response, _)| response),
    }
}

/// What a response to record sends of the file: how many bytes, whether up to its last byte,
/// and whether it answered a Range.
struct Length {
    len: u64,
    reaches_end: bool,
    range: bool,
}

/// [`serve`] without the recording; the response comes with its [`Length`] when its body is the
/// file's bytes (not an offload redirect, already recorded, nor a 304 or 412).
async fn serve_file(
    app: &AppState,
    mut req: Request,
    file: &FileRecord,
    zip: Option<&Zip<'_>>,
    delivery: Delivery<'_>,
    recording: Option<&Recording>,
) -> Result<(Response, Option<Length>), HttpError> {
    // What is served: the file, or the share's zip; everything up to the body is decided alike.
    let (size, head) = match zip {
        Some(zip) => (zip.layout.len(), Arc::new(Head::of_zip(zip.name, zip.layout.etag(), zip.created_at))),
        None => (file.size, app.heads.of(file)),
    };
    let headers = req.headers_mut();
    // RFC 9110 13.2.2: If-None-Match is evaluated instead of If-Modified-Since when present.
    if let Some(tags) = headers.get(header::IF_NONE_MATCH) {
        if etag_matches(tags, head.etag()) {
            let mut response = StatusCode::NOT_MODIFIED.into_response();
            head.set_validators(response.headers_mut());
            return Ok((response, None));
        }
        headers.remove(header::IF_MODIFIED_SINCE);
    }
    // If-Range (RFC 9110 13.1.5): a Range applies only if the validator still matches exactly;
    // otherwise the whole file is sent.
    if let Some(validator) = headers.get(header::IF_RANGE) {
        let current = validator.as_bytes() == head.etag() || validator.as_bytes() == head.last_modified();
        if !current {
            headers.remove(header::RANGE);
        }
    }
    // One reading of the Range for every path below; the bytes are served as it says.
    let requested = Requested::of(headers, size);
    if requested == Requested::Unsatisfiable {
        let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
        response.headers_mut().insert(header::CONTENT_RANGE, header_value(&format!("bytes */{}", size)));
        return Ok((response, None));
    }
    let length = Length {
        len: requested.len(size),
        reaches_end: requested.reaches_end(size),
        range: matches!(requested, Requested::Part { .. }),
    };

    let Delivery { grant, counting, budget, recording: _ } = delivery;
    // A complete download is counted when its last byte goes out; parts that stop short of it
    // count nothing (a preview, the first half of a resumed download).
    let mut counting = counting.filter(|_| requested.reaches_end(size));
    // Set when this response claims its link's download, for settling it (see `delivery`).
    let claimed = match &counting {
        Some(Counting::Claim { claimed, .. }) => claimed.clone(),
        _ => Arc::default(),
    };
    let connection = req.extensions().get::<Arc<ConnectionHandle>>().cloned();
    // A limited link pays for every byte it sends out of its budget, whether or not the response
    // completes a download: ranges cannot deliver the file to many people uncounted.
    let reserved = match budget.filter(|_| req.method() == Method::GET) {
        Some(link) => {
            let len = requested.len(size);
            let (l, budget_size) = (link.link.clone(), link.size);
            if !app.blocking(move |v| v.reserve_link_bytes(&l, budget_size, len)).await? {
                return Err(HttpError::Gone("this link has been used up"));
            }
            Some((link.link.id.clone(), len))
        }
        None => None,
    };
    let refund_on_error = RefundGuard { app, reserved: reserved.clone() };
    // An empty body is never polled, so there is no last byte to hold back: an empty file's
    // download is counted before its (header-only) response goes out.
    if size == 0
        && let Some(counting) = counting.take()
        && !count_now(app, counting).await?
    {
        return Err(HttpError::Gone("this link has been used up"));
    }

    // A limited link is never handed to the web server in front: only Sharelock sees when its
    // bytes go out, and so only Sharelock can count it and hold back its last byte (a Range
    // through nginx would otherwise deliver a one-time link's file any number of times).
    if let Some(offload) = app.config.offload.as_ref().filter(|_| budget.is_none() && zip.is_none()) {
        let counted = counting.is_some();
        let response = offloaded(app, file, &head, counting, offload).await?;
        if let Some(recording) = recording {
            // The web server sends the bytes: Sharelock sees the request, not the transfer, so
            // the download is recorded now, whole as asked, complete when it reaches the end
            // (when a link's download is counted, see `offloaded`).
            let completed = if recording.link_id.is_some() { counted } else { length.reaches_end };
            recording.client.record(
                app,
                Happened::Fetched {
                    link_id: recording.link_id.clone(),
                    file_id: SmolStr::new(&file.id),
                    range: length.range,
                    completed,
                    bytes: length.len,
                },
            );
        }
        return Ok((response, None));
    }
    let response = if let Some(zip) = zip {
        zip_response(&req, zip, requested, &head)
    } else {
        stored_bytes(req.headers(), req.method() == Method::HEAD, app, file, requested, &head).await?
    };
    refund_on_error.disarm();
    let mut response = watched(app, grant, connection.as_ref(), response);
    if !response.status().is_success() {
        // Nothing of the file goes out (304, 412): give the reservation back at once.
        return Ok((refund_now(app, reserved, response), None));
    }
    if let Some(counting) = counting {
        response = response.map(|body| Body::new(Counted::new(body, requested.len(size), counting)));
    }
    if let Some((link_id, len)) = reserved {
        // What a limited link's response took stands only once the client has the bytes (see
        // `delivery`), judged on the connection's socket once the response has ended it: the
        // end of the connection marks the end of the response.
        let check = match &connection {
            Some(connection) => {
                let socket = Socket::duplicate(connection.fd())
                    .map_err(|e| HttpError::Internal(format!("cannot watch the connection: {e}")))?;
                response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
                Some(Check::new(socket, connection.ended(), app.config.delivery))
            }
            None => None,
        };
        // Passed through unbuffered by nginx (`proxy_buffering` would let it take the whole file
        // at once, and Sharelock could no longer tell when the client has it).
        response.headers_mut().insert("x-accel-buffering", HeaderValue::from_static("no"));
        let vault = app.vault.clone();
        response = response.map(|body| Body::new(Budgeted::new(body, vault, link_id, len, claimed, check)));
    }
    Ok((response, Some(length)))
}

/// Gives a byte reservation back when `serve` returns early with an error.
struct RefundGuard<'a> {
    app: &'a AppState,
    reserved: Option<(String, u64)>,
}

impl RefundGuard<'_> {
    fn disarm(mut self) {
        self.reserved = None;
    }
}

impl Drop for RefundGuard<'_> {
    fn drop(&mut self) {
        if let Some((link_id, len)) = self.reserved.take() {
            let vault = self.app.vault.clone();
            drop(tokio::task::spawn_blocking(move || vault.refund_link_bytes(&link_id, len)));
        }
    }
}

fn refund_now(app: &AppState, reserved: Option<(String, u64)>, response: Response) -> Response {
    drop(RefundGuard { app, reserved });
    response
}

/// A share's zip, bytes as `requested` says, streamed from its layout (see `zip`). If-None-Match
/// and If-Range were settled by the caller; the zip's date is its newest file's.
fn zip_response(req: &Request, zip: &Zip<'_>, requested: Requested, head: &Head) -> Response {
    let size = zip.layout.len();
    let (status, first, last) = match requested {
        Requested::Part { first, last } => (StatusCode::PARTIAL_CONTENT, first, last),
        Requested::Whole | Requested::Unsatisfiable => (StatusCode::OK, 0, size - 1),
    };
    let body = if req.method() == Method::HEAD {
        Body::empty()
    } else {
        Body::from_stream(zip.layout.stream(first, last + 1))
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    head.describe(headers);
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(last - first + 1));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if status == StatusCode::PARTIAL_CONTENT {
        headers.insert(header::CONTENT_RANGE, header_value(&format!("bytes {first}-{last}/{size}")));
    }
    head.set_validators(headers);
    response
}

/// A stored file's bytes as `requested` says (none for a `head_request`), once the dates in
/// `headers` allow (see [`by_date`]; If-None-Match and If-Range were settled by the caller). A
/// small file comes whole from memory (see `small_files`: one `stat` while it is kept); a bigger
/// one is opened once, checked on the open file, and streamed from it a chunk at a time (see
/// `file_body`). Every stored file reaches the client through here, so a Range is answered alike
/// whatever the file's size.
async fn stored_bytes(
    headers: &HeaderMap,
    head_request: bool,
    app: &AppState,
    file: &FileRecord,
    requested: Requested,
    head: &Head,
) -> Result<Response, HttpError> {
    if let Some(status) = by_date(headers, file) {
        let mut response = status.into_response();
        head.set_validators(response.headers_mut());
        return Ok(response);
    }
    let size = file.size;
    let (status, first, len) = match requested {
        Requested::Part { first, last } => (StatusCode::PARTIAL_CONTENT, first, last - first + 1),
        Requested::Whole | Requested::Unsatisfiable => (StatusCode::OK, 0, size),
    };
    let body = if size <= SMALL_FILE {
        let (bytes, mtime) = app.small_files.read(&file.id).map_err(|e| stored_error(file, e))?;
        check_stored(file, bytes.len() as u64, mtime)?;
        let part = if head_request { Bytes::new() } else { bytes.slice(first as usize..(first + len) as usize) };
        Body::new(http_body_util::Full::new(part).map_err(|never| match never {}))
    } else {
        // Opened and checked off the serving threads: an open of a cold path can wait on the disk.
        let path = app.vault.store().path_of(&file.id);
        let opened = tokio::task::spawn_blocking(move || {
            let stored = std::fs::File::open(&path)?;
            let meta = stored.metadata()?;
            Ok::<_, std::io::Error>((stored, meta))
        });
        let (stored, meta) =
            opened.await.map_err(|e| HttpError::Internal(e.to_string()))?.map_err(|e| stored_error(file, e))?;
        check_stored(file, meta.len(), meta.modified().map_err(|e| stored_error(file, e))?)?;
        if head_request { Body::empty() } else { Body::new(FileBody::new(stored, first, len)) }
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    head.describe(headers);
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if status == StatusCode::PARTIAL_CONTENT {
        headers.insert(header::CONTENT_RANGE, header_value(&format!("bytes {first}-{}/{size}", first + len - 1)));
    }
    head.set_validators(headers);
    Ok(response)
}

/// What the dates of a request's preconditions say of a stored file (RFC 9110 13.1.3 and 13.1.4,
/// in the order of 13.2.2): 412 when it changed since an If-Unmodified-Since, 304 when it did not
/// since an If-Modified-Since; `None` to send it. A stored file's date is when it was stored (its
/// Last-Modified); a date that does not parse is ignored, as the RFC asks.
fn by_date(headers: &HeaderMap, file: &FileRecord) -> Option<StatusCode> {
    let modified = store::committed_mtime(file.created_at);
    let date = |name| headers.get(name).and_then(|v: &HeaderValue| httpdate::parse_http_date(v.to_str().ok()?).ok());
    if date(header::IF_UNMODIFIED_SINCE).is_some_and(|since| modified > since) {
        return Some(StatusCode::PRECONDITION_FAILED);
    }
    if date(header::IF_MODIFIED_SINCE).is_some_and(|since| modified <= since) {
        return Some(StatusCode::NOT_MODIFIED);
    }
    None
}

/// The answer in offload mode: every check has passed, and the web server in front sends the
/// bytes, with Range and conditional requests, from the header that names the file. Only links
/// without a limit and public files come here (limited links are streamed by Sharelock, see
/// `serve`); a GET that reaches the last byte is counted when the redirect is issued.
async fn offloaded(
    app: &AppState,
    file: &FileRecord,
    head: &Head,
    counting: Option<Counting>,
    offload: &super::Offload,
) -> Result<Response, HttpError> {
    if let Some(counting) = counting
        && !count_now(app, counting).await?
    {
        return Err(HttpError::Gone("this link has been used up"));
    }
    let (name, value) = match offload {
        // The URI holds only the prefix and the id (lower-case letters and digits): nothing in it
        // needs the percent-escaping nginx applies to X-Accel-Redirect since 1.5.9, whatever the
        // file's name. The name travels in Content-Disposition.
        super::Offload::Nginx { prefix } => ("x-accel-redirect", format!("{prefix}{}", file.id)),
        super::Offload::Sendfile => {
            let path = app.vault.store().path_of(&file.id);
            ("x-sendfile", percent_encoding::utf8_percent_encode(&path.to_string_lossy(), SENDFILE_PATH).to_string())
        }
    };
    let mut response = StatusCode::OK.into_response();
    let headers = response.headers_mut();
    headers.insert(name, HeaderValue::from_str(&value).map_err(|e| HttpError::Internal(e.to_string()))?);
    // No sandbox header here: the web server's internal location adds its own.
    head.describe(headers);
    Ok(response)
}

/// X-Sendfile paths: everything but unreserved characters and `/` is percent-encoded (Apache's
/// mod_xsendfile decodes it, XSendFileUnescape being on by default).
const SENDFILE_PATH: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'/').remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// `response` with its body ended when `grant` is revoked (a revoked link, a rotated secret):
/// the bytes of a download or a preview stop mid-transfer. Revoking also closes `connection`, so
/// bytes already queued for a slow client stop too.
pub(super) fn watched(
    app: &AppState,
    grant: Grant,
    connection: Option<&Arc<ConnectionHandle>>,
    response: Response,
) -> Response {
    let registered = app.transfers.register(grant);
    if let Some(connection) = connection.cloned() {
        registered.transfer.on_abort(move || connection.close());
    }
    response.map(|body| Body::new(Watched::new(body, registered)))
}

/// A stored file keeps the size and modification time it was committed with (to the
/// nanosecond). If either changed, someone edited it behind Sharelock's back: refuse it rather
/// than send wrong bytes.
pub(super) fn check_stored(file: &FileRecord, size: u64, modified: std::time::SystemTime) -> Result<(), HttpError> {
    if store::unchanged(size, modified, file.size, file.created_at) {
        return Ok(());
    }
    tracing::warn!("stored file {} changed behind Sharelock's back", file.id);
    Err(HttpError::Gone("this file is no longer available"))
}

/// A stored file that cannot be read: gone if it is missing, our fault otherwise.
pub(super) fn stored_error(file: &FileRecord, e: std::io::Error) -> HttpError {
    if e.kind() == std::io::ErrorKind::NotFound {
        tracing::warn!("stored file {} is missing from the store", file.id);
        HttpError::Gone("this file is no longer available")
    } else {
        HttpError::Internal(format!("cannot read {}: {e}", file.id))
    }
}

/// Counts a download at once (no last byte to wait for); false when the link's limit is reached.
async fn count_now(app: &AppState, counting: Counting) -> Result<bool, HttpError> {
    match counting {
        Counting::Claim { link_id, claimed, .. } => {
            let won = app.blocking(move |v| v.claim_download(&link_id)).await?;
            claimed.store(won, std::sync::atomic::Ordering::Release);
            Ok(won)
        }
        Counting::Tally { counts, link_id } => {
            counts.count(&link_id);
            Ok(true)
        }
    }
}

fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or(HeaderValue::from_static(""))
}

/// Whether an If-None-Match list names `etag` (weak comparison, as RFC 9110 asks for it).
pub(super) fn etag_matches(list: &HeaderValue, etag: &[u8]) -> bool {
    let Ok(list) = list.to_str() else { return false };
    list.split(',').map(str::trim).any(|tag| tag == "*" || tag.trim_start_matches("W/").as_bytes() == etag)
}

pub(super) fn page(html: String) -> Response {
    let mut response = Html(html).into_response();
    response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(pages::CSP));
    response
}
