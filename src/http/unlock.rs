//! Password links at the HTTP edge (the rules are in `crate::passwords`).
//!
//! - The landing page of a password link shows a form instead of the file, and the form posts
//!   the password back to the page's own URL; the right one gets the unlock cookie and a 303 back
//!   to the page. The cookie is scoped to this link's paths (`/l/{link}/{sig}`,
//!   `/d/{link}/{sig}`, its previews' `/v/{link}/{sig}` and thumbnails' `/t/{link}/{sig}`, and a
//!   share's `/f/{link}/{sig}`), HttpOnly, SameSite=Strict, and Secure when the request came over https.
//! - The direct URL without the cookie is 401 with `WWW-Authenticate: Basic`, and takes the
//!   password as HTTP Basic credentials (any user name), for `curl -u :PASSWORD` and
//!   `wget --user= --password=PASSWORD` (which sends them after the 401, and only with a user
//!   name, even an empty one).
//! - A wrong password is 401 (403 on the form, so browsers show the page rather than their own
//!   prompt); too many are 429 with `Retry-After`. Neither reaches a download's count.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Deserialize;

use super::error::HttpError;
use super::history::Client;
use super::limit::Peer;
use super::signed::SignedLink;
use super::{AppState, pages};
use crate::links::Link;
use crate::passwords::{self, Refused};
use crate::time;
use crate::urls::{self, pattern};

/// The largest form body read: a password of [`passwords::MAX_LEN`] bytes, percent-encoded.
const MAX_FORM: usize = 3 * passwords::MAX_LEN + 64;

/// Whether this request may have the link's file or page: the link has no password, or the
/// request carries its unlock cookie, or the password as Basic credentials. A refusal of a
/// password given is recorded in the history, never the password.
pub(super) async fn admit(
    app: &AppState,
    link: &Link,
    headers: &HeaderMap,
    peer: Option<Peer>,
    client: &Client,
) -> Result<(), HttpError> {
    let Some(phc) = &link.password_hash else { return Ok(()) };
    if has_unlock(app, link, phc, headers) {
        return Ok(());
    }
    let Some(password) = basic_password(headers) else { return Err(HttpError::PasswordRequired) };
    check(app, link, phc, &password, peer, headers, client).await
}

/// Checks a password given for `link` (hash `phc`) against the limits.
async fn check(
    app: &AppState,
    link: &Link,
    phc: &str,
    password: &str,
    peer: Option<Peer>,
    headers: &HeaderMap,
    client: &Client,
) -> Result<(), HttpError> {
    let address = app.bad_signatures.client(peer, headers);
    let refused = match app.guesses.check(&link.id, address, phc, password).await {
        Ok(()) => return Ok(()),
        Err(Refused::Wrong) => HttpError::WrongPassword,
        Err(Refused::TooMany(wait)) => HttpError::TooManyGuesses(wait),
    };
    client.refused(app, Some(&link.id), None, &refused);
    Err(refused)
}

/// Whether the request carries this link's unlock cookie, valid now.
fn has_unlock(app: &AppState, link: &Link, phc: &str, headers: &HeaderMap) -> bool {
    let name = passwords::cookie_name(&link.id);
    let now = time::now();
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .any(|(n, value)| n == name && passwords::check_unlock(app.vault.signer(), &link.id, phc, value, now))
}

/// The password of `Authorization: Basic` credentials (the user name is ignored).
fn basic_password(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    text.split_once(':').map(|(_, password)| password.to_string())
}

/// The landing page's answer when it must ask for the password (`None`: the page may be shown).
pub(super) async fn landing_gate(
    app: &AppState,
    link: &Link,
    headers: &HeaderMap,
    peer: Option<Peer>,
    client: &Client,
) -> Option<Response> {
    match admit(app, link, headers, peer, client).await {
        Ok(()) => None,
        Err(HttpError::PasswordRequired) => Some(form(StatusCode::OK, None)),
        Err(refused) => Some(refused_form(refused)),
    }
}

#[derive(Deserialize)]
struct UnlockForm {
    password: String,
}

/// `POST /l/{link}/{sig}`: the landing page's form. The right password gets the unlock cookie
/// and a 303 back to the page; a wrong one, the form again with the reason.
pub(super) async fn unlock(
    State(app): State<AppState>,
    SignedLink { link, sig, .. }: SignedLink,
    client: Client,
    req: Request,
) -> Result<Response, HttpError> {
    let (parts, body) = req.into_parts();
    let Some(phc) = link.password_hash.clone() else {
        // Nothing to unlock: back to the page.
        return Ok(see_other(&sig, Vec::new()));
    };
    let bytes = axum::body::to_bytes(Body::new(body), MAX_FORM)
        .await
        .map_err(|_| HttpError::TooLarge("the form is too large".into()))?;
    let Ok(UnlockForm { password }) = serde_urlencoded::from_bytes::<UnlockForm>(&bytes) else {
        return Ok(form(StatusCode::BAD_REQUEST, Some("Type the password, then press Open.")));
    };
    let peer = parts.extensions.get::<Peer>().copied();
    if let Err(refused) = check(&app, &link, &phc, &password, peer, &parts.headers, &client).await {
        return Ok(refused_form(refused));
    }
    let (base, https) = {
        let base = app.blocking(|v| v.base_url(None)).await?;
        let https = base.starts_with("https://") || forwarded_https(&app, peer, &parts.headers);
        (base, https)
    };
    let now = time::now();
    let expiry = passwords::unlock_expiry(link.expires_at, now);
    let value = passwords::unlock_value(app.vault.signer(), &link.id, &phc, expiry);
    let prefix = base_path(&base);
    let mut paths = vec![
        urls::landing(prefix, &link.id, &sig),
        urls::link_file_dir(prefix, &link.id, &sig),
        urls::preview_dir(prefix, &link.id, &sig),
        urls::thumbnail_dir(prefix, &link.id, &sig),
    ];
    if link.is_share() {
        paths.push(urls::share_file_dir(prefix, &link.id, &sig));
    }
    let cookies = paths
        .iter()
        .map(|path| {
            let secure = if https { "; Secure" } else { "" };
            format!(
                "{}={value}; Path={path}; Max-Age={}; HttpOnly; SameSite=Strict{secure}",
                passwords::cookie_name(&link.id),
                expiry - now
            )
        })
        .collect();
    Ok(see_other(&sig, cookies))
}

/// A 303 to the landing page (relative: `{sig}` from `/l/{link}/{sig}`), with `cookies` set.
fn see_other(sig: &str, cookies: Vec<String>) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(sig) {
        headers.insert(header::LOCATION, location);
    }
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            headers.append(header::SET_COOKIE, value);
        }
    }
    response
}

/// The path part of a base URL (`https://host/share` → `/share`), for the cookie's path.
fn base_path(base: &str) -> &str {
    let rest = base.split_once("://").map_or(base, |(_, rest)| rest);
    rest.find('/').map_or("", |at| rest[at..].trim_end_matches('/'))
}

/// Whether a trusted proxy says the request came over https.
fn forwarded_https(app: &AppState, peer: Option<Peer>, headers: &HeaderMap) -> bool {
    app.bad_signatures.trusts(peer)
        && headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// The form again, after a refused password.
fn refused_form(refused: HttpError) -> Response {
    match refused {
        HttpError::TooManyGuesses(wait) => {
            let mut response = form(StatusCode::TOO_MANY_REQUESTS, Some(&too_many(wait)));
            if let Ok(value) = HeaderValue::from_str(&retry_after(wait).to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
        _ => form(StatusCode::FORBIDDEN, Some("Wrong password. Try again.")),
    }
}

/// What a client is told to wait: whole seconds, at least one.
pub(super) fn retry_after(wait: std::time::Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

fn too_many(wait: std::time::Duration) -> String {
    format!("Too many wrong passwords. Try again in {} seconds.", retry_after(wait))
}

/// The password form page, with `status` and a message.
fn form(status: StatusCode, message: Option<&str>) -> Response {
    let html = pages::password(message, &urls::assets_from(pattern::LANDING));
    let mut response = (status, Html(html)).into_response();
    response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(pages::CSP));
    response
}
