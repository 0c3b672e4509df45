//! The embedded HTTP server: the core's `http::Listening` on Tauri's async runtime.
//!
//! It binds where the settings say (this computer only, or the local network, on a port), and
//! reports its state to the UI. A taken port is not an error dialog but a status with a free
//! port to offer instead.

use std::net::{IpAddr, SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use sharelock::Vault;
use sharelock::http::{Listening, ServerConfig};
use sharelock::settings;
use tauri::{AppHandle, Emitter, Manager, Runtime};
use tokio::sync::oneshot;

use crate::Desktop;
use crate::error::CommandError;

/// The port the app listens on unless told otherwise (the same as `sharelock serve`).
pub use sharelock::settings::DEFAULT_PORT;
/// Overrides the port setting (for tests and for running two copies side by side); `0` picks a
/// free port.
pub const PORT_ENV: &str = "SHARELOCK_PORT";

/// Where the server listens: the core's rule, shared with the background service.
pub use sharelock::settings::ListenScope as Scope;

/// What the UI shows in its status bar.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ServerStatus {
    /// Whether it accepts connections.
    pub running: bool,
    /// The app's first start of its server is still under way (it runs beside the window's
    /// start-up): neither running nor stopped yet.
    pub starting: bool,
    /// Where it listens, e.g. `http://127.0.0.1:7420`.
    pub listen_url: Option<String>,
    /// The base URL links are built with.
    pub base_url: Option<String>,
    /// Why it is not running.
    pub error: Option<String>,
    /// A free port to offer when the chosen one is taken.
    pub suggested_port: Option<u16>,
    /// Served by the background service (`sharelock service`), which the app attached to
    /// instead of starting its own server.
    pub background: bool,
    /// Who links built now can open (`reach::audience_of` the base URL).
    pub links_reach: Option<sharelock::reach::Audience>,
    /// Why a link is not to be sent to anyone else as it is, when it is not (`reach::warning`).
    pub reach_warning: Option<String>,
    /// The mDNS name the server is announced under on the local network, e.g. `laptop.local`.
    pub announced_as: Option<String>,
    /// The router's port mapping, or why there is none, when one was asked for.
    pub mapping: Option<sharelock::reach::mapping::Record>,
}

impl ServerStatus {
    /// A running server's status, with what its base URL says about who can open its links.
    fn serving(listen_url: String, base_url: Option<String>) -> ServerStatus {
        let links_reach = base_url.as_deref().map(sharelock::reach::audience_of);
        let reach_warning = base_url.as_deref().and_then(sharelock::reach::warning);
        ServerStatus {
            running: true,
            listen_url: Some(listen_url),
            base_url,
            links_reach,
            reach_warning,
            ..Default::default()
        }
    }
}

struct Running {
    shutdown: oneshot::Sender<()>,
    task: tauri::async_runtime::JoinHandle<()>,
}

/// The server's handle, kept in [`Desktop`].
pub struct Server {
    running: Mutex<Option<Running>>,
    status: Mutex<ServerStatus>,
    /// Stopped from the tray's "Pause serving", until "Resume".
    paused: Mutex<bool>,
    /// Held while the server starts, stops or restarts: the first start runs beside the
    /// window's start-up, and a restart asked for meanwhile (Settings, the tray) waits for it.
    changing: tokio::sync::Mutex<()>,
}

impl Default for Server {
    fn default() -> Server {
        Server {
            running: Mutex::default(),
            status: Mutex::new(ServerStatus { starting: true, ..ServerStatus::default() }),
            paused: Mutex::default(),
            changing: tokio::sync::Mutex::default(),
        }
    }
}

/// The scope and port from the settings (the port from `SHARELOCK_PORT` if set).
pub fn listen_settings(vault: &Vault) -> sharelock::Result<(Scope, u16)> {
    let (scope, port) = vault.app_listen()?;
    let env_port = std::env::var(PORT_ENV).ok().and_then(|p| p.parse().ok());
    Ok((scope, env_port.unwrap_or(port)))
}

/// This computer's address on the local network, if it has one (the core's choice: the
/// default-route interface's).
pub fn lan_ip() -> Option<IpAddr> {
    sharelock::reach::network::lan_ip()
}

/// The address of a server for this data dir that answers where a server last listened (the
/// background service), if one does: only a server holding this data dir's secret passes the
/// core's check, so another program on that port, or another data dir's server, is not taken for it.
fn background(vault: &Vault) -> Option<String> {
    let url = vault.setting(settings::LISTEN_URL).ok().flatten()?;
    sharelock::reach::probe::probe(vault, &url).reached().then_some(url)
}

/// Starts the server as the settings say. The app calls it on a thread of its own beside the
/// window's start-up (see `app`); until it returns the status says `starting`, and the caller
/// tells the UI and the tray ([`announce`]).
pub fn start<R: Runtime>(app: &AppHandle<R>) -> ServerStatus {
    let desktop = app.state::<Desktop>();
    desktop.server.start(&desktop.vault)
}

/// Debug builds only: with this set, the app's first start of its server waits 1.5 s, and a
/// status read while it is starting (`app_info`) is answered 3 s later, so that a window test can
/// have the `server-status` event overtake that answer, as a loaded machine sometimes does
/// (e2e `links::a_status_read_while_the_server_started_does_not_undo_it`). Release builds never
/// wait.
pub const SLOW_START_ENV: &str = "SHARELOCK_DEBUG_SLOW_START";

fn slow_start() -> bool {
    cfg!(debug_assertions) && std::env::var_os(SLOW_START_ENV).is_some()
}

/// Before the app's first start of its server (see [`SLOW_START_ENV`]).
pub fn delay_first_start() {
    if slow_start() {
        std::thread::sleep(Duration::from_millis(1500));
    }
}

/// Before answering with `status`, read while the server was starting (see [`SLOW_START_ENV`]).
pub async fn delay_starting_answer(status: &ServerStatus) {
    if slow_start() && status.starting {
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
}

/// Tells the window and the tray the server's status.
pub fn announce<R: Runtime>(app: &AppHandle<R>, status: &ServerStatus) {
    let _ = app.emit("server-status", status);
    crate::tray::refresh(app);
}

impl Server {
    /// The current status.
    pub fn status(&self) -> ServerStatus {
        self.status.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Refuses, with the reason, while the server is not serving: a link or upload link made
    /// then would carry an address nothing answers at, and one made on the old port would not
    /// open once the server moves to a free one.
    pub fn check_serving(&self) -> Result<(), CommandError> {
        let status = self.status();
        if status.running {
            return Ok(());
        }
        if status.starting {
            return Err(CommandError::server_stopped(
                "Sharelock's server is still starting: try again in a moment".to_string(),
            ));
        }
        let why = status.error.unwrap_or_else(|| "it is not running".into());
        Err(CommandError::server_stopped(format!(
            "Sharelock's server is not running ({why}), so a new link would not open"
        )))
    }

    /// Starts the server from synchronous code (the app's setup), outside the async runtime.
    fn start(&self, vault: &Arc<Vault>) -> ServerStatus {
        tauri::async_runtime::block_on(self.start_async(vault))
    }

    async fn start_async(&self, vault: &Arc<Vault>) -> ServerStatus {
        let _changing = self.changing.lock().await;
        self.start_now(vault).await
    }

    /// Starts the server, with `changing` held by the caller.
    async fn start_now(&self, vault: &Arc<Vault>) -> ServerStatus {
        let status = match self.bind_and_spawn(vault).await {
            Ok(status) => status,
            Err(status) => {
                // The window says it too, but only the log outlives the window (and a test's
                // output shows why its links were refused).
                tracing::warn!("the server did not start: {}", status.error.as_deref().unwrap_or("no reason given"));
                status
            }
        };
        *self.status.lock().unwrap_or_else(|p| p.into_inner()) = status.clone();
        status
    }

    async fn bind_and_spawn(&self, vault: &Arc<Vault>) -> Result<ServerStatus, ServerStatus> {
        // A server of this data dir already answering where a server last listened is the
        // background service: links made here work through it (same database), and a second
        // server would only find its port taken.
        let checked = vault.clone();
        if let Ok(Some(listen_url)) = tauri::async_runtime::spawn_blocking(move || background(&checked)).await {
            tracing::info!("attached to the background server at {listen_url}");
            return Ok(ServerStatus {
                background: true,
                ..ServerStatus::serving(listen_url, vault.base_url(None).ok())
            });
        }
        let failed = |error: String, suggested_port: Option<u16>| ServerStatus {
            error: Some(error),
            suggested_port,
            ..Default::default()
        };
        let (scope, port) = listen_settings(vault).map_err(|e| failed(e.to_string(), None))?;
        let ip = scope.bind(port).ip();
        // The core binds, cleans the store and records the address, in that order; only then is
        // the server announced (logged, shown, used for links).
        let config = ServerConfig::default();
        let bound = Listening::bind(vault.clone(), SocketAddr::new(ip, port), lan_ip(), config).await;
        let listening = bound.map_err(|e| {
            let free =
                TcpListener::bind(SocketAddr::new(ip, 0)).ok().and_then(|l| l.local_addr().ok()).map(|a| a.port());
            match &e {
                sharelock::Error::Io { source, .. } if source.kind() == std::io::ErrorKind::AddrInUse => {
                    failed(format!("port {port} is already in use by another program"), free)
                }
                sharelock::Error::Io { source, .. } if source.kind() == std::io::ErrorKind::PermissionDenied => {
                    failed(format!("port {port} is reserved for the system: choose one above 1023"), free)
                }
                _ => {
                    // The system's wording is for the log; the window says what to do.
                    tracing::warn!("cannot listen on port {port}: {e}");
                    failed(format!("it cannot listen on port {port}"), free)
                }
            }
        })?;
        let listen_url = listening.listen_url().to_string();
        let bound =
            listening.local_addr().map_err(|e| failed(format!("cannot read the listening address: {e}"), None))?;
        // On the network the server is announced as "Sharelock on HOST" (HOST.local); for the
        // internet the router is asked for a port mapping too (the scope's `exposure`), whose external address links then
        // carry. Both are settled before the status is told, so no link is made with an address
        // about to change; both are withdrawn when the server stops.
        let exposure = scope.exposure();
        let announcer = vault.clone();
        let presence =
            tauri::async_runtime::spawn_blocking(move || sharelock::reach::Presence::start(announcer, bound, exposure))
                .await
                .unwrap_or_default();
        let status = ServerStatus {
            announced_as: presence.announced().then(sharelock::reach::network::mdns_host),
            mapping: presence.mapping().or(presence.mapping_failure.as_ref()).cloned(),
            ..ServerStatus::serving(listen_url.clone(), vault.base_url(None).ok())
        };

        let (shutdown, stop) = oneshot::channel::<()>();
        let task = tauri::async_runtime::spawn(async move {
            let stopped = async {
                let _ = stop.await;
            };
            if let Err(e) = listening.serve(stopped).await {
                tracing::error!("server stopped: {e}");
            }
            let _ = tauri::async_runtime::spawn_blocking(move || drop(presence)).await;
        });
        *self.running.lock().unwrap_or_else(|p| p.into_inner()) = Some(Running { shutdown, task });
        tracing::info!("listening on {listen_url}");
        Ok(status)
    }

    /// Stops the server (letting requests in flight finish) and starts it again with the
    /// current settings.
    pub async fn restart(&self, vault: &Arc<Vault>) -> ServerStatus {
        let _changing = self.changing.lock().await;
        self.stop().await;
        self.start_now(vault).await
    }

    /// Stops the app's own server and starts again, attaching to the background service if it
    /// answers: with `wait`, for as long as systemd takes to (re)start it on the freed port.
    pub async fn hand_over(&self, vault: &Arc<Vault>, wait: bool) -> ServerStatus {
        let _changing = self.changing.lock().await;
        self.stop().await;
        // The unit restarts a failed start after 5 s (it found the port taken).
        let deadline = tokio::time::Instant::now() + Duration::from_secs(if wait { 12 } else { 0 });
        while tokio::time::Instant::now() < deadline {
            let checked = vault.clone();
            if let Ok(Some(_)) = tauri::async_runtime::spawn_blocking(move || background(&checked)).await {
                break;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        self.start_now(vault).await
    }

    /// Whether serving is paused from the tray.
    pub fn paused(&self) -> bool {
        *self.paused.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// "Pause serving" stops the server (requests in flight finish) and says so in the status;
    /// "Resume" starts it again with the current settings.
    pub async fn toggle_pause(&self, vault: &Arc<Vault>) -> ServerStatus {
        let _changing = self.changing.lock().await;
        let pause = !self.paused();
        *self.paused.lock().unwrap_or_else(|p| p.into_inner()) = pause;
        self.stop().await;
        if !pause {
            return self.start_now(vault).await;
        }
        let status = ServerStatus { error: Some("paused from the tray icon".into()), ..Default::default() };
        *self.status.lock().unwrap_or_else(|p| p.into_inner()) = status.clone();
        status
    }

    /// Stops the server and waits for it, on exit.
    pub fn stop_and_wait(&self) {
        tauri::async_runtime::block_on(self.stop());
    }

    /// Stops the app's own server, if it runs, letting requests in flight finish (for up to
    /// 15 s); its announcement and port mapping are withdrawn as its task ends.
    async fn stop(&self) {
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(running) = running {
            let _ = running.shutdown.send(());
            let _ = tokio::time::timeout(Duration::from_secs(15), running.task).await;
        }
    }
}
