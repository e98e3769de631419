//! The tap-to-verify hot path and its crypto floor (one P-256 sign, two P-256 verifies).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use mynatap_sim::backend::PersonSpec;
use mynatap_sim::pki::derive_key;
use mynatap_sim::profile::DeviceKind;
use mynatap_sim::terminal::TerminalConfig;
use mynatap_sim::world::{Profiles, TapSpec, World};
use p256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{DerSignature, Signature};
use sha2::{Digest, Sha256};
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

fn tap_to_verify(c: &mut Criterion) {
    let mut group = c.benchmark_group("tap_to_verify");
    let mut world = world_with_phone(DeviceKind::Android, 0);
    let spec = TapSpec::phone("phone");
    assert_eq!(world.tap(&spec).expect("tap").outcome.name(), "verified");
    group.bench_function("memory_tap_android", |b| b.iter(|| black_box(world.tap(&spec).expect("tap"))));

    // The floor: what any correct terminal must compute per tap.
    let ca = derive_key(1, "bench-ca");
    let phone = derive_key(1, "bench-phone");
    let tbs = vec![0x5Au8; 400];
    let certificate_signature: DerSignature = ca.sign(&tbs);
    let digest = Sha256::digest(b"challenge");
    group.bench_function("crypto_floor", |b| {
        b.iter(|| {
            let signature: Signature = phone.sign_prehash(black_box(&digest)).expect("sign");
            phone.verifying_key().verify_prehash(&digest, &signature).expect("verify challenge");
            ca.verifying_key().verify(black_box(&tbs), &certificate_signature).expect("verify certificate");
        })
    });
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
