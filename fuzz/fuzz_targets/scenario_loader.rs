//! The scenario loader on arbitrary text: a typed error with a position, never a panic; a file
//! that loads is also played in memory, so the world clock, `advance_clock` and every date the
//! loader accepts are reached too (a file that loads must never crash a run).
#![no_main]
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use mynatap_harness::play::{run_scenario, MemoryPlayer};
use mynatap_harness::scenario::{parse, requirement_ids, REQUIREMENTS_MD};
use mynatap_sim::world::Profiles;

static REQUIREMENTS: LazyLock<BTreeSet<String>> = LazyLock::new(|| requirement_ids(REQUIREMENTS_MD));
static PROFILES: LazyLock<Profiles> = LazyLock::new(Profiles::default);

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match parse(Path::new("fuzz.yaml"), text, &REQUIREMENTS) {
        Ok(scenario) => {
            let _ = run_scenario(&scenario, 1, &PROFILES, &mut MemoryPlayer);
        }
        Err(error) => assert!(error.line >= 1 && error.column >= 1),
    }
});
