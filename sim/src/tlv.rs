//! BER-TLV as the card's files write it: one- or two-byte tags, lengths short below 128 and in the
//! `82` form from 128 on (as the JPKI test card's files have it, never `81`).

/// Appends `tag`, the length of `value` and `value` (at most 65 535 bytes).
pub fn push_tlv(out: &mut Vec<u8>, tag: &[u8], value: &[u8]) {
    out.extend_from_slice(tag);
    match value.len() {
        len @ 0..=0x7F => out.push(len as u8),
        len => {
            out.push(0x82);
            out.extend_from_slice(&(len.min(0xFFFF) as u16).to_be_bytes());
        }
    }
    out.extend_from_slice(value);
}

/// Splits a TLV with exactly `tag` off the front of `bytes` (untrusted; lengths in the short,
/// `81` or `82` form): its value and what follows, or `None` on any other shape.
pub fn split_tlv<'a>(bytes: &'a [u8], tag: &[u8]) -> Option<(&'a [u8], &'a [u8])> {
    let rest = bytes.strip_prefix(tag)?;
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

    #[test]
    fn lengths_from_128_take_the_82_form_and_read_back() {
        let mut out = Vec::new();
        push_tlv(&mut out, &[0xDF, 0x41], &[0xAA; 145]);
        assert_eq!(&out[..5], &[0xDF, 0x41, 0x82, 0x00, 0x91], "as surface-0005.bin writes DF 41");
        let (value, rest) = split_tlv(&out, &[0xDF, 0x41]).unwrap();
        assert_eq!((value.len(), rest.len()), (145, 0));
        assert_eq!(split_tlv(&out[..100], &[0xDF, 0x41]), None, "truncated");
        assert_eq!(split_tlv(&[0x90, 0x81, 0x01, 0x07], &[0x90]), Some((&[0x07][..], &[][..])));
    }
}
