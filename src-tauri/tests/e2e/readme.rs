//! The README's picture, taken of the real window in a state a user would have after a while:
//! several files, one selected with links in each state. `./dev screenshot` runs this test and
//! copies the picture to `docs/screenshot.png`; in `./dev test` it checks the state it stages.

use std::path::Path;

use fantoccini::Locator;
use sharelock::vault::NewLink;

use crate::support::Window;

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a display, tauri-driver and WebKitWebDriver: run by ./dev test"]
async fn the_readme_picture_shows_files_and_a_files_links_in_each_state() {
    let window = Window::open().await;
    window.client.set_window_size(1280, 800).await.unwrap();
    for (name, size) in [
        ("Holiday photos 2026.zip", 48_000_000),
        ("Budget 2027.xlsx", 61_000),
        ("Contract – Dana Whitfield.pdf", 1_240_000),
        ("Invoice 2026-114.pdf", 88_000),
    ] {
        window.add_file(name, size).await;
    }
    let report = window.add_file("Quarterly report Q3.pdf", 2_400_000).await;

    // Links as they pile up: one for Dana's one download, one for the board, one revoked.
    let vault = window.vault();
    let now = sharelock::time::now();
    let link = |label: &str, max: Option<u64>| NewLink {
        label: Some(label.into()),
        max_downloads: max,
        lifetime: Some("7d".parse().unwrap()),
        ..NewLink::default()
    };
    let old = vault.create_link(&report, link("for the auditors", None), now, None).unwrap();
    vault.revoke_link(&old.link.id, now).unwrap();
    vault.create_link(&report, link("Board, all members", None), now, None).unwrap();
    window.type_into("#l-limit", "1").await;
    window.type_into("#l-label", "for Dana").await;
    let url = window.create_link().await;
    assert_eq!(window.status_of(&url).await, 200, "the link in the picture opens");
    window
        .read_until("#d-links", None, |t| t.contains("for Dana") && t.contains("Board") && t.contains("Revoked"))
        .await;
    // Quiet: no toast over the list.
    window.run("document.getElementById('toasts').replaceChildren()", vec![]).await;
    window.click(Locator::Css("#filter")).await;

    let png = window.client.screenshot().await.expect("a screenshot of the window");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("readme.png"), png).unwrap();
    window.close().await;
}
