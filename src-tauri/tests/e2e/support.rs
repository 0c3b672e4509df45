//! The harness every real-window test shares: tauri-driver, a WebDriver session on the app built
//! for this test, a data dir of its own, and ways to act on the window and read it back.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, KeyAction, KeyActions, MOUSE_BUTTON_LEFT, MouseActions, PointerAction};
use fantoccini::elements::Element;
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use sharelock::Vault;

/// How long any one wait on the window may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(20);

/// One window at a time per test process: the app is single-instance (per D-Bus session bus).
/// `cargo test` runs tests on threads and waits here; nextest runs each in a process of its own
/// and keeps them apart with the `real-window` group in `.config/nextest.toml`. The driver's ports
/// are picked free for each window, so suites under separate displays and buses can run at once.
static ONE_WINDOW: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn port_open(port: u16) -> bool {
    TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], port)), Duration::from_millis(200)).is_ok()
}

/// A port nothing uses now, on any address, picked below the kernel's ephemeral range (32768 and
/// up). A port from that range (what binding port 0 hands out) can become the local end of any
/// connection the tests running beside make, between the moment it is picked and the moment the
/// app binds it, or binds it again on another address when its Settings change.
///
/// A port is free only until someone binds it, and one test asks for several (the driver's two
/// and the app's) before any is bound: a port handed out once is never handed out again by this
/// process.
pub fn free_port() -> u16 {
    static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|p| p.into_inner());
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let start = (seed ^ std::process::id().wrapping_mul(2_654_435_761)) % 12_000;
    let port = (0..12_000)
        .map(|i| 20_000 + ((start + i) % 12_000) as u16)
        .filter(|port| !handed_out.contains(port))
        .find(|port| std::net::TcpListener::bind(("0.0.0.0", *port)).is_ok())
        .expect("a free port between 20000 and 32000");
    handed_out.push(port);
    port
}

/// The colour scheme the window's WebKit reports to the page (`prefers-color-scheme`). WebKitGTK
/// takes it from the GTK theme, so each window names its theme: a desktop's own setting never
/// decides what a test sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Light,
    Dark,
}

/// tauri-driver, stopped with SIGTERM (never SIGKILL: only then does it stop WebKitWebDriver,
/// whose leftover would make the next run hang).
struct Driver {
    child: Child,
    /// Where tauri-driver takes WebDriver sessions.
    port: u16,
    /// The data dir of the app it starts (see `Drop`).
    data_dir: PathBuf,
}

impl Driver {
    /// `app_port`, if given, overrides the app's port setting; `env` is added to the
    /// environment of the driver, and so of the app it starts.
    fn start(data_dir: &Path, app_port: Option<u16>, env: &[(String, String)]) -> Driver {
        let (port, native_port) = (free_port(), free_port());
        let mut command = Command::new(std::env::var("TAURI_DRIVER").unwrap_or_else(|_| "tauri-driver".into()));
        command
            .args(["--port", &port.to_string(), "--native-port", &native_port.to_string()])
            .env("SHARELOCK_DATA_DIR", data_dir)
            // tauri-driver starts WebKitWebDriver, which starts the app: the environment carries.
            // The light theme unless the launch names another (`Launch::in_scheme`).
            .env("GTK_THEME", "Adwaita")
            .envs(env.iter().map(|(k, v)| (k, v)));
        match app_port {
            Some(port) => command.env("SHARELOCK_PORT", port.to_string()),
            None => command.env_remove("SHARELOCK_PORT"),
        };
        let child = command.spawn().expect("tauri-driver on PATH (cargo install tauri-driver --locked --version '^2')");
        // tauri-driver listens before the WebKitWebDriver it starts does: wait for both.
        let started = Instant::now();
        while !(port_open(port) && port_open(native_port)) {
            assert!(started.elapsed() < PATIENCE, "tauri-driver and WebKitWebDriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Driver { child, port, data_dir: data_dir.to_path_buf() }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let started = Instant::now();
        while matches!(self.child.try_wait(), Ok(None)) {
            if started.elapsed() > PATIENCE {
                // A driver stuck while it stops must not hold the test (and every window test
                // queued behind it) for ever: it goes, with WebKitWebDriver and the app.
                eprintln!("tauri-driver did not stop within {PATIENCE:?} of SIGTERM: killing it and its descendants");
                kill_tree(self.child.id());
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // The app exits when its driver ends its session; after a test that failed mid-session
        // it can outlive a driver that stopped, as an orphan holding the test's stderr, and the
        // test runner waits on that pipe for ever. It gets a moment to exit, then it goes.
        let started = Instant::now();
        while app_running(&self.data_dir) && started.elapsed() < APP_EXIT {
            std::thread::sleep(Duration::from_millis(100));
        }
        for pid in app_pids(&self.data_dir) {
            eprintln!("the app on {} outlived its driver: killing it", self.data_dir.display());
            kill_tree(pid);
        }
    }
}

/// How long an app may take to exit after its driver stopped (its server lets requests in
/// flight finish first).
const APP_EXIT: Duration = Duration::from_secs(10);

/// Sends SIGKILL to `pid` and every process below it, children first found through /proc.
fn kill_tree(pid: u32) {
    let mut tree = vec![pid];
    let mut i = 0;
    while i < tree.len() {
        tree.extend(children_of(tree[i]));
        i += 1;
    }
    for pid in tree {
        let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
    }
}

fn children_of(parent: u32) -> Vec<u32> {
    let Ok(procs) = std::fs::read_dir("/proc") else { return Vec::new() };
    procs
        .flatten()
        .filter_map(|p| {
            let pid: u32 = p.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(p.path().join("stat")).ok()?;
            // `pid (comm) state ppid …`: the command name may hold spaces and parentheses.
            let ppid: u32 = stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()?;
            (ppid == parent).then_some(pid)
        })
        .collect()
}

/// How to start the app beyond the defaults.
#[derive(Debug, Default)]
pub struct Launch {
    /// Its command-line arguments (`sharelock-desktop FILE…`).
    pub args: Vec<String>,
    /// Variables added to its environment.
    pub env: Vec<(String, String)>,
}

/// The desktop's default app, which a test cannot watch, stood in for: an `xdg-open` first on
/// the app's PATH that writes down each path it is asked to open.
pub struct Opener {
    dir: tempfile::TempDir,
    log: PathBuf,
}

impl Opener {
    /// Writes the stand-in into a folder of its own.
    pub fn new() -> Opener {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("opened");
        let script = dir.path().join("xdg-open");
        std::fs::write(&script, format!("#!/bin/sh\nprintf '%s\\n' \"$1\" >> '{}'\n", log.display())).unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        Opener { dir, log }
    }

    /// A launch whose PATH finds the stand-in first.
    pub fn launch(&self) -> Launch {
        let path = format!("{}:{}", self.dir.path().display(), std::env::var("PATH").unwrap_or_default());
        Launch { env: vec![("PATH".into(), path)], ..Launch::default() }
    }

    /// The first path the app asked to open, waiting up to 20 s for it.
    pub async fn first_opened(&self) -> PathBuf {
        let started = Instant::now();
        loop {
            // The shell makes the log before `printf` writes to it: only a whole line counts.
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            if let Some((first, _)) = log.split_once('\n') {
                return PathBuf::from(first);
            }
            assert!(started.elapsed() < PATIENCE, "xdg-open was never called");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Launch {
    /// The window in `scheme` (through the GTK theme WebKitGTK reads it from).
    pub fn in_scheme(mut self, scheme: Scheme) -> Launch {
        let theme = if scheme == Scheme::Dark { "Adwaita:dark" } else { "Adwaita" };
        self.env.push(("GTK_THEME".into(), theme.into()));
        self
    }
}

/// A D-Bus session bus of the test's own (`dbus-daemon --session`), stopped when dropped. The
/// app is single-instance per session bus: windows on this one never meet the machine's others.
pub struct SessionBus {
    daemon: Child,
    /// What `DBUS_SESSION_BUS_ADDRESS` is set to for processes on this bus.
    pub address: String,
}

impl SessionBus {
    /// Starts the bus and waits until it takes connections.
    pub fn start() -> SessionBus {
        use std::io::BufRead;
        let mut daemon = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("dbus-daemon (Debian package dbus-daemon)");
        let mut address = String::new();
        std::io::BufReader::new(daemon.stdout.take().unwrap()).read_line(&mut address).unwrap();
        let address = address.trim().to_owned();
        assert!(address.starts_with("unix:"), "dbus-daemon printed {address:?}");
        SessionBus { daemon, address }
    }

    /// The variable that puts a process on this bus.
    pub fn env(&self) -> (String, String) {
        ("DBUS_SESSION_BUS_ADDRESS".into(), self.address.clone())
    }
}

impl Drop for SessionBus {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

/// A desktop panel with a tray (Xfce's `xfce4-panel`, whose systray plugin is a StatusNotifier
/// host) on `bus` and the test's display, with a configuration folder of its own; stopped when
/// dropped. The app's tray icon registers with it, and its menu is read and clicked over D-Bus,
/// as the panel itself does.
pub struct TrayHost {
    panel: Child,
    bus: String,
    _config: tempfile::TempDir,
}

impl TrayHost {
    /// Starts the panel (Xfce's default layout) and waits until it hosts tray icons.
    pub fn start(bus: &SessionBus) -> TrayHost {
        let config = tempfile::tempdir().unwrap();
        let channel = config.path().join("xfce4/xfconf/xfce-perchannel-xml");
        std::fs::create_dir_all(&channel).unwrap();
        std::fs::copy("/etc/xdg/xfce4/panel/default.xml", channel.join("xfce4-panel.xml"))
            .expect("xfce4-panel's default layout (Debian package xfce4-panel)");
        let panel = Command::new("xfce4-panel")
            .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
            .env("XDG_CONFIG_HOME", config.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("xfce4-panel (Debian package xfce4-panel)");
        let host = TrayHost { panel, bus: bus.address.clone(), _config: config };
        let started = Instant::now();
        while !host
            .call(
                "org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus.NameHasOwner",
                &["org.kde.StatusNotifierWatcher"],
            )
            .contains("true")
        {
            assert!(started.elapsed() < Duration::from_secs(40), "xfce4-panel hosts no tray");
            std::thread::sleep(Duration::from_millis(200));
        }
        host
    }

    /// `gdbus call` on the bus; the answer as GVariant text, or empty on an error.
    fn call(&self, dest: &str, path: &str, method: &str, args: &[&str]) -> String {
        let out = Command::new("gdbus")
            .args(["call", "--address", &self.bus, "--dest", dest, "--object-path", path, "--method", method, "--"])
            .args(args)
            .output()
            .expect("gdbus (Debian package libglib2.0-bin)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The registered tray icon's D-Bus name and its menu's object path.
    fn menu_address(&self) -> Option<(String, String)> {
        let items = self.call(
            "org.kde.StatusNotifierWatcher",
            "/StatusNotifierWatcher",
            "org.freedesktop.DBus.Properties.Get",
            &["org.kde.StatusNotifierWatcher", "RegisteredStatusNotifierItems"],
        );
        let item = items.split('\'').nth(1)?;
        let (service, path) = item.split_at(item.find('/')?);
        let menu =
            self.call(service, path, "org.freedesktop.DBus.Properties.Get", &["org.kde.StatusNotifierItem", "Menu"]);
        let menu = menu.split('\'').nth(1)?.to_owned();
        Some((service.to_owned(), menu))
    }

    /// The tray menu's items, `(id, label)`, once an icon is registered.
    pub fn menu(&self) -> Vec<(u32, String)> {
        let Some((service, menu)) = self.menu_address() else { return Vec::new() };
        let layout = self.call(&service, &menu, "com.canonical.dbusmenu.GetLayout", &["0", "-1", "@as []"]);
        // Each item reads `<(ID, {... 'label': <'TEXT'>...}, @av [])>`.
        layout
            .split("<(")
            .skip(1)
            .filter_map(|item| {
                let id = item.split(',').next()?.trim().parse().ok()?;
                let label = item.split("'label': <'").nth(1)?.split("'>").next()?.to_owned();
                Some((id, label))
            })
            .collect()
    }

    /// Waits until the tray menu has an item `accept` likes; its label.
    pub fn wait_for_item(&self, accept: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        loop {
            let items = self.menu();
            if let Some((_, label)) = items.iter().find(|(_, l)| accept(l)) {
                return label.clone();
            }
            assert!(started.elapsed() < PATIENCE, "no such tray menu item; it has {items:?}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Clicks the tray menu item labelled `label`, as the panel does.
    pub fn click(&self, label: &str) {
        let (service, menu) = self.menu_address().expect("a tray icon");
        let (id, _) = self
            .menu()
            .into_iter()
            .find(|(_, l)| l == label)
            .unwrap_or_else(|| panic!("no {label:?} in the tray menu"));
        self.call(&service, &menu, "com.canonical.dbusmenu.Event", &[&id.to_string(), "clicked", "<0>", "0"]);
    }
}

impl Drop for TrayHost {
    fn drop(&mut self) {
        let _ = self.panel.kill();
        let _ = self.panel.wait();
    }
}

/// The app in a real window on a data dir of its own, with its server on a free port.
pub struct Window {
    /// The WebDriver session.
    pub client: Client,
    /// The app's data dir.
    pub data_dir: PathBuf,
    /// Where the app's server listens.
    pub app_port: u16,
    // Dropped in this order: the driver (which ends the app), the folder, then the turn.
    _driver: Driver,
    dir: tempfile::TempDir,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

impl Window {
    /// Starts the app and waits until its window is ready.
    pub async fn open() -> Window {
        Window::open_with(Launch::default()).await
    }

    /// [`Window::open`], with `env` added to the app's environment (`PATH`, the D-Bus address: what
    /// the system around the app offers it).
    pub async fn open_with_env(env: &[(&str, std::ffi::OsString)]) -> Window {
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string_lossy().into_owned())).collect();
        Window::open_with(Launch { env, ..Launch::default() }).await
    }

    /// Starts the app as `launch` says and waits until its window is ready.
    pub async fn open_with(launch: Launch) -> Window {
        let turn = ONE_WINDOW.lock().await;
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data");
        let app_port = free_port();
        Window::connect(data_dir, app_port, Some(app_port), &launch, dir, turn).await
    }

    /// Starts the app on the data dir `dir/data` that the test prepared (or that an earlier window
    /// left, see [`Window::close_keeping`]), with its server port set to `app_port`.
    pub async fn open_in(dir: tempfile::TempDir, app_port: u16, launch: Launch) -> Window {
        let turn = ONE_WINDOW.lock().await;
        let data_dir = dir.path().join("data");
        Window::connect(data_dir, app_port, Some(app_port), &launch, dir, turn).await
    }

    /// Starts the app with `port` in its settings (no override, so its Settings can move it, as
    /// for anyone using the app) and waits until its window is ready.
    pub async fn open_on_port(port: u16) -> Window {
        Window::open_on_port_in(port, Scheme::Light).await
    }

    /// [`Window::open_on_port`] in `scheme`.
    pub async fn open_on_port_in(port: u16, scheme: Scheme) -> Window {
        let turn = ONE_WINDOW.lock().await;
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data");
        Vault::open(&data_dir).unwrap().set_setting(sharelock::settings::PORT, Some(&port.to_string())).unwrap();
        Window::connect(data_dir, port, None, &Launch::default().in_scheme(scheme), dir, turn).await
    }

    /// Starts tauri-driver and opens a session. A port picked free can be taken by another process
    /// before WebKitWebDriver binds it (it then exits with "Unable to listen", and the session
    /// fails): the driver is started again on fresh ports, a bounded number of times.
    async fn connect(
        data_dir: PathBuf,
        app_port: u16,
        port_override: Option<u16>,
        launch: &Launch,
        dir: tempfile::TempDir,
        turn: tokio::sync::MutexGuard<'static, ()>,
    ) -> Window {
        let app = env!("CARGO_BIN_EXE_sharelock-desktop");
        let caps = json!({ "browserName": "wry", "tauri:options": { "application": app, "args": launch.args } });
        let caps = caps.as_object().unwrap().clone();
        let mut tries = 0;
        let (client, driver) = loop {
            tries += 1;
            let driver = Driver::start(&data_dir, port_override, &launch.env);
            let session = tokio::time::timeout(
                Duration::from_secs(60),
                ClientBuilder::native()
                    .capabilities(caps.clone())
                    .connect(&format!("http://127.0.0.1:{}", driver.port)),
            )
            .await
            .expect("a WebDriver session within a minute");
            match session {
                Ok(client) => break (client, driver),
                Err(e) if tries < 3 => {
                    eprintln!("no WebDriver session ({e}); starting the driver again on fresh ports")
                }
                Err(e) => panic!("a WebDriver session: {e:?}"),
            }
        };
        let window = Window { client, data_dir, app_port, _driver: driver, dir, _turn: turn };
        window.wait_for("body[data-ready=true]").await;
        window
    }

    /// Ends the WebDriver session (the driver and the app stop when `self` drops).
    pub async fn close(self) {
        let _ = tokio::time::timeout(PATIENCE, self.client.clone().close()).await;
    }

    /// Ends the session and the app, and hands back the folder holding the data dir, for a
    /// later window ([`Window::open_in`]) to open again.
    pub async fn close_keeping(self) -> tempfile::TempDir {
        let Window { client, _driver, dir, _turn, .. } = self;
        let _ = tokio::time::timeout(PATIENCE, client.close()).await;
        drop(_driver);
        // The app exits a moment after its driver: wait, so the next window is not handed to it
        // as a second launch (the app is single-instance).
        let data_dir = dir.path().join("data");
        let started = Instant::now();
        while app_running(&data_dir) {
            assert!(started.elapsed() < PATIENCE, "the app on {} did not exit", data_dir.display());
            std::thread::sleep(Duration::from_millis(100));
        }
        dir
    }

    /// A scratch folder beside the data dir, for files to add.
    pub fn work_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The data dir opened as the CLI and the server open it: what is really stored.
    pub fn vault(&self) -> Vault {
        Vault::open(&self.data_dir).expect("the app's data dir opens")
    }

    /// Runs `script` in the page; a returned promise is awaited.
    pub async fn run(&self, script: &str, args: Vec<Value>) -> Value {
        self.client.execute(script, args).await.unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Runs `script` with `args` again and again until it returns `want`, within the patience;
    /// `what` names what never came, and the failure says what the script returned last.
    pub async fn run_until(&self, script: &str, args: Vec<Value>, want: Value, what: &str) {
        let started = Instant::now();
        loop {
            let got = self.run(script, args.clone()).await;
            if got == want {
                return;
            }
            assert!(started.elapsed() < PATIENCE, "{what}: last {got}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The first element `locator` finds, once it exists. Views re-render live, so the element
    /// matched may be replaced while the driver makes a handle for it ("stale element"): then it
    /// is looked up afresh, within the same patience.
    pub async fn find(&self, locator: Locator<'_>) -> Element {
        let started = Instant::now();
        loop {
            let left = PATIENCE.saturating_sub(started.elapsed());
            match self.client.wait().at_most(left).for_element(locator).await {
                Ok(element) => return element,
                Err(e) if e.is_stale_element_reference() && !left.is_zero() => {
                    tokio::time::sleep(Duration::from_millis(50)).await
                }
                Err(e) => panic!("{locator:?}: {e}"),
            }
        }
    }

    /// The first element matching `css`, once it exists.
    pub async fn wait_for(&self, css: &str) -> Element {
        self.find(Locator::Css(css)).await
    }

    /// Clicks what `locator` finds, the way a mouse does (WebDriver refuses hidden or covered
    /// elements). Views re-render live (a download or the watcher refreshes them), so an
    /// element found may be replaced before the click lands: then it is looked up afresh. A
    /// refused click never reached the page, so trying again cannot click twice.
    pub async fn click(&self, locator: Locator<'_>) {
        let started = Instant::now();
        loop {
            let element = self.find(locator).await;
            // WebKitWebDriver scrolls only the page, not a panel of its own: an element clipped by
            // the details panel's bottom edge would be clicked where the status bar covers it.
            let _ = self
                .client
                .execute("arguments[0].scrollIntoView({ block: 'center', inline: 'nearest' })", vec![json!(element)])
                .await;
            match element.click().await {
                Ok(()) => return,
                Err(e) if started.elapsed() > PATIENCE => panic!("click {locator:?}: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Presses the left mouse button on what `locator` finds and holds it down, after marking
    /// the element `data-pressed` so that a test can tell whether a re-render replaced it under
    /// the press. As with [`Window::click`], the element found may be replaced before the press
    /// lands (the watcher's refresh after the change that made it); the move onto it then fails
    /// before the button goes down, so looking it up afresh cannot press twice.
    pub async fn press_and_hold(&self, locator: Locator<'_>) {
        use fantoccini::actions::{MOUSE_BUTTON_LEFT, MouseActions, PointerAction};
        let started = Instant::now();
        loop {
            let element = self.find(locator).await;
            let mark = "arguments[0].scrollIntoView({ block: 'center' }); arguments[0].dataset.pressed = 'yes'";
            let pressed = match self.client.execute(mark, vec![json!(element)]).await {
                Ok(_) => {
                    let press = MouseActions::new("mouse".into())
                        .then(PointerAction::MoveToElement { element, duration: None, x: 0.0, y: 0.0 })
                        .then(PointerAction::Down { button: MOUSE_BUTTON_LEFT });
                    self.client.perform_actions(press).await
                }
                Err(e) => Err(e),
            };
            match pressed {
                Ok(()) => return,
                Err(e) if started.elapsed() > PATIENCE => panic!("press on {locator:?}: {e}"),
                Err(_) => {
                    let _ = self.client.release_actions().await;
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
            }
        }
    }

    /// Types `text` into the field matching `css`, after clearing it.
    pub async fn type_into(&self, css: &str, text: &str) {
        let field = self.wait_for(css).await;
        field.clear().await.unwrap_or_else(|e| panic!("clear {css}: {e}"));
        field.send_keys(text).await.unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    /// Presses and releases `key` on the keyboard: it goes to the focused element.
    pub async fn press(&self, key: Key) {
        let key: char = key.into();
        let keyboard =
            KeyActions::new("keyboard".into()).then(KeyAction::Down { value: key }).then(KeyAction::Up { value: key });
        self.client.perform_actions(keyboard).await.unwrap_or_else(|e| panic!("press {key:?}: {e}"));
        self.client.release_actions().await.unwrap_or_else(|e| panic!("release {key:?}: {e}"));
    }

    /// Presses Ctrl+`key` and lets go, as a shortcut is typed.
    pub async fn press_ctrl(&self, key: char) {
        let control: char = Key::Control.into();
        let keyboard = KeyActions::new("keyboard".into())
            .then(KeyAction::Down { value: control })
            .then(KeyAction::Down { value: key })
            .then(KeyAction::Up { value: key })
            .then(KeyAction::Up { value: control });
        self.client.perform_actions(keyboard).await.unwrap_or_else(|e| panic!("press Ctrl+{key}: {e}"));
        self.client.release_actions().await.unwrap_or_else(|e| panic!("release Ctrl+{key}: {e}"));
    }

    /// What the system clipboard holds, read back the way a user would: pasted (Ctrl+V) into a
    /// text field of the window's own, made for the purpose and removed after. Not while a modal
    /// dialog is open: the page behind it takes no focus.
    pub async fn clipboard(&self) -> String {
        let make = "const field = document.createElement('textarea'); field.id = 'e2e-paste';
            field.style.position = 'fixed'; field.style.top = '0'; field.style.left = '0';
            document.body.append(field); field.focus();";
        self.run(make, vec![]).await;
        self.press_ctrl('v').await;
        let read = "const field = document.getElementById('e2e-paste'); const text = field.value; field.remove(); return text;";
        self.run(read, vec![]).await.as_str().unwrap_or_default().to_owned()
    }

    /// Presses `key` while holding `modifier` (Shift+Down, Ctrl+A), as a person types it.
    pub async fn press_holding(&self, modifier: Key, key: Key) {
        let (modifier, key): (char, char) = (modifier.into(), key.into());
        let keyboard = KeyActions::new("keyboard".into())
            .then(KeyAction::Down { value: modifier })
            .then(KeyAction::Down { value: key })
            .then(KeyAction::Up { value: key })
            .then(KeyAction::Up { value: modifier });
        self.client.perform_actions(keyboard).await.unwrap_or_else(|e| panic!("press {key:?} with {modifier:?}: {e}"));
        self.client.release_actions().await.unwrap_or_else(|e| panic!("release {key:?}: {e}"));
    }

    /// Clicks the element matching `css` with `modifier` (Ctrl, Shift) held down, as a mouse does.
    /// As in [`Window::click`], an element replaced by a re-render before the click lands is
    /// looked up afresh; a refused click never reached the page.
    pub async fn click_holding(&self, modifier: Key, css: &str) {
        let modifier: char = modifier.into();
        let pause = Duration::ZERO;
        let started = Instant::now();
        loop {
            let element = self.wait_for(css).await;
            // One tick at a time across both: the key goes down, the mouse clicks, the key comes up.
            let keyboard = KeyActions::new("keyboard".into())
                .then(KeyAction::Down { value: modifier })
                .then(KeyAction::Pause { duration: pause })
                .then(KeyAction::Pause { duration: pause })
                .then(KeyAction::Pause { duration: pause })
                .then(KeyAction::Up { value: modifier });
            let mouse = MouseActions::new("mouse".into())
                .then(PointerAction::Pause { duration: pause })
                .then(PointerAction::MoveToElement { element, duration: None, x: 0.0, y: 0.0 })
                .then(PointerAction::Down { button: MOUSE_BUTTON_LEFT })
                .then(PointerAction::Up { button: MOUSE_BUTTON_LEFT })
                .then(PointerAction::Pause { duration: pause });
            let done = self.client.perform_actions(fantoccini::actions::Actions::from(keyboard).and(mouse)).await;
            self.client.release_actions().await.unwrap_or_else(|e| panic!("release after clicking {css}: {e}"));
            match done {
                Ok(()) => return,
                Err(e) if started.elapsed() > PATIENCE => panic!("click {css} with {modifier:?}: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Clicks the mouse at `(x, y)` of the viewport, whatever is there.
    pub async fn click_at(&self, x: f64, y: f64) {
        let mouse = MouseActions::new("mouse".into())
            .then(PointerAction::MoveTo { duration: None, x, y })
            .then(PointerAction::Down { button: MOUSE_BUTTON_LEFT })
            .then(PointerAction::Up { button: MOUSE_BUTTON_LEFT });
        self.client.perform_actions(mouse).await.unwrap_or_else(|e| panic!("click at {x},{y}: {e}"));
        self.client.release_actions().await.unwrap_or_else(|e| panic!("release the mouse: {e}"));
    }

    /// The id of the focused element (empty if it has none).
    pub async fn focused(&self) -> String {
        let id = self.run("return document.activeElement ? document.activeElement.id : ''", vec![]).await;
        id.as_str().unwrap_or_default().to_owned()
    }

    /// The text (or an attribute) of the first element matching `css`, once it is rendered (it
    /// has a box on the page: nothing `display: none` counts, wherever it is scrolled) and
    /// `accept` likes it. Views re-render live, so each try looks the element up afresh.
    pub async fn read_until(&self, css: &str, attr: Option<&str>, accept: impl Fn(&str) -> bool) -> String {
        self.read_within(css, attr, accept).await.unwrap_or_else(|last| panic!("{css}: never acceptable, {last}"))
    }

    /// [`Window::read_until`], with what was seen last as the error when nothing acceptable came
    /// within the patience, for a caller that has more to say about why.
    async fn read_within(
        &self,
        css: &str,
        attr: Option<&str>,
        accept: impl Fn(&str) -> bool,
    ) -> Result<String, String> {
        const READ: &str = "const e = document.querySelector(arguments[0]);
            if (!e || e.getClientRects().length === 0) return null;
            return arguments[1] ? e.getAttribute(arguments[1]) : e.textContent;";
        let started = Instant::now();
        let mut last = None;
        while started.elapsed() < PATIENCE {
            if let Ok(Value::String(value)) = self.client.execute(READ, vec![json!(css), json!(attr)]).await {
                if accept(&value) {
                    return Ok(value);
                }
                last = Some(value);
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        Err(match last {
            Some(last) => format!("last seen {last:?}"),
            None => "never shown".to_owned(),
        })
    }

    /// Waits until a toast saying exactly `text` shows; if none does, fails with every toast
    /// that showed meanwhile (a toast lasts a few seconds, so the reason is gone by the end).
    pub async fn toast(&self, text: &str) {
        let started = Instant::now();
        let mut seen: Vec<String> = Vec::new();
        while started.elapsed() < PATIENCE {
            for shown in self.toasts(".toast").await {
                if shown == text {
                    return;
                }
                if !seen.contains(&shown) {
                    seen.push(shown);
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no toast said {text:?} within {PATIENCE:?}; the toasts shown meanwhile: {seen:?}");
    }

    /// The texts of the error toasts showing now.
    pub async fn error_toasts(&self) -> Vec<String> {
        self.toasts(".toast.error").await
    }

    /// The messages of the toasts matching `css` showing now.
    async fn toasts(&self, css: &str) -> Vec<String> {
        let texts = self
            .run(
                "return [...document.querySelectorAll(arguments[0])].map(t => t.firstChild.textContent)",
                vec![json!(css)],
            )
            .await;
        texts.as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_owned()).collect()
    }

    /// Waits until the field matching `css` is marked invalid, and returns the message under it,
    /// after checking that the field names that message as its description.
    pub async fn field_error(&self, css: &str) -> String {
        self.read_until(css, Some("aria-invalid"), |v| v == "true").await;
        let script = "const f = document.querySelector(arguments[0]);
            const note = document.getElementById(f.id + '-error');
            const described = (f.getAttribute('aria-describedby') || '').split(' ').includes(f.id + '-error');
            return note && described && note.getClientRects().length > 0 ? note.textContent : null;";
        let text = self.run(script, vec![json!(css)]).await;
        text.as_str().unwrap_or_else(|| panic!("{css}: no message under the field that describes it")).to_owned()
    }

    /// Adds a file of `size` bytes named `name` through `addPaths` (what the drop handler and
    /// the picker call); returns its id. The UI selects it.
    pub async fn add_file(&self, name: &str, size: usize) -> String {
        let source = self.work_dir().join(name);
        std::fs::write(&source, pattern(size)).unwrap();
        let ids = self
            .run("return window.sharelockUi.addPaths(arguments[0]).then(r => r.map(f => f.id))", vec![json!([source])])
            .await;
        match ids.as_array().map(Vec::as_slice) {
            Some([Value::String(id)]) => id.clone(),
            _ => panic!("adding {name} gave {ids}"),
        }
    }

    /// Creates a link with the form's defaults for the selected file, which has none yet;
    /// returns its URL.
    pub async fn create_link(&self) -> String {
        // A click on a disabled button is taken and does nothing (the button is off while the
        // server is not running): wait for it to be on, and say what the window said if no
        // link comes of the click.
        self.click(Locator::Css("#create-link:not([disabled])")).await;
        // The full URL is the element's title (its text may be clipped on screen).
        let prefix = format!("http://127.0.0.1:{}/d/", self.app_port);
        let made = self.read_within("#d-links .link .link-url", Some("title"), |u| u.starts_with(&prefix)).await;
        match made {
            Ok(url) => url,
            Err(last) => {
                let said = self
                    .run(
                        "return { server: document.getElementById('server-text').textContent, \
                            button_off: document.getElementById('create-link').disabled, \
                            links: [...document.querySelectorAll('#d-links .link')].map(l => l.outerHTML) }",
                        vec![],
                    )
                    .await;
                panic!("no link came of Create link ({last}): {said}; error toasts {:?}", self.error_toasts().await)
            }
        }
    }

    /// Saves a screenshot of the page under the target dir for people to look at (the README's
    /// picture is taken the same way: `./dev screenshot`, see `readme.rs`).
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap_or_else(|e| panic!("screenshot {name}: {e}"));
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// Saves the whole screen under the target dir, as `import` from ImageMagick sees it: unlike
    /// [`Window::screenshot`], it shows open `<dialog>`s. For people to look at; a display without
    /// `import` just has no picture.
    pub fn screen(&self, name: &str) {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e");
        std::fs::create_dir_all(&dir).unwrap();
        // The screen is painted a moment after the page changes: without a pause, a dialog or a
        // toast the test just saw may be missing from the picture.
        std::thread::sleep(Duration::from_millis(400));
        let _ = Command::new("import").args(["-window", "root"]).arg(dir.join(format!("{name}-screen.png"))).status();
    }

    /// Whether the element matching `css` is rendered (has a box on the page).
    pub async fn is_shown(&self, css: &str) -> bool {
        let script = "const e = document.querySelector(arguments[0]); return !!e && e.getClientRects().length > 0;";
        self.run(script, vec![json!(css)]).await == json!(true)
    }

    /// The texts of the buttons of the link with `id` in the details panel.
    pub async fn link_buttons(&self, id: &str) -> Vec<String> {
        let script = "return [...document.querySelectorAll(`#d-links li[data-id='${arguments[0]}'] button`)].map(b => b.textContent);";
        let texts = self.run(script, vec![json!(id)]).await;
        texts.as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_owned()).collect()
    }

    /// Opens the shared confirm dialog with what `opener` finds, checks its title, and starts
    /// watching for its close; end the turn with [`Window::dialog_settled`].
    pub async fn open_dialog(&self, opener: Locator<'_>, title: &str) {
        self.click(opener).await;
        self.dialog_opened(title).await;
    }

    /// Waits for the shared dialog (opened by a key, say), checks its title, and starts watching
    /// for its close, as [`Window::open_dialog`] does.
    pub async fn dialog_opened(&self, title: &str) {
        self.wait_for("#dialog[open]").await;
        assert_eq!(self.wait_for("#dialog-title").await.text().await.unwrap(), title);
        // The app's own close listener was added when the dialog opened, so this one runs after
        // it, and after what the app does at once on close: sending a command, if it acts.
        let watch = "const dialog = document.getElementById('dialog');
            window.e2eDialogClosed = new Promise(done => dialog.addEventListener('close', done, { once: true }));";
        self.run(watch, vec![]).await;
    }

    /// Waits until the dialog opened by [`Window::open_dialog`] has closed and every command the
    /// window sent meanwhile has been answered (the window is `aria-busy` until then): whatever
    /// the dialog led to is then in the data dir, and what is absent there did not happen.
    pub async fn dialog_settled(&self) {
        let settle = "return window.e2eDialogClosed.then(() => new Promise(idle => {
                const check = () => document.body.hasAttribute('aria-busy') ? setTimeout(check, 20) : idle(true);
                check();
            }));";
        tokio::time::timeout(PATIENCE, self.run(settle, vec![]))
            .await
            .expect("the dialog closes and the commands it led to are answered");
    }

    /// HTTP status of a GET of `url` (the body is read in full, so a download counts).
    pub async fn status_of(&self, url: &str) -> u16 {
        let response = reqwest::get(url).await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = response.status().as_u16();
        response.bytes().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
        status
    }
}

/// Whether an app process (started with `SHARELOCK_DATA_DIR` set to `data_dir`, as the driver
/// starts it) is still running.
pub fn app_running(data_dir: &Path) -> bool {
    !app_pids(data_dir).is_empty()
}

/// The app processes running on `data_dir`.
fn app_pids(data_dir: &Path) -> Vec<u32> {
    let wanted = format!("SHARELOCK_DATA_DIR={}", data_dir.display());
    let Ok(procs) = std::fs::read_dir("/proc") else { return Vec::new() };
    procs
        .flatten()
        .filter(|p| {
            let exe = std::fs::read_link(p.path().join("exe")).unwrap_or_default();
            let is_app = exe.file_name().is_some_and(|n| n.to_string_lossy().starts_with("sharelock-desktop"));
            is_app
                && std::fs::read(p.path().join("environ"))
                    .is_ok_and(|env| env.split(|b| *b == 0).any(|v| v == wanted.as_bytes()))
        })
        .filter_map(|p| p.file_name().to_str()?.parse().ok())
        .collect()
}

/// `size` bytes that are not all alike, so a wrong range or offset shows.
pub fn pattern(size: usize) -> Vec<u8> {
    (0..size as u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect()
}

/// The `sharelock` CLI cargo built beside the app (`cargo build -p sharelock-desktop -p sharelock`).
pub fn cli() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let cli = exe.parent().and_then(Path::parent).unwrap().join("sharelock");
    assert!(cli.is_file(), "{} is missing: build it with cargo build -p sharelock", cli.display());
    cli
}

/// Drags `paths` from a drag source on the screen (`drag_source.py`, a window as a file manager
/// is) and drops them at (`x`, `y`) on the screen, moving the real pointer with `xdotool`: the
/// drop reaches the app through X's drag-and-drop protocol, as a drop from a desktop does. Returns
/// once the drag source has seen the drop end.
pub fn drop_from_desktop(paths: &[&Path], x: i32, y: i32) {
    use std::io::BufRead;
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/drag_source.py");
    let mut child = Command::new("/usr/bin/python3")
        .arg(source)
        .args(paths)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 with GTK (python3-gi, gir1.2-gtk-3.0)");
    let (said, heard) = std::sync::mpsc::channel();
    let out = std::io::BufReader::new(child.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            let _ = said.send(line);
        }
    });
    let mut expect = |word: &str| {
        let line = heard.recv_timeout(PATIENCE);
        if line.as_deref() != Ok(word) {
            let _ = child.kill();
            panic!("the drag source said {line:?}, not {word:?}");
        }
    };
    expect("ready");
    let xdotool = |args: &[String]| {
        let status = Command::new("xdotool").args(args).status().expect("xdotool");
        assert!(status.success(), "xdotool {args:?}");
    };
    // Press on the source's button, then move in steps: a toolkit starts a drag only once the
    // pointer has moved a few pixels with the button down, and the target hears the moves.
    xdotool(&["mousemove".into(), "1195".into(), "740".into(), "mousedown".into(), "1".into()]);
    for step in 1..=10 {
        let (px, py) = (1195 + (x - 1195) * step / 10, 740 + (y - 740) * step / 10);
        xdotool(&["mousemove".into(), px.to_string(), py.to_string()]);
        std::thread::sleep(Duration::from_millis(60));
    }
    std::thread::sleep(Duration::from_millis(300));
    xdotool(&["mouseup".into(), "1".into()]);
    expect("dropped");
    let _ = child.wait();
}
