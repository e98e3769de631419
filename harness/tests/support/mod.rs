//! Helpers shared by the end-to-end tests that drive the `mynatap` binary.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};

static PCSCD: Mutex<()> = Mutex::new(());

/// The tests of one binary share pcscd and its readers: one at a time.
pub fn exclusive() -> MutexGuard<'static, ()> {
    PCSCD.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `mynatap`, run in the workspace root.
pub fn mynatap() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mynatap"));
    command.current_dir(root());
    command
}

/// Everything a command printed, stdout then stderr.
pub fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// A new empty folder for one test.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mynatap-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}
