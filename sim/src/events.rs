//! Domain events as data: what can happen to one person's card and phones, applied to a
//! [`World`] and written as the steps of a scenario file (docs/scenario-format.md), so a sequence
//! found by a property test replays with `mynatap run`.

use std::fmt::Write as _;

use time::Duration;

use crate::profile::DeviceKind;
use crate::terminal::Outcome;
use crate::world::{TapSpec, World, WorldError};

/// One event of the registry's life, or a tap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    AddPhone { phone: String, os: DeviceKind },
    RemovePhone { phone: String },
    ReportLost { phone: String },
    Resume { phone: String },
    RevokeCard,
    RenewCard,
    RegisterInsurance,
    AdvanceDays(i64),
    /// Minutes, so a life can stop in the last second of a day and step past it.
    AdvanceMinutes(i64),
    TapPhone { phone: String },
    TapCard,
}

/// What an event came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventResult {
    Done,
    Failed(&'static str),
    Tapped(Outcome),
}

impl EventResult {
    /// As the scenario format writes it: `ok`, `error: code`, `verified`, `rejected: reason`.
    pub fn label(&self) -> String {
        match self {
            Self::Done => "ok".into(),
            Self::Failed(code) => format!("error: {code}"),
            Self::Tapped(outcome) => outcome.reason().map_or_else(|| outcome.name().to_owned(), |reason| format!("rejected: {reason}")),
        }
    }
}

impl Event {
    /// The phone an event names, if any.
    pub fn phone(&self) -> Option<&str> {
        match self {
            Self::AddPhone { phone, .. } | Self::RemovePhone { phone } | Self::ReportLost { phone } | Self::Resume { phone } | Self::TapPhone { phone } => {
                Some(phone)
            }
            _ => None,
        }
    }

    /// Applies the event to `person`'s world. A phone whose every add_phone was refused is
    /// unknown to the world: events naming it come to `Failed("unknown_phone")`.
    pub fn apply(&self, world: &mut World, person: &str) -> Result<EventResult, WorldError> {
        if let Some(phone) = self.phone()
            && !matches!(self, Self::AddPhone { .. })
            && !world.has_phone(phone)
        {
            return Ok(EventResult::Failed("unknown_phone"));
        }
        let done = |result: Result<(), WorldError>| -> Result<EventResult, WorldError> {
            match result {
                Ok(()) => Ok(EventResult::Done),
                Err(WorldError::Registry(error)) => Ok(EventResult::Failed(error.code())),
                Err(other) => Err(other),
            }
        };
        match self {
            Self::AddPhone { phone, os } => done(world.add_phone(person, phone, (*os, None), None)),
            Self::RemovePhone { phone } => done(world.remove_phone(phone)),
            Self::ReportLost { phone } => done(world.report_lost(phone)),
            Self::Resume { phone } => done(world.resume(phone)),
            Self::RevokeCard => done(world.revoke_card(person)),
            Self::RenewCard => done(world.renew_card(person, None)),
            Self::RegisterInsurance => done(world.register_insurance(person)),
            Self::AdvanceDays(days) => {
                world.advance_clock(Duration::days(*days))?;
                Ok(EventResult::Done)
            }
            Self::AdvanceMinutes(minutes) => {
                world.advance_clock(Duration::minutes(*minutes))?;
                Ok(EventResult::Done)
            }
            Self::TapPhone { phone } => Ok(EventResult::Tapped(world.tap(&TapSpec::phone(phone))?.outcome)),
            Self::TapCard => Ok(EventResult::Tapped(world.tap(&TapSpec::card(person))?.outcome)),
        }
    }

    /// The event as one step of a scenario file, expecting `expected` (a [`EventResult::label`]).
    pub fn yaml_step(&self, person: &str, expected: &str) -> String {
        let action = match self {
            Self::AddPhone { phone, os } => format!("add_phone: {{ person: {person}, phone: {phone}, os: {os} }}"),
            Self::RemovePhone { phone } => format!("remove_phone: {{ phone: {phone} }}"),
            Self::ReportLost { phone } => format!("report_lost: {{ phone: {phone} }}"),
            Self::Resume { phone } => format!("resume: {{ phone: {phone} }}"),
            Self::RevokeCard => format!("revoke_card: {{ person: {person} }}"),
            Self::RenewCard => format!("renew_card: {{ person: {person} }}"),
            Self::RegisterInsurance => format!("register_insurance: {{ person: {person} }}"),
            Self::AdvanceDays(days) => format!("advance_clock: {{ days: {days} }}"),
            Self::AdvanceMinutes(minutes) => format!("advance_clock: {{ minutes: {minutes} }}"),
            Self::TapPhone { phone } => format!("tap: {{ phone: {phone} }}"),
            Self::TapCard => format!("tap: {{ card: {person} }}"),
        };
        let expect = match expected.split_once(": ") {
            _ if expected == "ok" => String::new(),
            Some(("error", code)) => format!("\n    expect: {{ error: {code} }}"),
            Some(("rejected", reason)) => format!("\n    expect: {{ outcome: rejected, reason: {reason} }}"),
            _ => format!("\n    expect: {{ outcome: {expected} }}"),
        };
        format!("  - {action}{expect}\n")
    }
}

/// The fixed world property tests start from: one adult, `hanako`, with a card and no phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Start {
    pub clock: &'static str,
    pub birth_date: &'static str,
    pub card_cert_expires: &'static str,
    pub insurance_registered: bool,
    pub insurance_valid_until: &'static str,
}

/// A whole scenario file for `events`, each expecting what `expected` says.
pub fn scenario_yaml(id: &str, title: &str, start: &Start, events: &[(Event, String)]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "id: {id}");
    let _ = writeln!(out, "title: {title}");
    let _ = writeln!(out, "covers: [Q14, Q18, Q19, Q20, SETUP-1]");
    let _ = writeln!(out, "world:");
    let _ = writeln!(out, "  clock: {}", start.clock);
    let _ = writeln!(out, "  people:");
    let _ = writeln!(out, "    - id: hanako");
    let _ = writeln!(out, "      birth_date: {}", start.birth_date);
    let _ = writeln!(out, "      card: {{ cert_expires: {} }}", start.card_cert_expires);
    let _ = writeln!(
        out,
        "      insurance: {{ registered: {}, insurer: \"06132013\", valid_until: {} }}",
        start.insurance_registered, start.insurance_valid_until
    );
    let _ = writeln!(out, "steps:");
    if events.is_empty() {
        out.push_str("  - advance_clock: { days: 0 }\n");
    }
    for (event, expected) in events {
        out.push_str(&event.yaml_step("hanako", expected));
    }
    out
}
