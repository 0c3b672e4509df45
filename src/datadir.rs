//! The data dir: where a Sharelock install keeps its database, its store and its signing secret.
//!
//! ```text
//! DATA_DIR/            0700
//!   sharelock.db       SQLite (WAL), 0600
//!   secret.key         32 random bytes, 0600; made with a new data dir, and after that only by
//!                      `sharelock rotate-secret`
//!   nginx-secret.key   the secret of nginx-checked links, made on first use, 0600
//!   store/             0700, one file per stored file, named by id
//!   quarantine/        0700, made when first needed: stored files the database has no record of
//!                      (an older sharelock.db put back, a damaged record), moved here by the
//!                      server at start instead of deleted; `sharelock verify` lists them and
//!                      `sharelock verify --adopt` adds them back as files
//! ```
//!
//! A data dir this process cannot write (a backup mounted read-only) is opened read-only: nothing
//! is created, no permission is changed, and commands that would write refuse with a clear error.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Environment variable that overrides the default data dir.
pub const ENV_VAR: &str = "SHARELOCK_DATA_DIR";

/// The resolved data dir.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
    read_only: bool,
    new: bool,
}

impl DataDir {
    /// The platform default (`~/.local/share/sharelock` on Linux), used when neither
    /// `--data-dir` nor `SHARELOCK_DATA_DIR` is given.
    pub fn default_path() -> Option<PathBuf> {
        dirs::data_dir().map(|d| d.join("sharelock"))
    }

    /// The data dir a shell opens: `explicit` (a `--data-dir` flag) if given, else
    /// `SHARELOCK_DATA_DIR` if set and not empty, else [`default_path`](Self::default_path).
    pub fn resolve(explicit: Option<PathBuf>) -> Result<PathBuf> {
        let from_env = std::env::var_os(ENV_VAR).filter(|v| !v.is_empty()).map(PathBuf::from);
        explicit
            .or(from_env)
            .or_else(Self::default_path)
            .ok_or_else(|| Error::InvalidInput(format!("no home directory: give --data-dir or set {ENV_VAR}")))
    }

    /// Opens the data dir at `root`. One this process may write is created if needed and kept
    /// owner-only (it and its store folder 0700); one it may not is opened read-only, untouched.
    pub fn open(root: &Path) -> Result<DataDir> {
        if is_read_only(root) {
            let root = root.canonicalize().map_err(|e| Error::io(format!("cannot resolve {}", root.display()), e))?;
            let dir = DataDir { new: !root.join(DATABASE).exists(), root, read_only: true };
            if dir.new {
                return Err(Error::InvalidInput(format!(
                    "{} is read-only and holds no Sharelock database",
                    dir.root.display()
                )));
            }
            return Ok(dir);
        }
        for dir in [root.to_path_buf(), root.join(STORE)] {
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
        Ok(DataDir { new: !root.join(DATABASE).exists(), root, read_only: false })
    }

    /// The folder itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether the data dir was opened read-only (see the module doc).
    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// Whether the data dir had no database yet when it was opened: a new install.
    pub fn is_new(&self) -> bool {
        self.new
    }

    /// The SQLite database.
    pub fn database(&self) -> PathBuf {
        self.root.join(DATABASE)
    }

    /// The folder of stored files.
    pub fn store(&self) -> PathBuf {
        self.root.join(STORE)
    }

    /// The folder of stored files the database has no record of.
    pub fn quarantine(&self) -> PathBuf {
        self.root.join("quarantine")
    }

    /// The kept thumbnails of stored images (see `thumbnails`): made again when removed.
    pub fn thumbnails(&self) -> PathBuf {
        self.root.join("thumbnails")
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

const DATABASE: &str = "sharelock.db";
const STORE: &str = "store";

/// Whether `root` exists and this process may not write into it. Asked of the kernel
/// (`access(2)`), not read from the mode bits: root ignores the bits, but not a read-only mount.
fn is_read_only(root: &Path) -> bool {
    use rustix::io::Errno;
    match rustix::fs::access(root, rustix::fs::Access::WRITE_OK) {
        Ok(()) => false,
        Err(e) => e == Errno::ROFS || e == Errno::ACCESS || e == Errno::PERM,
    }
}
