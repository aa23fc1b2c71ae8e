//! Frames across the boundary through the Arrow PyCapsule interface
//! (`__arrow_c_stream__`), without copying columns: polars DataFrames both
//! ways; pyarrow tables, pandas frames (through pyarrow) and anything else
//! that exports a C stream as inputs.

use std::ffi::CStr;

use algohost_sdk::ffi::frames::{export_frame, import_frame};
use algohost_sdk::polars::prelude::DataFrame;
use polars_arrow::ffi::ArrowArrayStream;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyCapsule;

use super::errors;

/// The capsule name the interface prescribes.
const STREAM: &CStr = c"arrow_array_stream";

/// An exported stream, owned by its capsule until a consumer moves it out
/// (the consumer then leaves a released stream behind, which drops as a
/// no-op).
#[repr(transparent)]
struct Exported(#[allow(dead_code)] ArrowArrayStream);

// SAFETY: a C stream may be consumed and released from any thread; the
// arrays behind it are reference-counted polars buffers.
#[allow(unsafe_code)]
unsafe impl Send for Exported {}

/// A one-shot Arrow C stream holder, handed to `polars.DataFrame(...)`.
#[pyclass(module = "algohost._native", name = "_ArrowStream")]
pub struct ArrowStream {
    frame: Option<DataFrame>,
}

#[pymethods]
impl ArrowStream {
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_stream__<'py>(
        &mut self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema;
        let frame = self
            .frame
            .take()
            .ok_or_else(|| errors::algohost_error(py, "this Arrow stream was already consumed"))?;
        PyCapsule::new_with_value(py, Exported(export_frame(&frame)), STREAM)
    }
}

static POLARS_DATAFRAME: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// `frame` as a polars DataFrame (the columns are shared, not copied).
pub fn to_polars<'py>(py: Python<'py>, frame: DataFrame) -> PyResult<Bound<'py, PyAny>> {
    let class = POLARS_DATAFRAME.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
        Ok(py.import("polars")?.getattr("DataFrame")?.unbind())
    })?;
    let stream = Bound::new(py, ArrowStream { frame: Some(frame) })?;
    class.bind(py).call1((stream,))
}

/// A frame from anything with `__arrow_c_stream__`, a polars LazyFrame
/// (collected) or a pandas frame (through `algohost._frames.from_pandas`,
/// which keeps NaN and makes an unnamed time index `ts`; what it refuses is
/// an SDK failure, so that callers can say which frame it was).
pub fn from_python(value: &Bound<'_, PyAny>) -> PyResult<DataFrame> {
    let py = value.py();
    if let Some(hint) = single_column(value)? {
        let type_name = value.get_type().qualname()?;
        return Err(errors::algohost_error(
            py,
            format!("expected a frame, got a {type_name} (a single column); pass {hint}"),
        ));
    }
    let exportable = match library(value)?.as_str() {
        "pandas" => py
            .import("algohost._frames")?
            .call_method1("from_pandas", (value,))
            .map_err(|e| errors::as_sdk_failure(py, e))?,
        "polars" if value.get_type().qualname()? == "LazyFrame" => value.call_method0("collect")?,
        _ if value.hasattr("__arrow_c_stream__")? => value.clone(),
        _ => {
            let type_name = value.get_type().qualname()?;
            return Err(errors::algohost_error(
                py,
                format!(
                    "expected a frame (a polars DataFrame or LazyFrame, a pandas DataFrame, a \
                     pyarrow Table, or anything with __arrow_c_stream__), got {type_name}"
                ),
            ));
        }
    };
    let capsule = exportable
        .call_method0("__arrow_c_stream__")?
        .cast_into::<PyCapsule>()?;
    let pointer = capsule.pointer_checked(Some(STREAM))?;
    // SAFETY: a capsule named `arrow_array_stream` holds an Arrow C stream
    // (the interface's contract); the capsule owns it and releases it when
    // it is collected, after the arrays have taken their own references.
    #[allow(unsafe_code)]
    let imported = unsafe { import_frame(&mut *pointer.as_ptr().cast::<ArrowArrayStream>()) };
    imported.map_err(|e| errors::from_sdk(py, &e))
}

/// For a single column (a polars or pandas Series, a pyarrow array), how to
/// make it a frame.
fn single_column(value: &Bound<'_, PyAny>) -> PyResult<Option<&'static str>> {
    let name = value.get_type().qualname()?;
    Ok(match (library(value)?.as_str(), name.to_str()?) {
        ("polars" | "pandas", "Series") => Some("a DataFrame (series.to_frame())"),
        ("pyarrow", "Array" | "ChunkedArray") => Some("a Table (pa.table({\"name\": array}))"),
        ("pyarrow", n) if n.ends_with("Array") => Some("a Table (pa.table({\"name\": array}))"),
        _ => None,
    })
}

/// Whether `value` is a pandas frame (or any object of pandas).
pub fn is_pandas(value: &Bound<'_, PyAny>) -> PyResult<bool> {
    Ok(library(value)? == "pandas")
}

/// The top-level package of `value`'s type: `polars`, `pandas`, …
fn library(value: &Bound<'_, PyAny>) -> PyResult<String> {
    let module: String = value.get_type().getattr("__module__")?.extract()?;
    Ok(module.split('.').next().unwrap_or_default().to_owned())
}
