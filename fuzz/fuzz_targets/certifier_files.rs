//! The certifier's own YAML files on arbitrary text: the conformance statement (first byte even)
//! and the waivers file (odd). A typed error, never a panic; scripts/fuzz.sh runs it with a time
//! limit per input, so a shape that makes the reading slow fails the run too.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mynatap_harness::certification::{statement::Statement, waivers};

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    if which % 2 == 0 {
        let _ = Statement::parse("fuzz-statement.yaml", text);
    } else {
        let _ = waivers::parse("fuzz-waivers.yaml", text);
    }
});
