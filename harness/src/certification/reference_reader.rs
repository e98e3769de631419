//! `mynatap reference-reader`: the built-in terminal packaged as a reader program under the
//! adapter contract (docs/certification.md): PC/SC for the card, HTTP for the back ends, one
//! JSON line out. The worked example for vendors.

use std::time::Duration;

use mynatap_drivers::pcsc_transport::{PcscTransport, wait_for_no_card};
use mynatap_sim::backend::{CrlSnapshot, EligibilityError, InsuranceRecord, QualificationValidity, ServiceError};
use mynatap_sim::contract::Contract;
use mynatap_sim::driver::{Backends, run_tap};
use mynatap_sim::pki::card_verifiable::parse_card_encoding;
use mynatap_sim::profile::DeviceKind;
use mynatap_sim::service::DEFAULT_BACKEND_TIMEOUT_MS;
use mynatap_sim::terminal::{CardAuth, Mutant, TapRequest, Terminal, TerminalConfig, crl_number};
use mynatap_sim::transport::{Transport, TransportError};

use crate::certification::adapter::{Verdict, env, parse_consent};
use crate::certification::http_backend::{GetError, get};

/// Where a tap's variables come from: the environment (process mode) or the request line
/// (session mode).
type Vars<'a> = &'a dyn Fn(&str) -> Option<String>;

fn var(vars: Vars<'_>, name: &str) -> Result<String, String> {
    vars(name).ok_or_else(|| format!("{name} is not set (run me through `mynatap certify`)"))
}

/// The back ends over HTTP, fetched afresh on every tap. Every failure is a [`ServiceError`]:
/// the terminal fails closed on it.
#[derive(Debug)]
struct HttpBackends {
    crl_url: String,
    /// How many authorities the harness handed over: with more than one, each CRL is asked for
    /// by the position of its authority (`?ca=K`).
    authorities: usize,
    eligibility_url: String,
    timeout: Duration,
}

impl HttpBackends {
    fn get(&self, url: &str) -> Result<(u16, Vec<u8>), ServiceError> {
        get(url, self.timeout).map_err(|error| match error {
            GetError::TimedOut => ServiceError::TimedOut { ms: self.timeout.as_millis() as u64 },
            GetError::Failed(detail) => ServiceError::Unavailable(detail),
        })
    }
}

impl Backends for HttpBackends {
    fn crl(&self, issuer: usize) -> Result<CrlSnapshot, ServiceError> {
        let url = if self.authorities > 1 { format!("{}?ca={}", self.crl_url, issuer + 1) } else { self.crl_url.clone() };
        match self.get(&url)? {
            (200, der) => Ok(CrlSnapshot { number: crl_number(&der).unwrap_or(0), der: der.into() }),
            (status, _) => Err(ServiceError::Unavailable(format!("HTTP {status}"))),
        }
    }
    fn eligibility(&self, serial: u64) -> Result<InsuranceRecord, EligibilityError> {
        #[derive(serde::Deserialize)]
        struct Record {
            insurer: String,
            valid_from: time::Date,
            valid_until: time::Date,
            #[serde(default)]
            person: String,
            /// 1.2 (a 1.1 harness sends none: valid).
            #[serde(rename = "QualificationValidity", default)]
            validity: Option<String>,
            #[serde(rename = "InsuredPartialContributionRatio", default)]
            ratio: Option<String>,
            /// 1.3.
            #[serde(rename = "Name", default)]
            name: Option<String>,
            #[serde(rename = "NameKana", default)]
            kana: Option<String>,
        }
        let malformed = |why: String| EligibilityError::Service(ServiceError::Malformed(why));
        match self.get(&format!("{}?serial={serial:X}", self.eligibility_url)).map_err(EligibilityError::Service)? {
            (200, body) => {
                let record = serde_json::from_slice::<Record>(&body).map_err(|e| malformed(e.to_string()))?;
                let validity = match record.validity.as_deref() {
                    None => QualificationValidity::Valid,
                    Some(code) => QualificationValidity::from_code(code).ok_or_else(|| malformed(format!("QualificationValidity `{code}` is not 1 to 5")))?,
                };
                let copay_percent = match record.ratio.as_deref() {
                    None => 30,
                    Some(ratio) => ratio.parse().map_err(|_| malformed(format!("InsuredPartialContributionRatio `{ratio}` is not a number")))?,
                };
                Ok(InsuranceRecord {
                    validity,
                    copay_percent,
                    name: record.name,
                    kana: record.kana,
                    ..InsuranceRecord::valid(&record.person, &record.insurer, record.valid_from, record.valid_until)
                })
            }
            (404, _) => Err(EligibilityError::NotRegistered),
            (status, _) => Err(EligibilityError::Service(ServiceError::Unavailable(format!("HTTP {status}")))),
        }
    }
}

/// A seed for the challenge generator that differs on every run of this program: challenges
/// must never repeat across taps, and each tap is a new process.
fn fresh_seed() -> u64 {
    use std::io::Read;
    let mut bytes = [0u8; 8];
    match std::fs::File::open("/dev/urandom").and_then(|mut file| file.read_exact(&mut bytes)) {
        Ok(()) => u64::from_le_bytes(bytes),
        Err(_) => u64::from(std::process::id()) ^ std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64),
    }
}

/// The `retry-after-removal` defect: when the card leaves, connect again and resend, which rule
/// W7 forbids (the patient took the device away; whatever answers next is not that tap).
struct ReconnectOnRemoval {
    reader: String,
    inner: Option<PcscTransport>,
    timeout: Duration,
}

impl Transport for ReconnectOnRemoval {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        let deadline = std::time::Instant::now() + Duration::from_secs(3);
        loop {
            let result = self.inner.as_mut().map_or(Err(TransportError::CardRemoved), |inner| inner.transmit(command));
            match result {
                Err(TransportError::CardRemoved) if std::time::Instant::now() < deadline => {
                    // The old handle goes first: its disconnect resets the card, which would
                    // spoil a handle opened before it.
                    drop(self.inner.take());
                    std::thread::sleep(Duration::from_millis(100));
                    self.inner = PcscTransport::connect(Some(&self.reader), Duration::from_millis(500), self.timeout).ok();
                }
                other => return other,
            }
        }
    }
    fn atr(&mut self) -> Result<Vec<u8>, TransportError> {
        self.inner.as_mut().map_or(Err(TransportError::CardRemoved), Transport::atr)
    }
    fn card_present(&mut self) -> bool {
        self.inner.as_mut().is_some_and(Transport::card_present)
    }
}

/// How long the reader waits for a card left lying to go, and for the tap's card to arrive.
const ARRIVAL_WAIT: Duration = Duration::from_secs(5);

/// This reader sets up its PC/SC contexts on one thread only.
static NO_OTHER_THREAD: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The card's connection, with a second chance (contract 1.3): when the card leaves the field
/// mid-tap and `again` is not zero, the reader waits that long for the patient to hold it again,
/// connects anew and the terminal starts over.
struct HeldAgain {
    reader: String,
    inner: Option<PcscTransport>,
    again: Duration,
    timeout: Duration,
}

impl Transport for HeldAgain {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        let result = self.inner.as_mut().map_or(Err(TransportError::CardRemoved), |inner| inner.transmit(command));
        if matches!(result, Err(TransportError::CardRemoved)) {
            // The handle is dead: never sent anything again.
            drop(self.inner.take());
        }
        result
    }
    fn atr(&mut self) -> Result<Vec<u8>, TransportError> {
        self.inner.as_mut().map_or(Err(TransportError::CardRemoved), Transport::atr)
    }
    fn card_present(&mut self) -> bool {
        self.inner.as_mut().is_some_and(Transport::card_present)
    }
    fn held_again(&mut self) -> bool {
        if self.again.is_zero() || self.inner.is_some() {
            return false;
        }
        // Gone first (pcscd notices at its next poll), then back: a new arrival, a new handle.
        if wait_for_no_card(&self.reader, self.again, &NO_OTHER_THREAD).is_err() {
            return false;
        }
        self.inner = PcscTransport::connect(Some(&self.reader), self.again, self.timeout).ok();
        self.inner.is_some()
    }
}

/// The trusted authorities as DER: every certificate of `MYNATAP_CA_CERTS` (contract 1.3), or
/// the one of `MYNATAP_CA_CERT` from an older harness.
fn anchors(vars: Vars<'_>) -> Result<Vec<Vec<u8>>, String> {
    use der::Encode;
    let Some(path) = vars(env::CA_CERTS) else {
        return Ok(vec![std::fs::read(var(vars, env::CA_CERT)?).map_err(|e| format!("{}: {e}", env::CA_CERT))?]);
    };
    let pem = std::fs::read(&path).map_err(|e| format!("{}: {path}: {e}", env::CA_CERTS))?;
    let chain = x509_cert::Certificate::load_pem_chain(&pem).map_err(|e| format!("{}: {path}: {e}", env::CA_CERTS))?;
    let anchors = chain.iter().map(|certificate| certificate.to_der().map_err(|e| e.to_string())).collect::<Result<Vec<_>, _>>()?;
    if anchors.is_empty() {
        return Err(format!("{}: {path} holds no certificate", env::CA_CERTS));
    }
    Ok(anchors)
}

/// The back ends' URLs: from `MYNATAP_URLS_FILE` (contract 1.3), else the environment (1.1-1.2).
fn backend_urls(vars: Vars<'_>) -> Result<(String, String), String> {
    #[derive(serde::Deserialize)]
    struct Urls {
        crl_url: String,
        eligibility_url: String,
    }
    match vars(env::URLS_FILE) {
        Some(path) => {
            let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {path}: {e}", env::URLS_FILE))?;
            let urls: Urls = serde_json::from_str(&text).map_err(|e| format!("{}: {path}: {e}", env::URLS_FILE))?;
            Ok((urls.crl_url, urls.eligibility_url))
        }
        None => Ok((var(vars, env::CRL_URL)?, var(vars, env::ELIGIBILITY_URL)?)),
    }
}

/// Runs one tap as the contract describes, told by the environment (process mode), and returns
/// the verdict line's content.
pub fn run(mutant: Option<Mutant>) -> Result<Verdict, String> {
    run_with(&|name| std::env::var(name).ok(), mutant, &mut None)
}

/// Session mode: one request line in on stdin (a JSON object of the tap's variables), one
/// verdict line out on stdout, until stdin ends. A tap it cannot play ends the session with the
/// error (the harness starts it again for the next tap).
pub fn serve_session(mutant: Option<Mutant>) -> Result<(), String> {
    use std::io::{BufRead, Write};
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout();
    // The `stale-handle` defect keeps its connection from one tap to the next.
    let mut kept = None;
    for line in stdin.lock().lines() {
        let line = line.map_err(|e| format!("cannot read the request: {e}"))?;
        if line.trim().is_empty() {
            continue;
        }
        let request: std::collections::HashMap<String, serde_json::Value> = serde_json::from_str(&line).map_err(|e| format!("not a request line ({e})"))?;
        let vars = |name: &str| request.get(name).and_then(|value| value.as_str().map(str::to_owned));
        let verdict = run_with(&vars, mutant, &mut kept)?;
        writeln!(stdout, "{}", verdict.to_line()).and_then(|()| stdout.flush()).map_err(|e| format!("cannot answer: {e}"))?;
    }
    Ok(())
}

fn run_with(vars: Vars<'_>, mutant: Option<Mutant>, kept: &mut Option<PcscTransport>) -> Result<Verdict, String> {
    let timeout_ms: u64 = var(vars, env::TIMEOUT_MS)?.parse().map_err(|_| format!("{} is not a number", env::TIMEOUT_MS))?;
    // Older harnesses did not pass it: the terminal's default then.
    let backend_timeout_ms: u64 = match vars(env::BACKEND_TIMEOUT_MS) {
        Some(text) => text.parse().map_err(|_| format!("{} is not a number", env::BACKEND_TIMEOUT_MS))?,
        None => DEFAULT_BACKEND_TIMEOUT_MS,
    };
    let now = time::OffsetDateTime::parse(&var(vars, env::NOW)?, &time::format_description::well_known::Rfc3339).map_err(|e| format!("{}: {e}", env::NOW))?;
    let selected: DeviceKind = var(vars, env::SELECTED)?.parse()?;
    let smartphone = var(vars, env::PHONE_SUPPORT)? == "true";
    let anchors = anchors(vars)?;
    let (crl_url, eligibility_url) = backend_urls(vars)?;
    let backends = HttpBackends { crl_url, authorities: anchors.len(), eligibility_url, timeout: Duration::from_millis(backend_timeout_ms) };
    let config = TerminalConfig { id: "reference-reader".into(), smartphone, timeout_ms, backend_timeout_ms };
    // The card-surface CA as the harness hands it; without it no card surface can be trusted.
    let surface_ca = match vars(env::SURFACE_CA) {
        Some(path) => {
            let bytes = std::fs::read(&path).map_err(|e| format!("{}: {path}: {e}", env::SURFACE_CA))?;
            Some(parse_card_encoding(&bytes).ok_or_else(|| format!("{}: {path} is not an RSA-2048 key in the card's 90/91 encoding", env::SURFACE_CA))?)
        }
        None => None,
    };
    let anchors: Vec<&[u8]> = anchors.iter().map(Vec::as_slice).collect();
    let mut terminal = Terminal::with_anchors(config, &anchors, fresh_seed()).map_err(|e| e.to_string())?.with_mutant(mutant).with_surface_ca(surface_ca);
    let request = TapRequest {
        selected,
        pin: vars(env::PIN).unwrap_or_default(),
        consent: parse_consent(&vars(env::CONSENT).unwrap_or_default()),
        now,
        auth: match vars(env::CARD_AUTH).as_deref() {
            Some("face") => {
                CardAuth::Face { surface: vars(env::CARD_SURFACE).unwrap_or_default(), face_match: vars(env::FACE_MATCH).as_deref() == Some("true") }
            }
            _ => CardAuth::Pin,
        },
        // A harness older than 1.2 sends no contract: its rules (no grace) then.
        contract: vars(env::CONTRACT).and_then(|text| Contract::parse(&text)).unwrap_or(Contract::V1_1),
    };
    let tap = terminal.start_tap(request);
    if !smartphone && selected != DeviceKind::Card && mutant != Some(Mutant::IgnorePhoneSupport) {
        // FLOW-1: the phone path is not offered; the card is never touched.
        return Ok(Verdict::NotOffered);
    }
    let reader = var(vars, env::READER)?;
    let timeout = Duration::from_millis(timeout_ms);
    // Contract 1.3: the card may arrive after the request, and come back after a removal.
    let after_request = vars(env::CARD_ARRIVAL).as_deref() == Some("after_request");
    let again = Duration::from_millis(vars(env::CARD_AGAIN_MS).and_then(|text| text.parse().ok()).unwrap_or(0));
    // The card is the reader's alone during its tap (contract 1.3, rule W11); the defect lets any
    // program on the machine in beside it.
    let connect = if mutant == Some(Mutant::SharedConnect) { PcscTransport::connect_shared } else { PcscTransport::connect };
    let transport = match kept.take() {
        Some(stale) if mutant == Some(Mutant::StaleHandle) => stale,
        _ => {
            let wait = match mutant {
                // Does not wait for the card: whatever is (not) in the field at the request.
                Some(Mutant::ReadsBeforeArrival) => Duration::ZERO,
                _ if after_request => ARRIVAL_WAIT,
                _ => Duration::from_secs(2),
            };
            if after_request && mutant != Some(Mutant::ReadsBeforeArrival) && mutant != Some(Mutant::LeftInFieldAsNewPatient) {
                // A card in the field at the request is the last patient's, left lying: wait for
                // it to go; this tap's card is the next to arrive.
                wait_for_no_card(&reader, ARRIVAL_WAIT, &NO_OTHER_THREAD).map_err(|e| e.to_string())?;
            }
            connect(Some(&reader), wait, timeout).map_err(|e| e.to_string())?
        }
    };
    let outcome = if mutant == Some(Mutant::RetryAfterRemoval) {
        run_tap(tap, &mut ReconnectOnRemoval { reader, inner: Some(transport), timeout }, &backends, None)
    } else if mutant == Some(Mutant::StaleHandle) {
        let mut transport = transport;
        let outcome = run_tap(tap, &mut transport, &backends, None);
        *kept = Some(transport);
        outcome
    } else {
        run_tap(tap, &mut HeldAgain { reader, inner: Some(transport), again, timeout }, &backends, None)
    };
    Ok(report_defects(Verdict::from_outcome(&outcome), mutant))
}

/// What the reporting mutants do to the verdict on its way to the clinic's screen.
fn report_defects(verdict: Verdict, mutant: Option<Mutant>) -> Verdict {
    match (verdict, mutant) {
        (Verdict::Verified { insurer, grace, expiring_soon, copay, name, kana, .. }, Some(Mutant::DropConsent)) => {
            Verdict::Verified { insurer, grace, expiring_soon, copay, name, kana, consent: None }
        }
        (Verdict::Verified { insurer, grace, expiring_soon, copay, name, kana, consent }, Some(Mutant::ShiftJisName)) => Verdict::Verified {
            insurer,
            grace,
            expiring_soon,
            copay,
            name: name.map(|n| through_shift_jis(&n)),
            kana: kana.map(|k| through_shift_jis(&k)),
            consent,
        },
        (verdict, _) => verdict,
    }
}

/// `text` encoded in Shift_JIS (Windows-31J, as clinic systems use it) and decoded again: what
/// it cannot hold becomes ●, as on the screens the survey's clinics reported.
fn through_shift_jis(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        let mut buffer = [0u8; 4];
        let (_, _, unmappable) = encoding_rs::SHIFT_JIS.encode(c.encode_utf8(&mut buffer));
        out.push(if unmappable { '●' } else { c });
    }
    out
}
