//! The data model as Python classes (`DataPointId`, `Flow`,
//! `DataPointConfig`, `DataPointFilter`, `FlowFilter`), each wrapping the
//! SDK's type, and `resample` backed by the SDK's implementation.

use std::collections::BTreeMap;

use algohost_sdk::chrono::{DateTime, NaiveDateTime, Utc};
use algohost_sdk::data::{
    self, DataPointConfig, DataPointFilter, DataPointId, Flow, FlowFilter, ResampleOptions,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{errors, frames, to_py};

/// Builds `T` from JSON, with the serde message as a `ValueError`.
fn parse<T: DeserializeOwned>(what: &str, value: Value) -> PyResult<T> {
    serde_json::from_value(value).map_err(|e| PyValueError::new_err(format!("{what}: {e}")))
}

/// An aware datetime (any tzinfo: `timezone.utc`, a `ZoneInfo`, a fixed
/// offset, a pandas Timestamp's) as UTC; a naive one is refused, since its
/// zone is unknown.
fn utc(name: &str, value: Option<&Bound<'_, PyAny>>) -> PyResult<Option<DateTime<Utc>>> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(None);
    };
    let py = value.py();
    let datetime = py.import("datetime")?;
    let shown = || value.repr().map(|r| r.to_string()).unwrap_or_default();
    if !value.is_instance(&datetime.getattr("datetime")?)? {
        return Err(PyValueError::new_err(format!(
            "{name} must be a timezone-aware datetime (e.g. datetime(2026, 3, 1, \
             tzinfo=ZoneInfo(\"Europe/Berlin\"))), got {}",
            shown()
        )));
    }
    if value.call_method0("utcoffset")?.is_none() {
        return Err(PyValueError::new_err(format!(
            "{name} is a naive datetime ({}), so its time zone is unknown; add a tzinfo, \
             e.g. .replace(tzinfo=ZoneInfo(\"Europe/Berlin\")) or tzinfo=timezone.utc",
            shown()
        )));
    }
    // As UTC wall time without tzinfo: whatever class the aware value is
    // (pandas' Timestamp included), its fields are then the UTC instant.
    let no_tzinfo = pyo3::types::PyDict::new(py);
    no_tzinfo.set_item("tzinfo", py.None())?;
    let naive = value
        .call_method1(
            "astimezone",
            (datetime.getattr("timezone")?.getattr("utc")?,),
        )?
        .call_method("replace", (), Some(&no_tzinfo))?;
    let naive: NaiveDateTime = naive.extract().map_err(|e| {
        PyValueError::new_err(format!(
            "{name}: cannot read {} as a datetime: {e}",
            shown()
        ))
    })?;
    Ok(Some(naive.and_utc()))
}

/// `config` when its time zone, if given, is a known one.
fn checked(config: DataPointConfig) -> PyResult<PyDataPointConfig> {
    if !config.time_zone.is_empty() {
        config
            .tz()
            .map_err(|e| PyValueError::new_err(format!("DataPointConfig: {e}")))?;
    }
    Ok(PyDataPointConfig(config))
}

fn id_of(value: &Bound<'_, PyAny>) -> PyResult<DataPointId> {
    if let Ok(id) = value.cast::<PyDataPointId>() {
        return Ok(id.borrow().0);
    }
    value
        .extract::<i64>()
        .map(DataPointId)
        .map_err(|_| PyValueError::new_err("a data point id is an int or a DataPointId"))
}

/// The id of a data point in its adapter.
#[pyclass(
    module = "algohost",
    name = "DataPointId",
    frozen,
    from_py_object,
    eq,
    hash
)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PyDataPointId(pub DataPointId);

#[pymethods]
impl PyDataPointId {
    #[new]
    fn new(value: i64) -> Self {
        Self(DataPointId(value))
    }
    #[getter]
    fn value(&self) -> i64 {
        self.0.0
    }
    fn __int__(&self) -> i64 {
        self.0.0
    }
    fn __index__(&self) -> i64 {
        self.0.0
    }
    fn __repr__(&self) -> String {
        format!("DataPointId({})", self.0.0)
    }
}

/// `from_` → `to` of a `carrier`.
#[pyclass(module = "algohost", name = "Flow", frozen, from_py_object, eq)]
#[derive(Clone, PartialEq)]
pub struct PyFlow(pub Flow);

#[pymethods]
impl PyFlow {
    #[new]
    fn new(from_: String, to: String, carrier: String) -> Self {
        Self(Flow {
            from: from_,
            to,
            carrier,
        })
    }
    #[getter]
    fn from_(&self) -> &str {
        &self.0.from
    }
    #[getter]
    fn to(&self) -> &str {
        &self.0.to
    }
    #[getter]
    fn carrier(&self) -> &str {
        &self.0.carrier
    }
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.0)
    }
    fn __repr__(&self) -> String {
        format!(
            "Flow(from_={:?}, to={:?}, carrier={:?})",
            self.0.from, self.0.to, self.0.carrier
        )
    }
}

/// A data point: name, unit, quantity, resolution, time zone, tags, flow.
/// An empty `unit` or `time_zone` (the default) is not given: defining a
/// stored data point matches its unit and zone, and a new one is in UTC.
///
/// ```python
/// load = algohost.DataPointConfig("site.load", "kW", "power", "PT15M")
/// assert load.time_zone == ""
/// ```
#[pyclass(
    module = "algohost",
    name = "DataPointConfig",
    frozen,
    from_py_object,
    eq
)]
#[derive(Clone, PartialEq)]
pub struct PyDataPointConfig(pub DataPointConfig);

#[pymethods]
impl PyDataPointConfig {
    #[new]
    #[pyo3(signature = (name, unit, quantity, resolution, *, time_zone = "", tags = None, flow = None, id = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        name: String,
        unit: String,
        quantity: String,
        resolution: String,
        time_zone: &str,
        tags: Option<BTreeMap<String, String>>,
        flow: Option<PyFlow>,
        id: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let id = id.map(|v| id_of(&v)).transpose()?.unwrap_or(DataPointId(0));
        let config: DataPointConfig = parse(
            "DataPointConfig",
            json!({
                "id": id.0, "name": name, "unit": unit, "quantity": quantity,
                "resolution": resolution, "time_zone": time_zone,
                "tags": tags.unwrap_or_default(),
                "flow": flow.map(|f| f.0),
            }),
        )?;
        checked(config)
    }
    #[getter]
    fn id(&self) -> PyDataPointId {
        PyDataPointId(self.0.id)
    }
    #[getter]
    fn name(&self) -> &str {
        &self.0.name
    }
    #[getter]
    fn unit(&self) -> &str {
        &self.0.unit
    }
    #[getter]
    fn quantity(&self) -> String {
        self.0.quantity.to_string()
    }
    #[getter]
    fn resolution(&self) -> String {
        self.0.resolution.to_string()
    }
    /// IANA name, such as `"Europe/Berlin"`; empty when not given.
    #[getter]
    fn time_zone(&self) -> &str {
        &self.0.time_zone
    }
    #[getter]
    fn tags(&self) -> BTreeMap<String, String> {
        self.0.tags.clone()
    }
    #[getter]
    fn flow(&self) -> Option<PyFlow> {
        self.0.flow.clone().map(PyFlow)
    }
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.0)
    }
    #[staticmethod]
    fn from_dict(value: &Bound<'_, PyAny>) -> PyResult<Self> {
        let mut value: Value = pythonize::depythonize(value)
            .map_err(|e| PyValueError::new_err(format!("DataPointConfig: {e}")))?;
        // Left out or null, the time zone is not given, as in the constructor
        // (serde's default for a stored data point is UTC).
        if let Some(fields) = value.as_object_mut()
            && fields.get("time_zone").is_none_or(Value::is_null)
        {
            fields.insert("time_zone".to_owned(), json!(""));
        }
        checked(parse("DataPointConfig", value)?)
    }
    fn __repr__(&self) -> String {
        format!(
            "DataPointConfig(name={:?}, unit={:?}, quantity={:?}, resolution={:?}, time_zone={:?}, id={})",
            self.0.name,
            self.0.unit,
            self.0.quantity.to_string(),
            self.0.resolution.to_string(),
            self.0.time_zone,
            self.0.id
        )
    }
}

/// Which data points, and for reads which samples, to use: every field is
/// optional, and those set must all match. `start` and `end` (tz-aware) bound
/// the samples to `[start, end)`; `resolution` (ISO 8601: `PT1H`, `P1D`,
/// `P1M`) resamples them when read; `time_zone` (IANA, such as
/// `"Europe/Berlin"`) is where calendar intervals (`P1D` and longer) start at
/// midnight, each data point's own zone by default. It does not change `ts`,
/// which is UTC in every frame.
///
/// ```python
/// daily = algohost.DataPointFilter(names=["site.load"], resolution="P1D", time_zone="Europe/Berlin")
/// ```
#[pyclass(
    module = "algohost",
    name = "DataPointFilter",
    frozen,
    from_py_object,
    eq
)]
#[derive(Clone, PartialEq, Default)]
pub struct PyDataPointFilter(pub DataPointFilter);

/// `names=` of a filter: a list of data point names. One name on its own,
/// a common slip, is refused with the list to give instead (Python would
/// take a string as its characters, pyo3 says only that it is no `Vec`).
fn names_of(names: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
    if let Ok(name) = names.cast::<pyo3::types::PyString>() {
        return Err(pyo3::exceptions::PyTypeError::new_err(format!(
            "names takes a list of data point names, not one string: give names=[{}]",
            name.repr()?
        )));
    }
    names.extract().map_err(|_| {
        pyo3::exceptions::PyTypeError::new_err(format!(
            "names takes a list of data point names (strings), not {}",
            names
                .get_type()
                .name()
                .map_or_else(|_| "that".to_owned(), |n| n.to_string())
        ))
    })
}

#[pymethods]
impl PyDataPointFilter {
    #[new]
    #[pyo3(signature = (*, ids = None, names = None, tags = None, quantity = None, start = None, end = None, resolution = None, time_zone = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        ids: Option<Vec<Bound<'_, PyAny>>>,
        names: Option<Bound<'_, PyAny>>,
        tags: Option<BTreeMap<String, String>>,
        quantity: Option<String>,
        start: Option<Bound<'_, PyAny>>,
        end: Option<Bound<'_, PyAny>>,
        resolution: Option<String>,
        time_zone: Option<String>,
    ) -> PyResult<Self> {
        let ids = ids
            .unwrap_or_default()
            .iter()
            .map(id_of)
            .collect::<PyResult<Vec<_>>>()?;
        let names = names.as_ref().map(names_of).transpose()?;
        let mut filter: DataPointFilter = parse(
            "DataPointFilter",
            json!({
                "ids": ids, "names": names.unwrap_or_default(), "tags": tags.unwrap_or_default(),
                "quantity": quantity, "resolution": resolution, "time_zone": time_zone,
            }),
        )?;
        filter.start = utc("start", start.as_ref())?;
        filter.end = utc("end", end.as_ref())?;
        if let (Some(start), Some(end)) = (filter.start, filter.end)
            && start >= end
        {
            return Err(PyValueError::new_err(format!(
                "DataPointFilter: start ({start}) must be before end ({end})"
            )));
        }
        if let Some(tz) = &filter.time_zone {
            data::parse_time_zone(tz)
                .map_err(|e| PyValueError::new_err(format!("DataPointFilter: {e}")))?;
        }
        Ok(Self(filter))
    }
    /// Only these data point ids.
    #[getter]
    fn ids(&self) -> Vec<PyDataPointId> {
        self.0.ids.iter().copied().map(PyDataPointId).collect()
    }
    /// Only these data point names.
    #[getter]
    fn names(&self) -> Vec<String> {
        self.0.names.clone()
    }
    /// Only data points carrying all of these tags.
    #[getter]
    fn tags(&self) -> BTreeMap<String, String> {
        self.0.tags.clone()
    }
    /// Only data points of this quantity (`power`, `energy`, `price`, `state`).
    #[getter]
    fn quantity(&self) -> Option<String> {
        self.0.quantity.map(|q| q.to_string())
    }
    /// Samples at or after this instant (UTC).
    #[getter]
    fn start(&self) -> Option<DateTime<Utc>> {
        self.0.start
    }
    /// Samples before this instant (UTC).
    #[getter]
    fn end(&self) -> Option<DateTime<Utc>> {
        self.0.end
    }
    /// The resolution to resample to when reading (ISO 8601, such as `PT1H`).
    #[getter]
    fn resolution(&self) -> Option<String> {
        self.0.resolution.map(|r| r.to_string())
    }
    /// Where calendar intervals (`P1D` and longer) start at midnight; each
    /// data point's own zone when None. `ts` stays UTC.
    #[getter]
    fn time_zone(&self) -> Option<String> {
        self.0.time_zone.clone()
    }
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.0)
    }
    fn __repr__(&self) -> String {
        format!(
            "DataPointFilter({})",
            serde_json::to_string(&self.0).unwrap_or_default()
        )
    }
}

/// Which flows to list.
#[pyclass(module = "algohost", name = "FlowFilter", frozen, from_py_object, eq)]
#[derive(Clone, PartialEq)]
pub struct PyFlowFilter(pub FlowFilter);

#[pymethods]
impl PyFlowFilter {
    #[new]
    #[pyo3(signature = (*, from_ = None, to = None, carrier = None))]
    fn new(from_: Option<String>, to: Option<String>, carrier: Option<String>) -> Self {
        Self(FlowFilter {
            from: from_,
            to,
            carrier,
        })
    }
    #[getter]
    fn from_(&self) -> Option<String> {
        self.0.from.clone()
    }
    #[getter]
    fn to(&self) -> Option<String> {
        self.0.to.clone()
    }
    #[getter]
    fn carrier(&self) -> Option<String> {
        self.0.carrier.clone()
    }
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.0)
    }
    fn __repr__(&self) -> String {
        format!(
            "FlowFilter({})",
            serde_json::to_string(&self.0).unwrap_or_default()
        )
    }
}

/// Converts long-form samples of `points` to resolution `to` (a point
/// whose time zone is not given is in UTC, as a new data point would be).
#[pyfunction]
#[pyo3(signature = (frame, points, to, *, min_coverage = 1.0, time_zone = None))]
pub fn resample<'py>(
    py: Python<'py>,
    frame: &Bound<'py, PyAny>,
    points: Vec<PyDataPointConfig>,
    to: &str,
    min_coverage: f64,
    time_zone: Option<String>,
) -> PyResult<Bound<'py, PyAny>> {
    // The same types as ctx.write takes: any integer id, any zone of ts.
    let long = data::normalize_for_write(&frames::from_python(frame)?)
        .map_err(|e| errors::from_sdk(py, &e))?;
    let target = to
        .parse()
        .map_err(|e| PyValueError::new_err(format!("to: {e}")))?;
    // A point whose zone is not given is not stored yet: it is in UTC.
    let points: Vec<DataPointConfig> = points
        .into_iter()
        .map(|p| {
            if p.0.time_zone.is_empty() {
                p.0.with_time_zone("UTC")
            } else {
                p.0
            }
        })
        .collect();
    let options = ResampleOptions {
        min_coverage,
        time_zone,
        ..ResampleOptions::default()
    };
    let out = py
        .detach(|| data::resample(&long, &points, target, &options))
        .map_err(|e| errors::from_sdk(py, &e))?;
    frames::to_polars(py, out)
}

/// Adds the classes and `resample`.
pub fn add_to(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyDataPointId>()?;
    m.add_class::<PyFlow>()?;
    m.add_class::<PyDataPointConfig>()?;
    m.add_class::<PyDataPointFilter>()?;
    m.add_class::<PyFlowFilter>()?;
    m.add_function(wrap_pyfunction!(resample, m)?)?;
    Ok(())
}
