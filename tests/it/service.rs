//! `sharelock service install|uninstall|status`: the user unit it writes, what it says when it
//! cannot start it (no `systemctl`, or no user manager), and the unit's command really serving
//! the data dir.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sharelock::reach::probe::{Probe, probe};
use sharelock::service::exec_start_words;
use sharelock::{Vault, settings};

/// A home of its own: the unit goes under `config/systemd/user`, and `PATH` holds only `bin`.
struct Home {
    tmp: tempfile::TempDir,
}

impl Home {
    fn new() -> Home {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("bin")).unwrap();
        Home { tmp }
    }

    fn data_dir(&self) -> PathBuf {
        self.tmp.path().join("data dir")
    }

    fn unit_path(&self) -> PathBuf {
        self.tmp.path().join("config/systemd/user/sharelock.service")
    }

    /// A `systemctl` that fails as it does where no user manager runs (a container, a login
    /// without systemd).
    fn failing_systemctl(&self) {
        let path = self.tmp.path().join("bin/systemctl");
        std::fs::write(&path, "#!/bin/sh\necho 'Failed to connect to bus: No medium found' >&2\nexit 1\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn sharelock(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_sharelock"))
            .arg("--data-dir")
            .arg(self.data_dir())
            .args(args)
            .env_remove("SHARELOCK_DATA_DIR")
            .env("XDG_CONFIG_HOME", self.tmp.path().join("config"))
            .env("HOME", self.tmp.path())
            .env("PATH", self.tmp.path().join("bin"))
            .output()
            .unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.sharelock(&all);
        assert!(out.status.success(), "sharelock {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

fn text(out: &Output) -> String {
    assert!(out.status.success(), "failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn unit_words(path: &Path) -> Vec<String> {
    exec_start_words(&std::fs::read_to_string(path).unwrap()).expect("an ExecStart line")
}

#[test]
fn service_install_without_systemctl_writes_the_unit_and_says_how_to_start_it() {
    let home = Home::new();
    let out = text(&home.sharelock(&["service", "install"]));
    assert!(out.contains(&format!("wrote {}", home.unit_path().display())), "{out}");
    assert!(out.contains("not started: no systemd user manager answers (systemctl cannot be run"), "{out}");
    assert!(out.contains("systemctl --user daemon-reload && systemctl --user enable --now sharelock.service"), "{out}");

    let unit = std::fs::read_to_string(home.unit_path()).unwrap();
    assert!(unit.contains("\nRestart=on-failure\n"), "{unit}");
    let data_dir = home.data_dir().to_string_lossy().into_owned();
    assert_eq!(
        unit_words(&home.unit_path()),
        [env!("CARGO_BIN_EXE_sharelock"), "--data-dir", &data_dir, "serve", "--bind", "127.0.0.1:7420"]
    );
}

#[test]
fn service_install_binds_where_the_desktop_app_listens() {
    let home = Home::new();
    {
        let vault = Vault::open(&home.data_dir()).unwrap();
        vault.set_setting(settings::LISTEN_SCOPE, Some("network")).unwrap();
        vault.set_setting(settings::PORT, Some("8123")).unwrap();
    }
    text(&home.sharelock(&["service", "install"]));
    assert_eq!(unit_words(&home.unit_path())[5], "0.0.0.0:8123");

    // An explicit --bind wins, and a second install replaces the unit.
    text(&home.sharelock(&["service", "install", "--bind", "127.0.0.1:9001"]));
    assert_eq!(unit_words(&home.unit_path())[5], "127.0.0.1:9001");
}

#[test]
fn service_status_and_uninstall_with_a_failing_systemctl_say_so_in_words() {
    let home = Home::new();
    home.failing_systemctl();
    let before = home.json(&["service", "status"]);
    assert_eq!(before["installed"], false);
    assert_eq!(before["user_manager"], false);
    assert!(before["todo"][0].as_str().unwrap().contains("Failed to connect to bus: No medium found"), "{before}");

    let installed = home.json(&["service", "install"]);
    assert_eq!(installed["installed"], true);
    assert_eq!(installed["user_manager"], false);
    assert!(
        installed["todo"][0]
            .as_str()
            .unwrap()
            .starts_with("not started: no systemd user manager answers (Failed to connect to bus")
    );

    let status = home.json(&["service", "status"]);
    assert_eq!(status["installed"], true);
    assert_eq!(status["exec_start"][3], "serve");
    let out = text(&home.sharelock(&["service", "status"]));
    assert!(
        out.starts_with(&format!("installed: {} runs {}", home.unit_path().display(), env!("CARGO_BIN_EXE_sharelock"))),
        "{out}"
    );

    let out = text(&home.sharelock(&["service", "uninstall"]));
    assert!(out.contains(&format!("removed {}", home.unit_path().display())), "{out}");
    assert!(!home.unit_path().exists());
    assert_eq!(home.json(&["service", "status"])["installed"], false);
    // Twice is not an error: there is nothing left to remove.
    let out = text(&home.sharelock(&["service", "uninstall"]));
    assert!(out.contains("nothing to remove"), "{out}");
}

#[test]
fn service_install_with_a_bad_bind_is_a_clear_error_and_writes_nothing() {
    let home = Home::new();
    let out = home.sharelock(&["service", "install", "--bind", "localhost"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid value 'localhost' for '--bind <ADDR:PORT>'"));
    assert!(!home.unit_path().exists());
}

/// Where no user manager runs, the unit's own command line is what the service would run: run it,
/// and this data dir's server answers at the address the unit names.
#[test]
fn service_unit_exec_start_serves_the_data_dir() {
    let home = Home::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let bind = format!("127.0.0.1:{port}");
    text(&home.sharelock(&["service", "install", "--bind", &bind]));
    let words = unit_words(&home.unit_path());
    let mut child = Command::new(&words[0])
        .args(&words[1..])
        .env_remove("SHARELOCK_DATA_DIR")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let vault = Vault::open(&home.data_dir()).unwrap();
    let url = format!("http://{bind}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut found = probe(&vault, &url);
    while found != Probe::ThisServer && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        found = probe(&vault, &url);
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(found, Probe::ThisServer);
    assert_eq!(vault.setting(settings::LISTEN_URL).unwrap().as_deref(), Some(url.as_str()));
}
