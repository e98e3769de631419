//! The virtual card: one secure element (a physical My Number card, or a phone's credential) as a
//! sans-IO state machine, `process(command) -> response`.
//!
//! It follows `docs/protocol.md`: SELECT by AID and by file id, READ BINARY, VERIFY with retry
//! counters (`63 Cx`, `69 84`), the sign command `80 2A 00 80`, the token file that names the
//! device, and the card-info input support application. The private keys live only inside
//! `Secrets`, which has no accessor and prints as `<secret>`.

use std::sync::Arc;

mod contents;
mod files;
mod security;
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
}
