//! Webhooks, black-box: the real `sharelock` binary serving, a real receiver on 127.0.0.1 (a
//! std `TcpListener` answering as each test says) recording what it gets.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde_json::Value;

use crate::support::{sharelock, sharelock_json, spawn_serve};

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    /// Header names in lower case.
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or_else(|| panic!("no {name} header in {self:?}"))
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }
}

/// How the receiver answers.
#[derive(Debug, Clone)]
enum Answer {
    /// These statuses in turn, then 200 for ever.
    Statuses(Vec<u16>),
    /// Reads the request, records it, and never answers (the connection stays open).
    Hang,
}

/// A webhook receiver on 127.0.0.1; it runs until the test process ends.
struct Receiver {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn start(answer: Answer) -> Receiver {
        Receiver::start_on(TcpListener::bind("127.0.0.1:0").unwrap(), answer)
    }

    fn start_on(listener: TcpListener, answer: Answer) -> Receiver {
        let addr = listener.local_addr().unwrap();
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let answers = Arc::new(Mutex::new(answer));
        let recorder = got.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (got, answers) = (recorder.clone(), answers.clone());
                std::thread::spawn(move || serve_one(stream, &got, &answers));
            }
        });
        Receiver { addr, got }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// What came for `path`, once at least `n` requests did (fails after 30 s).
    fn wait_for(&self, path: &str, n: usize) -> Vec<Received> {
        wait_until(&format!("{n} request(s) to {path}"), || {
            let got: Vec<Received> = self.got().into_iter().filter(|r| r.path == path).collect();
            (got.len() >= n).then_some(got)
        })
    }
}

fn serve_one(stream: TcpStream, got: &Mutex<Vec<Received>>, answers: &Mutex<Answer>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
        }
    }
    let length: usize = headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    got.lock().unwrap().push(Received { path, headers, body });
    let status = match &mut *answers.lock().unwrap() {
        Answer::Hang => None,
        Answer::Statuses(list) if list.is_empty() => Some(200),
        Answer::Statuses(list) => Some(list.remove(0)),
    };
    let mut stream = stream;
    match status {
        Some(status) => {
            let _ = write!(stream, "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
        // Held open, unanswered, until the client gives up.
        None => {
            let _ = stream.read_to_end(&mut Vec::new());
        }
    }
}

/// Polls `check` every 50 ms until it gives a value; fails after 30 s.
fn wait_until<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `sharelock serve` with short webhook timings; killed when dropped.
struct Serving {
    child: std::process::Child,
}

impl Serving {
    fn start(data: &Path) -> Serving {
        let envs = [
            ("SHARELOCK_WEBHOOK_TIMEOUT", "8s"),
            ("SHARELOCK_WEBHOOK_RETRY", "1s"),
            ("SHARELOCK_WEBHOOK_RETRY_MAX", "2s"),
            ("NO_PROXY", "127.0.0.1,localhost"),
        ];
        let (child, _) = spawn_serve(data, &["--no-announce"], &envs, std::process::Stdio::null());
        Serving { child }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Stores `name` in `tmp/data` and makes a link to it labelled "Dana" (after the server
/// started: the link takes its address); the link's URL.
fn shared(tmp: &Path, name: &str, bytes: &[u8]) -> String {
    let data = tmp.join("data");
    let source = tmp.join(name);
    std::fs::write(&source, bytes).unwrap();
    let id = sharelock_json(&data, &["add", source.to_str().unwrap()])[0]["id"].as_str().unwrap().to_string();
    let link = sharelock_json(&data, &["link", &id, "--label", "Dana"]);
    link["url"].as_str().unwrap().to_string()
}

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().no_proxy().timeout(Duration::from_secs(30)).build().unwrap()
}

fn download(url: &str) -> Vec<u8> {
    let res = http().get(url).send().unwrap();
    assert!(res.status().is_success(), "download answered {}", res.status());
    res.bytes().unwrap().to_vec()
}

/// `webhook add … --json`: (id, secret).
fn add_webhook(data: &Path, args: &[&str]) -> (String, String) {
    let mut all = vec!["webhook", "add"];
    all.extend_from_slice(args);
    let made = sharelock_json(data, &all);
    (made["id"].as_str().unwrap().to_string(), made["secret"].as_str().unwrap().to_string())
}

fn listed(data: &Path, id: &str) -> Value {
    let list = sharelock_json(data, &["webhook", "ls"]);
    list.as_array().unwrap().iter().find(|w| w["id"] == id).cloned().unwrap_or_else(|| panic!("{id} not in {list}"))
}

/// The signature header a receiver expects for `body` with `secret`, computed here from the
/// documented scheme: HMAC-SHA256 keyed with the secret's text, hex, after `sha256=`.
fn expected_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

#[test]
fn a_completed_download_is_posted_signed_as_json() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let receiver = Receiver::start(Answer::Statuses(vec![]));
    let (id, secret) = add_webhook(&data, &[&receiver.url("/hook")]);
    assert_eq!(secret.len(), 64, "256 bits in hex: {secret}");
    assert!(secret.bytes().all(|b| b.is_ascii_hexdigit()));
    let _server = Serving::start(&data);
    let url = shared(tmp.path(), "contract.pdf", b"%PDF-1.7 signed");

    assert_eq!(download(&url), b"%PDF-1.7 signed");
    let got = receiver.wait_for("/hook", 1);
    let post = &got[0];
    assert_eq!(post.header("content-type"), "application/json");
    assert_eq!(post.header("x-sharelock-event"), "download.completed");
    assert!(post.header("x-sharelock-delivery").parse::<i64>().is_ok(), "{post:?}");
    assert_eq!(post.header("x-sharelock-signature-256"), expected_signature(&secret, &post.body));
    let payload = post.json();
    assert_eq!(payload["event"], "download.completed");
    assert!(payload["seq"].as_i64().is_some_and(|s| s > 0), "{payload}");
    assert!(payload["at"].as_str().is_some_and(|at| at.ends_with('Z')), "{payload}");
    assert_eq!(payload["text"], "contract.pdf was downloaded (for Dana)");
    let access = &payload["access"];
    assert_eq!(access["kind"], "download");
    assert_eq!(access["state"], "completed");
    assert_eq!(access["name"], "contract.pdf");
    assert_eq!(access["label"], "Dana");
    assert_eq!(access["client"], "127.0.0.1");
    assert_eq!(access["bytes"], 15);

    let hook = wait_until("the delivery recorded", || {
        let hook = listed(&data, &id);
        (hook["delivered"] == 1).then_some(hook)
    });
    assert_eq!(hook["last_status"], 200);
    assert_eq!(hook["last_error"], Value::Null);
    assert_eq!((hook["failed"].as_u64(), hook["pending"].as_u64()), (Some(0), Some(0)));
    assert!(hook.get("secret").is_none(), "ls shows no secret: {hook}");
    // Only what the default events name: no download.started, no page view.
    assert_eq!(receiver.got().len(), 1, "{:?}", receiver.got());
}

#[test]
fn a_webhook_gets_only_the_events_it_asked_for() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let receiver = Receiver::start(Answer::Statuses(vec![]));
    add_webhook(&data, &[&receiver.url("/uploads"), "--events", "upload.received"]);
    add_webhook(&data, &[&receiver.url("/all"), "--events", "all"]);
    let _server = Serving::start(&data);
    let url = shared(tmp.path(), "photo.jpg", b"jpeg");
    let slot = sharelock_json(&data, &["slot", "--label", "Tax papers"]);

    download(&url);
    let (base, query) = slot["url"].as_str().unwrap().split_once('?').unwrap();
    let put = http().put(format!("{base}/scan.pdf?{query}")).body("scan").send().unwrap();
    assert!(put.status().is_success(), "upload answered {}", put.status());

    // The webhook for everything saw both (so both were queued) before the other is looked at.
    wait_until("download.completed and upload.received at /all", || {
        let events: Vec<String> = receiver
            .got()
            .iter()
            .filter(|r| r.path == "/all")
            .map(|r| r.header("x-sharelock-event").to_string())
            .collect();
        (events.iter().any(|e| e == "download.completed") && events.iter().any(|e| e == "upload.received"))
            .then_some(())
    });
    let uploads = receiver.wait_for("/uploads", 1);
    assert_eq!(uploads.len(), 1, "{uploads:?}");
    assert_eq!(uploads[0].header("x-sharelock-event"), "upload.received");
    let payload = uploads[0].json();
    assert_eq!(payload["access"]["name"], "scan.pdf");
    assert_eq!(payload["text"], "scan.pdf was received (in \"Tax papers\")");
}

#[test]
fn an_event_survives_a_receiver_down_and_a_restart_and_arrives_once() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // A port with nothing listening on it yet.
    let addr = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let (id, secret) = add_webhook(&data, &[&format!("http://{addr}/hook")]);
    let server = Serving::start(&data);
    let url = shared(tmp.path(), "contract.pdf", b"contract");

    download(&url);
    let hook = wait_until("a failed attempt", || {
        let hook = listed(&data, &id);
        hook["last_error"].is_string().then_some(hook)
    });
    assert_eq!(hook["pending"], 1);
    assert_eq!(hook["last_status"], Value::Null);
    assert!(hook["last_error"].as_str().unwrap().contains("connect"), "{hook}");
    // Killed, not stopped: nothing gets a chance to be written on the way out.
    drop(server);

    let _server = Serving::start(&data);
    // Up again, it refuses once (503), then takes it.
    let receiver = Receiver::start_on(TcpListener::bind(addr).unwrap(), Answer::Statuses(vec![503]));
    let got = receiver.wait_for("/hook", 2);
    let hook = wait_until("the delivery recorded", || {
        let hook = listed(&data, &id);
        (hook["delivered"] == 1).then_some(hook)
    });
    assert_eq!((hook["pending"].as_u64(), hook["failed"].as_u64()), (Some(0), Some(0)));
    assert_eq!(hook["last_status"], 200);
    let (refused, taken) = (&got[0], &got[1]);
    assert_eq!(refused.header("x-sharelock-delivery"), taken.header("x-sharelock-delivery"));
    assert_eq!(refused.body, taken.body, "a retry sends the same bytes");
    assert_eq!(taken.header("x-sharelock-signature-256"), expected_signature(&secret, &taken.body));
    assert_eq!(taken.json()["event"], "download.completed");
    // Delivered: never sent again (two poll rounds and more later).
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(receiver.got().len(), 2, "{:?}", receiver.got());
}

#[test]
fn a_receiver_that_hangs_never_delays_a_download() {
    let tmp = tempfile::tempdir().unwrap();
    let data = bytes_of_size(256 * 1024);
    let data_dir = tmp.path().join("data");
    let receiver = Receiver::start(Answer::Hang);
    let (id, _) = add_webhook(&data_dir, &[&receiver.url("/hook")]);
    let _server = Serving::start(&data_dir);
    let url = shared(tmp.path(), "big.bin", &data);

    assert_eq!(download(&url), data);
    // The first event's attempt is now in flight, and hangs.
    receiver.wait_for("/hook", 1);
    // Downloads go on while it hangs: each completes before the attempt has even timed out.
    for _ in 0..3 {
        assert_eq!(download(&url), data);
    }
    let hook = listed(&data_dir, &id);
    assert_eq!(hook["last_error"], Value::Null, "the attempt was still hanging: {hook}");
    assert_eq!(hook["last_attempt_at"], Value::Null, "{hook}");
    // One in flight per webhook: the later events wait their turn.
    assert_eq!(receiver.got().len(), 1);

    let hook = wait_until("the timeout recorded", || {
        let hook = listed(&data_dir, &id);
        hook["last_error"].is_string().then_some(hook)
    });
    assert!(hook["last_error"].as_str().unwrap().contains("timed out"), "{hook}");
    assert_eq!(hook["last_status"], Value::Null);
    assert!(hook["last_attempt_at"].is_string(), "{hook}");
    assert_eq!(hook["delivered"], 0);
}

#[test]
fn ntfy_gets_the_sentence_with_title_and_tags() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let receiver = Receiver::start(Answer::Statuses(vec![]));
    let (_, secret) = add_webhook(&data, &[&receiver.url("/topic"), "--format", "ntfy"]);
    let _server = Serving::start(&data);
    let url = shared(tmp.path(), "contract.pdf", b"contract");

    download(&url);
    let got = receiver.wait_for("/topic", 1);
    let post = &got[0];
    assert_eq!(String::from_utf8_lossy(&post.body), "contract.pdf was downloaded (for Dana)");
    assert_eq!(post.header("title"), "Sharelock");
    assert!(post.header("tags").contains("download.completed"), "{post:?}");
    assert!(post.header("content-type").starts_with("text/plain"), "{post:?}");
    assert_eq!(post.header("x-sharelock-signature-256"), expected_signature(&secret, &post.body));
}

#[test]
fn bad_webhook_input_is_refused_and_nothing_is_stored() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let refused = |args: &[&str], says: &str| {
        let out = sharelock(&data, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    };
    refused(&["webhook", "add", "ftp://x"], "http:// or https://");
    refused(&["webhook", "add", "not a url"], "invalid webhook URL");
    refused(&["webhook", "add", "http://127.0.0.1:9/", "--events", "download.done"], "download.completed");
    refused(&["webhook", "add", "http://127.0.0.1:9/", "--events", "download.done"], "\"download.done\"");
    refused(&["webhook", "add", "http://127.0.0.1:9/", "--format", "xml"], "json or ntfy");
    refused(&["webhook", "rm", "aaaaaaaaaaaaaaaa"], "no webhook");
    assert_eq!(sharelock_json(&data, &["webhook", "ls"]), serde_json::json!([]));

    let (id, secret) = add_webhook(&data, &["https://ntfy.sh/topic", "--format", "ntfy", "--events", "all"]);
    let text = String::from_utf8_lossy(&sharelock(&data, &["webhook", "ls"]).stdout).into_owned();
    assert!(text.contains(&id) && text.contains("https://ntfy.sh/topic") && !text.contains(&secret), "{text}");
    let out = sharelock(&data, &["webhook", "rm", &id]);
    assert!(out.status.success());
    assert_eq!(sharelock_json(&data, &["webhook", "ls"]), serde_json::json!([]));
}

fn bytes_of_size(len: usize) -> Vec<u8> {
    crate::support::bytes(len)
}
