//! Closing the window while links work. Each test has a session bus of its own. With Xfce's panel
//! on it (a StatusNotifier host), the app shows a tray icon, closing hides the window and the
//! links keep working, and Quit in the tray menu asks first and then stops them. With no host,
//! the app says it has no tray, closing with nothing active quits as before, and closing with
//! active links asks first, naming what stops.

use std::time::{Duration, Instant};

use fantoccini::Locator;

use crate::support::{Launch, SessionBus, TrayHost, Window, app_running};

/// Asks the window to close, as its close button does (`CloseRequested`; the app may refuse).
async fn close_button(window: &Window) {
    // Not awaited: the app may exit before it answers.
    let _ = window.client.execute("window.__TAURI__.window.getCurrentWindow().close(); return true;", vec![]).await;
}

fn wait_gone(window: &Window) {
    let started = Instant::now();
    while app_running(&window.data_dir) {
        assert!(started.elapsed() < Duration::from_secs(20), "the app did not quit");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn curl_status(url: &str) -> Option<u16> {
    let out = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}", url])
        .output()
        .expect("curl");
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).parse().unwrap())
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a display, tauri-driver and WebKitWebDriver: run by ./dev test"]
async fn without_a_tray_closing_with_nothing_active_quits_at_once() {
    let bus = SessionBus::start();
    let window = Window::open_with(Launch { env: vec![bus.env()], ..Launch::default() }).await;
    let note = window.read_until("#tray-note", None, |_| true).await;
    assert_eq!(note, "No tray icon on this desktop: closing the window stops your links");
    window.screenshot("no-tray").await;
    close_button(&window).await;
    wait_gone(&window);
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a display, tauri-driver and WebKitWebDriver: run by ./dev test"]
async fn without_a_tray_closing_with_active_links_asks_first_and_quit_stops_them() {
    let bus = SessionBus::start();
    let window = Window::open_with(Launch { env: vec![bus.env()], ..Launch::default() }).await;
    window.add_file("plans.txt", 10_000).await;
    let url = window.create_link().await;
    window.click(Locator::Css(r#".nav-item[data-view="receive"]"#)).await;
    window.click(Locator::Css("#create-slot")).await;
    window.read_until("#slots .slot .slot-url", Some("title"), |u| u.contains("/u/")).await;

    // Cancel keeps the app, its window and its links.
    close_button(&window).await;
    window.wait_for("#dialog[open]").await;
    assert_eq!(window.wait_for("#dialog-title").await.text().await.unwrap(), "Quit Sharelock?");
    assert_eq!(
        window.wait_for("#dialog-body").await.text().await.unwrap(),
        "1 link and 1 upload link stop working until Sharelock runs again."
    );
    assert_eq!(window.wait_for("#dialog-ok").await.text().await.unwrap(), "Quit");
    window.screen("quit-warning");
    window.click(Locator::Css("#dialog-cancel")).await;
    assert!(!window.is_shown("#dialog[open]").await);
    assert!(app_running(&window.data_dir));
    assert_eq!(curl_status(&url), Some(200));

    // Quit stops them.
    close_button(&window).await;
    window.wait_for("#dialog[open]").await;
    let _ = window.client.execute("document.getElementById('dialog-ok').click(); return true;", vec![]).await;
    wait_gone(&window);
    assert_eq!(curl_status(&url), None, "nothing answers once the app quit");
}

async fn visible(window: &Window) -> bool {
    let script = "return window.__TAURI__.window.getCurrentWindow().isVisible();";
    window.run(script, vec![]).await == serde_json::json!(true)
}

async fn wait_visible(window: &Window, wanted: bool) {
    let started = Instant::now();
    while visible(window).await != wanted {
        assert!(started.elapsed() < Duration::from_secs(20), "the window never became visible={wanted}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a display, tauri-driver, WebKitWebDriver and xfce4-panel: run by ./dev test"]
async fn with_a_tray_closing_keeps_links_working_and_quit_asks_then_stops_them() {
    let bus = SessionBus::start();
    let host = TrayHost::start(&bus);
    let window = Window::open_with(Launch { env: vec![bus.env()], ..Launch::default() }).await;
    let port = window.app_port;
    host.wait_for_item(|l| l == format!("Serving at http://127.0.0.1:{port}"));
    host.wait_for_item(|l| l == "0 active links, 0 open upload links");
    assert!(!window.is_shown("#tray-note").await, "a tray shows, so the window does not say there is none");

    window.add_file("plans.txt", 10_000).await;
    let url = window.create_link().await;
    host.wait_for_item(|l| l == "1 active link, 0 open upload links");

    // Closing hides the window to the tray; the app and its link stay.
    close_button(&window).await;
    wait_visible(&window, false).await;
    assert!(app_running(&window.data_dir));
    assert_eq!(curl_status(&url), Some(200), "the link works with the window closed");

    host.click("Open Sharelock");
    wait_visible(&window, true).await;

    // Quit from the tray asks first, in the window, and then stops the link.
    host.click("Quit");
    window.wait_for("#dialog[open]").await;
    assert_eq!(window.wait_for("#dialog-title").await.text().await.unwrap(), "Quit Sharelock?");
    assert_eq!(
        window.wait_for("#dialog-body").await.text().await.unwrap(),
        "1 link stops working until Sharelock runs again."
    );
    let _ = window.client.execute("document.getElementById('dialog-ok').click(); return true;", vec![]).await;
    wait_gone(&window);
    assert_eq!(curl_status(&url), None, "nothing answers once the app quit");
}
