//! `/api/v1/links` and `/api/v1/files/{id}/links`: make, list, read, edit, revoke and forget
//! links.

use axum::Json;
use axum::extract::{Path, State};
use http::StatusCode;
use serde::Deserialize;

use super::error::ErrorBody;
use super::{ApiError, ApiQuery, Caller, JsonBody, Removed, lifetime, nullable};
use crate::http::AppState;
use crate::passwords::Password;
use crate::time;
use crate::tokens::Scope;
use crate::vault::{LinkEdit, LinkInfo, NewLink};

/// The body of `POST /files/{id}/links`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateLink {
    /// `3d`, `never`; absent: 7 days.
    expires: Option<String>,
    /// Complete downloads allowed.
    max_downloads: Option<u64>,
    /// A note for the owner.
    label: Option<String>,
    /// Whether completed downloads notify the owner (default true).
    notify: Option<bool>,
    /// Build the URL with this base instead of the stored one.
    base_url: Option<String>,
    /// More files after this one, in order: one link to them all, a share of several files
    /// whose `url` is their zip and whose `files` each have their own URL.
    more_files: Option<Vec<String>>,
    /// A share's name, shown to recipients and given to its zip (default "Shared files"); only
    /// with `more_files`.
    name: Option<String>,
    /// A password the link asks for (kept only as its Argon2id hash).
    password: Option<String>,
    /// Whether its landing page shows previews of its files (default true).
    preview: Option<bool>,
}

/// `POST /files/{id}/links`: `write`, or `upload` for a file this same token added.
#[utoipa::path(post, path = "/files/{id}/links", params(("id" = String, Path, description = "the file's id")), request_body = CreateLink, responses((status = 201, description = "the new link (`upload` may link the files its own token added)", body = LinkInfo), (status = 401, description = "no usable token", body = ErrorBody), (status = 403, description = "the token lacks the scope", body = ErrorBody), (status = 404, description = "no such id", body = ErrorBody), (status = 400, description = "a field is invalid", body = ErrorBody)), security(("token" = ["write"])))]
pub(super) async fn create(
    State(app): State<AppState>,
    caller: Caller,
    Path(file_id): Path<String>,
    JsonBody(body): JsonBody<CreateLink>,
) -> Result<(StatusCode, Json<LinkInfo>), ApiError> {
    caller.may_link(&app, &file_id).await?;
    let more_files = body.more_files.unwrap_or_default();
    for id in &more_files {
        caller.may_link(&app, id).await?;
    }
    let lifetime = body.expires.as_deref().map(|e| lifetime(e, "expires")).transpose()?;
    let password = body.password.map(Password::new).transpose()?;
    let new = NewLink {
        lifetime,
        max_downloads: body.max_downloads,
        label: body.label,
        notify: body.notify,
        more_files,
        name: body.name,
        password,
        preview: body.preview,
    };
    let base = body.base_url;
    let link = super::core(&app, move |v| v.create_link(&file_id, new, time::now(), base.as_deref())).await?;
    Ok((StatusCode::CREATED, Json(link)))
}

/// The query of `GET /links`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct LinksQuery {
    /// Only this file's links.
    file_id: Option<String>,
}

/// `GET /links[?file_id=ID]`.
#[utoipa::path(get, path = "/links", params(LinksQuery), responses((status = 200, description = "links, of one file or of all", body = [LinkInfo]), (status = 401, description = "no usable token", body = ErrorBody), (status = 403, description = "the token lacks the scope", body = ErrorBody), (status = 404, description = "no such id", body = ErrorBody)), security(("token" = ["read"])))]
pub(super) async fn list(
    State(app): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<LinksQuery>,
) -> Result<Json<Vec<LinkInfo>>, ApiError> {
    caller.require(Scope::Read)?;
    Ok(Json(super::core(&app, move |v| v.links(query.file_id.as_deref(), time::now())).await?))
}

/// `GET /links/{id}`.
#[utoipa::path(get, path = "/links/{id}", params(("id" = String, Path, description = "the link's id")), responses((status = 200, description = "the link", body = LinkInfo), (status = 401, description = "no usable token", body = ErrorBody), (status = 403, description = "the token lacks the scope", body = ErrorBody), (status = 404, description = "no such id", body = ErrorBody)), security(("token" = ["read"])))]
pub(super) async fn one(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<LinkInfo>, ApiError> {
    caller.require(Scope::Read)?;
    Ok(Json(super::core(&app, move |v| v.link(&id, time::now())).await?))
}

/// The body of `PATCH /links/{id}`: an absent field stays as it is.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct EditLink {
    /// New lifetime, counted from now.
    expires: Option<String>,
    /// New limit; `null` removes it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<u64>)]
    max_downloads: Option<Option<u64>>,
    /// Whether completed downloads notify the owner.
    notify: Option<bool>,
    /// A new password; `null` removes it. Either way, unlock cookies issued before stop working.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    password: Option<Option<String>>,
    /// Whether its landing page shows previews of its files.
    preview: Option<bool>,
}

/// `PATCH /links/{id}`.
#[utoipa::path(patch, path = "/links/{id}", params(("id" = String, Path, description = "the link's id")), request_body = EditLink, responses((status = 200, description = "the link, same URL", body = LinkInfo), (status = 401, description = "no usable token", body = ErrorBody), (status = 403, description = "the token lacks the scope", body = ErrorBody), (status = 404, description = "no such id", body = ErrorBody), (status = 400, description = "a field is invalid", body = ErrorBody)), security(("token" = ["write"])))]
pub(super) async fn edit(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<EditLink>,
) -> Result<Json<LinkInfo>, ApiError> {
    caller.require(Scope::Write)?;
    let lifetime = body.expires.as_deref().map(|e| lifetime(e, "expires")).transpose()?;
    if lifetime.is_none()
        && body.max_downloads.is_none()
        && body.notify.is_none()
        && body.password.is_none()
        && body.preview.is_none()
    {
        return Err(ApiError::invalid(
            None,
            "nothing to change: give expires, max_downloads, notify, preview or password",
        ));
    }
    let password = body.password.map(|p| p.map(Password::new).transpose()).transpose()?;
    let edit =
        LinkEdit { lifetime, max_downloads: body.max_downloads, notify: body.notify, password, preview: body.preview };
    Ok(Json(super::core(&app, move |v| v.edit_link(&id, edit, time::now())).await?))
}

/// `POST /links/{id}/revoke`.
#[utoipa::path(post, path = "/links/{id}/revoke", params(("id" = String, Path, description = "the link's id")), responses((status = 200, description = "the revoked link", body = LinkInfo), (status = 401, description = "no usable token", body = ErrorBody), (status = 403, description = "the token lacks the scope", body = ErrorBody), (status = 404, description = "no such id", body = ErrorBody)), security(("token" = ["write"])))]
pub(super) async fn revoke(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<LinkInfo>, ApiError> {
    caller.require(Scope::Write)?;
    Ok(Json(super::core(&app, move |v| v.revoke_link(&id, time::now())).await?))
}

/// `DELETE /links/{id}`: 409 while the link still works.
#[utoipa::path(delete, path = "/links/{id}", params(("id" = String, Path, description = "the link's id")), responses((status = 200, description = "forgotten", body = Removed), (status = 401, description = "no usable token", body = ErrorBody), (status = 403, description = "the token lacks the scope", body = ErrorBody), (status = 404, description = "no such id", body = ErrorBody), (status = 409, description = "the link still works: revoke it first", body = ErrorBody)), security(("token" = ["write"])))]
pub(super) async fn remove(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Removed>, ApiError> {
    caller.require(Scope::Write)?;
    let removed = id.clone();
    let deleted = super::core(&app, move |v| match v.delete_link(&id, time::now()) {
        // The one refusal of `delete_link` for an existing link: it still works.
        Err(crate::Error::InvalidInput(why)) => Ok(Err(ApiError::conflict(why))),
        other => other.map(Ok),
    });
    match deleted.await.and_then(|r| r) {
        Ok(()) => Ok(Json(Removed { removed })),
        // The one refusal of `delete_link` for an existing link: it still works.
        Err(e) => Err(e),
    }
}
