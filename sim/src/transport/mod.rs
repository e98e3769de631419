//! Transports: how a terminal's command APDUs reach a card.
//!
//! One small trait ([`Transport`]), the in-memory implementation over the [`Card`] state machine, and a fault layer ([`Faulty`]) that wraps any transport
//! to inject the faults of docs/scenario-format.md.

use serde::Serialize;

use crate::card::Card;

mod fault;

pub use fault::{CommandKind, Fault, FaultDecision, FaultPlan, FaultTarget, Faulty};

/// Why a transmit produced no response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "error", rename_all = "snake_case")]
#[non_exhaustive]
pub enum TransportError {
    #[error("card removed")]
    /// The card or phone left the field.
    CardRemoved,
    #[error("no response within {ms} ms")]
    /// No answer within the terminal's timeout.
    Timeout {
        /// The timeout, in milliseconds.
        ms: u64,
    },
    #[error("no reader: {message}")]
    /// No reader to talk to (PC/SC: none found, or pcscd not running).
    NoReader {
        /// What the reader layer said.
        message: String,
    },
    #[error("the reader is held exclusively by another program (sharing violation); close that program and run again")]
    /// Another program holds the reader exclusively.
    ReaderBusy,
    #[error("transport failure: {message}")]
    /// Anything else the transport reports.
    Other {
        /// What the transport said.
        message: String,
    },
}

/// A reader with (perhaps) a card in it.
pub trait Transport {
    /// Sends one command APDU and returns the raw response (data and status word).
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError>;
    /// The card's answer to reset.
    fn atr(&mut self) -> Result<Vec<u8>, TransportError>;
    /// Whether a card is in the field.
    fn card_present(&mut self) -> bool;
    /// After the card left the field: whether the patient holds it again (contract 1.3,
    /// `held_again`). When it is, the card is back, powered up afresh, and the terminal starts
    /// over; asked once per removal.
    fn held_again(&mut self) -> bool {
        false
    }
    /// Powers the card off and on (nothing selected or verified; retry counters kept).
    fn power_cycle(&mut self) {}
}

impl<T: Transport + ?Sized> Transport for &mut T {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        (**self).transmit(command)
    }
    fn atr(&mut self) -> Result<Vec<u8>, TransportError> {
        (**self).atr()
    }
    fn card_present(&mut self) -> bool {
        (**self).card_present()
    }
    fn held_again(&mut self) -> bool {
        (**self).held_again()
    }
    fn power_cycle(&mut self) {
        (**self).power_cycle()
    }
}

/// The hot path: the card answers in the caller's thread.
#[derive(Debug)]
pub struct DirectTransport<'c> {
    card: &'c mut Card,
}

impl<'c> DirectTransport<'c> {
    /// A transport to `card`, answering in the caller's thread.
    pub fn new(card: &'c mut Card) -> Self {
        Self { card }
    }
}

impl Transport for DirectTransport<'_> {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        Ok(self.card.process_bytes(command))
    }
    fn atr(&mut self) -> Result<Vec<u8>, TransportError> {
        Ok(self.card.atr().to_vec())
    }
    fn card_present(&mut self) -> bool {
        true
    }
    fn power_cycle(&mut self) {
        // The person's Face ID on the phone outlasts the field (as the vpcd bridge keeps it).
        let unlocked = self.card.user_verified();
        self.card.reset();
        self.card.set_user_verified(unlocked);
    }
}
