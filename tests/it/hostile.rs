//! Floods of invalid signatures: limited per client address (429), others unaffected, and
//! X-Forwarded-For believed only from a trusted proxy.

use std::net::IpAddr;

use reqwest::StatusCode;
use sharelock::http::ServerConfig;

use crate::support::{Server, chunked};

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
    // Sent at once, so that however slow the machine, the flood outruns the refill (five a
    // second): the burst of twenty is answered 403, most of the rest 429.
    let seen: Vec<StatusCode> = futures_util::future::join_all((0..40).map(|_| flooder.get(&bad).send()))
        .await
        .into_iter()
        .map(|r| r.unwrap().status())
        .collect();
    let forbidden = seen.iter().filter(|s| **s == StatusCode::FORBIDDEN).count();
    let limited = seen.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    assert!((20..30).contains(&forbidden) && forbidden + limited == 40, "{seen:?}");
    // The answer a limited client gets (a token refilled meanwhile may let one more 403 by).
    let mut res = flooder.get(&bad).send().await.unwrap();
    for _ in 0..5 {
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            break;
        }
        res = flooder.get(&bad).send().await.unwrap();
    }
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(res.headers()["retry-after"], "10");
    assert_eq!(res.text().await.unwrap(), "too many invalid requests: try again later\n");
    // Someone else, at another address, is not affected.
    let other = client_from("127.0.0.2");
    assert_eq!(other.get(&bad).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(other.get(&link.url).send().await.unwrap().status(), StatusCode::OK);
    // Slot URLs share the budget: the flooder is limited there too. Sent at once, twenty bad
    // slot requests would all be 403 on a budget of their own (its burst is twenty); on the
    // flooder's spent one only the few tokens refilled meanwhile (five a second) can pass, however
    // slow the machine was while the slot was made.
    let slot = server.slot(Default::default());
    let bad_slot = format!("{}?sig={}", slot.url.split('?').next().unwrap(), "A".repeat(43));
    let slot_flood = futures_util::future::join_all((0..20).map(|_| flooder.get(&bad_slot).send())).await;
    let limited = slot_flood.iter().filter(|r| r.as_ref().unwrap().status() == StatusCode::TOO_MANY_REQUESTS).count();
    assert!(limited >= 10, "only {limited} of 20 bad slot requests were limited");
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

/// A multipart body far too large to build in memory: `prefix`, then `filler_len` copies of
/// `filler`, generated a chunk at a time, then `suffix`.
struct Flood {
    prefix: String,
    filler: u8,
    filler_len: u64,
    suffix: String,
}

/// POSTs `flood` to `path` on a raw socket, chunked (so no Content-Length warns the server),
/// reading while it writes, and returns the status line of the answer (empty if the server
/// closed without one). The server may answer and close long before the body ends: writing then
/// fails, which is the point.
async fn post_flood(addr: std::net::SocketAddr, path: &str, flood: Flood) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=B\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    let send = tokio::spawn(async move {
        writer.write_all(head.as_bytes()).await?;
        // (An empty chunk would end the body.)
        if !flood.prefix.is_empty() {
            writer.write_all(&chunked(flood.prefix.as_bytes())).await?;
        }
        let filler = chunked(&vec![flood.filler; 64 * 1024]);
        let mut left = flood.filler_len;
        while left >= 64 * 1024 {
            writer.write_all(&filler).await?;
            left -= 64 * 1024;
        }
        if left > 0 {
            writer.write_all(&chunked(&vec![flood.filler; left as usize])).await?;
        }
        writer.write_all(&chunked(flood.suffix.as_bytes())).await?;
        writer.write_all(b"0\r\n\r\n").await?;
        std::io::Result::Ok(())
    });
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    // A bound against a hang only: the assertions are on the answer, not on the time.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(300), async {
        while !answer.windows(2).any(|w| w == b"\r\n") {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    send.abort();
    String::from_utf8_lossy(&answer).lines().next().unwrap_or("").to_string()
}

/// Peak and current resident memory of process `pid`, in KiB (`VmHWM`, `VmRSS`).
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        let line = status.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("no {name} in {status}"));
        line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap()
    };
    (field("VmHWM:"), field("VmRSS:"))
}

const MIB: u64 = 1024 * 1024;

fn huge_part_header() -> Flood {
    Flood {
        prefix: "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nX-Pad: ".into(),
        filler: b'a',
        filler_len: 200 * MIB,
        suffix: "\r\n\r\nhello\r\n--B--\r\n".into(),
    }
}

fn huge_preamble() -> Flood {
    Flood {
        prefix: String::new(),
        filler: b'p',
        filler_len: 100 * MIB,
        suffix:
            "\r\n--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nhello\r\n--B--\r\n"
                .into(),
    }
}

fn huge_file_name() -> Flood {
    Flood {
        prefix: "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"".into(),
        filler: b'n',
        filler_len: 10 * MIB,
        suffix: ".txt\"\r\n\r\nhello\r\n--B--\r\n".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn huge_part_headers_preambles_and_file_names_are_refused_in_bounded_memory() {
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let (child, base) = crate::support::spawn_serve(&data_dir, &[], &[("SHARELOCK_LOG", "warn")], Stdio::null());
    let child = KillOnDrop(child);
    let addr: std::net::SocketAddr = base.strip_prefix("http://").unwrap().parse().unwrap();
    // A slot for one file of at most 10 bytes: none of these requests may get anything in.
    let slot = crate::support::sharelock_json(&data_dir, &["slot", "--max-size", "10", "--max-files", "1"]);
    let url = slot["url"].as_str().unwrap();
    let path = &url[url.find("/u/").unwrap()..];
    // Warm up: a refused request takes the server through the upload path once.
    let warm = crate::support::client().post(format!("{base}{path}")).body("x").send().await.unwrap();
    assert_eq!(warm.status(), StatusCode::BAD_REQUEST);
    let (before, _) = memory_kib(child.0.id());

    let header = post_flood(addr, path, huge_part_header()).await;
    let (after_header, _) = memory_kib(child.0.id());
    let three = futures_util::future::join_all((0..3).map(|_| post_flood(addr, path, huge_part_header()))).await;
    let (after_three, _) = memory_kib(child.0.id());
    let preamble = post_flood(addr, path, huge_preamble()).await;
    let file_name = post_flood(addr, path, huge_file_name()).await;
    let (after_all, rss) = memory_kib(child.0.id());
    eprintln!(
        "peak RSS (VmHWM): {} MiB at rest, {} MiB after a 200 MB part header, {} MiB after three at once, {} MiB after a 100 MB preamble and a 10 MB file name (RSS now {} MiB)",
        before / 1024,
        after_header / 1024,
        after_three / 1024,
        after_all / 1024,
        rss / 1024
    );

    assert!(header.starts_with("HTTP/1.1 431"), "a 200 MB part header: {header:?}");
    assert!(three.iter().all(|s| s.starts_with("HTTP/1.1 431")), "three at once: {three:?}");
    assert!(preamble.starts_with("HTTP/1.1 413"), "a 100 MB preamble: {preamble:?}");
    assert!(file_name.starts_with("HTTP/1.1 431"), "a 10 MB file name: {file_name:?}");
    // Generous: the bytes refused are hundreds of MiB; what the server holds stays a few buffers.
    assert!(after_all - before < 64 * 1024, "peak RSS grew from {before} KiB to {after_all} KiB");

    // Nothing stored, and the slot's one file is still free to send.
    assert_eq!(crate::support::sharelock_json(&data_dir, &["ls"]), serde_json::json!([]));
    let stray = crate::support::names_in(&data_dir.join("store"));
    assert!(stray.is_empty(), "{stray:?}");
    let form = reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::bytes(b"hello".to_vec()).file_name("a.txt"));
    let res = crate::support::client().post(format!("{base}{path}")).multipart(form).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
}

/// A spawned server, stopped however the test ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
