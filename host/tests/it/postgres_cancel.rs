//! Cancelling a run cancels its query: reads and writes of the PostgreSQL
//! adapter blocked on a lock that another session holds stop soon after
//! their interrupt fires, directly and through real runs (cancelled or
//! timed out), leave nothing running on the server and nothing half
//! written, and the adapter goes on working. The REST adapter in front of
//! PostgreSQL drops its request the same way.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use algohost::adapters::Adapter;
use algohost::adapters::postgres::PostgresAdapter;
use algohost::adapters::rest::{RestAdapter, RestOptions};
use algohost::registry::Registry;
use algohost::runner::{self, CancelToken, RunStatus};
use algohost::server::Settings;
use algohost::sources::builtin;
use algohost_sdk::data::long_frame;
use algohost_sdk::prelude::*;

use crate::common::request_with;
use crate::files_adapter::{rows, utc};
use crate::pg_server::{self, TestDatabase, server};

/// Counts the samples of every data point.
#[algorithm(name = "test_pg_cancel_counts_samples", version = "1.0.0")]
fn test_pg_cancel_counts_samples(ctx: &Context, _p: NoParams) -> Result<Output> {
    let long = ctx.read_long(&DataPointFilter::default())?;
    Ok(Output::new().with_summary(json!({ "samples": long.height() })))
}

#[derive(Deserialize, JsonSchema)]
struct NoParams {}

/// How long a cancelled call may take to give up.
const PROMPTLY: Duration = Duration::from_secs(5);

/// Fails when the call cancelled at `cancelled_at` took too long to give up.
fn assert_prompt(cancelled_at: Instant) {
    let took = cancelled_at.elapsed();
    assert!(took < PROMPTLY, "gave up {took:?} after the cancel");
}

/// Polls `done` every 20 ms until it holds; fails after 10 s.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let since = Instant::now();
    while !done() {
        assert!(since.elapsed() < Duration::from_secs(10), "{what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `sql` in the test's database and returns the single value.
fn query(db: &TestDatabase, sql: &str) -> String {
    server().psql(&db.name, sql)
}

/// How many statements of the adapter are running (or waiting) right now.
fn adapter_statements(db: &TestDatabase) -> usize {
    query(
        db,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
         AND application_name = 'algohost' AND state <> 'idle'",
    )
    .parse()
    .unwrap()
}

/// Whether a statement of the adapter waits for a lock.
fn adapter_waits_for_a_lock(db: &TestDatabase) -> bool {
    query(
        db,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
         AND application_name = 'algohost' AND wait_event_type = 'Lock'",
    ) == "1"
}

/// How many statements of the test's database the server cancelled on
/// request (its log says so).
fn cancelled_on_request(db: &TestDatabase) -> usize {
    let log = std::fs::read_to_string(server().log_path()).expect("read the server log");
    let line = format!(
        " db={} ERROR:  canceling statement due to user request",
        db.name
    );
    log.lines().filter(|l| l.contains(&line)).count()
}

/// Another session (psql) holding a lock on the samples table until
/// released.
struct Holder {
    db: TestDatabase,
    session: Option<JoinHandle<String>>,
}

impl Holder {
    /// Locks `samples` in `mode` (`ACCESS EXCLUSIVE`, `SHARE`) and waits
    /// until the lock is granted; `granted` is the mode as `pg_locks`
    /// names it.
    fn lock(db: &TestDatabase, mode: &str, granted: &str) -> Self {
        let name = db.name.clone();
        // The sleep ends without an error when released, so the session
        // commits and psql succeeds.
        let sql = format!(
            "BEGIN; LOCK TABLE samples IN {mode} MODE; DO $$ BEGIN PERFORM pg_sleep(120); \
             EXCEPTION WHEN query_canceled THEN NULL; END $$; COMMIT;"
        );
        let session = std::thread::spawn(move || server().psql(&name, &sql));
        let held = format!(
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
             WHERE l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
             AND c.relname = 'samples' AND l.mode = '{granted}' AND l.granted"
        );
        wait_until("the lock was not taken", || query(db, &held) == "1");
        Self {
            db: db.clone(),
            session: Some(session),
        }
    }

    /// Ends the other session's transaction.
    fn release(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(session) = self.session.take() {
            query(
                &self.db,
                "SELECT pg_cancel_backend(pid) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid() \
                 AND query LIKE '%pg_sleep(120)%'",
            );
            session.join().expect("the locking session failed");
        }
    }
}

impl Drop for Holder {
    /// Releases the lock when a test fails before doing so.
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.stop();
        }
    }
}

/// An adapter on a new database with one data point of three samples; the
/// statement timeout is long, so only the interrupt can stop a statement.
fn adapter_with_samples(label: &str, parameters: &str) -> (TestDatabase, PostgresAdapter, i64) {
    let db = pg_server::database(label);
    let url = format!("{}&statement_timeout=5min{parameters}", db.url);
    let adapter = PostgresAdapter::connect(&url).unwrap();
    let point = DataPointConfig::new("a", Quantity::Power, "kW", Resolution::Seconds(3600));
    let id = adapter.define_data_points(&[point]).unwrap()[0].id.0;
    adapter.write(&samples(id, &[1.0, 2.0, 3.0])).unwrap();
    (db, adapter, id)
}

/// Hourly samples of `id` from 2026-01-01.
fn samples(id: i64, values: &[f64]) -> DataFrame {
    let start = utc("2026-01-01T00:00:00Z").timestamp_micros();
    long_frame(
        vec![id; values.len()],
        (0..values.len() as i64)
            .map(|h| start + h * 3_600_000_000)
            .collect(),
        values.iter().copied().map(Some).collect(),
    )
    .unwrap()
}

/// Cancels `token` once the adapter's statement waits for the lock.
fn cancel_when_blocked(db: &TestDatabase, token: &CancelToken) -> JoinHandle<Instant> {
    let (db, token) = (db.clone(), token.clone());
    std::thread::spawn(move || {
        wait_until("the adapter never waited for the lock", || {
            adapter_waits_for_a_lock(&db)
        });
        token.cancel();
        Instant::now()
    })
}

#[test]
fn a_read_blocked_on_a_lock_is_cancelled_on_the_server_when_interrupted() {
    let (db, adapter, _) = adapter_with_samples("cancelread", "");
    let holder = Holder::lock(&db, "ACCESS EXCLUSIVE", "AccessExclusiveLock");
    let token = CancelToken::new();
    let canceller = cancel_when_blocked(&db, &token);

    let err = adapter
        .read_until(&DataPointFilter::default(), &token)
        .unwrap_err();
    let cancelled_at = canceller.join().unwrap();
    assert!(matches!(err, Error::Cancelled), "{err:?}");
    assert_prompt(cancelled_at);
    // The statement is gone from the server while the lock is still held.
    wait_until("the cancelled read still runs on the server", || {
        adapter_statements(&db) == 0
    });
    assert!(!adapter_waits_for_a_lock(&db));
    wait_until("the server did not log the cancel", || {
        cancelled_on_request(&db) == 1
    });

    holder.release();
    assert_eq!(
        adapter.read(&DataPointFilter::default()).unwrap().height(),
        3
    );
    // A call interrupted before it starts sends nothing.
    let err = adapter
        .read_until(&DataPointFilter::default(), &token)
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err:?}");
}

#[test]
fn a_write_cancelled_midway_leaves_the_samples_as_they_were() {
    let (db, adapter, id) = adapter_with_samples("cancelwrite", "");
    let before = rows(&adapter.read(&DataPointFilter::default()).unwrap());
    // SHARE lets the write read and fill its staging table, and blocks it
    // at the upsert into `samples`.
    let holder = Holder::lock(&db, "SHARE", "ShareLock");
    let token = CancelToken::new();
    let canceller = cancel_when_blocked(&db, &token);

    let overwrite = samples(id, &[10.0, 20.0, 30.0, 40.0]);
    let err = adapter.write_until(&overwrite, &token).unwrap_err();
    let cancelled_at = canceller.join().unwrap();
    assert!(matches!(err, Error::Cancelled), "{err:?}");
    assert_prompt(cancelled_at);
    wait_until("the cancelled write still runs on the server", || {
        adapter_statements(&db) == 0
    });
    // It was cancelled midway: its staging table was filled, and the
    // upsert from it into `samples` waited for the lock.
    let staged = server()
        .statements(&db.name)
        .iter()
        .filter(|s| s.starts_with("COPY algohost_staging"))
        .count();
    assert_eq!(staged, 1);
    assert_eq!(cancelled_on_request(&db), 1);

    holder.release();
    assert_eq!(
        rows(&adapter.read(&DataPointFilter::default()).unwrap()),
        before
    );
    // Not a lock of the cancelled write is left: the next write goes through.
    adapter.write(&overwrite).unwrap();
    assert_eq!(
        adapter.read(&DataPointFilter::default()).unwrap().height(),
        4
    );
}

fn registry() -> Registry {
    let mut registry = Registry::new();
    builtin::discover(&mut registry);
    registry
}

#[test]
fn cancelling_a_run_cancels_its_query_and_the_pool_stays_healthy() {
    // One connection: the next run can only read if the pool replaced the
    // cancelled one.
    let (db, adapter, _) = adapter_with_samples("cancelrun", "&pool_size=1");
    let adapter: Arc<dyn Adapter> = Arc::new(adapter);
    let registry = registry();
    let holder = Holder::lock(&db, "ACCESS EXCLUSIVE", "AccessExclusiveLock");
    let request = request_with("test_pg_cancel_counts_samples", json!({}), adapter.clone());
    let canceller = cancel_when_blocked(&db, &request.cancel);

    let outcome = runner::execute(&registry, request).unwrap();
    let cancelled_at = canceller.join().unwrap();
    assert_eq!(
        outcome.run.status,
        RunStatus::Cancelled,
        "{:?}",
        outcome.run
    );
    assert_eq!(outcome.run.error.unwrap().kind, "cancelled");
    assert_prompt(cancelled_at);
    wait_until("the cancelled run's read still runs on the server", || {
        adapter_statements(&db) == 0
    });

    holder.release();
    let request = request_with("test_pg_cancel_counts_samples", json!({}), adapter);
    let outcome = runner::execute(&registry, request).unwrap();
    assert_eq!(
        outcome.run.status,
        RunStatus::Succeeded,
        "{:?}",
        outcome.run
    );
    assert_eq!(outcome.run.summary, json!({ "samples": 3 }));
}

#[test]
fn a_timed_out_run_cancels_its_query() {
    let (db, adapter, _) = adapter_with_samples("timeoutrun", "");
    let adapter: Arc<dyn Adapter> = Arc::new(adapter);
    let holder = Holder::lock(&db, "ACCESS EXCLUSIVE", "AccessExclusiveLock");
    let mut request = request_with("test_pg_cancel_counts_samples", json!({}), adapter);
    request.timeout = Some(Duration::from_millis(500));

    let outcome = runner::execute(&registry(), request).unwrap();
    assert_eq!(outcome.run.status, RunStatus::TimedOut, "{:?}", outcome.run);
    // The run's thread goes on after the deadline only until its read has
    // been cancelled.
    wait_until("the timed-out run's read still runs on the server", || {
        adapter_statements(&db) == 0
    });
    holder.release();
}

#[test]
fn a_rest_read_in_front_of_postgres_drops_its_request_when_interrupted() {
    let (db, adapter, _) = adapter_with_samples("cancelrest", "");
    let served = crate::rest::serve(Arc::new(adapter), Settings::default());
    let rest = RestAdapter::connect_with(&served.url, RestOptions::default()).unwrap();
    let holder = Holder::lock(&db, "ACCESS EXCLUSIVE", "AccessExclusiveLock");
    let token = CancelToken::new();
    let canceller = cancel_when_blocked(&db, &token);

    let err = rest
        .read_until(&DataPointFilter::default(), &token)
        .unwrap_err();
    let cancelled_at = canceller.join().unwrap();
    assert!(matches!(err, Error::Cancelled), "{err:?}");
    assert_prompt(cancelled_at);

    holder.release();
    assert_eq!(rest.read(&DataPointFilter::default()).unwrap().height(), 3);
}
