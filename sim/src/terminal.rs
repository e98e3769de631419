//! The face-auth terminal (顔認証付きカードリーダー) as a sans-IO state machine: FLOW-1..FLOW-5.
//!
//! A [`Tap`] yields [`Action`]s (a command APDU to send, the CRL to fetch, an eligibility query)
//! and takes their results; it never touches a transport, a clock or the system's randomness. The
//! checks run in a fixed order (see `docs/protocol.md`): phone path offered, device type, PIN
//! (card and Android), certificate parse, chain to the trusted CA, validity at the world's time,
//! CRL status, the signature over a fresh challenge, and only then the eligibility service, so no
//! eligibility query is ever made for a certificate that failed a check.

use std::collections::HashMap;
use std::fmt;

use der::{Decode, Encode};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{DerSignature, Signature, VerifyingKey};
use rand::Rng;
use rand_chacha::ChaCha20Rng;
use serde::Serialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use x509_cert::crl::CertificateList;
use x509_cert::ext::pkix::crl::CrlReason;
use x509_cert::name::Name;
use x509_cert::Certificate;

use crate::apdu::{CommandApdu, ResponseApdu, StatusWord};
use crate::backend::{CrlSnapshot, EligibilityError, InsuranceRecord, ServiceError};
use crate::clock;
use crate::pki::{derive_rng, serial_to_u64, RevocationReason};
use crate::profile::DeviceKind;
use crate::transport::TransportError;

/// The JPKI application and the files a terminal uses (public values, docs/protocol.md).
pub mod jpki {
    pub const AID: [u8; 10] = [0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01];
    pub const TOKEN_INFO: [u8; 2] = [0x00, 0x06];
    pub const AUTH_CERT: [u8; 2] = [0x00, 0x0A];
    pub const AUTH_PIN: [u8; 2] = [0x00, 0x18];
    pub const AUTH_KEY: [u8; 2] = [0x00, 0x17];
}

/// Largest certificate a terminal will read (a P-256 certificate is about 500 bytes).
pub const MAX_CERTIFICATE_LEN: usize = 8 * 1024;
const OID_CRL_NUMBER: &str = "2.5.29.20";
const OID_CRL_REASON: &str = "2.5.29.21";
const OID_ECDSA_WITH_SHA256: &str = "1.2.840.10045.4.3.2";

/// Why a tap was rejected: exactly the reasons of docs/scenario-format.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    CertificateExpired,
    CertificateRevoked,
    CertificateSuspended,
    NotRegistered,
    InsuranceExpired,
    UserNotVerified,
    WrongPin,
    PinBlocked,
    WrongDeviceType,
    SignatureInvalid,
    UntrustedCertificate,
    CardRemoved,
    ProtocolError,
    ServiceUnavailable,
}

impl Reason {
    pub const ALL: [Reason; 14] = [
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
    ];
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
        }
    }
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|reason| reason.as_str() == text)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// FLOW-5: what the patient agreed to share.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Consent {
    pub medication: bool,
    pub checkups: bool,
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
    pub device: DeviceKind,
    pub certificate_serial: String,
    pub insurer: String,
    pub record: InsuranceRecord,
    pub consent: Consent,
}

/// How a tap ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Verified(Verified),
    Rejected { reason: Reason, detail: String },
    /// The terminal does not offer the phone path (Q16).
    NotOffered,
}

impl Outcome {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Verified(_) => "verified",
            Self::Rejected { .. } => "rejected",
            Self::NotOffered => "not_offered",
        }
    }
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
            Self::Verified(verified) => write!(f, "verified (insurer {})", verified.insurer),
            Self::Rejected { reason, detail } if detail.is_empty() => write!(f, "rejected: {reason}"),
            Self::Rejected { reason, detail } => write!(f, "rejected: {reason} ({detail})"),
            Self::NotOffered => f.write_str("not_offered"),
        }
    }
}

/// A deliberate defect of the terminal, for certification self-tests (`mynatap reference-reader
/// --mutant NAME`): each must be caught by the suite or its wire rules. Never set in service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mutant {
    SkipExpiry,
    SkipCrl,
    IgnoreHold,
    SkipSignature,
    AcceptAnyCa,
    IgnorePhoneSupport,
    IgnoreOsChoice,
    ReuseChallenge,
    QueryBeforeChecks,
    VerifyPinOnIphone,
    RetryPin,
    CrlFailOpen,
    AcceptStaleCrl,
    EligibilityFailOpen,
    /// A driver defect: after the card left, reconnect and go on sending APDUs (rule W7). The
    /// terminal itself is unchanged; the reference reader's driver acts on it.
    RetryAfterRemoval,
}

impl Mutant {
    pub const ALL: [Mutant; 15] = [
        Self::SkipExpiry,
        Self::SkipCrl,
        Self::IgnoreHold,
        Self::SkipSignature,
        Self::AcceptAnyCa,
        Self::IgnorePhoneSupport,
        Self::IgnoreOsChoice,
        Self::ReuseChallenge,
        Self::QueryBeforeChecks,
        Self::VerifyPinOnIphone,
        Self::RetryPin,
        Self::CrlFailOpen,
        Self::AcceptStaleCrl,
        Self::EligibilityFailOpen,
        Self::RetryAfterRemoval,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Self::SkipExpiry => "skip-expiry",
            Self::SkipCrl => "skip-crl",
            Self::IgnoreHold => "ignore-hold",
            Self::SkipSignature => "skip-signature",
            Self::AcceptAnyCa => "accept-any-ca",
            Self::IgnorePhoneSupport => "ignore-phone-support",
            Self::IgnoreOsChoice => "ignore-os-choice",
            Self::ReuseChallenge => "reuse-challenge",
            Self::QueryBeforeChecks => "query-before-checks",
            Self::VerifyPinOnIphone => "verify-pin-on-iphone",
            Self::RetryPin => "retry-pin",
            Self::CrlFailOpen => "crl-fail-open",
            Self::AcceptStaleCrl => "accept-stale-crl",
            Self::EligibilityFailOpen => "eligibility-fail-open",
            Self::RetryAfterRemoval => "retry-after-removal",
        }
    }
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|mutant| mutant.name() == name)
    }
}

/// A terminal's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalConfig {
    pub id: String,
    /// Whether this facility's equipment offers the phone path (Q15, Q16).
    pub smartphone: bool,
    /// How long the terminal waits for one response (the driver enforces it).
    pub timeout_ms: u64,
    /// How long the terminal waits for the CRL or the eligibility service (the driver enforces
    /// it); past it the tap is `service_unavailable`.
    pub backend_timeout_ms: u64,
}

/// What the patient did at the terminal for one tap.
#[derive(Debug, Clone)]
pub struct TapRequest {
    /// FLOW-1/FLOW-2: `Card` for the physical card, else the phone type chosen.
    pub selected: DeviceKind,
    /// The PIN typed on the terminal (card and Android paths; ignored for an iPhone).
    pub pin: String,
    pub consent: Consent,
    /// The world's time.
    pub now: OffsetDateTime,
}

#[derive(Debug, thiserror::Error)]
pub enum TerminalError {
    #[error("trust anchor is not a DER certificate: {0}")]
    Anchor(#[from] der::Error),
    #[error("trust anchor key is not an uncompressed P-256 key")]
    AnchorKey,
}

/// The revocation list as last verified, indexed by serial. Rebuilt only when the CRL's bytes
/// change, so a tap costs a comparison and a hash lookup whatever the CRL's size; keyed by the
/// bytes, not the CRL number, so a forged or stale list under a known number is verified anew.
#[derive(Debug)]
struct CrlIndex {
    der: std::sync::Arc<[u8]>,
    next_update: Option<OffsetDateTime>,
    entries: HashMap<u64, RevocationReason>,
}

/// The clinic's terminal: its trust anchor, revocation cache and challenge generator persist
/// across taps.
pub struct Terminal {
    config: TerminalConfig,
    anchor_name: Name,
    anchor_key: VerifyingKey,
    crl: Option<CrlIndex>,
    challenges: ChaCha20Rng,
    mutant: Option<Mutant>,
}

impl fmt::Debug for Terminal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Terminal").field("config", &self.config).field("crl_entries", &self.crl.as_ref().map(|c| c.entries.len())).finish()
    }
}

impl Terminal {
    /// `anchor_der` is the trusted CA certificate; challenges come from `seed` (and the id).
    pub fn new(config: TerminalConfig, anchor_der: &[u8], seed: u64) -> Result<Self, TerminalError> {
        let anchor = Certificate::from_der(anchor_der)?;
        let anchor_key = public_key(&anchor).ok_or(TerminalError::AnchorKey)?;
        let challenges = derive_rng(seed, &format!("terminal:{}:challenges", config.id));
        Ok(Self { anchor_name: anchor.tbs_certificate().subject().clone(), config, anchor_key, crl: None, challenges, mutant: None })
    }

    pub fn config(&self) -> &TerminalConfig {
        &self.config
    }

    /// Builds in a deliberate defect (certification self-tests only).
    pub fn with_mutant(mut self, mutant: Option<Mutant>) -> Self {
        self.mutant = mutant;
        self
    }

    /// Starts one patient flow.
    pub fn start_tap(&mut self, request: TapRequest) -> Tap<'_> {
        let mut challenge = [0u8; 32];
        self.challenges.fill_bytes(&mut challenge);
        if self.mutant == Some(Mutant::ReuseChallenge) {
            challenge = [0x42; 32];
        }
        let mut tap = Tap {
            terminal: self,
            request,
            stage: Stage::Done,
            command: Vec::with_capacity(64),
            command_name: "",
            certificate: Vec::new(),
            certificate_len: 0,
            subject: None,
            challenge,
            outcome: None,
            early_eligibility: None,
            retried_pin: false,
        };
        tap.begin();
        tap
    }

    /// Brings the revocation index up to date with `snapshot` (verifying its signature once).
    fn refresh_crl(&mut self, snapshot: &CrlSnapshot) -> Result<(), String> {
        if self.crl.as_ref().is_some_and(|index| std::sync::Arc::ptr_eq(&index.der, &snapshot.der) || index.der == snapshot.der) {
            return Ok(());
        }
        let crl = CertificateList::<x509_cert::certificate::Rfc5280>::from_der(&snapshot.der).map_err(|e| format!("CRL does not parse: {e}"))?;
        if crl.tbs_cert_list.issuer != self.anchor_name {
            return Err("CRL is not issued by the trusted CA".into());
        }
        let tbs = crl.tbs_cert_list.to_der().map_err(|e| e.to_string())?;
        let signature = DerSignature::from_bytes(crl.signature.raw_bytes()).map_err(|_| "CRL signature is not DER ECDSA".to_owned())?;
        self.anchor_key.verify(&tbs, &signature).map_err(|_| "CRL signature does not verify".to_owned())?;
        crl_number_of(&crl).ok_or("CRL has no CRL number")?;
        let next_update = crl.tbs_cert_list.next_update.as_ref().and_then(x509_instant);
        let mut entries = HashMap::new();
        for revoked in crl.tbs_cert_list.revoked_certificates.iter().flatten() {
            let Some(serial) = serial_to_u64(revoked.serial_number.as_bytes()) else { continue };
            let reason = revoked
                .crl_entry_extensions
                .iter()
                .flatten()
                .find(|ext| ext.extn_id.to_string() == OID_CRL_REASON)
                .and_then(|ext| CrlReason::from_der(ext.extn_value.as_bytes()).ok())
                .map_or(RevocationReason::KeyCompromise, RevocationReason::from_x509);
            entries.insert(serial, reason);
        }
        self.crl = Some(CrlIndex { der: snapshot.der.clone(), next_update, entries });
        Ok(())
    }
}

/// What the driver must do next for a tap.
#[derive(Debug)]
pub enum Action<'a> {
    /// Send this command APDU and feed the response to [`Tap::on_response`].
    Transmit(&'a [u8]),
    /// Fetch the current CRL and feed it to [`Tap::on_crl`].
    FetchCrl,
    /// Ask the eligibility service and feed the answer to [`Tap::on_eligibility`].
    QueryEligibility { serial: u64 },
    /// The tap is over.
    Done(&'a Outcome),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    SelectJpki,
    SelectTokenInfo,
    ReadTokenInfo,
    SelectPin,
    Verify,
    SelectCertificate,
    ReadCertificateHeader,
    ReadCertificateBody,
    AwaitCrl,
    SelectKey,
    Sign,
    AwaitEligibility,
    AwaitEarlyEligibility,
    Done,
}

/// What the terminal learned from the certificate.
#[derive(Debug)]
struct Subject {
    serial: u64,
    key: VerifyingKey,
}

/// One patient flow in progress.
pub struct Tap<'t> {
    terminal: &'t mut Terminal,
    request: TapRequest,
    stage: Stage,
    command: Vec<u8>,
    command_name: &'static str,
    certificate: Vec<u8>,
    certificate_len: usize,
    subject: Option<Subject>,
    challenge: [u8; 32],
    outcome: Option<Outcome>,
    /// `query-before-checks`: the eligibility answer obtained before any check.
    early_eligibility: Option<Result<InsuranceRecord, EligibilityError>>,
    retried_pin: bool,
}

impl fmt::Debug for Tap<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tap").field("stage", &self.stage).field("outcome", &self.outcome).finish()
    }
}

impl<'t> Tap<'t> {
    /// The fresh challenge of this tap.
    pub fn challenge(&self) -> &[u8; 32] {
        &self.challenge
    }

    pub fn next_action(&self) -> Action<'_> {
        match (&self.outcome, self.stage) {
            (Some(outcome), _) => Action::Done(outcome),
            (None, Stage::AwaitCrl) => Action::FetchCrl,
            (None, Stage::AwaitEligibility | Stage::AwaitEarlyEligibility) => {
                Action::QueryEligibility { serial: self.subject.as_ref().map_or(0, |subject| subject.serial) }
            }
            (None, _) => Action::Transmit(&self.command),
        }
    }

    /// The outcome, once [`Action::Done`] was reached.
    pub fn into_outcome(self) -> Option<Outcome> {
        self.outcome
    }

    fn mutant(&self, mutant: Mutant) -> bool {
        self.terminal.mutant == Some(mutant)
    }

    fn begin(&mut self) {
        if !self.terminal.config.smartphone && self.request.selected != DeviceKind::Card && !self.mutant(Mutant::IgnorePhoneSupport) {
            return self.finish(Outcome::NotOffered);
        }
        let select = CommandApdu::new(0x00, 0xA4, 0x04, 0x0C).with_data(jpki::AID.to_vec());
        self.send(Stage::SelectJpki, "SELECT JPKI", &select);
    }

    fn send(&mut self, stage: Stage, name: &'static str, command: &CommandApdu) {
        self.command.clear();
        match command.encode_into(&mut self.command) {
            Ok(()) => {
                self.stage = stage;
                self.command_name = name;
            }
            Err(error) => self.finish(Outcome::rejected(Reason::ProtocolError, format!("cannot encode {name}: {error}"))),
        }
    }

    fn select_file(&mut self, stage: Stage, name: &'static str, fid: [u8; 2]) {
        self.send(stage, name, &CommandApdu::new(0x00, 0xA4, 0x02, 0x0C).with_data(fid.to_vec()));
    }

    fn read(&mut self, stage: Stage, name: &'static str, offset: usize, ne: usize) {
        let offset = u16::try_from(offset).unwrap_or(u16::MAX).to_be_bytes();
        self.send(stage, name, &CommandApdu::new(0x00, 0xB0, offset[0], offset[1]).with_ne(ne.clamp(1, 256) as u32));
    }

    fn finish(&mut self, outcome: Outcome) {
        self.stage = Stage::Done;
        self.outcome = Some(outcome);
    }

    fn reject(&mut self, reason: Reason, detail: impl Into<String>) {
        self.finish(Outcome::rejected(reason, detail));
    }

    fn unexpected(&mut self, response: &ResponseApdu) {
        let detail = format!("unexpected response {:?} to {} ({})", response, self.command_name, hex::encode_upper(&self.command));
        self.reject(Reason::ProtocolError, detail);
    }

    /// Feeds the response to the last command (or the transport's failure).
    pub fn on_response(&mut self, response: Result<&[u8], TransportError>) {
        if self.outcome.is_some() || matches!(self.stage, Stage::AwaitCrl | Stage::AwaitEligibility | Stage::AwaitEarlyEligibility) {
            return;
        }
        let bytes = match response {
            Ok(bytes) => bytes,
            Err(TransportError::CardRemoved) => return self.reject(Reason::CardRemoved, format!("card left the field during {}", self.command_name)),
            Err(TransportError::Timeout { ms }) => {
                return self.reject(Reason::CardRemoved, format!("no response to {} within {ms} ms", self.command_name));
            }
            Err(other) => return self.reject(Reason::ProtocolError, format!("{} failed: {other}", self.command_name)),
        };
        // vpcd answers an empty response when the card dies mid-command: the card is gone.
        let Ok(response) = ResponseApdu::decode(bytes) else {
            return self.reject(Reason::CardRemoved, format!("empty response to {}", self.command_name));
        };
        self.advance(&response);
    }

    fn advance(&mut self, response: &ResponseApdu) {
        let ok = response.sw.is_success();
        match self.stage {
            Stage::SelectJpki if ok => self.select_file(Stage::SelectTokenInfo, "SELECT token info", jpki::TOKEN_INFO),
            Stage::SelectTokenInfo if ok => self.read(Stage::ReadTokenInfo, "READ token info", 0, 32),
            Stage::ReadTokenInfo if ok => self.check_token(response),
            Stage::SelectPin if ok => {
                let verify = CommandApdu::new(0x00, 0x20, 0x00, 0x80).with_data(self.request.pin.as_bytes().to_vec());
                self.send(Stage::Verify, "VERIFY", &verify);
            }
            Stage::Verify if self.request.selected == DeviceKind::Iphone => {
                // verify-pin-on-iphone: whatever the phone said, go on as an iPhone flow would.
                self.select_file(Stage::SelectCertificate, "SELECT certificate", jpki::AUTH_CERT)
            }
            Stage::Verify if self.mutant(Mutant::RetryPin) && !self.retried_pin && response.sw.retries().is_some_and(|left| left > 0) => {
                self.retried_pin = true;
                let verify = CommandApdu::new(0x00, 0x20, 0x00, 0x80).with_data(self.request.pin.as_bytes().to_vec());
                self.send(Stage::Verify, "VERIFY", &verify);
            }
            Stage::Verify => match response.sw {
                StatusWord::SUCCESS => self.select_file(Stage::SelectCertificate, "SELECT certificate", jpki::AUTH_CERT),
                StatusWord::PIN_BLOCKED => self.reject(Reason::PinBlocked, "PIN is blocked (69 84)"),
                sw => match sw.retries() {
                    Some(0) => self.reject(Reason::PinBlocked, "wrong PIN used the last try (63 C0)"),
                    Some(left) => self.reject(Reason::WrongPin, format!("wrong PIN, {left} tries left")),
                    None => self.unexpected(response),
                },
            },
            Stage::SelectCertificate if ok => self.read(Stage::ReadCertificateHeader, "READ certificate header", 0, 4),
            Stage::ReadCertificateHeader if ok => self.start_certificate(response),
            Stage::ReadCertificateBody if ok => self.continue_certificate(response),
            Stage::SelectKey if ok => {
                let digest: [u8; 32] = Sha256::digest(self.challenge).into();
                let sign = CommandApdu::new(0x80, 0x2A, 0x00, 0x80).with_data(digest.to_vec()).with_ne(256);
                self.send(Stage::Sign, "SIGN", &sign);
            }
            Stage::Sign => self.check_signature(response),
            _ => self.unexpected(response),
        }
    }

    fn check_token(&mut self, response: &ResponseApdu) {
        let label = String::from_utf8_lossy(&response.data);
        let label = label.trim_end_matches([' ', '\0']);
        let Some(device) = DeviceKind::from_token_label(label) else {
            return self.reject(Reason::ProtocolError, format!("unknown token label {label:?}"));
        };
        if device != self.request.selected && !self.mutant(Mutant::IgnoreOsChoice) {
            return self.reject(
                Reason::WrongDeviceType,
                format!("patient chose {} but the device is {device} ({label})", self.request.selected),
            );
        }
        match device {
            DeviceKind::Iphone if self.mutant(Mutant::VerifyPinOnIphone) => self.select_file(Stage::SelectPin, "SELECT PIN", jpki::AUTH_PIN),
            DeviceKind::Iphone => self.select_file(Stage::SelectCertificate, "SELECT certificate", jpki::AUTH_CERT),
            DeviceKind::Android | DeviceKind::Card if !is_jpki_pin(&self.request.pin) => {
                // A JPKI user-authentication PIN is 4 digits: anything else cannot be right, so
                // the terminal says so without sending it (no try spent, no counter probe).
                self.reject(Reason::WrongPin, "the PIN typed is not 4 digits; nothing was sent to the device")
            }
            DeviceKind::Android | DeviceKind::Card => self.select_file(Stage::SelectPin, "SELECT PIN", jpki::AUTH_PIN),
        }
    }

    fn start_certificate(&mut self, response: &ResponseApdu) {
        let total = match response.data.as_slice() {
            [0x30, 0x82, high, low] => usize::from(u16::from_be_bytes([*high, *low])) + 4,
            [0x30, 0x81, len, _] => usize::from(*len) + 3,
            _ => return self.reject(Reason::ProtocolError, format!("certificate header {:?} is not a DER SEQUENCE", response)),
        };
        if total > MAX_CERTIFICATE_LEN {
            return self.reject(Reason::ProtocolError, format!("certificate of {total} bytes is over the {MAX_CERTIFICATE_LEN}-byte limit"));
        }
        self.certificate.clear();
        self.certificate.extend_from_slice(&response.data);
        self.certificate.truncate(total);
        self.certificate_len = total;
        self.read_more_certificate();
    }

    fn read_more_certificate(&mut self) {
        let have = self.certificate.len();
        if have >= self.certificate_len {
            return self.check_certificate();
        }
        self.read(Stage::ReadCertificateBody, "READ certificate", have, self.certificate_len - have);
    }

    fn continue_certificate(&mut self, response: &ResponseApdu) {
        let wanted = self.certificate_len - self.certificate.len();
        if response.data.is_empty() || response.data.len() > wanted.min(256) {
            let detail = format!("truncated certificate: asked for {} bytes, got {}", wanted.min(256), response.data.len());
            return self.reject(Reason::ProtocolError, detail);
        }
        self.certificate.extend_from_slice(&response.data);
        self.read_more_certificate();
    }

    fn check_certificate(&mut self) {
        let certificate = match Certificate::from_der(&self.certificate) {
            Ok(certificate) => certificate,
            Err(error) => return self.reject(Reason::ProtocolError, format!("certificate does not parse: {error}")),
        };
        let tbs = certificate.tbs_certificate();
        if self.mutant(Mutant::QueryBeforeChecks) && self.early_eligibility.is_none() {
            // Ask before any check: what the privacy rule forbids.
            let serial = serial_to_u64(tbs.serial_number().as_bytes()).unwrap_or(0);
            let key = public_key(&certificate);
            if let Some(key) = key {
                self.subject = Some(Subject { serial, key });
                self.stage = Stage::AwaitEarlyEligibility;
                return;
            }
        }
        let any_ca = self.mutant(Mutant::AcceptAnyCa);
        if tbs.issuer() != &self.terminal.anchor_name && !any_ca {
            return self.reject(Reason::UntrustedCertificate, format!("issuer {} is not the trusted CA", tbs.issuer()));
        }
        if !any_ca && !self.chains_to_anchor(&certificate) {
            return self.reject(Reason::UntrustedCertificate, "certificate signature does not verify with the trusted CA's key");
        }
        let validity = tbs.validity();
        let now = clock::whole_seconds(self.request.now);
        let (Some(not_before), Some(not_after)) = (x509_instant(&validity.not_before), x509_instant(&validity.not_after)) else {
            return self.reject(Reason::ProtocolError, "certificate validity is out of range");
        };
        let skip_expiry = self.mutant(Mutant::SkipExpiry);
        if !clock::valid_through(not_after, now) && !skip_expiry {
            return self.reject(Reason::CertificateExpired, format!("expired at {}", validity.not_after));
        }
        if now < not_before && !skip_expiry {
            return self.reject(Reason::CertificateExpired, format!("not valid before {}", validity.not_before));
        }
        let Some(serial) = serial_to_u64(tbs.serial_number().as_bytes()) else {
            return self.reject(Reason::UntrustedCertificate, "serial number longer than this CA issues");
        };
        let Some(key) = public_key(&certificate) else {
            return self.reject(Reason::ProtocolError, "certificate key is not P-256");
        };
        self.subject = Some(Subject { serial, key });
        if self.mutant(Mutant::SkipCrl) {
            return self.select_file(Stage::SelectKey, "SELECT key", jpki::AUTH_KEY);
        }
        self.stage = Stage::AwaitCrl;
    }

    fn chains_to_anchor(&self, certificate: &Certificate) -> bool {
        if certificate.signature_algorithm().oid.to_string() != OID_ECDSA_WITH_SHA256 {
            return false;
        }
        let Ok(tbs) = certificate.tbs_certificate().to_der() else { return false };
        let Ok(signature) = DerSignature::from_bytes(certificate.signature().raw_bytes()) else { return false };
        self.terminal.anchor_key.verify(&tbs, &signature).is_ok()
    }

    /// Feeds the CRL the driver fetched, or why it could not. Without a fresh CRL whose
    /// signature verifies the terminal cannot know the revocation status: it fails closed.
    pub fn on_crl(&mut self, answer: Result<CrlSnapshot, ServiceError>) {
        if self.stage != Stage::AwaitCrl {
            return;
        }
        let snapshot = match answer {
            Ok(snapshot) => snapshot,
            Err(_) if self.mutant(Mutant::CrlFailOpen) => return self.select_file(Stage::SelectKey, "SELECT key", jpki::AUTH_KEY),
            Err(error) => return self.reject(Reason::ServiceUnavailable, format!("CRL {error}")),
        };
        if let Err(error) = self.terminal.refresh_crl(&snapshot) {
            return self.reject(Reason::ServiceUnavailable, format!("revocation status unknown: {error}"));
        }
        let next = self.terminal.crl.as_ref().and_then(|index| index.next_update);
        let lapsed = next.is_none_or(|next| !clock::valid_through(next, self.request.now));
        if lapsed && !self.mutant(Mutant::AcceptStaleCrl) {
            let detail = next.map_or("the CRL has no nextUpdate".to_owned(), |next| format!("the CRL is stale: its nextUpdate {next} is before {}", self.request.now));
            return self.reject(Reason::ServiceUnavailable, detail);
        }
        let serial = self.subject.as_ref().map_or(0, |subject| subject.serial);
        let status = self.terminal.crl.as_ref().and_then(|index| index.entries.get(&serial).copied());
        match status {
            Some(RevocationReason::CertificateHold) if self.mutant(Mutant::IgnoreHold) => self.select_file(Stage::SelectKey, "SELECT key", jpki::AUTH_KEY),
            Some(RevocationReason::CertificateHold) => self.reject(Reason::CertificateSuspended, format!("serial {serial:X} is on hold")),
            Some(reason) => self.reject(Reason::CertificateRevoked, format!("serial {serial:X} revoked ({})", reason.name())),
            None => self.select_file(Stage::SelectKey, "SELECT key", jpki::AUTH_KEY),
        }
    }

    fn check_signature(&mut self, response: &ResponseApdu) {
        if response.sw == StatusWord::SECURITY_STATUS_NOT_SATISFIED && self.request.selected == DeviceKind::Iphone {
            return self.reject(Reason::UserNotVerified, "the iPhone refused to sign: Face ID / Touch ID not done");
        }
        if !response.sw.is_success() || response.data.len() != 64 {
            return self.unexpected(response);
        }
        let digest = Sha256::digest(self.challenge);
        let verified = Signature::from_slice(&response.data)
            .ok()
            .zip(self.subject.as_ref())
            .is_some_and(|(signature, subject)| subject.key.verify_prehash(&digest, &signature).is_ok());
        if !verified && !self.mutant(Mutant::SkipSignature) {
            return self.reject(Reason::SignatureInvalid, "the signature over the challenge does not verify");
        }
        self.stage = Stage::AwaitEligibility;
        if let Some(answer) = self.early_eligibility.take() {
            self.on_eligibility(answer);
        }
    }

    /// Feeds the eligibility service's answer.
    pub fn on_eligibility(&mut self, answer: Result<InsuranceRecord, EligibilityError>) {
        if self.stage == Stage::AwaitEarlyEligibility {
            self.early_eligibility = Some(answer);
            return self.check_certificate();
        }
        if self.stage != Stage::AwaitEligibility {
            return;
        }
        let record = match answer {
            Ok(record) => record,
            Err(EligibilityError::NotRegistered) => return self.reject(Reason::NotRegistered, EligibilityError::NotRegistered.to_string()),
            Err(EligibilityError::Service(_)) if self.mutant(Mutant::EligibilityFailOpen) => {
                // The defect: a service error taken as "go ahead", with a record made up.
                InsuranceRecord { person: String::new(), insurer: String::new(), valid_from: time::Date::MIN, valid_until: time::Date::MAX }
            }
            Err(error @ EligibilityError::Service(_)) => return self.reject(Reason::ServiceUnavailable, error.to_string()),
        };
        let today = clock::local_date(self.request.now);
        if today < record.valid_from || today > record.valid_until {
            let detail = format!("insurance valid {} to {}, today is {today}", record.valid_from, record.valid_until);
            return self.reject(Reason::InsuranceExpired, detail);
        }
        let serial = self.subject.as_ref().map_or(0, |subject| subject.serial);
        let verified = Verified {
            device: self.request.selected,
            certificate_serial: format!("{serial:X}"),
            insurer: record.insurer.clone(),
            record,
            consent: self.request.consent,
        };
        self.finish(Outcome::Verified(verified));
    }
}

/// Whether `pin` can be a JPKI user-authentication PIN (public: 4 digits).
pub fn is_jpki_pin(pin: &str) -> bool {
    pin.len() == 4 && pin.bytes().all(|b| b.is_ascii_digit())
}

/// An X.509 time as an instant (whole seconds).
fn x509_instant(time: &x509_cert::time::Time) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(i64::try_from(time.to_unix_duration().as_secs()).ok()?).ok()
}

fn crl_number_of(crl: &CertificateList<x509_cert::certificate::Rfc5280>) -> Option<u64> {
    crl.tbs_cert_list
        .crl_extensions
        .iter()
        .flatten()
        .find(|ext| ext.extn_id.to_string() == OID_CRL_NUMBER)
        .and_then(|ext| der::asn1::Uint::from_der(ext.extn_value.as_bytes()).ok())
        .and_then(|number| serial_to_u64(number.as_bytes()))
}

/// The CRL number of a DER CRL (what a distribution point over HTTP does not announce
/// separately); `None` when it does not parse or has none.
pub fn crl_number(der: &[u8]) -> Option<u64> {
    CertificateList::<x509_cert::certificate::Rfc5280>::from_der(der).ok().as_ref().and_then(crl_number_of)
}

fn public_key(certificate: &Certificate) -> Option<VerifyingKey> {
    let spki = certificate.tbs_certificate().subject_public_key_info();
    VerifyingKey::from_sec1_bytes(spki.subject_public_key.as_bytes()?).ok()
}
