//! Reading a link's password: never from the command line, where `ps` and the shell's history
//! would keep it.

use std::io::{BufRead, IsTerminal};

use crate::passwords::Password;
use crate::{Error, Result};

/// The password on stdin's first line when stdin is piped (`echo PW | sharelock link …`), or
/// typed twice at a terminal without echo.
pub(super) fn read() -> Result<Password> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password for the link: ")
            .map_err(|e| Error::io("cannot read the password from the terminal", e))?;
        let again = rpassword::prompt_password("Same again: ").map_err(|e| Error::io("cannot read the password", e))?;
        if first != again {
            return Err(Error::InvalidInput("the two passwords differ: nothing was changed".into()));
        }
        return Password::new(first).map_err(empty_hint);
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|e| Error::io("cannot read the password from stdin", e))?;
    // Only the line ending goes: spaces are part of a passphrase.
    let line = line.strip_suffix('\n').unwrap_or(&line);
    let line = line.strip_suffix('\r').unwrap_or(line);
    Password::new(line.to_string()).map_err(empty_hint)
}

fn empty_hint(e: Error) -> Error {
    match e {
        Error::InvalidField { reason, .. } => Error::InvalidInput(format!(
            "{reason}: give the password on stdin's first line (`echo PASSWORD | sharelock link … --password`) or type it at the prompt"
        )),
        other => other,
    }
}
