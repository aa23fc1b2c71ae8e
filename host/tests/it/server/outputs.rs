//! Output frames of runs that have none (yet): what the answer says.

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
