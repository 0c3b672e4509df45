//! The inbox as the owner reads it: files by upload link and by upload (one sender, one message,
//! the files sent together), a received folder gathered and saved as a tree, same names told
//! apart, and each file opened, deleted or shared from there; Files telling the owner's own files
//! from received ones; and a folder dropped on the window adding the files in it.

use std::time::{Duration, Instant};

use fantoccini::Locator;
use fantoccini::key::Key;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use sharelock::vault::NewSlot;

use crate::support::{Opener, Window, pattern};

/// The texts of everything matching `css`, in page order.
async fn texts(window: &Window, css: &str) -> Vec<String> {
    let script = "return [...document.querySelectorAll(arguments[0])].map(e => e.textContent);";
    let found = window.run(script, vec![json!(css)]).await;
    found.as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_owned()).collect()
}

/// The inbox drawn as data: per upload link its title, per upload its sender and files.
async fn inbox(window: &Window) -> Value {
    let script = "return [...document.querySelectorAll('#inbox .inbox-slot')].map(s => ({
        title: s.querySelector('h2').textContent,
        uploads: [...s.querySelectorAll('.upload')].map(u => ({
            sender: u.querySelector('.sender').textContent,
            message: u.querySelector('.message')?.textContent ?? null,
            files: [...u.querySelectorAll('.received-file .title')].map(t => t.textContent) })) }));";
    window.run(script, vec![]).await
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a display, tauri-driver and WebKitWebDriver: run by ./dev test"]
async fn the_inbox_groups_by_link_and_upload_and_opens_deletes_and_shares() {
    // "Open" goes to the desktop's default app through xdg-open: here a stand-in.
    let opener = Opener::new();
    let window = Window::open_with(opener.launch()).await;
    let vault = window.vault();
    let now = sharelock::time::now();
    let base = format!("http://127.0.0.1:{}", window.app_port);
    window.add_file("my notes.txt", 500).await;

    // Two upload links; the first gets a form with two files, then a PUT of another
    // "report.pdf", then one more PUT that stands for a file received before uploads were
    // recorded.
    let taxes = NewSlot { label: Some("Tax papers 2026".into()), ..NewSlot::default() };
    let taxes = vault.create_slot(taxes, now, Some(&base)).unwrap();
    let photos = NewSlot { label: Some("Holiday photos".into()), ..NewSlot::default() };
    let photos = vault.create_slot(photos, now, Some(&base)).unwrap();
    let http = reqwest::Client::new();
    let form = Form::new()
        .text("name", "Ann Example")
        .text("message", "Here are the scans.")
        .part("file", Part::bytes(pattern(2_100)).file_name("report.pdf"))
        .part("file", Part::bytes(pattern(300)).file_name("receipt.txt"));
    assert_eq!(http.post(&taxes.url).multipart(form).send().await.unwrap().status().as_u16(), 201);
    let put = |slot: &sharelock::vault::SlotInfo, name: &str, size: usize| {
        let (to, query) = slot.url.split_once('?').unwrap();
        http.put(format!("{to}/{name}?{query}")).body(pattern(size)).send()
    };
    assert_eq!(put(&taxes, "report.pdf", 5_000).await.unwrap().status().as_u16(), 201);
    assert_eq!(put(&taxes, "old.txt", 10).await.unwrap().status().as_u16(), 201);
    assert_eq!(put(&photos, "beach.jpg", 40).await.unwrap().status().as_u16(), 201);
    let old = vault.inbox().unwrap().into_iter().find(|f| f.file.name == "old.txt").unwrap();
    let db = rusqlite::Connection::open(window.data_dir.join("sharelock.db")).unwrap();
    db.execute("UPDATE files SET upload_id = NULL WHERE id = ?1", [&old.file.id]).unwrap();

    // By link (the one with the newest file first), then by upload, newest first; the form's
    // files together under its one sender and message, in the order they were sent.
    window.click(Locator::Css(r#".nav-item[data-view="inbox"]"#)).await;
    window.read_until("#inbox .inbox-slot:last-child .upload:last-child .sender", None, |s| s == "Ann Example").await;
    let no_name = json!(null);
    assert_eq!(
        inbox(&window).await,
        json!([
            { "title": "Holiday photos", "uploads": [{ "sender": "No name given", "message": no_name, "files": ["beach.jpg"] }] },
            { "title": "Tax papers 2026", "uploads": [
                { "sender": "No name given", "message": no_name, "files": ["old.txt"] },
                { "sender": "No name given", "message": no_name, "files": ["report.pdf"] },
                { "sender": "Ann Example", "message": "Here are the scans.", "files": ["report.pdf", "receipt.txt"] },
            ] },
        ])
    );
    // The two "report.pdf" say their size and time.
    let metas = texts(&window, r#"#inbox .received-file .file-meta"#).await;
    let reports: Vec<&String> = metas.iter().filter(|m| m.contains("KiB")).collect();
    assert_eq!(reports.len(), 2, "{metas:?}");
    assert!(reports[0].starts_with(" · 4.9 KiB · ") && reports[1].starts_with(" · 2.1 KiB · "), "{reports:?}");
    assert!(reports.iter().all(|m| m.chars().any(|c| c.is_ascii_digit() && m.contains(':'))), "a time: {reports:?}");
    window.screenshot("inbox-grouped").await;

    // Open: the default app gets the stored file itself.
    let report =
        vault.inbox().unwrap().into_iter().find(|f| f.file.name == "report.pdf" && f.file.size == 5_000).unwrap();
    let row = |id: &str, button: &str| format!(r#"#inbox .received-file[data-id="{id}"] button.{button}"#);
    window.click(Locator::Css(&row(&report.file.id, "open"))).await;
    let opened = opener.first_opened().await;
    assert_eq!(opened, vault.stored_path(&report.file.id).unwrap());
    assert_eq!(std::fs::read(&opened).unwrap(), pattern(5_000));

    // Delete asks first: Escape keeps the file, the red button deletes it.
    let delete = row(&old.file.id, "delete");
    window.open_dialog(Locator::Css(&delete), "Delete this received file?").await;
    window.screen("inbox-delete");
    window.press(Key::Escape).await;
    window.dialog_settled().await;
    assert!(vault.file(&old.file.id).is_ok(), "cancelled: still stored");
    window.open_dialog(Locator::Css(&delete), "Delete this received file?").await;
    window.click(Locator::Css("#dialog-ok")).await;
    window.dialog_settled().await;
    assert!(vault.file(&old.file.id).is_err(), "deleted from the store");
    window.toast("Deleted old.txt").await;
    let left = |v: &Value| v[1]["uploads"].as_array().map(Vec::len);
    let started = Instant::now();
    while left(&inbox(&window).await) != Some(2) {
        assert!(started.elapsed() < Duration::from_secs(20), "the deleted file's upload stays in the inbox");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }

    // A folder sent through a form: gathered under its name in its upload, its files by their
    // path inside it; Save as… writes the tree into the folder chosen (the picker is the
    // desktop's own: the test gives the folder it would return).
    let form = Form::new()
        .percent_encode_noop()
        .text("name", "Bo")
        .part("file", Part::bytes(pattern(70)).file_name("Trip/day 1/sea.jpg"))
        .part("file", Part::bytes(pattern(30)).file_name("Trip/map.txt"));
    assert_eq!(http.post(&photos.url).multipart(form).send().await.unwrap().status().as_u16(), 201);
    let folders = "return [...document.querySelectorAll('#inbox .received-folder')].map(f => ({
        name: f.querySelector('.folder-name').textContent,
        files: [...f.querySelectorAll('.received-file .title')].map(t => t.textContent) }));";
    let trip = json!([{ "name": "Trip/", "files": ["day 1/sea.jpg", "map.txt"] }]);
    window.run_until(folders, vec![], trip, "the inbox shows the folder").await;
    window.wait_for("#inbox .received-folder button.save-folder").await;
    let about = "const b = document.querySelector('#inbox .received-folder button.save-folder');
        return document.getElementById(b.getAttribute('aria-describedby')).textContent;";
    assert_eq!(window.run(about, vec![]).await, json!("Trip/ · 2 files, 100 B"), "Save as… says which folder");
    window.screenshot("inbox-folder").await;
    let sent = vault.inbox().unwrap().into_iter().find(|f| f.file.path.as_deref() == Some("Trip/map.txt")).unwrap();
    let into = window.work_dir().join("saved");
    std::fs::create_dir_all(&into).unwrap();
    let save = "return window.sharelockUi.saveFolderInto(...arguments)";
    let written = window.run(save, vec![json!(sent.file.upload_id), json!("Trip"), json!(into)]).await;
    assert_eq!(written.as_array().map(Vec::len), Some(2), "{written}");
    assert_eq!(std::fs::read(into.join("Trip/day 1/sea.jpg")).unwrap(), pattern(70));
    assert_eq!(std::fs::read(into.join("Trip/map.txt")).unwrap(), pattern(30));
    window.toast("Saved Trip (2 files)").await;

    // Share… with the Files list showing only the owner's files: the list gives way, the file
    // is selected and the new-link form has the focus.
    window.click(Locator::Css(r#".nav-item[data-view="files"]"#)).await;
    window.find(Locator::Css("#kind-filter")).await.select_by_value("mine").await.unwrap();
    window.read_until(".file-row .name", None, |n| n == "my notes.txt").await;
    assert_eq!(texts(&window, ".file-row .name").await, ["my notes.txt"], "Mine: the owner's only");
    window.click(Locator::Css(r#".nav-item[data-view="inbox"]"#)).await;
    window.click(Locator::Css(&row(&report.file.id, "share"))).await;
    window.wait_for(&format!(r#".file-row.selected[data-id="{}"]"#, report.file.id)).await;
    // The row is selected before its details (links, their history) are read; the form takes the
    // focus once they are.
    let started = Instant::now();
    while window.focused().await != "l-expiry" {
        assert!(started.elapsed() < Duration::from_secs(20), "the new-link form has the focus");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(window.read_until("#d-name", None, |n| !n.is_empty()).await, "report.pdf");
    assert!(window.is_shown("#d-received").await);
    let url = window.create_link().await;
    assert_eq!(window.status_of(&url).await, 200, "the received file is shared");

    // Received: only what came through upload links.
    window.find(Locator::Css("#kind-filter")).await.select_by_value("received").await.unwrap();
    let started = Instant::now();
    loop {
        let mut names = texts(&window, ".file-row .name").await;
        names.sort();
        if names == ["beach.jpg", "map.txt", "receipt.txt", "report.pdf", "report.pdf", "sea.jpg"] {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "Received shows {names:?}");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    assert!(!texts(&window, ".file-row .name").await.contains(&"my notes.txt".to_owned()));

    // A folder dropped on the window (the drop handler calls addPaths) adds every file in it;
    // the owner's own files keep their names, not where they were.
    let dropped = window.work_dir().join("dropped");
    std::fs::create_dir_all(dropped.join("sub")).unwrap();
    std::fs::write(dropped.join("a.txt"), pattern(5)).unwrap();
    std::fs::write(dropped.join("sub/b.txt"), pattern(6)).unwrap();
    let add =
        "return window.sharelockUi.addPaths(arguments[0]).then(r => r.map(f => [f.name, f.path, f.slot_id ?? null]))";
    let added = window.run(add, vec![json!([dropped])]).await;
    assert_eq!(added, json!([["a.txt", null, null], ["b.txt", null, null]]));
    window.toast("Added 2 files").await;

    // The toolbar fits the narrowest window with both panes (1,000 px, the details panel open)
    // and the list alone (820 px, where the details fold into a pane of their own): nothing sticks
    // out of the list or is squeezed.
    window.client.set_window_size(1000, 700).await.unwrap();
    let fits = "const list = document.querySelector('.files-list').getBoundingClientRect();
        const parts = ['#files-title', '#filter', '#kind-filter'].map(id => document.querySelector(id).getBoundingClientRect());
        return parts.every(p => p.left >= list.left && p.right <= list.right + 0.5) && parts[1].width >= 100;";
    let rects = "return ['.files-list', '#files-title', '#filter', '#kind-filter'].map(s => { const r = document.querySelector(s).getBoundingClientRect(); return [r.left, r.right]; });";
    let measured = window.run(rects, vec![]).await;
    assert_eq!(window.run(fits, vec![]).await, json!(true), "the toolbar fits at 1000 px, details open: {measured}");
    window.screenshot("files-received-1000-details").await;
    window.click(Locator::Css("#d-close")).await;
    window.client.set_window_size(820, 600).await.unwrap();
    assert_eq!(window.run(fits, vec![]).await, json!(true), "the toolbar fits at 820 px");
    let one_line = "const middle = id => { const r = document.getElementById(id).getBoundingClientRect(); return (r.top + r.bottom) / 2; };
        return ['filter', 'kind-filter'].every(id => Math.abs(middle(id) - middle('files-title')) < 8);";
    assert_eq!(window.run(one_line, vec![]).await, json!(true), "one line at 820 px with the list alone");
    window.screenshot("files-received-820").await;
    window.close().await;
}
