//! Response bodies that watch the bytes go out: [`Counted`] claims a link's download before it
//! sends the last byte; [`Budgeted`] settles a limited link's response once it is over, giving
//! back what did not reach the client; [`Watched`] ends a download whose grant was taken back; [`WhileBusy`] keeps its
//! connection from being closed as idle; [`Metered`] hands the bytes sent to the access log
//! line and the history when the response is done.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::task::JoinHandle;

use super::connection::Busy;
use super::counts::PendingCounts;
use super::delivery::{self, Check, Response};
use super::transfers::Registered;
use crate::Vault;

/// How a complete download through a link is counted.
pub enum Counting {
    /// A link with a limit: claimed in the database, atomically, before the last byte goes out.
    Claim {
        /// The vault to claim in.
        vault: Arc<Vault>,
        /// The link.
        link_id: String,
        /// Set once the claim succeeded, for settling the response (see `delivery`).
        claimed: Arc<AtomicBool>,
    },
    /// A link without a limit: counted in memory and written in batches (see `counts`).
    Tally {
        /// Where pending counts gather.
        counts: Arc<PendingCounts>,
        /// The link.
        link_id: String,
    },
}

/// Streams a file for a link and counts the download when the last byte of the file goes out.
///
/// For a link with a limit, the frame that holds the last byte is held back until the download
/// is claimed in the database (atomically, within the limit). If the claim fails, because
/// concurrent downloads used the link up meanwhile, the body ends with an error instead: the
/// client never gets a complete file beyond the limit, and a one-time link really is one-time.
pub struct Counted<B> {
    inner: B,
    remaining: u64,
    claim: Claim,
}

enum Claim {
    Pending(Counting),
    Running(JoinHandle<crate::Result<bool>>, Option<Frame<Bytes>>),
    Done,
}

impl<B> Counted<B> {
    /// Wraps a body of `len` bytes that ends with the file's last byte.
    pub fn new(inner: B, len: u64, counting: Counting) -> Self {
        Counted { inner, remaining: len, claim: Claim::Pending(counting) }
    }

    /// Counts the download; `Some(frame)` back when it may go out at once.
    fn start_claim(&mut self, frame: Option<Frame<Bytes>>) -> Option<Option<Frame<Bytes>>> {
        match std::mem::replace(&mut self.claim, Claim::Done) {
            Claim::Pending(Counting::Claim { vault, link_id, claimed }) => {
                let task = tokio::task::spawn_blocking(move || {
                    let won = vault.claim_download(&link_id);
                    // Set here, not when the task is awaited: a claim stands even if the response
                    // is dropped meanwhile, and settling the response must know of it.
                    if matches!(won, Ok(true)) {
                        claimed.store(true, Ordering::Release);
                    }
                    won
                });
                self.claim = Claim::Running(task, frame);
                None
            }
            Claim::Pending(Counting::Tally { counts, link_id }) => {
                counts.count(&link_id);
                Some(frame)
            }
            other => {
                self.claim = other;
                Some(frame)
            }
        }
    }
}

/// Errors of the wrapped bodies: whatever the inner body failed with, or why a download was cut.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<B> Body for Counted<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        loop {
            if let Claim::Running(task, frame) = &mut this.claim {
                let claimed = ready!(Pin::new(task).poll(cx));
                let frame = frame.take();
                this.claim = Claim::Done;
                return match claimed {
                    Ok(Ok(true)) => Poll::Ready(frame.map(Ok)),
                    Ok(Ok(false)) => Poll::Ready(Some(Err("download limit reached".into()))),
                    Ok(Err(e)) => Poll::Ready(Some(Err(e.into()))),
                    Err(e) => Poll::Ready(Some(Err(e.into()))),
                };
            }
            match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        this.remaining = this.remaining.saturating_sub(data.len() as u64);
                        if this.remaining == 0 && matches!(this.claim, Claim::Pending(_)) {
                            match this.start_claim(Some(frame)) {
                                Some(frame) => return Poll::Ready(frame.map(Ok)),
                                None => continue,
                            }
                        }
                    }
                    return Poll::Ready(Some(Ok(frame)));
                }
                // An empty file has no last byte to hold back: count it when the body ends.
                None if this.remaining == 0 && matches!(this.claim, Claim::Pending(_)) => {
                    match this.start_claim(None) {
                        Some(_) => return Poll::Ready(None),
                        None => continue,
                    }
                }
                Some(Err(e)) => return Poll::Ready(Some(Err(e.into()))),
                None => return Poll::Ready(None),
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.claim, Claim::Done) && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// One response of a limited link: the bytes it reserved from the link's byte budget
/// (`links::byte_budget`) and how many went out. When the body is dropped, the response is
/// settled (see `delivery::settle`): what did not reach the client is given back.
pub struct Budgeted<B> {
    inner: B,
    vault: Arc<Vault>,
    check: Option<Check>,
    response: Option<Response>,
}

impl<B> Budgeted<B> {
    /// Wraps the body of a response for which `reserved` bytes of `link_id`'s budget were taken;
    /// `claimed` is the flag its `Counted` sets, `check` watches its connection.
    pub fn new(
        inner: B,
        vault: Arc<Vault>,
        link_id: String,
        reserved: u64,
        claimed: Arc<AtomicBool>,
        check: Option<Check>,
    ) -> Self {
        let response = Response { link_id, reserved, sent: 0, claimed };
        Budgeted { inner, vault, check, response: Some(response) }
    }
}

impl<B: Body<Data = Bytes> + Unpin> Body for Budgeted<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let polled = ready!(Pin::new(&mut self.inner).poll_frame(cx));
        if let Some(Ok(frame)) = &polled
            && let Some(data) = frame.data_ref()
            && let Some(response) = &mut self.response
        {
            response.sent += data.len() as u64;
        }
        Poll::Ready(polled)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> Drop for Budgeted<B> {
    fn drop(&mut self) {
        if let Some(response) = self.response.take() {
            delivery::settle(self.vault.clone(), self.check.take(), response);
        }
    }
}

/// Ends a download with an error once its grant is taken back (see `transfers`): the client gets
/// a short file, and a limited link counts nothing.
pub struct Watched<B> {
    inner: B,
    registered: Registered,
}

impl<B> Watched<B> {
    /// Wraps the body of a registered download.
    pub fn new(inner: B, registered: Registered) -> Self {
        Watched { inner, registered }
    }
}

impl<B> Body for Watched<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.registered.transfer.aborted() {
            return Poll::Ready(Some(Err("the download's grant was taken back".into())));
        }
        Pin::new(&mut self.inner).poll_frame(cx).map_err(Into::into)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Keeps its connection marked busy (see `connection`) until the response body is done: a
/// connection in the middle of a download is never closed to make room for a new one.
pub struct WhileBusy<B> {
    inner: B,
    _busy: Busy,
}

impl<B> WhileBusy<B> {
    /// Wraps the body of a response on a connection marked `busy`.
    pub fn new(inner: B, busy: Busy) -> Self {
        WhileBusy { inner, _busy: busy }
    }
}

impl<B: Body<Data = Bytes> + Unpin> Body for WhileBusy<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Counts the bytes of a response and hands the count to `done` when it is finished or dropped:
/// the access log line (`access_log` in `http`) and the history's record of a download
/// (`download`) both read what went out this way.
pub struct Metered<B, F: FnOnce(u64)> {
    inner: B,
    sent: u64,
    done: Option<F>,
}

impl<B, F: FnOnce(u64)> Metered<B, F> {
    /// Wraps `inner`; `done` gets the bytes sent.
    pub fn new(inner: B, done: F) -> Self {
        Metered { inner, sent: 0, done: Some(done) }
    }
}

impl<B: Body<Data = Bytes> + Unpin, F: FnOnce(u64) + Unpin> Body for Metered<B, F> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let polled = ready!(Pin::new(&mut self.inner).poll_frame(cx));
        if let Some(Ok(frame)) = &polled
            && let Some(data) = frame.data_ref()
        {
            self.sent += data.len() as u64;
        }
        Poll::Ready(polled)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B, F: FnOnce(u64)> Drop for Metered<B, F> {
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            done(self.sent);
        }
    }
}
