//! Name sanitising on arbitrary input: one safe path component, idempotent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sharelock::names::sanitize;

fuzz_target!(|raw: &str| {
    let name = sanitize(raw);
    assert!(!name.is_empty() && name.len() <= 255);
    assert!(!name.contains('/') && !name.contains('\\'));
    assert!(!name.chars().any(char::is_control));
    assert!(name != "." && name != "..");
    assert_eq!(sanitize(&name), name);
});
