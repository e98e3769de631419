//! Validation of what befalls a tap: its fault (in the device's answers or the back ends') and how
//! the card moves (contract 1.3: `arrives`, `held_again`, `stays`).

use super::raw::*;
use super::validate::Validator;
use super::*;
use mynatap_sim::service::{BackendFault, ServiceKind};
use mynatap_sim::transport::{CommandKind, Fault, FaultTarget};
use mynatap_sim::world::{Arrival, CardMoves};

/// A `fault:` on a tap: in the device's answers or in the back ends'.
pub(super) enum AnyFault {
    Device(Fault),
    Backend(BackendFault),
}

/// A back-end delay longer than this is a typo, not a test (a real answer that late is a timeout).
const MAX_BACKEND_DELAY_MS: u64 = 60_000;

impl Validator<'_> {
    /// A tap's `arrives`, `held_again` and `stays` (contract 1.3).
    pub(super) fn card_moves(&self, path: &str, tap: &RawTap, fault: Option<Fault>) -> Result<CardMoves, LoadError> {
        let arrives = match tap.arrives.as_deref() {
            None => None,
            Some("before_request") => Some(Arrival::BeforeRequest),
            Some("after_request") => Some(Arrival::AfterRequest),
            Some(other) => return Err(self.error(&format!("{path}.arrives"), format!("unknown arrival `{other}` (expected before_request or after_request)"))),
        };
        for (field, given) in [("arrives", arrives.is_some()), ("held_again", tap.held_again.is_some()), ("stays", tap.stays.is_some())] {
            if given {
                self.since(&format!("{path}.{field}"), &format!("`{field}`"), Contract::V1_3)?;
            }
        }
        let moves = CardMoves { arrives, held_again: tap.held_again == Some(true), stays: tap.stays == Some(true) };
        if moves.held_again && !matches!(fault, Some(Fault::RemoveAfter { .. })) {
            return Err(self.error(&format!("{path}.held_again"), "`held_again` follows a removal: give the tap a `fault: { kind: remove_after, apdus: N }`"));
        }
        for (field, used) in [("held_again", moves.held_again), ("stays", moves.stays)] {
            if used && arrives.is_none() {
                return Err(self.error(
                    &format!("{path}.{field}"),
                    format!("`{field}` moves the card as a patient does: say when it arrives (`arrives: after_request` or `before_request`)"),
                ));
            }
        }
        Ok(moves)
    }

    pub(super) fn fault(&self, path: &str, raw: &RawFault) -> Result<AnyFault, LoadError> {
        let target = || -> Result<FaultTarget, LoadError> {
            match (raw.apdu, &raw.command) {
                (Some(0), None) => Err(self.error(&format!("{path}.apdu"), "commands count from 1")),
                (Some(n), None) => Ok(FaultTarget::Apdu(n)),
                (None, Some(command)) => CommandKind::parse(command)
                    .map(FaultTarget::Command)
                    .ok_or_else(|| self.error(&format!("{path}.command"), format!("unknown command `{command}` (expected select, read, verify or sign)"))),
                _ => Err(self.error(path, "name the command hit with exactly one of `apdu: N` or `command: select|read|verify|sign`")),
            }
        };
        let only = |allowed: &[&str]| -> Result<(), LoadError> {
            let given = [
                ("apdus", raw.apdus.is_some()),
                ("apdu", raw.apdu.is_some()),
                ("command", raw.command.is_some()),
                ("sw", raw.sw.is_some()),
                ("ms", raw.ms.is_some()),
                ("service", raw.service.is_some()),
            ];
            match given.iter().find(|(name, set)| *set && !allowed.contains(name)) {
                Some((name, _)) => Err(self.error(&format!("{path}.{name}"), format!("`{name}` does not belong to a `{}` fault", raw.kind))),
                None => Ok(()),
            }
        };
        match raw.kind.as_str() {
            "remove_after" => {
                only(&["apdus"])?;
                let apdus = raw.apdus.ok_or_else(|| self.error(path, "remove_after needs `apdus: N`"))?;
                Ok(AnyFault::Device(Fault::RemoveAfter { apdus }))
            }
            "corrupt_response" => {
                only(&["apdu", "command"])?;
                Ok(AnyFault::Device(Fault::CorruptResponse { target: target()? }))
            }
            "wrong_status" => {
                only(&["apdu", "command", "sw"])?;
                let text = raw.sw.as_deref().ok_or_else(|| self.error(path, "wrong_status needs `sw: \"6F00\"`"))?;
                let sw = u16::from_str_radix(text, 16)
                    .ok()
                    .filter(|_| text.len() == 4)
                    .ok_or_else(|| self.error(&format!("{path}.sw"), format!("expected a status word of 4 hex digits, got `{text}`")))?;
                Ok(AnyFault::Device(Fault::WrongStatus { target: target()?, sw }))
            }
            "delay" => {
                only(&["apdu", "command", "ms"])?;
                let ms = raw.ms.ok_or_else(|| self.error(path, "delay needs `ms: N`"))?;
                Ok(AnyFault::Device(Fault::Delay { target: target()?, ms }))
            }
            "backend_delay" => {
                self.since(&format!("{path}.kind"), "the `backend_delay` fault", Contract::V1_1)?;
                only(&["service", "ms"])?;
                let text = raw.service.as_deref().ok_or_else(|| self.error(path, "backend_delay needs `service: crl` or `service: eligibility`"))?;
                let service = ServiceKind::parse(text)
                    .ok_or_else(|| self.error(&format!("{path}.service"), format!("unknown service `{text}` (expected crl or eligibility)")))?;
                let ms = raw.ms.ok_or_else(|| self.error(path, "backend_delay needs `ms: N`"))?;
                if ms > MAX_BACKEND_DELAY_MS {
                    return Err(self.error(&format!("{path}.ms"), format!("expected at most {MAX_BACKEND_DELAY_MS} ms")));
                }
                Ok(AnyFault::Backend(BackendFault::BackendDelay { service, ms }))
            }
            other => match BackendFault::WITHOUT_FIELDS.into_iter().find(|fault| fault.kind() == other) {
                Some(fault) => {
                    only(&[])?;
                    let version = if fault.crl_defect().is_some() { Contract::V1_3 } else { Contract::V1_1 };
                    self.since(&format!("{path}.kind"), &format!("the `{other}` fault"), version)?;
                    Ok(AnyFault::Backend(fault))
                }
                None => {
                    Err(self.error(&format!("{path}.kind"), format!("unknown fault `{other}` (expected one of {})", super::schema::FAULT_KINDS.join(", "))))
                }
            },
        }
    }
}
