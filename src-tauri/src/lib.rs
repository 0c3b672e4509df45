//! Sharelock's desktop shell: it adapts the `sharelock` core to a window and changes nothing
//! of its rules.
//!
//! - [`background`]: the Settings' switches for starting at login and keeping links working
//!   with the window closed (the core's background service).
//! - [`client`]: which client made a request, in a few words ("curl 8.5", "Firefox on Linux").
//! - [`commands`]: one-line Tauri commands over the Sharelock in use (files, links and slots,
//!   through [`sharelock::manage::Manage`]) and this computer's [`sharelock::Vault`] (settings, the
//!   server); errors cross as typed codes ([`error`]).
//! - [`receipts`]: desktop notifications for completed downloads and links' notices, following
//!   the core's history feed from a kept cursor.
//! - [`server`]: the embedded HTTP server (the core's `http::Listening`) on Tauri's async runtime,
//!   bound from the settings, restarted when they change, shut down gracefully on exit.
//! - [`location`]: "Where your files are kept": this computer, or a Sharelock server reached with
//!   a token kept in the system keyring (or an owner-only file where there is none).
//! - [`opening`]: "Open with Sharelock": files named on the command line, at start or by a
//!   second launch, waiting for the window to add them.
//! - [`tray`]: the tray icon, closing to it while links are active, and the warning before they
//!   stop (Quit, or closing where there is no tray).
//! - [`watch`]: tells the UI when anything changed the Sharelock in use (the CLI, an upload, a
//!   download) and notifies the desktop when a file arrives.
//!
//! The app opens the same data dir as the CLI: `SHARELOCK_DATA_DIR`, else
//! `~/.local/share/sharelock`.

pub mod background;
pub mod client;
pub mod commands;
pub mod error;
pub mod location;
pub mod opening;
pub mod receipts;
pub mod server;
pub mod tray;
pub mod watch;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use sharelock::Vault;
use sharelock::manage::Manage;
use tauri::{Builder, Emitter, Manager, RunEvent, Runtime};

/// What every command gets: the Sharelock in use, this computer's vault and the embedded server.
pub struct Desktop {
    /// This computer's data dir, opened: its settings and what the embedded server serves.
    pub vault: Arc<Vault>,
    /// Where the files, links and slots the window shows are kept: this computer's vault, or a
    /// server. Swapped at run time when Settings changes it; each command takes the one current
    /// when it starts.
    using: RwLock<Using>,
    /// The server whose connection test last passed: the only one Settings may save.
    pub tested: Mutex<Option<location::ServerChoice>>,
    /// Where a server's files are fetched to be opened: owner-only, removed when the app exits.
    opened: std::sync::OnceLock<tempfile::TempDir>,
    /// The embedded server.
    pub server: server::Server,
    /// Whether a tray icon shows (a StatusNotifier host runs): closing then hides the window.
    pub tray: std::sync::atomic::AtomicBool,
}

impl Desktop {
    /// Over this computer's vault, which is also the Sharelock in use until Settings says otherwise.
    pub fn new(vault: Arc<Vault>) -> Desktop {
        let using = Using { manage: vault.clone(), remote: None, place: location::Place::local() };
        Desktop {
            vault,
            using: RwLock::new(using),
            tested: Mutex::new(None),
            opened: std::sync::OnceLock::new(),
            server: server::Server::default(),
            tray: Default::default(),
        }
    }

    /// The Sharelock in use now.
    pub fn manage(&self) -> Arc<dyn Manage> {
        self.using().manage.clone()
    }

    /// The server in use now, if the files are kept on one.
    pub fn remote(&self) -> Option<Arc<sharelock::remote::Remote>> {
        self.using().remote.clone()
    }

    /// Where the files are kept now, as the window shows it.
    pub fn place(&self) -> location::Place {
        self.using().place.clone()
    }

    fn using(&self) -> std::sync::RwLockReadGuard<'_, Using> {
        // A poisoned lock still holds a whole `Using`: a swap cannot be left half done.
        self.using.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Uses `manage` (and `remote`, when it is a server) from the next command on.
    pub fn set_manage(
        &self,
        manage: Arc<dyn Manage>,
        remote: Option<Arc<sharelock::remote::Remote>>,
        place: location::Place,
    ) {
        *self.using.write().unwrap_or_else(|e| e.into_inner()) = Using { manage, remote, place };
    }

    /// The folder a server's files are fetched into to be opened, made on first use.
    pub fn opened_dir(&self) -> Result<PathBuf, error::CommandError> {
        if let Some(dir) = self.opened.get() {
            return Ok(dir.path().to_path_buf());
        }
        // Owner-only from the start: other users cannot read what is opened from it.
        let dir = tempfile::Builder::new()
            .prefix("sharelock-open-")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir()
            .map_err(|e| sharelock::Error::io("cannot make a folder to open files from", e))?;
        Ok(self.opened.get_or_init(|| dir).path().to_path_buf())
    }

    /// Records whether the server in use answered; `true` when that is news.
    pub fn set_reachable(
        &self,
        remote: &Arc<sharelock::remote::Remote>,
        answer: Result<sharelock::remote::TokenIdentity, String>,
    ) -> bool {
        let mut using = self.using.write().unwrap_or_else(|e| e.into_inner());
        // The answer of a server no longer in use changes nothing.
        if !using.remote.as_ref().is_some_and(|r| Arc::ptr_eq(r, remote)) {
            return false;
        }
        let place = &mut using.place;
        let (reachable, error, token) = match answer {
            Ok(identity) => (Some(true), None, Some(identity)),
            Err(why) => (Some(false), Some(why), place.token.clone()),
        };
        let news = place.reachable != reachable || place.error != error;
        place.reachable = reachable;
        place.error = error;
        place.token = token;
        news
    }

    /// Runs blocking work on the Sharelock in use off the async runtime's workers.
    pub async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Manage) -> sharelock::Result<T> + Send + 'static,
    ) -> Result<T, error::CommandError> {
        let manage = self.manage();
        tauri::async_runtime::spawn_blocking(move || f(manage.as_ref()))
            .await
            .map_err(error::CommandError::internal)?
            .map_err(Into::into)
    }

    /// Runs blocking work on this computer's vault off the async runtime's workers.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Vault) -> sharelock::Result<T> + Send + 'static,
    ) -> Result<T, error::CommandError> {
        let vault = self.vault.clone();
        tauri::async_runtime::spawn_blocking(move || f(&vault))
            .await
            .map_err(error::CommandError::internal)?
            .map_err(Into::into)
    }
}

/// The Sharelock in use, with what the window says of it.
struct Using {
    manage: Arc<dyn Manage>,
    /// The same Sharelock as `manage` when it is a server: what the status bar asks.
    remote: Option<Arc<sharelock::remote::Remote>>,
    place: location::Place,
}

/// The app without its plugins: commands, state, server and watcher. Tests build it on Tauri's
/// mock runtime; [`run`] adds the plugins and the real window.
pub fn app<R: Runtime>(builder: Builder<R>, data_dir: PathBuf) -> Builder<R> {
    builder
        // Managed before setup: the command line's files are put here before the loop starts.
        .manage(opening::Opening::default())
        .setup(move |app| {
            let vault = Arc::new(Vault::open(&data_dir)?);
            let desktop = Desktop::new(vault);
            let (manage, remote, place) = location::at_start(&desktop.vault);
            desktop.set_manage(manage, remote, place);
            app.manage(desktop);
            // The server starts beside the window rather than before it: its start cleans the
            // store, which takes a while with many files, and the window's page does not begin to
            // load until setup returns (150 ms spent here delayed it by half a second: WebKit
            // starts its page's process from the main loop). Until then the status says
            // `starting`, and the window waits for the real one before it says it is ready.
            // The watcher starts after the server, before the status is told: the server's start
            // records where it listens, which the watcher would report as a change for the
            // window to read the list again just as it begins (and nothing can be received
            // before the server runs).
            let starter = app.handle().clone();
            std::thread::Builder::new()
                .name("sharelock-server-start".into())
                .spawn(move || {
                    server::delay_first_start();
                    let status = server::start(&starter);
                    if let Err(e) = watch::start(starter.clone()) {
                        tracing::error!("cannot watch for changes: {e}");
                    }
                    server::announce(&starter, &status);
                })
                .map_err(|e| sharelock::Error::io("cannot start the server", e))?;
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::app_info,
            commands::list_files,
            commands::file_info,
            commands::file_thumbnail,
            commands::add_files,
            commands::remove_file,
            commands::set_public,
            commands::remove_files,
            commands::set_public_many,
            commands::list_links,
            commands::create_link,
            commands::create_share,
            commands::edit_link,
            commands::revoke_link,
            commands::delete_link,
            commands::delete_inactive_links,
            commands::link_history,
            commands::list_slots,
            commands::create_slot,
            commands::close_slot,
            commands::inbox,
            commands::open_file,
            commands::take_opened,
            commands::export_file,
            commands::save_folder,
            commands::show_in_folder,
            commands::open_data_dir,
            commands::qr_code,
            commands::get_settings,
            commands::save_settings,
            commands::reach_report,
            commands::rotate_secret,
            commands::quit,
            commands::get_background,
            commands::set_autostart,
            commands::set_keep_serving,
            commands::get_location,
            commands::test_connection,
            commands::save_location,
        ])
}

/// Runs the desktop app.
pub fn run() {
    sharelock::logs::init();
    // The same data dir as the CLI's (`SHARELOCK_DATA_DIR`, else the platform default).
    let data_dir = match sharelock::datadir::DataDir::resolve(None) {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!("sharelock: {e}");
            std::process::exit(1);
        }
    };
    let builder = tauri::Builder::default()
        .plugin(tauri_plugin_single_instance::init(|app, args, cwd| {
            // A second `sharelock-desktop FILE…` (a file manager's "Open with"): this window adds
            // the files; the second process exits.
            let opened = opening::Opened::from_args(args.into_iter().skip(1), Path::new(&cwd));
            if app.state::<opening::Opening>().push(opened) {
                let _ = app.emit("open-requested", ());
            }
            if let Some(window) = app.get_webview_window("main") {
                let _ = window.unminimize();
                let _ = window.set_focus();
            }
        }))
        .plugin(tauri_plugin_window_state::Builder::default().build())
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_clipboard_manager::init())
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_opener::init())
        .plugin(tauri_plugin_autostart::init(tauri_plugin_autostart::MacosLauncher::LaunchAgent, None))
        .on_window_event(|window, event| {
            if let tauri::WindowEvent::CloseRequested { api, .. } = event {
                tray::on_close_requested(window, api);
            }
        });
    let app = match app(builder, data_dir).build(tauri::generate_context!()) {
        Ok(app) => app,
        Err(e) => {
            eprintln!("sharelock: cannot start the app: {e}");
            std::process::exit(1);
        }
    };
    // `sharelock-desktop FILE…`: the window takes them once it is ready.
    let cwd = std::env::current_dir().unwrap_or_default();
    app.state::<opening::Opening>().push(opening::Opened::from_args(std::env::args().skip(1), &cwd));
    app.run(|handle, event| match event {
        // After setup: the tray reads the server's status.
        RunEvent::Ready => tray::start(handle),
        RunEvent::Exit => handle.state::<Desktop>().server.stop_and_wait(),
        _ => {}
    });
}
