//! `--params`: inline JSON, `@FILE`, or `@-` for stdin, read into a JSON
//! object. A UTF-8 byte order mark (which some editors write) is skipped; a
//! key given twice is refused, since JSON parsers disagree on which one
//! wins.

use std::collections::BTreeSet;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::UsageError;

/// Parses `--params`.
pub(super) fn parse(text: &str) -> anyhow::Result<Value> {
    let (origin, body) = match text.strip_prefix('@') {
        Some("-") => {
            let mut body = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut body)
                .map_err(|e| UsageError(format!("cannot read params from stdin: {e}")))?;
            ("stdin".to_owned(), body)
        }
        Some(path) => {
            let body = std::fs::read_to_string(path)
                .map_err(|e| UsageError(format!("cannot read params file '{path}': {e}")))?;
            (format!("params file '{path}'"), body)
        }
        None => ("--params".to_owned(), text.to_owned()),
    };
    let body = body.strip_prefix('\u{feff}').unwrap_or(&body);
    let value = serde_json::from_str::<UniqueKeys>(body)
        .map_err(|e| match e.classify() {
            // Only UniqueKeys' own error is of this category.
            serde_json::error::Category::Data => {
                UsageError(format!("{origin}: {e}; give each key once"))
            }
            _ => UsageError(format!(
                "{origin} is not valid JSON ({e}); pass an object such as --params '{{\"limit_kw\": 50}}' or --params @params.json"
            )),
        })?
        .0;
    if !value.is_object() {
        return Err(UsageError(format!("{origin} must be a JSON object, found {value}")).into());
    }
    Ok(value)
}

/// A JSON value whose objects have no key twice (at any depth).
struct UniqueKeys(Value);

impl<'de> Deserialize<'de> for UniqueKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(UniqueKeysVisitor)
            .map(UniqueKeys)
    }
}

struct UniqueKeysVisitor;

impl<'de> Visitor<'de> for UniqueKeysVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(UniqueKeys(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        let mut seen = BTreeSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom(format_args!(
                    "the key \"{key}\" is given twice"
                )));
            }
            let UniqueKeys(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_values_read_as_serde_json_reads_them() {
        let text = r#"{"a": [1, -2, 2.5, null, true, "x", {"b": {}}], "c": 18446744073709551615}"#;
        let UniqueKeys(value) = serde_json::from_str(text).unwrap();
        assert_eq!(value, serde_json::from_str::<Value>(text).unwrap());
    }

    #[test]
    fn a_key_given_twice_is_named_at_any_depth() {
        let err = serde_json::from_str::<UniqueKeys>(r#"{"a": {"b": 1, "b": 2}}"#)
            .err()
            .unwrap();
        assert!(
            err.to_string()
                .starts_with(r#"the key "b" is given twice at line 1"#),
            "{err}"
        );
    }
}
