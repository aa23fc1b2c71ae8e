//! Ctrl-C while `algohost run` runs: the first cancels the run through its
//! [`CancelToken`], so that a plugin stops at its next check and the run
//! ends `cancelled` (exit code 130); the second exits at once, also 130.
//!
//! For the length of the run this handler replaces the process's SIGINT
//! handler instead of chaining to it: the one an embedded (or hosting)
//! Python installs would raise `KeyboardInterrupt` inside a Python plugin,
//! or after the command, rather than cancel. The previous handler is put
//! back when the run ends. A SIGINT the process ignores (a background job
//! of a non-interactive shell, `nohup`) stays ignored.

use crate::runner::CancelToken;

/// Cancels a run on Ctrl-C until dropped.
pub(super) struct CancelOnInterrupt {
    #[cfg(unix)]
    installed: Option<unix::Installed>,
}

impl CancelOnInterrupt {
    /// Installs the handler: the first Ctrl-C cancels `token` and calls
    /// `on_cancel` (to say so), the second exits with 130.
    pub(super) fn install(token: CancelToken, on_cancel: Box<dyn Fn() + Send>) -> Self {
        #[cfg(unix)]
        {
            Self {
                installed: unix::install(token, on_cancel),
            }
        }
        #[cfg(not(unix))]
        {
            let _ = (token, on_cancel);
            Self {}
        }
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
    use std::fs::File;
    use std::io::{ErrorKind, Read as _};
    use std::os::fd::{FromRawFd as _, RawFd};
    use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
    use std::sync::{Mutex, MutexGuard, OnceLock};

    use super::CancelToken;
    use crate::cli::EXIT_CANCELLED;

    /// SIGINTs since the handler was installed.
    static INTERRUPTS: AtomicUsize = AtomicUsize::new(0);
    /// The write end of the pipe that wakes the watcher thread.
    static WAKE: AtomicI32 = AtomicI32::new(-1);
    /// The token to cancel on the first SIGINT, and what to say then.
    type OnCancel = (CancelToken, Box<dyn Fn() + Send>);

    /// What the watcher thread does on the first SIGINT.
    static ON_CANCEL: Mutex<Option<OnCancel>> = Mutex::new(None);
    /// The watcher thread, started once: `Err` if it could not be.
    static WATCHER: OnceLock<Result<(), String>> = OnceLock::new();

    const AGAIN: &[u8] = b"\nerror: interrupted again; exiting without waiting for the run\n";

    /// What [`install`] replaced.
    pub(super) struct Installed {
        previous: libc::sigaction,
    }

    fn on_cancel() -> MutexGuard<'static, Option<OnCancel>> {
        ON_CANCEL.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The SIGINT handler: only async-signal-safe calls (an atomic
    /// increment, `write`, `_exit`).
    extern "C" fn on_interrupt(_signal: libc::c_int) {
        let errno = std::io::Error::last_os_error().raw_os_error();
        if INTERRUPTS.fetch_add(1, Ordering::SeqCst) >= 1 {
            // SAFETY: `write` and `_exit` are async-signal-safe; AGAIN is a
            // static buffer of the length given.
            unsafe {
                libc::write(libc::STDERR_FILENO, AGAIN.as_ptr().cast(), AGAIN.len());
                libc::_exit(i32::from(EXIT_CANCELLED));
            }
        }
        let fd = WAKE.load(Ordering::SeqCst);
        if fd >= 0 {
            // SAFETY: `write` is async-signal-safe; the pipe is never closed.
            unsafe {
                libc::write(fd, [1u8].as_ptr().cast(), 1);
            }
        }
        restore_errno(errno);
    }

    /// Puts back the errno the interrupted code saw.
    fn restore_errno(errno: Option<i32>) {
        let Some(errno) = errno else { return };
        #[cfg(any(target_os = "linux", target_os = "android"))]
        // SAFETY: `__errno_location` gives this thread's errno.
        unsafe {
            *libc::__errno_location() = errno;
        }
        #[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd"))]
        // SAFETY: `__error` gives this thread's errno.
        unsafe {
            *libc::__error() = errno;
        }
        #[cfg(not(any(
            target_os = "linux",
            target_os = "android",
            target_os = "macos",
            target_os = "ios",
            target_os = "freebsd"
        )))]
        let _ = errno;
    }

    /// Starts the watcher thread and its pipe, once per process: it reads
    /// the handler's wake-ups and cancels the run outside the handler.
    fn start_watcher() -> Result<(), String> {
        let mut fds: [RawFd; 2] = [-1; 2];
        // SAFETY: `fds` has room for the two descriptors `pipe` writes.
        if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
            return Err(std::io::Error::last_os_error().to_string());
        }
        for fd in fds {
            // SAFETY: `fd` is a descriptor `pipe` just opened.
            unsafe {
                libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
            }
        }
        // SAFETY: the read end is ours alone from here on.
        let mut wake_ups = unsafe { File::from_raw_fd(fds[0]) };
        std::thread::Builder::new()
            .name("algohost-ctrl-c".to_owned())
            .spawn(move || {
                let mut byte = [0u8; 1];
                loop {
                    match wake_ups.read(&mut byte) {
                        Ok(0) => return,
                        Ok(_) => {
                            // A wake-up left over from an earlier run that
                            // ended before it was read counts for nothing.
                            if INTERRUPTS.load(Ordering::SeqCst) == 0 {
                                continue;
                            }
                            if let Some((token, say)) = on_cancel().as_ref() {
                                token.cancel();
                                say();
                            }
                        }
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(_) => return,
                    }
                }
            })
            .map_err(|e| e.to_string())?;
        // The write end stays open for the life of the process, so that the
        // handler never writes to a closed (or reused) descriptor.
        WAKE.store(fds[1], Ordering::SeqCst);
        Ok(())
    }

    /// Installs the handler, unless SIGINT is ignored or the watcher cannot
    /// start (then Ctrl-C does what it did before).
    pub(super) fn install(token: CancelToken, say: Box<dyn Fn() + Send>) -> Option<Installed> {
        // SAFETY: a zeroed `sigaction` is a valid value to be filled in.
        let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: a null new action only reads the current one.
        if unsafe { libc::sigaction(libc::SIGINT, std::ptr::null(), &mut current) } != 0
            || current.sa_sigaction == libc::SIG_IGN
        {
            return None;
        }
        if let Err(e) = WATCHER.get_or_init(start_watcher) {
            tracing::warn!("Ctrl-C will not cancel the run: {e}");
            return None;
        }
        *on_cancel() = Some((token, say));
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
            *on_cancel() = None;
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
        *on_cancel() = None;
    }
}
