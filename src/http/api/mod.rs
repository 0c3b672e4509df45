//! The authenticated API under `/api/v1` (the contract is in the README, "Tokens and the API",
//! and in the OpenAPI document served at `/api/v1/openapi.json`).
//!
//! One file per noun; every handler only adapts a [`crate::Vault`] method: reads the request,
//! checks the token's scope, calls the core, answers with the same JSON as the CLI's `--json`.
//! Every rule stays in the core. Answers carry no cookie and no CORS header, so a page on
//! another origin cannot use a browser's way in; they are never cached.

mod auth;
mod error;
mod files;
mod links;
mod slots;
mod tokens;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::middleware;
use axum::response::Response;
use axum::routing::get;
use http::{HeaderValue, header};
use serde::de::DeserializeOwned;

pub use auth::Caller;
pub use error::ApiError;

use super::AppState;

/// Where the API is mounted.
pub const BASE: &str = "/api/v1";

/// The API's routes, to be nested under [`BASE`].
pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/files", get(files::list).post(files::upload))
        .route("/files/{id}", get(files::one).patch(files::set).delete(files::remove))
        .route("/files/{id}/content", get(files::content))
        .route("/files/{id}/links", axum::routing::post(links::create))
        .route("/links", get(links::list))
        .route("/links/{id}", get(links::one).patch(links::edit).delete(links::remove))
        .route("/links/{id}/revoke", axum::routing::post(links::revoke))
        .route("/slots", get(slots::list).post(slots::create))
        .route("/slots/{id}", get(slots::one))
        .route("/slots/{id}/close", axum::routing::post(slots::close))
        .route("/token", get(tokens::me))
        .route("/tokens", get(tokens::list).post(tokens::create))
        .route("/tokens/{id}", axum::routing::delete(tokens::revoke))
        .route("/secret/rotate", axum::routing::post(tokens::rotate))
        .fallback(|| async { ApiError::invalid(None, "no such API route") })
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(middleware::map_response(api_headers))
}

/// Never cached: every answer is one owner's data.
async fn api_headers(mut response: Response) -> Response {
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Largest JSON request: a few fields.
const MAX_JSON: usize = 64 * 1024;

/// A JSON request body, read with `deny_unknown_fields` types: bad JSON, an unknown field or a
/// value of the wrong type is a 400 that names the field. An empty body reads as `{}`.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let req = req.map(|b| axum::body::Body::new(http_body_util::Limited::new(b, MAX_JSON)));
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|_| ApiError::invalid(None, format!("a JSON body may be at most {} KiB", MAX_JSON / 1024)))?;
        let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { &bytes };
        let mut de = serde_json::Deserializer::from_slice(text);
        let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let message = e.inner().to_string();
            let path = e.path().to_string();
            let field = named_in(&message).or_else(|| (path != "." && !path.is_empty()).then_some(path));
            let message = match &field {
                Some(field) => format!("{field}: {message}"),
                None => format!("invalid JSON: {message}"),
            };
            ApiError::invalid(field, message)
        })?;
        de.end().map_err(|e| ApiError::invalid(None, format!("invalid JSON: {e}")))?;
        Ok(JsonBody(value))
    }
}

/// A query string, read with `deny_unknown_fields` types: a bad one is a 400 naming the field.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> axum::extract::FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut http::request::Parts, _: &S) -> Result<Self, ApiError> {
        query(&parts.uri).map(ApiQuery)
    }
}

/// Reads the query of `uri` (see [`ApiQuery`]).
fn query<T: DeserializeOwned>(uri: &http::Uri) -> Result<T, ApiError> {
    axum::extract::Query::<T>::try_from_uri(uri).map(|q| q.0).map_err(|e| {
        let message = e.body_text();
        let detail = message.split_once(": ").map_or(message.as_str(), |(_, d)| d).to_string();
        let field = named_in(&detail).or_else(|| {
            let (first, _) = detail.split_once(": ")?;
            (!first.contains(' ')).then(|| first.to_string())
        });
        ApiError::invalid(field, format!("invalid query: {detail}"))
    })
}

/// The field serde names in "unknown field `x`" and "missing field `x`".
fn named_in(message: &str) -> Option<String> {
    let (_, rest) = message.split_once("unknown field `").or_else(|| message.split_once("missing field `"))?;
    Some(rest.split('`').next()?.to_string())
}

/// `null` and absent told apart: `Some(None)` is `null` (see the `max_downloads` of a link edit).
fn nullable<'de, T: serde::Deserialize<'de>, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

use serde::Deserialize as _;

/// A size as a number of bytes or as the CLI takes it (`"1G"`).
#[derive(Debug, serde::Deserialize)]
#[serde(untagged)]
enum Size {
    Bytes(u64),
    Text(String),
}

impl Size {
    fn bytes(self, field: &'static str) -> Result<u64, ApiError> {
        match self {
            Size::Bytes(n) => Ok(n),
            Size::Text(text) => {
                crate::units::parse_size(&text).map_err(|e| ApiError::invalid(Some(field.into()), e.to_string()))
            }
        }
    }
}

/// A lifetime as the CLI takes it (`"7d"`, `"never"`).
fn lifetime(text: &str, field: &'static str) -> Result<crate::units::Lifetime, ApiError> {
    text.parse().map_err(|e: crate::Error| ApiError::invalid(Some(field.into()), e.to_string()))
}

/// `{"removed": id}`.
#[derive(serde::Serialize)]
struct Removed {
    removed: String,
}
