//! A form whose one part has arbitrary header bytes, repeated up to 256 times (so headers far
//! over the limit are reachable), streamed through the real router in chunks of any size: never
//! a 5xx, and a header block that runs past the limit is 431 wherever the chunks are cut, while
//! one within it is never refused for its size.
#![no_main]

#[path = "common.rs"]
mod common;

use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

/// The server's limit on one part's header block (`http::upload::form::MAX_PART_HEADER`).
const MAX_PART_HEADER: usize = 8 * 1024;

fuzz_target!(|input: (u8, u8, &[u8])| {
    let (cut, repeats, fragment) = input;
    let world = common::world();
    // A text field, so that no input stores a file: the whole form is still read and parsed.
    let mut region = b"\r\nContent-Disposition: form-data; name=\"note\"\r\n".to_vec();
    for _ in 0..=repeats {
        region.extend_from_slice(fragment);
    }
    region.extend_from_slice(b"\r\n\r\n");
    let mut body = b"--XyZ".to_vec();
    body.extend_from_slice(&region);
    body.extend_from_slice(b"hello\r\n--XyZ--\r\n");
    let chunk = usize::from(cut) * 37 + 1;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = body.chunks(chunk).map(|c| Ok(c.to_vec())).collect();
    let req = Request::post(world.slot_path.as_str())
        .header(header::CONTENT_TYPE, "multipart/form-data; boundary=XyZ")
        .body(axum::body::Body::from_stream(futures_util::stream::iter(chunks)))
        .unwrap();
    // Whether the header block is exactly `region`: its only blank line is the one at its end.
    let blank = region.windows(4).position(|w| w == b"\r\n\r\n");
    let plain = blank == Some(region.len() - 4);
    world.runtime.block_on(async {
        let res = world.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        assert!(!status.is_server_error(), "{status}");
        if plain && region.len() > MAX_PART_HEADER {
            assert_eq!(status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        } else if plain {
            assert_ne!(status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        }
        let _ = res.into_body().collect().await;
    });
});
