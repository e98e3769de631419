//! Which parts of a recorded answer a replay must meet, shared by `capture import` and
//! `capture replay`: the status word always; the data only where it is the same on every device
//! of a kind (the token label, empty answers); for data that differs per device (certificates,
//! signatures, challenges, personal data) only what does not: a signature's length (the key's),
//! a challenge's length, the DER header a certificate starts with, the length of a full first
//! chunk of a file.

use mynatap_sim::terminal::card_surface;
use mynatap_sim::terminal::jpki;

use crate::scenario::ApduExpect;

/// What is selected on the device, followed through the capture's SELECTs.
#[derive(Debug, Default, Clone)]
pub struct Selection {
    application: Option<Vec<u8>>,
    file: Option<[u8; 2]>,
}

/// A recorded answer turned into what a replay must meet, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    /// What the replayed device's answer must meet.
    pub expect: ApduExpect,
    /// Short words for the scenario's comment and the replay's report.
    pub note: &'static str,
}

impl Selection {
    /// Whether `application` is selected.
    pub fn in_application(&self, application: &[u8]) -> bool {
        self.application.as_deref() == Some(application)
    }

    /// Whether `file` of `application` is selected.
    pub fn is(&self, application: &[u8], file: [u8; 2]) -> bool {
        self.in_application(application) && self.file == Some(file)
    }

    /// A power cycle selects nothing.
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    /// What to keep of `response` to `command`, and what the command selected (followed when the
    /// device accepted it).
    pub fn keep(&mut self, command: &[u8], response: &[u8]) -> Kept {
        let (data, sw) = match response.split_last_chunk::<2>() {
            Some((data, sw)) => (data, u16::from_be_bytes(*sw)),
            None => (response, 0),
        };
        let mut expect = ApduExpect { sw, data: None, data_len: None, data_prefix: None };
        let (cla, ins, p1) = match command {
            [cla, ins, p1, ..] => (*cla, *ins, *p1),
            _ => return Kept { expect, note: "not an APDU" },
        };
        let body = command_data(command);
        if data.is_empty() {
            // Nothing came back: the same on every device.
            expect.data = Some(Vec::new());
        }
        let note = match (cla & 0x0F, ins) {
            (0x00, 0xA4) => {
                if sw == 0x9000 {
                    match (p1, body) {
                        (0x04, Some(aid)) => {
                            self.application = Some(aid.to_vec());
                            self.file = None;
                        }
                        (0x00..=0x02, Some([high, low])) => self.file = Some([*high, *low]),
                        _ => {}
                    }
                }
                if !data.is_empty() {
                    // File control information: sizes differ per device.
                    expect.data_len = Some(data.len());
                }
                "select"
            }
            (0x00, 0xB0 | 0xB1) => self.keep_read(command, data, &mut expect),
            (0x00, 0x20) => "verify",
            (0x00, 0x84) => {
                expect.data_len = Some(data.len());
                "challenge: length only"
            }
            (0x00 | 0x80, 0x2A) | (0x00, 0x88) if !data.is_empty() => {
                expect.data_len = Some(data.len());
                "signature: length only (the key's)"
            }
            _ => "status word",
        };
        Kept { expect, note }
    }

    fn keep_read(&self, command: &[u8], data: &[u8], expect: &mut ApduExpect) -> &'static str {
        if data.is_empty() {
            return "read";
        }
        let in_jpki = self.in_application(&jpki::AID);
        let offset = match command {
            [_, 0xB0, p1, p2, ..] if p1 & 0x80 == 0 => usize::from(u16::from_be_bytes([*p1, *p2])),
            _ => usize::MAX,
        };
        if self.is(&jpki::AID, jpki::TOKEN_INFO) {
            // The token label names the kind of device: the same on every device of a kind.
            expect.data = Some(data.to_vec());
            return "token label: exact";
        }
        // A full first chunk (a header, a first block) is as long on every device: each such
        // file is longer. Later chunks are not: a reader asks for what this device's file holds.
        let asked = expected_length(command);
        if offset == 0 && asked.is_some_and(|asked| asked == data.len()) {
            expect.data_len = Some(data.len());
        }
        if self.in_application(&card_surface::AID) {
            return "card surface (personal): length of a full first chunk only";
        }
        if in_jpki
            && offset == 0
            && let Some(header @ [0x30, _]) = data.get(..2)
        {
            // A certificate: a DER SEQUENCE with a two-byte length, whoever it names.
            expect.data_prefix = Some(header.to_vec());
            return "certificate: DER header, length of a full first chunk";
        }
        "file content (per device): length of a full first chunk only"
    }
}

/// The command data of a short or extended APDU, if any.
pub fn command_data(command: &[u8]) -> Option<&[u8]> {
    match command {
        [_, _, _, _, 0, high, low, rest @ ..] if rest.len() >= usize::from(u16::from_be_bytes([*high, *low])) && u16::from_be_bytes([*high, *low]) > 0 => {
            rest.get(..usize::from(u16::from_be_bytes([*high, *low])))
        }
        [_, _, _, _, lc, rest @ ..] if *lc > 0 && rest.len() >= usize::from(*lc) => rest.get(..usize::from(*lc)),
        _ => None,
    }
}

/// Le of a case 2 READ BINARY (`00 B0 P1 P2 Le`): `None` for "as much as there is" (00).
fn expected_length(command: &[u8]) -> Option<usize> {
    match command {
        [_, _, _, _, le] if *le != 0 => Some(usize::from(*le)),
        [_, _, _, _, 0, high, low] if [*high, *low] != [0, 0] => Some(usize::from(u16::from_be_bytes([*high, *low]))),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn kept(selection: &mut Selection, command: &str, response: &str) -> ApduExpect {
        selection.keep(&hex::decode(command).unwrap(), &hex::decode(response).unwrap()).expect
    }

    #[test]
    fn token_label_exact_certificate_header_signature_length() {
        let mut s = Selection::default();
        assert_eq!(kept(&mut s, "00A4040C0AD392F00026010000000100", "9000").data, Some(vec![]));
        kept(&mut s, "00A4020C020006", "9000");
        let label = kept(&mut s, "00B0000000", "4A504B494150475053454E9000");
        assert_eq!(label.data, Some(hex::decode("4A504B494150475053454E").unwrap()));
        kept(&mut s, "00A4020C02000A", "9000");
        let header = kept(&mut s, "00B0000004", "308202B79000");
        assert_eq!((header.data, header.data_len, header.data_prefix), (None, Some(4), Some(vec![0x30, 0x82])));
        let later_chunk = kept(&mut s, "00B0010003", "0102039000");
        assert_eq!((later_chunk.data, later_chunk.data_len), (None, None));
        let signature = kept(&mut s, "802A00800300010200", &format!("{}9000", "AB".repeat(64)));
        assert_eq!((signature.data, signature.data_len), (None, Some(64)));
        let refused = kept(&mut s, "00B0000004", "6982");
        assert_eq!((refused.sw, refused.data), (0x6982, Some(vec![])));
        s.reset();
        let label_after_reset = kept(&mut s, "00B0000000", "4A9000");
        assert_eq!(label_after_reset.data, None);
    }
}
