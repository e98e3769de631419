//! The fault layer: the faults of docs/scenario-format.md, when each fires ([`FaultPlan`]), and
//! [`Faulty`], which wraps any transport to inject them.

use std::time::Duration;

use serde::Serialize;

use super::{Transport, TransportError};

/// Which command a fault hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultTarget {
    /// The N-th command APDU of the tap, from 1.
    Apdu(usize),
    /// The first command of this kind in the tap.
    Command(CommandKind),
}

/// A command kind, by INS byte, so a fault means the same whichever reader sends the commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandKind {
    /// `A4`: SELECT.
    Select,
    /// `B0`: READ BINARY.
    Read,
    /// `20`: VERIFY.
    Verify,
    /// `2A`: the sign command (PERFORM SECURITY OPERATION).
    Sign,
}

impl CommandKind {
    /// The kind of a command's bytes (`None`: another INS).
    pub fn of(command: &[u8]) -> Option<Self> {
        match command.get(1)? {
            0xA4 => Some(Self::Select),
            0xB0 => Some(Self::Read),
            0x20 => Some(Self::Verify),
            0x2A => Some(Self::Sign),
            _ => None,
        }
    }
    /// Every kind.
    pub const ALL: [Self; 4] = [Self::Select, Self::Read, Self::Verify, Self::Sign];
    /// The scenario format's name (`select`, `read`, `verify`, `sign`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Select => "select",
            Self::Read => "read",
            Self::Verify => "verify",
            Self::Sign => "sign",
        }
    }
    /// The kind of a scenario name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "select" => Some(Self::Select),
            "read" => Some(Self::Read),
            "verify" => Some(Self::Verify),
            "sign" => Some(Self::Sign),
            _ => None,
        }
    }
}

/// A fault injected into one tap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Fault {
    /// The phone leaves the field after this many command APDUs.
    /// How many commands are answered before the phone leaves.
    RemoveAfter {
        /// Commands answered before the phone leaves.
        apdus: usize,
    },
    /// Every data byte of the response is inverted; length and status word are kept.
    /// Which command's answer is corrupted.
    CorruptResponse {
        /// Which command's answer.
        target: FaultTarget,
    },
    /// The status word is replaced.
    /// Which command's status word is replaced, and by what.
    WrongStatus {
        /// Which command's status word.
        target: FaultTarget,
        /// The status word sent instead.
        sw: u16,
    },
    /// The response comes this late.
    /// Which command's answer is late, and by how much.
    Delay {
        /// Which command's answer.
        target: FaultTarget,
        /// How late, in milliseconds.
        ms: u64,
    },
}

impl Fault {
    /// The command a fault hits (`None` for a removal, which hits whatever comes next).
    pub fn target(&self) -> Option<FaultTarget> {
        match *self {
            Self::CorruptResponse { target } | Self::WrongStatus { target, .. } | Self::Delay { target, .. } => Some(target),
            Self::RemoveAfter { .. } => None,
        }
    }
}

/// As a scenario writes it, e.g. `{ kind: corrupt_response, command: sign }`.
impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let target = |target: &FaultTarget| match target {
            FaultTarget::Apdu(n) => format!("apdu: {n}"),
            FaultTarget::Command(kind) => format!("command: {}", kind.name()),
        };
        match self {
            Self::RemoveAfter { apdus } => write!(f, "{{ kind: remove_after, apdus: {apdus} }}"),
            Self::CorruptResponse { target: t } => write!(f, "{{ kind: corrupt_response, {} }}", target(t)),
            Self::WrongStatus { target: t, sw } => write!(f, "{{ kind: wrong_status, {}, sw: \"{sw:04X}\" }}", target(t)),
            Self::Delay { target: t, ms } => write!(f, "{{ kind: delay, {}, ms: {ms} }}", target(t)),
        }
    }
}

/// What the fault plan says about one command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultDecision {
    /// Pass it through; `hit` when the fault applies to its response.
    /// Whether the fault applies to this command's response.
    Pass {
        /// The fault applies to this command's response.
        hit: bool,
    },
    /// The card is gone.
    Removed,
}

/// The sans-IO part of fault injection: counts commands and decides; wrappers apply it.
#[derive(Debug, Clone)]
pub struct FaultPlan {
    fault: Option<Fault>,
    sent: usize,
    /// The targeted command has come (a fault hits once).
    targeted: bool,
    /// What the terminal received changed because of the fault.
    took_effect: bool,
    /// After a removal the card was held again (contract 1.3): it is in the field once more.
    returned: bool,
}

impl FaultPlan {
    /// A plan for one tap (`None`: no fault).
    pub fn new(fault: Option<Fault>) -> Self {
        Self { fault, sent: 0, targeted: false, took_effect: false, returned: false }
    }

    /// Whether the card is still in the field.
    pub fn card_present(&self) -> bool {
        self.returned || !matches!(self.fault, Some(Fault::RemoveAfter { apdus }) if self.sent >= apdus)
    }

    /// The removed card is held again: from now on it answers every command as it comes.
    /// Returns false (and changes nothing) unless the card had left the field.
    pub fn hold_again(&mut self) -> bool {
        if self.card_present() {
            return false;
        }
        self.returned = true;
        true
    }

    /// What to do with the next command (counts it).
    pub fn before(&mut self, command: &[u8]) -> FaultDecision {
        if !self.card_present() {
            // The reader tried to go on after the card left: the removal took effect.
            self.took_effect = true;
            return FaultDecision::Removed;
        }
        self.sent += 1;
        let Some(target) = self.fault.as_ref().and_then(Fault::target) else {
            return FaultDecision::Pass { hit: false };
        };
        let hit = !self.targeted
            && match target {
                FaultTarget::Apdu(n) => n == self.sent,
                FaultTarget::Command(kind) => CommandKind::of(command) == Some(kind),
            };
        self.targeted |= hit;
        FaultDecision::Pass { hit }
    }

    /// Whether the fault took effect: it changed what the terminal received (the bytes or the
    /// status word of the targeted answer: `corrupt_response`, `wrong_status`), held that answer
    /// back (`delay`), or the terminal went on after a removal (`remove_after`). A corruption of
    /// an answer without data, or a status word replaced by itself, changed nothing: it did not
    /// take effect, and a fault that never took effect tested nothing. `None` without a fault.
    pub fn fired(&self) -> Option<bool> {
        self.fault.map(|_| self.took_effect)
    }

    /// Notes that the targeted answer was held back in real time (async transports, vpcd).
    pub fn mark_delayed(&mut self) {
        self.took_effect = true;
    }

    /// Applies the fault to the targeted response. `timeout_ms` is how long the terminal waits.
    pub fn apply(&mut self, response: Vec<u8>, timeout_ms: u64) -> Result<Vec<u8>, TransportError> {
        let applied = Self::altered(self.fault, response.clone(), timeout_ms);
        let delayed = matches!(self.fault, Some(Fault::Delay { .. }));
        self.took_effect |= delayed || applied.as_ref() != Ok(&response);
        applied
    }

    fn altered(fault: Option<Fault>, mut response: Vec<u8>, timeout_ms: u64) -> Result<Vec<u8>, TransportError> {
        match fault {
            Some(Fault::CorruptResponse { .. }) => {
                let data_len = response.len().saturating_sub(2);
                for byte in response.iter_mut().take(data_len) {
                    *byte ^= 0xFF;
                }
                Ok(response)
            }
            Some(Fault::WrongStatus { sw, .. }) => {
                let data_len = response.len().saturating_sub(2);
                response.truncate(data_len);
                response.extend_from_slice(&sw.to_be_bytes());
                Ok(response)
            }
            Some(Fault::Delay { ms, .. }) if ms > timeout_ms => Err(TransportError::Timeout { ms: timeout_ms }),
            _ => Ok(response),
        }
    }

    /// How long the response is held back (for transports with real time).
    pub fn delay(&self) -> Option<Duration> {
        match self.fault {
            Some(Fault::Delay { ms, .. }) => Some(Duration::from_millis(ms)),
            _ => None,
        }
    }
}

/// Wraps a transport and injects one fault. Delays are judged against the terminal's timeout
/// without sleeping (virtual time), so a fault suite runs in microseconds.
#[derive(Debug)]
pub struct Faulty<T> {
    inner: T,
    plan: FaultPlan,
    timeout_ms: u64,
    /// A removed card is held again (contract 1.3, `held_again`).
    held_again: bool,
}

impl<T> Faulty<T> {
    /// `inner` with `fault` applied, delays judged against `timeout_ms` without sleeping.
    pub fn new(inner: T, fault: Option<Fault>, timeout_ms: u64) -> Self {
        Self { inner, plan: FaultPlan::new(fault), timeout_ms, held_again: false }
    }
    /// With `held_again`, a card removed by the fault is held again once the terminal has met
    /// the removal ([`Transport::held_again`]).
    pub fn held_again(mut self, held_again: bool) -> Self {
        self.held_again = held_again;
        self
    }
    /// The wrapped transport.
    pub fn into_inner(self) -> T {
        self.inner
    }
    /// See [`FaultPlan::fired`].
    pub fn fault_fired(&self) -> Option<bool> {
        self.plan.fired()
    }
    /// The wrapped transport, for a driver that layers the same faults over a transport of its
    /// own kind (mynatap-drivers' async transports).
    pub fn inner_mut(&mut self) -> &mut T {
        &mut self.inner
    }
    /// When the fault fires, for the same drivers.
    pub fn plan_mut(&mut self) -> &mut FaultPlan {
        &mut self.plan
    }
    /// The terminal's timeout the fault's delay is judged against.
    pub fn timeout_ms(&self) -> u64 {
        self.timeout_ms
    }
    /// Whether a removed card is held again (see [`Faulty::held_again`]).
    pub fn holds_again(&self) -> bool {
        self.held_again
    }
}

impl<T: Transport> Transport for Faulty<T> {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        match self.plan.before(command) {
            FaultDecision::Removed => Err(TransportError::CardRemoved),
            FaultDecision::Pass { hit: false } => self.inner.transmit(command),
            FaultDecision::Pass { hit: true } => {
                let response = self.inner.transmit(command)?;
                self.plan.apply(response, self.timeout_ms)
            }
        }
    }
    fn atr(&mut self) -> Result<Vec<u8>, TransportError> {
        if self.plan.card_present() { self.inner.atr() } else { Err(TransportError::CardRemoved) }
    }
    fn card_present(&mut self) -> bool {
        self.plan.card_present() && self.inner.card_present()
    }
    fn held_again(&mut self) -> bool {
        if self.held_again && self.plan.hold_again() {
            self.inner.power_cycle();
            return true;
        }
        false
    }
}
