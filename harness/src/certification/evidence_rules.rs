//! The evidence rules of certification (docs/certification.md): what a reader program's verdict
//! must rest on, found in that tap's own transcript and re-checked by the harness. The wire
//! rules forbid; these require: a `verified` line stands only when the tap shows the whole
//! certificate read and chaining to the CA, a signature over fresh data that verifies under its
//! key (or, on the face path, the card surface checked), a CRL fetched and the eligibility
//! service asked about that certificate's serial. A rejection needs what justifies its reason.

use der::Decode;
use mynatap_sim::contract::Contract;
use mynatap_sim::driver::SeenApdu;
use mynatap_sim::pki::card_verifiable::parse_card_encoding;
use mynatap_sim::pki::{PublicKey, serial_to_u64};
use mynatap_sim::service::ServiceKind;
use mynatap_sim::terminal::{Outcome, Reason, card_surface, jpki};
use x509_cert::Certificate;

use super::wire::TapRecord;
use super::wire::{FileRead, Selected, der_length, targets};
use crate::play::{RuleId, Violation};

/// Rule names, as reports print them.
pub mod rules {
    use crate::play::RuleId;

    /// E1: the authentication certificate was read whole.
    pub const CERTIFICATE_READ: RuleId = RuleId::E1;
    /// E2: the certificate read chains to the trusted CA.
    pub const CERTIFICATE_CHAINS: RuleId = RuleId::E2;
    /// E3: the device's signature over a challenge of the tap verifies.
    pub const SIGNATURE_VERIFIES: RuleId = RuleId::E3;
    /// E4: the CRL was fetched during the tap.
    pub const CRL_FETCHED: RuleId = RuleId::E4;
    /// E5: eligibility was asked for the certificate read.
    pub const ELIGIBILITY_ASKED: RuleId = RuleId::E5;
    /// E6: a PIN verdict came from the card's VERIFY answer.
    pub const CARD_ANSWERED_PIN: RuleId = RuleId::E6;
    /// E7: the device type was read from the token file.
    pub const TOKEN_READ: RuleId = RuleId::E7;
    /// E8: a user-verification refusal came from the phone.
    pub const PHONE_REFUSED: RuleId = RuleId::E8;
    /// E9: the card face was read after number B was accepted.
    pub const CARD_FACE_READ: RuleId = RuleId::E9;
    /// E10: the card-surface records were checked.
    pub const CARD_SURFACE_CHECKED: RuleId = RuleId::E10;
    /// E11: a failing service was actually asked.
    pub const FAILING_SERVICE_ASKED: RuleId = RuleId::E11;
}

/// What the tap's transcript proves, as the harness finds it.
struct Shown<'a> {
    tap: &'a TapRecord<'a>,
    targets: Vec<Selected>,
    /// The authentication certificate, when read whole: its bytes, or why not.
    certificate: Result<Certificate, String>,
    /// Every byte of the certificate's DER was read, whether or not RFC 5280's profile decodes it
    /// (a serial of 22 octets is a certificate all the same, and `untrusted_certificate`).
    read_whole: bool,
}

impl<'a> Shown<'a> {
    fn of(tap: &'a TapRecord<'a>) -> Self {
        let targets = targets(tap.seen);
        let read = FileRead::of(tap.seen, &targets, Selected::Jpki(jpki::AUTH_CERT));
        let start = read.leading();
        let read_whole = read.any() && der_length(start).is_some_and(|total| start.len() >= total);
        let certificate = if !read.any() {
            Err("no READ BINARY of the authentication certificate (JPKI 00 0A) was answered".to_owned())
        } else {
            match der_length(start) {
                Some(total) if start.len() >= total => {
                    Certificate::from_der(start.get(..total).unwrap_or_default()).map_err(|e| format!("the certificate bytes read do not parse: {e}"))
                }
                Some(total) => Err(format!("{} of the certificate's {total} bytes were read from its start", start.len())),
                None => Err(format!("{} bytes read from the certificate's start: not a whole DER header", start.len())),
            }
        };
        Self { tap, targets, certificate, read_whole }
    }

    fn commands(&self) -> impl Iterator<Item = (&'a SeenApdu, Selected)> + '_ {
        self.tap.seen.iter().zip(self.targets.iter().copied())
    }

    fn serial(&self) -> Option<u64> {
        self.certificate.as_ref().ok().and_then(|c| serial_to_u64(c.tbs_certificate().serial_number().as_bytes()))
    }

    fn key(&self) -> Option<PublicKey> {
        self.certificate.as_ref().ok().and_then(|c| PublicKey::from_spki(c.tbs_certificate().subject_public_key_info()))
    }

    /// The sign commands sent to `application` and the card's answers: (data, answer).
    fn signs(&self, to_card_surface: bool) -> Vec<(Vec<u8>, &'a [u8])> {
        self.commands()
            .filter(|(apdu, target)| {
                apdu.command.get(1) == Some(&0x2A)
                    && matches!(target, Selected::CardSurface(_)) == to_card_surface
                    && matches!(target, Selected::Jpki(_) | Selected::CardSurface(_))
            })
            .filter_map(|(apdu, _)| {
                let data = mynatap_sim::apdu::CommandApdu::decode(&apdu.command).ok()?.data;
                Some((data, apdu.response.as_deref()?))
            })
            .collect()
    }

    fn requests(&self, path: &str) -> impl Iterator<Item = &'a super::http_backend::HttpRequest> + 'a {
        let path = path.to_owned();
        self.tap.http.iter().filter(move |request| request.path == path)
    }

    fn answered(&self, target: Selected, ins: u8) -> Vec<&'a [u8]> {
        self.commands().filter(|(apdu, at)| *at == target && apdu.command.get(1) == Some(&ins)).filter_map(|(apdu, _)| apdu.response.as_deref()).collect()
    }
}

fn sw(answer: &[u8]) -> [u8; 2] {
    match answer {
        [.., a, b] => [*a, *b],
        _ => [0, 0],
    }
}

/// The missing evidence of one tap, as violations (none when the verdict rests on the transcript).
/// `claimed` is the reader's verdict; `ca` the world's trusted CA key.
pub fn require(tap: &TapRecord<'_>, claimed: &Outcome, cas: &[PublicKey]) -> Vec<Violation> {
    let shown = Shown::of(tap);
    let mut missing = Vec::new();
    let mut need = |rule: RuleId, evidence: String| missing.push(Violation { rule, evidence });
    let verdict = match claimed {
        Outcome::Verified(_) => "verified".to_owned(),
        Outcome::Rejected { reason, .. } => reason.as_str().to_owned(),
        Outcome::NotOffered => return missing,
    };
    let certificate_read = |need: &mut dyn FnMut(RuleId, String)| {
        if let Err(why) = &shown.certificate {
            need(rules::CERTIFICATE_READ, format!("{verdict} without the whole certificate read from the device: {why}"));
        }
    };
    let crl_fetched = |need: &mut dyn FnMut(RuleId, String)| {
        if !shown.requests("/crl").any(|r| r.status == 200) {
            need(rules::CRL_FETCHED, format!("{verdict} with no CRL fetched in this tap"));
        }
    };
    let eligibility_asked = |need: &mut dyn FnMut(RuleId, String)| {
        let asked: Vec<u64> = shown.requests("/eligibility").filter_map(|r| r.serial).collect();
        match shown.serial() {
            Some(serial) if asked.contains(&serial) => {}
            Some(serial) => need(
                rules::ELIGIBILITY_ASKED,
                format!("{verdict} with no eligibility query for the certificate's serial {serial:X} (asked: {})", hex_list(&asked)),
            ),
            None => need(rules::ELIGIBILITY_ASKED, format!("{verdict}: no certificate read whose serial an eligibility query could be for")),
        }
    };
    let holder_proven = |need: &mut dyn FnMut(RuleId, String)| {
        if tap.face {
            card_surface_proven(&shown, tap.contract, &verdict, need);
        } else {
            let key = shown.key();
            let signs = shown.signs(false);
            let verifies = signs.iter().any(|(data, answer)| {
                answer.ends_with(&[0x90, 0x00])
                    && key.as_ref().is_some_and(|key| key.verify_card_signature(data, answer.get(..answer.len() - 2).unwrap_or_default()))
            });
            if !verifies {
                let why = match (signs.len(), &key) {
                    (0, _) => "no sign command was sent".to_owned(),
                    (_, None) => "no certificate read whose key could check the answer".to_owned(),
                    (n, Some(_)) => format!("none of {n} sign answers verifies under the certificate's key over the data sent"),
                };
                need(rules::SIGNATURE_VERIFIES, format!("{verdict} without a signature over a challenge that verifies: {why}"));
            }
        }
    };
    match claimed {
        Outcome::Verified(_) => {
            certificate_read(&mut need);
            if let Ok(certificate) = &shown.certificate
                && !chains(certificate, cas)
            {
                need(rules::CERTIFICATE_CHAINS, "verified, but the certificate read does not verify under any trusted CA's key".into());
            }
            holder_proven(&mut need);
            crl_fetched(&mut need);
            eligibility_asked(&mut need);
        }
        Outcome::Rejected { reason, .. } => match reason {
            Reason::UntrustedCertificate if shown.read_whole => {}
            Reason::CertificateExpired | Reason::UntrustedCertificate => certificate_read(&mut need),
            Reason::CertificateRevoked | Reason::CertificateSuspended => {
                certificate_read(&mut need);
                crl_fetched(&mut need);
            }
            Reason::SignatureInvalid => {
                certificate_read(&mut need);
                if !shown.signs(false).iter().any(|(_, answer)| answer.ends_with(&[0x90, 0x00])) {
                    need(rules::SIGNATURE_VERIFIES, "signature_invalid with no sign command the device answered".into());
                }
            }
            reason if reason.from_eligibility_answer() => {
                certificate_read(&mut need);
                holder_proven(&mut need);
                crl_fetched(&mut need);
                eligibility_asked(&mut need);
            }
            Reason::ServiceUnavailable => match tap.backend_fault.map(|fault| (fault.service(), fault)) {
                Some((ServiceKind::Eligibility, _)) => eligibility_asked(&mut need),
                // A refused connection leaves nothing on the server to show.
                Some((ServiceKind::Crl, mynatap_sim::service::BackendFault::CrlUnavailable)) | None => {}
                Some((ServiceKind::Crl, _)) => {
                    if shown.requests("/crl").next().is_none() {
                        need(rules::FAILING_SERVICE_ASKED, "service_unavailable with no request to the failing CRL distribution point".into());
                    }
                }
            },
            // A PIN no JPKI card takes (not 4 digits) is wrong by itself: refused unsent, as the
            // built-in terminal does, it needs no answer of the card.
            Reason::WrongPin if !mynatap_sim::terminal::is_jpki_pin(tap.pin) => {}
            Reason::WrongPin | Reason::PinBlocked => {
                let answers: Vec<[u8; 2]> = shown.answered(Selected::Jpki(jpki::AUTH_PIN), 0x20).into_iter().map(sw).collect();
                let justified = answers.iter().any(|sw| match reason {
                    Reason::WrongPin => sw[0] == 0x63 && (0xC1..=0xCF).contains(&sw[1]),
                    _ => matches!(sw, [0x63, 0xC0] | [0x69, 0x83] | [0x69, 0x84]),
                });
                if !justified {
                    let expected = if *reason == Reason::WrongPin { "63 Cx with tries left" } else { "63 C0, 69 83 or 69 84" };
                    need(rules::CARD_ANSWERED_PIN, format!("{verdict} but no VERIFY of the PIN (JPKI 00 18) was answered {expected}"));
                }
            }
            Reason::WrongDeviceType if !shown.answered(Selected::Jpki(jpki::TOKEN_INFO), 0xB0).iter().any(|answer| answer.ends_with(&[0x90, 0x00])) => {
                need(rules::TOKEN_READ, "wrong_device_type with no READ of the token file (JPKI 00 06) answered".into());
            }
            Reason::UserNotVerified if !shown.signs(false).iter().any(|(_, answer)| sw(answer) == [0x69, 0x82]) => {
                need(rules::PHONE_REFUSED, "user_not_verified but no sign command was refused with 69 82".into());
            }
            Reason::FaceNotMatched => {
                card_face_read(&shown, &verdict, &mut need);
            }
            Reason::CardNotGenuine => {
                number_b_accepted(&shown, &verdict, &mut need);
                if !shown.answered(Selected::CardSurface(card_surface::CERTIFICATE), 0xB0).iter().any(|answer| answer.ends_with(&[0x90, 0x00])) {
                    need(rules::CARD_SURFACE_CHECKED, "card_not_genuine with no READ of the card-surface certificate (00 04) answered".into());
                }
            }
            // Removals and garbled answers are the step's device fault, judged by whether it took
            // effect; the phone path not offered needs no card at all.
            _ => {}
        },
        Outcome::NotOffered => {}
    }
    missing
}

fn hex_list(serials: &[u64]) -> String {
    if serials.is_empty() { "none".to_owned() } else { serials.iter().map(|s| format!("{s:X}")).collect::<Vec<_>>().join(", ") }
}

fn chains(certificate: &Certificate, cas: &[PublicKey]) -> bool {
    use der::Encode;
    let Ok(tbs) = certificate.tbs_certificate().to_der() else { return false };
    cas.iter().any(|ca| ca.verify_x509(&certificate.signature_algorithm().oid, &tbs, certificate.signature().raw_bytes()))
}

fn number_b_accepted(shown: &Shown<'_>, verdict: &str, need: &mut dyn FnMut(RuleId, String)) -> bool {
    let accepted = shown.answered(Selected::CardSurface(card_surface::NUMBER_B), 0x20).iter().any(|answer| answer.ends_with(&[0x90, 0x00]));
    if !accepted {
        need(rules::CARD_FACE_READ, format!("{verdict} on a face tap but the card never accepted verification number B (00 12)"));
    }
    accepted
}

/// Number B accepted, then the card face `00 02` (the face image) read.
fn card_face_read(shown: &Shown<'_>, verdict: &str, need: &mut dyn FnMut(RuleId, String)) -> FileRead {
    let entries = FileRead::of(shown.tap.seen, &shown.targets, Selected::CardSurface(card_surface::ENTRIES));
    if number_b_accepted(shown, verdict, need) && !entries.any() {
        need(rules::CARD_FACE_READ, format!("{verdict} on a face tap with no READ of the card face (00 02) answered"));
    }
    entries
}

/// The face path's proof of the holder: number B and the card face; from contract 1.2 also the
/// card-surface certificate read and the card's own key answering a challenge that verifies
/// under the key the card face carries (`DF 24`).
fn card_surface_proven(shown: &Shown<'_>, contract: Contract, verdict: &str, need: &mut dyn FnMut(RuleId, String)) {
    let entries = card_face_read(shown, verdict, need);
    if !contract.card_surface_signed() {
        return;
    }
    if !shown.answered(Selected::CardSurface(card_surface::CERTIFICATE), 0xB0).iter().any(|answer| answer.ends_with(&[0x90, 0x00])) {
        need(rules::CARD_SURFACE_CHECKED, format!("{verdict} on a face tap with no READ of the card-surface certificate (00 04) answered"));
    }
    let card_key = mynatap_sim::messages::surface::find_entry(entries.leading(), 0x24).and_then(parse_card_encoding).map(PublicKey::rsa);
    let answered = shown.signs(true).iter().any(|(data, answer)| {
        answer.ends_with(&[0x90, 0x00])
            && card_key.as_ref().is_some_and(|key| key.verify_card_signature(data, answer.get(..answer.len() - 2).unwrap_or_default()))
    });
    if !answered {
        let why = if card_key.is_none() {
            "the card face read holds no card key (DF 24) to check an answer with"
        } else {
            "no challenge to the card's own key (80 2A 00 00) was answered with a signature that verifies"
        };
        need(rules::CARD_SURFACE_CHECKED, format!("{verdict} on a face tap: {why}"));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::certification::http_backend::HttpRequest;
    use crate::scenario::Expectation;
    use mynatap_sim::backend::PersonSpec;
    use mynatap_sim::profile::DeviceKind;
    use mynatap_sim::terminal::TerminalConfig;
    use mynatap_sim::world::{Profiles, TapSpec, World};

    /// A tap the built-in terminal played (it does the whole protocol), as the card saw it, with
    /// the back-end requests it made; and the world's CA key.
    fn played(spec: &TapSpec) -> (Vec<SeenApdu>, Vec<HttpRequest>, Outcome, PublicKey) {
        let mut world = World::new(42, time::macros::datetime!(2026-04-01 09:00 +09:00), Profiles::default()).unwrap();
        world.add_terminal(TerminalConfig { id: "clinic".into(), smartphone: true, timeout_ms: 500, backend_timeout_ms: 2000 }).unwrap();
        world.add_person(&PersonSpec::example("hanako")).unwrap();
        world.add_initial_phone("hanako", "hanako-android", (DeviceKind::Android, None), "5678", false).unwrap();
        let report = world.tap(spec).unwrap();
        let seen: Vec<SeenApdu> = report
            .transcript
            .iter()
            .enumerate()
            .map(|(at, exchange)| SeenApdu {
                sequence: at as u64,
                command: exchange.command.clone(),
                response: exchange.response.as_ref().ok().map(|r| r.to_bytes()),
            })
            .collect();
        let serial = match &report.outcome {
            Outcome::Verified(verified) => u64::from_str_radix(&verified.certificate_serial, 16).ok(),
            _ => None,
        };
        let http = vec![
            HttpRequest { sequence: 1000, path: "/crl".into(), serial: None, status: 200, stolen_by: None },
            HttpRequest { sequence: 1001, path: "/eligibility".into(), serial, status: 200, stolen_by: None },
        ];
        (seen, http, report.outcome, world.registry().ca().public_key())
    }

    fn rules_broken(spec: &TapSpec, seen: &[SeenApdu], http: &[HttpRequest], claimed: &Outcome, ca: &PublicKey) -> Vec<RuleId> {
        let expect = Expectation::Succeed;
        let record = TapRecord {
            device: DeviceKind::Card,
            face: spec.face.is_some(),
            expect: &expect,
            backend_fault: None,
            seen,
            http,
            contract: Contract::LATEST,
            claimed: Some(claimed),
            cas: std::slice::from_ref(ca),
            pin: "1234",
            card_shared: None,
            held_again: false,
            left_in_field: &[],
        };
        require(&record, claimed, std::slice::from_ref(ca)).into_iter().map(|v| v.rule).collect()
    }

    #[test]
    fn the_built_in_terminal_shows_every_piece_of_evidence_on_every_path() {
        let face = TapSpec { face: Some(true), ..TapSpec::card("hanako") };
        for spec in [TapSpec::card("hanako"), TapSpec::phone("hanako-android"), face] {
            let (seen, http, outcome, ca) = played(&spec);
            assert_eq!(outcome.name(), "verified", "{outcome}");
            assert_eq!(rules_broken(&spec, &seen, &http, &outcome, &ca), Vec::<RuleId>::new(), "{spec:?}");
        }
    }

    #[test]
    fn a_verdict_printed_without_the_work_names_what_is_missing() {
        let spec = TapSpec::card("hanako");
        let (seen, http, outcome, ca) = played(&spec);
        // The cheat: select the application, print the expected line.
        let cheat = &seen[..1];
        assert_eq!(
            rules_broken(&spec, cheat, &[], &outcome, &ca),
            [rules::CERTIFICATE_READ, rules::SIGNATURE_VERIFIES, rules::CRL_FETCHED, rules::ELIGIBILITY_ASKED]
        );
        // Half the certificate.
        let partial: Vec<SeenApdu> = seen.iter().filter(|a| !(a.command.starts_with(&[0x00, 0xB0]) && a.command[2] != 0)).cloned().collect();
        assert!(rules_broken(&spec, &partial, &http, &outcome, &ca).contains(&rules::CERTIFICATE_READ));
        // A signature that does not verify over the data sent.
        let mut forged = seen.clone();
        let sign = forged.iter_mut().find(|a| a.command.get(1) == Some(&0x2A)).unwrap();
        sign.response.as_mut().unwrap()[10] ^= 1;
        assert_eq!(rules_broken(&spec, &forged, &http, &outcome, &ca), [rules::SIGNATURE_VERIFIES]);
        // The eligibility service asked about somebody else.
        let other = [http[0].clone(), HttpRequest { serial: Some(1), ..http[1].clone() }];
        assert_eq!(rules_broken(&spec, &seen, &other, &outcome, &ca), [rules::ELIGIBILITY_ASKED]);
        // Another CA's key: the certificate read does not chain.
        let stranger = mynatap_sim::pki::SigningKey::derive(mynatap_sim::pki::KeyAlgorithm::P256, 9, "stranger", 0).unwrap().public_key();
        assert_eq!(rules_broken(&spec, &seen, &http, &outcome, &stranger), [rules::CERTIFICATE_CHAINS]);
    }

    #[test]
    fn a_face_tap_must_show_the_card_surface_checked() {
        let spec = TapSpec { face: Some(true), ..TapSpec::card("hanako") };
        let (seen, http, outcome, ca) = played(&spec);
        let unchallenged: Vec<SeenApdu> = seen.iter().filter(|a| a.command.get(1) != Some(&0x2A)).cloned().collect();
        assert_eq!(rules_broken(&spec, &unchallenged, &http, &outcome, &ca), [rules::CARD_SURFACE_CHECKED]);
        let not_matched = Outcome::Rejected { reason: Reason::FaceNotMatched, detail: String::new() };
        assert_eq!(rules_broken(&spec, &seen[..3], &[], &not_matched, &ca), [rules::CARD_FACE_READ], "number B alone is not the face");
    }

    #[test]
    fn rejections_need_what_justifies_their_reason() {
        let spec = TapSpec::card("hanako");
        let (seen, http, _, ca) = played(&spec);
        let rejected = |reason| Outcome::Rejected { reason, detail: String::new() };
        // The whole verified transcript justifies a revocation found on the CRL; without the CRL it does not.
        assert!(rules_broken(&spec, &seen, &http, &rejected(Reason::CertificateRevoked), &ca).is_empty());
        assert_eq!(rules_broken(&spec, &seen, &[], &rejected(Reason::CertificateRevoked), &ca), [rules::CRL_FETCHED]);
        // The PIN was right (90 00): neither a wrong nor a blocked PIN is shown.
        assert_eq!(rules_broken(&spec, &seen, &http, &rejected(Reason::WrongPin), &ca), [rules::CARD_ANSWERED_PIN]);
        let mut wrong = seen.clone();
        let verify = wrong.iter_mut().find(|a| a.command.get(1) == Some(&0x20)).unwrap();
        verify.response = Some(vec![0x63, 0xC2]);
        assert!(rules_broken(&spec, &wrong, &[], &rejected(Reason::WrongPin), &ca).is_empty());
        assert_eq!(rules_broken(&spec, &wrong, &[], &rejected(Reason::PinBlocked), &ca), [rules::CARD_ANSWERED_PIN]);
        assert_eq!(rules_broken(&spec, &[], &[], &rejected(Reason::WrongDeviceType), &ca), [rules::TOKEN_READ]);
        let expect = Expectation::Succeed;
        let unsent = TapRecord {
            device: DeviceKind::Card,
            face: false,
            expect: &expect,
            backend_fault: None,
            seen: &[],
            http: &[],
            contract: Contract::LATEST,
            claimed: None,
            cas: std::slice::from_ref(&ca),
            pin: "12",
            card_shared: None,
            held_again: false,
            left_in_field: &[],
        };
        assert!(require(&unsent, &rejected(Reason::WrongPin), std::slice::from_ref(&ca)).is_empty(), "a 2-digit PIN is wrong without asking the card");
        assert!(rules_broken(&spec, &seen, &[], &rejected(Reason::WrongDeviceType), &ca).is_empty());
        assert!(rules_broken(&spec, &[], &[], &rejected(Reason::CardRemoved), &ca).is_empty(), "a removal is judged by its fault");
    }
}
