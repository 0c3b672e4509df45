//! Errors as the UI sees them: a stable code to act on, never prose to parse. The UI words each
//! code itself (one table in `ui/app.js`); the raw detail goes to the log.

use std::path::Path;

use serde::Serialize;

/// A command's failure.
#[derive(Debug, Serialize)]
pub struct CommandError {
    /// `not_found`, `invalid_input`, `disk_full`, `io`, `database`, `refused`, `server_stopped`,
    /// `open_failed`, a Sharelock server's `unreachable`, `untrusted`, `unauthorized`,
    /// `forbidden` or `server` (shown, written for people), or `internal`.
    pub code: &'static str,
    /// The detail, for the log. Shown only for `invalid_input` and `refused`, whose messages the
    /// core writes for people.
    pub message: String,
    /// `invalid_input`: the form field the input came from, as the command's argument names it
    /// (`expires`, `max_downloads`, `label`, `port`, `base_url`…), so the UI says it there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'static str>,
    /// What the failure concerns: `not_found` a `file`, `link` or `slot`; `io` a path that is
    /// `missing`, `denied` or `read_only`; `open_failed` a `file` or `folder`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    /// `open_failed`: where the file or folder is, for the user to go there another way.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

impl CommandError {
    fn new(code: &'static str, message: String) -> Self {
        CommandError { code, message, field: None, kind: None, path: None }
    }

    /// A failure of the shell itself (a task that did not finish, a dialog that broke).
    pub fn internal(e: impl std::fmt::Display) -> Self {
        let message = e.to_string();
        tracing::error!("internal: {message}");
        CommandError::new("internal", message)
    }

    /// Input the user typed in `field` that cannot be used.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        CommandError { field: Some(field), ..CommandError::new("invalid_input", message.into()) }
    }

    /// Something the app will not do, with the reason written for people (shown as it is).
    pub fn refused(message: String) -> Self {
        CommandError::new("refused", message)
    }

    /// Refused because the server is not serving.
    pub fn server_stopped(message: String) -> Self {
        CommandError::new("server_stopped", message)
    }

    /// The system could not open the file manager at `path`, a `file` or `folder`.
    pub fn open_failed(kind: &'static str, path: &Path, e: impl std::fmt::Display) -> Self {
        let message = format!("cannot open {}: {e}", path.display());
        tracing::warn!("{message}");
        CommandError {
            kind: Some(kind),
            path: Some(path.display().to_string()),
            ..CommandError::new("open_failed", message)
        }
    }

    /// Names `field` as where invalid input came from, when the core's parser could not know it.
    pub fn at(mut self, field: &'static str) -> Self {
        if self.code == "invalid_input" && self.field.is_none() {
            self.field = Some(field);
        }
        self
    }
}

impl From<sharelock::Error> for CommandError {
    fn from(e: sharelock::Error) -> Self {
        let (code, kind, field) = match &e {
            _ if e.is_storage_full() => ("disk_full", None, None),
            sharelock::Error::NotFound { kind, .. } => ("not_found", Some(*kind), None),
            sharelock::Error::InvalidInput(_) => ("invalid_input", None, None),
            sharelock::Error::InvalidField { field, .. } => ("invalid_input", None, Some(*field)),
            sharelock::Error::Io { source, .. } => ("io", io_kind(source.kind()), None),
            sharelock::Error::Db(_) | sharelock::Error::Migration(_) => ("database", None, None),
            sharelock::Error::Refused(_) => ("refused", None, None),
            sharelock::Error::Remote(remote) => return CommandError::remote(remote),
        };
        let message = e.to_string();
        if !matches!(code, "invalid_input" | "not_found" | "refused") {
            tracing::warn!("{code}: {message}");
        }
        CommandError { kind, field, ..CommandError::new(code, message) }
    }
}

impl CommandError {
    /// A server's failure: `unreachable`, `untrusted` (its TLS certificate), `unauthorized` (the
    /// token), `forbidden` (a scope missing) or `server` (any other answer), with a message
    /// written for the window (the core's speaks of the command line's options).
    fn remote(e: &sharelock::remote::RemoteError) -> Self {
        use sharelock::remote::RemoteError as R;
        let (code, message) = match e {
            R::Unreachable { url, cause } => {
                ("unreachable", format!("cannot reach the Sharelock server at {url} ({cause})"))
            }
            R::Interrupted { .. } => ("unreachable", e.to_string()),
            R::Untrusted { url, cause } => (
                "untrusted",
                format!(
                    "the server at {url} has a TLS certificate this computer does not trust ({cause}); \
                     for a server with its own CA, give its CA certificate file"
                ),
            ),
            // The server's own reason speaks of the Authorization header: the log has it.
            R::BadToken { message } => {
                tracing::info!("token refused: {message}");
                let words = "the server refused the token (unknown, expired or revoked): check it, or make a new one \
                             with “sharelock token create” on the server";
                ("unauthorized", words.to_string())
            }
            R::MissingScope { message, .. } => ("forbidden", format!("the token lacks a scope this needs: {message}")),
            R::Answer { message, .. } => ("server", format!("the server could not do it: {message}")),
            R::Protocol { .. } => ("server", e.to_string()),
        };
        tracing::warn!("{code}: {message}");
        CommandError::new(code, message)
    }
}

fn io_kind(kind: std::io::ErrorKind) -> Option<&'static str> {
    use std::io::ErrorKind;
    match kind {
        ErrorKind::NotFound => Some("missing"),
        ErrorKind::PermissionDenied => Some("denied"),
        ErrorKind::ReadOnlyFilesystem => Some("read_only"),
        _ => None,
    }
}
