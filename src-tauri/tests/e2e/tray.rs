//! Closing the window while links work. These run on a session bus of their own with no
//! StatusNotifier host on it, so the app has no tray: it says so, closing with nothing active
//! quits as before, and closing with active links asks first, naming what stops.
//!
//! The tray itself (close to tray, Quit from its menu) is not driven here: Debian 12 packages no
//! StatusNotifier host that this harness starts and drives headless yet (`snixembed` is not
//! packaged; `xfce4-panel` needs a whole session to run and offers its menu only to a pointer).

use std::time::{Duration, Instant};

use fantoccini::Locator;

use crate::support::{Launch, SessionBus, Window, app_running};

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
