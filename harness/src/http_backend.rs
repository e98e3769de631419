//! The back ends served over HTTP on loopback for reader programs under certification:
//! `GET /crl` (the current DER CRL) and `GET /eligibility?serial=HEX` (JSON record, or 404).
//! Every request is logged with the run's [`Sequence`] so the wire rules can order it against
//! the card's APDUs.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use mynatap_sim::backend::InsuranceRecord;
use mynatap_sim::vpcd::Sequence;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Largest request head read; anything longer gets 431.
const MAX_REQUEST_BYTES: usize = 8 * 1024;

/// What the back ends answer right now (set before each tap).
#[derive(Debug, Clone, Default)]
pub struct BackendView {
    pub crl_der: Vec<u8>,
    pub records: HashMap<u64, InsuranceRecord>,
}

/// One request as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HttpRequest {
    pub sequence: u64,
    pub path: String,
    /// For `/eligibility`: the serial asked for, when it parsed.
    pub serial: Option<u64>,
    pub status: u16,
}

#[derive(Debug, Default)]
struct Shared {
    view: BackendView,
    log: Vec<HttpRequest>,
}

/// A running server. Dropping it stops accepting.
#[derive(Debug)]
pub struct BackendServer {
    address: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    task: tokio::task::JoinHandle<()>,
}

impl BackendServer {
    /// Binds a free port on 127.0.0.1 and serves on the current tokio runtime.
    pub async fn start(sequence: Sequence) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let shared = Arc::new(Mutex::new(Shared::default()));
        let task = tokio::spawn({
            let shared = shared.clone();
            async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let (shared, sequence) = (shared.clone(), sequence.clone());
                    tokio::spawn(async move {
                        let _ = handle(stream, &shared, &sequence).await;
                    });
                }
            }
        });
        Ok(Self { address, shared, task })
    }

    pub fn crl_url(&self) -> String {
        format!("http://{}/crl", self.address)
    }
    pub fn eligibility_url(&self) -> String {
        format!("http://{}/eligibility", self.address)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
    pub fn set_view(&self, view: BackendView) {
        self.lock().view = view;
    }
    /// The requests since the last call.
    pub fn take_log(&self) -> Vec<HttpRequest> {
        std::mem::take(&mut self.lock().log)
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

#[derive(Serialize)]
struct RecordJson<'a> {
    insurer: &'a str,
    valid_from: String,
    valid_until: String,
    person: &'a str,
}

async fn handle(mut stream: TcpStream, shared: &Mutex<Shared>, sequence: &Sequence) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buffer = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
        let read = stream.read(&mut buffer).await?;
        if read == 0 {
            break;
        }
        head.extend_from_slice(buffer.get(..read).unwrap_or_default());
        if head.len() > MAX_REQUEST_BYTES {
            return respond(&mut stream, 431, "text/plain", b"request header too large").await;
        }
    }
    let text = String::from_utf8_lossy(&head);
    let mut words = text.lines().next().unwrap_or_default().split_whitespace();
    let (method, target) = (words.next().unwrap_or_default(), words.next().unwrap_or_default().to_owned());
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let number = sequence.next();
    let (status, content_type, body, serial) = {
        let guard = shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match (method, path) {
            ("GET", "/crl") => (200, "application/pkix-crl", guard.view.crl_der.clone(), None),
            ("GET", "/eligibility") => {
                let serial = query.split('&').find_map(|pair| pair.strip_prefix("serial=")).and_then(parse_serial);
                match serial.map(|serial| (serial, guard.view.records.get(&serial))) {
                    None => (400, "text/plain", b"expected ?serial=HEX".to_vec(), None),
                    Some((serial, None)) => (404, "text/plain", b"no insurance-use registration".to_vec(), Some(serial)),
                    Some((serial, Some(record))) => {
                        let json = RecordJson {
                            insurer: &record.insurer,
                            valid_from: record.valid_from.to_string(),
                            valid_until: record.valid_until.to_string(),
                            person: &record.person,
                        };
                        (200, "application/json", serde_json::to_vec(&json).unwrap_or_default(), Some(serial))
                    }
                }
            }
            ("GET", _) => (404, "text/plain", b"not found".to_vec(), None),
            _ => (405, "text/plain", b"only GET".to_vec(), None),
        }
    };
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .log
        .push(HttpRequest { sequence: number, path: path.to_owned(), serial, status });
    respond(&mut stream, status, content_type, &body).await
}

async fn respond(stream: &mut TcpStream, status: u16, content_type: &str, body: &[u8]) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Request Header Fields Too Large",
    };
    let head = format!("HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    stream.shutdown().await
}

/// A minimal blocking HTTP GET for loopback URLs (`http://host:port/path?query`): the status
/// and the body. Used by the reference reader.
pub fn get(url: &str, timeout: std::time::Duration) -> Result<(u16, Vec<u8>), String> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").ok_or_else(|| format!("only http:// URLs: {url}"))?;
    let (host, path) = rest.split_once('/').map_or((rest, "/".to_owned()), |(host, path)| (host, format!("/{path}")));
    let address: SocketAddr = host.parse().map_err(|_| format!("expected host:port in {url}"))?;
    let mut stream = std::net::TcpStream::connect_timeout(&address, timeout).map_err(|e| format!("{url}: {e}"))?;
    stream.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    stream.take(16 * 1024 * 1024).read_to_end(&mut response).map_err(|e| format!("{url}: {e}"))?;
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| format!("{url}: no HTTP header"))?;
    let head = String::from_utf8_lossy(response.get(..split).unwrap_or_default()).into_owned();
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| format!("{url}: bad status line"))?;
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
        let record = InsuranceRecord { person: "hanako".into(), insurer: "06132013".into(), valid_from: date!(2020 - 01 - 01), valid_until: date!(2027 - 03 - 31) };
        server.set_view(BackendView { crl_der: vec![0x30, 0x00], records: HashMap::from([(0xABCD, record)]) });
        let timeout = std::time::Duration::from_secs(2);
        assert_eq!(get(&server.crl_url(), timeout).unwrap(), (200, vec![0x30, 0x00]));
        let (status, body) = get(&format!("{}?serial=0000abcd", server.eligibility_url()), timeout).unwrap();
        assert_eq!(status, 200);
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["insurer"], "06132013");
        assert_eq!(json["valid_until"], "2027-03-31");
        assert_eq!(get(&format!("{}?serial=12", server.eligibility_url()), timeout).unwrap().0, 404);
        assert_eq!(get(&format!("{}?serial=zz", server.eligibility_url()), timeout).unwrap().0, 400);
        let log = server.take_log();
        assert_eq!(log.iter().map(|r| r.status).collect::<Vec<_>>(), vec![200, 200, 404, 400]);
        assert!(log.windows(2).all(|w| w[0].sequence < w[1].sequence));
        assert_eq!(log[1].serial, Some(0xABCD));
    }
}
