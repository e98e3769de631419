//! A minimal blocking HTTP GET for loopback URLs: how the reference reader (and the tests) reach
//! the back ends.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

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
