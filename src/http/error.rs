//! The one error type at the HTTP edge: each variant maps to a status in one `match`, internals
//! are logged, and the client gets one short line (or a small page, see [`super::pages`]).

use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};

/// Why a request failed, as far as the client may know.
#[derive(Debug)]
pub enum HttpError {
    /// Missing, malformed or wrong signature: 403.
    BadSignature,
    /// The link or slot existed but no longer works (expired, revoked, used up, closed,
    /// removed): 410 with the reason.
    Gone(&'static str),
    /// Nothing here: 404.
    NotFound,
    /// A body or file over a limit: 413 with the limit.
    TooLarge(String),
    /// A multipart part's header block over its limit: 431 with the limit.
    HeaderTooLarge(String),
    /// A file type the slot does not accept: 415.
    UnsupportedType(String),
    /// A request that cannot be understood: 400.
    BadRequest(String),
    /// The client stopped sending: 408.
    Timeout,
    /// The client sends too slowly to finish in reasonable time: 408.
    TooSlow,
    /// Too many invalid signatures from this client: 429.
    TooManyRequests,
    /// A password link asked for without its password or unlock cookie: 401 with
    /// `WWW-Authenticate: Basic`.
    PasswordRequired,
    /// A password link asked for with a wrong password: 401 with `WWW-Authenticate: Basic`.
    WrongPassword,
    /// Too many wrong passwords from this client or against this link: 429, and `Retry-After`
    /// this long.
    TooManyGuesses(std::time::Duration),
    /// The disk is full: 507.
    StorageFull,
    /// Our fault; the detail is logged, not sent: 500.
    Internal(String),
}

/// The challenge of a password link's direct URL.
pub const WWW_AUTHENTICATE: &str = "Basic realm=\"Sharelock\", charset=\"UTF-8\"";

/// The one-line message of an error response, kept so a page can be rendered from it.
#[derive(Debug, Clone)]
pub struct ErrorMessage(pub String);

impl HttpError {
    pub(super) fn status_and_message(self) -> (StatusCode, String) {
        match self {
            HttpError::BadSignature => (StatusCode::FORBIDDEN, "invalid or missing signature".into()),
            HttpError::Gone(why) => (StatusCode::GONE, why.into()),
            HttpError::NotFound => (StatusCode::NOT_FOUND, "not found".into()),
            HttpError::TooLarge(why) => (StatusCode::PAYLOAD_TOO_LARGE, why),
            HttpError::HeaderTooLarge(why) => (StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, why),
            HttpError::UnsupportedType(why) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, why),
            HttpError::BadRequest(why) => (StatusCode::BAD_REQUEST, why),
            HttpError::Timeout => (StatusCode::REQUEST_TIMEOUT, "the upload stalled".into()),
            HttpError::TooSlow => (StatusCode::REQUEST_TIMEOUT, "the upload is too slow".into()),
            HttpError::TooManyRequests => {
                (StatusCode::TOO_MANY_REQUESTS, "too many invalid requests: try again later".into())
            }
            HttpError::PasswordRequired => (StatusCode::UNAUTHORIZED, "this link needs a password".into()),
            HttpError::WrongPassword => (StatusCode::UNAUTHORIZED, "wrong password".into()),
            HttpError::TooManyGuesses(_) => {
                (StatusCode::TOO_MANY_REQUESTS, "too many wrong passwords: try again later".into())
            }
            HttpError::StorageFull => (StatusCode::INSUFFICIENT_STORAGE, "the server's disk is full".into()),
            HttpError::Internal(detail) => {
                tracing::error!("internal error: {detail}");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error".into())
            }
        }
    }
}

impl HttpError {
    /// The status and a short reason, for the access history (internals stay out of it).
    pub(super) fn summary(&self) -> (u16, std::borrow::Cow<'static, str>) {
        use std::borrow::Cow;
        match self {
            HttpError::Gone(why) => (410, Cow::Borrowed(*why)),
            HttpError::TooLarge(why) | HttpError::HeaderTooLarge(why) | HttpError::UnsupportedType(why) => {
                (self.status().as_u16(), Cow::Owned(why.clone()))
            }
            HttpError::BadRequest(why) => (400, Cow::Owned(why.clone())),
            HttpError::Internal(_) => (500, Cow::Borrowed("internal error")),
            HttpError::BadSignature => (403, Cow::Borrowed("invalid signature")),
            HttpError::TooManyRequests => (429, Cow::Borrowed("too many invalid requests")),
            HttpError::PasswordRequired => (401, Cow::Borrowed("password required")),
            HttpError::WrongPassword => (401, Cow::Borrowed("wrong password")),
            HttpError::TooManyGuesses(_) => (429, Cow::Borrowed("too many wrong passwords")),
            HttpError::NotFound => (404, Cow::Borrowed("not found")),
            HttpError::Timeout => (408, Cow::Borrowed("the upload stalled")),
            HttpError::TooSlow => (408, Cow::Borrowed("the upload is too slow")),
            HttpError::StorageFull => (507, Cow::Borrowed("the server's disk is full")),
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            HttpError::BadSignature => StatusCode::FORBIDDEN,
            HttpError::Gone(_) => StatusCode::GONE,
            HttpError::NotFound => StatusCode::NOT_FOUND,
            HttpError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            HttpError::HeaderTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            HttpError::UnsupportedType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            HttpError::BadRequest(_) => StatusCode::BAD_REQUEST,
            HttpError::Timeout | HttpError::TooSlow => StatusCode::REQUEST_TIMEOUT,
            HttpError::TooManyRequests | HttpError::TooManyGuesses(_) => StatusCode::TOO_MANY_REQUESTS,
            HttpError::PasswordRequired | HttpError::WrongPassword => StatusCode::UNAUTHORIZED,
            HttpError::StorageFull => StatusCode::INSUFFICIENT_STORAGE,
            HttpError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let retry_after = match &self {
            HttpError::TooManyGuesses(wait) => super::unlock::retry_after(*wait).to_string(),
            _ => "10".into(),
        };
        let (status, message) = self.status_and_message();
        let mut response =
            (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{message}\n")).into_response();
        if status == StatusCode::TOO_MANY_REQUESTS
            && let Ok(value) = http::HeaderValue::from_str(&retry_after)
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        if status == StatusCode::UNAUTHORIZED {
            // The challenge that makes wget send its credentials, and curl -u work.
            response.headers_mut().insert(header::WWW_AUTHENTICATE, http::HeaderValue::from_static(WWW_AUTHENTICATE));
        }
        response.extensions_mut().insert(ErrorMessage(message));
        response
    }
}

impl From<crate::Error> for HttpError {
    fn from(e: crate::Error) -> Self {
        match e {
            _ if e.is_storage_full() => HttpError::StorageFull,
            crate::Error::NotFound { .. } => HttpError::NotFound,
            crate::Error::Refused(refusal) => HttpError::from(refusal),
            crate::Error::InvalidInput(why) | crate::Error::InvalidField { reason: why, .. } => {
                HttpError::BadRequest(why)
            }
            other => HttpError::Internal(other.to_string()),
        }
    }
}

/// A slot's refusal: 410 for a slot that takes nothing more, 413 for a limit, 415 for a type,
/// 400 for a path that could escape its folder.
impl From<crate::vault::Refusal> for HttpError {
    fn from(refusal: crate::vault::Refusal) -> Self {
        use crate::vault::Refusal;
        match refusal {
            Refusal::Gone => HttpError::Gone("this upload link no longer exists"),
            Refusal::Expired => HttpError::Gone("this upload link has expired"),
            Refusal::Closed => HttpError::Gone("this upload link was closed"),
            Refusal::Full => HttpError::Gone("this upload link has received all the files it accepts"),
            Refusal::TooMany(_) | Refusal::TooLarge(_) | Refusal::TotalExceeded => {
                HttpError::TooLarge(refusal.to_string())
            }
            Refusal::WrongName(_) | Refusal::WrongContent(_) => HttpError::UnsupportedType(refusal.to_string()),
            Refusal::BadPath(_) => HttpError::BadRequest(refusal.to_string()),
        }
    }
}
