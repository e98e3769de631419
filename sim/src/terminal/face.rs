//! FLOW-3 on the physical card by face recognition: the camera's verification number B opens
//! the card-surface application; its certificate, the signed card face and a challenge to the
//! card's own key prove the card genuine; the face image is compared; the flow goes on to the JPKI
//! certificate without a PIN or a JPKI signature (docs/protocol.md).

use super::tap::{Stage, Tap};
use super::{CardAuth, Reason, jpki};
use crate::apdu::{CommandApdu, ResponseApdu, StatusWord};
use sha2::{Digest, Sha256};

use crate::messages::surface::{JP2_SIGNATURE, find_entry, signed_groups};
use crate::pki::card_verifiable::{CvCertificate, parse_card_encoding, three_digest_info, verify_digest_info};
use crate::pki::{KeyAlgorithm, PublicKey};

/// The card-surface confirmation application's public values: what a terminal uses, and what
/// it must never touch (number A, the My Number image).
pub mod card_surface {
    /// The application identifier.
    pub const AID: [u8; 10] = [0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x02];
    /// Verification number B (what the camera reads off the card).
    pub const NUMBER_B: [u8; 2] = [0x00, 0x12];
    /// Verification number A (the My Number): a terminal never presents it.
    pub const NUMBER_A: [u8; 2] = [0x00, 0x13];
    /// The card-surface entries, with the face image (the card face record).
    pub const ENTRIES: [u8; 2] = [0x00, 0x02];
    /// The birth-date key (opens the age record).
    pub const BIRTH_DATE_KEY: [u8; 2] = [0x00, 0x11];
    /// The age record.
    pub const AGE_RECORD: [u8; 2] = [0x00, 0x01];
    /// The application's basic data.
    pub const BASIC_DATA: [u8; 2] = [0x00, 0x03];
    /// The signer's card-verifiable certificate.
    pub const CERTIFICATE: [u8; 2] = [0x00, 0x04];
    /// The My Number image: a terminal never reads it.
    pub const MY_NUMBER_IMAGE: [u8; 2] = [0x00, 0x05];
}

/// The card-info input support application (no clinic step goes there; only the
/// `read-my-number` mutant does).
pub mod card_info {
    /// The application identifier.
    pub const AID: [u8; 10] = [0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x08];
    /// The My Number: a terminal never reads it.
    pub const MY_NUMBER: [u8; 2] = [0x00, 0x01];
}

/// Largest entries file a terminal reads (the real one, with its images, is a few kilobytes).
pub const MAX_ENTRIES_LEN: usize = 16 * 1024;

impl Tap<'_> {
    /// After FLOW-2 found a physical card: PIN or face, as the patient chose.
    pub(super) fn begin_card_auth(&mut self) {
        if mutant!(self, ReadMyNumber) && self.stage != Stage::ReadMyNumber {
            let select = CommandApdu::new(0x00, 0xA4, 0x04, 0x0C).with_data(card_info::AID.to_vec());
            return self.send(Stage::SelectCardInfo, "SELECT card-info", &select);
        }
        match &self.request.auth {
            CardAuth::Pin => self.begin_pin(),
            CardAuth::Face { .. } => {
                let select = CommandApdu::new(0x00, 0xA4, 0x04, 0x0C).with_data(card_surface::AID.to_vec());
                self.send(Stage::SelectCardSurface, "SELECT card surface", &select);
            }
        }
    }

    /// Answers to the face path's commands (and the mutant's detour).
    pub(super) fn advance_face(&mut self, response: &ResponseApdu) {
        let ok = response.sw.is_success();
        match self.stage {
            Stage::SelectCardInfo => self.select_file(Stage::SelectMyNumber, "SELECT My Number", card_info::MY_NUMBER),
            Stage::SelectMyNumber => self.read(Stage::ReadMyNumber, "READ My Number", 0, 12),
            // Whatever the card said, the defect goes on as if it had never asked.
            Stage::ReadMyNumber => self.begin_card_auth(),
            Stage::SelectCardSurface if ok => self.select_file(Stage::SelectNumberB, "SELECT number B", card_surface::NUMBER_B),
            Stage::SelectNumberB if ok => {
                let surface = match &self.request.auth {
                    CardAuth::Face { surface, .. } => surface.as_bytes().to_vec(),
                    CardAuth::Pin => Vec::new(),
                };
                self.send(Stage::VerifyNumberB, "VERIFY number B", &CommandApdu::new(0x00, 0x20, 0x00, 0x80).with_data(surface));
            }
            Stage::VerifyNumberB if ok => {
                self.surface_certificate.clear();
                self.select_file(Stage::SelectSurfaceCertificate, "SELECT card-surface certificate", card_surface::CERTIFICATE);
            }
            Stage::VerifyNumberB => match response.sw.retries() {
                Some(left) => self.reject(Reason::ProtocolError, format!("the card refused verification number B as the camera read it ({left} tries left)")),
                None if response.sw == StatusWord::PIN_BLOCKED => self.reject(Reason::ProtocolError, "verification number B is blocked (69 84)"),
                None => self.unexpected(response),
            },
            Stage::SelectSurfaceCertificate if ok => self.read(Stage::ReadSurfaceCertificate, "READ card-surface certificate", 0, 256),
            Stage::ReadSurfaceCertificate if ok || self.file_ended(response, true) => {
                if self.take_chunk(response, true) {
                    self.entries.clear();
                    self.select_file(Stage::SelectEntries, "SELECT card-surface entries", card_surface::ENTRIES);
                }
            }
            Stage::SelectEntries if ok => self.read(Stage::ReadEntries, "READ entries", 0, 256),
            Stage::ReadEntries if ok || self.file_ended(response, false) => {
                if self.take_chunk(response, false) {
                    self.check_surface();
                }
            }
            Stage::ChallengeCard => self.check_card_answer(response),
            Stage::ReselectJpki if ok => self.select_file(Stage::SelectCertificate, "SELECT certificate", jpki::AUTH_CERT),
            _ => self.unexpected(response),
        }
    }

    /// Whether a read of a file ended exactly at a chunk's end (`6B 00` after some data).
    fn file_ended(&self, response: &ResponseApdu, certificate: bool) -> bool {
        let read = if certificate { &self.surface_certificate } else { &self.entries };
        response.sw == StatusWord::OFFSET_OUT_OF_RANGE && !read.is_empty()
    }

    /// Keeps a chunk of the file being read; `true` when the file is complete (a short chunk, or
    /// the end of the file), after asking for the next chunk otherwise.
    fn take_chunk(&mut self, response: &ResponseApdu, certificate: bool) -> bool {
        let (stage, name) = if certificate { (Stage::ReadSurfaceCertificate, "READ card-surface certificate") } else { (Stage::ReadEntries, "READ entries") };
        let read = if certificate { &mut self.surface_certificate } else { &mut self.entries };
        if !response.sw.is_success() {
            return true;
        }
        read.extend_from_slice(&response.data);
        let have = read.len();
        if have > MAX_ENTRIES_LEN {
            self.reject(Reason::ProtocolError, format!("{name}: the file is over the {MAX_ENTRIES_LEN}-byte limit"));
            return false;
        }
        if response.data.len() < 256 {
            return true;
        }
        self.read(stage, name, have, 256);
        false
    }

    /// The card-surface checks (contract 1.2): the application's certificate under the trusted
    /// card-surface CA, the card face's signature under the key it certifies, then a fresh
    /// challenge to the card's own key (this chip, not a copy of its files).
    fn check_surface(&mut self) {
        let Some(certificate) = CvCertificate::parse(&self.surface_certificate) else {
            return self.reject(Reason::CardNotGenuine, "the card-surface certificate (00 04) is not a card-verifiable certificate");
        };
        if !self.surface_ca().is_some_and(|ca| certificate.verify_with(ca)) {
            return self.reject(Reason::CardNotGenuine, "the card-surface certificate (00 04) is not issued by the trusted card-surface CA");
        }
        let Some(groups) = signed_groups(&self.entries) else {
            return self.reject(Reason::ProtocolError, "the card face (00 02) lacks the signed items DF 22 to DF 27");
        };
        let signature = find_entry(&self.entries, 0x28).unwrap_or_default();
        let signed = verify_digest_info(&certificate.public_key, &three_digest_info([&groups[0], &groups[1], &groups[2]]), signature);
        if !signed && !mutant!(self, SkipRecordSignature) {
            return self.reject(Reason::CardNotGenuine, "the card face's signature (DF 28) does not verify: the photo or the printed data is not the card's");
        }
        let Some(face) = find_entry(&self.entries, 0x27) else {
            return self.reject(Reason::ProtocolError, "the card-surface entries hold no face image (DF 27)");
        };
        if !face.starts_with(&JP2_SIGNATURE) {
            return self.reject(Reason::ProtocolError, "the card's face image is not JPEG 2000");
        }
        let Some(card_key) = find_entry(&self.entries, 0x24).and_then(parse_card_encoding) else {
            return self.reject(Reason::CardNotGenuine, "the card face's public key (DF 24) is not an RSA-2048 key in the card's encoding");
        };
        self.card_key = Some(card_key);
        if mutant!(self, SkipCardChallenge) {
            return self.compare_face();
        }
        // The same fresh challenge a PIN tap would sign: one challenge a tap, never repeated.
        let digest_info = KeyAlgorithm::Rsa2048.sign_command_data(&Sha256::digest(self.challenge()).into());
        let challenge = CommandApdu::new(0x80, 0x2A, 0x00, 0x00).with_data(digest_info).with_ne(256);
        self.send(Stage::ChallengeCard, "SIGN challenge (card's own key)", &challenge);
    }

    fn check_card_answer(&mut self, response: &ResponseApdu) {
        if !response.sw.is_success() {
            return self.reject(Reason::CardNotGenuine, format!("the card did not answer the challenge of its own key ({})", response.sw));
        }
        let digest: [u8; 32] = Sha256::digest(self.challenge()).into();
        let answered = self.card_key.as_ref().is_some_and(|key| PublicKey::rsa(key.clone()).verify_challenge(&digest, &response.data));
        if !answered {
            return self.reject(
                Reason::CardNotGenuine,
                "the card's answer to the challenge does not verify with the key in its records: a copy of the files on another chip",
            );
        }
        self.compare_face();
    }

    fn compare_face(&mut self) {
        if matches!(self.request.auth, CardAuth::Face { face_match: false, .. }) {
            return self.reject(Reason::FaceNotMatched, "the face before the camera is not the card's");
        }
        let select = CommandApdu::new(0x00, 0xA4, 0x04, 0x0C).with_data(jpki::AID.to_vec());
        self.send(Stage::ReselectJpki, "SELECT JPKI", &select);
    }

    /// The printed expiry `DF 29` of the card face read on this tap (face path), if any.
    pub(super) fn printed_expiry(&self) -> Option<time::Date> {
        let text = std::str::from_utf8(find_entry(&self.entries, 0x29)?).ok()?;
        time::Date::parse(text, time::macros::format_description!("[year][month][day]")).ok()
    }
}
