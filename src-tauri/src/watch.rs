//! Keeps the UI live: when anything changes the data dir (a file added by the CLI, an upload
//! arriving in a slot, a download counted) the UI hears `store-changed`, and a file that arrives
//! through a slot raises `files-received` and a desktop notification.

use std::collections::HashSet;
use std::time::Duration;

use sharelock::vault::FileInfo;
use tauri::{AppHandle, Emitter, Manager, Runtime};

use crate::Desktop;

/// How often the database is asked whether it changed (one cheap pragma).
const POLL: Duration = Duration::from_millis(400);

/// Starts watching on a thread of its own.
pub fn start<R: Runtime>(app: AppHandle<R>) -> sharelock::Result<()> {
    let vault = app.state::<Desktop>().vault.clone();
    let mut watcher = vault.watcher()?;
    let mut known: HashSet<String> = vault.inbox()?.into_iter().map(|f| f.file.id).collect();
    std::thread::Builder::new()
        .name("sharelock-watch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(POLL);
                match watcher.changed() {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(e) => {
                        tracing::warn!("cannot watch the database: {e}");
                        continue;
                    }
                }
                let _ = app.emit("store-changed", ());
                let Ok(inbox) = vault.inbox() else { continue };
                let arrived: Vec<&FileInfo> = inbox.iter().filter(|f| !known.contains(&f.file.id)).collect();
                if !arrived.is_empty() {
                    // Read on each arrival, so a change in Settings applies at once.
                    if vault.setting(sharelock::settings::NOTIFY_RECEIVED).ok().flatten().as_deref() != Some("off") {
                        notify(&app, &arrived);
                    }
                    let _ = app.emit("files-received", &arrived);
                }
                known = inbox.iter().map(|f| f.file.id.clone()).collect();
            }
        })
        .map_err(|e| sharelock::Error::io("cannot start the change watcher", e))?;
    Ok(())
}

fn notify<R: Runtime>(app: &AppHandle<R>, arrived: &[&FileInfo]) {
    // Absent when the notification plugin is not loaded (tests on the mock runtime).
    let Some(notifications) = app.try_state::<tauri_plugin_notification::Notification<R>>() else { return };
    let first = &arrived[0].file;
    let from = first.uploader_name.as_deref().map(|n| format!(" from {n}")).unwrap_or_default();
    let body = match arrived.len() {
        1 => format!("{}{from} ({})", first.name, sharelock::units::format_size(first.size)),
        n => format!("{n} files{from}, starting with {}", first.name),
    };
    show(app, &notifications, "Files received", &body);
}

/// A one-line desktop notification from the app (the first close to the tray).
pub fn notice<R: Runtime>(app: &AppHandle<R>, title: &str, body: &str) {
    let Some(notifications) = app.try_state::<tauri_plugin_notification::Notification<R>>() else { return };
    show(app, &notifications, title, body);
}

/// On the free desktops the notification names its sender itself, and the plugin would name the
/// executable ("sharelock-desktop"): it is sent here with the product name, "Sharelock".
#[cfg(all(unix, not(target_os = "macos")))]
fn show<R: Runtime>(app: &AppHandle<R>, _: &tauri_plugin_notification::Notification<R>, title: &str, body: &str) {
    let mut notification = notify_rust::Notification::new();
    notification.appname(&app.package_info().name).summary(title).body(body).auto_icon();
    // Sending waits on D-Bus: never on the watcher's beat.
    std::thread::spawn(move || {
        if let Err(e) = notification.show() {
            tracing::debug!("cannot show a notification: {e}");
        }
    });
}

/// Elsewhere the system names the sender from the app's bundle.
#[cfg(not(all(unix, not(target_os = "macos"))))]
fn show<R: Runtime>(
    _: &AppHandle<R>,
    notifications: &tauri_plugin_notification::Notification<R>,
    title: &str,
    body: &str,
) {
    if let Err(e) = notifications.builder().title(title).body(body).show() {
        tracing::debug!("cannot show a notification: {e}");
    }
}
