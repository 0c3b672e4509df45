//! A vault with a small and a large file, a link to each and a slot, shared by the router targets.

use std::sync::{Arc, OnceLock};

use sharelock::Vault;
use sharelock::http::{ServerConfig, router};

// Each router target uses only some of the paths.
#[allow(dead_code)]
pub struct World {
    pub runtime: tokio::runtime::Runtime,
    pub router: axum::Router,
    pub small_path: String,
    pub big_path: String,
    pub slot_path: String,
}

pub fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("sharelock-fuzz-{}", std::process::id()));
        let vault = Arc::new(Vault::open(&dir.join("data")).unwrap());
        let add = |name: &str, len: usize| {
            let path = dir.join(name);
            std::fs::write(&path, (0..len).map(|i| (i % 251) as u8).collect::<Vec<u8>>()).unwrap();
            vault.add_file(&path, false, 1_700_000_000, &mut |_| {}).unwrap().file.id
        };
        let (small, big) = (add("small.bin", 1000), add("big.bin", 200_000));
        let link = |id: &str| {
            let url = vault.create_link(id, Default::default(), sharelock::time::now(), Some("http://x")).unwrap().url;
            url.strip_prefix("http://x").unwrap().to_string()
        };
        let slot = vault
            .create_slot(
                sharelock::vault::NewSlot { max_files: u64::MAX / 2, max_size: 1 << 20, ..Default::default() },
                sharelock::time::now(),
                Some("http://x"),
            )
            .unwrap()
            .url;
        World {
            runtime: tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap(),
            router: router(vault.clone(), ServerConfig::default()),
            small_path: link(&small),
            big_path: link(&big),
            slot_path: slot.strip_prefix("http://x").unwrap().to_string(),
        }
    })
}
