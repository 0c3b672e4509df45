//! The Settings' "When Sharelock is closed" switches: start the app at login (the autostart
//! plugin's entry in `~/.config/autostart`), and keep links working with the window closed (the
//! core's background service, the same unit `sharelock service install` writes).

use std::sync::Arc;

use serde::Serialize;
use sharelock::{Vault, service};
use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_autostart::AutoLaunchManager;

use crate::error::CommandError;
use crate::server::{self, ServerStatus};

/// What the two switches show.
#[derive(Debug, Clone, Serialize)]
pub struct Background {
    /// The app starts when the user logs in.
    pub autostart: bool,
    /// The background service's unit is installed.
    pub keep_serving: bool,
    /// What installing or removing it did, or could not do, in words.
    pub note: Option<String>,
    /// The server's status after the change (the app may have handed its port to the service).
    pub server: ServerStatus,
}

fn failed(what: &str, e: impl std::fmt::Display) -> CommandError {
    CommandError::refused(format!("{what}: {e}"))
}

fn autostart<R: Runtime>(app: &AppHandle<R>) -> bool {
    // Absent where the plugin is not loaded (tests on the mock runtime).
    app.try_state::<AutoLaunchManager>().is_some_and(|l| l.is_enabled().unwrap_or(false))
}

/// The switches as they are now.
pub fn read<R: Runtime>(app: &AppHandle<R>, server: ServerStatus) -> Result<Background, CommandError> {
    let status = service::status()?;
    let note = (status.installed && !server.background)
        .then(|| "The background service is installed but does not answer: the app serves meanwhile.".to_string());
    Ok(Background { autostart: autostart(app), keep_serving: status.installed, note, server })
}

/// Turns starting at login on or off.
pub fn set_autostart<R: Runtime>(app: &AppHandle<R>, on: bool) -> Result<(), CommandError> {
    let launcher = app
        .try_state::<AutoLaunchManager>()
        .ok_or_else(|| failed("cannot change starting at login", "not available here"))?;
    if on { launcher.enable() } else { launcher.disable() }.map_err(|e| failed("cannot change starting at login", e))
}

/// The unit for this data dir: the `sharelock` CLI installed beside the app, on the app's listen
/// address, so the app finds the service where it would listen and attaches.
fn unit(vault: &Vault) -> Result<service::Unit, CommandError> {
    let app = std::env::current_exe().map_err(|e| failed("cannot tell where Sharelock is installed", e))?;
    let exe = service::cli_beside(&app).ok_or_else(|| {
        CommandError::refused(format!(
            "the sharelock command is not installed beside the app (in {})",
            app.with_file_name("").display()
        ))
    })?;
    let (scope, port) = server::listen_settings(vault)?;
    let data_dir = std::path::absolute(vault.data_dir()).map_err(|e| failed("cannot resolve the data dir", e))?;
    Ok(service::Unit { exe, data_dir: Some(data_dir), bind: scope.bind(port), expose: scope.exposure().map.is_some() })
}

/// Installs or removes the background service. Once systemd runs it, the app hands it its port
/// and attaches; once it is removed, the app serves again itself.
pub async fn set_keep_serving(
    vault: &Arc<Vault>,
    server: &server::Server,
    on: bool,
) -> Result<(Option<String>, ServerStatus), CommandError> {
    let report = if on {
        let unit = unit(vault)?;
        tauri::async_runtime::spawn_blocking(move || service::install(&unit))
            .await
            .map_err(CommandError::internal)??
    } else {
        tauri::async_runtime::spawn_blocking(service::uninstall).await.map_err(CommandError::internal)??
    };
    let started = on && report.user_manager && report.todo.is_empty();
    let status = if started || (!on && server.status().background) {
        server.hand_over(vault, started).await
    } else {
        server.status()
    };
    let note = if !on {
        "Background service removed: links stop when the app quits.".to_string()
    } else if status.background {
        "Running in the background: closing the window no longer stops your links.".to_string()
    } else if !report.user_manager {
        format!(
            "Installed ({}), but not started: no systemd user manager answers in this session. \
             Until one starts it, the app serves while it runs.",
            report.unit_path.display()
        )
    } else {
        format!("Installed, but not running: {}", report.todo.join(" "))
    };
    Ok((Some(note), status))
}
