//! Taps over real PC/SC: the tapped device is served through vpcd (a bridge this player starts
//! and stops) and the terminal talks to it through pcscd with the `pcsc` crate.

use std::time::Duration;

use mynatap_drivers::pcsc_transport::PcscTransport;
use mynatap_drivers::vpcd::{self, CardSlot, UserPresence};
use mynatap_sim::driver::run_tap;
use mynatap_sim::transport::Faulty;
use mynatap_sim::transport::Transport;
use mynatap_sim::world::{TapReport, TapSpec, TapTarget, World, WorldError};

use super::timing::Timed;
use crate::play::TapPlayer;

/// How long a new bridge may take to show up as a card (pcscd polls about every 0.4 s).
pub const PRESENCE_WAIT: Duration = Duration::from_secs(5);

/// One vpcd port (one reader) with its bridge.
#[derive(Debug)]
pub struct PcscPlayer {
    runtime: tokio::runtime::Runtime,
    pub(crate) slot: CardSlot,
    reader: String,
    bridge: tokio::task::JoinHandle<Result<(), vpcd::VpcdError>>,
    /// Round-trip time of every APDU sent, for `bench-tap`.
    pub apdu_times: Vec<Duration>,
    /// The device in the field for raw APDU steps, and the connection to it.
    raw: Option<(TapTarget, PcscTransport)>,
    /// The reader's state on a context kept open (asked before every command under certify).
    pub(crate) watch: std::sync::Arc<mynatap_drivers::pcsc_transport::ReaderWatch>,
}

impl PcscPlayer {
    /// Starts a bridge on `127.0.0.1:port` and waits until pcscd shows its card. Refuses a
    /// reader that already holds another process's card, and checks that the card answering
    /// through pcscd is this bridge's.
    pub fn start(port: u16) -> Result<Self, String> {
        Self::start_reader(&super::readers::VirtualReader { port, name: vpcd::reader_name(port) })
    }

    /// As [`start`](Self::start), for a reader of the configuration ([`super::readers`]).
    pub fn start_reader(virtual_reader: &super::readers::VirtualReader) -> Result<Self, String> {
        let (port, reader) = (virtual_reader.port, virtual_reader.name.clone());
        crate::play::occupancy::ensure_no_card(&reader, port)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("vpcd-bridge")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the bridge runtime: {e}"))?;
        let default_atr = mynatap_sim::profile::Profile::builtin(mynatap_sim::profile::DeviceKind::Android).atr.0;
        let slot = CardSlot::new(None, UserPresence::No, default_atr);
        let address = format!("127.0.0.1:{port}");
        let bridge = runtime.spawn({
            let slot = slot.clone();
            async move { vpcd::run(&address, slot, true, None).await }
        });
        let watch = std::sync::Arc::new(
            mynatap_drivers::pcsc_transport::ReaderWatch::new(&reader, &PROBE)
                .map_err(|e| format!("cannot watch `{reader}`: {e}: is pcscd running? scripts/test.sh starts it"))?,
        );
        ready(&reader, &watch, &slot)
            .map_err(|e| format!("{e}: is pcscd running with vsmartcard-vpcd (reader `{reader}`, port {port})? scripts/test.sh starts it"))?;
        // The probe that went through must have reached this slot, not another process's card.
        if slot.answered() == 0 {
            return Err(crate::play::occupancy::occupied_message(&reader, port));
        }
        Ok(Self { runtime, slot, reader, bridge, apdu_times: Vec::new(), raw: None, watch })
    }

    /// The PC/SC reader's name.
    pub fn reader(&self) -> &str {
        &self.reader
    }
    /// The bridge's runtime, for servers that live as long as the player.
    pub fn runtime(&self) -> &tokio::runtime::Runtime {
        &self.runtime
    }

    /// Puts `device` in the slot and connects to it through pcscd, unless it is there already.
    fn raw_connect(&mut self, world: &mut World, device: &str) -> Result<&mut PcscTransport, WorldError> {
        let target = world.device_target(device)?;
        if self.raw.as_ref().is_some_and(|(held, _)| *held != target) {
            self.end_raw(world);
        }
        if self.raw.is_none() {
            let (target, card) = world.lend_device(device)?;
            // Raw steps play a device in a person's hand: Face ID done, as `World::raw_exchange`.
            if !self.slot.in_field() {
                // Taken away by an event tap: pcscd must see it gone before it comes back.
                let _ = mynatap_drivers::pcsc_transport::wait_for_no_card(&self.reader, PRESENCE_WAIT, &PROBE);
            }
            self.slot.insert(card, UserPresence::Yes);
            self.slot.enter_field();
            self.raw_open(world, target)?;
        }
        match self.raw.as_mut() {
            Some((_, transport)) => Ok(transport),
            None => Err(WorldError::Task("no raw session".into())),
        }
    }

    /// Connects to the device in the slot; on failure the device goes back to the world.
    fn raw_open(&mut self, world: &mut World, target: TapTarget) -> Result<(), WorldError> {
        match PcscTransport::connect(Some(&self.reader), PRESENCE_WAIT, RAW_TIMEOUT) {
            Ok(transport) => {
                self.raw = Some((target, transport));
                Ok(())
            }
            Err(error) => {
                if let Some(card) = self.slot.take() {
                    world.return_device(&target, card);
                }
                Err(error.into())
            }
        }
    }
}

/// How long a raw step waits for its answer (no terminal sets one).
const RAW_TIMEOUT: Duration = Duration::from_secs(5);

/// Held by the probe of [`ready`]: one at a time in this process.
pub(crate) static PROBE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Waits until an APDU really goes through `reader` (on `watch`'s context): presence alone can be
/// pcscd's stale view of a card from an earlier bridge that has just gone. A card held
/// exclusively by some program for a second on end is an error (in session mode: the reader
/// kept it past its last verdict). A card pcscd reports mute (it failed to reset it while the
/// bridge was away, and never saw it leave) is taken out of `slot`'s field until pcscd sees it
/// gone and put back, as a person would pull a card that does not answer and insert it again.
/// So is a card pcscd reports absent for over a second while the bridge serves it: pcscd failed
/// to reset the card of a client that died holding it just as that card's bridge left, marked
/// the reader empty, and (the next bridge connecting before its next poll) never saw a card
/// arrive; only a removal its poll sees, and the arrival after it, set it right.
pub fn ready(reader: &str, watch: &mynatap_drivers::pcsc_transport::ReaderWatch, slot: &CardSlot) -> Result<(), String> {
    use mynatap_drivers::pcsc_transport::Holding;
    use mynatap_sim::transport::TransportError;
    let started = std::time::Instant::now();
    let deadline = started + PRESENCE_WAIT;
    let mut held_since: Option<std::time::Instant> = None;
    let mut mute_since: Option<std::time::Instant> = None;
    let mut absent_since: Option<std::time::Instant> = None;
    loop {
        if watch.mute().unwrap_or(false) {
            if mute_since.get_or_insert_with(std::time::Instant::now).elapsed() >= MUTE_BEFORE_REINSERTING {
                slot.leave_field();
                let gone = mynatap_drivers::pcsc_transport::wait_for_no_card(reader, PRESENCE_WAIT, &PROBE);
                slot.enter_field();
                gone.map_err(|e| format!("`{reader}` reported a mute card, and did not see it taken out: {e}"))?;
                mute_since = None;
            }
        } else {
            mute_since = None;
        }
        // On a context kept open: nothing is set up or released, so no lock is taken (see `PROBE`).
        let attempt = match watch.holding() {
            Ok(Holding::Exclusive) => Err(TransportError::ReaderBusy),
            _ => match watch.present() {
                Ok(true) => watch.reach(&[0x00, 0xA4, 0x04, 0x0C]),
                Ok(false) => Err(TransportError::NoReader { message: format!("no card in `{reader}` after {} ms", PRESENCE_WAIT.as_millis()) }),
                Err(error) => Err(error),
            },
        };
        let now = std::time::Instant::now();
        if matches!(attempt, Err(TransportError::NoReader { .. })) && slot.in_field() {
            if now.duration_since(*absent_since.get_or_insert(now)) >= ABSENT_BEFORE_RESEATING && now + RESEAT_PAUSE < deadline {
                slot.leave_field();
                std::thread::sleep(RESEAT_PAUSE);
                slot.enter_field();
                absent_since = None;
                continue;
            }
        } else {
            absent_since = None;
        }
        match attempt {
            Ok(_) => return Ok(()),
            Err(TransportError::ReaderBusy) if now.duration_since(*held_since.get_or_insert(now)) >= HELD_TOO_LONG => {
                return Err(format!(
                    "the card in `{reader}` has been held exclusively by another program for {} ms: a reader must let go of the card after each verdict",
                    HELD_TOO_LONG.as_millis()
                ));
            }
            Err(TransportError::ReaderBusy) => {}
            Err(error) if now >= deadline => return Err(error.to_string()),
            Err(_) => held_since = None,
        }
        // pcscd notices a new vpcd card within milliseconds; poll often, not long.
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether some program holds the card exclusively right now (an error counts as held: the
/// caller then proves the card reachable the long way, with [`ready`]).
pub fn held_exclusively(watch: &mynatap_drivers::pcsc_transport::ReaderWatch) -> bool {
    use mynatap_drivers::pcsc_transport::Holding;
    !matches!(watch.holding(), Ok(Holding::Free | Holding::Shared))
}

/// How long the card may be held exclusively by another program when a tap begins.
const HELD_TOO_LONG: Duration = Duration::from_secs(1);

/// How long a mute card is left before it is taken out and put back (a reset pcscd is doing
/// right now may still power it).
const MUTE_BEFORE_REINSERTING: Duration = Duration::from_millis(200);

/// How long pcscd may report no card while the bridge serves one before the card is taken out
/// and put back: it reports a new card within one 400 ms poll.
const ABSENT_BEFORE_RESEATING: Duration = Duration::from_millis(1200);

/// How long a re-seated card stays out: longer than one of pcscd's 400 ms polls, so one of them
/// sees the reader empty.
const RESEAT_PAUSE: Duration = Duration::from_millis(600);

impl Drop for PcscPlayer {
    fn drop(&mut self) {
        self.bridge.abort();
        let _ = &self.runtime;
    }
}

impl TapPlayer for PcscPlayer {
    fn raw_apdu(&mut self, world: &mut World, device: &str, command: &[u8]) -> Result<Vec<u8>, WorldError> {
        Ok(self.raw_connect(world, device)?.transmit(command)?)
    }

    /// Disconnects with SCARD_RESET_CARD (pcscd resets the card through vpcd) and connects again.
    fn raw_reset(&mut self, world: &mut World, device: &str) -> Result<(), WorldError> {
        self.raw_connect(world, device)?;
        if let Some((target, transport)) = self.raw.take() {
            drop(transport);
            // The reset also reaches the card directly: pcscd's view of when to power a card is
            // its own, the scenario's is exact.
            self.slot.reset();
            self.raw_open(world, target)?;
        }
        Ok(())
    }

    fn end_raw(&mut self, world: &mut World) {
        if let Some((target, transport)) = self.raw.take() {
            drop(transport);
            if let Some(card) = self.slot.take() {
                world.return_device(&target, card);
            }
        }
    }

    fn tap(&mut self, world: &mut World, spec: &TapSpec, _: &crate::scenario::Expectation) -> Result<TapReport, WorldError> {
        let presence = if spec.user_verified { UserPresence::Yes } else { UserPresence::No };
        let (slot, reader, times) = (&self.slot, &self.reader, &mut self.apdu_times);
        let moves = spec.moves;
        world.tap_with(spec, |card, tap, backends, timeout_ms| {
            // Contract 1.3: a card arriving after the request is taken away first (a removal
            // pcscd reports), then presented while the terminal waits for it.
            let after_request = moves.arrives == Some(mynatap_sim::world::Arrival::AfterRequest);
            // Out of the field after an event tap: pcscd must see it gone before it comes back.
            let emptied = if moves.with_events() || !slot.in_field() {
                slot.leave_field();
                mynatap_drivers::pcsc_transport::wait_for_no_card(reader, PRESENCE_WAIT, &PROBE).map_err(WorldError::from)
            } else {
                Ok(())
            };
            slot.insert(card, presence);
            if !after_request {
                slot.enter_field();
            }
            let report = std::thread::scope(|scope| {
                let presenter = after_request.then(|| {
                    scope.spawn(|| {
                        std::thread::sleep(Duration::from_millis(100));
                        slot.enter_field();
                    })
                });
                let report = emptied
                    .and_then(|()| PcscTransport::connect(Some(reader), PRESENCE_WAIT, Duration::from_millis(timeout_ms)).map_err(WorldError::from))
                    .map(|transport| {
                        let mut transcript = Vec::new();
                        let mut transport = Faulty::new(Timed { inner: transport, times }, spec.fault, timeout_ms).held_again(moves.held_again);
                        let outcome = run_tap(tap, &mut transport, backends, Some(&mut transcript));
                        let fault_fired = transport.fault_fired();
                        // Disconnect (and so reset) before the card leaves the slot.
                        drop(transport);
                        TapReport { outcome, transcript, fault_fired }
                    });
                if let Some(presenter) = presenter {
                    let _ = presenter.join();
                }
                report
            });
            if moves.with_events() && !moves.stays {
                slot.leave_field();
            }
            (slot.take(), report)
        })
    }
}
