//! The one thread that writes the service's runs to the store.
//!
//! Whatever changes a run (it starts, reports progress, logs, ends) marks it
//! for the persister with an [`Urgency`]; the persister wakes when the most
//! urgent mark is due and writes every marked run in one batch: one store
//! transaction for all of them, each run's write built from its live state
//! at that moment (see `RunState::prepare`). So a run that starts and ends
//! between two batches costs one insert of its final record, and under load
//! many runs share a commit instead of queueing for the store one commit
//! each, while the workers never wait for the store between runs.
//!
//! Each batch has a number; a mark returns the [`Ticket`] of the batch that
//! will write it, and whoever must know the write is committed (a run's end
//! before it is published, the start of a run that recovery would queue
//! again) waits for that batch. The end of a run is published (its waiters
//! and event streams told) by the persister, once committed.

use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::shared::{self, Shared, relock, wait_until};
use super::state::{self, RunState};
use crate::store::Store;

/// How soon progress and log records of a running run reach the store.
pub(super) const FLUSH_INTERVAL: Duration = Duration::from_millis(250);

/// How soon the start of a run that is not in the store yet is written:
/// its plugin runs meanwhile (see `Start::Deferred`).
pub(super) const START_LINGER: Duration = Duration::from_millis(1);

/// How soon a write the store could not take is first tried again.
const RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// The longest between two tries of a write the store could not take.
const MAX_RETRY_INTERVAL: Duration = Duration::from_secs(30);

/// How often a closed persister checks whether anyone can still mark a run.
const CLOSED_POLL: Duration = Duration::from_millis(50);

/// How soon a mark must be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Urgency {
    /// At once: someone waits for it (an end, a run about to be handed
    /// out, a start that must precede the plugin).
    Now,
    /// Within [`START_LINGER`]: the start of a run not stored yet.
    Start,
    /// Within [`FLUSH_INTERVAL`]: progress and log records.
    Later,
    /// A write the store could not take for now (it cannot be written),
    /// tried again until it can: the nth try within [`RETRY_INTERVAL`]
    /// doubled n - 1 times, at most [`MAX_RETRY_INTERVAL`] (a large write
    /// retried costs as much each time).
    Retry(u32),
}

impl Urgency {
    fn delay(self) -> Duration {
        match self {
            Self::Now => Duration::ZERO,
            Self::Start => START_LINGER,
            Self::Later => FLUSH_INTERVAL,
            Self::Retry(tries) => RETRY_INTERVAL
                .saturating_mul(1 << tries.saturating_sub(1).min(8))
                .min(MAX_RETRY_INTERVAL),
        }
    }
}

/// The batch that writes a mark: wait for it with [`Persister::wait`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Ticket(u64);

/// A mark made by [`Persister::mark`], for [`Persister::wake_for`].
#[must_use = "a mark must be handed to `Persister::wake_for`"]
pub(super) struct Mark {
    ticket: Ticket,
    /// The persister sleeps past the mark's due time.
    must_wake: bool,
}

impl Mark {
    /// A mark that needs no wake-up.
    fn quiet(ticket: Ticket) -> Self {
        Self {
            ticket,
            must_wake: false,
        }
    }
}

/// The last batch committed, and how many threads wait for one.
#[derive(Default)]
struct Committed {
    batch: u64,
    waiting_threads: usize,
}

struct Pending {
    /// Runs marked since the last batch was taken.
    runs: Vec<Arc<RunState>>,
    /// When the next batch is due; `None` when nothing is marked.
    due: Option<Instant>,
    /// The number of the next batch.
    next: u64,
    /// While the persister sleeps: until when (`None`: until woken).
    sleeping: Option<Option<Instant>>,
    is_closed: bool,
}

/// The persister's queue of marked runs and its committed batches.
pub(super) struct Persister {
    store: Arc<dyn Store>,
    /// For counting ended runs; set once the service is built.
    shared: OnceLock<Weak<Shared>>,
    pending: Mutex<Pending>,
    wake: Condvar,
    /// The last batch committed (or failed, and reported).
    committed: Mutex<Committed>,
    /// Wakes threads waiting for a batch (only when some do: a notice
    /// costs a system call).
    is_committed: Condvar,
    /// The same, for async waiters.
    is_committed_async: Notify,
}

impl Persister {
    /// Starts the persister's thread.
    pub fn start(store: Arc<dyn Store>) -> std::io::Result<Arc<Self>> {
        let persister = Arc::new(Self {
            store,
            shared: OnceLock::new(),
            pending: Mutex::new(Pending {
                runs: Vec::new(),
                due: None,
                next: 1,
                sleeping: None,
                is_closed: false,
            }),
            wake: Condvar::new(),
            committed: Mutex::default(),
            is_committed: Condvar::new(),
            is_committed_async: Notify::new(),
        });
        let this = persister.clone();
        std::thread::Builder::new()
            .name("algohost-persister".to_owned())
            .spawn(move || this.run())?;
        Ok(persister)
    }

    /// Tells the persister the service it counts ended runs for.
    pub fn serve(&self, shared: Weak<Shared>) {
        let _ = self.shared.set(shared);
    }

    /// Marks `state` to be written with the urgency given; `marked_for` is
    /// the run's note of the batch it is marked for (the caller holds the
    /// run's lock, so the batch builds the run's write after this change).
    /// The caller releases that lock, then hands the mark to
    /// [`Persister::wake_for`]: woken under it, the persister would only
    /// wait for the lock to read the run.
    pub fn mark(
        &self,
        state: &Arc<RunState>,
        marked_for: &mut Option<u64>,
        urgency: Urgency,
    ) -> Mark {
        let mut pending = relock(&self.pending);
        if pending.is_closed && matches!(urgency, Urgency::Retry(_)) && marked_for.is_none() {
            // The last try, at close, failed too (the service's shutdown
            // says which ends are lost).
            return Mark::quiet(Ticket(pending.next - 1));
        }
        let batch = match *marked_for {
            // Taken by a batch that has not read the run yet: it writes
            // this change too.
            Some(batch) if batch < pending.next => return Mark::quiet(Ticket(batch)),
            Some(batch) => batch,
            None => {
                pending.runs.push(state.clone());
                *marked_for = Some(pending.next);
                pending.next
            }
        };
        let due = Instant::now() + urgency.delay();
        let mut must_wake = false;
        if pending.due.is_none_or(|d| due < d) {
            pending.due = Some(due);
            must_wake = pending
                .sleeping
                .is_some_and(|until| until.is_none_or(|u| due < u));
        }
        Mark {
            ticket: Ticket(batch),
            must_wake,
        }
    }

    /// Wakes the persister if `mark` needs it sooner than it would wake;
    /// the mark's ticket.
    pub fn wake_for(&self, mark: Mark) -> Ticket {
        if mark.must_wake {
            self.wake.notify_one();
        }
        mark.ticket
    }

    /// The ticket of everything marked so far, due at once.
    pub fn sync(&self) -> Ticket {
        let mut pending = relock(&self.pending);
        if pending.runs.is_empty() {
            // The last batch taken, committed or on its way.
            return Ticket(pending.next - 1);
        }
        pending.due = Some(Instant::now());
        let ticket = Ticket(pending.next);
        let is_asleep = pending.sleeping.is_some();
        drop(pending);
        if is_asleep {
            self.wake.notify_one();
        }
        ticket
    }

    /// Blocks until the batch of `ticket` is committed.
    pub fn wait(&self, ticket: Ticket) {
        let mut committed = relock(&self.committed);
        committed.waiting_threads += 1;
        while committed.batch < ticket.0 {
            committed = self
                .is_committed
                .wait(committed)
                .unwrap_or_else(|e| e.into_inner());
        }
        committed.waiting_threads -= 1;
    }

    /// Waits until the batch of `ticket` is committed.
    pub async fn wait_async(&self, ticket: Ticket) {
        wait_until(&self.is_committed_async, || {
            (relock(&self.committed).batch >= ticket.0).then_some(())
        })
        .await;
    }

    /// Writes what is marked, then stops once nobody can mark a run any
    /// more (the service and every run state are gone).
    pub fn close(&self) {
        let mut pending = relock(&self.pending);
        pending.is_closed = true;
        if !pending.runs.is_empty() {
            pending.due = Some(Instant::now());
        }
        drop(pending);
        self.wake.notify_one();
    }

    /// The persister's thread: a batch whenever one is due.
    fn run(self: Arc<Self>) {
        shared::yield_to_woken_threads("the persister");
        loop {
            let Some((runs, number)) = self.next_batch() else {
                return;
            };
            self.persist(runs);
            let mut committed = relock(&self.committed);
            committed.batch = number;
            let has_waiting_threads = committed.waiting_threads > 0;
            drop(committed);
            if has_waiting_threads {
                self.is_committed.notify_all();
            }
            self.is_committed_async.notify_waiters();
        }
    }

    /// Sleeps until a batch is due and takes it; `None` when closed and
    /// this thread holds the last reference.
    fn next_batch(self: &Arc<Self>) -> Option<(Vec<Arc<RunState>>, u64)> {
        let mut pending = relock(&self.pending);
        loop {
            let now = Instant::now();
            let due = pending.due;
            if due.is_some_and(|d| d <= now) {
                break;
            }
            let mut until = due;
            if pending.is_closed {
                if pending.runs.is_empty() && Arc::strong_count(self) == 1 {
                    return None;
                }
                let poll = now + CLOSED_POLL;
                until = Some(until.map_or(poll, |u| u.min(poll)));
            }
            pending.sleeping = Some(until);
            pending = match until {
                Some(until) => {
                    let wait = until.saturating_duration_since(now);
                    self.wake
                        .wait_timeout(pending, wait)
                        .map_or_else(|e| e.into_inner().0, |(guard, _)| guard)
                }
                None => self.wake.wait(pending).unwrap_or_else(|e| e.into_inner()),
            };
            pending.sleeping = None;
        }
        let number = pending.next;
        pending.next += 1;
        pending.due = None;
        Some((std::mem::take(&mut pending.runs), number))
    }

    /// Writes one batch and publishes the ends it committed.
    fn persist(&self, runs: Vec<Arc<RunState>>) {
        let writes = runs.iter().filter_map(|state| state.prepare()).collect();
        let ends = state::commit_all(&*self.store, writes);
        let shared = self.shared.get().and_then(Weak::upgrade);
        for end in ends {
            // A kept end (the store could not take it) stays live.
            if let Some(shared) = &shared
                && end.is_stored()
            {
                shared.retire(end.state());
            }
            end.publish();
        }
    }
}
