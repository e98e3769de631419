//! The back ends as a terminal reaches them (the CRL distribution point and the eligibility
//! service), and the faults a scenario puts into their answers (scenario format 1.1, "Back ends
//! that fail").
//!
//! One place decides what each fault makes a service answer, so the in-memory drivers and the
//! HTTP back ends of certification show a reader the same failure.

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use crate::backend::{Registry, RegistryError};
use crate::messages::answers::{CrlSnapshot, EligibilityError, InsuranceRecord, ServiceError};
use crate::pki::CrlDefect;

/// How long a terminal waits for a back-end answer unless its settings say otherwise.
pub const DEFAULT_BACKEND_TIMEOUT_MS: u64 = 2000;

/// The back ends a terminal asks during a tap.
pub trait Backends {
    /// The current CRL of trust anchor `issuer` (its index among the terminal's anchors, oldest
    /// generation first: 0 where there is one) from its distribution point.
    fn crl(&self, issuer: usize) -> Result<CrlSnapshot, ServiceError>;
    /// The insurance record behind a user-authentication certificate's serial (FLOW-4).
    fn eligibility(&self, serial: u64) -> Result<InsuranceRecord, EligibilityError>;
}

/// Which back-end service a fault hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceKind {
    /// The CRL distribution point.
    Crl,
    /// The eligibility (online qualification) service.
    Eligibility,
}

impl ServiceKind {
    /// The service of a scenario name (`crl`, `eligibility`).
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "crl" => Some(Self::Crl),
            "eligibility" => Some(Self::Eligibility),
            _ => None,
        }
    }
}

/// A fault in the back ends for one tap; the device answers normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum BackendFault {
    /// The CRL cannot be fetched (connection refused / HTTP 503).
    CrlUnavailable,
    /// A correctly signed CRL whose nextUpdate is before the world's time.
    CrlStale,
    /// A CRL whose signature does not verify under the trusted CA.
    CrlBadSignature,
    /// 1.3: a CRL signed by another key under the trusted name (another generation's, else the
    /// forger's).
    CrlOtherKey,
    /// 1.3: a CRL with a critical extension no verifier knows.
    CrlUnknownCriticalExtension,
    /// 1.3: a CRL with an entry carrying a critical extension no verifier knows.
    CrlUnknownCriticalEntryExtension,
    /// 1.3: a CRL without its cRLNumber.
    CrlWithoutNumber,
    /// The eligibility service answers HTTP 503.
    EligibilityUnavailable,
    /// The eligibility service answers 200 with a body that is not a record.
    EligibilityMalformed,
    /// The service's answer comes this late.
    /// The service's answer comes `ms` late.
    BackendDelay {
        /// Which service.
        service: ServiceKind,
        /// How late, in milliseconds.
        ms: u64,
    },
}

impl BackendFault {
    /// The faults a scenario names by `kind` alone.
    pub const WITHOUT_FIELDS: [BackendFault; 9] = [
        Self::CrlUnavailable,
        Self::CrlStale,
        Self::CrlBadSignature,
        Self::EligibilityUnavailable,
        Self::EligibilityMalformed,
        Self::CrlOtherKey,
        Self::CrlUnknownCriticalExtension,
        Self::CrlUnknownCriticalEntryExtension,
        Self::CrlWithoutNumber,
    ];

    /// The scenario format's name of the fault.
    pub fn kind(self) -> &'static str {
        match self {
            Self::CrlUnavailable => "crl_unavailable",
            Self::CrlStale => "crl_stale",
            Self::CrlBadSignature => "crl_bad_signature",
            Self::EligibilityUnavailable => "eligibility_unavailable",
            Self::EligibilityMalformed => "eligibility_malformed",
            Self::BackendDelay { .. } => "backend_delay",
            Self::CrlOtherKey => "crl_other_key",
            Self::CrlUnknownCriticalExtension => "crl_unknown_critical_extension",
            Self::CrlUnknownCriticalEntryExtension => "crl_unknown_critical_entry_extension",
            Self::CrlWithoutNumber => "crl_without_number",
        }
    }

    /// The service whose answers this fault spoils.
    pub fn service(self) -> ServiceKind {
        match self {
            Self::CrlUnavailable
            | Self::CrlStale
            | Self::CrlBadSignature
            | Self::CrlOtherKey
            | Self::CrlUnknownCriticalExtension
            | Self::CrlUnknownCriticalEntryExtension
            | Self::CrlWithoutNumber => ServiceKind::Crl,
            Self::EligibilityUnavailable | Self::EligibilityMalformed => ServiceKind::Eligibility,
            Self::BackendDelay { service, .. } => service,
        }
    }

    /// The CRL defect this fault serves, if it is one of contract 1.3's.
    pub fn crl_defect(self) -> Option<CrlDefect> {
        match self {
            Self::CrlOtherKey => Some(CrlDefect::OtherKey),
            Self::CrlUnknownCriticalExtension => Some(CrlDefect::UnknownCriticalExtension),
            Self::CrlUnknownCriticalEntryExtension => Some(CrlDefect::UnknownCriticalEntryExtension),
            Self::CrlWithoutNumber => Some(CrlDefect::WithoutNumber),
            _ => None,
        }
    }

    /// How late `service` answers under this fault.
    pub fn delay_of(self, service: ServiceKind) -> Option<u64> {
        match self {
            Self::BackendDelay { service: hit, ms } if hit == service => Some(ms),
            _ => None,
        }
    }
}

/// When a stale CRL was issued, relative to the world's time: a day's list that lapsed an hour ago.
pub const STALE_CRL_ISSUED_BEFORE: Duration = Duration::hours(25);
/// When that stale CRL's nextUpdate passed, relative to the world's time.
pub const STALE_CRL_LAPSED_BEFORE: Duration = Duration::hours(1);

/// What the distribution point of authority `issuer` (index into the registry's generations)
/// hands out at `now` under `fault` (delays aside: the caller judges or serves them). `Err` is a
/// CRL that cannot be fetched at all.
pub fn crl_answer(registry: &Registry, fault: Option<BackendFault>, now: OffsetDateTime, issuer: usize) -> Result<CrlSnapshot, CrlAnswerError> {
    if let Some(defect) = fault.and_then(BackendFault::crl_defect) {
        return Ok(registry.defective_crl(issuer, defect)?);
    }
    match fault {
        Some(BackendFault::CrlUnavailable) => Err(CrlAnswerError::Unavailable),
        Some(BackendFault::CrlStale) => {
            let der = registry.crl_issued(issuer, now - STALE_CRL_ISSUED_BEFORE, now - STALE_CRL_LAPSED_BEFORE)?;
            Ok(CrlSnapshot { number: registry.crl_of(issuer).number, der: der.into() })
        }
        Some(BackendFault::CrlBadSignature) => {
            // The signature is the DER's last element: flipping its last bit keeps the CRL
            // parseable and makes the signature fail, whatever the CA's algorithm.
            let current = registry.crl_of(issuer);
            let mut der = current.der.to_vec();
            if let Some(last) = der.last_mut() {
                *last ^= 0x01;
            }
            Ok(CrlSnapshot { number: current.number, der: der.into() })
        }
        _ => Ok(registry.crl_of(issuer)),
    }
}

/// Why the distribution point gives no CRL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CrlAnswerError {
    #[error("the CRL distribution point refuses connections")]
    /// The distribution point refuses connections.
    Unavailable,
    #[error(transparent)]
    /// The registry could not sign the CRL.
    Registry(#[from] RegistryError),
}

/// The registry's back ends with one tap's fault in their answers. Delays are judged against the
/// terminal's back-end timeout without sleeping (virtual time), as card delays are.
#[derive(Debug)]
pub struct FaultyBackends<'a> {
    registry: &'a Registry,
    fault: Option<BackendFault>,
    now: OffsetDateTime,
    timeout_ms: u64,
}

impl<'a> FaultyBackends<'a> {
    /// The back ends of `registry` at `now`, with `fault` in their answers, judged against a back-end timeout of `timeout_ms`.
    pub fn new(registry: &'a Registry, fault: Option<BackendFault>, now: OffsetDateTime, timeout_ms: u64) -> Self {
        Self { registry, fault, now, timeout_ms }
    }
    fn late(&self, service: ServiceKind) -> Option<ServiceError> {
        let ms = self.fault?.delay_of(service)?;
        (ms > self.timeout_ms).then_some(ServiceError::TimedOut { ms: self.timeout_ms })
    }
}

impl Backends for FaultyBackends<'_> {
    fn crl(&self, issuer: usize) -> Result<CrlSnapshot, ServiceError> {
        if let Some(error) = self.late(ServiceKind::Crl) {
            return Err(error);
        }
        crl_answer(self.registry, self.fault, self.now, issuer).map_err(|error| ServiceError::Unavailable(error.to_string()))
    }
    fn eligibility(&self, serial: u64) -> Result<InsuranceRecord, EligibilityError> {
        if let Some(error) = self.late(ServiceKind::Eligibility) {
            return Err(EligibilityError::Service(error));
        }
        match self.fault {
            Some(BackendFault::EligibilityUnavailable) => Err(EligibilityError::Service(ServiceError::Unavailable("HTTP 503".into()))),
            Some(BackendFault::EligibilityMalformed) => Err(EligibilityError::Service(ServiceError::Malformed("the body is not an insurance record".into()))),
            _ => self.registry.eligibility(serial, crate::clock::local_date(self.now)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn each_fault_changes_only_its_service() {
        let now = datetime!(2026-04-01 09:00 +09:00);
        let registry = Registry::new(7, now, crate::pki::KeyAlgorithm::Rsa2048).unwrap();
        let healthy = FaultyBackends::new(&registry, None, now, 2000);
        assert_eq!(healthy.crl(0).unwrap().der, registry.crl().der);
        let down = FaultyBackends::new(&registry, Some(BackendFault::CrlUnavailable), now, 2000);
        assert!(matches!(down.crl(0), Err(ServiceError::Unavailable(_))));
        assert_eq!(down.eligibility(1), Err(EligibilityError::NotRegistered));
        let bad = FaultyBackends::new(&registry, Some(BackendFault::CrlBadSignature), now, 2000).crl(0).unwrap();
        assert_eq!(bad.der.len(), registry.crl().der.len());
        assert_ne!(bad.der, registry.crl().der);
        let slow = |ms| FaultyBackends::new(&registry, Some(BackendFault::BackendDelay { service: ServiceKind::Crl, ms }), now, 2000);
        assert!(slow(300).crl(0).is_ok());
        assert_eq!(slow(2001).crl(0).unwrap_err(), ServiceError::TimedOut { ms: 2000 });
        assert_eq!(slow(2001).eligibility(1), Err(EligibilityError::NotRegistered));
        let malformed = FaultyBackends::new(&registry, Some(BackendFault::EligibilityMalformed), now, 2000);
        assert!(matches!(malformed.eligibility(1), Err(EligibilityError::Service(ServiceError::Malformed(_)))));
    }
}
