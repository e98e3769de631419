//! A tap in the world: the tapped device's card lent to a driver with the tap's request, the back
//! ends with the step's fault, and given back after.

use super::*;

impl World {
    fn terminal_id(&self, spec: &TapSpec) -> Result<String, WorldError> {
        match &spec.terminal {
            Some(id) if self.terminals.contains_key(id) => Ok(id.clone()),
            Some(id) => Err(WorldError::UnknownTerminal(id.clone())),
            None if self.terminals.len() == 1 => Ok(self.terminals.keys().next().cloned().unwrap_or_default()),
            None => Err(WorldError::AmbiguousTerminal),
        }
    }

    /// Takes the tapped device's card out (to lend it to the transport), with the request.
    fn prepare(&mut self, spec: &TapSpec) -> Result<(String, Card, TapRequest), WorldError> {
        self.end_raw_session();
        let terminal = self.terminal_id(spec)?;
        let (device, card, right_pin) = match &spec.target {
            TapTarget::Phone(id) => {
                let phone = self.phones.get_mut(id).ok_or_else(|| WorldError::UnknownPhone(id.clone()))?;
                let card = phone.card.take().ok_or_else(|| WorldError::Task(format!("phone {id} is busy")))?;
                (phone.os, card, phone.pin.clone())
            }
            TapTarget::Card(person) => {
                let device = self.people.get_mut(person).ok_or_else(|| WorldError::UnknownPerson(person.clone()))?;
                let card = device.card.take().ok_or_else(|| WorldError::Task(format!("card of {person} is busy")))?;
                (DeviceKind::Card, card, device.pin.clone())
            }
        };
        let mut card = card;
        // Entering the field powers the device up: nothing is selected or verified yet.
        card.reset();
        card.set_user_verified(spec.user_verified);
        let selected = match spec.target {
            TapTarget::Card(_) => DeviceKind::Card,
            TapTarget::Phone(_) => spec.os_selected.unwrap_or(device),
        };
        let auth = match spec.face {
            // The camera reads verification number B off the card's face (phones have none).
            Some(face_match) => CardAuth::Face { surface: card.printed_number_b().unwrap_or_default().to_owned(), face_match },
            None => CardAuth::Pin,
        };
        let request = TapRequest { selected, pin: spec.pin.clone().unwrap_or(right_pin), consent: spec.consent, now: self.now, auth, contract: self.contract };
        Ok((terminal, card, request))
    }

    pub(super) fn give_back(&mut self, target: &TapTarget, mut card: Card) {
        // Leaving the field drops every unlock.
        card.reset();
        match target {
            TapTarget::Phone(id) => {
                if let Some(phone) = self.phones.get_mut(id) {
                    phone.card = Some(card);
                }
            }
            TapTarget::Card(person) => {
                if let Some(device) = self.people.get_mut(person) {
                    device.card = Some(card);
                }
            }
        }
    }

    /// One full patient flow over the direct in-memory transport.
    pub fn tap(&mut self, spec: &TapSpec) -> Result<TapReport, WorldError> {
        let fault = spec.fault;
        self.tap_with(spec, |mut card, tap, backends, timeout_ms| {
            let mut transcript = Vec::new();
            let mut transport = Faulty::new(DirectTransport::new(&mut card), fault, timeout_ms).held_again(spec.moves.held_again);
            let outcome = run_tap(tap, &mut transport, backends, Some(&mut transcript));
            let fault_fired = transport.fault_fired();
            (Some(card), Ok(TapReport { outcome, transcript, fault_fired }))
        })
    }

    /// Runs a tap with any driver: `drive` gets the tapped device's card (powered up, with the
    /// FLOW-3 unlock as the spec says), the tap, the back ends (with the step's back-end fault)
    /// and the terminal's timeout, and must hand the card back. Used for transports outside this
    /// crate (PC/SC through vpcd).
    pub fn tap_with<F>(&mut self, spec: &TapSpec, drive: F) -> Result<TapReport, WorldError>
    where
        F: FnOnce(Card, Tap<'_>, &FaultyBackends<'_>, u64) -> (Option<Card>, Result<TapReport, WorldError>),
    {
        let (terminal_id, card, request) = self.prepare(spec)?;
        let (card, report) = match self.terminals.get_mut(&terminal_id) {
            Some(terminal) => {
                let (timeout_ms, backend_timeout_ms) = (terminal.config().timeout_ms, terminal.config().backend_timeout_ms);
                let backends = FaultyBackends::new(&self.registry, spec.backend_fault, self.now, backend_timeout_ms);
                drive(card, terminal.start_tap(request), &backends, timeout_ms)
            }
            None => (Some(card), Err(WorldError::UnknownTerminal(terminal_id))),
        };
        match card {
            Some(card) => self.give_back(&spec.target, card),
            None => return Err(WorldError::Task("the driver lost the tapped device".into())),
        }
        report
    }
}
