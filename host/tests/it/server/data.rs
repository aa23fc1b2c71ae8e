//! The data API: data points and their samples as JSON and Arrow IPC.

use algohost::sdk::polars::prelude::{
    Column, DataFrame, DataType, IntoColumn, IpcCompression, IpcStreamReader, IpcStreamWriter,
    NewChunkedArray, SerReader, SerWriter, TimeUnit, TimeZone,
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
fn a_server_started_without_data_says_so_on_every_data_endpoint() {
    let scratch = Scratch::new();
    let server = super::Server::spawn(scratch.command_without_data(&[]));
    let answers = [
        server.get("/data-points"),
        server.get("/data-points/1"),
        server.get("/data-points/1/samples"),
        server.get("/samples?names=site.load"),
        server.get("/flows"),
        server.post(
            "/data-points",
            &json!({"data_points": [{"name": "meter.x", "quantity": "power", "unit": "kW", "resolution": "PT15M"}]}),
        ),
    ];
    for reply in answers {
        let problem = reply.problem(503);
        assert_eq!(problem["type"], "urn:algohost:problem:no-data", "{problem}");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("started without data, so it has none to serve: restart `algohost serve` with --data DIR"),
            "{problem}"
        );
        // Not a state that passes: nothing to retry after.
        assert_eq!(reply.header("retry-after"), None);
    }
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

#[test]
fn reads_refuse_start_and_end_finer_than_a_microsecond() {
    let scratch = Scratch::new();
    let server = scratch.start(&[]);
    let id = load_id(&server);
    // Cut to the microsecond, such a start would take in the sample before
    // it and such an end leave out the one before it: refused with the
    // parameter, as writes refuse such a ts.
    for path in [
        format!("/data-points/{id}/samples?"),
        "/samples?names=site.load&".to_owned(),
    ] {
        for (query, expected) in [
            (
                "start=2026-02-01T00:00:00.0000001Z&end=2026-02-01T01:00:00Z",
                "start: '2026-02-01T00:00:00.0000001Z' has a fraction of a microsecond, finer \
                 than the microseconds algohost keeps; give it to the microsecond at most (six \
                 digits after the seconds' point), such as 2026-02-01T00:00:00.000000Z",
            ),
            (
                "start=2026-02-01T00:00:00Z&end=2026-02-01T01:15:00.000000999%2B01:00",
                "end: '2026-02-01T01:15:00.000000999+01:00' has a fraction of a microsecond, \
                 finer than the microseconds algohost keeps; give it to the microsecond at most \
                 (six digits after the seconds' point), such as 2026-02-01T00:15:00.000000Z",
            ),
        ] {
            let bad = server.get(&format!("{path}{query}")).problem(400);
            assert_eq!(bad["detail"], expected, "{path}{query}");
        }
        // To the microsecond is taken as it is.
        let samples = server
            .get(&format!(
                "{path}start=2026-02-01T00:00:00.000001Z&end=2026-02-01T00:15:00.000001Z"
            ))
            .json();
        assert_eq!(samples.as_array().unwrap().len(), 1, "{path}: {samples}");
    }
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
    ipc_stream(&mut frame, None)
}

/// `frame` as an Arrow IPC stream, its record batches compressed or not.
fn ipc_stream(frame: &mut DataFrame, compression: Option<IpcCompression>) -> Vec<u8> {
    let mut out = Vec::new();
    IpcStreamWriter::new(&mut out)
        .with_compression(compression)
        .finish(frame)
        .unwrap();
    out
}

/// POSTs `body` to `path` as an Arrow IPC stream.
fn post_arrow(server: &super::Server, path: &str, body: Vec<u8>) -> super::Reply {
    server.send(
        server
            .req(Method::POST, path)
            .header("content-type", "application/vnd.apache.arrow.stream")
            .body(body),
    )
}

#[test]
fn an_arrow_stream_of_decimals_is_refused_with_what_to_do() {
    let scratch = Scratch::new();
    let server = scratch.start(&[]);
    let id = load_id(&server);
    let script = format!(
        "{}table = table.rename_columns(['ts', 'value'])\n\
         with pa.ipc.new_stream('money.arrows', table.schema) as out:\n    out.write_table(table)\n",
        crate::common::DECIMAL_TABLE
    );
    crate::common::venv_python(scratch.path(), &script);
    let body = std::fs::read(scratch.path().join("money.arrows")).unwrap();
    // Polars (without its decimal feature) panicked on the body.
    let problem = post_arrow(&server, &format!("/data-points/{id}/samples"), body).problem(400);
    assert_eq!(
        problem["detail"],
        "the Arrow IPC stream's column 'value' holds decimal(10, 2) values, which algohost \
         cannot read; cast it to float64 first (pyarrow: table.cast(...) with pa.float64(), \
         polars: pl.col(\"value\").cast(pl.Float64))"
    );
    assert_eq!(server.get("/health").status, 200);
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

fn names(list: &Value) -> Vec<&str> {
    list["data_points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect()
}

#[test]
fn data_points_are_defined_by_name_and_listed_by_flow_and_any_tag() {
    let scratch = Scratch::new();
    let server = scratch.start(&[]);
    let battery = json!({
        "name": "site.battery", "quantity": "state", "unit": "%", "resolution": "PT1H",
        "tags": {"site": "demo", "k=1": "a&b"},
        "flow": {"from": "battery", "to": "demo", "carrier": "electricity"},
    });
    let load = json!({
        "id": 42, "name": "site.load", "quantity": "power", "unit": "kW", "resolution": "PT15M",
        "time_zone": "Europe/Berlin", "tags": {"note": "not stored"},
    });
    let defined = server.post("/data-points", &json!({"data_points": [battery, load]}));
    assert_eq!(defined.status, 200, "{}", defined.text());
    let defined = defined.json();
    assert_eq!(names(&defined), ["site.battery", "site.load"]);
    assert_eq!(defined["data_points"][0]["id"], 4);
    assert_eq!(defined["data_points"][0]["time_zone"], "UTC");
    // An existing name defined as the same series is returned as stored.
    assert_eq!(defined["data_points"][1]["id"], 1);
    assert_eq!(defined["data_points"][1]["tags"], json!({"site": "demo"}));
    // As another series it is refused: its samples would be misread.
    let other = json!({"data_points": [
        {"name": "site.load", "quantity": "power", "unit": "MW", "resolution": "PT1H"},
    ]});
    let bad = server.post("/data-points", &other).problem(400);
    assert_eq!(
        bad["detail"],
        "data point 'site.load' exists as power in kW at PT15M (Europe/Berlin) (id 1), not power \
         in MW at PT1H (Europe/Berlin); a data point keeps the quantity, unit, resolution and time zone it \
         was defined with: use another name, or convert the values to its definition"
    );

    let conflict =
        json!({"data_points": [{"name": "site.pv", "quantity": "energy", "resolution": "PT15M"}]});
    let bad = server.post("/data-points", &conflict).problem(400);
    assert!(
        bad["detail"]
            .as_str()
            .unwrap()
            .contains("exists as power in kW"),
        "{bad}"
    );
    let odd = json!({"data_points": [{"name": "x", "quantity": "power", "resolution": "PT7X"}]});
    let bad = server.post("/data-points", &odd).problem(400);
    assert!(
        bad["detail"]
            .as_str()
            .unwrap()
            .contains("data point 'x': resolution"),
        "{bad}"
    );
    let typo = json!({"data_points": [{"name": "x", "quantity": "power", "resolution": "PT1H", "timezone": "UTC"}]});
    let bad = server.post("/data-points", &typo).problem(400);
    assert!(
        bad["detail"].as_str().unwrap().contains("timezone"),
        "{bad}"
    );

    let by_tag = server.get("/data-points?tags%5Bk%3D1%5D=a%26b").json();
    assert_eq!(names(&by_tag), ["site.battery"]);
    let two = server
        .get("/data-points?names=site.pv&names=site.battery")
        .json();
    assert_eq!(names(&two), ["site.pv", "site.battery"]);
    let bad = server.get("/data-points?name=site.pv").problem(400);
    assert!(
        bad["detail"]
            .as_str()
            .unwrap()
            .contains("unknown query parameter 'name'"),
        "{bad}"
    );

    let flows = server.get("/flows?carrier=electricity").json();
    assert_eq!(names(&flows), ["site.load", "site.pv", "site.battery"]);
    assert_eq!(names(&server.get("/flows?from=pv").json()), ["site.pv"]);
    assert_eq!(
        names(&server.get("/flows?to=elsewhere").json()),
        Vec::<&str>::new()
    );
    server.get("/flows?source=pv").problem(400);
}

#[test]
fn a_definition_without_a_time_zone_matches_the_zone_the_point_was_stored_with() {
    let scratch = Scratch::new();
    let server = scratch.start(&[]);
    let load = |time_zone: Option<&str>| {
        let mut point = json!({
            "name": "site.load", "quantity": "power", "resolution": "PT15M", "unit": "kW",
        });
        if let Some(zone) = time_zone {
            point["time_zone"] = json!(zone);
        }
        json!({"data_points": [point]})
    };
    // site.load is in Europe/Berlin: a definition that says no zone (or an
    // empty one) matches it, and it comes back as stored.
    for body in [load(None), load(Some(""))] {
        let defined = server.post("/data-points", &body);
        assert_eq!(defined.status, 200, "{}", defined.text());
        let defined = defined.json();
        assert_eq!(defined["data_points"][0]["id"], 1, "{defined}");
        assert_eq!(defined["data_points"][0]["time_zone"], "Europe/Berlin");
    }
    // A zone that is given must match.
    let bad = server.post("/data-points", &load(Some("UTC"))).problem(400);
    assert_eq!(
        bad["detail"],
        "data point 'site.load' exists as power in kW at PT15M (Europe/Berlin) (id 1), not power \
         in kW at PT15M (UTC); a data point keeps the quantity, unit, resolution and time zone it \
         was defined with: use another name, or convert the values to its definition"
    );
    // A name given twice, once with its zone and once without, is one data
    // point; a new one without a zone is in UTC.
    let defined = server.post(
        "/data-points",
        &json!({"data_points": [
            {"name": "site.load", "quantity": "power", "resolution": "PT15M"},
            {"name": "site.load", "quantity": "power", "resolution": "PT15M", "time_zone": "Europe/Berlin"},
            {"name": "site.heat", "quantity": "power", "resolution": "PT15M"},
        ]}),
    );
    assert_eq!(defined.status, 200, "{}", defined.text());
    let defined = defined.json();
    assert_eq!(defined["data_points"][0], defined["data_points"][1]);
    assert_eq!(defined["data_points"][2]["time_zone"], "UTC");
    // The API description lists what must match.
    let description = server.spec().doc()["paths"]["/data-points"]["post"]["description"]
        .as_str()
        .unwrap()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        description.contains(
            "the same quantity and resolution, the same unit when it gives one and the same time \
             zone when it gives one"
        ),
        "{description}"
    );
}

#[test]
fn samples_of_many_data_points_are_read_and_written_in_long_form() {
    let scratch = Scratch::new();
    let server = scratch.start(&[]);
    let id = load_id(&server);
    let day = "start=2026-03-29T00:00:00%2B01:00&end=2026-03-30T00:00:00%2B02:00";
    let long = server
        .get(&format!(
            "/samples?names=site.load&names=site.pv&{day}&resolution=P1D"
        ))
        .json();
    let long = long.as_array().unwrap();
    assert_eq!(long.len(), 2, "{long:?}");
    assert_eq!(long[0]["data_point_id"], id);
    assert_eq!(long[0]["ts"], "2026-03-28T23:00:00+00:00");
    let quarters = server.get(&format!("/samples?ids={id}&{day}")).json();
    assert_eq!(
        quarters.as_array().unwrap().len(),
        92,
        "the DST day has 23 hours"
    );

    let arrow = server.send(
        server
            .req(
                Method::GET,
                &format!("/samples?tags=site=demo&quantity=price&{day}"),
            )
            .header("accept", "application/vnd.apache.arrow.stream"),
    );
    assert_eq!(arrow.status, 200);
    let frame = IpcStreamReader::new(std::io::Cursor::new(arrow.body.clone()))
        .finish()
        .unwrap();
    assert_eq!(frame.get_column_names(), ["data_point_id", "ts", "value"]);
    assert_eq!(frame.height(), 23);

    let rows = json!([
        {"data_point_id": id, "ts": "2030-01-01T00:00:00Z", "value": 1.5},
        {"data_point_id": id, "ts": "2030-01-01T00:15:00Z", "value": null},
    ]);
    let written = server.post("/samples", &rows);
    assert_eq!(written.status, 200, "{}", written.text());
    assert_eq!(written.json(), json!({"written": 2}));
    let back = server
        .get(&format!("/samples?ids={id}&start=2030-01-01T00:00:00Z"))
        .json();
    assert_eq!(back.as_array().unwrap().len(), 2, "{back}");

    let unknown = json!([
        {"data_point_id": id, "ts": "2030-01-01T00:30:00Z", "value": 9.0},
        {"data_point_id": 999, "ts": "2030-01-01T00:30:00Z", "value": 9.0},
    ]);
    let bad = server.post("/samples", &unknown).problem(400);
    assert!(
        bad["detail"]
            .as_str()
            .unwrap()
            .contains("unknown data point id(s) 999"),
        "{bad}"
    );
    let back = server
        .get(&format!("/samples?ids={id}&start=2030-01-01T00:00:00Z"))
        .json();
    assert_eq!(
        back.as_array().unwrap().len(),
        2,
        "nothing of the failed write"
    );
    let without_id = server.send(
        server
            .req(Method::POST, "/samples")
            .header("content-type", "application/vnd.apache.arrow.stream")
            .body(arrow_samples(&[0], &[1.0])),
    );
    let bad = without_id.problem(400);
    assert!(
        bad["detail"]
            .as_str()
            .unwrap()
            .contains("no column 'data_point_id'"),
        "{bad}"
    );

    let spec = server.spec().doc();
    for parameter in spec["paths"]["/samples"]["get"]["parameters"]
        .as_array()
        .unwrap()
    {
        assert_eq!(parameter["required"], false, "{parameter}");
    }
    for (query, expected) in [
        (
            "names=site.lod",
            "unknown data point name 'site.lod' (did you mean 'site.load'?)",
        ),
        (
            "start=2026-02-02T00:00:00Z&end=2026-02-01T00:00:00Z",
            "is after end",
        ),
        (
            "time_zone=Berlin&resolution=P1D",
            "unknown time zone 'Berlin'",
        ),
        ("resolution=PT1H&resolution=P1D", "more than once"),
        ("colour=red", "unknown query parameter 'colour'"),
    ] {
        let bad = server.get(&format!("/samples?{query}")).problem(400);
        assert!(
            bad["detail"].as_str().unwrap().contains(expected),
            "{query}: {bad}"
        );
    }
}

#[test]
fn reads_beyond_the_samples_limit_are_refused_with_what_to_narrow() {
    let scratch = Scratch::new();
    let server = scratch.start(&["--max-samples", "20000"]);
    let id = load_id(&server);
    let months = "start=2026-02-01T00:00:00Z&end=2026-06-01T00:00:00Z";

    // 120 days of 3 data points at one second (with or without a range:
    // its size then comes from the data stored): refused before converting,
    // with the estimate, the limit and the ways to narrow.
    let tail = "more than this server's limit of 20,000 per read (max_samples); ask for fewer \
                data points (names, ids, tags, quantity), a shorter range (start, end) or a \
                coarser resolution (at PT1S, the limit covers about 111 minutes of 3 data points)";
    for (query, accept, estimate) in [
        (
            format!("resolution=PT1S&{months}"),
            "application/json",
            "31,082,403 samples (3 data points at PT1S from 2026-02-01T00:00:00Z to \
             2026-05-31T22:00:00Z)",
        ),
        (
            format!("resolution=PT1S&{months}"),
            "text/csv",
            "31,082,403 samples (3 data points at PT1S from 2026-02-01T00:00:00Z to \
             2026-05-31T22:00:00Z)",
        ),
        (
            "resolution=PT1S".to_owned(),
            "application/json",
            "31,093,203 samples (3 data points at PT1S from 2026-01-31T23:00:00Z to \
             2026-05-31T22:00:00Z)",
        ),
    ] {
        let bad = server
            .send(
                server
                    .req(Method::GET, &format!("/samples?{query}"))
                    .header("accept", accept),
            )
            .problem(400);
        assert_eq!(
            bad["detail"],
            format!("this read would return about {estimate}, {tail}"),
            "{query}"
        );
    }
    let one = server
        .get(&format!(
            "/data-points/{id}/samples?resolution=PT1S&{months}"
        ))
        .problem(400);
    assert_eq!(
        one["detail"],
        "this read would return about 10,360,801 samples (1 data point at PT1S from \
         2026-02-01T00:00:00Z to 2026-05-31T22:00:00Z), more than this server's limit of 20,000 \
         per read (max_samples); ask for a shorter range (start, end) or a coarser resolution (at \
         PT1S, the limit covers about 5 hours of 1 data point)"
    );
    // A range far wider than the data is sized by the data.
    let century = "start=2000-01-01T00:00:00Z&end=2100-01-01T00:00:00Z";
    let hourly = server
        .get(&format!(
            "/data-points/{id}/samples?resolution=PT1H&{century}"
        ))
        .json();
    assert_eq!(
        hourly.as_array().unwrap().len(),
        120 * 24 - 1,
        "one 23-hour day"
    );
    // Within the limit, conversions and native reads answer.
    let hour = server
        .get(&format!(
            "/data-points/{id}/samples?resolution=PT1M&start=2026-02-01T00:00:00Z&end=2026-02-01T01:00:00Z"
        ))
        .json();
    assert_eq!(hour.as_array().unwrap().len(), 60);
    let daily = server.get("/samples?resolution=P1D").json();
    assert_eq!(daily.as_array().unwrap().len(), 3 * 120);
    let native = server.get(&format!("/data-points/{id}/samples")).json();
    assert_eq!(
        native.as_array().unwrap().len(),
        120 * 96 - 4,
        "one 23-hour day"
    );
    // A native read is counted once read: two quarter-hourly data points
    // and an hourly one.
    let all = server.get("/samples").problem(400);
    assert!(
        all["detail"].as_str().unwrap().starts_with(
            "this read returns 25,911 samples, more than this server's limit of 20,000 per read"
        ),
        "{all}"
    );
    assert_eq!(server.get("/health").status, 200);

    let help = scratch.command(&["--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("--max-samples") && help.contains("ALGOHOST_MAX_SAMPLES"),
        "{help}"
    );
}

#[test]
fn samples_come_as_the_format_asked_for_with_rfc3339_times_in_csv() {
    let scratch = Scratch::new();
    let server = scratch.start(&[]);
    let id = load_id(&server);
    let hour = "start=2026-02-01T00:00:00Z&end=2026-02-01T00:30:00Z";

    let csv = server.get(&format!("/data-points/{id}/samples?{hour}&format=csv"));
    assert_eq!(csv.status, 200, "{}", csv.text());
    assert_eq!(csv.media_type(), "text/csv");
    assert_eq!(csv.header("vary"), Some("accept"));
    let lines: Vec<String> = csv.text().lines().map(str::to_owned).collect();
    assert_eq!(lines[0], "ts,value");
    assert!(
        lines[1].starts_with("2026-02-01T00:00:00+00:00,"),
        "{lines:?}"
    );
    // ?format= beats Accept.
    let arrow = server.send(
        server
            .req(
                Method::GET,
                &format!("/samples?ids={id}&{hour}&format=arrow"),
            )
            .header("accept", "text/csv"),
    );
    assert_eq!(arrow.media_type(), "application/vnd.apache.arrow.stream");
    for name in ["application/x-parquet", "application/parquet"] {
        let parquet = server.send(
            server
                .req(Method::GET, &format!("/samples?ids={id}&{hour}"))
                .header("accept", name),
        );
        assert_eq!(parquet.status, 200, "{name}: {}", parquet.text());
        assert_eq!(parquet.media_type(), "application/vnd.apache.parquet");
    }
    let bad = server
        .get(&format!("/samples?ids={id}&format=xml"))
        .problem(400);
    assert!(
        bad["detail"]
            .as_str()
            .unwrap()
            .contains("'xml' is not one of json, csv, parquet, arrow"),
        "{bad}"
    );

    // An unencoded `+` arrives as a space: the error says to encode it.
    let plus = server
        .get(&format!(
            "/data-points/{id}/samples?start=2026-03-29T00:00:00+01:00"
        ))
        .problem(400);
    assert!(
        plus["detail"].as_str().unwrap().ends_with(
            "a '+' in a query string means a space: encode it as %2B \
             (start=2026-03-29T00:00:00%2B01:00) or give the time in UTC with Z"
        ),
        "{plus}"
    );
}

#[test]
fn bad_data_writes_say_what_this_endpoint_takes() {
    let scratch = Scratch::new();
    let server = scratch.start(&[]);
    let id = load_id(&server);

    let twice = json!({"data_points": [
        {"name": "t.z", "quantity": "power", "resolution": "PT1H"},
        {"name": "t.y", "quantity": "power", "resolution": "PT1H"},
        {"name": "t.z", "quantity": "energy", "resolution": "PT1H"},
    ]});
    let bad = server.post("/data-points", &twice).problem(400);
    assert_eq!(
        bad["detail"],
        "data point 't.z' is given twice in the request as different series (data_points[0]: \
         power at PT1H (time zone not given), data_points[2]: energy at PT1H (time zone not \
         given)); give each name once"
    );
    assert!(names(&server.get("/data-points?names=t.y").json()).is_empty());
    // The same definition twice is one data point.
    let same = json!({"data_points": [
        {"name": "t.z", "quantity": "power", "resolution": "PT1H"},
        {"name": "t.z", "quantity": "power", "resolution": "PT1H"},
    ]});
    let defined = server.post("/data-points", &same).json();
    assert_eq!(defined["data_points"][0], defined["data_points"][1]);

    // Arrow with other columns: the columns of this endpoint.
    let mut frame = DataFrame::new_infer_height(vec![
        Column::new("time".into(), [0i64]),
        Column::new("v".into(), [1.0]),
    ])
    .unwrap();
    let stream = ipc_stream(&mut frame, None);
    let arrow = |path: &str, body: Vec<u8>| post_arrow(&server, path, body);
    let bad = arrow(&format!("/data-points/{id}/samples"), stream).problem(400);
    assert_eq!(
        bad["detail"],
        "the body is not an Arrow IPC stream with columns ts (timestamp) and value (number): \
         it has no column 'ts' (it has: time, v)"
    );
    // A column a write does not take is refused, not dropped unseen.
    let mut extra = DataFrame::new_infer_height(vec![
        Column::new("ts".into(), [0i64])
            .cast(&DataType::Datetime(
                TimeUnit::Microseconds,
                Some(TimeZone::UTC),
            ))
            .unwrap(),
        Column::new("value".into(), [1.0]),
        Column::new("values".into(), [2.0]),
    ])
    .unwrap();
    let stream = ipc_stream(&mut extra, None);
    let bad = arrow(&format!("/data-points/{id}/samples"), stream).problem(400);
    assert_eq!(
        bad["detail"],
        "the body has column(s) 'values' that a write does not take; send only 'ts', 'value'"
    );
    // Nor is a time finer than a microsecond rounded unseen.
    let mut fine = DataFrame::new_infer_height(vec![
        Column::new("ts".into(), [0i64, 900_000_000_100])
            .cast(&DataType::Datetime(
                TimeUnit::Nanoseconds,
                Some(TimeZone::UTC),
            ))
            .unwrap(),
        Column::new("value".into(), [1.0, 2.0]),
    ])
    .unwrap();
    let stream = ipc_stream(&mut fine, None);
    let bad = arrow(&format!("/data-points/{id}/samples"), stream).problem(400);
    assert!(
        bad["detail"]
            .as_str()
            .unwrap()
            .starts_with("row 1: ts has a fraction of a microsecond"),
        "{bad}"
    );
    // JSON: a time without its offset, a date, a fraction of a microsecond
    // and a misspelt field each say what is wrong.
    let path = format!("/data-points/{id}/samples");
    let json_detail = |body: Value| server.post(&path, &body).problem(400)["detail"].clone();
    assert_eq!(
        json_detail(json!([
            {"ts": "2030-01-01T00:00:00Z", "value": 1},
            {"ts": "2030-01-01T01:00:00", "value": 1},
        ])),
        "sample 1: ts '2030-01-01T01:00:00' has no UTC offset, so which instant it means is not \
         known; give an RFC 3339 instant with its offset, such as 2026-02-01T00:00:00Z or \
         2026-02-01T01:00:00+01:00"
    );
    let detail = json_detail(json!([{"ts": "2030-01-01", "value": 1}]));
    assert!(
        detail
            .as_str()
            .unwrap()
            .starts_with("sample 0: ts '2030-01-01' is a date, not an instant"),
        "{detail}"
    );
    let detail = json_detail(json!([{"ts": "2030-01-01T00:00:00.0000001Z", "value": 1}]));
    assert!(
        detail
            .as_str()
            .unwrap()
            .contains("has a fraction of a microsecond"),
        "{detail}"
    );
    let detail = json_detail(json!([{"ts": "2030-01-01T00:00:00Z", "values": 1}]));
    assert!(
        detail.as_str().unwrap().contains("unknown field `values`"),
        "{detail}"
    );
    assert!(
        server
            .get(&format!("{path}?start=2030-01-01T00:00:00Z"))
            .json()
            .as_array()
            .unwrap()
            .is_empty(),
        "nothing of the refused writes is stored"
    );
    // Times without a zone, or numbers, are not instants: refused, as
    // ctx.write refuses them, instead of being taken as UTC microseconds.
    for ts in [
        Column::new("ts".into(), [0i64])
            .cast(&DataType::Datetime(TimeUnit::Microseconds, None))
            .unwrap(),
        Column::new("ts".into(), [0i64]),
    ] {
        let shown = match ts.dtype() {
            DataType::Int64 => "i64, not a timestamp".to_owned(),
            other => format!("{other} without a time zone"),
        };
        let mut frame =
            DataFrame::new_infer_height(vec![ts, Column::new("value".into(), [1.0])]).unwrap();
        let stream = ipc_stream(&mut frame, None);
        let bad = arrow(&format!("/data-points/{id}/samples"), stream).problem(400);
        assert!(
            bad["detail"].as_str().unwrap().starts_with(&format!(
                "column 'ts' is {shown}, so which instants it means is not known: send \
                 timestamps with a time zone"
            )),
            "{bad}"
        );
    }
    // An Arrow IPC file instead of a stream.
    let mut file = b"ARROW1\0\0".to_vec();
    file.extend(arrow_samples(&[0], &[1.0]));
    let bad = arrow("/samples", file).problem(400);
    assert!(
        bad["detail"].as_str().unwrap().starts_with(
            "the body is an Arrow IPC file; send the stream format \
             (application/vnd.apache.arrow.stream) with columns data_point_id (integer), ts \
             (timestamp) and value (number)"
        ),
        "{bad}"
    );
    // An unknown id names the HTTP way to define it.
    let unknown = json!([{"data_point_id": 999, "ts": "2030-01-01T00:00:00Z", "value": 1}]);
    let bad = server.post("/samples", &unknown).problem(400);
    assert_eq!(
        bad["detail"],
        "unknown data point id(s) 999; define the data points first (POST /data-points, or \
         define_data_points of the rest adapter) and write with the ids it returns"
    );
}

/// Asserts the 503 of a data source that cannot be reached; returns its
/// detail.
fn assert_data_unavailable(reply: &super::Reply) -> String {
    let detail = reply.unavailable("data-unavailable", "5");
    assert!(
        detail.starts_with("the data source is unavailable: ")
            && detail.ends_with("; try again later"),
        "{detail}"
    );
    detail
}

#[test]
fn an_upstream_algohost_that_is_down_answers_503_with_what_failed() {
    let upstream_scratch = Scratch::new();
    let upstream = upstream_scratch.start(&[]);
    let scratch = Scratch::new();
    let front = scratch.start_with_data(&format!("{}?retries=0", upstream.url), &[]);
    assert_eq!(front.get("/data-points").status, 200);

    upstream.kill();
    for path in ["/data-points", "/samples?names=site.load"] {
        let detail = assert_data_unavailable(&front.get(path));
        assert!(
            detail.contains("cannot connect to the data API at http://127.0.0.1:"),
            "{path}: {detail}"
        );
    }
    assert!(
        front
            .logs()
            .contains("answered 503: the data source is unavailable"),
        "{}",
        front.logs()
    );
}

#[test]
fn postgresql_refusing_connections_answers_503_with_the_password_masked() {
    use crate::pg_server::{self, server};
    let db = pg_server::database("outage");
    server().role_with_password("algohost_outage", "0utage-secret");
    let url = db
        .url
        .replace("algohost@", "algohost_outage:0utage-secret@");
    let scratch = Scratch::new();
    let front = scratch.start_with_data(&url, &[]);
    assert_eq!(front.get("/data-points").status, 200);
    let banner = front.stdout.lock().unwrap().clone();
    assert!(
        banner.contains("  data:      postgres://algohost_outage:***@127.0.0.1:")
            && !banner.contains("0utage-secret"),
        "{banner}"
    );

    let allow = |allowed: bool| {
        server().psql(
            "postgres",
            &format!("ALTER DATABASE {} ALLOW_CONNECTIONS {allowed}", db.name),
        );
    };
    allow(false);
    server().psql(
        "postgres",
        &format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}'",
            db.name
        ),
    );
    // The pool notices its connections are gone, and cannot make new ones.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let reply = loop {
        let reply = front.get("/data-points");
        if reply.status == 503 || std::time::Instant::now() > deadline {
            break reply;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let detail = assert_data_unavailable(&reply);
    assert!(
        detail.contains("cannot connect to PostgreSQL at postgres://algohost_outage@127.0.0.1:")
            && detail.contains("is not currently accepting connections"),
        "{detail}"
    );
    assert!(!detail.contains("0utage-secret"), "{detail}");

    allow(true);
    assert_eq!(front.get("/data-points").status, 200);
}

#[test]
fn arrow_streams_that_would_decode_beyond_the_body_limit_are_refused_undecoded() {
    let scratch = Scratch::new();
    let server = scratch.start(&[]);
    let id = load_id(&server);
    let arrow = |path: &str, body: Vec<u8>| post_arrow(&server, path, body);
    // Compressed batches: a few kB of zstd decode to any size.
    let rows = 100_000;
    let ts = Column::new("ts".into(), vec![0i64; rows])
        .cast(&DataType::Datetime(
            TimeUnit::Microseconds,
            Some(TimeZone::UTC),
        ))
        .unwrap();
    let mut frame = DataFrame::new_infer_height(vec![
        Column::new("data_point_id".into(), vec![id; rows]),
        ts,
        Column::new("value".into(), vec![1.0; rows]),
    ])
    .unwrap();
    for (compression, codec) in [
        (IpcCompression::ZSTD(Default::default()), "zstd"),
        (IpcCompression::LZ4, "lz4"),
    ] {
        let body = ipc_stream(&mut frame, Some(compression));
        assert!(body.len() < rows, "{codec}: {} bytes", body.len());
        let refused = arrow("/samples", body).problem(415);
        assert_eq!(
            refused["detail"],
            format!(
                "the Arrow IPC stream's record batches are compressed ({codec}); send an \
                 uncompressed Arrow IPC stream (pyarrow: IpcWriteOptions(compression=None), \
                 polars: write_ipc_stream(compression=\"uncompressed\"))"
            )
        );
    }
    let mut point = frame.drop("data_point_id").unwrap();
    let body = ipc_stream(&mut point, Some(IpcCompression::LZ4));
    arrow(&format!("/data-points/{id}/samples"), body).problem(415);

    // Columns of no bytes (the null type) declare rows the body cannot hold.
    let mut nulls = DataFrame::new_infer_height(vec![
        Column::full_null("ts".into(), 1_000_000, &DataType::Null),
        Column::full_null("value".into(), 1_000_000, &DataType::Null),
    ])
    .unwrap();
    let body = ipc_stream(&mut nulls, None);
    let bytes = body.len();
    let refused = arrow(&format!("/data-points/{id}/samples"), body).problem(400);
    assert_eq!(
        refused["detail"],
        format!(
            "the Arrow IPC stream declares 1000000 rows, more than its {bytes} bytes can hold \
             (a ts alone takes 8 bytes); send columns ts (timestamp) and value (number) with a \
             value for every row"
        )
    );
    assert!(
        server
            .get(&format!(
                "/data-points/{id}/samples?start=1970-01-01T00:00:00Z&end=1970-01-02T00:00:00Z"
            ))
            .json()
            .as_array()
            .unwrap()
            .is_empty(),
        "nothing of the refused writes is stored"
    );
}

#[test]
fn bytes_that_are_no_arrow_stream_say_so_without_a_debug_dump() {
    let scratch = Scratch::new();
    let server = scratch.start(&[]);
    let refused = post_arrow(&server, "/samples", b"garbage".to_vec()).problem(400);
    assert_eq!(
        refused["detail"],
        "the body is not an Arrow IPC stream with columns data_point_id (integer), ts \
         (timestamp) and value (number): the message at byte 0 declares 1651663207 bytes of \
         metadata, but 3 follow"
    );
    // A stream cut off inside a record batch's body.
    let mut body = arrow_samples(&[0, 1], &[1.0, 2.0]);
    body.truncate(body.len() - 20);
    let refused = post_arrow(&server, "/data-points/1/samples", body).problem(400);
    let detail = refused["detail"].as_str().unwrap();
    assert!(
        detail.contains("the stream is cut off: the message at byte ") && !detail.contains('{'),
        "{detail}"
    );
}
