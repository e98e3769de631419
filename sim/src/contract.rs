//! The published versions of the scenario contract (docs/scenario-format.md) and what each one
//! defines, so a file, or a reader, written for an older version is judged by that version.

use std::fmt;

use serde::Serialize;

use crate::terminal::Reason;

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
