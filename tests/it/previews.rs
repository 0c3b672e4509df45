//! Previews on the landing page: the sandboxed `/v/` and `/t/` routes against a real server,
//! what they show, that they never count, and that they cannot fetch more than the cap.

use reqwest::StatusCode;
use reqwest::header::{
    CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_SECURITY_POLICY, CONTENT_TYPE, COOKIE,
    ETAG, IF_NONE_MATCH, RANGE, SET_COOKIE, X_CONTENT_TYPE_OPTIONS,
};
use sharelock::passwords::Password;
use sharelock::previews::PREVIEW_BYTES;
use sharelock::vault::{LinkInfo, NewLink};

use crate::support::{Server, bytes, client, sharelock_json};

/// The first bytes of a PNG: enough for the content and the name to agree.
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

/// The preview URL of `file_id` through `link`: `/v/{link}/{sig}/{file}`.
fn preview_url(link: &LinkInfo, file_id: &str) -> String {
    format!("{}/{file_id}", link.page_url.replacen("/l/", "/v/", 1))
}

fn thumbnail_url(link: &LinkInfo, file_id: &str) -> String {
    format!("{}/{file_id}", link.page_url.replacen("/l/", "/t/", 1))
}

async fn get(url: &str) -> reqwest::Response {
    client().get(url).send().await.unwrap()
}

async fn get_range(url: &str, range: &str) -> reqwest::Response {
    client().get(url).header(RANGE, range).send().await.unwrap()
}

fn header(res: &reqwest::Response, name: reqwest::header::HeaderName) -> &str {
    res.headers().get(&name).map_or("", |v| v.to_str().unwrap())
}

fn assert_sandboxed(res: &reqwest::Response) {
    assert_eq!(header(res, CONTENT_SECURITY_POLICY), "sandbox");
    assert_eq!(header(res, X_CONTENT_TYPE_OPTIONS), "nosniff");
}

#[tokio::test]
async fn previews_show_images_and_text_inline_and_sandboxed() {
    let server = Server::start().await;
    let mut png = PNG.to_vec();
    png.extend(bytes(1000));
    let image = server.add("photo.png", &png);
    let link = server.link(&image.file.id);

    let res = get(&preview_url(&link, &image.file.id)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, CONTENT_TYPE), "image/png");
    assert!(header(&res, CONTENT_DISPOSITION).starts_with("inline;"), "{}", header(&res, CONTENT_DISPOSITION));
    assert_sandboxed(&res);
    assert_eq!(res.bytes().await.unwrap().as_ref(), png.as_slice());
    let page = get(&link.page_url).await.text().await.unwrap();
    let href = format!("../../v/{}/", link.link.id);
    assert!(page.contains(r#"<img id="preview""#) && page.contains(&href), "{page}");
    // A chat app's crawler gets the page as it always has, without previews.
    let bot = client().get(&link.page_url).header("user-agent", "Slackbot-LinkExpanding 1.0").send().await.unwrap();
    let bot_page = bot.text().await.unwrap();
    assert!(bot_page.contains("og:title") && !bot_page.contains("/v/"), "{bot_page}");

    // HTML in a text file comes back as its source, as plain text, never as a page.
    let html = b"<!doctype html><h1>hi</h1><script>document.title='ran'</script>\n";
    let text = server.add("page.html", html);
    let link = server.link(&text.file.id);
    let res = get(&preview_url(&link, &text.file.id)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, CONTENT_TYPE), "text/plain; charset=utf-8");
    assert_sandboxed(&res);
    assert_eq!(res.bytes().await.unwrap().as_ref(), html);

    // The file must be the link's: another file's id through this link is not found.
    let res = get(&preview_url(&link, &image.file.id)).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // A thumbnail is the thumbnail module's to make; none for a text file.
    assert_eq!(get(&thumbnail_url(&link, &text.file.id)).await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_video_preview_is_its_first_8_mib_and_never_counts() {
    let server = Server::start().await;
    let mut video = b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom".to_vec();
    video.extend(bytes(20 * 1024 * 1024 - video.len()));
    let file = server.add("clip.mp4", &video);
    let link = server.link_with(&file.file.id, NewLink { max_downloads: Some(1), ..NewLink::default() });
    let url = preview_url(&link, &file.file.id);
    let cap = PREVIEW_BYTES as usize;

    // The whole preview is the cap, presented as the whole resource.
    let res = get(&url).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, CONTENT_TYPE), "video/mp4");
    assert_eq!(header(&res, CONTENT_LENGTH), cap.to_string());
    assert_sandboxed(&res);
    assert_eq!(res.bytes().await.unwrap().as_ref(), &video[..cap]);

    // Ranges work within the cap, and its end is the resource's end.
    let res = get_range(&url, "bytes=1000-1999").await;
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(header(&res, CONTENT_RANGE), format!("bytes 1000-1999/{cap}"));
    assert_eq!(res.bytes().await.unwrap().as_ref(), &video[1000..2000]);
    let res = get_range(&url, "bytes=-100").await;
    assert_eq!(header(&res, CONTENT_RANGE), format!("bytes {}-{}/{cap}", cap - 100, cap - 1));
    assert_eq!(res.bytes().await.unwrap().as_ref(), &video[cap - 100..cap]);
    // Past the cap there is nothing: 416, whatever the file's size.
    for range in [format!("bytes={cap}-"), format!("bytes={}-{}", cap + 10, cap + 20)] {
        let res = get_range(&url, &range).await;
        assert_eq!(res.status(), StatusCode::RANGE_NOT_SATISFIABLE, "{range}");
        assert_eq!(header(&res, CONTENT_RANGE), format!("bytes */{cap}"));
    }
    // A range reaching past the cap stops at it: all a preview can give is the first 8 MiB.
    let res = get_range(&url, &format!("bytes={}-{}", cap - 10, video.len() - 1)).await;
    assert_eq!(res.bytes().await.unwrap().len(), 10);
    let page = get(&link.page_url).await.text().await.unwrap();
    assert!(page.contains(r#"<video id="preview""#) && page.contains("Preview shows the first 8 MiB."), "{page}");

    // None of it counted: the one-time link still downloads once, whole.
    let now = server.vault.link(&link.link.id, sharelock::time::now()).unwrap();
    assert_eq!((now.link.downloads, now.link.undelivered), (0, 0));
    let res = get(&link.url).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.bytes().await.unwrap().len(), video.len());
    assert_eq!(get(&link.url).await.status(), StatusCode::GONE);
    // And a used-up link previews nothing either.
    assert_eq!(get(&url).await.status(), StatusCode::GONE);
}

#[tokio::test]
async fn no_preview_links_show_none_until_switched_back_on() {
    let server = Server::start().await;
    let mut png = PNG.to_vec();
    png.extend(bytes(100));
    let image = server.add("photo.png", &png);
    let data_dir = server.dir.path().join("data");
    let json = sharelock_json(&data_dir, &["link", &image.file.id, "--no-preview"]);
    assert_eq!(json["preview"], false);
    let link: LinkInfo = serde_json::from_value(json).unwrap();

    assert_eq!(get(&preview_url(&link, &image.file.id)).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(get(&thumbnail_url(&link, &image.file.id)).await.status(), StatusCode::NOT_FOUND);
    let page = get(&link.page_url).await.text().await.unwrap();
    assert!(!page.contains("id=\"preview\"") && !page.contains("/v/"), "{page}");

    let out = crate::support::sharelock(&data_dir, &["edit-link", &link.link.id, "--notify", "off"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains(", no previews;"), "{out:?}");
    let json = sharelock_json(&data_dir, &["edit-link", &link.link.id, "--preview", "on"]);
    assert_eq!(json["preview"], true);
    assert_eq!(get(&preview_url(&link, &image.file.id)).await.status(), StatusCode::OK);

    // The API's create and edit bodies take the same switch.
    let scopes = sharelock::tokens::Scopes::parse("write").unwrap();
    let never = sharelock::units::Lifetime::Never;
    let token = server.vault.create_token(None, scopes, never, sharelock::time::now()).unwrap().token;
    let api = format!("{}/api/v1", server.base);
    let made = client()
        .post(format!("{api}/files/{}/links", image.file.id))
        .bearer_auth(&token)
        .json(&serde_json::json!({"preview": false}))
        .send()
        .await
        .unwrap();
    let made: serde_json::Value = made.json().await.unwrap();
    assert_eq!(made["preview"], false, "{made}");
    let id = made["id"].as_str().unwrap();
    let edited = client()
        .patch(format!("{api}/links/{id}"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"preview": true}))
        .send()
        .await
        .unwrap();
    let edited: serde_json::Value = edited.json().await.unwrap();
    assert_eq!(edited["preview"], true, "{edited}");
}

#[tokio::test]
async fn a_password_links_preview_needs_the_password() {
    const PASSWORD: &str = "plum tree 42";
    let server = Server::start().await;
    let text = server.add("notes.txt", b"private notes\n");
    let new = NewLink { password: Some(Password::new(PASSWORD.into()).unwrap()), ..NewLink::default() };
    let link = server.link_with(&text.file.id, new);
    let url = preview_url(&link, &text.file.id);

    assert_eq!(get(&url).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(get(&thumbnail_url(&link, &text.file.id)).await.status(), StatusCode::UNAUTHORIZED);
    let res = client().get(&url).basic_auth("", Some(PASSWORD)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    // The landing page's unlock cookie reaches the previews too.
    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let res = no_redirects.post(&link.page_url).form(&[("password", PASSWORD)]).send().await.unwrap();
    let preview_path = format!("Path=/v/{}/", link.link.id);
    let cookie = res
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|c| c.contains(&preview_path))
        .expect("an unlock cookie for the previews");
    let pair = cookie.split(';').next().unwrap().to_string();
    let res = client().get(&url).header(COOKIE, pair).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.bytes().await.unwrap().as_ref(), b"private notes\n");
}

#[tokio::test]
async fn svg_has_no_preview_and_downloads_as_an_attachment() {
    let server = Server::start().await;
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>"#;
    let file = server.add("drawing.svg", svg);
    let link = server.link(&file.file.id);

    let res = get(&preview_url(&link, &file.file.id)).await;
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_ne!(header(&res, CONTENT_TYPE), "image/svg+xml");
    let res = get(&link.url).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(header(&res, CONTENT_DISPOSITION).starts_with("attachment;"), "{}", header(&res, CONTENT_DISPOSITION));
    assert_sandboxed(&res);
    let page = get(&link.page_url).await.text().await.unwrap();
    assert!(!page.contains("id=\"preview\""), "{page}");
}

#[tokio::test]
async fn a_shares_page_links_each_previewable_file() {
    let server = Server::start().await;
    let text = server.add("notes.txt", b"hello\n");
    let binary = server.add("data.bin", &bytes(5000));
    let new = NewLink { more_files: vec![binary.file.id.clone()], name: Some("Two".into()), ..NewLink::default() };
    let share = server.link_with(&text.file.id, new);

    let page = get(&share.page_url).await.text().await.unwrap();
    assert_eq!(page.matches(r#"class="share-preview""#).count(), 1, "{page}");
    assert!(page.contains(&format!("../../v/{}/", share.link.id)), "{page}");
    let res = get(&preview_url(&share, &text.file.id)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(get(&preview_url(&share, &binary.file.id)).await.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let now = server.vault.link(&share.link.id, sharelock::time::now()).unwrap();
    assert_eq!(now.link.downloads, 0);
}

/// A real PNG of `width` x `height`, for the thumbnail module to decode.
fn real_png(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 128]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

#[tokio::test]
async fn thumbnails_are_sandboxed_cached_privately_and_revalidated() {
    let server = Server::start().await;
    let photo = server.add("photo.png", &real_png(800, 600));
    let notes = server.add("notes.txt", b"hello\n");
    let new = NewLink { more_files: vec![notes.file.id.clone()], name: Some("Two".into()), ..NewLink::default() };
    let share = server.link_with(&photo.file.id, new);

    let page = get(&share.page_url).await.text().await.unwrap();
    let src = format!(r#"<img class="share-thumb" src="../../t/{}/"#, share.link.id);
    assert_eq!(page.matches(&src).count(), 1, "{page}");
    let url = thumbnail_url(&share, &photo.file.id);
    let res = get(&url).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(header(&res, CONTENT_TYPE).starts_with("image/"), "{}", header(&res, CONTENT_TYPE));
    assert!(header(&res, CACHE_CONTROL).starts_with("private, max-age="), "{}", header(&res, CACHE_CONTROL));
    assert_sandboxed(&res);
    let etag = header(&res, ETAG).to_string();
    assert!(!res.bytes().await.unwrap().is_empty());
    let res = client().get(&url).header(IF_NONE_MATCH, &etag).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(get(&thumbnail_url(&share, &notes.file.id)).await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_file_gone_from_the_store_has_no_preview_and_its_page_still_opens() {
    let server = Server::start().await;
    let text = server.add("notes.txt", b"hello\n");
    let link = server.link(&text.file.id);
    std::fs::remove_file(server.vault.store().path_of(&text.file.id)).unwrap();

    let page = get(&link.page_url).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(!page.text().await.unwrap().contains("id=\"preview\""));
    assert_eq!(get(&preview_url(&link, &text.file.id)).await.status(), StatusCode::GONE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_link_stops_its_preview_in_flight() {
    use futures_util::StreamExt;
    let server = Server::start().await;
    let mut video = b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom".to_vec();
    video.extend(bytes(20 * 1024 * 1024 - video.len()));
    let file = server.add("clip.mp4", &video);
    let link = server.link(&file.file.id);
    let res = get(&preview_url(&link, &file.file.id)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let mut stream = res.bytes_stream();
    let mut received = stream.next().await.unwrap().unwrap().len();

    server.vault.revoke_link(&link.link.id, sharelock::time::now()).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let outcome = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while let Some(Ok(chunk)) = stream.next().await {
            received += chunk.len();
        }
    })
    .await;
    assert!(outcome.is_ok(), "the preview went on after the link was revoked");
    assert!(received < PREVIEW_BYTES as usize, "the preview completed after the link was revoked");
}
