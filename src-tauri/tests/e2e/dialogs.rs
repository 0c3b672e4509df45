//! The shared confirm dialog carries out an action only when its confirm button is used. Each
//! destructive dialog is dismissed every other way (Escape, a click outside, Enter on the button
//! that has focus when it opens) after an earlier dialog was confirmed, and the data dir and the
//! server show nothing happened; then its button does it.

use fantoccini::Locator;
use fantoccini::key::Key;
use sharelock::links::LinkStatus;
use sharelock::slots::SlotStatus;

use crate::support::Window;

/// Ways to leave a dialog that must never confirm it.
#[derive(Debug, Clone, Copy)]
enum Dismiss {
    Escape,
    ClickOutside,
    /// Enter, on whatever has focus when the dialog opens.
    EnterOnFocus,
}

const EVERY_DISMISSAL: [Dismiss; 3] = [Dismiss::Escape, Dismiss::ClickOutside, Dismiss::EnterOnFocus];

/// Opens a destructive dialog with `opener`, checks it reads as one (a danger confirm button,
/// focus on Cancel), leaves it `how`, and waits until anything that led to is done.
async fn dismiss(window: &Window, opener: Locator<'_>, title: &str, how: Dismiss) {
    window.open_dialog(opener, title).await;
    let confirm = window.wait_for("#dialog-ok").await;
    assert_eq!(
        confirm.attr("class").await.unwrap().as_deref(),
        Some("danger"),
        "{title}: the confirm button is marked"
    );
    assert_eq!(window.focused().await, "dialog-cancel", "{title}: Cancel has the focus");
    match how {
        Dismiss::Escape => window.press(Key::Escape).await,
        // Top left of the viewport: the backdrop, well away from the centred dialog.
        Dismiss::ClickOutside => window.click_at(8.0, 8.0).await,
        Dismiss::EnterOnFocus => window.press(Key::Enter).await,
    }
    window.dialog_settled().await;
}

/// Opens the dialog with `opener` and confirms it with its button.
async fn confirm(window: &Window, opener: Locator<'_>, title: &str) {
    window.open_dialog(opener, title).await;
    window.click(Locator::Css("#dialog-ok")).await;
    window.dialog_settled().await;
}

fn only_link(window: &Window, file_id: &str) -> sharelock::vault::LinkInfo {
    let mut links = window.vault().links(Some(file_id), sharelock::time::now()).unwrap();
    assert_eq!(links.len(), 1, "one link");
    links.remove(0)
}

fn link_button(text: &str) -> String {
    format!("//ul[@id='d-links']//button[text()='{text}']")
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a display, tauri-driver and WebKitWebDriver: run by ./dev test"]
async fn revoke_link_happens_only_on_its_button() {
    let window = Window::open().await;
    let file = window.add_file("Board minutes.pdf", 40_000).await;
    let url = window.create_link().await;

    // An earlier dialog confirmed with its button: a download limit of 5.
    let limit = link_button("Limit…");
    window.open_dialog(Locator::XPath(&limit), "Download limit").await;
    window.type_into("#limit-choice", "5").await;
    window.click(Locator::Css("#dialog-ok")).await;
    window.dialog_settled().await;
    assert_eq!(only_link(&window, &file).link.max_downloads, Some(5));
    // Escape in an editing dialog throws the edit away too.
    window.open_dialog(Locator::XPath(&limit), "Download limit").await;
    window.type_into("#limit-choice", "9").await;
    window.press(Key::Escape).await;
    window.dialog_settled().await;
    assert_eq!(only_link(&window, &file).link.max_downloads, Some(5), "Escape kept the limit");
    // Enter in its field saves it, like the button.
    window.open_dialog(Locator::XPath(&limit), "Download limit").await;
    window.type_into("#limit-choice", "7").await;
    window.press(Key::Enter).await;
    window.dialog_settled().await;
    assert_eq!(only_link(&window, &file).link.max_downloads, Some(7), "Enter in the field saved");

    let revoke = link_button("Revoke");
    for how in EVERY_DISMISSAL {
        dismiss(&window, Locator::XPath(&revoke), "Revoke this link?", how).await;
        assert_eq!(only_link(&window, &file).status, LinkStatus::Active, "{how:?} left the link active");
        assert_eq!(window.status_of(&url).await, 200, "{how:?}: the link still downloads");
    }

    window.open_dialog(Locator::XPath(&revoke), "Revoke this link?").await;
    window.screenshot("revoke-dialog").await;
    window.click(Locator::Css("#dialog-ok")).await;
    window.dialog_settled().await;
    assert_eq!(only_link(&window, &file).status, LinkStatus::Revoked);
    assert_eq!(window.status_of(&url).await, 410, "the revoked link is gone");
    window.close().await;
}

/// A download that finishes while "Revoke" is held down changes the link's row (its count); the
/// press must still be a click. Views re-render by replacing their elements, so before, the row
/// was replaced under the pointer between press and release and the click was lost: the dialog
/// never opened.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a display, tauri-driver and WebKitWebDriver: run by ./dev test"]
async fn a_press_held_through_a_live_update_is_still_a_click() {
    use fantoccini::actions::{InputSource, MOUSE_BUTTON_LEFT, MouseActions, PointerAction};
    use serde_json::json;

    let window = Window::open().await;
    let file = window.add_file("Quarterly report.pdf", 40_000).await;
    let url = window.create_link().await;
    window.press_and_hold(Locator::XPath(&link_button("Revoke"))).await;

    // A download while the button is held; the window hears of it (the store changed) and
    // either re-renders the row at once, replacing the pressed button, or holds the update back.
    assert_eq!(window.status_of(&url).await, 200);
    let replaced = "!document.querySelector('[data-pressed]')";
    let heard = format!("return {replaced} || (typeof press === 'object' && press.waiting !== null)");
    window.run_until(&heard, vec![], json!(true), "the window never heard of the download").await;

    let release = MouseActions::new("mouse".into()).then(PointerAction::Up { button: MOUSE_BUTTON_LEFT });
    window.client.perform_actions(release).await.expect("release");
    window.client.release_actions().await.expect("release the mouse");
    window.dialog_opened("Revoke this link?").await;
    window.press(Key::Escape).await;
    window.dialog_settled().await;
    assert_eq!(only_link(&window, &file).status, LinkStatus::Active);
    // The update held back is shown once the click was handled: the row is a new one now.
    let shown = format!("return {replaced}");
    window.run_until(&shown, vec![], json!(true), "the update held back was never shown").await;
    window.close().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a display, tauri-driver and WebKitWebDriver: run by ./dev test"]
async fn remove_file_happens_only_on_its_button() {
    let window = Window::open().await;
    let file = window.add_file("Tenancy agreement.pdf", 40_000).await;
    let url = window.create_link().await;

    // An earlier dialog confirmed with its button: the link now expires in 30 days.
    let expiry = link_button("Expiry…");
    window.open_dialog(Locator::XPath(&expiry), "Change the expiry").await;
    window.click(Locator::Css(r#"#extend-choice option[value="30d"]"#)).await;
    window.click(Locator::Css("#dialog-ok")).await;
    window.dialog_settled().await;
    let in_30_days = sharelock::time::now() + 30 * 86_400;
    let expires_at = only_link(&window, &file).link.expires_at.expect("an expiry");
    assert!((in_30_days - 60..=in_30_days).contains(&expires_at), "expires in 30 days, not at {expires_at}");
    // Escape in an editing dialog throws the edit away too.
    window.open_dialog(Locator::XPath(&expiry), "Change the expiry").await;
    window.click(Locator::Css(r#"#extend-choice option[value="never"]"#)).await;
    window.press(Key::Escape).await;
    window.dialog_settled().await;
    assert_eq!(only_link(&window, &file).link.expires_at, Some(expires_at), "Escape kept the expiry");

    for how in EVERY_DISMISSAL {
        dismiss(&window, Locator::Css("#d-remove"), "Remove this file?", how).await;
        assert!(window.vault().file(&file).is_ok(), "{how:?} left the file stored");
        assert_eq!(window.status_of(&url).await, 200, "{how:?}: its link still downloads");
        window.wait_for(&format!(r#".file-row[data-id="{file}"]"#)).await;
    }

    confirm(&window, Locator::Css("#d-remove"), "Remove this file?").await;
    assert!(window.vault().files().unwrap().is_empty(), "the file is gone");
    assert_eq!(window.status_of(&url).await, 410, "its link is gone");
    window.close().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a display, tauri-driver and WebKitWebDriver: run by ./dev test"]
async fn replace_signing_secret_happens_only_on_its_button() {
    let window = Window::open().await;
    window.add_file("Payslip March.pdf", 40_000).await;
    let url = window.create_link().await;

    // Earlier dialogs confirmed with their buttons: a QR code closed, an upload link closed
    // (itself destructive, so first dismissed every other way).
    window.open_dialog(Locator::XPath(&link_button("QR code")), "Scan to download").await;
    window.wait_for("#qr-image svg").await;
    window.click(Locator::Css("#dialog-ok")).await;
    window.dialog_settled().await;
    window.click(Locator::Css(r#".nav-item[data-view="receive"]"#)).await;
    window.click(Locator::Css("#create-slot")).await;
    let slot_url = window.read_until("#slots .slot .slot-url", Some("title"), |u| u.contains("/u/")).await;
    let slot = window.vault().slots(sharelock::time::now()).unwrap().remove(0).slot.id;
    let close_slot = "//ul[@id='slots']//button[text()='Close']";
    for how in EVERY_DISMISSAL {
        dismiss(&window, Locator::XPath(close_slot), "Close this upload link?", how).await;
        assert_eq!(window.vault().slot(&slot, sharelock::time::now()).unwrap().status, SlotStatus::Active, "{how:?}");
    }
    confirm(&window, Locator::XPath(close_slot), "Close this upload link?").await;
    assert_eq!(window.vault().slot(&slot, sharelock::time::now()).unwrap().status, SlotStatus::Closed);

    window.click(Locator::Css(r#".nav-item[data-view="settings"]"#)).await;
    for how in EVERY_DISMISSAL {
        dismiss(&window, Locator::Css("#rotate-secret"), "Replace the signing secret?", how).await;
        assert_eq!(window.status_of(&url).await, 200, "{how:?}: the old link still verifies");
    }

    confirm(&window, Locator::Css("#rotate-secret"), "Replace the signing secret?").await;
    assert_eq!(window.status_of(&url).await, 403, "the old link no longer verifies");
    let (upload, query) = slot_url.split_once('?').expect("slot URL with a query");
    let put = reqwest::Client::new().put(format!("{upload}/late.pdf?{query}")).body("late").send().await.unwrap();
    assert_eq!(put.status().as_u16(), 403, "nor does the old upload link");
    window.close().await;
}
