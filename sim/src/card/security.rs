//! What the card guards: VERIFY with its retry counters, the signature over a challenge, and the
//! final command that ends a signing session.

use super::*;

impl Card {
    pub(super) fn pin_of(&self, ef: Ef) -> Option<PinRef> {
        match ef {
            Ef::AuthPin => Some(PinRef::Auth),
            Ef::SignPassword => Some(PinRef::SignPassword),
            Ef::CardInfoPin => Some(PinRef::CardInfo),
            Ef::NumberA => Some(PinRef::NumberA),
            Ef::NumberB => Some(PinRef::NumberB),
            Ef::BirthDateKey => Some(PinRef::BirthDate),
            _ => None,
        }
    }

    pub(super) fn verify(&mut self, command: &CommandApdu) -> ResponseApdu {
        if command.p1 != 0x00 || command.p2 != 0x80 {
            return ResponseApdu::status(StatusWord::WRONG_P1_P2);
        }
        let Some(pin) = self.volatile.ef.and_then(|ef| self.pin_of(ef)) else {
            return ResponseApdu::status(StatusWord::NO_CURRENT_EF);
        };
        if matches!(pin, PinRef::Auth | PinRef::SignPassword) && self.profile.unlock == Unlock::UserPresence {
            // An iPhone's key opens with Face ID / Touch ID only; a VERIFY changes nothing.
            let sw = self.profile.verify_refused_with.as_ref().and_then(|sw| <[u8; 2]>::try_from(sw.0.as_slice()).ok());
            return ResponseApdu::status(sw.map_or(StatusWord::SECURITY_STATUS_NOT_SATISFIED, |sw| StatusWord(u16::from_be_bytes(sw))));
        }
        if command.data.len() > 64 {
            return ResponseApdu::status(StatusWord::WRONG_LENGTH);
        }
        let (counter, max, secret, verified) = match pin {
            PinRef::Auth => (&mut self.counters.auth, self.profile.auth_pin.max_tries, &self.secrets.auth_pin, &mut self.volatile.auth_verified),
            PinRef::SignPassword => {
                (&mut self.counters.sign_password, self.profile.sign_password.max_tries, &self.secrets.sign_password, &mut self.volatile.sign_verified)
            }
            PinRef::CardInfo => (
                &mut self.counters.card_info,
                self.profile.card_info.as_ref().map_or(0, |app| app.pin_policy.max_tries),
                &self.secrets.card_info_pin,
                &mut self.volatile.card_info_verified,
            ),
            PinRef::NumberA => (
                &mut self.counters.number_a,
                self.profile.card_surface.as_ref().map_or(0, |app| app.max_tries),
                &self.secrets.number_a,
                &mut self.volatile.number_a_verified,
            ),
            PinRef::NumberB => (
                &mut self.counters.number_b,
                self.profile.card_surface.as_ref().map_or(0, |app| app.max_tries),
                &self.secrets.number_b,
                &mut self.volatile.number_b_verified,
            ),
            PinRef::BirthDate => (
                &mut self.counters.birth_date,
                self.profile.card_surface.as_ref().map_or(0, |app| app.max_tries),
                &self.secrets.birth_date_key,
                &mut self.volatile.birth_date_verified,
            ),
        };
        if *counter == 0 {
            return ResponseApdu::status(StatusWord::PIN_BLOCKED);
        }
        if command.data.is_empty() {
            // Reading the counter spends no try.
            return ResponseApdu::status(StatusWord::tries_left(*counter));
        }
        if constant_time_eq(&command.data, secret) {
            *counter = max;
            *verified = true;
            ResponseApdu::status(StatusWord::SUCCESS)
        } else {
            *counter -= 1;
            *verified = false;
            ResponseApdu::status(StatusWord::tries_left(*counter))
        }
    }

    pub(super) fn sign(&mut self, command: &CommandApdu) -> ResponseApdu {
        if command.p1 == 0x00 && command.p2 == 0x00 && self.volatile.application == Some(Application::CardSurface) {
            // The card's own key (P2 00: the application's default key) answers anyone: proving
            // this chip holds the key its signed records carry is its whole purpose.
            return match self.secrets.surface_key.as_ref().map(|key| key.sign_card_data(&command.data)) {
                Some(Ok(signature)) => ResponseApdu::success(signature),
                Some(Err(SignError::Length(_))) => ResponseApdu::status(StatusWord::WRONG_LENGTH),
                Some(Err(SignError::Refused)) => ResponseApdu::status(StatusWord::WRONG_DATA),
                None => ResponseApdu::status(StatusWord::FILE_NOT_FOUND),
            };
        }
        if command.p1 != 0x00 || command.p2 != 0x80 {
            return ResponseApdu::status(StatusWord::WRONG_P1_P2);
        }
        let key = match self.volatile.ef {
            Some(Ef::AuthKey) => {
                let unlocked = match self.profile.unlock {
                    Unlock::Pin => self.volatile.auth_verified,
                    Unlock::UserPresence => self.volatile.user_verified,
                };
                if !unlocked {
                    return ResponseApdu::status(StatusWord::SECURITY_STATUS_NOT_SATISFIED);
                }
                &self.secrets.auth_key
            }
            Some(Ef::SignKey) => {
                let unlocked = match self.profile.unlock {
                    Unlock::Pin => self.volatile.sign_verified,
                    Unlock::UserPresence => self.volatile.user_verified,
                };
                if !unlocked {
                    return ResponseApdu::status(StatusWord::SECURITY_STATUS_NOT_SATISFIED);
                }
                &self.secrets.sign_key
            }
            _ => return ResponseApdu::status(StatusWord::NO_CURRENT_EF),
        };
        // RSA: DATA is a DigestInfo, padded by the card (public); ECDSA: the digest, answered
        // with r || s (modeled).
        match key.sign_card_data(&command.data) {
            Ok(signature) => ResponseApdu::success(signature),
            Err(SignError::Length(_)) => ResponseApdu::status(StatusWord::WRONG_LENGTH),
            Err(SignError::Refused) => ResponseApdu::status(StatusWord::WRONG_DATA),
        }
    }

    pub(super) fn final_command(&mut self, command: &CommandApdu) -> ResponseApdu {
        if !self.profile.answers_final_command {
            return ResponseApdu::status(StatusWord::WRONG_LENGTH);
        }
        if command.p1 != 0 || command.p2 != 0 {
            return ResponseApdu::status(StatusWord::WRONG_P1_P2);
        }
        ResponseApdu::status(StatusWord::SUCCESS)
    }
}

/// PIN comparison whose time does not depend on where the first difference is.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
