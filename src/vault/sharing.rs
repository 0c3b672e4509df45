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
    /// Landing page with the file's details and a Download button.
    pub page_url: String,
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
    /// The password it asks for, if any (kept only as its hash).
    pub password: Option<Password>,
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
    /// Creates a link to a file.
    pub fn create_link(&self, file_id: &str, new: NewLink, now: i64, base: Option<&str>) -> Result<LinkInfo> {
        let label = clean_label(new.label)?;
        check_download_limit(new.max_downloads)?;
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
            password: new.password.is_some(),
            password_hash: new.password.as_ref().map(Password::hash).transpose()?,
        };
        let (file, base) = self.write(|c| {
            let tx = write_transaction(c)?;
            let file = files::get(&tx, file_id)?.ok_or_else(|| not_found("file", file_id))?;
            links::insert(&tx, &link)?;
            let base = base_url(&tx, base)?;
            tx.commit()?;
            Ok((file, base))
        })?;
        Ok(self.link_info(link, &file, &base, now))
    }

    /// Links of one file (which must exist), or all links.
    pub fn links(&self, file_id: Option<&str>, now: i64) -> Result<Vec<LinkInfo>> {
        let (list, files, base) = self.db.with(|c| {
            if let Some(id) = file_id
                && !files::exists(c, id)?
            {
                return Err(not_found("file", id));
            }
            Ok((links::list(c, file_id)?, files::list(c)?, base_url(c, None)?))
        })?;
        let by_id: std::collections::HashMap<&str, &FileRecord> = files.iter().map(|f| (f.id.as_str(), f)).collect();
        Ok(list
            .into_iter()
            .filter_map(|l| {
                let file = *by_id.get(l.file_id.as_str())?;
                Some(self.link_info(l, file, &base, now))
            })
            .collect())
    }

    /// Changes a link's expiry, limit, notifications or password; its URL stays the same.
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
        let base = self.base_url(None)?;
        Ok(self.link_info(link, &file, &base, now))
    }

    /// A link and its file, for serving; `None` if there is no such link (or its file is gone).
    pub fn resolve_link(&self, id: &str) -> Result<Option<(Link, FileRecord)>> {
        self.db.with(|c| links::get_with_file(c, id))
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

    fn link_info(&self, link: Link, file: &FileRecord, base: &str, now: i64) -> LinkInfo {
        let sig = self.signer.sign(Purpose::Link, &link.id);
        let url = urls::link_file(base, &link.id, &sig, &file.name);
        let page_url = urls::landing(base, &link.id, &sig);
        let status = link.status(now);
        let (reach, reach_warning, url_by_name) =
            (crate::reach::audience_of(&url), crate::reach::warning(&url), crate::reach::by_name(&url));
        LinkInfo { link, url, page_url, status, reach, reach_warning, url_by_name }
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
