//! Validation of the steps: actions and expectations (faults and card movements in `faults`).

use std::collections::HashSet;

use mynatap_sim::terminal::{Consent, OutcomeKind, Reason};
use mynatap_sim::transport::{CommandKind, FaultTarget};
use mynatap_sim::world::{TapSpec, TapTarget};
use time::Duration;

use super::faults::AnyFault;
use super::raw::*;
use super::validate::Validator;
use mynatap_sim::apdu::MAX_COMMAND_LEN;

use super::{Action, ApduExpect, ERROR_CODES, Expectation, LoadError, TapExpect};
use mynatap_sim::contract::Contract;

impl Validator<'_> {
    pub(super) fn action(
        &self,
        path: &str,
        raw: RawAction<'_>,
        people: &HashSet<String>,
        phones: &mut HashSet<String>,
        terminals: &HashSet<String>,
    ) -> Result<Action, LoadError> {
        Ok(match raw {
            RawAction::Tap(tap) => {
                let path = format!("{path}.tap");
                match (&tap.phone, &tap.card) {
                    (Some(phone), None) => self.known(&format!("{path}.phone"), "phone", phone, phones)?,
                    (None, Some(person)) => self.known(&format!("{path}.card"), "person", person, people)?,
                    _ => return Err(self.error(&path, "a tap names exactly one of `phone` or `card`")),
                }
                if tap.card.is_some() && tap.os_selected.is_some() {
                    return Err(self.error(&format!("{path}.os_selected"), "only a phone tap chooses a phone type"));
                }
                if tap.card.is_some() && tap.user_verified.is_some() {
                    return Err(self.error(
                        &format!("{path}.user_verified"),
                        "`user_verified` is Face ID / Touch ID on an iPhone (FLOW-3); a card tap proves its holder with `pin` or `auth: face`",
                    ));
                }
                if let Some(terminal) = &tap.terminal {
                    self.known(&format!("{path}.terminal"), "terminal", terminal, terminals)?;
                } else if terminals.len() > 1 {
                    return Err(self.error(&path, "several terminals in the world: name one with `terminal`"));
                }
                let fault = tap.fault.as_ref().map(|fault| self.fault(&format!("{path}.fault"), fault)).transpose()?;
                let (fault, backend_fault) = match fault {
                    Some(AnyFault::Device(fault)) => (Some(fault), None),
                    Some(AnyFault::Backend(fault)) => (None, Some(fault)),
                    None => (None, None),
                };
                let target = match (&tap.phone, &tap.card) {
                    (Some(phone), _) => TapTarget::Phone(phone.clone()),
                    (None, person) => TapTarget::Card(person.clone().unwrap_or_default()),
                };
                if tap.auth.is_some() {
                    self.since(&format!("{path}.auth"), "`auth`", Contract::V1_1)?;
                }
                if tap.face_match.is_some() {
                    self.since(&format!("{path}.face_match"), "`face_match`", Contract::V1_1)?;
                }
                let face = match tap.auth.as_deref() {
                    None | Some("pin") => None,
                    Some("face") => Some(tap.face_match.unwrap_or(true)),
                    Some(other) => return Err(self.error(&format!("{path}.auth"), format!("unknown auth `{other}` (expected pin or face)"))),
                };
                if face.is_some() && tap.phone.is_some() {
                    return Err(
                        self.error(&format!("{path}.auth"), "`auth: face` is the physical card's path (tap `card: <person>`); a phone has no card surface")
                    );
                }
                if face.is_none() && tap.face_match.is_some() {
                    return Err(self.error(&format!("{path}.face_match"), "`face_match` belongs to `auth: face`"));
                }
                if face.is_some() && tap.pin.is_some() {
                    return Err(self.error(&format!("{path}.pin"), "no PIN is typed with `auth: face`"));
                }
                if face.is_some() && fault.and_then(|fault| fault.target()) == Some(FaultTarget::Command(CommandKind::Sign)) {
                    return Err(self.error(
                        &format!("{path}.fault.command"),
                        "a face tap makes no signature, so this fault could never take effect: aim it at `select`, `read` or `verify`",
                    ));
                }
                let moves = self.card_moves(&path, tap, fault)?;
                Action::Tap(TapSpec {
                    moves,
                    target,
                    terminal: tap.terminal.clone(),
                    user_verified: tap.user_verified.unwrap_or(true),
                    pin: tap.pin.clone(),
                    os_selected: tap.os_selected.map(Os::device),
                    consent: tap.consent.as_ref().map(|consent| self.consent(&format!("{path}.consent"), consent)).transpose()?.unwrap_or_default(),
                    fault,
                    backend_fault,
                    face,
                })
            }
            RawAction::AddPhone(add) => {
                self.known(&format!("{path}.add_phone.person"), "person", &add.person, people)?;
                if let Some(pin) = &add.pin {
                    self.pin(&format!("{path}.add_phone.pin"), Some(pin))?;
                }
                phones.insert(add.phone.clone());
                let key = self.key_algorithm(&format!("{path}.add_phone.key"), add.key.as_deref())?;
                Action::AddPhone { person: add.person.clone(), phone: add.phone.clone(), os: add.os.device(), key, pin: add.pin.clone() }
            }
            RawAction::RemovePhone(r) => {
                self.known(&format!("{path}.remove_phone.phone"), "phone", &r.phone, phones)?;
                Action::RemovePhone { phone: r.phone.clone() }
            }
            RawAction::ReportLost(r) => {
                self.known(&format!("{path}.report_lost.phone"), "phone", &r.phone, phones)?;
                Action::ReportLost { phone: r.phone.clone() }
            }
            RawAction::Resume(r) => {
                self.known(&format!("{path}.resume.phone"), "phone", &r.phone, phones)?;
                Action::Resume { phone: r.phone.clone() }
            }
            RawAction::RevokeCard(r) => {
                self.known(&format!("{path}.revoke_card.person"), "person", &r.person, people)?;
                Action::RevokeCard { person: r.person.clone() }
            }
            RawAction::RenewCard(r) => {
                self.known(&format!("{path}.renew_card.person"), "person", &r.person, people)?;
                let cert_expires = r.cert_expires.as_ref().map(|d| self.certificate_end(&format!("{path}.renew_card.cert_expires"), d)).transpose()?;
                Action::RenewCard { person: r.person.clone(), cert_expires }
            }
            RawAction::RegisterInsurance(r) => {
                self.known(&format!("{path}.register_insurance.person"), "person", &r.person, people)?;
                Action::RegisterInsurance { person: r.person.clone() }
            }
            RawAction::AdvanceClock(a) => {
                if [a.days, a.hours, a.minutes].iter().all(Option::is_none) {
                    return Err(self.error(&format!("{path}.advance_clock"), "give `days`, `hours` or `minutes`"));
                }
                // Checked before any arithmetic: a huge count must be an error, not an overflow.
                if [a.days, a.hours, a.minutes].iter().flatten().any(|n| *n < 0 || *n > 100_000_000) {
                    return Err(self.error(&format!("{path}.advance_clock"), "the clock only moves forward (0 to 100000000 per unit)"));
                }
                let parts = [a.days.map(Duration::days), a.hours.map(Duration::hours), a.minutes.map(Duration::minutes)];
                Action::AdvanceClock(parts.into_iter().flatten().fold(Duration::ZERO, |a, b| a + b))
            }
            RawAction::Apdu(apdu) => {
                self.since(&format!("{path}.apdu"), "the `apdu` step", Contract::V1_1)?;
                self.device(&format!("{path}.apdu.device"), &apdu.device, people, phones)?;
                let command = self.hex(&format!("{path}.apdu.send"), &apdu.send)?;
                if command.len() < 4 || command.len() > MAX_COMMAND_LEN {
                    return Err(self.error(
                        &format!("{path}.apdu.send"),
                        format!("a command APDU is 4 to {MAX_COMMAND_LEN} bytes (CLA INS P1 P2, then Lc, data, Le), got {}", command.len()),
                    ));
                }
                Action::Apdu { device: apdu.device.clone(), command }
            }
            RawAction::Reset(reset) => {
                self.since(&format!("{path}.reset"), "the `reset` step", Contract::V1_1)?;
                self.device(&format!("{path}.reset.device"), &reset.device, people, phones)?;
                Action::Reset { device: reset.device.clone() }
            }
        })
    }

    /// A raw step's device: a phone id, or a person id for that person's physical card.
    fn device(&self, path: &str, id: &str, people: &HashSet<String>, phones: &HashSet<String>) -> Result<(), LoadError> {
        match (phones.contains(id), people.contains(id)) {
            (true, true) => Err(self.error(path, format!("`{id}` is both a phone and a person: give one of them another id"))),
            (true, false) | (false, true) => Ok(()),
            (false, false) => {
                let mut known: Vec<&str> = phones.iter().chain(people.iter()).map(String::as_str).collect();
                known.sort_unstable();
                let known = if known.is_empty() { "none".to_owned() } else { known.join(", ") };
                Err(self.error(path, format!("unknown device `{id}`: name a phone, or a person for their card (known: {known})")))
            }
        }
    }

    /// Bytes written in hex; spaces between them are allowed.
    fn hex(&self, path: &str, text: &str) -> Result<Vec<u8>, LoadError> {
        let digits: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        if let Some((at, bad)) = digits.char_indices().find(|(_, c)| !c.is_ascii_hexdigit()) {
            return Err(self.error(path, format!("expected hex digits (0-9, A-F), got `{bad}` at digit {}", at + 1)));
        }
        if digits.len() % 2 == 1 {
            return Err(self.error(path, format!("{} hex digits, an odd number: each byte is two digits", digits.len())));
        }
        // Spaces only between whole bytes: `"0 0A4..."` is a typo, not `00 A4`.
        mynatap_sim::apdu::parse_hex(text).map_err(|error| self.error(path, error.to_string()))
    }

    fn apdu_expect(&self, path: &str, raw: Option<RawExpect>) -> Result<Expectation, LoadError> {
        let Some(raw) = raw else { return Ok(Expectation::Apdu(ApduExpect { sw: 0x9000, data: None, data_len: None, data_prefix: None })) };
        let path = format!("{path}.expect");
        let other = [
            ("outcome", raw.outcome.is_some()),
            ("reason", raw.reason.is_some()),
            ("insurer", raw.insurer.is_some()),
            ("consent", raw.consent.is_some()),
            ("grace", raw.grace.is_some()),
            ("expiring_soon", raw.expiring_soon.is_some()),
            ("copay", raw.copay.is_some()),
            ("error", raw.error.is_some()),
        ];
        if let Some((name, _)) = other.iter().find(|(_, given)| *given) {
            return Err(self.error(&format!("{path}.{name}"), "an `apdu` step expects `sw`, and optionally `data`, `data_len` or `data_prefix`"));
        }
        let sw = match raw.sw.as_deref() {
            None => 0x9000,
            Some(text) => u16::from_str_radix(text, 16)
                .ok()
                .filter(|_| text.len() == 4)
                .ok_or_else(|| self.error(&format!("{path}.sw"), format!("expected a status word of 4 hex digits such as \"9000\", got `{text}`")))?,
        };
        let data = raw.data.as_deref().map(|text| self.hex(&format!("{path}.data"), text)).transpose()?;
        let data_prefix = raw.data_prefix.as_deref().map(|text| self.hex(&format!("{path}.data_prefix"), text)).transpose()?;
        if let (Some(data), Some(len)) = (&data, raw.data_len)
            && data.len() != len
        {
            return Err(self.error(&format!("{path}.data_len"), format!("`data` has {} bytes, `data_len` says {len}: no answer can match both", data.len())));
        }
        if let (Some(data), Some(prefix)) = (&data, &data_prefix)
            && !data.starts_with(prefix)
        {
            return Err(self.error(&format!("{path}.data_prefix"), "`data` does not start with `data_prefix`: no answer can match both"));
        }
        if let (Some(len), Some(prefix)) = (raw.data_len, &data_prefix)
            && prefix.len() > len
        {
            return Err(self.error(&format!("{path}.data_prefix"), format!("a prefix of {} bytes cannot start data of {len} bytes", prefix.len())));
        }
        Ok(Expectation::Apdu(ApduExpect { sw, data, data_len: raw.data_len, data_prefix }))
    }

    /// FLOW-5 answers; `all: true` beside a `false` contradicts itself, and which one the
    /// patient meant is their privacy: refused, not guessed.
    pub(super) fn consent(&self, path: &str, raw: &RawConsent) -> Result<Consent, LoadError> {
        if raw.all == Some(true) {
            let denied: Vec<&str> = [("medication", raw.medication), ("checkups", raw.checkups), ("surgery", raw.surgery)]
                .into_iter()
                .filter_map(|(name, answer)| (answer == Some(false)).then_some(name))
                .collect();
            if !denied.is_empty() {
                return Err(self.error(
                    path,
                    format!("`all: true` shares everything, yet `{}: false` says otherwise: give `all: true` alone, or each answer", denied.join("`, `")),
                ));
            }
        }
        Ok(raw.resolve())
    }

    pub(super) fn expect(&self, path: &str, action: &Action, raw: Option<RawExpect>) -> Result<Expectation, LoadError> {
        match action {
            Action::Apdu { .. } => return self.apdu_expect(path, raw),
            Action::Reset { .. } if raw.is_some() => {
                return Err(self.error(&format!("{path}.expect"), "a `reset` always succeeds: leave `expect` out"));
            }
            _ => {}
        }
        let Some(raw) = raw else { return Ok(Expectation::Succeed) };
        let apdu_fields =
            [("sw", raw.sw.is_some()), ("data", raw.data.is_some()), ("data_len", raw.data_len.is_some()), ("data_prefix", raw.data_prefix.is_some())];
        if let Some((name, _)) = apdu_fields.iter().find(|(_, given)| *given) {
            return Err(self.error(&format!("{path}.expect.{name}"), format!("`{name}` belongs to an `apdu` step's expect, not `{}`", action.name())));
        }
        let path = format!("{path}.expect");
        if let Action::Tap(_) = action {
            if raw.error.is_some() {
                return Err(self.error(&format!("{path}.error"), "a tap expects an `outcome`, not an `error`"));
            }
            let named = raw.outcome.ok_or_else(|| self.error(&path, "a tap's expect needs `outcome` (verified, rejected or not_offered)"))?;
            let outcome = OutcomeKind::parse(&named)
                .ok_or_else(|| self.error(&format!("{path}.outcome"), format!("unknown outcome `{named}` (expected verified, rejected or not_offered)")))?;
            let reason = match (outcome, &raw.reason) {
                (OutcomeKind::Rejected, Some(reason)) => Some(Reason::parse(reason).ok_or_else(|| {
                    let all: Vec<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
                    self.error(&format!("{path}.reason"), format!("unknown reason `{reason}` (expected one of {})", all.join(", ")))
                })?),
                (OutcomeKind::Rejected, None) => return Err(self.error(&path, "`outcome: rejected` needs a `reason`")),
                (OutcomeKind::Verified | OutcomeKind::NotOffered, None) => None,
                (OutcomeKind::Verified | OutcomeKind::NotOffered, Some(_)) => {
                    return Err(self.error(&format!("{path}.reason"), format!("a `reason` goes only with `outcome: rejected`, not `{outcome}`")));
                }
            };
            if let Some(reason) = reason {
                self.since(&format!("{path}.reason"), &format!("reason `{reason}`"), Contract::introducing(reason))?;
            }
            let verified_only = [
                ("insurer", raw.insurer.is_some()),
                ("consent", raw.consent.is_some()),
                ("grace", raw.grace.is_some()),
                ("expiring_soon", raw.expiring_soon.is_some()),
                ("copay", raw.copay.is_some()),
                ("name", raw.name.is_some()),
                ("kana", raw.kana.is_some()),
            ];
            if let Some((name, _)) = verified_only.iter().find(|(_, given)| *given)
                && outcome != OutcomeKind::Verified
            {
                return Err(self.error(&format!("{path}.{name}"), format!("`{name}` goes only with `outcome: verified`")));
            }
            for (name, given) in verified_only.iter().skip(2) {
                if *given {
                    let version = if matches!(*name, "name" | "kana") { Contract::V1_3 } else { Contract::V1_2 };
                    self.since(&format!("{path}.{name}"), &format!("`expect.{name}`"), version)?;
                }
            }
            if let Some(copay) = raw.copay {
                self.copay(&format!("{path}.copay"), copay)?;
            }
            let consent = raw.consent.as_ref().map(|consent| self.consent(&format!("{path}.consent"), consent)).transpose()?;
            return Ok(Expectation::Tap(TapExpect {
                outcome,
                reason,
                insurer: raw.insurer,
                consent,
                grace: raw.grace,
                expiring_soon: raw.expiring_soon,
                copay: raw.copay,
                name: raw.name,
                kana: raw.kana,
            }));
        }
        if raw.outcome.is_some()
            || raw.reason.is_some()
            || raw.insurer.is_some()
            || raw.consent.is_some()
            || raw.grace.is_some()
            || raw.expiring_soon.is_some()
            || raw.copay.is_some()
            || raw.name.is_some()
            || raw.kana.is_some()
        {
            return Err(self.error(&path, format!("`{}` expects only `error: <code>`", action.name())));
        }
        let code = raw.error.ok_or_else(|| self.error(&path, "give `error: <code>`, or leave `expect` out"))?;
        if !ERROR_CODES.contains(&code.as_str()) {
            return Err(self.error(&format!("{path}.error"), format!("unknown error code `{code}` (expected one of {})", ERROR_CODES.join(", "))));
        }
        Ok(Expectation::Error(code))
    }
}

/// The one action of a step.
pub(super) enum RawAction<'a> {
    Tap(&'a RawTap),
    AddPhone(&'a RawAddPhone),
    RemovePhone(&'a RawPhoneRef),
    ReportLost(&'a RawPhoneRef),
    Resume(&'a RawPhoneRef),
    RevokeCard(&'a RawPersonRef),
    RenewCard(&'a RawRenewCard),
    RegisterInsurance(&'a RawPersonRef),
    AdvanceClock(&'a RawAdvanceClock),
    Apdu(&'a RawApdu),
    Reset(&'a RawDeviceRef),
}

impl Validator<'_> {
    /// The step's one action key, or a located error naming what is missing or doubled.
    pub(super) fn step_action<'a>(&self, step: &'a RawStep, path: &str) -> Result<RawAction<'a>, LoadError> {
        let mut found: Vec<(&str, RawAction<'a>)> = Vec::new();
        if let Some(a) = &step.tap {
            found.push(("tap", RawAction::Tap(a)));
        }
        if let Some(a) = &step.add_phone {
            found.push(("add_phone", RawAction::AddPhone(a)));
        }
        if let Some(a) = &step.remove_phone {
            found.push(("remove_phone", RawAction::RemovePhone(a)));
        }
        if let Some(a) = &step.report_lost {
            found.push(("report_lost", RawAction::ReportLost(a)));
        }
        if let Some(a) = &step.resume {
            found.push(("resume", RawAction::Resume(a)));
        }
        if let Some(a) = &step.revoke_card {
            found.push(("revoke_card", RawAction::RevokeCard(a)));
        }
        if let Some(a) = &step.renew_card {
            found.push(("renew_card", RawAction::RenewCard(a)));
        }
        if let Some(a) = &step.register_insurance {
            found.push(("register_insurance", RawAction::RegisterInsurance(a)));
        }
        if let Some(a) = &step.advance_clock {
            found.push(("advance_clock", RawAction::AdvanceClock(a)));
        }
        if let Some(a) = &step.apdu {
            found.push(("apdu", RawAction::Apdu(a)));
        }
        if let Some(a) = &step.reset {
            found.push(("reset", RawAction::Reset(a)));
        }
        match found.len() {
            1 => Ok(found.remove(0).1),
            0 => Err(self.error(path, "a step needs one action key (tap, add_phone, remove_phone, report_lost, resume, revoke_card, renew_card, register_insurance, advance_clock, apdu, reset)")),
            _ => {
                let names: Vec<&str> = found.iter().map(|(name, _)| *name).collect();
                let second = names.get(1).copied().unwrap_or_default();
                Err(self.error(&format!("{path}.{second}"), format!("a step has exactly one action key, this one has {}", names.join(" and "))))
            }
        }
    }
}
