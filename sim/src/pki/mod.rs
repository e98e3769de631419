//! The test certificate authority: real X.509 v3 certificates and X.509 v2 CRLs (DER), signed
//! with RSA-2048 (sha256WithRSAEncryption, as the JPKI authorities) or ECDSA P-256 / P-384.
//!
//! Everything is derived from a seed: ECDSA keys come from [`derive_rng`] with a label per
//! entity, RSA keys from the checked-in pool ([`rsa_pool`]), and both signatures are
//! deterministic (RFC 6979; PKCS#1 v1.5), so one seed gives byte-identical certificates and CRLs
//! on every run and every machine.

pub mod accel;
mod builder;
pub mod card_verifiable;
pub mod crl_fault;
pub mod keys;
pub mod lazy;
pub mod profile;
pub mod rsa_pool;

use std::str::FromStr;
use std::time::Duration;

use der::asn1::Uint;
use der::{DateTime, Decode, Encode};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use sha2::{Digest, Sha256};
use spki::SubjectPublicKeyInfoRef;
use time::OffsetDateTime;
use x509_cert::Certificate;
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{CertificateBuilder, CrlBuilder};
use x509_cert::certificate::TbsCertificate;
use x509_cert::crl::RevokedCert;
use x509_cert::ext::pkix::crl::CrlReason as X509CrlReason;
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, CrlNumber, KeyUsage, KeyUsages, SubjectKeyIdentifier};
use x509_cert::ext::{Extension, ToExtension};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

use builder::{AuthorityProfile, LeafProfile, subject_id};

pub use crl_fault::CrlDefect;
pub use keys::{KeyAlgorithm, PublicKey, SignError, SignatureAlgorithm, SigningKey};
pub use lazy::LazyCertificate;
pub use profile::CertificateFault;

/// The seed every tool uses unless told otherwise (the service's start date).
pub const DEFAULT_SEED: u64 = 20_250_919;
/// Subject of the trusted test CA, in the JPKI test authority's shape (`C=JP, O=JPKI-TEST, OU=JPKI
/// for user authentication, OU=<agency>`; docs/protocol.md) with names nobody can take for the real
/// one. Written in RFC 4514 order (last attribute first). A forged CA uses the very same name
/// (scenario `forged: true`).
pub const CA_SUBJECT: &str = "OU=mynatap (not a real authority),OU=JPKI for user authentication,O=MYNATAP-JPKI-TEST,C=JP";
/// The CA's alternative name and the issuer alternative name of its certificates (the real one is
/// `O=公的個人認証サービス,C=JP`, "public personal authentication service").
const AUTHORITY_ALT_NAME: &str = "O=mynatap test public personal authentication service,C=JP";
/// Length of the opaque subject id of a JPKI user-authentication certificate (the test card's:
/// `997794E9AGCIEG13221003A`).
pub const SUBJECT_ID_LEN: usize = 23;

#[derive(Debug, thiserror::Error)]
/// Why a certificate, CRL or key could not be made.
#[non_exhaustive]
pub enum PkiError {
    #[error("DER encoding failed: {0}")]
    /// DER encoding failed.
    Der(#[from] der::Error),
    #[error("certificate builder failed: {0}")]
    /// The X.509 builder refused.
    Builder(#[from] x509_cert::builder::Error),
    #[error("public key encoding failed: {0}")]
    /// A public key could not be encoded.
    Spki(#[from] spki::Error),
    #[error("key encoding failed: {0}")]
    /// A key could not be built, encoded or used.
    Key(String),
    #[error("time {0} cannot be written in a certificate")]
    /// A time X.509 cannot hold (before 1970 here).
    Time(String),
    #[error("a certificate from {not_before} to {not_after} would never be valid: it ends before it starts")]
    /// A validity period that ends before it starts (no authority issues one).
    NeverValid {
        /// The requested start.
        not_before: OffsetDateTime,
        /// The requested end.
        not_after: OffsetDateTime,
    },
}

/// A generator for one named entity, independent of the order in which entities are created.
pub fn derive_rng(seed: u64, label: &str) -> ChaCha20Rng {
    let mut hasher = Sha256::new();
    hasher.update(b"mynatap-derive-v1\0");
    hasher.update(seed.to_be_bytes());
    hasher.update(label.as_bytes());
    ChaCha20Rng::from_seed(hasher.finalize().into())
}

/// A P-256 key derived from the seed and a label.
pub fn derive_key(seed: u64, label: &str) -> p256::ecdsa::SigningKey {
    use p256::elliptic_curve::Generate;
    p256::ecdsa::SigningKey::generate_from_rng(&mut derive_rng(seed, label))
}

/// Converts the world's time to an X.509 time (UTCTime until 2049, GeneralizedTime after).
pub fn x509_time(at: OffsetDateTime) -> Result<Time, PkiError> {
    let seconds = u64::try_from(at.unix_timestamp()).map_err(|_| PkiError::Time(at.to_string()))?;
    let date_time = DateTime::from_unix_duration(Duration::from_secs(seconds)).map_err(|_| PkiError::Time(at.to_string()))?;
    Ok(Time::from(date_time))
}

/// The serial number as DER wants it: big-endian, no needless leading zeros.
pub fn serial_number(serial: u64) -> Result<SerialNumber, PkiError> {
    let bytes = serial.to_be_bytes();
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len() - 1);
    Ok(SerialNumber::new(bytes.get(first..).unwrap_or(&bytes))?)
}

/// Why a certificate is on the CRL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum RevocationReason {
    /// The key is compromised (also how other CRL reasons read back).
    KeyCompromise,
    /// Replaced by a newer certificate (Q18, Q19: the card renewed or moved).
    Superseded,
    /// No longer used (the card deleted from a phone, the card revoked).
    CessationOfOperation,
    /// A suspension (Q20): the only reason that can be lifted.
    CertificateHold,
}

impl RevocationReason {
    /// The RFC 5280 name, as people reading a report or an `openssl crl -text` know it.
    pub fn name(self) -> &'static str {
        match self {
            Self::KeyCompromise => "keyCompromise",
            Self::Superseded => "superseded",
            Self::CessationOfOperation => "cessationOfOperation",
            Self::CertificateHold => "certificateHold",
        }
    }
    fn to_x509(self) -> X509CrlReason {
        match self {
            Self::KeyCompromise => X509CrlReason::KeyCompromise,
            Self::Superseded => X509CrlReason::Superseded,
            Self::CessationOfOperation => X509CrlReason::CessationOfOperation,
            Self::CertificateHold => X509CrlReason::CertificateHold,
        }
    }
    /// The reason of a CRL entry as read (reasons mynatap never writes read as key compromise).
    pub fn from_x509(reason: X509CrlReason) -> Self {
        match reason {
            X509CrlReason::CertificateHold => Self::CertificateHold,
            X509CrlReason::Superseded => Self::Superseded,
            X509CrlReason::CessationOfOperation => Self::CessationOfOperation,
            _ => Self::KeyCompromise,
        }
    }
}

/// One CRL entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrlEntry {
    /// The revoked certificate's serial.
    pub serial: u64,
    /// When it was revoked.
    pub revoked_at: OffsetDateTime,
    /// Why.
    pub reason: RevocationReason,
}

/// What a leaf certificate says.
#[derive(Debug, Clone)]
pub struct LeafRequest<'a> {
    /// The certificate's serial number.
    pub serial: u64,
    /// The holder (a person id in scenarios).
    pub holder: &'a str,
    /// `card`, `android` or `iphone` (with ` signature` for the signature certificate): with the
    /// holder and serial it derives the opaque subject id; no name is written in the certificate.
    pub device: &'a str,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity (inclusive, whole seconds).
    pub not_after: OffsetDateTime,
    /// The key the certificate is for.
    pub subject_key: &'a SigningKey,
    /// A break of the user-authentication profile to write (contract 1.3); `None`: the profile.
    pub fault: Option<CertificateFault>,
}

/// A certificate authority with its key. The key never leaves this value in any other form than
/// the fixture file written for people (`fixtures/pki/ca-key.pk8.der`).
#[derive(Clone)]
pub struct CertificateAuthority {
    key: SigningKey,
    /// The serial of its own certificate (what its leaves' authorityKeyIdentifier names).
    serial: u64,
    certificate: Certificate,
    certificate_der: Vec<u8>,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority").field("subject", &self.certificate.tbs_certificate().subject().to_string()).field("key", &"<secret>").finish()
    }
}

/// The root's validity is fixed, not tied to any world's clock, so fixtures never change. It ends
/// at 23:59:59 JST, as every JPKI certificate does.
fn ca_validity() -> Result<Validity, PkiError> {
    let from = OffsetDateTime::from_unix_timestamp(1_577_836_800).map_err(|e| PkiError::Time(e.to_string()))?; // 2020-01-01
    let until = OffsetDateTime::from_unix_timestamp(2_524_575_599).map_err(|e| PkiError::Time(e.to_string()))?; // 2049-12-31T14:59:59Z
    Ok(Validity::new(x509_time(from)?, x509_time(until)?))
}

impl CertificateAuthority {
    /// The trusted test CA of `seed`, with a key of `algorithm` (RSA-2048 as the JPKI
    /// authorities, unless a scenario's `world.ca_key` says otherwise).
    pub fn trusted(seed: u64, algorithm: KeyAlgorithm) -> Result<Self, PkiError> {
        Self::with_label(SigningKey::derive(algorithm, seed, "ca", rsa_pool::CA_SLOT)?, 1)
    }

    /// Generation `number` (1 = the oldest) of `count` trusted authorities with one subject name
    /// and keys of their own, as J-LIS publishes a new user-authentication root beside the old
    /// ones (contract 1.3 `world.ca_generations`). The newest is [`CertificateAuthority::trusted`],
    /// so a world given older generations keeps every key it had; older ones take pool slots
    /// from the pool's end and serials `0x100 + number`.
    pub fn generation(seed: u64, algorithm: KeyAlgorithm, number: usize, count: usize) -> Result<Self, PkiError> {
        if number == 0 || number > count {
            return Err(PkiError::Key(format!("generation {number} of {count}")));
        }
        if number == count {
            return Self::trusted(seed, algorithm);
        }
        let slot = rsa_pool::POOL_SIZE - 1 - (count - number);
        let key = SigningKey::derive(algorithm, seed, &format!("ca-generation-{number}"), slot)?;
        Self::with_label(key, 0x100 + number as u64)
    }

    /// A CA with the trusted CA's very name but its own key: what a forger would run.
    pub fn forged(seed: u64, algorithm: KeyAlgorithm) -> Result<Self, PkiError> {
        Self::with_label(SigningKey::derive(algorithm, seed, "forged-ca", rsa_pool::FORGED_CA_SLOT)?, 1)
    }

    fn with_label(key: SigningKey, serial: u64) -> Result<Self, PkiError> {
        Self::issued(key, serial, true)
    }

    /// The same authority (key, name, serial) whose certificate's keyUsage lacks cRLSign
    /// (contract 1.3 `world.crl_sign: false`): the CRLs it signs cannot be trusted.
    pub fn without_crl_sign(&self) -> Result<Self, PkiError> {
        Self::issued(self.key.clone(), self.serial, false)
    }

    fn issued(key: SigningKey, serial: u64, crl_sign: bool) -> Result<Self, PkiError> {
        let profile = AuthorityProfile { subject: Name::from_str(CA_SUBJECT)?, crl_sign };
        let builder = CertificateBuilder::new(profile, serial_number(serial)?, ca_validity()?, key.spki()?)?;
        let certificate = key.build(builder)?;
        let certificate_der = certificate.to_der()?;
        Ok(Self { key, serial, certificate, certificate_der })
    }

    /// The CA key's algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.key.algorithm()
    }

    /// The CA's own certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }
    /// The CA's certificate, DER.
    pub fn certificate_der(&self) -> &[u8] {
        &self.certificate_der
    }
    /// The CA's public key.
    pub fn public_key(&self) -> PublicKey {
        self.key.public_key()
    }
    /// PKCS#8 DER of the CA key, for the fixtures (test material only).
    pub fn private_key_pkcs8_der(&self) -> Result<Vec<u8>, PkiError> {
        self.key.to_pkcs8_der()
    }

    /// Issues an end-entity certificate (user authentication) and returns its DER.
    pub fn issue(&self, request: &LeafRequest<'_>) -> Result<Vec<u8>, PkiError> {
        let der = self.key.build(self.leaf_builder(request)?)?.to_der()?;
        match request.fault {
            Some(fault) => profile::rewrite_fields(&der, fault, &self.key),
            None => Ok(der),
        }
    }

    /// Everything of a leaf certificate but its signature (what [`LazyCertificate`] checks early).
    fn leaf_builder(&self, request: &LeafRequest<'_>) -> Result<CertificateBuilder<LeafProfile>, PkiError> {
        let subject = Name::from_str(&format!("CN={},C=JP", subject_id(request)))?;
        let profile = LeafProfile { issuer: self.certificate.tbs_certificate().subject().clone(), issuer_serial: self.serial, subject, fault: request.fault };
        if request.not_before > request.not_after {
            // No authority issues a certificate that ends before it starts; no world may hold one.
            return Err(PkiError::NeverValid { not_before: request.not_before, not_after: request.not_after });
        }
        let validity = Validity::new(x509_time(request.not_before)?, x509_time(request.not_after)?);
        Ok(CertificateBuilder::new(profile, serial_number(request.serial)?, validity, request.subject_key.spki()?)?)
    }

    /// Issues a full CRL (v2) with a CRL number, signed by this CA.
    pub fn issue_crl(&self, number: u64, this_update: OffsetDateTime, next_update: OffsetDateTime, entries: &[CrlEntry]) -> Result<Vec<u8>, PkiError> {
        let crl_number = CrlNumber(Uint::new(&number.to_be_bytes())?);
        let issuer_name = self.certificate.tbs_certificate().subject().clone();
        let mut revoked = Vec::with_capacity(entries.len());
        for entry in entries {
            let reason_ext = (&entry.reason.to_x509()).to_extension(&issuer_name, &[])?;
            revoked.push(RevokedCert {
                serial_number: serial_number(entry.serial)?,
                revocation_date: x509_time(entry.revoked_at)?,
                crl_entry_extensions: Some(vec![reason_ext]),
            });
        }
        let mut builder =
            CrlBuilder::new_with_this_update(&self.certificate, crl_number, x509_time(this_update)?)?.with_next_update(Some(x509_time(next_update)?));
        if !revoked.is_empty() {
            builder = builder.with_certificates(revoked.into_iter());
        }
        Ok(self.key.build(builder)?.to_der()?)
    }

    /// A CRL of this CA broken as `defect` says, signed by `signer` (for [`CrlDefect::OtherKey`]
    /// another authority with this one's name; else this CA).
    pub fn issue_defective_crl(
        &self,
        (number, this_update, next_update): (u64, OffsetDateTime, OffsetDateTime),
        entries: &[CrlEntry],
        defect: CrlDefect,
        signer: &CertificateAuthority,
    ) -> Result<Vec<u8>, PkiError> {
        crl_fault::rewrite(&self.issue_crl(number, this_update, next_update, entries)?, defect, &signer.key)
    }
}

/// The JPKI test policy the test card's user-authentication certificate names (docs/protocol.md).
pub const JPKI_TEST_POLICY: der::oid::ObjectIdentifier = profile::USER_AUTHENTICATION_POLICY;

/// Reads a certificate's serial number as an unsigned integer, if it fits in 64 bits.
pub fn serial_to_u64(serial: &[u8]) -> Option<u64> {
    let trimmed: &[u8] = match serial.iter().position(|&b| b != 0) {
        Some(first) => serial.get(first..)?,
        None => &[],
    };
    if trimmed.len() > 8 {
        return None;
    }
    Some(trimmed.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
}

/// Parses a DER certificate (untrusted bytes).
pub fn parse_certificate(der: &[u8]) -> Result<Certificate, der::Error> {
    Certificate::from_der(der)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use der::Decode;
    use x509_cert::crl::CertificateList;

    fn at(unix: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(unix).unwrap()
    }

    #[test]
    fn same_seed_gives_identical_bytes_and_other_seeds_differ() {
        for algorithm in KeyAlgorithm::ALL {
            let a = CertificateAuthority::trusted(7, algorithm).unwrap();
            let b = CertificateAuthority::trusted(7, algorithm).unwrap();
            let c = CertificateAuthority::trusted(8, algorithm).unwrap();
            assert_eq!(a.certificate_der(), b.certificate_der());
            assert_ne!(a.certificate_der(), c.certificate_der());
        }
    }

    #[test]
    fn leaf_chains_to_its_ca_and_not_to_the_forger() {
        for algorithm in KeyAlgorithm::ALL {
            let ca = CertificateAuthority::trusted(1, algorithm).unwrap();
            let forger = CertificateAuthority::forged(1, algorithm).unwrap();
            let key = SigningKey::derive(KeyAlgorithm::P256, 1, "leaf", 5).unwrap();
            let request = LeafRequest {
                serial: 0x1234,
                holder: "hanako",
                device: "android",
                not_before: at(1_750_000_000),
                not_after: at(1_900_000_000),
                subject_key: &key,
                fault: None,
            };
            let leaf = Certificate::from_der(&ca.issue(&request).unwrap()).unwrap();
            let tbs = leaf.tbs_certificate().to_der().unwrap();
            let oid = leaf.signature_algorithm().oid;
            let signature = leaf.signature().raw_bytes();
            assert!(ca.public_key().verify_x509(&oid, &tbs, signature), "{algorithm}");
            assert!(!forger.public_key().verify_x509(&oid, &tbs, signature), "{algorithm}");
            assert_eq!(leaf.tbs_certificate().issuer(), forger.certificate().tbs_certificate().subject());
            assert_eq!(serial_to_u64(leaf.tbs_certificate().serial_number().as_bytes()), Some(0x1234));
        }
    }

    #[test]
    fn crl_carries_entries_with_reasons() {
        let ca = CertificateAuthority::trusted(1, KeyAlgorithm::Rsa2048).unwrap();
        let entries = [
            CrlEntry { serial: 5, revoked_at: at(1_760_000_000), reason: RevocationReason::CertificateHold },
            CrlEntry { serial: 0x80_00_00_00, revoked_at: at(1_760_000_000), reason: RevocationReason::Superseded },
        ];
        let der = ca.issue_crl(3, at(1_760_000_000), at(1_760_000_060), &entries).unwrap();
        let crl = CertificateList::<x509_cert::certificate::Rfc5280>::from_der(&der).unwrap();
        let revoked = crl.tbs_cert_list.revoked_certificates.clone().unwrap();
        assert_eq!(revoked.len(), 2);
        assert_eq!(serial_to_u64(revoked[1].serial_number.as_bytes()), Some(0x80_00_00_00));
        let tbs = crl.tbs_cert_list.to_der().unwrap();
        assert!(ca.public_key().verify_x509(&crl.signature_algorithm.oid, &tbs, crl.signature.raw_bytes()));
    }
}
