//! mynatap-sim: a sans-IO model of the "My Number insurance card on a smartphone" protocol.
//!
//! The card ([`card`]) and the face-auth terminal ([`terminal`]) are state machines: bytes in,
//! bytes out, no sockets, threads, clocks or randomness inside. Time and randomness are passed in
//! (seeded), so every run replays exactly. This crate has no sockets, threads or async runtime at
//! all: [`driver`] joins a tap to a blocking [`transport`] in a plain loop, and [`world`] puts
//! people, devices, terminals and back ends under one clock. The drivers that do IO (vpcd, PC/SC,
//! a card in a tokio task) are the crate `mynatap-drivers`.
//!
//! A world with one person and her Android phone, tapped at the clinic's terminal:
//!
//! ```
//! use mynatap_sim::backend::PersonSpec;
//! use mynatap_sim::profile::DeviceKind;
//! use mynatap_sim::terminal::{Outcome, TerminalConfig};
//! use mynatap_sim::world::{Profiles, TapSpec, World};
//!
//! let now = time::macros::datetime!(2026-04-01 09:00 +09:00);
//! let mut world = World::new(1, now, Profiles::default())?;
//! world.add_terminal(TerminalConfig { id: "clinic".into(), smartphone: true, timeout_ms: 500, backend_timeout_ms: 2000 })?;
//! world.add_person(&PersonSpec::example("hanako"))?;
//! world.add_phone("hanako", "hanako-android", (DeviceKind::Android, None), Some("4821"))?;
//! let report = world.tap(&TapSpec { pin: Some("4821".into()), ..TapSpec::phone("hanako-android") })?;
//! assert!(matches!(report.outcome, Outcome::Verified(_)), "{:?}", report.outcome);
//! // Q20: reported lost, the phone is refused until the suspension is lifted.
//! world.report_lost("hanako-android")?;
//! let report = world.tap(&TapSpec { pin: Some("4821".into()), ..TapSpec::phone("hanako-android") })?;
//! assert_eq!(report.outcome.reason().map(|r| r.as_str()), Some("certificate_suspended"));
//! # Ok::<(), mynatap_sim::world::WorldError>(())
//! ```
//!
//! More in `sim/examples/` (a card answering APDUs in a loop, a tap driven by hand through
//! [`terminal::Tap::next_action`], a downstream property test); a card served over vpcd is
//! `sim/drivers/examples/serve_over_vpcd.rs`.
#![deny(missing_docs)]

pub mod apdu;
pub mod backend;
pub mod card;
pub mod clock;
pub mod contract;
pub mod credential;
pub mod driver;
pub mod life;
pub mod messages;
pub mod pki;
pub mod profile;
pub mod service;
#[cfg(feature = "proptest")]
pub mod strategies;
pub mod terminal;
pub mod tlv;
pub mod transport;
pub mod world;
pub mod yaml_guard;
