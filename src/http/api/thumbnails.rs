//! `/api/v1/files/{id}/thumbnail`: a file's thumbnail (see [`crate::thumbnails`]), for the
//! desktop app's Files list on a server it manages.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};

use super::error::ErrorBody;
use super::{ApiError, Caller};
use crate::http::AppState;
use crate::tokens::Scope;

/// `GET /files/{id}/thumbnail`.
#[utoipa::path(get, path = "/files/{id}/thumbnail", params(("id" = String, Path, description = "the file's id")), responses((status = 200, description = "the thumbnail: JPEG, or PNG when the image has transparency; at most 256 px on its longest edge (304 when the If-None-Match ETag still matches)", content_type = "image/jpeg"), (status = 204, description = "the file is not an image that gets a thumbnail (SVG, other types, damaged or too large images)"), (status = 401, description = "no usable token", body = ErrorBody), (status = 403, description = "the token lacks the scope", body = ErrorBody), (status = 404, description = "no such id", body = ErrorBody)), security(("token" = ["read"])))]
pub(super) async fn thumbnail(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    caller.require(Scope::Read)?;
    let Some(thumb) = super::core(&app, move |v| crate::thumbnails::thumbnail(v, &id)).await? else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    Ok(crate::http::preview::thumbnail_answer(thumb, &headers))
}
