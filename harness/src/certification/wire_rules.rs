//! The wire rules of certification (docs/certification.md): what a reader program must never
//! do on the card's wire or the back ends', judged from what the card saw and what the back
//! ends were asked. A pure function of the tap's record, so every rule is unit-tested.

use std::collections::HashSet;

use mynatap_sim::contract::Contract;
use mynatap_sim::profile::DeviceKind;
use mynatap_sim::service::ServiceKind;
use mynatap_sim::terminal::{Reason, card_info, card_surface, jpki};

use super::wire::{Selected, TapRecord, succeeded, targets};
use crate::certification::http_backend::HttpRequest;
use crate::play::Violation;
use crate::scenario::Expectation;

/// Rule names, as reports print them.
pub mod rules {
    use crate::play::RuleId;

    /// W1: no eligibility query for a certificate that must be rejected.
    pub const PRIVACY: RuleId = RuleId::W1;
    /// W2: every sign command carries a challenge never sent before.
    pub const FRESH_CHALLENGE: RuleId = RuleId::W2;
    /// W3: the CRL is fetched before eligibility is asked.
    pub const CRL_CHECKED: RuleId = RuleId::W3;
    /// W4: no VERIFY to an iPhone.
    pub const NO_VERIFY_IPHONE: RuleId = RuleId::W4;
    /// W5: no VERIFY once the PIN is blocked.
    pub const NO_VERIFY_AFTER_BLOCK: RuleId = RuleId::W5;
    /// W6: at most one VERIFY of the PIN per tap.
    pub const ONE_VERIFY: RuleId = RuleId::W6;
    /// W7: no APDU after the device left the field.
    pub const NO_APDU_AFTER_REMOVAL: RuleId = RuleId::W7;
    /// W8: the signature is checked before eligibility is asked.
    pub const SIGNATURE_BEFORE_ELIGIBILITY: RuleId = RuleId::W8;
    /// W9: the My Number is never read or presented.
    pub const NO_MY_NUMBER: RuleId = RuleId::W9;
    /// W10: no PIN sent on the face path.
    pub const NO_PIN_IN_FACE_MODE: RuleId = RuleId::W10;
    /// W11 (contract 1.3): the reader holds the card exclusively while it works with it.
    pub const CARD_HELD_EXCLUSIVELY: RuleId = RuleId::W11;
    /// W12 (contract 1.3): no command to a card left in the field after an earlier verdict: the
    /// reader waits for this tap's card to arrive.
    pub const ONLY_THE_ARRIVING_CARD: RuleId = RuleId::W12;
}

/// The wire rules one tap broke (the evidence rules are [`super::evidence_rules::require`];
/// [`super::judge`] applies both).
pub(super) fn forbidden(tap: &TapRecord<'_>, challenges: &mut HashSet<Vec<u8>>) -> Vec<Violation> {
    let mut violations = Vec::new();
    if tap.contract >= Contract::V1_3 && tap.card_shared == Some(true) {
        violations.push(Violation {
            rule: rules::CARD_HELD_EXCLUSIVELY,
            evidence: "a bystander's command reached the card between the reader's: any program on the machine could have sent it anything during the tap (connect with SCARD_SHARE_EXCLUSIVE, or hold a transaction)".into(),
        });
    }
    if let Some(first) = tap.left_in_field.first() {
        violations.push(Violation {
            rule: rules::ONLY_THE_ARRIVING_CARD,
            evidence: format!(
                "{} command(s) to the card left in the field after an earlier verdict, before this tap's card arrived (first {}): a card lying on the reader is not the next patient's",
                tap.left_in_field.len(),
                hex::encode_upper(&first.command)
            ),
        });
    }
    // A request the service refused (bad serial, bad method) asked about nobody: not a query.
    let eligibility: Vec<&HttpRequest> = tap.http.iter().filter(|r| r.path == "/eligibility" && r.serial.is_some()).collect();
    // Only the eligibility service's own answer can reject a tap after a query: not
    // registered, expired insurance, or the service failing under an eligibility fault.
    let eligibility_fault = tap.backend_fault.is_some_and(|fault| fault.service() == ServiceKind::Eligibility);
    let rejected_by_eligibility = |reason: Reason| reason.from_eligibility_answer() || (reason == Reason::ServiceUnavailable && eligibility_fault);
    let must_reject_on_certificate = matches!(tap.expect, Expectation::Tap(expect) if expect.reason.is_some_and(|reason| !rejected_by_eligibility(reason)));
    if must_reject_on_certificate && let Some(query) = eligibility.first() {
        violations.push(Violation { rule: rules::PRIVACY, evidence: format!("eligibility query {} for a tap that must be rejected", query.path) });
    }
    let targets = targets(tap.seen);
    // The holder is proven before any query: by a signature over a challenge, or on the face
    // path by the card accepting verification number B.
    for query in &eligibility {
        if !tap.http.iter().any(|r| r.path == "/crl" && r.sequence < query.sequence) {
            violations.push(Violation { rule: rules::CRL_CHECKED, evidence: "eligibility queried with no CRL fetched before it in this tap".into() });
        }
        let proven = tap.seen.iter().zip(&targets).any(|(apdu, target)| {
            let signed = apdu.command.get(1) == Some(&0x2A);
            let number_b = tap.face && apdu.command.get(1) == Some(&0x20) && *target == Selected::CardSurface(card_surface::NUMBER_B);
            (signed || number_b) && apdu.sequence < query.sequence && succeeded(apdu)
        });
        if !proven {
            let evidence = if tap.face {
                "eligibility queried before the card accepted verification number B"
            } else {
                "eligibility queried before any signature over a challenge"
            };
            violations.push(Violation { rule: rules::SIGNATURE_BEFORE_ELIGIBILITY, evidence: evidence.into() });
        }
    }
    let mut pin_verifies = 0;
    let mut blocked = false;
    let mut removed = false;
    for (apdu, target) in tap.seen.iter().zip(&targets) {
        let hex_command = hex::encode_upper(&apdu.command);
        if removed {
            violations.push(Violation { rule: rules::NO_APDU_AFTER_REMOVAL, evidence: format!("{hex_command} sent after the card left") });
            break;
        }
        match (apdu.command.get(1), target) {
            // The patient's privacy: no verification number A, no read of the My Number.
            (Some(0x20), Selected::CardSurface(card_surface::NUMBER_A)) => {
                violations.push(Violation { rule: rules::NO_MY_NUMBER, evidence: format!("VERIFY of verification number A: {hex_command}") });
            }
            (Some(0xB0), Selected::CardInfo(card_info::MY_NUMBER) | Selected::CardSurface(card_surface::MY_NUMBER_IMAGE)) => {
                violations.push(Violation { rule: rules::NO_MY_NUMBER, evidence: format!("READ of the My Number: {hex_command}") });
            }
            (Some(0x20), Selected::CardSurface(_) | Selected::CardInfo(_)) => {}
            (Some(0x20), _) => {
                pin_verifies += 1;
                if tap.device == DeviceKind::Iphone {
                    violations.push(Violation { rule: rules::NO_VERIFY_IPHONE, evidence: hex_command.clone() });
                }
                if tap.face && *target == Selected::Jpki(jpki::AUTH_PIN) {
                    violations.push(Violation { rule: rules::NO_PIN_IN_FACE_MODE, evidence: format!("VERIFY of the JPKI PIN on a face tap: {hex_command}") });
                }
                if blocked {
                    violations.push(Violation { rule: rules::NO_VERIFY_AFTER_BLOCK, evidence: hex_command.clone() });
                }
                if pin_verifies == 2 {
                    violations.push(Violation { rule: rules::ONE_VERIFY, evidence: format!("second VERIFY {hex_command}") });
                }
            }
            (Some(0x2A), _) => {
                // The whole sign data (DigestInfo or digest): the challenge inside must be new.
                let lc = usize::from(apdu.command.get(4).copied().unwrap_or(0));
                let data = apdu.command.get(5..apdu.command.len().min(5 + lc)).unwrap_or_default().to_vec();
                if !challenges.insert(data.clone()) {
                    violations
                        .push(Violation { rule: rules::FRESH_CHALLENGE, evidence: format!("sign data {} seen before in this run", hex::encode_upper(data)) });
                }
            }
            _ => {}
        }
        match apdu.response.as_deref() {
            // Held again (1.3): the flow starts over on the card back in the field.
            None if tap.held_again => pin_verifies = 0,
            None => removed = true,
            Some([.., 0x63, 0xC0] | [.., 0x69, 0x84]) if !matches!(target, Selected::CardSurface(_) | Selected::CardInfo(_)) => blocked = true,
            _ => {}
        }
    }
    violations
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use mynatap_sim::driver::SeenApdu;
    use mynatap_sim::pki::PublicKey;

    fn apdu(sequence: u64, command: &str, response: &str) -> SeenApdu {
        SeenApdu { sequence, command: hex::decode(command).unwrap(), response: Some(hex::decode(response).unwrap()) }
    }

    /// A CA key for records judged by the wire rules alone (no verdict: no evidence rules).
    fn any_key() -> PublicKey {
        mynatap_sim::pki::SigningKey::derive(mynatap_sim::pki::KeyAlgorithm::P256, 1, "ca", 0).unwrap().public_key()
    }

    fn judged(face: bool, seen: &[SeenApdu]) -> Vec<crate::play::RuleId> {
        let expect = Expectation::Succeed;
        let http = [
            HttpRequest { sequence: 100, path: "/crl".into(), serial: None, status: 200, stolen_by: None },
            HttpRequest { sequence: 101, path: "/eligibility".into(), serial: Some(1), status: 200, stolen_by: None },
        ];
        let ca = any_key();
        let record = TapRecord {
            device: DeviceKind::Card,
            face,
            expect: &expect,
            backend_fault: None,
            seen,
            http: &http,
            contract: Contract::LATEST,
            claimed: None,
            cas: std::slice::from_ref(&ca),
            pin: "1234",
            card_shared: None,
            held_again: false,
            left_in_field: &[],
        };
        forbidden(&record, &mut HashSet::new()).into_iter().map(|v| v.rule).collect()
    }

    const FACE_PATH: [(&str, &str); 6] = [
        ("00A4040C0AD3921000310001010402", "9000"),
        ("00A4020C020012", "9000"),
        ("0020008008" /* number B, shortened */, "9000"),
        ("00A4040C0AD392F000260100000001", "9000"),
        ("00A4020C02000A", "9000"),
        ("00B0000004", "308203859000"),
    ];

    #[test]
    fn a_face_tap_is_proven_by_number_b_and_needs_no_signature() {
        let seen: Vec<SeenApdu> = FACE_PATH.iter().enumerate().map(|(i, (c, r))| apdu(i as u64, c, r)).collect();
        assert_eq!(judged(true, &seen), Vec::<crate::play::RuleId>::new());
        assert_eq!(judged(false, &seen), vec![rules::SIGNATURE_BEFORE_ELIGIBILITY], "a PIN tap must sign");
    }

    #[test]
    fn the_my_number_and_the_pin_on_a_face_tap_are_caught() {
        let mut seen: Vec<SeenApdu> = FACE_PATH.iter().enumerate().map(|(i, (c, r))| apdu(i as u64, c, r)).collect();
        seen.push(apdu(10, "00A4020C020018", "9000"));
        seen.push(apdu(11, "002000800431323334", "9000"));
        seen.push(apdu(12, "00A4040C0AD3921000310001010408", "9000"));
        seen.push(apdu(13, "00A4020C020001", "9000"));
        seen.push(apdu(14, "00B000000C", "6982"));
        seen.push(apdu(15, "00A4040C0AD3921000310001010402", "9000"));
        seen.push(apdu(16, "00A4020C020013", "9000"));
        seen.push(apdu(17, "002000800C313233343536373839303138", "63C9"));
        let rules = judged(true, &seen);
        assert!(rules.contains(&rules::NO_PIN_IN_FACE_MODE), "{rules:?}");
        assert_eq!(rules.iter().filter(|r| **r == rules::NO_MY_NUMBER).count(), 2, "{rules:?}");
    }

    #[test]
    fn the_whole_digest_info_is_the_challenge() {
        let digest_info = format!("802A008033{}{}00", "3031300D060960864801650304020105000420", "11".repeat(32));
        let other = format!("802A008033{}{}{}00", "3031300D060960864801650304020105000420", "11".repeat(31), "22");
        let mut challenges = HashSet::new();
        let expect = Expectation::Succeed;
        for (command, fresh) in [(&digest_info, true), (&other, true), (&digest_info, false)] {
            let seen = [apdu(1, command, "9000")];
            let ca = any_key();
            let record = TapRecord {
                device: DeviceKind::Card,
                face: false,
                expect: &expect,
                backend_fault: None,
                seen: &seen,
                http: &[],
                contract: Contract::LATEST,
                claimed: None,
                cas: std::slice::from_ref(&ca),
                pin: "1234",
                card_shared: None,
                held_again: false,
                left_in_field: &[],
            };
            assert_eq!(forbidden(&record, &mut challenges).is_empty(), fresh, "{command}");
        }
    }

    /// W12: commands to a card left lying in the field are named; a card held again after a
    /// removal may be read again from the start (W7 and W6 count per hold), one never held again
    /// may not.
    #[test]
    fn a_card_left_lying_and_a_card_held_again() {
        let expect = Expectation::Succeed;
        let ca = any_key();
        let lying = [apdu(1, "00A4040C0AD392F000260100000001", "9000")];
        let record = TapRecord {
            device: DeviceKind::Android,
            face: false,
            expect: &expect,
            backend_fault: None,
            seen: &[],
            http: &[],
            contract: Contract::LATEST,
            claimed: None,
            cas: std::slice::from_ref(&ca),
            pin: "1234",
            card_shared: None,
            held_again: false,
            left_in_field: &lying,
        };
        assert_eq!(forbidden(&record, &mut HashSet::new()).into_iter().map(|v| v.rule).collect::<Vec<_>>(), vec![rules::ONLY_THE_ARRIVING_CARD]);
        let mut seen = vec![apdu(2, "00A4020C020018", "9000"), apdu(3, "002000800431323334", "9000")];
        seen.push(SeenApdu { sequence: 4, command: hex::decode("00A4020C02000A").unwrap(), response: None });
        seen.extend([apdu(5, "00A4020C020018", "9000"), apdu(6, "002000800431323334", "9000")]);
        let judged = |held_again: bool| {
            let record = TapRecord {
                device: DeviceKind::Android,
                face: false,
                expect: &expect,
                backend_fault: None,
                seen: &seen,
                http: &[],
                contract: Contract::LATEST,
                claimed: None,
                cas: std::slice::from_ref(&ca),
                pin: "1234",
                card_shared: None,
                held_again,
                left_in_field: &[],
            };
            forbidden(&record, &mut HashSet::new()).into_iter().map(|v| v.rule).collect::<Vec<_>>()
        };
        assert_eq!(judged(true), Vec::<crate::play::RuleId>::new());
        assert_eq!(judged(false), vec![rules::NO_APDU_AFTER_REMOVAL]);
    }
}
