//! Captures of real exchanges between a reader and a device: read from pcsc-spy's text or from
//! mynatap's own JSONL recordings, turned into scenarios of raw APDU steps (`import`) or
//! compared, command by command, with a profile's virtual device (`replay`).

pub mod fields;
pub mod import;
pub mod record;
pub mod replay;
pub mod spy;

use std::fmt;
use std::path::{Path, PathBuf};

/// Largest capture read: a whole day of taps is a few MiB.
pub const MAX_CAPTURE_BYTES: u64 = 64 * 1024 * 1024;

/// One thing the device saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A command and the device's whole answer (data and status word).
    /// A command and the device's whole answer (data and status word).
    Exchange {
        /// The command bytes.
        command: Vec<u8>,
        /// The answer bytes.
        response: Vec<u8>,
        /// Its line in the capture file.
        line: usize,
    },
    /// The device was powered off and on (a reset, or the next tap).
    Reset {
        /// Its line in the capture file.
        line: usize,
    },
}

/// Where a capture came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// pcsc-lite's `pcsc-spy` text, with or without colours.
    PcscSpy,
    /// mynatap's JSONL (`serve-card --record`, `certify --record`).
    Record,
}

impl Format {
    /// The format's name for people.
    pub fn name(self) -> &'static str {
        match self {
            Self::PcscSpy => "pcsc-spy",
            Self::Record => "mynatap record",
        }
    }
}

/// A capture: its events in order, with what was left out.
#[derive(Debug, Clone)]
pub struct Capture {
    /// The capture file.
    pub file: PathBuf,
    /// Its format.
    pub format: Format,
    /// What the device saw, in order.
    pub events: Vec<Event>,
    /// Transmits that did not complete (an error return, no answer): not replayable, counted.
    pub skipped: Vec<String>,
}

/// The commands of one power-up of a device, and the kind of device its token label names.
#[derive(Debug, Clone, Copy)]
pub struct Session<'a> {
    /// The kind of device the token label names (`None`: never read).
    pub kind: Option<mynatap_sim::profile::DeviceKind>,
    /// Exchanges only (the resets are the borders).
    pub events: &'a [Event],
}

impl Capture {
    /// The capture cut at its resets. A reader reads the token label at every tap (FLOW-2), so
    /// one capture may hold a card, an Android phone and an iPhone, each told apart.
    pub fn sessions(&self) -> Vec<Session<'_>> {
        self.events
            .split(|event| matches!(event, Event::Reset { .. }))
            .filter(|events| !events.is_empty())
            .map(|events| Session { kind: import::inspect(events).kind, events })
            .collect()
    }

    /// How many command-response exchanges.
    pub fn exchanges(&self) -> usize {
        self.events.iter().filter(|event| matches!(event, Event::Exchange { .. })).count()
    }
    /// How many resets.
    pub fn resets(&self) -> usize {
        self.events.len() - self.exchanges()
    }
}

/// A capture that cannot be read, with the line at fault (0: the file as a whole).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct CaptureError {
    /// The capture file.
    pub file: PathBuf,
    /// The line at fault (0: the file as a whole).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            0 => write!(f, "{}: {}", self.file.display(), self.message),
            line => write!(f, "{}:{line}: {}", self.file.display(), self.message),
        }
    }
}

/// Reads a capture, telling pcsc-spy text from JSONL by its first line.
pub fn read_file(path: &Path) -> Result<Capture, CaptureError> {
    let whole = |message: String| CaptureError { file: path.to_owned(), line: 0, message };
    let bytes = crate::files::read_bounded(path, MAX_CAPTURE_BYTES).map_err(|e| match e {
        crate::files::FileError::TooLarge { size, .. } => whole(format!("{size} bytes, over the {MAX_CAPTURE_BYTES}-byte limit: split the capture")),
        other => whole(format!("cannot read: {}", other.reason())),
    })?;
    let text = String::from_utf8_lossy(&bytes);
    parse(path, &text)
}

/// Parses capture text (`file` is only for messages).
pub fn parse(file: &Path, text: &str) -> Result<Capture, CaptureError> {
    if text.trim().is_empty() {
        return Err(CaptureError { file: file.to_owned(), line: 0, message: "the file is empty: no capture in it".into() });
    }
    let first = text.lines().map(str::trim).find(|line| !line.is_empty()).unwrap_or_default();
    let (format, parsed) = if first.starts_with('{') { (Format::Record, record::parse(text)) } else { (Format::PcscSpy, spy::parse(text)) };
    let (mut events, skipped) = parsed.map_err(|(line, message)| CaptureError { file: file.to_owned(), line, message })?;
    // A reset after the last command changes nothing a replay could see.
    while matches!(events.last(), Some(Event::Reset { .. })) {
        events.pop();
    }
    if !events.iter().any(|event| matches!(event, Event::Exchange { .. })) {
        let hint = match format {
            Format::PcscSpy => "no completed SCardTransmit: was the client run with LD_PRELOAD=libpcscspy.so.0 while pcsc-spy listened?",
            Format::Record => "no command recorded",
        };
        return Err(CaptureError { file: file.to_owned(), line: 0, message: format!("{} capture with {hint}", format.name()) });
    }
    Ok(Capture { file: file.to_owned(), format, events, skipped })
}

/// Adds a reset unless the capture has just begun or just reset (they change nothing).
fn push_reset(events: &mut Vec<Event>, line: usize) {
    if matches!(events.last(), Some(Event::Exchange { .. })) {
        events.push(Event::Reset { line });
    }
}
