//! The outside yardstick, over real PC/SC: `myna-card` (a client of real My Number cards, tested
//! against files read off a JPKI test card) reads `mynatap serve-card --profile card` through
//! pcscd as it reads a card, and checks every signed record, the card-surface certificate under
//! the shipped test CA key, and the card's answer to a challenge; and fails each forged kind the
//! way scenario contract 1.2 says.

#![cfg(feature = "pcsc")]
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod support;

use std::time::Duration;

use myna_card::ap::surface::SurfaceAp;
use myna_card::data::{Date, RsaPublicKey, verification_code_b};
use myna_card::{Card, Error, Pin, StatusWord, Transmit};
use mynatap_drivers::pcsc_transport::PcscTransport;
use mynatap_sim::transport::Transport;
use support::{READER, ServedCard, exclusive, root};

/// mynatap's PC/SC transport under myna-card's card layer.
struct ThroughPcscd(PcscTransport);

impl Transmit for ThroughPcscd {
    fn transmit(&mut self, command: &[u8]) -> myna_card::Result<Vec<u8>> {
        self.0.transmit(command).map_err(|error| Error::Malformed(format!("PC/SC: {error}")))
    }
}

/// The JPKI test card's printed data: born 1980-02-17, card expiring 2035-02-17, code 2285.
const PRINTED: [&str; 8] = ["--profile", "card", "--birth-date", "1980-02-17", "--expires", "2035-02-17", "--security-code", "2285"];

fn connect() -> Card<ThroughPcscd> {
    Card::new(ThroughPcscd(PcscTransport::connect(Some(READER), Duration::from_secs(2), Duration::from_secs(2)).unwrap()))
}

fn shipped_surface_ca() -> RsaPublicKey {
    RsaPublicKey::parse(&std::fs::read(root().join("fixtures/pki/surface-ca-public.bin")).unwrap()).unwrap()
}

fn number_b() -> Pin {
    let birth = Date { year: 1980, month: 2, day: 17 };
    verification_code_b(birth, 2035, b"2285").unwrap()
}

#[test]
fn myna_card_verifies_every_record_the_certificate_and_the_challenge_of_a_served_card() {
    let _lock = exclusive();
    let _served = ServedCard::start(&PRINTED);
    let mut card = connect();
    let mut surface = SurfaceAp::select(&mut card).unwrap();
    // Number B from the printed data, era year and all: myna-card's, as for the test card.
    assert_eq!(number_b().as_bytes(), b"55021720352285");
    surface.verify_code_b(&number_b()).unwrap();
    let certificate = surface.read_certificate().unwrap();
    certificate.verify_with(&shipped_surface_ca()).expect("00 04 under the shipped test card-surface CA");
    let face = surface.read_card_face().unwrap();
    assert_eq!(face.birth_date.to_string(), "1980-02-17");
    assert_eq!(face.expiry.to_string(), "2035-02-17");
    assert_eq!(face.public_key.bits(), 2048);
    face.verify(&certificate.public_key).expect("the card face's three-digest signature");
    // This chip holds the key its records carry: a random challenge, signed with no PIN.
    let challenge: Vec<u8> = (0..32).map(|i| (i * 37 + 11) as u8).collect();
    let answer = surface.sign(&challenge).unwrap();
    face.public_key.verify_pkcs1_sha256(&challenge, &answer).expect("the card's answer to the challenge");
    // Number B never opens the My Number image; the basic data opens with nothing.
    assert!(matches!(surface.read_my_number_image(), Err(Error::Status(sw)) if sw == StatusWord::new(0x6982)), "00 05 refused with number B");
    assert_eq!(surface.read_ap_basic_data().unwrap().municipality_code, "13101");
    // The age record through the birth-date key alone (era year: 昭和55 = 550217).
    surface.verify_birth_date(&Pin::numeric("550217").unwrap()).unwrap();
    let age = surface.read_age_record().unwrap();
    assert_eq!(age.birth_date.to_string(), "1980-02-17");
    age.verify(&certificate.public_key).expect("the age record's signature");
    assert_eq!(age.public_key, face.public_key, "one card key in every record");
}

#[test]
fn myna_card_fails_each_forged_kind_as_the_contract_says() {
    let _lock = exclusive();
    for forgery in ["photo_swapped", "face_signature_invalid", "unknown_surface_ca", "clone"] {
        let args: Vec<&str> = PRINTED.iter().copied().chain(["--forgery", forgery]).collect();
        let _served = ServedCard::start(&args);
        let mut card = connect();
        let mut surface = SurfaceAp::select(&mut card).unwrap();
        surface.verify_code_b(&number_b()).unwrap();
        let certificate = surface.read_certificate().unwrap();
        let face = surface.read_card_face().unwrap();
        let under_ca = certificate.verify_with(&shipped_surface_ca()).is_ok();
        let record = face.verify(&certificate.public_key).is_ok();
        let challenge = b"a fresh challenge for this tap";
        let answered = surface.sign(challenge).is_ok_and(|answer| face.public_key.verify_pkcs1_sha256(challenge, &answer).is_ok());
        let expected = match forgery {
            // The photo is another's: the record's signature no longer holds.
            "photo_swapped" | "face_signature_invalid" => (true, false, true),
            // Consistent in itself, under a CA nobody trusts.
            "unknown_surface_ca" => (false, true, true),
            // Genuine files on another chip: only the challenge shows it.
            _ => (true, true, false),
        };
        assert_eq!((under_ca, record, answered), expected, "{forgery}: (certificate under the CA, record signature, challenge)");
    }
}
