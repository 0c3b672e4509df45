//! The store on disk: leftovers cleaned at startup, nothing half-added.

use reqwest::StatusCode;
use sharelock::http::ServerConfig;

use crate::support::{Server, client};

#[tokio::test]
async fn startup_removes_temp_files_and_orphans_and_keeps_real_files() {
    let server = Server::start().await;
    let kept = server.add("kept.txt", b"keep me");
    let store = server.vault.store().dir().to_path_buf();
    let dir = server.stop().await;
    // What a crash would leave: a half-written temp file and a renamed file whose row never came.
    std::fs::write(store.join(".tmp-crashed"), b"partial").unwrap();
    let orphan = sharelock::ids::generate();
    std::fs::write(store.join(&orphan), b"no row").unwrap();

    let server = Server::start_in(dir, ServerConfig::default()).await;
    let link = server.link(&kept.file.id);
    let res = client().get(&link.url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text().await.unwrap(), "keep me");
    assert!(!store.join(".tmp-crashed").exists());
    assert!(!store.join(&orphan).exists());
    assert!(store.join(&kept.file.id).exists());
}

#[tokio::test]
async fn adding_a_folder_fails_and_stores_nothing() {
    let server = Server::start().await;
    let err = server.vault.add_file(server.dir.path(), false, 0, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("not a regular file"), "{err}");
    assert!(server.vault.files().unwrap().is_empty());
    let leftovers: Vec<_> = std::fs::read_dir(server.vault.store().dir())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name() != ".lock")
        .collect();
    assert!(leftovers.is_empty());
}

#[tokio::test]
async fn names_keep_unicode_and_lose_control_characters() {
    let server = Server::start().await;
    let file = server.add("Übersicht\u{7}\u{1b}[31m 2026 📊.xlsx", b"x");
    assert_eq!(file.file.name, "Übersicht[31m 2026 📊.xlsx");
    assert_eq!(file.file.content_type, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
    assert!(sharelock::ids::is_valid(&file.file.id));
}

#[tokio::test]
async fn export_writes_an_exact_copy_and_folders_expand_to_their_files() {
    let server = Server::start().await;
    let file = server.add("report.txt", b"the report");
    let dest = server.dir.path().join("out").join("copy.txt");
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    server.vault.export_file(&file.file.id, &dest).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), b"the report");
    assert!(server.vault.export_file("nosuchfile000000", &dest).is_err());

    let folder = server.dir.path().join("folder");
    std::fs::create_dir_all(folder.join("sub")).unwrap();
    std::fs::write(folder.join("b.txt"), b"b").unwrap();
    std::fs::write(folder.join("sub").join("a.txt"), b"a").unwrap();
    let single = server.dir.path().join("single.txt");
    std::fs::write(&single, b"s").unwrap();
    let expanded = sharelock::vault::expand_paths(&[folder.clone(), single.clone()]).unwrap();
    assert_eq!(expanded, vec![folder.join("b.txt"), folder.join("sub").join("a.txt"), single]);
    assert!(sharelock::vault::expand_paths(&[server.dir.path().join("missing")]).is_err());
}
