//! The background service: `sharelock service install` writes the user unit; where no systemd
//! user manager runs (here), its `ExecStart` line is run as systemd would run it. The window then
//! attaches to that server instead of starting its own, and links made in it keep working while
//! the window is closed and after it is opened again.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sharelock::reach::probe::probe;
use sharelock::service::exec_start_words;

use crate::support::{Launch, Window, app_running, cli};

/// The unit's command, running; killed when dropped.
struct Background(Child);

impl Background {
    /// Installs the unit for `data_dir` on `port` (into a config folder of its own, with no
    /// `systemctl` on the PATH) and runs its `ExecStart` line; waits until the server answers.
    fn start(home: &Path, data_dir: &Path, port: u16) -> Background {
        let out = Command::new(cli())
            .arg("--data-dir")
            .arg(data_dir)
            .args(["service", "install", "--bind", &format!("127.0.0.1:{port}")])
            .env_remove("SHARELOCK_DATA_DIR")
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("PATH", home.join("no-systemctl"))
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "service install: {}", String::from_utf8_lossy(&out.stderr));
        assert!(said.contains("not started: no systemd user manager answers"), "{said}");
        let unit = std::fs::read_to_string(home.join("config/systemd/user/sharelock.service")).unwrap();
        let words = exec_start_words(&unit).expect("an ExecStart line");
        let child = Command::new(&words[0])
            .args(&words[1..])
            .env_remove("SHARELOCK_DATA_DIR")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let vault = sharelock::Vault::open(data_dir).unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while !probe(&vault, &url).reached() {
            assert!(started.elapsed() < Duration::from_secs(30), "the unit's server did not answer at {url}");
            std::thread::sleep(Duration::from_millis(100));
        }
        Background(child)
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
        let _ = self.0.wait();
    }
}

/// What `curl` gets for `url`: the HTTP status and the body, or `None` when nothing answers.
fn curl(url: &str) -> Option<(u16, Vec<u8>)> {
    let body = tempfile::NamedTempFile::new().unwrap();
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "-o"])
        .arg(body.path())
        .args(["-w", "%{http_code}", url])
        .output()
        .expect("curl");
    if !out.status.success() {
        return None;
    }
    let status = String::from_utf8_lossy(&out.stdout).parse().unwrap();
    Some((status, std::fs::read(body.path()).unwrap()))
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a display, tauri-driver and WebKitWebDriver: run by ./dev test"]
async fn window_attaches_to_the_background_service_and_its_links_outlive_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let background = Background::start(home.path(), &data_dir, port);

    // The app is told to listen on the same port: had it not attached, it would find the port
    // taken and say so instead of serving.
    let window = Window::open_in(dir, port, Launch::default()).await;
    let status = window.read_until("#server-text", None, |t| t.contains("served in the background")).await;
    // What follows (who can open links) is the status bar's, not the service's.
    let expected = format!("Serving at http://127.0.0.1:{port} · served in the background");
    assert!(status.starts_with(&expected), "{status}");
    assert_eq!(window.wait_for("#server-dot").await.attr("class").await.unwrap().as_deref(), Some("dot ok"));
    window.screenshot("background-attached").await;

    let id = window.add_file("minutes.txt", 70_000).await;
    let url = window.create_link().await;
    assert_eq!(curl(&url), Some((200, crate::support::pattern(70_000))));
    // Made in the window, kept in the one database the background server serves.
    assert_eq!(window.vault().links(Some(&id), sharelock::time::now()).unwrap().len(), 1);

    let dir = window.close_keeping().await;
    assert!(!app_running(&data_dir));
    assert_eq!(curl(&url).map(|(status, _)| status), Some(200), "the link works with the window closed");

    // Opened again: it attaches again and shows the link, which still works.
    let window = Window::open_in(dir, port, Launch::default()).await;
    window.read_until("#server-text", None, |t| t.contains("served in the background")).await;
    window.click(fantoccini::Locator::Css(&format!(r#".file-row[data-id="{id}"]"#))).await;
    window.read_until("#d-links .link .link-url", Some("title"), |u| u == url).await;
    assert_eq!(curl(&url).map(|(status, _)| status), Some(200));
    let dir = window.close_keeping().await;

    // It was the background server that served them all along: stopped, nothing answers.
    drop(background);
    assert_eq!(curl(&url), None);
    drop(dir);
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a display, tauri-driver and WebKitWebDriver: run by ./dev test"]
async fn settings_switches_add_and_remove_the_login_entry_and_the_background_service() {
    // A home of its own: the login entry goes to ~/.config/autostart, the unit to
    // $XDG_CONFIG_HOME/systemd/user. No systemd user manager runs here.
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join(".config");
    std::fs::create_dir_all(&config).unwrap();
    let env = vec![
        ("HOME".to_string(), home.path().display().to_string()),
        ("XDG_CONFIG_HOME".to_string(), config.display().to_string()),
    ];
    let window = Window::open_with(Launch { env, ..Launch::default() }).await;
    window.click(fantoccini::Locator::Css(r#".nav-item[data-view="settings"]"#)).await;
    let autostart = window.wait_for("#set-autostart").await;
    let keep = window.wait_for("#set-keep-serving").await;
    assert!(!autostart.is_selected().await.unwrap());
    assert!(!keep.is_selected().await.unwrap());

    let entry = config.join("autostart/Sharelock.desktop");
    // The switch is off while its command runs: a second click before it answers would land on
    // a disabled switch and do nothing, as it would for a person.
    window.click(fantoccini::Locator::Css("#set-autostart")).await;
    window.read_until("#set-autostart:checked:not([disabled])", None, |_| true).await;
    assert!(entry.exists(), "no {}", entry.display());
    let text = std::fs::read_to_string(&entry).unwrap();
    assert!(text.contains(&format!("Exec={}", env!("CARGO_BIN_EXE_sharelock-desktop"))), "{text}");
    window.click(fantoccini::Locator::Css("#set-autostart")).await;
    window.read_until("#set-autostart:not(:checked):not([disabled])", None, |_| true).await;
    assert!(!entry.exists());
    assert!(!window.wait_for("#set-autostart").await.is_selected().await.unwrap());

    // Keep links working: the unit for this data dir, on the app's address, and in words why it
    // is not running yet.
    window.click(fantoccini::Locator::Css("#set-keep-serving")).await;
    let note = window.read_until("#background-note", None, |t| t.contains("not started")).await;
    let unit = config.join("systemd/user/sharelock.service");
    assert_eq!(
        note,
        format!(
            "Installed ({}), but not started: no systemd user manager answers in this session. \
             Until one starts it, the app serves while it runs.",
            unit.display()
        )
    );
    let words = exec_start_words(&std::fs::read_to_string(&unit).unwrap()).unwrap();
    let data_dir = window.data_dir.display().to_string();
    let bind = format!("127.0.0.1:{}", window.app_port);
    assert_eq!(words, [cli().display().to_string().as_str(), "--data-dir", &data_dir, "serve", "--bind", &bind]);
    assert!(window.wait_for("#set-keep-serving").await.is_selected().await.unwrap());
    window.screenshot("settings-background").await;
    // The app still serves meanwhile.
    let own = format!("Serving at http://{bind}");
    let status = window.read_until("#server-text", None, |t| t.starts_with(&own)).await;
    assert!(!status.contains("background"), "{status}");

    window.click(fantoccini::Locator::Css("#set-keep-serving")).await;
    window
        .read_until("#background-note", None, |t| t == "Background service removed: links stop when the app quits.")
        .await;
    assert!(!unit.exists());
    assert!(!window.wait_for("#set-keep-serving").await.is_selected().await.unwrap());
    window.close().await;
}
