//! UPnP IGD (`igd-next`): search the local network for the router, ask its external address
//! (refusing a private or carrier-grade NAT one), and add or remove the TCP forward.

use std::net::SocketAddr;
use std::time::Duration;

use igd_next::{AddPortError, GetExternalIpError, PortMappingProtocol, RequestError, SearchOptions};

use super::{Problem, Record, Request, behind_another_nat, failure};
use crate::time;

/// How long to wait for a gateway to answer the search.
const SEARCH_TIMEOUT: Duration = Duration::from_secs(3);
/// The description routers list the mapping under.
const DESCRIPTION: &str = "Sharelock";

fn search(request: &Request) -> Result<igd_next::Gateway, Record> {
    let mut options = SearchOptions::default();
    // Search from the address being mapped, so the query leaves by the interface whose router
    // is wanted when there are several.
    options.bind_addr = SocketAddr::new(request.internal.ip(), 0);
    options.timeout = Some(SEARCH_TIMEOUT);
    options.single_search_timeout = Some(SEARCH_TIMEOUT);
    igd_next::search_gateway(options).map_err(|e| {
        failure(
            Problem::NoGateway,
            format!("no router answered a UPnP search on the local network within {}s ({e})", SEARCH_TIMEOUT.as_secs()),
            None,
            None,
        )
    })
}

/// Asks once: the gateway, its external address, the mapping.
pub(super) fn map(request: &Request) -> Result<Record, Record> {
    let gateway = search(request)?;
    let at = Some(gateway.addr.to_string());
    let external_ip = match gateway.get_external_ip() {
        Ok(ip) => ip,
        // An answer with no address in it: miniupnpd (and routers built on it) say nothing
        // rather than hand out an address that is private or carrier-grade NAT.
        Err(GetExternalIpError::RequestError(RequestError::InvalidResponse(text)))
            if text.contains("GetExternalIPAddressResponse") =>
        {
            return Err(failure(
                Problem::DoubleNat,
                "the router has no public address on its internet side (it reports none, as routers behind \
                 carrier-grade NAT or another router do), so a port mapping on it cannot reach the internet"
                    .into(),
                at,
                None,
            ));
        }
        Err(e) => {
            return Err(failure(
                Problem::Refused,
                format!("the router did not tell its external address ({e})"),
                at,
                None,
            ));
        }
    };
    if let Some(failed) = behind_another_nat(external_ip, &at) {
        return Err(failed);
    }
    add(&gateway, request).map_err(|e| {
        failure(
            Problem::Refused,
            format!("the router refused to forward port {}: {e}", request.external_port),
            at.clone(),
            Some(external_ip),
        )
    })?;
    Ok(Record::Mapped {
        protocol: "UPnP IGD".into(),
        gateway: gateway.addr.to_string(),
        external_ip,
        external_port: request.external_port,
        internal: request.internal,
        lease_seconds: request.lease.as_secs(),
        renewed_at: time::now(),
    })
}

fn add(gateway: &igd_next::Gateway, request: &Request) -> Result<(), AddPortError> {
    let lease = u32::try_from(request.lease.as_secs()).unwrap_or(u32::MAX);
    let tcp = PortMappingProtocol::TCP;
    match gateway.add_port(tcp, request.external_port, request.internal, lease, DESCRIPTION) {
        // Some routers take only permanent leases; it is still removed when the server stops.
        Err(AddPortError::OnlyPermanentLeasesSupported) => {
            gateway.add_port(tcp, request.external_port, request.internal, 0, DESCRIPTION)
        }
        other => other,
    }
}

/// Removes the forward (finding the router again: it may have rebooted since).
pub(super) fn remove(request: &Request) -> Result<(), String> {
    let gateway = search(request).map_err(|_| "no router answered to remove it from".to_string())?;
    gateway.remove_port(PortMappingProtocol::TCP, request.external_port).map_err(|e| e.to_string())
}
