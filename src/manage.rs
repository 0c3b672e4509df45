//! What an owner does with their files, links and slots, wherever the Sharelock is: this
//! computer's data dir ([`Vault`]) or a server reached through its API (`remote`). The CLI's
//! file, link and slot commands and the desktop app's views are written once against
//! [`Manage`]; the rules stay in the core behind either side.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::history::{Access, FeedEntry, Query};
use crate::names::ReceivedPath;
use crate::thumbnails::Thumbnail;
use crate::vault::{FileInfo, LinkEdit, LinkInfo, NewLink, NewSlot, SlotInfo};
use crate::{Error, Result, Vault, time};

/// The operations an owner has on a Sharelock. Every call blocks (on the database, the disk or
/// the network): async callers run them on a blocking thread.
pub trait Manage: Send + Sync {
    /// Every file, received ones included, newest first.
    fn files(&self) -> Result<Vec<FileInfo>>;
    /// The files received through slots, newest first.
    fn inbox(&self) -> Result<Vec<FileInfo>> {
        Ok(self.files()?.into_iter().filter(|f| f.file.slot_id.is_some()).collect())
    }
    /// One file.
    fn file(&self, id: &str) -> Result<FileInfo>;
    /// A file's thumbnail (see [`crate::thumbnails`]); `None` when it is not an image that gets
    /// one.
    fn thumbnail(&self, id: &str) -> Result<Option<Thumbnail>>;
    /// Stores the file at `path`; `progress` gets the bytes sent or copied so far.
    fn add_file(&self, path: &Path, public: bool, progress: &mut dyn FnMut(u64)) -> Result<FileInfo>;
    /// Stores the files at `paths`, in order: `progress` gets the index of the file being sent
    /// or copied and its bytes so far, `added` each file once it is stored. The first file that
    /// cannot be stored stops the rest (those before it stay stored) and its error is returned.
    /// This computer's data dir stores them a chunk at a time (see [`Vault::add_files`]); a
    /// server, one upload each.
    fn add_files(
        &self,
        paths: &[PathBuf],
        public: bool,
        progress: &mut dyn FnMut(usize, u64),
        added: &mut dyn FnMut(FileInfo),
    ) -> Result<()> {
        for (index, path) in paths.iter().enumerate() {
            added(self.add_file(path, public, &mut |done| progress(index, done))?);
        }
        Ok(())
    }
    /// Removes a file and every link to it.
    fn remove_file(&self, id: &str) -> Result<()>;
    /// Makes a file public or private.
    fn set_public(&self, id: &str, public: bool) -> Result<FileInfo>;
    /// Writes a stored file's bytes to `dest`, whole or not at all (the owner's download: never
    /// counted against any link).
    fn save_file(&self, id: &str, dest: &Path) -> Result<()>;
    /// Writes a received folder (`folder`, a path of the upload `upload_id`'s files such as
    /// `Photos` or `Photos/2024`) into `dir` as a tree: each file at `dir/{last part of
    /// folder}/{rest of its path}`. See [`save_folder`].
    fn save_folder(&self, upload_id: &str, folder: &str, dir: &Path) -> Result<Vec<PathBuf>> {
        save_folder(self, upload_id, folder, dir)
    }

    /// A new link to a file; `base` overrides the base URL it is built with.
    fn create_link(&self, file_id: &str, new: NewLink, base: Option<&str>) -> Result<LinkInfo>;
    /// Links, of one file or of all.
    fn links(&self, file_id: Option<&str>) -> Result<Vec<LinkInfo>>;
    /// Changes a link's expiry or limit; its URL stays the same.
    fn edit_link(&self, id: &str, edit: LinkEdit) -> Result<LinkInfo>;
    /// Revokes a link: it answers 410 from now on.
    fn revoke_link(&self, id: &str) -> Result<LinkInfo>;
    /// Forgets a link that no longer works (revoked, expired or used up).
    fn delete_link(&self, id: &str) -> Result<()>;

    /// A new upload slot; `base` overrides the base URL it is built with.
    fn create_slot(&self, new: NewSlot, base: Option<&str>) -> Result<SlotInfo>;
    /// Every slot with what it received.
    fn slots(&self) -> Result<Vec<SlotInfo>>;
    /// Closes a slot: it accepts nothing more.
    fn close_slot(&self, id: &str) -> Result<SlotInfo>;

    /// A feed that tells when anything changed: files, links, slots, counts.
    fn changes(&self) -> Result<Box<dyn Changes>>;

    /// Access history rows, newest first.
    fn history(&self, query: &Query) -> Result<Vec<Access>>;
    /// Feed entries after `after`, oldest first, at most `limit`.
    fn history_feed(&self, after: i64, limit: usize) -> Result<Vec<FeedEntry>>;
    /// The last feed entry's seq (0 if none): where a new follower starts.
    fn history_feed_end(&self) -> Result<i64>;
}

/// Saves a received folder as a tree (see [`Manage::save_folder`]). Nothing is written outside
/// `dir`: each path is checked again as it was when received (it comes from a database or a
/// server, either may have been tampered with), and each folder made is resolved, symbolic links
/// followed, to make sure it is still inside `dir`. Nothing is replaced: when any of the files is
/// already there, none is written.
pub fn save_folder<M: Manage + ?Sized>(owner: &M, upload_id: &str, folder: &str, dir: &Path) -> Result<Vec<PathBuf>> {
    let folder = folder.trim_end_matches('/');
    let prefix = format!("{folder}/");
    let files: Vec<_> = owner
        .files()?
        .into_iter()
        .map(|f| f.file)
        .filter(|f| f.upload_id.as_deref() == Some(upload_id))
        .filter_map(|f| Some((f.path.as_deref()?.strip_prefix(&prefix)?.to_string(), f.id)))
        .collect();
    if files.is_empty() {
        return Err(Error::InvalidInput(format!("no received folder {folder:?} in this upload")));
    }
    let root = dir.canonicalize().map_err(|e| Error::io(format!("cannot save into {}", dir.display()), e))?;
    let top = folder.rsplit('/').next().unwrap_or(folder);
    let mut plan = Vec::with_capacity(files.len());
    for (rest, id) in files {
        let checked = ReceivedPath::parse(&format!("{top}/{rest}"))
            .map_err(|e| Error::InvalidInput(format!("the received path {folder}/{rest} cannot be saved: {e}")))?;
        let dest = root.join(checked.path().unwrap_or_else(|| checked.name().to_string()));
        if dest.symlink_metadata().is_ok() {
            return Err(Error::InvalidInput(format!("{} already exists: choose another folder", dest.display())));
        }
        plan.push((id, dest));
    }
    for (id, dest) in &plan {
        let parent = dest.parent().unwrap_or(&root);
        std::fs::create_dir_all(parent).map_err(|e| Error::io(format!("cannot make {}", parent.display()), e))?;
        let real = parent.canonicalize().map_err(|e| Error::io(format!("cannot read {}", parent.display()), e))?;
        if !real.starts_with(&root) {
            return Err(Error::InvalidInput(format!("{} leads outside {}", parent.display(), root.display())));
        }
        owner.save_file(id, &real.join(dest.file_name().unwrap_or_default()))?;
    }
    Ok(plan.into_iter().map(|(_, dest)| dest).collect())
}

/// Tells when a Sharelock changed.
pub trait Changes: Send {
    /// Waits up to `timeout` for a change; `true` if something changed since the last call
    /// (or since the feed was made).
    fn wait(&mut self, timeout: Duration) -> Result<bool>;
}

/// A local data dir's changes: its database's `data_version`, asked a few times a second
/// (SQLite has no way to push a change made by another process).
struct LocalChanges(crate::db::ChangeWatcher);

/// How often the local database is asked whether it changed (one cheap pragma).
const LOCAL_POLL: Duration = Duration::from_millis(400);

impl Changes for LocalChanges {
    fn wait(&mut self, timeout: Duration) -> Result<bool> {
        let until = std::time::Instant::now() + timeout;
        loop {
            if self.0.changed()? {
                return Ok(true);
            }
            let left = until.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            std::thread::sleep(left.min(LOCAL_POLL));
        }
    }
}

impl Manage for Vault {
    fn files(&self) -> Result<Vec<FileInfo>> {
        Vault::files(self)
    }
    fn inbox(&self) -> Result<Vec<FileInfo>> {
        Vault::inbox(self)
    }
    fn file(&self, id: &str) -> Result<FileInfo> {
        Vault::file(self, id)
    }
    fn thumbnail(&self, id: &str) -> Result<Option<Thumbnail>> {
        crate::thumbnails::thumbnail(self, id)
    }
    fn add_file(&self, path: &Path, public: bool, progress: &mut dyn FnMut(u64)) -> Result<FileInfo> {
        Vault::add_file(self, path, public, time::now(), progress)
    }
    fn add_files(
        &self,
        paths: &[PathBuf],
        public: bool,
        progress: &mut dyn FnMut(usize, u64),
        added: &mut dyn FnMut(FileInfo),
    ) -> Result<()> {
        Vault::add_files(self, paths, public, time::now(), progress, added)
    }
    fn remove_file(&self, id: &str) -> Result<()> {
        Vault::remove_file(self, id)
    }
    fn set_public(&self, id: &str, public: bool) -> Result<FileInfo> {
        Vault::set_public(self, id, public)
    }
    fn save_file(&self, id: &str, dest: &Path) -> Result<()> {
        Vault::export_file(self, id, dest)
    }
    fn create_link(&self, file_id: &str, new: NewLink, base: Option<&str>) -> Result<LinkInfo> {
        Vault::create_link(self, file_id, new, time::now(), base)
    }
    fn links(&self, file_id: Option<&str>) -> Result<Vec<LinkInfo>> {
        Vault::links(self, file_id, time::now())
    }
    fn edit_link(&self, id: &str, edit: LinkEdit) -> Result<LinkInfo> {
        Vault::edit_link(self, id, edit, time::now())
    }
    fn revoke_link(&self, id: &str) -> Result<LinkInfo> {
        Vault::revoke_link(self, id, time::now())
    }
    fn delete_link(&self, id: &str) -> Result<()> {
        Vault::delete_link(self, id, time::now())
    }
    fn create_slot(&self, new: NewSlot, base: Option<&str>) -> Result<SlotInfo> {
        Vault::create_slot(self, new, time::now(), base)
    }
    fn slots(&self) -> Result<Vec<SlotInfo>> {
        Vault::slots(self, time::now())
    }
    fn close_slot(&self, id: &str) -> Result<SlotInfo> {
        Vault::close_slot(self, id, time::now())
    }
    fn changes(&self) -> Result<Box<dyn Changes>> {
        Ok(Box::new(LocalChanges(self.watcher()?)))
    }
    fn history(&self, query: &Query) -> Result<Vec<Access>> {
        Vault::history(self, query)
    }
    fn history_feed(&self, after: i64, limit: usize) -> Result<Vec<FeedEntry>> {
        Vault::history_feed(self, after, limit)
    }
    fn history_feed_end(&self) -> Result<i64> {
        Vault::history_feed_end(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A remote Sharelock answers with the JSON the CLI prints; read back, it must print the same.
    #[test]
    fn files_links_and_slots_read_back_from_their_json_unchanged() {
        let dir = tempfile::tempdir().expect("temp dir");
        let vault = Vault::open(&dir.path().join("data")).expect("open");
        let source = dir.path().join("report.pdf");
        std::fs::write(&source, b"%PDF-1.4 hello").expect("write");
        let file = Manage::add_file(&vault, &source, false, &mut |_| {}).expect("add");
        let new = NewLink { max_downloads: Some(2), label: Some("for Dana".into()), ..NewLink::default() };
        let link = vault.create_link(&file.file.id, new, time::now(), None).expect("link");
        let accept = crate::slots::AcceptList::parse("pdf,image/*").expect("accept");
        let new = NewSlot { accept: Some(accept), label: Some("scans".into()), ..NewSlot::default() };
        let slot = Manage::create_slot(&vault, new, None).expect("slot");
        let file_json = serde_json::to_value(Manage::file(&vault, &file.file.id).expect("file")).expect("json");
        let back: FileInfo = serde_json::from_value(file_json.clone()).expect("file back");
        assert_eq!(serde_json::to_value(back).expect("json"), file_json);
        let link_json = serde_json::to_value(&link).expect("json");
        let back: LinkInfo = serde_json::from_value(link_json.clone()).expect("link back");
        assert_eq!(serde_json::to_value(back).expect("json"), link_json);
        let slot_json = serde_json::to_value(&slot).expect("json");
        let back: SlotInfo = serde_json::from_value(slot_json.clone()).expect("slot back");
        assert_eq!(serde_json::to_value(back).expect("json"), slot_json);
        assert_eq!(slot_json["accept"], serde_json::json!([".pdf", "image/*"]));
    }
}
