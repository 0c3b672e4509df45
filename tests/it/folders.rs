//! Folders sent to slots: paths kept through `curl -T` and multipart forms, shown by `ls`, every
//! escape refused with 400 and nothing stored, and the slot's limits holding for folders too.

use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::Value;
use sharelock::vault::NewSlot;

use crate::support::{Server, bytes, client, names_in, sharelock, sharelock_json};

fn put_url(slot_url: &str, path: &str) -> String {
    let (base, query) = slot_url.split_once('?').unwrap();
    format!("{base}/{path}?{query}")
}

/// `curl -T file URL`, with `--path-as-is` so curl sends `..` and `.` as they are instead of
/// resolving them: (HTTP status, body).
async fn curl_put(file: &std::path::Path, url: &str) -> (u16, String) {
    let out = tokio::process::Command::new("curl")
        .args(["-sS", "--path-as-is", "--max-time", "20", "-w", "\n%{http_code}", "-T"])
        .arg(file)
        .arg(url)
        .output()
        .await
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').expect("a status line");
    (status.parse().unwrap_or_else(|_| panic!("curl: {text} {}", String::from_utf8_lossy(&out.stderr))), body.into())
}

/// A form whose file names go as browsers send them: as they are, not percent-encoded.
fn browser_form() -> Form {
    Form::new().percent_encode_noop()
}

fn slot(max_size: u64, max_files: u64) -> NewSlot {
    NewSlot { max_size, max_files, ..Default::default() }
}

#[tokio::test]
async fn curl_put_keeps_the_path_and_ls_shows_it() {
    let server = Server::start().await;
    let s = server.slot(slot(1 << 20, 10));
    let source = server.dir.path().join("scan.pdf");
    std::fs::write(&source, b"%PDF-1.4 page").unwrap();
    let (status, body) = curl_put(&source, &put_url(&s.url, "Taxes%202026/receipts/scan.pdf")).await;
    assert_eq!(status, 201, "{body}");
    let stored: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(stored["files"][0]["name"], "scan.pdf");
    assert_eq!(stored["files"][0]["path"], "Taxes 2026/receipts/scan.pdf");
    // A file sent alone has no path.
    let (status, body) = curl_put(&source, &put_url(&s.url, "alone.pdf")).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["files"][0]["path"], Value::Null);
    // Parts are sanitised as names are.
    let (status, body) = curl_put(&source, &put_url(&s.url, "a%3Cb%3E/CON/x%E2%80%AEfdp.exe")).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["files"][0]["path"], "a_b_/_CON/xfdp.exe");

    let data = server.dir.path().join("data");
    let listed = sharelock_json(&data, &["ls"]);
    let paths: Vec<&Value> = listed.as_array().unwrap().iter().map(|f| &f["path"]).collect();
    assert_eq!(paths, [&Value::from("a_b_/_CON/xfdp.exe"), &Value::Null, &Value::from("Taxes 2026/receipts/scan.pdf")]);
    let text = String::from_utf8(sharelock(&data, &["ls"]).stdout).unwrap();
    assert!(text.contains("Taxes 2026/receipts/scan.pdf"), "{text}");
    assert!(text.contains("Taxes 2026/ (1 file, 13 B)"), "the folder heads its files: {text}");

    // The API's file JSON has it too, and its schema says so.
    let scopes = sharelock::tokens::Scopes::parse("read").unwrap();
    let token = server
        .vault
        .create_token(None, scopes, sharelock::units::Lifetime::Never, sharelock::time::now())
        .unwrap()
        .token;
    let api = |path: &str| client().get(format!("{}/api/v1{path}", server.base)).bearer_auth(&token).send();
    let files: Value = api("/files").await.unwrap().json().await.unwrap();
    assert!(files.as_array().unwrap().iter().any(|f| f["path"] == "Taxes 2026/receipts/scan.pdf"), "{files}");
    let doc: Value = api("/openapi.json").await.unwrap().json().await.unwrap();
    let schema = &doc["components"]["schemas"]["FileRecord"]["properties"]["path"];
    assert!(schema.is_object(), "{}", doc["components"]["schemas"]["FileRecord"]);
}

#[tokio::test]
async fn a_form_keeps_each_files_path_and_groups_the_folder_in_ls() {
    let server = Server::start().await;
    let s = server.slot(slot(1 << 20, 10));
    let form = browser_form()
        .text("name", "Ann")
        .part("file", Part::bytes(b"one".to_vec()).file_name("Holiday/day 1/beach.jpg"))
        .part("file", Part::bytes(b"two".to_vec()).file_name("Holiday/notes.txt"))
        .part("file", Part::bytes(b"three".to_vec()).file_name("loose.txt"));
    let res = client().post(&s.url).multipart(form).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let json: Value = res.json().await.unwrap();
    let kept: Vec<(&str, &Value)> =
        json["files"].as_array().unwrap().iter().map(|f| (f["name"].as_str().unwrap(), &f["path"])).collect();
    assert_eq!(
        kept,
        [
            ("beach.jpg", &Value::from("Holiday/day 1/beach.jpg")),
            ("notes.txt", &Value::from("Holiday/notes.txt")),
            ("loose.txt", &Value::Null)
        ]
    );
    let stored = server.vault.inbox().unwrap();
    assert!(stored.iter().any(|f| f.file.path.as_deref() == Some("Holiday/notes.txt")), "in the database");

    // `ls`: the folder's line, then its files by path, next to each other.
    let text = String::from_utf8(sharelock(&server.dir.path().join("data"), &["ls"]).stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let head = lines.iter().position(|l| l.contains("Holiday/ (2 files, 6 B)")).unwrap_or_else(|| panic!("{text}"));
    assert!(lines[head + 1].ends_with("  Holiday/day 1/beach.jpg"), "{text}");
    assert!(lines[head + 2].ends_with("  Holiday/notes.txt"), "{text}");
}

#[tokio::test]
async fn escaping_paths_are_400_and_store_nothing() {
    let server = Server::start().await;
    let s = server.slot(slot(1 << 20, 50));
    let source = server.dir.path().join("x.txt");
    std::fs::write(&source, b"escape").unwrap();
    let too_deep = vec!["d"; 17].join("/");
    let too_long = format!("{}/x", vec!["l".repeat(255); 4].join("/"));
    for path in [
        "../x.txt",
        "a/../../x.txt",
        "./x.txt",
        "a/./x.txt",
        "/etc/passwd",
        "%2e%2e/x.txt",
        "a/%2e%2E/x.txt",
        "a/%2F/b",
        "..%2F..%2Fetc%2Fpasswd",
        "a%2F..%2F..%2Fx",
        "a/%252e%252e/x.txt",
        "a%5C..%5Cx.txt",
        "a/b%00.txt",
        "a//x.txt",
        too_deep.as_str(),
        too_long.as_str(),
    ] {
        let (status, body) = curl_put(&source, &put_url(&s.url, path)).await;
        assert_eq!(status, 400, "{path}: {body}");
    }
    // A trailing `/` (curl would append the local file's name to it).
    let res = client().put(put_url(&s.url, "a/x.txt/")).body("x").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // The same in a form's file names; the form's good file goes with the bad one.
    for path in ["../x.txt", "/abs/x.txt", "a\\..\\x.txt", "a/%2e%2e/x.txt", "a//x.txt", too_deep.as_str()] {
        let form = browser_form()
            .part("file", Part::bytes(b"good".to_vec()).file_name("ok/good.txt"))
            .part("file", Part::bytes(b"bad".to_vec()).file_name(path.to_string()));
        let res = client().post(&s.url).multipart(form).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{path}");
        assert!(res.text().await.unwrap().contains("path"), "{path}: the reason names the path");
    }
    assert!(server.vault.files().unwrap().is_empty(), "nothing stored");
    assert!(names_in(server.vault.store().dir()).is_empty(), "nothing on disk");
    // A refused form's claims are given back off the async workers, just after its answer.
    let started = std::time::Instant::now();
    loop {
        let slot = server.vault.slot(&s.slot.id, 0).unwrap();
        if (slot.received, slot.slot.claimed_files) == (0, 0) {
            break;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "no claim kept: {:?}", slot.slot);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_folder_is_held_to_the_slots_limits() {
    let server = Server::start().await;
    let s = server.slot(NewSlot { max_size: 1_000, max_files: 2, max_total: Some(1_500), ..Default::default() });
    // Three files in a two-file slot: refused whole.
    let form =
        (0..3).fold(browser_form(), |f, i| f.part("file", Part::bytes(b"x".to_vec()).file_name(format!("f/{i}.txt"))));
    let res = client().post(&s.url).multipart(form).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // A file over the per-file size, deep in a folder.
    let res = client().put(put_url(&s.url, "f/g/big.bin")).body(bytes(1_001)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Two files that together cross the total.
    let form = browser_form()
        .part("file", Part::bytes(bytes(800)).file_name("f/a.bin"))
        .part("file", Part::bytes(bytes(800)).file_name("f/b.bin"));
    let res = client().post(&s.url).multipart(form).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(server.vault.files().unwrap().is_empty());
    // Within every limit, the folder is kept.
    let form = browser_form()
        .part("file", Part::bytes(bytes(700)).file_name("f/a.bin"))
        .part("file", Part::bytes(bytes(700)).file_name("f/g/b.bin"));
    let res = client().post(&s.url).multipart(form).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let mut paths: Vec<String> = server.vault.inbox().unwrap().into_iter().filter_map(|f| f.file.path).collect();
    paths.sort();
    assert_eq!(paths, ["f/a.bin", "f/g/b.bin"]);
}

#[tokio::test]
async fn saving_a_received_folder_writes_its_tree_and_nothing_outside() {
    use sharelock::manage::Manage;
    let server = Server::start().await;
    let s = server.slot(slot(1 << 20, 10));
    let form = browser_form()
        .part("file", Part::bytes(b"sand".to_vec()).file_name("Holiday/day 1/beach.jpg"))
        .part("file", Part::bytes(b"notes".to_vec()).file_name("Holiday/notes.txt"))
        .part("file", Part::bytes(b"other".to_vec()).file_name("Other/x.txt"));
    assert_eq!(client().post(&s.url).multipart(form).send().await.unwrap().status(), StatusCode::CREATED);
    let upload = server.vault.inbox().unwrap()[0].file.upload_id.clone().unwrap();
    let vault = server.vault.clone();
    let saved = tokio::task::spawn_blocking(move || {
        let into = tempfile::tempdir().unwrap();
        let written = vault.save_folder(&upload, "Holiday", into.path()).unwrap();
        let tree = |p: &str| std::fs::read(into.path().join(p)).unwrap();
        assert_eq!(tree("Holiday/day 1/beach.jpg"), b"sand");
        assert_eq!(tree("Holiday/notes.txt"), b"notes");
        assert!(!into.path().join("Other").exists(), "only the folder asked for");
        assert_eq!(written.len(), 2);
        // Saved again into the same folder: nothing is replaced.
        std::fs::write(into.path().join("Holiday/notes.txt"), b"mine").unwrap();
        assert!(vault.save_folder(&upload, "Holiday", into.path()).is_err());
        assert_eq!(tree("Holiday/notes.txt"), b"mine");
        // A folder of the tree that is a symbolic link out of the chosen folder is not followed.
        let elsewhere = tempfile::tempdir().unwrap();
        let into = tempfile::tempdir().unwrap();
        std::fs::create_dir(into.path().join("Holiday")).unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), into.path().join("Holiday/day 1")).unwrap();
        assert!(vault.save_folder(&upload, "Holiday", into.path()).is_err());
        assert!(crate::support::names_in(elsewhere.path()).is_empty(), "nothing written through the link");
        // A path changed in the database to lead out is refused before anything is written.
        let db = rusqlite::Connection::open(vault.data_dir().join("sharelock.db")).unwrap();
        db.execute("UPDATE files SET path = 'Holiday/../../evil.txt' WHERE path = 'Holiday/notes.txt'", []).unwrap();
        let into = tempfile::tempdir().unwrap();
        let refused = vault.save_folder(&upload, "Holiday", into.path()).unwrap_err();
        assert!(refused.to_string().contains("cannot be saved"), "{refused}");
        assert!(crate::support::names_in(into.path()).is_empty());
        assert!(!into.path().parent().unwrap().join("evil.txt").exists());
    });
    saved.await.unwrap();
}
