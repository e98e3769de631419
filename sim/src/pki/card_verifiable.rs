//! The card-surface application's own PKI: card-verifiable certificates (`7F 21`), RSA keys in the
//! card's `90`/`91` encoding, and the test card-surface CA that certifies the key signing every
//! card's surface records (docs/protocol.md, "The card surface as a JPKI test card holds it").
//!
//! The real hierarchy's CA key is not published; mynatap's test hierarchy is its own, with key
//! ids no real card carries (`999...`, padding `MTAP`), so nobody mistakes it for J-LIS's.

use std::sync::{Arc, OnceLock};

use rsa::traits::PublicKeyParts;
use rsa::{BoxedUint, Pkcs1v15Sign};
use sha2::{Digest, Sha256};

use super::PkiError;
use super::keys::SHA256_DIGEST_INFO_PREFIX;
use super::rsa_pool::{self, PoolKey};
use crate::tlv::{push_tlv, split_tlv};

/// A 16-byte key id as the card writes it: seven digits, two bytes, three digits, padding.
pub type KeyId = [u8; 16];

/// The test card-surface CA's key id (証明者鍵ID of every genuine test card's `00 04`). Made up,
/// and plainly so: the JPKI test hierarchy's ids start with `6`, production's with `5`.
pub const SURFACE_CA_KEY_ID: KeyId = *b"9990023\x08\x05001MTAP";
/// The key id of the key `00 04` certifies (the one that signs the records).
pub const SURFACE_SIGNER_KEY_ID: KeyId = *b"9990024\x08\x05001MTAP";
/// A card-surface CA no terminal trusts, and the signer it certifies (forgery `unknown_surface_ca`).
pub const UNKNOWN_CA_KEY_ID: KeyId = *b"9990023\x08\x05666MTAP";
/// The key id of the signer the unknown CA certifies.
pub const UNKNOWN_SIGNER_KEY_ID: KeyId = *b"9990024\x08\x05666MTAP";

/// Fixed pool indices: these authorities stand outside any one world's seed.
const SURFACE_CA_INDEX: usize = 31;
const SURFACE_SIGNER_INDEX: usize = 30;
const UNKNOWN_CA_INDEX: usize = 29;
const UNKNOWN_SIGNER_INDEX: usize = 28;

/// The DigestInfo prefix of SHA-256 whose OCTET STRING holds three concatenated digests (96
/// bytes): how the card face `00 02` is signed.
pub const THREE_DIGEST_INFO_PREFIX: [u8; 19] =
    [0x30, 0x71, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x60];

/// An RSA public key in the card's encoding: `90 03 01 00 01` (exponent), `91 82 01 00` + the
/// 256-byte modulus. Lengths of 128 bytes and more use the `82` form, as the card writes them.
pub fn card_encoding(key: &rsa::PublicKey) -> Vec<u8> {
    let mut out = Vec::with_capacity(265);
    push_tlv(&mut out, &[0x90], &key.e_bytes());
    let modulus = key.n_bytes();
    // The modulus at its full 256 bytes (a leading zero kept where the top byte is small).
    let mut full = vec![0u8; 256usize.saturating_sub(modulus.len())];
    full.extend_from_slice(&modulus);
    push_tlv(&mut out, &[0x91], &full);
    out
}

/// Reads a key in the card's encoding (untrusted bytes): `None` unless it is exactly `90` then
/// `91` with an RSA key of 2048 bits.
pub fn parse_card_encoding(bytes: &[u8]) -> Option<rsa::PublicKey> {
    let (exponent, rest) = split_tlv(bytes, &[0x90])?;
    let (modulus, rest) = split_tlv(rest, &[0x91])?;
    if !rest.is_empty() || exponent.is_empty() || exponent.len() > 8 || modulus.len() != 256 {
        return None;
    }
    let key = rsa::PublicKey::new(BoxedUint::from_be_slice_vartime(modulus), BoxedUint::from_be_slice_vartime(exponent)).ok()?;
    (key.size() == 256).then_some(key)
}

/// PKCS#1 v1.5 verification of `signature` over a complete DigestInfo.
pub fn verify_digest_info(key: &rsa::PublicKey, digest_info: &[u8], signature: &[u8]) -> bool {
    signature.len() == key.size() && key.verify(Pkcs1v15Sign::new_unprefixed(), digest_info, signature).is_ok()
}

/// PKCS#1 v1.5 SHA-256 verification of `signature` over `message`.
pub fn verify_sha256(key: &rsa::PublicKey, message: &[u8], signature: &[u8]) -> bool {
    let digest_info = [SHA256_DIGEST_INFO_PREFIX.as_slice(), &Sha256::digest(message)].concat();
    verify_digest_info(key, &digest_info, signature)
}

/// The DigestInfo the card face's signature covers: the three SHA-256 digests of its groups.
pub fn three_digest_info(groups: [&[u8]; 3]) -> Vec<u8> {
    let mut out = THREE_DIGEST_INFO_PREFIX.to_vec();
    for group in groups {
        out.extend_from_slice(&Sha256::digest(group));
    }
    out
}

/// A card-verifiable certificate (`7F 21 { 5F 4E body, 5F 37 signature }`), read.
#[derive(Debug, Clone)]
pub struct CvCertificate {
    /// The key id of the CA that signed the certificate.
    pub issuer_key_id: KeyId,
    /// The key id of the key it certifies.
    pub subject_key_id: KeyId,
    /// The certified key (RSA-2048).
    pub public_key: rsa::PublicKey,
    /// The CA's PKCS#1 v1.5 SHA-256 signature over `body`.
    pub signature: Vec<u8>,
    /// The 297 bytes the signature covers (the `5F 4E` value).
    pub body: Vec<u8>,
}

impl CvCertificate {
    /// The body's size: two key ids and an RSA-2048 key in the card's encoding.
    pub const BODY_LEN: usize = 297;

    /// Reads a certificate file (untrusted bytes); `None` unless it has the test card's shape.
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        let (template, _padding) = split_tlv(bytes, &[0x7F, 0x21])?;
        let (body, rest) = split_tlv(template, &[0x5F, 0x4E])?;
        let (signature, _) = split_tlv(rest, &[0x5F, 0x37])?;
        if body.len() != Self::BODY_LEN {
            return None;
        }
        let (issuer, rest) = body.split_first_chunk::<16>()?;
        let (subject, key) = rest.split_first_chunk::<16>()?;
        Some(Self {
            issuer_key_id: *issuer,
            subject_key_id: *subject,
            public_key: parse_card_encoding(key)?,
            signature: signature.to_vec(),
            body: body.to_vec(),
        })
    }

    /// Whether the certificate is signed by `ca` (SHA-256, PKCS#1 v1.5 over the body).
    pub fn verify_with(&self, ca: &rsa::PublicKey) -> bool {
        verify_sha256(ca, &self.body, &self.signature)
    }
}

/// A card-surface hierarchy: the CA, the signer it certifies in every card's `00 04`, and that
/// certificate. Keys stay inside; only signatures and public keys come out.
pub struct SurfaceAuthority {
    ca: Arc<PoolKey>,
    signer: Arc<PoolKey>,
    certificate: Vec<u8>,
}

impl std::fmt::Debug for SurfaceAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SurfaceAuthority").field("certificate", &self.certificate.len()).field("keys", &"<secret>").finish()
    }
}

static TEST: OnceLock<Result<Arc<SurfaceAuthority>, String>> = OnceLock::new();
static UNKNOWN: OnceLock<Result<Arc<SurfaceAuthority>, String>> = OnceLock::new();

impl SurfaceAuthority {
    /// The test card-surface CA every terminal of a world trusts (`MYNATAP_SURFACE_CA`). Built once
    /// per process: it is the same for every seed.
    pub fn test() -> Result<Arc<Self>, PkiError> {
        TEST.get_or_init(|| {
            Self::build((SURFACE_CA_INDEX, SURFACE_CA_KEY_ID), (SURFACE_SIGNER_INDEX, SURFACE_SIGNER_KEY_ID)).map(Arc::new).map_err(|e| e.to_string())
        })
        .clone()
        .map_err(PkiError::Key)
    }

    /// A hierarchy no terminal trusts, consistent in itself (forgery `unknown_surface_ca`).
    pub fn unknown() -> Result<Arc<Self>, PkiError> {
        UNKNOWN
            .get_or_init(|| {
                Self::build((UNKNOWN_CA_INDEX, UNKNOWN_CA_KEY_ID), (UNKNOWN_SIGNER_INDEX, UNKNOWN_SIGNER_KEY_ID)).map(Arc::new).map_err(|e| e.to_string())
            })
            .clone()
            .map_err(PkiError::Key)
    }

    fn build((ca_index, ca_id): (usize, KeyId), (signer_index, signer_id): (usize, KeyId)) -> Result<Self, PkiError> {
        let ca = rsa_pool::key_at(ca_index)?;
        let signer = rsa_pool::key_at(signer_index)?;
        let mut body = Vec::with_capacity(CvCertificate::BODY_LEN);
        body.extend_from_slice(&ca_id);
        body.extend_from_slice(&signer_id);
        body.extend_from_slice(&card_encoding(&public(&signer)));
        let signature = sign_sha256(&ca, &body)?;
        let mut template = Vec::new();
        push_tlv(&mut template, &[0x5F, 0x4E], &body);
        push_tlv(&mut template, &[0x5F, 0x37], &signature);
        let mut certificate = Vec::new();
        push_tlv(&mut certificate, &[0x7F, 0x21], &template);
        Ok(Self { ca, signer, certificate })
    }

    /// The `00 04` file: the signer's card-verifiable certificate.
    pub fn certificate(&self) -> &[u8] {
        &self.certificate
    }
    /// The CA's public key in the card's encoding (what `fixtures/pki/surface-ca-public.bin` holds).
    pub fn ca_public_encoded(&self) -> Vec<u8> {
        card_encoding(&public(&self.ca))
    }
    /// The CA's public key.
    pub fn ca_public(&self) -> rsa::PublicKey {
        public(&self.ca)
    }
    /// The signer's PKCS#1 v1.5 SHA-256 signature over `message` (records `00 01`, `00 05`).
    pub fn sign_record(&self, message: &[u8]) -> Result<Vec<u8>, PkiError> {
        sign_sha256(&self.signer, message)
    }
    /// The signer's signature over a whole DigestInfo (the card face's three digests).
    pub fn sign_digest_info(&self, digest_info: &[u8]) -> Result<Vec<u8>, PkiError> {
        sign_raw(&self.signer, digest_info)
    }
}

fn public(key: &PoolKey) -> rsa::PublicKey {
    key.public_key()
}

fn sign_sha256(key: &PoolKey, message: &[u8]) -> Result<Vec<u8>, PkiError> {
    key.sign_sha256(message)
}

fn sign_raw(key: &PoolKey, digest_info: &[u8]) -> Result<Vec<u8>, PkiError> {
    key.sign_unprefixed(digest_info)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_certificate_has_the_test_cards_shape_and_verifies_under_its_ca_only() {
        let authority = SurfaceAuthority::test().unwrap();
        let file = authority.certificate();
        assert_eq!(file.len(), 568, "as surface-0004.bin of the JPKI test card");
        assert_eq!(&file[..5], &[0x7F, 0x21, 0x82, 0x02, 0x33]);
        let certificate = CvCertificate::parse(file).unwrap();
        assert_eq!(certificate.issuer_key_id, SURFACE_CA_KEY_ID);
        assert!(certificate.verify_with(&authority.ca_public()));
        let stranger = SurfaceAuthority::unknown().unwrap();
        assert!(!certificate.verify_with(&stranger.ca_public()));
        assert_eq!(authority.ca_public_encoded().len(), 265);
        assert!(parse_card_encoding(&authority.ca_public_encoded()).is_some());
        let signature = authority.sign_record(b"record").unwrap();
        assert!(verify_sha256(&certificate.public_key, b"record", &signature));
        assert!(!verify_sha256(&certificate.public_key, b"recorD", &signature));
    }
}
