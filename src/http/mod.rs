//! The embedded HTTP server: axum on tokio, served by hyper over HTTP/1.1, with the bounds on
//! connections of [`connection`] and graceful shutdown.
//!
//! | route | what |
//! |---|---|
//! | `GET, HEAD /d/{link}/{sig}[/{name}]` | a file through a signed link |
//! | `GET /l/{link}/{sig}` | the link's landing page (a password link's asks for the password) |
//! | `GET, HEAD /v/{link}/{sig}/{file}` | a file's preview, its first bytes, sandboxed (see [`preview`]) |
//! | `GET, HEAD /t/{link}/{sig}/{file}` | a file's thumbnail |
//! | `POST /l/{link}/{sig}` | a password link's form: the unlock cookie (see [`unlock`]) |
//! | `GET, HEAD /p/{file}[/{name}]` | a public file |
//! | `GET /u/{slot}?sig=` | a slot's upload page |
//! | `POST /u/{slot}?sig=` | multipart upload into the slot |
//! | `PUT /u/{slot}/{name}?sig=` | raw upload into the slot (`curl -T`), the name may be a path `sub/dir/name` |
//! | `GET /assets/{style.css,upload.js,icon.svg}` | the pages' stylesheet, script and icon |
//! | `/api/v1/…` | the authenticated API (see [`api`]) |
//!
//! The shapes themselves (builders, router patterns, log redaction) live in [`crate::urls`]. URL
//! paths never become file system paths: every route looks files up by generated id.

pub mod api;
mod body;
pub mod connection;
pub mod counts;
pub mod delivery;
mod download;
mod error;
mod file_body;
mod heads;
pub mod history;
pub mod limit;
mod linger;
pub mod pages;
mod preview;
mod range;
mod signed;
mod small_files;
pub mod transfers;
mod unlock;
mod upload;
mod workers;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

pub use error::HttpError;

use crate::Vault;
use crate::urls::{self, pattern};

/// Handing the bytes of a download to the web server in front (see [`crate::nginx`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Offload {
    /// nginx: `X-Accel-Redirect: {prefix}{file_id}`, an `internal` location aliased to the store.
    Nginx {
        /// The internal location, e.g. `/_sharelock_store/`.
        prefix: String,
    },
    /// Apache mod_xsendfile and lighttpd: `X-Sendfile: {absolute path}`.
    Sendfile,
}

/// Server settings that tests and deployments tune.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Whether the web server in front sends the bytes of downloads.
    pub offload: Option<Offload>,
    /// Proxies whose `X-Forwarded-For` is believed (see [`limit`]).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// How long a client may take to send a request's headers, counted from the moment the
    /// connection waits for one: a new connection, or a kept-alive one between requests.
    pub header_timeout: Duration,
    /// How long a write to a client may make no progress before the connection is closed (a
    /// client that stopped reading a download).
    pub send_timeout: Duration,
    /// Most connections open at once; `None` fits them to the open-file limit (see
    /// [`connection::capacity`]).
    pub max_connections: Option<usize>,
    /// How long the delivery check of a limited download waits (see [`delivery`]).
    pub delivery: delivery::DeliveryTiming,
    /// How long an upload may go without sending a byte.
    pub body_idle_timeout: Duration,
    /// The average rate, in bytes per second, an upload must keep once it has run for
    /// `upload_rate_grace`: a client trickling a byte now and then is cut off (408).
    pub upload_min_rate: u64,
    /// How long an upload may run before its average rate is checked.
    pub upload_rate_grace: Duration,
    /// How long shutdown waits for requests in flight.
    pub shutdown_grace: Duration,
    /// How webhook deliveries are paced (see [`crate::webhooks`]).
    pub webhooks: crate::webhooks::Timing,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            offload: None,
            trusted_proxies: Vec::new(),
            header_timeout: Duration::from_secs(15),
            send_timeout: Duration::from_secs(60),
            max_connections: None,
            delivery: delivery::DeliveryTiming::default(),
            body_idle_timeout: Duration::from_secs(60),
            upload_min_rate: 1024,
            upload_rate_grace: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(10),
            webhooks: crate::webhooks::Timing::default(),
        }
    }
}

/// What every handler gets: one shared value, so that the clone each extractor and middleware
/// makes of it, every request, is one reference count and not one per part.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// The parts of [`AppState`].
pub struct Shared {
    vault: Arc<Vault>,
    config: Arc<ServerConfig>,
    counts: Arc<counts::PendingCounts>,
    history: Arc<history::PendingHistory>,
    bad_signatures: Arc<limit::BadSignatures>,
    transfers: Arc<transfers::Transfers>,
    feed: Arc<api::events::Feed>,
    guesses: Arc<crate::passwords::Guesses>,
    small_files: small_files::SmallFiles,
    /// What download answers say about each stored file, made once (see `heads`).
    heads: heads::Heads,
}

impl AppState {
    fn new(vault: Arc<Vault>, config: ServerConfig) -> Self {
        let bad_signatures = Arc::new(limit::BadSignatures::new(config.trusted_proxies.clone()));
        let small_files = small_files::SmallFiles::new(vault.store().dir());
        AppState(Arc::new(Shared {
            vault,
            config: Arc::new(config),
            counts: Arc::default(),
            history: Arc::default(),
            bad_signatures,
            transfers: Arc::default(),
            feed: Arc::default(),
            guesses: Arc::default(),
            small_files,
            heads: Default::default(),
        }))
    }

    /// The error for a bad signature: 403, or 429 once this client has sent too many.
    fn bad_signature(&self, peer: Option<limit::Peer>, headers: &HeaderMap) -> HttpError {
        if self.bad_signatures.allow(peer, headers) { HttpError::BadSignature } else { HttpError::TooManyRequests }
    }

    /// Runs blocking vault work off the async workers.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Vault) -> crate::Result<T> + Send + 'static,
    ) -> Result<T, HttpError> {
        let vault = self.vault.clone();
        off_workers(move || f(&vault)).await
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// Runs blocking core work on the blocking pool; its error, or a panic there, as the HTTP error.
async fn off_workers<T: Send + 'static>(f: impl FnOnce() -> crate::Result<T> + Send + 'static) -> Result<T, HttpError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| HttpError::Internal(e.to_string()))?.map_err(HttpError::from)
}

/// The router: every route, with its middleware. Tests can drive it without a socket; downloads
/// of links without a limit are then counted in memory only (a server started with
/// [`Listening::bind`] writes them).
pub fn router(vault: Arc<Vault>, config: ServerConfig) -> Router {
    app(AppState::new(vault, config))
}

fn app(state: AppState) -> Router {
    let tokenised = Router::new()
        .route(pattern::LINK_FILE, get(download::link_download))
        .route(pattern::LINK_FILE_NAMED, get(download::link_download))
        .route(pattern::SHARE_FILE, get(download::share_file))
        .route(pattern::SHARE_FILE_NAMED, get(download::share_file))
        .route(pattern::LANDING, get(download::landing).post(unlock::unlock))
        .route(pattern::PREVIEW, get(preview::preview))
        .route(pattern::SLOT, get(upload::page_for_slot).post(upload::post))
        .route(pattern::SLOT_FILE, axum::routing::put(upload::put))
        // Uploads enforce their own limits while streaming; no blanket body limit.
        .layer(DefaultBodyLimit::disable())
        .layer(middleware::map_response(private_headers));
    let public = Router::new()
        .route(pattern::PUBLIC_FILE, get(download::public))
        .route(pattern::PUBLIC_FILE_NAMED, get(download::public))
        .layer(middleware::map_response(public_headers));
    // Thumbnails may be kept by the browser a while (their own Cache-Control), never shared.
    let thumbnails = Router::new()
        .route(pattern::THUMBNAIL, get(preview::thumbnail))
        .layer(middleware::map_response(thumbnail_headers));
    Router::new()
        .merge(tokenised)
        .merge(thumbnails)
        .merge(public)
        .route(pattern::ASSET, get(asset))
        .route(pattern::REACH, get(reach_answer))
        .merge(api::router())
        .route("/", get(|| async { "Sharelock\n" }))
        .fallback(|| async { HttpError::NotFound })
        // A bug must cost one request a 500, never the connection or a stack trace on the wire.
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            HttpError::Internal("a request handler panicked".into()).into_response()
        }))
        .layer(middleware::from_fn(edge))
        .with_state(state)
}

/// Answers a reachability check (`reach::probe`): the nonce signed with this data dir's secret,
/// which only this server can give.
async fn reach_answer(State(state): State<AppState>, Path(nonce): Path<String>) -> Response {
    match crate::reach::probe::answer(&state.vault, &nonce) {
        Some(proof) => ([(header::CACHE_CONTROL, "no-store")], proof).into_response(),
        None => HttpError::BadRequest("not a reachability check".into()).into_response(),
    }
}

/// Tidies the store before serving (see `Store::cleanup`): removes the temp files of interrupted
/// writes, and moves stored files that have no database record to the quarantine folder (never
/// deleting them: a restored or damaged database must not cost a user's file). [`Listening::bind`]
/// runs it before the server is announced or accepts a connection, so nothing can see a leftover
/// once the server is said to be up.
async fn clean_store(vault: &Arc<Vault>) {
    let cleaner = vault.clone();
    match tokio::task::spawn_blocking(move || cleaner.cleanup()).await {
        Ok(Ok(report)) if report.skipped => tracing::info!("store cleanup skipped: a writer is busy"),
        Ok(Ok(report)) if report.temp_files + report.orphans > 0 => {
            tracing::info!(
                "store cleanup removed {} temp file(s) and moved {} file(s) without a database record to {} (`sharelock verify` lists them, `sharelock verify --adopt` adds them back)",
                report.temp_files,
                report.orphans,
                report.quarantine.display()
            )
        }
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!("store cleanup failed: {e}"),
        Err(e) => tracing::warn!("store cleanup failed: {e}"),
    }
}

/// A server bound to its address, with its store clean and its address recorded, ready to
/// [`serve`](Listening::serve). [`Listening::bind`] is the one way to start a server: the CLI,
/// the desktop app and the tests all use it, so none can announce a server (print, log, show or
/// build links with its address) before its store is clean.
#[derive(Debug)]
pub struct Listening {
    listener: TcpListener,
    workers: workers::Workers,
    vault: Arc<Vault>,
    config: ServerConfig,
    listen_url: String,
}

impl Listening {
    /// Binds `addr`, cleans the store (see `clean_store`), and records where the server is reached
    /// (the base URL of links when none was set), in that order. `advertise` is the host put in
    /// that address when `addr` is every interface (0.0.0.0); when `None`, this computer's
    /// address on the local network (`reach::network::lan_ip`), else 127.0.0.1.
    pub async fn bind(
        vault: Arc<Vault>,
        addr: std::net::SocketAddr,
        advertise: Option<std::net::IpAddr>,
        config: ServerConfig,
    ) -> crate::Result<Listening> {
        let listener =
            TcpListener::bind(addr).await.map_err(|e| crate::Error::io(format!("cannot listen on {addr}"), e))?;
        let bound = listener.local_addr().map_err(|e| crate::Error::io("cannot read the listening address", e))?;
        let workers = workers::Workers::start().map_err(|e| crate::Error::io("cannot start the serving threads", e))?;
        clean_store(&vault).await;
        let host = match bound.ip() {
            ip if ip.is_unspecified() => {
                advertise.or_else(crate::reach::network::lan_ip).unwrap_or(std::net::Ipv4Addr::LOCALHOST.into())
            }
            ip => ip,
        };
        let listen_url = format!("http://{}:{}", crate::reach::network::url_host(host), bound.port());
        let recorder = vault.clone();
        let url = listen_url.clone();
        tokio::task::spawn_blocking(move || {
            recorder.set_listen_url(&url)?;
            recorder.set_setting(crate::settings::LISTEN_ADDR, Some(&bound.to_string()))
        })
        .await
        .map_err(|e| crate::Error::io("cannot record the listening address", std::io::Error::other(e)))??;
        Ok(Listening { listener, workers, vault, config, listen_url })
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Where the server is reached, e.g. `http://127.0.0.1:7420`.
    pub fn listen_url(&self) -> &str {
        &self.listen_url
    }

    /// Serves until `shutdown` completes (see `serve`: the bounds of `connection`, graceful shutdown).
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send) -> std::io::Result<()> {
        serve(self.listener, self.workers, self.vault, self.config, shutdown).await
    }
}

/// Serves `vault` on `listener`, each connection on one of the `workers` threads, until
/// `shutdown` completes, then lets requests in flight finish (for up to `shutdown_grace`). Start
/// servers with [`Listening::bind`], which cleans the store first.
async fn serve(
    listener: TcpListener,
    workers: workers::Workers,
    vault: Arc<Vault>,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let grace = config.shutdown_grace;
    let descriptors = connection::raise_descriptor_limit();
    let capacity = config.max_connections.unwrap_or_else(|| connection::capacity(descriptors));
    tracing::debug!("open-file limit {descriptors}: at most {capacity} connections");
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(config.header_timeout);
    let connections = connection::Connections::new(capacity);
    let accept_warning = connection::Throttled::new(Duration::from_secs(10));
    let state = AppState::new(vault.clone(), config);
    // Whether history is on is known before the first request, so none goes unrecorded.
    let reader = vault.clone();
    if let Ok(Ok(retention)) = tokio::task::spawn_blocking(move || reader.history_retention()).await {
        state.history.set_enabled(retention.records());
    }
    let flusher = counts::spawn_flusher(state.counts.clone(), state.history.clone(), vault.clone());
    let keeper = history::spawn_keeper(state.history.clone(), vault.clone());
    let pending_history = state.history.clone();
    let rechecker = transfers::spawn_watcher(state.transfers.clone(), vault.clone());
    // Webhooks are delivered by a task of their own, apart from requests: a receiver that hangs
    // or is down never holds up a download.
    let webhooks = crate::webhooks::spawn(vault.clone(), state.config.webhooks);
    let feed = state.feed.clone();
    let pending = state.counts.clone();
    let bad_signatures = state.bad_signatures.clone();
    let guesses = state.guesses.clone();
    let forgetter = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            bad_signatures.forget_quiet();
            guesses.forget_quiet();
        }
    });
    let config = state.config.clone();
    let app = app(state);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, remote) = match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        // Out of file descriptors and the like: wait instead of spinning, and say
                        // so once in a while rather than ten times a second.
                        accept_warning.warn(|held_back| format!("accept failed: {e} ({held_back} more since)"));
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let admitted = match connections.admit(&stream) {
                    connection::Admission::Serve(admitted) => admitted,
                    connection::Admission::Refuse => continue,
                };
                let _ = stream.set_nodelay(true);
                // The socket moves to the thread that serves it (see `workers`).
                let stream = match stream.into_std() {
                    Ok(stream) => stream,
                    Err(e) => {
                        tracing::debug!("cannot hand a connection over: {e}");
                        continue;
                    }
                };
                let peer = limit::Peer(remote);
                let app = app.clone();
                let config = config.clone();
                let builder = builder.clone();
                let graceful = graceful.watcher();
                workers.serve(move || async move {
                    let stream = match tokio::net::TcpStream::from_std(stream) {
                        Ok(stream) => stream,
                        Err(e) => {
                            tracing::debug!("cannot serve a connection: {e}");
                            return;
                        }
                    };
                    let handle = admitted.handle.clone();
                    let service = hyper::service::service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
                        let busy = handle.busy();
                        req.extensions_mut().insert(peer);
                        req.extensions_mut().insert(handle.clone());
                        let response = tower::ServiceExt::oneshot(app.clone(), req.map(Body::new));
                        async move {
                            let response = response.await?;
                            Ok::<_, std::convert::Infallible>(response.map(|b| Body::new(body::WhileBusy::new(b, busy))))
                        }
                    });
                    let socket = connection::Socket::new(stream, admitted.handle.clone(), &config);
                    let connection = graceful.watch(builder.serve_connection(TokioIo::new(socket), service));
                    tokio::select! {
                        ended = connection => if let Err(e) = ended {
                            tracing::debug!("connection ended: {e}");
                        },
                        () = admitted.handle.closed() => {
                            admitted.handle.cut();
                            tracing::debug!("connection closed by the server");
                        }
                    }
                    drop(admitted);
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    feed.stop();
    let deadline = tokio::time::Instant::now() + grace;
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep_until(deadline) => tracing::warn!("shutdown: requests still running after {grace:?} were cut off"),
    }
    // What the last responses left running (a limited download's settling) gets what is left of
    // the grace period.
    let linger = deadline.saturating_duration_since(tokio::time::Instant::now());
    let _ = tokio::task::spawn_blocking(move || workers.stop(linger)).await;
    flusher.abort();
    rechecker.abort();
    forgetter.abort();
    keeper.abort();
    webhooks.abort();
    let _ = tokio::task::spawn_blocking(move || pending.flush(&vault, &pending_history)).await;
    Ok(())
}

/// Whether the client prefers an HTML answer (a browser) over plain text or JSON.
pub(crate) fn accepts_html(headers: &HeaderMap) -> bool {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    accept.contains("text/html")
}

/// Turns a plain-text error into a small page for browsers.
/// What every request goes through, in one middleware: its body lingers if a refusal leaves it
/// unread (so the refusal reaches the client, see `linger`), an error answer becomes a page for
/// a browser, and the access log has its line. One layer, not three: each axum middleware
/// layer boxes the request's future and clones the service below it, and the two taken out
/// were about 1.5 us of a small GET's CPU (BENCHMARKS.md, sixth pass).
async fn edge(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let path = urls::redact(req.uri().path());
    // Where an error page's assets are, relative to this path: worked out only for a browser
    // (it was 1% of a small download's CPU, for a page that is never made for wrk or curl).
    let assets = accepts_html(req.headers()).then(|| urls::assets_from(req.uri().path()));
    let mut response = next.run(linger::lingering_bodies(req)).await;
    if let Some(assets) = assets {
        response = html_error(response, &assets);
    }
    access_log(response, started, method, path)
}

/// An error answer as a page, for a browser: the answer's [`error::ErrorMessage`] in HTML.
fn html_error(response: Response, assets: &str) -> Response {
    let Some(error::ErrorMessage(message)) = response.extensions().get::<error::ErrorMessage>().cloned() else {
        return response;
    };
    let (mut parts, _) = response.into_parts();
    let html = pages::error(parts.status.as_u16(), &message, assets);
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    parts.headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(pages::CSP));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(html))
}

/// One log line per request, written when its body is done: method, path (signatures hidden),
/// status, bytes sent, duration.
fn access_log(response: Response, started: Instant, method: Method, path: String) -> Response {
    let status = response.status();
    response.map(|b| {
        Body::new(body::Metered::new(b, move |sent| {
            let took = started.elapsed().as_millis();
            crate::logs::access(format_args!("{method} {path} {} {sent}B {took}ms", status.as_u16()));
        }))
    })
}

/// Responses on tokenised URLs: never cached, never leak the URL in a Referer.
async fn private_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// Thumbnails: like every tokenised URL's answer, never in a Referer nor in a shared cache; a
/// found one keeps the Cache-Control its handler gave it.
async fn thumbnail_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    }
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// Public files may be cached, but are revalidated each time (cheaply, by ETag), so making a
/// file private takes effect at once.
async fn public_headers(mut response: Response) -> Response {
    if response.status().is_success() || response.status() == StatusCode::NOT_MODIFIED {
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, no-cache"));
    } else {
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

async fn asset(State(_): State<AppState>, axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    let (body, content_type) = match name.as_str() {
        "style.css" => (include_str!("assets/style.css"), "text/css; charset=utf-8"),
        "upload.js" => (include_str!("assets/upload.js"), "text/javascript; charset=utf-8"),
        "icon.svg" => (include_str!("assets/icon.svg"), "image/svg+xml"),
        _ => return HttpError::NotFound.into_response(),
    };
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=3600")], body).into_response()
}
