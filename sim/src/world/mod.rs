//! The simulated world: people with their cards, phones, terminals and the back ends, under one
//! clock. Scenarios (and property tests) act on it; a tap runs the terminal against a device
//! through an in-memory transport.

use std::collections::BTreeMap;
use std::sync::Arc;

use time::{Date, Duration, OffsetDateTime};

use crate::backend::{Issuance, PersonSpec, Registry, RegistryError};
use crate::card::Card;
use crate::contract::Contract;
use crate::driver::{Exchange, run_tap};
use crate::pki::KeyAlgorithm;
use crate::profile::{DeviceKind, Profile};
use crate::service::{BackendFault, FaultyBackends};
use crate::terminal::{CardAuth, Consent, Outcome, Tap, TapRequest, Terminal, TerminalConfig, TerminalError};
use crate::transport::{DirectTransport, Fault, Faulty};

mod held;
mod spec;
mod tap;

pub use spec::{Arrival, CardMoves, TapReport, TapSpec, TapTarget};

#[derive(Debug, thiserror::Error)]
/// Why a world step could not be played.
#[non_exhaustive]
pub enum WorldError {
    #[error(transparent)]
    /// The registry refused (its code is the scenario's error code).
    Registry(#[from] RegistryError),
    #[error("no phone `{0}` in the world")]
    /// No such phone.
    UnknownPhone(String),
    #[error("no person `{0}` in the world")]
    /// No such person.
    UnknownPerson(String),
    #[error("no terminal `{0}` in the world")]
    /// No such terminal.
    UnknownTerminal(String),
    #[error("no phone or person `{0}` in the world")]
    /// No phone or person of that id.
    UnknownDevice(String),
    #[error("several terminals: the tap must name one")]
    /// Several terminals and the tap names none.
    AmbiguousTerminal,
    #[error("terminal: {0}")]
    /// A terminal could not be set up.
    Terminal(#[from] TerminalError),
    #[error("phone `{0}` exists already")]
    /// Two phones with one id.
    DuplicatePhone(String),
    #[error("the card task failed: {0}")]
    /// The task serving a card failed.
    Task(String),
    #[error("transport: {0}")]
    /// The transport failed.
    Transport(#[from] crate::transport::TransportError),
    #[error("the clock would leave 1970-01-01T09:00 to 9989-12-31T23:59:59 (JST): {0}")]
    /// The clock would leave the range a world can hold.
    ClockOutOfRange(String),
    /// The reader program under certification broke the adapter contract.
    #[error("adapter_error: {0}")]
    Adapter(String),
}

impl WorldError {
    /// The scenario format's error code for a failed action.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Registry(error) => error.code(),
            Self::UnknownPhone(_) => "unknown_phone",
            Self::UnknownPerson(_) => "unknown_person",
            Self::UnknownTerminal(_) => "unknown_terminal",
            Self::UnknownDevice(_) => "unknown_device",
            Self::AmbiguousTerminal => "ambiguous_terminal",
            Self::Terminal(_) => "terminal_error",
            Self::DuplicatePhone(_) => "duplicate_phone",
            Self::Task(_) => "internal_error",
            Self::Transport(_) => "transport_error",
            Self::Adapter(_) => "adapter_error",
            Self::ClockOutOfRange(_) => "clock_out_of_range",
        }
    }
}

/// The three device profiles the world builds devices from.
#[derive(Debug, Clone)]
pub struct Profiles {
    /// The physical card's profile.
    pub card: Arc<Profile>,
    /// The Android phone's profile.
    pub android: Arc<Profile>,
    /// The iPhone's profile.
    pub iphone: Arc<Profile>,
}

impl Default for Profiles {
    fn default() -> Self {
        Self {
            card: Arc::new(Profile::builtin(DeviceKind::Card)),
            android: Arc::new(Profile::builtin(DeviceKind::Android)),
            iphone: Arc::new(Profile::builtin(DeviceKind::Iphone)),
        }
    }
}

impl Profiles {
    /// The profile of a kind of device.
    pub fn for_device(&self, device: DeviceKind) -> Arc<Profile> {
        match device {
            DeviceKind::Card => self.card.clone(),
            DeviceKind::Android => self.android.clone(),
            DeviceKind::Iphone => self.iphone.clone(),
        }
    }
}

#[derive(Debug)]
struct PhoneDevice {
    os: DeviceKind,
    /// Its secure element's key algorithm, kept when the card is added again.
    key: KeyAlgorithm,
    pin: String,
    /// `None` only while the card is lent to a driver ([`World::tap_with`]).
    card: Option<Card>,
}

#[derive(Debug)]
struct PersonDevice {
    pin: String,
    card: Option<Card>,
}

/// People, devices, terminals, back ends and the clock.
#[derive(Debug)]
pub struct World {
    seed: u64,
    now: OffsetDateTime,
    registry: Registry,
    profiles: Profiles,
    people: BTreeMap<String, PersonDevice>,
    phones: BTreeMap<String, PhoneDevice>,
    terminals: BTreeMap<String, Terminal>,
    /// The device held in the field by raw APDU steps (scenario `apdu` / `reset`), if any: its
    /// selections and unlocks last from one raw step to the next, until a reset or a tap.
    raw_session: Option<TapTarget>,
    /// The contract whose rules the terminals follow where versions differ.
    contract: Contract,
}

impl World {
    /// A world whose CA signs with RSA-2048, as the JPKI authorities.
    pub fn new(seed: u64, now: OffsetDateTime, profiles: Profiles) -> Result<Self, WorldError> {
        Self::with_ca_key(seed, now, profiles, KeyAlgorithm::Rsa2048)
    }

    /// A world whose CA signs with `ca_key` (scenario `world.ca_key`).
    pub fn with_ca_key(seed: u64, now: OffsetDateTime, profiles: Profiles, ca_key: KeyAlgorithm) -> Result<Self, WorldError> {
        Self::with_ca_generations(seed, now, profiles, &[ca_key])
    }

    /// A world trusting generations of one authority with keys `keys`, oldest first (contract
    /// 1.3 `world.ca_generations`; one key is [`World::with_ca_key`]). Terminals trust them all.
    pub fn with_ca_generations(seed: u64, now: OffsetDateTime, profiles: Profiles, keys: &[KeyAlgorithm]) -> Result<Self, WorldError> {
        Ok(Self {
            seed,
            now,
            registry: Registry::with_generations(seed, now, keys)?,
            profiles,
            people: BTreeMap::new(),
            phones: BTreeMap::new(),
            terminals: BTreeMap::new(),
            raw_session: None,
            contract: Contract::LATEST,
        })
    }

    /// Plays taps by `contract`'s rules where versions differ (a file written for 1.1: no grace).
    pub fn set_contract(&mut self, contract: Contract) {
        self.contract = contract;
    }
    /// The contract whose rules taps follow.
    pub fn contract(&self) -> Contract {
        self.contract
    }

    /// The world's clock.
    pub fn now(&self) -> OffsetDateTime {
        self.now
    }
    /// The registry (certificates, phones, CRL, insurance).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }
    /// The registry, to change.
    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }
    /// The user-authentication certificate each device holds now: every person's card (by
    /// person id), then every phone (by phone id), in id order. What `mynatap world export`
    /// writes for outside verifiers.
    pub fn device_certificates(&self) -> Vec<(TapTarget, Result<Vec<u8>, crate::pki::PkiError>)> {
        let cards = self.people.iter().filter_map(|(id, person)| person.card.as_ref().map(|card| (TapTarget::Card(id.clone()), card)));
        let phones = self.phones.iter().filter_map(|(id, phone)| phone.card.as_ref().map(|card| (TapTarget::Phone(id.clone()), card)));
        cards.chain(phones).map(|(target, card)| (target, card.auth_certificate().map(<[u8]>::to_vec))).collect()
    }
    /// Whether the world has a phone of this id.
    pub fn has_phone(&self, id: &str) -> bool {
        self.phones.contains_key(id)
    }
    /// The OS of a phone.
    pub fn phone_os(&self, id: &str) -> Option<DeviceKind> {
        self.phones.get(id).map(|phone| phone.os)
    }
    /// The PIN the tapped device holds (what a patient who types the right one types).
    pub fn right_pin(&self, target: &TapTarget) -> Option<String> {
        match target {
            TapTarget::Phone(id) => self.phones.get(id).map(|phone| phone.pin.clone()),
            TapTarget::Card(person) => self.people.get(person).map(|device| device.pin.clone()),
        }
    }

    /// Verification number B printed on a person's card (what a camera reads off it).
    pub fn printed_number_b(&self, person: &str) -> Option<String> {
        self.people.get(person)?.card.as_ref()?.printed_number_b().map(str::to_owned)
    }

    /// The settings of a terminal (the only one when `id` is `None`).
    pub fn terminal_config(&self, id: Option<&str>) -> Option<&TerminalConfig> {
        match id {
            Some(id) => self.terminals.get(id).map(Terminal::config),
            None if self.terminals.len() == 1 => self.terminals.values().next().map(Terminal::config),
            None => None,
        }
    }

    /// The authorities' certificates lack cRLSign (contract 1.3 `world.crl_sign: false`); before
    /// any person, phone or terminal is added.
    pub fn withhold_crl_sign(&mut self) -> Result<(), WorldError> {
        Ok(self.registry.withhold_crl_sign()?)
    }

    /// Adds a terminal trusting the registry's authorities (every generation).
    pub fn add_terminal(&mut self, config: TerminalConfig) -> Result<(), WorldError> {
        let anchors: Vec<&[u8]> = self.registry.cas().iter().map(|ca| ca.certificate_der()).collect();
        let terminal = Terminal::with_anchors(config.clone(), &anchors, self.seed)?;
        self.terminals.insert(config.id, terminal);
        Ok(())
    }

    /// Adds a person with their physical card and insurance (SETUP-1 as `spec` says).
    pub fn add_person(&mut self, spec: &PersonSpec) -> Result<(), WorldError> {
        let spec = PersonSpec { card_key: Some(spec.card_key.unwrap_or(self.profiles.card.key)), ..spec.clone() };
        let credential = self.registry.add_person(&spec, self.now)?;
        let card = Card::new(self.profiles.card.clone(), credential);
        self.people.insert(spec.id.clone(), PersonDevice { pin: spec.card_pin.clone(), card: Some(card) });
        Ok(())
    }

    /// A phone the world starts with (`world.people[].phones`). `forged` phones carry a
    /// certificate from a CA the terminals do not trust. `key`: `None` is the profile's.
    pub fn add_initial_phone(
        &mut self,
        person: &str,
        phone: &str,
        (os, key): (DeviceKind, Option<KeyAlgorithm>),
        pin: &str,
        forged: bool,
    ) -> Result<(), WorldError> {
        self.add_initial_phone_with(person, phone, (os, key), pin, forged, Issuance::default())
    }

    /// [`World::add_initial_phone`] with a certificate issued as `issuance` says (contract 1.3: a
    /// profile fault, an older generation of the authority).
    pub fn add_initial_phone_with(
        &mut self,
        person: &str,
        phone: &str,
        (os, key): (DeviceKind, Option<KeyAlgorithm>),
        pin: &str,
        forged: bool,
        issuance: Issuance,
    ) -> Result<(), WorldError> {
        if self.phones.contains_key(phone) {
            return Err(WorldError::DuplicatePhone(phone.into()));
        }
        let key = key.unwrap_or(self.profiles.for_device(os).key);
        if forged {
            let credential = self.registry.issue_forged(person, phone, (os, key), pin, self.now, issuance.fault)?;
            let card = Card::new(self.profiles.for_device(os), credential);
            self.phones.insert(phone.into(), PhoneDevice { os, key, pin: pin.into(), card: Some(card) });
            return Ok(());
        }
        // The world is given as it stands: the card-info PIN was typed when the phone was set up.
        self.put_card_on_phone(person, phone, (os, Some(key)), Some(pin), None, issuance)
    }

    /// SETUP-2: adds the person's card to a phone (new or known). `pin` is the phone's PIN for
    /// its own certificate (Android) or the card-info PIN the person types (iPhone, checked
    /// against the card's); `None` keeps the phone's, or types the right one.
    /// `key`: `None` keeps the phone's (its secure element's) or takes the profile's.
    pub fn add_phone(&mut self, person: &str, phone: &str, (os, key): (DeviceKind, Option<KeyAlgorithm>), pin: Option<&str>) -> Result<(), WorldError> {
        let card_info_pin = if os == DeviceKind::Iphone { pin } else { None };
        self.put_card_on_phone(person, phone, (os, key), pin, card_info_pin, Issuance::default())
    }

    fn put_card_on_phone(
        &mut self,
        person: &str,
        phone: &str,
        (os, key): (DeviceKind, Option<KeyAlgorithm>),
        pin: Option<&str>,
        card_info_pin: Option<&str>,
        issuance: Issuance,
    ) -> Result<(), WorldError> {
        let known = self.phones.get(phone);
        let pin = pin.map(str::to_owned).or_else(|| known.map(|p| p.pin.clone())).unwrap_or_else(|| "1234".into());
        let key = key.or_else(|| known.map(|p| p.key)).unwrap_or(self.profiles.for_device(os).key);
        let credential = self.registry.add_phone_with(person, phone, (os, key), &pin, card_info_pin, self.now, issuance)?;
        let card = Card::new(self.profiles.for_device(os), credential);
        self.phones.insert(phone.into(), PhoneDevice { os, key, pin, card: Some(card) });
        Ok(())
    }

    /// Q19: the card is deleted from the phone.
    pub fn remove_phone(&mut self, phone: &str) -> Result<(), WorldError> {
        self.known_phone(phone)?;
        Ok(self.registry.remove_phone(phone, self.now)?)
    }
    /// Q20: the phone is reported lost (suspended).
    pub fn report_lost(&mut self, phone: &str) -> Result<(), WorldError> {
        self.known_phone(phone)?;
        Ok(self.registry.report_lost(phone, self.now)?)
    }
    /// Q20: the suspension is lifted.
    pub fn resume(&mut self, phone: &str) -> Result<(), WorldError> {
        self.known_phone(phone)?;
        Ok(self.registry.resume(phone, self.now)?)
    }
    /// Q18: the card is revoked (the phones holding it lose their certificates).
    pub fn revoke_card(&mut self, person: &str) -> Result<(), WorldError> {
        Ok(self.registry.revoke_card(person, self.now)?)
    }
    /// Q18: new certificates on the physical card; `cert_expires` defaults to five years on.
    pub fn renew_card(&mut self, person: &str, cert_expires: Option<Date>) -> Result<(), WorldError> {
        let expires = cert_expires.unwrap_or_else(|| crate::clock::add_years(crate::clock::local_date(self.now), 5));
        let credential = self.registry.renew_card(person, expires, self.now)?;
        let device = self.people.get_mut(person).ok_or_else(|| WorldError::UnknownPerson(person.into()))?;
        device.card = Some(Card::new(self.profiles.card.clone(), credential));
        Ok(())
    }
    /// SETUP-1: the insurance-use registration.
    pub fn register_insurance(&mut self, person: &str) -> Result<(), WorldError> {
        Ok(self.registry.register_insurance(person)?)
    }
    /// Moves the clock forward; the CA issues the next CRL if the current one lapses.
    pub fn advance_clock(&mut self, by: Duration) -> Result<(), WorldError> {
        self.now = crate::clock::checked_add(self.now, by).ok_or_else(|| WorldError::ClockOutOfRange(format!("{} plus {by}", self.now)))?;
        self.registry.keep_crl_fresh(self.now)?;
        Ok(())
    }

    fn known_phone(&self, phone: &str) -> Result<(), WorldError> {
        if self.phones.contains_key(phone) { Ok(()) } else { Err(WorldError::UnknownPhone(phone.into())) }
    }
}
