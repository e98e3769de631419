//! The card as a patient moves it under certification (contract 1.3, session mode): presented as
//! a PC/SC arrival before or after the reader is asked, taken away after its verdict, held again
//! after a removal, or left lying in the field for the next tap (docs/certification.md, "Card
//! events").

use std::sync::Mutex;
use std::time::{Duration, Instant};

use mynatap_drivers::pcsc_transport::wait_for_no_card;
use mynatap_drivers::vpcd::{CardSlot, UserPresence};
use mynatap_sim::card::Card;
use mynatap_sim::transport::Fault;
use mynatap_sim::transport::TransportError;
use mynatap_sim::world::{Arrival, CardMoves};

/// How long after the request line the card is presented: the reader has begun to wait by then.
const ARRIVAL_DELAY: Duration = Duration::from_millis(100);
/// How long a card left in the field lies there after the next request before it is taken
/// away: a reader that takes it for the next patient has sent it commands by then.
const LEFT_LYING: Duration = Duration::from_millis(400);
/// How long a card that left mid-command stays away before it is held again: vpcd takes a new
/// connection only after pcscd has polled the reader empty (measured: 100 ms is too short).
const AWAY_AFTER_REMOVAL: Duration = Duration::from_millis(600);
/// How long pcscd may take to report a card gone (it polls vpcd about every 400 ms).
const REMOVAL_SEEN_WITHIN: Duration = Duration::from_secs(3);
/// How long after a removal, in an event tap, the patient may hold the card again
/// (`MYNATAP_CARD_AGAIN_MS`); held again, it is back after about 0.6 s.
pub const CARD_AGAIN_MS: u64 = 3000;

/// What the reader is told of the card (`MYNATAP_CARD_ARRIVAL`): `in_field` (it is there: read
/// it) or `after_request` (wait for it to arrive; a card in the field now is not this tap's).
pub fn arrival_word(moves: &CardMoves) -> &'static str {
    if moves.arrives == Some(Arrival::AfterRequest) { "after_request" } else { "in_field" }
}

/// How long after a removal the patient may hold the card again (`MYNATAP_CARD_AGAIN_MS`): only
/// event taps give a second chance; a 1.2 tap's removal is final at once.
pub fn card_again_ms(moves: &CardMoves) -> u64 {
    if moves.with_events() { CARD_AGAIN_MS } else { 0 }
}

/// Takes the slot's card out of the field and waits until pcscd reports the reader empty, so a
/// reader waiting for a card sees a removal and, next, an arrival.
pub fn take_away(slot: &CardSlot, reader: &str) -> Result<(), String> {
    slot.leave_field();
    wait_for_no_card(reader, REMOVAL_SEEN_WITHIN, &crate::play::pcsc::PROBE).map_err(|e: TransportError| format!("pcscd did not report the card gone: {e}"))
}

/// A card presented after the request: it arrives (after a card left lying there is taken
/// away) while the reader waits.
#[derive(Debug)]
pub struct Presentation {
    /// When the card entered the field (the patient's wait starts here).
    pub presented_at: Mutex<Option<Instant>>,
    /// How many commands the slot had recorded when the card left lying was taken away: those
    /// went to it, not to this tap's card.
    pub to_card_left_lying: Mutex<usize>,
}

impl Presentation {
    /// A presentation not made yet.
    pub fn new() -> Self {
        Self { presented_at: Mutex::new(None), to_card_left_lying: Mutex::new(0) }
    }

    /// Run on a thread of its own while the reader is asked: waits, takes a card left lying in
    /// the field away (`left_lying`), then puts `card` in and presents it. On failure the card
    /// comes back with the reason.
    pub fn present(
        &self,
        slot: &CardSlot,
        reader: &str,
        card: Card,
        presence: UserPresence,
        fault: Option<Fault>,
        left_lying: bool,
    ) -> Result<(), Box<(String, Card)>> {
        if left_lying {
            std::thread::sleep(LEFT_LYING);
            if let Err(error) = take_away(slot, reader) {
                return Err(Box::new((error, card)));
            }
            if let Ok(mut count) = self.to_card_left_lying.lock() {
                *count = slot.recorded();
            }
        } else {
            std::thread::sleep(ARRIVAL_DELAY);
        }
        slot.insert(card, presence);
        slot.set_fault(fault);
        if let Ok(mut at) = self.presented_at.lock() {
            *at = Some(Instant::now());
        }
        slot.enter_field();
        Ok(())
    }
}

/// `held_again`: once the card has left the field (its `remove_after` fault), waits until pcscd
/// reports it gone and presents it again, as a patient who sees the screen ask for it does.
/// Returns at once when `done` is set (the tap ended) with the card still out.
pub fn hold_again_after_removal(slot: &CardSlot, reader: &str, done: &std::sync::atomic::AtomicBool) -> Result<(), String> {
    use std::sync::atomic::Ordering;
    // In the field first (a card presented after the request is not yet), then out of it.
    for in_field in [false, true] {
        while slot.in_field() == in_field {
            if done.load(Ordering::Relaxed) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    take_away(slot, reader)?;
    std::thread::sleep(AWAY_AFTER_REMOVAL);
    slot.hold_again();
    slot.enter_field();
    Ok(())
}

impl Default for Presentation {
    fn default() -> Self {
        Self::new()
    }
}
