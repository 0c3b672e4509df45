//! The commands the UI invokes. Each one adapts arguments and calls the core; the rules live in
//! `sharelock`, not here.

use std::path::PathBuf;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use sharelock::settings;
use sharelock::slots::AcceptList;
use sharelock::units::{Lifetime, parse_size};
use sharelock::vault::{FileInfo, LinkEdit, LinkInfo, NewLink, NewSlot, SlotInfo, expand_paths};
use tauri::{AppHandle, Emitter, Runtime, State};

use crate::Desktop;
use crate::background::{self, Background};
use crate::error::CommandError;
use crate::server::{self, Scope, ServerStatus};

type Result<T> = std::result::Result<T, CommandError>;

fn now() -> i64 {
    sharelock::time::now()
}

fn lifetime(text: &str) -> Result<Lifetime> {
    Ok(text.parse::<Lifetime>()?)
}

/// What the window shows before anything else.
#[derive(Serialize)]
pub struct AppInfo {
    data_dir: String,
    version: &'static str,
    server: ServerStatus,
    default_link_expiry: String,
    /// Whether a tray icon shows; without one the status bar says closing stops the links.
    tray: bool,
}

#[tauri::command(rename_all = "snake_case")]
pub async fn app_info(desktop: State<'_, Desktop>) -> Result<AppInfo> {
    let expiry = desktop.run(|v| v.setting(settings::DEFAULT_LINK_EXPIRY)).await?;
    Ok(AppInfo {
        data_dir: desktop.vault.data_dir().display().to_string(),
        version: env!("CARGO_PKG_VERSION"),
        server: desktop.server.status(),
        default_link_expiry: expiry.unwrap_or_else(|| "7d".into()),
        tray: desktop.tray.load(std::sync::atomic::Ordering::SeqCst),
    })
}

#[tauri::command(rename_all = "snake_case")]
pub async fn list_files(desktop: State<'_, Desktop>) -> Result<Vec<FileInfo>> {
    desktop.run(|v| v.files()).await
}

/// Progress of an `add_files` call, as the `add-progress` event.
#[derive(Clone, Serialize)]
struct AddProgress {
    index: usize,
    count: usize,
    name: String,
    done: u64,
    total: u64,
}

/// Adds files, and every file inside folders. Each file is added whole or not at all; the first
/// failure stops the batch and says which file and why.
#[tauri::command(rename_all = "snake_case")]
pub async fn add_files<R: Runtime>(
    app: AppHandle<R>,
    desktop: State<'_, Desktop>,
    paths: Vec<String>,
    public: bool,
) -> Result<Vec<FileInfo>> {
    let paths: Vec<PathBuf> = paths.into_iter().map(PathBuf::from).collect();
    desktop
        .run(move |vault| {
            let files = expand_paths(&paths)?;
            let count = files.len();
            let mut added = Vec::with_capacity(count);
            for (index, path) in files.iter().enumerate() {
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let total = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
                let mut last = Instant::now();
                let mut progress = |done: u64| {
                    // A few events a second keep the bar moving without flooding the UI.
                    if done == total || last.elapsed().as_millis() >= 100 {
                        last = Instant::now();
                        let _ = app.emit("add-progress", AddProgress { index, count, name: name.clone(), done, total });
                    }
                };
                added.push(vault.add_file(path, public, now(), &mut progress)?);
            }
            Ok(added)
        })
        .await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn remove_file(desktop: State<'_, Desktop>, id: String) -> Result<()> {
    desktop.run(move |v| v.remove_file(&id)).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn set_public(desktop: State<'_, Desktop>, id: String, public: bool) -> Result<FileInfo> {
    desktop.run(move |v| v.set_public(&id, public)).await
}

/// What a command over many files did: the ids it changed and, for each of the others, why not.
/// One file failing (removed elsewhere meanwhile, a disk error) does not stop the rest.
#[derive(Debug, Serialize)]
pub struct Batch {
    /// The files the command changed.
    done: Vec<String>,
    /// The files it could not change.
    failed: Vec<BatchFailure>,
}

/// One file a [`Batch`] could not change.
#[derive(Debug, Serialize)]
pub struct BatchFailure {
    id: String,
    #[serde(flatten)]
    error: CommandError,
}

impl Batch {
    /// Runs `work` on each file in turn, through to the last.
    fn each<T>(ids: Vec<String>, mut work: impl FnMut(&str) -> sharelock::Result<T>) -> Batch {
        let mut batch = Batch { done: Vec::with_capacity(ids.len()), failed: Vec::new() };
        for id in ids {
            match work(&id) {
                Ok(_) => batch.done.push(id),
                Err(e) => batch.failed.push(BatchFailure { id, error: e.into() }),
            }
        }
        batch
    }
}

/// Removes each of the files (the multi-selection's Remove).
#[tauri::command(rename_all = "snake_case")]
pub async fn remove_files(desktop: State<'_, Desktop>, ids: Vec<String>) -> Result<Batch> {
    desktop.run(move |v| Ok(Batch::each(ids, |id| v.remove_file(id)))).await
}

/// Makes each of the files public or private (the multi-selection's Make public / private).
#[tauri::command(rename_all = "snake_case")]
pub async fn set_public_many(desktop: State<'_, Desktop>, ids: Vec<String>, public: bool) -> Result<Batch> {
    desktop.run(move |v| Ok(Batch::each(ids, |id| v.set_public(id, public)))).await
}

/// The links of one file, or of every file when `file_id` is absent (what a multi-selection's
/// confirm dialogs count).
#[tauri::command(rename_all = "snake_case")]
pub async fn list_links(desktop: State<'_, Desktop>, file_id: Option<String>) -> Result<Vec<LinkInfo>> {
    desktop.run(move |v| v.links(file_id.as_deref(), now())).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn create_link(
    desktop: State<'_, Desktop>,
    file_id: String,
    expires: String,
    max_downloads: Option<u64>,
    label: Option<String>,
) -> Result<LinkInfo> {
    desktop.server.check_serving()?;
    let new = NewLink { lifetime: Some(lifetime(&expires)?), max_downloads, label };
    desktop.run(move |v| v.create_link(&file_id, new, now(), None)).await
}

/// `expires` sets a new lifetime from now; `max_downloads` a new limit; `unlimited` removes it.
#[tauri::command(rename_all = "snake_case")]
pub async fn edit_link(
    desktop: State<'_, Desktop>,
    id: String,
    expires: Option<String>,
    max_downloads: Option<u64>,
    unlimited: Option<bool>,
) -> Result<LinkInfo> {
    let limit = if unlimited == Some(true) { Some(None) } else { max_downloads.map(Some) };
    let edit = LinkEdit { lifetime: expires.as_deref().map(lifetime).transpose()?, max_downloads: limit };
    desktop.run(move |v| v.edit_link(&id, edit, now())).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn revoke_link(desktop: State<'_, Desktop>, id: String) -> Result<LinkInfo> {
    desktop.run(move |v| v.revoke_link(&id, now())).await
}

/// Removes a link that no longer works from the list; an active one is refused.
#[tauri::command(rename_all = "snake_case")]
pub async fn delete_link(desktop: State<'_, Desktop>, id: String) -> Result<()> {
    desktop.run(move |v| v.delete_link(&id, now())).await
}

/// Removes every link of a file that no longer works; returns how many went.
#[tauri::command(rename_all = "snake_case")]
pub async fn delete_inactive_links(desktop: State<'_, Desktop>, file_id: String) -> Result<usize> {
    desktop.run(move |v| v.delete_inactive_links(&file_id, now())).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn list_slots(desktop: State<'_, Desktop>) -> Result<Vec<SlotInfo>> {
    desktop.run(|v| v.slots(now())).await
}

/// A new slot as the UI's form describes it; sizes as typed (`100M`), the accept list as typed.
#[derive(Deserialize)]
pub struct SlotForm {
    expires: String,
    max_size: String,
    max_files: u64,
    max_total: Option<String>,
    accept: Option<String>,
    label: Option<String>,
}

#[tauri::command(rename_all = "snake_case")]
pub async fn create_slot(desktop: State<'_, Desktop>, form: SlotForm) -> Result<SlotInfo> {
    desktop.server.check_serving()?;
    let blank = |s: &Option<String>| s.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    let new = NewSlot {
        lifetime: lifetime(&form.expires)?,
        max_size: parse_size(&form.max_size)?,
        max_files: form.max_files,
        max_total: blank(&form.max_total).map(|s| parse_size(&s)).transpose()?,
        accept: blank(&form.accept).map(|s| AcceptList::parse(&s)).transpose()?,
        label: blank(&form.label),
    };
    desktop.run(move |v| v.create_slot(new, now(), None)).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn close_slot(desktop: State<'_, Desktop>, id: String) -> Result<SlotInfo> {
    desktop.run(move |v| v.close_slot(&id, now())).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn inbox(desktop: State<'_, Desktop>) -> Result<Vec<FileInfo>> {
    desktop.run(|v| v.inbox()).await
}

/// Opens a stored file in the system's default app for its type.
#[tauri::command(rename_all = "snake_case")]
pub async fn open_file<R: Runtime>(app: AppHandle<R>, desktop: State<'_, Desktop>, id: String) -> Result<()> {
    use tauri_plugin_opener::OpenerExt;
    let path = desktop.run(move |v| v.stored_path(&id)).await?;
    app.opener()
        .open_path(path.display().to_string(), None::<&str>)
        .map_err(|e| CommandError::internal(format!("no app could open it: {e}")))
}

/// The files `sharelock-desktop FILE…` named (at start or from a second launch) that the window
/// has not taken yet, and why other arguments were not taken.
#[tauri::command(rename_all = "snake_case")]
pub fn take_opened(opening: State<'_, crate::opening::Opening>) -> crate::opening::Opened {
    opening.take()
}

#[tauri::command(rename_all = "snake_case")]
pub async fn export_file(desktop: State<'_, Desktop>, id: String, destination: String) -> Result<()> {
    desktop.run(move |v| v.export_file(&id, std::path::Path::new(&destination))).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn show_in_folder<R: Runtime>(app: AppHandle<R>, desktop: State<'_, Desktop>, id: String) -> Result<()> {
    use tauri_plugin_opener::OpenerExt;
    let path = desktop.run(move |v| v.stored_path(&id)).await?;
    app.opener().reveal_item_in_dir(path).map_err(CommandError::internal)
}

#[tauri::command(rename_all = "snake_case")]
pub fn qr_code(text: String) -> Result<String> {
    Ok(sharelock::qr::svg(&text)?)
}

/// The Settings view.
#[derive(Serialize, Deserialize)]
pub struct Settings {
    listen: Scope,
    port: u16,
    /// Empty: links use the address the server listens on.
    base_url: String,
    default_link_expiry: String,
    /// Read only: shown, not saved.
    #[serde(default)]
    data_dir: String,
    /// Read only: the LAN address to prefill the base URL with when listening on the network.
    #[serde(default)]
    suggested_base_url: Option<String>,
}

#[tauri::command(rename_all = "snake_case")]
pub async fn get_settings(desktop: State<'_, Desktop>) -> Result<Settings> {
    desktop
        .run(|v| {
            let (listen, port) = server::listen_settings(v)?;
            Ok(Settings {
                listen,
                port,
                base_url: v.setting(settings::BASE_URL)?.unwrap_or_default(),
                default_link_expiry: v.setting(settings::DEFAULT_LINK_EXPIRY)?.unwrap_or_else(|| "7d".into()),
                data_dir: v.data_dir().display().to_string(),
                suggested_base_url: server::lan_ip()
                    .map(|ip| format!("http://{}", std::net::SocketAddr::new(ip, port))),
            })
        })
        .await
}

/// Saves the settings and restarts the server with them.
#[tauri::command(rename_all = "snake_case")]
pub async fn save_settings<R: Runtime>(
    app: AppHandle<R>,
    desktop: State<'_, Desktop>,
    settings: Settings,
) -> Result<ServerStatus> {
    lifetime(&settings.default_link_expiry)?;
    if settings.port == 0 {
        return Err(CommandError { code: "invalid_input", message: "choose a port from 1 to 65535".into() });
    }
    desktop
        .run(move |v| {
            let base = settings.base_url.trim();
            if base.is_empty() {
                v.set_setting(settings::BASE_URL, None)?;
            } else {
                v.set_base_url(base)?;
            }
            let scope = match settings.listen {
                Scope::Local => "local",
                Scope::Network => "network",
            };
            v.set_setting(settings::LISTEN_SCOPE, Some(scope))?;
            v.set_setting(settings::PORT, Some(&settings.port.to_string()))?;
            v.set_setting(settings::DEFAULT_LINK_EXPIRY, Some(&settings.default_link_expiry))
        })
        .await?;
    let status = desktop.server.restart(&desktop.vault).await;
    let _ = app.emit("server-status", &status);
    Ok(status)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn rotate_secret(desktop: State<'_, Desktop>) -> Result<()> {
    desktop.run(|v| v.rotate_secret()).await
}

/// Quits the app, after the window asked (the quit warning).
#[tauri::command(rename_all = "snake_case")]
pub fn quit<R: Runtime>(app: AppHandle<R>) {
    app.exit(0);
}

/// The Settings' "When Sharelock is closed" switches.
#[tauri::command(rename_all = "snake_case")]
pub async fn get_background<R: Runtime>(app: AppHandle<R>, desktop: State<'_, Desktop>) -> Result<Background> {
    background::read(&app, desktop.server.status())
}

/// "Start Sharelock when I log in".
#[tauri::command(rename_all = "snake_case")]
pub async fn set_autostart<R: Runtime>(app: AppHandle<R>, desktop: State<'_, Desktop>, on: bool) -> Result<Background> {
    background::set_autostart(&app, on)?;
    background::read(&app, desktop.server.status())
}

/// "Keep links working when Sharelock is closed": installs or removes the background service.
#[tauri::command(rename_all = "snake_case")]
pub async fn set_keep_serving<R: Runtime>(
    app: AppHandle<R>,
    desktop: State<'_, Desktop>,
    on: bool,
) -> Result<Background> {
    let (note, status) = background::set_keep_serving(&desktop.vault, &desktop.server, on).await?;
    let _ = app.emit("server-status", &status);
    Ok(Background { note, ..background::read(&app, status)? })
}
