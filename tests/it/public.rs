//! Public files, and traversal attempts sent raw (HTTP clients would normalise them away).

use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_DISPOSITION};

use crate::support::{Server, client, raw};

#[tokio::test]
async fn public_flag_serves_without_token_and_private_again_is_404() {
    let server = Server::start().await;
    let file = server.add("poster.png", b"\x89PNG\r\n\x1a\nfake");
    let url = format!("{}/p/{}/poster.png", server.base, file.file.id);
    assert_eq!(client().get(&url).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    let info = server.vault.set_public(&file.file.id, true).unwrap();
    assert_eq!(info.public_url.as_deref(), Some(url.as_str()));
    let res = client().get(&url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[CACHE_CONTROL], "public, no-cache");
    assert!(res.headers()[CONTENT_DISPOSITION].to_str().unwrap().contains("poster.png"));
    assert_eq!(res.bytes().await.unwrap(), &b"\x89PNG\r\n\x1a\nfake"[..]);
    // Without the name too.
    assert_eq!(
        client().get(format!("{}/p/{}", server.base, file.file.id)).send().await.unwrap().status(),
        StatusCode::OK
    );
    server.vault.set_public(&file.file.id, false).unwrap();
    let res = client().get(&url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(res.headers()[CACHE_CONTROL], "no-store");
}

#[tokio::test]
async fn traversal_in_every_encoding_reaches_nothing() {
    let server = Server::start().await;
    let secret = server.add("secret.txt", b"TOP SECRET");
    let public = server.add("public.txt", b"public");
    server.vault.set_public(&public.file.id, true).unwrap();
    let (p, s) = (&public.file.id, &secret.file.id);
    let attempts = [
        format!("/p/{p}/../{s}"),
        format!("/p/{p}/..%2f{s}"),
        format!("/p/{p}/..\\{s}"),
        format!("/p/{p}/%2e%2e"),
        format!("/p/{p}/public.txt%00.txt"),
        format!("/p/{p}/../../{s}/secret.txt"),
        format!("/p/../p/{s}"),
        format!("/p/%2e%2e/{s}"),
        format!("/p/{p}/%2e%2e/%2e%2e/sharelock.db"),
        format!("/p/%2e%2e%2f{s}"),
        "/p/..%2f..%2fsharelock.db".to_string(),
        "/p/..%5c..%5csharelock.db".to_string(),
        format!("/p/{p}%2f..%2f{s}"),
        format!("/p/{p}%00/x"),
        format!("/p/{s}%00{p}"),
        format!("/p/%252e%252e/{s}"),
        format!("/p/%c0%ae%c0%ae/{s}"),
        "/p/..\\..\\sharelock.db".to_string(),
        "/p/../../secret.key".to_string(),
        "/p/store".to_string(),
        format!("/p/{}", s.to_uppercase()),
    ];
    for path in attempts {
        let response =
            raw(server.addr, format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes()).await;
        let status_line = response.lines().next().unwrap_or("").to_string();
        assert!(!response.contains("TOP SECRET"), "{path} leaked the secret file");
        assert!(!response.contains("SQLite format"), "{path} leaked the database");
        assert!(
            status_line.contains(" 404 ") || status_line.contains(" 400 "),
            "{path}: expected 404 or 400, got {status_line:?}"
        );
    }
    // And the real public file still works.
    let ok =
        raw(server.addr, format!("GET /p/{p}/public.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
            .await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert!(ok.ends_with("public"));
}

#[tokio::test]
async fn links_cannot_be_steered_by_path_tricks() {
    let server = Server::start().await;
    let secret = server.add("secret.txt", b"TOP SECRET");
    let shared = server.add("shared.txt", b"shared");
    let link = server.link(&shared.file.id);
    let path = link.url.strip_prefix(&server.base).unwrap();
    let (dir, _) = path.rsplit_once('/').unwrap();
    for suffix in
        [format!("/../{}", secret.file.id), format!("/%2e%2e%2f{}", secret.file.id), "/..%2f..%2fsharelock.db".into()]
    {
        let response =
            raw(server.addr, format!("GET {dir}{suffix} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
                .await;
        assert!(!response.contains("TOP SECRET"), "{suffix}");
        assert!(!response.contains("SQLite format"), "{suffix}");
    }
}
