//! What `certify --explore N --bundle` records beyond the judged lives, and how `bundle verify`
//! checks it: every life is generated again from the seed and must be the bundle's file, byte
//! for byte; the coverage is counted again from the re-judged results; a failure must have its
//! shrunk reproduction, and a run that stopped early must say why.

use std::collections::BTreeMap;

use mynatap_sim::contract::Contract;
use proptest::strategy::ValueTree;
use serde::{Deserialize, Serialize};

use super::{INDEX, VerifyError, tampered};
use crate::explore::{Coverage, GENERATED_COMMENT, life_id, life_tree, played_life};
use crate::play::{ScenarioResult, Status};

/// The exploration part of `bundle.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExplorationIndex {
    /// `N` of `--explore N`.
    pub lives_requested: usize,
    /// Lives played in full: lives `0..lives` of the seed, each a scenario of the bundle.
    pub lives: usize,
    /// Taps typing a PIN no keypad produces were left out of every life (reader programs).
    pub keypad_only: bool,
    /// The time budget ran out before `lives_requested`.
    pub out_of_time: bool,
    /// What the lives covered (taps by outcome, device, fault; lives by CA key, CRL, people).
    pub coverage: Coverage,
    /// The smallest failing life found by shrinking the first failure.
    pub shrunk: Option<ShrunkIndex>,
}

/// The shrunk failure: a reproduction for the vendor (`mynatap certify` replays it). It is not
/// judged again: the verdict stands on the generated lives, the failing one among them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShrunkIndex {
    /// The index of the life it was shrunk from.
    pub life: usize,
    /// Its scenario file and its evidence in the bundle.
    pub file: String,
    /// Its evidence (the reader program's taps) in the bundle.
    pub evidence: String,
    /// Steps of the shrunk life.
    pub steps: usize,
    /// Taps of the shrunk life.
    pub taps: usize,
    /// Steps and taps of the life before shrinking.
    pub original_steps: usize,
    /// Taps of the life before shrinking.
    pub original_taps: usize,
    /// Candidates played while shrinking.
    pub candidates: usize,
}

/// The suite label of an exploration bundle.
pub fn suite_label(lives: usize, seed: u64, contract: Contract) -> String {
    format!("exploration: {lives} generated lives, seed {seed}, contract {contract}")
}

/// Checks the exploration of a bundle whose results were just judged again. `suite` is the
/// bundle's copy of every life file, `(original name, text)`, in order.
pub(super) fn check(
    exploration: &ExplorationIndex,
    seed: u64,
    contract: Contract,
    suite: &[(String, String)],
    results: &[ScenarioResult],
) -> Result<(), VerifyError> {
    if suite.len() != exploration.lives || results.len() != exploration.lives {
        return Err(tampered(
            INDEX,
            format!("records {} explored lives, but holds {} life files and {} results", exploration.lives, suite.len(), results.len()),
        ));
    }
    let by_id: BTreeMap<&str, &ScenarioResult> = results.iter().map(|result| (result.id.as_str(), result)).collect();
    let mut coverage = Coverage::default();
    for (index, (original, text)) in suite.iter().enumerate() {
        let id = life_id(seed, index);
        let life = played_life(life_tree(seed, index, contract).map_err(|error| VerifyError::Input(error.to_string()))?.current(), exploration.keypad_only);
        let generated = crate::scenario::life::file(&life, &id, GENERATED_COMMENT).map_err(|error| VerifyError::Input(error.to_string()))?;
        if *original != format!("{id}.yaml") || generated != *text {
            return Err(tampered(
                original,
                format!("is not life {index} of seed {seed} (contract {contract}) as mynatap generates it: the lives were changed"),
            ));
        }
        let result = by_id.get(id.as_str()).ok_or_else(|| tampered(INDEX, format!("has no result for life `{id}`")))?;
        coverage.add(&life, result);
    }
    if coverage != exploration.coverage {
        return Err(tampered(INDEX, "its exploration coverage is not what the lives and their results count"));
    }
    let failed = results.iter().any(|result| result.status != Status::Passed);
    match (&exploration.shrunk, failed) {
        (None, true) => return Err(tampered(INDEX, "a life failed, but the exploration records no shrunk reproduction")),
        (Some(_), false) => return Err(tampered(INDEX, "records a shrunk failure, but every life passed")),
        _ => {}
    }
    if !failed && !exploration.out_of_time && exploration.lives != exploration.lives_requested {
        return Err(tampered(
            INDEX,
            format!("explored {} of {} lives with no failure and time left: lives are missing", exploration.lives, exploration.lives_requested),
        ));
    }
    Ok(())
}
