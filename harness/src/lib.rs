//! mynatap-harness: scenario files in, verdicts out.
//!
//! `scenario` (the format, validated, with file:line:column errors) -> `runner` (builds the world,
//! plays the steps, records transcripts) -> `report` (text, JSON, JUnit XML, coverage). The
//! `mynatap` binary only parses arguments and calls these.
pub mod adapter;
pub mod bench_tap;
pub mod capture;
pub mod card_pipe;
#[cfg(feature = "pcsc")]
pub mod certify;
pub mod demo_backends;
pub mod http_backend;
pub mod locate;
pub mod occupancy;
#[cfg(feature = "pcsc")]
pub mod pcsc_player;
#[cfg(feature = "pcsc")]
pub mod reference_reader;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod wire_rules;
