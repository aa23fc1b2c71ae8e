//! Params validation: each algorithm's JSON Schema is compiled once, at
//! registration, and every run's params are checked against it before any
//! plugin code runs.
//!
//! Schemas never reach outside the host: remote and file `$ref`s are not
//! resolved, and `pattern` uses the linear-time `regex` engine, so no
//! pattern can hang the host.

use jsonschema::ValidationError;
use jsonschema::error::ValidationErrorKind;
use serde::Serialize;
use serde_json::Value;

/// The most errors [`ParamsValidator::errors`] lists.
pub const MAX_ERRORS: usize = 100;

/// Orders JSON Pointers as their values come in the document: segment by
/// segment, array indexes by number.
fn document_order(a: &str, b: &str) -> std::cmp::Ordering {
    let index = |segment: &str| segment.parse::<u64>().ok();
    a.split('/')
        .zip(b.split('/'))
        .map(|(x, y)| match (index(x), index(y)) {
            (Some(i), Some(j)) => i.cmp(&j),
            _ => x.cmp(y),
        })
        .find(|o| o.is_ne())
        .unwrap_or_else(|| a.len().cmp(&b.len()))
}

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

    /// The errors in `params`, in document order (`/names/2` before
    /// `/names/10`); empty when valid. At most [`MAX_ERRORS`] are listed,
    /// then one more at `""` saying that more follow: params of millions of
    /// wrong values must not make an answer of millions of errors.
    pub fn errors(&self, params: &Value) -> Vec<ParamsError> {
        // Most params are valid: checked at once, without collecting.
        if self.inner.is_valid(params) {
            return Vec::new();
        }
        let mut found = self.inner.iter_errors(params);
        let mut errors: Vec<ParamsError> = found
            .by_ref()
            .take(MAX_ERRORS)
            .map(|e| ParamsError {
                pointer: e.instance_path().to_string(),
                message: self.message(&e),
            })
            .collect();
        errors.sort_by(|a, b| document_order(&a.pointer, &b.pointer));
        if found.next().is_some() {
            errors.push(ParamsError {
                pointer: String::new(),
                message: format!(
                    "more errors follow; only the first {MAX_ERRORS} are listed: fix these first"
                ),
            });
        }
        errors
    }

    /// The message of one error, saying what was expected where the
    /// validator's own message does not.
    fn message(&self, e: &ValidationError<'_>) -> String {
        let schema_path = e.schema_path().as_str();
        self.choices_message(e.instance(), schema_path)
            .or_else(|| self.branches_message(e))
            .or_else(|| self.unexpected_message(e))
            .unwrap_or_else(|| self.with_expectation(e.to_string(), schema_path))
    }

    /// The schema at a validator's schema path, following the `$ref`s it
    /// passes through (`/properties/battery/$ref/additionalProperties`).
    fn resolve(&self, schema_path: &str) -> Option<&Value> {
        let mut node = &self.schema;
        for segment in schema_path.split('/').skip(1) {
            let segment = segment.replace("~1", "/").replace("~0", "~");
            node = if segment == "$ref" {
                let target = node.get("$ref")?.as_str()?.strip_prefix('#')?;
                self.schema.pointer(target)?
            } else {
                match node {
                    Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
                    other => other.get(&segment)?,
                }
            };
        }
        Some(node)
    }

    /// For properties the schema does not allow, the validator's message
    /// with the allowed ones they are close to, or else every allowed one:
    /// `… ('limit' was unexpected); did you mean 'limit_kw'?`.
    fn unexpected_message(&self, e: &ValidationError<'_>) -> Option<String> {
        let ValidationErrorKind::AdditionalProperties { unexpected } = e.kind() else {
            return None;
        };
        let parent = e
            .schema_path()
            .as_str()
            .strip_suffix("/additionalProperties")?;
        let allowed: Vec<&str> = self
            .resolve(parent)?
            .get("properties")?
            .as_object()?
            .keys()
            .map(String::as_str)
            .collect();
        let close: Vec<String> = unexpected
            .iter()
            .flat_map(|name| algohost_sdk::suggest::close_names(name, allowed.iter().copied()))
            .map(|name| format!("'{name}'"))
            .collect();
        let hint = if close.is_empty() {
            format!("the properties here are {}", allowed.join(", "))
        } else {
            format!("did you mean {}?", close.join(" or "))
        };
        Some(format!("{e}; {hint}"))
    }
}

impl ParamsValidator {
    /// For an `anyOf`/`oneOf` that no branch accepts, what each branch
    /// expected, instead of "not valid under any of the schemas":
    /// `"2026-13-45" is not a "date" (for example "2026-03-01") and not null`.
    fn branches_message(&self, e: &ValidationError<'_>) -> Option<String> {
        let (ValidationErrorKind::AnyOf { context }
        | ValidationErrorKind::OneOfNotValid { context }) = e.kind()
        else {
            return None;
        };
        let at = e.instance_path().as_str();
        let mut phrases: Vec<String> = Vec::new();
        for branch in context {
            let phrase = branch
                .iter()
                .map(|inner| self.branch_phrase(inner, at))
                .collect::<Vec<_>>()
                .join(", ");
            if !phrase.is_empty() && !phrases.contains(&phrase) {
                phrases.push(phrase);
            }
        }
        if phrases.is_empty() {
            return None;
        }
        Some(format!("{} is {}", e.instance(), phrases.join(" and ")))
    }

    /// What one branch's error says of the value, without the value:
    /// `not null`, `not a "date" (for example "2026-03-01")`, `less than
    /// the minimum of 0`; an error deeper in the value names where.
    fn branch_phrase(&self, e: &ValidationError<'_>, at: &str) -> String {
        let deeper = e.instance_path().as_str();
        if deeper != at {
            let pointer = deeper.strip_prefix(at).unwrap_or(deeper);
            return format!("not valid at {pointer} ({})", self.message(e));
        }
        match e.kind() {
            ValidationErrorKind::Format { format } => {
                let example = format_example(format)
                    .map(|example| format!(" (for example {example})"))
                    .unwrap_or_default();
                return format!("not a \"{format}\"{example}");
            }
            ValidationErrorKind::Constant { expected_value } => {
                return format!("not {expected_value}");
            }
            _ => {}
        }
        let message = self.message(e);
        let instance = e.instance().to_string();
        let Some(rest) = message.strip_prefix(instance.as_str()).map(str::trim_start) else {
            return message;
        };
        let rest = rest.strip_prefix("is ").unwrap_or(rest);
        match rest.strip_prefix("not of type ") {
            Some(types) => type_phrase(types),
            None => rest.to_owned(),
        }
    }
}

/// `not null`, `not a string`, `not an integer` for a quoted JSON type
/// (`"null"`); `not of type …` for a list of them.
fn type_phrase(quoted: &str) -> String {
    match quoted.trim_matches('"') {
        "null" => "not null".to_owned(),
        kind @ ("integer" | "object" | "array") => format!("not an {kind}"),
        kind @ ("string" | "number" | "boolean") => format!("not a {kind}"),
        _ => format!("not of type {quoted}"),
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
        let branches = self.resolve(schema_path)?.as_array()?;
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

impl ParamsValidator {
    /// A `pattern` error as the schema's author explained the expected
    /// value (the description or the examples of the schema that holds the
    /// pattern), since a regex alone seldom tells a user what to write:
    /// `"1H" does not match "^…$"; expected: ISO 8601 duration: PT15M, …`.
    /// A `format` error gets an example of the format.
    fn with_expectation(&self, message: String, schema_path: &str) -> String {
        if let Some(format) = schema_path
            .strip_suffix("/format")
            .and_then(|parent| self.resolve(parent)?.get("format")?.as_str())
        {
            return match format_example(format) {
                Some(example) => format!("{message}; for example {example}"),
                None => message,
            };
        }
        let Some(schema) = schema_path
            .strip_suffix("/pattern")
            .and_then(|parent| self.resolve(parent))
        else {
            return message;
        };
        let description = schema
            .get("description")
            .and_then(Value::as_str)
            .and_then(|d| d.lines().next())
            .map(str::trim)
            .filter(|d| !d.is_empty());
        let examples = schema
            .get("examples")
            .and_then(Value::as_array)
            .filter(|e| !e.is_empty())
            .map(|e| {
                e.iter()
                    .map(Value::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            });
        match (description, examples) {
            (Some(description), _) => format!("{message}; expected: {description}"),
            (None, Some(examples)) => format!("{message}; for example {examples}"),
            (None, None) => message,
        }
    }
}

/// An example value of a JSON Schema `format` that params use.
fn format_example(format: &str) -> Option<&'static str> {
    Some(match format {
        "date-time" => "\"2026-03-01T00:00:00Z\" or \"2026-03-01T01:00:00+01:00\" (RFC 3339)",
        "date" => "\"2026-03-01\"",
        "time" => "\"13:45:00Z\"",
        "duration" => "\"PT15M\" or \"P1D\" (ISO 8601)",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unexpected_properties_get_the_close_allowed_ones() {
        let v = ParamsValidator::compile(&json!({
            "type": "object",
            "properties": {
                "limit_kw": {"type": "number"},
                "battery": {"$ref": "#/$defs/Battery"}
            },
            "additionalProperties": false,
            "$defs": {"Battery": {
                "type": "object",
                "properties": {"efficiency": {"type": "number"}, "power_kw": {"type": "number"}},
                "additionalProperties": false
            }}
        }))
        .unwrap();
        let errors = v.errors(&json!({"limit": 50, "battery": {"eficiency": 0.9, "colour": 1}}));
        let messages: Vec<(&str, &str)> = errors
            .iter()
            .map(|e| (e.pointer.as_str(), e.message.as_str()))
            .collect();
        assert_eq!(
            messages,
            [
                (
                    "",
                    "Additional properties are not allowed ('limit' was unexpected); did you mean \
                     'limit_kw'?"
                ),
                (
                    "/battery",
                    "Additional properties are not allowed ('colour', 'eficiency' were \
                     unexpected); did you mean 'efficiency'?"
                ),
            ]
        );
        let far = v.errors(&json!({"colour": 1}));
        assert_eq!(
            far[0].message,
            "Additional properties are not allowed ('colour' was unexpected); the properties \
             here are battery, limit_kw"
        );
    }

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
    fn errors_come_in_document_order_and_stop_at_the_cap() {
        let v = ParamsValidator::compile(&json!({
            "type": "object",
            "properties": {"names": {"type": "array", "items": {"type": "string"}}}
        }))
        .unwrap();
        let pointers = |n: usize| -> Vec<String> {
            v.errors(&json!({"names": vec![1; n]}))
                .into_iter()
                .map(|e| e.pointer)
                .collect()
        };
        let some = pointers(12);
        assert_eq!(some[..3], ["/names/0", "/names/1", "/names/2"]);
        assert_eq!(some[11], "/names/11");
        let many = v.errors(&json!({"names": vec![1; 2_000_000]}));
        assert_eq!(many.len(), MAX_ERRORS + 1);
        assert_eq!(many[MAX_ERRORS - 1].pointer, "/names/99");
        assert_eq!(
            many[MAX_ERRORS].to_string(),
            "/: more errors follow; only the first 100 are listed: fix these first"
        );
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
    fn any_of_and_one_of_say_what_each_branch_expected() {
        let v = ParamsValidator::compile(&json!({
            "type": "object",
            "properties": {
                "day": {"anyOf": [{"type": "string", "format": "date"}, {"type": "null"}]},
                "limit": {"oneOf": [{"type": "number", "minimum": 0}, {"$ref": "#/$defs/Auto"}]},
                "flag": {"anyOf": [{"type": "boolean"}, {"type": "integer"}]}
            },
            "$defs": {"Auto": {"const": "auto"}}
        }))
        .unwrap();
        let messages: Vec<String> = v
            .errors(&json!({"day": "2026-13-45", "limit": -1, "flag": "yes"}))
            .into_iter()
            .map(|e| format!("{}: {}", e.pointer, e.message))
            .collect();
        assert_eq!(
            messages,
            [
                r#"/day: "2026-13-45" is not a "date" (for example "2026-03-01") and not null"#,
                r#"/flag: "yes" is not a boolean and not an integer"#,
                r#"/limit: -1 is less than the minimum of 0 and not "auto""#,
            ]
        );
    }

    #[test]
    fn pattern_and_format_errors_say_what_is_expected() {
        let v = ParamsValidator::compile(&json!({
            "type": "object",
            "properties": {
                "resolution": {"$ref": "#/$defs/Resolution"},
                "code": {"type": "string", "pattern": "^[A-Z]{2}$", "examples": ["DE", "FR"]},
                "bare": {"type": "string", "pattern": "^x$"},
                "end": {"type": "string", "format": "date-time", "description": "Until then."}
            },
            "$defs": {"Resolution": {
                "type": "string",
                "pattern": "^P",
                "description": "ISO 8601 duration: PT15M, PT1H, P1D\nMore text."
            }}
        }))
        .unwrap();
        let messages: Vec<String> = v
            .errors(&json!({"resolution": "1H", "code": "de", "bare": "y", "end": "tomorrow"}))
            .into_iter()
            .map(|e| format!("{}: {}", e.pointer, e.message))
            .collect();
        assert_eq!(
            messages,
            [
                r#"/bare: "y" does not match "^x$""#,
                r#"/code: "de" does not match "^[A-Z]{2}$"; for example "DE", "FR""#,
                r#"/end: "tomorrow" is not a "date-time"; for example "2026-03-01T00:00:00Z" or "2026-03-01T01:00:00+01:00" (RFC 3339)"#,
                r#"/resolution: "1H" does not match "^P"; expected: ISO 8601 duration: PT15M, PT1H, P1D"#,
            ]
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
