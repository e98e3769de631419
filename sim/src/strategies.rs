//! Proptest strategies for people testing their own code against mynatap (feature `proptest`).
//!
//! ```
//! use mynatap_sim::contract::{Contract, Reason};
//! use mynatap_sim::life::Expected;
//! use mynatap_sim::strategies::{command_apdu, life};
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
//!     // Whole generated lives (people, cards, phones, faults, clocks at edges), each step with
//!     // what the rules model says it must come to (`mynatap_harness::scenario::life::file`
//!     //   writes it as a scenario file).
//!     fn revoked_phones_never_verify(life in life(Contract::LATEST)) {
//!         for played in life.expectations() {
//!             if played.expected == Expected::Rejected(Reason::CertificateRevoked) {
//!                 prop_assert!(played.step.tap().is_some());
//!             }
//!         }
//!     }
//! }
//! // In a test crate these carry #[test]; here they are called directly.
//! my_codec_round_trips();
//! revoked_phones_never_verify();
//! ```

use proptest::collection::vec;
use proptest::prelude::*;

use crate::apdu::CommandApdu;
use crate::profile::{DeviceKind, Profile, Unlock};

mod lives;

pub use lives::{PersonDraft, life, person, step};

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
    let aid = prop_oneof![Just(hex_bytes("D392F000260100000001")), Just(hex_bytes("D39210003100010104 08")), vec(any::<u8>(), 0..16),];
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
