//! The files view fits the window, from its minimum width (820 px) up: no column header drawn
//! over the details, no cell, header, button or placeholder cut off. Below 1,000 px the details
//! take the place of the list (one pane at a time) and Back returns to the list.

use fantoccini::Locator;
use fantoccini::key::Key;
use serde_json::json;

use crate::support::Window;

/// What is wrong with the files view as drawn now: each visible part is checked against its
/// container (inside it, overlapping nothing beside it) and, where its text must show whole,
/// against its own content (`scrollWidth <= clientWidth`). Empty when all is well.
const PROBLEMS: &str = r#"
const problems = [];
const shown = (e) => !!e && e.getClientRects().length > 0;
const box = (e) => e.getBoundingClientRect();
const name = (e) => e.id ? `#${e.id}` : `${e.tagName.toLowerCase()}.${[...e.classList].join('.')}${e.childElementCount <= 1 ? ` "${e.textContent.trim().slice(0, 24)}"` : ''}`;
const inside = (e, outer) => {
  const a = box(e), b = box(outer);
  if (a.left < b.left - 0.5 || a.right > b.right + 0.5 || a.top < b.top - 0.5 || a.bottom > b.bottom + 0.5)
    problems.push(`${name(e)} [${a.left},${a.right}] sticks out of ${name(outer)} [${b.left},${b.right}]`);
};
const apart = (e, f) => {
  const a = box(e), b = box(f);
  if (a.left < b.right - 0.5 && b.left < a.right - 0.5 && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5)
    problems.push(`${name(e)} overlaps ${name(f)}`);
};
const whole = (e) => { if (e.scrollWidth > e.clientWidth) problems.push(`${name(e)} is cut: ${e.scrollWidth} > ${e.clientWidth}`); };
const all = (css, root = document) => [...root.querySelectorAll(css)].filter(shown);

const content = document.querySelector('.content');
const list = document.querySelector('.files-list');
const details = document.getElementById('details');
if (shown(list)) inside(list, content);
if (shown(details)) inside(details, content);
if (shown(list) && shown(details)) apart(list, details);

if (shown(list)) {
  // The toolbar: the title and the filter side by side, the placeholder whole.
  const title = document.getElementById('files-title');
  const filter = document.getElementById('filter');
  inside(title, list); inside(filter, list); apart(title, filter);
  const style = getComputedStyle(filter);
  const measure = document.createElement('canvas').getContext('2d');
  measure.font = `${style.fontStyle} ${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
  const text = measure.measureText(filter.placeholder).width;
  const room = filter.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  if (text > room) problems.push(`the filter's placeholder needs ${text} px, has ${room}`);

  // The column headers and the cells of the first visible row: inside the list, one beside the
  // other, each under its header, none cut (the name shortens with an ellipsis by design).
  const heads = all('.table-head [role=columnheader]');
  const row = all('.file-row').sort((a, b) => a.offsetTop - b.offsetTop)[0];
  const cells = row ? all('[role=gridcell]', row) : [];
  if (heads.length < 4) problems.push(`only ${heads.length} column headers shown`);
  if (row && cells.length !== heads.length) problems.push(`${heads.length} headers but ${cells.length} cells`);
  for (const group of [heads, cells]) {
    group.forEach((e, i) => { inside(e, list); if (i) apart(group[i - 1], e); });
  }
  for (const head of heads) whole(head.querySelector('button'));
  cells.forEach((cell, i) => {
    if (!cell.classList.contains('name')) whole(cell);
    const head = heads[i];
    if (head && (Math.abs(box(head).left - box(cell).left) > 1 || Math.abs(box(head).right - box(cell).right) > 1))
      problems.push(`${name(cell)} is not under its header ${name(head)}`);
  });
}

if (shown(details)) {
  // Every button and heading of the details shows whole, inside the panel.
  for (const e of all('button, h2, h3, label.switch, select, input:not([type=checkbox])', details)) {
    const a = box(e), b = box(details);
    if (a.left < b.left - 0.5 || a.right > b.right + 0.5) problems.push(`${name(e)} sticks out of the details`);
    if (e.tagName === 'BUTTON') whole(e);
  }
}
return problems;
"#;

/// Resizes the window and waits until the page has the new width and has drawn its rows again.
pub(crate) async fn resize(window: &Window, width: u32, height: u32) {
    window.client.set_window_size(width, height).await.unwrap_or_else(|e| panic!("resize to {width}x{height}: {e}"));
    let settled = "return new Promise(done => { const check = (n) => {
            if (window.innerWidth === arguments[0] || n > 100) requestAnimationFrame(() => setTimeout(() => done(window.innerWidth), 120));
            else setTimeout(() => check(n + 1), 30);
        }; check(0); })";
    let inner = window.run(settled, vec![json!(width)]).await;
    assert_eq!(inner, json!(width), "the page is {width} px wide");
}

/// Checks the view as it is now, and saves a picture of it named `shot`.
pub(crate) async fn fits(window: &Window, shot: &str) {
    let problems = window.run(PROBLEMS, vec![]).await;
    // The screen shows what the page drew a moment ago: give it that moment.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    window.screen(shot);
    assert_eq!(problems, json!([]), "{shot}");
}

async fn shown(window: &Window, css: &str) -> bool {
    window.is_shown(css).await
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a display, tauri-driver and WebKitWebDriver: run by ./dev test"]
async fn the_files_view_fits_from_the_minimum_width_up_and_folds_into_one_pane() {
    let window = Window::open().await;
    for (name, size) in [
        ("Holiday photos 2026 – the whole family at the lake, uncut.zip", 2_500_000),
        ("Tax return.pdf", 180_000),
        ("notes.txt", 900),
    ] {
        window.add_file(name, size).await;
    }
    let file = window.add_file("Quarterly report Q3.pdf", 1_400_000).await;
    let url = window.create_link().await;
    for _ in 0..12 {
        assert_eq!(window.status_of(&url).await, 200);
    }
    window.read_until("#d-links .link .item-meta", None, |m| m.starts_with("12 downloads")).await;
    let row = format!(r#".file-row[data-id="{file}"]"#);

    for (width, height) in [(1280, 800), (1000, 700), (820, 600)] {
        resize(&window, width, height).await;
        // Nothing selected (Escape): the whole table.
        window.press(Key::Escape).await;
        window.wait_for(".files-layout:not(.with-details)").await;
        assert!(shown(&window, ".file-row .downloads").await, "{width}: every column without details");
        fits(&window, &format!("layout-{width}")).await;
        // Sorted by a column the details drop: it stays, with its arrow.
        if width >= 1000 {
            window.click(Locator::Css(r#".table-head .sort[data-sort="last_access_at"]"#)).await;
            fits(&window, &format!("layout-{width}-by-last-access")).await;
            window.click(Locator::Css(".file-row")).await;
            window.wait_for("#details:not([hidden])").await;
            assert!(shown(&window, ".file-row .last").await, "{width}: the sorted Last access stays");
            fits(&window, &format!("layout-{width}-details-by-last-access")).await;
            window.press(Key::Escape).await;
            window.wait_for(".files-layout:not(.with-details)").await;
        } else {
            // Seven columns do not fit: the last access gives way (a file's details say it).
            assert!(!shown(&window, ".file-row .last").await, "{width}: no Last access column");
        }
        window.click(Locator::Css(r#".table-head .sort[data-sort="downloads"]"#)).await;
        fits(&window, &format!("layout-{width}-by-downloads")).await;

        // A file selected: the details beside the list, or at less than 1,000 px in its place.
        window.click(Locator::Css(&row)).await;
        window.read_until("#d-name", None, |n| n == "Quarterly report Q3.pdf").await;
        window.read_until("#d-links .link .item-meta", None, |m| m.starts_with("12 downloads")).await;
        fits(&window, &format!("layout-{width}-details")).await;
        let folded = width < 1000;
        assert_eq!(shown(&window, ".files-list").await, !folded, "{width}: the list beside the details");
        assert_eq!(shown(&window, "#d-back").await, folded, "{width}: Back only in one pane");
        assert_eq!(shown(&window, "#d-close").await, !folded, "{width}: in one pane, Back instead of Close");
        if !folded {
            window.click(Locator::Css(r#".table-head .sort[data-sort="name"]"#)).await;
            fits(&window, &format!("layout-{width}-details-by-name")).await;
        }
    }

    // One pane: Back returns to the list, the same row selected and focused; the arrows go on
    // from there within the list, and Enter opens the details again.
    window.click(Locator::Css("#d-back")).await;
    window.wait_for(&format!("{row}.selected")).await;
    assert!(!shown(&window, "#details").await, "the list in place of the details");
    for column in ["added", "links", "downloads"] {
        assert!(shown(&window, &format!(".file-row .{column}")).await, "the list alone shows {column} again");
    }
    let focused = "return document.activeElement?.closest('.file-row')?.dataset.id ?? null";
    assert_eq!(window.run(focused, vec![]).await, json!(file), "the row has the focus");
    fits(&window, "layout-820-back").await;
    window.press(Key::Down).await;
    let next = window.run(focused, vec![]).await;
    assert_ne!(next, json!(file), "Down moved on");
    assert!(!shown(&window, "#details").await, "the arrows stay in the list");
    window.press(Key::Enter).await;
    window.wait_for("#details:not([hidden])").await;
    assert_eq!(window.run("return document.querySelector('.file-row.selected').dataset.id", vec![]).await, next);
    assert!(!shown(&window, ".files-list").await);

    // Wide again with a file selected: both panes, no Back.
    resize(&window, 1280, 800).await;
    assert!(shown(&window, ".files-list").await && shown(&window, "#details").await);
    assert!(!shown(&window, "#d-back").await);
    fits(&window, "layout-1280-again").await;
    window.close().await;
}
