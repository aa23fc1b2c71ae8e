//! Registry dispatch overhead: a builtin algorithm called through the
//! registry (lookup + params validation + deserialisation + invoke) vs the
//! same function called directly, the full runner (a pooled thread) on top,
//! a dylib algorithm (release build of the echo fixture) vs the builtin one,
//! and frame hand-off across the C ABI for 1k and 1M rows.
//! `benches/run.sh` turns the estimates into the results table.

use std::hint::black_box;
use std::sync::Arc;

use algohost::adapters::NoData;
use algohost::registry::Registry;
use algohost::runner::{self, CancelToken, NoObserver, RunRequest};
use algohost::sources::builtin;
use algohost_sdk::context::RunHost;
use algohost_sdk::data::{DataPointConfig, DataPointFilter};
use algohost_sdk::logging::LogRecord;
use algohost_sdk::polars::prelude::DataFrame;
use algohost_sdk::prelude::*;
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;

/// Small params, like most algorithms take.
#[derive(Deserialize, JsonSchema)]
struct Params {
    /// A limit.
    limit_kw: f64,
    /// An efficiency.
    #[serde(default = "one")]
    efficiency: f64,
    /// A mode.
    mode: Mode,
}

fn one() -> f64 {
    1.0
}

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Mode {
    Fast,
    Exact,
}

/// Trivial work: the benchmark measures the host around it.
#[algorithm(name = "bench_noop", version = "1.0.0")]
fn bench_noop(_ctx: &Context, p: Params) -> Result<Output> {
    let factor = if matches!(p.mode, Mode::Fast) {
        1.0
    } else {
        2.0
    };
    Ok(Output::new().with_summary(json!(p.limit_kw * p.efficiency * factor)))
}

/// A host whose reads hand over a prepared frame.
struct Idle(DataFrame);
impl RunHost for Idle {
    fn run_id(&self) -> &str {
        "bench"
    }
    fn algorithm(&self) -> &str {
        "bench_noop"
    }
    fn deadline(&self) -> Option<std::time::SystemTime> {
        None
    }
    fn is_cancelled(&self) -> bool {
        false
    }
    fn progress(&self, _: f64, _: &str) {}
    fn log(&self, _: LogRecord) {}
    fn data_points(&self, _: &DataPointFilter) -> Result<Vec<DataPointConfig>> {
        Ok(vec![])
    }
    fn read(&self, _: &DataPointFilter) -> Result<DataFrame> {
        Ok(self.0.clone())
    }
    fn write(&self, _: &DataFrame) -> Result<()> {
        Ok(())
    }
    fn define_data_points(&self, p: &[DataPointConfig]) -> Result<Vec<DataPointConfig>> {
        Ok(p.to_vec())
    }
}

fn dispatch(c: &mut Criterion) {
    let mut registry = Registry::new();
    builtin::discover(&mut registry);
    let ctx = Context::new(Arc::new(Idle(DataFrame::empty())));
    let params = json!({"limit_kw": 50.0, "efficiency": 0.9, "mode": "fast"});

    c.bench_function("builtin_direct", |b| {
        b.iter(|| {
            let p: Params = serde_json::from_value(black_box(params.clone())).unwrap();
            black_box(bench_noop(&ctx, p).unwrap())
        })
    });
    c.bench_function("builtin_dispatch", |b| {
        b.iter(|| {
            let algorithm = registry.get(black_box("bench_noop")).unwrap();
            assert!(algorithm.validate(&params).is_empty());
            black_box(algorithm.invoker().invoke(&ctx, params.clone()).unwrap())
        })
    });
    c.bench_function("builtin_runner", |b| {
        b.iter(|| {
            let request = RunRequest {
                algorithm: "bench_noop".into(),
                params: params.clone(),
                timeout: None,
                adapter: Arc::new(NoData),
                cancel: CancelToken::new(),
                observer: Arc::new(NoObserver),
            };
            black_box(runner::execute(&registry, request).unwrap())
        })
    });
}

/// The release build of the echo fixture plugin (`benches/run.sh` builds it).
fn echo_plugin() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("bench executable");
    let release = exe
        .parent()
        .and_then(|p| p.parent())
        .expect("target/release");
    release.join("libalgohost_fixture_echo.so")
}

fn frame(columns: usize, rows: usize) -> DataFrame {
    let cols: Vec<Column> = (0..columns)
        .map(|c| {
            Column::new(
                format!("c{c}").into(),
                (0..rows).map(|r| r as f64).collect::<Vec<_>>(),
            )
        })
        .collect();
    DataFrame::new_infer_height(cols).expect("frame")
}

fn dylib(c: &mut Criterion) {
    let mut registry = Registry::new();
    builtin::discover(&mut registry);
    algohost::sources::dylib::discover(&mut registry, &[echo_plugin()], false);
    assert!(
        registry.diagnostics().is_empty(),
        "{:?}",
        registry.diagnostics()
    );
    let ctx = Context::new(Arc::new(Idle(DataFrame::empty())));
    let params = json!({"limit_kw": 50.0, "efficiency": 0.9, "mode": "fast"});
    let noop = registry.get("noop_dylib").expect("echo fixture loaded");
    c.bench_function("dylib_dispatch", |b| {
        b.iter(|| {
            let algorithm = registry.get(black_box("noop_dylib")).unwrap();
            assert!(algorithm.validate(&params).is_empty());
            black_box(noop.invoker().invoke(&ctx, params.clone()).unwrap())
        })
    });
    let passthrough = registry
        .get("frame_passthrough")
        .expect("echo fixture loaded");
    for columns in [1, 8] {
        for rows in [1_000, 1_000_000] {
            let ctx = Context::new(Arc::new(Idle(frame(columns, rows))));
            c.bench_function(&format!("dylib_frame_{columns}c_{rows}r"), |b| {
                b.iter(|| black_box(passthrough.invoker().invoke(&ctx, json!({})).unwrap()))
            });
        }
    }
}

criterion_group!(benches, dispatch, dylib);
criterion_main!(benches);
