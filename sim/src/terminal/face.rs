//! FLOW-3 on the physical card by face recognition: the camera's verification number B opens
//! the card-surface application, the face image is read from its entries and compared, and the
//! flow goes on to the certificate without a PIN or a signature (docs/protocol.md).

use super::tap::{Stage, Tap};
use super::{jpki, CardAuth, Reason};
use crate::apdu::{CommandApdu, ResponseApdu, StatusWord};
use crate::card::surface::{find_entry, JP2_SIGNATURE};

/// The card-surface confirmation application's public values: what a terminal uses, and what
/// it must never touch (number A, the My Number image).
pub mod card_surface {
    pub const AID: [u8; 10] = [0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x02];
    pub const NUMBER_B: [u8; 2] = [0x00, 0x12];
    pub const NUMBER_A: [u8; 2] = [0x00, 0x13];
    pub const ENTRIES: [u8; 2] = [0x00, 0x02];
    pub const MY_NUMBER_IMAGE: [u8; 2] = [0x00, 0x05];
}

/// The card-info input support application (no clinic step goes there; only the
/// `read-my-number` mutant does).
pub mod card_info {
    pub const AID: [u8; 10] = [0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x08];
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
                self.entries.clear();
                self.select_file(Stage::SelectEntries, "SELECT card-surface entries", card_surface::ENTRIES);
            }
            Stage::VerifyNumberB => match response.sw.retries() {
                Some(left) => self.reject(Reason::ProtocolError, format!("the card refused verification number B as the camera read it ({left} tries left)")),
                None if response.sw == StatusWord::PIN_BLOCKED => self.reject(Reason::ProtocolError, "verification number B is blocked (69 84)"),
                None => self.unexpected(response),
            },
            Stage::SelectEntries if ok => self.read(Stage::ReadEntries, "READ entries", 0, 256),
            Stage::ReadEntries if ok => {
                self.entries.extend_from_slice(&response.data);
                if self.entries.len() > MAX_ENTRIES_LEN {
                    return self.reject(Reason::ProtocolError, format!("card-surface entries over the {MAX_ENTRIES_LEN}-byte limit"));
                }
                if response.data.len() < 256 {
                    return self.compare_face();
                }
                self.read(Stage::ReadEntries, "READ entries", self.entries.len(), 256);
            }
            // The file ended exactly at a chunk's end.
            Stage::ReadEntries if response.sw == StatusWord::OFFSET_OUT_OF_RANGE && !self.entries.is_empty() => self.compare_face(),
            Stage::ReselectJpki if ok => self.select_file(Stage::SelectCertificate, "SELECT certificate", jpki::AUTH_CERT),
            _ => self.unexpected(response),
        }
    }

    fn compare_face(&mut self) {
        let Some(face) = find_entry(&self.entries, 0x27) else {
            return self.reject(Reason::ProtocolError, "the card-surface entries hold no face image (DF 27)");
        };
        if !face.starts_with(&JP2_SIGNATURE) {
            return self.reject(Reason::ProtocolError, "the card's face image is not JPEG 2000");
        }
        if matches!(self.request.auth, CardAuth::Face { face_match: false, .. }) {
            return self.reject(Reason::FaceNotMatched, "the face before the camera is not the card's");
        }
        let select = CommandApdu::new(0x00, 0xA4, 0x04, 0x0C).with_data(jpki::AID.to_vec());
        self.send(Stage::ReselectJpki, "SELECT JPKI", &select);
    }
}
