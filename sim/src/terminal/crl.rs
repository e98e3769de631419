//! The terminal's revocation index: a CRL verified once under the trust anchor, then looked up
//! by serial.

use std::collections::HashMap;

use der::{Decode, Encode};
use time::OffsetDateTime;
use x509_cert::crl::CertificateList;
use x509_cert::ext::pkix::crl::CrlReason;

use super::Terminal;
use crate::backend::CrlSnapshot;
use crate::pki::{serial_to_u64, RevocationReason};

const OID_CRL_NUMBER: &str = "2.5.29.20";
const OID_CRL_REASON: &str = "2.5.29.21";

/// The revocation list as last verified, indexed by serial. Rebuilt only when the CRL's bytes
/// change, so a tap costs a comparison and a hash lookup whatever the CRL's size; keyed by the
/// bytes, not the CRL number, so a forged or stale list under a known number is verified anew.
#[derive(Debug)]
pub(super) struct CrlIndex {
    pub(super) der: std::sync::Arc<[u8]>,
    pub(super) next_update: Option<OffsetDateTime>,
    pub(super) entries: HashMap<u64, RevocationReason>,
}

impl Terminal {
    /// Brings the revocation index up to date with `snapshot` (verifying its signature once).
    pub(super) fn refresh_crl(&mut self, snapshot: &CrlSnapshot) -> Result<(), String> {
        if self.crl.as_ref().is_some_and(|index| std::sync::Arc::ptr_eq(&index.der, &snapshot.der) || index.der == snapshot.der) {
            return Ok(());
        }
        let crl = CertificateList::<x509_cert::certificate::Rfc5280>::from_der(&snapshot.der).map_err(|e| format!("CRL does not parse: {e}"))?;
        if crl.tbs_cert_list.issuer != self.anchor_name {
            return Err("CRL is not issued by the trusted CA".into());
        }
        let tbs = crl.tbs_cert_list.to_der().map_err(|e| e.to_string())?;
        let algorithm = crl.signature_algorithm.oid.to_string();
        if !self.anchor_key.verify_x509(&algorithm, &tbs, crl.signature.raw_bytes()) {
            return Err("CRL signature does not verify".to_owned());
        }
        crl_number_of(&crl).ok_or("CRL has no CRL number")?;
        let next_update = crl.tbs_cert_list.next_update.as_ref().and_then(x509_instant);
        let mut entries = HashMap::new();
        for revoked in crl.tbs_cert_list.revoked_certificates.iter().flatten() {
            let Some(serial) = serial_to_u64(revoked.serial_number.as_bytes()) else { continue };
            let reason = revoked
                .crl_entry_extensions
                .iter()
                .flatten()
                .find(|ext| ext.extn_id.to_string() == OID_CRL_REASON)
                .and_then(|ext| CrlReason::from_der(ext.extn_value.as_bytes()).ok())
                .map_or(RevocationReason::KeyCompromise, RevocationReason::from_x509);
            entries.insert(serial, reason);
        }
        self.crl = Some(CrlIndex { der: snapshot.der.clone(), next_update, entries });
        Ok(())
    }}

/// An X.509 time as an instant (whole seconds).
pub(super) fn x509_instant(time: &x509_cert::time::Time) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(i64::try_from(time.to_unix_duration().as_secs()).ok()?).ok()
}

pub(super) fn crl_number_of(crl: &CertificateList<x509_cert::certificate::Rfc5280>) -> Option<u64> {
    crl.tbs_cert_list
        .crl_extensions
        .iter()
        .flatten()
        .find(|ext| ext.extn_id.to_string() == OID_CRL_NUMBER)
        .and_then(|ext| der::asn1::Uint::from_der(ext.extn_value.as_bytes()).ok())
        .and_then(|number| serial_to_u64(number.as_bytes()))
}

/// The CRL number of a DER CRL (what a distribution point over HTTP does not announce
/// separately); `None` when it does not parse or has none.
pub fn crl_number(der: &[u8]) -> Option<u64> {
    CertificateList::<x509_cert::certificate::Rfc5280>::from_der(der).ok().as_ref().and_then(crl_number_of)
}
