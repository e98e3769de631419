//! ISO/IEC 7816-4 command and response APDUs.
//!
//! The decoder reads untrusted bytes: every malformed input is a typed [`ApduError`], nothing
//! panics, and nothing is allocated beyond the input's own length (which is itself bounded by
//! [`MAX_COMMAND_LEN`]).

use std::fmt;

/// Longest well-formed command APDU: header, extended Lc (3 bytes), 65 535 data bytes, extended Le.
pub const MAX_COMMAND_LEN: usize = 4 + 3 + 65_535 + 2;
/// Largest Ne (expected response length) an extended Le can ask for.
pub const MAX_NE: u32 = 65_536;

/// A status word (SW1 SW2).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StatusWord(pub u16);

impl StatusWord {
    /// `90 00`: the command was carried out.
    pub const SUCCESS: Self = Self(0x9000);
    /// `63 Cx`: verification failed, x tries left (`63 C0`: that try blocked it).
    pub const fn tries_left(tries: u8) -> Self {
        Self(0x63C0 | (tries as u16 & 0x0F))
    }
    /// `67 00`: wrong length (Lc or Le).
    pub const WRONG_LENGTH: Self = Self(0x6700);
    /// `69 82`: security status not satisfied (a PIN or key not verified first).
    pub const SECURITY_STATUS_NOT_SATISFIED: Self = Self(0x6982);
    /// `69 84`: the Japanese card standard's "PIN blocked" (ISO would say `69 83`).
    pub const PIN_BLOCKED: Self = Self(0x6984);
    /// `69 86`: no current EF (a read or sign without a file selected).
    pub const NO_CURRENT_EF: Self = Self(0x6986);
    /// `6A 80`: incorrect parameters in the data field.
    pub const WRONG_DATA: Self = Self(0x6A80);
    /// `6A 82`: file or application not found.
    pub const FILE_NOT_FOUND: Self = Self(0x6A82);
    /// `6A 86`: incorrect P1 P2.
    pub const WRONG_P1_P2: Self = Self(0x6A86);
    /// `6B 00`: offset outside the file.
    pub const OFFSET_OUT_OF_RANGE: Self = Self(0x6B00);
    /// `6D 00`: instruction not supported.
    pub const INS_NOT_SUPPORTED: Self = Self(0x6D00);
    /// `6E 00`: class not supported.
    pub const CLA_NOT_SUPPORTED: Self = Self(0x6E00);
    /// No precise diagnosis: the card failed inside (ISO 7816-4 `6F 00`).
    pub const TECHNICAL_PROBLEM: Self = Self(0x6F00);

    /// The first status byte.
    pub const fn sw1(self) -> u8 {
        (self.0 >> 8) as u8
    }
    /// The second status byte.
    pub const fn sw2(self) -> u8 {
        self.0 as u8
    }
    /// Whether this is `90 00`.
    pub const fn is_success(self) -> bool {
        self.0 == 0x9000
    }
    /// `Some(x)` for `63 Cx`.
    pub const fn retries(self) -> Option<u8> {
        if self.0 & 0xFFF0 == 0x63C0 { Some(self.sw2() & 0x0F) } else { None }
    }
}

impl fmt::Debug for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04X}", self.0)
    }
}

impl fmt::Display for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02X} {:02X}", self.sw1(), self.sw2())
    }
}

/// Why bytes are not a command or response APDU.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApduError {
    #[error("a command APDU needs at least 4 bytes (CLA INS P1 P2), got {0}")]
    /// Fewer bytes than the four-byte header.
    TooShort(usize),
    #[error("a command APDU is at most {MAX_COMMAND_LEN} bytes, got {0}")]
    /// Longer than the longest extended APDU.
    TooLong(usize),
    #[error("Lc says {lc} data bytes but the APDU is {len} bytes long")]
    /// Lc does not match the bytes that follow it.
    LengthMismatch {
        /// The data length Lc says.
        lc: usize,
        /// The APDU's whole length.
        len: usize,
    },
    #[error("extended length marker 00 is followed by too few bytes ({0}-byte APDU)")]
    /// An extended-length marker without its two length bytes.
    BadExtendedLength(usize),
    #[error("extended Lc must not be zero")]
    /// An extended Lc of zero (ISO 7816-4 forbids it).
    ZeroExtendedLc,
    #[error("a response APDU needs at least the 2-byte status word, got {0} bytes")]
    /// A response shorter than its status word.
    ResponseTooShort(usize),
    #[error("command data of {0} bytes does not fit an APDU (max 65535)")]
    /// Command data longer than an extended Lc can say.
    DataTooLong(usize),
    #[error("Ne of {0} is outside 1..=65536")]
    /// An Ne outside 1..=65536.
    BadNe(u32),
}

/// A command APDU. `ne` is the expected response length Ne (1..=65536), `None` when Le is absent.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct CommandApdu {
    /// The class byte.
    pub cla: u8,
    /// The instruction byte.
    pub ins: u8,
    /// The first parameter byte.
    pub p1: u8,
    /// The second parameter byte.
    pub p2: u8,
    /// The command data (Lc is its length; empty: no Lc).
    pub data: Vec<u8>,
    /// The expected response length Ne (`None`: no Le).
    pub ne: Option<u32>,
}

impl CommandApdu {
    /// A command without data or Le.
    pub fn new(cla: u8, ins: u8, p1: u8, p2: u8) -> Self {
        Self { cla, ins, p1, p2, data: Vec::new(), ne: None }
    }
    /// The same command carrying `data`.
    pub fn with_data(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.data = data.into();
        self
    }
    /// The same command expecting up to `ne` response bytes.
    pub fn with_ne(mut self, ne: u32) -> Self {
        self.ne = Some(ne);
        self
    }

    /// The ISO case (1 to 4) of this command.
    pub fn case(&self) -> u8 {
        match (self.data.is_empty(), self.ne.is_some()) {
            (true, false) => 1,
            (true, true) => 2,
            (false, false) => 3,
            (false, true) => 4,
        }
    }

    /// Whether encoding needs the extended length form.
    pub fn needs_extended(&self) -> bool {
        self.data.len() > 255 || self.ne.is_some_and(|ne| ne > 256)
    }

    /// Decodes untrusted bytes (ISO/IEC 7816-3 12.1.3).
    pub fn decode(bytes: &[u8]) -> Result<Self, ApduError> {
        let len = bytes.len();
        if len > MAX_COMMAND_LEN {
            return Err(ApduError::TooLong(len));
        }
        let (header, body) = match bytes.split_first_chunk::<4>() {
            Some(split) => split,
            None => return Err(ApduError::TooShort(len)),
        };
        let [cla, ins, p1, p2] = *header;
        let mut apdu = Self::new(cla, ins, p1, p2);
        match body {
            [] => {}
            [le] => apdu.ne = Some(short_ne(*le)),
            [0, rest @ ..] => decode_extended_body(&mut apdu, rest, len)?,
            [lc, rest @ ..] => {
                let lc = usize::from(*lc);
                match rest.len().checked_sub(lc) {
                    Some(0) => apdu.data = rest.to_vec(),
                    Some(1) => {
                        let (data, le) = rest.split_at(lc);
                        apdu.data = data.to_vec();
                        apdu.ne = le.first().map(|&le| short_ne(le));
                    }
                    _ => return Err(ApduError::LengthMismatch { lc, len }),
                }
            }
        }
        Ok(apdu)
    }

    /// Encodes in the shortest form that holds the command.
    pub fn encode(&self) -> Result<Vec<u8>, ApduError> {
        let mut out = Vec::with_capacity(4 + 3 + self.data.len() + 2);
        self.encode_into(&mut out)?;
        Ok(out)
    }

    /// Encodes into `out` (appended), in the shortest form that holds the command.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), ApduError> {
        if self.data.len() > 65_535 {
            return Err(ApduError::DataTooLong(self.data.len()));
        }
        if let Some(ne) = self.ne
            && !(1..=MAX_NE).contains(&ne)
        {
            return Err(ApduError::BadNe(ne));
        }
        out.extend_from_slice(&[self.cla, self.ins, self.p1, self.p2]);
        let extended = self.needs_extended();
        if !self.data.is_empty() {
            if extended {
                out.push(0);
                out.extend_from_slice(&(self.data.len() as u16).to_be_bytes());
            } else {
                out.push(self.data.len() as u8);
            }
            out.extend_from_slice(&self.data);
        }
        if let Some(ne) = self.ne {
            if extended {
                if self.data.is_empty() {
                    out.push(0);
                }
                // Ne 65536 is encoded as 00 00, which the truncating cast gives.
                out.extend_from_slice(&(ne as u16).to_be_bytes());
            } else {
                out.push(ne as u8);
            }
        }
        Ok(())
    }
}

fn short_ne(le: u8) -> u32 {
    if le == 0 { 256 } else { u32::from(le) }
}

fn extended_ne(le: [u8; 2]) -> u32 {
    match u16::from_be_bytes(le) {
        0 => MAX_NE,
        n => u32::from(n),
    }
}

/// `rest` is what follows the `00` extended-length marker.
fn decode_extended_body(apdu: &mut CommandApdu, rest: &[u8], len: usize) -> Result<(), ApduError> {
    let (lc_or_le, rest) = match rest.split_first_chunk::<2>() {
        Some(split) => split,
        None => return Err(ApduError::BadExtendedLength(len)),
    };
    if rest.is_empty() {
        apdu.ne = Some(extended_ne(*lc_or_le));
        return Ok(());
    }
    let lc = usize::from(u16::from_be_bytes(*lc_or_le));
    if lc == 0 {
        return Err(ApduError::ZeroExtendedLc);
    }
    match rest.len().checked_sub(lc) {
        Some(0) => apdu.data = rest.to_vec(),
        Some(2) => {
            let (data, le) = rest.split_at(lc);
            apdu.data = data.to_vec();
            let le: [u8; 2] = le.try_into().map_err(|_| ApduError::LengthMismatch { lc, len })?;
            apdu.ne = Some(extended_ne(le));
        }
        _ => return Err(ApduError::LengthMismatch { lc, len }),
    }
    Ok(())
}

impl fmt::Debug for CommandApdu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02X} {:02X} {:02X} {:02X}", self.cla, self.ins, self.p1, self.p2)?;
        if !self.data.is_empty() {
            write!(f, " [{}] {}", self.data.len(), hex::encode_upper(&self.data))?;
        }
        if let Some(ne) = self.ne {
            write!(f, " Ne={ne}")?;
        }
        Ok(())
    }
}

/// A response APDU: data and status word.
#[derive(Clone, PartialEq, Eq)]
pub struct ResponseApdu {
    /// The response data (without the status word).
    pub data: Vec<u8>,
    /// The status word.
    pub sw: StatusWord,
}

impl ResponseApdu {
    /// A response of a status word alone.
    pub fn status(sw: StatusWord) -> Self {
        Self { data: Vec::new(), sw }
    }
    /// Data followed by `90 00`.
    pub fn success(data: Vec<u8>) -> Self {
        Self { data, sw: StatusWord::SUCCESS }
    }
    /// Reads response bytes (untrusted): data, then the last two bytes as the status word.
    pub fn decode(bytes: &[u8]) -> Result<Self, ApduError> {
        match bytes.split_last_chunk::<2>() {
            Some((data, sw)) => Ok(Self { data: data.to_vec(), sw: StatusWord(u16::from_be_bytes(*sw)) }),
            None => Err(ApduError::ResponseTooShort(bytes.len())),
        }
    }
    /// The response's bytes: data, then the status word.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.data.len() + 2);
        out.extend_from_slice(&self.data);
        out.extend_from_slice(&self.sw.0.to_be_bytes());
        out
    }
}

impl fmt::Debug for ResponseApdu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.data.is_empty() {
            write!(f, "[{}] {} ", self.data.len(), hex::encode_upper(&self.data))?;
        }
        write!(f, "{}", self.sw)
    }
}

/// Why typed hex is not bytes.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum HexError {
    /// A group between spaces or colons has an odd number of digits (`0 0A4`: a typo, not `00 A4`).
    #[error("`{group}` after {digits_before} hex digits has an odd number of digits: spaces and colons may stand only between whole bytes")]
    OddGroup {
        /// The group, its first 16 characters.
        group: String,
        /// Hex digits before it.
        digits_before: usize,
    },
    /// Something that is not a hex digit.
    #[error("not hex: {0}")]
    NotHex(#[from] hex::FromHexError),
}

/// Parses hex as people type it: spaces and colons between bytes are ignored.
pub fn parse_hex(text: &str) -> Result<Vec<u8>, HexError> {
    let mut bytes = Vec::with_capacity(text.len() / 2);
    let mut digits = 0;
    for token in text.split(|c: char| c.is_whitespace() || c == ':').filter(|token| !token.is_empty()) {
        if token.len() % 2 != 0 {
            return Err(HexError::OddGroup { group: token.chars().take(16).collect(), digits_before: digits });
        }
        bytes.extend(hex::decode(token)?);
        digits += token.len();
    }
    Ok(bytes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hex_as_people_type_it() {
        assert_eq!(parse_hex("00 a4:04 0C").unwrap(), vec![0x00, 0xA4, 0x04, 0x0C]);
        assert_eq!(parse_hex("").unwrap(), Vec::<u8>::new());
        assert_eq!(parse_hex("00A4 0 4").unwrap_err(), HexError::OddGroup { group: "0".into(), digits_before: 4 });
        assert!(matches!(parse_hex("zz"), Err(HexError::NotHex(_))));
        assert!(parse_hex("0 0A4").unwrap_err().to_string().contains("odd number of digits"));
    }

    #[test]
    fn decodes_every_case_in_short_and_extended_form() {
        let case1 = CommandApdu::decode(&[0, 0xA4, 4, 0x0C]).unwrap();
        assert_eq!(case1.case(), 1);
        let case2 = CommandApdu::decode(&[0, 0xB0, 0, 0, 0]).unwrap();
        assert_eq!(case2.ne, Some(256));
        let case3 = CommandApdu::decode(&[0, 0xA4, 2, 0x0C, 2, 0, 0x0A]).unwrap();
        assert_eq!(case3.data, vec![0, 0x0A]);
        let case4 = CommandApdu::decode(&[0x80, 0x2A, 0, 0x80, 1, 0xAA, 0]).unwrap();
        assert_eq!((case4.data.as_slice(), case4.ne), (&[0xAA][..], Some(256)));
        let case2e = CommandApdu::decode(&[0, 0xB0, 0, 0, 0, 0, 0]).unwrap();
        assert_eq!(case2e.ne, Some(65_536));
        let case3e = CommandApdu::decode(&[0, 0xD6, 0, 0, 0, 0, 2, 1, 2]).unwrap();
        assert_eq!((case3e.data.len(), case3e.ne), (2, None));
        let case4e = CommandApdu::decode(&[0, 0xD6, 0, 0, 0, 0, 1, 9, 0x01, 0x00]).unwrap();
        assert_eq!((case4e.data.as_slice(), case4e.ne), (&[9][..], Some(256)));
    }

    #[test]
    fn rejects_malformed_commands_with_typed_errors() {
        assert_eq!(CommandApdu::decode(&[0, 0xA4]), Err(ApduError::TooShort(2)));
        assert_eq!(CommandApdu::decode(&[0, 0xA4, 4, 0, 5, 1]), Err(ApduError::LengthMismatch { lc: 5, len: 6 }));
        assert_eq!(CommandApdu::decode(&[0, 0xA4, 4, 0, 0, 1]), Err(ApduError::BadExtendedLength(6)));
        assert_eq!(CommandApdu::decode(&[0, 0xA4, 4, 0, 0, 0, 0, 1]), Err(ApduError::ZeroExtendedLc));
        assert_eq!(CommandApdu::decode(&vec![0; MAX_COMMAND_LEN + 1]), Err(ApduError::TooLong(MAX_COMMAND_LEN + 1)));
        assert_eq!(ResponseApdu::decode(&[0x90]), Err(ApduError::ResponseTooShort(1)));
    }

    #[test]
    fn status_words_read_retries() {
        assert_eq!(StatusWord(0x63C2).retries(), Some(2));
        assert_eq!(StatusWord::tries_left(0), StatusWord(0x63C0));
        assert_eq!(StatusWord::PIN_BLOCKED.retries(), None);
        assert_eq!(StatusWord::SUCCESS.to_string(), "90 00");
    }

    pub(crate) fn command_strategy() -> impl Strategy<Value = CommandApdu> {
        let data = prop_oneof![
            4 => proptest::collection::vec(any::<u8>(), 0..=255),
            1 => proptest::collection::vec(any::<u8>(), 256..=1024),
        ];
        let ne = prop_oneof![Just(None), (1u32..=256).prop_map(Some), (1u32..=MAX_NE).prop_map(Some)];
        (any::<[u8; 4]>(), data, ne).prop_map(|([cla, ins, p1, p2], data, ne)| CommandApdu { cla, ins, p1, p2, data, ne })
    }

    proptest! {
        #[test]
        fn encode_then_decode_is_identity(apdu in command_strategy()) {
            let bytes = apdu.encode().unwrap();
            prop_assert_eq!(CommandApdu::decode(&bytes).unwrap(), apdu);
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            if let Ok(apdu) = CommandApdu::decode(&bytes) {
                // Whatever decodes re-encodes, and is no longer than what came in.
                let again = apdu.encode().unwrap();
                prop_assert!(again.len() <= bytes.len());
            }
            let _ = ResponseApdu::decode(&bytes);
        }

        #[test]
        fn response_round_trips(data in proptest::collection::vec(any::<u8>(), 0..300), sw in any::<u16>()) {
            let response = ResponseApdu { data, sw: StatusWord(sw) };
            prop_assert_eq!(ResponseApdu::decode(&response.encode()).unwrap(), response);
        }
    }
}
