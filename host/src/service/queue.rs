//! The bounded run queues the workers take runs from, one per [`Lane`]. Admission counts every
//! run the service holds (waiting, running, or being admitted), so with
//! concurrency `c` and capacity `q` exactly `c + q` runs are accepted at
//! once, however fast the workers pick them up.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use tokio::sync::watch;
use uuid::Uuid;

use super::state::RunState;
use crate::registry::Source;

/// Why a run was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refused {
    /// Every worker and queue slot is taken.
    Full {
        /// Runs waiting.
        waiting: usize,
    },
    /// The queue was closed (shutdown).
    Closed,
}

struct Slots {
    waiting: VecDeque<Arc<RunState>>,
    running: usize,
    admitting: usize,
    /// Workers blocked in [`Queue::next`] (only they need waking).
    idle_workers: usize,
    is_closed: bool,
}

/// Waiting runs, the count of running ones, and the admission limit.
pub(super) struct Queue {
    slots: Mutex<Slots>,
    ready: Condvar,
    /// Runs executing at once, at most.
    concurrency: usize,
    limit: usize,
    /// Runs executing, published once the queue is closed, for `shutdown`
    /// to wait for the workers.
    running: watch::Sender<usize>,
}

impl Queue {
    /// A queue for `concurrency` workers and `capacity` waiting runs.
    pub fn new(concurrency: usize, capacity: usize) -> Self {
        Self {
            slots: Mutex::new(Slots {
                waiting: VecDeque::new(),
                running: 0,
                admitting: 0,
                idle_workers: 0,
                is_closed: false,
            }),
            ready: Condvar::new(),
            concurrency,
            limit: concurrency + capacity,
            running: watch::channel(0).0,
        }
    }

    fn slots(&self) -> MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reserves a place for a run about to be queued; release it with
    /// [`Queue::push`] or [`Queue::unreserve`].
    pub fn reserve(&self) -> Result<(), Refused> {
        let mut slots = self.slots();
        if slots.is_closed {
            return Err(Refused::Closed);
        }
        if slots.waiting.len() + slots.running + slots.admitting >= self.limit {
            return Err(Refused::Full {
                waiting: slots.waiting.len(),
            });
        }
        slots.admitting += 1;
        Ok(())
    }

    /// Gives back a reservation that queued nothing.
    pub fn unreserve(&self) {
        let mut slots = self.slots();
        slots.admitting = slots.admitting.saturating_sub(1);
    }

    /// Queues a run on its reservation (`reserved`), or beyond the limit
    /// (recovered runs).
    pub fn push(&self, run: Arc<RunState>, reserved: bool) {
        let mut slots = self.slots();
        if reserved {
            slots.admitting = slots.admitting.saturating_sub(1);
        }
        slots.waiting.push_back(run);
        let is_a_worker_idle = slots.idle_workers > 0;
        drop(slots);
        if is_a_worker_idle {
            self.ready.notify_one();
        }
    }

    /// Starts a run on its reservation without queueing it, for the caller
    /// to execute itself (see `quick`): only when a worker would take it at
    /// once, no run waiting before it. Counted as running; end it with
    /// [`Queue::done`].
    pub fn start_reserved(&self) -> bool {
        let mut slots = self.slots();
        let is_free = slots.waiting.is_empty() && slots.running < self.concurrency;
        if is_free {
            slots.admitting = slots.admitting.saturating_sub(1);
            slots.running += 1;
        }
        is_free
    }

    /// Takes a waiting run out of the queue (cancel); false when it is not
    /// waiting.
    pub fn remove(&self, id: Uuid) -> bool {
        let mut slots = self.slots();
        let before = slots.waiting.len();
        slots.waiting.retain(|r| r.id != id);
        before != slots.waiting.len()
    }

    /// The next run for a worker, counted as running; blocks until there is
    /// one, and gives `None` once the queue is closed.
    pub fn next(&self) -> Option<Arc<RunState>> {
        let mut slots = self.slots();
        loop {
            if slots.is_closed {
                return None;
            }
            if let Some(run) = self.take(&mut slots) {
                return Some(run);
            }
            slots.idle_workers += 1;
            slots = self.ready.wait(slots).unwrap_or_else(|e| e.into_inner());
            slots.idle_workers -= 1;
        }
    }

    fn take(&self, slots: &mut Slots) -> Option<Arc<RunState>> {
        let run = slots.waiting.pop_front()?;
        slots.running += 1;
        Some(run)
    }

    /// A worker is done with a run.
    pub fn done(&self) {
        let mut slots = self.slots();
        slots.running = slots.running.saturating_sub(1);
        if slots.is_closed {
            self.running.send_replace(slots.running);
        }
    }

    /// Refuses new runs and wakes idle workers so they exit; waiting runs
    /// stay (they are queued in the store).
    pub fn close(&self) {
        let mut slots = self.slots();
        slots.is_closed = true;
        self.running.send_replace(slots.running);
        drop(slots);
        self.ready.notify_all();
    }

    /// Whether [`Queue::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.slots().is_closed
    }

    /// Runs waiting and running.
    pub fn depth(&self) -> (usize, usize) {
        let slots = self.slots();
        (slots.waiting.len(), slots.running)
    }

    /// Follows the number of running runs once the queue is closed.
    fn watch_running(&self) -> watch::Receiver<usize> {
        self.running.subscribe()
    }
}

/// Which workers execute a run. Python runs have workers of their own, so
/// that Python plugins (waiting for the GIL, or holding it) never hold up
/// Rust runs, nor fill the queue Rust runs wait in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lane {
    /// Builtin and dylib (Rust) algorithms.
    Native,
    /// Python algorithms.
    Python,
}

impl Lane {
    /// The lane of an algorithm from `source`.
    pub fn of(source: &Source) -> Lane {
        match source {
            Source::Python { .. } => Lane::Python,
            _ => Lane::Native,
        }
    }
}

/// The queue of each lane.
pub(super) struct Lanes {
    native: Queue,
    python: Queue,
    /// Whether the service has begun shutting down, for waiters.
    closing: watch::Sender<bool>,
}

impl Lanes {
    /// Queues for `native` and `python` workers, each with `capacity`
    /// waiting runs.
    pub fn new(native: usize, python: usize, capacity: usize) -> Self {
        Self {
            native: Queue::new(native, capacity),
            python: Queue::new(python, capacity),
            closing: watch::channel(false).0,
        }
    }

    /// The queue of `lane`.
    pub fn get(&self, lane: Lane) -> &Queue {
        match lane {
            Lane::Native => &self.native,
            Lane::Python => &self.python,
        }
    }

    fn both(&self) -> [&Queue; 2] {
        [&self.native, &self.python]
    }

    /// Takes a waiting run out of whichever queue holds it (cancel).
    pub fn remove(&self, id: Uuid) -> bool {
        self.both().iter().any(|queue| queue.remove(id))
    }

    /// Closes both queues (see [`Queue::close`]).
    pub fn close(&self) {
        self.both().iter().for_each(|queue| queue.close());
        self.closing.send_replace(true);
    }

    /// Completes once the queues are closed: no queued run starts any more.
    pub async fn closed(&self) {
        let _ = self.closing.subscribe().wait_for(|c| *c).await;
    }

    /// Whether the queues are closed.
    pub fn is_closed(&self) -> bool {
        self.native.is_closed()
    }

    /// Runs waiting and running, in both lanes.
    pub fn depth(&self) -> (usize, usize) {
        let [(w1, r1), (w2, r2)] = self.both().map(Queue::depth);
        (w1 + w2, r1 + r2)
    }

    /// Once closed: waits until no run is running in either lane.
    pub async fn drained(&self) {
        for queue in self.both() {
            let mut running = queue.watch_running();
            let _ = running.wait_for(|n| *n == 0).await;
        }
    }
}
