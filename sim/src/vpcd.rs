//! The card side of vsmartcard's `vpcd`: a virtual card served to pcscd over TCP, so unmodified
//! PC/SC programs see it in the reader `Virtual PCD 00 00` (port 35963) or `00 01` (35964).
//!
//! Framing both ways: a 2-byte big-endian length, then the payload. A 1-byte payload from vpcd is
//! a control message (`00` power off, `01` power on, `02` reset, `04` get ATR); a longer one is a
//! command APDU. The frame logic ([`parse_length`], [`Message::classify`]) is sans-IO; [`serve`]
//! is the thin tokio loop around it. The bridge serves whatever card is in its [`CardSlot`], so a
//! harness can change the tapped device between taps without reconnecting (pcscd only notices a
//! new card connection at its next poll, about 0.4 s later).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::card::Card;
use crate::transport::{FaultDecision, FaultPlan};

/// How long a removed card stays away: pcscd reports an idle reader empty within about 0.2 s.
const REMOVAL_PAUSE: Duration = Duration::from_millis(600);

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

/// Where vpcd listens for the card of `Virtual PCD 00 00`.
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:35963";
/// The reader name pcscd gives the card on `port` (35963 -> `00 00`, 35964 -> `00 01`).
pub fn reader_name(port: u16) -> String {
    format!("Virtual PCD 00 {:02}", port.saturating_sub(35963))
}

/// Largest frame the bridge takes: a command with 4 KiB of data in extended form. No JPKI
/// command comes near it (the largest is a 32-byte sign); anything longer is a broken peer.
pub const MAX_FRAME_LEN: usize = 4 + 3 + 4096 + 2;

/// Answered when an APDU arrives while no card is in the slot: an empty reply would make vpcd
/// drop the connection, and the harness wants the bridge to stay.
const NO_CARD_STATUS: [u8; 2] = [0x6F, 0x00];

#[derive(Debug, thiserror::Error)]
/// Why the bridge to vpcd stopped.
pub enum VpcdError {
    #[error("cannot reach vpcd at {address} (is pcscd running with the vsmartcard-vpcd driver? start it, or pass --reconnect to wait)")]
    /// vpcd does not listen at `address`.
    Connect {
        /// Where vpcd was expected.
        address: String,
        /// Why the connection failed.
        #[source]
        source: std::io::Error,
    },
    #[error("vpcd closed the connection")]
    /// vpcd closed the connection.
    Closed,
    #[error("vpcd sent a frame of {0} bytes, over the {MAX_FRAME_LEN}-byte maximum command APDU")]
    /// A frame longer than any command this bridge takes.
    FrameTooLong(usize),
    #[error("vpcd sent an empty frame")]
    /// A frame of no bytes.
    EmptyFrame,
    #[error("vpcd connection broke in the middle of a frame: {0}")]
    /// The connection broke in the middle of a frame.
    Truncated(std::io::Error),
    #[error("vpcd connection failed: {0}")]
    /// Any other socket failure.
    Io(#[from] std::io::Error),
    /// The card left the field (a `remove_after` fault): the bridge dropped the connection in the
    /// middle of an APDU, as a card process that dies does.
    #[error("the card left the field")]
    Removed,
    /// The harness took the card out of the field ([`CardSlot::leave_field`]): the bridge closed
    /// its connection between commands, which pcscd reports as a removal at its next poll.
    #[error("the card was taken out of the field")]
    LeftField,
}

/// What one frame from vpcd asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message<'a> {
    /// Power the card off.
    PowerOff,
    /// Power the card on.
    PowerOn,
    /// Reset the card (warm reset).
    Reset,
    /// Send the ATR.
    GetAtr,
    /// A control byte this bridge does not know; ignored (vpcd expects no answer to controls).
    UnknownControl(u8),
    /// A command APDU to answer.
    Apdu(&'a [u8]),
}

impl<'a> Message<'a> {
    /// Reads one frame's payload (untrusted): a one-byte control, or an APDU.
    pub fn classify(payload: &'a [u8]) -> Result<Self, VpcdError> {
        Ok(match payload {
            [] => return Err(VpcdError::EmptyFrame),
            [0x00] => Self::PowerOff,
            [0x01] => Self::PowerOn,
            [0x02] => Self::Reset,
            [0x04] => Self::GetAtr,
            [other] => Self::UnknownControl(*other),
            apdu => Self::Apdu(apdu),
        })
    }
}

/// Reads a frame's length header; refuses lengths no APDU can have.
pub fn parse_length(header: [u8; 2]) -> Result<usize, VpcdError> {
    match usize::from(u16::from_be_bytes(header)) {
        0 => Err(VpcdError::EmptyFrame),
        len if len > MAX_FRAME_LEN => Err(VpcdError::FrameTooLong(len)),
        len => Ok(len),
    }
}

/// Frames a payload for vpcd.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let len = u16::try_from(payload.len()).unwrap_or(u16::MAX);
    let mut out = Vec::with_capacity(payload.len() + 2);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload.get(..usize::from(len)).unwrap_or(payload));
    out
}

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

struct SlotState {
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
    /// [`REMOVAL_PAUSE`] (true: 1.2 taps, and `held_again`), or stays out until
    /// [`CardSlot::enter_field`].
    removal_returns: bool,
    /// Counts the bridge's connections to vpcd and their ends (a removal's as it is decided):
    /// unchanged, the card pcscd reached last is still this slot's, in the field all along.
    connections: u64,
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

/// An APDU as the card saw it. `response` is `None` when the card had left the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenApdu {
    /// Its place in the run's global order.
    pub sequence: u64,
    /// The command bytes.
    pub command: Vec<u8>,
    /// The response bytes (`None`: the card had left the field).
    pub response: Option<Vec<u8>>,
}

/// Run with each recorded command just before it is answered (see [`CardSlot::start_recording`]).
pub type CommandHook = Box<dyn FnMut(&[u8]) + Send>;

/// The card a bridge serves, shared with whoever decides what is tapped, and whether it is in
/// the field: the bridge is connected to vpcd (pcscd sees a card) only while it is.
#[derive(Debug, Clone)]
pub struct CardSlot(Arc<Mutex<SlotState>>, Arc<tokio::sync::watch::Sender<bool>>);

/// What the bridge tells an observer (logs, `serve-card --record`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BridgeEvent<'a> {
    /// A command and the answer sent (empty: the card left the field instead).
    /// The command, and the response sent.
    Apdu {
        /// The command bytes.
        command: &'a [u8],
        /// The response bytes (empty: the card left instead).
        response: &'a [u8],
    },
    /// vpcd powered the card off, on, or reset it.
    Power,
}

/// Sees everything the bridge does with the card, in order.
pub type ApduObserver = dyn Fn(BridgeEvent<'_>) + Send + Sync;

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

    fn lock(&self) -> std::sync::MutexGuard<'_, SlotState> {
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
    pub fn set_fault(&self, fault: Option<crate::transport::Fault>) {
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

    fn answer(&self, apdu: &[u8]) -> (Vec<u8>, Option<Duration>) {
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

/// Connects to vpcd with the socket options that keep a round trip near 0.1 ms (without them
/// Nagle and delayed ACKs add about 44 ms per APDU).
pub async fn connect(address: &str) -> Result<TcpStream, VpcdError> {
    let stream = TcpStream::connect(address).await.map_err(|source| VpcdError::Connect { address: address.to_owned(), source })?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

fn quickack(stream: &TcpStream) {
    // The kernel clears TCP_QUICKACK after use, so it is set again before every read; failure
    // only costs latency.
    let _ = socket2::SockRef::from(stream).set_tcp_quickack(true);
}

/// Serves the slot's card on one vpcd connection until vpcd goes away or sends a bad frame.
pub async fn serve(mut stream: TcpStream, slot: CardSlot, observer: Option<&ApduObserver>) -> Result<(), VpcdError> {
    let mut payload = Vec::with_capacity(512);
    let mut field = slot.1.subscribe();
    loop {
        quickack(&stream);
        let mut header = [0u8; 2];
        let read = tokio::select! {
            read = stream.read_exact(&mut header) => read,
            // Taken out of the field between commands: the connection goes (a half-read header
            // goes with it, as a card leaving mid-frame would).
            _ = field.wait_for(|in_field| !*in_field) => return Err(VpcdError::LeftField),
        };
        match read {
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => return Err(VpcdError::Closed),
            Err(error) => return Err(VpcdError::Io(error)),
        }
        let len = parse_length(header)?;
        payload.resize(len, 0);
        stream.read_exact(&mut payload).await.map_err(VpcdError::Truncated)?;
        match Message::classify(&payload)? {
            Message::PowerOff | Message::PowerOn | Message::Reset => {
                slot.reset();
                if let Some(observe) = observer {
                    observe(BridgeEvent::Power);
                }
            }
            Message::GetAtr => stream.write_all(&frame(&slot.atr())).await?,
            Message::UnknownControl(_) => {}
            Message::Apdu(apdu) => {
                let (response, delay) = slot.answer(apdu);
                if let Some(observe) = observer {
                    observe(BridgeEvent::Apdu { command: apdu, response: &response });
                }
                if response.is_empty() {
                    // Dying mid-command; an empty frame instead would leave vpcd in a state where
                    // the next connection's card cannot be connected to (measured).
                    return Err(VpcdError::Removed);
                }
                if let Some(delay) = delay {
                    tokio::time::sleep(delay).await;
                }
                stream.write_all(&frame(&response)).await?;
            }
        }
    }
}

/// Connects and serves; with `reconnect`, a lost or refused connection is retried with backoff
/// (100 ms doubling to 5 s) for as long as the caller lets the future run.
pub async fn run(address: &str, slot: CardSlot, reconnect: bool, observer: Option<&ApduObserver>) -> Result<(), VpcdError> {
    let mut backoff = Duration::from_millis(100);
    let mut field = slot.1.subscribe();
    loop {
        // Out of the field: no connection, so pcscd sees no card, until the harness puts it back.
        if field.wait_for(|in_field| *in_field).await.is_err() {
            return Ok(());
        }
        let result = match connect(address).await {
            Ok(stream) => {
                backoff = Duration::from_millis(100);
                slot.lock().connections += 1;
                tracing::info!(address, "connected to vpcd");
                let served = serve(stream, slot.clone(), observer).await;
                // Gone (a removal, the field left, vpcd closed): counted at once, not at the
                // next connection, so nobody takes the card for there meanwhile.
                slot.lock().connections += 1;
                served
            }
            Err(error) => Err(error),
        };
        match result {
            Ok(()) => return Ok(()),
            Err(VpcdError::Removed) if reconnect => {
                if slot.lock().removal_returns {
                    // Stay out of the field long enough for pcscd to see the reader empty.
                    tracing::info!("card removed; back in the field shortly");
                    tokio::time::sleep(REMOVAL_PAUSE).await;
                } else {
                    tracing::info!("card removed; out of the field until it is presented again");
                    slot.leave_field();
                }
            }
            Err(VpcdError::LeftField) => tracing::info!("card taken out of the field"),
            Err(error) if reconnect => {
                tracing::warn!(%error, retry_in_ms = backoff.as_millis() as u64, "vpcd session ended");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            Err(error) => return Err(error),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::credential::demo_card;
    use crate::profile::{DeviceKind, Profile};
    use tokio::net::TcpListener;

    #[test]
    fn frames_and_messages() {
        assert_eq!(parse_length([0x00, 0x05]).unwrap(), 5);
        assert!(matches!(parse_length([0xFF, 0xFF]), Err(VpcdError::FrameTooLong(65_535))));
        assert!(matches!(parse_length([0, 0]), Err(VpcdError::EmptyFrame)));
        assert_eq!(Message::classify(&[4]).unwrap(), Message::GetAtr);
        assert_eq!(Message::classify(&[0, 0xA4, 4, 0]).unwrap(), Message::Apdu(&[0, 0xA4, 4, 0]));
        assert_eq!(frame(&[0x90, 0x00]), vec![0, 2, 0x90, 0x00]);
        assert_eq!(reader_name(35964), "Virtual PCD 00 01");
    }

    /// A fake vpcd on loopback: talks to the bridge exactly as vpcd would.
    #[tokio::test]
    async fn answers_controls_and_apdus_and_ends_cleanly_on_bad_frames() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let card = demo_card(Profile::builtin(DeviceKind::Iphone), 1, "1234").unwrap();
        let atr = card.atr().to_vec();
        let slot = CardSlot::new(None, UserPresence::No, vec![0x3B, 0x00]);
        slot.insert(card, UserPresence::Yes);
        let bridge = tokio::spawn({
            let slot = slot.clone();
            async move { run(&address, slot, false, None).await }
        });
        let (mut vpcd, _) = listener.accept().await.unwrap();
        vpcd.write_all(&frame(&[0x04])).await.unwrap();
        let mut reply = [0u8; 2];
        vpcd.read_exact(&mut reply).await.unwrap();
        let mut body = vec![0u8; usize::from(u16::from_be_bytes(reply))];
        vpcd.read_exact(&mut body).await.unwrap();
        assert_eq!(body, atr);
        vpcd.write_all(&frame(&[0x01])).await.unwrap();
        vpcd.write_all(&frame(&hex::decode("00A4040C0AD392F00026010000000100").unwrap())).await.unwrap();
        vpcd.read_exact(&mut reply).await.unwrap();
        let mut body = vec![0u8; usize::from(u16::from_be_bytes(reply))];
        vpcd.read_exact(&mut body).await.unwrap();
        assert_eq!(body, vec![0x90, 0x00]);
        // A frame longer than any APDU ends the session with a clear error.
        vpcd.write_all(&[0xFF, 0xFF]).await.unwrap();
        let error = bridge.await.unwrap().unwrap_err();
        assert!(matches!(error, VpcdError::FrameTooLong(65_535)), "{error}");
        // The Face ID window survives the power-on reset.
        assert!(slot.take().unwrap().user_verified());
    }

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
        slot.set_fault(Some(crate::transport::Fault::RemoveAfter { apdus: 1 }));
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
        slot.set_fault(Some(crate::transport::Fault::RemoveAfter { apdus: 1 }));
        let select = [0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x18];
        for tag in [0x00, 0x59, 0xFF] {
            assert!(is_bystander_probe(&bystander_probe(tag)));
            assert_eq!(slot.answer(&bystander_probe(tag)).0, [0x6D, 0x00], "tag {tag:02X}");
        }
        assert!(!is_bystander_probe(&select) && !is_bystander_probe(&[0x80, 0xFE, 0x4D, 0x59]));
        assert!(!slot.answer(&select).0.is_empty(), "the reader's first command is answered");
        assert!(slot.answer(&select).0.is_empty(), "the card leaves after the reader's first command, the probes not counted");
    }

    #[tokio::test]
    async fn truncated_frame_and_refused_connection_are_errors() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let slot = CardSlot::new(None, UserPresence::No, vec![0x3B, 0x00]);
        let bridge = tokio::spawn({
            let slot = slot.clone();
            async move { run(&address, slot, false, None).await }
        });
        let (mut vpcd, _) = listener.accept().await.unwrap();
        vpcd.write_all(&[0x00, 0x10, 0x00, 0xA4]).await.unwrap();
        drop(vpcd);
        assert!(matches!(bridge.await.unwrap(), Err(VpcdError::Truncated(_))));
        drop(listener);
        // Port 1 (tcpmux) has no listener here; a port freed by this test could be taken by a
        // parallel test's listener.
        let refused = run("127.0.0.1:1", slot, false, None).await;
        assert!(matches!(refused, Err(VpcdError::Connect { .. })));
    }
}
