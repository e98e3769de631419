//! Property: for random sequences of registry events and taps, the real world (registry, cards,
//! terminal, transport) agrees with a plain reference model of docs/requirements.md.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use mynatap_sim::backend::PersonSpec;
use mynatap_sim::profile::DeviceKind;
use mynatap_sim::terminal::{Outcome, TerminalConfig};
use mynatap_sim::world::{Profiles, TapSpec, World};
use proptest::prelude::*;
use time::macros::{date, datetime};
use time::{Duration, OffsetDateTime};

const PHONES: [&str; 3] = ["p0", "p1", "p2"];

#[derive(Debug, Clone)]
enum Event {
    AddPhone(usize, bool),
    RemovePhone(usize),
    ReportLost(usize),
    Resume(usize),
    RevokeCard,
    RenewCard,
    RegisterInsurance,
    AdvanceDays(i64),
    TapPhone(usize),
    TapCard,
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        3 => (0..3usize, any::<bool>()).prop_map(|(i, ios)| Event::AddPhone(i, ios)),
        1 => (0..3usize).prop_map(Event::RemovePhone),
        1 => (0..3usize).prop_map(Event::ReportLost),
        1 => (0..3usize).prop_map(Event::Resume),
        1 => Just(Event::RevokeCard),
        1 => Just(Event::RenewCard),
        1 => Just(Event::RegisterInsurance),
        1 => (1..400i64).prop_map(Event::AdvanceDays),
        4 => (0..3usize).prop_map(Event::TapPhone),
        1 => Just(Event::TapCard),
    ]
}

#[derive(Debug, Clone, Default)]
struct PhoneModel {
    exists: bool,
    holds_card: bool,
    revoked: bool,
    held: bool,
    expires: Option<OffsetDateTime>,
}

#[derive(Debug)]
struct Model {
    now: OffsetDateTime,
    card_revoked: bool,
    card_expires: OffsetDateTime,
    registered: bool,
    insurance_until: OffsetDateTime,
    phones: [PhoneModel; 3],
}

impl Model {
    fn expect_tap(&self, phone: Option<&PhoneModel>) -> &'static str {
        let (expires, revoked, held) = match phone {
            Some(p) => (p.expires.unwrap_or(self.now), p.revoked, p.held),
            None => (self.card_expires, self.card_revoked, false),
        };
        if self.now > expires {
            "certificate_expired"
        } else if revoked {
            "certificate_revoked"
        } else if held {
            "certificate_suspended"
        } else if !self.registered {
            "not_registered"
        } else if self.now > self.insurance_until {
            "insurance_expired"
        } else {
            "verified"
        }
    }
}

fn label(outcome: &Outcome) -> &'static str {
    outcome.reason().map_or(outcome.name(), |reason| reason.as_str())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn world_agrees_with_the_reference_model(events in proptest::collection::vec(event(), 1..40)) {
        let start = datetime!(2026-04-01 09:00 +09:00);
        let mut world = World::new(7, start, Profiles::default()).unwrap();
        world.add_terminal(TerminalConfig { id: "t".into(), smartphone: true, timeout_ms: 500 }).unwrap();
        world.add_person(&PersonSpec {
            card_cert_expires: date!(2028 - 05 - 12),
            insurance_registered: false,
            insurance_valid_until: date!(2029 - 03 - 31),
            ..PersonSpec::example("hanako")
        }).unwrap();
        let mut model = Model {
            now: start,
            card_revoked: false,
            card_expires: mynatap_sim::clock::end_of_day(date!(2028 - 05 - 12)),
            registered: false,
            insurance_until: mynatap_sim::clock::end_of_day(date!(2029 - 03 - 31)),
            phones: Default::default(),
        };
        for event in events {
            match event {
                Event::AddPhone(i, ios) => {
                    let os = if ios { DeviceKind::Iphone } else { DeviceKind::Android };
                    // A phone keeps its type: re-adding uses the one it has.
                    let os = world.phone_os(PHONES[i]).unwrap_or(os);
                    let result = world.add_phone("hanako", PHONES[i], os, None);
                    let card_ok = !model.card_revoked && model.now <= model.card_expires;
                    prop_assert_eq!(result.is_ok(), card_ok, "add_phone {:?}", result);
                    if card_ok {
                        for phone in model.phones.iter_mut() {
                            if phone.holds_card { phone.revoked = true; phone.holds_card = false; }
                        }
                        model.phones[i] = PhoneModel { exists: true, holds_card: true, revoked: false, held: false, expires: Some(model.card_expires) };
                    }
                }
                Event::RemovePhone(i) => {
                    let result = world.remove_phone(PHONES[i]);
                    let p = &mut model.phones[i];
                    prop_assert_eq!(result.is_ok(), p.exists && p.holds_card);
                    if p.exists && p.holds_card { p.revoked = true; p.held = false; p.holds_card = false; }
                }
                Event::ReportLost(i) => {
                    let result = world.report_lost(PHONES[i]);
                    let p = &mut model.phones[i];
                    let ok = p.exists && p.holds_card && !p.revoked && !p.held;
                    prop_assert_eq!(result.is_ok(), ok);
                    if ok { p.held = true; }
                }
                Event::Resume(i) => {
                    let result = world.resume(PHONES[i]);
                    let p = &mut model.phones[i];
                    let ok = p.exists && p.held && !p.revoked;
                    prop_assert_eq!(result.is_ok(), ok);
                    if ok { p.held = false; }
                }
                Event::RevokeCard => {
                    world.revoke_card("hanako").unwrap();
                    model.card_revoked = true;
                    for phone in model.phones.iter_mut().filter(|p| p.holds_card) { phone.revoked = true; phone.held = false; }
                }
                Event::RenewCard => {
                    world.renew_card("hanako", None).unwrap();
                    model.card_revoked = false;
                    let today = mynatap_sim::clock::local_date(model.now);
                    model.card_expires = mynatap_sim::clock::end_of_day(mynatap_sim::clock::add_years(today, 5));
                    for phone in model.phones.iter_mut().filter(|p| p.holds_card) { phone.revoked = true; phone.held = false; }
                }
                Event::RegisterInsurance => {
                    world.register_insurance("hanako").unwrap();
                    model.registered = true;
                }
                Event::AdvanceDays(days) => {
                    world.advance_clock(Duration::days(days));
                    model.now += Duration::days(days);
                }
                Event::TapPhone(i) => {
                    if !model.phones[i].exists { continue; }
                    let outcome = world.tap(&TapSpec::phone(PHONES[i])).unwrap().outcome;
                    prop_assert_eq!(label(&outcome), model.expect_tap(Some(&model.phones[i])), "{}", outcome);
                }
                Event::TapCard => {
                    let outcome = world.tap(&TapSpec::card("hanako")).unwrap().outcome;
                    prop_assert_eq!(label(&outcome), model.expect_tap(None), "{}", outcome);
                }
            }
            // Invariant: at most one usable phone (holding the card, not revoked).
            let usable = model.phones.iter().filter(|p| p.holds_card && !p.revoked).count();
            prop_assert!(usable <= 1);
        }
    }
}
