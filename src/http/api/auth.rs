//! The Bearer token of an API request, checked before a handler runs: a handler that takes a
//! [`Caller`] has a token that is known, matches and works, as `download` handlers get an
//! already verified link. Failures answer 401 with `WWW-Authenticate: Bearer` and count against
//! the client's budget of bad signatures ([`crate::http::limit`]): past it, 429.

use axum::extract::FromRequestParts;
use http::header;
use http::request::Parts;

use super::error::ApiError;
use crate::http::AppState;
use crate::http::limit::Peer;
use crate::time;
use crate::tokens::{Scope, TokenInfo};

/// The token of the request, verified.
#[derive(Debug, Clone)]
pub struct Caller(pub TokenInfo);

impl Caller {
    /// Refuses (403) a token without `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.0.scopes.has(scope) { Ok(()) } else { Err(ApiError::forbidden(scope)) }
    }

    /// Whether this token may make links to `file_id`: with `write` any file; with `upload` the
    /// files this same token added.
    pub async fn may_link(&self, app: &AppState, file_id: &str) -> Result<(), ApiError> {
        if self.0.scopes.has(Scope::Write) {
            return Ok(());
        }
        if self.0.scopes.has(Scope::Upload) {
            let id = file_id.to_string();
            let uploader = app.blocking(move |v| v.uploader_of(&id)).await?;
            if uploader.as_deref() == Some(self.0.id.as_str()) {
                return Ok(());
            }
        }
        Err(ApiError::forbidden(Scope::Write))
    }
}

/// The token in `Authorization: Bearer …`, if the header has that shape.
fn bearer(parts: &Parts) -> Option<String> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_string())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let verified = match bearer(parts) {
            Some(token) => app.blocking(move |v| v.verify_token(&token, time::now())).await?,
            None => None,
        };
        match verified {
            Some(info) => Ok(Caller(info)),
            None => {
                let peer = parts.extensions.get::<Peer>().copied();
                if app.bad_signatures.allow(peer, &parts.headers) {
                    Err(ApiError::unauthorized())
                } else {
                    Err(ApiError::too_many_requests())
                }
            }
        }
    }
}
