//! Who can open a link: this computer, the local network, or the internet, and why.
//!
//! - [`network`]: this computer's addresses and what each says about who can reach it.
//! - [`announce`]: the mDNS/DNS-SD announcement that gives the server a `HOST.local` name.
//! - [`mapping`]: a UPnP port mapping on the router, renewed and removed, with its diagnosis.
//! - [`probe`]: a request to a URL that only this server can answer (a nonce signed with the
//!   data dir's secret).
//! - [`Presence`]: what a server does on the network once bound (announce, map, pick the
//!   address links carry); the CLI and the app both start one.
//! - [`Report`]: all of it put together for `sharelock reach` and the app's panel, ending in a
//!   plain verdict per audience.

pub mod announce;
pub mod mapping;
pub mod network;
pub mod probe;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::{Result, Vault, settings};
use mapping::{PortMapping, Record};
use network::{Address, AddressKind};
use probe::Probe;

/// Who a URL can reach, from its host alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// Only this computer (127.0.0.1, localhost).
    ThisComputer,
    /// Devices on the same local network (a private or link-local address, a `.local` name).
    LocalNetwork,
    /// Anyone on the internet (a public address or a DNS name), where firewalls allow.
    Internet,
}

impl Audience {
    /// The audience in words, as the app and `sharelock reach` say it.
    pub fn words(self) -> &'static str {
        match self {
            Audience::ThisComputer => "this computer",
            Audience::LocalNetwork => "your network",
            Audience::Internet => "the internet",
        }
    }
}

/// Who a link on `base_url` can reach, judged by its host: an address by its range, `localhost`
/// and `*.local` by their meaning, any other name as the internet (a name in public DNS).
pub fn audience_of(base_url: &str) -> Audience {
    let host = host_of(base_url);
    if let Ok(ip) = host.parse::<IpAddr>() {
        return match network::classify(ip) {
            AddressKind::Loopback => Audience::ThisComputer,
            AddressKind::LinkLocal | AddressKind::Private | AddressKind::SharedNat | AddressKind::Special => {
                Audience::LocalNetwork
            }
            AddressKind::Public => Audience::Internet,
        };
    }
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host == "localhost" || host.ends_with(".localhost") {
        Audience::ThisComputer
    } else if host.ends_with(".local") || !host.contains('.') {
        Audience::LocalNetwork
    } else {
        Audience::Internet
    }
}

/// The host of a URL: the address or name between `://` and the port or path, without brackets.
fn host_of(url: &str) -> &str {
    let host = url.split("://").nth(1).unwrap_or(url);
    let host = host.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default().split('%').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    }
}

/// Why a link on `url` will not open for the person it is sent to, if it will not: said before
/// it is copied or shown as a QR code.
pub fn warning(url: &str) -> Option<String> {
    let host = host_of(url);
    let ip: IpAddr = match host.parse() {
        Ok(ip) => ip,
        Err(_) if audience_of(url) == Audience::ThisComputer => {
            return Some(format!("Only this computer can open it: {host} is this computer's own name."));
        }
        Err(_) => return None,
    };
    match network::classify(ip) {
        AddressKind::Loopback => Some(format!(
            "Only this computer can open it: {ip} is this computer's own address, so anyone else gets \"connection refused\"."
        )),
        AddressKind::SharedNat => Some(format!(
            "It may open only inside your provider's network or a VPN: {ip} is a carrier-grade NAT address (100.64.0.0/10), not one the internet reaches."
        )),
        AddressKind::Special => Some(format!("No one may be able to open it: {ip} is a reserved address.")),
        _ => None,
    }
}

/// `url` with its host replaced by this computer's mDNS name (`http://laptop.local:7420/…`), when
/// it carries an address other devices reach on the local link (not loopback, not public): the
/// same link by name, which keeps working when DHCP hands out another address.
pub fn by_name(url: &str) -> Option<String> {
    let ip: IpAddr = host_of(url).parse().ok()?;
    // mDNS names resolve on the local link whatever the address range; a public address is left
    // alone, as it is most likely the router's external one, which no `.local` name stands for.
    if matches!(network::classify(ip), AddressKind::Loopback | AddressKind::Public) {
        return None;
    }
    let (scheme, rest) = url.split_once("://")?;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let port = match authority.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(':') && port.chars().all(|c| c.is_ascii_digit()) => format!(":{port}"),
        _ => String::new(),
    };
    Some(format!("{scheme}://{}{port}{tail}", network::mdns_host()))
}

/// What a server does on the network once bound.
#[derive(Debug, Clone, Copy, Default)]
pub struct Exposure {
    /// Announce the server over mDNS (when it listens beyond this computer).
    pub announce: bool,
    /// Ask the router for a port mapping, with this lease.
    pub map: Option<Duration>,
}

/// A server's presence on the network: its announcement and its port mapping, both withdrawn
/// when this is dropped.
#[derive(Debug, Default)]
pub struct Presence {
    announcement: Option<announce::Announcement>,
    mapping: Option<PortMapping>,
    /// Why the mapping asked for is not there.
    pub mapping_failure: Option<Record>,
}

impl Presence {
    /// Starts what `exposure` asks for a server bound to `bound` (blocking: the router search
    /// takes up to a few seconds). A mapping, once made, becomes the address links carry (the
    /// listen URL; an explicit base URL still wins). Failures are logged and kept, never fatal:
    /// the server still serves this computer and the local network.
    pub fn start(vault: Arc<Vault>, bound: SocketAddr, exposure: Exposure) -> Presence {
        let mut presence = Presence::default();
        if bound.ip().is_loopback() {
            if exposure.map.is_some() {
                tracing::warn!(
                    "not asking the router for a port mapping: the server listens on {bound}, which only this computer reaches (listen on 0.0.0.0 to expose it)"
                );
            }
            return presence;
        }
        let specific = (!bound.ip().is_unspecified()).then_some(bound.ip());
        if exposure.announce {
            match announce::Announcement::start(specific, bound.port()) {
                Ok(a) => {
                    tracing::info!(
                        "announced on the local network as {} (http://{}:{})",
                        a.fullname(),
                        network::mdns_host(),
                        bound.port()
                    );
                    presence.announcement = Some(a);
                }
                Err(e) => tracing::warn!("{e}"),
            }
        }
        let Some(lease) = exposure.map else { return presence };
        let Some(lan) = specific.filter(|ip| ip.is_ipv4()).or_else(network::lan_ip) else {
            tracing::warn!("not asking for a port mapping: this computer has no IPv4 address on a network");
            return presence;
        };
        let request =
            mapping::Request { internal: SocketAddr::new(lan, bound.port()), external_port: bound.port(), lease };
        match PortMapping::open(vault.clone(), request) {
            Ok(mapped) => {
                if let Some(url) = mapped.record().external_url() {
                    tracing::info!("the router forwards {url} to this server; links are built with it");
                    if let Err(e) = vault.set_listen_url(&url) {
                        tracing::warn!("cannot record the external address: {e}");
                    }
                }
                presence.mapping = Some(mapped);
            }
            Err(failed) => {
                if let Record::Failed { message, .. } = &failed {
                    tracing::warn!("no port mapping: {message}; links reach your network only");
                }
                presence.mapping_failure = Some(failed);
            }
        }
        presence
    }

    /// Whether the server is announced on the local network.
    pub fn announced(&self) -> bool {
        self.announcement.is_some()
    }

    /// The mapping in force, if any.
    pub fn mapping(&self) -> Option<&Record> {
        self.mapping.as_ref().map(PortMapping::record)
    }
}

/// One URL tried, and what answered.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// Who this URL is for.
    pub audience: Audience,
    /// What was asked.
    pub url: String,
    /// What answered.
    #[serde(flatten)]
    pub probe: Probe,
}

/// A plain verdict for one audience.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// Who.
    pub audience: Audience,
    /// Whether they can open a link.
    pub can_open: bool,
    /// The URLs they would use, best first.
    pub urls: Vec<String>,
    /// Why, in words.
    pub why: String,
}

/// What `sharelock reach` reports.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Where the last server on this data dir was bound, if one ran.
    pub bind: Option<SocketAddr>,
    /// The base URL links are built with now.
    pub base_url: String,
    /// Who links built now can reach, by their host.
    pub links_reach: Audience,
    /// The name this computer is announced as on the local network.
    pub mdns_name: String,
    /// Whether the server's mDNS announcement was heard (None: not looked for).
    pub announced: Option<bool>,
    /// This computer's addresses.
    pub addresses: Vec<Address>,
    /// The port mapping the server holds, or why it has none.
    pub mapping: Option<Record>,
    /// The URLs tried.
    pub checks: Vec<Check>,
    /// Who can open a link, in words.
    pub verdicts: Vec<Verdict>,
}

impl Report {
    /// Examines the data dir's server from this computer (blocking: a few seconds at most).
    pub fn examine(vault: &Vault) -> Result<Report> {
        let bind: Option<SocketAddr> = vault.setting(settings::LISTEN_ADDR)?.and_then(|a| a.parse().ok());
        let base_url = vault.base_url(None)?;
        let mapping = Record::load(vault)?;
        let addresses = network::addresses();
        let mdns_name = network::mdns_host();
        let mut checks: Vec<Check> = Vec::new();
        let check = |checks: &mut Vec<Check>, audience: Audience, url: String| {
            let probe = probe::probe(vault, &url);
            checks.push(Check { audience, url, probe });
        };
        let port = bind.map(|b| b.port());
        let listens_on_network = bind.is_some_and(|b| !b.ip().is_loopback());
        let lan = bind.and_then(|b| if b.ip().is_unspecified() { network::lan_ip() } else { Some(b.ip()) });
        if let Some(bind) = bind {
            let local = if bind.ip().is_unspecified() { IpAddr::from([127, 0, 0, 1]) } else { bind.ip() };
            check(&mut checks, Audience::ThisComputer, format!("http://{}:{}", network::url_host(local), bind.port()));
            if listens_on_network && let Some(lan) = lan.filter(|ip| *ip != local) {
                let url = format!("http://{}:{}", network::url_host(lan), bind.port());
                check(&mut checks, Audience::LocalNetwork, url);
            }
            // Bound to [::], the server takes IPv6 too: each routable IPv6 address is tried
            // (link-local ones need a zone in the URL, which browsers do not take; they are listed).
            if bind.ip() == IpAddr::from(std::net::Ipv6Addr::UNSPECIFIED) {
                for address in addresses.iter().filter(|a| a.ip.is_ipv6()) {
                    let audience = match address.kind {
                        AddressKind::Private => Audience::LocalNetwork,
                        AddressKind::Public => Audience::Internet,
                        _ => continue,
                    };
                    check(&mut checks, audience, format!("http://{}:{}", network::url_host(address.ip), bind.port()));
                }
            }
        }
        if let Some(url) = mapping.as_ref().and_then(Record::external_url) {
            check(&mut checks, Audience::Internet, url);
        }
        if !checks.iter().any(|c| c.url == base_url) {
            check(&mut checks, audience_of(&base_url), base_url.clone());
        }
        let announced = match (listens_on_network, port) {
            (true, Some(port)) => Some(heard_announcement(port)),
            _ => None,
        };
        let mut report = Report {
            bind,
            links_reach: audience_of(&base_url),
            base_url,
            mdns_name,
            announced,
            addresses,
            mapping,
            checks,
            verdicts: Vec::new(),
        };
        report.verdicts = verdicts(&report, lan);
        Ok(report)
    }

    fn reached(&self, audience: Audience) -> Vec<&Check> {
        self.checks.iter().filter(|c| c.audience == audience && c.probe.reached()).collect()
    }
}

fn verdicts(report: &Report, lan: Option<IpAddr>) -> Vec<Verdict> {
    let Some(bind) = report.bind else {
        let why =
            "no Sharelock server has run on this data dir yet: start one (`sharelock serve`, or the app)".to_string();
        return [Audience::ThisComputer, Audience::LocalNetwork, Audience::Internet]
            .map(|audience| Verdict { audience, can_open: false, urls: vec![], why: why.clone() })
            .into();
    };
    let port = bind.port();
    let local = report.reached(Audience::ThisComputer);
    let running = !local.is_empty();
    let this_computer = if running {
        Verdict {
            audience: Audience::ThisComputer,
            can_open: true,
            urls: local.iter().map(|c| c.url.clone()).collect(),
            why: "the server answers here".into(),
        }
    } else {
        Verdict {
            audience: Audience::ThisComputer,
            can_open: false,
            urls: vec![],
            why: format!("no Sharelock server answers on port {port}: start it (`sharelock serve`, or the app)"),
        }
    };
    let network = if !running {
        Verdict {
            audience: Audience::LocalNetwork,
            can_open: false,
            urls: vec![],
            why: "the server is not running".into(),
        }
    } else if bind.ip().is_loopback() {
        Verdict {
            audience: Audience::LocalNetwork,
            can_open: false,
            urls: vec![],
            why: format!(
                "the server listens on {bind}, which only this computer reaches: listen on 0.0.0.0:{port} (`sharelock serve --bind 0.0.0.0:{port}`, or \"Devices on the local network\" in the app's Settings)"
            ),
        }
    } else {
        let mut urls = Vec::new();
        if report.announced == Some(true) {
            urls.push(format!("http://{}:{port}", report.mdns_name));
        }
        urls.extend(report.reached(Audience::LocalNetwork).iter().map(|c| c.url.clone()));
        match lan {
            Some(_) if !urls.is_empty() => Verdict {
                audience: Audience::LocalNetwork,
                can_open: true,
                urls,
                why: format!(
                    "the server listens on the network (unless a firewall on this computer blocks port {port})"
                ),
            },
            Some(ip) => Verdict {
                audience: Audience::LocalNetwork,
                can_open: false,
                urls,
                why: format!("http://{}:{port} did not come back to this server", network::url_host(ip)),
            },
            None => Verdict {
                audience: Audience::LocalNetwork,
                can_open: false,
                urls,
                why: "this computer has no address on a network".into(),
            },
        }
    };
    let internet = internet_verdict(report, running, port);
    vec![this_computer, network, internet]
}

fn internet_verdict(report: &Report, running: bool, port: u16) -> Verdict {
    let verdict =
        |can_open: bool, urls: Vec<String>, why: String| Verdict { audience: Audience::Internet, can_open, urls, why };
    if !running {
        return verdict(false, vec![], "the server is not running".into());
    }
    if report.links_reach == Audience::Internet
        && report.reached(Audience::Internet).iter().any(|c| c.url == report.base_url)
    {
        return verdict(true, vec![report.base_url.clone()], format!("{} comes back to this server", report.base_url));
    }
    let over_ipv6: Vec<String> = report
        .reached(Audience::Internet)
        .iter()
        .filter(|c| c.url.starts_with("http://["))
        .map(|c| c.url.clone())
        .collect();
    if !over_ipv6.is_empty() && !matches!(report.mapping, Some(Record::Mapped { .. })) {
        return verdict(
            true,
            over_ipv6,
            "over IPv6, with no NAT in the way, if your router's IPv6 firewall lets it in (most block incoming connections by default)".into(),
        );
    }
    match &report.mapping {
        Some(Record::Mapped { external_ip, external_port, .. }) => {
            let url = format!("http://{}:{external_port}", network::url_host(*external_ip));
            let hairpin = if report.reached(Audience::Internet).iter().any(|c| c.url == url) {
                "it comes back to this server from here"
            } else {
                "many routers do not loop a request from inside back in, so it could not be tried from here"
            };
            verdict(true, vec![url], format!("if your router's port mapping reaches it ({hairpin})"))
        }
        Some(Record::Failed { message, .. }) => verdict(false, vec![], format!("no port mapping: {message}")),
        None => verdict(
            false,
            vec![],
            format!(
                "no port mapping and no public base URL: run `sharelock serve --bind 0.0.0.0:{port} --expose` (or \"The local network and the internet\" in the app's Settings), or use a Sharelock server you own"
            ),
        ),
    }
}

/// Whether this server's announcement on port `port` is heard on the local network within two
/// seconds (from this computer, which hears its own multicast).
fn heard_announcement(port: u16) -> bool {
    let Ok(daemon) = mdns_sd::ServiceDaemon::new() else { return false };
    let Ok(events) = daemon.browse(announce::SERVICE_TYPE) else { return false };
    let wanted = announce::instance_name();
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    let mut heard = false;
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match events.recv_timeout(left) {
            Ok(mdns_sd::ServiceEvent::ServiceResolved(service)) => {
                if service.fullname.starts_with(&wanted) && service.port == port {
                    heard = true;
                    break;
                }
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    let _ = daemon.shutdown();
    heard
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_links_audience_follows_its_host() {
        assert_eq!(audience_of("http://127.0.0.1:7420"), Audience::ThisComputer);
        assert_eq!(audience_of("http://localhost:7420/x"), Audience::ThisComputer);
        assert_eq!(audience_of("http://192.168.1.20:7420"), Audience::LocalNetwork);
        assert_eq!(audience_of("http://laptop.local:7420"), Audience::LocalNetwork);
        assert_eq!(audience_of("http://[fe80::1%25eth0]:7420"), Audience::LocalNetwork);
        assert_eq!(audience_of("http://100.72.1.1:7420"), Audience::LocalNetwork);
        assert_eq!(audience_of("https://files.example.org/share"), Audience::Internet);
        assert_eq!(audience_of("http://[2a01:4f8::1]:7420"), Audience::Internet);
        assert_eq!(audience_of("http://8.8.8.8"), Audience::Internet);
    }

    #[test]
    fn links_no_one_else_can_open_are_warned_about() {
        assert!(warning("http://127.0.0.1:7420/d/x/y").unwrap().contains("Only this computer"));
        assert!(warning("http://localhost:7420/d/x/y").unwrap().contains("Only this computer"));
        assert!(warning("http://[::1]:7420/d/x/y").unwrap().contains("Only this computer"));
        assert!(warning("http://100.72.3.4:7420/d/x/y").unwrap().contains("carrier-grade NAT"));
        assert_eq!(warning("http://192.168.1.20:7420/d/x/y"), None);
        assert_eq!(warning("https://files.example.org/d/x/y"), None);
        assert_eq!(warning("http://81.2.69.160:7420/d/x/y"), None);
    }

    #[test]
    fn a_link_on_a_local_address_has_a_twin_by_name() {
        let name = network::mdns_host();
        assert_eq!(by_name("http://192.168.1.20:7420/d/a/b/x.pdf"), Some(format!("http://{name}:7420/d/a/b/x.pdf")));
        assert_eq!(by_name("http://10.0.0.5/u/s?sig=z"), Some(format!("http://{name}/u/s?sig=z")));
        assert_eq!(by_name("http://127.0.0.1:7420/d/a/b"), None);
        assert_eq!(by_name("https://files.example.org/d/a/b"), None);
        assert_eq!(by_name("http://81.2.69.160:7420/d/a/b"), None);
    }
}
