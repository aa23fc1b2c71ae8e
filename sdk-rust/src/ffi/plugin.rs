//! The plugin side of ABI v1: the table [`export_plugin!`](crate::export_plugin)
//! exports, built from the library's `#[algorithm]` registrations, and the
//! bridge that lets a plugin's algorithm use the ordinary [`Context`] over
//! the host's callbacks.

use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use polars::prelude::DataFrame;
use polars_arrow::ffi::ArrowArrayStream;

use super::frames::{export_frame, import_frame};
use super::v1::{
    ABI_MAJOR, ABI_MINOR, AlgorithmV1, ErrorV1, FramesV1, HostV1, NamedFrameV1, OwnedStr, PluginV1,
    RunResultV1, StrRef,
};
use crate::context::{Context, RunHost};
use crate::data::{DataPointConfig, DataPointFilter};
use crate::error::{Error, Result};
use crate::logging::{LogRecord, with_run_logging};
use crate::output::Output;
use crate::panic::catch;
use crate::registration::AlgorithmRegistration;

/// Makes a `cdylib` crate an algohost plugin: exports the symbol
/// `algohost_plugin_v1` (ABI v1), whose table lists every `#[algorithm]` of
/// the library. Call it once, at the crate root, and build the crate as
///
/// ```toml
/// [lib]
/// # cdylib: the library algohost loads; rlib: lets tests/*.rs link the crate
/// # and run its algorithms on a MemoryHost.
/// crate-type = ["cdylib", "rlib"]
/// ```
///
/// Leave it out of a crate linked into a host binary of your own (a builtin
/// source): two crates that export the symbol do not link together.
///
/// ```
/// algohost_sdk::export_plugin!();
///
/// # fn main() {
/// // What a host does with the library (here: this doctest's binary).
/// // SAFETY: the table comes from the entry point and this binary stays loaded.
/// let plugin = unsafe { algohost_sdk::ffi::host::load(algohost_plugin_v1()) }.unwrap();
/// assert_eq!(plugin.abi_major, algohost_sdk::ffi::v1::ABI_MAJOR);
/// # }
/// ```
#[macro_export]
macro_rules! export_plugin {
    () => {
        /// The algohost plugin entry point (ABI v1): this library's table of
        /// algorithms, built on first call and kept for the process' life.
        #[allow(unsafe_code)]
        #[unsafe(no_mangle)]
        pub extern "C" fn algohost_plugin_v1() -> *const $crate::ffi::v1::PluginV1 {
            $crate::ffi::plugin::plugin_table()
        }
    };
}

/// The table of this library's algorithms (built once), or null if even the
/// attempt to build it panicked. Called by [`export_plugin!`](crate::export_plugin).
#[doc(hidden)]
pub fn plugin_table() -> *const PluginV1 {
    static TABLE: OnceLock<Table> = OnceLock::new();
    catch_unwind(|| {
        let table = TABLE.get_or_init(|| Table::build(crate::registrations().collect()));
        &table.plugin as *const PluginV1
    })
    .unwrap_or(std::ptr::null())
}

/// A [`PluginV1`] with the memory it points into.
pub(crate) struct Table {
    plugin: PluginV1,
    _algorithms: Vec<AlgorithmV1>,
    _manifests: Vec<String>,
    _load_error: String,
}

// SAFETY: a table is immutable once built; its pointers lead into its own
// heap buffers (which never move) and to `'static` data, and its `run`
// function may be called from any thread.
unsafe impl Send for Table {}
// SAFETY: as above; nothing in a table changes after `build`.
unsafe impl Sync for Table {}

impl Table {
    /// Builds the table. A panic while building a manifest becomes the
    /// table's load error (naming the algorithm and where it panicked), with
    /// no algorithms.
    pub(crate) fn build(registrations: Vec<&'static AlgorithmRegistration>) -> Self {
        let mut manifests = Vec::with_capacity(registrations.len());
        let mut load_error = String::new();
        for registration in &registrations {
            match catch(|| registration.manifest()) {
                Ok(manifest) => match serde_json::to_string(&manifest) {
                    Ok(json) => manifests.push(json),
                    Err(e) => {
                        load_error = format!(
                            "the manifest of '{}' cannot be serialised: {e}",
                            registration.name
                        );
                        break;
                    }
                },
                Err(panic) => {
                    load_error =
                        format!("building the manifest of '{}' {panic}", registration.name);
                    break;
                }
            }
        }
        if !load_error.is_empty() {
            manifests.clear();
        }
        let algorithms: Vec<AlgorithmV1> = manifests
            .iter()
            .zip(&registrations)
            .map(|(manifest, registration)| AlgorithmV1 {
                manifest_json: StrRef::new(manifest),
                run: run_v1,
                private_data: *registration as *const AlgorithmRegistration as *const c_void,
            })
            .collect();
        let plugin = PluginV1 {
            abi_major: ABI_MAJOR,
            abi_minor: ABI_MINOR,
            sdk_version: StrRef::new(crate::SDK_VERSION),
            rustc_version: StrRef::new(RUSTC_VERSION),
            load_error: StrRef::new(&load_error),
            algorithms: algorithms.as_ptr(),
            algorithm_count: algorithms.len(),
        };
        Self {
            plugin,
            _algorithms: algorithms,
            _manifests: manifests,
            _load_error: load_error,
        }
    }

    /// The table as the entry point returns it.
    #[cfg(test)]
    pub(crate) fn as_ptr(&self) -> *const PluginV1 {
        &self.plugin
    }
}

/// `rustc --version` of the compiler that built this SDK (and so the plugin).
const RUSTC_VERSION: &str = env!("ALGOHOST_RUSTC_VERSION");

/// [`AlgorithmV1::run`] of every algorithm of this library. A panic is
/// returned as a `panic` error whose message says where it happened
/// ([`Panic::text`](crate::panic::Panic::text)).
unsafe extern "C" fn run_v1(
    algorithm: *const AlgorithmV1,
    host: *const HostV1,
    params_json: StrRef,
    out: *mut RunResultV1,
) {
    let result = catch(AssertUnwindSafe(|| {
        // SAFETY: the host passes back an entry of this library's table,
        // whose `private_data` is a `&'static AlgorithmRegistration`.
        let registration = unsafe { &*((*algorithm).private_data as *const AlgorithmRegistration) };
        // SAFETY: the params are valid for the duration of this call.
        let params = unsafe { params_json.as_str() };
        // SAFETY: the host's table is valid until this call returns, and the
        // guard closes the bridge before that.
        let bridge = Arc::new(unsafe { HostBridge::new(host) });
        let _closed_on_return = CloseOnDrop(bridge.clone());
        let ctx = Context::new(bridge.clone());
        let output = with_run_logging(bridge, || registration.run_with_json(&ctx, &params))?;
        result_of(&output)
    }));
    let result = match result {
        Ok(Ok(result)) => result,
        Ok(Err(error)) => failure(&error),
        Err(panic) => RunResultV1 {
            error: ErrorV1::panic(&panic.text()),
            ..RunResultV1::empty()
        },
    };
    // SAFETY: `out` is the host's out-parameter, initialised with
    // `RunResultV1::empty()` (nothing to drop), valid for this call.
    unsafe { std::ptr::write(out, result) };
}

fn result_of(output: &Output) -> Result<RunResultV1> {
    // Straight to text (not through `Display`'s formatter adapter); the
    // string's buffer is what crosses.
    let summary_json = serde_json::to_string(&output.summary)
        .map_err(|e| Error::Failed(format!("the summary cannot be serialised: {e}")))?;
    let frames = output
        .frames
        .iter()
        .map(|(name, frame)| NamedFrameV1 {
            name: OwnedStr::new(name.as_str()),
            stream: export_frame(frame),
        })
        .collect();
    Ok(RunResultV1 {
        is_ok: true,
        error: ErrorV1::empty(),
        summary_json: OwnedStr::new(summary_json),
        frames: FramesV1::new(frames),
    })
}

fn failure(error: &Error) -> RunResultV1 {
    RunResultV1 {
        error: ErrorV1::from_error(error),
        ..RunResultV1::empty()
    }
}

/// The host's callbacks behind a plugin's [`Context`]. Usable only while
/// the `run` call lasts: afterwards (an algorithm that kept a clone of its
/// context's host) every call fails or does nothing.
struct HostBridge {
    host: *const HostV1,
    /// The run id followed by the algorithm's name (one allocation per run).
    names: Box<str>,
    /// Where the algorithm's name starts in `names`.
    algorithm_at: usize,
    deadline: Option<SystemTime>,
    is_open: RwLock<bool>,
}

// SAFETY: the ABI lets a plugin call the host's callbacks from any thread
// during the run, and `call` only dereferences `host` while the run lasts.
unsafe impl Send for HostBridge {}
// SAFETY: as above.
unsafe impl Sync for HostBridge {}

struct CloseOnDrop(Arc<HostBridge>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        *self.0.is_open.write().unwrap_or_else(|e| e.into_inner()) = false;
    }
}

type JsonCallback =
    unsafe extern "C" fn(*const c_void, StrRef, *mut OwnedStr, *mut ErrorV1) -> bool;

fn run_has_ended() -> Error {
    Error::Failed(
        "the run has ended: a context cannot be used after its algorithm returned".to_owned(),
    )
}

impl HostBridge {
    /// # Safety
    /// `host` must stay valid until the bridge is closed.
    unsafe fn new(host: *const HostV1) -> Self {
        // SAFETY: the caller guarantees a valid table.
        let table = unsafe { &*host };
        // SAFETY: the strings are valid during the run; they are copied
        // (a context may outlive the run).
        let (run_id, algorithm) = unsafe { (table.run_id.as_str(), table.algorithm.as_str()) };
        let mut names = String::with_capacity(run_id.len() + algorithm.len());
        names.push_str(&run_id);
        names.push_str(&algorithm);
        let deadline = table.has_deadline.then(|| {
            let micros = table.deadline_unix_micros;
            if micros >= 0 {
                UNIX_EPOCH + Duration::from_micros(micros.unsigned_abs())
            } else {
                UNIX_EPOCH - Duration::from_micros(micros.unsigned_abs())
            }
        });
        Self {
            host,
            names: names.into_boxed_str(),
            algorithm_at: run_id.len(),
            deadline,
            is_open: RwLock::new(true),
        }
    }

    /// Runs `f` with the host's table while the run lasts; `None` after.
    fn call<R>(&self, f: impl FnOnce(&HostV1) -> R) -> Option<R> {
        let is_open = self.is_open.read().unwrap_or_else(|e| e.into_inner());
        if !*is_open {
            return None;
        }
        // SAFETY: the bridge is open, so the `run` call is still executing
        // and the host's table is valid (and stays so while we hold the lock).
        Some(f(unsafe { &*self.host }))
    }

    fn call_json(&self, callback: fn(&HostV1) -> JsonCallback, input: &str) -> Result<String> {
        let mut out = OwnedStr::empty();
        let mut error = ErrorV1::empty();
        let is_ok = self
            .call(|host| {
                // SAFETY: a callback of the host's table, with its data, a
                // string valid for the call and initialised out-parameters.
                unsafe { callback(host)(host.data, StrRef::new(input), &mut out, &mut error) }
            })
            .ok_or_else(run_has_ended)?;
        if is_ok {
            Ok(out.as_str().into_owned())
        } else {
            Err(error.to_error())
        }
    }
}

fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String> {
    serde_json::to_string(value)
        .map_err(|e| Error::Failed(format!("cannot serialise for the host: {e}")))
}

fn from_host_json<T: serde::de::DeserializeOwned>(json: &str) -> Result<T> {
    serde_json::from_str(json)
        .map_err(|e| Error::Failed(format!("the host sent invalid JSON: {e}")))
}

impl RunHost for HostBridge {
    fn run_id(&self) -> &str {
        &self.names[..self.algorithm_at]
    }

    fn algorithm(&self) -> &str {
        &self.names[self.algorithm_at..]
    }

    fn deadline(&self) -> Option<SystemTime> {
        self.deadline
    }

    fn is_cancelled(&self) -> bool {
        // SAFETY: a callback of the host's table, with its data.
        self.call(|host| unsafe { (host.is_cancelled)(host.data) })
            .unwrap_or(true)
    }

    fn progress(&self, fraction: f64, message: &str) {
        // SAFETY: a callback of the host's table; `message` outlives the call.
        self.call(|host| unsafe { (host.progress)(host.data, fraction, StrRef::new(message)) });
    }

    fn log(&self, record: LogRecord) {
        if let Ok(json) = serde_json::to_string(&record) {
            // SAFETY: a callback of the host's table; `json` outlives the call.
            self.call(|host| unsafe { (host.log)(host.data, StrRef::new(&json)) });
        }
    }

    fn data_points(&self, filter: &DataPointFilter) -> Result<Vec<DataPointConfig>> {
        from_host_json(&self.call_json(|host| host.data_points, &to_json(filter)?)?)
    }

    fn read(&self, filter: &DataPointFilter) -> Result<DataFrame> {
        let filter = to_json(filter)?;
        let mut stream = ArrowArrayStream::empty();
        let mut error = ErrorV1::empty();
        let is_ok = self
            .call(|host| {
                // SAFETY: a callback of the host's table, with a string valid
                // for the call and initialised out-parameters.
                unsafe { (host.read)(host.data, StrRef::new(&filter), &mut stream, &mut error) }
            })
            .ok_or_else(run_has_ended)?;
        if !is_ok {
            return Err(error.to_error());
        }
        // SAFETY: on success the host wrote a valid C stream, which we now own
        // (dropping it releases it).
        unsafe { import_frame(&mut stream) }
    }

    fn write(&self, long: &DataFrame) -> Result<()> {
        let mut stream = export_frame(long);
        let mut error = ErrorV1::empty();
        let is_ok = self
            .call(|host| {
                // SAFETY: a callback of the host's table; the stream is lent
                // for the call and released by us afterwards.
                unsafe { (host.write)(host.data, &mut stream, &mut error) }
            })
            .ok_or_else(run_has_ended)?;
        if is_ok { Ok(()) } else { Err(error.to_error()) }
    }

    fn define_data_points(&self, points: &[DataPointConfig]) -> Result<Vec<DataPointConfig>> {
        from_host_json(&self.call_json(|host| host.define_data_points, &to_json(points)?)?)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    const SCHEMA_PANICS_LINE: u32 = line!() + 2;
    fn schema_panics() -> Value {
        panic!("schema exploded")
    }

    fn schema_ok() -> Value {
        serde_json::json!({"type": "object"})
    }

    fn run_nothing(_: &Context, _: Value) -> Result<Output> {
        Ok(Output::new())
    }

    static GOOD: AlgorithmRegistration = AlgorithmRegistration {
        name: "good",
        version: "1.0.0",
        description: "",
        outputs: &[],
        idempotent: false,
        params_schema: schema_ok,
        run: run_nothing,
        run_json: None,
    };

    static BAD: AlgorithmRegistration = AlgorithmRegistration {
        name: "bad_schema",
        version: "1.0.0",
        description: "",
        outputs: &[],
        idempotent: false,
        params_schema: schema_panics,
        run: run_nothing,
        run_json: None,
    };

    #[test]
    fn a_panic_while_building_a_manifest_is_the_load_error() {
        let table = Table::build(vec![&GOOD, &BAD]);
        // SAFETY: the string points into `table`, alive here.
        let error = unsafe { table.plugin.load_error.as_str() };
        let prefix = "building the manifest of 'bad_schema' panicked at ";
        let location = error
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(": schema exploded"))
            .unwrap_or_else(|| panic!("{error}"));
        assert_eq!(location, format!("{}:{SCHEMA_PANICS_LINE}:9", file!()));
        assert_eq!(table.plugin.algorithm_count, 0);
    }

    #[test]
    fn the_table_carries_versions_and_manifests() {
        let table = Table::build(vec![&GOOD]);
        assert_eq!(
            (table.plugin.abi_major, table.plugin.abi_minor),
            (ABI_MAJOR, ABI_MINOR)
        );
        // SAFETY: the strings point into `table` or are static.
        unsafe {
            assert_eq!(table.plugin.sdk_version.as_str(), crate::SDK_VERSION);
            assert!(table.plugin.rustc_version.as_str().starts_with("rustc "));
            assert_eq!(table.plugin.load_error.as_str(), "");
            let algorithm = &*table.plugin.algorithms;
            let manifest: Value = serde_json::from_str(&algorithm.manifest_json.as_str()).unwrap();
            assert_eq!(manifest["name"], "good");
        }
    }
}
