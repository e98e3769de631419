//! mynatap-harness: scenario files in, verdicts out.
//!
//! Each job has its folder:
//! - [`scenario`]: the scenario language (format, validation, file:line:column locations, the
//!   built-in suite);
//! - [`play`]: playing scenarios (the runner and its players: in memory, over PC/SC, shards);
//! - [`certification`]: certifying a reader program (the adapter contract, the back ends over
//!   HTTP, the wire rules, the reference reader, statements, waivers, signed bundles);
//! - [`report`]: text, JSON, JUnit XML, HTML, merging shards;
//! - [`capture`]: captures of real devices, imported and replayed;
//! - [`files`]: the user's files, read and written safely (bounded, regular, no symlink followed).
//!
//! The `mynatap` binary (`src/cli/`) only parses arguments and calls these.
#![deny(missing_docs)]

pub mod capture;
pub mod files;
pub mod certification;
pub mod explore;
pub mod play;
pub mod report;
pub mod scenario;
