//! The vpcd frame reader on arbitrary bytes: a stream of length-prefixed frames.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mynatap_drivers::vpcd::{parse_length, Message};

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Some((header, tail)) = rest.split_first_chunk::<2>() {
        let Ok(len) = parse_length(*header) else { return };
        let Some(payload) = tail.get(..len) else { return };
        let _ = Message::classify(payload);
        rest = tail.get(len..).unwrap_or_default();
    }
});
