//! Which Rust runs execute on the thread that submitted them.
//!
//! A run whose submitter waits for it (`Prefer: wait`) is handed to a
//! worker thread, and its end back; for an algorithm that computes in a few
//! microseconds those two hand-offs (waking a parked thread each) cost more
//! than the run. So a waited-for run of an algorithm whose recent runs were
//! all quick executes right where it was submitted, in the worker slot it
//! would have taken (the lane's concurrency limit holds), and its end is
//! stored and published as any other's.
//!
//! The submitting thread is one of tokio's, which must not block for long:
//! - only a run without a timeout (its plugin would run on a thread of its
//!   own anyway, see `runner::invoke`) of an algorithm whose last
//!   [`Streak::needed`] runs each took at most [`QUICK`] runs inline
//!   (Python runs never do);
//! - a run that takes longer sends its algorithm back to the workers until
//!   it has been quick that many times in a row again; an inline run that
//!   takes [`SLOW`] or longer also doubles that number (up to
//!   [`MOST_NEEDED`]), so an algorithm that is slow now and then rarely
//!   blocks a thread. A run that took a little longer than [`QUICK`] was
//!   more likely preempted than slow, which must not cost its algorithm
//!   more than a few runs on the workers;
//! - a run that panics inline sends its algorithm to the workers for good:
//!   plugin code runs there inside the server's tokio runtime, where
//!   starting or blocking on a runtime of its own (as `reqwest`'s blocking
//!   client does) panics; such a run starts again on a worker (see
//!   `worker::run`), its log saying why;
//! - at most one runtime thread less than the runtime has runs a run at
//!   once, so another always serves requests (`/health` among them); a
//!   runtime with one thread runs none inline.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::shared::relock;

/// The longest a run may take (on the wall clock: a thread that waits
/// blocks as much as one that computes) and still count as quick. Well
/// above what a run that computes in microseconds takes when its thread
/// is preempted on a busy machine, which must not send it to the workers.
pub(super) const QUICK: Duration = Duration::from_millis(1);

/// An inline run that took this long was slow, not preempted: its
/// algorithm needs twice as many quick runs before it runs inline again.
pub(super) const SLOW: Duration = Duration::from_millis(20);

/// Quick runs in a row an algorithm needs before its runs go inline.
const FIRST_NEEDED: u32 = 16;

/// The most quick runs in a row an algorithm ever needs: one run in about
/// a thousand of an algorithm that is sometimes slow may block a thread.
const MOST_NEEDED: u32 = 1 << 10;

/// An algorithm's recent runs.
#[derive(Debug, Clone, Copy)]
struct Streak {
    /// Quick runs in a row, up to now.
    quick: u32,
    /// Quick runs in a row it needs to run inline.
    needed: u32,
    /// A run of it panicked inline: it never runs inline again.
    is_excluded: bool,
}

impl Default for Streak {
    fn default() -> Self {
        Self {
            quick: 0,
            needed: FIRST_NEEDED,
            is_excluded: false,
        }
    }
}

/// The streaks of the algorithms, and the runs executing inline now.
#[derive(Debug, Default)]
pub(super) struct Quick {
    streaks: Mutex<HashMap<String, Streak>>,
    inline: AtomicUsize,
}

/// A run's place among the inline runs; given back when dropped.
#[derive(Debug)]
pub(super) struct Inline<'a>(&'a AtomicUsize);

impl Drop for Inline<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Quick {
    /// A place for a run of `algorithm` to execute on this thread, if it
    /// may: its algorithm has been quick, and the tokio runtime this is
    /// called on keeps a thread free.
    pub fn inline(&self, algorithm: &str) -> Option<Inline<'_>> {
        let threads = tokio::runtime::Handle::try_current()
            .ok()?
            .metrics()
            .num_workers();
        let most = threads.checked_sub(1).filter(|n| *n > 0)?;
        let streak = relock(&self.streaks).get(algorithm).copied()?;
        if streak.is_excluded || streak.quick < streak.needed {
            return None;
        }
        self.inline
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < most).then_some(n + 1)
            })
            .ok()
            .map(|_| Inline(&self.inline))
    }

    /// Never runs `algorithm` inline again: one of its runs panicked there
    /// (a plugin that starts a tokio runtime of its own, or blocks on one,
    /// panics on a runtime's thread, and works on a worker).
    pub fn exclude(&self, algorithm: &str) {
        let mut streaks = relock(&self.streaks);
        let streak = streaks.entry(algorithm.to_owned()).or_default();
        streak.is_excluded = true;
        tracing::debug!(
            algorithm,
            "a run panicked inline; its algorithm runs on the workers"
        );
    }

    /// Notes how long a run of `algorithm` took, and whether it ran inline.
    pub fn note(&self, algorithm: &str, took: Duration, was_inline: bool) {
        let mut streaks = relock(&self.streaks);
        let streak = match streaks.get_mut(algorithm) {
            Some(streak) => streak,
            None => streaks.entry(algorithm.to_owned()).or_default(),
        };
        if took <= QUICK {
            streak.quick = streak.quick.saturating_add(1);
            return;
        }
        streak.quick = 0;
        if was_inline && took >= SLOW {
            streak.needed = streak.needed.saturating_mul(2).min(MOST_NEEDED);
            tracing::debug!(
                algorithm,
                took_us = took.as_micros() as u64,
                needs = streak.needed,
                "a run expected to be quick was not; its algorithm runs on the workers again"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A_LITTLE_LONGER: Duration = Duration::from_millis(2);

    fn note_quick(quick: &Quick, algorithm: &str, times: u32) {
        for _ in 0..times {
            quick.note(algorithm, Duration::from_micros(3), false);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_algorithm_runs_inline_after_enough_quick_runs_and_not_after_a_slow_one() {
        let quick = Quick::default();
        assert!(quick.inline("add").is_none(), "never ran");
        note_quick(&quick, "add", FIRST_NEEDED - 1);
        assert!(quick.inline("add").is_none());
        note_quick(&quick, "add", 1);
        assert!(quick.inline("add").is_some());
        assert!(quick.inline("other").is_none());

        // A little longer than quick, inline or not: back to the workers
        // until it was quick as often as before.
        quick.note("add", A_LITTLE_LONGER, true);
        note_quick(&quick, "add", FIRST_NEEDED - 1);
        assert!(quick.inline("add").is_none());
        note_quick(&quick, "add", 1);
        assert!(quick.inline("add").is_some());
        quick.note("add", SLOW, false);
        note_quick(&quick, "add", FIRST_NEEDED);
        assert!(quick.inline("add").is_some());

        // Slow inline: back to the workers, and twice as many quick runs
        // needed before it runs inline again.
        quick.note("add", SLOW, true);
        note_quick(&quick, "add", FIRST_NEEDED);
        assert!(quick.inline("add").is_none());
        note_quick(&quick, "add", FIRST_NEEDED);
        assert!(quick.inline("add").is_some());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 3)]
    async fn one_runtime_thread_is_always_left_free() {
        let quick = Quick::default();
        note_quick(&quick, "add", FIRST_NEEDED);
        let first = quick.inline("add").expect("a place");
        let second = quick.inline("add").expect("a second place");
        assert!(quick.inline("add").is_none(), "the third thread stays free");
        drop(first);
        assert!(quick.inline("add").is_some());
        drop(second);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_runtime_with_one_thread_runs_nothing_inline() {
        let quick = Quick::default();
        note_quick(&quick, "add", FIRST_NEEDED);
        assert!(quick.inline("add").is_none());
    }

    #[test]
    fn outside_a_runtime_nothing_runs_inline() {
        let quick = Quick::default();
        note_quick(&quick, "add", FIRST_NEEDED);
        assert!(quick.inline("add").is_none());
    }
}
