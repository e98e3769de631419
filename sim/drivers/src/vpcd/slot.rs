//! The card slot a bridge serves: the device in the field, its faults, the recording of what it
//! is sent (with the hook run before each command), and the bystander probe's command.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mynatap_sim::card::Card;
pub use mynatap_sim::driver::SeenApdu;
use mynatap_sim::transport::{FaultDecision, FaultPlan};

/// The command the harness's bystander probe sends (rule W11): an instruction no JPKI application
/// knows (the card answers `6D 00` and changes nothing). `tag` (P2) tells one tap's probe from
/// another's: a probe held back by a reader's transaction may land in the next tap.
pub const fn bystander_probe(tag: u8) -> [u8; 5] {
    [0x80, 0xFE, 0x4D, tag, 0x00]
}

/// Whether `command` is a bystander probe's (of any tap): the harness's, never a reader's, and
/// never counted by the tap's fault.
pub fn is_bystander_probe(command: &[u8]) -> bool {
    matches!(command, [0x80, 0xFE, 0x4D, _, 0x00])
}

/// Answered when an APDU arrives while no card is in the slot: an empty reply would make vpcd
/// drop the connection, and the harness wants the bridge to stay.
const NO_CARD_STATUS: [u8; 2] = [0x6F, 0x00];

/// Face ID / Touch ID as the bridge applies it to the card in the slot, again after every reset
/// (a reset clears the card's unlock; the person's finger is still on the phone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserPresence {
    /// Not unlocked.
    No,
    /// Unlocked for good.
    Yes,
    /// Unlocked until this instant (`serve-card --user-verified-for`).
    Until(Instant),
}

impl UserPresence {
    fn active(self, now: Instant) -> bool {
        match self {
            Self::No => false,
            Self::Yes => true,
            Self::Until(until) => now < until,
        }
    }
}

pub(super) struct SlotState {
    card: Option<Card>,
    presence: UserPresence,
    /// ATR answered while the slot is empty (the last card's).
    atr: Vec<u8>,
    /// A fault the card itself shows (certification: the reader under test must meet it).
    fault: Option<FaultPlan>,
    /// What the card saw, when recording.
    recording: Option<Vec<SeenApdu>>,
    sequence: Sequence,
    /// Command APDUs answered so far: lets a harness check that the card pcscd reaches is this
    /// slot's and not another process's on the same reader.
    answered: u64,
    /// Run before every recorded command is answered, outside the slot's lock: while a command
    /// waits, whoever sent it is connected to the card (certification looks at how it holds it).
    before_command: Option<CommandHook>,
    /// Counts recordings started and ended. A command is recorded only if the recording it met
    /// when it arrived is still the current one after its hook ran, so the hook ran exactly once
    /// for every recorded command, in order (a hook's notes and the recording line up one to
    /// one), and a hook taken out to run is never put back over a newer one.
    recording_generation: u64,
    /// Whether a card removed by a `remove_after` fault comes back by itself after
    /// [`super::REMOVAL_PAUSE`] (true: 1.2 taps, and `held_again`), or stays out until
    /// [`CardSlot::enter_field`].
    pub(super) removal_returns: bool,
    /// Counts the bridge's connections to vpcd and their ends (a removal's as it is decided):
    /// unchanged, the card pcscd reached last is still this slot's, in the field all along.
    pub(super) connections: u64,
}

impl std::fmt::Debug for SlotState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlotState")
            .field("card", &self.card.is_some())
            .field("answered", &self.answered)
            .field("before_command", &self.before_command.is_some())
            .finish()
    }
}

/// One global order for everything a certification run observes (APDUs, HTTP requests), so
/// rules like "the CRL was fetched before the eligibility query" can be judged across both.
#[derive(Debug, Clone, Default)]
pub struct Sequence(Arc<std::sync::atomic::AtomicU64>);

impl Sequence {
    /// The next number of the order.
    pub fn next(&self) -> u64 {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }
}

/// Run with each recorded command just before it is answered (see [`CardSlot::start_recording`]).
pub type CommandHook = Box<dyn FnMut(&[u8]) + Send>;

/// The card a bridge serves, shared with whoever decides what is tapped, and whether it is in
/// the field: the bridge is connected to vpcd (pcscd sees a card) only while it is.
#[derive(Debug, Clone)]
pub struct CardSlot(Arc<Mutex<SlotState>>, pub(super) Arc<tokio::sync::watch::Sender<bool>>);

impl CardSlot {
    /// A slot holding `card` (or none: answers `6F 00` and `default_atr`), with Face ID / Touch ID as `presence`.
    pub fn new(card: Option<Card>, presence: UserPresence, default_atr: Vec<u8>) -> Self {
        let atr = card.as_ref().map_or(default_atr, |card| card.atr().to_vec());
        let state = SlotState {
            card,
            presence,
            atr,
            fault: None,
            recording: None,
            sequence: Sequence::default(),
            answered: 0,
            before_command: None,
            recording_generation: 0,
            removal_returns: true,
            connections: 0,
        };
        Self(Arc::new(Mutex::new(state)), Arc::new(tokio::sync::watch::Sender::new(true)))
    }

    /// Takes the slot out of the field: the bridge closes its vpcd connection (between commands)
    /// and stays away until [`enter_field`](Self::enter_field). pcscd reports the removal at its
    /// next poll (about 0.4 s).
    pub fn leave_field(&self) {
        self.1.send_replace(false);
    }

    /// Puts the slot in the field: the bridge connects to vpcd, which pcscd reports as an arrival
    /// at its next poll.
    pub fn enter_field(&self) {
        self.1.send_replace(true);
    }

    /// Whether the slot is in the field.
    pub fn in_field(&self) -> bool {
        *self.1.borrow()
    }

    /// Whether a card removed by a `remove_after` fault comes back by itself after a pause
    /// (the default), or stays out of the field until [`enter_field`](Self::enter_field).
    pub fn removal_returns(&self, returns: bool) {
        self.lock().removal_returns = returns;
    }

    /// How many times the bridge has connected to vpcd or lost its connection (each an arrival or
    /// a removal to pcscd).
    pub fn connections(&self) -> u64 {
        self.lock().connections
    }

    /// How many commands were recorded so far (see [`start_recording`](Self::start_recording)).
    pub fn recorded(&self) -> usize {
        self.lock().recording.as_ref().map_or(0, Vec::len)
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, SlotState> {
        // A panic while holding the lock cannot leave the card half-updated in a way that matters
        // more than losing the bridge, so a poisoned lock is used as it is.
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Puts a card in (reset, as a device entering the field) and returns the one that was there.
    pub fn insert(&self, mut card: Card, presence: UserPresence) -> Option<Card> {
        let mut state = self.lock();
        card.reset();
        card.set_user_verified(presence.active(Instant::now()));
        state.atr = card.atr().to_vec();
        state.presence = presence;
        state.card.replace(card)
    }

    /// Whether the fault set with [`set_fault`](Self::set_fault) took effect (`None`: no fault).
    pub fn fault_fired(&self) -> Option<bool> {
        self.lock().fault.as_ref().and_then(FaultPlan::fired)
    }

    /// Takes the card out (and ends any fault and recording).
    pub fn take(&self) -> Option<Card> {
        let mut state = self.lock();
        state.fault = None;
        state.card.take()
    }

    /// The card shows `fault` until it is taken out. At a `remove_after` fault the bridge drops
    /// its connection in the middle of the first command past the limit: to the reader the card is
    /// gone (a bridge with reconnect comes back at pcscd's next poll).
    pub fn set_fault(&self, fault: Option<mynatap_sim::transport::Fault>) {
        self.lock().fault = fault.map(|fault| FaultPlan::new(Some(fault)));
    }

    /// The card its `remove_after` fault took out of the field is held again: from now on it
    /// answers every command (the fault still counts as taken effect).
    pub fn hold_again(&self) {
        if let Some(plan) = self.lock().fault.as_mut() {
            plan.hold_again();
        }
    }

    /// Starts recording what the card sees, numbered with `sequence`, and runs `hook` with each
    /// recorded command just before it is answered (while its sender is connected to the card and
    /// waits). Both start together: every recorded command had the hook run for it, in order.
    pub fn start_recording(&self, sequence: Sequence, hook: Option<CommandHook>) {
        let mut state = self.lock();
        state.sequence = sequence;
        state.recording = Some(Vec::new());
        state.before_command = hook;
        state.recording_generation += 1;
    }

    /// Works on the card in the slot, if there is one.
    pub fn with_card<R>(&self, work: impl FnOnce(&mut Card) -> R) -> Option<R> {
        self.lock().card.as_mut().map(work)
    }

    /// Stops recording (and its hook) and returns what was seen.
    pub fn take_recording(&self) -> Vec<SeenApdu> {
        let mut state = self.lock();
        state.before_command = None;
        state.recording_generation += 1;
        state.recording.take().unwrap_or_default()
    }

    /// Resets the card in the slot (a power cycle), keeping the person's Face ID.
    pub fn reset(&self) {
        let mut state = self.lock();
        let presence = state.presence.active(Instant::now());
        if let Some(card) = state.card.as_mut() {
            card.reset();
            card.set_user_verified(presence);
        }
    }

    /// The ATR the slot answers (its card's, or the last card's).
    pub fn atr(&self) -> Vec<u8> {
        self.lock().atr.clone()
    }

    /// The response to send (empty: the card left the field) and how long to hold it back.
    /// How many command APDUs this slot has answered.
    pub fn answered(&self) -> u64 {
        self.lock().answered
    }

    pub(super) fn answer(&self, apdu: &[u8]) -> (Vec<u8>, Option<Duration>) {
        let (hook, generation) = {
            let mut state = self.lock();
            (state.before_command.take(), state.recording_generation)
        };
        if let Some(mut hook) = hook {
            hook(apdu);
            let mut state = self.lock();
            if state.recording_generation == generation {
                state.before_command = Some(hook);
            }
        }
        let mut state = self.lock();
        // A recording started or ended while this command waited: it belongs to neither.
        let recorded = state.recording_generation == generation;
        state.answered += 1;
        let presence = state.presence.active(Instant::now());
        // The harness's probe is no command of the reader's: the tap's fault does not count it.
        let decision = match state.fault.as_mut() {
            Some(plan) if !is_bystander_probe(apdu) => plan.before(apdu),
            _ => FaultDecision::Pass { hit: false },
        };
        let (response, delay) = match (state.card.as_mut(), decision) {
            (_, FaultDecision::Removed) => {
                // The connection ends with this command: counted before its reader can learn of
                // it (and start another tap), not once the bridge's task gets round to it.
                state.connections += 1;
                (Vec::new(), None)
            }
            (None, _) => (NO_CARD_STATUS.to_vec(), None),
            (Some(card), FaultDecision::Pass { hit }) => {
                if card.user_verified() != presence {
                    card.set_user_verified(presence);
                }
                let response = card.process_bytes(apdu);
                match state.fault.as_mut().filter(|_| hit) {
                    Some(plan) => match plan.delay() {
                        Some(delay) => {
                            plan.mark_delayed();
                            (response, Some(delay))
                        }
                        None => (plan.apply(response.clone(), u64::MAX).unwrap_or(response), None),
                    },
                    None => (response, None),
                }
            }
        };
        if recorded && state.recording.is_some() {
            let sequence = state.sequence.next();
            let seen = SeenApdu { sequence, command: apdu.to_vec(), response: (!response.is_empty()).then(|| response.clone()) };
            if let Some(recording) = state.recording.as_mut() {
                recording.push(seen);
            }
        }
        (response, delay)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use mynatap_sim::credential::demo_card;
    use mynatap_sim::profile::{DeviceKind, Profile};

    /// Commands keep coming while recordings start and end (a bystander between two taps): every
    /// recorded command had the recording's hook run for it, so what the hook noted and what was
    /// recorded line up one to one (one more hook run at most: a command in flight as the
    /// recording ended, recorded nowhere).
    #[test]
    fn a_recording_and_its_hook_line_up_under_racing_commands() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let card = demo_card(Profile::builtin(DeviceKind::Iphone), 1, "1234").unwrap();
        let slot = CardSlot::new(Some(card), UserPresence::No, vec![0x3B, 0x00]);
        let done = Arc::new(AtomicBool::new(false));
        let sender = std::thread::spawn({
            let (slot, done) = (slot.clone(), done.clone());
            move || {
                while !done.load(Ordering::Relaxed) {
                    let _ = slot.answer(&[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x18]);
                }
            }
        });
        for _ in 0..2000 {
            let hooked = Arc::new(AtomicUsize::new(0));
            let counter = hooked.clone();
            slot.start_recording(
                Sequence::default(),
                Some(Box::new(move |_: &[u8]| {
                    counter.fetch_add(1, Ordering::SeqCst);
                    std::thread::yield_now();
                })),
            );
            std::thread::yield_now();
            let recorded = slot.take_recording().len();
            let hooked = hooked.load(Ordering::SeqCst);
            assert!(recorded <= hooked && hooked <= recorded + 1, "{recorded} recorded, hook ran {hooked} times");
        }
        done.store(true, Ordering::Relaxed);
        sender.join().unwrap();
    }

    /// A reader learns of a removal from the empty answer; the harness starts the next tap as
    /// soon as the reader's verdict is in, so the slot must already say the connection ended
    /// (else that tap would take pcscd's stale "present" for the card: the Java reader's
    /// `SCARD_E_NOT_TRANSACTED` once in a few thousand taps).
    #[test]
    fn a_removal_is_counted_as_it_is_decided() {
        let card = demo_card(Profile::builtin(DeviceKind::Iphone), 1, "1234").unwrap();
        let slot = CardSlot::new(Some(card), UserPresence::No, vec![0x3B, 0x00]);
        slot.set_fault(Some(mynatap_sim::transport::Fault::RemoveAfter { apdus: 1 }));
        let select = [0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x18];
        let before = slot.connections();
        assert!(!slot.answer(&select).0.is_empty());
        assert_eq!(slot.connections(), before, "a command answered is no removal");
        assert!(slot.answer(&select).0.is_empty());
        assert_ne!(slot.connections(), before, "the removal is counted before the bridge's task ends the connection");
    }

    /// A probe held back by one tap's transaction may land in the next: that tap's fault must
    /// not count it (it once fired a `remove_after` early), and the card answers it harmlessly.
    #[test]
    fn the_bystander_probe_is_no_command_the_fault_counts() {
        let card = demo_card(Profile::builtin(DeviceKind::Iphone), 1, "1234").unwrap();
        let slot = CardSlot::new(Some(card), UserPresence::No, vec![0x3B, 0x00]);
        slot.set_fault(Some(mynatap_sim::transport::Fault::RemoveAfter { apdus: 1 }));
        let select = [0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x18];
        for tag in [0x00, 0x59, 0xFF] {
            assert!(is_bystander_probe(&bystander_probe(tag)));
            assert_eq!(slot.answer(&bystander_probe(tag)).0, [0x6D, 0x00], "tag {tag:02X}");
        }
        assert!(!is_bystander_probe(&select) && !is_bystander_probe(&[0x80, 0xFE, 0x4D, 0x59]));
        assert!(!slot.answer(&select).0.is_empty(), "the reader's first command is answered");
        assert!(slot.answer(&select).0.is_empty(), "the card leaves after the reader's first command, the probes not counted");
    }
}
