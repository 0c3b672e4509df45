//! `/api/v1/token` (who am I), `/api/v1/tokens` (admin: make, list, revoke) and
//! `/api/v1/secret/rotate`.

use axum::Json;
use axum::extract::{Path, State};
use http::StatusCode;
use serde::{Deserialize, Serialize};

use super::{ApiError, Caller, JsonBody, lifetime};
use crate::http::AppState;
use crate::time;
use crate::tokens::{CreatedToken, Scope, Scopes, TokenInfo};
use crate::units::Lifetime;

/// `GET /token`: the token making the request (any valid token).
pub(super) async fn me(caller: Caller) -> Json<TokenInfo> {
    Json(caller.0)
}

/// `GET /tokens`.
pub(super) async fn list(State(app): State<AppState>, caller: Caller) -> Result<Json<Vec<TokenInfo>>, ApiError> {
    caller.require(Scope::Admin)?;
    Ok(Json(app.blocking(|v| v.tokens()).await?))
}

/// The body of `POST /tokens`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateToken {
    /// A note saying what it is for.
    name: Option<String>,
    /// `["read","upload"]` or `"read,upload"`; absent: read, upload and write.
    scopes: Option<Scopes>,
    /// How long it works (`30d`, `never`); absent: never expires.
    expires: Option<String>,
}

/// `POST /tokens`.
pub(super) async fn create(
    State(app): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<CreateToken>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    caller.require(Scope::Admin)?;
    let lifetime = match body.expires.as_deref() {
        Some(e) => lifetime(e, "expires")?,
        None => Lifetime::Never,
    };
    let scopes = body.scopes.unwrap_or(Scopes::DEFAULT);
    let made = app.blocking(move |v| v.create_token(body.name, scopes, lifetime, time::now())).await?;
    Ok((StatusCode::CREATED, Json(made)))
}

/// `DELETE /tokens/{id}`: revoked, as `token revoke`.
pub(super) async fn revoke(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<TokenInfo>, ApiError> {
    caller.require(Scope::Admin)?;
    Ok(Json(app.blocking(move |v| v.revoke_token(&id, time::now())).await?))
}

/// `{"rotated": true}`.
#[derive(Serialize)]
pub(super) struct Rotated {
    rotated: bool,
}

/// `POST /secret/rotate`: every link and slot URL issued so far stops working.
pub(super) async fn rotate(State(app): State<AppState>, caller: Caller) -> Result<Json<Rotated>, ApiError> {
    caller.require(Scope::Admin)?;
    app.blocking(|v| v.rotate_secret()).await?;
    Ok(Json(Rotated { rotated: true }))
}
