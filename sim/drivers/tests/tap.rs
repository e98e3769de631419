//! Whole taps in memory, over the direct and the tokio transport: every rule of
//! docs/requirements.md with its exact outcome and reason.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use mynatap_sim::backend::PersonSpec;
use mynatap_sim::profile::DeviceKind;
use mynatap_sim::terminal::{Outcome, Reason, TerminalConfig};
use mynatap_sim::transport::{CommandKind, Fault, FaultTarget};
use mynatap_sim::world::{Profiles, TapSpec, World};
use time::Duration;
use time::macros::{date, datetime};

fn person(id: &str) -> PersonSpec {
    PersonSpec::example(id)
}

/// Hanako with an Android phone and an iPhone-less world, one terminal with phone support.
fn world() -> World {
    let mut world = World::new(42, datetime!(2026-04-01 09:00 +09:00), Profiles::default()).unwrap();
    world.add_terminal(TerminalConfig { id: "clinic".into(), smartphone: true, timeout_ms: 500, backend_timeout_ms: 2000 }).unwrap();
    world.add_person(&person("hanako")).unwrap();
    world.add_initial_phone("hanako", "hanako-android", (DeviceKind::Android, None), "5678", false).unwrap();
    world
}

/// Runs the spec through both transports (on copies of the same world) and checks they agree.
fn both(build: impl Fn() -> World, spec: &TapSpec) -> Outcome {
    let mut direct = build();
    let outcome = direct.tap(spec).unwrap().outcome;
    let mut channel = build();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let async_outcome = mynatap_drivers::channel::tap(&runtime, &mut channel, spec).unwrap().outcome;
    assert_eq!(outcome.name(), async_outcome.name(), "direct and tokio transports disagree");
    assert_eq!(outcome.reason(), async_outcome.reason(), "direct and tokio transports disagree");
    outcome
}

fn reason(outcome: &Outcome) -> Option<&'static str> {
    outcome.reason().map(Reason::as_str)
}

#[test]
fn valid_android_phone_verifies_with_its_own_pin() {
    let outcome = both(world, &TapSpec::phone("hanako-android"));
    let Outcome::Verified(verified) = outcome else { panic!("{outcome}") };
    assert_eq!(verified.insurer, "06132013");
    assert_eq!(verified.device, DeviceKind::Android);
}

#[test]
fn valid_iphone_verifies_and_refuses_without_face_id() {
    let build = || {
        let mut w = world();
        w.add_phone("hanako", "hanako-iphone", (DeviceKind::Iphone, None), None).unwrap();
        w
    };
    assert_eq!(both(build, &TapSpec::phone("hanako-iphone")).name(), "verified");
    let spec = TapSpec { user_verified: false, ..TapSpec::phone("hanako-iphone") };
    assert_eq!(reason(&both(build, &spec)), Some("user_not_verified"));
}

#[test]
fn physical_card_verifies_with_its_pin() {
    assert_eq!(both(world, &TapSpec::card("hanako")).name(), "verified");
}

#[test]
fn android_wrong_and_blocked_pin_and_the_card_still_works() {
    let mut w = world();
    let wrong = TapSpec { pin: Some("0000".into()), ..TapSpec::phone("hanako-android") };
    assert_eq!(reason(&w.tap(&wrong).unwrap().outcome), Some("wrong_pin"));
    assert_eq!(reason(&w.tap(&wrong).unwrap().outcome), Some("wrong_pin"));
    assert_eq!(reason(&w.tap(&wrong).unwrap().outcome), Some("pin_blocked"), "third wrong try blocks");
    let right = TapSpec::phone("hanako-android");
    assert_eq!(reason(&w.tap(&right).unwrap().outcome), Some("pin_blocked"), "blocked even with the right PIN");
    assert_eq!(w.tap(&TapSpec::card("hanako")).unwrap().outcome.name(), "verified", "Q14: the card is separate");
    // The card PIN is not the phone's PIN.
    let phone_pin_on_card = TapSpec { pin: Some("5678".into()), ..TapSpec::card("hanako") };
    assert_eq!(reason(&w.tap(&phone_pin_on_card).unwrap().outcome), Some("wrong_pin"));
}

#[test]
fn expired_certificate_is_rejected() {
    let build = || {
        let mut w = world();
        w.advance_clock(Duration::days(5 * 365)).unwrap();
        w
    };
    assert_eq!(reason(&both(build, &TapSpec::phone("hanako-android"))), Some("certificate_expired"));
    assert_eq!(reason(&both(build, &TapSpec::card("hanako"))), Some("certificate_expired"));
}

#[test]
fn second_phone_revokes_the_first() {
    let build = || {
        let mut w = world();
        w.add_phone("hanako", "hanako-iphone", (DeviceKind::Iphone, None), None).unwrap();
        w
    };
    assert_eq!(reason(&both(build, &TapSpec::phone("hanako-android"))), Some("certificate_revoked"));
    assert_eq!(both(build, &TapSpec::phone("hanako-iphone")).name(), "verified");
}

#[test]
fn suspended_then_resumed() {
    let mut w = world();
    w.report_lost("hanako-android").unwrap();
    assert_eq!(reason(&w.tap(&TapSpec::phone("hanako-android")).unwrap().outcome), Some("certificate_suspended"));
    assert_eq!(w.tap(&TapSpec::card("hanako")).unwrap().outcome.name(), "verified", "Q14");
    w.resume("hanako-android").unwrap();
    assert_eq!(w.tap(&TapSpec::phone("hanako-android")).unwrap().outcome.name(), "verified");
}

#[test]
fn card_revoked_invalidates_phone_and_card() {
    let build = || {
        let mut w = world();
        w.revoke_card("hanako").unwrap();
        w
    };
    assert_eq!(reason(&both(build, &TapSpec::phone("hanako-android"))), Some("certificate_revoked"));
    assert_eq!(reason(&both(build, &TapSpec::card("hanako"))), Some("certificate_revoked"));
    let mut w = build();
    let error = w.add_phone("hanako", "hanako-android", (DeviceKind::Android, None), None).unwrap_err();
    assert_eq!(error.code(), "card_not_valid");
}

#[test]
fn card_renewed_but_phone_not_re_added_then_re_added() {
    let mut w = world();
    w.renew_card("hanako", Some(date!(2031 - 01 - 01))).unwrap();
    assert_eq!(reason(&w.tap(&TapSpec::phone("hanako-android")).unwrap().outcome), Some("certificate_revoked"));
    assert_eq!(w.tap(&TapSpec::card("hanako")).unwrap().outcome.name(), "verified", "the renewed card works");
    w.add_phone("hanako", "hanako-android", (DeviceKind::Android, None), None).unwrap();
    assert_eq!(w.tap(&TapSpec::phone("hanako-android")).unwrap().outcome.name(), "verified");
}

#[test]
fn not_registered_then_registered() {
    let mut w = World::new(1, datetime!(2026-04-01 09:00 +09:00), Profiles::default()).unwrap();
    w.add_terminal(TerminalConfig { id: "t".into(), smartphone: true, timeout_ms: 500, backend_timeout_ms: 2000 }).unwrap();
    w.add_person(&PersonSpec { insurance_registered: false, ..person("taro") }).unwrap();
    w.add_initial_phone("taro", "taro-phone", (DeviceKind::Iphone, None), "1234", false).unwrap();
    assert_eq!(reason(&w.tap(&TapSpec::phone("taro-phone")).unwrap().outcome), Some("not_registered"));
    w.register_insurance("taro").unwrap();
    assert_eq!(w.tap(&TapSpec::phone("taro-phone")).unwrap().outcome.name(), "verified");
}

#[test]
fn insurance_expired() {
    let build = || {
        let mut w = world();
        w.advance_clock(Duration::days(366)).unwrap();
        w
    };
    assert_eq!(reason(&both(build, &TapSpec::phone("hanako-android"))), Some("insurance_expired"));
}

#[test]
fn wrong_phone_type_chosen() {
    let spec = TapSpec { os_selected: Some(DeviceKind::Iphone), ..TapSpec::phone("hanako-android") };
    assert_eq!(reason(&both(world, &spec)), Some("wrong_device_type"));
}

#[test]
fn terminal_without_phone_support_offers_no_phone_path_but_takes_the_card() {
    let build = || {
        let mut w = world();
        w.add_terminal(TerminalConfig { id: "old".into(), smartphone: false, timeout_ms: 500, backend_timeout_ms: 2000 }).unwrap();
        w
    };
    let spec = TapSpec { terminal: Some("old".into()), ..TapSpec::phone("hanako-android") };
    let outcome = both(build, &spec);
    assert_eq!(outcome, Outcome::NotOffered);
    let card = TapSpec { terminal: Some("old".into()), ..TapSpec::card("hanako") };
    assert_eq!(both(build, &card).name(), "verified");
}

#[test]
fn card_removed_mid_tap() {
    let spec = TapSpec { fault: Some(Fault::RemoveAfter { apdus: 3 }), ..TapSpec::phone("hanako-android") };
    assert_eq!(reason(&both(world, &spec)), Some("card_removed"));
}

#[test]
fn corrupted_responses() {
    let on_sign = TapSpec { fault: Some(Fault::CorruptResponse { target: FaultTarget::Command(CommandKind::Sign) }), ..TapSpec::phone("hanako-android") };
    assert_eq!(reason(&both(world, &on_sign)), Some("signature_invalid"));
    let on_read = TapSpec { fault: Some(Fault::CorruptResponse { target: FaultTarget::Command(CommandKind::Read) }), ..TapSpec::phone("hanako-android") };
    assert_eq!(reason(&both(world, &on_read)), Some("protocol_error"));
    let wrong_sw = TapSpec { fault: Some(Fault::WrongStatus { target: FaultTarget::Apdu(2), sw: 0x6F00 }), ..TapSpec::phone("hanako-android") };
    assert_eq!(reason(&both(world, &wrong_sw)), Some("protocol_error"));
}

#[test]
fn delay_past_the_timeout_loses_the_card_and_within_it_does_not() {
    let late = TapSpec { fault: Some(Fault::Delay { target: FaultTarget::Apdu(1), ms: 800 }), ..TapSpec::phone("hanako-android") };
    assert_eq!(reason(&both(world, &late)), Some("card_removed"));
    let slow = TapSpec { fault: Some(Fault::Delay { target: FaultTarget::Apdu(1), ms: 50 }), ..TapSpec::phone("hanako-android") };
    assert_eq!(both(world, &slow).name(), "verified");
}

#[test]
fn certificate_from_an_unknown_ca() {
    let build = || {
        let mut w = world();
        w.add_initial_phone("hanako", "fake", (DeviceKind::Android, None), "1234", true).unwrap();
        w
    };
    assert_eq!(reason(&both(build, &TapSpec::phone("fake"))), Some("untrusted_certificate"));
    // The forged phone revoked nothing.
    assert_eq!(both(build, &TapSpec::phone("hanako-android")).name(), "verified");
}

#[test]
fn q17_refusals() {
    let mut w = world();
    w.add_person(&PersonSpec { birth_date: date!(2015 - 01 - 01), ..person("child") }).unwrap();
    let error = w.add_phone("child", "child-phone", (DeviceKind::Android, None), None).unwrap_err();
    assert_eq!(error.code(), "under_15");
    let error = w.add_phone("child", "hanako-android", (DeviceKind::Android, None), None).unwrap_err();
    assert_eq!(error.code(), "phone_holds_another_card");
}

#[test]
fn challenges_are_fresh_and_transcripts_replay_exactly() {
    let mut a = world();
    let first = a.tap(&TapSpec::phone("hanako-android")).unwrap();
    let second = a.tap(&TapSpec::phone("hanako-android")).unwrap();
    let sign = |report: &mynatap_sim::world::TapReport| report.transcript.iter().find(|e| e.command.get(1) == Some(&0x2A)).unwrap().command.clone();
    assert_ne!(sign(&first), sign(&second), "a fresh challenge every tap");
    let mut b = world();
    assert_eq!(b.tap(&TapSpec::phone("hanako-android")).unwrap().transcript, first.transcript, "same seed, same bytes");
}

/// Contract 1.3: a device pulled away mid-tap and held again. The terminal meets the removal,
/// starts over on the device back in the field (SELECT first, a fresh challenge) and the tap is
/// judged on the second hold; without `held_again` the removal is final. Both transports agree.
#[test]
fn a_device_held_again_starts_the_flow_over() {
    use mynatap_sim::world::{Arrival, CardMoves};
    let fault = Some(Fault::RemoveAfter { apdus: 5 });
    let moves = CardMoves { arrives: Some(Arrival::AfterRequest), held_again: true, stays: false };
    let held_again = TapSpec { fault, moves, ..TapSpec::phone("hanako-android") };
    assert_eq!(both(world, &held_again).name(), "verified");
    let mut direct = world();
    let report = direct.tap(&held_again).unwrap();
    assert_eq!(report.fault_fired, Some(true));
    let selects: Vec<usize> = report.transcript.iter().enumerate().filter(|(_, e)| e.command.starts_with(&[0x00, 0xA4, 0x04])).map(|(i, _)| i).collect();
    assert_eq!(selects, vec![0, 6], "the second hold starts with the SELECT again: {selects:?}");
    assert!(report.transcript[5].response.is_err(), "the sixth command met the removal");
    let signs: Vec<&Vec<u8>> = report.transcript.iter().filter(|e| e.command.get(1) == Some(&0x2A)).map(|e| &e.command).collect();
    assert_eq!(signs.len(), 1, "one signature, on the second hold");
    let removed = TapSpec { fault, moves: CardMoves { held_again: false, ..moves }, ..TapSpec::phone("hanako-android") };
    assert_eq!(reason(&both(world, &removed)), Some("card_removed"));
}
