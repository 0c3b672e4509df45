//! Download headers and conditional requests.

use reqwest::StatusCode;
use reqwest::header::{
    CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_ENCODING, CONTENT_TYPE, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH,
    IF_UNMODIFIED_SINCE, LAST_MODIFIED, RANGE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
};

use crate::support::{Server, bytes, client, sha256_hex};

#[tokio::test]
async fn full_download_is_byte_exact_with_all_headers() {
    let server = Server::start().await;
    let data = bytes(3 * 1024 * 1024 + 17);
    let file = server.add("archive.bin", &data);
    let link = server.link(&file.file.id);
    let res = client().get(&link.url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let h = res.headers().clone();
    assert_eq!(h[CONTENT_TYPE], "application/octet-stream");
    assert_eq!(h[X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(h[CACHE_CONTROL], "private, no-store");
    assert_eq!(h[REFERRER_POLICY], "no-referrer");
    assert_eq!(h[CONTENT_DISPOSITION], "attachment; filename=\"archive.bin\"; filename*=UTF-8''archive.bin");
    assert!(h[ETAG].to_str().unwrap().starts_with('"'), "strong etag");
    assert!(h.contains_key(LAST_MODIFIED));
    let body = res.bytes().await.unwrap();
    assert_eq!(sha256_hex(&body), file.file.sha256);
    assert_eq!(sha256_hex(&body), sha256_hex(&data));
}

#[tokio::test]
async fn content_type_comes_from_the_extension() {
    let server = Server::start().await;
    for (name, expected) in [
        ("a.pdf", "application/pdf"),
        ("b.png", "image/png"),
        ("c.html", "text/html"),
        ("d", "application/octet-stream"),
    ] {
        let file = server.add(name, b"x");
        let res = client().get(&server.link(&file.file.id).url).send().await.unwrap();
        assert_eq!(res.headers()[CONTENT_TYPE], expected, "{name}");
        assert_eq!(res.headers()[X_CONTENT_TYPE_OPTIONS], "nosniff");
    }
}

#[tokio::test]
async fn gzip_file_is_sent_as_stored_bytes() {
    let server = Server::start().await;
    let data = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03not really compressed".to_vec();
    let file = server.add("logs.tar.gz", &data);
    let res = client().get(&server.link(&file.file.id).url).header("accept-encoding", "gzip").send().await.unwrap();
    assert!(res.headers().get(CONTENT_ENCODING).is_none());
    assert_eq!(res.headers()[CONTENT_TYPE], "application/gzip");
    assert_eq!(res.bytes().await.unwrap(), &data[..]);
}

#[tokio::test]
async fn content_disposition_for_hostile_and_unicode_names() {
    let server = Server::start().await;
    // Quotes never reach the header (names lose them when stored); `;` and `=` stay inside the
    // quoted string, and the exact name travels percent-encoded.
    let file = server.add("naïve \"quoted\"; name=evil.txt", b"x");
    let res = client().get(&server.link(&file.file.id).url).send().await.unwrap();
    assert_eq!(
        res.headers()[CONTENT_DISPOSITION],
        "attachment; filename=\"na_ve _quoted_; name=evil.txt\"; filename*=UTF-8''na%C3%AFve%20_quoted_%3B%20name%3Devil.txt"
    );
}

#[tokio::test]
async fn if_none_match_gives_304() {
    let server = Server::start().await;
    let file = server.add("a.txt", b"hello");
    let url = server.link(&file.file.id).url;
    let etag = client().head(&url).send().await.unwrap().headers()[ETAG].clone();
    let res = client().get(&url).header(IF_NONE_MATCH, etag.clone()).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(res.headers()[ETAG], etag);
    let listed = format!("\"other\", {}", etag.to_str().unwrap());
    assert_eq!(
        client().get(&url).header(IF_NONE_MATCH, listed).send().await.unwrap().status(),
        StatusCode::NOT_MODIFIED
    );
    assert_eq!(client().get(&url).header(IF_NONE_MATCH, "*").send().await.unwrap().status(), StatusCode::NOT_MODIFIED);
    let res = client().get(&url).header(IF_NONE_MATCH, "\"other\"").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.bytes().await.unwrap(), "hello");
}

#[tokio::test]
async fn if_modified_since_gives_304() {
    let server = Server::start().await;
    let file = server.add("a.txt", b"hello");
    let url = server.link(&file.file.id).url;
    let date = client().head(&url).send().await.unwrap().headers()[LAST_MODIFIED].clone();
    let res = client().get(&url).header(IF_MODIFIED_SINCE, date).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    let res = client().get(&url).header(IF_MODIFIED_SINCE, "Mon, 01 Jan 2001 00:00:00 GMT").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

/// If-Modified-Since and If-Unmodified-Since, answered alike from memory (a small file) and from
/// the stream (a big one), a Range included: a file unchanged since the date is 304 for the first
/// and sent for the second; one changed since it is sent for the first and 412 for the second.
#[tokio::test]
async fn dates_decide_alike_for_small_and_big_files() {
    let server = Server::start().await;
    for size in [5, 300_000] {
        let data = bytes(size);
        let url = server.link(&server.add("a.bin", &data).file.id).url;
        let stored = client().head(&url).send().await.unwrap().headers()[LAST_MODIFIED].clone();
        let before = "Mon, 01 Jan 2001 00:00:00 GMT";
        let ask = |name, date| client().get(&url).header(name, date).header(RANGE, "bytes=1-3").send();
        let res = ask(IF_MODIFIED_SINCE, stored.clone()).await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_MODIFIED, "{size}");
        assert_eq!(res.headers()[LAST_MODIFIED], stored, "{size}");
        assert!(res.bytes().await.unwrap().is_empty());
        let res = ask(IF_MODIFIED_SINCE, before.parse().unwrap()).await.unwrap();
        assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT, "{size}");
        assert_eq!(res.bytes().await.unwrap(), &data[1..4], "{size}");
        let res = ask(IF_UNMODIFIED_SINCE, stored.clone()).await.unwrap();
        assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT, "{size}");
        assert_eq!(res.bytes().await.unwrap(), &data[1..4], "{size}");
        let res = ask(IF_UNMODIFIED_SINCE, before.parse().unwrap()).await.unwrap();
        assert_eq!(res.status(), StatusCode::PRECONDITION_FAILED, "{size}");
        assert!(res.bytes().await.unwrap().is_empty());
        // A date that does not parse is ignored.
        let res = ask(IF_UNMODIFIED_SINCE, "yesterday".parse().unwrap()).await.unwrap();
        assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT, "{size}");
    }
}

#[tokio::test]
async fn if_none_match_wins_over_if_modified_since() {
    let server = Server::start().await;
    let file = server.add("a.txt", b"hello");
    let url = server.link(&file.file.id).url;
    let date = client().head(&url).send().await.unwrap().headers()[LAST_MODIFIED].clone();
    // The date says "not modified", the tag says "changed": the tag decides.
    let res =
        client().get(&url).header(IF_MODIFIED_SINCE, date).header(IF_NONE_MATCH, "\"other\"").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn stored_file_deleted_behind_our_back_is_410_not_500() {
    let server = Server::start().await;
    let file = server.add("a.txt", b"hello");
    let url = server.link(&file.file.id).url;
    std::fs::remove_file(server.vault.store().path_of(&file.file.id)).unwrap();
    let res = client().get(&url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::GONE);
}

#[tokio::test]
async fn unknown_paths_and_methods() {
    let server = Server::start().await;
    let res = client().get(format!("{}/nope", server.base)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(res.text().await.unwrap(), "not found\n");
    let file = server.add("a.txt", b"hello");
    let url = server.link(&file.file.id).url;
    assert_eq!(client().delete(&url).send().await.unwrap().status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(client().post(&url).send().await.unwrap().status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn assets_are_served() {
    let server = Server::start().await;
    let css = client().get(format!("{}/assets/style.css", server.base)).send().await.unwrap();
    assert_eq!(css.status(), StatusCode::OK);
    assert!(css.headers()[CONTENT_TYPE].to_str().unwrap().starts_with("text/css"));
    let js = client().get(format!("{}/assets/upload.js", server.base)).send().await.unwrap();
    assert!(js.headers()[CONTENT_TYPE].to_str().unwrap().starts_with("text/javascript"));
    let missing = client().get(format!("{}/assets/..%2fsharelock.db", server.base)).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}
