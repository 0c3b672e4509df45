//! Shares of several files: one link, a landing page listing them, a URL per file and a zip of
//! them all, checked by real unzip tools and resumed with real curl.

use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG, IF_RANGE, RANGE};
use sharelock::units::Lifetime;
use sharelock::vault::{LinkEdit, LinkInfo, NewLink};
use tokio::process::Command;

use crate::support::{Server, Target, bytes, client, sha256_hex};

/// Three files: text, a larger binary that spans several read chunks, and a name that is not
/// ASCII and one that repeats (so the zip must rename it).
fn contents() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("notes.txt", b"hello from a share\n".to_vec()),
        ("data.bin", bytes(700_000)),
        ("résumé été.txt", "accents: àéîõü".as_bytes().to_vec()),
        ("notes.txt", b"a second file with the same name\n".to_vec()),
    ]
}

/// A server and a share of [`contents`], made with `new` (its `more_files` are filled in).
async fn share(new: NewLink) -> (Server, LinkInfo, Vec<(&'static str, Vec<u8>)>) {
    let server = Server::start().await;
    let files = contents();
    let ids: Vec<String> = files
        .iter()
        .enumerate()
        .map(|(i, (name, data))| {
            // Each in its own folder: two of them share a name.
            let src = server.dir.path().join(format!("src{i}"));
            std::fs::create_dir_all(&src).unwrap();
            std::fs::write(src.join(name), data).unwrap();
            server.vault.add_file(&src.join(name), false, sharelock::time::now(), &mut |_| {}).unwrap().file.id
        })
        .collect();
    let new = NewLink { more_files: ids[1..].to_vec(), name: Some("Holiday photos".into()), ..new };
    let link = server.link_with(&ids[0], new);
    (server, link, files)
}

/// The names each entry is expected under in the zip, with its bytes.
fn expected_entries(files: &[(&str, Vec<u8>)]) -> Vec<(String, Vec<u8>)> {
    let mut names: Vec<String> = files.iter().map(|(n, _)| n.to_string()).collect();
    names[3] = "notes (2).txt".into();
    names.into_iter().zip(files.iter().map(|(_, d)| d.clone())).collect()
}

async fn get(url: &str) -> reqwest::Response {
    client().get(url).send().await.unwrap()
}

/// Runs a checking tool on `archive`; its output on failure.
async fn run(program: &str, args: &[&str], archive: &Path) -> std::process::Output {
    let out = Command::new(program).args(args).arg(archive).output().await;
    out.unwrap_or_else(|e| panic!("{program} cannot run: {e}"))
}

#[tokio::test]
async fn share_zip_passes_unzip_python_and_7z() {
    let (_server, link, files) = share(NewLink::default()).await;
    assert!(link.url.ends_with("/Holiday%20photos.zip"), "{}", link.url);
    let res = get(&link.url).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[CONTENT_TYPE], "application/zip");
    let disposition = res.headers()[CONTENT_DISPOSITION].to_str().unwrap().to_string();
    assert!(disposition.contains("filename=\"Holiday photos.zip\""), "{disposition}");
    let length: u64 = res.headers()[CONTENT_LENGTH].to_str().unwrap().parse().unwrap();
    let body = res.bytes().await.unwrap();
    assert_eq!(body.len() as u64, length, "Content-Length is exact");

    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("share.zip");
    std::fs::write(&archive, &body).unwrap();

    let unzip = run("unzip", &["-t"], &archive).await;
    assert!(unzip.status.success(), "unzip -t: {}", String::from_utf8_lossy(&unzip.stdout));

    let script = "import sys, zipfile, json\nz = zipfile.ZipFile(sys.argv[1])\nassert z.testzip() is None\n\
                  print(json.dumps([[i.filename, i.compress_type, z.read(i).hex()] for i in z.infolist()]))";
    let python = run("python3", &["-c", script], &archive).await;
    assert!(python.status.success(), "zipfile: {}", String::from_utf8_lossy(&python.stderr));
    let listed: Vec<(String, u32, String)> = serde_json::from_slice(&python.stdout).unwrap();
    let wanted: Vec<(String, u32, String)> =
        expected_entries(&files).into_iter().map(|(n, d)| (n, 0, hex::encode(d))).collect();
    assert_eq!(listed, wanted, "names (UTF-8), STORE entries and bytes");

    // 7-Zip: `7zz` from Debian's 7zip (which `./dev test` installs), or `7z` from p7zip.
    let seven = ["7zz", "7z"].into_iter().find(|p| std::process::Command::new(p).arg("i").output().is_ok());
    let program = seven.expect("7-Zip is not installed (apt-get install 7zip; ./dev test installs it)");
    let out = run(program, &["t"], &archive).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("Everything is Ok"), "{program} t: {text}");
}

#[tokio::test]
async fn a_resumed_zip_download_is_the_same_bytes_as_a_whole_one() {
    let (_server, link, _files) = share(NewLink::default()).await;
    let whole = get(&link.url).await.bytes().await.unwrap();
    let again = get(&link.url).await.bytes().await.unwrap();
    assert_eq!(whole, again, "two requests give the same bytes");

    // curl resumes a partial file with `-C -`: a Range from where the file ends.
    let dir = tempfile::tempdir().unwrap();
    let partial = dir.path().join("part.zip");
    let cut = whole.len() / 3;
    std::fs::write(&partial, &whole[..cut]).unwrap();
    let curl = Command::new("curl").args(["-sS", "--fail", "-C", "-", "-o"]).arg(&partial).arg(&link.url).output();
    let curl = tokio::time::timeout(Duration::from_secs(60), curl).await.unwrap().unwrap();
    assert!(curl.status.success(), "curl -C -: {}", String::from_utf8_lossy(&curl.stderr));
    assert_eq!(std::fs::read(&partial).unwrap(), whole, "resumed with curl -C -");

    // Two Range requests, the second one conditional on the first's ETag.
    let first = client().get(&link.url).header(RANGE, format!("bytes=0-{}", cut - 1)).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::PARTIAL_CONTENT);
    let etag = first.headers()[ETAG].clone();
    let mut joined = first.bytes().await.unwrap().to_vec();
    let rest = client()
        .get(&link.url)
        .header(RANGE, format!("bytes={cut}-"))
        .header(IF_RANGE, etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(rest.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(rest.headers()[CONTENT_RANGE], format!("bytes {cut}-{}/{}", whole.len() - 1, whole.len()));
    joined.extend_from_slice(&rest.bytes().await.unwrap());
    assert_eq!(joined, whole, "two Range requests");

    // A stale validator gets the whole zip, not a part of something else.
    let stale =
        client().get(&link.url).header(RANGE, "bytes=10-").header(IF_RANGE, "\"zip-stale\"").send().await.unwrap();
    assert_eq!(stale.status(), StatusCode::OK);
    assert_eq!(stale.bytes().await.unwrap(), whole);

    // HEAD: the same length and validator, no body.
    let head = client().head(&link.url).send().await.unwrap();
    assert_eq!(head.headers()[CONTENT_LENGTH], whole.len().to_string().as_str());
    assert_eq!(head.headers()[ETAG], etag);
    assert!(head.bytes().await.unwrap().is_empty());

    // Past the end: 416 with the zip's length.
    let past = client().get(&link.url).header(RANGE, format!("bytes={}-", whole.len())).send().await.unwrap();
    assert_eq!(past.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(past.headers()[CONTENT_RANGE], format!("bytes */{}", whole.len()));
}

#[tokio::test]
async fn a_one_time_share_delivers_its_zip_once() {
    let (server, link, _files) = share(NewLink { max_downloads: Some(1), ..Default::default() }).await;
    // The first part of the zip counts nothing; the rest completes the one download.
    let head = client().get(&link.url).header(RANGE, "bytes=0-99").send().await.unwrap();
    assert_eq!(head.status(), StatusCode::PARTIAL_CONTENT);
    head.bytes().await.unwrap();
    assert_eq!(server.vault.link(&link.link.id, 0).unwrap().link.downloads, 0, "a part is not a download");
    let rest = client().get(&link.url).header(RANGE, "bytes=100-").send().await.unwrap();
    assert_eq!(rest.status(), StatusCode::PARTIAL_CONTENT);
    rest.bytes().await.unwrap();
    let info = server.vault.link(&link.link.id, sharelock::time::now()).unwrap();
    assert_eq!(info.link.downloads, 1);
    assert_eq!(info.status.as_str(), "used_up");
    assert_eq!(get(&link.url).await.status(), StatusCode::GONE);
    assert_eq!(get(&info.files.unwrap()[0].url).await.status(), StatusCode::GONE);
}

#[tokio::test]
async fn each_file_of_a_share_has_its_own_url_that_counts_no_download_but_spends_the_budget() {
    let (server, link, files) = share(NewLink { max_downloads: Some(1), ..Default::default() }).await;
    let listed = link.files.clone().expect("a share lists its files");
    assert_eq!(listed.len(), files.len());
    for (entry, (name, data)) in listed.iter().zip(&files) {
        assert_eq!((entry.name.as_str(), entry.size), (*name, data.len() as u64));
        assert_eq!(entry.sha256, sha256_hex(data));
        let res = get(&entry.url).await;
        assert_eq!(res.status(), StatusCode::OK, "{}", entry.url);
        assert_eq!(res.bytes().await.unwrap(), &data[..]);
    }
    assert_eq!(server.vault.link(&link.link.id, 0).unwrap().link.downloads, 0, "files alone count no download");
    // Signed by the link: another signature, or a file outside the share, is refused.
    let forged = listed[0].url.replace(&link.link.id, "aaaaaaaaaaaaaaaaaaaaaaaaaa");
    assert_eq!(get(&forged).await.status(), StatusCode::FORBIDDEN);
    let other = server.add("outside.txt", b"not shared");
    let outside = listed[0].url.replace(&listed[0].id, &other.file.id);
    assert_eq!(get(&outside).await.status(), StatusCode::NOT_FOUND);
    // Every file once is the zip's worth of bytes, less its headers: the budget (the zip and a
    // quarter) leaves too little for the largest file a second time.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let status = get(&listed[1].url).await.status();
        if status == StatusCode::GONE {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "a one-time share gave its files out again and again");
    }
}

#[tokio::test]
async fn the_landing_page_lists_the_files_and_downloads_all() {
    let (_server, link, files) = share(NewLink::default()).await;
    let page = get(&link.page_url).await.text().await.unwrap();
    assert!(page.contains("Holiday photos"));
    assert!(page.contains("Download all (.zip)"));
    assert!(page.contains(r#"href="../../d/"#) && page.contains("Holiday%20photos.zip"), "{page}");
    for (entry, (name, data)) in link.files.unwrap().iter().zip(&files) {
        assert!(page.contains(name), "{name}");
        assert!(page.contains(&sha256_hex(data)));
        assert!(page.contains(&format!("../../f/{}/", link.link.id)) && page.contains(&entry.id));
    }
}

#[tokio::test]
async fn revoke_expire_and_edit_apply_to_a_share() {
    let (server, link, _files) = share(NewLink::default()).await;
    let file_url = link.files.clone().unwrap()[0].url.clone();
    let now = sharelock::time::now();
    // Edited: its URLs stay the same and keep working.
    let edit = LinkEdit { lifetime: Some(Lifetime::For(Duration::from_secs(3600))), ..Default::default() };
    let edited = server.vault.edit_link(&link.link.id, edit, now).unwrap();
    assert_eq!((edited.url.as_str(), edited.files.as_ref().map(Vec::len)), (link.url.as_str(), Some(4)));
    assert_eq!(get(&link.url).await.status(), StatusCode::OK);
    // Expired: the zip, the files and the page are gone.
    let edit = LinkEdit { lifetime: Some(Lifetime::For(Duration::ZERO)), ..Default::default() };
    server.vault.edit_link(&link.link.id, edit, now - 10).unwrap();
    for url in [&link.url, &file_url, &link.page_url] {
        assert_eq!(get(url).await.status(), StatusCode::GONE, "expired: {url}");
    }
    // Revoked.
    let edit = LinkEdit { lifetime: Some(Lifetime::Never), ..Default::default() };
    server.vault.edit_link(&link.link.id, edit, now).unwrap();
    assert_eq!(get(&file_url).await.status(), StatusCode::OK);
    server.vault.revoke_link(&link.link.id, now).unwrap();
    for url in [&link.url, &file_url, &link.page_url] {
        assert_eq!(get(url).await.status(), StatusCode::GONE, "revoked: {url}");
    }
}

#[tokio::test]
async fn removing_one_of_its_files_removes_the_share() {
    let (server, link, _files) = share(NewLink::default()).await;
    let second = link.files.clone().unwrap()[1].id.clone();
    server.vault.remove_file(&second).unwrap();
    assert!(server.vault.link(&link.link.id, 0).is_err(), "the share went with its file");
    assert_eq!(get(&link.url).await.status(), StatusCode::GONE);
}

crate::both_modes! {
    /// `sharelock link ID ID… --name` makes a share, here and on a server; `--name` alone on one
    /// file is refused.
    fn cli_links_several_files(target: &Target, tmp: &Path) {
        let a = tmp.join("a.txt");
        let b = tmp.join("b.txt");
        std::fs::write(&a, b"first").unwrap();
        std::fs::write(&b, b"second").unwrap();
        let added = target.json(&["add", a.to_str().unwrap(), b.to_str().unwrap()]);
        let ids: Vec<String> = added.as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap().to_string()).collect();
        let link = target.json(&["link", &ids[0], &ids[1], "--name", "Two files", "--max-downloads", "3"]);
        assert!(link["url"].as_str().unwrap().ends_with("/Two%20files.zip"), "{link}");
        assert!(link["page_url"].as_str().unwrap().contains("/l/"));
        assert_eq!(link["name"], "Two files");
        let files = link["files"].as_array().unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!((files[0]["id"].as_str(), files[0]["name"].as_str(), files[0]["size"].as_u64()), (Some(ids[0].as_str()), Some("a.txt"), Some(5)));
        assert!(files[1]["url"].as_str().unwrap().contains("/f/"));
        let listed = target.json(&["links", &ids[1]]);
        assert_eq!(listed[0]["id"], link["id"], "a file's links include its shares");
        let single = target.json(&["link", &ids[0]]);
        assert!(single.get("files").is_none() && single["name"].is_null(), "{single}");

        let refused = target.run(&["link", &ids[0], "--name", "Lonely"]);
        assert!(!refused.status.success());
        let twice = target.run(&["link", &ids[0], &ids[0]]);
        assert!(!twice.status.success());
        assert!(String::from_utf8_lossy(&twice.stderr).contains("twice"), "{}", String::from_utf8_lossy(&twice.stderr));
        let unknown = target.run(&["link", &ids[0], "nosuchfile"]);
        assert!(!unknown.status.success());
    }
}

/// On a server, the zip of a share made with the CLI downloads whole.
#[test]
fn a_share_made_with_the_cli_serves_its_zip() {
    let tmp = tempfile::tempdir().unwrap();
    let target = Target::remote(tmp.path());
    let a = tmp.path().join("a.txt");
    let b = tmp.path().join("b.txt");
    std::fs::write(&a, b"first").unwrap();
    std::fs::write(&b, b"second").unwrap();
    let added = target.json(&["add", a.to_str().unwrap(), b.to_str().unwrap()]);
    let ids: Vec<&str> = added.as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap()).collect();
    let link = target.json(&["link", ids[0], ids[1]]);
    assert!(link["url"].as_str().unwrap().ends_with("/Shared%20files.zip"), "{link}");
    let out = std::process::Command::new("curl")
        .args(["-sS", "--fail", "--max-time", "30"])
        .arg(link["url"].as_str().unwrap())
        .output()
        .unwrap();
    assert!(out.status.success());
    let archive = tmp.path().join("got.zip");
    std::fs::write(&archive, &out.stdout).unwrap();
    let unzip = std::process::Command::new("unzip").arg("-p").arg(&archive).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&unzip.stdout), "firstsecond");
}

/// A file added before Sharelock kept CRC-32s gets its CRC-32 computed on its share's first
/// fetch, and stored.
#[tokio::test]
async fn files_without_a_crc32_get_one_when_first_zipped() {
    let (server, link, files) = share(NewLink::default()).await;
    let db = rusqlite::Connection::open(server.dir.path().join("data").join("sharelock.db")).unwrap();
    let kept: Vec<Option<u32>> = {
        let mut stmt = db.prepare("SELECT crc32 FROM files ORDER BY rowid").unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().collect::<rusqlite::Result<_>>().unwrap()
    };
    let wanted: Vec<Option<u32>> = files.iter().map(|(_, d)| Some(crc32fast::hash(d))).collect();
    assert_eq!(kept, wanted, "kept at add time");
    db.execute("UPDATE files SET crc32 = NULL", []).unwrap();
    let zip = get(&link.url).await.bytes().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("z.zip"), &zip).unwrap();
    let unzip = run("unzip", &["-t"], &dir.path().join("z.zip")).await;
    assert!(unzip.status.success(), "unzip -t: {}", String::from_utf8_lossy(&unzip.stdout));
    let nulls: i64 = db.query_row("SELECT COUNT(*) FROM files WHERE crc32 IS NULL", [], |r| r.get(0)).unwrap();
    assert_eq!(nulls, 0, "computed and stored");
}
