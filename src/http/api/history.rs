//! `/api/v1/history`: the access history and its feed, read-only.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::error::ErrorBody;
use super::{ApiError, ApiQuery, Caller};
use crate::history::{Access, FeedEntry, Query};
use crate::http::AppState;
use crate::time;
use crate::tokens::Scope;

/// The query of `GET /history`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct HistoryQuery {
    /// Only this link's rows.
    link: Option<String>,
    /// Only this file's rows (its links', its public fetches, its upload).
    file: Option<String>,
    /// Only this upload link's rows.
    slot: Option<String>,
    /// Only rows active since: a duration back from now (`7d`) or an RFC 3339 time.
    since: Option<String>,
    /// At most this many (default 1000).
    limit: Option<usize>,
}

/// `GET /history`: rows newest first.
#[utoipa::path(get, path = "/history", params(HistoryQuery), responses((status = 200, description = "history rows, newest first", body = [Access]), (status = 400, description = "a parameter is invalid", body = ErrorBody), (status = 401, description = "no usable token", body = ErrorBody), (status = 403, description = "the token lacks the scope", body = ErrorBody)), security(("token" = ["read"])))]
pub(super) async fn list(
    State(app): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> Result<Json<Vec<Access>>, ApiError> {
    caller.require(Scope::Read)?;
    let since = q.since.as_deref().map(|s| crate::history::parse_since(s, time::now())).transpose()?;
    let query = Query { link_id: q.link, file_id: q.file, slot_id: q.slot, since, limit: q.limit };
    Ok(Json(super::core(&app, move |v| v.history(&query)).await?))
}

/// The query of `GET /history/feed`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct FeedQuery {
    /// Entries after this seq (default 0: from the start).
    after: Option<i64>,
    /// At most this many (default 100, at most 1000).
    limit: Option<usize>,
}

/// The most entries one feed request returns.
const MAX_FEED: usize = 1000;

/// `GET /history/feed`: entries after a seq, oldest first.
#[utoipa::path(get, path = "/history/feed", params(FeedQuery), responses((status = 200, description = "feed entries after `after`, oldest first", body = [FeedEntry]), (status = 400, description = "a parameter is invalid", body = ErrorBody), (status = 401, description = "no usable token", body = ErrorBody), (status = 403, description = "the token lacks the scope", body = ErrorBody)), security(("token" = ["read"])))]
pub(super) async fn feed(
    State(app): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<FeedQuery>,
) -> Result<Json<Vec<FeedEntry>>, ApiError> {
    caller.require(Scope::Read)?;
    let (after, limit) = (q.after.unwrap_or(0), q.limit.unwrap_or(100).min(MAX_FEED));
    Ok(Json(super::core(&app, move |v| v.history_feed(after, limit)).await?))
}

/// `{"seq": N}`.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct FeedEnd {
    /// The last feed entry's seq, 0 if none.
    pub seq: i64,
}

/// `GET /history/feed/end`: where a new follower starts.
#[utoipa::path(get, path = "/history/feed/end", responses((status = 200, description = "the last seq", body = FeedEnd), (status = 401, description = "no usable token", body = ErrorBody), (status = 403, description = "the token lacks the scope", body = ErrorBody)), security(("token" = ["read"])))]
pub(super) async fn feed_end(State(app): State<AppState>, caller: Caller) -> Result<Json<FeedEnd>, ApiError> {
    caller.require(Scope::Read)?;
    Ok(Json(FeedEnd { seq: super::core(&app, |v| v.history_feed_end()).await? }))
}
