//! Log records kept on a run, and the `tracing` subscriber that captures a
//! running algorithm's events into them.

use std::cell::RefCell;
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};
use tracing::field::{Field, Visit};
use tracing::{Dispatch, Event, Level, Subscriber};
use tracing_subscriber::layer::{Context as LayerContext, Layer};
use tracing_subscriber::prelude::*;

use crate::context::RunHost;

/// One log line of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    /// When it was logged, RFC 3339 UTC.
    pub ts: String,
    /// `error`, `warn`, `info`, `debug` or `trace`.
    pub level: String,
    /// The module (or logger) that logged it.
    pub target: String,
    /// The message.
    pub message: String,
    /// Other structured fields, as JSON.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub fields: serde_json::Map<String, serde_json::Value>,
}

impl LogRecord {
    /// A record stamped now.
    pub fn now(level: &str, target: &str, message: impl Into<String>) -> Self {
        Self {
            ts: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            level: level.to_owned(),
            target: target.to_owned(),
            message: message.into(),
            fields: serde_json::Map::new(),
        }
    }
}

/// The one capture layer of this copy of the SDK (the host's, or a plugin
/// library's): it sends each event to the [`RunHost`] of the run executing
/// on the event's thread, if any.
struct CaptureLayer;

thread_local! {
    /// The run executing on this thread, set by [`with_run_logging`] for the
    /// duration of its closure.
    static CURRENT_RUN: RefCell<Option<Arc<dyn RunHost>>> = const { RefCell::new(None) };
}

/// Makes `host` the thread's current run until dropped, then restores the
/// previous one (runs nest when a plugin is loaded in-process).
struct CurrentRun {
    previous: Option<Arc<dyn RunHost>>,
}

impl CurrentRun {
    fn enter(host: Arc<dyn RunHost>) -> Self {
        let previous = CURRENT_RUN.with(|current| current.replace(Some(host)));
        Self { previous }
    }
}

impl Drop for CurrentRun {
    fn drop(&mut self) {
        let previous = self.previous.take();
        // The ended run's host is dropped after the cell is restored.
        let _ended = CURRENT_RUN.with(|current| current.replace(previous));
    }
}

/// The dispatcher every run of this process (or plugin library) logs
/// through, built once: a registry (for any span the algorithm opens) plus
/// [`CaptureLayer`].
fn run_dispatch() -> &'static Dispatch {
    static DISPATCH: OnceLock<Dispatch> = OnceLock::new();
    DISPATCH.get_or_init(|| Dispatch::new(tracing_subscriber::registry().with(CaptureLayer)))
}

#[derive(Default)]
struct FieldVisitor {
    message: String,
    fields: serde_json::Map<String, serde_json::Value>,
}

impl Visit for FieldVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.fields
                .insert(field.name().to_owned(), format!("{value:?}").into());
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_owned();
        } else {
            self.fields.insert(field.name().to_owned(), value.into());
        }
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.fields.insert(field.name().to_owned(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.fields.insert(field.name().to_owned(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.fields.insert(field.name().to_owned(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.fields.insert(field.name().to_owned(), value.into());
    }
}

fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "error",
        Level::WARN => "warn",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

impl<S: Subscriber> Layer<S> for CaptureLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: LayerContext<'_, S>) {
        let current = CURRENT_RUN.try_with(|current| current.borrow().clone());
        let Ok(Some(host)) = current else {
            return;
        };
        let mut visitor = FieldVisitor::default();
        event.record(&mut visitor);
        let meta = event.metadata();
        let mut record = LogRecord::now(level_name(meta.level()), meta.target(), visitor.message);
        record.fields = visitor.fields;
        host.log(record);
    }
}

/// Runs `f` with every `tracing` event on this thread sent to the run's log
/// (through [`RunHost::log`]).
///
/// Cheap enough to call per run: the subscriber is built once per process
/// (per plugin library), and only the thread's current run changes. (No
/// span is opened for the run: a record already belongs to its run, and
/// nothing but the capture sees this subscriber's spans.)
pub fn with_run_logging<R>(host: Arc<dyn RunHost>, f: impl FnOnce() -> R) -> R {
    tracing::dispatcher::with_default(run_dispatch(), || {
        let _current = CurrentRun::enter(host);
        f()
    })
}

#[cfg(test)]
mod tests {
    use crate::testing::MemoryHost;

    fn messages(host: &MemoryHost) -> Vec<String> {
        host.logs().into_iter().map(|r| r.message).collect()
    }

    #[test]
    fn a_nested_run_keeps_its_own_records_and_the_outer_run_resumes() {
        let outer = MemoryHost::new();
        let inner = MemoryHost::new();
        outer.run_with(|_| {
            tracing::info!("outer before");
            inner.run_with(|_| tracing::info!("inner"));
            tracing::info!("outer after");
        });
        assert_eq!(messages(&outer), ["outer before", "outer after"]);
        assert_eq!(messages(&inner), ["inner"]);
    }

    #[test]
    fn only_the_runs_thread_and_duration_are_captured() {
        let host = MemoryHost::new();
        host.run_with(|_| {
            tracing::info!("on the run's thread");
            std::thread::spawn(|| tracing::info!("on another thread"))
                .join()
                .unwrap();
        });
        tracing::info!("after the run");
        assert_eq!(messages(&host), ["on the run's thread"]);
    }

    #[test]
    fn a_panicking_run_leaves_no_run_behind() {
        let host = MemoryHost::new();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            host.run_with(|_| -> () { panic!("boom") })
        }));
        assert!(result.is_err());
        tracing::info!("after the panic");
        let next = MemoryHost::new();
        next.run_with(|_| tracing::info!("next run"));
        assert!(messages(&host).is_empty());
        assert_eq!(messages(&next), ["next run"]);
    }
}
