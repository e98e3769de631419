//! The back ends: the certificate registry (people, cards, phones, the CRL) and the eligibility
//! service (certificate -> insurance record). In-process; the world's time is passed in.

use std::collections::{BTreeMap, HashMap};

use rand::Rng;
use rand_chacha::ChaCha20Rng;
use time::{Date, Duration, OffsetDateTime};

use crate::card::surface::Forgery;
use crate::card::{CardCredential, HolderInfo};
use crate::clock;
use crate::credential::{self, IssueRequest, Printed};
use crate::pki::{CertificateAuthority, CertificateFault, CrlDefect, CrlEntry, KeyAlgorithm, PkiError, RevocationReason, derive_rng, rsa_pool};
use crate::profile::DeviceKind;

mod devices;
mod errors;
mod people;
mod revocation;

pub use errors::RegistryError;
pub use people::{Issuance, PersonSpec};
// What the registry answers is defined with the other messages, for the terminal to read
// without importing the back end's simulator; re-exported here, where users look for it.
pub use crate::messages::answers::{COPAY_PERCENTS, CrlSnapshot, EligibilityError, InsuranceRecord, QualificationValidity, ServiceError};

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
