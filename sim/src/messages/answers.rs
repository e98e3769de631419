//! What the back ends answer a terminal: the CRL as its distribution point hands it out, the
//! eligibility answer (an insurance-use registration's record and its validity code), and why a
//! service gave no answer. The registry writes them, the terminal reads them, the harness serves
//! them over HTTP: one definition for every side.

use std::sync::Arc;

use time::Date;

/// The CRL as a distribution point hands it out: its number tells a terminal whether its cached
/// copy is current without parsing the DER again.
#[derive(Debug, Clone)]
pub struct CrlSnapshot {
    /// The CRL number (it grows with every change).
    pub number: u64,
    /// The CRL's DER.
    pub der: Arc<[u8]>,
}

/// The eligibility answer's validity code (`QualificationValidity` of the clinic system's result
/// files, docs/protocol.md); the scenario format names them by `insurance.status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QualificationValidity {
    /// 1: valid.
    #[default]
    Valid,
    /// 2: invalid.
    Invalid,
    /// 3: invalid, and a newer qualification exists.
    Superseded,
    /// 4: no qualification (also what the insurer's lag after a change of job looks like).
    None,
    /// 5: several records match.
    Multiple,
}

impl QualificationValidity {
    /// Every validity code, in code order.
    pub const ALL: [QualificationValidity; 5] = [Self::Valid, Self::Invalid, Self::Superseded, Self::None, Self::Multiple];

    /// The code the public element carries (`"1"` to `"5"`).
    pub fn code(self) -> &'static str {
        match self {
            Self::Valid => "1",
            Self::Invalid => "2",
            Self::Superseded => "3",
            Self::None => "4",
            Self::Multiple => "5",
        }
    }
    /// The validity of a code (`"1"` to `"5"`).
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|validity| validity.code() == code)
    }
    /// The scenario format's `insurance.status` name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Valid => "valid",
            Self::Invalid => "invalid",
            Self::Superseded => "superseded",
            Self::None => "none",
            Self::Multiple => "multiple",
        }
    }
    /// The validity of a scenario `insurance.status` name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|validity| validity.name() == name)
    }
}

/// The co-payment ratios a record may carry, in per cent.
pub const COPAY_PERCENTS: [u8; 3] = [10, 20, 30];

/// An insurance-use registration (SETUP-1) and the eligibility answer behind it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InsuranceRecord {
    /// The person's id.
    pub person: String,
    /// The insurer number.
    pub insurer: String,
    /// The first day of the qualification.
    pub valid_from: Date,
    /// The last day of the qualification.
    pub valid_until: Date,
    /// The answer's validity code.
    pub validity: QualificationValidity,
    /// The co-payment ratio (`InsuredPartialContributionRatio`), in per cent.
    pub copay_percent: u8,
    /// The insured person's name as the insurer holds it (`Name`; contract 1.3), any Unicode:
    /// what the clinic's screen must show, code point for code point.
    pub name: Option<String>,
    /// The name in katakana (`NameKana`; contract 1.3).
    pub kana: Option<String>,
}

impl InsuranceRecord {
    /// A valid record with the usual 30 % co-payment.
    pub fn valid(person: &str, insurer: &str, valid_from: Date, valid_until: Date) -> Self {
        Self {
            person: person.into(),
            insurer: insurer.into(),
            valid_from,
            valid_until,
            validity: QualificationValidity::Valid,
            copay_percent: 30,
            name: None,
            kana: None,
        }
    }
}

/// Why a back-end service gave no answer the terminal may trust. A terminal fails closed on
/// every one of them (reason `service_unavailable`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// Connection refused, HTTP 5xx, or no answer at all.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// An answer that is not what the service promises (not a record, not a CRL).
    #[error("malformed answer: {0}")]
    Malformed(String),
    /// The answer did not come within the terminal's back-end timeout.
    #[error("no answer within {ms} ms")]
    /// The back end did not answer within the timeout.
    TimedOut {
        /// The timeout that passed, in milliseconds.
        ms: u64,
    },
}

/// Whether the eligibility service knows a certificate's holder.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EligibilityError {
    #[error("no insurance-use registration for this certificate (SETUP-1)")]
    /// SETUP-1 was not done for this certificate's holder.
    NotRegistered,
    #[error("eligibility service {0}")]
    /// The service gave no answer the terminal may trust.
    Service(ServiceError),
}
