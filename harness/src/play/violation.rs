//! What a judged tap can break: the rules of docs/certification.md by id (`RuleId`), and a
//! broken rule with its evidence (`Violation`).

use serde::{Serialize, Serializer};

/// A rule of docs/certification.md: the wire rules W1-W12 (what must never happen on the wire)
/// and the evidence rules E1-E11 (what a verdict must rest on). Reports write each by its full
/// id ([`RuleId::as_str`], e.g. `W2-fresh-challenge`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum RuleId {
    /// W1: no eligibility query for a certificate that must be rejected.
    W1,
    /// W2: every sign command carries a challenge never sent before.
    W2,
    /// W3: the CRL is fetched before eligibility is asked.
    W3,
    /// W4: no VERIFY to an iPhone.
    W4,
    /// W5: no VERIFY once the PIN is blocked.
    W5,
    /// W6: at most one VERIFY of the PIN per tap.
    W6,
    /// W7: no APDU after the device left the field.
    W7,
    /// W8: the signature is checked before eligibility is asked.
    W8,
    /// W9: the My Number is never read or presented.
    W9,
    /// W10: no PIN sent on the face path.
    W10,
    /// W11 (contract 1.3): the reader holds the card exclusively while it works with it.
    W11,
    /// W12 (contract 1.3): no command to a card left in the field after an earlier verdict.
    W12,
    /// E1: the authentication certificate was read whole.
    E1,
    /// E2: the certificate read chains to the trusted CA.
    E2,
    /// E3: the device's signature over a challenge of the tap verifies.
    E3,
    /// E4: the CRL was fetched during the tap.
    E4,
    /// E5: eligibility was asked for the certificate read.
    E5,
    /// E6: a PIN verdict came from the card's VERIFY answer.
    E6,
    /// E7: the device type was read from the token file.
    E7,
    /// E8: a user-verification refusal came from the phone.
    E8,
    /// E9: the card face was read after number B was accepted.
    E9,
    /// E10: the card-surface records were checked.
    E10,
    /// E11: a failing service was actually asked.
    E11,
}

impl RuleId {
    /// The rule's id as reports, bundles and docs/certification.md write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::W1 => "W1-no-eligibility-for-invalid-certificate",
            Self::W2 => "W2-fresh-challenge",
            Self::W3 => "W3-crl-fetched-before-eligibility",
            Self::W4 => "W4-no-verify-to-iphone",
            Self::W5 => "W5-no-verify-after-blocked-pin",
            Self::W6 => "W6-at-most-one-verify",
            Self::W7 => "W7-no-apdu-after-removal",
            Self::W8 => "W8-signature-checked-before-eligibility",
            Self::W9 => "W9-never-the-my-number",
            Self::W10 => "W10-no-pin-in-face-mode",
            Self::W11 => "W11-card-held-exclusively",
            Self::W12 => "W12-no-command-to-a-card-left-in-the-field",
            Self::E1 => "E1-certificate-read-whole",
            Self::E2 => "E2-certificate-chains-to-ca",
            Self::E3 => "E3-signature-verifies",
            Self::E4 => "E4-crl-fetched-in-tap",
            Self::E5 => "E5-eligibility-asked-for-the-certificate",
            Self::E6 => "E6-pin-verdict-from-the-card",
            Self::E7 => "E7-device-type-from-token-file",
            Self::E8 => "E8-user-verification-refused-by-phone",
            Self::E9 => "E9-card-face-read-after-number-b",
            Self::E10 => "E10-card-surface-checked",
            Self::E11 => "E11-failing-service-asked",
        }
    }
}

impl std::fmt::Display for RuleId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for RuleId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A rule broken during a tap, with its evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// The rule broken.
    pub rule: RuleId,
    /// What on the wire shows it.
    pub evidence: String,
}
