//! axum's extractors with their rejections turned into [`ApiError`]s, so
//! that a malformed body, query or path answers with problem+json too.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;

use super::RequestDeadline;
use super::error::ApiError;
use super::state::AppState;

/// A JSON request body: a JSON object with the fields of `T`.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

/// A body type's shape, for the message when a body is not a JSON object.
pub trait BodyShape {
    /// The fields of the object (`algorithm (required), params, timeout`),
    /// or `None` when any JSON value is a body.
    const FIELDS: Option<&'static str>;
    /// Whether deserializing the type refuses a key given twice anywhere in
    /// the object (its fields by serde's derive, free-form values with
    /// [`unique_keys_value`]): then a body that deserializes was checked
    /// in the same pass, and only a refused one is read again to say why.
    const CHECKS_KEYS: bool = false;
}

impl BodyShape for serde_json::Value {
    const FIELDS: Option<&'static str> = None;
}

impl<T: DeserializeOwned + BodyShape> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::UnsupportedMediaType(
                "send the body as JSON with the header content-type: application/json".into(),
            ));
        }
        let RawBody(body) = RawBody::from_request(req, state).await?;
        // A UTF-8 byte order mark, which some editors write, is no content
        // (RFC 8259 §8.1 lets a parser ignore it).
        let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&body);
        // An object, as most bodies are, of a type that checks its keys:
        // one pass (an array would deserialize as a struct's fields too).
        let first = body.iter().find(|b| !b.is_ascii_whitespace());
        if T::CHECKS_KEYS
            && first == Some(&b'{')
            && let Ok(value) = serde_json::from_slice(body)
        {
            return Ok(JsonBody(value));
        }
        check_json(body)?;
        if let Some(fields) = T::FIELDS {
            // Valid JSON, so its first character says what it is.
            if first.is_some_and(|b| *b != b'{') {
                let what = match first {
                    Some(b'[') => "an array",
                    Some(b'"') => "a string",
                    Some(b't' | b'f') => "a boolean",
                    Some(b'n') => "null",
                    _ => "a number",
                };
                return Err(ApiError::BadRequest(format!(
                    "the body must be a JSON object with the fields {fields}, not {what}"
                )));
            }
        }
        // Most bodies are fine: parsed once, without tracking the path,
        // which only a refused one needs (parsed again to say where).
        if let Ok(value) = serde_json::from_slice(body) {
            return Ok(JsonBody(value));
        }
        let mut json = serde_json::Deserializer::from_slice(body);
        serde_path_to_error::deserialize::<_, T>(&mut json)
            .map(JsonBody)
            .map_err(|e| {
                let message = without_position(e.inner());
                let mut path = e.path().to_string();
                // An unknown field's path ends with it: say where it is.
                if message.starts_with("unknown field")
                    && let Some(serde_path_to_error::Segment::Map { key }) =
                        e.path().iter().next_back()
                {
                    path = path
                        .strip_suffix(key.as_str())
                        .unwrap_or(&path)
                        .trim_end_matches('.')
                        .to_owned();
                }
                let place = match path.as_str() {
                    "" | "." => "the body".to_owned(),
                    path => format!("the body's field {path}"),
                };
                ApiError::BadRequest(format!("{place}: {message}"))
            })
    }
}

/// Refuses a body that is not JSON, or that gives a key twice in an
/// object: JSON parsers disagree on which of the two counts (serde keeps
/// the last, others the first), so a proxy or a client could check one
/// value while the run gets the other.
fn check_json(body: &[u8]) -> Result<(), ApiError> {
    if serde_json::from_slice::<UniqueValue>(body).is_ok() {
        return Ok(());
    }
    // Again, tracking the path, to say where.
    let mut json = serde_json::Deserializer::from_slice(body);
    match serde_path_to_error::deserialize::<_, UniqueValue>(&mut json) {
        // Something after the value.
        Ok(_) => json.end().map_err(|e| not_json(body, &e)),
        Err(e) => {
            // The path is the object's (the error comes before the value).
            let mut object = String::new();
            for segment in e.path().iter() {
                match segment {
                    serde_path_to_error::Segment::Seq { index } => {
                        object.push_str(&format!("[{index}]"));
                    }
                    serde_path_to_error::Segment::Map { key } => {
                        if !object.is_empty() {
                            object.push('.');
                        }
                        object.push_str(key);
                    }
                    _ => {}
                }
            }
            let e = e.into_inner();
            if !e.is_data() {
                return Err(not_json(body, &e));
            }
            let place = match object.as_str() {
                "" => String::new(),
                object => format!(" in the object at {object}"),
            };
            Err(ApiError::BadRequest(format!(
                "the body gives the key {}{place}; give each key of an object once",
                without_position(&e)
            )))
        }
    }
}

/// Why `body` is not JSON.
fn not_json(body: &[u8], e: &serde_json::Error) -> ApiError {
    let is_nan = [&b"NaN"[..], b"Infinity"]
        .iter()
        .any(|word| body.windows(word.len()).any(|w| w == *word));
    let hint = if is_nan {
        " (NaN and Infinity are not JSON numbers: send null for a missing value)"
    } else {
        ""
    };
    ApiError::BadRequest(format!("the body is not valid JSON: {e}{hint}"))
}

/// Deserializes a JSON value, refusing an object that gives a key twice
/// (see [`BodyShape::CHECKS_KEYS`]); for `#[serde(deserialize_with)]`.
pub fn unique_keys_value<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<serde_json::Value, D::Error> {
    deserializer.deserialize_any(UniqueValueVisitor)
}

/// A JSON value whose objects give each key once, as a value.
struct UniqueValue(serde_json::Value);

impl<'de> serde::Deserialize<'de> for UniqueValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        unique_keys_value(deserializer).map(UniqueValue)
    }
}

struct UniqueValueVisitor;

impl<'de> serde::de::Visitor<'de> for UniqueValueVisitor {
    type Value = serde_json::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<serde_json::Value, E> {
        Ok(value.into())
    }
    fn visit_i64<E>(self, value: i64) -> Result<serde_json::Value, E> {
        Ok(value.into())
    }
    fn visit_u64<E>(self, value: u64) -> Result<serde_json::Value, E> {
        Ok(value.into())
    }
    fn visit_f64<E>(self, value: f64) -> Result<serde_json::Value, E> {
        Ok(value.into())
    }
    fn visit_str<E>(self, value: &str) -> Result<serde_json::Value, E> {
        Ok(value.into())
    }
    fn visit_string<E>(self, value: String) -> Result<serde_json::Value, E> {
        Ok(value.into())
    }
    fn visit_unit<E>(self) -> Result<serde_json::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_none<E>(self) -> Result<serde_json::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_some<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<serde_json::Value, D::Error> {
        unique_keys_value(deserializer)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> Result<serde_json::Value, A::Error> {
        let mut values = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(UniqueValue(value)) = seq.next_element()? {
            values.push(value);
        }
        Ok(serde_json::Value::Array(values))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> Result<serde_json::Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(serde::de::Error::custom(format!("'{key}' twice")));
            }
            let UniqueValue(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(serde_json::Value::Object(object))
    }
}

/// Whether the content type is JSON (`application/json` or `…+json`).
fn is_json(headers: &HeaderMap) -> bool {
    let Some(media_type) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim)
    else {
        return false;
    };
    let starts = |prefix: &str| {
        media_type
            .get(..prefix.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(prefix))
    };
    let ends = |suffix: &str| {
        media_type
            .len()
            .checked_sub(suffix.len())
            .and_then(|at| media_type.get(at..))
            .is_some_and(|s| s.eq_ignore_ascii_case(suffix))
    };
    media_type.eq_ignore_ascii_case("application/json") || (starts("application/") && ends("+json"))
}

/// A raw request body, within the body limit, as sent: a body with a
/// `Content-Encoding` (other than `identity`) is refused, not read as if
/// it were not encoded.
#[derive(Debug)]
pub struct RawBody(pub Bytes);

impl FromRequest<AppState> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let encodings = content_encodings(req.headers());
        let deadline = req.extensions().get::<RequestDeadline>().copied();
        let read = Bytes::from_request(req, state);
        // The request's deadline reached with the body still on its way:
        // the client's doing (408), not the server's (503). Polled inside
        // the request's own timeout, this one comes first at the same
        // instant.
        let read = match deadline {
            Some(deadline) => tokio::time::timeout_at(deadline.at, read)
                .await
                .map_err(|_| ApiError::BodyTimeout(deadline.timeout))?,
            None => read.await,
        };
        let body = read.map_err(|rejection: BytesRejection| match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(state.body_limit),
            _ => ApiError::BadRequest(rejection.body_text()),
        })?;
        if !body.is_empty() && !encodings.is_empty() {
            return Err(ApiError::UnsupportedMediaType(format!(
                "Content-Encoding {} is not supported; send the body uncompressed",
                encodings.join(", ")
            )));
        }
        Ok(RawBody(body))
    }
}

/// The codings of `Content-Encoding` but `identity` (which is none).
fn content_encodings(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::CONTENT_ENCODING)
        .iter()
        .flat_map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .split(',')
                .map(|c| c.trim().to_owned())
                .collect::<Vec<_>>()
        })
        .filter(|c| !c.is_empty() && !c.eq_ignore_ascii_case("identity"))
        .collect()
}

/// Query string parameters.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| Query(v))
            .map_err(|r: QueryRejection| {
                let text = r.body_text();
                let cause = text
                    .strip_prefix("Failed to deserialize query string: ")
                    .unwrap_or(&text);
                // serde's `duplicate field `status``, as a user would say it.
                if let Some(name) = cause
                    .split_once("duplicate field `")
                    .and_then(|(_, rest)| rest.split_once('`'))
                    .map(|(name, _)| name)
                {
                    let how = if COMMA_LISTS.contains(&name) {
                        format!("give several values once, separated by commas ({name}=a,b)")
                    } else {
                        "give it once".to_owned()
                    };
                    return ApiError::BadRequest(format!(
                        "query parameter {name} is given twice; {how}"
                    ));
                }
                ApiError::BadRequest(format!("query parameter {}", humane(cause)))
            })
    }
}

/// Path parameters.
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let rejection = match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => return Ok(Path(value)),
            Err(rejection) => rejection,
        };
        // The name of a lone parameter, which the rejection does not say.
        let raw = axum::extract::RawPathParams::from_request_parts(parts, state).await;
        let name = raw
            .ok()
            .and_then(|raw| raw.iter().next().map(|(key, _)| key.to_owned()));
        Err(ApiError::BadRequest(path_message(
            &rejection,
            name.as_deref().unwrap_or("parameter"),
        )))
    }
}

/// What a path parameter that does not parse should have been.
fn path_message(rejection: &PathRejection, lone: &str) -> String {
    use axum::extract::path::ErrorKind;
    let PathRejection::FailedToDeserializePathParams(e) = rejection else {
        return rejection.body_text();
    };
    let (key, value, expected) = match e.kind() {
        ErrorKind::ParseErrorAtKey {
            key,
            value,
            expected_type,
        } => (key.as_str(), value, *expected_type),
        ErrorKind::ParseError {
            value,
            expected_type,
        } => (lone, value, *expected_type),
        // A UUID's own parser failed.
        ErrorKind::DeserializeError {
            key,
            value,
            message,
        } if message.contains("UUID") => (key.as_str(), value, "Uuid"),
        _ => return rejection.body_text(),
    };
    let wanted = if expected.ends_with("Uuid") {
        "a UUID, such as 0193b5e2-6c1d-7e4a-9f10-2b3c4d5e6f70 (as POST /runs answers it)"
    } else if expected.starts_with(['i', 'u']) {
        "a whole number"
    } else {
        expected
    };
    format!("the {key} '{value}' in the path is not {wanted}")
}

/// A serde_json error's message without its `at line 1 column 7`.
fn without_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let text = match text.rfind(" at line ") {
        Some(at) if e.line() > 0 => text[..at].to_owned(),
        _ => text,
    };
    humane(&text)
}

/// Query parameters that take several values as one comma-separated list.
const COMMA_LISTS: &[&str] = &["status"];

/// serde's wording of a value of the wrong kind, in the API's: no Rust
/// type names (`f64`, `i64`), quotes rather than backticks, and the
/// choices of an enum as a plain list.
fn humane(message: &str) -> String {
    // `unknown variant `x`, expected one of `a`, `b``, or `expected `a` or `b``.
    if let Some(rest) = message.strip_prefix("unknown variant `")
        && let Some((value, choices)) = rest.split_once("`, expected ")
    {
        let choices = choices
            .trim_start_matches("one of ")
            .replace(" or ", ", ")
            .replace('`', "");
        return format!("'{value}' is not one of {choices}");
    }
    let mut text = message.to_owned();
    for (rust, plain) in [
        ("expected f64", "expected a number"),
        ("expected f32", "expected a number"),
        ("expected i64", "expected a whole number"),
        ("expected u64", "expected a whole number (0 or more)"),
        ("expected i32", "expected a whole number"),
        ("expected u32", "expected a whole number (0 or more)"),
        ("expected usize", "expected a whole number (0 or more)"),
        ("invalid type: floating point", "invalid type: number"),
        ("invalid type: integer", "invalid type: number"),
    ] {
        text = text.replace(rust, plain);
    }
    if let Some(at) = text.find("UUID parsing failed") {
        text.replace_range(
            at..,
            "not a UUID, such as 0193b5e2-7d4c-7a10-8f3e-2b6a1c9d0e4f",
        );
    }
    text.replace('`', "'")
}

/// The query string of a route that takes no parameters: any parameter is
/// a 400 naming it, rather than being ignored.
#[derive(Debug)]
pub struct NoQuery;

impl<S: Send + Sync> FromRequestParts<S> for NoQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if parts.uri.query().is_none_or(str::is_empty) {
            return Ok(NoQuery);
        }
        let Query(pairs) = Query::<Vec<(String, String)>>::from_request_parts(parts, state).await?;
        match pairs.first() {
            Some((key, _)) => Err(ApiError::BadRequest(format!(
                "unknown query parameter '{key}'; this endpoint takes none"
            ))),
            None => Ok(NoQuery),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_media_types_are_known_in_any_case_with_or_without_parameters() {
        let json = |content_type: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, content_type.parse().unwrap());
            is_json(&headers)
        };
        for yes in [
            "application/json",
            "Application/JSON; charset=utf-8",
            " application/vnd.api+json ",
            "APPLICATION/MERGE-PATCH+JSON;x=1",
        ] {
            assert!(json(yes), "{yes}");
        }
        for no in [
            "text/json",
            "application/jsonl",
            "application/json5",
            "text/plain+json",
            "+json",
            "application/",
            "",
        ] {
            assert!(!json(no), "{no}");
        }
        assert!(!is_json(&HeaderMap::new()));
    }

    fn refusal(body: &str) -> String {
        match check_json(body.as_bytes()) {
            Err(ApiError::BadRequest(message)) => message,
            other => panic!("{body}: {other:?}"),
        }
    }

    #[test]
    fn a_key_given_twice_is_refused_at_any_depth_naming_it_and_its_object() {
        assert!(check_json(br#"{"a": {"b": 1, "c": [{"b": 2}]}, "b": 3}"#).is_ok());
        assert_eq!(
            refusal(r#"{"algorithm": "x", "algorithm": "y"}"#),
            "the body gives the key 'algorithm' twice; give each key of an object once"
        );
        assert_eq!(
            refusal(r#"{"params": {"limit_kw": "a", "limit_kw": 5}}"#),
            "the body gives the key 'limit_kw' twice in the object at params; give each key of \
             an object once"
        );
        let many: Vec<String> = (0..40).map(|i| format!("\"k{i}\": {i}")).collect();
        let body = format!("{{\"p\": [{{{}, \"k3\": 0}}]}}", many.join(", "));
        assert_eq!(
            refusal(&body),
            "the body gives the key 'k3' twice in the object at p[0]; give each key of an \
             object once"
        );
        assert!(refusal("{\"a\": }").starts_with("the body is not valid JSON: "));
        assert!(
            refusal("{\"a\": NaN}").ends_with(
                " (NaN and Infinity are not JSON numbers: send null for a missing value)"
            ),
            "{}",
            refusal("{\"a\": NaN}")
        );
    }

    #[test]
    fn a_run_request_refuses_a_key_given_twice_in_its_one_pass() {
        use crate::server::runs::SubmitRun;
        let body = r#"{"algorithm": "x", "params": {"a": [{"b": 1, "c": null}], "d": {"e": 1.5}}}"#;
        let submit: SubmitRun = serde_json::from_str(body).unwrap();
        let plain: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(submit.params, plain["params"]);
        for twice in [
            r#"{"algorithm": "x", "algorithm": "y"}"#,
            r#"{"algorithm": "x", "params": {"a": 1, "a": 2}}"#,
            r#"{"algorithm": "x", "params": {"a": [{"b": 1, "b": 1}]}}"#,
        ] {
            assert!(serde_json::from_str::<SubmitRun>(twice).is_err(), "{twice}");
            assert!(check_json(twice.as_bytes()).is_err(), "{twice}");
        }
    }

    #[test]
    fn serde_wording_becomes_the_apis() {
        assert_eq!(
            humane("unknown variant `bogus`, expected one of `builtin`, `dylib`, `python`"),
            "'bogus' is not one of builtin, dylib, python"
        );
        assert_eq!(
            humane("unknown variant `x`, expected `json` or `csv`"),
            "'x' is not one of json, csv"
        );
        assert_eq!(
            humane("invalid type: string \"5\", expected f64"),
            "invalid type: string \"5\", expected a number"
        );
        assert_eq!(
            humane("invalid type: floating point `1e+20`, expected i64"),
            "invalid type: number '1e+20', expected a whole number"
        );
        assert_eq!(
            humane("before: UUID parsing failed: invalid character: found `x` at 0"),
            "before: not a UUID, such as 0193b5e2-7d4c-7a10-8f3e-2b6a1c9d0e4f"
        );
    }
}
