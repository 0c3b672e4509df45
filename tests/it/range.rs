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

#[tokio::test]
async fn range_inverted_is_416() {
    let (_s, url, _) = setup().await;
    let res = get_range(&url, "bytes=500-100").await;
    assert_eq!(res.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(res.headers()[CONTENT_RANGE], "bytes */1000");
}

#[tokio::test]
async fn range_malformed_is_416() {
    let (_s, url, _) = setup().await;
    let res = get_range(&url, "bytes=abc").await;
    assert_eq!(res.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(res.headers()[CONTENT_RANGE], "bytes */1000");
}

#[tokio::test]
async fn range_absurd_numbers_are_416() {
    let (_s, url, _) = setup().await;
    let res = get_range(&url, "bytes=99999999999999999999999-").await;
    assert_eq!(res.status(), StatusCode::RANGE_NOT_SATISFIABLE);
}

#[tokio::test]
async fn range_other_unit_is_416() {
    let (_s, url, _) = setup().await;
    let res = get_range(&url, "items=0-1").await;
    assert_eq!(res.status(), StatusCode::RANGE_NOT_SATISFIABLE);
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
