//! Leaf certificates signed the first time someone reads them.
//!
//! A generated life issues many credentials that are never tapped (renewed before use, or a
//! signature certificate no clinic reads), and a CA signature costs more than most taps. The
//! request is checked when the credential is issued, so a bad date still fails there; only the
//! signature waits. RSA PKCS#1 v1.5 and RFC 6979 ECDSA are deterministic, so the bytes are the
//! same whenever they are made.

use std::sync::OnceLock;

use time::OffsetDateTime;

use super::{CertificateAuthority, LeafRequest, PkiError, SigningKey};

/// A leaf certificate of `ca`, signed on first read.
pub struct LazyCertificate {
    ca: CertificateAuthority,
    serial: u64,
    holder: String,
    device: String,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    subject_key: SigningKey,
    fault: Option<super::CertificateFault>,
    der: OnceLock<Result<Vec<u8>, String>>,
}

impl std::fmt::Debug for LazyCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LazyCertificate").field("serial", &self.serial).field("device", &self.device).field("signed", &self.der.get().is_some()).finish()
    }
}

impl LazyCertificate {
    /// Checks `request` now (names, dates, key) and keeps it to be signed by `ca` when read.
    pub fn new(ca: &CertificateAuthority, request: &LeafRequest<'_>) -> Result<Self, PkiError> {
        ca.leaf_builder(request)?;
        Ok(Self {
            ca: ca.clone(),
            serial: request.serial,
            holder: request.holder.to_owned(),
            device: request.device.to_owned(),
            not_before: request.not_before,
            not_after: request.not_after,
            subject_key: request.subject_key.clone(),
            fault: request.fault,
            der: OnceLock::new(),
        })
    }

    /// The certificate's DER, signed now if no one has read it before.
    pub fn der(&self) -> Result<&[u8], PkiError> {
        self.der
            .get_or_init(|| {
                let request = LeafRequest {
                    serial: self.serial,
                    holder: &self.holder,
                    device: &self.device,
                    not_before: self.not_before,
                    not_after: self.not_after,
                    subject_key: &self.subject_key,
                    fault: self.fault,
                };
                self.ca.issue(&request).map_err(|e| e.to_string())
            })
            .as_deref()
            .map_err(|e| PkiError::Key(e.clone()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::pki::KeyAlgorithm;

    #[test]
    fn a_lazy_certificate_is_the_eager_one_and_a_bad_request_fails_at_once() {
        let ca = CertificateAuthority::trusted(7, KeyAlgorithm::P256).unwrap();
        let key = SigningKey::derive(KeyAlgorithm::P256, 7, "leaf", 0).unwrap();
        let now = OffsetDateTime::from_unix_timestamp(1_760_000_000).unwrap();
        let request =
            LeafRequest { serial: 9, holder: "p1", device: "card", not_before: now, not_after: now + time::Duration::days(30), subject_key: &key, fault: None };
        let lazy = LazyCertificate::new(&ca, &request).unwrap();
        assert_eq!(lazy.der().unwrap(), ca.issue(&request).unwrap().as_slice());
        let before_unix_time = OffsetDateTime::from_unix_timestamp(-1).unwrap();
        let bad = LeafRequest { not_before: before_unix_time, ..request };
        assert!(LazyCertificate::new(&ca, &bad).is_err(), "a date X.509 cannot hold is refused when issued");
    }
}
