//! Range requests, one case per test (in the style of dufs' tests/range.rs), on a 1000-byte file
//! served through a link.

use reqwest::StatusCode;
use reqwest::header::{ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, ETAG, IF_RANGE, LAST_MODIFIED, RANGE};

use crate::support::{Server, bytes, client};

async fn setup() -> (Server, String, Vec<u8>) {
    let server = Server::start().await;
    let data = bytes(1000);
    let file = server.add("data.bin", &data);
    let link = server.link(&file.file.id);
    (server, link.url, data)
}

async fn get_range(url: &str, range: &str) -> reqwest::Response {
    client().get(url).header(RANGE, range).send().await.unwrap()
}

#[tokio::test]
async fn range_first_bytes() {
    let (_s, url, data) = setup().await;
    let res = get_range(&url, "bytes=0-9").await;
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(res.headers()[CONTENT_RANGE], "bytes 0-9/1000");
    assert_eq!(res.headers()[CONTENT_LENGTH], "10");
    assert_eq!(res.bytes().await.unwrap(), &data[..10]);
}

#[tokio::test]
async fn range_middle() {
    let (_s, url, data) = setup().await;
    let res = get_range(&url, "bytes=100-199").await;
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(res.headers()[CONTENT_RANGE], "bytes 100-199/1000");
    assert_eq!(res.bytes().await.unwrap(), &data[100..200]);
}

#[tokio::test]
async fn range_open_ended() {
    let (_s, url, data) = setup().await;
    let res = get_range(&url, "bytes=990-").await;
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(res.headers()[CONTENT_RANGE], "bytes 990-999/1000");
    assert_eq!(res.bytes().await.unwrap(), &data[990..]);
}

#[tokio::test]
async fn range_suffix() {
    let (_s, url, data) = setup().await;
    let res = get_range(&url, "bytes=-5").await;
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(res.headers()[CONTENT_RANGE], "bytes 995-999/1000");
    assert_eq!(res.bytes().await.unwrap(), &data[995..]);
}

#[tokio::test]
async fn range_end_past_size_is_clamped() {
    let (_s, url, data) = setup().await;
    let res = get_range(&url, "bytes=900-5000").await;
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(res.headers()[CONTENT_RANGE], "bytes 900-999/1000");
    assert_eq!(res.bytes().await.unwrap(), &data[900..]);
}

#[tokio::test]
async fn range_start_past_size_is_416() {
    let (_s, url, _) = setup().await;
    let res = get_range(&url, "bytes=1000-").await;
    assert_eq!(res.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(res.headers()[CONTENT_RANGE], "bytes */1000");
}

/// RFC 9110 14.1.1: a range whose last position is before its first is invalid, and an invalid
/// Range is ignored: the whole file, 200.
#[tokio::test]
async fn range_inverted_is_ignored() {
    let (_s, url, data) = setup().await;
    let res = get_range(&url, "bytes=500-100").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get(CONTENT_RANGE).is_none());
    assert_eq!(res.bytes().await.unwrap(), &data[..]);
}

#[tokio::test]
async fn range_malformed_is_ignored() {
    let (_s, url, data) = setup().await;
    for range in ["bytes=abc", "bytes=", "bytes=1-2-3", "bytes=-", "bytes=+5-9"] {
        let res = get_range(&url, range).await;
        assert_eq!(res.status(), StatusCode::OK, "{range}");
        assert_eq!(res.bytes().await.unwrap(), &data[..], "{range}");
    }
}

/// Well-formed numbers too large for any file: satisfiable syntax, nothing satisfiable, 416.
#[tokio::test]
async fn range_absurd_numbers_are_416() {
    let (_s, url, _) = setup().await;
    let res = get_range(&url, "bytes=99999999999999999999999-").await;
    assert_eq!(res.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(res.headers()[CONTENT_RANGE], "bytes */1000");
}

/// RFC 9110 14.2: a Range in a unit the server does not know is ignored.
#[tokio::test]
async fn range_other_unit_is_ignored() {
    let (_s, url, data) = setup().await;
    let res = get_range(&url, "items=0-1").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.bytes().await.unwrap(), &data[..]);
}

/// RFC 9110 14.1.2: a suffix longer than the file selects the whole file; sent as the whole
/// file (200), as is any single range that covers all of it.
#[tokio::test]
async fn suffix_longer_than_the_file_is_the_whole_file() {
    let (_s, url, data) = setup().await;
    for range in ["bytes=-6000000", "bytes=-1000", "bytes=0-", "bytes=0-999"] {
        let res = get_range(&url, range).await;
        assert_eq!(res.status(), StatusCode::OK, "{range}");
        assert!(res.headers().get(CONTENT_RANGE).is_none(), "{range}");
        assert_eq!(res.bytes().await.unwrap(), &data[..], "{range}");
    }
}

/// The same answers from the streaming path (files over 64 KiB) as from the small-file path.
#[tokio::test]
async fn large_files_answer_ranges_alike() {
    let server = Server::start().await;
    let data = bytes(300_000);
    let file = server.add("big.bin", &data);
    let url = server.link(&file.file.id).url;
    for (range, status, body) in [
        ("bytes=-6000000", StatusCode::OK, &data[..]),
        ("items=0-1", StatusCode::OK, &data[..]),
        ("bytes=abc", StatusCode::OK, &data[..]),
        ("bytes=9-5", StatusCode::OK, &data[..]),
        ("bytes=299990-", StatusCode::PARTIAL_CONTENT, &data[299_990..]),
        ("bytes=-10", StatusCode::PARTIAL_CONTENT, &data[299_990..]),
    ] {
        let res = get_range(&url, range).await;
        assert_eq!(res.status(), status, "{range}");
        assert_eq!(res.bytes().await.unwrap(), body, "{range}");
    }
    let res = get_range(&url, "bytes=300000-").await;
    assert_eq!(res.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(res.headers()[CONTENT_RANGE], "bytes */300000");
}

#[tokio::test]
async fn multiple_ranges_are_served_whole() {
    let (_s, url, data) = setup().await;
    let res = get_range(&url, "bytes=0-1,5-6").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.bytes().await.unwrap(), &data[..]);
}

#[tokio::test]
async fn accept_ranges_is_advertised() {
    let (_s, url, _) = setup().await;
    let res = client().head(&url).send().await.unwrap();
    assert_eq!(res.headers()[ACCEPT_RANGES], "bytes");
    assert_eq!(res.headers()[CONTENT_LENGTH], "1000");
}

#[tokio::test]
async fn head_with_range_has_no_body() {
    let (_s, url, _) = setup().await;
    let res = client().head(&url).header(RANGE, "bytes=0-9").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(res.headers()[CONTENT_RANGE], "bytes 0-9/1000");
    assert!(res.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn if_range_with_current_etag_honours_range() {
    let (_s, url, data) = setup().await;
    let etag = client().head(&url).send().await.unwrap().headers()[ETAG].clone();
    let res = client().get(&url).header(RANGE, "bytes=10-19").header(IF_RANGE, etag).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(res.bytes().await.unwrap(), &data[10..20]);
}

#[tokio::test]
async fn if_range_with_current_date_honours_range() {
    let (_s, url, data) = setup().await;
    let date = client().head(&url).send().await.unwrap().headers()[LAST_MODIFIED].clone();
    let res = client().get(&url).header(RANGE, "bytes=10-19").header(IF_RANGE, date).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(res.bytes().await.unwrap(), &data[10..20]);
}

#[tokio::test]
async fn if_range_with_stale_etag_sends_whole_file() {
    let (_s, url, data) = setup().await;
    let res = client().get(&url).header(RANGE, "bytes=10-19").header(IF_RANGE, "\"stale\"").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.bytes().await.unwrap(), &data[..]);
}

#[tokio::test]
async fn if_range_with_weak_etag_sends_whole_file() {
    let (_s, url, data) = setup().await;
    let etag = client().head(&url).send().await.unwrap().headers()[ETAG].to_str().unwrap().to_string();
    let res =
        client().get(&url).header(RANGE, "bytes=10-19").header(IF_RANGE, format!("W/{etag}")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.bytes().await.unwrap(), &data[..]);
}

#[tokio::test]
async fn range_on_empty_file_is_416() {
    let server = Server::start().await;
    let file = server.add("empty.txt", b"");
    let link = server.link(&file.file.id);
    let res = get_range(&link.url, "bytes=0-").await;
    assert_eq!(res.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(res.headers()[CONTENT_RANGE], "bytes */0");
}
