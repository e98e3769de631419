//! The conformance statement: what a reader claims to support (device paths, key algorithms),
//! and which scenarios that makes applicable. A scenario that needs anything the statement does
//! not claim is `not_applicable`, never a failure (docs/certification.md).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use mynatap_sim::contract::Contract;
use mynatap_sim::pki::KeyAlgorithm;
use mynatap_sim::profile::DeviceKind;
use mynatap_sim::world::{Profiles, TapTarget};
use serde::Deserialize;

use crate::scenario::{Action, Scenario};

/// The statement format this harness reads (`mynatap_statement: 1`).
pub const FORMAT_VERSION: u32 = 1;

/// Largest statement file read.
const MAX_BYTES: usize = 64 * 1024;

/// A way the patient's credential reaches the reader (FLOW-2, FLOW-3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DevicePath {
    /// An Android phone.
    Android,
    /// An iPhone.
    Iphone,
    /// The physical card, FLOW-3 by PIN.
    CardPin,
    /// The physical card, FLOW-3 by face recognition (verification number B).
    CardFace,
}

impl DevicePath {
    /// Every path.
    pub const ALL: [Self; 4] = [Self::Android, Self::Iphone, Self::CardPin, Self::CardFace];

    /// The statement's name (`android`, `iphone`, `card_pin`, `card_face`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Android => "android",
            Self::Iphone => "iphone",
            Self::CardPin => "card-pin",
            Self::CardFace => "card-face",
        }
    }

    /// A statement's path name; `card` claims both card paths.
    fn parse(text: &str) -> Option<Vec<Self>> {
        match text {
            "card" => Some(vec![Self::CardPin, Self::CardFace]),
            _ => Self::ALL.into_iter().find(|path| path.name() == text).map(|path| vec![path]),
        }
    }
}

impl fmt::Display for DevicePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStatement {
    mynatap_statement: u32,
    reader: RawReader,
    paths: Vec<String>,
    key_algorithms: Vec<String>,
    /// The scenario contract version the reader was written for (default the latest).
    #[serde(default)]
    contract: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReader {
    name: String,
    version: String,
}

/// A reader's conformance statement, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The reader's product name.
    pub reader_name: String,
    /// The reader's version.
    pub reader_version: String,
    /// The device paths the reader claims.
    pub paths: BTreeSet<DevicePath>,
    /// The key algorithms the reader claims to verify.
    pub key_algorithms: BTreeSet<KeyAlgorithm>,
    /// The contract version the reader declares (`contract`; `None`: not said, the latest).
    pub contract: Option<Contract>,
}

/// A statement that cannot be used, with what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("statement {file}: {message}")]
pub struct StatementError {
    /// The statement file.
    pub file: String,
    /// What is wrong, and what to do.
    pub message: String,
}

impl Statement {
    /// Reads a statement; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Self, StatementError> {
        let error = |message: String| StatementError { file: file.to_owned(), message };
        let raw: RawStatement = super::read_yaml(text, MAX_BYTES).map_err(error)?;
        if raw.mynatap_statement != FORMAT_VERSION {
            return Err(error(format!("mynatap_statement: version {} is not known; this mynatap reads version {FORMAT_VERSION}", raw.mynatap_statement)));
        }
        if raw.reader.name.trim().is_empty() || raw.reader.version.trim().is_empty() {
            return Err(error("reader: name and version must not be empty (the report names the reader by them)".into()));
        }
        let mut paths = BTreeSet::new();
        for (index, name) in raw.paths.iter().enumerate() {
            let parsed = DevicePath::parse(name).ok_or_else(|| {
                error(format!("paths[{index}]: unknown path `{name}`; expected android, iphone, card (both card paths), card-pin or card-face"))
            })?;
            paths.extend(parsed);
        }
        let mut key_algorithms = BTreeSet::new();
        for (index, name) in raw.key_algorithms.iter().enumerate() {
            let algorithm = KeyAlgorithm::parse(name)
                .ok_or_else(|| error(format!("key_algorithms[{index}]: unknown algorithm `{name}`; expected rsa2048, p256 or p384")))?;
            key_algorithms.insert(algorithm);
        }
        if paths.is_empty() || key_algorithms.is_empty() {
            return Err(error(
                "the statement claims nothing (no paths or no key_algorithms): every scenario would be not applicable; claim at least one path and one key algorithm".into(),
            ));
        }
        let contract = match &raw.contract {
            Some(text) => Some(Contract::parse(text).ok_or_else(|| {
                let known: Vec<&str> = Contract::ALL.iter().map(|version| version.as_str()).collect();
                error(format!("contract: unknown version `{text}`; expected one of {} (quote it: \"1.1\")", known.join(", ")))
            })?),
            None => None,
        };
        Ok(Self { reader_name: raw.reader.name, reader_version: raw.reader.version, paths, key_algorithms, contract })
    }

    /// The claimed paths, as the verdict names them (`android, card-pin`).
    pub fn claimed_paths(&self) -> String {
        self.paths.iter().map(|path| path.name()).collect::<Vec<_>>().join(", ")
    }

    /// Why the scenario is outside the statement (`needs iphone, p384`), or `None`: applicable.
    pub fn outside(&self, needs: &Needs) -> Option<String> {
        let missing: Vec<&str> = needs
            .paths
            .iter()
            .filter(|path| !self.paths.contains(path))
            .map(|path| path.name())
            .chain(needs.key_algorithms.iter().filter(|algorithm| !self.key_algorithms.contains(algorithm)).map(|algorithm| algorithm.name()))
            .collect();
        (!missing.is_empty()).then(|| format!("needs {}, which the statement does not claim", missing.join(", ")))
    }
}

/// Why a reader declaring `reader` cannot be judged on `scenario` (it uses what a later contract
/// introduced), or `None`. A scenario it can be judged on is judged by the older of the two
/// versions: see [`judged_by`].
pub fn beyond_contract(scenario: &Scenario, reader: Contract) -> Option<String> {
    let (needed, what) = scenario.needed_contract();
    (needed > reader).then(|| format!("needs contract {needed} ({what}); the reader declares {reader}"))
}

/// Why a reader program is not judged on `scenario`, or `None`: it needs a later contract than
/// the reader declares, a path or key the statement does not claim, or it types a PIN no
/// terminal keypad produces ([`beyond_keypad`]).
/// `session`: the reader runs in session mode (card events need one).
pub fn not_judged(
    scenario: &Scenario,
    reader: Contract,
    statement: Option<&Statement>,
    profiles: &mynatap_sim::world::Profiles,
    session: bool,
) -> Option<String> {
    beyond_contract(scenario, reader)
        .or_else(|| statement.and_then(|statement| statement.outside(&needs(scenario, profiles))))
        .or_else(|| beyond_keypad(scenario))
        .or_else(|| if session { None } else { beyond_process_mode(scenario) })
}

/// A tap that moves the card as a patient does (contract 1.3: `arrives`, `held_again`, `stays`)
/// needs a reader that runs between taps and waits for the card: session mode. In process mode
/// the program starts after the card is in the field, so such a scenario is not judged.
pub fn beyond_process_mode(scenario: &Scenario) -> Option<String> {
    scenario.steps.iter().find_map(|step| match &step.action {
        crate::scenario::Action::Tap(tap) if tap.moves.with_events() => Some(format!(
            "step {} moves the card as a patient does (arrival, removal): card events are judged in session mode (`--reader-session`)",
            step.index
        )),
        _ => None,
    })
}

/// A tap typing a PIN that is not 4 digits (empty, 80 digits, letters): the built-in terminal is
/// judged on refusing it unsent, but no clinic's keypad produces it, and a careful reader program
/// that sends it (spending a try, or getting `67 00`) is not wrong. Reader programs are not
/// judged on such scenarios (docs/certification.md).
pub fn beyond_keypad(scenario: &Scenario) -> Option<String> {
    scenario.steps.iter().find_map(|step| match &step.action {
        crate::scenario::Action::Tap(tap) => tap.pin.as_deref().filter(|pin| pin.len() != 4 || !pin.bytes().all(|b| b.is_ascii_digit())).map(|pin| {
            format!(
                "step {} types the PIN `{}`, which no terminal keypad produces (a JPKI PIN is 4 digits)",
                step.index,
                pin.chars().take(12).collect::<String>()
            )
        }),
        _ => None,
    })
}

/// The version a scenario is judged by for a reader declaring `reader`.
pub fn judged_by(scenario: &Scenario, reader: Contract) -> Contract {
    scenario.contract.min(reader)
}

/// What a scenario asks of a reader: the device paths its taps take and the key algorithms the
/// reader must verify (the CA's, and each tapped credential's where it signs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needs {
    /// The device paths the scenario's taps take.
    pub paths: BTreeSet<DevicePath>,
    /// The key algorithms the reader must verify.
    pub key_algorithms: BTreeSet<KeyAlgorithm>,
}

/// Reads a scenario's needs off its steps. Raw `apdu`/`reset` steps need nothing of a reader
/// (they test the device profile); a scenario without taps is applicable to every reader.
pub fn needs(scenario: &Scenario, profiles: &Profiles) -> Needs {
    let mut phones: BTreeMap<&str, (DeviceKind, KeyAlgorithm)> = BTreeMap::new();
    let mut cards: BTreeMap<&str, KeyAlgorithm> = BTreeMap::new();
    let default_key = |os: DeviceKind| profiles.for_device(os).key;
    for person in &scenario.world.people {
        cards.insert(&person.spec.id, person.spec.card_key.unwrap_or_else(|| default_key(DeviceKind::Card)));
        for phone in &person.phones {
            phones.insert(&phone.id, (phone.os, phone.key.unwrap_or_else(|| default_key(phone.os))));
        }
    }
    let mut needs = Needs::default();
    for step in &scenario.steps {
        match &step.action {
            Action::AddPhone { phone, os, key, .. } => {
                phones.insert(phone, (*os, key.unwrap_or_else(|| default_key(*os))));
            }
            Action::Tap(spec) => {
                needs.key_algorithms.extend(scenario.world.ca_generations.iter().copied());
                let (device, key) = match &spec.target {
                    TapTarget::Card(person) => (DeviceKind::Card, cards.get(person.as_str()).copied()),
                    TapTarget::Phone(phone) => match phones.get(phone.as_str()) {
                        Some((os, key)) => (*os, Some(*key)),
                        // A phone the scenario never added: the tap expects an error, not a reader.
                        None => continue,
                    },
                };
                let path = |device: DeviceKind| match device {
                    DeviceKind::Android => DevicePath::Android,
                    DeviceKind::Iphone => DevicePath::Iphone,
                    DeviceKind::Card if spec.face.is_some() => DevicePath::CardFace,
                    DeviceKind::Card => DevicePath::CardPin,
                };
                needs.paths.insert(path(device));
                // The patient's FLOW-2 choice is a path of the reader's too (a wrong choice).
                if let Some(selected) = spec.os_selected {
                    needs.paths.insert(path(selected));
                }
                // The face path checks no signature: only the certificate (the CA's key).
                if let Some(key) = key
                    && spec.face.is_none()
                {
                    needs.key_algorithms.insert(key);
                }
            }
            _ => {}
        }
    }
    needs
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = "mynatap_statement: 1\nreader: {name: R, version: '1.0'}\npaths: [android, iphone, card]\nkey_algorithms: [rsa2048, p256, p384]\n";

    #[test]
    fn card_claims_both_card_paths() {
        let statement = Statement::parse("s.yaml", FULL).unwrap();
        assert_eq!(statement.paths.len(), 4);
        assert_eq!(statement.claimed_paths(), "android, iphone, card-pin, card-face");
    }

    #[test]
    fn a_statement_that_claims_nothing_is_an_error() {
        let empty = "mynatap_statement: 1\nreader: {name: R, version: '1'}\npaths: []\nkey_algorithms: [p256]\n";
        let error = Statement::parse("s.yaml", empty).unwrap_err();
        assert!(error.message.contains("claims nothing"), "{error}");
        let no_keys = "mynatap_statement: 1\nreader: {name: R, version: '1'}\npaths: [android]\nkey_algorithms: []\n";
        assert!(Statement::parse("s.yaml", no_keys).unwrap_err().message.contains("claims nothing"));
    }

    #[test]
    fn unknown_names_and_fields_are_errors_that_list_the_choices() {
        let bad_path = FULL.replace("iphone", "ipad");
        assert!(Statement::parse("s.yaml", &bad_path).unwrap_err().message.contains("unknown path `ipad`; expected android"));
        let bad_key = FULL.replace("p384", "ed25519");
        assert!(Statement::parse("s.yaml", &bad_key).unwrap_err().message.contains("unknown algorithm `ed25519`"));
        let extra = format!("{FULL}nfc: true\n");
        assert!(Statement::parse("s.yaml", &extra).unwrap_err().message.contains("unknown field `nfc`"));
        let version = FULL.replace("mynatap_statement: 1", "mynatap_statement: 2");
        assert!(Statement::parse("s.yaml", &version).unwrap_err().message.contains("version 2 is not known"));
    }

    #[test]
    fn a_statement_may_declare_its_contract_version() {
        assert_eq!(Statement::parse("s.yaml", FULL).unwrap().contract, None);
        let old = format!("{FULL}contract: \"1.1\"\n");
        assert_eq!(Statement::parse("s.yaml", &old).unwrap().contract, Some(Contract::V1_1));
        let unknown = format!("{FULL}contract: \"3.0\"\n");
        assert!(Statement::parse("s.yaml", &unknown).unwrap_err().message.contains("unknown version `3.0`"));
    }

    #[test]
    fn outside_names_what_is_missing() {
        let statement = Statement::parse("s.yaml", &FULL.replace("iphone, ", "").replace(", p384", "")).unwrap();
        let needs = Needs { paths: [DevicePath::Iphone, DevicePath::Android].into(), key_algorithms: [KeyAlgorithm::P384].into() };
        assert_eq!(statement.outside(&needs).unwrap(), "needs iphone, p384, which the statement does not claim");
        let fine = Needs { paths: [DevicePath::Android].into(), key_algorithms: [KeyAlgorithm::P256].into() };
        assert_eq!(statement.outside(&fine), None);
    }
}
