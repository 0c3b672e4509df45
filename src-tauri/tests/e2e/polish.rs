//! Small things that make daily use sure: the QR dialog shows its whole URL and copies it, the app
//! names itself "Sharelock", and making a file public warns when links were limiting it.

use fantoccini::Locator;
use serde_json::json;

use crate::support::Window;

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a display, tauri-driver and WebKitWebDriver: run by ./dev test"]
async fn the_qr_dialog_wraps_its_url_and_copies_it() {
    let window = Window::open().await;
    window.add_file("A rather long name for a file that makes a long link.pdf", 1_000).await;
    let url = window.create_link().await;
    // Making the link copied it: the clipboard holds something else before the dialog's Copy.
    window.run("return window.__TAURI__.clipboardManager.writeText('something else')", vec![]).await;
    assert_eq!(window.clipboard().await, "something else");
    window.click(Locator::XPath("//ul[@id='d-links']//button[text()='QR code']")).await;
    window.wait_for("#dialog[open] #qr-image svg").await;

    // The whole URL shows, wrapped inside the dialog: nothing clipped, nothing sticking out.
    assert_eq!(window.read_until("#qr-url", None, |t| !t.is_empty()).await, url);
    let fits = "const u = document.getElementById('qr-url'); const d = document.getElementById('dialog').getBoundingClientRect();
        const box = u.getBoundingClientRect();
        return [u.scrollWidth <= u.clientWidth, box.left >= d.left, box.right <= d.right, box.height > 30];";
    assert_eq!(window.run(fits, vec![]).await, json!([true, true, true, true]), "wrapped within the dialog");
    window.screen("qr-dialog");

    // Copy puts that URL on the clipboard: pasted back, it is the same.
    window.click(Locator::Css("#qr-copy")).await;
    window.toast("Link copied to the clipboard").await;
    window.click(Locator::Css("#dialog-ok")).await;
    assert!(!window.is_shown("#dialog[open]").await);
    assert_eq!(window.clipboard().await, url);
    window.close().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a display, tauri-driver and WebKitWebDriver: run by ./dev test"]
async fn the_app_names_itself_sharelock() {
    let window = Window::open().await;
    // The name the app runs under, as its notifications give it (`watch::show` sends with it).
    let name = window.run("return window.__TAURI__.app.getName()", vec![]).await;
    assert_eq!(name, json!("Sharelock"));
    assert_eq!(window.client.title().await.unwrap(), "Sharelock");
    window.close().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a display, tauri-driver and WebKitWebDriver: run by ./dev test"]
async fn making_a_file_with_limited_links_public_asks_first() {
    let window = Window::open().await;
    let file = window.add_file("Payslip.pdf", 2_000).await;
    window.type_into("#l-limit", "1").await;
    window.create_link().await;

    // Cancel: still private, in the window and in the store.
    window.open_dialog(Locator::Css("label.switch"), "Make this file public?").await;
    let body = window.wait_for("#dialog-body").await.text().await.unwrap();
    assert!(body.contains("1 active link limits"), "{body}");
    assert!(body.contains("those limits no longer protect it"), "{body}");
    assert_eq!(window.focused().await, "dialog-cancel", "the focus starts on Cancel");
    window.screen("public-warning");
    window.click(Locator::Css("#dialog-cancel")).await;
    window.dialog_settled().await;
    assert!(!window.vault().file(&file).unwrap().file.public, "cancelling keeps it private");
    let checked = window.run("return document.getElementById('d-public').checked", vec![]).await;
    assert_eq!(checked, json!(false), "the switch is back off");
    assert!(!window.is_shown("#d-public-row").await);

    // Confirm: public, with its address shown.
    window.open_dialog(Locator::Css("label.switch"), "Make this file public?").await;
    window.click(Locator::Css("#dialog-ok")).await;
    window.dialog_settled().await;
    assert!(window.vault().file(&file).unwrap().file.public);
    window.read_until("#d-public-url", None, |u| u.contains("/p/")).await;

    // Private again, and a file with no links goes public without a question.
    window.click(Locator::Css("label.switch")).await;
    let started = std::time::Instant::now();
    while window.vault().file(&file).unwrap().file.public {
        assert!(started.elapsed().as_secs() < 20, "private again");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let plain = window.add_file("Menu.pdf", 500).await;
    window.click(Locator::Css("label.switch")).await;
    window.read_until("#d-public-url", None, |u| u.contains("/p/")).await;
    assert!(!window.is_shown("#dialog[open]").await, "no question without limited links");
    assert!(window.vault().file(&plain).unwrap().file.public);
    window.close().await;
}
