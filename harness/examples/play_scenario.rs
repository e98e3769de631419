//! Playing scenario files from Rust and reading the report, as a CI job embedding the harness
//! would: load (with file:line:column errors), play in memory against the built-in terminal,
//! then read each result and render the same text and JSON reports `mynatap run` prints.
//!
//! `cargo run -p mynatap-harness --example play_scenario [FILE.yaml ...]` (default: two files of
//! `scenarios/`).

use std::path::PathBuf;

use mynatap_harness::play::{MemoryPlayer, ScenarioResult, Status, run_scenario};
use mynatap_harness::report::{self, Run, Style, Summary};
use mynatap_harness::scenario::{REQUIREMENTS_MD, load_file, requirement_ids};
use mynatap_sim::pki::DEFAULT_SEED;
use mynatap_sim::world::Profiles;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    if files.is_empty() {
        files = vec![root.join("scenarios/android-verified.yaml"), root.join("scenarios/android-pin-blocked.yaml")];
    }
    // The requirement ids scenarios may cover (`covers:`), from docs/requirements.md.
    let requirements = requirement_ids(REQUIREMENTS_MD);
    let mut results: Vec<ScenarioResult> = Vec::new();
    for file in &files {
        match load_file(file, &requirements) {
            // The same seed gives the same keys, serials and challenges: a replayable run.
            Ok(scenario) => results.push(run_scenario(&scenario, DEFAULT_SEED, &Profiles::default(), &mut MemoryPlayer)),
            Err(error) => results.push(ScenarioResult::broken(&error)),
        }
    }
    for result in &results {
        let taps = result.steps.iter().filter(|step| step.action == "tap").count();
        println!("{}: {:?} after {} steps ({taps} taps)", result.id, result.status, result.steps.len());
        if let Some(failure) = &result.failure {
            println!("  step {} expected {}, got {}", failure.step, failure.expected, failure.actual);
        }
    }
    let run = Run { results: &results, seed: DEFAULT_SEED, transport: "memory", suite: "examples", certification: None };
    print!("{}", report::text(&run, &requirements, Style { colour: false }));
    let json = report::json(&run, &requirements);
    println!("JSON report: {} bytes", json.len());
    let summary = Summary::of(&results);
    if summary.passed != summary.total || results.iter().any(|result| result.status != Status::Passed) {
        return Err(format!("{} of {} scenarios passed", summary.passed, summary.total).into());
    }
    Ok(())
}
