//! Standard output and error for the command line, whatever became of them: a closed pipe
//! (`mynatap list | head -1`, a CI step that stopped reading) ends the printing quietly, never
//! the process with a panic, so the exit code stays the command's own 0, 1 or 2.

use std::io::Write;

/// Writes to standard output; a failed write (a closed pipe) is dropped, as the reader is gone.
pub(crate) fn stdout(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_fmt(args).and_then(|()| out.flush());
}

/// Writes to standard error; a failed write is dropped (there is nowhere left to say it).
pub(crate) fn stderr(args: std::fmt::Arguments<'_>) {
    let _ = std::io::stderr().lock().write_fmt(args);
}

/// `print!` that survives a closed standard output.
macro_rules! out {
    ($($arg:tt)*) => { $crate::console::stdout(format_args!($($arg)*)) };
}

/// `println!` that survives a closed standard output.
macro_rules! outln {
    () => { $crate::console::stdout(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::console::stdout(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `eprintln!` that survives a closed standard error.
macro_rules! note {
    ($($arg:tt)*) => { $crate::console::stderr(format_args!("{}\n", format_args!($($arg)*))) };
}
