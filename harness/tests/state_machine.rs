//! State-machine property: generated lives (several people, cards and phones of every key kind,
//! CRLs of any size, faults, clocks at edges) played on the real world (registry, cards,
//! terminal, in-memory transport) agree step by step with the rules model
//! (`mynatap_sim::life::Model`). The same generator and model drive `mynatap explore`.
//!
//! On a failure the shrunk life is written as a scenario file whose `expect`s are the model's,
//! under `target/mynatap-proptest/`, so `mynatap run <that file>` replays the failure.
//! `PROPTEST_CASES` changes the number of cases (default 64 per contract version).

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::collections::BTreeSet;
use std::path::PathBuf;

use mynatap_harness::explore::play_life;
use mynatap_harness::play::{MemoryPlayer, Status};
use mynatap_harness::scenario::{requirement_ids, REQUIREMENTS_MD};
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
        std::fs::write(&path, life.scenario_yaml("state-machine-failure", "shrunk by the state-machine property test")).unwrap();
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

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
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
