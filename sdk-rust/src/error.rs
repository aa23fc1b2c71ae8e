//! The one error type of plugins: callers match on the variant to decide the
//! run's status (`Cancelled` → cancelled, `DeadlineExceeded` → timed out,
//! anything else → failed).

use polars::prelude::PolarsError;

/// An error returned by an algorithm or by the [`crate::Context`] it calls.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The run was cancelled; returned by [`crate::Context::check`].
    #[error("run cancelled")]
    Cancelled,
    /// The run's deadline has passed; returned by [`crate::Context::check`].
    #[error("run deadline exceeded")]
    DeadlineExceeded,
    /// The params or the input data do not fit what the algorithm needs.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// Reading or writing data through the run's adapter failed.
    #[error("data: {0}")]
    Data(String),
    /// A polars operation failed.
    #[error("polars: {0}")]
    Polars(#[from] PolarsError),
    /// The plugin panicked: the panic's message, after `panicked at
    /// src/lib.rs:42:5: ` when where it panicked is known
    /// ([`Panic::text`](crate::panic::Panic::text)). The host catches panics
    /// (across the dylib boundary too) and reports them as this.
    #[error("the plugin {}", crate::panic::describe(.0))]
    Panicked(String),
    /// The plugin raised an exception (a Python plugin): its type, its
    /// message, and the traceback, kept in the run's error details.
    #[error("{exception}: {message}")]
    Raised {
        /// The exception's type, e.g. `ZeroDivisionError`.
        exception: String,
        /// The exception's message.
        message: String,
        /// The formatted traceback, most recent call last.
        traceback: String,
    },
    /// Anything else; the message is shown to the user as the run's error.
    #[error("{0}")]
    Failed(String),
}

impl Error {
    /// A failure with a message, for errors that fit no other variant.
    pub fn msg(message: impl std::fmt::Display) -> Self {
        Error::Failed(message.to_string())
    }

    /// Says which params field an [`Error::InvalidInput`] is about:
    /// `params.{field}: …` (other errors are returned as they are).
    ///
    /// ```
    /// use algohost_sdk::Error;
    ///
    /// let e = Error::InvalidInput("unknown data point 'site.lod'".into()).for_param("load");
    /// assert_eq!(e.to_string(), "invalid input: params.load: unknown data point 'site.lod'");
    /// ```
    pub fn for_param(self, field: &str) -> Self {
        match self {
            Error::InvalidInput(message) => {
                Error::InvalidInput(format!("params.{field}: {message}"))
            }
            other => other,
        }
    }

    /// The stable kind name used in a run's `error.kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Cancelled => "cancelled",
            Error::DeadlineExceeded => "timed_out",
            Error::InvalidInput(_) => "invalid_input",
            Error::Data(_) => "data",
            Error::Polars(_) => "polars",
            Error::Panicked(_) => "panic",
            Error::Raised { .. } => "exception",
            Error::Failed(_) => "failed",
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::InvalidInput(e.to_string())
    }
}

/// `Result` with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
