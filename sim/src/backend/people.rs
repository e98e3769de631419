//! What a person and their phones bring into the world (`world.people` in a scenario).

use super::*;

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
