//! Settings kept in the database, so the CLI, the server and the desktop app share them.

use rusqlite::{Connection, OptionalExtension, params};

use crate::Result;

/// The base URL links and slots are built with, when set by `serve --base-url` or the app.
pub const BASE_URL: &str = "base_url";
/// The address the server last listened on; the fallback base URL.
pub const LISTEN_URL: &str = "listen_url";
/// The socket address the server last bound (e.g. `0.0.0.0:7420`), for `sharelock reach`.
pub const LISTEN_ADDR: &str = "listen_addr";

/// The router port mapping the server holds (`crate::reach::mapping::Record`, as JSON), or why
/// it has none; written by the server that asked for it, read by `sharelock reach`.
pub const PORT_MAPPING: &str = "port_mapping";

/// Where the desktop app's server listens: `local` (this computer) or `network` (all interfaces).
pub const LISTEN_SCOPE: &str = "listen_scope";
/// The desktop app's server port.
pub const PORT: &str = "port";
/// The lifetime the desktop app preselects for new links (`1h`, `7d`, `never`…).
pub const DEFAULT_LINK_EXPIRY: &str = "default_link_expiry";
/// The download limit the desktop app prefills for new links; unset for none.
pub const DEFAULT_LINK_LIMIT: &str = "default_link_limit";
/// Whether the desktop app notifies when files arrive: `off`, else on.
pub const NOTIFY_RECEIVED: &str = "notify_received";

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
