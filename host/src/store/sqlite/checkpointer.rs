//! Copies the WAL back into the database file from a thread of its own, so
//! that no commit waits for the copy and its fsync (SQLite would otherwise
//! do it inside whichever commit crosses its threshold).
//!
//! A checkpoint that runs beside the writer never catches up with it under
//! sustained load, and the WAL only starts over once it has; so when the WAL
//! has grown past [`RESTART_FRAMES`], the checkpointer holds this process's
//! writer back for the short remainder (`RESTART`), and the next commit
//! starts the WAL from its beginning again.
//!
//! A checkpoint that keeps failing (a full disk) is logged once, then at
//! most once a minute with how often it failed, and once when it works
//! again ([`Warnings`]), rather than at every round.

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::schema::connect;
use super::writer::Writer;
use crate::store::StoreError;

/// How often the WAL is checkpointed.
const INTERVAL: Duration = Duration::from_millis(100);

/// WAL size (in pages) past which a checkpoint restarts the WAL.
const RESTART_FRAMES: i64 = 1000;

/// How long a restarting checkpoint waits for readers of the old WAL (and
/// for writers of other processes, holding this one's back meanwhile)
/// before it gives up until the next round.
const RESTART_PATIENCE: Duration = Duration::from_millis(10);

/// How often a checkpoint that keeps failing is logged again.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// The checkpointing thread; dropping this stops it.
pub(super) struct Checkpointer {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts checkpointing the store file at `path`, written by `writer`,
    /// which must not checkpoint itself (`PRAGMA wal_autocheckpoint = 0`).
    pub fn start(path: &Path, writer: Arc<Writer>) -> Result<Self, StoreError> {
        let conn = connect(path)?;
        conn.busy_timeout(RESTART_PATIENCE)
            .map_err(|e| StoreError::Backend(format!("configuring the checkpointer: {e}")))?;
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("algohost-checkpoint".to_owned())
            .spawn(move || {
                let mut warnings = Warnings::default();
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
                    let result = checkpoint(&conn, &writer);
                    match warnings.note(result.err(), Instant::now()) {
                        Some(Notice::Warn(message)) => tracing::warn!("{message}"),
                        Some(Notice::Info(message)) => tracing::info!("{message}"),
                        None => {}
                    }
                }
            })
            .map_err(|e| {
                StoreError::Backend(format!("could not start the checkpoint thread: {e}"))
            })?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

/// What to log about a round.
#[derive(Debug, PartialEq, Eq)]
enum Notice {
    Warn(String),
    Info(String),
}

/// The failures of checkpoint rounds since the last one that worked.
#[derive(Debug, Default)]
struct Warnings {
    /// When the first failure of this spell was, and when it was last
    /// logged.
    failing: Option<(Instant, Instant)>,
    /// Failures since it was last logged, and in the whole spell.
    unlogged: u64,
    total: u64,
}

impl Warnings {
    /// Takes the outcome of a round (its error, if it failed) at `now`;
    /// what to log, if anything: the first failure, then at most one
    /// warning every [`WARN_EVERY`], and a line when a round works again.
    fn note(&mut self, error: Option<rusqlite::Error>, now: Instant) -> Option<Notice> {
        let Some(e) = error else {
            let (since, _) = self.failing.take()?;
            let total = std::mem::take(&mut self.total);
            self.unlogged = 0;
            return Some(Notice::Info(format!(
                "checkpointing the run store works again, after {total} failed round(s) in {} s",
                now.duration_since(since).as_secs()
            )));
        };
        self.total += 1;
        match &mut self.failing {
            None => {
                self.failing = Some((now, now));
                Some(Notice::Warn(format!(
                    "checkpointing the run store failed: {e}; retrying every {} ms, warning again \
                     at most once a minute",
                    INTERVAL.as_millis()
                )))
            }
            Some((_, logged)) if now.duration_since(*logged) < WARN_EVERY => {
                self.unlogged += 1;
                None
            }
            Some((since, logged)) => {
                *logged = now;
                let unlogged = std::mem::take(&mut self.unlogged) + 1;
                Some(Notice::Warn(format!(
                    "checkpointing the run store still fails: {e} ({unlogged} failed round(s) \
                     since the last warning, failing for {} s)",
                    now.duration_since(*since).as_secs()
                )))
            }
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One round: copies what it can without holding anyone back (`PASSIVE`),
/// then, if the WAL has grown long, the rest with `writer` held back
/// (`RESTART`), so that the WAL starts over.
fn checkpoint(conn: &Connection, writer: &Writer) -> rusqlite::Result<()> {
    let run = |mode: &str| {
        conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
            row.get::<_, i64>(1)
        })
    };
    if run("PASSIVE")? >= RESTART_FRAMES {
        let _held_back = writer.connection();
        run("RESTART")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames in the WAL, as a passive checkpoint reports them.
    fn wal_frames(conn: &Connection) -> i64 {
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get(1))
            .unwrap()
    }

    fn full() -> Option<rusqlite::Error> {
        Some(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            Some("database or disk is full".to_owned()),
        ))
    }

    #[test]
    fn a_failing_checkpoint_warns_once_then_once_a_minute_and_says_when_it_works_again() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let mut warnings = Warnings::default();
        assert_eq!(warnings.note(None, at(0)), None);
        assert_eq!(
            warnings.note(full(), at(100)),
            Some(Notice::Warn(
                "checkpointing the run store failed: database or disk is full; retrying every \
                 100 ms, warning again at most once a minute"
                    .into()
            ))
        );
        // Ten rounds a second for a minute: not one line.
        for ms in (200..60_100).step_by(100) {
            assert_eq!(warnings.note(full(), at(ms)), None, "at {ms} ms");
        }
        assert_eq!(
            warnings.note(full(), at(60_100)),
            Some(Notice::Warn(
                "checkpointing the run store still fails: database or disk is full (600 failed \
                 round(s) since the last warning, failing for 60 s)"
                    .into()
            ))
        );
        assert_eq!(warnings.note(full(), at(60_200)), None);
        assert_eq!(
            warnings.note(None, at(75_000)),
            Some(Notice::Info(
                "checkpointing the run store works again, after 602 failed round(s) in 74 s".into()
            ))
        );
        assert_eq!(warnings.note(None, at(75_100)), None);
        // A new spell warns at once.
        assert!(matches!(
            warnings.note(full(), at(75_200)),
            Some(Notice::Warn(m)) if m.starts_with("checkpointing the run store failed")
        ));
    }

    #[test]
    fn a_long_wal_starts_over_even_while_a_writer_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let conn = connect(&path).unwrap();
        conn.execute_batch(
            "PRAGMA wal_autocheckpoint = 0;
             CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)",
        )
        .unwrap();
        let writer = Writer::new(conn);
        let insert = |k: i64| {
            writer
                .write(move |conn| {
                    conn.execute("INSERT INTO t (k, v) VALUES (?1, zeroblob(100))", [k])
                        .map(drop)
                        .map_err(|e| StoreError::Backend(e.to_string()))
                })
                .unwrap();
        };
        for k in 0..3 * RESTART_FRAMES {
            insert(k);
        }
        let checkpointer = connect(&path).unwrap();
        let long = wal_frames(&checkpointer);
        assert!(long >= 3 * RESTART_FRAMES, "{long} frames");
        std::thread::scope(|scope| {
            let (started, has_started) = std::sync::mpsc::channel();
            // Fewer frames than the WAL holds now, written while the round
            // runs.
            scope.spawn(move || {
                for k in 0..RESTART_FRAMES / 2 {
                    insert(-2 - k);
                    if k == 10 {
                        let _ = started.send(());
                    }
                }
            });
            has_started.recv().unwrap();
            checkpoint(&checkpointer, &writer).unwrap();
        });
        // The next commit starts the WAL over.
        insert(-1);
        let frames = wal_frames(&checkpointer);
        assert!(
            frames < long,
            "{frames} frames after the round, {long} before"
        );
    }
}
