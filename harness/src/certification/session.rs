//! Session mode (`certify --reader-session`): one long-running reader program per virtual
//! reader, asked for each tap with one JSON line on its stdin and answering with one verdict
//! line on its stdout, as a reader service at a clinic runs (docs/certification.md, "Session
//! mode").

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::containment::{ACTIVE_GROUPS, ProcessGroup, RunAs};

/// The session protocol's version (`mynatap_session` of every request line).
pub const SESSION_PROTOCOL: &str = "1";

/// Longest verdict line read; a longer one is the tap's adapter error.
const MAX_LINE: usize = 64 * 1024;
/// What is kept of the program's stderr for error messages.
const STDERR_TAIL: usize = 16 * 1024;

/// A running reader program in session mode.
#[derive(Debug)]
pub(super) struct Session {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<Result<String, String>>,
    stderr: Arc<Mutex<VecDeque<u8>>>,
    group: ProcessGroup,
}

impl Session {
    /// Starts `command` with `sh -c 'exec …'` in a process group of its own (as `run_as`, when
    /// mynatap runs as root), with the environment `envs` and nothing else.
    pub(super) fn start(command: &str, envs: &[(String, std::ffi::OsString)], run_as: Option<&RunAs>) -> Result<Self, String> {
        use std::os::unix::process::CommandExt;
        let spawning = ACTIVE_GROUPS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut builder = Command::new("sh");
        if let Some(run_as) = run_as {
            builder.uid(run_as.uid).gid(run_as.gid);
        }
        let mut child = builder
            .arg("-c")
            .arg(format!("exec {command}"))
            .env_clear()
            .envs(envs.iter().map(|(name, value)| (name, value)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start the session `{command}`: {e}"))?;
        let pid = child.id();
        let mut spawning = spawning;
        spawning.push(pid);
        drop(spawning);
        let group = ProcessGroup { leader: pid, ended: false };
        let (stdin, stdout, stderr_pipe) = match (child.stdin.take(), child.stdout.take(), child.stderr.take()) {
            (Some(stdin), Some(stdout), Some(stderr)) => (stdin, stdout, stderr),
            _ => return Err("the session's pipes were not set up".into()),
        };
        let (sender, lines) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("session stdout".into())
            .spawn(move || {
                let mut reader = BufReader::new(stdout);
                loop {
                    let mut line = Vec::new();
                    match reader.by_ref().take(MAX_LINE as u64 + 1).read_until(b'\n', &mut line) {
                        Ok(0) => {
                            let _ = sender.send(Err("the session program ended (its stdout closed)".to_owned()));
                            return;
                        }
                        Ok(_) if line.len() > MAX_LINE => {
                            let _ = sender.send(Err(format!("printed a line longer than {MAX_LINE} bytes")));
                            return;
                        }
                        Ok(_) => {
                            let text = String::from_utf8_lossy(&line).trim().to_owned();
                            // Blank lines separate nothing; every other line is an answer.
                            if !text.is_empty() && sender.send(Ok(text)).is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            let _ = sender.send(Err(format!("cannot read its stdout: {e}")));
                            return;
                        }
                    }
                }
            })
            .map_err(|e| format!("cannot read the session: {e}"))?;
        let stderr = Arc::new(Mutex::new(VecDeque::with_capacity(STDERR_TAIL)));
        let tail = stderr.clone();
        std::thread::Builder::new()
            .name("session stderr".into())
            .spawn(move || {
                let mut pipe = stderr_pipe;
                let mut buffer = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut buffer) {
                    if n == 0 {
                        return;
                    }
                    let mut tail = tail.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    tail.extend(buffer.get(..n).unwrap_or_default());
                    let excess = tail.len().saturating_sub(STDERR_TAIL);
                    tail.drain(..excess);
                }
            })
            .map_err(|e| format!("cannot read the session's stderr: {e}"))?;
        Ok(Self { child, stdin, lines, stderr, group })
    }

    /// The process group the session runs in.
    pub(super) fn leader(&self) -> u32 {
        self.group.leader
    }

    /// Sends one request line and waits up to `timeout` for the answer line. Any error leaves the
    /// session unusable: the caller ends it.
    pub(super) fn ask(&mut self, request: &str, timeout: Duration) -> Result<String, String> {
        // A line left over from an earlier tap would be taken for this one's answer.
        if let Ok(stale) = self.lines.try_recv() {
            return Err(format!("printed a line nobody asked for: {}", stale.map_or_else(|e| e, |line| line.chars().take(200).collect())));
        }
        self.stdin
            .write_all(request.as_bytes())
            .and_then(|()| self.stdin.write_all(b"\n"))
            .and_then(|()| self.stdin.flush())
            .map_err(|e| format!("cannot write the request to the session: {e}{}", self.stderr_tail()))?;
        match self.lines.recv_timeout(timeout) {
            Ok(Ok(line)) => Ok(line),
            Ok(Err(error)) => Err(format!("{error}{}{}", self.exit_status(), self.stderr_tail())),
            Err(RecvTimeoutError::Timeout) => {
                Err(format!("answered no line within its {} ms budget; the session is ended and started again for the next tap", timeout.as_millis()))
            }
            Err(RecvTimeoutError::Disconnected) => Err(format!("the session program ended{}{}", self.exit_status(), self.stderr_tail())),
        }
    }

    fn exit_status(&mut self) -> String {
        // It has closed its stdout: give it a moment to exit, so the status can be named.
        for _ in 0..25 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return format!(" ({status})");
            }
            std::thread::sleep(Duration::from_millis(4));
        }
        String::new()
    }

    /// The last lines the program wrote on stderr, for a message.
    pub(super) fn stderr_tail(&self) -> String {
        let tail = self.stderr.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let text = String::from_utf8_lossy(&tail.iter().copied().collect::<Vec<u8>>()).into_owned();
        let last: Vec<&str> = text.lines().rev().take(3).collect::<Vec<_>>().into_iter().rev().collect();
        if last.is_empty() { String::new() } else { format!(": {}", last.join(" | ")) }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // The whole group goes, and the program is reaped.
        super::containment::end_group(self.group.leader);
        let _ = self.child.wait();
        self.group.end();
    }
}
