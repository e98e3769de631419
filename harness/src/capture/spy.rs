//! pcsc-spy's text: what `pcsc-spy` prints while a client runs with
//! `LD_PRELOAD=libpcscspy.so.0`. Colours (ANSI escapes) and the thread prefixes of `(t1)` are
//! accepted; every `SCardTransmit` that returned SCARD_S_SUCCESS becomes an exchange, and a
//! disconnect or reconnect that resets or unpowers the card becomes a reset.

use std::collections::HashMap;

use super::{Event, push_reset};

/// What one thread's lines are in the middle of.
#[derive(Debug, Default)]
struct Call {
    name: String,
    line: usize,
    send: Option<Buffer>,
    recv: Option<Buffer>,
    /// Which buffer hexdump lines belong to.
    filling: Option<Direction>,
    resets_card: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    In,
    Out,
}

#[derive(Debug, Default)]
struct Buffer {
    /// The length pcsc-spy printed before the dump (`bSendLength 0x00000010 (16)`).
    declared: Option<usize>,
    bytes: Vec<u8>,
}

/// Removes ANSI colour escapes (`ESC [ ... m`).
fn strip_colours(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Splits the thread prefix (`(t1) `) off a line; the main thread has none.
fn thread_of(line: &str) -> (&str, &str) {
    let trimmed = line.trim_start();
    if let Some(rest) = trimmed.strip_prefix("(t")
        && let Some((digits, after)) = rest.split_once(") ")
        && !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
    {
        return (digits, after);
    }
    ("", line)
}

/// A length as pcsc-spy prints it: `0x00000010 (16)`.
fn declared_length(text: &str) -> Option<usize> {
    let hex = text.split_whitespace().next()?.strip_prefix("0x")?;
    usize::from_str_radix(hex, 16).ok()
}

/// One hexdump row, `0010 20 20 ... ascii`: the offset, then up to 16 bytes in the 47 columns
/// after it (the ASCII column after them may look like hex, so columns, not tokens, decide).
fn hexdump_row(text: &str) -> Option<(usize, Vec<u8>)> {
    let text = text.trim_start();
    let offset = text.get(..4).filter(|digits| digits.bytes().all(|b| b.is_ascii_hexdigit()))?;
    if text.as_bytes().get(4) != Some(&b' ') {
        return None;
    }
    let offset = usize::from_str_radix(offset, 16).ok()?;
    let columns = text.get(5..text.len().min(52)).unwrap_or_else(|| text.get(5..).unwrap_or_default());
    let mut bytes = Vec::with_capacity(16);
    for token in columns.split_whitespace() {
        if token.len() != 2 {
            return None;
        }
        bytes.push(u8::from_str_radix(token, 16).ok()?);
    }
    (!bytes.is_empty()).then_some((offset, bytes))
}

/// Parses pcsc-spy text into events; `Err((line, message))` names the 1-based line at fault.
pub fn parse(text: &str) -> Result<(Vec<Event>, Vec<String>), (usize, String)> {
    let mut events = Vec::new();
    let mut skipped = Vec::new();
    let mut calls: HashMap<String, Call> = HashMap::new();
    for (index, raw_line) in text.lines().enumerate() {
        let number = index + 1;
        let clean = strip_colours(raw_line);
        let (thread, line) = thread_of(&clean);
        let body = line.trim_start();
        if body.is_empty() {
            continue;
        }
        // A function name alone on its line opens a call.
        if body.starts_with("SCard") && !body.contains(' ') {
            let opened = calls.insert(thread.to_owned(), Call { name: body.to_owned(), line: number, ..Call::default() });
            if let Some(open) = opened.filter(|call| call.name == "SCardTransmit") {
                return Err((
                    open.line,
                    format!("SCardTransmit without its result line (`=> ...`) before the next call at line {number}: the capture is cut or garbled"),
                ));
            }
            continue;
        }
        let Some(call) = calls.get_mut(thread) else { continue };
        if let Some(result) = body.strip_prefix("=> ") {
            let call = calls.remove(thread).unwrap_or_default();
            let succeeded = result.contains("SCARD_S_SUCCESS");
            match call.name.as_str() {
                "SCardTransmit" => finish_transmit(call, succeeded, result, &mut events, &mut skipped)?,
                "SCardDisconnect" | "SCardReconnect" if succeeded && call.resets_card => push_reset(&mut events, call.line),
                _ => {}
            }
            continue;
        }
        let (direction, field) = match (body.strip_prefix("i "), body.strip_prefix("o ")) {
            (Some(field), _) => (Direction::In, field),
            (_, Some(field)) => (Direction::Out, field),
            _ => continue,
        };
        match call.name.as_str() {
            "SCardTransmit" => transmit_line(call, direction, field, number)?,
            "SCardDisconnect" if field.starts_with("dwDisposition:") => {
                call.resets_card = field.contains("SCARD_RESET_CARD") || field.contains("SCARD_UNPOWER_CARD");
            }
            "SCardReconnect" if field.starts_with("dwInitialization") => {
                // 1: SCARD_RESET_CARD, 2: SCARD_UNPOWER_CARD.
                call.resets_card = matches!(declared_length(field.trim_start_matches("dwInitialization").trim()), Some(1 | 2));
            }
            _ => {}
        }
    }
    if let Some(open) = calls.values().filter(|call| call.name == "SCardTransmit").min_by_key(|call| call.line) {
        return Err((open.line, "SCardTransmit without its result line (`=> ...`): the capture ends inside it (cut?)".into()));
    }
    Ok((events, skipped))
}

fn transmit_line(call: &mut Call, direction: Direction, field: &str, number: usize) -> Result<(), (usize, String)> {
    let buffer = match direction {
        Direction::In => &mut call.send,
        Direction::Out => &mut call.recv,
    };
    if let Some(length) = field.strip_prefix("bSendLength ").or_else(|| field.strip_prefix("bRecvLength ")) {
        buffer.get_or_insert_with(Buffer::default).declared = declared_length(length);
        call.filling = None;
    } else if field == "bSendBuffer" || field == "bRecvBuffer" {
        buffer.get_or_insert_with(Buffer::default);
        call.filling = Some(direction);
    } else if call.filling == Some(direction) {
        if field.trim() == "NULL" {
            call.filling = None;
            return Ok(());
        }
        let Some((offset, bytes)) = hexdump_row(field) else {
            call.filling = None;
            return Ok(());
        };
        let buffer = buffer.get_or_insert_with(Buffer::default);
        if offset != buffer.bytes.len() {
            return Err((number, format!("hexdump row at offset {offset:04X} where {:04X} was expected: is a line missing?", buffer.bytes.len())));
        }
        if buffer.bytes.len() + bytes.len() > mynatap_sim::apdu::MAX_COMMAND_LEN {
            return Err((number, "a buffer longer than any APDU".into()));
        }
        buffer.bytes.extend_from_slice(&bytes);
    }
    Ok(())
}

fn finish_transmit(call: Call, succeeded: bool, result: &str, events: &mut Vec<Event>, skipped: &mut Vec<String>) -> Result<(), (usize, String)> {
    let command = call.send.unwrap_or_default();
    if !succeeded {
        let code = result.split(" (").next().unwrap_or(result).trim();
        skipped.push(format!("line {}: SCardTransmit of {} failed ({code})", call.line, hex::encode_upper(&command.bytes)));
        return Ok(());
    }
    let response = call.recv.unwrap_or_default();
    for (name, buffer) in [("bSendBuffer", &command), ("bRecvBuffer", &response)] {
        if let Some(declared) = buffer.declared
            && declared != buffer.bytes.len()
        {
            return Err((call.line, format!("{name} holds {} bytes but its length says {declared}: the capture is cut or garbled", buffer.bytes.len())));
        }
    }
    if command.bytes.is_empty() || response.bytes.len() < 2 {
        return Err((call.line, "an SCardTransmit without a command or a status word".into()));
    }
    events.push(Event::Exchange { command: command.bytes, response: response.bytes, line: call.line });
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    /// Made on Debian 12 (pcsc-lite 1.9.9): a C client passing a receive PCI, under
    /// `LD_PRELOAD=libpcscspy.so.0`, against `mynatap serve-card --profile android`.
    const COLOUR: &str = include_str!("../../../fixtures/captures/pcsc-spy-android-select-read.log");

    #[test]
    fn reads_pcsc_spy_with_colours_and_without() {
        let (events, skipped) = parse(COLOUR).unwrap();
        assert!(skipped.is_empty());
        let plain = strip_colours(COLOUR);
        assert_eq!(parse(&plain).unwrap().0, events);
        let exchanges: Vec<(String, String)> = events
            .iter()
            .filter_map(|event| match event {
                Event::Exchange { command, response, .. } => Some((hex::encode_upper(command), hex::encode_upper(response))),
                Event::Reset { .. } => None,
            })
            .collect();
        assert_eq!(exchanges[0], ("00A4040C0AD392F00026010000000100".into(), "9000".into()));
        assert_eq!(exchanges[2].0, "00B0000000");
        assert_eq!(exchanges[2].1, format!("{}9000", hex::encode_upper(b"JPKIAPGPSETOKEN                 ")));
        // The client disconnected with SCARD_RESET_CARD after its last command (dropped by
        // `capture::parse`: it changes nothing a replay sees).
        assert!(matches!(events.last(), Some(Event::Reset { .. })));
        let capture = crate::capture::parse(std::path::Path::new("spy.log"), COLOUR).unwrap();
        assert_eq!((capture.exchanges(), capture.resets()), (3, 0));
    }

    #[test]
    fn ascii_column_that_looks_like_hex_is_not_data() {
        let (offset, bytes) = hexdump_row("0000 41 42                                           AB").unwrap();
        assert_eq!((offset, bytes), (0, vec![0x41, 0x42]));
    }

    #[test]
    fn a_missing_row_and_a_wrong_length_are_errors_naming_the_line() {
        let cut: String = COLOUR.lines().filter(|line| !line.contains(" 0010 20 20")).map(|line| format!("{line}\n")).collect();
        let (line, message) = parse(&cut).unwrap_err();
        assert!(message.contains("offset 0020"), "{message}");
        assert!(line > 0);
        // Cut inside a receive buffer, or a transmit whose result line is gone: named, not dropped.
        let cut_at = COLOUR.rfind("bRecvBuffer").unwrap();
        assert!(parse(&COLOUR[..cut_at]).unwrap_err().1.contains("ends inside it"));
        let no_result: String = COLOUR.lines().filter(|line| !line.contains("=> Command successful")).map(|line| format!("{line}\n")).collect();
        assert!(parse(&no_result).unwrap_err().1.contains("without its result line"));
        let short = COLOUR.replace("bRecvLength 0x00000022 (34)", "bRecvLength 0x00000023 (35)");
        assert!(parse(&short).unwrap_err().1.contains("holds 34 bytes but its length says 35"));
    }

    #[test]
    fn failed_transmits_are_skipped_and_said_so_and_threads_kept_apart() {
        // Rows as pcsc-spy pads them: the hex columns are 47 wide, then the ASCII column.
        let row = |hex: &str| format!("0000 {hex:<47} ..");
        let text = format!(
            "SCardTransmit\n i bSendLength 0x00000002 (2)\n i bSendBuffer\n i  {}\n o bRecvBuffer\n o  NULL\n => Card was removed. (SCARD_W_REMOVED_CARD [0x80100069])  [0.000100]\n",
            row("00 B0")
        );
        let (events, skipped) = parse(&text).unwrap();
        assert!(events.is_empty());
        assert!(skipped[0].contains("Card was removed"), "{skipped:?}");
        let threads = format!(
            "SCardTransmit\n    (t1) SCardTransmit\n i bSendBuffer\n    (t1)  i bSendBuffer\n i  {}\n    (t1)  i  {}\n o bRecvBuffer\n    (t1)  o bRecvBuffer\n o  {}\n    (t1)  o  {}\n => Command successful. (SCARD_S_SUCCESS [0x00000000])\n    (t1)  => Command successful. (SCARD_S_SUCCESS [0x00000000])\n",
            row("00 A4"),
            row("00 B0"),
            row("90 00"),
            row("6A 82")
        );
        let (events, _) = parse(&threads).unwrap();
        assert_eq!(events.len(), 2);
        assert!(matches!(&events[1], Event::Exchange { command, response, .. } if command == &[0x00, 0xB0] && response == &[0x6A, 0x82]));
    }
}
