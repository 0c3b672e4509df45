//! Previews and thumbnails of a link's files, for its landing page: `/v/{link}/{sig}/{file}` and
//! `/t/{link}/{sig}/{file}` (what a file's preview is and how much it shows: `crate::previews`).
//!
//! Both take the checks of a download through the same link (signature, active link, password)
//! and answer 404 when the link's previews are off. Neither is a download: nothing is counted,
//! no byte budget is drawn on, and nothing goes into the access history (the landing page's
//! view already is), which is why a preview shows at most `previews::PREVIEW_BYTES` of a file.
//! Every answer is sandboxed (`Content-Security-Policy: sandbox`) and never sniffed (`nosniff`),
//! so nothing a file holds can run as this site's page.

use std::io::SeekFrom;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::connection::ConnectionHandle;
use super::download::{check_stored, etag_matches, stored_error, watched};
use super::error::HttpError;
use super::history::Client;
use super::limit::Peer;
use super::range::Requested;
use super::signed::SignedLink;
use super::transfers::Grant;
use super::{AppState, pages};
use crate::files::FileRecord;
use crate::links::Link;
use crate::previews::{Kind, Preview};
use crate::thumbnails::Thumbnail;
use crate::{names, urls};

/// How long a browser may keep a thumbnail: it changes only with the file, and the ETag
/// revalidates it after that.
const THUMBNAIL_MAX_AGE: &str = "private, max-age=3600";

/// The file id at the end of `/v/…` and `/t/…`.
#[derive(Deserialize)]
pub(super) struct FilePath {
    file: String,
}

/// `GET|HEAD /v/{link}/{sig}/{file}`: the first bytes of the file, up to its preview's length,
/// presented as the whole resource (so a player plays the beginning of a cut video), with Range.
pub(super) async fn preview(
    State(app): State<AppState>,
    SignedLink { link, file, sig }: SignedLink,
    Path(FilePath { file: file_id }): Path<FilePath>,
    client: Client,
    request: Parts,
) -> Result<Response, HttpError> {
    let Parts { method, headers, extensions, .. } = request;
    let peer = extensions.get::<Peer>().copied();
    let file = link_file(&app, &link, file, &file_id, &headers, peer, &client).await?;
    // The stored file's metadata and its first bytes, in one trip off the async workers.
    let (record, path) = (file.clone(), app.vault.store().path_of(&file.id));
    let (meta, preview) = app.blocking(move |v| Ok((std::fs::metadata(&path), v.preview(&record)))).await?;
    // As a download does: a file missing or changed behind Sharelock's back is gone, never
    // shown wrong.
    let meta = meta.map_err(|e| stored_error(&file, e))?;
    check_stored(&file, meta.len(), meta.modified().map_err(|e| stored_error(&file, e))?)?;
    let Some(preview) = preview? else {
        return Err(HttpError::UnsupportedType("this file has no preview: download it".into()));
    };
    let response = serve(&app, &method, &headers, &file, preview).await?;
    // Revoking the link, or rotating the secret, stops a preview in flight as it does a download.
    let grant = Grant::Link { id: link.id.clone(), sig };
    Ok(watched(&app, grant, extensions.get::<Arc<ConnectionHandle>>(), response))
}

/// `GET|HEAD /t/{link}/{sig}/{file}`: the file's thumbnail, 404 when it has none.
pub(super) async fn thumbnail(
    State(app): State<AppState>,
    SignedLink { link, file, .. }: SignedLink,
    Path(FilePath { file: file_id }): Path<FilePath>,
    client: Client,
    headers: HeaderMap,
    peer: Option<axum::Extension<Peer>>,
) -> Result<Response, HttpError> {
    let file = link_file(&app, &link, file, &file_id, &headers, peer.map(|p| p.0), &client).await?;
    let made = app.blocking(move |v| crate::thumbnails::thumbnail_of(v, &file)).await?;
    let mut response = thumbnail_answer(made.ok_or(HttpError::NotFound)?, &headers);
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(THUMBNAIL_MAX_AGE));
    sandboxed(headers);
    Ok(response)
}

/// A thumbnail as the answer to a request with `request`'s headers: 304 while the client's ETag
/// is still its own, else its bytes; typed and validated either way. The landing page's `/t/`
/// and the API's `/files/{id}/thumbnail` both answer with it; a HEAD gets the same answer
/// without its body (axum drops the body and keeps its length).
pub(super) fn thumbnail_answer(thumbnail: Thumbnail, request: &HeaderMap) -> Response {
    let fresh = request.get(header::IF_NONE_MATCH).is_some_and(|tags| etag_matches(tags, thumbnail.etag.as_bytes()));
    let mut response =
        if fresh { StatusCode::NOT_MODIFIED.into_response() } else { Body::from(thumbnail.bytes).into_response() };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(thumbnail.content_type));
    // A SHA-256 in hex and a number, quoted (`thumbnails::thumbnail_of`): always a valid value.
    if let Ok(etag) = HeaderValue::try_from(thumbnail.etag) {
        headers.insert(header::ETAG, etag);
    }
    response
}

/// The file `file_id` of `link` (whose first file is `first`), after the checks a download of it
/// takes: previews on, the password given, the file one of the link's.
async fn link_file(
    app: &AppState,
    link: &Link,
    first: std::sync::Arc<FileRecord>,
    file_id: &str,
    headers: &HeaderMap,
    peer: Option<Peer>,
    client: &Client,
) -> Result<FileRecord, HttpError> {
    if !link.preview || !crate::ids::is_valid(file_id) {
        return Err(HttpError::NotFound);
    }
    super::unlock::admit(app, link, headers, peer, client).await?;
    if !link.is_share() {
        return if first.id == file_id { Ok(std::sync::Arc::unwrap_or_clone(first)) } else { Err(HttpError::NotFound) };
    }
    let id = link.id.clone();
    let files = app.blocking(move |v| v.share_files(&id)).await?;
    files.into_iter().find(|f| f.id == file_id).ok_or(HttpError::NotFound)
}

/// The preview's bytes: the first `preview.len` of the file, as a resource of that length,
/// Range answered within it (a range past it is 416).
async fn serve(
    app: &AppState,
    method: &Method,
    request: &HeaderMap,
    file: &FileRecord,
    preview: Preview,
) -> Result<Response, HttpError> {
    let len = preview.len;
    // Text is short and shown whole; media is played with Range; images and PDFs take it too.
    let requested = if preview.kind == Kind::Text { Requested::Whole } else { Requested::of(request, len) };
    let (status, first, last) = match requested {
        Requested::Whole => (StatusCode::OK, 0, len - 1),
        Requested::Part { first, last } => (StatusCode::PARTIAL_CONTENT, first, last),
        Requested::Unsatisfiable => {
            let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            response.headers_mut().insert(header::CONTENT_RANGE, header_value(&format!("bytes */{len}")));
            sandboxed(response.headers_mut());
            return Ok(response);
        }
    };
    let count = last - first + 1;
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        let path = app.vault.store().path_of(&file.id);
        let mut stored = tokio::fs::File::open(path).await.map_err(|e| stored_error(file, e))?;
        stored.seek(SeekFrom::Start(first)).await.map_err(|e| HttpError::Internal(e.to_string()))?;
        Body::from_stream(tokio_util::io::ReaderStream::new(stored.take(count)))
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(preview.content_type));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    if preview.kind != Kind::Text {
        headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    }
    if status == StatusCode::PARTIAL_CONTENT {
        headers.insert(header::CONTENT_RANGE, header_value(&format!("bytes {first}-{last}/{len}")));
    }
    if let Ok(value) = HeaderValue::from_str(&names::inline_disposition(&file.name)) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    if !preview.cut {
        // The file's own validator, only when the preview is the file: a cut one is other bytes.
        if let Ok(value) = HeaderValue::from_str(&file.etag()) {
            headers.insert(header::ETAG, value);
        }
    }
    sandboxed(headers);
    Ok(response)
}

/// What every preview and thumbnail answer says: run nothing, sniff nothing.
fn sandboxed(headers: &mut HeaderMap) {
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
}

fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or(HeaderValue::from_static(""))
}

/// How many of a share's files get a thumbnail and a preview link on its landing page: each
/// costs a read of the file's first bytes per page view, and a list longer than this is read
/// for its names anyway.
const LISTED_EXTRAS: usize = 200;

/// What a landing page shows of each of `files` besides its download (see `pages::FileExtras`):
/// nothing when the link's previews are off or a crawler asks (it gets today's page).
pub(super) async fn landing_extras(
    app: &AppState,
    link: &Link,
    sig: &str,
    files: &[FileRecord],
    headers: &HeaderMap,
) -> Result<Vec<pages::FileExtras>, HttpError> {
    if !link.preview || super::download::is_link_preview(headers) {
        return Ok(Vec::new());
    }
    let listed: Vec<FileRecord> = files.iter().take(LISTED_EXTRAS).cloned().collect();
    let (link_id, sig) = (link.id.clone(), sig.to_string());
    app.blocking(move |v| {
        Ok(listed
            .iter()
            .map(|f| {
                // A file that cannot be read has no preview; its download says why.
                let preview = v.preview(f).unwrap_or_else(|e| {
                    tracing::warn!("no preview of {}: {e}", f.id);
                    None
                });
                // A raster image too large for a preview still gets its thumbnail.
                let thumbnail = match preview.map(|p| p.kind) {
                    Some(Kind::Image) | None if f.content_type.starts_with("image/") => {
                        let made = crate::thumbnails::thumbnail_of(v, f).unwrap_or_else(|e| {
                            tracing::warn!("no thumbnail of {}: {e}", f.id);
                            None
                        });
                        made.map(|_| urls::thumbnail_from_landing(&link_id, &sig, &f.id))
                    }
                    _ => None,
                };
                let preview = preview.map(|p| pages::PreviewLink {
                    kind: p.kind,
                    href: urls::preview_from_landing(&link_id, &sig, &f.id),
                    cut: p.cut,
                });
                pages::FileExtras { thumbnail, preview }
            })
            .collect::<Vec<_>>())
    })
    .await
}
