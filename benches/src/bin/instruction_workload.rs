//! Fixed workloads for the instruction-count gate (`scripts/instruction-gate.sh` runs this under
//! callgrind, counting only inside the `workload_*` functions, so set-up is not counted).
//!
//! `instruction_workload tap` : 20 in-memory taps of a valid Android phone.
//! `instruction_workload codec`: 10 000 decodes and encodes of JPKI command APDUs.

use std::hint::black_box;
use std::process::ExitCode;

use mynatap_sim::apdu::CommandApdu;
use mynatap_sim::backend::PersonSpec;
use mynatap_sim::profile::DeviceKind;
use mynatap_sim::terminal::TerminalConfig;
use mynatap_sim::world::{Profiles, TapSpec, World};

#[inline(never)]
fn workload_tap(world: &mut World, spec: &TapSpec) -> usize {
    let mut verified = 0;
    for _ in 0..20 {
        if world.tap(spec).is_ok_and(|report| report.outcome.name() == "verified") {
            verified += 1;
        }
    }
    verified
}

#[inline(never)]
fn workload_codec(commands: &[Vec<u8>]) -> usize {
    let mut bytes = 0;
    for _ in 0..2_500 {
        for command in commands {
            if let Ok(apdu) = CommandApdu::decode(black_box(command))
                && let Ok(encoded) = apdu.encode()
            {
                bytes += encoded.len();
            }
        }
    }
    bytes
}

fn main() -> ExitCode {
    match std::env::args().nth(1).as_deref() {
        Some("tap") => {
            let Ok(mut world) = World::new(1, time::macros::datetime!(2026-04-01 09:00 +09:00), Profiles::default()) else { return ExitCode::FAILURE };
            let ready = world.add_terminal(TerminalConfig { id: "t".into(), smartphone: true, timeout_ms: 500, backend_timeout_ms: 2000 }).is_ok()
                && world.add_person(&PersonSpec::example("hanako")).is_ok()
                && world.add_initial_phone("hanako", "phone", (DeviceKind::Android, None), "1234", false).is_ok();
            if !ready {
                return ExitCode::FAILURE;
            }
            let spec = TapSpec::phone("phone");
            // One tap outside the count: the terminal's CRL index is built once, as in service.
            let _ = world.tap(&spec);
            let verified = workload_tap(&mut world, &spec);
            println!("{verified} taps verified");
            if verified == 20 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
        Some("codec") => {
            let commands: Vec<Vec<u8>> = ["00A4040C0AD392F00026010000000100", "00A4020C02000A", "00B0000004", "002000800431323334"]
                .iter()
                .filter_map(|text| mynatap_sim::apdu::parse_hex(text).ok())
                .chain(std::iter::once([vec![0x80, 0x2A, 0x00, 0x80, 0x20], vec![0x11; 32], vec![0x00]].concat()))
                .collect();
            println!("{} bytes", workload_codec(&commands));
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("usage: instruction_workload tap|codec");
            ExitCode::from(2)
        }
    }
}
