//! The test certificate authority: real X.509 v3 certificates and X.509 v2 CRLs (DER), ECDSA P-256.
//!
//! Everything is derived from a seed: keys come from [`derive_rng`] with a label per entity, and
//! ECDSA signing is deterministic (RFC 6979), so one seed gives byte-identical certificates and
//! CRLs on every run and every machine.

use std::str::FromStr;
use std::time::Duration;

use der::asn1::Uint;
use der::{DateTime, Decode, Encode};
use p256::ecdsa::{DerSignature, SigningKey, VerifyingKey};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use sha2::{Digest, Sha256};
use spki::{SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef};
use time::OffsetDateTime;
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder, CrlBuilder};
use x509_cert::certificate::TbsCertificate;
use x509_cert::crl::RevokedCert;
use x509_cert::ext::pkix::crl::CrlReason as X509CrlReason;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, CrlNumber, KeyUsage, KeyUsages, SubjectKeyIdentifier,
};
use x509_cert::ext::{Extension, ToExtension};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};
use x509_cert::Certificate;

/// The seed every tool uses unless told otherwise (the service's start date).
pub const DEFAULT_SEED: u64 = 20_250_919;
/// Subject of the trusted test CA. A forged CA uses the very same name (scenario `forged: true`).
pub const CA_SUBJECT: &str = "CN=mynatap test JPKI CA,O=mynatap (not a real authority),C=JP";

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("DER encoding failed: {0}")]
    Der(#[from] der::Error),
    #[error("certificate builder failed: {0}")]
    Builder(#[from] x509_cert::builder::Error),
    #[error("public key encoding failed: {0}")]
    Spki(#[from] spki::Error),
    #[error("key encoding failed: {0}")]
    Key(String),
    #[error("time {0} cannot be written in a certificate")]
    Time(String),
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
pub fn derive_key(seed: u64, label: &str) -> SigningKey {
    use p256::elliptic_curve::Generate;
    SigningKey::generate_from_rng(&mut derive_rng(seed, label))
}

/// Converts the world's time to an X.509 time (UTCTime until 2049, GeneralizedTime after).
pub fn x509_time(at: OffsetDateTime) -> Result<Time, PkiError> {
    let seconds = u64::try_from(at.unix_timestamp()).map_err(|_| PkiError::Time(at.to_string()))?;
    let date_time = DateTime::from_unix_duration(Duration::from_secs(seconds))
        .map_err(|_| PkiError::Time(at.to_string()))?;
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
    KeyCompromise,
    Superseded,
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
    pub serial: u64,
    pub revoked_at: OffsetDateTime,
    pub reason: RevocationReason,
}

/// What a leaf certificate says.
#[derive(Debug, Clone)]
pub struct LeafRequest<'a> {
    pub serial: u64,
    /// The holder (a person id in scenarios).
    pub holder: &'a str,
    /// `card`, `android` or `iphone`: written as the OU so a person reading the certificate can tell.
    pub device: &'a str,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub public_key: &'a VerifyingKey,
}

/// A certificate authority with its key. The key never leaves this value in any other form than
/// the fixture file written for people (`fixtures/pki/ca-key.pk8.der`).
pub struct CertificateAuthority {
    key: SigningKey,
    certificate: Certificate,
    certificate_der: Vec<u8>,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("subject", &self.certificate.tbs_certificate().subject().to_string())
            .field("key", &"<secret>")
            .finish()
    }
}

/// The root's validity is fixed, not tied to any world's clock, so fixtures never change.
fn ca_validity() -> Result<Validity, PkiError> {
    let from = OffsetDateTime::from_unix_timestamp(1_577_836_800).map_err(|e| PkiError::Time(e.to_string()))?; // 2020-01-01
    let until = OffsetDateTime::from_unix_timestamp(2_524_607_999).map_err(|e| PkiError::Time(e.to_string()))?; // 2049-12-31T23:59:59Z
    Ok(Validity::new(x509_time(from)?, x509_time(until)?))
}

impl CertificateAuthority {
    /// The trusted test CA of `seed`.
    pub fn trusted(seed: u64) -> Result<Self, PkiError> {
        Self::with_label(seed, "ca")
    }

    /// A CA with the trusted CA's very name but its own key: what a forger would run.
    pub fn forged(seed: u64) -> Result<Self, PkiError> {
        Self::with_label(seed, "forged-ca")
    }

    fn with_label(seed: u64, label: &str) -> Result<Self, PkiError> {
        let key = derive_key(seed, label);
        let subject = Name::from_str(CA_SUBJECT)?;
        let spki = SubjectPublicKeyInfoOwned::from_key(key.verifying_key())?;
        let profile = x509_cert::builder::profile::cabf::Root::new(false, subject)?;
        let builder = CertificateBuilder::new(profile, serial_number(1)?, ca_validity()?, spki)?;
        let certificate = builder.build::<_, DerSignature>(&key)?;
        let certificate_der = certificate.to_der()?;
        Ok(Self { key, certificate, certificate_der })
    }

    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }
    pub fn certificate_der(&self) -> &[u8] {
        &self.certificate_der
    }
    pub fn verifying_key(&self) -> &VerifyingKey {
        self.key.verifying_key()
    }
    /// PKCS#8 DER of the CA key, for the fixtures (test material only).
    pub fn private_key_pkcs8_der(&self) -> Result<Vec<u8>, PkiError> {
        use p256::pkcs8::EncodePrivateKey;
        let document = self.key.to_pkcs8_der().map_err(|e| PkiError::Key(e.to_string()))?;
        Ok(document.as_bytes().to_vec())
    }

    /// Issues an end-entity certificate (user authentication) and returns its DER.
    pub fn issue(&self, request: &LeafRequest<'_>) -> Result<Vec<u8>, PkiError> {
        let subject = Name::from_str(&format!(
            "CN={},OU={},O=mynatap test subscribers,C=JP",
            escape_rdn(request.holder),
            escape_rdn(request.device)
        ))?;
        let profile = LeafProfile { issuer: self.certificate.tbs_certificate().subject().clone(), subject };
        let validity = Validity::new(x509_time(request.not_before)?, x509_time(request.not_after)?);
        let spki = SubjectPublicKeyInfoOwned::from_key(request.public_key)?;
        let builder = CertificateBuilder::new(profile, serial_number(request.serial)?, validity, spki)?;
        Ok(builder.build::<_, DerSignature>(&self.key)?.to_der()?)
    }

    /// Issues a full CRL (v2) with a CRL number, signed by this CA.
    pub fn issue_crl(
        &self,
        number: u64,
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
        entries: &[CrlEntry],
    ) -> Result<Vec<u8>, PkiError> {
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
        let mut builder = CrlBuilder::new_with_this_update(&self.certificate, crl_number, x509_time(this_update)?)?
            .with_next_update(Some(x509_time(next_update)?));
        if !revoked.is_empty() {
            builder = builder.with_certificates(revoked.into_iter());
        }
        Ok(builder.build::<_, DerSignature>(&self.key)?.to_der()?)
    }
}

fn escape_rdn(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// End-entity profile: a signing key for user authentication, linked to its CA by key id.
struct LeafProfile {
    issuer: Name,
    subject: Name,
}

impl BuilderProfile for LeafProfile {
    fn get_issuer(&self, _subject: &Name) -> Name {
        self.issuer.clone()
    }
    fn get_subject(&self) -> Name {
        self.subject.clone()
    }
    fn build_extensions(
        &self,
        spk: SubjectPublicKeyInfoRef<'_>,
        issuer_spk: SubjectPublicKeyInfoRef<'_>,
        tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        let mut extensions = Vec::new();
        let issuer_ski = SubjectKeyIdentifier::try_from(issuer_spk)?;
        extensions.push(
            AuthorityKeyIdentifier { key_identifier: Some(issuer_ski.0), ..Default::default() }
                .to_extension(tbs.subject(), &extensions)?,
        );
        extensions.push(BasicConstraints { ca: false, path_len_constraint: None }.to_extension(tbs.subject(), &extensions)?);
        extensions.push(KeyUsage(KeyUsages::DigitalSignature.into()).to_extension(tbs.subject(), &extensions)?);
        extensions.push(SubjectKeyIdentifier::try_from(spk)?.to_extension(tbs.subject(), &extensions)?);
        Ok(extensions)
    }
}

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
    use p256::ecdsa::signature::Verifier;
    use x509_cert::crl::CertificateList;

    fn at(unix: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(unix).unwrap()
    }

    #[test]
    fn same_seed_gives_identical_bytes_and_other_seeds_differ() {
        let a = CertificateAuthority::trusted(7).unwrap();
        let b = CertificateAuthority::trusted(7).unwrap();
        let c = CertificateAuthority::trusted(8).unwrap();
        assert_eq!(a.certificate_der(), b.certificate_der());
        assert_ne!(a.certificate_der(), c.certificate_der());
    }

    #[test]
    fn leaf_chains_to_its_ca_and_not_to_the_forger() {
        let ca = CertificateAuthority::trusted(1).unwrap();
        let forger = CertificateAuthority::forged(1).unwrap();
        let key = derive_key(1, "leaf");
        let request = LeafRequest {
            serial: 0x1234,
            holder: "hanako",
            device: "android",
            not_before: at(1_750_000_000),
            not_after: at(1_900_000_000),
            public_key: key.verifying_key(),
        };
        let leaf = Certificate::from_der(&ca.issue(&request).unwrap()).unwrap();
        let tbs = leaf.tbs_certificate().to_der().unwrap();
        let signature = DerSignature::from_bytes(leaf.signature().raw_bytes()).unwrap();
        assert!(ca.verifying_key().verify(&tbs, &signature).is_ok());
        assert!(forger.verifying_key().verify(&tbs, &signature).is_err());
        assert_eq!(leaf.tbs_certificate().issuer(), forger.certificate().tbs_certificate().subject());
        assert_eq!(serial_to_u64(leaf.tbs_certificate().serial_number().as_bytes()), Some(0x1234));
    }

    #[test]
    fn crl_carries_entries_with_reasons() {
        let ca = CertificateAuthority::trusted(1).unwrap();
        let entries = [
            CrlEntry { serial: 5, revoked_at: at(1_760_000_000), reason: RevocationReason::CertificateHold },
            CrlEntry { serial: 0x80_00_00_00, revoked_at: at(1_760_000_000), reason: RevocationReason::Superseded },
        ];
        let der = ca.issue_crl(3, at(1_760_000_000), at(1_760_000_060), &entries).unwrap();
        let crl = CertificateList::<x509_cert::certificate::Rfc5280>::from_der(&der).unwrap();
        let revoked = crl.tbs_cert_list.revoked_certificates.unwrap();
        assert_eq!(revoked.len(), 2);
        assert_eq!(serial_to_u64(revoked[1].serial_number.as_bytes()), Some(0x80_00_00_00));
    }
}
