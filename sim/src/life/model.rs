//! The rules model: docs/requirements.md and the scenario contract written as plainly as they
//! read, with no certificate, APDU or CRL in sight, predicting what every step of a [`Life`]
//! must come to. Exploration and the state-machine property test judge the world, the built-in
//! terminal and reader programs against it; where they disagree, one of them is wrong.
//!
//! Precedence of a tap's checks (docs/scenario-format.md, "mynatap's reading"): the phone path
//! offered, the device type chosen (FLOW-2), the card surface and the face (face path), the PIN,
//! the certificate's issuer, its expiry (the card's grace), the CRL, the signature, eligibility.

use time::{Date, Month, OffsetDateTime};

use super::{Life, PinTyped, Step, TapFault, TapHow};
use crate::backend::QualificationValidity;
use crate::card::surface::Forgery;
use crate::clock;
use crate::contract::{Contract, Reason};
use crate::profile::DeviceKind;

/// Tries of the user-authentication PIN, card and Android alike (fixtures/profiles).
const PIN_TRIES: u8 = 3;

/// What a step must come to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// A registry step that succeeds.
    Ok,
    /// A registry step that fails with this code.
    Error(&'static str),
    /// 1.2 fields are only compared where the life's contract defines them.
    /// A verified tap, with what contract 1.2 adds.
    Verified {
        /// In the card's three-month grace.
        grace: bool,
        /// Expires within three months.
        expiring_soon: bool,
        /// The co-payment ratio, in per cent.
        copay: u8,
    },
    /// A rejected tap, with the contract's reason.
    Rejected(Reason),
    /// The terminal does not offer the phone path (Q16).
    NotOffered,
}

impl Expected {
    /// As reports write an outcome: `ok`, `error: code`, `verified`, `rejected: reason`.
    pub fn label(&self) -> String {
        match self {
            Self::Ok => "ok".into(),
            Self::Error(code) => format!("error: {code}"),
            Self::Verified { .. } => "verified".into(),
            Self::Rejected(reason) => format!("rejected: {}", reason.as_str()),
            Self::NotOffered => "not_offered".into(),
        }
    }
}

#[derive(Debug, Clone)]
struct PersonState {
    birth_date: Date,
    card_expires: Date,
    card_revoked: bool,
    card_pin_left: u8,
    registered: bool,
    /// The phone the card was last added to.
    phone: Option<usize>,
    /// The card's certificate breaks the profile (contract 1.3; until renewed).
    card_faulty: bool,
}

/// A phone's credential: the card as added to it, alive or dead.
#[derive(Debug, Clone)]
struct Credential {
    person: usize,
    expires: Date,
    revoked: bool,
    held: bool,
    pin_left: u8,
    /// Issued by a CA the terminal does not trust.
    forged: bool,
}

#[derive(Debug, Clone, Default)]
struct PhoneState {
    /// The OS of the first add_phone naming the phone, successful or not: a scenario file's
    /// loader reads a phone's OS from there, so a later attempt with the other one is left out.
    named_os: Option<DeviceKind>,
    /// Fixed by the first successful add (the registry knows the phone from then on).
    os: Option<DeviceKind>,
    /// Whose card it holds, alive or superseded, until removed (Q17, Q19).
    holder: Option<usize>,
    credential: Option<Credential>,
}

/// The device a tap reaches.
#[derive(Debug, Clone, Copy)]
enum Tapped {
    Card(usize),
    Phone(usize),
}

/// The rules' state of one life.
#[derive(Debug, Clone)]
pub struct Model<'l> {
    life: &'l Life,
    contract: Contract,
    now: OffsetDateTime,
    people: Vec<PersonState>,
    phones: Vec<PhoneState>,
}

/// The day one is 15 (Civil Code art. 143, Act on Calculation of Age): the birthday's
/// anniversary; for 29 February in a common year, 1 March.
fn fifteenth_birthday(birth: Date) -> Date {
    let year = birth.year() + 15;
    Date::from_calendar_date(year, birth.month(), birth.day()).or_else(|_| Date::from_calendar_date(year, Month::March, 1)).unwrap_or(Date::MAX)
}

impl<'l> Model<'l> {
    /// The rules' state at the start of `life`.
    pub fn new(life: &'l Life) -> Self {
        let people = life
            .people
            .iter()
            .map(|person| PersonState {
                birth_date: person.birth_date,
                card_expires: person.card_expires,
                card_revoked: false,
                card_pin_left: PIN_TRIES,
                registered: person.registered,
                phone: None,
                card_faulty: life.contract >= Contract::V1_3 && person.certificate.is_some(),
            })
            .collect();
        let mut phones = vec![PhoneState::default(); super::PHONES.len() + 1];
        // The forged phone sits after the registry's phones; no holder: the registry never
        // revokes or supersedes it.
        if let Some(forged) = life.forged_phone
            && let (Some(person), Some(slot)) = (life.people.get(forged.person), phones.get_mut(super::PHONES.len()))
        {
            let credential = Credential { person: forged.person, expires: person.card_expires, revoked: false, held: false, pin_left: PIN_TRIES, forged: true };
            *slot = PhoneState { named_os: Some(forged.os), os: Some(forged.os), holder: None, credential: Some(credential) };
        }
        Self { life, contract: life.contract, now: life.clock, people, phones }
    }

    /// The world's date (JST).
    pub fn today(&self) -> Date {
        self.now.to_offset(clock::JST).date()
    }

    /// The kind of device a tap step reaches, as things stand (`None`: not a tap, or a phone
    /// never set up).
    pub fn device_os(&self, step: &Step) -> Option<DeviceKind> {
        match step {
            Step::TapCard { .. } => Some(DeviceKind::Card),
            Step::TapPhone { phone, .. } => self.phones.get(*phone).and_then(|state| state.os),
            _ => None,
        }
    }

    /// Valid through every instant of its last day's last second, 23:59:59 JST (X.509 notAfter
    /// is inclusive and has whole seconds).
    fn still_valid(&self, last_day: Date) -> bool {
        let last_second = last_day.with_hms(23, 59, 59).map(|t| t.assume_offset(clock::JST));
        last_second.is_ok_and(|last| self.now.unix_timestamp() <= last.unix_timestamp())
    }

    /// Applies the step and says what it must come to; `None`: the step cannot be played (it
    /// names someone absent or a phone never set up, or its fault could never take effect).
    pub fn step(&mut self, step: &Step) -> Option<Expected> {
        let registry_phone = |phone: &usize| *phone < super::PHONES.len();
        match step {
            Step::AddPhone { phone, .. } | Step::RemovePhone { phone } | Step::ReportLost { phone } | Step::Resume { phone } if !registry_phone(phone) => None,
            Step::AddPhone { person, phone, os, .. } => {
                self.people.get(*person)?;
                let named = self.phones.get_mut(*phone)?.named_os.get_or_insert(*os);
                if *named != *os && self.known(*phone).is_none() {
                    return None;
                }
                Some(self.add_phone(*person, *phone, *os))
            }
            Step::RemovePhone { phone } => {
                let state = self.known(*phone)?;
                if state.holder.is_none() {
                    return Some(Expected::Error("no_card_on_phone"));
                }
                let holder = state.holder;
                let state = self.phones.get_mut(*phone)?;
                state.holder = None;
                if let Some(credential) = &mut state.credential {
                    (credential.revoked, credential.held) = (true, false);
                }
                if let Some(person) = holder.and_then(|h| self.people.get_mut(h))
                    && person.phone == Some(*phone)
                {
                    person.phone = None;
                }
                Some(Expected::Ok)
            }
            Step::ReportLost { phone } => {
                let state = self.known(*phone)?;
                if state.holder.is_none() {
                    return Some(Expected::Error("no_card_on_phone"));
                }
                let credential = self.phones.get_mut(*phone)?.credential.as_mut()?;
                Some(match (credential.revoked, credential.held) {
                    (true, _) => Expected::Error("phone_revoked"),
                    (false, true) => Expected::Error("already_suspended"),
                    (false, false) => {
                        credential.held = true;
                        Expected::Ok
                    }
                })
            }
            Step::Resume { phone } => {
                self.known(*phone)?;
                let credential = self.phones.get_mut(*phone)?.credential.as_mut()?;
                Some(if credential.held && !credential.revoked {
                    credential.held = false;
                    Expected::Ok
                } else {
                    Expected::Error("not_suspended")
                })
            }
            Step::RevokeCard { person } => {
                self.people.get_mut(*person)?.card_revoked = true;
                self.invalidate_phones(*person);
                Some(Expected::Ok)
            }
            Step::RenewCard { person, days } => {
                let today = self.today();
                let expires = match days {
                    Some(days) => today.checked_add(time::Duration::days((*days).into()))?,
                    None => clock::add_years(today, 5),
                };
                let state = self.people.get_mut(*person)?;
                // A new certificate on the card: a new PIN counter too.
                (state.card_revoked, state.card_expires, state.card_pin_left, state.card_faulty) = (false, expires, PIN_TRIES, false);
                self.invalidate_phones(*person);
                Some(Expected::Ok)
            }
            Step::RegisterInsurance { person } => {
                self.people.get_mut(*person)?.registered = true;
                Some(Expected::Ok)
            }
            Step::Advance(advance) => {
                self.now = clock::checked_add(self.now, advance.duration())?;
                Some(Expected::Ok)
            }
            Step::TapPhone { phone, how } => {
                self.known(*phone)?;
                self.tap(Tapped::Phone(*phone), how)
            }
            Step::TapCard { person, how } => {
                self.people.get(*person)?;
                self.tap(Tapped::Card(*person), how)
            }
        }
    }

    /// A phone some add_phone set up (the world knows no other).
    fn known(&self, phone: usize) -> Option<&PhoneState> {
        self.phones.get(phone).filter(|state| state.os.is_some())
    }

    fn add_phone(&mut self, person: usize, phone: usize, os: DeviceKind) -> Expected {
        let Some(target) = self.phones.get(phone) else { return Expected::Error("unknown_phone") };
        if target.holder.is_some_and(|holder| holder != person) {
            return Expected::Error("phone_holds_another_card");
        }
        if target.os.is_some_and(|known| known != os) {
            return Expected::Error("phone_os_mismatch");
        }
        // Only the hotline lifts a suspension (Q20).
        if target.credential.as_ref().is_some_and(|c| c.held && !c.revoked) {
            return Expected::Error("phone_suspended");
        }
        let Some(state) = self.people.get(person) else { return Expected::Error("unknown_person") };
        if self.today() < fifteenth_birthday(state.birth_date) {
            return Expected::Error("under_15");
        }
        if state.card_revoked || !self.still_valid(state.card_expires) {
            return Expected::Error("card_not_valid");
        }
        let (expires, previous) = (state.card_expires, state.phone);
        // Q19: the card lives on one phone at a time; the old phone keeps the dead card.
        if let Some(old) = previous.and_then(|p| self.phones.get_mut(p))
            && let Some(credential) = &mut old.credential
        {
            (credential.revoked, credential.held) = (true, false);
        }
        if let Some(target) = self.phones.get_mut(phone) {
            *target = PhoneState {
                named_os: target.named_os,
                os: Some(os),
                holder: Some(person),
                credential: Some(Credential { person, expires, revoked: false, held: false, pin_left: PIN_TRIES, forged: false }),
            };
        }
        if let Some(state) = self.people.get_mut(person) {
            state.phone = Some(phone);
        }
        Expected::Ok
    }

    /// Q18: the card revoked or renewed: every phone holding it loses its certificate (a
    /// suspension becomes a revocation); the phones keep the dead card until it is removed.
    fn invalidate_phones(&mut self, person: usize) {
        for phone in self.phones.iter_mut().filter(|phone| phone.holder == Some(person)) {
            if let Some(credential) = &mut phone.credential {
                (credential.revoked, credential.held) = (true, false);
            }
        }
    }

    /// One patient flow. `None`: the tap's fault could never take effect.
    fn tap(&mut self, tapped: Tapped, how: &TapHow) -> Option<Expected> {
        let (outcome, pin_left) = self.judge_tap(tapped, how)?;
        if let Some(left) = pin_left {
            match tapped {
                Tapped::Card(person) => self.people.get_mut(person)?.card_pin_left = left,
                Tapped::Phone(phone) => self.phones.get_mut(phone)?.credential.as_mut()?.pin_left = left,
            }
        }
        Some(outcome)
    }

    /// The outcome, and the PIN counter it leaves (`None`: unchanged).
    fn judge_tap(&self, tapped: Tapped, how: &TapHow) -> Option<(Expected, Option<u8>)> {
        let rejected = Expected::Rejected;
        let fault = how.fault;
        let (os, credential) = match tapped {
            Tapped::Card(_) => (DeviceKind::Card, None),
            Tapped::Phone(phone) => {
                let state = self.phones.get(phone)?;
                (state.os?, Some(state.credential.as_ref()?))
            }
        };
        let person_index = match tapped {
            Tapped::Card(person) => person,
            Tapped::Phone(_) => credential?.person,
        };
        let person = self.people.get(person_index)?;
        let spec = self.life.people.get(person_index)?;
        let face = match tapped {
            Tapped::Card(_) => how.face,
            Tapped::Phone(_) => None,
        };
        // Q16: a facility without phone support offers nothing to a phone; no command is sent,
        // so a device fault would test nothing.
        if os != DeviceKind::Card && !self.life.smartphone {
            return if fault.is_some_and(|f| !f.on_backend()) { None } else { Some((Expected::NotOffered, None)) };
        }
        if face.is_some() && fault.is_some_and(TapFault::on_sign) {
            // No signature on the face path: a located error of the file, never generated.
            return None;
        }
        if fault == Some(TapFault::RemovedAtOnce) {
            return Some((rejected(Reason::CardRemoved), None));
        }
        // Whatever ends the flow before the sign command: a fault aimed at it never fires.
        let before_sign = |outcome: Expected, left: Option<u8>| if fault.is_some_and(TapFault::on_sign) { None } else { Some((outcome, left)) };
        if how.wrong_os && os != DeviceKind::Card {
            return before_sign(rejected(Reason::WrongDeviceType), None);
        }
        if let Some(face_match) = face {
            if spec.forgery.is_some() && self.contract.card_surface_signed() {
                return Some((rejected(Reason::CardNotGenuine), None));
            }
            if !face_match {
                return Some((rejected(Reason::FaceNotMatched), None));
            }
        }
        // FLOW-3 with a PIN: the card (PIN path) and Android.
        let mut pin_left = None;
        let pin_path = face.is_none() && os != DeviceKind::Iphone;
        if pin_path {
            let left = match tapped {
                Tapped::Card(_) => person.card_pin_left,
                Tapped::Phone(_) => credential?.pin_left,
            };
            match how.pin {
                PinTyped::Malformed => return before_sign(rejected(Reason::WrongPin), None),
                _ if left == 0 => return before_sign(rejected(Reason::PinBlocked), None),
                PinTyped::Wrong if left == 1 => return before_sign(rejected(Reason::PinBlocked), Some(0)),
                PinTyped::Wrong => return before_sign(rejected(Reason::WrongPin), Some(left - 1)),
                PinTyped::Right => pin_left = Some(PIN_TRIES),
            }
        }
        if credential.is_some_and(|credential| credential.forged) {
            return before_sign(rejected(Reason::UntrustedCertificate), pin_left);
        }
        // 1.3: a card certificate that breaks the profile (the first one only: a renewal's is
        // the profile's) is untrusted before its validity or the CRL are asked.
        if matches!(tapped, Tapped::Card(_)) && person.card_faulty {
            return before_sign(rejected(Reason::UntrustedCertificate), pin_left);
        }
        let (expires, revoked, held) = match credential {
            Some(credential) => (credential.expires, credential.revoked, credential.held),
            None => (person.card_expires, person.card_revoked, false),
        };
        let today = self.today();
        let mut grace = false;
        if !self.still_valid(expires) {
            // The physical card (only) is accepted through its grace (1.2).
            if os == DeviceKind::Card && self.contract.card_grace() && today <= clock::grace_last_day(expires) {
                grace = true;
            } else {
                return before_sign(rejected(Reason::CertificateExpired), pin_left);
            }
        }
        let expiring_soon = !grace && self.contract.card_grace() && today >= clock::expiring_soon_from(expires);
        if fault.is_some_and(TapFault::spoils_the_crl) {
            return before_sign(rejected(Reason::ServiceUnavailable), pin_left);
        }
        if revoked {
            return before_sign(rejected(Reason::CertificateRevoked), pin_left);
        }
        if held {
            return before_sign(rejected(Reason::CertificateSuspended), pin_left);
        }
        if face.is_none() {
            let unlocked = os != DeviceKind::Iphone || !how.not_unlocked;
            match fault {
                Some(TapFault::SignStatus6F00) => return Some((rejected(Reason::ProtocolError), pin_left)),
                // An iPhone that refuses to sign answers no data: nothing to corrupt.
                Some(TapFault::CorruptSignature) if !unlocked => return None,
                _ if !unlocked => return Some((rejected(Reason::UserNotVerified), pin_left)),
                Some(TapFault::CorruptSignature) => return Some((rejected(Reason::SignatureInvalid), pin_left)),
                _ => {}
            }
            if os == DeviceKind::Card && spec.forgery == Some(Forgery::Clone) {
                // The genuine certificate on another chip: its key does not answer.
                return Some((rejected(Reason::SignatureInvalid), pin_left));
            }
        }
        if matches!(fault, Some(TapFault::EligibilityUnavailable | TapFault::EligibilityMalformed)) {
            return Some((rejected(Reason::ServiceUnavailable), pin_left));
        }
        if !person.registered {
            return Some((rejected(Reason::NotRegistered), pin_left));
        }
        let status = match spec.arrives {
            Some(arrives) if today < arrives => QualificationValidity::None,
            _ => spec.status,
        };
        let outcome = match status {
            QualificationValidity::Invalid => rejected(Reason::InsuranceExpired),
            QualificationValidity::Superseded => rejected(Reason::NewerQualification),
            QualificationValidity::None => rejected(Reason::NoQualification),
            QualificationValidity::Multiple => rejected(Reason::MultipleRecords),
            // The record runs from the birth date (the format's default `valid_from`).
            QualificationValidity::Valid if today < spec.birth_date || today > spec.valid_until => rejected(Reason::InsuranceExpired),
            QualificationValidity::Valid => Expected::Verified { grace, expiring_soon, copay: spec.copay },
        };
        Some((outcome, pin_left))
    }
}
