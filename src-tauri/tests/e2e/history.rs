//! Receipts: a link's history in the window follows real downloads live (curl as a real process
//! against the app's server), the Files list shows the last access, and a completed download
//! reaches the desktop's notification server, unless the link is kept quiet.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fantoccini::Locator;
use fantoccini::key::Key;
use serde_json::json;

use crate::support::{Launch, Scheme, SessionBus, Window, pattern};

/// One notification as the desktop's notification server received it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Shown {
    app: String,
    summary: String,
    body: String,
}

/// A notification server (`org.freedesktop.Notifications`) of the test's own on its session bus:
/// what the app sends is what a desktop would show.
#[derive(Clone, Default)]
struct Notifications {
    shown: Arc<Mutex<Vec<Shown>>>,
}

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl Notifications {
    #[allow(clippy::too_many_arguments)]
    fn notify(
        &self,
        app_name: String,
        _replaces_id: u32,
        _app_icon: String,
        summary: String,
        body: String,
        _actions: Vec<String>,
        _hints: HashMap<String, zbus::OwnedVariant>,
        _expire_timeout: i32,
    ) -> u32 {
        let mut shown = self.shown.lock().unwrap();
        shown.push(Shown { app: app_name, summary, body });
        shown.len() as u32
    }

    fn close_notification(&self, _id: u32) {}

    fn get_capabilities(&self) -> Vec<String> {
        vec!["body".into()]
    }

    fn get_server_information(&self) -> (String, String, String, String) {
        ("sharelock-test".into(), "sharelock".into(), "1".into(), "1.2".into())
    }
}

impl Notifications {
    /// Serves on `bus` until the connection is dropped.
    async fn serve(bus: &SessionBus) -> (Notifications, zbus::Connection) {
        let server = Notifications::default();
        let connection = zbus::connection::Builder::address(bus.address.as_str())
            .name("org.freedesktop.Notifications")
            .serve_at("/org/freedesktop/Notifications", server.clone())
            .build()
            .await
            .expect("a notification server on the test's bus");
        (server, connection)
    }

    fn all(&self) -> Vec<Shown> {
        self.shown.lock().unwrap().clone()
    }

    /// Waits up to 20 s for a notification whose body is `body`.
    async fn wait_for(&self, body: &str) -> Shown {
        let started = Instant::now();
        loop {
            if let Some(found) = self.all().into_iter().find(|s| s.body == body) {
                return found;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "no notification {body:?}; got {:?}", self.all());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Downloads `url` with curl, a process of its own; what it printed as the HTTP status.
async fn curl(url: &str, out: &std::path::Path, extra: &[&str]) -> String {
    let output = tokio::process::Command::new("curl")
        .args(["-sS", "--max-time", "20", "-o"])
        .arg(out)
        .args(["-w", "%{http_code}"])
        .args(extra)
        .arg(url)
        .output()
        .await
        .expect("curl");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The version curl sends in its user agent ("curl/7.88.1" gives "7.88").
fn curl_version() -> String {
    let out = std::process::Command::new("curl").arg("--version").output().expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let version = text.split_whitespace().nth(1).unwrap_or_default();
    version.split('.').take(2).collect::<Vec<_>>().join(".")
}

const HISTORY: &str = "#d-links .link .history";

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a display, tauri-driver and WebKitWebDriver: run by ./dev test"]
async fn a_links_history_follows_a_curl_download_live_and_the_download_is_notified() {
    let bus = SessionBus::start();
    let (notifications, _server) = Notifications::serve(&bus).await;
    let window = Window::open_with(Launch { env: vec![bus.env()], ..Launch::default() }).await;
    let data = pattern(300_000);
    let file = window.add_file("contract.pdf", data.len()).await;
    window.type_into("#l-label", "Dana").await;
    let url = window.create_link().await;
    window.read_until("#d-links .link .history-note", None, |t| t == "Not opened yet.").await;
    window.read_until("#d-last-access", None, |t| t == "never downloaded").await;
    assert_eq!(window.vault().file(&file).unwrap().last_access_at, None);

    // curl downloads it: the history shows it complete, from curl, with no refresh asked.
    let saved = window.work_dir().join("downloaded.pdf");
    assert_eq!(curl(&url, &saved, &[]).await, "200");
    assert!(std::fs::read(&saved).unwrap() == data, "curl got the file");
    let what = format!("{HISTORY} .visit[data-kind=download][data-state=completed] .visit-what");
    assert_eq!(window.read_until(&what, None, |_| true).await, "Downloaded");
    let detail = window.read_until(&format!("{HISTORY} .visit .visit-detail"), None, |_| true).await;
    assert_eq!(detail, format!("curl {} · 127.0.0.1 · 293 KiB", curl_version()));
    let when = window.read_until(&format!("{HISTORY} .visit time"), None, |_| true).await;
    assert_eq!(when, "just now");
    let exact = window.read_until(&format!("{HISTORY} .visit time"), Some("title"), |_| true).await;
    assert!(exact.contains(':'), "the exact time on hover: {exact}");
    window.read_until("#d-last-access", None, |t| t.starts_with("last downloaded ")).await;
    window.screenshot("history-light").await;

    // The Files list's Last access fills in (the whole table, with the details closed).
    window.press(Key::Escape).await;
    window.wait_for(".files-layout:not(.with-details)").await;
    let last = window.read_until(&format!(r#".file-row[data-id="{file}"] .last"#), None, |t| t != "—").await;
    assert!(last.contains(':'), "today's access shows its time: {last}");
    window.screenshot("history-files-last-access").await;
    let stored = window.vault().file(&file).unwrap();
    assert!(stored.last_access_at.is_some(), "the store has it too");

    // The notification the desktop got, in the core's words.
    let shown = notifications.wait_for("contract.pdf was downloaded (for Dana)").await;
    assert_eq!(shown.app, "Sharelock");
    assert_eq!(shown.summary, "Downloaded");

    // Kept quiet: the link's switch off, the next download is in the history but not notified.
    window.click(Locator::Css(&format!(r#".file-row[data-id="{file}"]"#))).await;
    window.click(Locator::Css("#d-links .link .link-notify input")).await;
    window.toast("No notifications for this link").await;
    assert!(!window.vault().links(Some(&file), sharelock::time::now()).unwrap()[0].link.notify);
    let before = notifications.all().len();
    // Another client (another row, which would have notified).
    assert_eq!(curl(&url, &saved, &["-A", "Wget/1.21.3"]).await, "200");
    let completed = format!("{HISTORY} .visit[data-kind=download][data-state=completed]");
    let count = "return document.querySelectorAll(arguments[0]).length";
    window.run_until(count, vec![json!(completed)], json!(2), "the second download shows").await;
    // The window heard of it from the same step that would have notified: give D-Bus its moment.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(notifications.all().len(), before, "no notification for a quiet link: {:?}", notifications.all());

    // curl again: not a new person, its row counts a second download.
    assert_eq!(curl(&url, &saved, &[]).await, "200");
    let twice = "return [...document.querySelectorAll(arguments[0])].some(e => e.textContent === 'Downloaded 2 times')";
    let rows = vec![json!(format!("{HISTORY} .visit .visit-what"))];
    window.run_until(twice, rows, json!(true), "the repeat shows on curl's row").await;
    assert_eq!(window.run(count, vec![json!(completed)]).await, json!(2), "still two rows");
    window.close().await;
}

/// A history with each kind of access, to look at in both schemes.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a display, tauri-driver and WebKitWebDriver: run by ./dev test"]
async fn the_history_panel_in_light_and_dark() {
    let mut dir = None;
    let mut port = None;
    for scheme in [Scheme::Light, Scheme::Dark] {
        let launch = Launch::default().in_scheme(scheme);
        let window = match dir.take() {
            None => Window::open_with(launch).await,
            Some(dir) => Window::open_in(dir, port.unwrap(), launch).await,
        };
        port = Some(window.app_port);
        if scheme == Scheme::Light {
            window.add_file("Tax return 2026.pdf", 1_400_000).await;
            window.type_into("#l-label", "Accountant").await;
            let url = window.create_link().await;
            let out = window.work_dir().join("out");
            let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
            let android = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36";
            let links = window.vault().links(None, sharelock::time::now()).unwrap();
            assert_eq!(curl(&links[0].page_url, &out, &["-A", firefox]).await, "200");
            assert_eq!(curl(&url, &out, &["-A", firefox]).await, "200");
            assert_eq!(curl(&url, &out, &["-A", android, "-r", "0-99999"]).await, "206");
            // A user agent is the client's to write: markup in it stays text.
            let markup = "<img src=x onerror=document.body.dataset.pwned=1>/1.0";
            assert_eq!(curl(&links[0].page_url, &out, &["-A", markup]).await, "200");
            let visits = "return document.querySelectorAll('#d-links .link .history .visit').length";
            let started = Instant::now();
            while window.run(visits, vec![]).await.as_u64().unwrap_or(0) < 4 {
                assert!(started.elapsed() < Duration::from_secs(20), "both page views and both downloads show");
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
            let details = window
                .run(
                    "return [...document.querySelectorAll('#d-links .history .visit-detail')].map(d => d.textContent)",
                    vec![],
                )
                .await;
            let details: Vec<&str> = details.as_array().unwrap().iter().map(|d| d.as_str().unwrap()).collect();
            assert!(details.contains(&"<img · 127.0.0.1"), "{details:?}");
            assert!(details.iter().any(|d| d.starts_with("Chrome on Android · 127.0.0.1 · ")), "{details:?}");
            assert!(details.iter().any(|d| d.starts_with("Firefox on Linux · 127.0.0.1 · ")), "{details:?}");
            let injected = "return document.querySelectorAll('#d-links .history img').length + (document.body.dataset.pwned ? 1 : 0)";
            assert_eq!(window.run(injected, vec![]).await, json!(0), "no markup from a user agent");
            // Folded and shown again, as the button says.
            let toggle = window.read_until("#d-links .history-toggle", None, |_| true).await;
            assert_eq!(toggle, "History (4) · 1 complete download");
            window.click(Locator::Css("#d-links .history-toggle")).await;
            window.read_until("#d-links .history-toggle", Some("aria-expanded"), |e| e == "false").await;
            assert!(!window.is_shown(HISTORY).await, "folded");
            window.click(Locator::Css("#d-links .history-toggle")).await;
            window.read_until("#d-links .history-toggle", Some("aria-expanded"), |e| e == "true").await;
            window.wait_for(HISTORY).await;
        } else {
            window.click(Locator::Css(".file-row")).await;
            window.wait_for("#d-links .link .history .visit").await;
        }
        let name = if scheme == Scheme::Light { "history-panel-light" } else { "history-panel-dark" };
        // Once the refreshes a download sets off are over: each one draws the links afresh.
        tokio::time::sleep(Duration::from_millis(800)).await;
        window
            .run("document.querySelector('#d-links .link .history').scrollIntoView({ block: 'center' })", vec![])
            .await;
        window.screenshot(name).await;
        dir = Some(window.close_keeping().await);
    }
}

/// Sets a `<select>` in Settings as a person's choice does (the form hears `change`).
async fn choose(window: &Window, id: &str, value: &str) {
    let script = "const s = document.getElementById(arguments[0]); s.value = arguments[1];
        s.dispatchEvent(new Event('change', { bubbles: true })); return s.value;";
    assert_eq!(window.run(script, vec![json!(id), json!(value)]).await, json!(value));
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a display, tauri-driver and WebKitWebDriver: run by ./dev test"]
async fn settings_switch_receipts_off_and_keep_history_for_a_chosen_time_or_not_at_all() {
    use sharelock::settings;
    let bus = SessionBus::start();
    let (notifications, _server) = Notifications::serve(&bus).await;
    let window = Window::open_with(Launch { env: vec![bus.env()], ..Launch::default() }).await;
    window.add_file("minutes.txt", 5_000).await;
    let url = window.create_link().await;

    // Receipts off for every link, and a shorter history, saved at once.
    window.click(Locator::Css(r#".nav-item[data-view="settings"]"#)).await;
    window.read_until("#set-history", None, |_| true).await;
    assert_eq!(window.run("return document.getElementById('set-history').value", vec![]).await, json!("90d"));
    let note = window.read_until("#history-note", None, |_| true).await;
    assert!(note.contains("Addresses are personal data"), "{note}");
    window.click(Locator::Css("#set-notify-downloads")).await;
    choose(&window, "set-history", "30d").await;
    window.read_until("#settings-unsaved", None, |t| t == "Unsaved changes").await;
    window.screenshot("history-settings").await;
    window.click(Locator::Css("#save-settings")).await;
    window.toast("Settings saved: they apply at once").await;
    let vault = window.vault();
    assert_eq!(vault.setting(settings::NOTIFY_DOWNLOADS).unwrap().as_deref(), Some("off"));
    assert_eq!(vault.setting(settings::HISTORY).unwrap().as_deref(), Some("30d"));

    // A download is recorded and shown, but not notified.
    let out = window.work_dir().join("out");
    assert_eq!(curl(&url, &out, &[]).await, "200");
    window.click(Locator::Css(r#".nav-item[data-view="files"]"#)).await;
    window.click(Locator::Css(".file-row")).await;
    window.read_until(&format!("{HISTORY} .visit .visit-what"), None, |t| t == "Downloaded").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(notifications.all(), vec![], "notifications are off");

    // Off: nothing kept, and the link's history says so.
    window.click(Locator::Css(r#".nav-item[data-view="settings"]"#)).await;
    choose(&window, "set-history", "off").await;
    window.click(Locator::Css("#save-settings")).await;
    window.toast("Settings saved: they apply at once").await;
    assert_eq!(vault.history(&sharelock::history::Query::default()).unwrap(), vec![]);
    window.click(Locator::Css(r#".nav-item[data-view="files"]"#)).await;
    window.read_until("#d-links .link .history-note", None, |t| t == "Not opened yet.").await;
    window.close().await;
}
