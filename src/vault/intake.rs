//! Upload intake: the rules of receiving files through a slot, kept by one type. An [`Upload`]
//! holds the store's writer lock from before its first byte until its commit (so a starting
//! server's cleanup never takes a file half-way), claims each file's place in the slot before any
//! of the file's bytes are stored (so concurrent uploads never exceed the file count), checks each
//! file's name and then its bytes against the accept list, says what each file may still weigh
//! (per file and within the total left), and stores the request's files all at once or none.
//! Dropped before its commit, whatever the reason, it gives every claim back.
//!
//! The HTTP layer only frames the bytes (a raw PUT, a multipart form), times them and checks
//! their rate; it maps each [`Refusal`] to a status in one place.

use std::sync::Arc;

use super::*;
use crate::names::ReceivedPath;

/// Why a slot refuses an upload, or one of its files.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The slot is not in the database (any more).
    #[error("this upload link no longer exists")]
    Gone,
    /// Past its expiry.
    #[error("this upload link has expired")]
    Expired,
    /// Closed by its owner.
    #[error("this upload link was closed")]
    Closed,
    /// It has received all the files it accepts.
    #[error("this upload link has received all the files it accepts")]
    Full,
    /// This request sends more files than the slot has room for; it accepted this many of them.
    #[error("too many files: this upload link accepts {0} more")]
    TooMany(usize),
    /// A file over what it may weigh (the reason says which limit).
    #[error("too large: {0}")]
    TooLarge(String),
    /// The request's files together cross the slot's total.
    #[error("too large: this upload link's total size limit would be exceeded")]
    TotalExceeded,
    /// A name of a type the slot does not accept (the list of what it accepts).
    #[error("this upload link accepts only {0}")]
    WrongName(String),
    /// Bytes that do not bear out the file's name.
    #[error("{0}")]
    WrongContent(String),
    /// A file's path in its folder that could lead out of it (see `names::ReceivedPath`).
    #[error(transparent)]
    BadPath(#[from] crate::names::BadPath),
}

impl Refusal {
    /// The refusal of a slot that is not active.
    pub fn of_status(status: SlotStatus) -> Refusal {
        match status {
            SlotStatus::Expired => Refusal::Expired,
            SlotStatus::Closed => Refusal::Closed,
            // An active slot refuses no claim; a race with its closing reads as full.
            SlotStatus::Full | SlotStatus::Active => Refusal::Full,
        }
    }
}

/// What the file being received may weigh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileLimit {
    /// Its largest size, in bytes.
    pub max: u64,
    /// Which limit `max` is, for the refusal.
    pub what: String,
}

impl FileLimit {
    /// The refusal for a file that crosses this limit.
    pub fn refusal(&self) -> Refusal {
        Refusal::TooLarge(self.what.clone())
    }
}

/// One upload into a slot (see the module doc).
#[derive(Debug)]
pub struct Upload {
    /// Names this upload: every file it stores carries it as `upload_id`, so the inbox can
    /// show one sender's files together.
    id: String,
    vault: Arc<Vault>,
    slot: Slot,
    claimed: usize,
    received: Vec<Received>,
    _lock: WriterLock,
}

impl Vault {
    /// Starts an upload into the slot `id`: takes the store's writer lock and checks that the slot
    /// accepts files. Blocking.
    pub fn begin_upload(self: &Arc<Self>, id: &str, now: i64) -> Result<Upload> {
        let lock = self.writer_lock()?;
        let slot = self.db.with(|c| slots::get(c, id))?.ok_or(Error::Refused(Refusal::Gone))?;
        match slot.status(now) {
            SlotStatus::Active => {}
            other => return Err(Refusal::of_status(other).into()),
        }
        Ok(Upload { id: ids::generate(), vault: self.clone(), slot, claimed: 0, received: Vec::new(), _lock: lock })
    }
}

impl Upload {
    /// The slot as it was at the last claim.
    pub fn slot(&self) -> &Slot {
        &self.slot
    }

    /// Claims the place of the next file, called `name`, before any of its bytes are stored, and
    /// checks its name against the accept list; what it may weigh. Blocking.
    pub fn claim(&mut self, name: &str, now: i64) -> Result<FileLimit> {
        let claimed = self.vault.write(|c| slots::claim_file(c, &self.slot.id, now)).map_err(|e| match e {
            Error::NotFound { .. } => Error::Refused(Refusal::Gone),
            other => other,
        })?;
        match claimed {
            Ok(slot) => {
                self.claimed += 1;
                self.slot = slot;
            }
            Err(SlotStatus::Full) if self.claimed > 0 => return Err(Refusal::TooMany(self.claimed).into()),
            Err(status) => return Err(Refusal::of_status(status).into()),
        }
        if let Some(accept) = &self.slot.accept {
            let mime = mime_guess::from_path(name).first_or_octet_stream();
            if !accept.accepts_name(name, mime.essence_str()) {
                return Err(Refusal::WrongName(accept.entries().join(", ")).into());
            }
        }
        Ok(self.limit())
    }

    /// What the file being received may weigh: the slot's size per file, or what is left of its
    /// total after the files this upload already holds, whichever is less.
    fn limit(&self) -> FileLimit {
        let already: u64 = self.received.iter().map(|r| r.staged.size).sum();
        match self.slot.total_left() {
            Some(left) if left.saturating_sub(already) < self.slot.max_size => {
                let left = left.saturating_sub(already);
                FileLimit { max: left, what: format!("this upload link has {} of space left", format_size(left)) }
            }
            _ => FileLimit {
                max: self.slot.max_size,
                what: format!("files may be at most {}", format_size(self.slot.max_size)),
            },
        }
    }

    /// Gives back the last claim at once: its part held no file (a browser sends an empty,
    /// nameless part when none was chosen). Blocking.
    pub fn give_back_last(&mut self) -> Result<()> {
        self.claimed = self.claimed.saturating_sub(1);
        self.vault.write(|c| slots::release_file(c, &self.slot.id))
    }

    /// Keeps a received file, at `path` in the folder it was sent from (or alone), once its
    /// bytes bear out its name (see `slots::AcceptList::accepts_content`).
    pub fn accept(&mut self, path: ReceivedPath, staged: StagedFile) -> Result<()> {
        let name = path.name().to_string();
        if let Some(accept) = &self.slot.accept {
            let sniffed = slots::sniff(&staged.head);
            if !accept.accepts_content(&name, sniffed) {
                let why = match sniffed {
                    Some((mime, _)) => format!(
                        "the file's contents are {mime}, not of an accepted type ({})",
                        accept.entries().join(", ")
                    ),
                    None => {
                        let ext = name.rsplit_once('.').map(|(_, ext)| ext.to_ascii_lowercase()).unwrap_or_default();
                        format!("the file's contents are not what its name says: they lack the .{ext} signature")
                    }
                };
                return Err(Refusal::WrongContent(why).into());
            }
        }
        self.received.push(Received { staged, path: path.path(), name });
        Ok(())
    }

    /// How many files this upload holds.
    pub fn files(&self) -> usize {
        self.received.len()
    }

    /// Stores every file received, all or none, and keeps their claims. Blocking.
    pub fn commit(mut self, uploader: &Uploader, now: i64) -> Result<Vec<FileRecord>> {
        let received = std::mem::take(&mut self.received);
        let stored = self.vault.store_received(&self.slot.id, &self.id, received, uploader, now)?;
        let stored = stored.ok_or(Error::Refused(Refusal::TotalExceeded))?;
        self.claimed = 0;
        Ok(stored)
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if self.claimed == 0 {
            return;
        }
        let (vault, id, count) = (self.vault.clone(), self.slot.id.clone(), self.claimed);
        let release = move || {
            if let Err(e) = vault.write(|c| (0..count).try_for_each(|_| slots::release_file(c, &id))) {
                tracing::error!("cannot give back {count} claim(s) of slot {id}: {e}");
            }
        };
        // Off the async workers when there are some: an upload usually ends in a handler.
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(release)),
            Err(_) => release(),
        }
    }
}
