//! The card-surface confirmation application (券面事項確認) of the physical card: what the
//! face-auth terminal unlocks with verification number B read off the card by its camera, and
//! the entries file holding the face image it compares with the patient (docs/protocol.md).

use super::push_tlv;

/// A small JPEG 2000 face (16x16 grey, an oval): test material, never a real person. The
/// comparison's result comes from the scenario (`face_match`), not from this image.
pub const FACE_IMAGE_JP2: &[u8] = include_bytes!("../../../fixtures/card-surface/face.jp2");
/// A blank PNG standing in for the printed name, address and security code.
pub const BLANK_PNG: &[u8] = include_bytes!("../../../fixtures/card-surface/blank.png");
/// The JPEG 2000 signature box every JP2 file starts with (ISO/IEC 15444-1 I.5.1).
pub const JP2_SIGNATURE: [u8; 12] = [0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20, 0x0D, 0x0A, 0x87, 0x0A];

/// What is printed on the card's face, as the card-surface application holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardSurface {
    /// Birth date `YYYYMMDD`.
    pub birth_date: String,
    /// The card's own expiry date `YYYYMMDD` (printed on it).
    pub expires: String,
    /// The 4-digit security code printed under the photo.
    pub security_code: String,
    /// `1` male, `2` female, `9` not applicable.
    pub sex: String,
    /// The holder's My Number (verification number A; never to be presented by a terminal).
    pub my_number: String,
    /// The card's public key, as the entries file carries it (DER SubjectPublicKeyInfo).
    pub public_key: Vec<u8>,
}

impl CardSurface {
    /// Verification number B: birth date `YYMMDD`, the card's expiry year, the security code
    /// (14 digits), what a camera reads off the card.
    pub fn number_b(&self) -> String {
        let birth = self.birth_date.get(2..8).unwrap_or_default();
        let expiry_year = self.expires.get(..4).unwrap_or_default();
        format!("{birth}{expiry_year}{}", self.security_code)
    }

    /// The entries file `00 02`: a `FF 20` template (as in the card-info application's basic
    /// four items, and as public readers such as jpki-rs parse it) holding `DF 21` offsets, then
    /// `DF 22` birth date, `DF 23` sex,
    /// `DF 24` public key, `DF 25` name image, `DF 26` address image, `DF 27` face image
    /// (JPEG 2000), `DF 28` signature (modeled: zeros), `DF 29` expiry, `DF 2A` security-code image.
    pub fn entries(&self) -> Vec<u8> {
        let signature = [0u8; 256];
        let items: [(u8, &[u8]); 9] = [
            (0x22, self.birth_date.as_bytes()),
            (0x23, self.sex.as_bytes()),
            (0x24, &self.public_key),
            (0x25, BLANK_PNG),
            (0x26, BLANK_PNG),
            (0x27, FACE_IMAGE_JP2),
            (0x28, &signature),
            (0x29, self.expires.as_bytes()),
            (0x2A, BLANK_PNG),
        ];
        let mut body = Vec::new();
        let mut offsets = Vec::new();
        for (tag, value) in items {
            // Offsets count from the start of the file: past the template's head (`FF 20 82 LL LL`)
            // and the offsets item (2 + 1 + 18 bytes).
            let at = u16::try_from(body.len() + 5 + 21).unwrap_or(u16::MAX);
            offsets.extend_from_slice(&at.to_be_bytes());
            push_tlv(&mut body, &[0xDF, tag], value);
        }
        let mut value = Vec::with_capacity(body.len() + 21);
        push_tlv(&mut value, &[0xDF, 0x21], &offsets);
        value.extend_from_slice(&body);
        let mut out = Vec::with_capacity(value.len() + 4);
        push_tlv(&mut out, &[0xFF, 0x20], &value);
        out
    }
}

/// Finds a `DF xx` item in an entries file (untrusted bytes), inside its `FF 20` template:
/// `None` when absent or malformed. Bytes after the template (an EF padded with `FF`) are ignored.
pub fn find_entry(entries: &[u8], tag: u8) -> Option<&[u8]> {
    let (template, _) = split_tlv(entries, [0xFF, 0x20])?;
    let mut rest = template;
    while !rest.is_empty() {
        let [0xDF, item, ..] = *rest else { return None };
        let (value, tail) = split_tlv(rest, [0xDF, item])?;
        if item == tag {
            return Some(value);
        }
        rest = tail;
    }
    None
}

/// Splits a TLV with the two-byte `tag` off the front of `bytes`: its value and what follows.
fn split_tlv(bytes: &[u8], tag: [u8; 2]) -> Option<(&[u8], &[u8])> {
    let rest = bytes.strip_prefix(&tag)?;
    let (len, rest) = match *rest {
        [len @ 0..=0x7F, ref rest @ ..] => (usize::from(len), rest),
        [0x81, len, ref rest @ ..] => (usize::from(len), rest),
        [0x82, high, low, ref rest @ ..] => (usize::from(u16::from_be_bytes([high, low])), rest),
        _ => return None,
    };
    Some((rest.get(..len)?, rest.get(len..)?))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn surface() -> CardSurface {
        CardSurface {
            birth_date: "19900512".into(),
            expires: "20350512".into(),
            security_code: "4321".into(),
            sex: "2".into(),
            my_number: "123456789018".into(),
            public_key: vec![0x30, 0x00],
        }
    }

    #[test]
    fn number_b_is_birth_date_expiry_year_and_security_code() {
        assert_eq!(surface().number_b(), "90051220354321");
        assert_eq!(surface().number_b().len(), 14);
    }

    #[test]
    fn entries_carry_a_jpeg_2000_face_and_every_item_is_found() {
        let entries = surface().entries();
        let face = find_entry(&entries, 0x27).unwrap();
        assert!(face.starts_with(&JP2_SIGNATURE));
        assert_eq!(find_entry(&entries, 0x29).unwrap(), b"20350512");
        assert_eq!(find_entry(&entries, 0x22).unwrap(), b"19900512");
        assert_eq!(find_entry(&entries, 0x30), None);
        assert_eq!(find_entry(&entries[..entries.len() - 1], 0x2A), None, "truncated");
        assert_eq!(&entries[..2], &[0xFF, 0x20], "one FF 20 template, as jpki-rs reads it");
        let padded = [entries.as_slice(), &[0xFF; 40]].concat();
        assert_eq!(find_entry(&padded, 0x29).unwrap(), b"20350512", "EF padding after the template");
    }
}
