//! Password links, black-box: a real server, real HTTP (reqwest, curl, wget), the real CLI in
//! both modes, and what lands in the database, the access log and the history.

use std::io::Write;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, COOKIE, LOCATION, RETRY_AFTER, SET_COOKIE, WWW_AUTHENTICATE};
use sharelock::passwords::Password;
use sharelock::vault::{LinkEdit, LinkInfo, NewLink};

use crate::both_modes;
use crate::support::{Server, Target, bytes, client, spawn_serve};

const PASSWORD: &str = "plum tree 42";

fn with_password(password: &str) -> NewLink {
    NewLink { password: Some(Password::new(password.into()).unwrap()), ..NewLink::default() }
}

/// A client that shows redirects instead of following them.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// Posts the landing page's form.
async fn post_form(link: &LinkInfo, password: &str) -> reqwest::Response {
    no_redirects().post(&link.page_url).form(&[("password", password)]).send().await.unwrap()
}

/// The `name=value` pairs of a response's unlock cookies, and the whole `Set-Cookie` lines.
fn set_cookies(response: &reqwest::Response) -> Vec<String> {
    response.headers().get_all(SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_string()).collect()
}

fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_string()
}

#[tokio::test]
async fn direct_url_is_401_with_a_basic_challenge_and_takes_basic_credentials() {
    let server = Server::start().await;
    let data = bytes(100_000);
    let file = server.add("report.pdf", &data);
    let link = server.link_with(&file.file.id, with_password(PASSWORD));
    assert!(link.link.password);

    for request in [client().get(&link.url), client().head(&link.url)] {
        let refused = request.send().await.unwrap();
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
        let challenge = refused.headers()[WWW_AUTHENTICATE].to_str().unwrap();
        assert!(challenge.starts_with(r#"Basic realm="Sharelock""#), "{challenge}");
    }
    let wrong = client().get(&link.url).basic_auth("", Some("plum tree 43")).send().await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().contains_key(WWW_AUTHENTICATE));

    // Any user name; HEAD follows the same rule.
    let head = client().head(&link.url).basic_auth("anyone", Some(PASSWORD)).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    let got = client().get(&link.url).basic_auth("", Some(PASSWORD)).send().await.unwrap();
    assert_eq!(got.status(), StatusCode::OK);
    assert_eq!(got.bytes().await.unwrap(), data);

    // curl -u :PASSWORD, and wget, which sends its credentials only after the 401.
    let dir = tempfile::tempdir().unwrap();
    let curl_out = dir.path().join("curl.pdf");
    let curl = tokio::process::Command::new("curl")
        .args(["-sS", "--fail", "-u", &format!(":{PASSWORD}"), "-o"])
        .arg(&curl_out)
        .arg(&link.url)
        .output()
        .await
        .unwrap();
    assert!(curl.status.success(), "{}", String::from_utf8_lossy(&curl.stderr));
    assert_eq!(std::fs::read(&curl_out).unwrap(), data);
    let wget_out = dir.path().join("wget.pdf");
    let wget = tokio::process::Command::new("wget")
        .args(["-q", "--user=", &format!("--password={PASSWORD}"), "-O"])
        .arg(&wget_out)
        .arg(&link.url)
        .output()
        .await
        .unwrap();
    assert!(wget.status.success(), "{}", String::from_utf8_lossy(&wget.stderr));
    assert_eq!(std::fs::read(&wget_out).unwrap(), data);

    // Three complete downloads with the password; the refused ones and HEAD counted nothing.
    // Unlimited links' counts are written a few times a second: wait for them, boundedly.
    let until = Instant::now() + Duration::from_secs(10);
    let downloads = loop {
        let n = server.vault.link(&link.link.id, 0).unwrap().link.downloads;
        if n >= 3 || Instant::now() > until {
            break n;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!((downloads, server.vault.link(&link.link.id, 0).unwrap().link.downloads), (3, 3));
}

#[tokio::test]
async fn wrong_guesses_are_limited_with_429_and_retry_after_even_for_the_right_password() {
    let server = Server::start().await;
    let file = server.add("a.txt", b"secret");
    let link = server.link_with(&file.file.id, NewLink { max_downloads: Some(1), ..with_password(PASSWORD) });
    let mut statuses = Vec::new();
    for i in 0..6 {
        let res = client().get(&link.url).basic_auth("", Some(format!("guess {i}"))).send().await.unwrap();
        statuses.push(res.status().as_u16());
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            let wait: u64 = res.headers()[RETRY_AFTER].to_str().unwrap().parse().unwrap();
            assert!((1..=60).contains(&wait), "{wait}");
        }
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429]);
    // Spent: the right password is not even checked now, on the URL or the form.
    let right = client().get(&link.url).basic_auth("", Some(PASSWORD)).send().await.unwrap();
    assert_eq!(right.status(), StatusCode::TOO_MANY_REQUESTS);
    let form = post_form(&link, PASSWORD).await;
    assert_eq!(form.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(form.headers().contains_key(RETRY_AFTER));
    assert!(set_cookies(&form).is_empty());
    assert!(form.text().await.unwrap().contains("Too many wrong passwords"));
    // None of it used the one-time link up.
    assert_eq!(server.vault.link(&link.link.id, 0).unwrap().link.downloads, 0);
}

#[tokio::test]
async fn the_form_sets_a_short_lived_path_scoped_httponly_strict_cookie_that_opens_the_link() {
    let server = Server::start().await;
    let data = bytes(5_000);
    let file = server.add("plans.txt", &data);
    let link = server.link_with(&file.file.id, with_password(PASSWORD));

    let page = client().get(&link.page_url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"type="password""#), "{html}");
    assert!(!html.contains("plans.txt") && !html.contains(&file.file.sha256), "the form shows nothing of the file");

    let wrong = post_form(&link, "nope").await;
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    assert!(set_cookies(&wrong).is_empty());
    assert!(wrong.text().await.unwrap().contains("Wrong password"));

    let right = post_form(&link, PASSWORD).await;
    assert_eq!(right.status(), StatusCode::SEE_OTHER);
    let sig = link.page_url.rsplit('/').next().unwrap();
    assert_eq!(right.headers()[LOCATION], sig, "back to the page, relative");
    let cookies = set_cookies(&right);
    let paths: Vec<String> =
        cookies.iter().map(|c| c.split("; ").find_map(|a| a.strip_prefix("Path=")).unwrap().to_string()).collect();
    let id = &link.link.id;
    let expected =
        [format!("/l/{id}/{sig}"), format!("/d/{id}/{sig}"), format!("/v/{id}/{sig}"), format!("/t/{id}/{sig}")];
    assert_eq!(paths, expected);
    for cookie in &cookies {
        assert!(cookie.starts_with(&format!("sharelock_{id}=")), "{cookie}");
        let attributes: Vec<&str> = cookie.split("; ").skip(1).collect();
        assert!(attributes.contains(&"HttpOnly") && attributes.contains(&"SameSite=Strict"), "{cookie}");
        assert!(!attributes.contains(&"Secure"), "plain http: {cookie}");
        let max_age: i64 = attributes.iter().find_map(|a| a.strip_prefix("Max-Age=")).unwrap().parse().unwrap();
        assert!((12 * 3600 - 60..=12 * 3600).contains(&max_age), "{cookie}");
        assert!(!cookie.contains(PASSWORD));
    }
    let cookie = cookie_pair(&cookies[0]);
    let unlocked = client().get(&link.page_url).header(COOKIE, &cookie).send().await.unwrap();
    assert!(unlocked.text().await.unwrap().contains("plans.txt"));
    let got = client().get(&link.url).header(COOKIE, &cookie).send().await.unwrap();
    assert_eq!(got.status(), StatusCode::OK);
    assert_eq!(got.bytes().await.unwrap(), data);
}

#[tokio::test]
async fn a_cookie_opens_only_its_link_and_only_until_the_password_changes() {
    let server = Server::start().await;
    let file = server.add("a.txt", b"contents");
    let first = server.link_with(&file.file.id, with_password(PASSWORD));
    let second = server.link_with(&file.file.id, with_password(PASSWORD));
    let cookies = set_cookies(&post_form(&first, PASSWORD).await);
    let value = cookie_pair(&cookies[0]).split_once('=').unwrap().1.to_string();
    let own = format!("sharelock_{}={value}", first.link.id);
    assert_eq!(client().get(&first.url).header(COOKIE, &own).send().await.unwrap().status(), StatusCode::OK);

    // The same value under the other link's name does not open it.
    let borrowed = format!("sharelock_{}={value}", second.link.id);
    assert_eq!(client().get(&second.url).header(COOKIE, &borrowed).send().await.unwrap().status(), 401);

    // A new password (even the same one: a new salt) ends the cookies issued before.
    let edit = LinkEdit { password: Some(Some(Password::new(PASSWORD.into()).unwrap())), ..LinkEdit::default() };
    server.vault.edit_link(&first.link.id, edit, sharelock::time::now()).unwrap();
    assert_eq!(client().get(&first.url).header(COOKIE, &own).send().await.unwrap().status(), 401);
    assert_eq!(client().get(&first.url).basic_auth("", Some(PASSWORD)).send().await.unwrap().status(), 200);

    // Without a password the link opens for anyone again.
    let edit = LinkEdit { password: Some(None), ..LinkEdit::default() };
    let open = server.vault.edit_link(&first.link.id, edit, sharelock::time::now()).unwrap();
    assert!(!open.link.password);
    assert_eq!(client().get(&first.url).send().await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn an_https_base_url_makes_the_cookie_secure_and_scoped_under_its_path() {
    let server = Server::start().await;
    let file = server.add("a.txt", b"contents");
    let link = server.link_with(&file.file.id, with_password(PASSWORD));
    server.vault.set_base_url("https://share.example.com/files").unwrap();
    let cookies = set_cookies(&post_form(&link, PASSWORD).await);
    assert_eq!(cookies.len(), 4, "the page, the file, its previews and thumbnails");
    for cookie in cookies {
        assert!(cookie.contains("; Path=/files/") && cookie.ends_with("; Secure"), "{cookie}");
    }
}

/// Runs the CLI on `target` with `stdin` as its standard input.
fn run_with_stdin(target: &Target, args: &[&str], stdin: &str) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_sharelock"));
    command.env_remove("SHARELOCK_DATA_DIR").env_remove("SHARELOCK_SERVER").env_remove("SHARELOCK_TOKEN");
    match &target.remote {
        None => command.arg("--data-dir").arg(&target.data_dir),
        Some(remote) => {
            command.arg("--data-dir").arg(&remote.client_dir).args(["--server", &remote.base, "--token", &remote.token])
        }
    };
    let mut child =
        command.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn json_with_stdin(target: &Target, args: &[&str], stdin: &str) -> serde_json::Value {
    let out = run_with_stdin(target, args, stdin);
    assert!(out.status.success(), "sharelock {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `url` on the server at `base` (a link made before that server started carries another).
fn rebase(url: &str, base: &str) -> String {
    let at = url.find("/d/").or_else(|| url.find("/l/")).unwrap();
    format!("{base}{}", &url[at..])
}

fn status_of(url: &str, password: Option<&str>) -> u16 {
    let mut request = reqwest::blocking::Client::new().get(url);
    if let Some(p) = password {
        request = request.basic_auth("", Some(p));
    }
    request.send().unwrap().status().as_u16()
}

both_modes! {
    /// `link --password` reads stdin's first line; `edit-link --password` changes it and
    /// `--no-password` removes it; JSON says `password: true|false` and never shows the hash.
    fn cli_sets_changes_and_removes_a_password(target: &Target, tmp: &Path) {
        let src = tmp.join("a.txt");
        std::fs::write(&src, b"hello").unwrap();
        let added = target.json(&["add", src.to_str().unwrap()]);
        let file_id = added[0]["id"].as_str().unwrap().to_string();
        let link = json_with_stdin(target, &["--json", "link", &file_id, "--password"], "first pass\n");
        assert_eq!(link["password"], true);
        let text = link.to_string();
        assert!(!text.contains("password_hash") && !text.contains("argon2") && !text.contains("first pass"), "{text}");
        let id = link["id"].as_str().unwrap().to_string();
        let url = link["url"].as_str().unwrap().to_string();
        let served = match &target.remote {
            Some(_) => url.clone(),
            // Locally no server runs: serve this data dir to try the URL.
            None => String::new(),
        };
        let mut local_server = None;
        let url = if served.is_empty() {
            let (child, base) = spawn_serve(&target.data_dir, &[], &[], Stdio::null());
            local_server = Some(child);
            rebase(&url, &base)
        } else {
            served
        };
        assert_eq!(status_of(&url, None), 401);
        assert_eq!(status_of(&url, Some("first pass")), 200);

        let changed = json_with_stdin(target, &["--json", "edit-link", &id, "--password"], "second pass\r\n");
        assert_eq!(changed["password"], true);
        assert_eq!(status_of(&url, Some("first pass")), 401);
        assert_eq!(status_of(&url, Some("second pass")), 200);

        let listed = target.json(&["links", &file_id]);
        assert_eq!(listed[0]["password"], true);
        assert!(!listed.to_string().contains("argon2"));

        let removed = target.json(&["edit-link", &id, "--no-password"]);
        assert_eq!(removed["password"], false);
        assert_eq!(status_of(&url, None), 200);

        // An empty password is refused, and nothing changes.
        let empty = run_with_stdin(target, &["link", &file_id, "--password"], "\n");
        assert!(!empty.status.success());
        assert!(String::from_utf8_lossy(&empty.stderr).contains("empty"), "{}", String::from_utf8_lossy(&empty.stderr));
        assert_eq!(target.json(&["links", &file_id]).as_array().unwrap().len(), 1);
        if let Some(mut child) = local_server {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The password never reaches the access log, the history, or the database, whichever way it
/// is sent.
#[test]
fn a_password_never_reaches_the_log_the_history_or_the_database() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let secret = "Zebra-Lantern-7731";
    let src = tmp.path().join("a.txt");
    std::fs::write(&src, b"hello").unwrap();
    let target = Target::local(tmp.path());
    let file_id = target.json(&["add", src.to_str().unwrap()])[0]["id"].as_str().unwrap().to_string();
    let link = json_with_stdin(&target, &["--json", "link", &file_id, "--password"], &format!("{secret}\n"));
    let log_path = tmp.path().join("serve.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let (mut child, base) = spawn_serve(&data_dir, &[], &[("SHARELOCK_LOG", "debug")], Stdio::from(log));
    let (url, page) = (rebase(link["url"].as_str().unwrap(), &base), rebase(link["page_url"].as_str().unwrap(), &base));
    let http = reqwest::blocking::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    assert_eq!(http.get(&url).basic_auth("", Some(secret)).send().unwrap().status(), 200);
    assert_eq!(http.get(&url).basic_auth("", Some("not it")).send().unwrap().status(), 401);
    assert_eq!(http.get(&url).header(AUTHORIZATION, "Basic !!").send().unwrap().status(), 401);
    assert_eq!(http.post(&page).form(&[("password", secret)]).send().unwrap().status(), 303);
    assert_eq!(http.post(&page).form(&[("password", "also not")]).send().unwrap().status(), 403);
    // The history is written in batches: wait for the wrong guess to be there.
    let until = Instant::now() + Duration::from_secs(10);
    let history = loop {
        let out = target.run(&["--json", "log"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if text.contains("wrong password") || Instant::now() > until {
            break text;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(history.contains("wrong password"), "{history}");
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("POST /l/"), "the log has the requests: {log}");
    for place in [&log, &history] {
        assert!(!place.contains(secret) && !place.contains("not it") && !place.contains("also not"), "{place}");
    }
    for entry in std::fs::read_dir(&data_dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()), "{} holds it", path.display());
        }
    }
}

/// The API takes `password` on creation and edit (`null` removes it), refuses an empty one with
/// 400, and documents all of it in its OpenAPI document.
#[tokio::test]
async fn the_api_takes_and_documents_passwords() {
    let server = Server::start().await;
    let file = server.add("a.txt", b"contents");
    let scopes = sharelock::tokens::Scopes::parse("write").unwrap();
    let token = server
        .vault
        .create_token(None, scopes, sharelock::units::Lifetime::Never, sharelock::time::now())
        .unwrap()
        .token;
    let api = |path: &str| format!("{}/api/v1{path}", server.base);
    let create = |body: serde_json::Value| {
        client().post(api(&format!("/files/{}/links", file.file.id))).bearer_auth(&token).json(&body).send()
    };
    let empty = create(serde_json::json!({"password": ""})).await.unwrap();
    assert_eq!(empty.status(), StatusCode::BAD_REQUEST);
    let made: serde_json::Value =
        create(serde_json::json!({"password": PASSWORD})).await.unwrap().json().await.unwrap();
    assert_eq!(made["password"], true);
    assert!(!made.to_string().contains("argon2"), "{made}");
    let url = made["url"].as_str().unwrap();
    assert_eq!(client().get(url).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let id = made["id"].as_str().unwrap();
    let edit = client().patch(api(&format!("/links/{id}"))).bearer_auth(&token);
    let open: serde_json::Value =
        edit.json(&serde_json::json!({"password": null})).send().await.unwrap().json().await.unwrap();
    assert_eq!(open["password"], false);
    assert_eq!(client().get(url).send().await.unwrap().status(), StatusCode::OK);

    let doc: serde_json::Value = client().get(api("/openapi.json")).send().await.unwrap().json().await.unwrap();
    let schemas = &doc["components"]["schemas"];
    assert_eq!(schemas["CreateLink"]["properties"]["password"]["type"], serde_json::json!(["string", "null"]));
    assert!(schemas["EditLink"]["properties"]["password"].is_object(), "{}", schemas["EditLink"]);
    assert_eq!(schemas["Link"]["properties"]["password"]["type"], "boolean");
    assert!(schemas["Link"]["properties"].get("password_hash").is_none());
}

#[tokio::test]
async fn a_password_share_guards_its_zip_and_each_file_and_its_cookie_opens_them() {
    let server = Server::start().await;
    let first = server.add("a.txt", b"first file");
    let second = server.add("b.txt", b"second file");
    let new = NewLink { more_files: vec![second.file.id.clone()], name: Some("Two".into()), ..with_password(PASSWORD) };
    let share = server.link_with(&first.file.id, new);
    let files = share.files.clone().expect("a share lists its files");
    let one = &files[1].url;

    for url in [&share.url, one] {
        let refused = client().get(url).send().await.unwrap();
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "{url}");
        assert!(refused.headers().contains_key(WWW_AUTHENTICATE));
        let got = client().get(url).basic_auth("", Some(PASSWORD)).send().await.unwrap();
        assert_eq!(got.status(), StatusCode::OK, "{url}");
    }
    let page = client().get(&share.page_url).send().await.unwrap().text().await.unwrap();
    assert!(!page.contains("a.txt") && !page.contains("b.txt"), "the form shows nothing of the files");

    // The form's cookie is scoped to the share's per-file URLs too, and opens them.
    let cookies = set_cookies(&post_form(&share, PASSWORD).await);
    let sig = share.page_url.rsplit('/').next().unwrap();
    let id = &share.link.id;
    assert!(cookies.iter().any(|c| c.contains(&format!("Path=/f/{id}/{sig};"))), "{cookies:?}");
    let cookie = cookie_pair(&cookies[0]);
    let got = client().get(one).header(COOKIE, &cookie).send().await.unwrap();
    assert_eq!(got.status(), StatusCode::OK);
    assert_eq!(got.bytes().await.unwrap(), &b"second file"[..]);
}
