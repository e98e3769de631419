//! The card-surface application's file formats as a reader meets them (untrusted bytes): the
//! `DF xx` items of a file's template, the card face's three signed groups, the JPEG 2000
//! signature a face image starts with. The card writes these files (`card::surface`); the
//! terminal and the evidence rules read them through here.

use crate::tlv::split_tlv;

/// The JPEG 2000 signature box every JP2 file starts with (ISO/IEC 15444-1 I.5.1).
pub const JP2_SIGNATURE: [u8; 12] = [0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20, 0x0D, 0x0A, 0x87, 0x0A];

/// Finds a `DF xx` item in a card face file (untrusted bytes), inside its `FF 20` template:
/// `None` when absent or malformed. Bytes after the template (an EF padded with `FF`) are ignored.
pub fn find_entry(entries: &[u8], tag: u8) -> Option<&[u8]> {
    find_in(entries, [0xFF, 0x20], tag)
}

/// Finds `DF tag` inside the `template` of a file (untrusted bytes).
pub fn find_in(file: &[u8], template: [u8; 2], tag: u8) -> Option<&[u8]> {
    let (template, _) = split_tlv(file, &template)?;
    let mut rest = template;
    while !rest.is_empty() {
        let [0xDF, item, ..] = *rest else { return None };
        let (value, tail) = split_tlv(rest, &[0xDF, item])?;
        if item == tag {
            return Some(value);
        }
        rest = tail;
    }
    None
}

/// The card face's three signed groups, as written (`DF22 DF23 DF24`, `DF25 DF26`, `DF27`):
/// `None` unless the file holds every one of them in that order.
pub fn signed_groups(card_face: &[u8]) -> Option<[Vec<u8>; 3]> {
    let (template, _) = split_tlv(card_face, &[0xFF, 0x20])?;
    let mut raw: Vec<(u8, &[u8])> = Vec::new();
    let mut rest = template;
    while !rest.is_empty() {
        let [0xDF, item, ..] = *rest else { return None };
        let (_, tail) = split_tlv(rest, &[0xDF, item])?;
        raw.push((item, rest.get(..rest.len() - tail.len())?));
        rest = tail;
    }
    let whole = |tags: &[u8]| -> Option<Vec<u8>> {
        let mut out = Vec::new();
        for tag in tags {
            out.extend_from_slice(raw.iter().find(|(item, _)| item == tag)?.1);
        }
        Some(out)
    };
    Some([whole(&[0x22, 0x23, 0x24])?, whole(&[0x25, 0x26])?, whole(&[0x27])?])
}
