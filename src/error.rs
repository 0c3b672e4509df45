//! The core's one error type. Transports map it at their edge: the CLI to a message and an exit
//! code, the HTTP layer to a status, the desktop shell to a stable code.

/// Everything the core can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Input a person typed or sent that cannot be used as it is.
    #[error("{0}")]
    InvalidInput(String),
    /// Input in one named field of a form that cannot be used: a UI shows the reason at that
    /// field, not in a general alert.
    #[error("{reason}")]
    InvalidField {
        /// The field as the core's input types name it: `label`, `max_downloads`, `max_size`,
        /// `max_files`, `max_total`, `expires`, `base_url`.
        field: &'static str,
        /// Why it cannot be used, for people.
        reason: String,
    },
    /// No file, link or slot has this id.
    #[error("no {kind} with id {id:?}")]
    NotFound {
        /// `file`, `link` or `slot`.
        kind: &'static str,
        /// The id that was asked for.
        id: String,
    },
    /// A file system operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, for the message.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The database failed.
    #[error("database: {}", db_detail(.0))]
    Db(#[from] rusqlite::Error),
    /// The database schema could not be brought up to date.
    #[error("database migration: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    /// A slot refused an upload or one of its files (see `vault::Upload`).
    #[error(transparent)]
    Refused(#[from] crate::vault::Refusal),
    /// A Sharelock server reached through its API could not do it (unreachable, certificate not
    /// trusted, bad token, missing scope, or another refusal it answered with).
    #[error(transparent)]
    Remote(#[from] crate::remote::RemoteError),
}

impl Error {
    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io { context: context.into(), source }
    }

    /// Input in the field named `field` that cannot be used (see [`Error::InvalidField`]).
    pub fn invalid_field(field: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidField { field, reason: reason.into() }
    }

    /// The error of a command that would change a data dir opened read-only.
    pub fn read_only(data_dir: &std::path::Path) -> Self {
        Error::io(
            format!("the data dir {} is read-only", data_dir.display()),
            std::io::Error::new(std::io::ErrorKind::ReadOnlyFilesystem, "it can be listed and verified, not changed"),
        )
    }

    /// Whether this is a disk-full error (for a 507 or a clear message).
    pub fn is_storage_full(&self) -> bool {
        matches!(self, Error::Io { source, .. } if is_disk_full(source))
    }
}

/// A database error in words, with SQLite's extended result code when the words alone are
/// ambiguous: "disk I/O error" covers some twenty causes (a short read, a lock, the shared
/// memory), which only the code tells apart.
fn db_detail(e: &rusqlite::Error) -> String {
    match e {
        rusqlite::Error::SqliteFailure(failure, _) if failure.code == rusqlite::ErrorCode::SystemIoFailure => {
            format!("{e} (SQLite extended result code {})", failure.extended_code)
        }
        _ => e.to_string(),
    }
}

/// Result with the core's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Whether an I/O error means the disk is full. Matched by kind, not errno: wrappers such as
/// tempfile's path errors keep the kind but drop the raw OS error.
pub fn is_disk_full(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::StorageFull || e.raw_os_error() == Some(28)
}
