//! What the window says about how many files there are: the sidebar counts follow changes made
//! elsewhere, and an empty list says why it is empty instead of showing a bare table.

use fantoccini::Locator;
use sharelock::vault::NewSlot;

use crate::support::{Window, pattern};

fn now() -> i64 {
    sharelock::time::now()
}

/// How far the centre of the element matching `css` is from the centre of the space under the
/// files toolbar (where the table would be), in pixels, across and down.
async fn off_centre(window: &Window, css: &str) -> (f64, f64) {
    let script = "const e = document.querySelector(arguments[0]).getBoundingClientRect();
        const list = document.querySelector('.files-list').getBoundingClientRect();
        const top = document.querySelector('.files-list .toolbar').getBoundingClientRect().bottom;
        return [(e.left + e.right - list.left - list.right) / 2, (e.top + e.bottom - top - list.bottom) / 2];";
    let offsets = window.run(script, vec![serde_json::json!(css)]).await;
    (offsets[0].as_f64().unwrap(), offsets[1].as_f64().unwrap())
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a display, tauri-driver and WebKitWebDriver: run by ./dev test"]
async fn counts_follow_changes_from_elsewhere_and_empty_lists_say_why() {
    let window = Window::open().await;

    // First run: the empty state in the middle of the list's space, no column headers above it.
    window.read_until("#files-empty h2", None, |t| t == "No files yet").await;
    assert!(!window.is_shown(".table-head").await, "no column headers over an empty table");
    assert!(!window.is_shown("#files-no-match").await);
    let (across, down) = off_centre(&window, "#files-empty").await;
    assert!(across.abs() < 4.0, "the empty state is centred across, off by {across} px");
    // Less than a row's height off vertically: the message sits a little above the middle.
    assert!(down.abs() < 44.0, "the empty state is centred down, off by {down} px");
    window.screen("first-run");

    // A file added by another process (the CLI's way: the data dir opened through the core)
    // counts while another view is open, and the list shows it when the user comes back.
    window.click(Locator::Css(r#".nav-item[data-view="settings"]"#)).await;
    let vault = window.vault();
    let source = window.work_dir().join("Budget 2027.xlsx");
    std::fs::write(&source, pattern(5_000)).unwrap();
    vault.add_file(&source, false, now(), &mut |_| {}).unwrap();
    window.read_until("#files-count", None, |t| t == "1").await;

    // A file uploaded over HTTP counts in Files and in the Inbox badge, still from Settings.
    let base = format!("http://127.0.0.1:{}", window.app_port);
    let slot = vault.create_slot(NewSlot::default(), now(), Some(&base)).unwrap();
    window.read_until("#slots-count", None, |t| t == "1").await;
    let (to, query) = slot.url.split_once('?').expect("an upload URL with a query");
    let put = reqwest::Client::new().put(format!("{to}/scan.pdf?{query}")).body("%PDF-1.4").send().await.unwrap();
    assert_eq!(put.status().as_u16(), 201);
    window.read_until("#files-count", None, |t| t == "2").await;
    window.read_until("#inbox-badge", None, |t| t == "1").await;

    // Back in Files: the table with both, headers and all, and no empty state.
    window.click(Locator::Css(r#".nav-item[data-view="files"]"#)).await;
    window.wait_for(r#".file-row[aria-label="scan.pdf"]"#).await;
    assert!(window.is_shown(".table-head").await);
    assert!(!window.is_shown("#files-empty").await);

    // A filter that matches nothing says so, in place of an empty table.
    // Typed a key at a time, the message follows each: "x", "xy", then the whole filter.
    window.type_into("#filter", "xyz").await;
    window.read_until("#no-match-text", None, |t| t == "No file matches “xyz”").await;
    assert!(!window.is_shown(".table-head").await, "no headers over a table with no match");
    assert!(!window.is_shown("#files-empty").await, "not the first-run message");
    let (across, _) = off_centre(&window, "#files-no-match").await;
    assert!(across.abs() < 4.0, "the no-match message is centred, off by {across} px");
    window.screen("no-match");

    // A filter that matches shows the match only.
    window.type_into("#filter", "BUDGET").await;
    window.wait_for(r#".file-row[aria-label="Budget 2027.xlsx"]"#).await;
    assert!(!window.is_shown("#files-no-match").await);
    let rows = window.run("return document.querySelectorAll('.file-row').length", vec![]).await;
    assert_eq!(rows, serde_json::json!(1));
    window.close().await;
}
