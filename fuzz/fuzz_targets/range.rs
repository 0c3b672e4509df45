//! Arbitrary Range, If-Range, If-None-Match and If-Modified-Since headers against a small and a
//! large file through the real router: never a 5xx, and every 206 is the right slice.
#![no_main]

#[path = "common.rs"]
mod common;

use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

fuzz_target!(|input: (bool, &[u8], &[u8], &[u8])| {
    let (big, range, if_range, if_none_match) = input;
    let world = common::world();
    let path = if big { &world.big_path } else { &world.small_path };
    let mut req = Request::get(path.as_str());
    for (name, value) in [(header::RANGE, range), (header::IF_RANGE, if_range), (header::IF_NONE_MATCH, if_none_match)]
    {
        if let Ok(value) = http::HeaderValue::from_bytes(value) {
            req = req.header(name, value);
        }
    }
    let req = req.body(axum::body::Body::empty()).unwrap();
    world.runtime.block_on(async {
        let res = world.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        assert!(!status.is_server_error(), "{status}");
        let content_range = res.headers().get(header::CONTENT_RANGE).map(|v| v.to_str().unwrap().to_string());
        let body = res.into_body().collect().await.unwrap().to_bytes();
        if status == StatusCode::PARTIAL_CONTENT {
            let spec = content_range.unwrap();
            let (range, size) = spec.strip_prefix("bytes ").unwrap().split_once('/').unwrap();
            let (first, last) = range.split_once('-').unwrap();
            let (first, last, size): (usize, usize, usize) =
                (first.parse().unwrap(), last.parse().unwrap(), size.parse().unwrap());
            assert!(first <= last && last < size);
            assert_eq!(body.len(), last - first + 1);
            assert!(body.iter().enumerate().all(|(i, b)| *b == ((first + i) % 251) as u8));
        }
    });
});
