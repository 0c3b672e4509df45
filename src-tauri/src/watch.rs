//! Keeps the UI live: when anything changes the Sharelock in use (a file added by the CLI, an
//! upload arriving in a slot, a download counted) the UI hears `store-changed`, and a file that
//! arrives through a slot raises `files-received` and a desktop notification, as does a completed
//! download or a link's notice ([`crate::receipts`]). It waits on
//! [`Manage::changes`], so this computer's data dir and a server are watched alike, and follows
//! Settings when they switch from one to the other.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sharelock::manage::{Changes, Manage};
use sharelock::vault::FileInfo;
use tauri::{AppHandle, Emitter, Manager, Runtime};

use crate::Desktop;

/// How long one wait on the feed lasts: how soon a switch in Settings is followed.
const BEAT: Duration = Duration::from_millis(500);

/// How long to wait before asking again for a feed that failed.
const RETRY: Duration = Duration::from_secs(2);

/// What the watcher follows: one Sharelock, its feed and the files it had received.
struct Watched {
    manage: Arc<dyn Manage>,
    changes: Option<Box<dyn Changes>>,
    known: Option<HashSet<String>>,
    /// The server's URL, when `manage` is one: whose history feed the receipts follow.
    server: Option<String>,
    /// When the history feed was last read for receipts.
    receipts_read: Option<Instant>,
}

impl Watched {
    fn new(manage: Arc<dyn Manage>, server: Option<String>) -> Watched {
        Watched { manage, changes: None, known: None, server, receipts_read: None }
    }
}

/// How often the history feed is read without a change seen: a server's change events do not
/// carry every entry (a page view, a notice due to time alone).
const RECEIPTS_EVERY: Duration = Duration::from_secs(20);

/// The server a place names, if the files are kept on one.
fn server_of(place: &crate::location::Place) -> Option<String> {
    (place.kept == "server").then(|| place.url.clone()).flatten()
}

/// Starts watching on a thread of its own.
pub fn start<R: Runtime>(app: AppHandle<R>) -> sharelock::Result<()> {
    let desktop = app.state::<Desktop>();
    let mut watched = Watched::new(desktop.manage(), server_of(&desktop.place()));
    // The first feed and the inbox as it is, before the window can add anything.
    watched.changes = Some(watched.manage.changes()?);
    watched.known = Some(ids(&watched.manage.inbox()?));
    let prober = app.clone();
    std::thread::Builder::new()
        .name("sharelock-watch".into())
        .spawn(move || {
            loop {
                let desktop = app.state::<Desktop>();
                let current = desktop.manage();
                if !Arc::ptr_eq(&current, &watched.manage) {
                    watched = Watched::new(current, server_of(&desktop.place()));
                }
                if step(&app, &mut watched).is_err() {
                    watched.changes = None;
                    std::thread::sleep(RETRY);
                }
            }
        })
        .map_err(|e| sharelock::Error::io("cannot start the change watcher", e))?;
    std::thread::Builder::new()
        .name("sharelock-server-probe".into())
        .spawn(move || probe(prober))
        .map_err(|e| sharelock::Error::io("cannot start the server probe", e))?;
    Ok(())
}

/// Why a server does not answer, short enough for the status bar.
fn short_reason(e: sharelock::Error) -> String {
    use sharelock::remote::RemoteError as R;
    match e {
        sharelock::Error::Remote(R::Unreachable { cause, .. }) => format!("not answering ({cause})"),
        sharelock::Error::Remote(R::Untrusted { .. }) => "its TLS certificate is not trusted: see Settings".into(),
        sharelock::Error::Remote(R::BadToken { .. }) => "the token is refused: see Settings".into(),
        sharelock::Error::Remote(R::MissingScope { .. }) => "the token lacks a scope: see Settings".into(),
        e => crate::error::CommandError::from(e).message,
    }
}

/// How often a server in use is asked whether it answers (the status bar).
const PROBE: Duration = Duration::from_secs(3);

/// Asks the server in use, if any, who the token is, and tells the window when it stops or
/// starts answering (`place-changed`); when it answers again, what it holds is read afresh.
fn probe<R: Runtime>(app: AppHandle<R>) {
    loop {
        let desktop = app.state::<Desktop>();
        if let Some(remote) = desktop.remote() {
            let answer = remote.whoami().map_err(short_reason);
            let back = answer.is_ok() && desktop.place().reachable == Some(false);
            if desktop.set_reachable(&remote, answer) {
                let _ = app.emit("place-changed", desktop.place());
                if back {
                    let _ = app.emit("store-changed", ());
                }
            }
        }
        std::thread::sleep(PROBE);
    }
}

fn ids(files: &[FileInfo]) -> HashSet<String> {
    files.iter().map(|f| f.file.id.clone()).collect()
}

/// Waits one beat for a change and tells the window of it.
fn step<R: Runtime>(app: &AppHandle<R>, watched: &mut Watched) -> sharelock::Result<()> {
    let changes = match &mut watched.changes {
        Some(changes) => changes,
        None => watched.changes.insert(watched.manage.changes().inspect_err(|e| {
            tracing::warn!("cannot watch for changes: {e}");
        })?),
    };
    let changed = changes.wait(BEAT).inspect_err(|e| tracing::warn!("cannot watch for changes: {e}"))?;
    if changed || watched.receipts_read.is_none_or(|at| at.elapsed() >= RECEIPTS_EVERY) {
        watched.receipts_read = Some(Instant::now());
        let vault = &app.state::<Desktop>().vault;
        // A feed that cannot be read (a server without history, a passing fault) is read again
        // next time, from the same place: nothing else the watcher does waits on it.
        match crate::receipts::since_last(vault, watched.manage.as_ref(), watched.server.as_deref()) {
            Ok(receipts) => {
                for receipt in receipts {
                    notice(app, &receipt.title, &receipt.body);
                }
            }
            Err(e) => tracing::debug!("cannot read the history feed: {e}"),
        }
    }
    let Some(known) = &watched.known else {
        // A Sharelock just switched to, or one that could not be read: what it holds now is
        // known, not news.
        watched.known = Some(ids(&watched.manage.inbox()?));
        return Ok(());
    };
    if !changed {
        return Ok(());
    }
    let _ = app.emit("store-changed", ());
    let inbox = watched.manage.inbox()?;
    let arrived: Vec<&FileInfo> = inbox.iter().filter(|f| !known.contains(&f.file.id)).collect();
    if !arrived.is_empty() {
        // Read on each arrival, so a change in Settings applies at once.
        let vault = &app.state::<Desktop>().vault;
        if vault.setting(sharelock::settings::NOTIFY_RECEIVED).ok().flatten().as_deref() != Some("off") {
            notify(app, &arrived);
        }
        let _ = app.emit("files-received", &arrived);
    }
    watched.known = Some(ids(&inbox));
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
