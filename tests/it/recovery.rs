//! A data dir after things went wrong around it: an older database put back, a record changed
//! behind Sharelock's back, a lost secret, a damaged database, a backup mounted read-only. Real
//! CLI binary, real server, real SQLite files: nothing the user stored is deleted, every
//! command answers with a clear message and never a panic.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{Mount, Server, bytes, client, names_in, sha256_hex, sharelock, sharelock_json, spawn_serve};

fn add(data_dir: &Path, work: &Path, name: &str, data: &[u8]) -> String {
    let path = work.join(name);
    std::fs::write(&path, data).unwrap();
    sharelock_json(data_dir, &["add", path.to_str().unwrap()])[0]["id"].as_str().unwrap().to_string()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A command that must fail cleanly: exit code 1 (never 101, a panic), no panic message.
fn fails_cleanly(data_dir: &Path, args: &[&str]) -> String {
    let out = sharelock(data_dir, args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "sharelock {args:?}: {err}");
    assert!(!err.contains("panicked"), "sharelock {args:?} panicked: {err}");
    err
}

/// Kills the child when dropped, so a failing assertion leaves no server behind.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `sharelock serve` with its log captured: the child, its base URL, and its log lines as they come.
fn serve_logged(data_dir: &Path) -> (Killed, String, std::sync::mpsc::Receiver<String>) {
    let (mut child, base) = spawn_serve(data_dir, &[], &[], Stdio::piped());
    let log = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(log).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (Killed(child), base, rx)
}

/// The first log line containing `needle` (the server logs its start-up before it listens).
fn log_line(rx: &std::sync::mpsc::Receiver<String>, needle: &str) -> String {
    loop {
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(line) if line.contains(needle) => return line,
            Ok(_) => {}
            Err(e) => panic!("no log line with {needle:?}: {e}"),
        }
    }
}

async fn download(data_dir: &Path, base: &str, id: &str) -> Vec<u8> {
    let url = sharelock_json(data_dir, &["link", id, "--base-url", base])["url"].as_str().unwrap().to_string();
    let res = client().get(&url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "{id}");
    res.bytes().await.unwrap().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_database_put_back_quarantines_newer_files_and_adopt_brings_them_back() {
    let work = tempfile::tempdir().unwrap();
    let data_dir = work.path().join("data");
    let old = add(&data_dir, work.path(), "old.txt", b"in the backup");
    let backup = work.path().join("backup.db");
    std::fs::copy(data_dir.join("sharelock.db"), &backup).unwrap();

    // Added after the backup: a PDF, a PNG and bytes of no known type.
    let pdf = [&b"%PDF-1.7\n"[..], &bytes(30_000)].concat();
    let png = [&b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"[..], &bytes(20_000)].concat();
    let raw = bytes(3 << 20);
    let newer: BTreeMap<String, (&[u8], &str, &str)> = [
        (add(&data_dir, work.path(), "report.pdf", &pdf), (&pdf[..], "application/pdf", ".pdf")),
        (add(&data_dir, work.path(), "photo.png", &png), (&png[..], "image/png", ".png")),
        (add(&data_dir, work.path(), "data.bin", &raw), (&raw[..], "application/octet-stream", "")),
    ]
    .into_iter()
    .collect();

    // The older database goes back (as a restore from backup would), then the server starts.
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(data_dir.join(format!("sharelock.db{suffix}")));
    }
    std::fs::copy(&backup, data_dir.join("sharelock.db")).unwrap();
    let (_server, base, log) = serve_logged(&data_dir);
    let quarantine = data_dir.canonicalize().unwrap().join("quarantine");
    let line = log_line(&log, "store cleanup");
    assert!(line.contains(&format!("moved 3 file(s) without a database record to {}", quarantine.display())), "{line}");
    assert!(line.contains("sharelock verify --adopt"), "{line}");

    // Nothing deleted: the backup's file stays in the store, the newer ones wait in the quarantine.
    assert_eq!(names_in(&data_dir.join("store")), [old.as_str()]);
    assert_eq!(names_in(&quarantine), newer.keys().cloned().collect::<Vec<_>>());
    for (id, (data, ..)) in &newer {
        assert_eq!(std::fs::read(quarantine.join(id)).unwrap(), *data);
    }
    assert_eq!(std::fs::metadata(&quarantine).unwrap().permissions().mode() & 0o777, 0o700);

    // verify lists them, says what to do and exits non-zero.
    let out = sharelock(&data_dir, &["--json", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("3 file(s) without a record are kept in"), "{}", stderr(&out));
    assert!(stderr(&out).contains("`sharelock verify --adopt` adds them back"), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["checked"], 1);
    assert_eq!(report["problems"].as_array().unwrap().len(), 0);
    let listed: BTreeMap<String, String> = report["quarantined"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["file"].as_str().unwrap().to_string(), f["sha256"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(listed, newer.iter().map(|(id, (data, ..))| (id.clone(), sha256_hex(data))).collect());
    let text = sharelock(&data_dir, &["verify"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("in the quarantine"));

    // --adopt brings them back as files, under their old ids, typed by their bytes.
    let adopted = sharelock_json(&data_dir, &["verify", "--adopt"]);
    assert_eq!(adopted["quarantined"].as_array().unwrap().len(), 0);
    let adopted = adopted["adopted"].as_array().unwrap();
    assert_eq!(adopted.len(), 3);
    for file in adopted {
        let id = file["id"].as_str().unwrap();
        let (data, content_type, ext) = newer[id];
        assert_eq!(file["name"], format!("recovered-{id}{ext}"));
        assert_eq!(file["content_type"], content_type);
        assert_eq!(file["size"], data.len());
        assert_eq!(file["sha256"], sha256_hex(data));
        assert_eq!(file["restored"], false);
    }
    assert!(names_in(&quarantine).is_empty());
    assert_eq!(sharelock_json(&data_dir, &["ls"]).as_array().unwrap().len(), 4);
    // The running server serves them at once, byte for byte.
    for (id, (data, ..)) in &newer {
        assert_eq!(sha256_hex(&download(&data_dir, &base, id).await), sha256_hex(data));
    }
    assert_eq!(download(&data_dir, &base, &old).await, b"in the backup");
    let clean = sharelock(&data_dir, &["verify"]);
    assert!(clean.status.success(), "{}", stderr(&clean));
}

#[tokio::test]
async fn a_record_whose_id_changed_leaves_its_file_quarantined_and_adopt_puts_it_back() {
    let server = Server::start().await;
    let changed = server.add("changed.txt", b"my only copy");
    let other = server.add("other.txt", b"untouched");
    let data_dir = server.vault.data_dir().to_path_buf();
    let dir = server.stop().await;
    let new_id = sharelock::ids::generate();
    let db = rusqlite::Connection::open(data_dir.join("sharelock.db")).unwrap();
    db.execute("UPDATE files SET id = ?1 WHERE id = ?2", [&new_id, &changed.file.id]).unwrap();
    drop(db);

    let server = Server::start_in(dir, Default::default()).await;
    let store = data_dir.join("store");
    let quarantine = data_dir.join("quarantine");
    assert_eq!(names_in(&store), [other.file.id.as_str()]);
    assert_eq!(std::fs::read(quarantine.join(&changed.file.id)).unwrap(), b"my only copy");

    let out = sharelock(&data_dir, &["--json", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["problems"][0]["id"], new_id.as_str());
    assert_eq!(report["problems"][0]["problem"], "missing");
    assert_eq!(report["quarantined"][0]["file"], changed.file.id.as_str());

    // Its bytes are exactly what the changed record waits for: they go back under it, name kept.
    let adopted = sharelock_json(&data_dir, &["verify", "--adopt"]);
    assert_eq!(adopted["adopted"][0]["id"], new_id.as_str());
    assert_eq!(adopted["adopted"][0]["name"], "changed.txt");
    assert_eq!(adopted["adopted"][0]["restored"], true);
    assert_eq!(adopted["problems"].as_array().unwrap().len(), 0);
    let link = server.link(&new_id);
    assert_eq!(client().get(&link.url).send().await.unwrap().bytes().await.unwrap(), &b"my only copy"[..]);
    assert!(sharelock(&data_dir, &["verify"]).status.success());
}

/// A process that opens its data dir a second time keeps its hold on the database. Another
/// process's last connection checkpoints and removes the write-ahead log only when it is the last
/// one anywhere; had opening again dropped this process's locks (closing any descriptor of a file
/// drops them all), the CLI would remove the log under this process's open connections, whose
/// next read would fail with a disk I/O error.
#[test]
fn opening_a_data_dir_again_keeps_the_database_locked_against_a_checkpoint_elsewhere() {
    let work = tempfile::tempdir().unwrap();
    let data_dir = work.path().join("data");
    add(&data_dir, work.path(), "first.txt", b"first");
    let held = sharelock::Vault::open(&data_dir).unwrap();
    assert_eq!(held.files().unwrap().len(), 1);
    drop(sharelock::Vault::open(&data_dir).unwrap());

    let second = add(&data_dir, work.path(), "second.txt", b"second");
    assert!(data_dir.join("sharelock.db-wal").exists(), "the CLI took itself for the last connection");
    let names: Vec<String> = held.files().unwrap().into_iter().map(|f| f.file.id).collect();
    assert!(names.contains(&second), "{names:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_secret_is_refused_until_rotate_secret_makes_a_new_one() {
    let work = tempfile::tempdir().unwrap();
    let data_dir = work.path().join("data");
    let id = add(&data_dir, work.path(), "a.txt", b"hello");
    let old_url = sharelock_json(&data_dir, &["link", &id])["url"].as_str().unwrap().to_string();
    std::fs::remove_file(data_dir.join("secret.key")).unwrap();

    for args in [&["ls"][..], &["links"], &["serve", "--bind", "127.0.0.1:0"]] {
        let err = fails_cleanly(&data_dir, args);
        assert!(err.contains("secret.key is missing"), "{args:?}: {err}");
        assert!(err.contains("sharelock rotate-secret"), "{args:?}: {err}");
        assert!(!data_dir.join("secret.key").exists(), "{args:?} made a new secret quietly");
    }

    let rotated = sharelock_json(&data_dir, &["rotate-secret"]);
    assert_eq!(rotated["rotated"], true);
    assert_eq!(std::fs::metadata(data_dir.join("secret.key")).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(sharelock_json(&data_dir, &["ls"]).as_array().unwrap().len(), 1);
    let (_server, base) = {
        let (child, base) = spawn_serve(&data_dir, &[], &[], Stdio::null());
        (Killed(child), base)
    };
    let old_url = old_url.replace("http://127.0.0.1:7420", &base);
    assert_eq!(client().get(&old_url).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(download(&data_dir, &base, &id).await, b"hello");

    // A new data dir still gets its secret without being asked.
    let fresh = work.path().join("fresh");
    assert!(sharelock(&fresh, &["ls"]).status.success());
    assert_eq!(std::fs::read(fresh.join("secret.key")).unwrap().len(), 32);
}

/// Overwrites the last `len` bytes of the page that holds the root of `table`, where SQLite
/// keeps a page's records: damage in the middle of the database file that lands on data.
fn overwrite_records_of(db: &Path, table: &str, len: usize) {
    let conn = rusqlite::Connection::open(db).unwrap();
    let page: usize =
        conn.query_row("SELECT rootpage FROM sqlite_master WHERE name = ?1", [table], |r| r.get(0)).unwrap();
    let size: usize = conn.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
    drop(conn);
    let mut bytes = std::fs::read(db).unwrap();
    assert!(page * size < bytes.len(), "the page is not the last of the file");
    bytes[page * size - len..page * size].fill(0xa5);
    std::fs::write(db, bytes).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_records_are_reported_and_never_panic_or_reach_a_path() {
    let work = tempfile::tempdir().unwrap();
    let data_dir = work.path().join("data");
    let ids: Vec<String> =
        (0..4).map(|i| add(&data_dir, work.path(), &format!("f{i}.txt"), &bytes(1000 + i))).collect();
    sharelock_json(&data_dir, &["set", &ids[1], "--public", "true"]);
    sharelock_json(&data_dir, &["set", &ids[3], "--public", "true"]);
    let link = sharelock_json(&data_dir, &["link", &ids[2]]);
    // A decoy where `store/../../etc/passwd` leads from this data dir: it must survive.
    std::fs::create_dir_all(work.path().join("etc")).unwrap();
    std::fs::write(work.path().join("etc/passwd"), b"decoy").unwrap();
    let db = rusqlite::Connection::open(data_dir.join("sharelock.db")).unwrap();
    db.execute("UPDATE files SET id = '../../etc/passwd' WHERE id = ?1", [&ids[0]]).unwrap();
    // Multi-byte characters where the ETag takes its first 32 bytes.
    db.execute("UPDATE files SET sha256 = ?1 WHERE id = ?2", [&"é".repeat(40), &ids[1]]).unwrap();
    db.execute("UPDATE files SET size = -7 WHERE id = ?1", [&ids[2]]).unwrap();
    // Past the year 9999, where HTTP dates end.
    db.execute("UPDATE files SET created_at = 999999999999 WHERE id = ?1", [&ids[3]]).unwrap();
    drop(db);

    let err = fails_cleanly(&data_dir, &["ls"]);
    assert!(err.contains("is damaged") && err.contains("sharelock verify"), "{err}");
    let err = fails_cleanly(&data_dir, &["--json", "verify"]);
    assert!(err.contains("4 file record(s) are damaged"), "{err}");
    let out = sharelock(&data_dir, &["--json", "verify"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let problems: BTreeMap<String, String> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap().to_string(), p["problem"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(problems["../../etc/passwd"], "damaged record: its id is not a Sharelock id");
    assert_eq!(problems[&ids[1]], "damaged record: its SHA-256 is not 64 hex digits");
    assert_eq!(problems[&ids[2]], "damaged record: its size is negative");
    assert_eq!(problems[&ids[3]], "damaged record: its date is out of range");
    assert_eq!(problems.len(), 4);
    // The file whose record lost its id is still in the store, listed as unrecorded.
    assert_eq!(report["unrecorded"][0]["file"], ids[0].as_str());

    // The server answers downloads of damaged records with an error, never a panic.
    let log_path = work.path().join("serve.log");
    let (child, base) = spawn_serve(&data_dir, &[], &[], Stdio::from(std::fs::File::create(&log_path).unwrap()));
    let server = Killed(child);
    let link_url = link["url"].as_str().unwrap().replace("http://127.0.0.1:7420", &base);
    for url in [
        link_url,
        format!("{base}/p/{}", ids[1]),
        format!("{base}/p/{}", ids[3]),
        format!("{base}/p/..%2F..%2Fetc%2Fpasswd"),
    ] {
        let status = client().get(&url).send().await.unwrap().status();
        assert!(status == StatusCode::INTERNAL_SERVER_ERROR || status == StatusCode::NOT_FOUND, "{url}: {status}");
    }
    drop(server);
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(!log.contains("panicked"), "{log}");
    assert!(log.contains("is damaged"), "{log}");

    // The server moved the file whose record lost its id to the quarantine; nothing is deleted.
    assert_eq!(names_in(&data_dir.join("quarantine")), [ids[0].clone()]);
    assert_eq!(names_in(&data_dir.join("store")).len(), 3);

    // Removing the damaged record touches no path built from it.
    let removed = sharelock_json(&data_dir, &["rm", "../../etc/passwd"]);
    assert_eq!(removed["removed"], "../../etc/passwd");
    assert_eq!(std::fs::read(work.path().join("etc/passwd")).unwrap(), b"decoy");
    assert_eq!(names_in(&data_dir.join("store")).len(), 3);
}

#[test]
fn a_damaged_or_foreign_database_file_is_a_clear_error() {
    let work = tempfile::tempdir().unwrap();
    let data_dir = work.path().join("data");
    let mut ids: Vec<String> =
        (0..10).map(|i| add(&data_dir, work.path(), &format!("f{i}.txt"), &bytes(100 + i))).collect();
    ids.sort();
    let db = data_dir.join("sharelock.db");
    let good = std::fs::read(&db).unwrap();

    // Bytes overwritten in the middle of the file, on the file records.
    overwrite_records_of(&db, "files", 600);
    for args in [&["ls"][..], &["verify"], &["--json", "verify"]] {
        let err = fails_cleanly(&data_dir, args);
        assert!(err.contains("damaged") && err.contains("put back a backup"), "{args:?}: {err}");
    }
    let out = sharelock(&data_dir, &["--json", "verify"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(!report["database"].as_array().unwrap().is_empty(), "{report}");
    // A server starting on it deletes nothing.
    let (child, _) = spawn_serve(&data_dir, &[], &[], Stdio::null());
    drop(Killed(child));
    let mut kept = [names_in(&data_dir.join("store")), names_in(&data_dir.join("quarantine"))].concat();
    kept.sort();
    assert_eq!(kept, ids);

    // Cut in half; not SQLite at all.
    for damaged in [good[..good.len() / 2].to_vec(), b"these are my notes, not a database\n".repeat(200)] {
        std::fs::write(&db, &damaged).unwrap();
        for args in [&["ls"][..], &["links"], &["verify"]] {
            let err = fails_cleanly(&data_dir, args);
            assert!(err.contains("damaged"), "{args:?}: {err}");
        }
    }
    let err = fails_cleanly(&data_dir, &["ls"]);
    assert!(err.contains(&format!("{} is damaged or is not a Sharelock database", db.display())), "{err}");
}

/// A read-only bind mount of `source` at a new folder, or None when not root.
fn read_only_mount(source: &Path) -> Option<Mount> {
    let mount = Mount::new("a read-only bind mount", &["--bind".as_ref(), source.as_os_str()])?;
    let ro = Command::new("mount").args(["-o", "remount,bind,ro"]).arg(&mount.0).status().unwrap();
    assert!(ro.success(), "cannot make {} read-only", mount.0.display());
    Some(mount)
}

/// Every entry under `dir` with its mode, size, modification time and contents' hash.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let contents = if meta.is_file() { sha256_hex(&std::fs::read(&path).unwrap()) } else { String::new() };
            if meta.is_dir() {
                pending.push(path.clone());
            }
            let line =
                format!("{:o} {} {:?} {contents}", meta.permissions().mode(), meta.len(), meta.modified().unwrap());
            out.insert(path.strip_prefix(dir).unwrap().to_path_buf(), line);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_data_dir_is_listed_and_verified_and_refuses_changes() {
    let work = tempfile::tempdir().unwrap();
    let data_dir = work.path().join("data");
    let id = add(&data_dir, work.path(), "a.txt", b"hello");
    sharelock_json(&data_dir, &["link", &id, "--label", "for Bob"]);
    sharelock_json(&data_dir, &["slot"]);
    let listings: Vec<Value> =
        [&["ls"][..], &["links"], &["slots"]].iter().map(|a| sharelock_json(&data_dir, a)).collect();
    let before = snapshot(&data_dir);
    let Some(mount) = read_only_mount(&data_dir) else { return };
    let ro = mount.0.as_path();

    // Reading works, and shows what the writable data dir shows.
    for (args, listing) in [&["ls"][..], &["links"], &["slots"]].iter().zip(&listings) {
        assert_eq!(&sharelock_json(ro, args), listing, "{args:?}");
    }
    let verified = sharelock_json(ro, &["verify"]);
    assert_eq!(verified["checked"], 1);
    assert_eq!(verified["problems"].as_array().unwrap().len(), 0);

    // Writing says why it cannot.
    let source = work.path().join("b.txt");
    std::fs::write(&source, b"b").unwrap();
    for args in [
        &["add", source.to_str().unwrap()][..],
        &["link", &id],
        &["rm", &id],
        &["set", &id, "--public", "true"],
        &["slot"],
        &["rotate-secret"],
        &["verify", "--adopt"],
        &["serve", "--bind", "127.0.0.1:0"],
    ] {
        let err = fails_cleanly(ro, args);
        assert!(err.contains(&format!("the data dir {} is read-only", ro.display())), "{args:?}: {err}");
    }
    assert_eq!(snapshot(&data_dir), before, "nothing in the data dir changed, permissions included");

    // A backup taken while a server ran holds a write-ahead log: read through it, not around it.
    let (child, _) = spawn_serve(&data_dir, &[], &[], Stdio::null());
    let _server = Killed(child);
    let newer = add(&data_dir, work.path(), "newer.txt", b"only in the log");
    assert!(data_dir.join("sharelock.db-wal").exists());
    let listed = sharelock_json(ro, &["ls"]);
    assert!(listed.as_array().unwrap().iter().any(|f| f["id"] == newer.as_str()), "{listed}");
}
