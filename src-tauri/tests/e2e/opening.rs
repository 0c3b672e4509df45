//! "Open with Sharelock": `sharelock-desktop FILE…` adds the files and selects the last, at
//! start or, when a window is already open, in that window (the single-instance plugin forwards
//! the arguments over the D-Bus session bus and the second process exits). Each test runs its own
//! session bus, so these windows never meet others on the machine. Arguments that name no file
//! are reported in words. A folder dragged from the desktop onto the window is added as well.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{Launch, SessionBus, Window, drop_from_desktop, pattern};

/// The error messages showing, in order.
async fn errors(window: &Window) -> Vec<String> {
    let found =
        window.run("return [...document.querySelectorAll('.toast.error')].map(t => t.textContent);", vec![]).await;
    found.as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_owned()).collect()
}

const NOT_A_FILE: &str = "is not a file: Sharelock adds files and folders, and takes no options";

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a display, tauri-driver and WebKitWebDriver: run by ./dev test"]
async fn a_second_launch_hands_its_files_to_the_open_window_and_exits() {
    let bus = SessionBus::start();
    let window = Window::open_with(Launch { env: vec![bus.env()], ..Launch::default() }).await;
    let folder = window.work_dir().join("Downloads");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("Contract draft.pdf"), pattern(3_000)).unwrap();

    // As a file manager runs it, from the file's folder, with a relative name; and two arguments
    // that name no file.
    let mut second = Command::new(env!("CARGO_BIN_EXE_sharelock-desktop"))
        .args(["Contract draft.pdf", "--verbose", "missing.pdf"])
        .current_dir(&folder)
        .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
        .env("SHARELOCK_DATA_DIR", &window.data_dir)
        .env("SHARELOCK_PORT", window.app_port.to_string())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let exit = loop {
        if let Some(status) = second.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = second.kill();
            panic!("the second sharelock-desktop did not exit: it opened a window of its own");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(exit.success(), "the second launch exits cleanly: {exit}");

    // The open window added the file and selected it, and says what it did not add.
    window.wait_for(r#".file-row.selected[aria-label="Contract draft.pdf"]"#).await;
    assert_eq!(window.read_until("#d-name", None, |n| !n.is_empty()).await, "Contract draft.pdf");
    let missing = format!("Not added: {} does not exist", folder.join("missing.pdf").display());
    window.toast(&missing).await;
    assert_eq!(errors(&window).await, [format!("Not added: “--verbose” {NOT_A_FILE}"), missing]);
    window.screenshot("opened-by-a-second-launch").await;
    let files = window.vault().files().unwrap();
    assert_eq!(files.len(), 1, "added once, by the open window");
    assert_eq!(files[0].file.name, "Contract draft.pdf");
    assert_eq!(std::fs::read(window.vault().stored_path(&files[0].file.id).unwrap()).unwrap(), pattern(3_000));
    window.close().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a display, tauri-driver and WebKitWebDriver: run by ./dev test"]
async fn files_named_at_start_are_added_and_the_last_selected() {
    let bus = SessionBus::start();
    let sources = tempfile::tempdir().unwrap();
    let (first, last) = (sources.path().join("minutes.txt"), sources.path().join("slides.pdf"));
    std::fs::write(&first, pattern(100)).unwrap();
    std::fs::write(&last, pattern(2_000)).unwrap();
    let missing = sources.path().join("gone.pdf");
    let args = [&first, &missing, &last].map(|p| p.display().to_string()).to_vec();
    let window = Window::open_with(Launch { args, env: vec![bus.env()] }).await;

    window.wait_for(r#".file-row.selected[aria-label="slides.pdf"]"#).await;
    window.wait_for(r#".file-row[aria-label="minutes.txt"]"#).await;
    let said = format!("Not added: {} does not exist", missing.display());
    window.toast(&said).await;
    assert_eq!(errors(&window).await, [said], "nothing else was refused");
    let mut names: Vec<String> = window.vault().files().unwrap().into_iter().map(|f| f.file.name).collect();
    names.sort();
    assert_eq!(names, ["minutes.txt", "slides.pdf"]);
    assert_eq!(std::fs::read(&last).unwrap(), pattern(2_000), "the originals stay as they are");

    // A folder dragged from the desktop onto the window: every file in it is added, however deep.
    let trip = sources.path().join("Trip");
    std::fs::create_dir_all(trip.join("day 1")).unwrap();
    std::fs::write(trip.join("day 1/sea.jpg"), pattern(4_000)).unwrap();
    std::fs::write(trip.join("plan.txt"), pattern(300)).unwrap();
    drop_from_desktop(&[&trip], 500, 400);
    window.wait_for(r#".file-row[aria-label="sea.jpg"]"#).await;
    window.wait_for(r#".file-row[aria-label="plan.txt"]"#).await;
    let mut names: Vec<String> = window.vault().files().unwrap().into_iter().map(|f| f.file.name).collect();
    names.sort();
    assert_eq!(names, ["minutes.txt", "plan.txt", "sea.jpg", "slides.pdf"]);
    let sea = window.vault().files().unwrap().into_iter().find(|f| f.file.name == "sea.jpg").unwrap();
    assert_eq!(std::fs::read(window.vault().stored_path(&sea.file.id).unwrap()).unwrap(), pattern(4_000));
    window.close().await;
}
