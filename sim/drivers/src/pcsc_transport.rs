//! The terminal side over real PC/SC (feature `pcsc`): any reader pcscd knows, the vpcd virtual
//! reader included.
//!
//! PC/SC transmits block with no deadline (vpcd has none either), so the card handle lives on a
//! worker thread and every transmit waits on it with the terminal's timeout. A response shorter
//! than a status word means the card died mid-command (vpcd answers an empty success then).

use std::ffi::CString;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use pcsc::{Context, Disposition, Protocols, ReaderState, Scope, ShareMode, State};

use mynatap_sim::transport::{Transport, TransportError};

fn map_error(error: pcsc::Error) -> TransportError {
    use pcsc::Error as E;
    match error {
        E::RemovedCard | E::NoSmartcard | E::NotTransacted | E::ResetCard | E::UnpoweredCard | E::UnresponsiveCard => TransportError::CardRemoved,
        E::Timeout => TransportError::Timeout { ms: 0 },
        E::NoService | E::ServiceStopped => TransportError::NoReader { message: "pcscd is not running (start it: pcscd, as root)".into() },
        E::NoReadersAvailable => TransportError::NoReader { message: "pcscd knows no reader".into() },
        E::UnknownReader | E::ReaderUnavailable => TransportError::NoReader { message: format!("reader unavailable: {error}") },
        E::SharingViolation => TransportError::ReaderBusy,
        other => TransportError::Other { message: other.to_string() },
    }
}

enum Job {
    Transmit(Vec<u8>),
}

/// A connection to a card in a PC/SC reader.
#[derive(Debug)]
pub struct PcscTransport {
    reader: String,
    atr: Vec<u8>,
    jobs: Option<mpsc::Sender<Job>>,
    replies: mpsc::Receiver<Result<Vec<u8>, TransportError>>,
    timeout: Duration,
    /// Set when a transmit outlived its deadline: the worker is still blocked in it.
    stuck: bool,
    /// Signals when the worker has disconnected (and so reset) the card.
    done: Option<mpsc::Receiver<()>>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Transmit(command) => write!(f, "Transmit({})", hex::encode_upper(command)),
        }
    }
}

/// The readers pcscd knows, with whether a card is in each.
pub fn list_readers() -> Result<Vec<(String, bool)>, TransportError> {
    let context = Context::establish(Scope::User).map_err(map_error)?;
    let names = context.list_readers_owned().map_err(map_error)?;
    let mut states: Vec<ReaderState> = names.iter().map(|name| ReaderState::new(name.clone(), State::UNAWARE)).collect();
    if !states.is_empty() {
        context.get_status_change(Duration::ZERO, &mut states).map_err(map_error)?;
    }
    Ok(states.iter().map(|state| (state.name().to_string_lossy().into_owned(), state.event_state().contains(State::PRESENT))).collect())
}

/// Who holds the card in a reader, as pcscd tells any client (no connection needed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holding {
    /// No client is connected to the card.
    Free,
    /// Connected in shared mode: any other client may connect too and send commands.
    Shared,
    /// Connected with `SCARD_SHARE_EXCLUSIVE`: every other connect is refused.
    Exclusive,
}

/// How the card in `reader` is held right now (pcscd's `SCARD_STATE_EXCLUSIVE` and
/// `SCARD_STATE_INUSE`).
pub fn holding(reader: &str) -> Result<Holding, TransportError> {
    let context = Context::establish(Scope::User).map_err(map_error)?;
    let name = CString::new(reader).map_err(|_| TransportError::NoReader { message: "reader name has a NUL byte".into() })?;
    let mut states = [ReaderState::new(name, State::UNAWARE)];
    context.get_status_change(Duration::ZERO, &mut states).map_err(map_error)?;
    Ok(holding_of(states[0].event_state()))
}

/// A reader's state as pcscd reports it, asked on one PC/SC context kept open (setting one up
/// costs about 0.4 ms; asking on it about 0.01 ms): what a harness asks before every command.
pub struct ReaderWatch {
    context: Context,
    name: CString,
}

impl std::fmt::Debug for ReaderWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReaderWatch").field("reader", &self.name).finish()
    }
}

impl ReaderWatch {
    /// Opens the context (with `serial` held: see [`probe_as_bystander`]).
    pub fn new(reader: &str, serial: &std::sync::Mutex<()>) -> Result<Self, TransportError> {
        let name = CString::new(reader).map_err(|_| TransportError::NoReader { message: "reader name has a NUL byte".into() })?;
        let _one = serial.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(Self { context: Context::establish(Scope::User).map_err(map_error)?, name })
    }

    /// Whether a card is present (not mute) right now.
    pub fn present(&self) -> Result<bool, TransportError> {
        let state = self.event_state()?;
        Ok(state.contains(State::PRESENT) && !state.contains(State::MUTE))
    }

    /// Whether pcscd reports a card it could not power (`SCARD_STATE_PRESENT | SCARD_STATE_MUTE`:
    /// pcsc-lite's "swallowed" card, after a reset that failed because the card had gone). pcscd
    /// powers it again only at a new insertion, so a card that came back before its next poll
    /// saw it gone stays mute.
    pub fn mute(&self) -> Result<bool, TransportError> {
        let state = self.event_state()?;
        Ok(state.contains(State::PRESENT) && state.contains(State::MUTE))
    }

    /// Sends `command` to the card in a shared connection and lets go with a reset (pcscd then
    /// powers the card up afresh and reads its ATR): proof that a command reaches the card. For
    /// a harness's own card, which answers at once (a transmit has no deadline of its own).
    pub fn reach(&self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        let card = self.context.connect(&self.name, ShareMode::Shared, Protocols::ANY).map_err(map_error)?;
        let mut buffer = [0u8; 258];
        let answer = card.transmit(command, &mut buffer).map(<[u8]>::to_vec).map_err(map_error);
        let _ = card.disconnect(Disposition::ResetCard);
        match answer {
            Ok(response) if response.len() < 2 => Err(TransportError::CardRemoved),
            other => other,
        }
    }

    /// pcscd's state of the reader right now, asked on the open context.
    fn event_state(&self) -> Result<State, TransportError> {
        let mut states = [ReaderState::new(self.name.clone(), State::UNAWARE)];
        self.context.get_status_change(Duration::ZERO, &mut states).map_err(map_error)?;
        Ok(states[0].event_state())
    }

    /// How the card is held right now (see [`holding`]).
    pub fn holding(&self) -> Result<Holding, TransportError> {
        Ok(holding_of(self.event_state()?))
    }
}

fn holding_of(state: State) -> Holding {
    if state.contains(State::EXCLUSIVE) {
        Holding::Exclusive
    } else if state.contains(State::INUSE) {
        Holding::Shared
    } else {
        Holding::Free
    }
}

/// What a bystander meets when it tries to reach the card another client is working with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bystander {
    /// Its connect is refused: the card is held with `SCARD_SHARE_EXCLUSIVE`.
    RefusedConnect,
    /// It connects, but its command is refused: the holder is inside a transaction
    /// (`SCardBeginTransaction`, javax.smartcardio's `beginExclusive`).
    RefusedCommand,
    /// Its command ([`crate::vpcd::bystander_probe`]) reached the card.
    Reached,
    /// Nothing could be concluded (no card, pcscd gone).
    Unknown,
}

/// Tries to reach the card in `reader` as another program on the machine would: a shared connect
/// and one harmless command, leaving the card as it is (no reset). `serial` is held while a
/// PC/SC context is set up or released (libpcsclite does not take two threads doing that at
/// once), never while the command waits for the card.
pub fn probe_as_bystander(reader: &str, serial: &std::sync::Mutex<()>, tag: u8) -> Bystander {
    let one_at_a_time = || serial.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let Ok(name) = CString::new(reader) else { return Bystander::Unknown };
    let established = {
        let _one = one_at_a_time();
        Context::establish(Scope::User)
    };
    let Ok(context) = established else { return Bystander::Unknown };
    // The connect may wait for the command in flight: never while holding `serial`.
    let card = match context.connect(&name, ShareMode::Shared, Protocols::ANY) {
        Ok(card) => card,
        Err(error) => {
            let _one = one_at_a_time();
            drop(context);
            return if error == pcsc::Error::SharingViolation { Bystander::RefusedConnect } else { Bystander::Unknown };
        }
    };
    let mut buffer = [0u8; 258];
    let outcome = match card.transmit(&crate::vpcd::bystander_probe(tag), &mut buffer) {
        Ok(_) => Bystander::Reached,
        Err(pcsc::Error::SharingViolation) => Bystander::RefusedCommand,
        Err(_) => Bystander::Unknown,
    };
    let _one = one_at_a_time();
    let _ = card.disconnect(Disposition::LeaveCard);
    drop(context);
    outcome
}

/// Waits until a card is present in `reader`, up to `wait`.
pub fn wait_for_card(reader: &str, wait: Duration) -> Result<(), TransportError> {
    let name = CString::new(reader).map_err(|_| TransportError::NoReader { message: "reader name has a NUL byte".into() })?;
    let context = Context::establish(Scope::User).map_err(map_error)?;
    match wait_until(&context, name, wait, |state| state.contains(State::PRESENT) && !state.contains(State::MUTE))? {
        true => Ok(()),
        false => Err(TransportError::NoReader { message: format!("no card in `{reader}` after {} ms", wait.as_millis()) }),
    }
}

/// Waits until pcscd reports `reader` empty (the card has left the field), up to `wait`.
/// `serial` is held while the PC/SC context is set up and released (see
/// [`probe_as_bystander`]), never while waiting.
pub fn wait_for_no_card(reader: &str, wait: Duration, serial: &std::sync::Mutex<()>) -> Result<(), TransportError> {
    let one_at_a_time = || serial.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let name = CString::new(reader).map_err(|_| TransportError::NoReader { message: "reader name has a NUL byte".into() })?;
    let context = {
        let _one = one_at_a_time();
        Context::establish(Scope::User).map_err(map_error)?
    };
    let gone = wait_until(&context, name, wait, |state| !state.contains(State::PRESENT));
    let _one = one_at_a_time();
    drop(context);
    match gone? {
        true => Ok(()),
        false => Err(TransportError::NoReader { message: format!("the card in `{reader}` was still there after {} ms", wait.as_millis()) }),
    }
}

/// Waits on `context` until the reader's state meets `wanted`, up to `wait`: whether it did.
fn wait_until(context: &Context, name: CString, wait: Duration, wanted: impl Fn(State) -> bool) -> Result<bool, TransportError> {
    let deadline = Instant::now() + wait;
    let mut states = [ReaderState::new(name, State::UNAWARE)];
    loop {
        context.get_status_change(Duration::ZERO, &mut states).map_err(map_error)?;
        if wanted(states[0].event_state()) {
            return Ok(true);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        states[0].sync_current_state();
        match context.get_status_change(left, &mut states) {
            Ok(()) | Err(pcsc::Error::Timeout) => {}
            Err(error) => return Err(map_error(error)),
        }
    }
}

impl PcscTransport {
    /// Connects to the card in `reader` (or in the first reader holding one) with
    /// `SCARD_SHARE_EXCLUSIVE`, as a terminal holds the card through a tap so no other program on
    /// the machine can send it a command; waiting up to `wait` for the card to appear and for a
    /// client that holds it to let go. Each transmit may take up to `timeout`.
    pub fn connect(reader: Option<&str>, wait: Duration, timeout: Duration) -> Result<Self, TransportError> {
        Self::connect_with(reader, wait, timeout, ShareMode::Exclusive)
    }

    /// [`PcscTransport::connect`] in shared mode: other clients may connect and send commands
    /// while this one holds the card (what contract 1.3 forbids a reader program; for tests).
    pub fn connect_shared(reader: Option<&str>, wait: Duration, timeout: Duration) -> Result<Self, TransportError> {
        Self::connect_with(reader, wait, timeout, ShareMode::Shared)
    }

    fn connect_with(reader: Option<&str>, wait: Duration, timeout: Duration, mode: ShareMode) -> Result<Self, TransportError> {
        let deadline = Instant::now() + wait;
        loop {
            match Self::connect_once(reader, wait, timeout, mode) {
                // Another client holds the card for now (a probe, a bystander's shared connect):
                // try again until the wait is over.
                Err(TransportError::ReaderBusy) if Instant::now() < deadline => thread::sleep(Duration::from_millis(5)),
                other => return other,
            }
        }
    }

    fn connect_once(reader: Option<&str>, wait: Duration, timeout: Duration, mode: ShareMode) -> Result<Self, TransportError> {
        let readers = list_readers()?;
        let name = match reader {
            Some(name) if readers.iter().any(|(known, _)| known == name) => name.to_owned(),
            Some(name) => {
                let known: Vec<&str> = readers.iter().map(|(known, _)| known.as_str()).collect();
                return Err(TransportError::NoReader { message: format!("no reader `{name}` (readers: {})", known.join(", ")) });
            }
            None => match readers.iter().find(|(_, present)| *present) {
                Some((name, _)) => name.clone(),
                None => return Err(TransportError::NoReader { message: "no reader holds a card".into() }),
            },
        };
        wait_for_card(&name, wait)?;
        let c_name = CString::new(name.clone()).map_err(|_| TransportError::NoReader { message: "reader name has a NUL byte".into() })?;
        let (jobs, inbox) = mpsc::channel::<Job>();
        let (answers, replies) = mpsc::channel();
        let (connected, connection) = mpsc::channel();
        let (finished, done) = mpsc::channel();
        // The connect happens on the worker too: SCardConnect has no deadline of its own and can
        // block while a virtual card is coming back.
        thread::Builder::new()
            .name(format!("pcsc {name}"))
            .spawn(move || {
                let card = Context::establish(Scope::User).and_then(|context| Ok((context.connect(&c_name, mode, Protocols::ANY)?, context)));
                let (card, context) = match card {
                    Ok(pair) => pair,
                    Err(error) => {
                        let _ = connected.send(Err(map_error(error)));
                        return;
                    }
                };
                let atr = card.status2_owned().map(|status| status.atr().to_vec()).unwrap_or_default();
                if connected.send(Ok(atr)).is_err() {
                    return;
                }
                let mut buffer = vec![0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED];
                while let Ok(Job::Transmit(command)) = inbox.recv() {
                    let result = match card.transmit(&command, &mut buffer) {
                        Ok(response) if response.len() < 2 => Err(TransportError::CardRemoved),
                        Ok(response) => Ok(response.to_vec()),
                        Err(error) => Err(map_error(error)),
                    };
                    if answers.send(result).is_err() {
                        break;
                    }
                }
                // Leaving the field: the card is reset for whoever comes next.
                let _ = card.disconnect(Disposition::ResetCard);
                // The context is released before the owner hears "done": a process that exits
                // right after would otherwise run libpcsclite's exit-time cleanup while this
                // thread is still releasing the context (measured: "double free or corruption"
                // aborting a reader program at the end of a tap).
                drop(context);
                let _ = finished.send(());
            })
            .map_err(|e| TransportError::Other { message: format!("cannot start the PC/SC worker: {e}") })?;
        let atr = match connection.recv_timeout(wait + timeout) {
            Ok(result) => result?,
            Err(_) => return Err(TransportError::Timeout { ms: (wait + timeout).as_millis() as u64 }),
        };
        Ok(Self { reader: name, atr, jobs: Some(jobs), replies, timeout, stuck: false, done: Some(done) })
    }

    /// The PC/SC reader's name.
    pub fn reader(&self) -> &str {
        &self.reader
    }
}

impl Transport for PcscTransport {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        if self.stuck {
            return Err(TransportError::Timeout { ms: self.timeout.as_millis() as u64 });
        }
        let jobs = self.jobs.as_ref().ok_or(TransportError::CardRemoved)?;
        jobs.send(Job::Transmit(command.to_vec())).map_err(|_| TransportError::CardRemoved)?;
        match self.replies.recv_timeout(self.timeout) {
            Ok(result) => result.map_err(|error| match error {
                TransportError::Timeout { .. } => TransportError::Timeout { ms: self.timeout.as_millis() as u64 },
                other => other,
            }),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                self.stuck = true;
                Err(TransportError::Timeout { ms: self.timeout.as_millis() as u64 })
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(TransportError::CardRemoved),
        }
    }
    fn atr(&mut self) -> Result<Vec<u8>, TransportError> {
        Ok(self.atr.clone())
    }
    fn card_present(&mut self) -> bool {
        !self.stuck && self.jobs.is_some()
    }
}

impl Drop for PcscTransport {
    fn drop(&mut self) {
        // Closing the job channel ends the worker, which disconnects; waiting for it keeps the
        // card's reset from reaching whatever is tapped next. A worker stuck in a transmit is left
        // to end when that returns.
        self.jobs.take();
        // Bounded: a disconnect from a reader whose card just vanished can hang in pcscd.
        if let Some(done) = self.done.take()
            && !self.stuck
        {
            let _ = done.recv_timeout(Duration::from_secs(1));
        }
    }
}
