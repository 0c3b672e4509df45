//! The store on disk: leftovers cleaned at startup, nothing half-added.

use reqwest::StatusCode;
use sharelock::http::ServerConfig;

use crate::support::{Server, client};

#[tokio::test]
async fn startup_removes_temp_files_quarantines_orphans_and_keeps_real_files() {
    let server = Server::start().await;
    let kept = server.add("kept.txt", b"keep me");
    let store = server.vault.store().dir().to_path_buf();
    let dir = server.stop().await;
    // What a crash would leave: a half-written temp file and a renamed file whose row never came.
    std::fs::write(store.join(".tmp-crashed"), b"partial").unwrap();
    let orphan = sharelock::ids::generate();
    std::fs::write(store.join(&orphan), b"no row").unwrap();

    let server = Server::start_in(dir, ServerConfig::default()).await;
    let link = server.link(&kept.file.id);
    let res = client().get(&link.url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text().await.unwrap(), "keep me");
    assert!(!store.join(".tmp-crashed").exists());
    assert!(!store.join(&orphan).exists());
    // Moved, never deleted: a file without a row may be the only copy (see `recovery`).
    assert_eq!(std::fs::read(server.vault.store().quarantine().join(&orphan)).unwrap(), b"no row");
    assert!(store.join(&kept.file.id).exists());
}

/// What a change to the source during `add` can be.
#[derive(Debug, Clone, Copy)]
enum Change {
    Append,
    Truncate,
    RewriteInPlace,
    ReplaceByRename,
}

#[tokio::test]
async fn a_file_changing_while_it_is_added_is_refused_and_nothing_is_stored() {
    use std::os::unix::fs::FileExt;
    let server = Server::start().await;
    let src = server.dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let original = crate::support::bytes(8 << 20);
    let long_ago = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(978_307_200);
    for change in [Change::Append, Change::Truncate, Change::RewriteInPlace, Change::ReplaceByRename] {
        let path = src.join(format!("{change:?}.bin"));
        std::fs::write(&path, &original).unwrap();
        // An old modification time: a rewrite within the same clock tick as the open still shows.
        std::fs::File::options().write(true).open(&path).unwrap().set_modified(long_ago).unwrap();
        let mut changed = false;
        let mut progress = |copied: u64| {
            // Once, after the first chunk and long before the last.
            if changed || copied >= original.len() as u64 {
                return;
            }
            changed = true;
            let file = std::fs::File::options().write(true).open(&path).unwrap();
            match change {
                Change::Append => file.write_all_at(b"appended", original.len() as u64).unwrap(),
                Change::Truncate => file.set_len(original.len() as u64 / 2).unwrap(),
                Change::RewriteInPlace => file.write_all_at(&[0xff; 4096], original.len() as u64 - 4096).unwrap(),
                Change::ReplaceByRename => {
                    let other = src.join("other.bin");
                    std::fs::write(&other, &original).unwrap();
                    std::fs::rename(&other, &path).unwrap();
                }
            }
        };
        let err = server.vault.add_file(&path, false, 0, &mut progress).unwrap_err().to_string();
        assert!(changed, "{change:?}: the source was changed during the copy");
        assert_eq!(err, format!("{} changed while it was being added; nothing was stored", path.display()));
        assert!(server.vault.files().unwrap().is_empty(), "{change:?}: no row");
        let leftovers = crate::support::names_in(server.vault.store().dir());
        assert!(leftovers.is_empty(), "{change:?}: no store file, no temp file: {leftovers:?}");
    }
    // The same file left alone is added whole.
    let path = src.join("calm.bin");
    std::fs::write(&path, &original).unwrap();
    let added = server.vault.add_file(&path, false, 0, &mut |_| {}).unwrap();
    assert_eq!(added.file.sha256, crate::support::sha256_hex(&original));
}

/// Many files added in one call are committed a chunk (one transaction) at a time: each is
/// stored whole with its SHA-256, in order, listed as soon as its chunk is in; the first that
/// cannot be read stops the rest, with its path named, the files before it stored and no temp
/// file left behind.
#[tokio::test]
async fn many_files_in_one_call_are_each_stored_and_the_first_failure_stops_the_rest() {
    use crate::support::{names_in, sha256_hex};
    let server = Server::start().await;
    let src = server.dir.path().join("many");
    std::fs::create_dir_all(&src).unwrap();
    // More than two chunks of 1,000.
    let count = 2_300;
    let body = |i: usize| format!("file number {i}").into_bytes();
    let paths: Vec<std::path::PathBuf> = (0..count)
        .map(|i| {
            let path = src.join(format!("f{i:05}.txt"));
            std::fs::write(&path, body(i)).unwrap();
            path
        })
        .collect();
    let (mut added, mut copied) = (Vec::new(), vec![0u64; count]);
    let mut progress = |index: usize, done: u64| copied[index] = done;
    server.vault.add_files(&paths, false, 0, &mut progress, &mut |f| added.push(f)).unwrap();
    assert_eq!(added.len(), count);
    for (i, file) in added.iter().enumerate() {
        assert_eq!(file.file.name, format!("f{i:05}.txt"));
        assert_eq!(file.file.sha256, sha256_hex(&body(i)));
        assert_eq!(std::fs::read(server.vault.stored_path(&file.file.id).unwrap()).unwrap(), body(i));
        assert_eq!(copied[i], body(i).len() as u64, "progress reached the end of file {i}");
    }
    assert_eq!(server.vault.files().unwrap().len(), count);

    // A file gone between the listing and its copy, in the middle of the second chunk.
    let other = Server::start().await;
    let mut broken = paths[..1_500].to_vec();
    broken.push(src.join("gone.txt"));
    broken.extend_from_slice(&paths[1_500..1_600]);
    let mut stored = Vec::new();
    let err = other.vault.add_files(&broken, false, 0, &mut |_, _| {}, &mut |f| stored.push(f.file.id)).unwrap_err();
    assert!(err.to_string().contains(&format!("cannot read {}", src.join("gone.txt").display())), "{err}");
    assert_eq!(stored.len(), 1_500, "the files before it are stored");
    let mut listed: Vec<String> = other.vault.files().unwrap().into_iter().map(|f| f.file.id).collect();
    listed.sort();
    stored.sort();
    assert_eq!(listed, stored);
    assert_eq!(names_in(other.vault.store().dir()), stored, "no temp file, nothing unlisted");
}

#[tokio::test]
async fn adding_a_folder_fails_and_stores_nothing() {
    let server = Server::start().await;
    let err = server.vault.add_file(server.dir.path(), false, 0, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("not a regular file"), "{err}");
    assert!(server.vault.files().unwrap().is_empty());
    let leftovers: Vec<_> = std::fs::read_dir(server.vault.store().dir())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name() != ".lock")
        .collect();
    assert!(leftovers.is_empty());
}

#[tokio::test]
async fn names_keep_unicode_and_lose_control_characters() {
    let server = Server::start().await;
    let file = server.add("Übersicht\u{7}\u{1b}[31m 2026 📊.xlsx", b"x");
    assert_eq!(file.file.name, "Übersicht[31m 2026 📊.xlsx");
    assert_eq!(file.file.content_type, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
    assert!(sharelock::ids::is_valid(&file.file.id));
}

#[tokio::test]
async fn export_writes_an_exact_copy_and_folders_expand_to_their_files() {
    let server = Server::start().await;
    let file = server.add("report.txt", b"the report");
    let dest = server.dir.path().join("out").join("copy.txt");
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    server.vault.export_file(&file.file.id, &dest).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), b"the report");
    assert!(server.vault.export_file("nosuchfile000000", &dest).is_err());

    let folder = server.dir.path().join("folder");
    std::fs::create_dir_all(folder.join("sub")).unwrap();
    std::fs::write(folder.join("b.txt"), b"b").unwrap();
    std::fs::write(folder.join("sub").join("a.txt"), b"a").unwrap();
    let single = server.dir.path().join("single.txt");
    std::fs::write(&single, b"s").unwrap();
    let expanded = sharelock::vault::expand_paths(&[folder.clone(), single.clone()]).unwrap();
    assert_eq!(expanded, vec![folder.join("b.txt"), folder.join("sub").join("a.txt"), single]);
    assert!(sharelock::vault::expand_paths(&[server.dir.path().join("missing")]).is_err());
}

#[tokio::test]
async fn files_changed_behind_our_back_are_refused_and_verify_reports_them() {
    let server = Server::start().await;
    let intact = server.add("intact.txt", b"intact");
    let deleted = server.add("deleted.txt", b"deleted");
    let same_size = server.add("same-size.txt", b"original");
    let small_grown = server.add("grown.txt", b"small");
    let big = server.add("big.bin", &crate::support::bytes(200_000));
    let big_same_size = server.add("big2.bin", &crate::support::bytes(150_000));
    let store = |id: &str| server.vault.store().path_of(id);
    std::fs::remove_file(store(&deleted.file.id)).unwrap();
    std::fs::write(store(&same_size.file.id), b"tampered").unwrap();
    std::fs::write(store(&small_grown.file.id), b"small and longer").unwrap();
    std::fs::write(store(&big.file.id), crate::support::bytes(100)).unwrap();
    let mut altered = crate::support::bytes(150_000);
    altered[0] ^= 0xff;
    std::fs::write(store(&big_same_size.file.id), altered).unwrap();

    for (file, expected) in [
        (&intact, StatusCode::OK),
        (&deleted, StatusCode::GONE),
        (&same_size, StatusCode::GONE),
        (&small_grown, StatusCode::GONE),
        (&big, StatusCode::GONE),
        (&big_same_size, StatusCode::GONE),
    ] {
        let link = server.link(&file.file.id);
        let res = client().get(&link.url).send().await.unwrap();
        assert_eq!(res.status(), expected, "{}", file.file.name);
        if expected == StatusCode::GONE {
            assert_eq!(res.text().await.unwrap(), "this file is no longer available\n");
        }
        let ranged = client().get(&link.url).header(reqwest::header::RANGE, "bytes=0-1").send().await.unwrap();
        assert!(
            ranged.status() == StatusCode::PARTIAL_CONTENT
                || expected == StatusCode::GONE && ranged.status() == StatusCode::GONE,
            "{}",
            file.file.name
        );
    }

    let out = crate::support::sharelock(server.vault.data_dir(), &["--json", "verify"]);
    assert!(!out.status.success(), "verify exits non-zero when a file is not intact");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["checked"], 6);
    let mut problems: Vec<(String, String)> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap().to_string(), p["problem"].as_str().unwrap().to_string()))
        .collect();
    problems.sort();
    let names: Vec<&str> = problems.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["big.bin", "big2.bin", "deleted.txt", "grown.txt", "same-size.txt"]);
    assert!(problems.iter().any(|(n, p)| n == "deleted.txt" && p == "missing"));
    assert!(problems.iter().any(|(n, p)| n == "same-size.txt" && p.contains("SHA-256")));
    assert!(problems.iter().any(|(n, p)| n == "big.bin" && p.starts_with("size changed")));
    assert!(String::from_utf8_lossy(&out.stderr).contains("5 stored file(s) are not as they were stored"));
}
