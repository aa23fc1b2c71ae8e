//! Panics caught with where they happened, so that a run that panicked
//! reads like Rust's own report: `the plugin panicked at src/lib.rs:42:5:
//! index out of bounds: the len is 3 but the index is 5`.
//!
//! The host runs each algorithm under [`catch`], and so does the SDK inside
//! a dylib plugin, where the panic happens in the plugin's own copy of std:
//! there the location travels to the host inside the ABI's panic message
//! (see [`Panic::text`]), so no field was added to the ABI and plugins built
//! before keep loading (their panics have no location).
//!
//! [`catch`] installs a panic hook once per copy of std (the process, and
//! each plugin library) that chains to the hook installed before it. Each
//! panic is reported once: a panic on a thread inside [`catch`] is kept for
//! [`catch`] and not printed, since the error [`catch`] returns reports it;
//! one that something inside caught instead (the algorithm itself) is
//! printed when [`catch`] returns, as Rust's hook would have. With
//! `RUST_BACKTRACE` set (and not `0`) the previous hook prints every panic
//! at once, with its backtrace. Every other panic (on a thread the algorithm
//! spawned, outside any run, or with `panic = "abort"`) goes to the previous
//! hook as before.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::io::Write as _;
use std::panic::{PanicHookInfo, UnwindSafe};
use std::sync::Once;

use crate::error::Error;

/// How [`Panic::text`] starts when it knows where the panic happened.
const LOCATED: &str = "panicked at ";

/// A panic caught by [`catch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Panic {
    /// The panic's message, or a placeholder when its payload is not text.
    pub message: String,
    /// Where it panicked (`src/lib.rs:42:5`); `None` when the panic was not
    /// raised on the thread that caught it (`resume_unwind` of another
    /// thread's panic).
    pub location: Option<String>,
}

impl Panic {
    /// The text an [`Error::Panicked`] holds and the dylib ABI carries:
    /// `panicked at src/lib.rs:42:5: message`, or the message alone when
    /// the location is not known (all that plugins built with an older SDK
    /// send).
    ///
    /// ```
    /// let panic = algohost_sdk::panic::catch(|| panic!("boom")).unwrap_err();
    /// let location = panic.location.as_deref().unwrap();
    /// assert_eq!(panic.text(), format!("panicked at {location}: boom"));
    /// ```
    pub fn text(&self) -> String {
        match &self.location {
            Some(location) => format!("{LOCATED}{location}: {}", self.message),
            None => self.message.clone(),
        }
    }
}

impl fmt::Display for Panic {
    /// `panicked at src/lib.rs:42:5: message`, or `panicked: message`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&describe(&self.text()))
    }
}

impl From<Panic> for Error {
    fn from(panic: Panic) -> Self {
        Error::Panicked(panic.text())
    }
}

/// A panic's [`Panic::text`] as a phrase after its subject: `panicked at
/// src/lib.rs:42:5: message`, or `panicked: message` for a text without
/// the location (from a plugin built before locations were sent).
pub(crate) fn describe(text: &str) -> String {
    if text.starts_with(LOCATED) {
        text.to_owned()
    } else {
        format!("panicked: {text}")
    }
}

/// Runs `f`; a panic in it is returned with its message and, when it
/// happened on this thread, its location.
///
/// ```
/// use algohost_sdk::panic::catch;
///
/// assert_eq!(catch(|| 1 + 1), Ok(2));
/// let panic = catch(|| -> i32 { panic!("the battery is {}", "empty") }).unwrap_err();
/// assert_eq!(panic.message, "the battery is empty");
/// // file:line:column of the `panic!`
/// assert!(panic.location.unwrap().contains(file!()));
/// ```
pub fn catch<T>(f: impl FnOnce() -> T + UnwindSafe) -> Result<T, Panic> {
    install_hook();
    let caught = {
        let _inside = Inside::enter();
        std::panic::catch_unwind(f)
    };
    let kept = KEPT.with(RefCell::take);
    match caught {
        Ok(value) => {
            if let Some(kept) = kept {
                kept.show_unless_shown();
            }
            Ok(value)
        }
        Err(payload) => {
            let message = message_of(&*payload);
            // Only when the hook saw this very panic: a payload re-raised
            // with `resume_unwind` does not go through the hook.
            let location = match kept {
                Some(kept) if kept.message == message => Some(kept.location),
                Some(other) => {
                    other.show_unless_shown();
                    None
                }
                None => None,
            };
            Err(Panic { message, location })
        }
    }
}

/// The text of a panic's payload (`panic!` with a literal or a format).
pub(crate) fn message_of(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic without a message)".to_owned()
    }
}

/// What the hook kept of the last panic inside [`catch`] on this thread.
struct Kept {
    message: String,
    location: String,
    thread: Option<String>,
    /// Whether the previous hook printed it already.
    is_shown: bool,
}

impl Kept {
    /// Prints a panic that [`catch`] did not return (something inside it
    /// caught the panic, such as the algorithm itself), as Rust's own hook
    /// would have: every panic is reported once, in a run's error or here.
    fn show_unless_shown(&self) {
        if !self.is_shown {
            let thread = self.thread.as_deref().unwrap_or("<unnamed>");
            // Not `eprintln!`, which panics when stderr fails (as in a hook).
            let _ = writeln!(
                std::io::stderr().lock(),
                "thread '{thread}' panicked at {}:\n{}",
                self.location,
                self.message
            );
        }
    }
}

thread_local! {
    /// How many [`catch`]es this thread is inside.
    static DEPTH: Cell<usize> = const { Cell::new(0) };
    static KEPT: RefCell<Option<Kept>> = const { RefCell::new(None) };
}

/// This thread is inside a [`catch`] while one lives (even if `f` unwinds).
struct Inside;

impl Inside {
    fn enter() -> Self {
        DEPTH.with(|d| d.set(d.get() + 1));
        // A panic an enclosing `catch` kept and something caught since.
        if let Some(kept) = KEPT.with(RefCell::take) {
            kept.show_unless_shown();
        }
        Inside
    }
}

impl Drop for Inside {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

fn install_hook() {
    static HOOK: Once = Once::new();
    // Changing the hook while panicking (a `catch` in a `Drop`) would panic.
    if std::thread::panicking() {
        return;
    }
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !keep(info) {
                previous(info);
            }
        }));
    });
}

/// Keeps a panic raised inside [`catch`] for it; whether it is kept unshown
/// (the previous hook need not print it).
fn keep(info: &PanicHookInfo<'_>) -> bool {
    // With `panic = "abort"` nothing is caught: the hook's report is all
    // there will be.
    if cfg!(panic = "abort") || DEPTH.try_with(Cell::get).unwrap_or(0) == 0 {
        return false;
    }
    let mut kept = Kept {
        message: message_of(info.payload()),
        location: info
            .location()
            .map_or_else(|| "an unknown location".to_owned(), ToString::to_string),
        thread: std::thread::current().name().map(str::to_owned),
        is_shown: wants_backtrace(),
    };
    KEPT.try_with(|slot| {
        let Ok(mut slot) = slot.try_borrow_mut() else {
            return false;
        };
        if let Some(earlier) = slot.take() {
            // A second panic before `catch` took the first: one while
            // unwinding from it (the process aborts after this hook) or
            // after a panic something inside `catch` caught. Both are shown.
            earlier.show_unless_shown();
            kept.is_shown = true;
        }
        let is_kept = !kept.is_shown;
        *slot = Some(kept);
        is_kept
    })
    .unwrap_or(false)
}

/// Whether `RUST_BACKTRACE` asks for a backtrace, which the previous hook
/// (std's) prints.
fn wants_backtrace() -> bool {
    std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_is_caught_with_its_message_and_location() {
        let here = format!("{}:{}:", file!(), line!() + 1);
        let panic = catch(|| panic!("the battery is on {}", "fire")).unwrap_err();
        assert_eq!(panic.message, "the battery is on fire");
        let location = panic.location.clone().unwrap();
        assert!(location.starts_with(&here), "{location}");
        assert_eq!(
            Error::from(panic).to_string(),
            format!("the plugin panicked at {location}: the battery is on fire")
        );
    }

    #[test]
    fn a_panic_resumed_from_another_thread_has_no_location() {
        let payload = std::thread::spawn(|| std::panic::panic_any("elsewhere"))
            .join()
            .unwrap_err();
        let resume = std::panic::AssertUnwindSafe(|| std::panic::resume_unwind(payload));
        let panic = catch(resume).unwrap_err();
        assert_eq!(panic.message, "elsewhere");
        assert_eq!(panic.location, None);
        assert_eq!(panic.to_string(), "panicked: elsewhere");
        assert_eq!(
            Error::from(panic).to_string(),
            "the plugin panicked: elsewhere"
        );
    }

    #[test]
    fn an_inner_catch_takes_its_own_panic_and_the_outer_one_its_own() {
        let outer = catch(|| {
            let inner = catch(|| panic!("inner")).unwrap_err();
            assert_eq!(inner.message, "inner");
            assert!(inner.location.is_some());
            panic!("outer")
        })
        .unwrap_err();
        assert_eq!(outer.message, "outer");
        assert!(outer.location.is_some());
    }

    /// Set in the child process of [`each_panic_is_reported_once`].
    const CHILD: &str = "ALGOHOST_SDK_TEST_PANIC_CHILD";

    #[test]
    fn each_panic_is_reported_once() {
        if std::env::var_os(CHILD).is_some() {
            let returned = catch(|| panic!("returned by catch")).unwrap_err();
            eprintln!("error: {returned}");
            let swallowed = catch(|| std::panic::catch_unwind(|| panic!("swallowed")).is_err());
            assert_eq!(swallowed, Ok(true));
            return;
        }
        let name = "panic::tests::each_panic_is_reported_once";
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([name, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD, "1")
            .env_remove("RUST_BACKTRACE")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        let lines: Vec<&str> = stderr.lines().collect();
        // The returned panic is in the error only; the one the closure
        // caught itself is printed as Rust's hook prints it.
        assert!(
            matches!(
                lines[..],
                [error, thread, "swallowed"]
                    if error.starts_with(&format!("error: panicked at {}:", file!()))
                        && error.ends_with(": returned by catch")
                        && thread.starts_with("thread '")
                        && thread.contains(&format!("' panicked at {}:", file!()))
            ),
            "{stderr}"
        );
    }

    #[test]
    fn a_payload_that_is_not_text_has_a_placeholder() {
        let panic = catch(|| std::panic::panic_any(42)).unwrap_err();
        assert_eq!(panic.message, "(a panic without a message)");
    }
}
