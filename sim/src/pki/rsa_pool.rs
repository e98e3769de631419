//! A fixed pool of RSA-2048 keys, generated once from a published seed and checked in
//! (`fixtures/keys/rsa2048-pool.der`), because RSA key generation costs 0.1 to 1 s a key in
//! release and far more in debug: a world takes its RSA keys from here, never generates one.
//!
//! A world's seed decides where in the pool its keys start ([`key`]); the CA takes the first
//! slot, the forged CA the second, the devices the following ones in the order they are issued,
//! so a replay with the same seed gets the same keys. Past [`POOL_SIZE`] slots keys repeat
//! (documented in docs/protocol.md: no scenario tells two devices apart by key alone).

use std::sync::{Arc, OnceLock};

use rand::Rng;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs1v15::SigningKey as RsaSigningKey;
use sha2::Sha256;

use super::accel::{RsaSigner, sha256_digest_info};
use super::{PkiError, derive_rng};

/// A pool key, held twice: by RustCrypto (encodings, X.509 building, the rare data AWS-LC has
/// no call for) and by AWS-LC (every signature of a SHA-256 DigestInfo: the card's answers and
/// the authorities' certificates and CRLs). Both make the same bytes.
pub struct PoolKey {
    signing: RsaSigningKey<Sha256>,
    fast: RsaSigner,
}

impl std::fmt::Debug for PoolKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PoolKey(<secret>)")
    }
}

impl PoolKey {
    /// RustCrypto's signing key (X.509 builders take it).
    pub fn signing_key(&self) -> &RsaSigningKey<Sha256> {
        &self.signing
    }

    /// RustCrypto's private key (encodings; tests that look for leaked key material).
    pub fn private(&self) -> &rsa::PrivateKey {
        self.signing.as_ref()
    }

    /// The public key.
    pub fn public_key(&self) -> rsa::PublicKey {
        self.private().to_public_key()
    }

    /// PKCS#1 v1.5 type-1 padding over `data` as given (a DigestInfo of any hash), deterministic:
    /// AWS-LC for a SHA-256 DigestInfo, RustCrypto for anything else.
    pub fn sign_unprefixed(&self, data: &[u8]) -> Result<Vec<u8>, PkiError> {
        let refused = || PkiError::Key("the key refused to sign".into());
        match sha256_digest_info(data) {
            Some(digest) => self.fast.sign_sha256_digest(digest).ok_or_else(refused),
            None => self.private().sign(rsa::Pkcs1v15Sign::new_unprefixed(), data).map_err(|_| refused()),
        }
    }

    /// sha256WithRSAEncryption over `message` (certificates, CRLs, card-surface records).
    pub fn sign_sha256(&self, message: &[u8]) -> Result<Vec<u8>, PkiError> {
        use sha2::Digest;
        self.fast.sign_sha256_digest(&Sha256::digest(message)).ok_or_else(|| PkiError::Key("the key refused to sign".into()))
    }
}

/// How many keys the pool holds.
pub const POOL_SIZE: usize = 32;
/// The seed the pool was generated from (with labels `rsa2048:<index>`).
pub const POOL_SEED: u64 = 0x6D79_6E61_7461_7000; // "mynatap\0"
/// The slot of a world's trusted CA, and of the forged CA beside it.
pub const CA_SLOT: usize = 0;
/// The slot of the forged CA (`forged: true` phones).
pub const FORGED_CA_SLOT: usize = 1;
/// The first slot handed to devices.
pub const FIRST_DEVICE_SLOT: usize = 2;

/// The pool: PKCS#1 DER keys, one after another.
static POOL_DER: &[u8] = include_bytes!("../../../fixtures/keys/rsa2048-pool.der");

/// Keys parsed on first use (parsing checks the key, about a millisecond each).
static KEYS: [OnceLock<Arc<PoolKey>>; POOL_SIZE] = [const { OnceLock::new() }; POOL_SIZE];

/// The pool key at `slot` of `seed`'s order.
pub fn key(seed: u64, slot: usize) -> Result<Arc<PoolKey>, PkiError> {
    key_at((offset(seed) + slot) % POOL_SIZE)
}

/// The pool key at a fixed `index`, whatever the seed: for authorities that stand outside any one
/// world (the test card-surface CA, whose public key ships as a fixture).
pub fn key_at(index: usize) -> Result<Arc<PoolKey>, PkiError> {
    let cell = KEYS.get(index).ok_or_else(|| PkiError::Key(format!("RSA pool index {index} out of range")))?;
    if let Some(key) = cell.get() {
        return Ok(key.clone());
    }
    let der = entries().nth(index).ok_or_else(|| {
        PkiError::Key(format!(
            "fixtures/keys/rsa2048-pool.der holds fewer than {POOL_SIZE} keys; regenerate it with MYNATAP_UPDATE_FIXTURES=1 cargo test -p mynatap-sim --test fixtures --release"
        ))
    })?;
    let private = rsa::PrivateKey::from_pkcs1_der(der).map_err(|e| PkiError::Key(format!("RSA pool key {index}: {e}")))?;
    let fast = RsaSigner::from_pkcs1_der(der).ok_or_else(|| PkiError::Key(format!("RSA pool key {index}: AWS-LC refused it")))?;
    Ok(cell.get_or_init(|| Arc::new(PoolKey { signing: RsaSigningKey::new(private), fast })).clone())
}

/// Where `seed`'s keys start in the pool.
fn offset(seed: u64) -> usize {
    (derive_rng(seed, "rsa2048-pool-offset").next_u64() % POOL_SIZE as u64) as usize
}

/// The checked-in keys as DER slices (each a SEQUENCE `30 82 HH LL ...`).
pub fn entries() -> impl Iterator<Item = &'static [u8]> {
    let mut rest = POOL_DER;
    std::iter::from_fn(move || {
        let [0x30, 0x82, high, low, ..] = *rest else { return None };
        let len = 4 + usize::from(u16::from_be_bytes([high, low]));
        let (entry, tail) = (rest.get(..len)?, rest.get(len..)?);
        rest = tail;
        Some(entry)
    })
}

/// Generates pool key `index` afresh from [`POOL_SEED`] (slow: for regenerating the fixture).
pub fn generate(index: usize) -> Result<Vec<u8>, PkiError> {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    let key = rsa::PrivateKey::new(&mut derive_rng(POOL_SEED, &format!("rsa2048:{index}")), 2048).map_err(|e| PkiError::Key(e.to_string()))?;
    Ok(key.to_pkcs1_der().map_err(|e| PkiError::Key(e.to_string()))?.as_bytes().to_vec())
}
