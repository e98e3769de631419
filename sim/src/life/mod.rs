//! A generated life as data: a world (people, cards, insurance, the CRL, the terminal) and the
//! steps that happen in it, with what each step must come to by the rules model ([`model`]).
//! The harness writes it as a scenario file (docs/scenario-format.md) through the loader's own
//! model, so whatever explores it replays with `mynatap run` or `mynatap certify`.

pub mod model;

use time::{Date, Duration, OffsetDateTime};

use crate::backend::QualificationValidity;
use crate::card::surface::Forgery;
use crate::contract::Contract;
use crate::pki::{CertificateFault, KeyAlgorithm};
use crate::profile::DeviceKind;
use crate::service::{BackendFault, ServiceKind};

pub use model::{Expected, Model};

/// The ids people and phones get in the scenario file, by position.
pub const PEOPLE: [&str; 3] = ["hanako", "taro", "yuki"];
/// Phones are shared among the people (Q17: one person's card per phone).
pub const PHONES: [&str; 4] = ["ph0", "ph1", "ph2", "ph3"];
/// The id of a life's forged phone ([`ForgedPhone`]); taps name it as phone `PHONES.len()`.
pub const FORGED_PHONE: &str = "forged";
/// The one terminal of a life.
pub const TERMINAL: &str = "clinic";

/// A world and what happens in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Life {
    /// The contract version the life was generated for: it uses nothing a later version added,
    /// and its steps are judged by that version's rules.
    pub contract: Contract,
    /// The world's clock when the life begins.
    pub clock: OffsetDateTime,
    /// The trusted CA's key algorithm.
    pub ca_key: KeyAlgorithm,
    /// 1.3: generations of the authority, oldest first (empty: one authority, `ca_key`).
    pub ca_generations: Vec<KeyAlgorithm>,
    /// Certificates of people outside the life already on the CRL (mynatap extension
    /// `world.revoked_elsewhere`), so the life's own revocations sit behind them.
    pub revoked_elsewhere: u32,
    /// Whether the terminal offers the phone path (Q16).
    pub smartphone: bool,
    /// At least one; at most [`PEOPLE`]`.len()`.
    pub people: Vec<PersonLife>,
    /// A phone the world starts with, issued by a CA the terminal does not trust.
    pub forged_phone: Option<ForgedPhone>,
    /// What happens, in order.
    pub steps: Vec<Step>,
}

/// A phone in `world.people[].phones` with `forged: true`: its certificate comes from a CA with
/// the trusted CA's name but another key. The registry does not know it, so no registry step
/// reaches it; a tap is judged at the issuer check (`untrusted_certificate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForgedPhone {
    /// Whose card it claims to hold (a person the life does not have: no forged phone).
    pub person: usize,
    /// The phone's OS.
    pub os: DeviceKind,
    /// The phone credential's key (`None`: the profile's).
    pub key: Option<KeyAlgorithm>,
}

/// One person at the start of a life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonLife {
    /// Birth date (ages, Q17).
    pub birth_date: Date,
    /// The last valid day of the card's user-authentication certificate.
    pub card_expires: Date,
    /// The card's key algorithm.
    pub card_key: KeyAlgorithm,
    /// Four digits, printed on the card (number B).
    pub security_code: String,
    /// 1.2: a forged card.
    pub forgery: Option<Forgery>,
    /// SETUP-1 done at the start.
    pub registered: bool,
    /// The last day of the insurance qualification.
    pub valid_until: Date,
    /// 1.2: the eligibility answer.
    pub status: QualificationValidity,
    /// 1.2: the day the insurer's data arrives.
    pub arrives: Option<Date>,
    /// 1.2: 10, 20 or 30.
    pub copay: u8,
    /// 1.3: the card's first certificate breaks the user-authentication profile so.
    pub certificate: Option<CertificateFault>,
    /// 1.3: the generation (1 = the oldest of [`Life::ca_generations`]) that issued the card's
    /// first certificate; `None`: the newest.
    pub generation: Option<usize>,
}

/// One step of a life. People and phones are indexes into [`PEOPLE`] and [`PHONES`]; a step
/// naming a person the life does not have, or a phone never set up, is not played.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// SETUP-2: the person adds the card to a phone (Q17-Q19).
    AddPhone {
        /// Whose card.
        person: usize,
        /// Which phone (index into [`PHONES`]).
        phone: usize,
        /// The phone's OS.
        os: DeviceKind,
        /// The phone credential's key (`None`: the profile's).
        key: Option<KeyAlgorithm>,
    },
    /// Q19: the card is deleted from the phone.
    RemovePhone {
        /// Which phone.
        phone: usize,
    },
    /// Q20: the phone is reported lost (suspended).
    ReportLost {
        /// Which phone.
        phone: usize,
    },
    /// Q20: the suspension is lifted.
    Resume {
        /// Which phone.
        phone: usize,
    },
    /// Q18: the card is revoked.
    RevokeCard {
        /// Whose card.
        person: usize,
    },
    /// `days`: the new certificate's last valid day, this many days after today (`None`: the
    /// registry's default, five years).
    /// Q18: the card is renewed (a new certificate; phones holding the old one lose it).
    RenewCard {
        /// Whose card.
        person: usize,
        /// The new certificate's last valid day, this many days after today (`None`: five years).
        days: Option<u16>,
    },
    /// SETUP-1: the insurance-use registration.
    RegisterInsurance {
        /// Whose insurance.
        person: usize,
    },
    /// The clock moves on.
    Advance(Advance),
    /// A tap of a phone (index into [`PHONES`], or [`PHONES`]`.len()` for the forged phone).
    TapPhone {
        /// Which phone.
        phone: usize,
        /// What the patient does and what goes wrong.
        how: TapHow,
    },
    /// A tap of a person's physical card (Q14).
    TapCard {
        /// Whose card.
        person: usize,
        /// What the patient does and what goes wrong.
        how: TapHow,
    },
}

/// How far the clock moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Advance {
    /// So many days.
    Days(u16),
    /// So many hours.
    Hours(u16),
    /// So many minutes.
    Minutes(u16),
}

impl Advance {
    /// The step as a duration.
    pub fn duration(self) -> Duration {
        match self {
            Self::Days(n) => Duration::days(n.into()),
            Self::Hours(n) => Duration::hours(n.into()),
            Self::Minutes(n) => Duration::minutes(n.into()),
        }
    }
}

/// What the patient does at the terminal, and what goes wrong.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TapHow {
    /// The PIN typed (card and Android).
    pub pin: PinTyped,
    /// iPhone: Face ID / Touch ID not done (FLOW-3).
    pub not_unlocked: bool,
    /// Phones: the patient chooses the other phone type at FLOW-2.
    pub wrong_os: bool,
    /// The physical card by face recognition: `Some(face_match)`.
    pub face: Option<bool>,
    /// What goes wrong, if anything.
    pub fault: Option<TapFault>,
}

/// The PIN typed on the terminal (card and Android).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PinTyped {
    #[default]
    /// The right PIN.
    Right,
    /// Four digits, not the PIN: spends a try.
    Wrong,
    /// Not four digits: refused by the terminal, no try spent.
    Malformed,
}

/// Faults exploration puts on a tap. Timing faults (`delay`, `backend_delay`) are left to the
/// fixed suite: against a reader program each costs seconds of real waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TapFault {
    /// `remove_after: 0`: the phone leaves before the first command.
    RemovedAtOnce,
    /// `corrupt_response` on the sign command.
    CorruptSignature,
    /// `wrong_status` `6F00` on the sign command.
    SignStatus6F00,
    /// `crl_unavailable`: the CRL distribution point does not answer.
    CrlUnavailable,
    /// `crl_stale`: a CRL past its next update.
    CrlStale,
    /// `crl_bad_signature`: a CRL whose signature does not verify.
    CrlBadSignature,
    /// `eligibility_unavailable`: the eligibility service does not answer.
    EligibilityUnavailable,
    /// `eligibility_malformed`: the eligibility service answers something that is not a record.
    EligibilityMalformed,
    /// 1.3 `crl_other_key`: a CRL signed by another key under the trusted name.
    CrlOtherKey,
    /// 1.3 `crl_unknown_critical_extension`.
    CrlUnknownCriticalExtension,
    /// 1.3 `crl_unknown_critical_entry_extension`.
    CrlUnknownCriticalEntryExtension,
    /// 1.3 `crl_without_number`.
    CrlWithoutNumber,
}

impl TapFault {
    /// Every fault, in the order above.
    pub const ALL: [TapFault; 12] = [
        Self::RemovedAtOnce,
        Self::CorruptSignature,
        Self::SignStatus6F00,
        Self::CrlUnavailable,
        Self::CrlStale,
        Self::CrlBadSignature,
        Self::EligibilityUnavailable,
        Self::EligibilityMalformed,
        Self::CrlOtherKey,
        Self::CrlUnknownCriticalExtension,
        Self::CrlUnknownCriticalEntryExtension,
        Self::CrlWithoutNumber,
    ];

    /// The back ends' fault this is, if it is not the device's (one vocabulary with
    /// [`BackendFault`], which plays it in memory and over HTTP).
    pub fn backend(self) -> Option<BackendFault> {
        Some(match self {
            Self::RemovedAtOnce | Self::CorruptSignature | Self::SignStatus6F00 => return None,
            Self::CrlUnavailable => BackendFault::CrlUnavailable,
            Self::CrlStale => BackendFault::CrlStale,
            Self::CrlBadSignature => BackendFault::CrlBadSignature,
            Self::EligibilityUnavailable => BackendFault::EligibilityUnavailable,
            Self::EligibilityMalformed => BackendFault::EligibilityMalformed,
            Self::CrlOtherKey => BackendFault::CrlOtherKey,
            Self::CrlUnknownCriticalExtension => BackendFault::CrlUnknownCriticalExtension,
            Self::CrlUnknownCriticalEntryExtension => BackendFault::CrlUnknownCriticalEntryExtension,
            Self::CrlWithoutNumber => BackendFault::CrlWithoutNumber,
        })
    }

    /// As exploration's summary names it (a back-end fault by its scenario kind).
    pub fn name(self) -> &'static str {
        match (self, self.backend()) {
            (_, Some(backend)) => backend.kind(),
            (Self::RemovedAtOnce, _) => "remove_after_0",
            (Self::CorruptSignature, _) => "corrupt_sign",
            (_, None) => "wrong_status_sign",
        }
    }

    /// The first contract version that defines the fault.
    pub fn since(self) -> Contract {
        match self.backend() {
            None => Contract::V1_0,
            Some(backend) if backend.crl_defect().is_some() => Contract::V1_3,
            Some(_) => Contract::V1_1,
        }
    }

    /// A CRL the terminal cannot trust (fail closed: `service_unavailable`).
    pub fn spoils_the_crl(self) -> bool {
        self.backend().is_some_and(|backend| backend.service() == ServiceKind::Crl)
    }

    /// A back-end fault (contract 1.1), not a device's.
    pub fn on_backend(self) -> bool {
        self.backend().is_some()
    }

    /// Hits the sign command: it takes effect only on a tap that signs.
    pub fn on_sign(self) -> bool {
        matches!(self, Self::CorruptSignature | Self::SignStatus6F00)
    }
}

/// A step the model plays, with what it must come to and the world as it was just before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Played<'l> {
    /// The step.
    pub step: &'l Step,
    /// What it must come to.
    pub expected: Expected,
    /// The world's date (JST) when the step is played.
    pub today: Date,
    /// The tapped device's kind (`None` for other steps).
    pub os: Option<DeviceKind>,
}

impl Step {
    /// The tap's particulars, if a tap.
    pub fn tap(&self) -> Option<&TapHow> {
        match self {
            Self::TapPhone { how, .. } | Self::TapCard { how, .. } => Some(how),
            _ => None,
        }
    }
}

impl Life {
    /// The life as a reader program is judged on it: taps typing a PIN no terminal keypad
    /// produces (not four digits) are left out. The built-in terminal is judged on refusing such
    /// a PIN unsent; a careful reader program that sends it is not wrong (docs/certification.md).
    pub fn on_a_keypad(mut self) -> Self {
        self.steps.retain(|step| step.tap().is_none_or(|how| how.pin != PinTyped::Malformed));
        self
    }

    /// The steps the model can play, each with what it must come to (steps naming someone
    /// absent, a phone never set up, or a fault the tap could never meet are left out).
    pub fn expectations(&self) -> Vec<Played<'_>> {
        let mut model = Model::new(self);
        self.steps
            .iter()
            .filter_map(|step| {
                let (today, os) = (model.today(), model.device_os(step));
                model.step(step).map(|expected| Played { step, expected, today, os })
            })
            .collect()
    }

    /// How many of its steps are taps (of those the model plays).
    pub fn taps(&self) -> usize {
        self.expectations().iter().filter(|played| played.step.tap().is_some()).count()
    }
}
