//! Keeping reader programs in their place: each tap's processes in a group ended with it, the
//! harness closed to them (non-dumpable, their subreaper, another user when it runs as root), and
//! the files handed to them created fresh, read-only, never through a symlink, and checked after
//! the tap.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Process groups of reader programs whose tap is running (several with `--jobs`).
pub(super) static ACTIVE_GROUPS: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());

/// Readies this process to run reader programs: it becomes the child subreaper (a descendant that
/// leaves the program's process group with `setsid`, or double-forks, is reparented here, not to
/// init, and is ended with its tap), and non-dumpable (`/proc/<harness>/environ`, `exe`, `fd` and
/// `mem` are closed to same-user programs). Called once before the first tap.
pub fn contain_reader_programs() {
    let _ = rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable);
    let _ = rustix::process::set_child_subreaper(Some(rustix::process::getpid()));
}

/// Kills and reaps every child of this process outside a running tap's process group: what a
/// reader program left behind in a session of its own, reparented here (see
/// [`contain_reader_programs`]).
fn end_escaped_descendants() {
    let me = std::process::id();
    // Held through the scan: a reader program started meanwhile (another `--jobs` reader) is
    // spawned and listed under this lock, so it is never taken for a leftover.
    let active = ACTIVE_GROUPS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let Ok(entries) = std::fs::read_dir("/proc") else { return };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // `pid (comm) state ppid pgrp ...`: comm may hold anything, so read after its `)`.
        let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
        let (Some(ppid), Some(pgrp)) = (fields.get(1).and_then(|f| f.parse::<u32>().ok()), fields.get(2).and_then(|f| f.parse::<u32>().ok())) else { continue };
        if ppid == me
            && !active.contains(&pgrp)
            && let Some(pid) = i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw)
        {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            let _ = rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty());
        }
    }
}

/// Kills the process group led by `leader` (every process a reader program started).
pub(super) fn end_group(leader: u32) {
    if let Some(pid) = i32::try_from(leader).ok().and_then(rustix::process::Pid::from_raw) {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

/// The process group of a reader program (led by the pid), ended however the tap ends.
#[derive(Debug)]
pub(super) struct ProcessGroup {
    pub(super) leader: u32,
    pub(super) ended: bool,
}

impl ProcessGroup {
    /// Ends the tap's processes once (the program itself already waited for).
    pub(super) fn end(&mut self) {
        if !self.ended {
            self.ended = true;
            end_tap_processes(self.leader);
        }
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.end();
    }
}

/// Ends a tap's processes: the program's group, then whatever escaped it (once the program itself
/// has been waited for, so only leftovers are reaped here).
fn end_tap_processes(leader: u32) {
    end_group(leader);
    ACTIVE_GROUPS.lock().unwrap_or_else(std::sync::PoisonError::into_inner).retain(|group| *group != leader);
    // A member's descendant in a session of its own is reparented here only once that member has
    // died: wait (briefly) until the group is gone, reaping what has been reparented meanwhile
    // (a killed member reparented here stays in the group as a zombie until reaped).
    let group = i32::try_from(leader).ok().and_then(rustix::process::Pid::from_raw);
    for _ in 0..100 {
        let gone = group.is_none_or(|group| rustix::process::test_kill_process_group(group).is_err());
        end_escaped_descendants();
        if gone {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// `N` bytes from the operating system's randomness, in hex: names and secrets nobody guesses.
pub(super) fn random_hex<const N: usize>() -> Result<String, String> {
    let mut random = [0u8; N];
    std::fs::File::open("/dev/urandom").and_then(|mut file| file.read_exact(&mut random)).map_err(|e| format!("cannot read /dev/urandom: {e}"))?;
    Ok(hex::encode(random))
}

/// Whether `group` is the process group of a reader program whose tap is running.
pub(super) fn is_active_group(group: u32) -> bool {
    ACTIVE_GROUPS.lock().unwrap_or_else(std::sync::PoisonError::into_inner).contains(&group)
}

/// The user reader programs run as when the harness runs as root (`--reader-user`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    /// The user's name.
    pub name: String,
    /// Its user id.
    pub uid: u32,
    /// Its primary group: the private folder and its files are readable by this group.
    pub gid: u32,
    /// Its home folder (`HOME` of the program).
    pub home: String,
}

/// How reader programs are kept from the harness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Containment {
    /// The harness does not run as root: programs run as its user (its memory is closed to them
    /// by being non-dumpable).
    OwnUser,
    /// As root: programs run as this user.
    As(RunAs),
    /// As root, told `--reader-user root`: programs run as root and could read the harness.
    Root,
}

/// The user reader programs run as by default when mynatap runs as root.
pub const DEFAULT_READER_USER: &str = "nobody";

impl Containment {
    /// `--reader-user`: as root, the named user (default [`DEFAULT_READER_USER`]), or root itself
    /// when so named; otherwise the harness's own user (the flag is then ignored).
    pub fn choose(flag: Option<&str>) -> Result<Self, String> {
        if !rustix::process::geteuid().is_root() {
            return Ok(Self::OwnUser);
        }
        let name = flag.unwrap_or(DEFAULT_READER_USER);
        if name == "root" {
            return Ok(Self::Root);
        }
        let passwd = std::fs::read_to_string("/etc/passwd").map_err(|e| format!("--reader-user: cannot read /etc/passwd: {e}"))?;
        let run_as = passwd_entry(&passwd, name).ok_or_else(|| {
            format!(
                "--reader-user {name}: no such user in /etc/passwd. mynatap runs as root, and runs reader programs as another user so they cannot read its memory: create one (`useradd --system mynatap-reader`) and name it, or give `--reader-user root` (the verdict then says containment was reduced)"
            )
        })?;
        if run_as.uid == 0 {
            return Err(format!("--reader-user {name}: this user has uid 0; name an unprivileged user, or `root` to run reader programs as root knowingly"));
        }
        Ok(Self::As(run_as))
    }

    /// The user programs run as, when not the harness's.
    pub fn run_as(&self) -> Option<&RunAs> {
        match self {
            Self::As(run_as) => Some(run_as),
            _ => None,
        }
    }
}

/// The `/etc/passwd` entry of `name`: `name:x:uid:gid:gecos:home:shell`.
fn passwd_entry(passwd: &str, name: &str) -> Option<RunAs> {
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.first() != Some(&name) {
            return None;
        }
        Some(RunAs { name: name.to_owned(), uid: fields.get(2)?.parse().ok()?, gid: fields.get(3)?.parse().ok()?, home: fields.get(5)?.to_string() })
    })
}

/// A new folder only this user (and, with `run_as`, that user's group, to read) can enter, under
/// the temporary folder, with a name nobody can guess beforehand: created exclusively, so a name
/// already there (or a symlink planted in its place) is an error, never followed.
pub(super) fn private_dir(port: u16, run_as: Option<&RunAs>) -> Result<PathBuf, String> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let dir = std::env::temp_dir().join(format!("mynatap-{}-{port}-{}", std::process::id(), random_hex::<8>()?));
    std::fs::DirBuilder::new().mode(0o700).create(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    if let Some(run_as) = run_as {
        std::os::unix::fs::chown(&dir, None, Some(run_as.gid)).map_err(|e| format!("cannot hand {} to group {}: {e}", dir.display(), run_as.gid))?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o750)).map_err(|e| format!("cannot open {} to its group: {e}", dir.display()))?;
    }
    Ok(dir)
}

/// A file handed to a reader program, as written: checked again after the tap.
#[derive(Debug, Clone)]
pub(super) struct HandedFile {
    /// The contract's variable that names it.
    pub variable: &'static str,
    pub path: PathBuf,
    pub bytes: Vec<u8>,
}

/// Writes `bytes` into a new file at `path`, read-only (and readable by `run_as`'s group):
/// whatever was there is removed first, and the new file is created exclusively without
/// following a symlink, so nothing planted in its place is written through.
pub(super) fn write_fresh(variable: &'static str, path: &Path, bytes: &[u8], run_as: Option<&RunAs>) -> Result<HandedFile, String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot remove the old {}: {e}", path.display())),
    }
    let mode = if run_as.is_some() { 0o440 } else { 0o400 };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    if let Some(run_as) = run_as {
        std::os::unix::fs::fchown(&file, None, Some(run_as.gid)).map_err(|e| format!("cannot hand {} to group {}: {e}", path.display(), run_as.gid))?;
    }
    file.write_all(bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(HandedFile { variable, path: path.to_owned(), bytes: bytes.to_vec() })
}

/// After a tap: every file handed to the program is still the regular file written, with the same
/// bytes. A file changed, replaced or turned into a symlink is named (the tap's adapter error).
pub(super) fn check_unchanged(files: &[HandedFile]) -> Result<(), String> {
    for file in files {
        let what = format!("the file of {} ({})", file.variable, file.path.display());
        let meta = std::fs::symlink_metadata(&file.path).map_err(|e| format!("{what} is gone after the tap: {e}"))?;
        if !meta.file_type().is_file() {
            return Err(format!("{what} was replaced during the tap (no longer a regular file): files handed to a reader are not its to change"));
        }
        let mut now = Vec::with_capacity(file.bytes.len());
        std::fs::File::open(&file.path)
            .and_then(|f| f.take(file.bytes.len() as u64 + 1).read_to_end(&mut now))
            .map_err(|e| format!("{what} cannot be read after the tap: {e}"))?;
        if now != file.bytes {
            return Err(format!("{what} was changed during the tap: files handed to a reader are not its to change"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_entries_are_read_by_name() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
        assert_eq!(passwd_entry(passwd, "nobody"), Some(RunAs { name: "nobody".into(), uid: 65534, gid: 65534, home: "/nonexistent".into() }));
        assert_eq!(passwd_entry(passwd, "nobod"), None);
    }

    #[test]
    fn handed_files_are_fresh_read_only_and_checked() {
        use std::os::unix::fs::PermissionsExt;
        let dir = private_dir(0, None).unwrap();
        let path = dir.join("ca.der");
        // A symlink planted where the file goes is removed, never written through.
        let target = dir.join("target");
        std::fs::write(&target, b"victim").unwrap();
        std::os::unix::fs::symlink(&target, &path).unwrap();
        let handed = write_fresh("MYNATAP_CA_CERT", &path, b"der", None).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"victim");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o400);
        check_unchanged(std::slice::from_ref(&handed)).unwrap();
        // Changed after it was handed over: named.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&path, b"other").unwrap();
        let error = check_unchanged(std::slice::from_ref(&handed)).unwrap_err();
        assert!(error.contains("MYNATAP_CA_CERT") && error.contains("changed"), "{error}");
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink(&target, &path).unwrap();
        assert!(check_unchanged(&[handed]).unwrap_err().contains("replaced"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
