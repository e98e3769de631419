//! Raw APDU steps: a device held in the field outside any tap, for captures and profile checks
//! (scenario steps `apdu` and `reset`).

use super::{TapTarget, World, WorldError};
use crate::card::Card;

impl World {
    /// What a raw APDU step names: a phone id, or a person id for that person's physical card
    /// (phones first: the scenario loader refuses a name that is both).
    pub fn device_target(&self, device: &str) -> Result<TapTarget, WorldError> {
        if self.phones.contains_key(device) {
            Ok(TapTarget::Phone(device.to_owned()))
        } else if self.people.contains_key(device) {
            Ok(TapTarget::Card(device.to_owned()))
        } else {
            Err(WorldError::UnknownDevice(device.to_owned()))
        }
    }

    fn card_mut(&mut self, target: &TapTarget) -> Result<&mut Card, WorldError> {
        let card = match target {
            TapTarget::Phone(id) => self.phones.get_mut(id).and_then(|phone| phone.card.as_mut()),
            TapTarget::Card(person) => self.people.get_mut(person).and_then(|device| device.card.as_mut()),
        };
        card.ok_or_else(|| WorldError::Task("the device is lent out".into()))
    }

    /// Power-on of a device entering the field for raw steps: nothing selected or verified; the
    /// person's Face ID is done (a capture of an iPhone is made with the phone unlocked).
    fn power_on(card: &mut Card) {
        card.reset();
        card.set_user_verified(true);
    }

    /// Sends one command APDU to a device outside any tap (scenario step `apdu`). The device stays
    /// in the field between raw steps: what one step selects or verifies holds for the next.
    pub fn raw_exchange(&mut self, device: &str, command: &[u8]) -> Result<Vec<u8>, WorldError> {
        let target = self.device_target(device)?;
        if self.raw_session.as_ref() != Some(&target) {
            self.end_raw_session();
            Self::power_on(self.card_mut(&target)?);
            self.raw_session = Some(target.clone());
        }
        Ok(self.card_mut(&target)?.process_bytes(command))
    }

    /// Powers a device off and on (scenario step `reset`): selections and unlocks are gone,
    /// retry counters stay.
    pub fn raw_reset(&mut self, device: &str) -> Result<(), WorldError> {
        let target = self.device_target(device)?;
        if self.raw_session.as_ref() != Some(&target) {
            self.end_raw_session();
        }
        Self::power_on(self.card_mut(&target)?);
        self.raw_session = Some(target);
        Ok(())
    }

    /// Takes the device held by raw steps out of the field (before any other step).
    pub fn end_raw_session(&mut self) {
        if let Some(target) = self.raw_session.take()
            && let Ok(card) = self.card_mut(&target)
        {
            card.reset();
        }
    }

    /// Lends a device's card to a driver for raw steps over another transport (PC/SC), powered
    /// on as [`raw_exchange`](Self::raw_exchange) does; give it back with
    /// [`return_device`](Self::return_device).
    pub fn lend_device(&mut self, device: &str) -> Result<(TapTarget, Card), WorldError> {
        self.end_raw_session();
        let target = self.device_target(device)?;
        let slot = match &target {
            TapTarget::Phone(id) => self.phones.get_mut(id).map(|phone| &mut phone.card),
            TapTarget::Card(person) => self.people.get_mut(person).map(|device| &mut device.card),
        };
        let mut card = slot.and_then(Option::take).ok_or_else(|| WorldError::Task(format!("device {device} is busy")))?;
        Self::power_on(&mut card);
        Ok((target, card))
    }

    /// Takes back a device lent with [`lend_device`](Self::lend_device).
    pub fn return_device(&mut self, target: &TapTarget, card: Card) {
        self.give_back(target, card);
    }
}
