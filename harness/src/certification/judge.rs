//! One judge: a tap's record made from its evidence and judged by the wire rules, then the
//! evidence rules. `certify` uses it as it plays a tap and `bundle verify` as it replays a bundle,
//! so both judge alike.

use std::collections::HashSet;

use mynatap_sim::contract::Contract;
use mynatap_sim::driver::SeenApdu;
use mynatap_sim::pki::PublicKey;
use mynatap_sim::profile::DeviceKind;
use mynatap_sim::terminal::Outcome;

pub use super::wire::TapRecord;
use crate::play::Violation;
use crate::scenario::Expectation;

/// What a tap was meant to be, beside its evidence.
#[derive(Debug)]
pub struct TapContext<'a> {
    /// The kind of device tapped.
    pub device: DeviceKind,
    /// The scenario's tap.
    pub spec: &'a mynatap_sim::world::TapSpec,
    /// What the scenario expects of it.
    pub expect: &'a Expectation,
    /// The contract it is judged by.
    pub contract: Contract,
    /// Every trusted authority of the world.
    pub cas: &'a [PublicKey],
    /// What the patient typed.
    pub pin: &'a str,
}

/// Judges a tap from its evidence: the one place a [`TapRecord`] is made of it, used by
/// `certify` as it plays the tap and by `bundle verify` as it replays the bundle, so both judge
/// alike.
pub fn judge_evidence(
    evidence: &crate::play::evidence::TapEvidence,
    tap: &TapContext<'_>,
    claimed: &Outcome,
    challenges: &mut HashSet<Vec<u8>>,
) -> Vec<Violation> {
    let seen_of = |apdus: &[crate::play::evidence::ApduSeen]| -> Vec<SeenApdu> {
        apdus.iter().map(|a| SeenApdu { sequence: a.sequence, command: a.command.clone(), response: a.response.as_ref().map(|r| r.0.clone()) }).collect()
    };
    let (seen, left_in_field) = (seen_of(&evidence.apdus), seen_of(&evidence.left_in_field));
    let record = TapRecord {
        device: tap.device,
        face: tap.spec.face.is_some(),
        expect: tap.expect,
        backend_fault: tap.spec.backend_fault,
        seen: &seen,
        http: &evidence.http,
        contract: tap.contract,
        claimed: Some(claimed),
        cas: tap.cas,
        pin: tap.pin,
        card_shared: evidence.card_held.as_deref().map(|held| held == "shared"),
        held_again: tap.spec.moves.held_again,
        left_in_field: &left_in_field,
    };
    judge(&record, challenges)
}

/// The rules one tap broke, wire rules then evidence rules (`evidence_rules`). `challenges` holds
/// every sign command's data seen in this run.
pub fn judge(tap: &TapRecord<'_>, challenges: &mut HashSet<Vec<u8>>) -> Vec<Violation> {
    let mut violations = super::wire_rules::forbidden(tap, challenges);
    if let Some(claimed) = tap.claimed {
        violations.extend(super::evidence_rules::require(tap, claimed, tap.cas));
    }
    violations
}
