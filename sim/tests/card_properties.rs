//! Card robustness: any sequence of APDUs (reader-like commands, near misses and garbage) never
//! panics the card, never moves a retry counter except through VERIFY, never returns key
//! material, never signs without the unlock, and never lets a VERIFY unlock an iPhone.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use mynatap_sim::card::Card;
use mynatap_sim::credential::demo_card;
use mynatap_sim::pki::{KeyAlgorithm, SigningKey, rsa_pool};
use mynatap_sim::profile::{DeviceKind, Profile};
use mynatap_sim::strategies::{jpki_command, profile};
use proptest::collection::vec;
use proptest::prelude::*;

const SEED: u64 = 99;

/// The secret parts of the card's two keys, as the card's key algorithm has them: the ECDSA
/// scalars, or for RSA (the physical card) the first 32 bytes of the private exponent and of
/// each prime. Any of them in a response is a leak.
fn key_bytes(algorithm: KeyAlgorithm) -> Vec<Vec<u8>> {
    use rsa::traits::PrivateKeyParts;
    let mut secrets = Vec::new();
    for (label, slot) in [("demo:auth", rsa_pool::FIRST_DEVICE_SLOT), ("demo:sign", rsa_pool::FIRST_DEVICE_SLOT + 1)] {
        match SigningKey::derive(algorithm, SEED, label, slot).unwrap() {
            SigningKey::P256(key) => secrets.push(key.to_bytes().to_vec()),
            SigningKey::P384(key) => secrets.push(key.to_bytes().to_vec()),
            SigningKey::Rsa(key) => {
                let private: &rsa::PrivateKey = key.private();
                secrets.push(private.d().to_be_bytes()[..32].to_vec());
                for prime in private.primes() {
                    secrets.push(prime.to_be_bytes()[..32].to_vec());
                }
            }
        }
    }
    assert!(!secrets.is_empty() && secrets.iter().all(|secret| secret.len() == 32 || secret.len() == 48));
    secrets.iter().map(|secret| secret[..32].to_vec()).collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

/// Actions on a card: APDUs, resets, and Face ID on or off.
#[derive(Debug, Clone)]
enum Poke {
    Apdu(Vec<u8>),
    Reset,
    FaceId(bool),
}

fn pokes() -> impl Strategy<Value = Vec<Poke>> {
    vec(prop_oneof![12 => jpki_command("1234").prop_map(Poke::Apdu), 1 => Just(Poke::Reset), 1 => any::<bool>().prop_map(Poke::FaceId)], 1..60)
}

fn check(mut card: Card, pokes: &[Poke]) -> Result<(), TestCaseError> {
    let keys = key_bytes(card.profile().key);
    let pin_device = card.profile().unlock == mynatap_sim::profile::Unlock::Pin;
    let iphone = card.profile().device == DeviceKind::Iphone;
    // What the card's contract says is unlocked, tracked from the outside.
    let mut application: Option<Vec<u8>> = None;
    let mut selected: Option<[u8; 2]> = None;
    let (mut auth_ok, mut sign_ok, mut face_id) = (false, false, false);
    for poke in pokes {
        match poke {
            Poke::Reset => {
                card.reset();
                (application, selected, auth_ok, sign_ok, face_id) = (None, None, false, false, false);
            }
            Poke::FaceId(on) => {
                card.set_user_verified(*on);
                face_id = *on && iphone;
            }
            Poke::Apdu(command) => {
                let before = card.retry_counters();
                let response = card.process_bytes(command);
                prop_assert!(response.len() >= 2, "every answer has a status word");
                let (data, sw) = response.split_at(response.len() - 2);
                let ok = sw == [0x90, 0x00];
                for key in &keys {
                    prop_assert!(!contains(data, key), "key material in a response to {}", hex::encode_upper(command));
                }
                let header = (command.first().copied(), command.get(1).copied(), command.get(2).copied());
                if header.0 != Some(0x00) || header.1 != Some(0x20) {
                    prop_assert_eq!(before, card.retry_counters(), "a counter moved on {}", hex::encode_upper(command));
                }
                match header {
                    (Some(0x00), Some(0xA4), Some(0x04)) if ok => {
                        let aid = command.get(5..).map(<[u8]>::to_vec);
                        if aid != application {
                            (auth_ok, sign_ok) = (false, false);
                        }
                        (application, selected) = (aid, None);
                    }
                    (Some(0x00), Some(0xA4), Some(0x02)) if ok => selected = command.get(5..7).and_then(|f| f.try_into().ok()),
                    (Some(0x00), Some(0x20), _) if ok && command.len() > 5 => {
                        prop_assert!(!(iphone && matches!(selected, Some([0x00, 0x18] | [0x00, 0x1B]))), "VERIFY unlocked an iPhone");
                        auth_ok |= selected == Some([0x00, 0x18]);
                        sign_ok |= selected == Some([0x00, 0x1B]);
                    }
                    (Some(0x80), Some(0x2A), _) if ok => {
                        let unlocked = match (pin_device, selected) {
                            (false, _) => face_id,
                            (true, Some([0x00, 0x17])) => auth_ok,
                            (true, Some([0x00, 0x1A])) => sign_ok,
                            (true, _) => false,
                        };
                        prop_assert!(unlocked, "signed without the unlock (selected {:?})", selected);
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn physical_card_is_robust(pokes in pokes()) {
        check(demo_card(Profile::builtin(DeviceKind::Card), SEED, "1234").unwrap(), &pokes)?;
    }

    #[test]
    fn android_is_robust(pokes in pokes()) {
        check(demo_card(Profile::builtin(DeviceKind::Android), SEED, "1234").unwrap(), &pokes)?;
    }

    #[test]
    fn iphone_is_robust(pokes in pokes()) {
        check(demo_card(Profile::builtin(DeviceKind::Iphone), SEED, "1234").unwrap(), &pokes)?;
    }

    #[test]
    fn any_valid_profile_variant_is_robust(profile in profile(), pokes in pokes()) {
        let digits = usize::from(profile.auth_pin.digits);
        let pin = "1234567890123456"[..digits].to_owned();
        let keys = key_bytes(profile.key);
        let card = demo_card(profile, SEED, &pin).unwrap();
        // Invariants that hold whatever the PIN policy: no panic, no key material, counters only via VERIFY.
        let mut card = card;
        for poke in &pokes {
            if let Poke::Apdu(command) = poke {
                let before = card.retry_counters();
                let response = card.process_bytes(command);
                for key in &keys {
                    prop_assert!(!contains(&response, key));
                }
                if command.get(1) != Some(&0x20) {
                    prop_assert_eq!(before, card.retry_counters());
                }
            }
        }
    }
}
