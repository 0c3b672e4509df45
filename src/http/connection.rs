//! Connections: how many the server keeps, how long an idle or stalled one lives, and what a
//! request may learn of its own connection.
//!
//! The server speaks HTTP/1.1 only. Cleartext HTTP/2 (h2c) is not offered: no browser speaks it
//! (they use HTTP/2 over TLS only, which the proxy in front terminates), nginx talks HTTP/1.1 to
//! its upstreams, and each HTTP/2 connection would multiplex hundreds of streams, each with an
//! open file and its own buffers, past every per-connection bound below.
//!
//! Bounds, each with its reason:
//! - *A first request, and every next one, within the header timeout.* hyper's
//!   `header_read_timeout` runs from the moment the connection waits for a request, so a
//!   connection that sends nothing, or goes quiet between keep-alive requests, is closed after
//!   it.
//! - *A client must keep reading.* A write that makes no progress for [`ServerConfig::send_timeout`]
//!   ends the connection (nginx's `send_timeout`), so a client that stops reading a large
//!   download does not hold its socket and open file for ever.
//! - *Descriptors are never exhausted.* Start-up raises the soft `RLIMIT_NOFILE` to the hard
//!   limit (as nginx does) and keeps connections to a share of it ([`capacity`]), leaving a
//!   reserve for the files being served, the database and the secret. At capacity, a new
//!   client still gets in: the connection that has waited longest without a request in flight
//!   is closed to make room; only when every connection is busy is the newcomer turned away.
//!
//! A request also gets a [`ConnectionHandle`]: its socket (for the delivery check of limited
//! downloads, see `delivery`), a way to end the connection (a revoked download stops at once),
//! and a signal for how the connection ended.

use std::collections::BTreeMap;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{Notify, watch};
use tokio_io_timeout::TimeoutStream;

use super::ServerConfig;

/// Descriptors kept out of the connections' share: the database and its WAL, the secret, the
/// store's lock, logs, and some slack for the runtime.
const RESERVED_DESCRIPTORS: u64 = 128;
/// Descriptors a busy connection may use: its socket, the file it serves, and the duplicate of
/// its socket a limited download's delivery check keeps.
const DESCRIPTORS_PER_CONNECTION: u64 = 3;

/// Raises the soft limit on open files to the hard limit, and returns the limit now in force.
pub fn raise_descriptor_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(e) => {
            tracing::warn!("cannot raise the open-file limit: {e}");
            rlimit::getrlimit(rlimit::Resource::NOFILE).map(|(soft, _)| soft).unwrap_or(1024)
        }
    }
}

/// How many connections fit in `descriptors` open files, the reserve kept aside.
pub fn capacity(descriptors: u64) -> usize {
    (descriptors.saturating_sub(RESERVED_DESCRIPTORS) / DESCRIPTORS_PER_CONNECTION).max(1) as usize
}

/// How a connection ended, as far as its socket saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Still open.
    Open,
    /// The server wrote everything it had and shut its side down in order.
    ShutDown,
    /// The connection was let go without a shutdown and without an error. hyper does so, for
    /// example, after answering a request that asked to upgrade (`curl --http2`): everything was
    /// written and flushed, but no shutdown is called.
    Released,
    /// A read or write failed (a reset, a broken pipe, the send timeout), or the server cut the
    /// connection: what was written may not all have gone out.
    Failed,
}

/// What a request may know and do about its own connection.
#[derive(Debug)]
pub struct ConnectionHandle {
    fd: RawFd,
    in_flight: AtomicUsize,
    close: Notify,
    ending: watch::Sender<Ending>,
}

impl ConnectionHandle {
    /// The socket's descriptor; valid while a request on this connection is being answered.
    pub fn fd(&self) -> RawFd {
        self.fd
    }

    /// Ends the connection now, whatever it is doing.
    pub fn close(&self) {
        self.close.notify_one();
    }

    /// Resolves when [`close`](Self::close) was called.
    pub async fn closed(&self) {
        self.close.notified().await;
    }

    /// Resolves once the connection has ended: true if it ended without an error after writing
    /// everything, false if an error or a cut ended it.
    pub fn ended(&self) -> impl Future<Output = bool> + Send + 'static {
        let mut ending = self.ending.subscribe();
        async move {
            match ending.wait_for(|e| *e != Ending::Open).await {
                Ok(e) => matches!(*e, Ending::ShutDown | Ending::Released),
                Err(_) => false,
            }
        }
    }

    /// Records how the connection ended, unless that is known already.
    fn end(&self, how: Ending) {
        self.ending.send_if_modified(|e| {
            let open = *e == Ending::Open;
            if open {
                *e = how;
            }
            open
        });
    }

    /// Marks the connection as cut by the server (see [`close`](Self::close)).
    pub fn cut(&self) {
        self.end(Ending::Failed);
    }

    /// Marks a request in flight until the returned guard is dropped (with its response body).
    pub fn busy(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        Busy(self.clone())
    }

    fn idle(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0
    }
}

/// A request in flight on a connection (see [`ConnectionHandle::busy`]).
#[derive(Debug)]
pub struct Busy(Arc<ConnectionHandle>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The open connections, oldest first.
#[derive(Debug)]
pub struct Connections {
    capacity: usize,
    // A std Mutex: held to insert, remove or pick one, never across an await.
    open: Mutex<BTreeMap<u64, Arc<ConnectionHandle>>>,
    next: std::sync::atomic::AtomicU64,
    full_warning: Throttled,
}

/// What to do with a connection just accepted.
pub enum Admission {
    /// Serve it; the entry leaves the table when dropped.
    Serve(Admitted),
    /// Every connection is busy: close it.
    Refuse,
}

/// A connection's place in the table, given back on drop.
pub struct Admitted {
    connections: Arc<Connections>,
    key: u64,
    /// The connection's handle, for its requests.
    pub handle: Arc<ConnectionHandle>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.connections.lock().remove(&self.key);
        // Unless the socket saw a shutdown or an error, or the server cut the connection, it was
        // let go in order.
        self.handle.end(Ending::Released);
    }
}

impl Connections {
    /// A table for at most `capacity` connections.
    pub fn new(capacity: usize) -> Arc<Connections> {
        Arc::new(Connections {
            capacity,
            open: Mutex::new(BTreeMap::new()),
            next: Default::default(),
            full_warning: Throttled::new(Duration::from_secs(10)),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<ConnectionHandle>>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many connections are open.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no connection is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes in `stream`, making room by closing the longest-idle connection if the table is
    /// full.
    pub fn admit(self: &Arc<Self>, stream: &TcpStream) -> Admission {
        let mut open = self.lock();
        if open.len() >= self.capacity {
            // Out of the table at once: it is on its way out, and must not be picked again.
            let idle = open.iter().find(|(_, c)| c.idle()).map(|(key, _)| *key).and_then(|key| open.remove(&key));
            let Some(idle) = idle else {
                drop(open);
                self.full_warning.warn(|suppressed| {
                    format!("{} connections, all busy: refusing new ones ({suppressed} more since)", self.capacity)
                });
                return Admission::Refuse;
            };
            idle.close();
            self.full_warning.warn(|suppressed| {
                format!(
                    "{} connections open: closing idle ones to make room, oldest first ({suppressed} more since)",
                    self.capacity
                )
            });
        }
        let key = self.next.fetch_add(1, Ordering::Relaxed);
        let handle = Arc::new(ConnectionHandle {
            fd: stream.as_raw_fd(),
            in_flight: AtomicUsize::new(0),
            close: Notify::new(),
            ending: watch::channel(Ending::Open).0,
        });
        open.insert(key, handle.clone());
        Admission::Serve(Admitted { connections: self.clone(), key, handle })
    }
}

/// The socket as hyper sees it: a write timeout, and the connection's ending reported.
pub struct Socket {
    inner: Pin<Box<TimeoutStream<TcpStream>>>,
    handle: Arc<ConnectionHandle>,
}

impl Socket {
    /// Wraps an accepted stream.
    pub fn new(stream: TcpStream, handle: Arc<ConnectionHandle>, config: &ServerConfig) -> Socket {
        let mut timed = TimeoutStream::new(stream);
        timed.set_write_timeout(Some(config.send_timeout));
        Socket { inner: Box::pin(timed), handle }
    }
}

impl Socket {
    /// Notes an error as the connection's ending: whatever was written may not have gone out.
    fn watch<T>(&self, polled: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if let Poll::Ready(Err(_)) = &polled {
            self.handle.end(Ending::Failed);
        }
        polled
    }
}

impl AsyncRead for Socket {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let polled = self.inner.as_mut().poll_read(cx, buf);
        self.watch(polled)
    }
}

impl AsyncWrite for Socket {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let polled = self.inner.as_mut().poll_write(cx, buf);
        self.watch(polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = self.inner.as_mut().poll_write_vectored(cx, bufs);
        self.watch(polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = self.inner.as_mut().poll_flush(cx);
        self.watch(polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = self.inner.as_mut().poll_shutdown(cx);
        if let Poll::Ready(Ok(())) = &polled {
            self.handle.end(Ending::ShutDown);
        }
        self.watch(polled)
    }
}

/// A warning logged at most once per period, with how many were held back meanwhile: under a
/// flood, one line every few seconds says as much as thousands.
#[derive(Debug)]
pub struct Throttled {
    every: Duration,
    state: Mutex<(Option<Instant>, u64)>,
}

impl Throttled {
    /// At most one warning per `every`.
    pub fn new(every: Duration) -> Throttled {
        Throttled { every, state: Mutex::new((None, 0)) }
    }

    /// Logs `message(suppressed)` unless a warning went out less than a period ago.
    pub fn warn(&self, message: impl FnOnce(u64) -> String) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (last, suppressed) = &mut *state;
        if last.is_some_and(|t| t.elapsed() < self.every) {
            *suppressed += 1;
            return;
        }
        let held_back = std::mem::take(suppressed);
        *last = Some(Instant::now());
        drop(state);
        let message = message(held_back);
        tracing::warn!("{message}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_keeps_a_reserve() {
        assert_eq!(capacity(1024), (1024 - 128) / 3);
        assert_eq!(capacity(100), 1);
        assert_eq!(capacity(1_048_576), (1_048_576 - 128) / 3);
    }

    #[test]
    fn throttled_warnings_count_what_they_hold_back() {
        let throttled = Throttled::new(Duration::from_secs(3600));
        let mut seen = Vec::new();
        for _ in 0..5 {
            throttled.warn(|n| {
                seen.push(n);
                String::new()
            });
        }
        assert_eq!(seen, [0], "one warning per period");
        assert_eq!(throttled.state.lock().unwrap().1, 4);
    }
}
