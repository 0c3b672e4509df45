//! Link signatures, statuses, download counting and the landing page.

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, RANGE, REFERRER_POLICY};
use sharelock::units::Lifetime;
use sharelock::vault::{LinkEdit, NewLink};

use crate::support::{Server, bytes, client, lifetime};

fn tamper(url: &str) -> String {
    // Flip one character of the signature segment: /d/{id}/{sig}/{name}
    let mut parts: Vec<String> = url.split('/').map(String::from).collect();
    let sig = &mut parts[5];
    let first = if sig.starts_with('A') { "B" } else { "A" };
    sig.replace_range(0..1, first);
    parts.join("/")
}

#[tokio::test]
async fn bad_missing_and_malformed_signatures_are_403() {
    let server = Server::start().await;
    let file = server.add("a.txt", b"hello");
    let link = server.link(&file.file.id);
    let id = &link.link.id;
    let base = &server.base;
    let sig = link.url.split('/').nth(5).unwrap().to_string();
    let cases = [
        tamper(&link.url),
        format!("{base}/d/{id}/"),
        format!("{base}/d/{id}/x/a.txt"),
        format!("{base}/d/{id}/{}/a.txt", &sig[..42]),
        format!("{base}/d/{id}/{sig}A/a.txt"),
        format!("{base}/d/{id}/+{}/a.txt", &sig[1..]),
        format!("{base}/d/{id}/{sig}%3D/a.txt"),
        format!("{base}/d/aaaaaaaaaaaaaaaa/{sig}/a.txt"),
        format!("{base}/l/{id}/{}", &sig[1..]),
    ];
    for url in cases {
        let res = client().get(&url).send().await.unwrap();
        let status = res.status();
        // `/d/{id}/` has no signature segment at all: no route, 404; everything else is 403.
        let expected = if url.ends_with(&format!("{id}/")) { StatusCode::NOT_FOUND } else { StatusCode::FORBIDDEN };
        assert_eq!(status, expected, "{url}");
        if status == StatusCode::FORBIDDEN {
            assert_eq!(res.headers()[CACHE_CONTROL], "private, no-store");
            assert_eq!(res.text().await.unwrap(), "invalid or missing signature\n");
        }
    }
    assert_eq!(client().get(&link.url).send().await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn the_name_in_the_url_is_cosmetic() {
    let server = Server::start().await;
    let file = server.add("a.txt", b"hello");
    let link = server.link(&file.file.id);
    let without_name = link.url.rsplit_once('/').unwrap().0.to_string();
    assert_eq!(client().get(&without_name).send().await.unwrap().text().await.unwrap(), "hello");
    let other_name = format!("{without_name}/other.exe");
    let res = client().get(&other_name).send().await.unwrap();
    assert!(res.headers()["content-disposition"].to_str().unwrap().contains("a.txt"));
}

#[tokio::test]
async fn expired_link_is_410() {
    let server = Server::start().await;
    let file = server.add("a.txt", b"hello");
    let past = sharelock::time::now() - 3600;
    let link = server
        .vault
        .create_link(&file.file.id, NewLink { lifetime: lifetime(60), ..Default::default() }, past, None)
        .unwrap();
    let res = client().get(&link.url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::GONE);
    assert_eq!(res.text().await.unwrap(), "this link has expired\n");
}

#[tokio::test]
async fn revoked_link_is_410_at_once() {
    let server = Server::start().await;
    let file = server.add("a.txt", b"hello");
    let link = server.link(&file.file.id);
    assert_eq!(client().get(&link.url).send().await.unwrap().status(), StatusCode::OK);
    server.vault.revoke_link(&link.link.id, sharelock::time::now()).unwrap();
    let res = client().get(&link.url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::GONE);
    assert_eq!(res.text().await.unwrap(), "this link was revoked\n");
    assert_eq!(client().get(&link.page_url).send().await.unwrap().status(), StatusCode::GONE);
}

/// The server keeps links in memory between commits (`vault::link_rows`). Whoever changes a
/// link, the CLI in its own process or a writer that is not Sharelock at all (as the `sqlite3`
/// shell would be), the next request sees it, also while other clients keep fetching it.
#[tokio::test]
async fn a_link_changed_by_another_process_is_seen_on_the_next_request_under_load() {
    let server = Server::start().await;
    let data = server.dir.path().join("data");
    let link = server.link(&server.add("a.txt", b"hello").file.id);
    let id = link.link.id.clone();
    let one = client();
    let status = |url: String| {
        let one = one.clone();
        async move { one.get(&url).send().await.unwrap().status() }
    };

    // Clients fetching the link all along, each request noted with the moment it was sent.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (url, stop) = (link.url.clone(), stop.clone());
            tokio::spawn(async move {
                let (client, mut seen) = (client(), Vec::new());
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let sent = std::time::Instant::now();
                    seen.push((sent, client.get(&url).send().await.unwrap().status()));
                }
                seen
            })
        })
        .collect();
    for _ in 0..20 {
        assert_eq!(status(link.url.clone()).await, StatusCode::OK);
    }

    let db = rusqlite::Connection::open(data.join("sharelock.db")).unwrap();
    db.execute("UPDATE links SET expires_at = 1 WHERE id = ?1", [&id]).unwrap();
    let res = one.get(&link.url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::GONE);
    assert_eq!(res.text().await.unwrap(), "this link has expired\n");
    db.execute("UPDATE links SET expires_at = NULL WHERE id = ?1", [&id]).unwrap();
    assert_eq!(status(link.url.clone()).await, StatusCode::OK);

    let out = crate::support::sharelock(&data, &["revoke", &id]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let revoked = std::time::Instant::now();
    assert_eq!(status(link.url.clone()).await, StatusCode::GONE);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);

    let mut after = 0;
    for task in load {
        for (sent, status) in task.await.unwrap() {
            if sent > revoked {
                assert_eq!(status, StatusCode::GONE, "a request sent after the revocation was answered");
                after += 1;
            }
        }
    }
    assert!(after > 0, "the load went on after the revocation");
}

#[tokio::test]
async fn removed_file_kills_its_links() {
    let server = Server::start().await;
    let file = server.add("a.txt", b"hello");
    let link = server.link(&file.file.id);
    server.vault.remove_file(&file.file.id).unwrap();
    let res = client().get(&link.url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::GONE);
    assert_eq!(res.text().await.unwrap(), "this file was removed\n");
    assert!(!server.vault.store().path_of(&file.file.id).exists());
}

#[tokio::test]
async fn editing_a_link_keeps_its_url() {
    let server = Server::start().await;
    let file = server.add("a.txt", b"hello");
    let past = sharelock::time::now() - 3600;
    let link = server
        .vault
        .create_link(&file.file.id, NewLink { lifetime: lifetime(60), ..Default::default() }, past, None)
        .unwrap();
    assert_eq!(client().get(&link.url).send().await.unwrap().status(), StatusCode::GONE);
    let edited = server
        .vault
        .edit_link(
            &link.link.id,
            LinkEdit { lifetime: Some(Lifetime::Never), ..Default::default() },
            sharelock::time::now(),
        )
        .unwrap();
    assert_eq!(edited.url, link.url);
    assert_eq!(client().get(&link.url).send().await.unwrap().status(), StatusCode::OK);
    // Shortening works the same way.
    server.vault.edit_link(&link.link.id, LinkEdit { lifetime: lifetime(60), ..Default::default() }, past).unwrap();
    assert_eq!(client().get(&link.url).send().await.unwrap().status(), StatusCode::GONE);
}

#[tokio::test]
async fn one_time_link_survives_head_and_previews_then_dies() {
    let server = Server::start().await;
    let data = bytes(200_000);
    let file = server.add("photo.bin", &data);
    let link = server.link_with(&file.file.id, NewLink { max_downloads: Some(1), ..Default::default() });
    // A chat app's preview: HEAD, then the first kilobytes.
    for _ in 0..3 {
        assert_eq!(client().head(&link.url).send().await.unwrap().status(), StatusCode::OK);
        let res = client().get(&link.url).header(RANGE, "bytes=0-1023").send().await.unwrap();
        assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(res.bytes().await.unwrap().len(), 1024);
    }
    // The landing page does not count either.
    assert_eq!(client().get(&link.page_url).send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(server.vault.link(&link.link.id, 0).unwrap().link.downloads, 0);
    let body = client().get(&link.url).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(body, &data[..]);
    assert_eq!(server.vault.link(&link.link.id, 0).unwrap().link.downloads, 1);
    let res = client().get(&link.url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::GONE);
    assert_eq!(res.text().await.unwrap(), "this link has been used up\n");
    assert_eq!(client().head(&link.url).send().await.unwrap().status(), StatusCode::GONE);
}

#[tokio::test]
async fn resuming_to_the_last_byte_counts() {
    let server = Server::start().await;
    let data = bytes(10_000);
    let file = server.add("a.bin", &data);
    let link = server.link_with(&file.file.id, NewLink { max_downloads: Some(1), ..Default::default() });
    let first = client().get(&link.url).header(RANGE, "bytes=0-4999").send().await.unwrap().bytes().await.unwrap();
    assert_eq!(server.vault.link(&link.link.id, 0).unwrap().link.downloads, 0);
    let rest = client().get(&link.url).header(RANGE, "bytes=5000-").send().await.unwrap().bytes().await.unwrap();
    assert_eq!([first, rest].concat(), data);
    assert_eq!(server.vault.link(&link.link.id, 0).unwrap().link.downloads, 1);
    assert_eq!(client().get(&link.url).send().await.unwrap().status(), StatusCode::GONE);
}

#[tokio::test]
async fn empty_file_download_counts() {
    let server = Server::start().await;
    let file = server.add("empty.txt", b"");
    let link = server.link_with(&file.file.id, NewLink { max_downloads: Some(1), ..Default::default() });
    let res = client().get(&link.url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.bytes().await.unwrap().is_empty());
    assert_eq!(client().get(&link.url).send().await.unwrap().status(), StatusCode::GONE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_downloads_of_a_one_time_link_complete_once() {
    let server = Server::start().await;
    let data = bytes(4 * 1024 * 1024);
    let file = server.add("big.bin", &data);
    let link = server.link_with(&file.file.id, NewLink { max_downloads: Some(1), ..Default::default() });
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let url = link.url.clone();
        tasks.push(tokio::spawn(async move {
            match client().get(&url).send().await {
                Ok(res) if res.status() == StatusCode::OK => res.bytes().await.ok(),
                _ => None,
            }
        }));
    }
    let mut complete = 0;
    for task in tasks {
        if let Some(body) = task.await.unwrap()
            && body.len() == data.len()
        {
            assert_eq!(body, &data[..]);
            complete += 1;
        }
    }
    assert_eq!(complete, 1, "exactly one client gets the whole file");
    assert_eq!(server.vault.link(&link.link.id, 0).unwrap().link.downloads, 1);
}

#[tokio::test]
async fn limit_of_three_allows_three() {
    let server = Server::start().await;
    let file = server.add("a.txt", b"hello");
    let link = server.link_with(&file.file.id, NewLink { max_downloads: Some(3), ..Default::default() });
    for _ in 0..3 {
        assert_eq!(client().get(&link.url).send().await.unwrap().text().await.unwrap(), "hello");
    }
    assert_eq!(client().get(&link.url).send().await.unwrap().status(), StatusCode::GONE);
    // Raising the limit brings it back, same URL.
    server
        .vault
        .edit_link(
            &link.link.id,
            LinkEdit { max_downloads: Some(Some(4)), ..Default::default() },
            sharelock::time::now(),
        )
        .unwrap();
    assert_eq!(client().get(&link.url).send().await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn rotating_the_secret_kills_every_url() {
    let server = Server::start().await;
    let file = server.add("a.txt", b"hello");
    let link = server.link(&file.file.id);
    let slot = server.slot(Default::default());
    server.vault.rotate_secret().unwrap();
    assert_eq!(client().get(&link.url).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(client().get(&slot.url).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    let fresh = server.vault.link(&link.link.id, 0).unwrap();
    assert_ne!(fresh.url, link.url);
    assert_eq!(client().get(&fresh.url).send().await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn landing_page_shows_the_file_and_a_working_button() {
    let server = Server::start().await;
    // `<`, `>` and `"` never survive in a stored name; `&` and `'` do, and are escaped.
    let file = server.add("<img src=x onerror=alert(1)> Tom & Jerry's report.pdf", b"%PDF-1.4 hello");
    let link = server.link_with(&file.file.id, NewLink { max_downloads: Some(5), ..Default::default() });
    let res = client().get(&link.page_url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()[CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
    assert!(res.headers()[CONTENT_SECURITY_POLICY].to_str().unwrap().contains("default-src 'none'"));
    assert_eq!(res.headers()[REFERRER_POLICY], "no-referrer");
    assert_eq!(res.headers()[CACHE_CONTROL], "private, no-store");
    let html = res.text().await.unwrap();
    assert!(html.contains("_img src=x onerror=alert(1)_ Tom &amp; Jerry&#39;s report.pdf"), "name is escaped");
    assert!(!html.contains("<img src=x"));
    assert!(html.contains("14 B"));
    assert!(html.contains(r#"<dd id="downloads-left">5</dd>"#));
    assert!(html.contains("in 6 days") || html.contains("in 7 days"));
    assert!(!html.contains("http://") && !html.contains("https://"), "no external resources");
    // The button's relative href resolves to the direct download URL.
    let href = html.split(r#"id="download" href=""#).nth(1).unwrap().split('"').next().unwrap();
    // As a browser reads the attribute: `&amp;` is `&`.
    let href = href.replace("&amp;", "&");
    let resolved = reqwest::Url::parse(&link.page_url).unwrap().join(&href).unwrap();
    assert_eq!(resolved.as_str(), link.url);
    assert_eq!(client().get(resolved).send().await.unwrap().bytes().await.unwrap(), "%PDF-1.4 hello");
}

#[tokio::test]
async fn browsers_get_error_pages_others_get_one_line() {
    let server = Server::start().await;
    let file = server.add("a.txt", b"hello");
    let link = server.link(&file.file.id);
    server.vault.revoke_link(&link.link.id, 0).unwrap();
    let res = client().get(&link.url).header(ACCEPT, "text/html,application/xhtml+xml,*/*;q=0.8").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::GONE);
    assert!(res.headers()[CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
    let html = res.text().await.unwrap();
    assert!(html.contains(r#"<h1 id="what">This link was revoked</h1>"#), "{html}");
    assert!(html.contains(r#"href="../../../assets/style.css""#));
    let res = client().get(&link.url).send().await.unwrap();
    assert_eq!(res.headers()[CONTENT_TYPE], "text/plain; charset=utf-8");
    assert_eq!(res.text().await.unwrap(), "this link was revoked\n");
}

/// A recipient's browser gets a page that leads with what happened, in words, and says what to
/// do; the status stays the HTTP status and shows only as small print.
#[tokio::test]
async fn error_pages_lead_with_the_sentence_and_keep_the_status_small() {
    let server = Server::start().await;
    let now = sharelock::time::now();
    let file = server.add("a.txt", b"hello");
    let id = &file.file.id;
    let expired = server
        .vault
        .create_link(id, NewLink { lifetime: lifetime(60), ..Default::default() }, now - 3600, None)
        .unwrap();
    let revoked = server.link(id);
    server.vault.revoke_link(&revoked.link.id, now).unwrap();
    let used_up = server.link_with(id, NewLink { max_downloads: Some(1), ..Default::default() });
    assert!(server.vault.claim_download(&used_up.link.id).unwrap());
    let gone = server.add("b.txt", b"bye");
    let removed = server.link(&gone.file.id);
    server.vault.remove_file(&gone.file.id).unwrap();

    let cases = [
        (&expired, "This link has expired"),
        (&revoked, "This link was revoked"),
        (&used_up, "This link has been used up"),
        (&removed, "This file was removed"),
    ];
    for (link, sentence) in cases {
        // The download URL and the landing page alike.
        for url in [&link.url, &link.page_url] {
            let res = client().get(url).header(ACCEPT, "text/html").send().await.unwrap();
            assert_eq!(res.status(), StatusCode::GONE, "{url}");
            let html = res.text().await.unwrap();
            let heading = html.split(r#"<h1 id="what">"#).nth(1).and_then(|h| h.split("</h1>").next());
            assert_eq!(heading, Some(sentence), "{html}");
            assert!(html.contains(&format!("<title>{sentence} · Sharelock</title>")), "{html}");
            assert!(html.contains("Ask the person who sent it for a new one."), "{html}");
            assert!(html.contains(r#"<p class="fine-print" id="status">Error 410</p>"#), "{html}");
            // The sentence comes before the status, and no big number leads the page.
            assert!(html.find(sentence) < html.find("Error 410"), "{html}");
            assert!(!html.contains(r#"class="code""#), "{html}");
        }
    }
    // A bad signature: the sentence, and the server's reason in the small print.
    let res = client().get(tamper(&server.link(id).url)).header(ACCEPT, "text/html").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let html = res.text().await.unwrap();
    assert!(html.contains(r#"<h1 id="what">This link is not valid</h1>"#), "{html}");
    assert!(html.contains("Error 403 · invalid or missing signature"), "{html}");
}

#[test]
fn cli_edits_and_server_downloads_never_hit_a_busy_database() {
    // Two vaults on one data dir, as the CLI and a running server are.
    let dir = tempfile::tempdir().unwrap();
    let server = std::sync::Arc::new(sharelock::Vault::open(&dir.path().join("data")).unwrap());
    let cli = sharelock::Vault::open(&dir.path().join("data")).unwrap();
    let src = dir.path().join("a.txt");
    std::fs::write(&src, b"a").unwrap();
    let file = cli.add_file(&src, false, 0, &mut |_| {}).unwrap();
    let link = cli.create_link(&file.file.id, NewLink::default(), sharelock::time::now(), None).unwrap();
    let id = link.link.id.clone();
    let downloads = {
        let server = server.clone();
        let id = id.clone();
        std::thread::spawn(move || {
            for _ in 0..300 {
                assert!(server.claim_download(&id).unwrap());
            }
        })
    };
    for i in 0..300 {
        let edit = LinkEdit { max_downloads: Some(Some(10_000 + i)), ..Default::default() };
        cli.edit_link(&id, edit, sharelock::time::now()).unwrap();
    }
    downloads.join().unwrap();
    assert_eq!(cli.link(&id, 0).unwrap().link.downloads, 300);
}

#[tokio::test]
async fn downloads_of_unlimited_links_are_counted_in_batches_and_at_shutdown() {
    let server = Server::start().await;
    let file = server.add("a.txt", b"hello");
    let link = server.link(&file.file.id);
    for _ in 0..3 {
        assert_eq!(client().get(&link.url).send().await.unwrap().text().await.unwrap(), "hello");
    }
    let started = std::time::Instant::now();
    while server.vault.link(&link.link.id, 0).unwrap().link.downloads < 3 {
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "counts are written within a few flushes");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Counted right before a stop: written by the final flush.
    assert_eq!(client().get(&link.url).send().await.unwrap().text().await.unwrap(), "hello");
    let vault = server.vault.clone();
    let dir = server.stop().await;
    let stopped = std::time::Instant::now();
    while vault.link(&link.link.id, 0).unwrap().link.downloads < 4 {
        assert!(stopped.elapsed() < std::time::Duration::from_secs(5), "the last count is written on shutdown");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(vault.link(&link.link.id, 0).unwrap().link.downloads, 4);
    drop(dir);
}

#[tokio::test]
async fn dead_links_can_be_removed_from_the_list_and_active_ones_cannot() {
    let server = Server::start().await;
    let file = server.add("a.txt", b"hello");
    let id = &file.file.id;
    let now = sharelock::time::now();
    let active = server.link(id);
    let revoked = server.link(id);
    server.vault.revoke_link(&revoked.link.id, now).unwrap();
    let expired = server
        .vault
        .create_link(id, NewLink { lifetime: lifetime(60), ..Default::default() }, now - 3600, None)
        .unwrap();
    let used_up = server.link_with(id, NewLink { max_downloads: Some(1), ..Default::default() });
    // Its one download, counted as the server counts a complete one (a download over HTTP settles
    // only once the client has acknowledged the bytes, a moment after it has them).
    assert!(server.vault.claim_download(&used_up.link.id).unwrap());
    assert_eq!(server.vault.link(&used_up.link.id, now).unwrap().status, sharelock::links::LinkStatus::UsedUp);

    // An active link is refused, singly or in a clear-out, and keeps working.
    let err = server.vault.delete_link(&active.link.id, now).unwrap_err();
    assert!(matches!(err, sharelock::Error::InvalidInput(_)), "{err}");
    assert!(err.to_string().contains("revoke it"), "{err}");
    assert!(matches!(server.vault.delete_link("nosuchlink000000", now), Err(sharelock::Error::NotFound { .. })));

    server.vault.delete_link(&revoked.link.id, now).unwrap();
    let left: Vec<String> = server.vault.links(Some(id), now).unwrap().into_iter().map(|l| l.link.id).collect();
    assert_eq!(left.len(), 3);
    assert!(!left.contains(&revoked.link.id));

    assert_eq!(server.vault.delete_inactive_links(id, now).unwrap(), 2);
    let left: Vec<String> = server.vault.links(Some(id), now).unwrap().into_iter().map(|l| l.link.id).collect();
    assert_eq!(left, std::slice::from_ref(&active.link.id));
    assert_eq!(server.vault.delete_inactive_links(id, now).unwrap(), 0, "nothing left to clear");
    assert!(matches!(
        server.vault.delete_inactive_links("nosuchfile000000", now),
        Err(sharelock::Error::NotFound { .. })
    ));

    // Removing a dead link never brings it back: its URLs still fail; the active one still works.
    for dead in [&revoked, &expired, &used_up] {
        assert_eq!(client().get(&dead.url).send().await.unwrap().status(), StatusCode::GONE, "{}", dead.url);
    }
    assert_eq!(client().get(&active.url).send().await.unwrap().status(), StatusCode::OK);
}
