//! The checked-in PKI fixtures are what the default seed generates: nobody edits them by hand.
//! `MYNATAP_UPDATE_FIXTURES=1 cargo test -p mynatap-sim --test fixtures` rewrites them.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::path::PathBuf;
use std::process::Command;

use mynatap_sim::credential::demo_card;
use mynatap_sim::pki::card_verifiable::{SURFACE_CA_KEY_ID, SurfaceAuthority};
use mynatap_sim::pki::{CertificateAuthority, CrlEntry, DEFAULT_SEED, KeyAlgorithm, RevocationReason, rsa_pool};
use mynatap_sim::profile::{DeviceKind, Profile};
use time::macros::datetime;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/pki")
}

fn generated() -> Vec<(&'static str, Vec<u8>)> {
    let ca = CertificateAuthority::trusted(DEFAULT_SEED, KeyAlgorithm::Rsa2048).unwrap();
    let card = demo_card(Profile::builtin(DeviceKind::Card), DEFAULT_SEED, "1234").unwrap();
    let crl = ca
        .issue_crl(
            2,
            datetime!(2026-04-01 00:00 UTC),
            datetime!(2026-04-01 00:01 UTC),
            &[
                CrlEntry { serial: 0x0100, revoked_at: datetime!(2026-03-31 00:00 UTC), reason: RevocationReason::CertificateHold },
                CrlEntry { serial: 0x0101, revoked_at: datetime!(2026-03-31 00:00 UTC), reason: RevocationReason::Superseded },
            ],
        )
        .unwrap();
    vec![
        ("ca.der", ca.certificate_der().to_vec()),
        ("ca-key.pk8.der", ca.private_key_pkcs8_der().unwrap()),
        ("demo-card-auth.der", card.auth_certificate().unwrap().to_vec()),
        ("sample.crl.der", crl),
        // The test card-surface CA (the same for every seed): its key in the card's 90/91
        // encoding, as reader programs get it (MYNATAP_SURFACE_CA), and its 16-byte key id.
        ("surface-ca-public.bin", SurfaceAuthority::test().unwrap().ca_public_encoded()),
        ("surface-ca-key-id.bin", SURFACE_CA_KEY_ID.to_vec()),
    ]
}

/// The RSA pool is what its published seed generates, key by key (about 2 s for the 32 keys
/// here, since dependencies build optimised); `MYNATAP_UPDATE_FIXTURES=1` rewrites it.
#[test]
fn rsa_pool_is_generated_from_its_seed() {
    use rsa::pkcs1::DecodeRsaPrivateKey;
    use rsa::traits::PublicKeyParts;
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/keys/rsa2048-pool.der");
    if std::env::var_os("MYNATAP_UPDATE_FIXTURES").is_some() {
        let pool: Vec<u8> = (0..rsa_pool::POOL_SIZE).flat_map(|index| rsa_pool::generate(index).unwrap()).collect();
        std::fs::write(&path, pool).unwrap();
        panic!("{} rewritten: rebuild so the crate embeds it, then run the tests again", path.display());
    }
    let entries: Vec<&[u8]> = rsa_pool::entries().collect();
    assert_eq!(entries.len(), rsa_pool::POOL_SIZE, "the pool holds {} keys", entries.len());
    let on_disk = std::fs::read(&path).unwrap();
    assert_eq!(entries.iter().map(|e| e.len()).sum::<usize>(), on_disk.len(), "nothing after the last key");
    let mut moduli = std::collections::BTreeSet::new();
    for (index, der) in entries.iter().enumerate() {
        let key = rsa::PrivateKey::from_pkcs1_der(der).unwrap_or_else(|e| panic!("pool key {index}: {e}"));
        key.validate().unwrap();
        assert_eq!(key.size(), 256, "pool key {index} is RSA-2048");
        assert!(moduli.insert(key.n().to_be_bytes().to_vec()), "pool key {index} repeats another");
    }
    for (index, der) in entries.iter().enumerate() {
        assert_eq!(rsa_pool::generate(index).unwrap(), *der, "pool key {index} differs from what its seed generates");
    }
}

#[test]
fn fixtures_match_the_default_seed() {
    let update = std::env::var_os("MYNATAP_UPDATE_FIXTURES").is_some();
    for (name, bytes) in generated() {
        let path = fixtures().join(name);
        if update {
            std::fs::create_dir_all(fixtures()).unwrap();
            std::fs::write(&path, &bytes).unwrap();
        }
        let on_disk = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (MYNATAP_UPDATE_FIXTURES=1 regenerates)", path.display()));
        assert!(on_disk == bytes, "{} differs from what seed {DEFAULT_SEED} generates; regenerate with MYNATAP_UPDATE_FIXTURES=1", path.display());
    }
}

fn openssl(args: &[&str]) -> String {
    let output = Command::new("openssl").args(args).output().expect("openssl must be installed (the README's test command installs it)");
    assert!(output.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn openssl_reads_every_certificate_and_crl_and_verifies_the_chain() {
    let dir = fixtures();
    let ca = dir.join("ca.der");
    let leaf = dir.join("demo-card-auth.der");
    let crl = dir.join("sample.crl.der");
    let text = openssl(&["x509", "-inform", "DER", "-noout", "-text", "-in", ca.to_str().unwrap()]);
    assert!(text.contains("CA:TRUE"), "{text}");
    let text = openssl(&["x509", "-inform", "DER", "-noout", "-text", "-in", leaf.to_str().unwrap()]);
    assert!(text.contains("sha256WithRSAEncryption") && text.contains("(2048 bit)"), "{text}");
    let text = openssl(&["crl", "-inform", "DER", "-noout", "-text", "-in", crl.to_str().unwrap()]);
    assert!(text.contains("Certificate Hold") && text.contains("Superseded"), "{text}");
    let scratch = std::env::temp_dir().join(format!("mynatap-fixtures-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let ca_pem = scratch.join("ca.pem");
    let leaf_pem = scratch.join("leaf.pem");
    openssl(&["x509", "-inform", "DER", "-in", ca.to_str().unwrap(), "-out", ca_pem.to_str().unwrap()]);
    openssl(&["x509", "-inform", "DER", "-in", leaf.to_str().unwrap(), "-out", leaf_pem.to_str().unwrap()]);
    let verdict = openssl(&["verify", "-attime", "1775000000", "-CAfile", ca_pem.to_str().unwrap(), leaf_pem.to_str().unwrap()]);
    assert!(verdict.contains("OK"), "{verdict}");
    openssl(&["crl", "-inform", "DER", "-noout", "-in", crl.to_str().unwrap(), "-CAfile", ca_pem.to_str().unwrap()]);
    let _ = std::fs::remove_dir_all(scratch);
}
