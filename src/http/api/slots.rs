//! `/api/v1/slots`: make, list, read and close upload slots.

use axum::Json;
use axum::extract::{Path, State};
use http::StatusCode;
use serde::Deserialize;

use super::error::ErrorBody;
use super::{ApiError, Caller, JsonBody, Size, lifetime};
use crate::http::AppState;
use crate::slots::AcceptList;
use crate::time;
use crate::tokens::Scope;
use crate::vault::{NewSlot, SlotInfo};

/// The body of `POST /slots`: every field optional, with the CLI's defaults.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateSlot {
    /// How long it accepts files (`7d`).
    expires: Option<String>,
    /// Largest file: bytes or `1G`.
    #[schema(value_type = Option<String>, example = "1G")]
    max_size: Option<Size>,
    /// How many files.
    max_files: Option<u64>,
    /// Largest total: bytes or `5G`.
    #[schema(value_type = Option<String>, example = "5G")]
    max_total: Option<Size>,
    /// Accepted types, `pdf,image/*`.
    accept: Option<String>,
    /// A note, shown to uploaders too.
    label: Option<String>,
    /// Build the URL with this base instead of the stored one.
    base_url: Option<String>,
}

/// `POST /slots`.
#[utoipa::path(post, path = "/slots", request_body = CreateSlot, responses((status = 201, description = "the new slot", body = SlotInfo), (status = 401, description = "no usable token", body = ErrorBody), (status = 403, description = "the token lacks the scope", body = ErrorBody), (status = 400, description = "a field is invalid", body = ErrorBody)), security(("token" = ["write"])))]
pub(super) async fn create(
    State(app): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<CreateSlot>,
) -> Result<(StatusCode, Json<SlotInfo>), ApiError> {
    caller.require(Scope::Write)?;
    let defaults = NewSlot::default();
    let new = NewSlot {
        lifetime: match body.expires.as_deref() {
            Some(e) => lifetime(e, "expires")?,
            None => defaults.lifetime,
        },
        max_size: match body.max_size {
            Some(s) => s.bytes("max_size")?,
            None => defaults.max_size,
        },
        max_files: body.max_files.unwrap_or(defaults.max_files),
        max_total: body.max_total.map(|s| s.bytes("max_total")).transpose()?,
        accept: body
            .accept
            .map(|a| AcceptList::parse(&a).map_err(|e| ApiError::invalid(Some("accept".into()), e.to_string())))
            .transpose()?,
        label: body.label,
    };
    let base = body.base_url;
    let slot = super::core(&app, move |v| v.create_slot(new, time::now(), base.as_deref())).await?;
    Ok((StatusCode::CREATED, Json(slot)))
}

/// `GET /slots`.
#[utoipa::path(get, path = "/slots", responses((status = 200, description = "every slot", body = [SlotInfo]), (status = 401, description = "no usable token", body = ErrorBody), (status = 403, description = "the token lacks the scope", body = ErrorBody)), security(("token" = ["read"])))]
pub(super) async fn list(State(app): State<AppState>, caller: Caller) -> Result<Json<Vec<SlotInfo>>, ApiError> {
    caller.require(Scope::Read)?;
    Ok(Json(super::core(&app, |v| v.slots(time::now())).await?))
}

/// `GET /slots/{id}`.
#[utoipa::path(get, path = "/slots/{id}", params(("id" = String, Path, description = "the slot's id")), responses((status = 200, description = "the slot", body = SlotInfo), (status = 401, description = "no usable token", body = ErrorBody), (status = 403, description = "the token lacks the scope", body = ErrorBody), (status = 404, description = "no such id", body = ErrorBody)), security(("token" = ["read"])))]
pub(super) async fn one(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<SlotInfo>, ApiError> {
    caller.require(Scope::Read)?;
    Ok(Json(super::core(&app, move |v| v.slot(&id, time::now())).await?))
}

/// `POST /slots/{id}/close`.
#[utoipa::path(post, path = "/slots/{id}/close", params(("id" = String, Path, description = "the slot's id")), responses((status = 200, description = "the closed slot", body = SlotInfo), (status = 401, description = "no usable token", body = ErrorBody), (status = 403, description = "the token lacks the scope", body = ErrorBody), (status = 404, description = "no such id", body = ErrorBody)), security(("token" = ["write"])))]
pub(super) async fn close(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<SlotInfo>, ApiError> {
    caller.require(Scope::Write)?;
    Ok(Json(super::core(&app, move |v| v.close_slot(&id, time::now())).await?))
}
