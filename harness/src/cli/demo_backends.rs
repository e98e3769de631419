//! Back ends for `mynatap tap` against a reader nobody scripted: the test CA of a seed, an empty
//! CRL from it, and an eligibility service that finds a demo record for every certificate.

use mynatap_sim::backend::{CrlSnapshot, EligibilityError, InsuranceRecord, ServiceError};
use mynatap_sim::driver::Backends;
use mynatap_sim::pki::{CertificateAuthority, KeyAlgorithm, PkiError};
use time::{Date, Duration, Month, OffsetDateTime};

/// The test CA of a seed, an empty CRL, and a demo record for every certificate.
#[derive(Debug)]
pub(crate) struct DemoBackends {
    ca: CertificateAuthority,
    crl: CrlSnapshot,
}

impl DemoBackends {
    /// The back ends of `seed`'s test CA, with a CRL issued at `now`.
    pub(crate) fn new(seed: u64, now: OffsetDateTime) -> Result<Self, PkiError> {
        let ca = CertificateAuthority::trusted(seed, KeyAlgorithm::Rsa2048)?;
        let der = ca.issue_crl(1, now, now + Duration::minutes(1), &[])?;
        Ok(Self { crl: CrlSnapshot { number: 1, der: der.into() }, ca })
    }
    /// The CA's certificate (DER), for the reader to trust.
    pub(crate) fn ca_der(&self) -> &[u8] {
        self.ca.certificate_der()
    }
}

impl Backends for DemoBackends {
    fn crl(&self, _issuer: usize) -> Result<CrlSnapshot, ServiceError> {
        Ok(self.crl.clone())
    }
    fn eligibility(&self, _serial: u64) -> Result<InsuranceRecord, EligibilityError> {
        let date = |year, month| Date::from_calendar_date(year, month, 1).unwrap_or(Date::MIN);
        Ok(InsuranceRecord::valid("demo", "00000000", date(2000, Month::January), date(2099, Month::December)))
    }
}
