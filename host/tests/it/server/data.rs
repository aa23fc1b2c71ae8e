//! The data API: data points and their samples as JSON and Arrow IPC.

use algohost::sdk::polars::prelude::{
    Column, DataFrame, DataType, IntoColumn, IpcStreamReader, IpcStreamWriter, NewChunkedArray,
    SerReader, SerWriter, TimeUnit, TimeZone,
};
use reqwest::Method;
use serde_json::{Value, json};

use super::Scratch;

fn load_id(server: &super::Server) -> i64 {
    let list = server.get("/data-points?names=site.load").json();
    assert_eq!(list["data_points"].as_array().unwrap().len(), 1, "{list}");
    list["data_points"][0]["id"].as_i64().unwrap()
}

#[test]
fn data_points_are_listed_filtered_and_read() {
    let scratch = Scratch::new();
    let server = scratch.start(&[]);

    let all = server.get("/data-points").json();
    assert_eq!(all["data_points"].as_array().unwrap().len(), 3, "{all}");
    let power = server
        .get("/data-points?quantity=power&tags=site=demo")
        .json();
    let names: Vec<&str> = power["data_points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["site.load", "site.pv"]);
    server.get("/data-points?tags=site").problem(400);
    server.get("/data-points?ids=one").problem(400);

    let id = load_id(&server);
    let point = server.get(&format!("/data-points/{id}")).json();
    assert_eq!(point["resolution"], "PT15M");
    assert_eq!(point["time_zone"], "Europe/Berlin");
    server.get("/data-points/999").problem(404);

    let hour = "start=2026-02-01T00:00:00Z&end=2026-02-01T01:00:00Z";
    let samples = server
        .get(&format!("/data-points/{id}/samples?{hour}"))
        .json();
    let samples = samples.as_array().unwrap();
    assert_eq!(samples.len(), 4);
    assert_eq!(samples[1]["ts"], "2026-02-01T00:15:00+00:00");
    let mean: f64 = samples
        .iter()
        .map(|s| s["value"].as_f64().unwrap())
        .sum::<f64>()
        / 4.0;
    let hourly = server
        .get(&format!("/data-points/{id}/samples?{hour}&resolution=PT1H"))
        .json();
    assert!(
        (hourly[0]["value"].as_f64().unwrap() - mean).abs() < 1e-9,
        "{hourly}"
    );

    let arrow = server.send(
        server
            .req(Method::GET, &format!("/data-points/{id}/samples?{hour}"))
            .header("accept", "application/vnd.apache.arrow.stream"),
    );
    assert_eq!(arrow.status, 200);
    let frame = IpcStreamReader::new(std::io::Cursor::new(arrow.body.clone()))
        .finish()
        .unwrap();
    assert_eq!(frame.get_column_names(), ["ts", "value"]);
    assert_eq!(frame.height(), 4);

    let bad = server
        .get(&format!("/data-points/{id}/samples?resolution=PT7X"))
        .problem(400);
    assert!(
        bad["detail"].as_str().unwrap().contains("ISO 8601"),
        "{bad}"
    );
    server.get("/data-points/999/samples").problem(404);
    server
        .send(
            server
                .req(Method::GET, &format!("/data-points/{id}/samples"))
                .header("accept", "application/xml"),
        )
        .problem(406);
}

fn arrow_samples(ts_ms: &[i64], values: &[f64]) -> Vec<u8> {
    let ts = algohost::sdk::polars::prelude::Int64Chunked::from_slice("ts".into(), ts_ms)
        .into_datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC))
        .into_column();
    let mut frame =
        DataFrame::new_infer_height(vec![ts, Column::new("value".into(), values)]).unwrap();
    assert!(matches!(
        frame.column("ts").unwrap().dtype(),
        DataType::Datetime(..)
    ));
    let mut out = Vec::new();
    IpcStreamWriter::new(&mut out).finish(&mut frame).unwrap();
    out
}

#[test]
fn samples_are_written_as_json_or_arrow_and_read_back() {
    let scratch = Scratch::new();
    let server = scratch.start(&[]);
    let id = load_id(&server);
    let path = format!("/data-points/{id}/samples");

    let rows = json!([
        {"ts": "2030-01-01T00:00:00Z", "value": 1.5},
        {"ts": "2030-01-01T00:15:00Z", "value": null},
    ]);
    let written = server.post(&path, &rows);
    assert_eq!(written.status, 200, "{}", written.text());
    assert_eq!(written.json(), json!({"data_point_id": id, "written": 2}));

    // 2030-01-01T00:30:00Z in ms, sent as a millisecond timestamp.
    let ms = 1_893_457_800_000;
    let arrow = server.send(
        server
            .req(Method::POST, &path)
            .header("content-type", "application/vnd.apache.arrow.stream")
            .body(arrow_samples(&[ms], &[4.0])),
    );
    assert_eq!(arrow.status, 200, "{}", arrow.text());

    let back = server
        .get(&format!("{path}?start=2030-01-01T00:00:00Z"))
        .json();
    assert_eq!(
        back,
        json!([
            {"ts": "2030-01-01T00:00:00+00:00", "value": 1.5},
            {"ts": "2030-01-01T00:15:00+00:00", "value": null},
            {"ts": "2030-01-01T00:30:00+00:00", "value": 4.0},
        ])
    );

    let bad: Value = server
        .post(&path, &json!([{"ts": "yesterday", "value": 1}]))
        .problem(400);
    assert!(
        bad["detail"].as_str().unwrap().contains("RFC 3339"),
        "{bad}"
    );
    server
        .send(
            server
                .req(Method::POST, &path)
                .header("content-type", "text/plain")
                .body("1,2"),
        )
        .problem(415);
    server
        .send(
            server
                .req(Method::POST, &path)
                .header("content-type", "application/vnd.apache.arrow.stream")
                .body("not arrow"),
        )
        .problem(400);
    server.post("/data-points/999/samples", &rows).problem(404);
}
