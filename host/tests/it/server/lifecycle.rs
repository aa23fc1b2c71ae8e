//! A run's life over HTTP: start (async or waiting), follow its events,
//! download its outputs in every format, cancel it, list runs page by page.

use std::io::{BufRead, BufReader};

use algohost::sdk::polars::prelude::{IpcStreamReader, ParquetReader, SerReader};
use reqwest::Method;
use serde_json::{Value, json};

use super::{Scratch, peak_params};

#[test]
fn a_run_waited_for_answers_200_with_its_summary_and_outputs_in_every_format() {
    let scratch = Scratch::new();
    let server = scratch.start(&[]);

    let reply = server.send(
        server
            .req(Method::POST, "/runs")
            .header("prefer", "wait=30")
            .json(&json!({"algorithm": "peak_shaving", "params": peak_params()})),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    let run = reply.json();
    let id = run["id"].as_str().unwrap();
    assert_eq!(run["status"], "succeeded");
    assert_eq!(run["progress"], 1.0);
    assert_eq!(run["frames"], json!(["schedule"]));
    assert!(run["summary"]["peak_before_kw"].as_f64().unwrap() > 60.0);
    assert_eq!(
        reply.header("location"),
        Some(format!("/runs/{id}").as_str())
    );

    let stored = server.get(&format!("/runs/{id}")).json();
    assert_eq!(stored["summary"], run["summary"]);
    assert!(
        stored["logs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| { l["message"].as_str().unwrap().contains("60 kW") })
    );

    let path = format!("/runs/{id}/outputs/schedule");
    let download = |accept: Option<&str>| {
        let mut req = server.req(Method::GET, &path);
        if let Some(a) = accept {
            req = req.header("accept", a);
        }
        let reply = server.send(req);
        assert_eq!(reply.status, 200, "{}", reply.text());
        reply
    };
    let json_rows = download(None);
    assert_eq!(json_rows.media_type(), "application/json");
    let rows = json_rows.json();
    let height = rows.as_array().unwrap().len();
    assert!(height > 10_000, "{height} rows");
    for column in ["ts", "load_kw", "pv_kw", "battery_kw", "soc_kwh", "grid_kw"] {
        assert!(
            rows[0].get(column).is_some(),
            "{column} missing: {}",
            rows[0]
        );
    }
    assert_eq!(json_rows.header("vary"), Some("accept"));
    assert_eq!(
        json_rows.header("content-disposition"),
        Some(format!("attachment; filename=\"{id}-schedule.json\"").as_str())
    );
    let csv = download(Some("text/csv"));
    assert_eq!(csv.media_type(), "text/csv");
    assert_eq!(csv.text().lines().count(), height + 1);
    // Time stamps in CSV are RFC 3339, as in JSON.
    let first = csv.text().lines().nth(1).unwrap().to_owned();
    let ts = rows[0]["ts"].as_str().unwrap();
    assert!(ts.ends_with("+00:00"), "{ts}");
    assert!(first.starts_with(&format!("{ts},")), "{first} vs {ts}");
    // ?format= names the format (and beats Accept), for links.
    let by_name = server.send(
        server
            .req(Method::GET, &format!("{path}?format=csv"))
            .header("accept", "application/json"),
    );
    assert_eq!(by_name.media_type(), "text/csv");
    assert_eq!(by_name.body, csv.body);
    assert_eq!(
        by_name.header("content-disposition"),
        Some(format!("attachment; filename=\"{id}-schedule.csv\"").as_str())
    );
    let bad = server.get(&format!("{path}?fromat=csv")).problem(400);
    assert!(
        bad["detail"]
            .as_str()
            .unwrap()
            .contains("unknown field 'fromat'"),
        "{bad}"
    );
    // Parquet goes by three names; each gets it, as its registered type.
    for name in ["application/x-parquet", "application/parquet"] {
        let alias = download(Some(name));
        assert_eq!(alias.status, 200, "{name}: {}", alias.text());
        assert_eq!(alias.media_type(), "application/vnd.apache.parquet");
        assert_eq!(
            alias.header("content-disposition"),
            Some(format!("attachment; filename=\"{id}-schedule.parquet\"").as_str())
        );
    }
    let arrow = download(Some("application/vnd.apache.arrow.stream"));
    assert_eq!(arrow.media_type(), "application/vnd.apache.arrow.stream");
    let frame = IpcStreamReader::new(std::io::Cursor::new(arrow.body.clone()))
        .finish()
        .unwrap();
    assert_eq!(frame.height(), height);
    assert_eq!(frame.width(), 6);
    let parquet = download(Some("application/vnd.apache.parquet, */*;q=0.1"));
    assert_eq!(parquet.media_type(), "application/vnd.apache.parquet");
    let frame = ParquetReader::new(std::io::Cursor::new(parquet.body.clone()))
        .finish()
        .unwrap();
    assert_eq!(frame.height(), height);

    let refused = server
        .send(server.req(Method::GET, &path).header("accept", "image/png"))
        .problem(406);
    assert_eq!(
        refused["detail"],
        "cannot produce any of the accepted media types (image/png); available: \
         application/json, application/vnd.apache.arrow.stream, application/vnd.apache.parquet \
         (also application/parquet, application/x-parquet), text/csv"
    );
    let missing = server.get(&format!("/runs/{id}/outputs/nope")).problem(404);
    assert!(
        missing["detail"].as_str().unwrap().contains("schedule"),
        "{missing}"
    );
}

/// The events of a stream, as (id, event, data), until it ends; the id is
/// the event's own `id:` field, `""` for an event without one.
pub fn read_events_with_ids(body: impl std::io::Read) -> Vec<(String, String, Value)> {
    let mut events = Vec::new();
    let (mut id, mut name) = (String::new(), String::new());
    for line in BufReader::new(body).lines() {
        let line = line.unwrap();
        if line.is_empty() {
            id.clear();
        } else if let Some(i) = line.strip_prefix("id:") {
            id = i.trim().to_owned();
        } else if let Some(n) = line.strip_prefix("event:") {
            name = n.trim().to_owned();
        } else if let Some(d) = line.strip_prefix("data:") {
            let data = serde_json::from_str(d.trim()).unwrap();
            events.push((id.clone(), name.clone(), data));
        }
    }
    events
}

/// The events of a stream, as (event, data) pairs, until it ends.
pub fn read_events(body: impl std::io::Read) -> Vec<(String, Value)> {
    let mut events = Vec::new();
    let mut name = String::new();
    for line in BufReader::new(body).lines() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("event:") {
            name = n.trim().to_owned();
        } else if let Some(d) = line.strip_prefix("data:") {
            events.push((name.clone(), serde_json::from_str(d.trim()).unwrap()));
        }
    }
    events
}

#[test]
fn events_stream_progress_in_order_logs_and_the_final_status() {
    let scratch = Scratch::new();
    let server = scratch.start(&["--concurrency", "1"]);
    // Hold the only worker so that the peak shaving run is still queued
    // when the stream opens.
    let blocker = server.submit("waits_for_cancel", json!({}));
    server.wait_for(&blocker, |s| s == "running");
    let id = server.submit("peak_shaving", peak_params());

    let response = server
        .req(Method::GET, &format!("/runs/{id}/events"))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let cancelled = server.post(&format!("/runs/{blocker}/cancel"), &json!({}));
    assert_eq!(cancelled.status, 202, "{}", cancelled.text());
    let reply = server.finish(response);
    let with_ids = read_events_with_ids(reply.body.as_slice());
    // Ids never repeat: each log record's is its number, the final status's
    // is `end`, and status and progress events have none (a reconnecting
    // client resumes after the last record it had).
    let ids: Vec<&str> = with_ids.iter().map(|(i, _, _)| i.as_str()).collect();
    let logs_seen = with_ids.iter().filter(|(_, n, _)| n == "log").count();
    let mut expected_ids: Vec<String> = (1..=logs_seen).map(|i| i.to_string()).collect();
    expected_ids.push("end".to_owned());
    let given: Vec<&str> = ids.iter().copied().filter(|i| !i.is_empty()).collect();
    assert_eq!(given, expected_ids, "{with_ids:?}");
    for (id, name, _) in &with_ids[..with_ids.len() - 1] {
        assert_eq!(id.is_empty(), name != "log", "{with_ids:?}");
    }
    let events: Vec<(String, Value)> = with_ids.into_iter().map(|(_, n, d)| (n, d)).collect();

    let spec = server.spec();
    for (name, data) in &events {
        let schema = match name.as_str() {
            "status" => "StatusEvent",
            "progress" => "ProgressEvent",
            "log" => "LogRecordView",
            other => panic!("unexpected event {other}"),
        };
        spec.validate_component(schema, data)
            .unwrap_or_else(|e| panic!("{name} event {data} does not match {schema}: {e}"));
    }
    let progress: Vec<f64> = events
        .iter()
        .filter(|(n, _)| n == "progress")
        .map(|(_, d)| d["progress"].as_f64().unwrap())
        .collect();
    assert!(progress.len() >= 3, "{events:?}");
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
    assert_eq!(progress.last(), Some(&1.0));
    assert!(
        events
            .iter()
            .any(|(n, d)| n == "log" && d["level"] == "warn")
    );
    let statuses: Vec<&str> = events
        .iter()
        .filter(|(n, _)| n == "status")
        .map(|(_, d)| d["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses.last(), Some(&"succeeded"), "{events:?}");
    assert!(statuses.contains(&"running"), "{statuses:?}");

    // A finished run's stream replays its log records and last progress
    // before its final status; a record's id is its number.
    let stored = server.get(&format!("/runs/{id}")).json();
    let logs = stored["logs"].as_array().unwrap().clone();
    assert!(!logs.is_empty());
    let again = server.get(&format!("/runs/{id}/events"));
    let replayed = read_events_with_ids(again.body.as_slice());
    let mut expected: Vec<(String, String, Value)> = logs
        .iter()
        .enumerate()
        .map(|(i, l)| ((i + 1).to_string(), "log".to_owned(), l.clone()))
        .collect();
    expected.push((
        String::new(),
        "progress".to_owned(),
        json!({"progress": 1.0, "message": stored["progress_message"]}),
    ));
    expected.push((
        "end".to_owned(),
        "status".to_owned(),
        json!({"status": "succeeded"}),
    ));
    assert_eq!(replayed, expected);
    // Last-Event-ID: the records after it.
    let resumed = server.send(
        server
            .req(Method::GET, &format!("/runs/{id}/events"))
            .header("last-event-id", (logs.len() - 1).to_string()),
    );
    let resumed = read_events_with_ids(resumed.body.as_slice());
    assert_eq!(resumed, expected[logs.len() - 1..]);
    // A client that had the final status is told there is no more (204
    // stops a browser's EventSource from reconnecting and replaying it).
    let done = server.send(
        server
            .req(Method::GET, &format!("/runs/{id}/events"))
            .header("last-event-id", "end"),
    );
    assert_eq!(done.status, 204);
    assert!(done.body.is_empty());
    let bad = server
        .send(
            server
                .req(Method::GET, &format!("/runs/{id}/events"))
                .header("last-event-id", "yesterday"),
        )
        .problem(400);
    assert!(bad["detail"].as_str().unwrap().contains("Last-Event-ID"));
    server
        .get("/runs/01890a5d-ac96-774b-bcce-b302099a8057/events")
        .problem(404);
    // A run that has not ended cannot have sent its final status: `end`
    // gets the whole stream, down to the status it ends with.
    let running = server.submit("waits_for_cancel", json!({}));
    server.wait_for(&running, |s| s == "running");
    let stream = server
        .req(Method::GET, &format!("/runs/{running}/events"))
        .header("last-event-id", "end")
        .send()
        .unwrap();
    assert_eq!(stream.status(), 200);
    server.post(&format!("/runs/{running}/cancel"), &json!({}));
    let events = read_events_with_ids(server.finish(stream).body.as_slice());
    assert_eq!(
        events.last(),
        Some(&(
            "end".to_owned(),
            "status".to_owned(),
            json!({"status": "cancelled", "error": {"kind": "cancelled", "message": "the run was cancelled"}})
        )),
        "{events:?}"
    );

    // The final status of a run that failed carries its error.
    let failed = server.send(
        server
            .req(Method::POST, "/runs")
            .header("prefer", "wait=30")
            .json(&json!({"algorithm": "fails"})),
    );
    let failed = failed.json()["id"].as_str().unwrap().to_owned();
    let events = read_events(
        server
            .get(&format!("/runs/{failed}/events"))
            .body
            .as_slice(),
    );
    let (name, last) = events.last().unwrap();
    assert_eq!(name, "status");
    assert_eq!(last["status"], "failed");
    assert_eq!(last["error"]["kind"], "data", "{last}");
    assert!(
        last["error"]["message"]
            .as_str()
            .unwrap()
            .contains("the data source is gone")
    );
    // Run endpoints refuse query parameters they do not take.
    let bad = server
        .get(&format!("/runs/{id}/events?since=3"))
        .problem(400);
    assert!(
        bad["detail"]
            .as_str()
            .unwrap()
            .contains("; this endpoint takes none"),
        "{bad}"
    );
}

/// The log record of a run asked to cancel while it runs.
const CANCEL_REQUESTED: &str = "cancellation requested; the plugin stops at its next cancellation \
     check (ctx.check() or ctx.is_cancelled())";

#[test]
fn cancel_stops_a_running_run_noting_it_in_its_log_and_a_cancelled_run_is_cancelled_again() {
    let scratch = Scratch::new();
    let server = scratch.start(&[]);

    // Prefer: wait answers 202 when the run is still running by then.
    let reply = server.send(
        server
            .req(Method::POST, "/runs")
            .header("prefer", "wait=1")
            .json(&json!({"algorithm": "waits_for_cancel"})),
    );
    assert_eq!(reply.status, 202, "{}", reply.text());
    let id = reply.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(reply.json()["status"], "running");

    // Asked to stop, it is still running: 202, as for a run not finished.
    let cancel = server.post(&format!("/runs/{id}/cancel"), &json!({}));
    assert_eq!(cancel.status, 202, "{}", cancel.text());
    assert_eq!(cancel.json()["status"], "running");
    assert_eq!(
        cancel.header("location"),
        Some(format!("/runs/{id}").as_str())
    );
    // Every answer about one run has the same keys: logs too, the last of
    // which says that the run was asked to stop.
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&cancel.json()), keys(&reply.json()));
    let noted = cancel.json()["logs"].as_array().unwrap().last().cloned();
    let noted = noted.unwrap();
    assert_eq!(
        (&noted["level"], &noted["target"], &noted["message"]),
        (&json!("info"), &json!("algohost"), &json!(CANCEL_REQUESTED)),
        "{noted}"
    );
    assert!(
        reply.json()["timeout"].is_null(),
        "no timeout asked, none set"
    );
    let run = server.wait_for(&id, |s| s != "running");
    assert_eq!(run["status"], "cancelled");
    assert_eq!(keys(&run), keys(&reply.json()));
    let notes = run["logs"].as_array().unwrap().iter();
    assert_eq!(
        notes.filter(|l| l["message"] == CANCEL_REQUESTED).count(),
        1
    );
    // Cancelled again (a client retrying): 200 with the run as it ended.
    let again = server.post(&format!("/runs/{id}/cancel"), &json!({}));
    assert_eq!(again.status, 200, "{}", again.text());
    assert_eq!(again.json(), run);
    // A run that ended otherwise stays as it ended.
    let succeeded = server.send(
        server
            .req(Method::POST, "/runs")
            .header("prefer", "wait=30")
            .json(&json!({"algorithm": "peak_shaving", "params": peak_params()})),
    );
    let succeeded = succeeded.json()["id"].as_str().unwrap().to_owned();
    let refused = server
        .post(&format!("/runs/{succeeded}/cancel"), &json!({}))
        .problem(409);
    assert_eq!(
        refused["detail"],
        format!("run {succeeded} already ended as succeeded")
    );
    server
        .post(
            "/runs/01890a5d-ac96-774b-bcce-b302099a8057/cancel",
            &json!({}),
        )
        .problem(404);

    // With Prefer: wait, the answer comes once the run has stopped.
    let id = server.submit("waits_for_cancel", json!({}));
    server.wait_for(&id, |s| s == "running");
    let stopped = server.send(
        server
            .req(Method::POST, &format!("/runs/{id}/cancel"))
            .header("prefer", "wait=10")
            .json(&json!({})),
    );
    assert_eq!(stopped.status, 200, "{}", stopped.text());
    assert_eq!(stopped.json()["status"], "cancelled");
    assert_eq!(stopped.json()["error"]["kind"], "cancelled");
    assert_eq!(stopped.header("preference-applied"), Some("wait=10"));

    // A run past its own timeout is timed out.
    let reply = server.post(
        "/runs",
        &json!({"algorithm": "waits_for_cancel", "timeout": 0.3}),
    );
    assert_eq!(reply.json()["timeout"], 0.3, "the run shows its timeout");
    let id = reply.json()["id"].as_str().unwrap().to_owned();
    let run = server.wait_for(&id, |s| s != "running" && s != "queued");
    assert_eq!(run["status"], "timed_out", "{run}");
}

#[test]
fn two_cancels_of_a_queued_run_at_once_both_answer_the_run_one_of_them_cancelled() {
    let scratch = Scratch::new();
    let server = scratch.start(&["--concurrency", "1", "--queue", "64"]);
    // The only worker is busy: the runs below stay queued.
    let blocker = server.submit("waits_for_cancel", json!({}));
    server.wait_for(&blocker, |s| s == "running");
    let queued: Vec<String> = (0..30)
        .map(|_| server.submit("waits_for_cancel", json!({})))
        .collect();
    for id in &queued {
        let path = format!("/runs/{id}/cancel");
        let barrier = std::sync::Barrier::new(2);
        let replies: Vec<(u16, Value)> = std::thread::scope(|scope| {
            let cancel = || {
                barrier.wait();
                let reply = server.post(&path, &json!({}));
                (reply.status, reply.json())
            };
            let first = scope.spawn(cancel);
            let second = scope.spawn(cancel);
            vec![first.join().unwrap(), second.join().unwrap()]
        });
        for (status, run) in &replies {
            assert_eq!(*status, 200, "{replies:?}");
            assert_eq!(run["status"], "cancelled", "{replies:?}");
            assert_eq!(run["error"]["kind"], "cancelled", "{replies:?}");
        }
        // One of them ended it: both answers are that one end (the same
        // finished_at), and so is what whoever asks next sees.
        assert_eq!(replies[0].1, replies[1].1);
        assert_eq!(server.get(&format!("/runs/{id}")).json(), replies[0].1);
    }
    let stopped = server.post(&format!("/runs/{blocker}/cancel"), &json!({}));
    assert_eq!(stopped.status, 202, "{}", stopped.text());
}

#[test]
fn a_run_is_read_with_all_its_log_records_only_those_after_the_nth_or_none() {
    let scratch = Scratch::new();
    let server = scratch.start(&[]);
    let reply = server.send(
        server
            .req(Method::POST, "/runs")
            .header("prefer", "wait=30")
            .json(&json!({"algorithm": "peak_shaving", "params": peak_params()})),
    );
    let id = reply.json()["id"].as_str().unwrap().to_owned();
    let read = |query: &str| {
        let reply = server.get(&format!("/runs/{id}{query}"));
        assert_eq!(reply.status, 200, "{query}: {}", reply.text());
        reply.json()
    };
    let full = read("");
    let logs = full["logs"].as_array().unwrap().clone();
    assert!(!logs.is_empty());
    assert_eq!(read("?logs=all"), full);
    // A poll of the status alone: the same run, without its log.
    let mut without = full.clone();
    without.as_object_mut().unwrap().remove("logs");
    assert_eq!(read("?logs=none"), without);
    // A reader that has N records reads the rest.
    for after in [0, 1, logs.len(), logs.len() + 5] {
        let rest = &logs[after.min(logs.len())..];
        assert_eq!(read(&format!("?logs_after={after}"))["logs"], json!(rest));
    }

    // So does a reader of a run that is running.
    let running = server.submit("waits_for_cancel", json!({}));
    server.wait_for(&running, |s| s == "running");
    let cancel = server.post(&format!("/runs/{running}/cancel"), &json!({}));
    assert!([200, 202].contains(&cancel.status), "{}", cancel.text());
    let seen = cancel.json()["logs"].as_array().unwrap().len();
    let noted = server
        .get(&format!("/runs/{running}?logs_after={}", seen - 1))
        .json();
    assert_eq!(noted["logs"][0]["message"], CANCEL_REQUESTED, "{noted}");
    let status = server.get(&format!("/runs/{running}?logs=none")).json();
    assert!(status.get("logs").is_none(), "{status}");

    for (query, detail) in [
        ("?logs=some", "logs: 'some' is not one of all, none"),
        (
            "?logs_after=-1",
            "logs_after must be a whole number of log records (those already read), got '-1'",
        ),
        (
            "?logs=none&logs_after=2",
            "logs=none and logs_after cannot go together: give logs=none for no log records, \
             or logs_after=N for those after the N-th",
        ),
    ] {
        let bad = server.get(&format!("/runs/{id}{query}")).problem(400);
        assert_eq!(bad["detail"], detail, "{query}");
    }
    // An unknown parameter is named, with those the endpoint takes.
    let bad = server.get(&format!("/runs/{id}?verbose=1")).problem(400);
    let detail = bad["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("query parameter verbose: unknown field")
            && detail.contains("logs")
            && detail.contains("logs_after"),
        "{detail}"
    );
}

#[test]
fn prefer_wait_0_waits_not_at_all_and_one_too_long_for_64_bits_is_capped() {
    let scratch = Scratch::new();
    let server = scratch.start_with_env(&[], &[("ALGOHOST_REQUEST_TIMEOUT_SECS", "3")]);
    let post = |prefer: &str| {
        server.send(
            server
                .req(Method::POST, "/runs")
                .header("prefer", prefer)
                .json(&json!({"algorithm": "waits_for_cancel"})),
        )
    };
    // As without Prefer: answered at once, no wait applied.
    let at_once = post("wait=0");
    assert_eq!(at_once.status, 202, "{}", at_once.text());
    assert_eq!(at_once.header("preference-applied"), None);
    // As long a wait as any other beyond the cap: the cap.
    let capped = post("wait=18446744073709551616");
    assert_eq!(capped.status, 202, "{}", capped.text());
    assert_eq!(capped.header("preference-applied"), Some("wait=2"));
    for reply in [at_once, capped] {
        let id = reply.json()["id"].as_str().unwrap().to_owned();
        let stopped = server.send(
            server
                .req(Method::POST, &format!("/runs/{id}/cancel"))
                .header("prefer", "wait=0"),
        );
        assert_eq!(stopped.header("preference-applied"), None);
    }
}

#[test]
fn runs_are_listed_newest_first_with_filters_and_pages() {
    let scratch = Scratch::new();
    let server = scratch.start(&[]);
    let wait = |algorithm: &str| {
        let reply = server.send(
            server
                .req(Method::POST, "/runs")
                .header("prefer", "wait=30")
                .json(&json!({"algorithm": algorithm})),
        );
        assert_eq!(reply.status, 200, "{}", reply.text());
        reply.json()
    };
    let failed = wait("fails");
    let panicked = wait("panics");
    let echoed = wait("echo_frames");
    assert_eq!(failed["error"]["kind"], "data");
    assert!(
        failed["error"]["message"]
            .as_str()
            .unwrap()
            .contains("the data source is gone")
    );
    assert_eq!(panicked["status"], "failed");
    assert_eq!(panicked["error"]["kind"], "panic");
    assert!(
        panicked["error"]["message"]
            .as_str()
            .unwrap()
            .contains("deliberate panic")
    );
    assert_eq!(echoed["status"], "succeeded");

    let ids = |page: &Value| -> Vec<String> {
        page["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let first = server.get("/runs?limit=2").json();
    assert_eq!(
        ids(&first),
        [&echoed["id"], &panicked["id"]].map(|v| v.as_str().unwrap().to_owned())
    );
    assert!(
        first["runs"][0].get("logs").is_none(),
        "listings leave out logs"
    );
    let before = first["next_before"].as_str().unwrap();
    let second = server.get(&format!("/runs?limit=2&before={before}")).json();
    assert_eq!(ids(&second), [failed["id"].as_str().unwrap()]);
    assert!(second["next_before"].is_null());
    // A page that holds exactly the runs left is the last one.
    let exact = server.get(&format!("/runs?limit=1&before={before}")).json();
    assert_eq!(ids(&exact), [failed["id"].as_str().unwrap()]);
    assert!(exact["next_before"].is_null(), "{exact}");
    let all = server.get("/runs?limit=3").json();
    assert_eq!(ids(&all).len(), 3);
    assert!(all["next_before"].is_null(), "{all}");

    let failures = server.get("/runs?status=failed").json();
    assert_eq!(ids(&failures).len(), 2);
    let echoes = server.get("/runs?algorithm=echo_frames").json();
    assert_eq!(ids(&echoes), [echoed["id"].as_str().unwrap()]);
    // Several statuses, comma-separated: 2 failed and 1 succeeded.
    let ended = server.get("/runs?status=failed,succeeded").json();
    assert_eq!(ids(&ended).len(), 3);
    assert_eq!(
        server.get("/runs?status=failed,exploded").problem(400)["detail"],
        "status 'exploded' is not a run status; give one or more of queued, running, succeeded, \
         failed, cancelled, timed_out, separated by commas"
    );
    // Given twice: the way to give several is said.
    assert_eq!(
        server
            .get("/runs?status=queued&status=running")
            .problem(400)["detail"],
        "query parameter status is given twice; give several values once, separated by commas \
         (status=a,b)"
    );
    for limit in ["0", "-1", "1.5", "1001", "ten"] {
        let bad = server.get(&format!("/runs?limit={limit}")).problem(400);
        assert_eq!(
            bad["detail"],
            format!("limit must be a whole number from 1 to 1000, got '{limit}'")
        );
    }
    let spec = server.spec().doc();
    let limit = spec["paths"]["/runs"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .unwrap()
        .clone();
    assert_eq!(limit["schema"]["minimum"], 1, "{limit}");
    assert_eq!(limit["schema"]["maximum"], 1000, "{limit}");
}

#[test]
fn an_idempotency_key_returns_the_same_run_for_the_same_body() {
    let scratch = Scratch::new();
    let server = scratch.start(&[]);
    let post = |key: &str, body: Value| {
        server.send(
            server
                .req(Method::POST, "/runs")
                .header("idempotency-key", key)
                .json(&body),
        )
    };
    let body = json!({"algorithm": "fails", "params": {}});
    let first = post("k-1", body.clone());
    assert_eq!(first.status, 202, "{}", first.text());
    let id = first.json()["id"].as_str().unwrap().to_owned();
    server.wait_for(&id, |s| s == "failed");
    // The replay of a run that has finished answers 200 without `Prefer`,
    // with its Location, as documented.
    let second = post("k-1", body.clone());
    assert_eq!(second.status, 200, "{}", second.text());
    assert_eq!(second.json()["id"], id.as_str());
    assert_eq!(second.json()["status"], "failed");
    assert_eq!(
        second.header("location"),
        Some(format!("/runs/{id}").as_str())
    );
    let create = &server.spec().doc()["paths"]["/runs"]["post"];
    assert!(
        create["responses"]["200"]["headers"]["Location"].is_object(),
        "{create}"
    );
    let described = create["responses"]["200"]["description"].as_str().unwrap();
    assert!(described.contains("Idempotency-Key"), "{described}");
    let other = post("k-1", json!({"algorithm": "panics", "params": {}})).problem(409);
    assert!(other["detail"].as_str().unwrap().contains("k-1"), "{other}");
    // Once the run is deleted, the key makes a new run.
    let deleted = server.send(server.req(Method::DELETE, &format!("/runs/{id}")));
    assert_eq!(deleted.status, 204, "{}", deleted.text());
    let third = post("k-1", body);
    assert_eq!(third.status, 202, "{}", third.text());
    assert_ne!(third.json()["id"], id.as_str());
}

#[test]
fn a_run_that_ended_is_deleted_with_its_outputs_and_an_unfinished_one_is_refused() {
    let scratch = Scratch::new();
    let server = scratch.start(&[]);
    let delete = |id: &str| server.send(server.req(Method::DELETE, &format!("/runs/{id}")));

    // Running: refused, with what to do.
    let running = server.submit("waits_for_cancel", json!({}));
    server.wait_for(&running, |s| s == "running");
    let refused = delete(&running).problem(409);
    assert_eq!(
        refused["detail"],
        format!(
            "run {running} is running: only a run that ended can be deleted; cancel it first \
             (POST /runs/{running}/cancel), then delete it once it has ended"
        )
    );
    server.post(&format!("/runs/{running}/cancel"), &json!({}));
    server.wait_for(&running, |s| s == "cancelled");

    // Finished with outputs and an idempotency key: all of it goes.
    let body = json!({"algorithm": "echo_frames", "params": {"names": ["site.pv"]}});
    let keyed = |body: &Value| {
        server.send(
            server
                .req(Method::POST, "/runs")
                .header("idempotency-key", "delete-me")
                .header("prefer", "wait=30")
                .json(body),
        )
    };
    let done = keyed(&body);
    assert_eq!(done.status, 200, "{}", done.text());
    let id = done.json()["id"].as_str().unwrap().to_owned();
    let output = format!("/runs/{id}/outputs/echo");
    assert_eq!(server.get(&output).status, 200);

    let deleted = delete(&id);
    assert_eq!(deleted.status, 204, "{}", deleted.text());
    assert!(deleted.body.is_empty());
    server.get(&format!("/runs/{id}")).problem(404);
    server.get(&output).problem(404);
    let listed = server.get("/runs").json();
    assert!(
        listed["runs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["id"] != id.as_str()),
        "{listed}"
    );
    delete(&id).problem(404);
    // The key makes a new run now.
    let again = keyed(&body);
    assert_eq!(again.status, 200, "{}", again.text());
    assert_ne!(again.json()["id"], id.as_str());

    // The cancelled one can go too; it survives no restart.
    assert_eq!(delete(&running).status, 204);
    drop(server);
    let server = scratch.start(&[]);
    server.get(&format!("/runs/{running}")).problem(404);
    server.get(&format!("/runs/{id}")).problem(404);
}
