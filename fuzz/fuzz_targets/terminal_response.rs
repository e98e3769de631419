//! The terminal fed arbitrary responses (each prefixed by a 2-byte length): it must end every tap
//! with an outcome, never panic, never read past its limits.
#![no_main]
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use mynatap_sim::backend::{CrlSnapshot, InsuranceRecord};
use mynatap_sim::pki::CertificateAuthority;
use mynatap_sim::profile::DeviceKind;
use mynatap_sim::terminal::{Action, CardAuth, Consent, TapRequest, Terminal, TerminalConfig};
use time::macros::{date, datetime};

static CA: LazyLock<(Vec<u8>, CrlSnapshot)> = LazyLock::new(|| {
    let ca = CertificateAuthority::trusted(1, mynatap_sim::pki::KeyAlgorithm::Rsa2048).expect("ca");
    let now = datetime!(2026-04-01 00:00 UTC);
    let crl = ca.issue_crl(1, now, now + time::Duration::minutes(1), &[]).expect("crl");
    (ca.certificate_der().to_vec(), CrlSnapshot { number: 1, der: crl.into() })
});

fuzz_target!(|data: &[u8]| {
    let Some((&selector, mut rest)) = data.split_first() else { return };
    let (anchor, crl) = &*CA;
    let config = TerminalConfig { id: "fuzz".into(), smartphone: selector & 0x40 == 0, timeout_ms: 500, backend_timeout_ms: 2000 };
    let mut terminal = Terminal::new(config, anchor, 1).expect("terminal");
    let selected = [DeviceKind::Card, DeviceKind::Android, DeviceKind::Iphone][usize::from(selector % 3)];
    // Bit 5 takes the card's face path, so its card-surface parsing meets hostile bytes too.
    let auth = if selector & 0x20 != 0 { CardAuth::Face { surface: "90051220300000".into(), face_match: true } } else { CardAuth::Pin };
    let request = TapRequest { selected, pin: "1234".into(), consent: Consent::default(), now: datetime!(2026-04-01 09:00 +09:00), auth, contract: mynatap_sim::contract::Contract::LATEST };
    let mut tap = terminal.start_tap(request);
    for _ in 0..200 {
        match tap.next_action() {
            Action::Done(_) => return,
            Action::FetchCrl { .. } => tap.on_crl(Ok(crl.clone())),
            Action::QueryEligibility { .. } => tap.on_eligibility(Ok(InsuranceRecord::valid("p", "1", date!(2000 - 01 - 01), date!(2099 - 01 - 01)))),
            Action::Transmit(_) => match next_chunk(rest) {
                Some((response, tail)) => {
                    rest = tail;
                    tap.on_response(Ok(response));
                }
                None => tap.on_response(Err(mynatap_sim::transport::TransportError::CardRemoved)),
            },
        }
    }
    panic!("a tap that never ends");
});

fn next_chunk(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let (header, rest) = data.split_first_chunk::<2>()?;
    let len = usize::from(u16::from_be_bytes(*header)).min(rest.len());
    Some(rest.split_at(len))
}
