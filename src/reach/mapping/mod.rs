//! A port mapping on the router, so links can carry the router's external address and open from
//! the internet: UPnP IGD first ([`upnp`], through `igd-next`), then PCP with NAT-PMP as its
//! fallback ([`pcp`], through `crab_nat`) at the default gateway when no UPnP gateway answers.
//! The mapping is asked for with a lease, renewed at half the lease by the protocol that made it,
//! and removed when the server stops; what happened is recorded in the settings
//! ([`settings::PORT_MAPPING`]) for `sharelock reach` and the app to read.
//!
//! A failure is one of three, each said plainly: no gateway answered, the gateway refused, or
//! the gateway's own external address is private or carrier-grade NAT (a second NAT in front,
//! so a mapping on this router would not reach the internet).

mod pcp;
mod upnp;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::reach::network::{self, AddressKind};
use crate::{Vault, settings, time};

/// How long a mapping is asked for when not told otherwise; renewed at half.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(3600);

/// What was asked for.
#[derive(Debug, Clone, Copy)]
pub struct Request {
    /// Where the server listens on the local network (an IPv4 address of this computer).
    pub internal: SocketAddr,
    /// The port on the router's external address.
    pub external_port: u16,
    /// How long each lease lasts.
    pub lease: Duration,
}

/// Why there is no usable mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    /// No UPnP gateway answered on the local network.
    NoGateway,
    /// The gateway answered but refused the mapping (or failed to make it).
    Refused,
    /// The gateway's external address is private or carrier-grade NAT: another NAT sits between
    /// it and the internet.
    DoubleNat,
}

/// The state of the mapping, as recorded in the settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Record {
    /// The router forwards `external_ip:external_port` to `internal`.
    Mapped {
        /// The protocol that made it.
        protocol: String,
        /// The gateway's control address.
        gateway: String,
        /// The router's address on the internet side.
        external_ip: IpAddr,
        /// The port there.
        external_port: u16,
        /// Where it forwards to.
        internal: SocketAddr,
        /// The length of each lease.
        lease_seconds: u64,
        /// When the lease was last asked for (unix seconds).
        #[serde(serialize_with = "time::serialize", deserialize_with = "time::deserialize")]
        renewed_at: i64,
    },
    /// No usable mapping, and why.
    Failed {
        /// Which of the failures it was.
        problem: Problem,
        /// What happened, in words.
        message: String,
        /// The gateway, if one answered.
        gateway: Option<String>,
        /// The router's external address, if it told.
        external_ip: Option<IpAddr>,
        /// When it was tried (unix seconds).
        #[serde(serialize_with = "time::serialize", deserialize_with = "time::deserialize")]
        at: i64,
    },
}

impl Record {
    /// The base URL links use through the mapping, e.g. `http://198.51.100.7:7420`.
    pub fn external_url(&self) -> Option<String> {
        match self {
            Record::Mapped { external_ip, external_port, .. } => {
                Some(format!("http://{}:{external_port}", network::url_host(*external_ip)))
            }
            Record::Failed { .. } => None,
        }
    }

    /// The recorded state, if any server recorded one.
    pub fn load(vault: &Vault) -> crate::Result<Option<Record>> {
        Ok(vault.setting(settings::PORT_MAPPING)?.and_then(|json| serde_json::from_str(&json).ok()))
    }

    fn save(&self, vault: &Vault) {
        let json = serde_json::to_string(self).expect("a mapping record serialises");
        if let Err(e) = vault.set_setting(settings::PORT_MAPPING, Some(&json)) {
            tracing::warn!("cannot record the port mapping: {e}");
        }
    }
}

/// A mapping in force, renewed in the background; dropping it removes it from the router.
#[derive(Debug)]
pub struct PortMapping {
    record: Record,
    stop: Option<mpsc::Sender<()>>,
    renewer: Option<JoinHandle<()>>,
}

impl PortMapping {
    /// Finds the gateway and asks for the mapping (blocking, for up to a few seconds). Either way
    /// the outcome is recorded for `sharelock reach`; a failure comes back as its record.
    pub fn open(vault: Arc<Vault>, request: Request) -> Result<PortMapping, Record> {
        let (held, record) = match map(&request) {
            Ok(mapped) => mapped,
            Err(failed) => {
                failed.save(&vault);
                return Err(failed);
            }
        };
        record.save(&vault);
        let (stop, stopped) = mpsc::channel();
        let renewer = std::thread::Builder::new()
            .name("port-mapping".into())
            .spawn({
                let record = record.clone();
                move || renew_until_stopped(&vault, &request, held, record, &stopped)
            })
            .map_err(|e| failure(Problem::Refused, format!("cannot start renewing the mapping: {e}"), None, None))?;
        Ok(PortMapping { record, stop: Some(stop), renewer: Some(renewer) })
    }

    /// The mapping as first made.
    pub fn record(&self) -> &Record {
        &self.record
    }
}

impl Drop for PortMapping {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(renewer) = self.renewer.take() {
            let _ = renewer.join();
        }
    }
}

pub(super) fn failure(
    problem: Problem,
    message: String,
    gateway: Option<String>,
    external_ip: Option<IpAddr>,
) -> Record {
    Record::Failed { problem, message, gateway, external_ip, at: time::now() }
}

/// The protocol that holds a mapping: it is renewed and removed the way it was made.
enum Held {
    Upnp,
    Pcp(Box<pcp::Pcp>),
}

/// Asks once: UPnP, then PCP/NAT-PMP when no UPnP gateway answered.
fn map(request: &Request) -> Result<(Held, Record), Record> {
    match upnp::map(request) {
        Ok(record) => Ok((Held::Upnp, record)),
        Err(Record::Failed { problem: Problem::NoGateway, message, .. }) => match pcp::map(request) {
            Ok((held, record)) => Ok((Held::Pcp(Box::new(held)), record)),
            Err(Record::Failed { problem: Problem::NoGateway, message: other, gateway, .. }) => {
                Err(failure(Problem::NoGateway, format!("{message}, and {other}"), gateway, None))
            }
            Err(failed) => Err(failed),
        },
        Err(failed) => Err(failed),
    }
}

impl Held {
    /// Asks again before the lease runs out (UPnP searches afresh, so a rebooted router or a
    /// new one is found; PCP and NAT-PMP renew at the gateway that granted it).
    fn renew(&mut self, request: &Request) -> Result<Record, Record> {
        match self {
            Held::Upnp => upnp::map(request),
            Held::Pcp(held) => held.renew(request),
        }
    }

    fn remove(self, request: &Request) {
        let removed = match self {
            Held::Upnp => upnp::remove(request),
            Held::Pcp(held) => held.remove(),
        };
        if let Err(e) = removed {
            tracing::warn!("cannot remove the port mapping: {e}");
        }
    }
}

/// The failure of a router with `external_ip` on its internet side, if it sits behind another
/// NAT: a mapping on it would not reach the internet.
pub(super) fn behind_another_nat(external_ip: IpAddr, gateway: &Option<String>) -> Option<Record> {
    let why = match network::classify(external_ip) {
        AddressKind::Public => return None,
        AddressKind::SharedNat => {
            "a carrier-grade NAT address (100.64.0.0/10): your provider shares one internet address among customers"
        }
        _ => "not an internet address: another router sits between this one and the internet",
    };
    Some(failure(
        Problem::DoubleNat,
        format!(
            "the router's external address {external_ip} is {why}, so a port mapping on it cannot reach the internet"
        ),
        gateway.clone(),
        Some(external_ip),
    ))
}

/// Renews at half the lease until told to stop, then removes the mapping and its record.
fn renew_until_stopped(
    vault: &Vault,
    request: &Request,
    mut held: Held,
    mut record: Record,
    stopped: &mpsc::Receiver<()>,
) {
    let interval = (request.lease / 2).max(Duration::from_secs(1));
    // Until the sender is dropped (or sends): each timeout is a renewal.
    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
        let renewed = held.renew(request).unwrap_or_else(|failed| failed);
        if let (true, Record::Failed { message, .. }) = (renewed != record, &renewed) {
            tracing::warn!("port mapping lost: {message}");
        }
        renewed.save(vault);
        record = renewed;
    }
    held.remove(request);
    if let Err(e) = vault.set_setting(settings::PORT_MAPPING, None) {
        tracing::warn!("cannot clear the port mapping record: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_public_external_address_reaches_the_internet() {
        let why = |ip: &str| match behind_another_nat(ip.parse().unwrap(), &None) {
            Some(Record::Failed { problem: Problem::DoubleNat, message, .. }) => Some(message),
            _ => None,
        };
        assert!(why("100.64.0.1").unwrap().contains("carrier-grade NAT"));
        assert!(why("192.168.1.1").unwrap().contains("another router"));
        assert!(why("10.0.0.1").unwrap().contains("another router"));
        assert_eq!(why("81.2.69.160"), None);
    }
}
