//! The card on a sequence of arbitrary APDUs (each prefixed by a 2-byte length), every profile.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mynatap_sim::credential::demo_card;
use mynatap_sim::profile::{DeviceKind, Profile};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, mut rest)) = data.split_first() else { return };
    let device = [DeviceKind::Card, DeviceKind::Android, DeviceKind::Iphone][usize::from(selector % 3)];
    let mut card = demo_card(Profile::builtin(device), 1, "1234").expect("demo card");
    card.set_user_verified(selector & 0x80 != 0);
    while let Some((command, tail)) = next_chunk(rest) {
        rest = tail;
        if command == [0xFF] {
            card.reset();
            continue;
        }
        let response = card.process_bytes(command);
        assert!(response.len() >= 2);
    }
});

fn next_chunk(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let (header, rest) = data.split_first_chunk::<2>()?;
    let len = usize::from(u16::from_be_bytes(*header)).min(rest.len());
    Some(rest.split_at(len))
}
