//! mynatap's recording format: one JSON object a line, `{"time", "tap", "command", "response"}`,
//! as `serve-card --record` and `certify --record` write it. `response` is `null` when the device
//! left the field instead of answering; a new `tap` id means the device was powered up again.

use std::io::Write;

use serde::{Deserialize, Serialize};

use super::{Event, push_reset};

/// One line of a recording.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Line {
    /// RFC 3339: the wall clock for `serve-card`, the world's clock of the tap for `certify`.
    pub time: String,
    /// Which tap (power-up of the device) the command belongs to.
    pub tap: String,
    /// The command APDU, upper-case hex.
    pub command: String,
    /// The whole answer (data and status word), upper-case hex; `null`: the device left the field.
    pub response: Option<String>,
}

impl Line {
    /// One line: when, which tap, the command and the answer (`None`: the device left).
    pub fn new(time: String, tap: String, command: &[u8], response: Option<&[u8]>) -> Self {
        Self { time, tap, command: hex::encode_upper(command), response: response.map(hex::encode_upper) }
    }
}

/// Appends lines to a recording, flushing each so a killed process leaves a readable file.
#[derive(Debug)]
pub struct Recorder<W: Write> {
    out: W,
}

impl<W: Write> Recorder<W> {
    /// A recorder writing to `out`.
    pub fn new(out: W) -> Self {
        Self { out }
    }
    /// The writer, with everything written so far.
    pub fn into_inner(self) -> W {
        self.out
    }
    /// Writes one line (JSON, newline-terminated).
    pub fn write(&mut self, line: &Line) -> std::io::Result<()> {
        serde_json::to_writer(&mut self.out, line)?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }
}

/// Writes the transcripts of a run, one `<scenario id>.jsonl` per scenario in `dir` (created),
/// each tap or run of raw steps its own `tap` (`<id>#<step that powered the device up>`), the time
/// the world's clock of that step. Returns how many files were written.
pub fn write_results(dir: &std::path::Path, results: &[crate::play::ScenarioResult]) -> Result<usize, crate::files::FileError> {
    crate::files::ensure_folder(dir)?;
    let mut written = 0;
    for result in results.iter().filter(|result| !result.transcripts.is_empty()) {
        let path = dir.join(format!("{}.jsonl", result.id));
        let io = |source| crate::files::FileError::Io { path: path.clone(), source };
        // Built in memory, then written as a new file renamed over the name: a symlink planted
        // in the folder is replaced, never followed.
        let mut recorder = Recorder::new(Vec::new());
        for step in &result.transcripts {
            let time = step.world_time.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
            for exchange in &step.exchanges {
                let response = exchange.response.as_ref().ok().map(|response| {
                    let mut bytes = response.data.clone();
                    bytes.extend(response.sw.as_deref().and_then(|sw| hex::decode(sw).ok()).unwrap_or_default());
                    bytes
                });
                recorder.write(&Line::new(time.clone(), format!("{}#{}", result.id, step.power_up), &exchange.command, response.as_deref())).map_err(io)?;
            }
        }
        crate::files::write_replacing(&path, &recorder.into_inner())?;
        written += 1;
    }
    Ok(written)
}

/// Parses a recording; `Err((line, message))` names the 1-based line at fault.
pub fn parse(text: &str) -> Result<(Vec<Event>, Vec<String>), (usize, String)> {
    let mut events = Vec::new();
    let mut skipped = Vec::new();
    let mut tap: Option<String> = None;
    for (index, text) in text.lines().enumerate() {
        let number = index + 1;
        if text.trim().is_empty() {
            continue;
        }
        let line: Line = serde_json::from_str(text)
            .map_err(|e| (number, format!("not a recording line ({e}); expected {{\"time\", \"tap\", \"command\", \"response\"}}")))?;
        if tap.as_ref().is_some_and(|previous| *previous != line.tap) {
            push_reset(&mut events, number);
        }
        tap = Some(line.tap.clone());
        if time::OffsetDateTime::parse(&line.time, &time::format_description::well_known::Rfc3339).is_err() {
            return Err((number, format!("time: `{}` is not an RFC 3339 time (e.g. 2026-04-01T09:00:00+09:00)", line.time)));
        }
        let command = hex::decode(&line.command).map_err(|e| (number, format!("command: not hex ({e})")))?;
        let Some(response) = line.response else {
            skipped.push(format!("line {number}: {} got no answer (the device left the field)", line.command));
            continue;
        };
        let response = hex::decode(&response).map_err(|e| (number, format!("response: not hex ({e})")))?;
        if command.len() > mynatap_sim::apdu::MAX_COMMAND_LEN {
            return Err((number, format!("a command of {} bytes, over the {} bytes of any command APDU", command.len(), mynatap_sim::apdu::MAX_COMMAND_LEN)));
        }
        if command.len() < 4 || response.len() < 2 {
            return Err((number, "a command shorter than 4 bytes or a response without a status word".into()));
        }
        events.push(Event::Exchange { command, response, line: number });
    }
    Ok((events, skipped))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn written_lines_read_back_and_a_new_tap_is_a_reset() {
        let mut out = Vec::new();
        let mut recorder = Recorder::new(&mut out);
        recorder.write(&Line::new("2026-04-01T00:00:00Z".into(), "1".into(), &[0, 0xA4, 4, 0x0C], Some(&[0x90, 0]))).unwrap();
        recorder.write(&Line::new("2026-04-01T00:00:01Z".into(), "1".into(), &[0, 0xB0, 0, 0], None)).unwrap();
        recorder.write(&Line::new("2026-04-01T00:00:02Z".into(), "2".into(), &[0, 0xB0, 0, 0], Some(&[0x69, 0x86]))).unwrap();
        let (events, skipped) = parse(std::str::from_utf8(&out).unwrap()).unwrap();
        assert_eq!(events.len(), 3);
        assert!(matches!(events[1], Event::Reset { line: 3 }));
        assert_eq!(skipped.len(), 1);
        assert_eq!(parse("{\"time\": 1}\n").unwrap_err().0, 1);
        assert!(
            parse("{\"time\":\"2026-04-01T00:00:00Z\",\"tap\":\"1\",\"command\":\"00B0\",\"response\":\"9000\"}").unwrap_err().1.contains("shorter than 4")
        );
        let bad_time = parse("{\"time\":\"yesterday\",\"tap\":\"1\",\"command\":\"00B00000\",\"response\":\"9000\"}").unwrap_err();
        assert!(bad_time.1.contains("not an RFC 3339 time"), "{bad_time:?}");
    }
}
