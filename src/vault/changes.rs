//! What changed between two looks at a data dir: files added, received or removed, downloads
//! counted, links and slots changed. The server's event feed diffs one snapshot against the
//! next each time the database changes (whoever changed it: the server, the CLI, the app).

use std::collections::HashMap;

use super::*;

/// Files, links and slots as they were at one moment.
#[derive(Debug, Default)]
pub struct Snapshot {
    files: HashMap<String, FileInfo>,
    links: HashMap<String, LinkInfo>,
    slots: HashMap<String, SlotInfo>,
}

/// One change, named as the API's events are.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Change {
    /// `file.added`: an owner added a file.
    FileAdded(FileInfo),
    /// `upload.received`: a file came in through a slot.
    UploadReceived(FileInfo),
    /// `file.removed`.
    FileRemoved {
        /// The file's id.
        id: String,
    },
    /// `download.counted`: a link's count went up.
    DownloadCounted(LinkInfo),
    /// `link.changed`: made, edited, revoked, expired or used up.
    LinkChanged(LinkInfo),
    /// `link.removed`.
    LinkRemoved {
        /// The link's id.
        id: String,
    },
    /// `slot.changed`: made, closed, expired, or it received a file.
    SlotChanged(SlotInfo),
}

impl Change {
    /// The event's name.
    pub fn kind(&self) -> &'static str {
        match self {
            Change::FileAdded(_) => "file.added",
            Change::UploadReceived(_) => "upload.received",
            Change::FileRemoved { .. } => "file.removed",
            Change::DownloadCounted(_) => "download.counted",
            Change::LinkChanged(_) => "link.changed",
            Change::LinkRemoved { .. } => "link.removed",
            Change::SlotChanged(_) => "slot.changed",
        }
    }
}

impl Vault {
    /// Every file, link and slot as they are at `now`.
    pub fn snapshot(&self, now: i64) -> Result<Snapshot> {
        Ok(Snapshot {
            files: self.files()?.into_iter().map(|f| (f.file.id.clone(), f)).collect(),
            links: self.links(None, now)?.into_iter().map(|l| (l.link.id.clone(), l)).collect(),
            slots: self.slots(now)?.into_iter().map(|s| (s.slot.id.clone(), s)).collect(),
        })
    }
}

impl Snapshot {
    /// What changed from `self` to `next`, files first, then links, then slots, each in id
    /// order so the feed is the same for every subscriber and every run.
    pub fn changes(&self, next: &Snapshot) -> Vec<Change> {
        let mut out = Vec::new();
        for (id, file) in sorted(&next.files) {
            if !self.files.contains_key(id) {
                out.push(match file.file.slot_id {
                    Some(_) => Change::UploadReceived(file.clone()),
                    None => Change::FileAdded(file.clone()),
                });
            }
        }
        for (id, _) in sorted(&self.files) {
            if !next.files.contains_key(id) {
                out.push(Change::FileRemoved { id: id.clone() });
            }
        }
        for (id, link) in sorted(&next.links) {
            match self.links.get(id) {
                None => out.push(Change::LinkChanged(link.clone())),
                Some(old) if link.link.downloads > old.link.downloads => {
                    out.push(Change::DownloadCounted(link.clone()))
                }
                Some(old) if !same(old, link) => out.push(Change::LinkChanged(link.clone())),
                Some(_) => {}
            }
        }
        for (id, _) in sorted(&self.links) {
            if !next.links.contains_key(id) {
                out.push(Change::LinkRemoved { id: id.clone() });
            }
        }
        for (id, slot) in sorted(&next.slots) {
            if self.slots.get(id).is_none_or(|old| !same(old, slot)) {
                out.push(Change::SlotChanged(slot.clone()));
            }
        }
        out
    }
}

fn sorted<T>(map: &HashMap<String, T>) -> Vec<(&String, &T)> {
    let mut entries: Vec<_> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    entries
}

/// Whether two answers read the same (their JSON, which is what a subscriber sees).
fn same<T: Serialize>(a: &T, b: &T) -> bool {
    serde_json::to_value(a).ok() == serde_json::to_value(b).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adding_linking_counting_and_removing_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::open(&dir.path().join("data")).unwrap();
        let source = dir.path().join("a.txt");
        std::fs::write(&source, b"hello").unwrap();
        let before = vault.snapshot(1000).unwrap();
        let file = vault.add_file(&source, false, 1000, &mut |_| {}).unwrap();
        let link = vault.create_link(&file.file.id, NewLink::default(), 1000, None).unwrap();
        let after = vault.snapshot(1000).unwrap();
        let kinds: Vec<_> = before.changes(&after).iter().map(Change::kind).collect();
        assert_eq!(kinds, ["file.added", "link.changed"]);
        assert!(vault.claim_download(&link.link.id).unwrap());
        let counted = vault.snapshot(1000).unwrap();
        let kinds: Vec<_> = after.changes(&counted).iter().map(Change::kind).collect();
        assert_eq!(kinds, ["download.counted"]);
        assert!(counted.changes(&vault.snapshot(1000).unwrap()).is_empty());
        vault.remove_file(&file.file.id).unwrap();
        let kinds: Vec<_> = counted.changes(&vault.snapshot(1000).unwrap()).iter().map(Change::kind).collect();
        assert_eq!(kinds, ["file.removed", "link.removed"]);
    }
}
