//! Announcing the server on the local network over mDNS/DNS-SD (`mdns-sd`): an `_http._tcp`
//! service named "Sharelock on HOST", and the name `HOST.local` for this computer's addresses, so
//! a link can say `http://HOST.local:7420/…` and keep working when DHCP hands out a new address.

use std::net::IpAddr;

use mdns_sd::{ServiceDaemon, ServiceInfo};

use crate::reach::network;
use crate::{Error, Result};

/// The DNS-SD service type Sharelock announces: a web server.
pub const SERVICE_TYPE: &str = "_http._tcp.local.";

/// The instance name, as browsers of the local network list it.
pub fn instance_name() -> String {
    format!("Sharelock on {}", network::host_label())
}

/// An announcement in force; dropping it withdraws it (a goodbye packet, so browsers forget it
/// at once rather than when its TTL runs out).
pub struct Announcement {
    daemon: ServiceDaemon,
    fullname: String,
}

impl std::fmt::Debug for Announcement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Announcement").field("fullname", &self.fullname).finish()
    }
}

impl Announcement {
    /// Announces a server listening on `port`. With `ip` given (a server bound to one address)
    /// only that address is announced; with `None` (bound to every interface) each interface
    /// answers with its own addresses, as they come and go.
    pub fn start(ip: Option<IpAddr>, port: u16) -> Result<Announcement> {
        let fail =
            |e: mdns_sd::Error| Error::io("cannot announce Sharelock on the local network", std::io::Error::other(e));
        let daemon = ServiceDaemon::new().map_err(fail)?;
        let host = format!("{}.", network::mdns_host());
        let addresses: Vec<IpAddr> = ip.into_iter().collect();
        let info = ServiceInfo::new(SERVICE_TYPE, &instance_name(), &host, &addresses[..], port, &[("path", "/")][..])
            .map_err(fail)?;
        let info = if ip.is_none() { info.enable_addr_auto() } else { info };
        let fullname = info.get_fullname().to_string();
        daemon.register(info).map_err(fail)?;
        Ok(Announcement { daemon, fullname })
    }

    /// The service's full DNS-SD name, e.g. `Sharelock on laptop._http._tcp.local.`.
    pub fn fullname(&self) -> &str {
        &self.fullname
    }
}

impl Drop for Announcement {
    fn drop(&mut self) {
        // Wait briefly for the goodbye to go out; the daemon's thread ends with `shutdown`.
        if let Ok(done) = self.daemon.unregister(&self.fullname) {
            let _ = done.recv_timeout(std::time::Duration::from_secs(1));
        }
        let _ = self.daemon.shutdown();
    }
}
