//! The tap-to-verify hot path and its crypto floor: per tap, the device's one signature, the
//! terminal's verify of it, and the verify of the certificate under the CA (RSA-2048, as the
//! JPKI authorities). The phone signs with P-256, the physical card with RSA-2048.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use mynatap_sim::backend::PersonSpec;
use mynatap_sim::pki::{CertificateAuthority, KeyAlgorithm, LeafRequest, SigningKey};
use mynatap_sim::profile::DeviceKind;
use mynatap_sim::terminal::TerminalConfig;
use mynatap_sim::world::{Profiles, TapSpec, World};
use sha2::{Digest, Sha256};
use x509_cert::der::{Decode, Encode};
use time::macros::datetime;

pub fn world_with_phone(os: DeviceKind, unrelated_revocations: usize) -> World {
    let now = datetime!(2026-04-01 09:00 +09:00);
    let mut world = World::new(1, now, Profiles::default()).expect("world");
    world.add_terminal(TerminalConfig { id: "clinic".into(), smartphone: true, timeout_ms: 500, backend_timeout_ms: 2000 }).expect("terminal");
    world
        .add_person(&PersonSpec::example("hanako"))
        .expect("person");
    world.add_initial_phone("hanako", "phone", (os, None), "1234", false).expect("phone");
    world.registry_mut().add_unrelated_revocations(unrelated_revocations, now).expect("revocations");
    world
}

/// What any correct terminal must compute per tap for a device with `key`: the device's
/// signature over the challenge's digest, its verification, and the certificate's under the CA.
fn crypto_floor(key: KeyAlgorithm) -> impl FnMut() {
    let ca = CertificateAuthority::trusted(1, KeyAlgorithm::Rsa2048).expect("ca");
    let device = SigningKey::derive(key, 1, "bench-device", 5).expect("device key");
    let now = datetime!(2026-04-01 09:00 +09:00);
    let request = LeafRequest { serial: 7, holder: "hanako", device: "card", not_before: now, not_after: now + time::Duration::days(365), subject_key: &device };
    let certificate = x509_cert::Certificate::from_der(&ca.issue(&request).expect("leaf")).expect("parse");
    let tbs = certificate.tbs_certificate().to_der().expect("tbs");
    let algorithm = certificate.signature_algorithm().oid.to_string();
    let certificate_signature = certificate.signature().raw_bytes().to_vec();
    let (ca_key, public) = (ca.public_key(), device.public_key());
    let digest: [u8; 32] = Sha256::digest(b"challenge").into();
    let data = key.sign_command_data(&digest);
    move || {
        let signature = device.sign_card_data(black_box(&data)).expect("sign");
        assert!(public.verify_challenge(&digest, &signature));
        assert!(ca_key.verify_x509(&algorithm, black_box(&tbs), &certificate_signature));
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

    // The physical card: RSA-2048, PIN path.
    let card = TapSpec::card("hanako");
    assert_eq!(world.tap(&card).expect("tap").outcome.name(), "verified");
    group.bench_function("memory_tap_card_rsa2048", |b| b.iter(|| black_box(world.tap(&card).expect("tap"))));
    let mut floor = crypto_floor(KeyAlgorithm::Rsa2048);
    group.bench_function("crypto_floor_card_rsa2048", |b| b.iter(&mut floor));
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
