//! The window against a Sharelock server: a headless `sharelock serve` on a data dir and port of
//! its own, a token made on it with `sharelock token create`, and Settings switched to it through
//! the window. Files, links and counts then are the server's; switching back shows this
//! computer's as they were.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::Locator;
use sharelock::Vault;

use crate::support::{Opener, Window, cli, free_port, pattern};

/// A headless `sharelock serve` on a data dir of its own, stopped when dropped.
struct Headless {
    child: Child,
    url: String,
    data_dir: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Headless {
    /// Starts the server on a free port and waits until it answers.
    fn start() -> Headless {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("server-data");
        let port = free_port();
        let child = Command::new(cli())
            .arg("--data-dir")
            .arg(&data_dir)
            .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .env_remove("SHARELOCK_DATA_DIR")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(20), "sharelock serve did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Headless { child, url, data_dir, _dir: dir }
    }

    /// `sharelock token create --json` on the server's data dir: the token.
    fn token(&self, name: &str, scopes: &str) -> String {
        let out = Command::new(cli())
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(["token", "create", "--name", name, "--scope", scopes, "--json"])
            .env_remove("SHARELOCK_DATA_DIR")
            .output()
            .unwrap();
        assert!(out.status.success(), "token create: {}", String::from_utf8_lossy(&out.stderr));
        let made: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        made["token"].as_str().expect("a token in the JSON").to_owned()
    }

    /// The server's data dir, opened as its CLI opens it: what it really holds.
    fn vault(&self) -> Vault {
        Vault::open(&self.data_dir).unwrap()
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Headless {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Opens Settings, chooses "On a Sharelock server" and types its address and token.
async fn choose_server(window: &Window, url: &str, token: &str) {
    window.click(Locator::Css(r#".nav-item[data-view="settings"]"#)).await;
    window.click(Locator::Css(r#"input[name="kept"][value="server"]"#)).await;
    window.type_into("#loc-url", url).await;
    window.type_into("#loc-token", token).await;
}

/// Switches the window to `server` through Settings (type, Test, Save) and back to Files.
async fn use_server(window: &Window, server: &Headless, token: &str) {
    choose_server(window, &server.url, token).await;
    window.click(Locator::Css("#loc-test")).await;
    window.read_until("#loc-result", None, |t| t.starts_with('✓')).await;
    window.click(Locator::Css("#loc-save")).await;
    window.read_until("#server-text", None, |t| t == format!("Files on {} · connected", server.url)).await;
    window.click(Locator::Css(r#".nav-item[data-view="files"]"#)).await;
}

/// Whether the location card's Save button can be pressed.
async fn save_enabled(window: &Window) -> bool {
    window.run("return !document.getElementById('loc-save').disabled", vec![]).await == serde_json::json!(true)
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a display, tauri-driver and WebKitWebDriver: run by ./dev test"]
async fn the_window_works_on_a_sharelock_server_and_back_on_this_computer() {
    let mut server = Headless::start();
    let token = server.token("laptop", "read,upload,write");
    let window = Window::open().await;

    // Something on this computer first, to find again after the server.
    let here = window.add_file("on-this-computer.txt", 1_000).await;
    window.read_until("#files-count", None, |t| t == "1").await;

    // Save is refused until the test passes; the test says who the token is.
    choose_server(&window, &server.url, &token).await;
    assert!(!save_enabled(&window).await, "Save waits for a connection test");
    window.click(Locator::Css("#loc-test")).await;
    let said = window.read_until("#loc-result", None, |t| t.starts_with('✓')).await;
    assert!(said.contains("“laptop”") && said.contains("read, upload, write"), "{said}");
    assert!(save_enabled(&window).await, "a passed test allows Save");
    window.screen("remote-tested");
    window.click(Locator::Css("#loc-save")).await;
    window.toast(&format!("Your files are now those on {}", server.url)).await;

    // Where the token went, in words: no keyring answers under Xvfb, so an owner-only file.
    let place = window.read_until("#loc-token-place", None, |t| !t.is_empty()).await;
    let token_file = window.data_dir.join("server-tokens.json");
    assert!(place.contains(&token_file.display().to_string()) && place.contains("only you can read"), "{place}");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the token file is the owner's only");
        assert!(std::fs::read_to_string(&token_file).unwrap().contains(&token));
    }
    // What is only this computer's is hidden, and the status bar names the server.
    assert!(!window.is_shown("#reach-card").await && !window.is_shown("#data-dir-card").await);
    assert!(!window.is_shown("#background-card").await);
    // Closing the window stops only this computer's links, not the server's: no such warning.
    assert!(!window.is_shown("#tray-note").await, "the no-tray warning is about this computer's links");
    window.read_until("#server-text", None, |t| t == format!("Files on {} · connected", server.url)).await;
    window.screen("remote-settings");

    // The server's (empty) list; a file added in the window lands on the server.
    window.click(Locator::Css(r#".nav-item[data-view="files"]"#)).await;
    window.read_until("#files-empty h2", None, |t| t == "No files yet").await;
    let id = window.add_file("report.pdf", 300_000).await;
    let stored = server.vault().file(&id).expect("the file is on the server");
    assert_eq!(stored.file.size, 300_000);
    assert!(Vault::open(&window.data_dir).unwrap().file(&id).is_err(), "and not on this computer");

    // A link made in the window is the server's, and opens with any HTTP client.
    window.click(Locator::Css("#create-link")).await;
    let prefix = format!("{}/d/", server.url);
    let url = window.read_until("#d-links .link .link-url", Some("title"), |u| u.starts_with(&prefix)).await;
    window.read_until("#d-links .link .item-meta", None, |t| t.starts_with("0 downloads")).await;
    let body = reqwest::get(&url).await.unwrap().bytes().await.unwrap();
    assert_eq!(body.as_ref(), pattern(300_000).as_slice(), "the download is the file");
    // The count changes in the window by itself: the server's events reach it.
    window.read_until("#d-links .link .item-meta", None, |t| t.starts_with("1 download ")).await;
    // Its history is the server's, read through its API: the download, complete, from here.
    let completed = "#d-links .link .history .visit[data-state=completed]";
    window.read_until(&format!("{completed} .visit-what"), None, |t| t == "Downloaded").await;
    let detail = window.read_until(&format!("{completed} .visit-detail"), None, |_| true).await;
    assert_eq!(detail, "Unknown client · 127.0.0.1 · 293 KiB", "reqwest sends no user agent");
    window.read_until("#d-last-access", None, |t| t.starts_with("last downloaded ")).await;
    window.screenshot("remote-link-counted").await;
    window.screen("remote-link-counted");

    // The server stops answering: the status bar says so.
    server.stop();
    window.read_until("#server-text", None, |t| t.contains("not answering")).await;
    window.screen("remote-unreachable");

    // Back on this computer: its files as they were, and its own server in the status bar.
    window.click(Locator::Css(r#".nav-item[data-view="settings"]"#)).await;
    window.click(Locator::Css(r#"input[name="kept"][value="local"]"#)).await;
    window.click(Locator::Css("#loc-save")).await;
    window.toast("Your files are those on this computer again").await;
    window.read_until("#files-count", None, |t| t == "1").await;
    window.read_until("#server-text", None, |t| t.starts_with("Serving at")).await;
    assert!(window.is_shown("#reach-card").await, "this computer's cards are back");
    assert!(window.is_shown("#tray-note").await, "no tray here: closing the window stops these links again");
    window.click(Locator::Css(r#".nav-item[data-view="files"]"#)).await;
    window.wait_for(&format!(r#".file-row[data-id="{here}"]"#)).await;
    window.close().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a display, tauri-driver and WebKitWebDriver: run by ./dev test"]
async fn a_bad_token_or_a_missing_scope_is_said_at_test_and_save_stays_refused() {
    let server = Headless::start();
    let read_only = server.token("viewer", "read");
    let window = Window::open().await;

    // A token the server does not know.
    choose_server(&window, &server.url, "slk_nosuchtoken_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").await;
    window.click(Locator::Css("#loc-test")).await;
    let said = window.read_until("#loc-result", None, |t| t.starts_with('✗')).await;
    assert!(said.contains("refused the token"), "{said}");
    assert!(!save_enabled(&window).await, "a failed test leaves Save refused");
    window.screen("remote-bad-token");

    // A valid token without the scopes the window needs.
    window.type_into("#loc-token", &read_only).await;
    window.click(Locator::Css("#loc-test")).await;
    let said = window.read_until("#loc-result", None, |t| t.starts_with('✗')).await;
    assert!(said.contains("upload, write"), "{said}");
    assert!(!save_enabled(&window).await);

    // Nothing answers at the address.
    let nothing = format!("http://127.0.0.1:{}", free_port());
    window.type_into("#loc-url", &nothing).await;
    window.click(Locator::Css("#loc-test")).await;
    let said = window.read_until("#loc-result", None, |t| t.starts_with('✗')).await;
    assert!(said.contains("Cannot reach the Sharelock server"), "{said}");

    // Save, pressed anyway (the button forced on), is refused by the app itself.
    window.run("document.getElementById('loc-save').disabled = false", vec![]).await;
    window.click(Locator::Css("#loc-save")).await;
    let said = window.read_until("#loc-result", None, |t| t.contains("Test the connection first")).await;
    assert!(said.starts_with('✗'), "{said}");
    let vault = Vault::open(&window.data_dir).unwrap();
    assert_eq!(vault.setting("desktop_files_kept").unwrap(), None, "still on this computer");
    assert!(!Path::new(&window.data_dir.join("server-tokens.json")).exists(), "no token kept");
    window.close().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a display, tauri-driver and WebKitWebDriver: run by ./dev test"]
async fn on_a_server_upload_links_the_inbox_save_as_public_and_link_limits_work_as_here() {
    let server = Headless::start();
    let token = server.token("laptop", "read,upload,write");
    // "Open" goes to the desktop's default app through xdg-open: here a stand-in.
    let opener = Opener::new();
    let window = Window::open_with(opener.launch()).await;
    use_server(&window, &server, &token).await;
    let now = sharelock::time::now;

    // The public switch and a link's limit change the server's records.
    let id = window.add_file("notes.txt", 2_000).await;
    window.click(Locator::Css("#d-public")).await;
    let public_url = window.read_until("#d-public-url", None, |u| u.starts_with(&server.url)).await;
    assert!(server.vault().file(&id).unwrap().file.public, "public on the server");
    assert_eq!(window.status_of(&public_url).await, 200);
    window.click(Locator::Css("#create-link")).await;
    window.read_until("#d-links .link .link-url", Some("title"), |u| u.starts_with(&server.url)).await;
    window.open_dialog(Locator::XPath("//ul[@id='d-links']//button[text()='Limit…']"), "Download limit").await;
    window.type_into("#limit-choice", "3").await;
    window.click(Locator::Css("#dialog-ok")).await;
    window.dialog_settled().await;
    window.read_until("#d-links .link .item-meta", None, |t| t.starts_with("0 of 3 downloads")).await;
    assert_eq!(server.vault().links(Some(&id), now()).unwrap()[0].link.max_downloads, Some(3));

    // An upload link made in the window is the server's; a file sent through it arrives in the
    // inbox by itself, with a toast.
    window.click(Locator::Css(r#".nav-item[data-view="receive"]"#)).await;
    window.click(Locator::Css("#create-slot")).await;
    let slot_url = window.read_until("#slots .slot .slot-url", Some("title"), |u| u.contains("/u/")).await;
    assert!(slot_url.starts_with(&server.url), "{slot_url}");
    let (to, query) = slot_url.split_once('?').expect("an upload URL with a query");
    let sent = pattern(40_000);
    let put = reqwest::Client::new().put(format!("{to}/scan.pdf?{query}")).body(sent.clone()).send().await.unwrap();
    assert_eq!(put.status().as_u16(), 201);
    window.toast("Received scan.pdf").await;
    window.read_until("#inbox-badge", None, |t| t == "1").await;
    window.click(Locator::Css(r#".nav-item[data-view="inbox"]"#)).await;
    window.wait_for("#inbox .received-file").await;
    assert!(!window.is_shown("#inbox .received-file button.local-only").await, "no Show in folder for a server's file");
    window.screen("remote-inbox");

    // Open fetches the file from the server into a folder only this user can open, then hands
    // it to the default app.
    window.click(Locator::Css("#inbox .received-file button.open")).await;
    let opened = opener.first_opened().await;
    assert_eq!(opened.file_name().unwrap(), "scan.pdf");
    assert_eq!(std::fs::read(&opened).unwrap(), sent, "the opened file is the uploaded one");
    {
        use std::os::unix::fs::PermissionsExt;
        let folder = opened.parent().and_then(Path::parent).unwrap();
        assert_eq!(std::fs::metadata(folder).unwrap().permissions().mode() & 0o777, 0o700, "{}", folder.display());
    }

    // Save as… fetches the file from the server (what the button runs once a place is picked).
    let received = server.vault().inbox().unwrap().remove(0).file.id;
    let dest = window.work_dir().join("saved scan.pdf");
    let saved = window
        .run(
            "return window.__TAURI__.core.invoke('export_file', { id: arguments[0], destination: arguments[1] }).then(() => 'ok', e => e.code)",
            vec![serde_json::json!(received), serde_json::json!(dest)],
        )
        .await;
    assert_eq!(saved, serde_json::json!("ok"));
    assert_eq!(std::fs::read(&dest).unwrap(), sent, "the saved file is the uploaded one");

    // A folder added in the window sends every file inside it, the subfolder's too, to the server.
    let folder = window.work_dir().join("holiday");
    std::fs::create_dir_all(folder.join("day 2")).unwrap();
    std::fs::write(folder.join("a.jpg"), pattern(5_000)).unwrap();
    std::fs::write(folder.join("day 2").join("b.jpg"), pattern(7_000)).unwrap();
    let ids = window
        .run(
            "return window.sharelockUi.addPaths(arguments[0]).then(r => r.map(f => f.id))",
            vec![serde_json::json!([folder])],
        )
        .await;
    let ids: Vec<String> = serde_json::from_value(ids).unwrap();
    let mut sizes: Vec<u64> = ids.iter().map(|id| server.vault().file(id).expect("on the server").file.size).collect();
    sizes.sort();
    assert_eq!(sizes, [5_000, 7_000]);
    window.close().await;
}
