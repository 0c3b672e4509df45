//! A bounded load test: 200 concurrent clients against the real server, mixing full and ranged
//! downloads, HEADs, forged tokens and uploads into a slot, for `SHARELOCK_LOAD_SECONDS` (15 by
//! default; minutes by hand). It passes when no answer is a 5xx and no request fails, every
//! download hashes right, every accepted upload is stored whole, and the server's resident
//! memory stays flat after warm-up.
//!
//! `./dev test` runs the short version on its own (it would starve other tests of CPU):
//! `SHARELOCK_LOAD_SECONDS=180 cargo nextest run --run-ignored only -E 'test(mixed_load)'`.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::RANGE;

use crate::support::{bytes, sha256_hex, sharelock_json};

const CLIENTS: usize = 200;

#[derive(Default, Debug)]
struct Tally {
    requests: u64,
    server_errors: u64,
    failures: Vec<String>,
    uploads: HashMap<String, (String, u64)>,
}

/// Anonymous resident memory (heap and stacks): what a leak would grow. File-backed pages, such
/// as the memory-mapped database growing with every upload's row, are left out.
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("RssAnon:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a load test: ./dev test runs it on its own"]
async fn mixed_load_for_a_while() {
    let seconds: u64 = std::env::var("SHARELOCK_LOAD_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(15);
    let work = tempfile::tempdir().unwrap();
    let data_dir = work.path().join("data");
    let big = bytes(2 << 20);
    let small = bytes(20_000);
    std::fs::write(work.path().join("big.bin"), &big).unwrap();
    std::fs::write(work.path().join("small.bin"), &small).unwrap();
    let added = sharelock_json(
        &data_dir,
        &["add", work.path().join("big.bin").to_str().unwrap(), work.path().join("small.bin").to_str().unwrap()],
    );
    let ids: Vec<String> = added.as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap().to_string()).collect();

    let (mut server, base) = crate::support::spawn_serve(&data_dir, &[], &[("SHARELOCK_LOG", "warn")], Stdio::null());
    let pid = server.id();
    let link = |id: &str| {
        sharelock_json(&data_dir, &["link", id, "--expires", "never", "--base-url", &base])["url"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (big_url, small_url) = (link(&ids[0]), link(&ids[1]));
    let forged = {
        let mut parts: Vec<String> = small_url.split('/').map(String::from).collect();
        parts[5] = "A".repeat(43);
        parts.join("/")
    };
    let slot = sharelock_json(&data_dir, &["slot", "--max-files", "100000", "--max-size", "1M", "--base-url", &base]);
    let slot_url = slot["url"].as_str().unwrap().to_string();

    let client = reqwest::Client::builder().no_proxy().pool_max_idle_per_host(CLIENTS).build().unwrap();
    let tally = Arc::new(Mutex::new(Tally::default()));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let big = Arc::new(big);
    let small = Arc::new(small);
    let mut tasks = Vec::new();
    for n in 0..CLIENTS {
        let (client, tally) = (client.clone(), tally.clone());
        let (big_url, small_url, forged, slot_url) =
            (big_url.clone(), small_url.clone(), forged.clone(), slot_url.clone());
        let (big, small) = (big.clone(), small.clone());
        tasks.push(tokio::spawn(async move {
            let mut round = n;
            while Instant::now() < deadline {
                round += 1;
                let outcome: Result<(), String> = async {
                    match round % 6 {
                        0 => {
                            let res = client.get(&big_url).send().await.map_err(|e| e.to_string())?;
                            check_status(res.status(), StatusCode::OK)?;
                            let body = res.bytes().await.map_err(|e| e.to_string())?;
                            if sha256_hex(&body) != sha256_hex(&big) {
                                return Err("a full download hashed wrong".into());
                            }
                        }
                        1 | 4 => {
                            let res = client.get(&small_url).send().await.map_err(|e| e.to_string())?;
                            check_status(res.status(), StatusCode::OK)?;
                            if res.bytes().await.map_err(|e| e.to_string())? != small[..] {
                                return Err("a small download came back wrong".into());
                            }
                        }
                        2 => {
                            let at = (round * 7919) % (big.len() - 4096);
                            let res = client
                                .get(&big_url)
                                .header(RANGE, format!("bytes={at}-{}", at + 4095))
                                .send()
                                .await
                                .map_err(|e| e.to_string())?;
                            check_status(res.status(), StatusCode::PARTIAL_CONTENT)?;
                            if res.bytes().await.map_err(|e| e.to_string())? != big[at..at + 4096] {
                                return Err("a ranged download came back wrong".into());
                            }
                        }
                        3 => {
                            let res = client.head(&small_url).send().await.map_err(|e| e.to_string())?;
                            check_status(res.status(), StatusCode::OK)?;
                            let res = client.get(&forged).send().await.map_err(|e| e.to_string())?;
                            if res.status() != StatusCode::FORBIDDEN && res.status() != StatusCode::TOO_MANY_REQUESTS {
                                return Err(format!("a forged token got {}", res.status()));
                            }
                        }
                        _ => {
                            let body = bytes(4096 + (round * 131) % 60_000);
                            let (base, query) = slot_url.split_once('?').unwrap();
                            let res = client
                                .put(format!("{base}/up-{n}-{round}.bin?{query}"))
                                .body(body.clone())
                                .send()
                                .await
                                .map_err(|e| e.to_string())?;
                            check_status(res.status(), StatusCode::CREATED)?;
                            let json: serde_json::Value = res.json().await.map_err(|e| e.to_string())?;
                            let id = json["files"][0]["id"].as_str().unwrap_or_default().to_string();
                            tally.lock().unwrap().uploads.insert(id, (sha256_hex(&body), body.len() as u64));
                        }
                    }
                    Ok(())
                }
                .await;
                let mut t = tally.lock().unwrap();
                t.requests += 1;
                if let Err(e) = outcome {
                    t.server_errors += u64::from(e.starts_with("5xx"));
                    if t.failures.len() < 20 {
                        t.failures.push(e);
                    }
                }
            }
        }));
    }

    // Resident memory, sampled while the load runs; the first half is warm-up (allocator arenas
    // grow to the concurrency first).
    let mut samples = Vec::new();
    while Instant::now() < deadline {
        samples.push((Instant::now(), rss_mib(pid)));
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for task in tasks {
        task.await.unwrap();
    }
    let warm = deadline - Duration::from_secs(seconds / 2);
    let after: Vec<f64> = samples.iter().filter(|(at, _)| *at >= warm).map(|(_, rss)| *rss).collect();
    let (low, high) = after.iter().fold((f64::MAX, 0f64), |(lo, hi), v| (lo.min(*v), hi.max(*v)));

    let tally = tally.lock().unwrap();
    eprintln!(
        "load: {} requests in {seconds} s from {CLIENTS} clients; anonymous RSS after warm-up {low:.1}–{high:.1} MiB; {} uploads",
        tally.requests,
        tally.uploads.len()
    );
    assert!(tally.failures.is_empty(), "failures: {:?}", tally.failures);
    assert_eq!(tally.server_errors, 0);
    assert!(tally.requests > CLIENTS as u64, "the load ran");
    assert!(high - low <= 32.0, "RSS grew after warm-up: {low:.1} -> {high:.1} MiB");

    // Every accepted upload is stored whole.
    Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    server.wait().unwrap();
    let listed = sharelock_json(&data_dir, &["ls"]);
    let stored: HashMap<String, (String, u64)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["id"].as_str().unwrap().to_string(),
                (f["sha256"].as_str().unwrap().to_string(), f["size"].as_u64().unwrap()),
            )
        })
        .collect();
    for (id, expected) in &tally.uploads {
        assert_eq!(stored.get(id), Some(expected), "upload {id}");
    }
    let verify = crate::support::sharelock(&data_dir, &["verify"]);
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
}

fn check_status(got: StatusCode, want: StatusCode) -> Result<(), String> {
    match got {
        _ if got == want => Ok(()),
        _ if got.is_server_error() => Err(format!("5xx: {got}")),
        _ => Err(format!("expected {want}, got {got}")),
    }
}
