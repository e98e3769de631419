//! mynatap-sim: a sans-IO model of the "My Number insurance card on a smartphone" protocol.
//!
//! The card ([`card`]) and the face-auth terminal ([`terminal`]) are state machines: bytes in,
//! bytes out, no sockets, threads, clocks or randomness inside. Time and randomness are passed in
//! (seeded), so every run replays exactly. Drivers around them live in [`transport`].
pub mod apdu;
pub mod card;
pub mod credential;
pub mod pki;
pub mod profile;
