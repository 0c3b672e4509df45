//! The connection layer under attack and in odd hands: limited downloads counted only when the
//! bytes arrive, clients that stop reading, idle and kept-alive connections, a full connection
//! table, 2,000 idle sockets against a server with 1,024 descriptors, and HTTP/2.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sharelock::http::ServerConfig;
use sharelock::http::delivery::DeliveryTiming;
use sharelock::links::MAX_UNDELIVERED;
use sharelock::vault::NewLink;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{Server, bytes, client};

/// The path and query of `url`, for a raw request.
fn path_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    &rest[rest.find('/').unwrap_or(rest.len())..]
}

/// Opens a connection and sends a GET for `url`.
async fn raw_get(addr: SocketAddr, url: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {} HTTP/1.1\r\nHost: sharelock\r\n\r\n", path_of(url));
    stream.write_all(request.as_bytes()).await.unwrap();
    stream
}

/// Waits up to `limit` for `done`.
async fn eventually(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    done()
}

/// Whether the server has closed `stream`: reads (and drops) what is buffered until EOF or an
/// error, for at most `limit`.
async fn closed_by_server(stream: &mut TcpStream, limit: Duration) -> bool {
    let mut sink = vec![0u8; 1 << 16];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut sink)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

fn one_time() -> NewLink {
    NewLink { max_downloads: Some(1), ..Default::default() }
}

/// The red-team case: a bot reads 444 bytes of a 200 KB file and hangs up. The whole response fit
/// in the socket buffers, so the server wrote it all; the bot's kernel reset the connection, as
/// its program closed with bytes unread. The link is not used up, and its byte budget is whole
/// again: the recipient downloads the file afterwards, and that counts.
#[tokio::test]
async fn a_bot_that_reads_the_first_bytes_and_hangs_up_uses_nothing() {
    let server = Server::start().await;
    let data = bytes(200_000);
    let file = server.add("report.pdf", &data);
    let link = server.link_with(&file.file.id, one_time());
    let mut bot = raw_get(server.addr, &link.url).await;
    let mut first = [0u8; 444];
    bot.read_exact(&mut first).await.unwrap();
    assert!(first.starts_with(b"HTTP/1.1 200 OK"));
    // Let the server write everything into the socket buffers and end its side.
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(bot);
    let given_back = eventually(Duration::from_secs(10), || {
        let link = server.vault.link(&link.link.id, 0).unwrap().link;
        link.undelivered == 1 && link.downloads == 0
    })
    .await;
    assert!(given_back, "the bot's download is given back: {:?}", server.vault.link(&link.link.id, 0).unwrap().link);

    let res = client().get(&link.url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["connection"], "close", "the end of the connection marks the end of the response");
    assert_eq!(res.bytes().await.unwrap(), &data[..]);
    // Past the grace period, the recipient's download stands.
    tokio::time::sleep(DeliveryTiming::default().grace + Duration::from_millis(500)).await;
    let after = server.vault.link(&link.link.id, 0).unwrap();
    assert_eq!((after.link.downloads, after.link.undelivered), (1, 1));
    assert_eq!(client().get(&link.url).send().await.unwrap().status(), StatusCode::GONE);
}

/// A client that reads everything counts, whether it then closes (FIN) or keeps its end open.
#[tokio::test]
async fn a_client_that_reads_everything_counts_once_whether_it_closes_or_lingers() {
    let server = Server::start().await;
    let data = bytes(300_000);
    let file = server.add("a.bin", &data);
    for linger in [false, true] {
        let link = server.link_with(&file.file.id, one_time());
        let mut stream = raw_get(server.addr, &link.url).await;
        let mut response = Vec::new();
        // The server closes its side once the response is out (`Connection: close`).
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response)).await.unwrap().unwrap();
        assert!(response.ends_with(&data), "the whole file arrived");
        if linger {
            tokio::time::sleep(DeliveryTiming::default().grace + Duration::from_millis(500)).await;
        }
        drop(stream);
        tokio::time::sleep(DeliveryTiming::default().grace + Duration::from_millis(500)).await;
        let after = server.vault.link(&link.link.id, 0).unwrap().link;
        assert_eq!((after.downloads, after.undelivered), (1, 0), "linger: {linger}");
    }
}

/// A client that stops reading a large download is cut off after the send timeout, holds no
/// socket or file after that, and uses nothing up.
#[tokio::test]
async fn a_client_that_stops_reading_is_cut_off_and_uses_nothing() {
    let config = ServerConfig { send_timeout: Duration::from_secs(1), ..ServerConfig::default() };
    let server = Server::start_with(config).await;
    let data = bytes(48 << 20);
    let file = server.add("big.bin", &data);
    let link = server.link_with(&file.file.id, NewLink { max_downloads: Some(2), ..Default::default() });
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stalled = socket.connect(server.addr).await.unwrap();
    let request = format!("GET {} HTTP/1.1\r\nHost: sharelock\r\n\r\n", path_of(&link.url));
    stalled.write_all(request.as_bytes()).await.unwrap();
    // Read nothing for a while: the server's writes stall and time out.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(closed_by_server(&mut stalled, Duration::from_secs(20)).await, "the stalled connection was closed");
    assert_eq!(server.vault.link(&link.link.id, 0).unwrap().link.downloads, 0);
    // An honest client still gets the file, and that counts once.
    let res = client().get(&link.url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.bytes().await.unwrap().len(), data.len());
    assert_eq!(server.vault.link(&link.link.id, 0).unwrap().link.downloads, 1);
}

/// Giving back is bounded: a client can also read everything and then reset on purpose, so only
/// the first few undelivered downloads of a link are given back; after that a claim stands.
#[tokio::test]
async fn only_a_few_undelivered_downloads_are_given_back() {
    let server = Server::start().await;
    let data = bytes(100_000);
    let file = server.add("a.bin", &data);
    let link = server.link_with(&file.file.id, one_time());
    for round in 1..=MAX_UNDELIVERED + 1 {
        let mut bot = raw_get(server.addr, &link.url).await;
        let mut first = [0u8; 100];
        bot.read_exact(&mut first).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        drop(bot);
        // Each verdict comes within the grace period.
        tokio::time::sleep(DeliveryTiming::default().grace + Duration::from_millis(700)).await;
        let now = server.vault.link(&link.link.id, 0).unwrap().link;
        if round <= MAX_UNDELIVERED {
            assert_eq!((now.downloads, now.undelivered), (0, round), "round {round} is given back");
        } else {
            assert_eq!((now.downloads, now.undelivered), (1, MAX_UNDELIVERED), "round {round} stands");
        }
    }
    assert_eq!(client().get(&link.url).send().await.unwrap().status(), StatusCode::GONE);
}

/// Connections that send nothing, and kept-alive connections that go quiet, are closed after the
/// header timeout.
#[tokio::test]
async fn idle_and_kept_alive_connections_are_closed_after_the_header_timeout() {
    let config = ServerConfig { header_timeout: Duration::from_secs(1), ..ServerConfig::default() };
    let server = Server::start_with(config).await;
    let mut idle = Vec::new();
    for _ in 0..50 {
        idle.push(TcpStream::connect(server.addr).await.unwrap());
    }
    let mut kept = TcpStream::connect(server.addr).await.unwrap();
    kept.write_all(b"GET / HTTP/1.1\r\nHost: sharelock\r\n\r\n").await.unwrap();
    let mut answer = [0u8; 512];
    let n = kept.read(&mut answer).await.unwrap();
    assert!(answer[..n].starts_with(b"HTTP/1.1 200 OK"), "a kept-alive connection is answered first");
    let started = Instant::now();
    for (i, stream) in idle.iter_mut().enumerate() {
        assert!(closed_by_server(stream, Duration::from_secs(10)).await, "idle connection {i} was closed");
    }
    assert!(closed_by_server(&mut kept, Duration::from_secs(10)).await, "the kept-alive connection was closed");
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// At capacity, a new client still gets in: the connection idle the longest is closed to make
/// room. When every connection is busy, the newcomer is turned away instead.
#[tokio::test]
async fn a_full_connection_table_makes_room_by_closing_the_longest_idle() {
    let config = ServerConfig { max_connections: Some(10), ..ServerConfig::default() };
    let server = Server::start_with(config).await;
    let file = server.add("a.txt", b"hello");
    let link = server.link(&file.file.id);
    let mut idle = Vec::new();
    for _ in 0..10 {
        idle.push(TcpStream::connect(server.addr).await.unwrap());
        // In order, so "oldest" is well defined.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let res = client().get(&link.url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.bytes().await.unwrap(), "hello");
    assert!(closed_by_server(&mut idle[0], Duration::from_secs(5)).await, "the oldest idle connection made room");

    // Now fill every place with a busy download that does not read.
    let big = server.add("big.bin", &bytes(32 << 20));
    let big_link = server.link(&big.file.id);
    drop(idle);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut busy = Vec::new();
    for _ in 0..10 {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut stream = socket.connect(server.addr).await.unwrap();
        let request = format!("GET {} HTTP/1.1\r\nHost: sharelock\r\n\r\n", path_of(&big_link.url));
        stream.write_all(request.as_bytes()).await.unwrap();
        busy.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut newcomer = raw_get(server.addr, &link.url).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), newcomer.read_to_end(&mut answer)).await.unwrap();
    assert!(answer.is_empty(), "turned away without an answer: {:?}", String::from_utf8_lossy(&answer));
    drop(busy);
    // Once the busy ones are gone, clients are served again.
    let served = async {
        loop {
            if let Ok(res) = client().get(&link.url).send().await
                && res.status() == StatusCode::OK
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), served).await.unwrap();
}

/// Cleartext HTTP/2 is not spoken: a prior-knowledge HTTP/2 client gets nothing it can use (so no
/// zero-window stream can hold a download, and no connection can multiplex hundreds of them),
/// and `curl --http2` falls back to HTTP/1.1 and is served normally, counted once.
#[tokio::test]
async fn http2_is_not_spoken_and_upgrades_fall_back_to_http1() {
    let server = Server::start().await;
    let data = bytes(100_000);
    let file = server.add("a.bin", &data);
    let link = server.link_with(&file.file.id, NewLink { max_downloads: Some(3), ..Default::default() });
    let url = link.url.clone();
    let prior = tokio::task::spawn_blocking(move || {
        std::process::Command::new("curl")
            .args(["-sS", "--max-time", "10", "--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_version}"])
            .arg(&url)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        !prior.status.success(),
        "curl --http2-prior-knowledge must fail: {}",
        String::from_utf8_lossy(&prior.stdout)
    );
    assert_ne!(String::from_utf8_lossy(&prior.stdout), "2");

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("a.bin");
    let (url, path) = (link.url.clone(), out.clone());
    let upgrade = tokio::task::spawn_blocking(move || {
        std::process::Command::new("curl")
            .args(["-sS", "--max-time", "10", "--http2", "-o"])
            .arg(&path)
            .args(["-w", "%{http_version} %{http_code}"])
            .arg(&url)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(upgrade.status.success(), "{}", String::from_utf8_lossy(&upgrade.stderr));
    assert_eq!(String::from_utf8_lossy(&upgrade.stdout), "1.1 200");
    assert_eq!(std::fs::read(&out).unwrap(), data);
    tokio::time::sleep(DeliveryTiming::default().grace + Duration::from_millis(500)).await;
    assert_eq!(server.vault.link(&link.link.id, 0).unwrap().link.downloads, 1);
}

/// The sockets a process holds: what a connection costs it in descriptors, without the database
/// connections its background tasks (counts, history, webhooks) open and pool as they overlap.
fn sockets(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().starts_with("socket:"))
        .count()
}

/// A process's resident and peak memory, and its open descriptors.
fn process_figures(pid: u32) -> (u64, u64, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap()
    };
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count();
    (kib("VmRSS:"), kib("VmHWM:"), fds)
}

/// `sharelock serve` limited to 1,024 open files, with one file and a link to it: the child, its
/// address, the link's URL, and a thread collecting its log.
struct LimitedServe {
    child: std::process::Child,
    addr: SocketAddr,
    url: String,
    log: Option<std::thread::JoinHandle<String>>,
    _dir: tempfile::TempDir,
}

impl LimitedServe {
    fn start() -> LimitedServe {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data");
        let src = dir.path().join("hello.txt");
        std::fs::write(&src, b"hello").unwrap();
        let added = crate::support::sharelock_json(&data_dir, &["add", src.to_str().unwrap()]);
        let link = crate::support::sharelock_json(&data_dir, &["link", added[0]["id"].as_str().unwrap()]);
        let mut child = std::process::Command::new("prlimit")
            .args(["--nofile=1024:1024", "--"])
            .arg(env!("CARGO_BIN_EXE_sharelock"))
            .arg("--data-dir")
            .arg(&data_dir)
            .args(["serve", "--bind", "127.0.0.1:0"])
            .env_remove("SHARELOCK_DATA_DIR")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
        let base = line.trim().strip_prefix("listening on ").unwrap().to_string();
        let addr = base.trim_start_matches("http://").parse().unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
        let url = format!("{base}{}", path_of(link["url"].as_str().unwrap()));
        LimitedServe { child, addr, url, log: Some(log), _dir: dir }
    }

    fn figures(&self) -> (u64, u64, usize) {
        process_figures(self.child.id())
    }

    /// Stops the server; its log.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.log.take().unwrap().join().unwrap()
    }
}

/// The red-team case: 2,000 connections that send nothing, against `sharelock serve` limited to
/// 1,024 descriptors. New clients are still served throughout, descriptors stay well inside the
/// limit, memory stays small, the warning about it is not repeated ten times a second, and every
/// idle connection is closed after the header timeout (15 s).
#[tokio::test]
async fn two_thousand_idle_sockets_leave_room_for_new_clients() {
    sharelock::http::connection::raise_descriptor_limit();
    let server = LimitedServe::start();
    let (rss_before, _, fds_before) = server.figures();
    let sockets_before = sockets(server.child.id());
    let mut idle = Vec::new();
    for _ in 0..2000 {
        idle.push(TcpStream::connect(server.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, _, fds_under_attack) = server.figures();
    let res = client().get(&server.url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "a new client is served among 2,000 idle sockets");
    assert_eq!(res.bytes().await.unwrap(), "hello");
    let (rss, peak, fds_after_client) = server.figures();
    // Sockets, not every descriptor: the database connections the background tasks (counts,
    // history, webhooks) pool come and go on their own.
    let closed = async {
        loop {
            if sockets(server.child.id()) <= sockets_before + 2 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let all_closed = tokio::time::timeout(Duration::from_secs(30), closed).await.is_ok();
    let (_, _, fds_at_end) = server.figures();
    let sockets_at_end = sockets(server.child.id());
    let log = server.stop();
    let warnings = log.lines().filter(|l| l.contains("WARN")).count();
    eprintln!(
        "2,000 idle sockets, 1,024 descriptors: RSS {rss_before} KiB before, {rss} KiB under attack (peak {peak} KiB); \
         descriptors {fds_before} before, {fds_under_attack} under attack ({} left), {fds_after_client} after a new \
         client, {fds_at_end} at the end; {warnings} warning line(s)",
        1024 - fds_under_attack
    );
    let capacity = sharelock::http::connection::capacity(1024);
    assert!(
        fds_under_attack <= fds_before + capacity + 8,
        "connections are kept to {capacity}: {fds_under_attack} open"
    );
    assert!(peak < 64 * 1024, "peak RSS {peak} KiB");
    assert!(warnings <= 5, "warnings are rate-limited:\n{log}");
    assert!(
        all_closed,
        "idle connections are closed after the header timeout: {sockets_at_end} sockets open, {sockets_before} before"
    );
}

/// The red-team's HTTP/2 floods (streams left open, a header block never finished, rapid resets)
/// need HTTP/2: ten connections opening with its preface and a stream of frames are closed at
/// once, unanswered, and cost nothing.
#[tokio::test]
async fn ten_http2_connections_are_closed_at_once() {
    let server = LimitedServe::start();
    let (rss_before, _, fds_before) = server.figures();
    let sockets_before = sockets(server.child.id());
    // The client preface, SETTINGS, then HEADERS frames without END_HEADERS (a header block left
    // open), 64 KiB of them per connection.
    let mut flood = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00".to_vec();
    for stream in 0..1024u32 {
        let id = (stream * 2 + 1).to_be_bytes();
        flood.extend_from_slice(&[0, 0, 55, 1, 0x01, id[0], id[1], id[2], id[3]]);
        flood.extend_from_slice(&[0x82; 55]);
    }
    let mut connections = Vec::new();
    for _ in 0..10 {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        // The server may close before all of it is written.
        let _ = stream.write_all(&flood).await;
        connections.push(stream);
    }
    for (i, stream) in connections.iter_mut().enumerate() {
        let mut answer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
        assert!(read.is_ok(), "HTTP/2 connection {i} was closed at once");
        assert!(!answer.starts_with(&[0, 0]), "no HTTP/2 frame came back");
    }
    let (rss, peak, fds) = server.figures();
    let sockets_after = sockets(server.child.id());
    let res = client().get(&server.url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    server.stop();
    eprintln!(
        "10 HTTP/2 connections: RSS {rss_before} KiB before, {rss} KiB after (peak {peak} KiB); descriptors \
         {fds_before} before, {fds} after"
    );
    assert!(peak < 64 * 1024, "peak RSS {peak} KiB");
    assert!(sockets_after <= sockets_before + 2, "no socket is held: {sockets_after} open, {sockets_before} before");
}
