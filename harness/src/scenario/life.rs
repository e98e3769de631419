//! A generated life as a scenario file: only what its contract version defines, every tap's
//! expectation as the rules model predicts it, written through the loader's own model.

use mynatap_sim::contract::Contract;
use mynatap_sim::life::{Advance, Expected, FORGED_PHONE, Life, PEOPLE, PHONES, PersonLife, PinTyped, Played, Step, TERMINAL, TapFault, TapHow};
use mynatap_sim::profile::DeviceKind;
use time::format_description::well_known::Rfc3339;

use super::raw::{
    Os, RawAddPhone, RawAdvanceClock, RawCard, RawExpect, RawFault, RawInsurance, RawPerson, RawPersonRef, RawPhone, RawPhoneRef, RawRenewCard, RawScenario,
    RawStep, RawTap, RawTerminal, RawWorld,
};
use super::write::{self, WriteError};

/// A PIN of four digits that is not the default `1234`, and one that is not four digits.
const WRONG_PIN: &str = "9999";
const MALFORMED_PIN: &str = "12345";
/// What every generated life covers.
const COVERS: [&str; 9] = ["FLOW-3", "FLOW-4", "Q14", "Q17", "Q18", "Q19", "Q20", "SETUP-1", "SETUP-2"];

/// The life's scenario file, expecting what the rules model says.
pub fn file(life: &Life, id: &str, title: &str) -> Result<String, WriteError> {
    write::scenario(&scenario(life, id, title, &life.expectations()))
}

/// The life as the loader's model: the steps the rules model plays, each with its expectation.
pub(crate) fn scenario(life: &Life, id: &str, title: &str, played: &[Played<'_>]) -> RawScenario {
    let generations = !life.ca_generations.is_empty() && life.contract >= Contract::V1_3;
    let world = RawWorld {
        clock: life.clock.format(&Rfc3339).unwrap_or_default(),
        people: life.people.iter().enumerate().map(|(index, person)| person_file(life, index, person)).collect(),
        terminals: Some(vec![RawTerminal { id: TERMINAL.into(), smartphone: life.smartphone, timeout_ms: None, backend_timeout_ms: None }]),
        ca_key: (!generations && life.contract >= Contract::V1_1).then(|| life.ca_key.name().to_owned()),
        ca_generations: generations.then(|| life.ca_generations.iter().map(|key| key.name().to_owned()).collect()),
        crl_sign: None,
        revoked_elsewhere: (life.revoked_elsewhere > 0).then_some(life.revoked_elsewhere),
    };
    let mut steps: Vec<RawStep> = played.iter().map(|played| step_file(life, played)).collect();
    if steps.is_empty() {
        // A scenario has at least one step.
        steps.push(RawStep { advance_clock: Some(RawAdvanceClock { days: Some(0), hours: None, minutes: None }), ..RawStep::default() });
    }
    RawScenario {
        contract: Some(life.contract.to_string()),
        id: id.to_owned(),
        title: title.to_owned(),
        covers: COVERS.iter().map(|id| (*id).to_owned()).collect(),
        world,
        steps,
    }
}

fn person_id(index: usize) -> String {
    PEOPLE.get(index).copied().unwrap_or("nobody").to_owned()
}

fn phone_id(index: usize) -> String {
    PHONES.get(index).copied().unwrap_or(FORGED_PHONE).to_owned()
}

fn person_file(life: &Life, index: usize, person: &PersonLife) -> RawPerson {
    let (v1_1, v1_2, v1_3) = (life.contract >= Contract::V1_1, life.contract >= Contract::V1_2, life.contract >= Contract::V1_3);
    let card = RawCard {
        cert_expires: Some(person.card_expires.to_string()),
        key: v1_1.then(|| person.card_key.name().to_owned()),
        security_code: v1_1.then(|| person.security_code.clone()),
        forgery: person.forgery.filter(|_| v1_2).map(|forgery| forgery.to_string()),
        certificate: person.certificate.filter(|_| v1_3).map(|fault| fault.to_string()),
        generation: person.generation.filter(|generation| v1_3 && *generation <= life.ca_generations.len()),
        ..RawCard::default()
    };
    let insurance = RawInsurance {
        registered: Some(person.registered),
        insurer: Some("06132013".into()),
        valid_until: Some(person.valid_until.to_string()),
        status: v1_2.then(|| person.status.name().to_owned()),
        copay: v1_2.then_some(person.copay),
        arrives: person.arrives.filter(|_| v1_2).map(|day| day.to_string()),
        ..RawInsurance::default()
    };
    let phones = life
        .forged_phone
        .filter(|forged| forged.person == index)
        .and_then(|forged| {
            Some(RawPhone {
                id: FORGED_PHONE.into(),
                os: Os::of(forged.os)?,
                pin: None,
                forged: true,
                certificate: None,
                generation: None,
                key: forged.key.filter(|_| v1_1).map(|key| key.name().to_owned()),
            })
        })
        .into_iter()
        .collect();
    RawPerson { id: person_id(index), birth_date: person.birth_date.to_string(), card, insurance, phones }
}

/// One step, with its `expect` (none where it must simply succeed).
fn step_file(life: &Life, played: &Played<'_>) -> RawStep {
    let mut step = RawStep::default();
    let phone_ref = |phone: &usize| RawPhoneRef { phone: phone_id(*phone) };
    let person_ref = |person: &usize| RawPersonRef { person: person_id(*person) };
    match played.step {
        Step::AddPhone { person, phone, os, key } => {
            step.add_phone = Os::of(*os).map(|os| RawAddPhone {
                person: person_id(*person),
                phone: phone_id(*phone),
                os,
                pin: None,
                key: key.filter(|_| life.contract >= Contract::V1_1).map(|key| key.name().to_owned()),
            });
        }
        Step::RemovePhone { phone } => step.remove_phone = Some(phone_ref(phone)),
        Step::ReportLost { phone } => step.report_lost = Some(phone_ref(phone)),
        Step::Resume { phone } => step.resume = Some(phone_ref(phone)),
        Step::RevokeCard { person } => step.revoke_card = Some(person_ref(person)),
        Step::RegisterInsurance { person } => step.register_insurance = Some(person_ref(person)),
        Step::RenewCard { person, days } => {
            let expires = days.and_then(|days| played.today.checked_add(time::Duration::days(days.into())));
            step.renew_card = Some(RawRenewCard { person: person_id(*person), cert_expires: expires.map(|day| day.to_string()) });
        }
        Step::Advance(advance) => {
            let (days, hours, minutes) = match advance {
                Advance::Days(n) => (Some(i64::from(*n)), None, None),
                Advance::Hours(n) => (None, Some(i64::from(*n)), None),
                Advance::Minutes(n) => (None, None, Some(i64::from(*n))),
            };
            step.advance_clock = Some(RawAdvanceClock { days, hours, minutes });
        }
        Step::TapPhone { phone, how } => step.tap = Some(RawTap { phone: Some(phone_id(*phone)), ..tap_fields(how, played.os) }),
        Step::TapCard { person, how } => step.tap = Some(RawTap { card: Some(person_id(*person)), ..tap_fields(how, Some(DeviceKind::Card)) }),
    }
    step.expect = expectation(life, &played.expected);
    step
}

fn expectation(life: &Life, expected: &Expected) -> Option<RawExpect> {
    let outcome = |outcome: &str| Some(outcome.to_owned());
    match expected {
        Expected::Ok => None,
        Expected::Error(code) => Some(RawExpect { error: Some((*code).to_owned()), ..RawExpect::default() }),
        Expected::Rejected(reason) => Some(RawExpect { outcome: outcome("rejected"), reason: Some(reason.as_str().to_owned()), ..RawExpect::default() }),
        Expected::NotOffered => Some(RawExpect { outcome: outcome("not_offered"), ..RawExpect::default() }),
        Expected::Verified { grace, expiring_soon, copay } if life.contract >= Contract::V1_2 => Some(RawExpect {
            outcome: outcome("verified"),
            grace: Some(*grace),
            expiring_soon: Some(*expiring_soon),
            copay: Some(*copay),
            ..RawExpect::default()
        }),
        Expected::Verified { .. } => Some(RawExpect { outcome: outcome("verified"), ..RawExpect::default() }),
    }
}

/// The fields of a tap beyond its device, as far as they apply to `os` (`None`: unknown).
fn tap_fields(how: &TapHow, os: Option<DeviceKind>) -> RawTap {
    let mut tap = RawTap::default();
    if let Some(face_match) = how.face.filter(|_| os == Some(DeviceKind::Card)) {
        tap.auth = Some("face".into());
        tap.face_match = (!face_match).then_some(false);
    } else if os != Some(DeviceKind::Iphone) {
        tap.pin = match how.pin {
            PinTyped::Right => None,
            PinTyped::Wrong => Some(WRONG_PIN.into()),
            PinTyped::Malformed => Some(MALFORMED_PIN.into()),
        };
    }
    if os == Some(DeviceKind::Iphone) && how.not_unlocked {
        tap.user_verified = Some(false);
    }
    if how.wrong_os {
        tap.os_selected = match os {
            Some(DeviceKind::Android) => Some(Os::Iphone),
            Some(DeviceKind::Iphone) => Some(Os::Android),
            _ => None,
        };
    }
    tap.fault = how.fault.map(fault_file);
    tap
}

fn fault_file(fault: TapFault) -> RawFault {
    let kind = |kind: &str| kind.to_owned();
    match (fault, fault.backend()) {
        (_, Some(backend)) => RawFault { kind: backend.kind().to_owned(), ..RawFault::default() },
        (TapFault::RemovedAtOnce, _) => RawFault { kind: kind("remove_after"), apdus: Some(0), ..RawFault::default() },
        (TapFault::CorruptSignature, _) => RawFault { kind: kind("corrupt_response"), command: Some("sign".into()), ..RawFault::default() },
        (_, None) => RawFault { kind: kind("wrong_status"), command: Some("sign".into()), sw: Some("6F00".into()), ..RawFault::default() },
    }
}
