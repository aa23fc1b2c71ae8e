//! What the CLI prints on stdout, through writes whose errors are handled:
//! a closed pipe (`algohost list | head -1`) ends the command quietly with
//! exit code 141, another write error (a full disk) is one line on stderr
//! and exit code 1, instead of a panic. Lines on stderr (`errln!`) ignore
//! write errors.

use std::io::Write as _;

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
pub(crate) fn write_err_line(args: std::fmt::Arguments<'_>) {
    let mut stderr = std::io::stderr().lock();
    let _ = stderr
        .write_fmt(args)
        .and_then(|()| stderr.write_all(b"\n"));
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

/// Writes `args` and a newline to stdout.
pub(crate) fn write_line(args: std::fmt::Arguments<'_>) -> Result<(), StdoutError> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_fmt(args)
        .and_then(|()| stdout.write_all(b"\n"))
        .map_err(StdoutError)
}

/// Flushes stdout, so that a failed last write is reported too.
pub(crate) fn flush() -> anyhow::Result<()> {
    std::io::stdout().flush().map_err(|e| StdoutError(e).into())
}
