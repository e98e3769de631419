//! The JPKI user-authentication certificate profile: what a strict relying party requires of a
//! device's certificate, and the ways a certificate of the trusted CA can break it (contract 1.3,
//! `certificate:` on a card or phone).
//!
//! Both sides live here so the certificates the CA writes and the checks the terminal makes
//! can never drift apart: every [`CertificateFault`] is refused by
//! [`violations`], and a certificate without one breaks none of its rules.

use der::asn1::{Any, BitString, ObjectIdentifier};
use der::{Decode, Encode, Tag, Tagged};
use serde::Serialize;
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_cert::certificate::Version;
use x509_cert::ext::pkix::{BasicConstraints, CertificatePolicies, ExtendedKeyUsage, KeyUsage, KeyUsages};
use x509_cert::time::Time;

use super::{PkiError, SigningKey};

/// The JPKI test policy of a user-authentication certificate (docs/protocol.md).
pub const USER_AUTHENTICATION_POLICY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.392.200149.8.5.1.0.30");
/// The policy mynatap writes in a JPKI **signature** certificate (modeled: the test card's
/// signature certificate is read only with the signature password, and no clinic reads it).
pub const SIGNATURE_POLICY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.392.200149.8.5.1.0.10");
/// `id-kp-clientAuth` (RFC 5280 4.2.1.12): the purpose of a user-authentication certificate.
pub const ID_KP_CLIENT_AUTH: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.2");
/// `id-kp-emailProtection`: the purpose written by [`CertificateFault::EkuWithoutClientAuth`].
pub const ID_KP_EMAIL_PROTECTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.4");
/// The extension no verifier knows, written critical by [`CertificateFault::UnknownCriticalExtension`]:
/// an OID under IANA's enterprise number 32473, kept for documentation and examples (RFC 5612).
pub const UNKNOWN_EXTENSION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.32473.1");

const ID_CE_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
const ID_CE_BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
const ID_CE_CERTIFICATE_POLICIES: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.32");
const ID_CE_EXT_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
const ID_CE_SUBJECT_ALT_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");
const ID_CE_NAME_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.30");
const ID_CE_POLICY_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.36");
const ID_CE_INHIBIT_ANY_POLICY: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.54");
const SHA384_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const ECDSA_WITH_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.4");

/// The critical extensions a strict relying party processes (RFC 5280 4.2: any other critical
/// extension makes the certificate unacceptable).
const UNDERSTOOD_CRITICAL: [ObjectIdentifier; 8] = [
    ID_CE_KEY_USAGE,
    ID_CE_BASIC_CONSTRAINTS,
    ID_CE_CERTIFICATE_POLICIES,
    ID_CE_EXT_KEY_USAGE,
    ID_CE_SUBJECT_ALT_NAME,
    ID_CE_NAME_CONSTRAINTS,
    ID_CE_POLICY_CONSTRAINTS,
    ID_CE_INHIBIT_ANY_POLICY,
];

/// A way a certificate signed by the trusted CA breaks the user-authentication profile (contract
/// 1.3). Each is `untrusted_certificate` at the terminal: the certificate was not issued for
/// authenticating this person, whatever its signature says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CertificateFault {
    /// No keyUsage extension (the profile writes it, critical, with digitalSignature).
    NoKeyUsage,
    /// keyUsage without digitalSignature (keyEncipherment only).
    KeyUsageWithoutDigitalSignature,
    /// extendedKeyUsage naming emailProtection, not clientAuth.
    EkuWithoutClientAuth,
    /// No certificatePolicies extension.
    NoPolicy,
    /// certificatePolicies naming the JPKI signature certificate's policy only.
    OtherPolicy,
    /// A critical extension no verifier knows.
    UnknownCriticalExtension,
    /// basicConstraints `cA: true` on the device's certificate.
    CaLeaf,
    /// An X.509 version 1 certificate (no extensions at all).
    Version1,
    /// Serial number zero (RFC 5280 4.1.2.2: a positive integer).
    SerialZero,
    /// A negative serial number.
    SerialNegative,
    /// A serial number of 22 octets (RFC 5280: at most 20).
    SerialTooLong,
    /// The signature algorithm inside the signed part differs from the outer one (RFC 5280
    /// 4.1.1.2: they MUST be the same).
    SignatureAlgorithmMismatch,
    /// notBefore written as GeneralizedTime though it is before 2050 (RFC 5280 4.1.2.5: UTCTime).
    GeneralizedTimeBefore2050,
    /// The JPKI **signature** certificate's profile (keyUsage digitalSignature and
    /// nonRepudiation, no extendedKeyUsage, the signature policy) where the user-authentication
    /// certificate belongs.
    SignatureCertificate,
}

impl CertificateFault {
    /// Every fault, in the contract's order.
    pub const ALL: [CertificateFault; 14] = [
        Self::NoKeyUsage,
        Self::KeyUsageWithoutDigitalSignature,
        Self::EkuWithoutClientAuth,
        Self::NoPolicy,
        Self::OtherPolicy,
        Self::UnknownCriticalExtension,
        Self::CaLeaf,
        Self::Version1,
        Self::SerialZero,
        Self::SerialNegative,
        Self::SerialTooLong,
        Self::SignatureAlgorithmMismatch,
        Self::GeneralizedTimeBefore2050,
        Self::SignatureCertificate,
    ];

    /// The scenario format's name (`no_key_usage`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::NoKeyUsage => "no_key_usage",
            Self::KeyUsageWithoutDigitalSignature => "key_usage_without_digital_signature",
            Self::EkuWithoutClientAuth => "eku_without_client_auth",
            Self::NoPolicy => "no_policy",
            Self::OtherPolicy => "other_policy",
            Self::UnknownCriticalExtension => "unknown_critical_extension",
            Self::CaLeaf => "ca_leaf",
            Self::Version1 => "version1",
            Self::SerialZero => "serial_zero",
            Self::SerialNegative => "serial_negative",
            Self::SerialTooLong => "serial_too_long",
            Self::SignatureAlgorithmMismatch => "signature_algorithm_mismatch",
            Self::GeneralizedTimeBefore2050 => "generalized_time_before_2050",
            Self::SignatureCertificate => "signature_certificate",
        }
    }

    /// The fault a scenario names.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|fault| fault.name() == name)
    }
}

impl std::fmt::Display for CertificateFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Rewrites the fields a builder cannot write wrong (version, serial, the inner signature
/// algorithm, the time encoding) in `certificate_der`, and signs the result again with `key`.
/// Faults of the extensions are written by the builder's profile and pass through unchanged.
pub(super) fn rewrite_fields(certificate_der: &[u8], fault: CertificateFault, key: &SigningKey) -> Result<Vec<u8>, PkiError> {
    let certificate = Certificate::from_der(certificate_der)?;
    let outer_algorithm = certificate.signature_algorithm().clone();
    let tbs_der = certificate.tbs_certificate().to_der()?;
    // The signed part as its elements: [0] version, serial, signature, issuer, validity, subject,
    // subjectPublicKeyInfo, [3] extensions.
    let mut fields: Vec<Any> = Vec::<Any>::from_der(&tbs_der)?;
    let integer = |bytes: &[u8]| Any::new(Tag::Integer, bytes);
    match fault {
        CertificateFault::Version1 => {
            fields.retain(|field| !matches!(field.tag(), Tag::ContextSpecific { number, .. } if number.value() == 0 || number.value() == 3));
        }
        CertificateFault::SerialZero => set_field(&mut fields, 1, integer(&[0])?)?,
        CertificateFault::SerialNegative => {
            let serial = fields.get(1).map(|field| field.value().to_vec()).unwrap_or_default();
            let mut negative: Vec<u8> = serial.iter().copied().skip_while(|&byte| byte == 0).collect();
            match negative.first_mut() {
                Some(first) => *first |= 0x80,
                None => negative.push(0xFF),
            }
            // Still DER: nine leading one bits (FF, then a byte with its top bit set) would be a
            // non-canonical INTEGER, which no parser takes for a certificate at all, where the
            // fault is a well-formed certificate a strict relying party refuses.
            if let [first @ 0xFF, second, ..] = negative.as_mut_slice()
                && *second & 0x80 != 0
            {
                *first = 0xFE;
            }
            set_field(&mut fields, 1, integer(&negative)?)?
        }
        CertificateFault::SerialTooLong => {
            let serial = fields.get(1).map(|field| field.value().to_vec()).unwrap_or_default();
            let mut long = vec![0x7F; 22usize.saturating_sub(serial.len())];
            long.extend_from_slice(&serial);
            long.truncate(22);
            set_field(&mut fields, 1, integer(&long)?)?
        }
        CertificateFault::SignatureAlgorithmMismatch => {
            let inner = match key {
                SigningKey::Rsa(_) => AlgorithmIdentifierOwned { oid: SHA384_WITH_RSA, parameters: Some(Any::null()) },
                SigningKey::P256(_) | SigningKey::P384(_) => AlgorithmIdentifierOwned { oid: ECDSA_WITH_SHA512, parameters: None },
            };
            set_field(&mut fields, 2, Any::encode_from(&inner)?)?
        }
        CertificateFault::GeneralizedTimeBefore2050 => {
            let validity = fields.get(4).ok_or_else(|| PkiError::Key("certificate without validity".into()))?;
            let mut times: Vec<Time> = Vec::<Time>::from_der(&validity.to_der()?)?;
            if let Some(not_before) = times.first_mut() {
                *not_before = Time::GeneralTime(der::asn1::GeneralizedTime::from_date_time(not_before.to_date_time()));
            }
            set_field(&mut fields, 4, Any::encode_from(&times)?)?
        }
        _ => return Ok(certificate_der.to_vec()),
    }
    let tbs = fields.to_der()?;
    let (algorithm, signature) = key.sign_x509(&tbs)?;
    debug_assert_eq!(algorithm, outer_algorithm, "the outer algorithm is the key's");
    let signed: Vec<Any> = vec![Any::from_der(&tbs)?, Any::encode_from(&algorithm)?, Any::encode_from(&BitString::from_bytes(&signature)?)?];
    Ok(signed.to_der()?)
}

fn set_field(fields: &mut [Any], index: usize, value: Any) -> Result<(), PkiError> {
    let field = fields.get_mut(index).ok_or_else(|| PkiError::Key(format!("certificate has no field {index}")))?;
    *field = value;
    Ok(())
}

/// Which rule of the profile a certificate breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProfileRule {
    /// X.509 v3.
    Version,
    /// The inner and outer signature algorithms are the same.
    SignatureAlgorithm,
    /// A positive serial of at most 20 octets.
    Serial,
    /// UTCTime through 2049.
    TimeEncoding,
    /// No critical extension the relying party does not process.
    CriticalExtensions,
    /// keyUsage present, with digitalSignature.
    KeyUsage,
    /// Not a CA certificate.
    NotCa,
    /// extendedKeyUsage, where present, with clientAuth.
    ExtendedKeyUsage,
    /// The user-authentication policy named.
    Policy,
}

/// Why a certificate of the trusted CA is not a user-authentication certificate this relying
/// party accepts (the detail of an `untrusted_certificate`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct ProfileViolation {
    /// The rule broken.
    pub rule: ProfileRule,
    /// What was found, for people.
    pub detail: String,
}

/// Every rule of the JPKI user-authentication profile `certificate` breaks, in the order a
/// strict RFC 5280 relying party checks them for client authentication: version 3; the inner
/// and outer signature algorithms the same; a positive serial of at most 20 octets; UTCTime
/// through 2049; no critical extension it does not process; keyUsage present with
/// digitalSignature; not a CA; extendedKeyUsage, where present, with clientAuth; the
/// user-authentication policy named. Empty: the certificate meets the profile.
pub fn violations(certificate: &Certificate) -> Vec<ProfileViolation> {
    let mut found = Vec::new();
    let mut violation = |rule, detail: String| found.push(ProfileViolation { rule, detail });
    let tbs = certificate.tbs_certificate();
    if tbs.version() != Version::V3 {
        violation(ProfileRule::Version, format!("version {:?}: a user-authentication certificate is X.509 v3", tbs.version()));
    }
    if tbs.signature() != certificate.signature_algorithm() {
        let detail =
            format!("signature algorithm {} inside the certificate, {} outside (RFC 5280 4.1.1.2)", tbs.signature().oid, certificate.signature_algorithm().oid);
        violation(ProfileRule::SignatureAlgorithm, detail);
    }
    let serial = tbs.serial_number().as_bytes();
    let significant = serial.iter().skip_while(|&&byte| byte == 0).count();
    if serial.first().is_some_and(|&byte| byte & 0x80 != 0) {
        violation(ProfileRule::Serial, "negative serial number (RFC 5280 4.1.2.2)".into());
    } else if significant == 0 {
        violation(ProfileRule::Serial, "serial number zero (RFC 5280 4.1.2.2)".into());
    } else if significant > 20 {
        violation(ProfileRule::Serial, format!("serial number of {significant} octets (RFC 5280 4.1.2.2: at most 20)"));
    }
    for (name, time) in [("notBefore", &tbs.validity().not_before), ("notAfter", &tbs.validity().not_after)] {
        if let Time::GeneralTime(_) = time
            && time.to_date_time().year() < 2050
        {
            violation(ProfileRule::TimeEncoding, format!("{name} before 2050 written as GeneralizedTime (RFC 5280 4.1.2.5)"));
        }
    }
    let extensions = tbs.extensions().map(|extensions| extensions.as_slice()).unwrap_or_default();
    for unknown in extensions.iter().filter(|extension| extension.critical && !UNDERSTOOD_CRITICAL.contains(&extension.extn_id)) {
        violation(ProfileRule::CriticalExtensions, format!("critical extension {} is not one this relying party processes (RFC 5280 4.2)", unknown.extn_id));
    }
    let value = |oid: ObjectIdentifier| extensions.iter().find(|extension| extension.extn_id == oid).map(|extension| extension.extn_value.as_bytes());
    match value(ID_CE_KEY_USAGE).map(KeyUsage::from_der) {
        None => violation(ProfileRule::KeyUsage, "no keyUsage: the profile requires digitalSignature".into()),
        Some(Err(error)) => violation(ProfileRule::KeyUsage, format!("keyUsage does not parse: {error}")),
        Some(Ok(usage)) if !usage.0.contains(KeyUsages::DigitalSignature) => violation(ProfileRule::KeyUsage, "keyUsage without digitalSignature".into()),
        Some(Ok(_)) => {}
    }
    match value(ID_CE_BASIC_CONSTRAINTS).map(BasicConstraints::from_der) {
        Some(Ok(constraints)) if constraints.ca => violation(ProfileRule::NotCa, "basicConstraints cA: a CA certificate is not a user's".into()),
        Some(Err(error)) => violation(ProfileRule::NotCa, format!("basicConstraints does not parse: {error}")),
        _ => {}
    }
    match value(ID_CE_EXT_KEY_USAGE).map(ExtendedKeyUsage::from_der) {
        Some(Ok(usage)) if !usage.0.contains(&ID_KP_CLIENT_AUTH) => violation(ProfileRule::ExtendedKeyUsage, "extendedKeyUsage without clientAuth".into()),
        Some(Err(error)) => violation(ProfileRule::ExtendedKeyUsage, format!("extendedKeyUsage does not parse: {error}")),
        _ => {}
    }
    match value(ID_CE_CERTIFICATE_POLICIES).map(CertificatePolicies::from_der) {
        None => violation(ProfileRule::Policy, format!("no certificatePolicies: the profile requires {USER_AUTHENTICATION_POLICY}")),
        Some(Err(error)) => violation(ProfileRule::Policy, format!("certificatePolicies does not parse: {error}")),
        Some(Ok(policies)) if !policies.0.iter().any(|policy| policy.policy_identifier == USER_AUTHENTICATION_POLICY) => {
            let named: Vec<String> = policies.0.iter().map(|policy| policy.policy_identifier.to_string()).collect();
            violation(
                ProfileRule::Policy,
                format!("certificate policies {} do not include the user-authentication policy {USER_AUTHENTICATION_POLICY}", named.join(", ")),
            );
        }
        Some(Ok(_)) => {}
    }
    found
}

/// The signed part of a certificate or CRL exactly as its bytes were written (the first element
/// of the outer SEQUENCE): what the issuer's signature covers. Re-encoding a decoded structure
/// may write another encoding (RFC 5280 profiles normalise times), so signatures are checked here.
pub fn signed_part(der: &[u8]) -> Option<Vec<u8>> {
    let elements = Vec::<Any>::from_der(der).ok()?;
    elements.first()?.to_der().ok()
}

/// Whether `der` is a certificate whose fields RFC 5280's profile refuses to decode (a serial of
/// more than 21 octets), as opposed to bytes that are no certificate at all.
pub fn is_certificate_outside_rfc5280(der: &[u8]) -> bool {
    x509_cert::certificate::CertificateInner::<x509_cert::certificate::Raw>::from_der(der).is_ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::pki::{CertificateAuthority, KeyAlgorithm, LeafRequest};
    use time::OffsetDateTime;

    #[test]
    fn every_fault_breaks_the_rule_it_names_and_the_profile_breaks_none() {
        for ca_key in KeyAlgorithm::ALL {
            let ca = CertificateAuthority::trusted(3, ca_key).unwrap();
            let key = SigningKey::derive(KeyAlgorithm::P256, 3, "leaf", 0).unwrap();
            let now = OffsetDateTime::from_unix_timestamp(1_760_000_000).unwrap();
            let request = |fault| LeafRequest {
                serial: 0x0123_4567_89AB_CDEF,
                holder: "p",
                device: "android",
                not_before: now,
                not_after: now + time::Duration::days(400),
                subject_key: &key,
                fault,
            };
            let good = Certificate::from_der(&ca.issue(&request(None)).unwrap()).unwrap();
            assert_eq!(violations(&good), vec![], "{ca_key}");
            for fault in CertificateFault::ALL {
                let der = ca.issue(&request(Some(fault))).unwrap();
                let tbs = signed_part(&der).unwrap();
                let outer: Vec<Any> = Vec::<Any>::from_der(&der).unwrap();
                let algorithm = AlgorithmIdentifierOwned::from_der(&outer[1].to_der().unwrap()).unwrap();
                let signature = BitString::from_der(&outer[2].to_der().unwrap()).unwrap();
                assert!(ca.public_key().verify_x509(&algorithm.oid, &tbs, signature.raw_bytes()), "{ca_key} {fault}: signed by the CA");
                let Ok(certificate) = Certificate::from_der(&der) else {
                    assert_eq!(fault, CertificateFault::SerialTooLong, "{ca_key} {fault} parses");
                    assert!(is_certificate_outside_rfc5280(&der));
                    continue;
                };
                let found = violations(&certificate);
                let expected = match fault {
                    CertificateFault::NoKeyUsage | CertificateFault::KeyUsageWithoutDigitalSignature => ProfileRule::KeyUsage,
                    CertificateFault::EkuWithoutClientAuth => ProfileRule::ExtendedKeyUsage,
                    CertificateFault::NoPolicy | CertificateFault::OtherPolicy | CertificateFault::SignatureCertificate => ProfileRule::Policy,
                    CertificateFault::UnknownCriticalExtension => ProfileRule::CriticalExtensions,
                    CertificateFault::CaLeaf => ProfileRule::NotCa,
                    CertificateFault::Version1 => ProfileRule::Version,
                    CertificateFault::SerialZero | CertificateFault::SerialNegative | CertificateFault::SerialTooLong => ProfileRule::Serial,
                    CertificateFault::SignatureAlgorithmMismatch => ProfileRule::SignatureAlgorithm,
                    CertificateFault::GeneralizedTimeBefore2050 => ProfileRule::TimeEncoding,
                };
                assert_eq!(found.first().map(|violation| violation.rule), Some(expected), "{ca_key} {fault}: {found:?}");
            }
        }
    }

    #[test]
    fn a_negative_serial_is_canonical_der_whatever_the_serial() {
        let ca = CertificateAuthority::trusted(3, KeyAlgorithm::P256).unwrap();
        let key = SigningKey::derive(KeyAlgorithm::P256, 3, "leaf", 0).unwrap();
        let now = OffsetDateTime::from_unix_timestamp(1_760_000_000).unwrap();
        // First bytes that become FF, second bytes with and without their top bit (the serial of
        // a generated life that once came out as FF BE ...: not DER, so no certificate at all).
        for serial in [0x7FBE_BEEA_A3EB_8D29_u64, 0xFF80_0000_0000_0001, 0x00FF_FF00_0000_0001, 0x7F7F_0000_0000_0001, 0x8000_0000_0000_0000, 1, 0x80] {
            let request = LeafRequest {
                serial,
                holder: "p",
                device: "android",
                not_before: now,
                not_after: now + time::Duration::days(400),
                subject_key: &key,
                fault: Some(CertificateFault::SerialNegative),
            };
            let certificate = Certificate::from_der(&ca.issue(&request).unwrap()).unwrap_or_else(|error| panic!("{serial:#x}: {error}"));
            let bytes = certificate.tbs_certificate().serial_number().as_bytes();
            assert!(bytes.first().is_some_and(|first| first & 0x80 != 0), "{serial:#x}: negative");
            assert_eq!(violations(&certificate).first().map(|violation| violation.rule), Some(ProfileRule::Serial), "{serial:#x}");
        }
    }
}
