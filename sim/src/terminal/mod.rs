//! The face-auth terminal (顔認証付きカードリーダー) as a sans-IO state machine: FLOW-1..FLOW-5.
//!
//! A [`Tap`] yields [`Action`]s (a command APDU to send, the CRL to fetch, an eligibility query)
//! and takes their results; it never touches a transport, a clock or the system's randomness. The
//! checks run in a fixed order (see `docs/protocol.md`): phone path offered, device type, PIN
//! (card and Android), certificate parse, chain to the trusted CA, validity at the world's time,
//! CRL status, the signature over a fresh challenge, and only then the eligibility service, so no
//! eligibility query is ever made for a certificate that failed a check.

use std::fmt;

use der::Decode;
use rand::Rng;
use rand_chacha::ChaCha20Rng;
use serde::Serialize;
use time::OffsetDateTime;
use x509_cert::Certificate;
use x509_cert::name::Name;

use crate::contract::Contract;
use crate::messages::answers::InsuranceRecord;
use crate::pki::{PublicKey, derive_rng};
use crate::profile::DeviceKind;

/// Whether the terminal carries the deliberate defect `$name`. Only a build with the `mutants`
/// feature (the certification harness's) has defects at all; in any other build this is `false`
/// and the compiler drops the branch, so the terminal a vendor links skips no check.
macro_rules! mutant {
    ($tap:expr, $name:ident) => {{
        #[cfg(feature = "mutants")]
        let on = $tap.mutant($crate::terminal::Mutant::$name);
        #[cfg(not(feature = "mutants"))]
        let on = false;
        on
    }};
}

mod crl;
mod face;
mod mutant;
mod tap;

pub use crl::crl_number;
pub use face::{card_info, card_surface};
pub use mutant::Mutant;

/// Whether this build's terminal carries the deliberate defects (the `mutants` feature): without
/// it a [`Mutant`] is a name only, and [`Terminal::with_mutant`] changes nothing, so the kill
/// matrix refuses to run rather than report every mutant surviving.
pub const MUTANTS_BUILT_IN: bool = cfg!(feature = "mutants");
pub use tap::{Tap, is_jpki_pin};

use crl::CrlIndex;

/// The JPKI application and the files a terminal uses (public values, docs/protocol.md).
pub mod jpki {
    /// The application identifier.
    pub const AID: [u8; 10] = [0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01];
    /// Token information (the token label tells the device kind).
    pub const TOKEN_INFO: [u8; 2] = [0x00, 0x06];
    /// The user-authentication certificate.
    pub const AUTH_CERT: [u8; 2] = [0x00, 0x0A];
    /// The user-authentication PIN.
    pub const AUTH_PIN: [u8; 2] = [0x00, 0x18];
    /// The user-authentication key.
    pub const AUTH_KEY: [u8; 2] = [0x00, 0x17];
}

/// Largest certificate a terminal will read (a P-256 certificate is about 500 bytes).
pub const MAX_CERTIFICATE_LEN: usize = 8 * 1024;

/// Why a tap was rejected (defined with the contract's versions, which introduce them).
pub use crate::contract::Reason;

/// FLOW-5: what the patient agreed to share.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Consent {
    /// Medication information may be shared.
    pub medication: bool,
    /// Health check-up information may be shared.
    pub checkups: bool,
    /// Surgery information may be shared.
    pub surgery: bool,
}

impl fmt::Display for Consent {
    /// As a person reads it: `medication, checkups`, `all`, or `nothing shared`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared: Vec<&str> = [("medication", self.medication), ("checkups", self.checkups), ("surgery", self.surgery)]
            .into_iter()
            .filter_map(|(name, yes)| yes.then_some(name))
            .collect();
        match shared.len() {
            0 => f.write_str("nothing shared"),
            3 => f.write_str("all (medication, checkups, surgery)"),
            _ => f.write_str(&shared.join(", ")),
        }
    }
}

/// A verified tap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verified {
    /// The kind of device tapped.
    pub device: DeviceKind,
    /// The user-authentication certificate's serial (hex).
    pub certificate_serial: String,
    /// The insurer number of the record.
    pub insurer: String,
    /// The eligibility answer.
    pub record: InsuranceRecord,
    /// What the terminal recorded of FLOW-5 (nothing during the card's grace).
    pub consent: Consent,
    /// The physical card's certificate has expired and the tap falls in its three-month grace
    /// (contract 1.2): eligibility is confirmed, the consent-based sharing is not offered.
    pub grace: bool,
    /// The certificate expires within three months (contract 1.2; never during the grace).
    pub expiring_soon: bool,
}

impl Verified {
    /// The co-payment ratio the eligibility answer carries, in per cent.
    pub fn copay(&self) -> u8 {
        self.record.copay_percent
    }
}

/// How a tap ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// The holder is verified and insured.
    Verified(Verified),
    /// The tap is refused, with the contract's reason and a detail for people.
    Rejected {
        /// The contract's reason.
        reason: Reason,
        /// What happened, for people.
        detail: String,
    },
    /// The terminal does not offer the phone path (Q16).
    NotOffered,
}

/// What a tap came to, without its details: what a scenario's `expect.outcome` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    /// `verified`.
    Verified,
    /// `rejected` (with a [`Reason`]).
    Rejected,
    /// `not_offered` (Q16: no phone path at this terminal).
    NotOffered,
}

impl OutcomeKind {
    /// Every kind, in the contract's order.
    pub const ALL: [OutcomeKind; 3] = [Self::Verified, Self::Rejected, Self::NotOffered];
    /// `verified`, `rejected` or `not_offered`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Verified => "verified",
            Self::Rejected => "rejected",
            Self::NotOffered => "not_offered",
        }
    }
    /// The kind a scenario or a verdict line names.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

impl fmt::Display for OutcomeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Outcome {
    /// What the tap came to, without its details.
    pub fn kind(&self) -> OutcomeKind {
        match self {
            Self::Verified(_) => OutcomeKind::Verified,
            Self::Rejected { .. } => OutcomeKind::Rejected,
            Self::NotOffered => OutcomeKind::NotOffered,
        }
    }
    /// `verified`, `rejected` or `not_offered`.
    pub fn name(&self) -> &'static str {
        self.kind().as_str()
    }
    /// The rejection's reason, if rejected.
    pub fn reason(&self) -> Option<Reason> {
        match self {
            Self::Rejected { reason, .. } => Some(*reason),
            _ => None,
        }
    }
    fn rejected(reason: Reason, detail: impl Into<String>) -> Self {
        Self::Rejected { reason, detail: detail.into() }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Verified(verified) => {
                write!(f, "verified (insurer {}", verified.insurer)?;
                if verified.grace {
                    f.write_str(", in the card's grace after expiry")?;
                }
                if verified.expiring_soon {
                    f.write_str(", certificate expiring soon")?;
                }
                f.write_str(")")
            }
            Self::Rejected { reason, detail } if detail.is_empty() => write!(f, "rejected: {reason}"),
            Self::Rejected { reason, detail } => write!(f, "rejected: {reason} ({detail})"),
            Self::NotOffered => f.write_str("not_offered"),
        }
    }
}

/// A terminal's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalConfig {
    /// The terminal's id (scenario `terminals[].id`).
    pub id: String,
    /// Whether this facility's equipment offers the phone path (Q15, Q16).
    pub smartphone: bool,
    /// How long the terminal waits for one response (the driver enforces it).
    pub timeout_ms: u64,
    /// How long the terminal waits for the CRL or the eligibility service (the driver enforces
    /// it); past it the tap is `service_unavailable`.
    pub backend_timeout_ms: u64,
}

/// How the holder of a physical card proves it is theirs (FLOW-3, card path).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CardAuth {
    /// The patient types the card's PIN.
    #[default]
    Pin,
    /// The terminal's camera reads the card surface and compares the patient's face.
    Face {
        /// Verification number B as the camera read it (14 digits).
        surface: String,
        /// Whether the camera's face is the card's (the comparison's result).
        face_match: bool,
    },
}

impl CardAuth {
    /// `pin` or `face`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Pin => "pin",
            Self::Face { .. } => "face",
        }
    }
}

/// What the patient did at the terminal for one tap.
#[derive(Debug, Clone)]
pub struct TapRequest {
    /// FLOW-1/FLOW-2: `Card` for the physical card, else the phone type chosen.
    pub selected: DeviceKind,
    /// The PIN typed on the terminal (card and Android paths; ignored for an iPhone).
    pub pin: String,
    /// FLOW-5: what the patient agrees to share.
    pub consent: Consent,
    /// The world's time.
    pub now: OffsetDateTime,
    /// Card path only: PIN or face recognition.
    pub auth: CardAuth,
    /// The contract whose rules the terminal follows where versions differ (the card's grace).
    pub contract: Contract,
}

#[derive(Debug, thiserror::Error)]
/// Why a terminal could not be set up.
#[non_exhaustive]
pub enum TerminalError {
    #[error("trust anchor is not a DER certificate: {0}")]
    /// The trust anchor is not a DER certificate.
    Anchor(#[from] der::Error),
    #[error("trust anchor key is not an RSA-2048, P-256 or P-384 key")]
    /// The trust anchor's key cannot be used.
    AnchorKey,
    #[error("no trust anchor given")]
    /// A terminal needs at least one trust anchor.
    NoAnchor,
}

/// A trusted authority as the terminal keeps it.
#[derive(Debug, Clone)]
pub(super) struct Anchor {
    pub(super) name: Name,
    pub(super) key: PublicKey,
    /// Its subjectKeyIdentifier: the hint a certificate's authorityKeyIdentifier gives.
    pub(super) key_id: Option<Vec<u8>>,
    /// Its keyUsage allows signing CRLs (or it has no keyUsage): RFC 5280 6.3.3 (f).
    pub(super) crl_sign: bool,
}

/// Whether a CA certificate may sign CRLs: keyUsage absent, or naming cRLSign.
fn may_sign_crls(certificate: &Certificate) -> bool {
    use x509_cert::ext::pkix::{KeyUsage, KeyUsages};
    const ID: der::asn1::ObjectIdentifier = der::asn1::ObjectIdentifier::new_unwrap("2.5.29.15");
    let Some(extension) = certificate.tbs_certificate().extensions().and_then(|extensions| extensions.iter().find(|extension| extension.extn_id == ID)) else {
        return true;
    };
    KeyUsage::from_der(extension.extn_value.as_bytes()).is_ok_and(|usage| usage.0.contains(KeyUsages::CRLSign))
}

/// A certificate's subjectKeyIdentifier, if it has one.
pub(super) fn subject_key_id(certificate: &Certificate) -> Option<Vec<u8>> {
    use x509_cert::ext::pkix::SubjectKeyIdentifier;
    const ID: der::asn1::ObjectIdentifier = der::asn1::ObjectIdentifier::new_unwrap("2.5.29.14");
    let extension = certificate.tbs_certificate().extensions()?.iter().find(|extension| extension.extn_id == ID)?;
    SubjectKeyIdentifier::from_der(extension.extn_value.as_bytes()).ok().map(|id| id.0.as_bytes().to_vec())
}

/// A certificate's authorityKeyIdentifier keyIdentifier, if it has one.
pub(super) fn authority_key_id(certificate: &Certificate) -> Option<Vec<u8>> {
    use x509_cert::ext::pkix::AuthorityKeyIdentifier;
    const ID: der::asn1::ObjectIdentifier = der::asn1::ObjectIdentifier::new_unwrap("2.5.29.35");
    let extension = certificate.tbs_certificate().extensions()?.iter().find(|extension| extension.extn_id == ID)?;
    AuthorityKeyIdentifier::from_der(extension.extn_value.as_bytes()).ok()?.key_identifier.map(|id| id.as_bytes().to_vec())
}

/// The clinic's terminal: its trust anchor, revocation cache and challenge generator persist
/// across taps.
pub struct Terminal {
    config: TerminalConfig,
    /// The trusted authorities, oldest generation first (one unless the world has generations).
    anchors: Vec<Anchor>,
    /// Each anchor's revocation index, as last verified.
    crls: Vec<Option<CrlIndex>>,
    /// The card-surface CA whose certificate the card's `00 04` must carry (face path).
    surface_ca: Option<rsa::PublicKey>,
    challenges: ChaCha20Rng,
    #[cfg_attr(not(feature = "mutants"), allow(dead_code))]
    mutant: Option<Mutant>,
}

impl fmt::Debug for Terminal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let entries: Vec<Option<usize>> = self.crls.iter().map(|crl| crl.as_ref().map(|c| c.entries.len())).collect();
        f.debug_struct("Terminal").field("config", &self.config).field("anchors", &self.anchors.len()).field("crl_entries", &entries).finish()
    }
}

impl Terminal {
    /// `anchor_der` is the trusted CA certificate; challenges come from `seed` (and the id).
    pub fn new(config: TerminalConfig, anchor_der: &[u8], seed: u64) -> Result<Self, TerminalError> {
        Self::with_anchors(config, &[anchor_der], seed)
    }

    /// A terminal trusting every certificate of `anchors_der` (generations of one authority,
    /// oldest first: contract 1.3). A device's certificate is checked against the anchor whose
    /// key verifies its signature, among those of its issuer's name (the authority key
    /// identifier only orders the tries), and its CRL must verify under that same anchor.
    pub fn with_anchors(config: TerminalConfig, anchors_der: &[&[u8]], seed: u64) -> Result<Self, TerminalError> {
        let mut anchors = Vec::with_capacity(anchors_der.len());
        for der in anchors_der {
            let anchor = Certificate::from_der(der)?;
            let key = public_key(&anchor).ok_or(TerminalError::AnchorKey)?;
            anchors.push(Anchor { name: anchor.tbs_certificate().subject().clone(), key, key_id: subject_key_id(&anchor), crl_sign: may_sign_crls(&anchor) });
        }
        if anchors.is_empty() {
            return Err(TerminalError::NoAnchor);
        }
        let challenges = derive_rng(seed, &format!("terminal:{}:challenges", config.id));
        // The test card-surface CA, the same for every world; a reader program is handed it.
        let surface_ca = crate::pki::card_verifiable::SurfaceAuthority::test().ok().map(|authority| authority.ca_public());
        Ok(Self { crls: anchors.iter().map(|_| None).collect(), anchors, config, surface_ca, challenges, mutant: None })
    }

    /// The terminal's settings.
    pub fn config(&self) -> &TerminalConfig {
        &self.config
    }

    /// Trusts `key` (the card encoding's RSA key) as the card-surface CA instead of the test one;
    /// `None` trusts none, so every face tap is `card_not_genuine`.
    pub fn with_surface_ca(mut self, key: Option<rsa::PublicKey>) -> Self {
        self.surface_ca = key;
        self
    }

    /// Builds in a deliberate defect (certification self-tests only; a build without the
    /// `mutants` feature keeps the name and acts on none: see [`MUTANTS_BUILT_IN`]).
    pub fn with_mutant(mut self, mutant: Option<Mutant>) -> Self {
        self.mutant = mutant;
        self
    }

    /// Starts one patient flow.
    pub fn start_tap(&mut self, request: TapRequest) -> Tap<'_> {
        let mut challenge = [0u8; 32];
        self.challenges.fill_bytes(&mut challenge);
        #[cfg(feature = "mutants")]
        if self.mutant == Some(Mutant::ReuseChallenge) {
            challenge = [0x42; 32];
        }
        Tap::start(self, request, challenge)
    }
}

/// What the driver must do next for a tap.
#[derive(Debug)]
pub enum Action<'a> {
    /// Send this command APDU and feed the response to [`Tap::on_response`].
    Transmit(&'a [u8]),
    /// Fetch the current CRL of trust anchor `issuer` and feed it to [`Tap::on_crl`].
    FetchCrl {
        /// The anchor (index among the terminal's anchors, oldest generation first) that issued
        /// the device's certificate: its CRL is the one to fetch.
        issuer: usize,
    },
    /// Ask the eligibility service and feed the answer to [`Tap::on_eligibility`].
    /// The certificate's serial to ask about.
    QueryEligibility {
        /// The user-authentication certificate's serial.
        serial: u64,
    },
    /// The tap is over.
    Done(&'a Outcome),
}

pub(super) fn public_key(certificate: &Certificate) -> Option<PublicKey> {
    PublicKey::from_spki(certificate.tbs_certificate().subject_public_key_info())
}
