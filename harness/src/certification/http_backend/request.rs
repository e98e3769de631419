//! A reader program's HTTP request head, parsed (untrusted bytes, fuzzed): what it asks for, with
//! which token, or why it is refused.

use super::*;

/// What a well-formed request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// `GET /<token>/crl`, or `GET /<token>/crl?ca=K` for the K-th authority (1-based).
    Crl {
        /// The authority asked for; `None`: the newest.
        ca: Option<usize>,
    },
    /// `GET /<token>/eligibility/<serial>`.
    Eligibility {
        /// The certificate serial asked about.
        serial: u64,
    },
}

/// A request the back ends refuse, with the status that says why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// The HTTP status.
    pub status: u16,
    /// The reason phrase.
    pub message: &'static str,
}

/// A request head, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedRequest {
    /// The path as sent, less the tap's token (for the log), at most 256 characters.
    pub path: String,
    /// What it asks, or why it is refused.
    pub request: Result<Request, Refusal>,
    /// The request did not carry the tap's token: not the reader's.
    pub stranger: bool,
}

/// Reads a request head (everything up to the blank line): `GET /TOKEN/crl` or
/// `GET /TOKEN/eligibility?serial=HEX` over HTTP/1.x, `TOKEN` being the tap's; anything else is
/// refused with a 4xx, and a path without the token is a stranger's. Pure, so it is fuzzed on its
/// own (fuzz target `http_request`).
pub fn parse_request(head: &[u8], token: &str) -> ParsedRequest {
    let refuse =
        |path: &str, status, message| ParsedRequest { path: path.chars().take(256).collect(), request: Err(Refusal { status, message }), stranger: true };
    let line_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let Ok(line) = std::str::from_utf8(head.get(..line_end).unwrap_or_default()) else {
        return refuse("", 400, "request line is not UTF-8");
    };
    let mut words = line.trim_end_matches('\r').split(' ');
    let (Some(method), Some(target), Some(version), None) = (words.next(), words.next(), words.next(), words.next()) else {
        return refuse("", 400, "expected `GET /path HTTP/1.1`");
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let Some(path) = path.strip_prefix('/').and_then(|rest| rest.strip_prefix(token)).filter(|rest| !token.is_empty() && rest.starts_with('/')) else {
        return refuse(path, 404, "not found");
    };
    if !version.starts_with("HTTP/1.") {
        return ParsedRequest { stranger: false, ..refuse(path, 505, "only HTTP/1.x") };
    }
    if method != "GET" {
        return ParsedRequest { stranger: false, ..refuse(path, 405, "only GET") };
    }
    let request = match path {
        "/crl" => match query.split('&').find_map(|pair| pair.strip_prefix("ca=")) {
            None => Ok(Request::Crl { ca: None }),
            Some(number) => number
                .parse::<usize>()
                .ok()
                .filter(|number| (1..=MAX_AUTHORITIES).contains(number))
                .map(|number| Request::Crl { ca: Some(number) })
                .ok_or(Refusal { status: 400, message: "expected ?ca=K, K from 1" }),
        },
        "/eligibility" => query
            .split('&')
            .find_map(|pair| pair.strip_prefix("serial="))
            .and_then(parse_serial)
            .map(|serial| Request::Eligibility { serial })
            .ok_or(Refusal { status: 400, message: "expected ?serial=HEX" }),
        _ => Err(Refusal { status: 404, message: "not found" }),
    };
    ParsedRequest { path: path.chars().take(256).collect(), request, stranger: false }
}

/// Parses a serial in hex: any case, leading zeros allowed, at most 64 bits.
pub fn parse_serial(text: &str) -> Option<u64> {
    let trimmed = text.trim_start_matches('0');
    if text.is_empty() || trimmed.len() > 16 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    if trimmed.is_empty() { Some(0) } else { u64::from_str_radix(trimmed, 16).ok() }
}
