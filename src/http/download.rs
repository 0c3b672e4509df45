//! Downloads: through a signed link (`/d/…`), its landing page (`/l/…`), and public files
//! (`/p/…`).
//!
//! Bytes, Range, HEAD and If-Modified-Since come from tower-http's `ServeFile`. It has no
//! entity tags, so If-None-Match and If-Range are decided here before it runs, and it answers
//! several ranges with 416, so a multi-range request is served whole (RFC 9110 lets a server
//! ignore Range).

use std::time::{Duration, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::response::{Html, IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use http_body_util::BodyExt;
use serde::Deserialize;
use tower::ServiceExt;
use tower_http::services::ServeFile;

use super::body::{Counted, Counting};
use super::error::HttpError;
use super::limit::Peer;
use super::{AppState, pages};
use crate::files::FileRecord;
use crate::links::LinkStatus;
use crate::signing::Purpose;
use crate::{names, time};
use axum::Extension;

/// Read size for streaming files: large reads keep the syscall count low on big downloads.
const CHUNK: usize = 256 * 1024;
/// Files up to this size are answered from one read instead of a stream (see [`small_file`]).
const SMALL_FILE: u64 = 64 * 1024;

#[derive(Deserialize)]
pub(super) struct LinkPath {
    link: String,
    sig: String,
    /// The file name at the end of a URL: cosmetic (for `wget` and `curl -O`), never used to
    /// find a file, but it must still be one plain path segment.
    name: Option<String>,
}

/// Refuses a cosmetic name with traversal in it (`..`, `/`, `\`, NUL), even though the file is
/// found by id alone: such a URL was not made by us, and is answered as not found.
fn plain_segment(name: Option<&str>) -> Result<(), HttpError> {
    match name {
        Some(n) if n.is_empty() || n == "." || n == ".." || n.contains(['/', '\\', '\0']) => Err(HttpError::NotFound),
        _ => Ok(()),
    }
}

/// `GET|HEAD /d/{link}/{sig}[/{name}]`: the file itself.
pub(super) async fn link_download(
    State(app): State<AppState>,
    Path(p): Path<LinkPath>,
    req: Request,
) -> Result<Response, HttpError> {
    plain_segment(p.name.as_deref())?;
    let peer = req.extensions().get::<Peer>().copied();
    let (link, file) = resolve(&app, &p, peer, req.headers()).await?;
    let counting = (req.method() == Method::GET).then(|| match link.max_downloads {
        Some(_) => Counting::Claim { vault: app.vault.clone(), link_id: link.id },
        None => Counting::Tally { counts: app.counts.clone(), link_id: link.id },
    });
    serve(&app, req, &file, counting).await
}

/// `GET /l/{link}/{sig}`: the landing page.
pub(super) async fn landing(
    State(app): State<AppState>,
    Path(p): Path<LinkPath>,
    peer: Option<Extension<Peer>>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let (link, file) = resolve(&app, &p, peer.map(|e| e.0), &headers).await?;
    // Relative to /l/{link}/{sig}: keeps working behind a path prefix.
    let href = format!("../../d/{}/{}/{}", link.id, p.sig, names::url_segment(&file.name));
    Ok(page(pages::landing(&file, &link, &href, time::now())))
}

/// Checks the signature first (no database work for forged URLs), then the link's state.
async fn resolve(
    app: &AppState,
    p: &LinkPath,
    peer: Option<Peer>,
    headers: &HeaderMap,
) -> Result<(crate::links::Link, FileRecord), HttpError> {
    if !app.vault.signer().verify(Purpose::Link, &p.link, &p.sig) {
        return Err(app.bad_signature(peer, headers));
    }
    // Read inline, not on the blocking pool: in WAL mode a reader never waits for the write lock,
    // and this primary-key lookup in SQLite's page cache takes microseconds, less than the
    // thread handoff of spawn_blocking costs (measured: BENCHMARKS.md, small GETs).
    let found = app.vault.resolve_link(&p.link)?;
    // A valid signature without a row: the link's file was removed (and its links with it).
    let (link, file) = found.ok_or(HttpError::Gone("this file was removed"))?;
    match link.status(time::now()) {
        LinkStatus::Active => Ok((link, file)),
        LinkStatus::Expired => Err(HttpError::Gone("this link has expired")),
        LinkStatus::Revoked => Err(HttpError::Gone("this link was revoked")),
        LinkStatus::UsedUp => Err(HttpError::Gone("this link has been used up")),
    }
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
    req: Request,
) -> Result<Response, HttpError> {
    plain_segment(p.name.as_deref())?;
    let id = p.file;
    // Only an exact id reaches the database or the store: `..`, encoded slashes, backslashes
    // and NUL can never name another file because the path is built from the id alone.
    if !crate::ids::is_valid(&id) {
        return Err(HttpError::NotFound);
    }
    // Inline for the same reason as in `resolve`.
    let file = app.vault.public_file(&id)?.ok_or(HttpError::NotFound)?;
    serve(&app, req, &file, None).await
}

/// Serves a stored file with all the HTTP semantics; `counting` counts a complete GET.
async fn serve(
    app: &AppState,
    mut req: Request,
    file: &FileRecord,
    counting: Option<Counting>,
) -> Result<Response, HttpError> {
    let etag = file.etag();
    let last_modified = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(file.created_at.max(0) as u64));
    let headers = req.headers_mut();
    // RFC 9110 13.2.2: If-None-Match is evaluated instead of If-Modified-Since when present.
    if let Some(tags) = headers.get(header::IF_NONE_MATCH) {
        if etag_matches(tags, &etag) {
            let mut response = StatusCode::NOT_MODIFIED.into_response();
            set_validators(response.headers_mut(), &etag, &last_modified);
            return Ok(response);
        }
        headers.remove(header::IF_MODIFIED_SINCE);
    }
    // If-Range (RFC 9110 13.1.5): a Range applies only if the validator still matches exactly;
    // otherwise the whole file is sent.
    if let Some(validator) = headers.get(header::IF_RANGE) {
        let current = validator.as_bytes() == etag.as_bytes() || validator.as_bytes() == last_modified.as_bytes();
        if !current {
            headers.remove(header::RANGE);
        }
    }
    if headers.get(header::RANGE).is_some_and(|r| r.as_bytes().contains(&b',')) {
        headers.remove(header::RANGE);
    }
    // No range of an empty file is satisfiable (RFC 9110 14.1.1); ServeFile would answer 206.
    if file.size == 0 && headers.contains_key(header::RANGE) {
        let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
        response.headers_mut().insert(header::CONTENT_RANGE, HeaderValue::from_static("bytes */0"));
        return Ok(response);
    }
    // An empty body is never polled, so there is no last byte to hold back: an empty file's
    // download is counted before its (header-only) response goes out.
    let mut counting = counting;
    if file.size == 0
        && let Some(counting) = counting.take()
        && !count_now(app, counting).await?
    {
        return Err(HttpError::Gone("this link has been used up"));
    }

    if let Some(offload) = &app.config.offload {
        return offloaded(app, req, file, counting, offload).await;
    }
    if file.size <= SMALL_FILE && !req.headers().contains_key(header::IF_UNMODIFIED_SINCE) {
        return small_file(&req, app, file, counting, &etag, &last_modified);
    }

    let mime: mime_guess::Mime = file.content_type.parse().unwrap_or(mime_guess::mime::APPLICATION_OCTET_STREAM);
    let path = app.vault.store().path_of(&file.id);
    // One stat before the stream starts (see `check_stored`).
    let meta = std::fs::metadata(&path).map_err(|e| stored_error(file, e))?;
    check_stored(file, meta.len(), meta.modified().map_err(|e| stored_error(file, e))?)?;
    let response = ServeFile::new_with_mime(path, &mime).with_buf_chunk_size(CHUNK).oneshot(req).await;
    let Ok(mut response) = response;
    if response.status() == StatusCode::NOT_FOUND {
        tracing::warn!("stored file {} is missing from the store", file.id);
        return Err(HttpError::Gone("this file is no longer available"));
    }
    let headers = response.headers_mut();
    set_validators(headers, &etag, &last_modified);
    describe_file(headers, file);
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox"));

    let covers_last_byte = match response.status() {
        StatusCode::OK => true,
        StatusCode::PARTIAL_CONTENT => range_end(response.headers()).is_some_and(|(end, size)| end + 1 == size),
        _ => false,
    };
    let len = content_length(response.headers());
    let response = match (counting, covers_last_byte, len) {
        (Some(counting), true, Some(len)) => response.map(|body| Body::new(Counted::new(body, len, counting))),
        _ => response.map(Body::new),
    };
    Ok(response)
}

/// A small file answered from one read of the whole file. `ServeFile` hands its open, stat and
/// reads to the blocking pool one by one, and for a few kilobytes those thread handoffs cost
/// more than everything else in the request (BENCHMARKS.md); one read from the page cache takes
/// microseconds. Range handling stays the library's: the same `http-range-header` parsing and
/// validation `ServeFile` uses, so both paths answer every Range alike. (If-None-Match and
/// If-Range were settled by the caller; If-Unmodified-Since requests go to `ServeFile`.)
fn small_file(
    req: &Request,
    app: &AppState,
    file: &FileRecord,
    counting: Option<Counting>,
    etag: &str,
    last_modified: &str,
) -> Result<Response, HttpError> {
    let modified = UNIX_EPOCH + Duration::from_secs(file.created_at.max(0) as u64);
    let since =
        req.headers().get(header::IF_MODIFIED_SINCE).and_then(|v| httpdate::parse_http_date(v.to_str().ok()?).ok());
    if since.is_some_and(|since| modified <= since) {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        set_validators(response.headers_mut(), etag, last_modified);
        return Ok(response);
    }
    let (bytes, mtime) = read_small(&app.vault.store().path_of(&file.id)).map_err(|e| stored_error(file, e))?;
    check_stored(file, bytes.len() as u64, mtime)?;
    let bytes = Bytes::from(bytes);
    let size = file.size;
    let range = req.headers().get(header::RANGE).and_then(|v| v.to_str().ok());
    // Which part goes out, and whether it ends with the file's last byte (what counts a download).
    let (status, body, content_range, covers_last_byte) =
        match range.map(|r| http_range_header::parse_range_header(r).and_then(|ranges| ranges.validate(size))) {
            None => (StatusCode::OK, bytes, None, true),
            Some(Ok(ranges)) => {
                let (first, last) = (*ranges[0].start(), *ranges[0].end());
                let part = bytes.slice(first as usize..=last as usize);
                (StatusCode::PARTIAL_CONTENT, part, Some(format!("bytes {first}-{last}/{size}")), last + 1 == size)
            }
            Some(Err(_)) => {
                let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
                response.headers_mut().insert(header::CONTENT_RANGE, header_value(&format!("bytes */{size}")));
                return Ok(response);
            }
        };
    let len = body.len() as u64;
    let body = if req.method() == Method::HEAD { Bytes::new() } else { body };
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    describe_file(headers, file);
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Some(content_range) = content_range {
        headers.insert(header::CONTENT_RANGE, header_value(&content_range));
    }
    set_validators(headers, etag, last_modified);
    let full = http_body_util::Full::new(body).map_err(|never| match never {});
    *response.body_mut() = match counting.filter(|_| covers_last_byte && req.method() == Method::GET) {
        Some(counting) => Body::new(Counted::new(full, len, counting)),
        None => Body::new(full),
    };
    Ok(response)
}

/// The answer in offload mode: every check has passed, and the web server in front sends the
/// bytes, with Range and conditional requests, from the header that names the file. Sharelock
/// no longer sees the bytes, so a download counts when the redirect is issued for a whole-file
/// GET (no Range); at its limit the link answers 410 instead of redirecting.
async fn offloaded(
    app: &AppState,
    req: Request,
    file: &FileRecord,
    counting: Option<Counting>,
    offload: &super::Offload,
) -> Result<Response, HttpError> {
    let whole_file = !req.headers().contains_key(header::RANGE);
    if let Some(counting) = counting.filter(|_| whole_file)
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
    describe_file(headers, file);
    Ok(response)
}

/// X-Sendfile paths: everything but unreserved characters and `/` is percent-encoded (Apache's
/// mod_xsendfile decodes it, XSendFileUnescape being on by default).
const SENDFILE_PATH: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'/').remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// A stored file keeps the size and modification time it was committed with (to the
/// nanosecond). If either changed, someone edited it behind Sharelock's back: refuse it rather
/// than send wrong bytes.
fn check_stored(file: &FileRecord, size: u64, modified: std::time::SystemTime) -> Result<(), HttpError> {
    if size == file.size && modified == UNIX_EPOCH + Duration::from_secs(file.created_at.max(0) as u64) {
        return Ok(());
    }
    tracing::warn!("stored file {} changed behind Sharelock's back", file.id);
    Err(HttpError::Gone("this file is no longer available"))
}

/// A stored file that cannot be read: gone if it is missing, our fault otherwise.
fn stored_error(file: &FileRecord, e: std::io::Error) -> HttpError {
    if e.kind() == std::io::ErrorKind::NotFound {
        tracing::warn!("stored file {} is missing from the store", file.id);
        HttpError::Gone("this file is no longer available")
    } else {
        HttpError::Internal(format!("cannot read {}: {e}", file.id))
    }
}

/// Reads a small stored file whole, with its modification time (an edit behind Sharelock's back
/// changes it).
fn read_small(path: &std::path::Path) -> std::io::Result<(Vec<u8>, std::time::SystemTime)> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let meta = f.metadata()?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    f.read_to_end(&mut bytes)?;
    Ok((bytes, meta.modified()?))
}

/// Counts a download at once (no last byte to wait for); false when the link's limit is reached.
async fn count_now(app: &AppState, counting: Counting) -> Result<bool, HttpError> {
    match counting {
        Counting::Claim { link_id, .. } => app.blocking(move |v| v.claim_download(&link_id)).await,
        Counting::Tally { counts, link_id } => {
            counts.count(&link_id);
            Ok(true)
        }
    }
}

fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or(HeaderValue::from_static(""))
}

/// What every download answer says about the file: its type (by name, never sniffed) and the
/// name to save it under. Paths that send the bytes themselves add `sandbox` too: even a stored
/// HTML file a browser were talked into rendering would run sandboxed.
fn describe_file(headers: &mut HeaderMap, file: &FileRecord) {
    let content_type =
        HeaderValue::from_str(&file.content_type).unwrap_or(HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_TYPE, content_type);
    if let Ok(value) = HeaderValue::from_str(&names::content_disposition(&file.name)) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
}

fn set_validators(headers: &mut HeaderMap, etag: &str, last_modified: &str) {
    if let Ok(v) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(last_modified) {
        headers.insert(header::LAST_MODIFIED, v);
    }
}

/// Whether an If-None-Match list names `etag` (weak comparison, as RFC 9110 asks for it).
fn etag_matches(list: &HeaderValue, etag: &str) -> bool {
    let Ok(list) = list.to_str() else { return false };
    list.split(',').map(str::trim).any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag)
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// `(last, size)` from `Content-Range: bytes first-last/size`.
fn range_end(headers: &HeaderMap) -> Option<(u64, u64)> {
    let value = headers.get(header::CONTENT_RANGE)?.to_str().ok()?;
    let (range, size) = value.strip_prefix("bytes ")?.split_once('/')?;
    let (_, last) = range.split_once('-')?;
    Some((last.parse().ok()?, size.parse().ok()?))
}

pub(super) fn page(html: String) -> Response {
    let mut response = Html(html).into_response();
    response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(pages::CSP));
    response
}
