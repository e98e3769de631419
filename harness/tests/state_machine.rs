//! State-machine property: generated lives (several people, cards and phones of every key kind,
//! CRLs of any size, faults, clocks at edges) played on the real world (registry, cards,
//! terminal, in-memory transport) agree step by step with the rules model
//! (`mynatap_sim::life::Model`). The same generator and model drive `mynatap explore`.
//!
//! On a failure the shrunk life is written as a scenario file whose `expect`s are the model's,
//! under `target/mynatap-proptest/`, so `mynatap run <that file>` replays the failure.
//! `PROPTEST_CASES` changes the number of cases (default 64 per contract version).
//!
//! Also: no generated world holds a certificate that was never valid (notBefore after notAfter),
//! whatever its clock and its cards' expiry (docs/scenario-format.md, 1.3).

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::collections::BTreeSet;
use std::path::PathBuf;

use mynatap_harness::explore::play_life;
use mynatap_harness::play::{MemoryPlayer, Status};
use mynatap_harness::scenario::{REQUIREMENTS_MD, requirement_ids};
use mynatap_sim::contract::Contract;
use mynatap_sim::life::{Expected, Life, Step, TapHow};
use mynatap_sim::strategies::life;
use proptest::prelude::*;

fn failure_file(contract: Contract) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../target/mynatap-proptest/state-machine-failure-{contract}.yaml"))
}

fn check(life: &Life) -> Result<(), TestCaseError> {
    let requirements: BTreeSet<String> = requirement_ids(REQUIREMENTS_MD);
    let result = play_life(life, "state-machine-failure", 7, &requirements, &mut MemoryPlayer);
    if result.status != Status::Passed {
        let path = failure_file(life.contract);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, mynatap_harness::scenario::life::file(life, "state-machine-failure", "shrunk by the state-machine property test").unwrap())
            .unwrap();
        return Err(TestCaseError::fail(format!(
            "{:?} {:?}; replay with: mynatap run --seed 7 {}",
            result.failure.map(|f| (f.step, f.expected, f.actual, f.detail)),
            result.error,
            path.display()
        )));
    }
    // Invariants of the rules themselves: at most one usable phone per person is a registry
    // matter the model enforces; here, no revoked or suspended device ever verifies.
    let played = life.expectations();
    for window in played.windows(2) {
        if let [previous, next] = window
            && let Step::RevokeCard { person: revoked } = previous.step
            && let Step::TapCard { person, how: TapHow { fault: None, face: None, .. } } = next.step
            && person == revoked
        {
            prop_assert!(!matches!(next.expected, Expected::Verified { .. }), "a card just revoked verified");
        }
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(64)
}

fn every_certificate_starts_before_it_ends(life: &Life) -> Result<(), TestCaseError> {
    use der::Decode;
    let requirements: BTreeSet<String> = requirement_ids(REQUIREMENTS_MD);
    let yaml = mynatap_harness::scenario::life::file(life, "never-valid", "a generated life").unwrap();
    let scenario =
        mynatap_harness::scenario::parse(std::path::Path::new("never-valid.yaml"), &yaml, &requirements).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let world = mynatap_harness::play::world_before_first_step(&scenario, 7).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let certificates = world.device_certificates();
    prop_assert!(!certificates.is_empty());
    for (device, der) in certificates {
        let certificate =
            x509_cert::Certificate::from_der(&der.unwrap()).map_err(|_| TestCaseError::reject("a certificate outside RFC 5280 (a profile fault)"));
        let Ok(certificate) = certificate else { continue };
        let validity = certificate.tbs_certificate().validity();
        let (not_before, not_after) = (validity.not_before.to_unix_duration(), validity.not_after.to_unix_duration());
        prop_assert!(not_before < not_after, "{device:?}: never valid, {} .. {}", validity.not_before, validity.not_after);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]
    #[test]
    fn no_world_holds_a_never_valid_certificate(life in life(Contract::LATEST)) {
        every_certificate_starts_before_it_ends(&life)?;
    }

    #[test]
    fn world_agrees_with_the_rules_model(life in life(Contract::LATEST)) {
        check(&life)?;
    }

    #[test]
    fn world_agrees_with_the_rules_model_under_1_1(life in life(Contract::V1_1)) {
        check(&life)?;
    }

    #[test]
    fn world_agrees_with_the_rules_model_under_1_0(life in life(Contract::V1_0)) {
        check(&life)?;
    }
}
