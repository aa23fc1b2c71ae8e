//! An algorithm's params as `#[algorithm]` handles them: the JSON Schema it
//! declares for the params type, and the deserialisation of params the host
//! has validated against it.
//!
//! The schema is the one `schemars` derives, closed: an object that lists its
//! fields refuses others (`additionalProperties: false`), so a misspelt field
//! is a validation error rather than a default silently used. A params type
//! that takes any field says so in its schema:
//!
//! ```
//! use algohost_sdk::prelude::*;
//! use algohost_sdk::params::schema_of;
//!
//! /// Tags to attach, any names.
//! #[derive(Deserialize, JsonSchema)]
//! #[schemars(extend("additionalProperties" = true))]
//! struct Open {
//!     site: String,
//! }
//!
//! /// The limit.
//! #[derive(Deserialize, JsonSchema)]
//! struct Closed {
//!     limit_kw: f64,
//! }
//!
//! assert_eq!(schema_of::<Open>()["additionalProperties"], true);
//! assert_eq!(schema_of::<Closed>()["additionalProperties"], false);
//! ```

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// The params schema of `P`, as `#[algorithm]` declares it: schemars' schema
/// with its objects closed by [`close_objects`].
pub fn schema_of<P: schemars::JsonSchema>() -> Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(P)).unwrap_or(Value::Null);
    close_objects(&mut schema);
    schema
}

/// Keywords with which a schema leaves its objects' other properties to
/// someone else (or combines with schemas that may list more).
const OPEN_KEYWORDS: &[&str] = &[
    "additionalProperties",
    "unevaluatedProperties",
    "allOf",
    "anyOf",
    "oneOf",
    "$ref",
    "if",
    "dependentSchemas",
];

/// Keywords beside a `$ref` that do not change what the reference accepts.
const ANNOTATIONS: &[&str] = &[
    "$ref",
    "$comment",
    "title",
    "description",
    "default",
    "examples",
    "deprecated",
    "readOnly",
    "writeOnly",
];

/// Sets `additionalProperties: false` (what serde's `deny_unknown_fields`
/// declares) on the root schema and on each definition in `$defs` that lists
/// `properties` and says nothing else about other properties: no
/// `additionalProperties` or `unevaluatedProperties` of its own (a
/// `#[serde(flatten)]` map or `serde_json::Value` sets these), no
/// `allOf`/`anyOf`/`oneOf`, and no use of it combined with other
/// properties (an internally tagged enum's newtype variant adds the tag
/// beside the `$ref`).
pub fn close_objects(schema: &mut Value) {
    let mut combined = BTreeSet::new();
    find_combined_definitions(schema, false, &mut combined);
    if let Some(root) = schema.as_object_mut() {
        close(root);
    }
    if let Some(Value::Object(definitions)) = schema.get_mut("$defs") {
        for (name, definition) in definitions {
            if let (false, Value::Object(definition)) = (combined.contains(name), definition) {
                close(definition);
            }
        }
    }
}

fn close(object: &mut Map<String, Value>) {
    if object.contains_key("properties") && !OPEN_KEYWORDS.iter().any(|k| object.contains_key(*k)) {
        object.insert("additionalProperties".to_owned(), false.into());
    }
}

/// The `$defs` names referenced where other keywords add to the reference:
/// beside properties of the referring object, or as one of an `allOf`.
fn find_combined_definitions(value: &Value, is_in_all_of: bool, found: &mut BTreeSet<String>) {
    match value {
        Value::Object(object) => {
            if let Some(name) = object
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/$defs/"))
            {
                let has_siblings = object.keys().any(|k| !ANNOTATIONS.contains(&k.as_str()));
                if is_in_all_of || has_siblings {
                    found.insert(name.replace("~1", "/").replace("~0", "~"));
                }
            }
            for (key, child) in object {
                match (key.as_str(), child) {
                    ("allOf", Value::Array(all)) => all
                        .iter()
                        .for_each(|c| find_combined_definitions(c, true, found)),
                    _ => find_combined_definitions(child, false, found),
                }
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|c| find_combined_definitions(c, false, found)),
        _ => {}
    }
}

/// Deserialises validated params, as the macro calls it.
#[doc(hidden)]
pub fn params_from<P: serde::de::DeserializeOwned>(params: Value) -> Result<P> {
    serde_path_to_error::deserialize(params).map_err(|e| not_fitting(e.path(), e.inner()))
}

/// Deserialises validated params from their JSON text, as the macro calls it.
#[doc(hidden)]
pub fn params_from_json<P: serde::de::DeserializeOwned>(params: &str) -> Result<P> {
    let mut deserializer = serde_json::Deserializer::from_str(params);
    let params = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        if e.inner().is_data() {
            not_fitting(e.path(), e.inner())
        } else {
            not_json(e.into_inner())
        }
    })?;
    deserializer.end().map_err(not_json)?;
    Ok(params)
}

/// Params that passed the schema but not the params type's `Deserialize`
/// (a `deserialize_with`, a number too large for the field's type): the
/// field's JSON Pointer, as validation errors give it, and serde's message
/// without its position in the JSON text the host passed, which the caller
/// never saw.
fn not_fitting(path: &serde_path_to_error::Path, e: &serde_json::Error) -> Error {
    let message = e.to_string();
    let position = format!(" at line {} column {}", e.line(), e.column());
    let message = message.strip_suffix(&position).unwrap_or(&message);
    Error::InvalidInput(format!(
        "params do not fit the algorithm: {}: {message}",
        pointer(path)
    ))
}

/// `path` as a JSON Pointer (`/battery/capacity_kwh`, `/names/2`; `/` for
/// the params themselves), up to the first segment serde could not name.
fn pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut pointer = String::new();
    for segment in path {
        match segment {
            Segment::Seq { index } => pointer.push_str(&format!("/{index}")),
            Segment::Map { key: name } | Segment::Enum { variant: name } => {
                pointer.push('/');
                pointer.push_str(&name.replace('~', "~0").replace('/', "~1"));
            }
            Segment::Unknown => break,
        }
    }
    if pointer.is_empty() {
        pointer.push('/');
    }
    pointer
}

/// The error for params that are not JSON at all.
pub(crate) fn not_json(e: serde_json::Error) -> Error {
    Error::InvalidInput(format!("the params are not JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use schemars::JsonSchema;
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    struct Params {
        limit_kw: f64,
    }

    #[test]
    fn params_from_json_tells_bad_json_from_params_that_do_not_fit() {
        let params = params_from_json::<Params>(r#"{"limit_kw": 5}"#).unwrap();
        assert_eq!(params.limit_kw, 5.0);
        let err = params_from_json::<Params>("{limit_kw").unwrap_err();
        assert!(
            err.to_string()
                .contains("the params are not JSON: key must be a string"),
            "{err}"
        );
        let err = params_from_json::<Params>(r#"{"limit_kw": 5} 6"#).unwrap_err();
        assert!(
            err.to_string()
                .contains("the params are not JSON: trailing characters"),
            "{err}"
        );
    }

    #[allow(dead_code)]
    #[derive(Debug, Deserialize)]
    struct Window {
        #[serde(deserialize_with = "from_text")]
        limit: f64,
        battery: Option<Inner>,
        #[serde(default)]
        sizes: Vec<u8>,
    }

    /// A number written as text: what a schema of `type: string` lets through.
    fn from_text<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }

    /// What the host shows for params that passed the schema but not serde,
    /// from JSON text (dylib plugins) and from a `Value` (builtins): the
    /// field's pointer, and no line and column of JSON the caller never wrote.
    #[test]
    fn params_that_do_not_fit_name_the_field_by_its_pointer() {
        let cases = [
            (
                r#"{"limit": "55kw"}"#,
                "invalid input: params do not fit the algorithm: /limit: invalid float literal",
            ),
            (
                r#"{"limit": "5", "battery": {"capacity_kwh": "x"}}"#,
                "invalid input: params do not fit the algorithm: /battery/capacity_kwh: invalid type: string \"x\", expected f64",
            ),
            (
                r#"{"limit": "5", "sizes": [1, 300]}"#,
                "invalid input: params do not fit the algorithm: /sizes/1: invalid value: integer `300`, expected u8",
            ),
            (
                r#"{"sizes": []}"#,
                "invalid input: params do not fit the algorithm: /: missing field `limit`",
            ),
        ];
        for (json, message) in cases {
            let err = params_from_json::<Window>(json).unwrap_err();
            assert_eq!(err.to_string(), message, "{json}");
            if let Ok(value) = serde_json::from_str::<Value>(json) {
                let err = params_from::<Window>(value).unwrap_err();
                assert_eq!(err.to_string(), message, "{json} as a Value");
            }
        }
    }

    #[allow(dead_code)]
    #[derive(Deserialize, JsonSchema)]
    struct Battery {
        capacity_kwh: f64,
    }

    #[allow(dead_code)]
    #[derive(Deserialize, JsonSchema)]
    #[serde(tag = "kind", rename_all = "snake_case")]
    enum Strategy {
        Fixed { limit_kw: f64 },
        Battery(Battery),
    }

    #[allow(dead_code)]
    #[derive(Deserialize, JsonSchema)]
    struct Nested {
        battery: Battery,
        spare: Option<Battery>,
        strategy: Strategy,
    }

    #[test]
    fn nested_structs_are_closed_and_tagged_variants_keep_their_tag() {
        let schema = schema_of::<Nested>();
        assert_eq!(schema["additionalProperties"], false, "{schema:#}");
        // Battery is also the newtype variant of an internally tagged enum,
        // referred to beside the tag: closing it would refuse the tag.
        let battery = &schema["$defs"]["Battery"];
        assert!(battery.get("additionalProperties").is_none(), "{schema:#}");
        // The enum says nothing of unknown fields on its own (oneOf).
        assert!(
            schema["$defs"]["Strategy"]
                .get("additionalProperties")
                .is_none()
        );
    }

    #[allow(dead_code)]
    #[derive(Debug, Deserialize, JsonSchema)]
    struct Inner {
        capacity_kwh: f64,
    }

    #[allow(dead_code)]
    #[derive(Deserialize, JsonSchema)]
    struct WithDefs {
        inner: Inner,
        #[serde(default)]
        more: Vec<Inner>,
    }

    #[test]
    fn definitions_used_as_plain_references_are_closed() {
        let schema = schema_of::<WithDefs>();
        assert_eq!(schema["additionalProperties"], false, "{schema:#}");
        assert_eq!(
            schema["$defs"]["Inner"]["additionalProperties"], false,
            "{schema:#}"
        );
    }

    #[allow(dead_code)]
    #[derive(Deserialize, JsonSchema)]
    struct Common {
        site: String,
    }

    #[allow(dead_code)]
    #[derive(Deserialize, JsonSchema)]
    struct Flattened {
        #[serde(flatten)]
        common: Common,
        limit_kw: f64,
    }

    #[allow(dead_code)]
    #[derive(Deserialize, JsonSchema)]
    struct Extra {
        limit_kw: f64,
        #[serde(flatten)]
        rest: std::collections::BTreeMap<String, Value>,
    }

    #[test]
    fn flattened_structs_close_and_flattened_maps_stay_open() {
        let schema = schema_of::<Flattened>();
        assert_eq!(schema["additionalProperties"], false, "{schema:#}");
        assert!(schema["properties"]["site"].is_object(), "{schema:#}");
        let schema = schema_of::<Extra>();
        assert_ne!(schema["additionalProperties"], false, "{schema:#}");
    }
}
