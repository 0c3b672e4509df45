//! Content-Disposition for arbitrary names: always a valid header value that carries the exact
//! name in filename*.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sharelock::names::content_disposition;

fuzz_target!(|name: &str| {
    let value = content_disposition(name);
    assert!(http::HeaderValue::from_str(&value).is_ok());
    assert!(!value.contains('\r') && !value.contains('\n'));
    let encoded = value.rsplit("filename*=UTF-8''").next().unwrap();
    let decoded = percent_encoding::percent_decode_str(encoded).decode_utf8().unwrap();
    assert_eq!(decoded, name);
});
