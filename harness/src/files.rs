//! The user's files, read and written safely: regular files only, with a size bound, never
//! blocking on a FIFO or a device, and never writing through a symlink out of the folder named.
//!
//! Every command that takes a path goes through here: `/dev/zero` or a FIFO given as a capture,
//! a report or a scenario is refused at once, and a symlink planted in an output folder is
//! replaced, not followed (a new file is created exclusively and renamed over the name).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Why a file could not be read or written; the message names the path and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{path}: {source}")]
    /// The system refused (not found, no permission, ...).
    Io {
        /// The path.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    #[error("{path}: not a regular file (a folder, a FIFO or a device); give a file")]
    /// A folder, FIFO or device where a file was expected.
    NotRegular {
        /// The path.
        path: PathBuf,
    },
    #[error("{path}: {size} bytes, over the {limit}-byte limit of this kind of file")]
    /// Larger than this kind of file may be.
    TooLarge {
        /// The path.
        path: PathBuf,
        /// Its size, in bytes.
        size: u64,
        /// The limit, in bytes.
        limit: u64,
    },
    #[error("{path}: not a path inside the folder (absolute, or with `..`)")]
    /// A path that leaves the folder.
    Outside {
        /// The path.
        path: PathBuf,
    },
    #[error("{path}: a symbolic link, where a regular file was expected")]
    /// A symbolic link where a regular file was expected.
    Symlink {
        /// The path.
        path: PathBuf,
    },
    #[error("{path}: not UTF-8 text")]
    /// Not UTF-8 text.
    NotText {
        /// The path.
        path: PathBuf,
    },
}

impl FileError {
    /// What is wrong, without the path (for messages that name the file already).
    pub fn reason(&self) -> String {
        let text = self.to_string();
        match self {
            Self::Io { path, .. }
            | Self::NotRegular { path }
            | Self::TooLarge { path, .. }
            | Self::Outside { path }
            | Self::Symlink { path }
            | Self::NotText { path } => text.strip_prefix(&format!("{}: ", path.display())).map(str::to_owned).unwrap_or(text),
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> FileError + '_ {
    move |source| FileError::Io { path: path.to_owned(), source }
}

/// Reads a regular file of at most `limit` bytes. Opening does not block (a FIFO would wait for
/// a writer forever); anything but a regular file is refused before a byte is read.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, FileError> {
    let file = OpenOptions::new().read(true).custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32).open(path).map_err(io(path))?;
    let metadata = file.metadata().map_err(io(path))?;
    if !metadata.is_file() {
        return Err(FileError::NotRegular { path: path.to_owned() });
    }
    if metadata.len() > limit {
        return Err(FileError::TooLarge { path: path.to_owned(), size: metadata.len(), limit });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
    // The file may grow while it is read: never past the limit.
    file.take(limit + 1).read_to_end(&mut bytes).map_err(io(path))?;
    if bytes.len() as u64 > limit {
        return Err(FileError::TooLarge { path: path.to_owned(), size: bytes.len() as u64, limit });
    }
    Ok(bytes)
}

/// [`read_bounded`] of `relative` under `root`, refusing a symlink anywhere on the way (a signed
/// bundle holds regular files only: a link would make its verdict follow an unsigned outside file).
pub fn read_inside(root: &Path, relative: &Path, limit: u64) -> Result<Vec<u8>, FileError> {
    let mut path = root.to_owned();
    for component in relative.components() {
        if !matches!(component, std::path::Component::Normal(_)) {
            return Err(FileError::Outside { path: relative.to_owned() });
        }
        path.push(component);
        if path.symlink_metadata().map_err(io(&path))?.file_type().is_symlink() {
            return Err(FileError::Symlink { path });
        }
    }
    read_bounded(&path, limit)
}

/// [`read_bounded`] as UTF-8 text.
pub fn read_text(path: &Path, limit: u64) -> Result<String, FileError> {
    String::from_utf8(read_bounded(path, limit)?).map_err(|_| FileError::NotText { path: path.to_owned() })
}

/// Writes `bytes` as `path`: into a new file created exclusively beside it (so no symlink or
/// FIFO planted there is followed), then renamed over the name. A symlink at `path` is replaced
/// by the file, its target left untouched; readers never see half a file.
pub fn write_replacing(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| FileError::NotRegular { path: path.to_owned() })?;
    if path.symlink_metadata().is_ok_and(|metadata| metadata.is_dir()) {
        return Err(FileError::NotRegular { path: path.to_owned() });
    }
    let temporary = parent.join(format!(".{}.{}-{}.partial", name.to_string_lossy(), std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)));
    let written = (|| {
        let mut file = OpenOptions::new().write(true).create_new(true).mode(0o644).open(&temporary)?;
        file.write_all(bytes)?;
        file.sync_data()?;
        std::fs::rename(&temporary, path)
    })();
    if let Err(source) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(FileError::Io { path: path.to_owned(), source });
    }
    Ok(())
}

/// Writes a file the user named on the command line (`--output`): a device or FIFO they named
/// (`/dev/stdout`, `/dev/null`, a pipe) is written as it is; anything else as
/// [`write_replacing`] does, so a symlink at the name is replaced, not followed.
pub fn write_output(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    let special = std::fs::metadata(path).is_ok_and(|metadata| !metadata.is_file() && !metadata.is_dir());
    if special {
        let mut file = OpenOptions::new().write(true).open(path).map_err(io(path))?;
        return file.write_all(bytes).map_err(io(path));
    }
    write_replacing(path, bytes)
}

/// Creates a new file exclusively (refusing an existing name, a symlink included) and returns it
/// for streaming writes.
pub fn create_new(path: &Path) -> Result<File, FileError> {
    OpenOptions::new().write(true).create_new(true).mode(0o644).open(path).map_err(io(path))
}

/// Creates `dir` (and its parents) if missing and checks that it is a folder.
pub fn ensure_folder(dir: &Path) -> Result<(), FileError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    if !std::fs::metadata(dir).map_err(io(dir))?.is_dir() {
        return Err(FileError::NotRegular { path: dir.to_owned() });
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mynatap-files-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn devices_and_fifos_are_refused_at_once() {
        assert!(matches!(read_bounded(Path::new("/dev/zero"), 1024), Err(FileError::NotRegular { .. })));
        let dir = scratch("fifo");
        let fifo = dir.join("pipe");
        rustix::fs::mknodat(rustix::fs::CWD, &fifo, rustix::fs::FileType::Fifo, rustix::fs::Mode::from_raw_mode(0o600), 0).unwrap();
        assert!(matches!(read_bounded(&fifo, 1024), Err(FileError::NotRegular { .. })));
        assert!(matches!(read_bounded(&dir, 1024), Err(FileError::NotRegular { .. })));
    }

    #[test]
    fn files_over_the_limit_are_refused() {
        let dir = scratch("limit");
        std::fs::write(dir.join("big"), vec![b'x'; 2000]).unwrap();
        assert!(matches!(read_bounded(&dir.join("big"), 1000), Err(FileError::TooLarge { size: 2000, .. })));
        assert_eq!(read_bounded(&dir.join("big"), 2000).unwrap().len(), 2000);
    }

    #[test]
    fn writing_replaces_a_planted_symlink_and_leaves_its_target_alone() {
        let dir = scratch("symlink");
        let victim = dir.join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let out = dir.join("out");
        std::fs::create_dir(&out).unwrap();
        std::os::unix::fs::symlink(&victim, out.join("report.json")).unwrap();
        std::os::unix::fs::symlink(dir.join("nowhere"), out.join("dangling.yaml")).unwrap();
        write_replacing(&out.join("report.json"), b"{}").unwrap();
        write_replacing(&out.join("dangling.yaml"), b"x: 1").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert!(!dir.join("nowhere").exists());
        assert_eq!(std::fs::read_to_string(out.join("report.json")).unwrap(), "{}");
        assert!(!out.join("report.json").symlink_metadata().unwrap().file_type().is_symlink());
        assert!(create_new(&out.join("report.json")).is_err());
    }
}
