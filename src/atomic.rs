//! Files written whole or not at all: the bytes go to a temp file beside the destination (so the
//! rename never crosses a file system), which is fsynced and then renamed into place. A reader, or
//! a crash, sees the old file or the new one, never a mix. The store has its own variant, which
//! hashes as it writes and fsyncs the folder too (see `store`).

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Whether an existing destination is replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Replace it (a rotated secret, an export over an older copy).
    Replace,
    /// Keep it and fail with `AlreadyExists` (a secret another process made first).
    Keep,
}

/// Writes `path` with what `fill` writes into the temp file; owner-only (0600) when `private`.
pub fn write(
    path: &Path,
    private: bool,
    existing: Existing,
    fill: impl FnOnce(&mut File) -> io::Result<()>,
) -> io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut temp = tempfile::Builder::new().prefix(".sharelock-").tempfile_in(dir)?;
    if private {
        temp.as_file().set_permissions(fs::Permissions::from_mode(0o600))?;
    }
    fill(temp.as_file_mut())?;
    temp.as_file().sync_all()?;
    match existing {
        Existing::Replace => temp.persist(path).map(drop).map_err(|e| e.error),
        Existing::Keep => temp.persist_noclobber(path).map(drop).map_err(|e| e.error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn writes_whole_replaces_or_keeps_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        write(&path, true, Existing::Keep, |f| f.write_all(b"one")).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"one");
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let kept = write(&path, true, Existing::Keep, |f| f.write_all(b"two")).unwrap_err();
        assert_eq!(kept.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&path).unwrap(), b"one");
        write(&path, false, Existing::Replace, |f| f.write_all(b"three")).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"three");
        // A failed fill leaves the destination as it was and no temp file.
        let failed = write(&path, false, Existing::Replace, |f| {
            f.write_all(b"half")?;
            Err(io::Error::other("source failed"))
        });
        assert!(failed.is_err());
        assert_eq!(fs::read(&path).unwrap(), b"three");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
