//! The desktop entry the deb package installs (`bundle.linux.deb.desktopTemplate`), rendered with
//! the values Tauri's bundler gives its variables, is valid for `desktop-file-validate` and lets
//! file managers hand Sharelock files: "Open with → Sharelock" runs `sharelock-desktop FILE…`.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

#[test]
fn the_desktop_entry_is_valid_and_takes_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("tauri.conf.json")).unwrap()).unwrap();
    let bundle = &config["bundle"];
    let template = bundle["linux"]["deb"]["desktopTemplate"].as_str().expect("a desktop template for the deb");
    let template = std::fs::read_to_string(dir.join(template)).unwrap();

    // What the bundler puts in: the product name, the short description, the category's
    // freedesktop name, and the binary's name as the command and the icon.
    let binary = Path::new(env!("CARGO_BIN_EXE_sharelock-desktop")).file_name().unwrap().to_str().unwrap();
    assert_eq!(bundle["category"], "Utility", "the categories below are Utility's");
    let entry = [
        ("{{name}}", config["productName"].as_str().unwrap()),
        ("{{comment}}", bundle["shortDescription"].as_str().unwrap()),
        ("{{categories}}", "Utility;"),
        ("{{exec}}", binary),
        ("{{icon}}", binary),
    ]
    .iter()
    .fold(template, |text, (variable, value)| text.replace(variable, value));
    assert!(!entry.contains("{{"), "only the bundler's variables are used:\n{entry}");

    let rendered = tempfile::tempdir().unwrap();
    let path = rendered.path().join("Sharelock.desktop");
    std::fs::write(&path, &entry).unwrap();
    let checked = Command::new("desktop-file-validate")
        .arg(&path)
        .output()
        .expect("desktop-file-validate (Debian package desktop-file-utils; ./dev installs it)");
    let said = format!("{}{}", String::from_utf8_lossy(&checked.stdout), String::from_utf8_lossy(&checked.stderr));
    assert!(checked.status.success() && said.trim().is_empty(), "desktop-file-validate:\n{said}\n{entry}");

    // Files, as many as were chosen, as local paths (%F), to the app's own binary.
    let line =
        |key: &str| entry.lines().find_map(|l| l.strip_prefix(&format!("{key}="))).unwrap_or_default().to_owned();
    assert_eq!(line("Exec"), format!("{binary} %F"));
    assert_eq!(line("Name"), "Sharelock");
    // Any file can be kept and shared: every type falls under one of these two.
    assert_eq!(line("MimeType"), "application/octet-stream;text/plain;");
}
