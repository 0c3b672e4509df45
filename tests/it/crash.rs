//! `kill -9` of a real server or CLI in the middle of an upload, an `add` and a download: after a
//! restart nothing partial is listed or left on disk, the database passes `integrity_check`,
//! and every earlier file still downloads with its SHA-256 intact.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Mount, bytes, sha256_hex, sharelock, sharelock_json};

/// `sharelock serve` on port 0; returns the child and its base URL.
fn serve(data_dir: &Path) -> (Child, String) {
    crate::support::spawn_serve(data_dir, &[], &[], Stdio::null())
}

fn kill9(child: &mut Child) {
    Command::new("kill").args(["-9", &child.id().to_string()]).status().unwrap();
    child.wait().unwrap();
}

/// `sharelock add SOURCE` running in the background, to be killed.
fn spawn_add(data_dir: &Path, source: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_sharelock"))
        .arg("--data-dir")
        .arg(data_dir)
        .arg("add")
        .arg(source)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Earlier files: added, linked, and their bytes remembered.
fn earlier_files(data_dir: &Path, work: &Path) -> Vec<(String, Vec<u8>)> {
    (0..3)
        .map(|i| {
            let data = bytes(100_000 + i * 77_777);
            let path = work.join(format!("earlier-{i}.bin"));
            std::fs::write(&path, &data).unwrap();
            let id = sharelock_json(data_dir, &["add", path.to_str().unwrap()])[0]["id"].as_str().unwrap().to_string();
            (id, data)
        })
        .collect()
}

/// After a crash: a fresh server starts (and cleans up), the database is sound, nothing stray is
/// on disk, and every earlier file downloads intact.
async fn check_recovered(data_dir: &Path, earlier: &[(String, Vec<u8>)]) {
    let (mut server, _) = serve(data_dir);
    let conn = rusqlite::Connection::open(data_dir.join("sharelock.db")).unwrap();
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
    let listed = sharelock_json(data_dir, &["ls"]);
    let listed_ids: Vec<&str> = listed.as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap()).collect();
    let on_disk = crate::support::names_in(&data_dir.join("store"));
    let mut expected: Vec<String> = listed_ids.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(on_disk, expected, "exactly the listed files are on disk: no temp files, no orphans");
    for (id, data) in earlier {
        assert!(listed_ids.contains(&id.as_str()));
        let url = sharelock_json(data_dir, &["link", id])["url"].as_str().unwrap().to_string();
        let body = reqwest::get(&url).await.unwrap().bytes().await.unwrap();
        assert_eq!(sha256_hex(&body), sha256_hex(data));
    }
    let verify = sharelock(data_dir, &["verify"]);
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
    kill9(&mut server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_during_an_upload() {
    let work = tempfile::tempdir().unwrap();
    let data_dir = work.path().join("data");
    let earlier = earlier_files(&data_dir, work.path());
    let slot = sharelock_json(&data_dir, &["slot", "--max-size", "1G"]);
    let (mut server, base) = serve(&data_dir);
    let slot_url = slot["url"].as_str().unwrap().replace("http://127.0.0.1:7420", &base);
    let (prefix, query) = slot_url.split_once('?').unwrap();
    let path = format!("{}/half.bin?{query}", prefix.strip_prefix(&base).unwrap());
    let mut stream = TcpStream::connect(base.strip_prefix("http://").unwrap()).unwrap();
    write!(stream, "PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n\r\n").unwrap();
    stream.write_all(&bytes(8_000_000)).unwrap();
    // Wait until the server has written a good part of it to a temp file.
    let started = Instant::now();
    while !std::fs::read_dir(data_dir.join("store")).unwrap().any(|e| {
        let e = e.unwrap();
        e.file_name().to_string_lossy().starts_with(".tmp-") && e.metadata().unwrap().len() > 1_000_000
    }) {
        assert!(started.elapsed() < Duration::from_secs(10), "the upload never reached the disk");
        std::thread::sleep(Duration::from_millis(20));
    }
    kill9(&mut server);
    drop(stream);
    assert!(
        sharelock_json(&data_dir, &["ls"]).as_array().unwrap().iter().all(|f| f.get("slot_id").is_none()),
        "no partial upload listed"
    );
    check_recovered(&data_dir, &earlier).await;
    assert_eq!(sharelock_json(&data_dir, &["slots"])[0]["received"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_during_an_add() {
    let work = tempfile::tempdir().unwrap();
    let data_dir = work.path().join("data");
    let earlier = earlier_files(&data_dir, work.path());
    // A big source, so the kill lands in the middle of the copy.
    let big = work.path().join("big.bin");
    {
        let mut f = std::fs::File::create(&big).unwrap();
        let block = bytes(1 << 20);
        for _ in 0..1024 {
            f.write_all(&block).unwrap();
        }
    }
    let mut add = spawn_add(&data_dir, &big);
    let started = Instant::now();
    loop {
        let temp = std::fs::read_dir(data_dir.join("store")).unwrap().any(|e| {
            let e = e.unwrap();
            e.file_name().to_string_lossy().starts_with(".tmp-") && e.metadata().unwrap().len() > 10_000_000
        });
        if temp {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "the add never wrote to the store");
        std::thread::sleep(Duration::from_millis(5));
    }
    kill9(&mut add);
    assert_eq!(
        sharelock_json(&data_dir, &["ls"]).as_array().unwrap().len(),
        earlier.len(),
        "the killed add is not listed"
    );
    check_recovered(&data_dir, &earlier).await;
}

/// An `add` of many files is committed a chunk at a time: killed in the middle, the files of
/// the chunks committed are listed with their bytes, the rest of the copy is left unlisted and
/// cleaned up (moved aside, never deleted) by the next start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_during_an_add_of_many_files() {
    let work = tempfile::tempdir().unwrap();
    let data_dir = work.path().join("data");
    let earlier = earlier_files(&data_dir, work.path());
    let folder = work.path().join("many");
    std::fs::create_dir_all(&folder).unwrap();
    let body = |i: usize| {
        let mut data = bytes(16 * 1024);
        data.extend_from_slice(format!("file {i}").as_bytes());
        data
    };
    for i in 0..3_000 {
        std::fs::write(folder.join(format!("f{i:05}")), body(i)).unwrap();
    }
    let mut add = spawn_add(&data_dir, &folder);
    // Killed once more files are in the store than one chunk holds: some are committed, some
    // copied and not yet recorded.
    let started = Instant::now();
    while crate::support::names_in(&data_dir.join("store")).len() < earlier.len() + 1_200 {
        assert!(add.try_wait().unwrap().is_none(), "the add ended before it could be killed");
        assert!(started.elapsed() < Duration::from_secs(60), "the add never reached 1,200 files");
        std::thread::sleep(Duration::from_millis(5));
    }
    kill9(&mut add);
    let listed = sharelock_json(&data_dir, &["ls"]);
    let added: Vec<(String, String)> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["name"].as_str().unwrap().starts_with('f'))
        .map(|f| (f["id"].as_str().unwrap().to_string(), f["name"].as_str().unwrap().to_string()))
        .collect();
    assert!(!added.is_empty() && added.len() < 3_000, "killed mid-way: {} listed", added.len());
    for (id, name) in &added {
        let i: usize = name[1..].parse().unwrap();
        assert_eq!(std::fs::read(data_dir.join("store").join(id)).unwrap(), body(i), "{name} is whole");
    }
    check_recovered(&data_dir, &earlier).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_during_a_download() {
    let work = tempfile::tempdir().unwrap();
    let data_dir = work.path().join("data");
    let earlier = earlier_files(&data_dir, work.path());
    let big = work.path().join("big.bin");
    std::fs::write(&big, bytes(64 << 20)).unwrap();
    let id = sharelock_json(&data_dir, &["add", big.to_str().unwrap()])[0]["id"].as_str().unwrap().to_string();
    let (mut server, base) = serve(&data_dir);
    let link = sharelock_json(&data_dir, &["link", &id, "--max-downloads", "1", "--base-url", &base]);
    let url = link["url"].as_str().unwrap().to_string();
    let mut stream = TcpStream::connect(base.strip_prefix("http://").unwrap()).unwrap();
    write!(stream, "GET {} HTTP/1.1\r\nHost: x\r\n\r\n", url.strip_prefix(&base).unwrap()).unwrap();
    let mut first = vec![0u8; 1 << 20];
    stream.read_exact(&mut first).unwrap();
    kill9(&mut server);
    drop(stream);
    let mut all = earlier.clone();
    all.push((id.clone(), std::fs::read(&big).unwrap()));
    check_recovered(&data_dir, &all).await;
    // The broken-off download did not use up the one-time link (check_recovered used a new link).
    let links = sharelock_json(&data_dir, &["links", &id]);
    let one_time = links.as_array().unwrap().iter().find(|l| l["id"] == link["id"]).unwrap();
    assert_eq!(one_time["downloads"], 0);
    assert_eq!(one_time["status"], "active");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_locked_by_another_process_delays_requests_but_never_fails_them() {
    let server = crate::support::Server::start().await;
    let file = server.add("a.txt", b"hello");
    let unlimited = server.link(&file.file.id);
    let one_time =
        server.link_with(&file.file.id, sharelock::vault::NewLink { max_downloads: Some(1), ..Default::default() });
    // Another process (the CLI, say) takes the write lock and holds it for a second.
    let blocker = rusqlite::Connection::open(server.vault.data_dir().join("sharelock.db")).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE; UPDATE settings SET value = value;").unwrap();
    let released = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1000));
        blocker.execute_batch("COMMIT").unwrap();
    });
    // Reads go on meanwhile (WAL): the unlimited link answers at once.
    let started = Instant::now();
    let res = crate::support::client().get(&unlimited.url).send().await.unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    assert!(started.elapsed() < Duration::from_millis(900), "a read does not wait for the write lock");
    // A write (claiming the one-time download) waits for the lock to clear, then succeeds.
    let res = crate::support::client().get(&one_time.url).send().await.unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    assert_eq!(res.text().await.unwrap(), "hello");
    released.join().unwrap();
    assert_eq!(crate::support::client().get(&one_time.url).send().await.unwrap().status(), reqwest::StatusCode::GONE);
}

/// A small tmpfs, or None when not root.
fn small_disk(size: &str) -> Option<Mount> {
    let options = format!("size={size}");
    Mount::new(
        "mounting a small tmpfs",
        &["-t".as_ref(), "tmpfs".as_ref(), "-o".as_ref(), options.as_ref(), "tmpfs".as_ref()],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_uploads_with_507_and_adds_with_a_message_and_keeps_serving() {
    let Some(disk) = small_disk("8m") else { return };
    let server = crate::support::Server::start_in(tempfile::tempdir_in(&disk.0).unwrap(), Default::default()).await;
    let earlier = server.add("earlier.txt", b"still here");
    let slot = server.slot(sharelock::vault::NewSlot { max_size: 100 << 20, ..Default::default() });
    let (base, query) = slot.url.split_once('?').unwrap();

    // An upload bigger than the disk: 507, nothing left behind.
    let res = crate::support::client().put(format!("{base}/big.bin?{query}")).body(bytes(20 << 20)).send().await;
    let status = res.map(|r| r.status()).unwrap_or(reqwest::StatusCode::INSUFFICIENT_STORAGE);
    assert_eq!(status, reqwest::StatusCode::INSUFFICIENT_STORAGE);
    let store = server.vault.store().dir().to_path_buf();
    let stray = || {
        std::fs::read_dir(&store)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with(".tmp-"))
            .count()
    };
    let started = Instant::now();
    while stray() > 0 {
        assert!(started.elapsed() < Duration::from_secs(5), "the partial upload is deleted");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(server.vault.inbox().unwrap().is_empty());

    // The server keeps serving, and a small upload still fits.
    let link = server.link(&earlier.file.id);
    assert_eq!(crate::support::client().get(&link.url).send().await.unwrap().text().await.unwrap(), "still here");
    let res = crate::support::client().put(format!("{base}/small.txt?{query}")).body("small").send().await.unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::CREATED);

    // The CLI: a clear message, a non-zero exit, nothing added.
    let big = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(big.path(), bytes(20 << 20)).unwrap();
    let out = sharelock(server.vault.data_dir(), &["add", big.path().to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("disk is full"), "{stderr}");
    assert_eq!(stray(), 0);
    assert_eq!(server.vault.files().unwrap().len(), 2);
}
