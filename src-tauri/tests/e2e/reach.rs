//! Who can open a link, as the window says it: before a link is made, on each link, in the QR
//! dialog, in the status bar, and in Settings' check (the core's `reach`).
//!
//! Only the scopes that stay on this machine's own segment are tried here (this computer, the
//! local network: an mDNS announcement at most). Asking a router for a port mapping would send
//! requests to this machine's real gateway, so that scope is tried against Debian's miniupnpd in
//! network namespaces instead (`tests/it/reach.rs`), through the same core code.

use fantoccini::Locator;
use fantoccini::key::Key;
use sharelock::reach::{self, Audience};

use crate::support::Window;

fn words(audience: Audience) -> &'static str {
    match audience {
        Audience::ThisComputer => "Opens for this computer only",
        Audience::LocalNetwork => "Opens for devices on your network",
        Audience::Internet => "Opens for anyone on the internet",
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a display, tauri-driver and WebKitWebDriver: run by ./dev test"]
async fn a_link_only_this_computer_can_open_is_said_so_before_and_after_it_is_copied() {
    let window = Window::open().await;
    window.add_file("Plan.pdf", 2_000).await;

    // Before the link is made: the form says who could not open it.
    let note = window.read_until("#l-reach .reach-text", None, |t| !t.is_empty()).await;
    assert!(note.starts_with("Only this computer can open it"), "{note}");
    window.screenshot("reach-form-note").await;

    // Made and copied: the link row says it.
    let url = window.create_link().await;
    window.toast("Link copied to the clipboard").await;
    assert_eq!(window.clipboard().await, url);
    window.read_until("#d-links .link .reach-line.warn", None, |t| t == words(Audience::ThisComputer)).await;
    let by_name = window.run("return document.querySelectorAll('#d-links button').length && [...document.querySelectorAll('#d-links button')].some(b => b.textContent === 'Copy by name')", vec![]).await;
    assert_eq!(by_name, serde_json::json!(false), "no link by name for an address only this computer has");

    // The QR code too: a phone could not open it.
    let qr = "//ul[@id='d-links']//button[text()='QR code']";
    window.open_dialog(Locator::XPath(qr), "Scan to download").await;
    let caution = window.read_until("#qr-reach", None, |t| !t.is_empty()).await;
    assert!(caution.starts_with("Only this computer can open it"), "{caution}");
    window.screen("reach-qr-warning");
    window.press(Key::Escape).await;
    window.dialog_settled().await;

    // The note leads to Settings' check, which says it per audience.
    window.click(Locator::Css("#l-reach .reach-settings")).await;
    let here = window.read_until(r#"#reach-verdicts [data-audience="this_computer"]"#, None, |t| !t.is_empty()).await;
    assert!(here.starts_with("✓ This computer: yes"), "{here}");
    let network =
        window.read_until(r#"#reach-verdicts [data-audience="local_network"]"#, None, |t| !t.is_empty()).await;
    assert!(network.starts_with("✗ Your network: no") && network.contains("only this computer reaches"), "{network}");
    let internet = window.read_until(r#"#reach-verdicts [data-audience="internet"]"#, None, |t| !t.is_empty()).await;
    assert!(internet.starts_with("✗ The internet: no"), "{internet}");
    window.screenshot("reach-settings-local").await;
    window.close().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a display, tauri-driver and WebKitWebDriver: run by ./dev test"]
async fn on_the_local_network_links_say_so_and_come_by_name_too() {
    let window = Window::open().await;
    window.click(Locator::Css(r#".nav-item[data-view="settings"]"#)).await;
    window.click(Locator::Css(r#"input[name="listen"][value="network"]"#)).await;
    window.click(Locator::Css("#save-settings")).await;
    // Announced on the network: the status bar says under which name.
    let name = reach::network::mdns_host();
    window.read_until("#server-reach", None, |t| t.contains(&format!("(also as {name})"))).await;

    window.click(Locator::Css(r#".nav-item[data-view="files"]"#)).await;
    window.add_file("Plan.pdf", 2_000).await;
    window.click(Locator::Css("#create-link")).await;
    let url = window.read_until("#d-links .link .link-url", Some("title"), |u| u.starts_with("http://")).await;
    let lan = reach::network::lan_ip().expect("this machine has an address on a network");
    assert!(url.starts_with(&format!("http://{}:{}/d/", reach::network::url_host(lan), window.app_port)), "{url}");
    // The row says who can open it, as the core judges the address it carries.
    window.read_until("#d-links .link .reach-line", None, |t| t == words(reach::audience_of(&url))).await;

    // The same link by name, for when DHCP hands out another address.
    window.click(Locator::XPath("//ul[@id='d-links']//button[text()='Copy by name']")).await;
    // Among the toasts: "Link copied" from creating the link may still show above it.
    window
        .find(Locator::XPath("//div[contains(@class, 'toast') and starts-with(text(), 'Link by name copied')]"))
        .await;
    let copied = window.clipboard().await;
    assert_eq!(Some(copied.clone()), reach::by_name(&url));
    assert!(copied.starts_with(&format!("http://{name}:{}/d/", window.app_port)), "{copied}");

    // Settings' check: the network can open it, by name and by address.
    window.click(Locator::Css(r#".nav-item[data-view="settings"]"#)).await;
    // A fresh check: the one Settings ran when first shown was of the old scope.
    window.click(Locator::Css("#reach-check")).await;
    let network =
        window.read_until(r#"#reach-verdicts [data-audience="local_network"]"#, None, |t| t.starts_with("✓")).await;
    assert!(network.starts_with("✓ Your network: yes"), "{network}");
    assert!(network.contains(&format!("http://{name}:{}", window.app_port)), "{network}");
    assert!(network.contains(&format!("http://{}:{}", reach::network::url_host(lan), window.app_port)), "{network}");
    window.screenshot("reach-settings-network").await;
    window.close().await;
}
