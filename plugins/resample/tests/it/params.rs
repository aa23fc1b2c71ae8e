//! The params schema a user sees, and the checks it cannot express.

use algohost_plugin_resample::{Params, derived_points};
use algohost_sdk::prelude::*;
use algohost_sdk::serde_json::{self, Value};

fn params(value: Value) -> Params {
    serde_json::from_value(value).expect("params deserialise")
}

fn schema() -> Value {
    algohost_sdk::registrations()
        .find(|r| r.name == "resample")
        .expect("resample is registered")
        .manifest()
        .params_schema
}

#[test]
fn the_schema_has_descriptions_defaults_and_bounds() {
    let schema = schema();
    let props = &schema["properties"];
    assert_eq!(schema["required"], json!(["names", "resolution"]));
    assert_eq!(schema["additionalProperties"], json!(false));
    assert_eq!(props["names"]["minItems"], json!(1));
    let resolution = serde_json::to_string(&schema).unwrap();
    assert!(
        resolution.contains("^[Pp]([Tt][0-9]+[HhMmSs]|[0-9]+[DdWwMmYy])$"),
        "{resolution}"
    );
    assert_eq!(props["min_coverage"]["default"], json!(1.0));
    assert_eq!(props["min_coverage"]["minimum"], json!(0.0));
    assert_eq!(props["min_coverage"]["maximum"], json!(1.0));
    assert_eq!(props["state_upsample"]["default"], json!("forward"));
    assert_eq!(props["write_back"]["default"], json!(false));
    assert_eq!(props["start"]["format"], json!("date-time"));
    for (name, prop) in props.as_object().unwrap() {
        let described = prop.get("description").is_some();
        assert!(described, "{name} has a description: {prop}");
    }
    let fills = serde_json::to_string(&schema["$defs"]["StateUpsample"]).unwrap();
    assert!(
        fills.contains("\"forward\"") && fills.contains("\"linear\""),
        "{fills}"
    );
}

#[test]
fn defaults_fill_what_is_left_out() {
    let p = params(json!({"names": ["site.load"], "resolution": "PT1H"}));
    assert_eq!(p.resolution, Resolution::Seconds(3600));
    assert_eq!(p.min_coverage, 1.0);
    assert!(!p.write_back);
    assert_eq!(p.suffix(), ".PT1H");
    let options = p.resample_options();
    assert_eq!(options.min_coverage, 1.0);
    assert_eq!(
        options.state_upsample,
        algohost_sdk::data::StateUpsample::Forward
    );
    assert_eq!(options.time_zone, None);
    p.validate().unwrap();
}

#[test]
fn derived_points_keep_the_metadata_and_take_the_target_resolution() {
    let source = DataPointConfig::new("site.load", Quantity::Power, "kW", Resolution::Seconds(900))
        .with_time_zone("Europe/Berlin")
        .with_tag("site", "demo");
    let p =
        params(json!({"names": ["site.load"], "resolution": "P1D", "time_zone": "Europe/Paris"}));
    let derived = derived_points(std::slice::from_ref(&source), &p);
    assert_eq!(derived.len(), 1);
    assert_eq!(derived[0].name, "site.load.P1D");
    assert_eq!(derived[0].resolution, Resolution::Days(1));
    assert_eq!(
        derived[0].time_zone, "Europe/Paris",
        "daily intervals follow the zone they were cut in"
    );
    assert_eq!(
        (derived[0].quantity, derived[0].unit.as_str()),
        (Quantity::Power, "kW")
    );
    assert_eq!(derived[0].tags, source.tags);
    assert_eq!(derived[0].id, DataPointId(0));

    let p = params(
        json!({"names": ["site.load"], "resolution": "PT1H", "time_zone": "Europe/Paris", "suffix": "_hourly"}),
    );
    let derived = derived_points(std::slice::from_ref(&source), &p);
    assert_eq!(derived[0].name, "site.load_hourly");
    assert_eq!(
        derived[0].time_zone, "Europe/Berlin",
        "fixed resolutions keep the source's zone"
    );
}

#[test]
fn inconsistent_params_are_rejected_with_a_message() {
    let error = |value: Value| params(value).validate().unwrap_err().to_string();
    assert_eq!(
        error(json!({"names": [], "resolution": "PT1H"})),
        "invalid input: names must list at least one data point"
    );
    assert_eq!(
        error(json!({"names": ["a", "b", "a"], "resolution": "PT1H"})),
        "invalid input: names lists 'a' twice (again at position 2)"
    );
    assert_eq!(
        error(json!({"names": ["a"], "resolution": "PT1H", "min_coverage": 1.5})),
        "invalid input: min_coverage must be between 0 and 1, got 1.5"
    );
    assert_eq!(
        error(json!({"names": ["a"], "resolution": "PT1H", "suffix": ""})),
        "invalid input: suffix must not be empty: the stored data points need names of their own"
    );
    assert_eq!(
        error(json!({"names": ["a"], "resolution": "P1D", "time_zone": "Mars/Olympus"})),
        "invalid input: unknown time zone 'Mars/Olympus': use an IANA name such as 'Europe/Berlin' or 'UTC'"
    );
    assert_eq!(
        error(
            json!({"names": ["a"], "resolution": "PT1H", "start": "2024-01-02T00:00:00Z", "end": "2024-01-01T00:00:00Z"})
        ),
        "invalid input: start (2024-01-02 00:00:00 UTC) must be before end (2024-01-01 00:00:00 UTC)"
    );
    let err = serde_json::from_value::<Params>(json!({"names": ["a"], "resolution": "hourly"}))
        .unwrap_err();
    assert!(
        err.to_string().contains("invalid resolution 'hourly'"),
        "{err}"
    );
}
