//! The tray icon, closing to it, and the warning before links stop.
//!
//! A link is served by the app's server, so closing the window used to kill every link at once.
//! Now, while any link or upload link works:
//! - with a tray (a StatusNotifier host on the session bus), closing the window hides it to the
//!   tray and the server keeps serving; the first time, a notification says so. The tray shows
//!   the server's state and address and the counts, with Open, Pause serving or Resume, and Quit.
//! - Quit, or closing the window where there is no tray, asks first, naming what stops working.
//!
//! With nothing active, or while the background service serves (`sharelock service`), nothing
//! stops with the app, and closing quits at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::Serialize;
use sharelock::vault::Active;
use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::{MouseButton, MouseButtonState, TrayIcon, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Emitter, Manager, Runtime, Window};

use crate::Desktop;

/// The D-Bus name a StatusNotifier host (a panel's tray) owns.
const WATCHER: &str = "org.kde.StatusNotifierWatcher";
/// How often the tray's lines are brought up to date.
const REFRESH: Duration = Duration::from_secs(2);

/// What the app knows of its tray: whether there is one, and its menu lines.
pub struct Tray<R: Runtime> {
    /// The icon, when a host shows it.
    menu: Option<TrayMenu<R>>,
    /// Whether the notice "still serving from the tray" was shown.
    noticed: AtomicBool,
}

struct TrayMenu<R: Runtime> {
    _icon: TrayIcon<R>,
    status: MenuItem<R>,
    counts: MenuItem<R>,
    pause: MenuItem<R>,
}

/// Asked of the UI before links stop: the `quit-requested` event.
#[derive(Debug, Clone, Serialize)]
pub struct QuitRequest {
    /// "3 links and 1 upload link stop working until Sharelock runs again".
    pub message: String,
}

/// What stops working, in words: "3 links and 1 upload link stop working until Sharelock runs
/// again". `None` when nothing does.
pub fn stop_warning(active: Active) -> Option<String> {
    let count = |n: usize, one: &str, many: &str| match n {
        0 => None,
        1 => Some(format!("1 {one}")),
        n => Some(format!("{n} {many}")),
    };
    let parts: Vec<String> = [count(active.links, "link", "links"), count(active.slots, "upload link", "upload links")]
        .into_iter()
        .flatten()
        .collect();
    let verb = if active.links + active.slots == 1 { "stops" } else { "stop" };
    (!parts.is_empty()).then(|| format!("{} {verb} working until Sharelock runs again", parts.join(" and ")))
}

/// Whether a StatusNotifier host runs on the session bus: without one, a tray icon shows nowhere.
#[cfg(target_os = "linux")]
pub fn host_available() -> bool {
    use gtk::{gio, glib};
    let Ok(bus) = gio::bus_get_sync(gio::BusType::Session, None::<&gio::Cancellable>) else { return false };
    let answer = bus.call_sync(
        Some("org.freedesktop.DBus"),
        "/org/freedesktop/DBus",
        "org.freedesktop.DBus",
        "NameHasOwner",
        Some(&glib::ToVariant::to_variant(&(WATCHER,))),
        glib::VariantTy::new("(b)").ok(),
        gio::DBusCallFlags::NONE,
        1000,
        None::<&gio::Cancellable>,
    );
    answer.ok().and_then(|v| v.get::<(bool,)>()).is_some_and(|(owned,)| owned)
}

/// Elsewhere the system always has a tray (the menu bar, the notification area).
#[cfg(not(target_os = "linux"))]
pub fn host_available() -> bool {
    true
}

/// What is active now, and whether the app's own server serves it (not the background service).
fn at_stake<R: Runtime>(app: &AppHandle<R>) -> Active {
    let desktop = app.state::<Desktop>();
    let status = desktop.server.status();
    if status.background {
        return Active::default();
    }
    desktop.vault.active(sharelock::time::now()).unwrap_or_default()
}

impl<R: Runtime> Tray<R> {
    /// Whether a tray icon shows.
    pub fn shown(&self) -> bool {
        self.menu.is_some()
    }
}

/// Makes the tray icon when a host shows it, and keeps its lines up to date.
pub fn start<R: Runtime>(app: &AppHandle<R>) {
    let menu = if host_available() {
        match build(app) {
            Ok(menu) => Some(menu),
            Err(e) => {
                tracing::warn!("cannot make the tray icon: {e}");
                None
            }
        }
    } else {
        tracing::info!("no tray: no StatusNotifier host on the session bus");
        None
    };
    let shown = menu.is_some();
    app.state::<Desktop>().tray.store(shown, Ordering::SeqCst);
    app.manage(Tray { menu, noticed: AtomicBool::new(false) });
    if shown {
        let app = app.clone();
        std::thread::spawn(move || {
            loop {
                refresh(&app);
                std::thread::sleep(REFRESH);
            }
        });
    }
}

fn build<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<TrayMenu<R>> {
    let status = MenuItem::with_id(app, "status", "Starting…", false, None::<&str>)?;
    let counts = MenuItem::with_id(app, "counts", "", false, None::<&str>)?;
    let open = MenuItem::with_id(app, "open", "Open Sharelock", true, None::<&str>)?;
    let pause = MenuItem::with_id(app, "pause", "Pause serving", true, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?;
    let separator = PredefinedMenuItem::separator(app)?;
    let menu = Menu::with_items(app, &[&status, &counts, &separator, &open, &pause, &quit])?;
    let mut icon = TrayIconBuilder::with_id("sharelock").menu(&menu).tooltip("Sharelock");
    if let Some(image) = app.default_window_icon() {
        icon = icon.icon(image.clone());
    }
    let icon = icon
        .on_menu_event(|app, event| match event.id.as_ref() {
            "open" => show_window(app),
            "pause" => toggle_pause(app),
            "quit" => request_quit(app),
            _ => {}
        })
        .on_tray_icon_event(|icon, event| {
            if let TrayIconEvent::Click { button: MouseButton::Left, button_state: MouseButtonState::Up, .. } = event {
                show_window(icon.app_handle());
            }
        })
        .build(app)?;
    Ok(TrayMenu { _icon: icon, status, counts, pause })
}

/// Brings the tray's lines up to date: the server's state and address, and the counts.
pub fn refresh<R: Runtime>(app: &AppHandle<R>) {
    let Some(tray) = app.try_state::<Tray<R>>() else { return };
    let Some(menu) = &tray.menu else { return };
    let desktop = app.state::<Desktop>();
    let status = desktop.server.status();
    let line = match (&status.listen_url, status.running, status.background) {
        (Some(url), true, true) => format!("Served in the background at {url}"),
        (Some(url), true, false) => format!("Serving at {url}"),
        _ if status.starting => "Starting…".to_string(),
        _ if desktop.server.paused() => "Paused".to_string(),
        _ => format!("Stopped: {}", status.error.as_deref().unwrap_or("not running")),
    };
    let active = desktop.vault.active(sharelock::time::now()).unwrap_or_default();
    let counts = format!(
        "{} active link{}, {} open upload link{}",
        active.links,
        if active.links == 1 { "" } else { "s" },
        active.slots,
        if active.slots == 1 { "" } else { "s" }
    );
    let _ = menu.status.set_text(line);
    let _ = menu.counts.set_text(counts);
    let paused = desktop.server.paused();
    let _ = menu.pause.set_text(if paused { "Resume" } else { "Pause serving" });
    let _ = menu.pause.set_enabled(!status.background);
}

fn show_window<R: Runtime>(app: &AppHandle<R>) {
    if let Some(window) = app.get_webview_window("main") {
        let _ = window.show();
        let _ = window.unminimize();
        let _ = window.set_focus();
    }
}

fn toggle_pause<R: Runtime>(app: &AppHandle<R>) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let desktop = app.state::<Desktop>();
        let status = desktop.server.toggle_pause(&desktop.vault).await;
        let _ = app.emit("server-status", &status);
        refresh(&app);
    });
}

/// Quit: at once when nothing stops with the app, else the window asks first.
pub fn request_quit<R: Runtime>(app: &AppHandle<R>) {
    match stop_warning(at_stake(app)) {
        None => app.exit(0),
        Some(message) => {
            show_window(app);
            let _ = app.emit("quit-requested", QuitRequest { message });
        }
    }
}

/// The window's close button: hide to the tray while something is active and a tray shows it,
/// ask first where there is no tray, and close (quitting) when nothing is active.
pub fn on_close_requested<R: Runtime>(window: &Window<R>, api: &tauri::CloseRequestApi) {
    let app = window.app_handle();
    let active = at_stake(app);
    let Some(message) = stop_warning(active) else { return };
    api.prevent_close();
    let Some(tray) = app.try_state::<Tray<R>>() else { return };
    if tray.shown() {
        let _ = window.hide();
        if !tray.noticed.swap(true, Ordering::SeqCst) {
            crate::watch::notice(
                app,
                "Sharelock is still serving",
                "Your links keep working; quit from the tray icon.",
            );
        }
    } else {
        let _ = app.emit("quit-requested", QuitRequest { message });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_warning_names_what_stops() {
        let w = |links, slots| stop_warning(Active { links, slots });
        assert_eq!(w(0, 0), None);
        assert_eq!(w(1, 0).as_deref(), Some("1 link stops working until Sharelock runs again"));
        assert_eq!(w(0, 2).as_deref(), Some("2 upload links stop working until Sharelock runs again"));
        assert_eq!(w(3, 1).as_deref(), Some("3 links and 1 upload link stop working until Sharelock runs again"));
    }
}
