//! The access history, black-box: real requests to a real server, what it records (read back
//! through the vault, the CLI and the API), the notices, the retention and turning it off.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::{RANGE, USER_AGENT};
use sharelock::history::{Access, DownloadState, Event, FeedEntry, Kind, Query};
use sharelock::http::ServerConfig;
use sharelock::vault::{LinkEdit, NewLink, NewSlot};

use crate::support::{Server, Target, bytes, client, lifetime, make_token, sharelock, sharelock_json, spawn_serve};

/// How long a test waits for the batch to be written (it is written every 250 ms).
const WAIT: Duration = Duration::from_secs(10);

/// The rows of `query` once `done` holds for them, or a failure naming what was there.
async fn rows_when(server: &Server, query: Query, done: impl Fn(&[Access]) -> bool) -> Vec<Access> {
    let until = Instant::now() + WAIT;
    loop {
        let rows = server.vault.history(&query).unwrap();
        if done(&rows) {
            return rows;
        }
        assert!(Instant::now() < until, "the history never got there: {rows:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn of_link(id: &str) -> Query {
    Query { link_id: Some(id.to_string()), ..Query::default() }
}

fn feed(server: &Server) -> Vec<FeedEntry> {
    server.vault.history_feed(0, 1000).unwrap()
}

fn events(feed: &[FeedEntry]) -> Vec<Event> {
    feed.iter().map(|e| e.event).collect()
}

#[tokio::test]
async fn a_completed_download_is_one_completed_row_with_the_client_and_its_agent() {
    let server = Server::start().await;
    let data = bytes(200_000);
    let file = server.add("contract.pdf", &data);
    let new = NewLink { label: Some("Dana".into()), ..NewLink::default() };
    let link = server.link_with(&file.file.id, new);
    let res = client().get(&link.url).header(USER_AGENT, "Receipt/1.0").send().await.unwrap();
    assert_eq!(res.bytes().await.unwrap(), data);

    let rows = rows_when(&server, of_link(&link.link.id), |r| !r.is_empty()).await;
    assert_eq!(rows.len(), 1, "{rows:#?}");
    let row = &rows[0];
    assert_eq!((row.kind, row.state), (Kind::Download, Some(DownloadState::Completed)));
    assert_eq!(row.client.as_deref(), Some("127.0.0.1"));
    assert_eq!(row.user_agent.as_deref(), Some("Receipt/1.0"));
    assert_eq!((row.bytes, row.requests), (200_000, 1));
    assert_eq!((row.name.as_deref(), row.label.as_deref()), (Some("contract.pdf"), Some("Dana")));
    assert_eq!(row.file_id.as_deref(), Some(file.file.id.as_str()));
    let feed = feed(&server);
    // Complete by the time it was recorded: one entry, completed (no started entry before it).
    assert_eq!(events(&feed), [Event::DownloadCompleted]);
    assert_eq!(sharelock::history::describe(&feed[0]), "contract.pdf was downloaded (for Dana)");
    // The lists show the last access.
    let link_now = server.vault.link(&link.link.id, 0).unwrap();
    assert_eq!(link_now.link.last_access_at, Some(row.last_at));
    assert_eq!(server.vault.file(&file.file.id).unwrap().last_access_at, Some(row.last_at));
}

#[tokio::test]
async fn a_download_resumed_with_range_is_one_row_that_completes() {
    let server = Server::start().await;
    let data = bytes(300_000);
    let file = server.add("video.mp4", &data);
    let link = server.link(&file.file.id);
    // A download cut after 100,000 bytes, then resumed from there as `curl -C -` does.
    let first = client().get(&link.url).header(RANGE, "bytes=0-99999").send().await.unwrap();
    assert_eq!(first.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(first.bytes().await.unwrap().len(), 100_000);
    let partial = rows_when(&server, of_link(&link.link.id), |r| r.len() == 1).await;
    assert_eq!(partial[0].state, Some(DownloadState::Partial));
    let rest = client().get(&link.url).header(RANGE, "bytes=100000-").send().await.unwrap();
    assert_eq!(rest.bytes().await.unwrap(), &data[100_000..]);

    let rows = rows_when(&server, of_link(&link.link.id), |r| {
        r.first().is_some_and(|a| a.state == Some(DownloadState::Completed))
    })
    .await;
    assert_eq!(rows.len(), 1, "one client resuming is one download: {rows:#?}");
    assert_eq!((rows[0].bytes, rows[0].requests), (300_000, 2));
    assert_eq!(rows[0].id, partial[0].id);
    assert_eq!(events(&feed(&server)), [Event::DownloadStarted, Event::DownloadCompleted]);
    assert_eq!(rows[0].downloads, 1);
    // The same client downloading the whole file again adds to its row, without a feed entry.
    client().get(&link.url).send().await.unwrap().bytes().await.unwrap();
    let rows = rows_when(&server, of_link(&link.link.id), |r| r.first().is_some_and(|a| a.downloads == 2)).await;
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!((rows[0].bytes, rows[0].requests), (600_000, 3));
    // A new resumable download after it is a new row.
    client().get(&link.url).header(RANGE, "bytes=0-9").send().await.unwrap().bytes().await.unwrap();
    let rows = rows_when(&server, of_link(&link.link.id), |r| r.len() == 2).await;
    assert_eq!(rows[0].state, Some(DownloadState::Partial), "{rows:#?}");
    assert_eq!(events(&feed(&server)), [Event::DownloadStarted, Event::DownloadCompleted, Event::DownloadStarted]);
}

#[tokio::test]
async fn a_head_records_nothing_and_a_landing_page_view_is_a_row() {
    let server = Server::start().await;
    let file = server.add("a.txt", b"hello");
    let link = server.link(&file.file.id);
    assert_eq!(client().head(&link.url).send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(client().get(&link.page_url).send().await.unwrap().status(), StatusCode::OK);
    // Written in the same batch as the HEAD or after it: once the view is there, the HEAD was
    // written too, if it was recorded at all.
    let rows = rows_when(&server, of_link(&link.link.id), |r| !r.is_empty()).await;
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!((rows[0].kind, rows[0].state), (Kind::PageViewed, None));
    assert_eq!(events(&feed(&server)), [Event::PageViewed]);
    assert_eq!(server.vault.link(&link.link.id, 0).unwrap().link.last_access_at, None, "a view is not a download");
}

/// The link URL with its signature replaced by another of the same shape.
fn forged(url: &str) -> String {
    let mut parts: Vec<String> = url.split('/').map(String::from).collect();
    parts[5] = "A".repeat(43);
    parts.join("/")
}

#[tokio::test]
async fn refusals_are_recorded_once_per_client_with_the_address_behind_a_trusted_proxy() {
    let config = ServerConfig { trusted_proxies: vec!["127.0.0.1".parse().unwrap()], ..Default::default() };
    let server = Server::start_with(config).await;
    let file = server.add("a.txt", b"hello");
    let link = server.link(&file.file.id);
    let bad = forged(&link.url);
    // A flood of bad signatures from one client behind the proxy: 403s, then 429s.
    let mut seen = Vec::new();
    let proxy = client();
    for _ in 0..40 {
        let res = proxy.get(&bad).header("x-forwarded-for", "203.0.113.7").send().await.unwrap();
        seen.push(res.status());
    }
    assert_eq!(seen[0], StatusCode::FORBIDDEN);
    assert_eq!(seen[39], StatusCode::TOO_MANY_REQUESTS, "{seen:?}");
    let forbidden = seen.iter().filter(|s| **s == StatusCode::FORBIDDEN).count() as u64;
    // A made-up link id leaves nothing.
    let unknown = bad.replace(&link.link.id, "zzzzzzzzzzzzzzzz");
    assert_eq!(client().get(&unknown).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    let rows = rows_when(&server, of_link(&link.link.id), |r| r.len() == 2).await;
    for row in &rows {
        assert_eq!(row.kind, Kind::AccessRefused);
        assert_eq!(row.client.as_deref(), Some("203.0.113.7"), "the forwarded client, not the proxy");
    }
    let by_status = |s: u16| rows.iter().find(|r| r.status == Some(s)).unwrap_or_else(|| panic!("{rows:#?}"));
    assert_eq!(by_status(403).requests, forbidden);
    assert_eq!(by_status(403).reason.as_deref(), Some("invalid signature"));
    assert_eq!(by_status(429).requests, 40 - forbidden);
    assert_eq!(events(&feed(&server)), [Event::AccessRefused, Event::AccessRefused], "a flood is one entry each");
    assert_eq!(server.vault.history(&Query::default()).unwrap().len(), 2);

    // A revoked link: 410, with why.
    server.vault.revoke_link(&link.link.id, sharelock::time::now()).unwrap();
    assert_eq!(client().get(&link.url).send().await.unwrap().status(), StatusCode::GONE);
    let rows = rows_when(&server, of_link(&link.link.id), |r| r.len() == 3).await;
    let gone = rows.iter().find(|r| r.status == Some(410)).unwrap();
    assert_eq!(gone.reason.as_deref(), Some("this link was revoked"));
    assert_eq!(gone.client.as_deref(), Some("127.0.0.1"), "no X-Forwarded-For: the proxy's peer address");
    let last = feed(&server).pop().unwrap();
    assert_eq!(sharelock::history::describe(&last), "A request for a.txt was refused (410: this link was revoked)");
}

fn put_url(slot_url: &str, name: &str) -> String {
    let (base, query) = slot_url.split_once('?').unwrap();
    format!("{base}/{name}?{query}")
}

#[tokio::test]
async fn uploads_received_and_refused_are_recorded() {
    let server = Server::start().await;
    let new = NewSlot { max_size: 1000, max_files: 2, label: Some("Tax papers".into()), ..NewSlot::default() };
    let slot = server.slot(new);
    let res = client().put(put_url(&slot.url, "scan.pdf")).body(vec![7u8; 600]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = client().put(put_url(&slot.url, "huge.pdf")).body(vec![7u8; 5000]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let query = Query { slot_id: Some(slot.slot.id.clone()), ..Query::default() };
    let rows = rows_when(&server, query, |r| r.len() == 2).await;
    let received = rows.iter().find(|r| r.kind == Kind::UploadReceived).unwrap();
    assert_eq!((received.name.as_deref(), received.bytes), (Some("scan.pdf"), 600));
    assert_eq!(received.label.as_deref(), Some("Tax papers"));
    let stored = server.vault.files().unwrap();
    assert_eq!(received.file_id.as_deref(), Some(stored[0].file.id.as_str()));
    let refused = rows.iter().find(|r| r.kind == Kind::UploadRefused).unwrap();
    assert_eq!((refused.status, refused.name.as_deref()), (Some(413), Some("huge.pdf")));
    let feed = feed(&server);
    assert_eq!(events(&feed), [Event::UploadReceived, Event::UploadRefused]);
    assert_eq!(sharelock::history::describe(&feed[0]), "scan.pdf was received (in \"Tax papers\")");
}

#[tokio::test]
async fn public_fetches_are_recorded() {
    let server = Server::start().await;
    let file = server.add("logo.png", &bytes(1000));
    let public = server.vault.set_public(&file.file.id, true).unwrap().public_url.unwrap();
    client().get(&public).send().await.unwrap().bytes().await.unwrap();
    let query = Query { file_id: Some(file.file.id.clone()), ..Query::default() };
    let rows = rows_when(&server, query, |r| !r.is_empty()).await;
    assert_eq!(
        (rows[0].kind, rows[0].state, rows[0].link_id.as_deref()),
        (Kind::PublicFetched, Some(DownloadState::Completed), None)
    );
    assert_eq!(events(&feed(&server)), [Event::PublicFetched, Event::DownloadCompleted]);
    assert!(server.vault.file(&file.file.id).unwrap().last_access_at.is_some());
}

#[tokio::test]
async fn links_and_slots_that_end_are_noticed_once() {
    let server = Server::start().await;
    let now = sharelock::time::now();
    let file = server.add("contract.pdf", b"%PDF-1.4");
    let one_time = NewLink { max_downloads: Some(1), label: Some("Dana".into()), ..NewLink::default() };
    let one_time = server.link_with(&file.file.id, one_time);
    client().get(&one_time.url).send().await.unwrap().bytes().await.unwrap();
    // Noticed when its last download is written, not at the next round.
    let feed_now = |server: &Server| events(&feed(server));
    let until = Instant::now() + WAIT;
    while !feed_now(&server).contains(&Event::LinkExhausted) {
        assert!(Instant::now() < until, "{:?}", feed_now(&server));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A link that expired a few seconds ago, and a slot that did, and a slot that filled.
    let expiring = server.link(&file.file.id);
    server
        .vault
        .edit_link(&expiring.link.id, LinkEdit { lifetime: lifetime(1), ..LinkEdit::default() }, now - 5)
        .unwrap();
    let slot = NewSlot { lifetime: lifetime(1).unwrap(), ..NewSlot::default() };
    server.vault.create_slot(slot, now - 5, None).unwrap();
    let small = server.slot(NewSlot { max_files: 1, label: Some("Tax papers".into()), ..NewSlot::default() });
    let res = client().put(put_url(&small.url, "a.pdf")).body("%PDF-1.4").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    // However often the server looks again, each is noticed once.
    let until = Instant::now() + WAIT;
    loop {
        server.vault.notice_ends(sharelock::time::now()).unwrap();
        let seen = feed_now(&server);
        let ends = [Event::LinkExhausted, Event::LinkExpired, Event::SlotExpired, Event::SlotFilled];
        if ends.iter().all(|e| seen.contains(e)) {
            for e in ends {
                assert_eq!(seen.iter().filter(|s| **s == e).count(), 1, "{e:?} once: {seen:?}");
            }
            break;
        }
        assert!(Instant::now() < until, "{seen:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let texts: Vec<String> = feed(&server).iter().map(sharelock::history::describe).collect();
    assert!(texts.contains(&"The link to contract.pdf (for Dana) is used up".to_string()), "{texts:?}");
    assert!(texts.contains(&"The upload link \"Tax papers\" is full".to_string()), "{texts:?}");
    assert!(texts.contains(&"The link to contract.pdf expired".to_string()), "{texts:?}");
}

/// Moves every row's times back by `secs` in the database itself, as if they were that old.
fn age_rows(data_dir: &std::path::Path, secs: i64) {
    let conn = rusqlite::Connection::open(data_dir.join("sharelock.db")).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.execute("UPDATE history SET at = at - ?1, last_at = last_at - ?1", [secs]).unwrap();
}

#[tokio::test]
async fn rows_past_the_retention_are_purged_when_the_server_starts() {
    let server = Server::start().await;
    let file = server.add("a.txt", b"hello");
    let link = server.link(&file.file.id);
    client().get(&link.page_url).send().await.unwrap();
    client().get(&link.url).send().await.unwrap().bytes().await.unwrap();
    rows_when(&server, of_link(&link.link.id), |r| r.len() == 2).await;
    let dir = server.stop().await;
    let data_dir = dir.path().join("data");
    let set = sharelock_json(&data_dir, &["settings", "history", "2h"]);
    assert_eq!(set["value"], "2h");
    // One row three hours old, one an hour old.
    age_rows(&data_dir, 3600);
    let conn = rusqlite::Connection::open(data_dir.join("sharelock.db")).unwrap();
    conn.execute("UPDATE history SET last_at = last_at - 7200 WHERE kind = 'page.viewed'", []).unwrap();
    drop(conn);

    let server = Server::start_in(dir, ServerConfig::default()).await;
    let rows = rows_when(&server, Query::default(), |r| r.len() == 1).await;
    assert_eq!(rows[0].kind, Kind::Download, "the older row went, the newer stayed");
    assert_eq!(events(&feed(&server)), [Event::DownloadCompleted], "its feed entries went too");
}

#[tokio::test]
async fn history_off_records_nothing_and_forgets_what_was() {
    let server = Server::start().await;
    let file = server.add("a.txt", b"hello");
    let link = server.link(&file.file.id);
    client().get(&link.page_url).send().await.unwrap();
    rows_when(&server, Query::default(), |r| r.len() == 1).await;
    let dir = server.stop().await;
    let data_dir = dir.path().join("data");
    sharelock_json(&data_dir, &["settings", "history", "off"]);
    assert_eq!(sharelock_json(&data_dir, &["log"]), serde_json::json!([]), "turning it off purges at once");

    let server = Server::start_in(dir, ServerConfig::default()).await;
    // The restarted server listens elsewhere: the same link at its new address.
    let link = server.vault.link(&link.link.id, sharelock::time::now()).unwrap();
    client().get(&link.page_url).send().await.unwrap();
    client().get(&link.url).send().await.unwrap().bytes().await.unwrap();
    // The download count is written in the same transaction the history would be.
    let until = Instant::now() + WAIT;
    while server.vault.link(&link.link.id, 0).unwrap().link.downloads == 0 {
        assert!(Instant::now() < until, "the count was never written");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(server.vault.history(&Query::default()).unwrap().is_empty());
    assert!(feed(&server).is_empty());
}

#[test]
fn settings_are_checked_before_they_are_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let all = sharelock_json(&data_dir, &["settings"]);
    assert_eq!(all["history"], "90d");
    assert_eq!(all["notify_downloads"], "on");
    for (args, says) in [
        (&["settings", "history", "forever"][..], "invalid history setting"),
        (&["settings", "colour", "blue"][..], "unknown setting \"colour\""),
        (&["settings", "notify_downloads", "maybe"][..], "use on or off"),
    ] {
        let out = sharelock(&data_dir, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    assert_eq!(sharelock_json(&data_dir, &["settings", "history"])["value"], "90d", "nothing was kept");
    sharelock_json(&data_dir, &["settings", "notify_downloads", "off"]);
    assert_eq!(sharelock_json(&data_dir, &["settings"])["notify_downloads"], "off");
}

/// Waits until `sharelock log --json ARGS` on `target` lists `n` rows.
fn log_when(target: &Target, args: &[&str], n: usize) -> serde_json::Value {
    let until = Instant::now() + WAIT;
    loop {
        let mut all = vec!["log"];
        all.extend_from_slice(args);
        let rows = target.json(&all);
        if rows.as_array().unwrap().len() == n {
            return rows;
        }
        assert!(Instant::now() < until, "log {args:?}: {rows:#}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

crate::both_modes! {
    /// `sharelock log` lists newest first and filters by link, file and time, on this computer
    /// and through a server's API.
    fn log_filters_by_link_file_and_time(target: &Target, tmp: &Path) {
        // Local mode records through a server of its own on the same data dir.
        let _own;
        let base = match &target.remote {
            Some(remote) => remote.base.clone(),
            None => {
                let (child, base) = spawn_serve(&target.data_dir, &[], &[], std::process::Stdio::null());
                _own = Killed(child);
                base
            }
        };
        let src = tmp.join("a.txt");
        std::fs::write(&src, b"hello").unwrap();
        let file = &target.json(&["add", src.to_str().unwrap()])[0];
        let file_id = file["id"].as_str().unwrap();
        let other = tmp.join("b.txt");
        std::fs::write(&other, b"other").unwrap();
        let other_id = target.json(&["add", other.to_str().unwrap()])[0]["id"].as_str().unwrap().to_string();
        let link = target.json(&["link", file_id, "--label", "Dana", "--notify", "off", "--base-url", &base]);
        assert_eq!(link["notify"], false);
        let other_link = target.json(&["link", &other_id, "--base-url", &base]);
        let get = |url: &str| {
            let out = std::process::Command::new("curl").args(["-sS", "-o", "/dev/null", "-A", "LogTest/2", url]).output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        };
        get(link["url"].as_str().unwrap());
        get(link["page_url"].as_str().unwrap());
        get(other_link["url"].as_str().unwrap());

        let all = log_when(target, &[], 3);
        let last_ats: Vec<&str> = all.as_array().unwrap().iter().map(|r| r["last_at"].as_str().unwrap()).collect();
        assert!(last_ats.windows(2).all(|w| w[0] >= w[1]), "newest first: {last_ats:?}");
        let of_link = log_when(target, &["--link", link["id"].as_str().unwrap()], 2);
        assert!(of_link.as_array().unwrap().iter().all(|r| r["link_id"] == link["id"] && r["user_agent"] == "LogTest/2"));
        let of_file = log_when(target, &["--file", &other_id], 1);
        assert_eq!(of_file[0]["kind"], "download");
        assert_eq!(of_file[0]["state"], "completed");
        assert_eq!(log_when(target, &["--limit", "1"], 1).as_array().unwrap().len(), 1);
        assert_eq!(log_when(target, &["--since", "2999-01-01T00:00:00Z"], 0), serde_json::json!([]));
        assert_eq!(log_when(target, &["--since", "1h"], 3).as_array().unwrap().len(), 3);
        let edited = target.json(&["edit-link", link["id"].as_str().unwrap(), "--notify", "on"]);
        assert_eq!(edited["notify"], true);
        let text = target.run(&["log", "--link", link["id"].as_str().unwrap()]);
        let text = String::from_utf8_lossy(&text.stdout);
        assert!(text.contains("download completed  a.txt (Dana)"), "{text}");
        assert!(text.contains("page viewed"), "{text}");
        let bad = target.run(&["log", "--since", "yesterday"]);
        assert_eq!(bad.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid time"));
    }
}

/// A child process killed when dropped.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_feed_is_read_through_the_api_with_a_read_token() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let token = make_token(&data_dir, "read");
    let (child, base) = spawn_serve(&data_dir, &[], &[], std::process::Stdio::null());
    let _server = Killed(child);
    let src = tmp.path().join("a.txt");
    std::fs::write(&src, b"hello").unwrap();
    let file = sharelock_json(&data_dir, &["add", src.to_str().unwrap()]);
    let link = sharelock_json(&data_dir, &["link", file[0]["id"].as_str().unwrap(), "--base-url", &base]);
    let http = reqwest::blocking::Client::builder().no_proxy().build().unwrap();
    let api = |path: &str| {
        let res = http.get(format!("{base}/api/v1/{path}")).bearer_auth(&token).send().unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        res.json::<serde_json::Value>().unwrap()
    };
    assert_eq!(api("history/feed/end"), serde_json::json!({ "seq": 0 }));
    http.get(link["url"].as_str().unwrap()).send().unwrap().bytes().unwrap();
    let until = Instant::now() + WAIT;
    let entries = loop {
        let entries = api("history/feed?after=0");
        if entries.as_array().unwrap().len() == 1 {
            break entries;
        }
        assert!(Instant::now() < until, "{entries:#}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(entries[0]["event"], "download.completed");
    assert_eq!(entries[0]["access"]["state"], "completed");
    let end = api("history/feed/end")["seq"].as_i64().unwrap();
    assert_eq!(end, entries[0]["seq"].as_i64().unwrap());
    assert_eq!(api(&format!("history/feed?after={end}")), serde_json::json!([]));
    let rows = api(&format!("history?link={}", link["id"].as_str().unwrap()));
    assert_eq!(rows.as_array().unwrap().len(), 1);
    let bad = http.get(format!("{base}/api/v1/history?since=soon")).bearer_auth(&token).send().unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let none = http.get(format!("{base}/api/v1/history")).send().unwrap();
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
}

/// Behind nginx with offload, Sharelock sees the request, not the transfer: the download is
/// recorded when the redirect is issued, with the bytes asked for.
#[tokio::test]
async fn an_offloaded_download_is_recorded_from_its_request() {
    let offload = sharelock::http::Offload::Nginx { prefix: "/_sharelock_store/".into() };
    let server = Server::start_with(ServerConfig { offload: Some(offload), ..Default::default() }).await;
    let file = server.add("big.iso", &bytes(5000));
    let link = server.link(&file.file.id);
    let res = client().get(&link.url).send().await.unwrap();
    assert!(res.headers().contains_key("x-accel-redirect"));
    let part = client().get(&link.url).header(RANGE, "bytes=0-99").header(USER_AGENT, "other").send().await.unwrap();
    assert!(part.headers().contains_key("x-accel-redirect"));
    let rows = rows_when(&server, of_link(&link.link.id), |r| r.len() == 2).await;
    let whole = rows.iter().find(|r| r.user_agent.as_deref() != Some("other")).unwrap();
    assert_eq!((whole.state, whole.bytes), (Some(DownloadState::Completed), 5000));
    let part = rows.iter().find(|r| r.user_agent.as_deref() == Some("other")).unwrap();
    assert_eq!((part.state, part.bytes), (Some(DownloadState::Partial), 100));
}
