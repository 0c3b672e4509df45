//! What a `Range` header asks of a file, by RFC 9110 (section 14).
//!
//! Written here rather than taken from `http-range-header` (what `tower-http` uses): that crate
//! answers invalid syntax and unsatisfiable ranges with the same error, and refuses a suffix
//! longer than the file, where RFC 9110 asks for three different answers. A server must ignore a
//! Range in a unit it does not know and may ignore one it cannot parse (the whole file, 200); it
//! answers 416 only to well-formed ranges none of which fits the file; and a suffix longer than
//! the file means the whole file. Every download path (a stored file, small or streamed, and a
//! share's zip) decides from this one answer.

use http::{HeaderMap, header};

/// What a request gets of a file of a given size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requested {
    /// The whole file, 200: no Range, one it must or may ignore, several ranges (served whole,
    /// as RFC 9110 allows), or one that covers the whole file anyway.
    Whole,
    /// Bytes `first..=last` of the file, 206.
    Part {
        /// The first byte sent.
        first: u64,
        /// The last byte sent (inclusive); below the file's size.
        last: u64,
    },
    /// A well-formed range that starts past the end of the file, or any range of an empty file:
    /// 416 with `Content-Range: bytes */size`.
    Unsatisfiable,
}

impl Requested {
    /// Reads the `Range` header of a request for a file of `size` bytes.
    pub fn of(headers: &HeaderMap, size: u64) -> Requested {
        match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
            Some(value) => parse(value, size),
            None => Requested::Whole,
        }
    }

    /// How many bytes of the file go out.
    pub fn len(self, size: u64) -> u64 {
        match self {
            Requested::Whole => size,
            Requested::Part { first, last } => last - first + 1,
            Requested::Unsatisfiable => 0,
        }
    }

    /// Whether what goes out ends with the file's last byte: what completes a download.
    pub fn reaches_end(self, size: u64) -> bool {
        match self {
            Requested::Whole => true,
            Requested::Part { last, .. } => last + 1 == size,
            Requested::Unsatisfiable => false,
        }
    }
}

/// `Range: bytes=…` for a file of `size` bytes.
fn parse(value: &str, size: u64) -> Requested {
    let Some((unit, specs)) = value.split_once('=') else { return Requested::Whole };
    // Range units are case-insensitive (RFC 9110 14.1); an unknown unit is ignored (14.2).
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return Requested::Whole;
    }
    let mut specs = specs.split(',').map(str::trim).filter(|s| !s.is_empty());
    let (Some(spec), None) = (specs.next(), specs.next()) else {
        // No range at all is invalid, hence ignored; several ranges are served whole.
        return Requested::Whole;
    };
    let Some(spec) = Spec::parse(spec) else { return Requested::Whole };
    let (first, last) = match spec {
        Spec::From(first) => (first, u64::MAX),
        Spec::Between(first, last) => (first, last),
        Spec::Suffix(0) => return Requested::Unsatisfiable,
        Spec::Suffix(n) => (size.saturating_sub(n), u64::MAX),
    };
    if size == 0 || first >= size {
        return Requested::Unsatisfiable;
    }
    let last = last.min(size - 1);
    if first == 0 && last == size - 1 { Requested::Whole } else { Requested::Part { first, last } }
}

/// One range-spec as written (RFC 9110 14.1.1), before it meets the file.
enum Spec {
    /// `first-`
    From(u64),
    /// `first-last`, with `first <= last`.
    Between(u64, u64),
    /// `-n`: the last n bytes.
    Suffix(u64),
}

impl Spec {
    /// None for anything that is not a well-formed range-spec, an inverted one included.
    fn parse(spec: &str) -> Option<Spec> {
        let (first, last) = spec.split_once('-')?;
        match (digits(first), digits(last)) {
            (None, Some(n)) if first.is_empty() => Some(Spec::Suffix(n)),
            (Some(first), None) if last.is_empty() => Some(Spec::From(first)),
            (Some(first), Some(last)) if first <= last => Some(Spec::Between(first, last)),
            _ => None,
        }
    }
}

/// A run of ASCII digits. Numbers too large for u64 are clamped: they are still well-formed,
/// and past the end of any file.
fn digits(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(text.parse().unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(value: &str, size: u64) -> Requested {
        parse(value, size)
    }

    #[test]
    fn well_formed_ranges() {
        assert_eq!(of("bytes=0-9", 100), Requested::Part { first: 0, last: 9 });
        assert_eq!(of("bytes=90-", 100), Requested::Part { first: 90, last: 99 });
        assert_eq!(of("bytes=-5", 100), Requested::Part { first: 95, last: 99 });
        assert_eq!(of("bytes=90-500", 100), Requested::Part { first: 90, last: 99 });
        assert_eq!(of("BYTES = 1-2", 100), Requested::Part { first: 1, last: 2 });
    }

    #[test]
    fn ranges_covering_the_whole_file_are_the_whole_file() {
        assert_eq!(of("bytes=0-", 100), Requested::Whole);
        assert_eq!(of("bytes=0-99", 100), Requested::Whole);
        assert_eq!(of("bytes=-100", 100), Requested::Whole);
        // RFC 9110 14.1.2: a suffix longer than the representation selects all of it.
        assert_eq!(of("bytes=-6000000", 5_000_000), Requested::Whole);
    }

    #[test]
    fn unknown_units_and_bad_syntax_are_ignored() {
        for value in [
            "items=0-1",
            "bytes=abc",
            "bytes=",
            "bytes",
            "bytes=5-2",
            "bytes=-",
            "bytes=1-2-3",
            "bytes=+1-2",
            "bytes=0x1-2",
        ] {
            assert_eq!(of(value, 100), Requested::Whole, "{value}");
        }
    }

    #[test]
    fn several_ranges_are_served_whole() {
        assert_eq!(of("bytes=0-1,5-6", 100), Requested::Whole);
    }

    #[test]
    fn well_formed_but_past_the_end_is_unsatisfiable() {
        assert_eq!(of("bytes=100-", 100), Requested::Unsatisfiable);
        assert_eq!(of("bytes=100-200", 100), Requested::Unsatisfiable);
        assert_eq!(of("bytes=99999999999999999999999-", 100), Requested::Unsatisfiable);
        assert_eq!(of("bytes=-0", 100), Requested::Unsatisfiable);
        assert_eq!(of("bytes=0-", 0), Requested::Unsatisfiable);
        assert_eq!(of("bytes=-5", 0), Requested::Unsatisfiable);
    }

    #[test]
    fn lengths_and_ends() {
        let part = Requested::Part { first: 10, last: 19 };
        assert_eq!(part.len(100), 10);
        assert!(!part.reaches_end(100));
        assert!(Requested::Part { first: 90, last: 99 }.reaches_end(100));
        assert!(Requested::Whole.reaches_end(100));
        assert_eq!(Requested::Whole.len(100), 100);
    }
}
