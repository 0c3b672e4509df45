//! The commands the UI invokes. Each one adapts arguments and calls the core; the rules live in
//! `sharelock`, not here.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sharelock::links::LinkStatus;
use sharelock::passwords::Password;
use sharelock::settings;
use sharelock::slots::{AcceptList, SlotStatus};
use sharelock::units::{Lifetime, parse_size};
use sharelock::vault::{FileInfo, LinkEdit, LinkInfo, NewLink, NewSlot, SlotInfo, expand_paths};
use tauri::{AppHandle, Emitter, Runtime, State};

use std::sync::Arc;

use sharelock::Vault;
use sharelock::remote::TokenIdentity;

use crate::Desktop;
use crate::background::{self, Background};
use crate::error::CommandError;
use crate::location::{self, Place, ServerChoice};
use crate::server::{self, Scope, ServerStatus};

type Result<T> = std::result::Result<T, CommandError>;

fn now() -> i64 {
    sharelock::time::now()
}

/// A lifetime typed in the form field `field`.
fn lifetime(text: &str, field: &'static str) -> Result<Lifetime> {
    text.parse::<Lifetime>().map_err(|e| CommandError::from(e).at(field))
}

/// A whole number as a form field gives it: a JSON number, or the text typed when it is not one
/// (`1.5`, `-2`), so that the field, not the IPC layer, says what is wrong.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
pub enum Whole {
    /// A number.
    Number(serde_json::Number),
    /// Text, as typed.
    Text(String),
}

impl Whole {
    /// The number, or an error at `field` saying what to type.
    fn get(&self, field: &'static str, what: &str) -> Result<u64> {
        let number = match self {
            Whole::Number(n) => n.as_u64(),
            Whole::Text(t) => t.trim().parse().ok(),
        };
        number.ok_or_else(|| CommandError::invalid(field, format!("give {what} as a whole number, such as 10")))
    }
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
    /// Where the files are kept: this computer or a server, and whether it answers.
    place: Place,
}

#[tauri::command(rename_all = "snake_case")]
pub async fn app_info(desktop: State<'_, Desktop>) -> Result<AppInfo> {
    let expiry = desktop.run(|v| v.setting(settings::DEFAULT_LINK_EXPIRY)).await?;
    let server = desktop.server.status();
    crate::server::delay_starting_answer(&server).await;
    Ok(AppInfo {
        data_dir: desktop.vault.data_dir().display().to_string(),
        version: env!("CARGO_PKG_VERSION"),
        server,
        default_link_expiry: expiry.unwrap_or_else(|| "7d".into()),
        tray: desktop.tray.load(std::sync::atomic::Ordering::SeqCst),
        place: desktop.place(),
    })
}

/// One file of the Files list, as the window reads it: an array of its columns, in this order
/// (`fileRow` in ui/app.js reads them back), without the fields only a file's details show
/// (`file_info` gives those). 100,000 files cross to the page as 10 MB of JSON, not 27 MB of
/// objects each repeating every key; the page waited about half a second on the larger one,
/// most of it the transfer into WebKit.
#[derive(Debug, Serialize)]
pub struct FileRow(
    /// id
    String,
    /// name
    String,
    /// size
    u64,
    /// created_at
    #[serde(with = "sharelock::time")]
    i64,
    /// public
    bool,
    /// public_url
    Option<String>,
    /// slot_id
    Option<String>,
    /// content_type
    String,
    /// links
    u64,
    /// downloads
    u64,
    /// last_access_at
    #[serde(with = "sharelock::time::option")]
    Option<i64>,
);

impl From<FileInfo> for FileRow {
    fn from(f: FileInfo) -> FileRow {
        let FileInfo { file, public_url, links, downloads, last_access_at } = f;
        FileRow(
            file.id,
            file.name,
            file.size,
            file.created_at,
            file.public,
            public_url,
            file.slot_id,
            file.content_type,
            links,
            downloads,
            last_access_at,
        )
    }
}

/// Every file, newest first, as a JSON array of [`FileRow`]s.
///
/// The JSON is made here rather than by Tauri so that the read's transient memory (every
/// record, most of it freed at once) is given back before the answer leaves: with 100,000
/// files glibc otherwise kept about 60 MB of it in a worker thread's arena for good.
#[tauri::command(rename_all = "snake_case")]
pub async fn list_files(desktop: State<'_, Desktop>) -> Result<tauri::ipc::Response> {
    let json = desktop
        .with(|m| {
            let rows: Vec<FileRow> = m.files()?.into_iter().map(FileRow::from).collect();
            serde_json::to_string(&rows)
                .map_err(|e| sharelock::Error::io("cannot encode the list", std::io::Error::other(e)))
        })
        .await?;
    give_back_freed_memory();
    Ok(tauri::ipc::Response::new(json))
}

/// Returns the memory freed in every malloc arena to the system. glibc keeps freed memory of a
/// thread's arena for reuse unless asked; `malloc_trim` is the asking (no crate wraps it).
fn give_back_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free pages; it touches no memory in use.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// One file whole: what its details show beyond its row (the SHA-256, who sent it).
#[tauri::command(rename_all = "snake_case")]
pub async fn file_info(desktop: State<'_, Desktop>, id: String) -> Result<FileInfo> {
    desktop.with(move |m| m.file(&id)).await
}

/// A file's thumbnail as a `data:` URL for an `<img>` of the Files list, or `None` when it is not
/// an image that gets one. The list asks for the rows it shows only, as they scroll into view.
#[tauri::command(rename_all = "snake_case")]
pub async fn file_thumbnail(desktop: State<'_, Desktop>, id: String) -> Result<Option<String>> {
    use base64::Engine as _;
    let thumb = desktop.with(move |m| m.thumbnail(&id)).await?;
    Ok(thumb.map(|t| {
        format!("data:{};base64,{}", t.content_type, base64::engine::general_purpose::STANDARD.encode(&t.bytes))
    }))
}

/// The least time between two `add-progress` events.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

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
        .with(move |manage| {
            let files = expand_paths(&paths)?;
            let count = files.len();
            let mut added = Vec::with_capacity(count);
            // The file last told of: its index, name and size, looked up only when an event is due.
            let mut current: Option<(usize, String, u64)> = None;
            let mut last: Option<Instant> = None;
            let mut progress = |index: usize, done: u64| {
                // A few events a second keep the bar moving without flooding the UI: the first at
                // once, the last file's end, and in between one per 100 ms, however many files
                // (each event redraws the panel; one per small file slowed a drop of thousands).
                let due = last.is_none_or(|at| at.elapsed() >= PROGRESS_EVERY);
                let last_file = index + 1 == count;
                if !due && !last_file {
                    return;
                }
                if current.as_ref().is_none_or(|(at, _, _)| *at != index) {
                    let path = &files[index];
                    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                    current = Some((index, name, std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)));
                }
                let Some((_, name, total)) = &current else { return };
                if due || (last_file && done == *total) {
                    last = Some(Instant::now());
                    let progress = AddProgress { index, count, name: name.clone(), done, total: *total };
                    let _ = app.emit("add-progress", progress);
                }
            };
            manage.add_files(&files, public, &mut progress, &mut |file| added.push(file))?;
            Ok(added)
        })
        .await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn remove_file(desktop: State<'_, Desktop>, id: String) -> Result<()> {
    desktop.with(move |m| m.remove_file(&id)).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn set_public(desktop: State<'_, Desktop>, id: String, public: bool) -> Result<FileInfo> {
    desktop.with(move |m| m.set_public(&id, public)).await
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
    desktop.with(move |m| Ok(Batch::each(ids, |id| m.remove_file(id)))).await
}

/// Makes each of the files public or private (the multi-selection's Make public / private).
#[tauri::command(rename_all = "snake_case")]
pub async fn set_public_many(desktop: State<'_, Desktop>, ids: Vec<String>, public: bool) -> Result<Batch> {
    desktop.with(move |m| Ok(Batch::each(ids, |id| m.set_public(id, public)))).await
}

/// The links of one file, or of every file when `file_id` is absent (what a multi-selection's
/// confirm dialogs count).
#[tauri::command(rename_all = "snake_case")]
pub async fn list_links(desktop: State<'_, Desktop>, file_id: Option<String>) -> Result<Vec<LinkInfo>> {
    desktop.with(move |m| m.links(file_id.as_deref())).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn create_link(
    desktop: State<'_, Desktop>,
    file_id: String,
    expires: String,
    max_downloads: Option<Whole>,
    label: Option<String>,
    notify: Option<bool>,
    password: Option<String>,
) -> Result<LinkInfo> {
    if desktop.remote().is_none() {
        desktop.server.check_serving()?;
    }
    let max_downloads = max_downloads.map(|n| n.get("max_downloads", "the download limit")).transpose()?;
    // An empty field is no password; anything else is the password as typed, spaces and all.
    let password = password.filter(|p| !p.is_empty()).map(Password::new).transpose()?;
    let new = NewLink {
        lifetime: Some(lifetime(&expires, "expires")?),
        max_downloads,
        label,
        notify,
        password,
        ..NewLink::default()
    };
    desktop.with(move |m| m.create_link(&file_id, new, None)).await
}

/// One link to several files (Files, several selected: "Link to N files"): a share whose URL is
/// the zip of them all, in `file_ids` order.
#[tauri::command(rename_all = "snake_case")]
pub async fn create_share(
    desktop: State<'_, Desktop>,
    file_ids: Vec<String>,
    name: Option<String>,
    expires: String,
) -> Result<LinkInfo> {
    if desktop.remote().is_none() {
        desktop.server.check_serving()?;
    }
    let Some((first, more_files)) = file_ids.split_first() else {
        return Err(CommandError::invalid("file_ids", "choose the files to link"));
    };
    let (first, more_files) = (first.clone(), more_files.to_vec());
    let name = name.filter(|n| !n.trim().is_empty());
    let new = NewLink { lifetime: Some(lifetime(&expires, "expires")?), more_files, name, ..NewLink::default() };
    desktop.with(move |m| m.create_link(&first, new, None)).await
}

/// `expires` sets a new lifetime from now; `max_downloads` a new limit; `unlimited` removes it;
/// `notify` switches the link's download notifications on or off; `password` sets a new password
/// and `remove_password` removes it (either way, those who unlocked the link must again).
#[tauri::command(rename_all = "snake_case")]
#[allow(clippy::too_many_arguments)]
pub async fn edit_link(
    desktop: State<'_, Desktop>,
    id: String,
    expires: Option<String>,
    max_downloads: Option<Whole>,
    unlimited: Option<bool>,
    notify: Option<bool>,
    password: Option<String>,
    remove_password: Option<bool>,
) -> Result<LinkInfo> {
    let max_downloads = max_downloads.map(|n| n.get("max_downloads", "the download limit")).transpose()?;
    let limit = if unlimited == Some(true) { Some(None) } else { max_downloads.map(Some) };
    let password = match (password, remove_password) {
        (_, Some(true)) => Some(None),
        (Some(text), _) if text.is_empty() => {
            return Err(CommandError::invalid("password", "type the new password, or remove the password"));
        }
        (Some(text), _) => Some(Some(Password::new(text).map_err(|e| CommandError::from(e).at("password"))?)),
        (None, _) => None,
    };
    let edit = LinkEdit {
        lifetime: expires.as_deref().map(|e| lifetime(e, "expires")).transpose()?,
        max_downloads: limit,
        notify,
        password,
        preview: None,
    };
    desktop.with(move |m| m.edit_link(&id, edit)).await
}

/// One access in a link's history, with the client named in a few words.
#[derive(Debug, Serialize)]
pub struct Visit {
    #[serde(flatten)]
    access: sharelock::history::Access,
    /// "curl 8.5", "Firefox on Linux" ([`crate::client::short_name`]).
    client_name: String,
}

/// How many accesses a link's history shows at most.
const HISTORY_SHOWN: usize = 100;

/// A link's history, newest first.
#[tauri::command(rename_all = "snake_case")]
pub async fn link_history(desktop: State<'_, Desktop>, link_id: String) -> Result<Vec<Visit>> {
    let query = sharelock::history::Query {
        link_id: Some(link_id),
        limit: Some(HISTORY_SHOWN),
        ..sharelock::history::Query::default()
    };
    let accesses = desktop.with(move |m| m.history(&query)).await?;
    Ok(accesses
        .into_iter()
        .map(|access| Visit { client_name: crate::client::short_name(access.user_agent.as_deref()), access })
        .collect())
}

#[tauri::command(rename_all = "snake_case")]
pub async fn revoke_link(desktop: State<'_, Desktop>, id: String) -> Result<LinkInfo> {
    desktop.with(move |m| m.revoke_link(&id)).await
}

/// Removes a link that no longer works from the list; an active one is refused.
#[tauri::command(rename_all = "snake_case")]
pub async fn delete_link(desktop: State<'_, Desktop>, id: String) -> Result<()> {
    desktop.with(move |m| m.delete_link(&id)).await
}

/// Removes every link of a file that no longer works; returns how many went.
#[tauri::command(rename_all = "snake_case")]
pub async fn delete_inactive_links(desktop: State<'_, Desktop>, file_id: String) -> Result<usize> {
    desktop
        .with(move |m| {
            m.file(&file_id)?;
            // One by one, as a server's API has it: each is refused if it became active meanwhile.
            let inactive: Vec<LinkInfo> =
                m.links(Some(&file_id))?.into_iter().filter(|l| l.status != LinkStatus::Active).collect();
            for link in &inactive {
                m.delete_link(&link.link.id)?;
            }
            Ok(inactive.len())
        })
        .await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn list_slots(desktop: State<'_, Desktop>) -> Result<Vec<SlotInfo>> {
    desktop.with(|m| m.slots()).await
}

/// A new slot as the UI's form describes it; sizes as typed (`100M`), the accept list as typed.
#[derive(Deserialize)]
pub struct SlotForm {
    expires: String,
    max_size: String,
    max_files: Whole,
    max_total: Option<String>,
    accept: Option<String>,
    label: Option<String>,
}

#[tauri::command(rename_all = "snake_case")]
pub async fn create_slot(desktop: State<'_, Desktop>, form: SlotForm) -> Result<SlotInfo> {
    if desktop.remote().is_none() {
        desktop.server.check_serving()?;
    }
    let blank = |s: &Option<String>| s.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    let at = |field| move |e: sharelock::Error| CommandError::from(e).at(field);
    let new = NewSlot {
        lifetime: lifetime(&form.expires, "expires")?,
        max_size: parse_size(&form.max_size).map_err(at("max_size"))?,
        max_files: form.max_files.get("max_files", "the number of files")?,
        max_total: blank(&form.max_total).map(|s| parse_size(&s)).transpose().map_err(at("max_total"))?,
        accept: blank(&form.accept).map(|s| AcceptList::parse(&s)).transpose().map_err(at("accept"))?,
        label: blank(&form.label),
    };
    desktop.with(move |m| m.create_slot(new, None)).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn close_slot(desktop: State<'_, Desktop>, id: String) -> Result<SlotInfo> {
    desktop.with(move |m| m.close_slot(&id)).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn inbox(desktop: State<'_, Desktop>) -> Result<Vec<FileInfo>> {
    desktop.with(|m| Ok(m.files()?.into_iter().filter(|f| f.file.slot_id.is_some()).collect())).await
}

/// Opens a stored file in the system's default app for its type.
#[tauri::command(rename_all = "snake_case")]
pub async fn open_file<R: Runtime>(app: AppHandle<R>, desktop: State<'_, Desktop>, id: String) -> Result<()> {
    use tauri_plugin_opener::OpenerExt;
    let path = match desktop.remote() {
        None => desktop.run(move |v| v.stored_path(&id)).await?,
        // A server's file is fetched first, into a folder only this user can open.
        Some(_) => {
            let folder = desktop.opened_dir()?.join(&id);
            desktop
                .with(move |m| {
                    let name = m.file(&id)?.file.name;
                    // The name as the server gave it, reduced to one safe path component.
                    let name = std::path::Path::new(&name)
                        .file_name()
                        .map(|n| n.to_owned())
                        .unwrap_or_else(|| id.clone().into());
                    std::fs::create_dir_all(&folder)
                        .map_err(|e| sharelock::Error::io("cannot make a folder to open it from", e))?;
                    let path = folder.join(name);
                    m.save_file(&id, &path)?;
                    Ok(path)
                })
                .await?
        }
    };
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
    desktop.with(move |m| m.save_file(&id, std::path::Path::new(&destination))).await
}

/// Save as… on a received folder: its tree written into the chosen folder
/// (`Manage::save_folder`); the paths written.
#[tauri::command(rename_all = "snake_case")]
pub async fn save_folder(
    desktop: State<'_, Desktop>,
    upload_id: String,
    folder: String,
    destination: String,
) -> Result<Vec<std::path::PathBuf>> {
    desktop.with(move |m| m.save_folder(&upload_id, &folder, std::path::Path::new(&destination))).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn show_in_folder<R: Runtime>(app: AppHandle<R>, desktop: State<'_, Desktop>, id: String) -> Result<()> {
    use tauri_plugin_opener::OpenerExt;
    if desktop.remote().is_some() {
        return Err(CommandError::refused("the file is kept on the server, not in a folder on this computer".into()));
    }
    let path = desktop.run(move |v| v.stored_path(&id)).await?;
    app.opener().reveal_item_in_dir(&path).map_err(|e| CommandError::open_failed("file", &path, e))
}

/// Opens the data folder in the file manager.
#[tauri::command(rename_all = "snake_case")]
pub async fn open_data_dir<R: Runtime>(app: AppHandle<R>, desktop: State<'_, Desktop>) -> Result<()> {
    use tauri_plugin_opener::OpenerExt;
    let dir = desktop.vault.data_dir().to_path_buf();
    tracing::info!("opening {} in the file manager", dir.display());
    // The opener hands any path to the desktop's launcher, which may fail later and unseen: a
    // folder that is not there is said here.
    std::fs::metadata(&dir).map_err(|e| CommandError::open_failed("folder", &dir, e))?;
    app.opener()
        .open_path(dir.display().to_string(), None::<&str>)
        .map_err(|e| CommandError::open_failed("folder", &dir, e))
}

#[tauri::command(rename_all = "snake_case")]
pub fn qr_code(text: String) -> Result<String> {
    Ok(sharelock::qr::svg(&text)?)
}

/// The Settings view. The server's settings (`listen`, `port`, `base_url`) take effect by
/// restarting the server; the others apply at once.
#[derive(Serialize, Deserialize)]
pub struct Settings {
    listen: Scope,
    port: Whole,
    /// Empty: links use the address the server listens on.
    base_url: String,
    default_link_expiry: String,
    /// Empty: new links have no download limit unless one is typed.
    #[serde(default)]
    default_link_limit: String,
    /// Whether a desktop notification says that files arrived.
    #[serde(default = "on")]
    notify_received: bool,
    /// Whether a desktop notification says that a link's download completed, or that a link or
    /// upload link ended (each link can be switched off on its own).
    #[serde(default = "on")]
    notify_downloads: bool,
    /// How long the access history is kept: a lifetime (`90d`) or `off`.
    #[serde(default = "default_history")]
    history: String,
    /// Read only: shown, not saved.
    #[serde(default)]
    data_dir: String,
    /// Read only: the LAN address to prefill the base URL with when listening on the network.
    #[serde(default)]
    suggested_base_url: Option<String>,
}

fn on() -> bool {
    true
}

fn default_history() -> String {
    "90d".into()
}

#[tauri::command(rename_all = "snake_case")]
pub async fn get_settings(desktop: State<'_, Desktop>) -> Result<Settings> {
    desktop
        .run(|v| {
            let (listen, port) = server::listen_settings(v)?;
            Ok(Settings {
                listen,
                port: Whole::Number(port.into()),
                base_url: v.setting(settings::BASE_URL)?.unwrap_or_default(),
                default_link_expiry: v.setting(settings::DEFAULT_LINK_EXPIRY)?.unwrap_or_else(|| "7d".into()),
                default_link_limit: v.setting(settings::DEFAULT_LINK_LIMIT)?.unwrap_or_default(),
                notify_received: v.setting(settings::NOTIFY_RECEIVED)?.as_deref() != Some("off"),
                notify_downloads: v.setting(settings::NOTIFY_DOWNLOADS)?.as_deref() != Some("off"),
                history: v.setting(settings::HISTORY)?.unwrap_or_else(default_history),
                data_dir: v.data_dir().display().to_string(),
                suggested_base_url: server::lan_ip()
                    .map(|ip| format!("http://{}", std::net::SocketAddr::new(ip, port))),
            })
        })
        .await
}

/// The `history` setting as typed, checked by the core's rule: `off`, or how long to keep it.
fn history_setting(text: &str) -> Result<String> {
    settings::check(settings::HISTORY, text).map_err(|e| CommandError::from(e).at("history"))
}

/// What saving the settings did.
#[derive(Serialize)]
pub struct Saved {
    /// Whether they were saved; not when `breaks` asks first.
    saved: bool,
    /// Whether the server restarted (only a change of its address restarts it).
    restarted: bool,
    /// Not saved, because the change would break links already sent: confirm to save.
    breaks: Option<Breaks>,
    /// The server now.
    #[serde(flatten)]
    server: ServerStatus,
}

/// The links and upload links that stop working when the server's address changes.
#[derive(Serialize)]
pub struct Breaks {
    links: usize,
    upload_links: usize,
    /// The address they were sent with.
    base_url: String,
}

/// Saves the settings. A change of the server's address (scope, port, base URL) restarts the
/// server; one that strands links or upload links already sent is saved only with `confirm`.
/// Anything else applies at once.
#[tauri::command(rename_all = "snake_case")]
pub async fn save_settings<R: Runtime>(
    app: AppHandle<R>,
    desktop: State<'_, Desktop>,
    settings: Settings,
    confirm: Option<bool>,
) -> Result<Saved> {
    lifetime(&settings.default_link_expiry, "default_link_expiry")?;
    let port = settings
        .port
        .get("port", "the port")
        .ok()
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p != 0)
        .ok_or_else(|| CommandError::invalid("port", "choose a port from 1 to 65535"))?;
    let limit = settings.default_link_limit.trim().to_string();
    if !limit.is_empty() {
        let n = Whole::Text(limit.clone()).get("default_link_limit", "the download limit")?;
        // The rule of a link's limit, said at the field of the default.
        sharelock::vault::check_download_limit(Some(n))
            .map_err(|e| CommandError { field: Some("default_link_limit"), ..CommandError::from(e) })?;
    }
    let base = settings.base_url.trim();
    let base = (!base.is_empty()).then(|| sharelock::vault::normalise_base_url(base)).transpose()?;
    let history = history_setting(&settings.history)?;
    let confirmed = confirm == Some(true);
    let listen = settings.listen;
    let (changed, breaks) = desktop
        .run(move |v| {
            let (scope, current_port) = server::listen_settings(v)?;
            let moved = current_port != port || v.setting(settings::BASE_URL)? != base;
            let changed = moved || scope != listen;
            // Opening the server wider keeps answering at the addresses links carry; narrowing it
            // (the internet to the network, the network to this computer), or a new port or base
            // URL, strands what was sent.
            let breaking = moved || listen < scope;
            let now = now();
            let links = v.links(None, now)?.iter().filter(|l| l.status == LinkStatus::Active).count();
            let upload_links = v.slots(now)?.iter().filter(|s| s.status == SlotStatus::Active).count();
            let breaks = (breaking && !confirmed && links + upload_links > 0)
                .then(|| v.base_url(None).map(|base_url| Breaks { links, upload_links, base_url }))
                .transpose()?;
            if breaks.is_some() {
                return Ok((changed, breaks));
            }
            match &base {
                Some(base) => v.set_setting(settings::BASE_URL, Some(base))?,
                None => v.set_setting(settings::BASE_URL, None)?,
            }
            v.set_setting(settings::LISTEN_SCOPE, Some(listen.as_setting()))?;
            v.set_setting(settings::PORT, Some(&port.to_string()))?;
            v.set_setting(settings::DEFAULT_LINK_EXPIRY, Some(&settings.default_link_expiry))?;
            v.set_setting(settings::DEFAULT_LINK_LIMIT, (!limit.is_empty()).then_some(limit.as_str()))?;
            v.set_setting(settings::NOTIFY_RECEIVED, Some(if settings.notify_received { "on" } else { "off" }))?;
            v.set_setting(settings::NOTIFY_DOWNLOADS, Some(if settings.notify_downloads { "on" } else { "off" }))?;
            // Through the core: Off, or a shorter time, deletes what is now too old at once.
            if v.setting(settings::HISTORY)?.as_deref() != Some(history.as_str()) {
                v.set_history_retention(&history, now)?;
            }
            Ok((changed, None))
        })
        .await?;
    if breaks.is_some() {
        return Ok(Saved { saved: false, restarted: false, breaks, server: desktop.server.status() });
    }
    if !changed {
        return Ok(Saved { saved: true, restarted: false, breaks: None, server: desktop.server.status() });
    }
    let status = desktop.server.restart(&desktop.vault).await;
    let _ = app.emit("server-status", &status);
    Ok(Saved { saved: true, restarted: true, breaks: None, server: status })
}

/// Who can open a link, checked now (`sharelock reach`): a few seconds at most.
#[tauri::command(rename_all = "snake_case")]
pub async fn reach_report(desktop: State<'_, Desktop>) -> Result<sharelock::reach::Report> {
    desktop.run(sharelock::reach::Report::examine).await
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

/// Settings' "Where your files are kept".
#[derive(Serialize)]
pub struct Location {
    /// As saved: `local` or `server`.
    kept: &'static str,
    /// The server's URL, saved (kept when the files are back on this computer).
    url: String,
    /// The CA certificate file trusted for it, or empty.
    ca_cert: String,
    /// Where the token for `url` is kept, in words; none when no token is kept.
    token_place: Option<String>,
    /// Where the files are now, and whether the server answers.
    place: Place,
}

#[tauri::command(rename_all = "snake_case")]
pub async fn get_location(desktop: State<'_, Desktop>) -> Result<Location> {
    let place = desktop.place();
    let vault = desktop.vault.clone();
    tauri::async_runtime::spawn_blocking(move || {
        let kept = if vault.setting(location::FILES_KEPT)?.as_deref() == Some("server") { "server" } else { "local" };
        let url = vault.setting(location::SERVER_URL)?.unwrap_or_default();
        let ca_cert = vault.setting(location::SERVER_CA_CERT)?.unwrap_or_default();
        let token_place =
            if url.is_empty() { None } else { location::read_token(vault.data_dir(), &url)?.map(|(_, p)| p.words()) };
        Ok(Location { kept, url, ca_cert, token_place, place })
    })
    .await
    .map_err(CommandError::internal)?
}

/// The server Settings describes; a blank token is the one kept for that URL.
fn server_choice(vault: &Vault, url: &str, token: &str, ca_cert: &str) -> Result<ServerChoice> {
    // One spelling per server (the keyring's user name, the status bar): no trailing slash.
    let url = url.trim().trim_end_matches('/');
    if url.is_empty() {
        return Err(CommandError::invalid("url", "type the server's address, such as https://share.example.org"));
    }
    let token = match token.trim() {
        "" => location::read_token(vault.data_dir(), url)?.map(|(t, _)| t).ok_or_else(|| {
            CommandError::invalid("token", "paste the token that “sharelock token create” printed on the server")
        })?,
        typed => typed.to_string(),
    };
    let ca_cert = Some(ca_cert.trim()).filter(|c| !c.is_empty()).map(str::to_string);
    Ok(ServerChoice { url: url.to_string(), token, ca_cert })
}

/// What the window needs of a token: to list, add, and change files, links and slots.
const SCOPES_NEEDED: [&str; 3] = ["read", "upload", "write"];

/// "Test connection": asks the server who the token is. Only a server whose test passed can be
/// saved.
#[tauri::command(rename_all = "snake_case")]
pub async fn test_connection(
    desktop: State<'_, Desktop>,
    url: String,
    token: String,
    ca_cert: String,
) -> Result<TokenIdentity> {
    *desktop.tested.lock().unwrap_or_else(|e| e.into_inner()) = None;
    let vault = desktop.vault.clone();
    let (choice, identity) = tauri::async_runtime::spawn_blocking(move || {
        let choice = server_choice(&vault, &url, &token, &ca_cert)?;
        let (_, identity) = choice.test()?;
        Ok::<_, CommandError>((choice, identity))
    })
    .await
    .map_err(CommandError::internal)??;
    let missing: Vec<&str> = SCOPES_NEEDED.into_iter().filter(|s| !identity.scopes.iter().any(|h| h == s)).collect();
    if !missing.is_empty() {
        return Err(CommandError {
            code: "forbidden",
            ..CommandError::refused(format!(
                "the token {} has the scopes {}, but the window needs {} too: make one with “sharelock token create” (its default scopes are read, upload and write)",
                identity.name.as_deref().map(|n| format!("“{n}”")).unwrap_or_else(|| identity.id.clone()),
                identity.scopes.join(", "),
                missing.join(", "),
            ))
        });
    }
    *desktop.tested.lock().unwrap_or_else(|e| e.into_inner()) = Some(choice);
    Ok(identity)
}

/// Saves where the files are kept and uses it at once. A server is saved only after its
/// connection test passed with the same address, token and CA file.
#[tauri::command(rename_all = "snake_case")]
pub async fn save_location<R: Runtime>(
    app: AppHandle<R>,
    desktop: State<'_, Desktop>,
    kept: String,
    url: String,
    token: String,
    ca_cert: String,
) -> Result<Location> {
    let vault = desktop.vault.clone();
    if kept == "local" {
        desktop.run(|v| v.set_setting(location::FILES_KEPT, None)).await?;
        desktop.set_manage(vault, None, Place::local());
    } else {
        let choice = {
            let vault = vault.clone();
            tauri::async_runtime::spawn_blocking(move || server_choice(&vault, &url, &token, &ca_cert))
                .await
                .map_err(CommandError::internal)??
        };
        let tested = desktop.tested.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if tested.as_ref() != Some(&choice) {
            return Err(CommandError::refused(
                "test the connection first: the server is saved only once it answered with this token".into(),
            ));
        }
        let remote = {
            let choice = choice.clone();
            tauri::async_runtime::spawn_blocking(move || {
                location::keep_token(vault.data_dir(), &choice.url, &choice.token)?;
                vault.set_setting(location::SERVER_URL, Some(&choice.url))?;
                vault.set_setting(location::SERVER_CA_CERT, choice.ca_cert.as_deref())?;
                vault.set_setting(location::FILES_KEPT, Some("server"))?;
                Ok::<_, CommandError>(choice.connect()?)
            })
            .await
            .map_err(CommandError::internal)??
        };
        let remote = Arc::new(remote);
        let place = Place { kept: "server", url: Some(choice.url.clone()), reachable: Some(true), ..Place::default() };
        desktop.set_manage(remote.clone(), Some(remote), place);
    }
    let _ = app.emit("place-changed", desktop.place());
    let _ = app.emit("store-changed", ());
    get_location(desktop).await
}
