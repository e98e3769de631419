//! The published versions of the scenario contract (docs/scenario-format.md) and what each one
//! defines, so a file, or a reader, written for an older version is judged by that version; and
//! the reasons a tap may be rejected for, each introduced by one version.

use std::fmt;

use serde::Serialize;

/// A published version of the scenario contract. Later versions only add: what an older one
/// defines keeps its meaning, except where docs/scenario-format.md says otherwise (1.2: the
/// physical card's three-month grace).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Contract {
    #[serde(rename = "1.0")]
    /// The first published contract.
    V1_0,
    #[serde(rename = "1.1")]
    /// Keys, the face path and back-end faults.
    V1_1,
    /// Forged cards, the card's grace after expiry, the eligibility answer.
    #[serde(rename = "1.2")]
    V1_2,
    /// Certificates as strict verifiers judge them: profile faults of a device's certificate.
    #[default]
    #[serde(rename = "1.3")]
    V1_3,
}

impl Contract {
    /// The newest published version.
    pub const LATEST: Contract = Contract::V1_3;
    /// Every published version, oldest first.
    pub const ALL: [Contract; 4] = [Self::V1_0, Self::V1_1, Self::V1_2, Self::V1_3];

    /// `"1"`, `"1.0"`, `"1.1"`, `"1.2"` or `"1.3"`.
    pub fn parse(text: &str) -> Option<Self> {
        // Exactly as written: `"1.1 "` is a typo the file's author should hear about.
        match text {
            "1" | "1.0" => Some(Self::V1_0),
            "1.1" => Some(Self::V1_1),
            "1.2" => Some(Self::V1_2),
            "1.3" => Some(Self::V1_3),
            _ => None,
        }
    }

    /// `"1.0"`, `"1.1"`, `"1.2"` or `"1.3"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V1_0 => "1.0",
            Self::V1_1 => "1.1",
            Self::V1_2 => "1.2",
            Self::V1_3 => "1.3",
        }
    }

    /// Whether an expired physical card is still `verified` in its three-month grace, and a
    /// verified tap warns `expiring_soon` (both 1.2).
    pub fn card_grace(self) -> bool {
        self >= Self::V1_2
    }

    /// Whether a face tap proves the card genuine: the card-surface certificate, the card face's
    /// signature and a challenge to the card's own key (1.2, forged cards).
    pub fn card_surface_signed(self) -> bool {
        self >= Self::V1_2
    }

    /// The first version that defines `reason`.
    pub fn introducing(reason: Reason) -> Self {
        match reason {
            Reason::ServiceUnavailable | Reason::FaceNotMatched => Self::V1_1,
            Reason::NewerQualification | Reason::NoQualification | Reason::MultipleRecords | Reason::CardNotGenuine => Self::V1_2,
            _ => Self::V1_0,
        }
    }

    /// Whether this version's vocabulary has `reason`.
    pub fn defines(self, reason: Reason) -> bool {
        Self::introducing(reason) <= self
    }
}

impl fmt::Display for Contract {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a tap was rejected: exactly the reasons of docs/scenario-format.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Reason {
    /// The certificate is past its last second (and, for the physical card, its grace).
    CertificateExpired,
    /// The certificate is on the CRL (revoked, superseded or deleted).
    CertificateRevoked,
    /// The certificate is on hold (Q20: the phone reported lost).
    CertificateSuspended,
    /// No insurance-use registration (SETUP-1).
    NotRegistered,
    /// The qualification is not valid today.
    InsuranceExpired,
    /// The iPhone's Face ID / Touch ID was not done (FLOW-3).
    UserNotVerified,
    /// The PIN typed is wrong (tries remain).
    WrongPin,
    /// The PIN is blocked.
    PinBlocked,
    /// The device is not the type the patient chose (FLOW-2).
    WrongDeviceType,
    /// The signature over the terminal's challenge does not verify.
    SignatureInvalid,
    /// The certificate is not issued by the trusted CA.
    UntrustedCertificate,
    /// The device left the field during the tap.
    CardRemoved,
    /// The device's answers break the protocol.
    ProtocolError,
    /// A back end gave no answer the terminal may trust (fail closed).
    ServiceUnavailable,
    /// The camera's face is not the card's (face path).
    FaceNotMatched,
    /// The eligibility answer: invalid, and a newer qualification exists (QualificationValidity 3).
    NewerQualification,
    /// The eligibility answer: no qualification (QualificationValidity 4), e.g. after a change of
    /// job before the insurer's data arrives.
    NoQualification,
    /// The eligibility answer: several records match (QualificationValidity 5).
    MultipleRecords,
    /// The card-surface records do not verify under the trusted card-surface CA, or the card
    /// fails the challenge of its own key (face path, contract 1.2).
    CardNotGenuine,
}

/// Read by the names of [`Reason::as_str`]; anything else is an error naming it (a reader
/// program's verdict line is untrusted input).
impl<'de> serde::Deserialize<'de> for Reason {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Reason::parse(&text).ok_or_else(|| serde::de::Error::custom(format!("unknown reason `{text}`")))
    }
}

impl Reason {
    /// Every reason, in the contract's order.
    pub const ALL: [Reason; 19] = [
        Self::CertificateExpired,
        Self::CertificateRevoked,
        Self::CertificateSuspended,
        Self::NotRegistered,
        Self::InsuranceExpired,
        Self::UserNotVerified,
        Self::WrongPin,
        Self::PinBlocked,
        Self::WrongDeviceType,
        Self::SignatureInvalid,
        Self::UntrustedCertificate,
        Self::CardRemoved,
        Self::ProtocolError,
        Self::ServiceUnavailable,
        Self::FaceNotMatched,
        Self::NewerQualification,
        Self::NoQualification,
        Self::MultipleRecords,
        Self::CardNotGenuine,
    ];
    /// The scenario format's name (`certificate_expired`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CertificateExpired => "certificate_expired",
            Self::CertificateRevoked => "certificate_revoked",
            Self::CertificateSuspended => "certificate_suspended",
            Self::NotRegistered => "not_registered",
            Self::InsuranceExpired => "insurance_expired",
            Self::UserNotVerified => "user_not_verified",
            Self::WrongPin => "wrong_pin",
            Self::PinBlocked => "pin_blocked",
            Self::WrongDeviceType => "wrong_device_type",
            Self::SignatureInvalid => "signature_invalid",
            Self::UntrustedCertificate => "untrusted_certificate",
            Self::CardRemoved => "card_removed",
            Self::ProtocolError => "protocol_error",
            Self::ServiceUnavailable => "service_unavailable",
            Self::FaceNotMatched => "face_not_matched",
            Self::NewerQualification => "newer_qualification",
            Self::NoQualification => "no_qualification",
            Self::MultipleRecords => "multiple_records",
            Self::CardNotGenuine => "card_not_genuine",
        }
    }
    /// The reason of a scenario name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|reason| reason.as_str() == text)
    }

    /// Whether only the eligibility service's answer can give this reason (so the query that
    /// precedes it is no breach of the privacy rule).
    pub fn from_eligibility_answer(self) -> bool {
        matches!(self, Self::NotRegistered | Self::InsuranceExpired | Self::NewerQualification | Self::NoQualification | Self::MultipleRecords)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_order() {
        assert_eq!(Contract::parse("1.1"), Some(Contract::V1_1));
        assert_eq!(Contract::parse("1"), Some(Contract::V1_0));
        assert_eq!(Contract::parse("2.0"), None);
        assert!(Contract::V1_1 < Contract::LATEST);
        assert!(!Contract::V1_1.card_grace());
        assert!(Contract::V1_2.defines(Reason::NoQualification));
        assert!(!Contract::V1_1.defines(Reason::NoQualification));
        assert!(Contract::V1_1.defines(Reason::FaceNotMatched));
        assert!(!Contract::V1_0.defines(Reason::ServiceUnavailable));
    }
}
