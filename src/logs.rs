//! The log both shells write: to stderr, filtered by `SHARELOCK_LOG` (`info` unless set; any
//! `tracing_subscriber` filter, e.g. `sharelock=debug`), coloured only on a terminal.
//!
//! The threads that serve connections write one access line per request. Written one by one,
//! those lines cost each request a system call and, with a thread per core, a wait on stderr's
//! lock while another thread writes (the small-GET profile in BENCHMARKS.md). So a serving
//! thread [gathers](gather_on_this_thread) its lines of level INFO and below and writes them in
//! one go when it runs out of work ([`flush_gathered`], from its runtime's park hook), when they
//! fill [`GATHER`] bytes, or when it ends. An idle server's log is therefore as current as
//! before; a busy one's is behind by at most one buffer per thread. Warnings and errors are
//! never held: the lines gathered before one are written first, then it, so the order holds.
//! `tracing-appender`'s non-blocking writer was not used: it hands every line to a thread of its
//! own, which costs a wake-up of that thread for each line on a busy server.
//!
//! The access lines themselves are [formatted here](access) when the log is plain text (not a
//! terminal's colours): `tracing-subscriber`'s formatter (its clock, field visitor and escaping)
//! was 4% of a small GET's CPU. They read exactly as its lines do, and go through the same
//! filter and the same gathering.

use std::cell::RefCell;
use std::fmt;
use std::io::{self, IsTerminal, Write};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

/// Environment variable that sets what is logged.
pub const ENV_VAR: &str = "SHARELOCK_LOG";

/// How many bytes of lines a serving thread gathers before it writes them anyway.
pub const GATHER: usize = 8 * 1024;

/// Starts logging for the process; a second call does nothing.
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_env(ENV_VAR).unwrap_or_else(|_| "info".into());
    let ansi = io::stderr().is_terminal();
    let installed =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(Output).with_ansi(ansi).try_init().is_ok();
    if installed && !ansi {
        let _ = PLAIN.set(());
    }
}

/// Set once this module's subscriber writes plain text: then [`access`] formats lines itself.
static PLAIN: OnceLock<()> = OnceLock::new();

/// What comes between an access line's time and its message, as `tracing-subscriber` writes it.
const ACCESS_PREFIX: &str = "  INFO sharelock::access: ";

/// Logs one access line (INFO, target `sharelock::access`), filtered like any line. While this
/// module's subscriber writes plain text it is formatted here, the way that subscriber would
/// format it (see the module's comment); otherwise (a terminal, or another subscriber, as in
/// tests) it goes through `tracing`. So does a line with a control character in it (a URI path
/// may hold C1 controls, U+0080 to U+009F, which some terminals obey): the subscriber escapes
/// them, and a log read in a terminal must never be able to drive it.
pub fn access(message: fmt::Arguments<'_>) {
    if !tracing::enabled!(target: "sharelock::access", Level::INFO) {
        return;
    }
    let written = PLAIN.get().and_then(|()| {
        let written = ACCESS_LINE.try_with(|line| {
            let mut line = line.borrow_mut();
            let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
            line.format(now, message).map(|text| Line { held: true }.write_all(text.as_bytes()))
        });
        written.ok().flatten()
    });
    if written.is_none() {
        tracing::info!(target: "sharelock::access", "{message}");
    }
}

thread_local! {
    /// This thread's access line being written, and the time stamp of the current second.
    static ACCESS_LINE: RefCell<AccessLine> = const { RefCell::new(AccessLine::new()) };
}

struct AccessLine {
    second: u64,
    /// `YYYY-MM-DDTHH:MM:SS` of `second`, in UTC.
    stamp: String,
    text: String,
}

impl AccessLine {
    const fn new() -> AccessLine {
        AccessLine { second: 0, stamp: String::new(), text: String::new() }
    }

    /// The whole line for `message` logged at `now` (since the Unix epoch), newline included;
    /// `None` if the message holds a control character, for the subscriber to escape.
    fn format(&mut self, now: std::time::Duration, message: fmt::Arguments<'_>) -> Option<&str> {
        use fmt::Write as _;
        if self.second != now.as_secs() || self.stamp.is_empty() {
            self.second = now.as_secs();
            self.stamp = second_stamp(now.as_secs());
        }
        self.text.clear();
        let _ = write!(self.text, "{}.{:06}Z{ACCESS_PREFIX}", self.stamp, now.subsec_micros());
        let start = self.text.len();
        let _ = write!(self.text, "{message}");
        if self.text[start..].chars().any(char::is_control) {
            return None;
        }
        self.text.push('\n');
        Some(&self.text)
    }
}

/// `YYYY-MM-DDTHH:MM:SS` in UTC, as `tracing-subscriber`'s clock writes it before the fraction.
fn second_stamp(unix: u64) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(unix as i64) else { return String::new() };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

thread_local! {
    /// This thread's gathered lines, when it gathers them.
    static GATHERED: RefCell<Option<Gathered>> = const { RefCell::new(None) };
}

/// Lines waiting to be written; written when the thread ends, too.
struct Gathered(Vec<u8>);

impl Gathered {
    fn flush(&mut self) {
        if !self.0.is_empty() {
            // Nowhere to report a failure to write the log.
            let _ = io::stderr().write_all(&self.0);
            self.0.clear();
        }
    }
}

impl Drop for Gathered {
    fn drop(&mut self) {
        self.flush();
    }
}

/// From now on, this thread's lines of level INFO and below are gathered (see the module's
/// comment); it must call [`flush_gathered`] whenever it goes idle.
pub fn gather_on_this_thread() {
    GATHERED.with(|g| *g.borrow_mut() = Some(Gathered(Vec::with_capacity(GATHER))));
}

/// Writes the lines this thread gathered, if any.
pub fn flush_gathered() {
    let _ = GATHERED.try_with(|g| {
        if let Some(gathered) = g.borrow_mut().as_mut() {
            gathered.flush();
        }
    });
}

/// The log's destination, for `tracing_subscriber`: one writer for each line.
struct Output;

impl<'a> MakeWriter<'a> for Output {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line { held: false }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Line {
        Line { held: may_hold(meta.level()) }
    }
}

/// Whether a line of this level may wait in a serving thread's gathered lines.
fn may_hold(level: &Level) -> bool {
    // tracing orders levels by verbosity: TRACE > DEBUG > INFO > WARN > ERROR.
    *level >= Level::INFO
}

/// One line: to this thread's gathered lines when it gathers and the line may be `held`, else
/// straight to stderr after whatever was gathered.
struct Line {
    held: bool,
}

impl Write for Line {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.write_all(bytes)?;
        Ok(bytes.len())
    }

    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        // `try_with`: a line logged while the thread ends, after its gathered lines went, is
        // written at once.
        let gathered = GATHERED.try_with(|g| match g.borrow_mut().as_mut() {
            Some(gathered) if self.held => {
                gathered.0.extend_from_slice(bytes);
                if gathered.0.len() >= GATHER {
                    gathered.flush();
                }
                true
            }
            Some(gathered) => {
                gathered.flush();
                false
            }
            None => false,
        });
        if matches!(gathered, Ok(true)) { Ok(()) } else { io::stderr().write_all(bytes) }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gathered() -> Vec<u8> {
        GATHERED.with(|g| g.borrow().as_ref().map(|g| g.0.clone()).unwrap_or_default())
    }

    #[test]
    fn a_thread_that_does_not_gather_writes_at_once() {
        std::thread::spawn(|| {
            Line { held: true }.write_all(b"line\n").unwrap();
            assert!(gathered().is_empty());
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_gathering_thread_holds_info_lines_until_flushed_or_full() {
        std::thread::spawn(|| {
            gather_on_this_thread();
            Line { held: true }.write_all(b"one\n").unwrap();
            Line { held: true }.write_all(b"two\n").unwrap();
            assert_eq!(gathered(), b"one\ntwo\n");
            flush_gathered();
            assert!(gathered().is_empty());
            let long = vec![b'x'; GATHER - 1];
            Line { held: true }.write_all(&long).unwrap();
            assert_eq!(gathered().len(), GATHER - 1);
            Line { held: true }.write_all(b"\n").unwrap();
            assert!(gathered().is_empty(), "a full buffer is written at once");
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_warning_is_written_at_once_after_what_was_gathered() {
        std::thread::spawn(|| {
            gather_on_this_thread();
            Line { held: true }.write_all(b"before\n").unwrap();
            Line { held: false }.write_all(b"warning\n").unwrap();
            assert!(gathered().is_empty(), "the lines before a warning go out with it");
        })
        .join()
        .unwrap();
    }

    #[test]
    fn an_access_line_reads_as_tracing_subscriber_writes_it() {
        let at = std::time::Duration::new(1_796_000_000, 123_456_789);
        let mut line = AccessLine::new();
        let ours = line.format(at, format_args!("GET /d/abc/…/a.txt 200 4096B 0ms")).unwrap().to_string();
        assert_eq!(ours, "2026-11-30T00:53:20.123456Z  INFO sharelock::access: GET /d/abc/…/a.txt 200 4096B 0ms\n");
        // The same second again reuses its stamp; the next one makes a new one.
        let later =
            |d: std::time::Duration, line: &mut AccessLine| line.format(at + d, format_args!("x")).unwrap().to_string();
        assert!(later(std::time::Duration::from_micros(7), &mut line).starts_with("2026-11-30T00:53:20.123463Z "));
        assert!(later(std::time::Duration::from_secs(1), &mut line).starts_with("2026-11-30T00:53:21.123456Z "));
        // A control character, C1 included, is left to the subscriber, which escapes it.
        for path in ["/a\u{1b}[2J", "/a\u{9b}2J", "/a\u{7f}"] {
            assert_eq!(line.format(at, format_args!("GET {path} 404 10B 0ms")), None, "{path:?}");
        }

        // tracing-subscriber's own line for the same event differs only in its time.
        let captured = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = captured.clone();
        let subscriber = tracing_subscriber::fmt().with_ansi(false).with_writer(move || Capture(sink.clone())).finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "sharelock::access", "{}", format_args!("GET /d/abc/…/a.txt 200 4096B 0ms"));
        });
        let theirs = String::from_utf8(captured.lock().unwrap().clone()).unwrap();
        let stamp = "2026-11-30T00:53:20.123456Z".len();
        assert_eq!(theirs.len(), ours.len(), "{theirs:?}");
        assert_eq!(theirs[stamp..], ours[stamp..], "{theirs:?}");
        assert!(time::OffsetDateTime::parse(&theirs[..stamp], &time::format_description::well_known::Rfc3339).is_ok());
    }

    struct Capture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl Write for Capture {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn only_info_and_below_may_be_held() {
        assert!([Level::TRACE, Level::DEBUG, Level::INFO].iter().all(may_hold));
        assert!(![Level::WARN, Level::ERROR].iter().any(may_hold));
    }
}
