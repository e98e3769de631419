//! The card-surface confirmation application (券面事項確認) of the physical card, as a JPKI test
//! card holds it (docs/protocol.md): the era-year keys a terminal presents, the signed records
//! (`00 01` age, `00 02` card face, `00 05` My Number image), the application's basic data
//! `00 03`, its card-verifiable certificate `00 04`, and the forgeries scenarios may ask for.

use std::fmt;
use std::sync::{Arc, OnceLock};

use sha2::{Digest, Sha256};

use crate::pki::PkiError;
use crate::pki::card_verifiable::{SurfaceAuthority, three_digest_info};
use crate::tlv::push_tlv;

/// A small JPEG 2000 face (16x16 grey, an oval): test material, never a real person. The
/// comparison's result comes from the scenario (`face_match`), not from this image.
pub const FACE_IMAGE_JP2: &[u8] = include_bytes!("../../../fixtures/card-surface/face.jp2");
/// A blank PNG standing in for the printed name, address, security code and My Number.
pub const BLANK_PNG: &[u8] = include_bytes!("../../../fixtures/card-surface/blank.png");

/// A forged or cloned physical card (scenario contract 1.2, `card.forgery`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Forgery {
    /// The face image is another person's; every other byte is genuine.
    PhotoSwapped,
    /// The card face's signature is damaged.
    FaceSignatureInvalid,
    /// Consistently signed records under a card-surface CA no terminal trusts.
    UnknownSurfaceCa,
    /// The genuine files on another chip: the card's own key and the JPKI keys are not genuine.
    Clone,
}

impl Forgery {
    /// Every forgery, in the order the contract lists them.
    pub const ALL: [Forgery; 4] = [Self::PhotoSwapped, Self::FaceSignatureInvalid, Self::UnknownSurfaceCa, Self::Clone];
    /// The scenario format's name (`photo_swapped`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::PhotoSwapped => "photo_swapped",
            Self::FaceSignatureInvalid => "face_signature_invalid",
            Self::UnknownSurfaceCa => "unknown_surface_ca",
            Self::Clone => "clone",
        }
    }
    /// The forgery of a scenario name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|forgery| forgery.name() == name)
    }
}

impl fmt::Display for Forgery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What is printed on the card's face, as the card-surface application holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardSurface {
    /// Birth date `YYYYMMDD` (Gregorian, as `DF 11` and `DF 22` write it).
    pub birth_date: String,
    /// The card's own expiry date `YYYYMMDD` (printed on it; `DF 29`, not signed).
    pub expires: String,
    /// The 4-digit security code printed under the photo.
    pub security_code: String,
    /// `1` male, `2` female, `9` not applicable.
    pub sex: String,
    /// The holder's My Number (verification number A; never to be presented by a terminal).
    pub my_number: String,
    /// The card's own public key (RSA-2048) in the card's `90`/`91` encoding: the key that answers
    /// `80 2A 00 00`, carried in `DF 12`, `DF 24` and `DF 42`.
    pub card_key: Vec<u8>,
}

/// The era a date falls in: the Gregorian year of its first year, and the day it began.
const ERAS: [(i32, (i32, u8, u8)); 5] = [
    (2019, (2019, 5, 1)),   // 令和
    (1989, (1989, 1, 8)),   // 平成
    (1926, (1926, 12, 25)), // 昭和
    (1912, (1912, 7, 30)),  // 大正
    (1868, (1868, 1, 25)),  // 明治
];

/// A Gregorian `YYYYMMDD` as the card's keys write it: the Japanese era year, then `MMDD`
/// (1980-02-17 is 昭和55: `550217`). Before 明治 (1868-01-25) there is no era: the Gregorian
/// `YYMMDD`; an era year past 99 keeps its last two digits (documented in docs/protocol.md).
pub fn era_yymmdd(gregorian: &str) -> String {
    let parse = |range: std::ops::Range<usize>| gregorian.get(range).and_then(|text| text.parse::<i32>().ok());
    let (Some(year), Some(month), Some(day)) = (parse(0..4), parse(4..6), parse(6..8)) else {
        return gregorian.get(2..8).unwrap_or_default().to_owned();
    };
    let era_year = ERAS.iter().find(|(_, (y, m, d))| (year, month, day) >= (*y, i32::from(*m), i32::from(*d))).map_or(year, |(first, _)| year - first + 1);
    format!("{:02}{month:02}{day:02}", era_year.rem_euclid(100))
}

/// Birth dates whose era-year `YYMMDD` is `key`, latest first: a key names a day in each era
/// where that era lasted long enough (`020512`: 令和2 = 2020-05-12, 平成2 = 1990-05-12, ...).
pub fn birth_dates_for_key(key: &str) -> Vec<time::Date> {
    let parse = |range: std::ops::Range<usize>| key.get(range).and_then(|text| text.parse::<i32>().ok());
    let (Some(era_year), Some(month), Some(day)) = (parse(0..2), parse(2..4), parse(4..6)) else { return Vec::new() };
    let Ok(month) = time::Month::try_from(u8::try_from(month).unwrap_or(0)) else { return Vec::new() };
    ERAS.iter()
        .filter_map(|(first, _)| time::Date::from_calendar_date(first + era_year - 1, month, u8::try_from(day).ok()?).ok())
        .filter(|date| key.get(..6) == Some(era_yymmdd(&crate::clock::yyyymmdd(*date)).as_str()))
        .collect()
}

/// The card-surface application's files, as personalised.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SurfaceFiles {
    /// `00 01`: `FF 10 { DF 11 birth, DF 12 card key, DF 13 signature }`.
    pub age_record: Vec<u8>,
    /// `00 02`: `FF 20 { DF 21 offsets, DF 22 .. DF 2A }`.
    pub card_face: Vec<u8>,
    /// `00 03`: `FF 30 { DF 31 .. DF 35 }`.
    pub basic_data: Vec<u8>,
    /// `00 04`: the signer's card-verifiable certificate.
    pub certificate: Vec<u8>,
    /// `00 05`: `FF 40 { DF 41 image, DF 42 card key, DF 43 signature }`.
    pub my_number_image: Vec<u8>,
}

/// The card-surface files of one card, signed the first time a terminal reads one. Three RSA
/// signatures per card cost more than most taps, and most cards of a generated life are never
/// read face first; the bytes are the same whenever they are made (PKCS#1 v1.5 is deterministic).
pub struct LazySurfaceFiles {
    surface: CardSurface,
    authority: Arc<SurfaceAuthority>,
    forgery: Option<Forgery>,
    files: OnceLock<Result<SurfaceFiles, String>>,
}

impl fmt::Debug for LazySurfaceFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LazySurfaceFiles").field("surface", &self.surface).field("forgery", &self.forgery).field("signed", &self.files.get().is_some()).finish()
    }
}

impl LazySurfaceFiles {
    /// The files of `surface`, to be signed by `authority`'s signer and spoiled as `forgery` says.
    pub fn new(surface: CardSurface, authority: Arc<SurfaceAuthority>, forgery: Option<Forgery>) -> Self {
        Self { surface, authority, forgery, files: OnceLock::new() }
    }

    /// What is printed on the card.
    pub fn printed(&self) -> &CardSurface {
        &self.surface
    }

    /// The files, signed now if no one has read them before.
    pub fn files(&self) -> Result<&SurfaceFiles, PkiError> {
        self.files.get_or_init(|| self.surface.files(&self.authority, self.forgery).map_err(|e| e.to_string())).as_ref().map_err(|e| PkiError::Key(e.clone()))
    }
}

impl CardSurface {
    /// Verification number B: the era-year birth date `YYMMDD`, the card's expiry year, the
    /// security code (14 digits): what a camera reads off the card.
    pub fn number_b(&self) -> String {
        let expiry_year = self.expires.get(..4).unwrap_or_default();
        format!("{}{expiry_year}{}", self.birth_date_key(), self.security_code)
    }

    /// The birth-date key `00 11`: the era-year `YYMMDD` (it opens the age record only).
    pub fn birth_date_key(&self) -> String {
        era_yymmdd(&self.birth_date)
    }

    /// Builds and signs every file with `authority`'s signer; `forgery` spoils what it says.
    pub fn files(&self, authority: &SurfaceAuthority, forgery: Option<Forgery>) -> Result<SurfaceFiles, PkiError> {
        let age_record = signed_record(0xFF10, &[(0x11, self.birth_date.as_bytes()), (0x12, &self.card_key)], 0x13, authority)?;
        let my_number_image = signed_record(0xFF40, &[(0x41, BLANK_PNG), (0x42, &self.card_key)], 0x43, authority)?;
        let tlv = |tag: u8, value: &[u8]| {
            let mut out = Vec::new();
            push_tlv(&mut out, &[0xDF, tag], value);
            out
        };
        let groups = [
            [tlv(0x22, self.birth_date.as_bytes()), tlv(0x23, self.sex.as_bytes()), tlv(0x24, &self.card_key)].concat(),
            [tlv(0x25, BLANK_PNG), tlv(0x26, BLANK_PNG)].concat(),
            tlv(0x27, FACE_IMAGE_JP2),
        ];
        let mut signature = authority.sign_digest_info(&three_digest_info([&groups[0], &groups[1], &groups[2]]))?;
        let mut face = FACE_IMAGE_JP2.to_vec();
        match forgery {
            Some(Forgery::PhotoSwapped) => face = another_face(),
            Some(Forgery::FaceSignatureInvalid) => {
                if let Some(last) = signature.last_mut() {
                    *last ^= 0x01;
                }
            }
            _ => {}
        }
        let items: [(u8, &[u8]); 9] = [
            (0x22, self.birth_date.as_bytes()),
            (0x23, self.sex.as_bytes()),
            (0x24, &self.card_key),
            (0x25, BLANK_PNG),
            (0x26, BLANK_PNG),
            (0x27, &face),
            (0x28, &signature),
            (0x29, self.expires.as_bytes()),
            (0x2A, BLANK_PNG),
        ];
        Ok(SurfaceFiles {
            age_record,
            card_face: with_offsets(0xFF20, &items),
            basic_data: basic_data(&self.card_key),
            certificate: authority.certificate().to_vec(),
            my_number_image,
        })
    }
}

/// The face of the person at the camera: a JPEG 2000 image that is not the card holder's (the
/// same test image with its last codestream bytes changed; still a JP2 file).
fn another_face() -> Vec<u8> {
    let mut face = FACE_IMAGE_JP2.to_vec();
    let end = face.len().saturating_sub(2); // keep the end-of-codestream marker FF D9
    for byte in face.iter_mut().take(end).skip(end.saturating_sub(8)) {
        *byte ^= 0x5A;
    }
    face
}

/// A record signed over every object before its signature (`00 01`, `00 05`).
fn signed_record(template: u16, items: &[(u8, &[u8])], signature_tag: u8, authority: &SurfaceAuthority) -> Result<Vec<u8>, PkiError> {
    let mut body = Vec::new();
    for (tag, value) in items {
        push_tlv(&mut body, &[0xDF, *tag], value);
    }
    let signature = authority.sign_record(&body)?;
    push_tlv(&mut body, &[0xDF, signature_tag], &signature);
    let mut out = Vec::with_capacity(body.len() + 5);
    push_tlv(&mut out, &template.to_be_bytes(), &body);
    Ok(out)
}

/// A template whose `DF 21` lists where each item starts, counted from the start of the file
/// (past the template's `FF 20 82 LL LL` and the offsets item itself), as the test card writes it.
fn with_offsets(template: u16, items: &[(u8, &[u8])]) -> Vec<u8> {
    let table_len = 3 + 2 * items.len();
    let mut body = Vec::new();
    let mut offsets = Vec::with_capacity(2 * items.len());
    for (tag, value) in items {
        let at = u16::try_from(5 + table_len + body.len()).unwrap_or(u16::MAX);
        offsets.extend_from_slice(&at.to_be_bytes());
        push_tlv(&mut body, &[0xDF, *tag], value);
    }
    let mut value = Vec::with_capacity(body.len() + table_len);
    push_tlv(&mut value, &[0xDF, 0x21], &offsets);
    value.extend_from_slice(&body);
    let mut out = Vec::with_capacity(value.len() + 5);
    push_tlv(&mut out, &template.to_be_bytes(), &value);
    out
}

/// `00 03`: identification `06 03 0E 01` (as the test card), a key id, version, the
/// municipality code (千代田区 13101), and a key-shaped reference with 256 opaque bytes (their
/// meaning is not public: modeled as a digest stream of the card's key).
fn basic_data(card_key: &[u8]) -> Vec<u8> {
    let mut opaque = Vec::with_capacity(272);
    opaque.extend_from_slice(b"9990025\x08\x05001MTAP");
    let mut block = Sha256::digest(card_key);
    while opaque.len() < 272 {
        opaque.extend_from_slice(&block);
        block = Sha256::digest(block);
    }
    opaque.truncate(272);
    let mut body = Vec::new();
    push_tlv(&mut body, &[0xDF, 0x31], &[0x06, 0x03, 0x0E, 0x01]);
    push_tlv(&mut body, &[0xDF, 0x32], b"9990024\x08\x05001MTAP");
    push_tlv(&mut body, &[0xDF, 0x33], &[0x00]);
    push_tlv(&mut body, &[0xDF, 0x34], b"13101");
    push_tlv(&mut body, &[0xDF, 0x35], &opaque);
    let mut out = Vec::new();
    push_tlv(&mut out, &[0xFF, 0x30], &body);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::messages::surface::{JP2_SIGNATURE, find_entry, find_in, signed_groups};
    use crate::pki::card_verifiable::{CvCertificate, parse_card_encoding, verify_digest_info, verify_sha256};
    use crate::tlv::split_tlv;

    fn surface() -> CardSurface {
        let authority = SurfaceAuthority::test().unwrap();
        CardSurface {
            birth_date: "19800217".into(),
            expires: "20350217".into(),
            security_code: "2285".into(),
            sex: "1".into(),
            my_number: "123456789018".into(),
            card_key: authority.ca_public_encoded(),
        }
    }

    #[test]
    fn number_b_writes_the_birth_date_in_the_era_year() {
        assert_eq!(surface().number_b(), "55021720352285", "the JPKI test card's number B");
        assert_eq!(era_yymmdd("19890107"), "640107", "the last day of 昭和");
        assert_eq!(era_yymmdd("19890108"), "010108", "平成 1");
        assert_eq!(era_yymmdd("20190430"), "310430");
        assert_eq!(era_yymmdd("20190501"), "010501", "令和 1");
        assert_eq!(era_yymmdd("19120729"), "450729");
        assert_eq!(era_yymmdd("19120730"), "010730");
        assert_eq!(era_yymmdd("19261225"), "011225");
        assert_eq!(era_yymmdd("18680125"), "010125");
        assert_eq!(era_yymmdd("18680124"), "680124", "before 明治: Gregorian");
        let dates: Vec<String> = birth_dates_for_key("020512").iter().map(ToString::to_string).collect();
        assert_eq!(dates, ["2020-05-12", "1990-05-12", "1927-05-12", "1913-05-12", "1869-05-12"]);
        let dates: Vec<String> = birth_dates_for_key("640108").iter().map(ToString::to_string).collect();
        assert_eq!(dates, ["2082-01-08"], "昭和 64 ended on 01-07: only 令和 64 names that day");
    }

    #[test]
    fn every_record_verifies_and_the_forgeries_break_what_they_say() {
        let authority = SurfaceAuthority::test().unwrap();
        let files = surface().files(&authority, None).unwrap();
        let certificate = CvCertificate::parse(&files.certificate).unwrap();
        let signer = &certificate.public_key;
        let age_body = find_span_before(&files.age_record, [0xFF, 0x10], 0x13);
        assert!(verify_sha256(signer, &age_body, find_in(&files.age_record, [0xFF, 0x10], 0x13).unwrap()));
        assert_eq!(files.age_record.len(), 547, "as surface-0001.bin");
        let groups = signed_groups(&files.card_face).unwrap();
        let signature = find_entry(&files.card_face, 0x28).unwrap();
        assert!(verify_digest_info(signer, &three_digest_info([&groups[0], &groups[1], &groups[2]]), signature));
        assert!(parse_card_encoding(find_entry(&files.card_face, 0x24).unwrap()).is_some());
        assert_eq!(files.basic_data.len(), 320, "as surface-0003.bin");
        for forgery in [Forgery::PhotoSwapped, Forgery::FaceSignatureInvalid] {
            let forged = surface().files(&authority, Some(forgery)).unwrap();
            let groups = signed_groups(&forged.card_face).unwrap();
            let signature = find_entry(&forged.card_face, 0x28).unwrap();
            assert!(!verify_digest_info(signer, &three_digest_info([&groups[0], &groups[1], &groups[2]]), signature), "{forgery}");
            assert!(find_entry(&forged.card_face, 0x27).unwrap().starts_with(&JP2_SIGNATURE));
        }
    }

    fn find_span_before(file: &[u8], template: [u8; 2], tag: u8) -> Vec<u8> {
        let (value, _) = split_tlv(file, &template).unwrap();
        let at = value.windows(2).position(|w| w == [0xDF, tag]).unwrap();
        value[..at].to_vec()
    }
}
