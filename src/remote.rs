//! A Sharelock server reached through its API (`/api/v1`, see README "API"): [`Remote`]
//! implements [`Manage`] with one HTTP request per operation, so the CLI and the desktop app
//! work on a server as they do on this computer's data dir.
//!
//! The client is reqwest: it is well kept, pools connections (a command that makes several
//! requests opens one), and with native-tls trusts the system's CA store plus the CA file given
//! with `--ca-cert`. [`Manage`] blocks by design, so most requests use reqwest's blocking
//! client; uploads use its async client on a small runtime of their own (see `Uploads`).
//! Neither may be called from async code: the desktop app calls [`Manage`] on a blocking
//! thread.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header;
use reqwest::{StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::history::{Access, FeedEntry, Query};
use crate::manage::{Changes, Manage};
use crate::thumbnails::Thumbnail;
use crate::units::Lifetime;
use crate::vault::{FileInfo, LinkEdit, LinkInfo, NewLink, NewSlot, SlotInfo};
use crate::{Error, Result};

/// How long to wait for a TCP connection and the TLS handshake. A body (an upload, a download,
/// the event stream) may take as long as it needs: no overall timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

const USER_AGENT: &str = concat!("sharelock/", env!("CARGO_PKG_VERSION"));

/// How many times a cut download is taken up again where it stopped.
const DOWNLOAD_RESUMES: u32 = 3;

/// How long the event feed waits before connecting again after its stream dropped.
const RECONNECT_DELAY: Duration = Duration::from_secs(2);

/// The longest one event stream is read before it is opened again. reqwest's blocking client
/// has no idle timeout, only an overall one: without it a connection that died silently (a
/// laptop that slept, a proxy that went quiet) would end live updates for good, and a server
/// that never answered the first request would hold the caller. Opening again is cheap, and the
/// feed says "changed" after each, since what happened between streams is unknown.
const EVENTS_SESSION: Duration = Duration::from_secs(300);

/// What can go wrong talking to a Sharelock server, apart from the answers that read as the
/// local ones (an unknown id is [`Error::NotFound`], a bad field [`Error::InvalidField`]).
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// No connection: a wrong address, a closed port, no network, a timeout.
    #[error("cannot reach the Sharelock server at {url}: {cause}")]
    Unreachable {
        /// The server's URL.
        url: String,
        /// Why, as the system said it.
        cause: String,
    },
    /// The server's TLS certificate is not trusted by this computer.
    #[error(
        "the Sharelock server at {url} has a TLS certificate this computer does not trust ({cause}); \
         for a server with its own CA, give the CA certificate with --ca-cert FILE"
    )]
    Untrusted {
        /// The server's URL.
        url: String,
        /// What the TLS library said.
        cause: String,
    },
    /// 401: the token is missing, malformed, unknown, expired or revoked.
    #[error("the server refused the token ({message}): check --token or SHARELOCK_TOKEN")]
    BadToken {
        /// The server's reason.
        message: String,
    },
    /// 403: the token is valid but lacks the scope the operation needs.
    #[error("the token lacks the scope this needs: {message}")]
    MissingScope {
        /// The scope needed, when the server's message names one.
        scope: Option<String>,
        /// The server's reason (it names the scope).
        message: String,
    },
    /// Any other refusal or failure the server answered with.
    #[error("the server answered {status}: {message}")]
    Answer {
        /// The HTTP status.
        status: u16,
        /// The error code of the API (`conflict`, `too_large`, `storage_full`, ...).
        code: String,
        /// The server's reason.
        message: String,
    },
    /// An upload the server stopped taking before its end (it keeps nothing of it).
    #[error("the upload to {url} was cut off before its end ({cause}); nothing was stored")]
    Interrupted {
        /// The server's URL.
        url: String,
        /// What the connection said.
        cause: String,
    },
    /// An answer that is not what the API sends (a different program at that URL?).
    #[error("the server at {url} did not answer as a Sharelock server does: {cause}")]
    Protocol {
        /// The server's URL.
        url: String,
        /// What was wrong.
        cause: String,
    },
}

/// Who a token is, as `GET /api/v1/token` tells (the connection test and status bar).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenIdentity {
    /// The token's id, as in `sharelock token ls`.
    pub id: String,
    /// Its name.
    #[serde(default)]
    pub name: Option<String>,
    /// What it may do: `read`, `upload`, `write`, `admin`.
    pub scopes: Vec<String>,
    /// When it was made (RFC 3339).
    #[serde(default)]
    pub created_at: Option<String>,
    /// When it was last used (RFC 3339).
    #[serde(default)]
    pub last_used_at: Option<String>,
    /// When it stops working (RFC 3339), or never.
    #[serde(default)]
    pub expires_at: Option<String>,
}

/// A Sharelock server and the token that acts on it.
pub struct Remote {
    /// The server's URL with a trailing slash, so `api/v1/...` joins under any path prefix.
    base: Url,
    token: String,
    /// CA certificates trusted on top of the system's (`--ca-cert`).
    extra_roots: Vec<reqwest::Certificate>,
    /// The client of every request but uploads, made at its first use: making one loads the
    /// system's CA store, tens of milliseconds a command pays once.
    client: OnceLock<Client>,
    /// Uploads: the async client on a runtime of their own, made at the first upload.
    uploads: OnceLock<Uploads>,
    /// How long one event stream is read before it is opened again ([`EVENTS_SESSION`]).
    events_session: Duration,
}

/// reqwest's blocking body is fed to the connection in 8 KiB pieces, one cross-thread hand-off
/// each, which caps an upload at a fraction of what the server takes. The async client sends a
/// stream of 256 KiB chunks read from the file on the runtime's own thread.
struct Uploads {
    /// Always `Some` until dropped.
    runtime: Option<tokio::runtime::Runtime>,
    client: reqwest::Client,
}

impl Drop for Uploads {
    /// Without waiting: a [`Remote`] may be dropped on an async thread (the desktop app's),
    /// where dropping a runtime the usual way panics.
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// The size of the chunks an upload is read and sent in.
const UPLOAD_CHUNK: usize = 256 << 10;

impl std::fmt::Debug for Remote {
    /// Leaves the token out: it must never reach a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote").field("base", &self.base.as_str()).finish_non_exhaustive()
    }
}

impl Remote {
    /// A client for the server at `url` (http or https, with any path prefix it is served
    /// under) acting with `token`; `ca_cert` is a PEM file of a CA trusted on top of the
    /// system's. Nothing is sent yet: [`Remote::whoami`] tests the connection.
    pub fn connect(url: &str, token: &str, ca_cert: Option<&Path>) -> Result<Remote> {
        let mut base =
            Url::parse(url.trim()).map_err(|e| Error::InvalidInput(format!("invalid server URL {url:?}: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return Err(Error::InvalidInput(format!(
                "invalid server URL {url:?}: use http://HOST[:PORT] or https://HOST"
            )));
        }
        if !base.username().is_empty() || base.password().is_some() || base.query().is_some() {
            return Err(Error::InvalidInput(format!(
                "invalid server URL {url:?}: give the token with --token, not in the URL"
            )));
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let token = token.trim();
        if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::InvalidInput(
                "invalid token: give the token `sharelock token create` printed (slk_...)".into(),
            ));
        }
        let mut extra_roots = Vec::new();
        if let Some(path) = ca_cert {
            let pem = std::fs::read(path)
                .map_err(|e| Error::io(format!("cannot read the CA certificate {}", path.display()), e))?;
            extra_roots = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| Error::InvalidInput(format!("{} is not a PEM CA certificate: {e}", path.display())))?;
            if extra_roots.is_empty() {
                return Err(Error::InvalidInput(format!("{} holds no PEM certificate", path.display())));
            }
        }
        Ok(Remote {
            base,
            token: token.to_string(),
            extra_roots,
            client: OnceLock::new(),
            uploads: OnceLock::new(),
            events_session: EVENTS_SESSION,
        })
    }

    /// The blocking client, made at its first use.
    fn client(&self) -> Result<&Client> {
        if let Some(client) = self.client.get() {
            return Ok(client);
        }
        // Redirects are not followed: a streamed upload cannot be sent twice, and the token must
        // not follow a redirect to another host. A redirect is reported with where it points.
        let mut builder = Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(None)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(USER_AGENT);
        for cert in &self.extra_roots {
            builder = builder.add_root_certificate(cert.clone());
        }
        let client = builder.build().map_err(|e| self.setup_error(&e))?;
        Ok(self.client.get_or_init(|| client))
    }

    /// The upload client and its runtime, made at the first upload (as [`Remote::client`]).
    fn uploads(&self) -> Result<&Uploads> {
        if let Some(uploads) = self.uploads.get() {
            return Ok(uploads);
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io("cannot start the upload runtime", e))?;
        let mut builder = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(USER_AGENT);
        for cert in &self.extra_roots {
            builder = builder.add_root_certificate(cert.clone());
        }
        let client = builder.build().map_err(|e| self.setup_error(&e))?;
        Ok(self.uploads.get_or_init(|| Uploads { runtime: Some(runtime), client }))
    }

    fn setup_error(&self, e: &reqwest::Error) -> Error {
        Error::InvalidInput(format!("cannot set up the HTTPS client: {}", innermost(e)))
    }

    /// The server's URL, as given.
    pub fn url(&self) -> &str {
        self.base.as_str()
    }

    /// Who the token is: the connection test (reachable, trusted, token valid).
    pub fn whoami(&self) -> Result<TokenIdentity> {
        self.json(self.client()?.get(self.endpoint(&["token"])))
    }

    /// `BASE/api/v1/SEGMENTS...`, each segment percent-encoded (ids come from the command line).
    fn endpoint(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(["api", "v1"]).extend(segments);
        }
        url
    }

    /// Sends a request with the token; a non-2xx answer becomes its error.
    fn send(&self, request: RequestBuilder) -> Result<Response> {
        let response = request.bearer_auth(&self.token).send().map_err(|e| self.transport_error(&e))?;
        if response.status().is_success() { Ok(response) } else { Err(self.answer_error(response)) }
    }

    /// Sends a request and reads its JSON answer.
    fn json<T: DeserializeOwned>(&self, request: RequestBuilder) -> Result<T> {
        self.read_json(self.send(request)?)
    }

    /// Reads a successful answer's JSON.
    fn read_json<T: DeserializeOwned>(&self, response: Response) -> Result<T> {
        let body = response.bytes().map_err(|e| self.transport_error(&e))?;
        serde_json::from_slice(&body).map_err(|e| self.protocol(format!("unexpected JSON: {e}")))
    }

    fn protocol(&self, cause: String) -> Error {
        Error::Remote(RemoteError::Protocol { url: self.base.to_string(), cause })
    }

    /// A request that got no answer: unreachable, or a certificate not trusted.
    fn transport_error(&self, e: &reqwest::Error) -> Error {
        let url = self.base.to_string();
        let cause = innermost(e);
        // native-tls does not type its verification failure; OpenSSL (and the other platforms'
        // libraries) say "certificate" in it, which no connection error does.
        let chain = chain(e);
        if chain.contains("certificate") || chain.contains("self signed") || chain.contains("self-signed") {
            return Error::Remote(RemoteError::Untrusted { url, cause });
        }
        Error::Remote(RemoteError::Unreachable { url, cause })
    }

    /// Why an upload was cut off while its body was being sent. A server that refuses an upload
    /// answers and closes at once (a bad token, a missing scope, a limit); the blocking client
    /// then reports the interrupted body and drops that answer, so the token is asked about
    /// again to tell the refusals people can fix from a cut connection.
    fn upload_cut(&self, e: &reqwest::Error) -> Error {
        match self.whoami() {
            Err(refused) => refused,
            Ok(who) if !who.scopes.iter().any(|s| s == "upload") => Error::Remote(RemoteError::MissingScope {
                scope: Some("upload".into()),
                message: "adding files needs the upload scope".into(),
            }),
            Ok(_) => Error::Remote(RemoteError::Interrupted { url: self.base.to_string(), cause: innermost(e) }),
        }
    }

    /// The error an API answer stands for (see the contract's error body).
    fn answer_error(&self, response: Response) -> Error {
        let status = response.status();
        let url = response.url().clone();
        let location = response.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()).map(str::to_string);
        // A short read: error bodies are small, and a proxy's HTML error page needs no more.
        let mut text = Vec::new();
        let _ = response.take(64 << 10).read_to_end(&mut text);
        self.answered(status, &url, location, &text)
    }

    /// The error of an answer with this status, URL, `Location` and body.
    fn answered(&self, status: StatusCode, url: &Url, location: Option<String>, text: &[u8]) -> Error {
        if status.is_redirection() {
            let to = location.as_deref().unwrap_or("elsewhere");
            return Error::Remote(RemoteError::Answer {
                status: status.as_u16(),
                code: "redirect".into(),
                message: format!("the server redirects to {to}: give that address with --server"),
            });
        }
        #[derive(Deserialize)]
        struct Body {
            error: ApiError,
        }
        #[derive(Deserialize)]
        struct ApiError {
            code: String,
            message: String,
            field: Option<String>,
            kind: Option<String>,
            id: Option<String>,
        }
        let Ok(Body { error }) = serde_json::from_slice::<Body>(text) else {
            let reason = status.canonical_reason().unwrap_or("error");
            return match status {
                StatusCode::UNAUTHORIZED => Error::Remote(RemoteError::BadToken { message: reason.into() }),
                _ => Error::Remote(RemoteError::Answer {
                    status: status.as_u16(),
                    code: String::new(),
                    message: format!("{reason} (not an answer of a Sharelock API: is --server the right URL?)"),
                }),
            };
        };
        match (error.code.as_str(), status) {
            (_, StatusCode::UNAUTHORIZED) => Error::Remote(RemoteError::BadToken { message: error.message }),
            (_, StatusCode::FORBIDDEN) => {
                let scope = scope_named(&error.message);
                Error::Remote(RemoteError::MissingScope { scope, message: error.message })
            }
            ("not_found", _) => {
                // Without `kind` and `id`, the record is the one the request named.
                let named = error.kind.as_deref().and_then(static_kind).zip(error.id).or_else(|| record_named(url));
                match named {
                    Some((kind, id)) => Error::NotFound { kind, id },
                    None => {
                        Error::Remote(RemoteError::Answer { status: 404, code: error.code, message: error.message })
                    }
                }
            }
            ("invalid", _) => match error.field.as_deref().and_then(static_field) {
                Some(field) => Error::InvalidField { field, reason: error.message },
                None => Error::InvalidInput(error.message),
            },
            _ => {
                Error::Remote(RemoteError::Answer { status: status.as_u16(), code: error.code, message: error.message })
            }
        }
    }
}

/// The core's name of a kind of record (the `kind` of a `not_found`).
fn static_kind(kind: &str) -> Option<&'static str> {
    ["file", "link", "slot", "token"].into_iter().find(|k| *k == kind)
}

/// The record an API URL names: `.../api/v1/files/ID[/...]` is the file `ID`.
fn record_named(url: &Url) -> Option<(&'static str, String)> {
    let segments: Vec<&str> = url.path_segments()?.collect();
    let at = segments.windows(2).position(|w| w == ["api", "v1"])? + 2;
    let kind = match *segments.get(at)? {
        "files" => "file",
        "links" => "link",
        "slots" => "slot",
        "tokens" => "token",
        _ => return None,
    };
    let id = percent_encoding::percent_decode_str(segments.get(at + 1)?).decode_utf8().ok()?;
    Some((kind, id.into_owned()))
}

/// The core's name of an input field (the `field` of an `invalid`), so shells show the reason at
/// that field as they do for local work.
fn static_field(field: &str) -> Option<&'static str> {
    ["label", "max_downloads", "max_size", "max_files", "max_total", "expires", "base_url", "accept", "public", "name"]
        .into_iter()
        .find(|f| *f == field)
}

/// The scope a 403's message names.
fn scope_named(message: &str) -> Option<String> {
    message
        .split(|c: char| !c.is_ascii_alphanumeric())
        .find(|w| matches!(*w, "read" | "upload" | "write" | "admin"))
        .map(str::to_string)
}

/// The last cause in an error's chain: what the system said ("Connection refused").
fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last = e;
    while let Some(next) = last.source() {
        last = next;
    }
    // An OS error's number says nothing to people ("Connection refused (os error 111)").
    if let Some(io) = last.downcast_ref::<std::io::Error>()
        && io.raw_os_error().is_some()
    {
        let text = io.to_string();
        if let Some((words, _)) = text.rsplit_once(" (os error ") {
            return words.to_string();
        }
    }
    last.to_string()
}

/// Every message in an error's chain, lower case.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(e) = next {
        text.push_str(": ");
        text.push_str(&e.to_string());
        next = e.source();
    }
    text.to_lowercase()
}

/// A lifetime as the API reads it (`"3600s"` or `"never"`).
fn lifetime_text(lifetime: Lifetime) -> String {
    match lifetime {
        Lifetime::For(d) => format!("{}s", d.as_secs()),
        Lifetime::Never => "never".into(),
    }
}

impl Manage for Remote {
    fn files(&self) -> Result<Vec<FileInfo>> {
        self.json(self.client()?.get(self.endpoint(&["files"])))
    }

    fn file(&self, id: &str) -> Result<FileInfo> {
        self.json(self.client()?.get(self.endpoint(&["files", id])))
    }

    fn thumbnail(&self, id: &str) -> Result<Option<Thumbnail>> {
        let response = self.send(self.client()?.get(self.endpoint(&["files", id, "thumbnail"])))?;
        if response.status() == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        let content_type = match response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
            Some("image/jpeg") => "image/jpeg",
            Some("image/png") => "image/png",
            other => return Err(self.protocol(format!("a thumbnail of type {other:?}"))),
        };
        let etag = response.headers().get(header::ETAG).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        // A thumbnail is a few KiB; a server sending more is not trusted with this memory.
        let mut bytes = Vec::new();
        response.take(MAX_THUMBNAIL + 1).read_to_end(&mut bytes).map_err(|e| {
            Error::Remote(RemoteError::Unreachable { url: self.base.to_string(), cause: e.to_string() })
        })?;
        if bytes.len() as u64 > MAX_THUMBNAIL {
            return Err(self.protocol("a thumbnail larger than 4 MiB".into()));
        }
        Ok(Some(Thumbnail { bytes: bytes.into(), content_type, etag }))
    }

    fn add_file(&self, path: &Path, public: bool, progress: &mut dyn FnMut(u64)) -> Result<FileInfo> {
        let file = File::open(path).map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
        let size = file.metadata().map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?.len();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| Error::InvalidInput(format!("{} has no file name", path.display())))?;
        let mut url = self.endpoint(&["files"]);
        url.query_pairs_mut().append_pair("name", &name);
        if public {
            url.query_pairs_mut().append_pair("public", "true");
        }
        // The body is read from the file as it is sent (constant memory, any size), counted
        // as it goes; the counter is reported while the request runs.
        let uploads = self.uploads()?;
        let sent = Arc::new(AtomicU64::new(0));
        let counter = sent.clone();
        let runtime = uploads.runtime.as_ref().ok_or_else(|| self.protocol("the upload runtime stopped".into()))?;
        let answer = runtime.block_on(async {
            let file = tokio::fs::File::from_std(file);
            let chunks = tokio_util::io::ReaderStream::with_capacity(file, UPLOAD_CHUNK).inspect_ok(move |chunk| {
                counter.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            });
            let request = uploads
                .client
                .post(url)
                .bearer_auth(&self.token)
                .header(header::CONTENT_TYPE, "application/octet-stream")
                .header(header::CONTENT_LENGTH, size)
                .body(reqwest::Body::wrap_stream(chunks))
                .send();
            tokio::pin!(request);
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            let mut reported = 0;
            let response = loop {
                tokio::select! {
                    answer = &mut request => break answer,
                    _ = tick.tick() => {
                        let now = sent.load(Ordering::Relaxed);
                        if now != reported {
                            reported = now;
                            progress(now);
                        }
                    }
                }
            }?;
            let status = response.status();
            let url = response.url().clone();
            let location = response.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()).map(str::to_string);
            let body = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, url, location, body))
        });
        let (status, answer_url, location, body) = match answer {
            Ok(answer) => answer,
            Err(e) if e.is_connect() => return Err(self.transport_error(&e)),
            Err(e) => return Err(self.upload_cut(&e)),
        };
        if !status.is_success() {
            return Err(self.answered(status, &answer_url, location, &body));
        }
        let file = serde_json::from_slice(&body).map_err(|e| self.protocol(format!("unexpected JSON: {e}")))?;
        progress(size);
        Ok(file)
    }

    fn remove_file(&self, id: &str) -> Result<()> {
        self.send(self.client()?.delete(self.endpoint(&["files", id]))).map(drop)
    }

    fn set_public(&self, id: &str, public: bool) -> Result<FileInfo> {
        self.json(self.client()?.patch(self.endpoint(&["files", id])).json(&serde_json::json!({ "public": public })))
    }

    fn save_file(&self, id: &str, dest: &Path) -> Result<()> {
        let url = self.endpoint(&["files", id, "content"]);
        let mut failure = None;
        let written = crate::atomic::write(dest, false, crate::atomic::Existing::Replace, |out| {
            self.download(&url, out).map_err(|e| {
                failure = Some(e);
                std::io::Error::other("download failed")
            })
        });
        match (written, failure) {
            (Ok(()), _) => Ok(()),
            (Err(_), Some(e)) => Err(e),
            (Err(e), None) => Err(Error::io(format!("cannot save to {}", dest.display()), e)),
        }
    }

    fn create_link(&self, file_id: &str, new: NewLink, base: Option<&str>) -> Result<LinkInfo> {
        let mut body = serde_json::Map::new();
        if let Some(lifetime) = new.lifetime {
            body.insert("expires".into(), lifetime_text(lifetime).into());
        }
        if let Some(max) = new.max_downloads {
            body.insert("max_downloads".into(), max.into());
        }
        if let Some(label) = new.label {
            body.insert("label".into(), label.into());
        }
        if let Some(notify) = new.notify {
            body.insert("notify".into(), notify.into());
        }
        if let Some(preview) = new.preview {
            body.insert("preview".into(), preview.into());
        }
        if let Some(base) = base {
            body.insert("base_url".into(), base.into());
        }
        if let Some(password) = &new.password {
            body.insert("password".into(), password.reveal().into());
        }
        if !new.more_files.is_empty() {
            body.insert("more_files".into(), new.more_files.into());
        }
        if let Some(name) = new.name {
            body.insert("name".into(), name.into());
        }
        self.json(self.client()?.post(self.endpoint(&["files", file_id, "links"])).json(&body))
    }

    fn links(&self, file_id: Option<&str>) -> Result<Vec<LinkInfo>> {
        let mut url = self.endpoint(&["links"]);
        if let Some(id) = file_id {
            url.query_pairs_mut().append_pair("file_id", id);
        }
        self.json(self.client()?.get(url))
    }

    fn edit_link(&self, id: &str, edit: LinkEdit) -> Result<LinkInfo> {
        let mut body = serde_json::Map::new();
        if let Some(lifetime) = edit.lifetime {
            body.insert("expires".into(), lifetime_text(lifetime).into());
        }
        if let Some(max) = edit.max_downloads {
            body.insert("max_downloads".into(), max.into());
        }
        if let Some(notify) = edit.notify {
            body.insert("notify".into(), notify.into());
        }
        if let Some(password) = &edit.password {
            body.insert("password".into(), password.as_ref().map(|p| p.reveal()).into());
        }
        if let Some(preview) = edit.preview {
            body.insert("preview".into(), preview.into());
        }
        self.json(self.client()?.patch(self.endpoint(&["links", id])).json(&body))
    }

    fn revoke_link(&self, id: &str) -> Result<LinkInfo> {
        self.json(self.client()?.post(self.endpoint(&["links", id, "revoke"])))
    }

    fn delete_link(&self, id: &str) -> Result<()> {
        self.send(self.client()?.delete(self.endpoint(&["links", id]))).map(drop)
    }

    fn create_slot(&self, new: NewSlot, base: Option<&str>) -> Result<SlotInfo> {
        let mut body = serde_json::Map::new();
        body.insert("expires".into(), lifetime_text(new.lifetime).into());
        body.insert("max_size".into(), new.max_size.into());
        body.insert("max_files".into(), new.max_files.into());
        if let Some(total) = new.max_total {
            body.insert("max_total".into(), total.into());
        }
        if let Some(accept) = new.accept {
            body.insert("accept".into(), accept.to_string().into());
        }
        if let Some(label) = new.label {
            body.insert("label".into(), label.into());
        }
        if let Some(base) = base {
            body.insert("base_url".into(), base.into());
        }
        self.json(self.client()?.post(self.endpoint(&["slots"])).json(&body))
    }

    fn slots(&self) -> Result<Vec<SlotInfo>> {
        self.json(self.client()?.get(self.endpoint(&["slots"])))
    }

    fn close_slot(&self, id: &str) -> Result<SlotInfo> {
        self.json(self.client()?.post(self.endpoint(&["slots", id, "close"])))
    }

    fn changes(&self) -> Result<Box<dyn Changes>> {
        // The first connection is made here, so a bad token or an unreachable server is said at
        // once; later drops are reconnected by the reader thread.
        let first = self.send(self.events_request()?)?;
        let feed = Arc::new(Feed::default());
        let reader = EventReader {
            client: self.client()?.clone(),
            url: self.endpoint(&["events"]),
            token: self.token.clone(),
            session: self.events_session,
            feed: Arc::downgrade(&feed),
        };
        std::thread::Builder::new()
            .name("sharelock-events".into())
            .spawn(move || reader.run(first))
            .map_err(|e| Error::io("cannot start the event reader", e))?;
        Ok(Box::new(RemoteChanges(feed)))
    }

    fn history(&self, query: &Query) -> Result<Vec<Access>> {
        let mut url = self.endpoint(&["history"]);
        {
            let mut pairs = url.query_pairs_mut();
            for (key, value) in [("link", &query.link_id), ("file", &query.file_id), ("slot", &query.slot_id)] {
                if let Some(value) = value {
                    pairs.append_pair(key, value);
                }
            }
            if let Some(since) = query.since {
                pairs.append_pair("since", &crate::time::rfc3339(since));
            }
            if let Some(limit) = query.limit {
                pairs.append_pair("limit", &limit.to_string());
            }
        }
        self.json(self.client()?.get(url))
    }

    fn history_feed(&self, after: i64, limit: usize) -> Result<Vec<FeedEntry>> {
        let mut url = self.endpoint(&["history", "feed"]);
        url.query_pairs_mut().append_pair("after", &after.to_string()).append_pair("limit", &limit.to_string());
        self.json(self.client()?.get(url))
    }

    fn history_feed_end(&self) -> Result<i64> {
        let end: crate::http::api::history::FeedEnd =
            self.json(self.client()?.get(self.endpoint(&["history", "feed", "end"])))?;
        Ok(end.seq)
    }
}

impl Remote {
    /// Reads each event stream for at most `session` (default [`EVENTS_SESSION`]), for tests
    /// that cannot wait minutes.
    #[doc(hidden)]
    pub fn with_events_session(mut self, session: Duration) -> Remote {
        self.events_session = session;
        self
    }

    fn events_request(&self) -> Result<RequestBuilder> {
        Ok(self
            .client()?
            .get(self.endpoint(&["events"]))
            .header(header::ACCEPT, "text/event-stream")
            .timeout(self.events_session))
    }

    /// Writes a file's content into `out`, taking a cut transfer up again where it stopped
    /// (`Range` with `If-Range`, so a file that changed meanwhile starts over).
    fn download(&self, url: &Url, out: &mut File) -> Result<()> {
        let mut response = self.send(self.client()?.get(url.clone()))?;
        let etag = response.headers().get(header::ETAG).cloned();
        let length = response.content_length();
        let mut written = 0u64;
        let mut resumes = 0;
        loop {
            let mut buf = vec![0u8; 256 << 10];
            let cut = loop {
                match response.read(&mut buf) {
                    Ok(0) => break None,
                    Ok(n) => {
                        out.write_all(&buf[..n]).map_err(|e| Error::io("cannot write the download", e))?;
                        written += n as u64;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => break Some(e),
                }
            };
            let complete = length.is_none_or(|len| written == len);
            match cut {
                None if complete => return Ok(()),
                cut => {
                    let cause = cut.map_or_else(|| "the transfer ended early".to_string(), |e| e.to_string());
                    let (Some(etag), true) = (etag.clone(), resumes < DOWNLOAD_RESUMES) else {
                        return Err(Error::Remote(RemoteError::Unreachable { url: self.base.to_string(), cause }));
                    };
                    resumes += 1;
                    response = self.send(
                        self.client()?
                            .get(url.clone())
                            .header(header::RANGE, format!("bytes={written}-"))
                            .header(header::IF_RANGE, etag),
                    )?;
                    if response.status() != StatusCode::PARTIAL_CONTENT {
                        // The file changed (or ranges are not offered): start over.
                        out.set_len(0).map_err(|e| Error::io("cannot write the download", e))?;
                        out.seek(SeekFrom::Start(0)).map_err(|e| Error::io("cannot write the download", e))?;
                        written = 0;
                    }
                }
            }
        }
    }
}

/// The largest thumbnail read from a server (one is at most 256 x 256 pixels: a few KiB).
const MAX_THUMBNAIL: u64 = 4 << 20;

/// What the event reader tells the feed: something changed, or the reader stopped.
#[derive(Default)]
struct Feed {
    changed: Mutex<bool>,
    signal: Condvar,
}

/// A remote Sharelock's changes: its Server-Sent Events, read on a thread of its own.
struct RemoteChanges(Arc<Feed>);

impl Changes for RemoteChanges {
    fn wait(&mut self, timeout: Duration) -> Result<bool> {
        let until = Instant::now() + timeout;
        let mut changed = self.0.changed.lock().unwrap_or_else(|e| e.into_inner());
        while !*changed {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            changed = self.0.signal.wait_timeout(changed, left).unwrap_or_else(|e| e.into_inner()).0;
        }
        *changed = false;
        Ok(true)
    }
}

/// Reads `GET /api/v1/events` and connects again after a drop, until the feed is gone.
struct EventReader {
    client: Client,
    url: Url,
    token: String,
    session: Duration,
    feed: std::sync::Weak<Feed>,
}

impl EventReader {
    fn run(self, first: Response) {
        let mut response = Some(first);
        loop {
            if let Some(stream) = response.take() {
                if self.read(stream).is_err() {
                    return;
                }
                // Whatever happened while the stream was down is unknown: say something changed.
                if self.tell().is_err() {
                    return;
                }
            }
            std::thread::sleep(RECONNECT_DELAY);
            if self.feed.strong_count() == 0 {
                return;
            }
            response = self
                .client
                .get(self.url.clone())
                .header(header::ACCEPT, "text/event-stream")
                .timeout(self.session)
                .bearer_auth(&self.token)
                .send()
                .ok()
                .filter(|r| r.status().is_success());
        }
    }

    /// Reads one stream until it ends; `Err` when the feed is gone.
    fn read(&self, stream: Response) -> std::result::Result<(), ()> {
        let mut event = Sse::default();
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { return Ok(()) };
            if event.line(&line) {
                self.tell()?;
            }
            // Keep-alive comments come every 15 s: the reader notices a dropped feed by then.
            if self.feed.strong_count() == 0 {
                return Err(());
            }
        }
        Ok(())
    }

    fn tell(&self) -> std::result::Result<(), ()> {
        let feed = self.feed.upgrade().ok_or(())?;
        *feed.changed.lock().unwrap_or_else(|e| e.into_inner()) = true;
        feed.signal.notify_all();
        Ok(())
    }
}

/// The little of the Server-Sent Events format a change feed needs: an event ends at a blank
/// line once it has an `event:` or `data:` field; comments (`: keep-alive`) are no event.
#[derive(Default)]
struct Sse {
    pending: bool,
}

impl Sse {
    /// Takes one line; `true` when it ends an event.
    fn line(&mut self, line: &str) -> bool {
        if line.is_empty() {
            return std::mem::take(&mut self.pending);
        }
        if line.starts_with("event:") || line.starts_with("data:") {
            self.pending = true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_end_at_a_blank_line_and_comments_are_none() {
        let mut sse = Sse::default();
        let lines = [": keep-alive", "", "event: file.added", "data: {\"id\":\"x\"}", "", "", "data: {}", ""];
        let ends: Vec<bool> = lines.iter().map(|l| sse.line(l)).collect();
        assert_eq!(ends, [false, false, false, false, true, false, false, true]);
    }

    #[test]
    fn a_not_found_without_kind_names_the_record_of_its_url() {
        let url = Url::parse("https://example.org/share/api/v1/links/ab%20c/revoke").expect("url");
        assert_eq!(record_named(&url), Some(("link", "ab c".to_string())));
        let url = Url::parse("http://127.0.0.1:1/api/v1/files").expect("url");
        assert_eq!(record_named(&url), None);
    }

    #[test]
    fn a_forbidden_message_names_its_scope() {
        assert_eq!(scope_named("this needs the `write` scope").as_deref(), Some("write"));
        assert_eq!(scope_named("needs scope admin").as_deref(), Some("admin"));
        assert_eq!(scope_named("not allowed"), None);
    }

    #[test]
    fn server_urls_join_the_api_under_any_prefix_and_encode_ids() {
        let remote = Remote::connect("https://example.org/share", "slk_a_b", None).expect("connect");
        assert_eq!(remote.endpoint(&["files", "a/b c"]).as_str(), "https://example.org/share/api/v1/files/a%2Fb%20c");
        let remote = Remote::connect("http://127.0.0.1:7420/", "slk_a_b", None).expect("connect");
        assert_eq!(remote.endpoint(&["token"]).as_str(), "http://127.0.0.1:7420/api/v1/token");
        for bad in ["ftp://x", "not a url", "https://user:pw@example.org", "https://example.org/?token=x"] {
            assert!(matches!(Remote::connect(bad, "slk_a_b", None), Err(Error::InvalidInput(_))), "{bad}");
        }
        assert!(matches!(Remote::connect("https://example.org", "slk a", None), Err(Error::InvalidInput(_))));
        assert!(!format!("{remote:?}").contains("slk_a_b"), "the token stays out of Debug");
    }
}
