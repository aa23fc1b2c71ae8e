//! Interpreter exit with runs still going. A run given up at its timeout
//! (or awaited by a cancelled task) goes on in its plugin on a thread of
//! ours; if that thread touches Python once the interpreter finalizes,
//! CPython ends it with `pthread_exit`, whose unwinding through our frames
//! aborts the process (`Fatal Python error: PyGILState_Release`). So
//! `atexit` calls [`shutdown`], which cancels those runs, interrupts their
//! plugins with `algohost.Cancelled` and waits for every thread of ours to
//! leave Python; from then on no thread of ours enters Python again.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use pyo3::prelude::*;

use crate::runner::CancelToken;

/// What [`shutdown`] waits for.
#[derive(Default)]
struct Pending {
    /// Set by [`shutdown`]: no thread of ours enters Python any more.
    is_exiting: bool,
    /// Runs started from Python still executing on runner threads.
    runs: Vec<(u64, CancelToken)>,
    /// Threads of ours inside Python, by their Python thread id.
    in_python: Vec<(u64, std::ffi::c_ulong)>,
}

static PENDING: Mutex<Pending> = Mutex::new(Pending {
    is_exiting: false,
    runs: Vec::new(),
    in_python: Vec::new(),
});
static CHANGED: Condvar = Condvar::new();
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

fn pending() -> MutexGuard<'static, Pending> {
    PENDING.lock().unwrap_or_else(|e| e.into_inner())
}

/// Membership of the runs [`shutdown`] cancels and waits for, for as long as
/// the run's thread runs it.
pub struct LiveRun(u64);

impl LiveRun {
    pub fn enter(cancel: CancelToken) -> Self {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        pending().runs.push((id, cancel));
        Self(id)
    }
}

impl Drop for LiveRun {
    fn drop(&mut self) {
        pending().runs.retain(|(id, _)| *id != self.0);
        CHANGED.notify_all();
    }
}

/// Leave to enter Python on a thread of ours (a plugin's run, a log record),
/// held until the thread has left Python again. None once the interpreter
/// exits: the caller must not attach then.
pub struct InPython(u64);

impl InPython {
    pub fn enter() -> Option<Self> {
        let mut pending = pending();
        if pending.is_exiting {
            return None;
        }
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        pending.in_python.push((id, python_thread_id()));
        Some(Self(id))
    }
}

impl Drop for InPython {
    fn drop(&mut self) {
        pending().in_python.retain(|(id, _)| *id != self.0);
        CHANGED.notify_all();
    }
}

#[allow(unsafe_code)]
fn python_thread_id() -> std::ffi::c_ulong {
    unsafe extern "C" {
        // Part of CPython's stable ABI; `threading.get_ident()` on the same thread.
        fn PyThread_get_thread_ident() -> std::ffi::c_ulong;
    }
    // SAFETY: takes no arguments and reads only the calling thread's id; it
    // needs no GIL and no initialised interpreter.
    unsafe { PyThread_get_thread_ident() }
}

/// How long [`shutdown`] waits before it says that it waits.
const QUIET: Duration = Duration::from_millis(500);

/// At interpreter exit (registered with `atexit`): cancels the runs still
/// executing, raises `algohost.Cancelled` in the plugins still running on
/// other threads, and waits up to `grace` seconds for all of them to leave
/// Python, saying so on stderr when they do not stop within half a second.
/// A plugin that holds on past that (in a long call into C, say) would
/// crash the finalizing interpreter, so the process then ends at once, with
/// exit code 1 and a message on stderr.
#[pyfunction(name = "_shutdown")]
#[pyo3(signature = (grace = 10.0))]
pub fn shutdown(py: Python<'_>, grace: f64) -> PyResult<()> {
    let deadline = Instant::now() + Duration::try_from_secs_f64(grace).unwrap_or_default();
    let here = python_thread_id();
    let cancelled = super::errors::exceptions(py).cancelled.bind(py).clone();
    {
        let mut pending = pending();
        pending.is_exiting = true;
        for (_, cancel) in &pending.runs {
            cancel.cancel();
        }
        let mut threads: Vec<_> = pending.in_python.iter().map(|(_, t)| *t).collect();
        threads.sort_unstable();
        threads.dedup();
        for thread in threads.into_iter().filter(|t| *t != here) {
            interrupt(thread, &cancelled);
        }
    }
    let elsewhere =
        |pending: &Pending| pending.in_python.iter().filter(|(_, t)| *t != here).count();
    // Waits until every run and thread has left, or `until`; what is left.
    let wait = |until: Instant| {
        py.detach(|| {
            let mut pending = pending();
            loop {
                let now = Instant::now();
                let left = (pending.runs.len(), elsewhere(&pending));
                if left == (0, 0) || now >= until {
                    return left;
                }
                pending = CHANGED
                    .wait_timeout(pending, until - now)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        })
    };
    // A plugin that checks stops at once: say nothing about it.
    let quiet =
        Instant::now() + QUIET.min(Duration::try_from_secs_f64(grace / 2.0).unwrap_or_default());
    let (runs, threads) = wait(quiet.min(deadline));
    if (runs, threads) == (0, 0) {
        return Ok(());
    }
    let sys = py.import("sys")?;
    let stderr = sys.getattr("stderr")?;
    stderr.call_method1(
        "write",
        (format!(
            "algohost: waiting up to {grace}s for {} run(s) still in their plugin (given up \
             at their timeout or cancelled, and not checking ctx.is_cancelled()) to stop \
             before Python exits: finalizing under a Python plugin would crash it, so one \
             still running then ends the process with exit code 1\n",
            runs.max(threads)
        ),),
    )?;
    let _ = stderr.call_method0("flush");
    let stuck = wait(deadline).1;
    if stuck == 0 {
        return Ok(());
    }
    stderr.call_method1(
        "write",
        (format!(
            "algohost: {stuck} Python plugin(s) of runs given up at their timeout or \
             cancelled still run {grace}s after the program ended (they do not check \
             ctx.is_cancelled()); exiting now with code 1 without finalizing Python, \
             which would crash under them\n"
        ),),
    )?;
    for stream in ["stdout", "stderr"] {
        let _ = sys.getattr(stream).and_then(|s| s.call_method0("flush"));
    }
    py.import("os")?.call_method1("_exit", (1,))?;
    Ok(())
}

/// Raises `exception` in the Python thread `thread` at its next bytecode.
#[allow(unsafe_code)]
fn interrupt(thread: std::ffi::c_ulong, exception: &Bound<'_, pyo3::types::PyType>) {
    // SAFETY: the GIL is held (`exception` is bound to it), and the call
    // borrows `exception` (it takes its own reference); an id with no thread
    // is ignored.
    unsafe {
        pyo3::ffi::PyThreadState_SetAsyncExc(thread as std::ffi::c_long, exception.as_ptr());
    }
}
