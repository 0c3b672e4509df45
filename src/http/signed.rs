//! Signed URLs, checked before a handler runs: axum extractors that hand a handler a link or a
//! slot whose signature is already verified, so no handler reaches for the signer itself.
//!
//! A bad signature is answered 403 (or 429 once a client has sent too many, see `limit`) before
//! any database work. A link is then read and must be active; a slot's state is the upload's
//! business (see `vault::Upload`).

use std::sync::Arc;

use axum::extract::{FromRequestParts, Path, Query};
use http::request::Parts;
use serde::Deserialize;

use super::AppState;
use super::error::HttpError;
use super::history::Client;
use super::limit::Peer;
use crate::files::FileRecord;
use crate::links::{Link, LinkStatus};
use crate::signing::Purpose;
use crate::time;

/// An active link, its signature checked: from `/d/{link}/{sig}[/{name}]` and `/l/{link}/{sig}`.
#[derive(Debug)]
pub struct SignedLink {
    /// The link, active.
    pub link: Arc<Link>,
    /// The file it grants.
    pub file: Arc<FileRecord>,
    /// The signature the URL carried (to build the landing page's button, and so a download in
    /// flight can be re-checked when the secret changes).
    pub sig: String,
}

#[derive(Deserialize)]
struct LinkPath {
    link: String,
    sig: String,
    /// The file name at the end of a URL: cosmetic (for `wget` and `curl -O`), never used to
    /// find a file, but it must still be one plain path segment.
    name: Option<String>,
}

/// Refuses a cosmetic name with traversal in it (`..`, `/`, `\`, NUL), even though the file is
/// found by id alone: such a URL was not made by us, and is answered as not found.
pub(super) fn plain_segment(name: Option<&str>) -> Result<(), HttpError> {
    match name {
        Some(n) if n.is_empty() || n == "." || n == ".." || n.contains(['/', '\\', '\0']) => Err(HttpError::NotFound),
        _ => Ok(()),
    }
}

impl FromRequestParts<AppState> for SignedLink {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        let Path(p) = Path::<LinkPath>::from_request_parts(parts, app).await.map_err(|_| HttpError::NotFound)?;
        plain_segment(p.name.as_deref())?;
        let checked = check_link(parts, app, p);
        if let Err(refusal) = &checked
            && app.history.enabled()
            && let Ok(Path(p)) = Path::<LinkPath>::from_request_parts(parts, app).await
        {
            // Recorded for the link the URL names; the flush keeps only links that exist, so a
            // scan of made-up ids leaves nothing.
            let client = Client::of(app, parts.extensions.get::<Peer>().copied(), &parts.headers);
            client.refused(app, Some(&p.link), None, refusal);
        }
        checked
    }
}

/// Checks a link URL's signature, then the link (see [`SignedLink`]).
fn check_link(parts: &Parts, app: &AppState, p: LinkPath) -> Result<SignedLink, HttpError> {
    if !app.vault.signer().verify(Purpose::Link, &p.link, &p.sig) {
        return Err(app.bad_signature(parts.extensions.get::<Peer>().copied(), &parts.headers));
    }
    // Read inline, not on the blocking pool: in WAL mode a reader never waits for the write
    // lock, and this primary-key lookup in SQLite's page cache takes microseconds, less than
    // the thread handoff of spawn_blocking costs (measured: BENCHMARKS.md, small GETs).
    let found = app.vault.resolve_link(&p.link)?;
    // A valid signature without a row: the link was removed, or its file (and its links).
    let (link, file) = found.ok_or(HttpError::Gone("this file was removed"))?;
    match link.status(time::now()) {
        LinkStatus::Active => Ok(SignedLink { link, file, sig: p.sig }),
        LinkStatus::Expired => Err(HttpError::Gone("this link has expired")),
        LinkStatus::Revoked => Err(HttpError::Gone("this link was revoked")),
        LinkStatus::UsedUp => Err(HttpError::Gone("this link has been used up")),
    }
}

/// A slot id whose signature checked out: from `/u/{slot}?sig=` and `/u/{slot}/{name}?sig=`.
#[derive(Debug)]
pub struct SignedSlot {
    /// The slot's id.
    pub id: String,
    /// The signature the URL carried (the upload page posts back to it).
    pub sig: String,
}

#[derive(Deserialize)]
struct SlotPath {
    slot: String,
}

#[derive(Deserialize)]
struct SigQuery {
    sig: String,
}

impl FromRequestParts<AppState> for SignedSlot {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        let Path(SlotPath { slot }) =
            Path::<SlotPath>::from_request_parts(parts, app).await.map_err(|_| HttpError::NotFound)?;
        // A missing, malformed or repeated `sig` is a bad signature like a wrong one.
        let query = Query::<SigQuery>::from_request_parts(parts, app).await;
        match query {
            Ok(Query(SigQuery { sig })) if app.vault.signer().verify(Purpose::Slot, &slot, &sig) => {
                Ok(SignedSlot { id: slot, sig })
            }
            _ => {
                let refusal = app.bad_signature(parts.extensions.get::<Peer>().copied(), &parts.headers);
                // An upload sent with a bad signature is a refused upload (for a slot that
                // exists: the flush keeps no other); the upload page is not an upload.
                if parts.method != http::Method::GET && app.history.enabled() {
                    let client = Client::of(app, parts.extensions.get::<Peer>().copied(), &parts.headers);
                    let (status, reason) = refusal.summary();
                    let what =
                        crate::history::Happened::UploadRefused { slot_id: slot.into(), name: None, status, reason };
                    client.record(app, what);
                }
                Err(refusal)
            }
        }
    }
}
