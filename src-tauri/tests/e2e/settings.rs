//! Settings that are safe to change: what needs no restart applies at once, a new server address
//! says first which links it breaks, unsaved edits are marked and kept, and the data folder opens
//! in the file manager (or the window says where it is).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use fantoccini::Locator;
use serde_json::json;
use sharelock::settings;
use sharelock::vault::NewLink;

use crate::support::{Opener, Window};

fn now() -> i64 {
    sharelock::time::now()
}

/// One request on a kept-alive connection to the app's server; whether an answer came.
fn answered(connection: &mut TcpStream) -> bool {
    let request = "HEAD /assets/icon.svg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    if connection.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match connection.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return false,
        }
    }
    head.starts_with(b"HTTP/1.1 200")
}

async fn open_settings(window: &Window) {
    window.click(Locator::Css(r#".nav-item[data-view="settings"]"#)).await;
    window.wait_for("#settings-form").await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a display, tauri-driver and WebKitWebDriver: run by ./dev test"]
async fn link_defaults_and_notifications_apply_at_once_without_a_restart() {
    let window = Window::open().await;
    // A connection kept alive across the save: a restart would close it.
    let mut connection = TcpStream::connect(("127.0.0.1", window.app_port)).unwrap();
    connection.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert!(answered(&mut connection));

    open_settings(&window).await;
    window.read_until("#at-once-note", None, |t| t == "These apply at once, without a restart.").await;
    window
        .read_until("#server-settings-note", None, |t| t.starts_with("Saving a change here restarts the server."))
        .await;
    assert!(!window.is_shown("#settings-unsaved").await, "nothing unsaved yet");
    window.click(Locator::Css(r#"#set-expiry option[value="1d"]"#)).await;
    window.type_into("#set-limit", "3").await;
    window.click(Locator::Css("#set-notify")).await;
    window.read_until("#settings-unsaved", None, |t| t == "Unsaved changes").await;
    window.read_until("#save-settings", None, |t| t == "Save").await;
    window.screen("settings-unsaved");
    window.click(Locator::Css("#save-settings")).await;
    window.toast("Settings saved: they apply at once").await;
    assert!(!window.is_shown("#settings-unsaved").await, "saved: nothing unsaved");

    let vault = window.vault();
    assert_eq!(vault.setting(settings::DEFAULT_LINK_EXPIRY).unwrap().as_deref(), Some("1d"));
    assert_eq!(vault.setting(settings::DEFAULT_LINK_LIMIT).unwrap().as_deref(), Some("3"));
    assert_eq!(vault.setting(settings::NOTIFY_RECEIVED).unwrap().as_deref(), Some("off"));
    assert!(answered(&mut connection), "the server did not restart: the kept-alive connection still answers");

    // The next link starts from them, without a restart of anything.
    let file = window.add_file("Minutes.pdf", 1_000).await;
    let form = "return ['l-expiry', 'l-limit'].map(id => document.getElementById(id).value)";
    assert_eq!(window.run(form, vec![]).await, json!(["1d", "3"]));
    window.create_link().await;
    let link = window.vault().links(Some(&file), now()).unwrap().remove(0).link;
    assert_eq!(link.max_downloads, Some(3));
    window.close().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a display, tauri-driver and WebKitWebDriver: run by ./dev test"]
async fn a_new_port_says_which_links_it_breaks_and_cancel_keeps_everything() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let window = Window::open_on_port(port).await;
    let file = window.add_file("Lease.pdf", 2_000).await;
    let url = window.create_link().await;
    let vault = window.vault();
    vault.create_link(&file, NewLink::default(), now(), None).unwrap();
    let revoked = vault.create_link(&file, NewLink::default(), now(), None).unwrap();
    vault.revoke_link(&revoked.link.id, now()).unwrap();
    vault.create_slot(Default::default(), now(), None).unwrap();
    let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();

    open_settings(&window).await;
    window.type_into("#set-port", &other.to_string()).await;
    window.read_until("#settings-unsaved", None, |t| t == "Unsaved changes").await;
    window.read_until("#save-settings", None, |t| t == "Save and restart server").await;
    window.open_dialog(Locator::Css("#save-settings"), "Change the server's address?").await;
    let said = window.wait_for("#breaks-text").await.text().await.unwrap();
    assert_eq!(
        said,
        format!("2 active links and 1 upload link were sent with http://127.0.0.1:{port}; they will stop working.")
    );
    assert_eq!(window.focused().await, "dialog-cancel", "the focus starts on Cancel");
    window.screen("port-warning");

    // Cancel: nothing saved, the server where it was, the link working, the edit kept as unsaved.
    window.click(Locator::Css("#dialog-cancel")).await;
    window.dialog_settled().await;
    assert_eq!(window.vault().setting(settings::PORT).unwrap(), Some(port.to_string()));
    assert_eq!(
        window.wait_for("#server-text").await.text().await.unwrap(),
        format!("Serving at http://127.0.0.1:{port}")
    );
    assert_eq!(window.status_of(&url).await, 200);
    let value = "return document.getElementById('set-port').value";
    assert_eq!(window.run(value, vec![]).await, json!(other.to_string()));
    assert!(window.is_shown("#settings-unsaved").await);

    // Leaving the view keeps the edit, marked in the sidebar; coming back shows it as it was.
    window.click(Locator::Css(r#".nav-item[data-view="files"]"#)).await;
    assert!(window.is_shown("#settings-dirty").await, "the sidebar marks unsaved settings");
    window.screenshot("settings-unsaved-sidebar").await;
    open_settings(&window).await;
    assert_eq!(window.run(value, vec![]).await, json!(other.to_string()));
    assert!(window.is_shown("#settings-unsaved").await);

    // Discard: the saved port is back, nothing is marked.
    window.click(Locator::Css("#discard-settings")).await;
    window.read_until("#save-settings", None, |t| t == "Save").await;
    assert_eq!(window.run(value, vec![]).await, json!(port.to_string()));
    assert!(!window.is_shown("#settings-unsaved").await);
    assert!(!window.is_shown("#settings-dirty").await);

    // Confirmed, it is saved and the server moves.
    window.type_into("#set-port", &other.to_string()).await;
    window.open_dialog(Locator::Css("#save-settings"), "Change the server's address?").await;
    window.click(Locator::Css("#dialog-ok")).await;
    window.toast("Settings saved; the server restarted").await;
    window.read_until("#server-text", None, |t| t == format!("Serving at http://127.0.0.1:{other}")).await;
    assert_eq!(window.vault().setting(settings::PORT).unwrap(), Some(other.to_string()));
    window.close().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a display, tauri-driver and WebKitWebDriver: run by ./dev test"]
async fn the_data_folder_opens_in_the_file_manager_or_says_where_it_is() {
    // The file manager the system would start, standing in: it notes what it was asked to open.
    let opener = Opener::new();
    let window = Window::open_with(opener.launch()).await;

    open_settings(&window).await;
    let shown = window.read_until("#set-data-dir", None, |t| !t.is_empty()).await;
    assert_eq!(shown, window.data_dir.display().to_string());
    window.click(Locator::Css("#open-data-dir")).await;
    assert_eq!(opener.first_opened().await, window.data_dir);
    assert_eq!(window.error_toasts().await, Vec::<String>::new());

    // A folder that is not where it was (moved while the app runs): the window says where it
    // should be, in words, with a way to copy it.
    let moved = window.work_dir().join("moved");
    std::fs::rename(&window.data_dir, &moved).unwrap();
    window.click(Locator::Css("#open-data-dir")).await;
    let said = format!("Couldn't open the folder. It is at {}", window.data_dir.display());
    window.toast(&said).await;
    window.screen("data-dir-failed");
    std::fs::rename(&moved, &window.data_dir).unwrap();
    window.click(Locator::XPath("//div[contains(@class, 'toast')]/button[text()='Copy path']")).await;
    assert_eq!(window.clipboard().await, window.data_dir.display().to_string());
    window.close().await;
}
