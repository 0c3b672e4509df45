//! A stored file's bytes as a response body.
//!
//! Written here rather than taken from `tower-http`'s `ServeFile` (which reads through
//! `tokio::fs::File`) for two costs measured on big downloads (BENCHMARKS.md): `tokio::fs::File`
//! reads into a buffer of its own and then copies it into the stream's, so each byte was copied
//! twice before the socket's own copy; and every chunk was a round trip to the blocking pool,
//! two thread wake-ups for each chunk. Here each chunk is read once, by `pread` into the buffer
//! that becomes the frame, and on the serving thread itself when the page cache already holds it
//! (`preadv2` with `RWF_NOWAIT`, which answers from the cache or not at all); only what must come
//! from the disk is read on the blocking pool, so a slow disk never holds up other connections.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use http_body::{Frame, SizeHint};
use tokio::task::JoinHandle;

/// Bytes read at a time: large reads keep the system calls few, and one chunk being read while
/// the one before is sent is all a download holds in memory.
pub(super) const CHUNK: usize = 256 * 1024;

/// `len` bytes of `file` from `offset`, a [`CHUNK`] at a time.
pub(super) struct FileBody {
    file: Arc<File>,
    /// Where the next chunk starts.
    offset: u64,
    /// Bytes not yet handed out.
    remaining: u64,
    /// A chunk the page cache did not hold whole, being read on the blocking pool.
    reading: Option<JoinHandle<io::Result<Bytes>>>,
}

impl FileBody {
    pub(super) fn new(file: File, offset: u64, len: u64) -> FileBody {
        FileBody { file: Arc::new(file), offset, remaining: len, reading: None }
    }

    fn hand_out(&mut self, chunk: Bytes) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        self.offset += chunk.len() as u64;
        self.remaining -= chunk.len() as u64;
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }
}

/// Whether a read may wait for the disk.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// Only what the page cache holds (`RWF_NOWAIT`); stops early where the disk would be needed.
    CachedOnly,
    Yes,
}

/// Reads into `buf` until it holds `len` bytes of `file` from `offset` (its first `buf.len()`
/// are already there), or, with [`Wait::CachedOnly`], until the rest is not in the page cache. A
/// file that ends sooner was cut short behind Sharelock's back after its checks: an error, so
/// the response is cut off instead of completed with fewer bytes than it announced.
fn fill(file: &File, offset: u64, buf: &mut BytesMut, len: usize, wait: Wait) -> io::Result<()> {
    while buf.len() < len {
        let (want, at) = (len - buf.len(), (offset + buf.len() as u64) as libc::off_t);
        let spare = buf.spare_capacity_mut();
        let iov = libc::iovec { iov_base: spare.as_mut_ptr().cast(), iov_len: want };
        let flags = if wait == Wait::CachedOnly { libc::RWF_NOWAIT } else { 0 };
        // SAFETY: the read writes at most `want` bytes at `iov_base`, and `want` fits in the
        // spare capacity (`buf` was made to hold `len`); the length grows only by what the read
        // says it wrote. (A safe read would need the buffer zeroed first, one more pass over
        // every byte.)
        let read = unsafe { libc::preadv2(file.as_raw_fd(), &iov, 1, at, flags) };
        if read > 0 {
            unsafe { buf.set_len(buf.len() + read as usize) };
            continue;
        }
        if read == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the stored file was cut short"));
        }
        let error = io::Error::last_os_error();
        match error.raw_os_error() {
            Some(libc::EINTR) => continue,
            // Not in the cache, or a file system that cannot tell: the blocking pool reads it.
            Some(libc::EAGAIN | libc::EOPNOTSUPP) if wait == Wait::CachedOnly => return Ok(()),
            _ => return Err(error),
        }
    }
    Ok(())
}

impl http_body::Body for FileBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if let Some(reading) = self.reading.as_mut() {
            let read = ready!(Pin::new(reading).poll(cx));
            self.reading = None;
            return match read {
                Ok(Ok(chunk)) => self.hand_out(chunk),
                Ok(Err(e)) => Poll::Ready(Some(Err(e))),
                Err(e) => Poll::Ready(Some(Err(io::Error::other(e)))),
            };
        }
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let len = self.remaining.min(CHUNK as u64) as usize;
        let mut buf = BytesMut::with_capacity(len);
        if let Err(e) = fill(&self.file, self.offset, &mut buf, len, Wait::CachedOnly) {
            return Poll::Ready(Some(Err(e)));
        }
        if buf.len() == len {
            return self.hand_out(buf.freeze());
        }
        let (file, offset) = (self.file.clone(), self.offset);
        self.reading = Some(tokio::task::spawn_blocking(move || {
            fill(&file, offset, &mut buf, len, Wait::Yes)?;
            Ok(buf.freeze())
        }));
        self.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use http_body_util::BodyExt;

    use super::*;

    fn file_of(bytes: &[u8]) -> (tempfile::NamedTempFile, File) {
        let mut tmp = tempfile::NamedTempFile::new().unwrap();
        tmp.write_all(bytes).unwrap();
        let file = File::open(tmp.path()).unwrap();
        (tmp, file)
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    #[tokio::test]
    async fn sends_the_asked_part_in_chunks() {
        let bytes = pattern(3 * CHUNK + 17);
        let (_tmp, file) = file_of(&bytes);
        let mut body = FileBody::new(file, 5, bytes.len() as u64 - 10);
        let mut frames = 0;
        let mut got = Vec::new();
        while let Some(frame) = body.frame().await {
            got.extend_from_slice(&frame.unwrap().into_data().unwrap());
            frames += 1;
        }
        assert_eq!(got, bytes[5..bytes.len() - 5]);
        assert_eq!(frames, 4);
    }

    #[tokio::test]
    async fn an_empty_part_is_an_ended_body() {
        let (_tmp, file) = file_of(b"abc");
        let body = FileBody::new(file, 0, 0);
        assert!(http_body::Body::is_end_stream(&body));
        assert!(body.collect().await.unwrap().to_bytes().is_empty());
    }

    #[tokio::test]
    async fn a_file_shorter_than_announced_ends_in_an_error_not_a_short_body() {
        let (_tmp, file) = file_of(&pattern(CHUNK + 10));
        let mut body = FileBody::new(file, 0, 2 * CHUNK as u64);
        assert_eq!(body.frame().await.unwrap().unwrap().into_data().unwrap().len(), CHUNK);
        let error = body.frame().await.unwrap().unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
    }
}
