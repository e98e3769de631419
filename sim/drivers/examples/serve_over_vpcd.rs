//! A virtual card served over vsmartcard's vpcd, so any PC/SC program sees it as a real card in
//! `Virtual PCD 00 00` (OpenSC, pcsc_scan, a vendor's reader), and read back here through PC/SC.
//! Needs pcscd running with the vsmartcard-vpcd driver (scripts/test.sh starts it) and the
//! feature `pcsc`:
//!
//! `cargo run -p mynatap-drivers --features pcsc --example serve_over_vpcd`
//!
//! Give `--forever` to keep serving until Ctrl-C and talk to the card with another program.

use std::time::Duration;

use mynatap_drivers::pcsc_transport::PcscTransport;
use mynatap_drivers::vpcd::{self, CardSlot, UserPresence};
use mynatap_sim::credential::demo_card;
use mynatap_sim::profile::{DeviceKind, Profile};
use mynatap_sim::transport::Transport;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let forever = std::env::args().any(|arg| arg == "--forever");
    let card = demo_card(Profile::builtin(DeviceKind::Card), 1, "1234")?;
    let atr = card.atr().to_vec();
    // The slot is shared: whoever holds a clone may put another card in or take it out.
    let slot = CardSlot::new(Some(card), UserPresence::No, atr);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let served = slot.clone();
    let bridge = std::thread::spawn(move || runtime.block_on(vpcd::run(vpcd::DEFAULT_ADDRESS, served, true, None)));
    let reader = vpcd::reader_name(35963);
    if forever {
        println!("serving a demo card (PIN 1234) in `{reader}`; Ctrl-C stops");
        return match bridge.join() {
            Ok(result) => Ok(result?),
            Err(_) => Err("the bridge thread panicked".into()),
        };
    }
    // The other side: PC/SC, as any reader program reaches the card.
    let mut transport = PcscTransport::connect(Some(&reader), Duration::from_secs(10), Duration::from_secs(2))?;
    println!("ATR over PC/SC: {}", hex::encode_upper(transport.atr()?));
    let select_jpki = hex::decode("00A4040C0AD392F000260100000001")?;
    let answer = transport.transmit(&select_jpki)?;
    println!("SELECT JPKI over PC/SC: {}", hex::encode_upper(&answer));
    if answer != [0x90, 0x00] {
        return Err(format!("the served card answered {} to SELECT", hex::encode_upper(&answer)).into());
    }
    // The bridge thread keeps its connection until the process ends.
    Ok(())
}
