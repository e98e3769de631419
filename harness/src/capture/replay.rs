//! `mynatap capture replay`: the recorded commands go to a profile's virtual device, and every
//! answer that does not meet what the capture recorded is a difference (fields as `fields` keeps
//! them, the same as an imported scenario checks).

use std::fmt;

use mynatap_sim::card::Card;
use mynatap_sim::profile::DeviceKind;

use super::fields::Selection;
use super::{Capture, Event};

/// One command whose answer differs from the capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// The command's number in the capture, from 1.
    pub number: usize,
    /// Its line in the capture file.
    pub line: usize,
    /// The command bytes.
    pub command: Vec<u8>,
    /// The answer the capture recorded.
    pub recorded: Vec<u8>,
    /// The answer the simulated device gave.
    pub answered: Vec<u8>,
    /// What does not meet the capture.
    pub why: String,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "command {} (capture line {}): {}\n    recorded: {}\n    answered: {}\n    {}",
            self.number,
            self.line,
            hex::encode_upper(&self.command),
            answer(&self.recorded),
            answer(&self.answered),
            self.why
        )
    }
}

/// An answer for people: data (cut) and status word.
fn answer(response: &[u8]) -> String {
    match response.split_last_chunk::<2>() {
        Some(([], sw)) => hex::encode_upper(sw),
        Some((data, sw)) if data.len() <= 24 => format!("{} {}", hex::encode_upper(data), hex::encode_upper(sw)),
        Some((data, sw)) => format!("{}... ({} data bytes) {}", hex::encode_upper(data.get(..24).unwrap_or(data)), data.len(), hex::encode_upper(sw)),
        None => format!("{} (no status word)", hex::encode_upper(response)),
    }
}

/// What a replay found.
#[derive(Debug, Clone, Default)]
pub struct Replay {
    /// Commands replayed.
    pub commands: usize,
    /// Resets replayed.
    pub resets: usize,
    /// Every answer that does not meet the capture.
    pub differences: Vec<Difference>,
    /// Power-ups whose token label names another kind of device than the profile's.
    pub other_devices: Vec<(DeviceKind, usize)>,
}

/// Plays the capture against `card` (powered up first, and again at every reset; `user_verified`:
/// Face ID done on an iPhone). Power-ups whose token label names another kind of device are left
/// to their own profile and counted.
pub fn replay(capture: &Capture, card: &mut Card, user_verified: bool) -> Replay {
    let kind = card.profile().device;
    let mut result = Replay::default();
    let mut number = 0;
    for (index, session) in capture.sessions().into_iter().enumerate() {
        if index > 0 {
            result.resets += 1;
        }
        if let Some(other) = session.kind.filter(|other| *other != kind) {
            let commands = session.events.len();
            number += commands;
            match result.other_devices.iter_mut().find(|(seen, _)| *seen == other) {
                Some((_, count)) => *count += commands,
                None => result.other_devices.push((other, commands)),
            }
            continue;
        }
        card.reset();
        card.set_user_verified(user_verified);
        let mut selection = Selection::default();
        for event in session.events {
            let Event::Exchange { command, response, line } = event else { continue };
            number += 1;
            result.commands += 1;
            let kept = selection.keep(command, response);
            let answered = card.process_bytes(command);
            if let Some(why) = kept.expect.mismatch(&answered) {
                result.differences.push(Difference {
                    number,
                    line: *line,
                    command: command.clone(),
                    recorded: response.clone(),
                    answered,
                    why: format!("{why} ({})", kept.note),
                });
            }
        }
    }
    result
}
