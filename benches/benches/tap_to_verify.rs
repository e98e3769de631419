//! The tap-to-verify hot path and its crypto floor: per tap, the device's one signature, the
//! terminal's verify of it, and the verify of the certificate under the CA (RSA-2048, as the
//! JPKI authorities). The phone signs with P-256, the physical card with RSA-2048. On the card's
//! face path the floor is the card-surface checks (three RSA verifies, the card's one signature)
//! and the JPKI certificate's verify.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use mynatap_sim::backend::PersonSpec;
use mynatap_sim::card::surface::CardSurface;
use mynatap_sim::messages::surface::{find_entry, signed_groups};
use mynatap_sim::pki::card_verifiable::{CvCertificate, SurfaceAuthority, card_encoding, three_digest_info, verify_digest_info};
use mynatap_sim::pki::{CertificateAuthority, KeyAlgorithm, LeafRequest, PublicKey, SigningKey};
use mynatap_sim::profile::DeviceKind;
use mynatap_sim::terminal::TerminalConfig;
use mynatap_sim::world::{Profiles, TapSpec, World};
use sha2::{Digest, Sha256};
use time::macros::datetime;
use x509_cert::der::{Decode, Encode};

pub fn world_with_phone(os: DeviceKind, unrelated_revocations: usize) -> World {
    let now = datetime!(2026-04-01 09:00 +09:00);
    let mut world = World::new(1, now, Profiles::default()).expect("world");
    world.add_terminal(TerminalConfig { id: "clinic".into(), smartphone: true, timeout_ms: 500, backend_timeout_ms: 2000 }).expect("terminal");
    world.add_person(&PersonSpec::example("hanako")).expect("person");
    world.add_initial_phone("hanako", "phone", (os, None), "1234", false).expect("phone");
    world.registry_mut().add_unrelated_revocations(unrelated_revocations, now).expect("revocations");
    world
}

/// What any correct terminal must compute per tap for a device with `key`: the device's
/// signature over the challenge's digest, its verification, and the certificate's under the CA.
fn crypto_floor(key: KeyAlgorithm) -> impl FnMut() {
    let device = SigningKey::derive(key, 1, "bench-device", 5).expect("device key");
    let public = device.public_key();
    let mut certificate_floor = crypto_floor_certificate_only();
    let digest: [u8; 32] = Sha256::digest(b"challenge").into();
    let data = key.sign_command_data(&digest);
    move || {
        let signature = device.sign_card_data(black_box(&data)).expect("sign");
        assert!(public.verify_challenge(&digest, &signature));
        certificate_floor();
    }
}

/// What any correct terminal must compute per face-path tap of a physical card: the card-surface
/// certificate's verify under the card-surface CA, the three digests of the card face and their
/// signature's verify under the certified key, the card's own signature of the challenge and its
/// verify, and the JPKI certificate's verify under the CA (no PIN, no JPKI signature).
fn crypto_floor_face() -> impl FnMut() {
    let authority = SurfaceAuthority::test().expect("surface CA");
    let card_key = SigningKey::derive(KeyAlgorithm::Rsa2048, 1, "bench-card-surface", 40).expect("card key");
    let SigningKey::Rsa(rsa_key) = &card_key else { unreachable!("RSA-2048 was asked for") };
    let surface = CardSurface {
        birth_date: "19800217".into(),
        expires: "20350217".into(),
        security_code: "2285".into(),
        sex: "1".into(),
        my_number: "123456789018".into(),
        card_key: card_encoding(&rsa_key.public_key()),
    };
    let files = surface.files(&authority, None).expect("surface files");
    let certificate = CvCertificate::parse(&files.certificate).expect("card-surface certificate");
    let surface_ca = authority.ca_public();
    let groups = signed_groups(&files.card_face).expect("signed groups");
    let face_signature = find_entry(&files.card_face, 0x28).expect("DF 28").to_vec();
    let card_public = card_key.public_key();
    let mut jpki_floor = crypto_floor_certificate_only();
    let digest: [u8; 32] = Sha256::digest(b"challenge").into();
    let challenge = KeyAlgorithm::Rsa2048.sign_command_data(&digest);
    move || {
        assert!(certificate.verify_with(black_box(&surface_ca)));
        let digest_info = three_digest_info([&groups[0], &groups[1], &groups[2]]);
        assert!(verify_digest_info(&certificate.public_key, black_box(&digest_info), &face_signature));
        let answer = card_key.sign_card_data(black_box(&challenge)).expect("sign");
        assert!(matches!(card_public, PublicKey::Rsa(_)) && card_public.verify_challenge(&digest, &answer));
        jpki_floor();
    }
}

/// The JPKI certificate's verify under the CA, alone.
fn crypto_floor_certificate_only() -> impl FnMut() {
    let ca = CertificateAuthority::trusted(1, KeyAlgorithm::Rsa2048).expect("ca");
    let device = SigningKey::derive(KeyAlgorithm::Rsa2048, 1, "bench-device", 5).expect("device key");
    let now = datetime!(2026-04-01 09:00 +09:00);
    let request = LeafRequest {
        serial: 7,
        holder: "hanako",
        device: "card",
        not_before: now,
        not_after: now + time::Duration::days(365),
        subject_key: &device,
        fault: None,
    };
    let certificate = x509_cert::Certificate::from_der(&ca.issue(&request).expect("leaf")).expect("parse");
    let tbs = certificate.tbs_certificate().to_der().expect("tbs");
    let algorithm = certificate.signature_algorithm().oid;
    let certificate_signature = certificate.signature().raw_bytes().to_vec();
    let ca_key = ca.public_key();
    move || assert!(ca_key.verify_x509(&algorithm, black_box(&tbs), &certificate_signature))
}

/// The same operations through OpenSSL (system libssl, via the `openssl` crate): the floor a
/// tap's cryptography could reach. Keys of the same kinds; the certificate's verify is an
/// RSA-2048 PKCS#1 v1.5 verify over a SHA-256 of a TBS of the same size.
mod openssl_floor {
    use std::hint::black_box;

    use openssl::ec::{EcGroup, EcKey};
    use openssl::ecdsa::EcdsaSig;
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::PKey;
    use openssl::rsa::{Padding, Rsa};
    use openssl::sign::{Signer, Verifier};

    /// The DigestInfo prefix of SHA-256 (what the card signs: prefix and digest, raw).
    const SHA256_PREFIX: [u8; 19] = [0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20];

    /// One RSA-2048 PKCS#1 v1.5 verify of a certificate-sized TBS under the CA's key.
    fn certificate_verify() -> impl FnMut() {
        let ca = PKey::from_rsa(Rsa::generate(2048).expect("CA key")).expect("pkey");
        let tbs = vec![0x5a_u8; 1100];
        let mut signer = Signer::new(MessageDigest::sha256(), &ca).expect("signer");
        let signature = signer.sign_oneshot_to_vec(&tbs).expect("sign");
        move || {
            let mut verifier = Verifier::new(MessageDigest::sha256(), &ca).expect("verifier");
            assert!(verifier.verify_oneshot(&signature, black_box(&tbs)).expect("verify"));
        }
    }

    /// The card's (or card surface's) RSA-2048 operation pair: a raw PKCS#1 v1.5 signature over a
    /// DigestInfo, and its verify.
    fn rsa_sign_and_verify() -> impl FnMut() {
        let key = Rsa::generate(2048).expect("card key");
        let public = Rsa::from_public_components(key.n().to_owned().expect("n"), key.e().to_owned().expect("e")).expect("public");
        let mut digest_info = SHA256_PREFIX.to_vec();
        digest_info.extend([0x11_u8; 32]);
        move || {
            let mut signature = vec![0u8; 256];
            key.private_encrypt(black_box(&digest_info), &mut signature, Padding::PKCS1).expect("sign");
            let mut recovered = vec![0u8; 256];
            let length = public.public_decrypt(&signature, &mut recovered, Padding::PKCS1).expect("verify");
            assert_eq!(recovered.get(..length), Some(digest_info.as_slice()));
        }
    }

    /// One RSA-2048 verify of a DigestInfo signature (the card-surface checks).
    fn rsa_verify() -> impl FnMut() {
        let key = Rsa::generate(2048).expect("key");
        let public = Rsa::from_public_components(key.n().to_owned().expect("n"), key.e().to_owned().expect("e")).expect("public");
        let mut digest_info = SHA256_PREFIX.to_vec();
        digest_info.extend([0x22_u8; 32]);
        let mut signature = vec![0u8; 256];
        key.private_encrypt(&digest_info, &mut signature, Padding::PKCS1).expect("sign");
        move || {
            let mut recovered = vec![0u8; 256];
            let length = public.public_decrypt(black_box(&signature), &mut recovered, Padding::PKCS1).expect("verify");
            assert_eq!(recovered.get(..length), Some(digest_info.as_slice()));
        }
    }

    /// Android: the phone's P-256 signature of the challenge's digest and its verify, and the
    /// certificate's verify under the RSA-2048 CA.
    pub fn android() -> impl FnMut() {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("P-256");
        let key = EcKey::generate(&group).expect("phone key");
        let point = key.public_key().to_owned(&group).expect("point");
        let public = EcKey::from_public_key(&group, &point).expect("public");
        let digest = [0x33_u8; 32];
        let mut certificate = certificate_verify();
        move || {
            let signature = EcdsaSig::sign(black_box(&digest), &key).expect("sign");
            assert!(signature.verify(&digest, &public).expect("verify"));
            certificate();
        }
    }

    /// The physical card, PIN path: its RSA-2048 signature and the verify, the certificate's.
    pub fn card() -> impl FnMut() {
        let (mut signature, mut certificate) = (rsa_sign_and_verify(), certificate_verify());
        move || {
            signature();
            certificate();
        }
    }

    /// The physical card, face path: the card-surface certificate and the card face verified,
    /// the card's own key challenged (a signature and its verify), the certificate's verify.
    pub fn card_face() -> impl FnMut() {
        let (mut surface_certificate, mut card_face, mut challenge, mut certificate) =
            (rsa_verify(), rsa_verify(), rsa_sign_and_verify(), certificate_verify());
        move || {
            surface_certificate();
            card_face();
            challenge();
            certificate();
        }
    }
}

fn tap_to_verify(c: &mut Criterion) {
    let mut group = c.benchmark_group("tap_to_verify");
    let mut world = world_with_phone(DeviceKind::Android, 0);
    let phone = TapSpec::phone("phone");
    assert_eq!(world.tap(&phone).expect("tap").outcome.name(), "verified");
    group.bench_function("memory_tap_android", |b| b.iter(|| black_box(world.tap(&phone).expect("tap"))));
    let mut floor = crypto_floor(KeyAlgorithm::P256);
    group.bench_function("crypto_floor_android_p256", |b| b.iter(&mut floor));
    let mut floor = openssl_floor::android();
    group.bench_function("openssl_floor_android_p256", |b| b.iter(&mut floor));

    // The physical card: RSA-2048, PIN path.
    let card = TapSpec::card("hanako");
    assert_eq!(world.tap(&card).expect("tap").outcome.name(), "verified");
    group.bench_function("memory_tap_card_rsa2048", |b| b.iter(|| black_box(world.tap(&card).expect("tap"))));
    let mut floor = crypto_floor(KeyAlgorithm::Rsa2048);
    group.bench_function("crypto_floor_card_rsa2048", |b| b.iter(&mut floor));
    let mut floor = openssl_floor::card();
    group.bench_function("openssl_floor_card_rsa2048", |b| b.iter(&mut floor));

    // The physical card by face recognition: the card-surface checks instead of PIN and signature.
    let face = TapSpec { face: Some(true), ..TapSpec::card("hanako") };
    assert_eq!(world.tap(&face).expect("tap").outcome.name(), "verified");
    group.bench_function("memory_tap_card_face", |b| b.iter(|| black_box(world.tap(&face).expect("tap"))));
    let mut floor = crypto_floor_face();
    group.bench_function("crypto_floor_card_face", |b| b.iter(&mut floor));
    let mut floor = openssl_floor::card_face();
    group.bench_function("openssl_floor_card_face", |b| b.iter(&mut floor));
    group.finish();
}

/// A tap with CRLs of growing size: the terminal indexes a CRL once per CRL number, so a tap's
/// cost must stay flat as the CRL grows.
fn crl_lookup(c: &mut Criterion) {
    let mut group = c.benchmark_group("crl_lookup");
    group.sample_size(30);
    for revoked in [10usize, 1_000, 100_000] {
        let mut world = world_with_phone(DeviceKind::Android, revoked);
        let spec = TapSpec::phone("phone");
        assert_eq!(world.tap(&spec).expect("tap").outcome.name(), "verified");
        group.bench_function(format!("tap_with_{revoked}_revoked"), |b| b.iter(|| black_box(world.tap(&spec).expect("tap"))));
    }
    group.finish();
}

criterion_group!(benches, tap_to_verify, crl_lookup);
criterion_main!(benches);
