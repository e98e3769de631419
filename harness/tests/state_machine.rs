//! State-machine property: random lives of one person's card and phones, applied to the real
//! world (registry, cards, terminal, in-memory transport) and to a plain reference model of
//! docs/requirements.md, must agree step by step.
//!
//! On a failure the shrunk sequence is written as a scenario file whose `expect`s are the
//! model's, under `target/mynatap-proptest/`, so `mynatap run <that file>` replays the failure.
//! `PROPTEST_CASES` changes the number of cases (default 512).

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::collections::BTreeSet;
use std::path::PathBuf;

use mynatap_harness::play::{run_scenario, MemoryPlayer, Status};
use mynatap_harness::scenario::{parse, requirement_ids, REQUIREMENTS_MD};
use mynatap_sim::clock;
use mynatap_sim::events::{scenario_yaml, Event, Start};
use mynatap_sim::profile::DeviceKind;
use mynatap_sim::strategies::{event_sequence, start, start_world, PHONES, START};
use mynatap_sim::world::Profiles;
use proptest::prelude::*;
use time::format_description::well_known::Rfc3339;
use time::macros::{format_description, offset, time};
use time::{Date, Duration, Month, OffsetDateTime};

#[derive(Debug, Clone, Default)]
struct PhoneModel {
    /// Some add_phone of it succeeded: the world knows it, and its OS is fixed.
    os: Option<DeviceKind>,
    /// The person's card data is on it (until removed; a superseded card stays, dead).
    holds_card: bool,
    revoked: bool,
    held: bool,
    expires: Option<OffsetDateTime>,
}

/// The rules, written as plainly as the requirements state them.
#[derive(Debug)]
struct Model {
    now: OffsetDateTime,
    birth_date: Date,
    card_revoked: bool,
    /// The last second of the card's expiry day, 23:59:59 JST (the certificate's notAfter).
    card_expires: OffsetDateTime,
    registered: bool,
    insurance_until: Date,
    phones: [PhoneModel; 3],
}

fn date(text: &str) -> Date {
    Date::parse(text, format_description!("[year]-[month]-[day]")).unwrap()
}

/// notAfter of a certificate expiring on `day`: its last second, in Japan's time.
fn last_second_of(day: Date) -> OffsetDateTime {
    day.with_time(time!(23:59:59)).assume_offset(offset!(+9))
}

/// A certificate is valid through every instant of its notAfter second (X.509 notAfter is
/// inclusive and has whole seconds).
fn still_valid(now: OffsetDateTime, not_after: OffsetDateTime) -> bool {
    now < not_after + Duration::seconds(1)
}

/// The day one is 15 (Civil Code art. 143, Act on Calculation of Age): the birthday's
/// anniversary; for 29 February in a common year, 1 March.
fn fifteenth_birthday(birth: Date) -> Date {
    let year = birth.year() + 15;
    Date::from_calendar_date(year, birth.month(), birth.day()).unwrap_or_else(|_| Date::from_calendar_date(year, Month::March, 1).unwrap())
}

fn today(now: OffsetDateTime) -> Date {
    now.to_offset(offset!(+9)).date()
}

impl Model {
    fn new(start: &Start) -> Self {
        Self {
            now: OffsetDateTime::parse(start.clock, &Rfc3339).unwrap(),
            birth_date: date(start.birth_date),
            card_revoked: false,
            card_expires: last_second_of(date(start.card_cert_expires)),
            registered: start.insurance_registered,
            insurance_until: date(start.insurance_valid_until),
            phones: Default::default(),
        }
    }

    fn tap(&self, phone: Option<&PhoneModel>) -> String {
        let (expires, revoked, held) = match phone {
            Some(p) => (p.expires.unwrap_or(self.now), p.revoked, p.held),
            None => (self.card_expires, self.card_revoked, false),
        };
        // The physical card (only) is accepted in its grace after expiry (contract 1.2); the
        // date arithmetic is the one rule of `clock`, tested against a plain model in sim.
        let in_grace = phone.is_none() && today(self.now) <= clock::grace_last_day(today(expires));
        let rejected = |reason: &str| format!("rejected: {reason}");
        if !still_valid(self.now, expires) && !in_grace {
            rejected("certificate_expired")
        } else if revoked {
            rejected("certificate_revoked")
        } else if held {
            rejected("certificate_suspended")
        } else if !self.registered {
            rejected("not_registered")
        } else if today(self.now) > self.insurance_until {
            rejected("insurance_expired")
        } else {
            "verified".into()
        }
    }

    /// Whether the event can be played: it names no phone, adds one, or names one that exists
    /// (an add_phone refused for an invalid card leaves the phone unknown to the world).
    fn playable(&self, event: &Event) -> bool {
        match (event, event.phone()) {
            (Event::AddPhone { .. }, _) | (_, None) => true,
            (_, Some(phone)) => PHONES.iter().position(|p| *p == phone).is_some_and(|i| self.phones[i].os.is_some()),
        }
    }

    /// Applies the event and says what it must come to, as a result label.
    fn step(&mut self, event: &Event) -> String {
        let index = |phone: &str| PHONES.iter().position(|p| *p == phone).unwrap();
        let ok = || "ok".to_owned();
        match event {
            Event::AddPhone { phone, os } => {
                let target = &self.phones[index(phone)];
                // The phone's own facts first: its OS does not change, and only the hotline
                // lifts a suspension (Q20).
                if target.os.is_some_and(|known| known != *os) {
                    return "error: phone_os_mismatch".into();
                }
                if target.held && !target.revoked {
                    return "error: phone_suspended".into();
                }
                if today(self.now) < fifteenth_birthday(self.birth_date) {
                    return "error: under_15".into();
                }
                if self.card_revoked || !still_valid(self.now, self.card_expires) {
                    return "error: card_not_valid".into();
                }
                // Q19: every other phone's card dies, and stays on it until removed.
                for other in self.phones.iter_mut().filter(|p| p.holds_card) {
                    other.revoked = true;
                }
                self.phones[index(phone)] = PhoneModel { os: Some(*os), holds_card: true, revoked: false, held: false, expires: Some(self.card_expires) };
                ok()
            }
            Event::RemovePhone { phone } => {
                let p = &mut self.phones[index(phone)];
                if !p.holds_card {
                    return "error: no_card_on_phone".into();
                }
                (p.revoked, p.held, p.holds_card) = (true, false, false);
                ok()
            }
            Event::ReportLost { phone } => {
                let p = &mut self.phones[index(phone)];
                match (p.holds_card, p.revoked, p.held) {
                    (false, _, _) => "error: no_card_on_phone".into(),
                    (true, true, _) => "error: phone_revoked".into(),
                    (true, false, true) => "error: already_suspended".into(),
                    (true, false, false) => {
                        p.held = true;
                        ok()
                    }
                }
            }
            Event::Resume { phone } => {
                let p = &mut self.phones[index(phone)];
                if p.held && !p.revoked {
                    p.held = false;
                    ok()
                } else {
                    "error: not_suspended".into()
                }
            }
            Event::RevokeCard => {
                self.card_revoked = true;
                for phone in self.phones.iter_mut().filter(|p| p.holds_card) {
                    (phone.revoked, phone.held) = (true, false);
                }
                ok()
            }
            Event::RenewCard => {
                self.card_revoked = false;
                let today = today(self.now);
                let in_five_years = Date::from_calendar_date(today.year() + 5, today.month(), today.day())
                    .unwrap_or_else(|_| Date::from_calendar_date(today.year() + 5, Month::February, 28).unwrap());
                self.card_expires = last_second_of(in_five_years);
                for phone in self.phones.iter_mut().filter(|p| p.holds_card) {
                    (phone.revoked, phone.held) = (true, false);
                }
                ok()
            }
            Event::RegisterInsurance => {
                self.registered = true;
                ok()
            }
            Event::AdvanceDays(days) => {
                self.now += Duration::days(*days);
                ok()
            }
            Event::AdvanceMinutes(minutes) => {
                self.now += Duration::minutes(*minutes);
                ok()
            }
            Event::TapPhone { phone } => self.tap(Some(&self.phones[index(phone)])),
            Event::TapCard => self.tap(None),
        }
    }
}

fn failure_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/mynatap-proptest/state-machine-failure.yaml")
}

/// Writes the sequence as a scenario expecting the model's answers, and checks it replays.
fn save_failure(start: &Start, events: &[Event]) -> PathBuf {
    let mut model = Model::new(start);
    let mut steps = Vec::new();
    for event in events {
        if model.playable(event) {
            let expected = model.step(event);
            steps.push((event.clone(), expected));
        }
    }
    let yaml = scenario_yaml("state-machine-failure", "shrunk by the state-machine property test", start, &steps);
    let path = failure_file();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, yaml).unwrap();
    path
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]
    #[test]
    fn world_agrees_with_the_reference_model(start in start(), events in event_sequence(1..40)) {
        let mut world = start_world(&start).unwrap();
        let mut model = Model::new(&start);
        for (index, event) in events.iter().enumerate() {
            if !model.playable(event) {
                continue;
            }
            let actual = event.apply(&mut world, "hanako").unwrap().label();
            let expected = model.step(event);
            if actual != expected {
                let path = save_failure(&start, &events[..=index]);
                prop_assert_eq!(&actual, &expected, "step {} {:?}; replay with: mynatap run {}", index + 1, event, path.display());
            }
            // Invariants: at most one usable phone; a suspended, revoked or expired phone never verifies.
            let usable = model.phones.iter().filter(|p| p.holds_card && !p.revoked).count();
            prop_assert!(usable <= 1);
            if let Event::TapPhone { phone } = event {
                let p = &model.phones[PHONES.iter().position(|x| x == phone).unwrap()];
                if p.revoked || p.held || p.expires.is_some_and(|e| !still_valid(model.now, e)) {
                    prop_assert_ne!(actual, "verified");
                }
            }
        }
    }
}

/// The failure file is a real scenario: generated from a known sequence, it loads and passes
/// against the correct world (so against a broken one it would fail where the property did).
#[test]
fn failure_files_replay_as_scenarios() {
    let events = vec![
        Event::AddPhone { phone: "p0".into(), os: mynatap_sim::profile::DeviceKind::Android },
        Event::TapPhone { phone: "p0".into() },
        Event::RegisterInsurance,
        Event::ReportLost { phone: "p0".into() },
        Event::TapPhone { phone: "p0".into() },
        Event::Resume { phone: "p0".into() },
        Event::AddPhone { phone: "p1".into(), os: mynatap_sim::profile::DeviceKind::Iphone },
        Event::TapPhone { phone: "p0".into() },
        Event::TapCard,
        Event::Resume { phone: "p0".into() },
        Event::AdvanceDays(800),
        Event::TapPhone { phone: "p1".into() },
    ];
    let mut model = Model::new(&START);
    let steps: Vec<(Event, String)> = events.iter().map(|event| (event.clone(), model.step(event))).collect();
    let yaml = scenario_yaml("replay-check", "replay check", &START, &steps);
    let requirements: BTreeSet<String> = requirement_ids(REQUIREMENTS_MD);
    let scenario = parse(&PathBuf::from("replay-check.yaml"), &yaml, &requirements).unwrap();
    let result = run_scenario(&scenario, 7, &Profiles::default(), &mut MemoryPlayer);
    assert_eq!(result.status, Status::Passed, "{yaml}\n{:?}", result.failure);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]
    /// The `scenario` generator writes files the harness loads and that pass against the world
    /// that generated them: generators and the format agree.
    #[test]
    fn generated_scenarios_load_and_pass(yaml in mynatap_sim::strategies::scenario(1..25)) {
        let requirements: BTreeSet<String> = requirement_ids(REQUIREMENTS_MD);
        let scenario = parse(&PathBuf::from("generated.yaml"), &yaml, &requirements).map_err(|e| TestCaseError::fail(format!("{e}\n{yaml}")))?;
        let result = run_scenario(&scenario, 7, &Profiles::default(), &mut MemoryPlayer);
        prop_assert_eq!(result.status, Status::Passed, "{}\n{:?}", yaml, result.failure);
    }
}
