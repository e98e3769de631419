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
pub mod shard;
pub mod timing;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use mynatap_sim::driver::{Exchange, Response};
use mynatap_sim::terminal::{Outcome, TerminalConfig};
use mynatap_sim::world::{Profiles, TapSpec, World, WorldError};
use serde::Serialize;

pub use parallel::{run_suite, run_suite_prebuilt};

use crate::scenario::{self, Action, Expectation, LoadError, Scenario, Step};

/// Where the scenarios come from: files in order, each loaded or refused.
#[derive(Debug)]
pub struct Suite {
    /// Every file of the suite, in order.
    pub entries: Vec<Entry>,
}

#[derive(Debug)]
/// One file of a suite.
pub enum Entry {
    /// A scenario that loaded.
    Loaded(Box<Scenario>),
    /// A file that did not load, and why.
    Broken(LoadError),
}

/// Expands files and folders (folders: every `*.yaml`/`*.yml` below, sorted by path).
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found = Vec::new();
            collect(path, &mut found).map_err(|e| format!("{}: {e}", path.display()))?;
            found.sort();
            files.extend(found);
        } else if path.is_file() {
            files.push(path.clone());
        } else if path.exists() {
            return Err(format!("{}: not a regular file (a FIFO or a device); give a scenario file or a folder", path.display()));
        } else {
            return Err(format!("{}: no such file or folder", path.display()));
        }
    }
    Ok(files)
}

/// Folders are walked as they are: a symlink to a folder is not entered (it could loop).
fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            collect(&path, out)?;
        } else if path.is_dir() {
            continue;
        } else if path.extension().is_some_and(|ext| ext == "yaml" || ext == "yml") {
            out.push(path);
        }
    }
    Ok(())
}

/// The 1-based line of the first top-level (unindented) key `key` in a YAML text.
fn top_level_line(text: &str, key: &str) -> Option<usize> {
    text.lines().position(|line| line.starts_with(key)).map(|index| index + 1)
}

/// Loads every file; a file that fails is kept as [`Entry::Broken`] and the rest still load.
/// A second file with an id already seen is broken too.
pub fn load_suite(files: &[PathBuf], requirements: &BTreeSet<String>, filter: Option<&str>) -> Suite {
    let mut seen: HashMap<String, PathBuf> = HashMap::new();
    let mut entries = Vec::new();
    for file in files {
        match scenario::load_file(file, requirements) {
            Ok(loaded) => {
                if filter.is_some_and(|needle| !loaded.id.contains(needle)) {
                    continue;
                }
                if let Some(first) = seen.get(&loaded.id) {
                    // Located at the file's own `id:` line, where the fix goes.
                    let line = crate::scenario::builtin::source_of(file).ok().and_then(|text| top_level_line(&text, "id:")).unwrap_or(1);
                    entries.push(Entry::Broken(LoadError {
                        file: file.clone(),
                        line,
                        column: 1,
                        message: format!("id: duplicate scenario id `{}` (also in {})", loaded.id, first.display()),
                    }));
                    continue;
                }
                seen.insert(loaded.id.clone(), file.clone());
                entries.push(Entry::Loaded(Box::new(loaded)));
            }
            Err(error) => entries.push(Entry::Broken(error)),
        }
    }
    Suite { entries }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
/// How a scenario ended.
pub enum Status {
    /// Every step did what it expected.
    Passed,
    /// A step did not (see `failure`).
    Failed,
    /// The file did not load, or its world could not be built.
    Error,
    /// Certification: a failure a valid waiver covers (its reason in `note`).
    Waived,
    /// Certification: outside the reader's conformance statement, not played (why in `note`).
    NotApplicable,
}

#[derive(Debug, Clone, Serialize)]
/// One step played.
pub struct StepResult {
    /// The step's index, from 1.
    pub index: usize,
    /// The action's name (`tap`, `add_phone`, ...).
    pub action: &'static str,
    /// Whether it did what it expected.
    pub passed: bool,
    /// What happened, as the format writes it (`verified`, `rejected: wrong_pin`, `ok`, `error: under_15`).
    pub actual: String,
    /// A verified tap: the eligibility answer and what the terminal reported with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified: Option<VerifiedStep>,
}

/// What a verified tap reported (scenario format 1.2): the eligibility answer, the card's grace
/// and the warning before expiry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifiedStep {
    /// The insurer number of the record.
    pub insurer: String,
    /// The answer's QualificationValidity code (`1`: valid).
    pub qualification_validity: &'static str,
    /// The co-payment ratio, in per cent (0: the reader program did not say).
    pub copay: u8,
    /// Accepted in the physical card's grace after expiry.
    pub grace: bool,
    /// The certificate expires within three months.
    pub expiring_soon: bool,
}

impl VerifiedStep {
    /// What a terminal's verified outcome reported.
    pub fn of(verified: &mynatap_sim::terminal::Verified) -> Self {
        Self {
            insurer: verified.insurer.clone(),
            qualification_validity: verified.record.validity.code(),
            copay: verified.copay(),
            grace: verified.grace,
            expiring_soon: verified.expiring_soon,
        }
    }

    /// As a report line: `insurer 06132013, copay 30%, in grace`.
    pub fn line(&self) -> String {
        let mut text = format!("insurer {}, copay {}%", self.insurer, self.copay);
        if self.grace {
            text.push_str(", in the card's grace after expiry (no consent recorded)");
        }
        if self.expiring_soon {
            text.push_str(", certificate expiring within three months");
        }
        text
    }

    /// Whether the tap carries something a person should see in a summary.
    pub fn notable(&self) -> bool {
        self.grace || self.expiring_soon
    }
}

/// The first step that did not do what it expected.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    /// The step's index, from 1.
    pub step: usize,
    /// Its line in the scenario file.
    pub line: usize,
    /// The action's name.
    pub action: &'static str,
    /// What the step expected, as reports write it.
    pub expected: String,
    /// What happened instead.
    pub actual: String,
    /// Why, for people (wire rules broken, a fault that never fired, ...).
    pub detail: String,
    /// The tap's APDUs (empty for other actions).
    pub transcript: Vec<Exchange>,
}

#[derive(Debug, Clone, Serialize)]
/// What one scenario came to.
pub struct ScenarioResult {
    /// The scenario's id.
    pub id: String,
    /// The contract version the steps were judged by.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contract: Option<&'static str>,
    /// The scenario's title.
    pub title: String,
    /// The scenario file.
    pub file: String,
    /// The requirement ids it covers.
    pub covers: Vec<String>,
    /// How it ended.
    pub status: Status,
    /// Every step played, up to the first failing one.
    pub steps: Vec<StepResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// The first failing step.
    pub failure: Option<Failure>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Why it could not be played (a file that does not load, a world that cannot be built).
    pub error: Option<String>,
    /// Certification: the waiver's reason, or why the scenario is not applicable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// What a reader program did in each tap (certification only); bundles keep it.
    #[serde(skip)]
    pub evidence: Vec<evidence::TapEvidence>,
    /// Every tap's and raw step's transcript, kept for snapshots and recordings; not in reports.
    #[serde(skip)]
    pub transcripts: Vec<StepTranscript>,
}

/// The APDUs of one step, with when (the world's clock) and on which power-up of the device.
#[derive(Debug, Clone)]
pub struct StepTranscript {
    /// The step, from 1.
    pub step: usize,
    /// The step that powered the device up: the tap itself, or the first raw step of a run
    /// (a `reset` starts a new one).
    pub power_up: usize,
    /// The world's time when the step was played.
    pub world_time: time::OffsetDateTime,
    /// Every command and response.
    pub exchanges: Vec<Exchange>,
}

impl ScenarioResult {
    /// The result of a file that did not load.
    pub fn broken(error: &LoadError) -> Self {
        Self {
            id: error.file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
            contract: None,
            title: String::new(),
            file: error.file.display().to_string(),
            covers: Vec::new(),
            status: Status::Error,
            steps: Vec::new(),
            failure: None,
            error: Some(error.to_string()),
            note: None,
            evidence: Vec::new(),
            transcripts: Vec::new(),
        }
    }

    /// A scenario outside the conformance statement: not played.
    pub fn not_applicable(scenario: &Scenario, why: String) -> Self {
        Self { note: Some(why), ..Self::of(scenario, Status::NotApplicable) }
    }

    /// The result of `scenario` before any step, with `status`.
    fn of(scenario: &Scenario, status: Status) -> Self {
        Self {
            id: scenario.id.clone(),
            contract: Some(scenario.contract.as_str()),
            title: scenario.title.clone(),
            file: scenario.file.display().to_string(),
            covers: scenario.covers.clone(),
            status,
            steps: Vec::new(),
            failure: None,
            error: None,
            note: None,
            evidence: Vec::new(),
            transcripts: Vec::new(),
        }
    }
}

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

/// A wire rule broken during a tap, with its evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// The rule's name (`W2-fresh-challenge`, ...).
    pub rule: &'static str,
    /// What on the wire shows it.
    pub evidence: String,
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
        let (actual, passed, detail, mut transcript, verified) = play_step(&mut world, step, player);
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

/// Plays one step: what happened, whether it passed, why, the APDUs, and a verified tap's report.
fn play_step(world: &mut World, step: &Step, player: &mut dyn TapPlayer) -> (String, bool, String, Vec<Exchange>, Option<VerifiedStep>) {
    let (actual, passed, detail, transcript, outcome) = play_action(world, step, player);
    let verified = match outcome {
        Some(Outcome::Verified(verified)) => Some(VerifiedStep::of(&verified)),
        _ => None,
    };
    (actual, passed, detail, transcript, verified)
}

fn play_action(world: &mut World, step: &Step, player: &mut dyn TapPlayer) -> (String, bool, String, Vec<Exchange>, Option<Outcome>) {
    let result = match &step.action {
        Action::Tap(spec) => match player.tap(world, spec, &step.expect) {
            Ok(report) => {
                if report.fault_fired == Some(false)
                    && let Some(fault) = spec.fault
                {
                    let actual = format!("{} without the fault", describe(&report.outcome));
                    let detail = format!(
                        "the fault {fault} never took effect: the tap sent {} command(s) and ended without the fault changing what the terminal received (a command the tap never sends, a corruption of an answer without data, a status word replaced by itself); it tests nothing: aim it at a command the tap sends whose answer it changes, e.g. `command: read`",
                        report.transcript.len()
                    );
                    return (actual, false, detail, report.transcript, None);
                }
                let (actual, passed, detail, transcript) = judge_tap(&step.expect, &report.outcome, report.transcript);
                let violations = player.take_violations();
                if violations.is_empty() {
                    return (actual, passed, detail, transcript, Some(report.outcome));
                }
                let rules: Vec<&str> = violations.iter().map(|v| v.rule).collect();
                let evidence: Vec<String> = violations.iter().map(|v| format!("{}: {}", v.rule, v.evidence)).collect();
                return (format!("{actual}, breaking rule {}", rules.join(", ")), false, evidence.join("; "), transcript, Some(report.outcome));
            }
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
        Action::Apdu { device, command } => {
            let (actual, passed, detail, transcript) = play_raw_apdu(world, player, device, command, &step.expect);
            return (actual, passed, detail, transcript, None);
        }
        Action::Reset { device } => player.raw_reset(world, device),
    };
    match (result, &step.expect) {
        (Ok(()), Expectation::Succeed) => ("ok".into(), true, String::new(), Vec::new(), None),
        (Ok(()), _) => ("ok".into(), false, "the action succeeded".into(), Vec::new(), None),
        (Err(error), Expectation::Error(code)) => (format!("error: {}", error.code()), error.code() == code, error.to_string(), Vec::new(), None),
        (Err(error), _) => (format!("error: {}", error.code()), false, error.to_string(), Vec::new(), None),
    }
}

fn play_raw_apdu(world: &mut World, player: &mut dyn TapPlayer, device: &str, command: &[u8], expect: &Expectation) -> (String, bool, String, Vec<Exchange>) {
    let Expectation::Apdu(expect) = expect else {
        return ("not played".into(), false, "an apdu step without an apdu expectation (a bug in the loader)".into(), Vec::new());
    };
    match player.raw_apdu(world, device, command) {
        Ok(response) => {
            let exchange = Exchange { command: command.to_vec(), response: Ok(Response::from_bytes(&response)) };
            let actual = match response.split_last_chunk::<2>() {
                Some((data, sw)) => format!("sw {:04X}, {} data byte(s)", u16::from_be_bytes(*sw), data.len()),
                None => format!("{} byte(s), no status word", response.len()),
            };
            match expect.mismatch(&response) {
                None => (actual, true, String::new(), vec![exchange]),
                Some(why) => (actual, false, why, vec![exchange]),
            }
        }
        Err(WorldError::Transport(error)) => {
            let exchange = Exchange { command: command.to_vec(), response: Err(error.clone()) };
            (format!("error: {}", WorldError::Transport(error.clone()).code()), false, format!("transport: {error}"), vec![exchange])
        }
        Err(error) => (format!("error: {}", error.code()), false, error.to_string(), Vec::new()),
    }
}

fn judge_tap(expect: &Expectation, outcome: &Outcome, transcript: Vec<Exchange>) -> (String, bool, String, Vec<Exchange>) {
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
    (actual, passed, detail, transcript)
}

/// A verified tap as people read it: what the eligibility answer and the terminal recorded.
fn verified_summary(verified: &mynatap_sim::terminal::Verified) -> String {
    format!("{}, consent {}", VerifiedStep::of(verified).line(), verified.consent)
}
