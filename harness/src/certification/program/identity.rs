//! What identifies what was certified: the suite's fingerprint and the reader program's files.

use std::io::Read;
use std::path::PathBuf;

/// SHA-256 over what a certification ran: every scenario file of the suite and the profiles, in
/// order (see [`super::super::verdict::fingerprint_of`]).
pub fn fingerprint(files: &[PathBuf]) -> String {
    let texts: Vec<(String, String)> = files
        .iter()
        .map(|file| (file.display().to_string(), crate::scenario::builtin::source_of(file).map(|text| text.into_owned()).unwrap_or_default()))
        .collect();
    super::super::verdict::fingerprint_of(&texts, [mynatap_sim::profile::CARD_YAML, mynatap_sim::profile::ANDROID_YAML, mynatap_sim::profile::IPHONE_YAML])
}

/// The SHA-256 of a file that identifies the certified program (`--reader-file`), read in full
/// however large (a jar, an interpreter) without holding it in memory.
pub fn identify(path: &std::path::Path) -> Result<crate::report::ProgramFile, String> {
    use sha2::{Digest, Sha256};
    let mut file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => hasher.update(buffer.get(..n).unwrap_or_default()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("{}: {e}", path.display())),
        }
    }
    let shown = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    Ok(crate::report::ProgramFile { path: shown.display().to_string(), sha256: hex::encode(hasher.finalize()) })
}

/// The executable a reader command runs (its first word past `VAR=value` assignments, looked up
/// on `PATH` as the shell would), identified; none when the shell would not find one either
/// (the taps then fail on their own).
pub fn command_executable(command: &str) -> Result<Option<crate::report::ProgramFile>, String> {
    let Some(first) = command.split_whitespace().find(|word| !word.contains('=')) else { return Ok(None) };
    let first = first.trim_matches(|c| c == '\'' || c == '"');
    let found = if first.contains('/') {
        Some(PathBuf::from(first))
    } else {
        std::env::var_os("PATH").and_then(|path| std::env::split_paths(&path).map(|dir| dir.join(first)).find(|candidate| candidate.is_file()))
    };
    match found {
        Some(path) if path.is_file() => identify(&path).map(Some).map_err(|e| format!("--reader-cmd: cannot read its executable {e}")),
        _ => Ok(None),
    }
}
