//! The back ends: the certificate registry (people, cards, phones, the CRL) and the eligibility
//! service (certificate -> insurance record). In-process; the world's time is passed in.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use rand::Rng;
use rand_chacha::ChaCha20Rng;
use time::{Date, Duration, OffsetDateTime};

use crate::card::surface::Forgery;
use crate::card::{CardCredential, HolderInfo};
use crate::clock;
use crate::credential::{self, IssueRequest, Printed};
use crate::pki::{CertificateAuthority, CertificateFault, CrlDefect, CrlEntry, KeyAlgorithm, PkiError, RevocationReason, derive_rng, rsa_pool};
use crate::profile::DeviceKind;

/// Why a registry action failed. `code()` is the scenario format's error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error("no person `{0}`")]
    /// The scenario names a person the world does not have.
    UnknownPerson(String),
    #[error("no phone `{0}`")]
    /// The scenario names a phone the registry does not know.
    UnknownPhone(String),
    #[error("person `{0}` exists already")]
    /// Two people with one id.
    DuplicatePerson(String),
    #[error("phone `{phone}` already holds the card of `{holder}` (Q17: one person per phone)")]
    /// Q17: the phone already holds another person's card.
    PhoneHoldsAnotherCard {
        /// The phone.
        phone: String,
        /// Whose card it holds.
        holder: String,
    },
    #[error("`{person}` is under 15 on {today} (born {birth_date}); Q17")]
    /// Q17: a card is added to a phone only from the holder's fifteenth birthday.
    Under15 {
        /// The person.
        person: String,
        /// Their birth date.
        birth_date: Date,
        /// The world's date.
        today: Date,
    },
    #[error("the card of `{0}` is revoked or expired; renew it at the municipal office first (Q18)")]
    /// Q18: the card is revoked or expired, so it cannot be added to a phone.
    CardNotValid(String),
    #[error("phone `{0}` holds no card")]
    /// A phone step on a phone that holds no card.
    NoCardOnPhone(String),
    #[error("phone `{0}` is suspended after a hotline call (Q20): `resume` it before adding the card again, or add the card to another phone")]
    /// Q20: a suspended phone takes no card until it is resumed.
    PhoneSuspended(String),
    #[error("phone `{phone}` was set up as `{os}`; a phone's OS does not change: give the other phone an id of its own")]
    /// A phone added again with the other OS.
    PhoneOsMismatch {
        /// The phone.
        phone: String,
        /// The OS it was set up with.
        os: DeviceKind,
    },
    #[error("the card-info PIN entered on the iPhone is not the card's (SETUP-2)")]
    /// SETUP-2: the card-info PIN typed on the iPhone is wrong.
    WrongCardInfoPin,
    #[error("phone `{0}` is already suspended")]
    /// Q20: the phone is suspended already.
    AlreadySuspended(String),
    #[error("phone `{0}` is not suspended")]
    /// Q20: `resume` of a phone that is not suspended.
    NotSuspended(String),
    #[error("phone `{0}` cannot be suspended: its certificate is revoked")]
    /// Q20: a revoked phone cannot be suspended.
    PhoneRevoked(String),
    #[error("cert_expires {0} is not after the world's date")]
    /// A renewal whose certificate would end before the world's date.
    ExpiryInPast(Date),
    #[error("PKI: {0}")]
    /// Issuing a certificate or CRL failed.
    Pki(String),
}

impl RegistryError {
    /// The scenario format's error code (`unknown_person`, `under_15`, ...).
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownPerson(_) => "unknown_person",
            Self::UnknownPhone(_) => "unknown_phone",
            Self::DuplicatePerson(_) => "duplicate_person",
            Self::PhoneHoldsAnotherCard { .. } => "phone_holds_another_card",
            Self::Under15 { .. } => "under_15",
            Self::CardNotValid(_) => "card_not_valid",
            Self::NoCardOnPhone(_) => "no_card_on_phone",
            Self::PhoneSuspended(_) => "phone_suspended",
            Self::PhoneOsMismatch { .. } => "phone_os_mismatch",
            Self::WrongCardInfoPin => "wrong_card_info_pin",
            Self::AlreadySuspended(_) => "already_suspended",
            Self::NotSuspended(_) => "not_suspended",
            Self::PhoneRevoked(_) => "phone_revoked",
            Self::ExpiryInPast(_) => "expiry_in_past",
            Self::Pki(_) => "pki_error",
        }
    }
}

impl From<PkiError> for RegistryError {
    fn from(error: PkiError) -> Self {
        Self::Pki(error.to_string())
    }
}

/// The eligibility answer's validity code (`QualificationValidity` of the clinic system's result
/// files, docs/protocol.md); the scenario format names them by `insurance.status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QualificationValidity {
    /// 1: valid.
    #[default]
    Valid,
    /// 2: invalid.
    Invalid,
    /// 3: invalid, and a newer qualification exists.
    Superseded,
    /// 4: no qualification (also what the insurer's lag after a change of job looks like).
    None,
    /// 5: several records match.
    Multiple,
}

impl QualificationValidity {
    /// Every validity code, in code order.
    pub const ALL: [QualificationValidity; 5] = [Self::Valid, Self::Invalid, Self::Superseded, Self::None, Self::Multiple];

    /// The code the public element carries (`"1"` to `"5"`).
    pub fn code(self) -> &'static str {
        match self {
            Self::Valid => "1",
            Self::Invalid => "2",
            Self::Superseded => "3",
            Self::None => "4",
            Self::Multiple => "5",
        }
    }
    /// The validity of a code (`"1"` to `"5"`).
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|validity| validity.code() == code)
    }
    /// The scenario format's `insurance.status` name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Valid => "valid",
            Self::Invalid => "invalid",
            Self::Superseded => "superseded",
            Self::None => "none",
            Self::Multiple => "multiple",
        }
    }
    /// The validity of a scenario `insurance.status` name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|validity| validity.name() == name)
    }
}

/// The co-payment ratios a record may carry, in per cent.
pub const COPAY_PERCENTS: [u8; 3] = [10, 20, 30];

/// An insurance-use registration (SETUP-1) and the eligibility answer behind it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InsuranceRecord {
    /// The person's id.
    pub person: String,
    /// The insurer number.
    pub insurer: String,
    /// The first day of the qualification.
    pub valid_from: Date,
    /// The last day of the qualification.
    pub valid_until: Date,
    /// The answer's validity code.
    pub validity: QualificationValidity,
    /// The co-payment ratio (`InsuredPartialContributionRatio`), in per cent.
    pub copay_percent: u8,
    /// The insured person's name as the insurer holds it (`Name`; contract 1.3), any Unicode:
    /// what the clinic's screen must show, code point for code point.
    pub name: Option<String>,
    /// The name in katakana (`NameKana`; contract 1.3).
    pub kana: Option<String>,
}

impl InsuranceRecord {
    /// A valid record with the usual 30 % co-payment.
    pub fn valid(person: &str, insurer: &str, valid_from: Date, valid_until: Date) -> Self {
        Self {
            person: person.into(),
            insurer: insurer.into(),
            valid_from,
            valid_until,
            validity: QualificationValidity::Valid,
            copay_percent: 30,
            name: None,
            kana: None,
        }
    }
}

/// What a person brings into the world.
#[derive(Debug, Clone)]
pub struct PersonSpec {
    /// The person's id (scenario `people[].id`).
    pub id: String,
    /// Birth date (age rules, Q17).
    pub birth_date: Date,
    /// The last day of the card's user-authentication certificate.
    pub card_cert_expires: Date,
    /// The card's user-authentication PIN.
    pub card_pin: String,
    /// The physical card's key; `None`: the card profile's (RSA-2048, as every card patients carry).
    pub card_key: Option<KeyAlgorithm>,
    /// The card-info input PIN (SETUP-2: typed when adding the card to an iPhone). `None`: the
    /// scenario does not say; the card's application takes `card_pin` and whatever the person
    /// types on an iPhone is taken to be right.
    pub card_info_pin: Option<String>,
    /// The 4-digit security code printed on the card (part of verification number B).
    pub security_code: String,
    /// The card's own expiry date printed on it; `None`: the certificate's.
    pub card_expires: Option<Date>,
    /// A forged or cloned card (scenario `card.forgery`, contract 1.2).
    pub card_forgery: Option<Forgery>,
    /// SETUP-1: the insurance-use registration is done.
    pub insurance_registered: bool,
    /// The insurer number.
    pub insurer: String,
    /// The first day of the qualification.
    pub insurance_valid_from: Date,
    /// The last day of the qualification.
    pub insurance_valid_until: Date,
    /// The eligibility answer's validity code (scenario `insurance.status`).
    pub insurance_status: QualificationValidity,
    /// The insurer's data reaches the system on this day; before it the answer is "no
    /// qualification" (scenario `insurance.arrives`).
    pub insurance_arrives: Option<Date>,
    /// The co-payment ratio in per cent (10, 20 or 30).
    pub copay_percent: u8,
    /// The card's first user-authentication certificate breaks the profile so (contract 1.3,
    /// `card.certificate`); a renewal's is the profile's.
    pub card_certificate_fault: Option<CertificateFault>,
    /// Which trusted authority issued the card's first certificate (contract 1.3,
    /// `card.generation`: 1 is the oldest); `None`: the newest, as every later certificate.
    pub card_ca_generation: Option<usize>,
    /// The name and its katakana the eligibility answer gives (contract 1.3,
    /// `insurance.name`, `insurance.kana`).
    pub insured_name: Option<String>,
    /// See `insured_name`.
    pub insured_kana: Option<String>,
}

/// How a phone's certificate is issued, beyond the phone itself (contract 1.3).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Issuance {
    /// A break of the user-authentication profile (`certificate:`).
    pub fault: Option<CertificateFault>,
    /// The issuing authority's generation (1 is the oldest); `None`: the newest.
    pub generation: Option<usize>,
}

impl PersonSpec {
    /// An adult with a valid card until 2030-05-12, PIN 1234, registered for insurance with
    /// insurer 06132013 until 2027-03-31: the usual cast of tests and benches.
    pub fn example(id: &str) -> Self {
        let date = |year, month, day| Date::from_calendar_date(year, month, day).unwrap_or(Date::MIN);
        Self {
            id: id.to_owned(),
            birth_date: date(1990, time::Month::May, 12),
            card_cert_expires: date(2030, time::Month::May, 12),
            card_pin: "1234".into(),
            card_key: None,
            card_info_pin: None,
            security_code: "0000".into(),
            card_expires: None,
            card_forgery: None,
            insurance_registered: true,
            insurer: "06132013".into(),
            insurance_valid_from: date(2020, time::Month::January, 1),
            insurance_valid_until: date(2027, time::Month::March, 31),
            insurance_status: QualificationValidity::Valid,
            insurance_arrives: None,
            copay_percent: 30,
            card_certificate_fault: None,
            card_ca_generation: None,
            insured_name: None,
            insured_kana: None,
        }
    }
}

#[derive(Debug)]
struct Person {
    birth_date: Date,
    card_serial: u64,
    card_expires: OffsetDateTime,
    card_revoked: bool,
    card_generation: u32,
    /// The profile break of the card's next certificate (the first one only, contract 1.3).
    card_certificate_fault: Option<CertificateFault>,
    /// The authority (index into the generations) issuing the card's next certificate.
    card_issuer: usize,
    card_pin: String,
    card_key: KeyAlgorithm,
    card_info_pin: Option<String>,
    printed: Printed,
    insurance_registered: bool,
    record: InsuranceRecord,
    insurance_arrives: Option<Date>,
    /// The phone currently holding this person's card (Q19: at most one).
    phone: Option<String>,
}

#[derive(Debug)]
struct Phone {
    os: DeviceKind,
    /// The person whose card the phone holds; `None` after `remove_phone`. A phone superseded
    /// by another (Q19) keeps the dead card until it is removed, as the real app does.
    holder: Option<String>,
    serial: u64,
    generation: u32,
}

/// The CRL as a distribution point hands it out: its number tells a terminal whether its cached
/// copy is current without parsing the DER again.
#[derive(Debug, Clone)]
pub struct CrlSnapshot {
    /// The CRL number (it grows with every change).
    pub number: u64,
    /// The CRL's DER.
    pub der: Arc<[u8]>,
}

/// Why a back-end service gave no answer the terminal may trust. A terminal fails closed on
/// every one of them (reason `service_unavailable`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    /// Connection refused, HTTP 5xx, or no answer at all.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// An answer that is not what the service promises (not a record, not a CRL).
    #[error("malformed answer: {0}")]
    Malformed(String),
    /// The answer did not come within the terminal's back-end timeout.
    #[error("no answer within {ms} ms")]
    /// The back end did not answer within the timeout.
    TimedOut {
        /// The timeout that passed, in milliseconds.
        ms: u64,
    },
}

/// Whether the eligibility service knows a certificate's holder.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EligibilityError {
    #[error("no insurance-use registration for this certificate (SETUP-1)")]
    /// SETUP-1 was not done for this certificate's holder.
    NotRegistered,
    #[error("eligibility service {0}")]
    /// The service gave no answer the terminal may trust.
    Service(ServiceError),
}

/// The certificate authority's registry and the eligibility service, with one clock: the world's.
pub struct Registry {
    seed: u64,
    /// The trusted authorities of one name, oldest first; the last one issues today.
    cas: Vec<CertificateAuthority>,
    /// Which authority issued each serial (absent: the newest).
    issuer_of: HashMap<u64, usize>,
    forged_ca: Option<CertificateAuthority>,
    people: BTreeMap<String, Person>,
    phones: BTreeMap<String, Phone>,
    /// Serial -> holder, for the eligibility service (every certificate ever issued).
    holders: HashMap<u64, String>,
    revoked: BTreeMap<u64, CrlEntry>,
    serials: ChaCha20Rng,
    /// The next RSA pool slot a device key takes (see [`rsa_pool`]).
    next_rsa_slot: usize,
    /// The current CRL's number and thisUpdate; its bytes are signed when first asked for
    /// (`crl`): most CRLs a registry issues (one per revocation, one per lapsed minute) are
    /// never fetched, and signing one is most of what a revocation costs.
    crl_number: u64,
    crl_this_update: OffsetDateTime,
    /// Each authority's current CRL, signed when first asked for.
    crls: Vec<std::sync::OnceLock<CrlSnapshot>>,
    /// The current CRL's nextUpdate: past it the CA issues the next one (see `keep_crl_fresh`).
    crl_next_update: OffsetDateTime,
    /// Every change to the CRL, with the reason, for people reading a report (removeFromCRL too).
    crl_log: Vec<(u64, OffsetDateTime, &'static str)>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("people", &self.people.len())
            .field("phones", &self.phones.len())
            .field("revoked", &self.revoked.len())
            .field("crl_number", &self.crl_number)
            .finish()
    }
}

/// How long before the world's time a certificate's validity starts.
const ISSUE_BACKDATE: Duration = Duration::hours(1);
/// A JPKI user-authentication certificate runs to the fifth birthday after its issuance.
const AUTH_CERTIFICATE_YEARS: i32 = 5;

/// When a certificate ending at `not_after` and issued into a world at `now` starts.
///
/// An hour before the world's time, where that still starts before `not_after`: the usual case,
/// a certificate issued as the world begins or as a step adds a phone. A world may begin after a
/// card's certificate has ended (a card in its grace, or expired), and no authority issues a
/// certificate that ends before it starts: such a certificate was issued on the same date
/// five years before its last day, at 00:00 JST, as a card renewed on a
/// birthday runs to the fifth birthday after. Never before the Unix epoch (where X.509 times
/// written from Unix time begin, and the world's clock with them). The result is before
/// `not_after` whenever `not_after` is after the epoch; [`crate::pki`] refuses any other.
pub fn issue_start(now: OffsetDateTime, not_after: OffsetDateTime) -> OffsetDateTime {
    let backdated = (now - ISSUE_BACKDATE).max(OffsetDateTime::UNIX_EPOCH);
    if backdated < not_after {
        return backdated;
    }
    let issued_on = clock::add_years(clock::local_date(not_after), -AUTH_CERTIFICATE_YEARS);
    time::PrimitiveDateTime::new(issued_on, time::Time::MIDNIGHT).assume_offset(clock::JST).to_offset(time::UtcOffset::UTC).max(OffsetDateTime::UNIX_EPOCH)
}
/// How long a CRL is current (thisUpdate to nextUpdate). Short, so a terminal that keeps a CRL
/// across a clock change must fetch again; the registry issues the next one when it lapses.
pub const CRL_LIFETIME: Duration = Duration::minutes(1);

impl Registry {
    /// A registry whose CA (and forger) sign with `ca_key`.
    pub fn new(seed: u64, now: OffsetDateTime, ca_key: KeyAlgorithm) -> Result<Self, RegistryError> {
        Self::with_generations(seed, now, &[ca_key])
    }

    /// A registry whose trusted authorities are generations of one name with keys of `keys`
    /// (oldest first; contract 1.3 `world.ca_generations`). The newest issues every certificate a
    /// step asks for; each authority signs its own CRL, listing its own certificates.
    pub fn with_generations(seed: u64, now: OffsetDateTime, keys: &[KeyAlgorithm]) -> Result<Self, RegistryError> {
        let cas =
            keys.iter().enumerate().map(|(index, key)| CertificateAuthority::generation(seed, *key, index + 1, keys.len())).collect::<Result<Vec<_>, _>>()?;
        if cas.is_empty() {
            return Err(RegistryError::Pki("a registry needs at least one authority".into()));
        }
        Ok(Self {
            seed,
            crls: cas.iter().map(|_| std::sync::OnceLock::new()).collect(),
            cas,
            issuer_of: HashMap::new(),
            forged_ca: None,
            people: BTreeMap::new(),
            phones: BTreeMap::new(),
            holders: HashMap::new(),
            revoked: BTreeMap::new(),
            serials: derive_rng(seed, "serials"),
            next_rsa_slot: rsa_pool::FIRST_DEVICE_SLOT,
            crl_number: 1,
            crl_this_update: now,
            crl_next_update: now + CRL_LIFETIME,
            crl_log: Vec::new(),
        })
    }

    /// Every authority's certificate without cRLSign (contract 1.3 `world.crl_sign: false`): the
    /// same keys sign every certificate and CRL, but no relying party may trust such a CRL. Call
    /// it before the first certificate is issued (devices carry their issuer's certificate).
    pub fn withhold_crl_sign(&mut self) -> Result<(), RegistryError> {
        self.cas = self.cas.iter().map(CertificateAuthority::without_crl_sign).collect::<Result<Vec<_>, _>>()?;
        self.crls = self.cas.iter().map(|_| std::sync::OnceLock::new()).collect();
        Ok(())
    }

    /// The registry's certificate authority: the newest generation, which issues today.
    pub fn ca(&self) -> &CertificateAuthority {
        self.cas.last().unwrap_or_else(|| unreachable!("a registry has at least one authority"))
    }
    /// Every trusted authority, oldest first (one unless the world has generations).
    pub fn cas(&self) -> &[CertificateAuthority] {
        &self.cas
    }
    /// Which authority (index into [`Registry::cas`]) issued a serial.
    pub fn issuer_of(&self, serial: u64) -> usize {
        self.issuer_of.get(&serial).copied().unwrap_or(self.cas.len() - 1)
    }
    /// The newest authority's current CRL.
    pub fn crl(&self) -> CrlSnapshot {
        self.crl_of(self.cas.len() - 1)
    }
    /// The current CRL of authority `issuer` (index into [`Registry::cas`]; past the end: the
    /// newest), signed on first use. Signing cannot fail for a CA this registry built (its key
    /// signed a certificate already); if it ever did, the snapshot is empty and a terminal fails
    /// closed on it (`service_unavailable`).
    pub fn crl_of(&self, issuer: usize) -> CrlSnapshot {
        let issuer = issuer.min(self.cas.len() - 1);
        let Some(cell) = self.crls.get(issuer) else { return CrlSnapshot { number: self.crl_number, der: Vec::new().into() } };
        cell.get_or_init(|| {
            let der = self.issuer_crl(issuer, self.crl_this_update, self.crl_this_update + CRL_LIFETIME).unwrap_or_default();
            CrlSnapshot { number: self.crl_number, der: der.into() }
        })
        .clone()
    }
    fn entries_of(&self, issuer: usize) -> Vec<CrlEntry> {
        self.revoked.values().filter(|entry| self.issuer_of(entry.serial) == issuer).cloned().collect()
    }
    fn issuer_crl(&self, issuer: usize, this_update: OffsetDateTime, next_update: OffsetDateTime) -> Result<Vec<u8>, PkiError> {
        let ca = self.cas.get(issuer).unwrap_or_else(|| self.ca());
        ca.issue_crl(self.crl_number, this_update, next_update, &self.entries_of(issuer))
    }

    /// Authority `issuer`'s current CRL broken as `defect` says (contract 1.3 back-end faults):
    /// for [`CrlDefect::OtherKey`] signed by the next generation's key (the previous one's for the
    /// newest), or the forger's where the world trusts one authority.
    pub fn defective_crl(&self, issuer: usize, defect: CrlDefect) -> Result<CrlSnapshot, RegistryError> {
        let issuer = issuer.min(self.cas.len() - 1);
        let ca = self.cas.get(issuer).unwrap_or_else(|| self.ca());
        let forger;
        let signer = match defect {
            CrlDefect::OtherKey if self.cas.len() > 1 => {
                self.cas.get(if issuer + 1 < self.cas.len() { issuer + 1 } else { issuer.saturating_sub(1) }).unwrap_or(ca)
            }
            CrlDefect::OtherKey => {
                forger = CertificateAuthority::forged(self.seed, self.ca().algorithm())?;
                &forger
            }
            _ => ca,
        };
        let times = (self.crl_number, self.crl_this_update, self.crl_this_update + CRL_LIFETIME);
        let der = ca.issue_defective_crl(times, &self.entries_of(issuer), defect, signer)?;
        Ok(CrlSnapshot { number: self.crl_number, der: der.into() })
    }

    /// How many certificates are on the CRL (every generation's).
    pub fn revoked_count(&self) -> usize {
        self.revoked.len()
    }

    /// The current entries signed with any validity window, under the current CRL number (for
    /// distribution points that serve a CRL issued at another time, e.g. a stale cached copy).
    pub fn crl_issued(&self, issuer: usize, this_update: OffsetDateTime, next_update: OffsetDateTime) -> Result<Vec<u8>, RegistryError> {
        Ok(self.issuer_crl(issuer.min(self.cas.len() - 1), this_update, next_update)?)
    }

    /// Issues the next CRL when the current one has lapsed at `now`, as a CA does on schedule,
    /// so the distribution point always hands out a current list.
    pub fn keep_crl_fresh(&mut self, now: OffsetDateTime) -> Result<(), RegistryError> {
        if now > self.crl_next_update { self.reissue_crl(now) } else { Ok(()) }
    }

    /// Pool slots for a credential's two keys (used only when they are RSA).
    fn rsa_slots(&mut self, key: KeyAlgorithm) -> [usize; 2] {
        let first = self.next_rsa_slot;
        if key == KeyAlgorithm::Rsa2048 {
            self.next_rsa_slot += 2;
        }
        [first, first + 1]
    }

    fn new_serial(&mut self) -> u64 {
        loop {
            // Positive 63-bit serials with the top byte set, so they print at full width.
            let serial = (self.serials.next_u64() & 0x7FFF_FFFF_FFFF_FFFF) | 0x0100_0000_0000_0000;
            if !self.holders.contains_key(&serial) {
                return serial;
            }
        }
    }

    /// The next CRL: a new number at `now` over the entries as they are (every change to
    /// `revoked` ends here, so the entries cannot change before it is signed).
    fn reissue_crl(&mut self, now: OffsetDateTime) -> Result<(), RegistryError> {
        self.crl_number += 1;
        self.crl_this_update = now;
        self.crls = self.cas.iter().map(|_| std::sync::OnceLock::new()).collect();
        self.crl_next_update = now + CRL_LIFETIME;
        Ok(())
    }

    fn revoke(&mut self, serial: u64, reason: RevocationReason, now: OffsetDateTime) {
        let stays_revoked = self.revoked.get(&serial).is_some_and(|entry| entry.reason != RevocationReason::CertificateHold);
        if !stays_revoked {
            self.revoked.insert(serial, CrlEntry { serial, revoked_at: now, reason });
            self.crl_log.push((serial, now, reason.name()));
        }
    }

    /// Issues the person's physical card certificates; returns the card's credential.
    pub fn add_person(&mut self, spec: &PersonSpec, now: OffsetDateTime) -> Result<CardCredential, RegistryError> {
        if self.people.contains_key(&spec.id) {
            return Err(RegistryError::DuplicatePerson(spec.id.clone()));
        }
        let card_expires = clock::end_of_day(spec.card_cert_expires);
        let record = InsuranceRecord {
            validity: spec.insurance_status,
            copay_percent: spec.copay_percent,
            name: spec.insured_name.clone(),
            kana: spec.insured_kana.clone(),
            ..InsuranceRecord::valid(&spec.id, &spec.insurer, spec.insurance_valid_from, spec.insurance_valid_until)
        };
        let serial = self.new_serial();
        self.people.insert(
            spec.id.clone(),
            Person {
                birth_date: spec.birth_date,
                card_serial: serial,
                card_expires,
                card_revoked: false,
                card_generation: 0,
                card_certificate_fault: spec.card_certificate_fault,
                card_issuer: self.generation_index(spec.card_ca_generation)?,
                card_pin: spec.card_pin.clone(),
                card_key: spec.card_key.unwrap_or(KeyAlgorithm::Rsa2048),
                card_info_pin: spec.card_info_pin.clone(),
                printed: Printed {
                    security_code: spec.security_code.clone(),
                    expires: clock::yyyymmdd(spec.card_expires.unwrap_or(spec.card_cert_expires)),
                    forgery: spec.card_forgery,
                },
                insurance_registered: spec.insurance_registered,
                record,
                insurance_arrives: spec.insurance_arrives,
                phone: None,
            },
        );
        self.issue_card(&spec.id, serial, now)
    }

    fn issue_card(&mut self, person_id: &str, serial: u64, now: OffsetDateTime) -> Result<CardCredential, RegistryError> {
        let sign_serial = self.new_serial();
        let card_key = self.people.get(person_id).ok_or_else(|| RegistryError::UnknownPerson(person_id.into()))?.card_key;
        let rsa_slots = self.rsa_slots(card_key);
        let person = self.people.get(person_id).ok_or_else(|| RegistryError::UnknownPerson(person_id.into()))?;
        let key_label = format!("card:{person_id}:{}", person.card_generation);
        let request = IssueRequest {
            key_label: &key_label,
            key: card_key,
            rsa_slots,
            holder: person_id,
            device: DeviceKind::Card,
            auth_serial: serial,
            sign_serial,
            not_before: issue_start(now, person.card_expires),
            not_after: person.card_expires,
            auth_pin: &person.card_pin,
            sign_password: "ABC123",
            card_info_pin: person.card_info_pin.as_deref().unwrap_or(&person.card_pin),
            holder_info: holder_info(person_id, person.birth_date),
            printed: Some(person.printed.clone()),
            auth_fault: person.card_certificate_fault,
        };
        let issuer = person.card_issuer;
        let ca = self.cas.get(issuer).ok_or_else(|| RegistryError::Pki(format!("no authority of generation {}", issuer + 1)))?;
        let credential = credential::issue(ca, ca.certificate_der(), self.seed, &request)?;
        let newest = self.cas.len() - 1;
        if let Some(person) = self.people.get_mut(person_id) {
            // The first certificate only: renewals are the newest authority's, of the profile.
            person.card_certificate_fault = None;
            person.card_issuer = newest;
        }
        self.issuer_of.insert(serial, issuer);
        self.issuer_of.insert(sign_serial, issuer);
        self.holders.insert(serial, person_id.to_owned());
        self.holders.insert(sign_serial, person_id.to_owned());
        Ok(credential)
    }

    /// SETUP-2 and Q17/Q18/Q19: adds the person's card to a phone and returns the phone's new
    /// credential. Any other phone of that person is revoked (superseded). `card_info_pin` is
    /// what the person typed on an iPhone (SETUP-2; `None`: the right one).
    #[allow(clippy::too_many_arguments)]
    pub fn add_phone(
        &mut self,
        person_id: &str,
        phone_id: &str,
        os: DeviceKind,
        key: KeyAlgorithm,
        phone_pin: &str,
        card_info_pin: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<CardCredential, RegistryError> {
        self.add_phone_with(person_id, phone_id, (os, key), phone_pin, card_info_pin, now, Issuance::default())
    }

    /// [`Registry::add_phone`], the phone's certificate issued as `issuance` says (contract 1.3:
    /// a profile fault, an older generation of the authority).
    #[allow(clippy::too_many_arguments)]
    pub fn add_phone_with(
        &mut self,
        person_id: &str,
        phone_id: &str,
        (os, key): (DeviceKind, KeyAlgorithm),
        phone_pin: &str,
        card_info_pin: Option<&str>,
        now: OffsetDateTime,
        issuance: Issuance,
    ) -> Result<CardCredential, RegistryError> {
        let person = self.people.get(person_id).ok_or_else(|| RegistryError::UnknownPerson(person_id.into()))?;
        if let Some(phone) = self.phones.get(phone_id) {
            if let Some(holder) = &phone.holder
                && holder != person_id
            {
                return Err(RegistryError::PhoneHoldsAnotherCard { phone: phone_id.into(), holder: holder.clone() });
            }
            if phone.os != os {
                return Err(RegistryError::PhoneOsMismatch { phone: phone_id.into(), os: phone.os });
            }
            if self.revocation_of(phone.serial) == Some(RevocationReason::CertificateHold) {
                return Err(RegistryError::PhoneSuspended(phone_id.into()));
            }
        }
        if os == DeviceKind::Iphone
            && let Some(typed) = card_info_pin
            && (!is_four_digits(typed) || person.card_info_pin.as_deref().is_some_and(|pin| pin != typed))
        {
            return Err(RegistryError::WrongCardInfoPin);
        }
        let today = clock::local_date(now);
        if clock::first_day_of_age(person.birth_date, 15) > today {
            return Err(RegistryError::Under15 { person: person_id.into(), birth_date: person.birth_date, today });
        }
        if person.card_revoked || !clock::valid_through(person.card_expires, now) {
            return Err(RegistryError::CardNotValid(person_id.into()));
        }
        let (card_expires, birth_date, previous) = (person.card_expires, person.birth_date, person.phone.clone());
        // Q19: the card lives on one phone at a time; the old phone keeps the dead card.
        if let Some(previous) = previous.filter(|previous| previous != phone_id)
            && let Some(serial) = self.phones.get(&previous).map(|old| old.serial)
        {
            self.revoke(serial, RevocationReason::Superseded, now);
        }
        if let Some(existing) = self.phones.get(phone_id) {
            let serial = existing.serial;
            self.revoke(serial, RevocationReason::Superseded, now);
        }
        let generation = self.phones.get(phone_id).map_or(0, |phone| phone.generation + 1);
        let (credential, serial) = self.issue_phone_credential(
            (false, issuance),
            person_id,
            &format!("phone:{phone_id}:{generation}"),
            (os, key),
            phone_pin,
            (card_expires, birth_date),
            now,
        )?;
        self.phones.insert(phone_id.to_owned(), Phone { os, holder: Some(person_id.to_owned()), serial, generation });
        if let Some(person) = self.people.get_mut(person_id) {
            person.phone = Some(phone_id.to_owned());
        }
        self.reissue_crl(now)?;
        Ok(credential)
    }

    /// A credential from a CA with the trusted CA's name but another key (`forged: true`). The
    /// registry does not know it: it revokes nothing and is never eligible.
    pub fn issue_forged(
        &mut self,
        person_id: &str,
        phone_id: &str,
        (os, key): (DeviceKind, KeyAlgorithm),
        phone_pin: &str,
        now: OffsetDateTime,
        certificate: Option<CertificateFault>,
    ) -> Result<CardCredential, RegistryError> {
        let person = self.people.get(person_id).ok_or_else(|| RegistryError::UnknownPerson(person_id.into()))?;
        let (card_expires, birth_date) = (person.card_expires, person.birth_date);
        if self.forged_ca.is_none() {
            self.forged_ca = Some(CertificateAuthority::forged(self.seed, self.ca().algorithm())?);
        }
        let (credential, _) = self.issue_phone_credential(
            (true, Issuance { fault: certificate, generation: None }),
            person_id,
            &format!("forged:{phone_id}"),
            (os, key),
            phone_pin,
            (card_expires, birth_date),
            now,
        )?;
        Ok(credential)
    }

    /// Issues a phone's certificates, valid until the card's expiry (Q18), from the trusted CA
    /// (registered for eligibility) or from the forger. Returns the credential and its auth serial.
    #[allow(clippy::too_many_arguments)]
    fn issue_phone_credential(
        &mut self,
        (forged, issuance): (bool, Issuance),
        person_id: &str,
        key_label: &str,
        (os, key): (DeviceKind, KeyAlgorithm),
        phone_pin: &str,
        (card_expires, birth_date): (OffsetDateTime, Date),
        now: OffsetDateTime,
    ) -> Result<(CardCredential, u64), RegistryError> {
        let serial = self.new_serial();
        let sign_serial = self.new_serial();
        let rsa_slots = self.rsa_slots(key);
        let request = IssueRequest {
            key_label,
            key,
            rsa_slots,
            holder: person_id,
            device: os,
            auth_serial: serial,
            sign_serial,
            not_before: issue_start(now, card_expires),
            not_after: card_expires,
            auth_pin: phone_pin,
            sign_password: "ABC123",
            card_info_pin: phone_pin,
            holder_info: holder_info(person_id, birth_date),
            printed: None,
            auth_fault: issuance.fault,
        };
        let issuer = self.generation_index(issuance.generation)?;
        let ca = match (forged, self.cas.get(issuer)) {
            (true, _) => self.forged_ca.as_ref().ok_or_else(|| RegistryError::Pki("forged CA missing".into()))?,
            (false, Some(ca)) => ca,
            (false, None) => return Err(RegistryError::Pki(format!("no authority of generation {}", issuer + 1))),
        };
        let credential = credential::issue(ca, ca.certificate_der(), self.seed, &request)?;
        if !forged {
            self.issuer_of.insert(serial, issuer);
            self.issuer_of.insert(sign_serial, issuer);
            self.holders.insert(serial, person_id.to_owned());
            self.holders.insert(sign_serial, person_id.to_owned());
        }
        Ok((credential, serial))
    }

    /// The index of generation `number` (1 is the oldest; `None`: the newest).
    fn generation_index(&self, number: Option<usize>) -> Result<usize, RegistryError> {
        match number {
            None => Ok(self.cas.len() - 1),
            Some(number) if (1..=self.cas.len()).contains(&number) => Ok(number - 1),
            Some(number) => Err(RegistryError::Pki(format!("no authority of generation {number}: the world trusts {}", self.cas.len()))),
        }
    }

    fn active_phone(&self, phone_id: &str) -> Result<(&Phone, String), RegistryError> {
        let phone = self.phones.get(phone_id).ok_or_else(|| RegistryError::UnknownPhone(phone_id.into()))?;
        let holder = phone.holder.clone().ok_or_else(|| RegistryError::NoCardOnPhone(phone_id.into()))?;
        Ok((phone, holder))
    }

    /// Q19: the person deletes the card from the phone; its certificate is revoked. A phone
    /// whose card was superseded or invalidated can be cleared too (its revocation stands).
    pub fn remove_phone(&mut self, phone_id: &str, now: OffsetDateTime) -> Result<(), RegistryError> {
        let (phone, holder) = self.active_phone(phone_id)?;
        let serial = phone.serial;
        // A suspended phone that is deleted is revoked for good.
        if self.revocation_of(serial) == Some(RevocationReason::CertificateHold) {
            self.revoked.remove(&serial);
        }
        self.revoke(serial, RevocationReason::CessationOfOperation, now);
        if let Some(phone) = self.phones.get_mut(phone_id) {
            phone.holder = None;
        }
        if let Some(person) = self.people.get_mut(&holder)
            && person.phone.as_deref() == Some(phone_id)
        {
            person.phone = None;
        }
        self.reissue_crl(now)
    }

    /// Q20: the hotline suspends the phone at once (certificateHold).
    pub fn report_lost(&mut self, phone_id: &str, now: OffsetDateTime) -> Result<(), RegistryError> {
        let (phone, _) = self.active_phone(phone_id)?;
        let serial = phone.serial;
        match self.revoked.get(&serial).map(|entry| entry.reason) {
            Some(RevocationReason::CertificateHold) => return Err(RegistryError::AlreadySuspended(phone_id.into())),
            Some(_) => return Err(RegistryError::PhoneRevoked(phone_id.into())),
            None => {}
        }
        self.revoke(serial, RevocationReason::CertificateHold, now);
        self.reissue_crl(now)
    }

    /// Q20: lifts a suspension. The full CRL simply drops the entry (RFC 5280 keeps the
    /// removeFromCRL reason for delta CRLs); the log records it as removeFromCRL.
    pub fn resume(&mut self, phone_id: &str, now: OffsetDateTime) -> Result<(), RegistryError> {
        let phone = self.phones.get(phone_id).ok_or_else(|| RegistryError::UnknownPhone(phone_id.into()))?;
        let serial = phone.serial;
        match self.revoked.get(&serial).map(|entry| entry.reason) {
            Some(RevocationReason::CertificateHold) => {}
            _ => return Err(RegistryError::NotSuspended(phone_id.into())),
        }
        self.revoked.remove(&serial);
        self.crl_log.push((serial, now, "removeFromCRL"));
        self.reissue_crl(now)
    }

    /// Q18: the card (or its certificate) is revoked; every phone of the person goes with it.
    pub fn revoke_card(&mut self, person_id: &str, now: OffsetDateTime) -> Result<(), RegistryError> {
        let person = self.people.get_mut(person_id).ok_or_else(|| RegistryError::UnknownPerson(person_id.into()))?;
        person.card_revoked = true;
        let card_serial = person.card_serial;
        self.revoke(card_serial, RevocationReason::KeyCompromise, now);
        self.invalidate_phones(person_id, RevocationReason::CessationOfOperation, now);
        self.reissue_crl(now)
    }

    /// Q18: new card certificates at the municipal office; phones must add the card again.
    /// Returns the physical card's new credential.
    pub fn renew_card(&mut self, person_id: &str, cert_expires: Date, now: OffsetDateTime) -> Result<CardCredential, RegistryError> {
        if cert_expires <= clock::local_date(now) {
            return Err(RegistryError::ExpiryInPast(cert_expires));
        }
        let person = self.people.get_mut(person_id).ok_or_else(|| RegistryError::UnknownPerson(person_id.into()))?;
        let old_serial = person.card_serial;
        person.card_revoked = false;
        person.card_expires = clock::end_of_day(cert_expires);
        person.card_generation += 1;
        self.revoke(old_serial, RevocationReason::Superseded, now);
        self.invalidate_phones(person_id, RevocationReason::Superseded, now);
        let serial = self.new_serial();
        if let Some(person) = self.people.get_mut(person_id) {
            person.card_serial = serial;
        }
        let credential = self.issue_card(person_id, serial, now)?;
        self.reissue_crl(now)?;
        Ok(credential)
    }

    /// Revokes the certificates of every phone holding this person's card. The phones keep
    /// holding the (now useless) card until it is added again, as the real ones do.
    fn invalidate_phones(&mut self, person_id: &str, reason: RevocationReason, now: OffsetDateTime) {
        let serials: Vec<u64> = self.phones.values().filter(|phone| phone.holder.as_deref() == Some(person_id)).map(|phone| phone.serial).collect();
        for serial in serials {
            // A suspension becomes a revocation.
            if self.revoked.get(&serial).is_some_and(|entry| entry.reason == RevocationReason::CertificateHold) {
                self.revoked.remove(&serial);
            }
            self.revoke(serial, reason, now);
        }
    }

    /// SETUP-1.
    pub fn register_insurance(&mut self, person_id: &str) -> Result<(), RegistryError> {
        let person = self.people.get_mut(person_id).ok_or_else(|| RegistryError::UnknownPerson(person_id.into()))?;
        person.insurance_registered = true;
        Ok(())
    }

    /// The eligibility service on `today` (JST): certificate serial -> the holder's answer.
    /// Validity dates are the caller's to judge (a terminal compares them with the world's date);
    /// before the insurer's data arrives the answer is "no qualification".
    pub fn eligibility(&self, serial: u64, today: Date) -> Result<InsuranceRecord, EligibilityError> {
        let person = self.holders.get(&serial).and_then(|holder| self.people.get(holder)).ok_or(EligibilityError::NotRegistered)?;
        if !person.insurance_registered {
            return Err(EligibilityError::NotRegistered);
        }
        let mut record = person.record.clone();
        if person.insurance_arrives.is_some_and(|arrives| today < arrives) {
            record.validity = QualificationValidity::None;
        }
        Ok(record)
    }

    /// Every certificate serial the eligibility service would answer for on `today`, with its
    /// answer (for serving the service outside the process).
    pub fn eligibility_table(&self, today: Date) -> HashMap<u64, InsuranceRecord> {
        self.holders.keys().filter_map(|serial| self.eligibility(*serial, today).ok().map(|record| (*serial, record))).collect()
    }

    /// Test and report helpers: the phone a person's card is on, and a phone's current serial.
    pub fn phone_of(&self, person_id: &str) -> Option<&str> {
        self.people.get(person_id).and_then(|person| person.phone.as_deref())
    }
    /// A phone's current user-authentication serial.
    pub fn phone_serial(&self, phone_id: &str) -> Option<u64> {
        self.phones.get(phone_id).map(|phone| phone.serial)
    }
    /// The OS a phone was set up with.
    pub fn phone_os(&self, phone_id: &str) -> Option<DeviceKind> {
        self.phones.get(phone_id).map(|phone| phone.os)
    }
    /// Why a serial is on the CRL, if it is.
    pub fn revocation_of(&self, serial: u64) -> Option<RevocationReason> {
        self.revoked.get(&serial).map(|entry| entry.reason)
    }
    /// Every CRL number issued, when, and why.
    pub fn crl_log(&self) -> &[(u64, OffsetDateTime, &'static str)] {
        &self.crl_log
    }

    /// Bench helper: fills the CRL with `count` unrelated revoked serials.
    pub fn add_unrelated_revocations(&mut self, count: usize, now: OffsetDateTime) -> Result<(), RegistryError> {
        for _ in 0..count {
            let serial = self.new_serial();
            self.holders.insert(serial, String::new());
            self.revoked.insert(serial, CrlEntry { serial, revoked_at: now, reason: RevocationReason::KeyCompromise });
        }
        self.reissue_crl(now)
    }
}

fn is_four_digits(pin: &str) -> bool {
    pin.len() == 4 && pin.bytes().all(|b| b.is_ascii_digit())
}

fn holder_info(person_id: &str, birth_date: Date) -> HolderInfo {
    HolderInfo {
        name: person_id.to_owned(),
        address: "東京都千代田区霞が関1-2-2".into(),
        birth_date: clock::yyyymmdd(birth_date),
        sex: "9".into(),
        my_number: "123456789018".into(),
    }
}
