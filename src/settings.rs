//! Settings kept in the database, so the CLI, the server and the desktop app share them.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::Result;

/// The port the desktop app (and `sharelock serve`) listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 7420;

/// Where the desktop app's server, and the background service that serves for it, listens:
/// from the narrowest reach to the widest (the order matters: moving to a narrower one strands
/// links already sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListenScope {
    /// 127.0.0.1: only this computer can connect.
    Local,
    /// 0.0.0.0: other devices on the network can connect.
    Network,
    /// 0.0.0.0, with a port mapping asked of the router: the internet too, where it allows.
    Internet,
}

impl ListenScope {
    /// The scope a [`LISTEN_SCOPE`] value names; this computer only when unset or unknown.
    pub fn from_setting(value: Option<&str>) -> ListenScope {
        match value {
            Some("network") => ListenScope::Network,
            Some("internet") => ListenScope::Internet,
            _ => ListenScope::Local,
        }
    }

    /// The value kept in [`LISTEN_SCOPE`].
    pub fn as_setting(self) -> &'static str {
        match self {
            ListenScope::Local => "local",
            ListenScope::Network => "network",
            ListenScope::Internet => "internet",
        }
    }

    /// The address a server of this scope binds, on `port`.
    pub fn bind(self, port: u16) -> SocketAddr {
        let ip: IpAddr = match self {
            ListenScope::Local => Ipv4Addr::LOCALHOST.into(),
            ListenScope::Network | ListenScope::Internet => Ipv4Addr::UNSPECIFIED.into(),
        };
        SocketAddr::new(ip, port)
    }

    /// What a server of this scope does on the network once bound: announced wherever it
    /// listens beyond this computer, and a port mapping for the internet.
    pub fn exposure(self) -> crate::reach::Exposure {
        crate::reach::Exposure {
            announce: self != ListenScope::Local,
            map: (self == ListenScope::Internet).then_some(crate::reach::mapping::DEFAULT_LEASE),
        }
    }
}

/// The desktop app's scope and port, as saved.
pub fn app_listen(conn: &Connection) -> Result<(ListenScope, u16)> {
    let scope = ListenScope::from_setting(get(conn, LISTEN_SCOPE)?.as_deref());
    let port = get(conn, PORT)?.and_then(|p| p.parse().ok()).unwrap_or(DEFAULT_PORT);
    Ok((scope, port))
}

/// The base URL links and slots are built with, when set by `serve --base-url` or the app.
pub const BASE_URL: &str = "base_url";
/// The address the server last listened on; the fallback base URL.
pub const LISTEN_URL: &str = "listen_url";
/// The socket address the server last bound (e.g. `0.0.0.0:7420`), for `sharelock reach`.
pub const LISTEN_ADDR: &str = "listen_addr";

/// The router port mapping the server holds (`crate::reach::mapping::Record`, as JSON), or why
/// it has none; written by the server that asked for it, read by `sharelock reach`.
pub const PORT_MAPPING: &str = "port_mapping";

/// Where the desktop app's server listens: `local` (this computer), `network` (all interfaces)
/// or `internet` (all interfaces, and a port mapping on the router); see [`ListenScope`].
pub const LISTEN_SCOPE: &str = "listen_scope";
/// The desktop app's server port.
pub const PORT: &str = "port";
/// The lifetime the desktop app preselects for new links (`1h`, `7d`, `never`…).
pub const DEFAULT_LINK_EXPIRY: &str = "default_link_expiry";
/// The download limit the desktop app prefills for new links; unset for none.
pub const DEFAULT_LINK_LIMIT: &str = "default_link_limit";
/// Whether the desktop app notifies when files arrive: `off`, else on.
pub const NOTIFY_RECEIVED: &str = "notify_received";
/// How long access history is kept: a lifetime (`90d`, `1y`…), or `off` to record none; 90 days
/// when unset (see `crate::history::Retention`).
pub const HISTORY: &str = "history";
/// Whether the desktop app notifies when a link's download completes: `off`, else on (each link
/// can also be switched off on its own).
pub const NOTIFY_DOWNLOADS: &str = "notify_downloads";
/// The last `history_feed` entry queued for webhooks: a webhook added later starts after it.
pub const WEBHOOK_FEED_SEQ: &str = "webhook_feed_seq";

/// The settings `sharelock settings` lists, reads and sets, with what each means unset.
pub const KNOWN: &[(&str, &str)] = &[(HISTORY, "90d"), (NOTIFY_DOWNLOADS, "on"), (NOTIFY_RECEIVED, "on")];

/// Checks a value for a [`KNOWN`] setting and returns it as kept; an unknown key or a bad value
/// is refused with what is valid.
pub fn check(key: &str, value: &str) -> Result<String> {
    let value = value.trim();
    match key {
        HISTORY => crate::history::Retention::parse(value).map(|_| value.to_ascii_lowercase()),
        NOTIFY_DOWNLOADS | NOTIFY_RECEIVED => match value.to_ascii_lowercase().as_str() {
            v @ ("on" | "off") => Ok(v.to_string()),
            _ => Err(crate::Error::InvalidInput(format!("invalid value {value:?} for {key}: use on or off"))),
        },
        _ => Err(unknown(key)),
    }
}

/// The error for a key `sharelock settings` does not know, naming the ones it does.
pub fn unknown(key: &str) -> crate::Error {
    let known: Vec<&str> = KNOWN.iter().map(|(k, _)| *k).collect();
    crate::Error::InvalidInput(format!("unknown setting {key:?}: known settings are {}", known.join(", ")))
}

/// The value of `key`, if set.
pub fn get(conn: &Connection, key: &str) -> Result<Option<String>> {
    Ok(conn.prepare_cached("SELECT value FROM settings WHERE key = ?1")?.query_row([key], |r| r.get(0)).optional()?)
}

/// Sets `key` to `value`.
pub fn set(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2",
    )?
    .execute(params![key, value])?;
    Ok(())
}

/// Removes `key`.
pub fn unset(conn: &Connection, key: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM settings WHERE key = ?1")?.execute([key])?;
    Ok(())
}
