//! Output frames of runs that have none (yet): what the answer says; a
//! client that leaves in the middle of a large download.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::json;

use super::Scratch;

#[test]
fn outputs_of_a_running_run_are_409_and_of_a_failed_run_404_saying_why() {
    let scratch = Scratch::new();
    let server = scratch.start(&[]);
    let running = server.submit("waits_for_cancel", json!({}));
    server.wait_for(&running, |s| s == "running");
    let early = server
        .get(&format!("/runs/{running}/outputs/schedule"))
        .problem(409);
    assert_eq!(
        early["detail"],
        format!(
            "run {running} is running: its output frames are there once it has succeeded; \
             follow it at /runs/{running} or /runs/{running}/events"
        )
    );
    server.post(&format!("/runs/{running}/cancel"), &json!({}));
    server.wait_for(&running, |s| s == "cancelled");
    let none = server
        .get(&format!("/runs/{running}/outputs/schedule"))
        .problem(404);
    assert_eq!(
        none["detail"],
        format!(
            "run {running} ended cancelled, so it has no output frames (only a run that \
             succeeded has them); GET /runs/{running} says why"
        )
    );
}

#[test]
fn a_client_leaving_in_the_middle_of_a_large_download_is_no_error_in_the_log() {
    let scratch = Scratch::new();
    let server = scratch.start_with_env(&[], &[("ALGOHOST_LOG", "info,algohost::server=debug")]);
    // 64 MB as an Arrow stream: more than the stream and the sockets hold
    // (a loopback socket's receive buffer alone may grow to 32 MB).
    let id = server.submit("series", json!({"rows": 4_000_000}));
    let run = server.wait_for(&id, |s| s != "queued" && s != "running");
    assert_eq!(run["status"], "succeeded", "{run}");

    let address = server.url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "GET /runs/{id}/outputs/series HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: \
         application/vnd.apache.arrow.stream\r\n\r\n"
    )
    .unwrap();
    let mut start = [0; 64 * 1024];
    stream.read_exact(&mut start).unwrap();
    assert!(String::from_utf8_lossy(&start).starts_with("HTTP/1.1 200 OK"));
    drop(stream);

    let deadline = Instant::now() + Duration::from_secs(30);
    while !server
        .logs()
        .contains("the client went away while a frame was sent")
    {
        assert!(Instant::now() < deadline, "{}", server.logs());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!server.logs().contains("ERROR"), "{}", server.logs());
    // The next client gets all of it.
    let whole = server.send(
        server
            .req(reqwest::Method::GET, &format!("/runs/{id}/outputs/series"))
            .header("accept", "application/vnd.apache.arrow.stream"),
    );
    assert_eq!(whole.status, 200);
    assert!(whole.body.len() > 64_000_000, "{}", whole.body.len());
}
