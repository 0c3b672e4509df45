//! Upload slots: PUT and multipart POST, limits while streaming, atomic claims, types, pages.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use reqwest::multipart::{Form, Part};
use serde_json::Value;
use sharelock::http::ServerConfig;
use sharelock::slots::AcceptList;
use sharelock::vault::NewSlot;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{Server, bytes, chunked, client, lifetime, sha256_hex};

fn put_url(slot_url: &str, name: &str) -> String {
    let (base, query) = slot_url.split_once('?').unwrap();
    format!("{base}/{name}?{query}")
}

/// Files in the store folder other than the lock: what is really on disk.
fn store_entries(server: &Server) -> Vec<String> {
    crate::support::names_in(server.vault.store().dir())
}

fn slot(max_size: u64, max_files: u64) -> NewSlot {
    NewSlot { max_size, max_files, ..Default::default() }
}

/// The inbox (what the app's watcher reads to tell new arrivals) holds the received files
/// alone, newest first, with their link totals.
#[tokio::test]
async fn the_inbox_holds_the_received_files_alone() {
    let server = Server::start().await;
    let owned = server.add("mine.txt", b"mine");
    let s = server.slot(slot(1 << 20, 5));
    for name in ["first.txt", "second.txt"] {
        let res = client().put(put_url(&s.url, name)).body(name).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    let inbox = server.vault.inbox().unwrap();
    let names: Vec<&str> = inbox.iter().map(|f| f.file.name.as_str()).collect();
    assert_eq!(names, ["second.txt", "first.txt"]);
    server.link(&inbox[0].file.id);
    assert_eq!(server.vault.inbox().unwrap()[0].links, 1);
    assert!(server.vault.files().unwrap().iter().any(|f| f.file.id == owned.file.id));
}

#[tokio::test]
async fn put_stores_the_body_as_a_private_received_file() {
    let server = Server::start().await;
    let s = server.slot(slot(1 << 20, 5));
    let data = bytes(100_000);
    let res = client().put(put_url(&s.url, "scan%201.pdf")).body(data.clone()).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.headers()[CACHE_CONTROL], "private, no-store");
    let json: Value = res.json().await.unwrap();
    let stored = &json["files"][0];
    assert_eq!(stored["name"], "scan 1.pdf");
    assert_eq!(stored["size"], 100_000);
    assert_eq!(stored["sha256"], sha256_hex(&data));
    let id = stored["id"].as_str().unwrap();
    let file = server.vault.file(id).unwrap();
    assert!(!file.file.public);
    assert_eq!(file.file.slot_id.as_deref(), Some(s.slot.id.as_str()));
    assert_eq!(std::fs::read(server.vault.store().path_of(id)).unwrap(), data);
    assert_eq!(server.vault.slot(&s.slot.id, 0).unwrap().received, 1);
}

#[tokio::test]
async fn put_names_are_reduced_to_one_safe_component() {
    let server = Server::start().await;
    let s = server.slot(slot(1 << 20, 10));
    // Encoded separators are refused, not reduced (see folders.rs).
    for (raw_name, expected) in
        [("a%0D%0Ab.txt", "ab.txt"), ("....", "file"), ("caf%C3%A9%20%E2%98%95.txt", "café ☕.txt")]
    {
        let res = client().put(put_url(&s.url, raw_name)).body("x").send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CREATED, "{raw_name}");
        let json: Value = res.json().await.unwrap();
        assert_eq!(json["files"][0]["name"], expected, "{raw_name}");
    }
}

#[tokio::test]
async fn multipart_post_stores_several_files_with_uploader_details() {
    let server = Server::start().await;
    let s = server.slot(slot(1 << 20, 5));
    let form = Form::new()
        .text("name", "Ann Example")
        .text("message", "Here are the scans.\nThanks!")
        .part("file", Part::bytes(b"first".to_vec()).file_name("one.txt"))
        .part("file", Part::bytes(bytes(300_000)).file_name("two.bin"));
    let res = client().post(&s.url).multipart(form).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let json: Value = res.json().await.unwrap();
    let files = json["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(files[0]["name"], "one.txt");
    assert_eq!(files[1]["size"], 300_000);
    let stored = server.vault.file(files[0]["id"].as_str().unwrap()).unwrap().file;
    assert_eq!(stored.uploader_name.as_deref(), Some("Ann Example"));
    assert_eq!(stored.uploader_message.as_deref(), Some("Here are the scans.\nThanks!"));
    assert_eq!(server.vault.slot(&s.slot.id, 0).unwrap().received, 2);
}

#[tokio::test]
async fn files_of_one_upload_share_an_upload_id_and_separate_requests_do_not() {
    let server = Server::start().await;
    let s = server.slot(slot(1 << 20, 10));
    let form = Form::new()
        .text("name", "Ann Example")
        .part("file", Part::bytes(b"first".to_vec()).file_name("one.txt"))
        .part("file", Part::bytes(b"second".to_vec()).file_name("two.txt"));
    let res = client().post(&s.url).multipart(form).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let put = |name: &str| client().put(put_url(&s.url, name)).body("x").send();
    assert_eq!(put("three.txt").await.unwrap().status(), StatusCode::CREATED);
    assert_eq!(put("four.txt").await.unwrap().status(), StatusCode::CREATED);
    server.add("mine.txt", b"kept by the owner");

    // As scripts read it: `sharelock --json ls` on the same data dir, through real SQLite.
    let listed = crate::support::sharelock_json(&server.dir.path().join("data"), &["ls"]);
    let upload_of = |name: &str| {
        let file = listed.as_array().unwrap().iter().find(|f| f["name"] == name).unwrap();
        file.get("upload_id").and_then(Value::as_str).map(str::to_owned)
    };
    let form_upload = upload_of("one.txt").expect("a received file has an upload id");
    assert_eq!(upload_of("two.txt").as_deref(), Some(form_upload.as_str()), "one form, one upload");
    let (three, four) = (upload_of("three.txt").unwrap(), upload_of("four.txt").unwrap());
    assert_ne!(three, four, "two PUTs are two uploads");
    assert_ne!(three, form_upload);
    assert_eq!(upload_of("mine.txt"), None, "a file the owner added came in no upload");
    let record = server.vault.file(listed[0]["id"].as_str().unwrap()).unwrap().file;
    assert_eq!(record.upload_id.as_deref(), listed[0].get("upload_id").and_then(Value::as_str));
}

#[tokio::test]
async fn multipart_file_names_are_decoded_as_browsers_encode_them() {
    let server = Server::start().await;
    let s = server.slot(slot(1 << 20, 5));
    // What a browser sends for a file called: say "hi"\r\n.txt (the quotes and line break are
    // decoded, then the quotes replaced and the line break dropped when the name is stored).
    let body = "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"say %22hi%22%0D%0A.txt\"\r\n\r\nhello\r\n--XyZ--\r\n";
    let res = client()
        .post(&s.url)
        .header(CONTENT_TYPE, "multipart/form-data; boundary=XyZ")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let json: Value = res.json().await.unwrap();
    assert_eq!(json["files"][0]["name"], "say _hi_.txt");
}

#[tokio::test]
async fn no_js_form_gets_an_html_page() {
    let server = Server::start().await;
    let s = server.slot(slot(1 << 20, 5));
    let form = Form::new()
        .text("name", "")
        .part("file", Part::bytes(b"x".to_vec()).file_name("<img src=x onerror=alert(1)> & 'more'.txt"));
    let res = client().post(&s.url).header(ACCEPT, "text/html,*/*").multipart(form).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    assert!(res.headers()[CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
    let html = res.text().await.unwrap();
    assert!(html.contains("1 file(s) received"));
    assert!(html.contains("_img src=x onerror=alert(1)_ &amp; &#39;more&#39;.txt"));
    assert!(!html.contains("<img src=x"));
}

#[tokio::test]
async fn empty_file_field_from_a_browser_is_ignored_and_no_file_is_400() {
    let server = Server::start().await;
    let s = server.slot(slot(1 << 20, 1));
    let form = Form::new().text("name", "Ann").part("file", Part::bytes(Vec::new()).file_name(""));
    let res = client().post(&s.url).multipart(form).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("no file"));
    // The ignored field did not use up the one-file slot.
    let res = client().put(put_url(&s.url, "a.txt")).body("x").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn not_multipart_is_400() {
    let server = Server::start().await;
    let s = server.slot(slot(1 << 20, 1));
    let res = client().post(&s.url).body("plain").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = client()
        .post(&s.url)
        .header(CONTENT_TYPE, "multipart/form-data; boundary=X")
        .body("garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(store_entries(&server).is_empty());
}

#[tokio::test]
async fn bad_signatures_are_403_for_every_method() {
    let server = Server::start().await;
    let s = server.slot(slot(1 << 20, 5));
    let base = s.url.split('?').next().unwrap();
    for url in [
        base.to_string(),
        format!("{base}?sig=AAAA"),
        format!("{base}?sig="),
        format!("{base}?sig={}&sig=x", &s.url.split("sig=").nth(1).unwrap()),
    ] {
        assert_eq!(client().get(&url).send().await.unwrap().status(), StatusCode::FORBIDDEN, "GET {url}");
        let form = Form::new().part("file", Part::bytes(b"x".to_vec()).file_name("a.txt"));
        assert_eq!(
            client().post(&url).multipart(form).send().await.unwrap().status(),
            StatusCode::FORBIDDEN,
            "POST {url}"
        );
    }
    let other = server.slot(slot(1 << 20, 5));
    let forged = format!("{base}?sig={}", other.url.split("sig=").nth(1).unwrap());
    assert_eq!(client().put(put_url(&forged, "a.txt")).body("x").send().await.unwrap().status(), StatusCode::FORBIDDEN);
    assert!(store_entries(&server).is_empty());
}

#[tokio::test]
async fn expired_closed_and_full_slots_are_410() {
    let server = Server::start().await;
    let past = sharelock::time::now() - 7200;
    let expired =
        server.vault.create_slot(NewSlot { lifetime: lifetime(60).unwrap(), ..slot(100, 1) }, past, None).unwrap();
    let res = client().put(put_url(&expired.url, "a.txt")).body("x").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::GONE);
    assert_eq!(res.text().await.unwrap(), "this upload link has expired\n");
    assert_eq!(client().get(&expired.url).send().await.unwrap().status(), StatusCode::GONE);

    let closed = server.slot(slot(100, 1));
    server.vault.close_slot(&closed.slot.id, sharelock::time::now()).unwrap();
    let res = client().put(put_url(&closed.url, "a.txt")).body("x").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::GONE);
    assert_eq!(res.text().await.unwrap(), "this upload link was closed\n");

    let full = server.slot(slot(100, 1));
    assert_eq!(client().put(put_url(&full.url, "a.txt")).body("x").send().await.unwrap().status(), StatusCode::CREATED);
    let res = client().put(put_url(&full.url, "b.txt")).body("x").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::GONE);
    assert_eq!(server.vault.slot(&full.slot.id, 0).unwrap().status.as_str(), "full");
}

#[tokio::test]
async fn declared_length_over_the_limit_is_refused_before_reading() {
    let server = Server::start().await;
    let s = server.slot(slot(1000, 5));
    let res = client().put(put_url(&s.url, "big.bin")).body(bytes(1001)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(res.text().await.unwrap().contains("at most 1000 B"));
    assert!(store_entries(&server).is_empty());
    // The claim was given back: the slot still takes five files.
    for i in 0..5 {
        assert_eq!(
            client().put(put_url(&s.url, &format!("{i}.bin"))).body(bytes(1000)).send().await.unwrap().status(),
            StatusCode::CREATED
        );
    }
}

/// Sends `head`, then `chunks` one by one without ever finishing the body, and returns the
/// response the server sent meanwhile: it must answer while the client is still sending.
async fn send_unfinished(addr: std::net::SocketAddr, head: String, chunks: Vec<Vec<u8>>) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    for chunk in chunks {
        if stream.write_all(&chunk).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut out = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut out))
        .await
        .expect("the server answers before the body ends")
        .unwrap_or(0);
    String::from_utf8_lossy(&out[..n]).into_owned()
}

#[tokio::test]
async fn chunked_upload_crossing_the_limit_is_413_at_once_and_leaves_nothing() {
    let server = Server::start().await;
    let s = server.slot(slot(100_000, 5));
    let path = put_url(&s.url, "big.bin").strip_prefix(&server.base).unwrap().to_string();
    let head = format!("PUT {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    let chunks = (0..4).map(|_| chunked(&bytes(40_000))).collect();
    let response = send_unfinished(server.addr, head, chunks).await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(store_entries(&server).is_empty(), "no temp or stored file: {:?}", store_entries(&server));
    assert!(server.vault.files().unwrap().is_empty());
    assert_eq!(server.vault.slot(&s.slot.id, 0).unwrap().slot.claimed_files, 0);
}

#[tokio::test]
async fn multipart_part_crossing_the_limit_is_413_and_the_whole_request_is_dropped() {
    let server = Server::start().await;
    let s = server.slot(slot(50_000, 5));
    let path = s.url.strip_prefix(&server.base).unwrap().to_string();
    let mut body =
        b"--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"ok.txt\"\r\n\r\nsmall\r\n".to_vec();
    body.extend_from_slice(b"--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\n\r\n");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=B\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    let mut chunks = vec![chunked(&body)];
    chunks.extend((0..6).map(|_| chunked(&bytes(20_000))));
    let response = send_unfinished(server.addr, head, chunks).await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(store_entries(&server).is_empty(), "{:?}", store_entries(&server));
    assert!(server.vault.files().unwrap().is_empty(), "the small file of the failed request is not kept");
}

#[tokio::test]
async fn lying_content_length_cannot_smuggle_more_bytes_than_declared() {
    let server = Server::start().await;
    let s = server.slot(slot(1000, 5));
    let path = put_url(&s.url, "a.bin").strip_prefix(&server.base).unwrap().to_string();
    let mut request =
        format!("PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nConnection: close\r\n\r\n").into_bytes();
    request.extend_from_slice(&bytes(5000));
    let response = crate::support::raw(server.addr, &request).await;
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    let files = server.vault.files().unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].file.size, 10, "only the declared bytes are the body");
}

#[tokio::test]
async fn total_limit_holds_across_files_and_requests() {
    let server = Server::start().await;
    let s = server.slot(NewSlot { max_total: Some(25_000), ..slot(20_000, 10) });
    assert_eq!(
        client().put(put_url(&s.url, "a")).body(bytes(15_000)).send().await.unwrap().status(),
        StatusCode::CREATED
    );
    let res = client().put(put_url(&s.url, "b")).body(bytes(15_000)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(res.text().await.unwrap().contains("space left"));
    assert_eq!(
        client().put(put_url(&s.url, "c")).body(bytes(10_000)).send().await.unwrap().status(),
        StatusCode::CREATED
    );
    let form =
        Form::new().part("file", Part::bytes(vec![1]).file_name("d")).part("file", Part::bytes(vec![2]).file_name("e"));
    assert_eq!(client().post(&s.url).multipart(form).send().await.unwrap().status(), StatusCode::PAYLOAD_TOO_LARGE);
    let info = server.vault.slot(&s.slot.id, 0).unwrap();
    assert_eq!(info.received, 2);
    assert_eq!(info.slot.received_bytes, 25_000);
    assert_eq!(store_entries(&server).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_concurrent_uploads_into_a_one_file_slot_store_exactly_one() {
    let server = Server::start().await;
    let s = server.slot(slot(1 << 20, 1));
    let mut tasks = Vec::new();
    for i in 0..8 {
        let url = put_url(&s.url, &format!("f{i}.bin"));
        tasks.push(tokio::spawn(async move { client().put(url).body(bytes(200_000)).send().await.unwrap().status() }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CREATED).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == StatusCode::CREATED || *s == StatusCode::GONE), "{statuses:?}");
    assert_eq!(server.vault.files().unwrap().len(), 1);
    assert_eq!(store_entries(&server).len(), 1);
}

#[tokio::test]
async fn accepted_types_are_checked_by_name_and_by_bytes() {
    let server = Server::start().await;
    let s = server.slot(NewSlot { accept: Some(AcceptList::parse("pdf,image/*").unwrap()), ..slot(1 << 20, 10) });
    let pdf = b"%PDF-1.7\n1 0 obj\n".to_vec();
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01".to_vec();
    let exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00".to_vec();
    assert_eq!(
        client().put(put_url(&s.url, "a.pdf")).body(pdf.clone()).send().await.unwrap().status(),
        StatusCode::CREATED
    );
    assert_eq!(
        client().put(put_url(&s.url, "b.png")).body(png.clone()).send().await.unwrap().status(),
        StatusCode::CREATED
    );
    let res = client().put(put_url(&s.url, "c.exe")).body(exe.clone()).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(res.text().await.unwrap().contains(".pdf, image/*"));
    // An executable wearing a .pdf name is caught by its bytes.
    let res = client().put(put_url(&s.url, "invoice.pdf")).body(exe).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(res.text().await.unwrap().contains("contents"));
    assert_eq!(server.vault.files().unwrap().len(), 2);
    assert_eq!(store_entries(&server).len(), 2);
}

#[tokio::test]
async fn stalled_upload_times_out_and_leaves_nothing() {
    let config = ServerConfig { body_idle_timeout: Duration::from_millis(300), ..Default::default() };
    let server = Server::start_with(config).await;
    let s = server.slot(slot(1 << 20, 1));
    let path = put_url(&s.url, "a.bin").strip_prefix(&server.base).unwrap().to_string();
    let head = format!("PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n");
    let response = send_unfinished(server.addr, head, vec![bytes(10)]).await;
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(store_entries(&server).is_empty());
    // The claim came back.
    assert_eq!(client().put(put_url(&s.url, "b")).body("x").send().await.unwrap().status(), StatusCode::CREATED);
}

#[tokio::test]
async fn slow_headers_are_cut_off_while_others_are_served() {
    let config = ServerConfig { header_timeout: Duration::from_millis(500), ..Default::default() };
    let server = Server::start_with(config).await;
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    // Others are served meanwhile.
    assert_eq!(client().get(format!("{}/", server.base)).send().await.unwrap().status(), StatusCode::OK);
    let mut out = Vec::new();
    let started = std::time::Instant::now();
    let closed = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut out)).await;
    assert!(closed.is_ok(), "the slow connection is closed by the server");
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[tokio::test]
async fn upload_page_is_a_working_form_with_a_strict_policy() {
    let server = Server::start().await;
    let s = server.slot(NewSlot {
        label: Some("<script>alert(1)</script> Tax papers".into()),
        accept: Some(AcceptList::parse("pdf").unwrap()),
        ..slot(5 << 20, 3)
    });
    let res = client().get(&s.url).header(ACCEPT, "text/html").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let csp = res.headers()[CONTENT_SECURITY_POLICY].to_str().unwrap().to_string();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'self'") && csp.contains("form-action 'self'")
    );
    let html = res.text().await.unwrap();
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; Tax papers"));
    assert!(!html.contains("<script>alert"));
    assert!(html.contains(r#"enctype="multipart/form-data""#));
    assert!(html.contains(r#"name="file" multiple"#));
    assert!(html.contains(r#"accept=".pdf""#));
    assert!(html.contains("5.0 MiB"));
    assert!(html.contains(r#"<dd id="files-left">3</dd>"#));
    assert!(!html.contains("http://") && !html.contains("https://"), "no external resources");
    assert!(!html.contains("<script>") || html.contains(r#"<script src="../assets/upload.js" defer></script>"#));
    // The form posts back to the same signed URL.
    let action = html.split(r#"action=""#).nth(1).unwrap().split('"').next().unwrap();
    let target = reqwest::Url::parse(&s.url).unwrap().join(action).unwrap();
    assert_eq!(target.as_str(), s.url);
}

#[tokio::test]
async fn trickle_uploads_are_cut_off_after_a_bounded_time() {
    let config = ServerConfig {
        body_idle_timeout: Duration::from_secs(2),
        upload_rate_grace: Duration::from_millis(300),
        upload_min_rate: 1000,
        ..Default::default()
    };
    let server = Server::start_with(config).await;
    let s = server.slot(slot(1 << 20, 1));
    let path = put_url(&s.url, "slow.bin").strip_prefix(&server.base).unwrap().to_string();
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(format!("PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let started = std::time::Instant::now();
    // One byte every 100 ms: never idle, never done.
    let trickle = async {
        loop {
            if stream.write_all(b"x").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            let mut buf = [0u8; 512];
            if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(1), stream.read(&mut buf)).await {
                return String::from_utf8_lossy(&buf[..n]).into_owned();
            }
        }
        String::new()
    };
    let response =
        tokio::time::timeout(Duration::from_secs(10), trickle).await.expect("the server cuts the trickle off");
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(started.elapsed() < Duration::from_secs(3));
    // Others are served meanwhile and after; the slot's claim came back.
    assert_eq!(client().put(put_url(&s.url, "fast.txt")).body("x").send().await.unwrap().status(), StatusCode::CREATED);
    assert!(store_entries(&server).iter().all(|n| !n.starts_with(".tmp-")));
}

/// A multipart body of `fields` unknown fields of `size` bytes each, then one small file.
fn padded_form(fields: usize, size: usize) -> Vec<u8> {
    let mut body = Vec::new();
    for i in 0..fields {
        body.extend_from_slice(format!("--B\r\nContent-Disposition: form-data; name=\"pad{i}\"\r\n\r\n").as_bytes());
        body.extend(std::iter::repeat_n(b'x', size));
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(
        b"--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nhello\r\n--B--\r\n",
    );
    body
}

#[tokio::test]
async fn every_byte_of_a_form_counts_against_the_slot() {
    let server = Server::start().await;
    // One file of at most 10 bytes: with the allowance for the form around it, about 65 KiB.
    let s = server.slot(slot(10, 1));
    let multipart = |req: reqwest::RequestBuilder| req.header(CONTENT_TYPE, "multipart/form-data; boundary=B");
    // Small fields, each within its own limit, that add up to more than the slot can take:
    // refused whether the length is declared up front or only seen while streaming.
    let body = padded_form(50, 1500);
    let res = multipart(client().post(&s.url)).body(body.clone()).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(res.text().await.unwrap().contains("a form sent to this upload link may be at most"));
    let stream =
        futures_util::stream::iter(body.chunks(1000).map(|c| Ok::<_, std::io::Error>(c.to_vec())).collect::<Vec<_>>());
    let res = multipart(client().post(&s.url)).body(reqwest::Body::wrap_stream(stream)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(res.text().await.unwrap().contains("a form sent to this upload link may be at most"));
    // One field over its own limit.
    let form =
        Form::new().text("message", "m".repeat(10_000)).part("file", Part::bytes(b"hi".to_vec()).file_name("a.txt"));
    let res = client().post(&s.url).multipart(form).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(res.text().await.unwrap().contains("at most 2000 characters"));
    // A file over the slot's limit, with the limit in the answer.
    let form = Form::new().part("file", Part::bytes(bytes(11)).file_name("a.bin"));
    let res = client().post(&s.url).multipart(form).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(res.text().await.unwrap().contains("files may be at most 10 B"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(store_entries(&server).is_empty());
    // Nothing was kept and no claim was lost: a form with a little padding still gets in.
    let res = multipart(client().post(&s.url)).body(padded_form(2, 1500)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED, "{}", res.text().await.unwrap());
    assert_eq!(server.vault.files().unwrap().len(), 1);
}

#[tokio::test]
async fn huge_part_headers_and_preambles_are_refused_with_431_and_413() {
    let server = Server::start().await;
    let s = server.slot(slot(1 << 20, 2));
    let path = s.url.strip_prefix(&server.base).unwrap().to_string();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=B\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    let pad = |n: usize| chunked(&vec![b'a'; n]);
    let header = chunked(b"--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nX-Pad: ");
    let response = send_unfinished(server.addr, head.clone(), vec![header, pad(4096), pad(4096), pad(4096)]).await;
    assert!(response.starts_with("HTTP/1.1 431"), "{response}");
    assert!(response.contains("a part's headers may be at most 8.0 KiB"), "{response}");
    let response = send_unfinished(server.addr, head, vec![pad(4096), pad(4096), pad(4096)]).await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(response.contains("text outside the form's parts may be at most 8.0 KiB"), "{response}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(store_entries(&server).is_empty());
    assert_eq!(server.vault.slot(&s.slot.id, 0).unwrap().slot.claimed_files, 0);
}

/// Names that deceive or cannot be saved on Windows, and what is stored instead.
const DECEPTIVE_NAMES: &[(&str, &str)] = &[
    // Shown as "invoiceexe.pdf" by anything that honours the right-to-left override.
    ("invoice\u{202E}fdp.exe", "invoicefdp.exe"),
    ("in\u{200B}voice\u{FEFF}.pdf\u{2066}", "invoice.pdf"),
    ("cafe\u{301}.txt", "caf\u{e9}.txt"),
    ("NUL.txt", "_NUL.txt"),
    ("aux", "_aux"),
    ("a<b>c:d|e?f*g.txt", "a_b_c_d_e_f_g.txt"),
    ("report.pdf. . .", "report.pdf"),
];

/// The `Content-Disposition` a download of a file stored as `name` carries.
fn disposition_of(name: &str) -> String {
    let ascii: String = name.chars().map(|c| if c.is_ascii() { c } else { '_' }).collect();
    let exact = percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC)
        .to_string()
        .replace("%2E", ".")
        .replace("%5F", "_");
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{exact}")
}

#[tokio::test]
async fn deceptive_names_are_stored_and_sent_safely() {
    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
    let server = Server::start().await;
    let s = server.slot(slot(1 << 20, 100));
    for (raw, safe) in DECEPTIVE_NAMES {
        let put = put_url(&s.url, &utf8_percent_encode(raw, NON_ALPHANUMERIC).to_string());
        let res = client().put(put).body("x").send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CREATED, "{raw:?}");
        let json: Value = res.json().await.unwrap();
        assert_eq!(json["files"][0]["name"], *safe, "PUT {raw:?}");
        let form = Form::new().part("file", Part::bytes(b"y".to_vec()).file_name(raw.to_string()));
        let res = client().post(&s.url).multipart(form).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CREATED, "{raw:?}");
        let json: Value = res.json().await.unwrap();
        assert_eq!(json["files"][0]["name"], *safe, "multipart {raw:?}");
        // What is stored, and what a download says.
        let id = json["files"][0]["id"].as_str().unwrap();
        assert_eq!(server.vault.file(id).unwrap().file.name, *safe);
        let res = client().get(&server.link(id).url).send().await.unwrap();
        assert_eq!(res.headers()[reqwest::header::CONTENT_DISPOSITION], disposition_of(safe).as_str(), "{raw:?}");
    }
}

/// The smallest PDF and PNG their readers open.
const MINIMAL_PDF: &[u8] = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";
const MINIMAL_PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\x9cc\xf8\x0f\x04\0\x09\xfb\x03\xfd\xe3U\xf2\x9c\0\0\0\0IEND\xaeB`\x82";
const SVG: &[u8] = b"<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"1\" height=\"1\"/>\n";

#[tokio::test]
async fn accept_lists_need_the_signature_not_just_the_name() {
    let server = Server::start().await;
    // Room for exactly the six files that should get in: a claim kept by a refusal would show.
    let s = server.slot(NewSlot { accept: Some(AcceptList::parse("pdf,png,text/plain").unwrap()), ..slot(1 << 20, 6) });
    let refused: [(&str, &[u8]); 4] = [
        ("report.pdf", b"just text wearing a .pdf name\n"),
        ("photo.png", &bytes(4096)),
        ("vector.png", SVG),
        ("empty.pdf", b""),
    ];
    let accepted: [(&str, &[u8]); 3] =
        [("report.pdf", MINIMAL_PDF), ("photo.png", MINIMAL_PNG), ("notes.txt", b"plain text\n")];
    for (name, data) in refused {
        let res = client().put(put_url(&s.url, name)).body(data.to_vec()).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "PUT {name}");
        assert!(res.text().await.unwrap().contains("contents"), "PUT {name}");
        let form = Form::new().part("file", Part::bytes(data.to_vec()).file_name(name));
        let res = client().post(&s.url).multipart(form).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "multipart {name}");
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(store_entries(&server).is_empty());
    assert_eq!(server.vault.slot(&s.slot.id, 0).unwrap().slot.claimed_files, 0);
    for (name, data) in accepted {
        let res = client().put(put_url(&s.url, name)).body(data.to_vec()).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CREATED, "PUT {name}");
        let form = Form::new().part("file", Part::bytes(data.to_vec()).file_name(name));
        let res = client().post(&s.url).multipart(form).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CREATED, "multipart {name}");
    }
    let info = server.vault.slot(&s.slot.id, 0).unwrap();
    assert_eq!((info.received, info.status.as_str()), (6, "full"));
    assert_eq!(store_entries(&server).len(), 6);
}
