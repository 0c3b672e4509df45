//! Signing: HMAC-SHA256 over a link's or slot's identity, keyed with the install's secret.
//!
//! A signature is the full 32-byte MAC in base64url without padding (43 characters). The
//! message is a purpose tag and the id, so a slot signature can never pass as a link signature.
//! Verification is constant time (`Mac::verify_slice`) and touches no database, so a forged URL
//! costs one HMAC.
//!
//! The secret lives in `secret.key` in the data dir. `rotate` replaces that file atomically; a
//! running server notices the new file on its next verification (one `fstat` of the descriptor
//! it read the secret through, see [`Signer::refresh`]), so rotation from the CLI takes effect
//! at once without a restart.
//!
//! A secret is made only for a new data dir ([`Signer::create`]). Once URLs have been handed
//! out, a missing secret is an error ([`Signer::open`]), never quietly replaced: a new secret
//! would turn every URL issued so far into a 403 without a word. Making a new one is a
//! deliberate step, `sharelock rotate-secret` ([`write_new_secret`]).

use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use crate::atomic::{self, Existing};
use crate::{Error, Result};

type HmacSha256 = Hmac<Sha256>;

const SECRET_LEN: usize = 32;
const SIGNATURE_LEN: usize = 32;

/// What a signature grants: the same id signed for different purposes gives different signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Downloading through a link.
    Link,
    /// Uploading into a slot.
    Slot,
    /// Answering a reachability check (`crate::reach::probe`): proof that the server that
    /// answered holds this data dir's secret. Its own tag keeps the answers, which anyone can
    /// ask for, from ever passing as a link or slot signature.
    Reach,
    /// Proving that a link's password was given (`passwords`): the unlock cookie. Its own tag
    /// keeps a cookie from ever passing as a URL signature, and a URL signature as a cookie.
    Unlock,
}

impl Purpose {
    fn tag(self) -> &'static [u8] {
        match self {
            Purpose::Link => b"sharelock link\0",
            Purpose::Slot => b"sharelock slot\0",
            Purpose::Reach => b"sharelock reach\0",
            Purpose::Unlock => b"sharelock unlock\0",
        }
    }
}

/// Identifies one version of the secret file, so a replaced or rewritten file is noticed: the
/// change time moves with any write and cannot be set back, unlike the modification time; the
/// link count drops when a new file is renamed over this one or it is removed, which is what a
/// descriptor of a replaced file still shows (see [`Signer::refresh`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    dev: u64,
    ino: u64,
    nlink: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl FileStamp {
    fn of(meta: &fs::Metadata) -> FileStamp {
        FileStamp {
            dev: meta.dev(),
            ino: meta.ino(),
            nlink: meta.nlink(),
            mtime_ns: meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128,
            ctime_ns: meta.ctime() as i128 * 1_000_000_000 + meta.ctime_nsec() as i128,
        }
    }
}

#[derive(Debug)]
struct Key {
    mac: HmacSha256,
    stamp: FileStamp,
    /// The descriptor the secret was read through.
    file: fs::File,
}

/// Signs and verifies with the data dir's secret.
#[derive(Debug)]
pub struct Signer {
    path: PathBuf,
    key: RwLock<Key>,
}

impl Signer {
    /// Loads the secret at `path`; a missing secret is an error that says how to make a new one.
    pub fn open(path: &Path) -> Result<Signer> {
        if !path.exists() {
            return Err(Error::InvalidInput(format!(
                "the signing secret {} is missing, so no link or upload URL issued from this data dir \
                 can be checked. Put secret.key back from a backup, or run `sharelock rotate-secret` to \
                 make a new one (every URL issued before stays invalid)",
                path.display()
            )));
        }
        let key = load(path)?;
        Ok(Signer { path: path.to_path_buf(), key: RwLock::new(key) })
    }

    /// Loads the secret at `path`, making a new random one (mode 0600) if there is none: for a
    /// new data dir only, which has issued no URL yet.
    pub fn create(path: &Path) -> Result<Signer> {
        if !path.exists() {
            write_new_secret(path)?;
        }
        Signer::open(path)
    }

    /// The signature for `id` under `purpose`.
    pub fn sign(&self, purpose: Purpose, id: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.keyed(purpose, id).finalize().into_bytes())
    }

    /// Whether `signature` is the valid signature of `id` under `purpose`, in constant time.
    pub fn verify(&self, purpose: Purpose, id: &str, signature: &str) -> bool {
        // Decoding into a fixed buffer rejects wrong lengths and alphabets without allocating.
        let mut raw = [0u8; SIGNATURE_LEN + 3];
        match URL_SAFE_NO_PAD.decode_slice(signature.as_bytes(), &mut raw) {
            Ok(SIGNATURE_LEN) => {}
            _ => return false,
        }
        self.keyed(purpose, id).verify_slice(&raw[..SIGNATURE_LEN]).is_ok()
    }

    /// The MAC over `purpose` and `id` with the current secret (reloaded first if replaced).
    fn keyed(&self, purpose: Purpose, id: &str) -> HmacSha256 {
        self.refresh();
        let mut mac = self.read_key().mac.clone();
        mac.update(purpose.tag());
        mac.update(id.as_bytes());
        mac
    }

    /// Replaces the secret with a new random one: every link and slot URL signed so far stops
    /// working, in this process and in any other using the same data dir.
    pub fn rotate(&self) -> Result<()> {
        write_new_secret(&self.path)?;
        self.refresh();
        Ok(())
    }

    fn read_key(&self) -> std::sync::RwLockReadGuard<'_, Key> {
        self.key.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Reloads the secret if the file was replaced or rewritten. If the file cannot be read the
    /// old key stays: a server keeps answering rather than failing every request.
    ///
    /// Asked on every verification, so it asks the descriptor the secret was read through
    /// first (`fstat`, no path lookup; the path's `stat` was 3% of a small GET): a file with the
    /// stamp it had, its link count included (a rename over it or its removal lowers it), is
    /// the secret in force. Anything else looks the path up, as before.
    fn refresh(&self) {
        {
            let key = self.read_key();
            if key.file.metadata().is_ok_and(|m| FileStamp::of(&m) == key.stamp) {
                return;
            }
        }
        let Ok(meta) = fs::metadata(&self.path) else { return };
        if FileStamp::of(&meta) == self.read_key().stamp {
            return;
        }
        match load(&self.path) {
            Ok(key) => *self.key.write().unwrap_or_else(|p| p.into_inner()) = key,
            Err(e) => tracing::warn!("cannot reload the signing secret: {e}"),
        }
    }
}

fn load(path: &Path) -> Result<Key> {
    use std::io::Read;
    let unreadable = |e| Error::io(format!("cannot read the secret {}", path.display()), e);
    let mut file = fs::File::open(path).map_err(unreadable)?;
    let mut bytes = Vec::with_capacity(SECRET_LEN);
    file.read_to_end(&mut bytes).map_err(unreadable)?;
    if bytes.len() != SECRET_LEN {
        return Err(Error::InvalidInput(format!(
            "the secret {} is damaged ({} bytes, expected {SECRET_LEN}); run `sharelock rotate-secret`",
            path.display(),
            bytes.len()
        )));
    }
    let meta = file.metadata().map_err(|e| Error::io("cannot stat the secret", e))?;
    let mac = HmacSha256::new_from_slice(&bytes).expect("HMAC accepts any key length");
    Ok(Key { mac, stamp: FileStamp::of(&meta), file })
}

/// Writes a fresh secret next to `path` and renames it into place, so readers see either the
/// old secret or the new one, whole. Every URL signed with an earlier secret stops working.
pub fn write_new_secret(path: &Path) -> Result<()> {
    let mut secret = [0u8; SECRET_LEN];
    rand::rng().fill_bytes(&mut secret);
    atomic::write(path, true, Existing::Replace, |f| f.write_all(&secret))
        .map_err(|e| Error::io(format!("cannot write the secret {}", path.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn signer() -> (tempfile::TempDir, Signer) {
        let dir = tempfile::tempdir().unwrap();
        let signer = Signer::create(&dir.path().join("secret.key")).unwrap();
        (dir, signer)
    }

    #[test]
    fn signs_and_verifies() {
        let (_dir, s) = signer();
        let sig = s.sign(Purpose::Link, "abc");
        assert_eq!(sig.len(), 43);
        assert!(s.verify(Purpose::Link, "abc", &sig));
    }

    #[test]
    fn rejects_other_ids_purposes_and_tampering() {
        let (_dir, s) = signer();
        let sig = s.sign(Purpose::Link, "abc");
        assert!(!s.verify(Purpose::Link, "abd", &sig));
        assert!(!s.verify(Purpose::Slot, "abc", &sig));
        let mut tampered = sig.clone().into_bytes();
        tampered[10] = if tampered[10] == b'A' { b'B' } else { b'A' };
        assert!(!s.verify(Purpose::Link, "abc", std::str::from_utf8(&tampered).unwrap()));
    }

    #[test]
    fn a_reachability_answer_never_passes_as_a_link_or_slot_signature() {
        // Anyone can ask a server to sign a nonce of their choosing (`reach::probe`): the answer
        // for an id must not open the link or slot of that id.
        let (_dir, s) = signer();
        let answer = s.sign(Purpose::Reach, "abcdefghijklmnop");
        assert!(s.verify(Purpose::Reach, "abcdefghijklmnop", &answer));
        assert!(!s.verify(Purpose::Link, "abcdefghijklmnop", &answer));
        assert!(!s.verify(Purpose::Slot, "abcdefghijklmnop", &answer));
    }

    #[test]
    fn rejects_wrong_lengths_and_alphabets() {
        let (_dir, s) = signer();
        let sig = s.sign(Purpose::Link, "abc");
        for bad in [
            "",
            "A",
            &sig[..42],
            &format!("{sig}A"),
            &format!("{sig}AAAA"),
            &sig.replace(|_| true, "+"),
            &format!("{}=", &sig),
        ] {
            assert!(!s.verify(Purpose::Link, "abc", bad), "{bad:?}");
        }
    }

    #[test]
    fn secret_file_is_private_and_persistent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        let sig = Signer::create(&path).unwrap().sign(Purpose::Slot, "x");
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(Signer::open(&path).unwrap().verify(Purpose::Slot, "x", &sig));
    }

    #[test]
    fn rotation_in_another_process_is_seen_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        let server = Signer::create(&path).unwrap();
        let old = server.sign(Purpose::Link, "l");
        let cli = Signer::open(&path).unwrap();
        cli.rotate().unwrap();
        let new = cli.sign(Purpose::Link, "l");
        assert_ne!(old, new);
        assert!(!server.verify(Purpose::Link, "l", &old));
        assert!(server.verify(Purpose::Link, "l", &new));
    }

    #[test]
    fn a_secret_rewritten_in_place_or_renamed_over_a_second_name_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        let server = Signer::create(&path).unwrap();
        let old = server.sign(Purpose::Link, "l");
        // The same file written again, as a restore with `cp` over it does: same inode, told
        // apart by its times, which the kernel keeps to the tick (a few milliseconds).
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(&path, [7u8; SECRET_LEN]).unwrap();
        assert!(!server.verify(Purpose::Link, "l", &old));
        let restored = server.sign(Purpose::Link, "l");
        assert_eq!(restored, Signer::open(&path).unwrap().sign(Purpose::Link, "l"));

        // A file with a second name (a hard-linked backup) keeps a name when a rotation renames
        // a new secret over it: its link count still drops.
        fs::hard_link(&path, dir.path().join("backup.key")).unwrap();
        let linked = Signer::open(&path).unwrap();
        assert!(linked.verify(Purpose::Link, "l", &restored));
        Signer::open(&path).unwrap().rotate().unwrap();
        assert!(!linked.verify(Purpose::Link, "l", &restored));
    }

    #[test]
    fn damaged_secret_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        fs::write(&path, b"short").unwrap();
        let err = Signer::open(&path).unwrap_err().to_string();
        assert!(err.contains("damaged"), "{err}");
    }

    #[test]
    fn a_missing_secret_is_an_error_and_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        let err = Signer::open(&path).unwrap_err().to_string();
        assert!(err.contains("missing") && err.contains("sharelock rotate-secret"), "{err}");
        assert!(!path.exists());
        write_new_secret(&path).unwrap();
        assert!(Signer::open(&path).is_ok());
    }
}
