//! Floods of invalid signatures: limited per client address (429), others unaffected, and
//! X-Forwarded-For believed only from a trusted proxy.

use std::net::IpAddr;

use reqwest::StatusCode;
use sharelock::http::ServerConfig;

use crate::support::Server;

/// A client whose connections come from `source` (any 127.x address is this machine).
fn client_from(source: &str) -> reqwest::Client {
    reqwest::Client::builder().no_proxy().local_address(source.parse::<IpAddr>().unwrap()).build().unwrap()
}

fn forged(url: &str) -> String {
    let mut parts: Vec<String> = url.split('/').map(String::from).collect();
    parts[5] = "A".repeat(43);
    parts.join("/")
}

async fn statuses(client: &reqwest::Client, url: &str, n: usize, xff: Option<&str>) -> Vec<StatusCode> {
    let mut out = Vec::new();
    for _ in 0..n {
        let mut req = client.get(url);
        if let Some(xff) = xff {
            req = req.header("x-forwarded-for", xff);
        }
        out.push(req.send().await.unwrap().status());
    }
    out
}

#[tokio::test]
async fn a_flood_of_bad_signatures_is_limited_for_its_sender_only() {
    let server = Server::start().await;
    let file = server.add("a.txt", b"hello");
    let link = server.link(&file.file.id);
    let bad = forged(&link.url);
    let flooder = client_from("127.0.0.1");
    let seen = statuses(&flooder, &bad, 40, None).await;
    assert!(seen[..15].iter().all(|s| *s == StatusCode::FORBIDDEN), "{seen:?}");
    assert!(seen[30..].iter().all(|s| *s == StatusCode::TOO_MANY_REQUESTS), "{seen:?}");
    let res = flooder.get(&bad).send().await.unwrap();
    assert_eq!(res.headers()["retry-after"], "10");
    assert_eq!(res.text().await.unwrap(), "too many invalid requests: try again later\n");
    // Someone else, at another address, is not affected.
    let other = client_from("127.0.0.2");
    assert_eq!(other.get(&bad).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(other.get(&link.url).send().await.unwrap().status(), StatusCode::OK);
    // Slot URLs share the budget: the flooder is limited there too.
    let slot = server.slot(Default::default());
    let bad_slot = format!("{}?sig={}", slot.url.split('?').next().unwrap(), "A".repeat(43));
    assert_eq!(flooder.get(&bad_slot).send().await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(other.get(&bad_slot).send().await.unwrap().status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn forwarded_for_is_ignored_unless_the_proxy_is_trusted() {
    // Not trusted: a flooder cannot escape its budget by inventing X-Forwarded-For values.
    let server = Server::start().await;
    let link = server.link(&server.add("a.txt", b"x").file.id);
    let bad = forged(&link.url);
    let client = client_from("127.0.0.3");
    let mut seen = Vec::new();
    for i in 0..40 {
        seen.extend(statuses(&client, &bad, 1, Some(&format!("10.0.0.{i}"))).await);
    }
    assert!(seen[30..].iter().all(|s| *s == StatusCode::TOO_MANY_REQUESTS), "{seen:?}");

    // Trusted: each forwarded client has its own budget behind the same proxy.
    let config = ServerConfig { trusted_proxies: vec!["127.0.0.4".parse().unwrap()], ..Default::default() };
    let server = Server::start_with(config).await;
    let link = server.link(&server.add("a.txt", b"x").file.id);
    let bad = forged(&link.url);
    let proxy = client_from("127.0.0.4");
    let flood = statuses(&proxy, &bad, 40, Some("10.1.1.1")).await;
    assert!(flood[30..].iter().all(|s| *s == StatusCode::TOO_MANY_REQUESTS), "{flood:?}");
    assert_eq!(statuses(&proxy, &bad, 1, Some("10.1.1.2")).await, [StatusCode::FORBIDDEN]);
    assert_eq!(
        proxy.get(&link.url).header("x-forwarded-for", "10.1.1.1").send().await.unwrap().status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn oversized_urls_and_headers_are_refused_cleanly() {
    let server = Server::start().await;
    let link = server.link(&server.add("a.txt", b"x").file.id);
    let path = link.url.strip_prefix(&server.base).unwrap().to_string();
    let long_url = format!("GET {path}/{} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "a".repeat(200_000));
    let long_header =
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n", "b".repeat(1_000_000));
    let many_headers =
        format!("GET {path} HTTP/1.1\r\nHost: x\r\n{}Connection: close\r\n\r\n", "X-H: v\r\n".repeat(500));
    for (what, request) in [("a 200 kB URL", long_url), ("a 1 MB header", long_header), ("500 headers", many_headers)] {
        let response = crate::support::raw(server.addr, request.as_bytes()).await;
        let status = response.split(' ').nth(1).unwrap_or("");
        // Refused with a 4xx, or the connection closed: never a 5xx, never served, never a hang.
        assert!(status.is_empty() || status.starts_with('4'), "{what}: {}", response.lines().next().unwrap_or(""));
    }
    // The server is fine afterwards.
    assert_eq!(reqwest::get(&link.url).await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn headers_sent_a_byte_at_a_time_are_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let config = ServerConfig { header_timeout: std::time::Duration::from_millis(500), ..Default::default() };
    let server = Server::start_with(config).await;
    let mut slow = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let started = std::time::Instant::now();
    let request = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let mut closed = false;
    for byte in request {
        if slow.write_all(&[*byte]).await.is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 256];
        match tokio::time::timeout(std::time::Duration::from_millis(100), slow.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(_)) => panic!("the server answered a request it never finished receiving"),
            Err(_) => {}
        }
    }
    assert!(closed, "a byte-at-a-time client is cut off");
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "within a bounded time: {:?}", started.elapsed());
    assert_eq!(reqwest::get(format!("{}/", server.base)).await.unwrap().status(), StatusCode::OK);
}
