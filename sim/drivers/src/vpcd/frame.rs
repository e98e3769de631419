//! vpcd's framing, sans-IO: a 2-byte big-endian length, then the payload; a 1-byte payload is
//! a control message.

use super::{MAX_FRAME_LEN, VpcdError};

/// What one frame from vpcd asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message<'a> {
    /// Power the card off.
    PowerOff,
    /// Power the card on.
    PowerOn,
    /// Reset the card (warm reset).
    Reset,
    /// Send the ATR.
    GetAtr,
    /// A control byte this bridge does not know; ignored (vpcd expects no answer to controls).
    UnknownControl(u8),
    /// A command APDU to answer.
    Apdu(&'a [u8]),
}

impl<'a> Message<'a> {
    /// Reads one frame's payload (untrusted): a one-byte control, or an APDU.
    pub fn classify(payload: &'a [u8]) -> Result<Self, VpcdError> {
        Ok(match payload {
            [] => return Err(VpcdError::EmptyFrame),
            [0x00] => Self::PowerOff,
            [0x01] => Self::PowerOn,
            [0x02] => Self::Reset,
            [0x04] => Self::GetAtr,
            [other] => Self::UnknownControl(*other),
            apdu => Self::Apdu(apdu),
        })
    }
}

/// Reads a frame's length header; refuses lengths no APDU can have.
pub fn parse_length(header: [u8; 2]) -> Result<usize, VpcdError> {
    match usize::from(u16::from_be_bytes(header)) {
        0 => Err(VpcdError::EmptyFrame),
        len if len > MAX_FRAME_LEN => Err(VpcdError::FrameTooLong(len)),
        len => Ok(len),
    }
}

/// Frames a payload for vpcd.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let len = u16::try_from(payload.len()).unwrap_or(u16::MAX);
    let mut out = Vec::with_capacity(payload.len() + 2);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload.get(..usize::from(len)).unwrap_or(payload));
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::vpcd::reader_name;

    #[test]
    fn frames_and_messages() {
        assert_eq!(parse_length([0x00, 0x05]).unwrap(), 5);
        assert!(matches!(parse_length([0xFF, 0xFF]), Err(VpcdError::FrameTooLong(65_535))));
        assert!(matches!(parse_length([0, 0]), Err(VpcdError::EmptyFrame)));
        assert_eq!(Message::classify(&[4]).unwrap(), Message::GetAtr);
        assert_eq!(Message::classify(&[0, 0xA4, 4, 0]).unwrap(), Message::Apdu(&[0, 0xA4, 4, 0]));
        assert_eq!(frame(&[0x90, 0x00]), vec![0, 2, 0x90, 0x00]);
        assert_eq!(reader_name(35964), "Virtual PCD 00 01");
    }
}
