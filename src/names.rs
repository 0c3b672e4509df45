//! File names as people give them, and as they may safely appear in headers and on disk.
//!
//! A stored file keeps the name it arrived with (any Unicode), minus control characters. That
//! name is only ever shown or sent in `Content-Disposition`; it never becomes a path.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Longest name kept, in bytes (the usual file system limit for one component).
const MAX_NAME_BYTES: usize = 255;
/// Used when nothing of a given name survives sanitising.
pub const FALLBACK_NAME: &str = "file";

/// Reduces a name from a path or an uploader to one safe component: the part after the last `/`
/// or `\`, without control characters, trimmed, at most 255 bytes, never `.` or `..`.
pub fn sanitize(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base.chars().filter(|c| !c.is_control()).collect();
    let mut name = cleaned.trim().to_string();
    if name.len() > MAX_NAME_BYTES {
        // Keep the extension when cutting: it decides the content type.
        let ext = name.rfind('.').map(|i| name[i..].to_string()).filter(|e| e.len() <= 16).unwrap_or_default();
        let mut cut = MAX_NAME_BYTES - ext.len();
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        name = format!("{}{}", name[..cut].trim_end(), ext);
    }
    if name.is_empty() || name.chars().all(|c| c == '.') { FALLBACK_NAME.to_string() } else { name }
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
            let name = sanitize(&raw);
            prop_assert!(!name.is_empty() && name.len() <= 255);
            prop_assert!(!name.contains('/') && !name.contains('\\'));
            prop_assert!(!name.chars().any(char::is_control));
            prop_assert!(name != "." && name != "..");
            prop_assert_eq!(sanitize(&name), name.clone());
        }
    }
}
