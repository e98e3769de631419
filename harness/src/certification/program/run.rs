//! How a reader program is asked for a tap's verdict: a process of its own per tap (in its own
//! process group, under the tap's budget) or one request line to its long-running session; and
//! what it inherits of the harness's environment.

use std::io::Read;
use std::process::{Command, Stdio};

use super::super::adapter::Verdict;
use super::super::containment::{ACTIVE_GROUPS, ProcessGroup, end_group};
use super::{AdapterPlayer, INHERITED_ENV};

impl AdapterPlayer {
    /// What the program inherits: a clean environment, nothing of the harness's (a CI job's
    /// secrets) but what is named, and (run as another user) that user's home.
    fn inherited_env(&self) -> Vec<(String, std::ffi::OsString)> {
        let mut inherited: Vec<(String, std::ffi::OsString)> = INHERITED_ENV
            .iter()
            .map(|name| (*name).to_owned())
            .chain(self.program.pass_env.iter().cloned())
            .filter_map(|name| std::env::var_os(&name).map(|value| (name, value)))
            .collect();
        let run_as = self.program.containment.run_as();
        if let Some(run_as) = run_as {
            // Its own home, not the harness's.
            inherited.retain(|(name, _)| name != "HOME");
            inherited.push(("HOME".into(), run_as.home.clone().into()));
        }
        inherited
    }

    /// Session mode: asks the session (started first if none runs) with one request line holding
    /// `envs` as a JSON object, and reads its verdict line. A failed tap ends the session; the
    /// next tap starts it again.
    pub(super) fn ask_session(&self, envs: &[(&str, String)]) -> Result<Verdict, String> {
        let mut slot = self.session.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if slot.is_none() {
            *slot = Some(super::super::session::Session::start(&self.program.command, &self.inherited_env(), self.program.containment.run_as())?);
        }
        let Some(session) = slot.as_mut() else { return Err("no session".into()) };
        let leader = session.leader();
        self.server.set_reader_group(leader, super::super::containment::is_active_group);
        self.leader.store(leader, std::sync::atomic::Ordering::Relaxed);
        let mut request = serde_json::Map::new();
        request.insert("mynatap_session".into(), super::super::session::SESSION_PROTOCOL.into());
        for (name, value) in envs {
            request.insert((*name).to_owned(), value.clone().into());
        }
        let result = session.ask(&serde_json::Value::Object(request).to_string(), self.program.tap_timeout).and_then(|line| Verdict::parse(&line));
        self.leader.store(0, std::sync::atomic::Ordering::Relaxed);
        if result.is_err() {
            *slot = None;
        }
        result
    }

    pub(super) fn run_program(&self, envs: &[(&str, String)]) -> Result<Verdict, String> {
        use std::os::unix::process::CommandExt;
        let inherited = self.inherited_env();
        let run_as = self.program.containment.run_as();
        // Spawned and listed as running under one lock (see `end_escaped_descendants`).
        let spawning = ACTIVE_GROUPS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut command = Command::new("sh");
        if let Some(run_as) = run_as {
            // Another user than the harness (root): /proc/<harness> and ptrace are closed to it.
            command.uid(run_as.uid).gid(run_as.gid);
        }
        let mut child = command
            .arg("-c")
            .arg(format!("exec {}", self.program.command))
            .env_clear()
            .envs(inherited)
            .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so everything it starts can be ended with it.
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start `{}`: {e}", self.program.command))?;
        // However the tap ends (a panic included), everything the program started ends with it.
        let pid = child.id();
        let mut spawning = spawning;
        spawning.push(pid);
        drop(spawning);
        let mut group = ProcessGroup { leader: pid, ended: false };
        // The back ends tell the program's requests from a thief's by this group.
        self.server.set_reader_group(pid, super::super::containment::is_active_group);
        self.leader.store(pid, std::sync::atomic::Ordering::Relaxed);
        // Read both pipes on their own threads so a chatty program cannot block on a full pipe.
        let mut stdout = child.stdout.take().ok_or("no stdout")?;
        let mut stderr = child.stderr.take().ok_or("no stderr")?;
        let out = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stdout.by_ref().take(1024 * 1024).read_to_string(&mut text);
            text
        });
        let err = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.by_ref().take(64 * 1024).read_to_string(&mut text);
            text
        });
        // Waiting blocks on a thread of its own, so the tap ends the moment the program exits.
        let (exited, exit) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let _ = exited.send(child.wait());
        });
        let status = match exit.recv_timeout(self.program.tap_timeout) {
            Ok(status) => status.map_err(|e| format!("cannot wait for the program: {e}"))?,
            Err(_) => {
                self.leader.store(0, std::sync::atomic::Ordering::Relaxed);
                end_group(pid);
                let _ = waiter.join();
                group.end();
                return Err(format!("ran past its {} ms budget and was killed", self.program.tap_timeout.as_millis()));
            }
        };
        // The tap is over: whatever the program left running goes too (and lets go of its pipes),
        // in its group or escaped from it. A command from now on is not its.
        self.leader.store(0, std::sync::atomic::Ordering::Relaxed);
        group.end();
        let stdout = out.join().unwrap_or_default();
        let stderr = err.join().unwrap_or_default();
        if !status.success() {
            let tail: String = stderr.lines().rev().take(3).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join(" | ");
            return Err(format!("exited with {status}{}", if tail.is_empty() { String::new() } else { format!(": {tail}") }));
        }
        Verdict::parse(&stdout)
    }
}
