//! Exploration: generated lives (`mynatap_sim::strategies::life`) written as scenario files whose
//! expectations are the rules model's, played like any scenario (in memory, or against a reader
//! program through the certification player), the first disagreement shrunk to the smallest
//! life that still fails.

mod coverage;
mod shrink;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mynatap_sim::contract::Contract;
use mynatap_sim::life::Life;
use mynatap_sim::pki::derive_rng;
use mynatap_sim::strategies::life;
use mynatap_sim::world::Profiles;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use rand::Rng as _;

pub use coverage::Coverage;
pub use shrink::Shrunk;

use crate::play::{ScenarioResult, Status, TapPlayer, run_scenario};
use crate::scenario::{REQUIREMENTS_MD, Scenario, parse, requirement_ids};

/// What to explore.
#[derive(Debug, Clone)]
pub struct Plan {
    /// How many lives.
    pub count: usize,
    /// The same seed gives the same lives, and the same keys, serials and challenges in them.
    pub seed: u64,
    /// Generate only what this version defines; judge by its rules.
    pub contract: Contract,
    /// Stop starting new lives after this long (the ones started finish).
    pub budget: Option<Duration>,
    /// Most candidates a shrink tries (each is played in full).
    pub shrink_limit: usize,
    /// Keep every life's result, evidence included (for a certification bundle).
    pub keep_results: bool,
    /// Lives as a reader program is judged on them ([`Life::on_a_keypad`]): no PIN a terminal
    /// keypad cannot type.
    pub keypad_only: bool,
}

impl Plan {
    /// The life a value tree stands at, as this plan plays it.
    pub fn life_of(&self, tree: &impl ValueTree<Value = Life>) -> Life {
        played_life(tree.current(), self.keypad_only)
    }
}

/// `life`, or (`keypad_only`) the life as a reader program is judged on it.
pub fn played_life(life: Life, keypad_only: bool) -> Life {
    if keypad_only { life.on_a_keypad() } else { life }
}

/// Where an exploration stands, for a progress line.
#[derive(Debug, Clone, Copy)]
pub enum Progress {
    /// Playing lives: how many so far, their taps, time since the start.
    Exploring {
        /// Lives played.
        lives: usize,
        /// Taps played.
        taps: usize,
        /// Time since the start.
        elapsed: Duration,
    },
    /// Shrinking a failure: the candidate being played and its size.
    Shrinking {
        /// Candidates played so far.
        candidate: usize,
        /// The candidate's steps.
        steps: usize,
        /// The candidate's taps.
        taps: usize,
    },
}

/// What an exploration found.
#[derive(Debug)]
pub struct Exploration {
    /// What was asked.
    pub plan: Plan,
    /// Lives played in full (a failing one included).
    pub lives: usize,
    /// What the lives covered.
    pub coverage: Coverage,
    /// Wall time, shrinking included.
    pub elapsed: Duration,
    /// The budget ran out before `count` lives.
    pub out_of_time: bool,
    /// The first failure, shrunk (`None`: every life agreed with the model).
    pub failure: Option<Shrunk>,
    /// Every life's result in life order (`0..lives`), when the plan keeps them.
    pub results: Vec<ScenarioResult>,
}

impl Exploration {
    /// Generated taps per second of wall time.
    pub fn rate(&self) -> f64 {
        self.coverage.taps as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// The comment at the head of every generated life's scenario file.
pub const GENERATED_COMMENT: &str = "a generated life, expectations from the rules model";

/// The scenario id of the `index`-th life of `seed`.
pub fn life_id(seed: u64, index: usize) -> String {
    format!("explore-{seed}-{index}")
}

/// Why a generated life could not be had as a scenario (each a bug of mynatap's generator,
/// writer or loader, never of a reader).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LifeError {
    /// The generator refused to draw the life.
    #[error("cannot generate life {index}: {reason}")]
    Generate {
        /// The life's index.
        index: usize,
        /// What proptest said.
        reason: String,
    },
    /// The life could not be written as a scenario file.
    #[error(transparent)]
    Write(#[from] crate::scenario::write::WriteError),
    /// The file written does not load.
    #[error("mynatap wrote a scenario it cannot load (a bug): {error}\n{text}")]
    Unloadable {
        /// Why it does not load.
        error: crate::scenario::LoadError,
        /// The file's text.
        text: String,
    },
}

/// The `index`-th life of `seed` for `contract`, as proptest's value tree (so it can shrink).
pub fn life_tree(seed: u64, index: usize, contract: Contract) -> Result<impl ValueTree<Value = Life>, LifeError> {
    let mut bytes = [0u8; 32];
    derive_rng(seed, &format!("explore:{}:{index}", contract.as_str())).fill_bytes(&mut bytes);
    let mut runner = TestRunner::new_with_rng(Config::default(), TestRng::from_seed(RngAlgorithm::ChaCha, &bytes));
    life(contract).new_tree(&mut runner).map_err(|reason| LifeError::Generate { index, reason: reason.to_string() })
}

/// The life as a loaded scenario (its file name is `<id>.yaml`).
pub fn scenario_of(life: &Life, id: &str, requirements: &BTreeSet<String>) -> Result<(String, Scenario), LifeError> {
    let yaml = crate::scenario::life::file(life, id, GENERATED_COMMENT)?;
    match parse(&PathBuf::from(format!("{id}.yaml")), &yaml, requirements) {
        Ok(scenario) => Ok((yaml, scenario)),
        Err(error) => Err(LifeError::Unloadable { error, text: yaml }),
    }
}

/// The first `count` lives of `seed` for `contract`, as a reader program is judged on them
/// (keypad PINs only), each as `(file name, scenario text, loaded scenario)`: what a default
/// certification plays among the scenario files, and what `bundle verify` generates again.
pub fn generated_scenarios(seed: u64, contract: Contract, count: usize) -> Result<Vec<(String, String, Scenario)>, LifeError> {
    let requirements = requirement_ids(REQUIREMENTS_MD);
    (0..count)
        .map(|index| {
            let id = life_id(seed, index);
            let life = played_life(life_tree(seed, index, contract)?.current(), true);
            let (yaml, scenario) = scenario_of(&life, &id, &requirements)?;
            Ok((format!("{id}.yaml"), yaml, scenario))
        })
        .collect()
}

/// Plays one life: its scenario's result (a scenario that cannot be written or loaded is an
/// error result, a bug of mynatap's generator or model).
pub fn play_life(life: &Life, id: &str, seed: u64, requirements: &BTreeSet<String>, player: &mut dyn TapPlayer) -> ScenarioResult {
    match scenario_of(life, id, requirements) {
        Ok((_, scenario)) => run_scenario(&scenario, seed, &Profiles::default(), player),
        Err(error) => {
            let broken = crate::scenario::LoadError { file: PathBuf::from(format!("{id}.yaml")), line: 1, column: 1, message: error.to_string() };
            ScenarioResult::broken(&broken)
        }
    }
}

/// Whether a result is a disagreement worth shrinking.
fn disagrees(result: &ScenarioResult) -> bool {
    !matches!(result.status, Status::Passed)
}

/// Explores `plan.count` lives, one player per job (`players`), and shrinks the first
/// disagreement (the lowest life index that fails, whatever the order jobs finished in).
pub fn explore(plan: &Plan, players: Vec<Box<dyn TapPlayer + Send>>, progress: &(dyn Fn(Progress) + Sync)) -> Exploration {
    let requirements = requirement_ids(REQUIREMENTS_MD);
    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let out_of_time = AtomicBool::new(false);
    let coverage = Mutex::new(Coverage::default());
    let failures: Mutex<Vec<(usize, ScenarioResult)>> = Mutex::new(Vec::new());
    let kept: Mutex<Vec<(usize, ScenarioResult)>> = Mutex::new(Vec::new());
    let mut players = players;
    std::thread::scope(|scope| {
        for player in players.iter_mut() {
            let (next, stop, out_of_time, coverage, failures, kept, requirements) = (&next, &stop, &out_of_time, &coverage, &failures, &kept, &requirements);
            scope.spawn(move || {
                loop {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    if plan.budget.is_some_and(|budget| started.elapsed() >= budget) {
                        out_of_time.store(true, Ordering::Relaxed);
                        break;
                    }
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= plan.count {
                        break;
                    }
                    let Ok(tree) = life_tree(plan.seed, index, plan.contract) else { continue };
                    let life = plan.life_of(&tree);
                    let result = play_life(&life, &life_id(plan.seed, index), plan.seed, requirements, player.as_mut());
                    let snapshot = {
                        let mut coverage = coverage.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                        coverage.add(&life, &result);
                        (coverage.lives, coverage.taps)
                    };
                    if disagrees(&result) {
                        stop.store(true, Ordering::Relaxed);
                        failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push((index, result.clone()));
                    }
                    if plan.keep_results {
                        kept.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push((index, result));
                    }
                    progress(Progress::Exploring { lives: snapshot.0, taps: snapshot.1, elapsed: started.elapsed() });
                }
            });
        }
    });
    let coverage = coverage.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut failures = failures.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner());
    failures.sort_by_key(|(index, _)| *index);
    let elapsed = started.elapsed();
    let failure = failures.into_iter().next().and_then(|(index, result)| {
        let player = players.first_mut()?;
        shrink::shrink(plan, index, result, &requirements, player.as_mut(), progress)
    });
    let mut kept = kept.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner());
    kept.sort_by_key(|(index, _)| *index);
    let results = kept.into_iter().map(|(_, result)| result).collect();
    Exploration { plan: plan.clone(), lives: coverage.lives, coverage, elapsed, out_of_time: out_of_time.load(Ordering::Relaxed), failure, results }
}
