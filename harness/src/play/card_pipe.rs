//! `mynatap card`: a virtual card on stdin/stdout, one hex APDU a line, for people and scripts.

use std::io::{BufRead, Write};

use mynatap_sim::apdu::{CommandApdu, parse_hex};
use mynatap_sim::card::Card;

/// Longest line read (an extended APDU in hex with spaces is under 200 KiB).
pub const MAX_LINE_BYTES: usize = 256 * 1024;

/// Serves `card` until end of input. Responses go to `output`, one line per command; problems
/// with a line go to `errors` with its line number, and the pipe goes on. A closed `output` (the
/// reader left) ends the pipe as end of input does; `errors` that cannot be written are dropped.
pub fn serve(card: &mut Card, user_verified: bool, input: impl BufRead, mut output: impl Write, mut errors: impl Write) -> std::io::Result<()> {
    card.set_user_verified(user_verified);
    let mut input = input;
    let mut buffer = Vec::new();
    let mut number = 0usize;
    loop {
        buffer.clear();
        number += 1;
        let read = std::io::Read::take(&mut input, MAX_LINE_BYTES as u64 + 1).read_until(b'\n', &mut buffer)?;
        if read == 0 {
            return Ok(());
        }
        if buffer.len() > MAX_LINE_BYTES && !buffer.ends_with(b"\n") {
            let _ = writeln!(errors, "line {number}: longer than {MAX_LINE_BYTES} bytes, skipped");
            // Drop the rest of the over-long line.
            loop {
                buffer.clear();
                let more = std::io::Read::take(&mut input, MAX_LINE_BYTES as u64).read_until(b'\n', &mut buffer)?;
                if more == 0 || buffer.ends_with(b"\n") {
                    break;
                }
            }
            continue;
        }
        let text = String::from_utf8_lossy(&buffer);
        let line = text.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        if line.eq_ignore_ascii_case("reset") {
            // A power cycle: selections, verified PINs and the Face ID window are gone.
            card.reset();
            continue;
        }
        let bytes = match parse_hex(line) {
            Ok(bytes) => bytes,
            Err(error) => {
                let _ = writeln!(errors, "line {number}: {error}");
                continue;
            }
        };
        let command = match CommandApdu::decode(&bytes) {
            Ok(command) => command,
            Err(error) => {
                let _ = writeln!(errors, "line {number}: not an APDU: {error}");
                continue;
            }
        };
        let response = card.process(&command);
        let written = if response.data.is_empty() {
            writeln!(output, "{:04X}", response.sw.0)
        } else {
            writeln!(output, "{} {:04X}", hex::encode_upper(&response.data), response.sw.0)
        };
        match written.and_then(|()| output.flush()) {
            Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            other => other?,
        }
    }
}
