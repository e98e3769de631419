//! The hot path's cryptography through AWS-LC (aws-lc-rs): the card's RSA signature and the
//! verifies a tap makes (certificates, CRLs, the card's or phone's answer to the challenge).
//!
//! RustCrypto keeps what must stay its own: key encodings, X.509 building, deterministic
//! (RFC 6979) ECDSA signing, and every input AWS-LC has no call for (a PKCS#1 v1.5 block over
//! data that is no SHA-256 DigestInfo, an ECDSA digest that is not 32 bytes). Both compute the
//! same function: RSA PKCS#1 v1.5 signing is deterministic, so a signature is byte-identical
//! whichever library made it (checked in the tests below), and a verify says yes to the same
//! signatures.

use std::sync::OnceLock;

use aws_lc_rs::digest::{Digest, SHA256, SHA384};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA384_ASN1, ECDSA_P384_SHA256_ASN1, ECDSA_P384_SHA384_ASN1, ParsedPublicKey,
    RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY, RSA_PKCS1_SHA256, RsaKeyPair, VerificationAlgorithm,
};

/// The DigestInfo prefix of SHA-256 (RFC 8017 section 9.2, note 1): what the physical card's
/// sign command expects before the 32-byte hash.
pub const SHA256_DIGEST_INFO_PREFIX: [u8; 19] =
    [0x30, 0x31, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20];

/// The 32-byte SHA-256 digest inside `data`, when `data` is exactly a SHA-256 DigestInfo (what
/// a terminal sends the card to sign, and what the card's signature covers).
pub fn sha256_digest_info(data: &[u8]) -> Option<&[u8]> {
    data.strip_prefix(SHA256_DIGEST_INFO_PREFIX.as_slice()).filter(|digest| digest.len() == 32)
}

/// An RSA private key as AWS-LC holds it: its private operation is about three times faster
/// than RustCrypto's `rsa` (see docs/performance.md).
pub struct RsaSigner(RsaKeyPair);

impl std::fmt::Debug for RsaSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RsaSigner(<secret>)")
    }
}

impl RsaSigner {
    /// Reads a PKCS#1 RSAPrivateKey (the pool's entries); `None` if AWS-LC refuses it.
    pub fn from_pkcs1_der(der: &[u8]) -> Option<Self> {
        RsaKeyPair::from_der(der).ok().map(Self)
    }

    /// The PKCS#1 v1.5 signature over the SHA-256 DigestInfo of `digest`.
    pub fn sign_sha256_digest(&self, digest: &[u8]) -> Option<Vec<u8>> {
        let digest = Digest::import_less_safe(digest, &SHA256).ok()?;
        let mut signature = vec![0; self.0.public_modulus_len()];
        self.0.sign_digest(&RSA_PKCS1_SHA256, &digest, &mut signature).ok()?;
        Some(signature)
    }
}

/// The verification schemes the hot path asks AWS-LC for: a key, a padding or curve, a digest
/// and how the signature is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// RSA PKCS#1 v1.5 with SHA-256 (any modulus of 256 bytes, as RustCrypto takes).
    RsaSha256,
    /// ECDSA P-256, SHA-256, `r || s` (a card's or phone's answer).
    P256Sha256Fixed,
    /// ECDSA P-256, SHA-256, DER (X.509).
    P256Sha256Asn1,
    /// ECDSA P-256, SHA-384, DER (X.509).
    P256Sha384Asn1,
    /// ECDSA P-384, SHA-256, DER (a P-384 card's answer, re-encoded; X.509).
    P384Sha256Asn1,
    /// ECDSA P-384, SHA-384, DER (X.509).
    P384Sha384Asn1,
}

impl Scheme {
    const COUNT: usize = 6;

    fn algorithm(self) -> &'static dyn VerificationAlgorithm {
        match self {
            Self::RsaSha256 => &RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
            Self::P256Sha256Fixed => &ECDSA_P256_SHA256_FIXED,
            Self::P256Sha256Asn1 => &ECDSA_P256_SHA256_ASN1,
            Self::P256Sha384Asn1 => &ECDSA_P256_SHA384_ASN1,
            Self::P384Sha256Asn1 => &ECDSA_P384_SHA256_ASN1,
            Self::P384Sha384Asn1 => &ECDSA_P384_SHA384_ASN1,
        }
    }

    fn digest(self) -> &'static aws_lc_rs::digest::Algorithm {
        match self {
            Self::P256Sha384Asn1 | Self::P384Sha384Asn1 => &SHA384,
            _ => &SHA256,
        }
    }
}

/// A public key parsed for AWS-LC once per scheme it is asked to verify with, on first use (a
/// key read from a certificate is often used for one verify only).
#[derive(Clone)]
pub struct Verifier {
    /// The SubjectPublicKeyInfo (DER) the key was read from.
    spki: Box<[u8]>,
    parsed: [OnceLock<Option<ParsedPublicKey>>; Scheme::COUNT],
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier").field("spki_len", &self.spki.len()).finish()
    }
}

impl Verifier {
    /// A verifier of the key in `spki` (DER of a SubjectPublicKeyInfo, already read by RustCrypto).
    pub fn new(spki: &[u8]) -> Self {
        Self { spki: spki.into(), parsed: Default::default() }
    }

    fn key(&self, scheme: Scheme) -> Option<&ParsedPublicKey> {
        self.parsed.get(scheme as usize)?.get_or_init(|| ParsedPublicKey::new(scheme.algorithm(), &self.spki).ok()).as_ref()
    }

    /// Whether `signature` is `scheme`'s over `message` (hashed here); `None` if AWS-LC could not
    /// take the key.
    pub fn message(&self, scheme: Scheme, message: &[u8], signature: &[u8]) -> Option<bool> {
        Some(self.key(scheme)?.verify_sig(message, signature).is_ok())
    }

    /// Whether `signature` is `scheme`'s over a `digest` already made (of the scheme's length);
    /// `None` if AWS-LC could not take the key or the digest.
    pub fn digest(&self, scheme: Scheme, digest: &[u8], signature: &[u8]) -> Option<bool> {
        let digest = Digest::import_less_safe(digest, scheme.digest()).ok()?;
        Some(self.key(scheme)?.verify_digest_sig(&digest, signature).is_ok())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::pki::rsa_pool;
    use rsa::Pkcs1v15Sign;
    use sha2::{Digest as _, Sha256};

    /// AWS-LC and RustCrypto make the same PKCS#1 v1.5 signature with every pool key: what the
    /// card answers does not depend on which library signed it.
    #[test]
    fn aws_lc_signs_byte_for_byte_as_rustcrypto() {
        for (index, der) in rsa_pool::entries().enumerate() {
            let digest = Sha256::digest(format!("challenge {index}").as_bytes());
            let fast = RsaSigner::from_pkcs1_der(der).unwrap().sign_sha256_digest(&digest).unwrap();
            let key = rsa_pool::key_at(index).unwrap();
            let slow = key.private().sign(Pkcs1v15Sign::new::<Sha256>(), &digest).unwrap();
            assert_eq!(fast, slow, "pool key {index}");
        }
    }

    #[test]
    fn only_an_exact_sha256_digest_info_takes_the_fast_path() {
        let digest = [7u8; 32];
        let data = [SHA256_DIGEST_INFO_PREFIX.as_slice(), &digest].concat();
        assert_eq!(sha256_digest_info(&data), Some(digest.as_slice()));
        assert_eq!(sha256_digest_info(&data[..50]), None);
        assert_eq!(sha256_digest_info(&[data.as_slice(), &[0]].concat()), None);
        assert_eq!(sha256_digest_info(&digest), None);
    }
}
