//! Drivers: thin loops that run a [`Tap`] over a transport and the back ends.

use serde::Serialize;

pub use crate::service::Backends;
use crate::terminal::{Action, Outcome, Tap};
use crate::transport::{Transport, TransportError};

/// One command and what came back, for transcripts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exchange {
    #[serde(serialize_with = "hex_upper")]
    /// The command bytes sent.
    pub command: Vec<u8>,
    /// In JSON `{"data": ..., "sw": ...}`, or `{"error": "..."}` when no answer came.
    #[serde(serialize_with = "response_or_error")]
    pub response: Result<Response, TransportError>,
}

fn response_or_error<S: serde::Serializer>(response: &Result<Response, TransportError>, serializer: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    match response {
        Ok(response) => response.serialize(serializer),
        Err(error) => {
            let mut map = serializer.serialize_map(Some(1))?;
            map.serialize_entry("error", &error.to_string())?;
            map.end()
        }
    }
}

/// A response split for people: data and status word.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Response {
    #[serde(serialize_with = "hex_upper")]
    /// The response data.
    pub data: Vec<u8>,
    /// `None` when the response was shorter than a status word.
    pub sw: Option<String>,
}

impl Response {
    /// Splits response bytes into data and status word.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        match bytes.split_last_chunk::<2>() {
            Some((data, sw)) => Self { data: data.to_vec(), sw: Some(hex::encode_upper(sw)) },
            None => Self { data: bytes.to_vec(), sw: None },
        }
    }

    /// The bytes as the card sent them (data, then the status word).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = self.data.clone();
        bytes.extend(self.sw.as_deref().and_then(|sw| hex::decode(sw).ok()).unwrap_or_default());
        bytes
    }
}

fn hex_upper<S: serde::Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&hex::encode_upper(bytes))
}

impl std::fmt::Display for Exchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "> {}", hex::encode_upper(&self.command))?;
        match &self.response {
            Ok(Response { data, sw }) => {
                write!(f, "  < ")?;
                if !data.is_empty() {
                    write!(f, "{} ", hex::encode_upper(data))?;
                }
                write!(f, "{}", sw.as_deref().unwrap_or("(no status word)"))
            }
            Err(error) => write!(f, "  < ({error})"),
        }
    }
}

/// An APDU as the card saw it (recorded card-side, in a run's global order: the wire and
/// evidence rules judge these). `response` is `None` when the card had left the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenApdu {
    /// Its place in the run's global order.
    pub sequence: u64,
    /// The command bytes.
    pub command: Vec<u8>,
    /// The response bytes (`None`: the card had left the field).
    pub response: Option<Vec<u8>>,
}

/// Appends one exchange to `transcript` when one is kept (every driver records the same way).
pub fn record(transcript: Option<&mut Vec<Exchange>>, command: &[u8], response: &Result<Vec<u8>, TransportError>) {
    if let Some(transcript) = transcript {
        transcript.push(Exchange { command: command.to_vec(), response: response.as_ref().map(|bytes| Response::from_bytes(bytes)).map_err(Clone::clone) });
    }
}

/// Runs a tap to its outcome over a blocking transport. With `transcript`, every exchange is
/// recorded in order.
pub fn run_tap<T: Transport + ?Sized>(mut tap: Tap<'_>, transport: &mut T, backends: &impl Backends, mut transcript: Option<&mut Vec<Exchange>>) -> Outcome {
    loop {
        match tap.next_action() {
            Action::Transmit(command) => {
                let response = transport.transmit(command);
                record(transcript.as_deref_mut(), command, &response);
                tap.on_response(response.as_deref().map_err(Clone::clone));
            }
            Action::FetchCrl { issuer } => tap.on_crl(backends.crl(issuer)),
            Action::QueryEligibility { serial } => tap.on_eligibility(backends.eligibility(serial)),
            Action::Done(_) => {
                if !(tap.card_left() && transport.held_again()) {
                    break;
                }
                // The patient holds the card again: the flow starts over on it (a fresh challenge).
                tap = tap.start_over();
            }
        }
    }
    tap.into_outcome().unwrap_or(Outcome::Rejected { reason: crate::terminal::Reason::ProtocolError, detail: "tap ended without outcome".into() })
}
