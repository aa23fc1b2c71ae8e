//! Ctrl-C during a run that is waited for on another thread, for `algohost
//! run` and Python's `Host.run` alike: the first Ctrl-C cancels the run
//! through its [`CancelToken`], so that a plugin stops at its next check; a
//! plugin that does not stop within [`GRACE`] (busy in a long call into C,
//! never checking) is given up, as at a timeout: it runs on, on its thread,
//! until it returns or the process ends. A second Ctrl-C stops waiting at
//! once.
//!
//! For `algohost run`, [`CancelOnInterrupt`] replaces the process's SIGINT
//! handler for the length of the run instead of chaining to it: the one an
//! embedded (or hosting) Python installs would raise `KeyboardInterrupt`
//! inside a Python plugin, or after the command, rather than cancel. The
//! previous handler is put back when the run ends. A SIGINT the process
//! ignores (a background job of a non-interactive shell, `nohup`) stays
//! ignored.

use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

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

/// Counts Ctrl-Cs (SIGINT) until dropped; the second exits the process at
/// once with 130.
pub(super) struct CancelOnInterrupt {
    /// Ctrl-Cs already taken by [`CancelOnInterrupt::next`].
    seen: usize,
    #[cfg(unix)]
    installed: Option<unix::Installed>,
}

impl CancelOnInterrupt {
    /// Installs the handler (unless SIGINT is ignored).
    pub(super) fn install() -> Self {
        Self {
            seen: 0,
            #[cfg(unix)]
            installed: unix::install(),
        }
    }

    /// Whether a Ctrl-C came since the last call.
    pub(super) fn next(&mut self) -> bool {
        #[cfg(unix)]
        let count = unix::interrupts();
        #[cfg(not(unix))]
        let count = 0;
        let is_new = count > self.seen;
        self.seen = count;
        is_new
    }
}

impl Drop for CancelOnInterrupt {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(installed) = self.installed.take() {
            unix::uninstall(installed);
        }
    }
}

#[cfg(unix)]
#[allow(unsafe_code)]
mod unix {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use crate::cli::EXIT_CANCELLED;

    /// SIGINTs since the handler was installed.
    static INTERRUPTS: AtomicUsize = AtomicUsize::new(0);

    const AGAIN: &[u8] = b"\nerror: interrupted again; exiting without waiting for the run\n";

    /// What [`install`] replaced.
    pub(super) struct Installed {
        previous: libc::sigaction,
    }

    pub(super) fn interrupts() -> usize {
        INTERRUPTS.load(Ordering::SeqCst)
    }

    /// The SIGINT handler: only async-signal-safe calls (an atomic
    /// increment, `write`, `_exit`).
    extern "C" fn on_interrupt(_signal: libc::c_int) {
        if INTERRUPTS.fetch_add(1, Ordering::SeqCst) >= 1 {
            // SAFETY: `write` and `_exit` are async-signal-safe; AGAIN is a
            // static buffer of the length given.
            unsafe {
                libc::write(libc::STDERR_FILENO, AGAIN.as_ptr().cast(), AGAIN.len());
                libc::_exit(i32::from(EXIT_CANCELLED));
            }
        }
    }

    /// Installs the handler, unless SIGINT is ignored (then Ctrl-C does
    /// what it did before).
    pub(super) fn install() -> Option<Installed> {
        // SAFETY: a zeroed `sigaction` is a valid value to be filled in.
        let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: a null new action only reads the current one.
        if unsafe { libc::sigaction(libc::SIGINT, std::ptr::null(), &mut current) } != 0
            || current.sa_sigaction == libc::SIG_IGN
        {
            return None;
        }
        INTERRUPTS.store(0, Ordering::SeqCst);
        // SAFETY: as above; the handler is an `extern "C" fn(c_int)` that
        // makes async-signal-safe calls only.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = on_interrupt as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        // SAFETY: `sa_mask` is a field of `action`.
        unsafe { libc::sigemptyset(&mut action.sa_mask) };
        // SAFETY: installs a handler; `previous` gets the one it replaces.
        let mut previous: libc::sigaction = unsafe { std::mem::zeroed() };
        if unsafe { libc::sigaction(libc::SIGINT, &action, &mut previous) } != 0 {
            return None;
        }
        Some(Installed { previous })
    }

    /// Puts the previous handler back.
    pub(super) fn uninstall(installed: Installed) {
        // SAFETY: `previous` is the action `install` read from the kernel.
        unsafe {
            libc::sigaction(libc::SIGINT, &installed.previous, std::ptr::null_mut());
        }
    }
}
