//! CRLs a careful relying party must not use (contract 1.3 back-end faults): signed by another key
//! under the trusted name, with an unknown critical CRL or entry extension, or without a CRL
//! number. A terminal that meets one cannot know the revocation status and fails closed
//! (`service_unavailable`): RFC 5280 5.2 and 5.3 ("MUST NOT use that CRL to determine the status
//! of certificates"; conforming CRL issuers MUST include the CRL number), 6.3.3 (f)-(g) (the CRL
//! verifies under the key of the certificate's issuer).

use der::asn1::BitString;
use der::{Decode, Encode};
use serde::Serialize;
use x509_cert::crl::{CertificateList, RevokedCert};
use x509_cert::ext::Extension;

use super::profile::UNKNOWN_EXTENSION;
use super::{PkiError, SigningKey, serial_number};

/// How a served CRL breaks what a relying party may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CrlDefect {
    /// Signed by another key under the trusted name: another generation's where the world
    /// trusts several, else the forger's.
    OtherKey,
    /// A critical CRL extension no verifier knows.
    UnknownCriticalExtension,
    /// A critical extension no verifier knows on a CRL entry.
    UnknownCriticalEntryExtension,
    /// No cRLNumber extension.
    WithoutNumber,
}

/// Rewrites `crl_der` (a CRL the registry signed) as `defect` says and signs it with `signer`.
pub(super) fn rewrite(crl_der: &[u8], defect: CrlDefect, signer: &SigningKey) -> Result<Vec<u8>, PkiError> {
    let mut crl = CertificateList::<x509_cert::certificate::Rfc5280>::from_der(crl_der)?;
    let unknown = || -> Result<Extension, PkiError> {
        Ok(Extension { extn_id: UNKNOWN_EXTENSION, critical: true, extn_value: der::asn1::OctetString::new(der::asn1::Null.to_der()?)? })
    };
    let tbs = &mut crl.tbs_cert_list;
    match defect {
        CrlDefect::OtherKey => {}
        CrlDefect::UnknownCriticalExtension => tbs.crl_extensions.get_or_insert_with(Vec::new).push(unknown()?),
        CrlDefect::UnknownCriticalEntryExtension => {
            let entries = tbs.revoked_certificates.get_or_insert_with(Vec::new);
            if entries.is_empty() {
                // An entry for a serial no world issues (they are at least 2^56), so only the
                // extension can change what a verifier makes of the list.
                entries.push(RevokedCert { serial_number: serial_number(1)?, revocation_date: tbs.this_update, crl_entry_extensions: None });
            }
            if let Some(last) = entries.last_mut() {
                last.crl_entry_extensions.get_or_insert_with(Vec::new).push(unknown()?);
            }
        }
        CrlDefect::WithoutNumber => {
            const CRL_NUMBER: der::asn1::ObjectIdentifier = der::asn1::ObjectIdentifier::new_unwrap("2.5.29.20");
            if let Some(extensions) = tbs.crl_extensions.as_mut() {
                extensions.retain(|extension| extension.extn_id != CRL_NUMBER);
            }
        }
    }
    tbs.signature = signer.x509_algorithm();
    let (algorithm, signature) = signer.sign_x509(&tbs.to_der()?)?;
    crl.signature_algorithm = algorithm;
    crl.signature = BitString::from_bytes(&signature)?;
    Ok(crl.to_der()?)
}
