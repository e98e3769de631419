//! mynatap-drivers: the IO around mynatap's sans-IO core (`mynatap-sim`).
//!
//! The core's card and terminal are state machines with no sockets, threads or runtime; this crate
//! holds the thin drivers that connect them to the world, as quinn does for quinn-proto:
//! - [`vpcd`]: the card side of vsmartcard's vpcd, so pcscd (and every PC/SC program) sees a
//!   virtual card in the reader `Virtual PCD 00 00`; its framing is sans-IO (`vpcd::frame`), the
//!   card slot is shared state, and the bridge is a small tokio loop;
//! - `pcsc_transport` (feature `pcsc`): the terminal side over real PC/SC, a
//!   [`Transport`](mynatap_sim::transport::Transport) with a deadline on every transmit;
//! - [`channel`]: the card in its own tokio task behind a channel, and a world's tap driven over it
//!   with delays that really pass.
#![deny(missing_docs)]

pub mod channel;
#[cfg(feature = "pcsc")]
pub mod pcsc_transport;
pub mod vpcd;
