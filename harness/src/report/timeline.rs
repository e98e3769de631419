//! A reader program's tap as a picture: a sequence diagram of its APDUs to the card and its
//! requests to the back ends, decoded, between the card entering and leaving the field, with
//! the verdict and the first broken rule at its end (what a vendor looks at rather than reads).

use std::fmt::Write as _;

use crate::play::evidence::TapEvidence;

use super::junit::xml_escape as escape;

/// One event of the tap, in the order the card and the back ends saw them.
enum Event<'a> {
    Apdu {
        command: &'a [u8],
        response: Option<&'a [u8]>,
    },
    /// A command to a card left lying in the field by an earlier tap (rule W12).
    ToCardLeftLying {
        command: &'a [u8],
        response: Option<&'a [u8]>,
    },
    Http {
        path: &'a str,
        status: u16,
    },
}

/// What a command APDU asks, in the words of docs/protocol.md.
pub fn decode_command(command: &[u8]) -> String {
    match command {
        [0x00, 0xA4, 0x04, _, _, aid @ ..] => match aid {
            [0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01, ..] => "SELECT JPKI".into(),
            [0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x02, ..] => "SELECT card surface".into(),
            [0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x08, ..] => "SELECT card info (My Number)".into(),
            _ => format!("SELECT AID {}", hex::encode_upper(aid)),
        },
        [0x00, 0xA4, 0x02, _, 0x02, high, low, ..] => {
            let name = match [*high, *low] {
                [0x00, 0x06] => "token info",
                [0x00, 0x0A] => "auth certificate",
                [0x00, 0x18] => "auth PIN",
                [0x00, 0x17] => "auth key",
                [0x00, 0x12] => "number B",
                [0x00, 0x02] => "card face entries",
                [0x00, 0x04] => "card-surface certificate",
                _ => "",
            };
            if name.is_empty() { format!("SELECT EF {high:02X}{low:02X}") } else { format!("SELECT EF {high:02X}{low:02X} ({name})") }
        }
        [0x00, 0xB0, high, low, rest @ ..] => format!(
            "READ BINARY at {}{}",
            (usize::from(*high) << 8) | usize::from(*low),
            rest.first().map(|le| format!(", {} bytes", if *le == 0 { 256 } else { usize::from(*le) })).unwrap_or_default()
        ),
        [0x00, 0x20, 0x00, 0x80, ..] => "VERIFY (PIN or number B)".into(),
        [0x80, 0x2A, 0x00, 0x80, ..] => "SIGN the challenge".into(),
        [0x80, 0x2A, 0x00, 0x00, ..] => "challenge the card's own key".into(),
        [0x80, 0xFE, 0x4D, _, 0x00] => "bystander probe (the harness, rule W11)".into(),
        _ => {
            let shown: String = hex::encode_upper(command.get(..command.len().min(8)).unwrap_or_default());
            format!("command {shown}{}", if command.len() > 8 { "…" } else { "" })
        }
    }
}

/// What a request asked the back ends.
fn decode_request(path: &str) -> String {
    if let Some(query) = path.strip_prefix("/crl") {
        return match query.strip_prefix("?ca=") {
            Some(generation) => format!("GET the CRL of authority {generation}"),
            None => "GET the CRL".into(),
        };
    }
    if path.starts_with("/eligibility") {
        return "GET eligibility".into();
    }
    format!("GET {path}")
}

/// The answer as the diagram labels it.
fn decode_response(response: Option<&[u8]>) -> String {
    match response.and_then(|bytes| bytes.split_last_chunk::<2>()) {
        None => "no answer (the card left)".into(),
        Some(([], sw)) => format!("{:04X}", u16::from_be_bytes(*sw)),
        Some((data, sw)) => format!("{:04X}, {} bytes", u16::from_be_bytes(*sw), data.len()),
    }
}

/// The tap as an SVG sequence diagram: card, reader program, back ends; `broken` is the first
/// broken rule (or the wrong verdict) to mark at the end.
pub fn svg(evidence: &TapEvidence, broken: Option<&str>) -> String {
    let mut events: Vec<(u64, Event<'_>)> = evidence
        .apdus
        .iter()
        .map(|apdu| (apdu.sequence, Event::Apdu { command: &apdu.command, response: apdu.response.as_ref().map(|r| r.0.as_slice()) }))
        .chain(evidence.http.iter().map(|request| (request.sequence, Event::Http { path: &request.path, status: request.status })))
        .chain(
            evidence
                .left_in_field
                .iter()
                .map(|apdu| (apdu.sequence, Event::ToCardLeftLying { command: &apdu.command, response: apdu.response.as_ref().map(|r| r.0.as_slice()) })),
        )
        .collect();
    events.sort_by_key(|(sequence, _)| *sequence);
    let (card, reader, backends, row, top) = (90.0, 330.0, 570.0, 26.0, 46.0);
    let height = top + row * (events.len() as f64 + 3.0);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<svg class=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"660\" height=\"{height:.0}\" viewBox=\"0 0 660 {height:.0}\" role=\"img\" aria-label=\"the tap, command by command\" font-size=\"11\" font-family=\"sans-serif\">"
    );
    for (x, name) in [(card, "card (PC/SC)"), (reader, "reader program"), (backends, "back ends (HTTP)")] {
        let _ = writeln!(
            out,
            "<text x=\"{x}\" y=\"14\" text-anchor=\"middle\" font-weight=\"bold\">{name}</text><line x1=\"{x}\" y1=\"20\" x2=\"{x}\" y2=\"{height:.0}\" stroke=\"#bbb\" stroke-dasharray=\"4 3\"/>"
        );
    }
    let entering =
        if evidence.arrived_after_request { "card arrives after the request (a PC/SC arrival)" } else { "card in the field when the reader is asked" };
    let _ = writeln!(out, "<text x=\"{card}\" y=\"{:.0}\" text-anchor=\"middle\" fill=\"#1a7f37\">{entering}</text>", top - 8.0);
    for (index, (sequence, event)) in events.iter().enumerate() {
        let y = top + row * (index as f64 + 0.5);
        let (to, label, answer, colour) = match event {
            Event::Apdu { command, response } => {
                let colour = if mynatap_drivers::vpcd::is_bystander_probe(command) { "#999" } else { "#1e6bb8" };
                (card, decode_command(command), decode_response(*response), colour)
            }
            Event::ToCardLeftLying { command, response } => {
                (card, format!("to the card left lying: {}", decode_command(command)), decode_response(*response), "#cf222e")
            }
            Event::Http { path, status } => (backends, decode_request(path), status.to_string(), "#8250df"),
        };
        let anchor = if to < reader { "end" } else { "start" };
        let (label_x, answer_x) = if to < reader { (reader - 8.0, card + 6.0) } else { (reader + 8.0, backends - 6.0) };
        let answer_anchor = if to < reader { "start" } else { "end" };
        let _ = writeln!(
            out,
            "<g><title>#{sequence} {} -> {}</title><line x1=\"{reader}\" y1=\"{y:.1}\" x2=\"{to}\" y2=\"{y:.1}\" stroke=\"{colour}\" marker-end=\"url(#arrow)\"/><text x=\"{label_x}\" y=\"{:.1}\" text-anchor=\"{anchor}\" fill=\"{colour}\">{}</text><text x=\"{answer_x}\" y=\"{:.1}\" text-anchor=\"{answer_anchor}\" fill=\"#555\">{}</text></g>",
            escape(&label),
            escape(&answer),
            y - 3.0,
            escape(&label),
            y + 10.0,
            escape(&answer)
        );
    }
    let end = top + row * (events.len() as f64 + 0.8);
    let said = evidence.verdict.as_deref().or(evidence.adapter_error.as_deref()).unwrap_or("no verdict");
    let _ = writeln!(
        out,
        "<text x=\"{reader}\" y=\"{end:.0}\" text-anchor=\"middle\" font-weight=\"bold\">verdict: {}</text>",
        escape(&said.chars().take(90).collect::<String>())
    );
    if let Some(broken) = broken {
        let _ = writeln!(
            out,
            "<text x=\"{reader}\" y=\"{:.0}\" text-anchor=\"middle\" fill=\"#cf222e\">first broken: {}</text>",
            end + 16.0,
            escape(&broken.chars().take(90).collect::<String>())
        );
    }
    let _ = writeln!(out, "<text x=\"{card}\" y=\"{:.0}\" text-anchor=\"middle\" fill=\"#1a7f37\">card leaves the field</text>", end + 32.0);
    let _ = writeln!(
        out,
        "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"6\" markerHeight=\"6\" orient=\"auto-start-reverse\"><path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#444\"/></marker></defs></svg>"
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_read_as_the_protocol_names_them() {
        assert_eq!(decode_command(&hex::decode("00A4040C0AD392F000260100000001").unwrap()), "SELECT JPKI");
        assert_eq!(decode_command(&hex::decode("00A4020C02000A").unwrap()), "SELECT EF 000A (auth certificate)");
        assert_eq!(decode_command(&hex::decode("00B0010000").unwrap()), "READ BINARY at 256, 256 bytes");
        assert_eq!(decode_command(&hex::decode("002000800431323334").unwrap()), "VERIFY (PIN or number B)");
        assert_eq!(decode_command(&[0x80, 0x2A, 0x00, 0x80, 0x01, 0xAA, 0x00]), "SIGN the challenge");
        assert_eq!(decode_command(&[0x12]), "command 12");
        assert_eq!(decode_request("/crl?ca=2"), "GET the CRL of authority 2");
        assert_eq!(decode_response(Some(&[0x63, 0xC2])), "63C2");
        assert_eq!(decode_response(None), "no answer (the card left)");
    }
}
