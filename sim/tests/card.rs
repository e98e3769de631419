//! The card as a reader sees it: raw APDUs in, raw responses out, one test per rule of
//! docs/protocol.md and per status word the card returns.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use der::{Decode, Encode};
use mynatap_sim::apdu::{StatusWord, parse_hex};
use mynatap_sim::card::Card;
use mynatap_sim::credential::demo_card;
use mynatap_sim::pki::{CertificateAuthority, DEFAULT_SEED};
use mynatap_sim::profile::{DeviceKind, Profile};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::ecdsa::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};
use x509_cert::Certificate;

const SELECT_JPKI: &str = "00A4040C0AD392F00026010000000100";
const SELECT_CARD_INFO: &str = "00A4040C0AD3921000310001010408";

fn card(device: DeviceKind) -> Card {
    demo_card(Profile::builtin(device), DEFAULT_SEED, "1234").unwrap()
}

/// Sends hex, returns (data, status word).
fn send(card: &mut Card, apdu: &str) -> (Vec<u8>, u16) {
    let response = card.process_bytes(&parse_hex(apdu).unwrap());
    let (data, sw) = response.split_at(response.len() - 2);
    (data.to_vec(), u16::from_be_bytes([sw[0], sw[1]]))
}

fn sw(card: &mut Card, apdu: &str) -> u16 {
    send(card, apdu).1
}

/// The reader's certificate read: 4 bytes for the DER header, then the rest.
fn read_certificate(card: &mut Card, fid: &str) -> Result<Vec<u8>, u16> {
    assert_eq!(sw(card, &format!("00A4020C02{fid}")), 0x9000);
    let (head, status) = send(card, "00B0000004");
    if status != 0x9000 {
        return Err(status);
    }
    assert_eq!(&head[..2], &[0x30, 0x82]);
    let total = u16::from_be_bytes([head[2], head[3]]) as usize + 4;
    let mut der = head;
    while der.len() < total {
        let want = (total - der.len()).min(256);
        let (chunk, status) = send(card, &format!("00B0{:04X}{:02X}", der.len(), want % 256));
        assert_eq!(status, 0x9000);
        der.extend(chunk);
    }
    Ok(der)
}

fn label(card: &mut Card) -> String {
    assert_eq!(sw(card, SELECT_JPKI), 0x9000);
    assert_eq!(sw(card, "00A4020C020006"), 0x9000);
    let (data, status) = send(card, "00B0000020");
    assert_eq!(status, 0x9000);
    String::from_utf8(data).unwrap().trim_end().to_owned()
}

fn sign(card: &mut Card, digest: &[u8; 32]) -> (Vec<u8>, u16) {
    assert_eq!(sw(card, "00A4020C020017"), 0x9000);
    send(card, &format!("802A008020{}00", hex::encode(digest)))
}

#[test]
fn token_file_names_each_device() {
    assert_eq!(label(&mut card(DeviceKind::Card)), "JPKIAPICCTOKEN2");
    assert_eq!(label(&mut card(DeviceKind::Android)), "JPKIAPGPSETOKEN");
    assert_eq!(label(&mut card(DeviceKind::Iphone)), "JPKIAPIOSTOKEN");
}

#[test]
fn certificate_read_in_two_steps_chains_to_the_ca() {
    let mut physical = card(DeviceKind::Card);
    assert_eq!(sw(&mut physical, SELECT_JPKI), 0x9000);
    let der = read_certificate(&mut physical, "000A").unwrap();
    let certificate = Certificate::from_der(&der).unwrap();
    assert_eq!(certificate.to_der().unwrap(), der);
    let ca = CertificateAuthority::trusted(DEFAULT_SEED, mynatap_sim::pki::KeyAlgorithm::Rsa2048).unwrap();
    assert_eq!(certificate.tbs_certificate().issuer(), ca.certificate().tbs_certificate().subject());
    // The CA certificate file holds the issuer.
    assert_eq!(read_certificate(&mut physical, "000B").unwrap(), ca.certificate_der());
}

#[test]
fn android_needs_its_pin_for_the_certificate_and_the_signature() {
    let mut phone = card(DeviceKind::Android);
    assert_eq!(sw(&mut phone, SELECT_JPKI), 0x9000);
    assert_eq!(read_certificate(&mut phone, "000A"), Err(0x6982));
    assert_eq!(sign(&mut phone, &[7; 32]).1, 0x6982);
    assert_eq!(sw(&mut phone, "00A4020C020018"), 0x9000);
    assert_eq!(sw(&mut phone, "0020008004313233"), 0x6700, "Lc 4 with 3 bytes is not an APDU: 67 00");
    assert_eq!(sw(&mut phone, "002000800431323334"), 0x9000);
    let der = read_certificate(&mut phone, "000A").unwrap();
    let (signature, status) = sign(&mut phone, &Sha256::digest(b"challenge").into());
    assert_eq!(status, 0x9000);
    assert_eq!(signature.len(), 64);
    let certificate = Certificate::from_der(&der).unwrap();
    let key = VerifyingKey::from_sec1_bytes(certificate.tbs_certificate().subject_public_key_info().subject_public_key.raw_bytes()).unwrap();
    let signature = Signature::from_slice(&signature).unwrap();
    assert!(key.verify_prehash(&Sha256::digest(b"challenge"), &signature).is_ok());
}

/// The physical card signs a PKCS#1 DigestInfo with RSA-2048, as OpenSC and jpki-cli expect:
/// the answer verifies as an ordinary sha256WithRSAEncryption signature under its certificate.
#[test]
fn physical_card_signs_a_digest_info_with_rsa_2048() {
    use rsa::pkcs1v15::{Signature as RsaSignature, VerifyingKey as RsaVerifyingKey};
    use rsa::signature::Verifier;
    use spki::DecodePublicKey;
    let mut physical = card(DeviceKind::Card);
    sw(&mut physical, SELECT_JPKI);
    let der = read_certificate(&mut physical, "000A").unwrap();
    sw(&mut physical, "00A4020C020018");
    assert_eq!(sw(&mut physical, "002000800431323334"), 0x9000);
    sw(&mut physical, "00A4020C020017");
    let digest_info = [mynatap_sim::pki::keys::SHA256_DIGEST_INFO_PREFIX.as_slice(), &Sha256::digest(b"challenge")].concat();
    let (signature, status) = send(&mut physical, &format!("802A0080{:02X}{}00", digest_info.len(), hex::encode(&digest_info)));
    assert_eq!(status, 0x9000);
    assert_eq!(signature.len(), 256);
    let certificate = Certificate::from_der(&der).unwrap();
    let spki = certificate.tbs_certificate().subject_public_key_info().to_der().unwrap();
    let key = RsaVerifyingKey::<Sha256>::from_public_key_der(&spki).unwrap();
    key.verify(b"challenge", &RsaSignature::try_from(signature.as_slice()).unwrap()).unwrap();
}

#[test]
fn iphone_signs_only_after_face_id_and_verify_never_unlocks_it() {
    let mut phone = card(DeviceKind::Iphone);
    assert_eq!(sw(&mut phone, SELECT_JPKI), 0x9000);
    assert!(read_certificate(&mut phone, "000A").is_ok(), "free to read on an iPhone");
    assert_eq!(sign(&mut phone, &[1; 32]).1, 0x6982);
    assert_eq!(sw(&mut phone, "00A4020C020018"), 0x9000);
    assert_eq!(sw(&mut phone, "002000800431323334"), 0x6982, "VERIFY is refused");
    assert_eq!(sign(&mut phone, &[1; 32]).1, 0x6982, "and unlocked nothing");
    phone.set_user_verified(true);
    assert_eq!(sign(&mut phone, &[1; 32]).1, 0x9000);
    phone.reset();
    assert!(!phone.user_verified(), "a reset drops the unlock");
    assert_eq!(sw(&mut phone, "80FC0000"), 0x9000, "the iPhone's final command");
    assert_eq!(sw(&mut card(DeviceKind::Card), "80FC0000"), 0x6700, "cards refuse it");
}

#[test]
fn physical_card_pin_counts_down_blocks_and_survives_reset() {
    let mut physical = card(DeviceKind::Card);
    assert_eq!(sw(&mut physical, SELECT_JPKI), 0x9000);
    assert_eq!(sw(&mut physical, "00A4020C020018"), 0x9000);
    assert_eq!(sw(&mut physical, "00200080"), 0x63C3, "reading the counter spends nothing");
    assert_eq!(sw(&mut physical, "002000800439393939"), 0x63C2);
    assert_eq!(sw(&mut physical, "002000800431323334"), 0x9000, "right PIN resets the counter");
    assert_eq!(sw(&mut physical, "00200080"), 0x63C3);
    assert_eq!(sw(&mut physical, "002000800439393939"), 0x63C2);
    assert_eq!(sw(&mut physical, "002000800439393939"), 0x63C1);
    physical.reset();
    assert_eq!(sw(&mut physical, SELECT_JPKI), 0x9000);
    assert_eq!(sw(&mut physical, "00A4020C020018"), 0x9000);
    assert_eq!(sw(&mut physical, "00200080"), 0x63C1, "the counter survives a reset");
    assert_eq!(sw(&mut physical, "002000800439393939"), 0x63C0);
    assert_eq!(sw(&mut physical, "002000800431323334"), 0x6984, "blocked, even with the right PIN");
    assert_eq!(sw(&mut physical, "00200080"), 0x6984);
}

#[test]
fn three_wrong_then_right_gives_the_documented_sequence() {
    let mut physical = card(DeviceKind::Card);
    sw(&mut physical, SELECT_JPKI);
    sw(&mut physical, "00A4020C020018");
    let answers: Vec<u16> = ["0439393939", "0439393939", "0439393939", "0431323334"].iter().map(|pin| sw(&mut physical, &format!("00200080{pin}"))).collect();
    assert_eq!(answers, vec![0x63C2, 0x63C1, 0x63C0, 0x6984]);
}

#[test]
fn card_info_application_reads_basic_four_after_its_pin() {
    let mut phone = card(DeviceKind::Iphone);
    assert_eq!(sw(&mut phone, SELECT_CARD_INFO), 0x9000);
    assert_eq!(sw(&mut phone, "00A4020C020002"), 0x9000);
    assert_eq!(sw(&mut phone, "00B0000000"), 0x6982);
    assert_eq!(sw(&mut phone, "00A4020C020011"), 0x9000);
    assert_eq!(sw(&mut phone, "002000800431323334"), 0x9000, "the card-info PIN does verify on an iPhone");
    assert_eq!(sw(&mut phone, "00A4020C020002"), 0x9000);
    let (tlv, status) = send(&mut phone, "00B0000000");
    assert_eq!(status, 0x9000);
    assert_eq!(&tlv[..2], &[0xFF, 0x20]);
    let text = String::from_utf8_lossy(&tlv);
    assert!(text.contains("19900512"));
    assert_eq!(sw(&mut card(DeviceKind::Android), SELECT_CARD_INFO), 0x6A82, "Android has only JPKI");
}

#[test]
fn every_error_status_word() {
    let mut physical = card(DeviceKind::Card);
    assert_eq!(sw(&mut physical, "00A4000C023F00"), StatusWord::WRONG_P1_P2.0, "no master file");
    assert_eq!(sw(&mut physical, "00A4040C05A000000001"), StatusWord::FILE_NOT_FOUND.0);
    assert_eq!(sw(&mut physical, "00A4020C02000A"), StatusWord::FILE_NOT_FOUND.0, "no application selected");
    assert_eq!(sw(&mut physical, "00B0000004"), StatusWord::NO_CURRENT_EF.0);
    assert_eq!(sw(&mut physical, SELECT_JPKI), 0x9000);
    assert_eq!(sw(&mut physical, "00A4020C01FF"), StatusWord::WRONG_LENGTH.0);
    assert_eq!(sw(&mut physical, "00A4020C02ABCD"), StatusWord::FILE_NOT_FOUND.0);
    assert_eq!(sw(&mut physical, "00A4020C02000A"), 0x9000);
    assert_eq!(sw(&mut physical, "00B0"), StatusWord::WRONG_LENGTH.0, "not an APDU");
    assert_eq!(sw(&mut physical, "00B00000"), StatusWord::WRONG_LENGTH.0, "READ without Le");
    assert_eq!(sw(&mut physical, "00B0FFFF04"), StatusWord::WRONG_P1_P2.0, "short EF id");
    assert_eq!(sw(&mut physical, "00B07FFF04"), StatusWord::OFFSET_OUT_OF_RANGE.0);
    assert_eq!(sw(&mut physical, "00200080"), StatusWord::NO_CURRENT_EF.0, "VERIFY on a certificate");
    assert_eq!(sw(&mut physical, "00200180"), StatusWord::WRONG_P1_P2.0);
    assert_eq!(sw(&mut physical, "802A0080201111111111111111111111111111111111111111111111111111111111111111"), StatusWord::NO_CURRENT_EF.0);
    assert_eq!(sw(&mut physical, "00A4020C020017"), 0x9000);
    assert_eq!(sw(&mut physical, "00B0000004"), StatusWord::SECURITY_STATUS_NOT_SATISFIED.0, "keys are never readable");
    assert_eq!(sw(&mut physical, "802A008020111111111111111111111111111111111111111111111111111111111111111100"), 0x6982);
    sw(&mut physical, "00A4020C020018");
    assert_eq!(sw(&mut physical, "002000800431323334"), 0x9000);
    sw(&mut physical, "00A4020C020017");
    let too_long = format!("802A0080F6{}00", "11".repeat(246));
    assert_eq!(sw(&mut physical, &too_long), StatusWord::WRONG_LENGTH.0, "RSA-2048 signs at most 245 bytes");
    assert_eq!(sw(&mut physical, "802A0180021122"), StatusWord::WRONG_P1_P2.0);
    assert_eq!(sw(&mut physical, "00CA0000"), StatusWord::INS_NOT_SUPPORTED.0);
    assert_eq!(sw(&mut physical, "80A4040C00"), StatusWord::CLA_NOT_SUPPORTED.0);
    assert_eq!(sw(&mut physical, "A0A4040C00"), StatusWord::CLA_NOT_SUPPORTED.0);
    assert_eq!(sw(&mut physical, "00A4040100"), StatusWord::WRONG_P1_P2.0, "P2 01 is not a SELECT option");
}

#[test]
fn signature_file_needs_the_signature_password() {
    let mut physical = card(DeviceKind::Card);
    sw(&mut physical, SELECT_JPKI);
    assert_eq!(read_certificate(&mut physical, "0001"), Err(0x6982));
    sw(&mut physical, "00A4020C02001B");
    assert_eq!(sw(&mut physical, "00200080"), 0x63C5);
    assert_eq!(sw(&mut physical, &format!("0020008006{}", hex::encode("ABC123"))), 0x9000);
    assert!(read_certificate(&mut physical, "0001").is_ok());
}

#[test]
fn debug_output_never_shows_key_material() {
    let physical = card(DeviceKind::Card);
    let printed = format!("{physical:?}");
    assert!(printed.contains("<secret>"));
    assert!(!printed.contains("1234"), "{printed}");
}
