//! Sharelock: keep private files and hand them out safely.
//!
//! This crate is the headless core. The `sharelock` CLI and the desktop app are thin shells over
//! it; both open a data dir as a [`Vault`] and serve it with [`http::Listening`].
//!
//! Modules, from the bottom up:
//! - [`units`]: durations and sizes as people type them.
//! - [`ids`]: the generated ids that name files, links and slots (never user input).
//! - [`names`]: file names made safe to keep and to send in `Content-Disposition`.
//! - [`time`]: unix seconds as RFC 3339 and for people.
//! - [`atomic`]: files written whole or not at all (temp file, fsync, rename).
//! - [`datadir`]: where an install keeps its database, store, quarantine and secret: owner-only,
//!   or opened read-only and left untouched when it cannot be written (a mounted backup).
//! - [`db`]: SQLite with versioned migrations, WAL and a connection pool.
//! - [`signing`]: HMAC-SHA256 signatures for link and slot URLs, constant-time checks.
//! - [`store`]: file contents on disk, written atomically and hashed in one pass; files without a
//!   record are quarantined, never deleted.
//! - [`files`], [`links`], [`slots`], [`settings`]: the records in the database and their rules
//!   (link status and download claims, slot claims and accept lists).
//! - [`passwords`]: password links: Argon2id hashes, the unlock cookie, the limits on wrong
//!   guesses.
//! - [`tokens`]: API tokens (`slk_<id>_<secret>`), kept as a hash, with their scopes.
//! - [`logs`]: the log both shells write (stderr, `SHARELOCK_LOG`).
//! - [`previews`]: which files of a link get a preview on its landing page, of what kind, and
//!   the cap on what a preview shows ([`previews::PREVIEW_BYTES`]).
//! - [`zip`]: a share of several files as one zip, laid out ahead and streamed with Range.
//! - [`urls`]: the shapes of Sharelock's URLs: built, routed and redacted in one place.
//! - [`vault`]: one open data dir and every operation the CLI, server and app share, one file
//!   per noun (stored files, sharing links, receiving through slots, recovery), and the upload
//!   intake (`vault::Upload`: the lock, the claims, the limits and the accept checks of one
//!   upload into a slot).
//! - [`manage`]: what an owner does with files, links and slots ([`manage::Manage`]), the same
//!   whether the Sharelock is this data dir or a server reached through its API.
//! - [`remote`]: a Sharelock server reached through its API, as a [`manage::Manage`] (the CLI's
//!   `--server`, the desktop app's "On a Sharelock server").
//! - [`reach`]: who can open a link: this computer's addresses, the mDNS announcement, the
//!   router port mapping, and the self-check that tells this server from any other.
//! - [`service`]: the background service (a systemd user unit, and the macOS and Windows
//!   equivalents as text) that runs `sharelock serve` while no window is open.
//! - [`qr`]: QR codes of URLs, as SVG, for the desktop app.
//! - [`nginx`]: nginx in front: nginx-checked links and the generated configuration.
//! - [`http`]: the embedded server: start-up (`http::Listening`), connections and their bounds,
//!   signed URLs checked before handlers run, downloads (and the delivery check of limited
//!   ones), landing and upload pages, the framing of uploads (raw and multipart), and the
//!   token-authenticated API under `/api/v1` (`http::api`: routes, events, OpenAPI document).
//! - [`webhooks`]: the access history's events POSTed to the owner's URLs, signed, from a
//!   persisted outbox with retries (the background task every server runs).
//! - [`cli`]: the `sharelock` command line.
//!
//! Nothing below [`http`], [`remote`] and [`cli`] knows about HTTP or terminals.

#![warn(missing_docs, clippy::unwrap_used)]

pub mod atomic;
pub mod cli;
pub mod datadir;
pub mod db;
mod error;
pub mod files;
pub mod history;
pub mod http;
pub mod ids;
pub mod links;
pub mod logs;
pub mod manage;
pub mod names;
pub mod nginx;
pub mod passwords;
pub mod previews;
pub mod qr;
pub mod reach;
pub mod remote;
pub mod service;
pub mod settings;
pub mod signing;
pub mod slots;
pub mod store;
pub mod thumbnails;
pub mod time;
pub mod tokens;
pub mod units;
pub mod urls;
pub mod vault;
pub mod webhooks;
pub mod zip;

pub use error::{Error, Result};
pub use vault::Vault;
