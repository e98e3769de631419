//! How the card was held during a tap (rule W11): pcscd's reader state at each command, the
//! bystander probe at the reader's first command, and the card's retry counters put back when
//! another program spent them before the reader's exclusive session began.

use std::time::{Duration, Instant};

use mynatap_sim::driver::SeenApdu;

/// How the card was held at each command of a tap (pcscd's reader state while the command
/// waited), the card's retry counters around the reader's own commands, and what a bystander met
/// when the harness tried to reach the card as one (rule W11).
#[derive(Debug, Clone, Default)]
pub(super) struct HoldingWatch {
    held: Vec<mynatap_drivers::pcsc_transport::Holding>,
    /// The counters as the card entered the field (before the harness's readiness probe).
    at_start: Option<mynatap_sim::card::RetryCounters>,
    /// The counters right after the reader's last exclusive command, once another program's
    /// command has come after it.
    pub(super) after_reader: Option<mynatap_sim::card::RetryCounters>,
    /// The bystander probe, started at the reader's first command: what it met, and how long
    /// it took.
    probe: Option<ProbeOutcome>,
    /// When the probe started.
    probe_started: Option<Instant>,
    /// This tap is probed (see `AdapterPlayer::probe_this_tap`).
    pub(super) probe_wanted: bool,
    /// The tag of this tap's probe command (see [`mynatap_drivers::vpcd::bystander_probe`]).
    probe_tag: u8,
    /// For each command: whether the reader program could have sent it (it was running and
    /// connected to pcscd, or held the card exclusively). A program that never connected (a
    /// tap it rightly leaves alone) is never given a bystander's commands.
    reader_could: Vec<bool>,
    /// The reader program was once seen connected to pcscd in this tap.
    reader_connected: bool,
    /// When the reader's first command reached the card.
    pub(super) first_command: Option<Instant>,
}

impl HoldingWatch {
    fn exclusive(&self) -> bool {
        self.held.contains(&mynatap_drivers::pcsc_transport::Holding::Exclusive)
    }

    /// The reader's commands and another program's. A reader that held the card exclusively sent
    /// none of the commands that came while the card was shared (someone else connected then:
    /// before its connect or after it let go); the harness's own probe command is never the
    /// reader's.
    pub(super) fn split(&self, seen: Vec<SeenApdu>) -> (Vec<SeenApdu>, Vec<SeenApdu>) {
        let (mut reader, mut strangers) = (Vec::new(), Vec::new());
        for (index, apdu) in seen.into_iter().enumerate() {
            if self.foreign(index, &apdu) { strangers.push(apdu) } else { reader.push(apdu) }
        }
        (reader, strangers)
    }

    /// Whether the `index`-th command of the tap was not the reader's.
    fn foreign(&self, index: usize, apdu: &SeenApdu) -> bool {
        use mynatap_drivers::pcsc_transport::Holding;
        mynatap_drivers::vpcd::is_bystander_probe(&apdu.command)
            || (self.exclusive() && self.held.get(index) == Some(&Holding::Shared))
            || self.reader_could.get(index) == Some(&false)
    }

    /// For W11: how the card was held against a bystander, judged from the probe: refused at the
    /// connect (exclusive) or at the command (a transaction), or its command landed between the
    /// reader's commands (shared: any program could have sent anything). A probe that landed
    /// after the reader's last command proves nothing.
    pub(super) fn card_held(&self, seen: &[SeenApdu]) -> Option<&'static str> {
        use mynatap_drivers::pcsc_transport::Bystander;
        if self.probe_pending() && self.probe_held_off() {
            // Still waiting on the reader: pcscd holds its command back while a transaction is
            // held (its client library retries every 100 ms until the transaction ends).
            return Some("transaction");
        }
        let (outcome, took) = self.probe.as_ref().and_then(|probe| probe.lock().ok().and_then(|outcome| *outcome))?;
        match outcome {
            Bystander::RefusedConnect => Some("exclusive"),
            Bystander::RefusedCommand => Some("transaction"),
            Bystander::Reached => {
                // Between two of the reader's own commands: a bystander's (kept apart above) does
                // not count, nor does one that came before the reader connected.
                let own = |(index, apdu): (usize, &SeenApdu)| !self.foreign(index, apdu);
                // This tap's probe: an earlier tap's, held back until now, says nothing of this one.
                let own_probe = mynatap_drivers::vpcd::bystander_probe(self.probe_tag);
                let landed = seen.iter().position(|apdu| apdu.command == own_probe);
                // Held back until after the reader's last command: a transaction kept it out.
                let after_all = landed.is_none_or(|landed| !seen.iter().enumerate().skip(landed + 1).any(own));
                if took >= PROBE_HELD_OFF && after_all {
                    return Some("transaction");
                }
                let landed = landed?;
                let before = seen.iter().enumerate().take(landed).any(own);
                let after = seen.iter().enumerate().skip(landed + 1).any(own);
                (before && after).then_some("shared")
            }
            Bystander::Unknown => None,
        }
    }

    /// The probe started and has not concluded yet.
    pub(super) fn probe_pending(&self) -> bool {
        self.probe.as_ref().is_some_and(|probe| probe.lock().is_ok_and(|outcome| outcome.is_none()))
    }

    /// The probe has waited at least [`PROBE_HELD_OFF`].
    pub(super) fn probe_held_off(&self) -> bool {
        self.probe_started.is_some_and(|started| started.elapsed() >= PROBE_HELD_OFF)
    }
}

/// Where the bystander probe's thread leaves what it met and how long it took.
type ProbeOutcome = std::sync::Arc<std::sync::Mutex<Option<(mynatap_drivers::pcsc_transport::Bystander, Duration)>>>;

/// A probe that reaches a card nobody holds answers within milliseconds; one held back this long
/// met a transaction (pcsc-lite queues a command behind another client's transaction).
const PROBE_HELD_OFF: Duration = Duration::from_millis(25);

/// The hook run before each command of a tap: records how the card is held, starts the bystander
/// probe at the first command, and, when the reader's exclusive session begins after another
/// program's commands, puts the card's retry counters back as they were when it entered the
/// field (another program's VERIFY must not spend the patient's tries).
pub(super) fn holding_watch(
    reader: &str,
    watcher: &std::sync::Arc<mynatap_drivers::pcsc_transport::ReaderWatch>,
    slot: &mynatap_drivers::vpcd::CardSlot,
    watch: &std::sync::Arc<std::sync::Mutex<HoldingWatch>>,
    at_insertion: mynatap_sim::card::RetryCounters,
    leader: &std::sync::Arc<std::sync::atomic::AtomicU32>,
    probe: Option<u8>,
) -> mynatap_drivers::vpcd::CommandHook {
    use mynatap_drivers::pcsc_transport::Holding;
    let (reader, watcher, slot, watch, leader) = (reader.to_owned(), watcher.clone(), slot.clone(), watch.clone(), leader.clone());
    if let Ok(mut state) = watch.lock() {
        *state = HoldingWatch { at_start: Some(at_insertion), probe_wanted: probe.is_some(), probe_tag: probe.unwrap_or(0), ..HoldingWatch::default() };
    }
    Box::new(move |command: &[u8]| {
        // On the player's own context, kept open: no context is set up or released here.
        let holding = watcher.holding().unwrap_or(Holding::Free);
        let Ok(mut state) = watch.lock() else { return };
        // A probe's command (this tap's, or an earlier one's let through late) is the harness's.
        // Exclusive: no one but the reader. Otherwise the reader could have sent it only if it
        // runs and is connected to pcscd (asked once a tap).
        let group = leader.load(std::sync::atomic::Ordering::Relaxed);
        let could = !mynatap_drivers::vpcd::is_bystander_probe(command)
            && (holding == Holding::Exclusive || (group != 0 && (state.reader_connected || super::peer::group_holds_unix_connection(group))));
        state.reader_connected |= could && holding != Holding::Exclusive;
        state.reader_could.push(could);
        if could && state.first_command.is_none() {
            state.first_command = Some(Instant::now());
        }
        if state.probe_wanted && state.probe.is_none() && could {
            // The reader is connected now (its command waits): try to reach the card beside it,
            // on another thread, since the probe's own command waits for this one's answer.
            let outcome = std::sync::Arc::new(std::sync::Mutex::new(None));
            let (probe_outcome, probe_reader, tag) = (outcome.clone(), reader.clone(), state.probe_tag);
            let at = Instant::now();
            let started = std::thread::Builder::new().name("bystander probe".into()).spawn(move || {
                let met = mynatap_drivers::pcsc_transport::probe_as_bystander(&probe_reader, &crate::play::pcsc::PROBE, tag);
                if let Ok(mut slot) = probe_outcome.lock() {
                    *slot = Some((met, at.elapsed()));
                }
            });
            if started.is_ok() {
                state.probe = Some(outcome);
                state.probe_started = Some(at);
            }
        }
        match holding {
            // The reader's exclusive session begins: whatever another program spent of the PIN
            // tries since the card entered the field (seen here or not: before this hook was set)
            // is put back. Nothing but the reader's own commands changes them legitimately.
            Holding::Exclusive if !state.exclusive() => {
                if let Some(counters) = state.at_start {
                    slot.with_card(|card| card.restore_retry_counters(counters));
                }
            }
            Holding::Shared if state.held.last() == Some(&Holding::Exclusive) => {
                state.after_reader = slot.with_card(|card| card.retry_counters());
            }
            _ => {}
        }
        state.held.push(holding);
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use mynatap_drivers::pcsc_transport::{Bystander, Holding};
    use mynatap_drivers::vpcd::bystander_probe;

    fn seen(commands: &[Vec<u8>]) -> Vec<SeenApdu> {
        commands.iter().enumerate().map(|(at, command)| SeenApdu { sequence: at as u64, command: command.clone(), response: Some(vec![0x90, 0x00]) }).collect()
    }

    /// A tap whose probe (tag 7) reached the card after `took`, over `commands` a connected,
    /// shared reader sent.
    fn watched(commands: &[Vec<u8>], took: Duration) -> HoldingWatch {
        HoldingWatch {
            held: vec![Holding::Shared; commands.len()],
            reader_could: commands.iter().map(|command| !mynatap_drivers::vpcd::is_bystander_probe(command)).collect(),
            reader_connected: true,
            probe: Some(std::sync::Arc::new(std::sync::Mutex::new(Some((Bystander::Reached, took))))),
            probe_wanted: true,
            probe_tag: 7,
            ..HoldingWatch::default()
        }
    }

    #[test]
    fn only_this_taps_probe_between_the_readers_commands_makes_it_shared() {
        let select = vec![0x00, 0xA4, 0x04, 0x0C];
        let read = vec![0x00, 0xB0, 0x00, 0x00, 0x00];
        let own = [select.clone(), bystander_probe(7).to_vec(), read.clone()];
        assert_eq!(watched(&own, Duration::from_millis(2)).card_held(&seen(&own)), Some("shared"));
        // An earlier tap's probe, let through late, lands among this tap's commands; this tap's
        // own landed after the reader's last command, held back: a transaction.
        let late = [select.clone(), bystander_probe(6).to_vec(), read.clone(), bystander_probe(7).to_vec()];
        assert_eq!(watched(&late, Duration::from_millis(40)).card_held(&seen(&late)), Some("transaction"));
        let split = watched(&late, Duration::from_millis(40)).split(seen(&late));
        assert_eq!(split.0.iter().map(|apdu| apdu.command.clone()).collect::<Vec<_>>(), [select, read], "no probe is the reader's");
    }
}
