//! The shell on Tauri's mock runtime: setup opens the data dir and starts the server, commands
//! call the real core on real files and SQLite, errors cross as typed codes, and changes made
//! by another process reach the UI as events.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tauri::Listener;
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{INVOKE_KEY, MockRuntime, get_ipc_response, mock_builder, mock_context, noop_assets};
use tauri::webview::InvokeRequest;
use tauri::{App, WebviewWindow, WebviewWindowBuilder};

struct Shell {
    app: App<MockRuntime>,
    window: WebviewWindow<MockRuntime>,
    dir: tempfile::TempDir,
}

fn shell() -> Shell {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Any free port, so tests never fight over 7420.
    sharelock::Vault::open(&data).unwrap().set_setting(sharelock::settings::PORT, Some("0")).unwrap();
    let mut app = sharelock_desktop::app(mock_builder(), data).build(mock_context(noop_assets())).unwrap();
    // The server starts beside setup and says so when it has: the window waits for that too.
    let (started_tx, started) = mpsc::channel();
    app.listen_any("server-status", move |_| {
        let _ = started_tx.send(());
    });
    // Setup runs on the event loop's first iteration, as in the real app. Deprecated because a
    // loop of these busy-waits; one call, to run setup, is what it is for here.
    #[allow(deprecated)]
    app.run_iteration(|_, _| {});
    started.recv_timeout(Duration::from_secs(10)).expect("the server's first status");
    let window = WebviewWindowBuilder::new(&app, "main", Default::default()).build().unwrap();
    Shell { app, window, dir }
}

impl Shell {
    fn call<T: DeserializeOwned>(&self, cmd: &str, args: Value) -> Result<T, Value> {
        let request = InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            // The app's own origin on Linux; any other origin is remote and may not call app commands.
            url: "tauri://localhost".parse().unwrap(),
            body: InvokeBody::Json(args),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        };
        get_ipc_response(&self.window, request).map(|body| body.deserialize::<T>().unwrap())
    }

    fn ok<T: DeserializeOwned>(&self, cmd: &str, args: Value) -> T {
        self.call(cmd, args).unwrap_or_else(|e| panic!("{cmd} failed: {e}"))
    }

    fn write(&self, name: &str, data: &[u8]) -> String {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, data).unwrap();
        path.to_string_lossy().into_owned()
    }
}

/// A plain HTTP/1.1 request over a socket: status and body.
fn http(method: &str, url: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut stream = TcpStream::connect(host).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        stream,
        "{method} /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(body).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, response[split + 4..].to_vec())
}

#[test]
fn setup_opens_the_data_dir_and_starts_the_server() {
    let shell = shell();
    let info: Value = shell.ok("app_info", json!({}));
    assert!(info["data_dir"].as_str().unwrap().ends_with("data"));
    assert_eq!(info["server"]["running"], true, "{info}");
    let listen = info["server"]["listen_url"].as_str().unwrap();
    assert!(listen.starts_with("http://127.0.0.1:"));
    let (status, body) = http("GET", &format!("{listen}/"), b"");
    assert_eq!((status, body.as_slice()), (200, &b"Sharelock\n"[..]));
}

/// Setup does not wait for the server (its start cleans the store, long with many files, and the
/// window's page loads only after setup): meanwhile the status says `starting` and a new link
/// is refused in words, then the server's status comes as an event and links work.
#[test]
fn the_window_is_set_up_while_the_server_starts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Where a server last listened, something that accepts and never answers: the start first
    // asks there whether the background service runs, and waits for its answer a while.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let vault = sharelock::Vault::open(&data).unwrap();
    vault.set_setting(sharelock::settings::PORT, Some("0")).unwrap();
    vault
        .set_setting(sharelock::settings::LISTEN_URL, Some(&format!("http://{}", silent.local_addr().unwrap())))
        .unwrap();
    let source = dir.path().join("notes.txt");
    std::fs::write(&source, b"notes").unwrap();
    let file = vault.add_file(&source, false, sharelock::time::now(), &mut |_| {}).unwrap();
    let mut app = sharelock_desktop::app(mock_builder(), data).build(mock_context(noop_assets())).unwrap();
    let (status_tx, statuses) = mpsc::channel();
    app.listen_any("server-status", move |event| {
        let _ = status_tx.send(event.payload().to_string());
    });
    #[allow(deprecated)]
    app.run_iteration(|_, _| {});
    let window = WebviewWindowBuilder::new(&app, "main", Default::default()).build().unwrap();
    let shell = Shell { app, window, dir };

    let info: Value = shell.ok("app_info", json!({}));
    assert_eq!((&info["server"]["starting"], &info["server"]["running"]), (&json!(true), &json!(false)), "{info}");
    let refused = shell.call::<Value>("create_link", json!({ "file_id": file.file.id, "expires": "1d" })).unwrap_err();
    assert_eq!(refused["code"], "server_stopped", "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("still starting"), "{refused}");

    let status = statuses.recv_timeout(Duration::from_secs(30)).expect("the server's status once started");
    assert!(status.contains("\"running\":true") && status.contains("\"starting\":false"), "{status}");
    let link: Value = shell.ok("create_link", json!({ "file_id": file.file.id, "expires": "1d" }));
    assert_eq!(http("GET", link["url"].as_str().unwrap(), b""), (200, b"notes".to_vec()));
    drop(silent);
}

#[test]
fn add_files_link_and_download_through_the_commands() {
    let shell = shell();
    let single = shell.write("notes.txt", b"meeting notes");
    shell.write("folder/a.txt", b"a");
    shell.write("folder/sub/b.txt", b"b");
    let folder = shell.dir.path().join("folder").to_string_lossy().into_owned();
    let added: Vec<Value> = shell.ok("add_files", json!({ "paths": [single, folder], "public": false }));
    let names: Vec<&str> = added.iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["notes.txt", "a.txt", "b.txt"]);
    let files: Vec<Value> = shell.ok("list_files", json!({}));
    assert_eq!(files.len(), 3);
    // The list's rows hold each file's columns in order (ui/app.js `fileRow` reads them so);
    // `file_info` has the whole record, its SHA-256 too.
    let whole: Value = shell.ok("file_info", json!({ "id": added[0]["id"] }));
    assert_eq!(whole["sha256"], "db78826009a9e6f5e388046abb7dc257a3afc2eb4a2f1d190618e7c8d838e217");
    let row = files.iter().find(|row| row[0] == whole["id"]).expect("its row");
    let columns = [
        "id",
        "name",
        "size",
        "created_at",
        "public",
        "public_url",
        "slot_id",
        "content_type",
        "links",
        "downloads",
        "last_access_at",
    ];
    assert_eq!(row.as_array().unwrap().len(), columns.len(), "{row}");
    for (i, column) in columns.iter().enumerate() {
        assert_eq!(row[i], whole.get(column).cloned().unwrap_or(Value::Null), "{column} in {row}");
    }

    let id = added[0]["id"].as_str().unwrap();
    let link: Value =
        shell.ok("create_link", json!({ "file_id": id, "expires": "1d", "max_downloads": 1, "label": "for Dana" }));
    assert_eq!(link["status"], "active");
    assert_eq!(link["label"], "for Dana");
    let url = link["url"].as_str().unwrap();
    assert_eq!(http("GET", url, b""), (200, b"meeting notes".to_vec()));
    assert_eq!(http("GET", url, b"").0, 410);
    let links: Vec<Value> = shell.ok("list_links", json!({ "file_id": id }));
    assert_eq!(links[0]["downloads"], 1);
    assert_eq!(links[0]["status"], "used_up");

    let edited: Value = shell.ok("edit_link", json!({ "id": link["id"], "unlimited": true }));
    assert_eq!(edited["max_downloads"], Value::Null);
    assert_eq!(http("GET", url, b"").0, 200);
    let revoked: Value = shell.ok("revoke_link", json!({ "id": link["id"] }));
    assert_eq!(revoked["status"], "revoked");
    assert_eq!(http("GET", url, b"").0, 410);

    let public: Value = shell.ok("set_public", json!({ "id": id, "public": true }));
    assert_eq!(http("GET", public["public_url"].as_str().unwrap(), b""), (200, b"meeting notes".to_vec()));
    let qr: String = shell.ok("qr_code", json!({ "text": url }));
    assert!(qr.contains("<svg"));

    shell.ok::<()>("remove_file", json!({ "id": id }));
    assert_eq!(shell.ok::<Vec<Value>>("list_files", json!({})).len(), 2);
}

/// A drop of many small files moves the bar a few times a second, not once per file: the first
/// event at once, the last when the last file is whole, and every event names a file and its
/// place in the batch.
#[test]
fn adding_many_files_tells_progress_at_once_then_a_few_times_a_second_and_at_the_end() {
    let shell = shell();
    for i in 0..600 {
        shell.write(&format!("many/{i:04}.txt"), format!("file {i}").as_bytes());
    }
    let (tx, events) = mpsc::channel();
    shell.app.listen_any("add-progress", move |event| {
        let _ = tx.send(serde_json::from_str::<Value>(event.payload()).unwrap());
    });
    let folder = shell.dir.path().join("many").to_string_lossy().into_owned();
    let started = std::time::Instant::now();
    let added: Vec<Value> = shell.ok("add_files", json!({ "paths": [folder], "public": false }));
    let took = started.elapsed();
    assert_eq!(added.len(), 600);
    let events: Vec<Value> = events.try_iter().collect();
    let first = &events[0];
    assert_eq!((first["index"].as_u64(), first["count"].as_u64()), (Some(0), Some(600)), "{first}");
    let last = events.last().unwrap();
    assert_eq!(last["index"], 599, "{last}");
    assert_eq!(last["name"], "0599.txt");
    assert_eq!(last["done"], last["total"], "{last}");
    assert_eq!(last["total"], "file 599".len());
    // One at the start, one at the end, and at most one per 100 ms between.
    let most = 2 + (took.as_millis() / 100) as usize;
    assert!(events.len() <= most, "{} events in {took:?}: at most {most}", events.len());
}

#[test]
fn errors_cross_as_typed_codes() {
    let shell = shell();
    let err = shell.call::<()>("remove_file", json!({ "id": "nosuchfile000000" })).unwrap_err();
    assert_eq!(err["code"], "not_found");
    assert!(err["message"].as_str().unwrap().contains("no file"));
    let path = shell.write("a.txt", b"a");
    let added: Vec<Value> = shell.ok("add_files", json!({ "paths": [path], "public": false }));
    let err = shell.call::<Value>("create_link", json!({ "file_id": added[0]["id"], "expires": "soon" })).unwrap_err();
    assert_eq!(err["code"], "invalid_input");
    let missing = shell.dir.path().join("missing.txt").to_string_lossy().into_owned();
    let err = shell.call::<Value>("add_files", json!({ "paths": [missing], "public": false })).unwrap_err();
    assert_eq!(err["code"], "io");
    let err = shell
        .call::<Value>("create_slot", json!({ "form": { "expires": "1d", "max_size": "lots", "max_files": 1 } }))
        .unwrap_err();
    assert_eq!(err["code"], "invalid_input");
    assert_eq!(err["field"], "max_size");
    // Each form field's error names its field, whether a parser or the core's rule refused it.
    let link = |args: Value| shell.call::<Value>("create_link", args).unwrap_err();
    let id = &added[0]["id"];
    assert_eq!(link(json!({ "file_id": id, "expires": "soon" }))["field"], "expires");
    assert_eq!(link(json!({ "file_id": id, "expires": "1d", "max_downloads": 0 }))["field"], "max_downloads");
    assert_eq!(link(json!({ "file_id": id, "expires": "1d", "max_downloads": "1.5" }))["field"], "max_downloads");
    assert_eq!(link(json!({ "file_id": id, "expires": "1d", "label": "x".repeat(201) }))["field"], "label");
    let slot = |form: Value| shell.call::<Value>("create_slot", json!({ "form": form })).unwrap_err();
    assert_eq!(slot(json!({ "expires": "1d", "max_size": "1M", "max_files": "0" }))["field"], "max_files");
    assert_eq!(slot(json!({ "expires": "1d", "max_size": "1M", "max_files": 1, "accept": "???" }))["field"], "accept");
    assert_eq!(
        slot(json!({ "expires": "1d", "max_size": "1M", "max_files": 1, "max_total": "0" }))["field"],
        "max_total"
    );
    // Not found says what is not there; a file manager that cannot open says where the file is.
    let err = shell.call::<()>("remove_file", json!({ "id": "nosuchfile000000" })).unwrap_err();
    assert_eq!(err["kind"], "file");
    assert!(shell.ok::<Vec<Value>>("list_links", json!({ "file_id": id })).is_empty(), "no link was made");
}

#[test]
fn commands_over_many_files_do_each_and_report_the_ones_that_failed() {
    let shell = shell();
    let paths: Vec<String> = ["a.txt", "b.txt", "c.txt"].iter().map(|n| shell.write(n, n.as_bytes())).collect();
    let added: Vec<Value> = shell.ok("add_files", json!({ "paths": paths, "public": false }));
    let ids: Vec<&str> = added.iter().map(|f| f["id"].as_str().unwrap()).collect();
    let link: Value = shell.ok("create_link", json!({ "file_id": ids[0], "expires": "1d" }));
    // Removed by another process (the CLI) between the user's choice and the command.
    let cli = sharelock::Vault::open(&shell.dir.path().join("data")).unwrap();
    cli.remove_file(ids[1]).unwrap();
    let all: Vec<Value> = shell.ok("list_links", json!({}));
    assert_eq!(all.len(), 1, "no file_id: the links of every file");

    let made: Value = shell.ok("set_public_many", json!({ "ids": ids, "public": true }));
    assert_eq!(made["done"], json!([ids[0], ids[2]]));
    assert_eq!(made["failed"][0]["id"], ids[1]);
    assert_eq!(made["failed"][0]["code"], "not_found");
    assert!(cli.file(ids[0]).unwrap().file.public && cli.file(ids[2]).unwrap().file.public);
    let made: Value = shell.ok("set_public_many", json!({ "ids": [ids[0]], "public": false }));
    assert_eq!(made["done"], json!([ids[0]]));
    assert!(!cli.file(ids[0]).unwrap().file.public);

    let removed: Value = shell.ok("remove_files", json!({ "ids": ids }));
    assert_eq!(removed["done"], json!([ids[0], ids[2]]));
    assert_eq!(removed["failed"].as_array().unwrap().len(), 1);
    assert_eq!(removed["failed"][0]["code"], "not_found");
    assert!(removed["failed"][0]["message"].as_str().unwrap().contains(ids[1]));
    assert!(cli.files().unwrap().is_empty(), "every file that was there is gone");
    assert_eq!(http("GET", link["url"].as_str().unwrap(), b"").0, 410, "and its link with it");
}

#[test]
fn slots_uploads_and_the_inbox() {
    let shell = shell();
    let slot: Value = shell.ok(
        "create_slot",
        json!({ "form": { "expires": "1d", "max_size": "1M", "max_files": 2, "max_total": "", "accept": "txt", "label": "Scans" } }),
    );
    assert_eq!(slot["label"], "Scans");
    assert_eq!(slot["accept"], json!([".txt"]));
    let (base, query) = slot["url"].as_str().unwrap().split_once('?').unwrap();
    let (status, _) = http("PUT", &format!("{base}/hello.txt?{query}"), b"hello");
    assert_eq!(status, 201);
    let inbox: Vec<Value> = shell.ok("inbox", json!({}));
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0]["name"], "hello.txt");
    let dest = shell.dir.path().join("saved.txt");
    shell.ok::<()>("export_file", json!({ "id": inbox[0]["id"], "destination": dest }));
    assert_eq!(std::fs::read(&dest).unwrap(), b"hello");
    let slots: Vec<Value> = shell.ok("list_slots", json!({}));
    assert_eq!(slots[0]["received"], 1);
    let closed: Value = shell.ok("close_slot", json!({ "id": slot["id"] }));
    assert_eq!(closed["status"], "closed");
}

#[test]
fn changes_by_other_processes_reach_the_ui_as_events() {
    let shell = shell();
    let (changed_tx, changed) = mpsc::channel();
    shell.app.listen_any("store-changed", move |_| {
        let _ = changed_tx.send(());
    });
    let (received_tx, received) = mpsc::channel();
    shell.app.listen_any("files-received", move |event| {
        let _ = received_tx.send(event.payload().to_string());
    });
    // Another process on the same data dir, as the CLI would be.
    let cli = sharelock::Vault::open(&shell.dir.path().join("data")).unwrap();
    let path = shell.write("from-cli.txt", b"x");
    cli.add_file(Path::new(&path), false, sharelock::time::now(), &mut |_| {}).unwrap();
    changed.recv_timeout(Duration::from_secs(5)).expect("store-changed after a CLI add");

    let slot = cli.create_slot(Default::default(), sharelock::time::now(), None).unwrap();
    let (base, query) = slot.url.split_once('?').unwrap();
    assert_eq!(http("PUT", &format!("{base}/arrived.txt?{query}"), b"hi").0, 201);
    let payload = received.recv_timeout(Duration::from_secs(5)).expect("files-received after an upload");
    assert!(payload.contains("arrived.txt"), "{payload}");
}

#[test]
fn settings_round_trip_and_a_taken_port_is_reported_with_a_free_one() {
    let shell = shell();
    let settings: Value = shell.ok("get_settings", json!({}));
    assert_eq!(settings["listen"], "local");
    assert_eq!(settings["default_link_expiry"], "7d");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let status: Value = shell.ok(
        "save_settings",
        json!({ "settings": { "listen": "local", "port": port, "base_url": "https://files.example.org/", "default_link_expiry": "30d" } }),
    );
    assert_eq!(status["running"], false);
    assert!(status["error"].as_str().unwrap().contains("in use"), "{status}");
    let free = status["suggested_port"].as_u64().unwrap();
    assert_ne!(free, u64::from(port));
    // Nothing serves: links and upload links are refused with the reason, and none is stored.
    let path = shell.write("a.txt", b"a");
    let added: Vec<Value> = shell.ok("add_files", json!({ "paths": [path], "public": false }));
    let err = shell.call::<Value>("create_link", json!({ "file_id": added[0]["id"], "expires": "1d" })).unwrap_err();
    assert_eq!(err["code"], "server_stopped", "{err}");
    assert!(err["message"].as_str().unwrap().contains("in use"), "{err}");
    let err = shell
        .call::<Value>("create_slot", json!({ "form": { "expires": "1d", "max_size": "1M", "max_files": 1 } }))
        .unwrap_err();
    assert_eq!(err["code"], "server_stopped", "{err}");
    let vault = sharelock::Vault::open(&shell.dir.path().join("data")).unwrap();
    assert!(vault.links(None, sharelock::time::now()).unwrap().is_empty());
    assert!(vault.slots(sharelock::time::now()).unwrap().is_empty());
    let saved: Value = shell.ok("get_settings", json!({}));
    assert_eq!(saved["base_url"], "https://files.example.org");
    assert_eq!(saved["default_link_expiry"], "30d");
    let status: Value = shell.ok(
        "save_settings",
        json!({ "settings": { "listen": "local", "port": free, "base_url": "", "default_link_expiry": "30d" } }),
    );
    assert_eq!(status["running"], true, "{status}");
    assert_eq!(status["listen_url"], format!("http://127.0.0.1:{free}"));
    let err = shell
        .call::<Value>(
            "save_settings",
            json!({ "settings": { "listen": "local", "port": free, "base_url": "ftp://x", "default_link_expiry": "7d" } }),
        )
        .unwrap_err();
    assert_eq!(err["code"], "invalid_input");
    assert_eq!(err["field"], "base_url");
    let bad_port = |port: Value| {
        let settings = json!({ "listen": "local", "port": port, "base_url": "", "default_link_expiry": "7d" });
        shell.call::<Value>("save_settings", json!({ "settings": settings })).unwrap_err()
    };
    for port in [json!(0), json!(70000), json!("http"), json!("")] {
        assert_eq!(bad_port(port.clone())["field"], "port", "{port}");
    }
}

#[test]
fn a_new_server_address_is_saved_only_once_confirmed_while_links_carry_the_old_one() {
    let shell = shell();
    let settings = |port: u16, limit: &str| json!({ "listen": "local", "port": port, "base_url": "", "default_link_expiry": "1d", "default_link_limit": limit });
    let info: Value = shell.ok("app_info", json!({}));
    let port: u16 = info["server"]["listen_url"].as_str().unwrap().rsplit(':').next().unwrap().parse().unwrap();
    // No link yet: saved at once (the port the server took, free when started, is kept).
    let saved: Value = shell.ok("save_settings", json!({ "settings": settings(port, "") }));
    assert_eq!(saved["saved"], true, "{saved}");
    // Only the limit changed: no restart.
    let saved: Value = shell.ok("save_settings", json!({ "settings": settings(port, "2") }));
    assert_eq!((saved["saved"].clone(), saved["restarted"].clone()), (json!(true), json!(false)), "{saved}");
    let path = shell.write("a.txt", b"a");
    let added: Vec<Value> = shell.ok("add_files", json!({ "paths": [path], "public": false }));
    let _: Value = shell.ok("create_link", json!({ "file_id": added[0]["id"], "expires": "1d" }));
    // Opening the server to the network strands nothing: saved at once, with a restart.
    let mut open = settings(port, "2");
    open["listen"] = json!("network");
    let saved: Value = shell.ok("save_settings", json!({ "settings": open }));
    assert_eq!((saved["saved"].clone(), saved["restarted"].clone()), (json!(true), json!(true)), "{saved}");
    // Closing it again strands links sent to other devices: asked first.
    let asked: Value = shell.ok("save_settings", json!({ "settings": settings(port, "2") }));
    assert_eq!(asked["saved"], false, "{asked}");
    let saved: Value = shell.ok("save_settings", json!({ "settings": settings(port, "2"), "confirm": true }));
    assert_eq!(saved["saved"], true, "{saved}");
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let asked: Value = shell.ok("save_settings", json!({ "settings": settings(free, "2") }));
    assert_eq!(asked["saved"], false, "{asked}");
    assert_eq!(asked["breaks"]["links"], 1);
    assert_eq!(asked["breaks"]["upload_links"], 0);
    assert_eq!(asked["breaks"]["base_url"], format!("http://127.0.0.1:{port}"));
    let vault = sharelock::Vault::open(&shell.dir.path().join("data")).unwrap();
    assert_eq!(vault.setting(sharelock::settings::PORT).unwrap(), Some(port.to_string()), "nothing saved");
    let saved: Value = shell.ok("save_settings", json!({ "settings": settings(free, "2"), "confirm": true }));
    assert_eq!((saved["saved"].clone(), saved["restarted"].clone()), (json!(true), json!(true)), "{saved}");
    assert_eq!(saved["listen_url"], format!("http://127.0.0.1:{free}"));
    let err = shell.call::<Value>("save_settings", json!({ "settings": settings(free, "0") })).unwrap_err();
    assert_eq!(err["field"], "default_link_limit");
}

/// The app announces its server (the `server-status` event, the status bar's address) only once
/// the store is clean: the leftover of an interrupted write is gone and a file without a record is
/// in quarantine by then.
#[test]
fn the_store_is_clean_before_the_server_is_announced() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    sharelock::Vault::open(&data).unwrap().set_setting(sharelock::settings::PORT, Some("0")).unwrap();
    let store = data.join("store");
    let leftover = store.join(".tmp-interrupted");
    let orphan = store.join(sharelock::ids::generate());
    std::fs::write(&leftover, b"partial").unwrap();
    std::fs::write(&orphan, b"a file the database does not know").unwrap();
    let mut app = sharelock_desktop::app(mock_builder(), data).build(mock_context(noop_assets())).unwrap();
    let (announced_tx, announced) = mpsc::channel();
    let (temp, unrecorded) = (leftover.clone(), orphan.clone());
    app.listen_any("server-status", move |event| {
        let _ = announced_tx.send((event.payload().to_string(), temp.exists(), unrecorded.exists()));
    });
    #[allow(deprecated)]
    app.run_iteration(|_, _| {});
    let (status, leftover_seen, orphan_seen) = announced.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(status.contains("\"running\":true"), "{status}");
    assert!(!leftover_seen, "the interrupted write's leftover was gone when the server was announced");
    assert!(!orphan_seen, "the unrecorded file was in quarantine when the server was announced");
    let quarantined = std::fs::read_dir(dir.path().join("data/quarantine")).unwrap().count();
    assert_eq!(quarantined, 1);
}
