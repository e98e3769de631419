//! The scenario loader on arbitrary text: a typed error with a position, never a panic.
#![no_main]
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use mynatap_harness::scenario::{parse, requirement_ids, REQUIREMENTS_MD};

static REQUIREMENTS: LazyLock<BTreeSet<String>> = LazyLock::new(|| requirement_ids(REQUIREMENTS_MD));

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Err(error) = parse(Path::new("fuzz.yaml"), text, &REQUIREMENTS) {
        assert!(error.line >= 1 && error.column >= 1);
    }
});
