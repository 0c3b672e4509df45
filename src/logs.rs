//! The log both shells write: to stderr, filtered by `SHARELOCK_LOG` (`info` unless set; any
//! `tracing_subscriber` filter, e.g. `sharelock=debug`), coloured only on a terminal.

use std::io::IsTerminal;

/// Environment variable that sets what is logged.
pub const ENV_VAR: &str = "SHARELOCK_LOG";

/// Starts logging for the process; a second call does nothing.
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_env(ENV_VAR).unwrap_or_else(|_| "info".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
