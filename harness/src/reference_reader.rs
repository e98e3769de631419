//! `mynatap reference-reader`: the built-in terminal packaged as a reader program under the
//! adapter contract (docs/certification.md): PC/SC for the card, HTTP for the back ends, one
//! JSON line out. The worked example for vendors.

use std::time::Duration;

use mynatap_sim::backend::{CrlSnapshot, EligibilityError, InsuranceRecord};
use mynatap_sim::driver::{run_tap, Backends};
use mynatap_sim::pcsc_transport::PcscTransport;
use mynatap_sim::profile::DeviceKind;
use mynatap_sim::terminal::{crl_number, TapRequest, Terminal, TerminalConfig};

use crate::adapter::{env, parse_consent, Verdict};
use crate::http_backend::get;

fn var(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set (run me through `mynatap certify`)"))
}

/// The back ends over HTTP, fetched afresh on every tap.
#[derive(Debug)]
struct HttpBackends {
    crl_url: String,
    eligibility_url: String,
    timeout: Duration,
}

impl Backends for HttpBackends {
    fn crl(&self) -> CrlSnapshot {
        match get(&self.crl_url, self.timeout) {
            Ok((200, der)) => CrlSnapshot { number: crl_number(&der).unwrap_or(0), der: der.into() },
            // An unusable CRL: the terminal then cannot confirm revocation status and rejects.
            _ => CrlSnapshot { number: 0, der: Vec::new().into() },
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
        }
        match get(&format!("{}?serial={serial:X}", self.eligibility_url), self.timeout) {
            Ok((200, body)) => serde_json::from_slice::<Record>(&body)
                .map(|r| InsuranceRecord { person: r.person, insurer: r.insurer, valid_from: r.valid_from, valid_until: r.valid_until })
                .map_err(|_| EligibilityError::NotRegistered),
            _ => Err(EligibilityError::NotRegistered),
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

/// Runs one tap as the contract describes and returns the verdict line's content.
pub fn run(mutant: Option<mynatap_sim::terminal::Mutant>) -> Result<Verdict, String> {
    let timeout_ms: u64 = var(env::TIMEOUT_MS)?.parse().map_err(|_| format!("{} is not a number", env::TIMEOUT_MS))?;
    let now = time::OffsetDateTime::parse(&var(env::NOW)?, &time::format_description::well_known::Rfc3339).map_err(|e| format!("{}: {e}", env::NOW))?;
    let selected: DeviceKind = var(env::SELECTED)?.parse()?;
    let smartphone = var(env::PHONE_SUPPORT)? == "true";
    let anchor = std::fs::read(var(env::CA_CERT)?).map_err(|e| format!("{}: {e}", env::CA_CERT))?;
    let backends = HttpBackends { crl_url: var(env::CRL_URL)?, eligibility_url: var(env::ELIGIBILITY_URL)?, timeout: Duration::from_millis(timeout_ms.max(1000)) };
    let config = TerminalConfig { id: "reference-reader".into(), smartphone, timeout_ms };
    let mut terminal = Terminal::new(config, &anchor, fresh_seed()).map_err(|e| e.to_string())?.with_mutant(mutant);
    let request = TapRequest {
        selected,
        pin: std::env::var(env::PIN).unwrap_or_default(),
        consent: parse_consent(&std::env::var(env::CONSENT).unwrap_or_default()),
        now,
    };
    let tap = terminal.start_tap(request);
    if !smartphone && selected != DeviceKind::Card && mutant != Some(mynatap_sim::terminal::Mutant::IgnorePhoneSupport) {
        // FLOW-1: the phone path is not offered; the card is never touched.
        return Ok(Verdict::NotOffered);
    }
    let mut transport = PcscTransport::connect(Some(&var(env::READER)?), Duration::from_secs(2), Duration::from_millis(timeout_ms))
        .map_err(|e| e.to_string())?;
    let outcome = run_tap(tap, &mut transport, &backends, None);
    Ok(Verdict::from_outcome(&outcome))
}
