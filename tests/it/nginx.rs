//! Behind a real nginx (Debian's nginx-light) with the configuration `sharelock nginx-config`
//! prints: offloaded downloads (X-Accel-Redirect), uploads proxied unbuffered, and
//! nginx-checked links.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::{CONTENT_DISPOSITION, CONTENT_RANGE, CONTENT_TYPE, RANGE};
use sharelock::http::{Offload, ServerConfig};
use sharelock::units::Lifetime;
use sharelock::vault::{NewLink, NewSlot};

use crate::support::{Server, bytes, client, sharelock};

const NGINX: &str = "/usr/sbin/nginx";

/// nginx in the foreground with the generated configuration; stopped when dropped.
struct Nginx {
    child: Child,
    base: String,
}

impl Nginx {
    fn start(data_dir: &Path, upstream: std::net::SocketAddr) -> Nginx {
        Nginx::start_with(data_dir, upstream, "http", &[])
    }

    /// nginx with more `nginx-config` options; `scheme` is the one links are built with.
    fn start_with(data_dir: &Path, upstream: std::net::SocketAddr, scheme: &str, options: &[&str]) -> Nginx {
        assert!(Path::new(NGINX).exists(), "nginx is missing: install nginx-light (./dev test does)");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let listen = format!("127.0.0.1:{port}");
        let upstream = upstream.to_string();
        let mut args = vec!["nginx-config", "--listen", &listen, "--upstream", &upstream];
        args.extend_from_slice(options);
        let out = sharelock(data_dir, &args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let conf = data_dir.join("nginx.conf");
        std::fs::write(&conf, &out.stdout).unwrap();
        let child = Command::new(NGINX).arg("-c").arg(&conf).args(["-g", "daemon off;"]).spawn().unwrap();
        let started = Instant::now();
        while TcpStream::connect(&listen).is_err() {
            assert!(started.elapsed() < Duration::from_secs(10), "nginx did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Nginx { child, base: format!("{scheme}://{listen}") }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-QUIT", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

/// A Sharelock server in offload mode with nginx in front; links are built with nginx's address.
async fn behind_nginx() -> (Server, Nginx) {
    let config =
        ServerConfig { offload: Some(Offload::Nginx { prefix: "/_sharelock_store/".into() }), ..Default::default() };
    let server = Server::start_with(config).await;
    let nginx = Nginx::start(&server.dir.path().join("data"), server.addr);
    server.vault.set_base_url(&nginx.base).unwrap();
    (server, nginx)
}

#[tokio::test]
async fn downloads_are_checked_by_sharelock_and_sent_by_nginx() {
    let (server, nginx) = behind_nginx().await;
    let data = bytes(1_500_000);
    let file = server.add("Überblick 2026 – “final”.pdf", &data);
    let link = server.link_with(&file.file.id, NewLink { max_downloads: Some(2), ..Default::default() });
    assert!(link.url.starts_with(&nginx.base));

    let res = client().get(&link.url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["server"], "nginx");
    assert_eq!(res.headers()[CONTENT_TYPE], "application/pdf");
    assert_eq!(
        res.headers()[CONTENT_DISPOSITION],
        "attachment; filename=\"_berblick 2026 _ _final_.pdf\"; filename*=UTF-8''%C3%9Cberblick%202026%20%E2%80%93%20%E2%80%9Cfinal%E2%80%9D.pdf"
    );
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert_eq!(res.headers()["cache-control"], "private, no-store");
    assert!(res.headers().get("x-accel-redirect").is_none(), "nginx consumes the header");
    assert_eq!(res.bytes().await.unwrap(), &data[..]);

    // Range: nginx answers it; a partial fetch does not count.
    let res = client().get(&link.url).header(RANGE, "bytes=100-199").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(res.headers()[CONTENT_RANGE], "bytes 100-199/1500000");
    assert_eq!(res.bytes().await.unwrap(), &data[100..200]);
    assert_eq!(server.vault.link(&link.link.id, 0).unwrap().link.downloads, 1);

    // The second whole download uses the link up; the third is refused by Sharelock.
    let res = client().get(&link.url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.bytes().await.unwrap().len(), data.len());
    let res = client().get(&link.url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::GONE);
    assert_eq!(res.text().await.unwrap(), "this link has been used up\n");
}

#[tokio::test]
async fn revoked_tampered_and_internal_requests_are_refused_through_nginx() {
    let (server, nginx) = behind_nginx().await;
    let file = server.add("secret.txt", b"TOP SECRET");
    let link = server.link(&file.file.id);
    let mut tampered = link.url.clone();
    let at = tampered.find("/d/").unwrap() + 3 + 16 + 1;
    tampered.replace_range(at..at + 1, if &link.url[at..at + 1] == "A" { "B" } else { "A" });
    assert_eq!(client().get(&tampered).send().await.unwrap().status(), StatusCode::FORBIDDEN);

    // The internal location answers only X-Accel-Redirect, never a client.
    let direct = client().get(format!("{}/_sharelock_store/{}", nginx.base, file.file.id)).send().await.unwrap();
    assert_eq!(direct.status(), StatusCode::NOT_FOUND);
    assert!(!direct.text().await.unwrap().contains("TOP SECRET"));

    server.vault.revoke_link(&link.link.id, sharelock::time::now()).unwrap();
    let res = client().get(&link.url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::GONE);
    assert_eq!(res.text().await.unwrap(), "this link was revoked\n");
}

#[tokio::test]
async fn uploads_stream_through_nginx_with_limits_intact() {
    let (server, _nginx) = behind_nginx().await;
    let slot = server.slot(NewSlot { max_size: 200_000, max_files: 5, ..Default::default() });
    let (base, query) = slot.url.split_once('?').unwrap();
    let data = bytes(150_000);
    let res = client().put(format!("{base}/scan.pdf?{query}")).body(data.clone()).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let received = server.vault.inbox().unwrap();
    assert_eq!(received.len(), 1);
    assert_eq!(std::fs::read(server.vault.store().path_of(&received[0].file.id)).unwrap(), data);
    let res = client().put(format!("{base}/big.bin?{query}")).body(bytes(300_000)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(server.vault.inbox().unwrap().len(), 1);
}

/// A refusal while nginx is still sending the body reaches the client as Sharelock's 413: the
/// server reads the rest a moment before it closes, so its answer is not overtaken by a reset,
/// which nginx would report as 502.
#[tokio::test]
async fn a_refused_upload_reaches_the_client_through_nginx_as_413() {
    let (server, _nginx) = behind_nginx().await;
    let slot = server.slot(NewSlot { max_size: 1_000_000, max_files: 5, ..Default::default() });
    let (base, query) = slot.url.split_once('?').unwrap();
    // With a declared length the refusal comes before the first byte is read; without one, when
    // the limit is crossed, mid-body.
    for (name, declared) in [("declared.bin", true), ("crossing.bin", false)] {
        let body = bytes(16 << 20);
        let request = client().put(format!("{base}/{name}?{query}"));
        let request = if declared {
            request.body(body)
        } else {
            let chunks = body.chunks(64 * 1024).map(|c| Ok::<_, std::io::Error>(c.to_vec())).collect::<Vec<_>>();
            request.body(reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)))
        };
        let res = request.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE, "{name}");
        assert!(res.text().await.unwrap().contains("too large"), "{name}");
    }
    assert!(server.vault.inbox().unwrap().is_empty());
}

#[tokio::test]
async fn nginx_checked_links_valid_expired_and_tampered() {
    let (server, _nginx) = behind_nginx().await;
    let data = bytes(10_000);
    let file = server.add("Café menu.pdf", &data);
    let now = sharelock::time::now();
    let valid = server.vault.nginx_link(&file.file.id, Lifetime::For(Duration::from_secs(3600)), now, None).unwrap();
    let res = client().get(&valid.url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[CONTENT_TYPE], "application/pdf");
    assert_eq!(res.headers()[CONTENT_DISPOSITION], "attachment");
    assert_eq!(res.bytes().await.unwrap(), &data[..]);

    let expired =
        server.vault.nginx_link(&file.file.id, Lifetime::For(Duration::from_secs(60)), now - 3600, None).unwrap();
    assert_eq!(client().get(&expired.url).send().await.unwrap().status(), StatusCode::GONE);

    let tampered = valid.url.replace("md5=", "md5=A");
    assert_eq!(client().get(&tampered).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    let longer =
        valid.url.replace(&format!("expires={}", valid.expires_at), &format!("expires={}", valid.expires_at + 86_400));
    assert_eq!(client().get(&longer).send().await.unwrap().status(), StatusCode::FORBIDDEN, "the expiry is signed");
    let other = server.add("other.pdf", b"other");
    let swapped = valid.url.replace(&file.file.id, &other.file.id);
    assert_eq!(client().get(&swapped).send().await.unwrap().status(), StatusCode::FORBIDDEN, "the file is signed");
}

#[test]
fn nginx_checked_links_must_expire_and_the_config_checks_out() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let src = tmp.path().join("a.txt");
    std::fs::write(&src, b"a").unwrap();
    let added = crate::support::sharelock_json(&data_dir, &["add", src.to_str().unwrap()]);
    let id = added[0]["id"].as_str().unwrap();
    let out = sharelock(&data_dir, &["link", id, "--nginx", "--expires", "never"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("must expire"));
    let link = crate::support::sharelock_json(&data_dir, &["link", id, "--nginx", "--expires", "2h"]);
    assert_eq!(link["checked_by"], "nginx");
    assert!(link["url"].as_str().unwrap().contains(&format!("/n/{id}/a.txt?md5=")));

    let out =
        sharelock(&data_dir, &["nginx-config", "--server-name", "files.example.org", "--listen", "127.0.0.1:8443"]);
    assert!(out.status.success());
    let conf = tmp.path().join("nginx.conf");
    std::fs::write(&conf, &out.stdout).unwrap();
    let test = Command::new(NGINX).arg("-t").arg("-c").arg(&conf).output().unwrap();
    assert!(test.status.success(), "{}", String::from_utf8_lossy(&test.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("server_name files.example.org;"));
    assert!(text.contains(&format!("alias {}/;", data_dir.canonicalize().unwrap().join("store").display())));
    for bad in [vec!["nginx-config", "--server-name", "a; evil"], vec!["nginx-config", "--offload-prefix", "/../"]] {
        assert!(!sharelock(&data_dir, &bad).status.success(), "{bad:?}");
    }
}

#[tokio::test]
async fn sendfile_offload_names_the_stored_file_by_its_encoded_path() {
    // A data dir whose path needs encoding: a space and a non-ASCII letter.
    let dir = tempfile::Builder::new().prefix("files é ").tempdir().unwrap();
    let server = Server::start_in(dir, ServerConfig { offload: Some(Offload::Sendfile), ..Default::default() }).await;
    let file = server.add("Résumé.pdf", b"resume");
    let link = server.link(&file.file.id);
    let res = client().get(&link.url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let path = server.vault.store().path_of(&file.file.id);
    let expected = path.to_str().unwrap().replace(' ', "%20").replace('é', "%C3%A9");
    assert!(expected.contains("files%20%C3%A9%20"), "{expected}");
    assert_eq!(res.headers()["x-sendfile"], expected.as_str());
    assert_eq!(res.headers()[CONTENT_TYPE], "application/pdf");
    assert!(res.headers()[CONTENT_DISPOSITION].to_str().unwrap().contains("R%C3%A9sum%C3%A9.pdf"));
    assert!(res.bytes().await.unwrap().is_empty(), "the web server in front sends the bytes");
    // A limited link is streamed by Sharelock itself, so its bytes are counted like any other.
    let limited = server.link_with(&file.file.id, NewLink { max_downloads: Some(1), ..Default::default() });
    let res = client().get(&limited.url).header(RANGE, "bytes=0-").send().await.unwrap();
    assert!(res.headers().get("x-sendfile").is_none());
    assert_eq!(res.bytes().await.unwrap(), &b"resume"[..]);
    assert_eq!(client().get(&limited.url).header(RANGE, "bytes=0-").send().await.unwrap().status(), StatusCode::GONE);
}

/// The red-team case: `curl -r 0-` (or a range naming every byte, or a suffix as long as the
/// file) five times on a one-time link behind nginx. Exactly one client gets the file, the rest
/// get 410, in both offload modes.
#[tokio::test]
async fn one_time_links_behind_nginx_are_one_time_whatever_the_range() {
    let (server, _nginx) = behind_nginx().await;
    let data = bytes(5_000_000);
    let file = server.add("five.bin", &data);
    for range in [None, Some("bytes=0-"), Some("bytes=0-4999999"), Some("bytes=-5000000"), Some("bytes=-6000000")] {
        let link = server.link_with(&file.file.id, NewLink { max_downloads: Some(1), ..Default::default() });
        let mut complete = 0;
        for _ in 0..5 {
            let mut req = client().get(&link.url);
            if let Some(range) = range {
                req = req.header(RANGE, range);
            }
            let res = req.send().await.unwrap();
            if res.status().is_success() {
                assert_eq!(res.bytes().await.unwrap(), &data[..], "{range:?}");
                complete += 1;
            } else {
                assert_eq!(res.status(), StatusCode::GONE, "{range:?}");
            }
        }
        assert_eq!(complete, 1, "{range:?}");
        assert_eq!(server.vault.link(&link.link.id, 0).unwrap().link.downloads, 1, "{range:?}");
    }
    // A link without a limit is still sent by nginx (X-Accel-Redirect), Range and all.
    let link = server.link(&file.file.id);
    let res = client().get(&link.url).header(RANGE, "bytes=10-19").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(res.bytes().await.unwrap(), &data[10..20]);
}

/// Two clients each asking all but the last byte of a one-time link through nginx: the byte
/// budget lets the first have its part and refuses the second.
#[tokio::test]
async fn ranges_behind_nginx_cannot_share_out_a_one_time_link() {
    let (server, _nginx) = behind_nginx().await;
    let data = bytes(5_000_000);
    let file = server.add("five.bin", &data);
    let link = server.link_with(&file.file.id, NewLink { max_downloads: Some(1), ..Default::default() });
    let first = client().get(&link.url).header(RANGE, "bytes=0-4999998").send().await.unwrap();
    assert_eq!(first.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(first.bytes().await.unwrap().len(), 4_999_999);
    let second = client().get(&link.url).header(RANGE, "bytes=0-4999998").send().await.unwrap();
    assert_eq!(second.status(), StatusCode::GONE);
}

/// A bot that reads the first bytes of a one-time link through nginx and hangs up: nginx, which
/// passes limited downloads through unbuffered, drops its connection to Sharelock with bytes
/// unread, so the reset reaches Sharelock and the download is given back. (A file small enough to
/// fit in nginx's buffers and both sockets' is all sent before the bot hangs up: SECURITY.md
/// lists that limit.)
#[tokio::test]
async fn a_bot_hanging_up_through_nginx_uses_nothing() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (server, nginx) = behind_nginx().await;
    let data = bytes(32 << 20);
    let file = server.add("big.bin", &data);
    let link = server.link_with(&file.file.id, NewLink { max_downloads: Some(1), ..Default::default() });
    let addr = nginx.base.trim_start_matches("http://");
    let mut bot = tokio::net::TcpStream::connect(addr).await.unwrap();
    let path = &link.url[nginx.base.len()..];
    bot.write_all(format!("GET {path} HTTP/1.1\r\nHost: sharelock\r\n\r\n").as_bytes()).await.unwrap();
    let mut first = [0u8; 444];
    bot.read_exact(&mut first).await.unwrap();
    assert!(first.starts_with(b"HTTP/1.1 200 OK"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(bot);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let after = server.vault.link(&link.link.id, 0).unwrap().link;
    assert_eq!(after.downloads, 0, "{after:?}");
    let res = client().get(&link.url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.bytes().await.unwrap().len(), data.len());
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(server.vault.link(&link.link.id, 0).unwrap().link.downloads, 1);
}

/// A certificate authority of the test's own and a certificate it signed for 127.0.0.1, as a
/// self-hosted deployment has them: `(ca.pem, cert.pem, key.pem)`.
pub fn self_signed_ca(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl").args(args).current_dir(dir).output().unwrap();
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    openssl(&[
        "req",
        "-x509",
        "-nodes",
        "-newkey",
        "rsa:2048",
        "-days",
        "2",
        "-subj",
        "/CN=Sharelock test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    openssl(&[
        "req",
        "-new",
        "-nodes",
        "-newkey",
        "rsa:2048",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "key.pem",
        "-out",
        "cert.csr",
    ]);
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "cert.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        "cert.pem",
    ]);
    (dir.join("ca.pem"), dir.join("cert.pem"), dir.join("key.pem"))
}

#[tokio::test]
async fn nginx_answers_https_with_the_given_certificate() {
    let config =
        ServerConfig { offload: Some(Offload::Nginx { prefix: "/_sharelock_store/".into() }), ..Default::default() };
    let server = Server::start_with(config).await;
    let (ca, cert, key) = self_signed_ca(server.dir.path());
    let data_dir = server.dir.path().join("data");
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let nginx = Nginx::start_with(&data_dir, server.addr, "https", &["--tls-cert", cert, "--tls-key", key]);
    let conf = std::fs::read_to_string(data_dir.join("nginx.conf")).unwrap();
    assert!(conf.contains(" ssl;") && conf.contains("ssl_certificate_key "), "{conf}");
    let events = conf.split("location = /api/v1/events").nth(1).expect("an events location");
    assert!(events.split('}').next().unwrap().contains("proxy_buffering off;"), "{conf}");

    server.vault.set_base_url(&nginx.base).unwrap();
    let file = server.add("report.pdf", b"%PDF over TLS");
    let link = server.link(&file.file.id);
    assert!(link.url.starts_with("https://127.0.0.1:"), "{}", link.url);
    // curl runs as a child process awaited without blocking: the server answers on this runtime.
    let curl = |extra: &[&str]| {
        tokio::process::Command::new("curl").args(["-sS", "--max-time", "10"]).args(extra).arg(&link.url).output()
    };
    let trusted = curl(&["--cacert", ca.to_str().unwrap()]).await.unwrap();
    assert!(trusted.status.success(), "{}", String::from_utf8_lossy(&trusted.stderr));
    assert_eq!(trusted.stdout, b"%PDF over TLS");
    // Without the CA, the certificate is not trusted: curl's "peer certificate cannot be
    // authenticated" (60), not a download.
    let untrusted = curl(&[]).await.unwrap();
    assert_eq!(untrusted.status.code(), Some(60), "{}", String::from_utf8_lossy(&untrusted.stderr));
    assert!(untrusted.stdout.is_empty());

    let bad = sharelock(&data_dir, &["nginx-config", "--tls-cert", cert, "--tls-key", "/nonexistent/key.pem"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("cannot read the TLS key /nonexistent/key.pem"));
    let half = sharelock(&data_dir, &["nginx-config", "--tls-cert", cert]);
    assert_eq!(half.status.code(), Some(2), "a certificate without its key is an argument error");
}
