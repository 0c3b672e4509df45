//! The Files list's orders with thousands of files: each column's order, each way round, and
//! each filter, are what one fresh stable sort of the whole list gives, ties included, however
//! the window works them out (kept orders, the reverse of one, names sorted by a worker).

use std::time::{Duration, Instant};

use fantoccini::Locator;
use fantoccini::key::Key;
use serde_json::{Value, json};

use crate::support::Window;

/// More files than the window sorts by name on its own thread (it hands them to a worker).
const FILES: usize = 2_400;

/// The reference: the list as the window showed it before orders were kept, one stable sort of
/// every file the core listed (the comparison turned round for descending), then the filter.
/// Names compare with the window's collator (`nameOrder`): which language order is right is not
/// this test's subject, only that every path gives the same one.
const CHECK: &str = "
    const { key, desc } = state.sort;
    const needle = state.filter.trim().toLowerCase();
    const order = (a, b) => {
        const x = a[key] ?? '', y = b[key] ?? '';
        const o = key === 'name' ? nameOrder.compare(x, y) : (x === y ? 0 : x < y ? -1 : 1);
        return desc ? -o : o;
    };
    const want = [...state.files].filter((f) => !needle || f.name.toLowerCase().includes(needle)).sort(order);
    const first = [...document.querySelectorAll('#rows .file-row')].sort((a, b) => a.offsetTop - b.offsetTop)[0];
    return {
        sort: `${key}:${desc}`,
        same: want.length === state.shown.length && want.every((f, i) => f.id === state.shown[i].id),
        shown: state.shown.length,
        firstRow: first ? first.getAttribute('aria-label') : null,
        firstWanted: want.length ? want[0].name : null,
    };";

async fn check(window: &Window, sort: &str, shown: usize) {
    let got = window.run(CHECK, vec![]).await;
    assert_eq!(got["sort"], json!(sort), "{got}");
    assert_eq!(got["same"], json!(true), "{sort}: the order differs from a fresh sort: {got}");
    assert_eq!(got["shown"], json!(shown), "{got}");
    assert_eq!(got["firstRow"], got["firstWanted"], "{sort}: the first row drawn: {got}");
}

async fn sort_by(window: &Window, key: &str) {
    window.click(Locator::Css(&format!(r#".table-head .sort[data-sort="{key}"]"#))).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a display, tauri-driver and WebKitWebDriver: run by ./dev test"]
async fn each_order_and_filter_of_thousands_of_files_is_what_one_fresh_sort_gives() {
    let window = Window::open().await;
    // Names the collator has rules for (case and accents ignored, numbers by value), with many
    // that compare equal ("file12.txt" and "File12.txt"; "Zebra" ten ways), and sizes with many
    // ties; every file is added in one call, so most share their date added too.
    let folder = window.work_dir().join("many");
    std::fs::create_dir(&folder).unwrap();
    let paths: Vec<_> = (0..FILES)
        .map(|i| {
            let name = match i % 4 {
                0 => format!("file{i}.txt"),
                1 => format!("File{}.txt", i - 1),
                2 => format!("émile {i}.txt"),
                _ => format!("Zebra {}.txt", i % 10),
            };
            let path = folder.join(format!("{i}")).join(name);
            std::fs::create_dir(path.parent().unwrap()).unwrap();
            std::fs::write(&path, vec![b'x'; i * 7 % 13]).unwrap();
            path
        })
        .collect();
    window.vault().add_files(&paths, false, sharelock::time::now(), &mut |_, _| {}, &mut |_| {}).unwrap();
    window.read_until("#files-count", None, |c| c == FILES.to_string()).await;
    check(&window, "created_at:true", FILES).await;

    // The worker's order of names arrives; clicks on Name then use it.
    let started = Instant::now();
    while window.run("return orders.files === state.files && orders.names !== null", vec![]).await != json!(true) {
        assert!(started.elapsed() < Duration::from_secs(30), "the worker never ordered the names");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (key, sort) in [
        ("name", "name:false"),
        ("name", "name:true"),
        ("size", "size:true"),
        ("size", "size:false"),
        ("created_at", "created_at:true"),
        ("created_at", "created_at:false"),
        ("downloads", "downloads:true"),
        ("last_access_at", "last_access_at:true"),
        ("name", "name:false"),
    ] {
        sort_by(&window, key).await;
        check(&window, sort, FILES).await;
    }

    // A filter walks the kept order: the same rows a fresh sort of the matches gives.
    window.type_into("#filter", "ILE 1").await;
    let matches = (0..FILES).filter(|i| i % 4 == 2 && i.to_string().starts_with('1')).count();
    window.read_until("#files-table", Some("aria-rowcount"), |n| n == (matches + 1).to_string()).await;
    check(&window, "name:false", matches).await;
    sort_by(&window, "name").await;
    check(&window, "name:true", matches).await;
    // And clearing it brings every file back in that order.
    window.click(Locator::Css("#filter")).await;
    window.press_ctrl('a').await;
    window.press(Key::Backspace).await;
    window.read_until("#files-table", Some("aria-rowcount"), |n| n == (FILES + 1).to_string()).await;
    check(&window, "name:true", FILES).await;
    let value: Value = window.run("return document.getElementById('filter').value", vec![]).await;
    assert_eq!(value, json!(""));
    window.close().await;
}
