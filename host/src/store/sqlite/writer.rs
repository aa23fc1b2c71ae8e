//! The write side of the SQLite store: one connection, shared by group
//! commit.
//!
//! A writer queues its change and waits for it to be committed. A writer
//! that finds no commit in progress leads at once: it takes every change
//! queued so far, applies them in one transaction, commits once, and hands
//! each writer its result. Changes queued while a commit is in progress
//! wait for the next writer to come and lead them along with its own, or,
//! if none comes within [`LINGER`], one of their writers leads them. Under
//! load (workers that end one run and start the next every few
//! microseconds) runs thus share commits, and so appends to the WAL, instead
//! of queueing for the connection one commit each; alone, a writer never
//! waits for a batch to fill.

use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::Thread;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::backend;
use crate::store::StoreError;

/// How long changes left queued after a commit wait for another writer to
/// lead them before one of their own writers does: about one commit.
const LINGER: Duration = Duration::from_micros(100);

/// The write connection and the changes waiting for it.
pub(super) struct Writer {
    conn: Mutex<Connection>,
    queue: Mutex<Queue>,
    /// Why the last write failed and when, while the store cannot be
    /// written ([`StoreError::Unwritable`]); cleared by a write that
    /// succeeds.
    failure: Mutex<Option<(StoreError, Instant)>>,
}

struct Queue {
    changes: Vec<Box<dyn Queued>>,
    is_leading: bool,
    /// When the last commit ended.
    idle_since: Instant,
}

fn relock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Where a writer finds its result, and who to wake when it is there.
struct Slot<T> {
    result: Mutex<Option<Result<T, StoreError>>>,
    writer: Thread,
}

impl<T> Slot<T> {
    fn fill(&self, result: Result<T, StoreError>) {
        *relock(&self.result) = Some(result);
        self.writer.unpark();
    }

    fn take(&self) -> Option<Result<T, StoreError>> {
        relock(&self.result).take()
    }
}

/// A queued change, type-erased for the batch.
trait Queued: Send {
    /// Applies the change inside the batch's transaction; whether it
    /// succeeded.
    fn apply(&mut self, conn: &Connection) -> bool;
    /// Hands the writer its result once the batch is committed (`Ok`) or
    /// failed to commit.
    fn settle(self: Box<Self>, commit: &Result<(), StoreError>);
}

struct Change<T, F> {
    change: Option<F>,
    applied: Option<Result<T, StoreError>>,
    slot: Arc<Slot<T>>,
    is_settled: bool,
}

impl<T, F> Queued for Change<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send,
{
    fn apply(&mut self, conn: &Connection) -> bool {
        let result = self.change.take().map(|change| change(conn));
        let is_ok = matches!(result, Some(Ok(_)));
        self.applied = result;
        is_ok
    }

    fn settle(mut self: Box<Self>, commit: &Result<(), StoreError>) {
        let result = match (self.applied.take(), commit) {
            (Some(Err(e)), _) => Err(e),
            (_, Err(e)) => Err(e.clone()),
            (Some(Ok(value)), Ok(())) => Ok(value),
            (None, Ok(())) => Err(abandoned()),
        };
        self.slot.fill(result);
        self.is_settled = true;
    }
}

impl<T, F> Drop for Change<T, F> {
    /// A change dropped unsettled (its leader panicked) fails rather than
    /// leaving its writer waiting.
    fn drop(&mut self) {
        if !self.is_settled {
            self.slot.fill(Err(abandoned()));
        }
    }
}

fn abandoned() -> StoreError {
    StoreError::Backend("the write was abandoned: the store failed while committing".to_owned())
}

/// Ends a leader's turn even when it panics, so that the others go on.
struct Turn<'a>(&'a Writer);

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut queue = relock(&self.0.queue);
        queue.is_leading = false;
        queue.idle_since = Instant::now();
    }
}

impl Writer {
    pub fn new(conn: Connection) -> Self {
        Self {
            conn: Mutex::new(conn),
            queue: Mutex::new(Queue {
                changes: Vec::new(),
                is_leading: false,
                idle_since: Instant::now(),
            }),
            failure: Mutex::new(None),
        }
    }

    /// Why the store cannot be written, and when a write last failed for
    /// it; `None` when the last such write succeeded.
    pub fn last_failure(&self) -> Option<(StoreError, Instant)> {
        relock(&self.failure).clone()
    }

    /// Notes whether a write found the store writable.
    fn note<T>(&self, result: &Result<T, StoreError>) {
        match result {
            Ok(_) => *relock(&self.failure) = None,
            Err(e @ StoreError::Unwritable(_)) => {
                *relock(&self.failure) = Some((e.clone(), Instant::now()));
            }
            Err(_) => {}
        }
    }

    /// Applies `change` and commits it (with whatever other changes are
    /// queued at the time); returns its result once committed.
    pub fn write<T, F>(&self, change: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let slot = Arc::new(Slot {
            result: Mutex::new(None),
            writer: std::thread::current(),
        });
        let mut queue = relock(&self.queue);
        queue.changes.push(Box::new(Change {
            change: Some(change),
            applied: None,
            slot: slot.clone(),
            is_settled: false,
        }));
        let mut may_lead = !queue.is_leading;
        loop {
            if may_lead {
                self.lead(queue);
            } else {
                drop(queue);
                std::thread::park_timeout(LINGER);
            }
            if let Some(result) = slot.take() {
                self.note(&result);
                return result;
            }
            queue = relock(&self.queue);
            may_lead = !queue.is_leading && queue.idle_since.elapsed() >= LINGER;
        }
    }

    /// Commits every queued change as one batch.
    fn lead(&self, mut queue: MutexGuard<'_, Queue>) {
        queue.is_leading = true;
        let mut batch = std::mem::take(&mut queue.changes);
        drop(queue);
        let _turn = Turn(self);
        let committed = commit(&relock(&self.conn), &mut batch);
        for change in batch {
            change.settle(&committed);
        }
    }

    /// The connection alone, for work that needs its own transaction or
    /// no write in progress (recovery at start-up, restarting the WAL):
    /// writers wait while it is held.
    pub fn connection(&self) -> MutexGuard<'_, Connection> {
        relock(&self.conn)
    }
}

/// Applies a batch in one transaction. With several changes, each runs
/// under its own savepoint, so that a change that fails is undone alone.
fn commit(conn: &Connection, batch: &mut [Box<dyn Queued>]) -> Result<(), StoreError> {
    let run = |sql: &str| conn.prepare_cached(sql).and_then(|mut s| s.execute([]));
    run("BEGIN IMMEDIATE").map_err(backend("starting a write"))?;
    let applied = match batch {
        [single] => {
            if !single.apply(conn) {
                // Nothing of the batch is left to commit.
                return run("ROLLBACK")
                    .map(drop)
                    .map_err(backend("undoing a write"));
            }
            Ok(())
        }
        changes => changes.iter_mut().try_for_each(|change| {
            run("SAVEPOINT change")?;
            if !change.apply(conn) {
                run("ROLLBACK TO change")?;
            }
            run("RELEASE change").map(drop)
        }),
    };
    let committed = applied.and_then(|()| run("COMMIT").map(drop));
    if committed.is_err() {
        let _ = run("ROLLBACK");
    }
    committed.map_err(backend("committing a write"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer(dir: &tempfile::TempDir) -> Writer {
        let conn = Connection::open(dir.path().join("w.db")).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (k INTEGER PRIMARY KEY)")
            .unwrap();
        Writer::new(conn)
    }

    fn insert(k: i64) -> impl FnOnce(&Connection) -> Result<i64, StoreError> + Send + 'static {
        move |conn| {
            conn.execute("INSERT INTO t (k) VALUES (?1)", [k])
                .map_err(backend("inserting"))?;
            Ok(k)
        }
    }

    fn keys(writer: &Writer) -> Vec<i64> {
        let conn = writer.connection();
        let mut stmt = conn.prepare("SELECT k FROM t ORDER BY k").unwrap();
        stmt.query_map([], |row| row.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    #[test]
    fn concurrent_writers_each_get_their_result_and_everything_is_committed() {
        let dir = tempfile::tempdir().unwrap();
        let writer = writer(&dir);
        std::thread::scope(|scope| {
            for thread in 0..8 {
                let writer = &writer;
                scope.spawn(move || {
                    for i in 0..50 {
                        let k = thread * 1000 + i;
                        assert_eq!(writer.write(insert(k)).unwrap(), k);
                    }
                });
            }
        });
        assert_eq!(keys(&writer).len(), 400);
    }

    #[test]
    fn a_change_that_fails_is_undone_alone_and_its_writer_gets_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let writer = writer(&dir);
        let slots: Vec<Arc<Slot<i64>>> = (0..3)
            .map(|_| {
                Arc::new(Slot {
                    result: Mutex::new(None),
                    writer: std::thread::current(),
                })
            })
            .collect();
        let change = |k: i64, slot: &Arc<Slot<i64>>| -> Box<dyn Queued> {
            Box::new(Change {
                change: Some(move |conn: &Connection| {
                    insert(k)(conn)?;
                    if k == 2 {
                        return Err(StoreError::Backend("refused".into()));
                    }
                    Ok(k)
                }),
                applied: None,
                slot: slot.clone(),
                is_settled: false,
            })
        };
        let mut batch: Vec<_> = (1..=3).zip(&slots).map(|(k, s)| change(k, s)).collect();
        let committed = commit(&writer.connection(), &mut batch);
        assert!(committed.is_ok());
        for change in batch {
            change.settle(&committed);
        }
        let results: Vec<_> = slots.iter().map(|s| s.take().unwrap()).collect();
        assert!(matches!(results[..], [Ok(1), Err(_), Ok(3)]), "{results:?}");
        assert_eq!(keys(&writer), [1, 3]);
    }
}
