//! Links and upload links in daily use: none is made while nothing serves, dead ones say when
//! they died and can be cleared, the new-link form starts afresh for each file (a password
//! link's password can be set and removed later; an image shows its thumbnail in the list), and
//! changing an expiry starts from the one the link has.

use fantoccini::Locator;
use fantoccini::key::Key;
use serde_json::json;
use sharelock::links::LinkStatus;
use sharelock::units::Lifetime;
use sharelock::vault::NewLink;

use crate::support::Window;

fn now() -> i64 {
    sharelock::time::now()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a display, tauri-driver and WebKitWebDriver: run by ./dev test"]
async fn a_taken_port_stops_link_making_until_the_banner_moves_the_server() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let window = Window::open_on_port(port).await;

    let in_use = format!("Port {port} is already in use by another program.");
    let banner = window.read_until("#server-banner", None, |t| t.contains("not running")).await;
    assert!(banner.contains(&in_use), "{banner}");
    let fix = window.read_until("#banner-fix", None, |t| t.starts_with("Use port ")).await;
    let free: u16 = fix.trim_start_matches("Use port ").trim_end_matches(" instead").parse().unwrap();
    assert_ne!(free, port);

    // Link making is off, with the reason beside the button, and nothing gets past it.
    let file = window.add_file("Minutes.pdf", 10_000).await;
    assert_eq!(window.wait_for("#create-link").await.attr("disabled").await.unwrap().as_deref(), Some("true"));
    window.read_until("#l-stopped", None, |t| t.contains("No new links while the server is stopped")).await;
    window.run("document.getElementById('link-form').requestSubmit()", vec![]).await;
    let refused = window
        .run(
            "return window.__TAURI__.core.invoke('create_link', { file_id: arguments[0], expires: '1d' })
                .then(() => 'made', e => e.code)",
            vec![json!(file)],
        )
        .await;
    assert_eq!(refused, json!("server_stopped"));
    window.screen("server-stopped");
    window.click(Locator::Css(r#".nav-item[data-view="receive"]"#)).await;
    assert_eq!(window.wait_for("#create-slot").await.attr("disabled").await.unwrap().as_deref(), Some("true"));
    window.read_until("#s-stopped", None, |t| t.contains("No new upload links")).await;
    assert!(window.vault().links(None, now()).unwrap().is_empty(), "no link was made");
    assert!(window.vault().slots(now()).unwrap().is_empty(), "no upload link was made");

    // One click: the free port is saved, the server runs there, the banner goes, links work.
    window.click(Locator::Css("#banner-fix")).await;
    let serving = format!("Serving at http://127.0.0.1:{free}");
    window.read_until("#server-text", None, |t| t == serving).await;
    assert!(!window.is_shown("#server-banner").await, "the banner is gone");
    assert!(!window.is_shown("#s-stopped").await);
    assert_eq!(window.vault().setting(sharelock::settings::PORT).unwrap(), Some(free.to_string()));
    window.click(Locator::Css(r#".nav-item[data-view="files"]"#)).await;
    window.run("return window.sharelockUi.select(arguments[0])", vec![json!(file)]).await;
    window.click(Locator::Css("#create-link")).await;
    let prefix = format!("http://127.0.0.1:{free}/d/");
    let url = window.read_until("#d-links .link .link-url", Some("title"), |u| u.starts_with(&prefix)).await;
    window.toast("Link copied to the clipboard").await;
    assert_eq!(window.status_of(&url).await, 200);
    drop(taken);
    window.close().await;
}

/// At start the window hears the server's status twice: the `server-status` event and the
/// answer to `app_info`. Here the server starts late and the answer, read while it was still
/// starting, comes after the event (a debug-build delay, `server::SLOW_START_ENV`): the window
/// must keep the newer status, not go back to "Starting the server…" with link making off.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a display, tauri-driver and WebKitWebDriver: run by ./dev test"]
async fn a_status_read_while_the_server_started_does_not_undo_it() {
    let window = Window::open_with_env(&[(sharelock_desktop::server::SLOW_START_ENV, "1".into())]).await;
    // The window is ready only once `app_info` has answered: the late answer is in.
    let serving = format!("Serving at http://127.0.0.1:{}", window.app_port);
    assert_eq!(window.wait_for("#server-text").await.text().await.unwrap(), serving);
    window.add_file("Minutes.pdf", 10_000).await;
    assert_eq!(window.wait_for("#create-link").await.attr("disabled").await.unwrap(), None, "link making is on");
    let url = window.create_link().await;
    assert_eq!(window.status_of(&url).await, 200);
    window.close().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a display, tauri-driver and WebKitWebDriver: run by ./dev test"]
async fn dead_links_say_when_they_died_offer_no_copy_and_can_be_cleared() {
    let window = Window::open().await;
    let file = window.add_file("Lease.pdf", 20_000).await;
    let active_url = window.create_link().await;
    let vault = window.vault();
    let revoked = vault.create_link(&file, NewLink::default(), now(), None).unwrap();
    vault.revoke_link(&revoked.link.id, now()).unwrap();
    let expired = vault
        .create_link(
            &file,
            NewLink { lifetime: Some(Lifetime::For(std::time::Duration::from_secs(60))), ..Default::default() },
            now() - 3600,
            None,
        )
        .unwrap();
    let used_up =
        vault.create_link(&file, NewLink { max_downloads: Some(1), ..Default::default() }, now(), None).unwrap();
    assert_eq!(window.status_of(&used_up.url).await, 200);
    // The window follows the data dir by itself.
    window.read_until("#d-links li[data-status=used_up] .item-meta", None, |m| m.starts_with("Used up")).await;

    // This year, as the window's dates name it.
    let year = window.run("return String(new Date().getFullYear())", vec![]).await.as_str().unwrap().to_owned();
    let revoked_meta =
        window.read_until(&format!("#d-links li[data-id='{}'] .item-meta", revoked.link.id), None, |_| true).await;
    assert!(revoked_meta.starts_with("Revoked ") && revoked_meta.contains(&year), "{revoked_meta}");
    let expired_meta =
        window.read_until(&format!("#d-links li[data-id='{}'] .item-meta", expired.link.id), None, |_| true).await;
    assert!(expired_meta.starts_with("Expired ") && expired_meta.contains(&year), "{expired_meta}");
    let used_meta =
        window.read_until(&format!("#d-links li[data-id='{}'] .item-meta", used_up.link.id), None, |_| true).await;
    assert!(used_meta.starts_with("Used up: 1 of 1 downloads"), "{used_meta}");
    for meta in [&revoked_meta, &expired_meta, &used_meta] {
        assert!(!meta.contains("expires in"), "a dead link does not promise a future: {meta}");
    }
    for dead in [&revoked, &expired, &used_up] {
        let buttons = window.link_buttons(&dead.link.id).await;
        for offer in ["Copy link", "Copy page link", "QR code", "Revoke"] {
            assert!(!buttons.iter().any(|b| b == offer), "{:?} offers {offer}: {buttons:?}", dead.status);
        }
        assert!(buttons.iter().any(|b| b == "Remove from list"), "{buttons:?}");
        assert!(!window.is_shown(&format!("#d-links li[data-id='{}'] .link-url", dead.link.id)).await);
    }
    let active_id = vault.links(Some(&file), now()).unwrap().into_iter().find(|l| l.url == active_url).unwrap().link.id;
    let buttons = window.link_buttons(&active_id).await;
    assert_eq!(buttons, ["Copy link", "Copy page link", "QR code", "Expiry…", "Limit…", "Password…", "Revoke"]);
    window.screen("dead-links");

    // One removed from the list, then the rest in one go; the active link stays and works.
    let remove = format!("//li[@data-id='{}']//button[text()='Remove from list']", revoked.link.id);
    window.click(Locator::XPath(&remove)).await;
    window.toast("Link removed from the list").await;
    let left = |w: &Window| w.vault().links(Some(&file), now()).unwrap();
    assert_eq!(left(&window).len(), 3);
    assert!(left(&window).iter().all(|l| l.link.id != revoked.link.id));
    window.read_until("#d-clear-inactive", None, |t| t == "Clear inactive (2)").await;
    window.click(Locator::Css("#d-clear-inactive")).await;
    window.toast("Removed 2 inactive links from the list").await;
    let left = left(&window);
    assert_eq!(left.len(), 1);
    assert_eq!((left[0].link.id.as_str(), left[0].status), (active_id.as_str(), LinkStatus::Active));
    // The list shows only the active link again, and then nothing is left to clear.
    window
        .read_until("#d-links", None, |t| t.contains("active") && !t.contains("Used up") && !t.contains("Expired"))
        .await;
    assert!(!window.is_shown("#d-clear-inactive").await, "nothing left to clear");
    assert_eq!(window.status_of(&active_url).await, 200);
    for dead in [&revoked, &expired, &used_up] {
        assert_ne!(window.status_of(&dead.url).await, 200, "a removed link stays dead");
    }

    // A closed upload link says when it closed and offers nothing to send.
    window.click(Locator::Css(r#".nav-item[data-view="receive"]"#)).await;
    window.click(Locator::Css("#create-slot")).await;
    window.read_until("#slots .slot .slot-url", Some("title"), |u| u.contains("/u/")).await;
    let slot = vault.slots(now()).unwrap().remove(0).slot.id;
    vault.close_slot(&slot, now()).unwrap();
    let meta = window.read_until("#slots li[data-status=closed] .item-meta", None, |m| m.starts_with("Closed ")).await;
    assert!(meta.contains(&year), "{meta}");
    let offers =
        window.run("return [...document.querySelectorAll('#slots li button')].map(b => b.textContent)", vec![]).await;
    assert_eq!(offers, json!([]), "a closed upload link offers no copy, QR code or close");
    assert!(!window.is_shown("#slots li .slot-url").await);
    window.close().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a display, tauri-driver and WebKitWebDriver: run by ./dev test"]
async fn the_new_link_form_starts_from_the_settings_for_each_file() {
    let window = Window::open().await;
    // The default expiry in Settings: 1 day.
    window.click(Locator::Css(r#".nav-item[data-view="settings"]"#)).await;
    window.click(Locator::Css(r#"#set-expiry option[value="1d"]"#)).await;
    window.click(Locator::Css("#save-settings")).await;
    window.toast("Settings saved: they apply at once").await;

    let first = window.add_file("For Dana.pdf", 10_000).await;
    assert_eq!(window.run("return document.getElementById('l-expiry').value", vec![]).await, json!("1d"));
    window.type_into("#l-limit", "3").await;
    window.type_into("#l-label", "Dana").await;
    window.click(Locator::Css(r#"#l-expiry option[value="30d"]"#)).await;

    // Another file: the form is back to the settings' defaults, and so is the link it makes.
    let second = window.add_file("For everyone.pdf", 10_000).await;
    let form = "return ['l-expiry', 'l-limit', 'l-label'].map(id => document.getElementById(id).value)";
    assert_eq!(window.run(form, vec![]).await, json!(["1d", "", ""]));
    window.screen("form-after-switch");
    window.create_link().await;
    let link = window.vault().links(Some(&second), now()).unwrap().remove(0).link;
    assert_eq!(link.max_downloads, None, "no limit carried over");
    assert_eq!(link.label, None, "no label carried over");
    let in_a_day = now() + 86_400;
    assert!((in_a_day - 60..=in_a_day).contains(&link.expires_at.unwrap()), "expires in a day");

    // Back to the first file by clicking its row: the defaults again.
    window.type_into("#l-limit", "5").await;
    window.click(Locator::Css(&format!(r#".file-row[data-id="{first}"]"#))).await;
    window.wait_for(&format!(r#".file-row.selected[data-id="{first}"]"#)).await;
    assert_eq!(window.run(form, vec![]).await, json!(["1d", "", ""]));
    assert!(window.vault().links(Some(&first), now()).unwrap().is_empty());

    // A password link: the list marks it, and the server asks curl for the password.
    window.type_into("#l-password", "quince 12").await;
    let url = window.create_link().await;
    window.wait_for(&format!(r#".file-row.selected[data-id="{first}"]"#)).await;
    window.wait_for("#d-links .link .lock").await;
    assert_eq!(window.run("return document.getElementById('l-password').value", vec![]).await, json!(""));
    window.screenshot("password-link").await;
    let link = window.vault().links(Some(&first), now()).unwrap().remove(0).link;
    assert!(link.password);
    let curl = |extra: &'static [&'static str]| curl_url(url.clone(), extra);
    assert_eq!(curl(&[]).await, "401");
    assert_eq!(curl(&["-u", ":quince 12"]).await, "200");

    // The second file's link had no password: one is set in the window, then removed.
    window.click(Locator::Css(&format!(r#".file-row[data-id="{second}"]"#))).await;
    window.wait_for(&format!(r#".file-row.selected[data-id="{second}"]"#)).await;
    let open = window.vault().links(Some(&second), now()).unwrap().remove(0);
    assert!(!open.link.password);
    let password = "//ul[@id='d-links']//button[text()='Password…']";
    window.open_dialog(Locator::XPath(password), "Link password").await;
    assert!(window.wait_for("#password-state").await.text().await.unwrap().contains("no password"));
    assert!(!window.is_shown("#password-remove").await, "nothing to remove");
    window.type_into("#password-choice", "pear 7").await;
    window.click(Locator::Css("#dialog-ok")).await;
    window.dialog_settled().await;
    window.wait_for("#d-links .link .lock").await;
    assert!(window.vault().links(Some(&second), now()).unwrap().remove(0).link.password);
    let second_url = |extra: &'static [&'static str]| curl_url(open.url.clone(), extra);
    assert_eq!(second_url(&[]).await, "401");
    assert_eq!(second_url(&["-u", ":quince 12"]).await, "401", "the other link's password");
    assert_eq!(second_url(&["-u", ":pear 7"]).await, "200");
    window.open_dialog(Locator::XPath(password), "Link password").await;
    assert!(window.wait_for("#password-state").await.text().await.unwrap().contains("asks for a password"));
    window.screenshot("link-password-dialog").await;
    window.click(Locator::Css("#password-remove")).await;
    window.dialog_settled().await;
    window.toast("Password removed").await;
    assert!(!window.vault().links(Some(&second), now()).unwrap().remove(0).link.password);
    assert_eq!(second_url(&[]).await, "200");

    // An image in the Files list shows its thumbnail; another file a placeholder.
    let photo = window.work_dir().join("Sunset.png");
    image::RgbImage::from_fn(640, 360, |x, y| image::Rgb([(x / 3) as u8, (y / 2) as u8, 160])).save(&photo).unwrap();
    let added = "return window.sharelockUi.addPaths(arguments[0]).then(r => r[0].id)";
    let photo_id = window.run(added, vec![json!([photo])]).await;
    let photo_id = photo_id.as_str().unwrap();
    let thumb = window.wait_for(&format!(r#".file-row[data-id="{photo_id}"] img.thumb"#)).await;
    assert!(thumb.attr("src").await.unwrap().unwrap_or_default().starts_with("data:image/jpeg;base64,"));
    let loaded = "const img = document.querySelector(arguments[0]); return [img.naturalWidth, img.naturalHeight];";
    let size = window.run(loaded, vec![json!(format!(r#".file-row[data-id="{photo_id}"] img.thumb"#))]).await;
    assert_eq!(size, json!([256, 144]), "the thumbnail keeps the photo's aspect");
    window.wait_for(&format!(r#".file-row[data-id="{second}"] .thumb.placeholder"#)).await;
    window.screenshot("files-thumbnails").await;
    window.close().await;
}

/// The HTTP status curl gets for `url` with `extra` arguments.
async fn curl_url(url: String, extra: &[&str]) -> String {
    let out = tokio::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "20"])
        .args(extra)
        .arg(&url)
        .output()
        .await
        .expect("curl runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a display, tauri-driver and WebKitWebDriver: run by ./dev test"]
async fn change_expiry_opens_on_the_current_one_and_refuses_past_dates() {
    let window = Window::open().await;
    let file = window.add_file("Contract.pdf", 10_000).await;
    // The date picker of the new-link form starts at tomorrow and refuses the past.
    window.click(Locator::Css(r#"#l-expiry option[value="custom"]"#)).await;
    let field = "const date = document.getElementById(arguments[0]);
        const tomorrow = new Date(Date.now() + 86400000);
        return [date.min >= localInput(new Date()), date.value.slice(0, 10) === localInput(tomorrow).slice(0, 10)];";
    assert_eq!(window.run(field, vec![json!("l-date")]).await, json!([true, true]));
    window.click(Locator::Css(r#"#l-expiry option[value="30d"]"#)).await;
    window.create_link().await;
    let only = |w: &Window| w.vault().links(Some(&file), now()).unwrap().remove(0).link;
    let expires_at = only(&window).expires_at.unwrap();

    // It opens on the link's own expiry; Save unchanged changes nothing.
    let expiry = "//ul[@id='d-links']//button[text()='Expiry…']";
    window.open_dialog(Locator::XPath(expiry), "Change the expiry").await;
    let shown = window
        .run(
            "const choice = document.getElementById('extend-choice'), date = document.getElementById('extend-date');
             return [choice.value, date.value === localInput(new Date(arguments[0] * 1000)),
                     [...choice.options].map(o => o.value)];",
            vec![json!(expires_at)],
        )
        .await;
    assert_eq!(shown, json!(["custom", true, ["1h", "1d", "7d", "30d", "custom", "never"]]));
    window.screen("change-expiry");
    window.click(Locator::Css("#dialog-ok")).await;
    window.dialog_settled().await;
    assert_eq!(only(&window).expires_at, Some(expires_at), "Save unchanged kept the expiry to the second");

    // A past date is refused by the field itself: the dialog stays open and nothing changes.
    window.open_dialog(Locator::XPath(expiry), "Change the expiry").await;
    window.click(Locator::Css(r#"#extend-choice option[value="1h"]"#)).await;
    assert!(!window.is_shown("#extend-date").await, "no date field unless a date is chosen");
    window.click(Locator::Css(r#"#extend-choice option[value="custom"]"#)).await;
    let min = "return document.getElementById('extend-date').min >= localInput(new Date())";
    assert_eq!(window.run(min, vec![]).await, json!(true), "the picker refuses the past");
    let underflow = window
        .run(
            "const date = document.getElementById('extend-date');
             date.value = localInput(new Date(Date.now() - 86400000));
             return date.validity.rangeUnderflow;",
            vec![],
        )
        .await;
    assert_eq!(underflow, json!(true));
    window.click(Locator::Css("#dialog-ok")).await;
    assert!(window.is_shown("#dialog[open]").await, "a past date does not save");
    window.press(Key::Escape).await;
    window.dialog_settled().await;
    assert_eq!(only(&window).expires_at, Some(expires_at));

    // A later date saves.
    window.open_dialog(Locator::XPath(expiry), "Change the expiry").await;
    window
        .run(
            "const choice = document.getElementById('extend-choice');
             choice.value = 'custom'; choice.dispatchEvent(new Event('change'));
             document.getElementById('extend-date').value = localInput(new Date(Date.now() + 3 * 86400000));",
            vec![],
        )
        .await;
    window.click(Locator::Css("#dialog-ok")).await;
    window.dialog_settled().await;
    let in_3_days = now() + 3 * 86_400;
    let saved = only(&window).expires_at.unwrap();
    assert!((in_3_days - 120..=in_3_days).contains(&saved), "expires in 3 days, not at {saved}");
    window.close().await;
}
