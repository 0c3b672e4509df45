//! Who can open a link, tried for real: Sharelock in a "home network" namespace behind a router
//! namespace running Debian's miniupnpd, and a client in an "internet" namespace. No traffic
//! leaves the machine: the namespaces have no route out.
//!
//! miniupnpd refuses to map anything when its external address is in a reserved range, the
//! documentation ranges (203.0.113.0/24 and the like) included; the "internet" here is therefore
//! 192.0.3.0/24, an ordinary-looking range that exists only inside these namespaces.

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{self, sharelock_json};

/// The server's port inside its namespace (each namespace has its own ports).
const PORT: u16 = 7420;

fn is_root() -> bool {
    std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m)).unwrap_or(1) == 0
}

fn have(program: &str) -> bool {
    Command::new("sh").args(["-c", &format!("command -v {program}")]).output().is_ok_and(|o| o.status.success())
}

/// Whether this test can run; says why not on stderr when it cannot.
fn can_make_networks(what: &str, programs: &[&str]) -> bool {
    if !is_root() {
        eprintln!("skipped: {what} needs root to make network namespaces");
        return false;
    }
    for program in programs {
        assert!(have(program), "{what} needs `{program}` (./dev installs it)");
    }
    true
}

fn run(program: &str, args: &[&str]) -> Output {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// A network namespace of this test's own, deleted (with its interfaces) when dropped.
struct Netns(String);

impl Netns {
    fn new(role: &str) -> Netns {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!("sl{}-{}-{role}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        run("ip", &["netns", "add", &name]);
        run("ip", &["-n", &name, "link", "set", "lo", "up"]);
        Netns(name)
    }

    /// `program args…` inside this namespace.
    fn command(&self, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.0, program]);
        command
    }

    fn ip(&self, args: &[&str]) {
        let mut all = vec!["-n", &self.0];
        all.extend_from_slice(args);
        run("ip", &all);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// Joins `a` and `b` with a veth pair and gives each end its address (`10.0.0.1/24`).
fn wire(a: &Netns, a_addr: &str, b: &Netns, b_addr: &str) -> (String, String) {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let (a_if, b_if) =
        (format!("v{}a{n}", std::process::id() % 100_000), format!("v{}b{n}", std::process::id() % 100_000));
    run("ip", &["link", "add", &a_if, "type", "veth", "peer", "name", &b_if]);
    run("ip", &["link", "set", &a_if, "netns", &a.0]);
    run("ip", &["link", "set", &b_if, "netns", &b.0]);
    for (ns, iface, addr) in [(a, &a_if, a_addr), (b, &b_if, b_addr)] {
        ns.ip(&["addr", "add", addr, "dev", iface]);
        ns.ip(&["link", "set", iface, "up"]);
    }
    (a_if, b_if)
}

/// A home network: Sharelock's computer (`lan`, 192.168.77.2) behind a router (`router`,
/// 192.168.77.1 inside, `wan_ip` outside) and someone on the other side (`internet`).
struct Home {
    lan: Netns,
    router: Netns,
    internet: Netns,
    wan_prefix: String,
    upnp: Option<Child>,
    dir: tempfile::TempDir,
}

/// What the router lets hosts map.
enum Rules {
    /// Ports from 1024 for the home network.
    Allow,
    /// Nothing.
    Deny,
    /// Ports from 1024 for the home network, with UPnP off: PCP and NAT-PMP only.
    AllowWithoutUpnp,
}

impl Home {
    /// `wan_prefix` is the outside network's first three octets, the router being `.1` and
    /// the internet host `.2` there.
    fn new(wan_prefix: &str, upnp: Option<Rules>) -> Home {
        let (lan, router, internet) = (Netns::new("lan"), Netns::new("gw"), Netns::new("net"));
        let (router_lan_if, _) = wire(&router, "192.168.77.1/24", &lan, "192.168.77.2/24");
        let (router_wan_if, _) = wire(&router, &format!("{wan_prefix}.1/24"), &internet, &format!("{wan_prefix}.2/24"));
        lan.ip(&["route", "add", "default", "via", "192.168.77.1"]);
        let out = router.command("sysctl").args(["-qw", "net.ipv4.ip_forward=1"]).output().unwrap();
        assert!(out.status.success());
        let dir = tempfile::tempdir().unwrap();
        let mut home = Home { lan, router, internet, wan_prefix: wan_prefix.into(), upnp: None, dir };
        if let Some(rules) = upnp {
            home.start_miniupnpd(&router_lan_if, &router_wan_if, rules);
        }
        home
    }

    /// miniupnpd on the router, with the nftables chains it fills in (Debian's package leaves
    /// making them to the admin).
    fn start_miniupnpd(&mut self, lan_if: &str, wan_if: &str, rules: Rules) {
        let ruleset = format!(
            "table inet filter {{
               chain forward {{ type filter hook forward priority 0; policy drop; ct state established,related accept; iifname \"{lan_if}\" accept; jump miniupnpd; }}
               chain miniupnpd {{ }}
               chain prerouting {{ type nat hook prerouting priority -100; policy accept; jump prerouting_miniupnpd; }}
               chain postrouting {{ type nat hook postrouting priority 100; policy accept; jump postrouting_miniupnpd; oifname \"{wan_if}\" masquerade; }}
               chain prerouting_miniupnpd {{ }}
               chain postrouting_miniupnpd {{ }}
             }}"
        );
        let mut nft = self.router.command("nft").args(["-f", "-"]).stdin(Stdio::piped()).spawn().unwrap();
        std::io::Write::write_all(&mut nft.stdin.take().unwrap(), ruleset.as_bytes()).unwrap();
        assert!(nft.wait().unwrap().success(), "nft rules for miniupnpd");
        let upnp = if matches!(rules, Rules::AllowWithoutUpnp) { "no" } else { "yes" };
        let rules = match rules {
            Rules::Allow | Rules::AllowWithoutUpnp => {
                "allow 1024-65535 192.168.77.0/24 1024-65535\ndeny 0-65535 0.0.0.0/0 0-65535"
            }
            Rules::Deny => "deny 0-65535 0.0.0.0/0 0-65535",
        };
        let conf = self.dir.path().join("miniupnpd.conf");
        std::fs::write(
            &conf,
            format!(
                "ext_ifname={wan_if}\nlistening_ip={lan_if}\nhttp_port=0\nenable_upnp={upnp}\nenable_natpmp=yes\nsecure_mode=yes\nsystem_uptime=yes\nuuid=3ee3b1b2-1f5a-4a8e-9c7a-5ab2c6f1e001\n{rules}\n"
            ),
        )
        .unwrap();
        let log = std::fs::File::create(self.dir.path().join("miniupnpd.log")).unwrap();
        let pid = self.dir.path().join("miniupnpd.pid");
        let child = self
            .router
            .command("miniupnpd")
            .args(["-d", "-f"])
            .arg(&conf)
            .arg("-P")
            .arg(&pid)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.upnp = Some(child);
        // Ready once it listens for NAT-PMP and PCP (the last thing it opens).
        wait_until("miniupnpd listens", || {
            let out = self.router.command("ss").args(["-Hlun", "sport", "=", ":5351"]).output().unwrap();
            !out.stdout.is_empty()
        });
    }

    /// `sharelock serve` on the home computer, bound to every interface; waits for its
    /// `listening on` line (printed once the announcement and the mapping are settled).
    fn serve(&self, data_dir: &Path, extra: &[&str]) -> Serving {
        let mut child = self
            .lan
            .command(env!("CARGO_BIN_EXE_sharelock"))
            .arg("--data-dir")
            .arg(data_dir)
            .args(["serve", "--bind", &format!("0.0.0.0:{PORT}")])
            .args(extra)
            .env_remove("SHARELOCK_DATA_DIR")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(self.dir.path().join("serve.log")).unwrap())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert!(line.starts_with("listening on"), "serve said {line:?}: {}", self.log("serve.log"));
        Serving(child)
    }

    /// `sharelock … --json` run on the home computer.
    fn sharelock_json(&self, data_dir: &Path, args: &[&str]) -> Value {
        let out = self
            .lan
            .command(env!("CARGO_BIN_EXE_sharelock"))
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--json")
            .args(args)
            .env_remove("SHARELOCK_DATA_DIR")
            .output()
            .unwrap();
        assert!(out.status.success(), "sharelock {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// The router's forwarding rules as nftables lists them.
    fn forwards(&self) -> String {
        let out = self
            .router
            .command("nft")
            .args(["list", "chain", "inet", "filter", "prerouting_miniupnpd"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `curl` from the internet side: the status and the body.
    fn fetch_from_internet(&self, url: &str) -> (String, Vec<u8>) {
        let out = self.internet.command("curl").args(["-s", "-m", "5", "-w", "\n%{http_code}", url]).output().unwrap();
        let mut body = out.stdout;
        let at = body.iter().rposition(|b| *b == b'\n').unwrap_or(0);
        let status = String::from_utf8_lossy(&body[at..]).trim().to_string();
        body.truncate(at);
        (status, body)
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        if let Some(mut upnp) = self.upnp.take() {
            let _ = upnp.kill();
            let _ = upnp.wait();
        }
    }
}

/// A running `sharelock serve`; stopped with SIGTERM, as a service manager would.
struct Serving(Child);

impl Serving {
    fn stop(mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
        let status = self.0.wait().unwrap();
        assert!(status.success(), "serve ended with {status}");
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < Duration::from_secs(20), "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn verdict<'a>(report: &'a Value, audience: &str) -> &'a Value {
    report["verdicts"].as_array().unwrap().iter().find(|v| v["audience"] == audience).unwrap()
}

/// A data dir with one file in it, and the file's id.
fn data_dir_with_file(dir: &Path, bytes: &[u8]) -> (std::path::PathBuf, String) {
    let data = dir.join("data");
    let path = dir.join("report.pdf");
    std::fs::write(&path, bytes).unwrap();
    let added = sharelock_json(&data, &["add", path.to_str().unwrap()]);
    (data, added[0]["id"].as_str().unwrap().to_string())
}

#[test]
fn a_link_opens_from_the_internet_through_the_routers_port_mapping() {
    if !can_make_networks("port mapping", &["ip", "nft", "miniupnpd", "curl", "ss"]) {
        return;
    }
    let home = Home::new("192.0.3", Some(Rules::Allow));
    let dir = tempfile::tempdir().unwrap();
    let bytes = support::bytes(300_000);
    let (data, file) = data_dir_with_file(dir.path(), &bytes);
    let serving = home.serve(&data, &["--expose", "--expose-lease", "4s"]);

    // Links now carry the router's external address, and open from the internet.
    let link = home.sharelock_json(&data, &["link", &file, "--max-downloads", "1"]);
    let url = link["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("http://{}.1:{PORT}/d/", home.wan_prefix)), "{url}");
    assert!(home.forwards().contains(&format!("dport {PORT}")), "{}", home.forwards());
    let (status, body) = home.fetch_from_internet(url);
    assert_eq!(status, "200");
    assert!(body == bytes, "the file came through whole");

    // The report says so, per audience.
    let report = home.sharelock_json(&data, &["reach"]);
    assert_eq!(report["mapping"]["state"], "mapped", "{report:#}");
    assert_eq!(report["mapping"]["external_ip"], format!("{}.1", home.wan_prefix));
    assert_eq!(report["links_reach"], "internet");
    assert_eq!(verdict(&report, "this_computer")["can_open"], true, "{report:#}");
    assert_eq!(verdict(&report, "local_network")["can_open"], true, "{report:#}");
    let internet = verdict(&report, "internet");
    assert_eq!(internet["can_open"], true, "{report:#}");
    assert_eq!(internet["urls"][0], format!("http://{}.1:{PORT}", home.wan_prefix));

    // Renewed at half the 4 s lease: the recorded time moves on and the mapping stays.
    let first = report["mapping"]["renewed_at"].clone();
    wait_until("the mapping is renewed", || home.sharelock_json(&data, &["reach"])["mapping"]["renewed_at"] != first);
    assert!(home.forwards().contains(&format!("dport {PORT}")), "still mapped after renewal");

    // Quitting removes it: the router forwards nothing and the report says there is no mapping.
    serving.stop();
    assert!(!home.forwards().contains(&format!("dport {PORT}")), "{}", home.forwards());
    let (status, _) = home.fetch_from_internet(url);
    assert_eq!(status, "000", "nothing answers from outside once the server has quit");
    let report = home.sharelock_json(&data, &["reach"]);
    assert!(report["mapping"].is_null(), "{report:#}");
    assert_eq!(verdict(&report, "this_computer")["can_open"], false);
}

#[test]
fn a_router_without_upnp_maps_the_port_over_pcp_or_nat_pmp() {
    if !can_make_networks("port mapping", &["ip", "nft", "miniupnpd", "curl", "ss"]) {
        return;
    }
    let home = Home::new("192.0.3", Some(Rules::AllowWithoutUpnp));
    let dir = tempfile::tempdir().unwrap();
    let bytes = support::bytes(10_000);
    let (data, file) = data_dir_with_file(dir.path(), &bytes);
    let serving = home.serve(&data, &["--expose"]);

    let report = home.sharelock_json(&data, &["reach"]);
    assert_eq!(report["mapping"]["state"], "mapped", "{report:#} {}", home.log("serve.log"));
    assert!(["PCP", "NAT-PMP"].contains(&report["mapping"]["protocol"].as_str().unwrap()), "{report:#}");
    assert_eq!(report["mapping"]["gateway"], "192.168.77.1");
    let link = home.sharelock_json(&data, &["link", &file]);
    let url = link["url"].as_str().unwrap();
    let external = format!("http://{}.1:{}/", home.wan_prefix, report["mapping"]["external_port"]);
    assert!(url.starts_with(&external), "{url}");
    let (status, body) = home.fetch_from_internet(url);
    assert_eq!(status, "200");
    assert!(body == bytes);

    serving.stop();
    assert!(!home.forwards().contains("dnat"), "removed on exit: {}", home.forwards());
}

#[test]
fn a_refused_mapping_is_said_to_be_refused_and_links_stay_on_the_home_network() {
    if !can_make_networks("port mapping", &["ip", "nft", "miniupnpd", "ss"]) {
        return;
    }
    let home = Home::new("192.0.3", Some(Rules::Deny));
    let dir = tempfile::tempdir().unwrap();
    let (data, file) = data_dir_with_file(dir.path(), b"hello");
    let _serving = home.serve(&data, &["--expose"]);

    let report = home.sharelock_json(&data, &["reach"]);
    assert_eq!(report["mapping"]["state"], "failed", "{report:#}");
    assert_eq!(report["mapping"]["problem"], "refused", "{report:#}");
    assert!(report["mapping"]["message"].as_str().unwrap().contains("refused"), "{report:#}");
    let internet = verdict(&report, "internet");
    assert_eq!(internet["can_open"], false);
    assert!(internet["why"].as_str().unwrap().contains("refused"), "{internet}");
    // Links fall back to the home network's address, and the app and CLI can say so.
    let link = home.sharelock_json(&data, &["link", &file]);
    assert!(link["url"].as_str().unwrap().starts_with(&format!("http://192.168.77.2:{PORT}/")), "{link}");
    assert_eq!(report["links_reach"], "local_network");
    assert_eq!(verdict(&report, "local_network")["can_open"], true, "{report:#}");
}

#[test]
fn a_router_behind_carrier_grade_nat_is_diagnosed_as_double_nat() {
    if !can_make_networks("port mapping", &["ip", "nft", "miniupnpd", "ss"]) {
        return;
    }
    let home = Home::new("100.64.0", Some(Rules::Allow));
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = data_dir_with_file(dir.path(), b"hello");
    let _serving = home.serve(&data, &["--expose"]);

    let report = home.sharelock_json(&data, &["reach"]);
    assert_eq!(report["mapping"]["problem"], "double_nat", "{report:#} {}", home.log("serve.log"));
    // miniupnpd, like routers built on it, reports no external address at all when its own is
    // carrier-grade NAT (an address given is judged by its range: see `mapping`'s unit test).
    let message = report["mapping"]["message"].as_str().unwrap();
    assert!(message.contains("no public address") && message.contains("carrier-grade NAT"), "{message}");
    assert_eq!(verdict(&report, "internet")["can_open"], false);
    assert!(home.forwards().lines().all(|l| !l.contains("dnat")), "nothing was mapped: {}", home.forwards());
}

#[test]
fn without_a_router_to_ask_the_server_says_no_gateway_answered() {
    if !can_make_networks("port mapping", &["ip"]) {
        return;
    }
    let home = Home::new("192.0.3", None);
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = data_dir_with_file(dir.path(), b"hello");
    let _serving = home.serve(&data, &["--expose"]);

    let report = home.sharelock_json(&data, &["reach"]);
    assert_eq!(report["mapping"]["problem"], "no_gateway", "{report:#}");
    assert!(report["mapping"]["message"].as_str().unwrap().contains("no router answered"), "{report:#}");
    assert_eq!(verdict(&report, "internet")["can_open"], false);
}

/// Browses for `_http._tcp` services from inside `ns` for up to `patience`, and returns the
/// first one whose name starts with `prefix`: its host name, addresses and port.
fn browse_from(ns: &Netns, prefix: &str, patience: Duration) -> Option<(String, Vec<String>, u16)> {
    let path = format!("/run/netns/{}", ns.0);
    let prefix = prefix.to_string();
    std::thread::spawn(move || {
        use std::os::fd::AsRawFd;
        // This thread, and the daemon thread it starts, join the namespace.
        let handle = std::fs::File::open(&path).unwrap();
        assert_eq!(unsafe { libc::setns(handle.as_raw_fd(), libc::CLONE_NEWNET) }, 0, "setns into {path}");
        let daemon = mdns_sd::ServiceDaemon::new().unwrap();
        let events = daemon.browse(sharelock::reach::announce::SERVICE_TYPE).unwrap();
        let deadline = Instant::now() + patience;
        let mut found = None;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match events.recv_timeout(left) {
                Ok(mdns_sd::ServiceEvent::ServiceResolved(s)) if s.fullname.starts_with(&prefix) => {
                    let addresses = s.addresses.iter().map(|a| a.to_ip_addr().to_string()).collect();
                    found = Some((s.host.clone(), addresses, s.port));
                    break;
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        let _ = daemon.shutdown();
        found
    })
    .join()
    .unwrap()
}

#[test]
fn the_server_is_found_on_the_local_network_by_name() {
    if !can_make_networks("mDNS", &["ip"]) {
        return;
    }
    let home = Home::new("192.0.3", None);
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = data_dir_with_file(dir.path(), b"hello");
    let serving = home.serve(&data, &[]);

    // Another device on the same network (the router's side of it) finds and resolves it.
    let instance = sharelock::reach::announce::instance_name();
    let (host, addresses, port) =
        browse_from(&home.router, &instance, Duration::from_secs(10)).expect("the announcement is heard next door");
    assert_eq!(host, format!("{}.", sharelock::reach::network::mdns_host()));
    assert_eq!(port, PORT);
    assert!(addresses.contains(&"192.168.77.2".to_string()), "{addresses:?}");

    let report = home.sharelock_json(&data, &["reach"]);
    assert_eq!(report["announced"], true, "{report:#}");
    let network = verdict(&report, "local_network");
    assert_eq!(network["can_open"], true, "{report:#}");
    assert_eq!(network["urls"][0], format!("http://{}:{PORT}", sharelock::reach::network::mdns_host()));
    assert_eq!(network["urls"][1], format!("http://192.168.77.2:{PORT}"));

    // Quitting withdraws it.
    serving.stop();
    assert!(browse_from(&home.router, &instance, Duration::from_secs(3)).is_none(), "no announcement after quitting");
}

#[test]
fn with_no_network_only_this_computer_can_open_a_link() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut child, base) = support::spawn_serve(&data, &[], &[], Stdio::null());
    let report = sharelock_json(&data, &["reach"]);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(report["links_reach"], "this_computer");
    let here = verdict(&report, "this_computer");
    assert_eq!(here["can_open"], true, "{report:#}");
    assert_eq!(here["urls"][0], base.as_str());
    let network = verdict(&report, "local_network");
    assert_eq!(network["can_open"], false);
    assert!(network["why"].as_str().unwrap().contains("only this computer"), "{network}");
    assert_eq!(verdict(&report, "internet")["can_open"], false);
    assert!(report["checks"][0]["result"] == "this_server", "{report:#}");
}

#[test]
fn a_server_on_ipv6_is_tried_at_each_ipv6_address_and_opens_there() {
    if !can_make_networks("IPv6", &["ip", "curl"]) {
        return;
    }
    let (lan, peer) = (Netns::new("lan6"), Netns::new("peer6"));
    let (lan_if, peer_if) = wire(&lan, "192.168.78.2/24", &peer, "192.168.78.1/24");
    // A unique local and a global address on each side (`nodad`: usable at once, not after
    // duplicate address detection), and the default route through the peer.
    for (ns, iface, host) in [(&lan, &lan_if, "2"), (&peer, &peer_if, "1")] {
        for prefix in ["fd78::", "2a0a:78::"] {
            ns.ip(&["-6", "addr", "add", &format!("{prefix}{host}/64"), "dev", iface, "nodad"]);
        }
    }
    lan.ip(&["route", "add", "default", "via", "192.168.78.1"]);
    lan.ip(&["-6", "route", "add", "default", "via", "2a0a:78::1"]);
    let dir = tempfile::tempdir().unwrap();
    let bytes = support::bytes(5_000);
    let (data, file) = data_dir_with_file(dir.path(), &bytes);
    let mut serving = lan
        .command(env!("CARGO_BIN_EXE_sharelock"))
        .arg("--data-dir")
        .arg(&data)
        .args(["serve", "--bind", &format!("[::]:{PORT}"), "--no-announce"])
        .env_remove("SHARELOCK_DATA_DIR")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(serving.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let _serving = Serving(serving);

    let out = lan
        .command(env!("CARGO_BIN_EXE_sharelock"))
        .arg("--data-dir")
        .arg(&data)
        .args(["--json", "reach"])
        .env_remove("SHARELOCK_DATA_DIR")
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let reached = |url: &str| {
        report["checks"].as_array().unwrap().iter().any(|c| c["url"] == url && c["result"] == "this_server")
    };
    assert!(reached(&format!("http://[fd78::2]:{PORT}")), "{report:#}");
    assert!(reached(&format!("http://[2a0a:78::2]:{PORT}")), "{report:#}");
    let kinds: Vec<_> =
        report["addresses"].as_array().unwrap().iter().map(|a| (a["ip"].clone(), a["kind"].clone())).collect();
    assert!(kinds.contains(&("fd78::2".into(), "private".into())), "{kinds:?}");
    assert!(kinds.contains(&("2a0a:78::2".into(), "public".into())), "{kinds:?}");
    assert!(kinds.iter().any(|(_, kind)| kind == "link_local"), "link-local addresses are listed: {kinds:?}");
    assert!(
        verdict(&report, "local_network")["urls"]
            .as_array()
            .unwrap()
            .contains(&format!("http://[fd78::2]:{PORT}").into())
    );
    let internet = verdict(&report, "internet");
    assert_eq!(internet["can_open"], true, "{report:#}");
    assert!(internet["why"].as_str().unwrap().contains("IPv6"), "{internet}");

    // A link opens over IPv6 from the other host, and over IPv4 too (one dual-stack socket).
    let link = sharelock_json(&data, &["link", &file]);
    let path = link["url"].as_str().unwrap().splitn(4, '/').nth(3).unwrap().to_string();
    for host in ["[2a0a:78::2]", "192.168.78.2"] {
        let out =
            peer.command("curl").args(["-sf", "-m", "5", &format!("http://{host}:{PORT}/{path}")]).output().unwrap();
        assert!(out.status.success() && out.stdout == bytes, "fetch over {host}");
    }
}
