//! APDU transcripts of the four named scenarios as insta snapshots: any byte change on the wire
//! shows up in review (`cargo insta review`, or INSTA_UPDATE=always to accept).

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;

use mynatap_harness::play::{MemoryPlayer, Status, run_scenario};
use mynatap_harness::scenario::{REQUIREMENTS_MD, load_file, requirement_ids};
use mynatap_sim::pki::DEFAULT_SEED;
use mynatap_sim::world::Profiles;

fn transcript_of(id: &str) -> String {
    let requirements: BTreeSet<String> = requirement_ids(REQUIREMENTS_MD);
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios").join(format!("{id}.yaml"));
    let scenario = load_file(&file, &requirements).unwrap();
    let result = run_scenario(&scenario, DEFAULT_SEED, &Profiles::default(), &mut MemoryPlayer);
    assert_eq!(result.status, Status::Passed, "{:?}", result.failure);
    let mut out = String::new();
    for recorded in &result.transcripts {
        let (step, transcript) = (recorded.step, &recorded.exchanges);
        let _ = writeln!(out, "step {step}: {}", result.steps[step - 1].actual);
        for exchange in transcript {
            let _ = writeln!(out, "  {exchange}");
        }
    }
    out
}

#[test]
fn expired_certificate() {
    insta::assert_snapshot!(transcript_of("expired-certificate"));
}

#[test]
fn revoked_device() {
    insta::assert_snapshot!(transcript_of("revoked-device"));
}

#[test]
fn second_phone_added() {
    insta::assert_snapshot!(transcript_of("second-phone-added"));
}

#[test]
fn lost_device_suspension() {
    insta::assert_snapshot!(transcript_of("lost-device-suspension"));
}

/// The physical card signs with RSA-2048: a DigestInfo goes out, 256 bytes come back.
#[test]
fn physical_card_pin() {
    insta::assert_snapshot!(transcript_of("physical-card-pin"));
}
