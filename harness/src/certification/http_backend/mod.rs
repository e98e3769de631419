//! The back ends served over HTTP on loopback for reader programs under certification:
//! `GET /crl` (the current DER CRL) and `GET /eligibility?serial=HEX` (JSON record, or 404).
//! Every request is logged with the run's [`Sequence`] so the wire rules can order it against
//! the card's APDUs. A tap's back-end fault shows here as a reader meets it: 503s, a refused
//! connection, a stale or badly signed CRL, a malformed record, a late answer. Requests are
//! untrusted: a bad one gets a 4xx, a slow one is cut off, and none can hold up the next tap.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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

mod client;
mod request;

pub use client::{GetError, get};
pub use request::{ParsedRequest, Refusal, Request, parse_request, parse_serial};

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
