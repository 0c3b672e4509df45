//! Links and their files kept in memory for the download path, each trusted only while no one
//! has committed anything to the database since it was read.
//!
//! Every signed GET needs its link's row (is it revoked, expired, used up?) and its file's.
//! Read from SQLite, that row cost a read transaction per request, a fifth of a small GET
//! (BENCHMARKS.md). Kept here, it costs one read of SQLite's WAL-index header
//! ([`crate::db::Commits`]), which any commit by anyone moves: a revocation by the CLI, an edit
//! in the app or a claim by the server makes every kept row stale at once, and the next request
//! reads the database again. So the rule stays "a change is seen on the next request"; only
//! the requests between two commits are answered from memory.

use std::sync::Arc;

use quick_cache::sync::Cache;

use crate::Result;
use crate::db::{Commits, Mark};
use crate::files::FileRecord;
use crate::links::Link;

/// How many links are kept (each a few hundred bytes).
const CAPACITY: usize = 4096;

/// Kept links, by id.
pub(super) struct LinkRows {
    commits: Commits,
    rows: Cache<String, Arc<Row>>,
}

/// A link and its file, as read at `mark`. Handed out shared: a request takes two reference
/// counts, where copies of the two records took about ten allocations.
struct Row {
    mark: Mark,
    link: Arc<Link>,
    file: Arc<FileRecord>,
}

/// A link and its file, shared with the kept row.
pub type Found = (Arc<Link>, Arc<FileRecord>);

impl std::fmt::Debug for LinkRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkRows").field("commits", &self.commits).field("kept", &self.rows.len()).finish()
    }
}

impl LinkRows {
    pub(super) fn new(commits: Commits) -> LinkRows {
        LinkRows { commits, rows: Cache::new(CAPACITY) }
    }

    /// The link `id` and its file: kept if nothing was committed since it was read, otherwise
    /// from `read`, and kept for next time. A link that does not exist is not kept (only a
    /// valid signature gets this far, and ids are not guessed).
    pub(super) fn get(
        &self,
        id: &str,
        read: impl FnOnce() -> Result<Option<(Link, FileRecord)>>,
    ) -> Result<Option<Found>> {
        // Taken before reading: a commit that lands during the read leaves a row newer than its
        // mark, which the next request's mark no longer matches, never the other way round.
        let mark = self.commits.mark();
        if let Some(row) = self.rows.get(id)
            && row.mark == mark
        {
            return Ok(Some((row.link.clone(), row.file.clone())));
        }
        let Some((link, file)) = read()? else { return Ok(None) };
        let (link, file) = (Arc::new(link), Arc::new(file));
        self.rows.insert(id.to_owned(), Arc::new(Row { mark, link: link.clone(), file: file.clone() }));
        Ok(Some((link, file)))
    }
}
