//! Several files at once: Ctrl-click, Shift-click, Shift+arrows and Ctrl+A select rows, Escape
//! clears them; the selection lives through the watcher's refreshes, sorting and filtering; the
//! bulk actions ask once, act through one command each and say in words what failed; several
//! files get one link ("Link to N files").

use fantoccini::Locator;
use fantoccini::key::Key;
use serde_json::{Value, json};
use sharelock::vault::NewLink;

use crate::layout::{fits, resize};
use crate::support::{Window, pattern};

fn now() -> i64 {
    sharelock::time::now()
}

const NAMES: [&str; 6] = ["alpha.txt", "bravo.txt", "charlie.txt", "delta.txt", "echo.txt", "foxtrot.txt"];

/// The names of the selected rows, top to bottom, checked against the grid's own account: each
/// row drawn is `aria-selected` exactly when it is marked selected.
async fn selected(window: &Window) -> Vec<String> {
    let script = "const rows = [...document.querySelectorAll('#rows .file-row')].sort((a, b) => a.offsetTop - b.offsetTop);
        for (const r of rows) if ((r.getAttribute('aria-selected') === 'true') !== r.classList.contains('selected')) return null;
        return rows.filter(r => r.classList.contains('selected')).map(r => r.getAttribute('aria-label'));";
    let names = window.run(script, vec![]).await;
    assert_ne!(names, Value::Null, "aria-selected says what the rows show");
    serde_json::from_value(names).unwrap()
}

fn row(window_ids: &[(String, String)], name: &str) -> String {
    let id = &window_ids.iter().find(|(n, _)| n == name).unwrap().1;
    format!(r#".file-row[data-id="{id}"]"#)
}

/// Adds `names` through the window; returns (name, id) pairs. The list is sorted by name after.
async fn add_files(window: &Window, names: &[&str]) -> Vec<(String, String)> {
    let mut ids = Vec::new();
    for name in names {
        ids.push((name.to_string(), window.add_file(name, 1_000).await));
    }
    window.press(Key::Escape).await;
    window.click(Locator::Css(r#".table-head .sort[data-sort="name"]"#)).await;
    ids
}

/// A picture of the whole screen, dialogs and all, once the window has drawn what it just did.
async fn picture(window: &Window, name: &str) {
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    window.screen(name);
}

async fn focused_row(window: &Window) -> Value {
    window.run("return document.activeElement?.closest('.file-row')?.getAttribute('aria-label') ?? null", vec![]).await
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a display, tauri-driver and WebKitWebDriver: run by ./dev test"]
async fn ctrl_and_shift_clicks_shift_arrows_ctrl_a_and_escape_select_rows() {
    let window = Window::open().await;
    let ids = add_files(&window, &NAMES).await;

    // A click selects one; Ctrl-click adds a row, and drops it again.
    window.click(Locator::Css(&row(&ids, "alpha.txt"))).await;
    window.read_until("#d-name", None, |n| n == "alpha.txt").await;
    window.click_holding(Key::Control, &row(&ids, "charlie.txt")).await;
    window.read_until("#bulk-title", None, |t| t == "2 files selected").await;
    assert_eq!(selected(&window).await, ["alpha.txt", "charlie.txt"]);
    assert_eq!(focused_row(&window).await, json!("charlie.txt"));
    assert!(!window.is_shown("#d-name").await, "several files: no one file's details");
    window.click_holding(Key::Control, &row(&ids, "alpha.txt")).await;
    window.read_until("#d-name", None, |n| n == "charlie.txt").await;
    assert_eq!(selected(&window).await, ["charlie.txt"]);

    // Shift-click: the range from the anchor (the last row Ctrl-clicked) to the row clicked.
    window.click_holding(Key::Shift, &row(&ids, "echo.txt")).await;
    window.read_until("#bulk-title", None, |t| t == "5 files selected").await;
    assert_eq!(selected(&window).await, ["alpha.txt", "bravo.txt", "charlie.txt", "delta.txt", "echo.txt"]);
    // Shift+arrows move the range's far end, from the focused row.
    window.press_holding(Key::Shift, Key::Up).await;
    window.read_until("#bulk-title", None, |t| t == "4 files selected").await;
    assert_eq!(focused_row(&window).await, json!("delta.txt"));
    assert_eq!(selected(&window).await, ["alpha.txt", "bravo.txt", "charlie.txt", "delta.txt"]);
    window.screenshot("select-range").await;

    // The grid says so to assistive technology too.
    let grid = "const g = document.getElementById('files-table');
        return [g.getAttribute('role'), g.getAttribute('aria-multiselectable'), g.getAttribute('aria-rowcount'),
            document.querySelector('.table-head [aria-sort]').getAttribute('aria-sort'),
            [...document.querySelectorAll('#rows .file-row')].map(r => r.getAttribute('aria-rowindex')).sort(),
            document.getElementById('rows-spacer').getAttribute('aria-hidden')];";
    assert_eq!(
        window.run(grid, vec![]).await,
        json!(["grid", "true", "7", "ascending", ["2", "3", "4", "5", "6", "7"], "true"])
    );

    // A file added elsewhere (the CLI's way) refreshes the list: the selection stays.
    let source = window.work_dir().join("golf.txt");
    std::fs::write(&source, pattern(500)).unwrap();
    window.vault().add_file(&source, false, now(), &mut |_| {}).unwrap();
    window.read_until("#files-count", None, |c| c == "7").await;
    window.wait_for(r#".file-row[aria-label="golf.txt"]"#).await;
    assert_eq!(selected(&window).await, ["alpha.txt", "bravo.txt", "charlie.txt", "delta.txt"]);
    assert_eq!(window.read_until("#bulk-title", None, |_| true).await, "4 files selected");
    // So does a new order.
    window.click(Locator::Css(r#".table-head .sort[data-sort="name"]"#)).await;
    assert_eq!(selected(&window).await, ["delta.txt", "charlie.txt", "bravo.txt", "alpha.txt"]);
    // Rows a filter hides leave the selection, and do not come back with them.
    window.type_into("#filter", "o").await;
    window.read_until("#d-name", None, |n| n == "bravo.txt").await;
    assert_eq!(selected(&window).await, ["bravo.txt"]);
    window.click(Locator::Css("#filter")).await;
    window.press_ctrl('a').await;
    window.press(Key::Backspace).await;
    window.wait_for(r#".file-row[aria-label="alpha.txt"]"#).await;
    assert_eq!(selected(&window).await, ["bravo.txt"]);

    // Ctrl+A in a text field selects the field's text, not the files.
    window.type_into("#l-label", "for Dana").await;
    window.press_ctrl('a').await;
    let field = "const f = document.getElementById('l-label'); return [f.selectionStart, f.selectionEnd];";
    assert_eq!(window.run(field, vec![]).await, json!([0, 8]));
    assert_eq!(selected(&window).await, ["bravo.txt"]);
    // Elsewhere it selects every row shown.
    window.click(Locator::Css(&row(&ids, "echo.txt"))).await;
    window.press_ctrl('a').await;
    window.read_until("#bulk-title", None, |t| t == "7 files selected").await;
    assert_eq!(selected(&window).await.len(), 7);
    window.screenshot("select-all").await;
    // Escape clears the selection.
    window.press(Key::Escape).await;
    window.wait_for(".files-layout:not(.with-details)").await;
    assert!(selected(&window).await.is_empty());
    assert!(!window.is_shown("#details").await);

    // In one pane, Ctrl-click stays in the list; the toolbar leads to the bulk actions, which fit.
    resize(&window, 820, 600).await;
    window.click_holding(Key::Control, &row(&ids, "bravo.txt")).await;
    window.click_holding(Key::Control, &row(&ids, "delta.txt")).await;
    window.read_until("#selection-open", None, |t| t == "2 selected ›").await;
    assert_eq!(selected(&window).await, ["delta.txt", "bravo.txt"]);
    fits(&window, "select-820-list").await;
    window.click(Locator::Css("#selection-open")).await;
    window.read_until("#bulk-title", None, |t| t == "2 files selected").await;
    assert!(!window.is_shown(".files-list").await);
    fits(&window, "select-820-bulk").await;
    window.click(Locator::Css("#bulk-back")).await;
    window.wait_for(".file-row.selected").await;
    assert_eq!(selected(&window).await, ["delta.txt", "bravo.txt"]);
    resize(&window, 1280, 800).await;
    fits(&window, "select-1280-bulk").await;
    window.close().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a display, tauri-driver and WebKitWebDriver: run by ./dev test"]
async fn delete_removes_the_selection_after_one_question_and_names_what_failed() {
    let window = Window::open().await;
    let ids = add_files(&window, &NAMES[..4]).await;
    let vault = window.vault();
    let url_of = |name: &str| {
        let id = &ids.iter().find(|(n, _)| n == name).unwrap().1;
        vault
            .create_link(id, NewLink::default(), now(), Some(&format!("http://127.0.0.1:{}", window.app_port)))
            .unwrap()
            .url
    };
    let (alpha, charlie) = (url_of("alpha.txt"), url_of("charlie.txt"));
    let revoked = url_of("charlie.txt");
    let revoked_id = vault.links(None, now()).unwrap().into_iter().find(|l| l.url == revoked).unwrap().link.id;
    vault.revoke_link(&revoked_id, now()).unwrap();
    window.click(Locator::Css(&row(&ids, "alpha.txt"))).await;
    window.press_ctrl('a').await;
    window.read_until("#bulk-title", None, |t| t == "4 files selected").await;

    // Delete asks once, with the count and the working links that die; Escape keeps everything.
    window.press(Key::Delete).await;
    window.dialog_opened("Remove 4 files?").await;
    let body = window.wait_for("#dialog-body").await.text().await.unwrap();
    assert!(body.contains("4 files are deleted") && body.contains("2 active links stop working"), "{body}");
    assert_eq!(window.focused().await, "dialog-cancel", "the focus starts on Cancel");
    picture(&window, "remove-selection").await;
    window.press(Key::Escape).await;
    window.dialog_settled().await;
    assert_eq!(vault.files().unwrap().len(), 4, "Escape removed nothing");
    assert_eq!(window.status_of(&alpha).await, 200);
    assert_eq!(selected(&window).await.len(), 4, "and kept the selection");

    // Confirmed, after the CLI removed one of them meanwhile: the rest go, and the one that could
    // not is named, with why.
    window.press(Key::Delete).await;
    window.dialog_opened("Remove 4 files?").await;
    vault.remove_file(&ids[1].1).unwrap();
    window.read_until("#files-count", None, |c| c == "3").await;
    window.click(Locator::Css("#dialog-ok")).await;
    window.dialog_settled().await;
    window.toast("Removed 3 of 4 files. Not removed: “bravo.txt”, no longer in Sharelock (removed elsewhere).").await;
    picture(&window, "remove-partial").await;
    assert!(vault.files().unwrap().is_empty(), "every file that was there is gone");
    assert_eq!(window.status_of(&alpha).await, 410);
    assert_eq!(window.status_of(&charlie).await, 410);
    window.wait_for("#files-empty:not([hidden])").await;
    assert!(!window.is_shown("#details").await);
    window.close().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a display, tauri-driver and WebKitWebDriver: run by ./dev test"]
async fn bulk_public_warns_of_limited_links_and_says_what_failed() {
    let window = Window::open().await;
    let ids = add_files(&window, &NAMES[..3]).await;
    let vault = window.vault();
    let limited = NewLink { max_downloads: Some(1), ..NewLink::default() };
    vault.create_link(&ids[0].1, limited, now(), None).unwrap();
    let is_public = |i: usize| vault.file(&ids[i].1).unwrap().file.public;
    window.click(Locator::Css(&row(&ids, "alpha.txt"))).await;
    window.press_ctrl('a').await;
    window.read_until("#bulk-title", None, |t| t == "3 files selected").await;
    assert_eq!(window.read_until("#bulk-meta", None, |_| true).await, "2.9 KiB in all · all private");

    // Going public warns of the limited link; Cancel keeps all three private.
    window.open_dialog(Locator::Css("#bulk-public"), "Make 3 files public?").await;
    let body = window.wait_for("#dialog-body").await.text().await.unwrap();
    assert!(body.contains("One of these files has an active link that limits"), "{body}");
    assert!(body.contains("those limits no longer protect it"), "{body}");
    picture(&window, "public-selection-warning").await;
    window.press(Key::Escape).await;
    window.dialog_settled().await;
    assert!(!is_public(0) && !is_public(1) && !is_public(2), "Escape kept them private");

    // Confirmed, after the CLI removed one meanwhile: the other two are public, the third named.
    window.open_dialog(Locator::Css("#bulk-public"), "Make 3 files public?").await;
    vault.remove_file(&ids[1].1).unwrap();
    window.read_until("#files-count", None, |c| c == "2").await;
    window.click(Locator::Css("#dialog-ok")).await;
    window.dialog_settled().await;
    window
        .toast("Made 2 of 3 files public. Not changed: “bravo.txt”, no longer in Sharelock (removed elsewhere).")
        .await;
    assert!(is_public(0) && is_public(2));
    window.read_until("#bulk-meta", None, |m| m.ends_with("all public")).await;
    assert_eq!(selected(&window).await, ["alpha.txt", "charlie.txt"], "the selection stays on what is left");

    // Private again needs no question.
    window.click(Locator::Css("#bulk-private")).await;
    window.toast("Made 2 files private").await;
    assert!(!is_public(0) && !is_public(2));
    assert!(!window.is_shown("#dialog[open]").await);

    // One link to both: a share, its zip's URL copied, its files in the list's order.
    assert_eq!(window.read_until("#share-create", None, |t| t == "Link to 2 files").await, "Link to 2 files");
    window.type_into("#share-name", "Both of them").await;
    window.screenshot("link-to-selection").await;
    window.click(Locator::Css("#share-create")).await;
    window.toast("Link to 2 files copied to the clipboard").await;
    let url = window.clipboard().await;
    assert!(url.ends_with("/Both%20of%20them.zip"), "{url}");
    let share = vault.links(None, now()).unwrap().into_iter().find(|l| l.url == url).expect("the share");
    let listed: Vec<&str> = share.files.as_ref().unwrap().iter().map(|f| f.name.as_str()).collect();
    assert_eq!(listed, ["alpha.txt", "charlie.txt"]);
    assert_eq!(window.status_of(&url).await, 200);
    window.close().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a display, tauri-driver and WebKitWebDriver: run by ./dev test"]
async fn two_thousand_files_select_all_draw_only_the_rows_in_view_and_go_in_one_command() {
    let window = Window::open().await;
    let vault = window.vault();
    let folder = window.work_dir().join("many");
    std::fs::create_dir(&folder).unwrap();
    for i in 0..2_000 {
        std::fs::write(folder.join(format!("scan {i:04}.pdf")), format!("page {i}")).unwrap();
    }
    for path in sharelock::vault::expand_paths(&[folder]).unwrap() {
        vault.add_file(&path, false, now(), &mut |_| {}).unwrap();
    }
    window.read_until("#files-count", None, |c| c == "2000").await;
    window.click(Locator::Css(".file-row")).await;
    window.press_ctrl('a').await;
    window.read_until("#bulk-title", None, |t| t == "2000 files selected").await;
    let drawn = "return [document.querySelectorAll('#rows .file-row').length,
        document.querySelectorAll('#rows .file-row[aria-selected=true]').length,
        document.getElementById('files-table').getAttribute('aria-rowcount')];";
    let drawn = window.run(drawn, vec![]).await;
    let rows = drawn[0].as_u64().unwrap();
    assert!(rows < 60, "only the rows in view are drawn, not {rows}");
    assert_eq!(drawn[1].as_u64(), Some(rows), "every row drawn is selected");
    assert_eq!(drawn[2], json!("2001"), "the grid counts all rows and the head");
    // With a scrollbar beside the rows, each header still sits over its column.
    fits(&window, "select-2000").await;
    // The last row, scrolled to: drawn and selected too.
    window.run("const r = document.getElementById('rows'); r.scrollTop = r.scrollHeight;", vec![]).await;
    window.wait_for(r#".file-row.selected[aria-rowindex="2001"]"#).await;

    window.press(Key::Delete).await;
    window.dialog_opened("Remove 2000 files?").await;
    window.click(Locator::Css("#dialog-ok")).await;
    window.dialog_settled().await;
    window.toast("Removed 2000 files").await;
    assert!(vault.files().unwrap().is_empty());
    window.wait_for("#files-empty:not([hidden])").await;
    window.close().await;
}
