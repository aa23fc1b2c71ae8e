//! Backpressure, restarts and shutdown: a full queue answers 503 while the
//! probes stay live; a killed server loses no finished run; SIGTERM drains.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use super::{Scratch, peak_params};

#[test]
fn a_full_queue_answers_503_with_retry_after_and_health_stays_live() {
    let scratch = Scratch::new();
    let server = scratch.start(&["--concurrency", "1", "--queue", "2"]);
    let running = server.submit("waits_for_cancel", json!({}));
    server.wait_for(&running, |s| s == "running");
    let queued = [
        server.submit("waits_for_cancel", json!({})),
        server.submit("waits_for_cancel", json!({})),
    ];

    let full = server.post("/runs", &json!({"algorithm": "waits_for_cancel"}));
    let problem = full.problem(503);
    assert_eq!(problem["type"], "urn:algohost:problem:queue-full");
    let retry: u64 = full.header("retry-after").unwrap().parse().unwrap();
    assert!(retry >= 1);
    assert_eq!(
        problem["detail"],
        format!(
            "the queue of Rust runs is full (2 runs waiting for a worker, as many as it holds); \
             try again in {retry} s"
        )
    );

    // The only worker is busy and the queue is full; the probes answer.
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    for probe in ["/health", "/ready"] {
        let reply = client.get(format!("{}{probe}", server.url)).send().unwrap();
        assert_eq!(reply.status(), 200);
    }
    let metrics = server.get("/metrics").text();
    assert!(metrics.contains("algohost_queue_depth 2"), "{metrics}");
    assert!(metrics.contains("algohost_runs_running 1"), "{metrics}");
    assert!(metrics.contains("algohost_runs_abandoned 0"), "{metrics}");
    assert!(metrics.contains("status=\"503\"} 1"), "{metrics}");
    // Backpressure working as designed is no error in the log: an alert
    // on ERROR lines must not fire on a busy server.
    assert!(!server.logs().contains("ERROR"), "{}", server.logs());

    // A queued run is cancelled at once; its slot takes a new run.
    let cancelled = server.post(&format!("/runs/{}/cancel", queued[0]), &json!({}));
    assert_eq!(cancelled.status, 200, "{}", cancelled.text());
    assert_eq!(
        cancelled.json()["status"],
        "cancelled",
        "{}",
        cancelled.text()
    );
    let more = server.post("/runs", &json!({"algorithm": "fails"}));
    assert_eq!(more.status, 202, "{}", more.text());
    for id in [&running, &queued[1]] {
        server.post(&format!("/runs/{id}/cancel"), &json!({}));
    }
}

#[test]
fn a_killed_server_keeps_finished_runs_and_leaves_nothing_running() {
    let scratch = Scratch::new();
    let server = scratch.start(&["--concurrency", "1"]);
    let done = server.send(
        server
            .req(Method::POST, "/runs")
            .header("prefer", "wait=30")
            .json(&json!({"algorithm": "echo_frames", "params": {"names": ["site.pv"]}})),
    );
    assert_eq!(done.status, 200, "{}", done.text());
    let done = done.json();
    let done_id = done["id"].as_str().unwrap().to_owned();
    let outputs = |server: &super::Server| {
        ["echo", "types"].map(|frame| {
            let reply = server.send(
                server
                    .req(Method::GET, &format!("/runs/{done_id}/outputs/{frame}"))
                    .header("accept", "application/vnd.apache.arrow.stream"),
            );
            assert_eq!(reply.status, 200, "{}", reply.text());
            reply.body
        })
    };
    let before = outputs(&server);
    let interrupted = server.submit("waits_for_cancel", json!({}));
    server.wait_for(&interrupted, |s| s == "running");
    let queued = server.submit("fails", json!({}));
    server.kill();

    let server = scratch.start(&["--concurrency", "1"]);
    let after = server.get(&format!("/runs/{done_id}")).json();
    assert_eq!(after["status"], "succeeded");
    assert_eq!(after["summary"], done["summary"]);
    assert_eq!(
        outputs(&server),
        before,
        "outputs changed across the restart"
    );

    let run = server.get(&format!("/runs/{interrupted}")).json();
    assert_eq!(run["status"], "failed", "{run}");
    assert!(
        run["error"]["message"]
            .as_str()
            .unwrap()
            .contains("interrupted"),
        "{run}"
    );
    // The run that was queued runs after the restart.
    let run = server.wait_for(&queued, |s| s != "queued" && s != "running");
    assert_eq!(run["status"], "failed");
    assert_eq!(run["error"]["kind"], "data", "{run}");
    let running = server.get("/runs?status=running").json();
    assert_eq!(running["runs"], json!([]));
}

#[test]
fn servers_sharing_a_store_keep_to_their_own_runs_and_take_over_those_of_one_killed() {
    let scratch = Scratch::new();
    let first = scratch.start(&["--concurrency", "2"]);
    let running = first.submit("waits_for_cancel", json!({}));
    first.wait_for(&running, |s| s == "running");
    let keyed = first.send(
        first
            .req(Method::POST, "/runs")
            .header("idempotency-key", "shared-1")
            .json(&json!({"algorithm": "waits_for_cancel"})),
    );
    assert_eq!(keyed.status, 202, "{}", keyed.text());
    let keyed = keyed.json()["id"].as_str().unwrap().to_owned();
    first.wait_for(&keyed, |s| s == "running");

    // A second server on the same store leaves the first one's runs alone.
    let second = scratch.start(&["--concurrency", "1"]);
    let run = second.get(&format!("/runs/{running}")).json();
    assert_eq!(run["status"], "running", "{run}");
    // A retry that reaches the second server waits for the run on the
    // first one to end.
    let retried = std::thread::scope(|scope| {
        let retry = scope.spawn(|| {
            second.send(
                second
                    .req(Method::POST, "/runs")
                    .header("idempotency-key", "shared-1")
                    .header("prefer", "wait=30")
                    .json(&json!({"algorithm": "waits_for_cancel"})),
            )
        });
        std::thread::sleep(Duration::from_millis(300));
        first.post(&format!("/runs/{keyed}/cancel"), &json!({}));
        retry.join().unwrap()
    });
    assert_eq!(retried.status, 200, "{}", retried.text());
    assert_eq!(retried.json()["id"], keyed.as_str());
    assert_eq!(retried.json()["status"], "cancelled");
    // Both workers of the first server busy again: its next run waits.
    let again = first.submit("waits_for_cancel", json!({}));
    first.wait_for(&again, |s| s == "running");
    let queued = first.submit("fails", json!({}));
    assert_eq!(
        second.get(&format!("/runs/{queued}")).json()["status"],
        "queued"
    );

    let refused = second.post(&format!("/runs/{queued}/cancel"), &json!({}));
    let detail = refused.problem(409)["detail"].as_str().unwrap().to_owned();
    assert_eq!(
        detail,
        format!(
            "run {queued} is held by another algohost server that shares this run store; cancel it through that server"
        )
    );
    let own = second.submit("fails", json!({}));
    assert_eq!(
        second.wait_for(&own, |s| s == "failed")["error"]["kind"],
        "data"
    );

    // The second server streams the events of the first one's run.
    let events = second
        .req(Method::GET, &format!("/runs/{running}/events"))
        .send()
        .unwrap();
    assert_eq!(events.status(), 200);

    // Killed, the first one holds nothing: the second takes its runs over
    // (within its 5 s round), failing the one that ran and running the
    // one that waited.
    first.kill();
    let events = super::lifecycle::read_events(second.finish(events).body.as_slice());
    let statuses: Vec<_> = events
        .iter()
        .filter(|(name, _)| name == "status")
        .map(|(_, data)| data["status"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(statuses, ["running", "failed"], "{events:?}");
    let run = second.wait_for(&running, |s| s != "running");
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(
        run["error"]["message"],
        "interrupted: the server stopped while the run was running"
    );
    let run = second.wait_for(&queued, |s| s != "queued" && s != "running");
    assert_eq!(run["error"]["kind"], "data", "{run}");
    assert!(
        second
            .logs()
            .contains("run left queued by a server that stopped taken over"),
        "{}",
        second.logs()
    );
}

#[test]
fn queued_runs_a_restarted_server_has_no_plugin_for_stay_queued_until_one_that_has_it_runs_them() {
    let scratch = Scratch::new();
    let server = scratch.start(&["--concurrency", "1"]);
    let running = server.submit("waits_for_cancel", json!({}));
    server.wait_for(&running, |s| s == "running");
    let queued = server.submit("fails", json!({}));
    server.kill();

    // Restarted without the plugin of both runs (moved out of the plugin
    // directory): the run that was running is over either way; the queued
    // one is not failed as unknown, but left queued, and the log says so.
    let plugins = scratch.path().join("plugins");
    let aside = scratch.path().join("libalgohost_fixture_echo.so");
    std::fs::rename(plugins.join("libalgohost_fixture_echo.so"), &aside).unwrap();
    let server = scratch.start(&["--concurrency", "1"]);
    let run = server.wait_for(&running, |s| s != "running");
    assert_eq!(run["error"]["kind"], "interrupted", "{run}");
    assert_eq!(
        server.get(&format!("/runs/{queued}")).json()["status"],
        "queued"
    );
    let logs = server.logs();
    assert!(
        logs.contains("stays queued: this server has no algorithm 'fails'"),
        "{logs}"
    );
    server.kill();

    // With the plugin back, the next start runs it.
    std::fs::rename(&aside, plugins.join("libalgohost_fixture_echo.so")).unwrap();
    let server = scratch.start(&["--concurrency", "1"]);
    let run = server.wait_for(&queued, |s| s != "queued" && s != "running");
    assert_eq!(run["status"], "failed");
    assert_eq!(run["error"]["kind"], "data", "{run}");
}

#[test]
fn sigterm_lets_runs_finish_within_the_grace_and_interrupts_the_rest() {
    let scratch = Scratch::new();
    let server = scratch.start_with_env(&[], &[("ALGOHOST_SHUTDOWN_GRACE_SECS", "1")]);
    let finished = server.submit("peak_shaving", peak_params());
    let stuck = server.submit("waits_for_cancel", json!({}));
    server.wait_for(&stuck, |s| s == "running");
    let started = Instant::now();
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(30));

    let server = scratch.start(&[]);
    let run = server.wait_for(&finished, |s| s != "queued" && s != "running");
    assert_eq!(run["status"], "succeeded", "{run}");
    let run = server.get(&format!("/runs/{stuck}")).json();
    assert_eq!(run["status"], "failed", "{run}");
    assert!(
        run["error"]["message"]
            .as_str()
            .unwrap()
            .contains("interrupted"),
        "{run}"
    );
}

#[test]
fn during_the_grace_after_sigterm_the_server_answers_not_ready_refuses_runs_and_serves_reads() {
    let scratch = Scratch::new();
    let server = scratch.start_with_env(&[], &[("ALGOHOST_SHUTDOWN_GRACE_SECS", "3")]);
    let stuck = server.submit("waits_for_cancel", json!({}));
    server.wait_for(&stuck, |s| s == "running");
    server.send_signal("TERM");
    // A load balancer probing /ready sees it drain (the port stays open).
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.get("/ready").status != 503 {
        assert!(Instant::now() < deadline, "/ready never answered 503");
        std::thread::sleep(Duration::from_millis(20));
    }
    let refused = server
        .post("/runs", &json!({"algorithm": "waits_for_cancel"}))
        .problem(503);
    assert_eq!(refused["type"], "urn:algohost:problem:shutting-down");
    // Reads go on: the run is still running until the grace ends.
    let run = server.get(&format!("/runs/{stuck}"));
    assert_eq!(run.status, 200);
    assert_eq!(run.json()["status"], "running");
    assert_eq!(server.get("/health").status, 200);
    assert!(server.wait_exit("TERM").success());
}

#[test]
fn a_request_waiting_for_a_queued_run_at_sigterm_is_answered_with_the_run() {
    let scratch = Scratch::new();
    let server = scratch.start_with_env(
        &["--concurrency", "1"],
        &[("ALGOHOST_SHUTDOWN_GRACE_SECS", "1")],
    );
    let stuck = server.submit("waits_for_cancel", json!({}));
    server.wait_for(&stuck, |s| s == "running");
    // Queued behind it, with a client waiting for it to end.
    let url = format!("{}/runs", server.url);
    let waiting = std::thread::spawn(move || {
        reqwest::blocking::Client::new()
            .post(url)
            .header("prefer", "wait=25")
            .json(&json!({"algorithm": "waits_for_cancel"}))
            .send()
            .unwrap()
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while !server
        .get("/metrics")
        .text()
        .contains("algohost_queue_depth 1")
    {
        assert!(Instant::now() < deadline, "the second run was never queued");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(server.terminate().success());

    // Answered as it stands (it will not start before the next start),
    // not dropped with the connection.
    let reply = waiting.join().unwrap();
    assert_eq!(reply.status(), 202);
    let location = reply.headers()["location"].to_str().unwrap().to_owned();
    let run: serde_json::Value = reply.json().unwrap();
    assert_eq!(run["status"], "queued", "{run}");
    assert_eq!(location, format!("/runs/{}", run["id"].as_str().unwrap()));
    // Stored: the next start has it.
    let server = scratch.start(&[]);
    assert_eq!(server.get(&location).status, 200);
}

#[test]
fn a_data_directory_that_cannot_be_written_answers_503_with_why() {
    let scratch = Scratch::new();
    let server = scratch.start(&[]);
    let defined = server.post(
        "/data-points",
        &json!({"data_points": [{"name": "x.meter", "quantity": "power", "unit": "kW",
                                 "resolution": "PT15M", "time_zone": "UTC"}]}),
    );
    assert_eq!(defined.status, 200, "{}", defined.text());
    let id = defined.json()["data_points"][0]["id"].as_i64().unwrap();
    // Where the samples go is no directory: every write there fails, as on
    // a full disk or a read-only mount.
    let samples = scratch.path().join("data").join("samples");
    std::fs::remove_dir_all(&samples).unwrap();
    std::fs::write(&samples, "not a directory").unwrap();
    let write = server.post(
        &format!("/data-points/{id}/samples"),
        &json!([{"ts": "2026-02-01T00:00:00Z", "value": 1.5}]),
    );
    let detail = write.unavailable("data-unavailable", "5");
    assert!(
        detail.contains("the data directory cannot be written")
            && detail.contains("check that it is writable and has free space"),
        "{detail}"
    );
}

#[test]
fn sighup_drains_as_sigterm_does() {
    let scratch = Scratch::new();
    let server = scratch.start_with_env(&[], &[("ALGOHOST_SHUTDOWN_GRACE_SECS", "10")]);
    let finished = server.submit("peak_shaving", peak_params());
    server.wait_for(&finished, |s| s != "queued");
    let stderr = server.stderr.clone();
    let status = server.signal("HUP");
    assert!(status.success(), "{status:?}");
    let logs = stderr.lock().unwrap().clone();
    for line in ["SIGHUP received", "shutting down", "algohost serve stopped"] {
        assert!(logs.contains(line), "{line} missing from\n{logs}");
    }

    // The run in flight finished within the grace, as with SIGTERM.
    let server = scratch.start(&[]);
    let run = server.get(&format!("/runs/{finished}")).json();
    assert_eq!(run["status"], "succeeded", "{run}");
}

#[test]
fn serve_waits_at_start_up_for_the_algohost_it_reads_from() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let source = Scratch::new();
    // The other server comes up 4 s after this one started (longer than
    // the retries of a request, about 3 s).
    let coming = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(4));
        let server = source.start(&["--bind", &format!("127.0.0.1:{port}")]);
        (source, server)
    });
    let scratch = Scratch::new();
    let front = scratch.start_with_data(&format!("http://127.0.0.1:{port}"), &[]);
    let (_source, _server) = coming.join().unwrap();
    let points = front.get("/data-points").json();
    assert_eq!(
        points["data_points"].as_array().map(Vec::len),
        Some(3),
        "{points}"
    );
    assert!(
        front
            .logs()
            .contains("the data API is unavailable; retrying"),
        "{}",
        front.logs()
    );
}
