//! Slots: making and closing them, and the claims and commits of files received through them.

use super::*;

/// A slot with its URL, status and what it received.
#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct SlotInfo {
    /// What the database holds about the slot.
    #[serde(flatten)]
    pub slot: Slot,
    /// The upload URL (page for browsers, POST and PUT target).
    pub url: String,
    /// Status now.
    pub status: SlotStatus,
    /// Files stored through it.
    pub received: u64,
    /// Who can open it, judged by the address it carries (`reach::audience_of`).
    pub reach: crate::reach::Audience,
    /// Why no one it is sent to may be able to open it, if so (`reach::warning`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reach_warning: Option<String>,
    /// The same upload link by this computer's mDNS name (`reach::by_name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_by_name: Option<String>,
}

/// What a new slot accepts.
#[derive(Debug, Clone)]
pub struct NewSlot {
    /// How long it accepts files.
    pub lifetime: Lifetime,
    /// Largest file, in bytes.
    pub max_size: u64,
    /// How many files.
    pub max_files: u64,
    /// Largest total, in bytes.
    pub max_total: Option<u64>,
    /// Accepted types.
    pub accept: Option<AcceptList>,
    /// A note, shown to uploaders too.
    pub label: Option<String>,
}

impl Default for NewSlot {
    fn default() -> Self {
        NewSlot {
            lifetime: Lifetime::For(std::time::Duration::from_secs(7 * 86_400)),
            max_size: 1 << 30,
            max_files: 10,
            max_total: None,
            accept: None,
            label: None,
        }
    }
}

/// A file received through a slot, staged and waiting to be stored.
#[derive(Debug)]
pub struct Received {
    /// The bytes, hashed.
    pub staged: StagedFile,
    /// Its sanitised name.
    pub name: String,
    /// Where it was in the folder it was sent from, `sub/dir/name`, if it came from one.
    pub path: Option<String>,
}

/// Who sent received files, as they said.
#[derive(Debug, Clone, Default)]
pub struct Uploader {
    /// Their name.
    pub name: Option<String>,
    /// Their message.
    pub message: Option<String>,
}

impl Vault {
    /// Creates an upload slot.
    pub fn create_slot(&self, new: NewSlot, now: i64, base: Option<&str>) -> Result<SlotInfo> {
        if new.max_size == 0 {
            return Err(Error::invalid_field("max_size", "the largest file must be at least 1 byte"));
        }
        if new.max_files == 0 {
            return Err(Error::invalid_field("max_files", "an upload link must take at least 1 file"));
        }
        if new.max_total == Some(0) {
            return Err(Error::invalid_field("max_total", "the total size limit must be at least 1 byte"));
        }
        let expires_at = new
            .lifetime
            .expires_at(now)
            .ok_or_else(|| Error::invalid_field("expires", "an upload slot must expire: give a duration such as 7d"))?;
        let slot = Slot {
            id: ids::generate(),
            created_at: now,
            expires_at,
            max_size: new.max_size,
            max_files: new.max_files,
            max_total: new.max_total,
            accept: new.accept,
            label: clean_label(new.label)?,
            closed_at: None,
            claimed_files: 0,
            received_bytes: 0,
        };
        let base = self.write(|c| {
            slots::insert(c, &slot)?;
            base_url(c, base)
        })?;
        Ok(self.slot_info(slot, 0, &base, now))
    }

    /// Every slot, newest first.
    pub fn slots(&self, now: i64) -> Result<Vec<SlotInfo>> {
        let (list, base) = self.db.with(|c| Ok((slots::list(c)?, base_url(c, None)?)))?;
        Ok(list.into_iter().map(|(s, received)| self.slot_info(s, received, &base, now)).collect())
    }

    /// One slot.
    pub fn slot(&self, id: &str, now: i64) -> Result<SlotInfo> {
        self.slots(now)?.into_iter().find(|s| s.slot.id == id).ok_or_else(|| not_found("slot", id))
    }

    /// A slot's record, for the upload page.
    pub fn slot_record(&self, id: &str) -> Result<Option<Slot>> {
        self.db.with(|c| slots::get(c, id))
    }

    /// Closes a slot: it accepts nothing more.
    pub fn close_slot(&self, id: &str, now: i64) -> Result<SlotInfo> {
        if !self.write(|c| slots::close(c, id, now))? {
            return Err(not_found("slot", id));
        }
        self.slot(id, now)
    }

    /// Stores files received through a slot in the upload `upload_id`, all or none. `None` when
    /// the slot's total limit would be crossed (nothing is stored then).
    pub(super) fn store_received(
        &self,
        slot_id: &str,
        upload_id: &str,
        received: Vec<Received>,
        uploader: &Uploader,
        now: i64,
    ) -> Result<Option<Vec<FileRecord>>> {
        let total: u64 = received.iter().map(|r| r.staged.size).sum();
        let items = received
            .into_iter()
            .map(|r| {
                let record = FileRecord {
                    id: ids::generate(),
                    content_type: content_type_of(&r.name),
                    name: r.name,
                    size: r.staged.size,
                    sha256: r.staged.sha256.clone(),
                    created_at: now,
                    public: false,
                    slot_id: Some(slot_id.to_string()),
                    uploader_name: uploader.name.clone(),
                    uploader_message: uploader.message.clone(),
                    upload_id: Some(upload_id.to_string()),
                    crc32: Some(r.staged.crc32),
                    path: r.path,
                };
                (r.staged, record)
            })
            .collect();
        self.commit_files(items, |tx| slots::reserve_bytes(tx, slot_id, total))
    }

    fn slot_info(&self, slot: Slot, received: u64, base: &str, now: i64) -> SlotInfo {
        let sig = self.signer.sign(Purpose::Slot, &slot.id);
        let url = urls::slot(base, &slot.id, &sig);
        let status = slot.status(now);
        let (reach, reach_warning, url_by_name) =
            (crate::reach::audience_of(&url), crate::reach::warning(&url), crate::reach::by_name(&url));
        SlotInfo { slot, url, status, received, reach, reach_warning, url_by_name }
    }
}
