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
//!
//! A scenario file, loaded and played in memory against the built-in terminal:
//!
//! ```
//! use std::path::Path;
//! use mynatap_harness::play::{run_scenario, MemoryPlayer, Status};
//! use mynatap_harness::scenario::{parse, requirement_ids, REQUIREMENTS_MD};
//! use mynatap_sim::world::Profiles;
//!
//! let yaml = r#"
//! id: lost-phone
//! title: A phone reported lost is refused
//! covers: [Q20]
//! world:
//!   clock: 2026-04-01T09:00:00+09:00
//!   people:
//!     - id: hanako
//!       birth_date: 1990-05-12
//!       card: { cert_expires: 2030-05-12 }
//!       insurance: { registered: true, insurer: "06132013", valid_until: 2027-03-31 }
//!       phones: [{ id: hanako-android, os: android, pin: "4821" }]
//! steps:
//!   - tap: { phone: hanako-android, pin: "4821" }
//!   - report_lost: { phone: hanako-android }
//!   - tap: { phone: hanako-android, pin: "4821" }
//!     expect: { outcome: rejected, reason: certificate_suspended }
//! "#;
//! let requirements = requirement_ids(REQUIREMENTS_MD);
//! let scenario = parse(Path::new("lost-phone.yaml"), yaml, &requirements)?;
//! let result = run_scenario(&scenario, 1, &Profiles::default(), &mut MemoryPlayer);
//! assert_eq!(result.status, Status::Passed, "{:?}", result.failure);
//! # Ok::<(), mynatap_harness::scenario::LoadError>(())
//! ```
//!
//! More in `harness/examples/` (playing files and rendering the reports).
#![deny(missing_docs)]

pub mod capture;
pub mod certification;
pub mod explore;
pub mod files;
pub mod play;
pub mod report;
pub mod scenario;
