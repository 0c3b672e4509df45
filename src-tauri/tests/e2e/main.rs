//! End to end: the real app in a real WebKit window, driven over WebDriver (tauri-driver in
//! front of WebKitWebDriver), with real HTTP against its embedded server and the data dir read
//! back through the core.
//!
//! Needs a display (Xvfb), `tauri-driver` and `WebKitWebDriver`; `./dev test` provides them and
//! runs these with `--run-ignored`. The app under test is the binary cargo built for this test.
//!
//! - [`support`]: the driver, the session and the ways to act on the window.
//! - [`a11y`]: axe-core finds nothing serious on any view, dialog or toast, light or dark; focus
//!   rings, field edges and placeholders stand out.
//! - [`background`]: attaching to the background service; its links outlive the window.
//! - [`counts`]: the sidebar counts follow changes made elsewhere; empty lists say why.
//! - [`dialogs`]: confirm dialogs act only on their confirm button.
//! - [`history`]: a link's history follows curl downloads live; the last access; receipts as
//!   desktop notifications, and a link kept quiet.
//! - [`inbox`]: received files by upload link and upload; open, delete, share; the Received filter.
//! - [`keyboard`]: the files list by keyboard: focus, arrows, Ctrl+C, the order of names.
//! - [`layout`]: the files view fits from the minimum width up and folds into one pane.
//! - [`opening`]: `sharelock-desktop FILE…`, at start and from a second launch.
//! - [`order`]: with thousands of files, every order and filter is what a fresh sort gives.
//! - [`links`]: making, changing and clearing links and upload links in daily use.
//! - [`polish`]: the QR dialog's URL, the app's name, the warning before going public.
//! - [`reach`]: who can open a link, said before it is made, on it, in its QR code and in Settings.
//! - [`remote`]: the window on a Sharelock server (a separate `sharelock serve`) and back.
//! - [`readme`]: the README's picture, of the window as a user has it after a while.
//! - [`select`]: several files at once: selecting them, and the bulk actions.
//! - [`settings`]: settings that apply at once, the warning before a new server address, unsaved
//!   edits, the data folder.
//! - [`words`]: errors in words, and bad input said at its field.
//! - [`tray`]: closing the window while links work, where there is no tray: the quit warning.

mod a11y;
mod background;
mod counts;
mod dialogs;
mod history;
mod inbox;
mod keyboard;
mod layout;
mod links;
mod opening;
mod order;
mod polish;
mod reach;
mod readme;
mod remote;
mod select;
mod settings;
mod support;
mod tray;
mod words;

use fantoccini::Locator;
use serde_json::json;
use support::{Window, pattern};

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a display, tauri-driver and WebKitWebDriver: run by ./dev test"]
async fn publish_share_and_receive_in_the_real_window() {
    let window = Window::open().await;
    let app_port = window.app_port;
    let status = window.wait_for("#server-text").await.text().await.unwrap();
    assert_eq!(status, format!("Serving at http://127.0.0.1:{app_port}"));

    // Publish: through addPaths, the function the drop handler and the picker call.
    let data = pattern(3_000_000);
    let source = window.work_dir().join("Quarterly report Q3.pdf");
    std::fs::write(&source, &data).unwrap();
    let added =
        window.run("return window.sharelockUi.addPaths(arguments[0]).then(r => r.length)", vec![json!([source])]).await;
    assert_eq!(added, json!(1));
    assert_eq!(std::fs::read(&source).unwrap(), data, "the original is untouched");

    // The new file is selected; create a link with a download limit in the details panel.
    window.wait_for(r#".file-row.selected[aria-label="Quarterly report Q3.pdf"]"#).await;
    window.type_into("#l-limit", "2").await;
    let url = window.create_link().await;
    // The visible confirmation (an error would show in a toast of its own and time this out).
    window.toast("Link copied to the clipboard").await;

    // Download it over HTTP: the same bytes.
    let body = reqwest::get(&url).await.unwrap().bytes().await.unwrap();
    assert_eq!(body.len(), data.len());
    assert!(body == data, "downloaded bytes differ");
    // The download count shows up in the window without a manual refresh.
    window.read_until("#d-links .link .item-meta", None, |meta| meta.starts_with("1 of 2 downloads")).await;
    window.screenshot("main-window").await;

    // Receive: create an upload link in the UI, upload to it over HTTP, see it in the inbox.
    window.click(Locator::Css(r#".nav-item[data-view="receive"]"#)).await;
    window.type_into("#s-label", "Signed contract").await;
    window.click(Locator::Css("#create-slot")).await;
    let slot_url = window.read_until("#slots .slot .slot-url", Some("title"), |u| u.contains("/u/")).await;
    let (base, query) = slot_url.split_once('?').expect("slot URL with a query");
    let put = reqwest::Client::new()
        .put(format!("{base}/contract-signed.pdf?{query}"))
        .body("%PDF-1.4 signed")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status().as_u16(), 201);
    window.click(Locator::Css(r#".nav-item[data-view="inbox"]"#)).await;
    window.read_until("#inbox .received-file .title", None, |name| name == "contract-signed.pdf").await;
    window.screenshot("inbox").await;
    window.close().await;
}
