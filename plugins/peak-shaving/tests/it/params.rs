//! The params schema a user sees, and the checks it cannot express.

use algohost_plugin_peak_shaving::Params;
use algohost_sdk::serde_json::{self, Value, json};

fn manifest() -> algohost_sdk::Manifest {
    algohost_sdk::registrations()
        .find(|r| r.name == "peak_shaving")
        .expect("peak_shaving is registered")
        .manifest()
}

fn validate(value: Value) -> String {
    let params: Params = serde_json::from_value(value).expect("params deserialise");
    params.validate().unwrap_err().to_string()
}

#[test]
fn the_manifest_describes_the_algorithm_and_its_output() {
    let m = manifest();
    assert_eq!(m.version, "0.1.0");
    assert!(
        m.description
            .starts_with("Battery dispatch that keeps grid import"),
        "{}",
        m.description
    );
    assert_eq!(m.outputs.len(), 1);
    assert_eq!(m.outputs[0].name, "schedule");
    assert_eq!(
        m.outputs[0].columns,
        ["ts", "load_kw", "pv_kw", "battery_kw", "soc_kwh", "grid_kw"]
    );
}

#[test]
fn the_schema_has_descriptions_defaults_and_bounds() {
    let schema = manifest().params_schema;
    let props = &schema["properties"];
    assert_eq!(schema["required"], json!(["limit_kw", "battery"]));
    assert_eq!(schema["additionalProperties"], json!(false));
    assert_eq!(props["limit_kw"]["minimum"], json!(0.0));
    assert!(
        props["limit_kw"]["description"]
            .as_str()
            .unwrap()
            .contains("kW")
    );
    assert_eq!(props["load"]["default"], json!("site.load"));
    assert_eq!(props["pv"]["default"], json!("site.pv"));
    assert_eq!(props["pv"]["type"], json!(["string", "null"]));
    assert_eq!(props["start"]["format"], json!("date-time"));
    assert_eq!(props["recharge"]["default"], json!("grid"));

    let defs = &schema["$defs"];
    let battery = &defs["Battery"]["properties"];
    assert_eq!(
        defs["Battery"]["required"],
        json!(["capacity_kwh", "power_kw"])
    );
    assert_eq!(battery["efficiency"]["default"], json!(0.9));
    assert_eq!(battery["efficiency"]["exclusiveMinimum"], json!(0.0));
    assert_eq!(battery["efficiency"]["maximum"], json!(1.0));
    for (name, default) in [("soc_min", 0.1), ("soc_max", 0.9), ("soc_initial", 0.5)] {
        assert_eq!(battery[name]["default"], json!(default), "{name}");
        assert_eq!(battery[name]["minimum"], json!(0.0), "{name}");
        assert_eq!(battery[name]["maximum"], json!(1.0), "{name}");
    }
    let recharge = serde_json::to_string(&defs["Recharge"]).unwrap();
    assert!(
        recharge.contains("\"grid\"") && recharge.contains("\"pv_only\""),
        "{recharge}"
    );
}

#[test]
fn serde_defaults_fill_what_is_left_out() {
    let p: Params = serde_json::from_value(json!({
        "limit_kw": 50.0, "battery": {"capacity_kwh": 100.0, "power_kw": 25.0}
    }))
    .unwrap();
    assert_eq!(
        (p.load.as_str(), p.pv.as_deref()),
        ("site.load", Some("site.pv"))
    );
    assert_eq!(p.battery.efficiency, 0.9);
    assert_eq!(
        (p.battery.soc_min, p.battery.soc_max, p.battery.soc_initial),
        (0.1, 0.9, 0.5)
    );
    assert_eq!((p.start, p.end), (None, None));
    p.validate().unwrap();
}

#[test]
fn inconsistent_params_are_rejected_with_a_message() {
    let battery = |extra: Value| {
        let mut b = json!({"capacity_kwh": 100.0, "power_kw": 25.0});
        b.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        b
    };
    assert_eq!(
        validate(
            json!({"limit_kw": 5.0, "battery": battery(json!({"soc_min": 0.8, "soc_max": 0.2, "soc_initial": 0.5}))})
        ),
        "invalid input: battery.soc_min (0.8) must not exceed battery.soc_max (0.2)"
    );
    assert_eq!(
        validate(json!({"limit_kw": 5.0, "battery": battery(json!({"soc_initial": 0.95}))})),
        "invalid input: battery.soc_initial (0.95) must lie between battery.soc_min (0.1) and battery.soc_max (0.9)"
    );
    assert_eq!(
        validate(json!({"limit_kw": 5.0, "battery": battery(json!({"efficiency": 0.0}))})),
        "invalid input: battery.efficiency must be in (0, 1], got 0"
    );
    assert_eq!(
        validate(json!({"limit_kw": -1.0, "battery": battery(json!({}))})),
        "invalid input: limit_kw must be a finite number ≥ 0, got -1"
    );
    assert_eq!(
        validate(json!({"limit_kw": 5.0, "battery": battery(json!({"soc_max": 1.5}))})),
        "invalid input: battery.soc_max must be in [0, 1], got 1.5"
    );
    assert_eq!(
        validate(json!({
            "limit_kw": 5.0, "battery": battery(json!({})),
            "start": "2024-03-02T00:00:00Z", "end": "2024-03-01T00:00:00Z"
        })),
        "invalid input: start (2024-03-02 00:00:00 UTC) must be before end (2024-03-01 00:00:00 UTC)"
    );
}
