//! Uploads into slots: the upload page (`GET /u/{slot}`), multipart forms (`POST /u/{slot}`)
//! and raw bodies (`PUT /u/{slot}/{name}`, so `curl -T` works).
//!
//! Each file claims its place in the slot before its first byte is stored; limits are checked
//! on every chunk as it arrives, so a file that crosses one is refused at once and its temp file
//! deleted. A request's files are stored all together or not at all. A form is read within
//! bounds on every part of it, not only on its files (see [`form`]).

mod form;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};
use http::{HeaderMap, StatusCode, header};
use serde::{Deserialize, Serialize};

use super::download::page;
use super::error::HttpError;
use super::limit::Peer;
use super::{AppState, pages};
use crate::files::FileRecord;
use crate::signing::Purpose;
use crate::slots::{self, Slot, SlotStatus};
use crate::store::StagedFile;
use crate::vault::{Received, Uploader};
use crate::{Vault, names, time};

const MAX_UPLOADER_NAME: usize = 200;
const MAX_MESSAGE: usize = 2000;
/// Text fields are limited in characters; UTF-8 takes up to four bytes for one.
const MAX_UTF8: usize = 4;

#[derive(Deserialize)]
pub(super) struct SigQuery {
    sig: String,
}

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
}

impl From<FileRecord> for StoredFile {
    fn from(f: FileRecord) -> Self {
        StoredFile { id: f.id, name: f.name, size: f.size, sha256: f.sha256, content_type: f.content_type }
    }
}

type SigResult = Result<Query<SigQuery>, axum::extract::rejection::QueryRejection>;

fn verify(
    app: &AppState,
    slot_id: &str,
    query: &SigResult,
    peer: Option<Extension<Peer>>,
    headers: &HeaderMap,
) -> Result<(), HttpError> {
    match query {
        Ok(q) if app.vault.signer().verify(Purpose::Slot, slot_id, &q.sig) => Ok(()),
        _ => Err(app.bad_signature(peer.map(|e| e.0), headers)),
    }
}

fn refusal(status: SlotStatus) -> HttpError {
    match status {
        SlotStatus::Expired => HttpError::Gone("this upload link has expired"),
        SlotStatus::Closed => HttpError::Gone("this upload link was closed"),
        SlotStatus::Full => HttpError::Gone("this upload link has received all the files it accepts"),
        SlotStatus::Active => HttpError::Internal("an active slot refused a claim".into()),
    }
}

/// `GET /u/{slot}?sig=…`: the upload page.
pub(super) async fn page_for_slot(
    State(app): State<AppState>,
    Path(slot_id): Path<String>,
    query: SigResult,
    peer: Option<Extension<Peer>>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    verify(&app, &slot_id, &query, peer, &headers)?;
    let id = slot_id.clone();
    let slot =
        app.blocking(move |v| v.slot_record(&id)).await?.ok_or(HttpError::Gone("this upload link no longer exists"))?;
    let now = time::now();
    match slot.status(now) {
        SlotStatus::Active => {}
        other => return Err(refusal(other)),
    }
    let sig = query.map(|q| q.0.sig).unwrap_or_default();
    Ok(page(pages::upload(&slot, &format!("?sig={sig}"), now)))
}

/// Gives back the slot claims of an upload that did not finish, whatever way it ended.
struct Claims {
    vault: Arc<Vault>,
    slot_id: String,
    count: usize,
}

impl Claims {
    fn new(vault: Arc<Vault>, slot_id: &str) -> Claims {
        Claims { vault, slot_id: slot_id.to_string(), count: 0 }
    }

    /// Claims one more file; the slot as it is now, for its limits.
    async fn claim(&mut self, app: &AppState) -> Result<Slot, HttpError> {
        let id = self.slot_id.clone();
        let claimed = app.blocking(move |v| v.claim_slot_file(&id, time::now())).await.map_err(|e| match e {
            HttpError::NotFound => HttpError::Gone("this upload link no longer exists"),
            other => other,
        })?;
        match claimed {
            Ok(slot) => {
                self.count += 1;
                Ok(slot)
            }
            Err(SlotStatus::Full) if self.count > 0 => {
                Err(HttpError::TooLarge(format!("too many files: this upload link accepts {} more", self.count)))
            }
            Err(status) => Err(refusal(status)),
        }
    }

    /// Gives back the last claim at once (its part turned out to hold no file).
    async fn give_back_one(&mut self, app: &AppState) -> Result<(), HttpError> {
        self.count -= 1;
        let id = self.slot_id.clone();
        app.blocking(move |v| v.release_slot_files(&id, 1)).await
    }

    fn keep(mut self) {
        self.count = 0;
    }
}

impl Drop for Claims {
    fn drop(&mut self) {
        if self.count > 0 {
            let (vault, id, count) = (self.vault.clone(), self.slot_id.clone(), self.count);
            tokio::task::spawn_blocking(move || {
                if let Err(e) = vault.release_slot_files(&id, count) {
                    tracing::error!("cannot release {count} claim(s) of slot {id}: {e}");
                }
            });
        }
    }
}

/// Limits for the file being received.
struct Limits {
    /// Largest this file may be.
    max: u64,
    /// Which limit `max` is, for the message.
    what: String,
}

fn limits(slot: &Slot, already: u64) -> Limits {
    let per_file = Limits {
        max: slot.max_size,
        what: format!("files may be at most {}", crate::units::format_size(slot.max_size)),
    };
    match slot.total_left() {
        Some(left) if left.saturating_sub(already) < slot.max_size => Limits {
            max: left.saturating_sub(already),
            what: format!(
                "this upload link has {} of space left",
                crate::units::format_size(left.saturating_sub(already))
            ),
        },
        _ => per_file,
    }
}

/// Streams `body` into a staged file, enforcing `limits` on every chunk.
async fn receive<S>(app: &AppState, mut body: S, limits: &Limits) -> Result<StagedFile, HttpError>
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
                if incoming.size() + chunk.len() as u64 > limits.max {
                    return Err(HttpError::TooLarge(format!("too large: {}", limits.what)));
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

fn io_error(e: std::io::Error) -> HttpError {
    if crate::error::is_disk_full(&e) { HttpError::StorageFull } else { HttpError::Internal(format!("store: {e}")) }
}

fn check_name(slot: &Slot, name: &str) -> Result<(), HttpError> {
    if let Some(accept) = &slot.accept {
        let mime = mime_guess::from_path(name).first_or_octet_stream();
        if !accept.accepts_name(name, mime.essence_str()) {
            return Err(HttpError::UnsupportedType(format!(
                "this upload link accepts only {}",
                accept.entries().join(", ")
            )));
        }
    }
    Ok(())
}

fn check_content(slot: &Slot, name: &str, staged: &StagedFile) -> Result<(), HttpError> {
    let Some(accept) = &slot.accept else { return Ok(()) };
    let sniffed = slots::sniff(&staged.head);
    if accept.accepts_content(name, sniffed) {
        return Ok(());
    }
    Err(HttpError::UnsupportedType(match sniffed {
        Some((mime, _)) => {
            format!("the file's contents are {mime}, not of an accepted type ({})", accept.entries().join(", "))
        }
        None => {
            let ext = name.rsplit_once('.').map(|(_, ext)| ext.to_ascii_lowercase()).unwrap_or_default();
            format!("the file's contents are not what its name says: they lack the .{ext} signature")
        }
    }))
}

async fn store(
    app: &AppState,
    slot_id: &str,
    received: Vec<Received>,
    uploader: Uploader,
) -> Result<Vec<FileRecord>, HttpError> {
    let id = slot_id.to_string();
    let stored = app.blocking(move |v| v.store_received(&id, received, &uploader, time::now())).await?;
    stored.ok_or_else(|| HttpError::TooLarge("too large: this upload link's total size limit would be exceeded".into()))
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

/// `PUT /u/{slot}/{name}?sig=…`: one file, the raw body.
pub(super) async fn put(
    State(app): State<AppState>,
    Path((slot_id, raw_name)): Path<(String, String)>,
    query: SigResult,
    peer: Option<Extension<Peer>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, HttpError> {
    verify(&app, &slot_id, &query, peer, &headers)?;
    let name = names::sanitize(&raw_name);
    let _lock = app.writer_lock().await?;
    let mut claims = Claims::new(app.vault.clone(), &slot_id);
    let slot = claims.claim(&app).await?;
    check_name(&slot, &name)?;
    let limits = limits(&slot, 0);
    // A declared length over the limit is refused before reading a byte.
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limits.max) {
        return Err(HttpError::TooLarge(format!("too large: {}", limits.what)));
    }
    let body = body.into_data_stream().map_err(|e| HttpError::BadRequest(format!("the upload was interrupted: {e}")));
    let staged = receive(&app, body, &limits).await?;
    check_content(&slot, &name, &staged)?;
    let files = store(&app, &slot_id, vec![Received { staged, name }], Uploader::default()).await?;
    claims.keep();
    Ok(created(files, false))
}

/// `POST /u/{slot}?sig=…`: a multipart form with one or more `file` fields and optional
/// `name` and `message` fields.
pub(super) async fn post(
    State(app): State<AppState>,
    Path(slot_id): Path<String>,
    query: SigResult,
    peer: Option<Extension<Peer>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, HttpError> {
    verify(&app, &slot_id, &query, peer, &headers)?;
    let boundary = form::boundary(&headers)?;
    let wants_html = super::accepts_html(&headers);
    let _lock = app.writer_lock().await?;
    let id = slot_id.clone();
    let slot =
        app.blocking(move |v| v.slot_record(&id)).await?.ok_or(HttpError::Gone("this upload link no longer exists"))?;
    match slot.status(time::now()) {
        SlotStatus::Active => {}
        other => return Err(refusal(other)),
    }
    // Every byte of the form counts against what the slot can still take.
    let budget = form::budget(&slot);
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|len| len > budget) {
        return Err(form::error(multer::Error::StreamSizeExceeded { limit: budget }));
    }
    let text_limits = [("name", (MAX_UPLOADER_NAME * MAX_UTF8) as u64), ("message", (MAX_MESSAGE * MAX_UTF8) as u64)];
    // Unknown fields are read and dropped, within the same limits as a message.
    let constraints = form::constraints(&slot, &text_limits, (MAX_MESSAGE * MAX_UTF8) as u64);
    let mut multipart = multer::Multipart::with_constraints(
        form::Framing::new(body.into_data_stream(), &boundary),
        boundary,
        constraints,
    );
    let mut claims = Claims::new(app.vault.clone(), &slot_id);
    let mut uploader = Uploader::default();
    let mut received: Vec<Received> = Vec::new();
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
                let slot = claims.claim(&app).await?;
                let name = names::sanitize(&raw_name);
                check_name(&slot, &name)?;
                let already: u64 = received.iter().map(|r| r.staged.size).sum();
                let staged = receive(&app, field.map_err(form::error), &limits(&slot, already)).await?;
                // A browser sends an empty, nameless part when no file was chosen.
                if raw_name.is_empty() && staged.size == 0 {
                    claims.give_back_one(&app).await?;
                    continue;
                }
                check_content(&slot, &name, &staged)?;
                received.push(Received { staged, name });
            }
            _ => {
                text_field(&app, field, MAX_MESSAGE).await?;
            }
        }
    }
    if received.is_empty() {
        return Err(HttpError::BadRequest("no file in the request: send one or more `file` fields".into()));
    }
    let files = store(&app, &slot_id, received, uploader).await?;
    claims.keep();
    Ok(created(files, wants_html))
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
