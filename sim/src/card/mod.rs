//! The virtual card: one secure element (a physical My Number card, or a phone's credential) as a
//! sans-IO state machine, `process(command) -> response`.
//!
//! It follows `docs/protocol.md`: SELECT by AID and by file id, READ BINARY, VERIFY with retry
//! counters (`63 Cx`, `69 84`), the sign command `80 2A 00 80`, the token file that names the
//! device, and the card-info input support application. The private keys live only inside
//! `Secrets`, which has no accessor and prints as `<secret>`.

use std::sync::Arc;

mod contents;
pub mod surface;

pub use contents::{CardCredential, HolderInfo, SurfaceCredential};

use crate::pki::{LazyCertificate, PkiError, SignError, SigningKey};
use surface::{LazySurfaceFiles, SurfaceFiles};

use crate::apdu::{CommandApdu, ResponseApdu, StatusWord};
use crate::profile::{FileId, Profile, Unlock};

/// Keys and PINs. Never printed, never returned.
#[derive(Clone)]
struct Secrets {
    auth_key: SigningKey,
    sign_key: SigningKey,
    auth_pin: Vec<u8>,
    sign_password: Vec<u8>,
    card_info_pin: Vec<u8>,
    number_a: Vec<u8>,
    number_b: Vec<u8>,
    birth_date_key: Vec<u8>,
    /// The card's own key in the card-surface application (`80 2A 00 00`, no PIN).
    surface_key: Option<SigningKey>,
}

/// Which application is selected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Application {
    Jpki,
    CardInfo,
    CardSurface,
}

/// A file inside an application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ef {
    TokenInfo,
    AuthCert,
    AuthCaCert,
    AuthPin,
    AuthKey,
    SignCert,
    SignCaCert,
    SignPassword,
    SignKey,
    CardInfoPin,
    MyNumber,
    BasicFour,
    NumberA,
    NumberB,
    BirthDateKey,
    AgeRecord,
    CardFace,
    SurfaceBasicData,
    SurfaceCertificate,
    MyNumberImage,
}

/// Which PIN a counter belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PinRef {
    /// The user-authentication PIN.
    Auth,
    /// The signature password.
    SignPassword,
    /// The card-info input support PIN.
    CardInfo,
    /// Verification number A (the My Number) of the card-surface application.
    NumberA,
    /// Verification number B (birth date, expiry year, security code).
    NumberB,
    /// The birth-date key that opens the age record.
    BirthDate,
}

/// Retry counters: persistent (they survive a reset and a power cycle).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryCounters {
    /// Tries left of the user-authentication PIN.
    pub auth: u8,
    /// Tries left of the signature password.
    pub sign_password: u8,
    /// Tries left of the card-info input support PIN.
    pub card_info: u8,
    /// Tries left of verification number A.
    pub number_a: u8,
    /// Tries left of verification number B.
    pub number_b: u8,
    /// Tries left of the birth-date key.
    pub birth_date: u8,
}

/// State cleared by a reset.
#[derive(Debug, Clone, Copy, Default)]
struct Volatile {
    application: Option<Application>,
    ef: Option<Ef>,
    auth_verified: bool,
    sign_verified: bool,
    card_info_verified: bool,
    number_a_verified: bool,
    number_b_verified: bool,
    birth_date_verified: bool,
    user_verified: bool,
}

/// One virtual secure element.
#[derive(Clone)]
pub struct Card {
    profile: Arc<Profile>,
    secrets: Secrets,
    token_info: Vec<u8>,
    auth_cert: Arc<LazyCertificate>,
    sign_cert: Arc<LazyCertificate>,
    ca_cert: Vec<u8>,
    my_number: Vec<u8>,
    basic_four: Vec<u8>,
    /// The card-surface files (the physical card only), signed when first read.
    surface: Option<Arc<LazySurfaceFiles>>,
    /// Verification number B as printed on the card's face (what a camera reads).
    printed_number_b: Option<String>,
    counters: RetryCounters,
    volatile: Volatile,
}

impl std::fmt::Debug for Card {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Card")
            .field("profile", &self.profile.name)
            .field("counters", &self.counters)
            .field("volatile", &self.volatile)
            .field("secrets", &"<secret>")
            .finish()
    }
}

impl Card {
    /// A fresh card of `profile` personalised with `credential`: full retry counters, nothing selected.
    pub fn new(profile: Arc<Profile>, credential: CardCredential) -> Self {
        let counters = RetryCounters {
            auth: profile.auth_pin.max_tries,
            sign_password: profile.sign_password.max_tries,
            card_info: profile.card_info.as_ref().map_or(0, |app| app.pin_policy.max_tries),
            number_a: profile.card_surface.as_ref().map_or(0, |app| app.max_tries),
            number_b: profile.card_surface.as_ref().map_or(0, |app| app.max_tries),
            birth_date: profile.card_surface.as_ref().map_or(0, |app| app.max_tries),
        };
        let surface = credential.surface.as_ref();
        Self {
            surface: surface.map(|s| Arc::clone(&s.files)),
            printed_number_b: surface.map(|s| s.files.printed().number_b()),
            token_info: profile.token_info(),
            basic_four: credential.holder_info.basic_four_tlv(),
            my_number: credential.holder_info.my_number.clone().into_bytes(),
            auth_cert: credential.auth_cert,
            sign_cert: credential.sign_cert,
            ca_cert: credential.ca_cert,
            secrets: Secrets {
                auth_key: credential.auth_key,
                sign_key: credential.sign_key,
                auth_pin: credential.auth_pin.into_bytes(),
                sign_password: credential.sign_password.into_bytes(),
                card_info_pin: credential.card_info_pin.into_bytes(),
                number_a: surface.map(|s| s.files.printed().my_number.clone().into_bytes()).unwrap_or_default(),
                number_b: surface.map(|s| s.files.printed().number_b().into_bytes()).unwrap_or_default(),
                birth_date_key: surface.map(|s| s.files.printed().birth_date_key().into_bytes()).unwrap_or_default(),
                surface_key: credential.surface.map(|s| s.card_key),
            },
            profile,
            counters,
            volatile: Volatile::default(),
        }
    }

    /// The device profile the card answers by.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }
    /// The answer-to-reset the card presents.
    pub fn atr(&self) -> &[u8] {
        &self.profile.atr.0
    }
    /// Puts the retry counters back as they were (certification undoes what another program on
    /// the machine did to a card that was not its own: docs/certification.md, W11).
    pub fn restore_retry_counters(&mut self, counters: RetryCounters) {
        self.counters = counters;
    }

    /// The retry counters as they stand.
    pub fn retry_counters(&self) -> RetryCounters {
        self.counters
    }
    /// Verification number B as printed on the card (birth date, expiry year, security code):
    /// what the face-auth terminal's camera reads. `None` for a phone.
    pub fn printed_number_b(&self) -> Option<&str> {
        self.printed_number_b.as_deref()
    }
    /// The user-authentication certificate (what the card hands out anyway, to whoever may read it).
    pub fn auth_certificate(&self) -> Result<&[u8], PkiError> {
        self.auth_cert.der()
    }

    /// Power cycle or warm reset: selections, verified PINs and the FLOW-3 unlock are gone; retry
    /// counters are not.
    pub fn reset(&mut self) {
        self.volatile = Volatile::default();
    }

    /// Face ID / Touch ID done on the phone (FLOW-3 on an iPhone). No effect on PIN devices.
    pub fn set_user_verified(&mut self, verified: bool) {
        self.volatile.user_verified = verified && self.profile.unlock == Unlock::UserPresence;
    }
    /// Whether Face ID / Touch ID was done (FLOW-3 on an iPhone).
    pub fn user_verified(&self) -> bool {
        self.volatile.user_verified
    }

    /// Answers raw bytes: what a reader on the wire gets. Bytes that are no APDU get `67 00`.
    pub fn process_bytes(&mut self, command: &[u8]) -> Vec<u8> {
        match CommandApdu::decode(command) {
            Ok(command) => self.process(&command).encode(),
            Err(_) => ResponseApdu::status(StatusWord::WRONG_LENGTH).encode(),
        }
    }

    /// Answers one command (the sans-IO heart of the card: no I/O, no clock, no randomness).
    pub fn process(&mut self, command: &CommandApdu) -> ResponseApdu {
        match (command.cla, command.ins) {
            (0x00, 0xA4) => self.select(command),
            (0x00, 0xB0) => self.read_binary(command),
            (0x00, 0x20) => self.verify(command),
            (0x80, 0x2A) => self.sign(command),
            (0x80, 0xFC) => self.final_command(command),
            (0x00 | 0x80, 0xA4 | 0xB0 | 0x20 | 0x2A | 0xFC) => ResponseApdu::status(StatusWord::CLA_NOT_SUPPORTED),
            (0x00 | 0x80, _) => ResponseApdu::status(StatusWord::INS_NOT_SUPPORTED),
            _ => ResponseApdu::status(StatusWord::CLA_NOT_SUPPORTED),
        }
    }

    fn select(&mut self, command: &CommandApdu) -> ResponseApdu {
        // P2 0C: no response data (what JPKI readers send); 00 is accepted and answers the same.
        if !matches!(command.p2, 0x0C | 0x00) {
            return ResponseApdu::status(StatusWord::WRONG_P1_P2);
        }
        match command.p1 {
            0x04 => {
                let application = if command.data == self.profile.jpki.aid.0 {
                    Application::Jpki
                } else if self.profile.card_info.as_ref().is_some_and(|app| command.data == app.aid.0) {
                    Application::CardInfo
                } else if self.profile.card_surface.as_ref().is_some_and(|app| command.data == app.aid.0) {
                    Application::CardSurface
                } else if command.data.is_empty() {
                    return ResponseApdu::status(StatusWord::WRONG_LENGTH);
                } else {
                    return ResponseApdu::status(StatusWord::FILE_NOT_FOUND);
                };
                if self.volatile.application != Some(application) {
                    // Security state belongs to the application: leaving it drops what was verified.
                    self.volatile.auth_verified = false;
                    self.volatile.sign_verified = false;
                    self.volatile.card_info_verified = false;
                    self.volatile.number_a_verified = false;
                    self.volatile.number_b_verified = false;
                    self.volatile.birth_date_verified = false;
                }
                self.volatile.application = Some(application);
                self.volatile.ef = None;
                ResponseApdu::status(StatusWord::SUCCESS)
            }
            0x02 => {
                let Ok(fid) = <[u8; 2]>::try_from(command.data.as_slice()) else {
                    return ResponseApdu::status(StatusWord::WRONG_LENGTH);
                };
                match self.volatile.application.and_then(|app| self.find_ef(app, FileId(fid))) {
                    Some(ef) => {
                        self.volatile.ef = Some(ef);
                        ResponseApdu::status(StatusWord::SUCCESS)
                    }
                    None => ResponseApdu::status(StatusWord::FILE_NOT_FOUND),
                }
            }
            // No master file to select (P1 00), and no other selection method.
            _ => ResponseApdu::status(StatusWord::WRONG_P1_P2),
        }
    }

    fn find_ef(&self, application: Application, fid: FileId) -> Option<Ef> {
        match application {
            Application::Jpki => {
                let j = &self.profile.jpki;
                [
                    (j.token_info, Ef::TokenInfo),
                    (j.auth_cert, Ef::AuthCert),
                    (j.auth_ca_cert, Ef::AuthCaCert),
                    (j.auth_pin, Ef::AuthPin),
                    (j.auth_key, Ef::AuthKey),
                    (j.sign_cert, Ef::SignCert),
                    (j.sign_ca_cert, Ef::SignCaCert),
                    (j.sign_password, Ef::SignPassword),
                    (j.sign_key, Ef::SignKey),
                ]
                .into_iter()
                .find_map(|(id, ef)| (id == fid).then_some(ef))
            }
            Application::CardInfo => {
                let c = self.profile.card_info.as_ref()?;
                [(c.pin, Ef::CardInfoPin), (c.my_number, Ef::MyNumber), (c.basic_four, Ef::BasicFour)]
                    .into_iter()
                    .find_map(|(id, ef)| (id == fid).then_some(ef))
            }
            Application::CardSurface => {
                let c = self.profile.card_surface.as_ref()?;
                [
                    (c.number_a, Ef::NumberA),
                    (c.number_b, Ef::NumberB),
                    (c.birth_date_key, Ef::BirthDateKey),
                    (c.birth_date, Ef::AgeRecord),
                    (c.entries, Ef::CardFace),
                    (c.basic_data, Ef::SurfaceBasicData),
                    (c.certificate, Ef::SurfaceCertificate),
                    (c.my_number_image, Ef::MyNumberImage),
                ]
                .into_iter()
                .find_map(|(id, ef)| (id == fid).then_some(ef))
            }
        }
    }

    /// The card-surface files; a card without the application has none (its files cannot be
    /// selected), and a signer that fails is the card's technical problem.
    fn surface_files(&self) -> Result<&SurfaceFiles, StatusWord> {
        static NONE: SurfaceFiles =
            SurfaceFiles { age_record: Vec::new(), card_face: Vec::new(), basic_data: Vec::new(), certificate: Vec::new(), my_number_image: Vec::new() };
        match &self.surface {
            Some(lazy) => lazy.files().map_err(|_| StatusWord::TECHNICAL_PROBLEM),
            None => Ok(&NONE),
        }
    }

    /// The content of a readable file, or the status word that refuses the read.
    fn readable(&self, ef: Ef) -> Result<&[u8], StatusWord> {
        let v = &self.volatile;
        match ef {
            Ef::TokenInfo => Ok(&self.token_info),
            Ef::AuthCert if self.profile.auth_cert_needs_pin && !v.auth_verified => Err(StatusWord::SECURITY_STATUS_NOT_SATISFIED),
            Ef::AuthCert => self.auth_cert.der().map_err(|_| StatusWord::TECHNICAL_PROBLEM),
            Ef::AuthCaCert | Ef::SignCaCert => Ok(&self.ca_cert),
            // The signature certificate carries the holder's personal data: password first.
            Ef::SignCert if !v.sign_verified => Err(StatusWord::SECURITY_STATUS_NOT_SATISFIED),
            Ef::SignCert => self.sign_cert.der().map_err(|_| StatusWord::TECHNICAL_PROBLEM),
            Ef::MyNumber | Ef::BasicFour if !v.card_info_verified => Err(StatusWord::SECURITY_STATUS_NOT_SATISFIED),
            Ef::MyNumber => Ok(&self.my_number),
            Ef::BasicFour => Ok(&self.basic_four),
            // As measured on the JPKI test card: the birth-date key opens the age record only;
            // number B the card face; number A the card face and the My Number image; the basic
            // data and the certificate open with nothing.
            Ef::AgeRecord if !v.birth_date_verified => Err(StatusWord::SECURITY_STATUS_NOT_SATISFIED),
            Ef::AgeRecord => self.surface_files().map(|files| files.age_record.as_slice()),
            Ef::CardFace if !(v.number_a_verified || v.number_b_verified) => Err(StatusWord::SECURITY_STATUS_NOT_SATISFIED),
            Ef::CardFace => self.surface_files().map(|files| files.card_face.as_slice()),
            Ef::SurfaceBasicData => self.surface_files().map(|files| files.basic_data.as_slice()),
            Ef::SurfaceCertificate => self.surface_files().map(|files| files.certificate.as_slice()),
            Ef::MyNumberImage if !v.number_a_verified => Err(StatusWord::SECURITY_STATUS_NOT_SATISFIED),
            Ef::MyNumberImage => self.surface_files().map(|files| files.my_number_image.as_slice()),
            // Keys and PINs are never readable.
            Ef::AuthPin | Ef::AuthKey | Ef::SignPassword | Ef::SignKey | Ef::CardInfoPin | Ef::NumberA | Ef::NumberB | Ef::BirthDateKey => {
                Err(StatusWord::SECURITY_STATUS_NOT_SATISFIED)
            }
        }
    }

    fn read_binary(&mut self, command: &CommandApdu) -> ResponseApdu {
        if command.p1 & 0x80 != 0 {
            // Short EF identifiers are not part of the JPKI interface.
            return ResponseApdu::status(StatusWord::WRONG_P1_P2);
        }
        let Some(ne) = command.ne else {
            return ResponseApdu::status(StatusWord::WRONG_LENGTH);
        };
        if !command.data.is_empty() {
            return ResponseApdu::status(StatusWord::WRONG_LENGTH);
        }
        let Some(ef) = self.volatile.ef else {
            return ResponseApdu::status(StatusWord::NO_CURRENT_EF);
        };
        let content = match self.readable(ef) {
            Ok(content) => content,
            Err(sw) => return ResponseApdu::status(sw),
        };
        let offset = usize::from(u16::from_be_bytes([command.p1, command.p2]));
        if offset >= content.len() {
            return ResponseApdu::status(StatusWord::OFFSET_OUT_OF_RANGE);
        }
        let end = content.len().min(offset + ne as usize);
        ResponseApdu::success(content.get(offset..end).unwrap_or_default().to_vec())
    }

    fn pin_of(&self, ef: Ef) -> Option<PinRef> {
        match ef {
            Ef::AuthPin => Some(PinRef::Auth),
            Ef::SignPassword => Some(PinRef::SignPassword),
            Ef::CardInfoPin => Some(PinRef::CardInfo),
            Ef::NumberA => Some(PinRef::NumberA),
            Ef::NumberB => Some(PinRef::NumberB),
            Ef::BirthDateKey => Some(PinRef::BirthDate),
            _ => None,
        }
    }

    fn verify(&mut self, command: &CommandApdu) -> ResponseApdu {
        if command.p1 != 0x00 || command.p2 != 0x80 {
            return ResponseApdu::status(StatusWord::WRONG_P1_P2);
        }
        let Some(pin) = self.volatile.ef.and_then(|ef| self.pin_of(ef)) else {
            return ResponseApdu::status(StatusWord::NO_CURRENT_EF);
        };
        if matches!(pin, PinRef::Auth | PinRef::SignPassword) && self.profile.unlock == Unlock::UserPresence {
            // An iPhone's key opens with Face ID / Touch ID only; a VERIFY changes nothing.
            let sw = self.profile.verify_refused_with.as_ref().and_then(|sw| <[u8; 2]>::try_from(sw.0.as_slice()).ok());
            return ResponseApdu::status(sw.map_or(StatusWord::SECURITY_STATUS_NOT_SATISFIED, |sw| StatusWord(u16::from_be_bytes(sw))));
        }
        if command.data.len() > 64 {
            return ResponseApdu::status(StatusWord::WRONG_LENGTH);
        }
        let (counter, max, secret, verified) = match pin {
            PinRef::Auth => (&mut self.counters.auth, self.profile.auth_pin.max_tries, &self.secrets.auth_pin, &mut self.volatile.auth_verified),
            PinRef::SignPassword => {
                (&mut self.counters.sign_password, self.profile.sign_password.max_tries, &self.secrets.sign_password, &mut self.volatile.sign_verified)
            }
            PinRef::CardInfo => (
                &mut self.counters.card_info,
                self.profile.card_info.as_ref().map_or(0, |app| app.pin_policy.max_tries),
                &self.secrets.card_info_pin,
                &mut self.volatile.card_info_verified,
            ),
            PinRef::NumberA => (
                &mut self.counters.number_a,
                self.profile.card_surface.as_ref().map_or(0, |app| app.max_tries),
                &self.secrets.number_a,
                &mut self.volatile.number_a_verified,
            ),
            PinRef::NumberB => (
                &mut self.counters.number_b,
                self.profile.card_surface.as_ref().map_or(0, |app| app.max_tries),
                &self.secrets.number_b,
                &mut self.volatile.number_b_verified,
            ),
            PinRef::BirthDate => (
                &mut self.counters.birth_date,
                self.profile.card_surface.as_ref().map_or(0, |app| app.max_tries),
                &self.secrets.birth_date_key,
                &mut self.volatile.birth_date_verified,
            ),
        };
        if *counter == 0 {
            return ResponseApdu::status(StatusWord::PIN_BLOCKED);
        }
        if command.data.is_empty() {
            // Reading the counter spends no try.
            return ResponseApdu::status(StatusWord::tries_left(*counter));
        }
        if constant_time_eq(&command.data, secret) {
            *counter = max;
            *verified = true;
            ResponseApdu::status(StatusWord::SUCCESS)
        } else {
            *counter -= 1;
            *verified = false;
            ResponseApdu::status(StatusWord::tries_left(*counter))
        }
    }

    fn sign(&mut self, command: &CommandApdu) -> ResponseApdu {
        if command.p1 == 0x00 && command.p2 == 0x00 && self.volatile.application == Some(Application::CardSurface) {
            // The card's own key (P2 00: the application's default key) answers anyone: proving
            // this chip holds the key its signed records carry is its whole purpose.
            return match self.secrets.surface_key.as_ref().map(|key| key.sign_card_data(&command.data)) {
                Some(Ok(signature)) => ResponseApdu::success(signature),
                Some(Err(SignError::Length(_))) => ResponseApdu::status(StatusWord::WRONG_LENGTH),
                Some(Err(SignError::Refused)) => ResponseApdu::status(StatusWord::WRONG_DATA),
                None => ResponseApdu::status(StatusWord::FILE_NOT_FOUND),
            };
        }
        if command.p1 != 0x00 || command.p2 != 0x80 {
            return ResponseApdu::status(StatusWord::WRONG_P1_P2);
        }
        let key = match self.volatile.ef {
            Some(Ef::AuthKey) => {
                let unlocked = match self.profile.unlock {
                    Unlock::Pin => self.volatile.auth_verified,
                    Unlock::UserPresence => self.volatile.user_verified,
                };
                if !unlocked {
                    return ResponseApdu::status(StatusWord::SECURITY_STATUS_NOT_SATISFIED);
                }
                &self.secrets.auth_key
            }
            Some(Ef::SignKey) => {
                let unlocked = match self.profile.unlock {
                    Unlock::Pin => self.volatile.sign_verified,
                    Unlock::UserPresence => self.volatile.user_verified,
                };
                if !unlocked {
                    return ResponseApdu::status(StatusWord::SECURITY_STATUS_NOT_SATISFIED);
                }
                &self.secrets.sign_key
            }
            _ => return ResponseApdu::status(StatusWord::NO_CURRENT_EF),
        };
        // RSA: DATA is a DigestInfo, padded by the card (public); ECDSA: the digest, answered
        // with r || s (modeled).
        match key.sign_card_data(&command.data) {
            Ok(signature) => ResponseApdu::success(signature),
            Err(SignError::Length(_)) => ResponseApdu::status(StatusWord::WRONG_LENGTH),
            Err(SignError::Refused) => ResponseApdu::status(StatusWord::WRONG_DATA),
        }
    }

    fn final_command(&mut self, command: &CommandApdu) -> ResponseApdu {
        if !self.profile.answers_final_command {
            return ResponseApdu::status(StatusWord::WRONG_LENGTH);
        }
        if command.p1 != 0 || command.p2 != 0 {
            return ResponseApdu::status(StatusWord::WRONG_P1_P2);
        }
        ResponseApdu::status(StatusWord::SUCCESS)
    }
}

/// PIN comparison whose time does not depend on where the first difference is.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
