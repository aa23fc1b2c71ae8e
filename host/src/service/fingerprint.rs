//! The fingerprint of a submission, stored with its `Idempotency-Key`: the
//! same key with the same fingerprint returns the same run.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::Submit;

/// A stable text of the request an idempotency key stands for: algorithm,
/// timeout and params, with object keys sorted and numbers as JSON means
/// them (`1.0` is `1`).
pub(super) fn fingerprint(submit: &Submit) -> String {
    let timeout = submit.timeout.map(|t| t.as_secs_f64());
    let request = (&submit.algorithm, timeout, SortedJson(&submit.params));
    serde_json::to_string(&request).unwrap_or_default()
}

/// Serialises a JSON value with every object's keys in sorted order.
struct SortedJson<'a>(&'a Value);

impl Serialize for SortedJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self.0 {
            Value::Object(map) => {
                let sorted: BTreeMap<&String, &Value> = map.iter().collect();
                let mut out = serializer.serialize_map(Some(sorted.len()))?;
                for (k, v) in sorted {
                    out.serialize_entry(k, &SortedJson(v))?;
                }
                out.end()
            }
            Value::Array(items) => {
                let mut out = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    out.serialize_element(&SortedJson(item))?;
                }
                out.end()
            }
            // An integral float is the integer: JSON has one number type.
            Value::Number(n)
                if n.as_f64().is_some_and(|f| {
                    n.is_f64() && f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0
                }) =>
            {
                serializer.serialize_i64(n.as_f64().unwrap_or_default() as i64)
            }
            other => other.serialize(serializer),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;

    fn submit(params: Value, timeout: Option<Duration>) -> Submit {
        Submit {
            algorithm: "peak_shaving".into(),
            params,
            timeout,
            idempotency_key: Some("k".into()),
        }
    }

    #[test]
    fn key_order_does_not_matter_but_values_and_timeout_do() {
        let a = fingerprint(&submit(json!({"x": 1, "y": {"b": 2, "a": [3]}}), None));
        let b = fingerprint(&submit(json!({"y": {"a": [3], "b": 2}, "x": 1}), None));
        assert_eq!(a, b);
        assert_eq!(a, r#"["peak_shaving",null,{"x":1,"y":{"a":[3],"b":2}}]"#);
        assert_ne!(a, fingerprint(&submit(json!({"x": 2, "y": {}}), None)));
        let timed = submit(
            json!({"x": 1, "y": {"b": 2, "a": [3]}}),
            Some(Duration::from_secs(5)),
        );
        assert_ne!(a, fingerprint(&timed));
        // 1 and 1.0 are the same JSON number; 1.5 is another.
        let float = fingerprint(&submit(json!({"x": 1.0, "y": {"a": [3.0], "b": 2}}), None));
        assert_eq!(float, a);
        assert_ne!(
            a,
            fingerprint(&submit(json!({"x": 1.5, "y": {"a": [3], "b": 2}}), None))
        );
    }
}
