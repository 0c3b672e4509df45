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
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde::Deserialize;
use tower::ServiceExt;
use tower_http::services::ServeFile;

use super::body::Counted;
use super::error::HttpError;
use super::{AppState, pages};
use crate::files::FileRecord;
use crate::links::LinkStatus;
use crate::signing::Purpose;
use crate::{names, time};

/// Read size for streaming files: large reads keep the syscall count low on big downloads.
const CHUNK: usize = 256 * 1024;

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
    let (link, file) = resolve(&app, &p).await?;
    let counts = req.method() == Method::GET;
    serve(&app, req, &file, counts.then_some(link.id)).await
}

/// `GET /l/{link}/{sig}`: the landing page.
pub(super) async fn landing(State(app): State<AppState>, Path(p): Path<LinkPath>) -> Result<Response, HttpError> {
    let (link, file) = resolve(&app, &p).await?;
    // Relative to /l/{link}/{sig}: keeps working behind a path prefix.
    let href = format!("../../d/{}/{}/{}", link.id, p.sig, names::url_segment(&file.name));
    Ok(page(pages::landing(&file, &link, &href, time::now())))
}

/// Checks the signature first (no database work for forged URLs), then the link's state.
async fn resolve(app: &AppState, p: &LinkPath) -> Result<(crate::links::Link, FileRecord), HttpError> {
    if !app.vault.signer().verify(Purpose::Link, &p.link, &p.sig) {
        return Err(HttpError::BadSignature);
    }
    let id = p.link.clone();
    let found = app.blocking(move |v| v.resolve_link(&id)).await?;
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
    let file = app.blocking(move |v| v.public_file(&id)).await?.ok_or(HttpError::NotFound)?;
    serve(&app, req, &file, None).await
}

/// Serves a stored file with all the HTTP semantics; `count_for` is the link whose download
/// count a complete GET claims.
async fn serve(
    app: &AppState,
    mut req: Request,
    file: &FileRecord,
    count_for: Option<String>,
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
    // download is claimed before its (header-only) response goes out.
    let mut count_for = count_for;
    if file.size == 0
        && let Some(link_id) = count_for.take()
        && !app.blocking(move |v| v.claim_download(&link_id)).await?
    {
        return Err(HttpError::Gone("this link has been used up"));
    }

    if let Some(offload) = &app.config.offload {
        return offloaded(app, req, file, count_for, offload).await;
    }

    let mime: mime_guess::Mime = file.content_type.parse().unwrap_or(mime_guess::mime::APPLICATION_OCTET_STREAM);
    let path = app.vault.store().path_of(&file.id);
    let response = ServeFile::new_with_mime(path, &mime).with_buf_chunk_size(CHUNK).oneshot(req).await;
    let Ok(mut response) = response;
    if response.status() == StatusCode::NOT_FOUND {
        tracing::warn!("stored file {} is missing from the store", file.id);
        return Err(HttpError::Gone("this file is no longer available"));
    }
    let headers = response.headers_mut();
    set_validators(headers, &etag, &last_modified);
    if let Ok(value) = HeaderValue::from_str(&names::content_disposition(&file.name)) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // Even if a browser were talked into rendering a stored HTML file, it would run sandboxed.
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox"));

    let covers_last_byte = match response.status() {
        StatusCode::OK => true,
        StatusCode::PARTIAL_CONTENT => range_end(response.headers()).is_some_and(|(end, size)| end + 1 == size),
        _ => false,
    };
    let len = content_length(response.headers());
    let response = match (count_for, covers_last_byte, len) {
        (Some(link_id), true, Some(len)) => {
            let vault = app.vault.clone();
            response.map(|body| Body::new(Counted::new(body, len, vault, link_id)))
        }
        _ => response.map(Body::new),
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
    count_for: Option<String>,
    offload: &super::Offload,
) -> Result<Response, HttpError> {
    let whole_file = !req.headers().contains_key(header::RANGE);
    if let Some(link_id) = count_for.filter(|_| whole_file)
        && !app.blocking(move |v| v.claim_download(&link_id)).await?
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
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&file.content_type).unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    if let Ok(value) = HeaderValue::from_str(&names::content_disposition(&file.name)) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    Ok(response)
}

/// X-Sendfile paths: everything but unreserved characters and `/` is percent-encoded (Apache's
/// mod_xsendfile decodes it, XSendFileUnescape being on by default).
const SENDFILE_PATH: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'/').remove(b'-').remove(b'_').remove(b'.').remove(b'~');

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
