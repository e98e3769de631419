//! A terminal tap driven by hand, as quinn-proto's docs drive a connection: the sans-IO
//! [`Tap`](mynatap_sim::terminal::Tap) says what it needs next (send an APDU, fetch the CRL, ask
//! the eligibility service), the caller does it and feeds the answer back. Here the card answers
//! in memory and the back ends are a CRL and a record made on the spot; in a real reader they are
//! PC/SC and HTTP, and the tap is the same.
//!
//! `cargo run -p mynatap-sim --example tap_by_hand`

use mynatap_sim::backend::{CrlSnapshot, InsuranceRecord};
use mynatap_sim::contract::Contract;
use mynatap_sim::credential::demo_card;
use mynatap_sim::pki::{CertificateAuthority, KeyAlgorithm};
use mynatap_sim::profile::{DeviceKind, Profile};
use mynatap_sim::terminal::{Action, CardAuth, Consent, Outcome, TapRequest, Terminal, TerminalConfig};
use time::Duration;
use time::macros::{date, datetime};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seed = 1;
    // Time is passed in, never read: the same inputs give the same tap on every run.
    let now = datetime!(2026-04-01 09:00 +09:00);
    // The demo card's certificates come from the trusted test CA of its seed.
    let mut card = demo_card(Profile::builtin(DeviceKind::Card), seed, "1234")?;
    let ca = CertificateAuthority::trusted(seed, KeyAlgorithm::Rsa2048)?;
    let config = TerminalConfig { id: "clinic".into(), smartphone: true, timeout_ms: 500, backend_timeout_ms: 2000 };
    let mut terminal = Terminal::new(config, ca.certificate_der(), seed)?;

    // FLOW-1..3: the patient chose the physical card and typed the PIN.
    let request =
        TapRequest { selected: DeviceKind::Card, pin: "1234".into(), consent: Consent::default(), now, auth: CardAuth::Pin, contract: Contract::LATEST };
    let mut tap = terminal.start_tap(request);
    let outcome = loop {
        match tap.next_action() {
            Action::Transmit(command) => {
                let response = card.process_bytes(command);
                println!("APDU  > {}", hex::encode_upper(command));
                println!("      < {}", hex::encode_upper(&response));
                tap.on_response(Ok(&response));
            }
            Action::FetchCrl { .. } => {
                // An empty CRL, valid for a day, signed by the CA.
                let der = ca.issue_crl(1, now, now + Duration::days(1), &[])?;
                println!("CRL   fetched ({} bytes)", der.len());
                tap.on_crl(Ok(CrlSnapshot { number: 1, der: der.into() }));
            }
            Action::QueryEligibility { serial } => {
                println!("ELIG  certificate serial {serial:X}");
                tap.on_eligibility(Ok(InsuranceRecord::valid("demo", "06132013", date!(2025 - 04 - 01), date!(2027 - 03 - 31))));
            }
            Action::Done(outcome) => break outcome.clone(),
        }
    };
    match &outcome {
        Outcome::Verified(verified) => println!("verified: insurer {}, copay {}%", verified.insurer, verified.copay()),
        other => println!("{}: {:?}", other.name(), other.reason()),
    }
    if !matches!(outcome, Outcome::Verified(_)) {
        return Err(format!("the demo tap should verify, got {outcome:?}").into());
    }
    Ok(())
}
