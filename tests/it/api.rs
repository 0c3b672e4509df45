//! The API under /api/v1, black-box: every row of the contract, each scope allowed and refused,
//! every kind of bad token, the JSON errors, streamed uploads, the owner's download and events.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sharelock::http::ServerConfig;
use sharelock::tokens::Scopes;
use sharelock::units::Lifetime;
use sharelock::vault::{NewLink, NewSlot};

use crate::support::{Server, bytes, client, names_in, sha256_hex, sharelock, sharelock_json, spawn_serve};

/// A server whose rate limit of bad tokens believes `X-Forwarded-For` from 127.0.0.1, so tests
/// of many bad tokens can send each from an address of its own.
async fn server() -> Server {
    Server::start_with(ServerConfig { trusted_proxies: vec!["127.0.0.1".parse().unwrap()], ..Default::default() }).await
}

fn token(server: &Server, scopes: &str) -> String {
    let scopes = Scopes::parse(scopes).unwrap();
    server.vault.create_token(Some("test".into()), scopes, Lifetime::Never, sharelock::time::now()).unwrap().token
}

fn api(server: &Server, path: &str) -> String {
    format!("{}/api/v1{path}", server.base)
}

async fn call(
    server: &Server,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> reqwest::Response {
    let mut req = client().request(method, api(server, path));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    req.send().await.unwrap()
}

async fn json_of(response: reqwest::Response) -> Value {
    let text = response.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Asserts the error body and returns it.
async fn error(response: reqwest::Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status, "expected {status}");
    let body = json_of(response).await;
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    body["error"].clone()
}

/// What each row of the table needs: a file, an active link, a dead link, a slot, a token.
struct Fixture {
    file: String,
    link: String,
    dead_link: String,
    slot: String,
    token: String,
}

fn fixture(server: &Server) -> Fixture {
    let file = server.add("report.pdf", b"%PDF-1.4 the report").file.id;
    let link = server.link(&file).link.id;
    let dead_link = server.link(&file).link.id;
    server.vault.revoke_link(&dead_link, sharelock::time::now()).unwrap();
    let slot = server.slot(NewSlot::default()).slot.id;
    let token = server.vault.create_token(None, Scopes::DEFAULT, Lifetime::Never, sharelock::time::now()).unwrap().id;
    Fixture { file, link, dead_link, slot, token }
}

/// Every route of the contract: method, path (with `{file}`, `{link}`, `{dead_link}`, `{slot}`,
/// `{token}`), JSON body, the scope it needs and the status it answers.
fn table() -> Vec<(Method, &'static str, Option<Value>, &'static str, StatusCode)> {
    use StatusCode as S;
    vec![
        (Method::GET, "/files", None, "read", S::OK),
        (Method::GET, "/files/{file}", None, "read", S::OK),
        (Method::PATCH, "/files/{file}", Some(json!({"public": true})), "write", S::OK),
        (Method::DELETE, "/files/{file}", None, "write", S::OK),
        (Method::GET, "/files/{file}/content", None, "read", S::OK),
        (Method::GET, "/files/{file}/thumbnail", None, "read", S::NO_CONTENT),
        (Method::POST, "/files/{file}/links", Some(json!({"expires": "3d", "max_downloads": 1})), "write", S::CREATED),
        (Method::GET, "/links", None, "read", S::OK),
        (Method::GET, "/links/{link}", None, "read", S::OK),
        (Method::PATCH, "/links/{link}", Some(json!({"expires": "1h", "max_downloads": null})), "write", S::OK),
        (Method::POST, "/links/{link}/revoke", None, "write", S::OK),
        (Method::DELETE, "/links/{dead_link}", None, "write", S::OK),
        (Method::POST, "/slots", Some(json!({"max_size": "1G", "max_total": 5000000000u64})), "write", S::CREATED),
        (Method::GET, "/slots", None, "read", S::OK),
        (Method::GET, "/slots/{slot}", None, "read", S::OK),
        (Method::POST, "/slots/{slot}/close", None, "write", S::OK),
        (Method::GET, "/tokens", None, "admin", S::OK),
        (
            Method::POST,
            "/tokens",
            Some(json!({"name": "ci", "scopes": ["read"], "expires": "30d"})),
            "admin",
            S::CREATED,
        ),
        (Method::DELETE, "/tokens/{token}", None, "admin", S::OK),
        (Method::POST, "/secret/rotate", None, "admin", S::OK),
    ]
}

fn fill(path: &str, f: &Fixture) -> String {
    path.replace("{file}", &f.file)
        .replace("{dead_link}", &f.dead_link)
        .replace("{link}", &f.link)
        .replace("{slot}", &f.slot)
        .replace("{token}", &f.token)
}

#[tokio::test]
async fn each_scope_is_allowed_its_routes_and_refused_the_others() {
    let server = server().await;
    for (method, path, body, scope, status) in table() {
        let others: Vec<&str> = ["read", "upload", "write", "admin"].into_iter().filter(|s| *s != scope).collect();
        let f = fixture(&server);
        let path = fill(path, &f);
        let refused =
            call(&server, method.clone(), &path, Some(&token(&server, &others.join(","))), body.clone()).await;
        let err = error(refused, StatusCode::FORBIDDEN, "forbidden").await;
        assert!(err["message"].as_str().unwrap().contains(&format!("`{scope}`")), "{method} {path}: {err}");
        let allowed = call(&server, method.clone(), &path, Some(&token(&server, scope)), body).await;
        assert_eq!(allowed.status(), status, "{method} {path} with {scope}: {}", allowed.text().await.unwrap());
    }
}

#[tokio::test]
async fn uploads_need_the_upload_scope_and_may_link_only_their_own_files() {
    let server = server().await;
    let uploader = token(&server, "upload");
    let url = api(&server, "/files?name=shot.png");
    let refused = client().post(&url).bearer_auth(token(&server, "read,write,admin")).body("x").send().await.unwrap();
    error(refused, StatusCode::FORBIDDEN, "forbidden").await;
    let added = client().post(&url).bearer_auth(&uploader).body("png bytes").send().await.unwrap();
    assert_eq!(added.status(), StatusCode::CREATED);
    let own = json_of(added).await["id"].as_str().unwrap().to_string();
    let linked = call(&server, Method::POST, &format!("/files/{own}/links"), Some(&uploader), Some(json!({}))).await;
    assert_eq!(linked.status(), StatusCode::CREATED);
    // Another token's file, or one added on this computer: only `write` may link it.
    let other = client().post(&url).bearer_auth(token(&server, "upload")).body("x").send().await.unwrap();
    let other = json_of(other).await["id"].as_str().unwrap().to_string();
    let local = server.add("local.txt", b"local").file.id;
    for id in [other, local] {
        let refused = call(&server, Method::POST, &format!("/files/{id}/links"), Some(&uploader), None).await;
        error(refused, StatusCode::FORBIDDEN, "forbidden").await;
    }
}

#[tokio::test]
async fn every_route_refuses_missing_malformed_unknown_expired_and_revoked_tokens() {
    let server = server().await;
    let now = sharelock::time::now();
    let expired = server.vault.create_token(None, Scopes::DEFAULT, Lifetime::For(Duration::from_secs(1)), now - 60);
    let expired = expired.unwrap().token;
    let revoked = server.vault.create_token(None, Scopes::DEFAULT, Lifetime::Never, now).unwrap();
    server.vault.revoke_token(&revoked.id, now).unwrap();
    let good = token(&server, "read");
    let (id, _) = sharelock::tokens::split(&good).unwrap();
    let wrong_secret = format!("slk_{id}_{}", "A".repeat(43));
    let unknown = format!("slk_{}_{}", "a".repeat(16), "A".repeat(43));
    let bad: Vec<(&str, Option<String>)> = vec![
        ("missing", None),
        ("not bearer", Some(format!("Basic {good}"))),
        ("malformed", Some("Bearer not-a-token".into())),
        ("empty", Some("Bearer ".into())),
        ("unknown", Some(format!("Bearer {unknown}"))),
        ("wrong secret", Some(format!("Bearer {wrong_secret}"))),
        ("expired", Some(format!("Bearer {expired}"))),
        ("revoked", Some(format!("Bearer {}", revoked.token))),
    ];
    let mut routes: Vec<(Method, &str)> = table().into_iter().map(|(m, p, ..)| (m, p)).collect();
    routes.extend([(Method::GET, "/token"), (Method::GET, "/events"), (Method::POST, "/files")]);
    let f = fixture(&server);
    let mut address = 0u32;
    for (method, path) in routes {
        for (what, header) in &bad {
            address += 1;
            let mut req = client()
                .request(method.clone(), api(&server, &fill(path, &f)))
                .header("x-forwarded-for", std::net::Ipv4Addr::from(0x0a00_0000 + address).to_string());
            if let Some(header) = header {
                req = req.header("authorization", header);
            }
            let response = req.send().await.unwrap();
            let challenge = response.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_string());
            assert!(challenge.as_deref().is_some_and(|c| c.starts_with("Bearer")), "{method} {path} {what}");
            error(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
        }
    }
    // Nothing was changed by any of them.
    assert!(server.vault.file(&f.file).is_ok());
}

#[tokio::test]
async fn who_am_i_answers_the_token_without_its_secret() {
    let server = server().await;
    let token = token(&server, "read,admin");
    let response = call(&server, Method::GET, "/token", Some(&token), None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let me = json_of(response).await;
    let (id, secret) = sharelock::tokens::split(&token).unwrap();
    assert_eq!(me["id"], id);
    assert_eq!(me["scopes"], json!(["read", "admin"]));
    assert_eq!(me["name"], "test");
    for key in ["created_at", "last_used_at", "expires_at"] {
        assert!(me.get(key).is_some(), "{key} missing: {me}");
    }
    assert!(me["last_used_at"].is_string());
    assert!(!me.to_string().contains(secret));
    let listed = json_of(call(&server, Method::GET, "/tokens", Some(&token), None).await).await;
    assert!(!listed.to_string().contains(secret));
}

#[tokio::test]
async fn files_routes_answer_the_cli_shapes() {
    let server = server().await;
    let t = token(&server, "read,upload,write");
    let added = client().post(api(&server, "/files?name=notes.txt&public=true")).bearer_auth(&t).body("hello");
    let added = added.send().await.unwrap();
    assert_eq!(added.status(), StatusCode::CREATED);
    let file = json_of(added).await;
    let id = file["id"].as_str().unwrap().to_string();
    assert_eq!(file["name"], "notes.txt");
    assert_eq!(file["public"], true);
    assert!(file["public_url"].as_str().unwrap().starts_with(&server.base));
    let cli = sharelock_json(&server.dir.path().join("data"), &["ls"]);
    let listed = json_of(call(&server, Method::GET, "/files", Some(&t), None).await).await;
    assert_eq!(listed, cli, "the API lists what the CLI lists");
    let one = json_of(call(&server, Method::GET, &format!("/files/{id}"), Some(&t), None).await).await;
    assert_eq!(one, cli[0]);
    let set = call(&server, Method::PATCH, &format!("/files/{id}"), Some(&t), Some(json!({"public": false}))).await;
    let set = json_of(set).await;
    assert_eq!(set["public"], false);
    assert!(set.get("public_url").is_none());
    let removed = json_of(call(&server, Method::DELETE, &format!("/files/{id}"), Some(&t), None).await).await;
    assert_eq!(removed, json!({"removed": id}));
    let gone = call(&server, Method::GET, &format!("/files/{id}"), Some(&t), None).await;
    let err = error(gone, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!((err["kind"].as_str(), err["id"].as_str()), (Some("file"), Some(id.as_str())));
}

#[tokio::test]
async fn links_routes_make_edit_revoke_and_forget() {
    let server = server().await;
    let t = token(&server, "read,write");
    let file = server.add("a.txt", b"a").file.id;
    let made = call(
        &server,
        Method::POST,
        &format!("/files/{file}/links"),
        Some(&t),
        Some(json!({"expires": "3d", "max_downloads": 2, "label": "for Dana"})),
    )
    .await;
    assert_eq!(made.status(), StatusCode::CREATED);
    let link = json_of(made).await;
    let id = link["id"].as_str().unwrap().to_string();
    assert_eq!((link["max_downloads"].as_u64(), link["label"].as_str()), (Some(2), Some("for Dana")));
    assert!(link["url"].as_str().unwrap().starts_with(&server.base) && link["page_url"].is_string());
    let got = reqwest::get(link["url"].as_str().unwrap()).await.unwrap();
    assert_eq!(got.bytes().await.unwrap().as_ref(), b"a");
    let other = server.add("b.txt", b"b").file.id;
    server.link(&other);
    let of_file = json_of(call(&server, Method::GET, &format!("/links?file_id={file}"), Some(&t), None).await).await;
    assert_eq!(of_file.as_array().unwrap().len(), 1);
    let all = json_of(call(&server, Method::GET, "/links", Some(&t), None).await).await;
    assert_eq!(all.as_array().unwrap().len(), 2);
    let edit = Some(json!({"max_downloads": null}));
    let edited = json_of(call(&server, Method::PATCH, &format!("/links/{id}"), Some(&t), edit).await).await;
    assert_eq!((edited["max_downloads"].clone(), edited["url"].clone()), (Value::Null, link["url"].clone()));
    assert_eq!(edited["expires_at"], link["expires_at"], "absent expires stays as it was");
    let active = call(&server, Method::DELETE, &format!("/links/{id}"), Some(&t), None).await;
    error(active, StatusCode::CONFLICT, "conflict").await;
    let revoked = json_of(call(&server, Method::POST, &format!("/links/{id}/revoke"), Some(&t), None).await).await;
    assert_eq!(revoked["status"], "revoked");
    assert_eq!(reqwest::get(link["url"].as_str().unwrap()).await.unwrap().status(), StatusCode::GONE);
    let one = json_of(call(&server, Method::GET, &format!("/links/{id}"), Some(&t), None).await).await;
    assert_eq!(one["status"], "revoked");
    let removed = json_of(call(&server, Method::DELETE, &format!("/links/{id}"), Some(&t), None).await).await;
    assert_eq!(removed, json!({"removed": id}));
    let gone = call(&server, Method::GET, &format!("/links/{id}"), Some(&t), None).await;
    error(gone, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn slots_routes_take_the_cli_strings_and_defaults() {
    let server = server().await;
    let t = token(&server, "read,write");
    let body = json!({"expires": "2d", "max_size": "10M", "max_files": 3, "max_total": "1G", "accept": "pdf,image/*", "label": "scans"});
    let made = call(&server, Method::POST, "/slots", Some(&t), Some(body)).await;
    assert_eq!(made.status(), StatusCode::CREATED);
    let slot = json_of(made).await;
    assert_eq!((slot["max_size"].as_u64(), slot["max_total"].as_u64()), (Some(10 << 20), Some(1 << 30)));
    assert_eq!(slot["accept"], json!([".pdf", "image/*"]));
    let defaults = json_of(call(&server, Method::POST, "/slots", Some(&t), None).await).await;
    assert_eq!((defaults["max_size"].as_u64(), defaults["max_files"].as_u64()), (Some(1 << 30), Some(10)));
    let id = slot["id"].as_str().unwrap();
    let listed = json_of(call(&server, Method::GET, "/slots", Some(&t), None).await).await;
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert_eq!(json_of(call(&server, Method::GET, &format!("/slots/{id}"), Some(&t), None).await).await, slot);
    let closed = json_of(call(&server, Method::POST, &format!("/slots/{id}/close"), Some(&t), None).await).await;
    assert_eq!(closed["status"], "closed");
}

#[tokio::test]
async fn tokens_routes_make_list_and_revoke_and_rotation_ends_old_urls() {
    let server = server().await;
    let admin = token(&server, "admin");
    let made =
        call(&server, Method::POST, "/tokens", Some(&admin), Some(json!({"name": "ci", "scopes": "read"}))).await;
    assert_eq!(made.status(), StatusCode::CREATED);
    let made = json_of(made).await;
    let new = made["token"].as_str().unwrap().to_string();
    assert_eq!(made["scopes"], json!(["read"]));
    assert_eq!(call(&server, Method::GET, "/files", Some(&new), None).await.status(), StatusCode::OK);
    let listed = json_of(call(&server, Method::GET, "/tokens", Some(&admin), None).await).await;
    assert_eq!(listed.as_array().unwrap().len(), 2);
    let id = made["id"].as_str().unwrap();
    let revoked = json_of(call(&server, Method::DELETE, &format!("/tokens/{id}"), Some(&admin), None).await).await;
    assert!(revoked["revoked_at"].is_string());
    error(call(&server, Method::GET, "/files", Some(&new), None).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let file = server.add("a.txt", b"a").file.id;
    let url = server.link(&file).url;
    let rotated = json_of(call(&server, Method::POST, "/secret/rotate", Some(&admin), None).await).await;
    assert_eq!(rotated, json!({"rotated": true}));
    assert_eq!(reqwest::get(&url).await.unwrap().status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_token_revoked_by_the_cli_is_refused_by_the_running_server_at_once() {
    let server = server().await;
    let data = server.dir.path().join("data");
    let made = sharelock_json(&data, &["token", "create", "--name", "laptop"]);
    let t = made["token"].as_str().unwrap();
    assert_eq!(made["scopes"], json!(["read", "upload", "write"]));
    assert_eq!(call(&server, Method::GET, "/files", Some(t), None).await.status(), StatusCode::OK);
    let out = sharelock(&data, &["token", "revoke", made["id"].as_str().unwrap()]);
    assert!(out.status.success());
    error(call(&server, Method::GET, "/files", Some(t), None).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let listed = sharelock_json(&data, &["token", "ls"]);
    assert!(listed[0]["revoked_at"].is_string());
    assert!(!listed.to_string().contains(sharelock::tokens::split(t).unwrap().1), "ls never shows a secret");
}

#[tokio::test]
async fn api_answers_set_no_cookie_and_no_cors_header() {
    let server = server().await;
    let t = token(&server, "read,upload");
    let file = server.add("a.txt", b"a").file.id;
    let requests = [
        client().get(api(&server, "/files")).bearer_auth(&t),
        client().get(api(&server, "/files")),
        client().get(api(&server, &format!("/files/{file}/content"))).bearer_auth(&t),
        client().post(api(&server, "/files?name=x")).bearer_auth(&t).body("x"),
        client().request(Method::OPTIONS, api(&server, "/files")).header("access-control-request-method", "GET"),
    ];
    for req in requests {
        let response = req.header("origin", "https://evil.example").send().await.unwrap();
        for (name, _) in response.headers() {
            let name = name.as_str();
            assert!(name != "set-cookie" && !name.starts_with("access-control-"), "{name} on {}", response.url());
        }
    }
}

#[tokio::test]
async fn the_token_never_appears_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let made = sharelock_json(&data, &["token", "create"]);
    let t = made["token"].as_str().unwrap().to_string();
    let stderr = std::fs::File::create(dir.path().join("log")).unwrap();
    let (mut child, base) =
        spawn_serve(&data, &["--no-announce"], &[("SHARELOCK_LOG", "trace")], std::process::Stdio::from(stderr));
    let c = client();
    let good = c.get(format!("{base}/api/v1/files")).bearer_auth(&t).send().await.unwrap();
    assert_eq!(good.status(), StatusCode::OK);
    let last = if t.ends_with('X') { 'Y' } else { 'X' };
    let bad = format!("{}{last}", &t[..t.len() - 1]);
    let refused = c.get(format!("{base}/api/v1/files")).bearer_auth(&bad).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let added = c.post(format!("{base}/api/v1/files?name=a.txt")).bearer_auth(&t).body("a").send().await.unwrap();
    assert_eq!(added.status(), StatusCode::CREATED);
    child.kill().unwrap();
    child.wait().unwrap();
    let log = std::fs::read_to_string(dir.path().join("log")).unwrap();
    assert!(log.contains("/api/v1/files"), "the requests were logged: {log}");
    let (_, secret) = sharelock::tokens::split(&t).unwrap();
    let (_, bad_secret) = sharelock::tokens::split(&bad).unwrap();
    assert!(!log.contains(secret) && !log.contains(bad_secret), "a token is in the log");
}

#[tokio::test]
async fn bad_json_unknown_fields_and_impossible_values_name_the_field() {
    let server = server().await;
    let t = token(&server, "read,upload,write,admin");
    let file = server.add("a.txt", b"a").file.id;
    let link = server.link(&file).link.id;
    let cases: Vec<(Method, String, &str, Option<&str>)> = vec![
        (Method::PATCH, format!("/files/{file}"), "not json", None),
        (Method::PATCH, format!("/files/{file}"), "{\"public\": ", Some("public")),
        (Method::PATCH, format!("/files/{file}"), "{\"public\": \"yes\"}", Some("public")),
        (Method::PATCH, format!("/files/{file}"), "{\"public\": true, \"owner\": 1}", Some("owner")),
        (Method::PATCH, format!("/files/{file}"), "{}", Some("public")),
        (Method::POST, format!("/files/{file}/links"), "{\"expires\": \"3 days\"}", Some("expires")),
        (Method::POST, format!("/files/{file}/links"), "{\"max_downloads\": 0}", Some("max_downloads")),
        (Method::POST, format!("/files/{file}/links"), "{\"max_downloads\": -1}", Some("max_downloads")),
        (Method::POST, format!("/files/{file}/links"), "{\"base_url\": \"ftp://x\"}", Some("base_url")),
        (Method::PATCH, format!("/links/{link}"), "{\"max_downloads\": \"many\"}", Some("max_downloads")),
        (Method::POST, "/slots".into(), "{\"max_size\": \"1Q\"}", Some("max_size")),
        (Method::POST, "/slots".into(), "{\"expires\": \"never\"}", Some("expires")),
        (Method::POST, "/slots".into(), "{\"max_files\": 0}", Some("max_files")),
        (Method::POST, "/slots".into(), "{\"accept\": \"\"}", Some("accept")),
        (Method::POST, "/slots".into(), "{\"colour\": \"red\"}", Some("colour")),
        (Method::POST, "/tokens".into(), "{\"scopes\": [\"root\"]}", Some("scopes")),
        (Method::POST, "/files?name=a&public=maybe".into(), "x", Some("public")),
        (Method::POST, "/files?name=a&link=soon".into(), "x", Some("link")),
        (Method::POST, "/files".into(), "x", Some("name")),
        (Method::GET, "/links?file=x".into(), "", Some("file")),
    ];
    for (method, path, body, field) in cases {
        let req = client().request(method.clone(), api(&server, &path)).bearer_auth(&t);
        let response = req.header("content-type", "application/json").body(body).send().await.unwrap();
        let err = error(response, StatusCode::BAD_REQUEST, "invalid").await;
        assert_eq!(err["field"].as_str(), field, "{method} {path} {body}: {err}");
    }
    assert_eq!(server.vault.files().unwrap().len(), 1, "nothing was added by a refused upload");
}

#[tokio::test]
async fn a_raw_upload_cut_off_mid_body_leaves_no_file_and_no_record() {
    use tokio::io::AsyncWriteExt;
    let server = server().await;
    let t = token(&server, "upload");
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /api/v1/files?name=big.bin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {t}\r\nContent-Length: 10000000\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&bytes(3 << 20)).await.unwrap();
    stream.flush().await.unwrap();
    // The upload is being written into the store before it is cut off.
    let store = server.vault.store().dir().to_path_buf();
    for _ in 0..200 {
        if names_in(&store).iter().any(|n| n.starts_with(".tmp-")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(names_in(&store).iter().any(|n| n.starts_with(".tmp-")), "the upload never reached the store");
    drop(stream);
    let mut left = names_in(&store);
    for _ in 0..100 {
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        left = names_in(&store);
    }
    assert!(left.is_empty(), "left in the store: {left:?}");
    assert!(server.vault.files().unwrap().is_empty());
}

#[tokio::test]
async fn a_large_raw_upload_is_stored_with_its_sha256() {
    let server = server().await;
    let t = token(&server, "upload,read");
    let data = bytes((1 << 20) + 12_345);
    let response =
        client().post(api(&server, "/files?name=big.bin")).bearer_auth(&t).body(data.clone()).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let file = json_of(response).await;
    assert_eq!(file["size"].as_u64(), Some(data.len() as u64));
    assert_eq!(file["sha256"].as_str().unwrap(), sha256_hex(&data));
    let stored = std::fs::read(server.vault.store().path_of(file["id"].as_str().unwrap())).unwrap();
    assert!(stored == data, "the stored bytes are the ones sent");
}

#[tokio::test]
async fn a_form_of_several_files_is_stored() {
    let server = server().await;
    let t = token(&server, "upload");
    let part = |name: &str, data: Vec<u8>| reqwest::multipart::Part::bytes(data).file_name(name.to_string());
    let form = reqwest::multipart::Form::new()
        .part("file", part("one.txt", b"one".to_vec()))
        .part("file", part("two.bin", bytes(300_000)))
        .part("file", part("three.txt", b"three".to_vec()))
        .text("public", "true");
    let response = client().post(api(&server, "/files")).bearer_auth(&t).multipart(form).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let files = json_of(response).await;
    let names: Vec<&str> = files.as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["one.txt", "two.bin", "three.txt"]);
    assert_eq!(files[1]["sha256"].as_str().unwrap(), sha256_hex(&bytes(300_000)));
    assert!(files.as_array().unwrap().iter().all(|f| f["public"] == true));
    assert_eq!(server.vault.files().unwrap().len(), 3);
}

#[tokio::test]
async fn content_serves_ranges_and_validators_and_is_never_counted() {
    let server = server().await;
    let t = token(&server, "read");
    let data = bytes(200_000);
    let file = server.add("data.bin", &data).file.id;
    let link = server.link_with(&file, NewLink { max_downloads: Some(1), ..NewLink::default() });
    let url = api(&server, &format!("/files/{file}/content"));
    for _ in 0..3 {
        let whole = client().get(&url).bearer_auth(&t).send().await.unwrap();
        assert_eq!(whole.status(), StatusCode::OK);
        let disposition = whole.headers()["content-disposition"].to_str().unwrap().to_string();
        assert!(disposition.starts_with("attachment"), "{disposition}");
        assert!(whole.bytes().await.unwrap() == data);
    }
    let part = client().get(&url).bearer_auth(&t).header("range", "bytes=10-19").send().await.unwrap();
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.headers()["content-range"], "bytes 10-19/200000");
    let etag = part.headers()["etag"].to_str().unwrap().to_string();
    assert_eq!(part.bytes().await.unwrap().as_ref(), &data[10..20]);
    let head = client().head(&url).bearer_auth(&t).send().await.unwrap();
    assert_eq!((head.status(), head.headers()["content-length"].to_str().unwrap()), (StatusCode::OK, "200000"));
    let stale =
        client().get(&url).bearer_auth(&t).header("range", "bytes=0-0").header("if-range", "\"other\"").send().await;
    assert_eq!(stale.unwrap().status(), StatusCode::OK);
    let fresh = client().get(&url).bearer_auth(&t).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(fresh.status(), StatusCode::NOT_MODIFIED);
    let unsatisfiable = client().get(&url).bearer_auth(&t).header("range", "bytes=300000-").send().await.unwrap();
    assert_eq!(unsatisfiable.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    // The one-time link was never used up by the owner's downloads.
    assert_eq!(server.vault.link(&link.link.id, sharelock::time::now()).unwrap().link.downloads, 0);
    let by_link = reqwest::get(&link.url).await.unwrap();
    assert_eq!(by_link.status(), StatusCode::OK);
    assert!(by_link.bytes().await.unwrap() == data);
    let missing = client().get(api(&server, "/files/aaaaaaaaaaaaaaaa/content")).bearer_auth(&t).send().await.unwrap();
    error(missing, StatusCode::NOT_FOUND, "not_found").await;
}

/// A PNG of `width` x `height` with transparency.
fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbaImage::from_pixel(width, height, image::Rgba([10, 120, 200, 100]));
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

#[tokio::test]
async fn thumbnail_is_an_image_with_a_validator_or_no_content() {
    let server = server().await;
    let t = token(&server, "read");
    let image = server.add("wide.png", &png(800, 200)).file.id;
    let url = api(&server, &format!("/files/{image}/thumbnail"));
    let made = client().get(&url).bearer_auth(&t).send().await.unwrap();
    assert_eq!(made.status(), StatusCode::OK);
    assert_eq!(made.headers()["content-type"], "image/png");
    let etag = made.headers()["etag"].to_str().unwrap().to_string();
    let thumb = image::load_from_memory(&made.bytes().await.unwrap()).unwrap();
    assert_eq!((thumb.width(), thumb.height()), (256, 64));
    let fresh = client().get(&url).bearer_auth(&t).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(fresh.status(), StatusCode::NOT_MODIFIED);
    let svg = server.add("x.svg", br#"<svg xmlns="http://www.w3.org/2000/svg"/>"#).file.id;
    let none = client().get(api(&server, &format!("/files/{svg}/thumbnail"))).bearer_auth(&t).send().await.unwrap();
    assert_eq!(none.status(), StatusCode::NO_CONTENT);
    let missing = client().get(api(&server, "/files/aaaaaaaaaaaaaaaa/thumbnail")).bearer_auth(&t).send().await.unwrap();
    error(missing, StatusCode::NOT_FOUND, "not_found").await;
}

/// Reads SSE events until one of `kind` whose data satisfies `wanted`, or panics after 15 s.
async fn next_event(
    stream: &mut (impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    buffer: &mut String,
    kind: &str,
    wanted: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let event = block.lines().find_map(|l| l.strip_prefix("event: ")).unwrap_or_default().to_string();
            let data = block.lines().find_map(|l| l.strip_prefix("data: ")).unwrap_or("null");
            let data: Value = serde_json::from_str(data).unwrap();
            if event == kind && wanted(&data) {
                return data;
            }
        }
        let chunk = tokio::time::timeout_at(deadline, stream.next()).await.expect("no such event in time");
        buffer.push_str(std::str::from_utf8(&chunk.unwrap().unwrap()).unwrap());
    }
}

#[tokio::test]
async fn events_tell_a_file_added_by_the_cli_and_a_download_through_a_link() {
    let server = server().await;
    let t = token(&server, "read");
    let response = client().get(api(&server, "/events")).bearer_auth(&t).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    assert_eq!(response.headers()["x-accel-buffering"], "no", "a buffering proxy is told to pass events on");
    let mut stream = response.bytes_stream();
    let mut buffer = String::new();
    let source = server.dir.path().join("from-cli.txt");
    std::fs::write(&source, b"from another process").unwrap();
    let data = server.dir.path().join("data");
    let added = sharelock_json(&data, &["add", source.to_str().unwrap()]);
    let id = added[0]["id"].as_str().unwrap().to_string();
    let event = next_event(&mut stream, &mut buffer, "file.added", |d| d["id"] == id.as_str()).await;
    assert_eq!(event["name"], "from-cli.txt");
    let link = server.link_with(&id, NewLink { max_downloads: Some(3), ..NewLink::default() });
    let made = next_event(&mut stream, &mut buffer, "link.changed", |d| d["id"] == link.link.id.as_str()).await;
    assert_eq!(made["downloads"], 0);
    let got = reqwest::get(&link.url).await.unwrap();
    assert!(got.bytes().await.unwrap().as_ref() == b"from another process");
    let counted = next_event(&mut stream, &mut buffer, "download.counted", |d| d["id"] == link.link.id.as_str()).await;
    assert_eq!(counted["downloads"], 1);
    sharelock(&data, &["rm", &id]);
    next_event(&mut stream, &mut buffer, "file.removed", |d| d["id"] == id.as_str()).await;
    // A file sent through a slot: the file as received, and the slot with its count.
    let slot = server.slot(NewSlot::default());
    next_event(&mut stream, &mut buffer, "slot.changed", |d| d["id"] == slot.slot.id.as_str()).await;
    let (base, sig) = slot.url.split_once("?sig=").unwrap();
    let put = client().put(format!("{base}/scan.txt?sig={sig}")).body("scanned").send().await.unwrap();
    assert_eq!(put.status(), StatusCode::CREATED);
    let received = next_event(&mut stream, &mut buffer, "upload.received", |d| d["name"] == "scan.txt").await;
    assert_eq!(received["slot_id"], slot.slot.id.as_str());
    next_event(&mut stream, &mut buffer, "slot.changed", |d| d["id"] == slot.slot.id.as_str() && d["received"] == 1)
        .await;
}

#[tokio::test]
async fn failed_tokens_are_rate_limited_per_client() {
    let server = Server::start().await;
    let good = token(&server, "read");
    // All at once: the budget (a burst of 20, then 5 a second) refills while requests are sent
    // one by one on a busy machine, so a sequence could stay under it.
    let flood = (0..60).map(|_| call(&server, Method::GET, "/files", Some("slk_wrong"), None));
    let responses = futures_util::future::join_all(flood).await;
    let statuses: Vec<StatusCode> = responses.iter().map(|r| r.status()).collect();
    assert!(statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count() >= 10, "{statuses:?}");
    let limited = responses.into_iter().find(|r| r.status() == StatusCode::TOO_MANY_REQUESTS);
    let limited = limited.unwrap_or_else(|| panic!("no 429 in {statuses:?}"));
    assert!(limited.headers().contains_key("retry-after"));
    error(limited, StatusCode::TOO_MANY_REQUESTS, "too_many_requests").await;
    // A valid token is never limited.
    assert_eq!(call(&server, Method::GET, "/files", Some(&good), None).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_sharex_uploader_uploads_and_answers_with_a_link() {
    let server = server().await;
    let data = server.dir.path().join("data");
    let out = sharelock(&data, &["token", "create", "--name", "sharex", "--sharex"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let sxcu: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((sxcu["Body"].as_str(), sxcu["URL"].as_str()), (Some("Binary"), Some("{json:link.url}")));
    // What ShareX sends: the parameters in the query, the file as the body, the headers.
    let mut req = client().post(sxcu["RequestURL"].as_str().unwrap());
    for (key, value) in sxcu["Parameters"].as_object().unwrap() {
        let value = value.as_str().unwrap().replace("{filename}", "screen shot.png");
        req = req.query(&[(key.as_str(), value.as_str())]);
    }
    for (key, value) in sxcu["Headers"].as_object().unwrap() {
        req = req.header(key.as_str(), value.as_str().unwrap());
    }
    let response = req.body(b"\x89PNG fake".to_vec()).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let answer = json_of(response).await;
    assert_eq!(answer["name"], "screen shot.png");
    assert_eq!(answer["links"], 1, "the file as it is once its link is made");
    let url = answer["link"]["url"].as_str().unwrap();
    assert_eq!(reqwest::get(url).await.unwrap().bytes().await.unwrap().as_ref(), b"\x89PNG fake");
    // `token sharex` needs the token itself: an id alone cannot make one.
    let id = sharelock_json(&data, &["token", "ls"])[0]["id"].as_str().unwrap().to_string();
    let by_id = sharelock(&data, &["token", "sharex", &id]);
    assert!(!by_id.status.success());
    assert!(String::from_utf8_lossy(&by_id.stderr).contains("token create --sharex"));
    // The whole token on stdin (kept out of the process list): the same uploader.
    let secret = sxcu["Headers"]["Authorization"].as_str().unwrap().trim_start_matches("Bearer ").to_string();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sharelock"))
        .args(["--data-dir", data.to_str().unwrap(), "token", "sharex"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    writeln!(child.stdin.take().unwrap(), "{secret}").unwrap();
    let from_stdin = child.wait_with_output().unwrap();
    assert!(from_stdin.status.success());
    assert_eq!(serde_json::from_slice::<Value>(&from_stdin.stdout).unwrap(), sxcu);
}

#[tokio::test]
async fn the_openapi_document_lists_every_route_and_each_route_it_lists_exists() {
    let server = server().await;
    let response = client().get(api(&server, "/openapi.json")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "served without a token");
    let doc = json_of(response).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(doc["components"]["securitySchemes"]["token"]["scheme"], "bearer");
    let mut rows: Vec<(Method, &str)> = table().into_iter().map(|(m, p, ..)| (m, p)).collect();
    rows.extend([(Method::GET, "/token"), (Method::GET, "/events"), (Method::POST, "/files")]);
    // The access history, read-only (README, "Access history").
    rows.extend([(Method::GET, "/history"), (Method::GET, "/history/feed"), (Method::GET, "/history/feed/end")]);
    let documented = |method: &Method, path: &str| {
        let path = format!("/api/v1{}", path.replace("{file}", "{id}").replace("{dead_link}", "{id}"));
        let path = path.replace("{link}", "{id}").replace("{slot}", "{id}").replace("{token}", "{id}");
        doc["paths"][&path][method.as_str().to_ascii_lowercase()].is_object()
    };
    for (method, path) in &rows {
        assert!(documented(method, path), "{method} {path} is not in the document");
    }
    // And the other way: every documented operation is a route that asks for a token.
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            operations += 1;
            let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
            let url = format!("{}{}", server.base, path.replace("{id}", "aaaaaaaaaaaaaaaa"));
            let client_address = format!("10.9.9.{operations}");
            let response = client().request(method.clone(), url).header("x-forwarded-for", client_address).send().await;
            assert_eq!(response.unwrap().status(), StatusCode::UNAUTHORIZED, "{method} {path}");
        }
    }
    assert_eq!(operations, rows.len(), "the document has exactly the contract's operations");
    let unknown = call(&server, Method::GET, "/nothing/here", None, None).await;
    error(unknown, StatusCode::NOT_FOUND, "not_found").await;
    let wrong_method = call(&server, Method::PUT, "/files", None, None).await;
    error(wrong_method, StatusCode::METHOD_NOT_ALLOWED, "invalid").await;
}
