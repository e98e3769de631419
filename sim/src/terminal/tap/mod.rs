//! One patient flow (FLOW-1..FLOW-5) as a sans-IO state machine: the stages, what each sends,
//! and the checks on what comes back.

use std::fmt;

use sha2::{Digest, Sha256};

use super::{Action, CardAuth, Outcome, Reason, TapRequest, Terminal, Verified, jpki};
use crate::apdu::{CommandApdu, ResponseApdu, StatusWord};
use crate::clock;
use crate::messages::answers::{EligibilityError, InsuranceRecord, QualificationValidity};
use crate::pki::PublicKey;
use crate::profile::DeviceKind;
use crate::transport::TransportError;

mod certificate;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
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
    // The face path (face.rs), and the `read-my-number` mutant's detour.
    SelectCardInfo,
    SelectMyNumber,
    ReadMyNumber,
    SelectCardSurface,
    SelectNumberB,
    VerifyNumberB,
    SelectSurfaceCertificate,
    ReadSurfaceCertificate,
    SelectEntries,
    ReadEntries,
    ChallengeCard,
    ReselectJpki,
    Done,
}

/// What the terminal learned from the certificate.
#[derive(Debug)]
struct Subject {
    serial: u64,
    key: PublicKey,
}

/// One patient flow in progress.
pub struct Tap<'t> {
    terminal: &'t mut Terminal,
    pub(super) request: TapRequest,
    pub(super) stage: Stage,
    /// The card-surface entries as read so far (face path).
    pub(super) entries: Vec<u8>,
    /// The card-surface application's certificate `00 04` as read so far (face path).
    pub(super) surface_certificate: Vec<u8>,
    /// The card's own key from the verified card face (face path): what the challenge answers to.
    pub(super) card_key: Option<rsa::PublicKey>,
    command: Vec<u8>,
    command_name: &'static str,
    certificate: Vec<u8>,
    certificate_len: usize,
    subject: Option<Subject>,
    challenge: [u8; 32],
    /// The card left the field in the middle of the flow (not a timeout: the transport said so).
    left_field: bool,
    outcome: Option<Outcome>,
    /// `query-before-checks`: the eligibility answer obtained before any check.
    early_eligibility: Option<Result<InsuranceRecord, EligibilityError>>,
    retried_pin: bool,
    /// The device the token file named (FLOW-2).
    device: DeviceKind,
    /// The certificate expired and the physical card's grace covers today (contract 1.2).
    grace: bool,
    /// The certificate is valid and expires within three months.
    expiring_soon: bool,
    /// The anchor whose key verified the certificate: its CRL is the one to consult.
    issuer: usize,
}

impl fmt::Debug for Tap<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tap").field("stage", &self.stage).field("outcome", &self.outcome).finish()
    }
}

impl<'t> Tap<'t> {
    /// Begins a flow on `terminal` with a fresh `challenge`.
    pub(super) fn start(terminal: &'t mut Terminal, request: TapRequest, challenge: [u8; 32]) -> Self {
        let mut tap = Tap {
            terminal,
            request,
            stage: Stage::Done,
            entries: Vec::new(),
            surface_certificate: Vec::new(),
            card_key: None,
            command: Vec::with_capacity(64),
            command_name: "",
            certificate: Vec::new(),
            certificate_len: 0,
            subject: None,
            challenge,
            left_field: false,
            outcome: None,
            early_eligibility: None,
            retried_pin: false,
            device: DeviceKind::Card,
            grace: false,
            expiring_soon: false,
            issuer: 0,
        };
        tap.begin();
        tap
    }

    /// The terminal's trusted card-surface CA key (face path).
    pub(super) fn surface_ca(&self) -> Option<&rsa::PublicKey> {
        self.terminal.surface_ca.as_ref()
    }

    /// The fresh challenge of this tap.
    pub fn challenge(&self) -> &[u8; 32] {
        &self.challenge
    }

    /// What the driver must do next (the sans-IO seam: the tap never does I/O itself).
    pub fn next_action(&self) -> Action<'_> {
        match (&self.outcome, self.stage) {
            (Some(outcome), _) => Action::Done(outcome),
            (None, Stage::AwaitCrl) => Action::FetchCrl { issuer: self.crl_issuer() },
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

    /// The tap ended because the card left the field (the transport said so).
    pub fn card_left(&self) -> bool {
        self.left_field
    }

    /// The same request again from the start, with a fresh challenge: the patient held the card
    /// again after it left the field (contract 1.3, `held_again`).
    pub fn start_over(self) -> Tap<'t> {
        let Tap { terminal, request, .. } = self;
        terminal.start_tap(request)
    }

    #[cfg(feature = "mutants")]
    pub(super) fn mutant(&self, mutant: super::Mutant) -> bool {
        self.terminal.mutant == Some(mutant)
    }

    fn begin(&mut self) {
        if !self.terminal.config.smartphone && self.request.selected != DeviceKind::Card && !mutant!(self, IgnorePhoneSupport) {
            return self.finish(Outcome::NotOffered);
        }
        let select = CommandApdu::new(0x00, 0xA4, 0x04, 0x0C).with_data(jpki::AID.to_vec());
        self.send(Stage::SelectJpki, "SELECT JPKI", &select);
    }

    pub(super) fn send(&mut self, stage: Stage, name: &'static str, command: &CommandApdu) {
        self.command.clear();
        match command.encode_into(&mut self.command) {
            Ok(()) => {
                self.stage = stage;
                self.command_name = name;
            }
            Err(error) => self.finish(Outcome::rejected(Reason::ProtocolError, format!("cannot encode {name}: {error}"))),
        }
    }

    pub(super) fn select_file(&mut self, stage: Stage, name: &'static str, fid: [u8; 2]) {
        self.send(stage, name, &CommandApdu::new(0x00, 0xA4, 0x02, 0x0C).with_data(fid.to_vec()));
    }

    pub(super) fn read(&mut self, stage: Stage, name: &'static str, offset: usize, ne: usize) {
        let offset = u16::try_from(offset).unwrap_or(u16::MAX).to_be_bytes();
        self.send(stage, name, &CommandApdu::new(0x00, 0xB0, offset[0], offset[1]).with_ne(ne.clamp(1, 256) as u32));
    }

    fn finish(&mut self, outcome: Outcome) {
        self.stage = Stage::Done;
        self.outcome = Some(outcome);
    }

    pub(super) fn reject(&mut self, reason: Reason, detail: impl Into<String>) {
        self.finish(Outcome::rejected(reason, detail));
    }

    pub(super) fn unexpected(&mut self, response: &ResponseApdu) {
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
            Err(TransportError::CardRemoved) => {
                self.left_field = true;
                return self.reject(Reason::CardRemoved, format!("card left the field during {}", self.command_name));
            }
            Err(TransportError::Timeout { ms }) => {
                return self.reject(Reason::CardRemoved, format!("no response to {} within {ms} ms", self.command_name));
            }
            Err(other) => return self.reject(Reason::ProtocolError, format!("{} failed: {other}", self.command_name)),
        };
        // vpcd answers an empty response when the card dies mid-command: the card is gone.
        let Ok(response) = ResponseApdu::decode(bytes) else {
            self.left_field = true;
            return self.reject(Reason::CardRemoved, format!("empty response to {}", self.command_name));
        };
        self.advance(&response);
    }

    fn advance(&mut self, response: &ResponseApdu) {
        let ok = response.sw.is_success();
        match self.stage {
            Stage::SelectCardInfo
            | Stage::SelectMyNumber
            | Stage::ReadMyNumber
            | Stage::SelectCardSurface
            | Stage::SelectNumberB
            | Stage::VerifyNumberB
            | Stage::SelectSurfaceCertificate
            | Stage::ReadSurfaceCertificate
            | Stage::SelectEntries
            | Stage::ReadEntries
            | Stage::ChallengeCard
            | Stage::ReselectJpki => self.advance_face(response),
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
            Stage::Verify if mutant!(self, RetryPin) && !self.retried_pin && response.sw.retries().is_some_and(|left| left > 0) => {
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
                // RSA: a DigestInfo the card pads (as on the physical card); ECDSA: the digest.
                let data = self.subject.as_ref().map_or_else(|| digest.to_vec(), |subject| subject.key.algorithm().sign_command_data(&digest));
                let sign = CommandApdu::new(0x80, 0x2A, 0x00, 0x80).with_data(data).with_ne(256);
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
        if device != self.request.selected && !mutant!(self, IgnoreOsChoice) {
            return self.reject(Reason::WrongDeviceType, format!("patient chose {} but the device is {device} ({label})", self.request.selected));
        }
        self.device = device;
        match device {
            DeviceKind::Iphone if mutant!(self, VerifyPinOnIphone) => self.select_file(Stage::SelectPin, "SELECT PIN", jpki::AUTH_PIN),
            DeviceKind::Iphone => self.select_file(Stage::SelectCertificate, "SELECT certificate", jpki::AUTH_CERT),
            DeviceKind::Card => self.begin_card_auth(),
            DeviceKind::Android => self.begin_pin(),
        }
    }

    /// FLOW-3 with the PIN typed on the terminal (card and Android).
    pub(super) fn begin_pin(&mut self) {
        if !is_jpki_pin(&self.request.pin) {
            // A JPKI user-authentication PIN is 4 digits: anything else cannot be right, so the
            // terminal says so without sending it (no try spent, no counter probe).
            return self.reject(Reason::WrongPin, "the PIN typed is not 4 digits; nothing was sent to the device");
        }
        self.select_file(Stage::SelectPin, "SELECT PIN", jpki::AUTH_PIN);
    }

    /// The certificate is current and not on the CRL: the challenge (PIN paths and phones), or
    /// straight to eligibility where the face already proved the holder (no signature is made).
    fn after_revocation_check(&mut self) {
        if !matches!(self.request.auth, CardAuth::Face { .. }) || self.request.selected != DeviceKind::Card {
            return self.select_file(Stage::SelectKey, "SELECT key", jpki::AUTH_KEY);
        }
        self.stage = Stage::AwaitEligibility;
        if let Some(answer) = self.early_eligibility.take() {
            self.on_eligibility(answer);
        }
    }

    fn check_signature(&mut self, response: &ResponseApdu) {
        if response.sw == StatusWord::SECURITY_STATUS_NOT_SATISFIED && self.request.selected == DeviceKind::Iphone {
            return self.reject(Reason::UserNotVerified, "the iPhone refused to sign: Face ID / Touch ID not done");
        }
        let expected_len = self.subject.as_ref().map(|subject| subject.key.algorithm().signature_len());
        if !response.sw.is_success() || Some(response.data.len()) != expected_len {
            return self.unexpected(response);
        }
        let digest: [u8; 32] = Sha256::digest(self.challenge).into();
        let verified = self.subject.as_ref().is_some_and(|subject| subject.key.verify_challenge(&digest, &response.data));
        if !verified && !mutant!(self, SkipSignature) {
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
            Err(EligibilityError::Service(_)) if mutant!(self, EligibilityFailOpen) => {
                // The defect: a service error taken as "go ahead", with a record made up.
                InsuranceRecord::valid("", "", time::Date::MIN, time::Date::MAX)
            }
            Err(error @ EligibilityError::Service(_)) => return self.reject(Reason::ServiceUnavailable, error.to_string()),
        };
        let code = record.validity.code();
        match record.validity {
            QualificationValidity::Valid => {}
            QualificationValidity::Invalid => {
                return self.reject(Reason::InsuranceExpired, format!("the qualification is invalid (QualificationValidity {code})"));
            }
            QualificationValidity::Superseded => {
                return self.reject(
                    Reason::NewerQualification,
                    format!("this qualification is invalid and a newer one exists (QualificationValidity {code}): ask for the new insurance"),
                );
            }
            QualificationValidity::None if mutant!(self, NoQualificationAsUnregistered) => {
                return self.reject(Reason::NotRegistered, "no qualification taken as no registration");
            }
            QualificationValidity::None => {
                return self.reject(
                    Reason::NoQualification,
                    format!("no qualification on record (QualificationValidity {code}): the insurer's data may not have arrived yet"),
                );
            }
            QualificationValidity::Multiple => return self.reject(Reason::MultipleRecords, format!("several records match (QualificationValidity {code})")),
        }
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
            // During the grace the consent-based sharing is not available: nothing is recorded.
            consent: if self.grace { super::Consent::default() } else { self.request.consent },
            grace: self.grace,
            expiring_soon: self.expiring_soon,
        };
        self.finish(Outcome::Verified(verified));
    }
}

/// Whether `pin` can be a JPKI user-authentication PIN (public: 4 digits).
pub fn is_jpki_pin(pin: &str) -> bool {
    pin.len() == 4 && pin.bytes().all(|b| b.is_ascii_digit())
}
