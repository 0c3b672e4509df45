//! `/api/v1/files`: list, add (a raw body or a multipart form, streamed into the store), read,
//! set public, remove, and the owner's download of the bytes.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;
use http::{HeaderMap, StatusCode, header};
use serde::{Deserialize, Serialize};

use super::error::ErrorBody;
use super::{ApiError, Caller, JsonBody, Removed, lifetime};
use crate::http::upload::{form, receive};
use crate::http::{AppState, HttpError};
use crate::time;
use crate::tokens::Scope;
use crate::vault::{FileInfo, FileLimit, LinkInfo, NewLink};

/// `GET /files`.
#[utoipa::path(get, path = "/files", responses((status = 200, description = "every file, newest first", body = [FileInfo]), (status = 401, description = "no usable token", body = ErrorBody), (status = 403, description = "the token lacks the scope", body = ErrorBody)), security(("token" = ["read"])))]
pub(super) async fn list(State(app): State<AppState>, caller: Caller) -> Result<Json<Vec<FileInfo>>, ApiError> {
    caller.require(Scope::Read)?;
    Ok(Json(super::core(&app, |v| v.files()).await?))
}

/// `GET /files/{id}`.
#[utoipa::path(get, path = "/files/{id}", params(("id" = String, Path, description = "the file's id")), responses((status = 200, description = "the file", body = FileInfo), (status = 401, description = "no usable token", body = ErrorBody), (status = 403, description = "the token lacks the scope", body = ErrorBody), (status = 404, description = "no such id", body = ErrorBody)), security(("token" = ["read"])))]
pub(super) async fn one(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<FileInfo>, ApiError> {
    caller.require(Scope::Read)?;
    Ok(Json(super::core(&app, move |v| v.file(&id)).await?))
}

/// `PATCH /files/{id}`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct FileChange {
    public: bool,
}

#[utoipa::path(patch, path = "/files/{id}", params(("id" = String, Path, description = "the file's id")), request_body = FileChange, responses((status = 200, description = "the file", body = FileInfo), (status = 401, description = "no usable token", body = ErrorBody), (status = 403, description = "the token lacks the scope", body = ErrorBody), (status = 404, description = "no such id", body = ErrorBody), (status = 400, description = "a field is invalid", body = ErrorBody)), security(("token" = ["write"])))]
pub(super) async fn set(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(change): JsonBody<FileChange>,
) -> Result<Json<FileInfo>, ApiError> {
    caller.require(Scope::Write)?;
    Ok(Json(super::core(&app, move |v| v.set_public(&id, change.public)).await?))
}

/// `DELETE /files/{id}`.
#[utoipa::path(delete, path = "/files/{id}", params(("id" = String, Path, description = "the file's id")), responses((status = 200, description = "removed", body = Removed), (status = 401, description = "no usable token", body = ErrorBody), (status = 403, description = "the token lacks the scope", body = ErrorBody), (status = 404, description = "no such id", body = ErrorBody)), security(("token" = ["write"])))]
pub(super) async fn remove(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Removed>, ApiError> {
    caller.require(Scope::Write)?;
    let removed = id.clone();
    super::core(&app, move |v| v.remove_file(&id)).await?;
    Ok(Json(Removed { removed }))
}

/// `GET|HEAD /files/{id}/content`.
#[utoipa::path(get, path = "/files/{id}/content", params(("id" = String, Path, description = "the file's id")), responses((status = 200, description = "the bytes (206 for a Range, 304 when unchanged); never counted", content_type = "application/octet-stream"), (status = 401, description = "no usable token", body = ErrorBody), (status = 403, description = "the token lacks the scope", body = ErrorBody), (status = 404, description = "no such id", body = ErrorBody)), security(("token" = ["read"])))]
pub(super) async fn content(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, ApiError> {
    caller.require(Scope::Read)?;
    let info = super::core(&app, move |v| v.file(&id)).await?;
    Ok(crate::http::download::owner(&app, req, &info.file, caller.0.id).await?)
}

/// The query of `POST /files`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct UploadQuery {
    /// The file's name (raw bodies).
    name: Option<String>,
    /// Served without a token.
    #[serde(default)]
    public: bool,
    /// Also make a link that works this long (`3d`, `never`): one request gives a link, as
    /// ShareX needs.
    link: Option<String>,
    /// The link's download limit.
    link_max_downloads: Option<u64>,
}

/// A raw upload's answer: the file, and its link when one was asked for.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct Uploaded {
    #[serde(flatten)]
    file: FileInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    link: Option<LinkInfo>,
}

/// `POST /files`: a raw body named by `?name=`, or a multipart form of `file` fields.
#[utoipa::path(post, path = "/files", params(UploadQuery), request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "the file's bytes, or a multipart/form-data form of `file` fields and an optional `public`"), responses((status = 201, description = "a raw body: the file, and its link with `link=`; a multipart form of `file` fields: every file", body = Uploaded), (status = 401, description = "no usable token", body = ErrorBody), (status = 403, description = "the token lacks the scope", body = ErrorBody), (status = 400, description = "a field is invalid", body = ErrorBody), (status = 507, description = "the disk is full", body = ErrorBody)), security(("token" = ["upload"])))]
pub(super) async fn upload(State(app): State<AppState>, caller: Caller, req: Request) -> Result<Response, ApiError> {
    caller.require(Scope::Upload)?;
    let query: UploadQuery = super::query(req.uri())?;
    let link = query.link.as_deref().map(|l| lifetime(l, "link")).transpose()?;
    crate::vault::check_download_limit(query.link_max_downloads)?;
    let headers = req.headers().clone();
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.trim_start().to_ascii_lowercase().starts_with("multipart/form-data"));
    let token = caller.0.id.clone();
    let adding = super::core(&app, move |v| v.begin_adding(Some(&token))).await?;
    let body = req.into_body();
    if is_form {
        if query.name.is_some() || link.is_some() {
            return Err(ApiError::invalid(
                Some("name".into()),
                "name and link are for raw uploads; a form names its files",
            ));
        }
        let staged = receive_form(&app, &headers, body).await?;
        let public = query.public || staged.public;
        let files = super::core(&app, move |_| adding.commit(staged.files, public, time::now())).await?;
        return Ok((StatusCode::CREATED, Json(files)).into_response());
    }
    let name = query
        .name
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| ApiError::invalid(Some("name".into()), "name the file: POST /api/v1/files?name=NAME"))?;
    let body = body.into_data_stream().map_err(|e| HttpError::BadRequest(format!("the upload was interrupted: {e}")));
    let staged = receive(&app, body, &unlimited()).await?;
    let public = query.public;
    let mut files = super::core(&app, move |_| adding.commit(vec![(staged, name)], public, time::now())).await?;
    let file = files.pop().ok_or_else(|| ApiError::from(HttpError::Internal("no file committed".into())))?;
    let (file, link) = match link {
        Some(lifetime) => {
            let (id, max) = (file.file.id.clone(), query.link_max_downloads);
            let new =
                NewLink { lifetime: Some(lifetime), max_downloads: max, label: None, notify: None, password: None };
            // The file read again after its link: its `links` count includes the one made here.
            let (file, link) = super::core(&app, move |v| {
                let link = v.create_link(&id, new, time::now(), None)?;
                Ok((v.file(&id)?, link))
            })
            .await?;
            (file, Some(link))
        }
        None => (file, None),
    };
    Ok((StatusCode::CREATED, Json(Uploaded { file, link })).into_response())
}

/// An owner's upload has no size limit but the disk.
fn unlimited() -> FileLimit {
    FileLimit { max: u64::MAX, what: String::new() }
}

/// The files of a form, staged, and its `public` field.
struct StagedForm {
    files: Vec<(crate::store::StagedFile, String)>,
    public: bool,
}

/// Reads a multipart form within the same framing bounds as a slot's (see `upload::form`): each
/// `file` field streamed into a staged file, `public` read as "true" or "false".
async fn receive_form(app: &AppState, headers: &HeaderMap, body: Body) -> Result<StagedForm, ApiError> {
    let boundary = form::boundary(headers)?;
    let limits = multer::SizeLimit::new().per_field(1024).for_field("file", u64::MAX);
    let constraints = multer::Constraints::new().size_limit(limits);
    let mut multipart = multer::Multipart::with_constraints(
        form::Framing::new(body.into_data_stream(), &boundary),
        boundary,
        constraints,
    );
    let mut staged = StagedForm { files: Vec::new(), public: false };
    loop {
        let next = tokio::time::timeout(app.config.body_idle_timeout, multipart.next_field())
            .await
            .map_err(|_| HttpError::Timeout)?;
        let Some(field) = next.map_err(form::error)? else { break };
        match field.name() {
            Some("file") => {
                let name = field.file_name().unwrap_or_default().to_string();
                let file = receive(app, field.map_err(form::error), &unlimited()).await?;
                if name.is_empty() && file.size == 0 {
                    continue;
                }
                staged.files.push((file, name));
            }
            Some("public") => {
                let text = field.text().await.map_err(form::error)?;
                staged.public = match text.trim() {
                    "true" => true,
                    "false" | "" => false,
                    _ => return Err(ApiError::invalid(Some("public".into()), "public is \"true\" or \"false\"")),
                };
            }
            other => {
                let name = other.unwrap_or_default().to_string();
                return Err(ApiError::invalid(
                    Some(name.clone()),
                    format!("unknown form field {name:?}: send `file` fields and an optional `public`"),
                ));
            }
        }
    }
    if staged.files.is_empty() {
        return Err(ApiError::invalid(Some("file".into()), "no file in the form: send one or more `file` fields"));
    }
    Ok(staged)
}
