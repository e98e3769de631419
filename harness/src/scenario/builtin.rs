//! The conformance suite built into the binary (the workspace's `scenarios/` at build time):
//! what `run` and `certify` play when given no path and there is no `scenarios/` folder, and
//! what `mynatap suite export` writes out.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

/// File name and text of every scenario of the built-in suite, sorted by name.
pub const FILES: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/builtin_suite.rs"));

/// The folder built-in scenarios appear in (in reports and error messages).
pub const FOLDER: &str = "<built-in>";

/// How reports name the built-in suite.
pub fn label() -> String {
    format!("built-in suite of mynatap {} ({} scenarios)", env!("CARGO_PKG_VERSION"), FILES.len())
}

/// The paths of the built-in scenarios, as reports show them.
pub fn paths() -> Vec<PathBuf> {
    FILES.iter().map(|(name, _)| Path::new(FOLDER).join(name)).collect()
}

/// The embedded text of a built-in path.
fn embedded(path: &Path) -> Option<&'static str> {
    let name = path.strip_prefix(FOLDER).ok()?.to_str()?;
    FILES.iter().find(|(file, _)| *file == name).map(|(_, text)| *text)
}

/// The text of a scenario file: the built-in suite's, or read from disk.
pub fn source_of(path: &Path) -> Result<Cow<'static, str>, crate::files::FileError> {
    match embedded(path) {
        Some(text) => Ok(Cow::Borrowed(text)),
        None => crate::files::read_text(path, super::MAX_FILE_BYTES).map(Cow::Owned),
    }
}

/// Writes the built-in suite into `dir` (created if missing). An existing file with other
/// content is left alone and reported, never overwritten: it may be someone's edit. So is
/// anything at a scenario's name that is not a regular file (a symlink, dangling or not, a FIFO):
/// nothing is written outside `dir`, and nothing blocks.
pub fn export(dir: &Path) -> Result<usize, ExportError> {
    crate::files::ensure_folder(dir).map_err(ExportError::Create)?;
    let clashes: Vec<String> = FILES
        .iter()
        .filter(|(name, text)| {
            let path = dir.join(name);
            match path.symlink_metadata() {
                Err(_) => false,
                Ok(metadata) if !metadata.is_file() => true,
                Ok(_) => crate::files::read_text(&path, super::MAX_FILE_BYTES).map_or(true, |existing| existing != *text),
            }
        })
        .map(|(name, _)| dir.join(name).display().to_string())
        .collect();
    if !clashes.is_empty() {
        return Err(ExportError::Clashes { dir: dir.to_owned(), files: clashes });
    }
    for (name, text) in FILES {
        let path = dir.join(name);
        crate::files::write_replacing(&path, text.as_bytes()).map_err(ExportError::Write)?;
    }
    Ok(FILES.len())
}

/// Why the built-in suite was not exported.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The folder could not be made.
    #[error("cannot create {0}")]
    Create(crate::files::FileError),
    /// Files there differ from the suite's: left alone.
    #[error("{} file(s) in {} differ from the built-in suite and were not overwritten: {}; export into an empty folder", files.len(), dir.display(), files.join(", "))]
    Clashes {
        /// The folder.
        dir: std::path::PathBuf,
        /// The files that differ (or are not regular files).
        files: Vec<String>,
    },
    /// A file could not be written.
    #[error("cannot write {0}")]
    Write(crate::files::FileError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_whole_suite_is_built_in_and_readable_by_its_paths() {
        let on_disk = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios")).unwrap().count();
        assert_eq!(FILES.len(), on_disk);
        for path in paths() {
            assert!(source_of(&path).unwrap().contains("id:"), "{}", path.display());
        }
        assert!(source_of(Path::new("<built-in>/no-such.yaml")).is_err());
    }
}
