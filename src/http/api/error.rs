//! The API's one error type and its JSON body:
//! `{"error": {"code", "message", "field"?, "kind"?, "id"?}}`. The status and the code are
//! chosen in one place, from the core's error or the HTTP edge's; internals are logged, not sent.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;

use crate::http::HttpError;

/// A failed API request, as the client may know it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ApiError {
    #[serde(skip)]
    status: u16,
    /// Stable: `unauthorized`, `forbidden`, `not_found`, `invalid`, `conflict`, `too_large`,
    /// `refused`, `too_many_requests`, `storage_full`, `internal`.
    code: &'static str,
    /// For people.
    message: String,
    /// The request field at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
    /// What was not found: `file`, `link`, `slot` or `token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    /// The id that was not found.
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
}

/// The body every error answer has.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    error: ApiError,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status: status.as_u16(), code, message: message.into(), field: None, kind: None, id: None }
    }

    /// 401: no usable token (missing, malformed, unknown, expired or revoked).
    pub fn unauthorized() -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid token is needed: Authorization: Bearer slk_… (sharelock token create)",
        )
    }

    /// 403: a valid token without `scope`.
    pub fn forbidden(scope: crate::tokens::Scope) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", format!("this token lacks the `{scope}` scope"))
    }

    /// 400 about the request field `field`.
    pub fn invalid(field: Option<String>, message: impl Into<String>) -> Self {
        ApiError { field, ..ApiError::new(StatusCode::BAD_REQUEST, "invalid", message) }
    }

    /// 409.
    pub fn conflict(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 429: too many failed tokens from this client.
    pub fn too_many_requests() -> Self {
        ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", "too many invalid tokens: try again later")
    }

    /// 404 for the `kind` with `id`.
    pub fn not_found(kind: &'static str, id: &str) -> Self {
        ApiError {
            kind: Some(kind),
            id: Some(id.to_string()),
            ..ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no {kind} with id {id:?}"))
        }
    }

    /// 404 for a path the API does not have.
    pub fn not_found_route() -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such API route: see /api/v1/openapi.json")
    }

    /// 405 for a method the path does not have.
    pub fn method_not_allowed() -> Self {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid",
            "this path does not take that method: see /api/v1/openapi.json",
        )
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = (status, Json(ErrorBody { error: self })).into_response();
        let headers = response.headers_mut();
        match status {
            StatusCode::UNAUTHORIZED => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"sharelock\""));
            }
            StatusCode::TOO_MANY_REQUESTS => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
            }
            _ => {}
        }
        response
    }
}

impl From<crate::Error> for ApiError {
    fn from(e: crate::Error) -> Self {
        match e {
            _ if e.is_storage_full() => HttpError::StorageFull.into(),
            crate::Error::NotFound { kind, id } => ApiError::not_found(kind, &id),
            crate::Error::InvalidField { field, reason } => ApiError::invalid(Some(field.to_string()), reason),
            crate::Error::InvalidInput(why) => ApiError::invalid(None, why),
            crate::Error::Refused(refusal) => HttpError::from(refusal).into(),
            other => HttpError::Internal(other.to_string()).into(),
        }
    }
}

/// The edge's errors (upload streaming, slot refusals) with the API's codes.
impl From<HttpError> for ApiError {
    fn from(e: HttpError) -> Self {
        let (status, message) = e.status_and_message();
        let code = match status {
            StatusCode::NOT_FOUND => "not_found",
            StatusCode::PAYLOAD_TOO_LARGE | StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "too_large",
            StatusCode::GONE | StatusCode::UNSUPPORTED_MEDIA_TYPE => "refused",
            StatusCode::TOO_MANY_REQUESTS => "too_many_requests",
            StatusCode::INSUFFICIENT_STORAGE => "storage_full",
            StatusCode::FORBIDDEN => "forbidden",
            s if s.is_client_error() => "invalid",
            _ => "internal",
        };
        ApiError::new(status, code, message)
    }
}
