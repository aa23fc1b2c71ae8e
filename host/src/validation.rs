//! Params validation: each algorithm's JSON Schema is compiled once, at
//! registration, and every run's params are checked against it before any
//! plugin code runs.
//!
//! Schemas never reach outside the host: remote and file `$ref`s are not
//! resolved, and `pattern` uses the linear-time `regex` engine, so no
//! pattern can hang the host.

use serde::Serialize;
use serde_json::Value;

/// A compiled params schema.
pub struct ParamsValidator {
    inner: jsonschema::Validator,
    schema: Value,
}

impl std::fmt::Debug for ParamsValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ParamsValidator")
    }
}

/// One params error: where (JSON Pointer into the params) and what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ParamsError {
    /// JSON Pointer of the offending value; `""` is the params object itself.
    pub pointer: String,
    /// What is wrong with it.
    pub message: String,
}

impl std::fmt::Display for ParamsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pointer = if self.pointer.is_empty() {
            "/"
        } else {
            &self.pointer
        };
        write!(f, "{pointer}: {}", self.message)
    }
}

impl ParamsValidator {
    /// Compiles a schema (draft 2020-12 unless `$schema` says otherwise).
    /// The error says why the schema does not compile.
    pub fn compile(schema: &Value) -> Result<Self, String> {
        if !schema.is_object() && !schema.is_boolean() {
            return Err(format!(
                "the params schema must be a JSON object, found {schema}"
            ));
        }
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .with_pattern_options(jsonschema::PatternOptions::regex())
            .should_validate_formats(true)
            .build(schema)
            .map(|inner| Self {
                inner,
                schema: schema.clone(),
            })
            .map_err(|e| e.to_string())
    }

    /// Every error in `params`, sorted by pointer; empty when valid.
    pub fn errors(&self, params: &Value) -> Vec<ParamsError> {
        let mut errors: Vec<ParamsError> = self
            .inner
            .iter_errors(params)
            .map(|e| ParamsError {
                pointer: e.instance_path().to_string(),
                message: self
                    .choices_message(e.instance(), e.schema_path().as_str())
                    .unwrap_or_else(|| e.to_string()),
            })
            .collect();
        errors.sort_by(|a, b| a.pointer.cmp(&b.pointer));
        errors
    }
}

impl ParamsValidator {
    /// For a `oneOf`/`anyOf` whose branches are all constants (how schemars
    /// writes a documented enum), "is not one of" the constants instead of
    /// "not valid under any of the schemas".
    fn choices_message(&self, instance: &Value, schema_path: &str) -> Option<String> {
        if !(schema_path.ends_with("/oneOf") || schema_path.ends_with("/anyOf")) {
            return None;
        }
        let branches = self.schema.pointer(schema_path)?.as_array()?;
        let constants: Option<Vec<String>> = branches
            .iter()
            .map(|b| b.get("const").map(Value::to_string))
            .collect();
        Some(format!(
            "{instance} is not one of {}",
            constants?.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reports_every_error_with_its_pointer() {
        let v = ParamsValidator::compile(&json!({
            "type": "object",
            "properties": {
                "limit_kw": {"type": "number", "minimum": 0},
                "battery": {"type": "object", "properties": {"efficiency": {"type": "number", "maximum": 1}}}
            },
            "required": ["limit_kw"]
        }))
        .unwrap();
        let errors = v.errors(&json!({"limit_kw": -1, "battery": {"efficiency": 2}}));
        let pointers: Vec<_> = errors.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(pointers, ["/battery/efficiency", "/limit_kw"]);
        assert!(
            errors[1].message.contains("minimum"),
            "{}",
            errors[1].message
        );
        assert_eq!(v.errors(&json!({}))[0].pointer, "");
        assert!(v.errors(&json!({"limit_kw": 3})).is_empty());
    }

    #[test]
    fn documented_enums_list_their_choices() {
        let v = ParamsValidator::compile(&json!({
            "type": "object",
            "properties": {"mode": {"$ref": "#/$defs/Mode"}},
            "$defs": {"Mode": {"oneOf": [
                {"const": "grid", "description": "From the grid."},
                {"const": "pv_only", "description": "Only from PV."}
            ]}}
        }))
        .unwrap();
        let errors = v.errors(&json!({"mode": "solar"}));
        assert_eq!(
            errors[0].message,
            r#""solar" is not one of "grid", "pv_only""#
        );
    }

    #[test]
    fn a_pathological_pattern_returns_promptly() {
        let v = ParamsValidator::compile(&json!({"type": "string", "pattern": "^(a+)+$"})).unwrap();
        let evil = format!("{}!", "a".repeat(100_000));
        assert_eq!(v.errors(&json!(evil)).len(), 1);
    }

    #[test]
    fn remote_refs_are_not_fetched() {
        let err = ParamsValidator::compile(&json!({"$ref": "https://example.com/schema.json"}))
            .unwrap_err();
        assert!(!err.is_empty());
        let err = ParamsValidator::compile(&json!({"$ref": "file:///etc/passwd"})).unwrap_err();
        assert!(!err.is_empty());
    }

    #[test]
    fn a_schema_that_does_not_compile_says_why() {
        let err = ParamsValidator::compile(&json!({"type": "nonsense"})).unwrap_err();
        assert!(err.contains("nonsense"), "{err}");
        assert!(
            ParamsValidator::compile(&json!(3))
                .unwrap_err()
                .contains("JSON object")
        );
    }
}
