//! Limits that must hold whatever the client does: the byte budget of limited links, link-preview
//! crawlers, and downloads in flight when their grant is taken back.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::StatusCode;
use reqwest::header::{RANGE, USER_AGENT};
use sharelock::vault::NewLink;

use crate::support::{Server, bytes, client, sharelock};

/// The red-team case: two clients each fetch all but the last byte of a 5,000,000-byte one-time
/// link. The first gets its part; the second is refused, as the budget (the file and a quarter)
/// has too little left; the first can still finish, and that counts once.
#[tokio::test]
async fn two_clients_cannot_each_take_almost_all_of_a_one_time_link() {
    let server = Server::start().await;
    let data = bytes(5_000_000);
    let file = server.add("five.bin", &data);
    let link = server.link_with(&file.file.id, NewLink { max_downloads: Some(1), ..Default::default() });
    let first = client().get(&link.url).header(RANGE, "bytes=0-4999998").send().await.unwrap();
    assert_eq!(first.status(), StatusCode::PARTIAL_CONTENT);
    let first = first.bytes().await.unwrap();
    assert_eq!(first, &data[..4_999_999]);
    let second = client().get(&link.url).header(RANGE, "bytes=0-4999998").send().await.unwrap();
    assert_eq!(second.status(), StatusCode::GONE);
    assert_eq!(second.text().await.unwrap(), "this link has been used up\n");
    assert_eq!(server.vault.link(&link.link.id, 0).unwrap().link.downloads, 0);
    // The honest first client resumes to the end: one download, and the link is used up.
    let rest = client().get(&link.url).header(RANGE, "bytes=4999999-").send().await.unwrap();
    assert_eq!(rest.bytes().await.unwrap(), &data[4_999_999..]);
    assert_eq!(server.vault.link(&link.link.id, 0).unwrap().link.downloads, 1);
    assert_eq!(client().get(&link.url).header(RANGE, "bytes=0-10").send().await.unwrap().status(), StatusCode::GONE);
}

/// Pieces that never reach the last byte are paid for too: at most the file and a quarter goes
/// out, in pieces of any size.
#[tokio::test]
async fn small_ranges_draw_on_the_same_budget() {
    let server = Server::start().await;
    let data = bytes(400_000);
    let file = server.add("a.bin", &data);
    let link = server.link_with(&file.file.id, NewLink { max_downloads: Some(1), ..Default::default() });
    let mut delivered = 0u64;
    for _ in 0..20 {
        let res = client().get(&link.url).header(RANGE, "bytes=0-99999").send().await.unwrap();
        if res.status() == StatusCode::GONE {
            break;
        }
        delivered += res.bytes().await.unwrap().len() as u64;
    }
    assert_eq!(delivered, 500_000, "five pieces of 100,000 bytes fit in 400,000 + 100,000");
    // HEAD sends no bytes, so it costs nothing and still answers.
    assert_eq!(client().head(&link.url).send().await.unwrap().status(), StatusCode::OK);
}

/// An interrupted download gives back what it never sent: the client that gave up at the start
/// can still fetch the whole file afterwards (without the refund, the 64 MiB it reserved would
/// leave only 16 MiB of the budget).
#[tokio::test]
async fn bytes_never_sent_are_given_back() {
    let server = Server::start().await;
    let data = bytes(64 * 1024 * 1024);
    let file = server.add("big.bin", &data);
    let link = server.link_with(&file.file.id, NewLink { max_downloads: Some(1), ..Default::default() });
    let res = client().get(&link.url).send().await.unwrap();
    let mut stream = res.bytes_stream();
    let _ = stream.next().await;
    drop(stream);
    // The refunds land once each response body is dropped by the server.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let res = client().get(&link.url).send().await.unwrap();
        if res.status() == StatusCode::OK {
            assert_eq!(res.bytes().await.unwrap(), &data[..]);
            break;
        }
        assert!(Instant::now() < deadline, "aborted downloads were never given back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(server.vault.link(&link.link.id, 0).unwrap().link.downloads, 1);
}

/// The user agents of chat and social apps' link-preview crawlers, as they send them.
const PREVIEW_AGENTS: &[&str] = &[
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
    "WhatsApp/2.23.20.0",
    "TelegramBot (like TwitterBot)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Twitterbot/1.0",
    "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
    "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5 skype-url-preview@microsoft.com",
    // iMessage
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like Gecko) Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0",
];

#[tokio::test]
async fn link_preview_crawlers_get_the_preview_not_the_file() {
    let server = Server::start().await;
    let data = bytes(200_000);
    let file = server.add("Holiday & 'photos'.zip", &data);
    let link = server.link_with(&file.file.id, NewLink { max_downloads: Some(1), ..Default::default() });
    for agent in PREVIEW_AGENTS {
        let res = client().get(&link.url).header(USER_AGENT, *agent).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{agent}");
        assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"), "{agent}");
        let html = res.text().await.unwrap();
        assert!(
            html.contains(r#"<meta property="og:title" content="Holiday &amp; &#39;photos&#39;.zip">"#),
            "{agent}: {html}"
        );
        assert!(html.contains("195.3 KiB") || html.contains("KiB"), "{agent}");
        assert!(html.len() < 10_000, "{agent}: no file bytes");
    }
    assert_eq!(server.vault.link(&link.link.id, 0).unwrap().link.downloads, 0);
    // The person it was for still gets the file, once.
    let res = client().get(&link.url).header(USER_AGENT, "curl/7.88.1").send().await.unwrap();
    assert_eq!(res.bytes().await.unwrap(), &data[..]);
    assert_eq!(client().get(&link.url).send().await.unwrap().status(), StatusCode::GONE);
}

/// How taking a grant back is done, from another process as a user would.
#[derive(Debug, Clone, Copy)]
enum TakeBack {
    Revoke,
    RotateSecret,
    RemoveFile,
}

/// Downloads in flight when their grant is taken back stop within about a second, short of the
/// file, and none of them counts. The clients stop reading after the first bytes, so without the
/// re-check each would still receive the whole file when it reads on.
async fn downloads_in_flight_stop_when(take_back: TakeBack, clients: usize) {
    let server = Server::start().await;
    let size = 16 * 1024 * 1024;
    let data = bytes(size);
    let file = server.add("big.bin", &data);
    let link = server.link_with(&file.file.id, NewLink { max_downloads: Some(1000), ..Default::default() });
    let mut streams = Vec::new();
    for _ in 0..clients {
        let res = client().get(&link.url).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let mut stream = res.bytes_stream();
        let first = stream.next().await.unwrap().unwrap();
        streams.push((stream, first.len()));
    }
    let data_dir = server.dir.path().join("data");
    let args: Vec<&str> = match take_back {
        TakeBack::Revoke => vec!["revoke", &link.link.id],
        TakeBack::RotateSecret => vec!["rotate-secret"],
        TakeBack::RemoveFile => vec!["rm", &file.file.id],
    };
    let out = sharelock(&data_dir, &args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Now read on as fast as possible: what the server had queued before the abort still
    // arrives, then each download ends short.
    for (mut stream, mut received) in streams {
        let outcome = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(chunk) = stream.next().await {
                match chunk {
                    Ok(chunk) => received += chunk.len(),
                    Err(_) => return,
                }
            }
        })
        .await;
        assert!(outcome.is_ok(), "{take_back:?}: a download went on after its grant was taken back");
        assert!(received < size, "{take_back:?}: a download completed after its grant was taken back");
    }
    if let TakeBack::Revoke | TakeBack::RotateSecret = take_back {
        assert_eq!(server.vault.link(&link.link.id, 0).unwrap().link.downloads, 0, "{take_back:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_link_stops_its_fifty_downloads_in_flight() {
    downloads_in_flight_stop_when(TakeBack::Revoke, 50).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_the_secret_stops_downloads_in_flight() {
    downloads_in_flight_stop_when(TakeBack::RotateSecret, 10).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_file_stops_its_downloads_in_flight() {
    downloads_in_flight_stop_when(TakeBack::RemoveFile, 10).await;
}
