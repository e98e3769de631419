//! Taps over real PC/SC: the tapped device is served through vpcd (a bridge this player starts
//! and stops) and the terminal talks to it through pcscd with the `pcsc` crate.

use std::time::Duration;

use mynatap_sim::driver::run_tap;
use mynatap_sim::pcsc_transport::{wait_for_card, PcscTransport};
use mynatap_sim::transport::Faulty;
use mynatap_sim::vpcd::{self, CardSlot, UserPresence};
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
        ready(&reader).map_err(|e| format!("{e}: is pcscd running with vsmartcard-vpcd (reader `{reader}`, port {port})? scripts/test.sh starts it"))?;
        // The probe that went through must have reached this slot, not another process's card.
        if slot.answered() == 0 {
            return Err(crate::play::occupancy::occupied_message(&reader, port));
        }
        Ok(Self { runtime, slot, reader, bridge, apdu_times: Vec::new(), raw: None })
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
            self.slot.insert(card, UserPresence::Yes);
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

/// Waits until an APDU really goes through `reader`: presence alone can be pcscd's stale view of
/// a card from an earlier bridge that has just gone.
pub fn ready(reader: &str) -> Result<(), String> {
    use mynatap_sim::transport::Transport;
    let deadline = std::time::Instant::now() + PRESENCE_WAIT;
    loop {
        // One probe at a time in this process: libpcsclite crashed (a general protection fault in
        // the transport's worker, seen under `certify --mutants --jobs 2`) when two threads set
        // up and released their contexts at once. Short waits, so the other reader's probe is
        // held up for a moment at most.
        let attempt = {
            let _one_at_a_time = PROBE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            wait_for_card(reader, Duration::from_millis(200)).and_then(|()| {
                let mut transport = PcscTransport::connect(Some(reader), Duration::from_millis(500), Duration::from_millis(500))?;
                let answer = transport.transmit(&[0x00, 0xA4, 0x04, 0x0C]);
                drop(transport);
                answer
            })
        };
        match attempt {
            Ok(_) => return Ok(()),
            Err(error) if std::time::Instant::now() >= deadline => return Err(error.to_string()),
            // pcscd notices a new vpcd card within milliseconds; poll often, not long.
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

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
        world.tap_with(spec, |card, tap, backends, timeout_ms| {
            slot.insert(card, presence);
            let report = PcscTransport::connect(Some(reader), PRESENCE_WAIT, Duration::from_millis(timeout_ms))
                .map_err(WorldError::from)
                .map(|transport| {
                    let mut transcript = Vec::new();
                    let mut transport = Faulty::new(Timed { inner: transport, times }, spec.fault, timeout_ms);
                    let outcome = run_tap(tap, &mut transport, backends, Some(&mut transcript));
                    let fault_fired = transport.fault_fired();
                    // Disconnect (and so reset) before the card leaves the slot.
                    drop(transport);
                    TapReport { outcome, transcript, fault_fired }
                });
            (slot.take(), report)
        })
    }
}
