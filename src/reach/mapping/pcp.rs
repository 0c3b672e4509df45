//! PCP (RFC 6887), falling back to NAT-PMP (RFC 6886), through `crab_nat`: for routers with UPnP
//! off or absent (many Apple and OpenWrt setups). Both talk to the default gateway over UDP;
//! `crab_nat` is async, so each mapping keeps a small runtime of its own on the renewal thread.

use std::net::IpAddr;
use std::num::NonZeroU16;
use std::time::Duration;

use crab_nat::{
    InternetProtocol, MappingFailure, PortMapping, PortMappingOptions, PortMappingType, TimeoutConfig, natpmp, pcp,
};

use super::{Problem, Record, Request, behind_another_nat, failure};
use crate::time;

/// Retries a request a few times within about two seconds, as the RFCs' backoff suggests.
const TIMEOUTS: TimeoutConfig = TimeoutConfig {
    initial_timeout: Duration::from_millis(250),
    max_retries: 3,
    max_retry_timeout: Some(Duration::from_secs(1)),
};

/// A mapping granted over PCP or NAT-PMP.
pub(super) struct Pcp {
    runtime: tokio::runtime::Runtime,
    mapping: PortMapping,
    external_ip: IpAddr,
}

fn protocol_name(mapping: &PortMapping) -> &'static str {
    match mapping.mapping_type() {
        PortMappingType::NatPmp => "NAT-PMP",
        PortMappingType::Pcp { .. } => "PCP",
    }
}

/// Asks the default gateway for the mapping, and its external address.
pub(super) fn map(request: &Request) -> Result<(Pcp, Record), Record> {
    let no_gateway = |why: String, gateway: Option<String>| failure(Problem::NoGateway, why, gateway, None);
    let gateway = netdev::get_default_gateway()
        .ok()
        .and_then(|device| device.ipv4.first().copied())
        .ok_or_else(|| no_gateway("this computer has no default gateway to ask over PCP or NAT-PMP".into(), None))?;
    let at = Some(gateway.to_string());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| no_gateway(format!("cannot start asking over PCP: {e}"), at.clone()))?;
    let port = NonZeroU16::new(request.external_port)
        .ok_or_else(|| failure(Problem::Refused, "port 0 cannot be forwarded".into(), at.clone(), None))?;
    let options = PortMappingOptions {
        external_port: Some(port),
        lifetime_seconds: Some(u32::try_from(request.lease.as_secs()).unwrap_or(u32::MAX)),
        timeout_config: Some(TIMEOUTS),
    };
    let granted = runtime.block_on(PortMapping::new(
        gateway.into(),
        request.internal.ip(),
        InternetProtocol::Tcp,
        NonZeroU16::new(request.internal.port()).unwrap_or(port),
        options,
    ));
    let mapping = match granted {
        Ok(mapping) => mapping,
        // Silence, or a "port unreachable" back: nothing at the gateway speaks either protocol.
        Err(
            e @ (MappingFailure::Pcp(pcp::Failure::Timeout | pcp::Failure::Socket(_))
            | MappingFailure::NatPmp(natpmp::Failure::Timeout | natpmp::Failure::Socket(_))),
        ) => {
            return Err(no_gateway(format!("the gateway {gateway} did not answer PCP or NAT-PMP ({e})"), at));
        }
        Err(e) => {
            return Err(failure(Problem::Refused, format!("the router refused to forward port {port}: {e}"), at, None));
        }
    };
    let external_ip = match mapping.mapping_type() {
        PortMappingType::Pcp { external_ip, .. } => external_ip,
        PortMappingType::NatPmp => {
            runtime.block_on(natpmp::external_address(gateway.into(), Some(TIMEOUTS))).map(IpAddr::V4).map_err(|e| {
                failure(
                    Problem::Refused,
                    format!("the router did not tell its external address ({e})"),
                    at.clone(),
                    None,
                )
            })?
        }
    };
    if let Some(failed) = behind_another_nat(external_ip, &at) {
        let _ = runtime.block_on(mapping.try_drop());
        return Err(failed);
    }
    let held = Pcp { runtime, mapping, external_ip };
    let record = held.record(request);
    Ok((held, record))
}

impl Pcp {
    fn record(&self, request: &Request) -> Record {
        Record::Mapped {
            protocol: protocol_name(&self.mapping).into(),
            gateway: IpAddr::from(self.mapping.gateway()).to_string(),
            external_ip: self.external_ip,
            // The gateway may grant another port than asked: links carry the one granted.
            external_port: self.mapping.external_port().get(),
            internal: request.internal,
            lease_seconds: u64::from(self.mapping.lifetime()),
            renewed_at: time::now(),
        }
    }

    /// Renews the lease at the gateway that granted it.
    pub(super) fn renew(&mut self, request: &Request) -> Result<Record, Record> {
        let gateway = IpAddr::from(self.mapping.gateway()).to_string();
        match self.runtime.block_on(self.mapping.renew()) {
            Ok(()) => Ok(self.record(request)),
            Err(e) => Err(failure(
                Problem::Refused,
                format!("the router would not renew the mapping: {e}"),
                Some(gateway),
                None,
            )),
        }
    }

    /// Deletes the mapping at the gateway.
    pub(super) fn remove(self) -> Result<(), String> {
        self.runtime.block_on(self.mapping.try_drop()).map_err(|(e, _)| e.to_string())
    }
}
