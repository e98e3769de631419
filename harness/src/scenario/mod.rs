//! The scenario format (docs/scenario-format.md, version 1.2): a file is read as its serde model
//! (`raw`), then validated (`validate`) into a [`Scenario`] the runner can play. Every error
//! names file, line and column.

pub mod builtin;
mod expectation;
mod faults;
pub mod life;
pub mod locate;
mod raw;
pub mod schema;
mod steps;
mod validate;
pub mod write;

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use mynatap_sim::contract::Contract;
use mynatap_sim::pki::KeyAlgorithm;
use mynatap_sim::profile::DeviceKind;
use mynatap_sim::world::TapSpec;
use time::{Date, Duration, OffsetDateTime};

pub use expectation::{ApduExpect, Expectation, TapExpect};
use locate::Locator;
pub(crate) use raw::*;
use validate::Validator;

/// Largest scenario file read (a suite file is a few KiB).
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// Largest number of steps in one scenario.
pub const MAX_STEPS: usize = 10_000;

/// An error of one scenario file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct LoadError {
    /// The scenario file.
    pub file: PathBuf,
    /// 1-based line (0 for the file as a whole).
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong, and what to do.
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.file.display(), self.line, self.column, self.message)
    }
}

// ---- The validated scenario ----

#[derive(Debug, Clone)]
/// A phone the world starts with (`world.people[].phones`).
pub struct PhoneDef {
    /// The phone's id.
    pub id: String,
    /// Its OS.
    pub os: DeviceKind,
    /// `None`: the profile's.
    pub key: Option<KeyAlgorithm>,
    /// Android: the PIN of the phone's own certificate.
    pub pin: String,
    /// Issued by a CA the terminal does not trust.
    pub forged: bool,
    /// Its first certificate breaks the user-authentication profile so (contract 1.3).
    pub certificate: Option<mynatap_sim::pki::CertificateFault>,
    /// The generation of the authority that issued its first certificate (1 = the oldest;
    /// `None`: the newest).
    pub generation: Option<usize>,
}

#[derive(Debug, Clone)]
/// A person of the world, with their card, insurance and phones.
pub struct PersonDef {
    /// The person, their card and insurance.
    pub spec: mynatap_sim::backend::PersonSpec,
    /// The phones they start with.
    pub phones: Vec<PhoneDef>,
}

#[derive(Debug, Clone)]
/// A terminal of the world (`world.terminals`).
pub struct TerminalDef {
    /// The terminal's id.
    pub id: String,
    /// Whether the facility offers the phone path (Q15, Q16).
    pub smartphone: bool,
    /// How long it waits for one response, in milliseconds.
    pub timeout_ms: u64,
    /// How long it waits for a back end, in milliseconds.
    pub backend_timeout_ms: u64,
}

#[derive(Debug, Clone)]
/// The world a scenario starts in (`world`).
pub struct WorldDef {
    /// The world's clock at the start.
    pub clock: OffsetDateTime,
    /// The trusted CA's key algorithm (the newest generation's).
    pub ca_key: KeyAlgorithm,
    /// Every trusted authority's key, oldest generation first (contract 1.3
    /// `world.ca_generations`); one, `ca_key`, unless the scenario gives generations.
    pub ca_generations: Vec<KeyAlgorithm>,
    /// The authorities may sign CRLs (contract 1.3 `world.crl_sign`; default true).
    pub crl_sign: bool,
    /// Unrelated entries on the CRL before the first step (extension `revoked_elsewhere`).
    pub revoked_elsewhere: usize,
    /// The people.
    pub people: Vec<PersonDef>,
    /// The terminals.
    pub terminals: Vec<TerminalDef>,
}

#[derive(Debug, Clone)]
/// What a step does.
pub enum Action {
    /// One patient flow (FLOW-1..5).
    Tap(TapSpec),
    /// SETUP-2: a person adds their card to a phone (Q17-Q19).
    AddPhone {
        /// Whose card.
        person: String,
        /// Which phone.
        phone: String,
        /// The phone's OS.
        os: DeviceKind,
        /// The phone credential's key (`None`: the profile's).
        key: Option<KeyAlgorithm>,
        /// Android: the phone's PIN; iPhone: the card-info PIN typed (`None`: the right one).
        pin: Option<String>,
    },
    /// Q19: the card is deleted from the phone.
    RemovePhone {
        /// Which phone.
        phone: String,
    },
    /// Q20: the phone is reported lost (suspended).
    ReportLost {
        /// Which phone.
        phone: String,
    },
    /// Q20: the suspension is lifted.
    Resume {
        /// Which phone.
        phone: String,
    },
    /// Q18: the card is revoked.
    RevokeCard {
        /// Whose card.
        person: String,
    },
    /// Q18: the card is renewed.
    RenewCard {
        /// Whose card.
        person: String,
        /// The new certificate's last day (`None`: five years on).
        cert_expires: Option<Date>,
    },
    /// SETUP-1: the insurance-use registration.
    RegisterInsurance {
        /// Whose insurance.
        person: String,
    },
    /// The clock moves on.
    AdvanceClock(Duration),
    /// One command APDU to a device outside any tap.
    Apdu {
        /// The phone id or person (their card).
        device: String,
        /// The command bytes.
        command: Vec<u8>,
    },
    /// Power the device off and on.
    Reset {
        /// The phone id or person (their card).
        device: String,
    },
}

impl Action {
    /// The action's name in the scenario format (`tap`, `add_phone`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Tap(_) => "tap",
            Self::AddPhone { .. } => "add_phone",
            Self::RemovePhone { .. } => "remove_phone",
            Self::ReportLost { .. } => "report_lost",
            Self::Resume { .. } => "resume",
            Self::RevokeCard { .. } => "revoke_card",
            Self::RenewCard { .. } => "renew_card",
            Self::RegisterInsurance { .. } => "register_insurance",
            Self::AdvanceClock(_) => "advance_clock",
            Self::Apdu { .. } => "apdu",
            Self::Reset { .. } => "reset",
        }
    }
}

#[derive(Debug, Clone)]
/// One step of a scenario.
pub struct Step {
    /// 1-based, as people count.
    pub index: usize,
    /// Its line in the file.
    pub line: usize,
    /// What it does.
    pub action: Action,
    /// What it must come to.
    pub expect: Expectation,
}

#[derive(Debug, Clone)]
/// A scenario, loaded and validated.
pub struct Scenario {
    /// The file it came from.
    pub file: PathBuf,
    /// The contract version the steps are judged by (the file's `contract`, or the latest).
    pub contract: Contract,
    /// The latest contract version whose features the file uses, and the first such feature
    /// (`None`: only what 1.0 defines): a reader declaring an older version cannot be judged on it.
    pub needs: Option<(Contract, String)>,
    /// Its id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// The requirement ids it covers.
    pub covers: Vec<String>,
    /// The world it starts in.
    pub world: WorldDef,
    /// Its steps, in order.
    pub steps: Vec<Step>,
}

/// Error codes an action's `expect: { error: ... }` may name.
pub const ERROR_CODES: &[&str] = &[
    "phone_holds_another_card",
    "under_15",
    "card_not_valid",
    "no_card_on_phone",
    "already_suspended",
    "not_suspended",
    "phone_revoked",
    "expiry_in_past",
    "phone_suspended",
    "phone_os_mismatch",
    "wrong_card_info_pin",
];

/// What is wrong with a scenario id, if anything (the loader and `capture import` ask the same).
pub fn id_problem(id: &str) -> Option<&'static str> {
    (id.trim().is_empty() || id.chars().any(|c| c.is_whitespace() || c.is_control() || c == '/')).then_some("expected a non-empty id without spaces or slashes")
}

impl Scenario {
    /// The version the scenario needs a reader to declare, with what needs it.
    pub fn needed_contract(&self) -> (Contract, &str) {
        self.needs.as_ref().map_or((Contract::V1_0, ""), |(version, what)| (*version, what.as_str()))
    }
}

/// Reads and validates one file. `requirements` are the ids `covers` may name.
pub fn load_file(path: &Path, requirements: &BTreeSet<String>) -> Result<Scenario, LoadError> {
    let at_start = |message: String| LoadError { file: path.to_owned(), line: 1, column: 1, message };
    let source = builtin::source_of(path).map_err(|e| at_start(format!("cannot read: {}", e.reason())))?;
    parse(path, &source, requirements)
}

/// Parses and validates scenario text (`file` is only for messages).
pub fn parse(file: &Path, source: &str, requirements: &BTreeSet<String>) -> Result<Scenario, LoadError> {
    let source = mynatap_sim::yaml_guard::strip_bom(source);
    mynatap_sim::yaml_guard::check(source).map_err(|refused| LoadError {
        file: file.to_owned(),
        line: refused.line,
        column: refused.column,
        message: refused.message,
    })?;
    let raw: RawScenario = serde_path_to_error::deserialize(serde_yaml::Deserializer::from_str(source)).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        // The node the path names is the most precise place; serde_yaml's own location (often
        // the enclosing map) is the fallback, e.g. for syntax errors.
        let locator = Locator::new(source);
        let exact = locator.exact(&path).filter(|_| locator.well_formed);
        let (line, column) = match (exact, inner.location()) {
            (Some(position), _) => (position.line, position.column),
            (None, Some(location)) => (location.line(), location.column()),
            (None, None) => {
                let position = locator.find(&path);
                (position.line, position.column)
            }
        };
        let message = inner.to_string();
        // serde_yaml appends " at line L column C"; the prefix already says where.
        let message = message.split(" at line ").next().unwrap_or(&message).to_owned();
        // serde_yaml prefixes the enclosing map's path; ours names the field itself.
        let message = match message.split_once(": ") {
            Some((prefix, rest)) if path.starts_with(prefix) && !prefix.contains(' ') => rest.to_owned(),
            _ => message,
        };
        let message = mynatap_sim::yaml_guard::plain_words(&message);
        let message = if !locator.well_formed {
            // A syntax error has no field to name: the deserialiser's path ends in `?` (a key it
            // never read). Say where in the document it happened, in words.
            let inside = path.split(".?").next().unwrap_or_default().trim_end_matches('.');
            let inside = if inside.is_empty() || inside == "?" { String::new() } else { format!(" (inside `{inside}`)") };
            format!("not well-formed YAML: {message}{inside}; check the brackets, quotes and indentation there")
        } else if path == "." {
            message
        } else {
            format!("{path}: {message}")
        };
        LoadError { file: file.to_owned(), line, column, message }
    })?;
    Validator { file, locator: Locator::new(source), requirements, contract: Contract::LATEST, needs: Default::default() }.scenario(raw)
}

/// Requirement ids from a requirements document: bold ids at the start of a list item
/// (`- **FLOW-1** ...`).
pub fn requirement_ids(markdown: &str) -> BTreeSet<String> {
    markdown
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("- **"))
        .filter_map(|rest| rest.split_once("**").map(|(id, _)| id.to_owned()))
        .filter(|id| id.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-') && id.bytes().any(|b| b.is_ascii_digit()))
        .collect()
}

/// The requirements document this build carries (docs/requirements.md).
pub const REQUIREMENTS_MD: &str = include_str!("../../../docs/requirements.md");
