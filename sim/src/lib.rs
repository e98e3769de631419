//! mynatap-sim: a sans-IO model of the "My Number insurance card on a smartphone" protocol.
//!
//! The card ([`card`]) and the face-auth terminal ([`terminal`]) are state machines: bytes in,
//! bytes out, no sockets, threads, clocks or randomness inside. Time and randomness are passed in
//! (seeded), so every run replays exactly. Drivers around them live in [`driver`] and
//! [`transport`]; [`world`] puts people, devices, terminals and back ends under one clock.
#![deny(missing_docs)]

pub mod apdu;
pub mod backend;
pub mod card;
pub mod clock;
pub mod contract;
pub mod credential;
pub mod driver;
pub mod life;
pub mod pki;
pub mod profile;
pub mod service;
#[cfg(feature = "proptest")]
pub mod strategies;
pub mod terminal;
pub mod tlv;
pub mod transport;
pub mod vpcd;
#[cfg(feature = "pcsc")]
pub mod pcsc_transport;
pub mod world;
pub mod yaml_guard;
