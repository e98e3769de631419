//! Key algorithms as data: RSA-2048 with PKCS#1 v1.5 (the physical card and the JPKI
//! authorities), ECDSA P-256 and P-384 (phones, modeled; the next-generation card, reported).
//!
//! One signing key type and one public key type cover all three, so the card, the CA and the
//! terminal are written once; which algorithm a credential uses is a value, not a type.

use std::sync::Arc;

use der::Encode;
use der::oid::ObjectIdentifier;
use p256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use rsa::Pkcs1v15Sign;
use rsa::traits::PublicKeyParts;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha384};
use spki::{DecodePublicKey, SubjectPublicKeyInfoOwned};
use x509_cert::builder::Builder;

use super::PkiError;
use super::accel::{Scheme, Verifier, sha256_digest_info};
use super::rsa_pool::{self, PoolKey};

pub use super::accel::SHA256_DIGEST_INFO_PREFIX;

const OID_RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");

/// The X.509 signature algorithms mynatap signs certificates and CRLs with, and the only ones a
/// relying party here verifies (anything else is no signature it accepts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureAlgorithm {
    /// sha256WithRSAEncryption (PKCS#1 v1.5), as the JPKI authorities sign.
    Sha256WithRsa,
    /// ecdsa-with-SHA256.
    EcdsaWithSha256,
    /// ecdsa-with-SHA384.
    EcdsaWithSha384,
}

impl SignatureAlgorithm {
    /// Every algorithm, in this order.
    pub const ALL: [SignatureAlgorithm; 3] = [Self::Sha256WithRsa, Self::EcdsaWithSha256, Self::EcdsaWithSha384];

    /// Its object identifier.
    pub const fn oid(self) -> ObjectIdentifier {
        match self {
            Self::Sha256WithRsa => ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11"),
            Self::EcdsaWithSha256 => ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2"),
            Self::EcdsaWithSha384 => ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3"),
        }
    }

    /// The algorithm an X.509 signatureAlgorithm names, if it is one of these.
    pub fn from_oid(oid: &ObjectIdentifier) -> Option<Self> {
        Self::ALL.into_iter().find(|algorithm| algorithm.oid() == *oid)
    }
}

/// A credential's or a CA's key algorithm, as scenarios and profiles write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyAlgorithm {
    /// RSA-2048, PKCS#1 v1.5 signatures over a SHA-256 DigestInfo (the physical card).
    Rsa2048,
    /// ECDSA on P-256, `r || s` over a SHA-256 digest (phones, modeled).
    P256,
    /// ECDSA on P-384, `r || s` over a SHA-256 digest (modeled).
    P384,
}

impl KeyAlgorithm {
    /// Every algorithm.
    pub const ALL: [Self; 3] = [Self::Rsa2048, Self::P256, Self::P384];

    /// The scenario format's name (`rsa2048`, `p256`, `p384`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Rsa2048 => "rsa2048",
            Self::P256 => "p256",
            Self::P384 => "p384",
        }
    }

    /// The algorithm of a scenario name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|algorithm| algorithm.name() == text)
    }

    /// What a terminal sends in the sign command for the SHA-256 digest of its challenge: the
    /// DigestInfo for RSA (the card pads it), the bare digest for ECDSA.
    pub fn sign_command_data(self, digest: &[u8; 32]) -> Vec<u8> {
        match self {
            Self::Rsa2048 => [SHA256_DIGEST_INFO_PREFIX.as_slice(), digest].concat(),
            Self::P256 | Self::P384 => digest.to_vec(),
        }
    }

    /// The length of the sign command's answer.
    pub fn signature_len(self) -> usize {
        match self {
            Self::Rsa2048 => 256,
            Self::P256 => 64,
            Self::P384 => 96,
        }
    }
}

impl std::fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why the card could not sign what it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// Longer than the key allows (RSA: the modulus less 11 bytes of padding), or no data.
    #[error("data of {0} bytes does not fit the key")]
    Length(usize),
    #[error("the key refused to sign")]
    /// The key refused (an RSA message that is no valid padding input).
    Refused,
}

/// A private key of any of the three algorithms. RSA keys are shared (`Arc`): they come from a
/// fixed pool (see [`rsa_pool`]), never generated per world.
#[derive(Clone)]
pub enum SigningKey {
    /// An RSA-2048 key from the pool.
    Rsa(Arc<PoolKey>),
    /// An ECDSA P-256 key.
    P256(p256::ecdsa::SigningKey),
    /// An ECDSA P-384 key.
    P384(p384::ecdsa::SigningKey),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({}, <secret>)", self.algorithm())
    }
}

impl SigningKey {
    /// The key of `algorithm` for `label` under `seed`: ECDSA keys are derived from the seed and
    /// label; an RSA key is the pool key at `rsa_slot` of the seed's pool order.
    pub fn derive(algorithm: KeyAlgorithm, seed: u64, label: &str, rsa_slot: usize) -> Result<Self, PkiError> {
        use p256::elliptic_curve::Generate;
        Ok(match algorithm {
            KeyAlgorithm::Rsa2048 => Self::Rsa(rsa_pool::key(seed, rsa_slot)?),
            KeyAlgorithm::P256 => Self::P256(p256::ecdsa::SigningKey::generate_from_rng(&mut super::derive_rng(seed, label))),
            KeyAlgorithm::P384 => Self::P384(p384::ecdsa::SigningKey::generate_from_rng(&mut super::derive_rng(seed, label))),
        })
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        match self {
            Self::Rsa(_) => KeyAlgorithm::Rsa2048,
            Self::P256(_) => KeyAlgorithm::P256,
            Self::P384(_) => KeyAlgorithm::P384,
        }
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        match self {
            Self::Rsa(key) => PublicKey::rsa(key.public_key()),
            Self::P256(key) => PublicKey::P256(Accelerated::of(*key.verifying_key())),
            Self::P384(key) => PublicKey::P384(Accelerated::of(*key.verifying_key())),
        }
    }

    /// The card's sign command. RSA: PKCS#1 v1.5 type-1 padding over `data` as given (a
    /// DigestInfo of any hash, as real clients send; at most the modulus less 11 bytes): the
    /// same data always gives the same bytes. ECDSA: `data` is the digest (RFC 6979, `r || s`).
    pub fn sign_card_data(&self, data: &[u8]) -> Result<Vec<u8>, SignError> {
        match self {
            Self::Rsa(key) => {
                if data.is_empty() || data.len() + 11 > key.private().size() {
                    return Err(SignError::Length(data.len()));
                }
                key.sign_unprefixed(data).map_err(|_| SignError::Refused)
            }
            Self::P256(key) => {
                if !(20..=64).contains(&data.len()) {
                    return Err(SignError::Length(data.len()));
                }
                let signature: p256::ecdsa::Signature = key.sign_prehash(data).map_err(|_| SignError::Refused)?;
                Ok(signature.to_bytes().to_vec())
            }
            Self::P384(key) => {
                if !(24..=64).contains(&data.len()) {
                    return Err(SignError::Length(data.len()));
                }
                let signature: p384::ecdsa::Signature = key.sign_prehash(data).map_err(|_| SignError::Refused)?;
                Ok(signature.to_bytes().to_vec())
            }
        }
    }

    /// The SubjectPublicKeyInfo a certificate for this key carries.
    pub fn spki(&self) -> Result<SubjectPublicKeyInfoOwned, PkiError> {
        Ok(match self {
            Self::Rsa(key) => SubjectPublicKeyInfoOwned::from_key(&key.public_key())?,
            Self::P256(key) => SubjectPublicKeyInfoOwned::from_key(key.verifying_key())?,
            Self::P384(key) => SubjectPublicKeyInfoOwned::from_key(key.verifying_key())?,
        })
    }

    /// Signs an X.509 structure (certificate or CRL) with this key: sha256WithRSAEncryption,
    /// ecdsa-with-SHA256 (P-256) or ecdsa-with-SHA384 (P-384).
    pub fn build<B: Builder>(&self, mut builder: B) -> Result<B::Output, PkiError> {
        Ok(match self {
            Self::Rsa(key) => {
                // Signed by AWS-LC: the same bytes RustCrypto's signer would make, faster.
                let signed_part = builder.finalize(key.signing_key())?;
                let signature = der::asn1::BitString::from_bytes(&key.sign_sha256(&signed_part)?)?;
                builder.assemble(signature, key.signing_key())?
            }
            Self::P256(key) => builder.build::<_, p256::ecdsa::DerSignature>(key)?,
            Self::P384(key) => builder.build::<_, p384::ecdsa::DerSignature>(key)?,
        })
    }

    /// The signature algorithm this key signs X.509 structures with (as [`SigningKey::build`]).
    pub fn x509_algorithm(&self) -> spki::AlgorithmIdentifierOwned {
        let (algorithm, parameters) = match self {
            Self::Rsa(_) => (SignatureAlgorithm::Sha256WithRsa, Some(der::Any::null())),
            Self::P256(_) => (SignatureAlgorithm::EcdsaWithSha256, None),
            Self::P384(_) => (SignatureAlgorithm::EcdsaWithSha384, None),
        };
        spki::AlgorithmIdentifierOwned { oid: algorithm.oid(), parameters }
    }

    /// Signs the DER of an X.509 signed part written by hand ([`super::profile`],
    /// [`super::crl_fault`]) as [`SigningKey::build`] would: the algorithm identifier of
    /// [`SigningKey::x509_algorithm`] and the signature.
    pub fn sign_x509(&self, message: &[u8]) -> Result<(spki::AlgorithmIdentifierOwned, Vec<u8>), PkiError> {
        let refused = |_| PkiError::Key("the key refused to sign".into());
        let signature = match self {
            Self::Rsa(key) => key.sign_sha256(message)?,
            Self::P256(key) => {
                let signature: p256::ecdsa::Signature = key.sign_prehash(&Sha256::digest(message)).map_err(refused)?;
                signature.to_der().as_bytes().to_vec()
            }
            Self::P384(key) => {
                let signature: p384::ecdsa::Signature = key.sign_prehash(&Sha384::digest(message)).map_err(refused)?;
                signature.to_der().as_bytes().to_vec()
            }
        };
        Ok((self.x509_algorithm(), signature))
    }

    /// PKCS#8 DER of the key (test material for the fixtures only).
    pub fn to_pkcs8_der(&self) -> Result<Vec<u8>, PkiError> {
        use rsa::pkcs8::EncodePrivateKey;
        let document = match self {
            Self::Rsa(key) => key.private().to_pkcs8_der(),
            Self::P256(key) => key.to_pkcs8_der(),
            Self::P384(key) => key.to_pkcs8_der(),
        };
        Ok(document.map_err(|e| PkiError::Key(e.to_string()))?.as_bytes().to_vec())
    }
}

/// A public key of any of the three algorithms, as read from a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// An RSA-2048 public key.
    Rsa(Accelerated<rsa::PublicKey>),
    /// An ECDSA P-256 public key.
    P256(Accelerated<p256::ecdsa::VerifyingKey>),
    /// An ECDSA P-384 public key.
    P384(Accelerated<p384::ecdsa::VerifyingKey>),
}

/// A public key as RustCrypto reads it, with AWS-LC's parse of it beside (made on first use):
/// verifies go through AWS-LC wherever it has the call, through RustCrypto otherwise.
#[derive(Debug, Clone)]
pub struct Accelerated<K> {
    key: K,
    fast: Verifier,
}

impl<K> Accelerated<K> {
    fn new(key: K, spki_der: &[u8]) -> Self {
        Self { key, fast: Verifier::new(spki_der) }
    }
}

impl<K> std::ops::Deref for Accelerated<K> {
    type Target = K;
    fn deref(&self) -> &K {
        &self.key
    }
}

impl<K: PartialEq> PartialEq for Accelerated<K> {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl<K: Eq> Eq for Accelerated<K> {}

impl<K: spki::EncodePublicKey> Accelerated<K> {
    fn of(key: K) -> Self {
        let der = key.to_public_key_der().map(|der| der.as_bytes().to_vec()).unwrap_or_default();
        Self::new(key, &der)
    }
}

impl PublicKey {
    /// An RSA public key (from the card's own encoding, or a pool key).
    pub fn rsa(key: rsa::PublicKey) -> Self {
        Self::Rsa(Accelerated::of(key))
    }

    /// Reads a certificate's SubjectPublicKeyInfo (untrusted bytes): `None` for any other
    /// algorithm, curve or an RSA modulus other than 2048 bits.
    pub fn from_spki(spki: &SubjectPublicKeyInfoOwned) -> Option<Self> {
        let der = spki.to_der().ok()?;
        match spki.algorithm.oid {
            OID_RSA_ENCRYPTION => {
                let key = rsa::PublicKey::from_public_key_der(&der).ok()?;
                (key.size() == 256).then(|| Self::Rsa(Accelerated::new(key, &der)))
            }
            OID_EC_PUBLIC_KEY => {
                let curve = spki.algorithm.parameters.as_ref()?.decode_as::<der::asn1::ObjectIdentifier>().ok()?;
                match curve {
                    OID_SECP256R1 => p256::ecdsa::VerifyingKey::from_public_key_der(&der).ok().map(|key| Self::P256(Accelerated::new(key, &der))),
                    OID_SECP384R1 => p384::ecdsa::VerifyingKey::from_public_key_der(&der).ok().map(|key| Self::P384(Accelerated::new(key, &der))),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        match self {
            Self::Rsa(_) => KeyAlgorithm::Rsa2048,
            Self::P256(_) => KeyAlgorithm::P256,
            Self::P384(_) => KeyAlgorithm::P384,
        }
    }

    /// Checks the sign command's answer against the SHA-256 digest of the challenge the
    /// terminal sent (as [`KeyAlgorithm::sign_command_data`] framed it).
    pub fn verify_challenge(&self, digest: &[u8; 32], signature: &[u8]) -> bool {
        self.verify_card_signature(&self.algorithm().sign_command_data(digest), signature)
    }

    /// Checks the card's answer to a sign command whose data was `data` as sent (RSA: a
    /// DigestInfo of any hash, PKCS#1 v1.5 type 1 over it; ECDSA: the digest, `r || s`): what
    /// [`SigningKey::sign_card_data`] makes, so a transcript can be checked without knowing which
    /// challenge or hash the reader chose.
    pub fn verify_card_signature(&self, data: &[u8], signature: &[u8]) -> bool {
        // AWS-LC where it has the call (a SHA-256 DigestInfo, a 32-byte digest); RustCrypto for
        // any other length, which it truncates or pads as ECDSA says.
        match self {
            Self::Rsa(key) => {
                signature.len() == key.size()
                    && sha256_digest_info(data)
                        .and_then(|digest| key.fast.digest(Scheme::RsaSha256, digest, signature))
                        .unwrap_or_else(|| key.verify(Pkcs1v15Sign::new_unprefixed(), data, signature).is_ok())
            }
            Self::P256(key) => {
                let Ok(signature) = p256::ecdsa::Signature::from_slice(signature) else { return false };
                (data.len() == 32)
                    .then(|| key.fast.digest(Scheme::P256Sha256Fixed, data, &signature.to_bytes()))
                    .flatten()
                    .unwrap_or_else(|| key.verify_prehash(data, &signature).is_ok())
            }
            Self::P384(key) => {
                let Ok(signature) = p384::ecdsa::Signature::from_slice(signature) else { return false };
                (data.len() == 32)
                    .then(|| key.fast.digest(Scheme::P384Sha256Asn1, data, signature.to_der().as_bytes()))
                    .flatten()
                    .unwrap_or_else(|| key.verify_prehash(data, &signature).is_ok())
            }
        }
    }

    /// Checks an X.509 signature (of a certificate or CRL) made with this key. `algorithm` is
    /// its signatureAlgorithm; an algorithm not in [`SignatureAlgorithm`], or one the key cannot
    /// make, is false.
    pub fn verify_x509(&self, algorithm: &ObjectIdentifier, message: &[u8], signature: &[u8]) -> bool {
        use SignatureAlgorithm::{EcdsaWithSha256, EcdsaWithSha384, Sha256WithRsa};
        let Some(algorithm) = SignatureAlgorithm::from_oid(algorithm) else { return false };
        let scheme = match (self, algorithm) {
            (Self::Rsa(key), Sha256WithRsa) if signature.len() == key.size() => Scheme::RsaSha256,
            (Self::P256(_), EcdsaWithSha256) => Scheme::P256Sha256Asn1,
            (Self::P256(_), EcdsaWithSha384) => Scheme::P256Sha384Asn1,
            (Self::P384(_), EcdsaWithSha256) => Scheme::P384Sha256Asn1,
            (Self::P384(_), EcdsaWithSha384) => Scheme::P384Sha384Asn1,
            _ => return false,
        };
        let fast = match self {
            Self::Rsa(key) => key.fast.message(scheme, message, signature),
            Self::P256(key) => key.fast.message(scheme, message, signature),
            Self::P384(key) => key.fast.message(scheme, message, signature),
        };
        fast.unwrap_or_else(|| self.verify_x509_rustcrypto(algorithm, message, signature))
    }

    /// [`PublicKey::verify_x509`] by RustCrypto alone (for a key AWS-LC could not take).
    fn verify_x509_rustcrypto(&self, algorithm: SignatureAlgorithm, message: &[u8], signature: &[u8]) -> bool {
        let ecdsa_digest = || -> Option<Vec<u8>> {
            match algorithm {
                SignatureAlgorithm::EcdsaWithSha256 => Some(Sha256::digest(message).to_vec()),
                SignatureAlgorithm::EcdsaWithSha384 => Some(Sha384::digest(message).to_vec()),
                SignatureAlgorithm::Sha256WithRsa => None,
            }
        };
        match self {
            Self::Rsa(key) => {
                algorithm == SignatureAlgorithm::Sha256WithRsa
                    && signature.len() == key.size()
                    && key.verify(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(message), signature).is_ok()
            }
            Self::P256(key) => ecdsa_digest()
                .is_some_and(|digest| p256::ecdsa::DerSignature::from_bytes(signature).is_ok_and(|signature| key.verify_prehash(&digest, &signature).is_ok())),
            Self::P384(key) => ecdsa_digest()
                .is_some_and(|digest| p384::ecdsa::DerSignature::from_bytes(signature).is_ok_and(|signature| key.verify_prehash(&digest, &signature).is_ok())),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_signs_what_its_public_key_verifies() {
        let digest: [u8; 32] = Sha256::digest(b"challenge").into();
        for algorithm in KeyAlgorithm::ALL {
            let key = SigningKey::derive(algorithm, 7, "test", 0).unwrap();
            let signature = key.sign_card_data(&algorithm.sign_command_data(&digest)).unwrap();
            assert_eq!(signature.len(), algorithm.signature_len(), "{algorithm}");
            let public = key.public_key();
            assert!(public.verify_challenge(&digest, &signature), "{algorithm}");
            let mut other: [u8; 32] = digest;
            other[0] ^= 1;
            assert!(!public.verify_challenge(&other, &signature), "{algorithm}");
            let data = algorithm.sign_command_data(&digest);
            assert!(public.verify_card_signature(&data, &signature), "{algorithm}");
            assert!(!public.verify_card_signature(&algorithm.sign_command_data(&other), &signature), "{algorithm}");
            assert_eq!(PublicKey::from_spki(&key.spki().unwrap()), Some(public), "{algorithm}");
        }
    }

    /// AWS-LC and RustCrypto say yes to the same X.509 signatures and no to the same spoiled
    /// ones, for every key algorithm and both digests an authority may name.
    #[test]
    fn aws_lc_and_rustcrypto_judge_x509_signatures_alike() {
        let message = b"tbsCertificate".repeat(40);
        for algorithm in KeyAlgorithm::ALL {
            let key = SigningKey::derive(algorithm, 11, "x509", 3).unwrap();
            let (identifier, signature) = key.sign_x509(&message).unwrap();
            let public = key.public_key();
            let mut spoiled = signature.clone();
            let last = spoiled.len() - 1;
            spoiled[last] ^= 1;
            let mut other = message.clone();
            other[0] ^= 1;
            for signed_with in SignatureAlgorithm::ALL {
                for (text, bytes) in [(&message, &signature), (&message, &spoiled), (&other, &signature)] {
                    assert_eq!(
                        public.verify_x509(&signed_with.oid(), text, bytes),
                        public.verify_x509_rustcrypto(signed_with, text, bytes),
                        "{algorithm} {signed_with:?}"
                    );
                }
            }
            assert!(public.verify_x509(&identifier.oid, &message, &signature), "{algorithm}");
        }
    }

    #[test]
    fn the_rsa_card_signs_a_digest_info_of_any_length_the_key_allows() {
        let key = SigningKey::derive(KeyAlgorithm::Rsa2048, 7, "test", 0).unwrap();
        assert_eq!(key.sign_card_data(&[0xAB; 245]).unwrap().len(), 256);
        assert_eq!(key.sign_card_data(&[0xAB; 246]), Err(SignError::Length(246)));
        assert_eq!(key.sign_card_data(&[]), Err(SignError::Length(0)));
        // A SHA-384 DigestInfo (what a client signing with another hash sends) is signed as given.
        assert_eq!(key.sign_card_data(&[0x30; 67]).unwrap().len(), 256);
    }
}
