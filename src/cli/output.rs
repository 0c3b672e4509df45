//! What the CLI prints: text for people, JSON for scripts (`--json`), progress on stderr.

use super::*;

pub(super) fn verify_text(
    report: &crate::vault::VerifyReport,
    adopted: Option<&[crate::vault::Adopted]>,
    quarantine: &std::path::Path,
) -> String {
    let mut text = String::new();
    for a in adopted.unwrap_or_default() {
        let how = if a.restored { "restored to its record" } else { "added" };
        text.push_str(&format!(
            "{how}: {}  {}  {}  (from {})\n",
            a.file.id,
            format_size(a.file.size),
            a.file.name,
            a.from.display()
        ));
    }
    text.push_str(&format!("checked {} file(s): ", report.checked));
    if report.problems.is_empty() && report.database.is_empty() {
        text.push_str("all intact");
    }
    for line in &report.database {
        text.push_str(&format!("\ndatabase: {line}"));
    }
    for p in &report.problems {
        text.push_str(&format!("\n{}  {}: {}", p.id, p.name, p.problem));
    }
    for (files, title) in [
        (&report.quarantined, format!("in the quarantine ({}), without a record:", quarantine.display())),
        (&report.unrecorded, "in the store, without a record:".to_string()),
    ] {
        if !files.is_empty() {
            text.push_str(&format!("\n{title}"));
        }
        for f in files {
            text.push_str(&format!(
                "\n  {}  {}  {}  sha256 {}",
                f.file,
                format_size(f.size),
                time::rfc3339(f.modified),
                f.sha256
            ));
        }
    }
    text
}

/// A progress bar on stderr while a file is added, on a terminal only: piped or redirected,
/// nothing is drawn.
pub(super) fn progress_bar(path: &std::path::Path, size: u64) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::with_draw_target(Some(size), indicatif::ProgressDrawTarget::stderr());
    let style = indicatif::ProgressStyle::with_template(
        "{msg} [{wide_bar}] {bytes}/{total_bytes} {binary_bytes_per_sec} {eta}",
    )
    .map(|s| s.progress_chars("=> "))
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
    bar
}

/// Writes to stdout. A reader that went away (`sharelock ls | head`) ends the output quietly, as
/// it does for other command-line tools, where `println!` would panic on the broken pipe.
pub(super) fn emit(text: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush())
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("sharelock: cannot write the output: {e}");
    }
}

pub(super) fn link_text(link: &LinkInfo, now: i64) -> String {
    let expires = match link.link.expires_at {
        Some(t) => format!("expires {} ({})", time::relative(t, now), time::rfc3339(t)),
        None => "never expires".into(),
    };
    let limit = match link.link.max_downloads {
        Some(n) => format!(", {} of {n} downloads used", link.link.downloads),
        None => String::new(),
    };
    // Fetches that did not reach their client and were not counted (see `links::give_back`).
    let limit = match link.link.undelivered {
        0 => limit,
        n => format!("{limit} ({n} not delivered, not counted)"),
    };
    // A share lists its files under its zip's URL.
    let files: String = match &link.files {
        Some(files) => files.iter().map(|f| format!("\n  {} ({}): {}", f.name, format_size(f.size), f.url)).collect(),
        None => String::new(),
    };
    let limit = if link.link.password { format!("{limit}, password required") } else { limit };
    let limit = if link.link.preview { limit } else { format!("{limit}, no previews") };
    format!(
        "{}{files}\npage: {}\nlink {}: {}, {expires}{limit}; opens for {}",
        link.url,
        link.page_url,
        link.link.id,
        link.status.as_str(),
        opens_for(link.reach)
    )
}

pub(super) fn slot_text(slot: &SlotInfo, now: i64) -> String {
    format!(
        "{}\nslot {}: {}, up to {} file(s) of at most {} each, open until {} ({}); opens for {}",
        slot.url,
        slot.slot.id,
        slot.status.as_str(),
        slot.slot.max_files,
        format_size(slot.slot.max_size),
        time::rfc3339(slot.slot.expires_at),
        time::relative(slot.slot.expires_at, now),
        opens_for(slot.reach)
    )
}

/// Who a URL opens for, as the end of a line about a link or slot.
fn opens_for(reach: crate::reach::Audience) -> &'static str {
    match reach {
        crate::reach::Audience::ThisComputer => "this computer only (see `sharelock reach`)",
        crate::reach::Audience::LocalNetwork => "your network",
        crate::reach::Audience::Internet => "the internet",
    }
}

/// Where results go: text for people, or JSON with `--json`.
pub(super) struct Output {
    /// Whether `--json` was given.
    pub(super) json: bool,
}

impl Output {
    pub(super) fn print<T: Serialize>(&self, value: &T, text: impl FnOnce() -> String) -> Result<()> {
        if self.json {
            return self.json_value(value);
        }
        emit(&format!("{}\n", text()));
        Ok(())
    }

    pub(super) fn json_value<T: Serialize>(&self, value: &T) -> Result<()> {
        if self.json {
            let text = serde_json::to_string_pretty(value).map_err(|e| Error::InvalidInput(e.to_string()))?;
            emit(&format!("{text}\n"));
        }
        Ok(())
    }

    /// Files newest first, each received folder gathered under a line of its own, its files
    /// by path (`files::by_folder`).
    pub(super) fn files(&self, files: &[FileInfo]) -> Result<()> {
        use crate::files::{Listed, by_folder};
        self.print(&files, || {
            let mut text =
                format!("{:<16}  {:>9}  {:<20}  {:<7}  {:>5}  NAME", "ID", "SIZE", "ADDED", "ACCESS", "LINKS");
            let row = |f: &FileInfo| {
                let access = if f.file.public {
                    "public"
                } else if f.file.slot_id.is_some() {
                    "inbox"
                } else {
                    "private"
                };
                format!(
                    "\n{:<16}  {:>9}  {:<20}  {:<7}  {:>5}  {}",
                    f.file.id,
                    format_size(f.file.size),
                    time::rfc3339(f.file.created_at),
                    access,
                    f.links,
                    f.file.path.as_deref().unwrap_or(&f.file.name)
                )
            };
            for line in by_folder(files, |f| &f.file) {
                match line {
                    Listed::File(f) => text.push_str(&row(f)),
                    Listed::Folder { name, files, size } => {
                        let count =
                            if files.len() == 1 { "1 file".to_string() } else { format!("{} files", files.len()) };
                        text.push_str(&format!("\n{:<65}  {name}/ ({count}, {})", "", format_size(size)));
                        files.into_iter().for_each(|f| text.push_str(&row(f)));
                    }
                }
            }
            text
        })
    }

    pub(super) fn history(&self, rows: &[crate::history::Access]) -> Result<()> {
        self.print(&rows, || {
            if rows.is_empty() {
                return "no access recorded".into();
            }
            rows.iter().map(access_text).collect::<Vec<_>>().join("\n")
        })
    }

    pub(super) fn links(&self, links: &[LinkInfo], now: i64) -> Result<()> {
        self.print(&links, || {
            let mut text =
                format!("{:<16}  {:<16}  {:<8}  {:>9}  {:<18}  URL", "ID", "FILE", "STATUS", "DOWNLOADS", "EXPIRES");
            for l in links {
                let downloads = match l.link.max_downloads {
                    Some(max) => format!("{}/{max}", l.link.downloads),
                    None => l.link.downloads.to_string(),
                };
                let expires = l.link.expires_at.map(|t| time::relative(t, now)).unwrap_or_else(|| "never".into());
                text.push_str(&format!(
                    "\n{:<16}  {:<16}  {:<8}  {:>9}  {:<18}  {}",
                    l.link.id,
                    l.link.file_id,
                    l.status.as_str(),
                    downloads,
                    expires,
                    l.url
                ));
            }
            text
        })
    }

    pub(super) fn slots(&self, slots: &[SlotInfo], now: i64) -> Result<()> {
        self.print(&slots, || {
            let mut text =
                format!("{:<16}  {:<8}  {:>8}  {:<18}  {:<16}  URL", "ID", "STATUS", "RECEIVED", "EXPIRES", "LABEL");
            for s in slots {
                text.push_str(&format!(
                    "\n{:<16}  {:<8}  {:>8}  {:<18}  {:<16}  {}",
                    s.slot.id,
                    s.status.as_str(),
                    format!("{}/{}", s.received, s.slot.max_files),
                    time::relative(s.slot.expires_at, now),
                    s.slot.label.as_deref().unwrap_or("-"),
                    s.url
                ));
            }
            text
        })
    }
}

/// `sharelock reach` for people: what links carry, where the server listens, and a verdict per
/// audience with the URLs to use.
pub(super) fn reach_text(report: &crate::reach::Report) -> String {
    use crate::reach::mapping::Record;
    let mut text = format!("Links are built with {} ({}).\n", report.base_url, report.links_reach.words());
    match report.bind {
        Some(bind) => text += &format!("The server listens on {bind}.\n"),
        None => text += "No server has run on this data dir yet.\n",
    }
    match report.announced {
        Some(true) => text += &format!("It is announced on the local network as {}.\n", report.mdns_name),
        Some(false) => text += &format!("Its announcement as {} was not heard.\n", report.mdns_name),
        None => {}
    }
    let addresses: Vec<String> = report
        .addresses
        .iter()
        .filter(|a| a.kind != crate::reach::network::AddressKind::Loopback)
        .map(|a| format!("{} {}{}", a.interface, a.ip, if a.default { " (default route)" } else { "" }))
        .collect();
    if !addresses.is_empty() {
        text += &format!("Addresses: {}.\n", addresses.join(", "));
    }
    match &report.mapping {
        Some(Record::Mapped { external_ip, external_port, internal, protocol, .. }) => {
            text += &format!("Port mapping: {external_ip}:{external_port} forwards to {internal} ({protocol}).\n");
        }
        Some(Record::Failed { message, .. }) => text += &format!("Port mapping: none ({message}).\n"),
        None => {}
    }
    text += "Who can open a link:\n";
    for verdict in &report.verdicts {
        let answer = if verdict.can_open { "yes" } else { "no" };
        text += &format!("  {}: {answer}, {}", verdict.audience.words(), verdict.why);
        if !verdict.urls.is_empty() {
            text += &format!(" ({})", verdict.urls.join(" or "));
        }
        text += "\n";
    }
    text.trim_end().to_string()
}

/// One history row on one line: when, what, of what, from whom.
fn access_text(a: &crate::history::Access) -> String {
    use crate::history::Kind;
    let what = match (a.kind, a.state) {
        (Kind::Download | Kind::PublicFetched, Some(state)) => {
            let kind = if a.kind == Kind::Download { "download" } else { "public fetch" };
            match a.downloads {
                0 | 1 => format!("{kind} {}", state.as_str()),
                n => format!("{kind} {} {n} times", state.as_str()),
            }
        }
        (kind, _) => kind.as_str().replace('.', " "),
    };
    let mut line = format!("{}  {what}", time::rfc3339(a.last_at));
    if let Some(name) = &a.name {
        line.push_str(&format!("  {name}"));
    }
    if let Some(label) = &a.label {
        line.push_str(&format!(" ({label})"));
    }
    if let Some(status) = a.status {
        line.push_str(&format!("  {status} {}", a.reason.as_deref().unwrap_or("")));
    }
    if let Some(client) = &a.client {
        line.push_str(&format!("  from {client}"));
    }
    if let Some(ua) = &a.user_agent {
        line.push_str(&format!("  {ua:?}"));
    }
    if a.bytes > 0 {
        line.push_str(&format!("  {}", format_size(a.bytes)));
    }
    if a.requests > 1 {
        line.push_str(&format!("  {} requests", a.requests));
    }
    line
}
