//! What the CLI prints on stdout, through writes whose errors are handled:
//! a closed pipe (`algohost list | head -1`) ends the command quietly with
//! exit code 141, another write error (a full disk) is one line on stderr
//! and exit code 1, instead of a panic. Lines on stderr (`errln!`) ignore
//! write errors.
//!
//! While a plugin may run, file descriptor 1 is stderr
//! ([`divert_stdout`]): what a plugin writes below Python's `print()` (a
//! child process, `os.write(1, …)`, a C extension, a Rust `println!`) then
//! stays out of the command's own output, which goes to the real stdout.

use std::fs::File;
use std::io::Write as _;
use std::sync::{Mutex, MutexGuard};

/// Writes one line to stdout: `outln!("{x}")?`. The error is a
/// [`StdoutError`].
macro_rules! outln {
    () => {
        $crate::cli::output::write_line(::std::format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::cli::output::write_line(::std::format_args!($($arg)*))
    };
}

/// Writes one line to stderr, ignoring errors: a message whose reader
/// went away (`algohost run … 2>&1 | head -1`) has nowhere else to go, and
/// is no reason to panic as `eprintln!` does.
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::cli::output::write_err_line(::std::format_args!($($arg)*))
    };
}

/// Writes `args` and a newline to stderr; errors are ignored.
/// Whatever stdout holds goes first, so that where both go to one file
/// (`2>&1`) a message never lands inside a line of output.
pub(crate) fn write_err_line(args: std::fmt::Arguments<'_>) {
    let _ = std::io::stdout().lock().flush();
    let _ = std::io::stderr()
        .lock()
        .write_all(format!("{args}\n").as_bytes());
}

/// Writing to stdout failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot write to stdout: {0}")]
pub(crate) struct StdoutError(#[source] std::io::Error);

impl StdoutError {
    /// Whether the reader went away (a closed pipe): not worth a message.
    pub(crate) fn is_broken_pipe(&self) -> bool {
        self.0.kind() == std::io::ErrorKind::BrokenPipe
    }
}

/// The real stdout while file descriptor 1 is diverted to stderr.
static REAL_STDOUT: Mutex<Option<File>> = Mutex::new(None);

fn real_stdout() -> MutexGuard<'static, Option<File>> {
    REAL_STDOUT.lock().unwrap_or_else(|e| e.into_inner())
}

/// Writes `args` and a newline to stdout.
pub(crate) fn write_line(args: std::fmt::Arguments<'_>) -> Result<(), StdoutError> {
    if let Some(real) = real_stdout().as_mut() {
        // One write for the whole line, unbuffered: nothing is left to flush.
        return real
            .write_all(format!("{args}\n").as_bytes())
            .map_err(StdoutError);
    }
    // One write for the whole line: stdout's line buffer writes what it
    // holds before the piece with the newline, in two writes, between
    // which another writer to the same file could come.
    std::io::stdout()
        .lock()
        .write_all(format!("{args}\n").as_bytes())
        .map_err(StdoutError)
}

/// Writes `bytes` as they are to stdout (an encoded frame).
pub(crate) fn write_bytes(bytes: &[u8]) -> Result<(), StdoutError> {
    if let Some(real) = real_stdout().as_mut() {
        return real.write_all(bytes).map_err(StdoutError);
    }
    std::io::stdout()
        .lock()
        .write_all(bytes)
        .map_err(StdoutError)
}

/// Flushes stdout, so that a failed last write is reported too.
pub(crate) fn flush() -> anyhow::Result<()> {
    std::io::stdout().flush().map_err(|e| StdoutError(e).into())
}

/// File descriptor 1 pointed at stderr, until dropped (or for good, after
/// [`StdoutDiverted::keep`]); `outln!` writes to the real stdout meanwhile.
pub(crate) struct StdoutDiverted(());

impl StdoutDiverted {
    /// Leaves file descriptor 1 on stderr for the rest of the process: a
    /// plugin given up (at a timeout, or after Ctrl-C) runs on, and must
    /// not write to the real stdout either.
    pub(crate) fn keep(self) {
        std::mem::forget(self);
    }
}

impl Drop for StdoutDiverted {
    fn drop(&mut self) {
        // What the host's own `print!` buffered was written meanwhile.
        let _ = std::io::stdout().flush();
        #[cfg(unix)]
        if let Some(real) = real_stdout().take() {
            let _ = unix::point_stdout_at(&real);
        }
    }
}

/// Points file descriptor 1 at stderr and keeps the real stdout for
/// `outln!`. None when there is no stdout to divert (it is closed) or no
/// stderr to divert it to, and on other systems than Unix: then nothing
/// changes.
pub(crate) fn divert_stdout() -> Option<StdoutDiverted> {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd as _;
        let _ = std::io::stdout().flush();
        // A duplicate opened close-on-exec: a plugin's child processes do
        // not get the real stdout either.
        let real = File::from(std::io::stdout().as_fd().try_clone_to_owned().ok()?);
        let stderr = std::io::stderr();
        unix::point_stdout_at(&stderr.as_fd()).ok()?;
        *real_stdout() = Some(real);
        Some(StdoutDiverted(()))
    }
    #[cfg(not(unix))]
    None
}

#[cfg(unix)]
mod unix {
    use std::os::fd::{AsFd, AsRawFd as _};

    /// Makes file descriptor 1 a duplicate of `fd`.
    #[allow(unsafe_code)]
    pub(super) fn point_stdout_at(fd: &impl AsFd) -> std::io::Result<()> {
        // SAFETY: `dup2` takes two descriptors and touches no memory; `fd`
        // is open (borrowed for the call), and 1 is replaced atomically.
        let done = unsafe { libc::dup2(fd.as_fd().as_raw_fd(), libc::STDOUT_FILENO) };
        if done < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
}
