//! Links: making, editing, revoking and removing them, and the download accounting the server
//! asks of them (claims, the byte budget, what is given back).

use super::*;
use crate::passwords::Password;

/// A link with its URLs and status.
#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct LinkInfo {
    /// What the database holds about the link.
    #[serde(flatten)]
    pub link: Link,
    /// Direct download, for browsers, curl and wget.
    pub url: String,
    /// Landing page with the file's details and a Download button (a share's: its files, each
    /// with its own download, and "Download all (.zip)").
    pub page_url: String,
    /// A share of several files: each of them, in order, with its own URL signed by the same
    /// link (`url` is then the zip of them all). Absent for a link to one file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<ShareFile>>,
    /// Status now.
    pub status: LinkStatus,
    /// Who can open it, judged by the address it carries (`reach::audience_of`).
    pub reach: crate::reach::Audience,
    /// Why no one it is sent to may be able to open it, if so (`reach::warning`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reach_warning: Option<String>,
    /// The same link by this computer's mDNS name, when it carries a local network address
    /// (`reach::by_name`): it opens while the server is announced, whatever address DHCP gives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_by_name: Option<String>,
}

/// One file of a share, as its link's JSON lists it.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ShareFile {
    /// The file's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// Lower-case hex SHA-256 of its contents.
    pub sha256: String,
    /// Its own download through the share's link (see `urls::share_file`).
    pub url: String,
}

/// The most files one share may hold: enough for any folder worth sharing by link, few enough
/// that its landing page and zip directory stay small.
pub const MAX_SHARE_FILES: usize = 10_000;

/// The name a share gets when its creator gives none.
pub const DEFAULT_SHARE_NAME: &str = "Shared files";

/// A link nginx checks alone: no id, no count, no revocation, just a URL until it expires.
#[derive(Debug, Clone, Serialize)]
pub struct NginxLinkInfo {
    /// The file.
    pub file_id: String,
    /// The URL, in nginx's `secure_link` format.
    pub url: String,
    /// When nginx stops accepting it.
    #[serde(serialize_with = "crate::time::serialize")]
    pub expires_at: i64,
    /// Always `nginx`: this link is not in Sharelock's database.
    pub checked_by: &'static str,
}

/// What a new link allows.
#[derive(Debug, Clone, Default)]
pub struct NewLink {
    /// How long it works; `None` takes the default (7 days).
    pub lifetime: Option<Lifetime>,
    /// Complete downloads allowed.
    pub max_downloads: Option<u64>,
    /// A note for the owner.
    pub label: Option<String>,
    /// Whether its completed downloads notify the owner; `None`: they do.
    pub notify: Option<bool>,
    /// Further files after the first, in order: a share of several files, downloaded one by one
    /// or all at once as a zip.
    pub more_files: Vec<String>,
    /// A share's name (its zip's too); only for a share of several files.
    pub name: Option<String>,
    /// The password it asks for, if any (kept only as its hash).
    pub password: Option<Password>,
    /// Whether its landing page shows previews; `None`: it does.
    pub preview: Option<bool>,
}

/// Changes to a link; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct LinkEdit {
    /// New lifetime, counted from now.
    pub lifetime: Option<Lifetime>,
    /// New limit; `Some(None)` removes the limit.
    pub max_downloads: Option<Option<u64>>,
    /// Whether its completed downloads notify the owner.
    pub notify: Option<bool>,
    /// A new password; `Some(None)` removes it. Either way, unlock cookies issued before stop
    /// working.
    pub password: Option<Option<Password>>,
    /// Whether its landing page shows previews.
    pub preview: Option<bool>,
}

/// A share's name from what its creator gave, for the files `file_ids`: only a share of several
/// files has one (the default if none is given), cleaned as a file name is (it names the zip).
fn share_name(given: Option<String>, file_ids: &[String]) -> Result<Option<String>> {
    if file_ids.len() == 1 {
        return match given {
            Some(_) => Err(Error::invalid_field("name", "a name is for a share of several files")),
            None => Ok(None),
        };
    }
    if file_ids.len() > MAX_SHARE_FILES {
        return Err(Error::invalid_field("files", format!("a share holds at most {MAX_SHARE_FILES} files")));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(twice) = file_ids.iter().find(|id| !seen.insert(id.as_str())) {
        return Err(Error::invalid_field("files", format!("the file {twice} is given twice")));
    }
    let name = given.filter(|n| !n.trim().is_empty()).map(|n| names::sanitize(n.trim()));
    Ok(Some(name.unwrap_or_else(|| DEFAULT_SHARE_NAME.to_string())))
}

/// A download limit, if given, is at least 1: for new links, changed limits and the desktop app's
/// default limit alike.
pub fn check_download_limit(limit: Option<u64>) -> Result<()> {
    if limit == Some(0) {
        return Err(Error::invalid_field("max_downloads", "the download limit must be at least 1"));
    }
    Ok(())
}

/// How long a link works when its creator does not say.
pub const DEFAULT_LINK_LIFETIME: Lifetime = Lifetime::For(std::time::Duration::from_secs(7 * 86_400));

impl Vault {
    /// Creates a link to a file, or (with [`NewLink::more_files`]) a share of several files.
    pub fn create_link(&self, file_id: &str, new: NewLink, now: i64, base: Option<&str>) -> Result<LinkInfo> {
        let label = clean_label(new.label)?;
        check_download_limit(new.max_downloads)?;
        let mut file_ids = vec![file_id.to_string()];
        file_ids.extend(new.more_files);
        let name = share_name(new.name, &file_ids)?;
        let link = Link {
            id: ids::generate(),
            file_id: file_id.to_string(),
            created_at: now,
            expires_at: new.lifetime.unwrap_or(DEFAULT_LINK_LIFETIME).expires_at(now),
            max_downloads: new.max_downloads,
            downloads: 0,
            revoked_at: None,
            label,
            undelivered: 0,
            notify: new.notify.unwrap_or(true),
            last_access_at: None,
            name,
            password: new.password.is_some(),
            password_hash: new.password.as_ref().map(Password::hash).transpose()?,
            preview: new.preview.unwrap_or(true),
        };
        let (records, base) = self.write(|c| {
            let tx = write_transaction(c)?;
            let mut records = Vec::with_capacity(file_ids.len());
            for id in &file_ids {
                records.push(files::get(&tx, id)?.ok_or_else(|| not_found("file", id))?);
            }
            links::insert(&tx, &link)?;
            if link.is_share() {
                links::insert_files(&tx, &link.id, &file_ids)?;
            }
            let base = base_url(&tx, base)?;
            tx.commit()?;
            Ok((records, base))
        })?;
        Ok(self.link_info(link, &records, &base, now))
    }

    /// Links of one file (which must exist), or all links.
    pub fn links(&self, file_id: Option<&str>, now: i64) -> Result<Vec<LinkInfo>> {
        let (list, files, shares, base) = self.db.with(|c| {
            if let Some(id) = file_id
                && !files::exists(c, id)?
            {
                return Err(not_found("file", id));
            }
            let (list, shares) = (links::list(c, file_id)?, links::all_files(c)?);
            // One file's links name few files: those are read by id, not the whole list (a
            // store of 100,000 files made each file's details wait on reading every record).
            let files = match file_id {
                None => files::list(c)?,
                Some(_) => {
                    let mut wanted: Vec<&str> = Vec::new();
                    for l in &list {
                        match shares.get(&l.id) {
                            Some(ids) => wanted.extend(ids.iter().map(String::as_str)),
                            None => wanted.push(&l.file_id),
                        }
                    }
                    wanted.sort_unstable();
                    wanted.dedup();
                    wanted.into_iter().filter_map(|id| files::get(c, id).transpose()).collect::<Result<_>>()?
                }
            };
            Ok((list, files, shares, base_url(c, None)?))
        })?;
        let by_id: std::collections::HashMap<&str, &FileRecord> = files.iter().map(|f| (f.id.as_str(), f)).collect();
        Ok(list
            .into_iter()
            .filter_map(|l| {
                let records: Vec<FileRecord> = match shares.get(&l.id) {
                    Some(ids) => {
                        ids.iter().map(|id| by_id.get(id.as_str()).map(|f| (*f).clone())).collect::<Option<_>>()?
                    }
                    None => vec![(*by_id.get(l.file_id.as_str())?).clone()],
                };
                Some(self.link_info(l, &records, &base, now))
            })
            .collect())
    }

    /// Changes a link's expiry, limit, notifications, previews or password; its URL stays the same.
    pub fn edit_link(&self, id: &str, edit: LinkEdit, now: i64) -> Result<LinkInfo> {
        check_download_limit(edit.max_downloads.flatten())?;
        // Hashed before the write lock is taken: Argon2 takes a while on purpose.
        let password_hash = edit.password.as_ref().map(|p| p.as_ref().map(Password::hash).transpose()).transpose()?;
        self.write(|c| {
            let tx = write_transaction(c)?;
            if links::get(&tx, id)?.is_none() {
                return Err(not_found("link", id));
            }
            if let Some(lifetime) = edit.lifetime {
                links::set_expiry(&tx, id, lifetime.expires_at(now))?;
            }
            if let Some(max) = edit.max_downloads {
                links::set_max_downloads(&tx, id, max)?;
            }
            if edit.lifetime.is_some() || edit.max_downloads.is_some() {
                // A link given more time or downloads can end again, and that end is news again.
                links::reset_ended_noticed(&tx, id)?;
            }
            if let Some(notify) = edit.notify {
                links::set_notify(&tx, id, notify)?;
            }
            if let Some(preview) = edit.preview {
                links::set_preview(&tx, id, preview)?;
            }
            if let Some(hash) = &password_hash {
                links::set_password_hash(&tx, id, hash.as_deref())?;
            }
            tx.commit()?;
            Ok(())
        })?;
        self.link(id, now)
    }

    /// Revokes a link: its URL answers 410 from now on.
    pub fn revoke_link(&self, id: &str, now: i64) -> Result<LinkInfo> {
        if !self.write(|c| links::revoke(c, id, now))? {
            return Err(not_found("link", id));
        }
        self.link(id, now)
    }

    /// Removes a link that no longer works (revoked, expired or used up) from the list. An active
    /// link is refused: it still works for whoever has it, so it must be revoked first, on
    /// purpose. Its URL keeps failing afterwards, now as an unknown link.
    pub fn delete_link(&self, id: &str, now: i64) -> Result<()> {
        self.write(|c| {
            let tx = write_transaction(c)?;
            let link = links::get(&tx, id)?.ok_or_else(|| not_found("link", id))?;
            if link.status(now) == LinkStatus::Active {
                return Err(Error::InvalidInput("this link still works: revoke it before removing it".into()));
            }
            links::delete(&tx, id)?;
            tx.commit()?;
            Ok(())
        })
    }

    /// Removes every link of a file (which must exist) that no longer works; active links stay.
    /// Returns how many went.
    pub fn delete_inactive_links(&self, file_id: &str, now: i64) -> Result<usize> {
        self.write(|c| {
            let tx = write_transaction(c)?;
            if !files::exists(&tx, file_id)? {
                return Err(not_found("file", file_id));
            }
            let mut removed = 0;
            for link in links::list(&tx, Some(file_id))? {
                if link.status(now) != LinkStatus::Active && links::delete(&tx, &link.id)? {
                    removed += 1;
                }
            }
            tx.commit()?;
            Ok(removed)
        })
    }

    /// One link.
    pub fn link(&self, id: &str, now: i64) -> Result<LinkInfo> {
        let (link, file) = self.resolve_link(id)?.ok_or_else(|| not_found("link", id))?;
        let link = Arc::unwrap_or_clone(link);
        let records =
            if link.is_share() { self.db.with(|c| links::files_of(c, id))? } else { vec![Arc::unwrap_or_clone(file)] };
        let base = self.base_url(None)?;
        Ok(self.link_info(link, &records, &base, now))
    }

    /// The files of a share, in order, each with its CRC-32: computed now (reading the file
    /// through) and stored for a file added before Sharelock kept it.
    pub fn share_files(&self, link_id: &str) -> Result<Vec<FileRecord>> {
        let mut records = self.db.with(|c| links::files_of(c, link_id))?;
        for record in records.iter_mut().filter(|r| r.crc32.is_none()) {
            let found = store::inspect(&self.store.path_of(&record.id))
                .map_err(|e| Error::io(format!("cannot read the stored file {}", record.id), e))?;
            if found.size != record.size || found.sha256 != record.sha256 {
                // Changed behind Sharelock's back: never put a CRC-32 of other bytes in a zip.
                let changed = std::io::Error::other("its bytes no longer match its record: `sharelock verify`");
                return Err(Error::io(format!("cannot zip the stored file {}", record.id), changed));
            }
            self.write(|c| files::set_crc32(c, &record.id, found.crc32))?;
            record.crc32 = Some(found.crc32);
        }
        Ok(records)
    }

    /// The zip of a share's files (see [`share_files`](Vault::share_files)), laid out.
    pub fn share_zip(&self, files: &[FileRecord]) -> crate::zip::Layout {
        let names = crate::zip::unique_names(files.iter().map(|f| f.name.as_str()));
        let entries = files
            .iter()
            .zip(names)
            .map(|(f, name)| crate::zip::Entry {
                name,
                path: self.store.path_of(&f.id),
                size: f.size,
                crc32: f.crc32.unwrap_or_default(),
                created_at: f.created_at,
            })
            .collect();
        crate::zip::Layout::new(entries)
    }

    /// A link and its file, for serving; `None` if there is no such link (or its file is gone).
    /// Kept in memory until anyone commits anything (see `link_rows`).
    pub fn resolve_link(&self, id: &str) -> Result<Option<super::link_rows::Found>> {
        let read = || self.db.with(|c| links::get_with_file(c, id));
        match self.link_rows.get_or_init(|| self.db.commits().map(super::link_rows::LinkRows::new)) {
            Some(rows) => rows.get(id, read),
            None => Ok(read()?.map(|(link, file)| (Arc::new(link), Arc::new(file)))),
        }
    }

    /// Counts one complete download if the link's limit allows it (see [`links::claim_download`]).
    pub fn claim_download(&self, link_id: &str) -> Result<bool> {
        self.write(|c| links::claim_download(c, link_id))
    }

    /// Gives back what a response of a limited link took when its bytes did not reach the
    /// client; true when given back whole (see [`links::give_back`]).
    pub fn give_back_response(&self, link_id: &str, claimed: bool, reserved: u64, unsent: u64) -> Result<bool> {
        self.write(|c| links::give_back(c, link_id, claimed, reserved, unsent))
    }

    /// Reserves `len` bytes of a limited link's byte budget before sending them; false when the
    /// budget is spent (see [`links::byte_budget`]).
    pub fn reserve_link_bytes(&self, link: &Link, size: u64, len: u64) -> Result<bool> {
        let budget = links::byte_budget(link.max_downloads.unwrap_or(u64::MAX), size);
        self.write(|c| links::reserve_bytes(c, &link.id, len, budget))
    }

    /// Gives back reserved bytes that were never delivered.
    pub fn refund_link_bytes(&self, link_id: &str, len: u64) -> Result<()> {
        self.write(|c| links::refund_bytes(c, link_id, len))
    }

    /// Adds downloads counted in memory, all in one transaction.
    pub fn add_downloads(&self, counts: &[(String, u64)]) -> Result<()> {
        self.write(|c| {
            let tx = write_transaction(c)?;
            links::add_downloads(&tx, counts)?;
            tx.commit()?;
            Ok(())
        })
    }

    /// `records`: the link's file, or a share's files in order.
    fn link_info(&self, link: Link, records: &[FileRecord], base: &str, now: i64) -> LinkInfo {
        let sig = self.signer.sign(Purpose::Link, &link.id);
        let (url, files) = match &link.name {
            Some(name) => {
                let files = records
                    .iter()
                    .map(|f| ShareFile {
                        id: f.id.clone(),
                        name: f.name.clone(),
                        size: f.size,
                        sha256: f.sha256.clone(),
                        url: urls::share_file(base, &link.id, &sig, &f.id, &f.name),
                    })
                    .collect();
                (urls::link_file(base, &link.id, &sig, &urls::zip_name(name)), Some(files))
            }
            None => (urls::link_file(base, &link.id, &sig, records.first().map_or("", |f| f.name.as_str())), None),
        };
        let page_url = urls::landing(base, &link.id, &sig);
        let status = link.status(now);
        let (reach, reach_warning, url_by_name) =
            (crate::reach::audience_of(&url), crate::reach::warning(&url), crate::reach::by_name(&url));
        LinkInfo { link, url, page_url, files, status, reach, reach_warning, url_by_name }
    }

    /// A link nginx checks alone (`secure_link`): see [`crate::nginx`]. It must expire.
    pub fn nginx_link(&self, file_id: &str, lifetime: Lifetime, now: i64, base: Option<&str>) -> Result<NginxLinkInfo> {
        let expires_at = lifetime.expires_at(now).ok_or_else(|| {
            Error::InvalidInput("an nginx-checked link must expire: give a duration such as 7d".into())
        })?;
        let (file, base) = self.db.with(|c| {
            let file = files::get(c, file_id)?.ok_or_else(|| not_found("file", file_id))?;
            Ok((file, base_url(c, base)?))
        })?;
        let secret = crate::nginx::NginxSecret::open(&self.dir.nginx_secret())?;
        let (uri, path) = crate::nginx::link_paths(&file);
        let md5 = crate::nginx::secure_link_hash(expires_at, &uri, &secret);
        Ok(NginxLinkInfo {
            file_id: file.id,
            url: format!("{base}{path}?md5={md5}&expires={expires_at}"),
            expires_at,
            checked_by: "nginx",
        })
    }

    /// The nginx secret (created on first use).
    pub fn nginx_secret(&self) -> Result<crate::nginx::NginxSecret> {
        crate::nginx::NginxSecret::open(&self.dir.nginx_secret())
    }
}
