//! File names as people give them, and as they may safely appear in headers and on disk.
//!
//! A stored file keeps the name it arrived with (any Unicode), made safe to show and to save:
//! one path component, without control characters or characters that render as nothing or
//! reorder the text around them, NFC-normalised, and savable on Windows. That name is only ever
//! shown or sent in `Content-Disposition`; it never becomes a path.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
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
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{}", utf8_percent_encode(name, ATTR_CHAR))
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
