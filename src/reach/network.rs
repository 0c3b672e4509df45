//! This computer's addresses, and who can open a link built with each: this computer only, the
//! local network, a network behind a second NAT, or the internet.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Serialize;

/// What an address says about who can reach it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AddressKind {
    /// 127.0.0.0/8, ::1: this computer only.
    Loopback,
    /// 169.254.0.0/16, fe80::/10: the same network segment, and only with the interface named.
    LinkLocal,
    /// RFC 1918 (10/8, 172.16/12, 192.168/16) and IPv6 unique local (fc00::/7): the local network.
    Private,
    /// 100.64.0.0/10, the carrier-grade NAT range (RFC 6598): the provider's network, not the
    /// internet. A router whose external address is here sits behind a second NAT.
    SharedNat,
    /// Documentation, benchmarking, multicast and other ranges nobody can be reached at.
    Special,
    /// Globally routed: the internet, where firewalls allow.
    Public,
}

impl AddressKind {
    /// Whether a link on such an address can be opened from the internet at all.
    pub fn is_public(self) -> bool {
        self == AddressKind::Public
    }
}

/// Sorts `ip` into the kinds above.
pub fn classify(ip: IpAddr) -> AddressKind {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => classify_v4(v4),
            None => classify_v6(v6),
        },
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddressKind {
    let [a, b, c, _] = ip.octets();
    if ip.is_loopback() {
        AddressKind::Loopback
    } else if ip.is_link_local() {
        AddressKind::LinkLocal
    } else if ip.is_private() {
        AddressKind::Private
    } else if a == 100 && (64..128).contains(&b) {
        AddressKind::SharedNat
    } else if ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || a >= 240
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b == 18 || b == 19))
    {
        AddressKind::Special
    } else {
        AddressKind::Public
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddressKind {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        AddressKind::Loopback
    } else if first & 0xffc0 == 0xfe80 {
        AddressKind::LinkLocal
    } else if first & 0xfe00 == 0xfc00 {
        AddressKind::Private
    } else if ip.is_unspecified() || ip.is_multicast() || first == 0x2001 && ip.segments()[1] == 0xdb8 {
        AddressKind::Special
    } else {
        AddressKind::Public
    }
}

/// One address of one interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Address {
    /// The interface, e.g. `wlan0`.
    pub interface: String,
    /// The address.
    pub ip: IpAddr,
    /// Who can reach it.
    pub kind: AddressKind,
    /// Whether it is the address the default route leaves from (the one links use).
    pub default: bool,
}

/// Every address of this computer's interfaces, the default-route ones first; empty if the
/// system will not list them.
pub fn addresses() -> Vec<Address> {
    let defaults = [local_ip_address::local_ip().ok(), local_ip_address::local_ipv6().ok()];
    let mut all: Vec<Address> = local_ip_address::list_afinet_netifas()
        .unwrap_or_default()
        .into_iter()
        .map(|(interface, ip)| Address { interface, ip, kind: classify(ip), default: defaults.contains(&Some(ip)) })
        .collect();
    all.sort_by_key(|a| (!a.default, a.kind == AddressKind::Loopback, a.ip.is_ipv6()));
    all.dedup_by(|a, b| a.ip == b.ip);
    all
}

/// The address other devices on the local network reach this computer at: the IPv4 address of
/// the default-route interface (the one the kernel would send from), else any non-loopback one.
pub fn lan_ip() -> Option<IpAddr> {
    local_ip_address::local_ip()
        .ok()
        .filter(|ip| classify(*ip) != AddressKind::Loopback)
        .or_else(|| addresses().into_iter().find(|a| a.ip.is_ipv4() && a.kind != AddressKind::Loopback).map(|a| a.ip))
}

/// This computer's name as mDNS announces it: the host name's first label, e.g. `laptop` for
/// `laptop.example.org`, made of the letters, digits and hyphens a DNS label allows.
pub fn host_label() -> String {
    let name = gethostname::gethostname().to_string_lossy().into_owned();
    let label: String = name
        .split('.')
        .next()
        .unwrap_or_default()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c.to_ascii_lowercase() } else { '-' })
        .collect();
    let label = label.trim_matches('-');
    if label.is_empty() { "sharelock".into() } else { label.chars().take(63).collect() }
}

/// The `.local` name other devices resolve to this computer while it announces itself.
pub fn mdns_host() -> String {
    format!("{}.local", host_label())
}

/// `ip` as it goes in a URL's host: IPv6 in brackets.
pub fn url_host(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_sorted_by_who_can_reach_them() {
        let kind = |s: &str| classify(s.parse().unwrap());
        assert_eq!(kind("127.0.0.1"), AddressKind::Loopback);
        assert_eq!(kind("::1"), AddressKind::Loopback);
        assert_eq!(kind("169.254.3.4"), AddressKind::LinkLocal);
        assert_eq!(kind("fe80::1"), AddressKind::LinkLocal);
        assert_eq!(kind("192.168.1.20"), AddressKind::Private);
        assert_eq!(kind("10.0.0.1"), AddressKind::Private);
        assert_eq!(kind("172.31.255.1"), AddressKind::Private);
        assert_eq!(kind("fd12:3456::1"), AddressKind::Private);
        assert_eq!(kind("100.64.0.1"), AddressKind::SharedNat);
        assert_eq!(kind("100.127.255.254"), AddressKind::SharedNat);
        assert_eq!(kind("100.128.0.1"), AddressKind::Public);
        assert_eq!(kind("203.0.113.7"), AddressKind::Special);
        assert_eq!(kind("2001:db8::1"), AddressKind::Special);
        assert_eq!(kind("8.8.8.8"), AddressKind::Public);
        assert_eq!(kind("2a01:4f8::1"), AddressKind::Public);
        assert_eq!(kind("::ffff:192.168.1.2"), AddressKind::Private);
    }

    #[test]
    fn ipv6_hosts_are_bracketed_in_urls() {
        assert_eq!(url_host("fe80::1".parse().unwrap()), "[fe80::1]");
        assert_eq!(url_host("10.1.2.3".parse().unwrap()), "10.1.2.3");
    }
}
