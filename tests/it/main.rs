//! Black-box tests: a real server on 127.0.0.1:0, a real HTTP client (and raw sockets where a
//! client would be too polite), the real CLI binary, real SQLite and real files.

mod api;
mod cli;
mod connections;
mod crash;
mod downloads;
mod folders;
mod history;
mod hostile;
mod limits;
mod links;
mod load;
mod nginx;
mod passwords;
mod previews;
mod public;
mod range;
mod reach;
mod recovery;
mod remote;
mod service;
mod shares;
mod store;
mod support;
mod uploads;
mod webhooks;
