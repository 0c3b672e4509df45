//! The files list by keyboard: a click puts the focus on the row, the arrows go on from there
//! with a ring that shows where, Ctrl+C copies the selected file's newest working link, and the
//! order of names is the one people expect.

use fantoccini::Locator;
use fantoccini::key::Key;
use serde_json::{Value, json};
use sharelock::vault::NewLink;

use crate::support::Window;

fn now() -> i64 {
    sharelock::time::now()
}

/// The data-id of the focused element, if it is a file row.
async fn focused_row(window: &Window) -> Value {
    window.run("return document.activeElement?.closest('.file-row')?.dataset.id ?? null", vec![]).await
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a display, tauri-driver and WebKitWebDriver: run by ./dev test"]
async fn click_focuses_arrows_move_and_ctrl_c_copies_the_newest_link() {
    let window = Window::open().await;
    for name in ["file10.txt", "Zebra.txt", "apple.txt", "Émile.txt", "file2.txt"] {
        window.add_file(name, 100).await;
    }
    // By name: case, accents and numbers as a person reads them.
    window.click(Locator::Css(r#".table-head .sort[data-sort="name"]"#)).await;
    let order = "return [...document.querySelectorAll('.file-row')].sort((a, b) => a.offsetTop - b.offsetTop).map(r => r.getAttribute('aria-label'))";
    assert_eq!(
        window.run(order, vec![]).await,
        json!(["apple.txt", "Émile.txt", "file2.txt", "file10.txt", "Zebra.txt"])
    );
    // Sorting by a column the details panel drops keeps that column and its arrow in view when
    // the panel opens.
    window.click(Locator::Css("#d-close")).await;
    window.click(Locator::Css(r#".table-head .sort[data-sort="links"]"#)).await;
    window.click(Locator::Css(".file-row")).await;
    window.wait_for(".files-layout.with-details").await;
    let arrow = "const h = document.querySelector('.table-head .sort.active');
        return [h.dataset.sort, h.getClientRects().length > 0, getComputedStyle(h, '::after').content];";
    assert_eq!(window.run(arrow, vec![]).await, json!(["links", true, "\" ▼\""]));
    window.screen("sorted-by-links");
    window.click(Locator::Css(r#".table-head .sort[data-sort="name"]"#)).await;
    assert_eq!(window.run(arrow, vec![]).await, json!(["name", true, "\" ▲\""]));

    // A click focuses the row; Down then selects and focuses the next one, with a full ring.
    let vault = window.vault();
    let files = vault.files().unwrap();
    let id_of = |name: &str| files.iter().find(|f| f.file.name == name).unwrap().file.id.clone();
    window.click(Locator::Css(&format!(r#".file-row[data-id="{}"]"#, id_of("Émile.txt")))).await;
    window.read_until("#d-name", None, |n| n == "Émile.txt").await;
    assert_eq!(focused_row(&window).await, json!(id_of("Émile.txt")));
    window.press(Key::Down).await;
    window.read_until("#d-name", None, |n| n == "file2.txt").await;
    window.wait_for(&format!(r#".file-row.selected[data-id="{}"]"#, id_of("file2.txt"))).await;
    assert_eq!(focused_row(&window).await, json!(id_of("file2.txt")));
    let ring = "const s = getComputedStyle(document.activeElement);
        return [s.outlineStyle, parseFloat(s.outlineWidth) >= 2, parseFloat(s.outlineOffset) <= -2];";
    assert_eq!(window.run(ring, vec![]).await, json!(["solid", true, true]), "a ring drawn inside the row");
    window.press(Key::Up).await;
    window.read_until("#d-name", None, |n| n == "Émile.txt").await;
    assert_eq!(focused_row(&window).await, json!(id_of("Émile.txt")));
    window.screen("keyboard-focus");

    // Ctrl+C with the row focused: the newest link that still works, not a newer revoked one.
    let file = id_of("Émile.txt");
    let older = vault.create_link(&file, NewLink::default(), now() - 20, None).unwrap();
    let newest_active = vault.create_link(&file, NewLink::default(), now() - 10, None).unwrap();
    let revoked = vault.create_link(&file, NewLink::default(), now(), None).unwrap();
    vault.revoke_link(&revoked.link.id, now()).unwrap();
    window.read_until("#d-links", None, |t| t.contains("Revoked")).await;
    window.run("return window.__TAURI__.clipboardManager.writeText('before')", vec![]).await;
    window.click(Locator::Css(&format!(r#".file-row[data-id="{file}"]"#))).await;
    window.press_ctrl('c').await;
    window.toast("Link copied to the clipboard").await;
    let copied = window.clipboard().await;
    assert_eq!(copied, newest_active.url);
    assert_ne!(copied, older.url);

    // In a field, Ctrl+C is the field's own: it copies the text selected there, not the link.
    window.type_into("#l-label", "for Dana").await;
    window.run("document.getElementById('l-label').select()", vec![]).await;
    window.press_ctrl('c').await;
    assert_eq!(window.clipboard().await, "for Dana");
    window.close().await;
}
