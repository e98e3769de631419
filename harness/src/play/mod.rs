//! Plays scenarios against the simulated world and compares every step with its `expect`; the
//! players (in memory here, PC/SC in `pcsc` with the feature of that name, a reader program in
//! `certification`) are the seam through which a tap is played.

pub mod bench_tap;
pub mod card_pipe;
pub mod evidence;
pub mod export;
pub mod occupancy;
mod parallel;
#[cfg(feature = "pcsc")]
pub mod pcsc;
pub mod readers;
mod results;
pub mod shard;
mod suite;
pub mod timing;
mod violation;

use mynatap_sim::driver::{Exchange, Response};
use mynatap_sim::terminal::{Outcome, TerminalConfig};
use mynatap_sim::world::{Profiles, TapReport, TapSpec, World, WorldError};

pub use parallel::{run_suite, run_suite_prebuilt};
pub use results::{Failure, ScenarioResult, Status, StepResult, StepTranscript, VerifiedStep};
pub use suite::{DiscoverError, Entry, Suite, discover, load_suite};
pub use violation::{RuleId, Violation};

use crate::scenario::{Action, Expectation, Scenario, Step};

/// Describes an outcome as the format writes it.
pub fn describe(outcome: &Outcome) -> String {
    match outcome.reason() {
        Some(reason) => format!("rejected: {reason}"),
        None => outcome.name().to_owned(),
    }
}

fn expected_text(expect: &Expectation) -> String {
    match expect {
        Expectation::Succeed => "success (verified for a tap)".into(),
        Expectation::Tap(expect) => expect.to_string(),
        Expectation::Error(code) => format!("error: {code}"),
        Expectation::Apdu(expect) => expect.to_string(),
    }
}

/// The scenario's world as it stands before its first step (the default device profiles): for
/// outside verifiers (`mynatap world export`) and property tests.
pub fn world_before_first_step(scenario: &Scenario, seed: u64) -> Result<World, WorldError> {
    build_world(scenario, seed, &Profiles::default())
}

/// Builds the scenario's world.
pub(crate) fn build_world(scenario: &Scenario, seed: u64, profiles: &Profiles) -> Result<World, WorldError> {
    let mut world = World::with_ca_generations(seed, scenario.world.clock, profiles.clone(), &scenario.world.ca_generations)?;
    world.set_contract(scenario.contract);
    if !scenario.world.crl_sign {
        world.withhold_crl_sign()?;
    }
    if scenario.world.revoked_elsewhere > 0 {
        world.registry_mut().add_unrelated_revocations(scenario.world.revoked_elsewhere, scenario.world.clock)?;
    }
    for terminal in &scenario.world.terminals {
        world.add_terminal(TerminalConfig {
            id: terminal.id.clone(),
            smartphone: terminal.smartphone,
            timeout_ms: terminal.timeout_ms,
            backend_timeout_ms: terminal.backend_timeout_ms,
        })?;
    }
    for person in &scenario.world.people {
        world.add_person(&person.spec)?;
        for phone in &person.phones {
            let issuance = mynatap_sim::backend::Issuance { fault: phone.certificate, generation: phone.generation };
            world.add_initial_phone_with(&person.spec.id, &phone.id, (phone.os, phone.key), &phone.pin, phone.forged, issuance)?;
        }
    }
    Ok(world)
}

/// Something that plays taps: the in-memory world itself, a driver over real PC/SC, or a reader
/// program under certification.
pub trait TapPlayer {
    /// Plays one tap. `expect` is what the scenario expects of it (certification judges the wire
    /// against it: no eligibility query for a tap that must be rejected on its certificate).
    fn tap(&mut self, world: &mut World, spec: &TapSpec, expect: &Expectation) -> Result<mynatap_sim::world::TapReport, WorldError>;
    /// Rules the last tap broke on the wire (certification only).
    fn take_violations(&mut self) -> Vec<Violation> {
        Vec::new()
    }
    /// What the reader program did in the last tap (certification only).
    fn take_evidence(&mut self) -> Option<evidence::TapEvidence> {
        None
    }
    /// Sends one command APDU to a device outside any tap (scenario step `apdu`) and returns the
    /// raw response. The device stays in the field until [`end_raw`](Self::end_raw): what one raw
    /// step selects or verifies holds for the next. Default: the device in memory (certification
    /// too: raw steps test the device profile, not the reader).
    fn raw_apdu(&mut self, world: &mut World, device: &str, command: &[u8]) -> Result<Vec<u8>, WorldError> {
        world.raw_exchange(device, command)
    }
    /// Powers a device off and on (scenario step `reset`).
    fn raw_reset(&mut self, world: &mut World, device: &str) -> Result<(), WorldError> {
        world.raw_reset(device)
    }
    /// Takes the device of raw steps out of the field (before any other step, and at the end).
    fn end_raw(&mut self, world: &mut World) {
        world.end_raw_session();
    }
}

/// Taps through the direct in-memory transport.
#[derive(Debug, Default)]
pub struct MemoryPlayer;

impl TapPlayer for MemoryPlayer {
    fn tap(&mut self, world: &mut World, spec: &TapSpec, _: &Expectation) -> Result<mynatap_sim::world::TapReport, WorldError> {
        world.tap(spec)
    }
}

/// Plays one scenario to its first failing step.
pub fn run_scenario(scenario: &Scenario, seed: u64, profiles: &Profiles, player: &mut dyn TapPlayer) -> ScenarioResult {
    play_in_world(scenario, build_world(scenario, seed, profiles), player)
}

/// Plays one scenario in a world already built for it (or reports why it could not be built).
fn play_in_world(scenario: &Scenario, world: Result<World, WorldError>, player: &mut dyn TapPlayer) -> ScenarioResult {
    let mut result = ScenarioResult::of(scenario, Status::Passed);
    let mut world = match world {
        Ok(world) => world,
        Err(error) => {
            result.status = Status::Error;
            result.error = Some(format!("{}: world: {error} ({})", scenario.file.display(), error.code()));
            return result;
        }
    };
    // The raw steps played since the last other step: a failing raw step shows the whole run.
    let mut raw_run: Vec<Exchange> = Vec::new();
    let (mut power_up, mut raw_device) = (0, None);
    for step in &scenario.steps {
        let device = match &step.action {
            Action::Apdu { device, .. } | Action::Reset { device } => Some(device),
            _ => None,
        };
        if device.is_none() {
            player.end_raw(&mut world);
            raw_run.clear();
        }
        // A tap, a reset, or another device entering the field is a new power-up.
        if device.is_none() || device != raw_device || matches!(step.action, Action::Reset { .. }) {
            power_up = step.index;
        }
        raw_device = device;
        let raw = device.is_some();
        let world_time = world.now();
        let Judged { actual, passed, detail, mut transcript, outcome } = play_step(&mut world, step, player);
        let verified = match &outcome {
            Some(Outcome::Verified(verified)) => Some(VerifiedStep::of(verified)),
            _ => None,
        };
        if let Some(mut evidence) = player.take_evidence() {
            evidence.step = step.index;
            result.evidence.push(evidence);
        }
        result.steps.push(StepResult { index: step.index, action: step.action.name(), passed, actual: actual.clone(), verified });
        if !transcript.is_empty() {
            result.transcripts.push(StepTranscript { step: step.index, power_up, world_time, exchanges: transcript.clone() });
        }
        if raw {
            raw_run.append(&mut transcript);
            transcript = raw_run.clone();
        }
        if !passed {
            result.status = Status::Failed;
            result.failure = Some(Failure {
                step: step.index,
                line: step.line,
                action: step.action.name(),
                expected: expected_text(&step.expect),
                actual,
                detail,
                transcript,
            });
            break;
        }
    }
    player.end_raw(&mut world);
    result
}

/// One step as played and judged.
#[derive(Debug)]
struct Judged {
    /// What happened, as the format writes a result (`verified`, `rejected: reason`, `ok`, ...).
    actual: String,
    /// Whether it is what the step expects.
    passed: bool,
    /// Why: the terminal's detail, the mismatch, or the rules broken with their evidence.
    detail: String,
    /// The APDUs of the step.
    transcript: Vec<Exchange>,
    /// The tap's outcome (taps only).
    outcome: Option<Outcome>,
}

impl Judged {
    fn new(actual: String, passed: bool, detail: String, transcript: Vec<Exchange>) -> Self {
        Self { actual, passed, detail, transcript, outcome: None }
    }
    /// A step that is no tap and sends no APDU: it succeeded or failed with `error`.
    fn action(result: Result<(), WorldError>, expect: &Expectation) -> Self {
        match (result, expect) {
            (Ok(()), Expectation::Succeed) => Self::new("ok".into(), true, String::new(), Vec::new()),
            (Ok(()), _) => Self::new("ok".into(), false, "the action succeeded".into(), Vec::new()),
            (Err(error), Expectation::Error(code)) => Self::new(format!("error: {}", error.code()), error.code() == code, error.to_string(), Vec::new()),
            (Err(error), _) => Self::new(format!("error: {}", error.code()), false, error.to_string(), Vec::new()),
        }
    }
}

/// Plays one step and judges it against its `expect`.
fn play_step(world: &mut World, step: &Step, player: &mut dyn TapPlayer) -> Judged {
    let result = match &step.action {
        Action::Tap(spec) => match player.tap(world, spec, &step.expect) {
            Ok(report) => return played_tap(spec, &step.expect, report, player),
            Err(error) => Err(error),
        },
        Action::AddPhone { person, phone, os, key, pin } => world.add_phone(person, phone, (*os, *key), pin.as_deref()),
        Action::RemovePhone { phone } => world.remove_phone(phone),
        Action::ReportLost { phone } => world.report_lost(phone),
        Action::Resume { phone } => world.resume(phone),
        Action::RevokeCard { person } => world.revoke_card(person),
        Action::RenewCard { person, cert_expires } => world.renew_card(person, *cert_expires),
        Action::RegisterInsurance { person } => world.register_insurance(person),
        Action::AdvanceClock(by) => world.advance_clock(*by),
        Action::Apdu { device, command } => return play_raw_apdu(world, player, device, command, &step.expect),
        Action::Reset { device } => player.raw_reset(world, device),
    };
    Judged::action(result, &step.expect)
}

/// A tap played: its outcome judged against the expectation, its fault against what it did,
/// and the rules the player saw broken.
fn played_tap(spec: &TapSpec, expect: &Expectation, report: TapReport, player: &mut dyn TapPlayer) -> Judged {
    if report.fault_fired == Some(false)
        && let Some(fault) = spec.fault
    {
        let actual = format!("{} without the fault", describe(&report.outcome));
        let detail = format!(
            "the fault {fault} never took effect: the tap sent {} command(s) and ended without the fault changing what the terminal received (a command the tap never sends, a corruption of an answer without data, a status word replaced by itself); it tests nothing: aim it at a command the tap sends whose answer it changes, e.g. `command: read`",
            report.transcript.len()
        );
        return Judged::new(actual, false, detail, report.transcript);
    }
    let mut judged = judge_tap(expect, &report.outcome, report.transcript);
    judged.outcome = Some(report.outcome);
    let violations = player.take_violations();
    if !violations.is_empty() {
        let rules: Vec<&str> = violations.iter().map(|v| v.rule.as_str()).collect();
        let evidence: Vec<String> = violations.iter().map(|v| format!("{}: {}", v.rule, v.evidence)).collect();
        judged.actual = format!("{}, breaking rule {}", judged.actual, rules.join(", "));
        judged.passed = false;
        judged.detail = evidence.join("; ");
    }
    judged
}

fn play_raw_apdu(world: &mut World, player: &mut dyn TapPlayer, device: &str, command: &[u8], expect: &Expectation) -> Judged {
    let Expectation::Apdu(expect) = expect else {
        return Judged::new("not played".into(), false, "an apdu step without an apdu expectation (a bug in the loader)".into(), Vec::new());
    };
    match player.raw_apdu(world, device, command) {
        Ok(response) => {
            let exchange = Exchange { command: command.to_vec(), response: Ok(Response::from_bytes(&response)) };
            let actual = match response.split_last_chunk::<2>() {
                Some((data, sw)) => format!("sw {:04X}, {} data byte(s)", u16::from_be_bytes(*sw), data.len()),
                None => format!("{} byte(s), no status word", response.len()),
            };
            match expect.mismatch(&response) {
                None => Judged::new(actual, true, String::new(), vec![exchange]),
                Some(why) => Judged::new(actual, false, why, vec![exchange]),
            }
        }
        Err(WorldError::Transport(error)) => {
            let exchange = Exchange { command: command.to_vec(), response: Err(error.clone()) };
            Judged::new(format!("error: {}", WorldError::Transport(error.clone()).code()), false, format!("transport: {error}"), vec![exchange])
        }
        Err(error) => Judged::new(format!("error: {}", error.code()), false, error.to_string(), Vec::new()),
    }
}

fn judge_tap(expect: &Expectation, outcome: &Outcome, transcript: Vec<Exchange>) -> Judged {
    let mut actual = describe(outcome);
    let mut detail = match outcome {
        Outcome::Rejected { detail, .. } => detail.clone(),
        Outcome::Verified(verified) => verified_summary(verified),
        Outcome::NotOffered => "the terminal offers no phone path".into(),
    };
    let passed = match expect {
        Expectation::Succeed => matches!(outcome, Outcome::Verified(_)),
        Expectation::Error(_) | Expectation::Apdu(_) => false,
        Expectation::Tap(expect) => {
            let same = expect.outcome == outcome.kind() && expect.reason == outcome.reason();
            match outcome {
                Outcome::Verified(verified) if same => match expect.verified_mismatch(verified) {
                    None => true,
                    Some(why) => {
                        actual = format!("verified, {why}");
                        detail = verified_summary(verified);
                        false
                    }
                },
                _ => same,
            }
        }
    };
    Judged::new(actual, passed, detail, transcript)
}

/// A verified tap as people read it: what the eligibility answer and the terminal recorded.
fn verified_summary(verified: &mynatap_sim::terminal::Verified) -> String {
    format!("{}, consent {}", VerifiedStep::of(verified).line(), verified.consent)
}
