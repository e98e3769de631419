//! `mynatap bench-tap`: tap latency as a user of the simulator sees it, in memory or through
//! pcscd and vpcd (criterion benches measure the library; this measures the whole stack).

use std::time::{Duration, Instant};

use super::timing::{Timed, summarize};

use mynatap_sim::backend::PersonSpec;
use mynatap_sim::driver::run_tap;
use mynatap_sim::profile::DeviceKind;
use mynatap_sim::terminal::{Outcome, TerminalConfig};
use mynatap_sim::transport::DirectTransport;
use mynatap_sim::world::{Profiles, TapReport, TapSpec, World};
use time::macros::datetime;

fn world(os: DeviceKind) -> Result<World, String> {
    let mut world = World::new(1, datetime!(2026-04-01 09:00 +09:00), Profiles::default()).map_err(|e| e.to_string())?;
    world.add_terminal(TerminalConfig { id: "bench".into(), smartphone: true, timeout_ms: 2000, backend_timeout_ms: 2000 }).map_err(|e| e.to_string())?;
    world.add_person(&PersonSpec::example("hanako")).map_err(|e| e.to_string())?;
    match os {
        DeviceKind::Card => {}
        phone => world.add_initial_phone("hanako", "phone", (phone, None), "1234", false).map_err(|e| e.to_string())?,
    }
    Ok(world)
}

/// Runs `taps` taps of one device and reports tap and APDU times.
pub fn run(pcsc: bool, taps: usize, os: DeviceKind) -> Result<String, String> {
    if taps == 0 {
        return Err("--taps must be at least 1".into());
    }
    let mut world = world(os)?;
    let spec = if os == DeviceKind::Card { TapSpec::card("hanako") } else { TapSpec::phone("phone") };
    let mut tap_times = Vec::with_capacity(taps);
    let mut apdu_times = Vec::with_capacity(taps * 12);
    let mut player = start_player(pcsc)?;
    for _ in 0..taps {
        let start = Instant::now();
        let report = match player.as_mut() {
            Some(player) => player(&mut world, &spec, &mut apdu_times)?,
            None => world
                .tap_with(&spec, |mut card, tap, registry, _| {
                    let mut transport = Timed { inner: DirectTransport::new(&mut card), times: &mut apdu_times };
                    let outcome = run_tap(tap, &mut transport, registry, None);
                    (Some(card), Ok(TapReport { outcome, transcript: Vec::new(), fault_fired: None }))
                })
                .map_err(|e| e.to_string())?,
        };
        tap_times.push(start.elapsed());
        if !matches!(report.outcome, Outcome::Verified(_)) {
            return Err(format!("a tap did not verify: {}", report.outcome));
        }
    }
    let mut out = format!("bench-tap: {taps} taps of a valid {os}, transport {}\n", if pcsc { "pcsc (vpcd)" } else { "memory" });
    out.push_str(&summarize("tap", &mut tap_times));
    out.push_str(&summarize("apdu", &mut apdu_times));
    Ok(out)
}

type Player = Box<dyn FnMut(&mut World, &TapSpec, &mut Vec<Duration>) -> Result<TapReport, String>>;

#[cfg(feature = "pcsc")]
fn start_player(pcsc: bool) -> Result<Option<Player>, String> {
    use crate::play::TapPlayer;
    if !pcsc {
        return Ok(None);
    }
    let mut player = crate::play::pcsc::PcscPlayer::start(35963)?;
    Ok(Some(Box::new(move |world, spec, times| {
        let report = player.tap(world, spec, &crate::scenario::Expectation::Succeed).map_err(|e| e.to_string());
        times.append(&mut player.apdu_times);
        report
    })))
}

#[cfg(not(feature = "pcsc"))]
fn start_player(pcsc: bool) -> Result<Option<Player>, String> {
    if pcsc {
        return Err("this mynatap was built without PC/SC: build it with `cargo build --features pcsc`".into());
    }
    Ok(None)
}
