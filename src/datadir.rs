//! The data dir: where a Sharelock install keeps its database, its store and its signing secret.
//!
//! ```text
//! DATA_DIR/            0700
//!   sharelock.db       SQLite (WAL), 0600
//!   secret.key         32 random bytes, 0600
//!   nginx-secret.key   the secret of nginx-checked links, made on first use, 0600
//!   store/             0700, one file per stored file, named by id
//! ```

use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Environment variable that overrides the default data dir.
pub const ENV_VAR: &str = "SHARELOCK_DATA_DIR";

/// The resolved, created data dir.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// The platform default (`~/.local/share/sharelock` on Linux), used when neither
    /// `--data-dir` nor `SHARELOCK_DATA_DIR` is given.
    pub fn default_path() -> Option<PathBuf> {
        dirs::data_dir().map(|d| d.join("sharelock"))
    }

    /// Creates the data dir and its store folder if needed, owner-only, and returns it.
    pub fn create(root: &Path) -> Result<DataDir> {
        for dir in [root.to_path_buf(), root.join("store")] {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
            // `mode` only applies to folders it creates: tighten an existing one too.
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
                .map_err(|e| Error::io(format!("cannot set permissions on {}", dir.display()), e))?;
        }
        let root = root.canonicalize().map_err(|e| Error::io(format!("cannot resolve {}", root.display()), e))?;
        Ok(DataDir { root })
    }

    /// The folder itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The SQLite database.
    pub fn database(&self) -> PathBuf {
        self.root.join("sharelock.db")
    }

    /// The folder of stored files.
    pub fn store(&self) -> PathBuf {
        self.root.join("store")
    }

    /// The signing secret.
    pub fn secret(&self) -> PathBuf {
        self.root.join("secret.key")
    }

    /// The secret for nginx-checked links (in nginx's configuration too).
    pub fn nginx_secret(&self) -> PathBuf {
        self.root.join("nginx-secret.key")
    }
}
