//! Shrinking a failing life: proptest's value tree takes steps and people away, moves the CRL
//! towards empty and faults and taps towards the plain; every candidate is played in full
//! against the same player, and kept only while it still fails; then each step left is tried
//! away once more.

use std::collections::BTreeSet;

use mynatap_sim::life::Life;
use proptest::strategy::ValueTree;

use super::{Plan, Progress, disagrees, life_id, life_tree, play_life, scenario_of};
use crate::play::{ScenarioResult, TapPlayer};

/// The smallest failing life found, and where it came from.
#[derive(Debug)]
pub struct Shrunk {
    /// The life's index in the exploration (`life_tree(seed, index, contract)`).
    pub index: usize,
    /// Steps and taps (of those played) before and after shrinking.
    pub original: (usize, usize),
    /// Steps and taps after shrinking.
    pub shrunk: (usize, usize),
    /// Candidates played while shrinking.
    pub candidates: usize,
    /// The smallest failing life.
    pub life: Life,
    /// Its scenario id and file text (expectations from the rules model).
    pub id: String,
    /// Its scenario file's text.
    pub yaml: String,
    /// How the smallest life failed.
    pub result: ScenarioResult,
}

fn size(life: &Life) -> (usize, usize) {
    let played = life.expectations();
    (played.len(), played.iter().filter(|p| p.step.tap().is_some()).count())
}

/// Shrinks the `index`-th life, which failed with `result`. `None` only if the life cannot be
/// generated again (it always can: generation is a pure function of the seed).
pub(super) fn shrink(
    plan: &Plan,
    index: usize,
    result: ScenarioResult,
    requirements: &BTreeSet<String>,
    player: &mut dyn TapPlayer,
    progress: &(dyn Fn(Progress) + Sync),
) -> Option<Shrunk> {
    let mut tree = life_tree(plan.seed, index, plan.contract).ok()?;
    let original_life = plan.life_of(&tree);
    let id = format!("{}-shrunk", life_id(plan.seed, index));
    let original = size(&original_life);
    let same_kind = |candidate: &ScenarioResult| disagrees(candidate) && candidate.status == result.status;
    let (mut best, mut best_result) = (original_life, result.clone());
    let mut candidates = 0;
    if tree.simplify() {
        while candidates < plan.shrink_limit {
            let candidate = plan.life_of(&tree);
            candidates += 1;
            let (steps, taps) = size(&candidate);
            progress(Progress::Shrinking { candidate: candidates, steps, taps });
            let outcome = play_life(&candidate, &id, plan.seed, requirements, player);
            let keep_going = if same_kind(&outcome) {
                // Never trade a smaller failing life for a larger one.
                if (steps, taps) <= size(&best) {
                    (best, best_result) = (candidate, outcome);
                }
                tree.simplify()
            } else {
                tree.complicate()
            };
            if !keep_going {
                break;
            }
        }
    }
    // proptest takes steps away one at a time while it also shrinks values, and may stop at the
    // limit with steps left that matter nothing: try leaving out each remaining step once (from
    // the last, so later steps that depend on earlier ones go first).
    let mut at = best.steps.len();
    while at > 0 && candidates < plan.shrink_limit.saturating_mul(3) / 2 {
        at -= 1;
        let mut candidate = best.clone();
        candidate.steps.remove(at);
        let (steps, taps) = size(&candidate);
        if (steps, taps) >= size(&best) {
            continue;
        }
        candidates += 1;
        progress(Progress::Shrinking { candidate: candidates, steps, taps });
        let outcome = play_life(&candidate, &id, plan.seed, requirements, player);
        if same_kind(&outcome) {
            (best, best_result) = (candidate, outcome);
        }
    }
    // A file that does not load (a bug) is still written, for the report.
    let yaml = scenario_of(&best, &id, requirements)
        .map(|(yaml, _)| yaml)
        .or_else(|_| crate::scenario::life::file(&best, &id, "unloadable").map_err(super::LifeError::from))
        .unwrap_or_else(|error| format!("# {error}\n"));
    Some(Shrunk { index, original, shrunk: size(&best), candidates, life: best, id, yaml, result: best_result })
}
