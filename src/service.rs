//! The background service: `sharelock serve` on a data dir, started by the user's session
//! manager, so links keep working while no window is open.
//!
//! On Linux it is a systemd user unit (`~/.config/systemd/user/sharelock.service`), written here
//! and started with `systemctl --user` when a user manager runs. The macOS LaunchAgent and the
//! Windows Task Scheduler task are generated from the same [`Unit`] for people to install by hand
//! (see README, "Keep links working while the window is closed"); they are not tested here.
//!
//! Both the CLI (`sharelock service`) and the desktop app's setting go through [`install`] and
//! [`uninstall`], so they write the same file and say the same things.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;

use crate::{Error, Result, Vault};

/// The unit's file name, in the user's systemd folder.
pub const UNIT_NAME: &str = "sharelock.service";
/// What the background service runs: `EXE --data-dir DATA_DIR serve --bind BIND [--expose]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unit {
    /// The `sharelock` CLI to run.
    pub exe: PathBuf,
    /// The data dir it serves; `None` for the default one of whoever runs it (the packaged unit:
    /// `~/.local/share/sharelock` of each user).
    pub data_dir: Option<PathBuf>,
    /// Where it listens: the desktop app's listen address, so links made by either work.
    pub bind: SocketAddr,
    /// Whether it asks the router for a port mapping (`serve --expose`).
    pub expose: bool,
}

impl Unit {
    /// The command line, as words (for a LaunchAgent's `ProgramArguments`, or to run it by hand).
    pub fn args(&self) -> Vec<String> {
        let mut args = vec![self.exe.display().to_string()];
        if let Some(dir) = &self.data_dir {
            args.extend(["--data-dir".into(), dir.display().to_string()]);
        }
        args.extend(["serve".into(), "--bind".into(), self.bind.to_string()]);
        if self.expose {
            args.push("--expose".into());
        }
        args
    }

    /// The systemd user unit. Its `ExecStart` is the whole command, each word quoted as systemd
    /// reads it, so a data dir with spaces, `%` or `$` in it stays one argument.
    pub fn systemd(&self) -> String {
        let exec: Vec<String> = self.args().iter().map(|a| systemd_quote(a)).collect();
        format!(
            "# Sharelock's background server. `sharelock service install` (or the desktop app's \"Keep\n\
             # links working when Sharelock is closed\") writes it, `sharelock service uninstall` removes it.\n\
             [Unit]\n\
             Description=Sharelock: serve links and upload links in the background\n\
             After=network-online.target\n\
             Wants=network-online.target\n\
             \n\
             [Service]\n\
             Type=simple\n\
             ExecStart={}\n\
             Restart=on-failure\n\
             RestartSec=5\n\
             \n\
             [Install]\n\
             WantedBy=default.target\n",
            exec.join(" ")
        )
    }

    /// The macOS LaunchAgent (`~/Library/LaunchAgents/app.sharelock.serve.plist`, then
    /// `launchctl load -w` it). Untested here.
    pub fn launch_agent(&self) -> String {
        let args: String = self.args().iter().map(|a| format!("    <string>{}</string>\n", xml_escape(a))).collect();
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
             <plist version=\"1.0\">\n\
             <dict>\n\
             \x20 <key>Label</key>\n\
             \x20 <string>app.sharelock.serve</string>\n\
             \x20 <key>ProgramArguments</key>\n\
             \x20 <array>\n\
             {args}\
             \x20 </array>\n\
             \x20 <key>RunAtLoad</key>\n\
             \x20 <true/>\n\
             \x20 <key>KeepAlive</key>\n\
             \x20 <dict>\n\
             \x20   <key>SuccessfulExit</key>\n\
             \x20   <false/>\n\
             \x20 </dict>\n\
             </dict>\n\
             </plist>\n"
        )
    }

    /// The Windows Task Scheduler task (`schtasks /Create /TN Sharelock /XML sharelock.xml`): at
    /// logon, restarted on failure. Untested here.
    pub fn windows_task(&self) -> String {
        let args = self.args();
        let exe = xml_escape(&args[0]);
        let rest: Vec<String> = args[1..].iter().map(|a| xml_escape(&windows_quote(a))).collect();
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-16\"?>\n\
             <Task version=\"1.2\" xmlns=\"http://schemas.microsoft.com/windows/2004/02/mit/task\">\n\
             \x20 <RegistrationInfo><Description>Sharelock: serve links and upload links in the background</Description></RegistrationInfo>\n\
             \x20 <Triggers><LogonTrigger><Enabled>true</Enabled></LogonTrigger></Triggers>\n\
             \x20 <Settings>\n\
             \x20   <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>\n\
             \x20   <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>\n\
             \x20   <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>\n\
             \x20   <ExecutionTimeLimit>PT0S</ExecutionTimeLimit>\n\
             \x20   <RestartOnFailure><Interval>PT1M</Interval><Count>999</Count></RestartOnFailure>\n\
             \x20 </Settings>\n\
             \x20 <Actions Context=\"Author\">\n\
             \x20   <Exec><Command>{exe}</Command><Arguments>{}</Arguments></Exec>\n\
             \x20 </Actions>\n\
             </Task>\n",
            rest.join(" ")
        )
    }
}

/// Quotes one word for a systemd command line: double quotes, with `\` and `"` escaped, `%`
/// doubled (a specifier otherwise) and `$` doubled (a variable otherwise).
fn systemd_quote(word: &str) -> String {
    let mut out = String::from("\"");
    for c in word.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '%' => out.push_str("%%"),
            '$' => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Splits an `ExecStart=` value back into words, undoing [`systemd_quote`] (for the tests, and
/// for `status` to show what runs).
pub fn exec_start_words(unit_text: &str) -> Option<Vec<String>> {
    let line = unit_text.lines().find_map(|l| l.strip_prefix("ExecStart="))?;
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let Some(first) = chars.next() else { break };
        let mut word = String::new();
        if first == '"' {
            loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => word.push(chars.next()?),
                    c @ ('%' | '$') => {
                        chars.next_if_eq(&c);
                        word.push(c)
                    }
                    c => word.push(c),
                }
            }
        } else {
            word.push(first);
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                word.push(c);
            }
        }
        words.push(word);
    }
    Some(words)
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn windows_quote(word: &str) -> String {
    if word.contains([' ', '\t', '"']) { format!("\"{}\"", word.replace('"', "\\\"")) } else { word.to_string() }
}

/// Where the desktop app listens, from its settings (see [`settings::ListenScope`]): the address
/// the background service binds, so the app finds it there and attaches; and whether it asks the
/// router for a port mapping, as the app would.
pub fn app_listen_addr(vault: &Vault) -> Result<(SocketAddr, bool)> {
    let (scope, port) = vault.app_listen()?;
    Ok((scope.bind(port), scope.exposure().map.is_some()))
}

/// The user's systemd unit folder: `$XDG_CONFIG_HOME/systemd/user`, else `~/.config/systemd/user`.
pub fn unit_dir() -> Result<PathBuf> {
    dirs::config_dir()
        .map(|d| d.join("systemd").join("user"))
        .ok_or_else(|| Error::InvalidInput("cannot tell where the user's configuration lives: set HOME".into()))
}

/// What `install`, `uninstall` and `status` found and did, in words people read and fields
/// scripts read.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The unit file.
    pub unit_path: PathBuf,
    /// Whether the unit file is there (after the command).
    pub installed: bool,
    /// What the unit runs, when it is there.
    pub exec_start: Option<Vec<String>>,
    /// Whether a systemd user manager answered.
    pub user_manager: bool,
    /// systemd's word for the unit (`active`, `inactive`, `failed`…), when a manager answered.
    pub state: Option<String>,
    /// What was done, one line each.
    pub done: Vec<String>,
    /// What could not be done and what to do instead, one line each.
    pub todo: Vec<String>,
}

impl Report {
    /// The report as lines of text.
    pub fn text(&self) -> String {
        let mut lines = self.done.clone();
        lines.extend(self.todo.iter().cloned());
        lines.join("\n")
    }
}

/// Runs `systemctl --user ARGS`; `Err` with the reason when there is no `systemctl` or no user
/// manager to talk to.
fn systemctl(args: &[&str]) -> std::result::Result<String, String> {
    let output = Command::new("systemctl")
        .arg("--user")
        .args(args)
        .output()
        .map_err(|e| format!("systemctl cannot be run ({e})"))?;
    let stdout = String::from_utf8_lossy(&output.stdout).trim().to_string();
    if output.status.success() {
        Ok(stdout)
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
        Err(if stderr.is_empty() { stdout } else { stderr })
    }
}

/// Whether a systemd user manager answers (`systemctl --user` reaches it), and why not.
fn user_manager() -> std::result::Result<(), String> {
    // `show-environment` succeeds exactly when the manager answers, whatever state it is in.
    systemctl(&["show-environment"]).map(|_| ())
}

/// Writes the unit and, when a user manager runs, enables and starts it.
pub fn install(unit: &Unit) -> Result<Report> {
    let dir = unit_dir()?;
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
    let path = dir.join(UNIT_NAME);
    let text = unit.systemd();
    crate::atomic::write(&path, false, crate::atomic::Existing::Replace, |f| {
        std::io::Write::write_all(f, text.as_bytes())
    })
    .map_err(|e| Error::io(format!("cannot write {}", path.display()), e))?;
    let mut report = Report {
        unit_path: path.clone(),
        installed: true,
        exec_start: Some(unit.args()),
        user_manager: false,
        state: None,
        done: vec![format!("wrote {}", path.display())],
        todo: Vec::new(),
    };
    match user_manager() {
        Ok(()) => {
            report.user_manager = true;
            match systemctl(&["daemon-reload"]).and_then(|_| systemctl(&["enable", "--now", UNIT_NAME])) {
                Ok(_) => report.done.push(format!("enabled and started {UNIT_NAME} (systemctl --user)")),
                Err(e) => report.todo.push(format!(
                    "could not start it: {e}; see `systemctl --user status {UNIT_NAME}` and `journalctl --user -u {UNIT_NAME}`"
                )),
            }
            report.state = Some(systemctl(&["is-active", UNIT_NAME]).unwrap_or_else(|s| s));
        }
        Err(why) => report.todo.push(format!(
            "not started: no systemd user manager answers ({why}). In a session with one, start it with \
             `systemctl --user daemon-reload && systemctl --user enable --now {UNIT_NAME}`; or run it yourself: {}",
            unit.args().join(" ")
        )),
    }
    Ok(report)
}

/// Stops and disables the unit when a user manager runs, and removes its file.
pub fn uninstall() -> Result<Report> {
    let path = unit_dir()?.join(UNIT_NAME);
    let mut report = Report {
        unit_path: path.clone(),
        installed: false,
        exec_start: None,
        user_manager: false,
        state: None,
        done: Vec::new(),
        todo: Vec::new(),
    };
    let manager = user_manager();
    if manager.is_ok() {
        report.user_manager = true;
        match systemctl(&["disable", "--now", UNIT_NAME]) {
            Ok(_) => report.done.push(format!("stopped and disabled {UNIT_NAME}")),
            Err(e) if path.exists() => report.todo.push(format!("could not stop it: {e}")),
            Err(_) => {}
        }
    }
    match std::fs::remove_file(&path) {
        Ok(()) => report.done.push(format!("removed {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            report.done.push(format!("nothing to remove: {} does not exist", path.display()))
        }
        Err(e) => return Err(Error::io(format!("cannot remove {}", path.display()), e)),
    }
    match manager {
        Ok(()) => {
            let _ = systemctl(&["daemon-reload"]);
        }
        Err(why) => report.todo.push(format!(
            "no systemd user manager answers ({why}): a `sharelock serve` started by hand keeps running until stopped"
        )),
    }
    Ok(report)
}

/// Whether the unit is installed, what it runs, and what systemd says of it.
pub fn status() -> Result<Report> {
    let path = unit_dir()?.join(UNIT_NAME);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io(format!("cannot read {}", path.display()), e)),
    };
    let mut report = Report {
        unit_path: path.clone(),
        installed: text.is_some(),
        exec_start: text.as_deref().and_then(exec_start_words),
        user_manager: false,
        state: None,
        done: Vec::new(),
        todo: Vec::new(),
    };
    report.done.push(match &report.exec_start {
        Some(words) => format!("installed: {} runs {}", path.display(), words.join(" ")),
        None if report.installed => format!("installed: {} (without an ExecStart line)", path.display()),
        None => format!("not installed: {} does not exist", path.display()),
    });
    match user_manager() {
        Ok(()) => {
            report.user_manager = true;
            // `is-active` exits non-zero for anything but active, with the state on stdout.
            let state = systemctl(&["is-active", UNIT_NAME]).unwrap_or_else(|s| s);
            report.done.push(format!("systemd says: {state}"));
            report.state = Some(state);
        }
        Err(why) => report.todo.push(format!("no systemd user manager answers ({why})")),
    }
    Ok(report)
}

/// The path of the `sharelock` CLI next to `exe` (the app's own executable): the installed
/// `/usr/bin/sharelock` beside `/usr/bin/sharelock-desktop`, or the build's beside the app's.
pub fn cli_beside(exe: &Path) -> Option<PathBuf> {
    let cli = exe.with_file_name(if cfg!(windows) { "sharelock.exe" } else { "sharelock" });
    cli.is_file().then_some(cli)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(data_dir: &str) -> Unit {
        Unit {
            exe: "/usr/bin/sharelock".into(),
            data_dir: Some(data_dir.into()),
            bind: "127.0.0.1:7420".parse().expect("an address"),
            expose: false,
        }
    }

    #[test]
    fn systemd_unit_runs_serve_on_the_data_dir_and_restarts_on_failure() {
        let text = unit("/home/ann/.local/share/sharelock").systemd();
        assert!(text.contains(
            "\nExecStart=\"/usr/bin/sharelock\" \"--data-dir\" \"/home/ann/.local/share/sharelock\" \"serve\" \"--bind\" \"127.0.0.1:7420\"\n"
        ));
        assert!(text.contains("\nRestart=on-failure\n"));
        assert!(text.contains("\n[Install]\nWantedBy=default.target\n"));
    }

    #[test]
    fn exec_start_keeps_odd_data_dirs_one_word() {
        let odd = "/home/ann/My \"files\" 100% $HOME\\x";
        let text = unit(odd).systemd();
        let words = exec_start_words(&text).expect("an ExecStart line");
        assert_eq!(words, unit(odd).args());
        assert_eq!(words[2], odd);
    }

    /// The package ships the user unit for everyone's default data dir (`/usr/lib/systemd/user`):
    /// it is this code's, not a copy that drifts.
    #[test]
    fn packaged_user_unit_is_the_generated_one() {
        let packaged = include_str!("../src-tauri/packaging/sharelock-user.service");
        let unit = Unit { data_dir: None, ..unit("") };
        assert_eq!(packaged, unit.systemd(), "regenerate src-tauri/packaging/sharelock-user.service");
        assert_eq!(
            exec_start_words(packaged).expect("ExecStart"),
            ["/usr/bin/sharelock", "serve", "--bind", "127.0.0.1:7420"]
        );
    }

    #[test]
    fn launch_agent_and_windows_task_carry_the_same_command() {
        let u = unit("/Users/a&b/share");
        let plist = u.launch_agent();
        assert!(plist.contains("<string>/Users/a&amp;b/share</string>"));
        assert!(plist.contains("<string>serve</string>"));
        let task = u.windows_task();
        assert!(task.contains("<Command>/usr/bin/sharelock</Command>"));
        assert!(task.contains("<Arguments>--data-dir /Users/a&amp;b/share serve --bind 127.0.0.1:7420</Arguments>"));
    }
}
