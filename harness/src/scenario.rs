//! The scenario format (docs/scenario-format.md, version 1): the serde model of a file, and its
//! validation into a [`Scenario`] the runner can play. Every error names file, line and column.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use mynatap_sim::pki::KeyAlgorithm;
use mynatap_sim::profile::DeviceKind;
use mynatap_sim::terminal::{Consent, Reason};
use mynatap_sim::service::{BackendFault, ServiceKind, DEFAULT_BACKEND_TIMEOUT_MS};
use mynatap_sim::transport::{CommandKind, Fault, FaultTarget};

/// A `fault:` on a tap: in the device's answers or in the back ends'.
enum AnyFault {
    Device(Fault),
    Backend(BackendFault),
}

/// The world clock's range, as people read it in messages.
const CLOCK_RANGE: (&str, &str) = ("1970-01-01T00:00:00+09:00", "9989-12-31T23:59:59+09:00");

/// A back-end delay longer than this is a typo, not a test (a real answer that late is a timeout).
const MAX_BACKEND_DELAY_MS: u64 = 60_000;
use mynatap_sim::world::{TapSpec, TapTarget};
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};
use time::format_description::well_known::Rfc3339;
use time::{Date, Duration, OffsetDateTime};

use crate::locate::{Locator, Position};

/// Largest scenario file read (a suite file is a few KiB).
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// Largest number of steps in one scenario.
pub const MAX_STEPS: usize = 10_000;

/// An error of one scenario file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct LoadError {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.file.display(), self.line, self.column, self.message)
    }
}

// ---- The file as written (serde model; also the source of `mynatap schema`) ----

/// A scenario file.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    /// Unique across the suite; the file name is `<id>.yaml`.
    pub id: String,
    pub title: String,
    /// Requirement ids from docs/requirements.md.
    pub covers: Vec<String>,
    pub world: RawWorld,
    pub steps: Vec<RawStep>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawWorld {
    /// RFC 3339, e.g. `2026-04-01T09:00:00+09:00`.
    pub clock: String,
    #[serde(default)]
    pub people: Vec<RawPerson>,
    /// Default: one terminal `default` with phone support.
    #[serde(default)]
    pub terminals: Option<Vec<RawTerminal>>,
    /// The test CA's key: `rsa2048` (default, as the JPKI authorities), `p256` or `p384`.
    pub ca_key: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPerson {
    pub id: String,
    /// `YYYY-MM-DD`
    pub birth_date: String,
    #[serde(default)]
    pub card: RawCard,
    #[serde(default)]
    pub insurance: RawInsurance,
    #[serde(default)]
    pub phones: Vec<RawPhone>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCard {
    /// Default: five years after `world.clock`.
    pub cert_expires: Option<String>,
    /// Default `"1234"` (4 digits).
    #[serde(default, deserialize_with = "text_or_number")]
    pub pin: Option<String>,
    /// mynatap extension: the card-info input PIN (4 digits), checked when the card is added
    /// to an iPhone (SETUP-2). Default: not given; any 4-digit PIN typed on an iPhone is taken.
    #[serde(default, deserialize_with = "text_or_number")]
    pub card_info_pin: Option<String>,
    /// The card's key: `rsa2048` (default, as every card patients carry), `p256` or `p384`.
    pub key: Option<String>,
    /// The 4-digit security code printed on the card (part of verification number B).
    /// Default `"0000"`.
    #[serde(default, deserialize_with = "text_or_number")]
    pub security_code: Option<String>,
    /// The card's own expiry date printed on it (`YYYY-MM-DD`). Default: `cert_expires`.
    pub expires: Option<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawInsurance {
    /// Default true (SETUP-1 done).
    pub registered: Option<bool>,
    #[serde(default, deserialize_with = "text_or_number")]
    pub insurer: Option<String>,
    /// Default: two years after `world.clock`.
    pub valid_until: Option<String>,
    /// mynatap extension. Default: the birth date.
    pub valid_from: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Os {
    Android,
    Iphone,
}

impl Os {
    pub fn device(self) -> DeviceKind {
        match self {
            Self::Android => DeviceKind::Android,
            Self::Iphone => DeviceKind::Iphone,
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPhone {
    pub id: String,
    pub os: Os,
    /// Android: the PIN of the phone's own certificate (default `"1234"`).
    #[serde(default, deserialize_with = "text_or_number")]
    pub pin: Option<String>,
    /// Issued by a CA the terminal does not trust.
    #[serde(default)]
    pub forged: bool,
    /// The phone credential's key: `p256` (default, modeled), `rsa2048` or `p384`.
    pub key: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTerminal {
    pub id: String,
    /// Whether the facility offers the phone path (Q15/Q16). Default true.
    #[serde(default = "yes")]
    pub smartphone: bool,
    /// How long the terminal waits for one response. Default 500.
    pub timeout_ms: Option<u64>,
    /// How long the terminal waits for the CRL or the eligibility service. Default 2000.
    pub backend_timeout_ms: Option<u64>,
}

fn yes() -> bool {
    true
}

/// One step: exactly one action key, plus an optional `expect`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    pub tap: Option<RawTap>,
    pub add_phone: Option<RawAddPhone>,
    pub remove_phone: Option<RawPhoneRef>,
    pub report_lost: Option<RawPhoneRef>,
    pub resume: Option<RawPhoneRef>,
    pub revoke_card: Option<RawPersonRef>,
    pub renew_card: Option<RawRenewCard>,
    pub register_insurance: Option<RawPersonRef>,
    pub advance_clock: Option<RawAdvanceClock>,
    #[serde(default, deserialize_with = "present")]
    pub expect: Option<RawExpect>,
}

/// `expect:` with nothing after it is a mistake, not "no expectation".
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Option<T>, D::Error> {
    match Option::<T>::deserialize(deserializer)? {
        Some(value) => Ok(Some(value)),
        None => Err(serde::de::Error::custom("`expect` has no value: give a map such as { outcome: verified }, or leave the key out")),
    }
}

/// PINs, insurer numbers and status words are text; a whole number written without quotes is
/// taken as its digits. Anything else says what is expected, quoting the value.
fn text_or_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    struct Digits;
    impl serde::de::Visitor<'_> for Digits {
        type Value = Option<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("digits, best quoted (e.g. \"1234\")")
        }
        fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
            Ok(Some(text.to_owned()))
        }
        fn visit_u64<E: serde::de::Error>(self, number: u64) -> Result<Self::Value, E> {
            Ok(Some(number.to_string()))
        }
        fn visit_i64<E: serde::de::Error>(self, number: i64) -> Result<Self::Value, E> {
            Err(E::custom(format!("expected digits, got the negative number {number}: quote the value, e.g. \"1234\"")))
        }
        fn visit_f64<E: serde::de::Error>(self, number: f64) -> Result<Self::Value, E> {
            Err(E::custom(format!("expected digits, got the number {number}: a PIN is 4 digits and an insurer number 8; quote the value, e.g. \"1234\"")))
        }
        fn visit_bool<E: serde::de::Error>(self, value: bool) -> Result<Self::Value, E> {
            Err(E::custom(format!("expected digits, got `{value}`: quote the value, e.g. \"1234\"")))
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    deserializer.deserialize_any(Digits)
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTap {
    pub phone: Option<String>,
    /// A person id: tap that person's physical card (Q14).
    pub card: Option<String>,
    pub terminal: Option<String>,
    /// iPhone: Face ID / Touch ID done on the phone. Default true.
    pub user_verified: Option<bool>,
    /// The PIN typed on the terminal (card and Android). Default: the right one.
    #[serde(default, deserialize_with = "text_or_number")]
    pub pin: Option<String>,
    /// FLOW-2 choice. Default: the phone's os.
    pub os_selected: Option<Os>,
    pub consent: Option<RawConsent>,
    pub fault: Option<RawFault>,
    /// Card taps: `pin` (default) or `face` (face recognition, FLOW-3 without a PIN).
    pub auth: Option<String>,
    /// With `auth: face`: whether the camera's face is the card's. Default true.
    pub face_match: Option<bool>,
}

#[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawConsent {
    pub medication: Option<bool>,
    pub checkups: Option<bool>,
    pub surgery: Option<bool>,
    pub all: Option<bool>,
}

impl RawConsent {
    fn resolve(&self) -> Consent {
        let all = self.all == Some(true);
        Consent {
            medication: all || self.medication == Some(true),
            checkups: all || self.checkups == Some(true),
            surgery: all || self.surgery == Some(true),
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawFault {
    /// Device faults `remove_after`, `corrupt_response`, `wrong_status`, `delay`; back-end
    /// faults `crl_unavailable`, `crl_stale`, `crl_bad_signature`, `eligibility_unavailable`,
    /// `eligibility_malformed`, `backend_delay`.
    pub kind: String,
    /// remove_after: the phone leaves the field after this many command APDUs.
    pub apdus: Option<usize>,
    /// The N-th command of the tap (from 1).
    pub apdu: Option<usize>,
    /// Or the first command of a kind: `select`, `read`, `verify`, `sign`.
    pub command: Option<String>,
    /// wrong_status: the status word, 4 hex digits.
    #[serde(default, deserialize_with = "text_or_number")]
    pub sw: Option<String>,
    /// delay, backend_delay: milliseconds.
    pub ms: Option<u64>,
    /// backend_delay: the service that answers late, `crl` or `eligibility`.
    pub service: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAddPhone {
    pub person: String,
    pub phone: String,
    pub os: Os,
    /// iPhone card-info PIN / Android phone PIN. Default: the phone's, or `"1234"`.
    #[serde(default, deserialize_with = "text_or_number")]
    pub pin: Option<String>,
    /// mynatap extension: the new credential's key (`p256`, `rsa2048`, `p384`). Default: the
    /// phone's earlier one, or the profile's.
    pub key: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPhoneRef {
    pub phone: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPersonRef {
    pub person: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRenewCard {
    pub person: String,
    pub cert_expires: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAdvanceClock {
    pub days: Option<i64>,
    pub hours: Option<i64>,
    pub minutes: Option<i64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawExpect {
    /// tap: `verified`, `rejected` or `not_offered`.
    pub outcome: Option<String>,
    /// With `rejected`: one reason of the format.
    pub reason: Option<String>,
    /// With `verified`: the insurer recorded.
    #[serde(default, deserialize_with = "text_or_number")]
    pub insurer: Option<String>,
    /// With `verified`: the consent recorded (FLOW-5).
    pub consent: Option<RawConsent>,
    /// Other actions: the error code the action must fail with.
    pub error: Option<String>,
}

// ---- The validated scenario ----

#[derive(Debug, Clone)]
pub struct PhoneDef {
    pub id: String,
    pub os: DeviceKind,
    /// `None`: the profile's.
    pub key: Option<KeyAlgorithm>,
    pub pin: String,
    pub forged: bool,
}

#[derive(Debug, Clone)]
pub struct PersonDef {
    pub spec: mynatap_sim::backend::PersonSpec,
    pub phones: Vec<PhoneDef>,
}

#[derive(Debug, Clone)]
pub struct TerminalDef {
    pub id: String,
    pub smartphone: bool,
    pub timeout_ms: u64,
    pub backend_timeout_ms: u64,
}

#[derive(Debug, Clone)]
pub struct WorldDef {
    pub clock: OffsetDateTime,
    pub ca_key: KeyAlgorithm,
    pub people: Vec<PersonDef>,
    pub terminals: Vec<TerminalDef>,
}

#[derive(Debug, Clone)]
pub enum Action {
    Tap(TapSpec),
    AddPhone { person: String, phone: String, os: DeviceKind, key: Option<KeyAlgorithm>, pin: Option<String> },
    RemovePhone { phone: String },
    ReportLost { phone: String },
    Resume { phone: String },
    RevokeCard { person: String },
    RenewCard { person: String, cert_expires: Option<Date> },
    RegisterInsurance { person: String },
    AdvanceClock(Duration),
}

impl Action {
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
        }
    }
}

/// What a step must come to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expectation {
    /// No `expect`: the action succeeds (a tap: it verifies).
    Succeed,
    Tap { outcome: String, reason: Option<Reason>, insurer: Option<String>, consent: Option<Consent> },
    Error(String),
}

#[derive(Debug, Clone)]
pub struct Step {
    /// 1-based, as people count.
    pub index: usize,
    pub line: usize,
    pub action: Action,
    pub expect: Expectation,
}

#[derive(Debug, Clone)]
pub struct Scenario {
    pub file: PathBuf,
    pub id: String,
    pub title: String,
    pub covers: Vec<String>,
    pub world: WorldDef,
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

/// Reads and validates one file. `requirements` are the ids `covers` may name.
pub fn load_file(path: &Path, requirements: &BTreeSet<String>) -> Result<Scenario, LoadError> {
    let at_start = |message: String| LoadError { file: path.to_owned(), line: 1, column: 1, message };
    let metadata = std::fs::metadata(path).map_err(|e| at_start(format!("cannot read: {e}")))?;
    if metadata.len() > MAX_FILE_BYTES {
        return Err(at_start(format!("file is {} bytes, over the {MAX_FILE_BYTES}-byte limit", metadata.len())));
    }
    let source = std::fs::read_to_string(path).map_err(|e| at_start(format!("cannot read as UTF-8 text: {e}")))?;
    parse(path, &source, requirements)
}

/// Parses and validates scenario text (`file` is only for messages).
pub fn parse(file: &Path, source: &str, requirements: &BTreeSet<String>) -> Result<Scenario, LoadError> {
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
    Validator { file, locator: Locator::new(source), requirements }.scenario(raw)
}

struct Validator<'a> {
    file: &'a Path,
    locator: Locator,
    requirements: &'a BTreeSet<String>,
}

impl Validator<'_> {
    fn error(&self, path: &str, message: impl Into<String>) -> LoadError {
        let Position { line, column } = self.locator.find(path);
        LoadError { file: self.file.to_owned(), line, column, message: format!("{path}: {}", message.into()) }
    }

    fn date(&self, path: &str, text: &str) -> Result<Date, LoadError> {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        Date::parse(text, &format).map_err(|_| self.error(path, format!("expected a date YYYY-MM-DD, got `{text}`")))
    }

    fn security_code(&self, path: &str, code: Option<&str>) -> Result<String, LoadError> {
        let code = code.unwrap_or("0000");
        if code.len() != 4 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(self.error(path, format!("a security code is the 4 digits printed on the card, got `{code}` (quote it: \"0042\")")));
        }
        Ok(code.to_owned())
    }

    fn key_algorithm(&self, path: &str, text: Option<&str>) -> Result<Option<KeyAlgorithm>, LoadError> {
        text.map(|text| {
            KeyAlgorithm::parse(text).ok_or_else(|| {
                let known: Vec<&str> = KeyAlgorithm::ALL.iter().map(|algorithm| algorithm.name()).collect();
                self.error(path, format!("unknown key `{text}` (expected one of {})", known.join(", ")))
            })
        })
        .transpose()
    }

    fn pin(&self, path: &str, pin: Option<&String>) -> Result<String, LoadError> {
        let pin = pin.cloned().unwrap_or_else(|| "1234".into());
        if pin.len() != 4 || !pin.bytes().all(|b| b.is_ascii_digit()) {
            return Err(self.error(path, format!("expected 4 digits, got `{pin}`")));
        }
        Ok(pin)
    }

    fn scenario(&self, raw: RawScenario) -> Result<Scenario, LoadError> {
        if raw.id.trim().is_empty() || raw.id.chars().any(|c| c.is_whitespace() || c == '/') {
            return Err(self.error("id", "expected a non-empty id without spaces or slashes"));
        }
        if raw.covers.is_empty() {
            return Err(self.error("covers", "name at least one requirement id from docs/requirements.md"));
        }
        for (i, id) in raw.covers.iter().enumerate() {
            if !self.requirements.contains(id) {
                let known: Vec<&str> = self.requirements.iter().map(String::as_str).collect();
                return Err(self.error(&format!("covers[{i}]"), format!("unknown requirement `{id}` (expected one of {})", known.join(", "))));
            }
        }
        if raw.steps.len() > MAX_STEPS {
            return Err(self.error("steps", format!("{} steps, over the limit of {MAX_STEPS}", raw.steps.len())));
        }
        let world = self.world(&raw.world)?;
        let people: HashSet<String> = world.people.iter().map(|p| p.spec.id.clone()).collect();
        let mut phones: HashSet<String> = world.people.iter().flat_map(|p| p.phones.iter().map(|ph| ph.id.clone())).collect();
        let terminals: HashSet<String> = world.terminals.iter().map(|t| t.id.clone()).collect();
        let mut steps = Vec::with_capacity(raw.steps.len());
        let mut clock = world.clock;
        // Each phone's OS as the steps go, to refuse faults an iPhone tap can never reach.
        let mut phone_os: HashMap<String, DeviceKind> =
            world.people.iter().flat_map(|p| p.phones.iter().map(|phone| (phone.id.clone(), phone.os))).collect();
        for (i, step) in raw.steps.into_iter().enumerate() {
            let path = format!("steps[{i}]");
            let line = self.locator.find(&path).line;
            let action = self.action(&path, step_action(&step, &path, self)?, &people, &mut phones, &terminals)?;
            if let Action::AddPhone { phone, os, .. } = &action {
                phone_os.entry(phone.clone()).or_insert(*os);
            }
            if let Action::Tap(spec) = &action
                && let TapTarget::Phone(phone) = &spec.target
                && spec.os_selected.or_else(|| phone_os.get(phone).copied()) == Some(DeviceKind::Iphone)
                && spec.fault.and_then(|fault| fault.target()) == Some(FaultTarget::Command(CommandKind::Verify))
            {
                return Err(self.error(
                    &format!("{path}.tap.fault.command"),
                    "an iPhone tap sends no VERIFY (FLOW-3 is Face ID on the phone), so this fault could never take effect: aim it at `select`, `read` or `sign`",
                ));
            }
            if let Action::AdvanceClock(by) = &action {
                clock = mynatap_sim::clock::checked_add(clock, *by).ok_or_else(|| {
                    self.error(&format!("{path}.advance_clock"), format!("the clock would leave the range this simulator keeps ({} to {}): it stands at {}", CLOCK_RANGE.0, CLOCK_RANGE.1, clock.format(&Rfc3339).unwrap_or_default()))
                })?;
            }
            let expect = self.expect(&path, &action, step.expect)?;
            steps.push(Step { index: i + 1, line, action, expect });
        }
        Ok(Scenario { file: self.file.to_owned(), id: raw.id, title: raw.title, covers: raw.covers, world, steps })
    }

    fn world(&self, raw: &RawWorld) -> Result<WorldDef, LoadError> {
        let clock = OffsetDateTime::parse(&raw.clock, &Rfc3339)
            .map_err(|_| self.error("world.clock", format!("expected an RFC 3339 time such as 2026-04-01T09:00:00+09:00, got `{}`", raw.clock)))?;
        if !(mynatap_sim::clock::EARLIEST..=mynatap_sim::clock::LATEST).contains(&clock) {
            return Err(self.error("world.clock", format!("expected a time from {} to {}, got `{}`", CLOCK_RANGE.0, CLOCK_RANGE.1, raw.clock)));
        }
        let today = mynatap_sim::clock::local_date(clock);
        let mut ids = HashSet::new();
        let mut phone_ids = HashSet::new();
        let mut people = Vec::new();
        for (i, person) in raw.people.iter().enumerate() {
            let path = format!("world.people[{i}]");
            if !ids.insert(person.id.clone()) {
                return Err(self.error(&format!("{path}.id"), format!("duplicate person id `{}`", person.id)));
            }
            let birth_date = self.date(&format!("{path}.birth_date"), &person.birth_date)?;
            if birth_date > today {
                return Err(self.error(&format!("{path}.birth_date"), format!("born {birth_date}, after the world's date {today}: nobody is born yet")));
            }
            let card_cert_expires = match &person.card.cert_expires {
                Some(text) => self.date(&format!("{path}.card.cert_expires"), text)?,
                None => mynatap_sim::clock::add_years(today, 5),
            };
            let valid_until = match &person.insurance.valid_until {
                Some(text) => self.date(&format!("{path}.insurance.valid_until"), text)?,
                None => mynatap_sim::clock::add_years(today, 2),
            };
            let valid_from = match &person.insurance.valid_from {
                Some(text) => self.date(&format!("{path}.insurance.valid_from"), text)?,
                // Insured since birth: a real date every reader can parse (the record goes on the wire).
                None => birth_date,
            };
            if valid_from > valid_until {
                let at = if person.insurance.valid_from.is_some() { "valid_from" } else { "valid_until" };
                return Err(self.error(
                    &format!("{path}.insurance.{at}"),
                    format!("the insurance record would be valid from {valid_from} until {valid_until}: valid_from must not be after valid_until"),
                ));
            }
            let spec = mynatap_sim::backend::PersonSpec {
                id: person.id.clone(),
                birth_date,
                card_cert_expires,
                card_pin: self.pin(&format!("{path}.card.pin"), person.card.pin.as_ref())?,
                card_key: self.key_algorithm(&format!("{path}.card.key"), person.card.key.as_deref())?,
                security_code: self.security_code(&format!("{path}.card.security_code"), person.card.security_code.as_deref())?,
                card_expires: person.card.expires.as_ref().map(|text| self.date(&format!("{path}.card.expires"), text)).transpose()?,
                card_info_pin: match &person.card.card_info_pin {
                    Some(pin) => Some(self.pin(&format!("{path}.card.card_info_pin"), Some(pin))?),
                    None => None,
                },
                insurance_registered: person.insurance.registered.unwrap_or(true),
                insurer: person.insurance.insurer.clone().unwrap_or_else(|| "06132013".into()),
                insurance_valid_from: valid_from,
                insurance_valid_until: valid_until,
            };
            let mut phones = Vec::new();
            for (j, phone) in person.phones.iter().enumerate() {
                let phone_path = format!("{path}.phones[{j}]");
                if !phone_ids.insert(phone.id.clone()) {
                    return Err(self.error(&format!("{phone_path}.id"), format!("duplicate phone id `{}`", phone.id)));
                }
                let pin = self.pin(&format!("{phone_path}.pin"), phone.pin.as_ref())?;
                let key = self.key_algorithm(&format!("{phone_path}.key"), phone.key.as_deref())?;
                phones.push(PhoneDef { id: phone.id.clone(), os: phone.os.device(), key, pin, forged: phone.forged });
            }
            people.push(PersonDef { spec, phones });
        }
        let terminals = match &raw.terminals {
            None => vec![TerminalDef { id: "default".into(), smartphone: true, timeout_ms: 500, backend_timeout_ms: DEFAULT_BACKEND_TIMEOUT_MS }],
            Some(list) if list.is_empty() => return Err(self.error("world.terminals", "give at least one terminal, or leave the key out")),
            Some(list) => {
                let mut seen = HashSet::new();
                let mut terminals = Vec::new();
                for (i, terminal) in list.iter().enumerate() {
                    if !seen.insert(terminal.id.clone()) {
                        return Err(self.error(&format!("world.terminals[{i}].id"), format!("duplicate terminal id `{}`", terminal.id)));
                    }
                    let timeout_ms = terminal.timeout_ms.unwrap_or(500);
                    if timeout_ms == 0 || timeout_ms > 600_000 {
                        return Err(self.error(&format!("world.terminals[{i}].timeout_ms"), "expected 1 to 600000"));
                    }
                    let backend_timeout_ms = terminal.backend_timeout_ms.unwrap_or(DEFAULT_BACKEND_TIMEOUT_MS);
                    if backend_timeout_ms == 0 || backend_timeout_ms > 600_000 {
                        return Err(self.error(&format!("world.terminals[{i}].backend_timeout_ms"), "expected 1 to 600000"));
                    }
                    terminals.push(TerminalDef { id: terminal.id.clone(), smartphone: terminal.smartphone, timeout_ms, backend_timeout_ms });
                }
                terminals
            }
        };
        let ca_key = self.key_algorithm("world.ca_key", raw.ca_key.as_deref())?.unwrap_or(KeyAlgorithm::Rsa2048);
        Ok(WorldDef { clock, ca_key, people, terminals })
    }

    fn known(&self, path: &str, what: &str, id: &str, set: &HashSet<String>) -> Result<(), LoadError> {
        if set.contains(id) {
            return Ok(());
        }
        let mut known: Vec<&str> = set.iter().map(String::as_str).collect();
        known.sort_unstable();
        Err(self.error(path, format!("unknown {what} `{id}` (known: {})", if known.is_empty() { "none".into() } else { known.join(", ") })))
    }

    fn action(
        &self,
        path: &str,
        raw: RawAction<'_>,
        people: &HashSet<String>,
        phones: &mut HashSet<String>,
        terminals: &HashSet<String>,
    ) -> Result<Action, LoadError> {
        Ok(match raw {
            RawAction::Tap(tap) => {
                let path = format!("{path}.tap");
                match (&tap.phone, &tap.card) {
                    (Some(phone), None) => self.known(&format!("{path}.phone"), "phone", phone, phones)?,
                    (None, Some(person)) => self.known(&format!("{path}.card"), "person", person, people)?,
                    _ => return Err(self.error(&path, "a tap names exactly one of `phone` or `card`")),
                }
                if tap.card.is_some() && tap.os_selected.is_some() {
                    return Err(self.error(&format!("{path}.os_selected"), "only a phone tap chooses a phone type"));
                }
                if let Some(terminal) = &tap.terminal {
                    self.known(&format!("{path}.terminal"), "terminal", terminal, terminals)?;
                } else if terminals.len() > 1 {
                    return Err(self.error(&path, "several terminals in the world: name one with `terminal`"));
                }
                let fault = tap.fault.as_ref().map(|fault| self.fault(&format!("{path}.fault"), fault)).transpose()?;
                let (fault, backend_fault) = match fault {
                    Some(AnyFault::Device(fault)) => (Some(fault), None),
                    Some(AnyFault::Backend(fault)) => (None, Some(fault)),
                    None => (None, None),
                };
                let target = match (&tap.phone, &tap.card) {
                    (Some(phone), _) => TapTarget::Phone(phone.clone()),
                    (None, person) => TapTarget::Card(person.clone().unwrap_or_default()),
                };
                let face = match tap.auth.as_deref() {
                    None | Some("pin") => None,
                    Some("face") => Some(tap.face_match.unwrap_or(true)),
                    Some(other) => return Err(self.error(&format!("{path}.auth"), format!("unknown auth `{other}` (expected pin or face)"))),
                };
                if face.is_some() && tap.phone.is_some() {
                    return Err(self.error(&format!("{path}.auth"), "`auth: face` is the physical card's path (tap `card: <person>`); a phone has no card surface"));
                }
                if face.is_none() && tap.face_match.is_some() {
                    return Err(self.error(&format!("{path}.face_match"), "`face_match` belongs to `auth: face`"));
                }
                if face.is_some() && tap.pin.is_some() {
                    return Err(self.error(&format!("{path}.pin"), "no PIN is typed with `auth: face`"));
                }
                if face.is_some()
                    && fault.and_then(|fault| fault.target()) == Some(FaultTarget::Command(CommandKind::Sign))
                {
                    return Err(self.error(&format!("{path}.fault.command"), "a face tap makes no signature, so this fault could never take effect: aim it at `select`, `read` or `verify`"));
                }
                Action::Tap(TapSpec {
                    target,
                    terminal: tap.terminal.clone(),
                    user_verified: tap.user_verified.unwrap_or(true),
                    pin: tap.pin.clone(),
                    os_selected: tap.os_selected.map(Os::device),
                    consent: tap.consent.as_ref().map(|consent| self.consent(&format!("{path}.consent"), consent)).transpose()?.unwrap_or_default(),
                    fault,
                    backend_fault,
                    face,
                })
            }
            RawAction::AddPhone(add) => {
                self.known(&format!("{path}.add_phone.person"), "person", &add.person, people)?;
                if let Some(pin) = &add.pin {
                    self.pin(&format!("{path}.add_phone.pin"), Some(pin))?;
                }
                phones.insert(add.phone.clone());
                let key = self.key_algorithm(&format!("{path}.add_phone.key"), add.key.as_deref())?;
                Action::AddPhone { person: add.person.clone(), phone: add.phone.clone(), os: add.os.device(), key, pin: add.pin.clone() }
            }
            RawAction::RemovePhone(r) => {
                self.known(&format!("{path}.remove_phone.phone"), "phone", &r.phone, phones)?;
                Action::RemovePhone { phone: r.phone.clone() }
            }
            RawAction::ReportLost(r) => {
                self.known(&format!("{path}.report_lost.phone"), "phone", &r.phone, phones)?;
                Action::ReportLost { phone: r.phone.clone() }
            }
            RawAction::Resume(r) => {
                self.known(&format!("{path}.resume.phone"), "phone", &r.phone, phones)?;
                Action::Resume { phone: r.phone.clone() }
            }
            RawAction::RevokeCard(r) => {
                self.known(&format!("{path}.revoke_card.person"), "person", &r.person, people)?;
                Action::RevokeCard { person: r.person.clone() }
            }
            RawAction::RenewCard(r) => {
                self.known(&format!("{path}.renew_card.person"), "person", &r.person, people)?;
                let cert_expires = r.cert_expires.as_ref().map(|d| self.date(&format!("{path}.renew_card.cert_expires"), d)).transpose()?;
                Action::RenewCard { person: r.person.clone(), cert_expires }
            }
            RawAction::RegisterInsurance(r) => {
                self.known(&format!("{path}.register_insurance.person"), "person", &r.person, people)?;
                Action::RegisterInsurance { person: r.person.clone() }
            }
            RawAction::AdvanceClock(a) => {
                if [a.days, a.hours, a.minutes].iter().all(Option::is_none) {
                    return Err(self.error(&format!("{path}.advance_clock"), "give `days`, `hours` or `minutes`"));
                }
                // Checked before any arithmetic: a huge count must be an error, not an overflow.
                if [a.days, a.hours, a.minutes].iter().flatten().any(|n| *n < 0 || *n > 100_000_000) {
                    return Err(self.error(&format!("{path}.advance_clock"), "the clock only moves forward (0 to 100000000 per unit)"));
                }
                let parts = [a.days.map(Duration::days), a.hours.map(Duration::hours), a.minutes.map(Duration::minutes)];
                Action::AdvanceClock(parts.into_iter().flatten().fold(Duration::ZERO, |a, b| a + b))
            }
        })
    }

    /// FLOW-5 answers; `all: true` beside a `false` contradicts itself, and which one the
    /// patient meant is their privacy: refused, not guessed.
    fn consent(&self, path: &str, raw: &RawConsent) -> Result<Consent, LoadError> {
        if raw.all == Some(true) {
            let denied: Vec<&str> = [("medication", raw.medication), ("checkups", raw.checkups), ("surgery", raw.surgery)]
                .into_iter()
                .filter_map(|(name, answer)| (answer == Some(false)).then_some(name))
                .collect();
            if !denied.is_empty() {
                return Err(self.error(path, format!("`all: true` shares everything, yet `{}: false` says otherwise: give `all: true` alone, or each answer", denied.join("`, `"))));
            }
        }
        Ok(raw.resolve())
    }

    fn fault(&self, path: &str, raw: &RawFault) -> Result<AnyFault, LoadError> {
        let target = || -> Result<FaultTarget, LoadError> {
            match (raw.apdu, &raw.command) {
                (Some(0), None) => Err(self.error(&format!("{path}.apdu"), "commands count from 1")),
                (Some(n), None) => Ok(FaultTarget::Apdu(n)),
                (None, Some(command)) => CommandKind::parse(command).map(FaultTarget::Command).ok_or_else(|| {
                    self.error(&format!("{path}.command"), format!("unknown command `{command}` (expected select, read, verify or sign)"))
                }),
                _ => Err(self.error(path, "name the command hit with exactly one of `apdu: N` or `command: select|read|verify|sign`")),
            }
        };
        let only = |allowed: &[&str]| -> Result<(), LoadError> {
            let given = [
                ("apdus", raw.apdus.is_some()),
                ("apdu", raw.apdu.is_some()),
                ("command", raw.command.is_some()),
                ("sw", raw.sw.is_some()),
                ("ms", raw.ms.is_some()),
                ("service", raw.service.is_some()),
            ];
            match given.iter().find(|(name, set)| *set && !allowed.contains(name)) {
                Some((name, _)) => Err(self.error(&format!("{path}.{name}"), format!("`{name}` does not belong to a `{}` fault", raw.kind))),
                None => Ok(()),
            }
        };
        match raw.kind.as_str() {
            "remove_after" => {
                only(&["apdus"])?;
                let apdus = raw.apdus.ok_or_else(|| self.error(path, "remove_after needs `apdus: N`"))?;
                Ok(AnyFault::Device(Fault::RemoveAfter { apdus }))
            }
            "corrupt_response" => {
                only(&["apdu", "command"])?;
                Ok(AnyFault::Device(Fault::CorruptResponse { target: target()? }))
            }
            "wrong_status" => {
                only(&["apdu", "command", "sw"])?;
                let text = raw.sw.as_deref().ok_or_else(|| self.error(path, "wrong_status needs `sw: \"6F00\"`"))?;
                let sw = u16::from_str_radix(text, 16)
                    .ok()
                    .filter(|_| text.len() == 4)
                    .ok_or_else(|| self.error(&format!("{path}.sw"), format!("expected a status word of 4 hex digits, got `{text}`")))?;
                Ok(AnyFault::Device(Fault::WrongStatus { target: target()?, sw }))
            }
            "delay" => {
                only(&["apdu", "command", "ms"])?;
                let ms = raw.ms.ok_or_else(|| self.error(path, "delay needs `ms: N`"))?;
                Ok(AnyFault::Device(Fault::Delay { target: target()?, ms }))
            }
            "backend_delay" => {
                only(&["service", "ms"])?;
                let text = raw.service.as_deref().ok_or_else(|| self.error(path, "backend_delay needs `service: crl` or `service: eligibility`"))?;
                let service = ServiceKind::parse(text)
                    .ok_or_else(|| self.error(&format!("{path}.service"), format!("unknown service `{text}` (expected crl or eligibility)")))?;
                let ms = raw.ms.ok_or_else(|| self.error(path, "backend_delay needs `ms: N`"))?;
                if ms > MAX_BACKEND_DELAY_MS {
                    return Err(self.error(&format!("{path}.ms"), format!("expected at most {MAX_BACKEND_DELAY_MS} ms")));
                }
                Ok(AnyFault::Backend(BackendFault::BackendDelay { service, ms }))
            }
            other => match BackendFault::WITHOUT_FIELDS.into_iter().find(|fault| fault.kind() == other) {
                Some(fault) => {
                    only(&[])?;
                    Ok(AnyFault::Backend(fault))
                }
                None => Err(self.error(
                    &format!("{path}.kind"),
                    format!(
                        "unknown fault `{other}` (expected remove_after, corrupt_response, wrong_status, delay, crl_unavailable, crl_stale, \
                         crl_bad_signature, eligibility_unavailable, eligibility_malformed or backend_delay)"
                    ),
                )),
            },
        }
    }

    fn expect(&self, path: &str, action: &Action, raw: Option<RawExpect>) -> Result<Expectation, LoadError> {
        let Some(raw) = raw else { return Ok(Expectation::Succeed) };
        let path = format!("{path}.expect");
        if let Action::Tap(_) = action {
            if raw.error.is_some() {
                return Err(self.error(&format!("{path}.error"), "a tap expects an `outcome`, not an `error`"));
            }
            let outcome = raw.outcome.ok_or_else(|| self.error(&path, "a tap's expect needs `outcome` (verified, rejected or not_offered)"))?;
            let reason = match (outcome.as_str(), &raw.reason) {
                ("rejected", Some(reason)) => Some(Reason::parse(reason).ok_or_else(|| {
                    let all: Vec<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
                    self.error(&format!("{path}.reason"), format!("unknown reason `{reason}` (expected one of {})", all.join(", ")))
                })?),
                ("rejected", None) => return Err(self.error(&path, "`outcome: rejected` needs a `reason`")),
                ("verified" | "not_offered", None) => None,
                ("verified" | "not_offered", Some(_)) => return Err(self.error(&format!("{path}.reason"), format!("a `reason` goes only with `outcome: rejected`, not `{outcome}`"))),
                (other, _) => return Err(self.error(&format!("{path}.outcome"), format!("unknown outcome `{other}` (expected verified, rejected or not_offered)"))),
            };
            if outcome != "verified" && (raw.insurer.is_some() || raw.consent.is_some()) {
                return Err(self.error(&path, "`insurer` and `consent` go only with `outcome: verified`"));
            }
            let consent = raw.consent.as_ref().map(|consent| self.consent(&format!("{path}.consent"), consent)).transpose()?;
            return Ok(Expectation::Tap { outcome, reason, insurer: raw.insurer, consent });
        }
        if raw.outcome.is_some() || raw.reason.is_some() || raw.insurer.is_some() || raw.consent.is_some() {
            return Err(self.error(&path, format!("`{}` expects only `error: <code>`", action.name())));
        }
        let code = raw.error.ok_or_else(|| self.error(&path, "give `error: <code>`, or leave `expect` out"))?;
        if !ERROR_CODES.contains(&code.as_str()) {
            return Err(self.error(&format!("{path}.error"), format!("unknown error code `{code}` (expected one of {})", ERROR_CODES.join(", "))));
        }
        Ok(Expectation::Error(code))
    }
}

/// The one action of a step.
enum RawAction<'a> {
    Tap(&'a RawTap),
    AddPhone(&'a RawAddPhone),
    RemovePhone(&'a RawPhoneRef),
    ReportLost(&'a RawPhoneRef),
    Resume(&'a RawPhoneRef),
    RevokeCard(&'a RawPersonRef),
    RenewCard(&'a RawRenewCard),
    RegisterInsurance(&'a RawPersonRef),
    AdvanceClock(&'a RawAdvanceClock),
}

fn step_action<'a>(step: &'a RawStep, path: &str, validator: &Validator<'_>) -> Result<RawAction<'a>, LoadError> {
    let mut found: Vec<(&str, RawAction<'a>)> = Vec::new();
    if let Some(a) = &step.tap { found.push(("tap", RawAction::Tap(a))); }
    if let Some(a) = &step.add_phone { found.push(("add_phone", RawAction::AddPhone(a))); }
    if let Some(a) = &step.remove_phone { found.push(("remove_phone", RawAction::RemovePhone(a))); }
    if let Some(a) = &step.report_lost { found.push(("report_lost", RawAction::ReportLost(a))); }
    if let Some(a) = &step.resume { found.push(("resume", RawAction::Resume(a))); }
    if let Some(a) = &step.revoke_card { found.push(("revoke_card", RawAction::RevokeCard(a))); }
    if let Some(a) = &step.renew_card { found.push(("renew_card", RawAction::RenewCard(a))); }
    if let Some(a) = &step.register_insurance { found.push(("register_insurance", RawAction::RegisterInsurance(a))); }
    if let Some(a) = &step.advance_clock { found.push(("advance_clock", RawAction::AdvanceClock(a))); }
    match found.len() {
        1 => Ok(found.remove(0).1),
        0 => Err(validator.error(path, "a step needs one action key (tap, add_phone, remove_phone, report_lost, resume, revoke_card, renew_card, register_insurance, advance_clock)")),
        _ => {
            let names: Vec<&str> = found.iter().map(|(name, _)| *name).collect();
            let second = names.get(1).copied().unwrap_or_default();
            Err(validator.error(&format!("{path}.{second}"), format!("a step has exactly one action key, this one has {}", names.join(" and "))))
        }
    }
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
pub const REQUIREMENTS_MD: &str = include_str!("../../docs/requirements.md");
