//! Whether a URL comes back to this server: a request to `{base}/.well-known/sharelock-reach/{nonce}`
//! with a fresh random nonce, which only a server holding this data dir's secret can answer
//! (the nonce signed for [`Purpose::Reach`]). Another server answering on that address, a
//! captive portal or a router's own page is told apart from this one.

use std::io::Read;
use std::time::Duration;

use serde::Serialize;

use crate::signing::Purpose;
use crate::{Vault, ids, urls};

/// How long one check waits for an answer.
pub const TIMEOUT: Duration = Duration::from_secs(3);
/// More than a proof ever takes; an answer is read no further.
const MOST_READ: u64 = 256;

/// What one check found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Probe {
    /// This server answered, with the proof.
    ThisServer,
    /// Something answered, but not this server (no proof, or a wrong one).
    OtherServer {
        /// The HTTP status it answered with.
        status: u16,
    },
    /// Nothing answered (refused, unreachable, timed out, TLS failed).
    NoAnswer {
        /// What went wrong.
        error: String,
    },
}

impl Probe {
    /// Whether the URL reached this server.
    pub fn reached(&self) -> bool {
        *self == Probe::ThisServer
    }
}

/// The answer a server gives to `nonce`; `None` for a nonce that is not one (a generated id).
pub fn answer(vault: &Vault, nonce: &str) -> Option<String> {
    ids::is_valid(nonce).then(|| vault.signer().sign(Purpose::Reach, nonce))
}

/// Checks whether `base` (e.g. `http://192.168.1.20:7420`) reaches the server of `vault`.
/// Blocking, for up to [`TIMEOUT`].
pub fn probe(vault: &Vault, base: &str) -> Probe {
    let nonce = ids::generate();
    let response = match attohttpc::get(urls::reach(base, &nonce)).timeout(TIMEOUT).follow_redirects(false).send() {
        Ok(response) => response,
        Err(e) => return Probe::NoAnswer { error: e.to_string() },
    };
    let status = response.status().as_u16();
    let mut body = String::new();
    let (_, _, reader) = response.split();
    if reader.take(MOST_READ).read_to_string(&mut body).is_err() || status != 200 {
        return Probe::OtherServer { status };
    }
    if vault.signer().verify(Purpose::Reach, &nonce, body.trim()) {
        Probe::ThisServer
    } else {
        Probe::OtherServer { status }
    }
}
