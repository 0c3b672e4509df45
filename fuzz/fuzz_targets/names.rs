//! Name sanitising on arbitrary input: one safe path component, NFC, savable on Windows,
//! idempotent; and received paths (as text and from a URL): every part kept is such a name,
//! within the caps.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sharelock::names::{MAX_PATH_BYTES, MAX_PATH_PARTS, ReceivedPath, sanitize};
use unicode_normalization::is_nfc;

fuzz_target!(|raw: &str| {
    let name = sanitize(raw);
    assert!(!name.is_empty() && name.len() <= 255);
    assert!(!name.contains('/') && !name.contains('\\'));
    assert!(!name.chars().any(char::is_control));
    assert!(name != "." && name != "..");
    assert!(!name.contains(['<', '>', ':', '"', '|', '?', '*', '\u{202E}', '\u{200B}', '\u{FEFF}']));
    assert!(!name.ends_with(['.', ' ']));
    assert!(is_nfc(&name));
    // Windows drops trailing ASCII spaces (only) before comparing.
    let stem = name.split('.').next().unwrap().trim_end_matches(' ').to_ascii_uppercase();
    assert!(!["CON", "PRN", "AUX", "NUL", "COM1", "LPT1"].contains(&stem.as_str()), "{name:?}");
    assert_eq!(sanitize(&name), name);
    for path in [ReceivedPath::parse(raw), ReceivedPath::from_url(raw)].into_iter().flatten() {
        let kept = path.path().unwrap_or_else(|| path.name().to_string());
        assert!(kept.len() <= MAX_PATH_BYTES && kept.split('/').count() <= MAX_PATH_PARTS, "{kept:?}");
        assert!(kept.split('/').all(|part| sanitize(part) == part && part != ".." && part != "."), "{kept:?}");
    }
});
