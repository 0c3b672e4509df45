//! Arbitrary multipart bodies POSTed into a slot through the real router: never a 5xx.
#![no_main]

#[path = "common.rs"]
mod common;

use http::{Request, header};
use http_body_util::BodyExt;
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

fuzz_target!(|body: &[u8]| {
    let world = common::world();
    let req = Request::post(world.slot_path.as_str())
        .header(header::CONTENT_TYPE, "multipart/form-data; boundary=XyZ")
        .body(axum::body::Body::from(body.to_vec()))
        .unwrap();
    world.runtime.block_on(async {
        let res = world.router.clone().oneshot(req).await.unwrap();
        assert!(!res.status().is_server_error(), "{}", res.status());
        let _ = res.into_body().collect().await;
    });
});
