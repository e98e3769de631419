//! The adapter contract between `mynatap certify` and a reader program (docs/certification.md):
//! the environment a program gets, and the one JSON line it answers with.

use mynatap_sim::profile::DeviceKind;
use mynatap_sim::terminal::{Consent, Outcome, Reason, Verified};
use mynatap_sim::world::{TapSpec, TapTarget, World, WorldError};
use serde::{Deserialize, Serialize};

/// Environment variable names, as the contract spells them.
pub mod env {
    /// The PC/SC reader to use.
    pub const READER: &str = "MYNATAP_READER";
    /// A file holding the trusted CA's certificate (DER).
    pub const CA_CERT: &str = "MYNATAP_CA_CERT";
    /// A file holding every trusted authority's certificate, PEM, oldest generation first
    /// (contract 1.3; one certificate unless the world has generations).
    pub const CA_CERTS: &str = "MYNATAP_CA_CERTS";
    /// Contract 1.3: a file (read-only, written fresh for each tap, readable by the reader
    /// program alone) holding the tap's back-end URLs as JSON, `{"crl_url": ..., "eligibility_url":
    /// ...}`: the URLs carry the tap's token, so they are kept out of the environment, which other
    /// programs of the same user can read. `MYNATAP_CRL_URL` and `MYNATAP_ELIGIBILITY_URL` are then
    /// not set.
    pub const URLS_FILE: &str = "MYNATAP_URLS_FILE";
    /// Contract 1.1-1.2: where to fetch the CRL (loopback HTTP); `?ca=K` the CRL of the K-th certificate of
    /// `MYNATAP_CA_CERTS` (1-based), without it the newest authority's.
    pub const CRL_URL: &str = "MYNATAP_CRL_URL";
    /// Contract 1.1-1.2: where to ask for eligibility (loopback HTTP; `/<serial>` appended).
    pub const ELIGIBILITY_URL: &str = "MYNATAP_ELIGIBILITY_URL";
    /// The world's time (RFC 3339): judge validity by it, not the wall clock.
    pub const NOW: &str = "MYNATAP_NOW";
    /// Whether the facility offers the phone path (`true`/`false`, Q16).
    pub const PHONE_SUPPORT: &str = "MYNATAP_PHONE_SUPPORT";
    /// What the patient chose (`card`, `android`, `iphone`; FLOW-2).
    pub const SELECTED: &str = "MYNATAP_SELECTED";
    /// The PIN the patient typed (card and Android paths).
    pub const PIN: &str = "MYNATAP_PIN";
    /// FLOW-5: what the patient agrees to share (JSON).
    pub const CONSENT: &str = "MYNATAP_CONSENT";
    /// How long to wait for one response, in milliseconds.
    pub const TIMEOUT_MS: &str = "MYNATAP_TIMEOUT_MS";
    /// How long to wait for a back end, in milliseconds.
    pub const BACKEND_TIMEOUT_MS: &str = "MYNATAP_BACKEND_TIMEOUT_MS";
    /// Card taps: `pin` or `face`.
    pub const CARD_AUTH: &str = "MYNATAP_CARD_AUTH";
    /// Face taps: verification number B as the camera read it off the card (14 digits).
    pub const CARD_SURFACE: &str = "MYNATAP_CARD_SURFACE";
    /// Face taps: `true` when the camera's face is the card's.
    pub const FACE_MATCH: &str = "MYNATAP_FACE_MATCH";
    /// The contract version the tap is judged by (`1.1`, `1.2`): the rules a reader follows
    /// where versions differ (1.2: the physical card's grace after expiry).
    pub const CONTRACT: &str = "MYNATAP_CONTRACT";
    /// Contract 1.3: where this tap's card is when the reader is asked: `in_field` (read it now)
    /// or `after_request` (wait for it to arrive; a card in the field now was left there after
    /// an earlier verdict and is not this tap's).
    pub const CARD_ARRIVAL: &str = "MYNATAP_CARD_ARRIVAL";
    /// Contract 1.3: how long after the card leaves the field mid-tap the patient may hold it
    /// again, in milliseconds (`0`: a removal is final; answer `card_removed`).
    pub const CARD_AGAIN_MS: &str = "MYNATAP_CARD_AGAIN_MS";
    /// The path of the trusted card-surface CA's public key, in the card's `90`/`91` encoding
    /// (265 bytes): what the card-surface certificate `00 04` must verify under (face path).
    pub const SURFACE_CA: &str = "MYNATAP_SURFACE_CA";
}

/// A reader program's verdict for one tap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case", deny_unknown_fields)]
pub enum Verdict {
    /// The holder is verified and insured.
    Verified {
        /// The insurer number of the record.
        insurer: String,
        /// 1.2: accepted in the physical card's grace after expiry (absent: false).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        grace: Option<bool>,
        /// 1.2: the certificate expires within three months (absent: false).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expiring_soon: Option<bool>,
        /// 1.2: the co-payment ratio of the eligibility answer, in per cent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        copay: Option<u8>,
        /// 1.3: the insured person's name as the eligibility answer gave it (`Name`), unchanged.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// 1.3: the name in katakana (`NameKana`), unchanged.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        kana: Option<String>,
        /// 1.3: what the terminal recorded of FLOW-5 (nothing in the card's grace).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        consent: Option<ConsentLine>,
    },
    /// The tap is refused, with the contract's reason.
    Rejected {
        /// The reason, as the contract names it.
        reason: Reason,
    },
    /// The terminal does not offer the phone path (Q16).
    NotOffered,
}

impl Verdict {
    /// The verdict a tap's outcome gives.
    pub fn from_outcome(outcome: &Outcome) -> Self {
        match outcome {
            Outcome::Verified(verified) => Self::Verified {
                insurer: verified.insurer.clone(),
                grace: Some(verified.grace),
                expiring_soon: Some(verified.expiring_soon),
                copay: Some(verified.copay()),
                name: verified.record.name.clone(),
                kana: verified.record.kana.clone(),
                consent: Some(ConsentLine::of(verified.consent)),
            },
            Outcome::Rejected { reason, .. } => Self::Rejected { reason: *reason },
            Outcome::NotOffered => Self::NotOffered,
        }
    }

    /// The one line a program prints.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    /// Reads a program's stdout: exactly one non-empty line of JSON with a known outcome and,
    /// for a rejection, a reason of the scenario format.
    pub fn parse(stdout: &str) -> Result<Self, String> {
        let lines: Vec<&str> = stdout.lines().map(str::trim).filter(|line| !line.is_empty()).collect();
        let line = match lines.as_slice() {
            [line] => *line,
            [] => return Err("printed no line".into()),
            many => return Err(format!("printed {} lines, expected exactly one", many.len())),
        };
        serde_json::from_str(line).map_err(|e| format!("not a verdict line ({e}): {}", truncate(line)))
    }

    /// The verdict in the simulator's terms, so the runner judges it like any other tap.
    /// `consent` is the patient's choice of the tap: what a verdict judged by a contract before
    /// 1.3 is taken to have recorded (its line could not say); from 1.3 what the line says
    /// (nothing, when it says nothing).
    pub fn into_outcome(self, device: DeviceKind, consent: Consent, contract: mynatap_sim::contract::Contract) -> Outcome {
        match self {
            Self::Verified { insurer, grace, expiring_soon, copay, name, kana, consent: said } => Outcome::Verified(Verified {
                device,
                certificate_serial: String::new(),
                insurer: insurer.clone(),
                // What the program said; a co-payment it did not report matches no expectation.
                record: mynatap_sim::backend::InsuranceRecord {
                    copay_percent: copay.unwrap_or(0),
                    name,
                    kana,
                    ..mynatap_sim::backend::InsuranceRecord::valid("", &insurer, time::Date::MIN, time::Date::MAX)
                },
                consent: match said {
                    Some(line) if contract >= mynatap_sim::contract::Contract::V1_3 => line.consent(),
                    None if contract >= mynatap_sim::contract::Contract::V1_3 => Consent::default(),
                    // Before 1.3 the line had no consent: the terminal records none in the grace,
                    // the patient's choice otherwise.
                    _ if grace == Some(true) => Consent::default(),
                    _ => consent,
                },
                grace: grace.unwrap_or(false),
                expiring_soon: expiring_soon.unwrap_or(false),
            }),
            Self::Rejected { reason } => Outcome::Rejected { reason, detail: "from the reader program".into() },
            Self::NotOffered => Outcome::NotOffered,
        }
    }

    /// As the scenario format writes a result: `verified`, `rejected: reason`, `not_offered`.
    pub fn label(&self) -> String {
        match self {
            Self::Verified { .. } => "verified".into(),
            Self::Rejected { reason } => format!("rejected: {}", reason.as_str()),
            Self::NotOffered => "not_offered".into(),
        }
    }
}

fn truncate(text: &str) -> String {
    text.chars().take(200).collect()
}

/// The kind of the tapped device, and the kind the patient chose at FLOW-2 (`MYNATAP_SELECTED`).
pub fn tapped_and_selected(world: &World, spec: &TapSpec) -> Result<(DeviceKind, DeviceKind), WorldError> {
    Ok(match &spec.target {
        TapTarget::Card(_) => (DeviceKind::Card, DeviceKind::Card),
        TapTarget::Phone(id) => {
            let device = world.phone_os(id).ok_or_else(|| WorldError::UnknownPhone(id.clone()))?;
            (device, spec.os_selected.unwrap_or(device))
        }
    })
}

/// What the patient typed (`MYNATAP_PIN`): the step's PIN, else the right one; nothing for an
/// iPhone (FLOW-3 is Face ID on the phone).
pub fn typed_pin(world: &World, spec: &TapSpec, selected: DeviceKind) -> String {
    spec.pin.clone().unwrap_or_else(|| if selected == DeviceKind::Iphone { String::new() } else { world.right_pin(&spec.target).unwrap_or_default() })
}

/// FLOW-5 answers as `MYNATAP_CONSENT` carries them.
pub fn consent_json(consent: &Consent) -> String {
    serde_json::to_string(consent).unwrap_or_else(|_| "{}".into())
}

/// The consent on a verdict line (contract 1.3): all three answers, as the terminal recorded them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentLine {
    /// Medication history shared.
    pub medication: bool,
    /// Health checkups shared.
    pub checkups: bool,
    /// Surgery history shared.
    pub surgery: bool,
}

impl ConsentLine {
    /// As the terminal recorded it.
    pub fn of(consent: Consent) -> Self {
        Self { medication: consent.medication, checkups: consent.checkups, surgery: consent.surgery }
    }

    /// In the simulator's terms.
    pub fn consent(self) -> Consent {
        Consent { medication: self.medication, checkups: self.checkups, surgery: self.surgery }
    }
}

/// Reads `MYNATAP_CONSENT` (missing or unreadable fields: not shared).
pub fn parse_consent(text: &str) -> Consent {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Answers {
        medication: bool,
        checkups: bool,
        surgery: bool,
        all: bool,
    }
    let answers: Answers = serde_json::from_str(text).unwrap_or_default();
    Consent { medication: answers.all || answers.medication, checkups: answers.all || answers.checkups, surgery: answers.all || answers.surgery }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn verdict_lines() {
        assert_eq!(
            Verdict::parse("{\"outcome\":\"verified\",\"insurer\":\"06132013\"}\n").unwrap(),
            Verdict::Verified { insurer: "06132013".into(), grace: None, expiring_soon: None, copay: None, name: None, kana: None, consent: None }
        );
        let graced = Verdict::parse("{\"outcome\":\"verified\",\"insurer\":\"1\",\"grace\":true,\"copay\":20}").unwrap();
        assert_eq!(
            graced,
            Verdict::Verified { insurer: "1".into(), grace: Some(true), expiring_soon: None, copay: Some(20), name: None, kana: None, consent: None }
        );
        // 1.3: names pass unchanged, astral planes and variation selectors included; the consent
        // has all three answers and nothing else.
        let named = Verdict::parse("{\"outcome\":\"verified\",\"insurer\":\"1\",\"name\":\"髙﨑 𠮷子\",\"kana\":\"タカサキ\",\"consent\":{\"medication\":true,\"checkups\":false,\"surgery\":false}}").unwrap();
        let Verdict::Verified { name, consent, .. } = &named else { panic!("{named:?}") };
        assert_eq!(name.as_deref(), Some("髙﨑 𠮷子"));
        assert_eq!(*consent, Some(ConsentLine { medication: true, checkups: false, surgery: false }));
        assert!(Verdict::parse("{\"outcome\":\"verified\",\"insurer\":\"1\",\"consent\":{\"medication\":true}}").is_err(), "all three answers");
        assert_eq!(Verdict::parse(&named.to_line()).unwrap(), named);
        assert!(Verdict::parse("{\"outcome\":\"verified\",\"insurer\":\"1\",\"graced\":true}").is_err(), "unknown fields are refused");
        assert_eq!(Verdict::parse("{\"outcome\":\"not_offered\"}").unwrap(), Verdict::NotOffered);
        assert!(Verdict::parse("{\"outcome\":\"rejected\",\"reason\":\"sad\"}").unwrap_err().contains("unknown reason"));
        assert!(Verdict::parse("").unwrap_err().contains("no line"));
        assert!(Verdict::parse("garbage").is_err());
        assert!(Verdict::parse("{\"outcome\":\"not_offered\"}\n{\"outcome\":\"not_offered\"}").is_err());
        let line = Verdict::Rejected { reason: Reason::WrongPin }.to_line();
        assert_eq!(line, "{\"outcome\":\"rejected\",\"reason\":\"wrong_pin\"}");
        assert!(parse_consent("{\"all\":true}").surgery);
    }
}
