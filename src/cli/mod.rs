//! The `sharelock` command line: parses arguments, calls the [`Vault`] (or, with `--server`, a
//! [`Remote`] through the same [`Manage`] trait), prints the result as text for people or as
//! JSON (`--json`) for scripts. Errors go to stderr with exit code 1 (argument errors: 2, from
//! clap).

mod output;
mod password;
mod token;
mod webhook;

use output::{Output, emit, link_text, progress_bar, reach_text, slot_text, verify_text};

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use serde::Serialize;

use crate::http::{self, ServerConfig};
use crate::manage::Manage;
use crate::remote::Remote;
use crate::slots::AcceptList;
use crate::units::{Lifetime, format_size, parse_size};
use crate::vault::{FileInfo, LinkEdit, LinkInfo, NewLink, NewSlot, SlotInfo};
use crate::{Error, Result, Vault, datadir, reach, time};

/// Keep private files and hand them out safely.
#[derive(Debug, Parser)]
#[command(name = "sharelock", version, about)]
pub struct Cli {
    /// The data dir (database, store, secret). Default: ~/.local/share/sharelock.
    #[arg(long, global = true, env = datadir::ENV_VAR, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Print JSON on stdout instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Act on a Sharelock server through its API instead of this computer's data dir (file, link
    /// and slot commands), e.g. https://files.example.org.
    #[arg(long, global = true, env = "SHARELOCK_SERVER", value_name = "URL")]
    pub server: Option<String>,
    /// The API token for --server (made by `sharelock token create` on the server).
    // Its id is not `token`: `token sharex TOKEN` has a positional of that name.
    #[arg(
        long = "token",
        id = "server_token",
        global = true,
        env = "SHARELOCK_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// A PEM CA certificate trusted for --server on top of the system's (a self-signed
    /// deployment).
    #[arg(long, global = true, env = "SHARELOCK_CA_CERT", value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// What `sharelock` can do: one subcommand each.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server that serves links, public files and upload slots.
    Serve {
        /// Address and port to listen on.
        #[arg(long, default_value = "127.0.0.1:7420", value_name = "ADDR:PORT")]
        bind: SocketAddr,
        /// The public base URL links are built with (stored for later commands too).
        #[arg(long, value_name = "URL")]
        base_url: Option<String>,
        /// Let the web server in front send the bytes: `nginx` (X-Accel-Redirect) or `sendfile`
        /// (X-Sendfile, for Apache mod_xsendfile and lighttpd).
        #[arg(long, value_name = "nginx|sendfile")]
        offload: Option<OffloadKind>,
        /// The nginx internal location the store is served under.
        #[arg(long, value_name = "PATH", default_value = crate::nginx::DEFAULT_OFFLOAD_PREFIX)]
        offload_prefix: String,
        /// A proxy in front whose X-Forwarded-For is believed (for per-client rate limits);
        /// repeat for several. Without it the header is ignored.
        #[arg(long = "trusted-proxy", value_name = "IP")]
        trusted_proxies: Vec<std::net::IpAddr>,
        /// Ask the router for a port mapping (UPnP IGD), so links carry its external address and
        /// open from the internet; renewed while serving, removed on exit. Needs a --bind on the
        /// network (e.g. 0.0.0.0:7420).
        #[arg(long)]
        expose: bool,
        /// How long each port mapping lease lasts; it is renewed at half.
        #[arg(long, value_name = "DURATION", value_parser = parse_lease, default_value = "1h", requires = "expose")]
        expose_lease: std::time::Duration,
        /// Do not announce the server on the local network (mDNS, as "Sharelock on HOST").
        #[arg(long)]
        no_announce: bool,
        /// How webhook deliveries are paced.
        #[command(flatten)]
        webhooks: WebhookTiming,
    },
    /// Run `sharelock serve` on this data dir in the background, started at login by systemd's
    /// user manager (`~/.config/systemd/user/sharelock.service`), so links keep working while the
    /// desktop app is closed.
    Service {
        /// What to do with the background service.
        #[command(subcommand)]
        action: ServiceAction,
    },
    /// Who can open a link: the addresses, the mDNS name, the port mapping, a check of each
    /// address against this server, and a verdict for this computer, your network and the
    /// internet.
    Reach,
    /// Print a complete nginx configuration for putting nginx in front of this data dir.
    NginxConfig {
        /// Where nginx listens.
        #[arg(long, default_value = "0.0.0.0:80", value_name = "ADDR:PORT")]
        listen: String,
        /// Where Sharelock listens (its `serve --bind`).
        #[arg(long, default_value = "127.0.0.1:7420", value_name = "ADDR:PORT")]
        upstream: SocketAddr,
        /// nginx's server_name (`_` answers any host).
        #[arg(long, default_value = "_", value_name = "NAME")]
        server_name: String,
        /// The internal location the store is served under (as `serve --offload-prefix`).
        #[arg(long, value_name = "PATH", default_value = crate::nginx::DEFAULT_OFFLOAD_PREFIX)]
        offload_prefix: String,
        /// Answer HTTPS with this certificate chain (PEM, e.g. certbot's fullchain.pem); give
        /// `--listen` a TLS port such as 0.0.0.0:443.
        #[arg(long, value_name = "FILE", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The certificate's private key (PEM, e.g. certbot's privkey.pem).
        #[arg(long, value_name = "FILE", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
    },
    /// Copy files into the store (a folder: every file inside it).
    Add {
        /// Files or folders to add.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Serve them without a token.
        #[arg(long)]
        public: bool,
    },
    /// List stored files, received ones included.
    Ls,
    /// Remove a file and every link to it.
    Rm {
        /// The file's id.
        file_id: String,
    },
    /// Change a file's settings.
    Set {
        /// The file's id.
        file_id: String,
        /// Serve it without a token (true) or only through links (false).
        #[arg(long, value_name = "true|false", action = clap::ArgAction::Set)]
        public: Option<bool>,
    },
    /// Create a signed download link to a file, or to several: one link, a landing page that
    /// lists them, a URL for each and a zip of them all.
    Link {
        /// The file's id.
        file_id: String,
        /// More files for the same link, in order: a share of several files.
        #[arg(value_name = "FILE_ID")]
        more_files: Vec<String>,
        /// A share's name, shown to recipients and given to its zip (default: "Shared files").
        #[arg(long, value_name = "TEXT", requires = "more_files")]
        name: Option<String>,
        /// How long the link works: 90s, 15m, 1h, 7d or never.
        #[arg(long, value_name = "DURATION", value_parser = parse_lifetime)]
        expires: Option<Lifetime>,
        /// How many complete downloads it allows.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        max_downloads: Option<u64>,
        /// A note for yourself.
        #[arg(long, value_name = "TEXT")]
        label: Option<String>,
        /// Whether its completed downloads notify you in the desktop app (default on).
        #[arg(long, value_name = "on|off", value_parser = parse_on_off)]
        notify: Option<bool>,
        /// Build the URL with this base instead of the stored one.
        #[arg(long, value_name = "URL")]
        base_url: Option<String>,
        /// Make a link nginx checks alone (secure_link): no download limit, no count, not
        /// revocable one by one; needs an expiry. See docs/deploy.md.
        #[arg(long, conflicts_with_all = ["max_downloads", "label", "notify", "more_files", "password", "no_preview"])]
        nginx: bool,
        /// Ask for a password to download: read from stdin's first line, or typed at a prompt.
        #[arg(long)]
        password: bool,
        /// Show no previews or thumbnails of its files on the landing page.
        #[arg(long)]
        no_preview: bool,
    },
    /// List links, of one file or of all.
    Links {
        /// Only this file's links.
        file_id: Option<String>,
    },
    /// Change a link's expiry, download limit or notifications; its URL stays the same.
    EditLink {
        /// The link's id.
        link_id: String,
        /// New lifetime, counted from now: 90s, 15m, 1h, 7d or never.
        #[arg(long, value_name = "DURATION", value_parser = parse_lifetime)]
        expires: Option<Lifetime>,
        /// New download limit, or `none` for unlimited.
        #[arg(long, value_name = "N|none", value_parser = parse_limit)]
        max_downloads: Option<DownloadLimit>,
        /// Whether its completed downloads notify you in the desktop app.
        #[arg(long, value_name = "on|off", value_parser = parse_on_off)]
        notify: Option<bool>,
        /// Whether its landing page shows previews and thumbnails of its files.
        #[arg(long, value_name = "on|off", value_parser = parse_on_off)]
        preview: Option<bool>,
        /// Set or change its password (stdin's first line, or a prompt); old unlocks end.
        #[arg(long, conflicts_with = "no_password")]
        password: bool,
        /// Remove its password.
        #[arg(long)]
        no_password: bool,
    },
    /// Revoke a link: it answers 410 from now on.
    Revoke {
        /// The link's id.
        link_id: String,
    },
    /// Create an upload slot: a signed URL through which someone can send you files.
    Slot {
        /// How long it accepts files: 90s, 15m, 1h, 7d.
        #[arg(long, value_name = "DURATION", value_parser = parse_lifetime, default_value = "7d")]
        expires: Lifetime,
        /// Largest file: bytes or 10K, 5M, 1G.
        #[arg(long, value_name = "SIZE", value_parser = parse_size_arg, default_value = "1G")]
        max_size: u64,
        /// How many files it accepts.
        #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
        max_files: u64,
        /// Largest total of all files.
        #[arg(long, value_name = "SIZE", value_parser = parse_size_arg)]
        max_total: Option<u64>,
        /// Accepted types, comma-separated: extensions (pdf, .png) or MIME types (image/*).
        #[arg(long, value_name = "LIST", value_parser = parse_accept)]
        accept: Option<AcceptList>,
        /// A note, shown to the uploader too.
        #[arg(long, value_name = "TEXT")]
        label: Option<String>,
        /// Build the URL with this base instead of the stored one.
        #[arg(long, value_name = "URL")]
        base_url: Option<String>,
    },
    /// List upload slots with what they received.
    Slots,
    /// Close an upload slot: it accepts nothing more.
    CloseSlot {
        /// The slot's id.
        slot_id: String,
    },
    /// The access history: page views, downloads, public fetches, uploads and refusals, newest
    /// first.
    Log {
        /// Only this link's.
        #[arg(long, value_name = "ID", conflicts_with_all = ["file", "slot"])]
        link: Option<String>,
        /// Only this file's (its links', its public fetches, its upload).
        #[arg(long, value_name = "ID", conflicts_with = "slot")]
        file: Option<String>,
        /// Only this upload link's.
        #[arg(long, value_name = "ID")]
        slot: Option<String>,
        /// Only since: a duration back from now (90m, 7d) or an RFC 3339 time.
        #[arg(long, value_name = "WHEN")]
        since: Option<String>,
        /// At most this many rows (default 1000).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        limit: Option<u64>,
    },
    /// List, read or change settings: `history` (how long the access history is kept: 90d, 1y,
    /// or off to record none), `notify_downloads` and `notify_received` (on|off).
    Settings {
        /// The setting to read or change; all when left out.
        key: Option<String>,
        /// Its new value.
        value: Option<String>,
    },
    /// API tokens: make, list, revoke, and a ShareX uploader.
    Token {
        /// What to do with tokens.
        #[command(subcommand)]
        action: token::TokenAction,
    },
    /// Webhooks: URLs that get access history events (downloads completed, files received, links
    /// and upload links that ended), signed with a secret of their own; delivered by the server.
    Webhook {
        /// What to do with webhooks.
        #[command(subcommand)]
        action: webhook::WebhookAction,
    },
    /// Replace the signing secret: every link and slot URL issued so far stops working. Also the
    /// way to make a new one when secret.key is lost.
    RotateSecret,
    /// Check the database and every stored file against its record (present, same size, same
    /// SHA-256), and list files without a record (in the quarantine or the store); exits
    /// non-zero if anything is wrong.
    Verify {
        /// First add every file without a record back as a file.
        #[arg(long)]
        adopt: bool,
    },
}

impl Command {
    /// The name of a command that works on this computer's data dir only, or `None` for the
    /// file, link and slot commands, which also work on a server (`--server`).
    fn local_only(&self) -> Option<&'static str> {
        match self {
            Command::Serve { .. } => Some("serve"),
            Command::Service { .. } => Some("service"),
            Command::Reach => Some("reach"),
            Command::NginxConfig { .. } => Some("nginx-config"),
            Command::RotateSecret => Some("rotate-secret"),
            Command::Verify { .. } => Some("verify"),
            Command::Token { .. } => Some("token"),
            Command::Webhook { .. } => Some("webhook"),
            Command::Settings { .. } => Some("settings"),
            Command::Add { .. }
            | Command::Ls
            | Command::Rm { .. }
            | Command::Set { .. }
            | Command::Link { .. }
            | Command::Links { .. }
            | Command::EditLink { .. }
            | Command::Revoke { .. }
            | Command::Slot { .. }
            | Command::Slots
            | Command::CloseSlot { .. }
            | Command::Log { .. } => None,
        }
    }
}

fn parse_lifetime(s: &str) -> Result<Lifetime, String> {
    s.parse::<Lifetime>().map_err(|e| e.to_string())
}

fn parse_on_off(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("invalid value {s:?}: use on or off")),
    }
}

fn parse_lease(s: &str) -> Result<std::time::Duration, String> {
    match s.parse::<Lifetime>().map_err(|e| e.to_string())? {
        Lifetime::For(d) if d.as_secs() >= 2 => Ok(d),
        _ => Err(format!("invalid lease {s:?}: use a duration of at least 2s, such as 30m or 1h")),
    }
}

/// `serve`'s webhook timings (see [`crate::webhooks::Timing`]).
#[derive(Debug, Clone, clap::Args)]
pub struct WebhookTiming {
    /// How long one webhook request may take before it counts as failed.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10s", env = "SHARELOCK_WEBHOOK_TIMEOUT")]
    webhook_timeout: std::time::Duration,
    /// The delay before a failed webhook request is retried; it doubles with each failure.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "5s", env = "SHARELOCK_WEBHOOK_RETRY")]
    webhook_retry: std::time::Duration,
    /// The longest delay between retries.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10m", env = "SHARELOCK_WEBHOOK_RETRY_MAX")]
    webhook_retry_max: std::time::Duration,
    /// How long an event is retried before it is given up on (and counted as failed).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "24h", env = "SHARELOCK_WEBHOOK_GIVE_UP")]
    webhook_give_up: std::time::Duration,
}

impl WebhookTiming {
    fn timing(&self) -> crate::webhooks::Timing {
        crate::webhooks::Timing {
            attempt_timeout: self.webhook_timeout,
            retry_base: self.webhook_retry,
            retry_max: self.webhook_retry_max.max(self.webhook_retry),
            give_up_after: self.webhook_give_up,
            ..crate::webhooks::Timing::default()
        }
    }
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    match s.parse::<Lifetime>().map_err(|e| e.to_string())? {
        Lifetime::For(d) => Ok(d),
        Lifetime::Never => Err(format!("invalid duration {s:?}: use a duration such as 30s, 10m or 24h")),
    }
}

fn parse_size_arg(s: &str) -> Result<u64, String> {
    parse_size(s).map_err(|e| e.to_string())
}

fn parse_accept(s: &str) -> Result<AcceptList, String> {
    AcceptList::parse(s).map_err(|e| e.to_string())
}

/// `sharelock service …`.
#[derive(Debug, Subcommand)]
pub enum ServiceAction {
    /// Write the user unit and, when a user manager runs, enable and start it.
    Install {
        /// Where it listens. Default: where the desktop app listens (its settings), else
        /// 127.0.0.1:7420.
        #[arg(long, value_name = "ADDR:PORT")]
        bind: Option<SocketAddr>,
    },
    /// Stop and disable the unit, and remove its file.
    Uninstall,
    /// Whether the unit is installed, what it runs, and what systemd says of it.
    Status,
}

/// Who sends the bytes of downloads when a web server is in front.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum OffloadKind {
    /// nginx, through X-Accel-Redirect.
    Nginx,
    /// Apache (mod_xsendfile) or lighttpd, through X-Sendfile.
    Sendfile,
}

/// A download limit on the command line: a number, or `none` for unlimited.
#[derive(Debug, Clone, Copy)]
pub struct DownloadLimit(pub Option<u64>);

fn parse_limit(s: &str) -> Result<DownloadLimit, String> {
    if s.eq_ignore_ascii_case("none") {
        return Ok(DownloadLimit(None));
    }
    match s.parse::<u64>() {
        Ok(n) if n >= 1 => Ok(DownloadLimit(Some(n))),
        _ => Err(format!("invalid download limit {s:?}: use a number from 1, or `none`")),
    }
}

/// Runs the CLI with the process's arguments.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sharelock: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs one parsed command.
pub fn run(cli: Cli) -> Result<()> {
    let out = Output { json: cli.json };
    match (cli.server, cli.token) {
        (Some(server), Some(token)) => {
            if let Some(name) = cli.command.local_only() {
                return Err(Error::InvalidInput(format!(
                    "`sharelock {name}` works on this computer's data dir, not on a server: run it without --server (and SHARELOCK_SERVER)"
                )));
            }
            if let Command::Link { nginx: true, .. } = cli.command {
                return Err(Error::InvalidInput(
                    "`link --nginx` signs with the server's nginx secret: run it on the server, without --server"
                        .into(),
                ));
            }
            let remote = Remote::connect(&server, &token, cli.ca_cert.as_deref())?;
            return manage(&remote, cli.command, out);
        }
        (Some(_), None) => {
            return Err(Error::InvalidInput(
                "--server needs a token: give --token or SHARELOCK_TOKEN (made by `sharelock token create` on the server)"
                    .into(),
            ));
        }
        (None, Some(_)) => {
            return Err(Error::InvalidInput(
                "--token is for a server: give --server URL (or SHARELOCK_SERVER) too, or leave the token out".into(),
            ));
        }
        (None, None) if cli.ca_cert.is_some() => {
            return Err(Error::InvalidInput("--ca-cert is for a server: give --server URL too".into()));
        }
        (None, None) => {}
    }
    let dir = datadir::DataDir::resolve(cli.data_dir)?;
    // Before opening: a lost secret.key keeps the data dir from opening, and this is the way back.
    if let Command::RotateSecret = cli.command {
        Vault::replace_secret(&dir)?;
        return out.print(&serde_json::json!({ "rotated": true }), || {
            "new signing secret: every link and slot URL issued before no longer works".into()
        });
    }
    let vault = Vault::open(&dir)?;
    let now = time::now();
    match cli.command {
        Command::Serve {
            bind,
            base_url,
            offload,
            offload_prefix,
            trusted_proxies,
            expose,
            expose_lease,
            no_announce,
            webhooks,
        } => {
            vault.check_writable()?;
            let offload = match offload {
                Some(OffloadKind::Nginx) => {
                    crate::nginx::check_offload_prefix(&offload_prefix)?;
                    Some(http::Offload::Nginx { prefix: offload_prefix })
                }
                Some(OffloadKind::Sendfile) => Some(http::Offload::Sendfile),
                None => None,
            };
            let exposure = reach::Exposure { announce: !no_announce, map: expose.then_some(expose_lease) };
            let config =
                ServerConfig { offload, trusted_proxies, webhooks: webhooks.timing(), ..ServerConfig::default() };
            serve(vault, bind, base_url, config, exposure)
        }
        Command::Service { action } => {
            let report = match action {
                ServiceAction::Install { bind } => {
                    vault.check_writable()?;
                    let (app_bind, expose) = crate::service::app_listen_addr(&vault)?;
                    let bind = bind.unwrap_or(app_bind);
                    let exe = std::env::current_exe().map_err(|e| Error::io("cannot tell where sharelock is", e))?;
                    // The service starts elsewhere than here: the unit names the data dir in full.
                    let data_dir = std::path::absolute(vault.data_dir())
                        .map_err(|e| Error::io("cannot resolve the data dir", e))?;
                    let unit = crate::service::Unit { exe, data_dir: Some(data_dir), bind, expose };
                    crate::service::install(&unit)?
                }
                ServiceAction::Uninstall => crate::service::uninstall()?,
                ServiceAction::Status => crate::service::status()?,
            };
            out.print(&report, || report.text())
        }
        Command::Reach => {
            let report = reach::Report::examine(&vault)?;
            out.print(&report, || reach_text(&report))
        }
        Command::NginxConfig { listen, upstream, server_name, offload_prefix, tls_cert, tls_key } => {
            vault.check_writable()?;
            crate::nginx::check_offload_prefix(&offload_prefix)?;
            if server_name.is_empty()
                || server_name.contains(|c: char| c.is_whitespace() || c == ';' || c == '{' || c == '}')
            {
                return Err(Error::InvalidInput(format!("invalid server name {server_name:?}")));
            }
            if listen.is_empty() || listen.contains(|c: char| c.is_whitespace() || c == ';' || c == '{' || c == '}') {
                return Err(Error::InvalidInput(format!("invalid listen address {listen:?}")));
            }
            let nginx_dir = vault.data_dir().join("nginx");
            std::fs::create_dir_all(&nginx_dir)
                .map_err(|e| Error::io(format!("cannot create {}", nginx_dir.display()), e))?;
            let options = crate::nginx::ConfigOptions {
                listen,
                upstream: upstream.to_string(),
                server_name,
                data_dir: vault.data_dir().to_path_buf(),
                store_dir: vault.store().dir().to_path_buf(),
                offload_prefix,
                secret: vault.nginx_secret()?,
                user: crate::nginx::owner_name(vault.data_dir()),
                tls: match (tls_cert, tls_key) {
                    (Some(cert), Some(key)) => Some(crate::nginx::TlsFiles::check(&cert, &key)?),
                    _ => None,
                },
            };
            emit(&crate::nginx::config(&options));
            Ok(())
        }
        Command::Link { file_id, expires, base_url, nginx: true, .. } => {
            let link = vault.nginx_link(
                &file_id,
                expires.unwrap_or(crate::vault::DEFAULT_LINK_LIFETIME),
                now,
                base_url.as_deref(),
            )?;
            out.print(&link, || format!("{}\nchecked by nginx, expires {}", link.url, time::rfc3339(link.expires_at)))
        }
        Command::Verify { adopt } => {
            let adopted = if adopt { Some(vault.adopt(now)?) } else { None };
            let report = vault.verify()?;
            let quarantine = vault.store().quarantine();
            #[derive(Serialize)]
            struct Verified<'a> {
                #[serde(skip_serializing_if = "Option::is_none")]
                adopted: Option<&'a [crate::vault::Adopted]>,
                #[serde(flatten)]
                report: &'a crate::vault::VerifyReport,
            }
            out.print(&Verified { adopted: adopted.as_deref(), report: &report }, || {
                verify_text(&report, adopted.as_deref(), quarantine)
            })?;
            match report.summary(quarantine) {
                None => Ok(()),
                Some(summary) => Err(Error::InvalidInput(summary)),
            }
        }
        Command::Token { action } => token::run(action, &vault, &out),
        Command::Webhook { action } => webhook::run(action, &vault, &out),
        Command::Settings { key, value } => settings(&vault, key, value, &out, now),
        Command::RotateSecret => unreachable!("handled before the data dir is opened"),
        command => manage(&vault, command, out),
    }
}

/// The file, link and slot commands, written once for this computer's data dir and a server:
/// the same calls, the same output.
fn manage(owner: &dyn Manage, command: Command, out: Output) -> Result<()> {
    let now = time::now();
    match command {
        Command::Add { paths, public } => {
            for path in &paths {
                if !path.is_file() && !path.is_dir() {
                    return Err(Error::InvalidInput(format!("{} is not a readable file or folder", path.display())));
                }
            }
            // A folder adds the files inside it, as dropping one on the desktop app does.
            let files = crate::vault::expand_paths(&paths)?;
            if files.is_empty() {
                return Err(Error::InvalidInput("no files to add: the folders given are empty".into()));
            }
            let mut added = Vec::new();
            // One bar for the file being copied, made when the copy moves on to the next.
            let mut bar: Option<(usize, indicatif::ProgressBar)> = None;
            let outcome = owner.add_files(
                &files,
                public,
                &mut |index, done| {
                    if bar.as_ref().is_none_or(|(at, _)| *at != index) {
                        if let Some((_, done)) = bar.take() {
                            done.finish_and_clear();
                        }
                        let size = std::fs::metadata(&files[index]).map(|m| m.len()).unwrap_or(0);
                        bar = Some((index, progress_bar(&files[index], size)));
                    }
                    if let Some((_, bar)) = &bar {
                        bar.set_position(done);
                    }
                },
                &mut |file| {
                    if !out.json {
                        emit(&format!("{}  {}  {}\n", file.file.id, format_size(file.file.size), file.file.name));
                    }
                    added.push(file);
                },
            );
            if let Some((_, bar)) = bar {
                bar.finish_and_clear();
            }
            out.json_value(&added)?;
            outcome
        }
        Command::Ls => out.files(&owner.files()?),
        Command::Rm { file_id } => {
            owner.remove_file(&file_id)?;
            out.print(&serde_json::json!({ "removed": file_id }), || format!("removed {file_id}"))
        }
        Command::Set { file_id, public } => {
            let file = match public {
                Some(public) => owner.set_public(&file_id, public)?,
                None => owner.file(&file_id)?,
            };
            out.print(&file, || match &file.public_url {
                Some(url) => format!("{} is public: {url}", file.file.id),
                None => format!("{} is private", file.file.id),
            })
        }
        Command::Link {
            file_id,
            more_files,
            name,
            expires,
            max_downloads,
            label,
            notify,
            base_url,
            nginx: false,
            password,
            no_preview,
        } => {
            let password = if password { Some(password::read()?) } else { None };
            let preview = no_preview.then_some(false);
            let new = NewLink { lifetime: expires, max_downloads, label, notify, more_files, name, password, preview };
            let link = owner.create_link(&file_id, new, base_url.as_deref())?;
            out.print(&link, || link_text(&link, now))
        }
        Command::Links { file_id } => out.links(&owner.links(file_id.as_deref())?, now),
        Command::EditLink { link_id, expires, max_downloads, notify, preview, password, no_password } => {
            if expires.is_none()
                && max_downloads.is_none()
                && notify.is_none()
                && preview.is_none()
                && !password
                && !no_password
            {
                return Err(Error::InvalidInput(
                    "nothing to change: give --expires, --max-downloads, --notify, --preview, --password or \
                     --no-password"
                        .into(),
                ));
            }
            let password = match (password, no_password) {
                (true, _) => Some(Some(password::read()?)),
                (false, true) => Some(None),
                (false, false) => None,
            };
            let edit =
                LinkEdit { lifetime: expires, max_downloads: max_downloads.map(|l| l.0), notify, password, preview };
            let link = owner.edit_link(&link_id, edit)?;
            out.print(&link, || link_text(&link, now))
        }
        Command::Revoke { link_id } => {
            let link = owner.revoke_link(&link_id)?;
            out.print(&link, || format!("revoked {}", link.link.id))
        }
        Command::Slot { expires, max_size, max_files, max_total, accept, label, base_url } => {
            let new = NewSlot { lifetime: expires, max_size, max_files, max_total, accept, label };
            let slot = owner.create_slot(new, base_url.as_deref())?;
            out.print(&slot, || slot_text(&slot, now))
        }
        Command::Slots => out.slots(&owner.slots()?, now),
        Command::CloseSlot { slot_id } => {
            let slot = owner.close_slot(&slot_id)?;
            out.print(&slot, || format!("closed {}", slot.slot.id))
        }
        Command::Link { nginx: true, .. } => {
            Err(Error::InvalidInput("`link --nginx` needs this computer's data dir".into()))
        }
        Command::Log { link, file, slot, since, limit } => {
            let since = since.as_deref().map(|s| crate::history::parse_since(s, now)).transpose()?;
            let limit = limit.map(|l| usize::try_from(l).unwrap_or(usize::MAX));
            let query = crate::history::Query { link_id: link, file_id: file, slot_id: slot, since, limit };
            out.history(&owner.history(&query)?)
        }
        other => unreachable!("{other:?} is not a file, link or slot command"),
    }
}

/// `sharelock settings [KEY [VALUE]]`: the known settings, one, or one set (checked first).
fn settings(vault: &Vault, key: Option<String>, value: Option<String>, out: &Output, now: i64) -> Result<()> {
    use crate::settings::{HISTORY, KNOWN};
    let current = |key: &str| -> Result<String> {
        let default =
            KNOWN.iter().find(|(k, _)| *k == key).map(|(_, d)| *d).ok_or_else(|| crate::settings::unknown(key))?;
        Ok(vault.setting(key)?.unwrap_or_else(|| default.to_string()))
    };
    match (key, value) {
        (None, _) => {
            let all = KNOWN.iter().map(|(k, _)| Ok((k.to_string(), current(k)?))).collect::<Result<Vec<_>>>()?;
            let map: serde_json::Map<String, serde_json::Value> =
                all.iter().map(|(k, v)| (k.clone(), v.clone().into())).collect();
            out.print(&map, || all.iter().map(|(k, v)| format!("{k} = {v}")).collect::<Vec<_>>().join("\n"))
        }
        (Some(key), None) => {
            let value = current(&key)?;
            out.print(&serde_json::json!({ "key": key, "value": value }), || value.clone())
        }
        (Some(key), Some(value)) => {
            let value = crate::settings::check(&key, &value)?;
            vault.check_writable()?;
            if key == HISTORY {
                // Turning history off (or shortening it) purges at once, not at the next hour.
                vault.set_history_retention(&value, now)?;
            } else {
                vault.set_setting(&key, Some(&value))?;
            }
            out.print(&serde_json::json!({ "key": key, "value": value }), || format!("{key} = {value}"))
        }
    }
}

fn serve(
    vault: Vault,
    bind: SocketAddr,
    base_url: Option<String>,
    config: ServerConfig,
    exposure: reach::Exposure,
) -> Result<()> {
    crate::logs::init();
    if let Some(url) = &base_url {
        vault.set_base_url(url)?;
    }
    let runtime = tokio::runtime::Runtime::new().map_err(|e| Error::io("cannot start the async runtime", e))?;
    runtime.block_on(async move {
        let vault = Arc::new(vault);
        let listening = http::Listening::bind(vault.clone(), bind, None, config).await?;
        let addr = listening.local_addr().map_err(|e| Error::io("cannot read the listening address", e))?;
        // Announcing and the router search block for a few seconds at most; the server is bound
        // (and connections wait in the backlog) meanwhile.
        let presence = tokio::task::spawn_blocking(move || reach::Presence::start(vault, addr, exposure))
            .await
            .map_err(|e| Error::io("cannot start the port mapping", std::io::Error::other(e)))?;
        println!("listening on http://{addr}");
        let _ = std::io::stdout().flush();
        let served = listening.serve(shutdown_signal()).await.map_err(|e| Error::io("server failed", e));
        // Dropping the presence withdraws the announcement and removes the mapping (blocking).
        tokio::task::spawn_blocking(move || drop(presence)).await.ok();
        served
    })
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("can install a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
}
