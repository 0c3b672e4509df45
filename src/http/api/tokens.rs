//! `/api/v1/token` (who am I), `/api/v1/tokens` (admin: make, list, revoke) and
//! `/api/v1/secret/rotate`.

use axum::Json;
use axum::extract::{Path, State};
use http::StatusCode;
use serde::{Deserialize, Serialize};

use super::error::ErrorBody;
use super::{ApiError, Caller, JsonBody, lifetime};
use crate::http::AppState;
use crate::time;
use crate::tokens::{CreatedToken, Scope, Scopes, TokenInfo};
use crate::units::Lifetime;

/// `GET /token`: the token making the request (any valid token).
#[utoipa::path(get, path = "/token", responses((status = 200, description = "the token making the request", body = TokenInfo), (status = 401, description = "no usable token", body = ErrorBody)), security(("token" = [])))]
pub(super) async fn me(caller: Caller) -> Json<TokenInfo> {
    Json(caller.0)
}

/// `GET /tokens`.
#[utoipa::path(get, path = "/tokens", responses((status = 200, description = "every token, never a secret", body = [TokenInfo]), (status = 401, description = "no usable token", body = ErrorBody), (status = 403, description = "the token lacks the scope", body = ErrorBody)), security(("token" = ["admin"])))]
pub(super) async fn list(State(app): State<AppState>, caller: Caller) -> Result<Json<Vec<TokenInfo>>, ApiError> {
    caller.require(Scope::Admin)?;
    Ok(Json(super::core(&app, |v| v.tokens()).await?))
}

/// The body of `POST /tokens`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateToken {
    /// A note saying what it is for.
    name: Option<String>,
    /// `["read","upload"]` or `"read,upload"`; absent: read, upload and write.
    #[schema(value_type = Option<Vec<String>>)]
    scopes: Option<Scopes>,
    /// How long it works (`30d`, `never`); absent: never expires.
    expires: Option<String>,
}

/// `POST /tokens`.
#[utoipa::path(post, path = "/tokens", request_body = CreateToken, responses((status = 201, description = "the new token, shown this once", body = CreatedToken), (status = 401, description = "no usable token", body = ErrorBody), (status = 403, description = "the token lacks the scope", body = ErrorBody), (status = 400, description = "a field is invalid", body = ErrorBody)), security(("token" = ["admin"])))]
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
    let made = super::core(&app, move |v| v.create_token(body.name, scopes, lifetime, time::now())).await?;
    Ok((StatusCode::CREATED, Json(made)))
}

/// `DELETE /tokens/{id}`: revoked, as `token revoke`.
#[utoipa::path(delete, path = "/tokens/{id}", params(("id" = String, Path, description = "the token's id")), responses((status = 200, description = "the revoked token", body = TokenInfo), (status = 401, description = "no usable token", body = ErrorBody), (status = 403, description = "the token lacks the scope", body = ErrorBody), (status = 404, description = "no such id", body = ErrorBody)), security(("token" = ["admin"])))]
pub(super) async fn revoke(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<TokenInfo>, ApiError> {
    caller.require(Scope::Admin)?;
    Ok(Json(super::core(&app, move |v| v.revoke_token(&id, time::now())).await?))
}

/// `{"rotated": true}`.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct Rotated {
    rotated: bool,
}

/// `POST /secret/rotate`: every link and slot URL issued so far stops working.
#[utoipa::path(post, path = "/secret/rotate", responses((status = 200, description = "every link and slot URL issued before stops working", body = Rotated), (status = 401, description = "no usable token", body = ErrorBody), (status = 403, description = "the token lacks the scope", body = ErrorBody)), security(("token" = ["admin"])))]
pub(super) async fn rotate(State(app): State<AppState>, caller: Caller) -> Result<Json<Rotated>, ApiError> {
    caller.require(Scope::Admin)?;
    super::core(&app, |v| v.rotate_secret()).await?;
    Ok(Json(Rotated { rotated: true }))
}
