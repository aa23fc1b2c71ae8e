//! The SQLite store: what is written survives reopening the file, recovery
//! after a killed process, idempotency keys, listing, and the schema version.

use algohost::runner::{Run, RunError, RunStatus};
use algohost::store::sqlite::SqliteStore;
use algohost::store::{
    Capability, Logs, MAX_INTERRUPTIONS, Recovered, RunQuery, Store, StoreError, Unheld,
};
use algohost_sdk::Manifest;
use algohost_sdk::logging::LogRecord;
use algohost_sdk::polars::prelude::*;
use chrono::Utc;
use serde_json::json;

fn manifest(name: &str) -> Manifest {
    Manifest::new(name, "1.0.0")
}

fn queued(algorithm: &str) -> Run {
    Run::queued(
        &manifest(algorithm),
        json!({"a": 1, "nested": {"b": [1, 2]}}),
    )
}

fn open(dir: &tempfile::TempDir) -> SqliteStore {
    SqliteStore::open(dir.path().join("runs.db")).unwrap()
}

/// A node that runs every algorithm, none of them idempotent.
fn runs_all(_: &str) -> Capability {
    Capability::Runs { idempotent: false }
}

/// A node that runs `safe_again` (idempotent) and `plain`, and lacks any
/// other algorithm.
fn runs_plain_and_safe_again(algorithm: &str) -> Capability {
    match algorithm {
        "safe_again" => Capability::Runs { idempotent: true },
        "plain" => Capability::Runs { idempotent: false },
        _ => Capability::Lacks,
    }
}

/// Stores `run` as running, as a server does when its plugin starts.
fn start(store: &SqliteStore, run: &Run) {
    let mut run = run.clone();
    run.status = RunStatus::Running;
    run.started_at = Some(Utc::now());
    store.update(&run).unwrap();
}

#[test]
fn a_finished_run_its_logs_and_frames_survive_reopening_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut run = queued("test_add");
    run.timeout = Some(2.5);
    let frame = DataFrame::new_infer_height(vec![
        Column::new("x".into(), [1.5, 2.5]),
        Column::new("name".into(), ["a", "b"]),
    ])
    .unwrap();
    {
        let store = open(&dir);
        store.create(&run, None).unwrap();
        store
            .append_logs(run.id, &[LogRecord::now("info", "t", "first")])
            .unwrap();
        store
            .append_logs(
                run.id,
                &[
                    LogRecord::now("warn", "t", "second"),
                    LogRecord::now("info", "t", "third"),
                ],
            )
            .unwrap();
        run.status = RunStatus::Succeeded;
        run.progress = 1.0;
        run.progress_message = "done".into();
        run.started_at = Some(Utc::now());
        run.finished_at = Some(Utc::now());
        run.summary = json!({"sum": 4.0});
        run.frames = vec!["sum".into()];
        store.update(&run).unwrap();
        store.put_frame(run.id, "sum", &frame).unwrap();
    }
    let store = open(&dir);
    let got = store.get(run.id).unwrap().unwrap();
    assert_eq!(got.status, RunStatus::Succeeded);
    assert_eq!(got.params, run.params);
    assert_eq!(got.timeout, Some(2.5));
    assert_eq!(got.summary, json!({"sum": 4.0}));
    assert_eq!(got.frames, ["sum"]);
    assert_eq!(got.progress_message, "done");
    assert_eq!(got.created_at, run.created_at);
    assert_eq!(got.finished_at, run.finished_at);
    let messages: Vec<_> = got.logs.iter().map(|l| l.message.as_str()).collect();
    assert_eq!(messages, ["first", "second", "third"]);
    // A reader that has some records reads the rest; one that wants none
    // reads the record alone.
    let read = |logs| {
        let got = store.read(run.id, logs).unwrap().unwrap();
        assert_eq!(got.summary, json!({"sum": 4.0}));
        got.logs.into_iter().map(|l| l.message).collect::<Vec<_>>()
    };
    assert_eq!(read(Logs::After(1)), ["second", "third"]);
    assert_eq!(read(Logs::After(0)), ["first", "second", "third"]);
    assert!(read(Logs::After(3)).is_empty());
    assert!(read(Logs::After(usize::MAX)).is_empty());
    assert!(read(Logs::None).is_empty());
    assert!(store.frame(run.id, "sum").unwrap().unwrap().equals(&frame));
    assert!(store.frame(run.id, "other").unwrap().is_none());
    assert!(store.get(uuid::Uuid::now_v7()).unwrap().is_none());
}

/// What an energy algorithm outputs: `rows` quarter hours from 2024-01-01
/// UTC and a price that changes every hour, in cents.
fn time_series(rows: i64) -> DataFrame {
    let ts = (0..rows).map(|i| 1_704_067_200_000_000 + i * 900_000_000);
    let ts = Int64Chunked::from_iter_values("ts".into(), ts)
        .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
        .into_column();
    let (mut seed, mut price) = (7_u64, 50.0);
    let price: Vec<f64> = (0..rows)
        .map(|i| {
            if i % 4 == 0 {
                seed = seed
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                price += ((seed >> 33) % 1000) as f64 / 100.0 - 5.0;
            }
            (price * 100.0_f64).round() / 100.0
        })
        .collect();
    DataFrame::new_infer_height(vec![ts, Column::new("price".into(), price)]).unwrap()
}

/// `frame` as an uncompressed Arrow IPC stream, as algohost 0.1 stored it.
fn uncompressed_ipc(frame: &DataFrame) -> Vec<u8> {
    let mut bytes = Vec::new();
    IpcStreamWriter::new(&mut bytes)
        .with_compat_level(CompatLevel::newest())
        .finish(&mut frame.clone())
        .unwrap();
    bytes
}

/// The `format` and size in bytes of each stored frame.
fn stored_frames(dir: &tempfile::TempDir) -> Vec<(String, usize)> {
    let conn = rusqlite::Connection::open(dir.path().join("runs.db")).unwrap();
    let mut stmt = conn
        .prepare("SELECT format, length(data) FROM frames ORDER BY name")
        .unwrap();
    stmt.query_map([], |row| {
        Ok((row.get(0)?, usize::try_from(row.get::<_, i64>(1)?).unwrap()))
    })
    .unwrap()
    .collect::<rusqlite::Result<_>>()
    .unwrap()
}

#[test]
fn a_time_series_frame_takes_less_than_half_its_uncompressed_size_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let run = store.create(&queued("dispatch"), None).unwrap();
    let frame = time_series(100_000);
    store.put_frame(run.id, "prices", &frame).unwrap();

    let uncompressed = uncompressed_ipc(&frame).len();
    let stored = stored_frames(&dir);
    let [(format, bytes)] = stored.as_slice() else {
        panic!("{stored:?}")
    };
    assert_eq!(format, "arrow_ipc_stream_zstd");
    assert!(
        bytes * 2 <= uncompressed,
        "{bytes} bytes stored, {uncompressed} uncompressed"
    );
    let got = store.frame(run.id, "prices").unwrap().unwrap();
    assert_eq!(got.schema(), frame.schema());
    assert!(got.equals_missing(&frame));
}

#[test]
fn frames_an_earlier_algohost_stored_uncompressed_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let run = queued("dispatch");
    open(&dir).create(&run, None).unwrap();
    let frame = time_series(10_000);
    // What algohost 0.1 wrote: every frame an uncompressed Arrow IPC stream.
    rusqlite::Connection::open(dir.path().join("runs.db"))
        .unwrap()
        .execute(
            "INSERT INTO frames (run_id, name, format, data) VALUES (?1, 'prices', 'arrow_ipc_stream', ?2)",
            (run.id.to_string(), uncompressed_ipc(&frame)),
        )
        .unwrap();
    let store = open(&dir);
    let got = store.frame(run.id, "prices").unwrap().unwrap();
    assert_eq!(got.schema(), frame.schema());
    assert!(got.equals_missing(&frame));
}

#[test]
fn a_frame_of_an_unknown_format_or_with_damaged_bytes_is_corrupt_data() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let run = store.create(&queued("dispatch"), None).unwrap();
    store
        .put_frame(run.id, "prices", &time_series(10_000))
        .unwrap();
    let conn = rusqlite::Connection::open(dir.path().join("runs.db")).unwrap();
    let read_after = |change: &str| {
        conn.execute(change, []).unwrap();
        store.frame(run.id, "prices").unwrap_err().to_string()
    };
    assert_eq!(
        read_after("UPDATE frames SET format = 'parquet'"),
        "run store: corrupt data: unknown frame format 'parquet'"
    );
    let err = read_after(
        "UPDATE frames SET format = 'arrow_ipc_stream_zstd', data = substr(data, 1, length(data) / 2)",
    );
    assert!(err.starts_with("run store: corrupt data: frame: "), "{err}");
}

#[test]
fn the_file_is_in_wal_mode_at_the_current_schema_version() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(&dir));
    let conn = rusqlite::Connection::open(dir.path().join("runs.db")).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!((mode.as_str(), version), ("wal", 4));
}

#[test]
fn a_store_at_schema_version_1_is_upgraded_with_its_runs_and_queries_use_the_new_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.db");
    let (failed, succeeded, running) = (queued("test_add"), queued("test_add"), queued("test_add"));
    {
        // What algohost 0.1 with schema version 1 wrote.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
            CREATE TABLE runs (id TEXT PRIMARY KEY NOT NULL, algorithm TEXT NOT NULL,
                version TEXT NOT NULL, params TEXT NOT NULL, timeout REAL, status TEXT NOT NULL,
                progress REAL NOT NULL DEFAULT 0, progress_message TEXT NOT NULL DEFAULT '',
                created_at TEXT NOT NULL, started_at TEXT, finished_at TEXT, error TEXT,
                summary TEXT NOT NULL DEFAULT 'null', frames TEXT NOT NULL DEFAULT '[]');
            CREATE INDEX runs_by_status ON runs (status, id);
            CREATE INDEX runs_by_algorithm ON runs (algorithm, id);
            CREATE TABLE logs (run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
                seq INTEGER NOT NULL, record TEXT NOT NULL, PRIMARY KEY (run_id, seq)) WITHOUT ROWID;
            CREATE TABLE frames (run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
                name TEXT NOT NULL, format TEXT NOT NULL, data BLOB NOT NULL, PRIMARY KEY (run_id, name));
            CREATE TABLE idempotency_keys (key TEXT PRIMARY KEY NOT NULL, fingerprint TEXT NOT NULL,
                run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE, created_at TEXT NOT NULL);
            PRAGMA user_version = 1;",
        )
        .unwrap();
        for (run, status) in [
            (&failed, "failed"),
            (&succeeded, "succeeded"),
            (&running, "running"),
        ] {
            conn.execute(
                "INSERT INTO runs (id, algorithm, version, params, status, created_at) VALUES (?1, 'test_add', '1.0.0', '{}', ?2, '2026-11-21T10:00:00Z')",
                (run.id.to_string(), status),
            )
            .unwrap();
        }
    }
    let store = SqliteStore::open(&path).unwrap();
    let listed = |status| {
        let query = RunQuery {
            status: vec![status],
            ..RunQuery::default()
        };
        store
            .list(&query)
            .unwrap()
            .iter()
            .map(|r| r.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(listed(RunStatus::Running), [running.id]);
    // Stored before runs recorded their node: its node is gone.
    let (recovered, _) = store.reclaim(&runs_all).unwrap();
    assert_eq!(recovered.interrupted, [running.id]);
    assert_eq!(listed(RunStatus::Failed), [running.id, failed.id]);
    assert_eq!(listed(RunStatus::Succeeded), [succeeded.id]);
    assert!(listed(RunStatus::Running).is_empty());
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 4);
    let plan = |sql: &str| -> String {
        conn.query_row(&format!("EXPLAIN QUERY PLAN {sql}"), [], |r| r.get(3))
            .unwrap()
    };
    let by_status =
        plan("SELECT id FROM runs WHERE status = 'running' AND status <> 'succeeded' ORDER BY id");
    assert!(by_status.contains("runs_not_succeeded"), "{by_status}");
    let held = plan(
        "SELECT id FROM runs WHERE status IN ('queued', 'running') AND (owner IS NULL OR owner <> 'x') ORDER BY id",
    );
    assert!(held.contains("runs_unfinished"), "{held}");
}

#[test]
fn a_store_from_a_newer_algohost_is_refused_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.db");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA user_version = 99")
        .unwrap();
    let err = SqliteStore::open(&path).unwrap_err();
    assert_eq!(
        err.to_string(),
        "run store: the store has schema version 99 but this algohost knows only up to 4; use a newer algohost"
    );
}

#[test]
fn a_path_that_cannot_be_a_store_says_what_to_give() {
    let dir = tempfile::tempdir().unwrap();
    let message = |path: &std::path::Path| SqliteStore::open(path).unwrap_err().to_string();

    let missing = dir.path().join("no-such-dir");
    assert_eq!(
        message(&missing.join("runs.db")),
        format!(
            "run store: the directory {0} does not exist; create it (mkdir -p {0}) or give a path \
             in an existing one",
            missing.display()
        )
    );
    assert!(!missing.exists());

    assert_eq!(
        message(dir.path()),
        format!(
            "run store: {} is a directory; give a file path such as {}",
            dir.path().display(),
            dir.path().join("runs.db").display()
        )
    );

    // A directory where no file can be created (read-only, or /sys even
    // for root): said so, not "unable to open database file".
    if cfg!(target_os = "linux") {
        let err = message(std::path::Path::new("/sys/algohost-runs.db"));
        assert!(
            err.starts_with("run store: cannot create files in /sys (")
                && err.contains("give a path on a writable file system"),
            "{err}"
        );
    }

    let text = dir.path().join("notes.txt");
    std::fs::write(
        &text,
        "not a database, but long enough to have a header page........",
    )
    .unwrap();
    assert_eq!(
        message(&text),
        format!(
            "run store: {} is not a run store (it is not an SQLite database); give the path of an \
             existing run store or of a new file",
            text.display()
        )
    );
    assert_eq!(
        std::fs::read_to_string(&text).unwrap(),
        "not a database, but long enough to have a header page........",
        "the file is left as it was"
    );
}

#[test]
fn runs_list_newest_first_with_filters_and_pages() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let runs: Vec<Run> = ["a_alg", "b_alg", "a_alg", "a_alg"]
        .iter()
        .map(|name| store.create(&queued(name), None).unwrap())
        .collect();
    let mut done = runs[0].clone();
    done.status = RunStatus::Failed;
    store.update(&done).unwrap();
    let ids = |query: &RunQuery| -> Vec<_> {
        store
            .list(query)
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect()
    };
    assert_eq!(
        ids(&RunQuery::default()),
        [runs[3].id, runs[2].id, runs[1].id, runs[0].id]
    );
    let a = RunQuery {
        algorithm: Some("a_alg".into()),
        limit: 2,
        ..RunQuery::default()
    };
    assert_eq!(ids(&a), [runs[3].id, runs[2].id]);
    let next_page = RunQuery {
        before: Some(runs[2].id),
        ..a
    };
    assert_eq!(ids(&next_page), [runs[0].id]);
    let failed = RunQuery {
        status: vec![RunStatus::Failed],
        ..RunQuery::default()
    };
    assert_eq!(ids(&failed), [runs[0].id]);
    let ended = RunQuery {
        status: vec![RunStatus::Failed, RunStatus::Succeeded],
        ..RunQuery::default()
    };
    assert_eq!(ids(&ended), [runs[0].id]);
    let either = RunQuery {
        status: vec![RunStatus::Queued, RunStatus::Failed],
        ..RunQuery::default()
    };
    assert_eq!(
        ids(&either),
        [runs[3].id, runs[2].id, runs[1].id, runs[0].id]
    );
}

#[test]
fn an_idempotency_key_returns_its_run_and_refuses_another_body() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let first = queued("test_add");
    let created = store.create(&first, Some(("key-1", "body A"))).unwrap();
    assert_eq!(created.id, first.id);
    let again = store
        .create(&queued("test_add"), Some(("key-1", "body A")))
        .unwrap();
    assert_eq!(again.id, first.id);
    assert_eq!(
        store
            .find_idempotent("key-1", "body A")
            .unwrap()
            .map(|r| r.id),
        Some(first.id)
    );
    assert!(store.find_idempotent("key-2", "body A").unwrap().is_none());
    let err = store
        .create(&queued("test_add"), Some(("key-1", "body B")))
        .unwrap_err();
    assert!(matches!(err, StoreError::IdempotencyConflict(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "idempotency key 'key-1' was already used with a different request"
    );
    assert_eq!(store.list(&RunQuery::default()).unwrap().len(), 1);
}

#[test]
fn a_new_handle_fails_the_runs_a_killed_one_ran_and_requeues_idempotent_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (plain, idempotent, waiting, done) = (
        queued("plain"),
        queued("safe_again"),
        queued("plain"),
        queued("plain"),
    );
    {
        let store = open(&dir);
        for run in [&plain, &idempotent, &waiting, &done] {
            store.create(run, None).unwrap();
        }
        for (run, status) in [
            (&plain, RunStatus::Running),
            (&idempotent, RunStatus::Running),
            (&done, RunStatus::Succeeded),
        ] {
            let mut run = run.clone();
            run.status = status;
            run.progress = 0.5;
            run.started_at = Some(Utc::now());
            store.update(&run).unwrap();
        }
        // The process is killed here: nothing else is written.
    }
    let store = open(&dir);
    let (recovered, queued) = store.reclaim(&runs_plain_and_safe_again).unwrap();
    assert_eq!(
        recovered,
        Recovered {
            interrupted: vec![plain.id],
            requeued: vec![idempotent.id],
            ..Recovered::default()
        }
    );
    let queued: Vec<_> = queued.iter().map(|r| r.id).collect();
    assert_eq!(queued, [idempotent.id, waiting.id]);

    let failed = store.get(plain.id).unwrap().unwrap();
    assert_eq!(failed.status, RunStatus::Failed);
    assert_eq!(failed.error, Some(RunError::interrupted()));
    assert_eq!(
        failed.error.unwrap().message,
        "interrupted: the server stopped while the run was running"
    );
    assert!(failed.finished_at.is_some());
    assert_eq!(
        failed.logs[0].message,
        "interrupted: the server stopped while the run was running"
    );

    let again = store.get(idempotent.id).unwrap().unwrap();
    assert_eq!(
        (again.status, again.progress, again.started_at),
        (RunStatus::Queued, 0.0, None)
    );
    assert!(
        again.logs[0]
            .message
            .ends_with("queued again because the algorithm is idempotent")
    );
    assert_eq!(
        store.get(done.id).unwrap().unwrap().status,
        RunStatus::Succeeded
    );
    let nothing_running = RunQuery {
        status: vec![RunStatus::Running],
        ..RunQuery::default()
    };
    assert!(store.list(&nothing_running).unwrap().is_empty());
}

/// The lock files of the live nodes (store handles) on `runs.db`.
fn node_files(dir: &tempfile::TempDir) -> usize {
    std::fs::read_dir(dir.path().join("runs.db-nodes"))
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name.to_string_lossy().ends_with(".lock")
        })
        .count()
}

#[test]
fn runs_of_a_live_handle_are_left_alone_and_taken_over_once_it_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let first = open(&dir);
    let mut running = queued("plain");
    first.create(&running, None).unwrap();
    running.status = RunStatus::Running;
    running.started_at = Some(Utc::now());
    first.update(&running).unwrap();
    let waiting = first.create(&queued("plain"), None).unwrap();

    // A second server on the same file: the first one's runs are its own.
    let second = open(&dir);
    assert_eq!(node_files(&dir), 2);
    let (recovered, queued_now) = second.reclaim(&runs_all).unwrap();
    assert_eq!(recovered, Recovered::default());
    assert!(queued_now.is_empty());
    assert_eq!(
        second.get(running.id).unwrap().unwrap().status,
        RunStatus::Running
    );
    let mut cancelled = waiting.clone();
    cancelled.status = RunStatus::Cancelled;
    cancelled.finished_at = Some(Utc::now());
    assert_eq!(
        second.end_unheld(&cancelled).unwrap(),
        Unheld::HeldElsewhere
    );
    assert_eq!(
        second.get(waiting.id).unwrap().unwrap().status,
        RunStatus::Queued
    );

    // The first one is gone: the second takes its runs over, once.
    drop(first);
    assert_eq!(node_files(&dir), 1);
    let (recovered, queued_now) = second.reclaim(&runs_all).unwrap();
    assert_eq!(recovered.interrupted, [running.id]);
    assert_eq!(
        queued_now.iter().map(|r| r.id).collect::<Vec<_>>(),
        [waiting.id]
    );
    let (recovered, queued_now) = second.reclaim(&runs_all).unwrap();
    assert_eq!((recovered, queued_now.len()), (Recovered::default(), 0));

    // A third handle leaves them to the second, which may end them.
    let third = open(&dir);
    let (recovered, queued_now) = third.reclaim(&runs_all).unwrap();
    assert_eq!((recovered, queued_now.len()), (Recovered::default(), 0));
    assert_eq!(third.end_unheld(&cancelled).unwrap(), Unheld::HeldElsewhere);
    assert_eq!(second.end_unheld(&cancelled).unwrap(), Unheld::Ended);
    let ended = third.get(waiting.id).unwrap().unwrap();
    assert_eq!(ended.status, RunStatus::Cancelled);
    // Of two ends, the first is written: a second finds it ended.
    let mut later = cancelled.clone();
    later.finished_at = Some(Utc::now() + chrono::Duration::seconds(1));
    assert_eq!(
        second.end_unheld(&later).unwrap(),
        Unheld::AlreadyEnded(RunStatus::Cancelled)
    );
    assert_eq!(
        second.get(waiting.id).unwrap().unwrap().finished_at,
        ended.finished_at
    );
}

#[test]
fn a_run_of_an_idempotent_algorithm_interrupted_again_and_again_is_failed_rather_than_queued_forever()
 {
    let dir = tempfile::tempdir().unwrap();
    let run = queued("safe_again");
    open(&dir).create(&run, None).unwrap();
    // Each server takes the run over and starts it, then is killed (the run
    // brings it down, say): queued again, until the last time.
    for attempt in 1..=MAX_INTERRUPTIONS {
        let store = open(&dir);
        let (recovered, queued_now) = store.reclaim(&runs_plain_and_safe_again).unwrap();
        if attempt == 1 {
            // Left queued by the first server: taken over as it is.
            assert_eq!(recovered, Recovered::default());
            assert_eq!(queued_now.len(), 1);
        } else {
            assert_eq!(recovered.requeued, [run.id], "attempt {attempt}");
            assert_eq!(queued_now[0].status, RunStatus::Queued);
        }
        start(&store, &run);
    }
    let store = open(&dir);
    let (recovered, queued_now) = store.reclaim(&runs_plain_and_safe_again).unwrap();
    assert_eq!(
        recovered,
        Recovered {
            given_up: vec![run.id],
            ..Recovered::default()
        }
    );
    assert!(queued_now.is_empty());
    let failed = store.get(run.id).unwrap().unwrap();
    assert_eq!(failed.status, RunStatus::Failed);
    let error = failed.error.unwrap();
    assert_eq!(error.kind, "interrupted");
    assert!(
        error.message.contains("3 times") && error.message.contains("not queued again"),
        "{}",
        error.message
    );
    assert_eq!(error.details["interruptions"], 3);
    // Every interruption left a line in the run's log, the last one saying why
    // it stops.
    let messages: Vec<_> = failed.logs.iter().map(|l| l.message.as_str()).collect();
    assert_eq!(messages.len(), 3, "{messages:?}");
    assert!(messages[0].ends_with("queued again because the algorithm is idempotent"));
    assert_eq!(messages[2], error.message);
    assert!(failed.finished_at.is_some());
}

#[test]
fn queued_runs_of_an_algorithm_a_server_lacks_stay_queued_for_one_that_has_it() {
    let dir = tempfile::tempdir().unwrap();
    let (elsewhere, running_elsewhere, plain) = (
        queued("only_elsewhere"),
        queued("only_elsewhere"),
        queued("plain"),
    );
    {
        let first = open(&dir);
        for run in [&elsewhere, &running_elsewhere, &plain] {
            first.create(run, None).unwrap();
        }
        start(&first, &running_elsewhere);
        // Killed.
    }
    let second = open(&dir);
    let (recovered, queued_now) = second.reclaim(&runs_plain_and_safe_again).unwrap();
    // What it can run it takes; a running run is over either way; the
    // queued one it cannot run stays queued, and is reported.
    assert_eq!(
        queued_now.iter().map(|r| r.id).collect::<Vec<_>>(),
        [plain.id]
    );
    assert_eq!(recovered.interrupted, [running_elsewhere.id]);
    assert_eq!(
        recovered.left_queued,
        [(elsewhere.id, "only_elsewhere".to_owned())]
    );
    assert_eq!(
        second.get(elsewhere.id).unwrap().unwrap().status,
        RunStatus::Queued
    );
    // Reported again at every round (the runner logs it once), taken by nobody.
    let (recovered, queued_now) = second.reclaim(&runs_plain_and_safe_again).unwrap();
    assert_eq!(
        (recovered.left_queued.len(), queued_now.len()),
        (1, 0),
        "{recovered:?}"
    );
    // A server that has the algorithm takes it over while the other runs.
    let third = open(&dir);
    let (recovered, queued_now) = third.reclaim(&runs_all).unwrap();
    assert_eq!(recovered, Recovered::default());
    assert_eq!(
        queued_now.iter().map(|r| r.id).collect::<Vec<_>>(),
        [elsewhere.id]
    );
    let (recovered, _) = second.reclaim(&runs_plain_and_safe_again).unwrap();
    assert!(recovered.left_queued.is_empty(), "{recovered:?}");
}

#[test]
fn a_damaged_store_says_how_to_restore_or_recover_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.db");
    drop(SqliteStore::open(&path).unwrap());
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        for _ in 0..50 {
            conn.execute(
                "INSERT INTO runs (id, algorithm, version, params, status, created_at) \
                 VALUES (hex(randomblob(16)), 'a', '1', zeroblob(8192), 'succeeded', '')",
                [],
            )
            .unwrap();
        }
        conn.pragma_update(None, "wal_checkpoint", "TRUNCATE")
            .unwrap();
    }
    // Cut in half, as a copy interrupted midway leaves it.
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = SqliteStore::open(&path).err().unwrap().to_string();
    assert!(
        err.contains("disk image is malformed: the file is damaged; restore it from a backup")
            && err.contains(".recover"),
        "{err}"
    );
}

#[test]
fn prune_deletes_runs_that_ended_before_the_cutoff_and_keeps_those_that_ended_since() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let days_ago = |days: i64| Utc::now() - chrono::Duration::days(days);
    // A run created `created` days ago, ended `ended` days ago (if given).
    let make = |created: i64, ended: Option<i64>, status: RunStatus| {
        let mut run = queued("a_alg");
        run.id = uuid::Uuid::new_v7(uuid::Timestamp::from_unix(
            uuid::NoContext,
            days_ago(created).timestamp() as u64,
            0,
        ));
        run.created_at = days_ago(created);
        let run = store.create(&run, None).unwrap();
        if let Some(ended) = ended {
            let mut ended_run = run.clone();
            ended_run.status = status;
            ended_run.finished_at = Some(days_ago(ended));
            store.update(&ended_run).unwrap();
        }
        run.id
    };
    let old_ended = [
        make(30, Some(29), RunStatus::Succeeded),
        make(20, Some(20), RunStatus::Failed),
        make(10, Some(8), RunStatus::Cancelled),
    ];
    let old_queued = make(30, None, RunStatus::Queued);
    // Ran (or waited) for weeks, ended yesterday, an hour ago: kept.
    let long_run = make(30, Some(1), RunStatus::Succeeded);
    let long_queued = make(40, Some(0), RunStatus::Cancelled);
    let recent = make(1, Some(1), RunStatus::Succeeded);
    let week_ago = days_ago(7);
    // A batch at a time, oldest first.
    assert_eq!(store.prune(week_ago, 2).unwrap(), 2);
    assert!(store.get(old_ended[0]).unwrap().is_none());
    assert!(store.get(old_ended[2]).unwrap().is_some());
    assert_eq!(store.prune(week_ago, 500).unwrap(), 1);
    assert_eq!(store.prune(week_ago, 500).unwrap(), 0);
    assert!(old_ended.iter().all(|id| store.get(*id).unwrap().is_none()));
    // What has not ended, or ended within the week, stays.
    for id in [old_queued, long_run, long_queued, recent] {
        assert!(store.get(id).unwrap().is_some(), "{id} was deleted");
    }
}
