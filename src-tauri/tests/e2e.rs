//! End to end: the real app in a real WebKit window, driven over WebDriver (tauri-driver in
//! front of WebKitWebDriver), with real HTTP against its embedded server.
//!
//! Needs a display (Xvfb), `tauri-driver` and `WebKitWebDriver`; `./dev test` provides them and
//! runs this with `--run-ignored`. The app under test is the binary cargo built for this test.

use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

const DRIVER_PORT: u16 = 4444;
const NATIVE_PORT: u16 = 4445;

fn port_open(port: u16) -> bool {
    TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], port)), Duration::from_millis(200)).is_ok()
}

/// tauri-driver, stopped with SIGTERM (never SIGKILL: only then does it stop WebKitWebDriver,
/// whose leftover would make the next run hang).
struct Driver(Child);

impl Driver {
    fn start(data_dir: &std::path::Path, app_port: u16) -> Driver {
        assert!(
            !port_open(DRIVER_PORT) && !port_open(NATIVE_PORT),
            "ports {DRIVER_PORT} and {NATIVE_PORT} must be free"
        );
        let child = Command::new(std::env::var("TAURI_DRIVER").unwrap_or_else(|_| "tauri-driver".into()))
            .args(["--port", &DRIVER_PORT.to_string(), "--native-port", &NATIVE_PORT.to_string()])
            .env("SHARELOCK_DATA_DIR", data_dir)
            .env("SHARELOCK_PORT", app_port.to_string())
            .spawn()
            .expect("tauri-driver on PATH (cargo install tauri-driver --locked --version '^2')");
        // tauri-driver listens before the WebKitWebDriver it starts does: wait for both.
        let started = Instant::now();
        while !(port_open(DRIVER_PORT) && port_open(NATIVE_PORT)) {
            assert!(started.elapsed() < Duration::from_secs(20), "tauri-driver and WebKitWebDriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Driver(child)
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
        let _ = self.0.wait();
    }
}

async fn wait_for(client: &Client, css: &str) -> fantoccini::elements::Element {
    client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
}

/// The text (or an attribute) of the first element matching `css`, once it is rendered (it has
/// a box on the page: nothing `display: none` counts, wherever it is scrolled) and `accept`
/// likes it. Views re-render live, so each try looks the element up afresh.
async fn read_until(client: &Client, css: &str, attr: Option<&str>, accept: impl Fn(&str) -> bool) -> String {
    const READ: &str = "const e = document.querySelector(arguments[0]);
        if (!e || e.getClientRects().length === 0) return null;
        return arguments[1] ? e.getAttribute(arguments[1]) : e.textContent;";
    let started = Instant::now();
    let mut last = String::new();
    while started.elapsed() < Duration::from_secs(20) {
        if let Ok(serde_json::Value::String(value)) = client.execute(READ, vec![json!(css), json!(attr)]).await {
            if accept(&value) {
                return value;
            }
            last = value;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    panic!("{css}: never acceptable, last seen {last:?}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a display, tauri-driver and WebKitWebDriver: run by ./dev test"]
async fn publish_share_and_receive_in_the_real_window() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let app_port = free_port();
    let _driver = Driver::start(&data_dir, app_port);

    let caps =
        json!({ "browserName": "wry", "tauri:options": { "application": env!("CARGO_BIN_EXE_sharelock-desktop") } });
    let caps = caps.as_object().unwrap().clone();
    let client = tokio::time::timeout(
        Duration::from_secs(60),
        ClientBuilder::native().capabilities(caps).connect(&format!("http://127.0.0.1:{DRIVER_PORT}")),
    )
    .await
    .expect("a WebDriver session within a minute")
    .expect("a WebDriver session");

    let result = drive(&client, dir.path(), app_port).await;
    let _ = client.close().await;
    result.unwrap();
}

async fn drive(client: &Client, work: &std::path::Path, app_port: u16) -> Result<(), String> {
    wait_for(client, "body[data-ready=true]").await;
    let status = wait_for(client, "#server-text").await.text().await.map_err(|e| e.to_string())?;
    assert_eq!(status, format!("Serving at http://127.0.0.1:{app_port}"));

    // Publish: through addPaths, the function the drop handler and the picker call.
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let source = work.join("Quarterly report Q3.pdf");
    std::fs::write(&source, &data).unwrap();
    let added = client
        .execute("return window.sharelockUi.addPaths(arguments[0]).then(r => r.length)", vec![json!([source])])
        .await
        .map_err(|e| e.to_string())?;
    assert_eq!(added, json!(1));
    assert_eq!(std::fs::read(&source).unwrap(), data, "the original is untouched");

    // The new file is selected; create a link with a download limit in the details panel.
    wait_for(client, r#".file-row.selected[aria-label="Quarterly report Q3.pdf"]"#).await;
    let limit = wait_for(client, "#l-limit").await;
    limit.send_keys("2").await.map_err(|e| e.to_string())?;
    wait_for(client, "#create-link").await.click().await.map_err(|e| e.to_string())?;
    // The full URL is the element's title (its text may be clipped on screen).
    let prefix = format!("http://127.0.0.1:{app_port}/d/");
    let url = read_until(client, "#d-links .link .link-url", Some("title"), |u| u.starts_with(&prefix)).await;
    // The visible confirmation (an error would show in a toast of its own and time this out).
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::XPath("//div[contains(@class, 'toast') and text() = 'Link copied to the clipboard']"))
        .await
        .map_err(|e| format!("no copy confirmation: {e}"))?;

    // Download it over HTTP: the same bytes.
    let body = reqwest::get(&url).await.map_err(|e| e.to_string())?.bytes().await.map_err(|e| e.to_string())?;
    assert_eq!(body.len(), data.len());
    assert!(body == data, "downloaded bytes differ");
    // The download count shows up in the window without a manual refresh.
    read_until(client, "#d-links .link .item-meta", None, |meta| meta.starts_with("1 of 2 downloads")).await;
    screenshot(client, "main-window").await?;

    // Receive: create an upload link in the UI, upload to it over HTTP, see it in the inbox.
    wait_for(client, r#".nav-item[data-view="receive"]"#).await.click().await.map_err(|e| e.to_string())?;
    let label = wait_for(client, "#s-label").await;
    label.send_keys("Signed contract").await.map_err(|e| e.to_string())?;
    wait_for(client, "#create-slot").await.click().await.map_err(|e| e.to_string())?;
    let slot_url = read_until(client, "#slots .slot .slot-url", Some("title"), |u| u.contains("/u/")).await;
    let (base, query) = slot_url.split_once('?').ok_or("slot URL without a query")?;
    let put = reqwest::Client::new()
        .put(format!("{base}/contract-signed.pdf?{query}"))
        .body("%PDF-1.4 signed")
        .send()
        .await
        .map_err(|e| e.to_string())?;
    assert_eq!(put.status().as_u16(), 201);
    wait_for(client, r#".nav-item[data-view="inbox"]"#).await.click().await.map_err(|e| e.to_string())?;
    read_until(client, "#inbox .received-file .title", None, |name| name == "contract-signed.pdf").await;
    screenshot(client, "inbox").await?;
    Ok(())
}

/// Saves a screenshot under the target dir for people to look at (the README's picture is taken
/// the same way, see `./dev screenshot`).
async fn screenshot(client: &Client, name: &str) -> Result<(), String> {
    let png = client.screenshot().await.map_err(|e| e.to_string())?;
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    std::fs::write(dir.join(format!("{name}.png")), png).map_err(|e| e.to_string())
}
