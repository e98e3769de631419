//! A virtual My Number card answering APDUs in a loop: each line of standard input is a command
//! APDU in hex, each answer is printed in hex. With nothing on standard input it plays a short
//! session of its own (SELECT the JPKI application, read the token label, a wrong PIN, the right
//! one), so `cargo run -p mynatap-sim --example card_loop < /dev/null` shows the shape.
//!
//! The card is a plain value: `process_bytes` takes a command and returns the response, with no
//! I/O, clock or randomness inside. Wire it to any transport you like.

use std::io::BufRead;

use mynatap_sim::credential::demo_card;
use mynatap_sim::profile::{DeviceKind, Profile};

/// SELECT the JPKI application, SELECT and READ the token info file (`00 06`), SELECT the
/// authentication PIN, VERIFY a wrong PIN (`63 C2`: two tries left), then the right one.
const SESSION: [&str; 6] = ["00A4040C0AD392F000260100000001", "00A4020C020006", "00B0000020", "00A4020C020018", "002000800439393939", "002000800431323334"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A physical card of seed 1 whose user-authentication PIN is 1234.
    let mut card = demo_card(Profile::builtin(DeviceKind::Card), 1, "1234")?;
    println!("ATR {}", hex::encode_upper(card.atr()));
    let mut lines: Vec<String> = std::io::stdin().lock().lines().collect::<Result<_, _>>()?;
    if lines.iter().all(|line| line.trim().is_empty()) {
        lines = SESSION.iter().map(|line| (*line).to_owned()).collect();
    }
    for line in lines.iter().map(|line| line.trim()).filter(|line| !line.is_empty()) {
        // Bytes from outside are untrusted: a line that is not hex is reported, not a panic.
        let Ok(command) = hex::decode(line) else {
            eprintln!("not hex, skipped: {line}");
            continue;
        };
        let response = card.process_bytes(&command);
        println!("> {}\n< {}", hex::encode_upper(&command), hex::encode_upper(&response));
    }
    let counters = card.retry_counters();
    println!("user-authentication PIN: {} tries left", counters.auth);
    Ok(())
}
