//! The authenticated API under `/api/v1` (the contract is in the README, "Tokens and the API",
//! and in the OpenAPI document served at `/api/v1/openapi.json`).
//!
//! One file per noun; every handler only adapts a [`crate::Vault`] method: reads the request,
//! checks the token's scope, calls the core, answers with the same JSON as the CLI's `--json`.
//! Every rule stays in the core. Answers carry no cookie and no CORS header, so a page on
//! another origin cannot use a browser's way in; they are never cached.

mod auth;
mod error;
pub mod events;
mod files;
pub mod history;
mod links;
mod slots;
mod thumbnails;
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

use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;

/// Where the API is mounted.
pub const BASE: &str = "/api/v1";

/// The OpenAPI document's frame: title, the token scheme; the paths come from the handlers.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "Sharelock API", description = "Files, links, upload slots and tokens of a Sharelock server."),
    modifiers(&TokenScheme),
    components(schemas(error::ErrorBody))
)]
struct ApiDoc;

/// `Authorization: Bearer slk_…`, named `token` in every operation's security.
struct TokenScheme;

impl utoipa::Modify for TokenScheme {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let scheme = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("slk_<id>_<secret>").build();
        doc.components.get_or_insert_with(Default::default).add_security_scheme("token", SecurityScheme::Http(scheme));
    }
}

/// Every route with its handler; the router and the OpenAPI document are both made from this
/// one list, so neither can have a route the other lacks.
fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi()).nest(
        BASE,
        OpenApiRouter::new()
            .routes(routes!(files::list, files::upload))
            .routes(routes!(files::one, files::set, files::remove))
            .routes(routes!(files::content))
            .routes(routes!(thumbnails::thumbnail))
            .routes(routes!(links::create))
            .routes(routes!(links::list))
            .routes(routes!(links::one, links::edit, links::remove))
            .routes(routes!(links::revoke))
            .routes(routes!(slots::list, slots::create))
            .routes(routes!(slots::one))
            .routes(routes!(slots::close))
            .routes(routes!(events::events))
            .routes(routes!(history::list))
            .routes(routes!(history::feed))
            .routes(routes!(history::feed_end))
            .routes(routes!(tokens::me))
            .routes(routes!(tokens::list, tokens::create))
            .routes(routes!(tokens::revoke))
            .routes(routes!(tokens::rotate)),
    )
}

/// The OpenAPI 3 document of the API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().split_for_parts().1
}

/// The API's routes under [`BASE`], and its OpenAPI document at `/api/v1/openapi.json` (no
/// token needed).
pub(super) fn router() -> Router<AppState> {
    let (router, doc) = routes().split_for_parts();
    let doc = std::sync::Arc::new(doc);
    router
        .route(&format!("{BASE}/openapi.json"), get(move || async move { axum::Json(doc.as_ref().clone()) }))
        .route(&format!("{BASE}/{{*rest}}"), axum::routing::any(|| async { no_route() }))
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(middleware::map_response(api_headers))
}

/// Any other path under the API.
fn no_route() -> ApiError {
    ApiError::not_found_route()
}

/// Runs blocking vault work off the async workers, keeping the core's error whole (its field,
/// kind and id) for the answer.
async fn core<T: Send + 'static>(
    app: &AppState,
    f: impl FnOnce(&std::sync::Arc<crate::Vault>) -> crate::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    let vault = app.vault.clone();
    match tokio::task::spawn_blocking(move || f(&vault)).await {
        Ok(result) => result.map_err(ApiError::from),
        Err(e) => Err(super::HttpError::Internal(e.to_string()).into()),
    }
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
#[derive(serde::Serialize, utoipa::ToSchema)]
struct Removed {
    removed: String,
}
