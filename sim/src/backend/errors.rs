//! Why a registry action failed (the scenario format's error codes).

use super::*;

/// Why a registry action failed. `code()` is the scenario format's error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    #[error("no person `{0}`")]
    /// The scenario names a person the world does not have.
    UnknownPerson(String),
    #[error("no phone `{0}`")]
    /// The scenario names a phone the registry does not know.
    UnknownPhone(String),
    #[error("person `{0}` exists already")]
    /// Two people with one id.
    DuplicatePerson(String),
    #[error("phone `{phone}` already holds the card of `{holder}` (Q17: one person per phone)")]
    /// Q17: the phone already holds another person's card.
    PhoneHoldsAnotherCard {
        /// The phone.
        phone: String,
        /// Whose card it holds.
        holder: String,
    },
    #[error("`{person}` is under 15 on {today} (born {birth_date}); Q17")]
    /// Q17: a card is added to a phone only from the holder's fifteenth birthday.
    Under15 {
        /// The person.
        person: String,
        /// Their birth date.
        birth_date: Date,
        /// The world's date.
        today: Date,
    },
    #[error("the card of `{0}` is revoked or expired; renew it at the municipal office first (Q18)")]
    /// Q18: the card is revoked or expired, so it cannot be added to a phone.
    CardNotValid(String),
    #[error("phone `{0}` holds no card")]
    /// A phone step on a phone that holds no card.
    NoCardOnPhone(String),
    #[error("phone `{0}` is suspended after a hotline call (Q20): `resume` it before adding the card again, or add the card to another phone")]
    /// Q20: a suspended phone takes no card until it is resumed.
    PhoneSuspended(String),
    #[error("phone `{phone}` was set up as `{os}`; a phone's OS does not change: give the other phone an id of its own")]
    /// A phone added again with the other OS.
    PhoneOsMismatch {
        /// The phone.
        phone: String,
        /// The OS it was set up with.
        os: DeviceKind,
    },
    #[error("the card-info PIN entered on the iPhone is not the card's (SETUP-2)")]
    /// SETUP-2: the card-info PIN typed on the iPhone is wrong.
    WrongCardInfoPin,
    #[error("phone `{0}` is already suspended")]
    /// Q20: the phone is suspended already.
    AlreadySuspended(String),
    #[error("phone `{0}` is not suspended")]
    /// Q20: `resume` of a phone that is not suspended.
    NotSuspended(String),
    #[error("phone `{0}` cannot be suspended: its certificate is revoked")]
    /// Q20: a revoked phone cannot be suspended.
    PhoneRevoked(String),
    #[error("cert_expires {0} is not after the world's date")]
    /// A renewal whose certificate would end before the world's date.
    ExpiryInPast(Date),
    #[error("PKI: {0}")]
    /// Issuing a certificate or CRL failed.
    Pki(String),
}

impl RegistryError {
    /// The scenario format's error code (`unknown_person`, `under_15`, ...).
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownPerson(_) => "unknown_person",
            Self::UnknownPhone(_) => "unknown_phone",
            Self::DuplicatePerson(_) => "duplicate_person",
            Self::PhoneHoldsAnotherCard { .. } => "phone_holds_another_card",
            Self::Under15 { .. } => "under_15",
            Self::CardNotValid(_) => "card_not_valid",
            Self::NoCardOnPhone(_) => "no_card_on_phone",
            Self::PhoneSuspended(_) => "phone_suspended",
            Self::PhoneOsMismatch { .. } => "phone_os_mismatch",
            Self::WrongCardInfoPin => "wrong_card_info_pin",
            Self::AlreadySuspended(_) => "already_suspended",
            Self::NotSuspended(_) => "not_suspended",
            Self::PhoneRevoked(_) => "phone_revoked",
            Self::ExpiryInPast(_) => "expiry_in_past",
            Self::Pki(_) => "pki_error",
        }
    }
}

impl From<PkiError> for RegistryError {
    fn from(error: PkiError) -> Self {
        Self::Pki(error.to_string())
    }
}
