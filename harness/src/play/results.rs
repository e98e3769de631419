//! What playing a scenario came to: each step's status, expected and actual, transcript and
//! evidence, and the scenario's result as the reports write it.

use mynatap_sim::driver::Exchange;
use serde::Serialize;

use super::evidence;
use crate::scenario::{LoadError, Scenario};

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
    pub(super) fn of(scenario: &Scenario, status: Status) -> Self {
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
