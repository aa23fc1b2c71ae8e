//! The host side of ABI v1: checks a plugin library's table ([`load`]) and
//! runs its algorithms ([`PluginAlgorithm::invoke`]) with a callback table
//! built from the run's [`Context`]. Finding and opening libraries is the
//! host's business (`algohost::sources::dylib`); this module only needs the
//! pointer the library's entry point returned.

use std::collections::BTreeMap;
use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{SystemTime, UNIX_EPOCH};

use polars_arrow::ffi::ArrowArrayStream;
use serde_json::Value;

use super::frames::{export_frame, import_frame};
use super::v1::{
    ABI_MAJOR, ABI_MINOR, AlgorithmV1, ErrorV1, HostV1, OwnedStr, PLUGIN_SYMBOL, PluginV1,
    RunResultV1, StrRef,
};
use crate::context::Context;
use crate::data::{DataPointConfig, DataPointFilter};
use crate::error::{Error, Result};
use crate::logging::LogRecord;
use crate::output::Output;
use crate::panic::message_of;

/// A plugin library's table that passed the version check.
#[derive(Debug)]
pub struct LoadedPlugin {
    /// ABI major version the plugin was built for (equal to [`ABI_MAJOR`]).
    pub abi_major: u32,
    /// ABI minor version the plugin was built for (at most [`ABI_MINOR`]).
    pub abi_minor: u32,
    /// The algohost-sdk version the plugin was built with.
    pub sdk_version: String,
    /// The compiler that built the plugin (`rustc --version`).
    pub rustc_version: String,
    /// Its algorithms, in the order of its table.
    pub algorithms: Vec<PluginAlgorithm>,
}

/// Why a plugin's table was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// The entry point returned null.
    #[error("{PLUGIN_SYMBOL}() returned no plugin table")]
    NoTable,
    /// Built for another major version of the ABI.
    #[error("built for algohost plugin ABI {major}.x; this host speaks {ABI_MAJOR}.{ABI_MINOR}")]
    AbiMajor {
        /// The plugin's major.
        major: u32,
        /// The plugin's minor.
        minor: u32,
    },
    /// Built for a newer minor version of the ABI than this host's.
    #[error(
        "built for algohost plugin ABI {major}.{minor}, newer than this host's {ABI_MAJOR}.{ABI_MINOR}"
    )]
    AbiMinor {
        /// The plugin's major.
        major: u32,
        /// The plugin's minor.
        minor: u32,
    },
    /// The plugin could not build its table (it reported why).
    #[error("the plugin failed to load: {message}")]
    Failed {
        /// What the plugin reported, e.g. a panic while building a manifest.
        message: String,
        /// The algohost-sdk version the plugin was built with.
        sdk_version: String,
    },
}

/// Checks a plugin's table and reads its algorithms. Reads the version
/// header first and nothing else when it does not match.
///
/// # Safety
/// `table` must be null or what a plugin library's [`PLUGIN_SYMBOL`] entry
/// point returned, and that library must never be unloaded (the returned
/// algorithms point into it).
pub unsafe fn load(table: *const PluginV1) -> Result<LoadedPlugin, LoadError> {
    if table.is_null() {
        return Err(LoadError::NoTable);
    }
    // SAFETY: every ABI version starts its table with these two `u32`s;
    // only they are read, without assuming the rest of the layout (or even
    // its alignment).
    let [major, minor] = unsafe { table.cast::<[u32; 2]>().read_unaligned() };
    if major != ABI_MAJOR {
        return Err(LoadError::AbiMajor { major, minor });
    }
    if minor > ABI_MINOR {
        return Err(LoadError::AbiMinor { major, minor });
    }
    // SAFETY: same major, older or equal minor: the table has at least the
    // fields of this host's `PluginV1`, valid as long as the library.
    let table = unsafe { &*table };
    // SAFETY: the table's strings live as long as the library.
    let (sdk_version, rustc_version, load_error) = unsafe {
        (
            table.sdk_version.as_str().into_owned(),
            table.rustc_version.as_str().into_owned(),
            table.load_error.as_str().into_owned(),
        )
    };
    if !load_error.is_empty() {
        return Err(LoadError::Failed {
            message: load_error,
            sdk_version,
        });
    }
    let algorithms = (0..table.algorithm_count)
        .map(|i| {
            // SAFETY: `algorithms` points to `algorithm_count` entries that
            // live as long as the library.
            let algorithm = unsafe { table.algorithms.add(i) };
            // SAFETY: as above; the manifest string lives as long as the library.
            let manifest_json = unsafe { (*algorithm).manifest_json.as_str().into_owned() };
            PluginAlgorithm {
                manifest_json,
                algorithm,
            }
        })
        .collect();
    Ok(LoadedPlugin {
        abi_major: major,
        abi_minor: minor,
        sdk_version,
        rustc_version,
        algorithms,
    })
}

/// One algorithm of a loaded plugin.
#[derive(Debug)]
pub struct PluginAlgorithm {
    manifest_json: String,
    algorithm: *const AlgorithmV1,
}

// SAFETY: `algorithm` points into a table that lives as long as the process
// (`load`'s contract) and is never written; the ABI lets hosts call `run`
// from any thread, several runs at once.
unsafe impl Send for PluginAlgorithm {}
// SAFETY: as above.
unsafe impl Sync for PluginAlgorithm {}

impl PluginAlgorithm {
    /// The algorithm's manifest as the plugin wrote it (JSON; parse it with
    /// `serde_json::from_str::<Manifest>`).
    pub fn manifest_json(&self) -> &str {
        &self.manifest_json
    }

    /// Runs the algorithm with (validated) `params`: the plugin's context
    /// calls back into `ctx`'s host. A panic in the plugin comes back as
    /// `Error::Panicked`, with where it panicked when the plugin's SDK says
    /// so; other errors keep their variant
    /// (so `Cancelled` and `DeadlineExceeded` survive the boundary).
    pub fn invoke(&self, ctx: &Context, params: &Value) -> Result<Output> {
        let params =
            serde_json::to_string(params).map_err(|e| Error::InvalidInput(e.to_string()))?;
        let deadline = ctx.deadline();
        let callbacks = Callbacks { ctx };
        let host = HostV1 {
            data: &callbacks as *const Callbacks<'_> as *const c_void,
            run_id: StrRef::new(ctx.run_id()),
            algorithm: StrRef::new(ctx.algorithm()),
            has_deadline: deadline.is_some(),
            deadline_unix_micros: deadline.map_or(0, unix_micros),
            is_cancelled,
            progress,
            log,
            data_points,
            read,
            write,
            define_data_points,
        };
        let mut out = RunResultV1::empty();
        // SAFETY: `algorithm` is an entry of a table that lives as long as
        // the process; `host` (with `callbacks`), `params` and `out` outlive
        // the call, and the plugin uses the callbacks only during it.
        unsafe { ((*self.algorithm).run)(self.algorithm, &host, StrRef::new(&params), &mut out) };
        output_of(out)
    }
}

fn unix_micros(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_micros()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_micros()).map_or(i64::MIN, |m| -m),
    }
}

fn output_of(mut result: RunResultV1) -> Result<Output> {
    if !result.is_ok {
        return Err(result.error.to_error());
    }
    let summary = match &*result.summary_json.as_str() {
        "" => Value::Null,
        json => serde_json::from_str(json)
            .map_err(|e| Error::Failed(format!("the plugin's summary is not JSON: {e}")))?,
    };
    let mut frames = BTreeMap::new();
    for frame in result.frames.as_mut_slice() {
        let name = frame.name.as_str().into_owned();
        // SAFETY: the plugin wrote a valid C stream; it stays owned by
        // `result` (released when `result` drops), we only read it.
        let data = unsafe { import_frame(&mut frame.stream) }
            .map_err(|e| Error::Failed(format!("output frame '{name}' of the plugin: {e}")))?;
        frames.insert(name, data);
    }
    Ok(Output { summary, frames })
}

/// What [`HostV1::data`] points to during a run.
struct Callbacks<'a> {
    ctx: &'a Context,
}

/// The [`Callbacks`] behind a callback's `data`.
///
/// # Safety
/// `data` must be the `HostV1::data` of a run still in progress.
unsafe fn callbacks<'a>(data: *const c_void) -> &'a Callbacks<'a> {
    // SAFETY: the caller guarantees `data` is a live `Callbacks`.
    unsafe { &*(data as *const Callbacks<'a>) }
}

/// Runs a fallible callback body: never unwinds, fills `error` on failure.
fn fallible(error: *mut ErrorV1, body: impl FnOnce() -> Result<()>) -> bool {
    let failure = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => return true,
        Ok(Err(e)) => e,
        Err(payload) => Error::Failed(format!("host panicked: {}", message_of(&*payload))),
    };
    // SAFETY: `error` is the plugin's out-parameter, initialised empty
    // (nothing to drop), valid for the call.
    unsafe { std::ptr::write(error, ErrorV1::from_error(&failure)) };
    false
}

fn parse<T: serde::de::DeserializeOwned>(json: StrRef, what: &str) -> Result<T> {
    // SAFETY: strings passed to a callback are valid for the call.
    let json = unsafe { json.as_str() };
    serde_json::from_str(&json)
        .map_err(|e| Error::InvalidInput(format!("the plugin sent an invalid {what}: {e}")))
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value)
        .map_err(|e| Error::Failed(format!("cannot serialise for the plugin: {e}")))
}

unsafe extern "C" fn is_cancelled(data: *const c_void) -> bool {
    // SAFETY: called by the plugin during the run with our `data`.
    catch_unwind(|| unsafe { callbacks(data) }.ctx.host().is_cancelled()).unwrap_or(false)
}

unsafe extern "C" fn progress(data: *const c_void, fraction: f64, message: StrRef) {
    let _ = catch_unwind(|| {
        // SAFETY: called by the plugin during the run with our `data` and a
        // message valid for the call.
        let (callbacks, message) = unsafe { (callbacks(data), message.as_str()) };
        callbacks.ctx.progress(fraction, &message);
    });
}

unsafe extern "C" fn log(data: *const c_void, record_json: StrRef) {
    let _ = catch_unwind(|| {
        // SAFETY: called by the plugin during the run with our `data`.
        let callbacks = unsafe { callbacks(data) };
        let record = parse::<LogRecord>(record_json, "log record").unwrap_or_else(|e| {
            LogRecord::now(
                "warn",
                "algohost::dylib",
                format!("unreadable log record from the plugin: {e}"),
            )
        });
        callbacks.ctx.host().log(record);
    });
}

unsafe extern "C" fn data_points(
    data: *const c_void,
    filter_json: StrRef,
    out_json: *mut OwnedStr,
    error: *mut ErrorV1,
) -> bool {
    fallible(error, || {
        // SAFETY: called by the plugin during the run with our `data`.
        let callbacks = unsafe { callbacks(data) };
        let filter: DataPointFilter = parse(filter_json, "data point filter")?;
        let json = to_json(&callbacks.ctx.host().data_points(&filter)?)?;
        // SAFETY: the plugin's out-parameter, initialised empty.
        unsafe { std::ptr::write(out_json, OwnedStr::new(json)) };
        Ok(())
    })
}

unsafe extern "C" fn read(
    data: *const c_void,
    filter_json: StrRef,
    out: *mut ArrowArrayStream,
    error: *mut ErrorV1,
) -> bool {
    fallible(error, || {
        // SAFETY: called by the plugin during the run with our `data`.
        let callbacks = unsafe { callbacks(data) };
        let filter: DataPointFilter = parse(filter_json, "data point filter")?;
        let frame = callbacks.ctx.host().read(&filter)?;
        // SAFETY: the plugin's out-parameter, initialised with a released
        // (empty) stream; the plugin now owns the stream.
        unsafe { std::ptr::write(out, export_frame(&frame)) };
        Ok(())
    })
}

unsafe extern "C" fn write(
    data: *const c_void,
    frame: *mut ArrowArrayStream,
    error: *mut ErrorV1,
) -> bool {
    fallible(error, || {
        // SAFETY: called by the plugin during the run with our `data` and a
        // valid stream lent for the call.
        let (callbacks, stream) = unsafe { (callbacks(data), &mut *frame) };
        // SAFETY: as above.
        let long = unsafe { import_frame(stream) }?;
        callbacks.ctx.host().write(&long)
    })
}

unsafe extern "C" fn define_data_points(
    data: *const c_void,
    points_json: StrRef,
    out_json: *mut OwnedStr,
    error: *mut ErrorV1,
) -> bool {
    fallible(error, || {
        // SAFETY: called by the plugin during the run with our `data`.
        let callbacks = unsafe { callbacks(data) };
        let points: Vec<DataPointConfig> = parse(points_json, "list of data points")?;
        let json = to_json(&callbacks.ctx.host().define_data_points(&points)?)?;
        // SAFETY: the plugin's out-parameter, initialised empty.
        unsafe { std::ptr::write(out_json, OwnedStr::new(json)) };
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    //! Both sides of the ABI in one process: a plugin table built by
    //! `plugin::Table`, loaded and run by this module.

    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use polars::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::context::RunHost;
    use crate::data::{DataPointId, Quantity, Resolution};
    use crate::ffi::plugin::Table;
    use crate::registration::AlgorithmRegistration;

    #[derive(Default)]
    struct MemoryHost {
        cancelled: AtomicBool,
        deadline: Option<SystemTime>,
        samples: Mutex<Option<DataFrame>>,
        written: Mutex<Vec<DataFrame>>,
        logs: Mutex<Vec<LogRecord>>,
        progress: Mutex<Vec<(f64, String)>>,
    }

    impl RunHost for MemoryHost {
        fn run_id(&self) -> &str {
            "run-1"
        }
        fn algorithm(&self) -> &str {
            "test"
        }
        fn deadline(&self) -> Option<SystemTime> {
            self.deadline
        }
        fn is_cancelled(&self) -> bool {
            self.cancelled.load(Ordering::SeqCst)
        }
        fn progress(&self, fraction: f64, message: &str) {
            self.progress
                .lock()
                .unwrap()
                .push((fraction, message.to_owned()));
        }
        fn log(&self, record: LogRecord) {
            self.logs.lock().unwrap().push(record);
        }
        fn data_points(&self, filter: &DataPointFilter) -> Result<Vec<DataPointConfig>> {
            let point =
                DataPointConfig::new("site.load", Quantity::Power, "kW", Resolution::Seconds(900));
            Ok([point].into_iter().filter(|p| filter.matches(p)).collect())
        }
        fn read(&self, _: &DataPointFilter) -> Result<DataFrame> {
            self.samples
                .lock()
                .unwrap()
                .clone()
                .ok_or_else(|| Error::Data("no samples".into()))
        }
        fn write(&self, long: &DataFrame) -> Result<()> {
            self.written.lock().unwrap().push(long.clone());
            Ok(())
        }
        fn define_data_points(&self, points: &[DataPointConfig]) -> Result<Vec<DataPointConfig>> {
            Ok(points
                .iter()
                .cloned()
                .map(|p| DataPointConfig {
                    id: DataPointId(42),
                    ..p
                })
                .collect())
        }
    }

    fn schema() -> Value {
        json!({"type": "object"})
    }

    fn echo(ctx: &Context, params: Value) -> Result<Output> {
        tracing::info!(rows = 3, "echoing");
        ctx.progress(0.5, "half way");
        let frame = ctx.read_long(&DataPointFilter::default())?;
        ctx.write(&frame)?;
        let points = ctx.data_points(&DataPointFilter::default().with_names(["site.load"]))?;
        let defined = ctx.define_data_points(&points)?;
        Ok(Output::new()
            .with_summary(json!({"params": params, "run_id": ctx.run_id(), "id": defined[0].id}))
            .with_frame("echo", frame))
    }

    fn fails(_: &Context, _: Value) -> Result<Output> {
        Err(Error::InvalidInput("limit_kw must be positive".into()))
    }

    const PANICS_LINE: u32 = line!() + 2;
    fn panics(_: &Context, _: Value) -> Result<Output> {
        panic!("the battery is on fire")
    }

    fn checks(ctx: &Context, _: Value) -> Result<Output> {
        ctx.check()?;
        Ok(Output::new())
    }

    fn registration(
        name: &'static str,
        run: fn(&Context, Value) -> Result<Output>,
    ) -> &'static AlgorithmRegistration {
        Box::leak(Box::new(AlgorithmRegistration {
            name,
            version: "1.0.0",
            description: "",
            outputs: &[],
            idempotent: false,
            params_schema: schema,
            run,
            run_json: None,
        }))
    }

    fn plugin() -> LoadedPlugin {
        let table: &'static Table = Box::leak(Box::new(Table::build(vec![
            registration("echo", echo),
            registration("fails", fails),
            registration("panics", panics),
            registration("checks", checks),
        ])));
        // SAFETY: the table is leaked, so it lives as long as the process.
        unsafe { load(table.as_ptr()) }.unwrap()
    }

    fn run(plugin: &LoadedPlugin, name: &str, host: &Arc<MemoryHost>) -> Result<Output> {
        let algorithm = plugin
            .algorithms
            .iter()
            .find(|a| a.manifest_json().contains(&format!("\"name\":\"{name}\"")))
            .unwrap();
        let ctx = Context::new(host.clone());
        algorithm.invoke(&ctx, &json!({"x": 1}))
    }

    fn samples() -> DataFrame {
        let ts = Int64Chunked::new("ts".into(), [0i64, 900_000_000])
            .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
            .into_column();
        DataFrame::new_infer_height(vec![
            Column::new("data_point_id".into(), [1i64, 1]),
            ts,
            Column::new("value".into(), [Some(1.5f64), None]),
        ])
        .unwrap()
    }

    #[test]
    fn a_run_reaches_every_callback_and_returns_its_output() {
        let plugin = plugin();
        assert_eq!(plugin.sdk_version, crate::SDK_VERSION);
        let host = Arc::new(MemoryHost {
            samples: Mutex::new(Some(samples())),
            ..Default::default()
        });
        let output = run(&plugin, "echo", &host).unwrap();
        assert_eq!(
            output.summary,
            json!({"params": {"x": 1}, "run_id": "run-1", "id": 42})
        );
        assert!(output.frames["echo"].equals_missing(&samples()));
        assert!(host.written.lock().unwrap()[0].equals_missing(&samples()));
        assert_eq!(
            *host.progress.lock().unwrap(),
            [(0.5, "half way".to_owned())]
        );
        let logs = host.logs.lock().unwrap();
        assert_eq!(
            (logs[0].level.as_str(), logs[0].message.as_str()),
            ("info", "echoing")
        );
        assert_eq!(logs[0].fields["rows"], 3);
    }

    #[test]
    fn errors_keep_their_kind_and_panics_become_errors() {
        let plugin = plugin();
        let host = Arc::new(MemoryHost::default());
        let err = run(&plugin, "fails", &host).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidInput(m) if m == "limit_kw must be positive"),
            "{err:?}"
        );
        let err = run(&plugin, "panics", &host).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "the plugin panicked at {}:{PANICS_LINE}:9: the battery is on fire",
                file!()
            )
        );
        let err = run(&plugin, "echo", &host).unwrap_err();
        assert!(
            matches!(&err, Error::Data(m) if m == "no samples"),
            "{err:?}"
        );
    }

    #[test]
    fn cancellation_and_deadlines_survive_the_boundary() {
        let plugin = plugin();
        let cancelled = Arc::new(MemoryHost {
            cancelled: AtomicBool::new(true),
            ..Default::default()
        });
        assert!(matches!(
            run(&plugin, "checks", &cancelled),
            Err(Error::Cancelled)
        ));
        let past = Some(SystemTime::now() - Duration::from_secs(1));
        let late = Arc::new(MemoryHost {
            deadline: past,
            ..Default::default()
        });
        assert!(matches!(
            run(&plugin, "checks", &late),
            Err(Error::DeadlineExceeded)
        ));
        assert!(run(&plugin, "checks", &Arc::new(MemoryHost::default())).is_ok());
    }

    #[test]
    fn deadlines_keep_microseconds_either_side_of_the_epoch() {
        for micros in [0i64, 1_711_846_800_123_456, -5] {
            let time = if micros >= 0 {
                UNIX_EPOCH + Duration::from_micros(micros as u64)
            } else {
                UNIX_EPOCH - Duration::from_micros(micros.unsigned_abs())
            };
            assert_eq!(unix_micros(time), micros);
        }
    }

    #[test]
    fn tables_of_other_versions_are_refused_before_reading_further() {
        #[repr(C)]
        struct Header {
            abi_major: u32,
            abi_minor: u32,
        }
        let future = Header {
            abi_major: 2,
            abi_minor: 0,
        };
        // SAFETY: only the header is read when the major differs.
        let err = unsafe { load(&future as *const Header as *const PluginV1) }.unwrap_err();
        assert_eq!(
            err.to_string(),
            "built for algohost plugin ABI 2.x; this host speaks 1.0"
        );
        let newer = Header {
            abi_major: 1,
            abi_minor: 99,
        };
        // SAFETY: only the header is read when the minor is newer.
        let err = unsafe { load(&newer as *const Header as *const PluginV1) }.unwrap_err();
        assert_eq!(
            err.to_string(),
            "built for algohost plugin ABI 1.99, newer than this host's 1.0"
        );
        // SAFETY: null is allowed.
        assert_eq!(
            unsafe { load(std::ptr::null()) }.unwrap_err(),
            LoadError::NoTable
        );
    }
}
