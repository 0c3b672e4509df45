//! File names as people give them, and as they may safely appear in headers and on disk.
//!
//! A stored file keeps the name it arrived with (any Unicode), made safe to show and to save:
//! one path component, without control characters or characters that render as nothing or
//! reorder the text around them, NFC-normalised, and savable on Windows. That name is only ever
//! shown or sent in `Content-Disposition`; it never becomes a path on the server.
//!
//! A file received from a folder also keeps where it was in that folder: a [`ReceivedPath`],
//! each part sanitised like a name, refused whole when it could lead out of the folder it is
//! saved into (see [`ReceivedPath::parse`]).

use std::borrow::Cow;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use unicode_normalization::UnicodeNormalization;

/// Longest name kept, in bytes (the usual file system limit for one component).
const MAX_NAME_BYTES: usize = 255;
/// Used when nothing of a given name survives sanitising.
pub const FALLBACK_NAME: &str = "file";
/// What replaces a character Windows forbids in names.
const REPLACEMENT: char = '_';

/// Reduces a name from a path or an uploader to one safe component, at most 255 bytes:
/// - the part after the last `/` or `\`;
/// - without control characters, and without the invisible characters that make a name look
///   like another: bidirectional controls (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F,
///   U+061C; `a\u{202E}fdp.exe` shows as "aexe.pdf"), zero-width and other invisible
///   formatting characters (U+200B–U+200D, U+2060–U+2064, U+206A–U+206F, U+00AD, U+180E), the
///   byte order mark (U+FEFF) and line and paragraph separators (U+2028, U+2029);
/// - NFC-normalised, so one name has one spelling;
/// - savable on Windows: `<>:"|?*` become `_`; leading white space and trailing dots and white
///   space are dropped; a reserved device name (`CON`, `PRN`, `AUX`, `NUL`, `COM0`–`COM9`,
///   `LPT0`–`LPT9`, and their superscript-digit forms, in any case, alone or before a dot:
///   `nul.txt`, `Aux.tar.gz`) gets a leading `_` (`_CON`, `_nul.txt`);
/// - never empty, `.` or `..` (then [`FALLBACK_NAME`]).
///
/// Sanitising a sanitised name changes nothing.
pub fn sanitize(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let visible: String = base.chars().filter(|c| !hidden(*c)).collect();
    let normalised: String = visible.nfc().map(|c| if forbidden_on_windows(c) { REPLACEMENT } else { c }).collect();
    let mut name = shorten(tidy(&normalised));
    if reserved_on_windows(&name) {
        name = shorten(format!("{REPLACEMENT}{name}"));
    }
    if name.is_empty() { FALLBACK_NAME.to_string() } else { name }
}

/// Characters dropped from names: controls, and those that show nothing themselves but change
/// how the text around them looks.
fn hidden(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}'
            | '\u{200B}'..='\u{200D}' | '\u{2060}'..='\u{2064}' | '\u{206A}'..='\u{206F}' | '\u{00AD}' | '\u{180E}'
            | '\u{FEFF}' | '\u{2028}' | '\u{2029}')
}

/// Characters Windows does not allow in a name (and the path separators, should normalising
/// ever produce one).
fn forbidden_on_windows(c: char) -> bool {
    matches!(c, '<' | '>' | ':' | '"' | '|' | '?' | '*' | '/' | '\\')
}

/// Without leading white space, and without the trailing dots and white space Windows drops.
fn tidy(name: &str) -> String {
    name.trim_start().trim_end_matches(|c: char| c == '.' || c.is_whitespace()).to_string()
}

/// Windows' reserved device names: the part before the first dot, less trailing spaces, in any
/// case.
fn reserved_on_windows(name: &str) -> bool {
    const DEVICES: &[&str] = &["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"];
    let stem = name.split('.').next().unwrap_or("").trim_end_matches(' ').to_ascii_uppercase();
    let numbered = ["COM", "LPT"].iter().any(|port| {
        stem.strip_prefix(port).is_some_and(|n| {
            let mut digits = n.chars();
            matches!((digits.next(), digits.next()), (Some('0'..='9' | '¹' | '²' | '³'), None))
        })
    });
    numbered || DEVICES.contains(&stem.as_str())
}

/// Cuts a name longer than [`MAX_NAME_BYTES`], keeping its extension (it decides the content
/// type), still NFC and tidy.
fn shorten(name: String) -> String {
    if name.len() <= MAX_NAME_BYTES {
        return name;
    }
    let ext = name.rfind('.').map(|i| name[i..].to_string()).filter(|e| e.len() <= 16).unwrap_or_default();
    let mut cut = MAX_NAME_BYTES - ext.len();
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut short: String = format!("{}{}", &name[..cut], ext).nfc().collect();
    // Composing can lengthen a name in rare cases: cut further until it fits.
    while short.len() > MAX_NAME_BYTES {
        short.pop();
        short = short.nfc().collect();
    }
    tidy(&short)
}

/// Most parts a received path may have: its folders and the file's name (`a/b/c.txt` has 3).
pub const MAX_PATH_PARTS: usize = 16;
/// Longest received path kept, in bytes, once sanitised and joined with `/`.
pub const MAX_PATH_BYTES: usize = 1024;

/// Why a received path is refused: anything that could lead out of the folder it is saved into,
/// or that a person could not tell from a safe path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadPath {
    /// It starts with `/`.
    #[error("the path is absolute: send it relative to the folder, as sub/dir/name")]
    Absolute,
    /// A part is `.` or `..`.
    #[error("the path has a `.` or `..` part")]
    Dots,
    /// A part is empty (`a//b`, a trailing `/`).
    #[error("the path has an empty part")]
    EmptyPart,
    /// A part has a backslash, a separator on Windows.
    #[error("the path has a backslash: separate its parts with /")]
    Backslash,
    /// A part has a NUL character.
    #[error("the path has a NUL character")]
    Nul,
    /// A part holds a separator, a dot part or NUL once percent-decoded (`%2F`, `%2e%2e`, `%5C`,
    /// or any of them encoded twice).
    #[error("the path has an encoded separator or dot part")]
    Encoded,
    /// A part is not UTF-8 once percent-decoded.
    #[error("the path is not UTF-8 text")]
    NotUtf8,
    /// More than [`MAX_PATH_PARTS`] parts.
    #[error("the path is too deep: at most {MAX_PATH_PARTS} parts (folders and the name)")]
    TooDeep,
    /// Longer than [`MAX_PATH_BYTES`] once sanitised.
    #[error("the path is too long: at most {MAX_PATH_BYTES} bytes")]
    TooLong,
}

/// Where a received file was in the folder it was sent from: its folders and its name, each
/// part sanitised like a name (see [`sanitize`]). A file sent alone has no folders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedPath {
    folders: Vec<String>,
    name: String,
}

impl ReceivedPath {
    /// A path as text, its parts separated by `/` (a multipart file name, once the transport's
    /// own escapes are decoded). Refused (nothing of it is kept) when it is absolute, has an
    /// empty, `.` or `..` part, a backslash or NUL, a part that percent-decodes to any of those
    /// (so no later decoding can turn it into an escape), more than [`MAX_PATH_PARTS`] parts, or
    /// more than [`MAX_PATH_BYTES`] once sanitised. An empty path is a file with no name: it
    /// gets [`FALLBACK_NAME`], as an empty name does.
    pub fn parse(raw: &str) -> Result<ReceivedPath, BadPath> {
        ReceivedPath::from_parts(raw, raw.split('/').map(|p| Ok(Cow::Borrowed(p))))
    }

    /// A path from a URL, its parts percent-encoded (the rest of `PUT /u/{slot}/sub/dir/name`):
    /// split on `/` first, then each part decoded once and checked as [`ReceivedPath::parse`]
    /// does, so an encoded `/` (`%2F`) can never become a separator.
    pub fn from_url(raw: &str) -> Result<ReceivedPath, BadPath> {
        let parts = raw.split('/').map(|p| percent_decode_str(p).decode_utf8().map_err(|_| BadPath::NotUtf8));
        ReceivedPath::from_parts(raw, parts)
    }

    fn from_parts<'a>(
        raw: &str,
        parts: impl Iterator<Item = Result<Cow<'a, str>, BadPath>>,
    ) -> Result<ReceivedPath, BadPath> {
        if raw.starts_with('/') {
            return Err(BadPath::Absolute);
        }
        // Counted before any part is decoded or sanitised: the work stays bounded.
        let count = raw.split('/').count();
        if count > MAX_PATH_PARTS {
            return Err(BadPath::TooDeep);
        }
        let mut safe = Vec::with_capacity(count);
        for part in parts {
            let part = part?;
            check_part(&part, count)?;
            safe.push(sanitize(&part));
        }
        if safe.iter().map(|p| p.len() + 1).sum::<usize>() - 1 > MAX_PATH_BYTES {
            return Err(BadPath::TooLong);
        }
        let name = safe.pop().unwrap_or_else(|| FALLBACK_NAME.to_string());
        Ok(ReceivedPath { folders: safe, name })
    }

    /// The file's name, sanitised.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The path kept with the file, `sub/dir/name` (the name included), or `None` for a file
    /// sent without folders.
    pub fn path(&self) -> Option<String> {
        (!self.folders.is_empty()).then(|| format!("{}/{}", self.folders.join("/"), self.name))
    }
}

/// Refuses a part of a path (see [`ReceivedPath::parse`]); a lone part may be empty.
fn check_part(part: &str, parts: usize) -> Result<(), BadPath> {
    fn escapes(part: &str) -> Option<BadPath> {
        if part.contains('\0') {
            Some(BadPath::Nul)
        } else if part.contains('\\') {
            Some(BadPath::Backslash)
        } else if part == "." || part == ".." {
            Some(BadPath::Dots)
        } else {
            None
        }
    }
    if part.contains('/') {
        return Err(BadPath::Encoded);
    }
    if let Some(bad) = escapes(part) {
        return Err(bad);
    }
    if part.is_empty() && parts > 1 {
        return Err(BadPath::EmptyPart);
    }
    // Decoded once more, would it be an escape? Then a later decoding could make it one.
    if part.contains('%') {
        let decoded = percent_decode_str(part).decode_utf8_lossy();
        if decoded != part && check_part(&decoded, parts).is_err() {
            return Err(BadPath::Encoded);
        }
    }
    Ok(())
}

/// RFC 8187 `attr-char`: everything else is percent-encoded in `filename*`.
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `Content-Disposition: attachment` for `name` (RFC 6266): a quoted ASCII `filename` fallback
/// (non-ASCII and control characters become `_`, `"` and `\` are escaped) and the exact name in
/// `filename*=UTF-8''…`. The result is always a valid header value: no CR, LF or other control
/// character can get through.
///
/// Written by hand because no maintained crate builds both parameters with this escaping.
pub fn content_disposition(name: &str) -> String {
    disposition("attachment", name)
}

/// `Content-Disposition: inline` for `name`, escaped as [`content_disposition`]: a preview shown
/// in the page, saved under its name if the recipient saves it.
pub fn inline_disposition(name: &str) -> String {
    disposition("inline", name)
}

fn disposition(kind: &str, name: &str) -> String {
    let mut fallback = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '"' | '\\' => {
                fallback.push('\\');
                fallback.push(c);
            }
            ' '..='~' => fallback.push(c),
            _ => fallback.push('_'),
        }
    }
    format!("{kind}; filename=\"{fallback}\"; filename*=UTF-8''{}", utf8_percent_encode(name, ATTR_CHAR))
}

/// Percent-encodes a name for use as the last segment of a URL path.
pub fn url_segment(name: &str) -> String {
    utf8_percent_encode(name, ATTR_CHAR).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sanitize_examples() {
        assert_eq!(sanitize("report.pdf"), "report.pdf");
        assert_eq!(sanitize("/etc/passwd"), "passwd");
        assert_eq!(sanitize("..\\..\\windows\\win.ini"), "win.ini");
        assert_eq!(sanitize("../.."), FALLBACK_NAME);
        assert_eq!(sanitize(".."), FALLBACK_NAME);
        assert_eq!(sanitize(""), FALLBACK_NAME);
        assert_eq!(sanitize("a\r\nb\0c.txt"), "abc.txt");
        assert_eq!(sanitize("  Ünïcødé 文件.txt "), "Ünïcødé 文件.txt");
        let long = format!("{}.tar.gz", "é".repeat(300));
        let cut = sanitize(&long);
        assert!(cut.len() <= 255 && cut.ends_with(".gz"), "{cut}");
    }

    #[test]
    fn invisible_and_reordering_characters_are_dropped() {
        // Shown as "aexe.pdf" by anything that honours the right-to-left override.
        assert_eq!(sanitize("a\u{202E}fdp.exe"), "afdp.exe");
        for c in [
            '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}',
            '\u{200E}', '\u{200F}', '\u{061C}', '\u{200B}', '\u{200C}', '\u{200D}', '\u{2060}', '\u{FEFF}',
        ] {
            assert_eq!(sanitize(&format!("{c}in{c}voice{c}.pdf{c}")), "invoice.pdf", "U+{:04X}", c as u32);
        }
    }

    #[test]
    fn names_are_nfc() {
        // "é" as e + combining acute, and the Ångström sign, become their composed forms.
        assert_eq!(sanitize("cafe\u{301}.txt"), "caf\u{e9}.txt");
        assert_eq!(sanitize("\u{212B}.txt"), "\u{c5}.txt");
        // A character dropped between a letter and its accent does not keep them apart.
        assert_eq!(sanitize("e\u{200B}\u{301}"), "\u{e9}");
    }

    #[test]
    fn names_can_be_saved_on_windows() {
        assert_eq!(sanitize("a<b>c:d\"e|f?g*h.txt"), "a_b_c_d_e_f_g_h.txt");
        assert_eq!(sanitize("report.pdf. . ."), "report.pdf");
        assert_eq!(sanitize("notes .txt  "), "notes .txt");
        for (raw, safe) in [
            ("CON", "_CON"),
            ("con", "_con"),
            ("NUL.txt", "_NUL.txt"),
            ("aux", "_aux"),
            ("Aux.tar.gz", "_Aux.tar.gz"),
            ("PRN.", "_PRN"),
            ("com1.log", "_com1.log"),
            ("LPT9", "_LPT9"),
            ("COM\u{b9}.txt", "_COM\u{b9}.txt"),
            ("nul .txt", "_nul .txt"),
        ] {
            assert_eq!(sanitize(raw), safe, "{raw}");
        }
        for fine in ["CONSOLE.txt", "com10", "LPT", "nul_.txt", "x.con", "prn2.txt", "AUX1"] {
            assert_eq!(sanitize(fine), fine);
        }
    }

    #[test]
    fn disposition_examples() {
        assert_eq!(content_disposition("a.txt"), "attachment; filename=\"a.txt\"; filename*=UTF-8''a.txt");
        assert_eq!(
            content_disposition("say \"hi\".txt"),
            "attachment; filename=\"say \\\"hi\\\".txt\"; filename*=UTF-8''say%20%22hi%22.txt"
        );
        assert_eq!(
            content_disposition("résumé.pdf"),
            "attachment; filename=\"r_sum_.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf"
        );
    }

    #[test]
    fn received_paths_keep_their_folders_sanitised() {
        let path = ReceivedPath::parse("Photos/2024 \u{202E}trip/IMG:1.jpg").unwrap();
        assert_eq!(path.name(), "IMG_1.jpg");
        assert_eq!(path.path().as_deref(), Some("Photos/2024 trip/IMG_1.jpg"));
        let alone = ReceivedPath::parse("report.pdf").unwrap();
        assert_eq!((alone.name(), alone.path()), ("report.pdf", None));
        assert_eq!(ReceivedPath::parse("").unwrap().name(), FALLBACK_NAME);
        assert_eq!(ReceivedPath::parse("a/..../b").unwrap().path().as_deref(), Some("a/file/b"));
        assert_eq!(ReceivedPath::parse("a/100%.txt").unwrap().path().as_deref(), Some("a/100%.txt"));
        let url = ReceivedPath::from_url("sub%20dir/caf%C3%A9/a%25b.txt").unwrap();
        assert_eq!(url.path().as_deref(), Some("sub dir/café/a%b.txt"));
    }

    #[test]
    fn received_paths_that_could_escape_are_refused() {
        for (raw, why) in [
            ("/etc/passwd", BadPath::Absolute),
            ("../x", BadPath::Dots),
            ("a/../../x", BadPath::Dots),
            ("a/./b", BadPath::Dots),
            ("..", BadPath::Dots),
            ("a//b", BadPath::EmptyPart),
            ("a/b/", BadPath::EmptyPart),
            ("a\\..\\b", BadPath::Backslash),
            ("a\0b/c", BadPath::Nul),
            ("%2e%2e/x", BadPath::Encoded),
            ("a/%252e%252e/x", BadPath::Encoded),
            ("a%2Fb/c", BadPath::Encoded),
        ] {
            assert_eq!(ReceivedPath::parse(raw), Err(why), "{raw}");
        }
        for (raw, why) in [
            ("%2e%2e/x", BadPath::Dots),
            ("a/%2F/b", BadPath::Encoded),
            ("..%2F..%2Fetc%2Fpasswd", BadPath::Encoded),
            ("a%5Cb", BadPath::Backslash),
            ("a%00", BadPath::Nul),
            ("a/%252e%252e/x", BadPath::Encoded),
            ("%FF/x", BadPath::NotUtf8),
        ] {
            assert_eq!(ReceivedPath::from_url(raw), Err(why), "{raw}");
        }
    }

    #[test]
    fn received_paths_are_capped_in_depth_and_length() {
        let deepest = vec!["d"; MAX_PATH_PARTS].join("/");
        assert!(ReceivedPath::parse(&deepest).is_ok());
        assert_eq!(ReceivedPath::parse(&format!("d/{deepest}")), Err(BadPath::TooDeep));
        // Folders of 255, 255, 255 and 254 bytes and a one-byte name, with their separators.
        let longest = format!("{}/{}/x", vec!["l".repeat(255); 3].join("/"), "l".repeat(254));
        assert_eq!(longest.len(), MAX_PATH_BYTES);
        assert!(ReceivedPath::parse(&longest).is_ok());
        assert_eq!(ReceivedPath::parse(&format!("{longest}x")), Err(BadPath::TooLong));
    }

    proptest! {
        #[test]
        fn disposition_is_always_a_valid_header(name in any::<String>()) {
            let value = content_disposition(&name);
            prop_assert!(http::HeaderValue::from_str(&value).is_ok());
            prop_assert!(value.is_ascii());
            prop_assert!(!value.contains('\r') && !value.contains('\n'));
        }

        #[test]
        fn disposition_round_trips_the_exact_name(name in any::<String>()) {
            let value = content_disposition(&name);
            let encoded = value.rsplit("filename*=UTF-8''").next().unwrap();
            let decoded = percent_encoding::percent_decode_str(encoded).decode_utf8().unwrap();
            prop_assert_eq!(decoded, name);
        }

        #[test]
        fn disposition_fallback_is_a_closed_quoted_string(name in any::<String>()) {
            let value = content_disposition(&name);
            let quoted = value.strip_prefix("attachment; filename=\"").unwrap();
            let end = quoted.find("\"; filename*=").unwrap();
            let inner = &quoted[..end];
            // Every quote or backslash inside is escaped: the string cannot close early.
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    let next = chars.next();
                    prop_assert!(matches!(next, Some('"') | Some('\\')));
                } else {
                    prop_assert!(c != '"');
                }
            }
        }

        #[test]
        fn sanitized_names_are_one_safe_component(raw in any::<String>()) {
            check_sanitized(&raw)?;
        }

        #[test]
        fn tricky_names_are_safe_too(raw in tricky_name()) {
            check_sanitized(&raw)?;
        }

        #[test]
        fn kept_paths_stay_inside_their_folder(parts in proptest::collection::vec(tricky_name(), 1..6)) {
            let raw = parts.join("/");
            for path in [ReceivedPath::parse(&raw), ReceivedPath::from_url(&raw)].into_iter().flatten() {
                let kept = path.path().unwrap_or_else(|| path.name().to_string());
                prop_assert!(kept.len() <= MAX_PATH_BYTES && !kept.starts_with('/'), "{:?}", kept);
                for part in kept.split('/') {
                    check_sanitized(part)?;
                    prop_assert_eq!(sanitize(part), part);
                }
            }
        }
    }

    /// Names built from the pieces that trip sanitising up: combining marks and characters that
    /// compose or decompose, reserved names, dots, spaces, forbidden and hidden characters,
    /// separators, and long runs that force a cut.
    fn tricky_name() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("e"),
            Just("\u{301}"),
            Just("\u{327}"),
            Just("\u{338}"),
            Just("<"),
            Just(">"),
            Just(":"),
            Just("\""),
            Just("|"),
            Just("?"),
            Just("*"),
            Just("/"),
            Just("\\"),
            Just("."),
            Just(" "),
            Just("\u{3000}"),
            Just("CON"),
            Just("nul"),
            Just("Com1"),
            Just("LPT\u{b2}"),
            Just("\u{202E}"),
            Just("\u{200D}"),
            Just("\u{FEFF}"),
            Just("\u{212B}"),
            Just("\u{958}"),
            Just("\u{1100}"),
            Just("\u{1161}"),
            Just("\u{11A8}"),
            Just("\u{AC00}"),
            Just("\u{0}"),
            Just("\u{85}"),
            Just(".txt"),
            Just("é"),
            Just("文"),
        ];
        let run = (piece, 1usize..120).prop_map(|(p, n)| p.repeat(n));
        proptest::collection::vec(
            prop_oneof![3 => run.clone().prop_map(|r| r.chars().take(1).collect()), 1 => run],
            0..12,
        )
        .prop_map(|pieces| pieces.concat())
    }

    fn check_sanitized(raw: &str) -> Result<(), TestCaseError> {
        use unicode_normalization::is_nfc;
        let name = sanitize(raw);
        prop_assert!(!name.is_empty() && name.len() <= 255, "{:?}", name);
        prop_assert!(!name.contains(['/', '\\']), "{:?}", name);
        prop_assert!(!name.chars().any(|c| c.is_control() || hidden(c)), "{:?}", name);
        prop_assert!(!name.contains(['<', '>', ':', '"', '|', '?', '*']), "{:?}", name);
        prop_assert!(is_nfc(&name), "{:?}", name);
        prop_assert!(!reserved_on_windows(&name), "{:?}", name);
        prop_assert!(!name.ends_with(['.', ' ']) && name.trim() == name, "{:?}", name);
        prop_assert!(name != "." && name != "..");
        prop_assert_eq!(sanitize(&name), name.clone());
        Ok(())
    }
}
