//! The terminal's revocation index: a CRL verified once under the trust anchor, then looked up
//! by serial.

use std::collections::HashMap;

use der::Decode;
use time::OffsetDateTime;
use x509_cert::crl::CertificateList;
use x509_cert::ext::pkix::crl::CrlReason;

use super::Terminal;
use crate::messages::answers::CrlSnapshot;
use crate::pki::{RevocationReason, serial_to_u64};

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

/// How a terminal reads a CRL: the defects it tolerates (none but in a mutant).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct CrlLeniency {
    /// Takes a CRL that verifies under any trusted anchor of the name (`crl-any-anchor`).
    pub(super) any_anchor: bool,
    /// Ignores unknown critical CRL and entry extensions and a missing CRL number
    /// (`ignore-crl-extensions`).
    pub(super) extensions: bool,
}

/// The CRL extensions a relying party processes (RFC 5280 5.2); any other critical one makes the
/// CRL unusable.
const UNDERSTOOD_CRL_EXTENSIONS: [&str; 5] = [OID_CRL_NUMBER, "2.5.29.35", "2.5.29.18", "2.5.29.28", "2.5.29.27"];
/// The entry extensions a relying party processes (RFC 5280 5.3).
const UNDERSTOOD_ENTRY_EXTENSIONS: [&str; 3] = [OID_CRL_REASON, "2.5.29.24", "2.5.29.29"];

impl Terminal {
    /// Brings anchor `issuer`'s revocation index up to date with `snapshot` (verifying its
    /// signature once under that anchor's key: another generation's CRL, same name or not,
    /// says nothing of this anchor's certificates).
    pub(super) fn refresh_crl(&mut self, issuer: usize, snapshot: &CrlSnapshot, leniency: CrlLeniency) -> Result<(), String> {
        let cached = self.crls.get(issuer).and_then(Option::as_ref);
        if cached.is_some_and(|index| std::sync::Arc::ptr_eq(&index.der, &snapshot.der) || index.der == snapshot.der) {
            return Ok(());
        }
        let anchor = self.anchors.get(issuer).ok_or("no such trust anchor")?;
        let crl = CertificateList::<x509_cert::certificate::Rfc5280>::from_der(&snapshot.der).map_err(|e| format!("CRL does not parse: {e}"))?;
        if crl.tbs_cert_list.issuer != anchor.name {
            return Err("CRL is not issued by the trusted CA".into());
        }
        let tbs = crate::pki::profile::signed_part(&snapshot.der).ok_or("CRL does not parse")?;
        let verifies = |key: &crate::pki::PublicKey| key.verify_x509(&crl.signature_algorithm.oid, &tbs, crl.signature.raw_bytes());
        let verified = verifies(&anchor.key) || (leniency.any_anchor && self.anchors.iter().any(|other| other.name == anchor.name && verifies(&other.key)));
        if !verified {
            return Err("CRL signature does not verify under the key of the certificate's issuer".to_owned());
        }
        if !leniency.extensions {
            if !anchor.crl_sign {
                return Err("the CRL's issuer may not sign CRLs: its certificate's keyUsage lacks cRLSign (RFC 5280 6.3.3)".into());
            }
            crl_number_of(&crl).ok_or("CRL has no CRL number")?;
            let critical = crl.tbs_cert_list.crl_extensions.iter().flatten().filter(|ext| ext.critical);
            if let Some(unknown) = critical.map(|ext| ext.extn_id.to_string()).find(|oid| !UNDERSTOOD_CRL_EXTENSIONS.contains(&oid.as_str())) {
                return Err(format!("CRL has a critical extension {unknown} this terminal does not process (RFC 5280 5.2)"));
            }
            let entry_extensions = crl.tbs_cert_list.revoked_certificates.iter().flatten().flat_map(|entry| entry.crl_entry_extensions.iter().flatten());
            if let Some(unknown) =
                entry_extensions.filter(|ext| ext.critical).map(|ext| ext.extn_id.to_string()).find(|oid| !UNDERSTOOD_ENTRY_EXTENSIONS.contains(&oid.as_str()))
            {
                return Err(format!("a CRL entry has a critical extension {unknown} this terminal does not process (RFC 5280 5.3)"));
            }
        }
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
        if let Some(slot) = self.crls.get_mut(issuer) {
            *slot = Some(CrlIndex { der: snapshot.der.clone(), next_update, entries });
        }
        Ok(())
    }
}

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
