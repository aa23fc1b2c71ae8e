//! Params (and a Python plugin's summary) from Python values to JSON, with a
//! JSON Pointer on every value that is not JSON: NaN and infinities, naive
//! datetimes, times and timedeltas, sets, bytes, integers beyond 64 bits.
//! numpy scalars become numbers or bools (arrays lists), a pydantic model
//! becomes its `model_dump(mode="json")`, and as there, a date or a datetime
//! with a time zone becomes its ISO 8601 text. Every error is reported at
//! once: for params as a `ValidationError` like those of the params schema,
//! for a summary as a `TypeError` (the plugin's mistake, not its caller's).

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyFrozenSet, PyInt, PyList, PyMapping,
    PySequence, PySet, PyString, PyTuple, PyType,
};
use serde_json::{Map, Number, Value};

use super::errors;
use crate::validation::ParamsError;

/// Nesting deeper than this is refused (a cycle, most likely).
const MAX_DEPTH: usize = 128;

/// The params of a run of `algorithm` as a JSON object (`{}` for None).
pub fn to_json(
    py: Python<'_>,
    algorithm: &str,
    params: Option<&Bound<'_, PyAny>>,
) -> PyResult<Value> {
    let Some(params) = params.filter(|p| !p.is_none()) else {
        return Ok(Value::Object(Map::new()));
    };
    let mut converter = Converter::new(Purpose::Params);
    let value = converter.value(params, String::new(), 0)?;
    if !converter.errors.is_empty() {
        return Err(errors::validation_error(py, algorithm, &converter.errors));
    }
    if !value.is_object() {
        return Err(PyTypeError::new_err(format!(
            "params of '{algorithm}' must be a dict (a JSON object), got {}",
            describe(params)
        )));
    }
    Ok(value)
}

/// The summary a Python algorithm returned, as plain JSON values (dicts,
/// lists, str, int, float, bool, None), converted as params are; an int key
/// becomes its text, as `json.dumps` makes it. `TypeError` listing every
/// value that is not JSON, each at its JSON Pointer.
///
/// Private: `AlgorithmSpec.invoke` calls it.
#[pyfunction]
#[pyo3(name = "_summary_to_json")]
pub fn summary_to_json<'py>(
    py: Python<'py>,
    algorithm: &str,
    summary: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let mut converter = Converter::new(Purpose::Summary);
    let value = converter.value(summary, String::new(), 0)?;
    if !converter.errors.is_empty() {
        let n = converter.errors.len();
        let lines: String = converter
            .errors
            .iter()
            .map(|e| format!("\n  {}: {}", errors::display_pointer(&e.pointer), e.message))
            .collect();
        return Err(PyTypeError::new_err(format!(
            "the summary of algorithm `{algorithm}` is not JSON-serialisable ({n} error{}):{lines}",
            if n == 1 { "" } else { "s" }
        )));
    }
    super::to_py(py, &value)
}

/// What a value is converted for: the words of its messages, and whether a
/// key may be an int.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Params,
    Summary,
}

impl Purpose {
    /// What the caller does with a value: params are passed, a summary is
    /// returned.
    fn verb(self) -> &'static str {
        match self {
            Purpose::Params => "pass",
            Purpose::Summary => "use",
        }
    }

    /// What the keys may be.
    fn keys(self) -> &'static str {
        match self {
            Purpose::Params => "keys of JSON objects are str",
            Purpose::Summary => "keys of JSON objects are str (an int key becomes its text)",
        }
    }

    /// What the values may be.
    fn allowed(self) -> &'static str {
        match self {
            Purpose::Params => "params are dicts, lists, str, int, float, bool and None",
            Purpose::Summary => "a summary holds dicts, lists, str, int, float, bool and None",
        }
    }
}

struct Converter {
    purpose: Purpose,
    errors: Vec<ParamsError>,
}

impl Converter {
    fn new(purpose: Purpose) -> Self {
        Self {
            purpose,
            errors: Vec::new(),
        }
    }

    fn refuse(&mut self, pointer: String, message: String) -> Value {
        self.errors.push(ParamsError { pointer, message });
        Value::Null
    }

    /// `value` as JSON; what is not JSON is recorded and becomes null.
    /// Only a Python error raised by the value itself (a failing
    /// `model_dump`, say) is returned as an error.
    fn value(
        &mut self,
        value: &Bound<'_, PyAny>,
        pointer: String,
        depth: usize,
    ) -> PyResult<Value> {
        let py = value.py();
        let verb = self.purpose.verb();
        if depth > MAX_DEPTH {
            return Ok(self.refuse(
                pointer,
                format!("nested more than {MAX_DEPTH} levels deep (does it contain itself?)"),
            ));
        }
        if value.is_none() {
            return Ok(Value::Null);
        }
        if let Ok(b) = value.cast::<PyBool>() {
            return Ok(Value::Bool(b.is_true()));
        }
        if let Ok(s) = value.cast::<PyString>() {
            return Ok(Value::String(s.to_str()?.to_owned()));
        }
        if value.is_instance_of::<PyInt>() {
            return Ok(self.int(value, pointer));
        }
        if let Ok(f) = value.cast::<PyFloat>() {
            return Ok(self.float(f.value(), pointer));
        }
        if let Ok(dict) = value.cast::<PyDict>() {
            return self.object(dict.items().iter(), pointer, depth);
        }
        if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
            return self.array(value, pointer, depth);
        }
        if is_nat(value)? {
            return Ok(self.refuse(pointer, format!("NaT is not a time; {verb} None")));
        }
        if let Some(kind) = temporal(value)? {
            let iso = iso_text(value);
            let message = match (kind, iso) {
                // As pydantic's `model_dump(mode="json")` writes them.
                (Temporal::Date, Some(iso)) => return Ok(Value::String(iso)),
                (Temporal::DateTime, Some(iso))
                    if !value.getattr("utcoffset")?.call0()?.is_none() =>
                {
                    return Ok(Value::String(iso));
                }
                (Temporal::DateTime, Some(iso)) => format!(
                    "{} without a time zone ({iso}) is ambiguous; give it one, e.g. \
                     datetime(2026, 3, 1, tzinfo=ZoneInfo(\"Europe/Berlin\")) or \
                     value.replace(tzinfo=timezone.utc)",
                    describe(value)
                ),
                (Temporal::Time, Some(iso)) => format!(
                    "{} is not a JSON value; {verb} an ISO 8601 string such as {iso:?} \
                     (value.isoformat())",
                    describe(value)
                ),
                _ => format!(
                    "{} is not a JSON value; {verb} an ISO 8601 duration such as \"PT1H\" \
                     or a number of seconds",
                    describe(value)
                ),
            };
            return Ok(self.refuse(pointer, message));
        }
        if is_numpy(value)? && value.get_type().qualname()? == "datetime64" {
            // No time zone, and `tolist()` of one in ns is an int.
            let message = format!(
                "a numpy.datetime64 ({}) has no time zone, so its instant is ambiguous; \
                 {verb} a datetime with one, e.g. pd.Timestamp(value, tz=\"UTC\") or an \
                 ISO 8601 string with an offset such as \"2026-03-01T00:00:00Z\"",
                value.str()?
            );
            return Ok(self.refuse(pointer, message));
        }
        if is_numpy(value)? {
            // np.int64, np.float64, np.bool_, …: their Python equivalent;
            // an array: its (nested) list.
            let plain = value.call_method0("tolist")?;
            if !is_numpy(&plain)? {
                return self.value(&plain, pointer, depth + 1);
            }
        }
        if value.hasattr("model_dump")? && value.hasattr("model_fields_set")? {
            // A pydantic model: its JSON form.
            let kwargs = PyDict::new(py);
            kwargs.set_item("mode", "json")?;
            let dumped = value.call_method("model_dump", (), Some(&kwargs))?;
            return self.value(&dumped, pointer, depth + 1);
        }
        if value.is_instance_of::<PySet>() || value.is_instance_of::<PyFrozenSet>() {
            let message = format!("{} is not a JSON value; {verb} a list", describe(value));
            return Ok(self.refuse(pointer, message));
        }
        if value.is_instance_of::<PyBytes>() || value.is_instance_of::<PyByteArray>() {
            let message = format!("{} is not a JSON value; {verb} a str", describe(value));
            return Ok(self.refuse(pointer, message));
        }
        if let Ok(mapping) = value.cast::<PyMapping>() {
            let items = mapping.items()?;
            return self.object(items.iter(), pointer, depth);
        }
        if value.hasattr("__index__")? {
            let index = py.import("operator")?.call_method1("index", (value,))?;
            return Ok(self.int(&index, pointer));
        }
        if value.hasattr("__float__")? {
            let number: f64 = value.call_method0("__float__")?.extract()?;
            return Ok(self.float(number, pointer));
        }
        if value.cast::<PySequence>().is_ok() {
            return self.array(value, pointer, depth);
        }
        let message = format!(
            "{} is not a JSON value; {}",
            describe(value),
            self.purpose.allowed()
        );
        Ok(self.refuse(pointer, message))
    }

    fn int(&mut self, value: &Bound<'_, PyAny>, pointer: String) -> Value {
        if let Ok(i) = value.extract::<i64>() {
            return Value::from(i);
        }
        if let Ok(u) = value.extract::<u64>() {
            return Value::from(u);
        }
        let text = value.str().map(|s| s.to_string()).unwrap_or_default();
        self.refuse(
            pointer,
            format!(
                "{text} does not fit a 64-bit integer; {} a float if it is a quantity",
                self.purpose.verb()
            ),
        )
    }

    fn float(&mut self, number: f64, pointer: String) -> Value {
        match Number::from_f64(number) {
            Some(n) => Value::Number(n),
            None => self.refuse(
                pointer,
                format!("{number} is not allowed: NaN/inf are not JSON numbers"),
            ),
        }
    }

    fn object<'py>(
        &mut self,
        items: impl Iterator<Item = Bound<'py, PyAny>>,
        pointer: String,
        depth: usize,
    ) -> PyResult<Value> {
        let mut object = Map::new();
        for item in items {
            let (key, value): (Bound<'py, PyAny>, Bound<'py, PyAny>) = item.extract()?;
            let text = match key.cast::<PyString>() {
                Ok(text) => Some(text.to_string()),
                // As `json.dumps` writes it.
                Err(_) if self.purpose == Purpose::Summary && is_plain_int(&key) => {
                    Some(key.str()?.to_string())
                }
                Err(_) => None,
            };
            let Some(key) = text else {
                let message = format!(
                    "the key {} is {}; {}",
                    key.repr().map(|r| r.to_string()).unwrap_or_default(),
                    describe(&key),
                    self.purpose.keys()
                );
                self.refuse(pointer.clone(), message);
                continue;
            };
            let child = format!("{pointer}/{}", escape(&key));
            let converted = self.value(&value, child, depth + 1)?;
            object.insert(key, converted);
        }
        Ok(Value::Object(object))
    }

    fn array(
        &mut self,
        value: &Bound<'_, PyAny>,
        pointer: String,
        depth: usize,
    ) -> PyResult<Value> {
        let mut array = Vec::new();
        for (i, item) in value.try_iter()?.enumerate() {
            let converted = self.value(&item?, format!("{pointer}/{i}"), depth + 1)?;
            array.push(converted);
        }
        Ok(Value::Array(array))
    }
}

/// A key as a JSON Pointer token (RFC 6901: `~` → `~0`, `/` → `~1`).
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// `a datetime.datetime`, `an int`: a value's type, for messages.
pub(crate) fn describe(value: &Bound<'_, PyAny>) -> String {
    let ty = value.get_type();
    let name = ty
        .qualname()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "object".to_owned());
    let module = ty
        .module()
        .map(|m| m.to_string())
        .unwrap_or_else(|_| "builtins".to_owned());
    let full = if module == "builtins" {
        name
    } else {
        format!("{module}.{name}")
    };
    let article = if full.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {full}")
}

/// Whether `value` is an `int` (a subclass too) but not a `bool`.
fn is_plain_int(value: &Bound<'_, PyAny>) -> bool {
    value.is_instance_of::<PyInt>() && !value.is_instance_of::<PyBool>()
}

fn is_numpy(value: &Bound<'_, PyAny>) -> PyResult<bool> {
    let module = value.get_type().module()?;
    Ok(module.to_str()?.starts_with("numpy") && value.hasattr("tolist")?)
}

/// Whether `value` is pandas' `NaT` (a datetime that fails `utcoffset()`)
/// or numpy's (`np.datetime64("NaT")`, whose `tolist()` is None).
fn is_nat(value: &Bound<'_, PyAny>) -> PyResult<bool> {
    let ty = value.get_type();
    let module = ty.module()?;
    Ok(
        match (module.to_str()?.split('.').next(), ty.qualname()?.to_str()?) {
            (Some("pandas"), "NaTType") => true,
            (Some("numpy"), "datetime64") => value.str()?.to_str()? == "NaT",
            _ => false,
        },
    )
}

static TEMPORAL: PyOnceLock<Py<PyTuple>> = PyOnceLock::new();

/// The kinds of `datetime` values.
#[derive(Debug, Clone, Copy)]
enum Temporal {
    DateTime,
    Date,
    Time,
    TimeDelta,
}

/// Which `datetime` kind `value` is, if any (pandas Timestamps are
/// datetimes; a datetime is also a date, so it is asked first).
fn temporal(value: &Bound<'_, PyAny>) -> PyResult<Option<Temporal>> {
    let py = value.py();
    let types = TEMPORAL.get_or_try_init(py, || -> PyResult<Py<PyTuple>> {
        let datetime = py.import("datetime")?;
        let types: Vec<Bound<'_, PyType>> = ["datetime", "date", "time", "timedelta"]
            .iter()
            .map(|name| Ok(datetime.getattr(*name)?.cast_into::<PyType>()?))
            .collect::<PyResult<_>>()?;
        Ok(PyTuple::new(py, types)?.unbind())
    })?;
    let kinds = [
        Temporal::DateTime,
        Temporal::Date,
        Temporal::Time,
        Temporal::TimeDelta,
    ];
    for (ty, kind) in types.bind(py).iter().zip(kinds) {
        if value.is_instance(&ty)? {
            return Ok(Some(kind));
        }
    }
    Ok(None)
}

/// `value.isoformat()`, for dates, times and datetimes.
fn iso_text(value: &Bound<'_, PyAny>) -> Option<String> {
    value
        .call_method0("isoformat")
        .and_then(|s| s.extract::<String>())
        .ok()
}
