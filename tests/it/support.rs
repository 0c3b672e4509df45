//! Shared helpers: start a server on a fresh data dir, add files, run the CLI.

use std::path::Path;
use std::process::Output;
use std::sync::Arc;

use sharelock::Vault;
use sharelock::http::{self, ServerConfig};
use sharelock::units::Lifetime;
use sharelock::vault::{FileInfo, LinkInfo, NewLink, NewSlot, SlotInfo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

pub struct Server {
    pub vault: Arc<Vault>,
    pub base: String,
    pub addr: std::net::SocketAddr,
    pub dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Server {
    pub async fn start() -> Server {
        Server::start_with(ServerConfig::default()).await
    }

    pub async fn start_with(config: ServerConfig) -> Server {
        let dir = tempfile::tempdir().unwrap();
        Server::start_in(dir, config).await
    }

    /// Starts on an existing data dir (kept in `dir/data`).
    pub async fn start_in(dir: tempfile::TempDir, config: ServerConfig) -> Server {
        let vault = Arc::new(Vault::open(&dir.path().join("data")).unwrap());
        let listening = http::Listening::bind(vault.clone(), ([127, 0, 0, 1], 0).into(), None, config).await.unwrap();
        let addr = listening.local_addr().unwrap();
        let base = listening.listen_url().to_string();
        vault.set_base_url(&base).unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(listening.serve(async {
            let _ = rx.await;
        }));
        Server { vault, base, addr, dir, shutdown: Some(tx) }
    }

    /// Writes `bytes` to a source file called `name` and adds it.
    pub fn add(&self, name: &str, bytes: &[u8]) -> FileInfo {
        let src = self.dir.path().join("src");
        std::fs::create_dir_all(&src).unwrap();
        let path = src.join(name);
        std::fs::write(&path, bytes).unwrap();
        self.vault.add_file(&path, false, sharelock::time::now(), &mut |_| {}).unwrap()
    }

    pub fn link(&self, file_id: &str) -> LinkInfo {
        self.link_with(file_id, NewLink::default())
    }

    pub fn link_with(&self, file_id: &str, new: NewLink) -> LinkInfo {
        self.vault.create_link(file_id, new, sharelock::time::now(), None).unwrap()
    }

    pub fn slot(&self, new: NewSlot) -> SlotInfo {
        self.vault.create_slot(new, sharelock::time::now(), None).unwrap()
    }

    /// Stops the server and waits until its port refuses connections.
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        for _ in 0..200 {
            if TcpStream::connect(self.addr).await.is_err() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let dir = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.dir, dir)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The names in a folder (the store's lock file left out), sorted; empty if it does not exist:
/// what is really on disk.
pub fn names_in(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut names: Vec<String> =
        entries.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).filter(|n| n != ".lock").collect();
    names.sort();
    names
}

/// A file system mounted for a test at a new folder, unmounted when dropped.
pub struct Mount(pub std::path::PathBuf);

impl Mount {
    /// Runs `mount` with `args` and then the new folder, or says why not and returns None when
    /// not root (mounting needs it; CI runs as root).
    pub fn new(what: &str, args: &[&std::ffi::OsStr]) -> Option<Mount> {
        let uid = std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m)).unwrap_or(1);
        if uid != 0 {
            eprintln!("skipped: {what} needs root");
            return None;
        }
        let dir = tempfile::tempdir().unwrap().keep();
        let mount = Mount(dir.clone());
        let ok = std::process::Command::new("mount").args(args).arg(&dir).status().unwrap();
        assert!(ok.success(), "cannot mount {what} at {}", dir.display());
        Some(mount)
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        // Lazily: a server still holding a file there must not leave the mount behind.
        let _ = std::process::Command::new("umount").arg("--lazy").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

pub fn lifetime(secs: u64) -> Option<Lifetime> {
    Some(Lifetime::For(std::time::Duration::from_secs(secs)))
}

/// A deterministic pseudo-random byte pattern.
pub fn bytes(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

/// One chunk of a chunked body (`Transfer-Encoding: chunked`).
pub fn chunked(data: &[u8]) -> Vec<u8> {
    let mut out = format!("{:x}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

/// Sends raw bytes and reads until the server closes or `limit` bytes came back.
pub async fn raw(addr: std::net::SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// Runs the `sharelock` binary on `data_dir`.
pub fn sharelock(data_dir: &Path, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_sharelock"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("SHARELOCK_DATA_DIR")
        .env_remove("SHARELOCK_SERVER")
        .env_remove("SHARELOCK_TOKEN")
        .env_remove("SHARELOCK_CA_CERT")
        .output()
        .unwrap()
}

/// Runs the CLI with `--json`, expects success, parses stdout.
pub fn sharelock_json(data_dir: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = sharelock(data_dir, &all);
    assert!(out.status.success(), "sharelock {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("bad JSON from {args:?}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// `sharelock serve` as a child process on a free port: the child and its base URL (read from
/// its `listening on` line).
pub fn spawn_serve(
    data_dir: &Path,
    extra: &[&str],
    envs: &[(&str, &str)],
    stderr: std::process::Stdio,
) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sharelock"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .args(extra)
        .envs(envs.iter().copied())
        .env_remove("SHARELOCK_DATA_DIR")
        .stdout(std::process::Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    (child, base)
}

/// Where a CLI test acts: a data dir on this computer, or a real `sharelock serve` on that data
/// dir reached through its API (`--server`, `--token`). Test bodies take a `Target` and run in
/// both modes (`both_modes!`); `data_dir` is where the data lives either way.
pub struct Target {
    pub data_dir: std::path::PathBuf,
    pub remote: Option<Remote>,
}

/// A `sharelock serve` child process and a token for it; the server is killed when dropped.
pub struct Remote {
    pub child: std::process::Child,
    pub base: String,
    pub token: String,
    /// A data dir the CLI is pointed at in remote mode: it must stay untouched.
    pub client_dir: std::path::PathBuf,
}

impl Drop for Remote {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Makes a token on `data_dir` with `sharelock token create --json` (scopes comma-separated, or
/// the default when empty).
pub fn make_token(data_dir: &Path, scopes: &str) -> String {
    let mut args = vec!["token", "create", "--name", "tests"];
    if !scopes.is_empty() {
        args.extend(["--scope", scopes]);
    }
    let made = sharelock_json(data_dir, &args);
    made["token"].as_str().unwrap_or_else(|| panic!("token create printed {made}")).to_string()
}

impl Target {
    pub fn local(dir: &Path) -> Target {
        Target { data_dir: dir.join("data"), remote: None }
    }

    /// A server on `dir/data` at 127.0.0.1, and a token with the default scopes.
    pub fn remote(dir: &Path) -> Target {
        let data_dir = dir.join("data");
        let token = make_token(&data_dir, "");
        let (child, base) = spawn_serve(&data_dir, &[], &[], std::process::Stdio::null());
        let remote = Remote { child, base, token, client_dir: dir.join("client-data") };
        Target { data_dir, remote: Some(remote) }
    }

    /// Runs the CLI on this target.
    pub fn run(&self, args: &[&str]) -> Output {
        match &self.remote {
            None => sharelock(&self.data_dir, args),
            Some(remote) => {
                let mut all = vec!["--server", &remote.base, "--token", &remote.token];
                all.extend_from_slice(args);
                let out = sharelock(&remote.client_dir, &all);
                assert!(!remote.client_dir.exists(), "remote mode made a local data dir");
                out
            }
        }
    }

    /// Runs the CLI with `--json`, expects success, parses stdout.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.run(&all);
        assert!(out.status.success(), "sharelock {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("bad JSON from {args:?}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
    }
}

/// Makes each test body `fn name(target: &Target, tmp: &Path)` a module `name` with two tests:
/// `local` (on a data dir) and `remote` (on a `sharelock serve` through the API).
#[macro_export]
macro_rules! both_modes {
    ($($(#[doc = $doc:literal])* fn $name:ident($target:ident: &Target, $tmp:ident: &Path) $body:block)*) => {
        $(
            $(#[doc = $doc])*
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                fn body($target: &$crate::support::Target, $tmp: &std::path::Path) $body

                #[test]
                fn local() {
                    let tmp = tempfile::tempdir().unwrap();
                    body(&$crate::support::Target::local(tmp.path()), tmp.path());
                }

                #[test]
                fn remote() {
                    let tmp = tempfile::tempdir().unwrap();
                    body(&$crate::support::Target::remote(tmp.path()), tmp.path());
                }
            }
        )*
    };
}
