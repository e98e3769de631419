//! Validation of a scenario file: the world, the steps, every reference and value, each error at
//! the line and column of the node it names.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;

use mynatap_sim::backend::{COPAY_PERCENTS, QualificationValidity};
use mynatap_sim::card::surface::Forgery;
use mynatap_sim::contract::Contract;
use mynatap_sim::pki::{CertificateFault, KeyAlgorithm};
use mynatap_sim::profile::DeviceKind;
use mynatap_sim::service::DEFAULT_BACKEND_TIMEOUT_MS;
use mynatap_sim::transport::{CommandKind, FaultTarget};
use mynatap_sim::world::TapTarget;

/// Longest name (or katakana) a scenario gives, in characters.
const MAX_NAME_CHARS: usize = 100;
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};

use super::raw::{RawScenario, RawWorld};
use super::{Action, LoadError, MAX_STEPS, PersonDef, PhoneDef, Scenario, Step, TerminalDef, WorldDef};
use crate::scenario::locate::{Locator, Position};

/// The world clock's range, as people read it in messages.
const CLOCK_RANGE: (&str, &str) = ("1970-01-01T09:00:00+09:00", "9989-12-31T23:59:59+09:00");

pub(super) struct Validator<'a> {
    pub(super) file: &'a Path,
    pub(super) locator: Locator,
    pub(super) requirements: &'a BTreeSet<String>,
    /// The file's contract version (set first, from `contract`).
    pub(super) contract: Contract,
    /// The latest version a feature the file uses was introduced in, and that feature.
    pub(super) needs: std::cell::RefCell<Option<(Contract, String)>>,
}

/// The largest CRL padding a file may ask for (the CRL is re-signed at each revocation).
const MAX_REVOKED_ELSEWHERE: u32 = 100_000;

impl Validator<'_> {
    pub(super) fn error(&self, path: &str, message: impl Into<String>) -> LoadError {
        let Position { line, column } = self.locator.find(path);
        LoadError { file: self.file.to_owned(), line, column, message: format!("{path}: {}", message.into()) }
    }

    pub(super) fn date(&self, path: &str, text: &str) -> Result<Date, LoadError> {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        Date::parse(text, &format).map_err(|_| self.error(path, format!("expected a date YYYY-MM-DD, got `{text}`")))
    }

    pub(super) fn security_code(&self, path: &str, code: Option<&str>) -> Result<String, LoadError> {
        let code = code.unwrap_or("0000");
        if code.len() != 4 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(self.error(path, format!("a security code is the 4 digits printed on the card, got `{code}` (quote it: \"0042\")")));
        }
        Ok(code.to_owned())
    }

    pub(super) fn key_algorithm(&self, path: &str, text: Option<&str>) -> Result<Option<KeyAlgorithm>, LoadError> {
        if text.is_some() {
            // Keys are contract 1.1 (a 1.0 file has RSA cards and P-256 phones under an RSA CA).
            self.since(path, &format!("`{}`", field_name(path)), Contract::V1_1)?;
        }
        text.map(|text| {
            KeyAlgorithm::parse(text).ok_or_else(|| {
                let known: Vec<&str> = KeyAlgorithm::ALL.iter().map(|algorithm| algorithm.name()).collect();
                self.error(path, format!("unknown key `{text}` (expected one of {})", known.join(", ")))
            })
        })
        .transpose()
    }

    pub(super) fn pin(&self, path: &str, pin: Option<&String>) -> Result<String, LoadError> {
        let pin = pin.cloned().unwrap_or_else(|| "1234".into());
        if pin.len() != 4 || !pin.bytes().all(|b| b.is_ascii_digit()) {
            return Err(self.error(path, format!("expected 4 digits, got `{pin}`")));
        }
        Ok(pin)
    }

    /// Refuses what `what` at `path` needs a later contract than the file's for.
    pub(super) fn since(&self, path: &str, what: &str, version: Contract) -> Result<(), LoadError> {
        if self.contract >= version {
            let mut needs = self.needs.borrow_mut();
            if needs.as_ref().is_none_or(|(known, _)| *known < version) {
                *needs = Some((version, what.to_owned()));
            }
            return Ok(());
        }
        Err(self.error(
            path,
            format!("{what} is contract {version}; this file says `contract: \"{}\"` (raise it, or leave `contract` out for the latest)", self.contract),
        ))
    }

    /// `world.ca_generations` (contract 1.3): two or three keys, not with `ca_key`. Empty when
    /// the file gives none.
    fn ca_generations(&self, raw: &RawWorld) -> Result<Vec<KeyAlgorithm>, LoadError> {
        let Some(list) = &raw.ca_generations else { return Ok(Vec::new()) };
        self.since("world.ca_generations", "`world.ca_generations`", Contract::V1_3)?;
        if raw.ca_key.is_some() {
            return Err(self.error(
                "world.ca_key",
                "`ca_key` is the key of a world's one authority; with `ca_generations` each generation names its key: leave `ca_key` out",
            ));
        }
        if !(2..=3).contains(&list.len()) {
            return Err(self.error("world.ca_generations", format!("expected two or three generations (keys, oldest first), got {}", list.len())));
        }
        let mut keys = Vec::with_capacity(list.len());
        for (i, key) in list.iter().enumerate() {
            let path = format!("world.ca_generations[{i}]");
            keys.push(self.key_algorithm(&path, Some(key))?.ok_or_else(|| self.error(&path, "expected a key: rsa2048, p256 or p384"))?);
        }
        Ok(keys)
    }

    /// A device's `generation` (contract 1.3): 1 to the number of `world.ca_generations`.
    fn generation(&self, path: &str, generation: Option<usize>, generations: usize) -> Result<Option<usize>, LoadError> {
        let Some(number) = generation else { return Ok(None) };
        self.since(path, "`generation`", Contract::V1_3)?;
        if generations == 0 {
            return Err(self.error(
                path,
                "`generation` names one of `world.ca_generations`, and this world has one authority: give `world.ca_generations` or leave `generation` out",
            ));
        }
        if !(1..=generations).contains(&number) {
            return Err(self.error(path, format!("expected a generation from 1 (the oldest) to {generations}, got {number}")));
        }
        Ok(Some(number))
    }

    /// A `certificate:` profile fault (contract 1.3).
    pub(super) fn certificate_fault(&self, path: &str, text: Option<&str>) -> Result<Option<CertificateFault>, LoadError> {
        let Some(text) = text else { return Ok(None) };
        self.since(path, "`certificate`", Contract::V1_3)?;
        CertificateFault::parse(text).map(Some).ok_or_else(|| {
            let known: Vec<&str> = CertificateFault::ALL.iter().map(|fault| fault.name()).collect();
            self.error(path, format!("unknown certificate fault `{text}` (expected one of {})", known.join(", ")))
        })
    }

    /// A certificate's last day: a date from which a certificate issued five years before (the
    /// issuance of a world that starts after it) still starts in 1970 or later, as X.509 times
    /// on this side can.
    pub(super) fn certificate_end(&self, path: &str, text: &str) -> Result<Date, LoadError> {
        let date = self.date(path, text)?;
        if date.year() < 1975 {
            return Err(self.error(path, format!("{date} is too early: a certificate's last day is from 1975-01-01 on (it was issued up to five years before, and certificates here start in 1970 at the earliest)")));
        }
        Ok(date)
    }

    /// A co-payment ratio: 10, 20 or 30 per cent.
    pub(super) fn copay(&self, path: &str, copay: u8) -> Result<u8, LoadError> {
        if COPAY_PERCENTS.contains(&copay) {
            return Ok(copay);
        }
        Err(self.error(path, format!("expected a co-payment ratio of 10, 20 or 30 (per cent), got {copay}")))
    }

    /// A name of the eligibility answer (1.3): 1 to 100 characters, no control characters; any
    /// other Unicode, outside JIS X 0208 and variation sequences included.
    pub(super) fn insured_name(&self, path: &str, what: &str, text: Option<&str>) -> Result<Option<String>, LoadError> {
        let Some(text) = text else { return Ok(None) };
        self.since(path, what, Contract::V1_3)?;
        let count = text.chars().count();
        if count == 0 || count > MAX_NAME_CHARS {
            return Err(self.error(path, format!("expected 1 to {MAX_NAME_CHARS} characters, got {count}")));
        }
        if let Some(control) = text.chars().find(|c| c.is_control()) {
            return Err(self.error(path, format!("a control character (U+{:04X}) has no place in a name", u32::from(control))));
        }
        Ok(Some(text.to_owned()))
    }

    pub(super) fn scenario(&mut self, raw: RawScenario) -> Result<Scenario, LoadError> {
        if let Some(text) = &raw.contract {
            self.contract = Contract::parse(text).ok_or_else(|| {
                let known: Vec<&str> = Contract::ALL.iter().map(|version| version.as_str()).collect();
                self.error("contract", format!("unknown contract version `{text}` (expected one of {})", known.join(", ")))
            })?;
        }
        if let Some(problem) = super::id_problem(&raw.id) {
            return Err(self.error("id", problem));
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
        let mut phone_os: HashMap<String, DeviceKind> = world.people.iter().flat_map(|p| p.phones.iter().map(|phone| (phone.id.clone(), phone.os))).collect();
        // The step whose card was left in the field (`stays`): the next tap must wait for its own.
        let mut left_in_field: Option<String> = None;
        for (i, step) in raw.steps.into_iter().enumerate() {
            let path = format!("steps[{i}]");
            let line = self.locator.find(&path).line;
            let user_verified_given = step.tap.as_ref().is_some_and(|tap| tap.user_verified.is_some());
            let action = self.action(&path, self.step_action(&step, &path)?, &people, &mut phones, &terminals)?;
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
            if let Action::Tap(spec) = &action
                && let TapTarget::Phone(phone) = &spec.target
                && user_verified_given
                && phone_os.get(phone) == Some(&DeviceKind::Android)
            {
                return Err(self.error(
                    &format!("{path}.tap.user_verified"),
                    "`user_verified` is Face ID / Touch ID on an iPhone (FLOW-3); an Android phone's holder types the PIN at the terminal (`pin`)",
                ));
            }
            if let Action::Tap(spec) = &action {
                if let Some(left) = left_in_field.take()
                    && spec.moves.arrives != Some(mynatap_sim::world::Arrival::AfterRequest)
                {
                    return Err(self.error(
                        &format!("{path}.tap"),
                        format!("the card of {left} stays in the field (`stays: true`): this tap's card can only arrive after the request, once that one is taken away (`arrives: after_request`)"),
                    ));
                }
                if spec.moves.stays {
                    left_in_field = Some(path.clone());
                }
            }
            if let Action::AdvanceClock(by) = &action {
                clock = mynatap_sim::clock::checked_add(clock, *by).ok_or_else(|| {
                    self.error(
                        &format!("{path}.advance_clock"),
                        format!(
                            "the clock would leave the range this simulator keeps ({} to {}): it stands at {}",
                            CLOCK_RANGE.0,
                            CLOCK_RANGE.1,
                            clock.format(&Rfc3339).unwrap_or_default()
                        ),
                    )
                })?;
            }
            let expect = self.expect(&path, &action, step.expect)?;
            steps.push(Step { index: i + 1, line, action, expect });
        }
        let needs = self.needs.borrow().clone();
        Ok(Scenario { file: self.file.to_owned(), contract: self.contract, needs, id: raw.id, title: raw.title, covers: raw.covers, world, steps })
    }

    pub(super) fn world(&self, raw: &RawWorld) -> Result<WorldDef, LoadError> {
        let clock = OffsetDateTime::parse(&raw.clock, &Rfc3339)
            .map_err(|_| self.error("world.clock", format!("expected an RFC 3339 time such as 2026-04-01T09:00:00+09:00, got `{}`", raw.clock)))?;
        if !(mynatap_sim::clock::EARLIEST..=mynatap_sim::clock::LATEST).contains(&clock) {
            return Err(self.error("world.clock", format!("expected a time from {} to {}, got `{}`", CLOCK_RANGE.0, CLOCK_RANGE.1, raw.clock)));
        }
        let today = mynatap_sim::clock::local_date(clock);
        let ca_generations = self.ca_generations(raw)?;
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
                Some(text) => self.certificate_end(&format!("{path}.card.cert_expires"), text)?,
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
                security_code: {
                    if person.card.security_code.is_some() {
                        self.since(&format!("{path}.card.security_code"), "`card.security_code`", Contract::V1_1)?;
                    }
                    self.security_code(&format!("{path}.card.security_code"), person.card.security_code.as_deref())?
                },
                card_expires: match &person.card.expires {
                    Some(text) => {
                        self.since(&format!("{path}.card.expires"), "`card.expires`", Contract::V1_1)?;
                        Some(self.date(&format!("{path}.card.expires"), text)?)
                    }
                    None => None,
                },
                card_forgery: match &person.card.forgery {
                    Some(text) => {
                        self.since(&format!("{path}.card.forgery"), "`card.forgery`", Contract::V1_2)?;
                        Some(Forgery::parse(text).ok_or_else(|| {
                            let known: Vec<&str> = Forgery::ALL.iter().map(|forgery| forgery.name()).collect();
                            self.error(&format!("{path}.card.forgery"), format!("unknown forgery `{text}` (expected one of {})", known.join(", ")))
                        })?)
                    }
                    None => None,
                },
                card_certificate_fault: self.certificate_fault(&format!("{path}.card.certificate"), person.card.certificate.as_deref())?,
                card_ca_generation: self.generation(&format!("{path}.card.generation"), person.card.generation, ca_generations.len())?,
                card_info_pin: match &person.card.card_info_pin {
                    Some(pin) => Some(self.pin(&format!("{path}.card.card_info_pin"), Some(pin))?),
                    None => None,
                },
                insurance_registered: person.insurance.registered.unwrap_or(true),
                insurer: person.insurance.insurer.clone().unwrap_or_else(|| "06132013".into()),
                insurance_valid_from: valid_from,
                insurance_valid_until: valid_until,
                insurance_status: match &person.insurance.status {
                    Some(text) => {
                        self.since(&format!("{path}.insurance.status"), "`insurance.status`", Contract::V1_2)?;
                        QualificationValidity::parse(text).ok_or_else(|| {
                            let known: Vec<&str> = QualificationValidity::ALL.iter().map(|v| v.name()).collect();
                            self.error(&format!("{path}.insurance.status"), format!("unknown status `{text}` (expected one of {})", known.join(", ")))
                        })?
                    }
                    None => QualificationValidity::Valid,
                },
                insurance_arrives: match &person.insurance.arrives {
                    Some(text) => {
                        self.since(&format!("{path}.insurance.arrives"), "`insurance.arrives`", Contract::V1_2)?;
                        Some(self.date(&format!("{path}.insurance.arrives"), text)?)
                    }
                    None => None,
                },
                copay_percent: match person.insurance.copay {
                    Some(copay) => {
                        self.since(&format!("{path}.insurance.copay"), "`insurance.copay`", Contract::V1_2)?;
                        self.copay(&format!("{path}.insurance.copay"), copay)?
                    }
                    None => 30,
                },
                insured_name: self.insured_name(&format!("{path}.insurance.name"), "`insurance.name`", person.insurance.name.as_deref())?,
                insured_kana: self.insured_name(&format!("{path}.insurance.kana"), "`insurance.kana`", person.insurance.kana.as_deref())?,
            };
            let mut phones = Vec::new();
            for (j, phone) in person.phones.iter().enumerate() {
                let phone_path = format!("{path}.phones[{j}]");
                if !phone_ids.insert(phone.id.clone()) {
                    return Err(self.error(&format!("{phone_path}.id"), format!("duplicate phone id `{}`", phone.id)));
                }
                let mut pin = self.pin(&format!("{phone_path}.pin"), phone.pin.as_ref())?;
                // Nobody can add a card to a phone once its certificate has ended (Q18, its grace
                // included: the grace is the card's alone).
                if !phone.forged && spec.card_cert_expires < today {
                    return Err(self.error(
                        &format!("{phone_path}.id"),
                        format!(
                            "the card of `{}` ended on {} (`card.cert_expires`), before the world's date {today}: no phone can hold it (card_not_valid). Give the card a later `cert_expires`, or add the phone with an `add_phone` step and `expect: {{ error: card_not_valid }}`",
                            person.id, spec.card_cert_expires
                        ),
                    ));
                }
                // A world phone is an `add_phone` done before the scenario starts: an iPhone's PIN
                // is the card-info PIN typed then, which must be the card's (wrong_card_info_pin).
                if phone.os.device() == DeviceKind::Iphone && !phone.forged {
                    let card_info_pin = spec.card_info_pin.clone().unwrap_or_else(|| spec.card_pin.clone());
                    if phone.pin.is_none() {
                        pin = card_info_pin;
                    } else if pin != card_info_pin {
                        return Err(self.error(
                            &format!("{phone_path}.pin"),
                            format!("an iPhone's `pin` is the card-info PIN typed when the card was added to it, and this card's is `{card_info_pin}` (`card.card_info_pin`, else `card.pin`): adding the card would fail with wrong_card_info_pin; to test that, use an `add_phone` step with `expect: {{ error: wrong_card_info_pin }}`"),
                        ));
                    }
                }
                let key = self.key_algorithm(&format!("{phone_path}.key"), phone.key.as_deref())?;
                let certificate = self.certificate_fault(&format!("{phone_path}.certificate"), phone.certificate.as_deref())?;
                let generation = self.generation(&format!("{phone_path}.generation"), phone.generation, ca_generations.len())?;
                if generation.is_some() && phone.forged {
                    return Err(self.error(
                        &format!("{phone_path}.generation"),
                        "a forged phone's certificate is the forger's, of no trusted generation: leave `generation` out",
                    ));
                }
                phones.push(PhoneDef { id: phone.id.clone(), os: phone.os.device(), key, pin, forged: phone.forged, certificate, generation });
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
                    if terminal.backend_timeout_ms.is_some() {
                        self.since(&format!("world.terminals[{i}].backend_timeout_ms"), "`backend_timeout_ms`", Contract::V1_1)?;
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
        let ca_key = match ca_generations.last() {
            Some(newest) => *newest,
            None => self.key_algorithm("world.ca_key", raw.ca_key.as_deref())?.unwrap_or(KeyAlgorithm::Rsa2048),
        };
        let ca_generations = if ca_generations.is_empty() { vec![ca_key] } else { ca_generations };
        let revoked_elsewhere = match raw.revoked_elsewhere {
            Some(count) if count > MAX_REVOKED_ELSEWHERE => {
                return Err(self.error(
                    "world.revoked_elsewhere",
                    format!("expected 0 to {MAX_REVOKED_ELSEWHERE} (other people's revoked certificates on the CRL), got {count}"),
                ));
            }
            count => count.unwrap_or(0) as usize,
        };
        if raw.crl_sign.is_some() {
            self.since("world.crl_sign", "`world.crl_sign`", Contract::V1_3)?;
        }
        Ok(WorldDef { clock, ca_key, ca_generations, crl_sign: raw.crl_sign.unwrap_or(true), revoked_elsewhere, people, terminals })
    }

    pub(super) fn known(&self, path: &str, what: &str, id: &str, set: &HashSet<String>) -> Result<(), LoadError> {
        if set.contains(id) {
            return Ok(());
        }
        let mut known: Vec<&str> = set.iter().map(String::as_str).collect();
        known.sort_unstable();
        Err(self.error(path, format!("unknown {what} `{id}` (known: {})", if known.is_empty() { "none".into() } else { known.join(", ") })))
    }
}

/// The field a path ends in, with its parent where that says more (`card.key` of
/// `world.people[0].card.key`, `key` of `world.people[0].phones[1].key`), as messages name it.
fn field_name(path: &str) -> String {
    let parts: Vec<&str> = path.split('.').collect();
    match parts.as_slice() {
        [.., parent, last] if !parent.ends_with(']') => format!("{parent}.{last}"),
        [.., last] => (*last).to_owned(),
        [] => String::new(),
    }
}
