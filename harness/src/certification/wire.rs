//! What the card's wire shows of one tap: which application and file each command addressed,
//! and a file's bytes as the card answered READ BINARY. Shared by the wire rules (what must never
//! happen) and the evidence rules (what a verdict must rest on), with the record they judge.

use mynatap_sim::contract::Contract;
use mynatap_sim::driver::SeenApdu;
use mynatap_sim::pki::PublicKey;
use mynatap_sim::profile::DeviceKind;
use mynatap_sim::service::BackendFault;
use mynatap_sim::terminal::{Outcome, card_info, card_surface, jpki};

use crate::certification::http_backend::HttpRequest;
use crate::scenario::Expectation;

/// What one tap left on the wires, and what it was meant to be.
#[derive(Debug)]
pub struct TapRecord<'a> {
    /// The kind of device tapped.
    pub device: DeviceKind,
    /// The card's face path (FLOW-3 by face recognition).
    pub face: bool,
    /// What the scenario expects of the tap.
    pub expect: &'a Expectation,
    /// The tap's back-end fault, if any.
    pub backend_fault: Option<BackendFault>,
    /// Every APDU the device saw.
    pub seen: &'a [SeenApdu],
    /// Every HTTP request the back ends saw.
    pub http: &'a [HttpRequest],
    /// The contract the tap is judged by (the face path's card-surface checks are 1.2).
    pub contract: Contract,
    /// The reader's verdict, when it gave one: what the evidence rules hold it to.
    pub claimed: Option<&'a Outcome>,
    /// Every trusted authority of the world (generations of one name, oldest first).
    pub cas: &'a [PublicKey],
    /// What the patient typed (`MYNATAP_PIN`).
    pub pin: &'a str,
    /// Whether another program could reach the card during the reader's work with it:
    /// `Some(true)` a bystander's command was answered between the reader's, `Some(false)` it was
    /// refused (exclusive connection or transaction), `None` nothing to conclude.
    pub card_shared: Option<bool>,
    /// The tap's card was held again after its removal (contract 1.3): the flow may start over.
    pub held_again: bool,
    /// The reader's commands to a card left in the field by an earlier tap, before this tap's
    /// card arrived (contract 1.3): not part of this tap's flow.
    pub left_in_field: &'a [SeenApdu],
}

/// Which file of which application a command addresses (as far as the wire shows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Selected {
    Jpki([u8; 2]),
    CardInfo([u8; 2]),
    CardSurface([u8; 2]),
    Other,
}

/// Whether the card answered `90 00`.
pub(crate) fn succeeded(apdu: &SeenApdu) -> bool {
    apdu.response.as_ref().is_some_and(|r| r.ends_with(&[0x90, 0x00]))
}

/// Where each command of `seen` landed, in order: successful SELECTs by AID and by file id move
/// the selection; a failed SELECT leaves it where it was (as the card does).
pub(crate) fn targets(seen: &[SeenApdu]) -> Vec<Selected> {
    let mut selected = Selected::Other;
    let mut targets = Vec::with_capacity(seen.len());
    for apdu in seen {
        match apdu.command.as_slice() {
            [0x00, 0xA4, 0x04, _, _, aid @ ..] if succeeded(apdu) => {
                let aid = aid.get(..10).unwrap_or(aid);
                selected = if aid == jpki::AID {
                    Selected::Jpki([0, 0])
                } else if aid == card_info::AID {
                    Selected::CardInfo([0, 0])
                } else if aid == card_surface::AID {
                    Selected::CardSurface([0, 0])
                } else {
                    Selected::Other
                };
            }
            [0x00, 0xA4, 0x02, _, 0x02, high, low, ..] if succeeded(apdu) => {
                let fid = [*high, *low];
                selected = match selected {
                    Selected::Jpki(_) => Selected::Jpki(fid),
                    Selected::CardInfo(_) => Selected::CardInfo(fid),
                    Selected::CardSurface(_) => Selected::CardSurface(fid),
                    Selected::Other => Selected::Other,
                };
            }
            _ => {}
        }
        targets.push(selected);
    }
    targets
}

/// Largest offset plus answer a READ BINARY with a short offset can reach (15-bit offset).
const MAX_FILE_SPAN: usize = 0x7FFF + 65_536;

/// The bytes of one file as the card answered every successful READ BINARY of it, placed at the
/// offsets read: what the reader was shown, whatever order it read in.
#[derive(Debug, Default)]
pub(crate) struct FileRead {
    bytes: Vec<u8>,
    shown: Vec<bool>,
}

impl FileRead {
    /// The reads of `file` in `seen` (`targets` from [`targets`]).
    pub(crate) fn of(seen: &[SeenApdu], targets: &[Selected], file: Selected) -> Self {
        let mut read = Self::default();
        for (apdu, target) in seen.iter().zip(targets) {
            let ([0x00, 0xB0, p1, p2, ..], Some(response)) = (apdu.command.as_slice(), apdu.response.as_deref()) else { continue };
            if *target != file || !succeeded(apdu) || p1 & 0x80 != 0 {
                continue;
            }
            let offset = usize::from(u16::from_be_bytes([*p1, *p2]));
            let data = response.get(..response.len().saturating_sub(2)).unwrap_or_default();
            let end = (offset + data.len()).min(MAX_FILE_SPAN);
            if read.bytes.len() < end {
                read.bytes.resize(end, 0);
                read.shown.resize(end, false);
            }
            for (at, byte) in (offset..end).zip(data) {
                if let (Some(slot), Some(shown)) = (read.bytes.get_mut(at), read.shown.get_mut(at)) {
                    *slot = *byte;
                    *shown = true;
                }
            }
        }
        read
    }

    /// Whether any byte was read.
    pub(crate) fn any(&self) -> bool {
        self.shown.iter().any(|shown| *shown)
    }

    /// The bytes read without a gap from the file's start.
    pub(crate) fn leading(&self) -> &[u8] {
        let len = self.shown.iter().position(|shown| !shown).unwrap_or(self.shown.len());
        self.bytes.get(..len).unwrap_or_default()
    }
}

/// The length a DER value announces in its first bytes (tag, then short or long length).
pub(crate) fn der_length(header: &[u8]) -> Option<usize> {
    match header {
        [_, 0x82, high, low, ..] => Some(usize::from(u16::from_be_bytes([*high, *low])) + 4),
        [_, 0x81, len, ..] => Some(usize::from(*len) + 3),
        [_, len, ..] if *len < 0x80 => Some(usize::from(*len) + 2),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn apdu(sequence: u64, command: &str, response: &str) -> SeenApdu {
        SeenApdu { sequence, command: hex::decode(command).unwrap(), response: Some(hex::decode(response).unwrap()) }
    }

    #[test]
    fn a_file_is_put_together_from_reads_in_any_order_and_gaps_show() {
        let seen = [
            apdu(0, "00A4040C0AD392F000260100000001", "9000"),
            apdu(1, "00A4020C02000A", "9000"),
            apdu(2, "00B0000202", "CCDD9000"),
            apdu(3, "00B0000002", "AABB9000"),
            apdu(4, "00B0000602", "99996982"),
            apdu(5, "00B0000802", "EEFF9000"),
        ];
        let targets = targets(&seen);
        let read = FileRead::of(&seen, &targets, Selected::Jpki(jpki::AUTH_CERT));
        assert!(read.any());
        assert_eq!(read.leading(), [0xAA, 0xBB, 0xCC, 0xDD], "a refused read shows nothing; a gap ends the start");
        assert!(!FileRead::of(&seen, &targets, Selected::Jpki(jpki::TOKEN_INFO)).any());
    }

    #[test]
    fn der_lengths() {
        assert_eq!(der_length(&[0x30, 0x82, 0x03, 0x85]), Some(0x389));
        assert_eq!(der_length(&[0x30, 0x81, 0x90]), Some(0x93));
        assert_eq!(der_length(&[0x30, 0x05]), Some(7));
        assert_eq!(der_length(&[0x30, 0x83]), None);
    }
}
