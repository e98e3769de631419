//! The messages the simulated parties exchange, defined once for every side (as rustls keeps its
//! `msgs`): what the back ends answer a terminal ([`answers`]) and the card-surface files'
//! formats ([`surface`]). The card, the registry and the terminal import these instead of each
//! other's simulators.

pub mod answers;
pub mod surface;
