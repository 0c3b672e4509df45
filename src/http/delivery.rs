//! Whether the last bytes of a download really reached the client.
//!
//! A limited link's download is claimed before its last byte is handed to the connection (so a
//! one-time link delivers its last byte to exactly one client, see `body::Counted`). Handed to
//! the connection is not delivered: a 200 KB body fits in the kernel's socket buffers, so a
//! link-preview bot that reads 444 bytes and hangs up would otherwise use the link up. So the
//! claim stands only once three things have been seen, on a duplicate of the socket kept until
//! the verdict:
//!
//! 1. The server wrote the whole response and the connection ended without an error. Such
//!    responses carry `Connection: close`, so the end of the connection marks the end of the
//!    response; a failed read or write, the send timeout, or a cut ends it with an error (see
//!    `connection::Ending`).
//! 2. The client's TCP stack acknowledged every byte: the socket's send queue (`SIOCOUTQ`) is
//!    empty. A client that stops reading (a zero window) never gets there and, after
//!    [`DeliveryTiming::drain`], is judged not to have the file.
//! 3. The client did not reset the connection within [`DeliveryTiming::grace`] after the drain.
//!    A client whose program closes with bytes unread in its receive buffer makes its kernel
//!    send a reset (RST) instead of a FIN; one that read everything closes with a FIN or stays
//!    connected. Step 2 alone is not enough, as a kernel acknowledges bytes its program never
//!    reads (on loopback, or with large receive buffers, a whole file).
//!
//! The limits of the method, also in SECURITY.md: a client that reads a few bytes and then keeps
//! the connection open without reading, yet with room in its receive buffer for the rest, looks
//! like a client that has everything; behind a proxy, "the client" is the proxy (Sharelock asks
//! nginx not to buffer these responses, and nginx resets the upstream connection when its own
//! client goes away, so the signal mostly carries through).
//!
//! The raw socket calls are written here with `libc`: no maintained crate wraps `SIOCOUTQ`, and
//! a peek for a reset is one `recv`.

use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::Vault;

/// How long the checks may take.
#[derive(Debug, Clone, Copy)]
pub struct DeliveryTiming {
    /// How long the client's TCP stack may take to acknowledge the whole response once it was
    /// written (a client reading slowly from far away needs a while).
    pub drain: Duration,
    /// How long after the drain a reset still means the client's program never read the bytes.
    pub grace: Duration,
}

impl Default for DeliveryTiming {
    fn default() -> Self {
        DeliveryTiming { drain: Duration::from_secs(60), grace: Duration::from_secs(2) }
    }
}

/// How often the send queue and the peer's state are looked at.
const POLL: Duration = Duration::from_millis(20);

/// What became of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Everything was acknowledged and not reset: the client has the file.
    Delivered,
    /// The connection ended before the response was written whole.
    NotWritten,
    /// The client never acknowledged the last bytes.
    NotAcknowledged,
    /// The client reset the connection with bytes unread.
    Reset,
}

/// A duplicate of a connection's socket, so that it can be looked at after the server has
/// closed its own descriptor (the connection ends once the response is written).
#[derive(Debug)]
pub struct Socket(OwnedFd);

impl Socket {
    /// Duplicates `fd`, which must be an open socket for the duration of the call (the
    /// connection of a request still being answered).
    pub fn duplicate(fd: RawFd) -> io::Result<Socket> {
        // SAFETY: the caller guarantees `fd` is open during this call; the duplicate owns its
        // own descriptor from then on.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        Ok(Socket(borrowed.try_clone_to_owned()?))
    }

    /// Bytes written to the socket that the peer has not acknowledged yet.
    fn unacknowledged(&self) -> io::Result<u32> {
        let mut queued: libc::c_int = 0;
        // SAFETY: SIOCOUTQ (the same number as TIOCOUTQ) writes one int to the pointer given.
        let rc = unsafe { libc::ioctl(self.0.as_raw_fd(), libc::TIOCOUTQ, &mut queued) };
        if rc < 0 { Err(io::Error::last_os_error()) } else { Ok(queued.max(0) as u32) }
    }

    /// Whether the peer reset the connection (or the kernel gave up on it). A FIN, data, or
    /// nothing yet are all "not reset". The reset is the socket's pending error, read with a
    /// peek; once reported it is cleared, so the caller must stop at the first `true`. (The
    /// TCP state cannot tell: a socket whose descriptor is still open reaches CLOSE after an
    /// orderly close just as after a reset.) Nothing else reads this socket by then: the
    /// connection shut it down and let go of its own descriptor before the check starts.
    fn was_reset(&self) -> bool {
        let mut byte = [0u8; 1];
        // SAFETY: recv into a one-byte buffer we own; MSG_PEEK leaves any data for its reader.
        let rc =
            unsafe { libc::recv(self.0.as_raw_fd(), byte.as_mut_ptr().cast(), 1, libc::MSG_PEEK | libc::MSG_DONTWAIT) };
        rc < 0 && !matches!(io::Error::last_os_error().raw_os_error(), Some(libc::EAGAIN | libc::EINTR))
    }
}

/// The check of one limited download, made ready before its last byte goes out.
pub struct Check {
    socket: Socket,
    written: Pin<Box<dyn Future<Output = bool> + Send>>,
    timing: DeliveryTiming,
}

impl Check {
    /// A check on `socket` (see [`Socket::duplicate`]); `written` resolves as [`judge`] says.
    pub fn new(socket: Socket, written: impl Future<Output = bool> + Send + 'static, timing: DeliveryTiming) -> Self {
        Check { socket, written: Box::pin(written), timing }
    }

    /// Judges the response this check watches, once its connection has ended.
    pub async fn verdict(self) -> Verdict {
        judge(self.socket, self.written, self.timing).await
    }
}

/// One response of a limited link, as far as its body saw it.
#[derive(Debug)]
pub struct Response {
    /// The link.
    pub link_id: String,
    /// Bytes of the link's budget it reserved.
    pub reserved: u64,
    /// Bytes of it handed to the connection.
    pub sent: u64,
    /// Set once its download was claimed (see `body::Counted`).
    pub claimed: Arc<AtomicBool>,
}

/// Settles a limited link's response in the background once it is over: a response cut short
/// was not delivered; one sent whole waits for the verdict of `check` (without one, where the
/// connection cannot be watched, it counts as delivered). Then what an undelivered response took
/// is given back (see `links::give_back`).
pub fn settle(vault: Arc<Vault>, check: Option<Check>, response: Response) {
    let settle = async move {
        // A body dropped before its end was cut short (the client went away, the grant was taken
        // back): whatever the connection did next, the response was not delivered whole.
        let verdict = match check {
            _ if response.sent < response.reserved => Verdict::NotWritten,
            Some(check) => check.verdict().await,
            None => Verdict::Delivered,
        };
        // Read after the verdict: a claim still being written when the body ended is done by now.
        let claimed = response.claimed.load(Ordering::Acquire);
        let unsent = response.reserved.saturating_sub(response.sent);
        if verdict == Verdict::Delivered && unsent == 0 {
            return;
        }
        let Response { link_id, reserved, .. } = response;
        let given = tokio::task::spawn_blocking(move || {
            if verdict == Verdict::Delivered {
                vault.refund_link_bytes(&link_id, unsent).map(|()| None)
            } else {
                vault.give_back_response(&link_id, claimed, reserved, unsent).map(|whole| Some((link_id, whole)))
            }
        })
        .await;
        match given {
            Ok(Ok(None)) => {}
            Ok(Ok(Some((link_id, true)))) => tracing::info!("a response of link {link_id} given back: {verdict:?}"),
            Ok(Ok(Some((link_id, false)))) => {
                tracing::info!(
                    "a response of link {link_id} not delivered ({verdict:?}), but it gave back enough already"
                )
            }
            Ok(Err(e)) => tracing::warn!("cannot settle a limited download: {e}"),
            Err(e) => tracing::warn!("cannot settle a limited download: {e}"),
        }
    };
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => drop(runtime.spawn(settle)),
        Err(_) => tracing::warn!("a limited download ended outside the runtime and was not settled"),
    }
}

/// Judges a response once `written` says how its connection ended: `true` when it ended without
/// an error after the response was written whole, `false` when an error or a cut ended it.
pub async fn judge(socket: Socket, written: impl Future<Output = bool>, timing: DeliveryTiming) -> Verdict {
    // Writing is bounded by the connection's own send timeout; this bound only keeps a verdict
    // from waiting forever if that ever failed.
    let written = tokio::time::timeout(timing.drain * 2, written).await.unwrap_or(false);
    if !written {
        return Verdict::NotWritten;
    }
    let drained_by = Instant::now() + timing.drain;
    loop {
        if socket.was_reset() {
            return Verdict::Reset;
        }
        match socket.unacknowledged() {
            Ok(0) => break,
            Ok(_) if Instant::now() < drained_by => tokio::time::sleep(POLL).await,
            _ => return Verdict::NotAcknowledged,
        }
    }
    let grace_ends = Instant::now() + timing.grace;
    while Instant::now() < grace_ends {
        if socket.was_reset() {
            return Verdict::Reset;
        }
        tokio::time::sleep(POLL).await;
    }
    if socket.was_reset() { Verdict::Reset } else { Verdict::Delivered }
}
