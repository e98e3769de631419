//! Proptest strategies for people testing their own code against mynatap (feature `proptest`).
//!
//! ```
//! use mynatap_sim::strategies::{command_apdu, event_sequence};
//! use proptest::prelude::*;
//!
//! proptest! {
//!     #![proptest_config(ProptestConfig::with_cases(16))]
//!     // Any command APDU survives an encode/decode round trip through your reader's codec.
//!     fn my_codec_round_trips(apdu in command_apdu()) {
//!         let bytes = apdu.encode().unwrap();
//!         prop_assert_eq!(mynatap_sim::apdu::CommandApdu::decode(&bytes).unwrap(), apdu);
//!     }
//!
//!     // Random lives of a person's card and phones, each event applied to a world.
//!     fn events_never_break_the_world(events in event_sequence(1..20)) {
//!         let mut world = mynatap_sim::strategies::start_world(&mynatap_sim::strategies::START).unwrap();
//!         for event in &events {
//!             let _ = event.apply(&mut world, "hanako").unwrap();
//!         }
//!     }
//! }
//! // In a test crate these carry #[test]; here they are called directly.
//! my_codec_round_trips();
//! events_never_break_the_world();
//! ```

use std::ops::Range;

use proptest::collection::vec;
use proptest::prelude::*;

use crate::apdu::CommandApdu;
use crate::backend::PersonSpec;
use crate::events::{Event, EventResult, Start};
use crate::profile::{DeviceKind, Profile, Unlock};
use crate::terminal::TerminalConfig;
use crate::world::{Profiles, World, WorldError};

/// The phones event sequences name.
pub const PHONES: [&str; 3] = ["p0", "p1", "p2"];

/// The world [`event_sequence`]s are meant for.
pub const START: Start = Start {
    clock: "2026-04-01T09:00:00+09:00",
    birth_date: "1990-05-12",
    card_cert_expires: "2028-05-12",
    insurance_registered: false,
    insurance_valid_until: "2029-03-31",
};

/// Worlds at the edges of the date rules: a person born on 29 February who turns 15 on
/// 1 March 2027, the day their card expires, with a clock in the last second of the day
/// (23:59:59.900), so one day's step lands on the expiry second and one minute's leaves it.
pub const LEAP_DAY_TEEN: Start = Start {
    clock: "2027-02-27T23:59:59.900+09:00",
    birth_date: "2012-02-29",
    card_cert_expires: "2027-03-01",
    insurance_registered: true,
    insurance_valid_until: "2027-03-02",
};

/// An adult whose card expires two days after the start, the clock in the day's last second.
pub const EXPIRING_CARD: Start = Start {
    clock: "2026-04-01T23:59:59.900+09:00",
    birth_date: "1990-05-12",
    card_cert_expires: "2026-04-03",
    insurance_registered: true,
    insurance_valid_until: "2026-04-04",
};

/// One of the worlds lives start from.
pub fn start() -> impl Strategy<Value = Start> {
    prop_oneof![2 => Just(START), 1 => Just(LEAP_DAY_TEEN), 1 => Just(EXPIRING_CARD)]
}

/// Builds [`START`] (one terminal `t` with phone support, person `hanako`).
pub fn start_world(start: &Start) -> Result<World, WorldError> {
    let parse = |text: &str| {
        time::Date::parse(text, time::macros::format_description!("[year]-[month]-[day]"))
            .map_err(|e| WorldError::Task(format!("bad date {text}: {e}")))
    };
    let clock = time::OffsetDateTime::parse(start.clock, &time::format_description::well_known::Rfc3339)
        .map_err(|e| WorldError::Task(format!("bad clock: {e}")))?;
    let mut world = World::new(7, clock, Profiles::default())?;
    world.add_terminal(TerminalConfig { id: "t".into(), smartphone: true, timeout_ms: 500, backend_timeout_ms: 2000 })?;
    world.add_person(&PersonSpec {
        birth_date: parse(start.birth_date)?,
        card_cert_expires: parse(start.card_cert_expires)?,
        insurance_registered: start.insurance_registered,
        insurance_valid_until: parse(start.insurance_valid_until)?,
        ..PersonSpec::example("hanako")
    })?;
    Ok(world)
}

/// Any well-formed command APDU, short or extended.
pub fn command_apdu() -> impl Strategy<Value = CommandApdu> {
    let data = prop_oneof![4 => vec(any::<u8>(), 0..=255), 1 => vec(any::<u8>(), 256..=1024)];
    let ne = prop_oneof![Just(None), (1u32..=256).prop_map(Some), (1u32..=65_536).prop_map(Some)];
    (any::<[u8; 4]>(), data, ne).prop_map(|([cla, ins, p1, p2], data, ne)| CommandApdu { cla, ins, p1, p2, data, ne })
}

/// Arbitrary bytes, as a misbehaving reader might send.
pub fn arbitrary_bytes() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..300)
}

/// Commands a JPKI reader sends (and near misses), encoded: what drives a card into its corners.
pub fn jpki_command(right_pin: &'static str) -> impl Strategy<Value = Vec<u8>> {
    let fid = prop_oneof![
        Just([0x00, 0x06]),
        Just([0x00, 0x0A]),
        Just([0x00, 0x0B]),
        Just([0x00, 0x17]),
        Just([0x00, 0x18]),
        Just([0x00, 0x01]),
        Just([0x00, 0x1A]),
        Just([0x00, 0x1B]),
        Just([0x00, 0x11]),
        Just([0x00, 0x02]),
        any::<[u8; 2]>(),
    ];
    let aid = prop_oneof![
        Just(hex_bytes("D392F000260100000001")),
        Just(hex_bytes("D39210003100010104 08")),
        vec(any::<u8>(), 0..16),
    ];
    let pin = prop_oneof![Just(right_pin.as_bytes().to_vec()), Just(b"ABC123".to_vec()), vec(any::<u8>(), 0..8)];
    let command = prop_oneof![
        aid.prop_map(|aid| CommandApdu::new(0, 0xA4, 4, 0x0C).with_data(aid)),
        fid.prop_map(|fid| CommandApdu::new(0, 0xA4, 2, 0x0C).with_data(fid.to_vec())),
        (any::<u16>(), 1u32..=300).prop_map(|(offset, ne)| CommandApdu::new(0, 0xB0, (offset >> 8) as u8 & 0x7F, offset as u8).with_ne(ne)),
        pin.prop_map(|pin| CommandApdu::new(0, 0x20, 0, 0x80).with_data(pin)),
        Just(CommandApdu::new(0, 0x20, 0, 0x80)),
        vec(any::<u8>(), 32).prop_map(|digest| CommandApdu::new(0x80, 0x2A, 0, 0x80).with_data(digest).with_ne(256)),
        Just(CommandApdu::new(0x80, 0xFC, 0, 0)),
        command_apdu(),
    ];
    prop_oneof![9 => command.prop_map(|c| c.encode().unwrap_or_default()), 1 => arbitrary_bytes()]
}

fn hex_bytes(text: &str) -> Vec<u8> {
    crate::apdu::parse_hex(text).unwrap_or_default()
}

/// Variations of the shipped profiles: PIN policies and unlock windows a vendor's device may have.
pub fn profile() -> impl Strategy<Value = Profile> {
    let device = prop_oneof![Just(DeviceKind::Card), Just(DeviceKind::Android), Just(DeviceKind::Iphone)];
    (device, 1u8..=15, 4u8..=8, proptest::option::of(1u64..120_000)).prop_map(|(device, tries, digits, window)| {
        let mut profile = Profile::builtin(device);
        profile.auth_pin.max_tries = tries;
        profile.auth_pin.digits = digits;
        if profile.unlock == Unlock::UserPresence {
            profile.user_verified_window_ms = window;
        }
        profile
    })
}

/// One registry event or tap, on the phones of [`PHONES`].
pub fn event() -> impl Strategy<Value = Event> {
    // Mostly the first phone: bugs hide in chains of events on one phone (lost, resumed, tapped),
    // which an even spread over three phones rarely builds.
    let phone = prop_oneof![6 => Just(PHONES[0]), 2 => Just(PHONES[1]), 1 => Just(PHONES[2])].prop_map(str::to_owned);
    let os = prop_oneof![Just(DeviceKind::Android), Just(DeviceKind::Iphone)];
    prop_oneof![
        3 => (phone.clone(), os).prop_map(|(phone, os)| Event::AddPhone { phone, os }),
        1 => phone.clone().prop_map(|phone| Event::RemovePhone { phone }),
        1 => phone.clone().prop_map(|phone| Event::ReportLost { phone }),
        1 => phone.clone().prop_map(|phone| Event::Resume { phone }),
        1 => Just(Event::RevokeCard),
        1 => Just(Event::RenewCard),
        1 => Just(Event::RegisterInsurance),
        1 => (1i64..400).prop_map(Event::AdvanceDays),
        1 => Just(Event::AdvanceDays(1)),
        1 => prop_oneof![Just(1i64), Just(60)].prop_map(Event::AdvanceMinutes),
        4 => phone.prop_map(|phone| Event::TapPhone { phone }),
        1 => Just(Event::TapCard),
    ]
}

/// A life of events. Events naming a phone that was never added are dropped, so every sequence
/// is also a valid scenario.
pub fn event_sequence(length: Range<usize>) -> impl Strategy<Value = Vec<Event>> {
    vec(event(), length).prop_map(|events| {
        let mut added: Vec<String> = Vec::new();
        events
            .into_iter()
            .filter(|event| match event {
                Event::AddPhone { phone, .. } => {
                    added.push(phone.clone());
                    true
                }
                other => other.phone().is_none_or(|phone| added.iter().any(|p| p == phone)),
            })
            .collect()
    })
}

/// A whole scenario file: a start world and a life of events, each expecting `expect(event)`.
pub fn scenario(length: Range<usize>) -> impl Strategy<Value = String> {
    (start(), event_sequence(length)).prop_map(|(start, events)| {
        let mut world = match start_world(&start) {
            Ok(world) => world,
            Err(_) => return String::new(),
        };
        // Events on a phone the world never got are left out: a scenario cannot name one.
        let steps: Vec<(Event, String)> = events
            .into_iter()
            .filter_map(|event| match event.apply(&mut world, "hanako") {
                Ok(EventResult::Failed("unknown_phone")) => None,
                Ok(result) => Some((event, result.label())),
                Err(error) => Some((event, format!("error: {}", error.code()))),
            })
            .collect();
        crate::events::scenario_yaml("generated", "a generated life of one card and its phones", &start, &steps)
    })
}
