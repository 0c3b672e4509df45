//! Rate limiting of invalid signatures, per client address.
//!
//! A forged URL costs one HMAC and no database work, so floods of them are cheap to answer; still,
//! an address that keeps sending bad signatures is guessing, and gets 429 instead of 403 once it
//! has spent its budget (a burst of 20, then 5 a second), without affecting anyone else. Valid
//! requests never touch the limiter.
//!
//! The client address is the connection's peer, unless that peer is a trusted proxy (configured
//! with `serve --trusted-proxy`): then it is the rightmost `X-Forwarded-For` entry that is not
//! itself a trusted proxy. Without trusted proxies, `X-Forwarded-For` is ignored, so nobody can
//! spend someone else's budget or escape their own by sending the header.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use http::HeaderMap;

/// The peer address of a request's connection, put in its extensions by the serve loop.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// Bad signatures allowed at once from one address.
const BURST: u32 = 20;
/// Bad signatures allowed per second from one address after the burst.
const PER_SECOND: u32 = 5;

/// The limiter of invalid signatures.
pub struct BadSignatures {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    trusted: Vec<IpAddr>,
}

impl BadSignatures {
    /// A limiter that trusts `X-Forwarded-For` from these proxies only.
    pub fn new(trusted: Vec<IpAddr>) -> Self {
        let quota = Quota::per_second(NonZeroU32::new(PER_SECOND).unwrap_or(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(BURST).unwrap_or(NonZeroU32::MIN));
        BadSignatures { limiter: RateLimiter::keyed(quota), trusted }
    }

    /// Records a bad signature from the request's client; false when the client is over its
    /// budget (answer 429).
    pub fn allow(&self, peer: Option<Peer>, headers: &HeaderMap) -> bool {
        self.limiter.check_key(&self.client(peer, headers)).is_ok()
    }

    /// The client's address (see the module doc).
    pub fn client(&self, peer: Option<Peer>, headers: &HeaderMap) -> IpAddr {
        let peer = peer.map(|p| p.0.ip()).unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        if !self.trusted.contains(&peer) {
            return peer;
        }
        let forwarded =
            headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(','));
        let hops: Vec<IpAddr> = forwarded.filter_map(|hop| hop.trim().parse().ok()).collect();
        hops.into_iter().rev().find(|ip| !self.trusted.contains(ip)).unwrap_or(peer)
    }

    /// Whether `peer` is a trusted proxy, whose forwarded headers are believed.
    pub fn trusts(&self, peer: Option<Peer>) -> bool {
        peer.is_some_and(|p| self.trusted.contains(&p.0.ip()))
    }

    /// Forgets addresses that have been quiet (bounded memory under floods from many addresses).
    pub fn forget_quiet(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", xff.parse().unwrap());
        h
    }

    fn peer(ip: &str) -> Option<Peer> {
        Some(Peer(SocketAddr::new(ip.parse().unwrap(), 1234)))
    }

    #[test]
    fn forwarded_for_counts_only_from_trusted_proxies() {
        let open = BadSignatures::new(vec![]);
        assert_eq!(open.client(peer("127.0.0.1"), &headers("10.0.0.9")), "127.0.0.1".parse::<IpAddr>().unwrap());
        let behind = BadSignatures::new(vec!["127.0.0.1".parse().unwrap()]);
        assert_eq!(behind.client(peer("127.0.0.1"), &headers("10.0.0.9")), "10.0.0.9".parse::<IpAddr>().unwrap());
        // A client cannot hide behind an entry it wrote itself: the rightmost untrusted hop wins.
        assert_eq!(
            behind.client(peer("127.0.0.1"), &headers("1.2.3.4, 10.0.0.9")),
            "10.0.0.9".parse::<IpAddr>().unwrap()
        );
        assert_eq!(behind.client(peer("127.0.0.1"), &headers("garbage")), "127.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(behind.client(peer("192.168.1.5"), &headers("10.0.0.9")), "192.168.1.5".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn budget_is_per_address() {
        let limiter = BadSignatures::new(vec![]);
        let allowed = (0..30).filter(|_| limiter.allow(peer("127.0.0.1"), &HeaderMap::new())).count();
        assert!((BURST as usize..BURST as usize + 3).contains(&allowed), "{allowed}");
        assert!(limiter.allow(peer("127.0.0.2"), &HeaderMap::new()));
    }
}
