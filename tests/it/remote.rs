//! The CLI against a remote Sharelock (`--server`, `--token`, `--ca-cert`): the errors people
//! meet (an unreachable server, a bad token, a missing scope, an untrusted certificate, options
//! that do not go together), HTTPS through nginx with a self-signed CA, and the client's own
//! operations that the CLI does not use (saving a file's content, the change feed).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sharelock::manage::Manage;
use sharelock::remote::{Remote, RemoteError};

use crate::support::{Target, bytes, make_token, sha256_hex, sharelock, sharelock_json, spawn_serve};

/// Runs the CLI with these options and arguments, on an empty client data dir.
fn cli(dir: &Path, args: &[&str]) -> Output {
    sharelock(&dir.join("client-data"), args)
}

/// A failed run: exit code 1, nothing on stdout, one line on stderr; the line.
fn failure(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn an_unreachable_server_is_named_with_the_cause() {
    let tmp = tempfile::tempdir().unwrap();
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let server = format!("http://127.0.0.1:{port}");
    let out = cli(tmp.path(), &["--server", &server, "--token", "slk_abc_def", "ls"]);
    let stderr = failure(&out);
    assert!(stderr.starts_with(&format!("sharelock: cannot reach the Sharelock server at {server}/: ")), "{stderr}");
    assert!(stderr.contains("onnection refused"), "{stderr}");
    assert!(!stderr.contains("os error"), "no error number for people: {stderr}");
    assert!(!tmp.path().join("client-data").exists(), "nothing local was made");
}

#[test]
fn a_bad_or_revoked_token_and_a_missing_scope_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let reader = make_token(&data_dir, "read");
    let revoked = make_token(&data_dir, "");
    let (child, base) = spawn_serve(&data_dir, &[], &[], std::process::Stdio::null());
    let _server = Killed(child);
    let f = tmp.path().join("a.txt");
    std::fs::write(&f, b"a").unwrap();
    let f = f.to_str().unwrap();

    let unknown = format!("slk_{}_{}", "a".repeat(12), "b".repeat(43));
    for token in [unknown.as_str(), "not-a-token"] {
        let stderr = failure(&cli(tmp.path(), &["--server", &base, "--token", token, "ls"]));
        assert!(stderr.starts_with("sharelock: the server refused the token ("), "{stderr}");
        assert!(stderr.contains("check --token or SHARELOCK_TOKEN"), "{stderr}");
        assert!(!stderr.contains(token), "the token is not repeated: {stderr}");
    }

    // Revoked on the server's data dir: refused from the next request.
    let id = revoked.split('_').nth(1).unwrap();
    assert_eq!(cli(tmp.path(), &["--server", &base, "--token", &revoked, "ls"]).status.code(), Some(0));
    sharelock_json(&data_dir, &["token", "revoke", id]);
    let stderr = failure(&cli(tmp.path(), &["--server", &base, "--token", &revoked, "ls"]));
    assert!(stderr.starts_with("sharelock: the server refused the token"), "{stderr}");

    // A read-only token lists but changes nothing; the message names the scope needed.
    let listed = cli(tmp.path(), &["--json", "--server", &base, "--token", &reader, "ls"]);
    assert_eq!(listed.stdout, b"[]\n", "{}", String::from_utf8_lossy(&listed.stderr));
    // A large file too: the server answers before the body is sent and closes, which the
    // client must still read as the missing scope, not as a cut connection.
    let big = tmp.path().join("big.bin");
    std::fs::write(&big, bytes(16 << 20)).unwrap();
    for (args, scope) in
        [(vec!["add", f], "upload"), (vec!["add", big.to_str().unwrap()], "upload"), (vec!["slot"], "write")]
    {
        let mut all = vec!["--server", &base, "--token", &reader];
        all.extend(args.iter().copied());
        let stderr = failure(&cli(tmp.path(), &all));
        assert!(stderr.starts_with("sharelock: the token lacks the scope this needs: "), "{stderr}");
        assert!(stderr.contains(scope), "{args:?}: {stderr}");
    }
    assert!(sharelock_json(&data_dir, &["ls"]).as_array().unwrap().is_empty());
    assert!(sharelock_json(&data_dir, &["slots"]).as_array().unwrap().is_empty());
}

/// Kills the server when dropped, so a failing assertion leaves none behind.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn options_that_do_not_go_together_are_refused_before_anything_is_sent() {
    let tmp = tempfile::tempdir().unwrap();
    // Nothing listens here; every case below fails before it would try.
    let server = "http://127.0.0.1:9";
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--server", server, "ls"], "--server needs a token: give --token or SHARELOCK_TOKEN"),
        (vec!["--token", "slk_a_b", "ls"], "--token is for a server: give --server URL"),
        (vec!["--ca-cert", "/etc/hostname", "ls"], "--ca-cert is for a server"),
        (
            vec!["--server", server, "--token", "slk_a_b", "serve"],
            "`sharelock serve` works on this computer's data dir",
        ),
        (
            vec!["--server", server, "--token", "slk_a_b", "verify"],
            "`sharelock verify` works on this computer's data dir",
        ),
        (vec!["--server", server, "--token", "slk_a_b", "token", "ls"], "`sharelock token` works on this computer's"),
        (
            vec!["--server", server, "--token", "slk_a_b", "link", "x", "--nginx"],
            "`link --nginx` signs with the server's",
        ),
        (vec!["--server", "ftp://example.org", "--token", "slk_a_b", "ls"], "invalid server URL \"ftp://example.org\""),
        (vec!["--server", server, "--token", "slk_a_b", "--ca-cert", "/nonexistent.pem", "ls"], "cannot read the CA"),
        (vec!["--server", server, "--token", "slk_a_b", "--ca-cert", "/etc/hostname", "ls"], "no PEM certificate"),
    ];
    for (args, expected) in cases {
        let stderr = failure(&cli(tmp.path(), &args));
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    // The environment gives the same options.
    let out = Command::new(env!("CARGO_BIN_EXE_sharelock"))
        .args(["ls"])
        .env("SHARELOCK_SERVER", server)
        .env_remove("SHARELOCK_TOKEN")
        .output()
        .unwrap();
    assert!(failure(&out).contains("--server needs a token"));
}

/// nginx in front of `sharelock serve`, with TLS from a CA made for the test.
struct TlsFront {
    nginx: Child,
    _serve: Killed,
    base: String,
    ca: std::path::PathBuf,
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-QUIT", &self.nginx.id().to_string()]).status();
        let _ = self.nginx.wait();
    }
}

/// A self-signed CA and a certificate it signs for 127.0.0.1; nginx with the configuration
/// `sharelock nginx-config --tls-cert … --tls-key …` prints; links built with nginx's URL.
fn tls_front(dir: &Path, data_dir: &Path) -> TlsFront {
    let pki = dir.join("pki");
    std::fs::create_dir_all(&pki).unwrap();
    let (ca, cert, key) = crate::nginx::self_signed_ca(&pki);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listen = format!("127.0.0.1:{port}");
    let base = format!("https://{listen}");
    let (serve, upstream) = spawn_serve(data_dir, &["--base-url", &base], &[], std::process::Stdio::null());
    let serve = Killed(serve);
    let upstream = upstream.trim_start_matches("http://").trim_end_matches('/').to_string();
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let args = ["nginx-config", "--listen", &listen, "--upstream", &upstream, "--tls-cert", cert, "--tls-key", key];
    let out = sharelock(data_dir, &args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let conf_path = data_dir.join("nginx-tls.conf");
    std::fs::write(&conf_path, &out.stdout).unwrap();
    let nginx = Command::new("/usr/sbin/nginx").arg("-c").arg(&conf_path).args(["-g", "daemon off;"]).spawn().unwrap();
    let started = Instant::now();
    while TcpStream::connect(&listen).is_err() {
        assert!(started.elapsed() < Duration::from_secs(10), "nginx did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    TlsFront { nginx, _serve: serve, base, ca }
}

#[test]
fn https_through_nginx_with_a_self_signed_ca_needs_ca_cert() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let token = make_token(&data_dir, "");
    let front = tls_front(tmp.path(), &data_dir);
    let ca = front.ca.to_str().unwrap();
    let f = tmp.path().join("big.bin");
    let data = bytes(3 << 20);
    std::fs::write(&f, &data).unwrap();

    // Without the CA: a clear TLS error that says what to do.
    let stderr = failure(&cli(tmp.path(), &["--server", &front.base, "--token", &token, "ls"]));
    assert!(
        stderr.starts_with(&format!(
            "sharelock: the Sharelock server at {}/ has a TLS certificate this computer does not trust (",
            front.base
        )),
        "{stderr}"
    );
    assert!(stderr.contains("give the CA certificate with --ca-cert FILE"), "{stderr}");

    // With it (as an option, then from the environment): add, link, ls through nginx.
    let added = cli(
        tmp.path(),
        &["--json", "--server", &front.base, "--token", &token, "--ca-cert", ca, "add", f.to_str().unwrap()],
    );
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    let added: serde_json::Value = serde_json::from_slice(&added.stdout).unwrap();
    assert_eq!(added[0]["sha256"], sha256_hex(&data));
    let id = added[0]["id"].as_str().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sharelock"))
        .args(["--json", "link", id, "--max-downloads", "1"])
        .env("SHARELOCK_SERVER", &front.base)
        .env("SHARELOCK_TOKEN", &token)
        .env("SHARELOCK_CA_CERT", ca)
        .env("SHARELOCK_DATA_DIR", tmp.path().join("client-data"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let link: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(link["url"].as_str().unwrap().starts_with(&format!("{}/d/", front.base)), "{link}");
    assert_eq!(sharelock_json(&data_dir, &["links", id])[0]["id"], link["id"]);
    assert!(!tmp.path().join("client-data").exists());

    // Live events through nginx: buffered, a small event would wait for kilobytes more; its own
    // location passes it on as it comes.
    let remote = Remote::connect(&front.base, &token, Some(&front.ca)).unwrap();
    let mut changes = remote.changes().unwrap();
    assert!(!changes.wait(Duration::from_millis(300)).unwrap(), "no change yet");
    sharelock_json(&data_dir, &["revoke", link["id"].as_str().unwrap()]);
    assert!(changes.wait(Duration::from_secs(10)).unwrap(), "the revocation was heard through nginx");
}

/// A `sharelock serve` with a token, and a client of it.
fn client_of_a_server(dir: &Path) -> (Target, Remote) {
    let target = Target::remote(dir);
    let server = target.remote.as_ref().unwrap();
    let remote = Remote::connect(&server.base, &server.token, None).unwrap();
    (target, remote)
}

#[test]
fn the_client_saves_content_whole_and_reports_upload_progress() {
    let tmp = tempfile::tempdir().unwrap();
    let (target, remote) = client_of_a_server(tmp.path());
    let who = remote.whoami().unwrap();
    assert_eq!(who.name.as_deref(), Some("tests"));
    assert!(who.scopes.iter().any(|s| s == "upload"), "{:?}", who.scopes);

    // Uploads report their progress up to the whole size.
    let f = tmp.path().join("photo.jpg");
    let data = bytes(2_000_000);
    std::fs::write(&f, &data).unwrap();
    let mut seen = Vec::new();
    let file = remote.add_file(&f, false, &mut |n| seen.push(n)).unwrap();
    assert_eq!(file.file.size, data.len() as u64);
    assert_eq!(file.file.sha256, sha256_hex(&data));
    assert_eq!(seen.last(), Some(&(data.len() as u64)));
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
    assert_eq!(std::fs::read(target.data_dir.join("store").join(&file.file.id)).unwrap(), data);

    // Saved whole, over an older copy too; an unknown id leaves nothing behind.
    let saves = tmp.path().join("saves");
    std::fs::create_dir_all(&saves).unwrap();
    let dest = saves.join("photo.jpg");
    std::fs::write(&dest, b"older").unwrap();
    remote.save_file(&file.file.id, &dest).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), data);
    let missing = remote.save_file("nosuchfileid0000", &saves.join("missing.jpg")).unwrap_err();
    assert!(
        matches!(&missing, sharelock::Error::NotFound { kind: "file", id } if id == "nosuchfileid0000"),
        "{missing:?}"
    );
    assert_eq!(crate::support::names_in(&saves), ["photo.jpg"]);

    // Thumbnails come through the API: an image has one, other bytes have none.
    assert!(remote.thumbnail(&file.file.id).unwrap().is_none(), "random bytes named .jpg");
    let png = tmp.path().join("dot.png");
    image::RgbImage::from_pixel(300, 30, image::Rgb([200, 0, 0])).save(&png).unwrap();
    let dot = remote.add_file(&png, false, &mut |_| {}).unwrap();
    let thumb = remote.thumbnail(&dot.file.id).unwrap().expect("an image has a thumbnail");
    assert_eq!(thumb.content_type, "image/jpeg");
    assert_eq!(image::load_from_memory(&thumb.bytes).unwrap().width(), 256);
    let local = sharelock::Vault::open(&target.data_dir).unwrap();
    assert_eq!(Some(thumb.etag), local.thumbnail(&dot.file.id).unwrap().map(|t| t.etag), "the same as kept");

    // A token the server does not know reads as a bad token, typed.
    let server = target.remote.as_ref().unwrap();
    let bad = Remote::connect(&server.base, "slk_x_y", None).unwrap();
    assert!(matches!(bad.whoami(), Err(sharelock::Error::Remote(RemoteError::BadToken { .. }))));
}

#[test]
fn the_client_hears_of_changes_made_by_any_process() {
    let tmp = tempfile::tempdir().unwrap();
    let (target, remote) = client_of_a_server(tmp.path());
    let mut changes = remote.changes().unwrap();
    assert!(!changes.wait(Duration::from_millis(300)).unwrap(), "no change yet");
    // Another process adds a file on the server's data dir.
    let f = tmp.path().join("a.txt");
    std::fs::write(&f, b"a").unwrap();
    sharelock_json(&target.data_dir, &["add", f.to_str().unwrap()]);
    assert!(changes.wait(Duration::from_secs(10)).unwrap(), "the addition was heard");
}

/// A peer that answers the events request with an event stream's headers and then says nothing
/// more, as a connection that died silently or a proxy gone quiet: counts its connections.
fn silent_events_peer(answer: bool) -> (String, Arc<AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    std::thread::spawn(move || {
        let mut open = Vec::new();
        for stream in listener.incoming().take(5) {
            let mut stream = stream.unwrap();
            let mut request = Vec::new();
            let mut byte = [0u8; 1];
            while !request.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                request.push(byte[0]);
            }
            counted.fetch_add(1, Ordering::SeqCst);
            if answer {
                let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
                stream.write_all(head.as_bytes()).unwrap();
            }
            open.push(stream);
        }
    });
    (url, connections)
}

#[test]
fn an_event_stream_gone_silent_is_opened_again_and_a_silent_server_is_an_error() {
    let (url, connections) = silent_events_peer(true);
    let remote = Remote::connect(&url, "slk_a_b", None).unwrap().with_events_session(Duration::from_secs(1));
    let mut changes = remote.changes().unwrap();
    // Nothing comes on the first stream; it is given up and opened again, and what happened
    // meanwhile is unknown, so the feed says something changed.
    assert!(changes.wait(Duration::from_secs(15)).unwrap(), "the silent stream was given up");
    assert!(changes.wait(Duration::from_secs(15)).unwrap(), "the stream opened again was given up too");
    assert!(connections.load(Ordering::SeqCst) >= 2, "the stream was opened again");

    // A server that takes the request and never answers it: an error, not a caller held forever.
    let (url, connections) = silent_events_peer(false);
    let remote = Remote::connect(&url, "slk_a_b", None).unwrap().with_events_session(Duration::from_secs(1));
    let error = remote.changes().err().expect("no answer is an error").to_string();
    assert!(error.contains(&url), "{error}");
    assert_eq!(connections.load(Ordering::SeqCst), 1);
}
