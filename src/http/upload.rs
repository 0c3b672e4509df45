//! Uploads into slots: the upload page (`GET /u/{slot}`), multipart forms (`POST /u/{slot}`)
//! and raw bodies (`PUT /u/{slot}/{name}`, so `curl -T` works).
//!
//! A file sent from a folder keeps its place in it: a PUT's path after the slot
//! (`PUT /u/{slot}/sub/dir/name`), a form part's file name with `/` between its parts (what
//! browsers send for a folder chosen with `webkitdirectory`, and what the upload page sends for
//! a dropped one). The path is checked before the file claims its place (`names::ReceivedPath`):
//! one that could escape its folder refuses the whole request with 400.
//!
//! Each file claims its place in the slot before its first byte is stored; limits are checked
//! on every chunk as it arrives, so a file that crosses one is refused at once and its temp file
//! deleted. A request's files are stored all together or not at all. A form is read within
//! bounds on every part of it, not only on its files (see [`form`]).

pub(super) mod form;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};
use http::{HeaderMap, StatusCode, Uri, header};
use serde::Serialize;
use smol_str::SmolStr;

use super::download::page;
use super::error::HttpError;
use super::history::Client;
use super::signed::SignedSlot;
use super::{AppState, off_workers, pages};

use crate::files::FileRecord;
use crate::history::Happened;
use crate::names::ReceivedPath;
use crate::slots::SlotStatus;
use crate::store::StagedFile;
use crate::vault::{FileLimit, Refusal, Upload, Uploader};
use crate::{names, time};

const MAX_UPLOADER_NAME: usize = 200;
const MAX_MESSAGE: usize = 2000;
/// Text fields are limited in characters; UTF-8 takes up to four bytes for one.
const MAX_UTF8: usize = 4;

#[derive(Serialize)]
struct StoredFiles {
    files: Vec<StoredFile>,
}

#[derive(Serialize)]
struct StoredFile {
    id: String,
    name: String,
    size: u64,
    sha256: String,
    content_type: String,
    /// `sub/dir/name` for a file sent from a folder, else null.
    path: Option<String>,
}

impl From<FileRecord> for StoredFile {
    fn from(f: FileRecord) -> Self {
        StoredFile {
            id: f.id,
            name: f.name,
            size: f.size,
            sha256: f.sha256,
            content_type: f.content_type,
            path: f.path,
        }
    }
}

/// `GET /u/{slot}?sig=…`: the upload page.
pub(super) async fn page_for_slot(State(app): State<AppState>, slot: SignedSlot) -> Result<Response, HttpError> {
    let id = slot.id.clone();
    let record = app.blocking(move |v| v.slot_record(&id)).await?.ok_or(Refusal::Gone)?;
    let now = time::now();
    match record.status(now) {
        SlotStatus::Active => {}
        other => return Err(Refusal::of_status(other).into()),
    }
    Ok(page(pages::upload(&record, &format!("?sig={}", slot.sig), now)))
}

/// Starts an upload into `slot_id` (see `vault::Upload`), off the async workers.
async fn begin(app: &AppState, slot_id: &str) -> Result<Upload, HttpError> {
    let (vault, id) = (app.vault.clone(), slot_id.to_string());
    off_workers(move || vault.begin_upload(&id, time::now())).await
}

/// Runs one blocking step of `upload` off the async workers, and hands the upload back. If the
/// step fails, the upload is dropped with it (its claims are given back); if the request is
/// dropped meanwhile, the upload goes when the step ends.
async fn step<T: Send + 'static>(
    mut upload: Upload,
    f: impl FnOnce(&mut Upload) -> crate::Result<T> + Send + 'static,
) -> Result<(Upload, T), HttpError> {
    off_workers(move || f(&mut upload).map(|t| (upload, t))).await
}

/// Streams `body` into a staged file, enforcing `limit` on every chunk.
pub(super) async fn receive<S>(app: &AppState, mut body: S, limit: &FileLimit) -> Result<StagedFile, HttpError>
where
    S: Stream<Item = Result<Bytes, HttpError>> + Unpin,
{
    let mut incoming = app.vault.store().incoming().map_err(io_error)?;
    let started = std::time::Instant::now();
    loop {
        let next =
            tokio::time::timeout(app.config.body_idle_timeout, body.next()).await.map_err(|_| HttpError::Timeout)?;
        match next {
            None => break,
            Some(Err(e)) => return Err(e),
            Some(Ok(chunk)) => {
                if incoming.size() + chunk.len() as u64 > limit.max {
                    return Err(limit.refusal().into());
                }
                incoming.write(&chunk).await.map_err(io_error)?;
            }
        }
        // A trickle (a byte now and then, each just inside the idle timeout) would hold the
        // connection for ever: past the grace period, the average rate must keep up.
        let elapsed = started.elapsed();
        if elapsed > app.config.upload_rate_grace
            && (incoming.size() as f64) < app.config.upload_min_rate as f64 * elapsed.as_secs_f64()
        {
            return Err(HttpError::TooSlow);
        }
    }
    incoming.finish().await.map_err(io_error)
}

pub(super) fn io_error(e: std::io::Error) -> HttpError {
    if crate::error::is_disk_full(&e) { HttpError::StorageFull } else { HttpError::Internal(format!("store: {e}")) }
}

/// Stores the upload's files, all or none.
async fn commit(upload: Upload, uploader: Uploader) -> Result<Vec<FileRecord>, HttpError> {
    off_workers(move || upload.commit(&uploader, time::now())).await
}

fn created(files: Vec<FileRecord>, html: bool) -> Response {
    if html {
        let mut response = page(pages::received(&files));
        *response.status_mut() = StatusCode::CREATED;
        response
    } else {
        (StatusCode::CREATED, Json(StoredFiles { files: files.into_iter().map(StoredFile::from).collect() }))
            .into_response()
    }
}

/// `PUT /u/{slot}/{name}?sig=…` (or `/u/{slot}/sub/dir/name`): one file, the raw body.
pub(super) async fn put(
    State(app): State<AppState>,
    slot: SignedSlot,
    client: Client,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, HttpError> {
    let slot_id = slot.id.clone();
    // The path as sent, still percent-encoded: split on `/` before anything is decoded, so an
    // encoded `/` stays inside its part (the `{*name}` capture would come decoded).
    let raw = uri.path().splitn(4, '/').nth(3).unwrap_or_default();
    let path = ReceivedPath::from_url(raw);
    let shown = match &path {
        Ok(p) => p.path().unwrap_or_else(|| p.name().to_string()),
        Err(_) => names::sanitize(&percent_encoding::percent_decode_str(raw).decode_utf8_lossy()),
    };
    let received = match path {
        Ok(path) => receive_put(&app, slot, path, headers, body).await,
        Err(bad) => Err(Refusal::from(bad).into()),
    };
    record(&app, &client, &slot_id, Some(shown), &received);
    Ok(created(received?, false))
}

/// Records an upload in the access history: each file received, or the refusal.
fn record(
    app: &AppState,
    client: &Client,
    slot_id: &str,
    name: Option<String>,
    received: &Result<Vec<FileRecord>, HttpError>,
) {
    if !app.history.enabled() {
        return;
    }
    let slot_id = SmolStr::new(slot_id);
    match received {
        Ok(files) => {
            for f in files {
                let what = Happened::UploadReceived {
                    slot_id: slot_id.clone(),
                    file_id: f.id.clone(),
                    name: f.name.clone(),
                    bytes: f.size,
                };
                client.record(app, what);
            }
        }
        Err(e) => {
            let (status, reason) = e.summary();
            client.record(app, Happened::UploadRefused { slot_id, name, status, reason });
        }
    }
}

async fn receive_put(
    app: &AppState,
    slot: SignedSlot,
    path: ReceivedPath,
    headers: HeaderMap,
    body: Body,
) -> Result<Vec<FileRecord>, HttpError> {
    let app = app.clone();
    let upload = begin(&app, &slot.id).await?;
    let claimed_name = path.name().to_string();
    let (mut upload, limit) = step(upload, move |u| u.claim(&claimed_name, time::now())).await?;
    // A declared length over the limit is refused before reading a byte.
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit.max) {
        return Err(limit.refusal().into());
    }
    let body = body.into_data_stream().map_err(|e| HttpError::BadRequest(format!("the upload was interrupted: {e}")));
    let staged = receive(&app, body, &limit).await?;
    upload.accept(path, staged)?;
    commit(upload, Uploader::default()).await
}

/// `POST /u/{slot}?sig=…`: a multipart form with one or more `file` fields (each part's file
/// name may be a path, `sub/dir/name`) and optional `name` and `message` fields.
pub(super) async fn post(
    State(app): State<AppState>,
    slot: SignedSlot,
    client: Client,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, HttpError> {
    let wants_html = super::accepts_html(&headers);
    let slot_id = slot.id.clone();
    let received = receive_form(&app, slot, headers, body).await;
    record(&app, &client, &slot_id, None, &received);
    Ok(created(received?, wants_html))
}

async fn receive_form(
    app: &AppState,
    slot: SignedSlot,
    headers: HeaderMap,
    body: Body,
) -> Result<Vec<FileRecord>, HttpError> {
    let app = app.clone();
    let boundary = form::boundary(&headers)?;
    let mut upload = begin(&app, &slot.id).await?;
    // Every byte of the form counts against what the slot can still take.
    let budget = form::budget(upload.slot());
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|len| len > budget) {
        return Err(form::error(multer::Error::StreamSizeExceeded { limit: budget }));
    }
    let text_limits = [("name", (MAX_UPLOADER_NAME * MAX_UTF8) as u64), ("message", (MAX_MESSAGE * MAX_UTF8) as u64)];
    // Unknown fields are read and dropped, within the same limits as a message.
    let constraints = form::constraints(upload.slot(), &text_limits, (MAX_MESSAGE * MAX_UTF8) as u64);
    let mut multipart = multer::Multipart::with_constraints(
        form::Framing::new(body.into_data_stream(), &boundary),
        boundary,
        constraints,
    );
    let mut uploader = Uploader::default();
    loop {
        let next = tokio::time::timeout(app.config.body_idle_timeout, multipart.next_field())
            .await
            .map_err(|_| HttpError::Timeout)?;
        let field = next.map_err(form::error)?;
        let Some(field) = field else { break };
        match field.name() {
            Some("name") => uploader.name = text_field(&app, field, MAX_UPLOADER_NAME).await?,
            Some("message") => uploader.message = text_field(&app, field, MAX_MESSAGE).await?,
            Some("file") => {
                let raw_name = form_file_name(field.file_name().unwrap_or_default());
                let path = ReceivedPath::parse(&raw_name).map_err(Refusal::from)?;
                let claimed_name = path.name().to_string();
                let (claimed, limit) = step(upload, move |u| u.claim(&claimed_name, time::now())).await?;
                upload = claimed;
                let staged = receive(&app, field.map_err(form::error), &limit).await?;
                // A browser sends an empty, nameless part when no file was chosen.
                if raw_name.is_empty() && staged.size == 0 {
                    upload = step(upload, Upload::give_back_last).await?.0;
                    continue;
                }
                upload.accept(path, staged)?;
            }
            _ => {
                text_field(&app, field, MAX_MESSAGE).await?;
            }
        }
    }
    if upload.files() == 0 {
        return Err(HttpError::BadRequest("no file in the request: send one or more `file` fields".into()));
    }
    commit(upload, uploader).await
}

/// Browsers (and curl) write `"`, CR and LF in a multipart file name as `%22`, `%0D` and `%0A`
/// (WHATWG HTML, "multipart/form-data encoding algorithm"); nothing else is escaped, so only
/// those three are decoded.
fn form_file_name(raw: &str) -> String {
    raw.replace("%22", "\"").replace("%0D", "\r").replace("%0A", "\n")
}

/// A text field of at most `max` characters (multer bounds its bytes while they arrive).
async fn text_field(app: &AppState, mut field: multer::Field<'_>, max: usize) -> Result<Option<String>, HttpError> {
    let mut bytes = Vec::new();
    loop {
        let next =
            tokio::time::timeout(app.config.body_idle_timeout, field.chunk()).await.map_err(|_| HttpError::Timeout)?;
        match next.map_err(form::error)? {
            None => break,
            Some(chunk) => bytes.extend_from_slice(&chunk),
        }
    }
    let text = String::from_utf8(bytes).map_err(|_| HttpError::BadRequest("form fields must be UTF-8 text".into()))?;
    let text: String = text.chars().filter(|c| !c.is_control() || *c == '\n').collect::<String>().trim().to_string();
    if text.chars().count() > max {
        return Err(HttpError::TooLarge(format!("a form field may have at most {max} characters")));
    }
    Ok((!text.is_empty()).then_some(text))
}
