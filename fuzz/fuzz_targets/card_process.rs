//! The card on a sequence of arbitrary APDUs (each prefixed by a 2-byte length), every profile.
//! The first byte picks the device (`% 3`: card, Android, iPhone) and, with bit 7, Face ID; a
//! chunk `FF` resets the card.
#![no_main]
use std::sync::{Arc, LazyLock};

use libfuzzer_sys::fuzz_target;
use mynatap_sim::card::{Card, CardCredential};
use mynatap_sim::credential::demo_credential;
use mynatap_sim::profile::{DeviceKind, Profile};

const DEVICES: [DeviceKind; 3] = [DeviceKind::Card, DeviceKind::Android, DeviceKind::Iphone];

/// Issued once: personalising a card per input would spend the run on key generation.
static CREDENTIALS: LazyLock<Vec<(Arc<Profile>, CardCredential)>> = LazyLock::new(|| {
    DEVICES
        .iter()
        .map(|&device| {
            let profile = Profile::builtin(device);
            let credential = demo_credential(device, profile.key, 1, "1234").expect("credential");
            (Arc::new(profile), credential)
        })
        .collect()
});

fuzz_target!(|data: &[u8]| {
    let Some((&selector, mut rest)) = data.split_first() else { return };
    let (profile, credential) = &CREDENTIALS[usize::from(selector % 3)];
    let mut card = Card::new(profile.clone(), credential.clone());
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
