//! Whole generated lives: several people, cards and phones of every key kind, CRLs from empty to
//! thousands of entries, device and back-end faults, and clocks at day, month and year edges;
//! limited to what a contract version defines. Shrinking (proptest's) takes steps and people
//! away, the CRL towards empty, faults and taps towards the plain.

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use time::{Date, Duration, Month, OffsetDateTime, Time};

use crate::backend::QualificationValidity;
use crate::card::surface::Forgery;
use crate::clock;
use crate::contract::Contract;
use crate::life::{Advance, ForgedPhone, Life, PEOPLE, PHONES, PersonLife, PinTyped, Step, TapFault, TapHow};
use crate::pki::{CertificateFault, KeyAlgorithm};
use crate::profile::DeviceKind;

/// Most steps of a life.
pub const MAX_STEPS: usize = 60;

/// A whole life generated for `contract`: nothing it uses was added by a later version.
///
/// Every part is drawn independently (people's dates are offsets from the start), so shrinking
/// one part never redraws another.
pub fn life(contract: Contract) -> impl Strategy<Value = Life> {
    let keys = contract >= Contract::V1_1;
    let ca_key = if keys { key().boxed() } else { Just(KeyAlgorithm::Rsa2048).boxed() };
    let revoked_elsewhere = prop_oneof![5 => Just(0u32), 2 => 1u32..60, 1 => 60u32..3000];
    let smartphone = prop_oneof![9 => Just(true), 1 => Just(false)];
    let people = vec(person(contract), 1..=PEOPLE.len());
    let steps = vec(step(contract), 1..MAX_STEPS);
    // 1.3: one life in four trusts two or three generations of the authority. Older contracts
    // draw nothing here, so their lives are what they were.
    let generations = if contract >= Contract::V1_3 { prop_oneof![3 => Just(Vec::new()), 1 => vec(key(), 2..=3)].boxed() } else { Just(Vec::new()).boxed() };
    ((clock_at_an_edge(), ca_key, revoked_elsewhere, smartphone, people, forged_phone(contract), steps), generations).prop_map(
        move |((clock, ca_key, revoked_elsewhere, smartphone, people, forged_phone, steps), ca_generations)| {
            let today = clock.to_offset(clock::JST).date();
            let mut people: Vec<PersonLife> = people.into_iter().map(|person| person.on(today)).collect();
            for person in &mut people {
                person.generation = person.generation.filter(|generation| *generation <= ca_generations.len());
            }
            let forged_phone = forged_phone.filter(|forged: &ForgedPhone| forged.person < people.len());
            let ca_key = ca_generations.last().copied().unwrap_or(ca_key);
            Life { contract, clock, ca_key, ca_generations, revoked_elsewhere, smartphone, people, forged_phone, steps }
        },
    )
}

/// A phone from a forger's CA in one life of five, claiming one of the people's cards.
fn forged_phone(contract: Contract) -> impl Strategy<Value = Option<ForgedPhone>> {
    let os = prop_oneof![Just(DeviceKind::Android), Just(DeviceKind::Iphone)];
    let phone_key = if contract >= Contract::V1_1 { option::of(key()).boxed() } else { Just(None).boxed() };
    let forged = (0..PEOPLE.len(), os, phone_key).prop_map(|(person, os, key)| ForgedPhone { person, os, key });
    prop_oneof![4 => Just(None), 1 => forged.prop_map(Some)]
}

/// A person as generated: dates as offsets from the life's first day.
#[derive(Debug, Clone)]
pub struct PersonDraft {
    birth: Birth,
    card_expires_in: i64,
    card_key: KeyAlgorithm,
    security_code: String,
    forgery: Option<Forgery>,
    registered: bool,
    valid_for: i64,
    status: QualificationValidity,
    arrives_in: Option<i64>,
    copay: u8,
    certificate: Option<CertificateFault>,
    generation: Option<usize>,
}

#[derive(Debug, Clone, Copy)]
enum Birth {
    /// So many days before the first day.
    DaysAgo(i64),
    /// Fifteen years before the first day, shifted by so many days (Q17's edge).
    NearFifteen(i64),
    /// 29 February of this year (a leap year), if before the first day.
    LeapDay(i32),
}

impl PersonDraft {
    fn on(self, today: Date) -> PersonLife {
        let birth_date = match self.birth {
            Birth::DaysAgo(days) => days_after(today, -days),
            Birth::NearFifteen(days) => days_after(clock::add_years(today, -15), days).min(days_after(today, -1)),
            Birth::LeapDay(year) => Some(date(year, Month::February, 29)).filter(|born| *born < today).unwrap_or_else(|| days_after(today, -6000)),
        };
        PersonLife {
            birth_date,
            card_expires: days_after(today, self.card_expires_in),
            card_key: self.card_key,
            security_code: self.security_code,
            forgery: self.forgery,
            registered: self.registered,
            valid_until: days_after(today, self.valid_for).max(birth_date),
            status: self.status,
            arrives: self.arrives_in.map(|days| days_after(today, days)),
            copay: self.copay,
            certificate: self.certificate,
            generation: self.generation,
        }
    }
}

fn key() -> impl Strategy<Value = KeyAlgorithm> {
    prop_oneof![Just(KeyAlgorithm::Rsa2048), Just(KeyAlgorithm::P256), Just(KeyAlgorithm::P384)]
}

fn date(year: i32, month: Month, day: u8) -> Date {
    Date::from_calendar_date(year, month, day).unwrap_or(Date::MIN)
}

/// A start in 2026-2028: any day, a month's last day, a year's last, 28 or 29 February; at
/// 09:00, at midnight, or in the day's last second (so a minute later is tomorrow).
fn clock_at_an_edge() -> impl Strategy<Value = OffsetDateTime> {
    let month = (1u8..=12).prop_map(|m| Month::try_from(m).unwrap_or(Month::January));
    let day = prop_oneof![
        3 => (2026i32..=2028, month.clone(), 1u8..=28).prop_map(|(y, m, d)| date(y, m, d)),
        1 => (2026i32..=2028, month).prop_map(|(y, m)| date(y, m, time::util::days_in_month(m, y))),
        1 => (2026i32..=2028).prop_map(|y| date(y, Month::December, 31)),
        1 => prop_oneof![Just(date(2027, Month::February, 28)), Just(date(2028, Month::February, 29))],
    ];
    let at = prop_oneof![
        2 => Just(Time::from_hms(9, 0, 0).unwrap_or(Time::MIDNIGHT)),
        1 => Just(Time::MIDNIGHT),
        1 => Just(Time::from_hms_milli(23, 59, 59, 900).unwrap_or(Time::MIDNIGHT)),
    ];
    (day, at).prop_map(|(day, at)| day.with_time(at).assume_offset(clock::JST))
}

fn days_after(day: Date, days: i64) -> Date {
    day.checked_add(Duration::days(days)).unwrap_or(day)
}

/// One person at the start of a life (dates relative to its first day).
pub fn person(contract: Contract) -> impl Strategy<Value = PersonDraft> {
    let birth = prop_oneof![
        4 => (20i64 * 365..80 * 365).prop_map(Birth::DaysAgo),
        // Turning 15 within a few weeks either side of the start (Q17).
        2 => (-40i64..40).prop_map(Birth::NearFifteen),
        1 => prop_oneof![Just(2012), Just(2008)].prop_map(Birth::LeapDay),
    ];
    // 1.3 also starts lives after a card's certificate has ended (in its grace, or past it), as
    // a clinic meets such cards; older contracts draw what they always drew.
    let card_expires_in = if contract >= Contract::V1_3 {
        prop_oneof![4 => 120i64..2000, 3 => 4i64..120, 2 => 0i64..4, 1 => -200i64..0].boxed()
    } else {
        prop_oneof![4 => 120i64..2000, 3 => 4i64..120, 2 => 0i64..4].boxed()
    };
    let keys = contract >= Contract::V1_1;
    let card_key = if keys { key().boxed() } else { Just(KeyAlgorithm::Rsa2048).boxed() };
    let security_code = (0u16..10_000).prop_map(|code| format!("{code:04}"));
    let latest = contract >= Contract::V1_2;
    let forgery =
        if latest { prop_oneof![12 => Just(None), 1 => proptest::sample::select(Forgery::ALL.to_vec()).prop_map(Some)].boxed() } else { Just(None).boxed() };
    let registered = prop_oneof![3 => Just(true), 1 => Just(false)];
    let valid_for = prop_oneof![3 => 30i64..900, 1 => 0i64..30];
    let status = if latest {
        prop_oneof![
            12 => Just(QualificationValidity::Valid),
            1 => Just(QualificationValidity::Invalid),
            1 => Just(QualificationValidity::Superseded),
            1 => Just(QualificationValidity::None),
            1 => Just(QualificationValidity::Multiple),
        ]
        .boxed()
    } else {
        Just(QualificationValidity::Valid).boxed()
    };
    let arrives_in = if latest { prop_oneof![6 => Just(None), 1 => (0i64..60).prop_map(Some)].boxed() } else { Just(None).boxed() };
    let copay = if latest { prop_oneof![Just(30u8), Just(20), Just(10)].boxed() } else { Just(30u8).boxed() };
    // 1.3: a card whose first certificate breaks the profile, and the generation that issued it
    // (kept only where the life has that many generations).
    let strict = contract >= Contract::V1_3;
    let certificate = if strict {
        prop_oneof![10 => Just(None), 1 => proptest::sample::select(CertificateFault::ALL.to_vec()).prop_map(Some)].boxed()
    } else {
        Just(None).boxed()
    };
    let generation = if strict { prop_oneof![2 => Just(None), 1 => (1usize..=3).prop_map(Some)].boxed() } else { Just(None).boxed() };
    ((birth, card_expires_in, card_key, security_code, forgery), (registered, valid_for, status, arrives_in, copay), (certificate, generation)).prop_map(
        |((birth, card_expires_in, card_key, security_code, forgery), (registered, valid_for, status, arrives_in, copay), (certificate, generation))| {
            PersonDraft { birth, card_expires_in, card_key, security_code, forgery, registered, valid_for, status, arrives_in, copay, certificate, generation }
        },
    )
}

/// One step: a registry event, a clock step or a tap, for `contract`.
pub fn step(contract: Contract) -> impl Strategy<Value = Step> {
    // Mostly the first person and phone: bugs hide in chains of events on one device (lost,
    // resumed, tapped), which an even spread rarely builds.
    let person = prop_oneof![6 => Just(0usize), 2 => Just(1), 1 => Just(2)];
    let phone = prop_oneof![6 => Just(0usize), 3 => Just(1), 1 => Just(2), 1 => Just(3)];
    debug_assert_eq!(PHONES.len(), 4);
    // Taps also reach the forged phone (index `PHONES.len()`), where a life has one.
    let tapped_phone = prop_oneof![6 => Just(0usize), 3 => Just(1), 1 => Just(2), 1 => Just(3), 2 => Just(PHONES.len())];
    let os = prop_oneof![Just(DeviceKind::Android), Just(DeviceKind::Iphone)];
    let phone_key = if contract >= Contract::V1_1 { option::of(key()).boxed() } else { Just(None).boxed() };
    let advance = prop_oneof![
        2 => (1u16..400).prop_map(Advance::Days),
        1 => prop_oneof![Just(1u16), Just(30), Just(92)].prop_map(Advance::Days),
        1 => prop_oneof![Just(1u16), Just(24)].prop_map(Advance::Hours),
        1 => prop_oneof![Just(1u16), Just(60)].prop_map(Advance::Minutes),
    ];
    prop_oneof![
        4 => (person.clone(), phone.clone(), os, phone_key).prop_map(|(person, phone, os, key)| Step::AddPhone { person, phone, os, key }),
        1 => phone.clone().prop_map(|phone| Step::RemovePhone { phone }),
        1 => phone.clone().prop_map(|phone| Step::ReportLost { phone }),
        1 => phone.clone().prop_map(|phone| Step::Resume { phone }),
        1 => person.clone().prop_map(|person| Step::RevokeCard { person }),
        1 => (person.clone(), option::of(1u16..200)).prop_map(|(person, days)| Step::RenewCard { person, days }),
        1 => person.clone().prop_map(|person| Step::RegisterInsurance { person }),
        3 => advance.prop_map(Step::Advance),
        // Taps are what a reader is judged on: most steps are taps.
        9 => (tapped_phone, tap_how(contract)).prop_map(|(phone, how)| Step::TapPhone { phone, how }),
        7 => (person, tap_how(contract)).prop_map(|(person, how)| Step::TapCard { person, how }),
    ]
}

/// What the patient does, and what goes wrong, on a tap.
fn tap_how(contract: Contract) -> impl Strategy<Value = TapHow> {
    let pin = prop_oneof![8 => Just(PinTyped::Right), 2 => Just(PinTyped::Wrong), 1 => Just(PinTyped::Malformed)];
    let face = if contract >= Contract::V1_1 {
        prop_oneof![3 => Just(None), 1 => prop_oneof![5 => Just(true), 1 => Just(false)].prop_map(Some)].boxed()
    } else {
        Just(None).boxed()
    };
    let faults: Vec<TapFault> = TapFault::ALL.into_iter().filter(|fault| contract >= fault.since()).collect();
    let fault = prop_oneof![12 => Just(None), 2 => proptest::sample::select(faults).prop_map(Some)];
    let not_unlocked = prop_oneof![7 => Just(false), 1 => Just(true)];
    let wrong_os = prop_oneof![11 => Just(false), 1 => Just(true)];
    (pin, not_unlocked, wrong_os, face, fault).prop_map(|(pin, not_unlocked, wrong_os, face, fault)| TapHow { pin, not_unlocked, wrong_os, face, fault })
}
