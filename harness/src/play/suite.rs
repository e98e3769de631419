//! Where the scenarios come from: the files of the given paths in order, each loaded or refused
//! with a located error, and filtered.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use crate::scenario::{self, LoadError, Scenario};

/// Where the scenarios come from: files in order, each loaded or refused.
#[derive(Debug)]
pub struct Suite {
    /// Every file of the suite, in order.
    pub entries: Vec<Entry>,
}

#[derive(Debug)]
/// One file of a suite.
pub enum Entry {
    /// A scenario that loaded.
    Loaded(Box<Scenario>),
    /// A file that did not load, and why.
    Broken(LoadError),
}

/// Why the scenario files of the given paths cannot be listed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoverError {
    /// A folder (or one below it) could not be read.
    #[error("{}: {source}", path.display())]
    Unreadable {
        /// The folder given.
        path: PathBuf,
        /// What reading it said.
        source: std::io::Error,
    },
    /// Neither a file nor a folder.
    #[error("{}: not a regular file (a FIFO or a device); give a scenario file or a folder", path.display())]
    NotAFile {
        /// The path given.
        path: PathBuf,
    },
    /// Nothing there.
    #[error("{}: no such file or folder", path.display())]
    Missing {
        /// The path given.
        path: PathBuf,
    },
}

/// Expands files and folders (folders: every `*.yaml`/`*.yml` below, sorted by path).
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, DiscoverError> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found = Vec::new();
            collect(path, &mut found).map_err(|source| DiscoverError::Unreadable { path: path.clone(), source })?;
            found.sort();
            files.extend(found);
        } else if path.is_file() {
            files.push(path.clone());
        } else if path.exists() {
            return Err(DiscoverError::NotAFile { path: path.clone() });
        } else {
            return Err(DiscoverError::Missing { path: path.clone() });
        }
    }
    Ok(files)
}

/// Folders are walked as they are: a symlink to a folder is not entered (it could loop).
fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            collect(&path, out)?;
        } else if path.is_dir() {
            continue;
        } else if path.extension().is_some_and(|ext| ext == "yaml" || ext == "yml") {
            out.push(path);
        }
    }
    Ok(())
}

/// The 1-based line of the first top-level (unindented) key `key` in a YAML text.
fn top_level_line(text: &str, key: &str) -> Option<usize> {
    text.lines().position(|line| line.starts_with(key)).map(|index| index + 1)
}

/// Loads every file; a file that fails is kept as [`Entry::Broken`] and the rest still load.
/// A second file with an id already seen is broken too.
pub fn load_suite(files: &[PathBuf], requirements: &BTreeSet<String>, filter: Option<&str>) -> Suite {
    let mut seen: HashMap<String, PathBuf> = HashMap::new();
    let mut entries = Vec::new();
    for file in files {
        match scenario::load_file(file, requirements) {
            Ok(loaded) => {
                if filter.is_some_and(|needle| !loaded.id.contains(needle)) {
                    continue;
                }
                if let Some(first) = seen.get(&loaded.id) {
                    // Located at the file's own `id:` line, where the fix goes.
                    let line = crate::scenario::builtin::source_of(file).ok().and_then(|text| top_level_line(&text, "id:")).unwrap_or(1);
                    entries.push(Entry::Broken(LoadError {
                        file: file.clone(),
                        line,
                        column: 1,
                        message: format!("id: duplicate scenario id `{}` (also in {})", loaded.id, first.display()),
                    }));
                    continue;
                }
                seen.insert(loaded.id.clone(), file.clone());
                entries.push(Entry::Loaded(Box::new(loaded)));
            }
            Err(error) => entries.push(Entry::Broken(error)),
        }
    }
    Suite { entries }
}
