//! Accessibility, checked in the real window: axe-core (the version pinned in `e2e/package.json`,
//! installed there by `npm ci`) runs in the page on every view and every kind of dialog, in the
//! light and the dark scheme, and finds nothing serious or critical; text contrast included
//! (its `color-contrast` rule runs like any other). What axe-core leaves out is measured here:
//! walking each view with Tab, every stop shows a focus ring that stands out from what is around
//! it, and text fields show their edges and legible placeholders.

use std::time::Duration;

use fantoccini::Locator;
use fantoccini::actions::{InputSource, MouseActions, PointerAction};
use fantoccini::key::Key;
use serde_json::{Value, json};
use sharelock::units::Lifetime;
use sharelock::vault::{NewLink, NewSlot};

use crate::support::{Scheme, Window, pattern};

fn now() -> i64 {
    sharelock::time::now()
}

/// The e2e package's folder, where `npm ci` installs axe-core.
fn e2e_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../e2e")
}

/// axe-core's version as `e2e/package.json` pins it.
fn pinned_axe_version() -> String {
    let manifest = std::fs::read_to_string(e2e_dir().join("package.json")).expect("e2e/package.json");
    let manifest: Value = serde_json::from_str(&manifest).expect("e2e/package.json is JSON");
    manifest["devDependencies"]["axe-core"].as_str().expect("axe-core pinned in e2e/package.json").to_owned()
}

/// Puts axe-core into the page and checks it is the pinned version.
async fn load_axe(window: &Window) {
    let path = e2e_dir().join("node_modules/axe-core/axe.min.js");
    let source = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("{}: {e}; install the e2e packages with `npm ci` in e2e/ (./dev test does)", path.display())
    });
    // The script defines `window.axe`; a page reload would lose it, and this app never reloads.
    let version = window.run(&format!("{source}\n;return window.axe ? axe.version : null;"), vec![]).await;
    assert_eq!(version, json!(pinned_axe_version()), "axe-core loaded in the window");
}

/// Runs axe-core on the page (or only inside `scope`, a CSS selector) and summarises: which
/// rules passed, which found something and where.
const RUN_AXE: &str = "return axe.run(arguments[0] || document, { resultTypes: ['violations'] }).then(r => ({
        passes: r.passes.map(p => p.id),
        incomplete: r.incomplete.map(p => ({ id: p.id, nodes: p.nodes.map(n => ({ target: n.target.join(' '), summary: n.failureSummary || '' })) })),
        violations: r.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map(n => ({ target: n.target.join(' '), summary: n.failureSummary })) })),
    }));";

/// What one check looks at.
struct Scene<'a> {
    /// Its name in messages.
    what: &'a str,
    /// The view that must be showing (`files`, `receive`, `inbox`, `settings`).
    view: &'a str,
    /// The title of the dialog that must be open, if any (else none may be).
    dialog: Option<&'a str>,
    /// Part of the page to check (a toast, which goes away by itself), else all of it.
    scope: Option<&'a str>,
}

impl<'a> Scene<'a> {
    fn view(what: &'a str, view: &'a str) -> Scene<'a> {
        Scene { what, view, dialog: None, scope: None }
    }
}

/// Checks the window as it is now with axe-core, in `scheme`, and fails on anything serious or
/// critical, naming each problem, where it is and what to fix. Lesser findings are printed.
async fn check(window: &Window, scheme: Scheme, scene: Scene<'_>) {
    let Scene { what, view, dialog, scope } = scene;
    // The window shows what this check is meant to look at.
    let shown = "const view = document.getElementById('view-' + arguments[0]);
        const open = document.querySelector('#dialog[open]');
        return [!!view && !view.hidden && view.getClientRects().length > 0,
                open ? document.getElementById('dialog-title').textContent : null,
                arguments[1] ? document.querySelector(arguments[1])?.textContent ?? '' : null];";
    let seen = window.run(shown, vec![json!(view), json!(scope)]).await;
    assert_eq!(seen[0], json!(true), "{what}: the {view} view shows");
    assert_eq!(seen[1], json!(dialog), "{what}: the dialog open");
    assert_ne!(seen[2], json!(""), "{what}: {scope:?} shows something");
    let results = tokio::time::timeout(Duration::from_secs(60), window.run(RUN_AXE, vec![json!(scope)]))
        .await
        .unwrap_or_else(|_| panic!("{what}: axe-core finished within a minute"));
    let ids = |key: &str| -> Vec<String> {
        results[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap_or_else(|| r["id"].as_str().unwrap()).to_owned())
            .collect()
    };
    let (passes, violations) = (ids("passes"), ids("violations"));
    // A check that ran nothing proves nothing: axe ran its rules, contrast among them.
    let enough = if scope.is_some() { 5 } else { 20 };
    assert!(passes.len() + violations.len() >= enough, "{what}: axe-core ran only {passes:?} {violations:?}");
    let contrast_checked = passes.iter().chain(&violations).any(|id| id == "color-contrast");
    assert!(contrast_checked, "{what}: axe-core checked no text contrast");

    let mut serious = Vec::new();
    for violation in results["violations"].as_array().unwrap() {
        let mut text = format!("{} ({}): {}", violation["id"], violation["impact"], violation["help"]);
        for node in violation["nodes"].as_array().unwrap() {
            text.push_str(&format!(
                "\n    on {}\n      {}",
                node["target"],
                node["summary"].as_str().unwrap_or("").replace('\n', "\n      ")
            ));
        }
        if matches!(violation["impact"].as_str(), Some("serious" | "critical")) {
            serious.push(text);
        } else {
            eprintln!("{what} ({scheme:?}), not failing: {text}");
        }
    }
    for unsure in results["incomplete"].as_array().unwrap() {
        eprintln!("{what} ({scheme:?}), axe-core could not decide: {} at {}", unsure["id"], unsure["nodes"]);
    }
    assert!(serious.is_empty(), "{what} ({scheme:?}): axe-core found\n  {}", serious.join("\n  "));
    eprintln!(
        "{what} ({scheme:?}): {} axe-core rules passed, {} found something minor",
        passes.len(),
        violations.len()
    );
}

/// Checks that WebKit really reports `scheme` to the page and the page really took it: the
/// media query, and the background colour the style sheet gives each scheme.
async fn assert_scheme(window: &Window, scheme: Scheme) {
    let seen = window
        .run(
            "return [matchMedia('(prefers-color-scheme: dark)').matches, getComputedStyle(document.body).backgroundColor]",
            vec![],
        )
        .await;
    let expected = match scheme {
        Scheme::Light => json!([false, "rgb(244, 245, 247)"]),
        Scheme::Dark => json!([true, "rgb(21, 24, 28)"]),
    };
    assert_eq!(seen, expected, "the window shows the {scheme:?} scheme");
}

/// Saves the whole screen as `a11y-<scheme>-<name>` for people to look at, once the window has
/// painted what it shows now, with the mouse out of the way (a tooltip left by the last click
/// would hide part of it).
async fn picture(window: &Window, scheme: Scheme, name: &str) {
    let away = MouseActions::new("mouse".into()).then(PointerAction::MoveTo { duration: None, x: 1.0, y: 1.0 });
    window.client.perform_actions(away).await.expect("move the mouse");
    window.client.release_actions().await.expect("release the mouse");
    window.run("return new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))", vec![]).await;
    window.screen(&format!("a11y-{}-{name}", format!("{scheme:?}").to_lowercase()));
}

/// Every view, dialog and toast of the window in `scheme`, with content in each.
async fn every_view_passes_axe(scheme: Scheme) {
    // Started on a taken port: the banner that says the server is not running shows first.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let window = Window::open_on_port_in(taken.local_addr().unwrap().port(), scheme).await;
    assert_scheme(&window, scheme).await;
    load_axe(&window).await;

    window.read_until("#server-banner", None, |t| t.contains("not running")).await;
    window.read_until("#files-empty h2", None, |t| t == "No files yet").await;
    check(&window, scheme, Scene::view("Files, empty, server stopped", "files")).await;
    picture(&window, scheme, "server-stopped").await;
    focus_rings(&window, "Files, empty, server stopped").await;
    window.click(Locator::Css("#banner-fix")).await;
    let serving = window.read_until("#server-text", None, |t| t.starts_with("Serving at ")).await;
    let base = serving.trim_start_matches("Serving at ").to_owned();
    assert!(!window.is_shown("#server-banner").await);
    drop(taken);
    check(&window, scheme, Scene::view("Files, empty", "files")).await;
    focus_rings(&window, "Files, empty").await;

    // Files of every kind: private, public, received; one selected, with links in every state.
    let vault = window.vault();
    let source = window.work_dir().join("Budget 2027.xlsx");
    std::fs::write(&source, pattern(5_000)).unwrap();
    vault.add_file(&source, true, now(), &mut |_| {}).unwrap();
    let slot = vault
        .create_slot(NewSlot { label: Some("Tax papers".into()), ..NewSlot::default() }, now(), Some(&base))
        .unwrap();
    let (to, query) = slot.url.split_once('?').expect("an upload URL with a query");
    let put = reqwest::Client::new().put(format!("{to}/scan.pdf?{query}")).body("%PDF-1.4").send().await.unwrap();
    assert_eq!(put.status().as_u16(), 201);
    let closed = vault.create_slot(NewSlot::default(), now(), Some(&base)).unwrap();
    vault.close_slot(&closed.slot.id, now()).unwrap();
    let file = window.add_file("Quarterly report Q3.pdf", 30_000).await;
    // Not `Window::create_link`: the server moved off the port the window started on.
    window.click(Locator::Css("#create-link")).await;
    window.read_until("#d-links .link .link-url", Some("title"), |u| u.starts_with(&format!("{base}/d/"))).await;
    let revoked =
        vault.create_link(&file, NewLink { label: Some("Dana".into()), ..Default::default() }, now(), None).unwrap();
    vault.revoke_link(&revoked.link.id, now()).unwrap();
    let expiring = NewLink { lifetime: Some(Lifetime::For(Duration::from_secs(60))), ..Default::default() };
    vault.create_link(&file, expiring, now() - 3600, None).unwrap();
    let used_up =
        vault.create_link(&file, NewLink { max_downloads: Some(1), ..Default::default() }, now(), None).unwrap();
    assert_eq!(window.status_of(&used_up.url).await, 200);
    window.read_until("#d-links li[data-status=used_up] .item-meta", None, |m| m.starts_with("Used up")).await;
    window.read_until("#d-links", None, |t| t.contains("Revoked") && t.contains("Expired")).await;
    window.wait_for(r#".file-row[aria-label="scan.pdf"]"#).await;
    window.wait_for(r#".file-row.selected[aria-label="Quarterly report Q3.pdf"]"#).await;
    check(&window, scheme, Scene::view("Files, a selected file with links", "files")).await;
    picture(&window, scheme, "files").await;
    focus_rings(&window, "Files, a selected file with links").await;
    fields_stand_out(&window, "Files, a selected file with links").await;
    actions_name_their_item(&window, "#d-links").await;

    // An info toast, checked while it shows.
    window.click(Locator::XPath("//ul[@id='d-links']//button[text()='Copy link']")).await;
    window.toast("Link copied to the clipboard").await;
    check(&window, scheme, Scene { scope: Some("#toasts"), ..Scene::view("Info toast", "files") }).await;

    // Each kind of dialog: a destructive confirm, the QR code, the expiry, limit and password editors.
    let dialogs = [
        ("Revoke", "Revoke this link?"),
        ("QR code", "Scan to download"),
        ("Expiry…", "Change the expiry"),
        ("Limit…", "Download limit"),
        ("Password…", "Link password"),
    ];
    for (button, title) in dialogs {
        let opener = format!("//ul[@id='d-links']/li[@data-status='active']//button[text()='{button}']");
        window.open_dialog(Locator::XPath(&opener), title).await;
        if button == "QR code" {
            window.wait_for("#qr-image svg").await;
        }
        if button == "Expiry…" {
            // With the date field showing, as when a date is chosen.
            window.click(Locator::Css(r#"#extend-choice option[value="custom"]"#)).await;
            assert!(window.is_shown("#extend-date").await);
        }
        let what = format!("Dialog “{title}”");
        check(&window, scheme, Scene { dialog: Some(title), ..Scene::view(&what, "files") }).await;
        picture(&window, scheme, &format!("dialog-{}", button.trim_end_matches('…').replace(' ', "-").to_lowercase()))
            .await;
        focus_rings(&window, &what).await;
        if matches!(button, "Expiry…" | "Limit…" | "Password…") {
            fields_stand_out(&window, &what).await;
        }
        window.press(Key::Escape).await;
        window.dialog_settled().await;
        // The keyboard goes on from where it was: the button that opened the dialog.
        let focus =
            "const e = document.activeElement; return e.closest('#d-links li') ? e.textContent : e.id || e.tagName;";
        assert_eq!(window.run(focus, vec![]).await, json!(button), "{what}: the focus back on its button");
    }

    // Receive, with an open and a closed upload link; then an error toast from a bad size.
    window.click(Locator::Css(r#".nav-item[data-view="receive"]"#)).await;
    window.read_until("#slots", None, |t| t.contains("Tax papers") && t.contains("closed")).await;
    check(&window, scheme, Scene::view("Receive with upload links", "receive")).await;
    picture(&window, scheme, "receive").await;
    focus_rings(&window, "Receive with upload links").await;
    fields_stand_out(&window, "Receive with upload links").await;
    actions_name_their_item(&window, "#slots").await;
    // Bad input is said at its field.
    window.type_into("#s-max-size", "lots").await;
    window.click(Locator::Css("#create-slot")).await;
    window.find(Locator::Css("#s-max-size[aria-invalid=true]")).await;
    check(&window, scheme, Scene::view("Receive, a field error", "receive")).await;
    picture(&window, scheme, "field-error").await;

    // An error toast: a file removed from the command line while the window asks about it.
    window.click(Locator::Css(r#".nav-item[data-view="files"]"#)).await;
    let budget = window.vault().files().unwrap().into_iter().find(|f| f.file.name == "Budget 2027.xlsx").unwrap();
    window.click(Locator::Css(&format!(r#".file-row[data-id="{}"]"#, budget.file.id))).await;
    window.open_dialog(Locator::Css("#d-remove"), "Remove this file?").await;
    window.vault().remove_file(&budget.file.id).unwrap();
    window.click(Locator::Css("#dialog-ok")).await;
    window.dialog_settled().await;
    window.find(Locator::Css(".toast.error")).await;
    check(&window, scheme, Scene { scope: Some("#toasts"), ..Scene::view("Error toast", "files") }).await;
    picture(&window, scheme, "error-toast").await;

    // Inbox, with what was received.
    window.click(Locator::Css(r#".nav-item[data-view="inbox"]"#)).await;
    window.read_until("#inbox .received-file .title", None, |name| name == "scan.pdf").await;
    check(&window, scheme, Scene::view("Inbox with received files", "inbox")).await;
    picture(&window, scheme, "inbox").await;
    focus_rings(&window, "Inbox with received files").await;
    actions_name_their_item(&window, "#inbox").await;

    // Settings.
    window.click(Locator::Css(r#".nav-item[data-view="settings"]"#)).await;
    window.read_until("#settings-title", None, |t| t == "Settings").await;
    window.read_until("#set-data-dir", None, |t| !t.is_empty()).await;
    check(&window, scheme, Scene::view("Settings", "settings")).await;
    picture(&window, scheme, "settings").await;
    focus_rings(&window, "Settings").await;
    fields_stand_out(&window, "Settings").await;
    window.close().await;
}

/// Colour arithmetic for the page's own checks, as WCAG defines it: `rgba` reads a computed
/// colour, `contrast` gives the ratio of two, `backgroundOf` the first opaque background from an
/// element outwards, `nameOf` a name for an element in a failure message.
const COLOURS: &str = "
    const rgba = (c) => {
        const n = c.match(/[\\d.]+/g).map(Number);
        return c.startsWith('color(') ? [n[0] * 255, n[1] * 255, n[2] * 255, n[3] ?? 1] : [n[0], n[1], n[2], n[3] ?? 1];
    };
    const luminance = ([r, g, b]) => {
        const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
        return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const contrast = (x, y) => {
        const [a, b] = [luminance(x), luminance(y)].sort((p, q) => q - p);
        return Math.round(((a + 0.05) / (b + 0.05)) * 100) / 100;
    };
    const backgroundOf = (element) => {
        for (; element; element = element.parentElement) {
            const c = rgba(getComputedStyle(element).backgroundColor);
            if (c[3] >= 0.99) return c;
        }
        return [255, 255, 255, 1];
    };
    const nameOf = (e) => e.id ? '#' + e.id
        : (e.getAttribute('aria-label') || e.labels?.[0]?.textContent.trim() || e.textContent.trim().slice(0, 40) || e.tagName);";

/// Checks that each text field in view (in the open dialog, if one is) reads as a field: its edge
/// stands out from what is around it by 3:1 at least, and the placeholder of an empty one is as
/// legible as other text (4.5:1 on the field). WebKit gives no computed style for a placeholder,
/// so that is measured on the field as drawn: its commonest colour is the background, and the
/// stems of the letters reach the text's own colour.
async fn fields_stand_out(window: &Window, what: &str) {
    let script = format!(
        "{COLOURS}
        const fields = [...(document.querySelector('dialog[open]') || document)
            .querySelectorAll('input:not([type=checkbox]):not([type=radio]), textarea')]
            .filter(f => f.getClientRects().length > 0);
        // Unfocused, so no ring or caret is drawn over the placeholder.
        document.activeElement?.blur();
        return fields.map((f, i) => ({{ name: (f.dataset.e2eField = i, nameOf(f)),
            edge: contrast(rgba(getComputedStyle(f).borderTopColor), backgroundOf(f.parentElement)),
            // A dialog is drawn above the page, where WebDriver's screenshot does not reach.
            placeholder: f.placeholder !== '' && f.value === '' && !f.closest('dialog') }}));"
    );
    let fields = window.run(&script, vec![]).await;
    let fields = fields.as_array().unwrap();
    assert!(!fields.is_empty(), "{what}: no field to check");
    let mut placeholders = Vec::new();
    for (index, field) in fields.iter().enumerate() {
        let name = field["name"].as_str().unwrap();
        let edge = field["edge"].as_f64().unwrap();
        assert!(edge >= 3.0, "{what}: the edge of {name} stands out only {edge}:1");
        if field["placeholder"] == json!(true) {
            // The page as WebDriver draws it (WebKit's picture of one element comes out blank),
            // cut to the field, scrolled into view.
            let place = "const f = document.querySelector(`[data-e2e-field='${arguments[0]}']`);
                f.scrollIntoView({ block: 'nearest' }); const r = f.getBoundingClientRect();
                const rect = [r.left, r.top, r.width, r.height].map(v => Math.round(v * devicePixelRatio));
                // Painted where it now is before the picture is taken.
                return new Promise(done => requestAnimationFrame(() => requestAnimationFrame(() => done(rect))));";
            let rect = window.run(place, vec![json!(index)]).await;
            let rect: Vec<usize> = rect.as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
            let png = window.client.screenshot().await.unwrap_or_else(|e| panic!("{what}: screenshot: {e}"));
            let ratio = drawn_text_contrast(&png, [rect[0], rect[1], rect[2], rect[3]]);
            assert!(ratio >= 4.5, "{what}: the placeholder of {name} has only {ratio:.2}:1");
            placeholders.push(format!("{name} {ratio:.1}:1"));
        }
    }
    window.run("document.querySelectorAll('[data-e2e-field]').forEach(f => delete f.dataset.e2eField)", vec![]).await;
    eprintln!("{what}: {} fields with a clear edge; placeholders {placeholders:?}", fields.len());
}

/// The contrast of the text drawn in a field (at `[left, top, width, height]` of a PNG of the
/// page) with the field's background: the strongest colour in the field's left part (away from
/// its border and from a number field's arrows) against the commonest one.
fn drawn_text_contrast(png: &[u8], [left, top, width, height]: [usize; 4]) -> f64 {
    let mut reader = png::Decoder::new(std::io::Cursor::new(png)).read_info().expect("a PNG");
    let mut pixels = vec![0; reader.output_buffer_size().expect("a PNG of sane size")];
    let frame = reader.next_frame(&mut pixels).expect("a PNG frame");
    assert_eq!(frame.bit_depth, png::BitDepth::Eight, "8-bit colour");
    let channels = frame.color_type.samples();
    let mut counts = std::collections::HashMap::new();
    let mut colours = Vec::new();
    assert!(left + width <= frame.width as usize && top + height <= frame.height as usize, "the field is in view");
    for y in top + 4..top + height.saturating_sub(4) {
        for x in left + 4..left + width * 3 / 5 {
            let at = y * frame.line_size + x * channels;
            let colour = [pixels[at], pixels[at + 1], pixels[at + 2]];
            *counts.entry(colour).or_insert(0) += 1;
            colours.push(colour);
        }
    }
    let background = *counts.iter().max_by_key(|(_, n)| **n).expect("pixels").0;
    colours.iter().map(|c| contrast(*c, background)).fold(1.0, f64::max)
}

/// WCAG's contrast ratio of two sRGB colours.
fn contrast(a: [u8; 3], b: [u8; 3]) -> f64 {
    let luminance = |c: [u8; 3]| {
        let f = |v: u8| {
            let v = f64::from(v) / 255.0;
            if v <= 0.03928 { v / 12.92 } else { ((v + 0.055) / 1.055).powf(2.4) }
        };
        0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2])
    };
    let (x, y) = (luminance(a), luminance(b));
    (x.max(y) + 0.05) / (x.min(y) + 0.05)
}

/// Checks that each button of the items in the list `list` (links, upload links, received files)
/// says which item it acts on, by its description: many read alike ("Expiry…", "Copy link").
async fn actions_name_their_item(window: &Window, list: &str) {
    let script = "return [...document.querySelectorAll(arguments[0] + ' .item-actions button')].map(b => {
            const about = document.getElementById(b.getAttribute('aria-describedby') || '');
            return [b.textContent, about && b.closest('li').contains(about) ? about.textContent.trim() : null];
        });";
    let buttons = window.run(script, vec![json!(list)]).await;
    let buttons = buttons.as_array().unwrap();
    assert!(!buttons.is_empty(), "{list}: no buttons");
    for button in buttons {
        assert!(button[1].as_str().is_some_and(|d| !d.is_empty()), "{list}: {} says not which item", button[0]);
    }
}

/// Walks the view with Tab, from its first stop until the focus comes back round (or leaves the
/// page), and checks each stop shows a ring: drawn (an outline at least 2 px wide, not
/// transparent) and standing out from the background it is drawn on by 3:1 at least (WCAG's
/// contrast for parts of the interface).
async fn focus_rings(window: &Window, what: &str) {
    // From the start of the page, or of the open dialog (its focus stays inside): a stop made
    // for the purpose, focused by script, then the keyboard from there, as a person goes.
    let start = "const start = document.createElement('span'); start.id = 'e2e-start'; start.tabIndex = 0;
        window.e2eStops = new Set([start]); window.e2eLast = start;
        (document.querySelector('dialog[open] form') || document.body).prepend(start); start.focus();";
    window.run(start, vec![]).await;
    let inspect = format!(
        "{COLOURS}
        const e = document.activeElement;
        if (!e || e === document.body) return null;
        // Tab goes through a date field's parts (day, month...) with the field focused all along.
        if (e === window.e2eLast) return 'same';
        window.e2eLast = e;
        // Back at a stop already seen: round the whole view.
        if (window.e2eStops.has(e)) return 'round';
        window.e2eStops.add(e);
        const s = getComputedStyle(e);
        // A ring drawn inside the element lies on its own background, else on what is behind it.
        const background = backgroundOf(parseFloat(s.outlineOffset) < 0 ? e : e.parentElement);
        const ring = rgba(s.outlineColor);
        return {{ name: nameOf(e), style: s.outlineStyle, width: parseFloat(s.outlineWidth), alpha: ring[3],
                 contrast: contrast(ring, background) }};"
    );
    let mut seen: Vec<String> = Vec::new();
    for _ in 0..80 {
        window.press(Key::Tab).await;
        let stop = window.run(&inspect, vec![]).await;
        if stop == json!("round") || (stop.is_null() && !seen.is_empty()) {
            break;
        }
        if stop.is_null() || stop == json!("same") {
            continue;
        }
        let name = stop["name"].as_str().unwrap().to_owned();
        let drawn = stop["style"] != json!("none")
            && stop["width"].as_f64().unwrap() >= 2.0
            && stop["alpha"].as_f64().unwrap() > 0.5;
        assert!(drawn, "{what}: no focus ring on {name}: {stop}");
        let contrast = stop["contrast"].as_f64().unwrap();
        assert!(contrast >= 3.0, "{what}: the focus ring on {name} stands out only {contrast}:1 from its background");
        seen.push(name);
    }
    window.run("document.getElementById('e2e-start').remove()", vec![]).await;
    assert!(seen.len() >= 3, "{what}: Tab reached only {seen:?}");
    eprintln!("{what}: a focus ring on each of {} stops: {seen:?}", seen.len());
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a display, tauri-driver and WebKitWebDriver: run by ./dev test"]
async fn every_view_and_dialog_passes_axe_in_the_light_scheme() {
    every_view_passes_axe(Scheme::Light).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a display, tauri-driver and WebKitWebDriver: run by ./dev test"]
async fn every_view_and_dialog_passes_axe_in_the_dark_scheme() {
    every_view_passes_axe(Scheme::Dark).await;
}
