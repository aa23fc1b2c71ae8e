//! The `python` source: algorithms from the entry points of group
//! `algohost.algorithms`, scanned by the package
//! (`algohost._plugins.discover`) for every registry built (each
//! `algohost.Host()`, so that a notebook sees plugins installed since), and
//! their invoker.
//!
//! A Python algorithm runs on the runner's thread for the run (never a tokio
//! thread), which holds the GIL only while Python code runs: every context
//! call into the host releases it.

use std::sync::Arc;

use algohost_sdk::polars::prelude::DataFrame;
use algohost_sdk::{Context, Error, Manifest, Output};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde_json::Value;

use super::context::PyContext;
use super::{errors, frames};
use crate::registry::{Diagnostic, Invoker, Registry, Source};

/// What the scan found: algorithms and diagnostics.
enum Found {
    Algorithm {
        entry_point: String,
        manifest: Manifest,
        spec: Py<PyAny>,
    },
    Broken(Diagnostic),
}

/// Adds the Python algorithms (and diagnostics) to `registry`. Does nothing
/// when no interpreter runs in this process or the `algohost` package is
/// not importable (a Rust-only deployment).
pub fn discover(registry: &mut Registry) {
    if !super::interpreter_running() {
        return;
    }
    if let Some(super::Venv::Missing {
        venv,
        site,
        version,
    }) = super::venv()
    {
        registry.add_diagnostic(Diagnostic {
            source: "python".to_owned(),
            location: format!("VIRTUAL_ENV={}", venv.display()),
            reason: format!(
                "it has no {}, so no Python plugin installed there is found",
                site.display()
            ),
            hint: format!(
                "set VIRTUAL_ENV to the Python {version} virtualenv the plugins were installed \
                 into with pip (its directory, such as .venv), or unset it"
            ),
        });
    }
    let before = registry.algorithms().count();
    Python::attach(|py| {
        for item in scan(py) {
            match item {
                Found::Algorithm {
                    entry_point,
                    manifest,
                    spec,
                } => registry.add(
                    manifest,
                    Source::Python { entry_point },
                    Arc::new(PythonInvoker { spec }),
                ),
                Found::Broken(diagnostic) => registry.add_diagnostic(diagnostic),
            }
        }
    });
    let is_python_empty = registry.algorithms().count() == before;
    if is_python_empty && matches!(super::venv(), Some(super::Venv::Unset)) {
        registry.set_empty_source_note(
            "no Python plugin was found, and VIRTUAL_ENV is not set: set it to the virtualenv \
             the Python plugins are installed in (VIRTUAL_ENV=$PWD/.venv, or activate it)"
                .to_owned(),
        );
    }
}

fn diagnostic(entry_point: &str, reason: String, hint: String) -> Found {
    Found::Broken(Diagnostic {
        source: "python".to_owned(),
        location: entry_point.to_owned(),
        reason,
        hint,
    })
}

fn scan(py: Python<'_>) -> Vec<Found> {
    let plugins = match py.import("algohost._plugins") {
        Ok(module) => module,
        Err(e) => {
            tracing::debug!("no Python algorithms: the algohost package is not importable: {e}");
            return Vec::new();
        }
    };
    let listed = match plugins.call_method0("discover").and_then(|found| {
        found.extract::<Vec<(
            String,
            Option<Bound<'_, PyAny>>,
            Option<String>,
            Option<String>,
        )>>()
    }) {
        Ok(listed) => listed,
        Err(e) => {
            return vec![diagnostic(
                "algohost.algorithms",
                format!("scanning the entry points failed: {e}"),
                "this is a bug in algohost; please report it with the message".to_owned(),
            )];
        }
    };
    listed
        .into_iter()
        .map(|(entry_point, spec, reason, hint)| match spec {
            Some(spec) => match manifest_of(&spec) {
                Ok(manifest) => Found::Algorithm {
                    entry_point,
                    manifest,
                    spec: spec.unbind(),
                },
                Err(e) => diagnostic(
                    &entry_point,
                    format!("its manifest is not valid: {e}"),
                    "check the arguments of @algohost.algorithm".to_owned(),
                ),
            },
            None => diagnostic(
                &entry_point,
                reason.unwrap_or_else(|| "it could not be loaded".to_owned()),
                hint.unwrap_or_default(),
            ),
        })
        .collect()
}

/// Registers decorated functions given to `Host(algorithms=[...])` (a
/// notebook's algorithms, say), as the `python` source at
/// `module:qualname`. What cannot be registered is an error rather than a
/// diagnostic, since the caller asked for it by name: a function that is not
/// decorated, a name another source has already (the same function twice
/// is registered once), a params schema that does not compile.
pub fn add_functions(registry: &mut Registry, functions: &[Bound<'_, PyAny>]) -> PyResult<()> {
    let mut added: Vec<Bound<'_, PyAny>> = Vec::new();
    for function in functions {
        let spec = function.getattr("__algohost__").map_err(|_| {
            pyo3::exceptions::PyTypeError::new_err(format!(
                "{} is not an algorithm: decorate it with @algohost.algorithm",
                function.repr().map(|r| r.to_string()).unwrap_or_default()
            ))
        })?;
        if added.iter().any(|s| s.is(&spec)) {
            continue;
        }
        let manifest = manifest_of(&spec)?;
        let text = |name: &str| -> String {
            function
                .getattr(name)
                .and_then(|v| v.extract::<String>())
                .unwrap_or_else(|_| "?".to_owned())
        };
        let location = format!("{}:{}", text("__module__"), text("__qualname__"));
        let py = function.py();
        if let Ok(existing) = registry.get(&manifest.name) {
            let taken_by = match &existing.source {
                Source::Builtin => "the builtin algorithm".to_owned(),
                Source::Dylib { path } => format!("the dylib plugin {}", path.display()),
                Source::Python { entry_point } => {
                    format!("the Python algorithm {entry_point}")
                }
            };
            return Err(errors::plugin_error(
                py,
                format!(
                    "Host(algorithms=[...]): cannot register {location} as '{name}': {taken_by} \
                     has that name already; give yours another with \
                     @algohost.algorithm(name=\"my_{name}\")",
                    name = manifest.name
                ),
            ));
        }
        let diagnostics = registry.diagnostics().len();
        let name = manifest.name.clone();
        registry.add(
            manifest,
            Source::Python {
                entry_point: location.clone(),
            },
            Arc::new(PythonInvoker {
                spec: spec.clone().unbind(),
            }),
        );
        if let Some(refused) = registry.diagnostics().get(diagnostics) {
            return Err(errors::plugin_error(
                py,
                format!(
                    "Host(algorithms=[...]): cannot register {location} as '{name}': {}; {}",
                    refused.reason, refused.hint
                ),
            ));
        }
        added.push(spec);
    }
    Ok(())
}

fn manifest_of(spec: &Bound<'_, PyAny>) -> PyResult<Manifest> {
    let manifest = spec.getattr("manifest")?;
    pythonize::depythonize(&manifest)
        .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))
}

/// Calls `spec.invoke(ctx, params)` and converts what it returns.
struct PythonInvoker {
    spec: Py<PyAny>,
}

impl Invoker for PythonInvoker {
    fn invoke(&self, ctx: &Context, params: Value) -> algohost_sdk::Result<Output> {
        // Held until the GIL is released: an exiting interpreter waits for it.
        let Some(_in_python) = super::exit::InPython::enter() else {
            return Err(Error::Cancelled);
        };
        Python::attach(|py| {
            let call = || -> PyResult<Output> {
                let pyctx = Bound::new(py, PyContext::new(ctx))?;
                let params = super::to_py(py, &params)?;
                let returned = self.spec.bind(py).call_method1("invoke", (pyctx, params))?;
                let (summary, found): (Bound<'_, PyAny>, Bound<'_, PyDict>) = returned.extract()?;
                let summary: Value = if summary.is_none() {
                    Value::Null
                } else {
                    pythonize::depythonize(&summary).map_err(|e| {
                        pyo3::exceptions::PyTypeError::new_err(format!(
                            "the summary is not JSON: {e}"
                        ))
                    })?
                };
                let mut output = Output::new().with_summary(summary);
                for (name, frame) in found.iter() {
                    let name: String = name.extract()?;
                    let frame: DataFrame = frames::from_python(&frame)
                        .map_err(|e| errors::prefixed(py, &e, &format!("output frame '{name}'")))?;
                    output = output.with_frame(name, frame);
                }
                Ok(output)
            };
            call().map_err(|e| {
                let error = errors::to_sdk(py, &e, ctx.deadline().is_some());
                if !matches!(error, Error::Raised { .. }) {
                    crate::runner::give_error_details(errors::details(py, &e));
                }
                error
            })
        })
        .map_err(|e: Error| e)
    }
}
