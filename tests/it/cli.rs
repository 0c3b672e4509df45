//! The `sharelock` CLI contract, and a running `sharelock serve` seeing CLI changes at once.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use reqwest::StatusCode;
use serde_json::Value;

use crate::both_modes;
use crate::support::{bytes, client, sha256_hex, sharelock, sharelock_json};

fn write(dir: &Path, name: &str, data: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, data).unwrap();
    path.to_string_lossy().into_owned()
}

both_modes! {
    fn add_and_ls_report_the_documented_fields(target: &Target, tmp: &Path) {
        let a = write(tmp, "report.pdf", b"%PDF-1.4 report");
        let b = write(tmp, "notes.txt", b"notes");
        let before = std::fs::metadata(&a).unwrap().modified().unwrap();
        let added = target.json(&["add", &a, &b, "--public"]);
        let added = added.as_array().unwrap();
        assert_eq!(added.len(), 2);
        for key in ["id", "name", "size", "sha256", "public"] {
            assert!(added[0].get(key).is_some(), "add output lacks {key}");
        }
        assert_eq!(added[0]["name"], "report.pdf");
        assert_eq!(added[0]["size"], 15);
        assert_eq!(added[0]["sha256"], sha256_hex(b"%PDF-1.4 report"));
        assert_eq!(added[0]["public"], true);
        // The original is untouched.
        assert_eq!(std::fs::read(&a).unwrap(), b"%PDF-1.4 report");
        assert_eq!(std::fs::metadata(&a).unwrap().modified().unwrap(), before);

        let listed = target.json(&["ls"]);
        let listed = listed.as_array().unwrap();
        assert_eq!(listed.len(), 2);
        for f in listed {
            for key in ["id", "name", "size", "sha256", "public", "public_url", "created_at"] {
                assert!(f.get(key).is_some(), "ls output lacks {key}: {f}");
            }
            assert!(f["created_at"].as_str().unwrap().ends_with('Z'));
            assert!(f.get("slot_id").is_none());
        }
        let human = target.run(&["ls"]);
        let text = String::from_utf8(human.stdout).unwrap();
        assert!(text.contains("report.pdf") && text.contains("public"));
        // The files are in the data dir, with the bytes sent, whichever way they were added.
        assert_eq!(sharelock_json(&target.data_dir, &["ls"]).as_array().unwrap().len(), 2);
        let stored = target.data_dir.join("store").join(added[0]["id"].as_str().unwrap());
        assert_eq!(std::fs::read(stored).unwrap(), b"%PDF-1.4 report");
    }

    fn add_stores_deceptive_names_safely(target: &Target, tmp: &Path) {
        for (raw, safe) in [
            ("invoice\u{202E}fdp.exe", "invoicefdp.exe"),
            ("cafe\u{301}.txt", "caf\u{e9}.txt"),
            ("CON.log", "_CON.log"),
            ("what? \"this\" | that.txt", "what_ _this_ _ that.txt"),
            ("trailing dot.", "trailing dot"),
        ] {
            let path = write(tmp, raw, b"x");
            let added = target.json(&["add", &path]);
            assert_eq!(added[0]["name"], safe, "{raw:?}");
            let listed = target.json(&["ls"]);
            let stored = listed.as_array().unwrap().iter().find(|f| f["id"] == added[0]["id"]).unwrap();
            assert_eq!(stored["name"], safe, "{raw:?}");
        }
    }

    fn links_edit_revoke_with_the_documented_fields(target: &Target, tmp: &Path) {
        let f = write(tmp, "a.txt", b"a");
        let id = target.json(&["add", &f])[0]["id"].as_str().unwrap().to_string();
        let link = target.json(&["link", &id, "--expires", "1h", "--max-downloads", "2", "--label", "for Bob"]);
        for key in ["id", "file_id", "url", "page_url", "expires_at", "max_downloads"] {
            assert!(link.get(key).is_some(), "link output lacks {key}");
        }
        assert_eq!(link["file_id"], id.as_str());
        assert_eq!(link["max_downloads"], 2);
        assert!(link["expires_at"].as_str().unwrap().ends_with('Z'));
        let forever = target.json(&["link", &id, "--expires", "never", "--base-url", "https://files.example.org/"]);
        assert_eq!(forever["expires_at"], Value::Null);
        assert!(forever["url"].as_str().unwrap().starts_with("https://files.example.org/d/"));

        let links = target.json(&["links", &id]);
        let links = links.as_array().unwrap();
        assert_eq!(links.len(), 2);
        for l in links {
            for key in ["id", "file_id", "url", "expires_at", "max_downloads", "downloads", "status"] {
                assert!(l.get(key).is_some(), "links output lacks {key}");
            }
            assert_eq!(l["status"], "active");
        }
        let link_id = link["id"].as_str().unwrap();
        let edited = target.json(&["edit-link", link_id, "--max-downloads", "none", "--expires", "7d"]);
        assert_eq!(edited["max_downloads"], Value::Null);
        assert_eq!(edited["url"], link["url"]);
        let revoked = target.json(&["revoke", link_id]);
        assert_eq!(revoked["status"], "revoked");
        assert_eq!(target.json(&["links"]).as_array().unwrap().len(), 2);
        let text = String::from_utf8(target.run(&["links", &id]).stdout).unwrap();
        assert!(text.contains("revoked") && text.contains(link_id), "{text}");
    }

    fn set_and_rm_change_the_file(target: &Target, tmp: &Path) {
        let f = write(tmp, "a.txt", b"a");
        let id = target.json(&["add", &f])[0]["id"].as_str().unwrap().to_string();
        let public = target.json(&["set", &id, "--public", "true"]);
        assert_eq!(public["public"], true);
        assert!(public["public_url"].as_str().unwrap().contains(&id));
        let text = String::from_utf8(target.run(&["set", &id, "--public", "false"]).stdout).unwrap();
        assert_eq!(text, format!("{id} is private\n"));
        assert_eq!(target.json(&["set", &id])["public"], false);
        target.json(&["link", &id]);
        assert_eq!(target.json(&["rm", &id]), serde_json::json!({ "removed": id }));
        assert!(target.json(&["ls"]).as_array().unwrap().is_empty());
        assert!(target.json(&["links"]).as_array().unwrap().is_empty());
    }

    fn slots_with_the_documented_fields(target: &Target, _tmp: &Path) {
        let slot = target.json(&[
            "slot",
            "--expires",
            "2d",
            "--max-size",
            "5M",
            "--max-files",
            "3",
            "--max-total",
            "10M",
            "--accept",
            "pdf,image/*",
            "--label",
            "Scans",
        ]);
        for key in ["id", "url", "expires_at", "max_size", "max_files"] {
            assert!(slot.get(key).is_some(), "slot output lacks {key}");
        }
        assert_eq!(slot["max_size"], 5 << 20);
        assert_eq!(slot["max_files"], 3);
        assert_eq!(slot["max_total"], 10 << 20);
        assert_eq!(slot["accept"], serde_json::json!([".pdf", "image/*"]));
        assert_eq!(slot["label"], "Scans");
        assert!(slot["url"].as_str().unwrap().contains("/u/") && slot["url"].as_str().unwrap().contains("?sig="));
        let slots = target.json(&["slots"]);
        assert_eq!(slots[0]["received"], 0);
        assert_eq!(slots[0]["status"], "active");
        let closed = target.json(&["close-slot", slot["id"].as_str().unwrap()]);
        assert_eq!(closed["status"], "closed");
        let text = String::from_utf8(target.run(&["slots"]).stdout).unwrap();
        assert!(text.contains("closed") && text.contains("Scans"), "{text}");
    }

    fn bad_input_is_a_clear_one_line_error_with_a_non_zero_exit(target: &Target, tmp: &Path) {
        let f = write(tmp, "a.txt", b"a");
        let id = target.json(&["add", &f])[0]["id"].as_str().unwrap().to_string();
        let empty = tempfile::tempdir().unwrap();
        let cases: Vec<(Vec<String>, &str)> = vec![
            (vec!["rm".into(), "nosuchfileid0000".into()], "no file with id \"nosuchfileid0000\""),
            (vec!["link".into(), "nosuchfileid0000".into()], "no file with id"),
            (vec!["revoke".into(), "nosuchlink".into()], "no link with id"),
            (vec!["close-slot".into(), "nope".into()], "no slot with id"),
            (vec!["link".into(), id.clone(), "--expires".into(), "soon".into()], "invalid duration"),
            (vec!["link".into(), id.clone(), "--max-downloads".into(), "0".into()], "0"),
            (vec!["slot".into(), "--max-size".into(), "huge".into()], "invalid size"),
            (vec!["slot".into(), "--expires".into(), "never".into()], "must expire"),
            (vec!["slot".into(), "--accept".into(), "*/*".into()], "invalid type"),
            (vec!["add".into(), tmp.join("missing.txt").to_string_lossy().into_owned()], "not a readable file"),
            (vec!["add".into(), empty.path().to_string_lossy().into_owned()], "no files to add"),
            (vec!["set".into(), id.clone(), "--public".into(), "maybe".into()], "maybe"),
            (vec!["edit-link".into(), "x".into()], "nothing to change"),
            (vec!["link".into(), id.clone(), "--base-url".into(), "ftp://x".into()], "invalid base URL"),
        ];
        for (args, expected) in cases {
            let mut all = vec!["--json".to_string()];
            all.extend(args.iter().cloned());
            let refs: Vec<&str> = all.iter().map(String::as_str).collect();
            let out = target.run(&refs);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{args:?} should fail");
            assert!(stderr.contains(expected), "{args:?}: {stderr}");
            assert!(
                out.stdout.is_empty() || out.stdout == b"[]\n",
                "{args:?} printed to stdout: {}",
                String::from_utf8_lossy(&out.stdout)
            );
            assert!(!stderr.contains("panicked"), "{args:?}");
        }
        // Nothing was half-done: still one file, no links.
        assert_eq!(target.json(&["ls"]).as_array().unwrap().len(), 1);
        assert_eq!(target.json(&["links"]).as_array().unwrap().len(), 0);
    }

    /// `sharelock add DIR` adds the files inside the folder, in name order and recursively, as
    /// dropping a folder on the desktop app does.
    fn add_of_a_folder_adds_the_files_inside_it(target: &Target, tmp: &Path) {
        let folder = tmp.join("folder");
        std::fs::create_dir_all(folder.join("sub")).unwrap();
        std::fs::write(folder.join("b.txt"), b"b").unwrap();
        std::fs::write(folder.join("a.txt"), b"a").unwrap();
        std::fs::write(folder.join("sub/c.txt"), b"c").unwrap();
        let single = write(tmp, "single.txt", b"single");
        let added = target.json(&["add", folder.to_str().unwrap(), &single]);
        let names: Vec<&str> = added.as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["a.txt", "b.txt", "c.txt", "single.txt"]);
        assert_eq!(target.json(&["ls"]).as_array().unwrap().len(), 4);
        let text = String::from_utf8(target.run(&["add", &single]).stdout).unwrap();
        assert!(text.ends_with("  6 B  single.txt\n"), "{text}");
    }
}

/// `add` of a folder of many files (stored a chunk at a time): a line for each, in name order,
/// each listed with its SHA-256.
#[test]
fn add_of_many_files_in_one_call_prints_and_lists_each() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let folder = tmp.path().join("many");
    std::fs::create_dir_all(&folder).unwrap();
    for i in 0..1_050 {
        write(&folder, &format!("n{i:04}.txt"), format!("note {i}").as_bytes());
    }
    let out = sharelock(&data_dir, &["add", folder.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let names: Vec<&str> = text.lines().map(|l| l.rsplit("  ").next().unwrap()).collect();
    let expected: Vec<String> = (0..1_050).map(|i| format!("n{i:04}.txt")).collect();
    assert_eq!(names, expected);
    let listed = sharelock_json(&data_dir, &["ls"]);
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1_050);
    for f in listed {
        let i: usize = f["name"].as_str().unwrap()[1..5].parse().unwrap();
        assert_eq!(f["sha256"], sha256_hex(format!("note {i}").as_bytes()));
    }
}

#[test]
fn data_dir_comes_from_the_environment_and_is_owner_only() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("env-data");
    let out = Command::new(env!("CARGO_BIN_EXE_sharelock"))
        .args(["--json", "ls"])
        .env("SHARELOCK_DATA_DIR", &data_dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(std::fs::metadata(&data_dir).unwrap().permissions().mode() & 0o777, 0o700);
    assert_eq!(std::fs::metadata(data_dir.join("store")).unwrap().permissions().mode() & 0o777, 0o700);
    assert_eq!(std::fs::metadata(data_dir.join("secret.key")).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(data_dir.join("sharelock.db")).unwrap().permissions().mode() & 0o777, 0o600);
    let f = write(tmp.path(), "a.txt", b"a");
    let id = sharelock_json(&data_dir, &["add", &f])[0]["id"].as_str().unwrap().to_string();
    let stored = data_dir.join("store").join(&id);
    assert_eq!(std::fs::metadata(stored).unwrap().permissions().mode() & 0o777, 0o600);
}

/// `sharelock serve` as a child process; killed with SIGTERM when dropped.
struct ServeProcess {
    child: Child,
    base: String,
}

impl ServeProcess {
    fn start(data_dir: &Path, extra: &[&str]) -> ServeProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sharelock"))
            .arg("--data-dir")
            .arg(data_dir)
            .args(["serve", "--bind", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        ServeProcess { child, base }
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        unsafe_kill(self.child.id(), "TERM");
        self.child.wait().unwrap()
    }

    /// Everything the server logged (after it stopped).
    fn log(&mut self) -> String {
        let mut log = String::new();
        std::io::Read::read_to_string(self.child.stderr.as_mut().unwrap(), &mut log).unwrap();
        log
    }
}

fn unsafe_kill(pid: u32, signal: &str) {
    Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status().unwrap();
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn cli_changes_take_effect_in_a_running_server_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let mut server = ServeProcess::start(&data_dir, &[]);
    assert!(server.base.starts_with("http://127.0.0.1:"));
    let data = bytes(100_000);
    let f = write(tmp.path(), "photo.jpg", &data);

    // New file and link, made by the CLI while the server runs; the URL uses the server's address.
    let id = sharelock_json(&data_dir, &["add", &f])[0]["id"].as_str().unwrap().to_string();
    let link = sharelock_json(&data_dir, &["link", &id, "--max-downloads", "1"]);
    let url = link["url"].as_str().unwrap().to_string();
    assert!(url.starts_with(&server.base), "{url} uses {}", server.base);
    assert_eq!(client().get(&url).send().await.unwrap().bytes().await.unwrap(), &data[..]);
    assert_eq!(client().get(&url).send().await.unwrap().status(), StatusCode::GONE);

    // Edit: raise the limit.
    sharelock_json(&data_dir, &["edit-link", link["id"].as_str().unwrap(), "--max-downloads", "5"]);
    let res = client().get(&url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // A download counts once its bytes are delivered: read them.
    assert_eq!(res.bytes().await.unwrap(), &data[..]);
    let listed = sharelock_json(&data_dir, &["links", &id]);
    assert_eq!(listed[0]["downloads"], 2);

    // Revoke.
    sharelock_json(&data_dir, &["revoke", link["id"].as_str().unwrap()]);
    assert_eq!(client().get(&url).send().await.unwrap().status(), StatusCode::GONE);

    // Public flag.
    let public = sharelock_json(&data_dir, &["set", &id, "--public", "true"]);
    let public_url = public["public_url"].as_str().unwrap().to_string();
    assert_eq!(client().get(&public_url).send().await.unwrap().status(), StatusCode::OK);
    sharelock_json(&data_dir, &["set", &id, "--public", "false"]);
    assert_eq!(client().get(&public_url).send().await.unwrap().status(), StatusCode::NOT_FOUND);

    // Secret rotation.
    let fresh = sharelock_json(&data_dir, &["link", &id])["url"].as_str().unwrap().to_string();
    assert_eq!(client().get(&fresh).send().await.unwrap().status(), StatusCode::OK);
    sharelock_json(&data_dir, &["rotate-secret"]);
    assert_eq!(client().get(&fresh).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    let after = sharelock_json(&data_dir, &["link", &id])["url"].as_str().unwrap().to_string();
    assert_eq!(client().get(&after).send().await.unwrap().status(), StatusCode::OK);

    // Slots: created and closed by the CLI.
    let slot = sharelock_json(&data_dir, &["slot", "--max-files", "2"]);
    let slot_url = slot["url"].as_str().unwrap().to_string();
    let (base, query) = slot_url.split_once('?').unwrap();
    let put = client().put(format!("{base}/upload.txt?{query}")).body("hi").send().await.unwrap();
    assert_eq!(put.status(), StatusCode::CREATED);
    let slots = sharelock_json(&data_dir, &["slots"]);
    assert_eq!(slots[0]["received"], 1);
    let received: Vec<Value> = sharelock_json(&data_dir, &["ls"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f.get("slot_id").is_some())
        .cloned()
        .collect();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0]["slot_id"], slot["id"]);
    sharelock_json(&data_dir, &["close-slot", slot["id"].as_str().unwrap()]);
    let put = client().put(format!("{base}/again.txt?{query}")).body("hi").send().await.unwrap();
    assert_eq!(put.status(), StatusCode::GONE);

    // Removal.
    sharelock_json(&data_dir, &["rm", &id]);
    assert_eq!(client().get(&after).send().await.unwrap().status(), StatusCode::GONE);

    // Graceful shutdown on SIGTERM.
    assert!(server.terminate().success());

    // One access log line per request, with status, bytes and duration, and no signature.
    let log = server.log();
    let link_id = link["id"].as_str().unwrap();
    let signature = url.split('/').nth(5).unwrap();
    let slot_sig = slot_url.split("sig=").nth(1).unwrap();
    assert!(!log.contains(signature) && !log.contains(slot_sig), "a signature reached the log:\n{log}");
    let download_line =
        log.lines().find(|l| l.contains(&format!("GET /d/{link_id}/…/photo.jpg 200 100000B"))).expect(&log);
    assert!(download_line.trim_end().ends_with("ms"), "{download_line}");
    assert!(log.lines().any(|l| l.contains("PUT /u/") && l.contains(" 201 ")), "{log}");
    assert!(log.lines().any(|l| l.contains(&format!("GET /d/{link_id}/…/photo.jpg 410"))), "{log}");
}

#[tokio::test]
async fn serve_base_url_is_stored_for_later_commands() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let mut server = ServeProcess::start(&data_dir, &["--base-url", "https://share.example.com/"]);
    let f = write(tmp.path(), "a.txt", b"a");
    let id = sharelock_json(&data_dir, &["add", &f])[0]["id"].as_str().unwrap().to_string();
    let link = sharelock_json(&data_dir, &["link", &id]);
    assert!(link["url"].as_str().unwrap().starts_with("https://share.example.com/d/"));
    assert!(link["page_url"].as_str().unwrap().starts_with("https://share.example.com/l/"));
    // The link works against the real address (the base URL is where a proxy would be).
    let path = link["url"].as_str().unwrap().strip_prefix("https://share.example.com").unwrap().to_string();
    assert_eq!(client().get(format!("{}{path}", server.base)).send().await.unwrap().text().await.unwrap(), "a");
    assert!(server.terminate().success());
}

#[test]
fn port_in_use_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = sharelock(&tmp.path().join("data"), &["serve", "--bind", &addr]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("cannot listen on {addr}")), "{stderr}");
}

/// Where the process `pid` has read `path` up to, from its open file descriptor's position;
/// `None` if it has no such file open.
fn read_position(pid: u32, path: &Path) -> Option<u64> {
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd")).ok()? {
        let fd = fd.ok()?;
        if std::fs::read_link(fd.path()).ok()? == path {
            let info =
                std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{}", fd.file_name().to_string_lossy())).ok()?;
            return info.lines().find_map(|l| l.strip_prefix("pos:")).and_then(|p| p.trim().parse().ok());
        }
    }
    None
}

/// Whether the child `pid`, not yet waited for, has exited (a zombie, in /proc's words).
fn has_exited(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit_once(')').is_none_or(|(_, rest)| rest.trim_start().starts_with('Z'))
}

#[test]
fn add_of_a_file_rewritten_during_the_copy_fails_and_stores_nothing() {
    use std::os::unix::fs::FileExt;
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let size = 64u64 << 20;
    let source = tmp.path().canonicalize().unwrap().join("big.bin");
    std::fs::write(&source, bytes(size as usize)).unwrap();
    // Any write from now on moves the modification time, even within one clock tick of `add`'s look.
    let long_ago = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(978_307_200);
    std::fs::File::options().write(true).open(&source).unwrap().set_modified(long_ago).unwrap();
    sharelock_json(&data_dir, &["ls"]);

    // Catch `add` in the middle of its copy: stopped (SIGSTOP) while its read position is inside
    // the file, so the writer below certainly writes before the copy ends. A copy that finished
    // before the stop is undone and tried again.
    let mut caught = None;
    for _ in 0..5 {
        let add = Command::new(env!("CARGO_BIN_EXE_sharelock"))
            .arg("--data-dir")
            .arg(&data_dir)
            .arg("add")
            .arg(&source)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = add.id();
        // Whether it ended is read without reaping it (`try_wait` would): until it is waited
        // for, its pid cannot go to another process, which the signals below would then stop.
        while read_position(pid, &source).is_none_or(|p| p == 0) && !has_exited(pid) {
            std::thread::yield_now();
        }
        unsafe_kill(pid, "STOP");
        if read_position(pid, &source).is_some_and(|p| p < size) {
            caught = Some(add);
            break;
        }
        unsafe_kill(pid, "CONT");
        let out = add.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let id = String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap().to_string();
        sharelock_json(&data_dir, &["rm", &id]);
    }
    let add = caught.expect("add was caught in the middle of its copy");

    // A writer keeps rewriting the file in place until `add` ends.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (done, source) = (done.clone(), source.clone());
        std::thread::spawn(move || {
            let file = std::fs::File::options().write(true).open(&source).unwrap();
            let mut round = 0u64;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                file.write_all_at(&[round as u8; 65536], (round * 65536) % size).unwrap();
                round += 1;
            }
            round
        })
    };
    while std::fs::metadata(&source).unwrap().modified().unwrap() == long_ago {
        std::thread::yield_now();
    }
    unsafe_kill(add.id(), "CONT");
    let out = add.wait_with_output().unwrap();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(writer.join().unwrap() > 0);

    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr,
        format!("sharelock: {} changed while it was being added; nothing was stored\n", source.display())
    );
    assert!(sharelock_json(&data_dir, &["ls"]).as_array().unwrap().is_empty());
    let stored = crate::support::names_in(&data_dir.join("store"));
    assert!(stored.is_empty(), "no store file, no temp file: {stored:?}");
}

/// `sharelock links | head -n 1`: the reader goes away after one line, and the CLI stops quietly
/// instead of panicking on the broken pipe.
#[test]
fn output_into_a_pipe_closed_early_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let f = write(dir.path(), "a.txt", b"a");
    let id = sharelock_json(&data_dir, &["add", &f])[0]["id"].as_str().unwrap().to_string();
    let vault = sharelock::Vault::open(&data_dir).unwrap();
    // More output than a pipe holds (64 KiB), so the writer meets the closed pipe.
    for _ in 0..800 {
        vault.create_link(&id, Default::default(), sharelock::time::now(), None).unwrap();
    }
    drop(vault);
    for args in ["links", "--json links"] {
        let script = format!(
            "set -o pipefail; '{}' --data-dir '{}' {args} | head -n 1",
            env!("CARGO_BIN_EXE_sharelock"),
            data_dir.display()
        );
        let out = Command::new("bash").arg("-c").arg(&script).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args}: {:?} {stderr}", out.status);
        assert!(!stderr.contains("panicked"), "{args}: {stderr}");
        assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
    }
}
