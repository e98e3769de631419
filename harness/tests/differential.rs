//! One suite, three transports, the same bytes: every scenario is played in memory (direct), on
//! tokio (the device in its own task behind a channel) and over real PC/SC (pcscd and vpcd) with
//! the same seed, and the APDU transcripts of every tap and raw step must be identical, so
//! "passes in memory" means "passes on the wire". Taps with a `delay` fault are left out: their
//! timing is the point, and a late answer is timed out differently on each transport.
//!
//! Needs pcscd with vsmartcard-vpcd (scripts/test.sh starts it).

#![cfg(feature = "pcsc")]
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::collections::BTreeSet;
use std::path::PathBuf;

use mynatap_harness::play::pcsc::PcscPlayer;
use mynatap_harness::play::{MemoryPlayer, ScenarioResult, Status, TapPlayer, discover, run_scenario};
use mynatap_harness::scenario::{Action, Expectation, REQUIREMENTS_MD, Scenario, load_file, requirement_ids};
use mynatap_sim::pki::DEFAULT_SEED;
use mynatap_sim::transport::Fault;
use mynatap_sim::world::{Profiles, TapReport, TapSpec, World, WorldError};

/// Taps through `mynatap_drivers::channel::tap`: the device in a tokio task behind a channel.
struct TokioPlayer(tokio::runtime::Runtime);

impl TapPlayer for TokioPlayer {
    fn tap(&mut self, world: &mut World, spec: &TapSpec, _: &Expectation) -> Result<TapReport, WorldError> {
        mynatap_drivers::channel::tap(&self.0, world, spec)
    }
}

fn suite() -> Vec<Scenario> {
    let requirements: BTreeSet<String> = requirement_ids(REQUIREMENTS_MD);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    discover(&[root]).unwrap().iter().map(|file| load_file(file, &requirements).unwrap()).collect()
}

/// The transcripts of a result, steps with timing faults left out, as text to compare and show.
fn transcripts(scenario: &Scenario, result: &ScenarioResult) -> Vec<String> {
    let timed: Vec<usize> = scenario
        .steps
        .iter()
        .filter(|step| matches!(&step.action, Action::Tap(spec) if matches!(spec.fault, Some(Fault::Delay { .. }))))
        .map(|step| step.index)
        .collect();
    result
        .transcripts
        .iter()
        .filter(|recorded| !timed.contains(&recorded.step))
        .map(|recorded| {
            let lines: Vec<String> = recorded.exchanges.iter().map(ToString::to_string).collect();
            format!("step {} (power-up {}):\n  {}", recorded.step, recorded.power_up, lines.join("\n  "))
        })
        .collect()
}

#[test]
fn memory_tokio_and_pcsc_give_the_same_transcripts() {
    let profiles = Profiles::default();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut tokio_player = TokioPlayer(runtime);
    let mut pcsc = PcscPlayer::start(35963).expect("pcscd with vsmartcard-vpcd must be running (scripts/test.sh starts it)");
    let scenarios = suite();
    assert!(scenarios.len() >= 40);
    let mut compared = 0;
    for scenario in &scenarios {
        let memory = run_scenario(scenario, DEFAULT_SEED, &profiles, &mut MemoryPlayer);
        assert_eq!(memory.status, Status::Passed, "{}: {:?}", scenario.id, memory.failure);
        let expected = transcripts(scenario, &memory);
        for (name, player) in [("tokio", &mut tokio_player as &mut dyn TapPlayer), ("pcsc", &mut pcsc as &mut dyn TapPlayer)] {
            let result = run_scenario(scenario, DEFAULT_SEED, &profiles, player);
            assert_eq!(result.status, Status::Passed, "{} over {name}: {:?}", scenario.id, result.failure);
            let actual = transcripts(scenario, &result);
            assert_eq!(actual.len(), expected.len(), "{} over {name}: another number of transcribed steps", scenario.id);
            for (memory_step, other_step) in expected.iter().zip(&actual) {
                assert_eq!(other_step, memory_step, "{} over {name} differs from memory", scenario.id);
            }
        }
        compared += expected.len();
    }
    assert!(compared > 100, "only {compared} transcripts compared");
}
