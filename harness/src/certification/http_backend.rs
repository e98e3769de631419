//! The back ends served over HTTP on loopback for reader programs under certification:
//! `GET /crl` (the current DER CRL) and `GET /eligibility?serial=HEX` (JSON record, or 404).
//! Every request is logged with the run's [`Sequence`] so the wire rules can order it against
//! the card's APDUs. A tap's back-end fault shows here as a reader meets it: 503s, a refused
//! connection, a stale or badly signed CRL, a malformed record, a late answer. Requests are
//! untrusted: a bad one gets a 4xx, a slow one is cut off, and none can hold up the next tap.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mynatap_drivers::vpcd::Sequence;
use mynatap_sim::backend::InsuranceRecord;
use mynatap_sim::service::{BackendFault, ServiceKind};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Largest request head read; anything longer gets 431.
const MAX_REQUEST_BYTES: usize = 8 * 1024;
/// How long a client may take to send its request head; a slower one (slowloris) is cut off.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(2);
/// The most authorities a world trusts (`world.ca_generations`).
const MAX_AUTHORITIES: usize = 3;
/// Connections served at once; more are closed at once, so a flood cannot starve a tap.
const MAX_CONNECTIONS: usize = 64;

/// What the back ends answer right now (set before each tap).
#[derive(Debug, Clone, Default)]
pub struct BackendView {
    /// The CRL of each authority as its distribution point hands it out for this tap, oldest
    /// generation first (stale or badly signed under those faults: see
    /// `mynatap_sim::service::crl_answer`); `/crl` serves the last, `/crl?ca=K` the K-th.
    pub crls: Vec<Vec<u8>>,
    /// Each certificate serial's insurance record (eligibility answers).
    pub records: HashMap<u64, InsuranceRecord>,
    /// This tap's back-end fault: 503s, a malformed record, late answers.
    pub fault: Option<BackendFault>,
    /// This tap's secret, the first segment of both URLs: a request without it is a stranger's
    /// (another process on the machine), answered 404, logged apart and never judged. Empty
    /// between taps: every request is then a stranger's.
    pub token: String,
}

pub use crate::play::evidence::HttpRequest;

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

/// A reader program's process group, and what says whether a group is any running reader's.
type ReaderGroup = (u32, fn(u32) -> bool);

#[derive(Debug, Default)]
struct Shared {
    view: BackendView,
    log: Vec<HttpRequest>,
    /// Requests without the tap's token, kept up to [`MAX_STRANGERS`] a tap.
    strangers: Vec<HttpRequest>,
    /// The process group of the running reader program, and what says whether a group is any
    /// running reader's (a process escaped from a group is judged by it): a request with the
    /// token from a process outside it is a thief's.
    reader_group: Option<ReaderGroup>,
    /// Requests with the token are checked for their sender ([`BackendServer::judge_senders`]).
    judge_senders: bool,
}

/// Stranger requests kept per tap: a flood is refused all the same, but not recorded without end.
const MAX_STRANGERS: usize = 1000;

/// A running server. Dropping it stops accepting.
#[derive(Debug)]
pub struct BackendServer {
    address: SocketAddr,
    refusing: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    task: tokio::task::JoinHandle<()>,
}

impl BackendServer {
    /// Binds a free port on 127.0.0.1 and serves on the current tokio runtime.
    pub async fn start(sequence: Sequence) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        // A port that was free a moment ago and is closed now: a distribution point that
        // refuses connections (crl_unavailable).
        let refusing = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let shared = Arc::new(Mutex::new(Shared::default()));
        let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
        let task = tokio::spawn({
            let shared = shared.clone();
            async move {
                while let Ok((stream, peer)) = listener.accept().await {
                    let Ok(permit) = slots.clone().try_acquire_owned() else { continue };
                    let (shared, sequence) = (shared.clone(), sequence.clone());
                    tokio::spawn(async move {
                        let _ = handle(stream, peer, address, &shared, &sequence).await;
                        drop(permit);
                    });
                }
            }
        });
        Ok(Self { address, refusing, shared, task })
    }

    /// The CRL's URL for the current tap (its token).
    pub fn crl_url(&self) -> String {
        format!("http://{}/{}/crl", self.address, self.lock().view.token)
    }
    /// Where the CRL is "served" while the distribution point is down: nothing listens there.
    pub fn refused_crl_url(&self) -> String {
        format!("http://{}/{}/crl", self.refusing, self.lock().view.token)
    }
    /// The eligibility service's URL for the current tap (its token).
    pub fn eligibility_url(&self) -> String {
        format!("http://{}/{}/eligibility", self.address, self.lock().view.token)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
    /// Sets what the back ends answer for the next tap.
    pub fn set_view(&self, view: BackendView) {
        self.lock().view = view;
    }
    /// The tap is over: its token stops opening the back ends.
    pub fn end_tap(&self) {
        let mut shared = self.lock();
        shared.view.token.clear();
        shared.reader_group = None;
    }

    /// From now on a request with the tap's token is the reader program's only if a process of
    /// its tap sent it (see [`Self::set_reader_group`]); otherwise it is logged as stolen.
    pub fn judge_senders(&self) {
        self.lock().judge_senders = true;
    }

    /// The reader program of this tap runs in the process group `leader`; `running` says whether
    /// a group is any running reader program's.
    pub fn set_reader_group(&self, leader: u32, running: fn(u32) -> bool) {
        self.lock().reader_group = Some((leader, running));
    }
    /// The reader's requests since the last call.
    pub fn take_log(&self) -> Vec<HttpRequest> {
        std::mem::take(&mut self.lock().log)
    }
    /// The strangers' requests since the last call (without the tap's token; never judged).
    pub fn take_strangers(&self) -> Vec<HttpRequest> {
        std::mem::take(&mut self.lock().strangers)
    }
}

impl Drop for BackendServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Parses a serial in hex: any case, leading zeros allowed, at most 64 bits.
pub fn parse_serial(text: &str) -> Option<u64> {
    let trimmed = text.trim_start_matches('0');
    if text.is_empty() || trimmed.len() > 16 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    if trimmed.is_empty() { Some(0) } else { u64::from_str_radix(trimmed, 16).ok() }
}

/// The eligibility answer on the wire: the 1.1 fields, and (1.2) the clinic system's public
/// element names for the same answer (docs/certification.md).
#[derive(Serialize)]
struct RecordJson<'a> {
    insurer: &'a str,
    valid_from: String,
    valid_until: String,
    person: &'a str,
    /// 1 normal (the query was processed).
    #[serde(rename = "SegmentOfResult")]
    segment_of_result: &'static str,
    /// 1 valid, 2 invalid, 3 invalid with a newer qualification, 4 no qualification, 5 several.
    #[serde(rename = "QualificationValidity")]
    qualification_validity: &'static str,
    #[serde(rename = "InsurerNumber")]
    insurer_number: &'a str,
    /// The co-payment ratio as three digits of per cent (`030` = 30 %).
    #[serde(rename = "InsuredPartialContributionRatio")]
    insured_partial_contribution_ratio: String,
    /// The qualification's first day, `YYYYMMDD`.
    #[serde(rename = "QualificationDate")]
    qualification_date: String,
    /// The qualification's last day, `YYYYMMDD`.
    #[serde(rename = "InsuredCardExpirationDate")]
    insured_card_expiration_date: String,
    /// 1.3: the insured person's name, as the insurer holds it (any Unicode).
    #[serde(rename = "Name", skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    /// 1.3: the name in katakana.
    #[serde(rename = "NameKana", skip_serializing_if = "Option::is_none")]
    name_kana: Option<&'a str>,
}

impl<'a> RecordJson<'a> {
    fn of(record: &'a InsuranceRecord) -> Self {
        let compact = mynatap_sim::clock::yyyymmdd;
        Self {
            insurer: &record.insurer,
            valid_from: record.valid_from.to_string(),
            valid_until: record.valid_until.to_string(),
            person: &record.person,
            segment_of_result: "1",
            qualification_validity: record.validity.code(),
            insurer_number: &record.insurer,
            insured_partial_contribution_ratio: format!("{:03}", record.copay_percent),
            qualification_date: compact(record.valid_from),
            insured_card_expiration_date: compact(record.valid_until),
            name: record.name.as_deref(),
            name_kana: record.kana.as_deref(),
        }
    }
}

/// What `eligibility_malformed` answers with status 200: JSON, but not a record.
pub const MALFORMED_RECORD: &[u8] = b"{\"status\":\"maintenance\",\"records\":null}";

/// Reads the head within [`REQUEST_DEADLINE`]; `None` when the client was too slow or left.
async fn read_head(stream: &mut TcpStream) -> Option<Result<Vec<u8>, Refusal>> {
    let read = async {
        let mut head = Vec::with_capacity(512);
        let mut buffer = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
            let read = stream.read(&mut buffer).await.ok()?;
            if read == 0 {
                break;
            }
            head.extend_from_slice(buffer.get(..read).unwrap_or_default());
            if head.len() > MAX_REQUEST_BYTES {
                return Some(Err(Refusal { status: 431, message: "request header too large" }));
            }
        }
        Some(Ok(head))
    };
    tokio::time::timeout(REQUEST_DEADLINE, read).await.ok().flatten()
}

async fn handle(mut stream: TcpStream, peer: SocketAddr, server: SocketAddr, shared: &Mutex<Shared>, sequence: &Sequence) -> std::io::Result<()> {
    let mut parsed = match read_head(&mut stream).await {
        None => return Ok(()), // too slow, or gone: close without a word
        Some(Err(refusal)) => ParsedRequest { path: String::new(), request: Err(refusal), stranger: true },
        Some(Ok(head)) => {
            let token = shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).view.token.clone();
            parse_request(&head, &token)
        }
    };
    // The token is right: whose process sent it? (Asked while the sender still holds its end.)
    // Before the reader program runs, or after, no request is its.
    let mut stolen_by = None;
    let (judge, group) = {
        let guard = shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        (guard.judge_senders, guard.reader_group)
    };
    if judge && !parsed.stranger {
        let (leader, running) = match group {
            Some((leader, running)) => (Some(leader), running),
            None => (None, (|_| true) as fn(u32) -> bool),
        };
        let escaped = move |group: u32| !running(group);
        let sender = tokio::task::spawn_blocking(move || super::peer::sender(peer, server, leader, &escaped)).await.unwrap_or(super::peer::Sender::Unknown);
        let thief = match sender {
            super::peer::Sender::Other { pid } => Some(pid),
            super::peer::Sender::Gone => Some(0),
            super::peer::Sender::Unknown if leader.is_none() => Some(0),
            super::peer::Sender::Reader | super::peer::Sender::Unknown => None,
        };
        if let Some(pid) = thief {
            stolen_by = Some(pid);
            parsed.stranger = true;
            parsed.request = Err(Refusal { status: 403, message: "this tap's token, sent by another program than the reader: logged as stolen" });
        }
    }
    let number = sequence.next();
    let (status, content_type, body, serial, delay) = {
        let guard = shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let fault = guard.view.fault;
        match parsed.request {
            Err(refusal) => (refusal.status, "text/plain", refusal.message.as_bytes().to_vec(), None, None),
            Ok(Request::Crl { ca }) => {
                let delay = fault.and_then(|fault| fault.delay_of(ServiceKind::Crl));
                let crl = match ca {
                    None => guard.view.crls.last(),
                    Some(number) => guard.view.crls.get(number - 1),
                };
                match (fault, crl) {
                    (Some(BackendFault::CrlUnavailable), _) => (503, "text/plain", b"CRL distribution point down".to_vec(), None, delay),
                    (_, None) => (404, "text/plain", b"no such authority".to_vec(), None, None),
                    (_, Some(crl)) => (200, "application/pkix-crl", crl.clone(), None, delay),
                }
            }
            Ok(Request::Eligibility { serial }) => {
                let delay = fault.and_then(|fault| fault.delay_of(ServiceKind::Eligibility));
                let answer = match (fault, guard.view.records.get(&serial)) {
                    (Some(BackendFault::EligibilityUnavailable), _) => (503, "text/plain", b"eligibility service unavailable".to_vec()),
                    (Some(BackendFault::EligibilityMalformed), _) => (200, "application/json", MALFORMED_RECORD.to_vec()),
                    (_, None) => (404, "text/plain", b"no insurance-use registration".to_vec()),
                    (_, Some(record)) => (200, "application/json", serde_json::to_vec(&RecordJson::of(record)).unwrap_or_default()),
                };
                (answer.0, answer.1, answer.2, Some(serial), delay)
            }
        }
    };
    {
        let mut guard = shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let request = HttpRequest { sequence: number, path: parsed.path, serial, status, stolen_by };
        if !parsed.stranger {
            guard.log.push(request);
        } else if guard.strangers.len() < MAX_STRANGERS {
            guard.strangers.push(request);
        }
    }
    if let Some(ms) = delay {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    respond(&mut stream, status, content_type, &body).await
}

async fn respond(stream: &mut TcpStream, status: u16, content_type: &str, body: &[u8]) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    };
    let head = format!("HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    stream.shutdown().await?;
    // Lingering close: closing with unread input would reset the connection and could destroy
    // the answer before the client reads it (a refused oversized request), so drain a little.
    let drain = async {
        let mut sink = [0u8; 4096];
        let mut left = 64 * 1024usize;
        while left > 0 {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(read) => left = left.saturating_sub(read),
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_millis(500), drain).await;
    Ok(())
}

/// Why a GET gave no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GetError {
    #[error("no complete answer within the timeout")]
    /// Nothing complete within the timeout.
    TimedOut,
    #[error("{0}")]
    /// The request failed.
    Failed(String),
}

/// Largest response body [`get`] reads.
const MAX_RESPONSE_BYTES: u64 = 16 * 1024 * 1024;

/// A minimal blocking HTTP GET for loopback URLs (`http://host:port/path?query`): the status
/// and the body, all within `timeout` (one deadline for connect, send and every read, so a
/// server that trickles bytes cannot stretch it).
pub fn get(url: &str, timeout: Duration) -> Result<(u16, Vec<u8>), GetError> {
    use std::io::{Read, Write};
    let failed = |what: String| GetError::Failed(format!("{url}: {what}"));
    let timed_out = |error: &std::io::Error| matches!(error.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut);
    let deadline = Instant::now() + timeout;
    let rest = url.strip_prefix("http://").ok_or_else(|| failed("only http:// URLs".into()))?;
    let (host, path) = rest.split_once('/').map_or((rest, "/".to_owned()), |(host, path)| (host, format!("/{path}")));
    let address: SocketAddr = host.parse().map_err(|_| failed("expected host:port".into()))?;
    let mut stream =
        std::net::TcpStream::connect_timeout(&address, timeout).map_err(|e| if timed_out(&e) { GetError::TimedOut } else { failed(e.to_string()) })?;
    stream.set_write_timeout(Some(timeout)).map_err(|e| failed(e.to_string()))?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").map_err(|e| failed(e.to_string()))?;
    let mut response = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(GetError::TimedOut);
        }
        stream.set_read_timeout(Some(left)).map_err(|e| failed(e.to_string()))?;
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(read) => {
                response.extend_from_slice(chunk.get(..read).unwrap_or_default());
                if response.len() as u64 > MAX_RESPONSE_BYTES {
                    return Err(failed(format!("answer over {MAX_RESPONSE_BYTES} bytes")));
                }
            }
            Err(e) if timed_out(&e) => return Err(GetError::TimedOut),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(failed(e.to_string())),
        }
    }
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| failed("no HTTP header".into()))?;
    let head = String::from_utf8_lossy(response.get(..split).unwrap_or_default()).into_owned();
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| failed("bad status line".into()))?;
    Ok((status, response.get(split + 4..).unwrap_or_default().to_vec()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn serials_parse_in_any_case_with_leading_zeros() {
        assert_eq!(parse_serial("00ABcd"), Some(0xABCD));
        assert_eq!(parse_serial("0"), Some(0));
        assert_eq!(parse_serial("1FFFFFFFFFFFFFFFF"), None);
        assert_eq!(parse_serial("xyz"), None);
        assert_eq!(parse_serial(""), None);
    }

    #[test]
    fn serves_crl_and_eligibility_and_logs_in_order() {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let sequence = Sequence::default();
        let server = runtime.block_on(BackendServer::start(sequence.clone())).unwrap();
        let record = InsuranceRecord { copay_percent: 20, ..InsuranceRecord::valid("hanako", "06132013", date!(2020 - 01 - 01), date!(2027 - 03 - 31)) };
        server.set_view(BackendView { crls: vec![vec![0x30, 0x00]], records: HashMap::from([(0xABCD, record)]), fault: None, token: "5ecret".into() });
        let timeout = std::time::Duration::from_secs(2);
        assert_eq!(get(&server.crl_url(), timeout).unwrap(), (200, vec![0x30, 0x00]));
        let (status, body) = get(&format!("{}?serial=0000abcd", server.eligibility_url()), timeout).unwrap();
        assert_eq!(status, 200);
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["insurer"], "06132013");
        assert_eq!(json["valid_until"], "2027-03-31");
        assert_eq!(json["QualificationValidity"], "1");
        assert_eq!(json["InsuredPartialContributionRatio"], "020");
        assert_eq!(json["InsuredCardExpirationDate"], "20270331");
        assert_eq!(get(&format!("{}?serial=12", server.eligibility_url()), timeout).unwrap().0, 404);
        assert_eq!(get(&format!("{}?serial=zz", server.eligibility_url()), timeout).unwrap().0, 400);
        // A bystander without the token: 404, logged apart, never the reader's.
        let bystander = server.crl_url().replace("/5ecret/", "/");
        assert_eq!(get(&bystander, timeout).unwrap().0, 404);
        assert_eq!(get(&server.eligibility_url().replace("5ecret", "5ecreT"), timeout).unwrap().0, 404);
        let log = server.take_log();
        assert_eq!(log.iter().map(|r| r.status).collect::<Vec<_>>(), vec![200, 200, 404, 400]);
        assert_eq!(log[0].path, "/crl", "logged without the token");
        let strangers = server.take_strangers();
        assert_eq!(strangers.iter().map(|r| r.path.as_str()).collect::<Vec<_>>(), ["/crl", "/5ecreT/eligibility"]);
        assert!(log.windows(2).all(|w| w[0].sequence < w[1].sequence));
        assert_eq!(log[1].serial, Some(0xABCD));
    }
}
