//! Reading `multipart/form-data` within bounds.
//!
//! multer parses the form and applies what it can bound on its own ([`multer::Constraints`]):
//! the whole body against what the slot can still take, each text field, each file. What it
//! cannot bound is the framing: it buffers the preamble until it finds the first boundary and a
//! part's header block until it finds the blank line, however long either is (a 200 MB part
//! header costs 200 MB). [`Framing`] is the small guard in front of it that does: it follows
//! the boundaries in the byte stream as multer will, and refuses a body whose header block or
//! text outside the parts crosses a few KiB, before multer sees those bytes. No crate offers
//! this; it is written by hand and kept to a scan with `memchr::memmem`.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use http::{HeaderMap, header};
use memchr::memmem::Finder;

use super::super::error::HttpError;
use crate::slots::Slot;
use crate::units::format_size;

/// Largest header block of one part, from its boundary to the blank line: the
/// `Content-Disposition` with a file name and a `Content-Type` take a few hundred bytes.
pub(in crate::http) const MAX_PART_HEADER: usize = 8 * 1024;
/// Largest text before the first boundary, and after the last: browsers send none.
pub(in crate::http) const MAX_OUTSIDE_PARTS: u64 = 8 * 1024;
/// RFC 2046 §5.1.1: a boundary has 1 to 70 characters.
const MAX_BOUNDARY: usize = 70;
/// What a form may carry besides its files: the uploader's name and message, boundaries, a few
/// unknown fields.
const FORM_OVERHEAD: u64 = 64 * 1024;
/// And per file the slot can still take: its part's boundary and headers, as browsers send them.
const PART_OVERHEAD: u64 = 1024;

/// A refusal from the framing guard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::http) enum Refusal {
    /// A part's header block crossed [`MAX_PART_HEADER`].
    PartHeader,
    /// The text before the first part or after the last crossed [`MAX_OUTSIDE_PARTS`].
    OutsideParts,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::PartHeader => {
                write!(f, "a part's headers may be at most {}", format_size(MAX_PART_HEADER as u64))
            }
            Refusal::OutsideParts => {
                write!(f, "text outside the form's parts may be at most {}", format_size(MAX_OUTSIDE_PARTS))
            }
        }
    }
}

impl std::error::Error for Refusal {}

impl From<Refusal> for HttpError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::PartHeader => HttpError::HeaderTooLarge(r.to_string()),
            Refusal::OutsideParts => HttpError::TooLarge(r.to_string()),
        }
    }
}

/// The boundary of a `multipart/form-data` request.
pub(in crate::http) fn boundary(headers: &HeaderMap) -> Result<String, HttpError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let boundary = multer::parse_boundary(content_type)
        .map_err(|e| HttpError::BadRequest(format!("expected a multipart/form-data body: {e}")))?;
    if boundary.is_empty() || boundary.len() > MAX_BOUNDARY {
        return Err(HttpError::BadRequest(format!("a multipart boundary has 1 to {MAX_BOUNDARY} characters")));
    }
    Ok(boundary)
}

/// The most a form into `slot` may weigh: what the slot can still take, plus a bounded
/// allowance for everything around the files.
pub(in crate::http) fn budget(slot: &Slot) -> u64 {
    let parts = slot.files_left().min(1000);
    slot.room().saturating_add(FORM_OVERHEAD).saturating_add(parts * PART_OVERHEAD)
}

/// multer's limits for a form into `slot`: the whole body within [`budget`], each file within
/// the slot's size limit, each text field within `text_limits` (field name, bytes), any other
/// field within `other_limit` bytes.
pub(in crate::http) fn constraints(slot: &Slot, text_limits: &[(&str, u64)], other_limit: u64) -> multer::Constraints {
    let mut limits =
        multer::SizeLimit::new().whole_stream(budget(slot)).per_field(other_limit).for_field("file", slot.max_size);
    for (name, limit) in text_limits {
        limits = limits.for_field(*name, *limit);
    }
    multer::Constraints::new().size_limit(limits)
}

/// The answer for an error from multer (which carries the guard's refusals and the body's own
/// errors as `StreamReadFailed`).
pub(in crate::http) fn error(e: multer::Error) -> HttpError {
    match e {
        multer::Error::StreamReadFailed(inner) => match inner.downcast_ref::<Refusal>() {
            Some(refusal) => (*refusal).into(),
            None => HttpError::BadRequest(format!("the upload was interrupted: {inner}")),
        },
        multer::Error::StreamSizeExceeded { limit } => HttpError::TooLarge(format!(
            "too large: a form sent to this upload link may be at most {}",
            format_size(limit)
        )),
        multer::Error::FieldSizeExceeded { limit, field_name } if field_name.as_deref() == Some("file") => {
            HttpError::TooLarge(format!("too large: files may be at most {}", format_size(limit)))
        }
        multer::Error::FieldSizeExceeded { limit, .. } => {
            // Text fields are limited in characters, up to four bytes each.
            HttpError::TooLarge(format!("a form field may have at most {} characters", limit / 4))
        }
        other => HttpError::BadRequest(format!("malformed multipart body: {other}")),
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body stream, passed on chunk by chunk once [`Scanner`] has seen it. After a refusal it
/// ends.
pub(in crate::http) struct Framing<S> {
    body: S,
    scanner: Scanner,
    done: bool,
}

impl<S> Framing<S> {
    pub(in crate::http) fn new(body: S, boundary: &str) -> Self {
        Framing { body, scanner: Scanner::new(boundary), done: false }
    }
}

impl<S, E> Stream for Framing<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Into<BoxError>,
{
    type Item = Result<Bytes, BoxError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        let next = std::task::ready!(Pin::new(&mut self.body).poll_next(cx));
        Poll::Ready(match next {
            None => None,
            Some(Err(e)) => Some(Err(e.into())),
            Some(Ok(chunk)) => match self.scanner.feed(&chunk) {
                Ok(()) => Some(Ok(chunk)),
                Err(refusal) => {
                    self.done = true;
                    Some(Err(Box::new(refusal)))
                }
            },
        })
    }
}

/// Where the scan is in the form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// Before the first `--boundary`.
    Preamble,
    /// After a boundary, up to the blank line that ends the part's headers.
    Header,
    /// A part's contents, up to the next `CRLF--boundary`.
    Body,
    /// After the closing `--boundary--`.
    Epilogue,
}

/// Follows the boundaries of a form across chunk edges, holding at most one header block and
/// a boundary's length of carry-over.
///
/// It finds each place where multer does (multer 3: the first `--boundary` anywhere, then
/// `CRLF--boundary` after each part's contents; a part's headers start after the first CRLF
/// that follows the boundary and end at the first CRLF CRLF from there), so it never counts as
/// contents what multer still buffers as headers.
pub(in crate::http) struct Scanner {
    place: Place,
    /// `--boundary`: the first delimiter, which may open the body.
    first: Finder<'static>,
    /// `CRLF--boundary`: every later delimiter.
    delimiter: Finder<'static>,
    /// The last bytes seen in the preamble or a body, fewer than the pattern sought, for a
    /// delimiter cut in two by a chunk edge.
    carry: Vec<u8>,
    /// The current header block so far.
    header: Vec<u8>,
    /// Bytes seen outside the parts.
    outside: u64,
}

impl Scanner {
    pub(in crate::http) fn new(boundary: &str) -> Scanner {
        Scanner {
            place: Place::Preamble,
            first: Finder::new(format!("--{boundary}").as_bytes()).into_owned(),
            delimiter: Finder::new(format!("\r\n--{boundary}").as_bytes()).into_owned(),
            carry: Vec::new(),
            header: Vec::new(),
            outside: 0,
        }
    }

    /// Takes the next chunk of the body; a refusal once a limit is crossed.
    pub(in crate::http) fn feed(&mut self, chunk: &[u8]) -> Result<(), Refusal> {
        let mut rest = chunk;
        while !rest.is_empty() {
            match self.place {
                Place::Preamble => {
                    let len = self.first.needle().len();
                    match find_across(&self.first, &self.carry, rest) {
                        Some(end) => {
                            // The preamble is what comes before the delimiter.
                            let preamble = (self.outside + end as u64).saturating_sub(len as u64);
                            if preamble > MAX_OUTSIDE_PARTS {
                                return Err(Refusal::OutsideParts);
                            }
                            rest = &rest[end..];
                            self.enter(Place::Header);
                        }
                        None => {
                            // The last bytes may be the start of the delimiter: they get the
                            // benefit of the doubt, so where the chunks are cut never matters.
                            self.count_outside(rest.len(), len as u64 - 1)?;
                            keep_tail(&mut self.carry, rest, len - 1);
                            rest = &[];
                        }
                    }
                }
                Place::Body => match find_across(&self.delimiter, &self.carry, rest) {
                    Some(end) => {
                        rest = &rest[end..];
                        self.enter(Place::Header);
                    }
                    None => {
                        keep_tail(&mut self.carry, rest, self.delimiter.needle().len() - 1);
                        rest = &[];
                    }
                },
                Place::Header => rest = self.header(rest)?,
                Place::Epilogue => {
                    self.count_outside(rest.len(), 0)?;
                    rest = &[];
                }
            }
        }
        Ok(())
    }

    /// Scans `rest` as header bytes; what follows the header block, if it ended.
    fn header<'a>(&mut self, rest: &'a [u8]) -> Result<&'a [u8], Refusal> {
        let before = self.header.len();
        let take = rest.len().min(MAX_PART_HEADER - before);
        self.header.extend_from_slice(&rest[..take]);
        // `--boundary--` closes the form.
        if self.header.starts_with(b"--") {
            self.enter(Place::Epilogue);
            return Ok(&rest[2 - before.min(2)..]);
        }
        // Until two bytes are in, they may still be the closing `--`.
        let undecided = self.header.len() < 2 && b"--".starts_with(&self.header);
        if !undecided {
            // The headers start after the CRLF that ends the boundary line (after any padding).
            if let Some(line_end) = memchr::memmem::find(&self.header, b"\r\n") {
                let start = (line_end + 2).max(before.saturating_sub(3));
                if let Some(at) = memchr::memmem::find(&self.header[start..], b"\r\n\r\n") {
                    let end = start + at + 4;
                    self.enter(Place::Body);
                    return Ok(&rest[end - before..]);
                }
            }
        }
        if self.header.len() >= MAX_PART_HEADER {
            return Err(Refusal::PartHeader);
        }
        Ok(&[])
    }

    fn enter(&mut self, place: Place) {
        self.place = place;
        self.carry.clear();
        self.header.clear();
        self.outside = 0;
    }

    /// Counts `n` more bytes outside the parts, of which up to `slack` may turn out not to be.
    fn count_outside(&mut self, n: usize, slack: u64) -> Result<(), Refusal> {
        self.outside += n as u64;
        if self.outside > MAX_OUTSIDE_PARTS + slack { Err(Refusal::OutsideParts) } else { Ok(()) }
    }
}

/// Where the first match of `finder` in `carry` followed by `rest` ends, as an offset into
/// `rest`. `carry` is shorter than the pattern, so a match there runs into `rest`.
fn find_across(finder: &Finder<'_>, carry: &[u8], rest: &[u8]) -> Option<usize> {
    let len = finder.needle().len();
    if !carry.is_empty() {
        let mut seam = carry.to_vec();
        seam.extend_from_slice(&rest[..rest.len().min(len - 1)]);
        if let Some(at) = finder.find(&seam) {
            return Some(at + len - carry.len());
        }
    }
    finder.find(rest).map(|at| at + len)
}

/// Keeps in `carry` the last `n` bytes of `carry` followed by `rest`.
fn keep_tail(carry: &mut Vec<u8>, rest: &[u8], n: usize) {
    if rest.len() >= n {
        carry.clear();
        carry.extend_from_slice(&rest[rest.len() - n..]);
    } else {
        carry.extend_from_slice(rest);
        let excess = carry.len().saturating_sub(n);
        carry.drain(..excess);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Feeds `body` cut at `cuts` (offsets, any order) and returns the first refusal.
    fn scan(body: &[u8], cuts: &[usize]) -> Result<Place, Refusal> {
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (body.len() + 1)).collect();
        cuts.push(body.len());
        cuts.sort_unstable();
        let mut scanner = Scanner::new("XyZ");
        let mut from = 0;
        for to in cuts {
            scanner.feed(&body[from..to])?;
            from = to;
        }
        Ok(scanner.place)
    }

    fn form(header_pad: usize, preamble: usize, epilogue: usize) -> Vec<u8> {
        let mut body = vec![b'p'; preamble];
        body.extend_from_slice(b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n");
        body.extend_from_slice(format!("X-Pad: {}\r\n\r\n", "a".repeat(header_pad)).as_bytes());
        body.extend_from_slice(b"contents with --XyZ inside a line\r\n--XyZ\r\n\r\n\r\nno headers\r\n--XyZ--\r\n");
        body.extend(std::iter::repeat_n(b'e', epilogue));
        body
    }

    #[test]
    fn a_browser_form_passes_whole_and_in_pieces() {
        let body = form(10, 0, 0);
        assert_eq!(scan(&body, &[]), Ok(Place::Epilogue));
        for cut in 0..body.len() {
            assert_eq!(scan(&body, &[cut]), Ok(Place::Epilogue), "cut at {cut}");
        }
        let every_byte: Vec<usize> = (0..body.len()).collect();
        assert_eq!(scan(&body, &every_byte), Ok(Place::Epilogue));
    }

    #[test]
    fn limits_hold_at_their_edges() {
        let header = |pad| scan(&form(pad, 0, 0), &[]);
        let fixed = b"\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nX-Pad: \r\n\r\n".len();
        assert_eq!(header(MAX_PART_HEADER - fixed), Ok(Place::Epilogue));
        assert_eq!(header(MAX_PART_HEADER - fixed + 1), Err(Refusal::PartHeader));
        let outside = |pre, epi| scan(&form(0, pre, epi), &[7, 5000]);
        assert_eq!(outside(MAX_OUTSIDE_PARTS as usize, 0), Ok(Place::Epilogue));
        assert_eq!(outside(MAX_OUTSIDE_PARTS as usize + 1, 0), Err(Refusal::OutsideParts));
        assert_eq!(outside(0, MAX_OUTSIDE_PARTS as usize - 2), Ok(Place::Epilogue));
        assert_eq!(outside(0, MAX_OUTSIDE_PARTS as usize), Err(Refusal::OutsideParts));
    }

    #[test]
    fn headers_run_to_a_blank_line_after_the_boundary_line_as_multer_reads_them() {
        // An empty line straight after the boundary ends nothing: multer reads it as the end of
        // the boundary line and keeps looking, so its buffer grows; the guard counts on.
        let mut body = b"--XyZ\r\n\r\n".to_vec();
        body.extend(std::iter::repeat_n(b'h', MAX_PART_HEADER));
        assert_eq!(scan(&body, &[]), Err(Refusal::PartHeader));
        assert_eq!(scan(b"--XyZ  \t\r\n\r\n\r\nbody", &[]), Ok(Place::Body));
    }

    proptest! {
        #[test]
        fn any_cuts_give_the_same_verdict(pad in 0usize..9000, pre in 0usize..9000, cuts in proptest::collection::vec(any::<usize>(), 0..8)) {
            let body = form(pad, pre, 2);
            prop_assert_eq!(scan(&body, &cuts), scan(&body, &[]));
        }

        #[test]
        fn never_holds_more_than_a_header_and_a_boundary(
            // Mostly the bytes that make boundaries and line ends, so they occur often.
            body in proptest::collection::vec(0usize..8, 0..12_000)
                .prop_map(|picks| picks.into_iter().map(|i| b"-\r\nXyZa\xff"[i]).collect::<Vec<u8>>()),
            cuts in proptest::collection::vec(any::<usize>(), 0..8),
        ) {
            let mut scanner = Scanner::new("XyZ");
            let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (body.len() + 1)).collect();
            cuts.push(body.len());
            cuts.sort_unstable();
            let mut from = 0;
            for to in cuts {
                if scanner.feed(&body[from..to]).is_err() {
                    break;
                }
                prop_assert!(scanner.header.len() <= MAX_PART_HEADER && scanner.carry.len() < 8);
                from = to;
            }
        }
    }
}
