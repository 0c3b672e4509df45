//! A refusal that reaches its client: the unread rest of a request body is read and thrown away
//! for a moment after the answer goes out.
//!
//! An upload over a limit is refused as soon as the limit is crossed (or before its first byte,
//! when its declared length is already too much), while the client is still sending. hyper
//! then closes the connection with the rest of the body unread, and closing a socket that holds
//! unread bytes makes the kernel send a reset, which can overtake the answer on its way: the
//! client sees "connection reset", and nginx in front answers 502 instead of Sharelock's 413.
//! Web servers avoid this by "lingering" before they close (nginx's `lingering_close`); hyper
//! has no such option, so a request body dropped unfinished is drained here, in the background,
//! within [`LINGER_TIME`] and [`LINGER_BYTES`].
//!
//! A client that asked `Expect: 100-continue` and was never told to go on has sent nothing:
//! there is nothing to drain, and reading would make hyper tell it to send the body after all.

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use bytes::Bytes;
use futures_util::StreamExt;
use http::header;
use http_body::{Frame, SizeHint};

/// How long the rest of a body is read after the handler has let it go.
const LINGER_TIME: Duration = Duration::from_secs(5);
/// How much of it is read at most.
const LINGER_BYTES: u64 = 64 << 20;

/// Gives a request a body that lingers when dropped unfinished (for the router's `edge`).
pub(super) fn lingering_bodies(request: Request) -> Request {
    let expects_continue =
        request.headers().get(header::EXPECT).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    request.map(|body| {
        if http_body::Body::is_end_stream(&body) {
            body
        } else {
            Body::new(Lingering { inner: Some(body), expects_continue, read_any: false, ended: false })
        }
    })
}

/// A request body that, dropped before its end, is drained in the background (see the module).
struct Lingering {
    inner: Option<Body>,
    expects_continue: bool,
    /// Whether any of the body was asked for: after that, hyper has told a waiting client to send.
    read_any: bool,
    /// Whether the body ended, or failed (a failure is final: nothing more will come).
    ended: bool,
}

impl http_body::Body for Lingering {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        self.read_any = true;
        let Some(inner) = self.inner.as_mut() else { return Poll::Ready(None) };
        let frame = ready!(Pin::new(inner).poll_frame(cx));
        if !matches!(frame, Some(Ok(_))) {
            self.ended = true;
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(http_body::Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.as_ref().map(http_body::Body::size_hint).unwrap_or_default()
    }
}

impl Drop for Lingering {
    fn drop(&mut self) {
        let Some(body) = self.inner.take() else { return };
        let nothing_sent = self.expects_continue && !self.read_any;
        if self.ended || nothing_sent || http_body::Body::is_end_stream(&body) {
            return;
        }
        // Dropped outside a runtime (a server shutting down): the connection goes with it anyway.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(drain(body));
        }
    }
}

/// Reads and discards `body` until it ends, [`LINGER_TIME`] passes or [`LINGER_BYTES`] came.
async fn drain(body: Body) {
    let deadline = tokio::time::Instant::now() + LINGER_TIME;
    let mut chunks = body.into_data_stream();
    let mut read = 0u64;
    while let Ok(Some(Ok(chunk))) = tokio::time::timeout_at(deadline, chunks.next()).await {
        read += chunk.len() as u64;
        if read > LINGER_BYTES {
            break;
        }
    }
}
