//! Ctrl-C during a run that is waited for on another thread, for `algohost
//! run` and Python's `Host.run` alike: the first Ctrl-C cancels the run
//! through its [`CancelToken`], so that a plugin stops at its next check; a
//! plugin that does not stop within [`GRACE`] (busy in a long call into C,
//! never checking) is given up, as at a timeout: it runs on, on its thread,
//! until it returns or the process ends. A second Ctrl-C stops waiting at
//! once.
//!
//! For `algohost run`, SIGTERM (a scheduler, systemd, `kill`) and SIGHUP
//! (the terminal closed) do what the first Ctrl-C does, and the exit code
//! says which came first: 128 + the signal, as a shell shows for a process
//! the signal ended (130, 143, 129). [`CancelOnInterrupt`] replaces the
//! process's handlers of the three for the length of the run instead of
//! chaining to them: the SIGINT one an embedded (or hosting) Python
//! installs would raise `KeyboardInterrupt` inside a Python plugin, or after
//! the command, rather than cancel. The previous handlers are put back when
//! the run ends. A signal the process ignores (SIGINT in a background job of
//! a non-interactive shell, SIGHUP under `nohup`) stays ignored.

use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use super::EXIT_CANCELLED;
use crate::runner::CancelToken;

/// How long a cancelled run's plugin is waited for after the first Ctrl-C.
pub const GRACE: Duration = Duration::from_secs(5);

/// How often the wait wakes to look for Ctrl-C.
const TICK: Duration = Duration::from_millis(100);

/// How a run ended after a Ctrl-C.
pub enum End<T> {
    /// It returned: cancelled, or done before its plugin saw the cancel.
    Returned(T),
    /// Its plugin did not stop within [`GRACE`] and was given up.
    GivenUp,
    /// A second Ctrl-C came before it stopped.
    InterruptedAgain,
}

/// What [`wait`] waited for.
pub enum Waited<T, I> {
    /// The run ended, with no Ctrl-C.
    Ended(T),
    /// A Ctrl-C (`I`, the last one) came while the run ran.
    Interrupted(I, End<T>),
    /// The run's thread ended without a result.
    Lost,
}

/// Waits for a run's outcome, which `receive` brings (waiting up to the
/// time given), looking every 100 ms for a Ctrl-C with `interrupted` (a new
/// one since the last look): the first cancels `cancel` and waits up to
/// [`GRACE`] more; a second ends the wait at once.
pub fn wait<T, I>(
    mut receive: impl FnMut(Duration) -> Result<T, RecvTimeoutError>,
    cancel: &CancelToken,
    mut interrupted: impl FnMut() -> Option<I>,
) -> Waited<T, I> {
    let mut first: Option<(I, Instant)> = None;
    loop {
        match receive(TICK) {
            Ok(outcome) => {
                return match first {
                    None => Waited::Ended(outcome),
                    Some((interrupt, _)) => Waited::Interrupted(interrupt, End::Returned(outcome)),
                };
            }
            Err(RecvTimeoutError::Disconnected) => return Waited::Lost,
            Err(RecvTimeoutError::Timeout) => {}
        }
        match (interrupted(), first.take()) {
            (Some(interrupt), None) => {
                cancel.cancel();
                first = Some((interrupt, Instant::now() + GRACE));
            }
            (Some(again), Some(_)) => return Waited::Interrupted(again, End::InterruptedAgain),
            (None, Some((interrupt, by))) if Instant::now() >= by => {
                return Waited::Interrupted(interrupt, End::GivenUp);
            }
            (None, waiting) => first = waiting,
        }
    }
}

/// A signal that stops `algohost run`: the first cancels the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stop {
    /// Ctrl-C (SIGINT).
    Interrupt,
    /// SIGTERM.
    Terminate,
    /// SIGHUP.
    HangUp,
}

impl Stop {
    /// How messages name it: `Ctrl-C`, `SIGTERM`, `SIGHUP`.
    pub(super) fn name(self) -> &'static str {
        match self {
            Stop::Interrupt => "Ctrl-C",
            Stop::Terminate => "SIGTERM",
            Stop::HangUp => "SIGHUP",
        }
    }

    /// The exit code of a run it cancelled: 128 + the signal.
    pub(super) fn exit_code(self) -> u8 {
        match self {
            Stop::Interrupt => EXIT_CANCELLED,
            Stop::Terminate => 143,
            Stop::HangUp => 129,
        }
    }
}

/// Counts the signals that stop a run (SIGINT, SIGTERM, SIGHUP) until
/// dropped; the second exits the process at once with 128 + its signal.
pub(super) struct CancelOnInterrupt {
    /// Signals already taken by [`CancelOnInterrupt::next`].
    seen: usize,
    #[cfg(unix)]
    installed: Vec<unix::Installed>,
}

impl CancelOnInterrupt {
    /// Installs the handlers (of the signals not ignored).
    pub(super) fn install() -> Self {
        Self {
            seen: 0,
            #[cfg(unix)]
            installed: unix::install(),
        }
    }

    /// The first signal, when a signal came since the last call.
    pub(super) fn next(&mut self) -> Option<Stop> {
        #[cfg(unix)]
        let (count, first) = (unix::signals(), unix::first());
        #[cfg(not(unix))]
        let (count, first) = (0, Stop::Interrupt);
        let is_new = count > self.seen;
        self.seen = count;
        is_new.then_some(first)
    }
}

impl Drop for CancelOnInterrupt {
    fn drop(&mut self) {
        #[cfg(unix)]
        for installed in self.installed.drain(..) {
            unix::uninstall(installed);
        }
    }
}

#[cfg(unix)]
#[allow(unsafe_code)]
mod unix {
    use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

    use super::Stop;

    /// The signals handled, with what each stands for.
    const HANDLED: [(libc::c_int, Stop); 3] = [
        (libc::SIGINT, Stop::Interrupt),
        (libc::SIGTERM, Stop::Terminate),
        (libc::SIGHUP, Stop::HangUp),
    ];

    /// Signals since the handlers were installed.
    static SIGNALS: AtomicUsize = AtomicUsize::new(0);

    /// The first of them; 0 before it.
    static FIRST: AtomicI32 = AtomicI32::new(0);

    const AGAIN: &[u8] = b"\nerror: interrupted again; exiting without waiting for the run\n";

    /// What [`install`] replaced.
    pub(super) struct Installed {
        signal: libc::c_int,
        previous: libc::sigaction,
    }

    pub(super) fn signals() -> usize {
        SIGNALS.load(Ordering::SeqCst)
    }

    pub(super) fn first() -> Stop {
        let first = FIRST.load(Ordering::SeqCst);
        HANDLED
            .iter()
            .find(|(signal, _)| *signal == first)
            .map_or(Stop::Interrupt, |(_, stop)| *stop)
    }

    /// The handler: only async-signal-safe calls (atomics, `write`,
    /// `_exit`). The first signal is kept; the second exits with 128 + it.
    extern "C" fn on_signal(signal: libc::c_int) {
        // Kept before it is counted, so that whoever sees the count sees it.
        if FIRST
            .compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            SIGNALS.fetch_add(1, Ordering::SeqCst);
        } else {
            // SAFETY: `write` and `_exit` are async-signal-safe; AGAIN is a
            // static buffer of the length given.
            unsafe {
                libc::write(libc::STDERR_FILENO, AGAIN.as_ptr().cast(), AGAIN.len());
                libc::_exit(128 + signal);
            }
        }
    }

    /// Installs the handler for each handled signal the process does not
    /// ignore (an ignored one does what it did before).
    pub(super) fn install() -> Vec<Installed> {
        SIGNALS.store(0, Ordering::SeqCst);
        FIRST.store(0, Ordering::SeqCst);
        HANDLED
            .iter()
            .filter_map(|(signal, _)| install_one(*signal))
            .collect()
    }

    fn install_one(signal: libc::c_int) -> Option<Installed> {
        // SAFETY: a zeroed `sigaction` is a valid value to be filled in.
        let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: a null new action only reads the current one.
        if unsafe { libc::sigaction(signal, std::ptr::null(), &mut current) } != 0
            || current.sa_sigaction == libc::SIG_IGN
        {
            return None;
        }
        // SAFETY: as above; the handler is an `extern "C" fn(c_int)` that
        // makes async-signal-safe calls only.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        // SAFETY: `sa_mask` is a field of `action`.
        unsafe { libc::sigemptyset(&mut action.sa_mask) };
        // SAFETY: installs a handler; `previous` gets the one it replaces.
        let mut previous: libc::sigaction = unsafe { std::mem::zeroed() };
        if unsafe { libc::sigaction(signal, &action, &mut previous) } != 0 {
            return None;
        }
        Some(Installed { signal, previous })
    }

    /// Puts the previous handler back.
    pub(super) fn uninstall(installed: Installed) {
        // SAFETY: `previous` is the action `install` read from the kernel.
        unsafe {
            libc::sigaction(installed.signal, &installed.previous, std::ptr::null_mut());
        }
    }
}
