//! Errors in words: a failure says what happened and what to do, never the system's raw text; a
//! form's bad input is said at its field, not in a toast.

use std::ffi::OsString;

use fantoccini::Locator;

use crate::support::Window;

fn now() -> i64 {
    sharelock::time::now()
}

/// What no toast may show: the system's own wording.
fn raw(text: &str) -> bool {
    ["os error", "D-Bus", "dbus", "org.freedesktop", "zbus", "No such file"].iter().any(|r| text.contains(r))
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a display, tauri-driver and WebKitWebDriver: run by ./dev test"]
async fn a_folder_that_cannot_open_says_where_the_file_is_and_copies_the_path() {
    // No session bus answers, so no file manager can be asked: as under a bare Xvfb, but sure.
    let window =
        Window::open_with_env(&[("DBUS_SESSION_BUS_ADDRESS", OsString::from("unix:path=/nonexistent/bus"))]).await;
    let slot = window.vault().create_slot(Default::default(), now(), None).unwrap();
    let (base, query) = slot.url.split_once('?').unwrap();
    let put = reqwest::Client::new().put(format!("{base}/scan.pdf?{query}")).body("%PDF-1.4").send().await.unwrap();
    assert_eq!(put.status().as_u16(), 201);
    let id = window.vault().inbox().unwrap().remove(0).file.id;
    let path = window.vault().stored_path(&id).unwrap().display().to_string();

    window.click(Locator::Css(r#".nav-item[data-view="inbox"]"#)).await;
    window.click(Locator::XPath("//li[contains(@class, 'received-file')]//button[text()='Show in folder']")).await;
    let said = format!("Couldn't open the folder. The file is at {path}");
    window.toast(&said).await;
    window.screen("open-failed");
    for toast in window.error_toasts().await {
        assert!(!raw(&toast), "raw system text in a toast: {toast}");
    }

    // The toast's own button puts the path on the clipboard.
    window.click(Locator::XPath("//div[contains(@class, 'toast')]/button[text()='Copy path']")).await;
    window.toast("Path copied to the clipboard").await;
    assert_eq!(window.clipboard().await, path);
    window.close().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a display, tauri-driver and WebKitWebDriver: run by ./dev test"]
async fn a_file_removed_elsewhere_is_said_in_words() {
    let window = Window::open().await;
    let id = window.add_file("Draft.pdf", 1_000).await;
    window.open_dialog(Locator::Css("#d-remove"), "Remove this file?").await;
    // Removed from the command line while the question is open.
    window.vault().remove_file(&id).unwrap();
    window.click(Locator::Css("#dialog-ok")).await;
    window.dialog_settled().await;
    window
        .toast(
            "That file is no longer in Sharelock. It may have been removed in another window or from the command line.",
        )
        .await;
    for toast in window.error_toasts().await {
        assert!(!toast.contains("no file with id"), "the core's detail in a toast: {toast}");
    }
    window.close().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a display, tauri-driver and WebKitWebDriver: run by ./dev test"]
async fn bad_input_is_said_at_its_field_not_in_a_toast() {
    let window = Window::open().await;
    let file = window.add_file("Report.pdf", 1_000).await;

    // The new-link form: a limit of 0, then one that is not a number.
    window.type_into("#l-limit", "0").await;
    window.click(Locator::Css("#create-link")).await;
    assert_eq!(window.field_error("#l-limit").await, "The download limit must be at least 1.");
    assert_eq!(window.focused().await, "l-limit", "the focus goes to the field");
    window.screen("field-error-link");
    window.type_into("#l-limit", "two").await;
    assert!(!window.is_shown("#l-limit-error").await, "typing in the field clears its error");
    window.click(Locator::Css("#create-link")).await;
    assert_eq!(window.field_error("#l-limit").await, "Give the download limit as a whole number, such as 10.");
    assert!(window.vault().links(Some(&file), now()).unwrap().is_empty(), "no link was made");
    assert_eq!(window.error_toasts().await, Vec::<String>::new(), "no toast for a field's error");

    // The new-upload-link form: a size the core cannot read, then an accept list it refuses.
    window.click(Locator::Css(r#".nav-item[data-view="receive"]"#)).await;
    window.type_into("#s-max-size", "lots").await;
    window.click(Locator::Css("#create-slot")).await;
    let size = window.field_error("#s-max-size").await;
    assert!(size.starts_with("Invalid size \"lots\""), "{size}");
    window.type_into("#s-max-size", "1G").await;
    window.type_into("#s-accept", "pdf, ???").await;
    window.click(Locator::Css("#create-slot")).await;
    let accept = window.field_error("#s-accept").await;
    assert!(accept.contains("in the accept list"), "{accept}");
    assert!(!window.is_shown("#s-max-size-error").await, "only the field still wrong is marked");
    window.type_into("#s-max-files", "0").await;
    window.type_into("#s-accept", "pdf").await;
    window.click(Locator::Css("#create-slot")).await;
    assert_eq!(window.field_error("#s-max-files").await, "An upload link must take at least 1 file.");
    window.screen("field-error-slot");
    assert!(window.vault().slots(now()).unwrap().is_empty(), "no upload link was made");
    assert_eq!(window.error_toasts().await, Vec::<String>::new());

    // Settings: a port out of range and a base URL that is not one.
    window.click(Locator::Css(r#".nav-item[data-view="settings"]"#)).await;
    window.type_into("#set-port", "70000").await;
    window.click(Locator::Css("#save-settings")).await;
    assert_eq!(window.field_error("#set-port").await, "Choose a port from 1 to 65535.");
    window.type_into("#set-port", &window.app_port.to_string()).await;
    window.type_into("#set-base-url", "ftp://files").await;
    window.click(Locator::Css("#save-settings")).await;
    let base = window.field_error("#set-base-url").await;
    assert!(base.starts_with("Invalid base URL \"ftp://files\""), "{base}");
    window.screen("field-error-settings");
    assert_eq!(window.vault().setting(sharelock::settings::BASE_URL).unwrap(), None, "nothing saved");
    assert_eq!(window.error_toasts().await, Vec::<String>::new());
    window.close().await;
}
