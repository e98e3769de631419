//! `mynatap capture import`: a capture becomes a scenario of raw APDU steps that `mynatap run`
//! plays against the profile's virtual device.

use mynatap_sim::profile::DeviceKind;
use mynatap_sim::terminal::{card_surface, jpki};

use super::fields::{Selection, command_data};
use super::{Capture, Event};
use crate::scenario::MAX_STEPS;
use crate::scenario::write::{self, Notes};
use crate::scenario::{Os, RawApdu, RawCard, RawDeviceRef, RawExpect, RawPerson, RawPhone, RawScenario, RawStep, RawWorld};

/// How to import.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The device kind; `None`: told by the token label the capture read.
    pub profile: Option<DeviceKind>,
    /// The device's PIN; `None`: the one the capture verified, or `1234`.
    pub pin: Option<String>,
    /// The scenario id; `None`: `capture-<file name>`.
    pub id: Option<String>,
}

/// What the capture tells of the device and its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The kind of device its token label names.
    pub kind: Option<DeviceKind>,
    /// The 4-digit PIN of the first VERIFY of the JPKI user-authentication PIN that succeeded.
    pub pin: Option<String>,
    /// Verification number B of the first successful VERIFY in the card-surface application.
    pub number_b: Option<String>,
}

/// Reads the device kind (token label), the PIN and number B off a capture's events (one
/// session: every device it holds is taken for the same).
pub fn inspect(events: &[Event]) -> Found {
    let mut found = Found { kind: None, pin: None, number_b: None };
    let mut selection = Selection::default();
    for event in events {
        let Event::Exchange { command, response, .. } = event else {
            selection.reset();
            continue;
        };
        // Judged against what was selected before the command; `keep` then follows its SELECT.
        if response.ends_with(&[0x90, 0x00]) {
            let data = response.get(..response.len() - 2).unwrap_or_default();
            match command.get(1) {
                Some(0xB0) if selection.is(&jpki::AID, jpki::TOKEN_INFO) => {
                    let label = String::from_utf8_lossy(data);
                    found.kind = found.kind.or_else(|| DeviceKind::from_token_label(label.trim_end_matches([' ', '\0'])));
                }
                Some(0x20) => {
                    let digits = command_data(command).filter(|digits| digits.iter().all(u8::is_ascii_digit));
                    let digits = digits.map(|digits| String::from_utf8_lossy(digits).into_owned());
                    match digits {
                        Some(pin) if pin.len() == 4 && selection.is(&jpki::AID, jpki::AUTH_PIN) => found.pin = found.pin.or(Some(pin)),
                        Some(b) if b.len() == 14 && selection.in_application(&card_surface::AID) => found.number_b = found.number_b.or(Some(b)),
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        selection.keep(command, response);
    }
    found
}

/// The device id a session of `kind` is played on.
fn device_id(kind: DeviceKind) -> String {
    match kind {
        DeviceKind::Card => "patient".to_owned(),
        other => format!("patient-{other}"),
    }
}

/// The scenario text (YAML with comments) for a capture. Each power-up goes to the device its token
/// label names (the card, an Android phone, an iPhone of one made-up person); one without a label
/// to `--profile`, or to the kind of the power-up before it.
pub fn scenario(capture: &Capture, options: &Options) -> Result<String, ImportError> {
    if capture.events.len() > MAX_STEPS {
        return Err(ImportError::TooLong { steps: capture.events.len() });
    }
    let sessions = capture.sessions();
    let mut kinds = Vec::with_capacity(sessions.len());
    let mut previous = options.profile;
    for (index, session) in sessions.iter().enumerate() {
        let kind = session.kind.or(options.profile).or(previous).ok_or(ImportError::UnknownDevice { power_up: index + 1 })?;
        kinds.push(kind);
        previous = Some(kind);
    }
    if let Some(problem) = options.id.as_deref().and_then(crate::scenario::id_problem) {
        return Err(ImportError::Id(problem));
    }
    if let Some(pin) = &options.pin
        && (pin.len() != 4 || !pin.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(ImportError::Pin(pin.clone()));
    }
    // Each device's PIN: the option, else the first its sessions verified, else 1234.
    let pin_of = |kind: DeviceKind| -> String {
        options
            .pin
            .clone()
            .or_else(|| sessions.iter().zip(&kinds).filter(|(_, k)| **k == kind).find_map(|(session, _)| inspect(session.events).pin))
            .unwrap_or_else(|| "1234".into())
    };
    let number_b = inspect(&capture.events).number_b;
    let file_name = capture.file.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    let id =
        options.id.clone().unwrap_or_else(|| format!("capture-{}", slug(capture.file.file_stem().map(|s| s.to_string_lossy()).unwrap_or_default().as_ref())));
    let mut used: Vec<DeviceKind> = Vec::new();
    for kind in &kinds {
        if !used.contains(kind) {
            used.push(*kind);
        }
    }
    let names: Vec<&str> = used.iter().map(|kind| kind.as_str()).collect();
    let verifies = capture.events.iter().any(|event| matches!(event, Event::Exchange { command, .. } if command.get(1) == Some(&0x20)));
    let covers: &[&str] = if verifies { &["FLOW-3", "FLOW-4"] } else { &["FLOW-4"] };

    let (birth_date, card) = person_card(used.contains(&DeviceKind::Card).then(|| pin_of(DeviceKind::Card)).as_deref(), number_b.as_deref());
    let phones = used
        .iter()
        .filter_map(|kind| Some((*kind, Os::of(*kind)?)))
        .map(|(kind, os)| RawPhone { id: device_id(kind), os, pin: Some(pin_of(kind)), key: None, forged: false, certificate: None, generation: None })
        .collect();
    let person = RawPerson { id: "patient".into(), birth_date, card, insurance: Default::default(), phones };
    let world = RawWorld {
        clock: "2026-04-01T09:00:00+09:00".into(),
        ca_key: None,
        ca_generations: None,
        crl_sign: None,
        revoked_elsewhere: None,
        terminals: None,
        people: vec![person],
    };

    let skipped = match capture.skipped.len() {
        0 => String::new(),
        n => format!(", {n} transmit(s) that got no answer left out"),
    };
    let mut notes = Notes {
        head: vec![
            format!(
                "Imported by `mynatap capture import` from {file_name} ({}): {} command(s), {} reset(s){skipped}.",
                capture.format.name(),
                capture.exchanges(),
                capture.resets()
            ),
            "Every step keeps the recorded status word; response data only where every device of the kind answers".into(),
            "the same (the token label, empty answers), else a length or a DER header (docs/captures.md).".into(),
            "The world is made up: only the device kinds, their PINs (and number B) come from the capture.".into(),
        ],
        steps: Vec::with_capacity(capture.events.len()),
    };
    let mut steps = Vec::with_capacity(capture.events.len());
    let mut selection = Selection::default();
    let mut session_index = 0;
    for event in &capture.events {
        let kind = kinds.get(session_index).copied().unwrap_or(DeviceKind::Card);
        let (note, step) = match event {
            Event::Reset { line } => {
                selection.reset();
                // Resets only stand between commands (`capture::parse`): the next power-up begins.
                session_index += 1;
                let next = device_id(kinds.get(session_index).copied().unwrap_or(kind));
                (format!("capture line {line}"), RawStep { reset: Some(RawDeviceRef { device: next }), ..RawStep::default() })
            }
            Event::Exchange { command, response, line } => {
                let kept = selection.keep(command, response);
                let expect = RawExpect {
                    sw: Some(format!("{:04X}", kept.expect.sw)),
                    data: kept.expect.data.as_ref().map(hex::encode_upper),
                    data_len: kept.expect.data_len,
                    data_prefix: kept.expect.data_prefix.as_ref().map(hex::encode_upper),
                    ..RawExpect::default()
                };
                let apdu = RawApdu { device: device_id(kind), send: hex::encode_upper(command) };
                (format!("capture line {line}: {}", kept.note), RawStep { apdu: Some(apdu), expect: Some(expect), ..RawStep::default() })
            }
        };
        notes.steps.push(note);
        steps.push(step);
    }
    let title = format!("Capture {file_name} replayed against the {} profile{}", names.join(", "), if names.len() > 1 { "s" } else { "" });
    let file = RawScenario { contract: None, id, title, covers: covers.iter().map(|id| (*id).to_owned()).collect(), world, steps };
    // Written from the loader's own model, and loaded back here, so that nothing is written
    // that `run` would refuse.
    let out = write::scenario_with_notes(&file, &notes)?;
    loads_back(&out)?;
    Ok(out)
}

/// The scenario as `mynatap run` would load it: refused here, not later.
fn loads_back(text: &str) -> Result<(), ImportError> {
    let requirements = crate::scenario::requirement_ids(crate::scenario::REQUIREMENTS_MD);
    crate::scenario::parse(std::path::Path::new("<imported scenario>"), text, &requirements).map(|_| ()).map_err(ImportError::Unloadable)
}

/// Why a capture was not made a scenario.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// More commands and resets than one scenario may have steps.
    #[error("{steps} commands and resets, over the {MAX_STEPS} steps of one scenario: split the capture")]
    TooLong {
        /// The capture's commands and resets.
        steps: usize,
    },
    /// A power-up whose device kind nothing tells.
    #[error(
        "power-up {power_up} of the capture never reads the token label (file 00 06 of the JPKI application), so its device kind is unknown: give --profile android, iphone or card"
    )]
    UnknownDevice {
        /// Which power-up (1-based).
        power_up: usize,
    },
    /// `--id` is no scenario id.
    #[error("--id: {0}")]
    Id(&'static str),
    /// `--pin` is not 4 digits.
    #[error("--pin: expected 4 digits, got `{0}`")]
    Pin(String),
    /// The scenario could not be written.
    #[error(transparent)]
    Write(#[from] crate::scenario::write::WriteError),
    /// The scenario written would not load (a bug of the importer).
    #[error("the scenario made of this capture would not load ({0}); please report it with the capture")]
    Unloadable(crate::scenario::LoadError),
}

/// The holder's birth date and card fields: from number B when the capture verified one (the
/// face path), so the made-up card answers that VERIFY as the real one did.
fn person_card(card_pin: Option<&str>, number_b: Option<&str>) -> (String, RawCard) {
    let mut card = RawCard { pin: card_pin.map(str::to_owned), ..RawCard::default() };
    let mut birth_date = "1990-05-12".to_owned();
    if let Some(b) = number_b
        && let Some(expiry_year) = b.get(6..10).and_then(|year| year.parse::<i32>().ok())
    {
        // Number B writes the birth date in the era year: of the days it can name, the latest of
        // an adult (15 or older on the world's 2026-04-01), else the latest before that day.
        let world_day = time::macros::date!(2026 - 04 - 01);
        let candidates: Vec<time::Date> = mynatap_sim::card::surface::birth_dates_for_key(b).into_iter().filter(|date| *date <= world_day).collect();
        let adult = candidates.iter().copied().find(|date| mynatap_sim::clock::first_day_of_age(*date, 15) <= world_day);
        if let Some(date) = adult.or_else(|| candidates.first().copied()) {
            birth_date = date.to_string();
            let expires = time::Date::from_calendar_date(expiry_year, date.month(), date.day().min(28)).map(|d| d.to_string()).unwrap_or_default();
            if !expires.is_empty() {
                card.expires = Some(expires);
            }
            card.security_code = Some(b.get(10..14).unwrap_or_default().to_owned());
        }
    }
    (birth_date, card)
}

/// A scenario id from a file name: lower-case letters, digits and dashes.
fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_matches('-').to_owned();
    if out.is_empty() { "unnamed".into() } else { out }
}
