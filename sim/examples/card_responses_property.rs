//! A downstream property test: a reader's own response parser, fed every answer a virtual card
//! gives to generated command sessions (`mynatap_sim::strategies::jpki_command`: what JPKI
//! readers send, and near misses), then arbitrary bytes from a broken device. Copy the two
//! properties into your test suite as `proptest!` blocks; here a `TestRunner` runs them so
//! `cargo run -p mynatap-sim --example card_responses_property` shows a failure, shrunk, if any.

use mynatap_sim::credential::demo_card;
use mynatap_sim::profile::{DeviceKind, Profile};
use mynatap_sim::strategies::{arbitrary_bytes, jpki_command};
use proptest::collection::vec;
use proptest::prop_assert;
use proptest::test_runner::{Config, TestRunner};

/// What the code under test makes of a response APDU.
#[derive(Debug, PartialEq, Eq)]
enum Parsed<'a> {
    /// `90 00`, or a warning `62 xx` / `63 xx` that still carries data.
    Data(&'a [u8]),
    /// `63 Cx`: a wrong PIN, x tries left.
    TriesLeft(u8),
    /// Any other status word, without data.
    Refused(u16),
}

/// The code under test: a reader's parser of response APDUs (yours goes here).
fn parse_response(bytes: &[u8]) -> Result<Parsed<'_>, &'static str> {
    let (data, sw) = bytes.split_last_chunk::<2>().ok_or("shorter than a status word")?;
    match *sw {
        [0x90, 0x00] | [0x62 | 0x63, _] if !data.is_empty() => Ok(Parsed::Data(data)),
        [0x90, 0x00] => Ok(Parsed::Data(data)),
        [0x63, tries] if tries & 0xF0 == 0xC0 => Ok(Parsed::TriesLeft(tries & 0x0F)),
        [sw1, sw2] if data.is_empty() => Ok(Parsed::Refused(u16::from_be_bytes([sw1, sw2]))),
        _ => Err("data under an error status word"),
    }
}

fn main() {
    // No regression file: an example has no source folder to keep one in (a test crate would).
    let mut runner = TestRunner::new(Config { cases: 48, failure_persistence: None, ..Config::default() });
    // Every answer of a real-shaped card parses.
    let sessions = runner.run(&vec(jpki_command("1234"), 1..24), |session| {
        let mut card = demo_card(Profile::builtin(DeviceKind::Card), 1, "1234").expect("the demo card");
        for command in &session {
            let response = card.process_bytes(command);
            let parsed = parse_response(&response);
            prop_assert!(parsed.is_ok(), "{} answered {}: {:?}", hex::encode_upper(command), hex::encode_upper(&response), parsed);
        }
        Ok(())
    });
    // A broken device's bytes are refused, never a panic.
    let garbage = runner.run(&arbitrary_bytes(), |bytes| {
        let _ = parse_response(&bytes);
        Ok(())
    });
    match (sessions, garbage) {
        (Ok(()), Ok(())) => println!("parse_response: every card answer parsed; arbitrary bytes never panicked"),
        (sessions, garbage) => {
            eprintln!("property failed (shrunk): {sessions:?} {garbage:?}");
            std::process::exit(1);
        }
    }
}
