//! Errors as the UI sees them: a stable code to act on and a sentence to show, never prose to
//! parse.

use serde::Serialize;

/// A command's failure.
#[derive(Debug, Serialize)]
pub struct CommandError {
    /// `not_found`, `invalid_input`, `disk_full`, `io`, `database`, `server_stopped` or `internal`.
    pub code: &'static str,
    /// One sentence for people.
    pub message: String,
}

impl CommandError {
    /// A failure of the shell itself (a task that did not finish, a dialog that broke).
    pub fn internal(e: impl std::fmt::Display) -> Self {
        CommandError { code: "internal", message: e.to_string() }
    }
}

impl From<sharelock::Error> for CommandError {
    fn from(e: sharelock::Error) -> Self {
        let code = match &e {
            _ if e.is_storage_full() => "disk_full",
            sharelock::Error::NotFound { .. } => "not_found",
            sharelock::Error::InvalidInput(_) => "invalid_input",
            sharelock::Error::Io { .. } => "io",
            sharelock::Error::Db(_) | sharelock::Error::Migration(_) => "database",
            sharelock::Error::Refused(_) => "refused",
        };
        CommandError { code, message: e.to_string() }
    }
}
