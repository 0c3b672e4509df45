//! Recovery: `verify` (the store against the database, and the database itself), `adopt`
//! (quarantined and unrecorded files back as files) and the start-up cleanup.

use super::*;

/// What `verify` found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    /// File records checked.
    pub checked: usize,
    /// Files that are not as stored, and damaged file records.
    pub problems: Vec<VerifyProblem>,
    /// Damage SQLite's integrity check found in the database file itself.
    pub database: Vec<String>,
    /// Files in the quarantine: moved out of the store because no record named them.
    pub quarantined: Vec<LooseFile>,
    /// Files in the store that no record names, not yet moved to the quarantine (the server
    /// moves them when it starts).
    pub unrecorded: Vec<LooseFile>,
}

impl VerifyReport {
    /// What is wrong and what to do about it, in a sentence or two; `None` when clean.
    pub fn summary(&self, quarantine: &Path) -> Option<String> {
        let mut parts = Vec::new();
        if !self.database.is_empty() {
            parts.push(format!(
                "the database is damaged ({} problem(s) found by SQLite's integrity check): put back a backup of \
                 sharelock.db, then run `sharelock verify` again",
                self.database.len()
            ));
        }
        let damaged = self.problems.iter().filter(|p| p.damaged_record).count();
        if damaged > 0 {
            parts.push(format!(
                "{damaged} file record(s) are damaged: put back a backup of sharelock.db, or remove them with \
                 `sharelock rm ID`"
            ));
        }
        if self.problems.len() > damaged {
            parts.push(format!("{} stored file(s) are not as they were stored", self.problems.len() - damaged));
        }
        if !self.quarantined.is_empty() {
            parts.push(format!(
                "{} file(s) without a record are kept in {}",
                self.quarantined.len(),
                quarantine.display()
            ));
        }
        if !self.unrecorded.is_empty() {
            parts.push(format!("{} file(s) in the store have no record", self.unrecorded.len()));
        }
        if !self.quarantined.is_empty() || !self.unrecorded.is_empty() {
            parts.push("`sharelock verify --adopt` adds them back as files".into());
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// A file in the store folders that no record names.
#[derive(Debug, Clone, Serialize)]
pub struct LooseFile {
    /// Its file name (the id it was stored under, for files from the store).
    pub file: String,
    /// Where it is.
    pub path: PathBuf,
    /// Bytes.
    pub size: u64,
    /// Lower-case hex SHA-256.
    pub sha256: String,
    /// Its modification time: when it was added, for files from the store.
    #[serde(serialize_with = "crate::time::serialize")]
    pub modified: i64,
}

/// A file `verify --adopt` took back from the quarantine.
#[derive(Debug, Clone, Serialize)]
pub struct Adopted {
    /// Its record now.
    #[serde(flatten)]
    pub file: FileRecord,
    /// Where it was in the quarantine.
    pub from: PathBuf,
    /// Whether it went back under a record that was waiting for exactly these bytes (its name
    /// and links kept), rather than under a new record.
    pub restored: bool,
}

/// One stored file that is not as it was stored.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyProblem {
    /// The file.
    pub id: String,
    /// Its name.
    pub name: String,
    /// What is wrong, in a few words.
    pub problem: String,
    /// Whether the record itself is damaged (rather than its file).
    #[serde(skip)]
    pub damaged_record: bool,
}

impl Vault {
    /// Checks the database (SQLite's integrity check) and every stored file against its record
    /// (present, same size, same SHA-256), and lists files that no record names (in the
    /// quarantine, or still in the store). Reads every byte, so it takes as long as reading the
    /// store once. Changes nothing: it runs on a read-only data dir too.
    pub fn verify(&self) -> Result<VerifyReport> {
        let mut report = VerifyReport::default();
        match self.db.with(integrity_check) {
            Ok(damage) => report.database = damage,
            Err(e) => report.database.push(e.to_string()),
        }
        let records = match self.db.with(|c| files::audit(c)) {
            Ok(records) => Some(records),
            Err(e) => {
                report.database.push(format!("cannot read the file records: {e}"));
                None
            }
        };
        for record in records.iter().flatten() {
            let problem = match &record.expected {
                Err(damage) => Some(format!("damaged record: {damage}")),
                Ok((size, sha256)) => match self.store.hash_of(&record.id) {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some("missing".to_string()),
                    Err(e) => Some(format!("unreadable: {e}")),
                    Ok((found, _)) if found != *size => Some(format!("size changed: {found} bytes, stored as {size}")),
                    Ok((_, found)) if found != *sha256 => Some("contents changed: the SHA-256 differs".to_string()),
                    Ok(_) => None,
                },
            };
            if let Some(problem) = problem {
                report.problems.push(VerifyProblem {
                    id: record.id.clone(),
                    name: record.name.clone(),
                    problem,
                    damaged_record: record.expected.is_err(),
                });
            }
        }
        report.checked = records.as_ref().map_or(0, Vec::len);
        let ctx = |e| Error::io("cannot read the store", e);
        report.quarantined =
            self.store.quarantined().map_err(ctx)?.iter().map(|p| loose_file(p)).collect::<Result<_>>()?;
        // Without the records, every stored file would look unrecorded: say nothing rather than that.
        if let Some(records) = &records {
            let known: HashSet<&str> = records.iter().map(|r| r.id.as_str()).collect();
            report.unrecorded = self
                .store
                .unrecorded(|id| known.contains(id))
                .map_err(ctx)?
                .iter()
                .map(|p| loose_file(p))
                .collect::<Result<_>>()?;
        }
        Ok(report)
    }

    /// Adds the files of the quarantine back (store files without a record are moved there
    /// first, as a starting server would). A file goes back under a record that is waiting for
    /// exactly its bytes (same size and SHA-256, its own file missing) when there is one, keeping
    /// that record's name and links; otherwise under a new record named `recovered-ID` (with the
    /// extension its first bytes suggest), its content type sniffed from those bytes, its id the
    /// one it was stored under when that is free, and its modification time as when it was added.
    pub fn adopt(&self, now: i64) -> Result<Vec<Adopted>> {
        self.cleanup()?;
        let quarantined = self.store.quarantined().map_err(|e| Error::io("cannot read the quarantine", e))?;
        let mut adopted = Vec::with_capacity(quarantined.len());
        for path in quarantined {
            let found = store::inspect(&path).map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
            adopted.push(self.adopt_file(&path, &found, now)?);
        }
        Ok(adopted)
    }

    fn adopt_file(&self, path: &Path, found: &Inspected, now: i64) -> Result<Adopted> {
        let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let own_id = ids::is_valid(&file_name).then_some(file_name);
        let moved = |e| Error::io(format!("cannot move {} into the store", path.display()), e);
        // As any writer: no cleanup may take the file between its move and its committed row.
        let _lock = self.writer_lock()?;
        self.write(|c| {
            let tx = write_transaction(c)?;
            let mut waiting = own_id.iter().cloned().collect::<Vec<_>>();
            waiting.extend(files::ids_with_contents(&tx, found.size, &found.sha256)?);
            for id in waiting {
                // A damaged record is no home for the file; it gets a new one below.
                let Ok(Some(record)) = files::get(&tx, &id) else { continue };
                if record.size == found.size && record.sha256 == found.sha256 && !self.store.path_of(&id).exists() {
                    self.store.take_in(path, &id, record.created_at).map_err(moved)?;
                    return Ok(Adopted { file: record, from: path.to_path_buf(), restored: true });
                }
            }
            let id = match own_id {
                Some(id) if !files::exists(&tx, &id)? && !self.store.path_of(&id).exists() => id,
                _ => ids::generate(),
            };
            let sniffed = slots::sniff(&found.head);
            let record = FileRecord {
                name: match sniffed {
                    Some((_, ext)) => format!("recovered-{id}.{ext}"),
                    None => format!("recovered-{id}"),
                },
                content_type: sniffed.map_or("application/octet-stream", |(mime, _)| mime).to_string(),
                size: found.size,
                sha256: found.sha256.clone(),
                created_at: found
                    .modified
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(now, |d| i64::try_from(d.as_secs()).unwrap_or(now)),
                public: false,
                slot_id: None,
                uploader_name: None,
                uploader_message: None,
                upload_id: None,
                crc32: Some(found.crc32),
                path: None,
                id,
            };
            self.store.take_in(path, &record.id, record.created_at).map_err(moved)?;
            let committed = files::insert(&tx, &record).and_then(|()| Ok(tx.commit()?));
            if let Err(e) = committed {
                if let Err(back) = self.store.release(&record.id, path) {
                    tracing::warn!("cannot put {} back into the quarantine: {back}", record.id);
                }
                return Err(e);
            }
            Ok(Adopted { file: record, from: path.to_path_buf(), restored: false })
        })
    }

    /// Removes leftovers of interrupted writes and moves store files without a record to the
    /// quarantine (see [`Store::cleanup`]).
    pub fn cleanup(&self) -> Result<Cleanup> {
        self.check_writable()?;
        let ctx = |e| Error::io("cannot clean the store", e);
        let Some(lock) = self.store.sweep_lock().map_err(ctx)? else {
            return Ok(Cleanup {
                skipped: true,
                quarantine: self.store.quarantine().to_path_buf(),
                ..Cleanup::default()
            });
        };
        // Read under the lock: a file committed before it has its row, none can be committed after.
        let known = self.db.with(|c| files::ids(c))?;
        let report = self.store.cleanup(&lock, |id| known.contains(id)).map_err(ctx)?;
        // Thumbnails of files removed while their thumbnail could not be (or by an older
        // version): made from files, so nothing is lost by removing them.
        match crate::thumbnails::sweep(&self.thumbnails_dir(), |id| known.contains(id)) {
            Ok(0) => {}
            Ok(n) => tracing::info!("removed {n} thumbnail(s) of files that no longer exist"),
            Err(e) => tracing::warn!("cannot sweep the thumbnails: {e}"),
        }
        Ok(report)
    }
}

/// What SQLite's integrity check finds wrong with the database; empty when nothing is.
fn integrity_check(conn: &mut rusqlite::Connection) -> Result<Vec<String>> {
    let mut stmt = conn.prepare("PRAGMA integrity_check")?;
    let lines = stmt.query_map([], |r| r.get::<_, String>(0))?.collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(lines.into_iter().filter(|l| l != "ok").collect())
}

/// A file no record names, read through.
fn loose_file(path: &Path) -> Result<LooseFile> {
    let found = store::inspect(path).map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
    Ok(LooseFile {
        file: path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        path: path.to_path_buf(),
        size: found.size,
        sha256: found.sha256,
        modified: found.modified.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64),
    })
}
