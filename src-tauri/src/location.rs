//! "Where your files are kept": on this computer (its data dir, served by the app's own server)
//! or on a Sharelock server reached through its API with a token. The choice is a local setting;
//! the token is kept in the system keyring, or, where none answers, in a file of the data dir
//! that only its owner can read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use sharelock::Vault;
use sharelock::manage::Manage;
use sharelock::remote::{Remote, TokenIdentity};

use crate::error::CommandError;

/// The local setting that says the files are on a server (`server`); absent: this computer.
pub const FILES_KEPT: &str = "desktop_files_kept";
/// The server's URL, kept when switching back so that choosing the server again finds it.
pub const SERVER_URL: &str = "desktop_server_url";
/// A CA certificate (PEM file) trusted for the server, on top of the system's.
pub const SERVER_CA_CERT: &str = "desktop_server_ca_cert";

/// The keyring's service name; the user is the server's URL.
const KEYRING_SERVICE: &str = "sharelock";
/// The data dir's file of tokens, by server URL, where no keyring answers.
const TOKEN_FILE: &str = "server-tokens.json";

/// Where a token is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenPlace {
    /// The system keyring (Secret Service, Keychain, Credential Manager).
    Keyring,
    /// A file only the owner can read, because no keyring answered.
    File(PathBuf),
}

impl TokenPlace {
    /// Where the token is, in words for Settings.
    pub fn words(&self) -> String {
        match self {
            TokenPlace::Keyring => "The token is kept in this computer's keyring.".into(),
            TokenPlace::File(path) => format!(
                "No keyring answered on this computer, so the token is kept in {}, a file only you can read.",
                path.display()
            ),
        }
    }
}

fn keyring_entry(url: &str) -> Option<keyring::Entry> {
    keyring::Entry::new(KEYRING_SERVICE, url).inspect_err(|e| tracing::debug!("no keyring: {e}")).ok()
}

fn token_file(data_dir: &Path) -> PathBuf {
    data_dir.join(TOKEN_FILE)
}

fn read_token_file(path: &Path) -> Result<BTreeMap<String, String>, CommandError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            CommandError::refused(format!(
                "{} cannot be read ({e}): remove it and save the token again",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(sharelock::Error::io(format!("cannot read {}", path.display()), e).into()),
    }
}

fn write_token_file(path: &Path, tokens: &BTreeMap<String, String>) -> Result<(), CommandError> {
    let json = serde_json::to_vec_pretty(tokens).map_err(CommandError::internal)?;
    // Owner-only from its first byte, and whole or not at all.
    sharelock::atomic::write(path, true, sharelock::atomic::Existing::Replace, |f| std::io::Write::write_all(f, &json))
        .map_err(|e| sharelock::Error::io(format!("cannot write {}", path.display()), e).into())
}

/// Keeps `token` for the server at `url`: in the keyring, else in the data dir's token file.
pub fn keep_token(data_dir: &Path, url: &str, token: &str) -> Result<TokenPlace, CommandError> {
    let path = token_file(data_dir);
    if let Some(entry) = keyring_entry(url) {
        match entry.set_password(token) {
            Ok(()) => {
                // A copy left in the file from a time without a keyring would outlive this one.
                let mut tokens = read_token_file(&path)?;
                if tokens.remove(url).is_some() {
                    write_token_file(&path, &tokens)?;
                }
                return Ok(TokenPlace::Keyring);
            }
            Err(e) => tracing::info!("no keyring answered, the token goes to {}: {e}", path.display()),
        }
    }
    let mut tokens = read_token_file(&path)?;
    tokens.insert(url.to_string(), token.to_string());
    write_token_file(&path, &tokens)?;
    Ok(TokenPlace::File(path))
}

/// The token kept for the server at `url`, and where it is.
pub fn read_token(data_dir: &Path, url: &str) -> Result<Option<(String, TokenPlace)>, CommandError> {
    if let Some(token) = keyring_entry(url).and_then(|e| e.get_password().ok()) {
        return Ok(Some((token, TokenPlace::Keyring)));
    }
    let path = token_file(data_dir);
    Ok(read_token_file(&path)?.remove(url).map(|token| (token, TokenPlace::File(path))))
}

/// A server as Settings describes it, before it is saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerChoice {
    /// The server's URL, as typed.
    pub url: String,
    /// The token, typed or kept.
    pub token: String,
    /// A CA certificate file, or none.
    pub ca_cert: Option<String>,
}

impl ServerChoice {
    /// A client for this server (nothing is sent yet).
    pub fn connect(&self) -> sharelock::Result<Remote> {
        Remote::connect(&self.url, &self.token, self.ca_cert.as_deref().map(Path::new))
    }

    /// Asks the server who the token is: reachable, trusted, the token valid.
    pub fn test(&self) -> sharelock::Result<(Remote, TokenIdentity)> {
        let remote = self.connect()?;
        let identity = remote.whoami()?;
        Ok((remote, identity))
    }
}

/// What the window shows of where the files are kept: the place, and for a server whether it
/// answers (the status bar).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Place {
    /// `local` or `server`.
    pub kept: &'static str,
    /// The server's URL, in server mode.
    pub url: Option<String>,
    /// Whether the server answered the last time it was asked.
    pub reachable: Option<bool>,
    /// Why it did not, for people.
    pub error: Option<String>,
    /// The token's name and scopes, as the server said.
    pub token: Option<TokenIdentity>,
}

impl Place {
    /// Files on this computer.
    pub fn local() -> Place {
        Place { kept: "local", ..Place::default() }
    }
}

/// The Sharelock to use at start, as Settings saved it: a server with its kept token, else this
/// computer. A saved server whose token cannot be found, or whose URL no longer parses, leaves
/// the window on this computer with the reason in the status bar.
pub fn at_start(vault: &Arc<Vault>) -> (Arc<dyn Manage>, Option<Arc<Remote>>, Place) {
    let local: Arc<dyn Manage> = vault.clone();
    if vault.setting(FILES_KEPT).ok().flatten().as_deref() != Some("server") {
        return (local, None, Place::local());
    }
    let Some(url) = vault.setting(SERVER_URL).ok().flatten() else { return (local, None, Place::local()) };
    let ca_cert = vault.setting(SERVER_CA_CERT).ok().flatten();
    let refused = |why: String| {
        tracing::warn!("using this computer's files: {why}");
        let place = Place { error: Some(why), ..Place::local() };
        (vault.clone() as Arc<dyn Manage>, None, place)
    };
    let token = match read_token(vault.data_dir(), &url) {
        Ok(Some((token, _))) => token,
        Ok(None) => return refused(format!("no token is kept for {url}: choose the server again in Settings")),
        Err(e) => return refused(e.message),
    };
    match (ServerChoice { url: url.clone(), token, ca_cert }).connect() {
        Ok(remote) => {
            let remote = Arc::new(remote);
            let place = Place { kept: "server", url: Some(url), ..Place::default() };
            (remote.clone(), Some(remote), place)
        }
        Err(e) => refused(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where no keyring answers (no Secret Service on the bus, as here), the token goes to an
    /// owner-only file, reads back, and a second server's token sits beside the first.
    #[test]
    fn without_a_keyring_tokens_are_kept_in_an_owner_only_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let first = keep_token(dir.path(), "https://a.example/", "slk_a_1").expect("keep");
        let TokenPlace::File(path) = &first else { panic!("a keyring answered here: {first:?}") };
        assert_eq!(std::fs::metadata(path).expect("file").permissions().mode() & 0o777, 0o600);
        keep_token(dir.path(), "https://b.example/", "slk_b_2").expect("keep");
        let (token, place) = read_token(dir.path(), "https://a.example/").expect("read").expect("kept");
        assert_eq!((token.as_str(), &place), ("slk_a_1", &first));
        assert!(read_token(dir.path(), "https://c.example/").expect("read").is_none());
        assert!(first.words().contains("only you can read"));
    }
}
