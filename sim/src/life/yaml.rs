//! A life written as a scenario file: only what its contract version defines, every tap's
//! expectation as the model predicts it.

use std::fmt::Write as _;

use time::format_description::well_known::Rfc3339;

use super::{Advance, Expected, FORGED_PHONE, Life, PEOPLE, PHONES, PinTyped, Played, Step, TERMINAL, TapFault, TapHow};
use crate::contract::Contract;
use crate::profile::DeviceKind;

/// A PIN of four digits that is not the default `1234`, and one that is not four digits.
const WRONG_PIN: &str = "9999";
const MALFORMED_PIN: &str = "12345";

pub(super) fn scenario(life: &Life, id: &str, title: &str, steps: &[Played<'_>]) -> String {
    let mut out = String::with_capacity(256 + 96 * steps.len());
    let _ = writeln!(out, "contract: \"{}\"", life.contract);
    let _ = writeln!(out, "id: {id}");
    let _ = writeln!(out, "title: {title}");
    let _ = writeln!(out, "covers: [FLOW-3, FLOW-4, Q14, Q17, Q18, Q19, Q20, SETUP-1, SETUP-2]");
    let _ = writeln!(out, "world:");
    let _ = writeln!(out, "  clock: {}", life.clock.format(&Rfc3339).unwrap_or_default());
    if !life.ca_generations.is_empty() && life.contract >= Contract::V1_3 {
        let keys: Vec<&str> = life.ca_generations.iter().map(|key| key.name()).collect();
        let _ = writeln!(out, "  ca_generations: [{}]", keys.join(", "));
    } else if life.contract >= Contract::V1_1 {
        let _ = writeln!(out, "  ca_key: {}", life.ca_key.name());
    }
    if life.revoked_elsewhere > 0 {
        let _ = writeln!(out, "  revoked_elsewhere: {}", life.revoked_elsewhere);
    }
    let _ = writeln!(out, "  terminals:\n    - {{ id: {TERMINAL}, smartphone: {} }}", life.smartphone);
    let _ = writeln!(out, "  people:");
    for (index, person) in life.people.iter().enumerate() {
        let _ = writeln!(out, "    - id: {}", PEOPLE.get(index).copied().unwrap_or("nobody"));
        let _ = writeln!(out, "      birth_date: {}", person.birth_date);
        let mut card = format!("cert_expires: {}", person.card_expires);
        if life.contract >= Contract::V1_1 {
            let _ = write!(card, ", key: {}, security_code: \"{}\"", person.card_key.name(), person.security_code);
        }
        if let Some(forgery) = person.forgery.filter(|_| life.contract >= Contract::V1_2) {
            let _ = write!(card, ", forgery: {forgery}");
        }
        if life.contract >= Contract::V1_3 {
            if let Some(fault) = person.certificate {
                let _ = write!(card, ", certificate: {fault}");
            }
            if let Some(generation) = person.generation.filter(|generation| *generation <= life.ca_generations.len()) {
                let _ = write!(card, ", generation: {generation}");
            }
        }
        let _ = writeln!(out, "      card: {{ {card} }}");
        let mut insurance = format!("registered: {}, insurer: \"06132013\", valid_until: {}", person.registered, person.valid_until);
        if life.contract >= Contract::V1_2 {
            let _ = write!(insurance, ", status: {}, copay: {}", person.status.name(), person.copay);
            if let Some(arrives) = person.arrives {
                let _ = write!(insurance, ", arrives: {arrives}");
            }
        }
        let _ = writeln!(out, "      insurance: {{ {insurance} }}");
        if let Some(forged) = life.forged_phone.filter(|forged| forged.person == index) {
            let key = forged.key.filter(|_| life.contract >= Contract::V1_1).map(|key| format!(", key: {}", key.name())).unwrap_or_default();
            let _ = writeln!(out, "      phones: [{{ id: {FORGED_PHONE}, os: {}{key}, forged: true }}]", forged.os);
        }
    }
    out.push_str("steps:\n");
    if steps.is_empty() {
        out.push_str("  - advance_clock: { days: 0 }\n");
    }
    for played in steps {
        out.push_str(&step_yaml(life, played));
    }
    out
}

fn person_id(index: usize) -> &'static str {
    PEOPLE.get(index).copied().unwrap_or("nobody")
}

fn phone_id(index: usize) -> &'static str {
    PHONES.get(index).copied().unwrap_or(FORGED_PHONE)
}

/// One step, with its `expect` (none where it must simply succeed).
fn step_yaml(life: &Life, played: &Played<'_>) -> String {
    let action = match played.step {
        Step::AddPhone { person, phone, os, key } => {
            let key = key.filter(|_| life.contract >= Contract::V1_1).map(|key| format!(", key: {}", key.name())).unwrap_or_default();
            format!("add_phone: {{ person: {}, phone: {}, os: {os}{key} }}", person_id(*person), phone_id(*phone))
        }
        Step::RemovePhone { phone } => format!("remove_phone: {{ phone: {} }}", phone_id(*phone)),
        Step::ReportLost { phone } => format!("report_lost: {{ phone: {} }}", phone_id(*phone)),
        Step::Resume { phone } => format!("resume: {{ phone: {} }}", phone_id(*phone)),
        Step::RevokeCard { person } => format!("revoke_card: {{ person: {} }}", person_id(*person)),
        Step::RenewCard { person, days: None } => format!("renew_card: {{ person: {} }}", person_id(*person)),
        Step::RenewCard { person, days: Some(days) } => {
            let expires = played.today.checked_add(time::Duration::days((*days).into()));
            match expires {
                Some(expires) => format!("renew_card: {{ person: {}, cert_expires: {expires} }}", person_id(*person)),
                None => format!("renew_card: {{ person: {} }}", person_id(*person)),
            }
        }
        Step::RegisterInsurance { person } => format!("register_insurance: {{ person: {} }}", person_id(*person)),
        Step::Advance(Advance::Days(n)) => format!("advance_clock: {{ days: {n} }}"),
        Step::Advance(Advance::Hours(n)) => format!("advance_clock: {{ hours: {n} }}"),
        Step::Advance(Advance::Minutes(n)) => format!("advance_clock: {{ minutes: {n} }}"),
        Step::TapPhone { phone, how } => format!("tap: {{ phone: {}{} }}", phone_id(*phone), tap_fields(how, played.os)),
        Step::TapCard { person, how } => format!("tap: {{ card: {}{} }}", person_id(*person), tap_fields(how, Some(DeviceKind::Card))),
    };
    let expect = match &played.expected {
        Expected::Ok => String::new(),
        Expected::Error(code) => format!("\n    expect: {{ error: {code} }}"),
        Expected::Rejected(reason) => format!("\n    expect: {{ outcome: rejected, reason: {} }}", reason.as_str()),
        Expected::NotOffered => "\n    expect: { outcome: not_offered }".into(),
        Expected::Verified { grace, expiring_soon, copay } if life.contract >= Contract::V1_2 => {
            format!("\n    expect: {{ outcome: verified, grace: {grace}, expiring_soon: {expiring_soon}, copay: {copay} }}")
        }
        Expected::Verified { .. } => "\n    expect: { outcome: verified }".into(),
    };
    format!("  - {action}{expect}\n")
}

/// The fields of a tap beyond its device, as far as they apply to `os` (`None`: unknown).
fn tap_fields(how: &TapHow, os: Option<DeviceKind>) -> String {
    let mut out = String::new();
    if let Some(face_match) = how.face.filter(|_| os == Some(DeviceKind::Card)) {
        let _ = write!(out, ", auth: face");
        if !face_match {
            out.push_str(", face_match: false");
        }
    } else if os != Some(DeviceKind::Iphone) {
        match how.pin {
            PinTyped::Right => {}
            PinTyped::Wrong => {
                let _ = write!(out, ", pin: \"{WRONG_PIN}\"");
            }
            PinTyped::Malformed => {
                let _ = write!(out, ", pin: \"{MALFORMED_PIN}\"");
            }
        }
    }
    if os == Some(DeviceKind::Iphone) && how.not_unlocked {
        out.push_str(", user_verified: false");
    }
    if how.wrong_os {
        match os {
            Some(DeviceKind::Android) => out.push_str(", os_selected: iphone"),
            Some(DeviceKind::Iphone) => out.push_str(", os_selected: android"),
            _ => {}
        }
    }
    if let Some(fault) = how.fault {
        let _ = write!(out, ", fault: {}", fault_yaml(fault));
    }
    out
}

fn fault_yaml(fault: TapFault) -> String {
    match (fault, fault.backend()) {
        (_, Some(backend)) => format!("{{ kind: {} }}", backend.kind()),
        (TapFault::RemovedAtOnce, _) => "{ kind: remove_after, apdus: 0 }".into(),
        (TapFault::CorruptSignature, _) => "{ kind: corrupt_response, command: sign }".into(),
        (_, None) => "{ kind: wrong_status, command: sign, sw: \"6F00\" }".into(),
    }
}
