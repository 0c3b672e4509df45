//! Links and upload links in daily use: none is made while nothing serves.

use fantoccini::Locator;
use serde_json::json;

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
            "return window.__TAURI__.core.invoke('create_link', { fileId: arguments[0], expires: '1d' })
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
